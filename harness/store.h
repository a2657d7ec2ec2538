/* store.h - the SQLite results store (schema: harness/schema.sql).  Functions return 0 or -1
 * with the SQLite message in err; the caller decides what to do. */
#ifndef QH_STORE_H
#define QH_STORE_H

#include <sqlite3.h>

#include "util.h"

typedef struct {
    sqlite3 *db;
    char path[1024];
} qh_store;

#define QH_SCHEMA_VERSION "1"

/* Opens (creating directories' file and schema as needed) in WAL mode. */
int qh_store_open(const char *path, qh_store *s, qh_err *err);
void qh_store_close(qh_store *s);

/* Opens an existing results database for reading only (results, report, plot, audit, merge's
 * shards): never creates or writes it.  A WAL database in a folder this process cannot write
 * (a read-only mount, another user's results) is opened as immutable.  Returns SQLITE_OK or
 * an SQLite code, with *db set either way (close it). */
int qh_db_open_read(const char *path, sqlite3 **db);

int qh_store_exec(qh_store *s, const char *sql, qh_err *err);
int qh_store_begin(qh_store *s, qh_err *err);
int qh_store_commit(qh_store *s, qh_err *err);
void qh_store_rollback(qh_store *s);

/* Prepared statement with printf-free binding: fmt letters i (int64), d (double), t (text,
 * NULL -> SQL NULL), n (NULL); runs it to completion.  *rowid gets last_insert_rowid. */
int qh_store_run(qh_store *s, qh_err *err, long long *rowid, const char *sql, const char *fmt, ...);
/* Like qh_store_run for a query returning one integer (or none: *found = 0). */
int qh_store_int(qh_store *s, qh_err *err, long long *out, int *found, const char *sql, const char *fmt, ...);

const char *qh_schema_sql(void);
void qh_utc_now(char buf[32]);

#endif
