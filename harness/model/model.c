/* model.c - load a Hugging Face GPT-2 or Llama directory into fp32; see model.h.
 *
 * Accepts the layouts of the real gpt2 / gpt2-medium / -large / -xl / distilgpt2 files: names
 * with or without "transformer.", an optional separate "lm_head.weight", and the
 * "attn.bias" / "attn.masked_bias" buffers, which are causal-mask constants and are ignored;
 * and LlamaForCausalLM files: "model." names, PyTorch (out, in) linear weights (transposed),
 * q/k rows in Hugging Face's half-rotation order (put back into pair order), lm_head.weight
 * unless tie_word_embeddings.  The tensors expected come from the architecture table (arch.c).
 * Any other unexpected tensor is an error: silently ignoring weights would be a lie. */
#include "harness/model/model.h"

#include "harness/model/arch_config.h"

#include <assert.h>
#include <cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/gguf.h"
#include "harness/formats/hf_quant.h"
#include "harness/formats/safetensors.h"

int qh_json_config_int(const char *path, const cJSON *root, const char *key, const char *alt, int *out, qh_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v && alt) v = cJSON_GetObjectItemCaseSensitive(root, alt);
    if (!v) return qh_fail(err, "%s: missing '%s'", path, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e7 || v->valuedouble != (int)v->valuedouble)
        return qh_fail(err, "%s: '%s' must be a positive integer", path, v->string);
    *out = v->valueint;
    return 0;
}

static int config_load(const char *dir, qh_config *cfg, int *tied, qh_err *err)
{
    char *path = qh_path_join(dir, "config.json"), *text = NULL;
    size_t len;
    cJSON *root = NULL;
    int rc = -1;
    memset(cfg, 0, sizeof *cfg);
    *tied = 1;
    if (qh_read_file(path, &text, &len, err) != 0) goto cleanup;
    root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        qh_fail(err, "%s: not a valid JSON object", path);
        goto cleanup;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    /* the family whose model_type the file names; GPT-2's files need not name one */
    const qh_arch *a = qh_archs[QH_ARCH_GPT2];
    char known[128] = "";
    for (int i = 0, n = 0; i < QH_N_ARCH; i++) {
        const qh_arch *r = qh_archs[i];
        if (!r->config_hf) continue;
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", n++ ? " or " : "", r->hf_model_type);
        if (cJSON_IsString(type) && strcmp(type->valuestring, r->hf_model_type) == 0) a = r;
    }
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, a->hf_model_type) != 0)) {
        qh_fail(err, "%s: model_type '%s' is not %s", path, cJSON_IsString(type) ? type->valuestring : "?", known);
        goto cleanup;
    }
    cfg->arch = a->id;
    if (a->config_hf(path, root, cfg, tied, err) != 0) goto cleanup;
    rc = 0;
cleanup:
    cJSON_Delete(root);
    free(text);
    free(path);
    return rc;
}

int qh_config_load(const char *dir, qh_config *cfg, qh_err *err)
{
    int tied;
    return config_load(dir, cfg, &tied, err);
}

const qh_arch *qh_config_arch(const qh_config *c) { return qh_archs[c->arch]; }
int qh_config_kv_heads(const qh_config *c) { return c->n_kv_head > 0 ? c->n_kv_head : c->n_head; }
int qh_config_ff(const qh_config *c) { return c->n_ff > 0 ? c->n_ff : 4 * c->n_embd; }
int qh_config_head_dim(const qh_config *c) { return c->head_dim > 0 ? c->head_dim : c->n_embd / c->n_head; }

int qh_config_layer_window(const qh_config *c, int l)
{
    if (c->swa_window <= 0) return 0;
    return c->swa_period > 0 && l % c->swa_period == c->swa_period - 1 ? 0 : c->swa_window;
}

float qh_config_layer_rope_theta(const qh_config *c, int l)
{
    return qh_config_layer_window(c, l) ? c->rope_theta_swa : c->rope_theta;
}

int qh_config_dim(const qh_config *c, qh_dim d)
{
    switch (d) {
    case QH_DIM_1: return 1;
    case QH_DIM_C: return c->n_embd;
    case QH_DIM_3C: return 3 * c->n_embd;
    case QH_DIM_KV: return qh_config_kv_heads(c) * qh_config_head_dim(c);
    case QH_DIM_Q: return c->n_head * qh_config_head_dim(c);
    case QH_DIM_HEAD: return qh_config_head_dim(c);
    case QH_DIM_FF: return qh_config_ff(c);
    case QH_DIM_VOCAB: return c->n_vocab;
    case QH_DIM_CTX: return c->n_ctx;
    }
    return 0;
}

int qh_config_qkv_width(const qh_config *c)
{
    /* the outputs of the linear layers that read the attention's input: q | k | v */
    const qh_arch *a = qh_config_arch(c);
    int w = 0;
    for (int i = 0; i < a->n_block; i++)
        if (a->block[i].input == QH_IN_ATTN) w += qh_config_dim(c, a->block[i].cols);
    return w;
}

void qh_config_describe_rope(const qh_config *c, char *out, size_t n)
{
    snprintf(out, n,
             "%s: n_layer %d, n_head %d, n_kv_head %d, n_embd %d, n_ff %d, n_ctx %d (trained; RoPE runs longer windows), vocab %d, "
             "rms_eps %g, rope_theta %g",
             qh_config_arch(c)->display, c->n_layer, c->n_head, qh_config_kv_heads(c), c->n_embd, qh_config_ff(c), c->n_ctx, c->n_vocab,
             c->ln_eps, c->rope_theta);
}

int qh_config_max_ctx(const qh_config *c)
{
    return qh_config_arch(c)->pos == QH_POS_LEARNED ? c->n_ctx : QH_ROPE_MAX_CTX;
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

const qh_arch_tensor *qh_model_arch_tensor(const qh_model *m, int k)
{
    const qh_arch *a = qh_config_arch(&m->cfg);
    if (k < a->n_pre) return &a->pre[k];
    k -= a->n_pre;
    if (k < a->n_block * m->cfg.n_layer) return &a->block[k % a->n_block];
    return &a->post[k - a->n_block * m->cfg.n_layer];
}

/* The canonical tensor table for a config, in file-independent order. */
int qh_model_expected_tensors(qh_model *m, uint64_t file_tensors, const char *path, qh_err *err)
{
    const qh_config *c = &m->cfg;
    const qh_arch *a = qh_config_arch(c);
    /* checked before the table is allocated: a header's layer count must not size memory */
    uint64_t need = (uint64_t)a->n_pre + (uint64_t)a->n_block * (uint64_t)c->n_layer + (uint64_t)a->n_post;
    if (c->n_layer > QH_MAX_LAYERS)
        return qh_fail(err, "%s: %d layers: more than the %d qharness accepts", path, c->n_layer, QH_MAX_LAYERS);
    if (need > file_tensors)
        return qh_fail(err, "%s: %d layers need %llu tensors, and the file holds %llu", path, c->n_layer,
                       (unsigned long long)need, (unsigned long long)file_tensors);
    m->n_tensors = (int)need;
    m->tensors = qh_calloc((size_t)m->n_tensors, sizeof *m->tensors);
    for (int k = 0; k < m->n_tensors; k++) {
        const qh_arch_tensor *at = qh_model_arch_tensor(m, k);
        qh_tensor *t = &m->tensors[k];
        int in_block = k >= a->n_pre && k < a->n_pre + a->n_block * c->n_layer;
        t->layer = in_block ? (k - a->n_pre) / a->n_block : -1;
        if (in_block) {
            int n = snprintf(t->name, sizeof t->name, a->block_fmt, t->layer);
            snprintf(t->name + n, sizeof t->name - (size_t)n, "%s", at->name);
        } else {
            snprintf(t->name, sizeof t->name, "%s", at->name);
        }
        t->ndim = at->ndim;
        t->rows = qh_config_dim(c, at->rows);
        t->cols = qh_config_dim(c, at->cols);
        t->is_linear = at->input >= 0;
        t->input = at->input;
    }
    return 0;
}

void qh_model_wire(qh_model *m)
{
    m->blocks = qh_calloc((size_t)m->cfg.n_layer, sizeof *m->blocks);
    for (int k = 0; k < m->n_tensors; k++) {
        const qh_arch_tensor *at = qh_model_arch_tensor(m, k);
        char *base = m->tensors[k].layer >= 0 ? (char *)&m->blocks[m->tensors[k].layer] : (char *)m;
        *(float **)(base + at->field) = m->tensors[k].data;
    }
    if (m->head_tied) m->head = m->wte;
}

/* Strips the optional "transformer." / "model." prefix. */
static const char *canonical(const qh_arch *a, const char *name)
{
    size_t n = strlen(a->hf_prefix);
    return strncmp(name, a->hf_prefix, n) == 0 ? name + n : name;
}

/* Constants some checkpoints carry that are not weights: GPT-2's causal-mask buffers and older
 * Llama checkpoints' RoPE frequencies (recomputed from rope_theta). */
static int is_ignored_buffer(const char *name)
{
    static const char *const suffixes[] = {".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq"};
    size_t n = strlen(name);
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0) return 1;
    }
    return 0;
}

/* transposed: the file holds a linear weight as PyTorch's (out, in) */
static int shape_matches(const qh_st_tensor *st, const qh_tensor *t, int transposed)
{
    if (t->ndim == 1) return st->ndim == 1 && st->shape[0] == t->cols;
    int r = transposed ? t->cols : t->rows, c = transposed ? t->rows : t->cols;
    return st->ndim == 2 && st->shape[0] == r && st->shape[1] == c;
}

/* Hugging Face's Llama q and k weights have their rows permuted so that RoPE rotates the two
 * halves of each head (rotate_half); qharness (as Meta and llama.cpp) rotates adjacent pairs.
 * Row h*hd + half*hd/2 + i of the file is row h*hd + 2i + half here: the inverse of the
 * permutation transformers' conversion script applies, as llama.cpp's converter undoes it. */
static int hf_rope_row(int r, int hd)
{
    int h = r / hd, j = r % hd, half = j / (hd / 2), i = j % (hd / 2);
    return h * hd + 2 * i + half;
}

/* src (out, in) row-major -> dst (in, out); rows permuted by hf_rope_row when hd > 0 */
static void transpose_rows(const float *src, int out, int in, int hd, float *dst)
{
#pragma omp parallel for
    for (int o = 0; o < out; o++) {
        int to = hd ? hf_rope_row(o, hd) : o;
        for (int i = 0; i < in; i++) dst[(size_t)i * out + to] = src[(size_t)o * in + i];
    }
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
    {"llama2c", qh_llama2c_probe, qh_model_load_llama2c},
    {"hf-safetensors", NULL, load_hf}, /* a directory, or the error that says what it lacks */
};

static int hf_probe(const char *dir)
{
    char *cfg = qh_path_join(dir, "config.json");
    int ok = qh_file_exists(cfg);
    free(cfg);
    return ok;
}

int qh_model_probe(const char *path)
{
    size_t n = sizeof model_formats / sizeof *model_formats;
    for (size_t i = 0; i < n; i++)
        if (model_formats[i].probe ? model_formats[i].probe(path) : hf_probe(path)) return 1;
    return 0;
}

int qh_model_check_finite(const qh_model *m, const char *path, qh_err *err)
{
    for (int t = 0; t < m->n_tensors; t++) {
        const qh_tensor *tn = &m->tensors[t];
        long bad = qh_first_nonfinite(tn->data, (size_t)tn->rows * tn->cols);
        if (bad >= 0)
            return qh_fail(err, "%s: tensor '%s' holds %s at index %ld (row %ld, column %ld): refusing a model with non-finite weights", path,
                           tn->name, qh_nonfinite_name(tn->data[bad]), bad, bad / tn->cols, bad % tn->cols);
    }
    if (!m->head_tied) {
        size_t n = (size_t)m->cfg.n_vocab * m->cfg.n_embd;
        long bad = qh_first_nonfinite(m->head, n);
        if (bad >= 0)
            return qh_fail(err, "%s: the output head holds %s at row %ld, column %ld: refusing a model with non-finite weights", path,
                           qh_nonfinite_name(m->head[bad]), bad / m->cfg.n_embd, bad % m->cfg.n_embd);
    }
    return 0;
}

int qh_model_load(const char *dir, qh_model **out, int compute_sha, qh_err *err)
{
    size_t n = sizeof model_formats / sizeof *model_formats;
    for (size_t i = 0; i < n; i++)
        if (!model_formats[i].probe || model_formats[i].probe(dir)) {
            if (model_formats[i].load(dir, out, compute_sha, err) != 0) return -1;
            int is_dir = qh_is_dir(dir);
            /* the manifest check leaves the hash it computed in sha256 (read once) */
            if ((is_dir && qh_sha256sums_verify_dir(dir, (*out)->weights_path, (*out)->sha256, err) != 0) ||
                (!is_dir && qh_sha256sums_verify_file(dir, (*out)->sha256, err) != 0) ||
                qh_model_check_finite(*out, dir, err) != 0) {
                qh_model_free(*out);
                *out = NULL;
                return -1;
            }
            return 0;
        }
    return qh_fail(err, "%s: not a model", dir);
}

/* the names under <home>/models/ that `default` and a bare name resolve among, sorted */
static void model_names(char *out, size_t n)
{
    char *dir = qh_path_join(qh_home(), "models");
    struct dirent **list = NULL;
    int count = scandir(dir, &list, NULL, alphasort);
    size_t k = (size_t)snprintf(out, n, "default");
    for (int i = 0; i < count; i++) {
        if (list[i]->d_name[0] != '.' && k < n) k += (size_t)snprintf(out + k, n - k, ", %s", list[i]->d_name);
        free(list[i]);
    }
    free(list);
    free(dir);
}

/* What a path that no format took is: the message names the format it came closest to. */
static int not_a_model(const char *path, qh_err *err)
{
    size_t plen = strlen(path), flen = strlen(QH_FETCHED_MODEL_FILE);
    if (!qh_file_exists(path) && plen > flen && strcmp(path + plen - flen, QH_FETCHED_MODEL_FILE) == 0 && path[plen - flen - 1] == '/')
        return qh_fail(err, "%s: missing: this model is fetched at set-up (`make deps`, or tools/fetch-models.sh); MODEL_CARD.md beside it "
                       "says from where", path);
    if (!qh_is_dir(path) && !qh_file_exists(path)) {
        char names[512];
        model_names(names, sizeof names);
        return qh_fail(err, "%s: no such model file or directory, and not a name under models/ (%s)", path, names);
    }
    if (!qh_is_dir(path)) {
        char magic[5] = {0};
        FILE *f = fopen(path, "rb");
        size_t got = f ? fread(magic, 1, 4, f) : 0;
        if (f) fclose(f);
        for (size_t i = 0; i < got; i++)
            if ((unsigned char)magic[i] < 0x20 || (unsigned char)magic[i] > 0x7e) magic[i] = '?';
        size_t n = strlen(path);
        if ((got == 4 && strncmp(magic, "GG", 2) == 0) || (n > 5 && strcmp(path + n - 5, ".gguf") == 0))
            return qh_fail(err, "%s: not a GGUF file: it starts with '%s', a GGUF file with 'GGUF'", path, magic);
        qh_model *m = NULL;
        if (n > 4 && strcmp(path + n - 4, ".bin") == 0 && qh_model_load_llama2c(path, &m, 0, err) != 0) return -1; /* its own reason */
        qh_model_free(m);
        return qh_fail(err, "%s: not a model file (GGUF, a llama2.c .bin) and not a directory (Hugging Face: config.json + model.safetensors)", path);
    }
    qh_model *m = NULL;
    qh_err l2c;
    if (qh_model_load_llama2c(path, &m, 0, &l2c) != 0 && !strstr(l2c.msg, "no llama2.c checkpoint")) {
        *err = l2c; /* a .bin was there: why it is not a checkpoint */
        return -1;
    }
    qh_model_free(m);
    return qh_fail(err, "%s: not a model directory: no config.json (Hugging Face), no llama2.c checkpoint (.bin)", path);
}

/* A linear layer stored quantized (hfq): dequantized to the file's (out, in) float32 in file;
 * 1 when it was, 0 when the layer is an ordinary weight in this file. */
static int hf_quantized_layer(qh_model *m, const qh_hfq *hfq, const qh_safetensors *st, unsigned char *used, qh_tensor *t,
                              float *file, qh_err *err)
{
    const qh_arch *a = qh_config_arch(&m->cfg);
    qh_hfq_layer l = {.st = st, .used = used, .out = t->cols, .in = t->rows};
    size_t n = strlen(t->name);
    assert(n > 7 && strcmp(t->name + n - 7, ".weight") == 0);
    /* the file's name of the layer, with the family's prefix or (as GPT-2's files may) without */
    snprintf(l.base, sizeof l.base, "%s%.*s", a->hf_prefix, (int)(n - 7), t->name);
    if (!hfq->fmt->is_quantized(hfq, &l)) snprintf(l.base, sizeof l.base, "%.*s", (int)(n - 7), t->name);
    int rc = qh_hfq_layer_load(hfq, &l, file, err);
    if (rc == 1) {
        t->stored_bytes = l.bytes;
        t->stored_quantized = 1;
        m->quant_layers++;
        m->quant_weights += (size_t)t->rows * t->cols;
        m->quant_bytes += l.bytes;
        static_assert(QH_HFQ_N_ROLES == sizeof m->quant_bytes_by_role / sizeof *m->quant_bytes_by_role, "one count a role");
        for (int r = 0; r < QH_HFQ_N_ROLES; r++) m->quant_bytes_by_role[r] += l.bytes_by_role[r];
    }
    return rc;
}

static int load_hf(const char *dir, qh_model **out, int compute_sha, qh_err *err)
{
    qh_safetensors st;
    int have_st = 0, quantized = 0;
    qh_hfq hfq;
    const qh_st_tensor **found = NULL;
    unsigned char *used = NULL;
    qh_model *m = qh_calloc(1, sizeof *m);
    char *config_path = qh_path_join(dir, "config.json");
    m->dir = qh_strdup(dir);
    m->head_tied = 1;
    if (!qh_is_dir(dir) || !hf_probe(dir)) {
        qh_model_free(m);
        free(config_path);
        return not_a_model(dir, err);
    }
    int hf_tied;
    if (config_load(dir, &m->cfg, &hf_tied, err) != 0 || qh_hfq_from_config(config_path, &hfq, &quantized, err) != 0) goto fail;
    const qh_config *c = &m->cfg;
    const qh_arch *a = qh_config_arch(c);
    if (quantized) {
        snprintf(m->quant_desc, sizeof m->quant_desc, "%s", hfq.desc);
        m->quant_named_bits = hfq.named_bits;
    }
    snprintf(m->ctx_source, sizeof m->ctx_source, "config.json %s", a->hf_ctx_key);
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
    /* a missing tensor is named below */
    if (qh_model_expected_tensors(m, UINT64_MAX, m->weights_path, err) != 0) goto fail;
    found = qh_calloc((size_t)m->n_tensors, sizeof *found);
    used = qh_calloc((size_t)st.n_tensors + 1, 1);
    const qh_st_tensor *lm_head = NULL;
    for (int i = 0; i < st.n_tensors; i++) {
        const qh_st_tensor *t = &st.tensors[i];
        m->file_tensor_bytes += t->nbytes;
        const char *name = canonical(a, t->name);
        if (is_ignored_buffer(name)) {
            used[i] = 1;
            continue;
        }
        if (strcmp(t->name, "lm_head.weight") == 0) {
            lm_head = t;
            used[i] = 1;
            continue;
        }
        int k;
        for (k = 0; k < m->n_tensors; k++)
            if (strcmp(m->tensors[k].name, name) == 0) break;
        if (k == m->n_tensors) {
            if (quantized) continue; /* a part of a quantized layer, or unexpected: told after the layers are read */
            qh_fail(err, "%s: unexpected tensor '%s' for a %s with n_layer %d", m->weights_path, t->name, a->display, c->n_layer);
            goto fail;
        }
        if (found[k]) {
            qh_fail(err, "%s: tensor '%s' appears twice (with and without '%s')", m->weights_path, name, a->hf_prefix);
            goto fail;
        }
        found[k] = t;
    }
    for (int k = 0; k < m->n_tensors; k++) {
        qh_tensor *t = &m->tensors[k];
        const qh_st_tensor *s = found[k];
        char got[128];
        size_t n = (size_t)t->rows * (size_t)t->cols;
        float *file = qh_malloc(n * sizeof(float));
        int from_quantized = quantized && t->is_linear ? hf_quantized_layer(m, &hfq, &st, used, t, file, err) : 0;
        /* a quantized layer comes as PyTorch's (out, in) whatever the family: the tools store
         * GPT-2's Conv1D (in, out) weights as the linear layers they are */
        int transposed = t->is_linear && (a->hf_out_in || from_quantized > 0);
        if (from_quantized < 0) {
            free(file);
            goto fail;
        }
        if (!from_quantized && !s) {
            free(file);
            qh_fail(err, "%s: tensor '%s%s' is missing", m->weights_path, a->hf_out_in ? a->hf_prefix : "", t->name);
            goto fail;
        }
        if (!from_quantized && !shape_matches(s, t, transposed)) {
            free(file);
            shape_str(s, got, sizeof got);
            if (t->ndim == 1)
                qh_fail(err, "%s: tensor '%s' has shape %s but %s implies (%d)", m->weights_path,
                        s->name, got, config_path, t->cols);
            else
                qh_fail(err, "%s: tensor '%s' has shape %s but %s implies (%d, %d)", m->weights_path,
                        s->name, got, config_path, transposed ? t->cols : t->rows, transposed ? t->rows : t->cols);
            goto fail;
        }
        if (!from_quantized) {
            used[s - st.tensors] = 1;
            t->stored_bytes = s->nbytes;
            if (qh_st_to_f32(&st, s, file, err) != 0) {
                free(file);
                goto fail;
            }
        }
        if (transposed) {
            t->data = qh_malloc(n * sizeof(float));
            int rope = qh_model_arch_tensor(m, k)->hf_rope_rows;
            transpose_rows(file, t->cols, t->rows, rope ? c->n_embd / c->n_head : 0, t->data);
            free(file);
        } else {
            t->data = file;
        }
        if (qh_model_arch_tensor(m, k)->hf_plus_one)
            for (size_t i = 0; i < n; i++) t->data[i] += 1.0f;
        if (k == 0 && s) snprintf(m->dtype, sizeof m->dtype, "%s", qh_dtype_name(s->dtype));
        m->n_params += n;
    }
    for (int i = 0; i < st.n_tensors; i++)
        if (!used[i]) {
            qh_fail(err, "%s: unexpected tensor '%s' for a %s with n_layer %d%s%s", m->weights_path, st.tensors[i].name, a->display, c->n_layer,
                    quantized ? " stored as " : "", quantized ? hfq.desc : "");
            goto fail;
        }
    if (!lm_head && !hf_tied) {
        qh_fail(err, "%s: tensor 'lm_head.weight' is missing and %s does not tie the head to the embedding", m->weights_path,
                config_path);
        goto fail;
    }
    if (lm_head) {
        if (!(lm_head->ndim == 2 && lm_head->shape[0] == c->n_vocab && lm_head->shape[1] == c->n_embd)) {
            qh_fail(err, "%s: tensor 'lm_head.weight' must have shape (%d, %d)%s", m->weights_path,
                    c->n_vocab, c->n_embd, quantized ? " (a quantized head is not read)" : "");
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
    free(found);
    free(used);
    found = NULL;
    used = NULL;
    qh_st_close(&st);
    have_st = 0;
    if (compute_sha && qh_sha256_file(m->weights_path, m->sha256, err) != 0) goto fail;
    free(config_path);
    *out = m;
    return 0;
fail:
    free(found);
    free(used);
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
    if (qh_is_dir(p)) {
        /* a model fetched at set-up (make deps): its folder holds the card, the manifest and
         * model.gguf; named even when the file is missing, so that the error says how to get it */
        char *cfg = qh_path_join(p, "config.json"), *sums = qh_path_join(p, "SHA256SUMS"), *gguf = qh_path_join(p, QH_FETCHED_MODEL_FILE);
        char *text = NULL;
        size_t len;
        qh_err ignored;
        qh_sum_entry *entries = NULL;
        int n_entries = 0, fetched = 0;
        if (!qh_file_exists(cfg) && qh_file_exists(sums) && qh_read_file(sums, &text, &len, &ignored) == 0 &&
            qh_sha256sums_parse(sums, text, len, &entries, &n_entries, &ignored) == 0)
            for (int i = 0; i < n_entries && !fetched; i++) fetched = strcmp(entries[i].name, QH_FETCHED_MODEL_FILE) == 0;
        free(entries);
        free(text);
        free(cfg);
        free(sums);
        if (fetched) {
            free(p);
            return gguf;
        }
        free(gguf);
        return p;
    }
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
