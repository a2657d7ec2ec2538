/* gemm.h - the matrix products of the forward pass, batch-invariant by construction.
 *
 * Why not cblas_sgemm: OpenBLAS computes an output row with different instruction
 * sequences depending on where the row falls in its tiling and thread partition, so the
 * same sequence scored in two batch slots (or in batches of two sizes, or with another
 * thread count or OPENBLAS_CORETYPE) gets log-likelihoods that differ in the last bits, and
 * exact ties between identical choices are broken by position.  Here every output element
 * is ONE chain of fused multiply-adds over k = 0..K-1 starting from 0, then * alpha + bias,
 * computed by one micro-kernel for every tile (edge tiles on zero-padded copies).  The
 * result of an element therefore depends only on its row of A, its column of B, K, alpha
 * and the bias: not on the batch, the tiling, the thread count or the vector width (AVX-512,
 * AVX2+FMA and the portable kernel give the same bits wherever the machine has FMA). */
#ifndef QH_GEMM_H
#define QH_GEMM_H

#include <stddef.h>

/* out (N, M) at stride ldo = alpha * a (N, K) @ B + bias (M, may be NULL), where
 *   b_trans == 0: B is b (K, M) row-major at stride ldb (GPT-2 Conv1D weights, V of attention)
 *   b_trans == 1: B is b^T, b being (M, K) row-major at stride ldb (the tied head, K of attention).
 * Runs on the OpenMP threads when called outside a parallel region, serially inside one. */
void qh_gemm(float *out, size_t ldo, const float *a, size_t lda, int N, int K, const float *b, size_t ldb,
             int b_trans, int M, float alpha, const float *bias);

/* The micro-kernel's name and tile ("avx512 8x32", "avx2 6x16", "portable 4x16"), for bench. */
const char *qh_gemm_kernel(void);

/* out (cols, rows) = in (rows, cols) transposed, row-major both. */
void qh_transpose(const float *in, int rows, int cols, float *out);

#endif
