/* nf4.c - 4-bit NormalFloat (QLoRA, Dettmers et al. 2023): the 16 levels are quantiles of
 * N(0, 1) normalised to [-1, 1], with an exact zero; one absmax scale per block of weights along
 * a row.
 *
 * double_quant=0 (qharness's nf4 since its first round): the absmax scales stored F16, codes
 * chosen against the F16 scale; 4 + 16/64 = 4.25 bits per weight.  This is not QLoRA's storage
 * (bitsandbytes keeps F32 absmax, 4.5 bits, without double quantization).
 *
 * double_quant=1: QLoRA's storage as bitsandbytes writes it (quantize_4bit with
 * compress_statistics=True): codes chosen against the exact F32 absmax of each block of 64; the
 * absmax values less their mean (the "offset", F32) quantized blockwise in blocks of 256 to
 * 8-bit codes of bitsandbytes's signed dynamic map, with one F32 absmax per block of 256;
 * decoded as level * (map[code] * absmax2 + offset).  4 + 8/64 + 32/(64 * 256) = 4.127 bits per
 * weight, plus 32 per matrix.  The 16 levels and the 256-value map are constants of the format
 * (bitsandbytes stores them with each tensor; qharness does not, as it stores no level table for
 * any method).  Blocks of 64 run along rows (bitsandbytes's along the flattened tensor: the same
 * where the row length is a multiple of 64); the blocks of 256 run over the row-major list of
 * block absmax values. */
#include "methods/levels.h"

/* bitsandbytes scales then adds in two rounded steps: no fused multiply-add may join them */
#pragma GCC optimize("fp-contract=off")

#include <math.h>
#include <stdlib.h>

static const float nf4_levels[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

/* bitsandbytes 0.46.1's create_dynamic_map(signed=True) as its blockwise quantizer uses it (its
 * CPU kernel sets the first entry, -0.99296875, to -1 before searching), printed by
 * tools/peers/bnb_reference.py; sorted, so a nearest entry can be found by bisection. */
static const float dynamic_map[256] = {
    -0x1p+0f, -0x1.f53334p-1f, -0x1.eep-1f, -0x1.e6ccccp-1f,
    -0x1.df999ap-1f, -0x1.d86666p-1f, -0x1.d13334p-1f, -0x1.cap-1f,
    -0x1.c2ccccp-1f, -0x1.bb999ap-1f, -0x1.b46666p-1f, -0x1.ad3334p-1f,
    -0x1.a6p-1f, -0x1.9eccccp-1f, -0x1.97999ap-1f, -0x1.906666p-1f,
    -0x1.893334p-1f, -0x1.82p-1f, -0x1.7accccp-1f, -0x1.73999ap-1f,
    -0x1.6c6668p-1f, -0x1.653334p-1f, -0x1.5ep-1f, -0x1.56ccccp-1f,
    -0x1.4f999ap-1f, -0x1.486668p-1f, -0x1.413334p-1f, -0x1.3ap-1f,
    -0x1.32ccccp-1f, -0x1.2b999ap-1f, -0x1.246668p-1f, -0x1.1d3334p-1f,
    -0x1.16p-1f, -0x1.0eccccp-1f, -0x1.079998p-1f, -0x1.006666p-1f,
    -0x1.f26664p-2f, -0x1.e4p-2f, -0x1.d59998p-2f, -0x1.c73334p-2f,
    -0x1.b8ccccp-2f, -0x1.aa6666p-2f, -0x1.9cp-2f, -0x1.8d9998p-2f,
    -0x1.7f3334p-2f, -0x1.70ccccp-2f, -0x1.626666p-2f, -0x1.54p-2f,
    -0x1.459998p-2f, -0x1.373334p-2f, -0x1.28ccccp-2f, -0x1.1a6668p-2f,
    -0x1.0cp-2f, -0x1.fb3332p-3f, -0x1.de6666p-3f, -0x1.c1999ap-3f,
    -0x1.a4ccccp-3f, -0x1.88p-3f, -0x1.6b3334p-3f, -0x1.4e6666p-3f,
    -0x1.31999ap-3f, -0x1.14ccccp-3f, -0x1.fp-4f, -0x1.b66668p-4f,
    -0x1.93d70ap-4f, -0x1.8851eep-4f, -0x1.7ccccep-4f, -0x1.7147aep-4f,
    -0x1.65c29p-4f, -0x1.5a3d7p-4f, -0x1.4eb854p-4f, -0x1.433334p-4f,
    -0x1.37ae14p-4f, -0x1.2c28f6p-4f, -0x1.20a3d6p-4f, -0x1.151ebap-4f,
    -0x1.09999ap-4f, -0x1.fc28f6p-5f, -0x1.e51ebap-5f, -0x1.ce147ap-5f,
    -0x1.b70a3ep-5f, -0x1.ap-5f, -0x1.88f5c2p-5f, -0x1.71eb86p-5f,
    -0x1.5ae146p-5f, -0x1.43d70ap-5f, -0x1.2ccccep-5f, -0x1.15c29p-5f,
    -0x1.fd70a4p-6f, -0x1.cf5c2ap-6f, -0x1.a147aep-6f, -0x1.733334p-6f,
    -0x1.451ebap-6f, -0x1.170a3ep-6f, -0x1.d1eb86p-7f, -0x1.75c29p-7f,
    -0x1.3e76c8p-7f, -0x1.2c083p-7f, -0x1.19999ap-7f, -0x1.072b02p-7f,
    -0x1.e978d4p-8f, -0x1.c49ba6p-8f, -0x1.9fbe76p-8f, -0x1.7ae148p-8f,
    -0x1.56041ap-8f, -0x1.3126e8p-8f, -0x1.0c49bap-8f, -0x1.ced914p-9f,
    -0x1.851eb8p-9f, -0x1.3b645ap-9f, -0x1.e353f8p-10f, -0x1.4fdf3ap-10f,
    -0x1.eecbfep-11f, -0x1.b3d07cp-11f, -0x1.78d5p-11f, -0x1.3dd982p-11f,
    -0x1.02de02p-11f, -0x1.8fc506p-12f, -0x1.19ce0ap-12f, -0x1.47ae16p-13f,
    -0x1.743e96p-14f, -0x1.15df66p-14f, -0x1.6f0068p-15f, -0x1.64840cp-16f,
    -0x1.040bfep-17f, -0x1.b43528p-19f, -0x1.27476ep-21f, 0x0.0p+0f,
    0x1.27476ep-21f, 0x1.b43528p-19f, 0x1.040bfep-17f, 0x1.64840cp-16f,
    0x1.6f0068p-15f, 0x1.15df66p-14f, 0x1.743e96p-14f, 0x1.47ae16p-13f,
    0x1.19ce0ap-12f, 0x1.8fc506p-12f, 0x1.02de02p-11f, 0x1.3dd982p-11f,
    0x1.78d5p-11f, 0x1.b3d07cp-11f, 0x1.eecbfep-11f, 0x1.4fdf3ap-10f,
    0x1.e353f8p-10f, 0x1.3b645ap-9f, 0x1.851eb8p-9f, 0x1.ced914p-9f,
    0x1.0c49bap-8f, 0x1.3126e8p-8f, 0x1.56041ap-8f, 0x1.7ae148p-8f,
    0x1.9fbe76p-8f, 0x1.c49ba6p-8f, 0x1.e978d4p-8f, 0x1.072b02p-7f,
    0x1.19999ap-7f, 0x1.2c083p-7f, 0x1.3e76c8p-7f, 0x1.75c29p-7f,
    0x1.d1eb86p-7f, 0x1.170a3ep-6f, 0x1.451ebap-6f, 0x1.733334p-6f,
    0x1.a147aep-6f, 0x1.cf5c2ap-6f, 0x1.fd70a4p-6f, 0x1.15c29p-5f,
    0x1.2ccccep-5f, 0x1.43d70ap-5f, 0x1.5ae146p-5f, 0x1.71eb86p-5f,
    0x1.88f5c2p-5f, 0x1.ap-5f, 0x1.b70a3ep-5f, 0x1.ce147ap-5f,
    0x1.e51ebap-5f, 0x1.fc28f6p-5f, 0x1.09999ap-4f, 0x1.151ebap-4f,
    0x1.20a3d6p-4f, 0x1.2c28f6p-4f, 0x1.37ae14p-4f, 0x1.433334p-4f,
    0x1.4eb854p-4f, 0x1.5a3d7p-4f, 0x1.65c29p-4f, 0x1.7147aep-4f,
    0x1.7ccccep-4f, 0x1.8851eep-4f, 0x1.93d70ap-4f, 0x1.b66668p-4f,
    0x1.fp-4f, 0x1.14ccccp-3f, 0x1.31999ap-3f, 0x1.4e6666p-3f,
    0x1.6b3334p-3f, 0x1.88p-3f, 0x1.a4ccccp-3f, 0x1.c1999ap-3f,
    0x1.de6666p-3f, 0x1.fb3332p-3f, 0x1.0cp-2f, 0x1.1a6668p-2f,
    0x1.28ccccp-2f, 0x1.373334p-2f, 0x1.459998p-2f, 0x1.54p-2f,
    0x1.626666p-2f, 0x1.70ccccp-2f, 0x1.7f3334p-2f, 0x1.8d9998p-2f,
    0x1.9cp-2f, 0x1.aa6666p-2f, 0x1.b8ccccp-2f, 0x1.c73334p-2f,
    0x1.d59998p-2f, 0x1.e4p-2f, 0x1.f26664p-2f, 0x1.006666p-1f,
    0x1.079998p-1f, 0x1.0eccccp-1f, 0x1.16p-1f, 0x1.1d3334p-1f,
    0x1.246668p-1f, 0x1.2b999ap-1f, 0x1.32ccccp-1f, 0x1.3ap-1f,
    0x1.413334p-1f, 0x1.486668p-1f, 0x1.4f999ap-1f, 0x1.56ccccp-1f,
    0x1.5ep-1f, 0x1.653334p-1f, 0x1.6c6668p-1f, 0x1.73999ap-1f,
    0x1.7accccp-1f, 0x1.82p-1f, 0x1.893334p-1f, 0x1.906666p-1f,
    0x1.97999ap-1f, 0x1.9eccccp-1f, 0x1.a6p-1f, 0x1.ad3334p-1f,
    0x1.b46666p-1f, 0x1.bb999ap-1f, 0x1.c2ccccp-1f, 0x1.cap-1f,
    0x1.d13334p-1f, 0x1.d86666p-1f, 0x1.df999ap-1f, 0x1.e6ccccp-1f,
    0x1.eep-1f, 0x1.f53334p-1f, 0x1.fc6666p-1f, 0x1p+0f,
};

enum { DQ_BLOCK = 256 };

static const qh_param params[] = {
    {"block", QH_PARAM_INT, 64, 8, 1 << 20, NULL, "weights per absmax scale, along a row"},
    {"double_quant", QH_PARAM_INT, 0, 0, 1, NULL,
     "1: QLoRA's nested 8-bit absmax (bitsandbytes's compress_statistics), 0: F16 absmax"},
    {0}};

/* The first index of the nearest entry (bitsandbytes's rule: the entry at or below, unless the
 * one above is strictly nearer). */
static int nearest_sorted(const float *table, int n, float x)
{
    int lo = 0, hi = n - 1;
    if (x <= table[0]) return 0;
    if (x >= table[hi]) return hi;
    while (hi - lo > 1) { /* table[lo] <= x < table[hi] */
        int mid = (lo + hi) / 2;
        if (table[mid] <= x) lo = mid;
        else hi = mid;
    }
    return fabsf(x - table[hi]) < fabsf(x - table[lo]) ? hi : lo;
}

static int encode_double_quant(int block, const qh_matrix *w, qh_packed *out)
{
    int G = qh_group_size(block, w->cols), ng = qh_groups_per_row(G, w->cols);
    size_t n = (size_t)w->rows * w->cols, n_absmax = (size_t)w->rows * ng, n_outer = (n_absmax + DQ_BLOCK - 1) / DQ_BLOCK;
    uint8_t *codes = qh_malloc(n);
    float *absmax = qh_malloc(n_absmax * sizeof *absmax);
#pragma omp parallel for
    for (int r = 0; r < w->rows; r++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * G, len = c0 + G <= w->cols ? G : w->cols - c0;
            const float *src = w->data + (size_t)r * w->cols + c0;
            float a = 0;
            for (int i = 0; i < len; i++) a = fmaxf(a, fabsf(src[i]));
            absmax[(size_t)r * ng + g] = a;
            for (int i = 0; i < len; i++) codes[(size_t)r * w->cols + c0 + i] = a > 0 ? qh_levels_nearest(nf4_levels, src[i] / a) : 7;
        }
    double sum = 0;
    for (size_t i = 0; i < n_absmax; i++) sum += absmax[i];
    float offset = (float)(sum / (double)n_absmax); /* torch's float mean may differ from this in its last bit */
    *(float *)qh_packed_add(out, "scale_offset", QH_DT_F32, 1, 0) = offset;
    uint8_t *scale_codes = qh_packed_add(out, "scale_codes", QH_DT_U8, (int64_t)n_absmax, 0);
    float *scale_scales = qh_packed_add(out, "scale_scales", QH_DT_F32, (int64_t)n_outer, 0);
    for (size_t b = 0; b < n_outer; b++) {
        size_t i0 = b * DQ_BLOCK, i1 = i0 + DQ_BLOCK < n_absmax ? i0 + DQ_BLOCK : n_absmax;
        float a2 = 0;
        for (size_t i = i0; i < i1; i++) a2 = fmaxf(a2, fabsf(absmax[i] - offset));
        scale_scales[b] = a2;
        for (size_t i = i0; i < i1; i++)
            scale_codes[i] = (uint8_t)(a2 > 0 ? nearest_sorted(dynamic_map, 256, (absmax[i] - offset) / a2) : 127);
    }
    qh_bits_pack(qh_packed_add(out, "codes", QH_DT_U8, (int64_t)qh_bits_bytes(n, 4), 0), codes, n, 4);
    free(codes);
    free(absmax);
    return 0;
}

static int decode_double_quant(int block, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int G = qh_group_size(block, w->cols), ng = qh_groups_per_row(G, w->cols);
    size_t n = (size_t)w->rows * w->cols, n_absmax = (size_t)w->rows * ng, n_outer = (n_absmax + DQ_BLOCK - 1) / DQ_BLOCK;
    const qh_part *pc, *psc, *pss, *po;
    if (qh_packed_expect(in, "codes", QH_DT_U8, qh_bits_bytes(n, 4), &pc, err) ||
        qh_packed_expect(in, "scale_codes", QH_DT_U8, n_absmax, &psc, err) ||
        qh_packed_expect(in, "scale_scales", QH_DT_F32, n_outer, &pss, err) ||
        qh_packed_expect(in, "scale_offset", QH_DT_F32, 1, &po, err))
        return -1;
    const uint8_t *scale_codes = psc->data;
    const float *scale_scales = pss->data, offset = *(const float *)po->data;
    float *absmax = qh_malloc(n_absmax * sizeof *absmax);
    for (size_t i = 0; i < n_absmax; i++) {
        float a = dynamic_map[scale_codes[i]] * scale_scales[i / DQ_BLOCK]; /* bitsandbytes: dequantize_blockwise, then += offset */
        absmax[i] = a + offset;
    }
    uint8_t *codes = qh_malloc(n);
    qh_bits_unpack(codes, pc->data, n, 4);
#pragma omp parallel for
    for (int r = 0; r < w->rows; r++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * G, len = c0 + G <= w->cols ? G : w->cols - c0;
            float a = absmax[(size_t)r * ng + g];
            for (int i = 0; i < len; i++) {
                size_t k = (size_t)r * w->cols + c0 + i;
                w->data[k] = nf4_levels[codes[k]] * a;
            }
        }
    free(codes);
    free(absmax);
    return 0;
}

static int encode(const qh_spec *spec, const qh_matrix *w, const qh_calib *calib, qh_packed *out, qh_err *err)
{
    (void)calib, (void)err;
    int block = (int)qh_spec_get(spec, "block");
    if (qh_spec_get(spec, "double_quant") != 0) return encode_double_quant(block, w, out);
    return qh_levels_encode(nf4_levels, block, w, out);
}

static int decode(const qh_spec *spec, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    int block = (int)qh_spec_get(spec, "block");
    if (qh_spec_get(spec, "double_quant") != 0) return decode_double_quant(block, in, w, err);
    return qh_levels_decode(nf4_levels, block, in, w, err);
}

const qh_method qh_method_nf4 = {
    .name = "nf4",
    .summary = "4-bit NormalFloat levels (QLoRA) with per-block absmax scales: F16, or QLoRA's double quantization",
    .params = params,
    .named_if_set = "double_quant",
    .encode = encode,
    .decode = decode,
};
