/* imatrix.c - reading llama.cpp's importance matrices; see imatrix.h for the format. */
#include "harness/formats/imatrix.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t len, off;
} cursor;

static int get_i32(cursor *c, int32_t *v)
{
    if (c->len - c->off < 4) return -1;
    memcpy(v, c->p + c->off, 4);
    c->off += 4;
    return 0;
}

void qh_imatrix_free(qh_imatrix *im)
{
    for (int i = 0; i < im->n_entries; i++) {
        free(im->entries[i].name);
        free(im->entries[i].values);
    }
    free(im->entries);
    free(im->path);
    memset(im, 0, sizeof *im);
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp((*(qh_imatrix_entry *const *)a)->name, (*(qh_imatrix_entry *const *)b)->name);
}

int qh_imatrix_load(const char *path, qh_imatrix *im, qh_err *err)
{
    memset(im, 0, sizeof *im);
    char *data;
    size_t len;
    if (qh_read_file(path, &data, &len, err) != 0) return -1;
    cursor c = {(const uint8_t *)data, len, 0};
    im->path = qh_strdup(path);
    im->chunks = -1;
    int32_t n = 0;
    if (get_i32(&c, &n) != 0 || n <= 0 || n > 1 << 20) {
        qh_fail(err, "%s: byte 0: not an importance matrix (entry count %d)", path, len < 4 ? -1 : n);
        goto fail;
    }
    if ((size_t)n > (len - 4) / 17) { /* an entry takes at least 17 bytes: refused before allocating for it */
        qh_fail(err, "%s: byte 0: %d entries cannot fit in the file's %zu bytes", path, n, len);
        goto fail;
    }
    im->entries = qh_calloc((size_t)n, sizeof *im->entries);
    for (int i = 0; i < n; i++) {
        size_t at = c.off;
        int32_t nl = 0, ncall = 0, nval = 0;
        if (get_i32(&c, &nl) != 0 || nl <= 0 || nl > 4096 || c.len - c.off < (size_t)nl) {
            qh_fail(err, "%s: byte %zu: entry %d: bad or truncated name", path, at, i);
            goto fail;
        }
        qh_imatrix_entry *e = &im->entries[im->n_entries++];
        e->name = qh_malloc((size_t)nl + 1);
        memcpy(e->name, c.p + c.off, (size_t)nl);
        e->name[nl] = 0;
        c.off += (size_t)nl;
        at = c.off;
        if (get_i32(&c, &ncall) != 0 || get_i32(&c, &nval) != 0 || ncall <= 0 || nval <= 0 ||
            c.len - c.off < (size_t)nval * 4) {
            qh_fail(err, "%s: byte %zu: entry '%s': bad counts (ncall %d, nval %d) or values past the end", path, at, e->name,
                    ncall, nval);
            goto fail;
        }
        e->ncall = ncall;
        e->nval = nval;
        e->values = qh_malloc((size_t)nval * sizeof(float));
        memcpy(e->values, c.p + c.off, (size_t)nval * 4);
        for (int j = 0; j < nval; j++)
            if (!isfinite(e->values[j]) || e->values[j] < 0) {
                qh_fail(err, "%s: byte %zu: entry '%s': value %d is %g (a mean of squares must be finite and >= 0)", path,
                        c.off + 4 * (size_t)j, e->name, j, e->values[j]);
                goto fail;
            }
        c.off += (size_t)nval * 4;
    }
    if (im->n_entries > 1) { /* names are unique: sorted, each against the next */
        qh_imatrix_entry **by_name = qh_malloc((size_t)im->n_entries * sizeof *by_name);
        for (int i = 0; i < im->n_entries; i++) by_name[i] = &im->entries[i];
        qsort(by_name, (size_t)im->n_entries, sizeof *by_name, cmp_entry_name);
        const char *dup = NULL;
        for (int i = 1; i < im->n_entries && !dup; i++)
            if (strcmp(by_name[i - 1]->name, by_name[i]->name) == 0) dup = by_name[i]->name;
        if (dup) qh_fail(err, "%s: entry '%s' appears twice", path, dup);
        free(by_name);
        if (dup) goto fail;
    }
    if (c.off < c.len) { /* the optional trailer: chunks and dataset name */
        size_t at = c.off;
        int32_t chunks = 0, dl = 0;
        if (get_i32(&c, &chunks) != 0 || get_i32(&c, &dl) != 0 || dl < 0 || c.len - c.off != (size_t)dl) {
            qh_fail(err, "%s: byte %zu: %zu bytes after the entries are not a (chunks, dataset) trailer", path, at, c.len - at);
            goto fail;
        }
        im->chunks = chunks;
        snprintf(im->dataset, sizeof im->dataset, "%.*s", dl, (const char *)c.p + c.off);
    }
    free(data);
    if (qh_sha256_file(path, im->sha256, err) != 0) {
        qh_imatrix_free(im);
        return -1;
    }
    return 0;
fail:
    free(data);
    qh_imatrix_free(im);
    return -1;
}

const qh_imatrix_entry *qh_imatrix_find(const qh_imatrix *im, const char *name)
{
    for (int i = 0; i < im->n_entries; i++)
        if (strcmp(im->entries[i].name, name) == 0) return &im->entries[i];
    return NULL;
}
