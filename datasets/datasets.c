#define _GNU_SOURCE /* memmem */
/* datasets.c - registry of shipped text datasets; see datasets.h and datasets/README.md. */
#include "datasets/datasets.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/tokenizer.h"

/* ---- documents ------------------------------------------------------------------------- */

/* a document starting at byte at; what lies between the previous start and it joins the next
 * document when it is only whitespace (WikiText-2 begins with a blank line) */
static void add_start(qh_text_documents *d, const char *text, long at, int *cap)
{
    if (d->n && d->start[d->n - 1] >= at) return;
    if (d->n) {
        long k = d->start[d->n - 1];
        while (k < at && (text[k] == ' ' || text[k] == '\n')) k++;
        if (k == at) return;
    }
    if (d->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        d->start = qh_realloc(d->start, (size_t)*cap * sizeof *d->start);
    }
    d->start[d->n++] = at;
}

/* WikiText-2: an article begins at a top-level heading line " = Title = " (sections are
 * " = = Title = = "). */
static void wikitext_articles(const char *text, size_t len, qh_text_documents *d)
{
    int cap = 0;
    d->unit = "article", d->units = "articles";
    add_start(d, text, 0, &cap);
    for (size_t i = 0; i < len;) {
        const char *e = memchr(text + i, '\n', len - i);
        size_t end = e ? (size_t)(e - text) : len;
        if (end - i > 6 && memcmp(text + i, " = ", 3) == 0 && text[i + 3] != '=' && memcmp(text + end - 3, " = ", 3) == 0)
            add_start(d, text, (long)i, &cap);
        i = end + 1;
    }
}

/* TinyStories: a story begins after each "<|endoftext|>" line. */
static void tinystories_stories(const char *text, size_t len, qh_text_documents *d)
{
    static const char sep[] = "<|endoftext|>";
    int cap = 0;
    d->unit = "story", d->units = "stories";
    add_start(d, text, 0, &cap);
    for (const char *p = text; (p = memmem(p, len - (size_t)(p - text), sep, sizeof sep - 1)); p += sizeof sep - 1) {
        size_t after = (size_t)(p - text) + sizeof sep - 1;
        if (after < len && text[after] == '\n') after++;
        if (after < len) add_start(d, text, (long)after, &cap);
    }
}

/* Gutenberg: a book ends at its "End of the Project Gutenberg EBook" or "End of Project
 * Gutenberg's" line (10 of the 12 held-out books keep one; the file has no other mark between
 * books); text is cut into sections of at least GUTENBERG_SECTION bytes at a paragraph break
 * (a blank line), and at every such end line, so that no section runs on past a marked book
 * end.  Sections of one book are not independent, which the rule's description says. */
enum { GUTENBERG_SECTION = 32768 };
static int gutenberg_book_end(const char *line, size_t len)
{
    static const char *const marks[] = {"End of the Project Gutenberg EBook", "End of Project Gutenberg's"};
    for (int i = 0; i < 2; i++)
        if (len >= strlen(marks[i]) && memcmp(line, marks[i], strlen(marks[i])) == 0) return 1;
    return 0;
}

static void gutenberg_sections(const char *text, size_t len, qh_text_documents *d)
{
    int cap = 0;
    d->unit = "section", d->units = "sections";
    add_start(d, text, 0, &cap);
    size_t section = 0;
    for (size_t i = 0; i < len;) {
        const char *e = memchr(text + i, '\n', len - i);
        size_t end = e ? (size_t)(e - text) : len;
        if (gutenberg_book_end(text + i, end - i)) {
            /* the next book starts after this line's paragraph (a title may continue it) */
            size_t next = end + 1;
            while (next < len && text[next] != '\n') {
                const char *ne = memchr(text + next, '\n', len - next);
                next = ne ? (size_t)(ne - text) + 1 : len;
            }
            if (next < len) add_start(d, text, (long)next, &cap), section = next;
            i = next;
            continue;
        }
        if (end == i && i - section >= GUTENBERG_SECTION && end + 1 < len) { /* a blank line: a paragraph break */
            add_start(d, text, (long)(end + 1), &cap);
            section = end + 1;
        }
        i = end + 1;
    }
}

/* how each rule finds documents, said once for the rows that share it */
static const char wikitext_rule[] = "articles: each begins at a top-level heading ' = Title = '",
                  gutenberg_rule[] = "sections: cut at the first blank line after every 32 KB and after each 'End of (the) Project Gutenberg' line (books without one run into the next); sections of one book are not independent",
                  tinystories_rule[] = "stories: each begins after an '<|endoftext|>' line";

const qh_text_dataset qh_text_datasets[] = {
    {"wikitext2-test", "datasets/wikitext-2-raw/wiki.test.raw",
     "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08",
     "WikiText-2 raw v1, test split (Merity et al. 2016), CC BY-SA 3.0", wikitext_articles,
     wikitext_rule},
    {"wikitext2-valid", "datasets/wikitext-2-raw/wiki.valid.raw",
     "4cd0f6876d07a413aa911261ff6d363c72d757d47f0fdd6015702014c89cb9c7",
     "WikiText-2 raw v1, validation split (seen in the default model's training mix)", wikitext_articles,
     wikitext_rule},
    {"gutenberg-heldout", "datasets/gutenberg/heldout.txt",
     "a22c5bd6ffd5638bee893284f14d5af20f1a1986842ebb2878b03b34c611fb51",
     "12 Project Gutenberg books not in the default model's training data, public domain", gutenberg_sections,
     gutenberg_rule},
    {"gutenberg-calib", "datasets/gutenberg/calib.txt",
     "163a9cccda0527b84a6ef8d2f6dfe79412a77c6eb55261abd35446cbe787a236",
     "7 other Project Gutenberg books, for calibration statistics, public domain", gutenberg_sections,
     gutenberg_rule},
    {"tinystories-valid1000", "datasets/tinystories/valid_first1000.txt",
     "c86f734a3a07fffb8a52f4a7970ac7dbeaf4eaf6a031dc8742a8de92fbbb9446",
     "TinyStories validation split, first 1,000 stories (Eldan & Li 2023), CDLA-Sharing-1.0: llama-perplexity's text for stories260K", tinystories_stories,
     tinystories_rule},
    {"tinystories-eval", "datasets/tinystories/eval500.txt",
     "f8f1499ca5274df8b7e8f8ff007c656d50ca1cbba27569026d6b9e1b043bf889",
     "TinyStories validation, stories 1-500 of tinystories-valid1000 (evaluation; never calibrated on)", tinystories_stories,
     tinystories_rule},
    {"tinystories-calib", "datasets/tinystories/calib500.txt",
     "55b7ddadba40d9e4779323e22a8aff168ffa34bc65af8da0d35aaaf7deaff9ee",
     "TinyStories validation, stories 501-1000 of tinystories-valid1000 (calibration only)", tinystories_stories,
     tinystories_rule},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

const qh_text_dataset *qh_text_dataset_find(const char *name)
{
    for (const qh_text_dataset *d = qh_text_datasets; d->name; d++)
        if (strcmp(d->name, name) == 0) return d;
    return NULL;
}

void qh_text_free(qh_text *t)
{
    free(t->name);
    free(t->path);
    free(t->text);
    memset(t, 0, sizeof *t);
}

int qh_text_load(const char *arg, qh_text *out, qh_err *err)
{
    memset(out, 0, sizeof *out);
    const qh_text_dataset *d = qh_text_dataset_find(arg);
    out->name = qh_strdup(arg);
    out->path = d ? qh_path_join(qh_home(), d->path) : qh_strdup(arg);
    if (!d && qh_is_dir(arg)) {
        qh_fail(err, "%s: is a directory; TEXT is a UTF-8 file or a registered dataset", arg);
        goto fail;
    }
    if (!d && !qh_file_exists(arg)) {
        qh_fail(err, "%s: no such file, and not a registered dataset (", arg);
        size_t k = strlen(err->msg);
        for (const qh_text_dataset *r = qh_text_datasets; r->name && k < sizeof err->msg; r++)
            k += (size_t)snprintf(err->msg + k, sizeof err->msg - k, "%s%s", r == qh_text_datasets ? "" : ", ", r->name);
        if (k < sizeof err->msg) snprintf(err->msg + k, sizeof err->msg - k, ")");
        goto fail;
    }
    if (qh_read_file(out->path, &out->text, &out->len, err) != 0) goto fail;
    qh_sha256_hex(out->text, out->len, out->sha256);
    if (d && strcmp(out->sha256, d->sha256) != 0) {
        qh_fail(err, "%s: sha256 %s does not match the registered %s for dataset '%s'", out->path,
                out->sha256, d->sha256, d->name);
        goto fail;
    }
    if (out->len == 0) {
        qh_fail(err, "%s: empty text", out->path);
        goto fail;
    }
    if (qh_check_utf8(out->path, out->text, out->len, err) != 0) goto fail;
    return 0;
fail:
    qh_text_free(out);
    return -1;
}

const char *qh_text_documents_of(const qh_text *t, qh_text_documents *d)
{
    memset(d, 0, sizeof *d);
    const qh_text_dataset *r = qh_text_dataset_find(t->name);
    if (!r || !r->documents) return NULL;
    r->documents(t->text, t->len, d);
    assert(d->n >= 1 && d->start[0] == 0);
    return r->documents_rule;
}

void qh_text_documents_free(qh_text_documents *d)
{
    free(d->start);
    memset(d, 0, sizeof *d);
}

int qh_token_documents(const qh_text_documents *d, size_t text_len, const int *ids, long n, const int *token_bytes, int prefix_bytes,
                       int *doc)
{ /* ids: the whole text's tokens, so that their bytes can be checked against the text's */
    long at = -prefix_bytes;
    int k = 0;
    for (long i = 0; i < n; i++) {
        while (k + 1 < d->n && d->start[k + 1] <= at) k++;
        doc[i] = k;
        at += token_bytes[ids[i]];
    }
    return at == (long)text_len ? 0 : -1;
}
