/* util.h - error discipline, files, hashing and small containers shared by every module.
 *
 * Error discipline (after SQLite): a function that can fail returns 0 on success and -1 on
 * failure, and writes a one-line, lowercase message naming the subject into a qh_err the
 * caller passes in.  The CLI prints it as "qharness: <message>".  Nothing here exits. */
#ifndef QH_UTIL_H
#define QH_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define QH_VERSION "0.1.0"

typedef struct {
    char msg[1024];
} qh_err;

/* Formats the message into err (if not NULL) and returns -1, so that callers can write
 * `return qh_fail(err, "...")`. */
int qh_fail(qh_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "PREFIX: " to the message already in err. */
void qh_err_prefix(qh_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void *qh_malloc(size_t n);             /* aborts on out-of-memory: there is no recovery */
void *qh_calloc(size_t n, size_t size);
void *qh_realloc(void *p, size_t n);
char *qh_strdup(const char *s);

double qh_now(void);                   /* monotonic seconds */

/* Whole file into memory, NUL-terminated (the NUL is not counted in *len). */
/* Reads a whole file (NUL-terminated); files over QH_READ_WHOLE_MAX are refused, not read. */
#define QH_READ_WHOLE_MAX (1 << 30)
int qh_read_file(const char *path, char **data, size_t *len, qh_err *err);
/* Writes a whole file atomically through qh_outfile (outfile.h): all of it or nothing. */
int qh_write_file(const char *path, const void *data, size_t len, qh_err *err);
int qh_file_exists(const char *path);
int qh_is_dir(const char *path);
/* A stored model path as a reader should see it: relative to the project when it lies under
 * the project of the machine that stored it ("models/NAME" when NAME is one of this
 * project's models, or under QHARNESS_HOME), else as stored.  The sha256 beside it is what
 * identifies the model; this is for reading. */
void qh_display_path(const char *stored, char *buf, size_t len);
/* The first non-finite value of x (n), or -1: the one test behind "no non-finite number is ever
 * printed, stored or judged" (README, reliability), used on weights, quantizer output and
 * every metric. */
long qh_first_nonfinite(const float *x, size_t n);
/* "nan", "inf" or "-inf" for the messages that name it */
const char *qh_nonfinite_name(double v);


/* path_join into a fresh string */
/* The last component of path, trailing slashes left out: its start, and its length in *len. */
const char *qh_path_tail(const char *path, size_t *len);
char *qh_path_join(const char *dir, const char *name);

/* Root of the installed harness (where models/ and datasets/ live): $QHARNESS_HOME if set,
 * else the directory holding the running executable. */
const char *qh_home(void);

/* SHA-256 (FIPS 180-4; sha256.c). */
typedef struct {
    uint32_t state[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t fill;
} qh_sha256_ctx;
void qh_sha256_init(qh_sha256_ctx *c);
void qh_sha256_update(qh_sha256_ctx *c, const void *data, size_t len);
void qh_sha256_final(qh_sha256_ctx *c, uint8_t out[32]);
void qh_sha256_hex(const void *data, size_t len, char out[65]);
int qh_sha256_file(const char *path, char out[65], qh_err *err);
/* sha256sum's manifest format ("HEX  NAME" or "HEX *NAME" per line, names relative, no "..").
 * Parsed into a malloc'd array; a bad line is an error naming file and line. */
typedef struct {
    char name[512];
    char hex[65];
    int line;
} qh_sum_entry;
int qh_sha256sums_parse(const char *path, const char *text, size_t len, qh_sum_entry **out, int *n, qh_err *err);
/* When dir holds a SHA256SUMS, every file it lists must exist with that hash.  known_hex (or
 * NULL): known_path's hash when not empty; when empty and the file is listed, its hash is
 * computed once and left there.  No manifest: 0. */
int qh_sha256sums_verify_dir(const char *dir, const char *known_path, char known_hex[65], qh_err *err);
/* A model file whose folder holds a SHA256SUMS naming it must have that hash (known_hex as
 * above, or NULL); no manifest or not listed: 0. */
int qh_sha256sums_verify_file(const char *path, char known_hex[65], qh_err *err);

/* INI files go through inih (Debian's build: a line of at most QH_INI_LINE_MAX characters).
 * qh_ini_put writes "key = value", continuing a long value on indented lines, which inih
 * passes as further values of the same key (the readers of free text join them with a space);
 * qh_ini_comment writes a comment the same way; qh_ini_long_line is the 1-based number of the
 * first line of text that inih would split, or 0. */
#define QH_INI_LINE_MAX 198
void qh_ini_put(FILE *f, const char *key, const char *value);
void qh_ini_comment(FILE *f, const char *text);
int qh_ini_long_line(const char *text, size_t len);

/* Byte-string -> int map with open addressing (keys are copied; they may hold NUL bytes). */
typedef struct {
    char **keys;
    size_t *key_lens;
    int *values;
    size_t cap, count;
} qh_strmap;
void qh_strmap_init(qh_strmap *m, size_t expected);
void qh_strmap_free(qh_strmap *m);
void qh_strmap_put(qh_strmap *m, const char *key, size_t len, int value);
/* returns 1 and sets *value if found */
int qh_strmap_get(const qh_strmap *m, const char *key, size_t len, int *value);

/* uint64 -> uint64 map (key 0 is reserved for "empty"; callers offset their keys). */
typedef struct {
    uint64_t *keys, *values;
    size_t cap, count;
} qh_u64map;
void qh_u64map_init(qh_u64map *m, size_t expected);
void qh_u64map_free(qh_u64map *m);
void qh_u64map_put(qh_u64map *m, uint64_t key, uint64_t value);
int qh_u64map_get(const qh_u64map *m, uint64_t key, uint64_t *value);

/* Threads used for element-wise work and BLAS (OpenMP count). */
int qh_threads(void);
void qh_set_threads(int n);

/* Runs argv[0] with its arguments (PATH searched, no shell); stdout into *out (malloc'd, may
 * be NULL), and on a non-zero exit an error that quotes the command and its stderr. */
int qh_run_command(char *const argv[], char **out, qh_err *err);

/* Checks that text is valid UTF-8 (utf8proc); on error names source, byte offset and line. */
int qh_check_utf8(const char *source, const char *text, size_t len, qh_err *err);

#endif
