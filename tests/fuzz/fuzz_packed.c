/* fuzz_packed.c - qharness packed files: the safetensors container, the "qharness" metadata
 * (config, method per tensor, shapes) and every method's decoder on the parts it names. */
#include "tests/fuzz/fuzz.h"
#include "harness/quantize/packed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qh_model *m = NULL;
    qh_quant_result res;
    qh_err err = {{0}};
    int rc = qh_quant_load(fz_file("in.safetensors", data, size), &m, &res, &err);
    fz_check_error(rc, &err, "qh_quant_load");
    if (rc == 0) {
        qh_model_free(m);
        qh_quant_result_free(&res);
    }
    return 0;
}
