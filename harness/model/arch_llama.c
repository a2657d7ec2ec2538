/* arch_llama.c - Llama (Hugging Face's LlamaForCausalLM; llama.cpp's llama; llama2.c's
 * checkpoints, SmolLM2): RMSNorm, rotary positions in adjacent pairs, grouped-query attention,
 * SwiGLU.  Everything qharness knows of the family is this row. */
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
    QH_TENSOR("input_layernorm.weight", "attn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln1_w)),
    QH_TENSOR("self_attn.q_proj.weight", "attn_q.weight", 2, QH_DIM_C, QH_DIM_C, QH_IN_ATTN, B(wq), .hf_rope_rows = 1),
    QH_TENSOR("self_attn.k_proj.weight", "attn_k.weight", 2, QH_DIM_C, QH_DIM_KV, QH_IN_ATTN, B(wk), .hf_rope_rows = 1),
    QH_TENSOR("self_attn.v_proj.weight", "attn_v.weight", 2, QH_DIM_C, QH_DIM_KV, QH_IN_ATTN, B(wv)),
    QH_TENSOR("self_attn.o_proj.weight", "attn_output.weight", 2, QH_DIM_C, QH_DIM_C, QH_IN_ATTN_PROJ, B(attnproj_w)),
    QH_TENSOR("post_attention_layernorm.weight", "ffn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln2_w)),
    QH_TENSOR("mlp.gate_proj.weight", "ffn_gate.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(gate_w)),
    QH_TENSOR("mlp.up_proj.weight", "ffn_up.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(fc_w)),
    QH_TENSOR("mlp.down_proj.weight", "ffn_down.weight", 2, QH_DIM_FF, QH_DIM_C, QH_IN_FC_PROJ, B(fcproj_w)),
};
static const qh_arch_tensor post[] = {
    QH_TENSOR("norm.weight", "output_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, G(lnf_w)),
};
static const char *const scope[] = {"layers.*.self_attn.*_proj.weight", "layers.*.mlp.*_proj.weight"};
static_assert(sizeof block / sizeof *block == 9, "Llama has 9 tensors per block");

/* Llama: x += o(attn(rope(q, k), v)) of RMSNorm1(x); x += down(silu(gate(h)) * up(h)), h = RMSNorm2(x).
 * q, k, v go into one (N, W) row each so that attention and the kept prefixes of shared
 * contexts work as for GPT-2. */
static void forward_block(const qh_model *m, int l, int B, int T, qh_workspace *ws, const qh_continuation *k, qh_capture_fn capture,
                          void *ud)
{
    const qh_config *c = &m->cfg;
    int C = c->n_embd, N = B * T, W = ws->W, n_kv = qh_config_kv_heads(c);
    size_t NC = (size_t)N * C;
    const qh_block *bl = &m->blocks[l];
    qh_rmsnorm(ws->ln, ws->x, bl->ln1_w, N, C, c->ln_eps);
    if (capture) capture(ud, l, QH_IN_ATTN, ws->ln, N, C);
    qh_qkv_separate(ws, bl, N, C);
    qh_rope(ws->qkv, B, T, W, ws->hs, c->n_head, n_kv, c->rope_theta, 0, k);
    qh_attend(ws, k, l, B, T, n_kv, 0);
    if (capture) capture(ud, l, QH_IN_ATTN_PROJ, ws->att, N, C);
    qh_matmul(ws->ln, ws->att, bl->attnproj_w, NULL, N, C, C);
    qh_residual(ws->x, ws->ln, NC);
    qh_rmsnorm(ws->ln, ws->x, bl->ln2_w, N, C, c->ln_eps);
    if (capture) capture(ud, l, QH_IN_FC, ws->ln, N, C);
    qh_gated_mlp(m, l, N, ws, qh_swiglu, capture, ud);
    qh_residual(ws->x, ws->ln, NC);
}

/* llama.cpp's llama keys; what qharness's forward pass does not run (rope scaling, experts,
 * partial rotary dimensions) is refused rather than run wrongly. */
static int config_gguf(const qh_gguf *g, qh_config *c, qh_err *err)
{
    if (qh_gguf_config_rms_rope(g, "llama", c, "", err) != 0) return -1;
    if (c->n_embd % c->n_head) return qh_fail(err, "%s: embedding_length %d is not a multiple of head_count %d", g->path, c->n_embd, c->n_head);
    int hs = c->n_embd / c->n_head, rot = hs;
    if (qh_gguf_find(g, "llama.rope.dimension_count") && qh_gguf_config_int(g, "llama.rope.dimension_count", &rot, err)) return -1;
    if (rot != hs || hs % 2)
        return qh_fail(err, "%s: rope.dimension_count %d with heads %d wide: qharness rotates whole heads of even width", g->path, rot, hs);
    const qh_gguf_kv *experts = qh_gguf_find(g, "llama.expert_count");
    if (experts && experts->u > 0) return qh_fail(err, "%s: a mixture of experts (llama.expert_count): not supported", g->path);
    return 0;
}

/* Llama's keys (what config_gguf reads back) and its SentencePiece vocabulary: pieces, scores,
 * token types and the special ids, as llama.cpp's converters write them. */
static int write_gguf(qh_gguf_writer *w, const qh_model *m, const qh_tokenizer *tok, qh_err *err)
{
    const qh_config *c = &m->cfg;
    qh_gguf_put_u32(w, "llama.block_count", (uint32_t)c->n_layer);
    qh_gguf_put_u32(w, "llama.context_length", (uint32_t)c->n_ctx);
    qh_gguf_put_u32(w, "llama.embedding_length", (uint32_t)c->n_embd);
    qh_gguf_put_u32(w, "llama.feed_forward_length", (uint32_t)qh_config_ff(c));
    qh_gguf_put_u32(w, "llama.attention.head_count", (uint32_t)c->n_head);
    qh_gguf_put_u32(w, "llama.attention.head_count_kv", (uint32_t)qh_config_kv_heads(c));
    qh_gguf_put_u32(w, "llama.rope.dimension_count", (uint32_t)(c->n_embd / c->n_head));
    qh_gguf_put_f32(w, "llama.attention.layer_norm_rms_epsilon", c->ln_eps);
    if (c->rope_theta != 10000.0f) qh_gguf_put_f32(w, "llama.rope.freq_base", c->rope_theta); /* llama.cpp's default */
    return qh_tokenizer_write_gguf_spm(w, tok, err);
}

/* LlamaForCausalLM's config.json (model_type "llama"); what qharness does not run is refused. */
static int config_hf(const char *path, const cJSON *root, qh_config *cfg, int *tied, qh_err *err)
{
    if (qh_json_config_int(path, root, "hidden_size", NULL, &cfg->n_embd, err) ||
        qh_json_config_int(path, root, "num_hidden_layers", NULL, &cfg->n_layer, err) ||
        qh_json_config_int(path, root, "num_attention_heads", NULL, &cfg->n_head, err) ||
        qh_json_config_int(path, root, "intermediate_size", NULL, &cfg->n_ff, err) ||
        qh_json_config_int(path, root, "max_position_embeddings", NULL, &cfg->n_ctx, err) ||
        qh_json_config_int(path, root, "vocab_size", NULL, &cfg->n_vocab, err))
        return -1;
    cfg->n_kv_head = cfg->n_head;
    if (cJSON_GetObjectItemCaseSensitive(root, "num_key_value_heads") &&
        qh_json_config_int(path, root, "num_key_value_heads", NULL, &cfg->n_kv_head, err))
        return -1;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "rms_norm_eps");
    const cJSON *theta = cJSON_GetObjectItemCaseSensitive(root, "rope_theta");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    const cJSON *scaling = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    const cJSON *head_dim = cJSON_GetObjectItemCaseSensitive(root, "head_dim");
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    cfg->ln_eps = 1e-6f; /* transformers' LlamaConfig default */
    if (eps) {
        if (!cJSON_IsNumber(eps) || eps->valuedouble <= 0 || eps->valuedouble > 1)
            return qh_fail(err, "%s: 'rms_norm_eps' must be a number in (0, 1]", path);
        cfg->ln_eps = (float)eps->valuedouble;
    }
    cfg->rope_theta = 10000.0f;
    if (theta) {
        if (!cJSON_IsNumber(theta) || theta->valuedouble <= 1) return qh_fail(err, "%s: 'rope_theta' must be a number above 1", path);
        cfg->rope_theta = (float)theta->valuedouble;
    }
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return qh_fail(err, "%s: hidden_act '%s' is not supported (Llama uses silu)", path, cJSON_IsString(act) ? act->valuestring : "?");
    if (scaling && !cJSON_IsNull(scaling))
        return qh_fail(err, "%s: 'rope_scaling' is set: qharness runs plain RoPE only", path);
    if (cfg->n_embd % cfg->n_head) return qh_fail(err, "%s: hidden_size %d is not a multiple of num_attention_heads %d", path, cfg->n_embd, cfg->n_head);
    if (head_dim && !cJSON_IsNull(head_dim) && (!cJSON_IsNumber(head_dim) || head_dim->valuedouble != cfg->n_embd / cfg->n_head))
        return qh_fail(err, "%s: head_dim other than hidden_size / num_attention_heads (%d) is not supported", path, cfg->n_embd / cfg->n_head);
    if ((cfg->n_embd / cfg->n_head) % 2) return qh_fail(err, "%s: the head width %d is odd: RoPE rotates pairs", path, cfg->n_embd / cfg->n_head);
    if (cfg->n_kv_head > cfg->n_head || cfg->n_head % cfg->n_kv_head)
        return qh_fail(err, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path, cfg->n_head, cfg->n_kv_head);
    static const char *const unsupported[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, unsupported[i]);
        if (cJSON_IsTrue(b)) return qh_fail(err, "%s: '%s' is true: Llama's linear layers have no biases in qharness", path, unsupported[i]);
    }
    *tied = cJSON_IsTrue(tie);
    return 0;
}

const qh_arch qh_arch_llama = {
    .id = QH_ARCH_LLAMA,
    .name = "llama",
    .display = "Llama",
    .block_fmt = "layers.%d.",
    .pre = pre, .block = block, .post = post, .n_pre = QH_N_ROWS(pre), .n_block = QH_N_ROWS(block), .n_post = QH_N_ROWS(post),
    .norm = QH_NORM_RMS, .pos = QH_POS_ROPE, .mlp = QH_MLP_SWIGLU, .has_bias = 0,
    .input_dim = {QH_DIM_C, QH_DIM_C, QH_DIM_C, QH_DIM_FF},
    .default_scope = scope, .n_default_scope = QH_N_ROWS(scope),
    .linear_desc = "self_attn.q_proj, k_proj, v_proj, o_proj, mlp.gate_proj, up_proj, down_proj",
    .hf_prefix = "model.", .hf_out_in = 1,
    .packed_arch_keys = 1,
    .forward_block = forward_block,
    .config_gguf = config_gguf,
    .describe_config = qh_config_describe_rope,
    .write_gguf = write_gguf,
    .hf_model_type = "llama", .hf_ctx_key = "max_position_embeddings", .config_hf = config_hf,
};
