/* plot.h - accuracy- and perplexity-vs-bpp charts from the SQLite results alone (gnuplot).
 *
 * For every (task, metric) of an experiment: one chart, PNG and SVG, x = bits per parameter
 * from the packed bytes (quantized scope or whole model), y = the metric with its 95%
 * interval as error bars, one series per method family, the Pareto frontier (best value at
 * no more bits), the unquantized baseline and (for accuracies) the chance level as lines.
 * Next to each chart: its data file (.dat) and gnuplot script (.gp), so that a chart can be
 * regenerated or restyled without the harness. */
#ifndef QH_PLOT_H
#define QH_PLOT_H

#include <sqlite3.h>
#include <stdio.h>

#include "harness/eval/metrics.h"
#include "harness/base/util.h"

typedef struct {
    double bpp, value, lo, hi;
} qh_plot_point;

/* Indices of the Pareto-optimal points (no other point has fewer or equal bits and a better
 * or equal value, one of them strictly), sorted by bpp; returns their count. */
int qh_pareto(const qh_plot_point *p, int n, int lower_is_better, int *out);

/* The Pareto set of points p (runs[i] stored in db, scored on task with metric) judged on the
 * evidence: a point is beaten only by another with no more bits that is better by the paired
 * 95% interval over the windows or items both scored (reports/paired.h); where the runs share
 * no item, by the point estimates as qh_pareto.  On a noisy task many points stay in the set:
 * nothing shows one better than another.  out: the set's indices sorted by bpp; returns their
 * count, or -1 on a database error. */
int qh_pareto_paired(sqlite3 *db, const char *task, const char *metric, const long long *runs, const qh_plot_point *p, int n,
                     int *out);
/* The same, counting in *unresolved the comparisons that had paired windows or items but too few
 * for an interval (so that neither run could be shown better). */
int qh_pareto_paired_unresolved(sqlite3 *db, const char *task, const char *metric, const long long *runs, const qh_plot_point *p,
                                int n, int *out, int *unresolved);

/* The Pareto set (qh_pareto_paired) of one stored metric (key "task metric") over the done
 * quantized runs of experiment exp, x = quantized-scope bpp: fills up to max points and their
 * run labels in run order (*n_points of them) and front with the set's indices.  Returns the
 * set's size, or -1 on a database error. */
int qh_pareto_runs(sqlite3 *db, long long exp, const char *key, int max, qh_plot_point *pts, char (*labels)[96], int *front,
                   int *n_points);

/* whole_model: x = bpp over all parameters instead of the quantized scope.  Returns the
 * number of charts written (>= 0) or -1. */
int qh_plot(const char *db_path, const char *experiment, long long experiment_id, const char *out_dir, int whole_model, FILE *log, qh_err *err);

/* Writes out_dir/index.md: one overview page linking every chart (PNG) in out_dir, by scope.
 * Returns the number of charts linked, or -1. */
int qh_plot_overview(const char *out_dir, const char *title, qh_err *err);

#endif
