/* fuzz_jsonl.c - the task files other than MMLU: the JSONL readers (BLiMP, LAMBADA, the
 * multiple-choice sets, WinoGrande) and HellaSwag's six-line format; the first byte picks
 * the set, the rest is its file.  Budgets and seeded sampling run on what was read. */
#include "tests/fuzz/fuzz.h"
#include "datasets/mc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int n_sets = 0;
    while (qh_mc_sets[n_sets].name) n_sets++;
    const qh_mc_set *set = &qh_mc_sets[1 + data[0] % (n_sets - 1)]; /* row 0 is MMLU: fuzz_mmlu */
    qh_mc_opts o = {0};
    o.budget = data[0] >> 4;
    o.seed = 1234;
    qh_mc_task t;
    qh_err err = {{0}};
    int rc = qh_mc_parse_text(set, (const char *)data + 1, size - 1, &o, &t, &err);
    fz_check_error(rc, &err, set->name);
    if (rc == 0) qh_mc_free(&t);
    return 0;
}
