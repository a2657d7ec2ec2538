/* arch.h - the architecture table: one row per model family (GPT-2, Llama, Gemma 3).
 *
 * A row says everything the rest of qharness needs to know about a family: its tensors (the
 * canonical name, the GGUF name, the shape in terms of the config, which model or block field
 * points at the data), which of a block's matrices are linear layers and which input each one
 * reads (layers that share an input share its calibration statistics), the norm, position and
 * MLP kinds the forward pass runs, whether positions bound the context, and the default
 * quantization scope; and the functions only the family knows: its block of the forward pass,
 * its config in llama.cpp's keys and in Hugging Face's config.json, the keys and vocabulary
 * it writes to a GGUF file, its config as `info` prints it.  Each row is one file (arch_gpt2.c,
 * arch_llama.c, arch_gemma3.c) with designated initializers; the loaders (model.c,
 * model_gguf.c, model_llama2c.c), the forward pass, calibration, quantization scope, the
 * packed format and `info` read the row.  A new family is a file and a line in arch.c's
 * table, not another `if` in each of them; a test holds every row to every slot it must fill.
 *
 * Every linear weight is held as (in, out) row-major, y = x W (GPT-2's Conv1D layout), whatever
 * layout the file has: loaders transpose PyTorch/GGUF (out, in) matrices on the way in. */
#ifndef QH_ARCH_H
#define QH_ARCH_H

#include <stddef.h>

#include "harness/base/util.h"

struct qh_model;
struct qh_config;
struct qh_workspace;
struct qh_continuation;
struct qh_gguf;
struct qh_gguf_writer;
struct qh_tokenizer;
struct cJSON;

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
    int hf_rope_rows;  /* Hugging Face's file has the rows of each head in rotate_half's order (Llama's q and k):
                          put back into the adjacent pairs qharness rotates on load */
    int hf_plus_one;   /* Hugging Face's file holds w of a norm that scales by 1 + w (Gemma's): 1 is added on load */
} qh_arch_tensor;

/* The rows of a tensor or scope table, for a row's n_pre, n_block, ... */
#define QH_N_ROWS(a) (int)(sizeof(a) / sizeof *(a))

/* A row of a tensor table, designated so that a slot a row does not give is zero. */
#define QH_TENSOR(name_, gguf_, ndim_, rows_, cols_, input_, field_, ...)                                                     \
    {.name = (name_), .gguf = (gguf_), .ndim = (ndim_), .rows = (rows_), .cols = (cols_), .input = (input_), .field = (field_),    \
     __VA_ARGS__}

/* The forward pass calls this with each of a block's four linear-layer inputs (QH_IN_*), for
 * calibration: x (rows, cols). */
typedef void (*qh_capture_fn)(void *ud, int layer, int which, const float *x, int rows, int cols);

typedef struct {
    qh_arch_id id;
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
    int packed_arch_keys;    /* packed files name the architecture and its settings (GPT-2's keep the keys they always had) */
    int gguf_omits_tied_head; /* llama.cpp's converter of the family leaves a tied head out of the GGUF file (else output.weight repeats it) */

    /* The forward pass of block l on ws->x (B*T, C) in place: layers.h's layers in the
     * family's order; k: NULL, or the continuations of kept prefixes. */
    void (*forward_block)(const struct qh_model *m, int l, int B, int T, struct qh_workspace *ws, const struct qh_continuation *k,
                          qh_capture_fn capture, void *ud);
    /* llama.cpp's keys of the family (general.architecture is name) into c, refusing what the
     * forward pass does not run */
    int (*config_gguf)(const struct qh_gguf *g, struct qh_config *c, qh_err *err);
    /* the config line of `qharness info` */
    void (*describe_config)(const struct qh_config *c, char *out, size_t n);
    /* Optional (NULL: not done for this family, and said so where asked): the family's keys
     * and vocabulary in a GGUF file llama.cpp loads; the config.json of a Hugging Face
     * directory whose model_type is hf_model_type (hf_ctx_key: its context's key). */
    int (*write_gguf)(struct qh_gguf_writer *w, const struct qh_model *m, const struct qh_tokenizer *tok, qh_err *err);
    const char *hf_model_type, *hf_ctx_key;
    int (*config_hf)(const char *path, const struct cJSON *root, struct qh_config *cfg, int *tied, qh_err *err);
} qh_arch;

/* the rows, indexed by qh_arch_id (arch.c) */
extern const qh_arch *const qh_archs[QH_N_ARCH];
extern const qh_arch qh_arch_gpt2, qh_arch_llama, qh_arch_gemma3;

const qh_arch *qh_arch_by_name(const char *name, size_t len);

#endif
