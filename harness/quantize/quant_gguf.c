/* quant_gguf.c - a GGUF file's weights as a quantization of the model it was made from: the
 * accounting of quantize.h (bytes and bits of each block matrix from the file's own tensors),
 * so a llama.cpp file is a run of a sweep like any method's packed output. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness/formats/ggml_types.h"
#include "harness/formats/gguf.h"
#include "harness/quantize/quantize.h"

int qh_quant_result_from_gguf(const char *path, const qh_model *loaded, const qh_model *base, qh_quant_result *res,
                              qh_err *err)
{
    memset(res, 0, sizeof *res);
    if (loaded->cfg.n_layer != base->cfg.n_layer || loaded->cfg.n_embd != base->cfg.n_embd ||
        loaded->cfg.n_vocab != base->cfg.n_vocab || loaded->cfg.n_head != base->cfg.n_head ||
        loaded->cfg.arch != base->cfg.arch || loaded->n_tensors != base->n_tensors)
        return qh_fail(err, "%s: a %d-layer, %d-wide model with %d tokens is not a quantization of %s (%d layers, %d wide, %d tokens)",
                       path, loaded->cfg.n_layer, loaded->cfg.n_embd, loaded->cfg.n_vocab, base->dir, base->cfg.n_layer,
                       base->cfg.n_embd, base->cfg.n_vocab);
    qh_gguf *g;
    if (qh_gguf_open(path, &g, err) != 0) return -1;
    int kept_types[64] = {0};
    res->q = qh_calloc((size_t)loaded->n_tensors, sizeof *res->q);
    res->params_total = loaded->n_params;
    for (int k = 0; k < loaded->n_tensors; k++) {
        const qh_tensor *t = &loaded->tensors[k], *b = &base->tensors[k];
        char name[96];
        qh_model_gguf_name(loaded, k, name, sizeof name);
        const qh_gguf_tensor *s = qh_gguf_tensor_find(g, name);
        size_t n = (size_t)t->rows * t->cols;
        int linear = t->is_linear;
        if (!linear) {
            if (s->type < 64) kept_types[s->type] = 1;
            if (s->type == 0 /* F32 */ && memcmp(t->data, b->data, n * sizeof(float)) != 0) {
                qh_fail(err, "%s: tensor '%s' (F32 in the file) differs from '%s' of %s (relative difference %.3g): the file is "
                        "not a quantization of that model", path, name, b->name, base->dir, qh_rel_error(b->data, t->data, n, NULL));
                goto fail;
            }
            res->bytes_kept += s->bytes;
            res->bytes_total += s->bytes;
            continue;
        }
        char spec[64];
        snprintf(spec, sizeof spec, "ggml %s", qh_ggml_type_by_id(s->type)->name);
        qh_quant_result_add_file_tensor(res, t, b, spec, "ggml_blocks", s->bytes);
        res->bytes_total += s->bytes;
        res->bytes_by_kind[QH_PART_GGML_BLOCKS] += s->bytes;
    }
    const qh_gguf_tensor *ot = qh_gguf_tensor_find(g, "output.weight");
    if (ot) { /* a copy of the tied head (or its own head): bytes of the file all the same */
        if (ot->type < 64) kept_types[ot->type] = 1;
        res->bytes_kept += ot->bytes;
        res->bytes_total += ot->bytes;
    }
    size_t k = 0;
    for (int ty = 0; ty < 64; ty++)
        if (kept_types[ty])
            k += (size_t)snprintf(res->kept_desc + k, k < sizeof res->kept_desc ? sizeof res->kept_desc - k : 0, "%s%s",
                                  k ? "+" : "", qh_ggml_type_by_id((uint32_t)ty)->name);
    const char *base_name = strrchr(path, '/');
    snprintf(res->spec, sizeof res->spec, "gguf %s (%s)", loaded->dtype, base_name ? base_name + 1 : path);
    res->kept_dtype = QH_DT_F16;
    res->bpp_quantized = res->params_quantized ? 8.0 * res->bytes_quantized / res->params_quantized : NAN;
    res->bpp_model = 8.0 * res->bytes_total / res->params_total;
    snprintf(res->source_sha256, sizeof res->source_sha256, "%s", base->sha256);
    qh_gguf_close(g);
    return 0;
fail:
    qh_gguf_close(g);
    qh_quant_result_free(res);
    return -1;
}

void qh_quant_result_add_file_tensor(qh_quant_result *res, const qh_tensor *t, const qh_tensor *b, const char *spec, const char *part_name,
                                     size_t bytes)
{
    size_t n = (size_t)t->rows * t->cols;
    qh_qtensor *q = &res->q[res->n_q++];
    snprintf(q->name, sizeof q->name, "%s", t->name);
    snprintf(q->spec, sizeof q->spec, "%.250s", spec);
    q->rows = t->cols; /* (out, in): the file's row-major layout */
    q->cols = t->rows;
    q->transposed = 1;
    q->packed.n_parts = 1;
    qh_part *part = &q->packed.part[0];
    snprintf(part->name, sizeof part->name, "%s", part_name);
    part->dtype = QH_DT_U8;
    part->ndim = 1;
    part->shape[0] = (int64_t)bytes;
    part->bytes = bytes;
    q->rel_error = qh_rel_error(b->data, t->data, n, NULL);
    q->sensitivity = NAN;
    res->params_quantized += n;
    res->bytes_quantized += bytes;
}
