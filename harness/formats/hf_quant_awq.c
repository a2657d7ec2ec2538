/* hf_quant_awq.c - AutoAWQ's checkpoints (quant_method "awq"): 4-bit codes with a zero point and
 * an F16 scale per group of inputs, w = (q - z) * s computed as its own dequantize_gemm does in
 * half precision (the product, exact in float, rounded once to F16).
 *
 * version "gemm": qweight int32 (in, out / 8) and qzeros int32 (groups, out / 8), eight 4-bit
 *   codes a word in AWQ's interleaved order (nibble k of a word holds output 8c + {0,2,4,6,1,3,5,7}[k]);
 *   scales F16 (groups, out).
 * version "gemv": qweight int32 (out, in / 8), nibble k of word c holding input 8c + k; qzeros
 *   int32 (out, W) with group g at nibble g of the run, scales F16 (out, 8 W): W is AutoAWQ's
 *   calculate_zeros_width, the group count rounded up to 8 (and to 2 or 4 words for groups of
 *   64 or 32), the padding unused.
 * Other versions (marlin, gemv_fast, exllama, ipex) and zero_point false are refused by name. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/formats/hf_quant.h"

enum { AWQ_GEMM, AWQ_GEMV };

static int awq_configure(const char *path, const void *qc, qh_hfq *q, qh_err *err)
{
    int found, v;
    const char *s;
    if (qh_hfq_json_int(path, qc, "bits", &q->bits, &found, err) != 0) return -1;
    if (!found) q->bits = 4;
    if (q->bits != 4) return qh_fail(err, "%s: quantization_config.bits %d: AutoAWQ writes 4 bits, and qharness reads them", path, q->bits);
    if (qh_hfq_json_int(path, qc, "group_size", &q->group_size, &found, err) != 0) return -1;
    if (!found || q->group_size == 0 || q->group_size < -1)
        return qh_fail(err, "%s: quantization_config.group_size must be -1 or positive", path);
    if (qh_hfq_json_bool(path, qc, "zero_point", &v, &found, err) != 0) return -1;
    if (found && !v) return qh_fail(err, "%s: quantization_config.zero_point false: AWQ without zero points is not read", path);
    if (qh_hfq_json_str(path, qc, "version", &s, err) != 0) return -1;
    if (!s || strcasecmp(s, "gemm") == 0) q->layout = AWQ_GEMM;
    else if (strcasecmp(s, "gemv") == 0) q->layout = AWQ_GEMV;
    else return qh_fail(err, "%s: quantization_config.version '%s' is not read (gemm, gemv are)", path, s);
    char group[48];
    if (q->group_size == -1) snprintf(group, sizeof group, "one group a row");
    else snprintf(group, sizeof group, "groups of %d", q->group_size);
    snprintf(q->desc, sizeof q->desc, "AWQ 4-bit, %s, zero points, %s packing", group, q->layout == AWQ_GEMM ? "GEMM" : "GEMV");
    q->named_bits = 4;
    return 0;
}

static int awq_is_quantized(const qh_hfq *q, const qh_hfq_layer *l)
{
    (void)q;
    return qh_hfq_has(l, "qweight");
}

/* AutoAWQ's calculate_zeros_width */
static int zeros_width(int in, int group)
{
    int mult = group >= 128 ? 1 : group == 64 ? 2 : group == 32 ? 4 : 0;
    if (!mult) return -1;
    int base = (in / group + 7) / 8;
    return (base + mult - 1) / mult * mult;
}

static int awq_layer(const qh_hfq *q, qh_hfq_layer *l, float *w, qh_err *err)
{
    static const int column_of_nibble[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    int in = l->in, out = l->out, group = q->group_size == -1 ? in : q->group_size;
    if (in % group) return qh_fail(err, "%s: AWQ layer '%s': %d inputs are not a whole number of groups of %d", l->st->path, l->base, in, group);
    int G = in / group;
    const qh_st_tensor *qw, *qz, *sc;
    if (q->layout == AWQ_GEMM) {
        if (out % 8) return qh_fail(err, "%s: AWQ layer '%s': %d outputs are not a multiple of 8", l->st->path, l->base, out);
        if (!(qw = qh_hfq_part(l, "qweight", QH_HFQ_CODES, QH_DT_I32, 2, in, out / 8, 0, err)) || !(qz = qh_hfq_part(l, "qzeros", QH_HFQ_ZEROS, QH_DT_I32, 2, G, out / 8, 0, err)) ||
            !(sc = qh_hfq_part(l, "scales", QH_HFQ_SCALES, QH_DT_F16, 2, G, out, 0, err)))
            return -1;
        int nibble_of_column[8];
        for (int k = 0; k < 8; k++) nibble_of_column[column_of_nibble[k]] = k;
        const uint32_t *Q = (const uint32_t *)qw->data, *Z = (const uint32_t *)qz->data;
        const uint16_t *S = (const uint16_t *)sc->data;
        for (int i = 0; i < in; i++) {
            int g = i / group;
            for (int o = 0; o < out; o++) {
                int shift = 4 * nibble_of_column[o % 8];
                int code = (int)((Q[(size_t)i * (out / 8) + o / 8] >> shift) & 15), zero = (int)((Z[(size_t)g * (out / 8) + o / 8] >> shift) & 15);
                w[(size_t)o * in + i] = qh_f16_to_f32(qh_f32_to_f16(qh_f16_to_f32(S[(size_t)g * out + o]) * (float)(code - zero)));
            }
        }
        return 0;
    }
    int W = zeros_width(in, group);
    if (W < 0) return qh_fail(err, "%s: AWQ GEMV layer '%s': groups of %d (AutoAWQ's GEMV has groups of 32, 64 or at least 128)", l->st->path, l->base, group);
    if (in % 8) return qh_fail(err, "%s: AWQ layer '%s': %d inputs are not a multiple of 8", l->st->path, l->base, in);
    if (!(qw = qh_hfq_part(l, "qweight", QH_HFQ_CODES, QH_DT_I32, 2, out, in / 8, 0, err)) || !(qz = qh_hfq_part(l, "qzeros", QH_HFQ_ZEROS, QH_DT_I32, 2, out, W, 0, err)) ||
        !(sc = qh_hfq_part(l, "scales", QH_HFQ_SCALES, QH_DT_F16, 2, out, (int64_t)W * 8, 0, err)))
        return -1;
    const uint32_t *Q = (const uint32_t *)qw->data, *Z = (const uint32_t *)qz->data;
    const uint16_t *S = (const uint16_t *)sc->data;
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) {
            int g = i / group;
            int code = (int)((Q[(size_t)o * (in / 8) + i / 8] >> (4 * (i % 8))) & 15), zero = (int)((Z[(size_t)o * W + g / 8] >> (4 * (g % 8))) & 15);
            w[(size_t)o * in + i] = qh_f16_to_f32(qh_f32_to_f16(qh_f16_to_f32(S[(size_t)o * W * 8 + g]) * (float)(code - zero)));
        }
    return 0;
}

const qh_hfq_format qh_hfq_awq = {
    .quant_method = "awq",
    .tool = "AutoAWQ",
    .configure = awq_configure,
    .is_quantized = awq_is_quantized,
    .dequantize = awq_layer,
};
