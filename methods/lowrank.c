/* lowrank.c - wrapper: an inner method, then its residual R = W - W_hat approximated by a
 * rank-r factorisation R ~ A B^T (truncated SVD), stored INT8 with one F16 scale per row of A
 * and of B (or F16 factors).  With weighted=1 and calibration statistics, the SVD is of
 * R diag(sqrt(h)) with h = diag(H) (inputs that are large in calibration weigh more), and B is
 * scaled back by 1/sqrt(h).  bpp = inner + r (rows + cols) * (8 or 16) / (rows cols) + scales. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/method.h"
#include "methods/svd.h"

static const qh_param params[] = {
    {"rank", QH_PARAM_INT, 8, 1, 512, NULL, "rank of the residual correction"},
    {"factors", QH_PARAM_ENUM, 0, 0, 1, "int8|f16", "storage of the factors (int8 with per-row F16 scales, or F16)"},
    {"weighted", QH_PARAM_INT, 0, 0, 1, NULL, "1: weight input features by the Hessian diagonal (needs calibration)"},
    {0}};

/* rows (n, r) of x -> int8 codes with one F16 absmax scale per row, returns the decoded values */
static void pack_int8_rows(const double *x, int n, int r, int8_t *codes, uint16_t *scales, float *decoded)
{
    for (int i = 0; i < n; i++) {
        double amax = 0;
        for (int k = 0; k < r; k++) amax = fabs(x[(size_t)i * r + k]) > amax ? fabs(x[(size_t)i * r + k]) : amax;
        float s = qh_f16_round((float)(amax / 127));
        scales[i] = qh_f32_to_f16(s);
        for (int k = 0; k < r; k++) {
            long q = s > 0 ? lrint(x[(size_t)i * r + k] / s) : 0;
            q = q < -127 ? -127 : (q > 127 ? 127 : q);
            codes[(size_t)i * r + k] = (int8_t)q;
            if (decoded) decoded[(size_t)i * r + k] = (float)q * s;
        }
    }
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int r = (int)qh_spec_get(spec, "rank"), f16 = (int)qh_spec_get(spec, "factors"), weighted = (int)qh_spec_get(spec, "weighted");
    int rows = w->rows, cols = w->cols;
    if (r > (rows < cols ? rows : cols)) return qh_fail(err, "lowrank: rank %d exceeds min(rows, cols)", r);
    if (weighted && (!calib || !calib->H)) return qh_fail(err, "lowrank weighted=1 needs calibration statistics");
    if (weighted && calib->n != cols) return qh_fail(err, "lowrank: Hessian size %d, weight has %d inputs", calib->n, cols);
    qh_packed inner = {0};
    if (spec->inner->method->encode(spec->inner, w, calib, &inner, err) != 0) {
        qh_packed_free(&inner);
        return -1;
    }
    size_t n = (size_t)rows * cols;
    qh_matrix base = {rows, cols, qh_malloc(n * sizeof(float))};
    if (spec->inner->method->decode(spec->inner, &inner, &base, err) != 0) {
        free(base.data);
        qh_packed_free(&inner);
        return -1;
    }
    double *R = qh_malloc(n * sizeof(double)), *sq = qh_malloc((size_t)cols * sizeof(double));
    for (int j = 0; j < cols; j++) sq[j] = 1;
    if (weighted) { /* sqrt of the per-input second moment, floored so dead inputs do not divide by zero */
        double mean = 0;
        for (int j = 0; j < cols; j++) mean += calib->H[(size_t)j * cols + j];
        mean /= cols;
        for (int j = 0; j < cols; j++) sq[j] = sqrt(fmax(calib->H[(size_t)j * cols + j], 1e-6 * mean + 1e-30));
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            R[(size_t)i * cols + j] = ((double)w->data[(size_t)i * cols + j] - base.data[(size_t)i * cols + j]) * sq[j];
    double *A = qh_malloc((size_t)rows * r * sizeof(double)), *B = qh_malloc((size_t)cols * r * sizeof(double));
    qh_truncated_svd(R, rows, cols, r, A, B, 0);
    for (int j = 0; j < cols; j++)
        for (int k = 0; k < r; k++) B[(size_t)j * r + k] /= sq[j];
    /* balance the two factors' ranges before rounding: A S^-1/2, B S^1/2 per component */
    for (int k = 0; k < r; k++) {
        double na = 0, nb = 0;
        for (int i = 0; i < rows; i++) na = fmax(na, fabs(A[(size_t)i * r + k]));
        for (int j = 0; j < cols; j++) nb = fmax(nb, fabs(B[(size_t)j * r + k]));
        double g = na > 0 && nb > 0 ? sqrt(na / nb) : 1;
        for (int i = 0; i < rows; i++) A[(size_t)i * r + k] /= g;
        for (int j = 0; j < cols; j++) B[(size_t)j * r + k] *= g;
    }
    if (f16) {
        uint16_t *fa = qh_packed_add(out, "factor_u", QH_DT_F16, rows, r), *fb = qh_packed_add(out, "factor_v", QH_DT_F16, cols, r);
        for (size_t i = 0; i < (size_t)rows * r; i++) fa[i] = qh_f32_to_f16((float)A[i]);
        for (size_t i = 0; i < (size_t)cols * r; i++) fb[i] = qh_f32_to_f16((float)B[i]);
    } else {
        int8_t *ca = qh_packed_add(out, "factor_u", QH_DT_I8, rows, r), *cb = qh_packed_add(out, "factor_v", QH_DT_I8, cols, r);
        uint16_t *sc = qh_packed_add(out, "factor_scales", QH_DT_F16, rows + cols, 0);
        pack_int8_rows(A, rows, r, ca, sc, NULL);
        pack_int8_rows(B, cols, r, cb, sc + rows, NULL);
    }
    qh_packed_adopt(out, &inner, "base");
    qh_packed_free(&inner);
    free(base.data);
    free(R);
    free(sq);
    free(A);
    free(B);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int r = (int)qh_spec_get(spec, "rank"), f16 = (int)qh_spec_get(spec, "factors");
    int rows = w->rows, cols = w->cols;
    qh_packed view;
    qh_packed_view(in, "base", &view);
    if (spec->inner->method->decode(spec->inner, &view, w, err) != 0) return -1;
    float *A = qh_malloc((size_t)rows * r * sizeof(float)), *B = qh_malloc((size_t)cols * r * sizeof(float));
    const qh_part *pa, *pb, *ps;
    int rc = -1;
    if (f16) {
        if (qh_packed_expect(in, "factor_u", QH_DT_F16, (size_t)rows * r, &pa, err) ||
            qh_packed_expect(in, "factor_v", QH_DT_F16, (size_t)cols * r, &pb, err))
            goto out;
        qh_f16_to_f32_n(pa->data, A, (size_t)rows * r);
        qh_f16_to_f32_n(pb->data, B, (size_t)cols * r);
    } else {
        if (qh_packed_expect(in, "factor_u", QH_DT_I8, (size_t)rows * r, &pa, err) ||
            qh_packed_expect(in, "factor_v", QH_DT_I8, (size_t)cols * r, &pb, err) ||
            qh_packed_expect(in, "factor_scales", QH_DT_F16, (size_t)rows + cols, &ps, err))
            goto out;
        const int8_t *ca = pa->data, *cb = pb->data;
        const uint16_t *sc = ps->data;
        for (int i = 0; i < rows; i++)
            for (int k = 0; k < r; k++) A[(size_t)i * r + k] = ca[(size_t)i * r + k] * qh_f16_to_f32(sc[i]);
        for (int j = 0; j < cols; j++)
            for (int k = 0; k < r; k++) B[(size_t)j * r + k] = cb[(size_t)j * r + k] * qh_f16_to_f32(sc[rows + j]);
    }
    qh_sgemm(0, 1, rows, cols, r, 1.0f, A, r, B, r, 1.0f, w->data, cols);
    rc = 0;
out:
    free(A);
    free(B);
    return rc;
}

const qh_method qh_method_lowrank = {
    .name = "lowrank",
    .summary = "wrapper: inner method + rank-r SVD of its residual, INT8 (per-row F16 scales) or F16 factors",
    .params = params,
    .is_wrapper = 1,
    .calibration_param = "weighted",
    .encode = encode,
    .decode = decode,
};
