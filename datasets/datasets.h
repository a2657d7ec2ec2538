/* datasets.h - the text datasets qharness ships, by name, with their sha256.
 *
 * A registered name resolves to a file under <home>/datasets/ whose sha256 is checked on
 * every load, so a result can name exactly what it was measured on.  Any other argument is
 * taken as a path to a UTF-8 text file. */
#ifndef QH_DATASETS_H
#define QH_DATASETS_H

#include <stddef.h>

#include "harness/base/util.h"

/* A text's documents: the units a perplexity interval resamples when windows of one document
 * are not independent of each other (WikiText-2's articles, TinyStories' stories, sections of
 * Gutenberg books).  start[i] is the byte offset where document i begins; start[0] == 0. */
typedef struct {
    long *start;
    int n;
    const char *unit, *units; /* "article", "articles"; "story", "stories"; "section", "sections" */
} qh_text_documents;

typedef struct {
    const char *name;
    const char *path;      /* relative to qh_home() */
    const char *sha256;
    const char *summary;
    /* its documents (NULL: none known, a user's file): fills d, returns 0 */
    void (*documents)(const char *text, size_t len, qh_text_documents *d);
    const char *documents_rule; /* how documents are found, for outputs and the README */
} qh_text_dataset;

extern const qh_text_dataset qh_text_datasets[];

const qh_text_dataset *qh_text_dataset_find(const char *name);

/* A loaded text: name (dataset name or path), path, sha256 and the bytes. */
typedef struct {
    char *name, *path;
    char sha256[65];
    char *text;
    size_t len;
} qh_text;

/* Loads a registered dataset or a file; checks sha256 (registered), UTF-8 and non-emptiness. */
int qh_text_load(const char *arg, qh_text *out, qh_err *err);
void qh_text_free(qh_text *t);

/* The documents of a loaded text (d->n == 0: a text with no known documents); free with
 * qh_text_documents_free.  Returns the registered rule's description or NULL. */
const char *qh_text_documents_of(const qh_text *t, qh_text_documents *d);
void qh_text_documents_free(qh_text_documents *d);

/* doc (n): the document of each of the n tokens of the whole text, from the bytes each token
 * decodes to (token_bytes[id]); the token's first byte decides.  prefix_bytes: what the
 * tokenizer put before the text (SentencePiece's space prefix: 1).  -1 when the tokens' bytes
 * add up to a length other than the text's (a tokenizer that normalises the text): no documents. */
int qh_token_documents(const qh_text_documents *d, size_t text_len, const int *ids, long n, const int *token_bytes, int prefix_bytes,
                       int *doc);

#endif
