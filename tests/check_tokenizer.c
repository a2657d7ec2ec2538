/* check_tokenizer.c - GPT-2 BPE against the independent encoders' ids in ../shared/golden. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "harness/tokenizer.h"
#include "testutil.h"

static void check_cases(qh_tokenizer *tok)
{
    char *path = tu_shared_path("golden/tokenizer_cases.json"), *text;
    size_t len;
    qh_err err;
    ck_assert_msg(qh_read_file(path, &text, &len, &err) == 0, "%s", err.msg);
    cJSON *root = cJSON_Parse(text);
    ck_assert(cJSON_IsArray(root));
    ck_assert_int_ge(cJSON_GetArraySize(root), 10);
    const cJSON *c;
    cJSON_ArrayForEach(c, root)
    {
        const char *s = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *want = cJSON_GetObjectItem(c, "ids");
        int *ids;
        size_t n;
        ck_assert_int_eq(qh_encode(tok, "case", s, strlen(s), &ids, &n, &err), 0);
        ck_assert_msg((int)n == cJSON_GetArraySize(want), "'%s': %zu ids, want %d", s, n, cJSON_GetArraySize(want));
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(ids[i] == cJSON_GetArrayItem(want, (int)i)->valueint, "'%s': id %zu is %d, want %d", s, i,
                          ids[i], cJSON_GetArrayItem(want, (int)i)->valueint);
        free(ids);
    }
    cJSON_Delete(root);
    free(text);
    free(path);
}

START_TEST(golden_cases_hf_files)
{
    qh_tokenizer *tok = tu_default_tokenizer();
    check_cases(tok);
    qh_tokenizer_free(tok);
}
END_TEST

START_TEST(golden_cases_openai_files)
{
    char *v = tu_shared_path("tokenizers/gpt2/encoder.json"), *m = tu_shared_path("tokenizers/gpt2/vocab.bpe");
    qh_tokenizer *tok;
    qh_err err;
    ck_assert_msg(qh_tokenizer_load(v, m, &tok, &err) == 0, "%s", err.msg);
    check_cases(tok);
    qh_tokenizer_free(tok);
    free(v);
    free(m);
}
END_TEST

START_TEST(all_of_wikitext2_test)
{
    qh_tokenizer *tok = tu_default_tokenizer();
    qh_text text;
    qh_err err;
    ck_assert_msg(qh_text_load("wikitext2-test", &text, &err) == 0, "%s", err.msg);
    int *ids;
    size_t n;
    double t0 = qh_now();
    ck_assert_int_eq(qh_encode(tok, text.path, text.text, text.len, &ids, &n, &err), 0);
    double el = qh_now() - t0;
    tu_check_wikitext2_test_ids(ids, n);
    ck_assert_uint_eq(n, 286221);
    /* decoding the ids gives back the text byte for byte */
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t bl;
        const char *b = qh_token_bytes(tok, ids[i], &bl);
        ck_assert(off + bl <= text.len && memcmp(text.text + off, b, bl) == 0);
        off += bl;
    }
    ck_assert_uint_eq(off, text.len);
    fprintf(stderr, "tokenizer: %zu ids from %zu bytes in %.3f s\n", n, text.len, el);
    free(ids);
    qh_text_free(&text);
    qh_tokenizer_free(tok);
}
END_TEST

START_TEST(invalid_utf8_is_named)
{
    qh_tokenizer *tok = tu_default_tokenizer();
    qh_err err;
    int *ids;
    size_t n;
    const char bad[] = "line one\nline two \xff\xfe here";
    ck_assert_int_eq(qh_encode(tok, "t.txt", bad, sizeof bad - 1, &ids, &n, &err), -1);
    ck_assert_str_eq(err.msg, "t.txt: not valid UTF-8 at byte 18 (line 2)");
    const char overlong[] = "\xc0\xaf";
    ck_assert_int_eq(qh_encode(tok, "o.txt", overlong, 2, &ids, &n, &err), -1);
    const char trunc[] = "ok \xe2\x82";
    ck_assert_int_eq(qh_encode(tok, "u.txt", trunc, 5, &ids, &n, &err), -1);
    qh_tokenizer_free(tok);
}
END_TEST

START_TEST(malformed_vocabularies)
{
    char *dir = tu_tmpdir(), *v = qh_path_join(dir, "vocab.json"), *m = qh_path_join(dir, "merges.txt");
    qh_err err;
    qh_tokenizer *tok;
    ck_assert_int_eq(qh_write_file(v, "{\"a\": 0, ", 9, &err), 0);
    ck_assert_int_eq(qh_write_file(m, "#version: 0.2\n", 14, &err), 0);
    ck_assert_int_eq(qh_tokenizer_load(v, m, &tok, &err), -1);
    ck_assert_msg(strstr(err.msg, "vocab.json: vocabulary is not a valid JSON object"), "%s", err.msg);
    /* ids with a gap */
    ck_assert_int_eq(qh_write_file(v, "{\"a\": 0, \"b\": 5}", 16, &err), 0);
    ck_assert_int_eq(qh_tokenizer_load(v, m, &tok, &err), -1);
    ck_assert_msg(strstr(err.msg, "without gaps"), "%s", err.msg);
    /* missing single-byte tokens */
    ck_assert_int_eq(qh_write_file(v, "{\"a\": 0, \"b\": 1}", 16, &err), 0);
    ck_assert_int_eq(qh_tokenizer_load(v, m, &tok, &err), -1);
    ck_assert_msg(strstr(err.msg, "lacks the single-byte token"), "%s", err.msg);
    /* a directory without tokenizer files */
    unlink(v);
    ck_assert_int_eq(qh_tokenizer_load_dir(dir, &tok, &err), -1);
    ck_assert_msg(strstr(err.msg, "no tokenizer"), "%s", err.msg);
    free(v);
    free(m);
    free(dir);
}
END_TEST

START_TEST(malformed_merges)
{
    /* the real vocabulary with a broken merges file */
    char *dir = tu_tmpdir(), *m = qh_path_join(dir, "merges.txt");
    char *v = tu_home_path("models/gpt2-gutenberg-18m/vocab.json");
    qh_err err;
    qh_tokenizer *tok;
    const char *bad = "#version: 0.2\n\xc4\xa0 t\nthree tokens here\n";
    ck_assert_int_eq(qh_write_file(m, bad, strlen(bad), &err), 0);
    ck_assert_int_eq(qh_tokenizer_load(v, m, &tok, &err), -1);
    ck_assert_msg(strstr(err.msg, "merges.txt:3: a merge line must be two tokens"), "%s", err.msg);
    const char *unknown = "#version: 0.2\nzzzzqqq xxxjjj\n";
    ck_assert_int_eq(qh_write_file(m, unknown, strlen(unknown), &err), 0);
    ck_assert_int_eq(qh_tokenizer_load(v, m, &tok, &err), -1);
    ck_assert_msg(strstr(err.msg, "merges.txt:2: merge 'zzzzqqq xxxjjj' names tokens missing"), "%s", err.msg);
    free(v);
    free(m);
    free(dir);
}
END_TEST

Suite *suite_tokenizer(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, golden_cases_hf_files);
    tcase_add_test(tc, golden_cases_openai_files);
    tcase_add_test(tc, all_of_wikitext2_test);
    tcase_add_test(tc, invalid_utf8_is_named);
    tcase_add_test(tc, malformed_vocabularies);
    tcase_add_test(tc, malformed_merges);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
