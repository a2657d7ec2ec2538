/* sweep.h - run an experiment file into the SQLite store.
 *
 * For each model and each method configuration of the experiment: copy the baseline,
 * quantize, evaluate every task, and write the run (bpp, metrics with intervals, per-item
 * rows) in one transaction.  The plan (all runs, status 'pending') is written first, so a
 * sweep killed at any point can be resumed with --resume: runs that are not 'done' are redone,
 * runs that are 'done' are never touched again, and UNIQUE keys forbid duplicates. */
#ifndef QH_SWEEP_H
#define QH_SWEEP_H

#include "experiment.h"

typedef struct {
    const char *db_path;     /* default results/qharness.sqlite */
    int resume;
    int dry_run;
    int timings;             /* print where the time went (make bench-sweep) */
    int json;                /* with dry_run: one JSON object per expanded run */
} qh_sweep_opts;

/* Returns 0 when every run is done, 1 when some runs failed (each recorded with its error),
 * -1 on an error that stopped the sweep (err says which). */
int qh_sweep(const char *experiment_path, const qh_sweep_opts *o, qh_err *err);

#endif
