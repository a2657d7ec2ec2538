/* dtype.c - element types and the half-precision conversions; see dtype.h. */
#include "harness/base/dtype.h"

#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_traits[QH_DT_COUNT] = {
    [QH_DT_F32] = {"F32", 4},  [QH_DT_F16] = {"F16", 2},  [QH_DT_BF16] = {"BF16", 2},
    [QH_DT_F64] = {"F64", 8},  [QH_DT_U8] = {"U8", 1},    [QH_DT_I8] = {"I8", 1},
    [QH_DT_U16] = {"U16", 2},  [QH_DT_I16] = {"I16", 2},  [QH_DT_U32] = {"U32", 4},
    [QH_DT_I32] = {"I32", 4},  [QH_DT_U64] = {"U64", 8},  [QH_DT_I64] = {"I64", 8},
    [QH_DT_BOOL] = {"BOOL", 1},
};

const char *qh_dtype_name(qh_dtype dt) { return dtype_traits[dt].name; }
size_t qh_dtype_size(qh_dtype dt) { return dtype_traits[dt].size; }

int qh_dtype_from_name(const char *name, qh_dtype *dt)
{
    for (int i = 0; i < QH_DT_COUNT; i++)
        if (strcmp(name, dtype_traits[i].name) == 0) {
            *dt = (qh_dtype)i;
            return 0;
        }
    return -1;
}

/* ---- half-precision conversions --------------------------------------------------------- */

float qh_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while (!(mant & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp + 112) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t qh_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx >= 0x7f800000) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 : 0));
    if (absx >= 0x477ff000) return (uint16_t)(sign | 0x7c00); /* rounds past 65504 */
    if (absx < 0x38800000) {                                   /* subnormal or zero in f16 */
        if (absx < 0x33000000) return (uint16_t)sign;          /* below half the smallest */
        uint32_t mant = (absx & 0x7fffff) | 0x800000;
        int shift = 113 - (int)(absx >> 23) + 13;
        uint32_t r = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((absx >> 13) - (112u << 10));
    uint32_t rem = absx & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

float qh_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t qh_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
    uint32_t lsb = (x >> 16) & 1;
    x += 0x7fff + lsb;
    return (uint16_t)(x >> 16);
}

void qh_f16_to_f32_n(const uint16_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = qh_f16_to_f32(in[i]);
}

void qh_f32_to_f16_n(const float *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = qh_f32_to_f16(in[i]);
}
