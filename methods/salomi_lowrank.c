/* salomi_lowrank.c - SALOMI's LowRank (github.com/OrionsLock/SALOMI, onebit/quantization/
 * lowrank_residual.py, LowRankResidual): W ~ sign(W) x mean |W| + U V^T, one scale for the
 * whole matrix and a rank-r correction of the residual from its truncated SVD, the SVD taken
 * of the residual with each input column weighted by sqrt(H_jj) / mean sqrt(H) (weighted=1,
 * SALOMI's default; the weights are divided back out of V), U = left singular vectors x
 * singular values.  Both factors INT8, symmetric, with one absmax scale per factor matrix (as
 * SALOMI; qharness's own lowrank wrapper balances the factors and scales each row).  SALOMI
 * states 1.10 bits per weight at rank 8 on GPT-2 small: its overhead, 8 r (rows + cols) bits,
 * is a larger share of a smaller matrix.
 * Stored: signs (1 bit per weight), the scale (F32), factor_u (I8, rows x r), factor_v (I8,
 * cols x r: V transposed), the two factor scales (F32). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/method.h"
#include "methods/svd.h"

static const qh_param params[] = {
    {"rank", QH_PARAM_INT, 8, 1, 512, NULL, "rank of the residual correction (SALOMI's measured setting: 8)"},
    {"weighted", QH_PARAM_INT, 1, 0, 1, NULL, "1: weight input columns by sqrt(H_jj) in the SVD (needs calibration)"},
    {0}};

/* x (n values) -> int8 with one symmetric absmax scale (max / 127), as SALOMI's _quantize_factors */
static float pack_int8_tensor(const double *x, size_t n, int8_t *codes)
{
    double amax = 0;
    for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs(x[i]));
    float step = (float)((amax + 1e-10) / 127);
    for (size_t i = 0; i < n; i++) {
        long q = lrint(x[i] / step);
        codes[i] = (int8_t)(q < -127 ? -127 : (q > 127 ? 127 : q));
    }
    return step;
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int r = (int)qh_spec_get(spec, "rank"), weighted = (int)qh_spec_get(spec, "weighted");
    int rows = w->rows, cols = w->cols;
    if (r > (rows < cols ? rows : cols)) return qh_fail(err, "salomi-lowrank: rank %d exceeds min(rows, cols) = %d", r, rows < cols ? rows : cols);
    if (weighted && (!calib || !calib->H)) return qh_fail(err, "salomi-lowrank weighted=1 needs calibration statistics");
    if (weighted && calib->n != cols) return qh_fail(err, "salomi-lowrank: Hessian size %d, the weight has %d inputs", calib->n, cols);
    size_t n = (size_t)rows * cols;
    double sum_abs = 0;
    for (size_t i = 0; i < n; i++) sum_abs += fabsf(w->data[i]);
    float scale = (float)(sum_abs / (double)n);
    double *h = qh_malloc((size_t)cols * sizeof(double));
    for (int j = 0; j < cols; j++) h[j] = 1;
    if (weighted) { /* floored so that a dead input does not divide by zero */
        double mean_h = 0, mean_s = 0;
        for (int j = 0; j < cols; j++) mean_h += calib->H[(size_t)j * cols + j];
        mean_h /= cols;
        for (int j = 0; j < cols; j++) mean_s += h[j] = sqrt(fmax(calib->H[(size_t)j * cols + j], 1e-6 * mean_h + 1e-30));
        mean_s /= cols;
        for (int j = 0; j < cols; j++) h[j] /= mean_s;
    }
    double *R = qh_malloc(n * sizeof(double));
    uint8_t *signs = qh_malloc(n);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            size_t at = (size_t)i * cols + j;
            signs[at] = w->data[at] >= 0;
            R[at] = ((double)w->data[at] - (signs[at] ? scale : -scale)) * h[j];
        }
    double *A = qh_malloc((size_t)rows * r * sizeof(double)), *B = qh_malloc((size_t)cols * r * sizeof(double));
    qh_truncated_svd(R, rows, cols, r, A, B, 0);
    for (int j = 0; j < cols; j++)
        for (int k = 0; k < r; k++) B[(size_t)j * r + k] /= h[j];
    qh_bits_pack(qh_packed_add(out, "signs", QH_DT_U8, (int64_t)qh_bits_bytes(n, 1), 0), signs, n, 1);
    *(float *)qh_packed_add(out, "scales", QH_DT_F32, 1, 0) = scale;
    float *fs = qh_packed_add(out, "factor_scales", QH_DT_F32, 2, 0);
    fs[0] = pack_int8_tensor(A, (size_t)rows * r, qh_packed_add(out, "factor_u", QH_DT_I8, rows, r));
    fs[1] = pack_int8_tensor(B, (size_t)cols * r, qh_packed_add(out, "factor_v", QH_DT_I8, cols, r));
    free(h);
    free(R);
    free(signs);
    free(A);
    free(B);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int r = (int)qh_spec_get(spec, "rank"), rows = w->rows, cols = w->cols;
    size_t n = (size_t)rows * cols;
    const qh_part *ps, *psc, *pfs, *pa, *pb;
    if (qh_packed_expect(in, "signs", QH_DT_U8, qh_bits_bytes(n, 1), &ps, err) ||
        qh_packed_expect(in, "scales", QH_DT_F32, 1, &psc, err) ||
        qh_packed_expect(in, "factor_scales", QH_DT_F32, 2, &pfs, err) ||
        qh_packed_expect(in, "factor_u", QH_DT_I8, (size_t)rows * r, &pa, err) ||
        qh_packed_expect(in, "factor_v", QH_DT_I8, (size_t)cols * r, &pb, err))
        return -1;
    uint8_t *signs = qh_malloc(n);
    qh_bits_unpack(signs, ps->data, n, 1);
    float scale = *(const float *)psc->data;
    const float *fs = pfs->data;
    for (size_t i = 0; i < n; i++) w->data[i] = signs[i] ? scale : -scale;
    float *A = qh_malloc((size_t)rows * r * sizeof(float)), *B = qh_malloc((size_t)cols * r * sizeof(float));
    const int8_t *ca = pa->data, *cb = pb->data;
    for (size_t i = 0; i < (size_t)rows * r; i++) A[i] = (float)ca[i] * fs[0];
    for (size_t i = 0; i < (size_t)cols * r; i++) B[i] = (float)cb[i] * fs[1];
    qh_sgemm(0, 1, rows, cols, r, 1.0f, A, r, B, r, 1.0f, w->data, cols);
    free(signs);
    free(A);
    free(B);
    return 0;
}

const qh_method qh_method_salomi_lowrank = {
    .name = "salomi-lowrank",
    .summary = "SALOMI's LowRank: sign(W) x mean |W| + rank-r SVD of the residual, INT8 factors with one scale each",
    .params = params,
    .calibration_param = "weighted",
    .encode = encode,
    .decode = decode,
};
