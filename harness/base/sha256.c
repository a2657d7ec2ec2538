/* sha256.c - SHA-256 (FIPS 180-4), for the provenance of every file qharness reads and writes
 * (declared in util.h).  A file of its own so that the fuzz build can leave the hash's loops out
 * of the comparison tracing: it was 44% of fuzz_claim's time and explores no input structure. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/base/util.h"

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(uint32_t s[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha_k[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

void qh_sha256_init(qh_sha256_ctx *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->state, iv, sizeof iv);
    c->bytes = 0;
    c->fill = 0;
}

void qh_sha256_update(qh_sha256_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->bytes += len;
    if (c->fill) {
        size_t take = 64 - c->fill < len ? 64 - c->fill : len;
        memcpy(c->block + c->fill, p, take);
        c->fill += take; p += take; len -= take;
        if (c->fill < 64) return;
        sha_block(c->state, c->block);
        c->fill = 0;
    }
    while (len >= 64) {
        sha_block(c->state, p);
        p += 64; len -= 64;
    }
    memcpy(c->block, p, len);
    c->fill = len;
}

void qh_sha256_final(qh_sha256_ctx *c, uint8_t out[32])
{
    uint64_t bits = c->bytes * 8;
    uint8_t pad = 0x80;
    qh_sha256_update(c, &pad, 1);
    uint8_t zero = 0;
    while (c->fill != 56) qh_sha256_update(c, &zero, 1);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
    qh_sha256_update(c, len, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->state[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->state[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->state[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->state[i];
    }
}

static void to_hex(const uint8_t d[32], char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[64] = 0;
}

void qh_sha256_hex(const void *data, size_t len, char out[65])
{
    qh_sha256_ctx c;
    uint8_t d[32];
    qh_sha256_init(&c);
    qh_sha256_update(&c, data, len);
    qh_sha256_final(&c, d);
    to_hex(d, out);
}

int qh_sha256_file(const char *path, char out[65], qh_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return qh_fail(err, "%s: cannot open: %s", path, strerror(errno));
    qh_sha256_ctx c;
    qh_sha256_init(&c);
    enum { CHUNK = 1 << 16 };
    uint8_t *buf = qh_malloc(CHUNK);
    size_t n;
    while ((n = fread(buf, 1, CHUNK, f)) > 0) qh_sha256_update(&c, buf, n);
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) return qh_fail(err, "%s: read error", path);
    uint8_t d[32];
    qh_sha256_final(&c, d);
    to_hex(d, out);
    return 0;
}

/* a relative path that stays inside its folder: no leading '/', no empty or ".." component */
static int relative_inside(const char *name, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && name[i] != '/') continue;
        size_t len = i - start;
        if (len == 0 || (len == 2 && name[start] == '.' && name[start + 1] == '.')) return 0;
        start = i + 1;
    }
    return 1;
}

/* ---- sha256sum manifests (SHA256SUMS) ------------------------------------------------------ */

int qh_sha256sums_parse(const char *path, const char *text, size_t len, qh_sum_entry **out, int *n_out, qh_err *err)
{
    *out = NULL;
    *n_out = 0;
    qh_sum_entry *e = NULL;
    int n = 0, cap = 0, line = 0;
    for (const char *p = text; p < text + len;) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        const char *end = nl ? nl : text + len;
        line++;
        size_t ll = (size_t)(end - p);
        if (ll && p[ll - 1] == '\r') ll--;
        if (ll == 0) {
            p = end + (nl != NULL);
            continue;
        }
        /* "HEX  NAME" or "HEX *NAME", as sha256sum writes it */
        int ok = ll > 66 && p[64] == ' ' && (p[65] == ' ' || p[65] == '*');
        for (int i = 0; ok && i < 64; i++) ok = isxdigit((unsigned char)p[i]) && !isupper((unsigned char)p[i]);
        size_t name_len = ok ? ll - 66 : 0;
        const char *name = p + 66;
        if (ok && (name_len >= sizeof e->name || memchr(name, 0, name_len) || !relative_inside(name, name_len))) ok = 0;
        if (!ok) {
            free(e);
            return qh_fail(err, "%s:%d: not a manifest line 'SHA256  NAME' (64 lowercase hex digits, two spaces, a relative name)", path, line);
        }
        if (n == cap) e = qh_realloc(e, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *e);
        memcpy(e[n].hex, p, 64);
        e[n].hex[64] = 0;
        memcpy(e[n].name, name, name_len);
        e[n].name[name_len] = 0;
        e[n].line = line;
        n++;
        p = end + (nl != NULL);
    }
    *out = e;
    *n_out = n;
    return 0;
}

/* Checks the files of dir/SHA256SUMS named only (every one when only is NULL).  known_hex is
 * known_path's hash when it is not empty (already computed); when empty and the manifest lists
 * known_path, the hash computed here is left in it, so that a model file is read once.  No
 * manifest, or only not listed: 0. */
static int verify_manifest(const char *dir, const char *only, const char *known_path, char *known_hex, qh_err *err)
{
    char *sums = qh_path_join(dir, "SHA256SUMS"), *text = NULL;
    size_t len;
    qh_sum_entry *e = NULL;
    int n = 0, rc = -1;
    if (!qh_file_exists(sums)) {
        free(sums);
        return 0;
    }
    if (qh_read_file(sums, &text, &len, err) != 0 || qh_sha256sums_parse(sums, text, len, &e, &n, err) != 0) goto out;
    for (int i = 0; i < n; i++) {
        if (only && strcmp(e[i].name, only) != 0) continue;
        char *file = qh_path_join(dir, e[i].name), hex[65];
        int same_file = known_path && known_hex && strcmp(file, known_path) == 0;
        if (same_file && known_hex[0]) snprintf(hex, sizeof hex, "%s", known_hex);
        else if (qh_sha256_file(file, hex, err) != 0) {
            qh_err_prefix(err, "%s:%d", sums, e[i].line);
            free(file);
            goto out;
        } else if (same_file)
            memcpy(known_hex, hex, sizeof hex);
        free(file);
        if (strcmp(hex, e[i].hex) != 0) {
            qh_fail(err, "%s:%d: %s has sha256 %.12s, the manifest says %.12s: the model's files changed (a fetched model: `make deps` "
                    "fetches it again)", sums, e[i].line, e[i].name, hex, e[i].hex);
            goto out;
        }
    }
    rc = 0;
out:
    free(e);
    free(text);
    free(sums);
    return rc;
}

int qh_sha256sums_verify_dir(const char *dir, const char *known_path, char known_hex[65], qh_err *err)
{
    return verify_manifest(dir, NULL, known_path, known_hex, err);
}

int qh_sha256sums_verify_file(const char *path, char known_hex[65], qh_err *err)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    char *full = qh_path_join(dir, slash ? slash + 1 : path);
    int rc = verify_manifest(dir, slash ? slash + 1 : path, full, known_hex, err);
    free(full);
    return rc;
}
