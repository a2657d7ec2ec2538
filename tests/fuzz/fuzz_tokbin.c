/* fuzz_tokbin.c - llama2.c's tokenizer files (tokenizer.bin, tok512.bin): a SentencePiece
 * vocabulary read into the same encoder as GGUF's "llama" ones, then one encode. */
#include "tests/fuzz/fuzz.h"
#include "harness/model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qh_tokenizer *tok = NULL;
    qh_err err = {{0}};
    int rc = qh_tokenizer_load_llama2c(fz_file("tok.bin", data, size), &tok, &err);
    fz_check_error(rc, &err, "qh_tokenizer_load_llama2c");
    if (rc != 0) return 0;
    static const char text[] = "Once upon a time, a little girl named Lily \xe4\xb8\xad\n\nThe end.";
    fz_encode_check(tok, text, sizeof text - 1);
    qh_tokenizer_free(tok);
    return 0;
}
