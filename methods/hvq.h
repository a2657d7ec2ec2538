/* hvq.h - the Hessian-weighted k-means of hvq.c, shared with salomi_hvq.c. */
#ifndef QH_METHODS_HVQ_H
#define QH_METHODS_HVQ_H

/* k-means over nv vectors X (nv, d), the squared distance of coordinate i weighted by
 * Hw[v * d + i] (a weight of 0: the coordinate does not count, e.g. padding); k-means++
 * initialisation seeded with `seed`, `iters` Lloyd iterations; an empty centroid keeps its
 * place.  Writes the codebook cb (k, d) and assign (nv); obj (iters + 1 values, may be NULL)
 * gets the objective after the initialisation and after each iteration.  Returns the last. */
double qh_hvq_kmeans(const float *X, const float *Hw, long nv, int d, int k, int iters, unsigned long seed, float *cb, int *assign,
                     double *obj);
/* The centroid of cb (k, d) nearest to x in the weighted distance; its distance in *best_d (may be NULL). */
int qh_hvq_nearest(const float *x, const float *cb, int k, const float *h, int d, float *best_d);

#endif
