/* quantize.h - quantize a whole model with the method registry and account for every byte;
 * the packed safetensors format that stores the result is packed.h.
 *
 * Scope: by default the linear weights of every block, as the architecture's table marks them
 * (arch.c, is_linear: GPT-2's attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj; Llama's and Gemma
 * 3's q/k/v/o and gate/up/down projections); --include / --exclude glob patterns widen or narrow
 * it (wte.weight, wpe.weight, embed_tokens.weight), and PATTERN=SPEC overrides give a tensor
 * family another method.  Every other
 * tensor is "kept" in the chosen float dtype (default F16), in memory exactly as in the file.
 *
 * bpp is computed from the bytes of the packed parts and the kept tensors. */
#ifndef QH_QUANTIZE_H
#define QH_QUANTIZE_H

#include <stdio.h>

#include "methods/method.h"
#include "harness/quantize/calib.h"
#include "harness/model/model.h"

#define QH_MAX_PATTERNS 32

typedef struct {
    const char *spec;                         /* default method for the scope */
    const char *include[QH_MAX_PATTERNS];     /* added to the default scope */
    int n_include;
    const char *exclude[QH_MAX_PATTERNS];
    int n_exclude;
    const char *override_pattern[QH_MAX_PATTERNS], *override_spec[QH_MAX_PATTERNS];
    int n_override;
    qh_dtype kept_dtype;                      /* F16 (default), BF16 or F32 */
    const qh_calib_opts *calib;               /* calibration data; required by methods that need it */
    /* mixed precision: one of these candidates per tensor of the scope, chosen to minimise the
     * summed sensitivity subject to a bpp target (then `spec` is ignored) */
    const char *candidates[QH_MAX_PATTERNS];
    int n_candidates;
    double mixed_target;
    int mixed_whole_model;                    /* 0: target over the quantized scope; 1: over all parameters */
} qh_quant_opts;

typedef struct {
    char name[64];
    char spec[256];           /* canonical method spec */
    int rows, cols;           /* as the method saw it: (out, in) */
    int transposed;           /* stored (in, out) in the checkpoint (Conv1D) */
    qh_packed packed;
    double rel_error;         /* ||W - W_hat||_F / ||W||_F */
    double sensitivity;       /* mixed: tr(D H D^T) / samples of the chosen candidate; NAN otherwise */
} qh_qtensor;

typedef struct {
    int n_q;
    qh_qtensor *q;
    char spec[256];                       /* the default spec, canonical */
    qh_dtype kept_dtype;
    size_t params_total, params_quantized;
    size_t bytes_total;                   /* every tensor of the packed model */
    size_t bytes_quantized, bytes_kept;
    size_t bytes_by_kind[QH_PART_KINDS];  /* over the quantized tensors */
    double bpp_quantized, bpp_model;
    double seconds_encode, seconds_decode, seconds_calib;
    char calib_desc[640];                 /* empty without calibration */
    char kept_desc[32];                   /* GGUF: the file's types of the kept tensors ("F16+F32"); else empty */
    char source_sha256[65];
    char tokenizer_sha256[65];            /* qh_tokenizer_sha256 of the model's tokenizer; empty: not known */
} qh_quant_result;

void qh_quant_opts_init(qh_quant_opts *o);

/* Quantizes m in place (decoded weights replace the originals; kept tensors are rounded to
 * the kept dtype) and fills res with the packed parts and the accounting. */
int qh_quantize_model(qh_model *m, const qh_quant_opts *o, qh_quant_result *res, qh_err *err);
/* Every include/exclude/override pattern of o matches a tensor of m (include and override only
 * matrices); the error names the pattern by option_names[0..2] (include, exclude, override). */
int qh_quant_scope_check(const qh_quant_opts *o, const qh_model *m, const char *const option_names[3], qh_err *err);
void qh_quant_result_free(qh_quant_result *res);

/* Fills the byte accounting of res (params, bytes by part kind and kept, bpp) from its packed
 * parts and the model's parameter count. */
void qh_quant_account(qh_quant_result *res, const qh_model *m);

/* The accounting of a GGUF file as a quantization of base (quant_gguf.c): the block
 * matrices (qharness's default scope) are the quantized tensors, each with its ggml type as
 * spec and its bytes in the file as one "ggml_blocks" part; every other tensor of the file is
 * kept, counted with its bytes in the file (a separate `output` copy of the tied head
 * included).  bpp_quantized = bits of the block matrices / their weights; bpp_model = bits of
 * all tensor data / the model's parameters (the header is not a tensor and is not counted).
 * loaded is the file as a model; rel_error compares its weights to base's.  Fails, naming the
 * tensor, when a tensor the file keeps in F32 differs from base's: then the file is not a
 * quantization of base and comparing them would be meaningless. */
int qh_quant_result_from_gguf(const char *path, const qh_model *loaded, const qh_model *base, qh_quant_result *res,
                              qh_err *err);

/* A tensor a file stores quantized (a GGUF file's, a vendor checkpoint's) as one entry of res:
 * the model's tensor t (in, out) against the base's b, its bytes in the file as one part named
 * part_name; spec says how it is stored. */
void qh_quant_result_add_file_tensor(qh_quant_result *res, const qh_tensor *t, const qh_tensor *b, const char *spec, const char *part_name,
                                     size_t bytes);

/* The accounting of a Hugging Face checkpoint a vendor's tool quantized (GPTQ, AWQ,
 * compressed-tensors, bitsandbytes; quant_checkpoint.c) as a quantization of base: its
 * quantized layers with the bytes of all their tensors (by kind: codes, scales, zeros, g_idx,
 * metadata), every other tensor of model.safetensors kept; bpp_quantized over the quantized
 * layers' weights, bpp_model over all tensor bytes and the model's parameters.  Fails, naming the
 * tensor, when a kept tensor's values differ from base's. */
int qh_quant_result_from_checkpoint(const char *path, const qh_model *loaded, const qh_model *base, qh_quant_result *res, qh_err *err);

/* ||w - w_hat||_F / ||w||_F (0 for a zero w); *sq_err (if given) gets ||w - w_hat||_F^2. */
double qh_rel_error(const float *w, const float *w_hat, size_t n, double *sq_err);

void qh_quant_print_report(FILE *f, const qh_model *m, const qh_quant_result *res, int per_tensor);

#endif
