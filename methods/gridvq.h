/* gridvq.h - the nearest-point searches of gridvq.c, for its tests.  grid: the index of a grid
 * by name (iq1s, iq2xxs, iq2xs; -1 if none).  The point (with its signs, written to v, 8) nearest
 * to y (8) under the positive weights h (8): by the search gridvq uses, and by brute force over
 * every point and sign pattern.  Both return the point's index. */
#ifndef QH_METHODS_GRIDVQ_H
#define QH_METHODS_GRIDVQ_H

int qh_gridvq_grid_index(const char *name);
int qh_gridvq_nearest(int grid, const float *y, const float *h, float *v);
int qh_gridvq_nearest_brute(int grid, const float *y, const float *h, float *v);

#endif
