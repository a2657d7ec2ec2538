/* aqlm.c - additive vector quantization, AQLM (Egiazarian, Panferov, Kuznedelev, Frantar, Babenko,
 * Alistarh 2024, arXiv 2401.06118): every 8 consecutive weights of a row are the sum of M
 * codewords, one from each of M codebooks of 2^B 8-dimensional entries, times the row's scale:
 *   w_rj ~ s_r (C_1[b_rj1] + ... + C_M[b_rjM]),
 * fitted to the layer's output error ||(W - W^) X||^2 = tr((W - W^) H (W - W^)^T), H = X X^T.
 *
 * Initialization: scales s_r = the row's RMS, codebooks by residual k-means of the scaled vectors
 * (Hessian-diagonal weighted, hvq.c's k-means).  Then `iters` rounds of three steps, each of
 * which can only lower the objective (tested):
 *   codes: for every row, vector and codebook in turn, the code of least objective with the rest
 *     fixed, exactly, through the row's gradient r = e H (e = w - w^): a change d of the vector's
 *     8 values costs -2 d.r_j + d H_jj d^T.  This is beam search with a beam of one (AQLM: a beam
 *     of 8 or more);
 *   codebooks: for each codebook, the least-squares codewords under H's 8 x 8 diagonal blocks, then
 *     an exact line search toward them on the full objective (quadratic in the codewords), so the
 *     step is never uphill (AQLM: Adam on the full objective);
 *   scales: each row's least-squares scale, exactly (AQLM learns them with the codebooks).
 * Stored: the codes (M x B bits per vector, packed), the codebooks (F16, M x 2^B x 8 per matrix:
 * at this model's sizes a large share of the bits, and counted like everything else), the row
 * scales (F16).  Not done: AQLM's fine-tuning of the rest of the block after each layer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/aqlm.h"
#include "methods/hessian.h"
#include "methods/hvq.h"
#include "methods/method.h"

static const qh_param params[] = {
    {"M", QH_PARAM_INT, 2, 1, 4, NULL, "codebooks added per vector"},
    {"B", QH_PARAM_INT, 8, 2, 12, NULL, "bits per code (2^B codewords of 8 weights each, F16, stored per matrix)"},
    {"iters", QH_PARAM_INT, 8, 0, 20, NULL, "rounds of codes, codebooks and scales"},
    {"kmeans_iters", QH_PARAM_INT, 10, 1, 100, NULL, "Lloyd iterations of the initial residual k-means"},
    {"seed", QH_PARAM_INT, 1, 0, 2147483647, NULL, "seed of the k-means initialization"},
    {"damp", QH_PARAM_FLOAT, 0.01, 0, 1, NULL, "Hessian damping, a fraction of its mean diagonal"},
    {0}};

typedef struct {
    int rows, cols, vecs, M, K; /* K = 2^B codewords per codebook */
    const float *W;             /* (rows, cols) */
    const float *H;             /* (cols, cols), damped */
    float *cb;                  /* (M, K, 8) */
    float *s;                   /* (rows) */
    uint16_t *codes;            /* (rows, vecs, M) */
} model;

/* W^ (rows, cols) from the codes, the codebooks cb and the scales */
static void reconstruct(const model *m, const float *cb, float *out)
{
#pragma omp parallel for
    for (int r = 0; r < m->rows; r++)
        for (int j = 0; j < m->vecs; j++) {
            float v[8] = {0};
            for (int k = 0; k < m->M; k++) {
                const float *c = cb + ((size_t)k * m->K + m->codes[((size_t)r * m->vecs + j) * m->M + k]) * 8;
                for (int i = 0; i < 8; i++) v[i] += c[i];
            }
            for (int i = 0; i < 8 && 8 * j + i < m->cols; i++) out[(size_t)r * m->cols + 8 * j + i] = m->s[r] * v[i];
        }
}

/* tr(A H B^T) for A, B (rows, cols) */
static double trace_ahb(const model *m, const float *A, const float *B)
{
    float *AH = qh_malloc((size_t)m->rows * m->cols * sizeof(float));
    qh_sgemm(0, 0, m->rows, m->cols, m->cols, 1.0f, A, m->cols, m->H, m->cols, 0.0f, AH, m->cols);
    double t = 0;
    for (size_t i = 0; i < (size_t)m->rows * m->cols; i++) t += (double)AH[i] * B[i];
    free(AH);
    return t;
}

static double objective(const model *m, float *E)
{
    reconstruct(m, m->cb, E);
    for (size_t i = 0; i < (size_t)m->rows * m->cols; i++) E[i] = m->W[i] - E[i];
    return trace_ahb(m, E, E);
}

/* codes: one exact coordinate pass over every row, vector and codebook */
static void update_codes(model *m)
{
    int cols = m->cols, K = m->K;
#pragma omp parallel for schedule(dynamic, 4)
    for (int r = 0; r < m->rows; r++) {
        float *e = qh_malloc((size_t)cols * sizeof(float)), *g = qh_malloc((size_t)cols * sizeof(float));
        /* e = w - w^, g = e H */
        for (int j = 0; j < m->vecs; j++) {
            float v[8] = {0};
            for (int k = 0; k < m->M; k++) {
                const float *c = m->cb + ((size_t)k * K + m->codes[((size_t)r * m->vecs + j) * m->M + k]) * 8;
                for (int i = 0; i < 8; i++) v[i] += c[i];
            }
            for (int i = 0; i < 8 && 8 * j + i < cols; i++) e[8 * j + i] = m->W[(size_t)r * cols + 8 * j + i] - m->s[r] * v[i];
        }
        for (int c = 0; c < cols; c++) {
            double t = 0;
            for (int a = 0; a < cols; a++) t += (double)e[a] * m->H[(size_t)a * cols + c];
            g[c] = (float)t;
        }
        for (int j = 0; j < m->vecs; j++) {
            int n = cols - 8 * j < 8 ? cols - 8 * j : 8;
            float Hjj[64];
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++) Hjj[a * 8 + b] = m->H[(size_t)(8 * j + a) * cols + 8 * j + b];
            for (int k = 0; k < m->M; k++) {
                uint16_t *code = &m->codes[((size_t)r * m->vecs + j) * m->M + k];
                const float *old = m->cb + ((size_t)k * K + *code) * 8;
                int best = *code;
                float best_cost = 0, best_d[8] = {0};
                for (int c = 0; c < K; c++) {
                    const float *cw = m->cb + ((size_t)k * K + c) * 8;
                    float d[8], cost = 0; /* d: the change of w^, so e changes by -d */
                    for (int i = 0; i < n; i++) d[i] = m->s[r] * (cw[i] - old[i]);
                    for (int a = 0; a < n; a++) {
                        float hd = 0;
                        for (int b = 0; b < n; b++) hd += Hjj[a * 8 + b] * d[b];
                        cost += d[a] * (hd - 2 * g[8 * j + a]);
                    }
                    if (cost < best_cost) best_cost = cost, best = c, memcpy(best_d, d, sizeof d);
                }
                if (best != *code) {
                    *code = (uint16_t)best;
                    for (int i = 0; i < n; i++) e[8 * j + i] -= best_d[i];
                    for (int i = 0; i < n; i++) /* g -= d H_(j,:) */
                        for (int c = 0; c < cols; c++) g[c] -= best_d[i] * m->H[(size_t)(8 * j + i) * cols + c];
                }
            }
        }
        free(e);
        free(g);
    }
}

/* Solves the 8 x 8 symmetric positive system A x = b (Cholesky, a small ridge); 0 if singular. */
static int solve8(double *A, double *b, int n)
{
    double tr = 0;
    for (int i = 0; i < n; i++) tr += A[i * 8 + i];
    for (int i = 0; i < n; i++) A[i * 8 + i] += 1e-9 * tr + 1e-30;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < i; k++) A[i * 8 + i] -= A[i * 8 + k] * A[i * 8 + k];
        if (!(A[i * 8 + i] > 0)) return 0;
        A[i * 8 + i] = sqrt(A[i * 8 + i]);
        for (int j = i + 1; j < n; j++) {
            for (int k = 0; k < i; k++) A[j * 8 + i] -= A[j * 8 + k] * A[i * 8 + k];
            A[j * 8 + i] /= A[i * 8 + i];
        }
    }
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < i; k++) b[i] -= A[i * 8 + k] * b[k];
        b[i] /= A[i * 8 + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        for (int k = i + 1; k < n; k++) b[i] -= A[k * 8 + i] * b[k];
        b[i] /= A[i * 8 + i];
    }
    return 1;
}

/* codebook k: least squares under H's diagonal blocks, then the exact line search toward it */
static void update_codebook(model *m, int k, float *E, float *D)
{
    int cols = m->cols, K = m->K, vecs = m->vecs;
    double *A = qh_calloc((size_t)K * 64, sizeof(double)), *b = qh_calloc((size_t)K * 8, sizeof(double));
    /* E = w - w^; the target of codebook k at (r, j) is (e_rj + s C_k[b]) / s */
    for (int r = 0; r < m->rows; r++) {
        double s = m->s[r];
        for (int j = 0; j < vecs; j++) {
            int n = cols - 8 * j < 8 ? cols - 8 * j : 8, c = m->codes[((size_t)r * vecs + j) * m->M + k];
            const float *cw = m->cb + ((size_t)k * K + c) * 8;
            double t[8];
            for (int i = 0; i < n; i++) t[i] = E[(size_t)r * cols + 8 * j + i] + s * cw[i];
            for (int a = 0; a < n; a++)
                for (int bb = 0; bb < n; bb++) {
                    double h = m->H[(size_t)(8 * j + a) * cols + 8 * j + bb];
                    A[(size_t)c * 64 + a * 8 + bb] += s * s * h;
                    b[(size_t)c * 8 + a] += s * h * t[bb];
                }
        }
    }
    float *dir = qh_calloc((size_t)m->M * K * 8, sizeof(float)); /* zero in the other codebooks */
    for (int c = 0; c < K; c++) {
        /* an unused codeword (or one used only by short last vectors, singular) stays as it is */
        if (solve8(A + (size_t)c * 64, b + (size_t)c * 8, 8))
            for (int i = 0; i < 8; i++) {
                float nv = (float)b[(size_t)c * 8 + i];
                if (isfinite(nv)) dir[((size_t)k * K + c) * 8 + i] = nv - m->cb[((size_t)k * K + c) * 8 + i];
            }
    }
    /* f(a) = f0 - 2a tr(D H E^T) + a^2 tr(D H D^T), D = the reconstruction of dir */
    reconstruct(m, dir, D);
    double dhe = trace_ahb(m, D, E), dhd = trace_ahb(m, D, D);
    if (dhd > 0 && dhe > 0) {
        double a = dhe / dhd;
        for (size_t i = (size_t)k * K * 8; i < (size_t)(k + 1) * K * 8; i++) m->cb[i] += (float)a * dir[i];
    }
    free(dir);
    free(A);
    free(b);
}

/* each row's least-squares scale: w^_r = s u_r, s = (w H u^T) / (u H u^T) */
static void update_scales(model *m, float *U)
{
    float *s_save = qh_malloc((size_t)m->rows * sizeof(float));
    memcpy(s_save, m->s, (size_t)m->rows * sizeof(float));
    for (int r = 0; r < m->rows; r++) m->s[r] = 1;
    reconstruct(m, m->cb, U);
    float *UH = qh_malloc((size_t)m->rows * m->cols * sizeof(float));
    qh_sgemm(0, 0, m->rows, m->cols, m->cols, 1.0f, U, m->cols, m->H, m->cols, 0.0f, UH, m->cols);
    for (int r = 0; r < m->rows; r++) {
        double num = 0, den = 0;
        for (int c = 0; c < m->cols; c++) {
            num += (double)UH[(size_t)r * m->cols + c] * m->W[(size_t)r * m->cols + c];
            den += (double)UH[(size_t)r * m->cols + c] * U[(size_t)r * m->cols + c];
        }
        m->s[r] = den > 0 && num > 0 ? (float)(num / den) : s_save[r];
    }
    free(UH);
    free(s_save);
}

int qh_aqlm_fit(const float *W, const float *H, int rows, int cols, int M, int B, int iters, int kmeans_iters, unsigned long seed, float *cb,
                float *scales, uint16_t *codes, double *obj)
{
    int vecs = (cols + 7) / 8, K = 1 << B;
    model m = {rows, cols, vecs, M, K, W, H, cb, scales, codes};
    long nv = (long)rows * vecs;
    float *X = qh_calloc((size_t)nv * 8, sizeof(float)), *Hw = qh_calloc((size_t)nv * 8, sizeof(float));
    int *assign = qh_malloc((size_t)nv * sizeof(int));
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int c = 0; c < cols; c++) ss += (double)W[(size_t)r * cols + c] * W[(size_t)r * cols + c];
        scales[r] = ss > 0 ? (float)sqrt(ss / cols) : 1.0f;
        for (int c = 0; c < cols; c++) {
            X[((size_t)r * vecs + c / 8) * 8 + c % 8] = W[(size_t)r * cols + c] / scales[r];
            Hw[((size_t)r * vecs + c / 8) * 8 + c % 8] = H[(size_t)c * cols + c] * scales[r] * scales[r];
        }
    }
    /* residual k-means: codebook k fits what codebooks < k leave */
    for (int k = 0; k < M; k++) {
        qh_hvq_kmeans(X, Hw, nv, 8, K, kmeans_iters, seed + (unsigned long)k, cb + (size_t)k * K * 8, assign, NULL);
        for (long v = 0; v < nv; v++) {
            codes[(size_t)v * M + k] = (uint16_t)assign[v];
            for (int i = 0; i < 8; i++) X[(size_t)v * 8 + i] -= cb[((size_t)k * K + assign[v]) * 8 + i];
        }
    }
    free(X);
    free(Hw);
    free(assign);
    float *E = qh_malloc((size_t)rows * cols * sizeof(float)), *D = qh_malloc((size_t)rows * cols * sizeof(float));
    /* objective() also refreshes E = W - W^, which each codebook step needs */
    int n_obj = 0;
    double f = objective(&m, E);
    if (obj) obj[n_obj++] = f;
    for (int it = 0; it < iters; it++) {
        update_codes(&m);
        f = objective(&m, E);
        if (obj) obj[n_obj++] = f;
        for (int k = 0; k < M; k++) {
            update_codebook(&m, k, E, D);
            f = objective(&m, E);
        }
        if (obj) obj[n_obj++] = f;
        update_scales(&m, D);
        if (obj) obj[n_obj++] = objective(&m, E);
    }
    free(E);
    free(D);
    return n_obj;
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    int rows = w->rows, cols = w->cols, vecs = (cols + 7) / 8, M = (int)qh_spec_get(spec, "M"), B = (int)qh_spec_get(spec, "B");
    int K = 1 << B;
    float *Wt = NULL, *Wd = NULL, *Hf = NULL;
    double *H = NULL;
    if (qh_hessian_prepare("aqlm", w, calib, &Wt, &H, err) != 0) return -1;
    Wd = qh_malloc((size_t)rows * cols * sizeof(float)); /* W with its dead inputs zeroed */
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) Wd[(size_t)r * cols + c] = Wt[(size_t)c * rows + r];
    double mean = 0;
    for (int c = 0; c < cols; c++) mean += H[(size_t)c * cols + c] / cols;
    Hf = qh_malloc((size_t)cols * cols * sizeof(float));
    double norm = mean > 0 ? 1.0 / mean : 1.0; /* H / mean(diag): the objective in units the floats hold well */
    for (size_t i = 0; i < (size_t)cols * cols; i++) Hf[i] = (float)(H[i] * norm);
    for (int c = 0; c < cols; c++) Hf[(size_t)c * cols + c] += (float)qh_spec_get(spec, "damp");
    float *cb = qh_calloc((size_t)M * K * 8, sizeof(float)), *s = qh_malloc((size_t)rows * sizeof(float));
    uint16_t *codes = qh_malloc((size_t)rows * vecs * M * sizeof(uint16_t));
    qh_aqlm_fit(Wd, Hf, rows, cols, M, B, (int)qh_spec_get(spec, "iters"), (int)qh_spec_get(spec, "kmeans_iters"),
                (unsigned long)qh_spec_get(spec, "seed"), cb, s, codes, NULL);
    /* what decode will read: F16 codebooks and scales (the codes were chosen for the floats; the
     * F16 rounding of a codeword is far below the quantization error) */
    uint16_t *pcb = qh_packed_add(out, "codebook", QH_DT_F16, (int64_t)M * K, 8), *ps = qh_packed_add(out, "scales", QH_DT_F16, rows, 0);
    for (size_t i = 0; i < (size_t)M * K * 8; i++) pcb[i] = qh_f32_to_f16(cb[i]);
    for (int r = 0; r < rows; r++) ps[r] = qh_f32_to_f16(s[r]);
    size_t n_codes = (size_t)rows * vecs * M;
    qh_bits_pack16(qh_packed_add(out, "indices", QH_DT_U8, (int64_t)qh_bits_bytes(n_codes, B), 0), codes, n_codes, B);
    free(cb);
    free(s);
    free(codes);
    free(Wt);
    free(Wd);
    free(Hf);
    free(H);
    return 0;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int rows = w->rows, cols = w->cols, vecs = (cols + 7) / 8, M = (int)qh_spec_get(spec, "M"), B = (int)qh_spec_get(spec, "B");
    int K = 1 << B;
    size_t n_codes = (size_t)rows * vecs * M;
    const qh_part *pcb, *ps, *pi;
    if (qh_packed_expect(in, "codebook", QH_DT_F16, (size_t)M * K * 8, &pcb, err) || qh_packed_expect(in, "scales", QH_DT_F16, (size_t)rows, &ps, err) ||
        qh_packed_expect(in, "indices", QH_DT_U8, qh_bits_bytes(n_codes, B), &pi, err))
        return -1;
    const uint16_t *cb16 = pcb->data, *s16 = ps->data;
    uint16_t *codes = qh_malloc(n_codes * sizeof(uint16_t));
    qh_bits_unpack16(codes, pi->data, n_codes, B);
    for (int r = 0; r < rows; r++) {
        float s = qh_f16_to_f32(s16[r]);
        for (int j = 0; j < vecs; j++) {
            float v[8] = {0};
            for (int k = 0; k < M; k++) {
                int code = codes[((size_t)r * vecs + j) * M + k];
                for (int c = 0; c < 8; c++) v[c] += qh_f16_to_f32(cb16[((size_t)k * K + code) * 8 + c]);
            }
            for (int c = 0; c < 8 && 8 * j + c < cols; c++) w->data[(size_t)r * cols + 8 * j + c] = s * v[c];
        }
    }
    free(codes);
    return 0;
}

const qh_method qh_method_aqlm = {
    .name = "aqlm",
    .summary = "AQLM: additive VQ, M codebooks of 2^B 8-dim codewords summed per vector, codes and codebooks fitted to the output error (codebooks counted)",
    .params = params,
    .needs_calibration = 1,
    .encode = encode,
    .decode = decode,
};
