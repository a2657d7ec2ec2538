/* model.h - a model in fp32: config, named weight tensors, and where they came from.
 *
 * The architecture (arch.h) names the tensors: GPT-2 uses Hugging Face's names without the
 * "transformer." prefix ("wte.weight", "h.0.attn.c_attn.weight", ...), Llama Hugging Face's
 * without "model." ("embed_tokens.weight", "layers.0.self_attn.q_proj.weight", ...).  A linear
 * weight is (in, out) row-major, so y = x W (GPT-2's Conv1D layout) whatever the file's layout.
 * Everything is fp32 in memory whatever the file's dtype; quantization methods replace tensor
 * data in place with their decoded weights. */
#ifndef QH_MODEL_H
#define QH_MODEL_H

#include <stddef.h>

#include "harness/model/arch.h"
#include "harness/base/util.h"

typedef struct qh_config {
    int n_vocab, n_ctx, n_embd, n_head, n_layer;
    float ln_eps;        /* LayerNorm or RMSNorm epsilon */
    qh_arch_id arch;     /* 0: GPT-2 */
    /* Llama (0 in a GPT-2 config: qh_config_kv_heads / qh_config_ff give GPT-2's values) */
    int n_kv_head;       /* grouped-query attention: n_head / n_kv_head query heads share a K/V head */
    int n_ff;            /* MLP hidden width */
    float rope_theta;    /* RoPE frequency base (of the global layers when layers alternate) */
    /* Gemma 3 (0 elsewhere) */
    int head_dim;        /* width of a query/key/value head; 0: n_embd / n_head */
    int swa_window;      /* sliding-window layers attend to the swa_window positions up to their own; 0: none */
    int swa_period;      /* every swa_period-th layer (l % period == period - 1) attends globally, the rest by window */
    float rope_theta_swa; /* RoPE base of the sliding-window layers */
} qh_config;

const qh_arch *qh_config_arch(const qh_config *c);
int qh_config_kv_heads(const qh_config *c);
int qh_config_ff(const qh_config *c);
int qh_config_head_dim(const qh_config *c);
/* The attention window of layer l: 0 for the whole causal context, else the positions
 * p - window + 1 .. p that a query at p sees. */
int qh_config_layer_window(const qh_config *c, int l);
float qh_config_layer_rope_theta(const qh_config *c, int l);
/* A tensor dimension of the architecture table for this config. */
int qh_config_dim(const qh_config *c, qh_dim d);
/* Width of the fused q|k|v rows of the forward pass: 3C for GPT-2, Q + 2 KV otherwise. */
int qh_config_qkv_width(const qh_config *c);
/* The longest window the model can run: n_ctx for learned positions; rotary positions have no
 * table, so any window up to QH_ROPE_MAX_CTX (llama.cpp runs past n_ctx_train too, with a warning). */
int qh_config_max_ctx(const qh_config *c);
#define QH_ROPE_MAX_CTX 32768

typedef struct {
    char name[64];
    int ndim;        /* 1 or 2 */
    int rows, cols;  /* 1-D tensors: rows = 1 */
    float *data;
    int is_linear;   /* a block's linear layer weight (in, out): quantized by default, has calibration statistics */
    int layer, input; /* linear weights: block index and QH_IN_* input */
    size_t stored_bytes; /* a Hugging Face checkpoint's bytes of this tensor (a quantized layer: all its tensors); 0 elsewhere */
    int stored_quantized; /* a Hugging Face checkpoint stores it quantized (hf_quant.h) */
} qh_tensor;

/* Pointers into the tensor table for one block, in forward-pass order (set through the
 * architecture table's offsets). */
typedef struct {
    float *ln1_w, *ln1_b;       /* (C) attention norm (Llama: RMSNorm, no bias) */
    float *attn_w, *attn_b;     /* GPT-2: (C, 3C), (3C) */
    float *wq, *wk, *wv;        /* Llama: (C, C), (C, KV), (C, KV) */
    float *attnproj_w, *attnproj_b; /* (C, C), (C) */
    float *ln2_w, *ln2_b;       /* (C) MLP norm */
    float *fc_w, *fc_b;         /* GPT-2: (C, 4C), (4C); Llama: the up projection (C, FF) */
    float *gate_w;              /* Llama: (C, FF) */
    float *fcproj_w, *fcproj_b; /* (FF, C), (C) */
    float *q_norm, *k_norm;     /* Gemma 3: (hs) RMSNorm of each query and key head */
    float *attn_post_norm, *ffn_post_norm; /* Gemma 3: (C) RMSNorm of the attention and MLP outputs */
} qh_block;

typedef struct qh_model {
    qh_config cfg;
    int n_tensors;
    qh_tensor *tensors;
    float *wte, *wpe, *lnf_w, *lnf_b;  /* (V, C), (P, C) (learned positions), (C), (C) (LayerNorm) */
    float *head;                       /* (V, C): wte when tied */
    int head_tied;
    qh_block *blocks;
    size_t n_params;                   /* unique parameters (tied head counted once) */
    char *dir;
    char weights_path[4096];
    char sha256[65];                   /* of model.safetensors */
    char dtype[8];                     /* dtype of the weights in the file */
    char ctx_source[64];               /* where cfg.n_ctx was read ("llama.context_length"), for the
                                          default window's line: formats of one model may differ */
    /* a Hugging Face checkpoint whose linear layers a vendor's tool stored quantized (hf_quant.h):
     * the ledger of its bytes; quant_layers 0 otherwise */
    char quant_desc[192];              /* the config's quantization, in words */
    double quant_named_bits;           /* the bits of a code the config names */
    size_t quant_layers, quant_weights, quant_bytes; /* the quantized layers: count, weights, bytes of all their tensors */
    size_t quant_bytes_by_role[5];     /* of quant_bytes: codes, scales, zeros, indices, metadata (qh_hfq_role) */
    size_t file_tensor_bytes;          /* every tensor of model.safetensors */
} qh_model;

/* Reads and validates config.json in dir (GPT2LMHeadModel or LlamaForCausalLM). */
int qh_config_load(const char *dir, qh_config *cfg, qh_err *err);

/* Loads a model in any format of the table in model.c: a Hugging Face directory
 * (config.json + model.safetensors) or a GGUF file (model_gguf.c).  compute_sha: also hash
 * the weights file. */
int qh_model_load(const char *dir, qh_model **out, int compute_sha, qh_err *err);
/* Refuses NaN or infinity in any weight, naming the file, tensor and place (qh_model_load and
 * the packed-file loader call it: no forward pass ever runs on one). */
int qh_model_check_finite(const qh_model *m, const char *path, qh_err *err);
/* 1 when some format of the table takes path (a Hugging Face directory: it has config.json). */
int qh_model_probe(const char *path);
int qh_model_load_gguf(const char *path, qh_model **out, int compute_sha, qh_err *err);
/* llama2.c's checkpoint (model_llama2c.c): a .bin file, or a directory holding one. */
int qh_llama2c_probe(const char *path);
int qh_model_load_llama2c(const char *path, qh_model **out, int compute_sha, qh_err *err);
/* Writes m as a GGUF file that llama.cpp loads (model_gguf.c; every family whose row has write_gguf): llama.cpp's tensor names
 * and orientation, the tokenizer's vocabulary and merges as metadata, block matrices, token
 * embedding and output in type_name (one of qh_gguf_write_types, with ggml's reference
 * rounding), norms, biases and the position embedding in F32. */
struct qh_tokenizer;
/* The types qh_model_write_gguf writes, from its table, joined by sep (last_sep before the last):
 * the usage lines spell the same list (test convert_usage_lists_the_written_types). */
const char *qh_gguf_write_types(const char *sep, const char *last_sep);
int qh_model_write_gguf(const qh_model *m, const struct qh_tokenizer *tok, const char *name, const char *type_name,
                        const char *path, qh_err *err);
void qh_model_free(qh_model *m);

qh_tensor *qh_model_tensor(qh_model *m, const char *name);

/* For loaders of other formats: fill m->tensors with the canonical table for m->cfg (data
 * NULL) from the architecture table (an error, before anything is allocated, when the config
 * needs more tensors than the file's file_tensors entries), then, once every tensor has data, set the block pointers
 * (and the tied head).  qh_model_arch_tensor gives tensor k's row of the table. */
const qh_arch_tensor *qh_model_arch_tensor(const qh_model *m, int k);
/* The GGUF name of tensor k (llama.cpp's: "blk.N." + the row's name inside a block). */
void qh_model_gguf_name(const qh_model *m, int k, char *out, size_t n);
enum { QH_MAX_LAYERS = 4096 }; /* the largest models have a few hundred */
int qh_model_expected_tensors(qh_model *m, uint64_t file_tensors, const char *path, qh_err *err);
void qh_model_wire(qh_model *m);

/* A deep copy (the sweep quantizes copies and keeps the baseline for fidelity). */
qh_model *qh_model_clone(const qh_model *src);

/* Resolves a model argument: a directory, or the name of a model under <home>/models/
 * ("default" is the embedded gpt2-gutenberg-18m).  Returns a malloc'd path. */
char *qh_resolve_model_dir(const char *arg);

#define QH_DEFAULT_MODEL "gpt2-gutenberg-18m"
/* The file a fetched model's folder holds (models/NAME/, listed in its SHA256SUMS): a name
 * under models/ resolves to it (models/smollm2 -> models/smollm2/model.gguf). */
#define QH_FETCHED_MODEL_FILE "model.gguf"

#endif
