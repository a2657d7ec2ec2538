/* queries.h - every query that reads the results store outside the store itself, by name: the
 * results tables (results.c), the Markdown report, charts, audits and the assessment
 * (reports/).  harness/run/store.c owns the schema and every write; a query a reader needs is
 * a line here, and the same question is asked with the same text wherever it is asked.  Names
 * ending in _FMT are printf formats whose %s the comment names; ? parameters are bound in the
 * order the comment gives. */
#ifndef QH_QUERIES_H
#define QH_QUERIES_H

#include "harness/base/stats.h"
#include "methods/method.h"

/* A bootstrap interval (perplexity, mean NLL, KL) resampled from fewer than
 * QH_MIN_RESAMPLING_UNITS windows says little about the spread of the number, so every reader
 * shows none: QH_SQL_CI(m, "ci_low") is m.ci_low, or NULL when metrics row m has from 1 to
 * QH_MIN_RESAMPLING_UNITS - 1 windows stored in items (none stored: a store from before
 * per-window items, whose windows cannot be counted; shown as stored).  The metric list is the
 * QH_INTERVAL_BOOTSTRAP rows of harness/eval/metrics.c (a test holds them equal). */
#define QH_SQL_BOOTSTRAP_METRICS "'ppl','mean_nll','kl'"
#define QH_SQL_FEW_UNITS(m)                                                                                        \
    "(" m ".metric IN (" QH_SQL_BOOTSTRAP_METRICS ") AND (SELECT COUNT(*) FROM items i WHERE i.run_id=" m              \
    ".run_id AND i.task=" m ".task) BETWEEN 1 AND " QH_STRINGIFY(QH_MIN_RESAMPLING_UNITS) " - 1)"
#define QH_SQL_CI(m, col) "CASE WHEN " QH_SQL_FEW_UNITS(m) " THEN NULL ELSE " m "." col " END"
#define QH_STRINGIFY_(x) #x
#define QH_STRINGIFY(x) QH_STRINGIFY_(x)

/* one metric of one run (?1 the run, ?2 "task metric"): value, interval, n, chance, whether an
 * interval is stored but hidden (qh_results_cell, results.h) */
#define QH_Q_RESULT_CELL                                                                                         \
    "SELECT m.value, " QH_SQL_CI("m", "ci_low") ", " QH_SQL_CI("m", "ci_high") ", m.n, m.chance, "                 \
    "m.ci_low IS NOT NULL AND " QH_SQL_FEW_UNITS("m") " FROM metrics m WHERE m.run_id=? AND m.task || ' ' || m.metric = ?"

/* every metric of every run, one row each, with its interval, count, chance and protocol: nothing
 * rounded (results --csv / --json) */
#define QH_Q_RESULT_ROWS                                                                                                  \
    "SELECT r.ordinal, r.label, r.status, c.canonical, b.bpp_quantized, b.bpp_model, m.task, m.metric, m.value, "  \
    QH_SQL_CI("m", "ci_low") ", " QH_SQL_CI("m", "ci_high") ", m.n, m.chance, m.protocol FROM runs r JOIN method_configs c ON c.id=r.config_id "         \
    "LEFT JOIN bpp b ON b.run_id=r.id LEFT JOIN metrics m ON m.run_id=r.id WHERE r.experiment_id=? "             \
    "ORDER BY r.ordinal, m.task, m.metric"

/* a run of an experiment by its label: id, status */
#define QH_Q_RUN_BY_LABEL \
    "SELECT id, status FROM runs WHERE experiment_id=? AND label=?"

/* the models an experiment ran: path, sha256, parameters, shape, dtype */
#define QH_Q_MODELS_OF_EXPERIMENT \
    "SELECT DISTINCT m.path, m.sha256, m.parameters, m.n_layer, m.n_head, m.n_embd, m.n_ctx, m.n_vocab, m.dtype " \
    "FROM models m JOIN runs r ON r.model_id=m.id WHERE r.experiment_id=?"

/* one experiment: runs, done, failed, file sha256, commit, seconds, started, finished */
#define QH_Q_EXPERIMENT_SUMMARY \
    "SELECT (SELECT COUNT(*) FROM runs WHERE experiment_id=e.id), (SELECT COUNT(*) FROM runs WHERE experiment_id=e.id " \
    "AND status='done'), (SELECT COUNT(*) FROM runs WHERE experiment_id=e.id AND status='failed'), e.file_sha256, " \
    "e.git_commit, (SELECT SUM(seconds) FROM runs WHERE experiment_id=e.id), e.started_at, e.finished_at " \
    "FROM experiments e WHERE e.id=?"

/* audits with their claim, method, numbers and the two runs' values (QH_Q_LATEST_AUDIT* add the WHERE) */
#define QH_Q_AUDIT_ROWS \
    "SELECT a.claim_text, c.canonical, a.task, a.metric, a.claimed, a.claimed_bpp, a.retention, a.ci_low, a.ci_high, " \
    "a.chance_adjusted, a.ca_low, a.ca_high, a.verdict, a.items_needed, a.n, b.bpp_quantized, b.bpp_model, " \
    "(SELECT value FROM metrics WHERE run_id=a.baseline_run AND task=a.task AND metric=a.metric), " \
    "(SELECT value FROM metrics WHERE run_id=a.quantized_run AND task=a.task AND metric=a.metric), a.warnings, a.claim, " \
    "a.p_value, a.registration, a.discordant, a.id, " \
    "(SELECT protocol FROM metrics WHERE run_id=a.baseline_run AND task=a.task AND metric=a.metric) " \
    "FROM audits a JOIN runs r ON r.id=a.quantized_run JOIN method_configs c ON c.id=r.config_id " \
    "LEFT JOIN bpp b ON b.run_id=a.quantized_run "

/* the best quantized run of the experiments %s (a list of ids), llama.cpp's or not (?1), at or below a bpp (?2), on a
 * task (?3) and metric (?4), ORDER BY value %s (ASC or DESC) */
#define QH_Q_BEST_AT_BPP_FMT \
    "SELECT r.label, b.bpp_quantized, m.value, " QH_SQL_CI("m", "ci_low") ", " QH_SQL_CI("m", "ci_high") " FROM runs r JOIN method_configs c ON c.id=r.config_id " \
    "JOIN bpp b ON b.run_id=r.id JOIN metrics m ON m.run_id=r.id WHERE r.experiment_id IN (%s) AND r.status='done' " \
    "AND c.family<>'" QH_BASELINE "' AND (c.family='llama.cpp')=? AND b.bpp_quantized <= ? AND m.task=? AND m.metric=? " \
    "ORDER BY m.value %s, r.experiment_id, r.ordinal LIMIT 1"

/* a run's bpp: quantized scope, whole model */
#define QH_Q_RUN_BPP \
    "SELECT bpp_quantized, bpp_model FROM bpp WHERE run_id=?"

/* a run's mean relative error over its quantized tensors */
#define QH_Q_RUN_MEAN_REL_ERROR \
    "SELECT AVG(rel_error) FROM tensors WHERE run_id=?"

/* a run's wall time */
#define QH_Q_RUN_SECONDS \
    "SELECT seconds FROM runs WHERE id=?"

/* a run's encode + decode time */
#define QH_Q_RUN_QUANTIZE_SECONDS \
    "SELECT quantize_seconds FROM runs WHERE id=?"

/* the latest experiment of every name with its provenance and run counts */
#define QH_Q_PROVENANCE_EXPERIMENTS \
    "SELECT e.name, e.file_path, e.file_sha256, e.harness_version, COALESCE(e.git_commit, 'unknown'), e.host, " \
    "e.started_at, COALESCE(e.finished_at, 'not finished'), (SELECT COUNT(*) FROM runs WHERE experiment_id=e.id), " \
    "(SELECT COUNT(*) FROM runs WHERE experiment_id=e.id AND status='done') FROM experiments e " \
    "WHERE e.id IN (SELECT MAX(id) FROM experiments GROUP BY name) ORDER BY e.id"

/* every model in the store */
#define QH_Q_PROVENANCE_MODELS \
    "SELECT DISTINCT path, sha256, parameters FROM models ORDER BY id"

/* every task's dataset sha256 and how many differ */
#define QH_Q_PROVENANCE_DATASETS \
    "SELECT task, MIN(dataset_sha256), COUNT(DISTINCT dataset_sha256) FROM metrics WHERE dataset_sha256 IS NOT NULL " \
    "GROUP BY task ORDER BY task"

/* the runs of an experiment in order: id, label, method, status, bpp of both scopes */
#define QH_Q_RUNS_WITH_BPP \
    "SELECT r.id, r.label, c.canonical, r.status, b.bpp_quantized, b.bpp_model FROM runs r JOIN method_configs c " \
    "ON c.id=r.config_id LEFT JOIN bpp b ON b.run_id=r.id WHERE r.experiment_id=? ORDER BY r.ordinal"

/* the baseline's metrics that have a chance level and an interval */
#define QH_Q_BASELINE_CHANCE_CI \
    "SELECT m.task, m.metric, m.value, m.ci_low, m.ci_high, m.chance, m.n FROM metrics m JOIN runs r ON r.id=m.run_id " \
    "JOIN method_configs c ON c.id=r.config_id WHERE r.experiment_id=? AND c.family='" QH_BASELINE "' AND m.chance IS NOT NULL " \
    "AND m.ci_low IS NOT NULL ORDER BY 1, 2"

/* the done runs of an experiment (?1) with their acc_letter on a task (?2) */
#define QH_Q_RUNS_LETTER_ACC \
    "SELECT r.id, r.label, (SELECT value FROM metrics WHERE run_id=r.id AND task=?2 AND metric='acc_letter') " \
    "FROM runs r WHERE r.experiment_id=?1 AND r.status='done' ORDER BY r.ordinal"

/* a run's items of a task in order: value, detail */
#define QH_Q_ITEM_DETAILS \
    "SELECT value, detail FROM items WHERE run_id=? AND task=? ORDER BY idx"

/* the latest audit of every claim: id, claimed fraction, p */
#define QH_Q_LATEST_AUDIT_P \
    "SELECT id, claimed, p_value FROM audits WHERE id IN (SELECT MAX(id) FROM audits GROUP BY claim) ORDER BY id"

/* the latest audit of one claim (?), and of every claim */
#define QH_Q_LATEST_AUDIT_OF_CLAIM QH_Q_AUDIT_ROWS "WHERE a.claim=? ORDER BY a.id DESC LIMIT 1"
#define QH_Q_LATEST_AUDITS QH_Q_AUDIT_ROWS "WHERE a.id IN (SELECT MAX(id) FROM audits GROUP BY claim) ORDER BY a.id"

/* an experiment's runs and those done */
#define QH_Q_EXPERIMENT_RUNS_DONE \
    "SELECT COUNT(*), SUM(status='done') FROM runs WHERE experiment_id=?"

/* how many audits a claim has (twice, to read like QH_Q_EXPERIMENT_RUNS_DONE) */
#define QH_Q_CLAIM_AUDITS \
    "SELECT COUNT(*), COUNT(*) FROM audits WHERE claim=?"

/* a run's items of a task in order: the column %s and n */
#define QH_Q_ITEM_COLUMN_FMT \
    "SELECT %s, n FROM items WHERE run_id=? AND task=? ORDER BY idx"

/* a run's bytes by kind as bits per quantized parameter, largest first */
#define QH_Q_BPP_PARTS \
    "SELECT p.kind, 8.0 * p.bytes / b.params_quantized FROM bpp_parts p JOIN bpp b ON b.run_id=p.run_id " \
    "WHERE p.run_id=?1 ORDER BY p.bytes DESC, p.kind"

/* the baseline run of an audit's experiment */
#define QH_Q_AUDIT_BASELINE_RUN \
    "SELECT r.id FROM runs r JOIN method_configs c ON c.id=r.config_id WHERE r.experiment_id=?1 AND c.family='" QH_BASELINE "'"

/* the quantized run of an audit's experiment */
#define QH_Q_AUDIT_QUANTIZED_RUN \
    "SELECT r.id FROM runs r JOIN method_configs c ON c.id=r.config_id WHERE r.experiment_id=?1 AND c.family<>'" QH_BASELINE "'"

/* a run's bpp over the quantized tensors */
#define QH_Q_BPP_QUANTIZED \
    "SELECT bpp_quantized FROM bpp WHERE run_id=?1"

/* a run's bpp over the whole model */
#define QH_Q_BPP_MODEL \
    "SELECT bpp_model FROM bpp WHERE run_id=?1"

/* when the first run of the same configuration, model and task finished (pre-registration) */
#define QH_Q_FIRST_RESULT_TIME \
    "SELECT MIN(CAST(strftime('%s', r.finished_at) AS INTEGER)) FROM runs r JOIN runs q ON q.id=?1 " \
    "WHERE r.status='done' AND r.config_id=q.config_id AND r.model_id=q.model_id " \
    "AND EXISTS (SELECT 1 FROM metrics m WHERE m.run_id=r.id AND m.task=?2)"

/* two runs' items paired by key on a task: the column %s and n of each */
#define QH_Q_PAIRED_ITEMS_FMT \
    "SELECT b.%s, b.n, q.%s, q.n FROM items b JOIN items q ON q.task=b.task AND q.item_key=b.item_key " \
    "WHERE b.run_id=?1 AND q.run_id=?2 AND b.task=?3 AND b.%s IS NOT NULL AND q.%s IS NOT NULL ORDER BY b.idx"

/* the done quantized runs of an experiment with bpp and a task-metric value */
#define QH_Q_PARETO_RUNS \
    "SELECT r.label, b.bpp_quantized, m.value, r.id, m.task, m.metric FROM runs r JOIN bpp b ON b.run_id=r.id " \
    "JOIN metrics m ON m.run_id=r.id JOIN method_configs c ON c.id=r.config_id WHERE r.experiment_id=? AND " \
    "r.status='done' AND c.family<>'" QH_BASELINE "' AND b.bpp_quantized IS NOT NULL AND m.task || ' ' || m.metric = ? " \
    "ORDER BY r.ordinal"

/* an experiment with its model: id, name, ctx, model path, parameters, dtype */
#define QH_Q_PLOT_EXPERIMENT \
    "SELECT e.id, e.name, e.ctx, m.path, m.parameters, m.dtype FROM experiments e JOIN runs r ON r.experiment_id=e.id " \
    "JOIN models m ON m.id=r.model_id WHERE e.id=? LIMIT 1"

/* the task and metric pairs an experiment's done runs have, of the metrics %s */
#define QH_Q_EXPERIMENT_METRICS_FMT \
    "SELECT DISTINCT m.task, m.metric FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.experiment_id=? " \
    "AND r.status='done' AND m.metric IN (%s) ORDER BY 1, 2"

/* the points of one chart: family, label, bpp both scopes, value and interval, n, chance, hidden interval, run */
#define QH_Q_PLOT_POINTS \
    "SELECT c.family, r.label, b.bpp_quantized, b.bpp_model, m.value, " QH_SQL_CI("m", "ci_low") ", " \
    QH_SQL_CI("m", "ci_high") ", m.n, m.chance, m.ci_low IS NOT NULL AND " QH_SQL_FEW_UNITS("m") ", r.id " \
    "FROM runs r JOIN method_configs c ON c.id=r.config_id JOIN bpp b ON b.run_id=r.id " \
    "JOIN metrics m ON m.run_id=r.id WHERE r.experiment_id=? AND r.status='done' AND m.task=? AND m.metric=? " \
    "ORDER BY c.family, b.bpp_model"

/* the first baseline run of an experiment */
#define QH_Q_FIRST_BASELINE_RUN \
    "SELECT r.id FROM runs r JOIN method_configs c ON c.id=r.config_id WHERE r.experiment_id=? " \
    "AND c.family='" QH_BASELINE "' ORDER BY r.ordinal LIMIT 1"

/* one experiment's row */
#define QH_Q_EXPERIMENT_ROW \
    "SELECT id, name, description, file_path, file_sha256, harness_version, git_commit, host, seed, ctx, " \
    "started_at, finished_at FROM experiments WHERE id=?"

/* the datasets an experiment's metrics name, by task */
#define QH_Q_EXPERIMENT_DATASETS \
    "SELECT DISTINCT m.task, m.dataset_sha256 FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.experiment_id=? " \
    "AND m.dataset_sha256 IS NOT NULL ORDER BY 1"

/* an experiment's runs, done and failed */
#define QH_Q_EXPERIMENT_STATUS_COUNTS \
    "SELECT COUNT(*), SUM(status='done'), SUM(status='failed') FROM runs WHERE experiment_id=?"

/* the first done baseline run of an experiment */
#define QH_Q_FIRST_DONE_BASELINE_RUN \
    "SELECT r.id FROM runs r JOIN method_configs c ON c.id=r.config_id WHERE r.experiment_id=? AND c.family='" QH_BASELINE "' " \
    "AND r.status='done' ORDER BY r.ordinal LIMIT 1"

/* the baseline's metrics that have a chance level */
#define QH_Q_BASELINE_CHANCE \
    "SELECT m.task, m.metric, m.value, m.ci_low, m.ci_high, m.chance, m.n FROM metrics m JOIN runs r ON r.id=m.run_id " \
    "JOIN method_configs c ON c.id=r.config_id WHERE r.experiment_id=? AND c.family='" QH_BASELINE "' AND m.chance IS NOT NULL " \
    "ORDER BY 1, 2"

/* the task and metric pairs of an experiment, of the metrics %s, ordered by %s */
#define QH_Q_RESULT_COLUMNS_FMT \
    "SELECT DISTINCT m.task, m.metric FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.experiment_id=? " \
    "AND m.metric IN (%s) ORDER BY %s, m.task, m.metric"

/* the model of a run given by its ordinal */
#define QH_Q_RUN_MODEL \
    "SELECT mo.path, mo.sha256 FROM runs r JOIN models mo ON mo.id=r.model_id WHERE r.experiment_id=? AND r.ordinal=?"

/* one experiment's header line */
#define QH_Q_EXPERIMENT_HEADER \
    "SELECT id, name, started_at, finished_at, file_sha256, COALESCE(git_commit,'?') FROM experiments WHERE id=?"

/* the runs of an experiment in order with their bpp */
#define QH_Q_RUNS_BPP_BY_ORDINAL \
    "SELECT r.id, r.label, r.status, b.bpp_quantized, b.bpp_model FROM runs r LEFT JOIN bpp b ON b.run_id=r.id " \
    "WHERE r.experiment_id=? ORDER BY r.ordinal"

#endif
