/* ggml_types.h - the ggml tensor types a GGUF file can hold, one row each of a traits table:
 * name, id (as stored in the file), elements per block, bytes per block, and a dequantizer
 * that turns one block into floats exactly as llama.cpp does (same operations in the same
 * order, no fused multiply-adds: the results equal gguf-py's and ggml's bit for bit).
 * The formats follow ggml-common.h / ggml-quants.c (llama.cpp, MIT); the code is written here
 * from their definitions, and the i-quant grids are data tables (ggml_iq_grids.c). */
#ifndef QH_GGML_TYPES_H
#define QH_GGML_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;       /* "Q4_K" */
    uint32_t id;            /* ggml_type */
    int block;              /* elements per block */
    size_t bytes;           /* bytes per block */
    void (*dequant)(const uint8_t *block, float *out); /* block -> `block` floats; NULL: not a weight type */
    void (*quant)(const float *in, uint8_t *block);    /* ggml's reference quantizer; NULL: qharness writes no such type */
} qh_ggml_type;

/* NULL for an id the table does not have. */
const qh_ggml_type *qh_ggml_type_by_id(uint32_t id);
const qh_ggml_type *qh_ggml_type_by_name(const char *name);
/* Every row, ending with a row whose name is NULL. */
extern const qh_ggml_type qh_ggml_types[];

/* n elements (a multiple of the type's block) of type t at src -> dst, on the OpenMP threads. */
void qh_ggml_dequantize(const qh_ggml_type *t, const uint8_t *src, float *dst, uint64_t n);
/* n floats (a multiple of the block) -> n / block blocks at dst; t->quant must be set. */
void qh_ggml_quantize(const qh_ggml_type *t, const float *src, uint8_t *dst, uint64_t n);

#endif
