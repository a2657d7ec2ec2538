/* pb_llm.c - PB-LLM (Shang et al. 2023, arXiv 2310.00034), its post-training GPTQ variant:
 * partially binarized weights.  A fraction `frac` of the weights, the salient ones, keeps a
 * `bits`-bit code (default 8); the rest is binarized; GPTQ spreads every column's rounding error
 * over the columns not yet quantized.  The paper counts 10% salient at 8 bits as
 * 0.9 x 1 + 0.1 x 8 = 1.7 bits: that count leaves out the mask saying which weights are salient
 * and every scale.  Here they are written and counted.
 *
 * As in the reference code (gptq_pb/gptq.py, low_quant.py):
 * - salience, computed once from the weights before any update, per group of `group` columns:
 *   w^2 / U_jj^2, U the upper Cholesky factor of the damped inverse Hessian (GPTQ's);
 * - binarized weights: "xnor" with a mean per row and group, w ~ m + alpha sign(w - m);
 * - salient weights: an asymmetric `bits`-bit grid per output channel, min/max of the whole row;
 * - GPTQ column by column, lazy updates in blocks of `block` columns.
 * Differences: exactly round(frac x rows x len) weights of a group are salient, ties to the
 * lower index (the reference thresholds at a sorted position, so ties can add more); m and
 * alpha are the mean and the mean |w - m| of the group's binarized weights only (the reference
 * averages W * mask, counting the salient weights as zeros, which its comment flags as a
 * probable bug); scales and means are stored in F16 and used as stored.
 * Stored: mask (1 bit per weight, a plain bitmap, row-major), signs of the binarized weights and
 * codes of the salient ones (each in row-major order), binary means and scales (F16 per row and
 * group), salient scales (F16) and zero points (`bits` bits) per row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/hessian.h"
#include "methods/method.h"
#include "methods/rtn.h"

static const qh_param params[] = {
    {"frac", QH_PARAM_FLOAT, 0.1, 0.0, 1.0, NULL, "fraction of weights kept salient (per group of columns)"},
    {"bits", QH_PARAM_INT, 8, 2, 8, NULL, "bits per salient weight (asymmetric grid per output channel)"},
    {"group", QH_PARAM_INT, 128, 0, 1 << 20, NULL, "columns per salience group and per binary scale; 0 = the whole row"},
    {"damp", QH_PARAM_FLOAT, 0.01, 0.0, 1.0, NULL, "damping, as a fraction of mean diag(H)"},
    {"block", QH_PARAM_INT, 128, 1, 4096, NULL, "columns per lazy-update block"},
    {0}};

/* Salient weights of a matrix: exactly round(frac rows len) in each group. */
static size_t salient_count(double frac, int rows, int cols, int group)
{
    int G = qh_group_size(group, cols), ng = qh_groups_per_row(G, cols);
    size_t k = 0;
    for (int g = 0; g < ng; g++) {
        int len = (g + 1) * G <= cols ? G : cols - g * G;
        k += (size_t)llround(frac * (double)rows * len);
    }
    return k;
}

/* One column for qh_ldlq: salient weights on their row's grid, the rest mean +- scale of their row and group */
typedef struct {
    const uint8_t *salient;
    uint8_t *codes;
    const float *hs;
    const int *hzero;
    const float *bm, *ba;
    int rows, cols, G, ng, bits;
} pb_ctx;

static int pb_column(void *vctx, int i, int b, const float *col, float *q)
{
    const pb_ctx *c = vctx;
    (void)b; /* always 1 */
    int g = i / c->G;
    for (int r = 0; r < c->rows; r++) {
        size_t at = (size_t)r * c->cols + i;
        if (c->salient[at]) {
            uint8_t code = qh_rtn_code(col[r], c->hs[r], c->hzero[r], c->bits, 1);
            c->codes[at] = code;
            q[r] = ((float)code - (float)c->hzero[r]) * c->hs[r];
        } else {
            float m = c->bm[(size_t)r * c->ng + g], a = c->ba[(size_t)r * c->ng + g];
            c->codes[at] = col[r] >= m;
            q[r] = col[r] >= m ? m + a : m - a;
        }
    }
    return 0;
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    double frac = qh_spec_get(spec, "frac");
    int bits = (int)qh_spec_get(spec, "bits"), bs = (int)qh_spec_get(spec, "block");
    int rows = w->rows, cols = w->cols;
    int G = qh_group_size((int)qh_spec_get(spec, "group"), cols), ng = qh_groups_per_row(G, cols);
    size_t n = (size_t)rows * cols;
    float *Wt; /* W^T (cols, rows): a column of W is contiguous */
    double *H;
    if (qh_hessian_prepare("pb-llm", w, calib, &Wt, &H, err) != 0) return -1;
    float *U = qh_malloc((size_t)cols * cols * sizeof(float));
    uint8_t *salient = NULL, *codes = NULL, *hz = NULL; /* salient[r * cols + c]: 1 for a salient weight */
    float *hs = NULL, *bm = NULL, *ba = NULL, *rowbuf = NULL;
    int *hzero = NULL;
    qh_ranked *rk = NULL;
    size_t k = 0; /* salient weights in all */
    int rc = qh_gptq_hinv_factor(H, cols, qh_spec_get(spec, "damp"), U, err);
    if (rc != 0) goto done;
    /* the mask, from the weights before any update */
    salient = qh_calloc(n, 1);
    rk = qh_malloc((size_t)rows * G * sizeof(qh_ranked));
    for (int g = 0; g < ng; g++) {
        int c0 = g * G, len = c0 + G <= cols ? G : cols - c0;
        size_t m = 0;
        for (int c = c0; c < c0 + len; c++) {
            float d = U[(size_t)c * cols + c];
            for (int r = 0; r < rows; r++, m++) {
                float x = Wt[(size_t)c * rows + r];
                rk[m].score = x * x / (d * d);
                rk[m].index = (size_t)r * cols + c; /* row-major */
            }
        }
        size_t kg = (size_t)llround(frac * (double)rows * len);
        qsort(rk, m, sizeof *rk, qh_cmp_ranked);
        for (size_t t = 0; t < kg; t++) salient[rk[t].index] = 1;
        k += kg;
    }
    /* binary mean and scale per row and group, over the group's binarized weights */
    bm = qh_malloc((size_t)rows * ng * sizeof(float));
    ba = qh_malloc((size_t)rows * ng * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * G, len = c0 + G <= cols ? G : cols - c0, cnt = 0;
            double sum = 0, dev = 0;
            for (int c = c0; c < c0 + len; c++)
                if (!salient[(size_t)r * cols + c]) sum += Wt[(size_t)c * rows + r], cnt++;
            float mean = qh_f16_round(cnt ? (float)(sum / cnt) : 0.0f);
            for (int c = c0; c < c0 + len; c++)
                if (!salient[(size_t)r * cols + c]) dev += fabsf(Wt[(size_t)c * rows + r] - mean);
            bm[(size_t)r * ng + g] = mean;
            ba[(size_t)r * ng + g] = qh_f16_round(cnt ? (float)(dev / cnt) : 0.0f);
        }
    /* salient grid per output channel: min/max of the whole row */
    hs = qh_malloc((size_t)rows * sizeof(float));
    hzero = qh_malloc((size_t)rows * sizeof(int));
    rowbuf = qh_malloc((size_t)cols * sizeof(float));
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) rowbuf[c] = Wt[(size_t)c * rows + r];
        qh_rtn_group_params(rowbuf, cols, bits, 1, &hs[r], &hzero[r]);
    }
    /* GPTQ: column by column; codes[r * cols + c] = salient code, or 1 for a positive sign */
    codes = qh_malloc(n);
    pb_ctx ctx = {.salient = salient, .codes = codes, .hs = hs, .hzero = hzero, .bm = bm, .ba = ba,
                  .rows = rows, .cols = cols, .G = G, .ng = ng, .bits = bits};
    rc = qh_ldlq(U, cols, rows, 1, bs, Wt, pb_column, &ctx);
    if (rc != 0) goto done;
    /* the packed parts: the salient codes and the signs, each in row-major order */
    qh_bits_pack(qh_packed_add(out, "mask", QH_DT_U8, (int64_t)qh_bits_bytes(n, 1), 0), salient, n, 1);
    uint8_t *hc = qh_malloc(k ? k : 1), *sg = qh_malloc(n - k ? n - k : 1);
    size_t ns = 0, nh = 0;
    for (size_t at = 0; at < n; at++)
        if (salient[at]) hc[nh++] = codes[at];
        else sg[ns++] = codes[at];
    qh_bits_pack(qh_packed_add(out, "signs", QH_DT_U8, (int64_t)qh_bits_bytes(n - k, 1), 0), sg, n - k, 1);
    qh_bits_pack(qh_packed_add(out, "salient.codes", QH_DT_U8, (int64_t)qh_bits_bytes(k, bits), 0), hc, k, bits);
    free(hc);
    free(sg);
    uint16_t *pm = qh_packed_add(out, "binary.zeros", QH_DT_F16, rows, ng);
    uint16_t *pa = qh_packed_add(out, "binary.scales", QH_DT_F16, rows, ng);
    for (size_t t = 0; t < (size_t)rows * ng; t++) {
        pm[t] = qh_f32_to_f16(bm[t]);
        pa[t] = qh_f32_to_f16(ba[t]);
    }
    uint16_t *ps = qh_packed_add(out, "salient.scales", QH_DT_F16, rows, 0);
    hz = qh_malloc((size_t)rows);
    for (int r = 0; r < rows; r++) {
        ps[r] = qh_f32_to_f16(hs[r]);
        hz[r] = (uint8_t)hzero[r];
    }
    qh_bits_pack(qh_packed_add(out, "salient.zeros", QH_DT_U8, (int64_t)qh_bits_bytes((size_t)rows, bits), 0), hz,
                 (size_t)rows, bits);
done:
    free(Wt);
    free(H);
    free(U);
    free(salient);
    free(rk);
    free(bm);
    free(ba);
    free(hs);
    free(hzero);
    free(hz);
    free(rowbuf);
    free(codes);
    return rc;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int bits = (int)qh_spec_get(spec, "bits"), group = (int)qh_spec_get(spec, "group");
    int rows = w->rows, cols = w->cols;
    int G = qh_group_size(group, cols), ng = qh_groups_per_row(G, cols);
    size_t n = (size_t)rows * cols, k = salient_count(qh_spec_get(spec, "frac"), rows, cols, group);
    const qh_part *pmask, *psig, *pc, *pm, *pa, *ps, *pz;
    if (qh_packed_expect(in, "mask", QH_DT_U8, qh_bits_bytes(n, 1), &pmask, err) ||
        qh_packed_expect(in, "signs", QH_DT_U8, qh_bits_bytes(n - k, 1), &psig, err) ||
        qh_packed_expect(in, "salient.codes", QH_DT_U8, qh_bits_bytes(k, bits), &pc, err) ||
        qh_packed_expect(in, "binary.zeros", QH_DT_F16, (size_t)rows * ng, &pm, err) ||
        qh_packed_expect(in, "binary.scales", QH_DT_F16, (size_t)rows * ng, &pa, err) ||
        qh_packed_expect(in, "salient.scales", QH_DT_F16, (size_t)rows, &ps, err) ||
        qh_packed_expect(in, "salient.zeros", QH_DT_U8, qh_bits_bytes((size_t)rows, bits), &pz, err))
        return -1;
    uint8_t *salient = qh_malloc(n), *signs = qh_malloc(n - k ? n - k : 1);
    qh_bits_unpack(salient, pmask->data, n, 1);
    size_t marked = 0;
    for (size_t at = 0; at < n; at++) marked += salient[at];
    if (marked != k) {
        free(salient);
        free(signs);
        return qh_fail(err, "pb-llm: the mask marks %zu salient weights, the parameters say %zu", marked, k);
    }
    qh_bits_unpack(signs, psig->data, n - k, 1);
    uint8_t *hc = qh_malloc(k ? k : 1), *hz = qh_malloc((size_t)rows);
    qh_bits_unpack(hc, pc->data, k, bits);
    qh_bits_unpack(hz, pz->data, (size_t)rows, bits);
    const uint16_t *bmean = pm->data, *bscale = pa->data, *hscale = ps->data;
    size_t ns = 0, nh = 0;
    for (int r = 0; r < rows; r++) {
        float s = qh_f16_to_f32(hscale[r]);
        for (int c = 0; c < cols; c++) {
            size_t at = (size_t)r * cols + c;
            if (salient[at]) {
                w->data[at] = ((float)hc[nh++] - (float)hz[r]) * s;
            } else {
                float m = qh_f16_to_f32(bmean[(size_t)r * ng + c / G]), a = qh_f16_to_f32(bscale[(size_t)r * ng + c / G]);
                w->data[at] = signs[ns++] ? m + a : m - a;
            }
        }
    }
    free(hc);
    free(hz);
    free(salient);
    free(signs);
    return 0;
}

const qh_method qh_method_pb_llm = {
    .name = "pb-llm",
    .summary = "PB-LLM: a salient fraction at 8 bits, the rest binarized (mean + sign x scale), GPTQ feedback; the mask is counted",
    .params = params,
    .needs_calibration = 1,
    .encode = encode,
    .decode = decode,
};
