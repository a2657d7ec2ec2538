/* gguf.c - the GGUF reader; see gguf.h.  A cursor walks the mapped header; every read is
 * bounds-checked against the file size first, so a truncated or lying file fails with the
 * offset where it stopped making sense. */
#define _GNU_SOURCE /* qsort_r */
#include "harness/formats/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/formats/ggml_types.h"

static const char *vtype_names[QH_GGUF_N_VTYPES] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                                     "string", "array", "u64", "i64", "f64"};
static const size_t vtype_size[QH_GGUF_N_VTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *qh_gguf_vtype_name(uint32_t t)
{
    return t < QH_GGUF_N_VTYPES ? vtype_names[t] : "unknown";
}

typedef struct {
    const qh_gguf *g;
    size_t pos;
    qh_err *err;
} cursor;

static int need(cursor *c, uint64_t n, const char *what)
{
    if (n > c->g->size || c->pos > c->g->size - n)
        return qh_fail(c->err, "%s: truncated at byte %zu: %s needs %llu bytes, the file has %zu", c->g->path, c->pos,
                       what, (unsigned long long)n, c->g->size - (c->pos < c->g->size ? c->pos : c->g->size));
    return 0;
}

static int rd(cursor *c, void *out, size_t n, const char *what)
{
    if (need(c, n, what)) return -1;
    memcpy(out, c->g->map + c->pos, n);
    c->pos += n;
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static int rd_u64(cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

/* a GGUF string: u64 length, bytes (no NUL) */
static int rd_str(cursor *c, const char **s, uint64_t *len, const char *what)
{
    if (rd_u64(c, len, what)) return -1;
    if (need(c, *len, what)) return -1;
    *s = (const char *)c->g->map + c->pos;
    c->pos += *len;
    return 0;
}

/* Skips (and checks) a value of type t at the cursor; depth counts array nesting. */
static int skip_value(cursor *c, uint32_t t, int depth, const char *key)
{
    if (t >= QH_GGUF_N_VTYPES)
        return qh_fail(c->err, "%s: key '%s' at byte %zu: unknown value type %u", c->g->path, key, c->pos, t);
    if (t == QH_GGUF_STRING) {
        const char *s;
        uint64_t n;
        return rd_str(c, &s, &n, key);
    }
    if (t != QH_GGUF_ARRAY) {
        if (need(c, vtype_size[t], key)) return -1;
        c->pos += vtype_size[t];
        return 0;
    }
    if (depth >= QH_GGUF_MAX_DEPTH)
        return qh_fail(c->err, "%s: key '%s' at byte %zu: arrays nested deeper than %d", c->g->path, key, c->pos,
                       QH_GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et, key) || rd_u64(c, &n, key)) return -1;
    if (et >= QH_GGUF_N_VTYPES)
        return qh_fail(c->err, "%s: key '%s' at byte %zu: unknown array element type %u", c->g->path, key, c->pos, et);
    if (vtype_size[et]) {
        if (n > (c->g->size - c->pos) / vtype_size[et])
            return qh_fail(c->err, "%s: key '%s' at byte %zu: array of %llu %s runs past the end of the file",
                           c->g->path, key, c->pos, (unsigned long long)n, vtype_names[et]);
        c->pos += n * vtype_size[et];
        return 0;
    }
    /* every string takes at least its 8-byte length: a count that cannot fit is refused at once */
    if (n > (c->g->size - c->pos) / 8)
        return qh_fail(c->err, "%s: key '%s' at byte %zu: array of %llu elements runs past the end of the file",
                       c->g->path, key, c->pos, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++)
        if (skip_value(c, et, depth + 1, key)) return -1;
    return 0;
}

static int read_kv(cursor *c, qh_gguf_kv *kv)
{
    const qh_gguf *g = c->g;
    kv->offset = c->pos;
    const char *k;
    uint64_t klen;
    if (rd_str(c, &k, &klen, "a key")) return -1;
    if (klen == 0 || klen > QH_GGUF_MAX_KEY)
        return qh_fail(c->err, "%s: key at byte %zu: length %llu (1 to %d allowed)", g->path, kv->offset,
                       (unsigned long long)klen, QH_GGUF_MAX_KEY);
    char *copy = qh_malloc(klen + 1);
    memcpy(copy, k, klen);
    copy[klen] = 0;
    kv->key = copy;
    if (strlen(copy) != klen) return qh_fail(c->err, "%s: key at byte %zu holds a NUL byte", g->path, kv->offset);
    if (rd_u32(c, &kv->type, copy)) return -1;
    kv->n = 1;
    size_t at = c->pos;
    if (kv->type >= QH_GGUF_N_VTYPES)
        return qh_fail(c->err, "%s: key '%s' at byte %zu: unknown value type %u", g->path, copy, kv->offset, kv->type);
    if (kv->type == QH_GGUF_STRING) return rd_str(c, &kv->str, &kv->str_len, copy);
    if (kv->type == QH_GGUF_ARRAY) {
        if (rd_u32(c, &kv->elem_type, copy) || rd_u64(c, &kv->n, copy)) return -1;
        c->pos = at;
        if (skip_value(c, QH_GGUF_ARRAY, 0, copy)) return -1;
        kv->data = g->map + at + 12;
        if (kv->elem_type == QH_GGUF_STRING) { /* index the elements once: tokenizers look them up by id */
            uint64_t *offs = qh_malloc((kv->n ? kv->n : 1) * sizeof(uint64_t)), p = at + 12;
            for (uint64_t i = 0; i < kv->n; i++) {
                uint64_t len;
                offs[i] = p;
                memcpy(&len, g->map + p, 8);
                p += 8 + len;
            }
            kv->str_offsets = offs;
        }
        return 0;
    }
    uint8_t raw[8] = {0};
    if (rd(c, raw, vtype_size[kv->type], copy)) return -1;
    switch (kv->type) {
    case QH_GGUF_U8: kv->u = raw[0]; break;
    case QH_GGUF_BOOL:
        if (raw[0] > 1) return qh_fail(c->err, "%s: key '%s' at byte %zu: bool value %u", g->path, copy, at, raw[0]);
        kv->u = raw[0];
        break;
    case QH_GGUF_I8: kv->i = (int8_t)raw[0]; break;
    case QH_GGUF_U16: { uint16_t v; memcpy(&v, raw, 2); kv->u = v; break; }
    case QH_GGUF_I16: { int16_t v; memcpy(&v, raw, 2); kv->i = v; break; }
    case QH_GGUF_U32: { uint32_t v; memcpy(&v, raw, 4); kv->u = v; break; }
    case QH_GGUF_I32: { int32_t v; memcpy(&v, raw, 4); kv->i = v; break; }
    case QH_GGUF_U64: memcpy(&kv->u, raw, 8); break;
    case QH_GGUF_I64: memcpy(&kv->i, raw, 8); break;
    case QH_GGUF_F32: { float v; memcpy(&v, raw, 4); kv->f = v; break; }
    case QH_GGUF_F64: memcpy(&kv->f, raw, 8); break;
    }
    switch (kv->type) {
    case QH_GGUF_U8: case QH_GGUF_U16: case QH_GGUF_U32: case QH_GGUF_U64: case QH_GGUF_BOOL:
        kv->f = (double)kv->u;
        kv->i = kv->u <= INT64_MAX ? (int64_t)kv->u : 0;
        break;
    case QH_GGUF_I8: case QH_GGUF_I16: case QH_GGUF_I32: case QH_GGUF_I64:
        kv->f = (double)kv->i;
        kv->u = kv->i >= 0 ? (uint64_t)kv->i : 0;
        break;
    }
    return 0;
}

static int read_tensor_info(cursor *c, qh_gguf_tensor *t)
{
    const qh_gguf *g = c->g;
    t->info_offset = c->pos;
    const char *name;
    uint64_t len;
    if (rd_str(c, &name, &len, "a tensor name")) return -1;
    if (len == 0 || len >= QH_GGUF_MAX_NAME)
        return qh_fail(c->err, "%s: tensor at byte %zu: name of %llu bytes (1 to %d allowed)", g->path, t->info_offset,
                       (unsigned long long)len, QH_GGUF_MAX_NAME - 1);
    memcpy(t->name, name, len);
    t->name[len] = 0;
    if (strlen(t->name) != len) return qh_fail(c->err, "%s: tensor at byte %zu: name holds a NUL byte", g->path, t->info_offset);
    uint32_t nd;
    if (rd_u32(c, &nd, t->name)) return -1;
    if (nd < 1 || nd > QH_GGUF_MAX_DIMS)
        return qh_fail(c->err, "%s: tensor '%s' at byte %zu: %u dimensions (1 to %d allowed)", g->path, t->name,
                       t->info_offset, nd, QH_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    t->n_elements = 1;
    for (int d = 0; d < QH_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t ne;
        if (rd_u64(c, &ne, t->name)) return -1;
        if (ne == 0 || ne > (1ull << 40) || t->n_elements > (1ull << 48) / ne)
            return qh_fail(c->err, "%s: tensor '%s' at byte %zu: dimension %u is %llu", g->path, t->name, t->info_offset,
                           d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
        t->n_elements *= ne;
    }
    if (rd_u32(c, &t->type, t->name) || rd_u64(c, &t->offset, t->name)) return -1;
    const qh_ggml_type *ty = qh_ggml_type_by_id(t->type);
    if (!ty) return qh_fail(c->err, "%s: tensor '%s' at byte %zu: unknown ggml type %u", g->path, t->name, t->info_offset, t->type);
    if (t->ne[0] % ty->block)
        return qh_fail(c->err, "%s: tensor '%s' at byte %zu: row of %lld elements is not a multiple of %s's block of %d",
                       g->path, t->name, t->info_offset, (long long)t->ne[0], ty->name, ty->block);
    t->bytes = t->n_elements / (uint64_t)ty->block * ty->bytes;
    return 0;
}

int qh_gguf_probe(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[4];
    int ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    fclose(f);
    return ok;
}

static int by_offset(const void *a, const void *b, void *ctx)
{
    const qh_gguf_tensor *t = ctx;
    uint64_t x = t[*(const uint64_t *)a].offset, y = t[*(const uint64_t *)b].offset;
    return x < y ? -1 : x > y;
}

int qh_gguf_open(const char *path, qh_gguf **out, qh_err *err)
{
    *out = NULL;
    qh_gguf *g = calloc(1, sizeof *g);
    if (!g) return qh_fail(err, "out of memory");
    g->path = qh_strdup(path);
    cursor c = {g, 0, err};
    err->msg[0] = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        qh_fail(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        qh_fail(err, "%s: not a regular file", path);
        goto fail;
    }
    g->size = (size_t)sb.st_size;
    if (g->size > 0) {
        void *p = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            qh_fail(err, "%s: cannot map: %s", path, strerror(errno));
            goto fail;
        }
        g->map = p;
    }
    close(fd);
    char magic[4];
    if (rd(&c, magic, 4, "the magic")) goto fail;
    if (memcmp(magic, "GGUF", 4) != 0) {
        qh_fail(err, "%s: byte 0: not a GGUF file (magic %02x %02x %02x %02x, expected 'GGUF')", path,
                (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2], (uint8_t)magic[3]);
        goto fail;
    }
    if (rd_u32(&c, &g->version, "the version")) goto fail;
    if (g->version != 2 && g->version != 3) {
        qh_fail(err, "%s: byte 4: GGUF version %u (qharness reads versions 2 and 3)", path, g->version);
        goto fail;
    }
    if (rd_u64(&c, &g->n_tensors, "the tensor count") || rd_u64(&c, &g->n_kv, "the key count")) goto fail;
    if (g->n_tensors > QH_GGUF_MAX_TENSORS || g->n_kv > QH_GGUF_MAX_KV) {
        qh_fail(err, "%s: byte 8: %llu tensors and %llu keys (at most %u of each)", path, (unsigned long long)g->n_tensors,
                (unsigned long long)g->n_kv, QH_GGUF_MAX_TENSORS);
        goto fail;
    }
    /* a key takes at least 13 bytes (length, one byte, type, the smallest value) and a tensor
     * info 33 (length, one byte, dims, one dim, type, offset): counts the file cannot hold are
     * refused before anything is allocated for them (small counts are left to the reading, which
     * names the entry where the file ends) */
    if (g->n_kv + g->n_tensors > 4096 &&
        (g->n_kv > (g->size - c.pos) / 13 || g->n_tensors > (g->size - c.pos - 13 * g->n_kv) / 33)) {
        qh_fail(err, "%s: byte 8: %llu tensors and %llu keys cannot fit in the file's %zu bytes: truncated or corrupt",
                path, (unsigned long long)g->n_tensors, (unsigned long long)g->n_kv, g->size);
        goto fail;
    }
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        qh_fail(err, "out of memory");
        goto fail;
    }
    qh_strmap keys;
    qh_strmap_init(&keys, g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        int seen;
        if (read_kv(&c, &g->kv[i])) {
            qh_strmap_free(&keys);
            goto fail;
        }
        if (qh_strmap_get(&keys, g->kv[i].key, strlen(g->kv[i].key), &seen)) {
            qh_fail(err, "%s: key '%s' at byte %zu: duplicate key", path, g->kv[i].key, g->kv[i].offset);
            qh_strmap_free(&keys);
            goto fail;
        }
        qh_strmap_put(&keys, g->kv[i].key, strlen(g->kv[i].key), (int)i);
    }
    qh_strmap_free(&keys);
    g->alignment = 32;
    const qh_gguf_kv *al = qh_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != QH_GGUF_U32 || al->u == 0 || (al->u & (al->u - 1))) {
            qh_fail(err, "%s: key 'general.alignment' at byte %zu: must be a u32 power of two", path, al->offset);
            goto fail;
        }
        g->alignment = al->u;
    }
    qh_strmap names;
    qh_strmap_init(&names, g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        int seen;
        if (read_tensor_info(&c, &g->tensors[i])) {
            qh_strmap_free(&names);
            goto fail;
        }
        if (qh_strmap_get(&names, g->tensors[i].name, strlen(g->tensors[i].name), &seen)) {
            qh_fail(err, "%s: tensor '%s' at byte %zu: duplicate tensor name", path, g->tensors[i].name,
                    g->tensors[i].info_offset);
            qh_strmap_free(&names);
            goto fail;
        }
        qh_strmap_put(&names, g->tensors[i].name, strlen(g->tensors[i].name), (int)i);
    }
    qh_strmap_free(&names);
    g->data_offset = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors && g->data_offset > g->size) {
        qh_fail(err, "%s: truncated: the data section would start at byte %llu, the file has %zu bytes", path,
                (unsigned long long)g->data_offset, g->size);
        goto fail;
    }
    /* data: aligned, inside the file, not overlapping (checked in offset order) */
    uint64_t *order = qh_malloc((g->n_tensors ? g->n_tensors : 1) * sizeof(uint64_t));
    for (uint64_t i = 0; i < g->n_tensors; i++) order[i] = i;
    qsort_r(order, g->n_tensors, sizeof(uint64_t), by_offset, g->tensors);
    uint64_t end = 0;
    for (uint64_t k = 0; k < g->n_tensors; k++) {
        qh_gguf_tensor *t = &g->tensors[order[k]];
        if (t->offset % g->alignment) {
            qh_fail(err, "%s: tensor '%s' at byte %zu: data offset %llu is not a multiple of the alignment %llu", path,
                    t->name, t->info_offset, (unsigned long long)t->offset, (unsigned long long)g->alignment);
            free(order);
            goto fail;
        }
        if (t->offset < end) {
            qh_fail(err, "%s: tensor '%s' at byte %zu: data at offset %llu overlaps the previous tensor (ends at %llu)",
                    path, t->name, t->info_offset, (unsigned long long)t->offset, (unsigned long long)end);
            free(order);
            goto fail;
        }
        if (t->offset > g->size - g->data_offset || t->bytes > g->size - g->data_offset - t->offset) {
            qh_fail(err, "%s: tensor '%s' at byte %zu: %llu bytes of %s data at byte %llu run past the end of the file "
                         "(%zu bytes)", path, t->name, t->info_offset, (unsigned long long)t->bytes,
                    qh_ggml_type_by_id(t->type)->name, (unsigned long long)(g->data_offset + t->offset), g->size);
            free(order);
            goto fail;
        }
        end = t->offset + t->bytes;
        t->data = g->map + g->data_offset + t->offset;
    }
    free(order);
    *out = g;
    return 0;
fail:
    qh_gguf_close(g);
    return -1;
}

void qh_gguf_close(qh_gguf *g)
{
    if (!g) return;
    for (uint64_t i = 0; g->kv && i < g->n_kv; i++) {
        free((void *)g->kv[i].key);
        free((void *)g->kv[i].str_offsets);
    }
    free(g->kv);
    free(g->tensors);
    if (g->map) munmap((void *)g->map, g->size);
    free(g->path);
    free(g);
}

const qh_gguf_kv *qh_gguf_find(const qh_gguf *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

const qh_gguf_tensor *qh_gguf_tensor_find(const qh_gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

static const qh_gguf_kv *typed(const qh_gguf *g, const char *key, int want_kind, qh_err *err)
{
    const qh_gguf_kv *kv = qh_gguf_find(g, key);
    if (!kv) return qh_fail(err, "%s: no key '%s'", g->path, key), NULL;
    int numeric = kv->type != QH_GGUF_STRING && kv->type != QH_GGUF_ARRAY;
    int integer = numeric && kv->type != QH_GGUF_F32 && kv->type != QH_GGUF_F64;
    int ok = want_kind == 0 ? integer : want_kind == 1 ? numeric : kv->type == QH_GGUF_STRING;
    if (!ok)
        return qh_fail(err, "%s: key '%s' at byte %zu is a %s, expected %s", g->path, key, kv->offset,
                       qh_gguf_vtype_name(kv->type), want_kind == 0 ? "an integer" : want_kind == 1 ? "a number" : "a string"),
               NULL;
    return kv;
}

int qh_gguf_get_int(const qh_gguf *g, const char *key, int64_t *v, qh_err *err)
{
    const qh_gguf_kv *kv = typed(g, key, 0, err);
    if (!kv) return -1;
    if (kv->type == QH_GGUF_U64 && kv->u > INT64_MAX)
        return qh_fail(err, "%s: key '%s' at byte %zu: %llu does not fit", g->path, key, kv->offset, (unsigned long long)kv->u);
    *v = kv->i;
    return 0;
}

int qh_gguf_get_float(const qh_gguf *g, const char *key, double *v, qh_err *err)
{
    const qh_gguf_kv *kv = typed(g, key, 1, err);
    if (!kv) return -1;
    *v = kv->f;
    return 0;
}

int qh_gguf_get_str(const qh_gguf *g, const char *key, const char **s, uint64_t *len, qh_err *err)
{
    const qh_gguf_kv *kv = typed(g, key, 2, err);
    if (!kv) return -1;
    *s = kv->str;
    *len = kv->str_len;
    return 0;
}

const char *qh_gguf_array_str(const qh_gguf *g, const qh_gguf_kv *kv, uint64_t i, uint64_t *len)
{
    if (kv->type != QH_GGUF_ARRAY || kv->elem_type != QH_GGUF_STRING || i >= kv->n) return NULL;
    memcpy(len, g->map + kv->str_offsets[i], 8);
    return (const char *)g->map + kv->str_offsets[i] + 8;
}

double qh_gguf_array_num(const qh_gguf_kv *kv, uint64_t i)
{
    const uint8_t *p = kv->data + i * vtype_size[kv->elem_type < QH_GGUF_N_VTYPES ? kv->elem_type : 0];
    switch (kv->elem_type) {
    case QH_GGUF_U8: case QH_GGUF_BOOL: return *p;
    case QH_GGUF_I8: return (int8_t)*p;
    case QH_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case QH_GGUF_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case QH_GGUF_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case QH_GGUF_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case QH_GGUF_U64: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    case QH_GGUF_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case QH_GGUF_F32: { float v; memcpy(&v, p, 4); return v; }
    case QH_GGUF_F64: { double v; memcpy(&v, p, 8); return v; }
    }
    return 0;
}

/* ---- the bits-per-weight ledger ---------------------------------------------------------- */

const char *const qh_gguf_role_names[QH_GGUF_N_ROLES] = {"block matrices", "embeddings", "output", "norms and biases",
                                                         "other"};

int qh_gguf_role(const qh_gguf_tensor *t)
{
    if (t->n_dims == 1) return QH_GGUF_ROLE_NORM;
    if (strncmp(t->name, "blk.", 4) == 0) return QH_GGUF_ROLE_BLOCK;
    if (strncmp(t->name, "token_embd.", 11) == 0 || strncmp(t->name, "position_embd.", 14) == 0)
        return QH_GGUF_ROLE_EMBEDDING;
    if (strcmp(t->name, "output.weight") == 0) return QH_GGUF_ROLE_OUTPUT;
    return QH_GGUF_ROLE_OTHER;
}

/* llama.cpp's llama_ftype presets (general.file_type) and the type of their block matrices */
static const struct {
    int id;
    const char *preset, *base;
} presets[] = {
    {0, "ALL_F32", "F32"},     {1, "MOSTLY_F16", "F16"}, {2, "Q4_0", "Q4_0"},     {3, "Q4_1", "Q4_1"},
    {7, "Q8_0", "Q8_0"},       {8, "Q5_0", "Q5_0"},      {9, "Q5_1", "Q5_1"},     {10, "Q2_K", "Q2_K"},
    {11, "Q3_K_S", "Q3_K"},    {12, "Q3_K_M", "Q3_K"},   {13, "Q3_K_L", "Q3_K"},  {14, "Q4_K_S", "Q4_K"},
    {15, "Q4_K_M", "Q4_K"},    {16, "Q5_K_S", "Q5_K"},   {17, "Q5_K_M", "Q5_K"},  {18, "Q6_K", "Q6_K"},
    {19, "IQ2_XXS", "IQ2_XXS"}, {20, "IQ2_XS", "IQ2_XS"}, {21, "Q2_K_S", "Q2_K"}, {22, "IQ3_XS", "IQ3_S"},
    {23, "IQ3_XXS", "IQ3_XXS"}, {24, "IQ1_S", "IQ1_S"},  {25, "IQ4_NL", "IQ4_NL"}, {26, "IQ3_S", "IQ3_S"},
    {27, "IQ3_M", "IQ3_S"},    {28, "IQ2_S", "IQ2_S"},   {29, "IQ2_M", "IQ2_S"},  {30, "IQ4_XS", "IQ4_XS"},
    {31, "IQ1_M", "IQ1_M"},    {32, "BF16", "BF16"},     {36, "TQ1_0", "TQ1_0"},  {37, "TQ2_0", "TQ2_0"},
    {38, "MXFP4_MOE", "MXFP4"}, {39, "NVFP4", "NVFP4"},
};

static void bpw_line(FILE *out, const char *what, uint64_t elements, uint64_t bytes)
{
    if (elements) fprintf(out, "  %-26s %12llu weights %12llu bytes  %7.4f bpw\n", what, (unsigned long long)elements,
                          (unsigned long long)bytes, 8.0 * (double)bytes / (double)elements);
}

void qh_gguf_print_ledger(const qh_gguf *g, int tensors, FILE *out)
{
    uint64_t role_el[QH_GGUF_N_ROLES] = {0}, role_by[QH_GGUF_N_ROLES] = {0}, all_el = 0, all_by = 0;
    uint64_t type_el[64] = {0}, type_by[64] = {0}, block_type_el[64] = {0};
    const qh_ggml_type *embd = NULL, *output = NULL;
    if (tensors) fprintf(out, "tensors\n");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const qh_gguf_tensor *t = &g->tensors[i];
        const qh_ggml_type *ty = qh_ggml_type_by_id(t->type);
        int r = qh_gguf_role(t), ti = (int)(ty - qh_ggml_types);
        role_el[r] += t->n_elements;
        role_by[r] += t->bytes;
        type_el[ti] += t->n_elements;
        type_by[ti] += t->bytes;
        if (r == QH_GGUF_ROLE_BLOCK) block_type_el[ti] += t->n_elements;
        if (strcmp(t->name, "token_embd.weight") == 0) embd = ty;
        if (r == QH_GGUF_ROLE_OUTPUT) output = ty;
        all_el += t->n_elements;
        all_by += t->bytes;
        if (tensors)
            fprintf(out, "  %-32s %-8s %10llu weights %10llu bytes  %7.4f bpw\n", t->name, ty->name,
                    (unsigned long long)t->n_elements, (unsigned long long)t->bytes,
                    8.0 * (double)t->bytes / (double)t->n_elements);
    }
    fprintf(out, "by role\n");
    for (int r = 0; r < QH_GGUF_N_ROLES; r++) bpw_line(out, qh_gguf_role_names[r], role_el[r], role_by[r]);
    fprintf(out, "by type\n");
    for (int ti = 0; qh_ggml_types[ti].name; ti++) bpw_line(out, qh_ggml_types[ti].name, type_el[ti], type_by[ti]);
    fprintf(out, "whole file\n");
    bpw_line(out, "tensor data", all_el, all_by);
    bpw_line(out, "file (header included)", all_el, g->size);
    fprintf(out, "  header                     %12llu bytes (metadata, tensor infos, alignment padding)\n",
            (unsigned long long)g->data_offset);
    int principal = -1;
    for (int ti = 0; qh_ggml_types[ti].name; ti++)
        if (block_type_el[ti] && (principal < 0 || block_type_el[ti] > block_type_el[principal])) principal = ti;
    const qh_gguf_kv *ft = qh_gguf_find(g, "general.file_type");
    if (!ft || principal < 0) return;
    const char *preset = NULL, *base = NULL;
    for (size_t k = 0; k < sizeof presets / sizeof *presets; k++)
        if ((uint64_t)presets[k].id == ft->u) preset = presets[k].preset, base = presets[k].base;
    fprintf(out, "preset           general.file_type %llu = %s; block matrices mostly %s\n", (unsigned long long)ft->u,
            preset ? preset : "unknown", qh_ggml_types[principal].name);
    if (base && strcmp(base, qh_ggml_types[principal].name) != 0)
        fprintf(out, "warning          the preset's name says %s but most block-matrix weights are %s: count the bits from "
                     "the bytes, not from the name\n", base, qh_ggml_types[principal].name);
    if (base && ((embd && strcmp(embd->name, base) != 0) || (output && strcmp(output->name, base) != 0)))
        fprintf(out, "warning          the preset %s keeps the token embedding in %s%s%s: its bpw over the whole model is not %s's\n",
                preset, embd ? embd->name : "-", output ? " and the output in " : " (the output head is tied to it)",
                output ? output->name : "", base);
}
