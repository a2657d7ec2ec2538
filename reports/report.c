/* report.c - Markdown report from the results store; see report.h.  Every number printed is
 * read from the database; nothing is recomputed except the Pareto sets (from stored values). */
#include "harness/run/store.h"
#include "methods/method.h"
#include "reports/report.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/claim.h"
#include "harness/run/results.h"
#include "harness/run/queries.h"
#include "harness/base/stats.h"
#include "reports/paired.h"
#include "reports/plot.h"

static const char *col_text(sqlite3_stmt *st, int i) { return sqlite3_column_text(st, i) ? (const char *)sqlite3_column_text(st, i) : "-"; }

/* 1 when the experiment's unquantized run has an interval on column that contains chance */
static int baseline_at_chance(sqlite3 *db, sqlite3_stmt *mt, long long exp, const char *column, qh_metric_cell *base)
{
    sqlite3_stmt *st;
    int at = 0;
    if (sqlite3_prepare_v2(db, QH_Q_FIRST_BASELINE_RUN, -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, exp);
    if (sqlite3_step(st) == SQLITE_ROW && qh_results_cell(mt, sqlite3_column_int64(st, 0), column, base))
        at = base->has_chance && base->has_ci && base->lo <= base->chance && base->chance <= base->hi;
    sqlite3_finalize(st);
    return at;
}

/* "value" then, against the baseline, "x1.021 [1.010, 1.033]" or "+0.010 [-0.020, 0.040]" */
static void fmt_paired_cell(char *cell, size_t len, const qh_metric_cell *m, qh_paired_kind kind, const qh_paired *p)
{
    char v[24];
    qh_fmt_sig(v, sizeof v, m->value);
    if (isnan(p->delta)) {
        snprintf(cell, len, "%s", v);
        return;
    }
    int ratio = kind != QH_PAIRED_ACCURACY;
    size_t used = (size_t)snprintf(cell, len, ratio ? "%s; ×%.4f" : "%s; %+.3f", v, p->delta);
    if (used >= len) return;
    if (!isnan(p->lo)) snprintf(cell + used, len - used, ratio ? " [%.4f, %.4f]" : " [%+.3f, %+.3f]", p->lo, p->hi);
    else if (!ratio)
        snprintf(cell + used, len - used, " (%ld item%s differ%s)", p->discordant, p->discordant == 1 ? "" : "s", p->discordant == 1 ? "s" : "");
}

#define PREPARE(S, SQL)                                                                        \
    do {                                                                                       \
        sqlite3_finalize(S);                                                                   \
        S = NULL;                                                                              \
        if (sqlite3_prepare_v2(db, SQL, -1, &S, NULL) != SQLITE_OK) {                          \
            qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));                               \
            goto out;                                                                          \
        }                                                                                      \
    } while (0)

/* The title and the provenance table: the experiment file, harness, host, models, data, runs. */
static int report_provenance(sqlite3 *db, const char *db_path, long long exp, FILE *out, qh_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    PREPARE(st, QH_Q_EXPERIMENT_ROW);
    sqlite3_bind_int64(st, 1, exp);
    if (sqlite3_step(st) != SQLITE_ROW) {
        qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        goto out;
    }
    char name[128];
    snprintf(name, sizeof name, "%s", col_text(st, 1));
    fprintf(out, "# Experiment `%s` — qharness report\n\n%s\n\n", name, col_text(st, 2));
    fprintf(out, "Every number below is read from `%s`; intervals are 95%% (bootstrap over windows for perplexity and KL, "
                 "Wilson for accuracies).\n\n## Provenance\n\n| | |\n|---|---|\n", db_path);
    fprintf(out, "| experiment file | `%s`, sha256 `%s` |\n", col_text(st, 3), col_text(st, 4));
    fprintf(out, "| harness | qharness %s, git commit `%s` |\n", col_text(st, 5), col_text(st, 6));
    fprintf(out, "| host | %s |\n| seed, ctx | %s, %s |\n| started, finished | %s, %s |\n", col_text(st, 7), col_text(st, 8),
            col_text(st, 9), col_text(st, 10), col_text(st, 11));
    PREPARE(st, QH_Q_MODELS_OF_EXPERIMENT);
    sqlite3_bind_int64(st, 1, exp);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char shown[4096];
        qh_display_path(col_text(st, 0), shown, sizeof shown);
        fprintf(out, "| model | `%s`, sha256 `%s`, %s parameters (%s layers, %s heads, n_embd %s, context %s, vocabulary %s), %s |\n",
                shown, col_text(st, 1), col_text(st, 2), col_text(st, 3), col_text(st, 4), col_text(st, 5), col_text(st, 6),
                col_text(st, 7), col_text(st, 8));
    }
    PREPARE(st, QH_Q_EXPERIMENT_DATASETS);
    sqlite3_bind_int64(st, 1, exp);
    while (sqlite3_step(st) == SQLITE_ROW) fprintf(out, "| data: %s | sha256 `%s` |\n", col_text(st, 0), col_text(st, 1));
    PREPARE(st, QH_Q_EXPERIMENT_STATUS_COUNTS);
    sqlite3_bind_int64(st, 1, exp);
    sqlite3_step(st);
    fprintf(out, "| runs | %d planned, %d done, %d failed |\n\n", sqlite3_column_int(st, 0), sqlite3_column_int(st, 1),
            sqlite3_column_int(st, 2));
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* The main table: every run against the baseline, one headline metric per text and task. */
static int report_results(sqlite3 *db, const char *db_path, long long exp, FILE *out, qh_err *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3_stmt *mt = NULL;
    sqlite3_stmt *pair = NULL;
    int rc = -1;
    /* the main table: one headline metric per text and task, each against the baseline as a paired
     * difference; every stored metric with its marginal interval is in `qharness results --csv` */
    char cols[48][96];
    int n_cols = qh_results_columns(db, exp, "'ppl','kl','acc'", cols, 48);
    if (n_cols < 0) {
        qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        goto out;
    }
    long long base_run = 0;
    PREPARE(st, QH_Q_FIRST_DONE_BASELINE_RUN);
    sqlite3_bind_int64(st, 1, exp);
    if (sqlite3_step(st) == SQLITE_ROW) base_run = sqlite3_column_int64(st, 0);
    fprintf(out, "## Results\n\nbpp from the bytes of the packed model: *scope* over the quantized tensors, *model* over every "
                 "parameter (kept tensors included). Each cell: the run's value; then, against the unquantized baseline on the "
                 "same windows or items, the perplexity ratio (×) or the accuracy difference (±), with its 95%% paired-bootstrap "
                 "interval (1000 resamples, seed 1; none from fewer than %d windows or items, nor where fewer than %d items differ: the count instead). KL is already against the baseline: "
                 "its value and interval. Every metric with its own interval: `qharness results --db %s --id %lld --csv`.\n\n"
                 "| run | configuration | bpp scope | bpp model |", QH_MIN_RESAMPLING_UNITS, QH_AUDIT_MIN_DISCORDANT, db_path, exp);
    for (int c = 0; c < n_cols; c++) fprintf(out, " %s |", cols[c]);
    fprintf(out, "\n|---|---|---|---|");
    for (int c = 0; c < n_cols; c++) fprintf(out, "---|");
    fprintf(out, "\n");
    PREPARE(mt, QH_Q_RESULT_CELL);
    PREPARE(st, QH_Q_RUNS_WITH_BPP);
    sqlite3_bind_int64(st, 1, exp);
    double chance[48], n_items[48];
    for (int c = 0; c < 48; c++) chance[c] = NAN, n_items[c] = 0;
    int hidden = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long run = sqlite3_column_int64(st, 0);
        fprintf(out, "| %s%s | `", col_text(st, 1), strcmp(col_text(st, 3), "done") ? " (not done)" : "");
        qh_md_cell(out, col_text(st, 2));
        char bq[32] = "-", bm[32] = "-";
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) qh_fmt_sig(bq, sizeof bq, sqlite3_column_double(st, 4));
        if (sqlite3_column_type(st, 5) != SQLITE_NULL) qh_fmt_sig(bm, sizeof bm, sqlite3_column_double(st, 5));
        fprintf(out, "` | %s | %s |", bq, bm);
        for (int c = 0; c < n_cols; c++) {
            char cell[128] = "-", task[96];
            qh_metric_cell m;
            if (qh_results_cell(mt, run, cols[c], &m)) {
                const char *metric = strrchr(cols[c], ' ') + 1;
                snprintf(task, sizeof task, "%.*s", (int)(metric - 1 - cols[c]), cols[c]);
                if (strcmp(metric, "kl") == 0) {
                    qh_fmt_metric_cell(cell, sizeof cell, &m);
                    hidden |= m.ci_hidden;
                } else {
                    qh_paired_kind kind = qh_paired_kind_of(metric);
                    qh_paired pd = {NAN, NAN, NAN, 0, 0};
                    if (base_run && run != base_run) {
                        sqlite3_finalize(pair);
                        pair = NULL;
                        if (qh_paired_prepare(db, metric, &pair) != 0 || qh_paired_compare(pair, kind, base_run, run, task, &pd) != 0) {
                            qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
                            goto out;
                        }
                    }
                    hidden |= pd.units > 0 && pd.units < QH_MIN_RESAMPLING_UNITS;
                    fmt_paired_cell(cell, sizeof cell, &m, kind, &pd);
                }
                n_items[c] = (double)m.n;
                if (m.has_chance) chance[c] = m.chance;
            }
            fprintf(out, " %s |", cell);
        }
        fprintf(out, "\n");
    }
    fprintf(out, "| *n (tokens or items)* | | | |");
    for (int c = 0; c < n_cols; c++) fprintf(out, " %.0f |", n_items[c]);
    fprintf(out, "\n| *chance* | | | |");
    for (int c = 0; c < n_cols; c++) {
        if (isnan(chance[c])) fprintf(out, " |");
        else fprintf(out, " %.4f |", chance[c]);
    }
    if (hidden)
        fprintf(out, "\n\nIntervals are not shown where they would rest on fewer than %d windows (a bootstrap "
                     "over so few is as narrow as those windows happen to agree).", QH_MIN_RESAMPLING_UNITS);
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(mt);
    sqlite3_finalize(pair);
    return rc;
}

/* The Pareto sets of every charted metric; those metrics into cols (n_cols), for the charts. */
static int report_pareto(sqlite3 *db, const char *db_path, long long exp, FILE *out, qh_err *err, char (*cols)[96],
                         int *n_cols)
{
    sqlite3_stmt *mt = NULL;
    int rc = -1;
    PREPARE(mt, QH_Q_RESULT_CELL);
    /* the Pareto sets and charts cover every metric a chart is drawn for */
    char shown[512];
    qh_metric_sql_list(QH_METRIC_REPORT, shown, sizeof shown);
    *n_cols = qh_results_columns(db, exp, shown, cols, 48);
    if (*n_cols < 0) {
        qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        goto out;
    }
    fprintf(out, "\n\n## Pareto sets\n\nRuns that no other run with no more bits (quantized scope) beats by its paired 95%% interval over the same windows or items, per metric (where two runs share no item, by their values):\n\n");
    for (int c = 0; c < *n_cols; c++) {
        qh_plot_point pts[256];
        char labels[256][96];
        int front[256], n, nf = qh_pareto_runs(db, exp, cols[c], 256, pts, labels, front, &n);
        if (nf < 0) {
            qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
            goto out;
        }
        fprintf(out, "- **%s**:", cols[c]);
        qh_metric_cell base;
        if (baseline_at_chance(db, mt, exp, cols[c], &base)) {
            char cell[80];
            qh_fmt_metric_cell(cell, sizeof cell, &base);
            fprintf(out, " no Pareto set: the unquantized baseline (%s, n=%ld) cannot be told from chance "
                         "(%.4g), so no configuration can be said to win on it.\n", cell, base.n, base.chance);
            continue;
        }
        for (int k = 0; k < nf; k++) {
            char b[24], v[24];
            qh_fmt_sig(b, sizeof b, pts[front[k]].bpp);
            qh_fmt_sig(v, sizeof v, pts[front[k]].value);
            fprintf(out, "%s %s (%s bpp, %s)", k ? "," : "", labels[front[k]], b, v);
        }
        fprintf(out, "\n");
    }
    rc = 0;
out:
    sqlite3_finalize(mt);
    return rc;
}

/* A reviewer's warnings, from the stored intervals. */
static int report_warnings(sqlite3 *db, const char *db_path, long long exp, FILE *out, qh_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    /* a reviewer's warnings, from the stored intervals */
    fprintf(out, "\n## Warnings\n\n");
    int warned = 0;
    PREPARE(st, QH_Q_BASELINE_CHANCE);
    sqlite3_bind_int64(st, 1, exp);
    while (sqlite3_step(st) == SQLITE_ROW) {
        double lo = sqlite3_column_double(st, 3), hi = sqlite3_column_double(st, 4), ch = sqlite3_column_double(st, 5);
        if (lo <= ch && ch <= hi) {
            fprintf(out, "- %s %s: the unquantized baseline (%.4f [%.4f, %.4f], n=%d) cannot be told from chance (%.4f); "
                         "retention on this task measures noise.\n",
                    col_text(st, 0), col_text(st, 1), sqlite3_column_double(st, 2), lo, hi, sqlite3_column_int(st, 6), ch);
            warned = 1;
        }
    }
    if (!warned) fprintf(out, "- none raised automatically (the baseline is above chance on every accuracy task).\n");
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Links to the charts of the charted metrics, in charts_dir. */
static void report_charts(FILE *out, char (*cols)[96], int n_cols, const char *charts_dir)
{
    fprintf(out, "\n## Charts\n\n");
    for (int c = 0; c < n_cols; c++) {
        char task[sizeof cols[0]], *sp;
        memcpy(task, cols[c], sizeof task);
        sp = strchr(task, ' ');
        *sp = 0;
        for (char *p = task; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-')) *p = '_';
        fprintf(out, "![%s](%s/%s_%s.png)\n", cols[c], charts_dir, task, sp + 1);
    }
}

int qh_report(const char *db_path, const char *experiment, long long experiment_id, const char *charts_dir, FILE *out, qh_err *err)
{
    sqlite3 *db = NULL;
    int rc = -1;
    if (!qh_file_exists(db_path)) return qh_fail(err, "%s: no such results database", db_path);
    if (qh_db_open_read(db_path, &db) != SQLITE_OK) {
        qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        goto out;
    }
    long long exp;
    char cols[48][96];
    int n_cols = 0;
    if (qh_store_pick_experiment(db, db_path, experiment, experiment_id, &exp, err) != 0 ||
        report_provenance(db, db_path, exp, out, err) != 0 || report_results(db, db_path, exp, out, err) != 0 ||
        report_pareto(db, db_path, exp, out, err, cols, &n_cols) != 0 || report_warnings(db, db_path, exp, out, err) != 0)
        goto out;
    if (charts_dir) report_charts(out, cols, n_cols, charts_dir);
    rc = 0;
out:
    sqlite3_close(db);
    return rc;
}
