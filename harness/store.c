/* store.c - SQLite access for the sweep runner and reports; see store.h. */
#include "store.h"

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
