/* eval_ppl.c - sliding-window perplexity; see eval_ppl.h for the protocol. */
#include "harness/eval/eval_ppl.h"

#include <assert.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long start, end, first_scored;
} window;

void qh_ppl_result_free(qh_ppl_result *res)
{
    free(res->window_nll);
    free(res->window_tokens);
    free(res->document_nll);
    free(res->document_tokens);
    res->window_nll = NULL;
    res->window_tokens = NULL;
    res->document_nll = NULL;
    res->document_tokens = NULL;
}

/* ---- protocols: one row each ------------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *summary;
    /* fills win (n / stride + 2 slots) and returns the count, or -1 with err set */
    int (*plan)(long n, int ctx, int stride, long chunks, window *win, qh_err *err);
    const char *unit, *units; /* what a bootstrap resamples: "window", "windows" */
    /* what a perplexity or fidelity result scored, in one line for the commands' outputs */
    void (*describe)(const qh_ppl_result *r, char *out, size_t n);
    void (*describe_fidelity)(const qh_fidelity_result *r, char *out, size_t n);
    const char *note;         /* how its numbers may differ from the program whose protocol it is; NULL: none */
} ppl_protocol;

static int plan_sliding(long n, int ctx, int stride, long chunks, window *win, qh_err *err)
{
    if (chunks) return qh_fail(err, "--chunks belongs to the llama-cpp protocol; the sliding one scores the whole text");
    int n_win = 0;
    long prev_end = 0;
    for (long s = 0;; s += stride) {
        long end = s + ctx < n ? s + ctx : n;
        win[n_win].start = s;
        win[n_win].end = end;
        win[n_win].first_scored = prev_end > s + 1 ? prev_end : s + 1;
        n_win++;
        prev_end = end;
        if (end == n) break;
    }
    return n_win;
}

static int plan_llama_cpp(long n, int ctx, int stride, long chunks, window *win, qh_err *err)
{
    if (stride != ctx) return qh_fail(err, "--stride %d: the llama-cpp protocol's chunks do not overlap (stride = ctx %d)", stride, ctx);
    if (ctx < 4) return qh_fail(err, "--ctx %d: the llama-cpp protocol scores the second half of a chunk; ctx must be at least 4", ctx);
    long n_chunks = n / ctx;
    if (chunks > 0 && chunks < n_chunks) n_chunks = chunks;
    if (n_chunks < 1) return qh_fail(err, "%ld tokens: the llama-cpp protocol needs at least one full chunk of %d", n, ctx);
    for (long i = 0; i < n_chunks; i++) {
        win[i].start = i * ctx;
        win[i].end = (i + 1) * ctx;
        win[i].first_scored = i * ctx + ctx / 2 + 1;
    }
    return (int)n_chunks;
}

static void describe_sliding(const qh_ppl_result *r, char *out, size_t n)
{
    snprintf(out, n, "sliding: windows of ctx %d, stride %d; each token scored once, given the tokens before it in its window", r->ctx,
             r->stride);
}

static void describe_sliding_fidelity(const qh_fidelity_result *r, char *out, size_t n)
{
    snprintf(out, n, "sliding: %d windows of ctx %d (stride = ctx); %ld positions", r->windows, r->ctx, r->positions);
}

static void describe_llama_cpp(const qh_ppl_result *r, char *out, size_t n)
{
    snprintf(out, n, "llama-cpp: %d non-overlapping chunks of %d tokens, positions %d..%d of each scored%s", r->windows, r->ctx,
             r->first_scored_offset, r->ctx - 1,
             r->bos_id >= 0 ? "; first token of each chunk replaced by BOS" : "; no BOS (the vocabulary adds none)");
}

static void describe_llama_cpp_fidelity(const qh_fidelity_result *r, char *out, size_t n)
{
    snprintf(out, n, "llama-cpp: %d chunks of %d tokens, positions %d..%d of each; %ld positions", r->windows, r->ctx, r->ctx / 2 + 1,
             r->ctx - 1, r->positions);
}

static const ppl_protocol protocols[] = {
    {.name = "sliding",
     .summary = "windows of ctx tokens every stride tokens; each token scored once, given the tokens before it in its window",
     .plan = plan_sliding, .unit = "window", .units = "windows", .describe = describe_sliding,
     .describe_fidelity = describe_sliding_fidelity},
    {.name = "llama-cpp",
     .summary = "llama-perplexity's: non-overlapping chunks of ctx tokens, the tokens at positions ctx/2+1..ctx-1 of each scored",
     .plan = plan_llama_cpp, .unit = "chunk", .units = "chunks", .describe = describe_llama_cpp,
     .describe_fidelity = describe_llama_cpp_fidelity,
     .note = "fp32 activations throughout; llama-perplexity quantizes activations to 8 bits in its quantized dot\n"
             "products (and keeps an F16 KV cache), so its number differs from this one by up to ~0.5%"},
};
#define N_PROTOCOLS (int)(sizeof protocols / sizeof protocols[0])

static const ppl_protocol *find_protocol(const char *name)
{
    if (!name) return &protocols[0];
    for (int i = 0; i < N_PROTOCOLS; i++)
        if (strcmp(protocols[i].name, name) == 0) return &protocols[i];
    return NULL;
}

const char *qh_ppl_protocol_list(void)
{
    static char list[128];
    if (!list[0])
        for (int i = 0; i < N_PROTOCOLS; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", protocols[i].name);
    return list;
}

const char *qh_ppl_protocol_units(const char *name, long count)
{
    const ppl_protocol *p = find_protocol(name);
    return !p ? "?" : count == 1 ? p->unit : p->units;
}

int qh_ppl_protocol_check(const char *name, qh_err *err)
{
    if (find_protocol(name)) return 0;
    return qh_fail(err, "unknown perplexity protocol '%s' (known: %s)", name, qh_ppl_protocol_list());
}

const char *qh_ppl_protocol_summary(const char *name)
{
    const ppl_protocol *p = find_protocol(name);
    return p ? p->summary : "?";
}

const char *qh_ppl_protocol_note(const char *name)
{
    const ppl_protocol *p = find_protocol(name);
    return p ? p->note : NULL;
}

void qh_ppl_describe(const qh_ppl_result *r, char *out, size_t n)
{
    const ppl_protocol *p = find_protocol(r->protocol);
    assert(p);
    p->describe(r, out, n);
}

void qh_fidelity_describe(const qh_fidelity_result *r, char *out, size_t n)
{
    const ppl_protocol *p = find_protocol(r->protocol);
    assert(p);
    p->describe_fidelity(r, out, n);
}

int qh_eval_ppl(const qh_model *m, const int *ids, long n, const int *token_bytes,
                const qh_ppl_opts *opts, qh_ppl_result *res, qh_err *err)
{
    memset(res, 0, sizeof *res);
    const ppl_protocol *proto = find_protocol(opts->protocol);
    if (!proto) return qh_ppl_protocol_check(opts->protocol, err);
    int ctx = opts->ctx ? opts->ctx : m->cfg.n_ctx;
    int stride = opts->stride ? opts->stride : ctx;
    if (ctx < 2) return qh_fail(err, "--ctx %d: a window needs at least 2 tokens", ctx);
    if (ctx > qh_config_max_ctx(&m->cfg))
        return qh_fail(err, "--ctx %d: window longer than the model's context (%d)", ctx, qh_config_max_ctx(&m->cfg));
    if (stride < 1 || stride > ctx)
        return qh_fail(err, "--stride %d: must be between 1 and the window length %d", stride, ctx);
    if (opts->max_tokens < 0) return qh_fail(err, "--max-tokens %ld: must be positive", opts->max_tokens);
    if (opts->max_tokens > 0 && opts->max_tokens < n) n = opts->max_tokens;
    if (n < 2) return qh_fail(err, "text has %ld token%s; perplexity needs at least 2", n, n == 1 ? "" : "s");
    if (opts->chunks < 0) return qh_fail(err, "--chunks %ld: must be positive", opts->chunks);
    if (opts->use_bos && (opts->bos_id < 0 || opts->bos_id >= m->cfg.n_vocab))
        return qh_fail(err, "BOS id %d is outside the model's vocabulary (%d)", opts->bos_id, m->cfg.n_vocab);
    for (long i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.n_vocab)
            return qh_fail(err, "token %ld has id %d, outside the model's vocabulary (%d)", i, ids[i], m->cfg.n_vocab);

    long max_windows = n / stride + 2;
    window *win = qh_malloc((size_t)max_windows * sizeof *win);
    int n_win = proto->plan(n, ctx, stride, opts->chunks, win, err);
    if (n_win < 0) {
        free(win);
        return -1;
    }
    int bos_replaced = opts->use_bos && proto->plan == plan_llama_cpp;

    int batch = opts->batch > 0 ? opts->batch : (ctx >= 1024 ? 1 : 1024 / ctx);
    if (batch > n_win) batch = n_win;
    qh_workspace ws;
    qh_workspace_init(&ws, &m->cfg, batch, ctx);
    int *tokens = qh_malloc((size_t)batch * ctx * sizeof *tokens);
    int *targets = qh_malloc((size_t)batch * ctx * sizeof *targets);
    int *owner = qh_malloc((size_t)batch * ctx * sizeof *owner);
    int *row_document = qh_malloc((size_t)batch * ctx * sizeof *row_document);
    int n_doc = opts->token_document ? opts->token_document[n - 1] + 1 : 0;
    double *doc_nll = qh_calloc((size_t)n_doc + 1, sizeof *doc_nll);
    long *doc_tokens = qh_calloc((size_t)n_doc + 1, sizeof *doc_tokens);
    float *hidden = qh_malloc((size_t)batch * ctx * m->cfg.n_embd * sizeof *hidden);
    float *nll = qh_malloc((size_t)batch * ctx * sizeof *nll);
    res->window_nll = qh_calloc((size_t)n_win, sizeof *res->window_nll);
    res->window_tokens = qh_calloc((size_t)n_win, sizeof *res->window_tokens);
    int C = m->cfg.n_embd;

    double t0 = qh_now();
    for (int w0 = 0; w0 < n_win;) {
        /* a batch holds consecutive windows of the same length */
        int T = (int)(win[w0].end - win[w0].start), B = 0;
        while (w0 + B < n_win && B < batch && win[w0 + B].end - win[w0 + B].start == T) B++;
        for (int b = 0; b < B; b++) {
            memcpy(tokens + (size_t)b * T, ids + win[w0 + b].start, (size_t)T * sizeof(int));
            if (bos_replaced) tokens[(size_t)b * T] = opts->bos_id;
        }
        qh_forward(m, tokens, B, T, &ws);
        /* gather the hidden rows that predict scored tokens: row p-1 predicts token p */
        int R = 0;
        for (int b = 0; b < B; b++) {
            const window *w = &win[w0 + b];
            for (long p = w->first_scored; p < w->end; p++) {
                memcpy(hidden + (size_t)R * C, ws.ln + ((size_t)b * T + (size_t)(p - 1 - w->start)) * C, (size_t)C * sizeof(float));
                targets[R] = ids[p];
                owner[R] = w0 + b;
                row_document[R] = opts->token_document ? opts->token_document[p] : 0;
                R++;
            }
            res->tokens_forward += T;
        }
        qh_head_nll(m, hidden, targets, R, nll, &ws);
        for (int r = 0; r < R; r++) {
            res->window_nll[owner[r]] += nll[r];
            res->nll2_sum += (double)nll[r] * nll[r];
            res->window_tokens[owner[r]]++;
            doc_nll[row_document[r]] += nll[r];
            doc_tokens[row_document[r]]++;
            res->bytes_scored += token_bytes ? token_bytes[targets[r]] : 0;
        }
        w0 += B;
        if (opts->progress) opts->progress(opts->progress_ud, w0, n_win);
    }
    res->seconds = qh_now() - t0;

    int bad = -1;
    for (int w = 0; w < n_win; w++) {
        if (bad < 0 && !isfinite(res->window_nll[w])) bad = w;
        res->nll_sum += res->window_nll[w];
        res->tokens_scored += res->window_tokens[w];
    }
    if (bad >= 0) { /* finite weights can still overflow: never a perplexity of nan or inf */
        qh_fail(err, "window %d (tokens %ld-%ld): the model's log-likelihood is %s (its activations overflowed); no perplexity", bad,
                win[bad].start, win[bad].end - 1, qh_nonfinite_name(res->window_nll[bad]));
        free(win), free(tokens), free(targets), free(owner), free(row_document), free(hidden), free(nll);
        free(doc_nll), free(doc_tokens);
        qh_workspace_free(&ws);
        qh_ppl_result_free(res);
        return -1;
    }
    snprintf(res->protocol, sizeof res->protocol, "%s", proto->name);
    res->ctx = ctx;
    res->stride = stride;
    res->first_scored_offset = proto->plan == plan_llama_cpp ? ctx / 2 + 1 : 1;
    res->bos_id = bos_replaced ? opts->bos_id : -1;
    res->max_tokens = opts->max_tokens;
    res->tokens_total = n;
    res->windows = n_win;
    res->mean_nll = res->nll_sum / (double)res->tokens_scored;
    res->ppl = exp(res->mean_nll);
    {
        double N = (double)res->tokens_scored, var = res->nll2_sum / N - res->mean_nll * res->mean_nll;
        res->ppl_pm = N > 1 && var > 0 ? res->ppl * sqrt(var / (N - 1)) : NAN;
    }
    res->bits_per_byte = res->bytes_scored ? res->nll_sum / log(2.0) / (double)res->bytes_scored : NAN;
    res->n_boot = opts->n_boot > 0 ? opts->n_boot : 1000;
    res->seed = opts->seed;
    qh_bootstrap_ratio_exp(res->window_nll, res->window_tokens, n_win, res->n_boot, opts->seed,
                           &res->ppl_lo, &res->ppl_hi);
    res->ppl_doc_lo = res->ppl_doc_hi = NAN;
    if (n_doc) { /* the documents that have a scored token, in order */
        res->document_nll = qh_malloc((size_t)n_doc * sizeof *res->document_nll);
        res->document_tokens = qh_malloc((size_t)n_doc * sizeof *res->document_tokens);
        for (int d = 0; d < n_doc; d++)
            if (doc_tokens[d]) {
                res->document_nll[res->documents] = doc_nll[d];
                res->document_tokens[res->documents++] = doc_tokens[d];
            }
        qh_bootstrap_ratio_exp(res->document_nll, res->document_tokens, res->documents, res->n_boot, opts->seed,
                               &res->ppl_doc_lo, &res->ppl_doc_hi);
    }
    free(row_document);
    free(doc_nll);
    free(doc_tokens);

    free(win);
    free(tokens);
    free(targets);
    free(owner);
    free(hidden);
    free(nll);
    qh_workspace_free(&ws);
    return 0;
}

void qh_fidelity_result_free(qh_fidelity_result *res)
{
    free(res->window_kl);
    free(res->window_positions);
    free(res->window_agree);
    memset(res, 0, sizeof *res);
}

/* log-softmax of a row in place; returns its argmax */
static int log_softmax(float *row, int V)
{
    float mx = -INFINITY;
    int am = 0;
    for (int v = 0; v < V; v++)
        if (row[v] > mx) {
            mx = row[v];
            am = v;
        }
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; v++) sum += qh_fast_expf(row[v] - mx);
    float lse = mx + logf(sum);
    for (int v = 0; v < V; v++) row[v] -= lse;
    return am;
}

/* what every scored position contributes */
typedef struct {
    float kl, dp, nll_base, nll_quant;
    int agree;
} position_stats;

static double mean_se(const double *sum, long n, double *se) /* sum[0] = sum x, sum[1] = sum x^2 */
{
    double mean = sum[0] / n, var = sum[1] / n - mean * mean;
    *se = n > 1 && var > 0 ? sqrt(var / (n - 1)) : 0;
    return mean;
}

static void fidelity_statistics(const position_stats *ps, long N, qh_fidelity_result *res)
{
    double kl[2] = {0}, dp[2] = {0}, dp4 = 0, d[2] = {0}, b[2] = {0}, q[2] = {0}, bq = 0;
    long agree = 0;
    double *sorted = qh_malloc((size_t)N * sizeof *sorted);
    for (long i = 0; i < N; i++) {
        const position_stats *p = &ps[i];
        kl[0] += p->kl;
        kl[1] += (double)p->kl * p->kl;
        dp[0] += p->dp;
        dp[1] += (double)p->dp * p->dp;
        dp4 += (double)p->dp * p->dp * p->dp * p->dp;
        double diff = (double)p->nll_quant - p->nll_base;
        d[0] += diff;
        d[1] += diff * diff;
        b[0] += p->nll_base;
        b[1] += (double)p->nll_base * p->nll_base;
        q[0] += p->nll_quant;
        q[1] += (double)p->nll_quant * p->nll_quant;
        bq += (double)p->nll_base * p->nll_quant;
        agree += p->agree;
        sorted[i] = p->kl;
    }
    res->positions = N;
    res->kl_mean = mean_se(kl, N, &res->kl_se);
    gsl_sort(sorted, 1, (size_t)N);
    res->kl_min = sorted[0];
    res->kl_max = sorted[N - 1];
    res->kl_median = gsl_stats_quantile_from_sorted_data(sorted, 1, (size_t)N, 0.5);
    res->kl_p90 = gsl_stats_quantile_from_sorted_data(sorted, 1, (size_t)N, 0.90);
    res->kl_p95 = gsl_stats_quantile_from_sorted_data(sorted, 1, (size_t)N, 0.95);
    res->kl_p99 = gsl_stats_quantile_from_sorted_data(sorted, 1, (size_t)N, 0.99);
    res->kl_p999 = gsl_stats_quantile_from_sorted_data(sorted, 1, (size_t)N, 0.999);
    free(sorted);
    res->top1 = (double)agree / N;
    res->top1_se = N > 1 ? sqrt(res->top1 * (1 - res->top1) / (N - 1)) : 0;
    res->dp_mean = mean_se(dp, N, &res->dp_se);
    double m2 = dp[1] / N, m2_var = dp4 / N - m2 * m2;
    res->dp_rms = sqrt(m2);
    res->dp_rms_se = res->dp_rms > 0 && N > 1 && m2_var > 0 ? 0.5 / res->dp_rms * sqrt(m2_var / (N - 1)) : 0;
    res->ln_ppl_ratio = mean_se(d, N, &res->ln_ppl_ratio_se);
    res->ppl_base = exp(b[0] / N);
    res->ppl_quant = exp(q[0] / N);
    double vb = b[1] / N - (b[0] / N) * (b[0] / N), vq = q[1] / N - (q[0] / N) * (q[0] / N);
    double cov = bq / N - (b[0] / N) * (q[0] / N);
    res->nll_correlation = vb > 0 && vq > 0 ? cov / sqrt(vb * vq) : NAN;
}

/* The baseline's half of a fidelity evaluation: its log-softmax at every scored position. */
struct qh_fidelity_base {
    const qh_model *model;
    const int *ids;
    long n;
    qh_ppl_opts opts;
    long positions;
    float *logp;   /* (positions, V) */
    int *argmax;   /* (positions) */
};

/* the checks and windows shared by both halves */
static int fidelity_plan(const qh_model *base, const qh_model *quant, const int *ids, long *n, const qh_ppl_opts *opts, int *ctx_out,
                         window **win_out, int *bos_replaced, qh_err *err)
{
    const ppl_protocol *proto = find_protocol(opts->protocol);
    if (!proto) return qh_ppl_protocol_check(opts->protocol, err);
    int ctx = opts->ctx > 0 ? opts->ctx : base->cfg.n_ctx;
    if (ctx < 2) return qh_fail(err, "ctx %d: a window needs at least 2 tokens", ctx);
    if (ctx > qh_config_max_ctx(&base->cfg) || ctx > qh_config_max_ctx(&quant->cfg))
        return qh_fail(err, "ctx %d: window longer than the model's context (%d)", ctx, qh_config_max_ctx(&base->cfg));
    if (base->cfg.n_vocab != quant->cfg.n_vocab || base->cfg.n_embd != quant->cfg.n_embd)
        return qh_fail(err, "fidelity: the two models have different shapes");
    if (opts->max_tokens > 0 && opts->max_tokens < *n) *n = opts->max_tokens;
    if (*n < 2) return qh_fail(err, "fidelity: text too short (%ld tokens)", *n);
    for (long i = 0; i < *n; i++)
        if (ids[i] < 0 || ids[i] >= base->cfg.n_vocab)
            return qh_fail(err, "token %ld has id %d, outside the model's vocabulary (%d)", i, ids[i], base->cfg.n_vocab);
    window *win = qh_malloc((size_t)(*n / ctx + 2) * sizeof *win);
    int n_win = proto->plan(*n, ctx, ctx, opts->chunks, win, err);
    if (n_win < 0) {
        free(win);
        return -1;
    }
    *bos_replaced = opts->use_bos && proto->plan == plan_llama_cpp;
    *ctx_out = ctx;
    *win_out = win;
    return n_win;
}

int qh_fidelity_base_build(const qh_model *base, const int *ids, long n, const qh_ppl_opts *opts, qh_fidelity_base **out,
                           qh_err *err)
{
    *out = NULL;
    int ctx, bos_replaced;
    window *win;
    int n_win = fidelity_plan(base, base, ids, &n, opts, &ctx, &win, &bos_replaced, err);
    if (n_win < 0) return -1;
    int V = base->cfg.n_vocab;
    long positions = 0;
    for (int w = 0; w < n_win; w++) positions += win[w].end - win[w].first_scored > 0 ? win[w].end - win[w].first_scored : 0;
    qh_fidelity_base *fb = qh_calloc(1, sizeof *fb);
    fb->model = base;
    fb->ids = ids;
    fb->n = n;
    fb->opts = *opts;
    fb->opts.progress = NULL;
    fb->positions = positions;
    fb->logp = qh_malloc((size_t)(positions ? positions : 1) * V * sizeof(float));
    fb->argmax = qh_malloc((size_t)(positions ? positions : 1) * sizeof(int));
    /* the same workspace shape, forward calls and head chunks as the uncached evaluation, so
     * that the cached rows are the bits that evaluation computes */
    qh_workspace wb;
    qh_workspace_init(&wb, &base->cfg, 1, ctx);
    int *tokens = qh_malloc((size_t)ctx * sizeof(int));
    long N = 0;
    for (int w = 0; w < n_win; w++) {
        const window *wd = &win[w];
        int T = (int)(wd->end - wd->start), first = (int)(wd->first_scored - wd->start), R = T - first;
        if (R <= 0) continue;
        memcpy(tokens, ids + wd->start, (size_t)T * sizeof(int));
        if (bos_replaced) tokens[0] = opts->bos_id;
        qh_forward(base, tokens, 1, T, &wb);
        for (int r0 = 0; r0 < R; r0 += wb.head_chunk) {
            int rows = R - r0 < wb.head_chunk ? R - r0 : wb.head_chunk;
            float *dst = fb->logp + (size_t)(N + r0) * V;
            qh_head_logits(base, wb.ln + (size_t)(first - 1 + r0) * base->cfg.n_embd, rows, dst);
#pragma omp parallel for
            for (int r = 0; r < rows; r++) fb->argmax[N + r0 + r] = log_softmax(dst + (size_t)r * V, V);
        }
        N += R;
    }
    free(tokens);
    free(win);
    qh_workspace_free(&wb);
    *out = fb;
    return 0;
}

void qh_fidelity_base_free(qh_fidelity_base *fb)
{
    if (!fb) return;
    free(fb->logp);
    free(fb->argmax);
    free(fb);
}

static int fidelity(const qh_model *base, const qh_fidelity_base *fb, const qh_model *quant, const int *ids, long n,
                    const qh_ppl_opts *opts, qh_fidelity_result *res, qh_err *err);

int qh_eval_fidelity(const qh_model *base, const qh_model *quant, const int *ids, long n, const qh_ppl_opts *opts,
                     qh_fidelity_result *res, qh_err *err)
{
    return fidelity(base, NULL, quant, ids, n, opts, res, err);
}

int qh_eval_fidelity_cached(const qh_fidelity_base *fb, const qh_model *quant, qh_fidelity_result *res, qh_err *err)
{
    return fidelity(fb->model, fb, quant, fb->ids, fb->n, &fb->opts, res, err);
}

static int fidelity(const qh_model *base, const qh_fidelity_base *fb, const qh_model *quant, const int *ids, long n,
                    const qh_ppl_opts *opts, qh_fidelity_result *res, qh_err *err)
{
    memset(res, 0, sizeof *res);
    int ctx, bos_replaced;
    window *win;
    int n_win = fidelity_plan(base, quant, ids, &n, opts, &ctx, &win, &bos_replaced, err);
    if (n_win < 0) return -1;
    const ppl_protocol *proto = find_protocol(opts->protocol);
    int V = base->cfg.n_vocab, C = base->cfg.n_embd;
    qh_workspace wb, wq;
    qh_workspace_init(&wb, &base->cfg, 1, ctx);
    qh_workspace_init(&wq, &quant->cfg, 1, ctx);
    float *hb = qh_malloc((size_t)ctx * C * sizeof(float));
    float *lq = qh_malloc((size_t)wq.head_chunk * V * sizeof(float));
    int *tokens = qh_malloc((size_t)ctx * sizeof(int));
    long max_positions = 0;
    for (int w = 0; w < n_win; w++) max_positions += win[w].end - win[w].first_scored;
    position_stats *ps = qh_calloc((size_t)(max_positions ? max_positions : 1), sizeof *ps);
    res->window_kl = qh_calloc((size_t)n_win, sizeof(double));
    res->window_positions = qh_calloc((size_t)n_win, sizeof(long));
    res->window_agree = qh_calloc((size_t)n_win, sizeof(long));
    double t0 = qh_now();
    long N = 0, bad = -1;
    for (int w = 0; w < n_win; w++) {
        const window *wd = &win[w];
        int T = (int)(wd->end - wd->start), first = (int)(wd->first_scored - wd->start);
        int R = T - first; /* row first-1+r predicts token first+r */
        if (R <= 0) continue;
        memcpy(tokens, ids + wd->start, (size_t)T * sizeof(int));
        if (bos_replaced) tokens[0] = opts->bos_id;
        if (!fb) {
            qh_forward(base, tokens, 1, T, &wb);
            memcpy(hb, wb.ln, (size_t)T * C * sizeof(float));
        }
        qh_forward(quant, tokens, 1, T, &wq);
        for (int r0 = 0; r0 < R; r0 += wq.head_chunk) {
            int rows = R - r0 < wq.head_chunk ? R - r0 : wq.head_chunk;
            if (!fb) qh_head_logits(base, hb + (size_t)(first - 1 + r0) * C, rows, wb.logits);
            qh_head_logits(quant, wq.ln + (size_t)(first - 1 + r0) * C, rows, lq);
#pragma omp parallel for
            for (int r = 0; r < rows; r++) {
                float *pb = fb ? fb->logp + (size_t)(N + r0 + r) * V : wb.logits + (size_t)r * V, *pq = lq + (size_t)r * V;
                int ab = fb ? fb->argmax[N + r0 + r] : log_softmax(pb, V), aq = log_softmax(pq, V);
                double kl = 0;
                for (int v = 0; v < V; v++) kl += (double)qh_fast_expf(pb[v]) * (pb[v] - pq[v]);
                int target = ids[wd->start + first + r0 + r];
                position_stats *p = &ps[N + r0 + r];
                p->kl = (float)(kl > 0 || isnan(kl) ? kl : 0); /* rounding can leave -1e-9 where the models agree; NaN stays NaN */
                p->agree = ab == aq;
                p->nll_base = -pb[target];
                p->nll_quant = -pq[target];
                p->dp = expf(pq[target]) - expf(pb[target]);
            }
        }
        for (int r = 0; r < R; r++) {
            res->window_kl[w] += ps[N + r].kl;
            res->window_agree[w] += ps[N + r].agree;
            if (bad < 0 && !(isfinite(ps[N + r].kl) && isfinite(ps[N + r].nll_base) && isfinite(ps[N + r].nll_quant))) bad = (long)wd->start + first + r;
        }
        res->window_positions[w] = R;
        N += R;
    }
    res->seconds = qh_now() - t0;
    snprintf(res->protocol, sizeof res->protocol, "%s", proto->name);
    res->ctx = ctx;
    res->windows = n_win;
    if (N == 0 || bad >= 0) {
        free(win), free(hb), free(lq), free(tokens), free(ps);
        qh_workspace_free(&wb);
        qh_workspace_free(&wq);
        qh_fidelity_result_free(res);
        if (bad >= 0) return qh_fail(err, "fidelity: the log-probabilities at token %ld are not finite (activations overflowed); no KL", bad);
        return qh_fail(err, "fidelity: no position scored (%ld tokens)", n);
    }
    fidelity_statistics(ps, N, res);
    double lo, hi;
    qh_bootstrap_ratio_exp(res->window_kl, res->window_positions, n_win, 1000, opts->seed, &lo, &hi);
    res->kl_lo = log(lo);
    res->kl_hi = log(hi);
    free(win);
    free(hb);
    free(lq);
    free(tokens);
    free(ps);
    qh_workspace_free(&wb);
    qh_workspace_free(&wq);
    return 0;
}
