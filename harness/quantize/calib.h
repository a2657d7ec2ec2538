/* calib.h - calibration statistics for methods that need them (GPTQ, Hessian-guided VQ, ...).
 *
 * From a calibration text: `windows` windows of `ctx` tokens at seeded random offsets.  For
 * each block in turn, the inputs of its four linear layers are captured on all windows and
 * H = sum X^T X accumulated in double precision (float products per batch of rows via BLAS
 * ssyrk, summed in double).  Quantization is sequential, as in GPTQ: block l's statistics
 * are taken with blocks < l already quantized, and after block l is quantized its outputs
 * are recomputed with the quantized weights to feed block l + 1. */
#ifndef QH_CALIB_H
#define QH_CALIB_H

#include "harness/model/model.h"
#include "harness/model/tokenizer.h"

typedef struct {
    const int *ids;          /* the tokenized calibration text */
    size_t n_ids;
    int windows, ctx;
    unsigned long seed;
    char source[256];        /* for reports: the text's name and sha256 */
    /* llama.cpp's importance matrix instead of a text (imatrix.h): H[k] is then the diagonal
     * matrix of its values (E[x^2] * ncall), samples = ncall, the same for every block; no
     * sequential pass.  Methods that need the off-diagonal terms (gptq) refuse it. */
    const struct qh_imatrix_s *imatrix;
} qh_calib_opts;

/* Tokenizes the calibration text `name` (a shipped dataset name or a UTF-8 file) and fills o
 * with it and the window settings; *ids (malloc'd, o->ids points at it) is the caller's to free. */
int qh_calib_opts_load(const char *name, qh_tokenizer *tok, int windows, int ctx, unsigned long seed, qh_calib_opts *o, int **ids,
                       qh_err *err);

typedef struct qh_calib_state qh_calib_state;

/* o for an importance matrix file; source says which file and what it was computed on. */
void qh_calib_opts_imatrix(const struct qh_imatrix_s *im, qh_calib_opts *o);
/* 1 when the statistics are an importance matrix's diagonal only. */
int qh_calib_diagonal_only(const qh_calib_state *st);

/* Picks the windows and embeds them (the input of block 0). */
int qh_calib_begin(const qh_model *m, const qh_calib_opts *o, qh_calib_state **out, qh_err *err);
/* H[k] (n_k x n_k, row-major, double) for the inputs of block l's linear layer k
 * (QH_IN_ATTN, QH_IN_ATTN_PROJ, QH_IN_FC, QH_IN_FC_PROJ: arch.h); n_k is the width the
 * architecture's row gives that input (GPT-2: C, C, C, 4C).  Owned by the state until the next
 * call. */
int qh_calib_block(qh_calib_state *st, const qh_model *m, int l, double *H[QH_N_INPUTS], int n[QH_N_INPUTS], long *samples, qh_err *err);
/* Pushes the windows through block l with its current (quantized) weights. */
void qh_calib_advance(qh_calib_state *st, const qh_model *m, int l);
void qh_calib_free(qh_calib_state *st);

#endif
