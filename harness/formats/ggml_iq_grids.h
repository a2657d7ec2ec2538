/* ggml_iq_grids.h - llama.cpp's i-quant codebooks (data; see ggml_iq_grids.c for the source).
 * qh_iq_grids_init expands the compact tables; ggml_types.c calls it once before use. */
#ifndef QH_GGML_IQ_GRIDS_H
#define QH_GGML_IQ_GRIDS_H

#include <stdint.h>

extern uint8_t qh_iq2xxs_grid[256][8], qh_iq2xs_grid[512][8], qh_iq2s_grid[1024][8];
extern int8_t qh_iq1s_grid[2048][8];
extern uint8_t qh_ksigns_iq2xs[128];
extern const uint32_t qh_iq3xxs_grid[256], qh_iq3s_grid[512];

void qh_iq_grids_init(void);

#endif
