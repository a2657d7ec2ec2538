/* hadamard.h - fast Hadamard transforms for incoherence processing (QuIP / QuIP#, issue 12):
 * sizes n = m 2^k with m in {1, 12, 20}, the transform H_m (x) H_{2^k} (Sylvester for the power
 * of two, Paley's first construction for 12 and 20), scaled by 1/sqrt(n) so that it is
 * orthogonal.  With m = 1 it is symmetric, so its own inverse; otherwise the inverse is the
 * transpose (qh_hadamard_inverse).  768 = 12 x 64 and every power of two are covered. */
#ifndef QH_METHODS_HADAMARD_H
#define QH_METHODS_HADAMARD_H

#include <stdint.h>

/* The m of n = m 2^k (1, 12 or 20), or 0 when n has no such form. */
int qh_hadamard_factor(int n);
/* x (n) <- H x / sqrt(n), in place; returns -1 (x unchanged) when n has no supported form. */
int qh_hadamard(float *x, int n);
/* x (n) <- H^T x / sqrt(n), the inverse of qh_hadamard. */
int qh_hadamard_inverse(float *x, int n);
/* Randomized: y = H (s . x) / sqrt(n) with s a vector of signs (bit i set: -1), and its inverse. */
int qh_rht(float *x, int n, const uint8_t *sign_bits);
int qh_rht_inverse(float *x, int n, const uint8_t *sign_bits);
/* Any n: the largest b dividing n that has a supported form (1 at worst), and the randomized
 * transform with the blocks of b along x transformed separately (block-diagonal, still orthogonal;
 * e.g. GPT-2's 2304 = 3 x 768).  inverse = 1: its inverse. */
int qh_hadamard_block(int n);
int qh_rht_blocked(float *x, int n, const uint8_t *sign_bits, int inverse);
/* The dense m x m Paley (or trivial) Hadamard matrix of qh_hadamard_factor, +-1 entries (tests). */
const int8_t *qh_hadamard_small(int m);

#endif
