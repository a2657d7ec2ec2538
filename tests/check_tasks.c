/* check_tasks.c - the task and metric tables, and the work the sweep no longer repeats:
 * every task kind loads, evaluates and stores only metrics of the metric table; a multiple-
 * choice set defined by one row outside the table loads and scores like the built-in one;
 * shared prefixes, the cached fidelity baseline and the continuation forward give the same
 * bits as the computations they replace. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "datasets/mc.h"
#include "harness/run/claim.h"
#include "harness/eval/eval_mc.h"
#include "harness/run/experiment.h"
#include "harness/eval/eval_ppl.h"
#include "harness/model/forward.h"
#include "harness/eval/metrics.h"
#include "harness/eval/tasks.h"
#include "tests/testutil.h"

typedef struct {
    int metrics, items, unknown;
    char last_unknown[64];
    const char *declared;     /* the kind's metrics list */
} counting_sink;

static int count_metric(qh_task_sink *k, const char *metric, double v, double lo, double hi, long n, double chance,
                        const char *protocol, const char *sha)
{
    counting_sink *c = k->ud;
    c->metrics++;
    const qh_metric *row = qh_metric_find(metric);
    if (!row) {
        c->unknown++;
        snprintf(c->last_unknown, sizeof c->last_unknown, "%s", metric);
        return 0;
    }
    char padded[80], list[256];
    snprintf(padded, sizeof padded, ",%s,", metric);
    snprintf(list, sizeof list, ",%s,", c->declared);
    ck_assert_msg(strstr(list, padded), "%s is not among the metrics its task kind declares (%s)", metric, c->declared);
    ck_assert_msg(protocol && *protocol && sha && strlen(sha) == 64, "%s: protocol and dataset sha256", metric);
    ck_assert_msg(isfinite(v), "%s = %g", metric, v);
    if (row->interval == QH_INTERVAL_NONE) ck_assert_msg(isnan(lo) && isnan(hi), "%s has no interval", metric);
    else if (row->interval == QH_INTERVAL_BOOTSTRAP && isnan(lo) && isnan(hi)) {
        /* from fewer than QH_MIN_RESAMPLING_UNITS windows a bootstrap interval is not computed */
    } else ck_assert_msg(lo <= v && v <= hi, "%s %g outside [%g, %g]", metric, v, lo, hi);
    ck_assert_msg(row->has_chance == !isnan(chance), "%s: chance %g", metric, chance);
    ck_assert(n > 0);
    return 0;
}

static int count_item(qh_task_sink *k, long idx, const char *key, const char *correct, const char *correct_norm,
                      const char *correct_letter, double value, long n, const char *detail)
{
    ((counting_sink *)k->ud)->items++;
    return 0;
}

START_TEST(every_task_kind_stores_only_table_metrics)
{
    qh_model *m = tu_default_model(0);
    qh_tokenizer *tok = tu_default_tokenizer();
    int *token_bytes = qh_token_byte_lengths(tok, m->cfg.n_vocab);
    qh_task_env env = {m, tok, token_bytes, 1, 64, -1, (size_t)1 << 30};
    const char *names[] = {"ppl.wikitext2-test", "fidelity.wikitext2-test@llama-cpp", "copa", "mmlu"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        qh_task_spec t = {0};
        char why[256];
        int kind = qh_task_parse(&t, names[i], why, sizeof why);
        ck_assert_msg(kind >= 0, "%s: %s", names[i], why);
        t.budget = kind == QH_TASK_MC ? 12 : 700;
        const qh_task_traits *row = &qh_task_table[kind];
        void *data = NULL, *result = NULL;
        qh_err err;
        ck_assert_msg(row->load(&t, &env, &data, &err) == 0, "%s: %s", names[i], err.msg);
        ck_assert_msg(row->evaluate(&t, &env, data, m, &result, &err) == 0, "%s: %s", names[i], err.msg);
        counting_sink c = {.declared = row->metrics};
        qh_task_sink sink = {count_metric, count_item, &c};
        ck_assert_int_eq(row->store(&t, &env, data, result, &sink), 0);
        ck_assert_msg(c.unknown == 0, "%s stores '%s', which has no row in the metric table", names[i], c.last_unknown);
        ck_assert_msg(c.metrics >= 1 && c.items >= 1, "%s: %d metrics, %d items", names[i], c.metrics, c.items);
        ck_assert(row->cost(&t, &env, data, 1000, 2000) > 0);
        row->free_result(result);
        row->free_data(data);
    }
    char why[256];
    qh_task_spec t = {0};
    ck_assert_int_eq(qh_task_parse(&t, "ppl.nosuch", why, sizeof why), -1);
    ck_assert_int_eq(qh_task_parse(&t, "trivia", why, sizeof why), -2);
    free(token_bytes);
    qh_tokenizer_free(tok);
    qh_model_free(m);
}
END_TEST

START_TEST(metric_table_is_consistent)
{
    for (int i = 0; i < qh_n_metrics; i++) {
        const qh_metric *r = &qh_metrics[i];
        ck_assert_ptr_eq(qh_metric_find(r->name), r); /* names unique */
        ck_assert(r->fmt && r->unit && r->axis);
        if (r->shown & QH_METRIC_CLAIM) ck_assert_msg(r->item_column != NULL, "%s: a claim needs per-item values", r->name);
        if (r->has_chance) ck_assert_int_eq(r->lower_is_better, 0);
    }
    ck_assert(qh_metric_lower_is_better("ppl") && qh_metric_lower_is_better("kl") && !qh_metric_lower_is_better("acc"));
    char list[512];
    qh_metric_sql_list(QH_METRIC_RESULTS, list, sizeof list);
    ck_assert_str_eq(list, "'ppl','kl','top1','acc'");
}
END_TEST

/* A new multiple-choice set in an existing format is one row: here copa's row under a new name
 * gives copa's numbers through the same loader and evaluator. */
START_TEST(a_new_set_is_one_row)
{
    qh_mc_set row = *qh_mc_set_find("copa");
    row.name = "copa-again";
    qh_mc_opts o = {.budget = 20, .seed = 3};
    qh_mc_task a, b;
    qh_err err;
    ck_assert_msg(qh_mc_load_set(&row, &o, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(qh_mc_load("copa", &o, &b, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(a.name, "copa-again");
    ck_assert(strstr(a.protocol, "copa-again: log p("));
    ck_assert_int_eq(a.n_items, b.n_items);
    ck_assert_str_eq(a.sha256, b.sha256);
    qh_model *m = tu_default_model(0);
    qh_tokenizer *tok = tu_default_tokenizer();
    qh_mc_result ra, rb;
    ck_assert(qh_eval_mc(m, tok, &a, 64, &ra, NULL, NULL, &err) == 0);
    ck_assert(qh_eval_mc(m, tok, &b, 64, &rb, NULL, NULL, &err) == 0);
    ck_assert_int_eq(ra.correct, rb.correct);
    ck_assert_int_eq(ra.correct_norm, rb.correct_norm);
    qh_mc_result_free(&ra);
    qh_mc_result_free(&rb);
    qh_mc_free(&a);
    qh_mc_free(&b);
    ck_assert_ptr_null(qh_mc_set_find("copa-again"));
    qh_tokenizer_free(tok);
    qh_model_free(m);
}
END_TEST

/* The choices of an item scored with their shared prefix run once equal, bit for bit, the
 * same requests scored whole. */
START_TEST(shared_prefixes_give_the_same_bits)
{
    qh_model *m = tu_default_model(0);
    qh_tokenizer *tok = tu_default_tokenizer();
    const char *sets[] = {"hellaswag", "arc-easy", "mmlu", "blimp"};
    for (size_t s = 0; s < sizeof sets / sizeof *sets; s++) {
        qh_mc_opts o = {.budget = 12, .seed = 5};
        qh_mc_task task;
        qh_err err;
        ck_assert_msg(qh_mc_load(sets[s], &o, &task, &err) == 0, "%s", err.msg);
        qh_mc_requests rq;
        ck_assert(qh_mc_requests_build(tok, &task, &rq, &err) == 0);
        int n = rq.n_req, grouped = 0;
        qh_lm_request *shared = qh_calloc((size_t)n, sizeof *shared), *whole = qh_calloc((size_t)n, sizeof *whole);
        for (int i = 0; i < n; i++) {
            grouped += rq.req[i].group > 0;
            shared[i] = whole[i] = rq.req[i];
            shared[i].tokens = qh_malloc((size_t)rq.req[i].n * sizeof(int));
            whole[i].tokens = qh_malloc((size_t)rq.req[i].n * sizeof(int));
            memcpy(shared[i].tokens, rq.req[i].tokens, (size_t)rq.req[i].n * sizeof(int));
            memcpy(whole[i].tokens, rq.req[i].tokens, (size_t)rq.req[i].n * sizeof(int));
            whole[i].group = 0;
        }
        ck_assert(grouped > 0);
        qh_score_requests(m, shared, n, 96, NULL, NULL); /* 96: some requests are cut from the left */
        qh_score_requests(m, whole, n, 96, NULL, NULL);
        for (int i = 0; i < n; i++) {
            ck_assert_msg(memcmp(&shared[i].logprob, &whole[i].logprob, sizeof(double)) == 0, "%s request %d: %.17g vs %.17g",
                          sets[s], i, shared[i].logprob, whole[i].logprob);
            ck_assert_int_eq(shared[i].all_greedy, whole[i].all_greedy);
            ck_assert_int_eq(shared[i].truncated, whole[i].truncated);
            for (int k = 0; k < shared[i].n_alt; k++)
                ck_assert(memcmp(&shared[i].alt_logprob[k], &whole[i].alt_logprob[k], sizeof(double)) == 0);
            free(shared[i].tokens);
            free(whole[i].tokens);
        }
        free(shared);
        free(whole);
        qh_mc_requests_free(&rq);
        qh_mc_free(&task);
    }
    qh_tokenizer_free(tok);
    qh_model_free(m);
}
END_TEST

START_TEST(continuation_forward_equals_the_whole_sequence)
{
    qh_model *m = tu_default_model(0);
    int C = m->cfg.n_embd, P = 37, S[2] = {11, 5}, T = P + S[0];
    int whole[2][48], prefix[37], cont[2 * 11];
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < T; t++) whole[b][t] = t < P ? (t * 131 + 7) % 5000 : (t * 977 + 13 * b + 3) % 50000;
    memcpy(prefix, whole[0], sizeof prefix);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 11; t++) cont[b * 11 + t] = t < S[b] ? whole[b][P + t] : 0;
    qh_workspace ws;
    qh_workspace_init(&ws, &m->cfg, 2, 64);
    float *ref = qh_malloc((size_t)2 * T * C * sizeof(float));
    qh_forward(m, &whole[0][0], 2, T, &ws); /* slot 1 past P + S[1] is junk nobody reads */
    memcpy(ref, ws.ln, (size_t)2 * T * C * sizeof(float));
    float *keep = qh_malloc((size_t)m->cfg.n_layer * P * 3 * C * sizeof(float));
    qh_forward_keep_qkv(m, prefix, 1, P, &ws, keep);
    const float *pq[2] = {keep, keep};
    int Ps[2] = {P, P};
    qh_forward_continue(m, cont, 2, 11, pq, (size_t)P * 3 * C, Ps, S, &ws);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < S[b]; t++)
            ck_assert_msg(memcmp(ws.ln + ((size_t)b * 11 + t) * C, ref + ((size_t)b * T + P + t) * C, (size_t)C * sizeof(float)) == 0,
                          "continuation %d row %d differs from the whole sequence", b, t);
    free(keep);
    free(ref);
    qh_workspace_free(&ws);
    qh_model_free(m);
}
END_TEST

START_TEST(cached_fidelity_baseline_gives_the_same_result)
{
    qh_model *base = tu_default_model(0), *quant = qh_model_clone(base);
    for (int t = 0; t < quant->n_tensors; t++) /* a perturbed copy: every third weight of the blocks nudged */
        if (strncmp(quant->tensors[t].name, "h.", 2) == 0)
            for (size_t i = 0; i < (size_t)quant->tensors[t].rows * quant->tensors[t].cols; i += 3) quant->tensors[t].data[i] *= 1.05f;
    qh_tokenizer *tok = tu_default_tokenizer();
    qh_text text;
    qh_err err;
    ck_assert(qh_text_load("wikitext2-test", &text, &err) == 0);
    int *ids;
    size_t n;
    ck_assert(qh_encode(tok, text.path, text.text, 20000, &ids, &n, &err) == 0);
    const char *protocols[] = {"sliding", "llama-cpp"};
    for (int p = 0; p < 2; p++) {
        qh_ppl_opts o = {.protocol = protocols[p], .ctx = 128, .max_tokens = 1500, .seed = 2, .chunks = p ? 6 : 0};
        qh_fidelity_result a, b;
        qh_fidelity_base *fb;
        ck_assert_msg(qh_eval_fidelity(base, quant, ids, (long)n, &o, &a, &err) == 0, "%s", err.msg);
        ck_assert_msg(qh_fidelity_base_build(base, ids, (long)n, &o, &fb, &err) == 0, "%s", err.msg);
        ck_assert_msg(qh_eval_fidelity_cached(fb, quant, &b, &err) == 0, "%s", err.msg);
        ck_assert(a.kl_mean > 0);
        ck_assert_int_eq(a.positions, b.positions);
        ck_assert_int_eq(a.windows, b.windows);
        double fa[] = {a.kl_mean, a.kl_lo, a.kl_hi, a.kl_median, a.kl_p99, a.kl_max, a.top1, a.dp_rms, a.ln_ppl_ratio, a.ppl_base};
        double fbv[] = {b.kl_mean, b.kl_lo, b.kl_hi, b.kl_median, b.kl_p99, b.kl_max, b.top1, b.dp_rms, b.ln_ppl_ratio, b.ppl_base};
        ck_assert_msg(memcmp(fa, fbv, sizeof fa) == 0, "%s: cached %.17g vs %.17g", protocols[p], b.kl_mean, a.kl_mean);
        ck_assert(memcmp(a.window_kl, b.window_kl, (size_t)a.windows * sizeof(double)) == 0);
        qh_fidelity_result_free(&a);
        qh_fidelity_result_free(&b);
        qh_fidelity_base_free(fb);
    }
    free(ids);
    qh_text_free(&text);
    qh_tokenizer_free(tok);
    qh_model_free(quant);
    qh_model_free(base);
}
END_TEST

/* lm-eval's task names are taken wherever a task is named and stored as qharness's, so one
 * task has one name in the database. */
START_TEST(lm_eval_task_names_are_taken)
{
    ck_assert_ptr_eq(qh_mc_set_find("arc_easy"), qh_mc_set_find("arc-easy"));
    ck_assert_ptr_eq(qh_mc_set_find("arc_challenge"), qh_mc_set_find("arc-challenge"));
    ck_assert_ptr_eq(qh_mc_set_find("lambada_openai"), qh_mc_set_find("lambada"));
    ck_assert_ptr_null(qh_mc_set_find("arc easy"));
    char *dir = tu_tmpdir(), *p = qh_path_join(dir, "x.ini");
    qh_err err;
    static const char exp[] = "[experiment]\nname = x\nmodels = default\n[tasks]\narc_easy = 20\nlambada_openai = 10\n[method b]\nmethod = none\n";
    ck_assert_int_eq(qh_write_file(p, exp, sizeof exp - 1, &err), 0);
    qh_experiment x;
    ck_assert_msg(qh_experiment_load(p, &x, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(x.tasks[0].name, "arc-easy");
    ck_assert_str_eq(x.tasks[0].dataset, "arc-easy");
    ck_assert_str_eq(x.tasks[1].name, "lambada");
    qh_experiment_free(&x);
    static const char twice[] = "[experiment]\nname = x\nmodels = default\n[tasks]\narc-easy = 20\narc_easy = 10\n[method b]\nmethod = none\n";
    ck_assert_int_eq(qh_write_file(p, twice, sizeof twice - 1, &err), 0);
    ck_assert_int_eq(qh_experiment_load(p, &x, &err), -1);
    ck_assert_msg(strstr(err.msg, "x.ini:6: [tasks] 'arc_easy' listed twice"), "%s", err.msg);
    static const char claim[] = "[claim]\nname = c\nmodel = default\nmethod = binary\ntask = arc_easy\nmetric = acc\nretained = 0.9\n";
    ck_assert_int_eq(qh_write_file(p, claim, sizeof claim - 1, &err), 0);
    qh_claim c;
    ck_assert_msg(qh_claim_load(p, &c, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(c.task, "arc-easy");
    char *out;
    ck_assert_int_eq(tu_run_cli("mc default --task arc_easy --n 20", &out), 0);
    ck_assert_msg(strstr(out, "task         arc-easy: 20 of 2376 items"), "%s", out);
    free(out);
    free(p);
    free(dir);
}
END_TEST

/* lm-eval's hellaswag preprocessing on llama.cpp's joined lines, worked by hand: ctx_b (the
 * words after an ActivityNet context's last sentence) capitalised, WikiHow's left alone, every
 * "[...]" dropped, " [title]" made ". ", one pass of "  " -> " " (three spaces leave two). */
START_TEST(hellaswag_lmeval_preprocessing_by_hand)
{
    static const char file[] =
        "Roof shingle removal: A man is sitting on a roof. he\n3\nis using wrap.\nis [ripping] tiles.\nholds [a [your name] cube.\n  spaced   out  \n"
        "Family Life: How to entertain a toddler. Visit a site like [www.kiddio.org] to find games. you\n0\nA [title] B\nx\ny\nz\n"
        "Camel ride: . \" a camel ride - qatar \"\n1\na\nb\nc\nd\n"
        "Triple jump: He walks over to a student from Florida. the ATHLETE\n2\na\nb\nc\nd\n";
    const qh_mc_set *set = qh_mc_set_find("hellaswag");
    qh_mc_opts mo = {.budget = 0, .seed = 1, .first = 1};
    qh_mc_task t;
    qh_err err;
    ck_assert_msg(qh_mc_parse_text(set, file, sizeof file - 1, &mo, &t, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(t.n_items, 4);
    ck_assert_str_eq(t.items[0].context, "Roof shingle removal: A man is sitting on a roof. He");
    ck_assert_str_eq(t.items[0].choices[0], " is using wrap.");
    ck_assert_str_eq(t.items[0].choices[1], " is tiles.");
    ck_assert_str_eq(t.items[0].choices[2], " holds cube.");
    ck_assert_str_eq(t.items[0].choices[3], " spaced  out");
    /* WikiHow: no ctx_b, so "you" stays lower-case; the bracketed address goes */
    ck_assert_str_eq(t.items[1].context, "Family Life: How to entertain a toddler. Visit a site like to find games. you");
    ck_assert_str_eq(t.items[1].choices[0], " A. B");
    ck_assert_str_eq(t.items[2].context, "Camel ride: . \" a camel ride - qatar \"");
    /* capitalize() lower-cases the rest of ctx_b, and only of ctx_b */
    ck_assert_str_eq(t.items[3].context, "Triple jump: He walks over to a student from Florida. The athlete");
    ck_assert_str_eq(qh_hellaswag_ctx_b("Triple jump: He walks. the athlete"), "the athlete");
    ck_assert_ptr_null(qh_hellaswag_ctx_b("Health: How to cope. Put off plans. you"));
    ck_assert_ptr_null(qh_hellaswag_ctx_b("no label here. he"));
    qh_mc_free(&t);
    /* the file as shipped stays available under its own name */
    ck_assert_msg(qh_mc_parse_text(qh_mc_set_find("hellaswag-llamacpp-file"), file, sizeof file - 1, &mo, &t, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(t.items[0].context, "Roof shingle removal: A man is sitting on a roof. he");
    ck_assert_str_eq(t.items[0].choices[1], " is [ripping] tiles.");
    qh_mc_free(&t);
}
END_TEST

Suite *suite_tasks(void)
{
    Suite *s = suite_create("tasks");
    TCase *tc = tcase_create("tables");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, metric_table_is_consistent);
    tcase_add_test(tc, every_task_kind_stores_only_table_metrics);
    tcase_add_test(tc, a_new_set_is_one_row);
    tcase_add_test(tc, shared_prefixes_give_the_same_bits);
    tcase_add_test(tc, continuation_forward_equals_the_whole_sequence);
    tcase_add_test(tc, cached_fidelity_baseline_gives_the_same_result);
    tcase_add_test(tc, lm_eval_task_names_are_taken);
    tcase_add_test(tc, hellaswag_lmeval_preprocessing_by_hand);
    suite_add_tcase(s, tc);
    return s;
}
