/* fp4.c - 4-bit float E2M1 (1 sign, 2 exponent, 1 mantissa bit): magnitudes
 * {0, 0.5, 1, 1.5, 2, 3, 4, 6}, with per-block absmax F16 scales mapping absmax to 6. */
#include "methods/levels.h"

static const float fp4_levels[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                                     -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

static const qh_param params[] = {
    {"block", QH_PARAM_INT, 64, 8, 1 << 20, NULL, "weights per absmax scale, along a row"},
    {0}};

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    return qh_levels_encode(fp4_levels, (int)qh_spec_get(spec, "block"), w, out);
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    return qh_levels_decode(fp4_levels, (int)qh_spec_get(spec, "block"), in, w, err);
}

const qh_method qh_method_fp4 = {
    .name = "fp4",
    .summary = "4-bit float E2M1 levels with per-block absmax F16 scales",
    .params = params,
    .encode = encode,
    .decode = decode,
};
