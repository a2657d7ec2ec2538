/* sweep.c - the sweep runner; see sweep.h. */
#include "harness/run/sweep.h"
#include "harness/run/sweep_slurm.h"

#include <cJSON.h>
#include <fcntl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/quantize/calib.h"
#include "harness/model/forward.h"
#include "harness/formats/gguf.h"
#include "harness/run/shard.h"
#include "harness/formats/imatrix.h"
#include "harness/run/store.h"
#include "harness/eval/tasks.h"
#include "harness/model/tokenizer.h"

/* Everything a model's runs share: the baseline, its tokenizer and what each task loads
 * once (tokenized texts, multiple-choice requests, the baseline's distributions). */
typedef struct {
    qh_model *base;
    qh_tokenizer *tok;
    int *token_bytes;
    qh_task_env env;
    void *task_data[QH_MAX_TASKS];
    int *calib_ids;           /* tokenized calibration text, when a configuration needs it */
    qh_calib_opts calib;
    qh_imatrix imatrix;       /* when the experiment calibrates with llama.cpp's importance matrix */
    long long model_id;
} model_ctx;

/* What a task may keep per model to avoid recomputing the baseline: a quarter of the
 * machine's memory, at most 8 GiB (QH_TASK_CACHE_MB overrides). */
static size_t task_cache_bytes(void)
{
    const char *env = getenv("QH_TASK_CACHE_MB");
    if (env && *env) return (size_t)strtoull(env, NULL, 10) << 20;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double quarter = pages > 0 && page > 0 ? (double)pages * page / 4 : 1e9;
    return (size_t)(quarter < 8.0 * (1 << 30) ? quarter : 8.0 * (1 << 30));
}

static void free_model_ctx(model_ctx *mc, const qh_experiment *x)
{
    for (int t = 0; t < x->n_tasks; t++)
        if (mc->task_data[t]) qh_task_table[x->tasks[t].kind].free_data(mc->task_data[t]);
    free(mc->token_bytes);
    free(mc->calib_ids);
    qh_imatrix_free(&mc->imatrix);
    qh_tokenizer_free(mc->tok);
    qh_model_free(mc->base);
    memset(mc, 0, sizeof *mc);
}

int qh_experiment_check_model(const qh_experiment *x, const qh_model *m, const char *model_arg, qh_err *err)
{
    int max_ctx = qh_config_max_ctx(&m->cfg);
    if (x->ctx > max_ctx)
        return qh_fail(err, "%s:%d: [experiment] ctx = %d is longer than the context of model %s (%d)", x->path, x->ctx_line, x->ctx, model_arg,
                       max_ctx);
    if (x->calib_ctx > max_ctx)
        return qh_fail(err, "%s:%d: [calibration] ctx = %d is longer than the context of model %s (%d)", x->path, x->calib_ctx_line,
                       x->calib_ctx, model_arg, max_ctx);
    /* a pattern that matches nothing in this model would fail only after calibration and the
     * runs before it: said now */
    for (int c = 0; c < x->n_configs; c++)
        if (qh_quant_scope_check(&x->configs[c].scope, m, (const char *const[3]){"include", "exclude", "override"}, err) != 0) {
            qh_err_prefix(err, "%s:%d: [%s] (model %s)", x->path, x->configs[c].line, x->configs[c].label, model_arg);
            return -1;
        }
    return 0;
}

static int load_model_ctx(const qh_experiment *x, const char *model_arg, int dry_run, model_ctx *mc, qh_err *err)
{
    memset(mc, 0, sizeof *mc);
    char *dir = qh_resolve_model_dir(model_arg);
    int rc = qh_model_load(dir, &mc->base, 1, err);
    if (rc == 0) rc = qh_tokenizer_load_dir(dir, &mc->tok, err);
    free(dir);
    if (rc != 0) return -1;
    if (qh_experiment_check_model(x, mc->base, model_arg, err) != 0) return -1;
    mc->token_bytes = qh_token_byte_lengths(mc->tok, mc->base->cfg.n_vocab);
    int bos = qh_tokenizer_bos_added(mc->tok);
    mc->env = (qh_task_env){.base = mc->base, .tok = mc->tok, .token_bytes = mc->token_bytes, .seed = x->seed, .ctx = x->ctx,
                            .bos = bos >= 0 ? bos : -1, .cache_bytes = dry_run ? 0 : task_cache_bytes()};
    int calib_needed = 0;
    for (int c = 0; c < x->n_configs; c++) calib_needed |= x->configs[c].needs_calibration;
    if (calib_needed && x->calib_imatrix[0]) {
        if (qh_imatrix_load(x->calib_imatrix, &mc->imatrix, err) != 0) return -1;
        qh_calib_opts_imatrix(&mc->imatrix, &mc->calib);
    } else if (calib_needed && qh_calib_opts_load(x->calib_text, mc->tok, x->calib_windows, x->calib_ctx ? x->calib_ctx : mc->base->cfg.n_ctx,
                                           x->seed, &mc->calib, &mc->calib_ids, err) != 0)
        return -1;
    for (int t = 0; t < x->n_tasks; t++) {
        const qh_task_spec *ts = &x->tasks[t];
        if (qh_task_table[ts->kind].load(ts, &mc->env, &mc->task_data[t], err) != 0) {
            qh_err_prefix(err, "%s:%d: [tasks] %s", x->path, ts->line, ts->name);
            return -1;
        }
    }
    return 0;
}

/* ---- writing one run -------------------------------------------------------------------- */

/* the task rows of one run, into the store */
typedef struct {
    qh_store *s;
    qh_err *err;
    long long run;
    const char *task;
} run_sink;

static int sink_metric(qh_task_sink *k, const char *metric, double v, double lo, double hi, long n, double chance,
                       const char *protocol, const char *sha)
{
    run_sink *r = k->ud;
    return qh_store_metric(r->s, r->run, r->task, metric, v, lo, hi, n, chance, protocol, sha, r->err);
}

static int sink_item(qh_task_sink *k, long idx, const char *key, const char *correct, const char *correct_norm,
                     const char *correct_letter, double value, long n, const char *detail)
{
    run_sink *r = k->ud;
    return qh_store_item(r->s, r->run, r->task, idx, key, correct, correct_norm, correct_letter, value, n, detail, r->err);
}

/* The results of one run, held until they are written together. */
typedef struct {
    void *result[QH_MAX_TASKS];
} run_results;

static void free_results(run_results *r, const qh_experiment *x)
{
    for (int t = 0; t < x->n_tasks; t++)
        if (r->result[t]) qh_task_table[x->tasks[t].kind].free_result(r->result[t]);
}

static int write_run(qh_store *s, const qh_experiment *x, const model_ctx *mc, long long run, const qh_quant_result *q,
                     int quantized, const run_results *r, double seconds, qh_err *err)
{
    if (qh_store_begin(s, err)) return -1;
    /* a failed earlier attempt wrote nothing but its status; clear defensively all the same */
    if (qh_store_clear_run(s, run, err) || qh_store_run_bytes(s, run, quantized ? q : NULL, mc->base, err)) goto fail;
    for (int t = 0; t < x->n_tasks; t++) {
        const qh_task_spec *ts = &x->tasks[t];
        run_sink rs = {s, err, run, ts->name};
        qh_task_sink sink = {sink_metric, sink_item, &rs};
        if (qh_task_table[ts->kind].store(ts, &mc->env, mc->task_data[t], r->result[t], &sink) != 0) goto fail;
    }
    if (qh_store_run_done(s, run, seconds, quantized ? q->seconds_encode + q->seconds_decode : 0.0, err)) goto fail;
    return qh_store_commit(s, err);
fail:
    qh_store_rollback(s);
    return -1;
}

/* ---- evaluation of one run -------------------------------------------------------------- */

/* Where a sweep's time goes, for --timings (make bench-sweep). */
typedef struct {
    double load, quantize, eval[QH_MAX_TASKS], write;
    int runs;
} sweep_timing;

static int evaluate(const qh_experiment *x, model_ctx *mc, const qh_model *m, run_results *r, sweep_timing *tm, qh_err *err)
{
    for (int t = 0; t < x->n_tasks; t++) {
        const qh_task_spec *ts = &x->tasks[t];
        double t0 = qh_now();
        int rc = qh_task_table[ts->kind].evaluate(ts, &mc->env, mc->task_data[t], m, &r->result[t], err);
        tm->eval[t] += qh_now() - t0;
        if (rc != 0) {
            qh_err_prefix(err, "task %s", ts->name);
            return -1;
        }
    }
    return 0;
}

/* Quantizes, evaluates and stores one planned run.  Returns 0 (done), 1 (failed: the reason
 * in run_err and in the runs table) or -1 (the store failed: err). */
static int run_one(qh_store *s, const qh_experiment *x, model_ctx *mc, const qh_run_config *cfg, long long run, double *seconds,
                   sweep_timing *tm, qh_err *run_err, qh_err *err)
{
    if (qh_store_run_started(s, run, err)) return -1;
    double t0 = qh_now();
    qh_model *m = NULL;
    qh_quant_result q = {0};
    run_results r;
    memset(&r, 0, sizeof r);
    int quantized = !qh_spec_is_baseline(cfg->spec), ok;
    if (cfg->gguf[0]) { /* the file's weights, accounted from its bytes */
        ok = qh_model_load(cfg->gguf, &m, 0, run_err) == 0 &&
             (qh_is_dir(cfg->gguf) ? qh_quant_result_from_checkpoint(cfg->gguf, m, mc->base, &q, run_err)
                                   : qh_quant_result_from_gguf(cfg->gguf, m, mc->base, &q, run_err)) == 0;
        if (ok) q.seconds_decode = qh_now() - t0;
    } else if (!quantized && qh_gguf_probe(mc->base->dir)) { /* a GGUF model's baseline: its bits from the file, not 32 */
        m = qh_model_clone(mc->base);
        ok = qh_quant_result_from_gguf(mc->base->dir, m, mc->base, &q, run_err) == 0;
        quantized = 1;
    } else {
        qh_quant_opts scope = cfg->scope;
        if (cfg->needs_calibration) scope.calib = &mc->calib;
        m = qh_model_clone(mc->base);
        ok = !quantized || qh_quantize_model(m, &scope, &q, run_err) == 0;
    }
    tm->quantize += qh_now() - t0;
    ok = ok && evaluate(x, mc, m, &r, tm, run_err) == 0;
    *seconds = qh_now() - t0;
    const char *stall = getenv("QH_TEST_STALL_LABEL");
    if (ok && stall && strcmp(stall, cfg->label) == 0) {
        /* the fault tests: hold this run between its evaluation and its commit, where a kill
         * loses the most, until the test has killed it (or a minute has passed) */
        fprintf(stderr, "%s: evaluated; QH_TEST_STALL_LABEL holds it before the commit\n", cfg->label);
        for (int i = 0; i < 600; i++) usleep(100000);
    }
    int rc;
    if (ok) {
        double t1 = qh_now();
        rc = write_run(s, x, mc, run, &q, quantized, &r, *seconds, err) == 0 ? 0 : -1;
        tm->write += qh_now() - t1;
        tm->runs++;
    } else {
        rc = qh_store_run_failed(s, run, *seconds, run_err->msg, err) == 0 ? 1 : -1;
    }
    free_results(&r, x);
    qh_quant_result_free(&q);
    qh_model_free(m);
    return rc;
}

/* ---- dry run ---------------------------------------------------------------------------- */

/* One JSON object per expanded run (--dry-run --json), for scripts. */
static void print_run_json(const qh_experiment *x, const model_ctx *mc, int run, const qh_run_config *cfg, double per_run)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "run", run);
    cJSON_AddStringToObject(o, "experiment", x->name);
    cJSON_AddStringToObject(o, "model", mc->base->dir);
    cJSON_AddStringToObject(o, "label", cfg->label);
    cJSON_AddStringToObject(o, "family", cfg->family);
    cJSON_AddStringToObject(o, "spec", cfg->spec);
    cJSON_AddStringToObject(o, "canonical", cfg->canonical);
    if (cfg->gguf[0]) cJSON_AddStringToObject(o, "gguf", cfg->gguf);
    else cJSON_AddNullToObject(o, "gguf");
    cJSON_AddBoolToObject(o, "needs_calibration", cfg->needs_calibration);
    cJSON_AddNumberToObject(o, "estimate_s", round(per_run * 10) / 10);
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

/* a grid this large is more often a typo in a list than a plan: the dry run says so */
#define QH_SWEEP_LARGE_GRID 200

static int dry_run(const qh_experiment *x, int json, qh_err *err)
{
    if (!json) printf("experiment   %s (%s, sha256 %.12s): %d model(s) x %d configurations = %d runs, %d tasks\n", x->name, x->path,
           x->sha256, x->n_models, x->n_configs, x->n_models * x->n_configs, x->n_tasks);
    for (int t = 0; !json && t < x->n_tasks; t++) {
        const qh_task_spec *ts = &x->tasks[t];
        char budget[32];
        if (ts->budget) snprintf(budget, sizeof budget, "%ld", ts->budget);
        else snprintf(budget, sizeof budget, "all");
        printf("task         %-26s budget %s %s\n", ts->name, budget, qh_task_table[ts->kind].unit);
    }
    double total = 0, calib_total = 0;
    for (int mi = 0; mi < x->n_models; mi++) {
        model_ctx mc;
        if (load_model_ctx(x, x->models[mi], 1, &mc, err) != 0) {
            free_model_ctx(&mc, x);
            return -1;
        }
        /* measured here: one batch of the forward pass, as the evaluators run it */
        int ctx = x->ctx ? x->ctx : mc.base->cfg.n_ctx, B = 4;
        int *tok = qh_calloc((size_t)B * ctx, sizeof(int));
        qh_workspace ws;
        qh_workspace_init(&ws, &mc.base->cfg, B, ctx);
        qh_forward(mc.base, tok, B, ctx, &ws);
        double t0 = qh_now();
        qh_forward(mc.base, tok, B, ctx, &ws);
        float *nll = qh_malloc((size_t)B * ctx * sizeof(float));
        qh_head_nll(mc.base, ws.ln, tok, B * ctx, nll, &ws);
        double full_tps = B * ctx / (qh_now() - t0);
        t0 = qh_now();
        qh_forward(mc.base, tok, B, ctx, &ws);
        double body_tps = B * ctx / (qh_now() - t0);
        free(nll);
        free(tok);
        qh_workspace_free(&ws);
        double per_run = 0;
        for (int t = 0; t < x->n_tasks; t++)
            per_run += qh_task_table[x->tasks[t].kind].cost(&x->tasks[t], &mc.env, mc.task_data[t], full_tps, body_tps);
        if (!json) printf("model        %s: %.0f tokens/s measured; about %.0f s per run\n", mc.base->dir, full_tps, per_run);
        for (int c = 0; c < x->n_configs; c++) {
            if (json) print_run_json(x, &mc, mi * x->n_configs + c + 1, &x->configs[c], per_run);
            else printf("run %3d      %-40s %s\n", mi * x->n_configs + c + 1, x->configs[c].label, x->configs[c].canonical);
        }
        total += per_run * x->n_configs;
        /* calibration: one forward pass over the calibration windows per model, capturing
         * the inputs of every linear layer (timed here as the body of the pass) */
        int calib_needed = 0;
        for (int c = 0; c < x->n_configs; c++) calib_needed |= x->configs[c].needs_calibration;
        if (calib_needed && !x->calib_imatrix[0]) {
            int cctx = x->calib_ctx ? x->calib_ctx : mc.base->cfg.n_ctx;
            double calib_s = (double)x->calib_windows * cctx / body_tps;
            calib_total += calib_s;
            if (!json) printf("calibration  %s: %d windows of %d tokens of %s, about %.0f s (once per model)\n", mc.base->dir, x->calib_windows,
                              cctx, x->calib_text, calib_s);
        }
        free_model_ctx(&mc, x);
    }
    total += calib_total;
    int n_runs = x->n_models * x->n_configs;
    if (!json) {
        printf("estimate     %.0f s (%.1f min) on %d threads, calibration included, quantization (encode) time not included\n", total,
               total / 60, qh_threads());
        if (n_runs > QH_SWEEP_LARGE_GRID || total > 4 * 3600)
            fprintf(stderr, "qharness: warning: %s: %d runs, about %.1f hours before any encode time: check the grid before running it\n",
                    x->path, n_runs, total / 3600);
    }
    return 0;
}

/* ---- the sweep -------------------------------------------------------------------------- */

/* One local sweep per experiment at a time: a write lock on byte exp_id of DB.lock (released
 * by the kernel when the process ends, however it ends).  Without it two `--resume` of one
 * experiment would both run every run that is not done. */
static int lock_experiment(const char *db_path, long long exp_id, int *fd_out, qh_err *err)
{
    char *path = qh_malloc(strlen(db_path) + 8);
    sprintf(path, "%s.lock", db_path);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        qh_fail(err, "%s: cannot open the sweep lock: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)exp_id, .l_len = 1};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        struct flock who = fl;
        char holder[32] = "";
        if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK) snprintf(holder, sizeof holder, " (pid %d)", (int)who.l_pid);
        qh_fail(err, "%s: experiment %lld is being swept by another process%s: wait for it to finish, or stop it and --resume", db_path,
                exp_id, holder);
        close(fd);
        free(path);
        return -1;
    }
    free(path);
    *fd_out = fd;
    return 0;
}

static void print_timings(const qh_experiment *x, const sweep_timing *tm, double total)
{
    int n = tm->runs ? tm->runs : 1;
    fprintf(stderr, "timings      %d runs on %d threads, %.1f s in all\n", tm->runs, qh_threads(), total);
    fprintf(stderr, "  %-34s %9s %9s\n", "phase", "seconds", "per run");
    fprintf(stderr, "  %-34s %9.1f\n", "load model, texts, tasks, calibration", tm->load);
    fprintf(stderr, "  %-34s %9.1f %9.2f\n", "quantize (or load GGUF)", tm->quantize, tm->quantize / n);
    for (int t = 0; t < x->n_tasks; t++) fprintf(stderr, "  task %-29s %9.1f %9.2f\n", x->tasks[t].name, tm->eval[t], tm->eval[t] / n);
    fprintf(stderr, "  %-34s %9.1f %9.2f\n", "write to the store", tm->write, tm->write / n);
}

static void git_commit(char *out, size_t len)
{
    out[0] = 0;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "git -C '%s' rev-parse --short=12 HEAD 2>/dev/null", qh_home());
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (fgets(out, (int)len, p)) out[strcspn(out, "\n")] = 0;
    pclose(p);
}

/* The experiments row: a new one, or (resume, status, cancel) the latest of that name, which
 * must have run this very file.  explicit_id > 0 writes that id (a shard's copy). */
static int experiment_row(qh_store *s, const qh_experiment *x, const char *db_path, int existing, int allow_new, long long explicit_id,
                          long long *exp_id, qh_err *err)
{
    int found = 0;
    long long prev = 0; /* the latest experiment of this name, if any: what --resume continues, what a new one may not shadow */
    if (explicit_id == 0 && (found = qh_db_latest_experiment(s->db, x->name, &prev)) < 0)
        return qh_fail(err, "%s: %s", s->path, sqlite3_errmsg(s->db));
    if (existing) {
        long long same;
        if (!found) return qh_fail(err, "%s: no experiment '%s' in %s (run the sweep first)", x->path, x->name, db_path);
        if (qh_store_int(s, err, &same, &found, "SELECT COUNT(*) FROM experiments WHERE id=? AND file_sha256=?", "it", prev, x->sha256))
            return -1;
        if (!same)
            return qh_fail(err, "%s: changed since experiment '%s' (id %lld) started; run it without --resume for a new sweep",
                           x->path, x->name, prev);
        *exp_id = prev;
        return 0;
    }
    if (explicit_id == 0 && !allow_new) {
        /* a second experiment of the same name beside an unfinished one is the user's mistake
         * more often than not: results and report would show the empty one */
        long long open_runs;
        if (found &&
            qh_store_int(s, err, &open_runs, &found, "SELECT COUNT(*) FROM runs WHERE experiment_id=? AND status IN ('pending','running')",
                         "i", prev))
            return -1;
        if (found && open_runs > 0)
            return qh_fail(err, "%s: experiment '%s' (id %lld) in %s has %lld run%s not done: --resume continues it, --new starts another",
                           x->path, x->name, prev, db_path, open_runs, open_runs == 1 ? "" : "s");
    }
    char commit[64], host[256] = "";
    git_commit(commit, sizeof commit);
    gethostname(host, sizeof host - 1);
    return qh_store_add_experiment(s, x, explicit_id, commit[0] ? commit : NULL, host, exp_id, err);
}

/* The plan for model mi: every configuration's run, pending unless already there (one
 * transaction), their ids into run_ids. */
static int plan_model(qh_store *s, const qh_experiment *x, int mi, long long exp_id, long long model_id, long long *run_ids,
                      long long *config_ids, qh_err *err)
{
    if (qh_store_begin(s, err)) return -1;
    for (int c = 0; c < x->n_configs; c++) {
        if (qh_store_plan_run(s, exp_id, model_id, &x->configs[c], mi * x->n_configs + c, &config_ids[c], &run_ids[c], err)) {
            qh_store_rollback(s);
            return -1;
        }
    }
    return qh_store_commit(s, err);
}

static int model_dirs_exist(const qh_experiment *x, qh_err *err)
{
    for (int mi = 0; mi < x->n_models; mi++) {
        char *dir = qh_resolve_model_dir(x->models[mi]);
        int ok = qh_model_probe(dir);
        free(dir);
        if (!ok)
            return qh_fail(err, "%s: [experiment] models: '%s' is not a model (a directory with config.json, a GGUF file or a llama2.c checkpoint)",
                           x->path, x->models[mi]);
    }
    return 0;
}

/* Merges the experiment's shards (from an earlier --slurm submission), saying what it did. */
static int merge_if_sharded(qh_store *s, const char *db_path, long long exp_id, qh_err *err)
{
    char *dir = qh_shard_dir(db_path, exp_id);
    int rc = 0;
    if (qh_is_dir(dir)) {
        qh_merge_counts c;
        rc = qh_merge_shards(s, exp_id, dir, &c, err);
        if (rc == 0)
            fprintf(stderr, "merged %s: %d runs copied in, %d done before, %d failed, %d unfinished, %d shards refused\n", dir, c.merged,
                    c.already, c.failed, c.unfinished, c.refused);
    }
    free(dir);
    return rc;
}

/* --slurm: the plan of every model, then the runs not done to sbatch */
static int submit_to_slurm(qh_store *s, const qh_experiment *x, const char *db_path, long long exp_id, const qh_sweep_opts *o,
                           qh_err *err)
{
    int n_all = x->n_models * x->n_configs, n = 0, rc = -1;
    qh_planned_run *runs = qh_calloc((size_t)n_all, sizeof *runs);
    long long *run_ids = qh_calloc((size_t)x->n_configs, sizeof *run_ids), *config_ids = qh_calloc((size_t)x->n_configs, sizeof *config_ids);
    for (int mi = 0; mi < x->n_models; mi++) {
        char *dir = qh_resolve_model_dir(x->models[mi]);
        qh_model *m = NULL;
        long long model_id, done;
        int found, ok = qh_model_load(dir, &m, 1, err) == 0;
        free(dir);
        ok = ok && qh_store_add_model(s, m, 0, &model_id, err) == 0 && plan_model(s, x, mi, exp_id, model_id, run_ids, config_ids, err) == 0;
        for (int c = 0; ok && c < x->n_configs; c++) {
            if (qh_store_int(s, err, &done, &found, "SELECT status='done' FROM runs WHERE id=?", "i", run_ids[c])) ok = 0;
            else if (!done)
                runs[n++] = (qh_planned_run){.run_id = run_ids[c], .model_id = model_id, .config_id = config_ids[c], .model_index = mi,
                                             .config_index = c, .ordinal = mi * x->n_configs + c};
            if (ok && !done) snprintf(runs[n - 1].model_sha256, sizeof runs[n - 1].model_sha256, "%s", m->sha256);
        }
        qh_model_free(m);
        if (!ok) goto out;
    }
    rc = qh_sweep_submit(s, x, db_path, exp_id, runs, n, o, err);
out:
    free(runs);
    free(run_ids);
    free(config_ids);
    return rc;
}

int qh_sweep(const char *path, const qh_sweep_opts *o, qh_err *err)
{
    qh_experiment x;
    if (qh_experiment_load(path, &x, err) != 0) return -1;
    if (o->dry_run) {
        int rc = dry_run(&x, o->json, err);
        qh_experiment_free(&x);
        return rc;
    }
    if (model_dirs_exist(&x, err) != 0) { /* before anything is written */
        qh_experiment_free(&x);
        return -1;
    }
    const char *db_path = o->db_path ? o->db_path : QH_DEFAULT_DB;
    if (!o->db_path) {
        char *dir = qh_strdup(db_path);
        *strrchr(dir, '/') = 0;
        if (!qh_is_dir(dir) && mkdir(dir, 0755) != 0) {
            qh_fail(err, "%s: cannot create directory", dir);
            free(dir);
            qh_experiment_free(&x);
            return -1;
        }
        free(dir);
    }
    if ((o->status || o->cancel) && !qh_file_exists(db_path)) {
        qh_fail(err, "%s: no such database (run the sweep first)", db_path);
        qh_experiment_free(&x);
        return -1;
    }
    qh_store s;
    if (qh_store_open(db_path, &s, err) != 0) {
        qh_experiment_free(&x);
        return -1;
    }
    int rc = -1, failed = 0, done_before = 0, have_mc = 0, lock_fd = -1;
    model_ctx mc;
    long long exp_id = 0;
    int existing = o->resume || o->status || o->cancel;
    if (experiment_row(&s, &x, db_path, existing, o->new_experiment || o->dry_run, 0, &exp_id, err) != 0) goto out;
    if (o->status) {
        rc = qh_sweep_status(&s, &x, db_path, exp_id, err);
        goto out;
    }
    if (o->cancel) {
        rc = qh_sweep_cancel(&s, db_path, exp_id, err);
        goto out;
    }
    if (o->resume && merge_if_sharded(&s, db_path, exp_id, err) != 0) goto out;
    if (o->slurm) {
        rc = submit_to_slurm(&s, &x, db_path, exp_id, o, err);
        goto out;
    }
    if (lock_experiment(db_path, exp_id, &lock_fd, err) != 0) goto out;
    int n_runs = x.n_models * x.n_configs, ordinal = 0;
    double sweep_start = qh_now(), run_time_sum = 0;
    int runs_timed = 0, found;
    sweep_timing tm;
    memset(&tm, 0, sizeof tm);
    long long *run_ids = qh_calloc((size_t)x.n_configs, sizeof *run_ids), *config_ids = qh_calloc((size_t)x.n_configs, sizeof *config_ids);
    for (int mi = 0; mi < x.n_models; mi++) {
        have_mc = 1; /* load_model_ctx zeroes it first: freeing a half-loaded one is safe */
        double t_load = qh_now();
        if (load_model_ctx(&x, x.models[mi], 0, &mc, err) != 0) goto out_ids;
        tm.load += qh_now() - t_load;
        if (qh_store_add_model(&s, mc.base, 0, &mc.model_id, err) || plan_model(&s, &x, mi, exp_id, mc.model_id, run_ids, config_ids, err))
            goto out_ids;
        for (int c = 0; c < x.n_configs; c++) {
            const qh_run_config *cfg = &x.configs[c];
            long long status_done;
            ordinal++;
            if (qh_store_int(&s, err, &status_done, &found, "SELECT status='done' FROM runs WHERE id=?", "i", run_ids[c])) goto out_ids;
            if (status_done) {
                done_before++;
                fprintf(stderr, "[%d/%d] %s: done in an earlier session, skipped\n", ordinal, n_runs, cfg->label);
                continue;
            }
            double eta = runs_timed ? run_time_sum / runs_timed * (n_runs - ordinal + 1) : 0;
            fprintf(stderr, "[%d/%d] %s (%s)%s", ordinal, n_runs, cfg->label, cfg->spec, runs_timed ? "" : "\n");
            if (runs_timed) fprintf(stderr, ", ETA %.0f s for the rest\n", eta);
            double seconds;
            qh_err run_err;
            int outcome = run_one(&s, &x, &mc, cfg, run_ids[c], &seconds, &tm, &run_err, err);
            if (outcome < 0) goto out_ids;
            if (outcome == 0) {
                run_time_sum += seconds;
                runs_timed++;
                fprintf(stderr, "[%d/%d] %s: done in %.1f s\n", ordinal, n_runs, cfg->label, seconds);
            } else {
                failed++;
                fprintf(stderr, "[%d/%d] %s: FAILED: %s\n", ordinal, n_runs, cfg->label, run_err.msg);
            }
        }
        free_model_ctx(&mc, &x);
        have_mc = 0;
    }
    if (qh_store_experiment_finished(&s, exp_id, err)) goto out_ids;
    fprintf(stderr, "sweep %s: %d runs (%d done earlier, %d failed) in %.1f s; results in %s (experiment id %lld)\n", x.name, n_runs,
            done_before, failed, qh_now() - sweep_start, db_path, exp_id);
    if (o->timings) print_timings(&x, &tm, qh_now() - sweep_start);
    rc = failed ? 1 : 0;
out_ids:
    free(run_ids);
    free(config_ids);
out:
    if (have_mc) free_model_ctx(&mc, &x);
    if (lock_fd >= 0) close(lock_fd); /* releases the experiment's lock */
    qh_store_close(&s);
    qh_experiment_free(&x);
    return rc;
}

/* ---- one Slurm array task ----------------------------------------------------------------- */

/* The shard of one run: the experiment's, model's, configuration's and run's rows under the
 * experiment database's ids.  *done: the run finished there already (a requeued task). */
static int open_shard(const qh_task_plan *p, const qh_experiment *x, const model_ctx *mc, const qh_planned_run *r, qh_store *shard,
                      int *done, qh_err *err)
{
    char *dir = qh_shard_dir(p->db, p->experiment_id), *file = qh_shard_file(dir, r->run_id);
    int rc = qh_mkdirs(dir, err) == 0 && qh_store_open(file, shard, err) == 0 ? 0 : -1;
    free(dir);
    free(file);
    if (rc) return -1;
    long long exp_id, model_id;
    if (qh_store_begin(shard, err) || experiment_row(shard, x, p->db, 0, 1, p->experiment_id, &exp_id, err) ||
        qh_store_add_model(shard, mc->base, r->model_id, &model_id, err) ||
        qh_store_plan_shard_run(shard, p->experiment_id, r->model_id, r->config_id, r->run_id, &x->configs[r->config_index], r->ordinal,
                                done, err) ||
        qh_store_commit(shard, err)) {
        qh_store_rollback(shard);
        qh_store_close(shard);
        return -1;
    }
    return 0;
}

int qh_sweep_task(const char *plan_path, int index, qh_err *err)
{
    qh_task_plan p;
    if (qh_task_plan_read(plan_path, index, &p, err) != 0) return -1;
    qh_experiment x;
    if (qh_experiment_load(p.experiment_file, &x, err) != 0) {
        free(p.runs);
        return -1;
    }
    int rc = -1, failed = 0, loaded = -1;
    model_ctx mc;
    memset(&mc, 0, sizeof mc);
    sweep_timing tm;
    memset(&tm, 0, sizeof tm);
    if (strcmp(x.sha256, p.experiment_sha256) != 0) {
        qh_fail(err, "%s: changed since it was submitted (sha256 %.12s, the plan's %.12s); resubmit with sweep --slurm", x.path, x.sha256,
                p.experiment_sha256);
        goto out;
    }
    for (int i = 0; i < p.n_runs; i++) {
        const qh_planned_run *r = &p.runs[i];
        if (r->model_index < 0 || r->model_index >= x.n_models || r->config_index < 0 || r->config_index >= x.n_configs) {
            qh_fail(err, "%s: task %d: run %lld is not in %s", plan_path, index, r->run_id, x.path);
            goto out;
        }
        const qh_run_config *cfg = &x.configs[r->config_index];
        if (loaded != r->model_index) {
            free_model_ctx(&mc, &x);
            loaded = r->model_index;
            if (load_model_ctx(&x, x.models[loaded], 0, &mc, err) != 0) goto out;
        }
        if (strcmp(mc.base->sha256, r->model_sha256) != 0) {
            qh_fail(err, "%s: changed since it was submitted (sha256 %.12s, the plan's %.12s)", mc.base->dir, mc.base->sha256, r->model_sha256);
            goto out;
        }
        qh_store shard;
        int done;
        if (open_shard(&p, &x, &mc, r, &shard, &done, err) != 0) goto out;
        if (done) {
            fprintf(stderr, "run %lld (%s): done in its shard already, skipped\n", r->run_id, cfg->label);
            qh_store_close(&shard);
            continue;
        }
        fprintf(stderr, "run %lld (%s): %s\n", r->run_id, cfg->label, cfg->spec);
        double seconds;
        qh_err run_err;
        int outcome = run_one(&shard, &x, &mc, cfg, r->run_id, &seconds, &tm, &run_err, err);
        qh_store_close(&shard);
        if (outcome < 0) goto out;
        if (outcome == 0) fprintf(stderr, "run %lld (%s): done in %.1f s\n", r->run_id, cfg->label, seconds);
        else {
            failed++;
            fprintf(stderr, "run %lld (%s): FAILED: %s\n", r->run_id, cfg->label, run_err.msg);
        }
    }
    rc = failed ? 1 : 0;
out:
    free_model_ctx(&mc, &x);
    qh_experiment_free(&x);
    free(p.runs);
    return rc;
}
