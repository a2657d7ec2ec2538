/* fuzz_experiment.c - experiment files (INI: [experiment], [tasks], [method NAME] with
 * parameter grids, [mixed NAME], [calibration], includes and patterns). */
#include "fuzz.h"
#include "harness/experiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qh_experiment x;
    qh_err err = {{0}};
    int rc = qh_experiment_load(fz_file("in.ini", data, size), &x, &err);
    fz_check_error(rc, &err, "qh_experiment_load");
    if (rc == 0) qh_experiment_free(&x);
    return 0;
}
