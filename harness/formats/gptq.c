/* gptq.c - GPTQ's packed codes and zero points unpacked, and the layer dequantized; see gptq.h. */
#include "harness/formats/gptq.h"

#include <string.h>

#include "harness/base/dtype.h"

/* Element j (0..31) of the run of `bits` words starting at words[0], the words `stride` apart:
 * bits [j * bits, (j + 1) * bits) of their little-endian concatenation. */
static unsigned code_at(const int32_t *words, size_t stride, int bits, int j)
{
    int p = j * bits, w = p / 32, off = p % 32;
    uint32_t v = (uint32_t)words[(size_t)w * stride] >> off;
    if (off + bits > 32) v |= (uint32_t)words[(size_t)(w + 1) * stride] << (32 - off);
    return v & ((1u << bits) - 1);
}

int qh_gptq_dequantize(const qh_gptq_layout *l, const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales,
                       const int32_t *g_idx, uint16_t *w, qh_err *err)
{
    int bits = l->bits, in = l->in, out = l->out, G = l->n_groups;
    if (bits != 2 && bits != 3 && bits != 4 && bits != 8) return qh_fail(err, "GPTQ: %d bits: qharness reads 2, 3, 4 and 8", bits);
    if (in <= 0 || out <= 0 || in % 32 || out % 32)
        return qh_fail(err, "GPTQ: a %d x %d layer: both widths must be positive multiples of 32", in, out);
    if (G <= 0 || G > in) return qh_fail(err, "GPTQ: %d groups for %d inputs", G, in);
    for (int i = 0; i < in; i++)
        if (g_idx[i] < 0 || g_idx[i] >= G) return qh_fail(err, "GPTQ: g_idx[%d] is %d, not a group (0 .. %d)", i, g_idx[i], G - 1);
    unsigned mask = (1u << bits) - 1;
    size_t zcols = (size_t)out / 32 * bits;
    for (int i = 0; i < in; i++) {
        int g = g_idx[i];
        const int32_t *qrun = qweight + (size_t)(i / 32) * bits * out;
        const int32_t *zrow = qzeros + (size_t)g * zcols;
        for (int o = 0; o < out; o++) {
            int q = (int)code_at(qrun + o, (size_t)out, bits, i % 32);
            unsigned zs = code_at(zrow + (size_t)(o / 32) * bits, 1, bits, o % 32);
            int z = (int)(l->zeros_minus_one ? (zs + 1) & mask : zs);
            w[(size_t)i * out + o] = qh_f32_to_f16(qh_f16_to_f32(scales[(size_t)g * out + o]) * (float)(q - z));
        }
    }
    return 0;
}
