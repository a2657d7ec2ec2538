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
#include <unistd.h>

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

/* ppl MODEL TEXT ARGS --json: the perplexity printed, its tokens scored */
static double cli_ppl(const char *model, const char *args, int *tokens_scored)
{
    char cmd[4600], *out;
    snprintf(cmd, sizeof cmd, "ppl %s %s --json", model, args);
    ck_assert_int_eq(tu_run_cli_stdout(cmd, &out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "%s", out);
    double ppl = cJSON_GetObjectItem(j, "ppl")->valuedouble;
    if (tokens_scored) *tokens_scored = cJSON_GetObjectItem(j, "tokens_scored")->valueint;
    cJSON_Delete(j);
    free(out);
    return ppl;
}

/* qharness convert of Gemma 3 (tools/peers/gemma3_written_reference.py ran llama.cpp on the
 * Q8_0 file it writes): every key llama.cpp reads equal to the distributed file's (vocabulary,
 * token types, special ids, hyperparameters), the same tensors, each tensor the distributed file
 * holds in Q8_0 byte for byte (ggml's rounding of the same blocks); llama.cpp's token ids through
 * the written file equal to those through the distributed one, and qharness's own; qharness's
 * `--protocol llama-cpp` perplexity of the written file within 0.5% of llama.cpp's on it, and
 * the change from the distributed file the same by both to 0.1%; the F32 file
 * scores a text to the same bits as the distributed file it was dequantized from. */
START_TEST(gguf_written_as_llama_cpp_reads_it)
{
    if (tu_quick()) {
        fprintf(stderr, "SKIPPED gguf_written_as_llama_cpp_reads_it under QH_TEST_QUICK (the sanitizer pass): two files of "
                        "0.3 and 1.1 GB and 2,048 tokens through a 270M model\n");
        return;
    }
    char *model = gemma3_or_skip("gguf_written_as_llama_cpp_reads_it");
    if (!model) return;
    char *dir = tu_tmpdir(), q8[4300], f32[4300], args[9000], *o;
    snprintf(q8, sizeof q8, "%s/gemma3-q8_0.gguf", dir);
    snprintf(f32, sizeof f32, "%s/gemma3-f32.gguf", dir);
    snprintf(args, sizeof args, "convert gemma3 -o %s --type Q8_0", q8);
    ck_assert_int_eq(tu_run_cli(args, &o), 0);
    free(o);
    qh_gguf *mine, *theirs;
    qh_err err;
    ck_assert_msg(qh_gguf_open(q8, &mine, &err) == 0, "%s", err.msg);
    ck_assert_msg(qh_gguf_open(model, &theirs, &err) == 0, "%s", err.msg);
    /* not written: general.* descriptions and the preset, tokenizer.ggml.pre (llama.cpp reads it
     * for byte-level BPE only) and add_sep_token (false, llama.cpp's default) */
    static const char *const not_written[] = {"general.type", "general.name", "general.basename", "general.size_label",
                                              "general.license", "general.tags", "general.file_type", "tokenizer.ggml.pre",
                                              "tokenizer.ggml.add_sep_token"};
    int compared = 0;
    for (uint64_t i = 0; i < theirs->n_kv; i++) {
        const char *key = theirs->kv[i].key;
        int skip = 0;
        for (size_t k = 0; k < sizeof not_written / sizeof *not_written; k++) skip |= strcmp(key, not_written[k]) == 0;
        if (skip) continue;
        tu_same_gguf_kv(mine, theirs, key);
        compared++;
    }
    ck_assert_int_ge(compared, 20);
    ck_assert_uint_eq(mine->n_tensors, theirs->n_tensors);
    int same_q8 = 0;
    for (uint64_t i = 0; i < theirs->n_tensors; i++) {
        const qh_gguf_tensor *b = &theirs->tensors[i], *a = qh_gguf_tensor_find(mine, b->name);
        ck_assert_msg(a && a->n_dims == b->n_dims && a->ne[0] == b->ne[0] && a->ne[1] == b->ne[1], "%s", b->name);
        if (b->type != 8) continue;
        ck_assert_msg(a->type == 8 && a->bytes == b->bytes && memcmp(a->data, b->data, a->bytes) == 0,
                      "%s: Q8_0 in both files, different bytes", b->name);
        same_q8++;
    }
    ck_assert_msg(qh_gguf_tensor_find(mine, "token_embd.weight")->type == 8 && same_q8 > 1, "%d Q8_0 tensors", same_q8);
    qh_gguf_close(mine);
    qh_gguf_close(theirs);

    cJSON *written = tu_read_json("tests/data/gemma3/written.json"), *ref = reference();
    cJSON *lc_ids = cJSON_GetObjectItem(cJSON_GetObjectItem(written, "tokenizer"), "llama.cpp");
    cJSON *ref_ids = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "tokenizer"), "wikitext2-test"), "llama.cpp");
    ck_assert_str_eq(cJSON_GetObjectItem(lc_ids, "sha256")->valuestring, cJSON_GetObjectItem(ref_ids, "sha256")->valuestring);
    qh_tokenizer *tok;
    ck_assert_msg(qh_tokenizer_load_dir(q8, &tok, &err) == 0, "%s", err.msg);
    static const char *const peers[] = {"llama.cpp"};
    ck_assert_int_eq(tu_check_reference_ids(tok, cJSON_GetObjectItem(ref, "tokenizer"), peers, 1, "gemma3 (written)"), 2);
    qh_tokenizer_free(tok);

    cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(written, "perplexity"), "runs"), 0);
    int ctx = cJSON_GetObjectItem(run, "ctx")->valueint, chunks = cJSON_GetObjectItem(run, "chunks")->valueint, scored;
    snprintf(args, sizeof args, "wikitext2-test --protocol llama-cpp --ctx %d --chunks %d", ctx, chunks);
    double got = cli_ppl(q8, args, &scored), lc = cJSON_GetObjectItem(run, "ppl")->valuedouble;
    ck_assert_int_eq(scored, cJSON_GetObjectItem(run, "tokens_scored")->valueint);
    fprintf(stderr, "gemma3: the Q8_0 file qharness writes, wikitext2-test, llama-cpp protocol, ctx %d, %d chunks: ppl %.4f; "
                    "llama.cpp on the same file %.4f (%+.3f%%)\n", ctx, chunks, got, lc, 100 * (got / lc - 1));
    ck_assert_msg(fabs(got / lc - 1) < 5e-3, "ppl %.4f, llama.cpp %.4f", got, lc); /* as perplexity_near_llama_cpp, and why */
    /* what the rewrite changed, as each program sees it: the written file's perplexity over the
     * distributed file's, by qharness and by llama.cpp (whose activations and KV cache are not
     * F32, which the ratio cancels) */
    cJSON *orig = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "perplexity"), "wikitext2-test"),
                                                        "runs"), 0);
    ck_assert_int_eq(cJSON_GetObjectItem(orig, "chunks")->valueint, chunks);
    double got_orig = cli_ppl(model, args, NULL), lc_orig = cJSON_GetObjectItem(orig, "ppl")->valuedouble;
    double ours = got / got_orig, theirs_ratio = lc / lc_orig;
    fprintf(stderr, "gemma3: written over distributed: qharness %+.3f%%, llama.cpp %+.3f%%\n", 100 * (ours - 1), 100 * (theirs_ratio - 1));
    ck_assert_msg(fabs(ours / theirs_ratio - 1) < 1e-3, "qharness %.5f, llama.cpp %.5f", ours, theirs_ratio);
    cJSON_Delete(written);
    cJSON_Delete(ref);

    snprintf(args, sizeof args, "convert gemma3 -o %s", f32);
    ck_assert_int_eq(tu_run_cli(args, &o), 0);
    free(o);
    char *story = tu_home_path("datasets/tinystories/valid_first1000.txt"), text[4400];
    snprintf(text, sizeof text, "%s --ctx 256 --max-tokens 512", story);
    double from_file = cli_ppl(model, text, NULL), from_written = cli_ppl(f32, text, NULL);
    free(story);
    ck_assert_msg(from_file == from_written, "distributed %.17g, written F32 %.17g", from_file, from_written);
    ck_assert_int_eq(unlink(q8), 0); /* 1.4 GB: not left for the end of the run */
    ck_assert_int_eq(unlink(f32), 0);
    free(dir);
    free(model);
}
END_TEST

/* logits of every position of ids (T of them) into out (T, n_vocab) */
/* A Hugging Face Gemma3ForCausalLM directory (config.json + model.safetensors) as transformers
 * writes it: a tiny one with random weights made by tools/peers/gemma3_hf_tiny_reference.py
 * (no real Gemma 3 checkpoint in this format can be fetched here), its logits at every one of
 * 24 positions within 1e-4 of transformers' own float32 forward.  The file's norms hold w of
 * Gemma's x * (1 + w); head_dim is not hidden_size / heads; layer 5 is global, the others attend
 * in a window of 8 with their own RoPE base; the same weights without the window (or without
 * the 1 added) give other logits, so each of those is held. */
START_TEST(hf_directory_equals_transformers)
{
    char *dir = tu_home_path("tests/data/gemma3/hf-tiny");
    cJSON *ref = tu_read_json("tests/data/gemma3/hf-tiny-logits.json"), *e;
    qh_model *m;
    qh_err err;
    ck_assert_msg(qh_model_load(dir, &m, 0, &err) == 0, "%s", err.msg);
    const qh_config *c = &m->cfg;
    ck_assert_int_eq(c->arch, QH_ARCH_GEMMA3);
    ck_assert_int_eq(c->swa_window, 8);
    ck_assert_int_eq(c->swa_period, 6);
    ck_assert_int_eq(qh_config_head_dim(c), 16);
    ck_assert(c->rope_theta == 1e6f && c->rope_theta_swa == 1e4f && m->head_tied);
    int T = cJSON_GetArraySize(cJSON_GetObjectItem(ref, "ids")), V = c->n_vocab, k = 0;
    ck_assert_int_gt(T, 2 * c->swa_window);
    int *ids = qh_malloc((size_t)T * sizeof(int));
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "ids")) ids[k++] = e->valueint;
    float *logits = qh_malloc((size_t)T * V * sizeof(float)), *other = qh_malloc((size_t)T * V * sizeof(float));
    tu_all_logits(m, ids, T, logits);
    double worst = 0;
    cJSON *rows = cJSON_GetObjectItem(ref, "logits");
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) {
            double want = cJSON_GetArrayItem(cJSON_GetArrayItem(rows, t), v)->valuedouble;
            worst = fmax(worst, fabs(logits[(size_t)t * V + v] - want));
        }
    fprintf(stderr, "gemma3: Hugging Face directory: max |qharness - transformers| %.3g over %d x %d logits\n", worst, T, V);
    ck_assert_msg(worst < 1e-4, "max difference %.3g", worst);
    /* the window is exercised: without it the last rows change */
    m->cfg.swa_window = 0;
    tu_all_logits(m, ids, T, other);
    double moved = 0;
    for (int v = 0; v < V; v++) moved = fmax(moved, fabs(other[(size_t)(T - 1) * V + v] - logits[(size_t)(T - 1) * V + v]));
    ck_assert_msg(moved > 1e-2, "the last row moved by %.3g without the window", moved);
    for (int v = 0; v < V; v++) ck_assert(other[v] == logits[v]); /* the first row sees no more than the window either way */
    m->cfg.swa_window = 8;
    /* so is the 1 added to the norms */
    for (int i = 0; i < c->n_embd; i++) m->lnf_w[i] -= 1.0f;
    tu_all_logits(m, ids, T, other);
    moved = 0;
    for (int v = 0; v < V; v++) moved = fmax(moved, fabs(other[v] - logits[v]));
    ck_assert_msg(moved > 1e-2, "the first row moved by %.3g without the 1", moved);
    free(logits);
    free(other);
    free(ids);
    qh_model_free(m);
    cJSON_Delete(ref);
    free(dir);
}
END_TEST

/* What the reader of Gemma 3 directories does not run is refused by name, one line each. */
START_TEST(hf_directory_refuses_what_it_does_not_run)
{
    static const struct { const char *from, *to, *says; } cases[] = {
        {"\"rope_scaling\": null", "\"rope_scaling\": {\"factor\": 8.0, \"rope_type\": \"linear\"}", "'rope_scaling' is set"},
        {"\"final_logit_softcapping\": null", "\"final_logit_softcapping\": 30.0", "'final_logit_softcapping' is set"},
        {"\"query_pre_attn_scalar\": 16", "\"query_pre_attn_scalar\": 32", "query_pre_attn_scalar 32 is not head_dim 16"},
        {"\"sliding_attention\"", "\"full_attention\"", "layer_types[1] is not 'full_attention'"},
        {"\"gelu_pytorch_tanh\"", "\"gelu\"", "hidden_activation 'gelu' is not supported"},
        {"\"model_type\": \"gemma3_text\"", "\"model_type\": \"gemma3\"", "model_type 'gemma3' is not gpt2 or llama or gemma3_text"},
    };
    char *src = tu_home_path("tests/data/gemma3/hf-tiny"), *config = qh_path_join(src, "config.json"), *text;
    size_t len;
    qh_err err;
    ck_assert_msg(qh_read_file(config, &text, &len, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *dir = tu_tmpdir(), *at = strstr(text, cases[i].from);
        ck_assert_msg(at != NULL, "%s not in %s", cases[i].from, config);
        char *path = qh_path_join(dir, "config.json");
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "%.*s%s%s", (int)(at - text), text, cases[i].to, at + strlen(cases[i].from));
        fclose(f);
        char *weights = qh_path_join(src, "model.safetensors"), *link = qh_path_join(dir, "model.safetensors");
        ck_assert_int_eq(symlink(weights, link), 0);
        qh_model *m = NULL;
        ck_assert_int_ne(qh_model_load(dir, &m, 0, &err), 0);
        ck_assert_msg(strstr(err.msg, cases[i].says) && strstr(err.msg, "config.json") && !strchr(err.msg, '\n'),
                      "case %zu: %s", i, err.msg);
        free(weights);
        free(link);
        free(path);
        free(dir);
    }
    free(text);
    free(config);
    free(src);
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
    tcase_add_test(t, gguf_written_as_llama_cpp_reads_it);
    tcase_add_test(t, hf_directory_equals_transformers);
    tcase_add_test(t, hf_directory_refuses_what_it_does_not_run);
    suite_add_tcase(s, t);
    return s;
}
