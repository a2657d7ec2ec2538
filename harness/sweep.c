/* sweep.c - the sweep runner; see sweep.h. */
#include "sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../datasets/datasets.h"
#include "../datasets/mc.h"
#include "eval_mc.h"
#include "eval_ppl.h"
#include "forward.h"
#include "calib.h"
#include "store.h"
#include "tokenizer.h"
#include "gguf.h"
#include "imatrix.h"

/* Everything a model's runs share: the baseline, its tokenizer, the tokenized texts and the
 * loaded multiple-choice sets. */
typedef struct {
    qh_model *base;
    qh_tokenizer *tok;
    int *token_bytes;
    int *ids[QH_MAX_TASKS];
    size_t n_ids[QH_MAX_TASKS];
    char text_sha[QH_MAX_TASKS][65];
    qh_mc_task mc[QH_MAX_TASKS];
    int *calib_ids;           /* tokenized calibration text, when a configuration needs it */
    qh_calib_opts calib;
    qh_imatrix imatrix;       /* when the experiment calibrates with llama.cpp's importance matrix */
    long long model_id;
} model_ctx;

static void free_model_ctx(model_ctx *mc, const qh_experiment *x)
{
    for (int t = 0; t < x->n_tasks; t++) {
        free(mc->ids[t]);
        if (x->tasks[t].kind == QH_TASK_MC) qh_mc_free(&mc->mc[t]);
    }
    free(mc->token_bytes);
    free(mc->calib_ids);
    qh_imatrix_free(&mc->imatrix);
    qh_tokenizer_free(mc->tok);
    qh_model_free(mc->base);
    memset(mc, 0, sizeof *mc);
}

static int load_model_ctx(const qh_experiment *x, const char *model_arg, model_ctx *mc, qh_err *err)
{
    memset(mc, 0, sizeof *mc);
    char *dir = qh_resolve_model_dir(model_arg);
    int rc = qh_model_load(dir, &mc->base, 1, err);
    if (rc == 0) rc = qh_tokenizer_load_dir(dir, &mc->tok, err);
    free(dir);
    if (rc != 0) return -1;
    mc->token_bytes = qh_token_byte_lengths(mc->tok, mc->base->cfg.n_vocab);
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
        if (ts->kind == QH_TASK_MC) {
            qh_mc_opts o = {.budget = ts->budget, .shots = ts->shots, .seed = x->seed,
                            .subjects = ts->subjects[0] ? ts->subjects : NULL, .split = ts->split[0] ? ts->split : NULL};
            if (qh_mc_load(ts->dataset, &o, &mc->mc[t], err) != 0) {
                qh_err_prefix(err, "%s:%d: [tasks] %s", x->path, ts->line, ts->name);
                return -1;
            }
            continue;
        }
        qh_text text;
        if (qh_text_load(ts->dataset, &text, err) != 0) return -1;
        rc = qh_encode(mc->tok, text.path, text.text, text.len, &mc->ids[t], &mc->n_ids[t], err);
        memcpy(mc->text_sha[t], text.sha256, 65);
        qh_text_free(&text);
        if (rc != 0) return -1;
    }
    return 0;
}

/* ---- writing one run -------------------------------------------------------------------- */

static int put_metric(qh_store *s, qh_err *err, long long run, const char *task, const char *metric, double v,
                      double lo, double hi, long n, double chance, const char *protocol, const char *sha)
{
    return qh_store_run(s, err, NULL,
                        "INSERT INTO metrics(run_id, task, metric, value, ci_low, ci_high, n, chance, protocol, dataset_sha256) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?)",
                        "ittdddidtt", run, task, metric, v, lo, hi, (long long)n, chance, protocol, sha);
}

/* The results of one run, held until they are written together. */
typedef struct {
    qh_ppl_result ppl[QH_MAX_TASKS];
    qh_fidelity_result fid[QH_MAX_TASKS];
    qh_mc_result mc[QH_MAX_TASKS];
    int done[QH_MAX_TASKS];
} run_results;

static void free_results(run_results *r, const qh_experiment *x)
{
    for (int t = 0; t < x->n_tasks; t++) {
        if (!r->done[t]) continue;
        if (x->tasks[t].kind == QH_TASK_PPL) qh_ppl_result_free(&r->ppl[t]);
        else if (x->tasks[t].kind == QH_TASK_FIDELITY) qh_fidelity_result_free(&r->fid[t]);
        else qh_mc_result_free(&r->mc[t]);
    }
}

static int write_run(qh_store *s, const qh_experiment *x, const model_ctx *mc, long long run, const qh_quant_result *q,
                     int quantized, const run_results *r, double seconds, qh_err *err)
{
    char now[32], protocol[768];
    qh_utc_now(now);
    if (qh_store_begin(s, err)) return -1;
    /* a failed earlier attempt wrote nothing but its status; clear defensively all the same */
    const char *clear[] = {"DELETE FROM bpp WHERE run_id=?", "DELETE FROM bpp_parts WHERE run_id=?",
                           "DELETE FROM metrics WHERE run_id=?", "DELETE FROM items WHERE run_id=?",
                           "DELETE FROM tensors WHERE run_id=?"};
    for (int i = 0; i < 5; i++)
        if (qh_store_run(s, err, NULL, clear[i], "i", run)) goto fail;
    const qh_model *m = mc->base;
    if (quantized) {
        if (qh_store_run(s, err, NULL,
                         "INSERT INTO bpp(run_id, tensors_quantized, params_total, params_quantized, bytes_total, bytes_quantized, "
                         "bytes_kept, bpp_quantized, bpp_model, kept_dtype) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         "iiiiiiiddt", run, (long long)q->n_q, (long long)q->params_total, (long long)q->params_quantized,
                         (long long)q->bytes_total, (long long)q->bytes_quantized, (long long)q->bytes_kept, q->bpp_quantized,
                         q->bpp_model, q->kept_desc[0] ? q->kept_desc : qh_dtype_name(q->kept_dtype)))
            goto fail;
        for (int i = 0; i < q->n_q; i++)
            if (qh_store_run(s, err, NULL,
                             "INSERT INTO tensors(run_id, name, spec, rows, cols, bytes, rel_error, sensitivity) VALUES (?,?,?,?,?,?,?,?)",
                             "ittiiidd", run, q->q[i].name, q->q[i].spec, (long long)q->q[i].rows, (long long)q->q[i].cols,
                             (long long)qh_packed_bytes(&q->q[i].packed), q->q[i].rel_error, q->q[i].sensitivity))
                goto fail;
        for (int k = 0; k < QH_PART_KINDS; k++)
            if (q->bytes_by_kind[k] &&
                qh_store_run(s, err, NULL, "INSERT INTO bpp_parts(run_id, kind, bytes) VALUES (?,?,?)", "iti", run,
                             qh_part_kind_name((qh_part_kind)k), (long long)q->bytes_by_kind[k]))
                goto fail;
    } else { /* the checkpoint as loaded: its own dtype for every parameter */
        double bits = strcmp(m->dtype, "F32") == 0 ? 32 : 16;
        if (qh_store_run(s, err, NULL,
                         "INSERT INTO bpp(run_id, tensors_quantized, params_total, params_quantized, bytes_total, bytes_quantized, "
                         "bytes_kept, bpp_quantized, bpp_model, kept_dtype) VALUES (?,0,?,0,?,0,?,NULL,?,?)",
                         "iiiidt", run, (long long)m->n_params, (long long)(m->n_params * bits / 8), (long long)(m->n_params * bits / 8),
                         bits, m->dtype))
            goto fail;
    }
    for (int t = 0; t < x->n_tasks; t++) {
        const qh_task_spec *ts = &x->tasks[t];
        if (ts->kind == QH_TASK_PPL) {
            const qh_ppl_result *p = &r->ppl[t];
            if (strcmp(p->protocol, "llama-cpp") == 0)
                snprintf(protocol, sizeof protocol,
                         "%s, first %ld tokens (of %zu), llama-cpp protocol: %d non-overlapping chunks of %d tokens, positions %d..%d "
                         "of each scored%s; 95%% CI: bootstrap over chunks (%d resamples, seed %lu); llama.cpp's +/- %.6g",
                         ts->dataset, p->tokens_total, mc->n_ids[t], p->windows, p->ctx, p->first_scored_offset, p->ctx - 1,
                         p->bos_id >= 0 ? ", first token of each replaced by BOS" : "", p->n_boot, p->seed, p->ppl_pm);
            else
                snprintf(protocol, sizeof protocol,
                         "%s, first %ld tokens (of %zu), ctx %d, stride %d: each token scored once given the tokens before it in its "
                         "window; 95%% CI: bootstrap over %d windows (%d resamples, seed %lu)",
                         ts->dataset, p->tokens_total, mc->n_ids[t], p->ctx, p->stride, p->windows, p->n_boot, p->seed);
            if (put_metric(s, err, run, ts->name, "ppl", p->ppl, p->ppl_lo, p->ppl_hi, p->tokens_scored, NAN, protocol, mc->text_sha[t]) ||
                put_metric(s, err, run, ts->name, "mean_nll", p->mean_nll, log(p->ppl_lo), log(p->ppl_hi), p->tokens_scored, NAN, protocol, mc->text_sha[t]) ||
                put_metric(s, err, run, ts->name, "bits_per_byte", p->bits_per_byte, NAN, NAN, p->bytes_scored, NAN, protocol, mc->text_sha[t]))
                goto fail;
            for (int w = 0; w < p->windows; w++) {
                char key[32];
                snprintf(key, sizeof key, "window %d", w);
                if (qh_store_run(s, err, NULL, "INSERT INTO items(run_id, task, idx, item_key, value, n) VALUES (?,?,?,?,?,?)",
                                 "ititdi", run, ts->name, (long long)w, key, p->window_nll[w], (long long)p->window_tokens[w]))
                    goto fail;
            }
        } else if (ts->kind == QH_TASK_FIDELITY) {
            const qh_fidelity_result *f = &r->fid[t];
            if (strcmp(f->protocol, "llama-cpp") == 0)
                snprintf(protocol, sizeof protocol,
                         "%s, first %ld tokens, llama-cpp protocol: %d chunks of %d tokens, positions %d..%d of each: KL(p_baseline || "
                         "p_quantized) of the next-token distribution per position, top-1 agreement, dp; KL 95%% CI: bootstrap over "
                         "chunks; other intervals +/-1.96 of llama.cpp's standard errors",
                         ts->dataset, ts->budget ? ts->budget : (long)mc->n_ids[t], f->windows, f->ctx, f->ctx / 2 + 1, f->ctx - 1);
            else
                snprintf(protocol, sizeof protocol,
                         "%s, first %ld tokens, windows of ctx %d (stride = ctx): KL(p_baseline || p_quantized) of the next-token "
                         "distribution per position, top-1 agreement, dp; KL 95%% CI: bootstrap over %d windows; other intervals "
                         "+/-1.96 of llama.cpp's standard errors",
                         ts->dataset, ts->budget ? ts->budget : (long)mc->n_ids[t], f->ctx, f->windows);
            double lo, hi, z = 1.959964;
            long agree = 0;
            for (int w = 0; w < f->windows; w++) agree += f->window_agree[w];
            qh_wilson(agree, f->positions, &lo, &hi);
            long N = f->positions;
            const char *sha = mc->text_sha[t];
            if (put_metric(s, err, run, ts->name, "kl", f->kl_mean, f->kl_lo, f->kl_hi, N, NAN, protocol, sha) ||
                put_metric(s, err, run, ts->name, "top1", f->top1, lo, hi, N, NAN, protocol, sha) ||
                put_metric(s, err, run, ts->name, "kl_median", f->kl_median, NAN, NAN, N, NAN, protocol, sha) ||
                put_metric(s, err, run, ts->name, "kl_p99", f->kl_p99, NAN, NAN, N, NAN, protocol, sha) ||
                put_metric(s, err, run, ts->name, "kl_p99.9", f->kl_p999, NAN, NAN, N, NAN, protocol, sha) ||
                put_metric(s, err, run, ts->name, "kl_max", f->kl_max, NAN, NAN, N, NAN, protocol, sha) ||
                put_metric(s, err, run, ts->name, "rms_dp", f->dp_rms, f->dp_rms - z * f->dp_rms_se, f->dp_rms + z * f->dp_rms_se, N,
                           NAN, protocol, sha) ||
                put_metric(s, err, run, ts->name, "ln_ppl_ratio", f->ln_ppl_ratio, f->ln_ppl_ratio - z * f->ln_ppl_ratio_se,
                           f->ln_ppl_ratio + z * f->ln_ppl_ratio_se, N, NAN, protocol, sha))
                goto fail;
            for (int w = 0; w < f->windows; w++) {
                char key[32], detail[64];
                snprintf(key, sizeof key, "window %d", w);
                snprintf(detail, sizeof detail, "{\"agree\":%ld}", f->window_agree[w]);
                if (qh_store_run(s, err, NULL,
                                 "INSERT INTO items(run_id, task, idx, item_key, value, n, detail) VALUES (?,?,?,?,?,?,?)",
                                 "ititdit", run, ts->name, (long long)w, key, f->window_kl[w], (long long)f->window_positions[w], detail))
                    goto fail;
            }
        } else {
            const qh_mc_result *a = &r->mc[t];
            const qh_mc_task *task = &mc->mc[t];
            snprintf(protocol, sizeof protocol, "%s; %d of %ld items; ctx %d; %ld requests truncated from the left; 95%% CI: Wilson",
                     task->protocol, a->n_items, task->n_available, x->ctx ? x->ctx : m->cfg.n_ctx, a->truncated_requests);
            if (put_metric(s, err, run, ts->name, "acc", a->acc, a->acc_lo, a->acc_hi, a->n_items, a->chance, protocol, task->sha256))
                goto fail;
            if (a->has_norm && put_metric(s, err, run, ts->name, "acc_norm", a->acc_norm, a->acc_norm_lo, a->acc_norm_hi, a->n_items,
                                          a->chance, protocol, task->sha256))
                goto fail;
            if (a->has_letter && put_metric(s, err, run, ts->name, "acc_letter", a->acc_letter, a->acc_letter_lo, a->acc_letter_hi,
                                            a->n_items, a->chance, protocol, task->sha256))
                goto fail;
            if (a->target_tokens && put_metric(s, err, run, ts->name, "target_ppl", a->target_ppl, NAN, NAN, a->target_tokens, NAN,
                                               protocol, task->sha256))
                goto fail;
            for (int i = 0; i < a->n_items; i++) {
                if (qh_store_run(s, err, NULL,
                                 "INSERT INTO items(run_id, task, idx, item_key, correct, correct_norm, correct_letter, value, n, detail) "
                                 "VALUES (?,?,?,?,?,?,?,?,?,?)",
                                 "itittttdit", run, ts->name, (long long)i, task->items[i].key,
                                 a->item_correct[i] ? "1" : "0", a->has_norm ? (a->item_correct_norm[i] ? "1" : "0") : NULL,
                                 a->has_letter ? (a->item_correct_letter[i] ? "1" : "0") : NULL, a->item_gold_ll[i],
                                 (long long)task->items[i].n_choices, a->item_detail[i]))
                    goto fail;
            }
        }
    }
    if (qh_store_run(s, err, NULL,
                     "UPDATE runs SET status='done', finished_at=?, seconds=?, quantize_seconds=?, error=NULL WHERE id=?", "tddi",
                     now, seconds, quantized ? q->seconds_encode + q->seconds_decode : 0.0, run))
        goto fail;
    return qh_store_commit(s, err);
fail:
    qh_store_rollback(s);
    return -1;
}

/* ---- evaluation of one run -------------------------------------------------------------- */

static int evaluate(const qh_experiment *x, model_ctx *mc, const qh_model *m, run_results *r, qh_err *err)
{
    int bos = qh_tokenizer_bos_added(mc->tok);
    for (int t = 0; t < x->n_tasks; t++) {
        const qh_task_spec *ts = &x->tasks[t];
        /* the windows of a ppl or fidelity task */
        qh_ppl_opts o = {.protocol = ts->protocol, .ctx = x->ctx, .max_tokens = ts->budget, .seed = x->seed,
                         .use_bos = bos >= 0, .bos_id = bos};
        int rc;
        if (ts->kind == QH_TASK_PPL) {
            rc = qh_eval_ppl(m, mc->ids[t], (long)mc->n_ids[t], mc->token_bytes, &o, &r->ppl[t], err);
        } else if (ts->kind == QH_TASK_FIDELITY) {
            rc = qh_eval_fidelity(mc->base, m, mc->ids[t], (long)mc->n_ids[t], &o, &r->fid[t], err);
        } else {
            rc = qh_eval_mc(m, mc->tok, &mc->mc[t], x->ctx ? x->ctx : m->cfg.n_ctx, &r->mc[t], NULL, NULL, err);
        }
        if (rc != 0) {
            qh_err_prefix(err, "task %s", ts->name);
            return -1;
        }
        r->done[t] = 1;
    }
    return 0;
}

/* Quantizes, evaluates and stores one planned run.  Returns 0 (done), 1 (failed: the reason
 * in run_err and in the runs table) or -1 (the store failed: err). */
static int run_one(qh_store *s, const qh_experiment *x, model_ctx *mc, const qh_run_config *cfg, long long run, double *seconds,
                   qh_err *run_err, qh_err *err)
{
    char now[32];
    qh_utc_now(now);
    if (qh_store_run(s, err, NULL, "UPDATE runs SET status='running', started_at=?, error=NULL WHERE id=?", "ti", now, run)) return -1;
    double t0 = qh_now();
    qh_model *m = NULL;
    qh_quant_result q = {0};
    run_results r;
    memset(&r, 0, sizeof r);
    int quantized = strcmp(cfg->spec, "none") != 0, ok;
    if (cfg->gguf[0]) { /* the file's weights, accounted from its bytes */
        ok = qh_model_load(cfg->gguf, &m, 0, run_err) == 0 && qh_quant_result_from_gguf(cfg->gguf, m, mc->base, &q, run_err) == 0;
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
    ok = ok && evaluate(x, mc, m, &r, run_err) == 0;
    *seconds = qh_now() - t0;
    int rc;
    if (ok) {
        rc = write_run(s, x, mc, run, &q, quantized, &r, *seconds, err) == 0 ? 0 : -1;
    } else {
        qh_utc_now(now);
        rc = qh_store_run(s, err, NULL, "UPDATE runs SET status='failed', finished_at=?, seconds=?, error=? WHERE id=?", "tdti", now,
                          *seconds, run_err->msg, run) == 0 ? 1 : -1;
    }
    free_results(&r, x);
    qh_quant_result_free(&q);
    qh_model_free(m);
    return rc;
}

/* ---- dry run ---------------------------------------------------------------------------- */

static int dry_run(const qh_experiment *x, qh_err *err)
{
    printf("experiment   %s (%s, sha256 %.12s): %d model(s) x %d configurations = %d runs, %d tasks\n", x->name, x->path,
           x->sha256, x->n_models, x->n_configs, x->n_models * x->n_configs, x->n_tasks);
    for (int t = 0; t < x->n_tasks; t++) {
        const qh_task_spec *ts = &x->tasks[t];
        char budget[32];
        if (ts->budget) snprintf(budget, sizeof budget, "%ld", ts->budget);
        else snprintf(budget, sizeof budget, "all");
        printf("task         %-26s budget %s %s\n", ts->name, budget, ts->kind == QH_TASK_MC ? "items" : "tokens");
    }
    double total = 0;
    for (int mi = 0; mi < x->n_models; mi++) {
        model_ctx mc;
        if (load_model_ctx(x, x->models[mi], &mc, err) != 0) {
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
        for (int t = 0; t < x->n_tasks; t++) {
            const qh_task_spec *ts = &x->tasks[t];
            if (ts->kind == QH_TASK_PPL) per_run += (ts->budget && ts->budget < (long)mc.n_ids[t] ? ts->budget : (double)mc.n_ids[t]) / full_tps;
            else if (ts->kind == QH_TASK_FIDELITY)
                per_run += 2.5 * (ts->budget && ts->budget < (long)mc.n_ids[t] ? ts->budget : (double)mc.n_ids[t]) / full_tps;
            else { /* bytes / 4 tokens per request, context truncated to the window */
                double tokens = 0;
                for (int i = 0; i < mc.mc[t].n_items; i++) {
                    const qh_mc_item *it = &mc.mc[t].items[i];
                    for (int c = 0; c < it->n_choices; c++) {
                        double n = (strlen(it->contexts ? it->contexts[c] : it->context) + strlen(it->choices[c])) / 4.0;
                        tokens += n < ctx ? n : ctx;
                    }
                    if (it->letter_prompt) tokens += 4 * fmin(strlen(it->letter_prompt) / 4.0, ctx);
                }
                per_run += tokens / body_tps;
            }
        }
        printf("model        %s: %.0f tokens/s measured; about %.0f s per run\n", mc.base->dir, full_tps, per_run);
        for (int c = 0; c < x->n_configs; c++)
            printf("run %3d      %-40s %s\n", mi * x->n_configs + c + 1, x->configs[c].label, x->configs[c].canonical);
        total += per_run * x->n_configs;
        free_model_ctx(&mc, x);
    }
    printf("estimate     %.0f s (%.1f min) on %d threads, quantization time not included\n", total, total / 60, qh_threads());
    return 0;
}

/* ---- the sweep -------------------------------------------------------------------------- */

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

int qh_sweep(const char *path, const qh_sweep_opts *o, qh_err *err)
{
    qh_experiment x;
    if (qh_experiment_load(path, &x, err) != 0) return -1;
    if (o->dry_run) {
        int rc = dry_run(&x, err);
        qh_experiment_free(&x);
        return rc;
    }
    for (int mi = 0; mi < x.n_models; mi++) { /* before anything is written */
        char *dir = qh_resolve_model_dir(x.models[mi]), *cfg = qh_path_join(dir, "config.json");
        int ok = qh_file_exists(cfg) || qh_gguf_probe(dir);
        free(cfg);
        free(dir);
        if (!ok) {
            qh_fail(err, "%s: [experiment] models: '%s' is neither a model directory (no config.json) nor a GGUF file", path,
                    x.models[mi]);
            qh_experiment_free(&x);
            return -1;
        }
    }
    const char *db_path = o->db_path ? o->db_path : "results/qharness.sqlite";
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
    qh_store s;
    if (qh_store_open(db_path, &s, err) != 0) {
        qh_experiment_free(&x);
        return -1;
    }
    int rc = -1, failed = 0, done_before = 0, have_mc = 0;
    model_ctx mc;
    long long exp_id = 0;
    int found;
    char now[32];
    qh_utc_now(now);
    if (o->resume) {
        long long prev;
        if (qh_store_int(&s, err, &prev, &found, "SELECT id FROM experiments WHERE name=? ORDER BY id DESC LIMIT 1", "t", x.name))
            goto out;
        if (!found) {
            qh_fail(err, "%s: no experiment '%s' to resume in %s", path, x.name, db_path);
            goto out;
        }
        long long same;
        if (qh_store_int(&s, err, &same, &found, "SELECT COUNT(*) FROM experiments WHERE id=? AND file_sha256=?", "it", prev, x.sha256))
            goto out;
        if (!same) {
            qh_fail(err, "%s: changed since experiment '%s' (id %lld) started; run it without --resume for a new sweep",
                    path, x.name, prev);
            goto out;
        }
        exp_id = prev;
    } else {
        char commit[64], host[256] = "";
        git_commit(commit, sizeof commit);
        gethostname(host, sizeof host - 1);
        if (qh_store_run(&s, err, &exp_id,
                         "INSERT INTO experiments(name, description, file_path, file_text, file_sha256, harness_version, git_commit, "
                         "host, seed, ctx, started_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         "ttttttttiit", x.name, x.description, x.path, x.text, x.sha256, QH_VERSION,
                         commit[0] ? commit : NULL, host, (long long)x.seed, (long long)x.ctx, now))
            goto out;
    }
    int n_runs = x.n_models * x.n_configs, ordinal = 0;
    double sweep_start = qh_now(), run_time_sum = 0;
    int runs_timed = 0;
    for (int mi = 0; mi < x.n_models; mi++) {
        have_mc = 1; /* load_model_ctx zeroes it first: freeing a half-loaded one is safe */
        if (load_model_ctx(&x, x.models[mi], &mc, err) != 0) goto out;
        const qh_model *b = mc.base;
        if (qh_store_run(&s, err, NULL,
                         "INSERT OR IGNORE INTO models(path, sha256, architecture, n_layer, n_head, n_embd, n_ctx, n_vocab, parameters, dtype) "
                         "VALUES (?,?,'gpt2',?,?,?,?,?,?,?)",
                         "ttiiiiiit", b->dir, b->sha256, (long long)b->cfg.n_layer, (long long)b->cfg.n_head, (long long)b->cfg.n_embd,
                         (long long)b->cfg.n_ctx, (long long)b->cfg.n_vocab, (long long)b->n_params, b->dtype) ||
            qh_store_int(&s, err, &mc.model_id, &found, "SELECT id FROM models WHERE sha256=?", "t", b->sha256))
            goto out;
        /* the plan: every run of this model, pending unless already there */
        long long run_ids[512];
        if (x.n_configs > 512) {
            qh_fail(err, "%s: more than 512 configurations", path);
            goto out;
        }
        if (qh_store_begin(&s, err)) goto out;
        for (int c = 0; c < x.n_configs; c++) {
            long long cfg_id;
            if (qh_store_run(&s, err, NULL, "INSERT OR IGNORE INTO method_configs(canonical, family) VALUES (?,?)", "tt",
                             x.configs[c].canonical, x.configs[c].family) ||
                qh_store_int(&s, err, &cfg_id, &found, "SELECT id FROM method_configs WHERE canonical=?", "t", x.configs[c].canonical) ||
                qh_store_run(&s, err, NULL,
                             "INSERT OR IGNORE INTO runs(experiment_id, model_id, config_id, ordinal, label, status) VALUES (?,?,?,?,?,'pending')",
                             "iiiit", exp_id, mc.model_id, cfg_id, (long long)(mi * x.n_configs + c), x.configs[c].label) ||
                qh_store_int(&s, err, &run_ids[c], &found, "SELECT id FROM runs WHERE experiment_id=? AND model_id=? AND config_id=?",
                             "iii", exp_id, mc.model_id, cfg_id)) {
                qh_store_rollback(&s);
                goto out;
            }
        }
        if (qh_store_commit(&s, err)) goto out;
        for (int c = 0; c < x.n_configs; c++) {
            const qh_run_config *cfg = &x.configs[c];
            long long status_done;
            ordinal++;
            if (qh_store_int(&s, err, &status_done, &found, "SELECT status='done' FROM runs WHERE id=?", "i", run_ids[c])) goto out;
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
            int outcome = run_one(&s, &x, &mc, cfg, run_ids[c], &seconds, &run_err, err);
            if (outcome < 0) goto out;
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
    qh_utc_now(now);
    if (qh_store_run(&s, err, NULL, "UPDATE experiments SET finished_at=? WHERE id=?", "ti", now, exp_id)) goto out;
    fprintf(stderr, "sweep %s: %d runs (%d done earlier, %d failed) in %.1f s; results in %s (experiment id %lld)\n", x.name, n_runs,
            done_before, failed, qh_now() - sweep_start, db_path, exp_id);
    rc = failed ? 1 : 0;
out:
    if (have_mc) free_model_ctx(&mc, &x);
    qh_store_close(&s);
    qh_experiment_free(&x);
    return rc;
}
