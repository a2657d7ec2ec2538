/* tasks.c - the task table; see tasks.h.  One section per kind: how its tasks are named,
 * loaded once per model, evaluated per run, stored, and priced for --dry-run. */
#include "harness/eval/tasks.h"

#include "harness/base/progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "datasets/mc.h"
#include "harness/eval/eval_mc.h"
#include "harness/eval/eval_ppl.h"

/* ---- texts: ppl.DATASET[@PROTOCOL], fidelity.DATASET[@PROTOCOL] --------------------------- */

typedef struct {
    int *ids;
    size_t n_ids;
    char sha256[65];
    qh_fidelity_base *baseline;   /* fidelity: the baseline's distributions, when they fit */
} text_data;

static int parse_text(qh_task_spec *t, const char *name, const char *prefix, char *why, size_t why_len)
{
    size_t k = strlen(prefix);
    if (strncmp(name, prefix, k) != 0) return 0;
    snprintf(t->dataset, sizeof t->dataset, "%s", name + k);
    snprintf(t->protocol, sizeof t->protocol, "sliding");
    char *at = strchr(t->dataset, '@');
    if (at) {
        qh_err perr;
        *at = 0;
        if (qh_ppl_protocol_check(at + 1, &perr) != 0) return snprintf(why, why_len, "%s: %s", name, perr.msg), -1;
        snprintf(t->protocol, sizeof t->protocol, "%s", at + 1);
    }
    if (!qh_text_dataset_find(t->dataset)) return snprintf(why, why_len, "%s: unknown text dataset '%s'", name, t->dataset), -1;
    return 1;
}

static int parse_ppl(qh_task_spec *t, const char *name, char *why, size_t why_len)
{
    return parse_text(t, name, qh_task_table[QH_TASK_PPL].prefix, why, why_len);
}

static int parse_fidelity(qh_task_spec *t, const char *name, char *why, size_t why_len)
{
    return parse_text(t, name, qh_task_table[QH_TASK_FIDELITY].prefix, why, why_len);
}

static qh_ppl_opts text_opts(const qh_task_spec *t, const qh_task_env *env)
{
    return (qh_ppl_opts){.protocol = t->protocol, .ctx = env->ctx, .max_tokens = t->budget, .seed = env->seed,
                         .use_bos = env->bos >= 0, .bos_id = env->bos};
}

static void free_text(void *data)
{
    text_data *d = data;
    if (!d) return;
    qh_fidelity_base_free(d->baseline);
    free(d->ids);
    free(d);
}

static int load_text(const qh_task_spec *t, const qh_task_env *env, void **data, qh_err *err)
{
    text_data *d = qh_calloc(1, sizeof *d);
    *data = d;
    qh_text text;
    if (qh_text_load(t->dataset, &text, err) != 0) return -1;
    int rc = qh_encode(env->tok, text.path, text.text, text.len, &d->ids, &d->n_ids, err);
    memcpy(d->sha256, text.sha256, 65);
    qh_text_free(&text);
    return rc;
}

static long text_tokens(const qh_task_spec *t, const text_data *d)
{
    return t->budget && t->budget < (long)d->n_ids ? t->budget : (long)d->n_ids;
}

static int load_fidelity(const qh_task_spec *t, const qh_task_env *env, void **data, qh_err *err)
{
    if (load_text(t, env, data, err) != 0) return -1;
    text_data *d = *data;
    /* the baseline's side is the same in every run: computed here once when it fits */
    long n = text_tokens(t, d);
    if ((double)n * env->base->cfg.n_vocab * sizeof(float) > (double)env->cache_bytes) return 0;
    qh_ppl_opts o = text_opts(t, env);
    return qh_fidelity_base_build(env->base, d->ids, (long)d->n_ids, &o, &d->baseline, err);
}


static int eval_ppl(const qh_task_spec *t, const qh_task_env *env, void *data, const qh_model *m, void **result, qh_err *err)
{
    const text_data *d = data;
    qh_ppl_result *r = qh_calloc(1, sizeof *r);
    *result = r;
    qh_ppl_opts o = text_opts(t, env);
    qh_progress_task pt = {t->name, "windows", 0};
    o.progress = qh_progress_callback;
    o.progress_ud = &pt;
    int rc = qh_eval_ppl(m, d->ids, (long)d->n_ids, env->token_bytes, &o, r, err);
    qh_progress_end();
    return rc;
}

static void free_ppl(void *result)
{
    if (result) qh_ppl_result_free(result);
    free(result);
}

static int store_ppl(const qh_task_spec *t, const qh_task_env *env, const void *data, const void *result, qh_task_sink *s)
{
    (void)env;
    const text_data *d = data;
    const qh_ppl_result *p = result;
    char protocol[768];
    if (strcmp(p->protocol, "llama-cpp") == 0)
        snprintf(protocol, sizeof protocol,
                 "%s, first %ld tokens (of %zu), llama-cpp protocol: %d non-overlapping chunks of %d tokens, positions %d..%d "
                 "of each scored%s; 95%% CI: bootstrap over chunks (%d resamples, seed %lu); llama.cpp's +/- %.6g",
                 t->dataset, p->tokens_total, d->n_ids, p->windows, p->ctx, p->first_scored_offset, p->ctx - 1,
                 p->bos_id >= 0 ? ", first token of each replaced by BOS" : "", p->n_boot, p->seed, p->ppl_pm);
    else
        snprintf(protocol, sizeof protocol,
                 "%s, first %ld tokens (of %zu), ctx %d, stride %d: each token scored once given the tokens before it in its "
                 "window; 95%% CI: bootstrap over %d windows (%d resamples, seed %lu)",
                 t->dataset, p->tokens_total, d->n_ids, p->ctx, p->stride, p->windows, p->n_boot, p->seed);
    if (s->metric(s, "ppl", p->ppl, p->ppl_lo, p->ppl_hi, p->tokens_scored, NAN, protocol, d->sha256) ||
        s->metric(s, "mean_nll", p->mean_nll, log(p->ppl_lo), log(p->ppl_hi), p->tokens_scored, NAN, protocol, d->sha256) ||
        s->metric(s, "bits_per_byte", p->bits_per_byte, NAN, NAN, p->bytes_scored, NAN, protocol, d->sha256))
        return -1;
    for (int w = 0; w < p->windows; w++) {
        char key[32];
        snprintf(key, sizeof key, "window %d", w);
        if (s->item(s, w, key, NULL, NULL, NULL, p->window_nll[w], p->window_tokens[w], NULL)) return -1;
    }
    return 0;
}

static double cost_ppl(const qh_task_spec *t, const qh_task_env *env, const void *data, double full_tps, double body_tps)
{
    (void)env, (void)body_tps;
    return text_tokens(t, data) / full_tps;
}

static int eval_fidelity(const qh_task_spec *t, const qh_task_env *env, void *data, const qh_model *m, void **result,
                         qh_err *err)
{
    const text_data *d = data;
    qh_fidelity_result *r = qh_calloc(1, sizeof *r);
    *result = r;
    if (d->baseline) return qh_eval_fidelity_cached(d->baseline, m, r, err);
    qh_ppl_opts o = text_opts(t, env);
    return qh_eval_fidelity(env->base, m, d->ids, (long)d->n_ids, &o, r, err);
}

static void free_fidelity(void *result)
{
    if (result) qh_fidelity_result_free(result);
    free(result);
}

static int store_fidelity(const qh_task_spec *t, const qh_task_env *env, const void *data, const void *result, qh_task_sink *s)
{
    (void)env;
    const text_data *d = data;
    const qh_fidelity_result *f = result;
    char protocol[768];
    if (strcmp(f->protocol, "llama-cpp") == 0)
        snprintf(protocol, sizeof protocol,
                 "%s, first %ld tokens, llama-cpp protocol: %d chunks of %d tokens, positions %d..%d of each: KL(p_baseline || "
                 "p_quantized) of the next-token distribution per position, top-1 agreement, dp; KL 95%% CI: bootstrap over "
                 "chunks; other intervals +/-1.96 of llama.cpp's standard errors",
                 t->dataset, t->budget ? t->budget : (long)d->n_ids, f->windows, f->ctx, f->ctx / 2 + 1, f->ctx - 1);
    else
        snprintf(protocol, sizeof protocol,
                 "%s, first %ld tokens, windows of ctx %d (stride = ctx): KL(p_baseline || p_quantized) of the next-token "
                 "distribution per position, top-1 agreement, dp; KL 95%% CI: bootstrap over %d windows; other intervals "
                 "+/-1.96 of llama.cpp's standard errors",
                 t->dataset, t->budget ? t->budget : (long)d->n_ids, f->ctx, f->windows);
    double lo, hi, z = 1.959964;
    long agree = 0, N = f->positions;
    for (int w = 0; w < f->windows; w++) agree += f->window_agree[w];
    qh_wilson(agree, f->positions, &lo, &hi);
    const char *sha = d->sha256;
    if (s->metric(s, "kl", f->kl_mean, f->kl_lo, f->kl_hi, N, NAN, protocol, sha) ||
        s->metric(s, "top1", f->top1, lo, hi, N, NAN, protocol, sha) ||
        s->metric(s, "kl_median", f->kl_median, NAN, NAN, N, NAN, protocol, sha) ||
        s->metric(s, "kl_p99", f->kl_p99, NAN, NAN, N, NAN, protocol, sha) ||
        s->metric(s, "kl_p99.9", f->kl_p999, NAN, NAN, N, NAN, protocol, sha) ||
        s->metric(s, "kl_max", f->kl_max, NAN, NAN, N, NAN, protocol, sha) ||
        s->metric(s, "rms_dp", f->dp_rms, f->dp_rms - z * f->dp_rms_se, f->dp_rms + z * f->dp_rms_se, N, NAN, protocol, sha) ||
        s->metric(s, "ln_ppl_ratio", f->ln_ppl_ratio, f->ln_ppl_ratio - z * f->ln_ppl_ratio_se,
                  f->ln_ppl_ratio + z * f->ln_ppl_ratio_se, N, NAN, protocol, sha))
        return -1;
    for (int w = 0; w < f->windows; w++) {
        char key[32], detail[64];
        snprintf(key, sizeof key, "window %d", w);
        snprintf(detail, sizeof detail, "{\"agree\":%ld}", f->window_agree[w]);
        if (s->item(s, w, key, NULL, NULL, NULL, f->window_kl[w], f->window_positions[w], detail)) return -1;
    }
    return 0;
}

static double cost_fidelity(const qh_task_spec *t, const qh_task_env *env, const void *data, double full_tps, double body_tps)
{
    (void)env, (void)body_tps;
    const text_data *d = data;
    /* the quantized model's pass and two log-softmaxes; the baseline's pass too unless cached */
    return (d->baseline ? 1.5 : 2.5) * text_tokens(t, d) / full_tps;
}

/* ---- multiple choice: a set of datasets/mc.c, with options ------------------------------ */

typedef struct {
    qh_mc_task set;
    qh_mc_requests requests;      /* tokenized once, scored by every run */
} mc_data;

static int parse_mc(qh_task_spec *t, const char *name, char *why, size_t why_len)
{
    (void)why, (void)why_len;
    const qh_mc_set *set = qh_mc_set_find(name);
    if (!set) return 0;
    /* lm-eval's name (arc_easy) is stored as qharness's (arc-easy): one task, one name in the database */
    snprintf(t->dataset, sizeof t->dataset, "%s", set->name);
    snprintf(t->name, sizeof t->name, "%s", set->name);
    return 1;
}

static int option_mc(qh_task_spec *t, const char *name, const char *key, const char *value, char *why, size_t why_len)
{
    if (strcmp(key, "shots") == 0) {
        char *end;
        long k = strtol(value, &end, 10);
        if (*end || k < 0 || k > 5) return snprintf(why, why_len, "%s: '%s' must be 0 to 5", name, value), -1;
        t->shots = (int)k;
    } else if (strcmp(key, "subjects") == 0) {
        snprintf(t->subjects, sizeof t->subjects, "%s", value);
    } else if (strcmp(key, "split") == 0) {
        snprintf(t->split, sizeof t->split, "%s", value);
    } else {
        return snprintf(why, why_len, "unknown option '%s' (shots, subjects, split)", name), -1;
    }
    return 1;
}

static void free_mc(void *data)
{
    mc_data *d = data;
    if (!d) return;
    qh_mc_requests_free(&d->requests);
    qh_mc_free(&d->set);
    free(d);
}

static int load_mc(const qh_task_spec *t, const qh_task_env *env, void **data, qh_err *err)
{
    mc_data *d = qh_calloc(1, sizeof *d);
    *data = d;
    qh_mc_opts o = {.budget = t->budget, .shots = t->shots, .seed = env->seed, .subjects = t->subjects[0] ? t->subjects : NULL,
                    .split = t->split[0] ? t->split : NULL};
    if (qh_mc_load(t->dataset, &o, &d->set, err) != 0) return -1;
    return qh_mc_requests_build(env->tok, &d->set, &d->requests, err);
}

static int window_of(const qh_task_env *env, const qh_model *m) { return env->ctx ? env->ctx : m->cfg.n_ctx; }

static int eval_mc(const qh_task_spec *t, const qh_task_env *env, void *data, const qh_model *m, void **result, qh_err *err)
{
    mc_data *d = data;
    qh_mc_result *r = qh_calloc(1, sizeof *r);
    *result = r;
    qh_progress_task pt = {t->name, "requests", 0};
    int rc = qh_eval_mc_requests(m, &d->set, &d->requests, window_of(env, m), r, qh_progress_callback, &pt, err);
    qh_progress_end();
    return rc;
}

static void free_mc_result(void *result)
{
    if (result) qh_mc_result_free(result);
    free(result);
}

static int store_mc(const qh_task_spec *t, const qh_task_env *env, const void *data, const void *result, qh_task_sink *s)
{
    (void)t;
    const mc_data *d = data;
    const qh_mc_task *task = &d->set;
    const qh_mc_result *a = result;
    char protocol[768];
    snprintf(protocol, sizeof protocol, "%s; %d of %ld items; ctx %d; %ld requests truncated from the left; 95%% CI: Wilson",
             task->protocol, a->n_items, task->n_available, window_of(env, env->base), a->truncated_requests);
    if (s->metric(s, "acc", a->acc, a->acc_lo, a->acc_hi, a->n_items, a->chance, protocol, task->sha256)) return -1;
    if (a->has_norm &&
        s->metric(s, "acc_norm", a->acc_norm, a->acc_norm_lo, a->acc_norm_hi, a->n_items, a->chance, protocol, task->sha256))
        return -1;
    if (a->has_letter &&
        s->metric(s, "acc_letter", a->acc_letter, a->acc_letter_lo, a->acc_letter_hi, a->n_items, a->chance, protocol, task->sha256))
        return -1;
    if (a->target_tokens && s->metric(s, "target_ppl", a->target_ppl, NAN, NAN, a->n_items, NAN, protocol, task->sha256))
        return -1;
    for (int i = 0; i < a->n_items; i++)
        if (s->item(s, i, task->items[i].key, a->item_correct[i] ? "1" : "0",
                    a->has_norm ? (a->item_correct_norm[i] ? "1" : "0") : NULL,
                    a->has_letter ? (a->item_correct_letter[i] ? "1" : "0") : NULL, a->item_gold_ll[i], task->items[i].n_choices,
                    a->item_detail[i]))
            return -1;
    return 0;
}

static double cost_mc(const qh_task_spec *t, const qh_task_env *env, const void *data, double full_tps, double body_tps)
{
    (void)t, (void)full_tps;
    const mc_data *d = data;
    int ctx = window_of(env, env->base);
    double tokens = 0;
    for (int i = 0; i < d->requests.n_req; i++) tokens += d->requests.req[i].n < ctx ? d->requests.req[i].n : ctx;
    return tokens / body_tps;
}

/* ---- the table -------------------------------------------------------------------------- */

const qh_task_traits qh_task_table[QH_TASK_KINDS] = {
    [QH_TASK_PPL] = {"ppl", "tokens", "ppl,mean_nll,bits_per_byte", parse_ppl, NULL, load_text, free_text, eval_ppl, store_ppl,
                     free_ppl, cost_ppl, .prefix = "ppl."},
    [QH_TASK_FIDELITY] = {"fidelity", "tokens", "kl,top1,kl_median,kl_p99,kl_p99.9,kl_max,rms_dp,ln_ppl_ratio", parse_fidelity,
                          NULL, load_fidelity, free_text, eval_fidelity, store_fidelity, free_fidelity, cost_fidelity,
                          .prefix = "fidelity."},
    [QH_TASK_MC] = {"mc", "items", "acc,acc_norm,acc_letter,target_ppl", parse_mc, option_mc, load_mc, free_mc, eval_mc, store_mc,
                    free_mc_result, cost_mc, .prefix = NULL},
};

qh_task_kind qh_task_kind_of(const char *task)
{
    for (int k = 0; k < QH_TASK_KINDS; k++) {
        const char *p = qh_task_table[k].prefix;
        if (p && strncmp(task, p, strlen(p)) == 0) return (qh_task_kind)k;
    }
    return QH_TASK_MC;
}

const char *qh_task_text_name(const char *task)
{
    const char *p = qh_task_table[qh_task_kind_of(task)].prefix;
    return p ? task + strlen(p) : task;
}

void qh_task_order_sql(const char *column, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "CASE");
    int rank = 0;
    for (int i = 0; i < QH_TASK_KINDS && k < n; i++)
        if (qh_task_table[i].prefix)
            k += (size_t)snprintf(buf + k, n - k, " WHEN %s LIKE '%s%%' THEN %d", column, qh_task_table[i].prefix, rank++);
    if (k < n) snprintf(buf + k, n - k, " ELSE %d END", rank);
}

int qh_task_parse(qh_task_spec *t, const char *name, char *why, size_t why_len)
{
    for (int k = 0; k < QH_TASK_KINDS; k++) {
        snprintf(t->name, sizeof t->name, "%s", name); /* a parser may write the task's canonical name */
        int rc = qh_task_table[k].parse(t, name, why, why_len);
        if (rc < 0) return -1;
        if (rc > 0) {
            t->kind = (qh_task_kind)k;
            return k;
        }
    }
    /* the known names, so that a misspelling is answered with the spelling */
    char sets[512] = "", texts[256] = "";
    size_t k = 0;
    for (const qh_mc_set *m = qh_mc_sets; m->name && k < sizeof sets; m++)
        k += (size_t)snprintf(sets + k, sizeof sets - k, "%s%s", k ? ", " : "", m->name);
    k = 0;
    for (const qh_text_dataset *d = qh_text_datasets; d->name && k < sizeof texts; d++)
        k += (size_t)snprintf(texts + k, sizeof texts - k, "%s%s", k ? ", " : "", d->name);
    snprintf(why, why_len, "unknown task '%s': the multiple-choice tasks are %s; ppl.DATASET and fidelity.DATASET take %s", name, sets,
             texts);
    return -2;
}
