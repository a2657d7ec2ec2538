/* gridvq.c - importance-weighted grid vector quantization, the family of llama.cpp's IQ1_S and
 * IQ2_XXS/IQ2_XS (ggml-quants.c, quantize_row_iq1_s_impl, quantize_row_iq2_xxs_impl), with
 * GPTQ/LDLQ error feedback across columns, which llama.cpp's quantizer does not do.
 *
 * Along each row, every 8 consecutive weights are one vector, replaced by s p with p a point of
 * a fixed grid (one row of `grids` below; a constant of the format, like ggml's, so not stored
 * per model):
 *   iq1s    2048 points of {-1,0,1}^8, 11 bits, and a shift delta = +-1/8 per sub-block (IQ1_S);
 *   iq2xxs  256 magnitude vectors of {1, 3.125, 5.375}^8 (ggml's 8, 25, 43 over 8), 8 bits, and
 *           7 sign bits (the eighth sign makes their number even), 15 bits (IQ2_XXS);
 *   iq2xs   512 such magnitude vectors, 9 + 7 = 16 bits (IQ2_XS);
 *   iq3xxs  two 4-dim magnitude vectors of IQ3_XXS's 256-entry table (ggml's bytes over 8), 8 + 8
 *           + 7 = 23 bits (IQ3_XXS; scale_bits=4: 3.0625 bits per weight).
 * A sub-block of `sub` weights (32) shares one scale s = d (2 l + 1), l of `scale_bits` bits
 * (and the sign of delta on iq1s); a super-block of `super` weights (256) shares d (F16).
 * Defaults = IQ1_S's layout, 1.5625 bits per weight (11/8 + 4/32 + 16/256); grid=iq2xxs
 * scale_bits=4 is IQ2_XXS's, 2.0625 (15/8 + 4/32 + 16/256).
 *
 * The nearest point is chosen under the importance weights of the vector's 8 weights: h_j = H_jj
 * (the calibration Hessian's diagonal, or an importance matrix), times sqrt(sigma^2 + w_j^2) with
 * weights=hx (llama.cpp's).  The weighted error is separable.  On iq1s the coordinate-wise
 * rounding of w / s - delta to {-1,0,1} is the unconstrained optimum; when that pattern is not in
 * the grid the candidates are the grid points nearest to it (within squared distance d_min + 2,
 * at most 64, precomputed for each of the 3^8 patterns: llama.cpp's neighbour lists; tested
 * against brute force).  On the signed grids the search is exact: for each magnitude vector the
 * best signs are those of w, and where their number is odd the cheapest coordinate flips (on
 * iq3xxs each half separately, the flip in the half where it costs least).
 * Scales: on iq1s llama.cpp's exact search over the splits of the sorted values into three runs,
 * on the signed grids 16 candidates around max|w| / 5.375, each refitted by weighted least
 * squares to its points; d = the largest sub-block scale / (2 l_max + 1) x `inflate`, and each
 * sub-block then takes the (l, delta sign) of least weighted error (at d / inflate; the stored
 * scale is `inflate` times larger: llama.cpp's "fudge factor" 1.125 on IQ1_S, without which
 * WikiText-2 perplexity is 540.8 instead of 504.6 with llama.cpp's own importance matrix).
 *
 * feedback=1 (the default): the columns are quantized a sub-block at a time through qh_ldlq
 * (block LDLQ: the sub-block's error E goes to the later columns as E U_BB^-1 U_B,rest), d of a
 * super-block taken from its columns as the feedback before has left them, and the importance of
 * column j is 1 / U_jj^2 instead of H_jj: what an error there costs once the later columns have
 * absorbed what they can (GPTQ's (w - q)^2 / U_jj^2).  feedback=2: a vector at a time, each
 * sub-block's scale and shift fixed by its first vector from the columns as they are then; on
 * strongly correlated synthetic inputs it beats feedback=1 by far (tested), on the default model
 * it does worse (WikiText-2 494.5 against 483.3).  feedback=0 rounds the weights as they are, like
 * llama.cpp.
 * Stored: super.scales (F16, rows x super-blocks), sub.scales (scale_bits (+1 on iq1s) each),
 * low.indices (8 bits per vector), high.indices (index bits - 8 per vector, where > 0), signs
 * (7 bits per vector, signed grids). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/ggml_iq_grids.h"
#include "methods/gridvq.h"
#include "methods/hessian.h"
#include "methods/method.h"

static const qh_param params[] = {
    {"grid", QH_PARAM_ENUM, 0, 0, 3, "iq1s|iq2xxs|iq2xs|iq3xxs",
     "iq1s: 2048 ternary points + shift (11 bits / 8 weights); iq2xxs: 256 magnitudes + 7 signs (15); iq2xs: 512 + 7 (16); iq3xxs: 2 x 256 4-dim + 7 (23)"},
    {"sub", QH_PARAM_INT, 32, 8, 256, NULL, "weights per sub-block scale (a multiple of 8)"},
    {"super", QH_PARAM_INT, 256, 8, 4096, NULL, "weights per F16 super-block scale (a multiple of sub)"},
    {"scale_bits", QH_PARAM_INT, 3, 1, 7, NULL, "bits of a sub-block scale l (s = d (2l+1))"},
    {"feedback", QH_PARAM_INT, 1, 0, 2, NULL, "LDLQ error feedback across columns (needs the full Hessian): 1 a sub-block at a time, 2 a vector at a time"},
    {"weights", QH_PARAM_ENUM, 1, 0, 1, "h|hx", "importance of weight j: h = H_jj; hx = H_jj sqrt(sigma^2 + w_j^2), llama.cpp's (sigma^2 = 2 mean w^2 of the super-block)"},
    {"inflate", QH_PARAM_FLOAT, 1.125, 0.5, 2, NULL, "the stored scale is the least-squares one times this (llama.cpp's IQ1_S factor, 1.125)"},
    {"damp", QH_PARAM_FLOAT, 0.01, 0, 1, NULL, "feedback: Hessian damping, a fraction of its mean diagonal"},
    {0}};

#define MAX_POINTS 2048
#define PATTERNS 6561 /* 3^8 */
#define MAX_NEIGHBOURS 64
#define MAX_SUB 256
static const float delta_of[2] = {0.125f, -0.125f};

typedef struct {
    const char *name;
    int n_points, index_bits;
    int signed_points; /* points are magnitudes; 7 sign bits per vector, an even number negative */
    int has_delta;     /* a sub-block shift +-1/8 (and its bit in the sub-block code) */
    int halves;        /* a point is two 4-dim points of a 256-entry table (IQ3_XXS), index = lo | hi << 8 */
    float max_value;   /* the largest coordinate of a point */
} grid_traits;

static const grid_traits grids[] = {
    {"iq1s", 2048, 11, 0, 1, 0, 1.0f},
    {"iq2xxs", 256, 8, 1, 0, 0, 43 / 8.0f},
    {"iq2xs", 512, 9, 1, 0, 0, 43 / 8.0f},
    {"iq3xxs", 65536, 16, 1, 0, 1, 62 / 8.0f},
};
#define N_GRIDS (int)(sizeof grids / sizeof grids[0])

/* the points as floats, grid by grid: point[k][g][i] */
static float *point[N_GRIDS];
/* iq1s: for each pattern of {-1,0,1}^8 (base 3, digit i = coordinate i + 1) the points to try */
static int16_t neighbours[PATTERNS][MAX_NEIGHBOURS];
static uint8_t n_neighbours[PATTERNS];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    qh_iq_grids_init();
    for (int k = 0; k < N_GRIDS; k++) {
        point[k] = qh_malloc((size_t)grids[k].n_points * 8 * sizeof(float));
        for (int g = 0; g < grids[k].n_points; g++)
            for (int i = 0; i < 8; i++)
                point[k][8 * g + i] = k == 0   ? qh_iq1s_grid[g][i]
                                      : k == 1 ? qh_iq2xxs_grid[g][i] / 8.0f
                                      : k == 2 ? qh_iq2xs_grid[g][i] / 8.0f
                                               : (float)(qh_iq3xxs_grid[i < 4 ? g & 255 : g >> 8] >> 8 * (i % 4) & 255) / 8.0f;
    }
    int dist[MAX_POINTS];
    for (int p = 0; p < PATTERNS; p++) {
        int v[8], x = p, dmin = 1 << 30;
        for (int i = 0; i < 8; i++, x /= 3) v[i] = x % 3 - 1;
        for (int g = 0; g < 2048; g++) {
            int d = 0;
            for (int i = 0; i < 8; i++) d += (v[i] - qh_iq1s_grid[g][i]) * (v[i] - qh_iq1s_grid[g][i]);
            dist[g] = d;
            if (d < dmin) dmin = d;
        }
        int n = 0;
        for (int lim = dmin; lim <= dmin + 2 && n < MAX_NEIGHBOURS; lim++)
            for (int g = 0; g < 2048 && n < MAX_NEIGHBOURS; g++)
                if (dist[g] == lim) neighbours[p][n++] = (int16_t)g;
        n_neighbours[p] = (uint8_t)n;
    }
}

/* iq1s: the grid point nearest to y under h (8 each), by the neighbour lists */
static int nearest_iq1s(const float *y, const float *h, float *dist)
{
    int p = 0;
    for (int i = 7; i >= 0; i--) p = p * 3 + (y[i] < -0.5f ? 0 : y[i] > 0.5f ? 2 : 1);
    int best = neighbours[p][0];
    float bd = INFINITY;
    for (int k = 0; k < n_neighbours[p]; k++) {
        const float *g = point[0] + 8 * neighbours[p][k];
        float d = 0;
        for (int i = 0; i < 8; i++) d += h[i] * (y[i] - g[i]) * (y[i] - g[i]);
        if (d < bd) bd = d, best = neighbours[p][k];
    }
    *dist = bd;
    return best;
}

/* signed grids: the exact nearest (magnitude vector, signs) to y under h; *signs = the 8-bit
 * mask of negative coordinates (even population) */
static int nearest_signed(int k, const float *y, const float *h, float *dist, uint8_t *signs)
{
    float a[8], ha[8];
    int neg = 0;
    uint8_t mask = 0;
    for (int i = 0; i < 8; i++) {
        a[i] = fabsf(y[i]), ha[i] = h[i] * a[i];
        if (y[i] < 0) neg++, mask |= (uint8_t)(1u << i);
    }
    const float *P = point[k];
    int best = 0, flip = -1;
    float bd = INFINITY;
    for (int g = 0; g < grids[k].n_points; g++) {
        const float *m = P + 8 * g;
        float e = 0, fmin = INFINITY;
        int fi = 0;
        for (int i = 0; i < 8; i++) e += m[i] * (h[i] * m[i] - 2 * ha[i]); /* sum h (a - m)^2 less sum h a^2 */
        if (neg & 1)
            for (int i = 0; i < 8; i++)
                if (4 * ha[i] * m[i] < fmin) fmin = 4 * ha[i] * m[i], fi = i;
        if (neg & 1) e += fmin;
        if (e < bd) bd = e, best = g, flip = neg & 1 ? fi : -1;
    }
    if (flip >= 0) mask ^= (uint8_t)(1u << flip);
    float base = 0;
    for (int i = 0; i < 8; i++) base += ha[i] * a[i];
    *dist = bd + base;
    *signs = mask;
    return best;
}

/* iq3xxs: the exact nearest (two 4-dim points, signs): each half's best point with the signs of y
 * (a) and with its cheapest single flip (b); an even number of negative y needs no flip (a + a),
 * an odd number exactly one, in one half (min of b + a, a + b) */
static int nearest_halves(int k, const float *y, const float *h, float *dist, uint8_t *signs)
{
    float a[8], ha[8], base = 0;
    int neg = 0;
    uint8_t mask = 0;
    for (int i = 0; i < 8; i++) {
        a[i] = fabsf(y[i]), ha[i] = h[i] * a[i], base += ha[i] * a[i];
        if (y[i] < 0) neg++, mask |= (uint8_t)(1u << i);
    }
    int best_a[2] = {0, 0}, best_b[2] = {0, 0}, flip_b[2] = {0, 0};
    float cost_a[2] = {INFINITY, INFINITY}, cost_b[2] = {INFINITY, INFINITY};
    for (int half = 0; half < 2; half++) {
        const float *hh = h + 4 * half, *hx = ha + 4 * half;
        for (int g = 0; g < 256; g++) {
            const float *m = point[k] + 8 * (size_t)(g | g << 8) + 4 * half; /* the table's entry g in this half */
            float e = 0, fmin = INFINITY;
            int fi = 0;
            for (int i = 0; i < 4; i++) e += m[i] * (hh[i] * m[i] - 2 * hx[i]);
            if (e < cost_a[half]) cost_a[half] = e, best_a[half] = g;
            for (int i = 0; i < 4; i++)
                if (4 * hx[i] * m[i] < fmin) fmin = 4 * hx[i] * m[i], fi = i;
            if (e + fmin < cost_b[half]) cost_b[half] = e + fmin, best_b[half] = g, flip_b[half] = 4 * half + fi;
        }
    }
    int lo = best_a[0], hi = best_a[1];
    float e = cost_a[0] + cost_a[1];
    if (neg & 1) {
        if (cost_b[0] + cost_a[1] <= cost_a[0] + cost_b[1]) lo = best_b[0], e = cost_b[0] + cost_a[1], mask ^= (uint8_t)(1u << flip_b[0]);
        else hi = best_b[1], e = cost_a[0] + cost_b[1], mask ^= (uint8_t)(1u << flip_b[1]);
    }
    *dist = e + base;
    *signs = mask;
    return lo | hi << 8;
}

static int nearest_point(int k, const float *y, const float *h, float *dist, uint8_t *signs)
{
    if (grids[k].halves) return nearest_halves(k, y, h, dist, signs);
    if (grids[k].signed_points) return nearest_signed(k, y, h, dist, signs);
    *signs = 0;
    return nearest_iq1s(y, h, dist);
}

/* the point's coordinates with its signs */
static void point_values(int k, int g, uint8_t signs, float *v)
{
    for (int i = 0; i < 8; i++) v[i] = point[k][8 * g + i] * (signs >> i & 1 ? -1.0f : 1.0f);
}

/* exported for the tests */
int qh_gridvq_grid_index(const char *name)
{
    pthread_once(&tables_once, build_tables);
    for (int k = 0; k < N_GRIDS; k++)
        if (!strcmp(grids[k].name, name)) return k;
    return -1;
}

int qh_gridvq_nearest(int grid, const float *y, const float *h, float *v)
{
    pthread_once(&tables_once, build_tables);
    float d;
    uint8_t sg;
    int g = nearest_point(grid, y, h, &d, &sg);
    point_values(grid, g, sg, v);
    return g;
}

int qh_gridvq_nearest_brute(int grid, const float *y, const float *h, float *v)
{
    pthread_once(&tables_once, build_tables);
    int best = 0, n_signs = grids[grid].signed_points ? 256 : 1;
    float bd = INFINITY, c[8];
    for (int g = 0; g < grids[grid].n_points; g++)
        for (int sg = 0; sg < n_signs; sg++) {
            if (__builtin_popcount((unsigned)sg) & 1) continue;
            point_values(grid, g, (uint8_t)sg, c);
            float d = 0;
            for (int i = 0; i < 8; i++) d += h[i] * (y[i] - c[i]) * (y[i] - c[i]);
            if (d < bd) bd = d, best = g, memcpy(v, c, sizeof c);
        }
    return best;
}

/* Weighted error of a sub-block x (n, a multiple of 8) at scale s and shift (delta sign ds):
 * the points into idx and signs (n / 8 each). */
static float sub_error(int k, const float *x, const float *h, int n, float s, int ds, uint16_t *idx, uint8_t *signs)
{
    float err = 0, y[8], dl = grids[k].has_delta ? delta_of[ds] : 0;
    if (!(s > 0)) {
        for (int v = 0; v < n / 8; v++) idx[v] = 0, signs[v] = 0;
        return INFINITY;
    }
    for (int v = 0; v < n / 8; v++) {
        for (int i = 0; i < 8; i++) y[i] = x[8 * v + i] / s - dl;
        float d;
        idx[v] = (uint16_t)nearest_point(k, y, h + 8 * v, &d, &signs[v]);
        err += s * s * d;
    }
    return err;
}

/* the weighted least-squares scale of x for the points idx, signs (0 when there is none) */
static float refit_scale(int k, const float *x, const float *h, int n, int ds, const uint16_t *idx, const uint8_t *signs)
{
    double num = 0, den = 0;
    float dl = grids[k].has_delta ? delta_of[ds] : 0, v[8];
    for (int b = 0; b < n / 8; b++) {
        point_values(k, idx[b], signs[b], v);
        for (int i = 0; i < 8; i++) {
            double g = v[i] + dl;
            num += h[8 * b + i] * x[8 * b + i] * g;
            den += h[8 * b + i] * g * g;
        }
    }
    return den > 0 && num > 0 ? (float)(num / den) : 0;
}

/* iq1s: the sub-block's own best scale, llama.cpp's search: with the values sorted, every split
 * into three runs (-1, 0, +1 before the shift) and both delta signs has a closed-form weighted
 * least-squares scale; the best split ignores the grid, so its 8-patterns then move to their
 * nearest grid points and the scale is refitted to them. */
static float best_scale_iq1s(const float *x, const float *h, int n)
{
    int order[MAX_SUB];
    double sx[MAX_SUB + 1], sw[MAX_SUB + 1];
    for (int j = 0; j < n; j++) order[j] = j;
    for (int j = 1; j < n; j++) { /* insertion sort: n is a sub-block (32) */
        int o = order[j], i = j - 1;
        while (i >= 0 && x[order[i]] > x[o]) order[i + 1] = order[i], i--;
        order[i + 1] = o;
    }
    sx[0] = sw[0] = 0;
    for (int j = 0; j < n; j++) sx[j + 1] = sx[j] + (double)h[order[j]] * x[order[j]], sw[j + 1] = sw[j] + h[order[j]];
    double best_score = 0, best_s = 0;
    int bds = 0;
    for (int ds = 0; ds < 2; ds++) {
        double dl = delta_of[ds], qm = -1 + dl, qz = dl, qp = 1 + dl;
        for (int i1 = 0; i1 <= n; i1++)
            for (int i2 = i1; i2 <= n; i2++) {
                double sqx = qm * sx[i1] + qz * (sx[i2] - sx[i1]) + qp * (sx[n] - sx[i2]);
                double sq2 = qm * qm * sw[i1] + qz * qz * (sw[i2] - sw[i1]) + qp * qp * (sw[n] - sw[i2]);
                if (sq2 > 0 && sqx > 0 && sqx * sqx > best_score * sq2) best_score = sqx * sqx / sq2, best_s = sqx / sq2, bds = ds;
            }
    }
    float s = (float)best_s;
    uint16_t idx[MAX_SUB / 8];
    uint8_t sg[MAX_SUB / 8];
    for (int round = 0; round < 2 && s > 0; round++) { /* project onto the grid, refit */
        sub_error(0, x, h, n, s, bds, idx, sg);
        float s2 = refit_scale(0, x, h, n, bds, idx, sg);
        if (!(s2 > 0)) break;
        s = s2;
    }
    return s;
}

/* signed grids: 16 candidate scales around max|x| / max_value, each refitted to its points */
static float best_scale_signed(int k, const float *x, const float *h, int n)
{
    float amax = 0;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    if (amax == 0) return 0;
    uint16_t idx[MAX_SUB / 8];
    uint8_t sg[MAX_SUB / 8];
    float best_s = 0, best_e = INFINITY;
    for (int f = 0; f < 16; f++) {
        float s = amax / (grids[k].max_value * (0.75f + 0.04f * f));
        sub_error(k, x, h, n, s, 0, idx, sg);
        float s2 = refit_scale(k, x, h, n, 0, idx, sg);
        if (s2 > 0) s = s2;
        float e = sub_error(k, x, h, n, s, 0, idx, sg);
        if (e < best_e) best_e = e, best_s = s;
    }
    return best_s;
}

typedef struct {
    int grid, rows, cols, sub, super, scale_bits, code_bits, lmax, n_sub, n_super;
    int vecs; /* vectors per row: the last is padded with zeros where cols is not a multiple of 8 */
} layout;

static layout layout_of(const qh_spec *spec, int rows, int cols)
{
    layout L = {(int)qh_spec_get(spec, "grid"), rows, cols, (int)qh_spec_get(spec, "sub"), (int)qh_spec_get(spec, "super"),
                (int)qh_spec_get(spec, "scale_bits"), 0, 0, 0, 0, (cols + 7) / 8};
    L.code_bits = L.scale_bits + grids[L.grid].has_delta;
    L.lmax = (1 << L.scale_bits) - 1;
    L.n_sub = (cols + L.sub - 1) / L.sub;
    L.n_super = (cols + L.super - 1) / L.super;
    return L;
}

static int check_layout(const layout *L, qh_err *err)
{
    if (L->sub % 8 || L->super % L->sub) return qh_fail(err, "gridvq: sub=%d must be a multiple of 8 and super=%d a multiple of sub", L->sub, L->super);
    return 0;
}

/* what encode fills: per row d (F16-rounded, stored), per sub-block its code, per vector its point */
typedef struct {
    const layout *L;
    const float *hdiag;     /* (cols) */
    float *d;               /* (rows, n_super) */
    uint8_t *sub_code;      /* (rows, n_sub): l, and the delta sign in bit scale_bits on iq1s */
    uint16_t *idx;           /* (rows, cols / 8) */
    uint8_t *signs;         /* (rows, cols / 8) */
    int hx;
    float inflate;          /* stored d = searched d x inflate */
    float *sigma2;          /* (rows, n_super), for weights=hx */
} enc_ctx;

/* x and h (n) padded with zeros to a multiple of 8 (a row's last vector); the padded length */
static int pad8(const float *x, const float *h, int n, float *xp, float *hp)
{
    int n8 = (n + 7) / 8 * 8;
    memcpy(xp, x, sizeof(float) * (size_t)n), memcpy(hp, h, sizeof(float) * (size_t)n);
    for (int j = n; j < n8; j++) xp[j] = 0, hp[j] = 0;
    return n8;
}

/* The importance of row r's columns c0.. (n, values x) */
static void weights_of(const enc_ctx *c, int r, int c0, const float *x, int n, float *h)
{
    float s2 = c->sigma2[(size_t)r * c->L->n_super + c0 / c->L->super];
    for (int j = 0; j < n; j++) h[j] = c->hdiag[c0 + j] * (c->hx ? sqrtf(s2 + x[j] * x[j]) : 1.0f);
}

/* d of row r's super-block from its columns c0.. (x, n); sets the block's sigma^2 */
static float super_scale(const enc_ctx *c, int r, int c0, const float *x, int n)
{
    float smax = 0, h[4096];
    double sum2 = 0;
    for (int j = 0; j < n; j++) sum2 += (double)x[j] * x[j];
    c->sigma2[(size_t)r * c->L->n_super + c0 / c->L->super] = (float)(2 * sum2 / n);
    weights_of(c, r, c0, x, n, h);
    for (int j0 = 0; j0 < n; j0 += c->L->sub) {
        float xp[MAX_SUB], hp[MAX_SUB];
        int m = pad8(x + j0, h + j0, n - j0 < c->L->sub ? n - j0 : c->L->sub, xp, hp);
        float s = c->L->grid == 0 ? best_scale_iq1s(xp, hp, m) : best_scale_signed(c->L->grid, xp, hp, m);
        smax = fmaxf(smax, s);
    }
    return qh_f16_round(smax / (2 * c->L->lmax + 1) * c->inflate);
}

/* Sub-block (row r, first column c0, n columns x0): the best (l, shift) at d; writes the points and
 * the decoded values into q (n). */
static void quantize_sub(const enc_ctx *c, int r, int c0, const float *x0, int n0, float *q)
{
    const layout *L = c->L;
    float h0[MAX_SUB], x[MAX_SUB], h[MAX_SUB];
    weights_of(c, r, c0, x0, n0, h0);
    int n = pad8(x0, h0, n0, x, h);
    float d = c->d[(size_t)r * L->n_super + c0 / L->super];
    uint16_t idx[MAX_SUB / 8], best_idx[MAX_SUB / 8] = {0};
    uint8_t sg[MAX_SUB / 8], best_sg[MAX_SUB / 8] = {0};
    int best_l = 0, best_ds = 0;
    float best_e = INFINITY;
    for (int ds = 0; ds < 1 + grids[L->grid].has_delta && d > 0; ds++)
        for (int l = 0; l <= L->lmax; l++) {
            float e = sub_error(L->grid, x, h, n, d / c->inflate * (2 * l + 1), ds, idx, sg);
            if (e < best_e) {
                best_e = e, best_l = l, best_ds = ds;
                memcpy(best_idx, idx, sizeof(uint16_t) * (size_t)(n / 8));
                memcpy(best_sg, sg, (size_t)(n / 8));
            }
        }
    c->sub_code[(size_t)r * L->n_sub + c0 / L->sub] = (uint8_t)(best_l | best_ds << L->scale_bits);
    float s = d * (2 * best_l + 1), dl = grids[L->grid].has_delta ? delta_of[best_ds] : 0, v[8];
    for (int b = 0; b < n / 8; b++) {
        size_t vi = (size_t)r * L->vecs + c0 / 8 + b;
        c->idx[vi] = best_idx[b], c->signs[vi] = best_sg[b];
        point_values(L->grid, best_idx[b], best_sg[b], v);
        for (int i = 0; i < 8 && 8 * b + i < n0; i++) q[8 * b + i] = s * (v[i] + dl);
    }
}

/* feedback: qh_ldlq's callback, one sub-block of columns for every row */
typedef struct {
    enc_ctx *c;
    const float *Wt;        /* (cols, rows), as the feedback has left it */
} ldlq_ctx;

/* d of every row's super-block starting at column c0, from its columns as the feedback before has
 * left them (lazy = super: every earlier block's feedback is in) */
static void super_block_start(ldlq_ctx *k, int c0)
{
    enc_ctx *c = k->c;
    const layout *L = c->L;
    int rows = L->rows, n = L->cols - c0 < L->super ? L->cols - c0 : L->super;
#pragma omp parallel for schedule(dynamic, 16)
    for (int r = 0; r < rows; r++) {
        float x[4096];
        for (int j = 0; j < n; j++) x[j] = k->Wt[(size_t)(c0 + j) * rows + r];
        c->d[(size_t)r * L->n_super + c0 / L->super] = super_scale(c, r, c0, x, n);
    }
}

static int ldlq_sub(void *vctx, int c0, int b, const float *in, float *q)
{
    ldlq_ctx *k = vctx;
    enc_ctx *c = k->c;
    const layout *L = c->L;
    int rows = L->rows;
    if (b > MAX_SUB) return -1; /* qh_ldlq passes at most sub columns (a parameter, at most MAX_SUB) */
    if (c0 % L->super == 0) super_block_start(k, c0);
#pragma omp parallel for schedule(dynamic, 16)
    for (int r = 0; r < rows; r++) {
        float x[MAX_SUB] = {0}, y[MAX_SUB]; /* zeroed for gcc, which cannot see b <= MAX_SUB */
        for (int j = 0; j < b; j++) x[j] = in[(size_t)j * rows + r];
        quantize_sub(c, r, c0, x, b, y);
        for (int j = 0; j < b; j++) q[(size_t)j * rows + r] = y[j];
    }
    return 0;
}

/* feedback=2: one vector (8 columns) of every row at its sub-block's scale and shift, which the
 * sub-block's first vector fixes from the sub-block's columns as they are then */
static int ldlq_vec(void *vctx, int c0, int b, const float *in, float *q)
{
    ldlq_ctx *k = vctx;
    enc_ctx *c = k->c;
    const layout *L = c->L;
    int rows = L->rows;
    if (b > 8) return -1;
    if (c0 % L->super == 0) super_block_start(k, c0);
    int s0 = c0 - c0 % L->sub, n_sub = L->cols - s0 < L->sub ? L->cols - s0 : L->sub;
#pragma omp parallel for schedule(dynamic, 16)
    for (int r = 0; r < rows; r++) {
        float x[MAX_SUB] = {0}, y[MAX_SUB], h[MAX_SUB], xp[8], hp[8], v[8];
        if (c0 == s0) { /* the sub-block's scale and shift */
            for (int j = 0; j < n_sub; j++) x[j] = k->Wt[(size_t)(s0 + j) * rows + r];
            quantize_sub(c, r, s0, x, n_sub, y);
        }
        for (int j = 0; j < b; j++) x[j] = in[(size_t)j * rows + r];
        weights_of(c, r, c0, x, b, h);
        pad8(x, h, b, xp, hp);
        uint8_t code = c->sub_code[(size_t)r * L->n_sub + s0 / L->sub], sg;
        int l = code & L->lmax, ds = code >> L->scale_bits;
        float s = c->d[(size_t)r * L->n_super + c0 / L->super] * (2 * l + 1), dl = grids[L->grid].has_delta ? delta_of[ds] : 0, dist;
        size_t vi = (size_t)r * L->vecs + c0 / 8;
        if (s > 0) {
            for (int i = 0; i < 8; i++) xp[i] = xp[i] / s - dl;
            c->idx[vi] = (uint16_t)nearest_point(L->grid, xp, hp, &dist, &sg);
            c->signs[vi] = sg;
        }
        point_values(L->grid, c->idx[vi], c->signs[vi], v);
        for (int j = 0; j < b; j++) q[(size_t)j * rows + r] = s * (v[j] + dl);
    }
    return 0;
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    pthread_once(&tables_once, build_tables);
    layout L = layout_of(spec, w->rows, w->cols);
    if (check_layout(&L, err)) return -1;
    if (L.super > 4096) return qh_fail(err, "gridvq: super at most 4096");
    if (!calib || !calib->H) return qh_fail(err, "gridvq needs calibration statistics (the Hessian diagonal, or the full Hessian with feedback=1)");
    if (calib->n != w->cols) return qh_fail(err, "gridvq: Hessian size %d, the weight has %d inputs", calib->n, w->cols);
    int feedback = (int)qh_spec_get(spec, "feedback"), rows = w->rows, cols = w->cols;
    float *hdiag = qh_malloc((size_t)cols * sizeof(float));
    double hmean = 0;
    for (int j = 0; j < cols; j++) hmean += calib->H[(size_t)j * cols + j] / cols;
    for (int j = 0; j < cols; j++) {
        double hj = calib->H[(size_t)j * cols + j];
        hdiag[j] = (float)(hj > 0 ? hj / (hmean > 0 ? hmean : 1) : 1e-6); /* a dead input still needs a positive weight */
    }
    size_t n_vec = (size_t)rows * L.vecs;
    enc_ctx c = {&L,
                 hdiag,
                 qh_calloc((size_t)rows * L.n_super, sizeof(float)),
                 qh_calloc((size_t)rows * L.n_sub, 1),
                 qh_calloc(n_vec, sizeof(uint16_t)),
                 qh_calloc(n_vec, 1),
                 (int)qh_spec_get(spec, "weights"),
                 (float)qh_spec_get(spec, "inflate"),
                 qh_calloc((size_t)rows * L.n_super, sizeof(float))};
    int rc = 0;
    if (feedback) {
        float *Wt, *U = qh_malloc((size_t)cols * cols * sizeof(float));
        double *H;
        rc = qh_hessian_prepare("gridvq feedback=1", w, calib, &Wt, &H, err);
        if (rc == 0) {
            rc = qh_gptq_hinv_factor(H, cols, qh_spec_get(spec, "damp"), U, err);
            if (rc == 0) { /* after feedback column j's error costs 1 / U_jj^2 (its precision given the later columns), not H_jj */
                double m = 0;
                for (int j = 0; j < cols; j++) m += 1.0 / ((double)U[(size_t)j * cols + j] * U[(size_t)j * cols + j]) / cols;
                for (int j = 0; j < cols; j++) hdiag[j] = (float)(1.0 / ((double)U[(size_t)j * cols + j] * U[(size_t)j * cols + j]) / m);
            }
            ldlq_ctx k = {&c, Wt};
            if (rc == 0 && qh_ldlq(U, cols, rows, feedback == 2 ? 8 : L.sub, L.super, Wt, feedback == 2 ? ldlq_vec : ldlq_sub, &k) != 0)
                rc = qh_fail(err, "gridvq: the LDLQ pass failed");
            free(Wt);
            free(H);
        }
        free(U);
    } else {
#pragma omp parallel for schedule(dynamic, 16)
        for (int r = 0; r < rows; r++) {
            float q[MAX_SUB];
            const float *x = w->data + (size_t)r * cols;
            for (int s0 = 0; s0 < cols; s0 += L.super)
                c.d[(size_t)r * L.n_super + s0 / L.super] = super_scale(&c, r, s0, x + s0, cols - s0 < L.super ? cols - s0 : L.super);
            for (int c0 = 0; c0 < cols; c0 += L.sub) quantize_sub(&c, r, c0, x + c0, cols - c0 < L.sub ? cols - c0 : L.sub, q);
        }
    }
    if (rc == 0) {
        uint16_t *ps = qh_packed_add(out, "super.scales", QH_DT_F16, rows, L.n_super);
        for (size_t i = 0; i < (size_t)rows * L.n_super; i++) ps[i] = qh_f32_to_f16(c.d[i]);
        qh_bits_pack(qh_packed_add(out, "sub.scales", QH_DT_U8, (int64_t)qh_bits_bytes((size_t)rows * L.n_sub, L.code_bits), 0), c.sub_code,
                     (size_t)rows * L.n_sub, L.code_bits);
        uint8_t *lo = qh_packed_add(out, "low.indices", QH_DT_U8, (int64_t)n_vec, 0), *tmp = qh_malloc(n_vec);
        for (size_t v = 0; v < n_vec; v++) lo[v] = (uint8_t)(c.idx[v] & 255), tmp[v] = (uint8_t)(c.idx[v] >> 8);
        int high_bits = grids[L.grid].index_bits - 8;
        if (high_bits > 0) qh_bits_pack(qh_packed_add(out, "high.indices", QH_DT_U8, (int64_t)qh_bits_bytes(n_vec, high_bits), 0), tmp, n_vec, high_bits);
        if (grids[L.grid].signed_points) {
            for (size_t v = 0; v < n_vec; v++) tmp[v] = c.signs[v] & 127; /* the eighth sign is the parity of these */
            qh_bits_pack(qh_packed_add(out, "signs", QH_DT_U8, (int64_t)qh_bits_bytes(n_vec, 7), 0), tmp, n_vec, 7);
        }
        free(tmp);
    }
    free(hdiag);
    free(c.d);
    free(c.sub_code);
    free(c.idx);
    free(c.signs);
    free(c.sigma2);
    return rc;
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    pthread_once(&tables_once, build_tables);
    layout L = layout_of(spec, w->rows, w->cols);
    if (check_layout(&L, err)) return -1;
    const grid_traits *G = &grids[L.grid];
    int rows = w->rows, cols = w->cols, high_bits = G->index_bits - 8;
    size_t n_vec = (size_t)rows * L.vecs, n_sub = (size_t)rows * L.n_sub;
    const qh_part *ps, *pq, *plo, *phi = NULL, *psg = NULL;
    if (qh_packed_expect(in, "super.scales", QH_DT_F16, (size_t)rows * L.n_super, &ps, err) ||
        qh_packed_expect(in, "sub.scales", QH_DT_U8, qh_bits_bytes(n_sub, L.code_bits), &pq, err) ||
        qh_packed_expect(in, "low.indices", QH_DT_U8, n_vec, &plo, err) ||
        (high_bits > 0 && qh_packed_expect(in, "high.indices", QH_DT_U8, qh_bits_bytes(n_vec, high_bits), &phi, err)) ||
        (G->signed_points && qh_packed_expect(in, "signs", QH_DT_U8, qh_bits_bytes(n_vec, 7), &psg, err)))
        return -1;
    uint8_t *code = qh_malloc(n_sub), *hi = qh_calloc(n_vec, 1), *sg = qh_calloc(n_vec, 1);
    qh_bits_unpack(code, pq->data, n_sub, L.code_bits);
    if (phi) qh_bits_unpack(hi, phi->data, n_vec, high_bits);
    if (psg) qh_bits_unpack(sg, psg->data, n_vec, 7);
    const uint16_t *d16 = ps->data;
    const uint8_t *lo = plo->data;
    float v[8];
    for (int r = 0; r < rows; r++)
        for (int c0 = 0; c0 < cols; c0 += L.sub) {
            uint8_t k = code[(size_t)r * L.n_sub + c0 / L.sub];
            int l = k & L.lmax, ds = k >> L.scale_bits;
            float s = qh_f16_to_f32(d16[(size_t)r * L.n_super + c0 / L.super]) * (2 * l + 1), dl = G->has_delta ? delta_of[ds] : 0;
            for (int j0 = c0; j0 < cols && j0 < c0 + L.sub; j0 += 8) {
                size_t vi = (size_t)r * L.vecs + j0 / 8;
                uint8_t signs = G->signed_points ? qh_ksigns_iq2xs[sg[vi]] : 0;
                point_values(L.grid, lo[vi] | hi[vi] << 8, signs, v);
                for (int i = 0; i < 8 && j0 + i < cols; i++) w->data[(size_t)r * cols + j0 + i] = s * (v[i] + dl);
            }
        }
    free(code);
    free(hi);
    free(sg);
    return 0;
}

const qh_method qh_method_gridvq = {
    .name = "gridvq",
    .summary = "importance-weighted grid VQ (llama.cpp's IQ1_S / IQ2_XXS / IQ2_XS grids and layouts) with LDLQ error feedback across columns",
    .params = params,
    .needs_calibration = 1,
    .encode = encode,
    .decode = decode,
};
