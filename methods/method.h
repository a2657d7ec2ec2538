/* method.h - the quantization method interface and its registry.
 *
 * In the manner of ggml's type traits: every method is one row of a table (methods/registry.c)
 * giving its name, a one-line summary, a parameter schema, and two functions:
 *   encode: one fp32 matrix (+ parameters, + optional calibration statistics)
 *           -> named packed byte buffers (codes, scales, zero points, codebooks, ...)
 *   decode: those buffers -> the fp32 matrix.
 * The registry knows nothing else about a method.  Bits per parameter are always computed
 * from the bytes of the buffers (qh_packed_bytes), never from a method's nominal bit width.
 *
 * Matrices are (rows = output channels, cols = input features), row-major: the nn.Linear
 * layout.  Groups run along a row, over consecutive input features.  (GPT-2's Conv1D weights
 * are (in, out) and are transposed by the caller.) */
#ifndef QH_METHOD_H
#define QH_METHOD_H

#include <stddef.h>
#include <stdint.h>

#include "harness/base/dtype.h"
#include "harness/base/util.h"

typedef struct {
    int rows, cols;
    float *data;     /* (rows, cols) */
} qh_matrix;

/* Calibration statistics of one layer's inputs (filled in by the calibration pipeline). */
typedef struct {
    int n;           /* = cols of the matrix */
    const double *H; /* (n, n) sum over calibration tokens of x x^T; NULL when absent */
    long samples;
    int diagonal_only; /* H is diagonal because only its diagonal is known (an importance matrix) */
} qh_calib;

typedef enum { QH_PARAM_INT, QH_PARAM_FLOAT, QH_PARAM_ENUM } qh_param_type;

typedef struct {
    const char *name;
    qh_param_type type;
    double def, min, max;    /* for QH_PARAM_ENUM: def is the index of the default choice */
    const char *choices;     /* QH_PARAM_ENUM: "sym|asym" */
    const char *help;
} qh_param;

/* The baseline: no method, the model as loaded.  An experiment's `method = none`, the spec and
 * family its runs are stored under (method_configs.family), and what reports compare against. */
#define QH_BASELINE "none"
int qh_spec_is_baseline(const char *spec);

#define QH_MAX_PARAMS 12
#define QH_MAX_PARTS 16

/* What a packed part holds; derived from the last component of its name. */
typedef enum {
    QH_PART_CODES, QH_PART_SCALES, QH_PART_ZEROS, QH_PART_CODEBOOK, QH_PART_INDICES,
    QH_PART_OUTLIERS, QH_PART_FACTORS, QH_PART_VALUES,
    QH_PART_GGML_BLOCKS, /* a ggml type's blocks, codes and scales interleaved (a GGUF file's tensor) */
    QH_PART_MASKS,       /* bitmaps saying which weights take which code (PB-LLM's salience mask) */
    QH_PART_KINDS
} qh_part_kind;

typedef struct {
    char name[48];           /* e.g. "codes", "scales", "base.codes" (inner method of a wrapper) */
    qh_dtype dtype;
    int ndim;
    int64_t shape[2];
    size_t bytes;
    void *data;              /* owned */
} qh_part;

typedef struct {
    int n_parts;
    qh_part part[QH_MAX_PARTS];
} qh_packed;

typedef struct qh_method qh_method;

/* A parsed method specification: "rtn bits=3 group=64", "outliers frac=0.01 + rtn bits=2". */
typedef struct qh_spec {
    const qh_method *method;
    double values[QH_MAX_PARAMS];   /* in schema order; enums hold the choice index */
    struct qh_spec *inner;          /* wrappers: the method applied to what they do not keep */
} qh_spec;

struct qh_method {
    const char *name, *summary;
    const qh_param *params;         /* terminated by {0} */
    int is_wrapper;                 /* takes "+ INNER SPEC" */
    int needs_calibration;          /* encode requires calib->H (input second moments) */
    const char *calibration_param;  /* or: requires it when this parameter is non-zero */
    /* A parameter the canonical form names only where it is not at its default: one added after
     * results were stored under the shorter name, which they keep. */
    const char *named_if_set;
    int (*encode)(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out,
                  qh_err *err);
    int (*decode)(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err);
};

/* ---- registry ---- */
extern const qh_method *const qh_methods[];
const qh_method *qh_method_find(const char *name);
int qh_method_n_params(const qh_method *m);

/* Parses a spec string; errors name the method, the parameter and the allowed range. */
int qh_spec_parse(const char *text, qh_spec **out, qh_err *err);
void qh_spec_free(qh_spec *spec);
/* Canonical form: every parameter, in schema order ("rtn bits=3 group=64 scheme=sym"). */
void qh_spec_canonical(const qh_spec *spec, char *buf, size_t len);
double qh_spec_get(const qh_spec *spec, const char *param);   /* by name; aborts if unknown */
const char *qh_spec_choice(const qh_spec *spec, const char *param);

/* ---- packed buffers ---- */
/* Adds a zero-filled part; returns its data. */
void *qh_packed_add(qh_packed *p, const char *name, qh_dtype dtype, int64_t n0, int64_t n1);
const qh_part *qh_packed_find(const qh_packed *p, const char *name);
/* Finds a part and checks its dtype and element count, else an error naming it. */
int qh_packed_expect(const qh_packed *p, const char *name, qh_dtype dtype, size_t numel,
                     const qh_part **out, qh_err *err);
size_t qh_packed_bytes(const qh_packed *p);
void qh_packed_free(qh_packed *p);
/* Moves the parts of inner into outer with a "prefix." name prefix. */
void qh_packed_adopt(qh_packed *outer, qh_packed *inner, const char *prefix);
/* The parts of p whose names start with "prefix.", without the prefix (borrowed data). */
void qh_packed_view(const qh_packed *p, const char *prefix, qh_packed *view);
qh_part_kind qh_part_kind_of(const char *name);
const char *qh_part_kind_name(qh_part_kind k);

/* ---- helpers shared by methods (methods/common.c) ---- */
/* b-bit unsigned codes, packed LSB-first into a continuous bit stream. */
size_t qh_bits_bytes(size_t n, int bits);
void qh_bits_pack(uint8_t *out, const uint8_t *codes, size_t n, int bits);
void qh_bits_unpack(uint8_t *codes, const uint8_t *in, size_t n, int bits);
/* The same layout (code i at bit i * bits, least significant bit first) for codes of 9-16 bits. */
void qh_bits_pack16(uint8_t *out, const uint16_t *codes, size_t n, int bits);
void qh_bits_unpack16(uint16_t *codes, const uint8_t *in, size_t n, int bits);
/* Groups along a row: group = 0 means the whole row. */
int qh_group_size(int group, int cols);
int qh_groups_per_row(int group, int cols);
/* Whether a spec (or the method it wraps) needs calibration statistics. */
int qh_spec_needs_calibration(const qh_spec *spec);

/* Row-major BLAS products for files that include GSL (whose gsl_cblas.h clashes with
 * OpenBLAS's cblas.h): C = alpha op(A) op(B) + beta C. */
void qh_dgemm(int trans_a, int trans_b, int M, int N, int K, double alpha, const double *A, int lda,
              const double *B, int ldb, double beta, double *C, int ldc);
void qh_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* Stores a scale as F16 and returns the value decode will see (so encode uses it too). */
float qh_f16_round(float x);
/* qsort comparator: floats in decreasing order. */
int qh_cmp_float_desc(const void *a, const void *b);
/* Scores with the index they belong to; qh_cmp_ranked sorts by decreasing score, ties to the
 * lower index (so a selection does not depend on qsort's order). */
typedef struct {
    double score;
    size_t index;
} qh_ranked;
int qh_cmp_ranked(const void *a, const void *b);

#endif
