/* safetensors.c - see safetensors.h. */
#include "harness/formats/safetensors.h"

#include "harness/base/outfile.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

size_t qh_st_numel(const qh_st_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

static void free_tensors(qh_safetensors *st)
{
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
}

void qh_st_close(qh_safetensors *st)
{
    if (!st) return;
    free_tensors(st);
    if (st->map && st->map != MAP_FAILED) munmap(st->map, st->map_size);
    free(st->path);
    memset(st, 0, sizeof *st);
}

static int cmp_begin(const void *a, const void *b)
{
    const qh_st_tensor *x = *(const qh_st_tensor *const *)a, *y = *(const qh_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const qh_st_tensor *const *)a)->name, (*(const qh_st_tensor *const *)b)->name);
}

/* Parses one tensor entry of the header; on error names the tensor. */
static int parse_entry(const char *path, const cJSON *item, size_t data_size, qh_st_tensor *t,
                       qh_err *err)
{
    const char *name = item->string;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsObject(item) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) ||
        !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return qh_fail(err, "%s: tensor '%s': header entry needs dtype, shape and two data_offsets",
                       path, name);
    if (qh_dtype_from_name(dtype->valuestring, &t->dtype) != 0)
        return qh_fail(err, "%s: tensor '%s': unknown dtype '%s'", path, name, dtype->valuestring);
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > QH_ST_MAX_DIMS)
        return qh_fail(err, "%s: tensor '%s': %d dimensions (at most %d)", path, name, t->ndim,
                       QH_ST_MAX_DIMS);
    double numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        /* (exact integers only: 2^53 and above a double cannot tell apart, and casting them is undefined) */
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9007199254740992.0 ||
            d->valuedouble != floor(d->valuedouble))
            return qh_fail(err, "%s: tensor '%s': shape entry %d is not a non-negative integer", path,
                           name, i);
        t->shape[i] = (int64_t)d->valuedouble;
        numel *= d->valuedouble;
    }
    const cJSON *b = cJSON_GetArrayItem(offs, 0), *e = cJSON_GetArrayItem(offs, 1);
    if (!cJSON_IsNumber(b) || !cJSON_IsNumber(e) || b->valuedouble < 0 || e->valuedouble < b->valuedouble ||
        b->valuedouble != floor(b->valuedouble) || e->valuedouble != floor(e->valuedouble))
        return qh_fail(err, "%s: tensor '%s': data_offsets must be two integers with begin <= end",
                       path, name);
    if (e->valuedouble > (double)data_size)
        return qh_fail(err, "%s: tensor '%s' runs past end of file (offset %.0f > data size %zu)",
                       path, name, e->valuedouble, data_size);
    t->begin = (size_t)b->valuedouble;
    t->nbytes = (size_t)e->valuedouble - t->begin;
    double need = numel * (double)qh_dtype_size(t->dtype);
    if (need != (double)t->nbytes)
        return qh_fail(err, "%s: tensor '%s': shape needs %.0f bytes of %s but data_offsets give %zu",
                       path, name, need, qh_dtype_name(t->dtype), t->nbytes);
    return 0;
}

int qh_st_open(const char *path, qh_safetensors *st, qh_err *err)
{
    memset(st, 0, sizeof *st);
    cJSON *root = NULL;
    char *header = NULL;
    qh_st_tensor **sorted = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return qh_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return qh_fail(err, "%s: not a regular file", path);
    }
    st->path = qh_strdup(path);
    st->map_size = (size_t)sb.st_size;
    if (st->map_size < 8) {
        close(fd);
        qh_fail(err, "%s: truncated: %zu bytes, too short for a safetensors header", path,
                st->map_size);
        goto fail;
    }
    st->map = mmap(NULL, st->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (st->map == MAP_FAILED) {
        st->map = NULL;
        qh_fail(err, "%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | st->map[i];
    if (hlen > QH_ST_MAX_HEADER) {
        qh_fail(err, "%s: header length %llu is over the %d MB that safetensors allows", path,
                (unsigned long long)hlen, QH_ST_MAX_HEADER / 1000000);
        goto fail;
    }
    if (hlen > st->map_size - 8) {
        qh_fail(err, "%s: header length %llu runs past end of file (size %zu): truncated or not safetensors",
                path, (unsigned long long)hlen, st->map_size);
        goto fail;
    }
    st->data_start = 8 + (size_t)hlen;
    size_t data_size = st->map_size - st->data_start;
    header = qh_malloc(hlen + 1);
    memcpy(header, st->map + 8, hlen);
    header[hlen] = 0;
    root = cJSON_Parse(header);
    if (!root || !cJSON_IsObject(root)) {
        qh_fail(err, "%s: header is not a valid JSON object (byte %ld of the header)", path,
                root ? 0L : (long)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - header : 0));
        goto fail;
    }
    int n = cJSON_GetArraySize(root);
    st->tensors = qh_calloc((size_t)n, sizeof *st->tensors);
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (strcmp(item->string, "__metadata__") == 0) {
            const cJSON *kv;
            if (st->meta_keys) {
                qh_fail(err, "%s: header has two __metadata__ entries", path);
                goto fail;
            }
            if (!cJSON_IsObject(item)) {
                qh_fail(err, "%s: __metadata__ is not an object", path);
                goto fail;
            }
            int m = cJSON_GetArraySize(item);
            st->meta_keys = qh_calloc((size_t)m, sizeof(char *));
            st->meta_values = qh_calloc((size_t)m, sizeof(char *));
            cJSON_ArrayForEach(kv, item)
            {
                if (!cJSON_IsString(kv)) {
                    qh_fail(err, "%s: __metadata__ value '%s' is not a string", path, kv->string);
                    goto fail;
                }
                st->meta_keys[st->n_meta] = qh_strdup(kv->string);
                st->meta_values[st->n_meta] = qh_strdup(kv->valuestring);
                st->n_meta++;
            }
            continue;
        }
        qh_st_tensor *t = &st->tensors[st->n_tensors];
        t->name = qh_strdup(item->string);
        st->n_tensors++;
        if (parse_entry(path, item, data_size, t, err) != 0) goto fail;
        t->data = st->map + st->data_start + t->begin;
    }
    /* overlap check: sort by begin; each tensor must start at or after the previous end */
    sorted = qh_malloc(sizeof *sorted * (size_t)(st->n_tensors ? st->n_tensors : 1));
    for (int i = 0; i < st->n_tensors; i++) sorted[i] = &st->tensors[i];
    qsort(sorted, (size_t)st->n_tensors, sizeof *sorted, cmp_begin);
    for (int i = 1; i < st->n_tensors; i++) {
        const qh_st_tensor *a = sorted[i - 1], *b = sorted[i];
        if (b->begin < a->begin + a->nbytes && b->nbytes && a->nbytes) {
            qh_fail(err, "%s: tensors '%s' and '%s' overlap (bytes %zu-%zu and %zu-%zu)", path,
                    a->name, b->name, a->begin, a->begin + a->nbytes, b->begin, b->begin + b->nbytes);
            goto fail;
        }
    }
    /* names are unique (JSON lets a key repeat; the first would shadow the rest) */
    for (int i = 0; i < st->n_tensors; i++) sorted[i] = &st->tensors[i];
    qsort(sorted, (size_t)st->n_tensors, sizeof *sorted, cmp_name);
    for (int i = 1; i < st->n_tensors; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            qh_fail(err, "%s: tensor '%s' appears twice in the header", path, sorted[i]->name);
            goto fail;
        }
    if (st->n_meta > 1) {
        char **keys = qh_malloc((size_t)st->n_meta * sizeof *keys);
        memcpy(keys, st->meta_keys, (size_t)st->n_meta * sizeof *keys);
        qsort(keys, (size_t)st->n_meta, sizeof *keys, cmp_str);
        int dup = -1;
        for (int i = 1; i < st->n_meta && dup < 0; i++)
            if (strcmp(keys[i - 1], keys[i]) == 0) dup = i;
        if (dup >= 0) qh_fail(err, "%s: __metadata__ key '%s' appears twice", path, keys[dup]);
        free(keys);
        if (dup >= 0) goto fail;
    }
    free(sorted);
    free(header);
    cJSON_Delete(root);
    return 0;
fail:
    free(sorted);
    free(header);
    cJSON_Delete(root);
    qh_st_close(st);
    return -1;
}

const qh_st_tensor *qh_st_find(const qh_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *qh_st_meta(const qh_safetensors *st, const char *key)
{
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

int qh_st_to_f32(const qh_safetensors *st, const qh_st_tensor *t, float *out, qh_err *err)
{
    size_t n = qh_st_numel(t);
    /* the data area has no alignment guarantee, so read element by element via memcpy */
    switch (t->dtype) {
    case QH_DT_F32:
        memcpy(out, t->data, n * 4);
        return 0;
    case QH_DT_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, t->data + 2 * i, 2);
            out[i] = qh_f16_to_f32(h);
        }
        return 0;
    case QH_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, t->data + 2 * i, 2);
            out[i] = qh_bf16_to_f32(h);
        }
        return 0;
    default:
        return qh_fail(err, "%s: tensor '%s' has dtype %s; weights must be F32, F16 or BF16",
                       st->path, t->name, qh_dtype_name(t->dtype));
    }
}

/* ---- writer ----------------------------------------------------------------------------- */

int qh_st_write(const char *path, const qh_st_entry *entries, int n, const char *const *meta_keys,
                const char *const *meta_values, int n_meta, qh_err *err)
{
    int rc = -1;
    char *json = NULL;
    FILE *f = NULL;
    qh_outfile out;
    cJSON *root = cJSON_CreateObject();
    if (n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < n_meta; i++) cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i]);
    }
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        const qh_st_entry *e = &entries[i];
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++) numel *= (size_t)e->shape[d];
        if (numel * qh_dtype_size(e->dtype) != e->nbytes) {
            qh_fail(err, "%s: tensor '%s': %zu bytes given for a shape that needs %zu", path,
                    e->name, e->nbytes, numel * qh_dtype_size(e->dtype));
            goto cleanup;
        }
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON_AddStringToObject(t, "dtype", qh_dtype_name(e->dtype));
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < e->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + e->nbytes)));
        offset += e->nbytes;
    }
    json = cJSON_PrintUnformatted(root);
    size_t hlen = strlen(json);
    size_t padded = (hlen + 7) & ~(size_t)7; /* keep the data area 8-byte aligned, as HF does */
    if (qh_outfile_open(&out, path, err) != 0) goto cleanup;
    f = out.f;
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(lenbuf, 1, 8, f) == 8 && fwrite(json, 1, hlen, f) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < n; i++)
        ok = entries[i].nbytes == 0 || fwrite(entries[i].data, 1, entries[i].nbytes, f) == entries[i].nbytes;
    f = NULL;
    if (!ok) {
        qh_fail(err, "%s: write failed (%s); nothing written", path, strerror(errno));
        qh_outfile_abort(&out);
        goto cleanup;
    }
    if (qh_outfile_commit(&out, err) != 0) goto cleanup;
    rc = 0;
cleanup:
    free(json);
    cJSON_Delete(root);
    return rc;
}
