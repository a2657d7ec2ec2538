/* check_llama.c - the Llama architecture on a real pretrained model nobody on this project
 * trained: Karpathy's stories260K, in llama2.c's format and as llama.cpp converted it to GGUF.
 *
 * The reference forward pass here is written from llama2.c's run.c (read the .bin with fread,
 * everything in double, RoPE as run.c computes it), sharing no code with harness/: qharness's
 * logits from both files must match it.  A Hugging Face LlamaForCausalLM directory written here
 * (q/k rows permuted into transformers' half-rotation order, PyTorch (out, in) layout,
 * "model." names) must load to the same weights bit for bit.  Perplexity under llama.cpp's
 * protocol must be llama-perplexity's (golden.json) within 0.3%, the same from both formats.
 * Every method of the registry must run on the model (widths 172 and 32 are not multiples of
 * the usual groups). */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/quantize/calib.h"
#include "harness/eval/eval_mc.h"
#include "harness/eval/eval_ppl.h"
#include "harness/model/forward.h"
#include "harness/quantize/packed.h"
#include "harness/quantize/quantize.h"
#include "methods/method.h"
#include "tests/testutil.h"

/* ---- the independent reference (llama2.c's run.c, in double) ---------------------------- */

typedef struct {
    int dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len;
    float *w; /* every float after the header */
    float *emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *wcls;
} ref_model;

static void ref_load(const char *path, ref_model *r)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    int h[7];
    ck_assert_int_eq(fread(h, sizeof(int), 7, f), 7);
    r->dim = h[0], r->hidden = h[1], r->n_layers = h[2], r->n_heads = h[3], r->n_kv = h[4], r->vocab = abs(h[5]), r->seq_len = h[6];
    fseek(f, 0, SEEK_END);
    long n = (ftell(f) - 28) / 4;
    fseek(f, 28, SEEK_SET);
    r->w = malloc((size_t)n * sizeof(float));
    ck_assert_int_eq(fread(r->w, sizeof(float), (size_t)n, f), n);
    fclose(f);
    int C = r->dim, L = r->n_layers, hs = C / r->n_heads, KV = r->n_kv * hs, F = r->hidden;
    float *p = r->w;
    r->emb = p, p += (size_t)r->vocab * C;
    r->rms_att = p, p += (size_t)L * C;
    r->wq = p, p += (size_t)L * C * C;
    r->wk = p, p += (size_t)L * KV * C;
    r->wv = p, p += (size_t)L * KV * C;
    r->wo = p, p += (size_t)L * C * C;
    r->rms_ffn = p, p += (size_t)L * C;
    r->w1 = p, p += (size_t)L * F * C;
    r->w2 = p, p += (size_t)L * C * F;
    r->w3 = p, p += (size_t)L * F * C;
    r->rms_final = p, p += C;
    p += (size_t)r->seq_len * hs; /* freq_cis_real, freq_cis_imag */
    r->wcls = h[5] > 0 ? r->emb : p;
}

/* y (d) = W (d, n) x (n), PyTorch layout */
static void ref_matvec(double *y, const float *W, const double *x, int n, int d)
{
    for (int i = 0; i < d; i++) {
        double s = 0;
        for (int j = 0; j < n; j++) s += (double)W[(size_t)i * n + j] * x[j];
        y[i] = s;
    }
}

static void ref_rmsnorm(double *o, const double *x, const float *w, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    ss = 1.0 / sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; i++) o[i] = w[i] * (ss * x[i]);
}

/* logits (T, V) of tokens (T) at positions 0 .. T-1: run.c's forward, token by token with a
 * KV cache */
static void ref_forward(const ref_model *r, const int *tokens, int T, double *logits)
{
    int C = r->dim, hs = C / r->n_heads, KV = r->n_kv * hs, F = r->hidden, kv_mul = r->n_heads / r->n_kv;
    double *x = calloc(C, sizeof(double)), *xb = calloc(C, sizeof(double)), *xb2 = calloc(C, sizeof(double));
    double *q = calloc(C, sizeof(double)), *hb = calloc(F, sizeof(double)), *hb2 = calloc(F, sizeof(double));
    double *kc = calloc((size_t)r->n_layers * T * KV, sizeof(double)), *vc = calloc((size_t)r->n_layers * T * KV, sizeof(double));
    double *att = calloc(T, sizeof(double));
    for (int pos = 0; pos < T; pos++) {
        for (int i = 0; i < C; i++) x[i] = r->emb[(size_t)tokens[pos] * C + i];
        for (int l = 0; l < r->n_layers; l++) {
            double *k = kc + ((size_t)l * T + pos) * KV, *v = vc + ((size_t)l * T + pos) * KV;
            ref_rmsnorm(xb, x, r->rms_att + (size_t)l * C, C);
            ref_matvec(q, r->wq + (size_t)l * C * C, xb, C, C);
            ref_matvec(k, r->wk + (size_t)l * KV * C, xb, C, KV);
            ref_matvec(v, r->wv + (size_t)l * KV * C, xb, C, KV);
            for (int i = 0; i < C; i += 2) { /* run.c: RoPE over pairs, frequency by the index within the head */
                double freq = 1.0 / pow(10000.0, (double)(i % hs) / hs), val = pos * freq, fcr = cos(val), fci = sin(val);
                for (int which = 0; which < (i < KV ? 2 : 1); which++) {
                    double *vec = which == 0 ? q : k, v0 = vec[i], v1 = vec[i + 1];
                    vec[i] = v0 * fcr - v1 * fci;
                    vec[i + 1] = v0 * fci + v1 * fcr;
                }
            }
            for (int h = 0; h < r->n_heads; h++) {
                double maxv = -INFINITY, sum = 0;
                for (int t = 0; t <= pos; t++) {
                    const double *kt = kc + ((size_t)l * T + t) * KV + (h / kv_mul) * hs;
                    double s = 0;
                    for (int i = 0; i < hs; i++) s += q[h * hs + i] * kt[i];
                    att[t] = s / sqrt((double)hs);
                    maxv = att[t] > maxv ? att[t] : maxv;
                }
                for (int t = 0; t <= pos; t++) sum += att[t] = exp(att[t] - maxv);
                for (int i = 0; i < hs; i++) {
                    double o = 0;
                    for (int t = 0; t <= pos; t++) o += att[t] / sum * vc[((size_t)l * T + t) * KV + (h / kv_mul) * hs + i];
                    xb[h * hs + i] = o;
                }
            }
            ref_matvec(xb2, r->wo + (size_t)l * C * C, xb, C, C);
            for (int i = 0; i < C; i++) x[i] += xb2[i];
            ref_rmsnorm(xb, x, r->rms_ffn + (size_t)l * C, C);
            ref_matvec(hb, r->w1 + (size_t)l * F * C, xb, C, F);
            ref_matvec(hb2, r->w3 + (size_t)l * F * C, xb, C, F);
            for (int i = 0; i < F; i++) hb[i] = hb[i] / (1 + exp(-hb[i])) * hb2[i];
            ref_matvec(xb, r->w2 + (size_t)l * C * F, hb, F, C);
            for (int i = 0; i < C; i++) x[i] += xb[i];
        }
        ref_rmsnorm(xb, x, r->rms_final, C);
        ref_matvec(logits + (size_t)pos * r->vocab, r->wcls, xb, C, r->vocab);
    }
    free(x), free(xb), free(xb2), free(q), free(hb), free(hb2), free(kc), free(vc), free(att);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static qh_model *load(const char *rel)
{
    char *p = tu_shared_path(rel);
    qh_model *m;
    qh_err err;
    ck_assert_msg(qh_model_load(p, &m, 0, &err) == 0, "%s", err.msg);
    free(p);
    return m;
}

/* the first n token ids llama-tokenize gave for the TinyStories text (BOS first) */
static int *golden_ids(int n)
{
    char *p = tu_shared_path("golden/tinystories_valid_first1000.ids.txt");
    FILE *f = fopen(p, "r");
    ck_assert_msg(f != NULL, "%s", p);
    int *ids = malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) ck_assert_int_eq(fscanf(f, " %d", &ids[i]), 1);
    fclose(f);
    free(p);
    return ids;
}

/* logits (T, V) of qharness's forward pass for one window */
static float *qh_logits(const qh_model *m, const int *tokens, int T)
{
    qh_workspace ws;
    qh_workspace_init(&ws, &m->cfg, 1, T);
    qh_forward(m, tokens, 1, T, &ws);
    float *logits = malloc((size_t)T * m->cfg.n_vocab * sizeof(float));
    qh_head_logits(m, ws.ln, T, logits);
    qh_workspace_free(&ws);
    return logits;
}

static void assert_same_weights(const qh_model *a, const qh_model *b, const char *what)
{
    ck_assert_int_eq(a->n_tensors, b->n_tensors);
    ck_assert_uint_eq(a->n_params, b->n_params);
    ck_assert_int_eq(a->head_tied, b->head_tied);
    for (int k = 0; k < a->n_tensors; k++) {
        const qh_tensor *x = &a->tensors[k], *y = &b->tensors[k];
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(x->rows, y->rows);
        ck_assert_int_eq(x->cols, y->cols);
        ck_assert_msg(memcmp(x->data, y->data, (size_t)x->rows * x->cols * sizeof(float)) == 0, "%s: tensor %s differs", what, x->name);
    }
    if (!a->head_tied)
        ck_assert(memcmp(a->head, b->head, (size_t)a->cfg.n_vocab * a->cfg.n_embd * sizeof(float)) == 0);
}

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(both_formats_load_the_same_model)
{
    qh_model *g = load("golden/gguf/stories260K-f32.gguf"), *b = load("models/stories260K");
    const qh_config *c = &b->cfg;
    ck_assert_int_eq(c->arch, QH_ARCH_LLAMA);
    ck_assert_int_eq(c->n_layer, 5);
    ck_assert_int_eq(c->n_embd, 64);
    ck_assert_int_eq(c->n_head, 8);
    ck_assert_int_eq(qh_config_kv_heads(c), 4);
    ck_assert_int_eq(qh_config_ff(c), 172);
    ck_assert_int_eq(c->n_vocab, 512);
    ck_assert_int_eq(c->n_ctx, 512);  /* llama2.c's seq_len */
    ck_assert_int_eq(g->cfg.n_ctx, 128); /* what llama.cpp's converter wrote */
    ck_assert_float_eq(g->cfg.ln_eps, 1e-5f);
    /* llama.cpp counts 292.80 K parameters: it counts its copy of the tied head (512 x 64) too */
    ck_assert_uint_eq(b->n_params, 292800 - 512 * 64);
    ck_assert_int_eq(b->n_tensors, 1 + 9 * 5 + 1);
    ck_assert_str_eq(b->tensors[2].name, "layers.0.self_attn.q_proj.weight");
    ck_assert_int_eq(b->tensors[3].cols, 32); /* k_proj (in 64, out 4 heads x 8) */
    assert_same_weights(g, b, "GGUF vs llama2.c");
    qh_model_free(g);
    qh_model_free(b);
}
END_TEST

START_TEST(forward_matches_an_independent_reference)
{
    enum { T = 48 };
    char *bin = tu_shared_path("models/stories260K/stories260K.bin");
    ref_model r;
    ref_load(bin, &r);
    int *ids = golden_ids(T);
    double *ref = malloc((size_t)T * r.vocab * sizeof(double));
    ref_forward(&r, ids, T, ref);
    const char *files[2] = {"golden/gguf/stories260K-f32.gguf", "models/stories260K"};
    for (int f = 0; f < 2; f++) {
        qh_model *m = load(files[f]);
        float *got = qh_logits(m, ids, T);
        double max_err = 0, max_abs = 0;
        for (size_t i = 0; i < (size_t)T * r.vocab; i++) {
            max_err = fmax(max_err, fabs(got[i] - ref[i]));
            max_abs = fmax(max_abs, fabs(ref[i]));
        }
        fprintf(stderr, "llama: %s logits over %d tokens: max |qharness - reference| %.3g (max |logit| %.3g)\n", files[f], T, max_err,
                max_abs);
        ck_assert_msg(max_err < 1e-4 * max_abs, "%s: logits differ from the reference by %g", files[f], max_err);
        free(got);
        qh_model_free(m);
    }
    free(ref);
    free(ids);
    free(r.w);
    free(bin);
}
END_TEST

/* Windows in a batch, the shared-prefix path of multiple-choice scoring (kept, rotated k rows
 * continued at later positions) and the whole sequence give the same bits. */
START_TEST(batches_and_continuations_give_the_same_bits)
{
    enum { T = 40, P = 17 };
    qh_model *m = load("models/stories260K");
    int *ids = golden_ids(2 * T), C = m->cfg.n_embd, W = qh_config_qkv_width(&m->cfg);
    qh_workspace one, two;
    qh_workspace_init(&one, &m->cfg, 1, T);
    qh_workspace_init(&two, &m->cfg, 2, T);
    qh_forward(m, ids + T, 1, T, &one);
    qh_forward(m, ids, 2, T, &two);
    ck_assert(memcmp(one.ln, two.ln + (size_t)T * C, (size_t)T * C * sizeof(float)) == 0);
    /* prefix of P tokens kept, the rest continued */
    float *keep = malloc((size_t)m->cfg.n_layer * P * W * sizeof(float));
    qh_workspace pre;
    qh_workspace_init(&pre, &m->cfg, 1, T);
    qh_forward_keep_qkv(m, ids + T, 1, P, &pre, keep);
    const float *prefix[1] = {keep};
    int Ps[1] = {P}, Ss[1] = {T - P};
    qh_forward_continue(m, ids + T + P, 1, T - P, prefix, (size_t)P * W, Ps, Ss, &pre);
    ck_assert_msg(memcmp(pre.ln, one.ln + (size_t)P * C, (size_t)(T - P) * C * sizeof(float)) == 0,
                  "continued rows differ from the whole window's");
    free(keep);
    qh_workspace_free(&pre);
    qh_workspace_free(&one);
    qh_workspace_free(&two);
    free(ids);
    qh_model_free(m);
}
END_TEST

/* writes m as a Hugging Face LlamaForCausalLM directory (half-rotation q/k order, (out, in)) */
static void write_hf(const qh_model *m, const char *dir, int untied, const char *extra_config)
{
    const qh_config *c = &m->cfg;
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": %d, \"intermediate_size\": %d, "
             "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"max_position_embeddings\": %d, "
             "\"vocab_size\": %d, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, \"hidden_act\": \"silu\", "
             "\"tie_word_embeddings\": %s%s}",
             c->n_embd, qh_config_ff(c), c->n_layer, c->n_head, qh_config_kv_heads(c), c->n_ctx, c->n_vocab, untied ? "false" : "true",
             extra_config);
    mkdir(dir, 0755);
    char *path = qh_path_join(dir, "config.json");
    qh_err err;
    ck_assert(qh_write_file(path, cfg, strlen(cfg), &err) == 0);
    free(path);
    int n = m->n_tensors + 1, hs = c->n_embd / c->n_head;
    qh_st_entry *e = calloc((size_t)n, sizeof *e);
    char **names = calloc((size_t)n, sizeof *names);
    float **bufs = calloc((size_t)n, sizeof *bufs);
    for (int k = 0; k < m->n_tensors; k++) {
        const qh_tensor *t = &m->tensors[k];
        size_t len = strlen(t->name);
        names[k] = malloc(len + 8);
        sprintf(names[k], "model.%s", t->name);
        bufs[k] = malloc((size_t)t->rows * t->cols * sizeof(float));
        int rope = strstr(t->name, "q_proj") || strstr(t->name, "k_proj");
        if (t->is_linear) { /* (in, out) -> (out, in); q/k: pair row 2i + half goes to half * hs/2 + i */
            for (int o = 0; o < t->cols; o++) {
                int j = o % hs, hf = rope ? o / hs * hs + (j % 2) * (hs / 2) + j / 2 : o;
                for (int i = 0; i < t->rows; i++) bufs[k][(size_t)hf * t->rows + i] = t->data[(size_t)i * t->cols + o];
            }
            e[k] = (qh_st_entry){names[k], QH_DT_F32, 2, {t->cols, t->rows}, bufs[k], (size_t)t->rows * t->cols * 4};
        } else {
            memcpy(bufs[k], t->data, (size_t)t->rows * t->cols * sizeof(float));
            e[k] = (qh_st_entry){names[k], QH_DT_F32, t->ndim, {t->ndim == 2 ? t->rows : t->cols, t->cols}, bufs[k],
                                 (size_t)t->rows * t->cols * 4};
        }
    }
    int ne = m->n_tensors;
    float *head = NULL;
    if (untied) { /* a head of its own: the embedding scaled by 1/2 */
        size_t VC = (size_t)c->n_vocab * c->n_embd;
        head = malloc(VC * sizeof(float));
        for (size_t i = 0; i < VC; i++) head[i] = m->wte[i] * 0.5f;
        e[ne++] = (qh_st_entry){"lm_head.weight", QH_DT_F32, 2, {c->n_vocab, c->n_embd}, head, VC * 4};
    }
    path = qh_path_join(dir, "model.safetensors");
    ck_assert_msg(qh_st_write(path, e, ne, NULL, NULL, 0, &err) == 0, "%s", err.msg);
    free(path);
    for (int k = 0; k < m->n_tensors; k++) free(names[k]), free(bufs[k]);
    free(names), free(bufs), free(e), free(head);
}

START_TEST(hugging_face_llama_loads_the_same_model)
{
    qh_model *b = load("models/stories260K");
    char *tmp = tu_tmpdir(), *dir = qh_path_join(tmp, "hf"), *dir2 = qh_path_join(tmp, "hf-untied");
    write_hf(b, dir, 0, ", \"rope_scaling\": null");
    qh_model *h;
    qh_err err;
    ck_assert_msg(qh_model_load(dir, &h, 0, &err) == 0, "%s", err.msg);
    assert_same_weights(b, h, "Hugging Face vs llama2.c");
    qh_model_free(h);
    /* with the vocabulary as tokenizer.model or tokenizer.json beside it, the CLI scores the same
     * text to the same bits as from the llama2.c files */
    char *llama2c = tu_shared_path("models/stories260K"), *txt = tu_shared_path("data/tinystories/valid_first1000.txt");
    double want = 0;
    for (int kind = -1; kind < 2; kind++) {
        char *tpath = qh_path_join(dir, kind == 0 ? "tokenizer.model" : "tokenizer.json"), args[8400], *out;
        if (kind >= 0) {
            tu_write_stories_tokenizer(tpath, kind == 0 ? 0 : 3);
            char *first = qh_path_join(dir, "tokenizer.model");
            if (kind == 1) unlink(first); /* else it is read first */
            free(first);
        }
        snprintf(args, sizeof args, "ppl %s %s --protocol llama-cpp --ctx 256 --max-tokens 8192 --json", kind < 0 ? llama2c : dir, txt);
        ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
        cJSON *j = cJSON_Parse(out);
        ck_assert_msg(j != NULL, "%s", out);
        double ppl = cJSON_GetObjectItem(j, "ppl")->valuedouble;
        if (kind < 0) want = ppl;
        else ck_assert_msg(ppl == want, "%s: ppl %.6f, from llama2.c's files %.6f", tpath, ppl, want);
        cJSON_Delete(j);
        free(out);
        free(tpath);
    }
    free(llama2c);
    free(txt);
    /* untied: lm_head.weight is the head, counted as parameters */
    write_hf(b, dir2, 1, "");
    ck_assert_msg(qh_model_load(dir2, &h, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(h->head_tied, 0);
    ck_assert_uint_eq(h->n_params, b->n_params + 512 * 64);
    ck_assert_float_eq(h->head[7], b->wte[7] * 0.5f);
    qh_model_free(h);
    /* what qharness does not run is refused, by name */
    struct { const char *extra, *msg; } bad[] = {
        {", \"attention_bias\": true", "'attention_bias' is true"},
        {", \"hidden_act\": \"gelu\"", "hidden_act 'gelu' is not supported"},
        {", \"head_dim\": 16", "head_dim other than"},
        {", \"num_key_value_heads\": 3", "not a multiple of num_key_value_heads 3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *d = qh_path_join(tmp, "bad");
        char cfg[1024];
        snprintf(cfg, sizeof cfg,
                 "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 5, "
                 "\"num_attention_heads\": 8, \"max_position_embeddings\": 512, \"vocab_size\": 512%s}",
                 bad[i].extra);
        mkdir(d, 0755);
        char *p = qh_path_join(d, "config.json");
        ck_assert(qh_write_file(p, cfg, strlen(cfg), &err) == 0);
        ck_assert_int_eq(qh_model_load(d, &h, 0, &err), -1);
        ck_assert_msg(strstr(err.msg, bad[i].msg) && strstr(err.msg, p), "'%s' lacks '%s'", err.msg, bad[i].msg);
        free(p);
        free(d);
    }
    {
        char *d = qh_path_join(tmp, "scaled");
        write_hf(b, d, 0, ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}");
        ck_assert_int_eq(qh_model_load(d, &h, 0, &err), -1);
        ck_assert_msg(strstr(err.msg, "'rope_scaling' is set"), "%s", err.msg);
        free(d);
    }
    free(dir);
    free(dir2);
    free(tmp);
    qh_model_free(b);
}
END_TEST

/* A truncated or padded llama2.c file is refused with the size its header implies; the probe
 * does not take a tokenizer or a random .bin for a checkpoint. */
START_TEST(broken_llama2c_files_are_refused)
{
    char *bin = tu_shared_path("models/stories260K/stories260K.bin"), *text;
    size_t len;
    qh_err err;
    ck_assert(qh_read_file(bin, &text, &len, &err) == 0);
    char *tmp = tu_tmpdir(), *p = qh_path_join(tmp, "model.bin");
    qh_model *m;
    size_t sizes[] = {len - 4, len + 4, 20};
    for (int i = 0; i < 3; i++) {
        char *buf = calloc(sizes[i], 1);
        memcpy(buf, text, sizes[i] < len ? sizes[i] : len);
        ck_assert(qh_write_file(p, buf, sizes[i], &err) == 0);
        ck_assert_int_eq(qh_model_load_llama2c(p, &m, 0, &err), -1);
        ck_assert_msg(strstr(err.msg, p) && (strstr(err.msg, "truncated") || strstr(err.msg, "shorter than")), "%s", err.msg);
        ck_assert(!qh_llama2c_probe(p));
        free(buf);
    }
    int32_t bad_header[7] = {64, 172, 5, 8, 3, 512, 512}; /* 8 heads do not split into 3 K/V groups */
    memcpy(text, bad_header, sizeof bad_header);
    ck_assert(qh_write_file(p, text, len, &err) == 0);
    ck_assert_int_eq(qh_model_load_llama2c(p, &m, 0, &err), -1);
    ck_assert_msg(strstr(err.msg, "n_kv_heads 3"), "%s", err.msg);
    char *tok = tu_shared_path("models/stories260K/tok512.bin");
    ck_assert(!qh_llama2c_probe(tok));
    free(tok);
    free(p);
    free(tmp);
    free(text);
    free(bin);
}
END_TEST

/* llama-perplexity -c 256 on the TinyStories text (golden.json): 7.7946 (F16 KV cache), 7.7945
 * (F32).  qharness's llama-cpp protocol must be within 0.3%, and the same from both formats. */
START_TEST(perplexity_matches_llama_perplexity)
{
    if (tu_quick()) { /* 400K tokens through the model twice: minutes under the sanitizers */
        fprintf(stderr, "llama: stories260K perplexity against llama-perplexity skipped under QH_TEST_QUICK (the forward pass "
                        "is checked against the reference above)\n");
        return;
    }
    char *gpath = tu_shared_path("golden/gguf/golden.json"), *text;
    size_t len;
    qh_err err;
    ck_assert_msg(qh_read_file(gpath, &text, &len, &err) == 0, "%s", err.msg);
    cJSON *golden = cJSON_Parse(text);
    cJSON *entry = cJSON_GetObjectItem(golden, "stories260K-f32.gguf");
    cJSON *l = cJSON_GetObjectItem(entry, "llama-perplexity_c256");
    ck_assert(l != NULL);
    double llama_ppl = cJSON_GetObjectItem(l, "ppl")->valuedouble, llama_pm = cJSON_GetObjectItem(l, "pm")->valuedouble;
    int chunks = cJSON_GetObjectItem(l, "chunks")->valueint;
    char *txt = tu_shared_path("data/tinystories/valid_first1000.txt");
    const char *files[2] = {"golden/gguf/stories260K-f32.gguf", "models/stories260K"};
    double first = 0;
    for (int f = 0; f < 2; f++) {
        char *model = tu_shared_path(files[f]), args[8400], *out;
        snprintf(args, sizeof args, "ppl %s %s --protocol llama-cpp --ctx 256 --json", model, txt);
        ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
        cJSON *j = cJSON_Parse(out);
        ck_assert_msg(j != NULL, "%s", out);
        double ppl = cJSON_GetObjectItem(j, "ppl")->valuedouble, pm = cJSON_GetObjectItem(j, "ppl_pm_llama_cpp")->valuedouble;
        ck_assert_int_eq(cJSON_GetObjectItem(j, "windows")->valueint, chunks);
        ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens_scored")->valueint, chunks * 127);
        fprintf(stderr, "llama: stories260K %s: ppl %.4f +/- %.5f over %d chunks (llama-perplexity %.4f +/- %.5f, %+.3f%%)\n", files[f],
                ppl, pm, chunks, llama_ppl, llama_pm, 100 * (ppl / llama_ppl - 1));
        ck_assert_msg(fabs(ppl / llama_ppl - 1) < 3e-3, "%s: ppl %.4f, llama-perplexity %.4f", files[f], ppl, llama_ppl);
        ck_assert_msg(fabs(pm / llama_pm - 1) < 3e-3, "%s: +/- %.5f, llama-perplexity %.5f", files[f], pm, llama_pm);
        if (f == 0) first = ppl;
        else ck_assert_msg(ppl == first, "the two formats give %.6f and %.6f", first, ppl);
        cJSON_Delete(j);
        free(out);
        free(model);
    }
    free(txt);
    cJSON_Delete(golden);
    free(text);
    free(gpath);
}
END_TEST

/* Every method of the registry quantizes stories260K's block matrices (widths 64, 32, 172) and
 * the model still runs: finite perplexity on a slice of TinyStories, calibration on text that
 * is not that slice. */
START_TEST(every_method_runs_on_stories260K)
{
    const qh_method *meth = qh_methods[_i];
    qh_model *m = load("models/stories260K");
    char *dir = tu_shared_path("models/stories260K"), *txt = tu_shared_path("data/tinystories/valid_first1000.txt");
    qh_tokenizer *tok;
    qh_err err;
    ck_assert_msg(qh_tokenizer_load_dir(dir, &tok, &err) == 0, "%s", err.msg);
    char *text;
    size_t len;
    ck_assert(qh_read_file(txt, &text, &len, &err) == 0);
    int *ids;
    size_t n;
    ck_assert_msg(qh_encode(tok, txt, text, len, &ids, &n, &err) == 0, "%s", err.msg);
    char spec[256];
    snprintf(spec, sizeof spec, "%s%s", meth->name, meth->is_wrapper ? " + rtn bits=3" : "");
    qh_quant_opts o;
    qh_quant_opts_init(&o);
    o.spec = spec;
    /* calibration: the second half of the text; evaluation: the first 4096 tokens */
    qh_calib_opts cal = {ids + n / 2, n - n / 2, 8, 128, 7, "tinystories second half", NULL};
    o.calib = &cal;
    qh_quant_result res;
    int rc = qh_quantize_model(m, &o, &res, &err);
    ck_assert_msg(rc == 0, "%s on stories260K: %s", spec, err.msg);
    ck_assert_int_eq(res.n_q, 7 * 5);
    /* the packed file holds the architecture and gives back the same model, bit for bit */
    char *tmp = tu_tmpdir(), *packed = qh_path_join(tmp, "q.safetensors");
    ck_assert_msg(qh_quant_write(packed, m, &res, &err) == 0, "%s", err.msg);
    qh_model *back;
    qh_quant_result res2;
    ck_assert_msg(qh_quant_load(packed, &back, &res2, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(back->cfg.arch, QH_ARCH_LLAMA);
    ck_assert_int_eq(qh_config_kv_heads(&back->cfg), 4);
    ck_assert_int_eq(qh_config_ff(&back->cfg), 172);
    ck_assert_float_eq(back->cfg.rope_theta, 10000.0f);
    assert_same_weights(m, back, "packed file");
    ck_assert_uint_eq(res2.bytes_total, res.bytes_total);
    qh_quant_result_free(&res2);
    qh_model_free(back);
    remove(packed);
    rmdir(tmp);
    free(packed);
    free(tmp);
    qh_ppl_opts po = {0};
    po.ctx = 128;
    po.max_tokens = 4096;
    qh_ppl_result pr;
    int *token_bytes = qh_token_byte_lengths(tok, m->cfg.n_vocab);
    ck_assert_msg(qh_eval_ppl(m, ids, (long)n, token_bytes, &po, &pr, &err) == 0, "%s", err.msg);
    free(token_bytes);
    fprintf(stderr, "llama: %-40s %.4f bpp, ppl %.3f on 4096 TinyStories tokens\n", res.spec, res.bpp_quantized, pr.ppl);
    /* runs, not "works": 1-bit methods leave this 260K-parameter model worse than uniform (512) */
    ck_assert_msg(isfinite(pr.ppl) && pr.ppl > 1 && pr.ppl < 1e5, "%s: ppl %g", spec, pr.ppl);
    qh_ppl_result_free(&pr);
    qh_quant_result_free(&res);
    free(ids);
    free(text);
    free(txt);
    free(dir);
    qh_tokenizer_free(tok);
    qh_model_free(m);
}
END_TEST

/* Multiple-choice requests with a SentencePiece vocabulary: every request starts with BOS, a
 * continuation is the tokens of context + continuation past the context's (no second leading
 * space piece); MMLU's letters come from the vocabulary, and this 512-piece one has no single
 * token for " A" after "Answer:", which is said rather than scored wrongly. */
START_TEST(multiple_choice_requests_follow_the_vocabulary)
{
    char *dir = tu_shared_path("models/stories260K");
    qh_tokenizer *tok;
    qh_err err;
    ck_assert_msg(qh_tokenizer_load_dir(dir, &tok, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(qh_tokenizer_start_token(tok), 1);
    char ctx[] = "Lily went to the park", c0[] = " and played.", c1[] = " and cried.", *choices[2] = {c0, c1};
    char pair0[] = "Lily is happy.", pair1[] = "Lily are happy.", *pairs[2] = {pair0, pair1};
    char empty[] = "", prompt[] = "Question: who? Answer:";
    qh_mc_item items[3] = {{"ctx/0", ctx, NULL, NULL, 2, choices, 0}, {"pair/0", empty, NULL, NULL, 2, pairs, 0},
                           {"mmlu/0", ctx, NULL, prompt, 2, choices, 0}};
    qh_mc_kind kinds[3] = {QH_MC_CHOICE, QH_MC_PAIR, QH_MC_MMLU};
    for (int t = 0; t < 3; t++) {
        qh_mc_task task = {"t", kinds[t], 1, 1, &items[t], 0.5, "", ""};
        qh_mc_requests rq;
        if (t == 2) {
            ck_assert_int_eq(qh_mc_requests_build(tok, &task, &rq, &err), -1);
            ck_assert_msg(strstr(err.msg, "'A' after 'Answer:' is not a single token"), "%s", err.msg);
            continue;
        }
        ck_assert_msg(qh_mc_requests_build(tok, &task, &rq, &err) == 0, "%s", err.msg);
        for (int r = 0; r < rq.n_req; r++) ck_assert_int_eq(rq.req[r].tokens[0], 1); /* BOS */
        /* the tokens after BOS are the whole text's, encoded as one string */
        char whole[128];
        snprintf(whole, sizeof whole, "%s%s", items[t].context, items[t].choices[0]);
        int *ids;
        size_t n;
        ck_assert(qh_encode(tok, "t", whole, strlen(whole), &ids, &n, &err) == 0);
        ck_assert_int_eq(rq.req[0].n, (int)n + 1);
        ck_assert(memcmp(rq.req[0].tokens + 1, ids, n * sizeof(int)) == 0);
        ck_assert(rq.req[0].n_cont >= 1 && rq.req[0].n_cont < (int)n + (t == 1));
        free(ids);
        qh_mc_requests_free(&rq);
    }
    qh_tokenizer_free(tok);
    free(dir);
}
END_TEST

Suite *suite_llama(void)
{
    Suite *s = suite_create("llama");
    TCase *tc = tcase_create("stories260K");
    tcase_add_test(tc, both_formats_load_the_same_model);
    tcase_add_test(tc, forward_matches_an_independent_reference);
    tcase_add_test(tc, batches_and_continuations_give_the_same_bits);
    tcase_add_test(tc, hugging_face_llama_loads_the_same_model);
    tcase_add_test(tc, broken_llama2c_files_are_refused);
    tcase_add_test(tc, perplexity_matches_llama_perplexity);
    tcase_add_test(tc, multiple_choice_requests_follow_the_vocabulary);
    int n = 0;
    while (qh_methods[n]) n++;
    tcase_add_loop_test(tc, every_method_runs_on_stories260K, 0, n);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}
