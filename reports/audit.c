/* audit.c - claim audits; see audit.h. */
#include "harness/run/store.h"
#include "methods/method.h"
#include "reports/audit.h"

#include <ini.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "harness/eval/metrics.h"
#include "harness/base/stats.h"
#include "harness/run/results.h"
#include "harness/run/queries.h"


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

typedef struct {
    const double *b, *q;
    const long *tok;
    double chance;
} retention_data;

/* statistic 0: retention; 1: chance-adjusted retention (accuracies only) */
static double retention_stat(int which, const long *idx, long n, void *ud)
{
    const retention_data *d = ud;
    return stat_of(d->b, d->q, d->tok, idx, n, d->chance, which);
}

/* Accuracy retention q / b on paired items, as the 2 x 2 table of (baseline, quantized)
 * correctness: n11 both right, n10 the baseline only, n01 the quantized model only, n00
 * neither; retention = (p11 + p01) / (p11 + p10).  Its draws are the posterior's under a
 * Jeffreys Dirichlet(1/2, 1/2, 1/2, 1/2) prior on the four cells (seeded): unlike a bootstrap
 * of the items it does not collapse to [1, 1] when the runs never disagree (no discordant
 * item is not proof that none would be), and for many items it agrees with the bootstrap and
 * with normal theory (tested).  r and ca get the sorted draws of retention and of
 * chance-adjusted retention. */
static void paired_accuracy_draws(const double *b, const double *q, long n, double chance, int draws, unsigned long seed, double *r,
                                  double *ca, long *discordant)
{
    double cells[4] = {0, 0, 0, 0}; /* n11, n10, n01, n00: (baseline, quantized) right or wrong */
    for (long i = 0; i < n; i++) cells[(b[i] > 0.5 ? 0 : 2) + (q[i] > 0.5 ? 0 : 1)] += 1;
    *discordant = (long)(cells[1] + cells[2]);
    double alpha[4], p[4];
    for (int k = 0; k < 4; k++) alpha[k] = cells[k] + 0.5;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    for (int d = 0; d < draws; d++) {
        gsl_ran_dirichlet(rng, 4, alpha, p);
        double pb = p[0] + p[1], pq = p[0] + p[2];
        r[d] = pq / pb;
        ca[d] = (pq - chance) / (pb - chance);
    }
    gsl_sort(r, 1, (size_t)draws);
    gsl_sort(ca, 1, (size_t)draws);
    gsl_rng_free(rng);
}

void qh_audit_compute(const double *b, const double *q, const long *per_token, long n, double chance, double claimed,
                      int n_boot, unsigned long seed, qh_audit_stats *o)
{
    memset(o, 0, sizeof *o);
    o->n = n;
    o->p_value = NAN;
    o->retention = stat_of(b, q, per_token, NULL, n, chance, 0);
    o->chance_adj = per_token ? NAN : stat_of(b, q, per_token, NULL, n, chance, 1);
    int draws = per_token ? n_boot : (n_boot > 4000 ? n_boot : 4000);
    o->draws = draws;
    double *r = qh_malloc((size_t)(draws > 0 ? draws : 1) * sizeof(double));
    size_t kept;
    if (per_token) { /* perplexity: the same resampled windows for both runs (paired) */
        retention_data d = {b, q, per_token, chance};
        kept = qh_paired_bootstrap_draws(n, n_boot, seed, retention_stat, &d, r);
        o->ca_lo = o->ca_hi = NAN;
    } else {
        double *ca = qh_malloc((size_t)draws * sizeof(double));
        paired_accuracy_draws(b, q, n, chance, draws, seed, r, ca, &o->discordant);
        qh_sorted_percentiles95(ca, (size_t)draws, &o->ca_lo, &o->ca_hi);
        free(ca);
        kept = (size_t)draws;
    }
    qh_sorted_percentiles95(r, kept, &o->lo, &o->hi);
    double p_value = qh_sorted_two_sided_p(r, kept, claimed);
    free(r);
    /* a claim about an accuracy says nothing when the baseline's own accuracy cannot be told
     * from chance: retention of noise is not retention */
    if (!per_token) {
        long correct = 0;
        for (long i = 0; i < n; i++) correct += b[i] > 0.5;
        double blo, bhi;
        qh_wilson(correct, n, &blo, &bhi);
        if (blo <= chance) {
            o->baseline_at_chance = 1;
            o->verdict = QH_VERDICT_INCONCLUSIVE;
            o->items_needed = 0;
            snprintf(o->reason, sizeof o->reason,
                     "the baseline (%.4f, 95%% CI [%.4f, %.4f], %ld items) cannot be told from chance (%.4f): retention of noise is not retention",
                     (double)correct / (double)n, blo, bhi, n, chance);
            return;
        }
    }
    if (per_token && n < QH_MIN_RESAMPLING_UNITS) {
        /* a bootstrap over a handful of windows: its interval is as narrow as they happen to agree */
        o->verdict = QH_VERDICT_INCONCLUSIVE;
        o->lo = o->hi = NAN;
        o->items_needed = 0;
        snprintf(o->reason, sizeof o->reason,
                 "%ld windows scored, fewer than the %d a bootstrap interval is computed from: raise the claim's budget", n,
                 QH_MIN_RESAMPLING_UNITS);
        return;
    }
    o->p_value = p_value;
    if (o->lo >= claimed && !per_token && o->discordant < QH_AUDIT_MIN_DISCORDANT) {
        /* the interval clears the claim, but on the prior's word: the runs hardly differ */
        o->verdict = QH_VERDICT_INCONCLUSIVE;
        o->p_value = NAN;
        o->items_needed = 0;
        snprintf(o->reason, sizeof o->reason,
                 "the runs disagree on %ld of %ld items, fewer than %d: the 95%% interval [%.4f, %.4f] rests on the prior, not on the data",
                 o->discordant, n, QH_AUDIT_MIN_DISCORDANT, o->lo, o->hi);
    } else if (o->lo >= claimed) {
        o->verdict = QH_VERDICT_SUPPORTED;
        snprintf(o->reason, sizeof o->reason, "the 95%% interval [%.4f, %.4f] lies at or above the claimed %.4f", o->lo, o->hi, claimed);
    } else if (o->hi < claimed) {
        o->verdict = QH_VERDICT_REFUTED;
        snprintf(o->reason, sizeof o->reason, "the 95%% interval [%.4f, %.4f] lies below the claimed %.4f", o->lo, o->hi, claimed);
    } else {
        o->verdict = QH_VERDICT_INCONCLUSIVE;
        /* the interval shrinks as 1/sqrt(n): the items for a half-width of the stated minimum effect */
        double half = (o->hi - o->lo) / 2;
        o->items_needed = half > 0 ? ceil((double)n * pow(half / QH_AUDIT_MIN_EFFECT, 2)) : INFINITY;
        snprintf(o->reason, sizeof o->reason, "the 95%% interval [%.4f, %.4f] contains the claimed %.4f", o->lo, o->hi, claimed);
    }
}

/* ---- claim files ------------------------------------------------------------------------ */

/* loads per-item values of one run: accuracy flags, or window NLL sums with token counts */
static long load_items(sqlite3 *db, long long run, const char *task, const char *metric, double **vals, long **tok)
{
    const qh_metric *row = qh_metric_find(metric);
    const char *col = row && row->item_column ? row->item_column : "value";
    char sql[256];
    snprintf(sql, sizeof sql, QH_Q_ITEM_COLUMN_FMT, col);
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

/* "codes 1.2067, masks 0.7238, ..." : the bpp of each kind of packed part of a run, largest first */
static void bpp_parts_text(sqlite3 *db, long long run, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, QH_Q_BPP_PARTS, -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, run);
    while (sqlite3_step(st) == SQLITE_ROW && len < n)
        len += (size_t)snprintf(buf + len, n - len, "%s%s %.4f", len ? ", " : "", (const char *)sqlite3_column_text(st, 0),
                                sqlite3_column_double(st, 1));
    sqlite3_finalize(st);
    if (!buf[0]) snprintf(buf, n, "no breakdown stored");
}

int qh_audit_evaluate(const qh_claim *cl, const char *db_path, const char *exp_name, FILE *out, qh_audit_record *record, qh_err *err)
{
    const qh_claim c = *cl;
    const char *claim_path = c.path, *sha = c.sha256;
    int is_ppl = qh_metric_of_text(c.metric);
    sqlite3 *db = NULL;
    memset(record, 0, sizeof *record);
    if (qh_db_open_read(db_path, &db) != SQLITE_OK) {
        sqlite3_close(db);
        return qh_fail(err, "%s: cannot open", db_path);
    }
    int rc = -1;
    double *vb = NULL, *vq = NULL;
    long *tb = NULL, *tq = NULL;
    long long exp = -1;
    qh_db_latest_experiment(db, exp_name, &exp);
    long long rb = q_int(db, QH_Q_AUDIT_BASELINE_RUN, exp, NULL);
    long long rq = q_int(db, QH_Q_AUDIT_QUANTIZED_RUN, exp, NULL);
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
    if (sqlite3_prepare_v2(db, QH_Q_RESULT_CELL, -1, &cell, NULL) != SQLITE_OK) {
        qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        goto out;
    }
    qh_results_cell(cell, rb, key, &base);
    qh_results_cell(cell, rb, QH_AUDIT_TEXT_TASK " ppl", &pb);
    qh_results_cell(cell, rq, QH_AUDIT_TEXT_TASK " ppl", &pq);
    sqlite3_finalize(cell);
    double chance = base.has_chance ? base.chance : NAN, base_lo = base.has_ci ? base.lo : NAN, base_hi = base.has_ci ? base.hi : NAN;
    double ppl_b = pb.value, ppl_q = pq.value;
    qh_audit_stats s;
    qh_audit_compute(vb, vq, is_ppl ? tb : NULL, nb, isnan(chance) ? 0 : chance, c.claimed, 2000, c.seed, &s);
    double bpp_q = q_double(db, QH_Q_BPP_QUANTIZED, rq);
    double bpp_m = q_double(db, QH_Q_BPP_MODEL, rq);
    int bits_only = !(c.claimed > 0); /* a bit-count claim: the verdict is on the bytes, exact, no interval */
    if (bits_only) {
        if (isnan(bpp_q)) {
            qh_fail(err, "%s: the run of '%s' stored no bytes to count", db_path, c.method);
            goto out;
        }
        s.verdict = bpp_q <= c.claimed_bpp + QH_CLAIM_BPP_SLACK ? QH_VERDICT_SUPPORTED : QH_VERDICT_REFUTED;
        s.items_needed = 0;
    }
    /* warnings */
    char warn[2048] = "";
    size_t wl = 0;
#define WARN(...) (wl += (size_t)snprintf(warn + wl, sizeof warn - wl, "- " __VA_ARGS__), wl = wl < sizeof warn ? wl : sizeof warn - 1)
    if (!bits_only && s.reason[0]) WARN("verdict %s: %s\n", qh_verdict_name(s.verdict), s.reason);
    if (!is_ppl && !isnan(chance) && base_lo <= chance && chance <= base_hi)
        WARN("the baseline (%.4f interval [%.4f, %.4f]) cannot be told from chance (%.4f): 99%% of chance is not retention\n",
             base.value, base_lo, base_hi, chance);
    if (!is_ppl && !isnan(ppl_b) && !isnan(ppl_q) && ppl_b / ppl_q < 0.9 && s.retention >= c.claimed)
        WARN("perplexity degraded far more than accuracy: WikiText-2 perplexity %.1f -> %.1f (retention %.3f)\n", ppl_b, ppl_q, ppl_b / ppl_q);
    if (c.claimed_bpp > 0 && bpp_q > c.claimed_bpp + QH_CLAIM_BPP_SLACK) {
        char parts[512];
        bpp_parts_text(db, rq, parts, sizeof parts);
        WARN("claimed %.3f bpp, but the packed quantized weights take %.4f bpp: %s\n", c.claimed_bpp, bpp_q, parts);
    }
    if (c.claimed_bpp > 0 && bpp_m > c.claimed_bpp + 0.5)
        WARN("claimed %.3f bpp leaves out the unquantized tensors: the whole model takes %.4f bpp\n", c.claimed_bpp, bpp_m);
    /* pre-registration: the claim's text committed before the first result it judges existed */
    qh_registration reg = QH_REG_NOT_COMMITTED;
    char commit[41], why[200], note[256];
    long long committed_at = 0;
    if (c.is_inline) {
        snprintf(note, sizeof note, "not committed: given inline on the command line");
    } else if (qh_claim_git_origin(claim_path, commit, &committed_at, why, sizeof why) != 0) {
        snprintf(note, sizeof note, "not committed: %s", why);
    } else {
        sqlite3_stmt *fs;
        long long first = 0;
        if (sqlite3_prepare_v2(db,
                               QH_Q_FIRST_RESULT_TIME,
                               -1, &fs, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(fs, 1, rq);
            sqlite3_bind_text(fs, 2, c.task, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(fs) == SQLITE_ROW) first = sqlite3_column_int64(fs, 0);
            sqlite3_finalize(fs);
        }
        char tc[32], tf[32];
        qh_utc_format(committed_at, tc);
        qh_utc_format(first, tf);
        reg = first > 0 && committed_at > first ? QH_REG_POST_HOC : QH_REG_PRE_REGISTERED;
        snprintf(note, sizeof note, "%s: the claim file's last commit %.12s (%s) is %s the first result it judges (%s)",
                 qh_registration_name(reg), commit, tc, reg == QH_REG_POST_HOC ? "after" : "before", tf);
    }
    if (reg == QH_REG_POST_HOC) WARN("post hoc: the claim was committed after the results it judges existed; it is no test of a prediction\n");
    if (s.hi - s.lo > 2 * fabs(1 - c.claimed) && s.verdict == QH_VERDICT_INCONCLUSIVE)
        WARN("%ld items give an interval %.3f wide: too few to resolve a claim at %.3f\n", s.n, s.hi - s.lo, c.claimed);
    if (!warn[0]) snprintf(warn, sizeof warn, "- none\n");
    fprintf(out, "claim        %s: \"%s\" (%s, sha256 %.12s)\n", c.name, c.text, claim_path, sha);
    if (is_ppl)
        fprintf(out, "method       %s on %s; %s %s, %ld windows, paired bootstrap (%d resamples, seed %lu)\n", c.method, c.model, c.task,
                c.metric, s.n, s.draws, c.seed);
    else
        fprintf(out, "method       %s on %s; %s %s, %ld items (%ld where the runs disagree), Jeffreys-Dirichlet posterior of the paired table (%d draws, seed %lu)\n",
                c.method, c.model, c.task, c.metric, s.n, s.discordant, s.draws, c.seed);
    char claimed_bpp[32] = "-";
    if (c.claimed_bpp > 0) snprintf(claimed_bpp, sizeof claimed_bpp, "%.4g", c.claimed_bpp);
    fprintf(out, "bpp          claimed %s; measured %.4f (quantized weights), %.4f (whole model)\n", claimed_bpp, bpp_q, bpp_m);
    char interval[96];
    if (isfinite(s.lo) && isfinite(s.hi)) snprintf(interval, sizeof interval, "95%% CI [%.4f, %.4f]", s.lo, s.hi);
    else snprintf(interval, sizeof interval, "no interval (%ld windows; a bootstrap needs %d)", s.n, QH_MIN_RESAMPLING_UNITS);
    if (bits_only) fprintf(out, "retention    %.4f  %s  (no retention claimed)\n", s.retention, interval);
    else fprintf(out, "retention    %.4f  %s  (claimed >= %.4f)\n", s.retention, interval, c.claimed);
    /* chance-adjusted retention divides by the baseline's distance from chance: at chance it is noise over noise */
    if (!is_ppl && !s.baseline_at_chance)
        fprintf(out, "chance-adj.  %.4f  95%% CI [%.4f, %.4f]  (chance %.4f)\n", s.chance_adj, s.ca_lo, s.ca_hi, chance);
    else if (!is_ppl) fprintf(out, "chance-adj.  not shown: the baseline cannot be told from chance (%.4f)\n", chance);
    if (!bits_only && !isnan(s.p_value)) {
        char pv[48];
        if (s.p_value > 0) snprintf(pv, sizeof pv, "%.4g", s.p_value);
        else snprintf(pv, sizeof pv, "< %.2g (no draw of %d beyond)", 2.0 / s.draws, s.draws);
        fprintf(out, "p            %s  two-sided, of retention = %.4f (a claim set is judged with Holm's correction: qharness assessment)\n",
                pv, c.claimed);
    }
    fprintf(out, "registration %s\n", note);
    fprintf(out, "verdict      %s%s", qh_verdict_name(s.verdict), reg == QH_REG_POST_HOC ? " (post hoc)" : "");
    if (bits_only)
        fprintf(out, " (the bit count: the packed quantized weights take %.4f bpp, %+.4f against the %.4g claimed)", bpp_q,
                bpp_q - c.claimed_bpp, c.claimed_bpp);
    if (!bits_only && s.reason[0]) fprintf(out, ": %s", s.reason);
    if (s.verdict == QH_VERDICT_INCONCLUSIVE && s.items_needed > 0)
        fprintf(out, "; about %.0f %s would give an interval of +-%.2f (the minimum effect an audit resolves)", s.items_needed,
                is_ppl ? "windows" : "items", QH_AUDIT_MIN_EFFECT);
    fprintf(out, "\nwarnings\n%s", warn);
    if (bits_only) s.p_value = NAN;
    *record = (qh_audit_record){.experiment_id = exp, .baseline_run = rb, .quantized_run = rq, .stats = s, .registration = reg,
                                .claim_committed_at = committed_at};
    if (reg != QH_REG_NOT_COMMITTED) memcpy(record->claim_commit, commit, sizeof commit);
    snprintf(record->registration_note, sizeof record->registration_note, "%s", note);
    snprintf(record->warnings, sizeof record->warnings, "%s", warn);
    rc = 0;
out:
    if (db) sqlite3_close(db);
    free(vb);
    free(vq);
    free(tb);
    free(tq);
    return rc;
}
