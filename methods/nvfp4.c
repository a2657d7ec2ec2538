/* nvfp4.c - NVIDIA NVFP4 (Blackwell's block-scaled FP4; NVIDIA's "Introducing NVFP4", 2025, and
 * the recipe of its Model Optimizer): blocks of 16 consecutive weights along a row share an E4M3
 * scale, and the whole matrix one F32 scale, so that the E4M3 scales use their range:
 *   tensor_scale = absmax(matrix) / (6 * 448)            (stored F32: Model Optimizer's weight_scale_2)
 *   block scale  = E4M3(absmax(block) / (6 * tensor_scale))     rounded to nearest even, saturating
 *   weight       = E2M1(w / (block scale * tensor_scale))         rounded to nearest even, saturating
 *   decoded      = E2M1 value * (block scale * tensor_scale)
 * 4 + 8/16 = 4.5 bits per weight, plus 32 bits per matrix.  A row whose length is not a multiple
 * of 16 ends in a shorter block. */
#include "methods/microscaling.h"
#include "methods/method.h"

#include <math.h>
#include <stdlib.h>

enum { NV_BLOCK = 16 };
#define E2M1_MAX 6.0f
#define E4M3_MAX 448.0f

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    (void)spec, (void)calib, (void)err;
    int nb = qh_groups_per_row(NV_BLOCK, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    float amax = 0;
    for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(w->data[i]));
    float tensor_scale = amax > 0 ? amax / (E2M1_MAX * E4M3_MAX) : 1.0f; /* an all-zero matrix: any scale */
    *(float *)qh_packed_add(out, "tensor_scale", QH_DT_F32, 1, 0) = tensor_scale;
    uint8_t *codes = qh_malloc(n);
    uint8_t *scales = qh_packed_add(out, "scales", QH_DT_U8, w->rows, nb);
#pragma omp parallel for
    for (int r = 0; r < w->rows; r++)
        for (int b = 0; b < nb; b++) {
            int c0 = b * NV_BLOCK, len = c0 + NV_BLOCK <= w->cols ? NV_BLOCK : w->cols - c0;
            const float *src = w->data + (size_t)r * w->cols + c0;
            float bmax = 0;
            for (int i = 0; i < len; i++) bmax = fmaxf(bmax, fabsf(src[i]));
            uint8_t s = qh_e4m3_from_float(bmax / (E2M1_MAX * tensor_scale));
            scales[(size_t)r * nb + b] = s;
            float d = qh_e4m3_to_float(s) * tensor_scale; /* what decode multiplies by */
            for (int i = 0; i < len; i++)
                codes[(size_t)r * w->cols + c0 + i] = d > 0 ? qh_e2m1_from_float(src[i] / d) : 0;
        }
    qh_bits_pack(qh_packed_add(out, "codes", QH_DT_U8, (int64_t)qh_bits_bytes(n, 4), 0), codes, n, 4);
    free(codes);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    (void)spec;
    int nb = qh_groups_per_row(NV_BLOCK, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    const qh_part *pc, *ps, *pt;
    if (qh_packed_expect(in, "codes", QH_DT_U8, qh_bits_bytes(n, 4), &pc, err) ||
        qh_packed_expect(in, "scales", QH_DT_U8, (size_t)w->rows * nb, &ps, err) ||
        qh_packed_expect(in, "tensor_scale", QH_DT_F32, 1, &pt, err))
        return -1;
    float tensor_scale = *(const float *)pt->data;
    if (!isfinite(tensor_scale) || tensor_scale <= 0)
        return qh_fail(err, "nvfp4: the tensor scale is %g, not a positive number", (double)tensor_scale);
    const uint8_t *scales = ps->data;
    size_t n_blocks = (size_t)w->rows * nb;
    float *d = qh_malloc(n_blocks * sizeof *d);
    for (size_t i = 0; i < n_blocks; i++) {
        if ((scales[i] & 0x7F) == 0x7F || scales[i] & 0x80) {
            free(d);
            return qh_fail(err, "nvfp4: block scale %zu is 0x%02X, E4M3's NaN or negative", i, scales[i]);
        }
        d[i] = qh_e4m3_to_float(scales[i]) * tensor_scale;
    }
    qh_e2m1_decode_blocks(pc->data, d, NV_BLOCK, w);
    free(d);
    return 0;
}

static const qh_param params[] = {{0}};

const qh_method qh_method_nvfp4 = {
    .name = "nvfp4",
    .summary = "NVIDIA NVFP4: E2M1 weights, an E4M3 scale per 16 and an F32 scale per matrix (4.5 bits)",
    .params = params,
    .encode = encode,
    .decode = decode,
};
