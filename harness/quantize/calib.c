/* calib.c - calibration windows and per-block Hessians; see calib.h. */
#include "harness/quantize/calib.h"

#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "harness/model/forward.h"
#include "harness/formats/imatrix.h"

struct qh_calib_state {
    int windows, ctx, batch, C;
    float *X;               /* (windows * ctx, C): the residual stream at the current block's input */
    const qh_imatrix *imatrix; /* instead of windows */
    double *H[QH_N_INPUTS];
    float *Hf[QH_N_INPUTS];           /* per-batch float accumulator */
    int n[QH_N_INPUTS];
    qh_workspace ws;
};

int qh_calib_opts_load(const char *name, qh_tokenizer *tok, int windows, int ctx, unsigned long seed, qh_calib_opts *o, int **ids,
                       qh_err *err)
{
    qh_text text;
    size_t n;
    *ids = NULL;
    if (qh_text_load(name, &text, err) != 0) return -1;
    int rc = qh_encode(tok, text.path, text.text, text.len, ids, &n, err);
    *o = (qh_calib_opts){*ids, n, windows, ctx, seed, "", NULL};
    snprintf(o->source, sizeof o->source, "%s (sha256 %.12s)", text.name, text.sha256);
    qh_text_free(&text);
    return rc;
}

void qh_calib_free(qh_calib_state *st)
{
    if (!st) return;
    free(st->X);
    for (int k = 0; k < QH_N_INPUTS; k++) {
        free(st->H[k]);
        free(st->Hf[k]);
    }
    qh_workspace_free(&st->ws);
    free(st);
}

void qh_calib_opts_imatrix(const qh_imatrix *im, qh_calib_opts *o)
{
    memset(o, 0, sizeof *o);
    o->imatrix = im;
    const char *base = strrchr(im->path, '/');
    snprintf(o->source, sizeof o->source, "llama.cpp importance matrix %.80s (sha256 %.12s; %d chunks of %.60s; diagonal E[x^2] only)",
             base ? base + 1 : im->path, im->sha256, im->chunks, im->dataset[0] ? im->dataset : "an unnamed text");
}

int qh_calib_diagonal_only(const qh_calib_state *st) { return st->imatrix != NULL; }

int qh_calib_begin(const qh_model *m, const qh_calib_opts *o, qh_calib_state **out, qh_err *err)
{
    if (o->imatrix) {
        qh_calib_state *st = qh_calloc(1, sizeof *st);
        int C = m->cfg.n_embd, nk[QH_N_INPUTS];
        for (int k = 0; k < QH_N_INPUTS; k++) nk[k] = qh_config_dim(&m->cfg, qh_config_arch(&m->cfg)->input_dim[k]);
        st->imatrix = o->imatrix;
        st->C = C;
        for (int k = 0; k < QH_N_INPUTS; k++) {
            st->n[k] = nk[k];
            st->H[k] = qh_malloc((size_t)nk[k] * nk[k] * sizeof(double));
        }
        *out = st;
        return 0;
    }
    if (o->ctx < 2 || o->ctx > qh_config_max_ctx(&m->cfg))
        return qh_fail(err, "calibration ctx %d: must be 2 to the model's context %d", o->ctx, qh_config_max_ctx(&m->cfg));
    if (o->windows < 1) return qh_fail(err, "calibration needs at least one window");
    if (o->n_ids < (size_t)o->ctx)
        return qh_fail(err, "calibration text has %zu tokens, fewer than one window of %d", o->n_ids, o->ctx);
    for (size_t i = 0; i < o->n_ids; i++)
        if (o->ids[i] < 0 || o->ids[i] >= m->cfg.n_vocab) return qh_fail(err, "calibration token %zu out of the vocabulary", i);
    qh_calib_state *st = qh_calloc(1, sizeof *st);
    int C = m->cfg.n_embd, T = o->ctx;
    st->windows = o->windows;
    st->ctx = T;
    st->C = C;
    st->batch = 1024 / T > 0 ? 1024 / T : 1;
    st->X = qh_malloc((size_t)o->windows * T * C * sizeof(float));
    int nk[QH_N_INPUTS];
    for (int k = 0; k < QH_N_INPUTS; k++) {
        nk[k] = qh_config_dim(&m->cfg, qh_config_arch(&m->cfg)->input_dim[k]);
        st->n[k] = nk[k];
        st->H[k] = qh_malloc((size_t)nk[k] * nk[k] * sizeof(double));
        st->Hf[k] = qh_malloc((size_t)nk[k] * nk[k] * sizeof(float));
    }
    qh_workspace_init(&st->ws, &m->cfg, st->batch, T);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, o->seed);
    int *tokens = qh_malloc((size_t)T * sizeof(int));
    for (int w = 0; w < o->windows; w++) {
        size_t start = gsl_rng_uniform_int(rng, (unsigned long)(o->n_ids - (size_t)T + 1));
        memcpy(tokens, o->ids + start, (size_t)T * sizeof(int));
        qh_embed(m, tokens, 1, T, &st->ws);
        memcpy(st->X + (size_t)w * T * C, st->ws.x, (size_t)T * C * sizeof(float));
    }
    free(tokens);
    gsl_rng_free(rng);
    *out = st;
    return 0;
}

/* capture callback: Hf[which] += x^T x (upper triangle) */
static void accumulate(void *ud, int layer, int which, const float *x, int rows, int cols)
{
    qh_calib_state *st = ud;
    (void)layer;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, cols, rows, 1.0f, x, cols, 1.0f, st->Hf[which], cols);
}

/* block l's four input diagonals from the importance matrix, by llama.cpp's tensor names (of
 * the first linear layer reading each input: layers sharing an input share its statistics) */
static int imatrix_block(qh_calib_state *st, const qh_model *m, int l, double *H[QH_N_INPUTS], int n[QH_N_INPUTS], long *samples, qh_err *err)
{
    const qh_arch *a = qh_config_arch(&m->cfg);
    int ncall = 0;
    for (int k = 0; k < QH_N_INPUTS; k++) {
        char name[96];
        int j;
        for (j = 0; j < a->n_block && a->block[j].input != k; j++) {
        }
        snprintf(name, sizeof name, "blk.%d.%s", l, a->block[j].gguf);
        const qh_imatrix_entry *e = qh_imatrix_find(st->imatrix, name);
        int nk = st->n[k];
        if (!e) return qh_fail(err, "%s: no entry '%s' (the file is for another model?)", st->imatrix->path, name);
        if (e->nval != nk)
            return qh_fail(err, "%s: entry '%s' has %d values; this model's matrix has %d inputs", st->imatrix->path, name, e->nval, nk);
        if (k && e->ncall != ncall)
            return qh_fail(err, "%s: entry '%s' has ncall %d, others of block %d %d", st->imatrix->path, name, e->ncall, l, ncall);
        ncall = e->ncall;
        memset(st->H[k], 0, (size_t)nk * nk * sizeof(double));
        for (int j = 0; j < nk; j++) st->H[k][(size_t)j * nk + j] = e->values[j];
        H[k] = st->H[k];
        n[k] = nk;
    }
    *samples = ncall;
    return 0;
}

int qh_calib_block(qh_calib_state *st, const qh_model *m, int l, double *H[QH_N_INPUTS], int n[QH_N_INPUTS], long *samples, qh_err *err)
{
    if (st->imatrix) return imatrix_block(st, m, l, H, n, samples, err);
    int T = st->ctx, C = st->C;
    for (int k = 0; k < QH_N_INPUTS; k++) memset(st->H[k], 0, (size_t)st->n[k] * st->n[k] * sizeof(double));
    for (int w0 = 0; w0 < st->windows; w0 += st->batch) {
        int B = st->windows - w0 < st->batch ? st->windows - w0 : st->batch;
        for (int k = 0; k < QH_N_INPUTS; k++) memset(st->Hf[k], 0, (size_t)st->n[k] * st->n[k] * sizeof(float));
        memcpy(st->ws.x, st->X + (size_t)w0 * T * C, (size_t)B * T * C * sizeof(float));
        qh_block_forward(m, l, B, T, &st->ws, accumulate, st);
        for (int k = 0; k < QH_N_INPUTS; k++) { /* the float batch sums go into the double total */
            int nk = st->n[k];
            for (int i = 0; i < nk; i++)
                for (int j = i; j < nk; j++) st->H[k][(size_t)i * nk + j] += st->Hf[k][(size_t)i * nk + j];
        }
    }
    for (int k = 0; k < QH_N_INPUTS; k++) { /* mirror the upper triangle */
        int nk = st->n[k];
        for (int i = 0; i < nk; i++)
            for (int j = 0; j < i; j++) st->H[k][(size_t)i * nk + j] = st->H[k][(size_t)j * nk + i];
        H[k] = st->H[k];
        n[k] = nk;
    }
    *samples = (long)st->windows * T;
    return 0;
}

void qh_calib_advance(qh_calib_state *st, const qh_model *m, int l)
{
    if (st->imatrix) return; /* the file's statistics are of the unquantized model, fixed */
    int T = st->ctx, C = st->C;
    for (int w0 = 0; w0 < st->windows; w0 += st->batch) {
        int B = st->windows - w0 < st->batch ? st->windows - w0 : st->batch;
        memcpy(st->ws.x, st->X + (size_t)w0 * T * C, (size_t)B * T * C * sizeof(float));
        qh_block_forward(m, l, B, T, &st->ws, NULL, NULL);
        memcpy(st->X + (size_t)w0 * T * C, st->ws.x, (size_t)B * T * C * sizeof(float));
    }
}
