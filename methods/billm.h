/* billm.h - BiLLM's building blocks (billm.c), exported for the tests. */
#ifndef QH_METHODS_BILLM_H
#define QH_METHODS_BILLM_H

#include <stdint.h>

/* Weight classes inside a block. */
enum { QH_BILLM_SMALL = 0, QH_BILLM_LARGE = 1, QH_BILLM_SALIENT = 2 };

/* Residual binarization of the entries of class `cls` of x (rows, len), per row: `order`
 * stages, each res = x - approx, m = mean res, s = mean |res - m|, approx += m + s sign(res - m)
 * (sign(0) = +1: one bit holds no zero).  approx (rows, len) accumulates.  With `stored`, m and s
 * are F16-rounded and returned in means/scales [r * order + stage] and the signs in
 * signs[r * len + j] (bit `stage` set for a + sign); NULL pointers are skipped.
 * Returns the squared error over the class's entries. */
double qh_billm_binarize(const float *x, const uint8_t *cls, uint8_t c, int rows, int len, int order, int stored,
                         float *approx, float *means, float *scales, uint8_t *signs);
/* The break point of the bell-shaped split: among the 81 quantiles 0.10, 0.11, .., 0.90 of |x|
 * over the entries not SALIENT, the split t minimising the error of binarizing |x| < t and
 * |x| >= t apart (one stage each).  Sets those entries of cls to SMALL or LARGE and returns t. */
float qh_billm_split(const float *x, uint8_t *cls, int rows, int len);

#endif
