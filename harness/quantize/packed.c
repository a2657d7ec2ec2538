/* packed.c - the packed file: a quantized model as safetensors, written and read back; see
 * packed.h. */
#include "harness/quantize/packed.h"

#include <cJSON.h>
#include <math.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "harness/base/gemm.h"
#include "harness/formats/safetensors.h"

static void *to_dtype(const float *x, size_t n, qh_dtype dt)
{
    void *out = qh_malloc(n * qh_dtype_size(dt));
    for (size_t i = 0; i < n; i++) {
        if (dt == QH_DT_F32) ((float *)out)[i] = x[i];
        else if (dt == QH_DT_F16) ((uint16_t *)out)[i] = qh_f32_to_f16(x[i]);
        else ((uint16_t *)out)[i] = qh_f32_to_bf16(x[i]);
    }
    return out;
}

static const qh_qtensor *find_q(const qh_quant_result *res, const char *name)
{
    for (int i = 0; i < res->n_q; i++)
        if (strcmp(res->q[i].name, name) == 0) return &res->q[i];
    return NULL;
}

int qh_quant_write(const char *path, const qh_model *m, const qh_quant_result *res, qh_err *err)
{
    int cap = m->n_tensors + 1;
    for (int i = 0; i < res->n_q; i++) cap += res->q[i].packed.n_parts;
    qh_st_entry *e = qh_calloc((size_t)cap, sizeof *e);
    char **names = qh_calloc((size_t)cap, sizeof *names);
    void **owned = qh_calloc((size_t)cap, sizeof *owned);
    int n = 0;
    cJSON *meta = cJSON_CreateObject(), *tensors = NULL;
    char *meta_text = NULL;
    cJSON_AddStringToObject(meta, "format", "qharness-packed-1");
    cJSON_AddStringToObject(meta, "harness_version", QH_VERSION);
    /* the source as an absolute path, so that the file means the same from any directory; its
     * sha256 and the tokenizer's are what identify it */
    char source_abs[PATH_MAX];
    cJSON_AddStringToObject(meta, "source_model", realpath(m->dir, source_abs) ? source_abs : m->dir);
    if (res->tokenizer_sha256[0]) cJSON_AddStringToObject(meta, "tokenizer_sha256", res->tokenizer_sha256);
    cJSON_AddStringToObject(meta, "source_sha256", res->source_sha256);
    cJSON_AddStringToObject(meta, "method", res->spec);
    cJSON_AddStringToObject(meta, "kept_dtype", qh_dtype_name(res->kept_dtype));
    if (res->calib_desc[0]) cJSON_AddStringToObject(meta, "calibration", res->calib_desc);
    cJSON_AddNumberToObject(meta, "parameters", (double)m->n_params);
    cJSON *cfg = cJSON_AddObjectToObject(meta, "config");
    cJSON_AddNumberToObject(cfg, "n_vocab", m->cfg.n_vocab);
    cJSON_AddNumberToObject(cfg, "n_ctx", m->cfg.n_ctx);
    cJSON_AddNumberToObject(cfg, "n_embd", m->cfg.n_embd);
    cJSON_AddNumberToObject(cfg, "n_head", m->cfg.n_head);
    cJSON_AddNumberToObject(cfg, "n_layer", m->cfg.n_layer);
    cJSON_AddNumberToObject(cfg, "ln_eps", m->cfg.ln_eps);
    cJSON_AddBoolToObject(cfg, "head_tied", m->head_tied);
    if (qh_config_arch(&m->cfg)->packed_arch_keys) {
        cJSON_AddStringToObject(cfg, "architecture", qh_config_arch(&m->cfg)->name);
        cJSON_AddNumberToObject(cfg, "n_kv_head", qh_config_kv_heads(&m->cfg));
        cJSON_AddNumberToObject(cfg, "n_ff", qh_config_ff(&m->cfg));
        cJSON_AddNumberToObject(cfg, "rope_theta", m->cfg.rope_theta);
        if (m->cfg.head_dim) cJSON_AddNumberToObject(cfg, "head_dim", m->cfg.head_dim);
        if (m->cfg.swa_window) { /* Gemma 3's alternating sliding-window layers */
            cJSON_AddNumberToObject(cfg, "swa_window", m->cfg.swa_window);
            cJSON_AddNumberToObject(cfg, "swa_period", m->cfg.swa_period);
            cJSON_AddNumberToObject(cfg, "rope_theta_swa", m->cfg.rope_theta_swa);
        }
    }
    tensors = cJSON_AddArrayToObject(meta, "quantized");
    for (int t = 0; t < m->n_tensors; t++) {
        const qh_tensor *tn = &m->tensors[t];
        const qh_qtensor *q = find_q(res, tn->name);
        if (!q) {
            names[n] = qh_strdup(tn->name);
            owned[n] = to_dtype(tn->data, (size_t)tn->rows * tn->cols, res->kept_dtype);
            e[n] = (qh_st_entry){names[n], res->kept_dtype, tn->ndim, {0}, owned[n],
                                 (size_t)tn->rows * tn->cols * qh_dtype_size(res->kept_dtype)};
            if (tn->ndim == 2) { e[n].shape[0] = tn->rows; e[n].shape[1] = tn->cols; }
            else e[n].shape[0] = tn->cols;
            n++;
            continue;
        }
        cJSON *jt = cJSON_CreateObject();
        cJSON_AddStringToObject(jt, "name", q->name);
        cJSON_AddStringToObject(jt, "spec", q->spec);
        cJSON_AddNumberToObject(jt, "rows", q->rows);
        cJSON_AddNumberToObject(jt, "cols", q->cols);
        cJSON_AddBoolToObject(jt, "transposed", q->transposed);
        cJSON_AddItemToArray(tensors, jt);
        for (int p = 0; p < q->packed.n_parts; p++) {
            const qh_part *part = &q->packed.part[p];
            size_t len = strlen(q->name) + strlen(part->name) + 2;
            names[n] = qh_malloc(len);
            snprintf(names[n], len, "%s.%s", q->name, part->name);
            e[n] = (qh_st_entry){names[n], part->dtype, part->ndim, {part->shape[0], part->shape[1]}, part->data, part->bytes};
            n++;
        }
    }
    if (!m->head_tied) {
        size_t cnt = (size_t)m->cfg.n_vocab * m->cfg.n_embd;
        names[n] = qh_strdup("lm_head.weight");
        owned[n] = to_dtype(m->head, cnt, res->kept_dtype);
        e[n] = (qh_st_entry){names[n], res->kept_dtype, 2, {m->cfg.n_vocab, m->cfg.n_embd}, owned[n],
                             cnt * qh_dtype_size(res->kept_dtype)};
        n++;
    }
    meta_text = cJSON_PrintUnformatted(meta);
    const char *keys[] = {"qharness", "format"}, *vals[] = {meta_text, "pt"};
    int rc = qh_st_write(path, e, n, keys, vals, 2, err);
    for (int i = 0; i < n; i++) {
        free(names[i]);
        free(owned[i]);
    }
    free(names);
    free(owned);
    free(e);
    free(meta_text);
    cJSON_Delete(meta);
    return rc;
}

int qh_is_packed_file(const char *path)
{
    if (!qh_file_exists(path)) return 0;
    qh_safetensors st;
    qh_err err;
    if (qh_st_open(path, &st, &err) != 0) return 0;
    int yes = qh_st_meta(&st, "qharness") != NULL;
    qh_st_close(&st);
    return yes;
}

static int json_int(const cJSON *o, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    /* the range first: casting a double outside int's is undefined */
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e9 || v->valuedouble != (int)v->valuedouble) return -1;
    *out = v->valueint;
    return 0;
}

/* The model's config from the metadata's "config" (the architecture's settings when it names
 * one: GPT-2's files name none). */
static int config_from_meta(const cJSON *cfg, qh_model *m, const char *path, qh_err *err)
{
    const cJSON *eps = cJSON_GetObjectItem(cfg, "ln_eps");
    if (!cJSON_IsNumber(eps) || json_int(cfg, "n_vocab", &m->cfg.n_vocab) || json_int(cfg, "n_ctx", &m->cfg.n_ctx) ||
        json_int(cfg, "n_embd", &m->cfg.n_embd) || json_int(cfg, "n_head", &m->cfg.n_head) ||
        json_int(cfg, "n_layer", &m->cfg.n_layer) || m->cfg.n_embd % m->cfg.n_head)
        return qh_fail(err, "%s: 'qharness' metadata is malformed or incomplete", path);
    m->cfg.ln_eps = (float)eps->valuedouble;
    m->head_tied = !cJSON_IsFalse(cJSON_GetObjectItem(cfg, "head_tied"));
    const cJSON *arch = cJSON_GetObjectItem(cfg, "architecture");
    if (!arch) return 0;
    const qh_arch *a = cJSON_IsString(arch) ? qh_arch_by_name(arch->valuestring, strlen(arch->valuestring)) : NULL;
    const cJSON *theta = cJSON_GetObjectItem(cfg, "rope_theta");
    if (!a || json_int(cfg, "n_kv_head", &m->cfg.n_kv_head) || json_int(cfg, "n_ff", &m->cfg.n_ff) || !cJSON_IsNumber(theta) ||
        !(theta->valuedouble > 1) || m->cfg.n_head % m->cfg.n_kv_head)
        return qh_fail(err, "%s: 'qharness' metadata: architecture '%s' or its settings are malformed", path,
                       cJSON_IsString(arch) ? arch->valuestring : "?");
    m->cfg.arch = a->id;
    m->cfg.rope_theta = (float)theta->valuedouble;
    const cJSON *theta_swa = cJSON_GetObjectItem(cfg, "rope_theta_swa");
    if ((cJSON_GetObjectItem(cfg, "head_dim") && (json_int(cfg, "head_dim", &m->cfg.head_dim) || m->cfg.head_dim % 2)) ||
        (cJSON_GetObjectItem(cfg, "swa_window") &&
         (json_int(cfg, "swa_window", &m->cfg.swa_window) || json_int(cfg, "swa_period", &m->cfg.swa_period) ||
          !cJSON_IsNumber(theta_swa) || !(theta_swa->valuedouble > 1))))
        return qh_fail(err, "%s: 'qharness' metadata: the head width or sliding-window settings of '%s' are malformed", path, a->name);
    if (theta_swa) m->cfg.rope_theta_swa = (float)theta_swa->valuedouble;
    return 0;
}

/* The metadata's "quantized" entries (name, spec, shape) into res->q. */
static int entries_from_meta(const cJSON *quant, qh_quant_result *res, const char *path, qh_err *err)
{
    res->q = qh_calloc((size_t)cJSON_GetArraySize(quant) + 1, sizeof *res->q);
    const cJSON *jt;
    cJSON_ArrayForEach(jt, quant)
    {
        qh_qtensor *q = &res->q[res->n_q++];
        const cJSON *nm = cJSON_GetObjectItem(jt, "name"), *sp = cJSON_GetObjectItem(jt, "spec");
        if (!cJSON_IsString(nm) || !cJSON_IsString(sp) || json_int(jt, "rows", &q->rows) || json_int(jt, "cols", &q->cols))
            return qh_fail(err, "%s: malformed entry %d of 'quantized' in the metadata", path, res->n_q - 1);
        snprintf(q->name, sizeof q->name, "%s", nm->valuestring);
        snprintf(q->spec, sizeof q->spec, "%s", sp->valuestring);
        q->transposed = cJSON_IsTrue(cJSON_GetObjectItem(jt, "transposed"));
        q->rel_error = NAN; /* the original weights are not in the file */
        q->sensitivity = NAN;
    }
    return 0;
}

/* A kept tensor: the file's tensor of that name, in its dtype, into tn->data. */
static int load_kept(const qh_safetensors *st, qh_tensor *tn, char *used, const char *path, qh_err *err)
{
    size_t n = (size_t)tn->rows * tn->cols;
    const qh_st_tensor *s = NULL;
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, tn->name) == 0) {
            s = &st->tensors[i];
            used[i] = 1;
        }
    if (!s) return qh_fail(err, "%s: tensor '%s' is missing", path, tn->name);
    if (qh_st_numel(s) != n) return qh_fail(err, "%s: tensor '%s' has %zu elements, config implies %zu", path, tn->name, qh_st_numel(s), n);
    return qh_st_to_f32(st, s, tn->data, err);
}

/* A quantized tensor: its "<name>.<part>" tensors gathered into q->packed, then decoded by its
 * method into tn->data. */
static int load_quantized(const qh_safetensors *st, qh_qtensor *q, qh_tensor *tn, char *used, qh_quant_result *res, const char *path,
                          qh_err *err)
{
    size_t n = (size_t)tn->rows * tn->cols;
    if ((size_t)q->rows * q->cols != n || (q->transposed ? q->rows != tn->cols : q->rows != tn->rows))
        return qh_fail(err, "%s: quantized tensor '%s' declares shape (%d, %d), config implies %d x %d", path, q->name, q->rows,
                       q->cols, tn->rows, tn->cols);
    size_t nl = strlen(q->name);
    for (int i = 0; i < st->n_tensors; i++) {
        const qh_st_tensor *s = &st->tensors[i];
        if (strncmp(s->name, q->name, nl) != 0 || s->name[nl] != '.') continue;
        void *dst = qh_packed_add(&q->packed, s->name + nl + 1, s->dtype, s->ndim > 0 ? s->shape[0] : 1, s->ndim > 1 ? s->shape[1] : 0);
        qh_part *part = &q->packed.part[q->packed.n_parts - 1];
        if (part->bytes != s->nbytes) return qh_fail(err, "%s: part '%s' must be 1-D or 2-D", path, s->name);
        memcpy(dst, s->data, s->nbytes);
        used[i] = 1;
    }
    qh_spec *spec;
    if (qh_spec_parse(q->spec, &spec, err) != 0) {
        qh_err_prefix(err, "%s: tensor '%s'", path, q->name);
        return -1;
    }
    qh_matrix w = {q->rows, q->cols, qh_malloc(n * sizeof(float))};
    double t0 = qh_now();
    int rc = spec->method->decode(spec, &q->packed, &w, err);
    res->seconds_decode += qh_now() - t0;
    qh_spec_free(spec);
    if (rc == 0) {
        if (q->transposed) qh_transpose(w.data, q->rows, q->cols, tn->data);
        else memcpy(tn->data, w.data, n * sizeof(float));
    } else qh_err_prefix(err, "%s: tensor '%s'", path, q->name);
    free(w.data);
    return rc;
}

int qh_quant_load(const char *path, qh_model **out, qh_quant_result *res, qh_err *err)
{
    memset(res, 0, sizeof *res);
    qh_safetensors st;
    if (qh_st_open(path, &st, err) != 0) return -1;
    qh_model *m = qh_calloc(1, sizeof *m);
    m->head_tied = 1;
    cJSON *meta = NULL;
    char *used = qh_calloc((size_t)st.n_tensors, 1);
    const char *text = qh_st_meta(&st, "qharness");
    if (!text) {
        qh_fail(err, "%s: not a qharness packed file (no 'qharness' metadata)", path);
        goto fail;
    }
    meta = cJSON_Parse(text);
    const cJSON *cfg = meta ? cJSON_GetObjectItem(meta, "config") : NULL;
    const cJSON *quant = meta ? cJSON_GetObjectItem(meta, "quantized") : NULL;
    const cJSON *kept = meta ? cJSON_GetObjectItem(meta, "kept_dtype") : NULL;
    const cJSON *method = meta ? cJSON_GetObjectItem(meta, "method") : NULL;
    const cJSON *src = meta ? cJSON_GetObjectItem(meta, "source_model") : NULL;
    const cJSON *srcsha = meta ? cJSON_GetObjectItem(meta, "source_sha256") : NULL;
    if (!cJSON_IsObject(cfg) || !cJSON_IsArray(quant) || !cJSON_IsString(kept) || !cJSON_IsString(method) || !cJSON_IsString(src) ||
        !cJSON_IsString(srcsha)) {
        qh_fail(err, "%s: 'qharness' metadata is malformed or incomplete", path);
        goto fail;
    }
    if (config_from_meta(cfg, m, path, err) != 0) goto fail;
    if (qh_dtype_from_name(kept->valuestring, &res->kept_dtype) != 0) {
        qh_fail(err, "%s: unknown kept dtype '%s'", path, kept->valuestring);
        goto fail;
    }
    snprintf(res->spec, sizeof res->spec, "%s", method->valuestring);
    snprintf(res->source_sha256, sizeof res->source_sha256, "%s", srcsha->valuestring);
    const cJSON *ts = cJSON_GetObjectItem(meta, "tokenizer_sha256");
    if (ts && (!cJSON_IsString(ts) || strlen(ts->valuestring) != 64)) {
        qh_fail(err, "%s: 'qharness' metadata: tokenizer_sha256 is not a SHA-256", path);
        goto fail;
    }
    if (ts) snprintf(res->tokenizer_sha256, sizeof res->tokenizer_sha256, "%s", ts->valuestring);
    const cJSON *cd = cJSON_GetObjectItem(meta, "calibration");
    if (cJSON_IsString(cd)) snprintf(res->calib_desc, sizeof res->calib_desc, "%s", cd->valuestring);
    m->dir = qh_strdup(src->valuestring);
    snprintf(m->weights_path, sizeof m->weights_path, "%s", path);
    snprintf(m->dtype, sizeof m->dtype, "packed");
    snprintf(m->ctx_source, sizeof m->ctx_source, "its source model's, kept in the packed file");
    if (qh_model_expected_tensors(m, (uint64_t)st.n_tensors, path, err) != 0 || entries_from_meta(quant, res, path, err) != 0) goto fail;
    for (int t = 0; t < m->n_tensors; t++) {
        qh_tensor *tn = &m->tensors[t];
        size_t n = (size_t)tn->rows * tn->cols;
        tn->data = qh_malloc(n * sizeof(float));
        m->n_params += n;
        qh_qtensor *q = (qh_qtensor *)find_q(res, tn->name);
        if (q ? load_quantized(&st, q, tn, used, res, path, err) : load_kept(&st, tn, used, path, err)) goto fail;
    }
    if (!m->head_tied) {
        const qh_st_tensor *s = qh_st_find(&st, "lm_head.weight");
        size_t n = (size_t)m->cfg.n_vocab * m->cfg.n_embd;
        if (!s || qh_st_numel(s) != n) {
            qh_fail(err, "%s: untied model without a valid 'lm_head.weight'", path);
            goto fail;
        }
        m->head = qh_malloc(n * sizeof(float));
        if (qh_st_to_f32(&st, s, m->head, err) != 0) goto fail;
        used[s - st.tensors] = 1;
        m->n_params += n;
    }
    for (int i = 0; i < st.n_tensors; i++)
        if (!used[i]) {
            qh_fail(err, "%s: unexpected tensor '%s'", path, st.tensors[i].name);
            goto fail;
        }
    qh_model_wire(m);
    qh_quant_account(res, m);
    /* the file must be exactly what the accounting says: every tensor byte is counted */
    size_t file_bytes = 0;
    for (int i = 0; i < st.n_tensors; i++) file_bytes += st.tensors[i].nbytes;
    if (file_bytes != res->bytes_total) {
        qh_fail(err, "%s: tensors hold %zu bytes but the accounting gives %zu", path, file_bytes, res->bytes_total);
        goto fail;
    }
    qh_st_close(&st);
    cJSON_Delete(meta);
    free(used);
    if (qh_sha256_file(path, m->sha256, err) != 0 || qh_model_check_finite(m, path, err) != 0) {
        qh_model_free(m);
        qh_quant_result_free(res);
        return -1;
    }
    *out = m;
    return 0;
fail:
    qh_st_close(&st);
    cJSON_Delete(meta);
    free(used);
    qh_model_free(m);
    qh_quant_result_free(res);
    return -1;
}
