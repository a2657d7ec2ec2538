/* main.c - the qharness command line: one table of subcommands, as in git.
 * Usage errors exit 2, runtime errors 1; every error is one line on stderr. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../datasets/datasets.h"
#include "bench.h"
#include "eval_ppl.h"
#include "model.h"
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
    int *token_bytes; /* (n_vocab) */
} loaded_model;

static int load_model_and_tokenizer(const char *arg, loaded_model *lm, qh_err *err)
{
    memset(lm, 0, sizeof *lm);
    char *dir = qh_resolve_model_dir(arg);
    int rc = qh_model_load(dir, &lm->model, 1, err);
    if (rc == 0) rc = qh_tokenizer_load_dir(dir, &lm->tok, err);
    if (rc == 0 && qh_tokenizer_vocab_size(lm->tok) > lm->model->cfg.n_vocab)
        rc = qh_fail(err, "%s: tokenizer has %d tokens but config.json vocab_size is %d", dir,
                     qh_tokenizer_vocab_size(lm->tok), lm->model->cfg.n_vocab);
    free(dir);
    if (rc != 0) {
        qh_model_free(lm->model);
        qh_tokenizer_free(lm->tok);
        memset(lm, 0, sizeof *lm);
        return -1;
    }
    int V = lm->model->cfg.n_vocab;
    lm->token_bytes = qh_calloc((size_t)V, sizeof(int));
    for (int i = 0; i < qh_tokenizer_vocab_size(lm->tok); i++) {
        size_t len;
        qh_token_bytes(lm->tok, i, &len);
        lm->token_bytes[i] = (int)len;
    }
    return 0;
}

static void free_loaded(loaded_model *lm)
{
    qh_model_free(lm->model);
    qh_tokenizer_free(lm->tok);
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

static int cmd_info(int argc, char **argv)
{
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

static void print_ppl_json(const char *model_dir, const qh_model *m, const qh_text *text, const qh_ppl_result *r)
{
    printf("{\"model\":\"%s\",\"model_sha256\":\"%s\",\"dataset\":\"%s\",\"dataset_sha256\":\"%s\","
           "\"ctx\":%d,\"stride\":%d,\"max_tokens\":%ld,\"tokens_total\":%ld,\"tokens_scored\":%ld,"
           "\"windows\":%d,\"nll_sum\":%.6f,\"mean_nll\":%.8f,\"ppl\":%.6f,\"ppl_ci95\":[%.6f,%.6f],"
           "\"ci_method\":\"bootstrap over windows\",\"n_boot\":%d,\"seed\":%lu,"
           "\"bits_per_byte\":%.6f,\"bytes_scored\":%ld,\"seconds\":%.3f,\"tokens_per_s\":%.1f,\"threads\":%d}\n",
           model_dir, m->sha256, text->name, text->sha256, r->ctx, r->stride, r->max_tokens, r->tokens_total,
           r->tokens_scored, r->windows, r->nll_sum, r->mean_nll, r->ppl, r->ppl_lo, r->ppl_hi, r->n_boot, r->seed,
           r->bits_per_byte, r->bytes_scored, r->seconds, r->tokens_forward / r->seconds, qh_threads());
}

static void print_ppl_text(const char *model_dir, const qh_model *m, const qh_text *text, const qh_ppl_result *r)
{
    printf("model        %s (%s weights, %.2fM parameters, sha256 %.12s)\n", model_dir, m->dtype, m->n_params / 1e6, m->sha256);
    printf("text         %s (%s, sha256 %.12s), %ld tokens%s\n", text->name, text->path, text->sha256,
           r->tokens_total, r->max_tokens ? " after --max-tokens" : "");
    printf("protocol     windows of ctx %d, stride %d; each token scored once, given the tokens before it in its window\n",
           r->ctx, r->stride);
    printf("perplexity   %.3f  95%% CI [%.3f, %.3f]  (bootstrap over %d windows, %d resamples, seed %lu)\n",
           r->ppl, r->ppl_lo, r->ppl_hi, r->windows, r->n_boot, r->seed);
    printf("mean NLL     %.5f nats/token over %ld scored tokens\n", r->mean_nll, r->tokens_scored);
    printf("bits/byte    %.5f over %ld UTF-8 bytes of the scored tokens\n", r->bits_per_byte, r->bytes_scored);
    printf("throughput   %.0f tokens/s through the model (%ld tokens, %.2f s, %d threads)\n",
           r->tokens_forward / r->seconds, r->tokens_forward, r->seconds, qh_threads());
}

static int cmd_ppl(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ctx", required_argument, 0, 'c'},   {"stride", required_argument, 0, 's'},
        {"max-tokens", required_argument, 0, 'm'}, {"json", no_argument, 0, 'j'},
        {"seed", required_argument, 0, 'S'},  {"batch", required_argument, 0, 'b'},
        {"boot", required_argument, 0, 'B'},  {0, 0, 0, 0}};
    qh_ppl_opts opts = {0};
    opts.seed = 1;
    int json = 0, c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': if (parse_long(optarg, 1, 1 << 20, &v)) return usage_error("ppl", "--ctx '%s' is not a positive integer", optarg); opts.ctx = (int)v; break;
        case 's': if (parse_long(optarg, 1, 1 << 20, &v)) return usage_error("ppl", "--stride '%s' is not a positive integer", optarg); opts.stride = (int)v; break;
        case 'm': if (parse_long(optarg, 2, 1L << 40, &v)) return usage_error("ppl", "--max-tokens '%s' is not an integer >= 2", optarg); opts.max_tokens = v; break;
        case 'S': if (parse_long(optarg, 0, 1L << 40, &v)) return usage_error("ppl", "--seed '%s' is not a non-negative integer", optarg); opts.seed = (unsigned long)v; break;
        case 'b': if (parse_long(optarg, 1, 4096, &v)) return usage_error("ppl", "--batch '%s' is not a positive integer", optarg); opts.batch = (int)v; break;
        case 'B': if (parse_long(optarg, 10, 1000000, &v)) return usage_error("ppl", "--boot '%s' must be an integer >= 10", optarg); opts.n_boot = (int)v; break;
        case 'j': json = 1; break;
        default: return usage_error("ppl", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2) return usage_error("ppl", "expected MODEL and TEXT%s", "");
    qh_err err;
    loaded_model lm;
    qh_text text;
    int *ids = NULL;
    size_t n;
    qh_ppl_result res = {0};
    int rc = 1;
    char *model_dir = qh_resolve_model_dir(argv[optind]);
    if (load_model_and_tokenizer(argv[optind], &lm, &err) != 0) {
        free(model_dir);
        return die(&err);
    }
    if (qh_text_load(argv[optind + 1], &text, &err) != 0) goto fail_model;
    if (qh_encode(lm.tok, text.path, text.text, text.len, &ids, &n, &err) != 0) goto fail_text;
    progress_state ps = {qh_now(), "windows"};
    if (isatty(2)) {
        opts.progress = progress_bar;
        opts.progress_ud = &ps;
    }
    if (qh_eval_ppl(lm.model, ids, (long)n, lm.token_bytes, &opts, &res, &err) != 0) {
        /* name the subject: the text that was too short, the option that was out of range */
        char msg[sizeof err.msg];
        snprintf(msg, sizeof msg, "%s: %s", text.path, err.msg);
        snprintf(err.msg, sizeof err.msg, "%s", msg);
        goto fail_text;
    }
    if (json) print_ppl_json(model_dir, lm.model, &text, &res);
    else print_ppl_text(model_dir, lm.model, &text, &res);
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

/* ---- bench ------------------------------------------------------------------------------ */

static int cmd_bench(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ctx", required_argument, 0, 'c'}, {"windows", required_argument, 0, 'w'},
        {"batch", required_argument, 0, 'b'}, {0, 0, 0, 0}};
    int ctx = 256, windows = 16, batch = 4, c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': if (parse_long(optarg, 2, 1 << 20, &v)) return usage_error("bench", "--ctx '%s' is not an integer >= 2", optarg); ctx = (int)v; break;
        case 'w': if (parse_long(optarg, 1, 1 << 20, &v)) return usage_error("bench", "--windows '%s' is not a positive integer", optarg); windows = (int)v; break;
        case 'b': if (parse_long(optarg, 1, 4096, &v)) return usage_error("bench", "--batch '%s' is not a positive integer", optarg); batch = (int)v; break;
        default: return usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    const char *model_arg = optind < argc ? argv[optind] : "default";
    qh_err err;
    loaded_model lm;
    if (load_model_and_tokenizer(model_arg, &lm, &err) != 0) return die(&err);
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
    {"info", cmd_info, "info MODEL", "config, parameter counts by group, dtype and sha256 of a model"},
    {"ppl", cmd_ppl, "ppl MODEL TEXT [--ctx N] [--stride S] [--max-tokens N] [--seed S] [--json]",
     "perplexity with a bootstrap 95% interval; TEXT is a dataset name or a UTF-8 file"},
    {"tokenize", cmd_tokenize, "tokenize MODEL TEXT", "print the GPT-2 token ids of a text, one per line"},
    {"bench", cmd_bench, "bench [MODEL] [--ctx N] [--batch B] [--windows W]",
     "forward-pass tokens/s and GFLOP/s next to OpenBLAS sgemm on the same shapes"},
    {"version", cmd_version, "version", "print the version"},
    {"help", cmd_help, "help [COMMAND]", "this list, or one command's usage"},
};

static int cmd_help(int argc, char **argv)
{
    if (argc >= 2) {
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (strcmp(commands[i].name, argv[1]) == 0) {
                printf("usage: qharness %s\n  %s\n", commands[i].usage, commands[i].summary);
                return 0;
            }
        fprintf(stderr, "qharness: no command '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    printf("usage: qharness COMMAND [ARGS]\n\n");
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
    qh_threads();
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, argv[1]) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "qharness: '%s' is not a command (see 'qharness help')\n", argv[1]);
    return EXIT_USAGE;
}
