/* qharness kld: KL divergence of one model from another, with llama-perplexity's statistics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "datasets/datasets.h"
#include "harness/cli/cli.h"

static void print_kld(const char *base_arg, const char *model_arg, const qh_cli_model *lb, const qh_cli_model *lq,
                      const qh_text *text, const qh_fidelity_result *f, int json, int ctx_given)
{
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "base", base_arg);
        cJSON_AddStringToObject(o, "base_sha256", lb->model->sha256);
        cJSON_AddStringToObject(o, "model", model_arg);
        cJSON_AddStringToObject(o, "model_sha256", lq->model->sha256);
        cJSON_AddStringToObject(o, "dataset", text->name);
        cJSON_AddStringToObject(o, "dataset_sha256", text->sha256);
        cJSON_AddStringToObject(o, "protocol", f->protocol);
        cJSON_AddNumberToObject(o, "ctx", f->ctx);
        cJSON_AddNumberToObject(o, "windows", f->windows);
        cJSON_AddNumberToObject(o, "positions", (double)f->positions);
        qh_cli_json_number(o, "kl_mean", f->kl_mean);
        qh_cli_json_number(o, "kl_se", f->kl_se);
        qh_cli_json_interval(o, "kl_ci95", f->kl_lo, f->kl_hi);
        const struct {
            const char *key;
            double v;
        } stats[] = {{"kl_median", f->kl_median}, {"kl_p90", f->kl_p90}, {"kl_p95", f->kl_p95}, {"kl_p99", f->kl_p99},
                     {"kl_p99_9", f->kl_p999}, {"kl_max", f->kl_max}, {"kl_min", f->kl_min}, {"same_top_p", f->top1},
                     {"same_top_p_se", f->top1_se}, {"dp_mean", f->dp_mean}, {"dp_se", f->dp_se}, {"dp_rms", f->dp_rms},
                     {"dp_rms_se", f->dp_rms_se}, {"ln_ppl_ratio", f->ln_ppl_ratio}, {"ln_ppl_ratio_se", f->ln_ppl_ratio_se},
                     {"ppl_base", f->ppl_base}, {"ppl_model", f->ppl_quant}, {"nll_correlation", f->nll_correlation},
                     {"seconds", f->seconds}};
        for (size_t i = 0; i < sizeof stats / sizeof *stats; i++) qh_cli_json_number(o, stats[i].key, stats[i].v);
        qh_cli_json_print(o);
        return;
    }
    printf("base         %s (%s weights, sha256 %.12s)\n", base_arg, lb->model->dtype, lb->model->sha256);
    printf("model        %s (%s weights, sha256 %.12s)\n", model_arg, lq->model->dtype, lq->model->sha256);
    if (lq->quantized) qh_quant_print_report(stdout, lq->model, &lq->quant, 0);
    printf("text         %s (%s, sha256 %.12s)\n", text->name, text->path, text->sha256);
    char line[512];
    qh_fidelity_describe(f, line, sizeof line);
    printf("protocol     %s\n", line);
    if (!ctx_given)
        printf("window       ctx %d is the base model's context (%s); --ctx sets it\n", f->ctx,
               lb->model->ctx_source[0] ? lb->model->ctx_source : "its config");
    printf("             statistics as llama-perplexity --kl-divergence prints them (+/-: standard errors, tokens taken as\n"
           "             independent); fp32 activations and base logits, where llama.cpp stores the base's log-probabilities\n"
           "             in 16 bits and quantizes activations to 8 bits in quantized dot products\n\n");
    printf("PPL(base)                  %10.4f\n", f->ppl_base);
    printf("PPL(model)                 %10.4f\n", f->ppl_quant);
    printf("Cor(ln PPL(model), ln PPL(base)) %6.2f%%\n", 100 * f->nll_correlation);
    printf("Mean ln(PPL(model)/PPL(base))  %9.6f +/- %8.6f\n", f->ln_ppl_ratio, f->ln_ppl_ratio_se);
    printf("Mean PPL(model)/PPL(base)      %9.6f +/- %8.6f\n\n", exp(f->ln_ppl_ratio), exp(f->ln_ppl_ratio) * f->ln_ppl_ratio_se);
    if (isfinite(f->kl_lo) && isfinite(f->kl_hi))
        printf("Mean    KLD  %10.6f +/- %8.6f   (95%% bootstrap over %s: [%.6f, %.6f])\n", f->kl_mean, f->kl_se,
               qh_ppl_protocol_units(f->protocol, 2), f->kl_lo, f->kl_hi);
    else
        printf("Mean    KLD  %10.6f   (no interval: %d %s; a bootstrap needs at least %d)\n", f->kl_mean, f->windows,
               qh_ppl_protocol_units(f->protocol, f->windows), QH_MIN_RESAMPLING_UNITS);
    printf("Maximum KLD  %10.6f\n99.9%%   KLD  %10.6f\n99.0%%   KLD  %10.6f\n95.0%%   KLD  %10.6f\n90.0%%   KLD  %10.6f\n",
           f->kl_max, f->kl_p999, f->kl_p99, f->kl_p95, f->kl_p90);
    printf("Median  KLD  %10.6f\nMinimum KLD  %10.6f\n\n", f->kl_median, f->kl_min);
    printf("Mean    dp   %8.3f +/- %.3f %%   (p_model(next token) - p_base(next token))\n", 100 * f->dp_mean, 100 * f->dp_se);
    printf("RMS     dp   %8.3f +/- %.3f %%\n", 100 * f->dp_rms, 100 * f->dp_rms_se);
    printf("Same top p   %8.3f +/- %.3f %%\n", 100 * f->top1, 100 * f->top1_se);
}

const qh_cli_opt qh_cmd_kld_options[] = {
    QH_WINDOW_OPTS,
    {"json", no_argument, 'j', NULL, "one JSON object instead of the text report", NULL},
    QH_SCOPE_OPTS,
    QH_CLI_OPT_END};

int qh_cmd_kld(int argc, char **argv)
{
    qh_ppl_opts opts = {0};
    qh_cli_scope qopts;
    qh_cli_scope_init(&qopts);
    opts.seed = 1;
    int json = 0, c;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "", qh_cmd_kld_options)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        default:
            if (qh_cli_window_or_scope_option(c, optarg, &opts, &qopts, "kld", argv)) return QH_EXIT_USAGE;
        }
    }
    if (argc - optind != 3) return qh_cli_usage("kld", "expected BASE, MODEL and TEXT%s", "");
    if (qh_cli_mixed_usage("kld", &qopts)) return QH_EXIT_USAGE;
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    qh_cli_model lb, lq;
    qh_text text;
    int *ids = NULL, rc = 1;
    size_t n;
    qh_fidelity_result res = {0};
    if (qh_cli_load(argv[optind], NULL, &lb, &err) != 0) return qh_cli_die(&err);
    if (qh_cli_load(argv[optind + 1], &qopts, &lq, &err) != 0) {
        qh_cli_free_loaded(&lb);
        return qh_cli_die(&err);
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
    print_kld(argv[optind], argv[optind + 1], &lb, &lq, &text, &res, json, opts.ctx != 0);
    rc = 0;
fail_text:
    free(ids);
    qh_fidelity_result_free(&res);
    qh_text_free(&text);
fail_models:
    qh_cli_free_loaded(&lb);
    qh_cli_free_loaded(&lq);
    return rc == 0 ? 0 : qh_cli_die(&err);
}

const qh_command qh_command_kld = {
    .name = "kld",
    .run = qh_cmd_kld,
    .usage = "kld BASE MODEL|PACKED.safetensors|FILE.gguf TEXT [OPTIONS]",
    .summary = "KL divergence of MODEL from BASE per position, with llama-perplexity's statistics (--method quantizes MODEL)",
    .options = qh_cmd_kld_options,
};
