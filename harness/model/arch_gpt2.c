/* arch_gpt2.c - GPT-2 (Hugging Face's GPT2LMHeadModel; llama.cpp's gpt2): learned positions,
 * pre-LayerNorm blocks with biases, fused q|k|v (Conv1D), a GELU MLP four times as wide, the
 * head tied to the token embedding.  Everything qharness knows of the family is this row. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/arch_config.h"
#include "harness/model/layers.h"

#define G(f) offsetof(qh_model, f)
#define B(f) offsetof(qh_block, f)

static const qh_arch_tensor pre[] = {
    QH_TENSOR("wte.weight", "token_embd.weight", 2, QH_DIM_VOCAB, QH_DIM_C, -1, G(wte)),
    QH_TENSOR("wpe.weight", "position_embd.weight", 2, QH_DIM_CTX, QH_DIM_C, -1, G(wpe)),
};
static const qh_arch_tensor block[] = {
    QH_TENSOR("ln_1.weight", "attn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln1_w)),
    QH_TENSOR("ln_1.bias", "attn_norm.bias", 1, QH_DIM_1, QH_DIM_C, -1, B(ln1_b)),
    QH_TENSOR("attn.c_attn.weight", "attn_qkv.weight", 2, QH_DIM_C, QH_DIM_3C, QH_IN_ATTN, B(attn_w)),
    QH_TENSOR("attn.c_attn.bias", "attn_qkv.bias", 1, QH_DIM_1, QH_DIM_3C, -1, B(attn_b)),
    QH_TENSOR("attn.c_proj.weight", "attn_output.weight", 2, QH_DIM_C, QH_DIM_C, QH_IN_ATTN_PROJ, B(attnproj_w)),
    QH_TENSOR("attn.c_proj.bias", "attn_output.bias", 1, QH_DIM_1, QH_DIM_C, -1, B(attnproj_b)),
    QH_TENSOR("ln_2.weight", "ffn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln2_w)),
    QH_TENSOR("ln_2.bias", "ffn_norm.bias", 1, QH_DIM_1, QH_DIM_C, -1, B(ln2_b)),
    QH_TENSOR("mlp.c_fc.weight", "ffn_up.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(fc_w)),
    QH_TENSOR("mlp.c_fc.bias", "ffn_up.bias", 1, QH_DIM_1, QH_DIM_FF, -1, B(fc_b)),
    QH_TENSOR("mlp.c_proj.weight", "ffn_down.weight", 2, QH_DIM_FF, QH_DIM_C, QH_IN_FC_PROJ, B(fcproj_w)),
    QH_TENSOR("mlp.c_proj.bias", "ffn_down.bias", 1, QH_DIM_1, QH_DIM_C, -1, B(fcproj_b)),
};
static const qh_arch_tensor post[] = {
    QH_TENSOR("ln_f.weight", "output_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, G(lnf_w)),
    QH_TENSOR("ln_f.bias", "output_norm.bias", 1, QH_DIM_1, QH_DIM_C, -1, G(lnf_b)),
};
static const char *const scope[] = {"h.*.attn.c_attn.weight", "h.*.attn.c_proj.weight", "h.*.mlp.c_fc.weight", "h.*.mlp.c_proj.weight"};
static_assert(sizeof block / sizeof *block == 12, "GPT-2 has 12 tensors per block");

/* GPT-2: x += attn(LN1(x)); x += mlp(LN2(x)), mlp = c_proj(gelu(c_fc(.))) */
static void forward_block(const qh_model *m, int l, int B, int T, qh_workspace *ws, const qh_continuation *k, qh_capture_fn capture,
                          void *ud)
{
    const qh_config *c = &m->cfg;
    int C = c->n_embd, N = B * T;
    size_t NC = (size_t)N * C;
    const qh_block *bl = &m->blocks[l];
    qh_layernorm(ws->ln, ws->x, bl->ln1_w, bl->ln1_b, N, C, c->ln_eps);
    if (capture) capture(ud, l, QH_IN_ATTN, ws->ln, N, C);
    qh_matmul(ws->qkv, ws->ln, bl->attn_w, bl->attn_b, N, C, 3 * C);
    qh_attend(ws, k, l, B, T, c->n_head, 0);
    if (capture) capture(ud, l, QH_IN_ATTN_PROJ, ws->att, N, C);
    qh_matmul(ws->ln, ws->att, bl->attnproj_w, bl->attnproj_b, N, C, C);
    qh_residual(ws->x, ws->ln, NC);
    qh_layernorm(ws->ln, ws->x, bl->ln2_w, bl->ln2_b, N, C, c->ln_eps);
    if (capture) capture(ud, l, QH_IN_FC, ws->ln, N, C);
    qh_matmul(ws->fc, ws->ln, bl->fc_w, bl->fc_b, N, C, 4 * C);
    qh_gelu(ws->fc, (size_t)N * 4 * C);
    if (capture) capture(ud, l, QH_IN_FC_PROJ, ws->fc, N, 4 * C);
    qh_matmul(ws->ln, ws->fc, bl->fcproj_w, bl->fcproj_b, N, 4 * C, C);
    qh_residual(ws->x, ws->ln, NC);
}

/* llama.cpp's gpt2 keys */
static int config_gguf(const qh_gguf *g, qh_config *c, qh_err *err)
{
    double eps;
    if (qh_gguf_config_int(g, "gpt2.block_count", &c->n_layer, err) || qh_gguf_config_int(g, "gpt2.context_length", &c->n_ctx, err) ||
        qh_gguf_config_int(g, "gpt2.embedding_length", &c->n_embd, err) || qh_gguf_config_int(g, "gpt2.attention.head_count", &c->n_head, err) ||
        qh_gguf_get_float(g, "gpt2.attention.layer_norm_epsilon", &eps, err))
        return -1;
    c->ln_eps = (float)eps;
    return 0;
}

/* GPT-2's keys and byte-level BPE vocabulary as llama.cpp's converter writes them (what
 * config_gguf reads back) */
static int write_gguf(qh_gguf_writer *w, const qh_model *m, const qh_tokenizer *tok, qh_err *err)
{
    const qh_config *c = &m->cfg;
    char **tokens = NULL, **merges = NULL;
    int n_merges = 0;
    if (qh_tokenizer_export(tok, &tokens, &merges, &n_merges, err) != 0) return -1;
    qh_gguf_put_u32(w, "gpt2.block_count", (uint32_t)c->n_layer);
    qh_gguf_put_u32(w, "gpt2.context_length", (uint32_t)c->n_ctx);
    qh_gguf_put_u32(w, "gpt2.embedding_length", (uint32_t)c->n_embd);
    qh_gguf_put_u32(w, "gpt2.feed_forward_length", (uint32_t)(4 * c->n_embd));
    qh_gguf_put_u32(w, "gpt2.attention.head_count", (uint32_t)c->n_head);
    qh_gguf_put_f32(w, "gpt2.attention.layer_norm_epsilon", c->ln_eps);
    qh_gguf_put_str(w, "tokenizer.ggml.model", "gpt2");
    qh_gguf_put_str(w, "tokenizer.ggml.pre", "gpt-2");
    qh_gguf_put_str_array(w, "tokenizer.ggml.tokens", tokens, (uint64_t)c->n_vocab);
    int32_t *token_type = qh_malloc((size_t)c->n_vocab * sizeof *token_type);
    int eot = qh_token_id(tok, "<|endoftext|>");
    for (int i = 0; i < c->n_vocab; i++) token_type[i] = i == eot ? 3 : 1; /* llama_token_type: 1 normal, 3 control */
    qh_gguf_put_i32_array(w, "tokenizer.ggml.token_type", token_type, (uint64_t)c->n_vocab);
    qh_gguf_put_str_array(w, "tokenizer.ggml.merges", merges, (uint64_t)n_merges);
    if (eot >= 0) {
        qh_gguf_put_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)eot);
        qh_gguf_put_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eot);
    }
    qh_gguf_put_bool(w, "tokenizer.ggml.add_bos_token", 0);
    free(token_type);
    for (int i = 0; i < c->n_vocab; i++) free(tokens[i]);
    for (int i = 0; i < n_merges; i++) free(merges[i]);
    free(tokens);
    free(merges);
    return 0;
}

/* GPT-2's config.json (model_type "gpt2", or none: the oldest files do not say) */
static int config_hf(const char *path, const cJSON *root, qh_config *cfg, int *tied, qh_err *err)
{
    if (qh_json_config_int(path, root, "n_embd", NULL, &cfg->n_embd, err) ||
        qh_json_config_int(path, root, "n_layer", NULL, &cfg->n_layer, err) ||
        qh_json_config_int(path, root, "n_head", NULL, &cfg->n_head, err) ||
        qh_json_config_int(path, root, "n_positions", "n_ctx", &cfg->n_ctx, err) ||
        qh_json_config_int(path, root, "vocab_size", NULL, &cfg->n_vocab, err))
        return -1;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    cfg->ln_eps = 1e-5f;
    if (eps) {
        if (!cJSON_IsNumber(eps) || eps->valuedouble <= 0 || eps->valuedouble > 1)
            return qh_fail(err, "%s: 'layer_norm_epsilon' must be a number in (0, 1]", path);
        cfg->ln_eps = (float)eps->valuedouble;
    }
    if (cfg->n_embd % cfg->n_head != 0) return qh_fail(err, "%s: n_embd %d is not a multiple of n_head %d", path, cfg->n_embd, cfg->n_head);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "activation_function");
    if (act && (!cJSON_IsString(act) || (strcmp(act->valuestring, "gelu_new") != 0 && strcmp(act->valuestring, "gelu_pytorch_tanh") != 0)))
        return qh_fail(err, "%s: activation_function '%s' is not supported (GPT-2 uses gelu_new)", path,
                       cJSON_IsString(act) ? act->valuestring : "?");
    return 0;
}

static void describe_config(const qh_config *c, char *out, size_t n)
{
    snprintf(out, n, "n_layer %d, n_head %d, n_embd %d, n_ctx %d, vocab %d, ln_eps %g", c->n_layer, c->n_head, c->n_embd, c->n_ctx,
             c->n_vocab, c->ln_eps);
}

const qh_arch qh_arch_gpt2 = {
    .id = QH_ARCH_GPT2,
    .name = "gpt2",
    .display = "GPT-2",
    .block_fmt = "h.%d.",
    .pre = pre, .block = block, .post = post, .n_pre = QH_N_ROWS(pre), .n_block = QH_N_ROWS(block), .n_post = QH_N_ROWS(post),
    .norm = QH_NORM_LAYER, .pos = QH_POS_LEARNED, .mlp = QH_MLP_GELU, .has_bias = 1,
    .input_dim = {QH_DIM_C, QH_DIM_C, QH_DIM_C, QH_DIM_FF},
    .default_scope = scope, .n_default_scope = QH_N_ROWS(scope),
    .linear_desc = "attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj",
    .hf_prefix = "transformer.", .hf_out_in = 0,
    .packed_arch_keys = 0, /* GPT-2's packed files keep the keys they always had */
    .forward_block = forward_block,
    .config_gguf = config_gguf,
    .describe_config = describe_config,
    .write_gguf = write_gguf,
    .hf_model_type = "gpt2", .hf_ctx_key = "n_positions", .config_hf = config_hf,
};
