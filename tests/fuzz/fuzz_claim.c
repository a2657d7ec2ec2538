/* fuzz_claim.c - claim files, and inline --claim strings: an input starting with '[' or ';'
 * or containing a newline is a claim file; any other is a --claim spec, parsed directly (as
 * the INI text it stands for, never written). */
#include "tests/fuzz/fuzz.h"
#include "harness/run/claim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qh_claim c;
    qh_err err = {{0}};
    int is_file = size && (data[0] == '[' || data[0] == ';' || memchr(data, '\n', size));
    if (is_file) {
        int rc = qh_claim_load(fz_file("in.ini", data, size), &c, &err);
        fz_check_error(rc, &err, "qh_claim_load");
        return 0;
    }
    char *spec = qh_malloc(size + 1);
    memcpy(spec, data, size);
    spec[size] = 0;
    int rc = qh_claim_load_inline(spec, &c, &err); /* parsed directly, as audit --claim does */
    free(spec);
    fz_check_error(rc, &err, "qh_claim_load_inline");
    return 0;
}
