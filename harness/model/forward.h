/* forward.h - the forward pass in fp32 over a batch of windows, one block function per
 * architecture (arch.h).
 *
 * GPT-2: pre-LayerNorm blocks, GELU (tanh approximation), learned positions.  Llama: RMSNorm,
 * rotary positions (adjacent pairs, Meta's and llama.cpp's order), grouped-query attention,
 * SwiGLU MLP.  Gemma 3: embeddings scaled by sqrt(C), RMSNorm before and after attention and
 * MLP, RMSNorm of each query and key head, NeoX-order RoPE with a base per layer, sliding-window
 * attention in five layers of six, GeGLU MLP.  Every
 * matrix product is a qh_gemm (gemm.h), so the result for a window is the same bits in any
 * batch slot, batch size, padding length or thread count; element-wise work, softmax and the
 * head's log-sum-exp run on OpenMP threads, row by row.  The head (C x V, the largest product) is applied only
 * to the rows the caller asks for, in chunks, so no (B*T x V) logit array is ever held. */
#ifndef QH_FORWARD_H
#define QH_FORWARD_H

#include "harness/model/model.h"

typedef struct qh_workspace {
    int B, T, C, n_head, n_vocab;   /* capacity */
    int W, F;       /* qkv row width (qh_config_qkv_width), MLP hidden width */
    int QW, hs;     /* query width (n_head * hs; C except in Gemma 3) and head width */
    float *x;       /* (B*T, C) residual stream */
    float *ln;      /* (B*T, C) norm output; after qh_forward: final hidden states */
    float *qkv;     /* (B*T, W) q | k | v per row */
    float *att;     /* (B*T, QW) attention output before the projection */
    float *fc;      /* GPT-2 (B*T, 4C); gated MLPs: gate (B*T, F) then up (B*T, F) */
    float *scores;  /* (n_scores, T, T) attention probabilities, one matrix per thread */
    int n_scores;
    float *logits;  /* (head_chunk, V) */
    int head_chunk;
} qh_workspace;

void qh_workspace_init(qh_workspace *ws, const qh_config *cfg, int B, int T);
/* Buffers for any (B, T) with B*T <= max_rows and T <= max_T. */
void qh_workspace_init_rows(qh_workspace *ws, const qh_config *cfg, int max_rows, int max_T);
void qh_workspace_free(qh_workspace *ws);

/* tokens (B, T) -> ws->ln (B*T, C): hidden states after the final LayerNorm.
 * Requires B <= ws->B, T <= ws->T <= n_ctx and every token < n_vocab (checked by callers). */
void qh_forward(const qh_model *m, const int *tokens, int B, int T, qh_workspace *ws);

/* The same pass in pieces, for calibration: embeddings into ws->x (B*T, C); one block on
 * ws->x in place, calling capture with each of its four linear-layer inputs (QH_IN_*, arch.h);
 * the final norm into ws->ln. */
void qh_embed(const qh_model *m, const int *tokens, int B, int T, qh_workspace *ws);
void qh_block_forward(const qh_model *m, int l, int B, int T, qh_workspace *ws, qh_capture_fn capture, void *ud);
void qh_final_norm(const qh_model *m, int B, int T, qh_workspace *ws);

/* Shared prefixes (several continuations of one context, as the choices of a multiple-choice
 * item): qh_forward_keep_qkv runs prefixes (B, T) and keeps every layer's qkv rows in
 * qkv_keep (n_layer, B*T, W); qh_forward_continue then runs continuations (B, T, right-
 * padded; continuation b has S[b] tokens and continues a prefix of P[b] tokens whose layer-l
 * qkv rows (P[b], W) are at prefix_qkv[b] + l * layer_stride) into ws->ln.  (Kept k rows are
 * already rotated at their positions; continuation rows are rotated at P[b] + t.)  Row t of
 * continuation b gets the same bits as row P[b] + t of the whole sequence run by qh_forward:
 * its attention is computed on the prefix's rows and its own as one sequence.  Requires
 * P[b] + S[b] <= ws->T. */
void qh_forward_keep_qkv(const qh_model *m, const int *tokens, int B, int T, qh_workspace *ws, float *qkv_keep);
void qh_forward_continue(const qh_model *m, const int *tokens, int B, int T, const float *const *prefix_qkv, size_t layer_stride,
                         const int *P, const int *S, qh_workspace *ws);

/* hidden (R, C) -> logits (R, V). */
void qh_head_logits(const qh_model *m, const float *hidden, int R, float *logits);

/* hidden (R, C), targets (R) -> nll (R) = logsumexp(logits) - logits[target], computed in
 * chunks of ws->head_chunk rows through ws->logits. */
void qh_head_nll(const qh_model *m, const float *hidden, const int *targets, int R, float *nll,
                 qh_workspace *ws);

/* As qh_head_nll; is_argmax (R, may be NULL) gets 1 where the target is the argmax. */
void qh_head_nll_argmax(const qh_model *m, const float *hidden, const int *targets, int R, float *nll,
                        unsigned char *is_argmax, qh_workspace *ws);

/* Floating-point operations of qh_forward for (B, T) plus a head over R rows: 2 per
 * multiply-add of every matrix product as computed (attention over the full T x T). */
double qh_forward_flops(const qh_config *cfg, int B, int T, long head_rows);

/* Vectorisable exp for the hot loops (relative error < 2e-7 on [-87, 88]). */
float qh_fast_expf(float x);

#endif
