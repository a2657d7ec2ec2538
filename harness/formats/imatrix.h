/* imatrix.h - llama.cpp's importance-matrix files (llama-imatrix, legacy binary format).
 *
 * Layout (little-endian): i32 entry count; per entry: i32 name length, the name (a GGUF tensor
 * name such as "blk.0.ffn_up.weight"), i32 ncall, i32 nval, nval f32 values; then optionally
 * i32 chunk count, i32 length and the calibration dataset's name.  A value is
 * mean over calibration tokens of x_j^2 (column j of the matrix's input) times ncall, as
 * llama-imatrix writes it, so E[x_j^2] = value / ncall.  These are the diagonal of the input
 * Hessian H = sum x x^T, which is what qharness's calibration statistics (calib.h) carry in full. */
#ifndef QH_IMATRIX_H
#define QH_IMATRIX_H

#include "harness/base/util.h"

typedef struct {
    char *name;
    int ncall, nval;
    float *values;
} qh_imatrix_entry;

typedef struct qh_imatrix_s {
    char *path;
    char sha256[65];
    int n_entries;
    qh_imatrix_entry *entries;
    int chunks;              /* -1 when the file does not say */
    char dataset[256];       /* "" when the file does not say */
} qh_imatrix;

/* Errors name the file, the entry and the byte offset. */
int qh_imatrix_load(const char *path, qh_imatrix *im, qh_err *err);
void qh_imatrix_free(qh_imatrix *im);
const qh_imatrix_entry *qh_imatrix_find(const qh_imatrix *im, const char *name);

#endif
