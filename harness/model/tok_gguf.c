/* tok_gguf.c - a vocabulary from GGUF metadata (tokenizer.ggml.*): byte-level BPE ("gpt2") with llama.cpp's
 * pre-tokenizer names, or SentencePiece ("llama") with its token types. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/tokenizer_impl.h"

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

static int spm_from_gguf(const qh_gguf *g, qh_tokenizer **out, qh_err *err)
{
    const qh_gguf_kv *tokens = gguf_strings(g, "tokenizer.ggml.tokens", 1u << 24, err),
                     *scores = qh_gguf_find(g, "tokenizer.ggml.scores");
    if (!tokens) return -1;
    if (!scores || scores->type != QH_GGUF_ARRAY || scores->elem_type != QH_GGUF_F32 || scores->n != tokens->n)
        return qh_fail(err, "%s: tokenizer.ggml.scores must be an array of %llu f32 (one per token)", g->path,
                       (unsigned long long)tokens->n);
    qh_tokenizer *tok = qh_tok_spm_new((int)tokens->n);
    for (uint64_t i = 0; i < tokens->n; i++) {
        uint64_t len;
        const char *t = qh_gguf_array_str(g, tokens, i, &len);
        qh_tok_spm_add_piece(tok, (int)i, t, len, (float)qh_gguf_array_num(scores, i));
    }
    tok->add_space_prefix = gguf_bool(g, "tokenizer.ggml.add_space_prefix", 1);
    const qh_gguf_kv *types = qh_gguf_find(g, "tokenizer.ggml.token_type");
    if (types && (types->type != QH_GGUF_ARRAY || types->n != tokens->n)) {
        qh_tokenizer_free(tok);
        return qh_fail(err, "%s: tokenizer.ggml.token_type must be an array of %llu integers (one per token)", g->path,
                       (unsigned long long)tokens->n);
    }
    if (types) {
        int32_t *kept = qh_malloc((size_t)types->n * sizeof *kept);
        for (uint64_t i = 0; i < types->n; i++) {
            double t = qh_gguf_array_num(types, i);
            kept[i] = t >= INT32_MIN && t <= INT32_MAX ? (int32_t)t : 0;
        }
        qh_tok_set_types(tok, kept);
    }
    int64_t bos_id = 1;
    const char *ids[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                         "tokenizer.ggml.padding_token_id"};
    int *kept[] = {NULL, &tok->eos_id, &tok->unk_id, &tok->pad_id};
    for (int k = 0; k < 4; k++) {
        int64_t id = -1;
        if (qh_gguf_find(g, ids[k]) && qh_gguf_get_int(g, ids[k], &id, err) != 0) {
            qh_tokenizer_free(tok);
            return -1;
        }
        if (k == 0 && qh_gguf_find(g, ids[0])) bos_id = id;
        if (k > 0 && id >= 0 && id < tok->n_vocab) *kept[k] = (int)id; /* only written back, so one out of range is dropped */
    }
    char where[4200];
    snprintf(where, sizeof where, "%s: tokenizer.ggml.tokens", g->path);
    /* llama.cpp's default for these vocabularies: add the BOS */
    return qh_tok_spm_finish(tok, where, bos_id, gguf_bool(g, "tokenizer.ggml.add_bos_token", 1), out, err);
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
    qh_tok_alphabet(inverse);
    qh_tokenizer *tok = qh_calloc(1, sizeof *tok);
    char where[4200];
    snprintf(where, sizeof where, "%s: tokenizer.ggml.tokens", g->path);
    qh_tok_vocab_init(tok, (int)tokens->n);
    for (uint64_t i = 0; i < tokens->n; i++) {
        const char *t = qh_gguf_array_str(g, tokens, i, &len);
        if (qh_tok_add_token(tok, where, t, len, (int)i, inverse, err) != 0) goto fail;
    }
    if (qh_tok_check_byte_tokens(tok, where, 1, err) != 0) goto fail;
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
        int rc = qh_tok_add_merge(tok, where, (int)i, mline, len, (int)i, inverse, scratch, err);
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
