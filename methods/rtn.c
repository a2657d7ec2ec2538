/* rtn.c - round-to-nearest uniform quantization, per output channel or per group.
 *
 * sym:  q = clamp(round(w / s), -qmax, qmax), qmax = 2^(b-1) - 1, s = absmax / qmax
 *       (the code 0 = -2^(b-1) is unused, so 2 bits give {-s, 0, s}).
 * asym: q = clamp(round(w / s) + z, 0, 2^b - 1), s = (max - min) / (2^b - 1) over the group
 *       with min <= 0 <= max (zero stays exact, as in GPTQ's quantizer), z = round(-min / s).
 * Codes are b-bit packed; scales are F16 (rows, groups); zero points b-bit packed.
 * Encoding uses the F16-rounded scale, so decode reproduces exactly what encode assumed. */
#include <math.h>
#include <stdlib.h>

#include "methods/method.h"
#include "methods/rtn.h"

static const qh_param params[] = {
    {"bits", QH_PARAM_INT, 4, 2, 8, NULL, "bits per weight code"},
    {"group", QH_PARAM_INT, 0, 0, 1 << 20, NULL, "input features per scale; 0 = one scale per output channel"},
    {"scheme", QH_PARAM_ENUM, 0, 0, 1, "sym|asym", "symmetric (no zero point) or asymmetric (b-bit zero point)"},
    {0}};

void qh_rtn_group_params(const float *w, int n, int bits, int asym, float *scale, int *zero)
{
    if (!asym) {
        float amax = 0;
        for (int i = 0; i < n; i++) amax = fabsf(w[i]) > amax ? fabsf(w[i]) : amax;
        int qmax = (1 << (bits - 1)) - 1;
        *scale = qh_f16_round(amax / qmax);
        *zero = 1 << (bits - 1);
        return;
    }
    float mn = 0, mx = 0;
    for (int i = 0; i < n; i++) {
        mn = w[i] < mn ? w[i] : mn;
        mx = w[i] > mx ? w[i] : mx;
    }
    int maxq = (1 << bits) - 1;
    *scale = qh_f16_round((mx - mn) / maxq);
    int z = *scale > 0 ? (int)lrintf(-mn / *scale) : 0;
    *zero = z < 0 ? 0 : (z > maxq ? maxq : z);
}

uint8_t qh_rtn_code(float w, float scale, int zero, int bits, int asym)
{
    int lo = asym ? 0 : 1, hi = (1 << bits) - 1;
    if (scale <= 0) return (uint8_t)zero;
    int q = (int)lrintf(w / scale) + zero;
    return (uint8_t)(q < lo ? lo : (q > hi ? hi : q));
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int bits = (int)qh_spec_get(spec, "bits"), asym = (int)qh_spec_get(spec, "scheme");
    int G = qh_group_size((int)qh_spec_get(spec, "group"), w->cols), ng = qh_groups_per_row(G, w->cols);
    size_t n = (size_t)w->rows * w->cols, ngroups = (size_t)w->rows * ng;
    uint8_t *codes = qh_malloc(n), *zeros = qh_malloc(ngroups);
    uint16_t *scales = qh_packed_add(out, "scales", QH_DT_F16, w->rows, ng);
    for (int r = 0; r < w->rows; r++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * G, len = c0 + G <= w->cols ? G : w->cols - c0;
            const float *src = w->data + (size_t)r * w->cols + c0;
            float s;
            int z;
            qh_rtn_group_params(src, len, bits, asym, &s, &z);
            scales[(size_t)r * ng + g] = qh_f32_to_f16(s);
            zeros[(size_t)r * ng + g] = (uint8_t)z;
            for (int i = 0; i < len; i++) codes[(size_t)r * w->cols + c0 + i] = qh_rtn_code(src[i], s, z, bits, asym);
        }
    qh_bits_pack(qh_packed_add(out, "codes", QH_DT_U8, (int64_t)qh_bits_bytes(n, bits), 0), codes, n, bits);
    if (asym) qh_bits_pack(qh_packed_add(out, "zeros", QH_DT_U8, (int64_t)qh_bits_bytes(ngroups, bits), 0), zeros, ngroups, bits);
    free(codes);
    free(zeros);
    return 0;
}

int qh_rtn_decode_parts(const qh_packed *in, int bits, int group, int asym, qh_matrix *w, qh_err *err)
{
    int G = qh_group_size(group, w->cols), ng = qh_groups_per_row(G, w->cols);
    size_t n = (size_t)w->rows * w->cols, ngroups = (size_t)w->rows * ng;
    const qh_part *pc, *ps, *pz = NULL;
    if (qh_packed_expect(in, "codes", QH_DT_U8, qh_bits_bytes(n, bits), &pc, err) ||
        qh_packed_expect(in, "scales", QH_DT_F16, ngroups, &ps, err) ||
        (asym && qh_packed_expect(in, "zeros", QH_DT_U8, qh_bits_bytes(ngroups, bits), &pz, err)))
        return -1;
    uint8_t *codes = qh_malloc(n), *zeros = qh_malloc(ngroups);
    qh_bits_unpack(codes, pc->data, n, bits);
    if (asym) qh_bits_unpack(zeros, pz->data, ngroups, bits);
    const uint16_t *scales = ps->data;
#pragma omp parallel for
    for (int r = 0; r < w->rows; r++)
        for (int g = 0; g < ng; g++) {
            size_t gi = (size_t)r * ng + g;
            int c0 = g * G, len = c0 + G <= w->cols ? G : w->cols - c0;
            float s = qh_f16_to_f32(scales[gi]), z = (float)(asym ? zeros[gi] : 1 << (bits - 1));
            const uint8_t *cd = codes + (size_t)r * w->cols + c0;
            float *dst = w->data + (size_t)r * w->cols + c0;
            for (int i = 0; i < len; i++) dst[i] = ((float)cd[i] - z) * s;
        }
    free(codes);
    free(zeros);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    return qh_rtn_decode_parts(in, (int)qh_spec_get(spec, "bits"), (int)qh_spec_get(spec, "group"),
                               (int)qh_spec_get(spec, "scheme"), w, err);
}

const qh_method qh_method_rtn = {
    .name = "rtn",
    .summary = "round-to-nearest uniform grid, per output channel or per group, F16 scales",
    .params = params,
    .encode = encode,
    .decode = decode,
};
