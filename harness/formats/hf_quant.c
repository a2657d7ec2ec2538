/* hf_quant.c - the table of quantized Hugging Face checkpoint formats, their configs and the
 * tensors of a layer; see hf_quant.h. */
#include "harness/formats/hf_quant.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const qh_hfq_format *const formats[] = {&qh_hfq_gptq, &qh_hfq_awq, &qh_hfq_ct, &qh_hfq_bnb};
#define N_FORMATS (sizeof formats / sizeof *formats)

int qh_hfq_json_int(const char *path, const void *obj, const char *key, int *v, int *found, qh_err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive((const cJSON *)obj, key);
    *found = j && !cJSON_IsNull(j);
    if (!*found) return 0;
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= -1e6 && j->valuedouble <= 1e6) || j->valuedouble != (double)(int)j->valuedouble)
        return qh_fail(err, "%s: quantization_config.%s must be an integer", path, key);
    *v = (int)j->valuedouble;
    return 0;
}

int qh_hfq_json_bool(const char *path, const void *obj, const char *key, int *v, int *found, qh_err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive((const cJSON *)obj, key);
    *found = j && !cJSON_IsNull(j);
    if (!*found) return 0;
    if (!cJSON_IsBool(j)) return qh_fail(err, "%s: quantization_config.%s must be true or false", path, key);
    *v = cJSON_IsTrue(j);
    return 0;
}

int qh_hfq_json_str(const char *path, const void *obj, const char *key, const char **v, qh_err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive((const cJSON *)obj, key);
    *v = NULL;
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsString(j)) return qh_fail(err, "%s: quantization_config.%s must be a string", path, key);
    *v = j->valuestring;
    return 0;
}

int qh_hfq_from_config(const char *config_path, qh_hfq *q, int *present, qh_err *err)
{
    char *text = NULL;
    size_t len;
    cJSON *root = NULL;
    int rc = -1;
    *present = 0;
    if (qh_read_file(config_path, &text, &len, err) != 0) return -1;
    root = cJSON_ParseWithLength(text, len);
    if (!root) {
        qh_fail(err, "%s: not valid JSON", config_path);
        goto cleanup;
    }
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    if (!qc || cJSON_IsNull(qc)) {
        rc = 0;
        goto cleanup;
    }
    if (!cJSON_IsObject(qc)) {
        qh_fail(err, "%s: quantization_config must be an object", config_path);
        goto cleanup;
    }
    const char *method;
    if (qh_hfq_json_str(config_path, qc, "quant_method", &method, err) != 0) goto cleanup;
    char known[160] = "";
    const qh_hfq_format *f = NULL;
    for (size_t i = 0; i < N_FORMATS; i++) {
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", formats[i]->quant_method);
        if (method && strcmp(method, formats[i]->quant_method) == 0) f = formats[i];
    }
    if (!f) {
        qh_fail(err, "%s: quantization_config.quant_method '%s' is not read by qharness (it reads %s)", config_path,
                method ? method : "(missing)", known);
        goto cleanup;
    }
    memset(q, 0, sizeof *q);
    q->fmt = f;
    if (f->configure(config_path, qc, q, err) != 0) goto cleanup;
    *present = 1;
    rc = 0;
cleanup:
    cJSON_Delete(root);
    free(text);
    return rc;
}

int qh_hfq_layer_load(const qh_hfq *q, qh_hfq_layer *l, float *w_out_in, qh_err *err)
{
    if (!q->fmt->is_quantized(q, l)) return 0;
    return q->fmt->dequantize(q, l, w_out_in, err) == 0 ? 1 : -1;
}

int qh_hfq_has(const qh_hfq_layer *l, const char *suffix)
{
    char name[320];
    snprintf(name, sizeof name, "%s.%s", l->base, suffix);
    return qh_st_find(l->st, name) != NULL;
}

const qh_st_tensor *qh_hfq_part(qh_hfq_layer *l, const char *suffix, qh_hfq_role role, qh_dtype dt, int ndim, int64_t d0, int64_t d1,
                                int optional, qh_err *err)
{
    char name[320];
    snprintf(name, sizeof name, "%s.%s", l->base, suffix);
    const qh_st_tensor *t = qh_st_find(l->st, name);
    if (!t) {
        if (!optional) qh_fail(err, "%s: tensor '%s' is missing", l->st->path, name);
        return NULL;
    }
    int64_t want[2] = {d0, d1};
    int ok = t->dtype == dt && t->ndim == ndim;
    for (int i = 0; ok && i < ndim && i < 2; i++) ok = want[i] < 0 || t->shape[i] == want[i];
    if (!ok) {
        char got[96] = "", exp[96] = "";
        for (int i = 0; i < t->ndim && i < 4; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        for (int i = 0; i < ndim && i < 2; i++) {
            if (want[i] < 0) snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s*", i ? ", " : "");
            else snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", i ? ", " : "", (long long)want[i]);
        }
        qh_fail(err, "%s: tensor '%s' is %s (%s) where a layer of %d outputs and %d inputs needs %s (%s)", l->st->path, name,
                qh_dtype_name(t->dtype), got, l->out, l->in, qh_dtype_name(dt), exp);
        return NULL;
    }
    /* the layers are read in place, so each tensor must sit at a multiple of its element size in
     * the file, as every writer of safetensors puts it (the format itself does not promise it) */
    if ((uintptr_t)t->data % qh_dtype_size(dt)) {
        qh_fail(err, "%s: tensor '%s' starts at byte %zu of the data, not a multiple of its %zu-byte elements", l->st->path, name, t->begin,
                qh_dtype_size(dt));
        return NULL;
    }
    l->used[t - l->st->tensors] = 1;
    l->bytes += t->nbytes;
    l->bytes_by_role[role] += t->nbytes;
    return t;
}

unsigned qh_hfq_code(const int32_t *words, size_t stride, int bits, size_t index)
{
    size_t p = index * (size_t)bits, w = p / 32;
    unsigned off = (unsigned)(p % 32);
    uint32_t v = (uint32_t)words[w * stride] >> off;
    if (off + (unsigned)bits > 32) v |= (uint32_t)words[(w + 1) * stride] << (32 - off);
    return v & ((1u << bits) - 1);
}
