/* fuzz_slurm.c - what squeue (-o '%K|%T|%N') and scontrol -o show job print, as the sweep's
 * --status and --resume read it; the input is squeue's output, a NUL, then scontrol's.  Every
 * task kept has a non-negative index and terminated strings. */
#include "tests/fuzz/fuzz.h"
#include "harness/run/slurm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = qh_malloc(size + 2);
    memcpy(text, data, size);
    text[size] = text[size + 1] = 0;
    size_t first = strlen(text);
    const char *scontrol = first < size ? text + first + 1 : NULL;
    qh_slurm_task *t = NULL;
    int n = 0;
    qh_slurm_tasks_parse(text, scontrol, &t, &n);
    for (int i = 0; i < n; i++) {
        if (t[i].index < 0 || !memchr(t[i].state, 0, sizeof t[i].state) || !memchr(t[i].node, 0, sizeof t[i].node) ||
            !memchr(t[i].exit_code, 0, sizeof t[i].exit_code))
            abort();
        (void)qh_slurm_state_live(t[i].state);
    }
    free(t);
    free(text);
    return 0;
}
