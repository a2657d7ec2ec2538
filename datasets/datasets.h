/* datasets.h - the text datasets qharness ships, by name, with their sha256.
 *
 * A registered name resolves to a file under <home>/datasets/ whose sha256 is checked on
 * every load, so a result can name exactly what it was measured on.  Any other argument is
 * taken as a path to a UTF-8 text file. */
#ifndef QH_DATASETS_H
#define QH_DATASETS_H

#include <stddef.h>

#include "../harness/util.h"

typedef struct {
    const char *name;
    const char *path;      /* relative to qh_home() */
    const char *sha256;
    const char *summary;
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

#endif
