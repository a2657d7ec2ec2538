/* fuzz_imatrix.c - llama.cpp's legacy importance-matrix files. */
#include "tests/fuzz/fuzz.h"
#include "harness/formats/imatrix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qh_imatrix im;
    qh_err err = {{0}};
    int rc = qh_imatrix_load(fz_file("in.dat", data, size), &im, &err);
    fz_check_error(rc, &err, "qh_imatrix_load");
    if (rc == 0) {
        for (int i = 0; i < im.n_entries; i++)
            if (qh_imatrix_find(&im, im.entries[i].name) == NULL) abort();
        qh_imatrix_free(&im);
    }
    return 0;
}
