/* slurm.c - sbatch, squeue, scontrol and scancel as child processes; see slurm.h. */
#include "harness/run/slurm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int qh_slurm_submit(const char *script, const char *after, char *job_id, size_t job_id_len, qh_err *err)
{
    char dep[96];
    char *argv[5];
    int a = 0;
    argv[a++] = "sbatch";
    argv[a++] = "--parsable";
    if (after) {
        snprintf(dep, sizeof dep, "--dependency=afterany:%s", after);
        argv[a++] = dep;
    }
    argv[a++] = (char *)script;
    argv[a] = NULL;
    char *out;
    if (qh_run_command(argv, &out, err) != 0) return -1;
    /* --parsable prints "JOBID" or "JOBID;CLUSTER" */
    out[strcspn(out, ";\n")] = 0;
    int ok = out[0] != 0 && strspn(out, "0123456789") == strlen(out) && strlen(out) < job_id_len;
    if (ok) snprintf(job_id, job_id_len, "%s", out);
    else qh_fail(err, "sbatch %s: expected a job id, got '%.80s'", script, out);
    free(out);
    return ok ? 0 : -1;
}

int qh_slurm_state_live(const char *state)
{
    static const char *live[] = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD",
                                 "REQUEUE_FED", "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"};
    for (size_t i = 0; i < sizeof live / sizeof *live; i++)
        if (strcmp(state, live[i]) == 0) return 1;
    return 0;
}

static qh_slurm_task *find_task(qh_slurm_task *t, int n, int index)
{
    for (int i = 0; i < n; i++)
        if (t[i].index == index) return &t[i];
    return NULL;
}

/* "KEY=VALUE" out of one line of `scontrol -o show job` (values have no spaces there) */
static int field(const char *line, const char *key, char *out, size_t len)
{
    size_t kl = strlen(key);
    for (const char *p = line; (p = strstr(p, key)) != NULL; p += kl) {
        if ((p != line && p[-1] != ' ') || p[kl] != '=') continue;
        const char *v = p + kl + 1;
        size_t n = strcspn(v, " \n");
        if (n >= len) n = len - 1;
        memcpy(out, v, n);
        out[n] = 0;
        return 1;
    }
    return 0;
}

/* an array index as squeue and scontrol print it: digits only, within int; -1 when not */
static int array_index(const char *s, size_t len)
{
    if (len == 0 || len > 9) return -1; /* Slurm's MaxArraySize is at most 4,000,001 */
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static qh_slurm_task *add_task(qh_slurm_task **tasks, int *n, int *cap, int index)
{
    if (*n == *cap) *tasks = qh_realloc(*tasks, (size_t)(*cap = *cap ? 2 * *cap : 16) * sizeof **tasks);
    qh_slurm_task *t = &(*tasks)[(*n)++];
    memset(t, 0, sizeof *t);
    t->index = index;
    return t;
}

void qh_slurm_tasks_parse(const char *squeue_out, const char *scontrol_out, qh_slurm_task **tasks, int *n)
{
    *tasks = NULL;
    *n = 0;
    int cap = 0;
    char *copy = qh_strdup(squeue_out ? squeue_out : ""), *save = NULL;
    /* squeue -o '%K|%T|%N': live tasks, one line each (-r expands the array's pending ones) */
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *bar1 = strchr(line, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        int index = bar2 ? array_index(line, (size_t)(bar1 - line)) : -1;
        if (index < 0) continue; /* not an array task */
        qh_slurm_task *t = add_task(tasks, n, &cap, index);
        snprintf(t->state, sizeof t->state, "%.*s", (int)(bar2 - bar1 - 1), bar1 + 1);
        snprintf(t->node, sizeof t->node, "%s", bar2 + 1);
    }
    free(copy);
    /* scontrol -o show job: ended tasks, while the controller remembers them */
    copy = qh_strdup(scontrol_out ? scontrol_out : "");
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char id[32], state[24], node[64] = "", code[16] = "";
        if (!field(line, "ArrayTaskId", id, sizeof id) || !field(line, "JobState", state, sizeof state)) continue;
        int index = array_index(id, strlen(id));
        if (index < 0) continue;
        field(line, "NodeList", node, sizeof node);
        field(line, "ExitCode", code, sizeof code);
        qh_slurm_task *t = find_task(*tasks, *n, index);
        if (t && qh_slurm_state_live(t->state)) continue; /* squeue's word is the newer */
        if (!t) t = add_task(tasks, n, &cap, index);
        snprintf(t->state, sizeof t->state, "%s", state);
        snprintf(t->node, sizeof t->node, "%s", strcmp(node, "(null)") == 0 ? "" : node);
        if (!qh_slurm_state_live(state)) snprintf(t->exit_code, sizeof t->exit_code, "%s", code);
    }
    free(copy);
}

int qh_slurm_tasks(const char *job, qh_slurm_task **tasks, int *n, qh_err *err)
{
    *tasks = NULL;
    *n = 0;
    char *squeue[] = {"squeue", "-h", "-r", "-j", (char *)job, "-o", "%K|%T|%N", NULL}, *sq, *sc = NULL;
    if (qh_run_command(squeue, &sq, err) != 0) {
        /* squeue refuses a job id it no longer knows: that is "none live", not an error */
        if (!strstr(err->msg, "Invalid job id")) return -1;
        sq = qh_strdup("");
    }
    char *scontrol[] = {"scontrol", "-o", "show", "job", (char *)job, NULL};
    qh_err ignored;
    if (qh_run_command(scontrol, &sc, &ignored) != 0) sc = NULL;
    qh_slurm_tasks_parse(sq, sc, tasks, n);
    free(sq);
    free(sc);
    return 0;
}

int qh_slurm_cancel(const char *job, qh_err *err)
{
    char *argv[] = {"scancel", (char *)job, NULL};
    return qh_run_command(argv, NULL, err);
}
