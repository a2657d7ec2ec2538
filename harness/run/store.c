/* store.c - the results store: opening, the schema and its upgrades, binding, the writers;
 * see store.h. */
#include "harness/run/store.h"

#include "harness/eval/metrics.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char schema_sql[] =
#include "schema.inc"
    ;

const char *qh_schema_sql(void) { return schema_sql; }

/* How a database of schema version k becomes k + 1 (schema.sql itself is always the newest:
 * a new database gets it whole). */
static const char *const schema_upgrades[] = {
    [1] = "ALTER TABLE audits ADD COLUMN p_value REAL; ALTER TABLE audits ADD COLUMN discordant INTEGER; "
          "ALTER TABLE audits ADD COLUMN registration TEXT; ALTER TABLE audits ADD COLUMN claim_commit TEXT; "
          "ALTER TABLE audits ADD COLUMN registration_note TEXT;",
};

void qh_utc_format(long long unix_seconds, char buf[32])
{
    if (unix_seconds <= 0) {
        snprintf(buf, 32, "none");
        return;
    }
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void qh_utc_now(char buf[32]) { qh_utc_format((long long)time(NULL), buf); }

static int sql_fail(qh_store *s, qh_err *err, const char *what)
{
    return qh_fail(err, "%s: %s: %s", s->path, what, s->db ? sqlite3_errmsg(s->db) : "no database");
}

int qh_store_exec(qh_store *s, const char *sql, qh_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        qh_fail(err, "%s: %s", s->path, msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* path as a file: URI with its reserved characters escaped */
static char *file_uri(const char *path, const char *query)
{
    size_t n = strlen(path);
    char *u = qh_malloc(3 * n + strlen(query) + 16), *o = u;
    o += sprintf(o, "file:");
    for (const char *c = path; *c; c++)
        if (*c == '%' || *c == '?' || *c == '#') o += sprintf(o, "%%%02X", (unsigned char)*c);
        else *o++ = *c;
    sprintf(o, "?%s", query);
    return u;
}

int qh_db_schema_current(sqlite3 *db, const char *path, qh_err *err)
{
    sqlite3_stmt *st;
    long long v = 0;
    if (sqlite3_prepare_v2(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key='schema_version'", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (v == atoi(QH_SCHEMA_VERSION)) return 1;
    qh_fail(err, "%s: schema version %lld, this harness reads %s%s", path, v, QH_SCHEMA_VERSION,
            v < atoi(QH_SCHEMA_VERSION) ? " (a command that writes to it upgrades it in place: qharness audit, or sweep --resume)" : "");
    return 0;
}

int qh_db_open_read(const char *path, sqlite3 **db)
{
    const char *modes[] = {"mode=ro", "mode=ro&immutable=1"};
    int rc = SQLITE_CANTOPEN;
    *db = NULL;
    for (int i = 0; i < 2; i++) {
        if (*db) sqlite3_close(*db);
        char *uri = file_uri(path, modes[i]);
        rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
        free(uri);
        if (rc != SQLITE_OK) continue;
        /* a WAL database without its -shm file, where it cannot be made, fails only on the
         * first read: try one */
        rc = sqlite3_exec(*db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return SQLITE_OK;
    }
    return rc;
}

int qh_store_open(const char *path, qh_store *s, qh_err *err)
{
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        sql_fail(s, err, "cannot open");
        qh_store_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 10000);
    long long found_version = 0;
    int found = 0;
    if (qh_store_exec(s, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;", err) ||
        qh_store_exec(s, schema_sql, err) ||
        qh_store_int(s, err, &found_version, &found, "SELECT CAST(value AS INTEGER) FROM meta WHERE key='schema_version'", "")) {
        qh_store_close(s);
        return -1;
    }
    if (!found) {
        if (qh_store_run(s, err, NULL, "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", "t", QH_SCHEMA_VERSION)) {
            qh_store_close(s);
            return -1;
        }
    } else if (found_version < atoi(QH_SCHEMA_VERSION) && found_version >= 1) {
        /* each step in one transaction with its version number: a crash leaves a whole version */
        for (long long v = found_version; v < atoi(QH_SCHEMA_VERSION); v++) {
            char next[24];
            snprintf(next, sizeof next, "%lld", v + 1);
            assert(v < (long long)(sizeof schema_upgrades / sizeof *schema_upgrades) && schema_upgrades[v]);
            if (qh_store_begin(s, err) || qh_store_exec(s, schema_upgrades[v], err) ||
                qh_store_run(s, err, NULL, "UPDATE meta SET value=? WHERE key='schema_version'", "t", next) || qh_store_commit(s, err)) {
                qh_store_rollback(s);
                qh_store_close(s);
                return -1;
            }
        }
    } else if (found_version != atoi(QH_SCHEMA_VERSION)) {
        qh_fail(err, "%s: schema version %lld, this harness writes %s", path, found_version, QH_SCHEMA_VERSION);
        qh_store_close(s);
        return -1;
    }
    return 0;
}

void qh_store_close(qh_store *s)
{
    if (s->db) sqlite3_close(s->db);
    s->db = NULL;
}

int qh_store_begin(qh_store *s, qh_err *err) { return qh_store_exec(s, "BEGIN IMMEDIATE", err); }
int qh_store_commit(qh_store *s, qh_err *err) { return qh_store_exec(s, "COMMIT", err); }
void qh_store_rollback(qh_store *s) { sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); }

static int prepare_bind(qh_store *s, qh_err *err, sqlite3_stmt **st, const char *sql, const char *fmt, va_list ap)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) return sql_fail(s, err, "prepare");
    for (int i = 0; fmt[i]; i++) {
        int rc = SQLITE_OK;
        switch (fmt[i]) {
        case 'i': rc = sqlite3_bind_int64(*st, i + 1, va_arg(ap, long long)); break;
        case 'd': {
            double d = va_arg(ap, double);
            if (isinf(d)) { /* NaN means "not applicable" (NULL); an infinity is never a result */
                sqlite3_finalize(*st);
                *st = NULL;
                return qh_fail(err, "%s: refusing to store %s (value %d of a statement)", s->path, qh_nonfinite_name(d), i + 1);
            }
            rc = d != d ? sqlite3_bind_null(*st, i + 1) : sqlite3_bind_double(*st, i + 1, d); /* NaN -> NULL */
            break;
        }
        case 't': {
            const char *t = va_arg(ap, const char *);
            rc = t ? sqlite3_bind_text(*st, i + 1, t, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(*st, i + 1);
            break;
        }
        case 'n': rc = sqlite3_bind_null(*st, i + 1); break;
        }
        if (rc != SQLITE_OK) {
            sqlite3_finalize(*st);
            return sql_fail(s, err, "bind");
        }
    }
    return 0;
}

int qh_store_run(qh_store *s, qh_err *err, long long *rowid, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    va_start(ap, fmt);
    int rc = prepare_bind(s, err, &st, sql, fmt, ap);
    va_end(ap);
    if (rc) return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sql_fail(s, err, sql);
    if (rowid) *rowid = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int qh_store_int(qh_store *s, qh_err *err, long long *out, int *found, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    va_start(ap, fmt);
    int rc = prepare_bind(s, err, &st, sql, fmt, ap);
    va_end(ap);
    if (rc) return -1;
    rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found) *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql_fail(s, err, sql);
    return 0;
}

/* ---- the writers ------------------------------------------------------------------------ */

int qh_store_add_experiment(qh_store *s, const qh_experiment *x, long long explicit_id, const char *commit, const char *host,
                            long long *exp_id, qh_err *err)
{
    char now[32];
    qh_utc_now(now);
    if (explicit_id > 0) *exp_id = explicit_id; /* OR IGNORE: the shard may have it already */
    return qh_store_run(s, err, explicit_id > 0 ? NULL : exp_id,
                        "INSERT OR IGNORE INTO experiments(id, name, description, file_path, file_text, file_sha256, harness_version, "
                        "git_commit, host, seed, ctx, started_at) VALUES (NULLIF(?, 0),?,?,?,?,?,?,?,?,?,?,?)",
                        "ittttttttiit", explicit_id, x->name, x->description, x->path, x->text, x->sha256, QH_VERSION, commit, host,
                        (long long)x->seed, (long long)x->ctx, now);
}

int qh_store_experiment_finished(qh_store *s, long long exp_id, qh_err *err)
{
    char now[32];
    qh_utc_now(now);
    return qh_store_run(s, err, NULL, "UPDATE experiments SET finished_at=? WHERE id=?", "ti", now, exp_id);
}

int qh_store_add_model(qh_store *s, const qh_model *m, long long explicit_id, long long *model_id, qh_err *err)
{
    int found;
    if (qh_store_run(s, err, NULL,
                     "INSERT OR IGNORE INTO models(id, path, sha256, architecture, n_layer, n_head, n_embd, n_ctx, n_vocab, parameters, dtype) "
                     "VALUES (NULLIF(?, 0),?,?,?,?,?,?,?,?,?,?)",
                     "itttiiiiiit", explicit_id, m->dir, m->sha256, qh_config_arch(&m->cfg)->name, (long long)m->cfg.n_layer,
                     (long long)m->cfg.n_head, (long long)m->cfg.n_embd, (long long)m->cfg.n_ctx, (long long)m->cfg.n_vocab,
                     (long long)m->n_params, m->dtype) ||
        qh_store_int(s, err, model_id, &found, "SELECT id FROM models WHERE sha256=?", "t", m->sha256))
        return -1;
    if (explicit_id > 0 && *model_id != explicit_id)
        return qh_fail(err, "%s: model %s is id %lld there, the plan says %lld", s->path, m->sha256, *model_id, explicit_id);
    return 0;
}

int qh_store_plan_run(qh_store *s, long long exp_id, long long model_id, const qh_run_config *cfg, int ordinal,
                      long long *config_id, long long *run_id, qh_err *err)
{
    int found;
    return qh_store_run(s, err, NULL, "INSERT OR IGNORE INTO method_configs(canonical, family) VALUES (?,?)", "tt", cfg->canonical,
                        cfg->family) ||
                   qh_store_int(s, err, config_id, &found, "SELECT id FROM method_configs WHERE canonical=?", "t", cfg->canonical) ||
                   qh_store_run(s, err, NULL,
                                "INSERT OR IGNORE INTO runs(experiment_id, model_id, config_id, ordinal, label, status) VALUES (?,?,?,?,?,'pending')",
                                "iiiit", exp_id, model_id, *config_id, (long long)ordinal, cfg->label) ||
                   qh_store_int(s, err, run_id, &found, "SELECT id FROM runs WHERE experiment_id=? AND model_id=? AND config_id=?", "iii",
                                exp_id, model_id, *config_id)
               ? -1
               : 0;
}

int qh_store_plan_shard_run(qh_store *s, long long exp_id, long long model_id, long long config_id, long long run_id,
                            const qh_run_config *cfg, int ordinal, int *done, qh_err *err)
{
    long long got, found_done;
    int found;
    if (qh_store_run(s, err, NULL, "INSERT OR IGNORE INTO method_configs(id, canonical, family) VALUES (?,?,?)", "itt", config_id,
                     cfg->canonical, cfg->family) ||
        qh_store_int(s, err, &got, &found, "SELECT COUNT(*) FROM method_configs WHERE id=? AND canonical=?", "it", config_id,
                     cfg->canonical))
        return -1;
    if (!got) return qh_fail(err, "%s: configuration %lld is not '%s'", s->path, config_id, cfg->canonical);
    if (qh_store_run(s, err, NULL,
                     "INSERT OR IGNORE INTO runs(id, experiment_id, model_id, config_id, ordinal, label, status) VALUES (?,?,?,?,?,?,'pending')",
                     "iiiiit", run_id, exp_id, model_id, config_id, (long long)ordinal, cfg->label) ||
        qh_store_int(s, err, &found_done, &found, "SELECT status='done' FROM runs WHERE id=?", "i", run_id))
        return -1;
    *done = (int)found_done;
    return 0;
}

int qh_store_run_started(qh_store *s, long long run, qh_err *err)
{
    char now[32];
    qh_utc_now(now);
    return qh_store_run(s, err, NULL, "UPDATE runs SET status='running', started_at=?, error=NULL WHERE id=?", "ti", now, run);
}

int qh_store_run_failed(qh_store *s, long long run, double seconds, const char *why, qh_err *err)
{
    char now[32];
    qh_utc_now(now);
    return qh_store_run(s, err, NULL, "UPDATE runs SET status='failed', finished_at=?, seconds=?, error=? WHERE id=?", "tdti", now,
                        seconds, why, run);
}

int qh_store_run_done(qh_store *s, long long run, double seconds, double quantize_seconds, qh_err *err)
{
    char now[32];
    qh_utc_now(now);
    return qh_store_run(s, err, NULL, "UPDATE runs SET status='done', finished_at=?, seconds=?, quantize_seconds=?, error=NULL WHERE id=?",
                        "tddi", now, seconds, quantize_seconds, run);
}

/* the tables that hold a run's results, in an order the foreign keys allow */
static const char *const run_tables[] = {"bpp", "bpp_parts", "tensors", "metrics", "items"};
#define N_RUN_TABLES (sizeof run_tables / sizeof *run_tables)

int qh_store_clear_run(qh_store *s, long long run, qh_err *err)
{
    char sql[128];
    for (size_t t = 0; t < N_RUN_TABLES; t++) {
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE run_id=?", run_tables[t]);
        if (qh_store_run(s, err, NULL, sql, "i", run)) return -1;
    }
    return 0;
}

int qh_store_run_bytes(qh_store *s, long long run, const qh_quant_result *q, const qh_model *m, qh_err *err)
{
    if (!q) {
        double bits = strcmp(m->dtype, "F32") == 0 ? 32 : 16;
        return qh_store_run(s, err, NULL,
                            "INSERT INTO bpp(run_id, tensors_quantized, params_total, params_quantized, bytes_total, bytes_quantized, "
                            "bytes_kept, bpp_quantized, bpp_model, kept_dtype) VALUES (?,0,?,0,?,0,?,NULL,?,?)",
                            "iiiidt", run, (long long)m->n_params, (long long)(m->n_params * bits / 8),
                            (long long)(m->n_params * bits / 8), bits, m->dtype);
    }
    if (qh_store_run(s, err, NULL,
                     "INSERT INTO bpp(run_id, tensors_quantized, params_total, params_quantized, bytes_total, bytes_quantized, "
                     "bytes_kept, bpp_quantized, bpp_model, kept_dtype) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     "iiiiiiiddt", run, (long long)q->n_q, (long long)q->params_total, (long long)q->params_quantized,
                     (long long)q->bytes_total, (long long)q->bytes_quantized, (long long)q->bytes_kept, q->bpp_quantized, q->bpp_model,
                     q->kept_desc[0] ? q->kept_desc : qh_dtype_name(q->kept_dtype)))
        return -1;
    for (int i = 0; i < q->n_q; i++)
        if (qh_store_run(s, err, NULL,
                         "INSERT INTO tensors(run_id, name, spec, rows, cols, bytes, rel_error, sensitivity) VALUES (?,?,?,?,?,?,?,?)",
                         "ittiiidd", run, q->q[i].name, q->q[i].spec, (long long)q->q[i].rows, (long long)q->q[i].cols,
                         (long long)qh_packed_bytes(&q->q[i].packed), q->q[i].rel_error, q->q[i].sensitivity))
            return -1;
    for (int k = 0; k < QH_PART_KINDS; k++)
        if (q->bytes_by_kind[k] && qh_store_run(s, err, NULL, "INSERT INTO bpp_parts(run_id, kind, bytes) VALUES (?,?,?)", "iti", run,
                                                qh_part_kind_name((qh_part_kind)k), (long long)q->bytes_by_kind[k]))
            return -1;
    return 0;
}

int qh_store_metric(qh_store *s, long long run, const char *task, const char *metric, double value, double lo, double hi, long n,
                    double chance, const char *protocol, const char *dataset_sha256, qh_err *err)
{
    if (!isfinite(value)) return qh_fail(err, "%s: %s is %s: a result is never stored non-finite", task, metric, qh_nonfinite_name(value));
    return qh_store_run(s, err, NULL,
                        "INSERT INTO metrics(run_id, task, metric, value, ci_low, ci_high, n, chance, protocol, dataset_sha256) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?)",
                        "ittdddidtt", run, task, metric, value, lo, hi, (long long)n, chance, protocol, dataset_sha256);
}

int qh_store_item(qh_store *s, long long run, const char *task, long idx, const char *key, const char *correct,
                  const char *correct_norm, const char *correct_letter, double value, long n, const char *detail, qh_err *err)
{
    return qh_store_run(s, err, NULL,
                        "INSERT INTO items(run_id, task, idx, item_key, correct, correct_norm, correct_letter, value, n, detail) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?)",
                        "itittttdit", run, task, (long long)idx, key, correct, correct_norm, correct_letter, value, (long long)n, detail);
}

int qh_store_attach_shard(qh_store *s, const char *file, qh_err *err)
{
    return qh_store_run(s, err, NULL, "ATTACH DATABASE ? AS shard", "t", file);
}

void qh_store_detach_shard(qh_store *s) { sqlite3_exec(s->db, "DETACH DATABASE shard", NULL, NULL, NULL); }

int qh_store_merge_run(qh_store *s, long long run, int shard_done, qh_err *err)
{
    if (qh_store_begin(s, err)) return -1;
    long long main_done;
    int found;
    if (qh_store_int(s, err, &main_done, &found, "SELECT status='done' FROM main.runs WHERE id=?", "i", run)) goto fail;
    if (main_done) {
        qh_store_rollback(s);
        return 1;
    }
    char sql[256];
    for (size_t t = 0; t < N_RUN_TABLES; t++) {
        snprintf(sql, sizeof sql, "DELETE FROM main.%s WHERE run_id=?", run_tables[t]);
        if (qh_store_run(s, err, NULL, sql, "i", run)) goto fail;
        if (!shard_done) continue;
        snprintf(sql, sizeof sql, "INSERT INTO main.%s SELECT * FROM shard.%s WHERE run_id=?", run_tables[t], run_tables[t]);
        if (qh_store_run(s, err, NULL, sql, "i", run)) goto fail;
    }
    if (qh_store_run(s, err, NULL,
                     "UPDATE main.runs SET (status, started_at, finished_at, seconds, quantize_seconds, error) = "
                     "(SELECT status, started_at, finished_at, seconds, quantize_seconds, error FROM shard.runs WHERE id=?) WHERE id=?",
                     "ii", run, run))
        goto fail;
    return qh_store_commit(s, err);
fail:
    qh_store_rollback(s);
    return -1;
}

int qh_store_slurm_task(qh_store *s, long long run, long long submission, const char *job, long long array_index,
                        const char *merge_job, const char *submitted_at, qh_err *err)
{
    return qh_store_run(s, err, NULL,
                        "INSERT INTO slurm_tasks(run_id, submission, job_id, array_index, merge_job_id, submitted_at) VALUES (?,?,?,?,?,?)",
                        "iititt", run, submission, job, array_index, merge_job, submitted_at);
}

int qh_store_audit(qh_store *s, const qh_claim *c, const qh_audit_record *r, qh_err *err)
{
    char now[32];
    qh_utc_now(now);
    const qh_audit_stats *a = &r->stats;
    return qh_store_run(s, err, NULL,
                        "INSERT INTO audits(claim, claim_text, claim_sha256, experiment_id, baseline_run, quantized_run, task, metric, "
                        "claimed, claimed_bpp, retention, ci_low, ci_high, chance_adjusted, ca_low, ca_high, n, verdict, items_needed, "
                        "warnings, created_at, p_value, discordant, registration, claim_commit, registration_note) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        "tttiiittdddddddditdttddttt", c->name, c->text, c->sha256, r->experiment_id, r->baseline_run, r->quantized_run,
                        c->task, c->metric, c->claimed, c->claimed_bpp > 0 ? c->claimed_bpp : NAN, a->retention, a->lo, a->hi,
                        a->chance_adj, a->ca_lo, a->ca_hi, (long long)a->n, qh_verdict_name(a->verdict),
                        isfinite(a->items_needed) ? a->items_needed : NAN, r->warnings, now, a->p_value,
                        qh_metric_of_text(c->metric) ? NAN : (double)a->discordant, qh_registration_name(r->registration),
                        r->claim_commit[0] ? r->claim_commit : NULL, r->registration_note);
}

/* ---- readers' helpers -------------------------------------------------------------------- */

int qh_db_latest_experiment(sqlite3 *db, const char *name, long long *id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT id FROM experiments WHERE name=? ORDER BY id DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st), found = step == SQLITE_ROW;
    if (found) *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return found ? 1 : step == SQLITE_DONE ? 0 : -1;
}

int qh_store_pick_experiment(sqlite3 *db, const char *db_path, const char *name, long long id, long long *exp_id, qh_err *err)
{
    sqlite3_stmt *st = NULL;
    const char *q = id > 0 ? "SELECT id, 1 FROM experiments WHERE id=?1"
                    : name ? "SELECT id, (SELECT COUNT(*) FROM experiments WHERE name=?1) FROM experiments WHERE name=?1 ORDER BY id DESC LIMIT 1"
                           : "SELECT id, 1 FROM experiments ORDER BY id DESC LIMIT 1";
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) return qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
    if (id > 0) sqlite3_bind_int64(st, 1, id);
    else if (name) sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (step != SQLITE_DONE) return qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        if (id > 0) return qh_fail(err, "%s: no experiment with id %lld (qharness results --db %s lists them)", db_path, id, db_path);
        if (name) return qh_fail(err, "%s: no experiment named %s (qharness results --db %s lists them)", db_path, name, db_path);
        return qh_fail(err, "%s: no experiment (run a sweep first)", db_path);
    }
    *exp_id = sqlite3_column_int64(st, 0);
    long long same_name = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    if (same_name > 1)
        fprintf(stderr, "note: %lld experiments are named '%s' in %s; this is the latest (id %lld): --id picks another\n", same_name,
                name, db_path, *exp_id);
    return 0;
}

int qh_store_list_experiments(sqlite3 *db, const char *db_path, FILE *out, qh_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT e.id, e.name, (SELECT COUNT(*) FROM runs WHERE experiment_id=e.id AND status='done'), "
                           "(SELECT COUNT(*) FROM runs WHERE experiment_id=e.id), e.started_at, e.finished_at FROM experiments e ORDER BY e.id",
                           -1, &st, NULL) != SQLITE_OK)
        return qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
    fprintf(out, "%5s  %-32s %11s  %-20s  %s\n", "id", "name", "runs done", "started", "finished");
    int n = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *fin = sqlite3_column_text(st, 5);
        char runs[32];
        snprintf(runs, sizeof runs, "%lld/%lld", (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 3));
        fprintf(out, "%5lld  %-32s %11s  %-20s  %s\n", (long long)sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1), runs,
                sqlite3_column_text(st, 4), fin ? (const char *)fin : "(not finished)");
        n++;
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) return qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
    fprintf(out, "(%d experiment%s in %s; qharness results --experiment NAME or --id ID shows one)\n", n, n == 1 ? "" : "s", db_path);
    return 0;
}
