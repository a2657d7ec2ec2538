/* tokenizer.c - GPT-2 byte-level BPE and SentencePiece-style BPE: building a vocabulary, the
 * two encoders, and which file of a model directory holds the vocabulary (a table); see
 * tokenizer.h.  Each vocabulary format is read by its own file: tok_bpe_files.c (vocab.json +
 * merges.txt), tok_gguf.c (GGUF metadata), tok_llama2c.c (tokenizer.bin), tok_spm_model.c
 * (tokenizer.model), tok_hf_json.c (tokenizer.json); tok_export.c writes one back out.
 *
 * Vocabulary strings are stored in GPT-2's printable byte-to-unicode form; we convert each to
 * the raw bytes it stands for, so that BPE runs directly on the text's bytes:
 * a piece starts as one token per byte and merges (a, b) -> ab are applied lowest rank first.
 * Pieces repeat a lot in real text, so their encodings are cached. */
#define _GNU_SOURCE /* memmem */
#include "harness/model/tokenizer.h"
#include "harness/model/tokenizer_impl.h"

#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* GPT-2's qh_tok_bytes_to_unicode: printable bytes map to themselves, the others to 256+k. */
void qh_tok_byte_unicode_table(int table[256])
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

uint64_t qh_tok_pair_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

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
    free(tok->token_types);
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

/* Token id: str (GPT-2's byte-level qh_tok_alphabet, slen bytes) into the vocabulary. */
int qh_tok_add_token(qh_tokenizer *tok, const char *source, const char *str, size_t slen, int id, const int inverse[512],
                     qh_err *err)
{
    size_t blen;
    char *bytes = qh_malloc(slen + 1);
    if (unicode_to_bytes(str, slen, inverse, bytes, &blen) != 0) {
        free(bytes);
        return qh_fail(err, "%s: token '%.*s' (id %d) is not in GPT-2's byte-level qh_tok_alphabet", source, (int)slen, str, id);
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
int qh_tok_check_byte_tokens(qh_tokenizer *tok, const char *source, int allow_missing, qh_err *err)
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

void qh_tok_vocab_init(qh_tokenizer *tok, int n)
{
    tok->n_vocab = n;
    tok->bos_added = -1;
    tok->token_bytes = qh_calloc((size_t)n, sizeof(char *));
    tok->token_len = qh_calloc((size_t)n, sizeof(size_t));
    qh_strmap_init(&tok->vocab, (size_t)n);
}

/* The vocabulary object {"token": id, ...} (vocab.json, or tokenizer.json's model.vocab). */
/* The size of a {"token": id, ...} object whose ids are 0..n-1 without gaps, or -1 with err set. */
int qh_tok_add_merge(qh_tokenizer *tok, const char *source, int line_no, const char *line, size_t ll, int rank,
                     const int inverse[512], char *scratch, qh_err *err)
{
    const char *space = memchr(line, ' ', ll);
    if (!space || space == line || space == line + ll - 1 || memchr(space + 1, ' ', (size_t)(line + ll - space - 1)))
        return qh_fail(err, "%s:%d: a merge line must be two tokens separated by one space", source, line_no);
    size_t la, lb;
    if (unicode_to_bytes(line, (size_t)(space - line), inverse, scratch, &la) != 0 ||
        unicode_to_bytes(space + 1, (size_t)(line + ll - space - 1), inverse, scratch + la, &lb) != 0)
        return qh_fail(err, "%s:%d: merge uses characters outside GPT-2's byte-level qh_tok_alphabet", source, line_no);
    int a, b, ab;
    if (!qh_strmap_get(&tok->vocab, scratch, la, &a) || !qh_strmap_get(&tok->vocab, scratch + la, lb, &b) ||
        !qh_strmap_get(&tok->vocab, scratch, la + lb, &ab))
        return qh_fail(err, "%s:%d: merge '%.*s' names tokens missing from the vocabulary", source, line_no, (int)ll,
                       line);
    uint64_t old;
    if (!qh_u64map_get(&tok->merges, qh_tok_pair_key(a, b), &old))
        qh_u64map_put(&tok->merges, qh_tok_pair_key(a, b), (uint64_t)rank << 32 | (uint32_t)ab);
    return 0;
}


void qh_tok_alphabet(int inverse[512])
{
    int table[256];
    qh_tok_byte_unicode_table(table);
    for (int i = 0; i < 512; i++) inverse[i] = -1;
    for (int b = 0; b < 256; b++) inverse[table[b]] = b;
}

/* ---- SentencePiece-style BPE (llama.cpp's llm_tokenizer_spm) ------------------------------
 *
 * The text gets a leading space (tokenizer.ggml.add_space_prefix, default true) and every space
 * becomes U+2581; it starts as one symbol per UTF-8 character; the adjacent pair whose
 * concatenation is a piece of the highest score is merged first (ties: the leftmost), until no
 * pair is a piece; a symbol that is not a piece is written as its bytes' <0xXX> tokens. */

const char qh_tok_spm_space[] = "\xe2\x96\x81";

void qh_tok_spm_add_piece(qh_tokenizer *tok, int i, const char *t, size_t len, float score)
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
            if (k + 3 <= len && memcmp(t + k, qh_tok_spm_space, 3) == 0) raw[rl++] = ' ', k += 3;
            else raw[rl++] = t[k++];
        }
    raw[rl] = 0;
    free(tok->token_bytes[i]);
    tok->token_bytes[i] = raw;
    tok->token_len[i] = rl;
}

typedef struct {
    size_t len;
    int id;
} sized_token;

static int longest_first(const void *x, const void *y)
{
    const sized_token *a = x, *b = y;
    return a->len != b->len ? (a->len < b->len ? 1 : -1) : (a->id > b->id) - (a->id < b->id);
}

void qh_tok_set_types(qh_tokenizer *tok, int32_t *types)
{
    free(tok->token_types);
    tok->token_types = types;
    free(tok->user_tokens);
    tok->user_tokens = NULL;
    tok->n_user_tokens = 0;
    sized_token *user = qh_malloc((size_t)tok->n_vocab * sizeof *user + 1);
    int n = 0;
    for (int i = 0; i < tok->n_vocab; i++)
        if (types[i] == 4 /* LLAMA_TOKEN_TYPE_USER_DEFINED, SentencePiece's USER_DEFINED */ && tok->token_len[i] > 0)
            user[n++] = (sized_token){tok->token_len[i], i};
    /* llama.cpp sorts its special tokens by length, longest first (ties in no stated order; here
     * by id: no two of Gemma's user-defined tokens of one length can overlap in a text) */
    qsort(user, (size_t)n, sizeof *user, longest_first);
    if (n) {
        tok->user_tokens = qh_malloc((size_t)n * sizeof(int));
        for (int k = 0; k < n; k++) tok->user_tokens[k] = user[k].id;
        tok->n_user_tokens = n;
    }
    free(user);
}

qh_tokenizer *qh_tok_spm_new(int n)
{
    qh_tokenizer *tok = qh_calloc(1, sizeof *tok);
    qh_tok_vocab_init(tok, n);
    tok->spm = 1;
    tok->scores = qh_calloc((size_t)n, sizeof(float));
    tok->add_space_prefix = 1;
    tok->eos_id = tok->unk_id = tok->pad_id = -1;
    return tok;
}

/* The byte fallbacks and the BOS rule, once every piece is in; frees tok on failure. */
int qh_tok_spm_finish(qh_tokenizer *tok, const char *source, int64_t bos_id, int add_bos, qh_tokenizer **out, qh_err *err)
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
            !qh_strmap_get(&tok->vocab, s + sym[right].off, sym[right].n, &b) || !qh_u64map_get(&tok->merges, qh_tok_pair_key(a, b), &merge))
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
    if (space_prefix && len) memcpy(s, qh_tok_spm_space, 3), sl = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(s + sl, qh_tok_spm_space, 3), sl += 3;
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

/* The vocabulary formats of a model directory, in the order they are looked for: llama2.c's
 * file, GPT-2's pair of files, then SentencePiece's model before its tokenizer.json conversion
 * (llama.cpp's converter prefers it too).  suffix: the same reader for a file named directly. */
static const struct {
    const char *file, *second; /* second: the pair's other file, or NULL */
    const char *suffix;
    int (*load)(const char *path, qh_tokenizer **out, qh_err *err);
    int (*load_pair)(const char *first, const char *second, qh_tokenizer **out, qh_err *err);
} vocab_formats[] = {
    {.file = "tokenizer.bin", .suffix = ".bin", .load = qh_tokenizer_load_llama2c},
    {.file = "tok512.bin", .load = qh_tokenizer_load_llama2c}, /* llama2.c's names */
    {.file = "vocab.json", .second = "merges.txt", .load_pair = qh_tokenizer_load},
    {.file = "encoder.json", .second = "vocab.bpe", .load_pair = qh_tokenizer_load},
    {.file = "tokenizer.model", .suffix = ".model", .load = qh_tokenizer_load_spm_model},
    {.file = "tokenizer.json", .suffix = ".json", .load = qh_tokenizer_load_hf_json},
};
#define N_VOCAB_FORMATS (sizeof vocab_formats / sizeof *vocab_formats)

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
    if (!qh_is_dir(dir)) /* a tokenizer file named directly */
        for (size_t i = 0; i < N_VOCAB_FORMATS; i++) {
            const char *sfx = vocab_formats[i].suffix;
            if (sfx && dl > strlen(sfx) && strcmp(dir + dl - strlen(sfx), sfx) == 0) return vocab_formats[i].load(dir, out, err);
        }
    for (size_t i = 0; i < N_VOCAB_FORMATS; i++) {
        char *f = qh_path_join(dir, vocab_formats[i].file);
        char *s = vocab_formats[i].second ? qh_path_join(dir, vocab_formats[i].second) : NULL;
        int rc = 1;
        if (qh_file_exists(f) && (!s || qh_file_exists(s))) rc = s ? vocab_formats[i].load_pair(f, s, out, err) : vocab_formats[i].load(f, out, err);
        free(f);
        free(s);
        if (rc != 1) return rc;
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
            if (qh_u64map_get(&tok->merges, qh_tok_pair_key(sym[i], sym[i + 1]), &v) && (v >> 32) < best_rank) {
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
