/* fuzz_checkpoint.c - a Hugging Face GPT-2 checkpoint directory: config.json and
 * model.safetensors, given as one input split at the first "\n#safetensors#\n", loaded by the
 * model loader (config checks, tensor names and shapes against the config, dtypes, tied or
 * untied head). */
#include "fuzz.h"
#include "harness/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_two_files(data, size, "\n#safetensors#\n", "config.json", "model.safetensors");
    qh_model *m = NULL;
    qh_err err = {{0}};
    int rc = qh_model_load(fz_dir(), &m, 0, &err);
    fz_check_error(rc, &err, "qh_model_load");
    if (rc == 0) qh_model_free(m);
    return 0;
}
