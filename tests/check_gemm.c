/* check_gemm.c - the batch-invariant matrix product (harness/base/gemm.c): correct against a
 * double-precision reference, and the same bits for a row wherever it sits. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "harness/base/gemm.h"
#include "tests/testutil.h"

static void fill(float *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = ((seed >> 9) & 0xffff) / 32768.0f - 1.0f;
    }
}

/* element (i, j) of B, for either layout */
static float b_at(const float *b, size_t ldb, int trans, int k, int j)
{
    return trans ? b[(size_t)j * ldb + k] : b[(size_t)k * ldb + j];
}

/* Shapes that exercise short row blocks, short column panels and both layouts. */
START_TEST(gemm_matches_a_double_reference)
{
    int shapes[][3] = {{1, 1, 1}, {7, 33, 5}, {13, 17, 31}, {64, 256, 96}, {129, 40, 1000}, {3, 172, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int trans = 0; trans < 2; trans++) {
            int N = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
            size_t lda = (size_t)K + 3, ldb = trans ? (size_t)K + 1 : (size_t)M + 2, ldo = (size_t)M + 5;
            float *a = malloc((size_t)N * lda * sizeof(float));
            float *b = malloc((trans ? (size_t)M : (size_t)K) * ldb * sizeof(float));
            float *bias = malloc((size_t)M * sizeof(float)), *out = malloc((size_t)N * ldo * sizeof(float));
            fill(a, (size_t)N * lda, 1 + (unsigned)s);
            fill(b, (trans ? (size_t)M : (size_t)K) * ldb, 7 + (unsigned)s);
            fill(bias, (size_t)M, 11);
            for (size_t i = 0; i < (size_t)N * ldo; i++) out[i] = 12345.0f; /* the stride gaps must stay */
            qh_gemm(out, ldo, a, lda, N, K, b, ldb, trans, M, 0.5f, bias);
            for (int i = 0; i < N; i++) {
                for (int j = 0; j < M; j++) {
                    double ref = 0;
                    for (int k = 0; k < K; k++) ref += (double)a[(size_t)i * lda + k] * b_at(b, ldb, trans, k, j);
                    ref = 0.5 * ref + bias[j];
                    ck_assert_msg(fabs(out[(size_t)i * ldo + j] - ref) <= 1e-5 * (K + 1),
                                  "N%d K%d M%d trans %d (%d,%d): %g vs %g", N, K, M, trans, i, j,
                                  out[(size_t)i * ldo + j], ref);
                }
                for (size_t j = (size_t)M; j < ldo; j++) ck_assert_float_eq(out[(size_t)i * ldo + j], 12345.0f);
            }
            free(a);
            free(b);
            free(bias);
            free(out);
        }
}
END_TEST

/* A row alone, or at any offset of a larger product, with 1 thread or all of them:
 * the same bits (memcmp, not a tolerance). */
START_TEST(gemm_row_is_the_same_bits_anywhere)
{
    int K = 256, M = 1000, N = 77;
    float *a = malloc((size_t)N * K * sizeof(float)), *b = malloc((size_t)M * K * sizeof(float));
    float *all = malloc((size_t)N * M * sizeof(float)), *one = malloc((size_t)M * sizeof(float));
    float *all1 = malloc((size_t)N * M * sizeof(float));
    fill(a, (size_t)N * K, 3);
    fill(b, (size_t)M * K, 5);
    for (int r = 0; r < N; r++) memcpy(a + (size_t)r * K, a + (size_t)(r % 5) * K, (size_t)K * sizeof(float));
    qh_gemm(all, (size_t)M, a, (size_t)K, N, K, b, (size_t)K, 1, M, 1.0f, NULL);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    qh_gemm(all1, (size_t)M, a, (size_t)K, N, K, b, (size_t)K, 1, M, 1.0f, NULL);
    omp_set_num_threads(threads);
    ck_assert_int_eq(memcmp(all, all1, (size_t)N * M * sizeof(float)), 0);
    for (int r = 0; r < N; r++) {
        ck_assert_int_eq(memcmp(all + (size_t)r * M, all + (size_t)(r % 5) * M, (size_t)M * sizeof(float)), 0);
        qh_gemm(one, (size_t)M, a + (size_t)r * K, (size_t)K, 1, K, b, (size_t)K, 1, M, 1.0f, NULL);
        ck_assert_int_eq(memcmp(one, all + (size_t)r * M, (size_t)M * sizeof(float)), 0);
    }
    /* a column is the same bits in a product over a column subset */
    qh_gemm(one, 1, a, (size_t)K, 1, K, b + (size_t)999 * K, (size_t)K, 1, 1, 1.0f, NULL);
    ck_assert_int_eq(memcmp(one, all + 999, sizeof(float)), 0);
    free(a);
    free(b);
    free(all);
    free(all1);
    free(one);
}
END_TEST

Suite *suite_gemm(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_add_test(tc, gemm_matches_a_double_reference);
    tcase_add_test(tc, gemm_row_is_the_same_bits_anywhere);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
