/* quip_sharp.h - QuIP#'s E8P codebook (quip_sharp.c), for its tests: a code of 16 bits to its
 * point (8 floats), the nearest code to y by the method's exact search and by brute force over
 * all 65,536, and the number of absolute vectors from D8 + 1/2 (227; 29 more of norm^2 12). */
#ifndef QH_METHODS_QUIP_SHARP_H
#define QH_METHODS_QUIP_SHARP_H

void qh_e8p_point(int code, float *v);
int qh_e8p_nearest(const float *y);
int qh_e8p_nearest_brute(const float *y);
int qh_e8p_abs_count(void);

#endif
