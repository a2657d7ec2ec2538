/* binary.c - 1-bit sign quantization with a scale per row or group:
 * w ~ alpha * sign(w), alpha = mean |w| over the group (the least-squares optimum for a fixed
 * sign pattern; XNOR-Net / BinaryConnect).  bpp = 1 + 16 / group. */
#include "methods/binary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void qh_signs_pack(uint8_t *out, const float *w, size_t n)
{
    memset(out, 0, (n + 7) / 8);
    for (size_t i = 0; i < n; i++)
        if (w[i] >= 0) out[i >> 3] |= (uint8_t)(1u << (i & 7));
}

void qh_binarize_stage(float *r, int rows, int cols, int group, uint8_t *signs, uint16_t *alphas)
{
    int G = qh_group_size(group, cols), ng = qh_groups_per_row(G, cols);
    qh_signs_pack(signs, r, (size_t)rows * cols);
    for (int row = 0; row < rows; row++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * G, len = c0 + G <= cols ? G : cols - c0;
            float *src = r + (size_t)row * cols + c0;
            double sum = 0;
            for (int i = 0; i < len; i++) sum += fabsf(src[i]);
            float a = qh_f16_round((float)(sum / len));
            alphas[(size_t)row * ng + g] = qh_f32_to_f16(a);
            for (int i = 0; i < len; i++) src[i] -= src[i] >= 0 ? a : -a;
        }
}

void qh_binary_accumulate(float *w, int rows, int cols, int group, const uint8_t *signs, const uint16_t *alphas)
{
    int G = qh_group_size(group, cols), ng = qh_groups_per_row(G, cols);
#pragma omp parallel for
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * G, len = c0 + G <= cols ? G : cols - c0;
            float a = qh_f16_to_f32(alphas[(size_t)r * ng + g]);
            size_t base = (size_t)r * cols + (size_t)c0;
            float *dst = w + base;
            for (int i = 0; i < len; i++) dst[i] += ((signs[(base + i) >> 3] >> ((base + i) & 7)) & 1) ? a : -a;
        }
}

static const qh_param params[] = {
    {"group", QH_PARAM_INT, 0, 0, 1 << 20, NULL, "input features per scale; 0 = one scale per output channel"},
    {0}};

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int group = (int)qh_spec_get(spec, "group");
    size_t n = (size_t)w->rows * w->cols;
    float *r = qh_malloc(n * sizeof(float));
    memcpy(r, w->data, n * sizeof(float));
    uint8_t *signs = qh_packed_add(out, "signs", QH_DT_U8, (int64_t)qh_bits_bytes(n, 1), 0);
    uint16_t *alphas = qh_packed_add(out, "scales", QH_DT_F16, w->rows, qh_groups_per_row(group, w->cols));
    qh_binarize_stage(r, w->rows, w->cols, group, signs, alphas);
    free(r);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int group = (int)qh_spec_get(spec, "group");
    int G = qh_group_size(group, w->cols), ng = qh_groups_per_row(G, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    const qh_part *ps, *pa;
    if (qh_packed_expect(in, "signs", QH_DT_U8, qh_bits_bytes(n, 1), &ps, err) ||
        qh_packed_expect(in, "scales", QH_DT_F16, (size_t)w->rows * ng, &pa, err))
        return -1;
    memset(w->data, 0, n * sizeof(float));
    qh_binary_accumulate(w->data, w->rows, w->cols, group, ps->data, pa->data);
    return 0;
}

const qh_method qh_method_binary = {
    .name = "binary",
    .summary = "sign(W) x alpha, alpha = mean |W| per row or group: 1 bit + F16 scales",
    .params = params,
    .encode = encode,
    .decode = decode,
};
