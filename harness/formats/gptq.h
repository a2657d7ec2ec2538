/* gptq.h - GPTQ's packed linear layers as AutoGPTQ and GPTQModel store them in a Hugging Face
 * checkpoint (issue 34, the first piece: the dequantization; the directory reader is not
 * written yet).
 *
 * A layer of `in` inputs and `out` outputs at `bits` bits (2, 3, 4 or 8) is four tensors:
 *   qweight  int32 (in / 32 * bits, out): the codes along the input dimension, 32 inputs to each
 *            run of `bits` words, input j of a run at bits [j * bits, (j + 1) * bits) of the run
 *            read as one little-endian stream (so 3-bit codes straddle words);
 *   qzeros   int32 (n_groups, out / 32 * bits): the zero points, packed the same way along the
 *            output dimension; AutoGPTQ's format (checkpoint_format "gptq", v1) stores zero - 1,
 *            GPTQModel's "gptq_v2" the zero itself;
 *   scales   F16 (n_groups, out);
 *   g_idx    int32 (in): the group of each input (i / group_size, or a permutation's groups
 *            with act-order, desc_act).
 * w[i][o] = scales[g][o] * (q[i][o] - z[g][o]), g = g_idx[i], computed as AutoGPTQ's own
 * forward does in half precision: the product (exact in float) rounded once to F16.  The v1
 * zero is (stored + 1) & (2^bits - 1), wrapping as AutoGPTQ's does. */
#ifndef QH_GPTQ_H
#define QH_GPTQ_H

#include <stdint.h>

#include "harness/base/util.h"

typedef struct {
    int bits;          /* 2, 3, 4 or 8 */
    int in, out;       /* the layer's widths: multiples of 32 */
    int n_groups;      /* rows of qzeros and scales */
    int zeros_minus_one; /* v1 ("gptq"): qzeros hold zero - 1 */
} qh_gptq_layout;

/* The layer's weights, (in, out) row-major (y = x W), in F16 as the tool computes them; an
 * error names the layout or the input whose g_idx is out of range.  The caller has checked the
 * tensors' shapes against l: qweight (in / 32 * bits, out), qzeros (n_groups, out / 32 * bits),
 * scales (n_groups, out), g_idx (in); w holds in * out. */
int qh_gptq_dequantize(const qh_gptq_layout *l, const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales,
                       const int32_t *g_idx, uint16_t *w, qh_err *err);

#endif
