/* binary.h - sign binarization shared by binary, residual-binary and magnitude-recovery:
 * one bit per weight (1 = non-negative), packed LSB-first. */
#ifndef QH_METHODS_BINARY_H
#define QH_METHODS_BINARY_H

#include "methods/method.h"

void qh_signs_pack(uint8_t *out, const float *w, size_t n);
static inline float qh_sign_at(const uint8_t *bits, size_t i) { return (bits[i >> 3] >> (i & 7)) & 1 ? 1.0f : -1.0f; }

/* One residual-binarization stage over r (rows, cols): per group alpha = mean |r|;
 * writes signs (packed) and alpha (F16-rounded, as float) and subtracts alpha * sign from r. */
void qh_binarize_stage(float *r, int rows, int cols, int group, uint8_t *signs, uint16_t *alphas);

/* w (rows, cols) += alpha_g * sign, for one stage (signs packed, alphas F16 (rows, groups)). */
void qh_binary_accumulate(float *w, int rows, int cols, int group, const uint8_t *signs, const uint16_t *alphas);

#endif
