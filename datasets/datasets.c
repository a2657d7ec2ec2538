/* datasets.c - registry of shipped text datasets; see datasets.h and datasets/README.md. */
#include "datasets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/tokenizer.h"

const qh_text_dataset qh_text_datasets[] = {
    {"wikitext2-test", "datasets/wikitext-2-raw/wiki.test.raw",
     "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08",
     "WikiText-2 raw v1, test split (Merity et al. 2016), CC BY-SA 3.0"},
    {"wikitext2-valid", "datasets/wikitext-2-raw/wiki.valid.raw",
     "4cd0f6876d07a413aa911261ff6d363c72d757d47f0fdd6015702014c89cb9c7",
     "WikiText-2 raw v1, validation split (seen in the default model's training mix)"},
    {"gutenberg-heldout", "datasets/gutenberg/heldout.txt",
     "a22c5bd6ffd5638bee893284f14d5af20f1a1986842ebb2878b03b34c611fb51",
     "12 Project Gutenberg books not in the default model's training data, public domain"},
    {"gutenberg-calib", "datasets/gutenberg/calib.txt",
     "163a9cccda0527b84a6ef8d2f6dfe79412a77c6eb55261abd35446cbe787a236",
     "7 other Project Gutenberg books, for calibration statistics, public domain"},
    {"tinystories-valid1000", "datasets/tinystories/valid_first1000.txt",
     "c86f734a3a07fffb8a52f4a7970ac7dbeaf4eaf6a031dc8742a8de92fbbb9446",
     "TinyStories validation split, first 1,000 stories (Eldan & Li 2023), CDLA-Sharing-1.0: llama-perplexity's text for stories260K"},
    {"tinystories-eval", "datasets/tinystories/eval500.txt",
     "f8f1499ca5274df8b7e8f8ff007c656d50ca1cbba27569026d6b9e1b043bf889",
     "TinyStories validation, stories 1-500 of tinystories-valid1000 (evaluation; never calibrated on)"},
    {"tinystories-calib", "datasets/tinystories/calib500.txt",
     "55b7ddadba40d9e4779323e22a8aff168ffa34bc65af8da0d35aaaf7deaff9ee",
     "TinyStories validation, stories 501-1000 of tinystories-valid1000 (calibration only)"},
    {NULL, NULL, NULL, NULL},
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
