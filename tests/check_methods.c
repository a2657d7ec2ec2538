/* check_methods.c - every registered method round-trips (loop test over the registry, so a
 * new method is tested the moment it is registered), and each keeps its own promise. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/aqlm.h"
#include "methods/billm.h"
#include "methods/gridvq.h"
#include "methods/hadamard.h"
#include "methods/hessian.h"
#include "methods/method.h"
#include "methods/microscaling.h"
#include "methods/quip_sharp.h"
#include "methods/rangecoder.h"
#include "methods/rtn.h"
#include "harness/formats/safetensors.h"
#include "tests/testutil.h"

/* Laplace-like weights with a few large outliers, as trained matrices have. */
static qh_matrix random_matrix(int rows, int cols, unsigned seed)
{
    qh_matrix m = {rows, cols, qh_malloc((size_t)rows * cols * sizeof(float))};
    for (size_t i = 0; i < (size_t)rows * cols; i++) {
        seed = seed * 1664525u + 1013904223u;
        double u = ((seed >> 8) + 0.5) / 16777216.0;
        double v = u < 0.5 ? log(2 * u) : -log(2 * (1 - u));
        if (i % 97 == 0) v *= 6;
        m.data[i] = (float)(0.02 * v);
    }
    return m;
}

static double rel_error(const qh_matrix *a, const qh_matrix *b)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < (size_t)a->rows * a->cols; i++) {
        num += ((double)a->data[i] - b->data[i]) * ((double)a->data[i] - b->data[i]);
        den += (double)a->data[i] * a->data[i];
    }
    return sqrt(num / den);
}

/* Encodes + decodes with a spec; returns the decoded matrix and fills bpp. */
static qh_matrix roundtrip_calib(const char *spec_text, const qh_matrix *w, double *bpp, qh_packed *keep, const qh_calib *cal)
{
    qh_spec *spec;
    qh_err err;
    ck_assert_msg(qh_spec_parse(spec_text, &spec, &err) == 0, "%s", err.msg);
    qh_packed p = {0};
    ck_assert_msg(spec->method->encode(spec, w, cal, &p, &err) == 0, "%s: %s", spec_text, err.msg);
    qh_matrix out = {w->rows, w->cols, qh_malloc((size_t)w->rows * w->cols * sizeof(float))};
    ck_assert_msg(spec->method->decode(spec, &p, &out, &err) == 0, "%s: %s", spec_text, err.msg);
    if (bpp) *bpp = 8.0 * qh_packed_bytes(&p) / ((double)w->rows * w->cols);
    if (keep) *keep = p;
    else qh_packed_free(&p);
    qh_spec_free(spec);
    return out;
}

static qh_matrix roundtrip(const char *spec_text, const qh_matrix *w, double *bpp, qh_packed *keep)
{
    return roundtrip_calib(spec_text, w, bpp, keep, NULL);
}

START_TEST(every_method_round_trips)
{
    const qh_method *m = qh_methods[_i];
    char spec_text[256];
    /* parameters that must fit the small odd shapes below: rank <= 7 rows; dim 3 divides none of the widths */
    char fit[64] = "";
    for (const qh_param *p = m->params; p->name; p++) {
        if (strcmp(p->name, "rank") == 0) strcat(fit, " rank=2");
        if (strcmp(p->name, "dim") == 0) strcat(fit, " dim=3 k=16");
    }
    snprintf(spec_text, sizeof spec_text, "%s%s%s", m->name, fit, m->is_wrapper ? " + rtn bits=3" : "");
    qh_spec *spec;
    qh_err err;
    ck_assert_msg(qh_spec_parse(spec_text, &spec, &err) == 0, "%s", err.msg);
    /* the canonical form parses back to itself */
    char canon[512], again[512];
    qh_spec_canonical(spec, canon, sizeof canon);
    qh_spec *spec2;
    ck_assert_msg(qh_spec_parse(canon, &spec2, &err) == 0, "%s", err.msg);
    qh_spec_canonical(spec2, again, sizeof again);
    ck_assert_str_eq(canon, again);
    qh_spec_free(spec2);
    ck_assert(strlen(m->summary) > 10);
    /* odd shapes: a last group shorter than the others, rows not a multiple of anything */
    int shapes[3][2] = {{24, 200}, {7, 64}, {33, 130}};
    for (int s = 0; s < 3; s++) {
        qh_matrix w = random_matrix(shapes[s][0], shapes[s][1], 100u + (unsigned)s);
        qh_packed p = {0};
        double bpp;
        /* methods that need calibration get a diagonal-dominant Hessian of the right size */
        int nc = shapes[s][1];
        double *H = qh_calloc((size_t)nc * nc, sizeof(double));
        for (int a = 0; a < nc; a++)
            for (int b = 0; b < nc; b++) H[(size_t)a * nc + b] = a == b ? 2.0 + a % 3 : 0.3 / (1 + abs(a - b));
        qh_calib cal = {nc, H, 1000, 0};
        qh_matrix out = roundtrip_calib(canon, &w, &bpp, &p, qh_spec_needs_calibration(spec) ? &cal : NULL);
        free(H);
        double e = rel_error(&w, &out);
        ck_assert_msg(isfinite(e) && e < 1.0, "%s: relative error %g", canon, e);
        /* every part has a known kind, and bpp is the bytes of the parts */
        size_t bytes = 0;
        for (int i = 0; i < p.n_parts; i++) {
            ck_assert_msg(qh_part_kind_of(p.part[i].name) != QH_PART_KINDS, "%s: part '%s' has no kind", canon, p.part[i].name);
            bytes += p.part[i].bytes;
        }
        /* ... and they are what the format says (tu_format_bytes: written down apart from the code) */
        size_t expected = tu_format_bytes_given(canon, w.rows, w.cols, &p);
        ck_assert_msg(bytes == expected, "%s on %dx%d: parts take %zu bytes, the format %zu", canon, w.rows, w.cols, bytes,
                      expected);
        ck_assert_double_eq(bpp, 8.0 * expected / (w.rows * w.cols));
        /* a missing part is a clean error, not a crash */
        qh_packed broken = p;
        broken.n_parts--;
        ck_assert_int_eq(spec->method->decode(spec, &broken, &out, &err), -1);
        qh_packed_free(&p);
        free(w.data);
        free(out.data);
    }
    qh_spec_free(spec);
}
END_TEST

START_TEST(float_baselines)
{
    qh_matrix w = random_matrix(16, 48, 1);
    double bpp;
    qh_matrix o = roundtrip("fp32", &w, &bpp, NULL);
    ck_assert_int_eq(memcmp(o.data, w.data, 16 * 48 * 4), 0);
    ck_assert_double_eq(bpp, 32.0);
    free(o.data);
    o = roundtrip("fp16", &w, &bpp, NULL);
    ck_assert_double_eq(bpp, 16.0);
    for (int i = 0; i < 16 * 48; i++) ck_assert(fabsf(o.data[i] - w.data[i]) <= fabsf(w.data[i]) * 0x1p-11f + 1e-7f);
    free(o.data);
    o = roundtrip("bf16", &w, &bpp, NULL);
    for (int i = 0; i < 16 * 48; i++) ck_assert(fabsf(o.data[i] - w.data[i]) <= fabsf(w.data[i]) * 0x1p-8f);
    free(o.data);
    free(w.data);
}
END_TEST

START_TEST(rtn_error_bounds_and_bpp)
{
    qh_matrix w = random_matrix(32, 256, 2);
    double prev_err[2] = {0, 0};
    for (int bits = 2; bits <= 8; bits++)
        for (int asym = 0; asym <= 1; asym++) {
            char spec[64];
            snprintf(spec, sizeof spec, "rtn bits=%d group=64 scheme=%s", bits, asym ? "asym" : "sym");
            double bpp;
            qh_matrix o = roundtrip(spec, &w, &bpp, NULL);
            /* exact bytes: b-bit codes + an F16 scale per 64 (+ a b-bit zero point per 64) */
            ck_assert_double_eq_tol(bpp, bits + 16.0 / 64 + (asym ? bits / 64.0 : 0), 1e-12);
            for (int r = 0; r < 32; r++)
                for (int g = 0; g < 4; g++) {
                    float mx = 0, mn = 0, amax = 0;
                    for (int i = 0; i < 64; i++) {
                        float v = w.data[r * 256 + g * 64 + i];
                        mx = v > mx ? v : mx;
                        mn = v < mn ? v : mn;
                        amax = fabsf(v) > amax ? fabsf(v) : amax;
                    }
                    float step = asym ? (mx - mn) / ((1 << bits) - 1) : amax / ((1 << (bits - 1)) - 1);
                    /* sym: half a step (plus the F16 rounding of the scale);
                     * asym: the rounded zero point shifts the grid by up to half a step, so
                     * values at the edge of the range may be off by one step, inside by half */
                    float lo_grid = mn + 0.5f * step, hi_grid = mx - 0.5f * step;
                    for (int i = 0; i < 64; i++) {
                        int k = r * 256 + g * 64 + i;
                        float v = w.data[k], e = fabsf(o.data[k] - v);
                        float bound = (!asym || (v >= lo_grid && v <= hi_grid)) ? 0.5f * step : step;
                        ck_assert_msg(e <= bound * 1.002f + 1e-6f, "%s: error %g > %g", spec, e, bound);
                    }
                }
            /* one more bit halves the step: the error must fall by nearly 2x (from 4 bits on,
             * where clamping and rounding of the scale no longer dominate) */
            double e = rel_error(&w, &o);
            if (bits > 2) ck_assert_msg(e < prev_err[asym], "%s: error %g not below %g", spec, e, prev_err[asym]);
            if (bits > 4) ck_assert_msg(prev_err[asym] / e > 1.7, "%s: error ratio %g", spec, prev_err[asym] / e);
            prev_err[asym] = e;
            free(o.data);
        }
    /* per output channel: one scale per row */
    double bpp;
    qh_matrix o = roundtrip("rtn bits=4", &w, &bpp, NULL);
    ck_assert_double_eq_tol(bpp, 4 + 16.0 / 256, 1e-12);
    free(o.data);
    free(w.data);
}
END_TEST

START_TEST(nf4_and_fp4_use_their_levels)
{
    static const float nf4[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                                  -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                                  0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
                                  0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
    static const float fp4[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    qh_matrix w = random_matrix(8, 128, 3);
    double bpp;
    qh_matrix o = roundtrip("nf4 block=64", &w, &bpp, NULL);
    ck_assert_double_eq(bpp, 4.25);
    for (int b = 0; b < 16; b++) { /* each block: value / absmax is one of the 16 levels */
        float amax = 0;
        for (int i = 0; i < 64; i++) amax = fmaxf(amax, fabsf(w.data[b * 64 + i]));
        float s = qh_f16_round(amax);
        for (int i = 0; i < 64; i++) {
            float x = o.data[b * 64 + i] / s, best = 1e9f;
            for (int l = 0; l < 16; l++) best = fminf(best, fabsf(x - nf4[l]));
            ck_assert(best < 1e-6f);
        }
    }
    free(o.data);
    o = roundtrip("fp4 block=32", &w, &bpp, NULL);
    ck_assert_double_eq(bpp, 4.5);
    for (int b = 0; b < 32; b++) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(w.data[b * 32 + i]));
        float s = qh_f16_round(amax / 6);
        for (int i = 0; i < 32; i++) {
            float x = fabsf(o.data[b * 32 + i]) / s, best = 1e9f;
            for (int l = 0; l < 8; l++) best = fminf(best, fabsf(x - fp4[l]));
            ck_assert(best < 1e-5f);
        }
    }
    free(o.data);
    free(w.data);
}
END_TEST

START_TEST(binary_is_sign_times_mean_abs)
{
    qh_matrix w = random_matrix(12, 100, 4);
    double bpp;
    qh_matrix o = roundtrip("binary", &w, &bpp, NULL);
    ck_assert_double_eq(bpp, 8.0 * (qh_bits_bytes(1200, 1) + 12 * 2) / 1200);
    for (int r = 0; r < 12; r++) {
        double mean = 0;
        for (int c = 0; c < 100; c++) mean += fabsf(w.data[r * 100 + c]);
        float alpha = qh_f16_round((float)(mean / 100));
        for (int c = 0; c < 100; c++) {
            float v = w.data[r * 100 + c];
            ck_assert_float_eq(o.data[r * 100 + c], v >= 0 ? alpha : -alpha);
        }
    }
    free(o.data);
    free(w.data);
}
END_TEST

START_TEST(ternary_packs_five_trits_per_byte)
{
    qh_matrix w = random_matrix(10, 256, 5);
    double bpp;
    qh_matrix o = roundtrip("ternary", &w, &bpp, NULL);
    /* ceil(2560 / 5) = 512 code bytes = exactly 1.6 bits, + one F16 scale per row */
    ck_assert_double_eq_tol(bpp, 1.6 + 16.0 / 256, 1e-12);
    for (int r = 0; r < 10; r++) {
        double mean = 0;
        for (int c = 0; c < 256; c++) mean += fabsf(w.data[r * 256 + c]);
        float delta = 0.7f * (float)(mean / 256), alpha = 0;
        for (int c = 0; c < 256; c++) {
            float v = w.data[r * 256 + c], q = o.data[r * 256 + c];
            if (fabsf(v) <= delta) ck_assert_float_eq(q, 0.0f);
            else {
                ck_assert((q > 0) == (v > 0));
                if (alpha == 0) alpha = fabsf(q);
                ck_assert_float_eq(fabsf(q), alpha); /* one magnitude per row */
            }
        }
    }
    free(o.data);
    /* an odd count pads the last byte: 7 x 3 = 21 weights -> 5 bytes */
    qh_matrix s = random_matrix(7, 3, 6);
    o = roundtrip("ternary", &s, &bpp, NULL);
    ck_assert_double_eq_tol(bpp, 8.0 * (5 + 7 * 2) / 21, 1e-12);
    free(o.data);
    free(s.data);
    free(w.data);
}
END_TEST

START_TEST(residual_binary_error_falls_with_stages)
{
    qh_matrix w = random_matrix(16, 128, 7);
    double prev = 1e9, bpp;
    qh_matrix b1 = roundtrip("binary", &w, NULL, NULL);
    for (int k = 1; k <= 4; k++) {
        char spec[64];
        snprintf(spec, sizeof spec, "residual-binary k=%d", k);
        qh_matrix o = roundtrip(spec, &w, &bpp, NULL);
        double e = rel_error(&w, &o);
        ck_assert_msg(e < prev, "k=%d: error %g not below %g", k, e, prev);
        ck_assert_double_eq_tol(bpp, k * (1 + 16.0 / 128), 1e-12);
        if (k == 1) ck_assert_int_eq(memcmp(o.data, b1.data, 16 * 128 * 4), 0); /* one stage = binary */
        prev = e;
        free(o.data);
    }
    free(b1.data);
    free(w.data);
}
END_TEST

START_TEST(magnitude_recovery_recovers_rank1_magnitudes)
{
    /* |W| = a b^T exactly, with random signs: rank 1 must reconstruct it (up to F16) */
    int rows = 40, cols = 24;
    qh_matrix w = {rows, cols, qh_malloc((size_t)rows * cols * sizeof(float))};
    unsigned s = 9;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            s = s * 1664525u + 1013904223u;
            float mag = (0.5f + r % 5 * 0.1f) * (0.01f + c * 0.002f);
            w.data[r * cols + c] = (s >> 31) ? mag : -mag;
        }
    double bpp;
    qh_matrix o = roundtrip("magnitude-recovery rank=1", &w, &bpp, NULL);
    ck_assert(rel_error(&w, &o) < 2e-3);
    ck_assert_double_eq_tol(bpp, 1 + 16.0 * (rows + cols) / (rows * cols), 1e-12);
    free(o.data);
    /* the wide orientation goes through the other Gram matrix */
    qh_matrix wt = {cols, rows, qh_malloc((size_t)rows * cols * sizeof(float))};
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) wt.data[c * rows + r] = w.data[r * cols + c];
    o = roundtrip("magnitude-recovery", &wt, NULL, NULL);
    ck_assert(rel_error(&wt, &o) < 2e-3);
    free(o.data);
    /* on general weights, more rank never hurts */
    qh_matrix g = random_matrix(48, 64, 10);
    qh_matrix o1 = roundtrip("magnitude-recovery rank=1", &g, NULL, NULL);
    qh_matrix o4 = roundtrip("magnitude-recovery rank=4", &g, NULL, NULL);
    ck_assert(rel_error(&g, &o4) < rel_error(&g, &o1));
    qh_matrix bin = roundtrip("binary", &g, NULL, NULL);
    ck_assert(rel_error(&g, &o1) <= rel_error(&g, &bin) * 1.001); /* rank-1 magnitudes beat one scale per row */
    free(o1.data);
    free(o4.data);
    free(bin.data);
    free(g.data);
    free(wt.data);
    free(w.data);
}
END_TEST

START_TEST(outliers_keep_the_largest_exactly)
{
    qh_matrix w = random_matrix(20, 100, 11);
    size_t n = 2000, k = 40; /* frac 0.02 */
    double bpp, bpp_inner;
    qh_packed p;
    qh_matrix o = roundtrip("outliers frac=0.02 + binary", &w, &bpp, &p);
    qh_matrix inner = roundtrip("binary", &w, &bpp_inner, NULL);
    /* positions and values are counted: CSR offsets (U32 per row + 1), U16 columns, F16 values */
    ck_assert_double_eq_tol(bpp, 8.0 * (qh_bits_bytes(n, 1) + 20 * 2 + 21 * 4 + k * 2 + k * 2) / n, 1e-12);
    ck_assert(bpp > bpp_inner);
    float *mag = qh_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) mag[i] = fabsf(w.data[i]);
    size_t exact = 0;
    for (size_t i = 0; i < n; i++) {
        size_t larger = 0;
        for (size_t j = 0; j < n; j++) larger += mag[j] > mag[i];
        if (larger < k) {
            ck_assert_float_eq(o.data[i], qh_f16_round(w.data[i]));
            exact++;
        }
    }
    ck_assert_uint_eq(exact, k);
    ck_assert(rel_error(&w, &o) < rel_error(&w, &inner));
    qh_packed_free(&p);
    free(mag);
    free(inner.data);
    free(o.data);
    free(w.data);
}
END_TEST

/* H-weighted output error tr(D H D^T), D = W - W_hat */
/* H_ab = rho^|a - b| (n, n): inputs correlated with their neighbours, where error feedback matters */
static double *correlated_hessian(int n, double rho)
{
    double *H = qh_malloc((size_t)n * n * sizeof(double));
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) H[(size_t)a * n + b] = pow(rho, abs(a - b));
    return H;
}

static double output_error(const qh_matrix *a, const qh_matrix *b, const double *H)
{
    double total = 0;
    int n = a->cols;
    for (int r = 0; r < a->rows; r++)
        for (int i = 0; i < n; i++) {
            double di = (double)a->data[(size_t)r * n + i] - b->data[(size_t)r * n + i];
            for (int j = 0; j < n; j++) total += di * H[(size_t)i * n + j] * ((double)a->data[(size_t)r * n + j] - b->data[(size_t)r * n + j]);
        }
    return total;
}

START_TEST(billm_residual_binarization_beats_one_stage)
{
    /* by hand: x = 1 2 3 6; stage 1: m = 3, s = mean |x - 3| = 1.5, approx 1.5 1.5 4.5 4.5, error 0.25 + 0.25 + 2.25
     * + 2.25 = 5; stage 2 on the residual -0.5 0.5 -1.5 1.5: m = 0, s = 1, residual 0.5 -0.5 -0.5 0.5, error 1 */
    float x[4] = {1, 2, 3, 6}, approx[4] = {0}, means[2], scales[2];
    uint8_t cls[4] = {QH_BILLM_SALIENT, QH_BILLM_SALIENT, QH_BILLM_SALIENT, QH_BILLM_SALIENT}, signs[4] = {0};
    ck_assert_double_eq(qh_billm_binarize(x, cls, QH_BILLM_SALIENT, 1, 4, 1, 0, NULL, NULL, NULL, NULL), 5.0);
    ck_assert_double_eq(qh_billm_binarize(x, cls, QH_BILLM_SALIENT, 1, 4, 2, 1, approx, means, scales, signs), 1.0);
    ck_assert(means[0] == 3.0f && scales[0] == 1.5f && means[1] == 0.0f && scales[1] == 1.0f);
    float want[4] = {0.5f, 2.5f, 3.5f, 5.5f};
    uint8_t want_signs[4] = {0, 2, 1, 3}; /* bit 0: stage 1 positive, bit 1: stage 2 */
    for (int i = 0; i < 4; i++) ck_assert(approx[i] == want[i] && signs[i] == want_signs[i]);
    /* only the class's entries count */
    cls[3] = QH_BILLM_SMALL; /* 1 2 3: m = 2, s = 2/3; 2 sits on the mean and takes +: 4/3 8/3 8/3, error 6/9 */
    ck_assert_double_eq_tol(qh_billm_binarize(x, cls, QH_BILLM_SALIENT, 1, 4, 1, 0, NULL, NULL, NULL, NULL), 2.0 / 3, 1e-6);
    /* on bell-shaped weights a second stage removes most of what the first leaves */
    enum { R = 32, C = 128 };
    qh_matrix w = random_matrix(R, C, 11u);
    uint8_t *all = qh_malloc(R * C);
    memset(all, QH_BILLM_SALIENT, R * C);
    double total = 0, e1 = qh_billm_binarize(w.data, all, QH_BILLM_SALIENT, R, C, 1, 0, NULL, NULL, NULL, NULL),
           e2 = qh_billm_binarize(w.data, all, QH_BILLM_SALIENT, R, C, 2, 0, NULL, NULL, NULL, NULL);
    for (int i = 0; i < R * C; i++) total += (double)w.data[i] * w.data[i];
    ck_assert_msg(e1 < 0.6 * total && e2 < 0.6 * e1, "energy %g, one stage %g, two %g", total, e1, e2);
    free(all);
    free(w.data);
}
END_TEST

/* error of one-stage binarization of the groups |x| < t and |x| >= t, excluding salient entries */
static double split_error(const float *x, uint8_t *cls, int rows, int len, float t)
{
    for (int i = 0; i < rows * len; i++)
        if (cls[i] != QH_BILLM_SALIENT) cls[i] = fabsf(x[i]) >= t ? QH_BILLM_LARGE : QH_BILLM_SMALL;
    return qh_billm_binarize(x, cls, QH_BILLM_SMALL, rows, len, 1, 0, NULL, NULL, NULL, NULL) +
           qh_billm_binarize(x, cls, QH_BILLM_LARGE, rows, len, 1, 0, NULL, NULL, NULL, NULL);
}

START_TEST(billm_break_point_finds_the_optimum)
{
    /* two groups, +-1 and +-5, balanced in every row: any t in (1, 5] binarizes both exactly */
    enum { R = 8, L = 40 };
    float x[R * L];
    uint8_t cls[R * L];
    for (int i = 0; i < R * L; i++) x[i] = (float)((i % 4 < 2 ? 1 : 5) * (i % 2 ? -1 : 1));
    memset(cls, QH_BILLM_SMALL, sizeof cls);
    float t = qh_billm_split(x, cls, R, L);
    ck_assert_msg(t > 1 && t <= 5, "break point %g", t);
    for (int i = 0; i < R * L; i++) ck_assert_int_eq(cls[i], fabsf(x[i]) == 5 ? QH_BILLM_LARGE : QH_BILLM_SMALL);
    ck_assert_double_eq(split_error(x, cls, R, L, t), 0.0);
    /* a bell-shaped bulk (Laplace, scale 0.3) and 30% of larger weights (|x| in 1.5 .. 2.5), two salient columns left
     * out: within 3% of the best of every distinct threshold.  (The search's candidates are the 0.10 .. 0.90
     * quantiles, as in BiLLM: a split that isolates a rarer tail, 1% of outliers say, is out of its reach.) */
    enum { R2 = 16, L2 = 64 };
    qh_matrix w = {R2, L2, qh_malloc(R2 * L2 * sizeof(float))};
    unsigned seed = 5u;
    for (int i = 0; i < R2 * L2; i++) {
        seed = seed * 1664525u + 1013904223u;
        double u = ((seed >> 8) + 0.5) / 16777216.0;
        if (i % 10 < 3) w.data[i] = (float)((u < 0.5 ? -1 : 1) * (1.5 + 2 * fabs(u - 0.5)));
        else w.data[i] = (float)(0.3 * (u < 0.5 ? log(2 * u) : -log(2 * (1 - u))));
    }
    uint8_t *c2 = qh_malloc(R2 * L2);
    memset(c2, QH_BILLM_SMALL, R2 * L2);
    for (int r = 0; r < R2; r++) c2[r * L2 + 3] = c2[r * L2 + 40] = QH_BILLM_SALIENT;
    float found = qh_billm_split(w.data, c2, R2, L2);
    double e_found = split_error(w.data, c2, R2, L2, found), e_best = INFINITY;
    float t_best = 0;
    for (int i = 0; i < R2 * L2; i++)
        if (c2[i] != QH_BILLM_SALIENT) {
            double e = split_error(w.data, c2, R2, L2, fabsf(w.data[i]));
            if (e < e_best) e_best = e, t_best = fabsf(w.data[i]);
        }
    /* the exhaustive optimum lies between two of the candidates (its quantile 0.655): the grid's resolution costs 2% */
    ck_assert_msg(t_best > 0.5f && t_best < 1.2f, "exhaustive optimum at %g", t_best);
    ck_assert_msg(e_found <= 1.03 * e_best, "search %g, exhaustive %g", e_found, e_best);
    ck_assert_msg(e_found < 0.7 * split_error(w.data, c2, R2, L2, 0.0f), "two groups do no better than one");
    free(c2);
    free(w.data);
}
END_TEST

START_TEST(range_coder_round_trips_near_the_entropy)
{
    enum { N = 100000 };
    uint8_t *bits = qh_malloc(N);
    unsigned seed = 3u;
    size_t ones = 0;
    for (int i = 0; i < N; i++) {
        seed = seed * 1664525u + 1013904223u;
        bits[i] = (seed >> 8) % 10 == 0;
        ones += bits[i];
    }
    qh_rc_encoder e;
    qh_rc_prob p;
    qh_rc_encoder_init(&e);
    qh_rc_probs_init(&p, 1);
    for (int i = 0; i < N; i++) qh_rc_encode_bit(&e, &p, bits[i]);
    /* 4-bit symbols through a tree: the kind of stream an index coder writes */
    qh_rc_prob tree[15];
    qh_rc_probs_init(tree, 15);
    for (unsigned s = 0; s < 16; s++) qh_rc_encode_tree(&e, tree, 4, s * 7 % 16);
    qh_rc_encoder_finish(&e);
    /* the sample's own entropy: adaptation may cost a little over it, never much */
    double q = (double)ones / N, bound = N * -(q * log2(q) + (1 - q) * log2(1 - q)) / 8;
    ck_assert_msg(e.len > 0.98 * bound && e.len < 1.03 * bound + 16, "%zu bytes for %g bytes of entropy", e.len, bound);
    qh_rc_decoder d;
    qh_rc_decoder_init(&d, e.buf, e.len);
    qh_rc_probs_init(&p, 1);
    qh_rc_probs_init(tree, 15);
    for (int i = 0; i < N; i++) ck_assert_int_eq(qh_rc_decode_bit(&d, &p), bits[i]);
    for (unsigned s = 0; s < 16; s++) ck_assert_uint_eq(qh_rc_decode_tree(&d, tree, 4), s * 7 % 16);
    ck_assert_int_eq(qh_rc_decoder_check(&d), 0);
    /* one byte short, or one byte over: refused */
    qh_rc_decoder_init(&d, e.buf, e.len - 1);
    qh_rc_probs_init(&p, 1);
    for (int i = 0; i < N; i++) qh_rc_decode_bit(&d, &p);
    qh_rc_probs_init(tree, 15);
    for (unsigned s = 0; s < 16; s++) qh_rc_decode_tree(&d, tree, 4);
    ck_assert_int_eq(qh_rc_decoder_check(&d), -1);
    uint8_t *longer = qh_malloc(e.len + 1);
    memcpy(longer, e.buf, e.len);
    longer[e.len] = 0;
    qh_rc_decoder_init(&d, longer, e.len + 1);
    qh_rc_probs_init(&p, 1);
    for (int i = 0; i < N; i++) qh_rc_decode_bit(&d, &p);
    ck_assert_int_eq(qh_rc_decoder_check(&d), -1);
    free(longer);
    free(e.buf);
    free(bits);
}
END_TEST

/* The part of p named name (for a test to damage). */
static qh_part *part_named(qh_packed *p, const char *name)
{
    for (int i = 0; i < p->n_parts; i++)
        if (strcmp(p->part[i].name, name) == 0) return &p->part[i];
    ck_abort_msg("no part '%s'", name);
    return NULL;
}

/* Decoding p under spec_text fails, with an error that says want. */
static void expect_decode_error(const char *spec_text, const qh_packed *p, qh_matrix *o, const char *want)
{
    qh_spec *spec;
    qh_err err;
    ck_assert_int_eq(qh_spec_parse(spec_text, &spec, &err), 0);
    ck_assert_int_eq(spec->method->decode(spec, p, o, &err), -1);
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
    qh_spec_free(spec);
}

/* Flips random bytes of one part, many times: decode must return 0 or a clean -1, never read
 * outside its buffers (the sanitizer build runs this too). */
static void decode_survives_corruption(const char *spec_text, qh_packed *p, const char *part_name, int rows, int cols)
{
    qh_spec *spec;
    qh_err err;
    ck_assert_int_eq(qh_spec_parse(spec_text, &spec, &err), 0);
    qh_part *part = part_named(p, part_name);
    uint8_t *orig = qh_malloc(part->bytes), *data = part->data;
    memcpy(orig, data, part->bytes);
    qh_matrix o = {rows, cols, qh_malloc((size_t)rows * cols * sizeof(float))};
    unsigned seed = 77u;
    int refused = 0;
    for (int trial = 0; trial < 200; trial++) {
        memcpy(data, orig, part->bytes);
        for (int f = 0; f < 1 + trial % 4; f++) {
            seed = seed * 1664525u + 1013904223u;
            data[(seed >> 8) % part->bytes] ^= (uint8_t)(1u + (seed >> 24) % 255);
        }
        int rc = spec->method->decode(spec, p, &o, &err);
        ck_assert(rc == 0 || rc == -1);
        refused += rc == -1;
    }
    memcpy(data, orig, part->bytes);
    fprintf(stderr, "methods: %s, 200 corruptions of '%s': %d refused, the rest decoded to other weights\n", spec_text, part_name,
            refused);
    free(o.data);
    free(orig);
    qh_spec_free(spec);
}

START_TEST(billm_masks_round_trip_and_are_counted)
{
    enum { R = 48, C = 256 };
    qh_matrix w = random_matrix(R, C, 21u);
    double *H = qh_calloc((size_t)C * C, sizeof(double));
    for (int a = 0; a < C; a++)
        for (int b = 0; b < C; b++) H[(size_t)a * C + b] = a == b ? 2.0 + a % 5 : 0.6 / (1 + abs(a - b));
    qh_calib cal = {C, H, 1000, 0};
    double bpp_plain, bpp_coded;
    qh_packed pp, pc;
    qh_matrix op = roundtrip_calib("billm masks=plain", &w, &bpp_plain, &pp, &cal);
    qh_matrix oc = roundtrip_calib("billm masks=coded", &w, &bpp_coded, &pc, &cal);
    /* the same weights either way: only the group bitmap's form differs */
    ck_assert_mem_eq(op.data, oc.data, sizeof(float) * R * C);
    const qh_part *sal = qh_packed_find(&pp, "salient.mask"), *gp = qh_packed_find(&pp, "group.mask"),
                  *gc = qh_packed_find(&pc, "group.mask");
    int salient_cols = 0;
    for (int c = 0; c < C; c++) salient_cols += (((uint8_t *)sal->data)[c >> 3] >> (c & 7)) & 1;
    ck_assert_msg(salient_cols >= 2 && salient_cols <= 2 * 49, "%d salient columns", salient_cols);
    /* the plain group bitmap holds one bit per weight outside the salient columns */
    ck_assert_uint_eq(gp->bytes, ((size_t)R * (C - salient_cols) + 7) / 8);
    ck_assert_msg(gc->bytes <= gp->bytes + 8, "coded %zu bytes, plain %zu", gc->bytes, gp->bytes);
    /* what the paper counts (a bit per weight, two per salient weight) is below what is written */
    double paper = 1.0 + (double)salient_cols / C;
    /* (at block=128 the eight F16 means and scales per row and block are 1 bit per weight, the group bitmap nearly 1) */
    ck_assert_msg(bpp_plain > paper + 1.0 + 0.9, "plain masks %g bpp, the paper's count %g", bpp_plain, paper);
    ck_assert(bpp_coded <= bpp_plain);
    /* better than plain binarization with a scale per 128 weights, in the error the feedback minimises */
    qh_matrix ob = roundtrip("binary group=128", &w, NULL, NULL);
    ck_assert_msg(output_error(&w, &oc, H) < 0.6 * output_error(&w, &ob, H), "billm %g, binary %g", output_error(&w, &oc, H),
                  output_error(&w, &ob, H));
    decode_survives_corruption("billm masks=coded", &pc, "group.mask", R, C);
    decode_survives_corruption("billm masks=coded", &pc, "salient.mask", R, C);
    /* a coded mask cut short is refused by name */
    part_named(&pc, "group.mask")->bytes -= 2;
    expect_decode_error("billm masks=coded", &pc, &oc, "coded group mask");
    /* no salient columns: every weight in one of the two groups */
    qh_matrix o0 = roundtrip_calib("billm salient_max=0 masks=plain", &w, NULL, NULL, &cal);
    ck_assert(output_error(&w, &o0, H) > output_error(&w, &op, H));
    qh_packed_free(&pp);
    qh_packed_free(&pc);
    free(op.data);
    free(oc.data);
    free(ob.data);
    free(o0.data);
    free(H);
    free(w.data);
}
END_TEST

START_TEST(salomi_hvq_codes_its_indices_and_decodes_them)
{
    /* magnitudes of three sizes, the small ones in 80% of the tiles: a skewed index distribution */
    enum { R = 64, C = 128 };
    qh_matrix w = random_matrix(R, C, 31u);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            int tile = (r / 4) * (C / 4) + c / 4;
            w.data[(size_t)r * C + c] *= tile % 5 == 0 ? 4.0f : (tile % 5 == 1 ? 1.0f : 0.05f);
        }
    double *H = qh_calloc((size_t)C * C, sizeof(double));
    for (int a = 0; a < C; a++) H[(size_t)a * C + a] = 1.0 + a % 7;
    qh_calib cal = {C, H, 1000, 0};
    qh_packed pc, pp;
    double bpp_c, bpp_p;
    qh_matrix oc = roundtrip_calib("salomi-hvq k=16 indices=coded", &w, &bpp_c, &pc, &cal);
    qh_matrix op = roundtrip_calib("salomi-hvq k=16 indices=plain", &w, &bpp_p, &pp, &cal);
    ck_assert_mem_eq(oc.data, op.data, sizeof(float) * R * C);
    /* the coded stream takes about the indices' order-0 entropy, which is what SALOMI counts */
    enum { TILES = (R / 4) * (C / 4) };
    uint8_t idx[TILES];
    qh_bits_unpack(idx, qh_packed_find(&pp, "indices")->data, TILES, 4);
    int count[16] = {0};
    for (int t = 0; t < TILES; t++) count[idx[t]]++;
    double entropy_bytes = 0;
    for (int c = 0; c < 16; c++)
        if (count[c]) entropy_bytes -= count[c] * log2((double)count[c] / TILES) / 8;
    size_t coded = qh_packed_find(&pc, "indices")->bytes, plain = qh_packed_find(&pp, "indices")->bytes;
    ck_assert_uint_eq(plain, TILES / 2);
    ck_assert_msg(coded < plain && coded > 0.97 * entropy_bytes && coded < 1.15 * entropy_bytes + 16,
                  "coded %zu bytes, plain %zu, order-0 entropy %g", coded, plain, entropy_bytes);
    ck_assert(bpp_c < bpp_p);
    /* the decoded signs are W's, and the shift restores W's mean */
    double mw = 0, mo = 0;
    for (int i = 0; i < R * C; i++) {
        mw += w.data[i];
        mo += oc.data[i];
    }
    ck_assert_msg(fabs(mw - mo) < 1e-4 * R * C * 0.02, "mean %g, decoded %g", mw / (R * C), mo / (R * C));
    decode_survives_corruption("salomi-hvq k=16 indices=coded", &pc, "indices", R, C);
    /* a stream cut short, and an index outside the codebook, are refused by name */
    part_named(&pc, "indices")->bytes -= 3;
    expect_decode_error("salomi-hvq k=16 indices=coded", &pc, &oc, "coded index stream");
    ((uint8_t *)part_named(&pp, "indices")->data)[0] = 0xff; /* index 15 of a 12-entry codebook */
    qh_part *cb = part_named(&pp, "codebook");
    cb->bytes = 2 * 12 * 16, cb->shape[0] = 12;
    expect_decode_error("salomi-hvq k=12 indices=plain", &pp, &op, "outside the codebook of 12");
    qh_packed_free(&pc);
    qh_packed_free(&pp);
    free(oc.data);
    free(op.data);
    free(H);
    free(w.data);
}
END_TEST

START_TEST(salomi_lowrank_corrects_the_binary_residual)
{
    enum { R = 40, C = 96 };
    qh_matrix w = random_matrix(R, C, 41u);
    /* binary with one scale for the matrix, by hand */
    double sum = 0, e_bin = 0;
    for (int i = 0; i < R * C; i++) sum += fabsf(w.data[i]);
    float scale = (float)(sum / (R * C));
    for (int i = 0; i < R * C; i++) {
        double d = w.data[i] - (w.data[i] >= 0 ? scale : -scale);
        e_bin += d * d;
    }
    double e[3];
    int ranks[3] = {1, 8, 40};
    for (int k = 0; k < 3; k++) {
        char spec[64];
        snprintf(spec, sizeof spec, "salomi-lowrank rank=%d weighted=0", ranks[k]);
        qh_matrix o = roundtrip(spec, &w, NULL, NULL);
        e[k] = 0;
        for (int i = 0; i < R * C; i++) e[k] += ((double)w.data[i] - o.data[i]) * (w.data[i] - o.data[i]);
        free(o.data);
    }
    /* full rank leaves only the INT8 rounding of the factors */
    ck_assert_msg(e[0] < e_bin && e[1] < e[0] && e[2] < 0.01 * e_bin, "binary %g, rank 1 %g, 8 %g, 40 %g", e_bin, e[0], e[1], e[2]);
    free(w.data);
}
END_TEST

START_TEST(hadamard_is_orthogonal_and_inverts)
{
    /* Paley's matrices: +-1 entries, H H^T = m I */
    int ms[2] = {12, 20};
    for (int t = 0; t < 2; t++) {
        int m = ms[t];
        const int8_t *H = qh_hadamard_small(m);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                ck_assert(H[i * m + j] == 1 || H[i * m + j] == -1);
                int dot = 0;
                for (int c = 0; c < m; c++) dot += H[i * m + c] * H[j * m + c];
                ck_assert_int_eq(dot, i == j ? m : 0);
            }
    }
    /* the whole transform as a matrix (its images of the unit vectors): orthogonal, and for
     * n = 24 the Kronecker product H_12 (x) H_2 / sqrt(24) entry by entry */
    int sizes[4] = {8, 24, 40, 256};
    for (int t = 0; t < 4; t++) {
        int n = sizes[t];
        float *M = qh_calloc((size_t)n * n, sizeof(float)); /* column j = H e_j */
        for (int j = 0; j < n; j++) {
            float *e = qh_calloc((size_t)n, sizeof(float));
            e[j] = 1;
            ck_assert_int_eq(qh_hadamard(e, n), 0);
            for (int i = 0; i < n; i++) M[(size_t)i * n + j] = e[i];
            free(e);
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double dot = 0;
                for (int c = 0; c < n; c++) dot += (double)M[(size_t)i * n + c] * M[(size_t)j * n + c];
                ck_assert_msg(fabs(dot - (i == j)) < 1e-5, "n=%d (H H^T)_%d,%d = %g", n, i, j, dot);
            }
        if (n == 24) {
            const int8_t *H12 = qh_hadamard_small(12);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    int h2 = (i % 2 && j % 2) ? -1 : 1;
                    ck_assert_float_eq_tol(M[(size_t)i * n + j], H12[(i / 2) * 12 + j / 2] * h2 / sqrtf(24), 1e-6f);
                }
        }
        free(M);
    }
    /* random vectors, the default model's widths among them: the norm kept, the inverse exact to rounding;
     * a power of two is its own inverse */
    int widths[6] = {256, 768, 1024, 20, 12 * 16, 2};
    for (int t = 0; t < 6; t++) {
        int n = widths[t];
        qh_matrix v = random_matrix(1, n, 9u + (unsigned)t);
        float *y = qh_malloc((size_t)n * sizeof(float));
        memcpy(y, v.data, (size_t)n * sizeof(float));
        uint8_t signs[128];
        for (int i = 0; i < 128; i++) signs[i] = (uint8_t)(i * 37 + 11);
        double n0 = 0, n1 = 0, back = 0;
        ck_assert_int_eq(qh_rht(y, n, signs), 0);
        for (int i = 0; i < n; i++) n0 += (double)v.data[i] * v.data[i], n1 += (double)y[i] * y[i];
        ck_assert_msg(fabs(n1 - n0) <= 1e-5 * n0, "n=%d: norm^2 %g -> %g", n, n0, n1);
        ck_assert_int_eq(qh_rht_inverse(y, n, signs), 0);
        for (int i = 0; i < n; i++) back = fmax(back, fabs(y[i] - v.data[i]));
        ck_assert_msg(back < 1e-6, "n=%d: inverse off by %g", n, back);
        if (qh_hadamard_factor(n) == 1) {
            memcpy(y, v.data, (size_t)n * sizeof(float));
            qh_hadamard(y, n);
            qh_hadamard(y, n);
            for (int i = 0; i < n; i++) ck_assert_float_eq_tol(y[i], v.data[i], 1e-6f);
        }
        free(y);
        free(v.data);
    }
    /* sizes without the form m 2^k are refused and left alone */
    float x[36] = {1};
    ck_assert_int_eq(qh_hadamard_factor(36), 0);
    ck_assert_int_eq(qh_hadamard(x, 36), -1);
    ck_assert_int_eq(qh_hadamard_factor(768), 12);
    ck_assert(x[0] == 1);
}
END_TEST

/* RTN on each row's grid (scale and zero point per row), column by column, for qh_ldlq */
typedef struct {
    const float *scale;
    const int *zero;
    int bits, rows, cols;
    float *out; /* (rows, cols): the quantized weights as chosen */
} rtn_ctx;

static int rtn_columns(void *vctx, int c0, int b, const float *in, float *q)
{
    rtn_ctx *c = vctx;
    for (int j = 0; j < b; j++)
        for (int r = 0; r < c->rows; r++) {
            uint8_t code = qh_rtn_code(in[(size_t)j * c->rows + r], c->scale[r], c->zero[r], c->bits, 0);
            q[(size_t)j * c->rows + r] = ((float)code - (float)c->zero[r]) * c->scale[r];
            c->out[(size_t)r * c->cols + c0 + j] = q[(size_t)j * c->rows + r];
        }
    return 0;
}

START_TEST(ldlq_with_block_one_is_gptq)
{
    enum { R = 24, C = 200 };
    qh_matrix w = random_matrix(R, C, 17u);
    double *H = correlated_hessian(C, 0.9); /* correlated inputs: feedback matters */
    qh_calib cal = {C, H, 1000, 0};
    /* gptq with one group per row: static grids from the original rows */
    qh_matrix g = roundtrip_calib("gptq bits=3 group=0 scheme=sym", &w, NULL, NULL, &cal);
    float scale[R], *U = qh_malloc((size_t)C * C * sizeof(float)), *Wt = qh_malloc((size_t)R * C * sizeof(float));
    int zero[R];
    for (int r = 0; r < R; r++) qh_rtn_group_params(w.data + (size_t)r * C, C, 3, 0, &scale[r], &zero[r]);
    qh_err err;
    ck_assert_int_eq(qh_gptq_hinv_factor(H, C, 0.01, U, &err), 0);
    double e_block[3];
    int blocks[3] = {1, 4, 8};
    for (int t = 0; t < 3; t++) {
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) Wt[(size_t)c * R + r] = w.data[(size_t)r * C + c];
        rtn_ctx ctx = {scale, zero, 3, R, C, qh_malloc((size_t)R * C * sizeof(float))};
        ck_assert_int_eq(qh_ldlq(U, C, R, blocks[t], 128, Wt, rtn_columns, &ctx), 0);
        qh_matrix q = {R, C, ctx.out};
        if (blocks[t] == 1) ck_assert_mem_eq(q.data, g.data, sizeof(float) * R * C); /* operation for operation */
        e_block[t] = output_error(&w, &q, H);
        free(ctx.out);
    }
    /* every block size beats rounding without feedback by far; blocks of 4 and 8 feed their error back later
     * than single columns do, which costs them here, where each column is still rounded alone (a joint
     * vector quantizer is what blocks are for) */
    qh_matrix plain = roundtrip("rtn bits=3 group=0 scheme=sym", &w, NULL, NULL);
    double e_rtn = output_error(&w, &plain, H);
    fprintf(stderr, "methods: ldlq output error b=1 %g, b=4 %g, b=8 %g, rtn %g\n", e_block[0], e_block[1], e_block[2], e_rtn);
    ck_assert_msg(e_block[0] < 0.8 * e_rtn && e_block[1] < 0.8 * e_rtn && e_block[2] < 0.8 * e_rtn, "ldlq b=1 %g, b=4 %g, b=8 %g, rtn %g", e_block[0],
                  e_block[1], e_block[2], e_rtn);
    free(plain.data);
    free(g.data);
    free(U);
    free(Wt);
    free(H);
    free(w.data);
}
END_TEST

START_TEST(gridvq_nearest_point_is_brute_force)
{
    /* random vectors at the scale the encoder sees (w / s: mostly inside the grid's range) and
     * random importance weights: the signed grids' search is exact; iq1s's neighbour lists
     * (llama.cpp's) are a heuristic, measured against all 2048 points */
    const char *names[4] = {"iq1s", "iq2xxs", "iq2xs", "iq3xxs"};
    float spread[4] = {0.8f, 2.5f, 2.5f, 3.5f};
    for (int t = 0; t < 4; t++) { /* brute force over every sign pattern is slow: iq3xxs has 2^16 x 2^7 points */
        int grid = qh_gridvq_grid_index(names[t]), trials = t == 0 ? 3000 : t < 3 ? 1000 : 12, same = 0;
        ck_assert_int_ge(grid, 0);
        qh_matrix y = random_matrix(trials, 8, 300u + (unsigned)t), h = random_matrix(trials, 8, 400u + (unsigned)t);
        double excess = 0, total = 0;
        for (int k = 0; k < trials; k++) {
            float yk[8], hk[8], v[8], vb[8];
            for (int i = 0; i < 8; i++) yk[i] = spread[t] * y.data[8 * k + i] / 0.02f, hk[i] = 0.05f + fabsf(h.data[8 * k + i]) / 0.02f;
            qh_gridvq_nearest(grid, yk, hk, v);
            qh_gridvq_nearest_brute(grid, yk, hk, vb);
            double d = 0, db = 0;
            for (int i = 0; i < 8; i++) d += hk[i] * (yk[i] - v[i]) * (yk[i] - v[i]), db += hk[i] * (yk[i] - vb[i]) * (yk[i] - vb[i]);
            ck_assert_msg(d >= db - 1e-5 * (1 + db), "%s: the search beat brute force (%g < %g)", names[t], d, db);
            same += d <= db + 1e-5 * (1 + db);
            excess += d - db, total += db;
        }
        fprintf(stderr, "methods: gridvq %s nearest point = brute force in %d of %d, weighted error %.4f%% above it\n", names[t], same, trials,
                100 * excess / total);
        if (t > 0) ck_assert_int_eq(same, trials);
        else ck_assert_msg(same > 0.95 * trials && excess < 0.01 * total, "iq1s: %d of %d, excess %g of %g", same, trials, excess, total);
        free(y.data);
        free(h.data);
    }
    ck_assert_int_eq(qh_gridvq_grid_index("e8"), -1);
}
END_TEST

START_TEST(gridvq_layouts_and_feedback)
{
    enum { R = 32, C = 256 };
    qh_matrix w = random_matrix(R, C, 61u);
    double *H = correlated_hessian(C, 0.9);
    qh_calib cal = {C, H, 1000, 0};
    /* llama.cpp's layouts to the bit: IQ1_S 1.5625, IQ2_XXS 2.0625, IQ2_XS 2.3125, IQ3_XXS 3.0625 (and sub-blocks of 16) */
    const char *specs[5] = {"gridvq feedback=0 inflate=1", "gridvq grid=iq2xxs scale_bits=4 feedback=0", "gridvq grid=iq2xs scale_bits=4 sub=16 feedback=0",
                            "gridvq sub=16 feedback=0", "gridvq grid=iq3xxs scale_bits=4 feedback=0"};
    double want[5] = {1.5625, 2.0625, 2.0 + 4.0 / 16 + 16.0 / 256, 11.0 / 8 + 4.0 / 16 + 16.0 / 256, 3.0625}, e0[5];
    for (int t = 0; t < 5; t++) {
        double bpp;
        qh_matrix o = roundtrip_calib(specs[t], &w, &bpp, NULL, &cal);
        ck_assert_msg(bpp == want[t], "%s: %g bpp", specs[t], bpp);
        e0[t] = output_error(&w, &o, H);
        free(o.data);
    }
    /* more bits, less error */
    ck_assert_msg(e0[1] < e0[0] && e0[2] < e0[1] && e0[3] < e0[0] && e0[4] < e0[2], "output errors %g %g %g %g %g", e0[0], e0[1], e0[2], e0[3], e0[4]);
    /* LDLQ feedback on strongly correlated inputs: a vector at a time it cuts the output error by
     * far; a sub-block (32) at a time, searched without the block's correlations, it does not
     * (the default model's Hessians are far less correlated, and there feedback=1 does best) */
    double bpp1, bpp2;
    qh_matrix o1 = roundtrip_calib("gridvq feedback=1 inflate=1", &w, &bpp1, NULL, &cal);
    qh_matrix o2 = roundtrip_calib("gridvq feedback=2 inflate=1", &w, &bpp2, NULL, &cal);
    double e1 = output_error(&w, &o1, H), e2 = output_error(&w, &o2, H);
    fprintf(stderr, "methods: gridvq iq1s output error %g without feedback, %g a sub-block at a time, %g a vector at a time; iq2xxs %g\n", e0[0],
            e1, e2, e0[1]);
    ck_assert_msg(e2 < 0.5 * e0[0], "output error without feedback %g, a vector at a time %g", e0[0], e2);
    ck_assert_msg(isfinite(e1) && e1 < 3 * e0[0], "a sub-block at a time %g", e1);
    ck_assert_double_eq(bpp1, 1.5625);
    ck_assert_double_eq(bpp2, 1.5625);
    free(o1.data);
    free(o2.data);
    /* the full Hessian is needed for feedback */
    qh_calib diag = {C, H, 1000, 1};
    qh_spec *spec;
    qh_err err;
    qh_packed p = {0};
    ck_assert_int_eq(qh_spec_parse("gridvq feedback=1", &spec, &err), 0);
    ck_assert_int_eq(spec->method->encode(spec, &w, &diag, &p, &err), -1);
    qh_packed_free(&p);
    qh_spec_free(spec);
    free(H);
    free(w.data);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(e8p_codebook_and_its_nearest_point)
{
    /* QuIP#'s construction: 227 absolute vectors from D8 + 1/2 within norm^2 10, 29 more, and
     * 2^16 distinct points, each a half-integer vector shifted by +-1/4 with an even number of
     * negative signs */
    ck_assert_int_eq(qh_e8p_abs_count(), 227);
    uint64_t *keys = qh_malloc(65536 * sizeof(uint64_t));
    for (int code = 0; code < 65536; code++) {
        float v[8];
        qh_e8p_point(code, v);
        uint64_t key = 0;
        float shift = v[0] - floorf(v[0]); /* 0.25 or 0.75: +1/4 or -1/4 off a half-integer */
        ck_assert(shift == 0.25f || shift == 0.75f);
        for (int i = 0; i < 8; i++) {
            ck_assert(v[i] - floorf(v[i]) == shift);
            key = key << 6 | (uint64_t)(int)(4 * v[i] + 16);
        }
        keys[code] = key;
    }
    qsort(keys, 65536, sizeof(uint64_t), cmp_u64);
    for (int i = 1; i < 65536; i++) ck_assert_msg(keys[i] != keys[i - 1], "two codes decode to the same point");
    free(keys);
    /* the exact search (2 x 256 candidates) against all 65,536 points, at the scales the encoder sees */
    qh_matrix y = random_matrix(400, 8, 77u);
    for (int k = 0; k < 400; k++) {
        float yk[8], a[8], b[8];
        for (int i = 0; i < 8; i++) yk[i] = (k % 4 + 1) * 0.4f * y.data[8 * k + i] / 0.02f;
        qh_e8p_point(qh_e8p_nearest(yk), a);
        qh_e8p_point(qh_e8p_nearest_brute(yk), b);
        double da = 0, db = 0;
        for (int i = 0; i < 8; i++) da += (yk[i] - a[i]) * (yk[i] - a[i]), db += (yk[i] - b[i]) * (yk[i] - b[i]);
        ck_assert_msg(fabs(da - db) <= 1e-5 * (1 + db), "vector %d: search %g, brute force %g", k, da, db);
    }
    free(y.data);
}
END_TEST

START_TEST(blocked_hadamard_any_size)
{
    /* sizes with no Hadamard matrix here: block-diagonal over the largest divisor that has one
     * (2304 = 3 x 768, 172 = 43 x 4, 130 = 65 x 2), orthogonal and inverted exactly */
    int sizes[4] = {2304, 172, 130, 768}, blocks[4] = {768, 4, 2, 768};
    for (int t = 0; t < 4; t++) {
        int n = sizes[t];
        ck_assert_int_eq(qh_hadamard_block(n), blocks[t]);
        qh_matrix v = random_matrix(1, n, 5u + (unsigned)t);
        float *x = qh_malloc((size_t)n * sizeof(float));
        memcpy(x, v.data, (size_t)n * sizeof(float));
        uint8_t signs[512];
        for (int i = 0; i < 512; i++) signs[i] = (uint8_t)(i * 73 + 5);
        double n0 = 0, n1 = 0, back = 0;
        for (int i = 0; i < n; i++) n0 += (double)x[i] * x[i];
        ck_assert_int_eq(qh_rht_blocked(x, n, signs, 0), 0);
        for (int i = 0; i < n; i++) n1 += (double)x[i] * x[i];
        ck_assert_int_eq(qh_rht_blocked(x, n, signs, 1), 0);
        for (int i = 0; i < n; i++) back = fmax(back, fabs(x[i] - v.data[i]));
        ck_assert_msg(fabs(n1 - n0) < 1e-5 * n0 && back < 1e-6, "n=%d: norm %g -> %g, inverse off by %g", n, n0, n1, back);
        free(x);
        free(v.data);
    }
}
END_TEST

START_TEST(quipsharp_incoherence_and_feedback)
{
    /* correlated inputs and one outlier input: the bytes are 2 bits per weight, a sign per row and
     * per input and a scale; LDLQ on the transformed Hessian lowers the output error (without the
     * incoherence it does not, here: printed) */
    enum { R = 48, C = 256 };
    qh_matrix w = random_matrix(R, C, 91u);
    double *H = qh_calloc((size_t)C * C, sizeof(double));
    for (int a = 0; a < C; a++)
        for (int b = 0; b < C; b++) H[(size_t)a * C + b] = pow(0.7, abs(a - b)) * (a == 3 && b == 3 ? 50 : 1);
    qh_calib cal = {C, H, 1000, 0};
    double bpp[3], e[3];
    const char *specs[3] = {"quipsharp feedback=0", "quipsharp", "quipsharp incoherence=0"};
    for (int t = 0; t < 3; t++) {
        qh_matrix o = roundtrip_calib(specs[t], &w, &bpp[t], NULL, &cal);
        e[t] = output_error(&w, &o, H);
        free(o.data);
    }
    fprintf(stderr, "methods: quipsharp output error %g without feedback, %g with, %g with and no incoherence\n", e[0], e[1], e[2]);
    ck_assert_double_eq(bpp[0], 8.0 * (2.0 * R * C / 8 + R / 8 + C / 8 + 4) / (R * C));
    ck_assert_msg(e[1] < 0.8 * e[0], "output error %g without feedback, %g with", e[0], e[1]);
    free(H);
    free(w.data);
}
END_TEST

START_TEST(aqlm_objective_never_increases)
{
    /* every step of every round (codes, codebooks, scales) on correlated inputs: the output error
     * tr((W - W^) H (W - W^)^T) never rises, and it ends well below the initial residual k-means */
    enum { R = 40, C = 64, M = 2, B = 4, ITERS = 3 };
    qh_matrix w = random_matrix(R, C, 23u);
    float *H = qh_malloc((size_t)C * C * sizeof(float)), *cb = qh_malloc((size_t)M * (1 << B) * 8 * sizeof(float)), s[R];
    for (int a = 0; a < C; a++)
        for (int b = 0; b < C; b++) H[(size_t)a * C + b] = (float)pow(0.8, abs(a - b)) + (a == b ? 0.01f : 0.0f);
    uint16_t *codes = qh_malloc((size_t)R * (C / 8) * M * sizeof(uint16_t));
    double obj[1 + 3 * ITERS];
    int n = qh_aqlm_fit(w.data, H, R, C, M, B, ITERS, 10, 1, cb, s, codes, obj);
    ck_assert_int_eq(n, 1 + 3 * ITERS);
    for (int i = 1; i < n; i++) {
        fprintf(stderr, "%s%.6g", i == 1 ? "methods: aqlm objective " : ", ", obj[i]);
        ck_assert_msg(obj[i] <= obj[i - 1] * (1 + 1e-5), "step %d: %g after %g", i, obj[i], obj[i - 1]);
    }
    fprintf(stderr, " (k-means start %.6g)\n", obj[0]);
    ck_assert_msg(obj[n - 1] < 0.9 * obj[0], "%g from %g", obj[n - 1], obj[0]);
    free(H);
    free(cb);
    free(codes);
    free(w.data);
}
END_TEST

START_TEST(salomi_hvq_feedback_lowers_the_output_error)
{
    enum { R = 32, C = 96 };
    qh_matrix w = random_matrix(R, C, 51u);
    double *H = correlated_hessian(C, 0.9);
    qh_calib cal = {C, H, 1000, 0};
    double bpp0, bpp1;
    qh_matrix o0 = roundtrip_calib("salomi-hvq k=16 indices=plain feedback=0", &w, &bpp0, NULL, &cal);
    qh_matrix o1 = roundtrip_calib("salomi-hvq k=16 indices=plain feedback=1", &w, &bpp1, NULL, &cal);
    double e0 = output_error(&w, &o0, H), e1 = output_error(&w, &o1, H);
    ck_assert_msg(e1 < 0.8 * e0, "output error without feedback %g, with %g", e0, e1);
    ck_assert_double_eq(bpp0, bpp1); /* the same format */
    /* an importance matrix (its diagonal only) cannot drive the feedback */
    qh_calib diag = {C, H, 1000, 1};
    qh_spec *spec;
    qh_err err;
    qh_packed p = {0};
    ck_assert_int_eq(qh_spec_parse("salomi-hvq feedback=1", &spec, &err), 0);
    ck_assert_int_eq(spec->method->encode(spec, &w, &diag, &p, &err), -1);
    ck_assert_msg(strstr(err.msg, "needs the full input Hessian"), "%s", err.msg);
    qh_packed_free(&p);
    qh_spec_free(spec);
    free(o0.data);
    free(o1.data);
    free(H);
    free(w.data);
}
END_TEST

START_TEST(pb_llm_keeps_the_salient_fraction_and_counts_the_mask)
{
    enum { R = 16, C = 256 };
    qh_matrix w = random_matrix(R, C, 7u);
    double *H = qh_calloc((size_t)C * C, sizeof(double));
    for (int a = 0; a < C; a++) H[(size_t)a * C + a] = 1.0;
    qh_calib cal = {C, H, 1000, 0};
    double bpp;
    qh_packed p;
    /* H = I: no feedback, salience is |w|, so the salient weights are the 10% largest |w| of each 128 columns */
    qh_matrix o = roundtrip_calib("pb-llm frac=0.1 bits=8 group=128", &w, &bpp, &p, &cal);
    int salient = 0;
    float step[R]; /* each row's 8-bit grid step: min/max of the whole row */
    for (int r = 0; r < R; r++) {
        float mn = 0, mx = 0;
        for (int c = 0; c < C; c++) mn = fminf(mn, w.data[(size_t)r * C + c]), mx = fmaxf(mx, w.data[(size_t)r * C + c]);
        step[r] = (mx - mn) / 255;
    }
    for (int g = 0; g < 2; g++) {
        /* the group's k = round(0.1 x 16 x 128) = 205 largest |w| */
        float *mags = qh_malloc(R * 128 * sizeof(float));
        for (int r = 0; r < R; r++)
            for (int c = 0; c < 128; c++) mags[r * 128 + c] = fabsf(w.data[(size_t)r * C + g * 128 + c]);
        qsort(mags, R * 128, sizeof(float), qh_cmp_float_desc);
        float thr = mags[204];
        free(mags);
        for (int r = 0; r < R; r++) {
            double sum = 0, dev = 0;
            int cnt = 0;
            for (int c = g * 128; c < g * 128 + 128; c++)
                if (fabsf(w.data[(size_t)r * C + c]) < thr) sum += w.data[(size_t)r * C + c], cnt++;
            double m = sum / cnt;
            for (int c = g * 128; c < g * 128 + 128; c++)
                if (fabsf(w.data[(size_t)r * C + c]) < thr) dev += fabs(w.data[(size_t)r * C + c] - m);
            double a = dev / cnt;
            for (int c = g * 128; c < g * 128 + 128; c++) {
                float x = w.data[(size_t)r * C + c], y = o.data[(size_t)r * C + c];
                if (fabsf(x) >= thr) { /* salient: on the row's 8-bit grid (within a step: the zero point is rounded) */
                    salient++;
                    ck_assert_msg(fabsf(x - y) <= step[r] * 1.01f + 1e-6f, "salient w=%g decoded %g (step %g)", x, y, step[r]);
                } else { /* binarized: mean +- mean |w - mean| of the group's other weights, in F16 */
                    double want = x >= m ? m + a : m - a;
                    ck_assert_msg(fabs(y - want) <= 2e-3 * fabs(want) + 1e-5, "binarized w=%g decoded %g, want %g", x, y, want);
                }
            }
        }
    }
    ck_assert_int_eq(salient, 2 * 205);
    /* the bytes: 1 bit of mask per weight on top of the paper's 0.9 x 1 + 0.1 x 8 = 1.7 bits, plus scales */
    const qh_part *mask = qh_packed_find(&p, "mask");
    ck_assert_ptr_nonnull(mask);
    ck_assert_uint_eq(mask->bytes, R * C / 8);
    ck_assert_msg(bpp > 1.7 + 1.0 + 32.0 / 128, "pb-llm 10%% at 8 bits takes %g bpp", bpp);
    /* a mask that marks one weight too many is refused, not decoded into a shifted stream */
    qh_spec *spec;
    qh_err err;
    ck_assert_int_eq(qh_spec_parse("pb-llm frac=0.1 bits=8 group=128", &spec, &err), 0);
    uint8_t *mb = mask->data;
    for (int i = 0; i < R * C; i++)
        if (!((mb[i >> 3] >> (i & 7)) & 1)) {
            mb[i >> 3] |= (uint8_t)(1u << (i & 7));
            break;
        }
    ck_assert_int_eq(spec->method->decode(spec, &p, &o, &err), -1);
    ck_assert_msg(strstr(err.msg, "mask marks 411 salient weights, the parameters say 410"), "%s", err.msg);
    qh_spec_free(spec);
    qh_packed_free(&p);
    free(o.data);
    /* with a correlated Hessian, salient weights lower the output error of binarization */
    for (int a = 0; a < C; a++)
        for (int b = 0; b < C; b++) H[(size_t)a * C + b] = a == b ? 2.0 + a % 5 : 0.6 / (1 + abs(a - b));
    qh_matrix o0 = roundtrip_calib("pb-llm frac=0", &w, NULL, NULL, &cal);
    qh_matrix o1 = roundtrip_calib("pb-llm frac=0.1", &w, NULL, NULL, &cal);
    double e0 = output_error(&w, &o0, H), e1 = output_error(&w, &o1, H);
    ck_assert_msg(e1 < 0.8 * e0, "output error %g with 10%% salient, %g without", e1, e0);
    free(o0.data);
    free(o1.data);
    /* frac = 1: nothing binarized, every weight on its row's 8-bit grid (no signs written) */
    double bpp_all;
    qh_matrix o2 = roundtrip_calib("pb-llm frac=1", &w, &bpp_all, NULL, &cal);
    ck_assert_msg(rel_error(&w, &o2) < 0.02, "frac=1: relative error %g", rel_error(&w, &o2));
    ck_assert_double_eq(bpp_all, 8.0 * (R * C / 8 + R * C + 4 * R * 2 + 2 * R + R) / (R * C));
    free(o2.data);
    free(H);
    free(w.data);
}
END_TEST

START_TEST(spec_errors)
{
    struct { const char *spec, *msg; } bad[] = {
        {"gptq9 bits=3", "unknown method 'gptq9'"},
        {"rtn bitz=3", "method 'rtn' has no parameter 'bitz' (parameters: bits, group, scheme)"},
        {"rtn bits=9", "method 'rtn': bits=9 is out of range [2, 8]"},
        {"rtn bits=1", "bits=1 is out of range [2, 8]"},
        {"rtn bits=2.5", "bits=2.5 must be an integer"},
        {"rtn bits=three", "bits='three' is not a number"},
        {"rtn scheme=skewed", "scheme='skewed' must be one of sym|asym"},
        {"rtn bits=3 bits=4", "parameter 'bits' given twice"},
        {"rtn bits", "'bits' is not NAME=VALUE"},
        {"outliers frac=0.01", "method 'outliers' wraps another method"},
        {"rtn bits=3 + binary", "method 'rtn' is not a wrapper"},
        {"outliers frac=0.9 + rtn", "frac=0.9 is out of range [0, 0.5]"},
        {"outliers + nope", "unknown method 'nope'"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        qh_spec *s;
        qh_err err;
        ck_assert_msg(qh_spec_parse(bad[i].spec, &s, &err) == -1, "'%s' was accepted", bad[i].spec);
        ck_assert_msg(strstr(err.msg, bad[i].msg), "'%s': '%s' lacks '%s'", bad[i].spec, err.msg, bad[i].msg);
    }
    qh_spec *s;
    qh_err err;
    ck_assert_int_eq(qh_spec_parse("outliers frac=0.005 + rtn scheme=asym bits=2", &s, &err), 0);
    char canon[256];
    qh_spec_canonical(s, canon, sizeof canon);
    ck_assert_str_eq(canon, "outliers frac=0.005 + rtn bits=2 group=0 scheme=asym");
    qh_spec_free(s);
}
END_TEST

START_TEST(bit_packing)
{
    for (int bits = 1; bits <= 8; bits++) {
        uint8_t codes[101], back[101], packed[101];
        for (int i = 0; i < 101; i++) codes[i] = (uint8_t)((i * 37 + bits) % (1 << bits));
        qh_bits_pack(packed, codes, 101, bits);
        ck_assert_uint_eq(qh_bits_bytes(101, bits), (101 * (size_t)bits + 7) / 8);
        qh_bits_unpack(back, packed, 101, bits);
        ck_assert_int_eq(memcmp(codes, back, 101), 0);
    }
}
END_TEST

/* The small number formats, by hand: E2M1 rounds to nearest with ties to the even code and
 * saturates at 6; E4M3 likewise at 448 with subnormals of 2^-9; E8M0's shared scale is the exact
 * floor(log2(absmax)) less 2, clamped. */
START_TEST(microscaling_numbers_by_hand)
{
    static const struct { float x, want; } e2m1[] = {
        {0.0f, 0.0f}, {0.24f, 0.0f}, {0.25f, 0.0f},   {0.26f, 0.5f}, {0.75f, 1.0f}, {1.25f, 1.0f}, {1.75f, 2.0f},
        {2.5f, 2.0f}, {3.5f, 4.0f},  {5.0f, 4.0f},    {5.01f, 6.0f}, {7.0f, 6.0f},  {1e30f, 6.0f}, {-0.75f, -1.0f},
        {-3.5f, -4.0f}, {-100.0f, -6.0f}, {-0.1f, 0.0f},
    };
    for (size_t i = 0; i < sizeof e2m1 / sizeof *e2m1; i++) {
        float got = qh_e2m1_to_float(qh_e2m1_from_float(e2m1[i].x));
        ck_assert_msg(got == e2m1[i].want, "E2M1(%g) = %g, not %g", (double)e2m1[i].x, (double)got, (double)e2m1[i].want);
    }
    static const struct { float x; uint8_t code; } e4m3[] = {
        {0.0f, 0x00}, {1.0f, 0x38}, {448.0f, 0x7E}, {500.0f, 0x7E}, {1e30f, 0x7E},
        {0x1p-9f, 0x01}, {0x1p-10f, 0x00} /* a tie between 0 and 2^-9: to the even 0 */, {0x3p-10f, 0x02},
        {0x1p-6f, 0x08} /* the smallest normal */, {0x7.8p-9f, 0x08} /* 7.5 x 2^-9 rounds up into it */,
        {1.0625f, 0x38} /* between 1 and 1.125: to mantissa 0 */, {1.1875f, 0x3A} /* between 1.125 and 1.25: to 2 */,
        {17.0666f, 0x59} /* 1.0667 x 2^4: mantissa 1 */, {1.96875f, 0x40} /* rounds up to 2: the next exponent */,
    };
    for (size_t i = 0; i < sizeof e4m3 / sizeof *e4m3; i++)
        ck_assert_msg(qh_e4m3_from_float(e4m3[i].x) == e4m3[i].code, "E4M3(%a) = 0x%02X, not 0x%02X", (double)e4m3[i].x,
                      qh_e4m3_from_float(e4m3[i].x), e4m3[i].code);
    ck_assert(qh_e4m3_to_float(0x7E) == 448.0f && qh_e4m3_to_float(0x01) == 0x1p-9f && qh_e4m3_to_float(0x59) == 18.0f);
    ck_assert(isnan(qh_e4m3_to_float(0x7F)) && isnan(qh_e4m3_to_float(0xFF)));
    for (int c = 0; c < 0x7F; c++) /* every finite byte is its own nearest */
        ck_assert_int_eq(qh_e4m3_from_float(qh_e4m3_to_float((uint8_t)c)), c);
    ck_assert_int_eq(qh_e8m0_shared_scale(6.0f, 2), 127);
    ck_assert_int_eq(qh_e8m0_shared_scale(1.0f, 2), 125);
    ck_assert_int_eq(qh_e8m0_shared_scale(0.99999994f, 2), 124); /* just below 1: floor(log2) = -1 */
    ck_assert_int_eq(qh_e8m0_shared_scale(0.0f, 2), 0);
    ck_assert_int_eq(qh_e8m0_shared_scale(0x1p-140f, 2), 0); /* clamped to 2^-127 */
    ck_assert_int_eq(qh_e8m0_shared_scale(0x1.fffffep127f, 2), 252);
    ck_assert(qh_e8m0_to_float(127) == 1.0f && qh_e8m0_to_float(0) == 0x1p-127f && isnan(qh_e8m0_to_float(0xFF)));
}
END_TEST

/* One MXFP4 block worked by hand: absmax 3.9 gives X = 2^(1 - 2) = 0.5; w / X rounds to E2M1
 * with ties to even and saturates (3.9 / 0.5 = 7.8 -> 6). */
START_TEST(mxfp4_block_by_hand)
{
    static const struct { float w, want; } v[] = {
        {3.9f, 3.0f}, {2.9f, 3.0f}, {0.375f, 0.5f} /* 0.75: tie -> 1 */, {0.875f, 1.0f} /* 1.75: tie -> 2 */,
        {1.25f, 1.0f} /* 2.5: tie -> 2 */, {-1.75f, -2.0f} /* -3.5: tie -> -4 */, {0.1f, 0.0f}, {0.13f, 0.25f}, {-2.4f, -2.0f},
    };
    qh_matrix w = {1, 32, calloc(32, sizeof(float))};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) w.data[i] = v[i].w;
    double bpp;
    qh_packed p;
    qh_matrix o = roundtrip("mxfp4", &w, &bpp, &p);
    ck_assert_int_eq(((const uint8_t *)qh_packed_find(&p, "scales")->data)[0], 126);
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        ck_assert_msg(o.data[i] == v[i].want, "mxfp4(%g) = %g, not %g", (double)v[i].w, (double)o.data[i], (double)v[i].want);
    for (int i = (int)(sizeof v / sizeof *v); i < 32; i++) ck_assert(o.data[i] == 0.0f);
    ck_assert_double_eq(bpp, 4.25);
    qh_packed_free(&p);
    free(o.data);
    free(w.data);
}
END_TEST

/* NVFP4 by hand: absmax 2.625 = 2688 x 2^-10 makes the tensor scale 2^-10; the first block's E4M3
 * scale is then 448 (its absmax / 6 in units of 2^-10) and the second's E4M3(0.1 / (6 x 2^-10) =
 * 17.07) = 18, so its weights decode in steps of 18 x 2^-10. */
START_TEST(nvfp4_blocks_by_hand)
{
    qh_matrix w = {1, 32, calloc(32, sizeof(float))};
    w.data[0] = 2.625f, w.data[1] = -1.3125f, w.data[2] = 0.2f;
    w.data[16] = 0.1f, w.data[17] = 0.03f, w.data[18] = -0.0132f;
    double bpp;
    qh_packed p;
    qh_matrix o = roundtrip("nvfp4", &w, &bpp, &p);
    ck_assert(*(const float *)qh_packed_find(&p, "tensor_scale")->data == 0x1p-10f);
    const uint8_t *s = qh_packed_find(&p, "scales")->data;
    ck_assert_int_eq(s[0], 0x7E);
    ck_assert_int_eq(s[1], 0x59);
    const float d0 = 448 * 0x1p-10f, d1 = 18 * 0x1p-10f;
    ck_assert(o.data[0] == 6 * d0 && o.data[1] == -3 * d0 && o.data[2] == 0.5f * d0); /* 0.2 / 0.4375 = 0.457 -> 0.5 */
    ck_assert(o.data[16] == 6 * d1 && o.data[17] == 1.5f * d1 && o.data[18] == -1 * d1); /* 5.69 -> 6, 1.71 -> 1.5, -0.751 -> -1 */
    ck_assert_double_eq(bpp, (16 + 2 + 4) * 8 / 32.0);
    qh_packed_free(&p);
    free(o.data);
    free(w.data);
}
END_TEST

static void nibbles_high_first(const uint8_t *packed, uint8_t *codes, size_t n)
{
    for (size_t i = 0; i < n; i++) codes[i] = i % 2 ? packed[i / 2] & 0x0F : packed[i / 2] >> 4;
}

/* `nf4 double_quant=1` is QLoRA's storage as bitsandbytes writes it: on a weight matrix of the
 * default model its codes, its 8-bit absmax codes and nested absmax equal bitsandbytes 0.46.1's,
 * and bitsandbytes's own stored state decodes to bitsandbytes's dequantization bit for bit
 * (tests/data/bnb, made by tools/peers/bnb_reference.py). */
START_TEST(nf4_double_quant_equals_bitsandbytes)
{
    cJSON *ref = tu_read_json("tests/data/bnb/nf4_double_quant.json");
    int rows = cJSON_GetObjectItem(ref, "rows")->valueint, cols = cJSON_GetObjectItem(ref, "cols")->valueint;
    size_t n = (size_t)rows * cols, n_absmax = n / 64;
    char *path = tu_home_path("tests/data/bnb/nf4_double_quant.bin"), *model = tu_home_path("models/gpt2-gutenberg-18m/model.safetensors");
    char *bin;
    size_t bin_len;
    qh_err err;
    ck_assert_msg(qh_read_file(path, &bin, &bin_len, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(bin_len, n / 2 + n_absmax);
    /* the weight, in a linear layer's (out, in) layout */
    qh_safetensors st;
    ck_assert_msg(qh_st_open(model, &st, &err) == 0, "%s", err.msg);
    const qh_st_tensor *t = qh_st_find(&st, cJSON_GetObjectItem(ref, "tensor")->valuestring);
    ck_assert_ptr_nonnull(t);
    float *conv = malloc(n * sizeof(float));
    ck_assert_int_eq(qh_st_to_f32(&st, t, conv, &err), 0);
    qh_matrix w = {rows, cols, malloc(n * sizeof(float))};
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) w.data[(size_t)r * cols + c] = conv[(size_t)c * rows + r];
    cJSON *nested = cJSON_GetObjectItem(ref, "nested_absmax");
    float offset = strtof(cJSON_GetObjectItem(ref, "offset")->valuestring, NULL);
    /* encode: the same codes as bitsandbytes */
    qh_packed p;
    qh_matrix o = roundtrip("nf4 double_quant=1", &w, NULL, &p);
    uint8_t *ours = malloc(n), *theirs = malloc(n);
    qh_bits_unpack(ours, qh_packed_find(&p, "codes")->data, n, 4);
    nibbles_high_first((const uint8_t *)bin, theirs, n);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += ours[i] != theirs[i];
    ck_assert_msg(differ == 0, "%zu of %zu 4-bit codes differ from bitsandbytes's", differ, n);
    const uint8_t *scale_codes = qh_packed_find(&p, "scale_codes")->data;
    differ = 0;
    for (size_t i = 0; i < n_absmax; i++) differ += scale_codes[i] != (uint8_t)bin[n / 2 + i];
    ck_assert_msg(differ == 0, "%zu of %zu absmax codes differ from bitsandbytes's", differ, n_absmax);
    ck_assert(*(const float *)qh_packed_find(&p, "scale_offset")->data == offset);
    const qh_part *ss = qh_packed_find(&p, "scale_scales");
    ck_assert_int_eq((int)(ss->bytes / 4), cJSON_GetArraySize(nested));
    for (int b = 0; b < cJSON_GetArraySize(nested); b++)
        ck_assert(((const float *)ss->data)[b] == strtof(cJSON_GetArrayItem(nested, b)->valuestring, NULL));
    /* decode bitsandbytes's own state: its dequantization, bit for bit */
    qh_packed bnb = {0};
    qh_bits_pack(qh_packed_add(&bnb, "codes", QH_DT_U8, (int64_t)qh_bits_bytes(n, 4), 0), theirs, n, 4);
    memcpy(qh_packed_add(&bnb, "scale_codes", QH_DT_U8, (int64_t)n_absmax, 0), bin + n / 2, n_absmax);
    float *nested_out = qh_packed_add(&bnb, "scale_scales", QH_DT_F32, cJSON_GetArraySize(nested), 0);
    for (int b = 0; b < cJSON_GetArraySize(nested); b++) nested_out[b] = strtof(cJSON_GetArrayItem(nested, b)->valuestring, NULL);
    *(float *)qh_packed_add(&bnb, "scale_offset", QH_DT_F32, 1, 0) = offset;
    qh_spec *spec;
    ck_assert_int_eq(qh_spec_parse("nf4 double_quant=1", &spec, &err), 0);
    qh_matrix d = {rows, cols, malloc(n * sizeof(float))};
    ck_assert_msg(spec->method->decode(spec, &bnb, &d, &err) == 0, "%s", err.msg);
    char hex[65];
    qh_sha256_hex(d.data, n * sizeof(float), hex);
    cJSON *first = cJSON_GetObjectItem(ref, "dequantized_first");
    for (int i = 0; i < cJSON_GetArraySize(first); i++)
        ck_assert_msg(d.data[i] == strtof(cJSON_GetArrayItem(first, i)->valuestring, NULL), "value %d: %a", i, (double)d.data[i]);
    ck_assert_str_eq(hex, cJSON_GetObjectItem(ref, "dequantized_sha256")->valuestring);
    /* and our own encoding decodes to the same numbers (the same state) */
    ck_assert(memcmp(o.data, d.data, n * sizeof(float)) == 0);
    /* 4 + 8/64 + 32/(64 x 256) bits per weight, and 32 for the offset */
    ck_assert_uint_eq(qh_packed_bytes(&p), n / 2 + n_absmax + 4 * (n_absmax / 256) + 4);
    /* the canonical form: results stored as "nf4 block=64" keep that name */
    char canon[128];
    qh_spec_canonical(spec, canon, sizeof canon);
    ck_assert_str_eq(canon, "nf4 block=64 double_quant=1");
    qh_spec_free(spec);
    ck_assert_int_eq(qh_spec_parse("nf4", &spec, &err), 0);
    qh_spec_canonical(spec, canon, sizeof canon);
    ck_assert_str_eq(canon, "nf4 block=64");
    qh_spec_free(spec);
    qh_packed_free(&bnb);
    qh_packed_free(&p);
    free(d.data), free(o.data), free(w.data), free(conv), free(ours), free(theirs), free(bin), free(path), free(model);
    qh_st_close(&st);
    cJSON_Delete(ref);
}
END_TEST

Suite *suite_methods(void)
{
    Suite *s = suite_create("methods");
    TCase *reg = tcase_create("registry");
    int n = 0;
    while (qh_methods[n]) n++;
    tcase_add_loop_test(reg, every_method_round_trips, 0, n);
    tcase_add_test(reg, spec_errors);
    tcase_add_test(reg, bit_packing);
    tcase_set_timeout(reg, 60);
    suite_add_tcase(s, reg);
    TCase *tc = tcase_create("promises");
    tcase_add_test(tc, float_baselines);
    tcase_add_test(tc, rtn_error_bounds_and_bpp);
    tcase_add_test(tc, nf4_and_fp4_use_their_levels);
    tcase_add_test(tc, microscaling_numbers_by_hand);
    tcase_add_test(tc, mxfp4_block_by_hand);
    tcase_add_test(tc, nvfp4_blocks_by_hand);
    tcase_add_test(tc, nf4_double_quant_equals_bitsandbytes);
    tcase_add_test(tc, binary_is_sign_times_mean_abs);
    tcase_add_test(tc, ternary_packs_five_trits_per_byte);
    tcase_add_test(tc, residual_binary_error_falls_with_stages);
    tcase_add_test(tc, magnitude_recovery_recovers_rank1_magnitudes);
    tcase_add_test(tc, outliers_keep_the_largest_exactly);
    tcase_add_test(tc, pb_llm_keeps_the_salient_fraction_and_counts_the_mask);
    tcase_add_test(tc, billm_residual_binarization_beats_one_stage);
    tcase_add_test(tc, billm_break_point_finds_the_optimum);
    tcase_add_test(tc, range_coder_round_trips_near_the_entropy);
    tcase_add_test(tc, billm_masks_round_trip_and_are_counted);
    tcase_add_test(tc, salomi_hvq_codes_its_indices_and_decodes_them);
    tcase_add_test(tc, salomi_lowrank_corrects_the_binary_residual);
    tcase_add_test(tc, hadamard_is_orthogonal_and_inverts);
    tcase_add_test(tc, ldlq_with_block_one_is_gptq);
    tcase_add_test(tc, gridvq_nearest_point_is_brute_force);
    tcase_add_test(tc, gridvq_layouts_and_feedback);
    tcase_add_test(tc, e8p_codebook_and_its_nearest_point);
    tcase_add_test(tc, blocked_hadamard_any_size);
    tcase_add_test(tc, quipsharp_incoherence_and_feedback);
    tcase_add_test(tc, aqlm_objective_never_increases);
    tcase_add_test(tc, salomi_hvq_feedback_lowers_the_output_error);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
