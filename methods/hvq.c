/* hvq.c - Hessian-guided vector quantization (in the manner of GPTVQ, van Baalen et al. 2024).
 *
 * Each row is divided by an F16 scale (its RMS); the row is cut into vectors of `dim`
 * consecutive input weights (when `dim` does not divide the row, its last vector is padded
 * with zeros whose coordinates weigh nothing: k-means and assignment ignore them and decode
 * drops them; stories260K's MLP is 172 wide); a codebook of `k` centroids per tensor (or per `rows` rows) is
 * learned by k-means on those vectors, the squared distance in coordinate d weighted by the
 * Hessian diagonal h of the input it multiplies (without calibration: h = 1), k-means++
 * initialisation with a seeded generator, `iters` Lloyd iterations (the weighted objective
 * never increases).  With feedback=1 the vectors are then assigned column block by column
 * block, GPTQ-style: the rounding error of each column is spread over the columns not yet
 * assigned through the damped inverse Hessian.
 * Stored: indices (log2 k bits each, packed), codebooks (F16, k x dim each), row scales (F16).
 * bpp = log2(k) / dim + codebooks + scales, as written. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/hessian.h"
#include "methods/hvq.h"
#include "methods/method.h"

static const qh_param params[] = {
    {"dim", QH_PARAM_INT, 8, 1, 16, NULL, "weights per vector (consecutive inputs; a row's last vector may be shorter)"},
    {"k", QH_PARAM_INT, 256, 2, 256, NULL, "codebook entries (a power of two: log2 k bits per vector)"},
    {"rows", QH_PARAM_INT, 0, 0, 1 << 20, NULL, "rows sharing one codebook; 0 = one codebook per tensor"},
    {"iters", QH_PARAM_INT, 20, 1, 1000, NULL, "Lloyd iterations"},
    {"feedback", QH_PARAM_INT, 0, 0, 1, NULL, "1: GPTQ-style error feedback between vector columns (needs calibration)"},
    {"seed", QH_PARAM_INT, 1, 0, 1 << 30, NULL, "seed of the k-means++ initialisation"},
    {0}};

static int log2_exact(int k)
{
    int b = 0;
    while ((1 << b) < k) b++;
    return (1 << b) == k ? b : -1;
}

/* weighted squared distance of vector x to centroid c */
static float wdist(const float *x, const float *c, const float *h, int d)
{
    float s = 0;
    for (int i = 0; i < d; i++) {
        float e = x[i] - c[i];
        s += h[i] * e * e;
    }
    return s;
}

int qh_hvq_nearest(const float *x, const float *cb, int k, const float *h, int d, float *best_d)
{
    int best = 0;
    float bd = INFINITY;
    for (int c = 0; c < k; c++) {
        float dd = wdist(x, cb + (size_t)c * d, h, d);
        if (dd < bd) {
            bd = dd;
            best = c;
        }
    }
    if (best_d) *best_d = bd;
    return best;
}

double qh_hvq_kmeans(const float *X, const float *Hw, long nv, int d, int k, int iters, unsigned long seed, float *cb, int *assign,
                     double *obj)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    /* k-means++: first centroid uniform, then proportional to the weighted distance */
    float *dist = qh_malloc((size_t)nv * sizeof(float));
    long first = (long)gsl_rng_uniform_int(rng, (unsigned long)nv);
    memcpy(cb, X + (size_t)first * d, (size_t)d * sizeof(float));
    for (long v = 0; v < nv; v++) dist[v] = wdist(X + (size_t)v * d, cb, Hw + (size_t)v * d, d);
    for (int c = 1; c < k; c++) {
        double total = 0;
        for (long v = 0; v < nv; v++) total += dist[v];
        double u = gsl_rng_uniform(rng) * total, acc = 0;
        long pick = nv - 1;
        for (long v = 0; v < nv; v++) {
            acc += dist[v];
            if (acc >= u && dist[v] > 0) {
                pick = v;
                break;
            }
        }
        memcpy(cb + (size_t)c * d, X + (size_t)pick * d, (size_t)d * sizeof(float));
#pragma omp parallel for
        for (long v = 0; v < nv; v++) {
            float dd = wdist(X + (size_t)v * d, cb + (size_t)c * d, Hw + (size_t)v * d, d);
            if (dd < dist[v]) dist[v] = dd;
        }
    }
    double *num = qh_malloc((size_t)k * d * sizeof(double)), *den = qh_malloc((size_t)k * d * sizeof(double));
    double final = 0;
    for (int it = 0; it <= iters; it++) {
        double o = 0;
#pragma omp parallel for reduction(+ : o)
        for (long v = 0; v < nv; v++) {
            float bd;
            assign[v] = qh_hvq_nearest(X + (size_t)v * d, cb, k, Hw + (size_t)v * d, d, &bd);
            o += bd;
        }
        if (obj) obj[it] = o;
        final = o;
        if (it == iters) break;
        /* weighted mean per coordinate; an empty centroid keeps its place */
        memset(num, 0, (size_t)k * d * sizeof(double));
        memset(den, 0, (size_t)k * d * sizeof(double));
        for (long v = 0; v < nv; v++)
            for (int i = 0; i < d; i++) {
                double hw = Hw[(size_t)v * d + i];
                num[(size_t)assign[v] * d + i] += hw * X[(size_t)v * d + i];
                den[(size_t)assign[v] * d + i] += hw;
            }
        for (size_t i = 0; i < (size_t)k * d; i++)
            if (den[i] > 0) cb[i] = (float)(num[i] / den[i]);
    }
    free(num);
    free(den);
    free(dist);
    gsl_rng_free(rng);
    return final;
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int d = (int)qh_spec_get(spec, "dim"), k = (int)qh_spec_get(spec, "k"), iters = (int)qh_spec_get(spec, "iters");
    int feedback = (int)qh_spec_get(spec, "feedback"), rows = w->rows, cols = w->cols;
    int rpc = (int)qh_spec_get(spec, "rows");
    unsigned long seed = (unsigned long)qh_spec_get(spec, "seed");
    if (rpc <= 0 || rpc > rows) rpc = rows;
    int bits = log2_exact(k);
    if (bits < 0) return qh_fail(err, "hvq: k=%d is not a power of two", k);
    if (feedback && (!calib || !calib->H)) return qh_fail(err, "hvq feedback=1 needs calibration statistics");
    if (calib && calib->H && calib->n != cols) return qh_fail(err, "hvq: Hessian size %d, weight has %d inputs", calib->n, cols);
    int vpr = (cols + d - 1) / d, cp = vpr * d, n_cb = (rows + rpc - 1) / rpc; /* cp: the row padded to whole vectors */
    /* row scales and scaled weights (rows, cp), the padding zero */
    uint16_t *scales = qh_packed_add(out, "scales", QH_DT_F16, rows, 0);
    float *Ws = qh_calloc((size_t)rows * cp, sizeof(float)), *srow = qh_malloc((size_t)rows * sizeof(float));
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int c = 0; c < cols; c++) ss += (double)w->data[(size_t)r * cols + c] * w->data[(size_t)r * cols + c];
        float s = qh_f16_round((float)sqrt(ss / cols));
        if (s == 0) s = 1;
        scales[r] = qh_f32_to_f16(s);
        srow[r] = s;
        for (int c = 0; c < cols; c++) Ws[(size_t)r * cp + c] = w->data[(size_t)r * cols + c] / s;
    }
    /* input weights: the Hessian diagonal normalised to mean 1 (or 1 without calibration); 0 on the padding */
    float *h = qh_calloc((size_t)cp, sizeof(float));
    double hm = 0;
    for (int c = 0; c < cols; c++) hm += calib && calib->H ? calib->H[(size_t)c * cols + c] : 1.0;
    hm /= cols;
    for (int c = 0; c < cols; c++) h[c] = calib && calib->H ? (float)(calib->H[(size_t)c * cols + c] / hm) + 1e-6f : 1.0f;
    uint16_t *cbs = qh_packed_add(out, "codebook", QH_DT_F16, (int64_t)n_cb * k, d);
    uint8_t *idx = qh_malloc((size_t)rows * vpr);
    float *cb = qh_malloc((size_t)k * d * sizeof(float));
    int rc = 0;
    float *U = NULL;
    if (feedback) {
        U = qh_malloc((size_t)cols * cols * sizeof(float));
        if (qh_gptq_hinv_factor(calib->H, cols, 0.01, U, err) != 0) rc = -1;
    }
    for (int g = 0; g < n_cb && rc == 0; g++) {
        int r0 = g * rpc, nr = r0 + rpc <= rows ? rpc : rows - r0;
        long nv = (long)nr * vpr;
        float *X = Ws + (size_t)r0 * cp, *Hw = qh_malloc((size_t)nv * d * sizeof(float));
        for (long v = 0; v < nv; v++)
            for (int i = 0; i < d; i++) Hw[(size_t)v * d + i] = h[(v % vpr) * d + i];
        int *assign = qh_malloc((size_t)nv * sizeof(int));
        if (nv < k) {
            /* fewer vectors than entries: the vectors themselves, the rest copies of the first */
            for (int c = 0; c < k; c++) memcpy(cb + (size_t)c * d, X + (size_t)(c < nv ? c : 0) * d, (size_t)d * sizeof(float));
            for (long v = 0; v < nv; v++) assign[v] = (int)v;
        } else {
            qh_hvq_kmeans(X, Hw, nv, d, k, iters, seed + (unsigned long)g, cb, assign, NULL);
        }
        for (size_t i = 0; i < (size_t)k * d; i++) {
            cbs[(size_t)g * k * d + i] = qh_f32_to_f16(cb[i]);
            cb[i] = qh_f16_round(cb[i]); /* assign against what decode will see */
        }
        if (!feedback) {
            for (long v = 0; v < nv; v++) idx[(size_t)r0 * vpr + v] = (uint8_t)qh_hvq_nearest(X + (size_t)v * d, cb, k, h + (v % vpr) * d, d, NULL);
        } else {
            /* column block by column block: assign, then push the error forward through U */
            float *e = qh_malloc((size_t)nr * sizeof(float)), *q = qh_malloc((size_t)d * sizeof(float));
            for (int j = 0; j < vpr; j++) {
                int c0 = j * d;
                for (int r = 0; r < nr; r++) {
                    float *x = X + (size_t)r * cp + c0;
                    int a = qh_hvq_nearest(x, cb, k, h + c0, d, NULL);
                    idx[(size_t)(r0 + r) * vpr + j] = (uint8_t)a;
                    memcpy(q, cb + (size_t)a * d, (size_t)d * sizeof(float));
                    /* within the vector, sequential GPTQ updates with the assignment fixed */
                    for (int i = 0; i < d && c0 + i < cols; i++) {
                        int c = c0 + i;
                        float ei = (x[i] - q[i]) / U[(size_t)c * cols + c];
                        for (int c2 = c + 1; c2 < cols; c2++) X[(size_t)r * cp + c2] -= ei * U[(size_t)c * cols + c2];
                    }
                }
            }
            free(e);
            free(q);
        }
        free(assign);
        free(Hw);
    }
    if (rc == 0) {
        size_t nidx = (size_t)rows * vpr;
        qh_bits_pack(qh_packed_add(out, "indices", QH_DT_U8, (int64_t)qh_bits_bytes(nidx, bits), 0), idx, nidx, bits);
    }
    free(U);
    free(cb);
    free(idx);
    free(h);
    free(Ws);
    free(srow);
    return rc;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int d = (int)qh_spec_get(spec, "dim"), k = (int)qh_spec_get(spec, "k"), rows = w->rows, cols = w->cols;
    int rpc = (int)qh_spec_get(spec, "rows");
    if (rpc <= 0 || rpc > rows) rpc = rows;
    int bits = log2_exact(k), vpr = (cols + d - 1) / d, n_cb = (rows + rpc - 1) / rpc;
    if (bits < 0) return qh_fail(err, "hvq: bad k for this shape");
    size_t nidx = (size_t)rows * vpr;
    const qh_part *pi, *pc, *ps;
    if (qh_packed_expect(in, "indices", QH_DT_U8, qh_bits_bytes(nidx, bits), &pi, err) ||
        qh_packed_expect(in, "codebook", QH_DT_F16, (size_t)n_cb * k * d, &pc, err) ||
        qh_packed_expect(in, "scales", QH_DT_F16, (size_t)rows, &ps, err))
        return -1;
    uint8_t *idx = qh_malloc(nidx);
    qh_bits_unpack(idx, pi->data, nidx, bits);
    float *cb = qh_malloc((size_t)n_cb * k * d * sizeof(float));
    qh_f16_to_f32_n(pc->data, cb, (size_t)n_cb * k * d);
    const uint16_t *sc = ps->data;
#pragma omp parallel for
    for (int r = 0; r < rows; r++) {
        float s = qh_f16_to_f32(sc[r]);
        const float *book = cb + (size_t)(r / rpc) * k * d;
        for (int j = 0; j < vpr; j++) {
            const float *c = book + (size_t)idx[(size_t)r * vpr + j] * d;
            for (int i = 0; i < d && j * d + i < cols; i++) w->data[(size_t)r * cols + j * d + i] = c[i] * s;
        }
    }
    free(idx);
    free(cb);
    return 0;
}

const qh_method qh_method_hvq = {
    .name = "hvq",
    .summary = "Hessian-weighted k-means vector quantization: log2(k)/dim bits + F16 codebooks and row scales",
    .needs_calibration = 1,
    .params = params,
    .encode = encode,
    .decode = decode,
};
