/* hf_quant.h - Hugging Face checkpoints whose linear layers a vendor's tool stored quantized
 * (issue 34): what their config.json's quantization_config says, and each layer dequantized to
 * the float32 weights the tool's own dequantization gives, bit for bit.
 *
 * One row per format (hf_quant.c's table), selected by quantization_config.quant_method:
 *   gptq                AutoGPTQ / GPTQModel: qweight, qzeros, scales, g_idx (gptq.c)
 *   awq                 AutoAWQ: GEMM and GEMV packings of qweight, qzeros, scales (hf_quant_awq.c)
 *   compressed-tensors  llm-compressor: pack-quantized weight_packed / weight_scale /
 *                       weight_zero_point / weight_shape, and int-quantized (naive) int8 weights
 *                       (hf_quant_ct.c)
 *   bitsandbytes        QLoRA's 4-bit NF4 with or without nested (double-quantized) absmax, as
 *                       Params4bit saves it (hf_quant_bnb.c)
 * Every setting a config can name that a row does not read is refused with a one-line error
 * naming the key and its value; GPT-2's Conv1D layers are stored by the tools as linear layers
 * (out, in) and read the same way; a layer the config leaves unquantized (an ignore list) is read as
 * an ordinary weight.  Only the tensors of a layer that the format defines are consumed: any
 * other tensor is the loader's "unexpected tensor". */
#ifndef QH_HF_QUANT_H
#define QH_HF_QUANT_H

#include <stddef.h>

#include "harness/base/dtype.h"
#include "harness/base/util.h"
#include "harness/formats/safetensors.h"

typedef struct qh_hfq_format qh_hfq_format;

/* A checkpoint's quantization, from its quantization_config. */
typedef struct {
    const qh_hfq_format *fmt;
    int bits;            /* bits of a weight's code */
    int group_size;      /* inputs sharing a scale; 0: one scale per output (per channel); -1: per tensor */
    int symmetric;       /* no zero points stored */
    int act_order;       /* GPTQ desc_act: a g_idx permutes the inputs among the groups */
    int zeros_minus_one; /* GPTQ v1 ("gptq"): qzeros hold zero - 1 */
    int layout;          /* a row's own variant: AWQ GEMM or GEMV, compressed-tensors packed or naive, bitsandbytes nested */
    char desc[192];      /* "GPTQ 4-bit, groups of 128, asymmetric (AutoGPTQ v1 zeros)" */
    double named_bits;   /* the bits of a weight's code the config names (4 for GPTQ 4-bit); scales not included */
} qh_hfq;

/* What a tensor of a quantized layer holds, for the ledger */
typedef enum { QH_HFQ_CODES, QH_HFQ_SCALES, QH_HFQ_ZEROS, QH_HFQ_INDICES, QH_HFQ_META, QH_HFQ_N_ROLES } qh_hfq_role;

/* One linear layer being read: the file, its tensors consumed so far, the layer's name in the
 * file without ".weight" ("model.layers.0.self_attn.q_proj") and its PyTorch shape (out, in). */
typedef struct {
    const qh_safetensors *st;
    unsigned char *used;     /* per tensor of st: consumed by some layer */
    char base[256];
    int out, in;
    size_t bytes;            /* of the tensors this layer consumed */
    size_t bytes_by_role[QH_HFQ_N_ROLES];
} qh_hfq_layer;

struct qh_hfq_format {
    const char *quant_method; /* quantization_config.quant_method */
    const char *tool;         /* who writes it */
    int (*configure)(const char *path, const void *quantization_config /* cJSON */, qh_hfq *q, qh_err *err);
    int (*is_quantized)(const qh_hfq *q, const qh_hfq_layer *l);               /* the layer is stored this way */
    int (*dequantize)(const qh_hfq *q, qh_hfq_layer *l, float *w_out_in, qh_err *err); /* (out, in) float32 */
};

/* Reads config.json's quantization_config: *present 0 when there is none (q untouched). */
int qh_hfq_from_config(const char *config_path, qh_hfq *q, int *present, qh_err *err);

/* 1: the layer is stored quantized and w (out * in floats, (out, in) row-major) holds the tool's
 * dequantization; 0: not quantized in this file (read its .weight as usual); -1: error. */
int qh_hfq_layer_load(const qh_hfq *q, qh_hfq_layer *l, float *w_out_in, qh_err *err);

/* ---- for the rows ---- */
/* Tensor BASE.suffix of dtype dt with ndim dimensions of the given sizes (a size < 0: any),
 * consumed and counted as role; NULL and an error naming it when it is missing or shaped otherwise (optional: NULL
 * and no error when missing). */
const qh_st_tensor *qh_hfq_part(qh_hfq_layer *l, const char *suffix, qh_hfq_role role, qh_dtype dt, int ndim, int64_t d0, int64_t d1,
                                int optional, qh_err *err);
int qh_hfq_has(const qh_hfq_layer *l, const char *suffix);
/* Element `index` of a stream of `bits`-bit codes packed little-endian into 32-bit words, word w
 * of the stream at words[w * stride]. */
unsigned qh_hfq_code(const int32_t *words, size_t stride, int bits, size_t index);

/* quantization_config.KEY (path names the file): *found 0 and nothing set when absent; a value of
 * another JSON type is an error naming the key. */
int qh_hfq_json_int(const char *path, const void *obj, const char *key, int *v, int *found, qh_err *err);
int qh_hfq_json_bool(const char *path, const void *obj, const char *key, int *v, int *found, qh_err *err);
/* NULL when absent or null */
int qh_hfq_json_str(const char *path, const void *obj, const char *key, const char **v, qh_err *err);

extern const qh_hfq_format qh_hfq_gptq, qh_hfq_awq, qh_hfq_ct, qh_hfq_bnb;

#endif
