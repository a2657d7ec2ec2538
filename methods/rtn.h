/* rtn.h - the uniform-grid quantizer of rtn.c, shared with methods that build on it
 * (GPTQ quantizes column by column with the same grid and writes the same packed parts). */
#ifndef QH_METHODS_RTN_H
#define QH_METHODS_RTN_H

#include "methods/method.h"

/* Scale (F16-rounded) and zero point of one group of n weights. */
void qh_rtn_group_params(const float *w, int n, int bits, int asym, float *scale, int *zero);
uint8_t qh_rtn_code(float w, float scale, int zero, int bits, int asym);
int qh_rtn_decode_parts(const qh_packed *in, int bits, int group, int asym, qh_matrix *w, qh_err *err);

#endif
