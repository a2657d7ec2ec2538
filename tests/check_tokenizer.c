/* check_tokenizer.c - GPT-2 BPE against the independent encoders' ids in ../shared/golden. */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "harness/model/tokenizer.h"
#include "tests/testutil.h"

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

/* ---- SentencePiece vocabularies in the files Llama models ship with ----------------------
 *
 * stories260K's vocabulary (llama2.c's tok512.bin: f32 score, u32 length, bytes per piece,
 * U+2581 written as ' ') is written here as SentencePiece's tokenizer.model (protobuf, the
 * field numbers of sentencepiece_model.proto) and as Hugging Face's tokenizer.json (merges as
 * transformers' SentencePieceExtractor derives them: every split of a piece into two pieces,
 * in order of the piece's score), so that each file must give llama.cpp's ids of the text. */

typedef struct {
    int n;
    char *piece[512];
    float score[512];
} spm_pieces;

static void read_tok512(spm_pieces *v)
{
    char *path = tu_shared_path("models/stories260K/tok512.bin"), *data;
    size_t len, at = 4;
    qh_err err;
    ck_assert_msg(qh_read_file(path, &data, &len, &err) == 0, "%s", err.msg);
    for (v->n = 0; at < len; v->n++) {
        uint32_t tl;
        memcpy(&v->score[v->n], data + at, 4);
        memcpy(&tl, data + at + 4, 4);
        const char *t = data + at + 8;
        at += 8 + tl;
        if (v->n == 1 || v->n == 2) t++, tl -= 2; /* "\n<s>\n", "\n</s>\n" */
        char *p = v->piece[v->n] = calloc(3 * tl + 1, 1);
        for (uint32_t k = 0; k < tl; k++)
            if (t[k] == ' ') p = memcpy(p, "\xe2\x96\x81", 3) + 3;
            else *p++ = t[k];
    }
    ck_assert_int_eq(v->n, 512);
    free(data);
    free(path);
}

static void pb_put_varint(FILE *f, uint64_t v)
{
    do {
        fputc((int)(v & 0x7f) | (v > 0x7f ? 0x80 : 0), f);
        v >>= 7;
    } while (v);
}

static void pb_put_key(FILE *f, unsigned field, unsigned wire) { pb_put_varint(f, (uint64_t)field << 3 | wire); }

static void pb_put_bytes(FILE *f, unsigned field, const void *b, size_t n)
{
    pb_put_key(f, field, 2);
    pb_put_varint(f, n);
    fwrite(b, 1, n, f);
}

/* A tokenizer.model as SentencePiece writes one: pieces, then trainer_spec, normalizer_spec;
 * piece user_piece (-1: none) USER_DEFINED. */
static void write_spm_model_user(const spm_pieces *v, const char *path, int model_type, int user_piece)
{
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    for (int i = 0; i < v->n; i++) {
        char msg[256];
        FILE *m = fmemopen(msg, sizeof msg, "wb");
        pb_put_bytes(m, 1, v->piece[i], strlen(v->piece[i]));
        pb_put_key(m, 2, 5);
        fwrite(&v->score[i], 4, 1, m);
        int type = i == 0 ? 2 : i <= 2 ? 3 : strncmp(v->piece[i], "<0x", 3) == 0 ? 6 : i == user_piece ? 4 : 1; /* UNKNOWN, CONTROL, BYTE, USER_DEFINED, NORMAL */
        if (type != 1) pb_put_key(m, 3, 0), pb_put_varint(m, (uint64_t)type);
        long n = ftell(m);
        fclose(m);
        pb_put_bytes(f, 1, msg, (size_t)n);
    }
    char spec[256];
    FILE *m = fmemopen(spec, sizeof spec, "wb");
    pb_put_bytes(m, 2, "tok512", 6);                     /* model_prefix */
    pb_put_key(m, 3, 0), pb_put_varint(m, (uint64_t)model_type);
    pb_put_key(m, 4, 0), pb_put_varint(m, 512);          /* vocab_size */
    pb_put_key(m, 35, 0), pb_put_varint(m, 1);           /* byte_fallback */
    pb_put_key(m, 40, 0), pb_put_varint(m, 0);           /* unk_id */
    pb_put_key(m, 41, 0), pb_put_varint(m, 1);           /* bos_id */
    pb_put_key(m, 42, 0), pb_put_varint(m, 2);           /* eos_id */
    pb_put_key(m, 43, 0), pb_put_varint(m, (uint64_t)-1); /* pad_id -1: ten bytes */
    long n = ftell(m);
    fclose(m);
    pb_put_bytes(f, 2, spec, (size_t)n);
    m = fmemopen(spec, sizeof spec, "wb");
    pb_put_bytes(m, 1, "identity", 8);
    pb_put_key(m, 3, 0), pb_put_varint(m, 1); /* add_dummy_prefix */
    pb_put_key(m, 4, 0), pb_put_varint(m, 0); /* remove_extra_whitespaces */
    n = ftell(m);
    fclose(m);
    pb_put_bytes(f, 3, spec, (size_t)n);
    fclose(f);
}

static void write_spm_model(const spm_pieces *v, const char *path, int model_type) { write_spm_model_user(v, path, model_type, -1); }

typedef struct {
    int piece, left, right;
} spm_merge;

static const spm_pieces *merge_order_vocab;
static int merge_order(const void *x, const void *y)
{
    const spm_merge *a = x, *b = y;
    float sa = merge_order_vocab->score[a->piece], sb = merge_order_vocab->score[b->piece];
    if (sa != sb) return sa > sb ? -1 : 1;
    if (a->piece != b->piece) return a->piece - b->piece;
    return a->left != b->left ? a->left - b->left : a->right - b->right;
}

static int piece_id(const spm_pieces *v, const char *s, size_t n)
{
    for (int i = 0; i < v->n; i++)
        if (strlen(v->piece[i]) == n && memcmp(v->piece[i], s, n) == 0) return i;
    return -1;
}

/* tokenizer.json: metaspace selects the newer form (no normalizer, a Metaspace pre-tokenizer,
 * merges as pairs) over the older (Prepend + Replace normalizer, merges as "a b"). */
static void write_hf_json(const spm_pieces *v, const char *path, int metaspace)
{
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model"), *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < 3; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", i);
        cJSON_AddStringToObject(t, "content", v->piece[i]);
        cJSON_AddBoolToObject(t, "special", 1);
        cJSON_AddItemToArray(added, t);
    }
    if (metaspace) {
        cJSON_AddNullToObject(root, "normalizer");
        cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
        cJSON_AddStringToObject(pre, "type", "Metaspace");
        cJSON_AddStringToObject(pre, "replacement", "\xe2\x96\x81");
        cJSON_AddStringToObject(pre, "prepend_scheme", "first");
        cJSON_AddBoolToObject(pre, "split", 0);
    } else {
        cJSON *norm = cJSON_AddObjectToObject(root, "normalizer"), *steps = cJSON_AddArrayToObject(norm, "normalizers");
        cJSON_AddStringToObject(norm, "type", "Sequence");
        cJSON *p = cJSON_CreateObject(), *r = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "Prepend");
        cJSON_AddStringToObject(p, "prepend", "\xe2\x96\x81");
        cJSON_AddStringToObject(r, "type", "Replace");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "pattern"), "String", " ");
        cJSON_AddStringToObject(r, "content", "\xe2\x96\x81");
        cJSON_AddItemToArray(steps, p);
        cJSON_AddItemToArray(steps, r);
        cJSON_AddNullToObject(root, "pre_tokenizer");
    }
    cJSON *post = cJSON_AddObjectToObject(root, "post_processor"), *single = cJSON_AddArrayToObject(post, "single");
    cJSON_AddStringToObject(post, "type", "TemplateProcessing");
    cJSON *bos = cJSON_CreateObject(), *a = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(bos, "SpecialToken"), "id", "<s>");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(a, "Sequence"), "id", "A");
    cJSON_AddItemToArray(single, bos);
    cJSON_AddItemToArray(single, a);
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddBoolToObject(model, "byte_fallback", 1);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab"), *merges = cJSON_AddArrayToObject(model, "merges");
    spm_merge *all = malloc(8192 * sizeof *all);
    int n = 0;
    for (int i = 0; i < v->n; i++) {
        cJSON_AddNumberToObject(vocab, v->piece[i], i);
        if (i < 3 || strncmp(v->piece[i], "<0x", 3) == 0) continue;
        size_t len = strlen(v->piece[i]);
        for (size_t k = 1; k < len; k++) {
            if (((unsigned char)v->piece[i][k] & 0xc0) == 0x80) continue; /* splits between characters */
            int l = piece_id(v, v->piece[i], k), r = piece_id(v, v->piece[i] + k, len - k);
            if (l >= 0 && r >= 0) all[n++] = (spm_merge){i, l, r};
        }
    }
    merge_order_vocab = v;
    qsort(all, (size_t)n, sizeof *all, merge_order);
    for (int i = 0; i < n; i++) {
        if (metaspace) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateString(v->piece[all[i].left]));
            cJSON_AddItemToArray(pair, cJSON_CreateString(v->piece[all[i].right]));
            cJSON_AddItemToArray(merges, pair);
        } else {
            char line[256];
            snprintf(line, sizeof line, "%s %s", v->piece[all[i].left], v->piece[all[i].right]);
            cJSON_AddItemToArray(merges, cJSON_CreateString(line));
        }
    }
    char *json = cJSON_Print(root);
    qh_err err;
    ck_assert_msg(qh_write_file(path, json, strlen(json), &err) == 0, "%s", err.msg);
    free(json);
    free(all);
    cJSON_Delete(root);
}

void tu_write_stories_tokenizer(const char *path, int kind)
{
    spm_pieces v;
    read_tok512(&v);
    if (kind <= 1) write_spm_model(&v, path, kind == 0 ? 2 : 1);
    else write_hf_json(&v, path, kind == 3);
    for (int k = 0; k < v.n; k++) free(v.piece[k]);
}

/* The path of source i: a shipped file, or one of the files above written into dir. */
static char *spm_source(int i, const char *dir)
{
    static const char *shipped[] = {"golden/gguf/stories260K-f32.gguf", "models/stories260K/tok512.bin"};
    if (i < 2) return tu_shared_path(shipped[i]);
    if (i == 2) {
        char *path = qh_path_join(dir, "tokenizer.model");
        tu_write_stories_tokenizer(path, 0);
        return path;
    }
    char *path = qh_path_join(dir, i == 3 ? "older" : "metaspace"), *file = qh_path_join(path, "tokenizer.json");
    mkdir(path, 0755);
    tu_write_stories_tokenizer(file, i == 3 ? 2 : 3);
    free(file);
    return path;
}

/* A SentencePiece ("llama") vocabulary from GGUF metadata (stories260K's, as llama.cpp
 * converted it), from the llama2.c tokenizer file it was converted from, and from the
 * tokenizer.model and tokenizer.json (two forms) above: llama-tokenize's ids of the shipped
 * TinyStories text (a BOS, then the text as one string), all 404,019 of them; the tokens
 * decode to the text with the leading space the vocabulary adds. */
START_TEST(sentencepiece_vocabulary_matches_llama_tokenize)
{
    char *dir = tu_tmpdir(), *path = spm_source(_i, dir), *ids_path = tu_shared_path("golden/tinystories_valid_first1000.ids.txt");
    char *text_path = tu_shared_path("data/tinystories/valid_first1000.txt");
    qh_tokenizer *tok;
    qh_err err;
    ck_assert_msg(qh_tokenizer_load_dir(path, &tok, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(qh_tokenizer_vocab_size(tok), 512);
    ck_assert_int_eq(qh_tokenizer_bos_added(tok), 1);
    char *text, *golden;
    size_t len, glen;
    ck_assert_msg(qh_read_file(text_path, &text, &len, &err) == 0, "%s", err.msg);
    ck_assert_msg(qh_read_file(ids_path, &golden, &glen, &err) == 0, "%s", err.msg);
    int *ids;
    size_t n;
    ck_assert_int_eq(qh_encode(tok, text_path, text, len, &ids, &n, &err), 0);
    ck_assert_uint_eq(n + 1, 404019);
    char *p = golden, *end;
    ck_assert_int_eq(strtol(p, &end, 10), 1); /* the BOS */
    p = end;
    for (size_t i = 0; i < n; i++, p = end) {
        long want = strtol(p, &end, 10);
        ck_assert_msg(end != p && want == ids[i], "token %zu: %d, llama.cpp %ld", i + 1, ids[i], want);
    }
    size_t at = 0, tl;
    for (size_t i = 0; i < n; i++) {
        const char *b = qh_token_bytes(tok, ids[i], &tl);
        for (size_t k = 0; k < tl; k++, at++) {
            char want = at == 0 ? ' ' : text[at - 1];
            ck_assert_msg(b[k] == want, "byte %zu of the decoded tokens differs", at);
        }
    }
    ck_assert_uint_eq(at, len + 1);
    /* a character no piece holds falls back to <0xXX> tokens (ids 3 + byte here): U+4E2D's three */
    int *e;
    size_t ne;
    ck_assert_int_eq(qh_encode(tok, "x", "\xe4\xb8\xad", 3, &e, &ne, &err), 0);
    ck_assert_uint_eq(ne, 4);
    ck_assert_int_eq(e[1], 3 + 0xe4);
    ck_assert_int_eq(e[2], 3 + 0xb8);
    ck_assert_int_eq(e[3], 3 + 0xad);
    free(e);
    free(ids);
    free(text);
    free(golden);
    qh_tokenizer_free(tok);
    free(path);
    free(ids_path);
    free(text_path);
    free(dir);
}
END_TEST

/* A USER_DEFINED piece of a tokenizer.model (Gemma's runs of whitespace and HTML tags are such
 * pieces) is cut out of the text before the rest is encoded, as llama.cpp cuts the user-defined
 * tokens (token_type 4) its converter copies into GGUF: the same ids as from GGUF metadata of
 * the same pieces, scores and types (the GGUF reader is held to llama.cpp on Gemma 3), and not
 * those of the vocabulary without the type. */
START_TEST(tokenizer_model_user_defined_pieces_are_cut_as_from_gguf)
{
    spm_pieces v;
    read_tok512(&v);
    int user = -1;
    for (int i = 259; i < v.n && user < 0; i++)
        if (strcmp(v.piece[i], "ing") == 0) user = i;
    ck_assert_int_ge(user, 0);
    char *dir = tu_tmpdir(), *model = qh_path_join(dir, "tokenizer.model"), *plain = qh_path_join(dir, "plain.model"),
         *gguf = qh_path_join(dir, "vocab.gguf");
    write_spm_model_user(&v, model, 2, user);
    write_spm_model(&v, plain, 2);
    float scores[512];
    int32_t types[512];
    for (int i = 0; i < v.n; i++) {
        scores[i] = v.score[i];
        types[i] = i == 0 ? 2 : i <= 2 ? 3 : strncmp(v.piece[i], "<0x", 3) == 0 ? 6 : i == user ? 4 : 1;
    }
    qh_gguf_writer *w = qh_gguf_writer_new(0);
    qh_gguf_put_str(w, "general.architecture", "llama");
    qh_gguf_put_str(w, "tokenizer.ggml.model", "llama");
    qh_gguf_put_str_array(w, "tokenizer.ggml.tokens", v.piece, (uint64_t)v.n);
    qh_gguf_put_f32_array(w, "tokenizer.ggml.scores", scores, (uint64_t)v.n);
    qh_gguf_put_i32_array(w, "tokenizer.ggml.token_type", types, (uint64_t)v.n);
    qh_gguf_put_u32(w, "tokenizer.ggml.bos_token_id", 1);
    qh_err err;
    ck_assert_msg(qh_gguf_write(w, gguf, &err) == 0, "%s", err.msg);
    qh_gguf_writer_free(w);
    const char *text = "The king was singing a thing.";
    int *ids[3];
    size_t n[3];
    const char *paths[3] = {model, gguf, plain};
    for (int k = 0; k < 3; k++) {
        qh_tokenizer *tok;
        ck_assert_msg(qh_tokenizer_load_dir(paths[k], &tok, &err) == 0, "%s: %s", paths[k], err.msg);
        ck_assert_int_eq(qh_encode(tok, "t", text, strlen(text), &ids[k], &n[k], &err), 0);
        qh_tokenizer_free(tok);
    }
    ck_assert_uint_eq(n[0], n[1]);
    ck_assert(memcmp(ids[0], ids[1], n[0] * sizeof(int)) == 0);
    int cut = 0;
    for (size_t i = 0; i < n[0]; i++) cut += ids[0][i] == user;
    ck_assert_int_eq(cut, 4); /* k-ing, s-ing-ing, th-ing: every occurrence */
    ck_assert(n[0] != n[2] || memcmp(ids[0], ids[2], n[0] * sizeof(int)) != 0);
    for (int k = 0; k < 3; k++) free(ids[k]);
    for (int k = 0; k < v.n; k++) free(v.piece[k]);
    free(model);
    free(plain);
    free(gguf);
    free(dir);
}
END_TEST

/* GPT-2's vocabulary as a tokenizer.json (vocab.json and merges.txt inside one file, as
 * Hugging Face's tokenizers write it): the reference encoder's ids of all of WikiText-2 test. */
START_TEST(gpt2_tokenizer_json_matches_the_reference)
{
    char *dir = tu_tmpdir(), *json_path = qh_path_join(dir, "tokenizer.json"), *vocab_text, *merges_text;
    char *v = tu_home_path("models/gpt2-gutenberg-18m/vocab.json"), *m = tu_home_path("models/gpt2-gutenberg-18m/merges.txt");
    size_t vl, ml;
    qh_err err;
    ck_assert_msg(qh_read_file(v, &vocab_text, &vl, &err) == 0 && qh_read_file(m, &merges_text, &ml, &err) == 0, "%s", err.msg);
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model"), *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON_AddBoolToObject(pre, "add_prefix_space", 0);
    cJSON_AddBoolToObject(pre, "use_regex", 1);
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddItemToObject(model, "vocab", cJSON_Parse(vocab_text));
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (char *line = strtok(merges_text, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "#version", 8) != 0) cJSON_AddItemToArray(merges, cJSON_CreateString(line));
    char *json = cJSON_PrintUnformatted(root);
    ck_assert(qh_write_file(json_path, json, strlen(json), &err) == 0);
    qh_tokenizer *tok;
    ck_assert_msg(qh_tokenizer_load_dir(dir, &tok, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(qh_tokenizer_bos_added(tok), -1);
    tu_check_encodes_wikitext2_test(tok);
    qh_tokenizer_free(tok);
    /* a byte-level vocabulary with another split in front (Llama 3's regex) is refused */
    cJSON *seq = cJSON_CreateObject(), *steps = cJSON_AddArrayToObject(seq, "pretokenizers"), *split = cJSON_CreateObject();
    cJSON_AddStringToObject(seq, "type", "Sequence");
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddItemToArray(steps, split);
    cJSON_AddItemToArray(steps, cJSON_Duplicate(pre, 1));
    cJSON_ReplaceItemInObject(root, "pre_tokenizer", seq);
    free(json);
    json = cJSON_PrintUnformatted(root);
    ck_assert(qh_write_file(json_path, json, strlen(json), &err) == 0);
    ck_assert_int_eq(qh_tokenizer_load_dir(dir, &tok, &err), -1);
    ck_assert_msg(strstr(err.msg, json_path) && strstr(err.msg, "a ByteLevel step in a Sequence"), "%s", err.msg);
    free(json);
    cJSON_Delete(root);
    free(vocab_text);
    free(merges_text);
    free(v);
    free(m);
    free(json_path);
    free(dir);
}
END_TEST

/* Loads path, which must fail with a message holding the path and want. */
static void assert_refused(const char *path, const char *want)
{
    qh_tokenizer *tok;
    qh_err err;
    ck_assert_int_eq(qh_tokenizer_load_dir(path, &tok, &err), -1);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}

/* Broken and unsupported SentencePiece files: refused by file, place and problem. */
START_TEST(malformed_sentencepiece_files)
{
    char *dir = tu_tmpdir(), *model = qh_path_join(dir, "tokenizer.model"), *data;
    spm_pieces v;
    read_tok512(&v);
    write_spm_model(&v, model, 2);
    size_t len;
    qh_err err;
    ck_assert(qh_read_file(model, &data, &len, &err) == 0);
    /* cut inside a key, a length, a piece and the specs: each cut named by its byte */
    size_t cuts[] = {1, 2, 9, len / 2, len - 3};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        ck_assert(qh_write_file(model, data, cuts[i], &err) == 0);
        assert_refused(model, ": byte ");
    }
    data[0] = 0x0b; /* field 1 with wire type 3: a group */
    ck_assert(qh_write_file(model, data, len, &err) == 0);
    assert_refused(model, "byte 1: wire type 3");
    write_spm_model(&v, model, 1);
    assert_refused(model, "model_type is 1 (unigram)");
    ck_assert(qh_write_file(model, "", 0, &err) == 0);
    assert_refused(model, "no pieces");
    ck_assert(qh_write_file(model, "\x0a\x07\x0a\x05<unk>", 9, &err) == 0);
    assert_refused(model, "model_type is 1"); /* no trainer_spec: SentencePiece's default, unigram */
    unlink(model);
    /* tokenizer.json */
    char *json_path = qh_path_join(dir, "tokenizer.json");
    static const struct { const char *json, *msg; } bad[] = {
        {"[1, 2]", "not a JSON object"},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "model.type is 'Unigram'"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": [], \"merges\": []}}", "model.vocab must be an object"},
        {"{\"normalizer\": {\"type\": \"NFKC\"}, \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "normalizer 'NFKC' is not supported"},
        {"{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "pre_tokenizer 'Whitespace' is not supported"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}", "neither a ByteLevel pre-tokenizer"},
        {"{\"model\": {\"type\": \"BPE\", \"end_of_word_suffix\": \"</w>\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "model.end_of_word_suffix is set"},
        {"{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 2}, \"merges\": []}}",
         "ids must be 0..1 without gaps"},
        {"{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}",
         "model.merges[0] names tokens missing"},
        {"{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"ab\"]}}",
         "model.merges[0]: a merge is"},
        {"{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}}",
         "no byte fallback <0x00>"},
        {"{\"added_tokens\": [{\"id\": 5, \"content\": \"<pad>\"}], \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "added_tokens: '<pad>' is not a token of model.vocab"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert(qh_write_file(json_path, bad[i].json, strlen(bad[i].json), &err) == 0);
        assert_refused(json_path, bad[i].msg);
    }
    for (int k = 0; k < v.n; k++) free(v.piece[k]);
    free(data);
    free(json_path);
    free(model);
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
    tcase_add_loop_test(tc, sentencepiece_vocabulary_matches_llama_tokenize, 0, 5);
    tcase_add_test(tc, gpt2_tokenizer_json_matches_the_reference);
    tcase_add_test(tc, malformed_sentencepiece_files);
    tcase_add_test(tc, tokenizer_model_user_defined_pieces_are_cut_as_from_gguf);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
