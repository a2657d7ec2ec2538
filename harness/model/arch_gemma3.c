/* arch_gemma3.c - Gemma 3 (llama.cpp's gemma3; Hugging Face's Gemma3ForCausalLM names):
 * embeddings scaled by sqrt(C), four RMSNorms per block, per-head norms of queries and keys,
 * NeoX-order RoPE with a base per kind of layer, sliding-window attention in five layers of
 * six, a GeGLU MLP.  Everything qharness knows of the family is this row: GGUF files read
 * and written, Hugging Face Gemma3ForCausalLM directories read.
 *
 * Gemma computes x * (1 + w) in its RMSNorms.  llama.cpp's converter has already added the 1
 * to every norm weight of a GGUF file; a Hugging Face file holds w, and the loader adds the 1
 * (the rows' hf_plus_one), so that every norm applies as x * w like every other RMSNorm here. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/arch_config.h"
#include "harness/model/layers.h"

#define G(f) offsetof(qh_model, f)
#define B(f) offsetof(qh_block, f)

static const qh_arch_tensor pre[] = {
    QH_TENSOR("embed_tokens.weight", "token_embd.weight", 2, QH_DIM_VOCAB, QH_DIM_C, -1, G(wte)),
};
static const qh_arch_tensor block[] = {
    QH_TENSOR("input_layernorm.weight", "attn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln1_w), .hf_plus_one = 1),
    QH_TENSOR("self_attn.q_proj.weight", "attn_q.weight", 2, QH_DIM_C, QH_DIM_Q, QH_IN_ATTN, B(wq)),
    QH_TENSOR("self_attn.k_proj.weight", "attn_k.weight", 2, QH_DIM_C, QH_DIM_KV, QH_IN_ATTN, B(wk)),
    QH_TENSOR("self_attn.v_proj.weight", "attn_v.weight", 2, QH_DIM_C, QH_DIM_KV, QH_IN_ATTN, B(wv)),
    QH_TENSOR("self_attn.q_norm.weight", "attn_q_norm.weight", 1, QH_DIM_1, QH_DIM_HEAD, -1, B(q_norm), .hf_plus_one = 1),
    QH_TENSOR("self_attn.k_norm.weight", "attn_k_norm.weight", 1, QH_DIM_1, QH_DIM_HEAD, -1, B(k_norm), .hf_plus_one = 1),
    QH_TENSOR("self_attn.o_proj.weight", "attn_output.weight", 2, QH_DIM_Q, QH_DIM_C, QH_IN_ATTN_PROJ, B(attnproj_w)),
    QH_TENSOR("post_attention_layernorm.weight", "post_attention_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(attn_post_norm), .hf_plus_one = 1),
    QH_TENSOR("pre_feedforward_layernorm.weight", "ffn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln2_w), .hf_plus_one = 1),
    QH_TENSOR("mlp.gate_proj.weight", "ffn_gate.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(gate_w)),
    QH_TENSOR("mlp.up_proj.weight", "ffn_up.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(fc_w)),
    QH_TENSOR("mlp.down_proj.weight", "ffn_down.weight", 2, QH_DIM_FF, QH_DIM_C, QH_IN_FC_PROJ, B(fcproj_w)),
    QH_TENSOR("post_feedforward_layernorm.weight", "post_ffw_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ffn_post_norm), .hf_plus_one = 1),
};
static const qh_arch_tensor post[] = {
    QH_TENSOR("norm.weight", "output_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, G(lnf_w), .hf_plus_one = 1),
};
static const char *const scope[] = {"layers.*.self_attn.*_proj.weight", "layers.*.mlp.*_proj.weight"};
static_assert(sizeof block / sizeof *block == 13, "Gemma 3 has 13 tensors per block");

/* Gemma 3: h = RMSNorm1(x); x += PostNorm1(o(attn(rope(QNorm(q h)), rope(KNorm(k h)), v h)));
 * h = RMSNorm2(x); x += PostNorm2(down(gelu(gate h) * up h)).  Layer l attends within its
 * sliding window or globally, with that kind of layer's RoPE base (qh_config_layer_window). */
static void forward_block(const qh_model *m, int l, int B, int T, qh_workspace *ws, const qh_continuation *k, qh_capture_fn capture,
                          void *ud)
{
    const qh_config *c = &m->cfg;
    int C = c->n_embd, N = B * T, W = ws->W, QW = ws->QW, hs = ws->hs, n_kv = qh_config_kv_heads(c);
    int sliding = qh_config_layer_window(c, l);
    size_t NC = (size_t)N * C;
    const qh_block *bl = &m->blocks[l];
    qh_rmsnorm(ws->ln, ws->x, bl->ln1_w, N, C, c->ln_eps);
    if (capture) capture(ud, l, QH_IN_ATTN, ws->ln, N, C);
    qh_qkv_separate(ws, bl, N, C);
    qh_head_rmsnorm(ws->qkv, N, W, 0, c->n_head, hs, bl->q_norm, c->ln_eps);
    qh_head_rmsnorm(ws->qkv, N, W, QW, n_kv, hs, bl->k_norm, c->ln_eps);
    qh_rope(ws->qkv, B, T, W, hs, c->n_head, n_kv, qh_config_layer_rope_theta(c, l), 1, k);
    qh_attend(ws, k, l, B, T, n_kv, sliding);
    if (capture) capture(ud, l, QH_IN_ATTN_PROJ, ws->att, N, QW);
    qh_matmul(ws->ln, ws->att, bl->attnproj_w, NULL, N, QW, C);
    qh_rmsnorm(ws->ln, ws->ln, bl->attn_post_norm, N, C, c->ln_eps);
    qh_residual(ws->x, ws->ln, NC);
    qh_rmsnorm(ws->ln, ws->x, bl->ln2_w, N, C, c->ln_eps);
    if (capture) capture(ud, l, QH_IN_FC, ws->ln, N, C);
    qh_gated_mlp(m, l, N, ws, qh_geglu, capture, ud);
    qh_rmsnorm(ws->ln, ws->ln, bl->ffn_post_norm, N, C, c->ln_eps);
    qh_residual(ws->x, ws->ln, NC);
}

/* llama.cpp's gemma3 keys and the rules llama.cpp's loader adds to them (llama-model.cpp): with
 * a sliding window, every sixth layer (l % 6 == 5) attends globally and the others within the
 * window, the windowed layers rotate with base 10000 and the global ones with rope.freq_base;
 * queries are scaled by 1/sqrt(key_length) (the 27B's other rule is refused by its size). */
static int config_gguf(const qh_gguf *g, qh_config *c, qh_err *err)
{
    int key_len = 0, value_len = 0, window = 0;
    if (qh_gguf_config_rms_rope(g, "gemma3", c, " (the larger Gemma 3 models scale their global RoPE)", err) != 0 ||
        qh_gguf_config_int(g, "gemma3.attention.key_length", &key_len, err) || qh_gguf_config_int(g, "gemma3.attention.value_length", &value_len, err))
        return -1;
    if (key_len != value_len || key_len % 2)
        return qh_fail(err, "%s: key_length %d and value_length %d: qharness runs equal, even head widths", g->path, key_len, value_len);
    c->head_dim = key_len;
    if (qh_gguf_find(g, "gemma3.attention.sliding_window") && qh_gguf_config_int(g, "gemma3.attention.sliding_window", &window, err)) return -1;
    c->swa_window = window;
    c->swa_period = window ? 6 : 0;
    c->rope_theta_swa = 10000.0f;
    const char *caps[] = {"gemma3.final_logit_softcapping", "gemma3.attn_logit_softcapping"};
    for (int i = 0; i < 2; i++) {
        double cap = 0;
        if (qh_gguf_find(g, caps[i]) && qh_gguf_get_float(g, caps[i], &cap, err)) return -1;
        if (cap != 0) return qh_fail(err, "%s: key '%s' is %g: qharness does not cap logits", g->path, caps[i], cap);
    }
    if (c->n_layer == 62) /* llama.cpp's 27B scales queries by 1/sqrt(n_embd / n_head) */
        return qh_fail(err, "%s: a 62-block Gemma 3 (27B) scales its queries differently: not supported", g->path);
    return 0;
}

/* llama.cpp's gemma3 keys, as its converter writes them (what config_gguf reads back), and the
 * SentencePiece vocabulary with the source file's token types and special ids. */
static int write_gguf(qh_gguf_writer *w, const qh_model *m, const qh_tokenizer *tok, qh_err *err)
{
    const qh_config *c = &m->cfg;
    /* config_gguf's rules are the only ones the file can say: a window on five layers of six,
     * base 10000 on them */
    if (c->swa_window && (c->swa_period != 6 || c->rope_theta_swa != 10000.0f))
        return qh_fail(err, "a Gemma 3 with a sliding window every %d layers and base %g there is not what llama.cpp's gemma3 keys say",
                       c->swa_period, c->rope_theta_swa);
    int hs = qh_config_head_dim(c);
    qh_gguf_put_u32(w, "gemma3.context_length", (uint32_t)c->n_ctx);
    qh_gguf_put_u32(w, "gemma3.embedding_length", (uint32_t)c->n_embd);
    qh_gguf_put_u32(w, "gemma3.block_count", (uint32_t)c->n_layer);
    qh_gguf_put_u32(w, "gemma3.feed_forward_length", (uint32_t)qh_config_ff(c));
    qh_gguf_put_u32(w, "gemma3.attention.head_count", (uint32_t)c->n_head);
    qh_gguf_put_f32(w, "gemma3.attention.layer_norm_rms_epsilon", c->ln_eps);
    qh_gguf_put_u32(w, "gemma3.attention.key_length", (uint32_t)hs);
    qh_gguf_put_u32(w, "gemma3.attention.value_length", (uint32_t)hs);
    qh_gguf_put_f32(w, "gemma3.rope.freq_base", c->rope_theta);
    if (c->swa_window) qh_gguf_put_u32(w, "gemma3.attention.sliding_window", (uint32_t)c->swa_window);
    qh_gguf_put_u32(w, "gemma3.attention.head_count_kv", (uint32_t)qh_config_kv_heads(c));
    return qh_tokenizer_write_gguf_spm(w, tok, err);
}

/* root[key] as a number in (lo, hi], def where the file has no such key (or null) */
static int json_number(const char *path, const cJSON *root, const char *key, double def, double lo, double hi, double *out, qh_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = def;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble > lo && v->valuedouble <= hi))
        return qh_fail(err, "%s: '%s' must be a number in (%g, %g]", path, key, lo, hi);
    *out = v->valuedouble;
    return 0;
}

/* Gemma3ForCausalLM's config.json (model_type "gemma3_text", transformers' Gemma3TextConfig;
 * its defaults where a key is absent).  What the forward pass does not run is refused by name:
 * RoPE scaling (the larger Gemma 3 models' global layers), logit soft-capping, a query scale
 * other than 1/sqrt(head_dim), biases, another activation, a layer pattern other than a global
 * layer closing every period. */
static int config_hf(const char *path, const cJSON *root, qh_config *cfg, int *tied, qh_err *err)
{
    if (qh_json_config_int(path, root, "hidden_size", NULL, &cfg->n_embd, err) ||
        qh_json_config_int(path, root, "num_hidden_layers", NULL, &cfg->n_layer, err) ||
        qh_json_config_int(path, root, "num_attention_heads", NULL, &cfg->n_head, err) ||
        qh_json_config_int(path, root, "num_key_value_heads", NULL, &cfg->n_kv_head, err) ||
        qh_json_config_int(path, root, "head_dim", NULL, &cfg->head_dim, err) ||
        qh_json_config_int(path, root, "intermediate_size", NULL, &cfg->n_ff, err) ||
        qh_json_config_int(path, root, "max_position_embeddings", NULL, &cfg->n_ctx, err) ||
        qh_json_config_int(path, root, "vocab_size", NULL, &cfg->n_vocab, err))
        return -1;
    double eps, theta, theta_local, scalar;
    if (json_number(path, root, "rms_norm_eps", 1e-6, 0, 1, &eps, err) ||
        json_number(path, root, "rope_theta", 1e6, 1, 1e12, &theta, err) ||
        json_number(path, root, "rope_local_base_freq", 1e4, 1, 1e12, &theta_local, err) ||
        json_number(path, root, "query_pre_attn_scalar", cfg->head_dim, 0, 1e9, &scalar, err))
        return -1;
    cfg->ln_eps = (float)eps;
    cfg->rope_theta = (float)theta;
    cfg->rope_theta_swa = (float)theta_local;
    if (scalar != cfg->head_dim)
        return qh_fail(err, "%s: query_pre_attn_scalar %g is not head_dim %d: qharness scales queries by 1/sqrt(head_dim)", path,
                       scalar, cfg->head_dim);
    if (cfg->head_dim % 2) return qh_fail(err, "%s: head_dim %d is odd: RoPE rotates pairs", path, cfg->head_dim);
    if (cfg->n_kv_head > cfg->n_head || cfg->n_head % cfg->n_kv_head)
        return qh_fail(err, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path, cfg->n_head, cfg->n_kv_head);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_activation");
    if (act && !cJSON_IsNull(act) && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu_pytorch_tanh") != 0))
        return qh_fail(err, "%s: hidden_activation '%s' is not supported (Gemma 3 uses gelu_pytorch_tanh)", path,
                       cJSON_IsString(act) ? act->valuestring : "?");
    static const char *const unset[] = {"rope_scaling", "final_logit_softcapping", "attn_logit_softcapping"};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, unset[i]);
        if (v && !cJSON_IsNull(v)) return qh_fail(err, "%s: '%s' is set: not supported by qharness's Gemma 3", path, unset[i]);
    }
    static const char *const unsupported[] = {"attention_bias", "use_bidirectional_attention"};
    for (int i = 0; i < 2; i++)
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, unsupported[i])))
            return qh_fail(err, "%s: '%s' is true: not supported by qharness's Gemma 3", path, unsupported[i]);
    /* the sliding window and which layers use it: layer_types (transformers 4.53 and later) or
     * sliding_window_pattern (before: every pattern-th layer global), default 6 */
    double window, pattern;
    if (json_number(path, root, "sliding_window", 4096, 0, 1e9, &window, err) ||
        json_number(path, root, "sliding_window_pattern", 6, 0, 1e6, &pattern, err))
        return -1;
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(root, "layer_types");
    if (types && !cJSON_IsNull(types)) {
        if (!cJSON_IsArray(types) || cJSON_GetArraySize(types) != cfg->n_layer)
            return qh_fail(err, "%s: 'layer_types' must be an array of %d strings (one per layer)", path, cfg->n_layer);
        pattern = 0;
        for (int l = 0; l < cfg->n_layer && pattern == 0; l++) {
            const cJSON *t = cJSON_GetArrayItem(types, l);
            if (cJSON_IsString(t) && strcmp(t->valuestring, "full_attention") == 0) pattern = l + 1;
        }
        for (int l = 0; l < cfg->n_layer; l++) {
            const cJSON *t = cJSON_GetArrayItem(types, l);
            const char *want = pattern > 0 && l % (int)pattern == (int)pattern - 1 ? "full_attention" : "sliding_attention";
            if (!cJSON_IsString(t) || strcmp(t->valuestring, want) != 0)
                return qh_fail(err, "%s: layer_types[%d] is not '%s': qharness runs a global layer closing every period of "
                               "sliding-window layers", path, l, want);
        }
    }
    if (pattern != (int)pattern) return qh_fail(err, "%s: 'sliding_window_pattern' must be an integer", path);
    cfg->swa_window = (int)window;
    cfg->swa_period = (int)pattern;
    *tied = 1; /* Gemma3TextConfig's default */
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (tie && !cJSON_IsNull(tie)) *tied = cJSON_IsTrue(tie);
    return 0;
}

/* The config line of `info`: the shared RoPE line, then what Gemma 3 adds to it. */
static void describe_config(const qh_config *c, char *out, size_t n)
{
    qh_config_describe_rope(c, out, n);
    size_t len = strlen(out);
    if (c->swa_window && c->swa_period)
        snprintf(out + len, n - len, ", head_dim %d, sliding window %d (rope_theta %g), layers %d, %d, ... global",
                 qh_config_head_dim(c), c->swa_window, c->rope_theta_swa, c->swa_period - 1, 2 * c->swa_period - 1);
    else if (c->swa_window)
        snprintf(out + len, n - len, ", head_dim %d, sliding window %d (rope_theta %g) on every layer", qh_config_head_dim(c),
                 c->swa_window, c->rope_theta_swa);
    else
        snprintf(out + len, n - len, ", head_dim %d, no sliding window", qh_config_head_dim(c));
}

const qh_arch qh_arch_gemma3 = {
    .id = QH_ARCH_GEMMA3,
    .name = "gemma3",
    .display = "Gemma 3",
    .block_fmt = "layers.%d.",
    .pre = pre, .block = block, .post = post, .n_pre = QH_N_ROWS(pre), .n_block = QH_N_ROWS(block), .n_post = QH_N_ROWS(post),
    .norm = QH_NORM_RMS, .pos = QH_POS_ROPE, .mlp = QH_MLP_GEGLU, .has_bias = 0,
    .input_dim = {QH_DIM_C, QH_DIM_Q, QH_DIM_C, QH_DIM_FF},
    .default_scope = scope, .n_default_scope = QH_N_ROWS(scope),
    .linear_desc = "self_attn.q_proj, k_proj, v_proj, o_proj, mlp.gate_proj, up_proj, down_proj",
    .hf_prefix = "model.", .hf_out_in = 1,
    .embed_scaled = 1, .rope_neox = 1,
    .packed_arch_keys = 1,
    .forward_block = forward_block,
    .config_gguf = config_gguf,
    .describe_config = describe_config,
    .write_gguf = write_gguf,
    .gguf_omits_tied_head = 1, /* as llama.cpp's gemma3 converter */
    .hf_model_type = "gemma3_text", .hf_ctx_key = "max_position_embeddings", .config_hf = config_hf,
};
