/* arch_gemma3.c - Gemma 3 (llama.cpp's gemma3; Hugging Face's Gemma3ForCausalLM names):
 * embeddings scaled by sqrt(C), four RMSNorms per block, per-head norms of queries and keys,
 * NeoX-order RoPE with a base per kind of layer, sliding-window attention in five layers of
 * six, a GeGLU MLP.  Everything qharness knows of the family is this row; GGUF files only
 * (no writer, no Hugging Face directories yet: both refused where asked).
 *
 * llama.cpp's converter has already added Gemma's 1 to every norm weight (Gemma computes
 * x * (1 + w)), so the file's norms apply as x * w like every other RMSNorm here. */
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
    QH_TENSOR("self_attn.q_proj.weight", "attn_q.weight", 2, QH_DIM_C, QH_DIM_Q, QH_IN_ATTN, B(wq)),
    QH_TENSOR("self_attn.k_proj.weight", "attn_k.weight", 2, QH_DIM_C, QH_DIM_KV, QH_IN_ATTN, B(wk)),
    QH_TENSOR("self_attn.v_proj.weight", "attn_v.weight", 2, QH_DIM_C, QH_DIM_KV, QH_IN_ATTN, B(wv)),
    QH_TENSOR("self_attn.q_norm.weight", "attn_q_norm.weight", 1, QH_DIM_1, QH_DIM_HEAD, -1, B(q_norm)),
    QH_TENSOR("self_attn.k_norm.weight", "attn_k_norm.weight", 1, QH_DIM_1, QH_DIM_HEAD, -1, B(k_norm)),
    QH_TENSOR("self_attn.o_proj.weight", "attn_output.weight", 2, QH_DIM_Q, QH_DIM_C, QH_IN_ATTN_PROJ, B(attnproj_w)),
    QH_TENSOR("post_attention_layernorm.weight", "post_attention_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(attn_post_norm)),
    QH_TENSOR("pre_feedforward_layernorm.weight", "ffn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln2_w)),
    QH_TENSOR("mlp.gate_proj.weight", "ffn_gate.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(gate_w)),
    QH_TENSOR("mlp.up_proj.weight", "ffn_up.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(fc_w)),
    QH_TENSOR("mlp.down_proj.weight", "ffn_down.weight", 2, QH_DIM_FF, QH_DIM_C, QH_IN_FC_PROJ, B(fcproj_w)),
    QH_TENSOR("post_feedforward_layernorm.weight", "post_ffw_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ffn_post_norm)),
};
static const qh_arch_tensor post[] = {
    QH_TENSOR("norm.weight", "output_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, G(lnf_w)),
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
    .describe_config = qh_config_describe_rope,
    .write_gguf = NULL,  /* not yet: `convert` says which families it writes */
    .hf_model_type = NULL, .hf_ctx_key = NULL, .config_hf = NULL, /* not yet: a Gemma 3 directory is refused by its model_type */
};
