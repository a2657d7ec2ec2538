/* check_smollm2.c - SmolLM2-135M-Instruct (models/smollm2, fetched by `make deps`) against
 * independent implementations: reference data made once by tools/peers/smollm2_reference.py
 * with llama.cpp (llama-cpp-python), Hugging Face's tokenizers and a float64 NumPy forward
 * pass of the same dequantized weights, committed as tests/data/smollm2/reference.json.  When
 * the model file is not there (set-up not run), each test says it is skipped and why. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "datasets/mc.h"
#include "harness/eval/eval_mc.h"
#include "harness/model/forward.h"
#include "harness/quantize/quantize.h"
#include "reports/audit.h"
#include "tests/testutil.h"

static char *smollm2_or_skip(const char *test) { return tu_fetched_model_or_skip("smollm2", test); }
static cJSON *reference(void) { return tu_read_json("tests/data/smollm2/reference.json"); }

/* Token ids equal to llama.cpp's and to Hugging Face's on all of WikiText-2 test and the
 * TinyStories text (the smollm pre-tokenizer: digits split off, then GPT-2's regex). */
START_TEST(tokens_equal_llama_cpp_and_hugging_face)
{
    char *model = smollm2_or_skip("tokens_equal_llama_cpp_and_hugging_face");
    if (!model) return;
    cJSON *ref = reference(), *texts = cJSON_GetObjectItem(ref, "tokenizer");
    qh_tokenizer *tok;
    qh_err err;
    ck_assert_msg(qh_tokenizer_load_dir(model, &tok, &err) == 0, "%s", err.msg);
    static const char *const peers[] = {"llama.cpp", "tokenizers"};
    int checked = tu_check_reference_ids(tok, texts, peers, 2, "smollm2");
    ck_assert_int_eq(checked, 2);
    /* a byte the vocabulary has no token for is refused, not dropped as llama.cpp drops it */
    int *ids;
    size_t n;
    ck_assert_int_eq(qh_encode(tok, "t", "ab\x04" "c", 4, &ids, &n, &err), -1);
    ck_assert_msg(strstr(err.msg, "byte 0x04 at offset 2 has no token"), "%s", err.msg);
    qh_tokenizer_free(tok);
    cJSON_Delete(ref);
    free(model);
}
END_TEST

/* Logits of the F32 dequantization of the file against a float64 NumPy forward pass of the
 * same weights (every 97th logit and the 32 largest of six rows). */
START_TEST(logits_equal_an_independent_forward)
{
    char *model = smollm2_or_skip("logits_equal_an_independent_forward");
    if (!model) return;
    cJSON *ref = reference();
    qh_model *m;
    qh_err err;
    ck_assert_msg(qh_model_load(model, &m, 0, &err) == 0, "%s", err.msg);
    int longest;
    double worst = tu_check_reference_logits(m, cJSON_GetObjectItem(ref, "logits"), 1 << 20, &longest);
    fprintf(stderr, "smollm2: logits: max |qharness - NumPy float64| %.3g over the sampled rows\n", worst);
    qh_model_free(m);
    cJSON_Delete(ref);
    free(model);
}
END_TEST

/* `--protocol llama-cpp` perplexity against the same protocol through the float64 NumPy
 * forward pass (equal to 1e-4: the same arithmetic up to rounding) and through llama.cpp's own
 * forward pass.  llama.cpp quantizes activations to 8 bits in its Q4_1 x Q8_1 dot products and
 * keeps an F16 KV cache: on this 30-layer model that moves its perplexity 0.41% above the exact
 * one (0.05-0.1% on the 6-layer default model's files), more than the 0.3% the issue hoped for;
 * the test holds llama.cpp's number to 0.6% and the exact one to 1e-4. */
START_TEST(perplexity_equals_the_references)
{
    if (tu_quick()) {
        fprintf(stderr, "SKIPPED perplexity_equals_the_references under QH_TEST_QUICK (the sanitizer pass): 4,096 tokens through a 135M "
                        "model; the forward pass is checked against the NumPy reference there\n");
        return;
    }
    char *model = smollm2_or_skip("perplexity_equals_the_references");
    if (!model) return;
    cJSON *ref = reference(), *p = cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "perplexity"), "wikitext2-test");
    cJSON *exact = cJSON_GetObjectItem(p, "float64"), *runs = cJSON_GetObjectItem(p, "runs"), *r, *llama = NULL;
    int ctx = cJSON_GetObjectItem(exact, "ctx")->valueint, chunks = cJSON_GetObjectItem(exact, "chunks")->valueint;
    cJSON_ArrayForEach(r, runs)
        if (cJSON_GetObjectItem(r, "chunks")->valueint == chunks) llama = r;
    ck_assert_ptr_nonnull(llama);
    char args[4400], *out;
    snprintf(args, sizeof args, "ppl %s wikitext2-test --protocol llama-cpp --ctx %d --chunks %d --json", model, ctx, chunks);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "%s", out);
    double got = cJSON_GetObjectItem(j, "ppl")->valuedouble, want = cJSON_GetObjectItem(exact, "ppl")->valuedouble,
           lc = cJSON_GetObjectItem(llama, "ppl")->valuedouble;
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens_scored")->valueint, cJSON_GetObjectItem(exact, "tokens_scored")->valueint);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens_scored")->valueint, cJSON_GetObjectItem(llama, "tokens_scored")->valueint);
    fprintf(stderr, "smollm2: wikitext2-test, llama-cpp protocol, ctx %d, %d chunks: ppl %.4f; float64 reference %.4f (%+.4f%%); "
                    "llama.cpp %.4f (%+.3f%%)\n",
            ctx, chunks, got, want, 100 * (got / want - 1), lc, 100 * (got / lc - 1));
    ck_assert_msg(fabs(got / want - 1) < 1e-4, "ppl %.4f, float64 reference %.4f", got, want);
    ck_assert_msg(fabs(got / lc - 1) < 6e-3, "ppl %.4f, llama.cpp %.4f", got, lc);
    cJSON_Delete(j);
    free(out);
    cJSON_Delete(ref);
    free(model);
}
END_TEST

/* The first test that shows the accuracy pipeline can see a real loss: on a task where the
 * unquantized model is far above chance, a 2-bit quantization loses accuracy and the paired
 * interval of the retention excludes 1 (the audit's statistics, on the stored per-item flags). */
START_TEST(two_bits_lose_measurable_accuracy)
{
    if (tu_quick()) {
        fprintf(stderr, "SKIPPED two_bits_lose_measurable_accuracy under QH_TEST_QUICK (the sanitizer pass): two evaluations of a "
                        "135M model\n");
        return;
    }
    char *model = smollm2_or_skip("two_bits_lose_measurable_accuracy");
    if (!model) return;
    qh_model *base, *q;
    qh_tokenizer *tok;
    qh_err err;
    ck_assert_msg(qh_model_load(model, &base, 0, &err) == 0 && qh_tokenizer_load_dir(model, &tok, &err) == 0, "%s", err.msg);
    q = qh_model_clone(base);
    qh_quant_opts o;
    qh_quant_opts_init(&o);
    o.spec = "rtn bits=2 group=64 scheme=asym";
    qh_quant_result res;
    ck_assert_msg(qh_quantize_model(q, &o, &res, &err) == 0, "%s", err.msg);
    qh_mc_opts mo = {.budget = 200, .seed = 1};
    qh_mc_task t;
    ck_assert_msg(qh_mc_load("blimp", &mo, &t, &err) == 0, "%s", err.msg);
    qh_mc_result rb, rq;
    ck_assert_msg(qh_eval_mc(base, tok, &t, 512, &rb, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(qh_eval_mc(q, tok, &t, 512, &rq, NULL, NULL, &err) == 0, "%s", err.msg);
    double *b = qh_malloc((size_t)t.n_items * sizeof(double)), *qq = qh_malloc((size_t)t.n_items * sizeof(double));
    for (int i = 0; i < t.n_items; i++) b[i] = rb.item_correct[i], qq[i] = rq.item_correct[i];
    qh_audit_stats st;
    qh_audit_compute(b, qq, NULL, t.n_items, t.chance, 0.99, 4000, 1, &st);
    fprintf(stderr, "smollm2: blimp, %d pairs: unquantized acc %.4f [%.4f, %.4f] (chance %.2f), %s (%.4f bpp) %.4f; retention %.4f [%.4f, %.4f], "
                    "%ld discordant: %s\n",
            t.n_items, rb.acc, rb.acc_lo, rb.acc_hi, t.chance, res.spec, res.bpp_quantized, rq.acc, st.retention, st.lo, st.hi, st.discordant,
            qh_verdict_name(st.verdict));
    ck_assert_msg(rb.acc_lo > t.chance, "the unquantized model is not above chance: %.4f [%.4f, %.4f]", rb.acc, rb.acc_lo, rb.acc_hi);
    ck_assert_msg(st.hi < 1.0, "no loss the interval can see: [%g, %g]", st.lo, st.hi);
    ck_assert_int_eq(st.verdict, QH_VERDICT_REFUTED);
    free(b);
    free(qq);
    qh_mc_result_free(&rb);
    qh_mc_result_free(&rq);
    qh_mc_free(&t);
    qh_quant_result_free(&res);
    qh_tokenizer_free(tok);
    qh_model_free(q);
    qh_model_free(base);
    free(model);
}
END_TEST

/* ---- parity with lm-evaluation-harness ---------------------------------------------------- */

/* One task of tests/data/smollm2/lmeval (tools/peers/lmeval_reference.py: lm-eval 0.4.5 running
 * its own task definitions on the shipped data, with transformers' F32 forward of the same
 * file): qharness's per-request log-likelihoods within 1e-3 nats (or 1e-4 relative) of
 * lm-eval's, and its per-item acc (acc_norm, the MMLU letter, LAMBADA's greedy match) equal to
 * lm-eval's, item by item, except where lm-eval's own two best scores are closer than the
 * tolerance (a tie either implementation may break either way: counted and printed). */
typedef struct {
    double worst;
    long compared, requests, ties, acc_q, acc_l, norm_q, norm_l;
} parity_tally;

/* Scores the items of t with m and holds each against its reference document. */
static void parity_part(const char *file, const qh_mc_task *t, const qh_model *m, qh_tokenizer *tok, const cJSON *items, int is_mmlu,
                        int is_lambada, int ctx, parity_tally *y, double *lambada_ll)
{
    qh_err err;
    qh_mc_result r;
    ck_assert_msg(qh_eval_mc(m, tok, t, ctx, &r, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.truncated_requests, 0);
    int n_ref = cJSON_GetArraySize(items);
    for (int i = 0; i < t->n_items; i++) {
        /* the reference document of this item: by line (doc_id), or by subject and index */
        const cJSON *doc = NULL;
        for (int k = 0; k < n_ref && !doc; k++) {
            const cJSON *d = cJSON_GetArrayItem(items, k);
            char key[128];
            const cJSON *subj = cJSON_GetObjectItem(d, "subject");
            if (cJSON_IsString(subj)) snprintf(key, sizeof key, "%s/%d", subj->valuestring, cJSON_GetObjectItem(d, "doc_id")->valueint);
            else snprintf(key, sizeof key, "%d", cJSON_GetObjectItem(d, "doc_id")->valueint);
            if (strcmp(key, t->items[i].key) == 0) doc = d;
        }
        ck_assert_msg(doc != NULL, "%s: item %s is not in the reference", file, t->items[i].key);
        cJSON *detail = cJSON_Parse(r.item_detail[i]);
        const cJSON *ours = cJSON_GetObjectItem(detail, is_mmlu ? "letter_ll" : "ll"), *theirs = cJSON_GetObjectItem(doc, "ll");
        const cJSON *conts = cJSON_GetObjectItem(doc, "continuations");
        int nc = cJSON_GetArraySize(theirs);
        const cJSON *their_context = cJSON_GetObjectItem(doc, "context"); /* kept where the text is rebuilt (HellaSwag) */
        if (cJSON_IsString(their_context)) {
            ck_assert_msg(strcmp(t->items[i].context, their_context->valuestring) == 0, "%s item %s: context\n  %s\nlm-eval's\n  %s", file,
                          t->items[i].key, t->items[i].context, their_context->valuestring);
            for (int c = 0; c < nc && c < t->items[i].n_choices; c++)
                ck_assert_msg(strcmp(t->items[i].choices[c], cJSON_GetArrayItem(conts, c)->valuestring) == 0, "%s item %s: choice %d '%s', lm-eval's '%s'",
                              file, t->items[i].key, c, t->items[i].choices[c], cJSON_GetArrayItem(conts, c)->valuestring);
        }
        ck_assert_int_eq(cJSON_GetArraySize(ours), nc);
        double best = -INFINITY, second = -INFINITY, best_n = -INFINITY, second_n = -INFINITY;
        for (int c = 0; c < nc; c++) {
            double a = cJSON_GetArrayItem(ours, c)->valuedouble, b = cJSON_GetArrayItem(theirs, c)->valuedouble;
            double tol = fmax(1e-3, 1e-4 * fabs(b));
            ck_assert_msg(fabs(a - b) <= tol, "%s item %s choice %d: qharness %.6f, lm-eval %.6f", file, t->items[i].key, c, a, b);
            y->worst = fmax(y->worst, fabs(a - b));
            y->requests++;
            if (is_lambada) *lambada_ll += b;
            if (b > best) second = best, best = b;
            else if (b > second) second = b;
            if (!is_mmlu && !is_lambada && r.has_norm) {
                /* lm-eval's acc_norm length: the characters of the choice (its continuation less the delimiter) */
                const char *cont = cJSON_GetArrayItem(conts, c)->valuestring;
                long chars = 0;
                for (const char *q = cont + (cont[0] == ' '); *q; q++) chars += ((unsigned char)*q & 0xC0) != 0x80;
                double bn = b / (double)chars;
                if (bn > best_n) second_n = best_n, best_n = bn;
                else if (bn > second_n) second_n = bn;
            }
        }
        cJSON_Delete(detail);
        int ref_acc = cJSON_GetObjectItem(doc, "acc")->valuedouble > 0.5;
        int our_acc = is_mmlu ? r.item_correct_letter[i] : r.item_correct[i];
        y->acc_q += our_acc;
        y->acc_l += ref_acc;
        if (our_acc != ref_acc) {
            ck_assert_msg(!is_lambada && best - second < 2e-3, "%s item %s: acc %d, lm-eval %d", file, t->items[i].key, our_acc, ref_acc);
            y->ties++;
        }
        const cJSON *rn = cJSON_GetObjectItem(doc, "acc_norm");
        if (rn && r.has_norm && !is_mmlu) {
            int ref_norm = rn->valuedouble > 0.5;
            y->norm_q += r.item_correct_norm[i];
            y->norm_l += ref_norm;
            if (r.item_correct_norm[i] != ref_norm) {
                ck_assert_msg(best_n - second_n < 2e-4, "%s item %s: acc_norm %d, lm-eval %d", file, t->items[i].key, r.item_correct_norm[i],
                              ref_norm);
                y->ties++;
            }
        }
        y->compared++;
    }
    if (is_lambada) { /* lm-eval's perplexity of lambada_openai: exp(-mean passage log-likelihood) */
        double lm_ppl = exp(-*lambada_ll / (double)t->n_items);
        /* the per-request tolerance (1e-3 nats) carried through the mean: |log ppl - log ppl'| <= 1e-3 */
        ck_assert_msg(fabs(log(r.target_ppl) - log(lm_ppl)) <= 1e-3, "target_ppl %.6f, lm-eval's %.6f", r.target_ppl, lm_ppl);
        fprintf(stderr, "lm-eval parity %s: perplexity (per passage) qharness %.4f, lm-eval %.4f\n", file, r.target_ppl, lm_ppl);
    }
    qh_mc_result_free(&r);
}

static void lmeval_parity(const char *file, const char *task_name, int shots, int quick_items)
{
    char *model = smollm2_or_skip(file);
    if (!model) return;
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/smollm2/lmeval/%s", file);
    char *p = tu_home_path(rel), *text;
    size_t len;
    qh_err err;
    ck_assert_msg(qh_read_file(p, &text, &len, &err) == 0, "%s", err.msg);
    cJSON *ref = cJSON_Parse(text);
    ck_assert_msg(ref != NULL, "%s: not JSON", p);
    free(text);
    const cJSON *items = cJSON_GetObjectItem(ref, "items");
    int n_ref = cJSON_GetArraySize(items);
    int is_mmlu = strncmp(task_name, "mmlu", 4) == 0, is_lambada = strcmp(task_name, "lambada") == 0;
    /* lm-eval's max_length for the file (HFLM's; 4,096 for five shots), so that neither side cuts a request */
    const cJSON *max_length = cJSON_GetObjectItem(ref, "max_length");
    int ctx = cJSON_IsNumber(max_length) ? max_length->valueint : 2048;
    ck_assert_int_eq(cJSON_GetObjectItem(ref, "num_fewshot")->valueint, shots);
    qh_model *m;
    qh_tokenizer *tok;
    ck_assert_msg(qh_model_load(model, &m, 0, &err) == 0 && qh_tokenizer_load_dir(model, &tok, &err) == 0, "%s", err.msg);
    parity_tally y = {0};
    double lambada_ll = 0;
    if (is_mmlu) { /* lm-eval's limit is per subject: the first items of each, one subject at a time */
        long per_subject = cJSON_GetObjectItem(ref, "limit_per_task")->valueint;
        int subjects_seen = 0;
        for (int k = 0; k < n_ref; k++) {
            const char *subject = cJSON_GetObjectItem(cJSON_GetArrayItem(items, k), "subject")->valuestring;
            if (k > 0 && strcmp(subject, cJSON_GetObjectItem(cJSON_GetArrayItem(items, k - 1), "subject")->valuestring) == 0) continue;
            /* quick (the sanitizer pass): five-shot prompts are long, so one subject in eight */
            if (tu_quick() && shots > 0 && subjects_seen++ % 8 != 0) continue;
            qh_mc_opts mo = {.budget = tu_quick() ? 1 : per_subject, .seed = 1, .first = 1, .shots = shots, .subjects = subject};
            qh_mc_task t;
            ck_assert_msg(qh_mc_load(task_name, &mo, &t, &err) == 0, "%s", err.msg);
            parity_part(file, &t, m, tok, items, 1, 0, ctx, &y, &lambada_ll);
            qh_mc_free(&t);
        }
    } else {
        qh_mc_opts mo = {.budget = tu_quick() ? quick_items : n_ref, .seed = 1, .first = 1, .shots = shots};
        qh_mc_task t;
        ck_assert_msg(qh_mc_load(task_name, &mo, &t, &err) == 0, "%s", err.msg);
        parity_part(file, &t, m, tok, items, 0, is_lambada, ctx, &y, &lambada_ll);
        qh_mc_free(&t);
    }
    fprintf(stderr, "lm-eval parity %s: %ld items, %ld requests, largest |ll difference| %.2e nats; acc qharness %.4f, lm-eval %.4f",
            file, y.compared, y.requests, y.worst, (double)y.acc_q / (double)y.compared, (double)y.acc_l / (double)y.compared);
    if (y.norm_l || y.norm_q)
        fprintf(stderr, "; acc_norm qharness %.4f, lm-eval %.4f", (double)y.norm_q / (double)y.compared, (double)y.norm_l / (double)y.compared);
    fprintf(stderr, "; %ld decisions differ on ties within tolerance\n", y.ties);
    ck_assert_int_ge(y.compared, tu_quick() ? 1 : 100);
    qh_tokenizer_free(tok);
    qh_model_free(m);
    cJSON_Delete(ref);
    free(p);
    free(model);
}

/* the reference files and how much of each the test runs (quick: the sanitizer pass) */
static const struct {
    const char *file, *task;
    int shots, quick_items;
} parity_cases[] = {
    {"arc-easy.json", "arc-easy", 0, 20},     {"arc-challenge.json", "arc-challenge", 0, 20},
    {"piqa.json", "piqa", 0, 20},             {"openbookqa.json", "openbookqa", 0, 20},
    {"winogrande.json", "winogrande", 0, 20}, {"copa.json", "copa", 0, 20},
    {"lambada.json", "lambada", 0, 10},       {"mmlu-0shot.json", "mmlu", 0, 57},
    {"hellaswag.json", "hellaswag", 0, 20},
};

/* Every one of HellaSwag's 10,042 queries and choice lists as qharness rebuilds them from
 * llama.cpp's joined file, against the sha256 of the same lines from lm-eval's own
 * process_docs (tools/peers/lmeval_reference.py): needs no model. */
START_TEST(hellaswag_texts_equal_lm_eval)
{
    char *p = tu_home_path("tests/data/smollm2/lmeval/hellaswag.json"), *text;
    size_t len;
    qh_err err;
    ck_assert_msg(qh_read_file(p, &text, &len, &err) == 0, "%s", err.msg);
    cJSON *ref = cJSON_Parse(text);
    free(text);
    const cJSON *all = cJSON_GetObjectItem(ref, "all_documents");
    ck_assert_msg(cJSON_IsObject(all), "%s: no all_documents", p);
    qh_mc_opts mo = {.budget = 0, .seed = 1, .first = 1};
    qh_mc_task t;
    ck_assert_msg(qh_mc_load("hellaswag", &mo, &t, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(t.n_items, cJSON_GetObjectItem(all, "count")->valueint);
    qh_sha256_ctx h;
    qh_sha256_init(&h);
    for (int i = 0; i < t.n_items; i++) {
        qh_sha256_update(&h, t.items[i].context, strlen(t.items[i].context));
        for (int c = 0; c < t.items[i].n_choices; c++) {
            qh_sha256_update(&h, "\t", 1);
            ck_assert(t.items[i].choices[c][0] == ' '); /* lm-eval's choices are without the delimiter */
            qh_sha256_update(&h, t.items[i].choices[c] + 1, strlen(t.items[i].choices[c] + 1));
        }
        qh_sha256_update(&h, "\n", 1);
    }
    uint8_t digest[32];
    char hex[65];
    qh_sha256_final(&h, digest);
    for (int k = 0; k < 32; k++) snprintf(hex + 2 * k, 3, "%02x", digest[k]);
    ck_assert_str_eq(hex, cJSON_GetObjectItem(all, "sha256_query_choices")->valuestring);
    qh_mc_free(&t);
    cJSON_Delete(ref);
    free(p);
}
END_TEST

START_TEST(lmeval_parity_task)
{
    lmeval_parity(parity_cases[_i].file, parity_cases[_i].task, parity_cases[_i].shots, parity_cases[_i].quick_items);
}
END_TEST

Suite *suite_smollm2(void)
{
    Suite *s = suite_create("smollm2");
    TCase *t = tcase_create("smollm2");
    tcase_set_timeout(t, 900);
    tcase_add_test(t, tokens_equal_llama_cpp_and_hugging_face);
    tcase_add_test(t, logits_equal_an_independent_forward);
    tcase_add_test(t, perplexity_equals_the_references);
    tcase_add_test(t, two_bits_lose_measurable_accuracy);
    tcase_add_test(t, hellaswag_texts_equal_lm_eval);
    suite_add_tcase(s, t);
    TCase *lm = tcase_create("lmeval");
    tcase_set_timeout(lm, 900);
    tcase_add_loop_test(lm, lmeval_parity_task, 0, (int)(sizeof parity_cases / sizeof *parity_cases));
    suite_add_tcase(s, lm);
    return s;
}
