/* tokenizer.h - GPT-2 byte-level BPE and SentencePiece-style BPE (GGUF "llama" vocabularies,
 * llama2.c's tokenizer.bin, SentencePiece's tokenizer.model, Hugging Face's tokenizer.json).
 *
 * Loads vocab.json + merges.txt (Hugging Face names) or encoder.json + vocab.bpe (OpenAI's).
 * Encoding = GPT-2 pre-tokenization, the regex
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * implemented by hand over utf8proc's Unicode categories, then byte-level BPE of each piece
 * by merge rank.  Special tokens are not parsed: "<|endoftext|>" in a text is ordinary text,
 * as in GPT-2's own encoder. */
#ifndef QH_TOKENIZER_H
#define QH_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "harness/formats/gguf.h"
#include "harness/base/util.h"

typedef struct qh_tokenizer qh_tokenizer;

/* dir holds (first found) llama2.c's tokenizer.bin / tok512.bin, vocab.json + merges.txt,
 * encoder.json + vocab.bpe, tokenizer.model or tokenizer.json; or dir is a GGUF file or one of
 * those tokenizer files (.bin, .model, .json). */
int qh_tokenizer_load_dir(const char *dir, qh_tokenizer **out, qh_err *err);
/* From a GGUF file's metadata (tokenizer.ggml.model = gpt2: tokens and merges). */
int qh_tokenizer_from_gguf(const qh_gguf *g, qh_tokenizer **out, qh_err *err);
int qh_tokenizer_load(const char *vocab_path, const char *merges_path, qh_tokenizer **out,
                      qh_err *err);
/* llama2.c's tokenizer file (u32 longest token; per token f32 score, u32 length, bytes): a
 * SentencePiece vocabulary, encoded as the GGUF "llama" ones, BOS id 1 added. */
int qh_tokenizer_load_llama2c(const char *path, qh_tokenizer **out, qh_err *err);
/* SentencePiece's tokenizer.model (BPE models): pieces with scores, BOS from trainer_spec.bos_id,
 * the leading space from normalizer_spec.add_dummy_prefix; encoded as llama.cpp does. */
int qh_tokenizer_load_spm_model(const char *path, qh_tokenizer **out, qh_err *err);
/* Hugging Face's tokenizer.json, BPE: byte-level (GPT-2) or SentencePiece-style with byte
 * fallback (Llama); other normalizers and pre-tokenizers are refused by name. */
int qh_tokenizer_load_hf_json(const char *path, qh_tokenizer **out, qh_err *err);
void qh_tokenizer_free(qh_tokenizer *tok);
/* SHA-256 of what the tokenizer does, not of its files: every token's bytes in id order, the
 * merges with their ranks, the scores, BOS and space-prefix rules.  The same vocabulary read
 * from vocab.json + merges.txt or from a GGUF file gives the same hash; a file derived from a
 * model records it (packed files), so the tokenizer found beside it later can be checked. */
void qh_tokenizer_sha256(const qh_tokenizer *tok, char out[65]);

int qh_tokenizer_vocab_size(const qh_tokenizer *tok);
/* The BOS id the vocabulary puts before a text (GGUF tokenizer.ggml.add_bos_token), or -1:
 * GPT-2 adds none. */
int qh_tokenizer_bos_added(const qh_tokenizer *tok);

/* Encodes len bytes of UTF-8 text.  *ids is malloc'd.  Invalid UTF-8 is an error naming the
 * byte offset and line (source names the text in the message). */
int qh_encode(qh_tokenizer *tok, const char *source, const char *text, size_t len, int **ids,
              size_t *n_ids, qh_err *err);

/* The vocabulary as GPT-2 files and GGUF write it: every token in byte-to-unicode form
 * (tokens[id]) and the merges "A B" in rank order; all malloc'd (free each, then the arrays). */
int qh_tokenizer_export(const qh_tokenizer *tok, char ***tokens, char ***merges, int *n_merges, qh_err *err);

/* A SentencePiece-style vocabulary as GGUF "llama" metadata holds it, the tokenizer.ggml.* keys
 * into w: piece texts (U+2581 for a space, <0xXX> for byte fallbacks), scores, llama_token_type
 * values and the special ids: a GGUF file's own when the vocabulary came from one, else 6 for
 * byte fallbacks, 3 for the BOS and "</s>", 2 for "<unk>", 4 for user-defined, 1 otherwise. */
int qh_tokenizer_write_gguf_spm(qh_gguf_writer *w, const qh_tokenizer *tok, qh_err *err);

/* The raw bytes a token stands for. */
const char *qh_token_bytes(const qh_tokenizer *tok, int id, size_t *len);

/* The byte length of every id below n_vocab (0 for ids the tokenizer lacks), malloc'd: what
 * bits per byte divides by. */
int *qh_token_byte_lengths(const qh_tokenizer *tok, int n_vocab);

/* The token a scored text starts from when it has no context of its own (BLiMP's sentences):
 * the BOS the vocabulary adds, else GPT-2's "<|endoftext|>" (its document separator), else -1. */
int qh_tokenizer_start_token(const qh_tokenizer *tok);
/* 1 when encoding a text on its own changes its start (SentencePiece's leading space), so a
 * continuation must be encoded together with its context and split off after. */
int qh_tokenizer_encodes_alone_differently(const qh_tokenizer *tok);

/* The id of a token given by its raw bytes (e.g. "<|endoftext|>"), or -1. */
int qh_token_id(const qh_tokenizer *tok, const char *bytes);

#endif
