/* qharness mc: multiple-choice accuracy. */
#include <stdio.h>
#include <unistd.h>

#include <cJSON.h>

#include "datasets/mc.h"
#include "harness/eval/eval_mc.h"
#include "harness/cli/cli.h"
#include "harness/base/progress.h"

static void print_mc(const qh_cli_model *lm, const qh_mc_task *t, const qh_mc_result *r, int ctx, int json)
{
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model_sha256", lm->model->sha256);
        cJSON_AddStringToObject(o, "task", t->name);
        cJSON_AddStringToObject(o, "task_sha256", t->sha256);
        cJSON_AddNumberToObject(o, "items", r->n_items);
        cJSON_AddNumberToObject(o, "available", (double)t->n_available);
        cJSON_AddNumberToObject(o, "ctx", ctx);
        qh_cli_json_number(o, "chance", r->chance);
        qh_cli_json_number(o, "acc", r->acc);
        qh_cli_json_interval(o, "acc_ci95", r->acc_lo, r->acc_hi);
        if (r->has_norm) {
            qh_cli_json_number(o, "acc_norm", r->acc_norm);
            qh_cli_json_interval(o, "acc_norm_ci95", r->acc_norm_lo, r->acc_norm_hi);
        }
        if (r->has_letter) {
            qh_cli_json_number(o, "acc_letter", r->acc_letter);
            qh_cli_json_interval(o, "acc_letter_ci95", r->acc_letter_lo, r->acc_letter_hi);
        }
        if (r->target_tokens) {
            qh_cli_json_number(o, "target_ppl", r->target_ppl);
            cJSON_AddNumberToObject(o, "target_tokens", (double)r->target_tokens);
        }
        cJSON_AddNumberToObject(o, "truncated_requests", (double)r->truncated_requests);
        qh_cli_json_number(o, "seconds", r->seconds);
        if (lm->quantized) {
            cJSON_AddStringToObject(o, "method", lm->quant.spec);
            cJSON_AddNumberToObject(o, "bpp_quantized", lm->quant.bpp_quantized);
            cJSON_AddNumberToObject(o, "bpp_model", lm->quant.bpp_model);
        }
        cJSON_AddStringToObject(o, "protocol", t->protocol);
        qh_cli_json_print(o);
        return;
    }
    printf("task         %s: %d of %ld items (sha256 %.12s), ctx %d\n", t->name, r->n_items, t->n_available, t->sha256, ctx);
    printf("protocol     %s\n", t->protocol);
    if (lm->quantized) qh_quant_print_report(stdout, lm->model, &lm->quant, 0);
    printf("acc          %.4f  95%% CI [%.4f, %.4f]  (Wilson, n=%d; chance %.4f)\n", r->acc, r->acc_lo, r->acc_hi, r->n_items, r->chance);
    if (r->has_norm)
        printf("acc_norm     %.4f  95%% CI [%.4f, %.4f]  (log-likelihood per character of the choice, lm-eval's)\n", r->acc_norm, r->acc_norm_lo, r->acc_norm_hi);
    if (r->has_letter)
        printf("acc_letter   %.4f  95%% CI [%.4f, %.4f]  (next token among ' A'..' D')\n", r->acc_letter, r->acc_letter_lo, r->acc_letter_hi);
    if (r->target_tokens) printf("target ppl   %.3f per passage (lm-eval's perplexity: exp of minus the mean passage log-likelihood), %d passages, %ld target tokens\n",
                                   r->target_ppl, r->n_items, r->target_tokens);
    printf("truncated    %ld requests cut from the left to fit ctx %d\n", r->truncated_requests, ctx);
    printf("time         %.2f s\n", r->seconds);
}

const qh_cli_opt qh_cmd_mc_options[] = {
    {"task", required_argument, 't', "NAME", "the multiple-choice task (qharness tasks lists them)", NULL},
    {"n", required_argument, 'n', "N", "a seeded subset of N items, proportional per subject", "every item"},
    {"budget", required_argument, 'n', "N", "same as --n (the word experiment files use)", NULL},
    {"first", no_argument, 'f', NULL, "take the first N items instead of a seeded subset", NULL},
    {"seed", required_argument, 's', "S", "seed of the item subset", "1"},
    {"shots", required_argument, 'k', "K", "MMLU: K worked examples from the dev split before each question (0-5)", "0"},
    {"subjects", required_argument, 'S', "a,b", "MMLU: only these subjects", "all 57"},
    {"split", required_argument, 'p', "test|dev", "MMLU: the split scored", "test"},
    {"ctx", required_argument, 'c', "N", "window length; longer requests lose tokens from the left (counted)", "the model's context"},
    {"json", no_argument, 'j', NULL, "one JSON object instead of the text report", NULL},
    QH_SCOPE_OPTS,
    QH_CLI_OPT_END};

int qh_cmd_mc(int argc, char **argv)
{
    qh_mc_opts o = {0};
    o.seed = 1;
    qh_cli_scope qopts;
    qh_cli_scope_init(&qopts);
    const char *task = NULL;
    int ctx = 0, json = 0, c;
    long v;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "", qh_cmd_mc_options)) != -1) {
        switch (c) {
        case 't': task = optarg; break;
        case 'n': if (qh_cli_parse_long(optarg, 1, 1L << 30, &v)) return qh_cli_usage("mc", "--n '%s' is not an integer from 1 to 1073741824", optarg); o.budget = v; break;
        case 'k': if (qh_cli_parse_long(optarg, 0, 5, &v)) return qh_cli_usage("mc", "--shots '%s' must be 0 to 5", optarg); o.shots = (int)v; break;
        case 'S': o.subjects = optarg; break;
        case 'p': o.split = optarg; break;
        case 's': if (qh_cli_parse_long(optarg, 0, 1L << 40, &v)) return qh_cli_usage("mc", "--seed '%s' is not an integer from 0 to 1099511627776", optarg); o.seed = (unsigned long)v; break;
        case 'f': o.first = 1; break;
        case 'c': if (qh_cli_parse_long(optarg, 2, 1 << 20, &v)) return qh_cli_usage("mc", "--ctx '%s' is not an integer from 2 to 1048576", optarg); ctx = (int)v; break;
        case 'j': json = 1; break;
        default: {
            int e = qh_cli_scope_option(c, optarg, &qopts, "mc", "", argv);
            if (e) return e;
        }
        }
    }
    if (argc - optind != 1 || !task) return qh_cli_usage("mc", "expected MODEL and --task NAME%s", "");
    if (qh_cli_mixed_usage("mc", &qopts)) return QH_EXIT_USAGE;
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    qh_mc_task t;
    if (qh_mc_load(task, &o, &t, &err) != 0) return qh_cli_die(&err);
    qh_cli_model lm;
    if (qh_cli_load(argv[optind], &qopts, &lm, &err) != 0) {
        qh_mc_free(&t);
        return qh_cli_die(&err);
    }
    if (ctx == 0) ctx = lm.model->cfg.n_ctx;
    int rc = 0;
    if (ctx > qh_config_max_ctx(&lm.model->cfg))
        rc = qh_fail(&err, "--ctx %d: window longer than the model's context (%d)", ctx, qh_config_max_ctx(&lm.model->cfg));
    qh_progress_task pt = {t.name, "requests", 0};
    qh_mc_result r;
    if (rc == 0) rc = qh_eval_mc(lm.model, lm.tok, &t, ctx, &r, qh_progress_callback, &pt, &err);
    qh_progress_end();
    if (rc == 0) {
        print_mc(&lm, &t, &r, ctx, json);
        qh_mc_result_free(&r);
    }
    qh_cli_free_loaded(&lm);
    qh_mc_free(&t);
    return rc == 0 ? 0 : qh_cli_die(&err);
}

const qh_command qh_command_mc = {
    .name = "mc",
    .run = qh_cmd_mc,
    .usage = "mc MODEL --task NAME [OPTIONS]",
    .summary = "multiple-choice accuracy with a Wilson 95% interval and the chance level (mmlu, blimp, lambada, arc-easy, ...)",
    .options = qh_cmd_mc_options,
};
