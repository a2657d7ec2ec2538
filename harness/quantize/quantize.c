/* quantize.c - whole-model quantization and its byte accounting; see quantize.h.  The packed
 * file format is packed.c. */
#include "harness/quantize/quantize.h"

#include "harness/base/progress.h"

#include <cJSON.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/base/gemm.h"
#include "harness/quantize/calib.h"
#include "harness/formats/safetensors.h"

void qh_quant_opts_init(qh_quant_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kept_dtype = QH_DT_F16;
}

void qh_quant_result_free(qh_quant_result *res)
{
    for (int i = 0; i < res->n_q; i++) qh_packed_free(&res->q[i].packed);
    free(res->q);
    memset(res, 0, sizeof *res);
}

static int matches(const char *pattern, const char *name) { return fnmatch(pattern, name, 0) == 0; }

/* Every pattern must match something: a typo must not silently shrink the scope; include and
 * override patterns must name matrices. */
int qh_quant_scope_check(const qh_quant_opts *o, const qh_model *m, const char *const option_names[3], qh_err *err)
{
    const char *const *lists[3] = {o->include, o->exclude, o->override_pattern};
    int counts[3] = {o->n_include, o->n_exclude, o->n_override};
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < counts[l]; i++) {
            int hit = 0;
            for (int t = 0; t < m->n_tensors; t++) {
                if (!matches(lists[l][i], m->tensors[t].name)) continue;
                hit = 1;
                if (l != 1 && m->tensors[t].ndim != 2)
                    return qh_fail(err, "%s '%s' matches '%s', a 1-D tensor: only weight matrices can be quantized", option_names[l],
                                   lists[l][i], m->tensors[t].name);
            }
            if (!hit) return qh_fail(err, "%s '%s' matches no tensor of the model", option_names[l], lists[l][i]);
        }
    return 0;
}

/* Rounds a kept tensor to the kept dtype in place, so the in-memory model equals the file. */
static void round_kept(float *x, size_t n, qh_dtype dt)
{
    for (size_t i = 0; i < n; i++) {
        if (dt == QH_DT_F16) x[i] = qh_f16_to_f32(qh_f32_to_f16(x[i]));
        else if (dt == QH_DT_BF16) x[i] = qh_bf16_to_f32(qh_f32_to_bf16(x[i]));
    }
}

/* Fills the byte accounting of res from its packed parts. */
void qh_quant_account(qh_quant_result *res, const qh_model *m)
{
    res->params_total = m->n_params;
    res->params_quantized = 0;
    res->bytes_quantized = 0;
    memset(res->bytes_by_kind, 0, sizeof res->bytes_by_kind);
    for (int i = 0; i < res->n_q; i++) {
        const qh_qtensor *q = &res->q[i];
        res->params_quantized += (size_t)q->rows * q->cols;
        for (int p = 0; p < q->packed.n_parts; p++) {
            res->bytes_quantized += q->packed.part[p].bytes;
            qh_part_kind k = qh_part_kind_of(q->packed.part[p].name);
            res->bytes_by_kind[k < QH_PART_KINDS ? k : QH_PART_VALUES] += q->packed.part[p].bytes;
        }
    }
    res->bytes_kept = (m->n_params - res->params_quantized) * qh_dtype_size(res->kept_dtype);
    res->bytes_total = res->bytes_quantized + res->bytes_kept;
    res->bpp_quantized = res->params_quantized ? 8.0 * res->bytes_quantized / res->params_quantized : 0;
    res->bpp_model = 8.0 * res->bytes_total / res->params_total;
}

static int source_bits(const qh_model *m)
{
    if (strcmp(m->dtype, "F16") == 0 || strcmp(m->dtype, "BF16") == 0) return 16;
    return 32;
}

/* Block l's input statistics, timed into res. */
static int block_stats(qh_calib_state *st, const qh_model *m, int l, double *H[QH_N_INPUTS], int hn[QH_N_INPUTS], long *samples,
                       qh_quant_result *res, qh_err *err)
{
    double tc = qh_now();
    int rc = qh_calib_block(st, m, l, H, hn, samples, err);
    res->seconds_calib += qh_now() - tc;
    return rc;
}

double qh_rel_error(const float *w, const float *w_hat, size_t n, double *sq_err)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)w[i] - w_hat[i];
        num += d * d;
        den += (double)w[i] * w[i];
    }
    if (sq_err) *sq_err = num;
    return den > 0 ? sqrt(num / den) : 0;
}

/* Encodes w with spec and decodes it back into w_hat, timing both into res. */
static int encode_decode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *packed, qh_matrix *w_hat,
                         qh_quant_result *res, qh_err *err)
{
    size_t n = (size_t)w->rows * w->cols;
    long bad = qh_first_nonfinite(w->data, n);
    if (bad >= 0) /* a quantizer would turn it into a finite code and hide it */
        return qh_fail(err, "input weight at row %ld, column %ld is %s", bad / w->cols, bad % w->cols, qh_nonfinite_name(w->data[bad]));
    double t0 = qh_now();
    int rc = spec->method->encode(spec, w, calib, packed, err);
    double t1 = qh_now();
    if (rc == 0) rc = spec->method->decode(spec, packed, w_hat, err);
    res->seconds_encode += t1 - t0;
    res->seconds_decode += qh_now() - t1;
    if (rc == 0 && (bad = qh_first_nonfinite(w_hat->data, n)) >= 0)
        return qh_fail(err, "the method decoded a non-finite weight (%s) at row %ld, column %ld", qh_nonfinite_name(w_hat->data[bad]),
                       bad / w->cols, bad % w->cols);
    return rc;
}

/* Quantizes tensor t in place with spec (calib: its input statistics, or NULL); appends to res. */
static int quantize_tensor(qh_model *m, int t, const qh_spec *spec, const qh_calib *calib, qh_quant_result *res, qh_err *err)
{
    qh_tensor *tn = &m->tensors[t];
    qh_qtensor *q = &res->q[res->n_q++];
    snprintf(q->name, sizeof q->name, "%s", tn->name);
    qh_spec_canonical(spec, q->spec, sizeof q->spec);
    q->transposed = tn->is_linear; /* the blocks' linear weights are held (in, out); methods want (out, in) */
    q->sensitivity = NAN;
    q->rows = q->transposed ? tn->cols : tn->rows;
    q->cols = q->transposed ? tn->rows : tn->cols;
    size_t n = (size_t)tn->rows * tn->cols;
    qh_matrix w = {q->rows, q->cols, qh_malloc(n * sizeof(float))};
    qh_matrix w_hat = {q->rows, q->cols, qh_malloc(n * sizeof(float))};
    if (q->transposed) qh_transpose(tn->data, tn->rows, tn->cols, w.data);
    else memcpy(w.data, tn->data, n * sizeof(float));
    int rc = -1;
    if (encode_decode(spec, &w, calib, &q->packed, &w_hat, res, err) != 0) {
        qh_err_prefix(err, "%s: %s", tn->name, q->spec);
        goto out;
    }
    double num;
    q->rel_error = qh_rel_error(w.data, w_hat.data, n, &num);
    /* no silent no-ops: a method storing fewer bits than the source cannot give back the
     * tensor unchanged unless it skipped it */
    double bpp = 8.0 * qh_packed_bytes(&q->packed) / (double)n;
    if (num == 0 && bpp < source_bits(m)) {
        qh_fail(err, "%s: method '%s' left the tensor unchanged at %.3f bits per weight: it was not quantized", tn->name,
                q->spec, bpp);
        goto out;
    }
    if (q->transposed) qh_transpose(w_hat.data, q->rows, q->cols, tn->data);
    else memcpy(tn->data, w_hat.data, n * sizeof(float));
    rc = 0;
out:
    free(w.data);
    free(w_hat.data);
    return rc;
}

/* sum over rows of d^T H d / samples, d = w - w_hat (rows of (out, in) matrices) */
static double weighted_error(const qh_matrix *w, const qh_matrix *q, const double *H, long samples)
{
    int n = w->cols;
    double total = 0;
#pragma omp parallel for reduction(+ : total)
    for (int r = 0; r < w->rows; r++) {
        double *d = qh_malloc((size_t)n * sizeof(double));
        for (int j = 0; j < n; j++) d[j] = (double)w->data[(size_t)r * n + j] - q->data[(size_t)r * n + j];
        double s = 0;
        for (int a = 0; a < n; a++) {
            double row = 0;
            const double *h = H + (size_t)a * n;
            for (int b = 0; b < n; b++) row += h[b] * d[b];
            s += d[a] * row;
        }
        total += s;
        free(d);
    }
    return total / (double)samples;
}

/* The multiple-choice knapsack of quantize_mixed: for each of nt tensors one of nc candidates
 * (bytes and sensitivity of candidate c of tensor i at [i * nc + c]) minimising the summed
 * sensitivity within budget bytes, into pick.  It runs over the bytes above each tensor's
 * cheapest candidate: the cheapest allocation costs exactly 0 units, others are rounded up, so a
 * chosen allocation never exceeds the budget.  Returns the bytes of the cheapest allocation;
 * when they exceed the budget nothing is picked. */
static size_t allocate(const size_t *bytes, const double *sens, int nt, int nc, double budget, int *pick)
{
    size_t min_bytes = 0;
    size_t *cheapest = qh_malloc((size_t)nt * sizeof(size_t));
    for (int i = 0; i < nt; i++) {
        size_t mb = bytes[(size_t)i * nc];
        for (int c = 1; c < nc; c++) mb = bytes[(size_t)i * nc + c] < mb ? bytes[(size_t)i * nc + c] : mb;
        cheapest[i] = mb;
        min_bytes += mb;
    }
    if ((double)min_bytes > budget) {
        free(cheapest);
        return min_bytes;
    }
    double spare = budget - (double)min_bytes, unit = spare / 20000 > 1 ? spare / 20000 : 1;
    long units = (long)floor(spare / unit);
    double *dp = qh_malloc((size_t)(nt + 1) * (units + 1) * sizeof(double));
    signed char *choice = qh_malloc((size_t)nt * (units + 1));
    for (long u = 0; u <= units; u++) dp[u] = 0;
    for (int i = 0; i < nt; i++) {
        double *prev = dp + (size_t)i * (units + 1), *cur = dp + (size_t)(i + 1) * (units + 1);
        for (long u = 0; u <= units; u++) {
            cur[u] = INFINITY;
            choice[(size_t)i * (units + 1) + u] = -1;
            for (int c = 0; c < nc; c++) {
                long cost = (long)ceil((double)(bytes[(size_t)i * nc + c] - cheapest[i]) / unit);
                if (cost > u || !isfinite(prev[u - cost])) continue;
                double v = prev[u - cost] + sens[(size_t)i * nc + c];
                if (v < cur[u]) {
                    cur[u] = v;
                    choice[(size_t)i * (units + 1) + u] = (signed char)c;
                }
            }
        }
    }
    for (long u = units, i = nt - 1; i >= 0; i--) {
        pick[i] = choice[(size_t)i * (units + 1) + u];
        u -= (long)ceil((double)(bytes[(size_t)i * nc + pick[i]] - cheapest[i]) / unit);
    }
    free(dp);
    free(choice);
    free(cheapest);
    return min_bytes;
}

/* Mixed precision: every candidate on every tensor of the scope, its sensitivity measured as
 * the Hessian-weighted output error tr(D H D^T) on the calibration data of the *unquantized*
 * model (each layer alone), then one candidate per tensor chosen by dynamic programming (a
 * multiple-choice knapsack) to minimise the summed sensitivity within the byte budget.  The
 * knapsack runs over the bytes above each tensor's cheapest candidate, in units of 1/20000 of
 * the spare budget, rounded up: the target is never exceeded, the all-cheapest allocation is
 * always representable, and the rounding can only forgo an allocation within 0.005% x
 * tensors of the spare budget. */
static int quantize_mixed(qh_model *m, const qh_quant_opts *o, qh_spec **scope, int n_q, qh_quant_result *res, qh_err *err)
{
    int nc = o->n_candidates, rc = -1;
    qh_spec *cand[QH_MAX_PATTERNS] = {0};
    char canon[QH_MAX_PATTERNS][256];
    int *tix = qh_malloc((size_t)n_q * sizeof(int)), nt = 0;
    qh_packed *packs = qh_calloc((size_t)n_q * nc, sizeof(qh_packed));
    double *sens = qh_calloc((size_t)n_q * nc, sizeof(double));
    size_t *bytes = qh_calloc((size_t)n_q * nc, sizeof(size_t));
    float **decoded = qh_calloc((size_t)n_q * nc, sizeof(float *));
    qh_calib_state *st = NULL;
    for (int c = 0; c < nc; c++) {
        if (qh_spec_parse(o->candidates[c], &cand[c], err) != 0) goto out;
        qh_spec_canonical(cand[c], canon[c], sizeof canon[c]);
    }
    for (int t = 0; t < m->n_tensors; t++)
        if (scope[t]) {
            if (!m->tensors[t].is_linear) {
                qh_fail(err, "%s: mixed precision allocates over the block weights, which have calibration statistics", m->tensors[t].name);
                goto out;
            }
            tix[nt++] = t;
        }
    if (!o->calib) {
        qh_fail(err, "mixed precision needs calibration data to measure each layer's sensitivity");
        goto out;
    }
    if (qh_calib_begin(m, o->calib, &st, err) != 0) goto out;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        double *H[QH_N_INPUTS];
        int hn[QH_N_INPUTS];
        long samples;
        if (block_stats(st, m, l, H, hn, &samples, res, err) != 0) goto out;
        for (int t = 0; t < m->n_tensors; t++) {
            if (!m->tensors[t].is_linear || m->tensors[t].layer != l) continue;
            int i, k = m->tensors[t].input;
            for (i = 0; i < nt && tix[i] != t; i++) {
            }
            if (i == nt) continue;
            qh_tensor *tn = &m->tensors[t];
            int rows = tn->cols, cols = tn->rows; /* (out, in) */
            size_t n = (size_t)rows * cols;
            qh_matrix w = {rows, cols, qh_malloc(n * sizeof(float))};
            qh_transpose(tn->data, tn->rows, tn->cols, w.data);
            qh_calib cal = {hn[k], H[k], samples, qh_calib_diagonal_only(st)};
            for (int c = 0; c < nc; c++) {
                qh_matrix d = {rows, cols, qh_malloc(n * sizeof(float))};
                if (encode_decode(cand[c], &w, &cal, &packs[(size_t)i * nc + c], &d, res, err) != 0) {
                    qh_err_prefix(err, "%s: %s", tn->name, canon[c]);
                    free(d.data);
                    free(w.data);
                    goto out;
                }
                sens[(size_t)i * nc + c] = weighted_error(&w, &d, H[k], samples);
                bytes[(size_t)i * nc + c] = qh_packed_bytes(&packs[(size_t)i * nc + c]);
                decoded[(size_t)i * nc + c] = d.data;
            }
            free(w.data);
        }
        double tc = qh_now();
        qh_calib_advance(st, m, l); /* unquantized: each layer's sensitivity on its own */
        res->seconds_calib += qh_now() - tc;
    }
    /* the byte budget of the scope */
    size_t params_scope = 0;
    for (int i = 0; i < nt; i++) params_scope += (size_t)m->tensors[tix[i]].rows * m->tensors[tix[i]].cols;
    double budget = o->mixed_whole_model
                        ? o->mixed_target * (double)m->n_params / 8 - (double)(m->n_params - params_scope) * qh_dtype_size(o->kept_dtype)
                        : o->mixed_target * (double)params_scope / 8;
    int *pick = qh_malloc((size_t)nt * sizeof(int));
    size_t min_bytes = allocate(bytes, sens, nt, nc, budget, pick);
    if ((double)min_bytes > budget) {
        qh_fail(err, "mixed: target %.4f bpp (%s) is below the cheapest allocation, %.4f bpp", o->mixed_target,
                o->mixed_whole_model ? "whole model" : "quantized scope",
                o->mixed_whole_model ? 8.0 * (min_bytes + (double)(m->n_params - params_scope) * qh_dtype_size(o->kept_dtype)) / m->n_params
                                     : 8.0 * min_bytes / params_scope);
        free(pick);
        goto out;
    }
    /* apply: model weights, packed parts and the per-tensor record */
    for (int i = 0; i < nt; i++) {
        qh_tensor *tn = &m->tensors[tix[i]];
        int c = pick[i];
        qh_qtensor *q = &res->q[res->n_q++];
        snprintf(q->name, sizeof q->name, "%s", tn->name);
        snprintf(q->spec, sizeof q->spec, "%s", canon[c]);
        q->transposed = 1;
        q->rows = tn->cols;
        q->cols = tn->rows;
        q->packed = packs[(size_t)i * nc + c];
        packs[(size_t)i * nc + c].n_parts = 0;
        q->sensitivity = sens[(size_t)i * nc + c];
        size_t n = (size_t)q->rows * q->cols;
        float *orig = qh_malloc(n * sizeof(float));
        qh_transpose(tn->data, tn->rows, tn->cols, orig);
        q->rel_error = qh_rel_error(orig, decoded[(size_t)i * nc + c], n, NULL);
        free(orig);
        qh_transpose(decoded[(size_t)i * nc + c], q->rows, q->cols, tn->data);
    }
    free(pick);
    size_t k = (size_t)snprintf(res->spec, sizeof res->spec, "mixed target=%g scope=%s:", o->mixed_target,
                                o->mixed_whole_model ? "model" : "quantized");
    for (int c = 0; c < nc && k < sizeof res->spec; c++)
        k += (size_t)snprintf(res->spec + k, sizeof res->spec - k, "%s %s", c ? " |" : "", canon[c]);
    if (o->calib->imatrix) snprintf(res->calib_desc, sizeof res->calib_desc, "%s", o->calib->source);
    else
        snprintf(res->calib_desc, sizeof res->calib_desc, "%s, %d windows x %d tokens, seed %lu (sensitivities on the unquantized model)",
                 o->calib->source, o->calib->windows, o->calib->ctx, o->calib->seed);
    rc = 0;
out:
    qh_calib_free(st);
    for (int i = 0; i < n_q * nc; i++) {
        qh_packed_free(&packs[i]);
        free(decoded[i]);
    }
    for (int c = 0; c < nc; c++) qh_spec_free(cand[c]);
    free(packs);
    free(decoded);
    free(sens);
    free(bytes);
    free(tix);
    return rc;
}

int qh_quantize_model(qh_model *m, const qh_quant_opts *o, qh_quant_result *res, qh_err *err)
{
    memset(res, 0, sizeof *res);
    res->kept_dtype = o->kept_dtype;
    snprintf(res->source_sha256, sizeof res->source_sha256, "%s", m->sha256);
    if (o->kept_dtype != QH_DT_F16 && o->kept_dtype != QH_DT_BF16 && o->kept_dtype != QH_DT_F32)
        return qh_fail(err, "kept tensors must be F16, BF16 or F32");
    qh_spec **specs = qh_calloc((size_t)m->n_tensors, sizeof *specs);
    qh_spec *def = NULL;
    qh_calib_state *st = NULL;
    char *done = NULL;
    int rc = -1;
    if (o->n_candidates > 0) {
        if (qh_spec_parse(o->candidates[0], &def, err) != 0) goto cleanup;
    } else if (qh_spec_parse(o->spec, &def, err) != 0) {
        goto cleanup;
    }
    qh_spec_canonical(def, res->spec, sizeof res->spec);

    if (qh_quant_scope_check(o, m, (const char *const[3]){"--include", "--exclude", "--override"}, err) != 0) goto cleanup;
    /* choose a spec per tensor: override > default scope / include, minus exclude */
    int n_q = 0;
    for (int t = 0; t < m->n_tensors; t++) {
        const qh_tensor *tn = &m->tensors[t];
        if (tn->ndim != 2) continue;
        int in = 0;
        const qh_arch *arch = qh_config_arch(&m->cfg);
        for (int i = 0; i < arch->n_default_scope; i++) in |= matches(arch->default_scope[i], tn->name);
        for (int i = 0; i < o->n_include; i++) in |= matches(o->include[i], tn->name);
        int ov = -1;
        for (int i = 0; i < o->n_override; i++)
            if (matches(o->override_pattern[i], tn->name)) ov = i;
        if (ov >= 0) in = 1;
        for (int i = 0; i < o->n_exclude; i++)
            if (matches(o->exclude[i], tn->name)) in = 0;
        if (!in) continue;
        if (ov >= 0) {
            if (qh_spec_parse(o->override_spec[ov], &specs[t], err) != 0) goto cleanup;
        } else {
            specs[t] = def;
        }
        n_q++;
    }
    if (n_q == 0) {
        qh_fail(err, "nothing to quantize: the scope matches no weight matrix");
        goto cleanup;
    }
    res->q = qh_calloc((size_t)n_q, sizeof *res->q);
    if (o->n_candidates > 0) {
        for (int t = 0; t < m->n_tensors; t++)
            if (!specs[t]) round_kept(m->tensors[t].data, (size_t)m->tensors[t].rows * m->tensors[t].cols, o->kept_dtype);
        if (quantize_mixed(m, o, specs, n_q, res, err) != 0) goto cleanup;
        goto finish;
    }
    int need_calib = 0;
    for (int t = 0; t < m->n_tensors; t++) {
        if (!specs[t]) {
            round_kept(m->tensors[t].data, (size_t)m->tensors[t].rows * m->tensors[t].cols, o->kept_dtype);
            continue;
        }
        if (!qh_spec_needs_calibration(specs[t])) continue;
        need_calib = 1;
        if (!m->tensors[t].is_linear) {
            qh_fail(err, "%s: method needs calibration statistics, which exist only for the block weights", m->tensors[t].name);
            goto cleanup;
        }
    }
    if (need_calib && !o->calib) {
        qh_fail(err, "method '%s' needs calibration data (give a calibration text)", res->spec);
        goto cleanup;
    }
    done = qh_calloc((size_t)m->n_tensors, 1);
    long to_quantize = 0, quantized = 0;
    for (int t = 0; t < m->n_tensors; t++) to_quantize += specs[t] != NULL;
    char what[600];
    snprintf(what, sizeof what, "quantize %s%s", res->spec, o->calib ? " (calibrated, block by block)" : "");
    qh_progress_begin(what, to_quantize, "matrices");
    if (o->calib) {
        /* sequential, as GPTQ: block l's inputs come from blocks < l already quantized */
        if (qh_calib_begin(m, o->calib, &st, err) != 0) goto cleanup;
        for (int l = 0; l < m->cfg.n_layer; l++) {
            int any = 0;
            for (int t = 0; t < m->n_tensors; t++) any |= m->tensors[t].is_linear && m->tensors[t].layer == l && specs[t];
            if (any) {
                double *H[QH_N_INPUTS];
                int hn[QH_N_INPUTS];
                long samples;
                if (block_stats(st, m, l, H, hn, &samples, res, err) != 0) goto cleanup;
                for (int t = 0; t < m->n_tensors; t++) { /* in table order: GPT-2's c_attn, c_proj, c_fc, c_proj */
                    if (!m->tensors[t].is_linear || m->tensors[t].layer != l || !specs[t]) continue;
                    int k = m->tensors[t].input;
                    qh_calib cal = {hn[k], H[k], samples, qh_calib_diagonal_only(st)};
                    if (quantize_tensor(m, t, specs[t], &cal, res, err) != 0) goto cleanup;
                    done[t] = 1;
                    qh_progress_step(++quantized);
                }
            }
            double tc = qh_now();
            qh_calib_advance(st, m, l);
            res->seconds_calib += qh_now() - tc;
        }
        if (o->calib->imatrix) snprintf(res->calib_desc, sizeof res->calib_desc, "%s", o->calib->source);
        else
            snprintf(res->calib_desc, sizeof res->calib_desc,
                     "%s, %d windows x %d tokens, seed %lu (sequential: each block's statistics with earlier blocks quantized)",
                     o->calib->source, o->calib->windows, o->calib->ctx, o->calib->seed);
    }
    for (int t = 0; t < m->n_tensors; t++) {
        if (!specs[t] || done[t]) continue;
        if (quantize_tensor(m, t, specs[t], NULL, res, err) != 0) goto cleanup;
        qh_progress_step(++quantized);
    }
finish:
    if (!m->head_tied) round_kept(m->head, (size_t)m->cfg.n_vocab * m->cfg.n_embd, o->kept_dtype);
    qh_quant_account(res, m);
    rc = 0;
cleanup:
    qh_progress_end();
    qh_calib_free(st);
    free(done);
    for (int t = 0; t < m->n_tensors; t++)
        if (specs[t] != def) qh_spec_free(specs[t]);
    free(specs);
    qh_spec_free(def);
    if (rc != 0) qh_quant_result_free(res);
    return rc;
}

void qh_quant_print_report(FILE *f, const qh_model *m, const qh_quant_result *res, int per_tensor)
{
    fprintf(f, "method       %s (default for the scope; kept tensors in %s)\n", res->spec,
            res->kept_desc[0] ? res->kept_desc : qh_dtype_name(res->kept_dtype));
    fprintf(f, "quantized    %d tensors, %zu of %zu parameters (%.1f%%)\n", res->n_q, res->params_quantized,
            res->params_total, 100.0 * res->params_quantized / res->params_total);
    fprintf(f, "bpp          %.4f bits/weight over the quantized tensors (%zu bytes)\n", res->bpp_quantized,
            res->bytes_quantized);
    fprintf(f, "bpp model    %.4f bits/parameter over all %zu parameters (%zu bytes of tensors, kept tensors included)\n",
            res->bpp_model, res->params_total, res->bytes_total);
    fprintf(f, "breakdown   ");
    for (int k = 0; k < QH_PART_KINDS; k++)
        if (res->bytes_by_kind[k])
            fprintf(f, " %s %zu B (%.4f bpp);", qh_part_kind_name((qh_part_kind)k), res->bytes_by_kind[k],
                    8.0 * res->bytes_by_kind[k] / res->params_quantized);
    fprintf(f, " kept tensors %zu B (%.4f bpp of the model)\n", res->bytes_kept, 8.0 * res->bytes_kept / res->params_total);
    if (res->seconds_encode > 0 || res->seconds_decode > 0)
        fprintf(f, "time         encode %.2f s, decode %.2f s, calibration %.2f s\n", res->seconds_encode, res->seconds_decode,
            res->seconds_calib);
    if (res->calib_desc[0]) fprintf(f, "calibration  %s\n", res->calib_desc);
    if (!per_tensor) return;
    fprintf(f, "%-28s %-12s %10s %9s %9s %11s  %s\n", "tensor", "shape", "bytes", "bpp", "rel.err", "sensitivity", "method");
    for (int i = 0; i < res->n_q; i++) {
        const qh_qtensor *q = &res->q[i];
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%d", q->rows, q->cols);
        char relerr[32] = "n/a";
        if (!isnan(q->rel_error)) snprintf(relerr, sizeof relerr, "%.4f", q->rel_error);
        char sens[32] = "-";
        if (!isnan(q->sensitivity)) snprintf(sens, sizeof sens, "%.4g", q->sensitivity);
        fprintf(f, "%-28s %-12s %10zu %9.4f %9s %11s  %s\n", q->name, shape, qh_packed_bytes(&q->packed),
                8.0 * qh_packed_bytes(&q->packed) / ((double)q->rows * q->cols), relerr, sens, q->spec);
    }
    (void)m;
}
