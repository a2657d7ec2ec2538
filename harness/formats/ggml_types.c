/* ggml_types.c - the ggml type table and its dequantizers; see ggml_types.h.
 *
 * Each dequantizer turns one block into floats with the operations of llama.cpp's
 * dequantize_row_* in the same order.  Contraction into fused multiply-adds is switched off
 * for this file: `d * q - m` must round twice, as in ggml and gguf-py, or the last bit differs. */
#pragma GCC optimize("fp-contract=off")
#include "harness/formats/ggml_types.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "harness/formats/ggml_iq_grids.h"
#include "harness/base/dtype.h"

#define QK_K 256

static inline float f16_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return qh_f16_to_f32(h);
}

static inline uint16_t u16_at(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t u32_at(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---- plain floats ------------------------------------------------------------------------ */

static void dq_f32(const uint8_t *b, float *y) { memcpy(y, b, 4); }
static void dq_f16(const uint8_t *b, float *y) { y[0] = f16_at(b); }
static void dq_bf16(const uint8_t *b, float *y) { y[0] = qh_bf16_to_f32(u16_at(b)); }

/* the writers, as ggml's quantize_row_*_ref: the same roundings, so the same bytes */
static void q_f32(const float *x, uint8_t *b) { memcpy(b, x, 4); }
static void q_f16(const float *x, uint8_t *b)
{
    uint16_t h = qh_f32_to_f16(x[0]);
    memcpy(b, &h, 2);
}
static void q_bf16(const float *x, uint8_t *b)
{
    uint16_t h = qh_f32_to_bf16(x[0]);
    memcpy(b, &h, 2);
}

/* Q8_0: d = max|x| / 127, q = round(x / d) */
static void q_q8_0(const float *x, uint8_t *b)
{
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    uint16_t h = qh_f32_to_f16(d);
    memcpy(b, &h, 2);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

/* Q4_0: d = (the element of largest magnitude) / -8, q = min(15, trunc(x / d + 8.5)) */
static void q_q4_0(const float *x, uint8_t *b)
{
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    float d = max / -8, id = d ? 1.0f / d : 0.0f;
    uint16_t h = qh_f32_to_f16(d);
    memcpy(b, &h, 2);
    for (int j = 0; j < 16; j++) {
        int8_t x0 = (int8_t)(x[j] * id + 8.5f), x1 = (int8_t)(x[16 + j] * id + 8.5f);
        uint8_t q0 = (uint8_t)(x0 < 15 ? x0 : 15), q1 = (uint8_t)(x1 < 15 ? x1 : 15);
        b[2 + j] = (uint8_t)(q0 | q1 << 4);
    }
}

/* ---- 32-element blocks ------------------------------------------------------------------- */

/* Q8_0: d (f16), qs[32] (i8): y = q * d */
static void dq_q8_0(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    for (int j = 0; j < 32; j++) y[j] = (int8_t)b[2 + j] * d;
}

/* Q4_0: d, qs[16]: low nibbles are elements 0..15, high 16..31; y = (q - 8) * d */
static void dq_q4_0(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = ((qs[j] & 0x0F) - 8) * d;
        y[j + 16] = ((qs[j] >> 4) - 8) * d;
    }
}

/* Q4_1: d, m, qs[16]: y = q * d + m */
static void dq_q4_1(const uint8_t *b, float *y)
{
    float d = f16_at(b), m = f16_at(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (qs[j] & 0x0F) * d + m;
        y[j + 16] = (qs[j] >> 4) * d + m;
    }
}

/* Q5_0: d, qh (32 fifth bits), qs[16]: y = (q - 16) * d */
static void dq_q5_0(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    uint32_t qh = u32_at(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int x0 = (qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10);
        int x1 = (qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
        y[j] = (x0 - 16) * d;
        y[j + 16] = (x1 - 16) * d;
    }
}

/* Q5_1: d, m, qh, qs[16]: y = q * d + m */
static void dq_q5_1(const uint8_t *b, float *y)
{
    float d = f16_at(b), m = f16_at(b + 2);
    uint32_t qh = u32_at(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int x0 = (qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10);
        int x1 = (qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
        y[j] = x0 * d + m;
        y[j + 16] = x1 * d + m;
    }
}

static const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* IQ4_NL: d, qs[16]: y = d * kvalues[q] (a non-uniform 4-bit grid) */
static void dq_iq4_nl(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * kvalues_iq4nl[qs[j] & 0xf];
        y[j + 16] = d * kvalues_iq4nl[qs[j] >> 4];
    }
}

/* ---- 256-element super-blocks: k-quants -------------------------------------------------- */

/* Q2_K: scales[16] (4-bit scale | 4-bit min), qs[64], d, dmin */
static void dq_q2_k(const uint8_t *b, float *y)
{
    const uint8_t *scales = b, *q = b + 16;
    float d = f16_at(b + 80), dmin = f16_at(b + 82);
    int is = 0;
    for (int n = 0; n < QK_K; n += 128) {
        int shift = 0;
        for (int j = 0; j < 4; j++) {
            uint8_t sc = scales[is++];
            float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            for (int l = 0; l < 16; l++) *y++ = dl * ((int8_t)((q[l] >> shift) & 3)) - ml;
            sc = scales[is++];
            dl = d * (sc & 0xF);
            ml = dmin * (sc >> 4);
            for (int l = 0; l < 16; l++) *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3)) - ml;
            shift += 2;
        }
        q += 32;
    }
}

/* Q3_K: hmask[32], qs[64], scales[12] (16 six-bit scales), d */
static void dq_q3_k(const uint8_t *b, float *y)
{
    const uint8_t *hm = b, *q = b + 32;
    float d_all = f16_at(b + 108);
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    uint32_t aux[4];
    memcpy(aux, b + 96, 12);
    uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    int8_t scales[16];
    memcpy(scales, aux, 16);
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < QK_K; n += 128) {
        int shift = 0;
        for (int j = 0; j < 4; j++) {
            float dl = d_all * (scales[is++] - 32);
            for (int l = 0; l < 16; l++) *y++ = dl * ((int8_t)((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            dl = d_all * (scales[is++] - 32);
            for (int l = 0; l < 16; l++) *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
            shift += 2;
            m <<= 1;
        }
        q += 32;
    }
}

/* the 6-bit scale and min of sub-block j from Q4_K/Q5_K's 12 packed bytes */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

/* the scales and mins of sub-blocks is and is + 1, times the super-block's d and dmin */
static void scales_k4_pair(int is, const uint8_t *scales, float d, float min, float *d1, float *m1, float *d2, float *m2)
{
    uint8_t sc, m;
    scale_min_k4(is + 0, scales, &sc, &m);
    *d1 = d * sc;
    *m1 = min * m;
    scale_min_k4(is + 1, scales, &sc, &m);
    *d2 = d * sc;
    *m2 = min * m;
}

/* Q4_K: d, dmin, scales[12], qs[128] */
static void dq_q4_k(const uint8_t *b, float *y)
{
    float d = f16_at(b), min = f16_at(b + 2);
    const uint8_t *scales = b + 4, *q = b + 16;
    int is = 0;
    for (int j = 0; j < QK_K; j += 64) {
        float d1, m1, d2, m2;
        scales_k4_pair(is, scales, d, min, &d1, &m1, &d2, &m2);
        for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
        for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        q += 32;
        is += 2;
    }
}

/* Q5_K: d, dmin, scales[12], qh[32], qs[128] */
static void dq_q5_k(const uint8_t *b, float *y)
{
    float d = f16_at(b), min = f16_at(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    int is = 0;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < QK_K; j += 64) {
        float d1, m1, d2, m2;
        scales_k4_pair(is, scales, d, min, &d1, &m1, &d2, &m2);
        for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        ql += 32;
        is += 2;
        u1 <<= 2;
        u2 <<= 2;
    }
}

/* Q6_K: ql[128], qh[64], scales[16] (i8), d */
static void dq_q6_k(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = f16_at(b + 208);
    for (int n = 0; n < QK_K; n += 128) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l + 0] = d * sc[is + 0] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

/* IQ4_XS: d, scales_h (u16), scales_l[4], qs[128]: 6-bit sub-block scales on the IQ4_NL grid */
static void dq_iq4_xs(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    uint16_t scales_h = u16_at(b + 2);
    const uint8_t *scales_l = b + 4, *qs = b + 8;
    for (int ib = 0; ib < QK_K / 32; ib++) {
        int ls = ((scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((scales_h >> 2 * ib) & 3) << 4);
        float dl = d * (ls - 32);
        for (int j = 0; j < 16; j++) {
            y[j + 0] = dl * kvalues_iq4nl[qs[j] & 0xf];
            y[j + 16] = dl * kvalues_iq4nl[qs[j] >> 4];
        }
        y += 32;
        qs += 16;
    }
}

/* ---- ternary ----------------------------------------------------------------------------- */

/* TQ1_0: qs[48] (five trits per byte, as a fixed-point fraction of 3^5), qh[4] (four), d */
static void dq_tq1_0(const uint8_t *b, float *y)
{
    static const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};
    const uint8_t *qs = b, *qh = b + 48;
    float d = f16_at(b + 52);
    for (int j = 0; j < 32; j += 32)
        for (int n = 0; n < 5; n++)
            for (int m = 0; m < 32; m++) {
                uint8_t q = (uint8_t)(qs[j + m] * pow3[n]);
                int16_t xi = (int16_t)(((uint16_t)q * 3) >> 8);
                *y++ = (float)(xi - 1) * d;
            }
    for (int j = 32; j < 48; j += 16)
        for (int n = 0; n < 5; n++)
            for (int m = 0; m < 16; m++) {
                uint8_t q = (uint8_t)(qs[j + m] * pow3[n]);
                int16_t xi = (int16_t)(((uint16_t)q * 3) >> 8);
                *y++ = (float)(xi - 1) * d;
            }
    for (int n = 0; n < 4; n++)
        for (int j = 0; j < 4; j++) {
            uint8_t q = (uint8_t)(qh[j] * pow3[n]);
            int16_t xi = (int16_t)(((uint16_t)q * 3) >> 8);
            *y++ = (float)(xi - 1) * d;
        }
}

/* TQ2_0: qs[64] (four 2-bit trits per byte), d */
static void dq_tq2_0(const uint8_t *b, float *y)
{
    float d = f16_at(b + 64);
    for (int j = 0; j < 64; j += 32)
        for (int l = 0; l < 4; l++)
            for (int m = 0; m < 32; m++) {
                int8_t q = (b[j + m] >> (l * 2)) & 3;
                *y++ = (float)(q - 1) * d;
            }
}

/* ---- i-quants: 8-dimensional grid points, signs, sub-block scales ------------------------ */

static const uint8_t kmask_iq2xs[8] = {1, 2, 4, 8, 16, 32, 64, 128};

/* IQ2_XXS: d, qs[32] (u16): per 32 weights two u32: four grid indices, then 4 x 7 sign bits and
 * a 4-bit scale */
static void dq_iq2_xxs(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    const uint8_t *qs = b + 2;
    for (int ib32 = 0; ib32 < QK_K / 32; ib32++) {
        uint32_t aux32[2];
        memcpy(aux32, qs + 8 * ib32, 8);
        const uint8_t *aux8 = (const uint8_t *)aux32;
        float db = d * (0.5f + (aux32[1] >> 28)) * 0.25f;
        for (int l = 0; l < 4; l++) {
            const uint8_t *grid = qh_iq2xxs_grid[aux8[l]];
            uint8_t signs = qh_ksigns_iq2xs[(aux32[1] >> 7 * l) & 127];
            for (int j = 0; j < 8; j++) y[j] = db * grid[j] * (signs & kmask_iq2xs[j] ? -1.f : 1.f);
            y += 8;
        }
    }
}

/* IQ2_XS: d, qs[32] (u16: 9-bit grid index, 7 sign bits), scales[8] (two 4-bit scales) */
static void dq_iq2_xs(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    const uint8_t *scales = b + 66;
    for (int ib32 = 0; ib32 < QK_K / 32; ib32++) {
        float db[2] = {d * (0.5f + (scales[ib32] & 0xf)) * 0.25f, d * (0.5f + (scales[ib32] >> 4)) * 0.25f};
        for (int l = 0; l < 4; l++) {
            uint16_t q = u16_at(b + 2 + 2 * (4 * ib32 + l));
            const uint8_t *grid = qh_iq2xs_grid[q & 511];
            uint8_t signs = qh_ksigns_iq2xs[q >> 9];
            for (int j = 0; j < 8; j++) y[j] = db[l / 2] * grid[j] * (signs & kmask_iq2xs[j] ? -1.f : 1.f);
            y += 8;
        }
    }
}

/* IQ2_S: d, qs[64] (32 low index bytes, then 32 sign bytes), qh[8] (2 high bits each), scales[8] */
static void dq_iq2_s(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    const uint8_t *qs = b + 2, *signs = b + 34, *qh = b + 66, *scales = b + 74;
    for (int ib32 = 0; ib32 < QK_K / 32; ib32++) {
        float db[2] = {d * (0.5f + (scales[ib32] & 0xf)) * 0.25f, d * (0.5f + (scales[ib32] >> 4)) * 0.25f};
        for (int l = 0; l < 4; l++) {
            float dl = db[l / 2];
            const uint8_t *grid = qh_iq2s_grid[qs[l] | ((qh[ib32] << (8 - 2 * l)) & 0x300)];
            for (int j = 0; j < 8; j++) y[j] = dl * grid[j] * (signs[l] & kmask_iq2xs[j] ? -1.f : 1.f);
            y += 8;
        }
        qs += 4;
        signs += 4;
    }
}

/* IQ3_XXS: d, qs[96]: 64 bytes of 4-dimensional grid indices, then per 32 weights a u32 of
 * 4 x 7 sign bits and a 4-bit scale */
static void dq_iq3_xxs(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    const uint8_t *qs = b + 2, *scales_and_signs = b + 2 + QK_K / 4;
    for (int ib32 = 0; ib32 < QK_K / 32; ib32++) {
        uint32_t aux32 = u32_at(scales_and_signs + 4 * ib32);
        float db = d * (0.5f + (aux32 >> 28)) * 0.5f;
        for (int l = 0; l < 4; l++) {
            uint8_t signs = qh_ksigns_iq2xs[(aux32 >> 7 * l) & 127];
            uint32_t g1 = qh_iq3xxs_grid[qs[2 * l + 0]], g2 = qh_iq3xxs_grid[qs[2 * l + 1]];
            const uint8_t *grid1 = (const uint8_t *)&g1, *grid2 = (const uint8_t *)&g2;
            for (int j = 0; j < 4; j++) {
                y[j + 0] = db * grid1[j] * (signs & kmask_iq2xs[j + 0] ? -1.f : 1.f);
                y[j + 4] = db * grid2[j] * (signs & kmask_iq2xs[j + 4] ? -1.f : 1.f);
            }
            y += 8;
        }
        qs += 8;
    }
}

/* IQ3_S: d, qs[64], qh[8], signs[32], scales[4] */
static void dq_iq3_s(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    const uint8_t *qs = b + 2, *qh = b + 66, *signs = b + 74, *scales = b + 106;
    for (int ib32 = 0; ib32 < QK_K / 32; ib32 += 2) {
        float db[2] = {d * (1 + 2 * (scales[ib32 / 2] & 0xf)), d * (1 + 2 * (scales[ib32 / 2] >> 4))};
        for (int half = 0; half < 2; half++) {
            for (int l = 0; l < 4; l++) {
                uint32_t g1 = qh_iq3s_grid[qs[2 * l + 0] | ((qh[half] << (8 - 2 * l)) & 256)];
                uint32_t g2 = qh_iq3s_grid[qs[2 * l + 1] | ((qh[half] << (7 - 2 * l)) & 256)];
                const uint8_t *grid1 = (const uint8_t *)&g1, *grid2 = (const uint8_t *)&g2;
                for (int j = 0; j < 4; j++) {
                    y[j + 0] = db[half] * grid1[j] * (signs[l] & kmask_iq2xs[j + 0] ? -1.f : 1.f);
                    y[j + 4] = db[half] * grid2[j] * (signs[l] & kmask_iq2xs[j + 4] ? -1.f : 1.f);
                }
                y += 8;
            }
            qs += 8;
            signs += 4;
        }
        qh += 2;
    }
}

#define IQ1S_DELTA 0.125f
#define IQ1M_DELTA 0.125f

/* IQ1_S: d, qs[32] (low 8 index bits), qh[8] (u16: 4 x 3 high index bits, 3-bit scale, delta sign) */
static void dq_iq1_s(const uint8_t *b, float *y)
{
    float d = f16_at(b);
    const uint8_t *qs = b + 2;
    for (int ib = 0; ib < QK_K / 32; ib++) {
        uint16_t qh = u16_at(b + 34 + 2 * ib);
        float dl = d * (2 * ((qh >> 12) & 7) + 1);
        float delta = qh & 0x8000 ? -IQ1S_DELTA : IQ1S_DELTA;
        for (int l = 0; l < 4; l++) {
            const int8_t *grid = qh_iq1s_grid[qs[l] | (((qh >> 3 * l) & 7) << 8)];
            for (int j = 0; j < 8; j++) y[j] = dl * (grid[j] + delta);
            y += 8;
        }
        qs += 4;
    }
}

/* IQ1_M: qs[32], qh[16], scales[8] (3-bit sub-block scales; the f16 super-scale is spread over
 * the top nibbles of the four u16) */
static void dq_iq1_m(const uint8_t *b, float *y)
{
    const uint8_t *qs = b, *qh = b + 32;
    uint16_t sc[4];
    memcpy(sc, b + 48, 8);
    uint16_t scale = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
    float d = qh_f16_to_f32(scale);
    for (int ib = 0; ib < QK_K / 32; ib++) {
        float dl1 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1);
        float dl2 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1);
        uint16_t idx[4] = {(uint16_t)(qs[0] | ((qh[0] << 8) & 0x700)), (uint16_t)(qs[1] | ((qh[0] << 4) & 0x700)),
                           (uint16_t)(qs[2] | ((qh[1] << 8) & 0x700)), (uint16_t)(qs[3] | ((qh[1] << 4) & 0x700))};
        float delta[4] = {qh[0] & 0x08 ? -IQ1M_DELTA : IQ1M_DELTA, qh[0] & 0x80 ? -IQ1M_DELTA : IQ1M_DELTA,
                          qh[1] & 0x08 ? -IQ1M_DELTA : IQ1M_DELTA, qh[1] & 0x80 ? -IQ1M_DELTA : IQ1M_DELTA};
        for (int l = 0; l < 2; l++) {
            const int8_t *grid = qh_iq1s_grid[idx[l]];
            for (int j = 0; j < 8; j++) y[j] = dl1 * (grid[j] + delta[l]);
            y += 8;
        }
        for (int l = 2; l < 4; l++) {
            const int8_t *grid = qh_iq1s_grid[idx[l]];
            for (int j = 0; j < 8; j++) y[j] = dl2 * (grid[j] + delta[l]);
            y += 8;
        }
        qs += 4;
        qh += 2;
    }
}

/* ---- E2M1 (FP4) blocks ---------------------------------------------------------------------- */

/* E2M1's values doubled, so that they are integers; the scales below are halved to match */
static const int8_t kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* ggml_e8m0_to_fp32_half: 2^(e - 128), built from its bits (e < 2 gives F32 subnormals) */
static float e8m0_half(uint8_t e)
{
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* MXFP4: e (E8M0), qs[16]: low nibbles are elements 0..15, high 16..31; y = kvalue(q) * 2^(e - 128) */
static void dq_mxfp4(const uint8_t *b, float *y)
{
    float d = e8m0_half(b[0]);
    for (int j = 0; j < 16; j++) {
        y[j] = kvalues_mxfp4[b[1 + j] & 0x0F] * d;
        y[j + 16] = kvalues_mxfp4[b[1 + j] >> 4] * d;
    }
}

/* ggml's nearest value, ties to the first in kvalues_mxfp4's order, i.e. to the smaller magnitude
 * (OCP's conversion breaks them to the even code: methods/mxfp4.c) */
static uint8_t best_index_mxfp4(float x, float d)
{
    int best = 0;
    float best_err = fabsf(kvalues_mxfp4[0] * d - x);
    for (int i = 1; i < 16; i++) {
        float err = fabsf(kvalues_mxfp4[i] * d - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return (uint8_t)best;
}

/* quantize_row_mxfp4_ref: e = floor(log2f(amax)) - 2 + 127 (ggml's log2f, not an exact floor) */
static void q_mxfp4(const float *x, uint8_t *b)
{
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float e = amax > 0 ? floorf(log2f(amax)) - 2 + 127 : 0;
    b[0] = (uint8_t)(e < 0 ? 0 : e > 254 ? 254 : e); /* ggml converts without a clamp; weights never reach it */
    float d = e8m0_half(b[0]);
    for (int j = 0; j < 16; j++) b[1 + j] = (uint8_t)(best_index_mxfp4(x[j], d) | best_index_mxfp4(x[16 + j], d) << 4);
}

/* ggml_ue4m3_to_fp32: an unsigned E4M3 scale (bias 7, subnormals of 2^-9; 0x7F reads as 0), halved
 * to match the doubled kvalues */
static float ue4m3_half(uint8_t x)
{
    if (x == 0 || x == 0x7F) return 0.0f;
    int e = x >> 3 & 0x0F, m = x & 7;
    float raw = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return raw * 0.5f;
}

/* NVFP4 (ggml's: no per-tensor scale): d[4] (UE4M3, one per 16), qs[32]: sub-block s has
 * qs[8s..8s+7], low nibbles its elements 0..7, high 8..15 */
static void dq_nvfp4(const uint8_t *b, float *y)
{
    for (int s = 0; s < 4; s++) {
        float d = ue4m3_half(b[s]);
        const uint8_t *qs = b + 4 + 8 * s;
        for (int j = 0; j < 8; j++) {
            y[16 * s + j] = kvalues_mxfp4[qs[j] & 0x0F] * d;
            y[16 * s + 8 + j] = kvalues_mxfp4[qs[j] >> 4] * d;
        }
    }
}

/* ---- the table --------------------------------------------------------------------------- */

/* Bytes per block: the sum of the fields of ggml-common.h's block struct, checked against
 * the size ggml states for it. */
#define BYTES_Q8_0 (2 + 32)
static_assert(BYTES_Q8_0 == 34, "block_q8_0");
#define BYTES_Q4_0 (2 + 16)
static_assert(BYTES_Q4_0 == 18, "block_q4_0 and block_iq4_nl");
#define BYTES_Q4_1 (2 + 2 + 16)
static_assert(BYTES_Q4_1 == 20, "block_q4_1");
#define BYTES_Q5_0 (2 + 4 + 16)
static_assert(BYTES_Q5_0 == 22, "block_q5_0");
#define BYTES_Q5_1 (2 + 2 + 4 + 16)
static_assert(BYTES_Q5_1 == 24, "block_q5_1");
#define BYTES_Q2_K (QK_K / 16 + QK_K / 4 + 2 + 2)
static_assert(BYTES_Q2_K == 84, "block_q2_K");
#define BYTES_Q3_K (QK_K / 8 + QK_K / 4 + 12 + 2)
static_assert(BYTES_Q3_K == 110, "block_q3_K");
#define BYTES_Q4_K (2 + 2 + 12 + QK_K / 2)
static_assert(BYTES_Q4_K == 144, "block_q4_K");
#define BYTES_Q5_K (2 + 2 + 12 + QK_K / 8 + QK_K / 2)
static_assert(BYTES_Q5_K == 176, "block_q5_K");
#define BYTES_Q6_K (QK_K / 2 + QK_K / 4 + QK_K / 16 + 2)
static_assert(BYTES_Q6_K == 210, "block_q6_K");
#define BYTES_IQ2_XXS (2 + QK_K / 4)
static_assert(BYTES_IQ2_XXS == 66, "block_iq2_xxs");
#define BYTES_IQ2_XS (2 + QK_K / 4 + QK_K / 32)
static_assert(BYTES_IQ2_XS == 74, "block_iq2_xs");
#define BYTES_IQ2_S (2 + QK_K / 4 + QK_K / 32 + QK_K / 32)
static_assert(BYTES_IQ2_S == 82, "block_iq2_s");
#define BYTES_IQ3_XXS (2 + 3 * QK_K / 8)
static_assert(BYTES_IQ3_XXS == 98, "block_iq3_xxs");
#define BYTES_IQ3_S (2 + QK_K / 4 + QK_K / 32 + QK_K / 8 + QK_K / 64)
static_assert(BYTES_IQ3_S == 110, "block_iq3_s");
#define BYTES_IQ1_S (2 + QK_K / 8 + QK_K / 16)
static_assert(BYTES_IQ1_S == 50, "block_iq1_s");
#define BYTES_IQ1_M (QK_K / 8 + QK_K / 16 + QK_K / 32)
static_assert(BYTES_IQ1_M == 56, "block_iq1_m");
#define BYTES_IQ4_XS (2 + 2 + QK_K / 64 + QK_K / 2)
static_assert(BYTES_IQ4_XS == 136, "block_iq4_xs");
#define BYTES_TQ1_0 ((QK_K - 4 * QK_K / 64) / 5 + QK_K / 64 + 2)
static_assert(BYTES_TQ1_0 == 54, "block_tq1_0");
#define BYTES_TQ2_0 (QK_K / 4 + 2)
static_assert(BYTES_TQ2_0 == 66, "block_tq2_0");
#define BYTES_IQ4_NL BYTES_Q4_0
#define BYTES_MXFP4 (1 + 32 / 2)
static_assert(BYTES_MXFP4 == 17, "block_mxfp4");
#define BYTES_NVFP4 (4 + 64 / 2)
static_assert(BYTES_NVFP4 == 36, "block_nvfp4");

const qh_ggml_type qh_ggml_types[] = {
    {"F32", 0, 1, 4, dq_f32, q_f32},
    {"F16", 1, 1, 2, dq_f16, q_f16},
    {"Q4_0", 2, 32, BYTES_Q4_0, dq_q4_0, q_q4_0},
    {"Q4_1", 3, 32, BYTES_Q4_1, dq_q4_1, NULL},
    {"Q5_0", 6, 32, BYTES_Q5_0, dq_q5_0, NULL},
    {"Q5_1", 7, 32, BYTES_Q5_1, dq_q5_1, NULL},
    {"Q8_0", 8, 32, BYTES_Q8_0, dq_q8_0, q_q8_0},
    {"Q2_K", 10, QK_K, BYTES_Q2_K, dq_q2_k, NULL},
    {"Q3_K", 11, QK_K, BYTES_Q3_K, dq_q3_k, NULL},
    {"Q4_K", 12, QK_K, BYTES_Q4_K, dq_q4_k, NULL},
    {"Q5_K", 13, QK_K, BYTES_Q5_K, dq_q5_k, NULL},
    {"Q6_K", 14, QK_K, BYTES_Q6_K, dq_q6_k, NULL},
    {"IQ2_XXS", 16, QK_K, BYTES_IQ2_XXS, dq_iq2_xxs, NULL},
    {"IQ2_XS", 17, QK_K, BYTES_IQ2_XS, dq_iq2_xs, NULL},
    {"IQ3_XXS", 18, QK_K, BYTES_IQ3_XXS, dq_iq3_xxs, NULL},
    {"IQ1_S", 19, QK_K, BYTES_IQ1_S, dq_iq1_s, NULL},
    {"IQ4_NL", 20, 32, BYTES_IQ4_NL, dq_iq4_nl, NULL},
    {"IQ3_S", 21, QK_K, BYTES_IQ3_S, dq_iq3_s, NULL},
    {"IQ2_S", 22, QK_K, BYTES_IQ2_S, dq_iq2_s, NULL},
    {"IQ4_XS", 23, QK_K, BYTES_IQ4_XS, dq_iq4_xs, NULL},
    {"I8", 24, 1, 1, NULL, NULL},
    {"I16", 25, 1, 2, NULL, NULL},
    {"I32", 26, 1, 4, NULL, NULL},
    {"I64", 27, 1, 8, NULL, NULL},
    {"F64", 28, 1, 8, NULL, NULL},
    {"IQ1_M", 29, QK_K, BYTES_IQ1_M, dq_iq1_m, NULL},
    {"BF16", 30, 1, 2, dq_bf16, q_bf16},
    {"TQ1_0", 34, QK_K, BYTES_TQ1_0, dq_tq1_0, NULL},
    {"TQ2_0", 35, QK_K, BYTES_TQ2_0, dq_tq2_0, NULL},
    {"MXFP4", 39, 32, BYTES_MXFP4, dq_mxfp4, q_mxfp4},
    {"NVFP4", 40, 64, BYTES_NVFP4, dq_nvfp4, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

const qh_ggml_type *qh_ggml_type_by_id(uint32_t id)
{
    for (const qh_ggml_type *t = qh_ggml_types; t->name; t++)
        if (t->id == id) return t;
    return NULL;
}

const qh_ggml_type *qh_ggml_type_by_name(const char *name)
{
    for (const qh_ggml_type *t = qh_ggml_types; t->name; t++)
        if (strcmp(t->name, name) == 0) return t;
    return NULL;
}

static pthread_once_t grids_once = PTHREAD_ONCE_INIT;

void qh_ggml_dequantize(const qh_ggml_type *t, const uint8_t *src, float *dst, uint64_t n)
{
    pthread_once(&grids_once, qh_iq_grids_init);
    if (t->id == 0) { /* plain floats: no per-element call (the tied embeddings are most of a small model) */
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    if (t->id == 1) {
        qh_f16_to_f32_n((const uint16_t *)(const void *)src, dst, n);
        return;
    }
    long blocks = (long)(n / (uint64_t)t->block);
#pragma omp parallel for schedule(static) if (blocks > 4096)
    for (long i = 0; i < blocks; i++) t->dequant(src + (size_t)i * t->bytes, dst + (size_t)i * t->block);
}

void qh_ggml_quantize(const qh_ggml_type *t, const float *src, uint8_t *dst, uint64_t n)
{
    long blocks = (long)(n / (uint64_t)t->block);
#pragma omp parallel for schedule(static) if (blocks > 4096)
    for (long i = 0; i < blocks; i++) t->quant(src + (size_t)i * t->block, dst + (size_t)i * t->bytes);
}
