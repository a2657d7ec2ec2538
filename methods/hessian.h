/* hessian.h - inverse-Hessian helpers shared by the calibration-based methods (in gptq.c). */
#ifndef QH_METHODS_HESSIAN_H
#define QH_METHODS_HESSIAN_H

#include "methods/method.h"

/* For a method that needs the full input Hessian: checks calib (named errors), and returns
 * Wt = W^T (cols, rows) and a copy of H, both malloc'd, with every dead input (H_jj = 0, never
 * active in calibration) given H_jj = 1 and its weights zeroed: they cannot matter. */
int qh_hessian_prepare(const char *method, const qh_matrix *w, const qh_calib *calib, float **Wt, double **H,
                       qh_err *err);
/* Upper Cholesky factor U of (H + damp_frac * mean(diag H) I)^-1 = U^T U, floats (n, n). */
int qh_gptq_hinv_factor(const double *H, int n, double damp_frac, float *U, qh_err *err);
/* diag of the damped inverse (n). */
int qh_hinv_diag(const double *H, int n, double damp_frac, double *out, qh_err *err);
/* GPTQ's error feedback on Wt = W^T (cols, rows), a column of W a contiguous row, with U from
 * qh_gptq_hinv_factor and e the scaled error (w - q) / U_ii of column i: */
/* ... immediately to the columns i+1 .. i2-1 of the current block */
void qh_gptq_feedback_block(const float *U, int cols, int rows, int i, int i2, const float *e, float *Wt);
/* ... and once per block [i1, i2) to every later column (the lazy batch: one product) */
void qh_gptq_feedback_rest(const float *U, int cols, int rows, int i1, int i2, const float *err_blk, float *Wt);

/* Block LDLQ (QuIP's name for GPTQ with jointly quantized blocks): the columns of Wt (cols, rows;
 * a column of W a contiguous row) are quantized `b` at a time, left to right, by `quantize`,
 * which reads the b columns c0 .. c0 + b - 1 (b x rows, as updated so far) and writes their
 * quantized values into q (b x rows).  The block's error E = W_B - Q_B goes to the later columns
 * as W_rest -= E U_BB^-1 U_B,rest (U from qh_gptq_hinv_factor), immediately inside each lazy
 * block of `lazy` columns (a multiple of b) and once per lazy block beyond it.  With b = 1 this
 * is GPTQ's loop, operation for operation.  The last block may be shorter when b does not
 * divide cols.  Returns the first non-zero value quantize returns, else 0. */
typedef int (*qh_ldlq_quantize)(void *ctx, int c0, int b, const float *cols_in, float *q);
int qh_ldlq(const float *U, int cols, int rows, int b, int lazy, float *Wt, qh_ldlq_quantize quantize, void *ctx);

#endif
