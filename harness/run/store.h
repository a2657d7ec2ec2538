/* store.h - the SQLite results store (schema: harness/run/schema.sql), and its one owner: the
 * typed writers below are the only SQL that changes a results database (a test holds the
 * sources to that); readers prepare their own queries on a read-only handle.  Functions
 * return 0 or -1 with the SQLite message in err; the caller decides what to do. */
#ifndef QH_STORE_H
#define QH_STORE_H

#include <sqlite3.h>
#include <stdio.h>

#include "harness/base/util.h"
#include "harness/quantize/quantize.h"
#include "harness/run/claim.h"
#include "harness/run/experiment.h"

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

/* Prepared statement with printf-free binding: fmt letters i (int64), d (double: NaN -> NULL,
 * an infinity refused), t (text, NULL -> SQL NULL), n (NULL); runs it to completion.  *rowid
 * gets last_insert_rowid.  The writers below are built on it; elsewhere only tests call it. */
int qh_store_run(qh_store *s, qh_err *err, long long *rowid, const char *sql, const char *fmt, ...);
/* Like qh_store_run for a query returning one integer (or none: *found = 0). */
int qh_store_int(qh_store *s, qh_err *err, long long *out, int *found, const char *sql, const char *fmt, ...);

/* ---- the writers ---------------------------------------------------------------------------
 * Each writes the rows of one thing the schema records; transactions are the caller's. */

/* A new experiments row for x (explicit_id > 0: that id, kept if the database has it already,
 * as a shard's copy does); commit and host may be NULL. */
int qh_store_add_experiment(qh_store *s, const qh_experiment *x, long long explicit_id, const char *commit, const char *host,
                            long long *exp_id, qh_err *err);
int qh_store_experiment_finished(qh_store *s, long long exp_id, qh_err *err);
/* The model's row (by its sha256), its id into *model_id; explicit_id > 0 (a shard) must be it. */
int qh_store_add_model(qh_store *s, const qh_model *m, long long explicit_id, long long *model_id, qh_err *err);
/* A pending run of configuration cfg (the configuration's row made if new), unless the run
 * is there already; the ids into *config_id and *run_id. */
int qh_store_plan_run(qh_store *s, long long exp_id, long long model_id, const qh_run_config *cfg, int ordinal,
                      long long *config_id, long long *run_id, qh_err *err);
/* The same in a shard, at the ids the experiment database gave (the configuration must be
 * cfg there too); *done: the shard has the run done already. */
int qh_store_plan_shard_run(qh_store *s, long long exp_id, long long model_id, long long config_id, long long run_id,
                            const qh_run_config *cfg, int ordinal, int *done, qh_err *err);
int qh_store_run_started(qh_store *s, long long run, qh_err *err);
int qh_store_run_failed(qh_store *s, long long run, double seconds, const char *why, qh_err *err);
/* Removes whatever results rows a run has (a failed attempt's, defensively). */
int qh_store_clear_run(qh_store *s, long long run, qh_err *err);
/* The run's bytes: q's accounting (quantized), or the checkpoint as loaded (q NULL: every
 * parameter in the model's own dtype). */
int qh_store_run_bytes(qh_store *s, long long run, const qh_quant_result *q, const qh_model *m, qh_err *err);
int qh_store_metric(qh_store *s, long long run, const char *task, const char *metric, double value, double lo, double hi, long n,
                    double chance, const char *protocol, const char *dataset_sha256, qh_err *err);
/* One item of a multiple-choice or perplexity task; correct*: "0", "1" or NULL; detail JSON or NULL. */
int qh_store_item(qh_store *s, long long run, const char *task, long idx, const char *key, const char *correct,
                  const char *correct_norm, const char *correct_letter, double value, long n, const char *detail, qh_err *err);
int qh_store_run_done(qh_store *s, long long run, double seconds, double quantize_seconds, qh_err *err);
/* A shard database (one run's) attached to s as "shard", for qh_store_merge_run. */
int qh_store_attach_shard(qh_store *s, const char *file, qh_err *err);
void qh_store_detach_shard(qh_store *s);
/* The attached shard gives run its rows: its results and status replace the main database's
 * (shard_done 0: its status only) unless the run is done there.  One transaction.  Returns 0
 * (merged), 1 (done before: untouched), -1 (err). */
int qh_store_merge_run(qh_store *s, long long run, int shard_done, qh_err *err);
/* One run's array task of a Slurm submission (merge_job NULL: none). */
int qh_store_slurm_task(qh_store *s, long long run, long long submission, const char *job, long long array_index,
                        const char *merge_job, const char *submitted_at, qh_err *err);
/* An audit's verdict on claim c. */
int qh_store_audit(qh_store *s, const qh_claim *c, const qh_audit_record *r, qh_err *err);

/* The id of the latest experiment named name into *id: 1 (found), 0 (none), -1 (SQLite error).
 * "The latest of that name" is what --resume continues, audits reuse and reports show. */
int qh_db_latest_experiment(sqlite3 *db, const char *name, long long *id);
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
