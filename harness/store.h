/* store.h - the SQLite results store (schema: harness/schema.sql).  Functions return 0 or -1
 * with the SQLite message in err; the caller decides what to do. */
#ifndef QH_STORE_H
#define QH_STORE_H

#include <sqlite3.h>
#include <stdio.h>

#include "util.h"

typedef struct {
    sqlite3 *db;
    char path[1024];
} qh_store;

#define QH_SCHEMA_VERSION "2"
/* the results database when --db is not given (relative to the working directory) */
#define QH_DEFAULT_DB "results/qharness.sqlite"

/* Opens (creating directories' file and schema as needed) in WAL mode. */
int qh_store_open(const char *path, qh_store *s, qh_err *err);
void qh_store_close(qh_store *s);

/* Opens an existing results database for reading only (results, report, plot, audit, merge's
 * shards): never creates or writes it.  A WAL database in a folder this process cannot write
 * (a read-only mount, another user's results) is opened as immutable.  Returns SQLITE_OK or
 * an SQLite code, with *db set either way (close it). */
int qh_db_open_read(const char *path, sqlite3 **db);
/* 0 with err set when db (opened read-only) has an older schema than this harness reads: a
 * writing command upgrades it (qh_store_open); 1 when it is current. */
int qh_db_schema_current(sqlite3 *db, const char *path, qh_err *err);

int qh_store_exec(qh_store *s, const char *sql, qh_err *err);
int qh_store_begin(qh_store *s, qh_err *err);
int qh_store_commit(qh_store *s, qh_err *err);
void qh_store_rollback(qh_store *s);

/* Prepared statement with printf-free binding: fmt letters i (int64), d (double), t (text,
 * NULL -> SQL NULL), n (NULL); runs it to completion.  *rowid gets last_insert_rowid. */
int qh_store_run(qh_store *s, qh_err *err, long long *rowid, const char *sql, const char *fmt, ...);
/* Like qh_store_run for a query returning one integer (or none: *found = 0). */
int qh_store_int(qh_store *s, qh_err *err, long long *out, int *found, const char *sql, const char *fmt, ...);

/* Which experiment a reader means: id > 0 that one; else the latest named name (name not
 * NULL); else the latest of all.  When more than one experiment holds the name, a note on
 * stderr says which one is shown and how to pick another.  Errors name db_path. */
int qh_store_pick_experiment(sqlite3 *db, const char *db_path, const char *name, long long id, long long *exp_id, qh_err *err);
/* Every experiment: id, name, runs done of total, started, finished (results with no name). */
int qh_store_list_experiments(sqlite3 *db, const char *db_path, FILE *out, qh_err *err);

const char *qh_schema_sql(void);
void qh_utc_now(char buf[32]);
/* Unix seconds as UTC ISO 8601 ("none" for 0 or less). */
void qh_utc_format(long long unix_seconds, char buf[32]);

#endif
