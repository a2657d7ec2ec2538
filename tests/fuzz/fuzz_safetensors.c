/* fuzz_safetensors.c - the safetensors reader (header length, JSON header, tensor table,
 * offsets and overlaps) and the conversion of every F32/F16/BF16 tensor it accepts. */
#include "tests/fuzz/fuzz.h"
#include "harness/formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qh_safetensors st;
    qh_err err = {{0}};
    int rc = qh_st_open(fz_file("in.safetensors", data, size), &st, &err);
    fz_check_error(rc, &err, "qh_st_open");
    if (rc != 0) return 0;
    for (int i = 0; i < st.n_tensors; i++) {
        const qh_st_tensor *t = &st.tensors[i];
        size_t n = qh_st_numel(t);
        if (n > (1u << 20)) continue;
        float *out = qh_malloc((n ? n : 1) * sizeof(float));
        qh_err e2 = {{0}};
        fz_check_error(qh_st_to_f32(&st, t, out, &e2), &e2, "qh_st_to_f32");
        free(out);
        if (qh_st_find(&st, t->name) == NULL) abort(); /* every listed tensor is found by its name */
    }
    for (int i = 0; i < st.n_meta; i++)
        if (qh_st_meta(&st, st.meta_keys[i]) == NULL) abort();
    qh_st_close(&st);
    return 0;
}
