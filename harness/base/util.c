/* util.c - see util.h (SHA-256 lives in sha256.c). */
#include "harness/base/util.h"

#include "harness/base/outfile.h"

#include <errno.h>
#include <poll.h>
#include <sys/wait.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <cblas.h>

int qh_fail(qh_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* one line whatever the file held: names and values quoted from it may carry control bytes */
        for (char *c = err->msg; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    }
    return -1;
}

void qh_err_prefix(qh_err *err, const char *fmt, ...)
{
    if (!err) return;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t k = strlen(prefix);
    if (k + 2 >= sizeof err->msg) k = sizeof err->msg - 3;
    memcpy(err->msg, prefix, k);
    memcpy(err->msg + k, ": ", 2);
    size_t rest = sizeof err->msg - k - 3, ol = strlen(old);
    if (ol > rest) ol = rest;
    memcpy(err->msg + k + 2, old, ol);
    err->msg[k + 2 + ol] = 0;
}

static void out_of_memory(size_t n)
{
    fprintf(stderr, "qharness: out of memory (asked for %zu bytes)\n", n);
    abort();
}

void *qh_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n);
    return p;
}

void *qh_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) out_of_memory(n * size);
    return p;
}

void *qh_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n);
    return q;
}

char *qh_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = qh_malloc(n);
    memcpy(d, s, n);
    return d;
}

double qh_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int qh_read_file(const char *path, char **data, size_t *len, qh_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) return qh_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return qh_fail(err, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    if (st.st_size > QH_READ_WHOLE_MAX) {
        fclose(f);
        return qh_fail(err, "%s: %lld bytes, more than the %d MiB qharness reads into memory whole (text, vocabulary, "
                       "experiment, claim and imatrix files; weights are mapped, not read)",
                       path, (long long)st.st_size, QH_READ_WHOLE_MAX >> 20);
    }
    buf = qh_malloc(n + 1);
    if (n && fread(buf, 1, n, f) != n) {
        fclose(f);
        free(buf);
        return qh_fail(err, "%s: read error", path);
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int qh_write_file(const char *path, const void *data, size_t len, qh_err *err)
{
    qh_outfile o;
    if (qh_outfile_open(&o, path, err) != 0) return -1;
    if (len && fwrite(data, 1, len, o.f) != len) {
        int e = errno;
        qh_outfile_abort(&o);
        return qh_fail(err, "%s: write failed (%s); nothing written", path, strerror(e));
    }
    return qh_outfile_commit(&o, err);
}

long qh_first_nonfinite(const float *x, size_t n)
{
    /* a sum of x * 0 is NaN exactly when some x is NaN or infinite: one vectorised pass, then a
     * search only when something is wrong */
    float probe = 0;
#pragma omp simd reduction(+ : probe)
    for (size_t i = 0; i < n; i++) probe += x[i] * 0.0f;
    if (probe == 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

const char *qh_nonfinite_name(double v) { return isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

int qh_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int qh_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *qh_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = qh_malloc(a + b + 2);
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

void qh_display_path(const char *stored, char *buf, size_t len)
{
    const char *home = qh_home();
    size_t hl = strlen(home);
    if (strncmp(stored, home, hl) == 0 && stored[hl] == '/') {
        snprintf(buf, len, "%s", stored + hl + 1);
        return;
    }
    const char *m = strstr(stored, "/models/");
    const char *file = m ? strchr(m + 8, '/') : NULL;
    /* ".../models/NAME" where this project ships models/NAME, or ".../models/NAME/FILE" (a model
     * fetched at set-up, models/NAME/model.gguf) */
    if (m && (!file || !strchr(file + 1, '/'))) {
        char name[512];
        snprintf(name, sizeof name, "%.*s", file ? (int)(file - (m + 1)) : (int)strlen(m + 1), m + 1);
        char *mine = qh_path_join(home, name);
        int ours = qh_is_dir(mine);
        free(mine);
        if (ours) {
            snprintf(buf, len, "%s", m + 1);
            return;
        }
    }
    snprintf(buf, len, "%s", stored);
}

const char *qh_home(void)
{
    static char home[PATH_MAX];
    if (home[0]) return home;
    const char *env = getenv("QHARNESS_HOME");
    if (env && *env) {
        snprintf(home, sizeof home, "%s", env);
        return home;
    }
    ssize_t n = readlink("/proc/self/exe", home, sizeof home - 1);
    if (n <= 0) {
        snprintf(home, sizeof home, ".");
        return home;
    }
    home[n] = 0;
    char *slash = strrchr(home, '/');
    if (slash) *slash = 0;
    return home;
}

/* ---- hash maps -------------------------------------------------------------------------- */

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

void qh_strmap_init(qh_strmap *m, size_t expected)
{
    m->cap = pow2_at_least(expected * 2 + 1);
    m->count = 0;
    m->keys = qh_calloc(m->cap, sizeof *m->keys);
    m->key_lens = qh_calloc(m->cap, sizeof *m->key_lens);
    m->values = qh_calloc(m->cap, sizeof *m->values);
}

void qh_strmap_free(qh_strmap *m)
{
    if (!m->keys) return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) free(m->keys[i]);
    free(m->keys);
    free(m->key_lens);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static void strmap_grow(qh_strmap *m)
{
    qh_strmap bigger;
    bigger.cap = m->cap * 2;
    bigger.count = 0;
    bigger.keys = qh_calloc(bigger.cap, sizeof *bigger.keys);
    bigger.key_lens = qh_calloc(bigger.cap, sizeof *bigger.key_lens);
    bigger.values = qh_calloc(bigger.cap, sizeof *bigger.values);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = fnv1a(m->keys[i], m->key_lens[i]) & (bigger.cap - 1);
        while (bigger.keys[j]) j = (j + 1) & (bigger.cap - 1);
        bigger.keys[j] = m->keys[i];
        bigger.key_lens[j] = m->key_lens[i];
        bigger.values[j] = m->values[i];
        bigger.count++;
    }
    free(m->keys);
    free(m->key_lens);
    free(m->values);
    *m = bigger;
}

void qh_strmap_put(qh_strmap *m, const char *key, size_t len, int value)
{
    if ((m->count + 1) * 2 > m->cap) strmap_grow(m);
    size_t j = fnv1a(key, len) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->key_lens[j] == len && memcmp(m->keys[j], key, len) == 0) {
            m->values[j] = value;
            return;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = qh_malloc(len + 1);
    memcpy(m->keys[j], key, len);
    m->keys[j][len] = 0;
    m->key_lens[j] = len;
    m->values[j] = value;
    m->count++;
}

int qh_strmap_get(const qh_strmap *m, const char *key, size_t len, int *value)
{
    size_t j = fnv1a(key, len) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->key_lens[j] == len && memcmp(m->keys[j], key, len) == 0) {
            *value = m->values[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

void qh_u64map_init(qh_u64map *m, size_t expected)
{
    m->cap = pow2_at_least(expected * 2 + 1);
    m->count = 0;
    m->keys = qh_calloc(m->cap, sizeof *m->keys);
    m->values = qh_calloc(m->cap, sizeof *m->values);
}

void qh_u64map_free(qh_u64map *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

void qh_u64map_put(qh_u64map *m, uint64_t key, uint64_t value)
{
    if ((m->count + 1) * 2 > m->cap) {
        qh_u64map bigger;
        qh_u64map_init(&bigger, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) qh_u64map_put(&bigger, m->keys[i], m->values[i]);
        qh_u64map_free(m);
        *m = bigger;
    }
    size_t j = mix64(key) & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != key) j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) m->count++;
    m->keys[j] = key;
    m->values[j] = value;
}

int qh_u64map_get(const qh_u64map *m, uint64_t key, uint64_t *value)
{
    size_t j = mix64(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->keys[j] == key) {
            *value = m->values[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

/* ---- threads ---------------------------------------------------------------------------- */

static int thread_count;

int qh_threads(void)
{
    if (!thread_count) {
        const char *env = getenv("QHARNESS_THREADS");
        long n = env ? strtol(env, NULL, 10) : 0;
        if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n <= 0) n = 1;
        qh_set_threads((int)n);
    }
    return thread_count;
}

void qh_set_threads(int n)
{
    thread_count = n < 1 ? 1 : n;
#ifdef _OPENMP
    omp_set_num_threads(thread_count);
#endif
    openblas_set_num_threads(thread_count);
}

/* one line when it fits; else pieces of at most 120 bytes, cut at a space where there is one */
static void ini_wrapped(FILE *f, const char *first, const char *cont, const char *value)
{
    const size_t piece = 120;
    const char *p = value, *lead = first;
    if (strlen(first) + strlen(value) <= QH_INI_LINE_MAX) {
        fprintf(f, "%s%s\n", first, value);
        return;
    }
    do {
        size_t n = strlen(p);
        if (n > piece) {
            n = piece;
            while (n > piece / 2 && p[n] != ' ') n--;
            if (p[n] != ' ') n = piece;
        }
        fprintf(f, "%s%.*s\n", lead, (int)n, p);
        p += n;
        while (*p == ' ') p++;
        lead = cont;
    } while (*p);
}

void qh_ini_put(FILE *f, const char *key, const char *value)
{
    char first[160];
    snprintf(first, sizeof first, "%s = ", key);
    ini_wrapped(f, first, "    ", value);
}

void qh_ini_comment(FILE *f, const char *text) { ini_wrapped(f, "; ", "; ", text); }

int qh_ini_long_line(const char *text, size_t len)
{
    int line = 1;
    for (size_t start = 0; start < len; line++) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (end - start > QH_INI_LINE_MAX) return line;
        start = end + 1;
    }
    return 0;
}

int qh_run_command(char *const argv[], char **out, qh_err *err)
{
    int po[2], pe[2];
    if (out) *out = NULL;
    if (pipe(po) != 0) return qh_fail(err, "%s: cannot create a pipe: %s", argv[0], strerror(errno));
    if (pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        return qh_fail(err, "%s: cannot create a pipe: %s", argv[0], strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        return qh_fail(err, "%s: cannot fork: %s", argv[0], strerror(errno));
    }
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "not found on PATH (%s)", strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    /* both pipes drained together, so that a child filling one is never blocked on it */
    char *ob = NULL, *eb = NULL;
    size_t ol = 0, oc = 0, el = 0, ec = 0;
    ob = qh_malloc(oc = 4097);
    eb = qh_malloc(ec = 4097);
    ob[0] = eb[0] = 0;
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char **b = i == 0 ? &ob : &eb;
            size_t *l = i == 0 ? &ol : &el, *c = i == 0 ? &oc : &ec;
            if (*l + 4097 > *c) *b = qh_realloc(*b, *c = (*l + 4097) * 2);
            ssize_t r = read(fds[i].fd, *b + *l, 4096);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else {
                *l += (size_t)r;
                (*b)[*l] = 0;
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int rc = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        eb[strcspn(eb, "\n")] = 0;
        if (WIFEXITED(status))
            qh_fail(err, "%s: exited with status %d%s%s", argv[0], WEXITSTATUS(status), eb[0] ? ": " : "", eb);
        else
            qh_fail(err, "%s: killed by signal %d", argv[0], WTERMSIG(status));
        rc = -1;
    }
    if (out && rc == 0) *out = ob;
    else free(ob);
    free(eb);
    return rc;
}

int qh_check_utf8(const char *source, const char *text, size_t len, qh_err *err)
{
    size_t i = 0;
    long line = 1;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80) {
            line += c == '\n';
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (step <= 0)
            return qh_fail(err, "%s: not valid UTF-8 at byte %zu (line %ld)", source, i, line);
        i += (size_t)step;
    }
    return 0;
}

const char *qh_path_tail(const char *path, size_t *len)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *base = path + n;
    while (base > path && base[-1] != '/') base--;
    *len = (size_t)(path + n - base);
    return base;
}
