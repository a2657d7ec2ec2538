/* levels.h - 4-bit codebook quantization with per-block absmax scales, shared by nf4 and fp4:
 * w ~ scale * level[code], scale = absmax(block) / max|level|, codes packed 2 per byte,
 * scales F16 (rows, blocks per row).  Blocks run along rows. */
#ifndef QH_METHODS_LEVELS_H
#define QH_METHODS_LEVELS_H

#include "methods/method.h"

/* The index of the level nearest x, the first of equals. */
uint8_t qh_levels_nearest(const float levels[16], float x);
int qh_levels_encode(const float levels[16], int block, const qh_matrix *w, qh_packed *out);
int qh_levels_decode(const float levels[16], int block, const qh_packed *in, qh_matrix *w, qh_err *err);

#endif
