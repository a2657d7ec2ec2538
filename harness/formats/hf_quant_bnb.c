/* hf_quant_bnb.c - bitsandbytes 4-bit checkpoints (quant_method "bitsandbytes", load_in_4bit: what
 * transformers saves of a QLoRA model), NF4 with or without double quantization, as Params4bit
 * stores a layer:
 *   weight                                  uint8 (out * in / 2, 1): two codes a byte, the first in
 *                                           the high nibble, the (out, in) weights row-major;
 *   weight.quant_map                        F32 (16): the value of each code;
 *   weight.absmax                           F32 (blocks) the absmax of each block of `blocksize`, or
 *                                           with double quantization uint8 (blocks) codes of it and
 *   weight.nested_absmax, .nested_quant_map F32 (blocks / nested_blocksize rounded up), F32 (256);
 *   weight.quant_state.bitsandbytes__nf4    uint8: JSON {quant_type, blocksize, dtype, shape,
 *                                           nested_blocksize, nested_dtype, nested_offset}.
 * absmax[b] = nested_quant_map[code] * nested_absmax[b / nested_blocksize] + nested_offset and
 * w = quant_map[code] * absmax[block], in float as bitsandbytes's dequantize_blockwise and
 * dequantize_4bit compute them, then rounded to the state's dtype.  FP4 is refused by name:
 * bitsandbytes's CPU backend cannot make or read it, so no file could be checked here; so is
 * LLM.int8 (load_in_8bit). */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/hf_quant.h"

static int bnb_configure(const char *path, const void *qc, qh_hfq *q, qh_err *err)
{
    int found, v4 = 0, v8 = 0, nested = 0;
    const char *s;
    if (qh_hfq_json_bool(path, qc, "load_in_8bit", &v8, &found, err) != 0) return -1;
    if (v8) return qh_fail(err, "%s: quantization_config.load_in_8bit: bitsandbytes's LLM.int8 checkpoints are not read (4-bit NF4 is)", path);
    if (qh_hfq_json_bool(path, qc, "load_in_4bit", &v4, &found, err) != 0) return -1;
    if (!v4) return qh_fail(err, "%s: quantization_config: bitsandbytes without load_in_4bit true is not read", path);
    if (qh_hfq_json_str(path, qc, "bnb_4bit_quant_type", &s, err) != 0) return -1;
    if (s && strcmp(s, "nf4") != 0)
        return qh_fail(err, "%s: quantization_config.bnb_4bit_quant_type '%s' is not read (nf4 is: bitsandbytes's CPU backend makes no other, so "
                       "no other could be checked here)", path, s);
    if (qh_hfq_json_bool(path, qc, "bnb_4bit_use_double_quant", &nested, &found, err) != 0) return -1;
    if (qh_hfq_json_str(path, qc, "bnb_4bit_quant_storage", &s, err) != 0) return -1;
    if (s && strcmp(s, "uint8") != 0) return qh_fail(err, "%s: quantization_config.bnb_4bit_quant_storage '%s' is not read (uint8 is)", path, s);
    q->bits = 4;
    q->layout = nested;
    q->group_size = 64; /* the usual blocksize; each layer's own is in its quant state */
    snprintf(q->desc, sizeof q->desc, "bitsandbytes NF4%s", nested ? ", double-quantized absmax (8-bit, blocks of 256)" : "");
    q->named_bits = 4;
    return 0;
}

static int bnb_is_quantized(const qh_hfq *q, const qh_hfq_layer *l)
{
    (void)q;
    return qh_hfq_has(l, "weight.quant_state.bitsandbytes__nf4") || qh_hfq_has(l, "weight.quant_state.bitsandbytes__fp4");
}

static int json_number(const cJSON *o, const char *key, double *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(j)) return -1;
    *v = j->valuedouble;
    return 0;
}

static float round_to(float x, const char *dtype)
{
    if (strcmp(dtype, "float16") == 0) return qh_f16_to_f32(qh_f32_to_f16(x));
    if (strcmp(dtype, "bfloat16") == 0) return qh_bf16_to_f32(qh_f32_to_bf16(x));
    return x;
}

static int bnb_layer(const qh_hfq *q, qh_hfq_layer *l, float *w, qh_err *err)
{
    (void)q;
    const char *path = l->st->path;
    if (qh_hfq_has(l, "weight.quant_state.bitsandbytes__fp4"))
        return qh_fail(err, "%s: layer '%s' is bitsandbytes FP4: not read (NF4 is)", path, l->base);
    const qh_st_tensor *st = qh_hfq_part(l, "weight.quant_state.bitsandbytes__nf4", QH_HFQ_META, QH_DT_U8, 1, -1, -1, 0, err);
    if (!st) return -1;
    cJSON *state = cJSON_ParseWithLength((const char *)st->data, st->nbytes);
    int rc = -1;
    double blocksize, nested_blocksize = 0, offset = 0;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(state, "dtype"), *shape = cJSON_GetObjectItemCaseSensitive(state, "shape");
    if (!cJSON_IsObject(state) || json_number(state, "blocksize", &blocksize) != 0 || !cJSON_IsString(dtype) || !cJSON_IsArray(shape)) {
        qh_fail(err, "%s: '%s.weight.quant_state.bitsandbytes__nf4' is not bitsandbytes's quant state (JSON with blocksize, dtype, shape)", path, l->base);
        goto cleanup;
    }
    if (strcmp(dtype->valuestring, "float32") != 0 && strcmp(dtype->valuestring, "float16") != 0 && strcmp(dtype->valuestring, "bfloat16") != 0) {
        qh_fail(err, "%s: layer '%s': quant state dtype '%s' (float32, float16, bfloat16 are read)", path, l->base, dtype->valuestring);
        goto cleanup;
    }
    if (cJSON_GetArraySize(shape) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(shape, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(shape, 1)) ||
        cJSON_GetArrayItem(shape, 0)->valuedouble != l->out || cJSON_GetArrayItem(shape, 1)->valuedouble != l->in) {
        qh_fail(err, "%s: layer '%s': the quant state's shape is not the model's (%d, %d)", path, l->base, l->out, l->in);
        goto cleanup;
    }
    size_t n = (size_t)l->out * l->in;
    if (blocksize < 2 || blocksize > 65536 || blocksize != (int)blocksize || n % 2) {
        qh_fail(err, "%s: layer '%s': blocksize %g of %zu weights is not read", path, l->base, blocksize, n);
        goto cleanup;
    }
    size_t bs = (size_t)blocksize, blocks = (n + bs - 1) / bs;
    int nested = cJSON_GetObjectItemCaseSensitive(state, "nested_blocksize") != NULL;
    const qh_st_tensor *codes = qh_hfq_part(l, "weight", QH_HFQ_CODES, QH_DT_U8, 2, (int64_t)n / 2, 1, 0, err);
    const qh_st_tensor *map = codes ? qh_hfq_part(l, "weight.quant_map", QH_HFQ_SCALES, QH_DT_F32, 1, 16, -1, 0, err) : NULL;
    const qh_st_tensor *absmax = map ? qh_hfq_part(l, "weight.absmax", QH_HFQ_SCALES, nested ? QH_DT_U8 : QH_DT_F32, 1, (int64_t)blocks, -1, 0, err) : NULL;
    if (!absmax) goto cleanup;
    float *amax = qh_malloc(blocks * sizeof *amax);
    if (nested) {
        const cJSON *nd = cJSON_GetObjectItemCaseSensitive(state, "nested_dtype");
        if (json_number(state, "nested_blocksize", &nested_blocksize) != 0 || json_number(state, "nested_offset", &offset) != 0 ||
            nested_blocksize < 1 || nested_blocksize != (int)nested_blocksize || !cJSON_IsString(nd) || strcmp(nd->valuestring, "float32") != 0) {
            free(amax);
            qh_fail(err, "%s: layer '%s': the nested quant state needs nested_blocksize, nested_offset and nested_dtype float32", path, l->base);
            goto cleanup;
        }
        size_t nbs = (size_t)nested_blocksize;
        const qh_st_tensor *nabs = qh_hfq_part(l, "weight.nested_absmax", QH_HFQ_SCALES, QH_DT_F32, 1, (int64_t)((blocks + nbs - 1) / nbs), -1, 0, err);
        const qh_st_tensor *nmap = nabs ? qh_hfq_part(l, "weight.nested_quant_map", QH_HFQ_SCALES, QH_DT_F32, 1, 256, -1, 0, err) : NULL;
        if (!nmap) {
            free(amax);
            goto cleanup;
        }
        const uint8_t *c8 = absmax->data;
        const float *na = (const float *)nabs->data, *nm = (const float *)nmap->data;
        float off = (float)offset;
        for (size_t b = 0; b < blocks; b++) {
            /* rounded before the offset is added, as bitsandbytes's two steps are: volatile keeps the
             * compiler from fusing them into one multiply-add (one rounding) where FMA exists */
            volatile float a = nm[c8[b]] * na[b / nbs];
            amax[b] = a + off;
        }
    } else {
        memcpy(amax, absmax->data, blocks * sizeof *amax);
    }
    const uint8_t *packed = codes->data;
    const float *values = (const float *)map->data;
    for (size_t k = 0; k < n; k++) {
        unsigned code = k % 2 ? packed[k / 2] & 15 : packed[k / 2] >> 4;
        w[k] = round_to(values[code] * amax[k / bs], dtype->valuestring);
    }
    free(amax);
    rc = 0;
cleanup:
    cJSON_Delete(state);
    return rc;
}

const qh_hfq_format qh_hfq_bnb = {
    .quant_method = "bitsandbytes",
    .tool = "bitsandbytes (transformers)",
    .configure = bnb_configure,
    .is_quantized = bnb_is_quantized,
    .dequantize = bnb_layer,
};
