/* gptq.c - GPTQ's packed codes and zero points unpacked, and the layer dequantized; see gptq.h. */
#include "harness/formats/gptq.h"

#include <stdlib.h>
#include <string.h>

#include "harness/base/dtype.h"
#include "harness/formats/hf_quant.h"

int qh_gptq_dequantize(const qh_gptq_layout *l, const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales,
                       const int32_t *g_idx, uint16_t *w, qh_err *err)
{
    int bits = l->bits, in = l->in, out = l->out, G = l->n_groups;
    if (bits != 2 && bits != 3 && bits != 4 && bits != 8) return qh_fail(err, "GPTQ: %d bits: qharness reads 2, 3, 4 and 8", bits);
    if (in <= 0 || out <= 0 || in % 32 || out % 32)
        return qh_fail(err, "GPTQ: a %d x %d layer: both widths must be positive multiples of 32", in, out);
    if (G <= 0 || G > in) return qh_fail(err, "GPTQ: %d groups for %d inputs", G, in);
    for (int i = 0; i < in; i++)
        if (g_idx[i] < 0 || g_idx[i] >= G) return qh_fail(err, "GPTQ: g_idx[%d] is %d, not a group (0 .. %d)", i, g_idx[i], G - 1);
    unsigned mask = (1u << bits) - 1;
    size_t zcols = (size_t)out / 32 * bits;
    for (int i = 0; i < in; i++) {
        int g = g_idx[i];
        const int32_t *zrow = qzeros + (size_t)g * zcols;
        for (int o = 0; o < out; o++) {
            /* column o of qweight and row g of qzeros are each one stream of codes */
            int q = (int)qh_hfq_code(qweight + o, (size_t)out, bits, (size_t)i);
            unsigned zs = qh_hfq_code(zrow, 1, bits, (size_t)o);
            int z = (int)(l->zeros_minus_one ? (zs + 1) & mask : zs);
            w[(size_t)i * out + o] = qh_f32_to_f16(qh_f16_to_f32(scales[(size_t)g * out + o]) * (float)(q - z));
        }
    }
    return 0;
}

/* ---- the row of hf_quant.c's table: a Hugging Face directory written by AutoGPTQ or GPTQModel ---- */

static int gptq_configure(const char *path, const void *qc, qh_hfq *q, qh_err *err)
{
    int found, v;
    const char *s;
    if (qh_hfq_json_int(path, qc, "bits", &q->bits, &found, err) != 0) return -1;
    if (!found || (q->bits != 2 && q->bits != 3 && q->bits != 4 && q->bits != 8))
        return qh_fail(err, "%s: quantization_config.bits: GPTQ checkpoints of 2, 3, 4 or 8 bits are read", path);
    if (qh_hfq_json_int(path, qc, "group_size", &q->group_size, &found, err) != 0) return -1;
    if (!found || q->group_size == 0 || q->group_size < -1)
        return qh_fail(err, "%s: quantization_config.group_size must be -1 (one group a column) or positive", path);
    q->symmetric = 1;
    if (qh_hfq_json_bool(path, qc, "sym", &v, &found, err) != 0) return -1;
    if (found) q->symmetric = v;
    if (qh_hfq_json_bool(path, qc, "desc_act", &v, &found, err) != 0) return -1;
    if (found) q->act_order = v;
    if (qh_hfq_json_bool(path, qc, "lm_head", &v, &found, err) != 0) return -1;
    if (found && v) return qh_fail(err, "%s: quantization_config.lm_head true: GPTQModel's quantized head is not read", path);
    if (qh_hfq_json_bool(path, qc, "is_marlin_format", &v, &found, err) != 0) return -1;
    if (found && v) return qh_fail(err, "%s: quantization_config.is_marlin_format: AutoGPTQ's Marlin repacking is not read", path);
    q->zeros_minus_one = 1;
    if (qh_hfq_json_str(path, qc, "checkpoint_format", &s, err) != 0) return -1;
    if (s && strcmp(s, "gptq_v2") == 0) q->zeros_minus_one = 0;
    else if (s && strcmp(s, "gptq") != 0)
        return qh_fail(err, "%s: quantization_config.checkpoint_format '%s' is not read (gptq, gptq_v2 are)", path, s);
    if (qh_hfq_json_str(path, qc, "pack_dtype", &s, err) != 0) return -1;
    if (s && strcmp(s, "int32") != 0) return qh_fail(err, "%s: quantization_config.pack_dtype '%s' is not read (int32 is)", path, s);
    char group[48];
    if (q->group_size == -1) snprintf(group, sizeof group, "one group a column");
    else snprintf(group, sizeof group, "groups of %d", q->group_size);
    snprintf(q->desc, sizeof q->desc, "GPTQ %d-bit, %s, %s%s (%s)", q->bits, group, q->symmetric ? "symmetric" : "asymmetric",
             q->act_order ? ", act-order" : "", q->zeros_minus_one ? "checkpoint_format gptq: zeros stored minus one" : "checkpoint_format gptq_v2");
    q->named_bits = q->bits;
    return 0;
}

static int gptq_is_quantized(const qh_hfq *q, const qh_hfq_layer *l)
{
    (void)q;
    return qh_hfq_has(l, "qweight");
}

static int gptq_layer(const qh_hfq *q, qh_hfq_layer *l, float *w, qh_err *err)
{
    int in = l->in, out = l->out, bits = q->bits;
    if (in % 32 || out % 32) return qh_fail(err, "%s: GPTQ layer '%s' is %d x %d: both widths must be multiples of 32", l->st->path, l->base, out, in);
    int G = q->group_size == -1 ? 1 : (in + q->group_size - 1) / q->group_size;
    const qh_st_tensor *qw = qh_hfq_part(l, "qweight", QH_HFQ_CODES, QH_DT_I32, 2, in / 32 * bits, out, 0, err), *qz, *sc, *gi;
    if (!qw || !(qz = qh_hfq_part(l, "qzeros", QH_HFQ_ZEROS, QH_DT_I32, 2, G, out / 32 * bits, 0, err)) ||
        !(sc = qh_hfq_part(l, "scales", QH_HFQ_SCALES, QH_DT_F16, 2, G, out, 0, err)))
        return -1;
    gi = qh_hfq_part(l, "g_idx", QH_HFQ_INDICES, QH_DT_I32, 1, in, -1, 1, err);
    if (!gi && qh_hfq_has(l, "g_idx")) return -1; /* there, but shaped otherwise */
    if (!gi && q->act_order) return qh_fail(err, "%s: GPTQ layer '%s': desc_act needs its g_idx, which is missing", l->st->path, l->base);
    int32_t *g_idx = qh_malloc((size_t)in * sizeof *g_idx);
    if (gi) memcpy(g_idx, gi->data, (size_t)in * sizeof *g_idx);
    else
        for (int i = 0; i < in; i++) g_idx[i] = q->group_size == -1 ? 0 : i / q->group_size;
    qh_gptq_layout layout = {.bits = bits, .in = in, .out = out, .n_groups = G, .zeros_minus_one = q->zeros_minus_one};
    uint16_t *h = qh_malloc((size_t)in * out * sizeof *h);
    int rc = qh_gptq_dequantize(&layout, (const int32_t *)qw->data, (const int32_t *)qz->data, (const uint16_t *)sc->data, g_idx, h, err);
    if (rc != 0) {
        qh_err why = *err;
        qh_fail(err, "%s: layer '%s': %s", l->st->path, l->base, why.msg);
    } else
        for (int i = 0; i < in; i++)
            for (int o = 0; o < out; o++) w[(size_t)o * in + i] = qh_f16_to_f32(h[(size_t)i * out + o]);
    free(h);
    free(g_idx);
    return rc;
}

const qh_hfq_format qh_hfq_gptq = {
    .quant_method = "gptq",
    .tool = "AutoGPTQ / GPTQModel",
    .configure = gptq_configure,
    .is_quantized = gptq_is_quantized,
    .dequantize = gptq_layer,
};
