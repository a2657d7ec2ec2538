/* main.c - the qharness command line: one table of subcommands, as in git.
 * Usage errors exit 2, runtime errors 1; every error is one line on stderr. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../datasets/datasets.h"
#include "../datasets/mc.h"
#include "../reports/plot.h"
#include "../reports/assessment.h"
#include "../reports/audit.h"
#include "../reports/report.h"
#include "bench.h"
#include "eval_mc.h"
#include "eval_ppl.h"
#include "imatrix.h"
#include "../methods/method.h"
#include "gguf.h"
#include "model.h"
#include "quantize.h"
#include "results.h"
#include "sweep.h"
#include "tokenizer.h"
#include "util.h"

#define EXIT_USAGE 2

static int die(const qh_err *err)
{
    fprintf(stderr, "qharness: %s\n", err->msg);
    return 1;
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "qharness %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'qharness help %s')\n", cmd);
    return EXIT_USAGE;
}

/* Parses a whole positive integer option; returns 0 on success. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* ---- shared pieces ---------------------------------------------------------------------- */

typedef struct {
    qh_model *model;
    qh_tokenizer *tok;
    int *token_bytes;          /* (n_vocab) */
    int quantized;             /* model holds decoded quantized weights */
    qh_quant_result quant;     /* their specs, parts and byte accounting */
} loaded_model;

/* Options shared by every command that quantizes: --method, --include, --exclude,
 * --override, --kept-dtype.  Returns 1 if c was one of them, -1 on a bad value. */
#define SCOPE_LONGOPTS                                                                         \
    {"method", required_argument, 0, 1001}, {"include", required_argument, 0, 1002},          \
        {"exclude", required_argument, 0, 1003}, {"override", required_argument, 0, 1004},    \
        {"kept-dtype", required_argument, 0, 1005}, {"calib", required_argument, 0, 1006},    \
        {"calib-windows", required_argument, 0, 1007}, {"calib-ctx", required_argument, 0, 1008}, \
        {"calib-seed", required_argument, 0, 1009}, {"candidate", required_argument, 0, 1010},    \
        {"target", required_argument, 0, 1011}, {"target-scope", required_argument, 0, 1012},     \
        {"imatrix", required_argument, 0, 1013}

/* Calibration settings from the command line (used when a method needs them or --calib is given). */
static struct {
    const char *text, *imatrix;
    int windows, ctx, given;
    unsigned long seed;
} cli_calib = {NULL, NULL, 128, 0, 0, 1};

static int scope_option(int c, char *arg, qh_quant_opts *q, const char *cmd)
{
    switch (c) {
    case 1001: q->spec = arg; return 1;
    case 1002:
        if (q->n_include == QH_MAX_PATTERNS) return usage_error(cmd, "too many --include patterns%s", ""), -1;
        q->include[q->n_include++] = arg;
        return 1;
    case 1003:
        if (q->n_exclude == QH_MAX_PATTERNS) return usage_error(cmd, "too many --exclude patterns%s", ""), -1;
        q->exclude[q->n_exclude++] = arg;
        return 1;
    case 1004: {
        char *eq = strchr(arg, '=');
        if (!eq || eq == arg || !eq[1] || q->n_override == QH_MAX_PATTERNS)
            return usage_error(cmd, "--override '%s' must be PATTERN=SPEC", arg), -1;
        *eq = 0;
        q->override_pattern[q->n_override] = arg;
        q->override_spec[q->n_override++] = eq + 1;
        return 1;
    }
    case 1006: cli_calib.text = arg; cli_calib.given = 1; return 1;
    case 1013: cli_calib.imatrix = arg; return 1;
    case 1010:
        if (q->n_candidates == QH_MAX_PATTERNS) return usage_error(cmd, "too many --candidate specs%s", ""), -1;
        q->candidates[q->n_candidates++] = arg;
        return 1;
    case 1011: {
        char *end;
        double v = strtod(arg, &end);
        if (*end || !(v > 0 && v < 64)) return usage_error(cmd, "--target '%s' must be a bpp between 0 and 64", arg), -1;
        q->mixed_target = v;
        return 1;
    }
    case 1012:
        if (strcmp(arg, "quantized") && strcmp(arg, "model"))
            return usage_error(cmd, "--target-scope '%s' must be quantized or model", arg), -1;
        q->mixed_whole_model = strcmp(arg, "model") == 0;
        return 1;
    case 1007:
    case 1008:
    case 1009: {
        long v;
        if (parse_long(arg, c == 1009 ? 0 : (c == 1008 ? 2 : 1), 1L << 30, &v))
            return usage_error(cmd, "calibration option '%s' is not a valid integer", arg), -1;
        if (c == 1007) cli_calib.windows = (int)v;
        else if (c == 1008) cli_calib.ctx = (int)v;
        else cli_calib.seed = (unsigned long)v;
        cli_calib.given = 1;
        return 1;
    }
    case 1005:
        if (qh_dtype_from_name(arg, &q->kept_dtype) != 0 ||
            (q->kept_dtype != QH_DT_F16 && q->kept_dtype != QH_DT_BF16 && q->kept_dtype != QH_DT_F32))
            return usage_error(cmd, "--kept-dtype '%s' must be F16, BF16 or F32", arg), -1;
        return 1;
    }
    return 0;
}

static int scope_without_method(const qh_quant_opts *q)
{
    return !q->spec && !q->n_candidates && (q->n_include || q->n_exclude || q->n_override);
}

/* The default branch of a quantizing command's option switch: a scope option, or an
 * unknown option.  Returns 0 when handled, else the exit code. */
static int other_option(int c, char *arg, qh_quant_opts *q, const char *cmd, char **argv)
{
    int k = scope_option(c, arg, q, cmd);
    if (k < 0) return EXIT_USAGE;
    if (k == 0) return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    return 0;
}

/* --candidate and --target go together, and exclude --method */
static int mixed_usage(const char *cmd, const qh_quant_opts *q)
{
    if (scope_without_method(q)) return usage_error(cmd, "--include/--exclude/--override need --method%s", "");
    if (q->n_candidates && q->spec) return usage_error(cmd, "--method and --candidate exclude each other%s", "");
    if (q->n_candidates && !q->mixed_target) return usage_error(cmd, "--candidate needs --target BPP%s", "");
    if (!q->n_candidates && q->mixed_target) return usage_error(cmd, "--target needs --candidate specs%s", "");
    return 0;
}

/* Whether any method named in q (default or overrides) needs calibration statistics. */
static int scope_needs_calibration(const qh_quant_opts *q, qh_err *err, int *needs)
{
    *needs = q->n_candidates > 0; /* mixed precision measures sensitivities on calibration data */
    for (int i = q->n_candidates ? q->n_override : -1; i < q->n_override; i++) {
        qh_spec *s;
        if (qh_spec_parse(i < 0 ? q->spec : q->override_spec[i], &s, err) != 0) return -1;
        *needs |= qh_spec_needs_calibration(s);
        qh_spec_free(s);
    }
    return 0;
}

/* Quantizes m in place with q, first tokenizing the calibration text when a method needs it
 * (or --calib was given): default the shipped gutenberg-calib, 128 windows of the model's
 * context, seed 1. */
static int quantize_with_calibration(qh_model *m, qh_tokenizer *tok, const qh_quant_opts *q, qh_quant_result *res, qh_err *err)
{
    int needs;
    if (scope_needs_calibration(q, err, &needs) != 0) return -1;
    qh_quant_opts local = *q;
    qh_calib_opts co = {0};
    int *ids = NULL;
    qh_imatrix im = {0};
    if (cli_calib.imatrix) { /* llama.cpp's statistics instead of a calibration text */
        if (cli_calib.given) return qh_fail(err, "--imatrix replaces the calibration text: give it or --calib and its options, not both");
        if (qh_imatrix_load(cli_calib.imatrix, &im, err) != 0) return -1;
        qh_calib_opts_imatrix(&im, &co);
        local.calib = &co;
    } else if (needs || cli_calib.given) {
        if (qh_calib_opts_load(cli_calib.text ? cli_calib.text : "gutenberg-calib", tok, cli_calib.windows,
                               cli_calib.ctx ? cli_calib.ctx : m->cfg.n_ctx, cli_calib.seed, &co, &ids, err) != 0) {
            free(ids);
            return -1;
        }
        local.calib = &co;
    }
    int rc = qh_quantize_model(m, &local, res, err);
    free(ids);
    qh_imatrix_free(&im);
    return rc;
}

/* Loads a model directory (optionally quantizing it in memory with q->spec) or a packed
 * qharness file, and its tokenizer: beside a packed file, else its source model directory. */
static int load_model_and_tokenizer(const char *arg, const qh_quant_opts *q, loaded_model *lm, qh_err *err)
{
    memset(lm, 0, sizeof *lm);
    char *dir = NULL;
    int rc;
    if (qh_is_packed_file(arg)) {
        if (q && (q->spec || q->n_candidates)) return qh_fail(err, "%s: already quantized; --method applies to a model directory", arg);
        rc = qh_quant_load(arg, &lm->model, &lm->quant, err);
        lm->quantized = rc == 0;
        if (rc == 0) {
            char *beside = qh_strdup(arg), *slash = strrchr(beside, '/');
            if (slash) *slash = 0;
            else strcpy(beside, ".");
            char *v1 = qh_path_join(beside, "vocab.json"), *v2 = qh_path_join(beside, "encoder.json");
            dir = qh_file_exists(v1) || qh_file_exists(v2) ? qh_strdup(beside) : qh_strdup(lm->model->dir);
            free(v1);
            free(v2);
            free(beside);
            if (!qh_is_dir(dir)) rc = qh_fail(err, "%s: its tokenizer is looked for beside it and in its source model directory %s, which is missing", arg, dir);
        }
    } else {
        dir = qh_resolve_model_dir(arg);
        rc = qh_model_load(dir, &lm->model, 1, err);
        if (rc == 0) rc = qh_tokenizer_load_dir(dir, &lm->tok, err);
        if (rc == 0 && q && (q->spec || q->n_candidates)) {
            rc = quantize_with_calibration(lm->model, lm->tok, q, &lm->quant, err);
            lm->quantized = rc == 0;
        }
    }
    if (rc == 0 && !lm->tok) rc = qh_tokenizer_load_dir(dir, &lm->tok, err);
    if (rc == 0 && qh_tokenizer_vocab_size(lm->tok) > lm->model->cfg.n_vocab)
        rc = qh_fail(err, "%s: tokenizer has %d tokens but the model's vocab_size is %d", dir,
                     qh_tokenizer_vocab_size(lm->tok), lm->model->cfg.n_vocab);
    free(dir);
    if (rc != 0) {
        qh_model_free(lm->model);
        qh_tokenizer_free(lm->tok);
        qh_quant_result_free(&lm->quant);
        memset(lm, 0, sizeof *lm);
        return -1;
    }
    lm->token_bytes = qh_token_byte_lengths(lm->tok, lm->model->cfg.n_vocab);
    return 0;
}

static void free_loaded(loaded_model *lm)
{
    qh_model_free(lm->model);
    qh_tokenizer_free(lm->tok);
    qh_quant_result_free(&lm->quant);
    free(lm->token_bytes);
}

/* Progress bar with ETA on stderr, only when stderr is a terminal. */
typedef struct {
    double start;
    const char *what;
} progress_state;

static void progress_bar(void *ud, long done, long total)
{
    progress_state *ps = ud;
    double el = qh_now() - ps->start, eta = done ? el * (double)(total - done) / (double)done : 0;
    int width = 30, fill = (int)(width * done / (total ? total : 1));
    fprintf(stderr, "\r[%.*s%*s] %3ld%% %ld/%ld %s  ETA %.0fs ", fill, "==============================",
            width - fill, "", 100 * done / (total ? total : 1), done, total, ps->what, eta);
    if (done == total) fprintf(stderr, "\r%*s\r", 80, "");
    fflush(stderr);
}

/* ---- info ------------------------------------------------------------------------------- */

/* info on a GGUF file: its header and the bits-per-weight ledger from its bytes */
static int info_gguf(const char *path, int tensors)
{
    qh_gguf *g;
    qh_err err;
    if (qh_gguf_open(path, &g, &err) != 0) return die(&err);
    const char *arch = "?", *name = "?";
    uint64_t len, nlen;
    const qh_gguf_kv *a = qh_gguf_find(g, "general.architecture"), *n = qh_gguf_find(g, "general.name");
    if (a && a->type == QH_GGUF_STRING) arch = a->str, len = a->str_len;
    else len = 1;
    if (n && n->type == QH_GGUF_STRING) name = n->str, nlen = n->str_len;
    else nlen = 1;
    printf("file             %s (%zu bytes)\n", path, g->size);
    printf("gguf             version %u, %llu keys, %llu tensors, alignment %llu, data at byte %llu\n", g->version,
           (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors, (unsigned long long)g->alignment,
           (unsigned long long)g->data_offset);
    printf("model            %.*s, architecture %.*s\n", (int)nlen, name, (int)len, arch);
    qh_gguf_print_ledger(g, tensors, stdout);
    qh_gguf_close(g);
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    int tensors = argc == 3 && strcmp(argv[2], "--tensors") == 0;
    if (argc == 2 + tensors && qh_gguf_probe(argv[1])) return info_gguf(argv[1], tensors);
    if (argc != 2) return usage_error("info", "expected one MODEL argument%s", "");
    qh_err err;
    char *dir = qh_resolve_model_dir(argv[1]);
    qh_model *m;
    if (qh_model_load(dir, &m, 1, &err) != 0) {
        free(dir);
        return die(&err);
    }
    const qh_config *c = &m->cfg;
    size_t groups[6] = {0}; /* wte, wpe, attention, mlp, layernorm, head */
    for (int i = 0; i < m->n_tensors; i++) {
        const qh_tensor *t = &m->tensors[i];
        size_t n = (size_t)t->rows * t->cols;
        if (strcmp(t->name, "wte.weight") == 0) groups[0] += n;
        else if (strcmp(t->name, "wpe.weight") == 0) groups[1] += n;
        else if (strstr(t->name, ".attn.")) groups[2] += n;
        else if (strstr(t->name, ".mlp.")) groups[3] += n;
        else groups[4] += n;
    }
    if (!m->head_tied) groups[5] = (size_t)c->n_vocab * c->n_embd;
    printf("model            %s\n", dir);
    printf("weights          %s (sha256 %s)\n", m->weights_path, m->sha256);
    printf("dtype            %s\n", m->dtype);
    printf("config           n_layer %d, n_head %d, n_embd %d, n_ctx %d, vocab %d, ln_eps %g\n",
           c->n_layer, c->n_head, c->n_embd, c->n_ctx, c->n_vocab, c->ln_eps);
    printf("parameters       %zu (%.2fM)\n", m->n_params, m->n_params / 1e6);
    const char *names[6] = {"token embedding", "position emb.", "attention", "mlp", "layernorm", "lm_head"};
    for (int g = 0; g < 6; g++) {
        if (g == 5 && m->head_tied) {
            printf("  %-14s %12s  tied to the token embedding\n", names[g], "0");
            continue;
        }
        printf("  %-14s %12zu  %5.1f%%\n", names[g], groups[g], 100.0 * groups[g] / m->n_params);
    }
    size_t block_linear = (size_t)c->n_layer * 12 * c->n_embd * c->n_embd;
    printf("block linear     %zu weights in %d matrices (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj per block)\n",
           block_linear, 4 * c->n_layer);
    free(dir);
    qh_model_free(m);
    return 0;
}

/* ---- tokenize --------------------------------------------------------------------------- */

static int cmd_tokenize(int argc, char **argv)
{
    if (argc != 3) return usage_error("tokenize", "expected MODEL and TEXT (a dataset name or a file)%s", "");
    qh_err err;
    char *dir = qh_resolve_model_dir(argv[1]);
    qh_tokenizer *tok;
    qh_text text;
    int rc = qh_tokenizer_load_dir(dir, &tok, &err);
    free(dir);
    if (rc != 0) return die(&err);
    if (qh_text_load(argv[2], &text, &err) != 0) {
        qh_tokenizer_free(tok);
        return die(&err);
    }
    int *ids;
    size_t n;
    double t0 = qh_now();
    rc = qh_encode(tok, text.path, text.text, text.len, &ids, &n, &err);
    double el = qh_now() - t0;
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) printf("%d\n", ids[i]);
        fprintf(stderr, "%zu tokens from %zu bytes in %.3f s\n", n, text.len, el);
        free(ids);
    }
    qh_text_free(&text);
    qh_tokenizer_free(tok);
    return rc == 0 ? 0 : die(&err);
}

/* ---- ppl -------------------------------------------------------------------------------- */

static void print_ppl_json(const char *model_dir, const loaded_model *lm, const qh_text *text, const qh_ppl_result *r)
{
    const qh_model *m = lm->model;
    printf("{\"model\":\"%s\",\"model_sha256\":\"%s\",\"dataset\":\"%s\",\"dataset_sha256\":\"%s\","
           "\"protocol\":\"%s\",\"ctx\":%d,\"stride\":%d,\"bos_replaced\":%d,\"max_tokens\":%ld,\"tokens_total\":%ld,\"tokens_scored\":%ld,"
           "\"windows\":%d,\"nll_sum\":%.6f,\"mean_nll\":%.8f,\"ppl\":%.6f,\"ppl_ci95\":[%.6f,%.6f],"
           "\"ci_method\":\"bootstrap over windows\",\"n_boot\":%d,\"seed\":%lu,"
           "\"ppl_pm_llama_cpp\":%.6f,"
           "\"bits_per_byte\":%.6f,\"bytes_scored\":%ld,\"seconds\":%.3f,\"tokens_per_s\":%.1f,\"threads\":%d",
           model_dir, m->sha256, text->name, text->sha256, r->protocol, r->ctx, r->stride, r->bos_id >= 0, r->max_tokens, r->tokens_total,
           r->tokens_scored, r->windows, r->nll_sum, r->mean_nll, r->ppl, r->ppl_lo, r->ppl_hi, r->n_boot, r->seed,
           r->ppl_pm, r->bits_per_byte, r->bytes_scored, r->seconds, r->tokens_forward / r->seconds, qh_threads());
    if (lm->quantized) {
        const qh_quant_result *q = &lm->quant;
        printf(",\"method\":\"%s\",\"kept_dtype\":\"%s\",\"quantized_tensors\":%d,\"params_quantized\":%zu,"
               "\"params_total\":%zu,\"bytes_quantized\":%zu,\"bytes_total\":%zu,\"bpp_quantized\":%.6f,\"bpp_model\":%.6f",
               q->spec, qh_dtype_name(q->kept_dtype), q->n_q, q->params_quantized, q->params_total, q->bytes_quantized,
               q->bytes_total, q->bpp_quantized, q->bpp_model);
    }
    printf("}\n");
}

static void print_ppl_text(const char *model_dir, const loaded_model *lm, const qh_text *text, const qh_ppl_result *r)
{
    const qh_model *m = lm->model;
    printf("model        %s (%s weights, %.2fM parameters, sha256 %.12s)\n", model_dir, m->dtype, m->n_params / 1e6, m->sha256);
    if (lm->quantized) qh_quant_print_report(stdout, m, &lm->quant, 0);
    printf("text         %s (%s, sha256 %.12s), %ld tokens%s\n", text->name, text->path, text->sha256,
           r->tokens_total, r->max_tokens ? " after --max-tokens" : "");
    int llama = strcmp(r->protocol, "llama-cpp") == 0;
    if (llama)
        printf("protocol     llama-cpp: %d non-overlapping chunks of %d tokens, positions %d..%d of each scored%s\n", r->windows,
               r->ctx, r->first_scored_offset, r->ctx - 1, r->bos_id >= 0 ? "; first token of each chunk replaced by BOS" : "; no BOS (the vocabulary adds none)");
    else
        printf("protocol     sliding: windows of ctx %d, stride %d; each token scored once, given the tokens before it in its window\n",
               r->ctx, r->stride);
    printf("perplexity   %.4f  95%% CI [%.3f, %.3f]  (bootstrap over %d %s, %d resamples, seed %lu)\n",
           r->ppl, r->ppl_lo, r->ppl_hi, r->windows, llama ? "chunks" : "windows", r->n_boot, r->seed);
    printf("             %.4f +/- %.5f  (llama.cpp's formula: PPL * sqrt(var(NLL)/(N-1)), tokens taken as independent)\n",
           r->ppl, r->ppl_pm);
    if (llama)
        printf("note         fp32 activations throughout; llama-perplexity quantizes activations to 8 bits in its quantized dot\n"
               "             products (and keeps an F16 KV cache), so its number differs from this one by up to ~0.5%%\n");
    printf("mean NLL     %.5f nats/token over %ld scored tokens\n", r->mean_nll, r->tokens_scored);
    printf("bits/byte    %.5f over %ld UTF-8 bytes of the scored tokens\n", r->bits_per_byte, r->bytes_scored);
    printf("throughput   %.0f tokens/s through the model (%ld tokens, %.2f s, %d threads)\n",
           r->tokens_forward / r->seconds, r->tokens_forward, r->seconds, qh_threads());
}

/* Options of the commands that evaluate windows of a text (ppl, kld): --ctx, --max-tokens,
 * --seed, --protocol, --chunks.  Returns 1 if c was one of them, 0 if not, or EXIT_USAGE. */
#define WINDOW_LONGOPTS                                                                                             \
    {"ctx", required_argument, 0, 'c'}, {"max-tokens", required_argument, 0, 'm'}, {"seed", required_argument, 0, 'S'}, \
        {"protocol", required_argument, 0, 'P'}, {"chunks", required_argument, 0, 'C'}

static int window_option(int c, const char *arg, qh_ppl_opts *opts, const char *cmd)
{
    long v;
    switch (c) {
    case 'c': if (parse_long(arg, 2, 1 << 20, &v)) return usage_error(cmd, "--ctx '%s' is not an integer >= 2", arg); opts->ctx = (int)v; return 1;
    case 'm': if (parse_long(arg, 2, 1L << 40, &v)) return usage_error(cmd, "--max-tokens '%s' is not an integer >= 2", arg); opts->max_tokens = v; return 1;
    case 'S': if (parse_long(arg, 0, 1L << 40, &v)) return usage_error(cmd, "--seed '%s' is not a non-negative integer", arg); opts->seed = (unsigned long)v; return 1;
    case 'C': if (parse_long(arg, 1, 1L << 40, &v)) return usage_error(cmd, "--chunks '%s' is not a positive integer", arg); opts->chunks = v; return 1;
    case 'P': {
        qh_err perr;
        if (qh_ppl_protocol_check(arg, &perr) != 0) return usage_error(cmd, "--protocol: %s", perr.msg);
        opts->protocol = arg;
        return 1;
    }
    }
    return 0;
}

/* a window option or a quantization-scope one; EXIT_USAGE (said) when neither or a bad value */
static int window_or_scope_option(int c, char *arg, qh_ppl_opts *opts, qh_quant_opts *q, const char *cmd, char **argv)
{
    int e = window_option(c, arg, opts, cmd);
    if (e == 0) e = other_option(c, arg, q, cmd, argv); /* 0 or EXIT_USAGE */
    return e == EXIT_USAGE ? EXIT_USAGE : 0;
}

static int cmd_ppl(int argc, char **argv)
{
    static const struct option longopts[] = {
        WINDOW_LONGOPTS, {"stride", required_argument, 0, 's'}, {"json", no_argument, 0, 'j'},
        {"batch", required_argument, 0, 'b'}, {"boot", required_argument, 0, 'B'}, SCOPE_LONGOPTS, {0, 0, 0, 0}};
    qh_ppl_opts opts = {0};
    qh_quant_opts qopts;
    qh_quant_opts_init(&qopts);
    opts.seed = 1;
    int json = 0, c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': if (parse_long(optarg, 1, 1 << 20, &v)) return usage_error("ppl", "--stride '%s' is not a positive integer", optarg); opts.stride = (int)v; break;
        case 'b': if (parse_long(optarg, 1, 4096, &v)) return usage_error("ppl", "--batch '%s' is not a positive integer", optarg); opts.batch = (int)v; break;
        case 'B': if (parse_long(optarg, 10, 1000000, &v)) return usage_error("ppl", "--boot '%s' must be an integer >= 10", optarg); opts.n_boot = (int)v; break;
        case 'j': json = 1; break;
        default:
            if (window_or_scope_option(c, optarg, &opts, &qopts, "ppl", argv)) return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) return usage_error("ppl", "expected MODEL and TEXT%s", "");
    if (mixed_usage("ppl", &qopts)) return EXIT_USAGE;
    qh_err err;
    loaded_model lm;
    qh_text text;
    int *ids = NULL;
    size_t n;
    qh_ppl_result res = {0};
    int rc = 1;
    char *model_dir = qh_resolve_model_dir(argv[optind]);
    if (load_model_and_tokenizer(argv[optind], &qopts, &lm, &err) != 0) {
        free(model_dir);
        return die(&err);
    }
    if (qh_text_load(argv[optind + 1], &text, &err) != 0) goto fail_model;
    if (qh_encode(lm.tok, text.path, text.text, text.len, &ids, &n, &err) != 0) goto fail_text;
    opts.bos_id = qh_tokenizer_bos_added(lm.tok);
    opts.use_bos = opts.bos_id >= 0;
    progress_state ps = {qh_now(), "windows"};
    if (isatty(2)) {
        opts.progress = progress_bar;
        opts.progress_ud = &ps;
    }
    if (qh_eval_ppl(lm.model, ids, (long)n, lm.token_bytes, &opts, &res, &err) != 0) {
        /* name the subject: the text that was too short, the option that was out of range */
        qh_err_prefix(&err, "%s", text.path);
        goto fail_text;
    }
    if (json) print_ppl_json(model_dir, &lm, &text, &res);
    else print_ppl_text(model_dir, &lm, &text, &res);
    rc = 0;
fail_text:
    free(ids);
    qh_ppl_result_free(&res);
    qh_text_free(&text);
fail_model:
    free_loaded(&lm);
    free(model_dir);
    return rc == 0 ? 0 : die(&err);
}

/* ---- kld -------------------------------------------------------------------------------- */

static void print_kld(const char *base_arg, const char *model_arg, const loaded_model *lb, const loaded_model *lq,
                      const qh_text *text, const qh_fidelity_result *f, int json)
{
    if (json) {
        printf("{\"base\":\"%s\",\"base_sha256\":\"%s\",\"model\":\"%s\",\"model_sha256\":\"%s\",\"dataset\":\"%s\",\"dataset_sha256\":\"%s\","
               "\"protocol\":\"%s\",\"ctx\":%d,\"windows\":%d,\"positions\":%ld,"
               "\"kl_mean\":%.8f,\"kl_se\":%.8f,\"kl_ci95\":[%.8f,%.8f],\"kl_median\":%.8f,\"kl_p90\":%.8f,\"kl_p95\":%.8f,"
               "\"kl_p99\":%.8f,\"kl_p99_9\":%.8f,\"kl_max\":%.8f,\"kl_min\":%.8g,\"same_top_p\":%.8f,\"same_top_p_se\":%.8f,"
               "\"dp_mean\":%.8f,\"dp_se\":%.8f,\"dp_rms\":%.8f,\"dp_rms_se\":%.8f,\"ln_ppl_ratio\":%.8f,\"ln_ppl_ratio_se\":%.8f,"
               "\"ppl_base\":%.6f,\"ppl_model\":%.6f,\"nll_correlation\":%.8f,\"seconds\":%.3f}\n",
               base_arg, lb->model->sha256, model_arg, lq->model->sha256, text->name, text->sha256, f->protocol, f->ctx, f->windows,
               f->positions, f->kl_mean, f->kl_se, f->kl_lo, f->kl_hi, f->kl_median, f->kl_p90, f->kl_p95, f->kl_p99, f->kl_p999,
               f->kl_max, f->kl_min, f->top1, f->top1_se, f->dp_mean, f->dp_se, f->dp_rms, f->dp_rms_se, f->ln_ppl_ratio,
               f->ln_ppl_ratio_se, f->ppl_base, f->ppl_quant, f->nll_correlation, f->seconds);
        return;
    }
    printf("base         %s (%s weights, sha256 %.12s)\n", base_arg, lb->model->dtype, lb->model->sha256);
    printf("model        %s (%s weights, sha256 %.12s)\n", model_arg, lq->model->dtype, lq->model->sha256);
    if (lq->quantized) qh_quant_print_report(stdout, lq->model, &lq->quant, 0);
    printf("text         %s (%s, sha256 %.12s)\n", text->name, text->path, text->sha256);
    if (strcmp(f->protocol, "llama-cpp") == 0)
        printf("protocol     llama-cpp: %d chunks of %d tokens, positions %d..%d of each; %ld positions\n", f->windows, f->ctx,
               f->ctx / 2 + 1, f->ctx - 1, f->positions);
    else
        printf("protocol     sliding: %d windows of ctx %d (stride = ctx); %ld positions\n", f->windows, f->ctx, f->positions);
    printf("             statistics as llama-perplexity --kl-divergence prints them (+/-: standard errors, tokens taken as\n"
           "             independent); fp32 activations and base logits, where llama.cpp stores the base's log-probabilities\n"
           "             in 16 bits and quantizes activations to 8 bits in quantized dot products\n\n");
    printf("PPL(base)                  %10.4f\n", f->ppl_base);
    printf("PPL(model)                 %10.4f\n", f->ppl_quant);
    printf("Cor(ln PPL(model), ln PPL(base)) %6.2f%%\n", 100 * f->nll_correlation);
    printf("Mean ln(PPL(model)/PPL(base))  %9.6f +/- %8.6f\n", f->ln_ppl_ratio, f->ln_ppl_ratio_se);
    printf("Mean PPL(model)/PPL(base)      %9.6f +/- %8.6f\n\n", exp(f->ln_ppl_ratio), exp(f->ln_ppl_ratio) * f->ln_ppl_ratio_se);
    printf("Mean    KLD  %10.6f +/- %8.6f   (95%% bootstrap over %s: [%.6f, %.6f])\n", f->kl_mean, f->kl_se,
           strcmp(f->protocol, "llama-cpp") == 0 ? "chunks" : "windows", f->kl_lo, f->kl_hi);
    printf("Maximum KLD  %10.6f\n99.9%%   KLD  %10.6f\n99.0%%   KLD  %10.6f\n95.0%%   KLD  %10.6f\n90.0%%   KLD  %10.6f\n",
           f->kl_max, f->kl_p999, f->kl_p99, f->kl_p95, f->kl_p90);
    printf("Median  KLD  %10.6f\nMinimum KLD  %10.6f\n\n", f->kl_median, f->kl_min);
    printf("Mean    dp   %8.3f +/- %.3f %%   (p_model(next token) - p_base(next token))\n", 100 * f->dp_mean, 100 * f->dp_se);
    printf("RMS     dp   %8.3f +/- %.3f %%\n", 100 * f->dp_rms, 100 * f->dp_rms_se);
    printf("Same top p   %8.3f +/- %.3f %%\n", 100 * f->top1, 100 * f->top1_se);
}

static int cmd_kld(int argc, char **argv)
{
    static const struct option longopts[] = {
        WINDOW_LONGOPTS, {"json", no_argument, 0, 'j'}, SCOPE_LONGOPTS, {0, 0, 0, 0}};
    qh_ppl_opts opts = {0};
    qh_quant_opts qopts;
    qh_quant_opts_init(&qopts);
    opts.seed = 1;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        default:
            if (window_or_scope_option(c, optarg, &opts, &qopts, "kld", argv)) return EXIT_USAGE;
        }
    }
    if (argc - optind != 3) return usage_error("kld", "expected BASE, MODEL and TEXT%s", "");
    if (mixed_usage("kld", &qopts)) return EXIT_USAGE;
    qh_err err;
    loaded_model lb, lq;
    qh_text text;
    int *ids = NULL, rc = 1;
    size_t n;
    qh_fidelity_result res = {0};
    if (load_model_and_tokenizer(argv[optind], NULL, &lb, &err) != 0) return die(&err);
    if (load_model_and_tokenizer(argv[optind + 1], &qopts, &lq, &err) != 0) {
        free_loaded(&lb);
        return die(&err);
    }
    if (qh_tokenizer_vocab_size(lb.tok) != qh_tokenizer_vocab_size(lq.tok)) {
        qh_fail(&err, "%s and %s have different vocabularies (%d and %d tokens)", argv[optind], argv[optind + 1],
                qh_tokenizer_vocab_size(lb.tok), qh_tokenizer_vocab_size(lq.tok));
        goto fail_models;
    }
    if (qh_text_load(argv[optind + 2], &text, &err) != 0) goto fail_models;
    if (qh_encode(lb.tok, text.path, text.text, text.len, &ids, &n, &err) != 0) goto fail_text;
    opts.bos_id = qh_tokenizer_bos_added(lb.tok);
    opts.use_bos = opts.bos_id >= 0;
    if (qh_eval_fidelity(lb.model, lq.model, ids, (long)n, &opts, &res, &err) != 0) {
        qh_err_prefix(&err, "%s", text.path);
        goto fail_text;
    }
    print_kld(argv[optind], argv[optind + 1], &lb, &lq, &text, &res, json);
    rc = 0;
fail_text:
    free(ids);
    qh_fidelity_result_free(&res);
    qh_text_free(&text);
fail_models:
    free_loaded(&lb);
    free_loaded(&lq);
    return rc == 0 ? 0 : die(&err);
}

/* ---- convert ---------------------------------------------------------------------------- */

static int cmd_convert(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, 0, 'o'}, {"type", required_argument, 0, 't'},
                                             {0, 0, 0, 0}};
    const char *out = NULL, *type = "F32";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 't': type = optarg; break;
        default: return usage_error("convert", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1 || !out) return usage_error("convert", "expected MODEL and -o FILE.gguf%s", "");
    qh_err err;
    loaded_model lm;
    if (load_model_and_tokenizer(argv[optind], NULL, &lm, &err) != 0) return die(&err);
    char *dir = qh_resolve_model_dir(argv[optind]);
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    double t0 = qh_now();
    int rc = qh_model_write_gguf(lm.model, lm.tok, base, type, out, &err);
    if (rc == 0) {
        qh_gguf *g;
        rc = qh_gguf_open(out, &g, &err); /* read back: what was written is a valid file */
        if (rc == 0) {
            printf("wrote %s (%s, %zu bytes, %llu tensors) in %.2f s\n", out, type, g->size, (unsigned long long)g->n_tensors,
                   qh_now() - t0);
            qh_gguf_print_ledger(g, 0, stdout);
            qh_gguf_close(g);
        }
    }
    free(dir);
    free_loaded(&lm);
    return rc == 0 ? 0 : die(&err);
}

/* ---- mc --------------------------------------------------------------------------------- */

static void print_mc(const loaded_model *lm, const qh_mc_task *t, const qh_mc_result *r, int ctx, int json)
{
    if (json) {
        printf("{\"model_sha256\":\"%s\",\"task\":\"%s\",\"task_sha256\":\"%s\",\"items\":%d,\"available\":%ld,"
               "\"ctx\":%d,\"chance\":%.6f,\"acc\":%.6f,\"acc_ci95\":[%.6f,%.6f]",
               lm->model->sha256, t->name, t->sha256, r->n_items, t->n_available, ctx, r->chance, r->acc, r->acc_lo, r->acc_hi);
        if (r->has_norm) printf(",\"acc_norm\":%.6f,\"acc_norm_ci95\":[%.6f,%.6f]", r->acc_norm, r->acc_norm_lo, r->acc_norm_hi);
        if (r->has_letter) printf(",\"acc_letter\":%.6f,\"acc_letter_ci95\":[%.6f,%.6f]", r->acc_letter, r->acc_letter_lo, r->acc_letter_hi);
        if (r->target_tokens) printf(",\"target_ppl\":%.6f,\"target_tokens\":%ld", r->target_ppl, r->target_tokens);
        printf(",\"truncated_requests\":%ld,\"seconds\":%.3f", r->truncated_requests, r->seconds);
        if (lm->quantized) printf(",\"method\":\"%s\",\"bpp_quantized\":%.6f,\"bpp_model\":%.6f", lm->quant.spec, lm->quant.bpp_quantized, lm->quant.bpp_model);
        printf(",\"protocol\":\"%s\"}\n", t->protocol);
        return;
    }
    printf("task         %s: %d of %ld items (sha256 %.12s), ctx %d\n", t->name, r->n_items, t->n_available, t->sha256, ctx);
    printf("protocol     %s\n", t->protocol);
    if (lm->quantized) qh_quant_print_report(stdout, lm->model, &lm->quant, 0);
    printf("acc          %.4f  95%% CI [%.4f, %.4f]  (Wilson, n=%d; chance %.4f)\n", r->acc, r->acc_lo, r->acc_hi, r->n_items, r->chance);
    if (r->has_norm)
        printf("acc_norm     %.4f  95%% CI [%.4f, %.4f]  (log-likelihood per byte)\n", r->acc_norm, r->acc_norm_lo, r->acc_norm_hi);
    if (r->has_letter)
        printf("acc_letter   %.4f  95%% CI [%.4f, %.4f]  (next token among ' A'..' D')\n", r->acc_letter, r->acc_letter_lo, r->acc_letter_hi);
    if (r->target_tokens) printf("target ppl   %.3f over %ld target tokens\n", r->target_ppl, r->target_tokens);
    printf("truncated    %ld requests cut from the left to fit ctx %d\n", r->truncated_requests, ctx);
    printf("time         %.2f s\n", r->seconds);
}

static int cmd_mc(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"task", required_argument, 0, 't'}, {"n", required_argument, 0, 'n'}, {"shots", required_argument, 0, 'k'},
        {"subjects", required_argument, 0, 'S'}, {"split", required_argument, 0, 'p'}, {"seed", required_argument, 0, 's'},
        {"first", no_argument, 0, 'f'}, {"ctx", required_argument, 0, 'c'}, {"json", no_argument, 0, 'j'},
        SCOPE_LONGOPTS, {0, 0, 0, 0}};
    qh_mc_opts o = {0};
    o.seed = 1;
    qh_quant_opts qopts;
    qh_quant_opts_init(&qopts);
    const char *task = NULL;
    int ctx = 0, json = 0, c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 't': task = optarg; break;
        case 'n': if (parse_long(optarg, 1, 1L << 30, &v)) return usage_error("mc", "--n '%s' is not a positive integer", optarg); o.budget = v; break;
        case 'k': if (parse_long(optarg, 0, 5, &v)) return usage_error("mc", "--shots '%s' must be 0 to 5", optarg); o.shots = (int)v; break;
        case 'S': o.subjects = optarg; break;
        case 'p': o.split = optarg; break;
        case 's': if (parse_long(optarg, 0, 1L << 40, &v)) return usage_error("mc", "--seed '%s' is not a non-negative integer", optarg); o.seed = (unsigned long)v; break;
        case 'f': o.first = 1; break;
        case 'c': if (parse_long(optarg, 2, 1 << 20, &v)) return usage_error("mc", "--ctx '%s' is not an integer >= 2", optarg); ctx = (int)v; break;
        case 'j': json = 1; break;
        default: {
            int e = other_option(c, optarg, &qopts, "mc", argv);
            if (e) return e;
        }
        }
    }
    if (argc - optind != 1 || !task) return usage_error("mc", "expected MODEL and --task NAME%s", "");
    if (mixed_usage("mc", &qopts)) return EXIT_USAGE;
    qh_err err;
    qh_mc_task t;
    if (qh_mc_load(task, &o, &t, &err) != 0) return die(&err);
    loaded_model lm;
    if (load_model_and_tokenizer(argv[optind], &qopts, &lm, &err) != 0) {
        qh_mc_free(&t);
        return die(&err);
    }
    if (ctx == 0) ctx = lm.model->cfg.n_ctx;
    int rc = 0;
    if (ctx > lm.model->cfg.n_ctx) rc = qh_fail(&err, "--ctx %d: window longer than the model's context (%d)", ctx, lm.model->cfg.n_ctx);
    progress_state ps = {qh_now(), "requests"};
    qh_mc_result r;
    if (rc == 0) rc = qh_eval_mc(lm.model, lm.tok, &t, ctx, &r, isatty(2) ? progress_bar : NULL, &ps, &err);
    if (rc == 0) {
        print_mc(&lm, &t, &r, ctx, json);
        qh_mc_result_free(&r);
    }
    free_loaded(&lm);
    qh_mc_free(&t);
    return rc == 0 ? 0 : die(&err);
}

/* ---- sweep ------------------------------------------------------------------------------ */

static int cmd_sweep(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"resume", no_argument, 0, 'r'},
                                             {"dry-run", no_argument, 0, 'n'}, {0, 0, 0, 0}};
    qh_sweep_opts o = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db_path = optarg; break;
        case 'r': o.resume = 1; break;
        case 'n': o.dry_run = 1; break;
        default: return usage_error("sweep", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return usage_error("sweep", "expected one EXPERIMENT.ini%s", "");
    qh_err err;
    int rc = qh_sweep(argv[optind], &o, &err);
    if (rc < 0) return die(&err);
    return rc;
}

static int cmd_results(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"experiment", required_argument, 0, 'e'},
                                             {"markdown", no_argument, 0, 'm'}, {"csv", no_argument, 0, 'c'},
                                             {"json", no_argument, 0, 'j'}, {"all", no_argument, 0, 'a'}, {0, 0, 0, 0}};
    const char *db = "results/qharness.sqlite", *name = NULL;
    int c, all = 0, n_formats = 0;
    qh_results_format fmt = QH_RESULTS_TEXT;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'e': name = optarg; break;
        case 'm': fmt = QH_RESULTS_MARKDOWN; n_formats++; break;
        case 'c': fmt = QH_RESULTS_CSV; n_formats++; break;
        case 'j': fmt = QH_RESULTS_JSON; n_formats++; break;
        case 'a': all = 1; break;
        default: return usage_error("results", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc != optind) return usage_error("results", "unexpected argument '%s'", argv[optind]);
    if (n_formats > 1) return usage_error("results", "give one of --markdown, --csv, --json%s", "");
    qh_err err;
    return qh_results_print(db, name, fmt, all, stdout, &err) == 0 ? 0 : die(&err);
}

/* --claim "key = value; key = value; ..." becomes a claim file under results/ (kept, so that the
 * audit's provenance names a file like any other), then is audited like one. */
static int write_inline_claim(const char *spec, char *path, size_t path_len, qh_err *err)
{
    char sha[65];
    qh_sha256_hex(spec, strlen(spec), sha);
    mkdir("results", 0755);
    snprintf(path, path_len, "results/claim-%.12s.ini", sha);
    FILE *f = fopen(path, "w");
    if (!f) return qh_fail(err, "%s: cannot write", path);
    fprintf(f, "; qharness audit --claim \"%s\"\n[claim]\n", spec);
    int has_name = 0, has_text = 0;
    char *copy = qh_strdup(spec), *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        while (*item == ' ' || *item == '\t') item++;
        if (!*item) continue;
        has_name |= strncmp(item, "name", 4) == 0 && strchr(" =", item[4]);
        has_text |= strncmp(item, "text", 4) == 0 && strchr(" =", item[4]);
        fprintf(f, "%s\n", item);
    }
    free(copy);
    if (!has_name) fprintf(f, "name = inline-%.8s\n", sha);
    if (!has_text) fprintf(f, "text = %s\n", spec);
    fclose(f);
    return 0;
}

static int cmd_audit(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"claim", required_argument, 0, 'c'}, {0, 0, 0, 0}};
    const char *db = "results/qharness.sqlite", *inline_claim = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'd') db = optarg;
        else if (c == 'c') inline_claim = optarg;
        else return usage_error("audit", "unknown option '%s'", argv[optind - 1]);
    }
    if (inline_claim && argc != optind) return usage_error("audit", "give a CLAIM.ini or --claim, not both (%s)", argv[optind]);
    if (!inline_claim && argc - optind != 1) return usage_error("audit", "expected one CLAIM.ini or --claim \"KEY = VALUE; ...\"%s", "");
    qh_err err;
    char path[256];
    if (inline_claim && write_inline_claim(inline_claim, path, sizeof path, &err) != 0) return die(&err);
    return qh_audit(inline_claim ? path : argv[optind], db, stdout, &err) == 0 ? 0 : die(&err);
}

static int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"experiment", required_argument, 0, 'e'},
                                             {"output", required_argument, 0, 'o'}, {"charts", required_argument, 0, 'c'},
                                             {"assessment", no_argument, 0, 'a'}, {"template", required_argument, 0, 't'},
                                             {0, 0, 0, 0}};
    const char *db = "results/qharness.sqlite", *name = NULL, *outp = NULL, *charts = NULL, *template = NULL;
    int c, assessment = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'e': name = optarg; break;
        case 'o': outp = optarg; break;
        case 'c': charts = optarg; break;
        case 'a': assessment = 1; break;
        case 't': template = optarg; break;
        default: return usage_error("report", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc != optind) return usage_error("report", "unexpected argument '%s'", argv[optind]);
    if (assessment && (name || charts)) return usage_error("report", "--assessment reads every experiment and audit; it takes no %s", name ? "--experiment" : "--charts");
    if (template && !assessment) return usage_error("report", "%s goes with --assessment", "--template");
    qh_err err;
    FILE *f = stdout;
    char *tmp = NULL;
    if (outp) {
        tmp = qh_malloc(strlen(outp) + 5);
        sprintf(tmp, "%s.tmp", outp);
        f = fopen(tmp, "w");
        if (!f) {
            qh_fail(&err, "%s: cannot create", tmp);
            free(tmp);
            return die(&err);
        }
    }
    int rc;
    if (assessment) {
        char *default_template = qh_path_join(qh_home(), "reports/assessment.md.in");
        rc = qh_assessment(db, template ? template : default_template, db, template ? template : "reports/assessment.md.in", f, &err);
        free(default_template);
    } else
        rc = qh_report(db, name, charts, f, &err);
    if (outp) {
        fclose(f);
        if (rc == 0 && rename(tmp, outp) != 0) rc = qh_fail(&err, "%s: cannot write", outp);
        if (rc != 0) unlink(tmp);
        else printf("%s   %s\n", assessment ? "assessment" : "report    ", outp);
        free(tmp);
    }
    return rc == 0 ? 0 : die(&err);
}

static int cmd_plot(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"experiment", required_argument, 0, 'e'},
                                             {"output", required_argument, 0, 'o'}, {"scope", required_argument, 0, 's'},
                                             {0, 0, 0, 0}};
    const char *db = "results/qharness.sqlite", *name = NULL, *out = NULL;
    int whole = -1, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'e': name = optarg; break;
        case 'o': out = optarg; break;
        case 's':
            if (strcmp(optarg, "quantized") && strcmp(optarg, "model") && strcmp(optarg, "both"))
                return usage_error("plot", "--scope '%s' must be quantized, model or both", optarg);
            whole = strcmp(optarg, "model") == 0 ? 1 : strcmp(optarg, "quantized") == 0 ? 0 : -1;
            break;
        default: return usage_error("plot", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc != optind) return usage_error("plot", "unexpected argument '%s'", argv[optind]);
    char def[256];
    if (!out) {
        snprintf(def, sizeof def, "reports/%s", name ? name : "latest");
        out = def;
        mkdir("reports", 0755);
    }
    qh_err err;
    int total = 0;
    for (int scope = 0; scope < 2; scope++) {
        if (whole >= 0 && scope != whole) continue;
        int n = qh_plot(db, name, out, scope, stdout, &err);
        if (n < 0) return die(&err);
        total += n;
    }
    printf("charts       %d written under %s/ (PNG, SVG, with their .dat and .gp)\n", total, out);
    return 0;
}

/* ---- methods / quantize ----------------------------------------------------------------- */

static int cmd_methods(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("Quantization methods (spec: \"NAME key=value ...\"; wrappers: \"NAME key=value ... + INNER SPEC\"):\n");
    for (int i = 0; qh_methods[i]; i++) {
        const qh_method *m = qh_methods[i];
        printf("\n%s%s\n  %s\n", m->name, m->is_wrapper ? " ... + INNER" : "", m->summary);
        for (const qh_param *p = m->params; p->name; p++) {
            char range[64], def[64];
            if (p->type == QH_PARAM_ENUM) {
                const char *c = p->choices;
                for (int k = 0; k < (int)p->def && c; k++) c = strchr(c, '|') ? strchr(c, '|') + 1 : NULL;
                snprintf(def, sizeof def, "%.*s", c ? (int)strcspn(c, "|") : 1, c ? c : "?");
                snprintf(range, sizeof range, "one of %s", p->choices);
            } else {
                snprintf(def, sizeof def, "%g", p->def);
                snprintf(range, sizeof range, "%s in [%.10g, %.10g]", p->type == QH_PARAM_INT ? "int" : "real", p->min, p->max);
            }
            printf("  %-8s %-24s default %-6s %s\n", p->name, range, def, p->help);
        }
    }
    return 0;
}

static int cmd_quantize(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, 0, 'o'}, {"tensors", no_argument, 0, 't'},
                                             SCOPE_LONGOPTS, {0, 0, 0, 0}};
    qh_quant_opts q;
    qh_quant_opts_init(&q);
    const char *output = NULL;
    int per_tensor = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 't': per_tensor = 1; break;
        default: {
            int e = other_option(c, optarg, &q, "quantize", argv);
            if (e) return e;
        }
        }
    }
    if (argc - optind != 1) return usage_error("quantize", "expected one MODEL argument%s", "");
    if (mixed_usage("quantize", &q)) return EXIT_USAGE;
    /* no method's packed form is exactly a ggml type (rtn bits=8 group=32, the nearest, divides
     * by the F16-rounded scale and rounds half to even; Q8_0 multiplies by the inverse of the
     * unrounded one and rounds half away), so a GGUF of it would not be the measured model */
    size_t olen = output ? strlen(output) : 0;
    if (olen > 5 && strcmp(output + olen - 5, ".gguf") == 0)
        return usage_error("quantize", "-o %s: quantize writes qharness's packed safetensors; no method's packed form is exactly a "
                                       "ggml type, so GGUF is written by 'qharness convert MODEL -o FILE.gguf --type T'", output);
    if (!q.spec && !q.n_candidates)
        return usage_error("quantize", "--method SPEC (or --candidate ... --target BPP) is required (see 'qharness methods')%s", "");
    qh_err err;
    char *dir = qh_resolve_model_dir(argv[optind]);
    qh_model *m;
    qh_tokenizer *tok = NULL;
    qh_quant_result res;
    if (qh_model_load(dir, &m, 1, &err) != 0 || qh_tokenizer_load_dir(dir, &tok, &err) != 0) {
        free(dir);
        return die(&err);
    }
    int rc = quantize_with_calibration(m, tok, &q, &res, &err);
    qh_tokenizer_free(tok);
    if (rc == 0) {
        printf("model        %s (sha256 %.12s)\n", dir, m->sha256);
        qh_quant_print_report(stdout, m, &res, per_tensor);
        if (output) {
            rc = qh_quant_write(output, m, &res, &err);
            if (rc == 0) {
                qh_safetensors st;
                rc = qh_st_open(output, &st, &err);
                if (rc == 0) {
                    printf("written      %s: %zu bytes (%zu of tensors = %.4f bpp x %zu parameters / 8, %zu of header)\n",
                           output, st.map_size, res.bytes_total, res.bpp_model, res.params_total, st.data_start);
                    qh_st_close(&st);
                }
            }
        }
        qh_quant_result_free(&res);
    }
    qh_model_free(m);
    free(dir);
    return rc == 0 ? 0 : die(&err);
}

/* ---- bench ------------------------------------------------------------------------------ */

static int cmd_bench(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ctx", required_argument, 0, 'c'}, {"windows", required_argument, 0, 'w'},
        {"batch", required_argument, 0, 'b'}, {"dequant", required_argument, 0, 'd'}, {0, 0, 0, 0}};
    int ctx = 256, windows = 16, batch = 4, c;
    const char *dequant = NULL;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': if (parse_long(optarg, 2, 1 << 20, &v)) return usage_error("bench", "--ctx '%s' is not an integer >= 2", optarg); ctx = (int)v; break;
        case 'w': if (parse_long(optarg, 1, 1 << 20, &v)) return usage_error("bench", "--windows '%s' is not a positive integer", optarg); windows = (int)v; break;
        case 'b': if (parse_long(optarg, 1, 4096, &v)) return usage_error("bench", "--batch '%s' is not a positive integer", optarg); batch = (int)v; break;
        case 'd': dequant = optarg; break;
        default: return usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    qh_err err;
    if (dequant) {
        if (optind < argc) return usage_error("bench", "--dequant FILE.gguf takes no model%s", "");
        return qh_bench_dequant(dequant, stdout, &err) == 0 ? 0 : die(&err);
    }
    const char *model_arg = optind < argc ? argv[optind] : "default";
    loaded_model lm;
    if (load_model_and_tokenizer(model_arg, NULL, &lm, &err) != 0) return die(&err);
    qh_text text;
    int *ids = NULL;
    size_t n;
    int rc = qh_text_load("wikitext2-test", &text, &err);
    if (rc == 0) rc = qh_encode(lm.tok, text.path, text.text, text.len, &ids, &n, &err);
    if (rc == 0) rc = qh_bench_run(lm.model, ids, (long)n, ctx, batch, windows, stdout, &err);
    free(ids);
    if (text.text) qh_text_free(&text);
    free_loaded(&lm);
    return rc == 0 ? 0 : die(&err);
}

/* ---- command table ---------------------------------------------------------------------- */

static int cmd_help(int argc, char **argv);

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("qharness %s\n", QH_VERSION);
    return 0;
}

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *summary;
} commands[] = {
    {"info", cmd_info, "info MODEL | info FILE.gguf [--tensors]",
     "config, parameter counts by group, dtype and sha256 of a model; for a GGUF file its header and bits-per-weight ledger"},
    {"ppl", cmd_ppl, "ppl MODEL|PACKED.safetensors|FILE.gguf TEXT [--protocol sliding|llama-cpp] [--ctx N] [--stride S] [--chunks N] [--max-tokens N] [--seed S] [--boot N] [--batch B] [--json] [--method SPEC ...]",
     "perplexity with a bootstrap 95% interval; TEXT is a dataset name or a UTF-8 file"},
    {"convert", cmd_convert, "convert MODEL -o FILE.gguf [--type F32|F16|BF16|Q8_0|Q4_0]",
     "write a model as a GGUF file llama.cpp loads (block matrices, embedding and output in --type; ggml's rounding)"},
    {"kld", cmd_kld,
     "kld BASE MODEL|PACKED.safetensors|FILE.gguf TEXT [--protocol sliding|llama-cpp] [--ctx N] [--chunks N] [--max-tokens N] [--seed S] [--json] [--method SPEC ...]",
     "KL divergence of MODEL from BASE per position, with llama-perplexity's statistics (--method quantizes MODEL)"},
    {"mc", cmd_mc,
     "mc MODEL --task NAME [--n N] [--first] [--seed S] [--shots K] [--subjects a,b] [--split test|dev] [--ctx N] [--json] [--method SPEC ...]",
     "multiple-choice accuracy with a Wilson 95% interval and the chance level (mmlu, blimp, lambada, arc-easy, ...)"},
    {"sweep", cmd_sweep, "sweep EXPERIMENT.ini [--db FILE] [--resume] [--dry-run]",
     "run every configuration of an experiment file into SQLite (default results/qharness.sqlite)"},
    {"results", cmd_results, "results [--db FILE] [--experiment NAME] [--all] [--markdown | --csv | --json]",
     "the runs of an experiment with bpp, perplexity, fidelity and accuracies, read from SQLite"},
    {"plot", cmd_plot, "plot [--db FILE] [--experiment NAME] [-o DIR] [--scope quantized|model|both]",
     "perplexity/accuracy-vs-bpp charts (PNG + SVG) with intervals, Pareto frontier, baseline and chance, from SQLite"},
    {"audit", cmd_audit,
     "audit CLAIM.ini [--db FILE]\n"
     "       audit --claim \"model = default; method = SPEC; task = T; metric = M; retained = F[; claimed_bpp = B; budget = N; ...]\" [--db FILE]",
     "verdict on a claim: paired-bootstrap retention, chance-adjusted retention, bpp check, warnings; stored in SQLite"},
    {"report", cmd_report,
     "report [--db FILE] [--experiment NAME] [-o FILE.md] [--charts DIR]\n"
     "       report --assessment [--db FILE] [--template FILE.md.in] [-o FILE.md]  (HONEST_ASSESSMENT.md from the database)",
     "Markdown report from SQLite: provenance, results with intervals, Pareto sets, warnings, charts; or the assessment"},
    {"methods", cmd_methods, "methods", "list the quantization methods and their parameters"},
    {"quantize", cmd_quantize,
     "quantize MODEL --method SPEC [-o FILE] [--include P] [--exclude P] [--override P=SPEC] [--kept-dtype F16|BF16|F32] [--tensors]\n"
     "         [--calib TEXT] [--calib-windows N] [--calib-ctx T] [--calib-seed S]\n"
     "         [--candidate SPEC ... --target BPP [--target-scope quantized|model]]  (mixed precision)",
     "quantize a model; report bits per parameter from the packed bytes; write the packed file"},
    {"tokenize", cmd_tokenize, "tokenize MODEL TEXT", "print the GPT-2 token ids of a text, one per line"},
    {"bench", cmd_bench, "bench [MODEL] [--ctx N] [--batch B] [--windows W] | bench --dequant FILE.gguf",
     "forward-pass tokens/s and GFLOP/s next to OpenBLAS sgemm on the same shapes"},
    {"version", cmd_version, "version", "print the version"},
    {"help", cmd_help, "help [COMMAND]", "this list, or one command's usage"},
};

static void print_usage(const struct command *c)
{
    printf("usage: qharness %s\n  %s\n", c->usage, c->summary);
}

/* "--help" or "-h" among a command's arguments (before a "--"): print its usage instead */
static int asks_for_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    if (argc >= 2) {
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (strcmp(commands[i].name, argv[1]) == 0) {
                print_usage(&commands[i]);
                return 0;
            }
        fprintf(stderr, "qharness: no command '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    printf("usage: qharness COMMAND [ARGS]      (qharness COMMAND --help: that command's usage; qharness --version)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        printf("  %-9s %s\n", commands[i].name, commands[i].summary);
    printf("\nMODEL is a Hugging Face GPT-2 directory or a name under models/ ('default' = %s).\n"
           "Datasets: ", QH_DEFAULT_MODEL);
    for (const qh_text_dataset *d = qh_text_datasets; d->name; d++) printf("%s%s", d == qh_text_datasets ? "" : ", ", d->name);
    printf(".\nEnvironment: QHARNESS_THREADS (default: all cores), QHARNESS_HOME (default: the binary's directory).\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(1, argv);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) return cmd_help(1, argv);
    if (strcmp(argv[1], "--version") == 0) return cmd_version(1, argv);
    qh_threads();
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, argv[1]) == 0) {
            if (asks_for_help(argc - 1, argv + 1)) {
                print_usage(&commands[i]);
                return 0;
            }
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "qharness: '%s' is not a command (see 'qharness help')\n", argv[1]);
    return EXIT_USAGE;
}
