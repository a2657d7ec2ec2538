/* stats.h - the intervals every reported number carries, in one place.
 *
 * Wilson score intervals for proportions (accuracies, top-1 agreement), the percentile
 * bootstrap of a ratio over windows (perplexity, KL), and the paired bootstrap over items
 * that the audit uses for retention (one resample of item indices, applied to the baseline
 * and the quantized run alike).  Every bootstrap is seeded (GSL's MT19937), so a number and
 * its interval can be reproduced exactly. */
#ifndef QH_STATS_H
#define QH_STATS_H

#include <stddef.h>

/* Wilson score interval for k successes in n at 95% (exactly 0 and 1 at the ends). */
void qh_wilson(long k, long n, double *lo, double *hi);

/* The fewest resampling units (windows, documents) a bootstrap interval is computed from;
 * below it the interval is NaN (stored as NULL, printed as "no interval").  A percentile
 * bootstrap over a handful of windows gives an interval as narrow as those few happen to be
 * alike (issue 35 found intervals from 4 and 8 windows printed as if usable); ~20 is where it
 * starts to mean what it says.  Stored intervals from fewer are hidden by every reader
 * (QH_SQL_CI in results.h). */
#define QH_MIN_RESAMPLING_UNITS 20

/* Percentile bootstrap (2.5%, 97.5%) of exp(sum a / sum b) over n paired items. */
void qh_bootstrap_ratio_exp(const double *a, const long *b, int n, int n_boot, unsigned long seed, double *lo, double *hi);

/* Paired bootstrap of n_stats statistics of n items: each of n_boot resamples draws n item
 * indices with replacement and evaluates every statistic on the same draw
 * (stat(which, idx, n, ud)); lo[s], hi[s] are the 2.5% and 97.5% percentiles of the finite
 * values of statistic s (NaN when none is finite). */
typedef double (*qh_resample_stat)(int which, const long *idx, long n, void *ud);
void qh_paired_bootstrap(long n, int n_boot, unsigned long seed, int n_stats, qh_resample_stat stat, void *ud, double *lo,
                         double *hi);
/* The same draws for statistic 0 alone, kept: draws (n_boot long) gets its finite values,
 * sorted ascending; returns how many. */
size_t qh_paired_bootstrap_draws(long n, int n_boot, unsigned long seed, qh_resample_stat stat, void *ud, double *draws);

/* From sorted draws of a statistic (bootstrap replicates or posterior draws): the 2.5% and
 * 97.5% percentiles, and the two-sided tail probability of a threshold, 2 min(P(x < t),
 * P(x >= t)) capped at 1 -- the p-value that goes with the percentile interval (the interval
 * excludes t exactly when p <= 0.05, up to the percentiles' interpolation). */
void qh_sorted_percentiles95(const double *sorted, size_t n, double *lo, double *hi);
double qh_sorted_two_sided_p(const double *sorted, size_t n, double threshold);

/* Holm's step-down correction of m tests at family-wise level alpha: reject[i] is set for the
 * tests rejected.  Sorted by p ascending, the k-th (0-based) is rejected while p <= alpha /
 * (m - k); the first that is not stops it, and no later one is rejected. */
void qh_holm(const double *p, int m, double alpha, int *reject);

#endif
