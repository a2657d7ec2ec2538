/* model.h - a GPT-2 model in fp32: config, named weight tensors, and where they came from.
 *
 * Tensors use canonical GPT-2 names without the "transformer." prefix ("wte.weight",
 * "h.0.attn.c_attn.weight", ...) and the Conv1D layout of the checkpoint: a linear weight is
 * (in, out) row-major, so y = x W.  Everything is fp32 in memory whatever the file's dtype;
 * quantization methods replace tensor data in place with their decoded weights. */
#ifndef QH_MODEL_H
#define QH_MODEL_H

#include <stddef.h>

#include "util.h"

typedef struct {
    int n_vocab, n_ctx, n_embd, n_head, n_layer;
    float ln_eps;
} qh_config;

typedef struct {
    char name[64];
    int ndim;        /* 1 or 2 */
    int rows, cols;  /* 1-D tensors: rows = 1 */
    float *data;
} qh_tensor;

/* Pointers into the tensor table for one block, in forward-pass order. */
typedef struct {
    float *ln1_w, *ln1_b;       /* (C) */
    float *attn_w, *attn_b;     /* (C, 3C), (3C) */
    float *attnproj_w, *attnproj_b; /* (C, C), (C) */
    float *ln2_w, *ln2_b;       /* (C) */
    float *fc_w, *fc_b;         /* (C, 4C), (4C) */
    float *fcproj_w, *fcproj_b; /* (4C, C), (C) */
} qh_block;

typedef struct {
    qh_config cfg;
    int n_tensors;
    qh_tensor *tensors;
    float *wte, *wpe, *lnf_w, *lnf_b;  /* (V, C), (P, C), (C), (C) */
    float *head;                       /* (V, C): wte when tied */
    int head_tied;
    qh_block *blocks;
    size_t n_params;                   /* unique parameters (tied head counted once) */
    char *dir;
    char weights_path[4096];
    char sha256[65];                   /* of model.safetensors */
    char dtype[8];                     /* dtype of the weights in the file */
} qh_model;

/* Reads and validates config.json in dir. */
int qh_config_load(const char *dir, qh_config *cfg, qh_err *err);

/* Loads a model in any format of the table in model.c: a Hugging Face directory
 * (config.json + model.safetensors) or a GGUF file (model_gguf.c).  compute_sha: also hash
 * the weights file. */
int qh_model_load(const char *dir, qh_model **out, int compute_sha, qh_err *err);
int qh_model_load_gguf(const char *path, qh_model **out, int compute_sha, qh_err *err);
/* Writes m as a GPT-2 GGUF file that llama.cpp loads (model_gguf.c): llama.cpp's tensor names
 * and orientation, the tokenizer's vocabulary and merges as metadata, block matrices, token
 * embedding and output in type_name (F32, F16, BF16, Q8_0, Q4_0 with ggml's reference
 * rounding), norms, biases and the position embedding in F32. */
struct qh_tokenizer;
int qh_model_write_gguf(const qh_model *m, const struct qh_tokenizer *tok, const char *name, const char *type_name,
                        const char *path, qh_err *err);
void qh_model_free(qh_model *m);

qh_tensor *qh_model_tensor(qh_model *m, const char *name);

/* For loaders of other formats: fill m->tensors with the canonical table for m->cfg (data
 * NULL), then, once every tensor has data, set the block pointers (and the tied head). */
void qh_model_expected_tensors(qh_model *m);
void qh_model_wire(qh_model *m);

/* A deep copy (the sweep quantizes copies and keeps the baseline for fidelity). */
qh_model *qh_model_clone(const qh_model *src);

/* Resolves a model argument: a directory, or the name of a model under <home>/models/
 * ("default" is the embedded gpt2-gutenberg-18m).  Returns a malloc'd path. */
char *qh_resolve_model_dir(const char *arg);

#define QH_DEFAULT_MODEL "gpt2-gutenberg-18m"

#endif
