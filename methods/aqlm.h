/* aqlm.h - AQLM's fit (aqlm.c), for its tests: W (rows, cols) and H (cols, cols, damped) to M
 * codebooks cb (M, 2^B, 8), row scales and codes (rows, ceil(cols / 8), M); obj, when not NULL,
 * gets the objective tr((W - W^) H (W - W^)^T) after the initialization and after each step of
 * each round (1 + 3 iters values); returns how many it wrote. */
#ifndef QH_METHODS_AQLM_H
#define QH_METHODS_AQLM_H

#include <stdint.h>

int qh_aqlm_fit(const float *W, const float *H, int rows, int cols, int M, int B, int iters, int kmeans_iters, unsigned long seed, float *cb,
                float *scales, uint16_t *codes, double *obj);

#endif
