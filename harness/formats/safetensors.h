/* safetensors.h - read (memory-mapped, validated) and write safetensors files.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON header
 * {"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}},
 * then the data area; offsets are relative to the start of the data area.
 * Reading checks everything a corrupt or hostile file can get wrong: header length, JSON,
 * dtypes, shapes against byte counts, offsets past the end, overlapping tensors. */
#ifndef QH_SAFETENSORS_H
#define QH_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "harness/base/dtype.h"
#include "harness/base/util.h"

#define QH_ST_MAX_DIMS 8
#define QH_ST_MAX_HEADER 100000000 /* bytes of JSON header: the limit of the reference reader (safetensors crate) */

typedef struct {
    char *name;
    qh_dtype dtype;
    int ndim;
    int64_t shape[QH_ST_MAX_DIMS];
    size_t begin, nbytes;      /* within the data area */
    const uint8_t *data;       /* points into the mapping */
} qh_st_tensor;

typedef struct {
    char *path;
    uint8_t *map;
    size_t map_size;
    size_t data_start;         /* 8 + header length */
    int n_tensors;
    qh_st_tensor *tensors;
    int n_meta;
    char **meta_keys, **meta_values;
} qh_safetensors;

int qh_st_open(const char *path, qh_safetensors *st, qh_err *err);
void qh_st_close(qh_safetensors *st);
const qh_st_tensor *qh_st_find(const qh_safetensors *st, const char *name);
const char *qh_st_meta(const qh_safetensors *st, const char *key);
size_t qh_st_numel(const qh_st_tensor *t);

/* Converts an F32/F16/BF16 tensor to fp32 (out holds numel floats). */
int qh_st_to_f32(const qh_safetensors *st, const qh_st_tensor *t, float *out, qh_err *err);

typedef struct {
    const char *name;
    qh_dtype dtype;
    int ndim;
    int64_t shape[QH_ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
} qh_st_entry;

/* Writes atomically (to PATH.tmp, then rename).  meta: n_meta key/value pairs. */
int qh_st_write(const char *path, const qh_st_entry *entries, int n, const char *const *meta_keys,
                const char *const *meta_values, int n_meta, qh_err *err);

#endif
