/* slurm.h - the Slurm commands qharness runs (no Slurm library is linked): sbatch to submit
 * a job script, squeue and scontrol to read the state of an array's tasks, scancel to stop
 * them.  Each is run as a child process without a shell (arguments are passed as they are);
 * where a command is missing or fails, the error names it and quotes its message.  The client
 * commands find the cluster the usual way (SLURM_CONF, else /etc/slurm/slurm.conf). */
#ifndef QH_SLURM_H
#define QH_SLURM_H

#include <stddef.h>

#include "harness/base/util.h"

/* One task of an array job as Slurm reports it. */
typedef struct {
    int index;               /* the array task id */
    char state[24];          /* PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, TIMEOUT, NODE_FAIL, ... */
    char node[64];           /* where it runs or ran ("" while pending) */
    char exit_code[16];      /* "0:0", "0:15", ... once it ended ("" while live) */
} qh_slurm_task;

/* sbatch --parsable SCRIPT (after `--dependency=afterany:AFTER` when AFTER is not NULL):
 * the job id into job_id. */
int qh_slurm_submit(const char *script, const char *after, char *job_id, size_t job_id_len, qh_err *err);

/* The tasks of array job JOB that Slurm still knows: live ones from squeue, ended ones from
 * scontrol (which forgets them MinJobAge seconds after they end, 300 by default).  *tasks is
 * malloc'd; a job Slurm no longer knows gives *n = 0. */
int qh_slurm_tasks(const char *job, qh_slurm_task **tasks, int *n, qh_err *err);
/* The parsing half of qh_slurm_tasks: squeue's '%K|%T|%N' lines, then scontrol -o's records
 * (either may be NULL); lines that are not array tasks are skipped (malloc'd array). */
void qh_slurm_tasks_parse(const char *squeue_out, const char *scontrol_out, qh_slurm_task **tasks, int *n);

/* 1 for a state in which the task may still run (pending, running, requeued, ...). */
int qh_slurm_state_live(const char *state);

/* scancel JOB (a whole array) or JOB_INDEX (one task). */
int qh_slurm_cancel(const char *job, qh_err *err);


#endif
