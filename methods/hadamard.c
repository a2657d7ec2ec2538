/* hadamard.c - the fast Hadamard transforms of hadamard.h.  H_n = H_m (x) H_p with p = 2^k:
 * x, read as an m x p matrix (index a p + b), gets the Walsh-Hadamard butterfly along each row
 * (H_p, Sylvester's, symmetric) and H_m down each column.  H_12 and H_20 are Paley's first
 * construction for the primes 11 and 19 (both 3 mod 4): with the Jacobsthal matrix
 * Q_ij = chi(j - i) (chi the quadratic character mod q), H = I + [[0, 1^T], [-1, Q]]. */
#include "methods/hadamard.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>

static int8_t h12[12 * 12], h20[20 * 20];
static pthread_once_t built = PTHREAD_ONCE_INIT;

static void paley(int q, int8_t *H)
{
    int n = q + 1, chi[32] = {0};
    for (int i = 1; i < q; i++) chi[(i * i) % q] = 1;
    for (int i = 1; i < q; i++)
        if (!chi[i]) chi[i] = -1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int s;
            if (i == 0) s = j == 0 ? 0 : 1;
            else if (j == 0) s = -1;
            else s = chi[((j - i) % q + q) % q];
            H[i * n + j] = (int8_t)(s + (i == j));
        }
}

static void build(void)
{
    paley(11, h12);
    paley(19, h20);
}

const int8_t *qh_hadamard_small(int m)
{
    pthread_once(&built, build); /* callers may be OpenMP threads */
    return m == 12 ? h12 : m == 20 ? h20 : NULL;
}

int qh_hadamard_factor(int n)
{
    static const int ms[3] = {1, 12, 20};
    for (int i = 0; i < 3; i++) {
        if (n <= 0 || n % ms[i]) continue;
        int p = n / ms[i];
        if ((p & (p - 1)) == 0) return ms[i];
    }
    return 0;
}

static int transform(float *x, int n, int transpose)
{
    int m = qh_hadamard_factor(n);
    if (!m) return -1;
    int p = n / m;
    for (int a = 0; a < m; a++) { /* H_p along each row: the butterfly */
        float *r = x + (size_t)a * p;
        for (int h = 1; h < p; h *= 2)
            for (int i = 0; i < p; i += 2 * h)
                for (int j = i; j < i + h; j++) {
                    float u = r[j], v = r[j + h];
                    r[j] = u + v;
                    r[j + h] = u - v;
                }
    }
    if (m > 1) { /* H_m down each column */
        const int8_t *H = qh_hadamard_small(m);
        float col[20], out[20];
        for (int b = 0; b < p; b++) {
            for (int a = 0; a < m; a++) col[a] = x[(size_t)a * p + b];
            for (int a = 0; a < m; a++) {
                float s = 0;
                for (int c = 0; c < m; c++) s += (transpose ? H[c * m + a] : H[a * m + c]) * col[c];
                out[a] = s;
            }
            for (int a = 0; a < m; a++) x[(size_t)a * p + b] = out[a];
        }
    }
    float scale = 1.0f / sqrtf((float)n);
    for (int i = 0; i < n; i++) x[i] *= scale;
    return 0;
}

int qh_hadamard(float *x, int n) { return transform(x, n, 0); }
int qh_hadamard_inverse(float *x, int n) { return transform(x, n, 1); }

static void apply_signs(float *x, int n, const uint8_t *s)
{
    for (int i = 0; i < n; i++)
        if ((s[i >> 3] >> (i & 7)) & 1) x[i] = -x[i];
}

int qh_rht(float *x, int n, const uint8_t *sign_bits)
{
    if (!qh_hadamard_factor(n)) return -1;
    apply_signs(x, n, sign_bits);
    return qh_hadamard(x, n);
}

int qh_rht_inverse(float *x, int n, const uint8_t *sign_bits)
{
    if (qh_hadamard_inverse(x, n) != 0) return -1;
    apply_signs(x, n, sign_bits);
    return 0;
}

int qh_hadamard_block(int n)
{
    for (int b = n; b > 1; b--)
        if (n % b == 0 && qh_hadamard_factor(b)) return b;
    return 1;
}

int qh_rht_blocked(float *x, int n, const uint8_t *sign_bits, int inverse)
{
    int b = qh_hadamard_block(n);
    if (!inverse) apply_signs(x, n, sign_bits);
    for (int i = 0; i < n; i += b)
        if ((inverse ? qh_hadamard_inverse(x + i, b) : qh_hadamard(x + i, b)) != 0) return -1;
    if (inverse) apply_signs(x, n, sign_bits);
    return 0;
}
