/* shard.c - shard paths and the merge of shards into the experiment database; see shard.h. */
#include "harness/run/store.h"
#include "harness/run/shard.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *qh_shard_dir(const char *db_path, long long experiment_id)
{
    size_t n = strlen(db_path) + 64;
    char *d = qh_malloc(n);
    snprintf(d, n, "%s.shards/exp-%lld", db_path, experiment_id);
    return d;
}

char *qh_shard_file(const char *shard_dir, long long run_id)
{
    size_t n = strlen(shard_dir) + 64;
    char *f = qh_malloc(n);
    snprintf(f, n, "%s/run-%lld.sqlite", shard_dir, run_id);
    return f;
}

int qh_mkdirs(const char *path, qh_err *err)
{
    char *p = qh_strdup(path);
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != 0) continue;
        char keep = *c;
        *c = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            qh_fail(err, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *c = keep;
        if (!keep) break;
    }
    free(p);
    return 0;
}

/* A text column of a one-row query into buf ("" when no row). */
static int query_text(qh_store *s, qh_err *err, char *buf, size_t len, const char *sql, long long arg)
{
    sqlite3_stmt *st;
    buf[0] = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return qh_fail(err, "%s: %s", s->path, sqlite3_errmsg(s->db));
    if (sqlite3_bind_parameter_count(st) > 0) sqlite3_bind_int64(st, 1, arg);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0)) snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return qh_fail(err, "%s: %s", s->path, sqlite3_errmsg(s->db));
    return 0;
}

/* Checks the attached shard against the experiment database and merges its runs.  Returns 0,
 * 1 when the shard is refused (why in why), -1 when the store failed. */
static int merge_attached(qh_store *s, long long exp, qh_merge_counts *c, qh_err *why, qh_err *err)
{
    char a[1100], b[1100];
    if (query_text(s, why, a, sizeof a, "SELECT value FROM shard.meta WHERE key='schema_version'", 0)) return 1;
    if (strcmp(a, QH_SCHEMA_VERSION) != 0) return qh_fail(why, "schema version '%s', this harness writes %s", a, QH_SCHEMA_VERSION), 1;
    if (query_text(s, why, a, sizeof a, "SELECT file_sha256 FROM shard.experiments WHERE id=?", exp) ||
        query_text(s, err, b, sizeof b, "SELECT file_sha256 FROM main.experiments WHERE id=?", exp))
        return why->msg[0] ? 1 : -1;
    if (!a[0]) return qh_fail(why, "holds no row of experiment %lld", exp), 1;
    if (strcmp(a, b) != 0) return qh_fail(why, "its experiment %lld ran file sha256 %.12s, the database's is %.12s", exp, a, b), 1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT r.id, r.status, "
                           "(SELECT COUNT(*) FROM main.runs m JOIN main.models mm ON mm.id=m.model_id JOIN main.method_configs mc ON mc.id=m.config_id "
                           " JOIN shard.models sm ON sm.id=r.model_id JOIN shard.method_configs sc ON sc.id=r.config_id "
                           " WHERE m.id=r.id AND m.experiment_id=r.experiment_id AND m.model_id=r.model_id AND m.config_id=r.config_id "
                           " AND mm.sha256=sm.sha256 AND mc.canonical=sc.canonical) "
                           "FROM shard.runs r WHERE r.experiment_id=? ORDER BY r.id",
                           -1, &st, NULL) != SQLITE_OK)
        return qh_fail(why, "%s", sqlite3_errmsg(s->db)), 1;
    sqlite3_bind_int64(st, 1, exp);
    long long ids[64];
    int status_done[64], status_failed[64], n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == 64) {
            sqlite3_finalize(st);
            return qh_fail(why, "holds more than 64 runs (a shard holds one)"), 1;
        }
        const char *status = (const char *)sqlite3_column_text(st, 1);
        if (sqlite3_column_int64(st, 2) != 1) {
            qh_fail(why, "run %lld does not match the database's run of that id (experiment, model sha256 or configuration)",
                    (long long)sqlite3_column_int64(st, 0));
            sqlite3_finalize(st);
            return 1;
        }
        ids[n] = sqlite3_column_int64(st, 0);
        status_done[n] = status && strcmp(status, "done") == 0;
        status_failed[n] = status && strcmp(status, "failed") == 0;
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return qh_fail(why, "%s", sqlite3_errmsg(s->db)), 1;
    for (int i = 0; i < n; i++) {
        if (!status_done[i] && !status_failed[i]) {
            c->unfinished++;
            continue;
        }
        /* a shard is a file from elsewhere: a non-finite or non-numeric result is not copied
         * into the database (SQLite keeps an infinity as a REAL, a NaN never) */
        long long bad;
        int found;
        if (qh_store_int(s, why, &bad, &found,
                         "SELECT COUNT(*) FROM shard.metrics WHERE run_id=? AND NOT (typeof(value) IN ('real', 'integer') "
                         "AND abs(value) <= 1.7976931348623157e308 AND (ci_low IS NULL OR abs(ci_low) <= 1.7976931348623157e308) "
                         "AND (ci_high IS NULL OR abs(ci_high) <= 1.7976931348623157e308))",
                         "i", ids[i]))
            return 1;
        if (bad) return qh_fail(why, "run %lld: %lld metric value(s) are not finite numbers", ids[i], bad), 1;
        int r = qh_store_merge_run(s, ids[i], status_done[i], err);
        if (r < 0) return -1;
        if (r == 1) c->already++;
        else if (status_done[i]) c->merged++;
        else c->failed++;
    }
    return 0;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int qh_merge_shards(qh_store *s, long long exp, const char *dir, qh_merge_counts *c, qh_err *err)
{
    memset(c, 0, sizeof *c);
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : qh_fail(err, "%s: cannot read: %s", dir, strerror(errno));
    long long *runs = NULL;
    int n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        long long id;
        char tail[16];
        if (sscanf(e->d_name, "run-%lld.%15s", &id, tail) != 2 || strcmp(tail, "sqlite") != 0) continue;
        if (n == cap) runs = qh_realloc(runs, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *runs);
        runs[n++] = id;
    }
    closedir(d);
    qsort(runs, (size_t)n, sizeof *runs, cmp_ll);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char *file = qh_shard_file(dir, runs[i]);
        qh_err why = {{0}};
        int r;
        if (qh_store_attach_shard(s, file, &why)) {
            qh_fail(&why, "cannot attach it: %s", sqlite3_errmsg(s->db));
            r = 1;
        }
        else {
            r = merge_attached(s, exp, c, &why, err);
            qh_store_detach_shard(s);
        }
        if (r < 0) rc = -1;
        else if (r == 1) {
            c->refused++;
            fprintf(stderr, "qharness: %s: shard refused: %s\n", file, why.msg);
        }
        c->shards++;
        free(file);
    }
    free(runs);
    return rc;
}

void qh_shard_run_status(const char *dir, long long run, char *status, size_t len, char *error, size_t error_len)
{
    status[0] = error[0] = 0;
    char *file = qh_shard_file(dir, run);
    sqlite3 *db = NULL;
    if (qh_file_exists(file) && qh_db_open_read(file, &db) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT status, error FROM runs WHERE id=?", -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, run);
            if (sqlite3_step(st) == SQLITE_ROW) {
                snprintf(status, len, "%s", sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
                if (sqlite3_column_text(st, 1)) snprintf(error, error_len, "%s", (const char *)sqlite3_column_text(st, 1));
            }
            sqlite3_finalize(st);
        } else snprintf(status, len, "unreadable");
    } else if (qh_file_exists(file))
        snprintf(status, len, "unreadable");
    if (db) sqlite3_close(db);
    free(file);
}
