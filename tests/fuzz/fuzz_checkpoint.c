/* fuzz_checkpoint.c - a model directory through the model loader's format table: a Hugging
 * Face GPT-2 or Llama checkpoint (config.json and model.safetensors, given as one input split at
 * the first "\n#safetensors#\n": config checks, tensor names and shapes against the config,
 * dtypes, tied or untied head, q/k row order; a quantization_config and the tensors of GPTQ, AWQ,
 * compressed-tensors or bitsandbytes layers, seeded with the tools' own files from
 * tests/data/hf_quant), or, for an input that starts "L2C\n", the rest
 * as a llama2.c checkpoint model.bin (header, size implied by it, tied or untied classifier). */
#include "tests/fuzz/fuzz.h"
#include "harness/model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 4 && data[0] == 'L' && data[1] == '2' && data[2] == 'C' && data[3] == '\n') fz_file("model.bin", data + 4, size - 4);
    else fz_two_files(data, size, "\n#safetensors#\n", "config.json", "model.safetensors");
    qh_model *m = NULL;
    qh_err err = {{0}};
    int rc = qh_model_load(fz_dir(), &m, 0, &err);
    fz_check_error(rc, &err, "qh_model_load");
    if (rc == 0) qh_model_free(m);
    return 0;
}
