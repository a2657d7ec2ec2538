/* tokenizer.c - GPT-2 byte-level BPE, and SentencePiece-style BPE (llama.cpp's "llama"
 * vocabularies, from GGUF metadata); see tokenizer.h.
 *
 * Vocabulary strings are stored in GPT-2's printable byte-to-unicode form; we convert each to
 * the raw bytes it stands for, so that BPE runs directly on the text's bytes:
 * a piece starts as one token per byte and merges (a, b) -> ab are applied lowest rank first.
 * Pieces repeat a lot in real text, so their encodings are cached. */
#define _GNU_SOURCE /* memmem */
#include "harness/model/tokenizer.h"

#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

struct qh_tokenizer {
    int n_vocab;
    char **token_bytes;       /* raw bytes of each id */
    size_t *token_len;
    int byte_token[256];      /* id of each single byte */
    qh_strmap vocab;          /* raw bytes -> id */
    qh_u64map merges;         /* (left id, right id) -> rank << 32 | merged id */
    qh_strmap cache;          /* piece bytes -> index into cache_ids */
    int *cache_ids;           /* [count, ids...] records */
    size_t cache_used, cache_cap;
    int bos_added;            /* the id a model of this vocabulary expects first, or -1 (GPT-2) */
    /* SentencePiece (spm != 0): vocab maps piece text ("\xe2\x96\x81" for a space) to ids,
     * byte_token holds the <0xXX> fallbacks, and merges go by the merged piece's score */
    int spm;
    float *scores;
    int add_space_prefix;
    /* tokenizer.json's SentencePiece-style BPE: pairs merge by the rank of their entry in merges
     * (as Hugging Face's BPE does), not by the merged piece's score */
    int spm_ranked;
    /* byte-level BPE: each \p{N} code point is a piece of its own before GPT-2's regex splits the
     * rest (llama.cpp's smollm family of pre-tokenizers; Hugging Face's Digits(individual_digits)) */
    int split_digits;
    /* a byte-level vocabulary may lack some single-byte tokens (SmolLM2's lacks control bytes):
     * a text holding such a byte is refused, naming it */
    int missing_bytes;
    /* SentencePiece from GGUF: the user-defined tokens (token_type 4; Gemma's runs of spaces,
     * tabs and newlines, its HTML tags), longest first.  llama.cpp cuts every occurrence of
     * them out of the text before the rest is encoded, even with special tokens not parsed */
    int *user_tokens;
    int n_user_tokens;
};

/* GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to 256+k. */
static void byte_unicode_table(int table[256])
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        table[b] = printable ? b : 256 + n++;
    }
}

/* Converts a vocabulary string (byte-to-unicode form) back to raw bytes. */
static int unicode_to_bytes(const char *s, size_t len, const int inverse[512], char *out, size_t *out_len)
{
    size_t k = 0, i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (step <= 0 || cp < 0 || cp >= 512 || inverse[cp] < 0) return -1;
        out[k++] = (char)inverse[cp];
        i += (size_t)step;
    }
    *out_len = k;
    return 0;
}

static uint64_t pair_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

void qh_tokenizer_free(qh_tokenizer *tok)
{
    if (!tok) return;
    for (int i = 0; i < tok->n_vocab; i++) free(tok->token_bytes[i]);
    free(tok->token_bytes);
    free(tok->token_len);
    qh_strmap_free(&tok->vocab);
    qh_u64map_free(&tok->merges);
    qh_strmap_free(&tok->cache);
    free(tok->cache_ids);
    free(tok->scores);
    free(tok->user_tokens);
    free(tok);
}

int qh_tokenizer_bos_added(const qh_tokenizer *tok)
{
    return tok->bos_added;
}

int qh_tokenizer_vocab_size(const qh_tokenizer *tok) { return tok->n_vocab; }

int qh_tokenizer_start_token(const qh_tokenizer *tok)
{
    return tok->bos_added >= 0 ? tok->bos_added : qh_token_id(tok, "<|endoftext|>");
}

int qh_tokenizer_encodes_alone_differently(const qh_tokenizer *tok) { return tok->spm && tok->add_space_prefix; }

int *qh_token_byte_lengths(const qh_tokenizer *tok, int n_vocab)
{
    int *lengths = qh_calloc((size_t)n_vocab, sizeof(int));
    for (int i = 0; i < n_vocab; i++) {
        size_t len;
        qh_token_bytes(tok, i, &len);
        lengths[i] = (int)len;
    }
    return lengths;
}

const char *qh_token_bytes(const qh_tokenizer *tok, int id, size_t *len)
{
    if (id < 0 || id >= tok->n_vocab || !tok->token_bytes[id]) {
        *len = 0;
        return "";
    }
    *len = tok->token_len[id];
    return tok->token_bytes[id];
}

int qh_token_id(const qh_tokenizer *tok, const char *bytes)
{
    int id;
    return qh_strmap_get(&tok->vocab, bytes, strlen(bytes), &id) ? id : -1;
}

/* Token id: str (GPT-2's byte-level alphabet, slen bytes) into the vocabulary. */
static int add_token(qh_tokenizer *tok, const char *source, const char *str, size_t slen, int id, const int inverse[512],
                     qh_err *err)
{
    size_t blen;
    char *bytes = qh_malloc(slen + 1);
    if (unicode_to_bytes(str, slen, inverse, bytes, &blen) != 0) {
        free(bytes);
        return qh_fail(err, "%s: token '%.*s' (id %d) is not in GPT-2's byte-level alphabet", source, (int)slen, str, id);
    }
    if (tok->token_bytes[id]) {
        free(bytes);
        return qh_fail(err, "%s: id %d is used twice", source, id);
    }
    tok->token_bytes[id] = bytes;
    tok->token_len[id] = blen;
    qh_strmap_put(&tok->vocab, bytes, blen, id);
    return 0;
}

/* Every byte has a single-byte token; where allow_missing (a GGUF's vocabulary, as llama.cpp
 * reads it) some may be left out: those map to -1 and qh_encode refuses a text that holds one,
 * but printable ASCII must be there. */
static int check_byte_tokens(qh_tokenizer *tok, const char *source, int allow_missing, qh_err *err)
{
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        if (qh_strmap_get(&tok->vocab, &c, 1, &tok->byte_token[b])) continue;
        if (!allow_missing || (b >= 0x20 && b < 0x7f))
            return qh_fail(err, "%s: vocabulary lacks the single-byte token for byte 0x%02x", source, b);
        tok->byte_token[b] = -1;
        tok->missing_bytes = 1;
    }
    return 0;
}

/* tokenizer.ggml.pre: the pre-tokenizers llama.cpp names that are GPT-2's regex, alone or after
 * splitting off every digit (llama.cpp's llama-vocab.cpp, the regex_exprs of each type) */
static const struct {
    const char *name;
    int split_digits;
} bpe_pre_tokenizers[] = {
    {"gpt-2", 0},     {"mpt", 0},      {"olmo", 0},      {"jais", 0},     {"trillion", 0},
    {"smollm", 1},    {"starcoder", 1}, {"refact", 1},   {"command-r", 1}, {"codeshell", 1},
    {"exaone", 1},    {"minerva", 1},
};

static void vocab_init(qh_tokenizer *tok, int n)
{
    tok->n_vocab = n;
    tok->bos_added = -1;
    tok->token_bytes = qh_calloc((size_t)n, sizeof(char *));
    tok->token_len = qh_calloc((size_t)n, sizeof(size_t));
    qh_strmap_init(&tok->vocab, (size_t)n);
}

/* The vocabulary object {"token": id, ...} (vocab.json, or tokenizer.json's model.vocab). */
/* The size of a {"token": id, ...} object whose ids are 0..n-1 without gaps, or -1 with err set. */
static int vocab_json_size(const char *source, const cJSON *root, qh_err *err)
{
    if (!cJSON_IsObject(root)) return qh_fail(err, "%s: vocabulary is not a valid JSON object", source);
    int n = cJSON_GetArraySize(root), max_id = -1;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble >= 1e7 ||
            item->valuedouble != (int)item->valuedouble)
            return qh_fail(err, "%s: token '%s' has no valid integer id", source, item->string);
        if (item->valueint > max_id) max_id = item->valueint;
    }
    if (n == 0 || max_id + 1 != n)
        return qh_fail(err, "%s: vocabulary ids must be 0..%d without gaps (largest id is %d)", source, n - 1, max_id);
    return n;
}

static int vocab_from_json(qh_tokenizer *tok, const char *source, const cJSON *root, const int inverse[512], qh_err *err)
{
    int n = vocab_json_size(source, root, err);
    if (n < 0) return -1;
    const cJSON *item;
    vocab_init(tok, n);
    cJSON_ArrayForEach(item, root)
    {
        if (add_token(tok, source, item->string, strlen(item->string), item->valueint, inverse, err) != 0) return -1;
    }
    return check_byte_tokens(tok, source, 0, err);
}

static int load_vocab(qh_tokenizer *tok, const char *path, const int inverse[512], qh_err *err)
{
    char *text = NULL;
    size_t len;
    if (qh_read_file(path, &text, &len, err) != 0) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    int rc = root ? vocab_from_json(tok, path, root, inverse, err)
                  : qh_fail(err, "%s: vocabulary is not a valid JSON object", path);
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* The merge "A B" (ll bytes) of the given rank; where names its place in messages
 * ("merges.txt:12", "file.gguf: tokenizer.ggml.merges[11]").  scratch holds ll bytes. */
static int add_merge(qh_tokenizer *tok, const char *source, int line_no, const char *line, size_t ll, int rank,
                     const int inverse[512], char *scratch, qh_err *err)
{
    const char *space = memchr(line, ' ', ll);
    if (!space || space == line || space == line + ll - 1 || memchr(space + 1, ' ', (size_t)(line + ll - space - 1)))
        return qh_fail(err, "%s:%d: a merge line must be two tokens separated by one space", source, line_no);
    size_t la, lb;
    if (unicode_to_bytes(line, (size_t)(space - line), inverse, scratch, &la) != 0 ||
        unicode_to_bytes(space + 1, (size_t)(line + ll - space - 1), inverse, scratch + la, &lb) != 0)
        return qh_fail(err, "%s:%d: merge uses characters outside GPT-2's byte-level alphabet", source, line_no);
    int a, b, ab;
    if (!qh_strmap_get(&tok->vocab, scratch, la, &a) || !qh_strmap_get(&tok->vocab, scratch + la, lb, &b) ||
        !qh_strmap_get(&tok->vocab, scratch, la + lb, &ab))
        return qh_fail(err, "%s:%d: merge '%.*s' names tokens missing from the vocabulary", source, line_no, (int)ll,
                       line);
    uint64_t old;
    if (!qh_u64map_get(&tok->merges, pair_key(a, b), &old))
        qh_u64map_put(&tok->merges, pair_key(a, b), (uint64_t)rank << 32 | (uint32_t)ab);
    return 0;
}

static int load_merges(qh_tokenizer *tok, const char *path, const int inverse[512], qh_err *err)
{
    char *text = NULL;
    size_t len;
    if (qh_read_file(path, &text, &len, err) != 0) return -1;
    qh_u64map_init(&tok->merges, len / 8 + 16); /* a merge line is at least 4 bytes; the map grows */
    char *bytes = qh_malloc(len + 1);
    int rank = 0, line_no = 0, rc = -1;
    char *line = text;
    while (line < text + len) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) end = text + len;
        line_no++;
        size_t ll = (size_t)(end - line);
        if (ll && line[ll - 1] == '\r') ll--;
        if (ll == 0 || (line_no == 1 && strncmp(line, "#version", 8) == 0)) {
            line = end + 1;
            continue;
        }
        if (add_merge(tok, path, line_no, line, ll, rank, inverse, bytes, err) != 0) goto cleanup;
        rank++;
        line = end + 1;
    }
    if (rank == 0) {
        qh_fail(err, "%s: no merges", path);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(bytes);
    free(text);
    return rc;
}

static void alphabet(int inverse[512]);

int qh_tokenizer_load(const char *vocab_path, const char *merges_path, qh_tokenizer **out, qh_err *err)
{
    int inverse[512];
    alphabet(inverse);
    qh_tokenizer *tok = qh_calloc(1, sizeof *tok);
    if (load_vocab(tok, vocab_path, inverse, err) != 0 || load_merges(tok, merges_path, inverse, err) != 0) {
        qh_tokenizer_free(tok);
        return -1;
    }
    qh_strmap_init(&tok->cache, 1 << 8); /* grows with the text */
    *out = tok;
    return 0;
}

static void alphabet(int inverse[512])
{
    int table[256];
    byte_unicode_table(table);
    for (int i = 0; i < 512; i++) inverse[i] = -1;
    for (int b = 0; b < 256; b++) inverse[table[b]] = b;
}

/* ---- SentencePiece-style BPE (llama.cpp's llm_tokenizer_spm) ------------------------------
 *
 * The text gets a leading space (tokenizer.ggml.add_space_prefix, default true) and every space
 * becomes U+2581; it starts as one symbol per UTF-8 character; the adjacent pair whose
 * concatenation is a piece of the highest score is merged first (ties: the leftmost), until no
 * pair is a piece; a symbol that is not a piece is written as its bytes' <0xXX> tokens. */

static const char spm_space[] = "\xe2\x96\x81";

/* The array of strings under key (at most max elements), or NULL with err set. */
static const qh_gguf_kv *gguf_strings(const qh_gguf *g, const char *key, uint64_t max, qh_err *err)
{
    const qh_gguf_kv *kv = qh_gguf_find(g, key);
    if (!kv || kv->type != QH_GGUF_ARRAY || kv->elem_type != QH_GGUF_STRING || kv->n == 0 || kv->n > max) {
        qh_fail(err, "%s: %s must be a non-empty array of strings", g->path, key);
        return NULL;
    }
    return kv;
}

static int gguf_bool(const qh_gguf *g, const char *key, int def)
{
    const qh_gguf_kv *kv = qh_gguf_find(g, key);
    return kv && kv->type == QH_GGUF_BOOL ? kv->u != 0 : def;
}

/* Piece i of a SentencePiece vocabulary (text in U+2581 form) with its score. */
static void spm_add_piece(qh_tokenizer *tok, int i, const char *t, size_t len, float score)
{
    tok->scores[i] = score;
    qh_strmap_put(&tok->vocab, t, len, i); /* a repeated piece: the later id, as llama.cpp */
    /* the raw bytes it stands for: U+2581 is a space, <0xXX> one byte */
    char *raw = qh_malloc(len + 1);
    size_t rl = 0;
    unsigned byte;
    if (len == 6 && sscanf(t, "<0x%2X>", &byte) == 1 && t[5] == '>') raw[rl++] = (char)byte;
    else
        for (size_t k = 0; k < len;) {
            if (k + 3 <= len && memcmp(t + k, spm_space, 3) == 0) raw[rl++] = ' ', k += 3;
            else raw[rl++] = t[k++];
        }
    raw[rl] = 0;
    free(tok->token_bytes[i]);
    tok->token_bytes[i] = raw;
    tok->token_len[i] = rl;
}

static qh_tokenizer *spm_new(int n)
{
    qh_tokenizer *tok = qh_calloc(1, sizeof *tok);
    vocab_init(tok, n);
    tok->spm = 1;
    tok->scores = qh_calloc((size_t)n, sizeof(float));
    tok->add_space_prefix = 1;
    return tok;
}

/* The byte fallbacks and the BOS rule, once every piece is in; frees tok on failure. */
static int spm_finish(qh_tokenizer *tok, const char *source, int64_t bos_id, int add_bos, qh_tokenizer **out, qh_err *err)
{
    for (int b = 0; b < 256; b++) { /* llama.cpp's byte_to_token: <0xXX>, else the byte itself as a piece */
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        char one = (char)b;
        if (!qh_strmap_get(&tok->vocab, hex, 6, &tok->byte_token[b]) && !qh_strmap_get(&tok->vocab, &one, 1, &tok->byte_token[b])) {
            qh_fail(err, "%s: no byte fallback <0x%02X> (nor the byte as a piece)", source, b);
            qh_tokenizer_free(tok);
            return -1;
        }
    }
    tok->bos_added = -1;
    if (add_bos) {
        if (bos_id < 0 || bos_id >= tok->n_vocab) {
            qh_fail(err, "%s: the BOS id %lld is not a token", source, (long long)bos_id);
            qh_tokenizer_free(tok);
            return -1;
        }
        tok->bos_added = (int)bos_id;
    }
    qh_strmap_init(&tok->cache, 1 << 8);
    *out = tok;
    return 0;
}

static const qh_tokenizer *sort_tok; /* qsort has no user pointer; set just around the sort */
static int by_length_desc(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    size_t la = sort_tok->token_len[a], lb = sort_tok->token_len[b];
    return la != lb ? (la < lb ? 1 : -1) : (a > b) - (a < b);
}

/* llama.cpp sorts its special tokens by length, longest first (ties in no stated order; here
 * by id: no two of Gemma's user-defined tokens of one length can overlap in a text) */
static void user_tokens_sort(qh_tokenizer *tok)
{
    if (tok->n_user_tokens < 2) return; /* also: qsort of NULL is undefined, even for no items */
    sort_tok = tok;
    qsort(tok->user_tokens, (size_t)tok->n_user_tokens, sizeof(int), by_length_desc);
    sort_tok = NULL;
}

static int spm_from_gguf(const qh_gguf *g, qh_tokenizer **out, qh_err *err)
{
    const qh_gguf_kv *tokens = gguf_strings(g, "tokenizer.ggml.tokens", 1u << 24, err),
                     *scores = qh_gguf_find(g, "tokenizer.ggml.scores");
    if (!tokens) return -1;
    if (!scores || scores->type != QH_GGUF_ARRAY || scores->elem_type != QH_GGUF_F32 || scores->n != tokens->n)
        return qh_fail(err, "%s: tokenizer.ggml.scores must be an array of %llu f32 (one per token)", g->path,
                       (unsigned long long)tokens->n);
    qh_tokenizer *tok = spm_new((int)tokens->n);
    for (uint64_t i = 0; i < tokens->n; i++) {
        uint64_t len;
        const char *t = qh_gguf_array_str(g, tokens, i, &len);
        spm_add_piece(tok, (int)i, t, len, (float)qh_gguf_array_num(scores, i));
    }
    tok->add_space_prefix = gguf_bool(g, "tokenizer.ggml.add_space_prefix", 1);
    const qh_gguf_kv *types = qh_gguf_find(g, "tokenizer.ggml.token_type");
    if (types && (types->type != QH_GGUF_ARRAY || types->n != tokens->n)) {
        qh_tokenizer_free(tok);
        return qh_fail(err, "%s: tokenizer.ggml.token_type must be an array of %llu integers (one per token)", g->path,
                       (unsigned long long)tokens->n);
    }
    for (uint64_t i = 0; types && i < types->n; i++)
        if (qh_gguf_array_num(types, i) == 4 /* LLAMA_TOKEN_TYPE_USER_DEFINED */ && tok->token_len[i] > 0) {
            tok->user_tokens = qh_realloc(tok->user_tokens, (size_t)(tok->n_user_tokens + 1) * sizeof(int));
            tok->user_tokens[tok->n_user_tokens++] = (int)i;
        }
    user_tokens_sort(tok);
    int64_t bos_id = 1;
    if (qh_gguf_find(g, "tokenizer.ggml.bos_token_id") && qh_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &bos_id, err) != 0) {
        qh_tokenizer_free(tok);
        return -1;
    }
    char where[4200];
    snprintf(where, sizeof where, "%s: tokenizer.ggml.tokens", g->path);
    /* llama.cpp's default for these vocabularies: add the BOS */
    return spm_finish(tok, where, bos_id, gguf_bool(g, "tokenizer.ggml.add_bos_token", 1), out, err);
}

int qh_tokenizer_load_llama2c(const char *path, qh_tokenizer **out, qh_err *err)
{
    char *data;
    size_t len;
    if (qh_read_file(path, &data, &len, err) != 0) return -1;
    /* u32 longest token; per token: f32 score, u32 length, the bytes (spaces as ' ') */
    uint32_t max_len = 0;
    size_t at = 4;
    int n = 0;
    if (len >= 4) memcpy(&max_len, data, 4);
    if (len < 4 || max_len == 0 || max_len > 65536) {
        free(data);
        return qh_fail(err, "%s: byte 0: not a llama2.c tokenizer (longest token %u)", path, max_len);
    }
    for (; at < len; n++) { /* count and check first */
        uint32_t tl;
        float sc;
        if (len - at < 8 || (memcpy(&sc, data + at, 4), memcpy(&tl, data + at + 4, 4), tl > max_len) || len - at - 8 < tl ||
            !isfinite(sc) || n == (1 << 24)) {
            qh_fail(err, "%s: byte %zu: token %d is truncated or longer than the %u bytes the header allows", path, at, n,
                    max_len);
            free(data);
            return -1;
        }
        at += 8 + tl;
    }
    if (n < 3) {
        free(data);
        return qh_fail(err, "%s: %d tokens (a llama2.c vocabulary has <unk>, <s>, </s> and the byte fallbacks)", path, n);
    }
    qh_tokenizer *tok = spm_new(n);
    char *piece = qh_malloc(3 * (size_t)max_len + 1);
    at = 4;
    for (int i = 0; i < n; i++) {
        uint32_t tl;
        float sc;
        memcpy(&sc, data + at, 4);
        memcpy(&tl, data + at + 4, 4);
        const char *t = data + at + 8;
        at += 8 + tl;
        size_t pl = 0;
        /* llama2.c's export wrote "\n<s>\n" and "\n</s>\n" for BOS and EOS, and ' ' for U+2581 */
        if (i <= 2 && tl >= 2 && t[0] == '\n' && t[tl - 1] == '\n') t++, tl -= 2;
        for (uint32_t k = 0; k < tl; k++)
            if (t[k] == ' ') memcpy(piece + pl, spm_space, 3), pl += 3;
            else piece[pl++] = t[k];
        spm_add_piece(tok, i, piece, pl, sc);
    }
    free(piece);
    free(data);
    return spm_finish(tok, path, 1, 1, out, err); /* run.c encodes with the BOS, id 1 */
}

/* ---- SentencePiece's tokenizer.model: a protobuf ModelProto ------------------------------
 *
 * The fields read (sentencepiece_model.proto): pieces = 1 {piece = 1, score = 2, type = 3},
 * trainer_spec = 2 {model_type = 3 (1 unigram, 2 BPE), bos_id = 41 (default 1; -1: none)},
 * normalizer_spec = 3 {add_dummy_prefix = 3 (default true)}; every other field is skipped by
 * its wire type.  Every piece goes into the vocabulary with its score, whatever its type, and
 * the normalization rules (precompiled_charsmap, remove_extra_whitespaces) are not applied: what
 * llama.cpp's converter keeps and its tokenizer does, so ids are llama.cpp's.  (protobuf-c would
 * need code generated from the schema at build time for five wire rules and three messages.) */

typedef struct {
    const unsigned char *base, *p, *end; /* the file; the read position; the end of this message */
    const char *path;
} pb_in;

static int pb_fail(const pb_in *in, qh_err *err, const char *what)
{
    return qh_fail(err, "%s: byte %zu: %s", in->path, (size_t)(in->p - in->base), what);
}

static int pb_varint(pb_in *in, uint64_t *v, qh_err *err)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (in->p == in->end) return pb_fail(in, err, "truncated varint");
        unsigned char b = *in->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return pb_fail(in, err, "varint longer than ten bytes");
}

typedef struct {
    uint32_t field;
    int wire;                   /* 0 varint, 1 fixed 64, 2 length-delimited, 5 fixed 32 */
    uint64_t u;                 /* varint or fixed value */
    const unsigned char *data;  /* length-delimited: the bytes */
    size_t len;
} pb_field;

/* The next field of the message being read. */
static int pb_next(pb_in *in, pb_field *f, qh_err *err)
{
    uint64_t key = 0;
    if (pb_varint(in, &key, err) != 0) return -1;
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff) return pb_fail(in, err, "field number 0 or above 2^29 - 1");
    f->field = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    size_t left = (size_t)(in->end - in->p);
    switch (f->wire) {
    case 0: return pb_varint(in, &f->u, err);
    case 1:
    case 5: {
        size_t k = f->wire == 1 ? 8 : 4;
        if (left < k) return pb_fail(in, err, "truncated fixed-width field");
        f->u = 0;
        memcpy(&f->u, in->p, k); /* little-endian, as the wire format */
        in->p += k;
        return 0;
    }
    case 2:
        if (pb_varint(in, &f->u, err) != 0) return -1;
        if (f->u > (uint64_t)(in->end - in->p)) return pb_fail(in, err, "length-delimited field runs past its message");
        f->data = in->p;
        f->len = (size_t)f->u;
        in->p += f->len;
        return 0;
    default: return pb_fail(in, err, "wire type 3, 4, 6 or 7 (groups or invalid): not in SentencePiece's schema");
    }
}

/* A field of the expected wire type, or an error naming it. */
static int pb_want(const pb_in *in, const pb_field *f, int wire, const char *name, qh_err *err)
{
    if (f->wire == wire) return 0;
    char what[128];
    snprintf(what, sizeof what, "field %u (%s) has wire type %d, not %d", f->field, name, f->wire, wire);
    return pb_fail(in, err, what);
}

static pb_in pb_sub(const pb_in *in, const pb_field *f)
{
    return (pb_in){in->base, f->data, f->data + f->len, in->path};
}

int qh_tokenizer_load_spm_model(const char *path, qh_tokenizer **out, qh_err *err)
{
    char *data;
    size_t len;
    if (qh_read_file(path, &data, &len, err) != 0) return -1;
    pb_in top = {(const unsigned char *)data, (const unsigned char *)data, (const unsigned char *)data + len, path};
    pb_field f;
    uint64_t n = 0, model_type = 1, add_dummy_prefix = 1;
    int64_t bos_id = 1;
    qh_tokenizer *tok = NULL;
    while (top.p < top.end) { /* pass 1: count the pieces, read the two specs */
        if (pb_next(&top, &f, err) != 0) goto fail;
        if (f.field == 1) {
            if (pb_want(&top, &f, 2, "ModelProto.pieces", err) != 0) goto fail;
            if (++n > (1u << 24)) {
                pb_fail(&top, err, "more than 2^24 pieces");
                goto fail;
            }
        } else if (f.field == 2 || f.field == 3) {
            if (pb_want(&top, &f, 2, f.field == 2 ? "ModelProto.trainer_spec" : "ModelProto.normalizer_spec", err) != 0) goto fail;
            pb_in spec = pb_sub(&top, &f);
            int is_trainer = f.field == 2;
            while (spec.p < spec.end) {
                pb_field g;
                if (pb_next(&spec, &g, err) != 0) goto fail;
                uint64_t *dst = is_trainer && g.field == 3 ? &model_type : !is_trainer && g.field == 3 ? &add_dummy_prefix : NULL;
                if (is_trainer && g.field == 41) {
                    if (pb_want(&spec, &g, 0, "TrainerSpec.bos_id", err) != 0) goto fail;
                    bos_id = (int32_t)(uint32_t)g.u; /* int32: negative values are sign-extended varints */
                } else if (dst) {
                    if (pb_want(&spec, &g, 0, is_trainer ? "TrainerSpec.model_type" : "NormalizerSpec.add_dummy_prefix", err) != 0)
                        goto fail;
                    *dst = g.u;
                }
            }
        }
    }
    if (n < 1) {
        qh_fail(err, "%s: no pieces (not a SentencePiece model)", path);
        goto fail;
    }
    if (model_type != 2) { /* absent: SentencePiece's default, unigram */
        static const char *const types[] = {"?", "unigram", "BPE", "word", "char"};
        qh_fail(err, "%s: trainer_spec.model_type is %llu (%s): qharness reads BPE SentencePiece models (llama.cpp's "
                "'llama' vocabularies), not Viterbi-segmented ones", path, (unsigned long long)model_type,
                types[model_type < 5 ? model_type : 0]);
        goto fail;
    }
    tok = spm_new((int)n);
    tok->add_space_prefix = add_dummy_prefix != 0;
    top.p = top.base;
    for (int i = 0; top.p < top.end;) { /* pass 2: the pieces, checked as pass 1 did the rest */
        if (pb_next(&top, &f, err) != 0) goto fail;
        if (f.field != 1) continue;
        pb_in piece = pb_sub(&top, &f);
        const unsigned char *text = NULL;
        size_t text_len = 0;
        float score = 0;
        while (piece.p < piece.end) {
            pb_field g;
            if (pb_next(&piece, &g, err) != 0) goto fail;
            if (g.field == 1) {
                if (pb_want(&piece, &g, 2, "SentencePiece.piece", err) != 0) goto fail;
                text = g.data, text_len = g.len;
            } else if (g.field == 2) {
                uint32_t bits = (uint32_t)g.u;
                if (pb_want(&piece, &g, 5, "SentencePiece.score", err) != 0) goto fail;
                memcpy(&score, &bits, 4);
                if (!isfinite(score)) {
                    pb_fail(&piece, err, "a piece's score is not finite");
                    goto fail;
                }
            }
        }
        if (!text || text_len == 0) {
            char what[64];
            snprintf(what, sizeof what, "piece %d has no text", i);
            pb_fail(&piece, err, what);
            goto fail;
        }
        spm_add_piece(tok, i++, (const char *)text, text_len, score);
    }
    free(data);
    return spm_finish(tok, path, bos_id, bos_id >= 0, out, err);
fail:
    if (tok) qh_tokenizer_free(tok);
    free(data);
    return -1;
}

/* ---- Hugging Face's tokenizer.json (model type BPE) ----------------------------------------
 *
 * Two kinds are read, each only where its encoding is what qharness implements:
 *  - byte-level BPE (GPT-2): a ByteLevel pre-tokenizer (GPT-2's regex, no prefix space);
 *  - SentencePiece-style BPE (Llama, Mistral): no pre-tokenizer or Metaspace, a normalizer
 *    that prepends and/or replaces spaces with U+2581, byte_fallback; pairs merge by the rank
 *    of their merges entry, as Hugging Face's BPE does.
 * The BOS comes from the post-processor's template (a special token in front of $A).  Added
 * tokens must be pieces of model.vocab with the same id (special tokens are not split off the
 * text, as elsewhere in qharness). */

static const cJSON *json_get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static int json_type_is(const cJSON *o, const char *type)
{
    const cJSON *t = json_get(o, "type");
    return cJSON_IsString(t) && strcmp(t->valuestring, type) == 0;
}

static const char *json_type(const cJSON *o)
{
    const cJSON *t = json_get(o, "type");
    return cJSON_IsString(t) ? t->valuestring : "(no type)";
}

/* The steps of a normalizer, pre-tokenizer or post-processor o (its list when a Sequence):
 * how many (at most 16), or -1 with err set. */
static int json_steps(const char *path, const char *what, const cJSON *o, const char *list, const cJSON *steps[16], qh_err *err)
{
    if (!o || cJSON_IsNull(o)) return 0;
    if (!json_type_is(o, "Sequence")) {
        steps[0] = o;
        return 1;
    }
    const cJSON *arr = json_get(o, list), *e;
    int n = 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > 16)
        return qh_fail(err, "%s: %s: a Sequence needs a '%s' array of at most 16 steps", path, what, list);
    cJSON_ArrayForEach(e, arr) steps[n++] = e;
    return n;
}

/* The merges entry i ("a b", or ["a", "b"] since tokenizers 0.20) as its two halves. */
static int json_merge(const char *path, const cJSON *e, int i, const char **a, size_t *la, const char **b, size_t *lb, qh_err *err)
{
    if (cJSON_IsString(e)) {
        const char *s = e->valuestring, *sp = strchr(s, ' ');
        if (sp && sp != s && sp[1] && !strchr(sp + 1, ' ')) {
            *a = s, *la = (size_t)(sp - s), *b = sp + 1, *lb = strlen(sp + 1);
            return 0;
        }
    } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) && cJSON_IsString(e->child->next) &&
               e->child->valuestring[0] && e->child->next->valuestring[0]) {
        *a = e->child->valuestring, *la = strlen(*a), *b = e->child->next->valuestring, *lb = strlen(*b);
        return 0;
    }
    return qh_fail(err, "%s: model.merges[%d]: a merge is \"A B\" or [\"A\", \"B\"] (two non-empty tokens)", path, i);
}

/* The id the template puts before $A, or -1. */
static int json_bos(const char *path, const cJSON *post, const cJSON *vocab, int64_t *bos, qh_err *err)
{
    *bos = -1;
    const cJSON *steps[16];
    int n = json_steps(path, "post_processor", post, "processors", steps, err);
    for (int k = 0; k < n; k++) {
        const cJSON *step = steps[k];
        if (!json_type_is(step, "TemplateProcessing")) continue;
        const cJSON *single = json_get(step, "single"), *first = cJSON_IsArray(single) ? single->child : NULL;
        const cJSON *special = first ? json_get(first, "SpecialToken") : NULL, *id = special ? json_get(special, "id") : NULL;
        if (!special) return 0;
        const cJSON *v = cJSON_IsString(id) ? json_get(vocab, id->valuestring) : NULL;
        if (!cJSON_IsNumber(v))
            return qh_fail(err, "%s: post_processor: the template's leading special token is not in model.vocab", path);
        *bos = (int64_t)v->valuedouble;
    }
    return n < 0 ? -1 : 0;
}

/* SentencePiece-style: decides add_space_prefix from the normalizer and pre-tokenizer, or refuses. */
static int json_spm_steps(const char *path, const cJSON *norm, const cJSON *pre, int *prefix, qh_err *err)
{
    *prefix = 0;
    const cJSON *steps[16];
    int n = json_steps(path, "normalizer", norm, "normalizers", steps, err);
    for (int k = 0; k < n; k++) {
        const cJSON *step = steps[k];
        const cJSON *v = json_get(step, "prepend"), *pat = json_get(step, "pattern"), *content = json_get(step, "content");
        const cJSON *str = pat ? json_get(pat, "String") : NULL;
        if (json_type_is(step, "Prepend") && cJSON_IsString(v) && strcmp(v->valuestring, spm_space) == 0) *prefix = 1;
        else if (!(json_type_is(step, "Replace") && cJSON_IsString(str) && strcmp(str->valuestring, " ") == 0 &&
                   cJSON_IsString(content) && strcmp(content->valuestring, spm_space) == 0))
            return qh_fail(err, "%s: normalizer '%s' is not supported: qharness reads SentencePiece-style vocabularies whose "
                           "normalizer only prepends U+2581 and replaces spaces with it", path, json_type(step));
    }
    int m = n < 0 ? -1 : json_steps(path, "pre_tokenizer", pre, "pretokenizers", steps, err);
    for (int k = 0; k < m; k++) {
        const cJSON *step = steps[k];
        const cJSON *rep = json_get(step, "replacement"), *scheme = json_get(step, "prepend_scheme"), *add = json_get(step, "add_prefix_space");
        if (!json_type_is(step, "Metaspace") || !cJSON_IsString(rep) || strcmp(rep->valuestring, spm_space) != 0)
            return qh_fail(err, "%s: pre_tokenizer '%s' is not supported with a SentencePiece-style vocabulary (Metaspace with "
                           "U+2581 is)", path, json_type(step));
        *prefix = cJSON_IsString(scheme) ? strcmp(scheme->valuestring, "never") != 0 : !cJSON_IsFalse(add);
    }
    return n < 0 || m < 0 ? -1 : 0;
}

int qh_tokenizer_load_hf_json(const char *path, qh_tokenizer **out, qh_err *err)
{
    char *text = NULL, *scratch = NULL;
    size_t len;
    qh_tokenizer *tok = NULL;
    int rc = -1;
    if (qh_read_file(path, &text, &len, err) != 0) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *model = root ? json_get(root, "model") : NULL, *vocab = model ? json_get(model, "vocab") : NULL,
                *merges = model ? json_get(model, "merges") : NULL, *pre = root ? json_get(root, "pre_tokenizer") : NULL;
    if (!cJSON_IsObject(root)) {
        qh_fail(err, "%s: not a JSON object", path);
        goto cleanup;
    }
    if (!cJSON_IsObject(model) || !json_type_is(model, "BPE")) {
        qh_fail(err, "%s: model.type is '%s': qharness reads BPE tokenizers", path, model ? json_type(model) : "(no model)");
        goto cleanup;
    }
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        qh_fail(err, "%s: model.vocab must be an object and model.merges an array", path);
        goto cleanup;
    }
    /* what changes BPE itself: affixes on word pieces (CLIP's "</w>"), random dropout of merges */
    static const char *const unsupported[] = {"continuing_subword_prefix", "end_of_word_suffix", "dropout"};
    for (int k = 0; k < 3; k++) {
        const cJSON *o = json_get(model, unsupported[k]);
        if (o && !cJSON_IsNull(o) && !(cJSON_IsString(o) && !o->valuestring[0]) && !(cJSON_IsNumber(o) && o->valuedouble == 0)) {
            qh_fail(err, "%s: model.%s is set: qharness's BPE has no word affixes and no dropout", path, unsupported[k]);
            goto cleanup;
        }
    }
    int byte_level = 0;
    const cJSON *steps[16];
    int n_pre = json_steps(path, "pre_tokenizer", pre, "pretokenizers", steps, err);
    if (n_pre < 0) goto cleanup;
    for (int k = 0; k < n_pre; k++) {
        if (!json_type_is(steps[k], "ByteLevel")) continue;
        const cJSON *regex = json_get(steps[k], "use_regex"), *space = json_get(steps[k], "add_prefix_space");
        if (n_pre > 1 || cJSON_IsFalse(regex) || cJSON_IsTrue(space)) {
            qh_fail(err, "%s: pre_tokenizer: a ByteLevel step %s: qharness implements GPT-2's pre-tokenization only", path,
                    n_pre > 1 ? "in a Sequence (another split, e.g. Llama 3's regex)" : "without GPT-2's regex or with a prefix space");
            goto cleanup;
        }
        byte_level = 1;
    }
    const cJSON *norm = json_get(root, "normalizer");
    if (byte_level && norm && !cJSON_IsNull(norm)) {
        qh_fail(err, "%s: normalizer '%s' with a ByteLevel pre-tokenizer: GPT-2 has none, and qharness applies none", path, json_type(norm));
        goto cleanup;
    }
    const cJSON *added = json_get(root, "added_tokens"), *a;
    if (!cJSON_IsArray(added)) added = NULL;
    cJSON_ArrayForEach(a, added)
    {
        const cJSON *content = json_get(a, "content"), *id = json_get(a, "id"), *v = cJSON_IsString(content) ? json_get(vocab, content->valuestring) : NULL;
        if (!cJSON_IsNumber(id) || !cJSON_IsNumber(v) || v->valuedouble != id->valuedouble) {
            qh_fail(err, "%s: added_tokens: '%s' is not a token of model.vocab with the same id (special tokens outside the "
                    "vocabulary are not supported)", path, cJSON_IsString(content) ? content->valuestring : "?");
            goto cleanup;
        }
    }
    int n_merges = cJSON_GetArraySize(merges), i = 0;
    const cJSON *e;
    char where[4200];
    snprintf(where, sizeof where, "%s: model.vocab", path);
    if (byte_level) { /* GPT-2: the byte-to-unicode alphabet, as vocab.json + merges.txt */
        int inverse[512];
        alphabet(inverse);
        tok = qh_calloc(1, sizeof *tok);
        if (vocab_from_json(tok, where, vocab, inverse, err) != 0) goto cleanup;
        snprintf(where, sizeof where, "%s: model.merges", path);
        qh_u64map_init(&tok->merges, (size_t)n_merges + 16);
        cJSON_ArrayForEach(e, merges)
        {
            const char *ma, *mb;
            size_t la, lb;
            if (json_merge(path, e, i, &ma, &la, &mb, &lb, err) != 0) goto cleanup;
            scratch = qh_realloc(scratch, 2 * (la + lb + 2)); /* the "a b" line, then add_merge's bytes */
            char *line = scratch + la + lb + 2;
            memcpy(line, ma, la), line[la] = ' ', memcpy(line + la + 1, mb, lb);
            if (add_merge(tok, where, i, line, la + lb + 1, i, inverse, scratch, err) != 0) goto cleanup;
            i++;
        }
        qh_strmap_init(&tok->cache, 1 << 8);
        *out = tok;
        tok = NULL;
        rc = 0;
        goto cleanup;
    }
    const cJSON *fallback = json_get(model, "byte_fallback");
    int prefix;
    if (json_spm_steps(path, norm, pre, &prefix, err) != 0) goto cleanup;
    if (!cJSON_IsTrue(fallback)) {
        qh_fail(err, "%s: neither a ByteLevel pre-tokenizer (GPT-2) nor model.byte_fallback (SentencePiece-style)", path);
        goto cleanup;
    }
    int n = vocab_json_size(where, vocab, err);
    if (n < 0) goto cleanup;
    tok = spm_new(n);
    tok->add_space_prefix = prefix;
    tok->spm_ranked = 1;
    cJSON_ArrayForEach(e, vocab)
    {
        if (!e->string[0]) {
            qh_fail(err, "%s: token '' has no valid integer id", where);
            goto cleanup;
        }
        if (tok->token_bytes[e->valueint]) {
            qh_fail(err, "%s: id %d is used twice", where, e->valueint);
            goto cleanup;
        }
        spm_add_piece(tok, e->valueint, e->string, strlen(e->string), 0);
    }
    qh_u64map_init(&tok->merges, (size_t)n_merges + 16);
    cJSON_ArrayForEach(e, merges)
    {
        const char *ma, *mb;
        size_t la, lb;
        int ia, ib, iab;
        if (json_merge(path, e, i, &ma, &la, &mb, &lb, err) != 0) goto cleanup;
        scratch = qh_realloc(scratch, la + lb + 1);
        memcpy(scratch, ma, la), memcpy(scratch + la, mb, lb);
        if (!qh_strmap_get(&tok->vocab, ma, la, &ia) || !qh_strmap_get(&tok->vocab, mb, lb, &ib) ||
            !qh_strmap_get(&tok->vocab, scratch, la + lb, &iab)) {
            qh_fail(err, "%s: model.merges[%d] names tokens missing from model.vocab", path, i);
            goto cleanup;
        }
        uint64_t old;
        if (!qh_u64map_get(&tok->merges, pair_key(ia, ib), &old))
            qh_u64map_put(&tok->merges, pair_key(ia, ib), (uint64_t)i << 32 | (uint32_t)iab);
        i++;
    }
    int64_t bos;
    if (json_bos(path, json_get(root, "post_processor"), vocab, &bos, err) != 0) goto cleanup;
    rc = spm_finish(tok, path, bos, bos >= 0, out, err);
    tok = NULL; /* spm_finish frees it on failure */
cleanup:
    if (tok) qh_tokenizer_free(tok);
    free(scratch);
    cJSON_Delete(root);
    free(text);
    return rc;
}

typedef struct {
    int prev, next;
    size_t off, n; /* bytes of the escaped text; n = 0 once merged into its left neighbour */
} spm_symbol;

typedef struct {
    int left, right;
    float score;
    size_t size;
} spm_bigram;

/* the heap's order: higher score first, then the leftmost */
static int spm_before(const spm_bigram *a, const spm_bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct {
    spm_bigram *v;
    size_t n, cap;
} spm_heap;

static void heap_push(spm_heap *h, spm_bigram b)
{
    if (h->n == h->cap) h->v = qh_realloc(h->v, (h->cap = h->cap ? 2 * h->cap : 64) * sizeof *h->v);
    size_t i = h->n++;
    while (i > 0 && spm_before(&b, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = b;
}

static spm_bigram heap_pop(spm_heap *h)
{
    spm_bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && spm_before(&h->v[c + 1], &h->v[c])) c++;
        if (!spm_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static void spm_try_pair(const qh_tokenizer *tok, const char *s, const spm_symbol *sym, int left, int right, spm_heap *h)
{
    if (left < 0 || right < 0) return;
    int id;
    size_t size = sym[left].n + sym[right].n;
    if (tok->spm_ranked) {
        int a, b;
        uint64_t merge;
        if (!qh_strmap_get(&tok->vocab, s + sym[left].off, sym[left].n, &a) ||
            !qh_strmap_get(&tok->vocab, s + sym[right].off, sym[right].n, &b) || !qh_u64map_get(&tok->merges, pair_key(a, b), &merge))
            return;
        heap_push(h, (spm_bigram){left, right, -(float)(merge >> 32), size}); /* ranks below 2^24: exact */
        return;
    }
    if (!qh_strmap_get(&tok->vocab, s + sym[left].off, size, &id)) return;
    heap_push(h, (spm_bigram){left, right, tok->scores[id], size});
}

/* text is valid UTF-8; space_prefix: a space goes in front (llama.cpp: of the text, and of each
 * stretch after a user-defined token, when add_space_prefix is set) */
static void spm_encode_prefix(const qh_tokenizer *tok, const char *text, size_t len, int space_prefix, int **ids, size_t *n_ids)
{
    char *s = qh_malloc(3 * len + 4);
    size_t sl = 0;
    if (space_prefix && len) memcpy(s, spm_space, 3), sl = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(s + sl, spm_space, 3), sl += 3;
        else s[sl++] = text[i];
    }
    spm_symbol *sym = qh_malloc((sl + 1) * sizeof *sym);
    int n_sym = 0;
    for (size_t off = 0; off < sl; n_sym++) {
        static const unsigned char lead_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
        size_t n = lead_len[(unsigned char)s[off] >> 4];
        if (n > sl - off) n = sl - off;
        sym[n_sym] = (spm_symbol){n_sym - 1, off + n == sl ? -1 : n_sym + 1, off, n};
        off += n;
    }
    spm_heap h = {0};
    for (int i = 1; i < n_sym; i++) spm_try_pair(tok, s, sym, i - 1, i, &h);
    while (h.n) {
        spm_bigram b = heap_pop(&h);
        spm_symbol *l = &sym[b.left], *r = &sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* one side was merged since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        spm_try_pair(tok, s, sym, l->prev, b.left, &h);
        spm_try_pair(tok, s, sym, b.left, l->next, &h);
    }
    size_t cap = (size_t)n_sym + 16, n_out = 0;
    int *out = qh_malloc(cap * sizeof(int));
    for (int i = n_sym ? 0 : -1; i != -1; i = sym[i].next) {
        int id;
        if (n_out + sym[i].n + 1 > cap) out = qh_realloc(out, (cap = 2 * cap + sym[i].n) * sizeof(int));
        if (qh_strmap_get(&tok->vocab, s + sym[i].off, sym[i].n, &id)) out[n_out++] = id;
        else
            for (size_t k = 0; k < sym[i].n; k++) out[n_out++] = tok->byte_token[(unsigned char)s[sym[i].off + k]];
    }
    free(h.v);
    free(sym);
    free(s);
    *ids = out;
    *n_ids = n_out;
}

/* A stretch of the text, or (token >= 0) a user-defined token found in it. */
typedef struct {
    size_t off, len;
    int token;
} spm_fragment;

/* llama.cpp's tokenizer_st_partition for the user-defined tokens, then each stretch of text
 * between them encoded on its own: each token in turn (longest first) is cut out of every
 * stretch still text, at each of its occurrences from left to right. */
static void spm_encode(const qh_tokenizer *tok, const char *text, size_t len, int **ids, size_t *n_ids)
{
    if (!tok->n_user_tokens) {
        spm_encode_prefix(tok, text, len, tok->add_space_prefix, ids, n_ids);
        return;
    }
    size_t n_frag = 1, cap = 16;
    spm_fragment *frag = qh_malloc(cap * sizeof *frag), *next = NULL;
    frag[0] = (spm_fragment){0, len, -1};
    for (int u = 0; u < tok->n_user_tokens; u++) {
        int id = tok->user_tokens[u];
        const char *needle = tok->token_bytes[id];
        size_t nl = tok->token_len[id], n_next = 0, next_cap = n_frag + 16;
        next = qh_malloc(next_cap * sizeof *next);
        for (size_t f = 0; f < n_frag; f++) {
            spm_fragment fr = frag[f];
            while (fr.token < 0 && fr.len >= nl) {
                const char *hit = memmem(text + fr.off, fr.len, needle, nl);
                if (!hit) break;
                size_t at = (size_t)(hit - text);
                if (n_next + 3 > next_cap) next = qh_realloc(next, (next_cap = 2 * next_cap + 3) * sizeof *next);
                if (at > fr.off) next[n_next++] = (spm_fragment){fr.off, at - fr.off, -1};
                next[n_next++] = (spm_fragment){at, nl, id};
                fr.len -= at + nl - fr.off;
                fr.off = at + nl;
            }
            if (fr.len > 0 || fr.token >= 0) {
                if (n_next + 1 > next_cap) next = qh_realloc(next, (next_cap = 2 * next_cap + 1) * sizeof *next);
                next[n_next++] = fr;
            }
        }
        free(frag);
        frag = next;
        n_frag = n_next;
    }
    size_t out_cap = len / 2 + 16, n_out = 0;
    int *out = qh_malloc(out_cap * sizeof(int)), prev_special = 1;
    for (size_t f = 0; f < n_frag; f++) {
        int *part = NULL;
        size_t n_part = 0;
        if (frag[f].token >= 0) part = qh_malloc(sizeof(int)), part[0] = frag[f].token, n_part = 1;
        else spm_encode_prefix(tok, text + frag[f].off, frag[f].len, tok->add_space_prefix && prev_special, &part, &n_part);
        prev_special = frag[f].token >= 0;
        if (n_out + n_part > out_cap) out = qh_realloc(out, (out_cap = 2 * out_cap + n_part) * sizeof(int));
        memcpy(out + n_out, part, n_part * sizeof(int));
        n_out += n_part;
        free(part);
    }
    free(frag);
    *ids = out;
    *n_ids = n_out;
}

int qh_tokenizer_from_gguf(const qh_gguf *g, qh_tokenizer **out, qh_err *err)
{
    const char *model;
    uint64_t len;
    if (qh_gguf_get_str(g, "tokenizer.ggml.model", &model, &len, err) != 0) return -1;
    if (len == 5 && memcmp(model, "llama", 5) == 0) return spm_from_gguf(g, out, err);
    if (len != 4 || memcmp(model, "gpt2", 4) != 0)
        return qh_fail(err, "%s: tokenizer.ggml.model is '%.*s'; qharness reads 'gpt2' (byte-level BPE) and 'llama' "
                       "(SentencePiece) vocabularies", g->path, (int)len, model);
    const qh_gguf_kv *tokens = gguf_strings(g, "tokenizer.ggml.tokens", 1u << 24, err);
    const qh_gguf_kv *merges = tokens ? gguf_strings(g, "tokenizer.ggml.merges", UINT64_MAX, err) : NULL;
    if (!merges) return -1;
    int inverse[512];
    alphabet(inverse);
    qh_tokenizer *tok = qh_calloc(1, sizeof *tok);
    char where[4200];
    snprintf(where, sizeof where, "%s: tokenizer.ggml.tokens", g->path);
    vocab_init(tok, (int)tokens->n);
    for (uint64_t i = 0; i < tokens->n; i++) {
        const char *t = qh_gguf_array_str(g, tokens, i, &len);
        if (add_token(tok, where, t, len, (int)i, inverse, err) != 0) goto fail;
    }
    if (check_byte_tokens(tok, where, 1, err) != 0) goto fail;
    const char *pre;
    uint64_t pre_len;
    qh_err no_pre;
    if (qh_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pre_len, &no_pre) == 0) { /* absent: GPT-2's regex, as files before the key */
        size_t k = 0, n_pre = sizeof bpe_pre_tokenizers / sizeof *bpe_pre_tokenizers;
        while (k < n_pre && (strlen(bpe_pre_tokenizers[k].name) != pre_len || memcmp(bpe_pre_tokenizers[k].name, pre, pre_len) != 0)) k++;
        if (k == n_pre) {
            qh_fail(err, "%s: tokenizer.ggml.pre is '%.*s': a pre-tokenizer qharness does not implement (it implements GPT-2's regex: "
                    "gpt-2, mpt, olmo, jais, trillion; and after splitting off every digit: smollm, starcoder, refact, command-r, "
                    "codeshell, exaone, minerva)", g->path, (int)(pre_len < 64 ? pre_len : 64), pre);
            goto fail;
        }
        tok->split_digits = bpe_pre_tokenizers[k].split_digits;
    }
    snprintf(where, sizeof where, "%s: tokenizer.ggml.merges", g->path);
    qh_u64map_init(&tok->merges, (size_t)merges->n);
    for (uint64_t i = 0; i < merges->n; i++) {
        const char *mline = qh_gguf_array_str(g, merges, i, &len);
        char *scratch = qh_malloc(len + 1);
        int rc = add_merge(tok, where, (int)i, mline, len, (int)i, inverse, scratch, err);
        free(scratch);
        if (rc != 0) goto fail;
    }
    qh_strmap_init(&tok->cache, 1 << 8); /* grows with the text */
    /* llama.cpp's rule: tokenizer.ggml.add_bos_token, default false for a gpt2 vocabulary */
    int64_t bos_id;
    if (gguf_bool(g, "tokenizer.ggml.add_bos_token", 0) &&
        qh_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &bos_id, err) == 0 && bos_id >= 0 && bos_id < tok->n_vocab)
        tok->bos_added = (int)bos_id;
    *out = tok;
    return 0;
fail:
    qh_tokenizer_free(tok);
    return -1;
}

int qh_tokenizer_load_dir(const char *dir, qh_tokenizer **out, qh_err *err)
{
    if (qh_gguf_probe(dir)) { /* a GGUF file carries its own vocabulary */
        qh_gguf *g;
        if (qh_gguf_open(dir, &g, err) != 0) return -1;
        int rc = qh_tokenizer_from_gguf(g, out, err);
        qh_gguf_close(g);
        return rc;
    }
    size_t dl = strlen(dir);
    if (!qh_is_dir(dir)) { /* a tokenizer file named directly */
        if (dl > 4 && strcmp(dir + dl - 4, ".bin") == 0) return qh_tokenizer_load_llama2c(dir, out, err);
        if (dl > 6 && strcmp(dir + dl - 6, ".model") == 0) return qh_tokenizer_load_spm_model(dir, out, err);
        if (dl > 5 && strcmp(dir + dl - 5, ".json") == 0) return qh_tokenizer_load_hf_json(dir, out, err);
    }
    static const char *bins[] = {"tokenizer.bin", "tok512.bin"}; /* llama2.c's names */
    for (int i = 0; i < 2; i++) {
        char *b = qh_path_join(dir, bins[i]);
        if (qh_file_exists(b)) {
            int rc = qh_tokenizer_load_llama2c(b, out, err);
            free(b);
            return rc;
        }
        free(b);
    }
    static const char *pairs[][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    for (int i = 0; i < 2; i++) {
        char *v = qh_path_join(dir, pairs[i][0]), *m = qh_path_join(dir, pairs[i][1]);
        if (qh_file_exists(v) && qh_file_exists(m)) {
            int rc = qh_tokenizer_load(v, m, out, err);
            free(v);
            free(m);
            return rc;
        }
        free(v);
        free(m);
    }
    /* llama.cpp's converter, too, prefers the SentencePiece model to its tokenizer.json conversion */
    static const struct {
        const char *name;
        int (*load)(const char *, qh_tokenizer **, qh_err *);
    } files[] = {{"tokenizer.model", qh_tokenizer_load_spm_model}, {"tokenizer.json", qh_tokenizer_load_hf_json}};
    for (int i = 0; i < 2; i++) {
        char *f = qh_path_join(dir, files[i].name);
        if (qh_file_exists(f)) {
            int rc = files[i].load(f, out, err);
            free(f);
            return rc;
        }
        free(f);
    }
    return qh_fail(err, "%s: no tokenizer: expected vocab.json + merges.txt, encoder.json + vocab.bpe, llama2.c's tokenizer.bin, "
                   "tokenizer.model or tokenizer.json", dir);
}

/* ---- pre-tokenization ------------------------------------------------------------------- */

enum { CL_LETTER, CL_NUMBER, CL_SPACE, CL_OTHER };

static int char_class(utf8proc_int32_t cp)
{
    if (cp < 128) { /* fast path; same answers as the general one */
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CL_LETTER;
        if (cp >= '0' && cp <= '9') return CL_NUMBER;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return CL_SPACE;
        return CL_OTHER;
    }
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CL_LETTER;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CL_NUMBER;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return CL_SPACE;
    default: /* \s is Unicode White_Space: Z* plus the controls 9-13 and U+0085 */
        return cp == 0x85 ? CL_SPACE : CL_OTHER;
    }
}

/* BPE of one piece; appends ids to *out. */
static void bpe_piece(qh_tokenizer *tok, const unsigned char *p, size_t n, int **out, size_t *n_out, size_t *cap)
{
    int cached;
    if (qh_strmap_get(&tok->cache, (const char *)p, n, &cached)) {
        int count = tok->cache_ids[cached];
        if (*n_out + (size_t)count > *cap) {
            while (*n_out + (size_t)count > *cap) *cap *= 2;
            *out = qh_realloc(*out, *cap * sizeof(int));
        }
        memcpy(*out + *n_out, tok->cache_ids + cached + 1, (size_t)count * sizeof(int));
        *n_out += (size_t)count;
        return;
    }
    int stack_syms[64];
    int *sym = n <= 64 ? stack_syms : qh_malloc(n * sizeof(int));
    size_t m = n;
    for (size_t i = 0; i < n; i++) sym[i] = tok->byte_token[p[i]];
    while (m > 1) {
        uint64_t best_rank = UINT64_MAX, v;
        size_t best = 0;
        int best_id = -1;
        for (size_t i = 0; i + 1 < m; i++) {
            if (qh_u64map_get(&tok->merges, pair_key(sym[i], sym[i + 1]), &v) && (v >> 32) < best_rank) {
                best_rank = v >> 32;
                best = i;
                best_id = (int)(uint32_t)v;
            }
        }
        if (best_id < 0) break;
        /* merge every occurrence of this pair, left to right, as GPT-2's bpe() does */
        int a = sym[best], b = sym[best + 1];
        size_t w = 0;
        for (size_t i = 0; i < m;) {
            if (i + 1 < m && sym[i] == a && sym[i + 1] == b) {
                sym[w++] = best_id;
                i += 2;
            } else {
                sym[w++] = sym[i++];
            }
        }
        m = w;
    }
    if (tok->cache_used + m + 1 > tok->cache_cap) {
        tok->cache_cap = tok->cache_cap ? tok->cache_cap * 2 : 1 << 16;
        while (tok->cache_used + m + 1 > tok->cache_cap) tok->cache_cap *= 2;
        tok->cache_ids = qh_realloc(tok->cache_ids, tok->cache_cap * sizeof(int));
    }
    tok->cache_ids[tok->cache_used] = (int)m;
    memcpy(tok->cache_ids + tok->cache_used + 1, sym, m * sizeof(int));
    qh_strmap_put(&tok->cache, (const char *)p, n, (int)tok->cache_used);
    tok->cache_used += m + 1;
    if (*n_out + m > *cap) {
        while (*n_out + m > *cap) *cap *= 2;
        *out = qh_realloc(*out, *cap * sizeof(int));
    }
    memcpy(*out + *n_out, sym, m * sizeof(int));
    *n_out += m;
    if (sym != stack_syms) free(sym);
}

/* Length of a contraction ('s 't 're 've 'm 'll 'd) at position i, or 0. Lower case only, as
 * in GPT-2's pattern. */
static int contraction_len(const unsigned char *t, size_t i, size_t len)
{
    if (t[i] != '\'' || i + 1 >= len) return 0;
    unsigned char a = t[i + 1], b = i + 2 < len ? t[i + 2] : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

int qh_encode(qh_tokenizer *tok, const char *source, const char *text, size_t len, int **ids,
              size_t *n_ids, qh_err *err)
{
    if (qh_check_utf8(source, text, len, err) != 0) return -1;
    if (tok->spm) {
        spm_encode(tok, text, len, ids, n_ids);
        return 0;
    }
    if (tok->missing_bytes)
        for (size_t i = 0; i < len; i++)
            if (tok->byte_token[(unsigned char)text[i]] < 0)
                return qh_fail(err, "%s: byte 0x%02x at offset %zu has no token in the vocabulary (llama.cpp would drop it silently)", source,
                               (unsigned char)text[i], i);
    /* decode to code points with their byte offsets and classes */
    size_t n_cp = 0;
    uint32_t *offset = qh_malloc((len + 1) * sizeof *offset);
    unsigned char *cls = qh_malloc(len + 1);
    const unsigned char *t = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = t[i] < 0x80 ? (cp = t[i], 1)
                                            : utf8proc_iterate(t + i, (utf8proc_ssize_t)(len - i), &cp);
        offset[n_cp] = (uint32_t)i;
        cls[n_cp] = (unsigned char)char_class(cp);
        n_cp++;
        i += (size_t)step;
    }
    offset[n_cp] = (uint32_t)len;

    size_t cap = len / 3 + 16, n_out = 0;
    int *out = qh_malloc(cap * sizeof(int));
    /* GPT-2's regex runs on [i, end): the whole text, or (split_digits) the stretch up to the next digit */
    size_t i = 0, end = tok->split_digits ? 0 : n_cp;
    while (i < n_cp) {
        if (tok->split_digits) {
            if (cls[i] == CL_NUMBER) { /* a digit alone, before the regex sees anything */
                bpe_piece(tok, t + offset[i], offset[i + 1] - offset[i], &out, &n_out, &cap);
                i++;
                continue;
            }
            if (i >= end)
                for (end = i; end < n_cp && cls[end] != CL_NUMBER;) end++;
        }
        size_t j = i; /* piece is code points [i, j) */
        int c = cls[i];
        int cl;
        if ((cl = contraction_len(t, offset[i], len)) && offset[i] + (size_t)cl <= len) {
            j = i + (size_t)cl; /* contraction letters are ASCII: one code point per byte */
        } else if (c == CL_LETTER || c == CL_NUMBER || c == CL_OTHER ||
                   (t[offset[i]] == ' ' && i + 1 < end && cls[i + 1] != CL_SPACE)) {
            /* " ?X+" where X is the class of the first non-space code point */
            size_t k = (t[offset[i]] == ' ' && c == CL_SPACE) ? i + 1 : i;
            int want = cls[k];
            j = k + 1;
            while (j < end && cls[j] == want) j++;
        } else {
            /* whitespace run: \s+(?!\S) leaves the last space for the next piece unless the
             * run reaches the end (of the text, or of the stretch before a digit); a lone space
             * before a non-space falls through to \s+ */
            size_t k = i;
            while (k < end && cls[k] == CL_SPACE) k++;
            j = (k == end || k - i == 1) ? k : k - 1;
        }
        bpe_piece(tok, t + offset[i], offset[j] - offset[i], &out, &n_out, &cap);
        i = j;
    }
    free(offset);
    free(cls);
    *ids = out;
    *n_ids = n_out;
    return 0;
}

/* raw bytes -> GPT-2's byte-to-unicode form, NUL-terminated, malloc'd */
int qh_tokenizer_export_spm(const qh_tokenizer *tok, char ***pieces, float **scores, int32_t **types, qh_err *err)
{
    if (!tok->spm) return qh_fail(err, "the vocabulary is byte-level BPE, not SentencePiece-style");
    int n = tok->n_vocab;
    char **p = qh_calloc((size_t)n, sizeof *p);
    float *sc = qh_malloc((size_t)n * sizeof *sc);
    int32_t *ty = qh_malloc((size_t)n * sizeof *ty);
    for (int i = 0; i < n; i++) {
        const char *raw = tok->token_bytes[i] ? tok->token_bytes[i] : "";
        size_t len = tok->token_bytes[i] ? tok->token_len[i] : 0;
        char hex[8];
        int id;
        snprintf(hex, sizeof hex, "<0x%02X>", len == 1 ? (unsigned char)raw[0] : 0);
        int is_byte = len == 1 && qh_strmap_get(&tok->vocab, hex, 6, &id) && id == i;
        char *t = p[i] = qh_malloc(3 * len + 8);
        if (is_byte) memcpy(t, hex, 7);
        else {
            size_t k = 0;
            for (size_t j = 0; j < len; j++)
                if (raw[j] == ' ') memcpy(t + k, spm_space, 3), k += 3;
                else t[k++] = raw[j];
            t[k] = 0;
        }
        sc[i] = tok->scores[i];
        /* llama_token_type: 1 normal, 2 unknown, 3 control, 6 byte; SentencePiece's default texts
         * name the unknown and end-of-sequence pieces */
        ty[i] = is_byte ? 6 : i == tok->bos_added || strcmp(t, "</s>") == 0 ? 3 : strcmp(t, "<unk>") == 0 ? 2 : 1;
    }
    for (int u = 0; u < tok->n_user_tokens; u++) ty[tok->user_tokens[u]] = 4;
    *pieces = p;
    *scores = sc;
    *types = ty;
    return 0;
}

static char *bytes_to_unicode(const char *b, size_t len, const int table[256])
{
    char *out = qh_malloc(len * 2 + 1);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) k += (size_t)utf8proc_encode_char(table[(unsigned char)b[i]], (utf8proc_uint8_t *)out + k);
    out[k] = 0;
    return out;
}

typedef struct {
    uint64_t rank;
    int a, b;
} ranked_merge;

static int by_rank(const void *x, const void *y)
{
    const ranked_merge *p = x, *q = y;
    return p->rank < q->rank ? -1 : p->rank > q->rank;
}

int qh_tokenizer_export(const qh_tokenizer *tok, char ***tokens, char ***merges, int *n_merges, qh_err *err)
{
    if (tok->spm) return qh_fail(err, "a SentencePiece vocabulary is not written as GPT-2 tokens and merges");
    int table[256];
    byte_unicode_table(table);
    for (int i = 0; i < tok->n_vocab; i++)
        if (!tok->token_bytes[i]) return qh_fail(err, "the vocabulary has no token with id %d: it cannot be written as a list", i);
    *tokens = qh_malloc((size_t)tok->n_vocab * sizeof(char *));
    for (int i = 0; i < tok->n_vocab; i++) (*tokens)[i] = bytes_to_unicode(tok->token_bytes[i], tok->token_len[i], table);
    ranked_merge *list = qh_malloc((tok->merges.count + 1) * sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < tok->merges.cap; i++) {
        if (!tok->merges.keys[i]) continue;
        uint64_t key = tok->merges.keys[i] - 1; /* pair_key's offset */
        list[n++] = (ranked_merge){tok->merges.values[i] >> 32, (int)(key >> 32), (int)(uint32_t)key};
    }
    qsort(list, n, sizeof *list, by_rank);
    *merges = qh_malloc((n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        char *a = (*tokens)[list[i].a], *b = (*tokens)[list[i].b];
        size_t la = strlen(a), lb = strlen(b);
        char *m = qh_malloc(la + lb + 2);
        memcpy(m, a, la);
        m[la] = ' ';
        memcpy(m + la + 1, b, lb + 1);
        (*merges)[i] = m;
    }
    *n_merges = (int)n;
    free(list);
    return 0;
}

static int cmp_u64_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

void qh_tokenizer_sha256(const qh_tokenizer *tok, char out[65])
{
    qh_sha256_ctx c;
    qh_sha256_init(&c);
    int32_t head[5] = {tok->n_vocab, tok->bos_added, tok->spm, tok->add_space_prefix, tok->spm_ranked};
    qh_sha256_update(&c, head, sizeof head);
    for (int i = 0; i < tok->n_vocab; i++) {
        uint64_t len = tok->token_len[i];
        qh_sha256_update(&c, &len, sizeof len);
        if (len) qh_sha256_update(&c, tok->token_bytes[i], len);
    }
    if (tok->scores) qh_sha256_update(&c, tok->scores, (size_t)tok->n_vocab * sizeof(float));
    /* the merge table in key order: its hash layout depends on the order entries went in */
    uint64_t *pairs = qh_malloc((tok->merges.count + 1) * 2 * sizeof(uint64_t));
    size_t n = 0;
    for (size_t i = 0; i < tok->merges.cap; i++)
        if (tok->merges.keys[i]) {
            pairs[2 * n] = tok->merges.keys[i];
            pairs[2 * n + 1] = tok->merges.values[i];
            n++;
        }
    qsort(pairs, n, 2 * sizeof(uint64_t), cmp_u64_pair);
    qh_sha256_update(&c, pairs, n * 2 * sizeof(uint64_t));
    free(pairs);
    if (tok->n_user_tokens) /* they change how a text is cut; absent, the hash is what it always was */
        qh_sha256_update(&c, tok->user_tokens, (size_t)tok->n_user_tokens * sizeof(int));
    uint8_t d[32];
    qh_sha256_final(&c, d);
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}
