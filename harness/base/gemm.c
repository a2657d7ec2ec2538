/* gemm.c - batch-invariant matrix products; see gemm.h for why and what is promised.
 *
 * Blocking: the columns of B are cut into panels of NR, each packed (zero-padded past M)
 * into a K x NR scratch; the rows of A into blocks of MR, read in place when a block is
 * whole and from a zero-padded copy when it is the last, short one.  One micro-kernel
 * computes every MR x NR tile into a local buffer, whose valid part is then copied out, so
 * that the arithmetic never depends on where a tile lies.  Work units are (panel, chunk of
 * RC rows), handed to threads dynamically: any assignment gives the same bits. */
/* The kernel must keep its accumulators in registers even in the -O1 sanitizer build; the
 * arithmetic is the same at every level. */
#pragma GCC optimize("O3")
#include "harness/base/gemm.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define MR 8
#define NR 32
#define KERNEL_NAME "avx512 8x32"
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MR 6
#define NR 16
#define KERNEL_NAME "avx2+fma 6x16"
#else
#define MR 4
#define NR 16
#define KERNEL_NAME "portable 4x16"
#endif
#define RC (16 * MR) /* rows per work unit */

/* Where the machine has a fused multiply-add every kernel uses it, so that they agree bit
 * for bit; without one (no __FP_FAST_FMAF) the portable kernel multiplies and adds. */
#ifdef __FP_FAST_FMAF
#define FMA_SCALAR(a, b, c) fmaf((a), (b), (c))
#else
#define FMA_SCALAR(a, b, c) ((a) * (b) + (c))
#endif

/* c (MR, NR) = a (MR rows at stride lda, K) @ bp (K, NR) accumulated in k order from 0.
 * Not instrumented by the sanitizers (a shadow check per load made the sanitizer build 20
 * times slower): it reads MR whole rows of a and a packed panel, both sized by qh_gemm, and
 * writes one local tile; the driver around it, which does the indexing, is instrumented. */
__attribute__((no_sanitize("address", "undefined"))) static void micro_kernel(int K, const float *a, size_t lda, const float *bp, float *c)
{
#if defined(__AVX512F__)
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 b0 = _mm512_load_ps(bp + (size_t)k * NR), b1 = _mm512_load_ps(bp + (size_t)k * NR + 16);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(a[i * lda + k]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < MR; i++) {
        _mm512_store_ps(c + i * NR, acc[i][0]);
        _mm512_store_ps(c + i * NR + 16, acc[i][1]);
    }
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 b0 = _mm256_load_ps(bp + (size_t)k * NR), b1 = _mm256_load_ps(bp + (size_t)k * NR + 8);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_set1_ps(a[i * lda + k]);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < MR; i++) {
        _mm256_store_ps(c + i * NR, acc[i][0]);
        _mm256_store_ps(c + i * NR + 8, acc[i][1]);
    }
#else
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < MR; i++) {
            float ai = a[i * lda + k];
            for (int j = 0; j < NR; j++) acc[i][j] = FMA_SCALAR(ai, bp[(size_t)k * NR + j], acc[i][j]);
        }
    memcpy(c, acc, sizeof acc);
#endif
}

/* bp (K, NR) = columns j0 .. j0+NR of B, zero past M */
static void pack_panel(float *bp, const float *b, size_t ldb, int b_trans, int K, int M, int j0)
{
    int cols = M - j0 < NR ? M - j0 : NR;
    if (!b_trans) {
        for (int k = 0; k < K; k++) {
            const float *src = b + (size_t)k * ldb + j0;
            float *dst = bp + (size_t)k * NR;
            memcpy(dst, src, (size_t)cols * sizeof(float));
            for (int j = cols; j < NR; j++) dst[j] = 0.0f;
        }
        return;
    }
    for (int j = 0; j < NR; j++) {
        if (j >= cols) {
            for (int k = 0; k < K; k++) bp[(size_t)k * NR + j] = 0.0f;
            continue;
        }
        const float *src = b + (size_t)(j0 + j) * ldb;
        for (int k = 0; k < K; k++) bp[(size_t)k * NR + j] = src[k];
    }
}

const char *qh_gemm_kernel(void)
{
    return KERNEL_NAME;
}

void qh_gemm(float *out, size_t ldo, const float *a, size_t lda, int N, int K, const float *b, size_t ldb,
             int b_trans, int M, float alpha, const float *bias)
{
    if (N <= 0 || M <= 0) return;
    long panels = (M + NR - 1) / NR, chunks = (N + RC - 1) / RC, units = panels * chunks;
    int parallel = !omp_in_parallel() && units > 1 && (double)N * M * K > 2e5;
    size_t kk = K > 0 ? (size_t)K : 1;
#pragma omp parallel if (parallel)
    {
        /* 64-byte aligned scratch: the packed panel, a padded row block, one tile */
        float *bp = aligned_alloc(64, (kk * NR * sizeof(float) + 63) / 64 * 64);
        float *ap = aligned_alloc(64, (kk * MR * sizeof(float) + 63) / 64 * 64);
        float *tile = aligned_alloc(64, MR * NR * sizeof(float));
        float bias_p[NR];
#pragma omp for schedule(dynamic)
        for (long u = 0; u < units; u++) {
            int j0 = (int)(u / chunks) * NR, r_begin = (int)(u % chunks) * RC;
            int r_end = r_begin + RC < N ? r_begin + RC : N, cols = M - j0 < NR ? M - j0 : NR;
            if (K > 0) pack_panel(bp, b, ldb, b_trans, K, M, j0);
            for (int j = 0; j < NR; j++) bias_p[j] = bias && j < cols ? bias[j0 + j] : 0.0f;
            for (int r0 = r_begin; r0 < r_end; r0 += MR) {
                int rows = r_end - r0 < MR ? r_end - r0 : MR;
                const float *ablk = a + (size_t)r0 * lda;
                size_t la = lda;
                if (rows < MR) { /* the short last block: a zero-padded copy, same kernel */
                    memset(ap, 0, (size_t)MR * kk * sizeof(float));
                    for (int i = 0; i < rows; i++) memcpy(ap + (size_t)i * kk, ablk + (size_t)i * lda, (size_t)K * sizeof(float));
                    ablk = ap;
                    la = kk;
                }
                if (K > 0) micro_kernel(K, ablk, la, bp, tile);
                else memset(tile, 0, MR * NR * sizeof(float));
                for (int i = 0; i < rows; i++) {
                    float *o = out + (size_t)(r0 + i) * ldo + j0;
                    const float *t = tile + i * NR;
                    for (int j = 0; j < cols; j++) o[j] = fmaf(t[j], alpha, bias_p[j]);
                }
            }
        }
        free(bp);
        free(ap);
        free(tile);
    }
}

void qh_transpose(const float *in, int rows, int cols, float *out)
{
#pragma omp parallel for
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) out[(size_t)c * rows + r] = in[(size_t)r * cols + c];
}
