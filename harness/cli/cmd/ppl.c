/* qharness ppl: perplexity of a text under a window protocol. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "datasets/datasets.h"
#include "harness/cli/cli.h"
#include "harness/base/progress.h"

/* docs: the text's documents (unit NULL: none known); docs_rule: how they were found */
static void print_ppl_json(const qh_text_documents *docs, const char *docs_rule, const char *model_dir, const qh_cli_model *lm,
                           const qh_text *text, const qh_ppl_result *r, int ctx_given)
{
    const qh_model *m = lm->model;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model_dir);
    cJSON_AddStringToObject(o, "model_sha256", m->sha256);
    cJSON_AddStringToObject(o, "dataset", text->name);
    cJSON_AddStringToObject(o, "dataset_sha256", text->sha256);
    cJSON_AddStringToObject(o, "protocol", r->protocol);
    cJSON_AddNumberToObject(o, "ctx", r->ctx);
    cJSON_AddStringToObject(o, "ctx_source", ctx_given ? "--ctx" : m->ctx_source);
    cJSON_AddNumberToObject(o, "stride", r->stride);
    cJSON_AddNumberToObject(o, "bos_replaced", r->bos_id >= 0);
    cJSON_AddNumberToObject(o, "max_tokens", (double)r->max_tokens);
    cJSON_AddNumberToObject(o, "tokens_total", (double)r->tokens_total);
    cJSON_AddNumberToObject(o, "tokens_scored", (double)r->tokens_scored);
    cJSON_AddNumberToObject(o, "windows", r->windows);
    qh_cli_json_number(o, "nll_sum", r->nll_sum);
    qh_cli_json_number(o, "mean_nll", r->mean_nll);
    qh_cli_json_number(o, "ppl", r->ppl);
    qh_cli_json_interval(o, "ppl_ci95", r->ppl_lo, r->ppl_hi);
    cJSON_AddStringToObject(o, "ci_method", "bootstrap over windows");
    if (docs->unit) { /* the interval over documents, where the text's documents are known */
        cJSON *d = cJSON_AddObjectToObject(o, "by_document");
        cJSON_AddStringToObject(d, "unit", docs->unit);
        cJSON_AddStringToObject(d, "rule", docs_rule);
        cJSON_AddNumberToObject(d, "documents_scored", r->documents);
        qh_cli_json_interval(d, "ppl_ci95", r->ppl_doc_lo, r->ppl_doc_hi);
    }
    cJSON_AddNumberToObject(o, "n_boot", r->n_boot);
    cJSON_AddNumberToObject(o, "seed", (double)r->seed);
    qh_cli_json_number(o, "ppl_pm_llama_cpp", r->ppl_pm);
    qh_cli_json_number(o, "bits_per_byte", r->bits_per_byte);
    cJSON_AddNumberToObject(o, "bytes_scored", (double)r->bytes_scored);
    qh_cli_json_number(o, "seconds", r->seconds);
    qh_cli_json_number(o, "tokens_per_s", r->tokens_forward / r->seconds);
    cJSON_AddNumberToObject(o, "threads", qh_threads());
    if (lm->quantized) {
        const qh_quant_result *q = &lm->quant;
        cJSON_AddStringToObject(o, "method", q->spec);
        cJSON_AddStringToObject(o, "kept_dtype", q->kept_desc[0] ? q->kept_desc : qh_dtype_name(q->kept_dtype));
        cJSON_AddNumberToObject(o, "quantized_tensors", q->n_q);
        cJSON_AddNumberToObject(o, "params_quantized", (double)q->params_quantized);
        cJSON_AddNumberToObject(o, "params_total", (double)q->params_total);
        cJSON_AddNumberToObject(o, "bytes_quantized", (double)q->bytes_quantized);
        cJSON_AddNumberToObject(o, "bytes_total", (double)q->bytes_total);
        cJSON_AddNumberToObject(o, "bpp_quantized", q->bpp_quantized);
        cJSON_AddNumberToObject(o, "bpp_model", q->bpp_model);
    }
    qh_cli_json_print(o);
}

static void print_ppl_text(const qh_text_documents *docs, const char *model_dir, const qh_cli_model *lm, const qh_text *text,
                           const qh_ppl_result *r, int ctx_given)
{
    const qh_model *m = lm->model;
    printf("model        %s (%s weights, %.2fM parameters, sha256 %.12s)\n", model_dir, m->dtype, m->n_params / 1e6, m->sha256);
    if (lm->quantized) qh_quant_print_report(stdout, m, &lm->quant, 0);
    printf("text         %s (%s, sha256 %.12s), %ld tokens%s\n", text->name, text->path, text->sha256,
           r->tokens_total, r->max_tokens ? " after --max-tokens" : "");
    char line[512];
    qh_ppl_describe(r, line, sizeof line);
    printf("protocol     %s\n", line);
    if (!ctx_given) /* one model in two formats can carry two contexts (stories260K: 512 and 128) */
        printf("window       ctx %d is the model's context (%s); --ctx sets it\n", r->ctx, m->ctx_source[0] ? m->ctx_source : "its config");
    if (isfinite(r->ppl_lo) && isfinite(r->ppl_hi))
        printf("perplexity   %.4f  95%% CI [%.3f, %.3f]  (bootstrap over %d %s, %d resamples, seed %lu)\n",
               r->ppl, r->ppl_lo, r->ppl_hi, r->windows, qh_ppl_protocol_units(r->protocol, r->windows), r->n_boot, r->seed);
    else
        printf("perplexity   %.4f  no interval: %d %s (a bootstrap needs at least %d)\n", r->ppl, r->windows,
               qh_ppl_protocol_units(r->protocol, r->windows), QH_MIN_RESAMPLING_UNITS);
    if (docs->unit) {
        const char *units = r->documents == 1 ? docs->unit : docs->units;
        if (!r->documents)
            printf("by %-9s not resampled: this tokenizer's tokens do not decode to the text's bytes, so they cannot be placed in its %s\n",
                   docs->unit, docs->units);
        else if (isfinite(r->ppl_doc_lo) && isfinite(r->ppl_doc_hi))
            printf("by %-9s 95%% CI [%.3f, %.3f]  (bootstrap over the %d %s the scored tokens are in, %d resamples, seed %lu)\n", docs->unit,
                   r->ppl_doc_lo, r->ppl_doc_hi, r->documents, units, r->n_boot, r->seed);
        else
            printf("by %-9s no interval: the scored tokens are in %d %s (a bootstrap needs at least %d)\n", docs->unit, r->documents, units,
                   QH_MIN_RESAMPLING_UNITS);
    }
    if (isfinite(r->ppl_pm))
        printf("             %.4f +/- %.5f  (llama.cpp's formula: PPL * sqrt(var(NLL)/(N-1)), tokens taken as independent)\n",
               r->ppl, r->ppl_pm);
    const char *note = qh_ppl_protocol_note(r->protocol);
    for (const char *l = note; l && *l;) { /* each line of the note under the one before */
        size_t len = strcspn(l, "\n");
        printf("%s%.*s\n", l == note ? "note         " : "             ", (int)len, l);
        l += len + (l[len] == '\n');
    }
    printf("mean NLL     %.5f nats/token over %ld scored tokens\n", r->mean_nll, r->tokens_scored);
    if (isfinite(r->bits_per_byte)) printf("bits/byte    %.5f over %ld UTF-8 bytes of the scored tokens\n", r->bits_per_byte, r->bytes_scored);
    printf("throughput   %.0f tokens/s through the model (%ld tokens, %.2f s, %d threads)\n",
           r->tokens_forward / r->seconds, r->tokens_forward, r->seconds, qh_threads());
}


const qh_cli_opt qh_cmd_ppl_options[] = {
    QH_WINDOW_OPTS,
    {"stride", required_argument, 's', "S", "sliding protocol: tokens from one window's start to the next's", "the window length: windows do not overlap"},
    {"boot", required_argument, 'B', "N", "bootstrap resamples of the perplexity's interval", "1000"},
    {"batch", required_argument, 'b', "B", "windows per forward pass (speed only; the numbers do not change)", "1024/ctx, at least 1"},
    {"json", no_argument, 'j', NULL, "one JSON object instead of the text report", NULL},
    QH_SCOPE_OPTS,
    QH_CLI_OPT_END};

int qh_cmd_ppl(int argc, char **argv)
{
    qh_ppl_opts opts = {0};
    qh_cli_scope qopts;
    qh_cli_scope_init(&qopts);
    opts.seed = 1;
    int json = 0, c;
    long v;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "", qh_cmd_ppl_options)) != -1) {
        switch (c) {
        case 's': if (qh_cli_parse_long(optarg, 1, 1 << 20, &v)) return qh_cli_usage("ppl", "--stride '%s' is not an integer from 1 to 1048576", optarg); opts.stride = (int)v; break;
        case 'b': if (qh_cli_parse_long(optarg, 1, 4096, &v)) return qh_cli_usage("ppl", "--batch '%s' is not an integer from 1 to 4096", optarg); opts.batch = (int)v; break;
        case 'B': if (qh_cli_parse_long(optarg, 10, 1000000, &v)) return qh_cli_usage("ppl", "--boot '%s' is not an integer from 10 to 1000000", optarg); opts.n_boot = (int)v; break;
        case 'j': json = 1; break;
        default:
            if (qh_cli_window_or_scope_option(c, optarg, &opts, &qopts, "ppl", argv)) return QH_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) return qh_cli_usage("ppl", "expected MODEL and TEXT%s", "");
    if (qh_cli_mixed_usage("ppl", &qopts)) return QH_EXIT_USAGE;
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    qh_cli_model lm;
    qh_text text;
    int *ids = NULL;
    size_t n;
    qh_ppl_result res = {0};
    qh_text_documents docs = {0};
    const char *docs_rule = NULL;
    int *token_document = NULL;
    int rc = 1;
    char *model_dir = qh_resolve_model_dir(argv[optind]);
    if (qh_cli_load(argv[optind], &qopts, &lm, &err) != 0) {
        free(model_dir);
        return qh_cli_die(&err);
    }
    if (qh_text_load(argv[optind + 1], &text, &err) != 0) goto fail_model;
    if (qh_encode(lm.tok, text.path, text.text, text.len, &ids, &n, &err) != 0) goto fail_text;
    docs_rule = qh_text_documents_of(&text, &docs);
    if (docs.n && lm.token_bytes) {
        token_document = qh_malloc(n * sizeof *token_document);
        /* a SentencePiece vocabulary that adds a space prefix decodes to one byte more than the text */
        int prefix = qh_tokenizer_encodes_alone_differently(lm.tok);
        if (qh_token_documents(&docs, text.len, ids, (long)n, lm.token_bytes, prefix, token_document) != 0) {
            free(token_document);
            token_document = NULL;
        }
    }
    opts.token_document = token_document;
    opts.bos_id = qh_tokenizer_bos_added(lm.tok);
    opts.use_bos = opts.bos_id >= 0;
    qh_progress_task pt = {"perplexity", "windows", 0};
    opts.progress = qh_progress_callback;
    opts.progress_ud = &pt;
    int eval_rc = qh_eval_ppl(lm.model, ids, (long)n, lm.token_bytes, &opts, &res, &err);
    qh_progress_end();
    if (eval_rc != 0) {
        /* name the subject: the text that was too short, the option that was out of range */
        qh_err_prefix(&err, "%s", text.path);
        goto fail_text;
    }
    if (json) print_ppl_json(&docs, docs_rule, model_dir, &lm, &text, &res, opts.ctx != 0);
    else print_ppl_text(&docs, model_dir, &lm, &text, &res, opts.ctx != 0);
    rc = 0;
fail_text:
    free(token_document);
    qh_text_documents_free(&docs);
    free(ids);
    qh_ppl_result_free(&res);
    qh_text_free(&text);
fail_model:
    qh_cli_free_loaded(&lm);
    free(model_dir);
    return rc == 0 ? 0 : qh_cli_die(&err);
}

const qh_command qh_command_ppl = {
    .name = "ppl",
    .run = qh_cmd_ppl,
    .usage = "ppl MODEL|PACKED.safetensors|FILE.gguf TEXT [OPTIONS]",
    .summary = "perplexity with a bootstrap 95% interval; TEXT is a dataset name or a UTF-8 file",
    .options = qh_cmd_ppl_options,
};
