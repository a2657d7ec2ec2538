/* svd.h - truncated SVD through the eigenvectors of the smaller Gram matrix (GSL's symmetric
 * eigensolver, double precision).  Shared by magnitude-recovery and lowrank. */
#ifndef QH_METHODS_SVD_H
#define QH_METHODS_SVD_H

/* A (m, n) row-major ~ left right^T with left (m, r) = U S and right (n, r) = V (orthonormal
 * columns).  nonneg_first: flip the sign of component 0 so that V's first column sums >= 0
 * (the Perron vector of a non-negative matrix). */
void qh_truncated_svd(const double *A, int m, int n, int r, double *left, double *right, int nonneg_first);

#endif
