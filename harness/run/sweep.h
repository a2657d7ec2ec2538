/* sweep.h - run an experiment file into the SQLite store, here or on a Slurm cluster.
 *
 * For each model and each method configuration of the experiment: copy the baseline,
 * quantize, evaluate every task, and write the run (bpp, metrics with intervals, per-item
 * rows) in one transaction.  The plan (all runs, status 'pending') is written first, so a
 * sweep killed at any point can be resumed with --resume: runs that are not 'done' are redone,
 * runs that are 'done' are never touched again, and UNIQUE keys forbid duplicates.
 *
 * On a cluster (--slurm, sweep_slurm.c) the plan is written the same way; then one Slurm array
 * task per run (or per --runs-per-task runs) runs the same code path (qh_sweep_task) into its
 * own shard database beside the experiment's (shard.h: one writer per file, never the
 * experiment database itself), and a dependent job merges the shards (qh_merge_shards). */
#ifndef QH_SWEEP_H
#define QH_SWEEP_H

#include "harness/run/experiment.h"
#include "harness/run/store.h"

typedef struct {
    const char *partition, *time_limit;  /* sbatch --partition, --time; NULL: the cluster's defaults */
    int cpus_per_task;                   /* default 1; the task's threads (OMP_NUM_THREADS) */
    int max_parallel;                    /* --array=...%K; 0: no limit */
    int runs_per_task;                   /* runs per array task, default 1 */
    int no_merge_job;                    /* do not submit the dependent merge job */
} qh_slurm_opts;

typedef struct {
    const char *db_path;     /* default QH_DEFAULT_DB (store.h) */
    int resume;
    int new_experiment;      /* --new: another experiment of a name whose latest is unfinished */
    int dry_run;
    int timings;             /* print where the time went (make bench-sweep) */
    int json;                /* with dry_run: one JSON object per expanded run */
    int status;              /* where each run stands: the database, its shards, Slurm */
    int cancel;              /* scancel the experiment's Slurm tasks that are still live */
    int slurm;               /* submit to Slurm instead of running here */
    qh_slurm_opts slurm_opts;
} qh_sweep_opts;

/* Returns 0 when every run is done (or, with --slurm, submitted), 1 when some runs failed
 * (each recorded with its error), -1 on an error that stopped the sweep (err says which). */
int qh_sweep(const char *experiment_path, const qh_sweep_opts *o, qh_err *err);

/* Every value of x that depends on the model, checked against m before any work (the window
 * and calibration contexts, every include/exclude/override pattern): an error names the
 * experiment file's line. */
int qh_experiment_check_model(const qh_experiment *x, const qh_model *m, const char *model_arg, qh_err *err);

/* One Slurm array task: the runs the plan file (written by --slurm) gives task INDEX, each
 * into its shard database.  Returns 0 when all are done, 1 when some failed, -1 on error. */
int qh_sweep_task(const char *plan_path, int index, qh_err *err);

#endif
