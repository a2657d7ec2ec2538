/* tok_export.c - a vocabulary written back out, as the GGUF writers of the architectures need it:
 * GPT-2's tokens and merges, or a SentencePiece vocabulary's tokenizer.ggml.* keys whole. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "harness/model/tokenizer_impl.h"

/* llama_token_type: 1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte */
enum { TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER = 4, TYPE_BYTE = 6 };

int qh_tokenizer_write_gguf_spm(qh_gguf_writer *w, const qh_tokenizer *tok, qh_err *err)
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
        int user = tok->token_types && tok->token_types[i] == TYPE_USER; /* user tokens come only with types (qh_tok_set_types) */
        char *t = p[i] = qh_malloc(3 * len + 8);
        if (is_byte) memcpy(t, hex, 7);
        else if (user) { /* llama.cpp matches a user-defined token's text against the raw text: its spaces stay spaces */
            memcpy(t, raw, len);
            t[len] = 0;
        } else {
            size_t k = 0;
            for (size_t j = 0; j < len; j++)
                if (raw[j] == ' ') memcpy(t + k, qh_tok_spm_space, 3), k += 3;
                else t[k++] = raw[j];
            t[k] = 0;
        }
        sc[i] = tok->scores[i];
        /* the types a GGUF file gave; from other formats, SentencePiece's default texts name the
         * unknown and end-of-sequence pieces */
        ty[i] = tok->token_types                                            ? tok->token_types[i]
                : is_byte                                                   ? TYPE_BYTE
                : i == tok->bos_added || strcmp(t, "</s>") == 0             ? TYPE_CONTROL
                : strcmp(t, "<unk>") == 0                                   ? TYPE_UNKNOWN
                                                                            : TYPE_NORMAL;
    }
    int unk = tok->unk_id, eos = tok->eos_id, bos = tok->bos_added;
    for (int i = 0; i < n; i++) {
        if (ty[i] == TYPE_UNKNOWN && unk < 0) unk = i;
        if (ty[i] == TYPE_CONTROL && i != bos && eos < 0) eos = i;
    }
    qh_gguf_put_str(w, "tokenizer.ggml.model", "llama");
    qh_gguf_put_str_array(w, "tokenizer.ggml.tokens", p, (uint64_t)n);
    qh_gguf_put_f32_array(w, "tokenizer.ggml.scores", sc, (uint64_t)n);
    qh_gguf_put_i32_array(w, "tokenizer.ggml.token_type", ty, (uint64_t)n);
    if (unk >= 0) qh_gguf_put_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk);
    if (bos >= 0) qh_gguf_put_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0) qh_gguf_put_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (tok->pad_id >= 0) qh_gguf_put_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)tok->pad_id);
    qh_gguf_put_bool(w, "tokenizer.ggml.add_bos_token", bos >= 0);
    qh_gguf_put_bool(w, "tokenizer.ggml.add_eos_token", 0); /* qharness never appends one */
    qh_gguf_put_bool(w, "tokenizer.ggml.add_space_prefix", qh_tokenizer_encodes_alone_differently(tok));
    for (int i = 0; i < n; i++) free(p[i]);
    free(p);
    free(sc);
    free(ty);
    return 0;
}

char *qh_tok_bytes_to_unicode(const char *b, size_t len, const int table[256])
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
    qh_tok_byte_unicode_table(table);
    for (int i = 0; i < tok->n_vocab; i++)
        if (!tok->token_bytes[i]) return qh_fail(err, "the vocabulary has no token with id %d: it cannot be written as a list", i);
    *tokens = qh_malloc((size_t)tok->n_vocab * sizeof(char *));
    for (int i = 0; i < tok->n_vocab; i++) (*tokens)[i] = qh_tok_bytes_to_unicode(tok->token_bytes[i], tok->token_len[i], table);
    ranked_merge *list = qh_malloc((tok->merges.count + 1) * sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < tok->merges.cap; i++) {
        if (!tok->merges.keys[i]) continue;
        uint64_t key = tok->merges.keys[i] - 1; /* qh_tok_pair_key's offset */
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
