/* shard.h - shard databases and their merge.
 *
 * A Slurm array task never writes the experiment's database (SQLite must not have writers on
 * several machines, and not over NFS): each run it does goes into its own shard, a database
 * of the same schema at DB.shards/exp-ID/run-RUN.sqlite, holding copies of the experiment,
 * model and configuration rows under the experiment database's ids.  A killed task leaves at
 * most an uncommitted transaction there, which SQLite discards.
 *
 * The merge copies each shard's finished run into the experiment database in one transaction
 * (its bpp, parts, tensors, metrics and items rows, then the run's status), idempotently: a
 * run already 'done' there is never touched, so merging twice, or a shard twice, changes
 * nothing.  A shard whose experiment, model or configuration does not match is refused by
 * name; a run its shard holds as pending or running is left pending. */
#ifndef QH_SHARD_H
#define QH_SHARD_H

#include <stddef.h>

#include "harness/run/store.h"

/* malloc'd: DB.shards/exp-ID and DIR/run-RUN.sqlite */
char *qh_shard_dir(const char *db_path, long long experiment_id);
char *qh_shard_file(const char *shard_dir, long long run_id);
/* mkdir -p */
int qh_mkdirs(const char *path, qh_err *err);

typedef struct {
    int shards;              /* shard files read */
    int merged;              /* runs copied in now */
    int already;             /* runs that were done before (untouched) */
    int failed;              /* runs whose shard records a failure (status 'failed' copied) */
    int unfinished;          /* runs still pending or running in their shard */
    int refused;             /* shard files refused (an error line each on stderr) */
} qh_merge_counts;

/* Merges every shard of the experiment into the store.  Returns 0, or -1 when the store
 * itself failed (err); a refused shard is counted, named on stderr, and merging goes on. */
int qh_merge_shards(qh_store *s, long long experiment_id, const char *shard_dir, qh_merge_counts *c, qh_err *err);

/* The run's status in its shard ("" when there is no shard) and the error recorded there. */
void qh_shard_run_status(const char *shard_dir, long long run_id, char *status, size_t len, char *error, size_t error_len);

#endif
