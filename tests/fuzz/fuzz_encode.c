/* fuzz_encode.c - the byte-level BPE encoder of the embedded model's GPT-2 vocabulary on
 * arbitrary bytes: invalid UTF-8 must be refused with its offset, valid UTF-8 must encode,
 * and the tokens must decode back to exactly the input bytes. */
#include "tests/fuzz/fuzz.h"
#include "harness/model/tokenizer.h"

static qh_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char *dir = qh_path_join(qh_home(), "models/gpt2-gutenberg-18m");
    qh_err err = {{0}};
    if (qh_tokenizer_load_dir(dir, &tok, &err) != 0) {
        fprintf(stderr, "fuzz_encode: %s (run from the repository root or set QHARNESS_HOME)\n", err.msg);
        exit(1);
    }
    free(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int *ids = NULL;
    size_t n = 0;
    qh_err err = {{0}}, e2 = {{0}};
    int valid = qh_check_utf8("fuzz", (const char *)data, size, &e2) == 0;
    int rc = qh_encode(tok, "fuzz", (const char *)data, size, &ids, &n, &err);
    fz_check_error(rc, &err, "qh_encode");
    if ((rc == 0) != valid) {
        fprintf(stderr, "qh_encode %s what qh_check_utf8 %s\n", rc ? "refused" : "accepted", valid ? "accepts" : "refuses");
        abort();
    }
    if (rc != 0) return 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *b = qh_token_bytes(tok, ids[i], &len);
        if (!b || at + len > size || memcmp(b, data + at, len) != 0) {
            fprintf(stderr, "token %zu (id %d) does not decode to the input at byte %zu\n", i, ids[i], at);
            abort();
        }
        at += len;
    }
    if (at != size) {
        fprintf(stderr, "tokens decode to %zu of %zu bytes\n", at, size);
        abort();
    }
    free(ids);
    return 0;
}
