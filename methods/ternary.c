/* ternary.c - ternary weight networks (TWN, Li et al. 2016): codes in {-1, 0, +1} with
 * threshold delta = 0.7 mean |W| and scale alpha = mean |W| over the weights above it, per row
 * or group.  Trits are packed 5 per byte (3^5 = 243 <= 256), so the file holds 1.6 bits per
 * weight plus the F16 scales, not the nominal log2(3) = 1.58. */
#include <math.h>
#include <stdlib.h>

#include "methods/method.h"

static const qh_param params[] = {
    {"group", QH_PARAM_INT, 0, 0, 1 << 20, NULL, "input features per scale; 0 = one scale per output channel"},
    {"delta", QH_PARAM_FLOAT, 0.7, 0.0, 3.0, NULL, "threshold as a multiple of mean |W| (TWN: 0.7)"},
    {0}};

static size_t trit_bytes(size_t n) { return (n + 4) / 5; }

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int group = (int)qh_spec_get(spec, "group");
    float delta_mult = (float)qh_spec_get(spec, "delta");
    int G = qh_group_size(group, w->cols), ng = qh_groups_per_row(G, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    uint8_t *trits = qh_malloc(n); /* 0, 1, 2 = -1, 0, +1 */
    uint16_t *scales = qh_packed_add(out, "scales", QH_DT_F16, w->rows, ng);
    for (int r = 0; r < w->rows; r++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * G, len = c0 + G <= w->cols ? G : w->cols - c0;
            const float *src = w->data + (size_t)r * w->cols + c0;
            double mean_abs = 0;
            for (int i = 0; i < len; i++) mean_abs += fabsf(src[i]);
            float delta = delta_mult * (float)(mean_abs / len);
            double sum = 0;
            int kept = 0;
            for (int i = 0; i < len; i++) {
                uint8_t t = src[i] > delta ? 2 : (src[i] < -delta ? 0 : 1);
                trits[(size_t)r * w->cols + c0 + i] = t;
                if (t != 1) {
                    sum += fabsf(src[i]);
                    kept++;
                }
            }
            scales[(size_t)r * ng + g] = qh_f32_to_f16(kept ? (float)(sum / kept) : 0.0f);
        }
    uint8_t *packed = qh_packed_add(out, "codes", QH_DT_U8, (int64_t)trit_bytes(n), 0);
    for (size_t i = 0; i < n; i += 5) {
        unsigned v = 0;
        for (int k = 4; k >= 0; k--) v = v * 3 + (i + (size_t)k < n ? trits[i + (size_t)k] : 1);
        packed[i / 5] = (uint8_t)v;
    }
    free(trits);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int G = qh_group_size((int)qh_spec_get(spec, "group"), w->cols), ng = qh_groups_per_row(G, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    const qh_part *pc, *ps;
    if (qh_packed_expect(in, "codes", QH_DT_U8, trit_bytes(n), &pc, err) ||
        qh_packed_expect(in, "scales", QH_DT_F16, (size_t)w->rows * ng, &ps, err))
        return -1;
    const uint8_t *packed = pc->data;
    const uint16_t *scales = ps->data;
    /* base-3 digits of every byte, once: 243 x 5 */
    static signed char digits[243][5];
    static int ready;
    if (!ready) {
        for (int v = 0; v < 243; v++)
            for (int k = 0, x = v; k < 5; k++, x /= 3) digits[v][k] = (signed char)(x % 3 - 1);
        ready = 1;
    }
    float *trit = w->data; /* decode the codes in place, then scale by row and group */
    for (size_t i = 0; i < n; i += 5) {
        const signed char *d = digits[packed[i / 5] < 243 ? packed[i / 5] : 121];
        for (size_t k = 0; k < 5 && i + k < n; k++) trit[i + k] = d[k];
    }
#pragma omp parallel for
    for (int r = 0; r < w->rows; r++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * G, len = c0 + G <= w->cols ? G : w->cols - c0;
            float s = qh_f16_to_f32(scales[(size_t)r * ng + g]);
            float *dst = w->data + (size_t)r * w->cols + c0;
            for (int i = 0; i < len; i++) dst[i] *= s;
        }
    return 0;
}

const qh_method qh_method_ternary = {
    .name = "ternary",
    .summary = "TWN ternary {-a, 0, +a}, threshold 0.7 mean|W|: 5 trits per byte (1.6 bits) + F16 scales",
    .params = params,
    .encode = encode,
    .decode = decode,
};
