/* fuzz_plan.c - the Slurm plan JSON a sweep-task reads (plan-S.json written by sweep --slurm):
 * every task index the plan could name is read, and each run read must be within range. */
#include "tests/fuzz/fuzz.h"
#include "harness/run/sweep_slurm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file("plan.json", data, size);
    for (int index = -1; index < 3; index++) {
        qh_task_plan p;
        qh_err err = {{0}};
        int rc = qh_task_plan_read(path, index, &p, &err);
        fz_check_error(rc, &err, "qh_task_plan_read");
        if (rc != 0) continue;
        for (int i = 0; i < p.n_runs; i++)
            if (p.runs[i].model_index < 0 || p.runs[i].config_index < 0 || p.runs[i].run_id < 0) abort();
        free(p.runs);
    }
    return 0;
}
