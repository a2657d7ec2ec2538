/* fuzz_sentencepiece.c - the tokenizer files Llama models ship with: SentencePiece's
 * tokenizer.model (protobuf) when the first byte is even, Hugging Face's tokenizer.json
 * (byte-level or SentencePiece-style BPE) when it is odd; the rest is the file.  Then one
 * encode. */
#include "tests/fuzz/fuzz.h"
#include "harness/model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int json = data[0] & 1;
    const char *path = fz_file(json ? "tokenizer.json" : "tokenizer.model", data + 1, size - 1);
    qh_tokenizer *tok = NULL;
    qh_err err = {{0}};
    int rc = json ? qh_tokenizer_load_hf_json(path, &tok, &err) : qh_tokenizer_load_spm_model(path, &tok, &err);
    fz_check_error(rc, &err, json ? "qh_tokenizer_load_hf_json" : "qh_tokenizer_load_spm_model");
    if (rc != 0) return 0;
    static const char text[] = "Once upon a time, a little girl named Lily \xe4\xb8\xad\n\nThe end.  the and ";
    fz_encode_check(tok, text, sizeof text - 1);
    qh_tokenizer_free(tok);
    return 0;
}
