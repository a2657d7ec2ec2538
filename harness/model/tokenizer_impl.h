/* tokenizer_impl.h - inside the tokenizer: the vocabulary as the encoders use it, and what the
 * readers of the vocabulary formats (tok_*.c) share to build one.  Only the tokenizer's files
 * include it; everything else goes through tokenizer.h. */
#ifndef QH_TOKENIZER_IMPL_H
#define QH_TOKENIZER_IMPL_H

#include <cJSON.h>
#include <stdint.h>

#include "harness/formats/gguf.h"
#include "harness/model/tokenizer.h"

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
    /* SentencePiece from GGUF: the file's tokenizer.ggml.token_type (NULL from other formats)
     * and its special ids (-1 where the file names none), written back by the GGUF writers */
    int32_t *token_types;
    int eos_id, unk_id, pad_id;
};

/* ---- building a vocabulary (tokenizer.c) ---- */
int qh_tok_add_merge(qh_tokenizer *tok, const char *source, int line_no, const char *line, size_t ll, int rank, const int inverse[512], char *scratch, qh_err *err);
int qh_tok_add_token(qh_tokenizer *tok, const char *source, const char *str, size_t slen, int id, const int inverse[512], qh_err *err);
void qh_tok_alphabet(int inverse[512]);
void qh_tok_byte_unicode_table(int table[256]);
char *qh_tok_bytes_to_unicode(const char *b, size_t len, const int table[256]);
int qh_tok_check_byte_tokens(qh_tokenizer *tok, const char *source, int allow_missing, qh_err *err);
uint64_t qh_tok_pair_key(int a, int b);
void qh_tok_spm_add_piece(qh_tokenizer *tok, int i, const char *t, size_t len, float score);
int qh_tok_spm_finish(qh_tokenizer *tok, const char *source, int64_t bos_id, int add_bos, qh_tokenizer **out, qh_err *err);
qh_tokenizer *qh_tok_spm_new(int n);
/* The pieces' types (llama_token_type's numbers, which are SentencePiece's; types is taken over),
 * kept to be written back; the user-defined ones (4) become the tokens cut out of a text before
 * the rest is encoded, longest first, as llama.cpp cuts them. */
void qh_tok_set_types(qh_tokenizer *tok, int32_t *types);
extern const char qh_tok_spm_space[];
int qh_tok_vocab_from_json(qh_tokenizer *tok, const char *source, const cJSON *root, const int inverse[512], qh_err *err);
void qh_tok_vocab_init(qh_tokenizer *tok, int n);
int qh_tok_vocab_json_size(const char *source, const cJSON *root, qh_err *err);

#endif
