/* qharness ppl: perplexity of a text under a window protocol. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../datasets/datasets.h"
#include "../cli.h"

static void print_ppl_json(const char *model_dir, const qh_cli_model *lm, const qh_text *text, const qh_ppl_result *r)
{
    const qh_model *m = lm->model;
    char lo[48], hi[48], pm[48], bpb[48];
    int has_ci = isfinite(r->ppl_lo) && isfinite(r->ppl_hi);
    printf("{\"model\":\"%s\",\"model_sha256\":\"%s\",\"dataset\":\"%s\",\"dataset_sha256\":\"%s\","
           "\"protocol\":\"%s\",\"ctx\":%d,\"stride\":%d,\"bos_replaced\":%d,\"max_tokens\":%ld,\"tokens_total\":%ld,\"tokens_scored\":%ld,"
           "\"windows\":%d,\"nll_sum\":%.6f,\"mean_nll\":%.8f,\"ppl\":%.6f,\"ppl_ci95\":%s%s%s%s%s,"
           "\"ci_method\":\"bootstrap over windows\",\"n_boot\":%d,\"seed\":%lu,"
           "\"ppl_pm_llama_cpp\":%s,"
           "\"bits_per_byte\":%s,\"bytes_scored\":%ld,\"seconds\":%.3f,\"tokens_per_s\":%.1f,\"threads\":%d",
           model_dir, m->sha256, text->name, text->sha256, r->protocol, r->ctx, r->stride, r->bos_id >= 0, r->max_tokens, r->tokens_total,
           r->tokens_scored, r->windows, r->nll_sum, r->mean_nll, r->ppl, has_ci ? "[" : "null", has_ci ? qh_json_num(lo, "%.6f", r->ppl_lo) : "",
           has_ci ? "," : "", has_ci ? qh_json_num(hi, "%.6f", r->ppl_hi) : "", has_ci ? "]" : "", r->n_boot, r->seed,
           qh_json_num(pm, "%.6f", r->ppl_pm), qh_json_num(bpb, "%.6f", r->bits_per_byte), r->bytes_scored, r->seconds,
           r->tokens_forward / r->seconds, qh_threads());
    if (lm->quantized) {
        const qh_quant_result *q = &lm->quant;
        printf(",\"method\":\"%s\",\"kept_dtype\":\"%s\",\"quantized_tensors\":%d,\"params_quantized\":%zu,"
               "\"params_total\":%zu,\"bytes_quantized\":%zu,\"bytes_total\":%zu,\"bpp_quantized\":%.6f,\"bpp_model\":%.6f",
               q->spec, qh_dtype_name(q->kept_dtype), q->n_q, q->params_quantized, q->params_total, q->bytes_quantized,
               q->bytes_total, q->bpp_quantized, q->bpp_model);
    }
    printf("}\n");
}

static void print_ppl_text(const char *model_dir, const qh_cli_model *lm, const qh_text *text, const qh_ppl_result *r)
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
    if (isfinite(r->ppl_lo) && isfinite(r->ppl_hi))
        printf("perplexity   %.4f  95%% CI [%.3f, %.3f]  (bootstrap over %d %s, %d resamples, seed %lu)\n",
               r->ppl, r->ppl_lo, r->ppl_hi, r->windows, llama ? "chunks" : "windows", r->n_boot, r->seed);
    else
        printf("perplexity   %.4f  no interval: %d %s (a bootstrap needs at least %d)\n", r->ppl, r->windows, llama ? "chunk" : "window",
               QH_MIN_RESAMPLING_UNITS);
    if (isfinite(r->ppl_pm))
        printf("             %.4f +/- %.5f  (llama.cpp's formula: PPL * sqrt(var(NLL)/(N-1)), tokens taken as independent)\n",
               r->ppl, r->ppl_pm);
    if (llama)
        printf("note         fp32 activations throughout; llama-perplexity quantizes activations to 8 bits in its quantized dot\n"
               "             products (and keeps an F16 KV cache), so its number differs from this one by up to ~0.5%%\n");
    printf("mean NLL     %.5f nats/token over %ld scored tokens\n", r->mean_nll, r->tokens_scored);
    if (isfinite(r->bits_per_byte)) printf("bits/byte    %.5f over %ld UTF-8 bytes of the scored tokens\n", r->bits_per_byte, r->bytes_scored);
    printf("throughput   %.0f tokens/s through the model (%ld tokens, %.2f s, %d threads)\n",
           r->tokens_forward / r->seconds, r->tokens_forward, r->seconds, qh_threads());
}


int qh_cmd_ppl(int argc, char **argv)
{
    static const struct option longopts[] = {
        WINDOW_LONGOPTS, {"stride", required_argument, 0, 's'}, {"json", no_argument, 0, 'j'},
        {"batch", required_argument, 0, 'b'}, {"boot", required_argument, 0, 'B'}, SCOPE_LONGOPTS, {0, 0, 0, 0}};
    qh_ppl_opts opts = {0};
    qh_cli_scope qopts;
    qh_cli_scope_init(&qopts);
    opts.seed = 1;
    int json = 0, c;
    long v;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
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
    int rc = 1;
    char *model_dir = qh_resolve_model_dir(argv[optind]);
    if (qh_cli_load(argv[optind], &qopts, &lm, &err) != 0) {
        free(model_dir);
        return qh_cli_die(&err);
    }
    if (qh_text_load(argv[optind + 1], &text, &err) != 0) goto fail_model;
    if (qh_encode(lm.tok, text.path, text.text, text.len, &ids, &n, &err) != 0) goto fail_text;
    opts.bos_id = qh_tokenizer_bos_added(lm.tok);
    opts.use_bos = opts.bos_id >= 0;
    qh_cli_progress ps = {qh_now(), "windows"};
    if (isatty(2)) {
        opts.progress = qh_cli_progress_bar;
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
    qh_cli_free_loaded(&lm);
    free(model_dir);
    return rc == 0 ? 0 : qh_cli_die(&err);
}
