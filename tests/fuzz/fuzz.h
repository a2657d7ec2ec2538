/* fuzz.h - what the fuzz targets share (tests/fuzz/fuzz_NAME.c, one parser each).
 *
 * Each target defines LLVMFuzzerTestOneInput: libFuzzer calls it under `make fuzz`
 * (clang -fsanitize=fuzzer,address,undefined), and tests/fuzz/replay.c calls it over the
 * committed corpus and tests/fuzz/regressions/ under `make check`.  The parsers take paths,
 * so the input is written to a scratch file first (on tmpfs where there is one: /dev/shm).
 *
 * Every target checks the error discipline as well as memory safety: a parser that fails
 * must say why, in one line (fz_check_error aborts otherwise, which the fuzzer reports). */
#ifndef QH_FUZZ_H
#define QH_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/model/tokenizer.h"
#include "harness/base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_dir_path[256], fz_names[8][64];

static void fz_cleanup(void)
{
    for (int i = 0; i < 8 && fz_names[i][0]; i++) {
        char p[sizeof fz_dir_path + sizeof fz_names[0] + 2];
        snprintf(p, sizeof p, "%s/%.63s", fz_dir_path, fz_names[i]);
        unlink(p);
    }
    rmdir(fz_dir_path);
}

/* This process's scratch directory (removed at exit). */
static inline const char *fz_dir(void)
{
    if (!fz_dir_path[0]) {
        struct stat sb;
        const char *tmp = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fz_dir_path, sizeof fz_dir_path, "%s/qh-fuzz-%d", tmp ? tmp : "/tmp", (int)getpid());
        if (mkdir(fz_dir_path, 0700) != 0 && errno != EEXIST) {
            perror(fz_dir_path);
            abort();
        }
        atexit(fz_cleanup);
    }
    return fz_dir_path;
}

/* Writes data to the scratch file `name` and returns its path (static until the next call). */
static inline const char *fz_file(const char *name, const void *data, size_t size)
{
    static char p[sizeof fz_dir_path + sizeof fz_names[0] + 2];
    int slot = 0;
    while (slot < 8 && fz_names[slot][0] && strcmp(fz_names[slot], name) != 0) slot++;
    if (slot == 8) abort();
    snprintf(fz_names[slot], sizeof fz_names[slot], "%s", name);
    snprintf(p, sizeof p, "%s/%s", fz_dir(), name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(p);
        abort();
    }
    for (size_t done = 0; done < size;) {
        ssize_t w = write(fd, (const char *)data + done, size - done);
        if (w <= 0) {
            perror(p);
            abort();
        }
        done += (size_t)w;
    }
    close(fd);
    return p;
}

/* A failure must come with its one-line reason (printed when FZ_VERBOSE is set: what a seed
 * or regression is refused for). */
static inline void fz_check_error(int rc, const qh_err *err, const char *what)
{
    if (getenv("FZ_VERBOSE")) fprintf(stderr, "%s: %s\n", what, rc == 0 ? "accepted" : err->msg);
    if (rc == 0) return;
    if (!err->msg[0]) {
        fprintf(stderr, "%s failed without a message\n", what);
        abort();
    }
    for (const char *c = err->msg; *c; c++)
        if ((unsigned char)*c < 0x20) {
            fprintf(stderr, "%s: message is not one line: %s\n", what, err->msg);
            abort();
        }
}

/* Splits data at the first occurrence of sep: the parts of a two-file input. */
static inline size_t fz_split(const uint8_t *data, size_t size, const char *sep)
{
    size_t k = strlen(sep), j;
    for (size_t i = 0; i + k <= size; i++) { /* no memcmp: libFuzzer traces each call */
        for (j = 0; j < k && data[i + j] == (uint8_t)sep[j]; j++) {}
        if (j == k) return i;
    }
    return size;
}

/* Writes the input as two scratch files, split at the first occurrence of sep (the second
 * empty when there is none), for parsers that read a pair of files from one directory. */
static inline void fz_two_files(const uint8_t *data, size_t size, const char *sep, const char *first, const char *second)
{
    size_t k = fz_split(data, size, sep), rest = k + strlen(sep) <= size ? k + strlen(sep) : size;
    fz_file(first, data, k);
    fz_file(second, data + rest, size - rest);
}

/* Encodes text with a tokenizer the target built; every id must be a token of it. */
static inline void fz_encode_check(qh_tokenizer *tok, const char *text, size_t len)
{
    int *ids = NULL;
    size_t n = 0;
    qh_err err = {{0}};
    int rc = qh_encode(tok, "fuzz", text, len, &ids, &n, &err);
    fz_check_error(rc, &err, "qh_encode");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t tl;
        if (ids[i] < 0 || ids[i] >= qh_tokenizer_vocab_size(tok) || !qh_token_bytes(tok, ids[i], &tl)) abort();
    }
    free(ids);
}

#endif
