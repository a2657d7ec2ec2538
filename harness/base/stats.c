/* stats.c - Wilson intervals and seeded bootstraps; see stats.h. */
#include "harness/base/stats.h"

#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>

#include "harness/base/util.h"

void qh_wilson(long k, long n, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    const double z = 1.959963984540054;
    double p = (double)k / n, z2n = z * z / n;
    double center = (p + z2n / 2) / (1 + z2n);
    double half = z * sqrt(p * (1 - p) / n + z2n / (4.0 * n)) / (1 + z2n);
    *lo = center - half < 0 || k == 0 ? 0 : center - half; /* exact at the ends: rounding must not */
    *hi = center + half > 1 || k == n ? 1 : center + half; /* exclude p = 0 or 1 from its interval */
}

void qh_sorted_percentiles95(const double *sorted, size_t n, double *lo, double *hi)
{
    if (n == 0) {
        *lo = *hi = NAN;
        return;
    }
    *lo = gsl_stats_quantile_from_sorted_data(sorted, 1, n, 0.025);
    *hi = gsl_stats_quantile_from_sorted_data(sorted, 1, n, 0.975);
}

static void percentiles(double *v, size_t n, double *lo, double *hi)
{
    gsl_sort(v, 1, n);
    qh_sorted_percentiles95(v, n, lo, hi);
}

double qh_sorted_two_sided_p(const double *sorted, size_t n, double threshold)
{
    if (n == 0) return 1;
    size_t below = 0; /* the first index at or above the threshold */
    size_t hi = n;
    while (below < hi) {
        size_t mid = below + (hi - below) / 2;
        if (sorted[mid] < threshold) below = mid + 1;
        else hi = mid;
    }
    double p_below = (double)below / (double)n, p_at_or_above = 1 - p_below;
    double p = 2 * (p_below < p_at_or_above ? p_below : p_at_or_above);
    return p < 1 ? p : 1;
}

void qh_holm(const double *p, int m, double alpha, int *reject)
{
    int *order = qh_malloc((size_t)(m > 0 ? m : 1) * sizeof(int));
    for (int i = 0; i < m; i++) order[i] = i, reject[i] = 0;
#define HOLM_KEY(k) (isnan(p[k]) ? INFINITY : p[k]) /* no p, no evidence: last */
    for (int i = 1; i < m; i++) /* insertion sort by p, ties in input order: m is a claim set, small */
        for (int j = i; j > 0 && HOLM_KEY(order[j]) < HOLM_KEY(order[j - 1]); j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int k = 0; k < m; k++) {
        if (!(p[order[k]] <= alpha / (double)(m - k))) break; /* NaN stops it too */
        reject[order[k]] = 1;
    }
#undef HOLM_KEY
    free(order);
}

void qh_bootstrap_ratio_exp(const double *a, const long *b, int n, int n_boot, unsigned long seed, double *lo, double *hi)
{
    if (n < QH_MIN_RESAMPLING_UNITS) { /* one unit resampled is itself: a zero-width "interval" */
        *lo = *hi = NAN;
        return;
    }
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    double *stat = qh_malloc((size_t)n_boot * sizeof *stat);
    for (int r = 0; r < n_boot; r++) {
        double sa = 0, sb = 0;
        for (int i = 0; i < n; i++) {
            unsigned long k = gsl_rng_uniform_int(rng, (unsigned long)n);
            sa += a[k];
            sb += (double)b[k];
        }
        stat[r] = exp(sa / sb);
    }
    percentiles(stat, (size_t)n_boot, lo, hi);
    free(stat);
    gsl_rng_free(rng);
}

void qh_paired_bootstrap(long n, int n_boot, unsigned long seed, int n_stats, qh_resample_stat stat, void *ud, double *lo,
                         double *hi)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    long *idx = qh_malloc((size_t)(n ? n : 1) * sizeof(long));
    double *v = qh_malloc((size_t)n_stats * (n_boot ? n_boot : 1) * sizeof(double));
    size_t *nv = qh_calloc((size_t)n_stats, sizeof(size_t));
    for (int r = 0; r < n_boot; r++) {
        for (long i = 0; i < n; i++) idx[i] = (long)gsl_rng_uniform_int(rng, (unsigned long)n);
        for (int s = 0; s < n_stats; s++) {
            double x = stat(s, idx, n, ud);
            if (isfinite(x)) v[(size_t)s * n_boot + nv[s]++] = x;
        }
    }
    for (int s = 0; s < n_stats; s++) percentiles(v + (size_t)s * n_boot, nv[s], &lo[s], &hi[s]);
    free(nv);
    free(v);
    free(idx);
    gsl_rng_free(rng);
}

size_t qh_paired_bootstrap_draws(long n, int n_boot, unsigned long seed, qh_resample_stat stat, void *ud, double *draws)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    long *idx = qh_malloc((size_t)(n ? n : 1) * sizeof(long));
    size_t kept = 0;
    for (int r = 0; r < n_boot; r++) { /* the draws of qh_paired_bootstrap's statistic 0, in its order */
        for (long i = 0; i < n; i++) idx[i] = (long)gsl_rng_uniform_int(rng, (unsigned long)n);
        double x = stat(0, idx, n, ud);
        if (isfinite(x)) draws[kept++] = x;
    }
    gsl_sort(draws, 1, kept);
    free(idx);
    gsl_rng_free(rng);
    return kept;
}
