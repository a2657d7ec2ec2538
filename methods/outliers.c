/* outliers.c - wrapper: keep the fraction `frac` of weights with the largest |W| exactly (F16)
 * with their positions, and quantize the rest with the inner method (with the kept weights
 * zeroed, so they do not stretch the inner method's scales).  Positions are stored as a CSR
 * pattern: per-row offsets (U32, rows + 1) and column indices (U16 when cols <= 65536, else
 * U32); every byte of it counts in the bpp.
 * Saliency: |w| without calibration; with calibration statistics, w^2 / [H^-1]_jj (the OBS
 * saliency used by SpQR and BiLLM: the loss increase from removing w), with H damped by 1%. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/hessian.h"
#include "methods/method.h"

static const qh_param params[] = {
    {"frac", QH_PARAM_FLOAT, 0.01, 0.0, 0.5, NULL, "fraction of weights kept exactly in F16"},
    {0}};

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    size_t n = (size_t)w->rows * w->cols;
    size_t k = (size_t)llround(qh_spec_get(spec, "frac") * (double)n);
    float *sal = qh_malloc(n * sizeof(float));
    if (calib && calib->H) {
        if (calib->n != w->cols) {
            free(sal);
            return qh_fail(err, "outliers: Hessian is %d x %d, the weight has %d input features", calib->n, calib->n, w->cols);
        }
        double *hd = qh_malloc((size_t)w->cols * sizeof(double));
        if (qh_hinv_diag(calib->H, w->cols, 0.01, hd, err) != 0) {
            free(hd);
            free(sal);
            return -1;
        }
        for (size_t i = 0; i < n; i++) sal[i] = (float)((double)w->data[i] * w->data[i] / hd[i % (size_t)w->cols]);
        free(hd);
    } else {
        for (size_t i = 0; i < n; i++) sal[i] = fabsf(w->data[i]);
    }
    /* threshold = k-th largest saliency */
    float thr = INFINITY;
    if (k > 0) {
        float *sorted = qh_malloc(n * sizeof(float));
        memcpy(sorted, sal, n * sizeof(float));
        qsort(sorted, n, sizeof(float), qh_cmp_float_desc);
        thr = sorted[k - 1];
        free(sorted);
    }
    int wide = w->cols > 65536;
    uint32_t *rowptr = qh_packed_add(out, "outlier_rowptr", QH_DT_U32, w->rows + 1, 0);
    void *cols = qh_packed_add(out, "outlier_cols", wide ? QH_DT_U32 : QH_DT_U16, (int64_t)k, 0);
    uint16_t *vals = qh_packed_add(out, "outlier_values", QH_DT_F16, (int64_t)k, 0);
    qh_matrix rest = {w->rows, w->cols, qh_malloc(n * sizeof(float))};
    memcpy(rest.data, w->data, n * sizeof(float));
    /* strictly above the threshold first, then ties in order until k are taken */
    size_t above = 0;
    for (size_t i = 0; i < n; i++) above += sal[i] > thr;
    size_t ties_left = k - above, taken = 0;
    for (int r = 0; r < w->rows; r++) {
        rowptr[r] = (uint32_t)taken;
        for (int c = 0; c < w->cols; c++) {
            size_t i = (size_t)r * w->cols + c;
            float a = sal[i];
            int keep = a > thr || (a == thr && ties_left > 0 && (ties_left--, 1));
            if (!keep || taken == k) continue;
            if (wide) ((uint32_t *)cols)[taken] = (uint32_t)c;
            else ((uint16_t *)cols)[taken] = (uint16_t)c;
            vals[taken++] = qh_f32_to_f16(w->data[i]);
            rest.data[i] = 0.0f;
        }
    }
    rowptr[w->rows] = (uint32_t)taken;
    qh_packed inner = {0};
    int rc = spec->inner->method->encode(spec->inner, &rest, calib, &inner, err);
    if (rc == 0) qh_packed_adopt(out, &inner, "base");
    qh_packed_free(&inner);
    free(rest.data);
    free(sal);
    return rc;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    qh_packed view;
    qh_packed_view(in, "base", &view);
    if (spec->inner->method->decode(spec->inner, &view, w, err) != 0) return -1;
    const qh_part *pr = qh_packed_find(in, "outlier_rowptr"), *pc = qh_packed_find(in, "outlier_cols"),
                  *pv = qh_packed_find(in, "outlier_values");
    if (!pr || !pc || !pv) return qh_fail(err, "outliers: packed parts outlier_rowptr/cols/values missing");
    size_t k = pv->bytes / 2;
    int wide = pc->dtype == QH_DT_U32;
    const uint32_t *rowptr = pr->data;
    if (pr->bytes != ((size_t)w->rows + 1) * 4 || pc->bytes != k * (wide ? 4 : 2) || rowptr[w->rows] != k)
        return qh_fail(err, "outliers: inconsistent outlier pattern (%zu values)", k);
    for (int r = 0; r < w->rows; r++) {
        if (rowptr[r] > rowptr[r + 1] || rowptr[r + 1] > k) return qh_fail(err, "outliers: row offsets not increasing at row %d", r);
        for (uint32_t j = rowptr[r]; j < rowptr[r + 1]; j++) {
            uint32_t c = wide ? ((const uint32_t *)pc->data)[j] : ((const uint16_t *)pc->data)[j];
            if (c >= (uint32_t)w->cols) return qh_fail(err, "outliers: column %u out of range", c);
            w->data[(size_t)r * w->cols + c] = qh_f16_to_f32(((const uint16_t *)pv->data)[j]);
        }
    }
    return 0;
}

const qh_method qh_method_outliers = {
    .name = "outliers",
    .summary = "wrapper: keep the largest-|W| fraction exactly (F16 + CSR positions), inner method for the rest",
    .params = params,
    .is_wrapper = 1,
    .encode = encode,
    .decode = decode,
};
