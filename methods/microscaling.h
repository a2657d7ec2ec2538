/* microscaling.h - the small number formats of the block-scaled 4-bit floats: E2M1 elements
 * (FP4: sign, 2 exponent bits, 1 mantissa bit; magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6), OCP's
 * E8M0 power-of-two scales (MXFP4) and the E4M3 scales of NVIDIA's NVFP4 (OCP FP8 E4M3, the
 * "FN" variant: no infinities, largest finite 448, S.1111.111 is NaN).
 * Conversions from float round to nearest with ties to even and saturate at the largest
 * finite value, as the OCP MX v1.0 specification (section 6.3) and NVIDIA's conversion
 * instructions (cvt.rn.satfinite) define them. */
#ifndef QH_METHODS_MICROSCALING_H
#define QH_METHODS_MICROSCALING_H

#include <stdint.h>

#include "methods/method.h"

/* x -> the 4-bit code: bit 3 the sign, bits 0-2 the magnitude's index; NaN is not accepted. */
uint8_t qh_e2m1_from_float(float x);
float qh_e2m1_to_float(uint8_t code);

/* 4-bit E2M1 codes packed as qh_bits_pack packs them -> w: blocks of `block` consecutive weights
 * along a row (a row's last may be shorter), block (r, b) times block_scale[r * blocks_per_row + b]. */
void qh_e2m1_decode_blocks(const uint8_t *packed, const float *block_scale, int block, qh_matrix *w);

/* x >= 0 -> the E4M3 byte (sign bit clear). */
uint8_t qh_e4m3_from_float(float x);
/* NaN for the two NaN bytes. */
float qh_e4m3_to_float(uint8_t code);

/* OCP MX's shared scale of a block whose largest magnitude is amax, for elements whose
 * largest power of two is 2^emax_elem (E2M1: 2): floor(log2(amax)) - emax_elem, clamped to
 * E8M0's range [-127, 127]; amax = 0 gives -127.  Returned as the stored byte (exponent + 127). */
uint8_t qh_e8m0_shared_scale(float amax, int emax_elem);
/* 2^(byte - 127); NaN for 0xFF. */
float qh_e8m0_to_float(uint8_t code);

#endif
