/* check_calib.c - the calibration-based methods on small matrices against direct computation:
 * GPTQ with an identity Hessian is RTN; GPTQ lowers the layer objective tr(D H D^T) against
 * RTN on correlated inputs; the inverse-Hessian factor on a known SPD matrix; OBS saliency. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_linalg.h>

#include "methods/hessian.h"
#include "methods/hvq.h"
#include "methods/svd.h"
#include "datasets/datasets.h"
#include "harness/quantize/quantize.h"
#include "harness/model/tokenizer.h"
#include "methods/method.h"
#include "tests/testutil.h"

static unsigned lcg(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}
static double gauss(unsigned *s)
{
    double u = (lcg(s) + 0.5) / 16777216.0, v = (lcg(s) + 0.5) / 16777216.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* H = X^T X for X (N, n) with correlated columns (a few shared factors) */
static double *correlated_hessian(int n, int N, unsigned seed)
{
    unsigned s = seed;
    double *X = qh_malloc((size_t)N * n * sizeof(double)), *H = qh_calloc((size_t)n * n, sizeof(double));
    for (int i = 0; i < N; i++) {
        double f[4];
        for (int k = 0; k < 4; k++) f[k] = gauss(&s);
        for (int j = 0; j < n; j++) X[(size_t)i * n + j] = f[j % 4] * (1 + 0.1 * (j % 7)) + 0.3 * gauss(&s) * (1 + (j % 5));
    }
    for (int i = 0; i < N; i++)
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) H[(size_t)a * n + b] += X[(size_t)i * n + a] * X[(size_t)i * n + b];
    free(X);
    return H;
}

static qh_matrix random_w(int rows, int cols, unsigned seed)
{
    qh_matrix w = {rows, cols, qh_malloc((size_t)rows * cols * sizeof(float))};
    unsigned s = seed;
    for (int i = 0; i < rows * cols; i++) w.data[i] = (float)(0.05 * gauss(&s));
    return w;
}

static qh_matrix run(const char *spec_text, const qh_matrix *w, const qh_calib *cal)
{
    qh_spec *spec;
    qh_err err;
    ck_assert_msg(qh_spec_parse(spec_text, &spec, &err) == 0, "%s", err.msg);
    qh_packed p = {0};
    ck_assert_msg(spec->method->encode(spec, w, cal, &p, &err) == 0, "%s: %s", spec_text, err.msg);
    qh_matrix o = {w->rows, w->cols, qh_malloc((size_t)w->rows * w->cols * sizeof(float))};
    ck_assert_msg(spec->method->decode(spec, &p, &o, &err) == 0, "%s", err.msg);
    qh_packed_free(&p);
    qh_spec_free(spec);
    return o;
}

/* sum over rows of d^T H d, d = w - w_hat: the layer's output error on the calibration inputs */
static double objective(const qh_matrix *w, const qh_matrix *q, const double *H)
{
    int n = w->cols;
    double total = 0;
    double *d = qh_malloc((size_t)n * sizeof(double));
    for (int r = 0; r < w->rows; r++) {
        for (int j = 0; j < n; j++) d[j] = (double)w->data[(size_t)r * n + j] - q->data[(size_t)r * n + j];
        for (int a = 0; a < n; a++) {
            double s = 0;
            for (int b = 0; b < n; b++) s += H[(size_t)a * n + b] * d[b];
            total += d[a] * s;
        }
    }
    free(d);
    return total;
}

START_TEST(gptq_with_identity_hessian_is_rtn)
{
    int n = 96;
    double *H = qh_calloc((size_t)n * n, sizeof(double));
    for (int j = 0; j < n; j++) H[(size_t)j * n + j] = 3.0;
    qh_calib cal = {n, H, 1000, 0};
    qh_matrix w = random_w(20, n, 1);
    const char *pairs[][2] = {{"gptq bits=3 group=32", "rtn bits=3 group=32"},
                              {"gptq bits=2 group=0 scheme=asym", "rtn bits=2 group=0 scheme=asym"},
                              {"gptq bits=4 group=32 act_order=1", "rtn bits=4 group=32"}};
    for (int i = 0; i < 3; i++) {
        qh_matrix g = run(pairs[i][0], &w, &cal), r = run(pairs[i][1], &w, NULL);
        ck_assert_msg(memcmp(g.data, r.data, (size_t)20 * n * sizeof(float)) == 0, "%s differs from %s", pairs[i][0], pairs[i][1]);
        free(g.data);
        free(r.data);
    }
    free(w.data);
    free(H);
}
END_TEST

START_TEST(gptq_beats_rtn_on_its_objective)
{
    int n = 128;
    double *H = correlated_hessian(n, 2048, 7);
    qh_calib cal = {n, H, 2048, 0};
    qh_matrix w = random_w(48, n, 3);
    const char *cfg[][2] = {{"gptq bits=2 group=32 scheme=asym", "rtn bits=2 group=32 scheme=asym"},
                            {"gptq bits=3 group=64", "rtn bits=3 group=64"},
                            {"gptq bits=4 group=0", "rtn bits=4 group=0"},
                            {"gptq bits=3 group=64 act_order=1", "rtn bits=3 group=64"},
                            {"gptq bits=3 group=64 block=16", "rtn bits=3 group=64"}};
    for (int i = 0; i < 5; i++) {
        qh_matrix g = run(cfg[i][0], &w, &cal), r = run(cfg[i][1], &w, NULL);
        double og = objective(&w, &g, H), orr = objective(&w, &r, H);
        ck_assert_msg(og < 0.8 * orr, "%s: objective %g not clearly below rtn's %g", cfg[i][0], og, orr);
        free(g.data);
        free(r.data);
    }
    /* the lazy block size changes nothing but speed, when groups start on block boundaries
     * (or there are no groups) */
    const char *same[][2] = {{"gptq bits=3 group=64 block=128", "gptq bits=3 group=64 block=16"},
                             {"gptq bits=3 group=0 block=128", "gptq bits=3 group=0 block=7"}};
    for (int i = 0; i < 2; i++) {
        qh_matrix a = run(same[i][0], &w, &cal), b = run(same[i][1], &w, &cal);
        double oa = objective(&w, &a, H), ob = objective(&w, &b, H);
        ck_assert_msg(fabs(oa - ob) < 1e-4 * oa, "%s: %g, %s: %g", same[i][0], oa, same[i][1], ob);
        free(a.data);
        free(b.data);
    }
    free(w.data);
    free(H);
    /* no calibration: a clear error */
    qh_spec *spec;
    qh_err err;
    ck_assert_int_eq(qh_spec_parse("gptq", &spec, &err), 0);
    qh_packed p = {0};
    qh_matrix w2 = random_w(4, 8, 1);
    ck_assert_int_eq(spec->method->encode(spec, &w2, NULL, &p, &err), -1);
    ck_assert_msg(strstr(err.msg, "gptq needs calibration statistics"), "%s", err.msg);
    free(w2.data);
    qh_spec_free(spec);
}
END_TEST

START_TEST(inverse_hessian_factor_on_a_known_matrix)
{
    /* H = [[4, 2], [2, 3]]: H^-1 = [[3, -2], [-2, 4]] / 8 = U^T U with U upper */
    double H[4] = {4, 2, 2, 3};
    float U[4];
    qh_err err;
    ck_assert_int_eq(qh_gptq_hinv_factor(H, 2, 0.0, U, &err), 0);
    ck_assert_float_eq(U[2], 0.0f);
    double inv[4] = {U[0] * U[0], U[0] * U[1], U[0] * U[1], U[1] * U[1] + U[3] * U[3]};
    ck_assert_double_eq_tol(inv[0], 3.0 / 8, 1e-6);
    ck_assert_double_eq_tol(inv[1], -2.0 / 8, 1e-6);
    ck_assert_double_eq_tol(inv[3], 4.0 / 8, 1e-6);
    double d[2];
    ck_assert_int_eq(qh_hinv_diag(H, 2, 0.0, d, &err), 0);
    ck_assert_double_eq_tol(d[0], 3.0 / 8, 1e-6);
    ck_assert_double_eq_tol(d[1], 4.0 / 8, 1e-6);
    /* damping by 1% of mean diag (3.5): H + 0.035 I */
    ck_assert_int_eq(qh_hinv_diag(H, 2, 0.01, d, &err), 0);
    double a = 4.035, b = 2, c = 3.035, det = a * c - b * b;
    ck_assert_double_eq_tol(d[0], c / det, 1e-6);
    /* not positive definite */
    double bad[4] = {1, 2, 2, 1};
    ck_assert_int_eq(qh_gptq_hinv_factor(bad, 2, 0.0, U, &err), -1);
    ck_assert_msg(strstr(err.msg, "not positive definite"), "%s", err.msg);
}
END_TEST

START_TEST(outlier_saliency_uses_the_hessian)
{
    /* input 0 has a tiny variance: its large weights matter less than moderate weights on input 1 */
    int n = 2;
    double H[4] = {1e-4, 0, 0, 1.0};
    qh_calib cal = {n, H, 100, 0};
    qh_matrix w = {4, 2, qh_malloc(8 * sizeof(float))};
    float vals[8] = {1.0f, 0.1f, 0.9f, 0.2f, 0.8f, 0.3f, 0.7f, 0.4f};
    memcpy(w.data, vals, sizeof vals);
    qh_matrix by_mag = run("outliers frac=0.25 + binary", &w, NULL);
    qh_matrix by_sal = run("outliers frac=0.25 + binary", &w, &cal);
    /* magnitude keeps column 0's 1.0 and 0.9 exactly; saliency keeps column 1's 0.4 and 0.3 */
    ck_assert_float_eq(by_mag.data[0], qh_f16_round(1.0f));
    ck_assert_float_eq(by_mag.data[2], qh_f16_round(0.9f));
    ck_assert_float_eq(by_sal.data[7], qh_f16_round(0.4f));
    ck_assert_float_eq(by_sal.data[5], qh_f16_round(0.3f));
    free(by_mag.data);
    free(by_sal.data);
    free(w.data);
}
END_TEST

START_TEST(truncated_svd_error_is_the_tail)
{
    int shapes[2][2] = {{30, 20}, {20, 30}};
    for (int s = 0; s < 2; s++) {
        int m = shapes[s][0], n = shapes[s][1], r = 5;
        unsigned seed = 17;
        double *A = qh_malloc((size_t)m * n * sizeof(double));
        for (int i = 0; i < m * n; i++) A[i] = gauss(&seed) * (1 + (i % n) * 0.05);
        double *L = qh_malloc((size_t)m * r * sizeof(double)), *R = qh_malloc((size_t)n * r * sizeof(double));
        qh_truncated_svd(A, m, n, r, L, R, 0);
        double err2 = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double v = A[(size_t)i * n + j];
                for (int k = 0; k < r; k++) v -= L[(size_t)i * r + k] * R[(size_t)j * r + k];
                err2 += v * v;
            }
        /* singular values from GSL's own SVD (of A or A^T, whichever is tall) */
        int M = m >= n ? m : n, N = m >= n ? n : m;
        gsl_matrix *G = gsl_matrix_alloc((size_t)M, (size_t)N), *V = gsl_matrix_alloc((size_t)N, (size_t)N);
        gsl_vector *S = gsl_vector_alloc((size_t)N), *work = gsl_vector_alloc((size_t)N);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                if (m >= n) gsl_matrix_set(G, (size_t)i, (size_t)j, A[(size_t)i * n + j]);
                else gsl_matrix_set(G, (size_t)j, (size_t)i, A[(size_t)i * n + j]);
            }
        gsl_linalg_SV_decomp(G, V, S, work);
        double tail = 0;
        for (int k = r; k < N; k++) tail += gsl_vector_get(S, (size_t)k) * gsl_vector_get(S, (size_t)k);
        ck_assert_msg(fabs(err2 - tail) < 1e-8 * tail, "%dx%d: error %.12g, tail %.12g", m, n, err2, tail);
        gsl_matrix_free(G);
        gsl_matrix_free(V);
        gsl_vector_free(S);
        gsl_vector_free(work);
        free(A);
        free(L);
        free(R);
    }
}
END_TEST

START_TEST(lowrank_corrects_the_inner_residual)
{
    qh_matrix w = random_w(40, 64, 9);
    qh_matrix b = run("binary", &w, NULL);
    double eb = 0, norm = 0;
    for (int i = 0; i < 40 * 64; i++) {
        eb += ((double)w.data[i] - b.data[i]) * ((double)w.data[i] - b.data[i]);
        norm += (double)w.data[i] * w.data[i];
    }
    double prev = eb;
    for (int r = 2; r <= 16; r *= 2) {
        char spec[96];
        snprintf(spec, sizeof spec, "lowrank rank=%d factors=f16 + binary", r);
        qh_matrix o = run(spec, &w, NULL);
        double e = 0;
        for (int i = 0; i < 40 * 64; i++) e += ((double)w.data[i] - o.data[i]) * ((double)w.data[i] - o.data[i]);
        ck_assert_msg(e < prev, "rank %d: error %g not below %g", r, e, prev);
        prev = e;
        free(o.data);
        /* int8 factors: within a few percent of f16 */
        snprintf(spec, sizeof spec, "lowrank rank=%d + binary", r);
        qh_matrix o8 = run(spec, &w, NULL);
        double e8 = 0;
        for (int i = 0; i < 40 * 64; i++) e8 += ((double)w.data[i] - o8.data[i]) * ((double)w.data[i] - o8.data[i]);
        ck_assert_msg(e8 < e * 1.05 + 1e-4 * norm, "rank %d: int8 error %g vs f16 %g", r, e8, e);
        free(o8.data);
    }
    /* weighted=1 asks for calibration; weighted=0 does not */
    qh_spec *sp;
    qh_err err;
    ck_assert_int_eq(qh_spec_parse("lowrank weighted=1 + binary", &sp, &err), 0);
    ck_assert_int_eq(qh_spec_needs_calibration(sp), 1);
    qh_spec_free(sp);
    ck_assert_int_eq(qh_spec_parse("lowrank weighted=0 + binary", &sp, &err), 0);
    ck_assert_int_eq(qh_spec_needs_calibration(sp), 0);
    qh_spec_free(sp);
    ck_assert_int_eq(qh_spec_parse("lowrank + gptq", &sp, &err), 0);
    ck_assert_int_eq(qh_spec_needs_calibration(sp), 1); /* through the inner method */
    qh_spec_free(sp);
    /* weighted=1 lowers the Hessian-weighted error against weighted=0 */
    double *H = correlated_hessian(64, 1024, 5);
    qh_calib cal = {64, H, 1024, 0};
    qh_matrix u = run("lowrank rank=8 factors=f16 weighted=0 + binary", &w, &cal);
    qh_matrix v = run("lowrank rank=8 factors=f16 weighted=1 + binary", &w, &cal);
    ck_assert(objective(&w, &v, H) < objective(&w, &u, H));
    free(u.data);
    free(v.data);
    free(H);
    free(b.data);
    free(w.data);
}
END_TEST

START_TEST(kmeans_objective_never_increases)
{
    unsigned s = 4;
    long nv = 600;
    int d = 4, k = 16, iters = 15;
    float *X = qh_malloc((size_t)nv * d * sizeof(float)), *Hw = qh_malloc((size_t)nv * d * sizeof(float));
    for (long i = 0; i < nv * d; i++) {
        X[i] = (float)gauss(&s);
        Hw[i] = 0.5f + (float)(i % d);
    }
    float *cb = qh_malloc((size_t)k * d * sizeof(float));
    int *assign = qh_malloc((size_t)nv * sizeof(int));
    double obj[16];
    qh_hvq_kmeans(X, Hw, nv, d, k, iters, 3, cb, assign, obj);
    for (int i = 1; i <= iters; i++) ck_assert_msg(obj[i] <= obj[i - 1] * (1 + 1e-6), "iteration %d: %g > %g", i, obj[i], obj[i - 1]);
    ck_assert(obj[iters] < 0.9 * obj[0]);
    /* seeded: the same seed, the same codebook */
    float *cb2 = qh_malloc((size_t)k * d * sizeof(float));
    qh_hvq_kmeans(X, Hw, nv, d, k, iters, 3, cb2, assign, NULL);
    ck_assert_int_eq(memcmp(cb, cb2, (size_t)k * d * sizeof(float)), 0);
    free(cb2);
    free(cb);
    free(assign);
    free(X);
    free(Hw);
}
END_TEST

START_TEST(hvq_bpp_as_written_and_feedback_helps)
{
    int rows = 64, cols = 128;
    qh_matrix w = random_w(rows, cols, 21);
    double *H = correlated_hessian(cols, 2048, 8);
    qh_calib cal = {cols, H, 2048, 0};
    qh_spec *spec;
    qh_err err;
    ck_assert_int_eq(qh_spec_parse("hvq dim=4 k=16 iters=10", &spec, &err), 0);
    qh_packed p = {0};
    ck_assert_msg(spec->method->encode(spec, &w, &cal, &p, &err) == 0, "%s", err.msg);
    /* indices: 4 bits per 4 weights; codebook 16 x 4 F16; one F16 scale per row */
    size_t want = qh_bits_bytes((size_t)rows * cols / 4, 4) + 16 * 4 * 2 + rows * 2;
    ck_assert_uint_eq(qh_packed_bytes(&p), want);
    qh_packed_free(&p);
    qh_spec_free(spec);
    qh_matrix plain = run("hvq dim=4 k=16 iters=10", &w, &cal), fb = run("hvq dim=4 k=16 iters=10 feedback=1", &w, &cal);
    double op = objective(&w, &plain, H), of = objective(&w, &fb, H);
    ck_assert_msg(of < op, "feedback objective %g not below %g", of, op);
    /* the weighting promises a lower error where the objective is the diagonal one: with very
     * uneven input variances, weighted k-means beats unweighted (identity H) on sum h_j d_j^2 */
    double *D = qh_calloc((size_t)cols * cols, sizeof(double)), *I = qh_calloc((size_t)cols * cols, sizeof(double));
    for (int j = 0; j < cols; j++) {
        D[(size_t)j * cols + j] = (1 + j % 4) * (1 + j % 4) * (1 + j % 4);
        I[(size_t)j * cols + j] = 1;
    }
    qh_calib dcal = {cols, D, 1, 0}, ical = {cols, I, 1, 0};
    qh_matrix wgt = run("hvq dim=4 k=16 iters=10", &w, &dcal), unw = run("hvq dim=4 k=16 iters=10", &w, &ical);
    ck_assert_msg(objective(&w, &wgt, D) < objective(&w, &unw, D), "weighted %g vs unweighted %g", objective(&w, &wgt, D),
                  objective(&w, &unw, D));
    free(wgt.data);
    free(D);
    /* dim=3 on 128 inputs: each row's last vector has 2 weights; they are quantized as well as
     * the others (relative error of the last two columns within 1.5x the rest), with and
     * without feedback */
    for (int f = 0; f < 2; f++) {
        qh_matrix t = run(f ? "hvq dim=3 k=16 iters=10 feedback=1" : "hvq dim=3 k=16 iters=10", &w, &cal);
        double num[2] = {0}, den[2] = {0};
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                double d = w.data[(size_t)r * cols + c] - t.data[(size_t)r * cols + c];
                num[c >= 126] += d * d;
                den[c >= 126] += (double)w.data[(size_t)r * cols + c] * w.data[(size_t)r * cols + c];
            }
        double body = sqrt(num[0] / den[0]), tail = sqrt(num[1] / den[1]);
        ck_assert_msg(tail < 1.5 * body && body < 1, "feedback=%d: tail columns' relative error %g, the others' %g", f, tail, body);
        free(t.data);
    }
    free(I);
    free(unw.data);
    free(plain.data);
    free(fb.data);
    free(H);
    free(w.data);
}
END_TEST

/* the default model and a small calibration set (8 windows of 128 tokens) */
typedef struct {
    qh_model *m;
    int *ids;
    qh_calib_opts co;
} calib_fixture;

static void fixture(calib_fixture *f, unsigned long seed)
{
    qh_tokenizer *tok = tu_default_tokenizer();
    qh_err err;
    f->m = tu_default_model(0);
    qh_text text;
    ck_assert_int_eq(qh_text_load("gutenberg-calib", &text, &err), 0);
    size_t n;
    ck_assert_int_eq(qh_encode(tok, text.path, text.text, 200000, &f->ids, &n, &err), 0);
    f->co = (qh_calib_opts){f->ids, n, 8, 128, seed, "gutenberg-calib (first 200 KB)", NULL};
    qh_text_free(&text);
    qh_tokenizer_free(tok);
}

static void fixture_free(calib_fixture *f)
{
    qh_model_free(f->m);
    free(f->ids);
}

static qh_quant_result quantize_fixture(calib_fixture *f, qh_quant_opts *o)
{
    qh_quant_result res;
    qh_err err;
    ck_assert_msg(qh_quantize_model(f->m, o, &res, &err) == 0, "%s", err.msg);
    return res;
}

START_TEST(sequential_gptq_is_seeded_and_needs_calibration)
{
    calib_fixture a, b, c;
    fixture(&a, 5);
    fixture(&b, 5);
    fixture(&c, 6);
    qh_quant_opts o;
    qh_quant_opts_init(&o);
    o.spec = "gptq bits=3 group=64";
    o.calib = &a.co;
    qh_quant_result ra = quantize_fixture(&a, &o);
    o.calib = &b.co;
    qh_quant_result rb = quantize_fixture(&b, &o);
    o.calib = &c.co;
    qh_quant_result rc = quantize_fixture(&c, &o);
    ck_assert_int_eq(ra.n_q, 24);
    ck_assert_msg(strstr(ra.calib_desc, "8 windows x 128 tokens, seed 5 (sequential"), "%s", ra.calib_desc);
    int differ = 0;
    for (int t = 0; t < a.m->n_tensors; t++) {
        size_t bytes = (size_t)a.m->tensors[t].rows * a.m->tensors[t].cols * sizeof(float);
        ck_assert_msg(memcmp(a.m->tensors[t].data, b.m->tensors[t].data, bytes) == 0, "%s differs with the same seed", a.m->tensors[t].name);
        differ |= memcmp(a.m->tensors[t].data, c.m->tensors[t].data, bytes) != 0;
    }
    ck_assert_msg(differ, "another calibration seed changed nothing");
    /* same packed size as rtn at the same settings: same format */
    ck_assert_double_eq(ra.bpp_quantized, 3.25);
    qh_quant_result_free(&ra);
    qh_quant_result_free(&rb);
    qh_quant_result_free(&rc);
    fixture_free(&a);
    fixture_free(&b);
    fixture_free(&c);
    /* without calibration data: refused */
    calib_fixture d;
    fixture(&d, 1);
    qh_quant_opts_init(&o);
    o.spec = "hvq";
    qh_quant_result r;
    qh_err err;
    ck_assert_int_eq(qh_quantize_model(d.m, &o, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "needs calibration data"), "%s", err.msg);
    /* the embedding has no calibration statistics */
    o.spec = "gptq";
    o.calib = &d.co;
    o.include[o.n_include++] = "wte.weight";
    ck_assert_int_eq(qh_quantize_model(d.m, &o, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "wte.weight: method needs calibration statistics, which exist only for the block weights"), "%s", err.msg);
    fixture_free(&d);
}
END_TEST

static double mixed_run(double target, size_t *bytes_out, int *all_binary, qh_err *err_out)
{
    calib_fixture f;
    fixture(&f, 1);
    qh_quant_opts o;
    qh_quant_opts_init(&o);
    o.candidates[o.n_candidates++] = "binary";
    o.candidates[o.n_candidates++] = "ternary";
    o.candidates[o.n_candidates++] = "rtn bits=2 group=64 scheme=asym";
    o.mixed_target = target;
    o.calib = &f.co;
    qh_quant_result res;
    qh_err err;
    if (qh_quantize_model(f.m, &o, &res, &err) != 0) {
        if (err_out) *err_out = err;
        fixture_free(&f);
        return -1;
    }
    double total = 0;
    *all_binary = 1;
    for (int i = 0; i < res.n_q; i++) {
        total += res.q[i].sensitivity;
        ck_assert(!isnan(res.q[i].sensitivity));
        *all_binary &= strncmp(res.q[i].spec, "binary", 6) == 0;
    }
    ck_assert_msg(res.bpp_quantized <= target + 1e-12, "bpp %.6f above target %.6f", res.bpp_quantized, target);
    ck_assert_msg(strstr(res.spec, "mixed target="), "%s", res.spec);
    *bytes_out = res.bytes_quantized;
    qh_quant_result_free(&res);
    fixture_free(&f);
    return total;
}

START_TEST(mixed_precision_allocation)
{
    size_t bytes;
    int all_binary;
    double prev = INFINITY;
    double targets[] = {1.2, 1.4, 1.7, 3.0};
    for (int i = 0; i < 4; i++) {
        double s = mixed_run(targets[i], &bytes, &all_binary, NULL);
        ck_assert_msg(s >= 0, "target %.2f failed", targets[i]);
        if (i == 0) ck_assert(!all_binary); /* 1.2 bpp leaves room above binary's 1.047 */
        ck_assert_msg(s <= prev * (1 + 1e-12), "target %.2f: total sensitivity %g above %g at a lower target", targets[i], s, prev);
        prev = s;
    }
    /* the all-binary allocation costs exactly its bytes; at that target nothing else fits */
    double all_binary_bpp = 0;
    {
        calib_fixture f;
        fixture(&f, 1);
        qh_quant_opts o;
        qh_quant_opts_init(&o);
        o.spec = "binary";
        qh_quant_result r = quantize_fixture(&f, &o);
        all_binary_bpp = r.bpp_quantized;
        qh_quant_result_free(&r);
        fixture_free(&f);
    }
    ck_assert(mixed_run(all_binary_bpp, &bytes, &all_binary, NULL) >= 0);
    ck_assert(all_binary);
    ck_assert_uint_eq(bytes, (size_t)llround(all_binary_bpp * 4718592 / 8));
    qh_err err;
    ck_assert_double_eq(mixed_run(0.9, &bytes, &all_binary, &err), -1);
    ck_assert_msg(strstr(err.msg, "below the cheapest allocation"), "%s", err.msg);
}
END_TEST

Suite *suite_calib(void)
{
    Suite *s = suite_create("calib");
    TCase *tc = tcase_create("methods");
    tcase_add_test(tc, gptq_with_identity_hessian_is_rtn);
    tcase_add_test(tc, gptq_beats_rtn_on_its_objective);
    tcase_add_test(tc, inverse_hessian_factor_on_a_known_matrix);
    tcase_add_test(tc, outlier_saliency_uses_the_hessian);
    tcase_add_test(tc, truncated_svd_error_is_the_tail);
    tcase_add_test(tc, lowrank_corrects_the_inner_residual);
    tcase_add_test(tc, kmeans_objective_never_increases);
    tcase_add_test(tc, hvq_bpp_as_written_and_feedback_helps);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    TCase *model = tcase_create("model");
    tcase_add_test(model, sequential_gptq_is_seeded_and_needs_calibration);
    tcase_add_test(model, mixed_precision_allocation);
    tcase_set_timeout(model, 600);
    suite_add_tcase(s, model);
    return s;
}
