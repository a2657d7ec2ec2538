/* residual_binary.c - k-stage residual binarization: W ~ sum_i alpha_i B_i, where stage i
 * binarizes what the previous stages left (B_i = sign(R_i), alpha_i = mean |R_i| per group).
 * bpp = k (1 + 16 / group). */
#include <stdlib.h>
#include <string.h>

#include "methods/binary.h"

static const qh_param params[] = {
    {"k", QH_PARAM_INT, 2, 1, 4, NULL, "number of binary stages"},
    {"group", QH_PARAM_INT, 0, 0, 1 << 20, NULL, "input features per scale; 0 = one scale per output channel"},
    {0}};

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int k = (int)qh_spec_get(spec, "k"), group = (int)qh_spec_get(spec, "group");
    int ng = qh_groups_per_row(group, w->cols);
    size_t n = (size_t)w->rows * w->cols, sb = qh_bits_bytes(n, 1), na = (size_t)w->rows * ng;
    float *r = qh_malloc(n * sizeof(float));
    memcpy(r, w->data, n * sizeof(float));
    uint8_t *signs = qh_packed_add(out, "signs", QH_DT_U8, k, (int64_t)sb);
    uint16_t *alphas = qh_packed_add(out, "scales", QH_DT_F16, k, (int64_t)na);
    for (int s = 0; s < k; s++) qh_binarize_stage(r, w->rows, w->cols, group, signs + s * sb, alphas + s * na);
    free(r);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int k = (int)qh_spec_get(spec, "k"), group = (int)qh_spec_get(spec, "group");
    int ng = qh_groups_per_row(group, w->cols);
    size_t n = (size_t)w->rows * w->cols, sb = qh_bits_bytes(n, 1), na = (size_t)w->rows * ng;
    const qh_part *ps, *pa;
    if (qh_packed_expect(in, "signs", QH_DT_U8, (size_t)k * sb, &ps, err) ||
        qh_packed_expect(in, "scales", QH_DT_F16, (size_t)k * na, &pa, err))
        return -1;
    memset(w->data, 0, n * sizeof(float));
    for (int s = 0; s < k; s++)
        qh_binary_accumulate(w->data, w->rows, w->cols, group, (const uint8_t *)ps->data + s * sb,
                             (const uint16_t *)pa->data + s * na);
    return 0;
}

const qh_method qh_method_residual_binary = {
    .name = "residual-binary",
    .summary = "k-stage residual binarization W ~ sum_i alpha_i B_i: k bits + k F16 scales per group",
    .params = params,
    .encode = encode,
    .decode = decode,
};
