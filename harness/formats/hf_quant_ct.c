/* hf_quant_ct.c - compressed-tensors checkpoints (quant_method "compressed-tensors", written by
 * llm-compressor and served by vLLM), weight-only integer schemes:
 *   format "pack-quantized": weight_packed int32 (out, ceil(in * bits / 32)), each row one
 *     little-endian stream of bits-bit codes stored as q + 2^(bits-1); weight_scale (out, groups)
 *     in the model's float type; weight_zero_point (asymmetric only) int32
 *     (ceil(out * bits / 32), groups), each column a stream of zero + 2^(bits-1) along the
 *     outputs; weight_shape int64 (out, in);
 *   format "int-quantized" / "naive-quantized": weight int8 (out, in), weight_scale, and
 *     weight_zero_point int8 (out, groups) when asymmetric.
 * w = (q - z) * s in the scale's type, as compressed-tensors' _dequantize computes it: the
 * difference exact, the product rounded once.  Strategies: group, channel, tensor.  Refused by
 * name: another format (float, nvfp4, marlin-24, sparse), more than one config group, a status
 * other than "compressed", activation quantization, actorder, dynamic weights, float types. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/hf_quant.h"

enum { CT_PACKED, CT_NAIVE };

static int ct_configure(const char *path, const void *qc_, qh_hfq *q, qh_err *err)
{
    const cJSON *qc = qc_;
    const char *s;
    int found, v;
    if (qh_hfq_json_str(path, qc, "format", &s, err) != 0) return -1;
    if (s && strcmp(s, "pack-quantized") == 0) q->layout = CT_PACKED;
    else if (s && (strcmp(s, "int-quantized") == 0 || strcmp(s, "naive-quantized") == 0)) q->layout = CT_NAIVE;
    else return qh_fail(err, "%s: quantization_config.format '%s' is not read (pack-quantized, int-quantized, naive-quantized are)", path, s ? s : "(missing)");
    if (qh_hfq_json_str(path, qc, "quantization_status", &s, err) != 0) return -1;
    if (!s || strcmp(s, "compressed") != 0)
        return qh_fail(err, "%s: quantization_config.quantization_status '%s': only compressed checkpoints are read", path, s ? s : "(missing)");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(qc, "config_groups");
    if (!cJSON_IsObject(groups) || cJSON_GetArraySize(groups) != 1)
        return qh_fail(err, "%s: quantization_config.config_groups: qharness reads exactly one config group", path);
    const cJSON *g = groups->child;
    const cJSON *acts = cJSON_GetObjectItemCaseSensitive(g, "input_activations"), *outs = cJSON_GetObjectItemCaseSensitive(g, "output_activations");
    if ((acts && !cJSON_IsNull(acts)) || (outs && !cJSON_IsNull(outs)))
        return qh_fail(err, "%s: config group '%s' quantizes activations: weight-only schemes are read", path, g->string);
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(g, "targets");
    if (!cJSON_IsArray(targets) || cJSON_GetArraySize(targets) != 1 || !cJSON_IsString(targets->child) || strcmp(targets->child->valuestring, "Linear") != 0)
        return qh_fail(err, "%s: config group '%s': targets other than [\"Linear\"] are not read", path, g->string);
    const cJSON *wts = cJSON_GetObjectItemCaseSensitive(g, "weights");
    if (!cJSON_IsObject(wts)) return qh_fail(err, "%s: config group '%s' has no weights", path, g->string);
    if (qh_hfq_json_str(path, wts, "type", &s, err) != 0) return -1;
    if (!s || strcmp(s, "int") != 0) return qh_fail(err, "%s: weights.type '%s': integer weights are read", path, s ? s : "(missing)");
    if (qh_hfq_json_int(path, wts, "num_bits", &q->bits, &found, err) != 0) return -1;
    if (!found || q->bits < 1 || q->bits > 8) return qh_fail(err, "%s: weights.num_bits must be 1 to 8", path);
    if (q->layout == CT_NAIVE && q->bits != 8) return qh_fail(err, "%s: int-quantized weights of %d bits: stored as int8, 8 bits are read", path, q->bits);
    q->symmetric = 1;
    if (qh_hfq_json_bool(path, wts, "symmetric", &v, &found, err) != 0) return -1;
    if (found) q->symmetric = v;
    if (qh_hfq_json_bool(path, wts, "dynamic", &v, &found, err) != 0) return -1;
    if (found && v) return qh_fail(err, "%s: weights.dynamic true is not read", path);
    if (qh_hfq_json_str(path, wts, "actorder", &s, err) != 0) return -1;
    if (s) return qh_fail(err, "%s: weights.actorder '%s' (weight_g_idx) is not read", path, s);
    if (qh_hfq_json_str(path, wts, "strategy", &s, err) != 0) return -1;
    if (s && strcmp(s, "group") == 0) {
        if (qh_hfq_json_int(path, wts, "group_size", &q->group_size, &found, err) != 0) return -1;
        if (!found || q->group_size <= 0) return qh_fail(err, "%s: weights.strategy group needs a positive group_size", path);
    } else if (s && strcmp(s, "channel") == 0) {
        q->group_size = 0;
    } else if (s && strcmp(s, "tensor") == 0) {
        q->group_size = -1;
    } else {
        return qh_fail(err, "%s: weights.strategy '%s' is not read (group, channel, tensor are)", path, s ? s : "(missing)");
    }
    char group[48];
    if (q->group_size > 0) snprintf(group, sizeof group, "groups of %d", q->group_size);
    else snprintf(group, sizeof group, "%s", q->group_size == 0 ? "a scale per output channel" : "one scale a tensor");
    snprintf(q->desc, sizeof q->desc, "compressed-tensors int%d, %s, %s, %s", q->bits, group, q->symmetric ? "symmetric" : "asymmetric",
             q->layout == CT_PACKED ? "pack-quantized" : "int-quantized");
    q->named_bits = q->bits;
    return 0;
}

static int ct_is_quantized(const qh_hfq *q, const qh_hfq_layer *l)
{
    return qh_hfq_has(l, q->layout == CT_PACKED ? "weight_packed" : "weight_scale");
}

/* float(x) rounded to the scale's type */
static float to_type(float x, qh_dtype dt)
{
    if (dt == QH_DT_F16) return qh_f16_to_f32(qh_f32_to_f16(x));
    if (dt == QH_DT_BF16) return qh_bf16_to_f32(qh_f32_to_bf16(x));
    return x;
}

static float scale_at(const qh_st_tensor *t, size_t k)
{
    if (t->dtype == QH_DT_F16) return qh_f16_to_f32(((const uint16_t *)t->data)[k]);
    if (t->dtype == QH_DT_BF16) return qh_bf16_to_f32(((const uint16_t *)t->data)[k]);
    return ((const float *)t->data)[k];
}

static int ct_layer(const qh_hfq *q, qh_hfq_layer *l, float *w, qh_err *err)
{
    int in = l->in, out = l->out, bits = q->bits, gs = q->group_size;
    if (gs > 0 && in % gs) return qh_fail(err, "%s: layer '%s': %d inputs are not a whole number of groups of %d", l->st->path, l->base, in, gs);
    int G = gs > 0 ? in / gs : 1, rows = gs < 0 ? 1 : out;
    /* the scale's type is the model's: whichever float type the file holds */
    const qh_st_tensor *sc = NULL;
    static const qh_dtype floats[] = {QH_DT_F32, QH_DT_BF16, QH_DT_F16};
    qh_err ignored;
    for (int k = 0; k < 3 && !sc; k++)
        if (gs < 0) {
            if (!(sc = qh_hfq_part(l, "weight_scale", QH_HFQ_SCALES, floats[k], 1, 1, -1, 1, &ignored))) sc = qh_hfq_part(l, "weight_scale", QH_HFQ_SCALES, floats[k], 2, 1, 1, 1, &ignored);
        } else {
            sc = qh_hfq_part(l, "weight_scale", QH_HFQ_SCALES, floats[k], 2, out, G, 1, &ignored);
        }
    if (!sc) return qh_fail(err, "%s: tensor '%s.weight_scale' is missing, or not F32, BF16 or F16 of shape (%d, %d)", l->st->path, l->base, rows, G);
    int offset = 1 << (bits - 1);
    const qh_st_tensor *zp = NULL;
    if (q->layout == CT_PACKED) {
        const qh_st_tensor *wp = qh_hfq_part(l, "weight_packed", QH_HFQ_CODES, QH_DT_I32, 2, out, ((int64_t)in * bits + 31) / 32, 0, err);
        const qh_st_tensor *shape = qh_hfq_part(l, "weight_shape", QH_HFQ_META, QH_DT_I64, 1, 2, -1, 0, err);
        if (!wp || !shape) return -1;
        const int64_t *sh = (const int64_t *)shape->data;
        if (sh[0] != out || sh[1] != in)
            return qh_fail(err, "%s: '%s.weight_shape' says (%lld, %lld), the model (%d, %d)", l->st->path, l->base, (long long)sh[0], (long long)sh[1], out, in);
        if (!q->symmetric && !(zp = qh_hfq_part(l, "weight_zero_point", QH_HFQ_ZEROS, QH_DT_I32, 2, gs < 0 ? 1 : ((int64_t)out * bits + 31) / 32, G, 0, err)))
            return -1;
        const int32_t *P = (const int32_t *)wp->data;
        size_t words = (size_t)wp->shape[1];
        for (int o = 0; o < out; o++) {
            int r = gs < 0 ? 0 : o;
            for (int i = 0; i < in; i++) {
                int g = gs > 0 ? i / gs : 0;
                int code = (int)qh_hfq_code(P + (size_t)o * words, 1, bits, (size_t)i) - offset;
                int zero = zp ? (int)qh_hfq_code((const int32_t *)zp->data + g, (size_t)G, bits, (size_t)r) - offset : 0;
                w[(size_t)o * in + i] = to_type((float)(code - zero) * scale_at(sc, (size_t)r * G + g), sc->dtype);
            }
        }
        return 0;
    }
    const qh_st_tensor *wq = qh_hfq_part(l, "weight", QH_HFQ_CODES, QH_DT_I8, 2, out, in, 0, err);
    if (!wq) return -1;
    if (!q->symmetric && !(zp = qh_hfq_part(l, "weight_zero_point", QH_HFQ_ZEROS, QH_DT_I8, 2, rows, G, 0, err))) return -1;
    const int8_t *Q = (const int8_t *)wq->data;
    for (int o = 0; o < out; o++) {
        int r = gs < 0 ? 0 : o;
        for (int i = 0; i < in; i++) {
            int g = gs > 0 ? i / gs : 0;
            int zero = zp ? ((const int8_t *)zp->data)[(size_t)r * G + g] : 0;
            w[(size_t)o * in + i] = to_type((float)(Q[(size_t)o * in + i] - zero) * scale_at(sc, (size_t)r * G + g), sc->dtype);
        }
    }
    return 0;
}

const qh_hfq_format qh_hfq_ct = {
    .quant_method = "compressed-tensors",
    .tool = "llm-compressor (compressed-tensors)",
    .configure = ct_configure,
    .is_quantized = ct_is_quantized,
    .dequantize = ct_layer,
};
