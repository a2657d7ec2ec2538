/* experiment.h - experiment files: what a sweep runs, as INI (parsed with inih).
 *
 *   [experiment]
 *   name = default                  ; required; the key results are filed under
 *   description = ...
 *   models = default                ; comma-separated model directories or names
 *   seed = 1                        ; sampling of task subsets and bootstraps
 *   ctx = 256                       ; evaluation window (default: the model's)
 *
 *   [tasks]                         ; task = budget ("all" or a number)
 *   ppl.wikitext2-test = 32768      ; perplexity: tokens
 *   ppl.wikitext2-test@llama-cpp = 16384  ; ... under another protocol (eval_ppl.h): NAME@PROTOCOL,
 *                                   ; for fidelity tasks too
 *   fidelity.wikitext2-test = 8192  ; KL / top-1 agreement with the baseline: tokens
 *   mmlu = 200                      ; multiple choice: items
 *   mmlu.shots = 0                  ; task options: mmlu.shots, mmlu.subjects, mmlu.split
 *   blimp = 670
 *
 *   [method rtn]                    ; one section per method family
 *   method = rtn                    ; a method name, with parameters ...
 *   bits = 2, 3, 4                  ; ... comma lists expand to the grid (product)
 *   group = 64, 128
 *   include = wte.weight            ; scope keys: include, exclude, override (PATTERN=SPEC), kept_dtype
 *
 *   [method outliers]
 *   spec = outliers frac=0.01 + rtn bits=2 group=64   ; or one full spec (no grid)
 *
 *   [method llamacpp-iq1s]          ; the weights of a GGUF file (llama.cpp's quantization of
 *   gguf = ../../shared/golden/gguf/default-IQ1_S.gguf  ; the same model): a path relative to
 *                                   ; this file; bpp from the file's bytes (quantize.h)
 *
 *   [method vendor-gptq]            ; or a Hugging Face directory a vendor's tool quantized
 *   checkpoint = DIR                ; (GPTQ, AWQ, compressed-tensors, bitsandbytes) of the same model
 *
 *   [calibration]                   ; for methods that need it (gptq, hvq, mixed, ...)
 *   text = gutenberg-calib          ; a text dataset or file (default gutenberg-calib)
 *   windows = 128
 *   ctx = 256                       ; default: the model's context
 *   imatrix = FILE.dat              ; or llama.cpp's importance matrix (diagonal statistics only)
 *
 * `method = none` is the unquantized baseline.  Errors name the file, line and key. */
#ifndef QH_EXPERIMENT_H
#define QH_EXPERIMENT_H

#include "harness/base/util.h"
#include "harness/eval/tasks.h"
#include "harness/quantize/quantize.h"

typedef struct {
    char label[256];         /* section name + grid values, for people */
    char spec[512];          /* method spec, or "none" */
    char canonical[1024];    /* canonical spec + scope: the key in the store */
    char family[64];         /* the method name (or "none"; "llama.cpp" for a GGUF file, the tool for a checkpoint) */
    char gguf[1024];         /* a GGUF file or quantized checkpoint directory whose weights are the run's, resolved; else empty */
    qh_quant_opts scope;     /* spec + patterns (pointing into the experiment's strings) */
    int needs_calibration;
    int line;
} qh_run_config;

#define QH_MAX_TASKS 32
#define QH_MAX_CONFIGS 4096 /* method configurations per experiment (grids expanded) */

typedef struct {
    char *path, *text;
    char sha256[65];
    char name[128];
    char description[1024];
    unsigned long seed;
    int ctx, ctx_line;       /* 0: each model's own; checked against each model before any work */
    int n_models;
    char models[8][1024];
    int n_tasks;
    qh_task_spec tasks[QH_MAX_TASKS];
    char calib_text[512];
    char calib_imatrix[1024];  /* [calibration] imatrix = FILE (llama.cpp's), resolved; instead of the text */
    char calib_imatrix_sha[65];
    int calib_windows, calib_ctx, calib_ctx_line;
    int n_configs;
    qh_run_config *configs;
    char **strings;          /* owned copies the configs point into */
    int n_strings;
} qh_experiment;

int qh_experiment_load(const char *path, qh_experiment *x, qh_err *err);
void qh_experiment_free(qh_experiment *x);

#endif
