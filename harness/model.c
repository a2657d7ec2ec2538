/* model.c - load a Hugging Face GPT-2 directory into fp32; see model.h.
 *
 * Accepts the layouts of the real gpt2 / gpt2-medium / -large / -xl / distilgpt2 files: names
 * with or without "transformer.", an optional separate "lm_head.weight", and the
 * "attn.bias" / "attn.masked_bias" buffers, which are causal-mask constants and are ignored.
 * Any other unexpected tensor is an error: silently ignoring weights would be a lie. */
#include "model.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "safetensors.h"

static int config_int(const char *path, const cJSON *root, const char *key, const char *alt,
                      int *out, qh_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v && alt) v = cJSON_GetObjectItemCaseSensitive(root, alt);
    if (!v) return qh_fail(err, "%s: missing '%s'", path, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e7 || v->valuedouble != (int)v->valuedouble)
        return qh_fail(err, "%s: '%s' must be a positive integer", path, v->string);
    *out = v->valueint;
    return 0;
}

int qh_config_load(const char *dir, qh_config *cfg, qh_err *err)
{
    char *path = qh_path_join(dir, "config.json"), *text = NULL;
    size_t len;
    cJSON *root = NULL;
    int rc = -1;
    if (qh_read_file(path, &text, &len, err) != 0) goto cleanup;
    root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        qh_fail(err, "%s: not a valid JSON object", path);
        goto cleanup;
    }
    if (config_int(path, root, "n_embd", NULL, &cfg->n_embd, err) ||
        config_int(path, root, "n_layer", NULL, &cfg->n_layer, err) ||
        config_int(path, root, "n_head", NULL, &cfg->n_head, err) ||
        config_int(path, root, "n_positions", "n_ctx", &cfg->n_ctx, err) ||
        config_int(path, root, "vocab_size", NULL, &cfg->n_vocab, err))
        goto cleanup;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    cfg->ln_eps = 1e-5f;
    if (eps) {
        if (!cJSON_IsNumber(eps) || eps->valuedouble <= 0 || eps->valuedouble > 1) {
            qh_fail(err, "%s: 'layer_norm_epsilon' must be a number in (0, 1]", path);
            goto cleanup;
        }
        cfg->ln_eps = (float)eps->valuedouble;
    }
    if (cfg->n_embd % cfg->n_head != 0) {
        qh_fail(err, "%s: n_embd %d is not a multiple of n_head %d", path, cfg->n_embd, cfg->n_head);
        goto cleanup;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "activation_function");
    if (act && (!cJSON_IsString(act) || (strcmp(act->valuestring, "gelu_new") != 0 &&
                                         strcmp(act->valuestring, "gelu_pytorch_tanh") != 0))) {
        qh_fail(err, "%s: activation_function '%s' is not supported (GPT-2 uses gelu_new)", path,
                cJSON_IsString(act) ? act->valuestring : "?");
        goto cleanup;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "gpt2") != 0)) {
        qh_fail(err, "%s: model_type '%s' is not gpt2", path, cJSON_IsString(type) ? type->valuestring : "?");
        goto cleanup;
    }
    rc = 0;
cleanup:
    cJSON_Delete(root);
    free(text);
    free(path);
    return rc;
}

void qh_model_free(qh_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_tensors; i++) free(m->tensors[i].data);
    if (!m->head_tied) free(m->head);
    free(m->tensors);
    free(m->blocks);
    free(m->dir);
    free(m);
}

qh_tensor *qh_model_tensor(qh_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* The canonical tensor table for a config, in file-independent order. */
void qh_model_expected_tensors(qh_model *m)
{
    const qh_config *c = &m->cfg;
    int C = c->n_embd;
    m->n_tensors = 4 + 12 * c->n_layer;
    m->tensors = qh_calloc((size_t)m->n_tensors, sizeof *m->tensors);
    int k = 0;
#define ADD(NDIM, R, COLS, ...)                                                                \
    do {                                                                                       \
        qh_tensor *t = &m->tensors[k++];                                                       \
        snprintf(t->name, sizeof t->name, __VA_ARGS__);                                        \
        t->ndim = NDIM; t->rows = R; t->cols = COLS;                                           \
    } while (0)
    ADD(2, c->n_vocab, C, "wte.weight");
    ADD(2, c->n_ctx, C, "wpe.weight");
    for (int l = 0; l < c->n_layer; l++) {
        ADD(1, 1, C, "h.%d.ln_1.weight", l);
        ADD(1, 1, C, "h.%d.ln_1.bias", l);
        ADD(2, C, 3 * C, "h.%d.attn.c_attn.weight", l);
        ADD(1, 1, 3 * C, "h.%d.attn.c_attn.bias", l);
        ADD(2, C, C, "h.%d.attn.c_proj.weight", l);
        ADD(1, 1, C, "h.%d.attn.c_proj.bias", l);
        ADD(1, 1, C, "h.%d.ln_2.weight", l);
        ADD(1, 1, C, "h.%d.ln_2.bias", l);
        ADD(2, C, 4 * C, "h.%d.mlp.c_fc.weight", l);
        ADD(1, 1, 4 * C, "h.%d.mlp.c_fc.bias", l);
        ADD(2, 4 * C, C, "h.%d.mlp.c_proj.weight", l);
        ADD(1, 1, C, "h.%d.mlp.c_proj.bias", l);
    }
    ADD(1, 1, C, "ln_f.weight");
    ADD(1, 1, C, "ln_f.bias");
#undef ADD
}

void qh_model_wire(qh_model *m)
{
    int L = m->cfg.n_layer;
    m->wte = m->tensors[0].data;
    m->wpe = m->tensors[1].data;
    m->blocks = qh_calloc((size_t)L, sizeof *m->blocks);
    for (int l = 0; l < L; l++) {
        qh_tensor *t = &m->tensors[2 + 12 * l];
        qh_block *b = &m->blocks[l];
        b->ln1_w = t[0].data; b->ln1_b = t[1].data;
        b->attn_w = t[2].data; b->attn_b = t[3].data;
        b->attnproj_w = t[4].data; b->attnproj_b = t[5].data;
        b->ln2_w = t[6].data; b->ln2_b = t[7].data;
        b->fc_w = t[8].data; b->fc_b = t[9].data;
        b->fcproj_w = t[10].data; b->fcproj_b = t[11].data;
    }
    m->lnf_w = m->tensors[2 + 12 * L].data;
    m->lnf_b = m->tensors[3 + 12 * L].data;
    if (m->head_tied) m->head = m->wte;
}

/* Strips the optional "transformer." prefix. */
static const char *canonical(const char *name)
{
    return strncmp(name, "transformer.", 12) == 0 ? name + 12 : name;
}

static int is_ignored_buffer(const char *name)
{
    size_t n = strlen(name);
    return (n > 10 && strcmp(name + n - 10, ".attn.bias") == 0) ||
           (n > 17 && strcmp(name + n - 17, ".attn.masked_bias") == 0);
}

static int shape_matches(const qh_st_tensor *st, const qh_tensor *t)
{
    if (t->ndim == 1) return st->ndim == 1 && st->shape[0] == t->cols;
    return st->ndim == 2 && st->shape[0] == t->rows && st->shape[1] == t->cols;
}

static void shape_str(const qh_st_tensor *st, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < st->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)st->shape[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
}

static int load_hf(const char *dir, qh_model **out, int compute_sha, qh_err *err);

/* The model formats, tried in order: the first whose probe accepts the path loads it.  (The
 * qharness packed format carries a quantization result as well and is read by quantize.c.) */
static const struct {
    const char *name;
    int (*probe)(const char *path);
    int (*load)(const char *path, qh_model **out, int compute_sha, qh_err *err);
} model_formats[] = {
    {"gguf", qh_gguf_probe, qh_model_load_gguf},
    {"hf-safetensors", NULL, load_hf}, /* a directory, or the error that says what it lacks */
};

int qh_model_load(const char *dir, qh_model **out, int compute_sha, qh_err *err)
{
    size_t n = sizeof model_formats / sizeof *model_formats;
    for (size_t i = 0; i < n; i++)
        if (!model_formats[i].probe || model_formats[i].probe(dir)) return model_formats[i].load(dir, out, compute_sha, err);
    return qh_fail(err, "%s: not a model", dir);
}

static int load_hf(const char *dir, qh_model **out, int compute_sha, qh_err *err)
{
    qh_safetensors st;
    int have_st = 0;
    qh_model *m = qh_calloc(1, sizeof *m);
    char *config_path = qh_path_join(dir, "config.json");
    m->dir = qh_strdup(dir);
    m->head_tied = 1;
    if (!qh_is_dir(dir)) {
        qh_fail(err, "%s: not a model directory", dir);
        goto fail;
    }
    if (qh_config_load(dir, &m->cfg, err) != 0) goto fail;
    snprintf(m->weights_path, sizeof m->weights_path, "%s/model.safetensors", dir);
    if (!qh_file_exists(m->weights_path)) {
        char *idx = qh_path_join(dir, "model.safetensors.index.json");
        int sharded = qh_file_exists(idx);
        free(idx);
        qh_fail(err, "%s: missing%s", m->weights_path,
                sharded ? " (sharded checkpoints are not supported: merge the shards into one file)" : "");
        goto fail;
    }
    if (qh_st_open(m->weights_path, &st, err) != 0) goto fail;
    have_st = 1;
    qh_model_expected_tensors(m);
    const qh_config *c = &m->cfg;
    const qh_st_tensor **found = qh_calloc((size_t)m->n_tensors, sizeof *found);
    const qh_st_tensor *lm_head = NULL;
    for (int i = 0; i < st.n_tensors; i++) {
        const qh_st_tensor *t = &st.tensors[i];
        const char *name = canonical(t->name);
        if (is_ignored_buffer(name)) continue;
        if (strcmp(t->name, "lm_head.weight") == 0) {
            lm_head = t;
            continue;
        }
        int k;
        for (k = 0; k < m->n_tensors; k++)
            if (strcmp(m->tensors[k].name, name) == 0) break;
        if (k == m->n_tensors) {
            free(found);
            qh_fail(err, "%s: unexpected tensor '%s' for a GPT-2 with n_layer %d", m->weights_path,
                    t->name, c->n_layer);
            goto fail;
        }
        if (found[k]) {
            free(found);
            qh_fail(err, "%s: tensor '%s' appears twice (with and without 'transformer.')",
                    m->weights_path, name);
            goto fail;
        }
        found[k] = t;
    }
    for (int k = 0; k < m->n_tensors; k++) {
        qh_tensor *t = &m->tensors[k];
        const qh_st_tensor *s = found[k];
        char got[128];
        if (!s) {
            free(found);
            qh_fail(err, "%s: tensor '%s' is missing", m->weights_path, t->name);
            goto fail;
        }
        if (!shape_matches(s, t)) {
            shape_str(s, got, sizeof got);
            free(found);
            if (t->ndim == 1)
                qh_fail(err, "%s: tensor '%s' has shape %s but %s implies (%d)", m->weights_path,
                        s->name, got, config_path, t->cols);
            else
                qh_fail(err, "%s: tensor '%s' has shape %s but %s implies (%d, %d)", m->weights_path,
                        s->name, got, config_path, t->rows, t->cols);
            goto fail;
        }
        t->data = qh_malloc((size_t)t->rows * (size_t)t->cols * sizeof(float));
        if (qh_st_to_f32(&st, s, t->data, err) != 0) {
            free(found);
            goto fail;
        }
        if (k == 0) snprintf(m->dtype, sizeof m->dtype, "%s", qh_dtype_name(s->dtype));
        m->n_params += (size_t)t->rows * (size_t)t->cols;
    }
    free(found);
    if (lm_head) {
        if (!(lm_head->ndim == 2 && lm_head->shape[0] == c->n_vocab && lm_head->shape[1] == c->n_embd)) {
            qh_fail(err, "%s: tensor 'lm_head.weight' must have shape (%d, %d)", m->weights_path,
                    c->n_vocab, c->n_embd);
            goto fail;
        }
        float *head = qh_malloc((size_t)c->n_vocab * c->n_embd * sizeof(float));
        if (qh_st_to_f32(&st, lm_head, head, err) != 0) {
            free(head);
            goto fail;
        }
        /* HF files often store the tied head explicitly; keep it separate only if it differs */
        if (memcmp(head, m->tensors[0].data, (size_t)c->n_vocab * c->n_embd * sizeof(float)) == 0) {
            free(head);
        } else {
            m->head = head;
            m->head_tied = 0;
            m->n_params += (size_t)c->n_vocab * c->n_embd;
        }
    }
    qh_model_wire(m);
    qh_st_close(&st);
    have_st = 0;
    if (compute_sha && qh_sha256_file(m->weights_path, m->sha256, err) != 0) goto fail;
    free(config_path);
    *out = m;
    return 0;
fail:
    if (have_st) qh_st_close(&st);
    free(config_path);
    qh_model_free(m);
    return -1;
}

char *qh_resolve_model_dir(const char *arg)
{
    if (strcmp(arg, "default") == 0) arg = QH_DEFAULT_MODEL;
    if (qh_is_dir(arg) || strchr(arg, '/') || qh_file_exists(arg)) return qh_strdup(arg);
    char *models = qh_path_join(qh_home(), "models");
    char *p = qh_path_join(models, arg);
    free(models);
    if (qh_is_dir(p)) return p;
    free(p);
    return qh_strdup(arg);
}

qh_model *qh_model_clone(const qh_model *src)
{
    qh_model *m = qh_calloc(1, sizeof *m);
    *m = *src;
    m->dir = qh_strdup(src->dir);
    m->tensors = qh_calloc((size_t)src->n_tensors, sizeof *m->tensors);
    for (int i = 0; i < src->n_tensors; i++) {
        m->tensors[i] = src->tensors[i];
        size_t bytes = (size_t)src->tensors[i].rows * src->tensors[i].cols * sizeof(float);
        m->tensors[i].data = qh_malloc(bytes);
        memcpy(m->tensors[i].data, src->tensors[i].data, bytes);
    }
    if (!src->head_tied) {
        size_t bytes = (size_t)src->cfg.n_vocab * src->cfg.n_embd * sizeof(float);
        m->head = qh_malloc(bytes);
        memcpy(m->head, src->head, bytes);
    }
    m->blocks = NULL;
    qh_model_wire(m);
    return m;
}
