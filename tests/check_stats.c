/* check_stats.c - the intervals of stats.h: Wilson against published values, the ratio
 * bootstrap's properties, and the paired bootstrap's pairing. */
#include <math.h>

#include "harness/base/stats.h"
#include "tests/testutil.h"

START_TEST(wilson_matches_published_values)
{
    /* Wilson (1927) 95% intervals as tabulated by Newcombe (1998), Table I, method 3:
     * 81/263 -> 0.2553-0.3662; 15/148 -> 0.0624-0.1605; 0/20 -> 0-0.1611; 1/29 -> 0.0061-0.1718 */
    const struct {
        long k, n;
        double lo, hi;
    } cases[] = {{81, 263, 0.2553, 0.3662}, {15, 148, 0.0624, 0.1605}, {0, 20, 0.0, 0.1611}, {1, 29, 0.0061, 0.1718}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double lo, hi;
        qh_wilson(cases[i].k, cases[i].n, &lo, &hi);
        ck_assert_msg(fabs(lo - cases[i].lo) < 6e-5 && fabs(hi - cases[i].hi) < 6e-5, "%ld/%ld: [%.4f, %.4f], published [%.4f, %.4f]",
                      cases[i].k, cases[i].n, lo, hi, cases[i].lo, cases[i].hi);
    }
    double lo, hi;
    qh_wilson(20, 20, &lo, &hi); /* the ends are exact */
    ck_assert_double_eq(hi, 1.0);
    qh_wilson(0, 0, &lo, &hi);
    ck_assert(lo == 0 && hi == 1);
}
END_TEST

START_TEST(bootstrap_properties)
{
    double a[50];
    long b[50];
    for (int i = 0; i < 50; i++) {
        a[i] = 100.0 + (i * 37 % 50) * 1.37;
        b[i] = 20;
    }
    double lo1, hi1, lo2, hi2, lo3, hi3;
    qh_bootstrap_ratio_exp(a, b, 50, 2000, 42, &lo1, &hi1);
    qh_bootstrap_ratio_exp(a, b, 50, 2000, 42, &lo2, &hi2);
    qh_bootstrap_ratio_exp(a, b, 50, 2000, 43, &lo3, &hi3);
    ck_assert_double_eq(lo1, lo2); /* seeded: reproducible */
    ck_assert_double_eq(hi1, hi2);
    ck_assert(lo1 != lo3 || hi1 != hi3);
    double point = 0, tot = 0;
    for (int i = 0; i < 50; i++) point += a[i], tot += b[i];
    point = exp(point / tot);
    ck_assert(lo1 < point && point < hi1);
    /* window means spread over 5..8.4 nats/token: a clearly non-degenerate interval */
    ck_assert(hi1 / lo1 > 1.05 && hi1 / lo1 < 2.0);
    /* identical windows: the interval collapses onto the point */
    for (int i = 0; i < 50; i++) a[i] = 100.0;
    qh_bootstrap_ratio_exp(a, b, 50, 500, 1, &lo1, &hi1);
    ck_assert_double_eq_tol(lo1, exp(5.0), 1e-9);
    ck_assert_double_eq_tol(hi1, exp(5.0), 1e-9);
}
END_TEST

typedef struct {
    const double *x, *y;
} pair_data;

/* 0: mean(y) / mean(x) over the drawn items; 1: mean(y) alone */
static double pair_stat(int which, const long *idx, long n, void *ud)
{
    const pair_data *d = ud;
    double sx = 0, sy = 0;
    for (long i = 0; i < n; i++) sx += d->x[idx[i]], sy += d->y[idx[i]];
    return which == 0 ? sy / sx : sy / n;
}

START_TEST(paired_bootstrap_pairs_the_draws)
{
    enum { N = 200 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (i * 7919 % 97) / 97.0 + 0.5; /* spread items */
        y[i] = x[i];
    }
    pair_data d = {x, y};
    double lo[2], hi[2];
    /* the same items for both sides: a ratio of identical samples is exactly 1 in every resample,
     * while the mean alone still varies */
    qh_paired_bootstrap(N, 1000, 7, 2, pair_stat, &d, lo, hi);
    ck_assert_double_eq(lo[0], 1.0);
    ck_assert_double_eq(hi[0], 1.0);
    ck_assert(hi[1] - lo[1] > 0.02);
    double lo2[2], hi2[2];
    qh_paired_bootstrap(N, 1000, 7, 2, pair_stat, &d, lo2, hi2);
    ck_assert(lo2[1] == lo[1] && hi2[1] == hi[1]); /* seeded */
    /* y = 0.9 x item by item: every resample gives 0.9 (up to rounding) */
    for (int i = 0; i < N; i++) y[i] = 0.9 * x[i];
    qh_paired_bootstrap(N, 500, 7, 1, pair_stat, &d, lo, hi);
    ck_assert_double_eq_tol(lo[0], 0.9, 1e-12);
    ck_assert_double_eq_tol(hi[0], 0.9, 1e-12);
}
END_TEST

/* Holm's step-down procedure against a worked example, and the p-value of sorted draws */
START_TEST(holm_and_tail_probabilities)
{
    /* m = 4 at 0.05: sorted 0.005 <= 0.0125, 0.01 <= 0.0167, 0.03 > 0.025 stops (0.04 is not reached) */
    double p[4] = {0.01, 0.04, 0.03, 0.005};
    int reject[4];
    qh_holm(p, 4, 0.05, reject);
    ck_assert(reject[0] && !reject[1] && !reject[2] && reject[3]);
    /* every p small enough: all rejected; Bonferroni alone (0.0125) would keep 0.02 and 0.04 */
    double p2[3] = {0.04, 0.001, 0.02};
    qh_holm(p2, 3, 0.05, reject);
    ck_assert(reject[0] && reject[1] && reject[2]);
    /* a NaN p is no evidence: it stops the procedure */
    double p3[2] = {NAN, 0.001};
    qh_holm(p3, 2, 0.05, reject);
    ck_assert(!reject[0] && reject[1]);
    qh_holm(p3, 0, 0.05, reject); /* an empty family */
    /* draws 0.00, 0.01, ..., 0.99: 5 below 0.05 -> two-sided p 0.10; at the median -> 1 */
    double draws[100];
    for (int i = 0; i < 100; i++) draws[i] = i / 100.0;
    ck_assert_double_eq_tol(qh_sorted_two_sided_p(draws, 100, 0.05), 0.10, 1e-12);
    ck_assert_double_eq_tol(qh_sorted_two_sided_p(draws, 100, 0.5), 1.0, 1e-12);
    ck_assert_double_eq_tol(qh_sorted_two_sided_p(draws, 100, 2.0), 0.0, 1e-12);
    double lo, hi;
    qh_sorted_percentiles95(draws, 100, &lo, &hi);
    ck_assert(lo > 0.02 && lo < 0.03 && hi > 0.96 && hi < 0.97);
}
END_TEST

Suite *suite_stats(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("intervals");
    tcase_add_test(tc, wilson_matches_published_values);
    tcase_add_test(tc, bootstrap_properties);
    tcase_add_test(tc, paired_bootstrap_pairs_the_draws);
    tcase_add_test(tc, holm_and_tail_probabilities);
    suite_add_tcase(s, tc);
    return s;
}
