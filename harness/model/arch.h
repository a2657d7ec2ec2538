/* arch.h - the architecture table: one row per model family (GPT-2, Llama, Gemma 3).
 *
 * A row says everything the rest of qharness needs to know about a family: its tensors (the
 * canonical name, the GGUF name, the shape in terms of the config, which model or block field
 * points at the data), which of a block's matrices are linear layers and which input each one
 * reads (layers that share an input share its calibration statistics), the norm, position and
 * MLP kinds the forward pass runs, whether positions bound the context, and the default
 * quantization scope.  The loaders (model.c, model_gguf.c, model_llama2c.c), the forward pass,
 * calibration, quantization scope, the packed format and `info` read this table; a new family
 * is a row here plus its forward functions, not another `if` in each of them.
 *
 * Every linear weight is held as (in, out) row-major, y = x W (GPT-2's Conv1D layout), whatever
 * layout the file has: loaders transpose PyTorch/GGUF (out, in) matrices on the way in. */
#ifndef QH_ARCH_H
#define QH_ARCH_H

#include <stddef.h>

typedef enum { QH_ARCH_GPT2 = 0, QH_ARCH_LLAMA, QH_ARCH_GEMMA3, QH_N_ARCH } qh_arch_id;
typedef enum { QH_NORM_LAYER, QH_NORM_RMS } qh_norm_kind;
typedef enum { QH_POS_LEARNED, QH_POS_ROPE } qh_pos_kind;
/* GELU: down(gelu(up x)); SWIGLU: down(silu(gate x) * up x); GEGLU: down(gelu(gate x) * up x),
 * GELU by its tanh approximation throughout */
typedef enum { QH_MLP_GELU, QH_MLP_SWIGLU, QH_MLP_GEGLU } qh_mlp_kind;

/* The inputs of a block's linear layers (the calibration statistics are one per input). */
enum { QH_IN_ATTN, QH_IN_ATTN_PROJ, QH_IN_FC, QH_IN_FC_PROJ, QH_N_INPUTS };

/* A tensor dimension in terms of the config (qh_config, model.h). */
typedef enum {
    QH_DIM_1,     /* 1-D tensors: rows = 1 */
    QH_DIM_C,     /* n_embd */
    QH_DIM_3C,    /* GPT-2's fused q, k, v */
    QH_DIM_KV,    /* n_kv_head * head_dim */
    QH_DIM_Q,     /* n_head * head_dim: n_embd unless the config sets head_dim (Gemma 3) */
    QH_DIM_HEAD,  /* head_dim: per-head norms of queries and keys */
    QH_DIM_FF,    /* MLP hidden width */
    QH_DIM_VOCAB,
    QH_DIM_CTX,   /* learned positions */
} qh_dim;

typedef struct {
    const char *name;  /* canonical: global tensors whole, block tensors after the block prefix */
    const char *gguf;  /* llama.cpp's name (after "blk.N." for block tensors) */
    int ndim;
    qh_dim rows, cols; /* in memory; a linear weight is (in, out) */
    int input;         /* linear weights: QH_IN_* they read; -1 for the rest */
    size_t field;      /* offsetof the float * in qh_model (globals) or qh_block (block tensors) */
} qh_arch_tensor;

typedef struct {
    const char *name;        /* "gpt2": GGUF general.architecture and the key prefix */
    const char *block_fmt;   /* canonical block prefix, "h.%d." */
    const qh_arch_tensor *pre, *block, *post; /* tensors before the blocks, of each block, after them */
    int n_pre, n_block, n_post;
    qh_norm_kind norm;
    qh_pos_kind pos;
    qh_mlp_kind mlp;
    int has_bias;            /* the block's linear layers and norms have biases */
    qh_dim input_dim[QH_N_INPUTS]; /* width of each input */
    const char *const *default_scope; /* fnmatch patterns of the tensors quantized by default */
    int n_default_scope;
    const char *linear_desc; /* for info: the block's linear layers, "attn.c_attn, ..." */
    const char *hf_prefix;   /* Hugging Face safetensors names: canonical name after this prefix */
    int hf_out_in;           /* Hugging Face linear weights are PyTorch (out, in): transposed on load */
    const char *display;     /* "GPT-2", for messages */
    int embed_scaled;        /* token embeddings are multiplied by sqrt(n_embd) (Gemma) */
    int rope_neox;           /* RoPE rotates the pairs (i, i + hs/2) of each head (GPT-NeoX's order), not (2i, 2i+1) */
} qh_arch;

extern const qh_arch qh_archs[QH_N_ARCH];

const qh_arch *qh_arch_by_name(const char *name, size_t len);

#endif
