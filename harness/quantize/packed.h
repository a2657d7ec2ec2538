/* packed.h - the packed file: a quantized model as one safetensors file.
 *
 * For each quantized weight W its packed parts are tensors "W.<part>" (U8/U16/U32/F16...),
 * every kept tensor is stored under its own name in the kept dtype, and one metadata entry
 * "qharness" (JSON: format, harness version, source model and sha256, config, method per
 * tensor with its shape) says how to decode them.  bpp is computed from the bytes of these
 * tensors:
 *     whole-model bpp * parameters / 8 == sum of the tensor bytes in the file. */
#ifndef QH_PACKED_H
#define QH_PACKED_H

#include "harness/quantize/quantize.h"

int qh_quant_write(const char *path, const qh_model *m, const qh_quant_result *res, qh_err *err);

/* 1 if path is a packed qharness file (a regular file with "qharness" metadata). */
int qh_is_packed_file(const char *path);
/* Loads and decodes a packed file; res gets the per-tensor specs, parts and accounting as
 * read from the file. */
int qh_quant_load(const char *path, qh_model **out, qh_quant_result *res, qh_err *err);

#endif
