/* magnitude_recovery.c - sign-value-independent decomposition (OneBit, Xu et al. 2024):
 * W ~ sign(W) (.) (U V^T), where U V^T is the best rank-r approximation of |W| (truncated SVD).
 * For r = 1 the factors are the non-negative Perron vectors of |W|, i.e. a scale per output
 * channel times a scale per input feature.  Stored: 1 sign bit per weight, F16 factors
 * U (rows, r) and V (cols, r).  bpp = 1 + 16 r (rows + cols) / (rows cols).
 *
 * The SVD is qh_truncated_svd (svd.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/binary.h"
#include "methods/svd.h"

static const qh_param params[] = {
    {"rank", QH_PARAM_INT, 1, 1, 64, NULL, "rank of the magnitude factorisation"},
    {0}};

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int r = (int)qh_spec_get(spec, "rank"), rows = w->rows, cols = w->cols;
    int small = rows < cols ? rows : cols;
    if (r > small) return qh_fail(err, "magnitude-recovery: rank %d exceeds min(rows, cols) = %d", r, small);
    size_t n = (size_t)rows * cols;
    qh_signs_pack(qh_packed_add(out, "signs", QH_DT_U8, (int64_t)qh_bits_bytes(n, 1), 0), w->data, n);
    double *A = qh_malloc(n * sizeof(double)), *U = qh_malloc((size_t)rows * r * sizeof(double)),
           *V = qh_malloc((size_t)cols * r * sizeof(double));
    for (size_t i = 0; i < n; i++) A[i] = fabs(w->data[i]);
    qh_truncated_svd(A, rows, cols, r, U, V, 1);
    uint16_t *fu = qh_packed_add(out, "factor_u", QH_DT_F16, rows, r);
    uint16_t *fv = qh_packed_add(out, "factor_v", QH_DT_F16, cols, r);
    for (size_t i = 0; i < (size_t)rows * r; i++) fu[i] = qh_f32_to_f16((float)U[i]);
    for (size_t i = 0; i < (size_t)cols * r; i++) fv[i] = qh_f32_to_f16((float)V[i]);
    free(A);
    free(U);
    free(V);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int r = (int)qh_spec_get(spec, "rank"), rows = w->rows, cols = w->cols;
    size_t n = (size_t)rows * cols;
    const qh_part *ps, *pu, *pv;
    if (qh_packed_expect(in, "signs", QH_DT_U8, qh_bits_bytes(n, 1), &ps, err) ||
        qh_packed_expect(in, "factor_u", QH_DT_F16, (size_t)rows * r, &pu, err) ||
        qh_packed_expect(in, "factor_v", QH_DT_F16, (size_t)cols * r, &pv, err))
        return -1;
    float *U = qh_malloc((size_t)rows * r * sizeof(float)), *V = qh_malloc((size_t)cols * r * sizeof(float));
    qh_f16_to_f32_n(pu->data, U, (size_t)rows * r);
    qh_f16_to_f32_n(pv->data, V, (size_t)cols * r);
    qh_sgemm(0, 1, rows, cols, r, 1.0f, U, r, V, r, 0.0f, w->data, cols);
    for (size_t i = 0; i < n; i++) w->data[i] *= qh_sign_at(ps->data, i);
    free(U);
    free(V);
    return 0;
}

const qh_method qh_method_magnitude_recovery = {
    .name = "magnitude-recovery",
    .summary = "sign(W) with |W| recovered by a rank-r factorisation (OneBit SVID): 1 bit + F16 factors",
    .params = params,
    .encode = encode,
    .decode = decode,
};
