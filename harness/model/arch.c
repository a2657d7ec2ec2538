/* arch.c - the architecture table; see arch.h.  The order of each row's tensors is the order
 * of the model's tensor table (and so of packed files and of quantization): GPT-2's is the order
 * qharness has always used, so its files and results do not change. */
#include "harness/model/arch.h"

#include <assert.h>
#include <string.h>

#include "harness/model/model.h"

#define G(f) offsetof(qh_model, f)
#define B(f) offsetof(qh_block, f)

static const qh_arch_tensor gpt2_pre[] = {
    {"wte.weight", "token_embd.weight", 2, QH_DIM_VOCAB, QH_DIM_C, -1, G(wte)},
    {"wpe.weight", "position_embd.weight", 2, QH_DIM_CTX, QH_DIM_C, -1, G(wpe)},
};
static const qh_arch_tensor gpt2_block[] = {
    {"ln_1.weight", "attn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln1_w)},
    {"ln_1.bias", "attn_norm.bias", 1, QH_DIM_1, QH_DIM_C, -1, B(ln1_b)},
    {"attn.c_attn.weight", "attn_qkv.weight", 2, QH_DIM_C, QH_DIM_3C, QH_IN_ATTN, B(attn_w)},
    {"attn.c_attn.bias", "attn_qkv.bias", 1, QH_DIM_1, QH_DIM_3C, -1, B(attn_b)},
    {"attn.c_proj.weight", "attn_output.weight", 2, QH_DIM_C, QH_DIM_C, QH_IN_ATTN_PROJ, B(attnproj_w)},
    {"attn.c_proj.bias", "attn_output.bias", 1, QH_DIM_1, QH_DIM_C, -1, B(attnproj_b)},
    {"ln_2.weight", "ffn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln2_w)},
    {"ln_2.bias", "ffn_norm.bias", 1, QH_DIM_1, QH_DIM_C, -1, B(ln2_b)},
    {"mlp.c_fc.weight", "ffn_up.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(fc_w)},
    {"mlp.c_fc.bias", "ffn_up.bias", 1, QH_DIM_1, QH_DIM_FF, -1, B(fc_b)},
    {"mlp.c_proj.weight", "ffn_down.weight", 2, QH_DIM_FF, QH_DIM_C, QH_IN_FC_PROJ, B(fcproj_w)},
    {"mlp.c_proj.bias", "ffn_down.bias", 1, QH_DIM_1, QH_DIM_C, -1, B(fcproj_b)},
};
static const qh_arch_tensor gpt2_post[] = {
    {"ln_f.weight", "output_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, G(lnf_w)},
    {"ln_f.bias", "output_norm.bias", 1, QH_DIM_1, QH_DIM_C, -1, G(lnf_b)},
};
static const char *const gpt2_scope[] = {"h.*.attn.c_attn.weight", "h.*.attn.c_proj.weight", "h.*.mlp.c_fc.weight",
                                         "h.*.mlp.c_proj.weight"};

static const qh_arch_tensor llama_pre[] = {
    {"embed_tokens.weight", "token_embd.weight", 2, QH_DIM_VOCAB, QH_DIM_C, -1, G(wte)},
};
static const qh_arch_tensor llama_block[] = {
    {"input_layernorm.weight", "attn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln1_w)},
    {"self_attn.q_proj.weight", "attn_q.weight", 2, QH_DIM_C, QH_DIM_C, QH_IN_ATTN, B(wq)},
    {"self_attn.k_proj.weight", "attn_k.weight", 2, QH_DIM_C, QH_DIM_KV, QH_IN_ATTN, B(wk)},
    {"self_attn.v_proj.weight", "attn_v.weight", 2, QH_DIM_C, QH_DIM_KV, QH_IN_ATTN, B(wv)},
    {"self_attn.o_proj.weight", "attn_output.weight", 2, QH_DIM_C, QH_DIM_C, QH_IN_ATTN_PROJ, B(attnproj_w)},
    {"post_attention_layernorm.weight", "ffn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln2_w)},
    {"mlp.gate_proj.weight", "ffn_gate.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(gate_w)},
    {"mlp.up_proj.weight", "ffn_up.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(fc_w)},
    {"mlp.down_proj.weight", "ffn_down.weight", 2, QH_DIM_FF, QH_DIM_C, QH_IN_FC_PROJ, B(fcproj_w)},
};
static const qh_arch_tensor llama_post[] = {
    {"norm.weight", "output_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, G(lnf_w)},
};
static const char *const llama_scope[] = {"layers.*.self_attn.*_proj.weight", "layers.*.mlp.*_proj.weight"};

/* Gemma 3 (llama.cpp's gemma3; Hugging Face's Gemma3ForCausalLM names): four norms per block,
 * per-head norms of queries and keys, a GeGLU MLP.  llama.cpp's converter has already added
 * Gemma's 1 to every norm weight (Gemma computes x * (1 + w)), so the file's norms apply as
 * x * w like every other RMSNorm here. */
static const qh_arch_tensor gemma3_pre[] = {
    {"embed_tokens.weight", "token_embd.weight", 2, QH_DIM_VOCAB, QH_DIM_C, -1, G(wte)},
};
static const qh_arch_tensor gemma3_block[] = {
    {"input_layernorm.weight", "attn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln1_w)},
    {"self_attn.q_proj.weight", "attn_q.weight", 2, QH_DIM_C, QH_DIM_Q, QH_IN_ATTN, B(wq)},
    {"self_attn.k_proj.weight", "attn_k.weight", 2, QH_DIM_C, QH_DIM_KV, QH_IN_ATTN, B(wk)},
    {"self_attn.v_proj.weight", "attn_v.weight", 2, QH_DIM_C, QH_DIM_KV, QH_IN_ATTN, B(wv)},
    {"self_attn.q_norm.weight", "attn_q_norm.weight", 1, QH_DIM_1, QH_DIM_HEAD, -1, B(q_norm)},
    {"self_attn.k_norm.weight", "attn_k_norm.weight", 1, QH_DIM_1, QH_DIM_HEAD, -1, B(k_norm)},
    {"self_attn.o_proj.weight", "attn_output.weight", 2, QH_DIM_Q, QH_DIM_C, QH_IN_ATTN_PROJ, B(attnproj_w)},
    {"post_attention_layernorm.weight", "post_attention_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(attn_post_norm)},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ln2_w)},
    {"mlp.gate_proj.weight", "ffn_gate.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(gate_w)},
    {"mlp.up_proj.weight", "ffn_up.weight", 2, QH_DIM_C, QH_DIM_FF, QH_IN_FC, B(fc_w)},
    {"mlp.down_proj.weight", "ffn_down.weight", 2, QH_DIM_FF, QH_DIM_C, QH_IN_FC_PROJ, B(fcproj_w)},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight", 1, QH_DIM_1, QH_DIM_C, -1, B(ffn_post_norm)},
};

#define N(a) (int)(sizeof(a) / sizeof *(a))

const qh_arch qh_archs[QH_N_ARCH] = {
    [QH_ARCH_GPT2] = {"gpt2", "h.%d.", gpt2_pre, gpt2_block, gpt2_post, N(gpt2_pre), N(gpt2_block), N(gpt2_post),
                      QH_NORM_LAYER, QH_POS_LEARNED, QH_MLP_GELU, 1,
                      {QH_DIM_C, QH_DIM_C, QH_DIM_C, QH_DIM_FF}, gpt2_scope, N(gpt2_scope),
                      "attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj", "transformer.", 0, "GPT-2"},
    [QH_ARCH_LLAMA] = {"llama", "layers.%d.", llama_pre, llama_block, llama_post, N(llama_pre), N(llama_block), N(llama_post),
                       QH_NORM_RMS, QH_POS_ROPE, QH_MLP_SWIGLU, 0,
                       {QH_DIM_C, QH_DIM_C, QH_DIM_C, QH_DIM_FF}, llama_scope, N(llama_scope),
                       "self_attn.q_proj, k_proj, v_proj, o_proj, mlp.gate_proj, up_proj, down_proj", "model.", 1, "Llama"},
    [QH_ARCH_GEMMA3] = {"gemma3", "layers.%d.", gemma3_pre, gemma3_block, llama_post, N(gemma3_pre), N(gemma3_block), N(llama_post),
                        QH_NORM_RMS, QH_POS_ROPE, QH_MLP_GEGLU, 0,
                        {QH_DIM_C, QH_DIM_Q, QH_DIM_C, QH_DIM_FF}, llama_scope, N(llama_scope),
                        "self_attn.q_proj, k_proj, v_proj, o_proj, mlp.gate_proj, up_proj, down_proj", "model.", 1, "Gemma 3",
                        .embed_scaled = 1, .rope_neox = 1},
};

/* the table is indexed by qh_arch_id, and GPT-2 is the zero value of a config */
static_assert(QH_ARCH_GPT2 == 0, "a zeroed qh_config is GPT-2");
static_assert(N(gpt2_block) == 12, "GPT-2 has 12 tensors per block");
static_assert(N(llama_block) == 9, "Llama has 9 tensors per block");
static_assert(N(gemma3_block) == 13, "Gemma 3 has 13 tensors per block");

const qh_arch *qh_arch_by_name(const char *name, size_t len)
{
    for (int i = 0; i < QH_N_ARCH; i++)
        if (strlen(qh_archs[i].name) == len && memcmp(qh_archs[i].name, name, len) == 0) return &qh_archs[i];
    return NULL;
}
