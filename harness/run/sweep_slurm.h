/* sweep_slurm.h - the cluster side of a sweep (sweep_slurm.c), as sweep.c calls it: submitting
 * the plan's runs as a Slurm array job and its merge job, --status and --cancel, and the plan
 * file an array task reads (qh_sweep_task in sweep.h runs it). */
#ifndef QH_SWEEP_SLURM_H
#define QH_SWEEP_SLURM_H

#include "harness/run/sweep.h"

/* A run of the plan, as a Slurm task needs it. */
typedef struct {
    long long run_id, model_id, config_id;
    int model_index, config_index, ordinal;
    char model_sha256[65];
} qh_planned_run;

/* Submits the runs (not done, with no live task) as an array job and its merge job. */
int qh_sweep_submit(qh_store *s, const qh_experiment *x, const char *db_path, long long experiment_id,
                    const qh_planned_run *runs, int n_runs, const qh_sweep_opts *o, qh_err *err);
/* --status and --cancel for experiment_id of x in the store at db_path */
int qh_sweep_status(qh_store *s, const qh_experiment *x, const char *db_path, long long experiment_id, qh_err *err);
int qh_sweep_cancel(qh_store *s, const char *db_path, long long experiment_id, qh_err *err);
/* The plan file's task INDEX: the experiment it belongs to and its runs (malloc'd). */
typedef struct {
    char experiment_file[4096], experiment_sha256[65], db[4096];
    long long experiment_id;
    qh_planned_run *runs;
    int n_runs;
} qh_task_plan;
int qh_task_plan_read(const char *plan_path, int index, qh_task_plan *p, qh_err *err);

#endif
