/* svd.c - see svd.h. */
#include "methods/svd.h"

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <stdlib.h>

#include "methods/method.h"

/* m >= n (or any): eigenvectors of A^T A (n, n) give V; left = A V. */
static void svd_via_right(const double *A, int m, int n, int r, double *left, double *right, int nonneg_first)
{
    gsl_matrix *G = gsl_matrix_alloc((size_t)n, (size_t)n);
    qh_dgemm(1, 0, n, n, m, 1.0, A, n, A, n, 0.0, G->data, n);
    gsl_vector *eval = gsl_vector_alloc((size_t)n);
    gsl_matrix *evec = gsl_matrix_alloc((size_t)n, (size_t)n);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc((size_t)n);
    gsl_eigen_symmv(G, eval, evec, ws);
    gsl_eigen_symmv_sort(eval, evec, GSL_EIGEN_SORT_VAL_DESC);
    for (int k = 0; k < r; k++) {
        double sgn = 1;
        if (k == 0 && nonneg_first) {
            double sum = 0;
            for (int j = 0; j < n; j++) sum += gsl_matrix_get(evec, (size_t)j, 0);
            sgn = sum < 0 ? -1 : 1;
        }
        for (int j = 0; j < n; j++) right[(size_t)j * r + k] = sgn * gsl_matrix_get(evec, (size_t)j, (size_t)k);
    }
    qh_dgemm(0, 0, m, r, n, 1.0, A, n, right, r, 0.0, left, r);
    gsl_eigen_symmv_free(ws);
    gsl_matrix_free(evec);
    gsl_vector_free(eval);
    gsl_matrix_free(G);
}

void qh_truncated_svd(const double *A, int m, int n, int r, double *left, double *right, int nonneg_first)
{
    if (n <= m) {
        svd_via_right(A, m, n, r, left, right, nonneg_first);
        return;
    }
    /* wide: A = U S V^T, so A^T = V S U^T and the decomposition of A^T (whose Gram matrix is
     * the smaller m x m) gives left' = V S and right' = U; swap and move S to the left */
    double *At = qh_malloc((size_t)m * n * sizeof(double));
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) At[(size_t)j * m + i] = A[(size_t)i * n + j];
    double *lt = qh_malloc((size_t)n * r * sizeof(double)), *rt = qh_malloc((size_t)m * r * sizeof(double));
    svd_via_right(At, n, m, r, lt, rt, nonneg_first);
    /* lt = V S (n, r), rt = U (m, r): left = U S = rt * s, right = V = lt / s */
    for (int k = 0; k < r; k++) {
        double s2 = 0;
        for (int j = 0; j < n; j++) s2 += lt[(size_t)j * r + k] * lt[(size_t)j * r + k];
        double s = s2 > 0 ? sqrt(s2) : 0;
        for (int i = 0; i < m; i++) left[(size_t)i * r + k] = rt[(size_t)i * r + k] * s;
        for (int j = 0; j < n; j++) right[(size_t)j * r + k] = s > 0 ? lt[(size_t)j * r + k] / s : 0;
    }
    free(At);
    free(lt);
    free(rt);
}
