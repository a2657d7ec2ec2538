/* model_gguf.c - a GGUF file (llama.cpp) as a qh_model: the architectures of arch.h's table, read and written.
 *
 * llama.cpp's tensors map one to one onto the canonical names through the architecture table
 * (arch.c: token_embd -> wte / embed_tokens, blk.N.attn_qkv -> h.N.attn.c_attn, blk.N.attn_q ->
 * layers.N.self_attn.q_proj, ..., output -> the head).  GGUF stores a linear weight with
 * ne = [in, out] (row-major (out, in), PyTorch's Linear layout), so block matrices are
 * transposed into the (in, out) layout of model.h.  llama.cpp's converter has already put
 * Llama's q and k rows in pair order, the order qharness's RoPE rotates.  Every tensor is
 * dequantized to fp32 with ggml_types.c, exactly as llama.cpp dequantizes it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/ggml_types.h"
#include "harness/formats/gguf.h"
#include "harness/model/arch_config.h"
#include "harness/model/model.h"
#include "harness/model/tokenizer.h"

int qh_gguf_config_int(const qh_gguf *g, const char *key, int *out, qh_err *err)
{
    int64_t v;
    if (qh_gguf_get_int(g, key, &v, err) != 0) return -1;
    if (v <= 0 || v > (1 << 24)) return qh_fail(err, "%s: key '%s' is %lld", g->path, key, (long long)v);
    *out = (int)v;
    return 0;
}

void qh_model_gguf_name(const qh_model *m, int k, char *out, size_t n)
{
    const qh_arch_tensor *at = qh_model_arch_tensor(m, k);
    if (m->tensors[k].layer >= 0) snprintf(out, n, "blk.%d.%s", m->tensors[k].layer, at->gguf);
    else snprintf(out, n, "%s", at->gguf);
}

/* "ARCH.key" */
static const char *arch_key(char *buf, size_t len, const char *arch, const char *key)
{
    snprintf(buf, len, "%s.%s", arch, key);
    return buf;
}

int qh_gguf_config_rms_rope(const qh_gguf *g, const char *arch, qh_config *c, const char *scaling_note, qh_err *err)
{
    char k[96];
    double eps, theta = 10000;
    if (qh_gguf_config_int(g, arch_key(k, sizeof k, arch, "block_count"), &c->n_layer, err) ||
        qh_gguf_config_int(g, arch_key(k, sizeof k, arch, "context_length"), &c->n_ctx, err) ||
        qh_gguf_config_int(g, arch_key(k, sizeof k, arch, "embedding_length"), &c->n_embd, err) ||
        qh_gguf_config_int(g, arch_key(k, sizeof k, arch, "attention.head_count"), &c->n_head, err) ||
        qh_gguf_config_int(g, arch_key(k, sizeof k, arch, "feed_forward_length"), &c->n_ff, err) ||
        qh_gguf_get_float(g, arch_key(k, sizeof k, arch, "attention.layer_norm_rms_epsilon"), &eps, err))
        return -1;
    c->ln_eps = (float)eps;
    c->n_kv_head = c->n_head;
    if (qh_gguf_find(g, arch_key(k, sizeof k, arch, "attention.head_count_kv")) && qh_gguf_config_int(g, k, &c->n_kv_head, err)) return -1;
    if (c->n_kv_head > c->n_head || c->n_head % c->n_kv_head)
        return qh_fail(err, "%s: head_count %d is not a multiple of head_count_kv %d", g->path, c->n_head, c->n_kv_head);
    if (qh_gguf_find(g, arch_key(k, sizeof k, arch, "rope.freq_base")) && qh_gguf_get_float(g, k, &theta, err)) return -1;
    if (!(theta > 1)) return qh_fail(err, "%s: key '%s' is %g", g->path, k, theta);
    c->rope_theta = (float)theta;
    const qh_gguf_kv *scaling = qh_gguf_find(g, arch_key(k, sizeof k, arch, "rope.scaling.type"));
    if (scaling && !(scaling->type == QH_GGUF_STRING && scaling->str_len == 4 && memcmp(scaling->str, "none", 4) == 0))
        return qh_fail(err, "%s: key '%s' is set%s: qharness runs plain RoPE only", g->path, k, scaling_note);
    return 0;
}

/* t (dequantized, row-major (rows_file, cols_file)) into dst, transposed when asked */
static int load_tensor(const qh_gguf *g, const qh_gguf_tensor *t, float *dst, int transpose, qh_err *err)
{
    const qh_ggml_type *ty = qh_ggml_type_by_id(t->type);
    if (!ty->dequant)
        return qh_fail(err, "%s: tensor '%s' has type %s, which is not a weight type", g->path, t->name, ty->name);
    if (!transpose) {
        qh_ggml_dequantize(ty, t->data, dst, t->n_elements);
        return 0;
    }
    long in = (long)t->ne[0], out = (long)t->ne[1];
    float *tmp = qh_malloc((size_t)t->n_elements * sizeof(float));
    qh_ggml_dequantize(ty, t->data, tmp, t->n_elements);
#pragma omp parallel for
    for (long i = 0; i < in; i++)
        for (long o = 0; o < out; o++) dst[(size_t)i * out + o] = tmp[(size_t)o * in + i];
    free(tmp);
    return 0;
}

int qh_model_load_gguf(const char *path, qh_model **out, int compute_sha, qh_err *err)
{
    qh_gguf *g;
    if (qh_gguf_open(path, &g, err) != 0) return -1;
    qh_model *m = qh_calloc(1, sizeof *m);
    char (*names)[96] = NULL;
    m->dir = qh_strdup(path);
    m->head_tied = 1;
    snprintf(m->weights_path, sizeof m->weights_path, "%s", path);
    const char *arch;
    uint64_t alen;
    if (qh_gguf_get_str(g, "general.architecture", &arch, &alen, err) != 0) goto fail;
    snprintf(m->ctx_source, sizeof m->ctx_source, "%.*s.context_length", (int)(alen < 40 ? alen : 40), arch);
    const qh_arch *a = qh_arch_by_name(arch, alen);
    if (!a) {
        char known[128] = "";
        for (int i = 0; i < QH_N_ARCH; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i == 0 ? "" : i + 1 == QH_N_ARCH ? " and " : ", ",
                     qh_archs[i]->name);
        qh_fail(err, "%s: architecture '%.*s': qharness loads GGUF files of the %s architectures", path, (int)alen, arch, known);
        goto fail;
    }
    qh_config *c = &m->cfg;
    c->arch = a->id;
    if (a->config_gguf(g, c, err) != 0) goto fail;
    const qh_gguf_tensor *te = qh_gguf_tensor_find(g, "token_embd.weight");
    if (!te || te->n_dims != 2 || te->ne[0] != c->n_embd) {
        qh_fail(err, "%s: tensor 'token_embd.weight' missing or not (%d, vocabulary)", path, c->n_embd);
        goto fail;
    }
    c->n_vocab = (int)te->ne[1];
    if (c->n_embd % c->n_head) {
        qh_fail(err, "%s: embedding_length %d is not a multiple of head_count %d", path, c->n_embd, c->n_head);
        goto fail;
    }
    if (qh_model_expected_tensors(m, g->n_tensors, path, err) != 0) goto fail;
    int block_type = -1;
    names = qh_calloc((size_t)m->n_tensors, sizeof *names); /* each tensor's GGUF name, once */
    for (int k = 0; k < m->n_tensors; k++) {
        qh_tensor *t = &m->tensors[k];
        char *name = names[k];
        qh_model_gguf_name(m, k, name, sizeof names[k]);
        const qh_gguf_tensor *s = qh_gguf_tensor_find(g, name);
        if (!s) {
            qh_fail(err, "%s: tensor '%s' is missing", path, name);
            goto fail;
        }
        int linear = t->is_linear;
        /* file shape: ne[0] is the row length; a linear weight is (out = cols, in = rows) */
        int64_t want0 = linear ? t->rows : t->cols, want1 = t->ndim == 2 ? (linear ? t->cols : t->rows) : 1;
        if (s->ne[0] != want0 || s->ne[1] != want1 || s->n_dims != t->ndim) {
            qh_fail(err, "%s: tensor '%s' has ne [%lld, %lld], expected [%lld, %lld] for this config", path, name,
                    (long long)s->ne[0], (long long)s->ne[1], (long long)want0, (long long)want1);
            goto fail;
        }
        t->data = qh_malloc((size_t)t->rows * t->cols * sizeof(float));
        if (load_tensor(g, s, t->data, linear, err) != 0) goto fail;
        m->n_params += (size_t)t->rows * t->cols;
        if (linear && block_type < 0) block_type = (int)s->type;
    }
    snprintf(m->dtype, sizeof m->dtype, "%s", qh_ggml_type_by_id(block_type >= 0 ? (uint32_t)block_type : 0)->name);
    const qh_gguf_tensor *ot = qh_gguf_tensor_find(g, "output.weight");
    if (ot) {
        if (ot->n_dims != 2 || ot->ne[0] != c->n_embd || ot->ne[1] != c->n_vocab) {
            qh_fail(err, "%s: tensor 'output.weight' must have ne [%d, %d]", path, c->n_embd, c->n_vocab);
            goto fail;
        }
        float *head = qh_malloc((size_t)c->n_vocab * c->n_embd * sizeof(float));
        if (load_tensor(g, ot, head, 0, err) != 0) {
            free(head);
            goto fail;
        }
        /* llama.cpp writes the tied head out as its own tensor; keep it apart only if it differs */
        if (memcmp(head, m->tensors[0].data, (size_t)c->n_vocab * c->n_embd * sizeof(float)) == 0) free(head);
        else {
            m->head = head;
            m->head_tied = 0;
            m->n_params += (size_t)c->n_vocab * c->n_embd;
        }
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) { /* nothing unread: an unknown tensor means another architecture */
        const char *n = g->tensors[i].name;
        int known = strcmp(n, "output.weight") == 0;
        for (int k = 0; k < m->n_tensors && !known; k++) known = strcmp(names[k], n) == 0;
        if (!known) {
            qh_fail(err, "%s: unexpected tensor '%s' for a %s with %d blocks", path, n, a->display, c->n_layer);
            goto fail;
        }
    }
    qh_model_wire(m);
    qh_gguf_close(g);
    free(names);
    if (compute_sha && qh_sha256_file(path, m->sha256, err) != 0) {
        qh_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
fail:
    qh_gguf_close(g);
    free(names);
    qh_model_free(m);
    return -1;
}

/* ---- writing ------------------------------------------------------------------------------ */

static const struct { const char *type; uint32_t file_type; } file_types[] = {
    {"F32", 0}, {"F16", 1}, {"BF16", 32}, {"Q8_0", 7}, {"Q4_0", 2}, /* llama_ftype LLAMA_FTYPE_ALL_F32, MOSTLY_* */
    {"MXFP4", 38}, /* llama.cpp names it MOSTLY_MXFP4_MOE (gpt-oss's experts); its loader takes it for any tensor */
};

const char *qh_gguf_write_types(const char *sep, const char *last_sep)
{
    static __thread char list[128];
    list[0] = 0;
    size_t n = sizeof file_types / sizeof *file_types;
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i == 0 ? "" : i + 1 == n ? last_sep : sep, file_types[i].type);
    return list;
}

/* The family's keys and vocabulary (its row's write_gguf) and every tensor, as llama.cpp's
 * converter writes them. */
int qh_model_write_gguf(const qh_model *m, const qh_tokenizer *tok, const char *name, const char *type_name, const char *path,
                        qh_err *err)
{
    const qh_ggml_type *ty = qh_ggml_type_by_name(type_name);
    int ft = -1;
    for (size_t i = 0; i < sizeof file_types / sizeof *file_types; i++)
        if (ty && strcmp(file_types[i].type, ty->name) == 0) ft = (int)file_types[i].file_type;
    if (ft < 0 || !ty->quant) return qh_fail(err, "--type %s: qharness writes %s", type_name, qh_gguf_write_types(", ", " or "));
    const qh_config *c = &m->cfg;
    int n_vocab_tok = qh_tokenizer_vocab_size(tok);
    if (n_vocab_tok != c->n_vocab)
        return qh_fail(err, "the tokenizer has %d tokens and the model %d: GGUF needs one token per embedding row", n_vocab_tok,
                       c->n_vocab);
    const qh_arch *a = qh_config_arch(c);
    if (!a->write_gguf) {
        char written[128] = "";
        for (int i = 0, n = 0; i < QH_N_ARCH; i++)
            if (qh_archs[i]->write_gguf)
                snprintf(written + strlen(written), sizeof written - strlen(written), "%s%s", n++ ? " and " : "", qh_archs[i]->name);
        return qh_fail(err, "%s: qharness writes GGUF files of the %s architectures, not %s", path, written, a->name);
    }
    int rc = -1;
    qh_gguf_writer *w = qh_gguf_writer_new(32);
    qh_gguf_put_str(w, "general.architecture", a->name);
    qh_gguf_put_str(w, "general.name", name);
    if (a->write_gguf(w, m, tok, err) != 0) {
        qh_gguf_writer_free(w);
        return -1;
    }
    if (ty->block > 1) qh_gguf_put_u32(w, "general.quantization_version", 2);
    qh_gguf_put_u32(w, "general.file_type", (uint32_t)ft);

    /* every tensor in the GGUF orientation, then its bytes; 1-D tensors and position_embd stay F32
     * (as llama-quantize leaves them); an untied head, and a tied one unless the family's
     * converter leaves it out (the row's gguf_omits_tied_head), is written as `output` */
    int n_out = m->n_tensors + (!m->head_tied || !a->gguf_omits_tied_head);
    uint8_t **blobs = qh_calloc((size_t)n_out, sizeof *blobs);
    for (int k = 0; k < n_out; k++) {
        const qh_tensor *t = k < m->n_tensors ? &m->tensors[k] : NULL;
        char gname[96];
        const float *src = t ? t->data : m->head;
        int64_t ne[2];
        int nd, linear = t && t->is_linear;
        if (t) {
            qh_model_gguf_name(m, k, gname, sizeof gname);
            nd = t->ndim;
            ne[0] = linear ? t->rows : t->cols;
            ne[1] = linear ? t->cols : t->rows;
        } else {
            snprintf(gname, sizeof gname, "output.weight");
            nd = 2;
            ne[0] = c->n_embd;
            ne[1] = c->n_vocab;
        }
        size_t n = (size_t)ne[0] * (size_t)(nd == 2 ? ne[1] : 1);
        float *rows = NULL;
        if (linear) { /* Conv1D (in, out) -> (out, in) */
            rows = qh_malloc(n * sizeof(float));
#pragma omp parallel for
            for (long o = 0; o < (long)ne[1]; o++)
                for (long i = 0; i < (long)ne[0]; i++) rows[(size_t)o * ne[0] + i] = src[(size_t)i * ne[1] + o];
            src = rows;
        }
        const qh_ggml_type *tt = nd == 1 || (t && strcmp(t->name, "wpe.weight") == 0) || ne[0] % ty->block ? qh_ggml_type_by_id(0) : ty;
        size_t bytes = n / (size_t)tt->block * tt->bytes;
        blobs[k] = qh_malloc(bytes);
        if (tt->id == 0) memcpy(blobs[k], src, bytes);
        else qh_ggml_quantize(tt, src, blobs[k], n);
        free(rows);
        if (qh_gguf_put_tensor(w, gname, nd, ne, tt->id, blobs[k], bytes, err) != 0) goto out;
    }
    rc = qh_gguf_write(w, path, err);
out:
    for (int k = 0; k < n_out; k++) free(blobs[k]);
    free(blobs);
    qh_gguf_writer_free(w);
    return rc;
}
