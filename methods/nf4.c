/* nf4.c - 4-bit NormalFloat (QLoRA, Dettmers et al. 2023): the 16 levels are quantiles of
 * N(0, 1) normalised to [-1, 1], with an exact zero; per-block absmax scales (F16 here; QLoRA
 * double-quantizes them to 8 bits, which we do not). */
#include "levels.h"

static const float nf4_levels[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

static const qh_param params[] = {
    {"block", QH_PARAM_INT, 64, 8, 1 << 20, NULL, "weights per absmax scale, along a row"},
    {0}};

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    return qh_levels_encode(nf4_levels, (int)qh_spec_get(spec, "block"), w, out);
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    return qh_levels_decode(nf4_levels, (int)qh_spec_get(spec, "block"), in, w, err);
}

const qh_method qh_method_nf4 = {
    .name = "nf4",
    .summary = "4-bit NormalFloat levels (QLoRA) with per-block absmax F16 scales",
    .params = params,
    .encode = encode,
    .decode = decode,
};
