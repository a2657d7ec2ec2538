#define _GNU_SOURCE /* qsort_r */
/* gptq.c - GPTQ (Frantar et al. 2023): quantize a weight matrix column by column on the RTN
 * grid, spreading each column's rounding error over the columns not yet quantized through the
 * inverse Hessian of the layer inputs, H = sum x x^T:
 *   Hinv = (H + damp * mean(diag H) I)^-1 = U^T U  (U upper triangular, by Cholesky)
 *   for each column i:  q_i = rtn(w_i);  e = (w_i - q_i) / U_ii;  w_j -= e U_ij  for j > i
 * Updates inside a block of `block` columns are immediate; the rest of the matrix is updated
 * once per block with one matrix product (the "lazy batch" of the paper).
 * Groups: without act_order, a group's scale and zero point are computed from the
 * error-updated weights when the group's first column is reached (as in the reference code);
 * with act_order (columns in order of decreasing H_jj) groups are static, computed from the
 * original weights, so the codes stay in the original column order.  As in the reference
 * code, a group that starts inside a lazy block takes its parameters before that block's
 * update has reached the group's later columns; with `block` a multiple of `group` (the
 * defaults, 128 and 128) this never happens and the result does not depend on `block`.
 * The packed parts are
 * rtn's (b-bit codes, F16 scales, b-bit zero points) and decode is rtn's. */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/hessian.h"
#include "methods/method.h"
#include "methods/rtn.h"

static const qh_param params[] = {
    {"bits", QH_PARAM_INT, 4, 2, 8, NULL, "bits per weight code"},
    {"group", QH_PARAM_INT, 128, 0, 1 << 20, NULL, "input features per scale; 0 = one scale per output channel"},
    {"scheme", QH_PARAM_ENUM, 0, 0, 1, "sym|asym", "symmetric or asymmetric grid (as rtn)"},
    {"act_order", QH_PARAM_INT, 0, 0, 1, NULL, "1: quantize columns in order of decreasing H_jj"},
    {"damp", QH_PARAM_FLOAT, 0.01, 0.0, 1.0, NULL, "damping, as a fraction of mean diag(H)"},
    {"block", QH_PARAM_INT, 128, 1, 4096, NULL, "columns per lazy-update block"},
    {0}};

/* Upper Cholesky factor U of (H + damp)^-1, as floats (n, n) row-major; -1 if not PD. */
int qh_gptq_hinv_factor(const double *H, int n, double damp_frac, float *U, qh_err *err)
{
    gsl_matrix *A = gsl_matrix_alloc((size_t)n, (size_t)n);
    memcpy(A->data, H, (size_t)n * n * sizeof(double));
    double mean = 0;
    for (int i = 0; i < n; i++) mean += H[(size_t)i * n + i];
    mean /= n;
    for (int i = 0; i < n; i++) A->data[(size_t)i * n + i] += damp_frac * mean;
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int rc = gsl_linalg_cholesky_decomp1(A);
    if (rc == 0) rc = gsl_linalg_cholesky_invert(A); /* A = H^-1 */
    if (rc == 0) rc = gsl_linalg_cholesky_decomp1(A); /* lower L, H^-1 = L L^T, so U = L^T */
    gsl_set_error_handler(old);
    if (rc != 0) {
        gsl_matrix_free(A);
        return qh_fail(err, "the damped Hessian is not positive definite (raise damp)");
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) U[(size_t)i * n + j] = j >= i ? (float)gsl_matrix_get(A, (size_t)j, (size_t)i) : 0.0f;
    gsl_matrix_free(A);
    return 0;
}

int qh_hinv_diag(const double *H, int n, double damp_frac, double *out, qh_err *err)
{
    float *U = qh_malloc((size_t)n * n * sizeof(float));
    int rc = qh_gptq_hinv_factor(H, n, damp_frac, U, err);
    if (rc == 0)
        for (int j = 0; j < n; j++) { /* (U^T U)_jj = sum_i U_ij^2 */
            double s = 0;
            for (int i = 0; i <= j; i++) s += (double)U[(size_t)i * n + j] * U[(size_t)i * n + j];
            out[j] = s;
        }
    free(U);
    return rc;
}

int qh_hessian_prepare(const char *method, const qh_matrix *w, const qh_calib *calib, float **Wt_out, double **H_out,
                       qh_err *err)
{
    int rows = w->rows, cols = w->cols;
    if (!calib || !calib->H) return qh_fail(err, "%s needs calibration statistics (the layer's input Hessian)", method);
    if (calib->diagonal_only)
        return qh_fail(err, "%s needs the full input Hessian; an importance matrix holds its diagonal only", method);
    if (calib->n != cols) return qh_fail(err, "%s: Hessian is %d x %d, the weight has %d input features", method, calib->n, calib->n, cols);
    size_t n = (size_t)rows * cols;
    float *Wt = qh_malloc(n * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) Wt[(size_t)c * rows + r] = w->data[(size_t)r * cols + c];
    double *H = qh_malloc((size_t)cols * cols * sizeof(double));
    memcpy(H, calib->H, (size_t)cols * cols * sizeof(double));
    /* dead inputs (never active in calibration): their weights cannot matter; zero them */
    for (int j = 0; j < cols; j++)
        if (H[(size_t)j * cols + j] == 0) {
            H[(size_t)j * cols + j] = 1;
            memset(Wt + (size_t)j * rows, 0, (size_t)rows * sizeof(float));
        }
    *Wt_out = Wt;
    *H_out = H;
    return 0;
}

void qh_gptq_feedback_block(const float *U, int cols, int rows, int i, int i2, const float *e, float *Wt)
{
    for (int j = i + 1; j < i2; j++) {
        float u = U[(size_t)i * cols + j];
        float *cj = Wt + (size_t)j * rows;
        for (int r = 0; r < rows; r++) cj[r] -= u * e[r];
    }
}

/* W[i2:] -= U[i1:i2, i2:]^T E */
void qh_gptq_feedback_rest(const float *U, int cols, int rows, int i1, int i2, const float *err_blk, float *Wt)
{
    if (i2 < cols)
        qh_sgemm(1, 0, cols - i2, rows, i2 - i1, -1.0f, U + (size_t)i1 * cols + i2, cols, err_blk, rows, 1.0f,
                 Wt + (size_t)i2 * rows, rows);
}

int qh_ldlq(const float *U, int cols, int rows, int b, int lazy, float *Wt, qh_ldlq_quantize quantize, void *ctx)
{
    if (lazy % b) lazy += b - lazy % b;
    float *err_blk = qh_malloc((size_t)lazy * rows * sizeof(float)), *q = qh_malloc((size_t)b * rows * sizeof(float));
    int rc = 0;
    for (int i1 = 0; i1 < cols && rc == 0; i1 += lazy) {
        int i2 = i1 + lazy < cols ? i1 + lazy : cols;
        for (int c0 = i1; c0 < i2 && rc == 0; c0 += b) {
            int nb = c0 + b <= i2 ? b : i2 - c0;
            if ((rc = quantize(ctx, c0, nb, Wt + (size_t)c0 * rows, q)) != 0) break;
            /* scaled errors d with d U_BB = E (forward substitution), fed like GPTQ's e */
            for (int j = 0; j < nb; j++) {
                float *d = err_blk + (size_t)(c0 + j - i1) * rows, *col = Wt + (size_t)(c0 + j) * rows;
                const float *qj = q + (size_t)j * rows;
                float ujj = U[(size_t)(c0 + j) * cols + c0 + j];
                for (int r = 0; r < rows; r++) {
                    float e = col[r] - qj[r];
                    for (int k = 0; k < j; k++) e -= err_blk[(size_t)(c0 + k - i1) * rows + r] * U[(size_t)(c0 + k) * cols + c0 + j];
                    d[r] = e / ujj;
                }
            }
            /* to the columns after the block, inside the lazy block (those of the block are done) */
            for (int j = 0; j < nb; j++)
                qh_gptq_feedback_block(U, cols, rows, c0 + j, i2, err_blk + (size_t)(c0 + j - i1) * rows, Wt);
        }
        if (rc == 0) qh_gptq_feedback_rest(U, cols, rows, i1, i2, err_blk, Wt);
    }
    free(err_blk);
    free(q);
    return rc;
}

static int cmp_diag_desc(const void *a, const void *b, void *ctx)
{
    const double *d = ctx;
    double x = d[*(const int *)a], y = d[*(const int *)b];
    return x < y ? 1 : (x > y ? -1 : (*(const int *)a - *(const int *)b));
}

/* One column (in quantization order) for qh_ldlq: its group's grid (taken from the updated
 * weights when a group starts, unless groups are static), the codes in the original order. */
typedef struct {
    const int *perm;
    const float *Wp;
    int rows, cols, G, ng, bits, asym, static_groups;
    float *scale, *rowbuf;
    int *zero;
    uint8_t *codes;
} gptq_ctx;

static int gptq_column(void *vctx, int i, int b, const float *col, float *q)
{
    gptq_ctx *c = vctx;
    (void)b; /* always 1 */
    int rows = c->rows, orig = c->perm[i], g = orig / c->G;
    if (!c->static_groups && orig % c->G == 0) { /* the group starts here: parameters from the updated weights */
        int len = orig + c->G <= c->cols ? c->G : c->cols - orig;
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < len; k++) c->rowbuf[k] = c->Wp[(size_t)(i + k) * rows + r];
            qh_rtn_group_params(c->rowbuf, len, c->bits, c->asym, &c->scale[(size_t)r * c->ng + g], &c->zero[(size_t)r * c->ng + g]);
        }
    }
    for (int r = 0; r < rows; r++) {
        float s = c->scale[(size_t)r * c->ng + g];
        int z = c->zero[(size_t)r * c->ng + g];
        uint8_t code = qh_rtn_code(col[r], s, z, c->bits, c->asym);
        c->codes[(size_t)r * c->cols + orig] = code;
        q[r] = ((float)code - (float)z) * s;
    }
    return 0;
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int bits = (int)qh_spec_get(spec, "bits"), asym = (int)qh_spec_get(spec, "scheme");
    int act_order = (int)qh_spec_get(spec, "act_order"), bs = (int)qh_spec_get(spec, "block");
    int rows = w->rows, cols = w->cols;
    int G = qh_group_size((int)qh_spec_get(spec, "group"), cols), ng = qh_groups_per_row(G, cols);
    float *Wt; /* W^T (cols, rows): a column of W is a contiguous row here */
    double *H;
    if (qh_hessian_prepare("gptq", w, calib, &Wt, &H, err) != 0) return -1;
    size_t n = (size_t)rows * cols;
    int *perm = qh_malloc((size_t)cols * sizeof(int));
    for (int j = 0; j < cols; j++) perm[j] = j;
    double *diag = qh_malloc((size_t)cols * sizeof(double));
    for (int j = 0; j < cols; j++) diag[j] = H[(size_t)j * cols + j];
    if (act_order) qsort_r(perm, (size_t)cols, sizeof(int), cmp_diag_desc, diag);
    /* permuted copies: Wp (cols, rows) and Hp */
    float *Wp = qh_malloc(n * sizeof(float));
    double *Hp = qh_malloc((size_t)cols * cols * sizeof(double));
    for (int a = 0; a < cols; a++) {
        memcpy(Wp + (size_t)a * rows, Wt + (size_t)perm[a] * rows, (size_t)rows * sizeof(float));
        for (int b = 0; b < cols; b++) Hp[(size_t)a * cols + b] = H[(size_t)perm[a] * cols + perm[b]];
    }
    float *U = qh_malloc((size_t)cols * cols * sizeof(float));
    uint8_t *codes = NULL, *zeros = NULL;
    float *scale = NULL, *rowbuf = NULL;
    int *zero = NULL;
    int rc = qh_gptq_hinv_factor(Hp, cols, qh_spec_get(spec, "damp"), U, err);
    if (rc != 0) goto done;
    codes = qh_malloc(n);
    scale = qh_malloc((size_t)rows * ng * sizeof(float));
    zero = qh_malloc((size_t)rows * ng * sizeof(int));
    rowbuf = qh_malloc((size_t)(G > cols ? G : cols) * sizeof(float));
    /* static group parameters (act_order, or one group per row): from the weights before any update */
    int static_groups = act_order || G == cols;
    if (static_groups)
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < ng; g++) {
                int c0 = g * G, len = c0 + G <= cols ? G : cols - c0;
                for (int i = 0; i < len; i++) rowbuf[i] = Wt[(size_t)(c0 + i) * rows + r];
                qh_rtn_group_params(rowbuf, len, bits, asym, &scale[(size_t)r * ng + g], &zero[(size_t)r * ng + g]);
            }
    gptq_ctx ctx = {.perm = perm, .Wp = Wp, .rows = rows, .cols = cols, .G = G, .ng = ng, .bits = bits, .asym = asym,
                    .static_groups = static_groups, .scale = scale, .rowbuf = rowbuf, .zero = zero, .codes = codes};
    rc = qh_ldlq(U, cols, rows, 1, bs, Wp, gptq_column, &ctx);
    if (rc != 0) goto done;
    /* the packed parts, exactly as rtn writes them */
    size_t ngroups = (size_t)rows * ng;
    uint16_t *ps = qh_packed_add(out, "scales", QH_DT_F16, rows, ng);
    zeros = qh_malloc(ngroups);
    for (size_t k = 0; k < ngroups; k++) {
        ps[k] = qh_f32_to_f16(scale[k]);
        zeros[k] = (uint8_t)zero[k];
    }
    qh_bits_pack(qh_packed_add(out, "codes", QH_DT_U8, (int64_t)qh_bits_bytes(n, bits), 0), codes, n, bits);
    if (asym) qh_bits_pack(qh_packed_add(out, "zeros", QH_DT_U8, (int64_t)qh_bits_bytes(ngroups, bits), 0), zeros, ngroups, bits);
done:
    free(Wt);
    free(H);
    free(perm);
    free(diag);
    free(Wp);
    free(Hp);
    free(U);
    free(codes);
    free(scale);
    free(zero);
    free(zeros);
    free(rowbuf);
    return rc;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    return qh_rtn_decode_parts(in, (int)qh_spec_get(spec, "bits"), (int)qh_spec_get(spec, "group"),
                               (int)qh_spec_get(spec, "scheme"), w, err);
}

const qh_method qh_method_gptq = {
    .name = "gptq",
    .summary = "GPTQ: rtn grid, rounding error compensated through the inverse input Hessian (needs calibration)",
    .params = params,
    .needs_calibration = 1,
    .encode = encode,
    .decode = decode,
};
