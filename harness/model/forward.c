/* forward.c - the forward pass; see forward.h.  Each layer is a plain function over flat float
 * arrays with its shapes in a comment, in the manner of llm.c (layers.h); an architecture's
 * block function, in its own file (arch_gpt2.c, arch_llama.c, arch_gemma3.c), strings them
 * together. */
#include "harness/model/forward.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness/base/gemm.h"
#include "harness/model/layers.h"

/* exp(x) = 2^n * e^r, n = round(x / ln 2), |r| <= ln2 / 2, e^r by a degree-6 polynomial.
 * Written out so that the compiler vectorises it inside `omp simd` loops; glibc's expf is
 * scalar unless the whole build uses -ffast-math. */
float qh_fast_expf(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    /* round to nearest by the 1.5 * 2^23 trick: vectorises, unlike roundf */
    float shifted = x * 1.44269504088896341f + 12582912.0f;
    float n = shifted - 12582912.0f;
    float r = x - n * 0.693145751953125f; /* ln2 split in two for accuracy */
    r = r - n * 1.42860682030941723212e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^n from the low bits of the shifted sum, which hold n as an integer: no float-to-int
     * conversion, so a NaN (an overflowed activation) stays NaN instead of being undefined */
    uint32_t shifted_bits;
    memcpy(&shifted_bits, &shifted, 4);
    uint32_t bits = (shifted_bits - 0x4B400000u + 127u) << 23;
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
    ws->W = qh_config_qkv_width(cfg);
    ws->F = qh_config_ff(cfg);
    ws->QW = qh_config_dim(cfg, QH_DIM_Q);
    ws->hs = qh_config_head_dim(cfg);
    size_t fc = qh_config_arch(cfg)->mlp != QH_MLP_GELU ? 2 * (size_t)ws->F : (size_t)ws->F;
    ws->x = qh_malloc(BT * C * sizeof(float));
    ws->ln = qh_malloc(BT * C * sizeof(float));
    ws->qkv = qh_malloc(BT * (size_t)ws->W * sizeof(float));
    ws->att = qh_malloc(BT * (size_t)ws->QW * sizeof(float));
    ws->fc = qh_malloc(BT * fc * sizeof(float));
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

/* the rows of continuations (B, T) and the kept qkv of the prefixes they continue */
struct qh_continuation {
    const float *const *prefix_qkv; /* (B) layer l's rows at prefix_qkv[b] + l * layer_stride, (P[b], 3C) */
    size_t layer_stride;
    const int *P, *S;               /* (B) prefix lengths; continuation lengths (<= T; rows past S[b] are padding) */
    float *qkv_full;                /* (B, max P + T, 3C) scratch */
    int max_len;
};

/* out (N, C) = tok_emb[tokens] + pos_emb[t] for tokens (B, T); wpe NULL: rotary positions,
 * applied in attention; scale != 1: tok_emb[tokens] * scale (Gemma's sqrt(C)) */
static void embed(float *out, const int *tokens, const float *wte, const float *wpe, int B, int T, int C, float scale)
{
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *te = wte + (size_t)tokens[b * T + t] * C;
            float *o = out + ((size_t)b * T + t) * C;
            if (!wpe) {
                if (scale == 1.0f) memcpy(o, te, (size_t)C * sizeof(float));
                else
                    for (int i = 0; i < C; i++) o[i] = te[i] * scale;
                continue;
            }
            const float *pe = wpe + (size_t)t * C;
            for (int i = 0; i < C; i++) o[i] = te[i] + pe[i];
        }
}

/* out (N, C) = x / sqrt(mean(x^2) + eps) * w, per row (the sum in double, as ggml's rms_norm) */
void qh_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps)
{
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *o = out + (size_t)n * C;
        double ss = 0;
        for (int i = 0; i < C; i++) ss += (double)xr[i] * xr[i];
        float scale = 1.0f / sqrtf((float)(ss / C) + eps);
        for (int i = 0; i < C; i++) o[i] = (xr[i] * scale) * w[i];
    }
}

/* Rotary positions on the q and k parts of qkv (B*T, W): row t of window b is at position
 * pos0[b] + t (pos0 NULL: 0).  Each head's pairs rotate by pos * theta^(-2i/hs): the adjacent
 * pairs (2i, 2i+1) (Meta's and llama.cpp's "normal" RoPE) or, neox, the pairs (i, i + hs/2).
 * q has n_head heads of hs from column 0, k n_kv heads from column QW = n_head * hs. */
void qh_rope(float *qkv, int B, int T, int W, int hs, int n_head, int n_kv, float theta, int neox, const qh_continuation *k)
{
    const int *pos0 = k ? k->P : NULL;
    int QW = n_head * hs, second = neox ? hs / 2 : 1, stride = neox ? 1 : 2;
    double *freq = qh_malloc((size_t)(hs / 2) * sizeof(double)); /* theta^(-2i/hs), once per call, not per row */
    for (int i = 0; i < hs / 2; i++) freq[i] = pow((double)theta, -2.0 * i / hs);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            double pos = (double)((pos0 ? pos0[b] : 0) + t);
            float *row = qkv + ((size_t)b * T + t) * W;
            for (int i = 0; i < hs / 2; i++) {
                double angle = pos * freq[i];
                float c = (float)cos(angle), s = (float)sin(angle);
                for (int h = 0; h < n_head + n_kv; h++) {
                    float *v = row + (h < n_head ? h * hs : QW + (h - n_head) * hs) + stride * i;
                    float x0 = v[0], x1 = v[second];
                    v[0] = x0 * c - x1 * s;
                    v[second] = x0 * s + x1 * c;
                }
            }
        }
    free(freq);
}

/* RMSNorm of each of n_heads heads of hs columns from column col0 of the rows (N, W), in place,
 * with the one weight (hs) they share */
void qh_head_rmsnorm(float *rows, int N, int W, int col0, int n_heads, int hs, const float *w, float eps)
{
#pragma omp parallel for collapse(2)
    for (int n = 0; n < N; n++)
        for (int h = 0; h < n_heads; h++) {
            float *v = rows + (size_t)n * W + col0 + (size_t)h * hs;
            double ss = 0;
            for (int i = 0; i < hs; i++) ss += (double)v[i] * v[i];
            float scale = 1.0f / sqrtf((float)(ss / hs) + eps);
            for (int i = 0; i < hs; i++) v[i] = (v[i] * scale) * w[i];
        }
}

/* gate (n) <- silu(gate) * up = gate / (1 + e^-gate) * up */
void qh_swiglu(float *gate, const float *up, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + qh_fast_expf(-g)) * up[i];
    }
}

/* 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))), tanh(u) = 1 - 2 / (e^{2u} + 1): GELU by its
 * tanh approximation, as GPT-2 and Gemma were trained with */
#pragma omp declare simd
static inline float gelu_tanh(float v)
{
    float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    return 0.5f * v * (1.0f + (1.0f - 2.0f / (qh_fast_expf(2.0f * u) + 1.0f)));
}

/* gate (n) <- qh_gelu(gate) * up */
void qh_geglu(float *gate, const float *up, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) gate[i] = gelu_tanh(gate[i]) * up[i];
}

/* out (N, C) = (x - mean) / sqrt(var + eps) * w + b, per row */
void qh_layernorm(float *out, const float *x, const float *w, const float *bias, int N, int C, float eps)
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
void qh_matmul(float *out, const float *inp, const float *w, const float *bias, int N, int IC, int OC)
{
    qh_gemm(out, (size_t)OC, inp, (size_t)IC, N, IC, w, (size_t)OC, 0, OC, 1.0f, bias);
}

/* Causal attention for one window and one head, for the queries q0 .. T-1.
 * q, k, v: the head's columns of the window's (T, ld) qkv rows -> out (T - q0, hs) at row
 * stride ldo; scores (T - q0, T) is scratch.  S = Q K^T / sqrt(hs) over every key (the masked
 * part is discarded), causal softmax per row (sliding > 0: over the keys t - sliding + 1 .. t
 * only, llama.cpp's standard sliding window), then out = P V.  Row t of the result is the same
 * whatever T >= t + 1 and q0 <= t are: each score is one dot product, the masked probabilities
 * are exact zeros, and 0 * v adds nothing to the chain. */
static void attention_head(float *out, size_t ldo, const float *q, const float *k, const float *v, size_t ld, float *scores, int q0,
                           int T, int hs, int sliding)
{
    int Q = T - q0;
    float scale = 1.0f / sqrtf((float)hs);
    qh_gemm(scores, (size_t)T, q + (size_t)q0 * ld, ld, Q, hs, k, ld, 1, T, scale, NULL);
    for (int t = q0; t < T; t++) {
        float *row = scores + (size_t)(t - q0) * T;
        float maxv = -INFINITY, sum = 0;
        int lo = sliding > 0 && t - sliding + 1 > 0 ? t - sliding + 1 : 0;
        for (int j = lo; j <= t; j++) maxv = row[j] > maxv ? row[j] : maxv;
#pragma omp simd reduction(+ : sum)
        for (int j = lo; j <= t; j++) {
            row[j] = qh_fast_expf(row[j] - maxv);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < lo; j++) row[j] = 0.0f;
        for (int j = lo; j <= t; j++) row[j] *= inv;
        for (int j = t + 1; j < T; j++) row[j] = 0.0f;
    }
    qh_gemm(out, ldo, scores, (size_t)T, Q, T, v, ld, 0, hs, 1.0f, NULL);
}

/* Head h of one window: qkv (T, W) rows with q at column 0, k at QW, v at QW + KVW -> att
 * (T, QW); query heads share K/V heads in groups of n_head / n_kv (grouped-query attention;
 * GPT-2: groups of 1). */
static void attention_window_head(float *att, const float *qkv, float *scores, int q0, int T, const qh_workspace *ws, int n_kv, int h,
                                  int sliding)
{
    int QW = ws->QW, hs = ws->hs, kvw = (ws->W - QW) / 2, kh = h / (ws->n_head / n_kv);
    attention_head(att + h * hs, (size_t)QW, qkv + h * hs, qkv + QW + kh * hs, qkv + QW + kvw + kh * hs, (size_t)ws->W, scores, q0, T,
                   hs, sliding);
}

/* every (window, head) of the batch, one per thread */
static void attention(qh_workspace *ws, int B, int T, int n_kv, int sliding)
{
    int QW = ws->QW, NH = ws->n_head;
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(ws->n_scores)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            float *scores = ws->scores + (size_t)omp_get_thread_num() * T * T;
            attention_window_head(ws->att + (size_t)b * T * QW, ws->qkv + (size_t)b * T * ws->W, scores, 0, T, ws, n_kv, h, sliding);
        }
}

/* x (n) <- qh_gelu(x) */
void qh_gelu(float *x, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) x[i] = gelu_tanh(x[i]);
}

/* x (n) += y (n) */
void qh_residual(float *x, const float *y, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* Separate q, k, v matrices (Llama, Gemma): ws->qkv (N, W) <- [ln wq | ln wk | ln wv], q QW wide
 * and k, v (W - QW) / 2 each, so that attention and the kept prefixes of shared contexts read
 * them as GPT-2's fused product */
void qh_qkv_separate(qh_workspace *ws, const qh_block *bl, int N, int C)
{
    int W = ws->W, QW = ws->QW, KV = (W - QW) / 2;
    qh_gemm(ws->qkv, (size_t)W, ws->ln, (size_t)C, N, C, bl->wq, (size_t)QW, 0, QW, 1.0f, NULL);
    qh_gemm(ws->qkv + QW, (size_t)W, ws->ln, (size_t)C, N, C, bl->wk, (size_t)KV, 0, KV, 1.0f, NULL);
    qh_gemm(ws->qkv + QW + KV, (size_t)W, ws->ln, (size_t)C, N, C, bl->wv, (size_t)KV, 0, KV, 1.0f, NULL);
}

/* A gated MLP: ws->ln (N, C) <- down(act(gate ln) * up ln), gate and up (N, F) in ws->fc */
void qh_gated_mlp(const qh_model *m, int l, int N, qh_workspace *ws, void (*act)(float *gate, const float *up, size_t n),
                      qh_capture_fn capture, void *ud)
{
    const qh_block *bl = &m->blocks[l];
    int C = m->cfg.n_embd, F = ws->F;
    float *gate = ws->fc, *up = ws->fc + (size_t)N * F;
    qh_matmul(gate, ws->ln, bl->gate_w, NULL, N, C, F);
    qh_matmul(up, ws->ln, bl->fc_w, NULL, N, C, F);
    act(gate, up, (size_t)N * F);
    if (capture) capture(ud, l, QH_IN_FC_PROJ, gate, N, F);
    qh_matmul(ws->ln, gate, bl->fcproj_w, NULL, N, F, C);
}

static float embed_scale(const qh_model *m)
{
    return qh_config_arch(&m->cfg)->embed_scaled ? sqrtf((float)m->cfg.n_embd) : 1.0f;
}

void qh_embed(const qh_model *m, const int *tokens, int B, int T, qh_workspace *ws)
{
    embed(ws->x, tokens, m->wte, m->wpe, B, T, m->cfg.n_embd, embed_scale(m));
}


/* Attention of continuations: row t of continuation b attends to the P[b] prefix rows and its
 * own rows up to t.  Prefix and continuation rows are put together into one (P + S, 3C)
 * matrix and attention_head runs on it as on the whole sequence, so every row gets the bits
 * it gets when the whole sequence runs at once (rows depend only on the rows before them). */
static void attention_continue(qh_workspace *ws, const qh_continuation *k, int l, int B, int T, int n_kv, int sliding)
{
    int QW = ws->QW, NH = ws->n_head;
    size_t W = (size_t)ws->W;
#pragma omp parallel for
    for (int b = 0; b < B; b++) {
        int P = k->P[b];
        float *full = k->qkv_full + (size_t)b * k->max_len * W;
        memcpy(full, k->prefix_qkv[b] + (size_t)l * k->layer_stride, (size_t)P * W * sizeof(float));
        memcpy(full + (size_t)P * W, ws->qkv + (size_t)b * T * W, (size_t)k->S[b] * W * sizeof(float));
        memset(ws->att + ((size_t)b * T + k->S[b]) * QW, 0, (size_t)(T - k->S[b]) * QW * sizeof(float)); /* padding rows */
    }
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(ws->n_scores)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            float *scores = ws->scores + (size_t)omp_get_thread_num() * ws->T * ws->T;
            attention_window_head(ws->att + (size_t)b * T * QW, k->qkv_full + (size_t)b * k->max_len * W, scores, k->P[b],
                                  k->P[b] + k->S[b], ws, n_kv, h, sliding);
        }
}

void qh_attend(qh_workspace *ws, const qh_continuation *k, int l, int B, int T, int n_kv, int sliding)
{
    if (k) attention_continue(ws, k, l, B, T, n_kv, sliding);
    else attention(ws, B, T, n_kv, sliding);
}

static void block(const qh_model *m, int l, int B, int T, qh_workspace *ws, const qh_continuation *k, qh_capture_fn capture, void *ud)
{
    qh_config_arch(&m->cfg)->forward_block(m, l, B, T, ws, k, capture, ud);
}

void qh_block_forward(const qh_model *m, int l, int B, int T, qh_workspace *ws, qh_capture_fn capture, void *ud)
{
    block(m, l, B, T, ws, NULL, capture, ud);
}

void qh_final_norm(const qh_model *m, int B, int T, qh_workspace *ws)
{
    if (qh_config_arch(&m->cfg)->norm == QH_NORM_RMS) qh_rmsnorm(ws->ln, ws->x, m->lnf_w, B * T, m->cfg.n_embd, m->cfg.ln_eps);
    else qh_layernorm(ws->ln, ws->x, m->lnf_w, m->lnf_b, B * T, m->cfg.n_embd, m->cfg.ln_eps);
}

void qh_forward(const qh_model *m, const int *tokens, int B, int T, qh_workspace *ws)
{
    qh_embed(m, tokens, B, T, ws);
    for (int l = 0; l < m->cfg.n_layer; l++) qh_block_forward(m, l, B, T, ws, NULL, NULL);
    qh_final_norm(m, B, T, ws);
}

void qh_forward_keep_qkv(const qh_model *m, const int *tokens, int B, int T, qh_workspace *ws, float *qkv_keep)
{
    size_t layer = (size_t)B * T * qh_config_qkv_width(&m->cfg);
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
    float scale = embed_scale(m);
    for (int b = 0; b < B; b++) max_len = P[b] + T > max_len ? P[b] + T : max_len;
    qh_continuation k = {prefix_qkv, layer_stride, P, S, qh_malloc((size_t)B * max_len * ws->W * sizeof(float)), max_len};
    /* embeddings at the positions after each prefix; padding rows get a valid position */
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int pos = P[b] + t < m->cfg.n_ctx ? P[b] + t : m->cfg.n_ctx - 1;
            const float *te = m->wte + (size_t)tokens[b * T + t] * C;
            float *o = ws->x + ((size_t)b * T + t) * C;
            if (!m->wpe && scale == 1.0f) memcpy(o, te, (size_t)C * sizeof(float));
            else if (!m->wpe)
                for (int i = 0; i < C; i++) o[i] = te[i] * scale;
            else
                for (int i = 0; i < C; i++) o[i] = te[i] + m->wpe[(size_t)pos * C + i];
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
    double N = (double)B * T, C = c->n_embd, W = qh_config_qkv_width(c), F = qh_config_ff(c), QW = qh_config_dim(c, QH_DIM_Q);
    double mlp = qh_config_arch(c)->mlp != QH_MLP_GELU ? 3 * C * F : 2 * C * F;
    double per_layer = 2 * N * (C * W + QW * C + mlp) /* the linear layers */
                       + 2 * 2 * (double)B * T * T * QW; /* QK^T and PV, full T x T */
    return c->n_layer * per_layer + 2.0 * head_rows * C * c->n_vocab;
}
