/* fuzz_vocab.c - the GPT-2 vocabulary files: vocab.json and merges.txt, given as one input
 * split at the first "\n#merges#\n" (vocab before, merges after), then one encode. */
#include "tests/fuzz/fuzz.h"
#include "harness/model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_two_files(data, size, "\n#merges#\n", "vocab.json", "merges.txt");
    qh_tokenizer *tok = NULL;
    qh_err err = {{0}};
    int rc = qh_tokenizer_load_dir(fz_dir(), &tok, &err);
    fz_check_error(rc, &err, "qh_tokenizer_load_dir");
    if (rc != 0) return 0;
    static const char text[] = "The quick brown fox, 1984 \xc3\xa9t\xc3\xa9!\n\n  <|endoftext|>";
    fz_encode_check(tok, text, sizeof text - 1);
    qh_tokenizer_free(tok);
    return 0;
}
