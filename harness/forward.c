/* forward.c - GPT-2 forward pass; see forward.h.  Each layer is a plain function over flat
 * float arrays with its shapes in a comment, in the manner of llm.c. */
#include "forward.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

/* exp(x) = 2^n * e^r, n = round(x / ln 2), |r| <= ln2 / 2, e^r by a degree-6 polynomial.
 * Written out so that the compiler vectorises it inside `omp simd` loops; glibc's expf is
 * scalar unless the whole build uses -ffast-math. */
float qh_fast_expf(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    /* round to nearest by the 1.5 * 2^23 trick: vectorises, unlike roundf */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f; /* ln2 split in two for accuracy */
    r = r - n * 1.42860682030941723212e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

void qh_workspace_init_rows(qh_workspace *ws, const qh_config *cfg, int max_rows, int max_T)
{
    size_t BT = (size_t)max_rows, C = (size_t)cfg->n_embd;
    ws->B = max_rows / max_T;
    ws->T = max_T;
    ws->C = cfg->n_embd;
    ws->n_head = cfg->n_head;
    ws->n_vocab = cfg->n_vocab;
    ws->x = qh_malloc(BT * C * sizeof(float));
    ws->ln = qh_malloc(BT * C * sizeof(float));
    ws->qkv = qh_malloc(BT * 3 * C * sizeof(float));
    ws->att = qh_malloc(BT * C * sizeof(float));
    ws->fc = qh_malloc(BT * 4 * C * sizeof(float));
    /* one T x T score matrix per thread: attention runs one (window, head) per thread */
    ws->n_scores = omp_get_max_threads();
    ws->scores = qh_malloc((size_t)ws->n_scores * max_T * max_T * sizeof(float));
    ws->head_chunk = 128;
    ws->logits = qh_malloc((size_t)ws->head_chunk * cfg->n_vocab * sizeof(float));
}

void qh_workspace_init(qh_workspace *ws, const qh_config *cfg, int B, int T)
{
    qh_workspace_init_rows(ws, cfg, B * T, T);
}

void qh_workspace_free(qh_workspace *ws)
{
    free(ws->x);
    free(ws->ln);
    free(ws->qkv);
    free(ws->att);
    free(ws->fc);
    free(ws->scores);
    free(ws->logits);
    memset(ws, 0, sizeof *ws);
}

/* out (N, C) = tok_emb[tokens] + pos_emb[t] for tokens (B, T) */
static void embed(float *out, const int *tokens, const float *wte, const float *wpe, int B, int T, int C)
{
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *te = wte + (size_t)tokens[b * T + t] * C, *pe = wpe + (size_t)t * C;
            float *o = out + ((size_t)b * T + t) * C;
            for (int i = 0; i < C; i++) o[i] = te[i] + pe[i];
        }
}

/* out (N, C) = (x - mean) / sqrt(var + eps) * w + b, per row */
static void layernorm(float *out, const float *x, const float *w, const float *bias, int N, int C, float eps)
{
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float mean = 0, var = 0;
        for (int i = 0; i < C; i++) mean += xr[i];
        mean /= C;
        for (int i = 0; i < C; i++) {
            float d = xr[i] - mean;
            var += d * d;
        }
        float rstd = 1.0f / sqrtf(var / C + eps);
        for (int i = 0; i < C; i++) o[i] = (xr[i] - mean) * rstd * w[i] + bias[i];
    }
}

/* out (N, OC) = inp (N, IC) @ w (IC, OC) + bias (OC): Conv1D layout */
static void matmul(float *out, const float *inp, const float *w, const float *bias, int N, int IC, int OC)
{
    qh_gemm(out, (size_t)OC, inp, (size_t)IC, N, IC, w, (size_t)OC, 0, OC, 1.0f, bias);
}

/* Causal multi-head attention for one window and one head, for the queries q0 .. T-1.
 * qkv (T, 3C) -> out (T - q0, C) columns h*hs .. (h+1)*hs; scores (T - q0, T) is scratch.
 * S = Q K^T / sqrt(hs) over every key (the masked part is discarded), causal softmax per
 * row, then out_h = P V.  Row t of the result is the same whatever T >= t + 1 and q0 <= t
 * are: each score is one dot product, the masked probabilities are exact zeros, and 0 * v
 * adds nothing to the chain. */
static void attention_head(float *out, const float *qkv, float *scores, int q0, int T, int C, int NH, int h)
{
    int hs = C / NH, Q = T - q0;
    float scale = 1.0f / sqrtf((float)hs);
    qh_gemm(scores, (size_t)T, qkv + (size_t)q0 * 3 * C + h * hs, (size_t)3 * C, Q, hs, qkv + C + h * hs, (size_t)3 * C, 1, T,
            scale, NULL);
    for (int t = q0; t < T; t++) {
        float *row = scores + (size_t)(t - q0) * T;
        float maxv = -INFINITY, sum = 0;
        for (int j = 0; j <= t; j++) maxv = row[j] > maxv ? row[j] : maxv;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j <= t; j++) {
            row[j] = qh_fast_expf(row[j] - maxv);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j <= t; j++) row[j] *= inv;
        for (int j = t + 1; j < T; j++) row[j] = 0.0f;
    }
    qh_gemm(out + h * hs, (size_t)C, scores, (size_t)T, Q, T, qkv + 2 * C + h * hs, (size_t)3 * C, 0, hs, 1.0f, NULL);
}

/* every (window, head) of the batch, one per thread */
static void attention(qh_workspace *ws, int B, int T, int C, int NH)
{
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(ws->n_scores)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            float *scores = ws->scores + (size_t)omp_get_thread_num() * T * T;
            attention_head(ws->att + (size_t)b * T * C, ws->qkv + (size_t)b * T * 3 * C, scores, 0, T, C, NH, h);
        }
}

/* x (n) <- 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), tanh(u) = 1 - 2 / (e^{2u} + 1) */
static void gelu(float *x, size_t n)
{
    const float k = 0.7978845608028654f;
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float u = k * (v + 0.044715f * v * v * v);
        float th = 1.0f - 2.0f / (qh_fast_expf(2.0f * u) + 1.0f);
        x[i] = 0.5f * v * (1.0f + th);
    }
}

/* x (n) += y (n) */
static void residual(float *x, const float *y, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void qh_embed(const qh_model *m, const int *tokens, int B, int T, qh_workspace *ws)
{
    embed(ws->x, tokens, m->wte, m->wpe, B, T, m->cfg.n_embd);
}

/* the rows of continuations (B, T) and the kept qkv of the prefixes they continue */
typedef struct {
    const float *const *prefix_qkv; /* (B) layer l's rows at prefix_qkv[b] + l * layer_stride, (P[b], 3C) */
    size_t layer_stride;
    const int *P, *S;               /* (B) prefix lengths; continuation lengths (<= T; rows past S[b] are padding) */
    float *qkv_full;                /* (B, max P + T, 3C) scratch */
    int max_len;
} continuation;

/* Attention of continuations: row t of continuation b attends to the P[b] prefix rows and its
 * own rows up to t.  Prefix and continuation rows are put together into one (P + S, 3C)
 * matrix and attention_head runs on it as on the whole sequence, so every row gets the bits
 * it gets when the whole sequence runs at once (rows depend only on the rows before them). */
static void attention_continue(qh_workspace *ws, const continuation *k, int l, int B, int T, int C, int NH)
{
#pragma omp parallel for
    for (int b = 0; b < B; b++) {
        int P = k->P[b];
        float *full = k->qkv_full + (size_t)b * k->max_len * 3 * C;
        memcpy(full, k->prefix_qkv[b] + (size_t)l * k->layer_stride, (size_t)P * 3 * C * sizeof(float));
        memcpy(full + (size_t)P * 3 * C, ws->qkv + (size_t)b * T * 3 * C, (size_t)k->S[b] * 3 * C * sizeof(float));
        memset(ws->att + ((size_t)b * T + k->S[b]) * C, 0, (size_t)(T - k->S[b]) * C * sizeof(float)); /* padding rows */
    }
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(ws->n_scores)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            float *scores = ws->scores + (size_t)omp_get_thread_num() * ws->T * ws->T;
            attention_head(ws->att + (size_t)b * T * C, k->qkv_full + (size_t)b * k->max_len * 3 * C, scores, k->P[b],
                           k->P[b] + k->S[b], C, NH, h);
        }
}

static void block(const qh_model *m, int l, int B, int T, qh_workspace *ws, const continuation *k, qh_capture_fn capture, void *ud)
{
    const qh_config *c = &m->cfg;
    int C = c->n_embd, N = B * T;
    size_t NC = (size_t)N * C;
    const qh_block *bl = &m->blocks[l];
    layernorm(ws->ln, ws->x, bl->ln1_w, bl->ln1_b, N, C, c->ln_eps);
    if (capture) capture(ud, l, QH_IN_ATTN, ws->ln, N, C);
    matmul(ws->qkv, ws->ln, bl->attn_w, bl->attn_b, N, C, 3 * C);
    if (k) attention_continue(ws, k, l, B, T, C, c->n_head);
    else attention(ws, B, T, C, c->n_head);
    if (capture) capture(ud, l, QH_IN_ATTN_PROJ, ws->att, N, C);
    matmul(ws->ln, ws->att, bl->attnproj_w, bl->attnproj_b, N, C, C);
    residual(ws->x, ws->ln, NC);
    layernorm(ws->ln, ws->x, bl->ln2_w, bl->ln2_b, N, C, c->ln_eps);
    if (capture) capture(ud, l, QH_IN_FC, ws->ln, N, C);
    matmul(ws->fc, ws->ln, bl->fc_w, bl->fc_b, N, C, 4 * C);
    gelu(ws->fc, (size_t)N * 4 * C);
    if (capture) capture(ud, l, QH_IN_FC_PROJ, ws->fc, N, 4 * C);
    matmul(ws->ln, ws->fc, bl->fcproj_w, bl->fcproj_b, N, 4 * C, C);
    residual(ws->x, ws->ln, NC);
}

void qh_block_forward(const qh_model *m, int l, int B, int T, qh_workspace *ws, qh_capture_fn capture, void *ud)
{
    block(m, l, B, T, ws, NULL, capture, ud);
}

void qh_final_norm(const qh_model *m, int B, int T, qh_workspace *ws)
{
    layernorm(ws->ln, ws->x, m->lnf_w, m->lnf_b, B * T, m->cfg.n_embd, m->cfg.ln_eps);
}

void qh_forward(const qh_model *m, const int *tokens, int B, int T, qh_workspace *ws)
{
    qh_embed(m, tokens, B, T, ws);
    for (int l = 0; l < m->cfg.n_layer; l++) qh_block_forward(m, l, B, T, ws, NULL, NULL);
    qh_final_norm(m, B, T, ws);
}

void qh_forward_keep_qkv(const qh_model *m, const int *tokens, int B, int T, qh_workspace *ws, float *qkv_keep)
{
    size_t layer = (size_t)B * T * 3 * m->cfg.n_embd;
    qh_embed(m, tokens, B, T, ws);
    for (int l = 0; l < m->cfg.n_layer; l++) {
        qh_block_forward(m, l, B, T, ws, NULL, NULL);
        memcpy(qkv_keep + l * layer, ws->qkv, layer * sizeof(float));
    }
}

void qh_forward_continue(const qh_model *m, const int *tokens, int B, int T, const float *const *prefix_qkv, size_t layer_stride,
                         const int *P, const int *S, qh_workspace *ws)
{
    int C = m->cfg.n_embd, max_len = 0;
    for (int b = 0; b < B; b++) max_len = P[b] + T > max_len ? P[b] + T : max_len;
    continuation k = {prefix_qkv, layer_stride, P, S, qh_malloc((size_t)B * max_len * 3 * C * sizeof(float)), max_len};
    /* embeddings at the positions after each prefix; padding rows get a valid position */
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int pos = P[b] + t < m->cfg.n_ctx ? P[b] + t : m->cfg.n_ctx - 1;
            const float *te = m->wte + (size_t)tokens[b * T + t] * C, *pe = m->wpe + (size_t)pos * C;
            float *o = ws->x + ((size_t)b * T + t) * C;
            for (int i = 0; i < C; i++) o[i] = te[i] + pe[i];
        }
    for (int l = 0; l < m->cfg.n_layer; l++) block(m, l, B, T, ws, &k, NULL, NULL);
    qh_final_norm(m, B, T, ws);
    free(k.qkv_full);
}

void qh_head_logits(const qh_model *m, const float *hidden, int R, float *logits)
{
    int C = m->cfg.n_embd, V = m->cfg.n_vocab;
    qh_gemm(logits, (size_t)V, hidden, (size_t)C, R, C, m->head, (size_t)C, 1, V, 1.0f, NULL);
}

void qh_head_nll(const qh_model *m, const float *hidden, const int *targets, int R, float *nll, qh_workspace *ws)
{
    qh_head_nll_argmax(m, hidden, targets, R, nll, NULL, ws);
}

void qh_head_nll_argmax(const qh_model *m, const float *hidden, const int *targets, int R, float *nll,
                        unsigned char *is_argmax, qh_workspace *ws)
{
    int C = m->cfg.n_embd, V = m->cfg.n_vocab;
    for (int r0 = 0; r0 < R; r0 += ws->head_chunk) {
        int rows = R - r0 < ws->head_chunk ? R - r0 : ws->head_chunk;
        qh_head_logits(m, hidden + (size_t)r0 * C, rows, ws->logits);
#pragma omp parallel for
        for (int r = 0; r < rows; r++) {
            const float *row = ws->logits + (size_t)r * V;
            float maxv = -INFINITY;
            for (int v = 0; v < V; v++) maxv = row[v] > maxv ? row[v] : maxv;
            float sum = 0;
#pragma omp simd reduction(+ : sum)
            for (int v = 0; v < V; v++) sum += qh_fast_expf(row[v] - maxv);
            nll[r0 + r] = (float)((double)maxv + log((double)sum) - row[targets[r0 + r]]);
            if (is_argmax) { /* the target is the greedy choice (first index on ties) */
                float t = row[targets[r0 + r]];
                int first = 1;
                for (int v = 0; v < targets[r0 + r] && first; v++) first = row[v] < t;
                is_argmax[r0 + r] = (unsigned char)(first && t == maxv);
            }
        }
    }
}

double qh_forward_flops(const qh_config *c, int B, int T, long head_rows)
{
    double N = (double)B * T, C = c->n_embd;
    double per_layer = 2 * N * C * (3 * C + C + 4 * C + 4 * C) /* four linear layers */
                       + 2 * 2 * (double)B * T * T * C;        /* QK^T and PV, full T x T */
    return c->n_layer * per_layer + 2.0 * head_rows * C * c->n_vocab;
}
