/* layers.h - the layers of the forward pass (forward.c), for the block functions of the
 * architectures' files (arch_gpt2.c, arch_llama.c, arch_gemma3.c): each a plain function over
 * flat float arrays, shapes in its comment, run on the OpenMP threads.  A block function is a
 * paper's equations in these calls; forward.c runs the blocks (forward.h). */
#ifndef QH_LAYERS_H
#define QH_LAYERS_H

#include <stddef.h>

#include "harness/model/forward.h"

/* out (N, C) = (x - mean) / sqrt(var + eps) * w + b, per row */
void qh_layernorm(float *out, const float *x, const float *w, const float *bias, int N, int C, float eps);
/* out (N, C) = x / sqrt(mean(x^2) + eps) * w, per row (the sum in double, as ggml's rms_norm); out may be x */
void qh_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps);
/* RMSNorm of each of n_heads heads of hs columns from column col0 of the rows (N, W), in place,
 * with the one weight (hs) they share */
void qh_head_rmsnorm(float *rows, int N, int W, int col0, int n_heads, int hs, const float *w, float eps);
/* out (N, OC) = inp (N, IC) @ w (IC, OC) + bias (OC, may be NULL): the (in, out) layout of model.h */
void qh_matmul(float *out, const float *inp, const float *w, const float *bias, int N, int IC, int OC);
/* x (n) <- gelu(x), by its tanh approximation */
void qh_gelu(float *x, size_t n);
/* gate (n) <- silu(gate) * up */
void qh_swiglu(float *gate, const float *up, size_t n);
/* gate (n) <- gelu(gate) * up */
void qh_geglu(float *gate, const float *up, size_t n);
/* x (n) += y (n) */
void qh_residual(float *x, const float *y, size_t n);

/* The rows a block runs are whole windows, or continuations of kept prefixes (forward.h's
 * qh_forward_continue): k is NULL for windows.  Blocks pass k on without looking inside. */
typedef struct qh_continuation qh_continuation;
/* Rotary positions on the q and k parts of qkv (B*T, W): row t of window b is at position t,
 * or P[b] + t when it continues a prefix of P[b] tokens.  Each head's pairs rotate by
 * pos * theta^(-2i/hs): the adjacent pairs (2i, 2i+1) (Meta's and llama.cpp's "normal" RoPE)
 * or, neox, the pairs (i, i + hs/2).  q has n_head heads of hs from column 0, k n_kv heads
 * from column n_head * hs. */
void qh_rope(float *qkv, int B, int T, int W, int hs, int n_head, int n_kv, float theta, int neox, const qh_continuation *k);
/* Causal attention of layer l: ws->qkv (B*T, W) -> ws->att (B*T, QW); query heads share K/V
 * heads in groups of n_head / n_kv; sliding > 0: each query sees that many keys at most. */
void qh_attend(qh_workspace *ws, const qh_continuation *k, int l, int B, int T, int n_kv, int sliding);
/* Separate q, k, v matrices (Llama, Gemma): ws->qkv (N, W) <- [ln wq | ln wk | ln wv] */
void qh_qkv_separate(qh_workspace *ws, const qh_block *bl, int N, int C);
/* A gated MLP of block l: ws->ln (N, C) <- down(act(gate ln) * up ln); the input of the down
 * projection is captured as QH_IN_FC_PROJ */
void qh_gated_mlp(const qh_model *m, int l, int N, qh_workspace *ws, void (*act)(float *gate, const float *up, size_t n),
                  qh_capture_fn capture, void *ud);

#endif
