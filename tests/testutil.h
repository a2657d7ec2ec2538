/* testutil.h - helpers shared by the Check suites: paths to the golden references, temporary
 * directories, running the CLI, and a generator of small random GPT-2 checkpoints in every
 * naming/dtype variant real Hugging Face files use. */
#ifndef QH_TESTUTIL_H
#define QH_TESTUTIL_H

#include <check.h>
#include <stdio.h>

#include "harness/model/model.h"
#include "harness/formats/safetensors.h"
#include "harness/model/tokenizer.h"
#include "harness/base/util.h"
#include "methods/method.h"

/* ../shared beside the repository root (tests may read it; the harness never does). */
const char *tu_shared(void);
char *tu_shared_path(const char *rel);          /* malloc'd */
char *tu_home_path(const char *rel);            /* malloc'd path under the repository root */
/* The embedded default model and its tokenizer (test failure if they do not load). */
qh_model *tu_default_model(int compute_sha);
qh_tokenizer *tu_default_tokenizer(void);
char *tu_tmpdir(void);                          /* fresh directory, malloc'd */
/* Fails unless ids (n) are the reference encoder's ids of WikiText-2 test (golden/). */
void tu_check_wikitext2_test_ids(const int *ids, size_t n);
/* Fails unless tok encodes all of WikiText-2 test to those ids. */
void tu_check_encodes_wikitext2_test(qh_tokenizer *tok);
int tu_quick(void);                             /* QH_TEST_QUICK set: skip the slow cases */
/* The bytes a method's packed form of a (rows, cols) matrix takes, from its format as each
 * method's file describes it (bits per code, scales per group, ...), written down here apart
 * from qharness's own accounting so that tests can check that accounting against it. */
size_t tu_format_bytes(const char *spec, int rows, int cols);
/* The same for a format whose sizes depend on the data (billm: how many columns are salient,
 * the length of the range-coded group mask; salomi-hvq: the length of the range-coded index
 * stream): those counts are read from p, the rest is the format's.  Other methods:
 * tu_format_bytes. */
size_t tu_format_bytes_given(const char *spec, int rows, int cols, const qh_packed *p);

/* stories260K's vocabulary (llama2.c's tok512.bin) written as another file (check_tokenizer.c):
 * kind 0 SentencePiece's tokenizer.model, 1 the same claiming a unigram model, 2 Hugging Face's
 * tokenizer.json (Prepend + Replace normalizer), 3 tokenizer.json (Metaspace, pair merges). */
void tu_write_stories_tokenizer(const char *path, int kind);

/* Runs "qharness ARGS" (the binary under test), captures stdout+stderr into out (malloc'd),
 * returns the exit status (or -1 if it died by a signal). */
int tu_run_cli(const char *args, char **out);
/* Runs a shell command line, stdout into out (malloc'd), returns the exit status. */
int tu_run_shell(const char *cmd, char **out);
/* the logits (T, V) of every position of one sequence */
void tu_all_logits(const qh_model *m, const int *ids, int T, float *out);
/* The binary under test: $QH_TEST_BINARY, else the repository's qharness. */
const char *tu_binary(void);
/* A model directory with the default model's config and tokenizer (linked) and these bytes as
 * its model.safetensors (malloc'd path). */
char *tu_model_dir_with_weights(const void *weights, size_t len);
/* tu_run_cli with stdout only */
int tu_run_cli_stdout(const char *args, char **out);

/* Small checkpoint description. */
typedef struct {
    int n_layer, n_head, n_embd, n_ctx, n_vocab;
    qh_dtype dtype;          /* F32, F16 or BF16 */
    int prefix;              /* "transformer." in front of names */
    int attn_buffers;        /* add attn.bias and attn.masked_bias, as real gpt2 files do */
    int lm_head;             /* store lm_head.weight (a copy of wte) */
    unsigned seed;
} tu_ckpt;

/* Writes dir/config.json + dir/model.safetensors.  Weights are multiples of 1/64 in
 * [-0.5, 0.5], exact in F16 and BF16, so every dtype variant holds the same model. */
void tu_write_checkpoint(const char *dir, const tu_ckpt *spec);
void tu_write_config(const char *dir, const tu_ckpt *spec);

/* Models fetched at set-up (make deps) and their reference data (tests/data/NAME/):
 * the model's path, or NULL after saying on stderr that test is skipped and why; */
char *tu_fetched_model_or_skip(const char *name, const char *test);
/* a JSON file under the repository root (test failure if it does not parse); */
struct cJSON *tu_read_json(const char *rel);
/* the sha256 of ids written one per line, as the reference scripts hash them; */
void tu_ids_sha256(const int *ids, size_t n, char out[65]);
/* fails unless tok encodes every text of texts (the reference scripts' "tokenizer": name ->
 * text_sha256 and, per peer, n and sha256 of the ids) to the ids of each of the n_peers peers;
 * returns the texts checked */
struct qh_tokenizer;
int tu_check_reference_ids(struct qh_tokenizer *tok, const struct cJSON *texts, const char *const *peers, int n_peers,
                           const char *model);
/* fails unless key holds the same value in a and in the reference b: type, count and bytes */
void tu_same_gguf_kv(const qh_gguf *a, const qh_gguf *b, const char *key);
/* fails unless m's logits at the reference's positions are within 1e-3 of its sampled values
 * and its argmax is the reference's ("logits" of the tools/peers reference scripts: tokens,
 * rows {position: {index, value}}, argmax); texts longer than max_T are left out (and said so).
 * Returns the largest difference and the longest text run. */
double tu_check_reference_logits(const qh_model *m, const struct cJSON *cases, int max_T, int *longest);

Suite *suite_util(void);
Suite *suite_tokenizer(void);
Suite *suite_safetensors(void);
Suite *suite_gemm(void);
Suite *suite_gguf(void);
Suite *suite_model(void);
Suite *suite_ppl(void);
Suite *suite_cli(void);
Suite *suite_methods(void);
Suite *suite_quantize(void);
Suite *suite_sweep(void);
Suite *suite_calib(void);
Suite *suite_reports(void);
Suite *suite_stats(void);
Suite *suite_tasks(void);
Suite *suite_llama(void);
Suite *suite_reliability(void);
Suite *suite_smollm2(void);
Suite *suite_gemma3(void);
Suite *suite_hf_quant(void);

#endif
