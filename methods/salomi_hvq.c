/* salomi_hvq.c - SALOMI's HessianVQ (github.com/OrionsLock/SALOMI, onebit/quantization/
 * hessian_vq.py): a sign bit per weight, and the magnitudes |W| cut into `block` x `block`
 * tiles (4 x 4: 16 magnitudes, 4 rows by 4 inputs), each tile replaced by the nearest of `k`
 * centroids learned by Hessian-weighted k-means (each magnitude weighted by the Hessian
 * diagonal H_jj of its input); then one shift per matrix restores the mean of W (SALOMI's
 * "mean correction").  SALOMI states about 1.38 bits per weight, counting the index stream at
 * its order-0 entropy: a count of a stream its code never writes.  Here it is written: the
 * indices range-coded (indices=coded, the default; an adaptive binary tree over the index
 * bits, order 0, rangecoder.c) or packed at ceil(log2 k) bits (indices=plain), and decoded.
 *
 * Differences from SALOMI's code: the k-means distance weighs each coordinate by its H_jj
 * (SALOMI multiplies a tile's distance by one scalar, the mean of sqrt H over the tile, which
 * leaves the nearest centroid, and so the assignment, unweighted); the centroids and the
 * assignment are those of hvq.c's k-means (k-means++ seeded, `iters` Lloyd steps, SALOMI's 25
 * with an early stop); tiles at the edges of a matrix whose sides are not multiples of `block`
 * are padded with magnitudes that weigh nothing (SALOMI pads with weight 1e-6); the codebook
 * is stored in F16 (SALOMI counts F32) and the indices are chosen against it as stored.
 * Stored: signs (1 bit per weight, row-major), indices (tile-row-major), codebook (F16, k x
 * block^2), shift (F32). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/hessian.h"
#include "methods/hvq.h"
#include "methods/method.h"
#include "methods/rangecoder.h"

static const qh_param params[] = {
    {"k", QH_PARAM_INT, 32, 2, 256, NULL, "codebook entries (SALOMI's default 32)"},
    {"block", QH_PARAM_INT, 4, 1, 8, NULL, "tile side: block x block magnitudes per index"},
    {"iters", QH_PARAM_INT, 25, 1, 1000, NULL, "Lloyd iterations"},
    {"seed", QH_PARAM_INT, 1, 0, 1 << 30, NULL, "seed of the k-means++ initialisation"},
    {"indices", QH_PARAM_ENUM, 0, 0, 1, "coded|plain", "index stream range-coded (order 0, adaptive) or packed at ceil(log2 k) bits"},
    {"feedback", QH_PARAM_INT, 0, 0, 1, NULL,
     "1 (qharness's, not SALOMI's): tiles assigned block by block of columns with LDLQ error feedback (needs the full Hessian)"},
    {0}};

static int index_bits(int k)
{
    int b = 0;
    while ((1 << b) < k) b++;
    return b;
}

typedef struct {
    int rows, cols, bs, tiles_down, tiles_across, d, k, nbits;
    long n_tiles;
} layout;

static layout layout_of(const qh_spec *spec, int rows, int cols)
{
    layout L = {0};
    L.rows = rows;
    L.cols = cols;
    L.bs = (int)qh_spec_get(spec, "block");
    L.tiles_down = (rows + L.bs - 1) / L.bs;
    L.tiles_across = (cols + L.bs - 1) / L.bs;
    L.n_tiles = (long)L.tiles_down * L.tiles_across;
    L.d = L.bs * L.bs;
    L.k = (int)qh_spec_get(spec, "k");
    L.nbits = index_bits(L.k);
    return L;
}

/* (row, col) of coordinate i of tile t, or -1 when it lies in the padding */
static long tile_at(const layout *L, long t, int i)
{
    int r = (int)(t / L->tiles_across) * L->bs + i / L->bs, c = (int)(t % L->tiles_across) * L->bs + i % L->bs;
    return r < L->rows && c < L->cols ? (long)r * L->cols + c : -1;
}

/* feedback=1: the tiles of each block of `block` columns are assigned from the weights as the
 * feedback of the blocks before has left them, signs included, through qh_ldlq */
typedef struct {
    const layout *L;
    const float *cb, *hdiag;
    int *assign;
    uint8_t *signs;
} feedback_ctx;

static int assign_block(void *vctx, int c0, int b, const float *in, float *q)
{
    feedback_ctx *c = vctx;
    const layout *L = c->L;
    float x[64], h[64];
    for (int tr = 0; tr < L->tiles_down; tr++) {
        for (int i = 0; i < L->bs; i++)
            for (int j = 0; j < L->bs; j++) {
                int r = tr * L->bs + i, in_range = r < L->rows && j < b;
                x[i * L->bs + j] = in_range ? fabsf(in[(size_t)j * L->rows + r]) : 0.0f;
                h[i * L->bs + j] = in_range ? c->hdiag[c0 + j] : 0.0f;
            }
        int idx = qh_hvq_nearest(x, c->cb, L->k, h, L->d, NULL);
        c->assign[(long)tr * L->tiles_across + c0 / L->bs] = idx;
        for (int i = 0; i < L->bs; i++)
            for (int j = 0; j < b; j++) {
                int r = tr * L->bs + i;
                if (r >= L->rows) continue;
                float v = in[(size_t)j * L->rows + r], m = c->cb[(size_t)idx * L->d + i * L->bs + j];
                c->signs[(size_t)r * L->cols + c0 + j] = v >= 0;
                q[(size_t)j * L->rows + r] = v >= 0 ? m : -m;
            }
    }
    return 0;
}

static int feedback_assign(const layout *L, const qh_matrix *w, const qh_calib *calib, const float *cb, int *assign, uint8_t *signs,
                           qh_err *err)
{
    float *Wt;
    double *H;
    if (qh_hessian_prepare("salomi-hvq feedback=1", w, calib, &Wt, &H, err) != 0) return -1;
    float *U = qh_malloc((size_t)L->cols * L->cols * sizeof(float)), *hdiag = qh_malloc((size_t)L->cols * sizeof(float));
    for (int j = 0; j < L->cols; j++) hdiag[j] = (float)calib->H[(size_t)j * L->cols + j];
    int rc = qh_gptq_hinv_factor(H, L->cols, 0.01, U, err);
    feedback_ctx ctx = {L, cb, hdiag, assign, signs};
    if (rc == 0) rc = qh_ldlq(U, L->cols, L->rows, L->bs, 128, Wt, assign_block, &ctx);
    free(Wt);
    free(H);
    free(U);
    free(hdiag);
    return rc;
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    if (!calib || !calib->H) return qh_fail(err, "salomi-hvq needs calibration statistics (the Hessian diagonal)");
    if (calib->n != w->cols) return qh_fail(err, "salomi-hvq: Hessian size %d, the weight has %d inputs", calib->n, w->cols);
    layout L = layout_of(spec, w->rows, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    float *X = qh_malloc((size_t)L.n_tiles * L.d * sizeof(float)), *Hw = qh_malloc((size_t)L.n_tiles * L.d * sizeof(float));
    for (long t = 0; t < L.n_tiles; t++)
        for (int i = 0; i < L.d; i++) {
            long at = tile_at(&L, t, i);
            X[(size_t)t * L.d + i] = at < 0 ? 0.0f : fabsf(w->data[at]);
            Hw[(size_t)t * L.d + i] = at < 0 ? 0.0f : (float)calib->H[(size_t)(at % L.cols) * L.cols + at % L.cols];
        }
    float *cb = qh_malloc((size_t)L.k * L.d * sizeof(float));
    int *assign = qh_malloc((size_t)L.n_tiles * sizeof(int));
    qh_hvq_kmeans(X, Hw, L.n_tiles, L.d, L.k, (int)qh_spec_get(spec, "iters"), (unsigned long)qh_spec_get(spec, "seed"), cb, assign,
                  NULL);
    uint16_t *pcb = qh_packed_add(out, "codebook", QH_DT_F16, L.k, L.d);
    for (size_t i = 0; i < (size_t)L.k * L.d; i++) {
        cb[i] = qh_f16_round(cb[i]);
        pcb[i] = qh_f32_to_f16(cb[i]);
    }
    uint8_t *signs = qh_malloc(n);
    if ((int)qh_spec_get(spec, "feedback")) {
        if (feedback_assign(&L, w, calib, cb, assign, signs, err) != 0) {
            free(signs);
            free(X);
            free(Hw);
            free(cb);
            free(assign);
            return -1;
        }
    } else {
#pragma omp parallel for
        for (long t = 0; t < L.n_tiles; t++)
            assign[t] = qh_hvq_nearest(X + (size_t)t * L.d, cb, L.k, Hw + (size_t)t * L.d, L.d, NULL);
        for (size_t i = 0; i < n; i++) signs[i] = w->data[i] >= 0;
    }
    /* the shift that restores mean(W), from the weights as decode will build them */
    double sum_w = 0, sum_q = 0;
    for (long t = 0; t < L.n_tiles; t++)
        for (int i = 0; i < L.d; i++) {
            long at = tile_at(&L, t, i);
            if (at < 0) continue;
            float m = cb[(size_t)assign[t] * L.d + i];
            sum_w += w->data[at];
            sum_q += signs[at] ? m : -m;
        }
    float *shift = qh_packed_add(out, "shift.values", QH_DT_F32, 1, 0);
    shift[0] = (float)((sum_w - sum_q) / (double)n);
    qh_bits_pack(qh_packed_add(out, "signs", QH_DT_U8, (int64_t)qh_bits_bytes(n, 1), 0), signs, n, 1);
    if ((int)qh_spec_get(spec, "indices") == 0) {
        qh_rc_encoder enc;
        qh_rc_prob *tree = qh_malloc(((size_t)1 << L.nbits) * sizeof(qh_rc_prob));
        qh_rc_encoder_init(&enc);
        qh_rc_probs_init(tree, ((size_t)1 << L.nbits) - 1);
        for (long t = 0; t < L.n_tiles; t++) qh_rc_encode_tree(&enc, tree, L.nbits, (unsigned)assign[t]);
        qh_rc_encoder_finish(&enc);
        memcpy(qh_packed_add(out, "indices", QH_DT_U8, (int64_t)enc.len, 0), enc.buf, enc.len);
        free(enc.buf);
        free(tree);
    } else {
        uint8_t *idx = qh_malloc((size_t)L.n_tiles);
        for (long t = 0; t < L.n_tiles; t++) idx[t] = (uint8_t)assign[t];
        qh_bits_pack(qh_packed_add(out, "indices", QH_DT_U8, (int64_t)qh_bits_bytes((size_t)L.n_tiles, L.nbits), 0), idx,
                     (size_t)L.n_tiles, L.nbits);
        free(idx);
    }
    free(signs);
    free(X);
    free(Hw);
    free(cb);
    free(assign);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    layout L = layout_of(spec, w->rows, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    int coded = (int)qh_spec_get(spec, "indices") == 0;
    const qh_part *pcb, *psh, *psg, *pix;
    if (qh_packed_expect(in, "codebook", QH_DT_F16, (size_t)L.k * L.d, &pcb, err) ||
        qh_packed_expect(in, "shift.values", QH_DT_F32, 1, &psh, err) ||
        qh_packed_expect(in, "signs", QH_DT_U8, qh_bits_bytes(n, 1), &psg, err))
        return -1;
    if (coded) {
        pix = qh_packed_find(in, "indices");
        if (!pix || pix->dtype != QH_DT_U8) return qh_fail(err, "packed part 'indices' is %s", pix ? "not U8" : "missing");
    } else if (qh_packed_expect(in, "indices", QH_DT_U8, qh_bits_bytes((size_t)L.n_tiles, L.nbits), &pix, err))
        return -1;
    int rc = -1;
    uint8_t *idx = qh_malloc((size_t)L.n_tiles), *signs = qh_malloc(n);
    float *cb = qh_malloc((size_t)L.k * L.d * sizeof(float));
    if (coded) {
        qh_rc_decoder dec;
        qh_rc_prob *tree = qh_malloc(((size_t)1 << L.nbits) * sizeof(qh_rc_prob));
        qh_rc_decoder_init(&dec, pix->data, pix->bytes);
        qh_rc_probs_init(tree, ((size_t)1 << L.nbits) - 1);
        for (long t = 0; t < L.n_tiles; t++) idx[t] = (uint8_t)qh_rc_decode_tree(&dec, tree, L.nbits);
        free(tree);
        if (qh_rc_decoder_check(&dec) != 0) {
            qh_fail(err, "salomi-hvq: the coded index stream (%zu bytes) does not hold the %ld indices of a %d x %d matrix", pix->bytes,
                    L.n_tiles, w->rows, w->cols);
            goto done;
        }
    } else
        qh_bits_unpack(idx, pix->data, (size_t)L.n_tiles, L.nbits);
    for (long t = 0; t < L.n_tiles; t++)
        if (idx[t] >= L.k) {
            qh_fail(err, "salomi-hvq: index %u of tile %ld is outside the codebook of %d", idx[t], t, L.k);
            goto done;
        }
    qh_bits_unpack(signs, psg->data, n, 1);
    const uint16_t *h = pcb->data;
    for (size_t i = 0; i < (size_t)L.k * L.d; i++) cb[i] = qh_f16_to_f32(h[i]);
    float shift = *(const float *)psh->data;
    for (long t = 0; t < L.n_tiles; t++)
        for (int i = 0; i < L.d; i++) {
            long at = tile_at(&L, t, i);
            if (at < 0) continue;
            float m = cb[(size_t)idx[t] * L.d + i];
            w->data[at] = (signs[at] ? m : -m) + shift;
        }
    rc = 0;
done:
    free(idx);
    free(signs);
    free(cb);
    return rc;
}

const qh_method qh_method_salomi_hvq = {
    .name = "salomi-hvq",
    .summary = "SALOMI's HessianVQ: sign bit + Hessian-weighted k-means of 4x4 magnitude tiles, the index stream range-coded",
    .params = params,
    .needs_calibration = 1,
    .encode = encode,
    .decode = decode,
};
