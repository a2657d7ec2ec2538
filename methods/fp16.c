/* fp16.c - baseline: IEEE half precision (16 bits per weight). */
#include "methods/float.h"

static const qh_param params[] = {{0}};

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    return qh_float_encode(QH_DT_F16, w, out);
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    return qh_float_decode(QH_DT_F16, in, w, err);
}

const qh_method qh_method_fp16 = {
    .name = "fp16",
    .summary = "IEEE half precision (16 bits per weight)",
    .params = params,
    .encode = encode,
    .decode = decode,
};
