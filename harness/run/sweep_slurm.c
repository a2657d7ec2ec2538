/* sweep_slurm.c - a sweep on a Slurm cluster: the plan file and job scripts sweep --slurm
 * writes and submits, where each run stands (--status), stopping the tasks (--cancel).
 *
 * Beside the experiment database DB, for experiment ID, submission S:
 *   DB.shards/exp-ID/plan-S.json     which runs each array task does (ids of the database)
 *   DB.shards/exp-ID/job-S.sh        the array job: `qharness sweep-task plan-S.json $SLURM_ARRAY_TASK_ID`
 *   DB.shards/exp-ID/merge-S.sh      the merge job, after the array (afterany): `qharness merge`
 *   DB.shards/exp-ID/run-RUN.sqlite  one shard per run (shard.h), written by the task doing it
 *   DB.shards/exp-ID/logs/JOB_TASK.out
 * The tasks never open DB; only the submitting command, --status and the merge do. */
#include <cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/base/outfile.h"
#include "harness/run/shard.h"
#include "harness/run/slurm.h"
#include "harness/run/sweep_slurm.h"

/* ---- the plan file ---------------------------------------------------------------------- */

static cJSON *run_json(const qh_planned_run *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "run", (double)r->run_id);
    cJSON_AddNumberToObject(o, "model_id", (double)r->model_id);
    cJSON_AddNumberToObject(o, "config_id", (double)r->config_id);
    cJSON_AddNumberToObject(o, "model_index", r->model_index);
    cJSON_AddNumberToObject(o, "config_index", r->config_index);
    cJSON_AddNumberToObject(o, "ordinal", r->ordinal);
    cJSON_AddStringToObject(o, "model_sha256", r->model_sha256);
    return o;
}

static int write_plan(const char *path, const qh_experiment *x, const char *experiment_abs, const char *db_abs, long long exp_id,
                      int submission, const qh_planned_run *runs, int n, int per_task, qh_err *err)
{
    cJSON *o = cJSON_CreateObject(), *tasks = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "experiment", x->name);
    cJSON_AddNumberToObject(o, "experiment_id", (double)exp_id);
    cJSON_AddStringToObject(o, "experiment_file", experiment_abs);
    cJSON_AddStringToObject(o, "experiment_sha256", x->sha256);
    cJSON_AddStringToObject(o, "db", db_abs);
    cJSON_AddNumberToObject(o, "submission", submission);
    for (int i = 0; i < n; i += per_task) {
        cJSON *t = cJSON_CreateArray();
        for (int j = i; j < n && j < i + per_task; j++) cJSON_AddItemToArray(t, run_json(&runs[j]));
        cJSON_AddItemToArray(tasks, t);
    }
    cJSON_AddItemToObject(o, "tasks", tasks);
    char *text = cJSON_Print(o);
    int rc = qh_write_file(path, text, strlen(text), err);
    free(text);
    cJSON_Delete(o);
    return rc;
}

/* a whole number in [0, 2^53]: ids, indexes and ordinals (anything else, 1e30 or 0.5 or -1,
 * is not a plan this program wrote and would be undefined behaviour to convert) */
static int get_number(const cJSON *o, const char *key, double *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it)) return 0;
    double x = it->valuedouble;
    if (!(x >= 0 && x <= 9007199254740992.0) || x != floor(x)) return 0;
    *v = x;
    return 1;
}

static int get_string(const cJSON *o, const char *key, char *buf, size_t len)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    if (!v || strlen(v) >= len) return 0;
    snprintf(buf, len, "%s", v);
    return 1;
}

int qh_task_plan_read(const char *path, int index, qh_task_plan *p, qh_err *err)
{
    memset(p, 0, sizeof *p);
    char *text;
    size_t len;
    if (qh_read_file(path, &text, &len, err) != 0) return -1;
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!o) return qh_fail(err, "%s: not JSON (a plan file written by sweep --slurm)", path);
    int rc = -1;
    double id;
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(o, "tasks");
    if (!get_number(o, "experiment_id", &id) || !get_string(o, "experiment_file", p->experiment_file, sizeof p->experiment_file) ||
        !get_string(o, "experiment_sha256", p->experiment_sha256, sizeof p->experiment_sha256) ||
        !get_string(o, "db", p->db, sizeof p->db) || !cJSON_IsArray(tasks)) {
        qh_fail(err, "%s: not a plan file: experiment_id, experiment_file, experiment_sha256, db or tasks missing", path);
        goto out;
    }
    p->experiment_id = (long long)id;
    int n_tasks = cJSON_GetArraySize(tasks);
    if (index < 0 || index >= n_tasks) {
        qh_fail(err, "%s: task %d: the plan has tasks 0..%d", path, index, n_tasks - 1);
        goto out;
    }
    const cJSON *t = cJSON_GetArrayItem(tasks, index);
    p->n_runs = cJSON_GetArraySize(t);
    p->runs = qh_calloc((size_t)(p->n_runs ? p->n_runs : 1), sizeof *p->runs);
    for (int i = 0; i < p->n_runs; i++) {
        const cJSON *r = cJSON_GetArrayItem(t, i);
        double run, model_id, config_id, mi, ci, ord;
        qh_planned_run *q = &p->runs[i];
        if (!get_number(r, "run", &run) || !get_number(r, "model_id", &model_id) || !get_number(r, "config_id", &config_id) ||
            !get_number(r, "model_index", &mi) || !get_number(r, "config_index", &ci) || !get_number(r, "ordinal", &ord) ||
            !get_string(r, "model_sha256", q->model_sha256, sizeof q->model_sha256)) {
            qh_fail(err, "%s: task %d, run %d: a key is missing or not a whole number >= 0 (run, model_id, config_id, model_index, config_index, ordinal, model_sha256)",
                    path, index, i);
            goto out;
        }
        q->run_id = (long long)run, q->model_id = (long long)model_id, q->config_id = (long long)config_id;
        if (mi > INT_MAX || ci > INT_MAX || ord > INT_MAX) {
            qh_fail(err, "%s: task %d, run %d: model_index, config_index or ordinal out of range", path, index, i);
            goto out;
        }
        q->model_index = (int)mi, q->config_index = (int)ci, q->ordinal = (int)ord;
    }
    rc = 0;
out:
    if (rc) {
        free(p->runs);
        p->runs = NULL;
    }
    cJSON_Delete(o);
    return rc;
}

/* ---- job scripts -------------------------------------------------------------------------- */

/* s in single quotes for the shell */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    fputc('\'', f);
}

/* an #SBATCH value in double quotes (sbatch reads quoted option values, so a path with spaces
 * stays one value); a double quote or a control byte cannot be quoted there: refused */
static int put_sbatch(FILE *f, const char *opt, const char *value, const char *path, qh_err *err)
{
    for (const char *c = value; *c; c++)
        if (*c == '"' || (unsigned char)*c < 0x20)
            return qh_fail(err, "%s: %s '%s': Slurm cannot take a double quote or control character here", path, opt, value);
    fprintf(f, "#SBATCH %s=\"%s\"\n", opt, value);
    return 0;
}

/* a job name Slurm and the shell both take as it is */
static void job_name(const char *name, char *out, size_t len)
{
    size_t j = snprintf(out, len, "qh-");
    for (const char *c = name; *c && j + 1 < len; c++)
        out[j++] = (isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.') ? *c : '_';
    out[j] = 0;
}

static int write_script(const char *path, const char *header, const char *name, const char *array, const qh_slurm_opts *so,
                        int cpus, const char *log_pattern, const char *const *cmd, qh_err *err)
{
    qh_outfile out;
    if (qh_outfile_open(&out, path, err) != 0) return -1;
    FILE *f = out.f;
    char cwd[PATH_MAX] = ".", jn[160];
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
    job_name(name, jn, sizeof jn);
    fprintf(f, "#!/bin/bash\n%s", header);
    fprintf(f, "#SBATCH --job-name=%s\n", jn);
    if (array) fprintf(f, "#SBATCH --array=%s\n", array);
    fprintf(f, "#SBATCH --cpus-per-task=%d\n#SBATCH --ntasks=1\n", cpus);
    if (put_sbatch(f, "--output", log_pattern, path, err) != 0 || (so->partition && put_sbatch(f, "--partition", so->partition, path, err) != 0) ||
        (so->time_limit && put_sbatch(f, "--time", so->time_limit, path, err) != 0) || put_sbatch(f, "--chdir", cwd, path, err) != 0) {
        qh_outfile_abort(&out);
        return -1;
    }
    fprintf(f, "export QHARNESS_THREADS=${SLURM_CPUS_PER_TASK:-1} OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\nexport QHARNESS_HOME=");
    put_quoted(f, qh_home());
    fputs("\nexec", f);
    for (int i = 0; cmd[i]; i++) {
        fputc(' ', f);
        if (strcmp(cmd[i], "$SLURM_ARRAY_TASK_ID") == 0) fputs("\"$SLURM_ARRAY_TASK_ID\"", f);
        else put_quoted(f, cmd[i]);
    }
    fputc('\n', f);
    return qh_outfile_commit(&out, err);
}

/* ---- submission ----------------------------------------------------------------------------- */

/* The state of (job, index), from a per-job cache of qh_slurm_tasks. */
typedef struct {
    char job[32];
    qh_slurm_task *tasks;
    int n, known;            /* known: Slurm answered for this job */
    char error[1024];
} job_cache;

typedef struct {
    job_cache *jobs;
    int n;
} job_states;

static const qh_slurm_task *task_state(job_states *js, const char *job, int index, const char **error)
{
    job_cache *c = NULL;
    for (int i = 0; i < js->n; i++)
        if (strcmp(js->jobs[i].job, job) == 0) c = &js->jobs[i];
    if (!c) {
        js->jobs = qh_realloc(js->jobs, (size_t)(js->n + 1) * sizeof *js->jobs);
        c = &js->jobs[js->n++];
        memset(c, 0, sizeof *c);
        snprintf(c->job, sizeof c->job, "%s", job);
        qh_err e;
        c->known = qh_slurm_tasks(job, &c->tasks, &c->n, &e) == 0;
        if (!c->known) snprintf(c->error, sizeof c->error, "%s", e.msg);
    }
    *error = c->known ? NULL : c->error;
    for (int i = 0; i < c->n; i++)
        if (c->tasks[i].index == index) return &c->tasks[i];
    return NULL;
}

static void free_job_states(job_states *js)
{
    for (int i = 0; i < js->n; i++) free(js->jobs[i].tasks);
    free(js->jobs);
}

/* The latest Slurm task recorded for a run: 1 and its job and index, or 0. */
static int latest_task(qh_store *s, long long run, char *job, size_t len, long long *index, char *merge_job, size_t mlen)
{
    sqlite3_stmt *st;
    job[0] = 0;
    if (merge_job) merge_job[0] = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT job_id, array_index, merge_job_id FROM slurm_tasks WHERE run_id=? ORDER BY submission DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, run);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(job, len, "%s", (const char *)sqlite3_column_text(st, 0));
        *index = sqlite3_column_int64(st, 1);
        if (merge_job && sqlite3_column_text(st, 2)) snprintf(merge_job, mlen, "%s", (const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    return found;
}

int qh_sweep_submit(qh_store *s, const qh_experiment *x, const char *db_path, long long exp_id, const qh_planned_run *runs_in,
                    int n_in, const qh_sweep_opts *o, qh_err *err)
{
    const qh_slurm_opts *so = &o->slurm_opts;
    int per_task = so->runs_per_task > 0 ? so->runs_per_task : 1, cpus = so->cpus_per_task > 0 ? so->cpus_per_task : 1;
    char db_abs[PATH_MAX], exp_abs[PATH_MAX], self[PATH_MAX];
    if (!realpath(db_path, db_abs)) return qh_fail(err, "%s: cannot resolve its path", db_path);
    if (!realpath(x->path, exp_abs)) return qh_fail(err, "%s: cannot resolve its path", x->path);
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) return qh_fail(err, "cannot find the qharness binary (/proc/self/exe)");
    self[sl] = 0;
    /* runs that a live task still holds are not submitted twice: two writers of one shard */
    qh_planned_run *runs = qh_calloc((size_t)(n_in ? n_in : 1), sizeof *runs);
    int n = 0, held = 0, rc = -1;
    job_states js = {0};
    for (int i = 0; i < n_in; i++) {
        char job[32];
        long long index;
        const char *why;
        const qh_slurm_task *t;
        if (latest_task(s, runs_in[i].run_id, job, sizeof job, &index, NULL, 0) && (t = task_state(&js, job, (int)index, &why)) &&
            qh_slurm_state_live(t->state)) {
            fprintf(stderr, "run %lld (%s): still %s as Slurm task %s_%lld, not submitted again\n", runs_in[i].run_id,
                    x->configs[runs_in[i].config_index].label, t->state, job, index);
            held++;
            continue;
        }
        runs[n++] = runs_in[i];
    }
    char *dir = qh_shard_dir(db_abs, exp_id), *logs = qh_path_join(dir, "logs"), path[PATH_MAX + 64], mpath[PATH_MAX + 64];
    char job[32] = "", merge_job[32] = "", now[32], array[64], log_pattern[PATH_MAX + 64], header[12288];
    if (n == 0) {
        fprintf(stderr, "sweep %s: nothing to submit: %d of %d runs done%s\n", x->name, x->n_models * x->n_configs - n_in,
                x->n_models * x->n_configs, held ? ", the rest still held by live Slurm tasks" : "");
        rc = 0;
        goto out;
    }
    long long submission;
    int found;
    if (qh_mkdirs(logs, err) ||
        qh_store_int(s, err, &submission, &found,
                     "SELECT COALESCE(MAX(t.submission), 0) + 1 FROM slurm_tasks t JOIN runs r ON r.id=t.run_id WHERE r.experiment_id=?",
                     "i", exp_id))
        goto out;
    int n_tasks = (n + per_task - 1) / per_task;
    snprintf(path, sizeof path, "%s/plan-%lld.json", dir, submission);
    if (write_plan(path, x, exp_abs, db_abs, exp_id, (int)submission, runs, n, per_task, err)) goto out;
    char plan[PATH_MAX + 64];
    snprintf(plan, sizeof plan, "%s", path);
    if (so->max_parallel > 0) snprintf(array, sizeof array, "0-%d%%%d", n_tasks - 1, so->max_parallel);
    else snprintf(array, sizeof array, "0-%d", n_tasks - 1);
    snprintf(header, sizeof header,
             "# written by qharness sweep --slurm: experiment %s (id %lld) of %s, submission %lld:\n"
             "# %d runs in %d array tasks; each task runs the plan's runs into its own shard database\n"
             "# beside the plan (one writer per file), never into the experiment database.\n",
             x->name, exp_id, db_abs, submission, n, n_tasks);
    snprintf(log_pattern, sizeof log_pattern, "%s/%%A_%%a.out", logs);
    snprintf(path, sizeof path, "%s/job-%lld.sh", dir, submission);
    const char *task_cmd[] = {self, "sweep-task", plan, "$SLURM_ARRAY_TASK_ID", NULL};
    if (write_script(path, header, x->name, array, so, cpus, log_pattern, task_cmd, err) || qh_slurm_submit(path, NULL, job, sizeof job, err))
        goto out;
    if (!so->no_merge_job) {
        char eid[32];
        snprintf(eid, sizeof eid, "%lld", exp_id);
        snprintf(header, sizeof header,
                 "# written by qharness sweep --slurm: merges the shards of experiment %s (id %lld) into %s\n"
                 "# once array job %s has ended, however it ended (afterany); merging is idempotent.\n",
                 x->name, exp_id, db_abs, job);
        snprintf(log_pattern, sizeof log_pattern, "%s/%%j_merge.out", logs);
        snprintf(mpath, sizeof mpath, "%s/merge-%lld.sh", dir, submission);
        const char *merge_cmd[] = {self, "merge", "--db", db_abs, "--id", eid, NULL};
        qh_slurm_opts mo = *so;
        if (write_script(mpath, header, x->name, NULL, &mo, 1, log_pattern, merge_cmd, err) ||
            qh_slurm_submit(mpath, job, merge_job, sizeof merge_job, err)) {
            qh_err_prefix(err, "array job %s submitted, its merge job not (run qharness merge yourself)", job);
            /* the array's tasks are recorded all the same, below */
            qh_err keep = *err;
            merge_job[0] = 0;
            qh_utc_now(now);
            if (qh_store_begin(s, err) == 0) {
                for (int i = 0; i < n; i++)
                    qh_store_slurm_task(s, runs[i].run_id, submission, job, (long long)(i / per_task), NULL, now, err);
                qh_store_commit(s, err);
            }
            *err = keep;
            goto out;
        }
    }
    qh_utc_now(now);
    if (qh_store_begin(s, err)) goto out;
    for (int i = 0; i < n; i++)
        if (qh_store_slurm_task(s, runs[i].run_id, submission, job, (long long)(i / per_task), merge_job[0] ? merge_job : NULL, now, err)) {
            qh_store_rollback(s);
            goto out;
        }
    if (qh_store_commit(s, err)) goto out;
    char limit[48] = "";
    if (so->max_parallel > 0) snprintf(limit, sizeof limit, ", at most %d at once", so->max_parallel);
    fprintf(stderr, "sweep %s (experiment id %lld): %d runs submitted as Slurm array job %s (%d tasks, %d cpus each%s); %d done before%s\n",
            x->name, exp_id, n, job, n_tasks, cpus, limit, x->n_models * x->n_configs - n_in, held ? ", some held by live tasks" : "");
    if (merge_job[0]) fprintf(stderr, "merge job %s runs after it (afterany): qharness merge --db %s --id %lld\n", merge_job, db_abs, exp_id);
    fprintf(stderr, "job script %s/job-%lld.sh, shards and logs in %s\nfollow with: qharness sweep %s --db %s --status\n", dir, submission,
            dir, x->path, db_path);
    printf("%s\n", job);
    rc = 0;
out:
    free_job_states(&js);
    free(runs);
    free(dir);
    free(logs);
    return rc;
}

/* ---- status and cancel -------------------------------------------------------------------- */

typedef enum { ST_PENDING, ST_RUNNING, ST_DONE, ST_FAILED, ST_KINDS } run_state;
static const char *const state_names[ST_KINDS] = {"pending", "running", "done", "failed"};

static int slurm_running(const char *state)
{
    return strcmp(state, "RUNNING") == 0 || strcmp(state, "COMPLETING") == 0 || strcmp(state, "CONFIGURING") == 0 ||
           strcmp(state, "SIGNALING") == 0 || strcmp(state, "STAGE_OUT") == 0;
}

int qh_sweep_status(qh_store *s, const qh_experiment *x, const char *db_path, long long exp_id, qh_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT id, ordinal, label, status, error FROM runs WHERE experiment_id=? ORDER BY ordinal, id", -1, &st,
                           NULL) != SQLITE_OK)
        return qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(s->db));
    sqlite3_bind_int64(st, 1, exp_id);
    char *dir = qh_shard_dir(db_path, exp_id);
    job_states js = {0};
    int counts[ST_KINDS] = {0}, n = 0, unmerged = 0;
    char jobs_seen[1024] = "";
    printf("experiment %s (id %lld) in %s\n", x->name, exp_id, db_path);
    printf("%4s  %-40s %-8s %s\n", "run", "label", "status", "where");
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long run = sqlite3_column_int64(st, 0);
        const char *label = (const char *)sqlite3_column_text(st, 2), *main_status = (const char *)sqlite3_column_text(st, 3);
        const char *main_error = sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "";
        char shard[24], shard_error[512], job[32], merge_job[32], where[1024];
        long long index = 0;
        run_state state = ST_PENDING;
        qh_shard_run_status(dir, run, shard, sizeof shard, shard_error, sizeof shard_error);
        int in_slurm = latest_task(s, run, job, sizeof job, &index, merge_job, sizeof merge_job);
        if (in_slurm) {
            char tag[80];
            snprintf(tag, sizeof tag, " %s%s%s", job, merge_job[0] ? "+" : "", merge_job);
            if (!strstr(jobs_seen, tag) && strlen(jobs_seen) + strlen(tag) + 1 < sizeof jobs_seen) strcat(jobs_seen, tag);
        }
        const qh_slurm_task *t = NULL;
        const char *slurm_error = NULL;
        if (in_slurm && strcmp(main_status, "done") != 0 && strcmp(shard, "done") != 0) t = task_state(&js, job, (int)index, &slurm_error);
        if (strcmp(main_status, "done") == 0) {
            state = ST_DONE;
            snprintf(where, sizeof where, "merged%s%s", in_slurm ? ", ran as Slurm task " : "", in_slurm ? job : "");
            if (in_slurm) snprintf(where + strlen(where), sizeof where - strlen(where), "_%lld", index);
        } else if (strcmp(shard, "done") == 0) {
            state = ST_DONE;
            unmerged++;
            snprintf(where, sizeof where, "in its shard, not merged yet");
        } else if (strcmp(shard, "failed") == 0) {
            state = ST_FAILED;
            snprintf(where, sizeof where, "Slurm task %s_%lld: %s", job, index, shard_error);
        } else if (t && qh_slurm_state_live(t->state)) {
            state = slurm_running(t->state) ? ST_RUNNING : ST_PENDING;
            snprintf(where, sizeof where, "Slurm task %s_%lld %s%s%s", job, index, t->state, t->node[0] ? " on " : "", t->node);
        } else if (t) {
            state = ST_FAILED;
            snprintf(where, sizeof where, "Slurm task %s_%lld ended %s (exit %s) without finishing the run%s", job, index, t->state,
                     t->exit_code[0] ? t->exit_code : "?", shard[0] ? "" : " (no shard written)");
        } else if (in_slurm) {
            state = ST_FAILED;
            snprintf(where, sizeof where, "Slurm task %s_%lld: %s", job, index,
                     slurm_error ? slurm_error : "Slurm no longer knows it and its run is unfinished (killed?)");
        } else if (strcmp(main_status, "failed") == 0) {
            state = ST_FAILED;
            snprintf(where, sizeof where, "%s", main_error);
        } else if (strcmp(main_status, "running") == 0) {
            state = ST_RUNNING;
            snprintf(where, sizeof where, "a local sweep (if it was killed, --resume redoes it)");
        } else
            snprintf(where, sizeof where, "not started");
        counts[state]++;
        n++;
        printf("%4lld  %-40.40s %-8s %s\n", run, label, state_names[state], where);
    }
    sqlite3_finalize(st);
    printf("%d runs: %d done, %d running, %d pending, %d failed", n, counts[ST_DONE], counts[ST_RUNNING], counts[ST_PENDING], counts[ST_FAILED]);
    if (unmerged) printf("; %d done in shards but not merged (qharness merge --db %s --id %lld)", unmerged, db_path, exp_id);
    if (jobs_seen[0]) printf("; Slurm jobs (array+merge):%s", jobs_seen);
    printf("\n");
    if (counts[ST_FAILED] || counts[ST_PENDING])
        printf("runs not done are redone by: qharness sweep %s --db %s --resume%s\n", x->path, db_path, jobs_seen[0] ? " --slurm" : "");
    free_job_states(&js);
    free(dir);
    return 0;
}

int qh_sweep_cancel(qh_store *s, const char *db_path, long long exp_id, qh_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT DISTINCT t.job_id FROM slurm_tasks t JOIN runs r ON r.id=t.run_id WHERE r.experiment_id=? "
                           "AND r.status<>'done' ORDER BY t.submission",
                           -1, &st, NULL) != SQLITE_OK)
        return qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(s->db));
    sqlite3_bind_int64(st, 1, exp_id);
    int cancelled = 0, rc = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *job = (const char *)sqlite3_column_text(st, 0);
        qh_slurm_task *t;
        int n, live = 0;
        if (qh_slurm_tasks(job, &t, &n, err) != 0) {
            rc = -1;
            break;
        }
        for (int i = 0; i < n; i++) live |= qh_slurm_state_live(t[i].state);
        free(t);
        if (!live) continue;
        if (qh_slurm_cancel(job, err) != 0) {
            rc = -1;
            break;
        }
        fprintf(stderr, "scancel %s\n", job);
        cancelled++;
    }
    sqlite3_finalize(st);
    if (rc == 0) fprintf(stderr, "%d Slurm array job(s) of experiment %lld cancelled; the merge job keeps what finished\n", cancelled, exp_id);
    return rc;
}
