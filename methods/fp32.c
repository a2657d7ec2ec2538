/* fp32.c - baseline: identity: the fp32 weights as they are (32 bits per weight). */
#include "methods/float.h"

static const qh_param params[] = {{0}};

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    return qh_float_encode(QH_DT_F32, w, out);
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    return qh_float_decode(QH_DT_F32, in, w, err);
}

const qh_method qh_method_fp32 = {
    .name = "fp32",
    .summary = "identity: the fp32 weights as they are (32 bits per weight)",
    .params = params,
    .encode = encode,
    .decode = decode,
};
