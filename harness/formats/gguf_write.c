/* gguf_write.c - writing GGUF files (version 3), laid out as ggml's gguf_write does: the
 * header, the key/value pairs in the order given, the tensor infos in the order given, padding
 * to general.alignment, then each tensor's data at an offset (from the start of the data
 * section) that is a multiple of the alignment, in tensor-info order, zero-padded between.
 * The file is written beside its destination and renamed into place only when complete, so a
 * failure leaves nothing (and an existing file untouched). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/formats/ggml_types.h"
#include "harness/base/outfile.h"
#include "harness/formats/gguf.h"

typedef struct {
    char name[QH_GGUF_MAX_NAME];
    int n_dims;
    int64_t ne[QH_GGUF_MAX_DIMS];
    uint32_t type;
    const void *data;
    size_t bytes;
} out_tensor;

struct qh_gguf_writer {
    uint8_t *kv;          /* the serialized key/value pairs */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    out_tensor *tensors;
    uint64_t n_tensors;
    uint32_t alignment;
};

static void put_bytes(qh_gguf_writer *w, const void *p, size_t n)
{
    if (w->kv_len + n > w->kv_cap) {
        w->kv_cap = (w->kv_len + n) * 2 + 4096;
        w->kv = qh_realloc(w->kv, w->kv_cap);
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}

static void put_u32(qh_gguf_writer *w, uint32_t v) { put_bytes(w, &v, 4); }
static void put_u64(qh_gguf_writer *w, uint64_t v) { put_bytes(w, &v, 8); }
static void put_string(qh_gguf_writer *w, const char *s, size_t len)
{
    put_u64(w, len);
    put_bytes(w, s, len);
}
static void put_key(qh_gguf_writer *w, const char *key, uint32_t type)
{
    put_string(w, key, strlen(key));
    put_u32(w, type);
    w->n_kv++;
}

qh_gguf_writer *qh_gguf_writer_new(uint32_t alignment)
{
    qh_gguf_writer *w = qh_calloc(1, sizeof *w);
    w->alignment = alignment ? alignment : 32;
    if (w->alignment != 32) qh_gguf_put_u32(w, "general.alignment", w->alignment);
    return w;
}

void qh_gguf_writer_free(qh_gguf_writer *w)
{
    if (!w) return;
    free(w->kv);
    free(w->tensors);
    free(w);
}

void qh_gguf_put_u32(qh_gguf_writer *w, const char *key, uint32_t v)
{
    put_key(w, key, QH_GGUF_U32);
    put_u32(w, v);
}

void qh_gguf_put_f32(qh_gguf_writer *w, const char *key, float v)
{
    put_key(w, key, QH_GGUF_F32);
    put_bytes(w, &v, 4);
}

void qh_gguf_put_bool(qh_gguf_writer *w, const char *key, int v)
{
    uint8_t b = v ? 1 : 0;
    put_key(w, key, QH_GGUF_BOOL);
    put_bytes(w, &b, 1);
}

void qh_gguf_put_str(qh_gguf_writer *w, const char *key, const char *s)
{
    put_key(w, key, QH_GGUF_STRING);
    put_string(w, s, strlen(s));
}

void qh_gguf_put_str_array(qh_gguf_writer *w, const char *key, char *const *s, uint64_t n)
{
    put_key(w, key, QH_GGUF_ARRAY);
    put_u32(w, QH_GGUF_STRING);
    put_u64(w, n);
    for (uint64_t i = 0; i < n; i++) put_string(w, s[i], strlen(s[i]));
}

void qh_gguf_put_i32_array(qh_gguf_writer *w, const char *key, const int32_t *v, uint64_t n)
{
    put_key(w, key, QH_GGUF_ARRAY);
    put_u32(w, QH_GGUF_I32);
    put_u64(w, n);
    put_bytes(w, v, n * 4);
}

void qh_gguf_put_f32_array(qh_gguf_writer *w, const char *key, const float *v, uint64_t n)
{
    put_key(w, key, QH_GGUF_ARRAY);
    put_u32(w, QH_GGUF_F32);
    put_u64(w, n);
    put_bytes(w, v, n * 4);
}

int qh_gguf_put_tensor(qh_gguf_writer *w, const char *name, int n_dims, const int64_t *ne, uint32_t type, const void *data,
                       size_t bytes, qh_err *err)
{
    const qh_ggml_type *t = qh_ggml_type_by_id(type);
    if (strlen(name) >= QH_GGUF_MAX_NAME) return qh_fail(err, "tensor '%s': the name has 64 bytes or more", name);
    if (!t || n_dims < 1 || n_dims > QH_GGUF_MAX_DIMS) return qh_fail(err, "tensor '%s': bad type or dimensions", name);
    uint64_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= (uint64_t)ne[i];
    if (ne[0] % t->block || n / (uint64_t)t->block * t->bytes != bytes)
        return qh_fail(err, "tensor '%s': %zu bytes for %llu elements of %s", name, bytes, (unsigned long long)n, t->name);
    w->tensors = qh_realloc(w->tensors, (size_t)(w->n_tensors + 1) * sizeof *w->tensors);
    out_tensor *o = &w->tensors[w->n_tensors++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    o->n_dims = n_dims;
    for (int i = 0; i < QH_GGUF_MAX_DIMS; i++) o->ne[i] = i < n_dims ? ne[i] : 1;
    o->type = type;
    o->data = data;
    o->bytes = bytes;
    return 0;
}

static uint64_t pad(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

int qh_gguf_write(const qh_gguf_writer *w, const char *path, qh_err *err)
{
    qh_outfile out;
    if (qh_outfile_open(&out, path, err) != 0) return -1;
    FILE *f = out.f;
    int ok = 1;
    uint32_t version = 3;
    uint64_t offset = 0, written = 0;
    ok &= fwrite("GGUF", 1, 4, f) == 4 && fwrite(&version, 4, 1, f) == 1 && fwrite(&w->n_tensors, 8, 1, f) == 1 &&
          fwrite(&w->n_kv, 8, 1, f) == 1 && fwrite(w->kv, 1, w->kv_len, f) == w->kv_len;
    written = 24 + w->kv_len;
    for (uint64_t i = 0; i < w->n_tensors && ok; i++) {
        const out_tensor *t = &w->tensors[i];
        uint64_t len = strlen(t->name), ne;
        uint32_t nd = (uint32_t)t->n_dims;
        ok &= fwrite(&len, 8, 1, f) == 1 && fwrite(t->name, 1, len, f) == len && fwrite(&nd, 4, 1, f) == 1;
        for (int d = 0; d < t->n_dims && ok; d++) {
            ne = (uint64_t)t->ne[d];
            ok &= fwrite(&ne, 8, 1, f) == 1;
        }
        ok &= fwrite(&t->type, 4, 1, f) == 1 && fwrite(&offset, 8, 1, f) == 1;
        written += 8 + len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        offset = pad(offset + t->bytes, w->alignment);
    }
    static const uint8_t zeros[256];
    uint64_t data_start = pad(written, w->alignment);
    ok &= fwrite(zeros, 1, (size_t)(data_start - written), f) == data_start - written;
    for (uint64_t i = 0; i < w->n_tensors && ok; i++) {
        const out_tensor *t = &w->tensors[i];
        ok &= fwrite(t->data, 1, t->bytes, f) == t->bytes;
        if (i + 1 < w->n_tensors) { /* ggml pads after every tensor but the last */
            size_t gap = (size_t)(pad(t->bytes, w->alignment) - t->bytes);
            ok &= fwrite(zeros, 1, gap, f) == gap;
        }
    }
    if (!ok) {
        qh_fail(err, "%s: write failed (%s); nothing written", path, strerror(errno));
        qh_outfile_abort(&out);
        return -1;
    }
    return qh_outfile_commit(&out, err);
}
