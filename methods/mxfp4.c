/* mxfp4.c - OCP MXFP4 (OCP Microscaling Formats v1.0, 2023): blocks of 32 consecutive weights
 * along a row share one E8M0 scale X = 2^(floor(log2(absmax)) - 2), the largest power of two
 * of the block over the largest power of two of E2M1 (4); each weight is stored as the E2M1
 * value nearest to w / X, ties to even, values past 6 saturated to 6 (section 6.3's
 * conversion).  4 + 8/32 = 4.25 bits per weight.  A row whose length is not a multiple of 32
 * ends in a shorter block (the specification's blocks are 32; a GGUF MXFP4 tensor needs rows
 * that are).  ggml's MXFP4 type stores the same numbers, interleaved, and breaks ties toward
 * the smaller magnitude (harness/formats/ggml_types.c). */
#include "methods/microscaling.h"
#include "methods/method.h"

#include <math.h>
#include <stdlib.h>

enum { MX_BLOCK = 32, E2M1_EMAX = 2 };

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    (void)spec, (void)calib, (void)err;
    int nb = qh_groups_per_row(MX_BLOCK, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    uint8_t *codes = qh_malloc(n);
    uint8_t *scales = qh_packed_add(out, "scales", QH_DT_U8, w->rows, nb);
#pragma omp parallel for
    for (int r = 0; r < w->rows; r++)
        for (int b = 0; b < nb; b++) {
            int c0 = b * MX_BLOCK, len = c0 + MX_BLOCK <= w->cols ? MX_BLOCK : w->cols - c0;
            const float *src = w->data + (size_t)r * w->cols + c0;
            float amax = 0;
            for (int i = 0; i < len; i++) amax = fmaxf(amax, fabsf(src[i]));
            uint8_t e = qh_e8m0_shared_scale(amax, E2M1_EMAX);
            scales[(size_t)r * nb + b] = e;
            for (int i = 0; i < len; i++) /* w / 2^k is exact: no rounding before the element's */
                codes[(size_t)r * w->cols + c0 + i] = qh_e2m1_from_float(ldexpf(src[i], 127 - (int)e));
        }
    qh_bits_pack(qh_packed_add(out, "codes", QH_DT_U8, (int64_t)qh_bits_bytes(n, 4), 0), codes, n, 4);
    free(codes);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    (void)spec;
    int nb = qh_groups_per_row(MX_BLOCK, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    const qh_part *pc, *ps;
    if (qh_packed_expect(in, "codes", QH_DT_U8, qh_bits_bytes(n, 4), &pc, err) ||
        qh_packed_expect(in, "scales", QH_DT_U8, (size_t)w->rows * nb, &ps, err))
        return -1;
    const uint8_t *scales = ps->data;
    size_t n_blocks = (size_t)w->rows * nb;
    float *x = qh_malloc(n_blocks * sizeof *x);
    for (size_t i = 0; i < n_blocks; i++) {
        if (scales[i] == 0xFF) {
            free(x);
            return qh_fail(err, "mxfp4: scale %zu is E8M0's NaN (0xFF)", i);
        }
        x[i] = qh_e8m0_to_float(scales[i]);
    }
    qh_e2m1_decode_blocks(pc->data, x, MX_BLOCK, w);
    free(x);
    return 0;
}

static const qh_param params[] = {{0}};

const qh_method qh_method_mxfp4 = {
    .name = "mxfp4",
    .summary = "OCP MXFP4: E2M1 weights, one E8M0 power-of-two scale per 32 (4.25 bits)",
    .params = params,
    .encode = encode,
    .decode = decode,
};
