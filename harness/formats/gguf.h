/* gguf.h - GGUF files (llama.cpp's format), read through a memory map.
 *
 * A GGUF file is: magic "GGUF", version (2 or 3), tensor count and key/value count (u64),
 * the key/value pairs (metadata), the tensor infos (name, dims, ggml type, offset), padding to
 * general.alignment (default 32), then the tensor data.  qh_gguf_open checks what ggml's own
 * reader checks (names shorter than 64 bytes, at most 4 dims, ne[0] a multiple of the type's
 * block, data offsets aligned, inside the file and not overlapping, no duplicate keys or
 * tensor names, strings and arrays inside the file, array nesting at most QH_GGUF_MAX_DEPTH)
 * and fails with one line naming the file, the key or tensor, and the byte offset.  Nothing
 * is copied: tensor data and strings point into the mapping, so a 7 GB file is paged in on
 * demand, never read into memory twice. */
#ifndef QH_GGUF_H
#define QH_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "harness/base/util.h"

enum {
    QH_GGUF_U8 = 0, QH_GGUF_I8, QH_GGUF_U16, QH_GGUF_I16, QH_GGUF_U32, QH_GGUF_I32, QH_GGUF_F32, QH_GGUF_BOOL,
    QH_GGUF_STRING, QH_GGUF_ARRAY, QH_GGUF_U64, QH_GGUF_I64, QH_GGUF_F64, QH_GGUF_N_VTYPES
};

#define QH_GGUF_MAX_NAME 64             /* tensor names are shorter (ggml's GGML_MAX_NAME) */
#define QH_GGUF_MAX_DIMS 4
#define QH_GGUF_MAX_DEPTH 4             /* arrays of arrays of ... */
#define QH_GGUF_MAX_KEY 65535           /* bytes of a key */
#define QH_GGUF_MAX_TENSORS (1u << 20)
#define QH_GGUF_MAX_KV (1u << 20)

typedef struct {
    const char *key;          /* NUL-terminated copy */
    uint32_t type;            /* QH_GGUF_* */
    uint32_t elem_type;       /* arrays: the element type */
    uint64_t n;               /* arrays: element count; 1 otherwise */
    size_t offset;            /* byte offset of the key in the file */
    /* scalars */
    uint64_t u;               /* unsigned and bool values */
    int64_t i;                /* signed values (also set for unsigned that fit) */
    double f;                 /* every numeric value as a double */
    /* strings (and arrays of strings, element by element through qh_gguf_array_str) */
    const char *str;
    uint64_t str_len;
    /* arrays of fixed-size elements: the first element in the mapping */
    const uint8_t *data;
    const uint64_t *str_offsets; /* arrays of strings: offset of each element's length field */
} qh_gguf_kv;

typedef struct {
    char name[QH_GGUF_MAX_NAME];
    int n_dims;
    int64_t ne[QH_GGUF_MAX_DIMS]; /* ne[0] is the fastest-varying (row length) */
    uint32_t type;                /* ggml type id (ggml_types.h) */
    uint64_t offset;              /* from the start of the data section */
    uint64_t n_elements, bytes;
    const uint8_t *data;          /* into the mapping */
    size_t info_offset;           /* byte offset of the tensor info in the file */
} qh_gguf_tensor;

typedef struct qh_gguf {
    char *path;
    const uint8_t *map;
    size_t size;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    qh_gguf_kv *kv;
    qh_gguf_tensor *tensors;
    uint64_t alignment, data_offset; /* data_offset: where the data section starts */
} qh_gguf;

int qh_gguf_open(const char *path, qh_gguf **out, qh_err *err);
void qh_gguf_close(qh_gguf *g);

/* 1 when the file starts with the GGUF magic (for the model-format table). */
int qh_gguf_probe(const char *path);

const qh_gguf_kv *qh_gguf_find(const qh_gguf *g, const char *key);
const qh_gguf_tensor *qh_gguf_tensor_find(const qh_gguf *g, const char *name);

/* Typed look-ups: 0 on success; -1 with err naming the file and key when the key is missing
 * or has another type (integers of any width are accepted where they fit). */
int qh_gguf_get_int(const qh_gguf *g, const char *key, int64_t *v, qh_err *err);
int qh_gguf_get_float(const qh_gguf *g, const char *key, double *v, qh_err *err);
int qh_gguf_get_str(const qh_gguf *g, const char *key, const char **s, uint64_t *len, qh_err *err);

/* Element i of an array of strings / of numbers. */
const char *qh_gguf_array_str(const qh_gguf *g, const qh_gguf_kv *kv, uint64_t i, uint64_t *len);
double qh_gguf_array_num(const qh_gguf_kv *kv, uint64_t i);

const char *qh_gguf_vtype_name(uint32_t t);

/* The bits-per-weight ledger of a file, from its bytes: each tensor's role (block matrix,
 * embedding, output, norm or bias, other), type, elements and bytes; totals by role and by
 * type; the whole file with and without its header (metadata, tensor infos, padding). */
enum { QH_GGUF_ROLE_BLOCK, QH_GGUF_ROLE_EMBEDDING, QH_GGUF_ROLE_OUTPUT, QH_GGUF_ROLE_NORM, QH_GGUF_ROLE_OTHER,
       QH_GGUF_N_ROLES };
int qh_gguf_role(const qh_gguf_tensor *t);
extern const char *const qh_gguf_role_names[QH_GGUF_N_ROLES];

/* Prints the ledger; with tensors, one line per tensor as well.  A file whose preset name
 * (general.file_type) does not match the type holding most of its block-matrix weights, or
 * whose embedding or output is in another type, gets a "warning" line saying so. */
void qh_gguf_print_ledger(const qh_gguf *g, int tensors, FILE *out);

/* ---- writing (gguf_write.c) ---- */
typedef struct qh_gguf_writer qh_gguf_writer;
qh_gguf_writer *qh_gguf_writer_new(uint32_t alignment); /* 0: 32, ggml's default */
void qh_gguf_writer_free(qh_gguf_writer *w);
void qh_gguf_put_u32(qh_gguf_writer *w, const char *key, uint32_t v);
void qh_gguf_put_f32(qh_gguf_writer *w, const char *key, float v);
void qh_gguf_put_bool(qh_gguf_writer *w, const char *key, int v);
void qh_gguf_put_str(qh_gguf_writer *w, const char *key, const char *s);
void qh_gguf_put_str_array(qh_gguf_writer *w, const char *key, char *const *s, uint64_t n);
void qh_gguf_put_i32_array(qh_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
void qh_gguf_put_f32_array(qh_gguf_writer *w, const char *key, const float *v, uint64_t n);
/* data is not copied: it must live until qh_gguf_write.  ne[0] is the row length. */
int qh_gguf_put_tensor(qh_gguf_writer *w, const char *name, int n_dims, const int64_t *ne, uint32_t type, const void *data,
                       size_t bytes, qh_err *err);
/* Writes path.partial, then renames it to path: on failure nothing is left. */
int qh_gguf_write(const qh_gguf_writer *w, const char *path, qh_err *err);

#endif
