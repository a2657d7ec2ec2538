/* microscaling.c - see microscaling.h. */
#include "methods/microscaling.h"

#include <math.h>
#include <stdlib.h>

static const float e2m1_magnitude[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

uint8_t qh_e2m1_from_float(float x)
{
    float a = fabsf(x);
    uint8_t m = 7; /* 6 and beyond: saturate */
    for (uint8_t i = 0; i < 7; i++) {
        float mid = 0.5f * (e2m1_magnitude[i] + e2m1_magnitude[i + 1]); /* exact: halves of small binary numbers */
        if (a < mid || (a == mid && (i & 1) == 0)) {
            m = i;
            break;
        }
        if (a == mid) { /* a tie whose even neighbour is the upper one */
            m = (uint8_t)(i + 1);
            break;
        }
    }
    return (uint8_t)(m | (x < 0 && m ? 8 : 0));
}

float qh_e2m1_to_float(uint8_t code)
{
    float m = e2m1_magnitude[code & 7];
    return code & 8 ? -m : m;
}

void qh_e2m1_decode_blocks(const uint8_t *packed, const float *block_scale, int block, qh_matrix *w)
{
    int nb = qh_groups_per_row(block, w->cols);
    size_t n = (size_t)w->rows * w->cols;
    uint8_t *codes = qh_malloc(n);
    qh_bits_unpack(codes, packed, n, 4);
#pragma omp parallel for
    for (int r = 0; r < w->rows; r++)
        for (int b = 0; b < nb; b++) {
            int c0 = b * block, len = c0 + block <= w->cols ? block : w->cols - c0;
            float d = block_scale[(size_t)r * nb + b];
            for (int i = 0; i < len; i++) {
                size_t k = (size_t)r * w->cols + c0 + i;
                w->data[k] = qh_e2m1_to_float(codes[k]) * d;
            }
        }
    free(codes);
}

uint8_t qh_e4m3_from_float(float x)
{
    if (!(x > 0)) return 0;
    if (x >= 448.0f) return 0x7E;
    int e;
    frexpf(x, &e); /* x = f * 2^e, f in [0.5, 1): the unbiased exponent is e - 1 */
    int exp = e - 1;
    if (exp < -6) { /* subnormal: multiples of 2^-9; rounding up to 8 reaches the smallest normal, byte 0x08 */
        float q = rintf(ldexpf(x, 9)); /* rint rounds ties to even in the default rounding mode */
        return (uint8_t)q;
    }
    float mant = rintf(ldexpf(x, 3 - exp)) - 8.0f; /* x / 2^exp in [1, 2), times 8, minus the implicit 1 */
    if (mant >= 8.0f) {
        mant = 0.0f;
        exp++;
    }
    int code = (exp + 7) << 3 | (int)mant;
    return (uint8_t)(code > 0x7E ? 0x7E : code);
}

float qh_e4m3_to_float(uint8_t code)
{
    int e = code >> 3 & 15, m = code & 7;
    if (e == 15 && m == 7) return NAN;
    float v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return code & 0x80 ? -v : v;
}

uint8_t qh_e8m0_shared_scale(float amax, int emax_elem)
{
    int shared = -127;
    if (amax > 0) {
        int e;
        frexpf(amax, &e); /* exact floor(log2(amax)) = e - 1, where log2f could round up below a power of two */
        shared = e - 1 - emax_elem;
    }
    if (shared < -127) shared = -127;
    if (shared > 127) shared = 127;
    return (uint8_t)(shared + 127);
}

float qh_e8m0_to_float(uint8_t code) { return code == 0xFF ? NAN : ldexpf(1.0f, (int)code - 127); }
