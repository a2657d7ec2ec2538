/* quant_checkpoint.c - a Hugging Face checkpoint quantized by a vendor's tool (GPTQ, AWQ,
 * compressed-tensors, bitsandbytes: harness/formats/hf_quant.h) as a quantization of the model it
 * was made from: the accounting of quantize.h from the bytes of the file's own tensors, so such a
 * directory is a run of a sweep (an experiment's `checkpoint =`) like a GGUF file's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness/quantize/quantize.h"

int qh_quant_result_from_checkpoint(const char *path, const qh_model *loaded, const qh_model *base, qh_quant_result *res, qh_err *err)
{
    memset(res, 0, sizeof *res);
    if (!loaded->quant_layers) return qh_fail(err, "%s: no layer of this checkpoint is stored quantized (no quantization_config)", path);
    if (loaded->cfg.n_layer != base->cfg.n_layer || loaded->cfg.n_embd != base->cfg.n_embd || loaded->cfg.n_vocab != base->cfg.n_vocab ||
        loaded->cfg.n_head != base->cfg.n_head || loaded->cfg.arch != base->cfg.arch || loaded->n_tensors != base->n_tensors)
        return qh_fail(err, "%s: a %d-layer, %d-wide model with %d tokens is not a quantization of %s (%d layers, %d wide, %d tokens)", path,
                       loaded->cfg.n_layer, loaded->cfg.n_embd, loaded->cfg.n_vocab, base->dir, base->cfg.n_layer, base->cfg.n_embd,
                       base->cfg.n_vocab);
    res->q = qh_calloc((size_t)loaded->n_tensors, sizeof *res->q);
    res->params_total = loaded->n_params;
    for (int k = 0; k < loaded->n_tensors; k++) {
        const qh_tensor *t = &loaded->tensors[k], *b = &base->tensors[k];
        size_t n = (size_t)t->rows * t->cols;
        if (!t->stored_quantized) {
            /* a kept tensor equal in value to the base's: anything else means another model */
            if (memcmp(t->data, b->data, n * sizeof(float)) != 0) {
                qh_fail(err, "%s: tensor '%s' (kept unquantized in the file) differs from '%s' of %s (relative difference %.3g): the checkpoint "
                        "is not a quantization of that model", path, t->name, b->name, base->dir, qh_rel_error(b->data, t->data, n, NULL));
                goto fail;
            }
            continue;
        }
        qh_quant_result_add_file_tensor(res, t, b, loaded->quant_desc, "checkpoint_tensors", t->stored_bytes);
    }
    if (res->bytes_quantized != loaded->quant_bytes) {
        qh_fail(err, "%s: %zu bytes of quantized layers counted, %zu read", path, res->bytes_quantized, loaded->quant_bytes);
        goto fail;
    }
    /* the file's bytes by what they hold (qh_hfq_role's order; the metadata -- weight_shape, the
     * quant state's JSON -- counted with the unquantized values) */
    static const qh_part_kind kinds[5] = {QH_PART_CODES, QH_PART_SCALES, QH_PART_ZEROS, QH_PART_INDICES, QH_PART_VALUES};
    for (int r = 0; r < 5; r++) res->bytes_by_kind[kinds[r]] += loaded->quant_bytes_by_role[r];
    /* every tensor of the file (a separate head, buffers) is counted, whatever the table above read */
    res->bytes_total = loaded->file_tensor_bytes;
    res->bytes_kept = res->bytes_total - res->bytes_quantized;
    const char *name = strrchr(path, '/');
    snprintf(res->spec, sizeof res->spec, "checkpoint %.120s (%.100s)", loaded->quant_desc, name && name[1] ? name + 1 : path);
    snprintf(res->kept_desc, sizeof res->kept_desc, "%s", loaded->dtype);
    if (qh_dtype_from_name(loaded->dtype, &res->kept_dtype) != 0) res->kept_dtype = QH_DT_F32;
    res->bpp_quantized = 8.0 * res->bytes_quantized / res->params_quantized;
    res->bpp_model = 8.0 * res->bytes_total / res->params_total;
    snprintf(res->source_sha256, sizeof res->source_sha256, "%s", base->sha256);
    return 0;
fail:
    qh_quant_result_free(res);
    return -1;
}
