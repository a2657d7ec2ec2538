/* hessian.h - inverse-Hessian helpers shared by the calibration-based methods (gptq.c). */
#ifndef QH_METHODS_HESSIAN_H
#define QH_METHODS_HESSIAN_H

#include "method.h"

/* Upper Cholesky factor U of (H + damp_frac * mean(diag H) I)^-1 = U^T U, floats (n, n). */
int qh_gptq_hinv_factor(const double *H, int n, double damp_frac, float *U, qh_err *err);
/* diag of the damped inverse (n). */
int qh_hinv_diag(const double *H, int n, double damp_frac, double *out, qh_err *err);

#endif
