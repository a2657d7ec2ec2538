/* check_gemma3.c - Gemma 3 270M (models/gemma3, the Q4_K_M file fetched by `make deps`)
 * against independent implementations: reference data made once by
 * tools/peers/gemma3_reference.py with llama.cpp (llama-cpp-python 0.3.16) and a float64 NumPy
 * forward pass of the same dequantized weights written from llama.cpp's gemma3 graph,
 * committed as tests/data/gemma3/reference.json.  When the model file is not there (set-up not
 * run), each test says it is skipped and why. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "harness/model/forward.h"
#include "tests/testutil.h"

static char *gemma3_or_skip(const char *test) { return tu_fetched_model_or_skip("gemma3", test); }
static cJSON *reference(void) { return tu_read_json("tests/data/gemma3/reference.json"); }

/* Token ids equal to llama.cpp's on all of WikiText-2 test and the TinyStories text: Gemma's
 * SentencePiece vocabulary of 262,144 pieces, no space prefix, and the user-defined tokens
 * (runs of spaces, tabs, newlines; HTML tags) cut out before the rest is encoded. */
START_TEST(tokens_equal_llama_cpp)
{
    char *model = gemma3_or_skip("tokens_equal_llama_cpp");
    if (!model) return;
    cJSON *ref = reference(), *texts = cJSON_GetObjectItem(ref, "tokenizer");
    qh_tokenizer *tok;
    qh_err err;
    ck_assert_msg(qh_tokenizer_load_dir(model, &tok, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(qh_tokenizer_bos_added(tok), 2);
    static const char *const peers[] = {"llama.cpp"};
    int checked = tu_check_reference_ids(tok, texts, peers, 1, "gemma3");
    ck_assert_int_eq(checked, 2);
    /* two spaces are one user-defined token (138) even inside a word's stretch: llama.cpp's cut */
    int *ids;
    size_t n;
    ck_assert_int_eq(qh_encode(tok, "t", ".@  hrvatski", 12, &ids, &n, &err), 0);
    ck_assert_int_ge((int)n, 2);
    ck_assert_int_eq(ids[1], 138);
    free(ids);
    qh_tokenizer_free(tok);
    cJSON_Delete(ref);
    free(model);
}
END_TEST

/* Logits of the F32 dequantization of the file against the float64 NumPy forward (every 997th
 * logit and the 32 largest of each row), on two short texts and on 1,100 tokens of TinyStories:
 * longer than the 512-position sliding window, so rows 600, 900 and 1099 of the windowed
 * layers see only their window. */
START_TEST(logits_equal_an_independent_forward)
{
    char *model = gemma3_or_skip("logits_equal_an_independent_forward");
    if (!model) return;
    cJSON *ref = reference();
    qh_model *m;
    qh_err err;
    ck_assert_msg(qh_model_load(model, &m, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m->cfg.swa_window, 512);
    int longest; /* the sanitizer pass: the short texts only */
    double worst = tu_check_reference_logits(m, cJSON_GetObjectItem(ref, "logits"), tu_quick() ? 64 : 1 << 20, &longest);
    if (!tu_quick())
        ck_assert_int_gt(longest, 2 * 512); /* the window is exercised */
    fprintf(stderr, "gemma3: logits: max |qharness - NumPy float64| %.3g over the sampled rows\n", worst);
    qh_model_free(m);
    cJSON_Delete(ref);
    free(model);
}
END_TEST

/* The same texts and rows against Hugging Face transformers' own Gemma 3 code
 * (Gemma3ForCausalLM in float32 on the same dequantized weights,
 * tools/peers/gemma3_transformers_reference.py), itself within 6e-5 of the NumPy forward. */
START_TEST(logits_equal_transformers)
{
    char *model = gemma3_or_skip("logits_equal_transformers");
    if (!model) return;
    cJSON *ref = tu_read_json("tests/data/gemma3/transformers.json");
    qh_model *m;
    qh_err err;
    ck_assert_msg(qh_model_load(model, &m, 0, &err) == 0, "%s", err.msg);
    int longest;
    double worst = tu_check_reference_logits(m, cJSON_GetObjectItem(ref, "logits"), tu_quick() ? 64 : 1 << 20, &longest);
    if (!tu_quick()) ck_assert_int_gt(longest, 2 * 512);
    fprintf(stderr, "gemma3: logits: max |qharness - transformers %s| %.3g over the sampled rows\n",
            cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "tools"), "transformers")->valuestring, worst);
    qh_model_free(m);
    cJSON_Delete(ref);
    free(model);
}
END_TEST

/* A continuation past the window gets the bits of the whole sequence: the multiple-choice
 * path (kept prefix rows, then the continuation) masks the windowed layers as the full pass. */
START_TEST(continuation_past_the_window_equals_the_whole_pass)
{
    if (tu_quick()) {
        fprintf(stderr, "SKIPPED continuation_past_the_window_equals_the_whole_pass under QH_TEST_QUICK (the sanitizer pass): "
                        "700 positions through a 270M model twice\n");
        return;
    }
    char *model = gemma3_or_skip("continuation_past_the_window_equals_the_whole_pass");
    if (!model) return;
    qh_model *m;
    qh_err err;
    ck_assert_msg(qh_model_load(model, &m, 0, &err) == 0, "%s", err.msg);
    enum { P = 600, S = 40, T = P + S };
    int *ids = qh_malloc(T * sizeof(int));
    for (int i = 0; i < T; i++) ids[i] = 1000 + (i * 7919) % 50000;
    qh_workspace whole, part;
    qh_workspace_init(&whole, &m->cfg, 1, T);
    qh_forward(m, ids, 1, T, &whole);
    qh_workspace_init(&part, &m->cfg, 1, T);
    size_t layer = (size_t)P * qh_config_qkv_width(&m->cfg);
    float *keep = qh_malloc((size_t)m->cfg.n_layer * layer * sizeof(float));
    qh_forward_keep_qkv(m, ids, 1, P, &part, keep);
    const float *prefix[1] = {keep};
    int Ps[1] = {P}, Ss[1] = {S};
    qh_forward_continue(m, ids + P, 1, S, prefix, layer, Ps, Ss, &part);
    for (int t = 0; t < S; t++)
        ck_assert_msg(memcmp(part.ln + (size_t)t * m->cfg.n_embd, whole.ln + (size_t)(P + t) * m->cfg.n_embd,
                             (size_t)m->cfg.n_embd * sizeof(float)) == 0,
                      "row %d of the continuation differs from row %d of the whole pass", t, P + t);
    free(keep);
    free(ids);
    qh_workspace_free(&whole);
    qh_workspace_free(&part);
    qh_model_free(m);
    free(model);
}
END_TEST

/* `--protocol llama-cpp` perplexity (BOS in front of every chunk, as the file asks) against
 * llama.cpp's own forward pass on the same chunks.  llama.cpp quantizes activations to 8 bits in
 * its quantized dot products and keeps an F16 KV cache; the exact arithmetic is held by the
 * logits test above, llama.cpp's number to 0.5% here. */
START_TEST(perplexity_near_llama_cpp)
{
    if (tu_quick()) {
        fprintf(stderr, "SKIPPED perplexity_near_llama_cpp under QH_TEST_QUICK (the sanitizer pass): 2,048 tokens through a 270M "
                        "model; the forward pass is checked against the NumPy reference there\n");
        return;
    }
    char *model = gemma3_or_skip("perplexity_near_llama_cpp");
    if (!model) return;
    cJSON *ref = reference(), *p = cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "perplexity"), "wikitext2-test");
    cJSON *runs = cJSON_GetObjectItem(p, "runs"), *llama = cJSON_GetArrayItem(runs, 0);
    int ctx = cJSON_GetObjectItem(llama, "ctx")->valueint, chunks = cJSON_GetObjectItem(llama, "chunks")->valueint;
    char args[4400], *out;
    snprintf(args, sizeof args, "ppl %s wikitext2-test --protocol llama-cpp --ctx %d --chunks %d --json", model, ctx, chunks);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "%s", out);
    double got = cJSON_GetObjectItem(j, "ppl")->valuedouble, lc = cJSON_GetObjectItem(llama, "ppl")->valuedouble;
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens_scored")->valueint, cJSON_GetObjectItem(llama, "tokens_scored")->valueint);
    fprintf(stderr, "gemma3: wikitext2-test, llama-cpp protocol, ctx %d, %d chunks: ppl %.4f; llama.cpp %.4f (%+.3f%%)\n", ctx, chunks,
            got, lc, 100 * (got / lc - 1));
    ck_assert_msg(fabs(got / lc - 1) < 5e-3, "ppl %.4f, llama.cpp %.4f", got, lc);
    cJSON_Delete(j);
    free(out);
    cJSON_Delete(ref);
    free(model);
}
END_TEST

Suite *suite_gemma3(void)
{
    Suite *s = suite_create("gemma3");
    TCase *t = tcase_create("gemma3");
    tcase_set_timeout(t, 900);
    tcase_add_test(t, tokens_equal_llama_cpp);
    tcase_add_test(t, logits_equal_an_independent_forward);
    tcase_add_test(t, logits_equal_transformers);
    tcase_add_test(t, continuation_past_the_window_equals_the_whole_pass);
    tcase_add_test(t, perplexity_near_llama_cpp);
    suite_add_tcase(s, t);
    return s;
}
