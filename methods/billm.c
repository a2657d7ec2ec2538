/* billm.c - BiLLM (Huang et al. 2024, arXiv 2402.04291): post-training binarization with
 * structured salient columns and a bell-shaped split of the rest.  For each block of `block`
 * columns (default 128), from the weights as GPTQ's feedback has left them:
 * 1. salience w^2 / U_jj^2 (U the upper Cholesky factor of the damped inverse Hessian), summed
 *    over a column; the k most salient columns are salient, k searched over 1..salient_max
 *    (default 49, the reference code's range) for the least error of binarizing the salient
 *    columns and the rest with two residual stages each;
 * 2. salient weights: order-2 residual binarization per row (two means, two scales, two signs);
 * 3. the rest: split at a break point t searched over the 0.10..0.90 quantiles of |w|, the
 *    groups |w| < t and |w| >= t binarized apart (a mean, a scale and a sign each);
 * 4. the block's error (w - q) / U_jj goes to the later columns as in GPTQ; the columns of a
 *    block are quantized together, without feedback among them (as in the reference code).
 * GPT-2's Conv1D weights arrive transposed to (out, in) by the caller, as the reference code does.
 *
 * The paper counts about 1.08 bits: a sign per weight and a second for the salient ones.  The
 * bytes also hold what says which weight is which and every mean and scale:
 *   salient.mask    1 bit per column (salient or not): structured, so cheap
 *   group.mask      1 bit per non-salient weight (which side of the break point): a plain bitmap,
 *                   or (masks=coded, the default) range-coded with each bit's context the bits
 *                   above and to the left (rangecoder.c), decoded exactly
 *   signs           1 bit per non-salient weight;  salient.signs  2 bits per salient weight
 *   binary.zeros/.scales, salient.zeros/.scales   F16, per row, block and group or stage:
 *                   8 F16 values per row per block, 1 bit per weight at block=128.
 * Order of every stream: block, row, column.
 * Differences from the reference code: by default (search=weights) both searches measure the
 * error of the weights, as the paper's objectives do; the reference code runs them on the
 * salience matrix w^2 / U_jj^2 instead (search=salience does that).  The break-point quantiles
 * are of the non-salient weights only (the reference includes the salient columns as zeros).
 * sign(0) is +1 (the reference's torch.sign gives 0, a third value no bit can hold).  Means and
 * scales are stored in F16 and used as stored. */
#include "methods/billm.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/hessian.h"
#include "methods/method.h"
#include "methods/rangecoder.h"

static const qh_param params[] = {
    {"block", QH_PARAM_INT, 128, 1, 4096, NULL, "columns per block (salient columns, break point, scales; GPTQ feedback between blocks)"},
    {"salient_max", QH_PARAM_INT, 49, 0, 4096, NULL, "salient columns per block searched over 1..salient_max (at most the block); 0 = none"},
    {"search", QH_PARAM_ENUM, 0, 0, 1, "weights|salience", "searches measure the error of the weights (the paper) or of w^2/U_jj^2 (the reference code)"},
    {"masks", QH_PARAM_ENUM, 0, 0, 1, "coded|plain", "the group bitmap range-coded, or plain (1 bit per non-salient weight)"},
    {"damp", QH_PARAM_FLOAT, 0.01, 0.0, 1.0, NULL, "damping, as a fraction of mean diag(H)"},
    {0}};

double qh_billm_binarize(const float *x, const uint8_t *cls, uint8_t c, int rows, int len, int order, int stored,
                         float *approx, float *means, float *scales, uint8_t *signs)
{
    double sse = 0;
    float *res = qh_malloc((size_t)(len > 0 ? len : 1) * sizeof(float));
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * len;
        const uint8_t *cr = cls + (size_t)r * len;
        int cnt = 0;
        for (int j = 0; j < len; j++)
            if (cr[j] == c) res[j] = xr[j], cnt++;
        for (int st = 0; st < order; st++) {
            double sum = 0, dev = 0;
            for (int j = 0; j < len; j++)
                if (cr[j] == c) sum += res[j];
            float m = cnt ? (float)(sum / cnt) : 0.0f;
            if (stored) m = qh_f16_round(m);
            for (int j = 0; j < len; j++)
                if (cr[j] == c) dev += fabsf(res[j] - m);
            float s = cnt ? (float)(dev / cnt) : 0.0f;
            if (stored) s = qh_f16_round(s);
            for (int j = 0; j < len; j++)
                if (cr[j] == c) {
                    int pos = res[j] - m >= 0;
                    float b = m + (pos ? s : -s);
                    res[j] -= b;
                    if (approx) approx[(size_t)r * len + j] += b;
                    if (signs && pos) signs[(size_t)r * len + j] |= (uint8_t)(1u << st);
                }
            if (means) means[(size_t)r * order + st] = m;
            if (scales) scales[(size_t)r * order + st] = s;
        }
        for (int j = 0; j < len; j++)
            if (cr[j] == c) sse += (double)res[j] * res[j];
    }
    free(res);
    return sse;
}

static void set_groups(const float *x, uint8_t *cls, size_t n, float t)
{
    for (size_t i = 0; i < n; i++)
        if (cls[i] != QH_BILLM_SALIENT) cls[i] = fabsf(x[i]) >= t ? QH_BILLM_LARGE : QH_BILLM_SMALL;
}

float qh_billm_split(const float *x, uint8_t *cls, int rows, int len)
{
    size_t n = (size_t)rows * len, m = 0;
    float *a = qh_malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        if (cls[i] != QH_BILLM_SALIENT) a[m++] = fabsf(x[i]);
    float best_t = 0;
    if (m > 0) {
        qsort(a, m, sizeof(float), qh_cmp_float_desc);
        double best = DBL_MAX;
        for (int q = 10; q <= 90; q++) { /* ascending quantile q/100, linear interpolation (numpy's default) */
            double pos = (double)q / 100.0 * (double)(m - 1);
            size_t lo = (size_t)pos, hi = lo + 1 < m ? lo + 1 : lo;
            float t = (float)(a[m - 1 - lo] + (pos - (double)lo) * (a[m - 1 - hi] - a[m - 1 - lo]));
            set_groups(x, cls, n, t);
            double e = qh_billm_binarize(x, cls, QH_BILLM_SMALL, rows, len, 1, 0, NULL, NULL, NULL, NULL) +
                       qh_billm_binarize(x, cls, QH_BILLM_LARGE, rows, len, 1, 0, NULL, NULL, NULL, NULL);
            if (e < best) best = e, best_t = t;
        }
    }
    set_groups(x, cls, n, best_t);
    free(a);
    return best_t;
}

/* The group bit of a non-salient weight is coded with a probability chosen by the bits above
 * (same column, previous row) and to the left (previous non-salient column of the row, same block). */
enum { N_CONTEXTS = 4 };

/* What encode stores, in block, row, column order: the salient columns' mask; the group bit of
 * every other weight (range-coded in the contexts above, or plain bits with masks=1); the sign
 * bits of both; each row's and block's zeros and scales of the two groups and the two salient
 * stages in F16 (params: binary.zeros, binary.scales, salient.zeros, salient.scales). */
static void write_streams(qh_packed *out, int rows, int cols, int bs, int coded, const uint8_t *salcol, const uint8_t *cls_all,
                          const uint8_t *sig_all, const float *const params[4])
{
    int nb = (cols + bs - 1) / bs;
    size_t n = (size_t)rows * cols, nparam = (size_t)rows * nb * 2;
    size_t n_sal = 0;
    for (int c = 0; c < cols; c++) n_sal += salcol[c] ? (size_t)rows : 0;
    size_t n_ns = n - n_sal, i_ns = 0, i_sal = 0;
    uint8_t *ssig = qh_malloc(n_ns ? n_ns : 1), *grp = qh_malloc(n_ns ? n_ns : 1), *sal2 = qh_malloc(n_sal ? n_sal : 1);
    qh_rc_encoder enc;
    qh_rc_prob prob[N_CONTEXTS];
    qh_rc_encoder_init(&enc);
    qh_rc_probs_init(prob, N_CONTEXTS);
    for (int b = 0; b < nb; b++) {
        int c0 = b * bs, len = c0 + bs <= cols ? bs : cols - c0;
        for (int r = 0; r < rows; r++) {
            int left = 0;
            for (int c = c0; c < c0 + len; c++) {
                size_t at = (size_t)r * cols + c;
                if (salcol[c]) {
                    sal2[i_sal++] = sig_all[at];
                    continue;
                }
                int bit = cls_all[at] == QH_BILLM_LARGE, above = r > 0 && cls_all[at - cols] == QH_BILLM_LARGE;
                ssig[i_ns] = sig_all[at] & 1;
                grp[i_ns++] = (uint8_t)bit;
                if (coded) qh_rc_encode_bit(&enc, &prob[above | left << 1], bit);
                left = bit;
            }
        }
    }
    qh_rc_encoder_finish(&enc);
    qh_bits_pack(qh_packed_add(out, "salient.mask", QH_DT_U8, (int64_t)qh_bits_bytes((size_t)cols, 1), 0), salcol,
                 (size_t)cols, 1);
    if (coded) memcpy(qh_packed_add(out, "group.mask", QH_DT_U8, (int64_t)enc.len, 0), enc.buf, enc.len);
    else qh_bits_pack(qh_packed_add(out, "group.mask", QH_DT_U8, (int64_t)qh_bits_bytes(n_ns, 1), 0), grp, n_ns, 1);
    qh_bits_pack(qh_packed_add(out, "signs", QH_DT_U8, (int64_t)qh_bits_bytes(n_ns, 1), 0), ssig, n_ns, 1);
    qh_bits_pack(qh_packed_add(out, "salient.signs", QH_DT_U8, (int64_t)qh_bits_bytes(n_sal, 2), 0), sal2, n_sal, 2);
    const char *names[4] = {"binary.zeros", "binary.scales", "salient.zeros", "salient.scales"};
    for (int p = 0; p < 4; p++) {
        uint16_t *h = qh_packed_add(out, names[p], QH_DT_F16, rows, (int64_t)nb * 2);
        for (size_t t = 0; t < nparam; t++) h[t] = qh_f32_to_f16(params[p][t]);
    }
    free(enc.buf);
    free(ssig);
    free(grp);
    free(sal2);
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int bs = (int)qh_spec_get(spec, "block"), smax = (int)qh_spec_get(spec, "salient_max");
    int on_salience = (int)qh_spec_get(spec, "search") == 1, coded = (int)qh_spec_get(spec, "masks") == 0;
    int rows = w->rows, cols = w->cols, nb = (cols + bs - 1) / bs;
    size_t n = (size_t)rows * cols, nblk = (size_t)rows * bs;
    float *Wt;
    double *H;
    if (qh_hessian_prepare("billm", w, calib, &Wt, &H, err) != 0) return -1;
    float *U = qh_malloc((size_t)cols * cols * sizeof(float));
    int rc = qh_gptq_hinv_factor(H, cols, qh_spec_get(spec, "damp"), U, err);
    uint8_t *cls_all = NULL, *sig_all = NULL, *salcol = NULL, *cls = NULL, *sg = NULL;
    float *B = NULL, *X = NULL, *Q = NULL, *err_blk = NULL, *mt = NULL, *st = NULL, *bz = NULL, *bsc = NULL, *sz = NULL,
          *ssc = NULL;
    qh_ranked *rank = NULL;
    if (rc != 0) goto done;
    cls_all = qh_malloc(n);     /* row-major class of every weight */
    sig_all = qh_calloc(n, 1);  /* row-major sign bits (bit s: stage s positive) */
    salcol = qh_calloc((size_t)cols, 1);
    B = qh_malloc(nblk * sizeof(float));
    X = qh_malloc(nblk * sizeof(float));
    Q = qh_malloc(nblk * sizeof(float));
    cls = qh_malloc(nblk);
    sg = qh_malloc(nblk);
    err_blk = qh_malloc(nblk * sizeof(float));
    mt = qh_malloc((size_t)rows * 2 * sizeof(float));
    st = qh_malloc((size_t)rows * 2 * sizeof(float));
    size_t nparam = (size_t)rows * nb * 2; /* per row, block and group (or stage) */
    bz = qh_malloc(nparam * sizeof(float));
    bsc = qh_malloc(nparam * sizeof(float));
    sz = qh_malloc(nparam * sizeof(float));
    ssc = qh_malloc(nparam * sizeof(float));
    rank = qh_malloc((size_t)bs * sizeof(qh_ranked));
    for (int b = 0; b < nb; b++) {
        int c0 = b * bs, len = c0 + bs <= cols ? bs : cols - c0;
        size_t nl = (size_t)rows * len;
        for (int j = 0; j < len; j++) {
            float d = U[(size_t)(c0 + j) * cols + c0 + j];
            double colsum = 0;
            for (int r = 0; r < rows; r++) {
                float v = Wt[(size_t)(c0 + j) * rows + r], sal = v * v / (d * d);
                B[(size_t)r * len + j] = v;
                X[(size_t)r * len + j] = on_salience ? sal : v;
                colsum += sal;
            }
            rank[j].score = colsum;
            rank[j].index = (size_t)j;
        }
        qsort(rank, (size_t)len, sizeof *rank, qh_cmp_ranked);
        /* 1. how many salient columns */
        int kmax = smax < len ? smax : len, best_k = 0;
        double best = DBL_MAX;
        for (int k = 1; k <= kmax; k++) {
            memset(cls, QH_BILLM_SMALL, nl);
            for (int t = 0; t < k; t++)
                for (int r = 0; r < rows; r++) cls[(size_t)r * len + rank[t].index] = QH_BILLM_SALIENT;
            double e = qh_billm_binarize(X, cls, QH_BILLM_SALIENT, rows, len, 2, 0, NULL, NULL, NULL, NULL) +
                       qh_billm_binarize(X, cls, QH_BILLM_SMALL, rows, len, 2, 0, NULL, NULL, NULL, NULL);
            if (e < best) best = e, best_k = k;
        }
        memset(cls, QH_BILLM_SMALL, nl);
        for (int t = 0; t < best_k; t++) {
            salcol[c0 + rank[t].index] = 1;
            for (int r = 0; r < rows; r++) cls[(size_t)r * len + rank[t].index] = QH_BILLM_SALIENT;
        }
        /* 3. the break point of the rest */
        qh_billm_split(X, cls, rows, len);
        /* 2-3. binarize the block as stored */
        memset(Q, 0, nl * sizeof(float));
        memset(sg, 0, nl);
        for (int g = 0; g < 2; g++) {
            qh_billm_binarize(B, cls, (uint8_t)g, rows, len, 1, 1, Q, mt, st, sg);
            for (int r = 0; r < rows; r++) {
                bz[((size_t)r * nb + b) * 2 + g] = mt[r];
                bsc[((size_t)r * nb + b) * 2 + g] = st[r];
            }
        }
        qh_billm_binarize(B, cls, QH_BILLM_SALIENT, rows, len, 2, 1, Q, mt, st, sg);
        for (int r = 0; r < rows; r++)
            for (int s = 0; s < 2; s++) {
                sz[((size_t)r * nb + b) * 2 + s] = mt[(size_t)r * 2 + s];
                ssc[((size_t)r * nb + b) * 2 + s] = st[(size_t)r * 2 + s];
            }
        /* 4. feedback to the later blocks, as the reference code: each column's error scaled by its own U_jj
         * (qh_ldlq's joint-block update would solve with the block's triangle U_BB instead) */
        for (int j = 0; j < len; j++) {
            float d = U[(size_t)(c0 + j) * cols + c0 + j];
            for (int r = 0; r < rows; r++)
                err_blk[(size_t)j * rows + r] = (B[(size_t)r * len + j] - Q[(size_t)r * len + j]) / d;
        }
        qh_gptq_feedback_rest(U, cols, rows, c0, c0 + len, err_blk, Wt);
        for (int r = 0; r < rows; r++) {
            memcpy(cls_all + (size_t)r * cols + c0, cls + (size_t)r * len, (size_t)len);
            memcpy(sig_all + (size_t)r * cols + c0, sg + (size_t)r * len, (size_t)len);
        }
    }
    write_streams(out, rows, cols, bs, coded, salcol, cls_all, sig_all, (const float *const[4]){bz, bsc, sz, ssc});
done:
    free(Wt);
    free(H);
    free(U);
    free(cls_all);
    free(sig_all);
    free(salcol);
    free(B);
    free(X);
    free(Q);
    free(cls);
    free(sg);
    free(err_blk);
    free(mt);
    free(st);
    free(bz);
    free(bsc);
    free(sz);
    free(ssc);
    free(rank);
    return rc;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int bs = (int)qh_spec_get(spec, "block"), coded = (int)qh_spec_get(spec, "masks") == 0;
    int rows = w->rows, cols = w->cols, nb = (cols + bs - 1) / bs;
    size_t n = (size_t)rows * cols, nparam = (size_t)rows * nb * 2;
    const qh_part *pcol, *pgrp, *psig, *psal, *pp[4];
    if (qh_packed_expect(in, "salient.mask", QH_DT_U8, qh_bits_bytes((size_t)cols, 1), &pcol, err)) return -1;
    uint8_t *salcol = qh_malloc((size_t)cols);
    qh_bits_unpack(salcol, pcol->data, (size_t)cols, 1);
    size_t n_sal = 0;
    for (int c = 0; c < cols; c++) n_sal += salcol[c] ? (size_t)rows : 0;
    size_t n_ns = n - n_sal;
    uint8_t *grp = qh_malloc(n_ns ? n_ns : 1), *ssig = qh_malloc(n_ns ? n_ns : 1), *sal2 = qh_malloc(n_sal ? n_sal : 1);
    uint8_t *gbits = qh_calloc(n, 1); /* row-major group bit of every weight decoded so far (the contexts) */
    int rc = -1;
    if (qh_packed_expect(in, "signs", QH_DT_U8, qh_bits_bytes(n_ns, 1), &psig, err) ||
        qh_packed_expect(in, "salient.signs", QH_DT_U8, qh_bits_bytes(n_sal, 2), &psal, err) ||
        qh_packed_expect(in, "binary.zeros", QH_DT_F16, nparam, &pp[0], err) ||
        qh_packed_expect(in, "binary.scales", QH_DT_F16, nparam, &pp[1], err) ||
        qh_packed_expect(in, "salient.zeros", QH_DT_F16, nparam, &pp[2], err) ||
        qh_packed_expect(in, "salient.scales", QH_DT_F16, nparam, &pp[3], err))
        goto done;
    if (!coded) {
        if (qh_packed_expect(in, "group.mask", QH_DT_U8, qh_bits_bytes(n_ns, 1), &pgrp, err)) goto done;
        qh_bits_unpack(grp, pgrp->data, n_ns, 1);
    } else {
        pgrp = qh_packed_find(in, "group.mask");
        if (!pgrp || pgrp->dtype != QH_DT_U8) {
            qh_fail(err, "packed part 'group.mask' is %s", pgrp ? "not U8" : "missing");
            goto done;
        }
    }
    qh_bits_unpack(ssig, psig->data, n_ns, 1);
    qh_bits_unpack(sal2, psal->data, n_sal, 2);
    const uint16_t *bz = pp[0]->data, *bsc = pp[1]->data, *sz = pp[2]->data, *ssc = pp[3]->data;
    qh_rc_decoder dec;
    qh_rc_prob prob[N_CONTEXTS];
    qh_rc_decoder_init(&dec, pgrp->data, pgrp->bytes);
    qh_rc_probs_init(prob, N_CONTEXTS);
    size_t i_ns = 0, i_sal = 0;
    for (int b = 0; b < nb; b++) {
        int c0 = b * bs, len = c0 + bs <= cols ? bs : cols - c0;
        for (int r = 0; r < rows; r++) {
            size_t pr = ((size_t)r * nb + b) * 2;
            int left = 0;
            for (int c = c0; c < c0 + len; c++) {
                size_t at = (size_t)r * cols + c;
                if (salcol[c]) {
                    uint8_t code = sal2[i_sal++];
                    float s1 = qh_f16_to_f32(ssc[pr]), s2 = qh_f16_to_f32(ssc[pr + 1]);
                    float b1 = qh_f16_to_f32(sz[pr]) + ((code & 1) ? s1 : -s1);
                    float b2 = qh_f16_to_f32(sz[pr + 1]) + ((code & 2) ? s2 : -s2);
                    w->data[at] = (0.0f + b1) + b2;
                    continue;
                }
                int bit;
                if (coded) {
                    int above = r > 0 && gbits[at - cols];
                    bit = qh_rc_decode_bit(&dec, &prob[above | left << 1]);
                } else
                    bit = grp[i_ns];
                gbits[at] = (uint8_t)bit;
                float m = qh_f16_to_f32(bz[pr + bit]), s = qh_f16_to_f32(bsc[pr + bit]);
                w->data[at] = 0.0f + (m + (ssig[i_ns] ? s : -s));
                i_ns++;
                left = bit;
            }
        }
    }
    if (coded && qh_rc_decoder_check(&dec) != 0) {
        qh_fail(err, "billm: the coded group mask (%zu bytes) does not hold the %zu bits its salient mask implies",
                pgrp->bytes, n_ns);
        goto done;
    }
    rc = 0;
done:
    free(salcol);
    free(grp);
    free(ssig);
    free(sal2);
    free(gbits);
    return rc;
}

const qh_method qh_method_billm = {
    .name = "billm",
    .summary = "BiLLM: salient columns residual-binarized twice, the rest split at a searched break point and binarized; masks counted",
    .params = params,
    .needs_calibration = 1,
    .encode = encode,
    .decode = decode,
};
