/* fuzz_mmlu.c - the MMLU CSV reader (libcsv; six fields, answer 0-3) and the prompts built
 * from it; the first byte picks the shots (0-5, so dev rows are read from the same text). */
#include "tests/fuzz/fuzz.h"
#include "datasets/mc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    qh_mc_opts o = {0};
    o.shots = data[0] % 6;
    o.first = 1;
    qh_mc_task t;
    qh_err err = {{0}};
    int rc = qh_mc_parse_text(qh_mc_set_find("mmlu"), (const char *)data + 1, size - 1, &o, &t, &err);
    fz_check_error(rc, &err, "qh_mc_parse_text(mmlu)");
    if (rc == 0) qh_mc_free(&t);
    return 0;
}
