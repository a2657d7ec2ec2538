/* fuzz_claim.c - claim files, and inline --claim strings: an input starting with '[' or ';'
 * or containing a newline is a claim file; any other is a --claim spec, turned into the file
 * it stands for and parsed. */
#include "fuzz.h"
#include "harness/claim.h"

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
    char *ini = qh_claim_inline_ini(spec, &err);
    free(spec);
    if (!ini) {
        fz_check_error(-1, &err, "qh_claim_inline_ini");
        return 0;
    }
    int rc = qh_claim_load(fz_file("in.ini", ini, strlen(ini)), &c, &err);
    fz_check_error(rc, &err, "qh_claim_load (inline)");
    free(ini);
    return 0;
}
