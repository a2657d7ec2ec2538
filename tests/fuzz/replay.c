/* replay.c - runs a fuzz target's entry point over files and directories of inputs, without
 * libFuzzer: how `make check` replays tests/fuzz/regressions/ and the seed corpora with gcc
 * (and under ASan/UBSan in check-asan).  Prints how many inputs it ran; a crash fails make. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static long replayed;

static void replay_file(const char *path)
{
    char *data;
    size_t len;
    qh_err err = {{0}};
    if (qh_read_file(path, &data, &len, &err) != 0) {
        fprintf(stderr, "replay: %s\n", err.msg);
        exit(2);
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    free(data);
    replayed++;
}

static void replay(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return; /* a target without regressions yet */
    if (!S_ISDIR(sb.st_mode)) {
        replay_file(path);
        return;
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char *p = qh_path_join(path, names[i]->d_name);
            replay(p);
            free(p);
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) replay(argv[i]);
    printf("%s: replayed %ld inputs\n", argv[0], replayed);
    return 0;
}
