/* arch_config.h - what the architectures' files (arch_*.c) share to read and write their
 * configs: a positive integer of a config.json (model.c), llama.cpp's keys of a GGUF file and
 * the keys the Llama-like families have in common (model_gguf.c). */
#ifndef QH_ARCH_CONFIG_H
#define QH_ARCH_CONFIG_H

#include <cJSON.h>

#include "harness/formats/gguf.h"
#include "harness/model/model.h"
#include "harness/model/tokenizer.h"

/* root[key] (or root[alt]) as a positive integer, errors naming path and the key */
int qh_json_config_int(const char *path, const cJSON *root, const char *key, const char *alt, int *out, qh_err *err);
/* a GGUF key as a positive integer below 2^24 */
int qh_gguf_config_int(const qh_gguf *g, const char *key, int *out, qh_err *err);
/* The keys llama.cpp's Llama-family architectures share, under the prefix arch: sizes, RMSNorm
 * epsilon, grouped-query heads, the RoPE base; RoPE scaling refused (why: scaling_note, after
 * the rule). */
int qh_gguf_config_rms_rope(const qh_gguf *g, const char *arch, qh_config *c, const char *scaling_note, qh_err *err);

/* The config line of `info` for the RoPE families: "Llama: n_layer 30, n_head 9, ..." */
void qh_config_describe_rope(const qh_config *c, char *out, size_t n);

#endif
