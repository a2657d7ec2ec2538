/* audit.c - claim audits; see audit.h. */
#include "audit.h"

#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <ini.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../harness/results.h"
#include "../harness/store.h"
#include "../harness/sweep.h"

const char *qh_verdict_name(qh_verdict v)
{
    return v == QH_VERDICT_SUPPORTED ? "SUPPORTED" : v == QH_VERDICT_REFUTED ? "REFUTED" : "INCONCLUSIVE";
}

static double stat_of(const double *b, const double *q, const long *tok, const long *idx, long n, double chance, int adjusted)
{
    double sb = 0, sq = 0, st = 0;
    for (long k = 0; k < n; k++) {
        long i = idx ? idx[k] : k;
        sb += b[i];
        sq += q[i];
        st += tok ? (double)tok[i] : 1.0;
    }
    if (tok) return exp((sb - sq) / st); /* ppl_b / ppl_q = exp(mean NLL_b - mean NLL_q) */
    double mb = sb / st, mq = sq / st;
    if (adjusted) return (mq - chance) / (mb - chance);
    return mb > 0 ? mq / mb : NAN;
}

void qh_audit_compute(const double *b, const double *q, const long *per_token, long n, double chance, double claimed,
                      int n_boot, unsigned long seed, qh_audit_stats *o)
{
    memset(o, 0, sizeof *o);
    o->n = n;
    o->retention = stat_of(b, q, per_token, NULL, n, chance, 0);
    o->chance_adj = per_token ? NAN : stat_of(b, q, per_token, NULL, n, chance, 1);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    long *idx = qh_malloc((size_t)n * sizeof(long));
    double *r = qh_malloc((size_t)n_boot * sizeof(double)), *ca = qh_malloc((size_t)n_boot * sizeof(double));
    int nr = 0, nc = 0;
    for (int k = 0; k < n_boot; k++) {
        for (long i = 0; i < n; i++) idx[i] = (long)gsl_rng_uniform_int(rng, (unsigned long)n);
        double v = stat_of(b, q, per_token, idx, n, chance, 0); /* the same items for both: paired */
        if (isfinite(v)) r[nr++] = v;
        if (!per_token) {
            double c = stat_of(b, q, per_token, idx, n, chance, 1);
            if (isfinite(c)) ca[nc++] = c;
        }
    }
    if (nr) {
        gsl_sort(r, 1, (size_t)nr);
        o->lo = gsl_stats_quantile_from_sorted_data(r, 1, (size_t)nr, 0.025);
        o->hi = gsl_stats_quantile_from_sorted_data(r, 1, (size_t)nr, 0.975);
    } else {
        o->lo = o->hi = NAN;
    }
    if (nc) {
        gsl_sort(ca, 1, (size_t)nc);
        o->ca_lo = gsl_stats_quantile_from_sorted_data(ca, 1, (size_t)nc, 0.025);
        o->ca_hi = gsl_stats_quantile_from_sorted_data(ca, 1, (size_t)nc, 0.975);
    } else {
        o->ca_lo = o->ca_hi = NAN;
    }
    if (o->lo >= claimed) o->verdict = QH_VERDICT_SUPPORTED;
    else if (o->hi < claimed) o->verdict = QH_VERDICT_REFUTED;
    else {
        o->verdict = QH_VERDICT_INCONCLUSIVE;
        /* the interval shrinks as 1/sqrt(n): n needed so that 1.96 se equals the distance to the claim */
        double se = (o->hi - o->lo) / (2 * 1.959964), effect = fabs(o->retention - claimed);
        o->items_needed = effect > 0 && se > 0 ? ceil((double)n * pow(1.959964 * se / effect, 2)) : INFINITY;
    }
    free(idx);
    free(r);
    free(ca);
    gsl_rng_free(rng);
}

/* ---- claim files ------------------------------------------------------------------------ */

typedef struct {
    char name[128], text[512], model[1024], method[512], task[64], metric[32], calib_text[256];
    double claimed, claimed_bpp;
    long budget;
    unsigned long seed;
    int calib_windows;
    char error[512];
    int line;
} claim;

static int claim_handler(void *user, const char *section, const char *key, const char *value)
{
    claim *c = user;
    if (c->error[0]) return 0;
    if (strcmp(section, "claim") != 0) {
        snprintf(c->error, sizeof c->error, "unknown section [%s] (claim)", section);
        return 0;
    }
    char *end;
    if (strcmp(key, "name") == 0) snprintf(c->name, sizeof c->name, "%s", value);
    else if (strcmp(key, "text") == 0) snprintf(c->text, sizeof c->text, "%s", value);
    else if (strcmp(key, "model") == 0) snprintf(c->model, sizeof c->model, "%s", value);
    else if (strcmp(key, "method") == 0) snprintf(c->method, sizeof c->method, "%s", value);
    else if (strcmp(key, "task") == 0) snprintf(c->task, sizeof c->task, "%s", value);
    else if (strcmp(key, "metric") == 0) snprintf(c->metric, sizeof c->metric, "%s", value);
    else if (strcmp(key, "calibration") == 0) snprintf(c->calib_text, sizeof c->calib_text, "%s", value);
    else if (strcmp(key, "retained") == 0 || strcmp(key, "claimed_bpp") == 0) {
        double v = strtod(value, &end);
        if (*end || !(v > 0)) {
            snprintf(c->error, sizeof c->error, "%s = '%s' is not a positive number", key, value);
            return 0;
        }
        if (key[0] == 'r') c->claimed = v;
        else c->claimed_bpp = v;
    } else if (strcmp(key, "budget") == 0 || strcmp(key, "seed") == 0) {
        long v = strtol(value, &end, 10);
        if (*end || v < (key[0] == 'b' ? 1 : 0)) {
            snprintf(c->error, sizeof c->error, "%s = '%s' is not a valid integer", key, value);
            return 0;
        }
        if (key[0] == 'b') c->budget = v;
        else c->seed = (unsigned long)v;
    } else {
        snprintf(c->error, sizeof c->error, "[claim] unknown key '%s'", key);
        return 0;
    }
    return 1;
}

/* loads per-item values of one run: accuracy flags, or window NLL sums with token counts */
static long load_items(sqlite3 *db, long long run, const char *task, const char *metric, double **vals, long **tok)
{
    const char *col = strcmp(metric, "acc_norm") == 0 ? "correct_norm" : strcmp(metric, "acc_letter") == 0 ? "correct_letter"
                      : strcmp(metric, "acc") == 0 ? "correct" : "value";
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s, n FROM items WHERE run_id=? AND task=? ORDER BY idx", col);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    long n = 0, cap = 0;
    *vals = NULL;
    *tok = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            *vals = qh_realloc(*vals, (size_t)cap * sizeof(double));
            *tok = qh_realloc(*tok, (size_t)cap * sizeof(long));
        }
        (*vals)[n] = sqlite3_column_double(st, 0);
        (*tok)[n++] = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return n;
}

static long long q_int(sqlite3 *db, const char *sql, long long a, const char *t)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(st, 1, a);
    if (t) sqlite3_bind_text(st, 2, t, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static double q_double(sqlite3 *db, const char *sql, long long a)
{
    sqlite3_stmt *st;
    double v = NAN;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return NAN;
    sqlite3_bind_int64(st, 1, a);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

int qh_audit(const char *claim_path, const char *db_path, FILE *out, qh_err *err)
{
    claim c = {0};
    c.seed = 1;
    c.calib_windows = 128;
    char *text;
    size_t len;
    if (qh_read_file(claim_path, &text, &len, err) != 0) return -1;
    char sha[65];
    qh_sha256_hex(text, len, sha);
    int line = ini_parse_string(text, claim_handler, &c);
    free(text);
    if (c.error[0] || line != 0) return qh_fail(err, "%s:%d: %s", claim_path, line, c.error[0] ? c.error : "not key = value");
    if (!c.name[0] || !c.model[0] || !c.method[0] || !c.task[0] || !c.metric[0] || !(c.claimed > 0))
        return qh_fail(err, "%s: [claim] needs name, model, method, task, metric and retained", claim_path);
    int is_ppl = strcmp(c.metric, "ppl") == 0;
    if (is_ppl != (strncmp(c.task, "ppl.", 4) == 0))
        return qh_fail(err, "%s: metric 'ppl' goes with a task 'ppl.DATASET' (and accuracies with multiple-choice tasks)", claim_path);
    if (!is_ppl && strcmp(c.metric, "acc") && strcmp(c.metric, "acc_norm") && strcmp(c.metric, "acc_letter"))
        return qh_fail(err, "%s: metric '%s' (ppl, acc, acc_norm, acc_letter)", claim_path, c.metric);
    /* the runs it needs, as an experiment: baseline + the method, on the task and on
     * perplexity (to compare what happens to perplexity with what happens to accuracy) */
    char exp_path[1400], exp_name[160];
    snprintf(exp_name, sizeof exp_name, "audit-%s", c.name);
    mkdir("results", 0755);
    snprintf(exp_path, sizeof exp_path, "results/%s.ini", exp_name);
    FILE *f = fopen(exp_path, "w");
    if (!f) return qh_fail(err, "%s: cannot write", exp_path);
    fprintf(f, "; written by qharness audit from %s (sha256 %s)\n[experiment]\nname = %s\ndescription = audit of: %s\nmodels = %s\nseed = %lu\n\n[tasks]\n",
            claim_path, sha, exp_name, c.text, c.model, c.seed);
    fprintf(f, "%s = %ld\n", c.task, c.budget ? c.budget : (is_ppl ? 32768 : 500));
    if (!is_ppl) fprintf(f, "ppl.wikitext2-test = 16384\n");
    if (c.calib_text[0]) fprintf(f, "\n[calibration]\ntext = %s\nwindows = %d\n", c.calib_text, c.calib_windows);
    fprintf(f, "\n[method baseline]\nmethod = none\n\n[method claimed]\nspec = %s\n", c.method);
    fclose(f);
    /* reuse the runs when this exact audit ran before */
    qh_sweep_opts so = {.db_path = db_path, .resume = 0};
    sqlite3 *db = NULL;
    char *ftext;
    size_t flen;
    char fsha[65] = "";
    if (qh_read_file(exp_path, &ftext, &flen, err) == 0) {
        qh_sha256_hex(ftext, flen, fsha);
        free(ftext);
    }
    if (qh_file_exists(db_path) && sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM experiments WHERE id=(SELECT MAX(id) FROM experiments WHERE name=?) AND file_sha256=?",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, exp_name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, fsha, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0) so.resume = 1;
            sqlite3_finalize(st);
        }
        sqlite3_close(db);
        db = NULL;
    }
    int src = qh_sweep(exp_path, &so, err);
    if (src < 0) return -1;
    if (src > 0) return qh_fail(err, "%s: a run of the audit failed (see the runs table of %s)", claim_path, db_path);
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) return qh_fail(err, "%s: cannot open", db_path);
    int rc = -1;
    double *vb = NULL, *vq = NULL;
    long *tb = NULL, *tq = NULL;
    long long exp = -1;
    sqlite3_stmt *es;
    if (sqlite3_prepare_v2(db, "SELECT MAX(id) FROM experiments WHERE name=?", -1, &es, NULL) == SQLITE_OK) {
        sqlite3_bind_text(es, 1, exp_name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(es) == SQLITE_ROW) exp = sqlite3_column_int64(es, 0);
        sqlite3_finalize(es);
    }
    long long rb = q_int(db, "SELECT r.id FROM runs r JOIN method_configs c ON c.id=r.config_id WHERE r.experiment_id=?1 AND c.family='none'", exp, NULL);
    long long rq = q_int(db, "SELECT r.id FROM runs r JOIN method_configs c ON c.id=r.config_id WHERE r.experiment_id=?1 AND c.family<>'none'", exp, NULL);
    long nb = load_items(db, rb, c.task, c.metric, &vb, &tb), nq = load_items(db, rq, c.task, c.metric, &vq, &tq);
    if (nb <= 0 || nb != nq) {
        qh_fail(err, "%s: the stored items of the two runs do not pair (%ld vs %ld)", db_path, nb, nq);
        goto out;
    }
    /* the baseline's stored metric (value, interval, chance) and both runs' WikiText-2 perplexity */
    char key[128];
    snprintf(key, sizeof key, "%s %s", c.task, c.metric);
    qh_metric_cell base = {.value = NAN}, pb = {.value = NAN}, pq = {.value = NAN};
    sqlite3_stmt *cell;
    if (sqlite3_prepare_v2(db, QH_RESULTS_CELL_SQL, -1, &cell, NULL) != SQLITE_OK) {
        qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        goto out;
    }
    qh_results_cell(cell, rb, key, &base);
    qh_results_cell(cell, rb, "ppl.wikitext2-test ppl", &pb);
    qh_results_cell(cell, rq, "ppl.wikitext2-test ppl", &pq);
    sqlite3_finalize(cell);
    double chance = base.has_chance ? base.chance : NAN, base_lo = base.has_ci ? base.lo : NAN, base_hi = base.has_ci ? base.hi : NAN;
    double ppl_b = pb.value, ppl_q = pq.value;
    qh_audit_stats s;
    qh_audit_compute(vb, vq, is_ppl ? tb : NULL, nb, isnan(chance) ? 0 : chance, c.claimed, 2000, c.seed, &s);
    double bpp_q = q_double(db, "SELECT bpp_quantized FROM bpp WHERE run_id=?1", rq);
    double bpp_m = q_double(db, "SELECT bpp_model FROM bpp WHERE run_id=?1", rq);
    /* warnings */
    char warn[2048] = "";
    size_t wl = 0;
#define WARN(...) (wl += (size_t)snprintf(warn + wl, sizeof warn - wl, "- " __VA_ARGS__), wl = wl < sizeof warn ? wl : sizeof warn - 1)
    if (!is_ppl && !isnan(chance) && base_lo <= chance && chance <= base_hi)
        WARN("the baseline (%.4f interval [%.4f, %.4f]) cannot be told from chance (%.4f): 99%% of chance is not retention\n",
             base.value, base_lo, base_hi, chance);
    if (!is_ppl && !isnan(ppl_b) && !isnan(ppl_q) && ppl_b / ppl_q < 0.9 && s.retention >= c.claimed)
        WARN("perplexity degraded far more than accuracy: WikiText-2 perplexity %.1f -> %.1f (retention %.3f)\n", ppl_b, ppl_q, ppl_b / ppl_q);
    if (c.claimed_bpp > 0 && bpp_q > c.claimed_bpp + 0.02)
        WARN("claimed %.3f bpp, but the packed quantized weights take %.4f bpp (scales, codebooks, packing)\n", c.claimed_bpp, bpp_q);
    if (c.claimed_bpp > 0 && bpp_m > c.claimed_bpp + 0.5)
        WARN("claimed %.3f bpp leaves out the unquantized tensors: the whole model takes %.4f bpp\n", c.claimed_bpp, bpp_m);
    if (s.hi - s.lo > 2 * fabs(1 - c.claimed) && s.verdict == QH_VERDICT_INCONCLUSIVE)
        WARN("%ld items give an interval %.3f wide: too few to resolve a claim at %.3f\n", s.n, s.hi - s.lo, c.claimed);
    if (!warn[0]) snprintf(warn, sizeof warn, "- none\n");
    fprintf(out, "claim        %s: \"%s\" (%s, sha256 %.12s)\n", c.name, c.text, claim_path, sha);
    fprintf(out, "method       %s on %s; %s %s, %ld %s, paired bootstrap (2000 resamples, seed %lu)\n", c.method, c.model, c.task,
            c.metric, s.n, is_ppl ? "windows" : "items", c.seed);
    char claimed_bpp[32] = "-";
    if (c.claimed_bpp > 0) snprintf(claimed_bpp, sizeof claimed_bpp, "%.4g", c.claimed_bpp);
    fprintf(out, "bpp          claimed %s; measured %.4f (quantized weights), %.4f (whole model)\n", claimed_bpp, bpp_q, bpp_m);
    fprintf(out, "retention    %.4f  95%% CI [%.4f, %.4f]  (claimed >= %.4f)\n", s.retention, s.lo, s.hi, c.claimed);
    if (!is_ppl) fprintf(out, "chance-adj.  %.4f  95%% CI [%.4f, %.4f]  (chance %.4f)\n", s.chance_adj, s.ca_lo, s.ca_hi, chance);
    fprintf(out, "verdict      %s", qh_verdict_name(s.verdict));
    if (s.verdict == QH_VERDICT_INCONCLUSIVE) fprintf(out, " (about %.0f items would decide at this effect size)", s.items_needed);
    fprintf(out, "\nwarnings\n%s", warn);
    /* stored */
    qh_store st;
    sqlite3_close(db);
    db = NULL;
    if (qh_store_open(db_path, &st, err) != 0) goto out;
    char now[32];
    qh_utc_now(now);
    rc = qh_store_run(&st, err, NULL,
                      "INSERT INTO audits(claim, claim_text, claim_sha256, experiment_id, baseline_run, quantized_run, task, metric, "
                      "claimed, claimed_bpp, retention, ci_low, ci_high, chance_adjusted, ca_low, ca_high, n, verdict, items_needed, "
                      "warnings, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      "tttiiittdddddddditdtt", c.name, c.text, sha, exp, rb, rq, c.task, c.metric, c.claimed,
                      c.claimed_bpp > 0 ? c.claimed_bpp : NAN, s.retention, s.lo, s.hi, s.chance_adj, s.ca_lo, s.ca_hi, (long long)s.n,
                      qh_verdict_name(s.verdict), isfinite(s.items_needed) ? s.items_needed : NAN, warn, now);
    qh_store_close(&st);
out:
    if (db) sqlite3_close(db);
    free(vb);
    free(vq);
    free(tb);
    free(tq);
    return rc;
}
