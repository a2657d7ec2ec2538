/* bench.c - what `make bench` prints.
 *
 * 1. The evaluation path as `qharness ppl` runs it (forward + head NLL over ctx-1 scored rows
 *    per window), timed over W windows: tokens/s and achieved GFLOP/s.
 * 2. The same sequence of matrix products with the same shapes on scratch buffers, timed
 *    alone, twice: with qh_gemm (the batch-invariant kernel the forward uses) and with
 *    OpenBLAS's cblas_sgemm (what a batch-variant forward could reach).  forward / qh_gemm
 *    says how much the non-GEMM work (layer norm, softmax, GELU, log-sum-exp, copies) costs;
 *    qh_gemm / sgemm what batch invariance costs on this machine.
 * All use the same thread count; each is the best of three repetitions. */
#include "harness/model/bench.h"
#include "harness/formats/ggml_types.h"
#include "harness/formats/gguf.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/forward.h"
#include "harness/base/gemm.h"

static void fill(float *p, size_t n)
{
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = ((s >> 9) & 0xffff) / 65536.0f - 0.5f;
    }
}

/* o (N, M) = a (N, K) @ b, b (K, M) or b^T with b (M, K); by qh_gemm or by OpenBLAS */
static void product(int blas, float *o, int ldo, const float *a, int lda, int N, int K, const float *b, int ldb,
                    int trans, int M)
{
    if (blas)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, trans ? CblasTrans : CblasNoTrans, N, M, K, 1, a, lda, b, ldb, 0,
                    o, ldo);
    else
        qh_gemm(o, (size_t)ldo, a, (size_t)lda, N, K, b, (size_t)ldb, trans, M, 1.0f, NULL);
}

/* The products qh_forward + qh_head_nll make for one batch, on scratch buffers: the
 * architecture's shapes (q|k|v rows W wide, queries QW, heads hs, a gated MLP's two inputs). */
static void products_only(int blas, const qh_config *c, int B, int T, int head_rows, int head_chunk, float *a,
                          float *w, float *o)
{
    int C = c->n_embd, N = B * T, hs = qh_config_head_dim(c), W = qh_config_qkv_width(c), QW = qh_config_dim(c, QH_DIM_Q),
        F = qh_config_ff(c), gated = qh_config_arch(c)->mlp != QH_MLP_GELU;
    for (int l = 0; l < c->n_layer; l++) {
        product(blas, o, W, a, C, N, C, w, W, 0, W);
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < c->n_head; h++)
                product(blas, o + (size_t)h * T * T, T, a + h * hs, W, T, hs, w + h * hs, W, 1, T);
            for (int h = 0; h < c->n_head; h++)
                product(blas, o + h * hs, QW, a + (size_t)h * T * T, T, T, T, w + h * hs, W, 0, hs);
        }
        product(blas, o, C, a, QW, N, QW, w, C, 0, C);
        for (int g = 0; g <= gated; g++) product(blas, o, F, a, C, N, C, w, F, 0, F);
        product(blas, o, C, a, F, N, F, w, C, 0, C);
    }
    for (int r0 = 0; r0 < head_rows; r0 += head_chunk) {
        int rows = head_rows - r0 < head_chunk ? head_rows - r0 : head_chunk;
        product(blas, o, c->n_vocab, a, C, rows, C, w, C, 1, c->n_vocab);
    }
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

int qh_bench_run(const qh_model *m, const int *ids, long n, int ctx, int batch, int windows, FILE *out, qh_err *err)
{
    const qh_config *c = &m->cfg;
    if (ctx > c->n_ctx) return qh_fail(err, "--ctx %d: window longer than the model's context (%d)", ctx, c->n_ctx);
    if (windows % batch) windows += batch - windows % batch;
    if ((long)windows * ctx > n)
        return qh_fail(err, "bench needs %ld tokens, the text has %ld", (long)windows * ctx, n);
    int C = c->n_embd, T = ctx, R = batch * (T - 1);
    qh_workspace ws;
    qh_workspace_init(&ws, c, batch, T);
    float *hidden = qh_malloc((size_t)R * C * sizeof(float));
    float *nll = qh_malloc((size_t)R * sizeof(float));
    int *targets = qh_malloc((size_t)R * sizeof(int));

    double flops_per_batch = qh_forward_flops(c, batch, T, R);
    int batches = windows / batch;
    double best_fwd = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = qh_now();
        for (int k = 0; k < batches; k++) {
            const int *tok = ids + (size_t)k * batch * T;
            qh_forward(m, tok, batch, T, &ws);
            int r = 0;
            for (int b = 0; b < batch; b++)
                for (int t = 0; t < T - 1; t++, r++) {
                    memcpy(hidden + (size_t)r * C, ws.ln + ((size_t)b * T + t) * C, (size_t)C * sizeof(float));
                    targets[r] = tok[b * T + t + 1];
                }
            qh_head_nll(m, hidden, targets, R, nll, &ws);
        }
        double el = qh_now() - t0;
        if (el < best_fwd) best_fwd = el;
    }

    /* scratch big enough for every shape above */
    size_t widest = max_size(max_size((size_t)ws.W, (size_t)ws.QW), max_size((size_t)ws.F, (size_t)C));
    size_t big = max_size((size_t)batch * T * widest, (size_t)c->n_head * T * T);
    size_t wsz = max_size(max_size((size_t)c->n_vocab * C, (size_t)C * widest), (size_t)T * widest);
    size_t osz = max_size((size_t)ws.head_chunk * c->n_vocab, big);
    float *a = qh_malloc(big * sizeof(float)), *w = qh_malloc(wsz * sizeof(float)), *o = qh_malloc(osz * sizeof(float));
    fill(a, big);
    fill(w, wsz);
    memset(o, 0, osz * sizeof(float));
    double best_gemm[2] = {1e30, 1e30}; /* qh_gemm, OpenBLAS */
    for (int blas = 0; blas < 2; blas++)
        for (int rep = 0; rep < 3; rep++) {
            double t0 = qh_now();
            for (int k = 0; k < batches; k++) products_only(blas, c, batch, T, R, ws.head_chunk, a, w, o);
            double el = qh_now() - t0;
            if (el < best_gemm[blas]) best_gemm[blas] = el;
        }
    /* a large square product, for the machine's sgemm ceiling */
    int S = 2048;
    float *sa = qh_malloc((size_t)S * S * sizeof(float)), *sb = qh_malloc((size_t)S * S * sizeof(float)),
          *sc = qh_malloc((size_t)S * S * sizeof(float));
    fill(sa, (size_t)S * S);
    fill(sb, (size_t)S * S);
    double best_sq = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = qh_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1, sa, S, sb, S, 0, sc, S);
        double el = qh_now() - t0;
        if (el < best_sq) best_sq = el;
    }

    double total_flops = flops_per_batch * batches;
    double fwd_gflops = total_flops / best_fwd / 1e9, gemm_gflops = total_flops / best_gemm[0] / 1e9,
           blas_gflops = total_flops / best_gemm[1] / 1e9;
    fprintf(out, "model               %s (n_layer %d, n_embd %d, vocab %d)\n", m->dir, c->n_layer, C, c->n_vocab);
    fprintf(out, "workload            %d windows x ctx %d (batch %d), head on %d scored rows per batch, %d threads\n",
            windows, T, batch, R, qh_threads());
    fprintf(out, "evaluation          %.0f tokens/s  (%.3f s for %d tokens, best of 3)\n",
            (double)windows * T / best_fwd, best_fwd, windows * T);
    fprintf(out, "forward GFLOP/s     %.1f  (%.2f GFLOP per batch: linear layers, attention full TxT, head)\n",
            fwd_gflops, flops_per_batch / 1e9);
    fprintf(out, "qh_gemm GFLOP/s     %.1f  (the same products alone, batch-invariant kernel %s)\n", gemm_gflops,
            qh_gemm_kernel());
    fprintf(out, "ratio               %.1f%% of qh_gemm  (the cost of the non-GEMM work; goal >= 60%%)\n",
            100 * fwd_gflops / gemm_gflops);
    fprintf(out, "sgemm GFLOP/s       %.1f  (the same products by OpenBLAS, core %s: qh_gemm reaches %.0f%% of it)\n",
            blas_gflops, openblas_get_corename(), 100 * gemm_gflops / blas_gflops);
    fprintf(out, "sgemm 2048^3        %.1f GFLOP/s  (OpenBLAS's ceiling for large products on this machine)\n",
            2.0 * S * S * S / best_sq / 1e9);
    free(sa); free(sb); free(sc);
    free(a); free(w); free(o);
    free(hidden); free(nll); free(targets);
    qh_workspace_free(&ws);
    return 0;
}

int qh_bench_dequant(const char *path, FILE *out, qh_err *err)
{
    qh_gguf *g;
    if (qh_gguf_open(path, &g, err) != 0) return -1;
    fprintf(out, "dequantization of %s by qh_ggml_dequantize as the loader calls it (OpenMP threads above 4096 blocks, %d here),\n"
                 "best of 5 per tensor; GB/s of the file's bytes read, G weights/s written\n",
            path, qh_threads());
    fprintf(out, "  %-8s %10s %12s %10s %10s %12s\n", "type", "weights", "bytes", "ms", "GB/s", "G weights/s");
    int seen[64] = {0};
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const qh_gguf_tensor *t = &g->tensors[i];
        const qh_ggml_type *ty = qh_ggml_type_by_id(t->type);
        if (!ty || !ty->dequant || t->type >= 64 || seen[t->type] || t->type == 0) continue;
        seen[t->type] = 1;
        float *dst = qh_malloc((size_t)t->n_elements * sizeof(float));
        double best = 1e30;
        for (int r = 0; r < 5; r++) {
            double t0 = qh_now();
            qh_ggml_dequantize(ty, t->data, dst, t->n_elements);
            double dt = qh_now() - t0;
            best = dt < best ? dt : best;
        }
        fprintf(out, "  %-8s %10llu %12llu %10.3f %10.2f %12.3f\n", ty->name, (unsigned long long)t->n_elements,
                (unsigned long long)t->bytes, 1e3 * best, t->bytes / best / 1e9, t->n_elements / best / 1e9);
        free(dst);
    }
    qh_gguf_close(g);
    return 0;
}
