/* levels.c - see levels.h. */
#include "methods/levels.h"

#include <math.h>
#include <stdlib.h>

static float max_level(const float levels[16])
{
    float m = 0;
    for (int i = 0; i < 16; i++) m = fabsf(levels[i]) > m ? fabsf(levels[i]) : m;
    return m;
}

uint8_t qh_levels_nearest(const float levels[16], float x)
{
    int best = 0;
    float bd = INFINITY;
    for (int i = 0; i < 16; i++) {
        float d = fabsf(levels[i] - x);
        if (d < bd) {
            bd = d;
            best = i;
        }
    }
    return (uint8_t)best;
}

int qh_levels_encode(const float levels[16], int block, const qh_matrix *w, qh_packed *out)
{
    int G = qh_group_size(block, w->cols), ng = qh_groups_per_row(G, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    float lmax = max_level(levels);
    uint8_t *codes = qh_malloc(n);
    uint16_t *scales = qh_packed_add(out, "scales", QH_DT_F16, w->rows, ng);
    for (int r = 0; r < w->rows; r++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * G, len = c0 + G <= w->cols ? G : w->cols - c0;
            const float *src = w->data + (size_t)r * w->cols + c0;
            float amax = 0;
            for (int i = 0; i < len; i++) amax = fabsf(src[i]) > amax ? fabsf(src[i]) : amax;
            float s = qh_f16_round(amax / lmax);
            scales[(size_t)r * ng + g] = qh_f32_to_f16(s);
            for (int i = 0; i < len; i++) codes[(size_t)r * w->cols + c0 + i] = qh_levels_nearest(levels, s > 0 ? src[i] / s : 0);
        }
    qh_bits_pack(qh_packed_add(out, "codes", QH_DT_U8, (int64_t)qh_bits_bytes(n, 4), 0), codes, n, 4);
    free(codes);
    return 0;
}

int qh_levels_decode(const float levels[16], int block, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int G = qh_group_size(block, w->cols), ng = qh_groups_per_row(G, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    const qh_part *pc, *ps;
    if (qh_packed_expect(in, "codes", QH_DT_U8, qh_bits_bytes(n, 4), &pc, err) ||
        qh_packed_expect(in, "scales", QH_DT_F16, (size_t)w->rows * ng, &ps, err))
        return -1;
    uint8_t *codes = qh_malloc(n);
    qh_bits_unpack(codes, pc->data, n, 4);
    const uint16_t *scales = ps->data;
#pragma omp parallel for
    for (int r = 0; r < w->rows; r++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * G, len = c0 + G <= w->cols ? G : w->cols - c0;
            float s = qh_f16_to_f32(scales[(size_t)r * ng + g]);
            const uint8_t *cd = codes + (size_t)r * w->cols + c0;
            float *dst = w->data + (size_t)r * w->cols + c0;
            for (int i = 0; i < len; i++) dst[i] = levels[cd[i]] * s;
        }
    free(codes);
    return 0;
}
