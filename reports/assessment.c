/* assessment.c - HONEST_ASSESSMENT.md from the reviewer's template and the results store; see
 * assessment.h for the directives.  Nothing here measures: every number is read from SQLite
 * (ratios, shares and means are computed from stored numbers and say so in the template). */
#include "harness/run/claim.h"
#include "harness/base/stats.h"
#include "harness/run/store.h"
#include "methods/method.h"
#include "reports/assessment.h"

#include <cJSON.h>
#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/results.h"
#include "harness/run/queries.h"
#include "reports/plot.h"

#define MAX_ARGS 24

typedef struct {
    sqlite3 *db;
    const char *tpl;
    int line;
    FILE *out;
    qh_err *err;
    char noted[16][128]; /* partial experiments already noted */
    int n_noted;
} actx;

static int afail(actx *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int afail(actx *a, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qh_fail(a->err, "%s:%d: %s", a->tpl, a->line, msg);
}

static int prepare(actx *a, sqlite3_stmt **st, const char *sql)
{
    if (sqlite3_prepare_v2(a->db, sql, -1, st, NULL) != SQLITE_OK) return afail(a, "database: %s", sqlite3_errmsg(a->db));
    return 0;
}

static const char *text_or(sqlite3_stmt *st, int i, const char *dflt)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : dflt;
}

/* Splits s in place into words; "double quotes" group words.  Returns the count or -1. */
static int split_args(char *s, char **argv)
{
    int n = 0;
    while (*s) {
        while (isspace((unsigned char)*s)) s++;
        if (!*s) break;
        if (n == MAX_ARGS) return -1;
        if (*s == '"') {
            argv[n++] = ++s;
            while (*s && *s != '"') s++;
            if (*s != '"') return -1;
            *s++ = 0;
        } else {
            argv[n++] = s;
            while (*s && !isspace((unsigned char)*s)) s++;
            if (*s) *s++ = 0;
        }
    }
    return n;
}

static int is_fmt(const char *s)
{
    return s[0] == '.' && isdigit((unsigned char)s[1]) && (s[2] == 'f' || s[2] == 'g' || s[2] == '%') && s[3] == 0;
}

static void fmt_num(char *buf, size_t n, double v, const char *fmt)
{
    char tmp[400]; /* %.9f of 1e300 fits */
    int prec = fmt[1] - '0';
    if (!isfinite(v)) snprintf(tmp, sizeof tmp, "-");
    else if (fmt[2] == '%') snprintf(tmp, sizeof tmp, "%.*f%%", prec, 100 * v);
    else if (fmt[2] == 'g') snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    else snprintf(tmp, sizeof tmp, "%.*f", prec, v);
    size_t len = strlen(tmp);
    if (len >= n) len = n - 1;
    memcpy(buf, tmp, len);
    buf[len] = 0;
}

/* "[low, high]" */
static void fmt_interval(char *buf, size_t n, double lo, double hi, const char *fmt)
{
    char los[32], his[32];
    fmt_num(los, sizeof los, lo, fmt);
    fmt_num(his, sizeof his, hi, fmt);
    snprintf(buf, n, "[%s, %s]", los, his);
}

/* "value [low, high]" */
static void fmt_ci(char *buf, size_t n, double v, double lo, double hi, const char *fmt)
{
    char vs[32], interval[80];
    fmt_num(vs, sizeof vs, v, fmt);
    fmt_interval(interval, sizeof interval, lo, hi, fmt);
    snprintf(buf, n, "%s %s", vs, interval);
}

/* 161234 -> "161,234" */
static void fmt_int(char *buf, size_t n, long long v)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
    size_t len = strlen(digits), o = 0;
    if (v < 0 && o + 1 < n) buf[o++] = '-';
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        buf[o++] = digits[i];
        if ((len - i - 1) % 3 == 0 && i + 1 < len) buf[o++] = ',';
    }
    buf[o] = 0;
}

static const char *default_fmt(const char *metric) { return qh_metric_fmt(metric); }

static long long experiment_id(actx *a, const char *name)
{
    long long id = -1;
    if (qh_db_latest_experiment(a->db, name, &id) != 1) {
        afail(a, "no experiment '%s' in the database", name);
        return -1;
    }
    return id;
}

static long long run_id(actx *a, const char *exp_name, const char *label)
{
    long long exp = experiment_id(a, exp_name), id = -1;
    if (exp < 0) return -1;
    sqlite3_stmt *st;
    if (prepare(a, &st, QH_Q_RUN_BY_LABEL) != 0) return -1;
    sqlite3_bind_int64(st, 1, exp);
    sqlite3_bind_text(st, 2, label, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) afail(a, "experiment '%s' has no run labelled '%s'", exp_name, label);
    else if (strcmp(text_or(st, 1, ""), "done") != 0) afail(a, "run '%s' of '%s' is %s, not done", label, exp_name, text_or(st, 1, "?"));
    else id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

/* "task:metric" -> "task metric" (the key of QH_Q_RESULT_CELL) and the metric. */
static int column_key(actx *a, const char *col, char *key, size_t n, const char **metric)
{
    const char *colon = strrchr(col, ':');
    if (!colon || colon == col || !colon[1]) return afail(a, "'%s' is not TASK:METRIC (e.g. ppl.wikitext2-test:ppl, mmlu:acc)", col);
    snprintf(key, n, "%.*s %s", (int)(colon - col), col, colon + 1);
    *metric = colon + 1;
    return 0;
}

static int metric_cell(actx *a, const char *exp_name, const char *label, const char *col, qh_metric_cell *cell, const char **metric)
{
    char key[160];
    if (column_key(a, col, key, sizeof key, metric) != 0) return -1;
    long long run = run_id(a, exp_name, label);
    if (run < 0) return -1;
    sqlite3_stmt *mt;
    if (prepare(a, &mt, QH_Q_RESULT_CELL) != 0) return -1;
    int found = qh_results_cell(mt, run, key, cell);
    sqlite3_finalize(mt);
    if (!found) return afail(a, "run '%s' of '%s' has no metric %s", label, exp_name, col);
    return 0;
}

static int want_args(actx *a, int argc, int lo, int hi, const char *usage)
{
    if (argc < lo || argc > hi) return afail(a, "{{%s}} takes %s", usage, usage);
    return 0;
}

/* A column of one row of SQL bound to (id); NAN when missing or NULL. */
static double sql_double(actx *a, const char *sql, long long id, int col)
{
    sqlite3_stmt *st;
    double v = NAN;
    if (prepare(a, &st, sql) != 0) return NAN;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, col) != SQLITE_NULL) v = sqlite3_column_double(st, col);
    sqlite3_finalize(st);
    return v;
}

static int model_field(actx *a, const char *exp_name, const char *field, char *buf, size_t n)
{
    long long exp = experiment_id(a, exp_name);
    if (exp < 0) return -1;
    sqlite3_stmt *st;
    int rc = -1;
    if (prepare(a, &st, QH_Q_MODELS_OF_EXPERIMENT) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, exp);
    if (sqlite3_step(st) != SQLITE_ROW) {
        afail(a, "experiment '%s' has no runs", exp_name);
        goto out;
    }
    long long params = sqlite3_column_int64(st, 2), embd = sqlite3_column_int64(st, 7) * sqlite3_column_int64(st, 5);
    static const char *names[] = {"path", "sha256", "parameters", "n_layer", "n_head", "n_embd", "n_ctx", "n_vocab", "dtype"};
    rc = 0;
    if (strcmp(field, "embedding_params") == 0) fmt_int(buf, n, embd);
    else if (strcmp(field, "embedding_share") == 0) fmt_num(buf, n, (double)embd / (double)params, ".0%");
    else {
        int i = 0;
        while (i < 9 && strcmp(field, names[i]) != 0) i++;
        if (i == 9) rc = afail(a, "{{model}}: no field '%s' (path, sha256, parameters, n_layer, n_head, n_embd, n_ctx, n_vocab, dtype, "
                                  "embedding_params, embedding_share)", field);
        else if (i >= 2 && i <= 7) fmt_int(buf, n, sqlite3_column_int64(st, i));
        else if (i == 0) qh_display_path(text_or(st, 0, "-"), buf, n);
        else snprintf(buf, n, "%s", text_or(st, i, "-"));
    }
    if (rc == 0 && sqlite3_step(st) == SQLITE_ROW) rc = afail(a, "experiment '%s' has several models; {{model}} needs one", exp_name);
out:
    sqlite3_finalize(st);
    return rc;
}

static int experiment_field(actx *a, const char *exp_name, const char *field, const char *fmt, char *buf, size_t n)
{
    long long exp = experiment_id(a, exp_name);
    if (exp < 0) return -1;
    sqlite3_stmt *st;
    if (prepare(a, &st, QH_Q_EXPERIMENT_SUMMARY) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, exp);
    int rc = 0;
    sqlite3_step(st);
    if (strcmp(field, "runs") == 0) fmt_int(buf, n, sqlite3_column_int64(st, 0));
    else if (strcmp(field, "done") == 0) fmt_int(buf, n, sqlite3_column_int64(st, 1));
    else if (strcmp(field, "failed") == 0) fmt_int(buf, n, sqlite3_column_int64(st, 2));
    else if (strcmp(field, "sha256") == 0) snprintf(buf, n, "%s", text_or(st, 3, "-"));
    else if (strcmp(field, "commit") == 0) snprintf(buf, n, "%s", text_or(st, 4, "unknown"));
    else if (strcmp(field, "seconds") == 0) fmt_num(buf, n, sqlite3_column_double(st, 5), fmt ? fmt : ".0f");
    else if (strcmp(field, "started") == 0) snprintf(buf, n, "%s", text_or(st, 6, "-"));
    else if (strcmp(field, "finished") == 0) snprintf(buf, n, "%s", text_or(st, 7, "not finished"));
    else rc = afail(a, "{{experiment}}: no field '%s' (runs, done, failed, sha256, commit, seconds, started, finished)", field);
    sqlite3_finalize(st);
    return rc;
}

static int holm_family(actx *a, long long **ids, int **holds, int *n_rows);

/* One field of a row of QH_Q_AUDIT_ROWS (queries.h), formatted. */
static int audit_format(actx *a, sqlite3_stmt *st, const char *field, const char *fmt, char *buf, size_t n)
{
    const char *f3 = fmt ? fmt : ".3f";
#define COL_D(i) (sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i))
    if (strcmp(field, "text") == 0) snprintf(buf, n, "%s", text_or(st, 0, "-"));
    else if (strcmp(field, "method") == 0) snprintf(buf, n, "%s", text_or(st, 1, "-"));
    else if (strcmp(field, "task") == 0) snprintf(buf, n, "%s", text_or(st, 2, "-"));
    else if (strcmp(field, "metric") == 0) snprintf(buf, n, "%s", text_or(st, 3, "-"));
    else if (strcmp(field, "claimed") == 0) fmt_num(buf, n, COL_D(4), fmt ? fmt : ".2f");
    else if (strcmp(field, "claimed_bpp") == 0) {
        if (isnan(COL_D(5))) snprintf(buf, n, "not stated");
        else fmt_num(buf, n, COL_D(5), fmt ? fmt : ".4g");
    } else if (strcmp(field, "retention") == 0) fmt_num(buf, n, COL_D(6), f3);
    else if (strcmp(field, "ci") == 0 || strcmp(field, "ca_ci") == 0) {
        int base = strcmp(field, "ci") == 0 ? 7 : 10;
        fmt_interval(buf, n, COL_D(base), COL_D(base + 1), f3);
    } else if (strcmp(field, "chance_adjusted") == 0) fmt_num(buf, n, COL_D(9), f3);
    else if (strcmp(field, "verdict") == 0) snprintf(buf, n, "%s", text_or(st, 12, "-"));
    else if (strcmp(field, "items_needed") == 0) {
        if (isnan(COL_D(13)) || strcmp(text_or(st, 12, ""), "INCONCLUSIVE") != 0) snprintf(buf, n, "-");
        else if (!(COL_D(13) > 0)) snprintf(buf, n, "-"); /* no count of items decides it: the verdict's reason says why */
        else fmt_int(buf, n, llround(COL_D(13)));
    } else if (strcmp(field, "n") == 0) fmt_int(buf, n, sqlite3_column_int64(st, 14));
    else if (strcmp(field, "p") == 0) {
        if (isnan(COL_D(21))) snprintf(buf, n, "-");
        else if (COL_D(21) < 1e-3) snprintf(buf, n, "< 0.001"); /* 2000-4000 draws resolve no finer */
        else fmt_num(buf, n, COL_D(21), fmt ? fmt : ".4f");
    } else if (strcmp(field, "registration") == 0) snprintf(buf, n, "%s", text_or(st, 22, "not recorded"));
    else if (strcmp(field, "discordant") == 0) {
        if (sqlite3_column_type(st, 23) == SQLITE_NULL) snprintf(buf, n, "-");
        else fmt_int(buf, n, sqlite3_column_int64(st, 23));
    }
    else if (strcmp(field, "holm") == 0) { /* the verdict once the claim set is judged with Holm's correction */
        long long *ids;
        int *holds, n_rows;
        if (holm_family(a, &ids, &holds, &n_rows) < 0) return -1;
        snprintf(buf, n, "-");
        for (int i = 0; i < n_rows; i++)
            if (ids[i] == sqlite3_column_int64(st, 24))
                snprintf(buf, n, "%s", holds[i] < 0 ? "- (exact: bits)" : holds[i] ? text_or(st, 12, "-") : "INCONCLUSIVE");
        free(ids);
        free(holds);
    }
    else if (strcmp(field, "bpp_scope") == 0) fmt_num(buf, n, COL_D(15), fmt ? fmt : ".4f");
    else if (strcmp(field, "bpp_model") == 0) fmt_num(buf, n, COL_D(16), fmt ? fmt : ".2f");
    else if (strcmp(field, "baseline") == 0 || strcmp(field, "quantized") == 0) {
        const char *metric = text_or(st, 3, "");
        fmt_num(buf, n, COL_D(strcmp(field, "baseline") == 0 ? 17 : 18), fmt ? fmt : default_fmt(metric));
    } else
        return afail(a, "{{audit}}: no field '%s' (text, method, task, metric, claimed, claimed_bpp, retention, ci, chance_adjusted, "
                        "ca_ci, verdict, holm, items_needed, n, p, registration, discordant, bpp_scope, bpp_model, baseline, quantized)", field);
#undef COL_D
    return 0;
}

static int audit_field(actx *a, const char *claim, const char *field, const char *fmt, char *buf, size_t n)
{
    sqlite3_stmt *st;
    if (prepare(a, &st, QH_Q_LATEST_AUDIT_OF_CLAIM) != 0) return -1;
    sqlite3_bind_text(st, 1, claim, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_ROW
                 ? audit_format(a, st, field, fmt, buf, n)
                 : afail(a, "no audit of claim '%s' in the database (run qharness audit experiments/claims/%s.ini)", claim, claim);
    sqlite3_finalize(st);
    return rc;
}

/* {{best EXP CLAIM qharness|llama.cpp}}: the best run of EXP of that side (llama.cpp: the GGUF
 * files, family 'llama.cpp'; qharness: every other method) at or below the claim's bpp on
 * its task and metric (perplexity: lowest; accuracies: highest) */
static int best_at_claim(actx *a, const char *exp_name, const char *claim, const char *side, char *buf, size_t n)
{
    int llama = strcmp(side, "llama.cpp") == 0;
    if (!llama && strcmp(side, "qharness") != 0) return afail(a, "{{best}}: the side is qharness or llama.cpp, not '%s'", side);
    sqlite3_stmt *st;
    char sql[1400];
    if (prepare(a, &st, QH_Q_LATEST_AUDIT_OF_CLAIM) != 0) return -1;
    sqlite3_bind_text(st, 1, claim, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return afail(a, "no audit of claim '%s' in the database", claim);
    }
    char task[128], metric[64];
    snprintf(task, sizeof task, "%s", text_or(st, 2, ""));
    snprintf(metric, sizeof metric, "%s", text_or(st, 3, ""));
    double bound = sqlite3_column_type(st, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 5);
    sqlite3_finalize(st);
    if (isnan(bound)) return snprintf(buf, n, "no claimed bpp to compare at"), 0;
    char ids[256] = "", names[256];
    snprintf(names, sizeof names, "%s", exp_name);
    char *save;
    for (char *e = strtok_r(names, ",", &save); e; e = strtok_r(NULL, ",", &save)) { /* EXP may be a comma list */
        long long exp = experiment_id(a, e);
        if (exp < 0) return -1;
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%lld", ids[0] ? "," : "", exp);
    }
    int lower_better = qh_metric_lower_is_better(metric);
    snprintf(sql, sizeof sql,
             QH_Q_BEST_AT_BPP_FMT,
             ids, lower_better ? "ASC" : "DESC");
    if (prepare(a, &st, sql) != 0) return -1;
    sqlite3_bind_int(st, 1, llama);
    sqlite3_bind_double(st, 2, bound * (1 + 1e-12));
    sqlite3_bind_text(st, 3, task, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, metric, -1, SQLITE_TRANSIENT);
    char b[32], v[32], ci[80];
    fmt_num(b, sizeof b, bound, ".4g");
    if (sqlite3_step(st) == SQLITE_ROW) {
        char bb[32];
        fmt_num(bb, sizeof bb, sqlite3_column_double(st, 1), ".4f");
        fmt_num(v, sizeof v, sqlite3_column_double(st, 2), default_fmt(metric));
        fmt_interval(ci, sizeof ci, sqlite3_column_double(st, 3), sqlite3_column_double(st, 4), default_fmt(metric));
        snprintf(buf, n, "`%s` at %s bpp, %s:%s %s %s", text_or(st, 0, "?"), bb, task, metric, v, ci);
    } else {
        snprintf(buf, n, "none at or below %s bpp with %s:%s in experiment `%s`", b, task, metric, exp_name);
    }
    sqlite3_finalize(st);
    return 0;
}

/* ---- inline directives: one function each, argv[0] the directive's name, fmt its optional last
 * word (a printf format) or NULL; the table below checks the count of words first ---------- */

static int d_best(actx *a, int argc, char **argv, const char *fmt, char *buf, size_t n)
{
    return best_at_claim(a, argv[1], argv[2], argv[3], buf, n);
}

/* v, ci, n, chance: a stored metric's value, interval, item count, chance level */
static int d_metric(actx *a, int argc, char **argv, const char *fmt, char *buf, size_t n)
{
    const char *kind = argv[0], *metric = "";
    qh_metric_cell c;
    if (metric_cell(a, argv[1], argv[2], argv[3], &c, &metric) != 0) return -1;
    const char *f = fmt ? fmt : default_fmt(metric);
    if (kind[0] == 'v') fmt_num(buf, n, c.value, f);
    else if (kind[0] == 'n') fmt_int(buf, n, c.n);
    else if (kind[0] == 'c' && kind[1] == 'h') {
        if (!c.has_chance) return afail(a, "%s of run '%s' has no chance level", argv[3], argv[2]);
        fmt_num(buf, n, c.chance, f);
    } else {
        if (!c.has_ci) return afail(a, "%s of run '%s' has no interval", argv[3], argv[2]);
        fmt_ci(buf, n, c.value, c.lo, c.hi, f);
    }
    return 0;
}

static int d_ratio(actx *a, int argc, char **argv, const char *fmt, char *buf, size_t n)
{
    qh_metric_cell c, d;
    const char *metric = "";
    if (metric_cell(a, argv[1], argv[2], argv[4], &c, &metric) != 0 || metric_cell(a, argv[1], argv[3], argv[4], &d, &metric) != 0)
        return -1;
    fmt_num(buf, n, c.value / d.value, fmt ? fmt : ".2f");
    return 0;
}

static int d_bpp(actx *a, int argc, char **argv, const char *fmt, char *buf, size_t n)
{
    int whole = strcmp(argv[3], "model") == 0;
    if (!whole && strcmp(argv[3], "scope") != 0) return afail(a, "{{bpp}}: '%s' is neither scope nor model", argv[3]);
    long long run = run_id(a, argv[1], argv[2]);
    if (run < 0) return -1;
    double v = sql_double(a, QH_Q_RUN_BPP, run, whole);
    if (isnan(v)) return afail(a, "run '%s' of '%s' has no %s bpp (nothing quantized?)", argv[2], argv[1], argv[3]);
    fmt_num(buf, n, v, fmt ? fmt : ".3f");
    return 0;
}

/* rel-error, seconds, quantize-seconds of one run */
static int d_run_number(actx *a, int argc, char **argv, const char *fmt, char *buf, size_t n)
{
    const char *kind = argv[0];
    long long run = run_id(a, argv[1], argv[2]);
    if (run < 0) return -1;
    const char *sql = kind[0] == 'r' ? QH_Q_RUN_MEAN_REL_ERROR
                      : kind[0] == 's' ? QH_Q_RUN_SECONDS
                                       : QH_Q_RUN_QUANTIZE_SECONDS;
    double v = sql_double(a, sql, run, 0);
    if (isnan(v)) return afail(a, "run '%s' of '%s' has no stored %s", argv[2], argv[1], kind);
    fmt_num(buf, n, v, fmt ? fmt : kind[0] == 'r' ? ".3f" : ".1f");
    return 0;
}

static int d_model(actx *a, int argc, char **argv, const char *fmt, char *buf, size_t n) { return model_field(a, argv[1], argv[2], buf, n); }

static int d_experiment(actx *a, int argc, char **argv, const char *fmt, char *buf, size_t n)
{
    return experiment_field(a, argv[1], argv[2], fmt, buf, n);
}

static int d_audit(actx *a, int argc, char **argv, const char *fmt, char *buf, size_t n)
{
    return audit_field(a, argv[1], argv[2], fmt, buf, n);
}

/* ---- block directives ------------------------------------------------------------------- */

static int block_provenance(actx *a)
{
    sqlite3_stmt *st;
    if (prepare(a, &st, QH_Q_PROVENANCE_EXPERIMENTS) != 0)
        return -1;
    fprintf(a->out, "| experiment | file, sha256 | harness, git commit | host | started, finished | runs done |\n|---|---|---|---|---|---|\n");
    while (sqlite3_step(st) == SQLITE_ROW)
        fprintf(a->out, "| %s | `%s`, `%.16s` | %s, `%.12s` | %s | %s, %s | %d of %d |\n", text_or(st, 0, "-"), text_or(st, 1, "-"),
                text_or(st, 2, "-"), text_or(st, 3, "-"), text_or(st, 4, "-"), text_or(st, 5, "-"), text_or(st, 6, "-"),
                text_or(st, 7, "-"), sqlite3_column_int(st, 9), sqlite3_column_int(st, 8));
    sqlite3_finalize(st);
    if (prepare(a, &st, QH_Q_PROVENANCE_MODELS) != 0) return -1;
    fprintf(a->out, "\n");
    while (sqlite3_step(st) == SQLITE_ROW) {
        char params[32], shown[4096];
        fmt_int(params, sizeof params, sqlite3_column_int64(st, 2));
        qh_display_path(text_or(st, 0, "-"), shown, sizeof shown);
        fprintf(a->out, "- model `%s`: %s parameters, sha256 `%s`\n", shown, params, text_or(st, 1, "-"));
    }
    sqlite3_finalize(st);
    if (prepare(a, &st, QH_Q_PROVENANCE_DATASETS) != 0)
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW)
        fprintf(a->out, "- data `%s`: sha256 `%s`%s\n", text_or(st, 0, "-"), text_or(st, 1, "-"),
                sqlite3_column_int(st, 2) > 1 ? " (and other versions: the data changed between experiments)" : "");
    sqlite3_finalize(st);
    return 0;
}

static int block_table(actx *a, int argc, char **argv)
{
    if (argc < 3) return afail(a, "{{table EXP TASK:METRIC[:v] ...}} needs an experiment and at least one column");
    long long exp = experiment_id(a, argv[1]);
    if (exp < 0) return -1;
    int ncol = argc - 2;
    char keys[MAX_ARGS][160];
    const char *metrics[MAX_ARGS];
    int value_only[MAX_ARGS];
    for (int c = 0; c < ncol; c++) {
        char col[160];
        snprintf(col, sizeof col, "%s", argv[c + 2]);
        size_t len = strlen(col);
        value_only[c] = len > 2 && strcmp(col + len - 2, ":v") == 0;
        if (value_only[c]) col[len - 2] = 0;
        if (column_key(a, col, keys[c], sizeof keys[c], &metrics[c]) != 0) return -1;
        metrics[c] = strrchr(keys[c], ' ') + 1;
    }
    fprintf(a->out, "| run | configuration | bpp (quantized tensors) | bpp (whole model) |");
    for (int c = 0; c < ncol; c++) fprintf(a->out, " %s |", keys[c]);
    fprintf(a->out, "\n|---|---|---|---|");
    for (int c = 0; c < ncol; c++) fprintf(a->out, "---|");
    fprintf(a->out, "\n");
    sqlite3_stmt *st = NULL, *mt = NULL;
    int rc = -1;
    if (prepare(a, &st, QH_Q_RUNS_WITH_BPP) != 0 ||
        prepare(a, &mt, QH_Q_RESULT_CELL) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, exp);
    long n_of[MAX_ARGS] = {0};
    int hidden = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char bq[32] = "-", bm[32] = "-";
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) fmt_num(bq, sizeof bq, sqlite3_column_double(st, 4), ".3f");
        if (sqlite3_column_type(st, 5) != SQLITE_NULL) fmt_num(bm, sizeof bm, sqlite3_column_double(st, 5), ".2f");
        const char *status = text_or(st, 3, "?");
        fprintf(a->out, "| %s%s%s | `", text_or(st, 1, "-"), strcmp(status, "done") ? " — " : "", strcmp(status, "done") ? status : "");
        qh_md_cell(a->out, text_or(st, 2, "-"));
        fprintf(a->out, "` | %s | %s |", bq, bm);
        for (int c = 0; c < ncol; c++) {
            qh_metric_cell m;
            char cell[128] = "-";
            if (qh_results_cell(mt, sqlite3_column_int64(st, 0), keys[c], &m)) {
                const char *f = default_fmt(metrics[c]);
                if (value_only[c] || !m.has_ci) fmt_num(cell, sizeof cell, m.value, f);
                else fmt_ci(cell, sizeof cell, m.value, m.lo, m.hi, f);
                if (m.n > n_of[c]) n_of[c] = m.n;
                hidden |= m.ci_hidden && !value_only[c];
            }
            fprintf(a->out, " %s |", cell);
        }
        fprintf(a->out, "\n");
    }
    fprintf(a->out, "| *tokens or items* | | | |");
    for (int c = 0; c < ncol; c++) {
        char num[32];
        fmt_int(num, sizeof num, n_of[c]);
        fprintf(a->out, " %s |", num);
    }
    fprintf(a->out, "\n");
    if (hidden)
        fprintf(a->out, "\nPerplexity and KL intervals are not shown where they would rest on fewer than %d windows (a bootstrap "
                        "over so few is as narrow as those windows happen to agree).\n", QH_MIN_RESAMPLING_UNITS);
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(mt);
    return rc;
}

static int block_chance_check(actx *a, int argc, char **argv)
{
    if (argc != 2) return afail(a, "{{chance-check EXP}} takes one experiment");
    long long exp = experiment_id(a, argv[1]);
    if (exp < 0) return -1;
    sqlite3_stmt *st;
    if (prepare(a, &st, QH_Q_BASELINE_CHANCE_CI) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, exp);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        double v = sqlite3_column_double(st, 2), lo = sqlite3_column_double(st, 3), hi = sqlite3_column_double(st, 4);
        double ch = sqlite3_column_double(st, 5);
        char vci[128], chs[32], ns[32];
        fmt_ci(vci, sizeof vci, v, lo, hi, ".3f");
        fmt_num(chs, sizeof chs, ch, ".3f");
        fmt_int(ns, sizeof ns, sqlite3_column_int64(st, 6));
        const char *verdict = lo > ch ? "above chance" : hi < ch ? "**below** chance" : "**cannot be told from chance**";
        fprintf(a->out, "- %s %s: %s on %s items, chance %s: %s\n", text_or(st, 0, "-"), text_or(st, 1, "-"), vci, ns, chs, verdict);
        rows++;
    }
    sqlite3_finalize(st);
    if (!rows) return afail(a, "experiment '%s' has no baseline accuracy with an interval and a chance level", argv[1]);
    return 0;
}

/* The letter each run puts first for most questions, and how often that letter is the answer:
 * when a run always picks one letter, its lettered accuracy is the share of that letter. */
static int block_letter_bias(actx *a, int argc, char **argv)
{
    if (argc != 3) return afail(a, "{{letter-bias EXP TASK}} takes an experiment and a task");
    long long exp = experiment_id(a, argv[1]);
    if (exp < 0) return -1;
    sqlite3_stmt *runs = NULL, *items = NULL;
    int rc = -1, shown = 0;
    if (prepare(a, &runs, QH_Q_RUNS_LETTER_ACC) != 0 ||
        prepare(a, &items, QH_Q_ITEM_DETAILS) != 0)
        goto out;
    sqlite3_bind_int64(runs, 1, exp);
    sqlite3_bind_text(runs, 2, argv[2], -1, SQLITE_TRANSIENT);
    fprintf(a->out, "| run | letter chosen most | chosen for | questions whose answer is that letter | acc_letter |\n|---|---|---|---|---|\n");
    while (sqlite3_step(runs) == SQLITE_ROW) {
        long picked[26] = {0}, gold[26] = {0}, total = 0;
        sqlite3_reset(items);
        sqlite3_bind_int64(items, 1, sqlite3_column_int64(runs, 0));
        sqlite3_bind_text(items, 2, argv[2], -1, SQLITE_TRANSIENT);
        while (sqlite3_step(items) == SQLITE_ROW) {
            cJSON *d = cJSON_Parse(text_or(items, 1, ""));
            const cJSON *ll = cJSON_GetObjectItem(d, "ll"), *letters = cJSON_GetObjectItem(d, "letter_ll");
            int k = cJSON_GetArraySize(letters);
            if (!cJSON_IsArray(letters) || !cJSON_IsArray(ll) || k < 2 || k > 26 || cJSON_GetArraySize(ll) != k) {
                cJSON_Delete(d);
                afail(a, "items of task '%s' carry no per-letter log-likelihoods", argv[2]);
                goto out;
            }
            /* the gold choice is the one whose stored log-likelihood is the item's value */
            double value = sqlite3_column_double(items, 0), best = -INFINITY, gap = INFINITY;
            int pick = 0, g = -1;
            for (int i = 0; i < k; i++) {
                double l = cJSON_GetArrayItem(letters, i)->valuedouble, c = cJSON_GetArrayItem(ll, i)->valuedouble;
                if (l > best) best = l, pick = i;
                if (fabs(c - value) < gap) gap = fabs(c - value), g = i;
            }
            cJSON_Delete(d);
            picked[pick]++;
            if (g >= 0 && gap < 1e-4) gold[g]++;
            total++;
        }
        if (total == 0) continue;
        int top = 0;
        for (int i = 1; i < 26; i++)
            if (picked[i] > picked[top]) top = i;
        char share[16], gshare[16], acc[16], ns[32];
        fmt_num(share, sizeof share, (double)picked[top] / (double)total, ".1%");
        fmt_num(gshare, sizeof gshare, (double)gold[top] / (double)total, ".1%");
        fmt_num(acc, sizeof acc, sqlite3_column_type(runs, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(runs, 2), ".1%");
        fmt_int(ns, sizeof ns, total);
        fprintf(a->out, "| %s | %c | %s of %s | %s | %s |\n", text_or(runs, 1, "-"), 'A' + top, share, ns, gshare, acc);
        shown++;
    }
    if (!shown) {
        afail(a, "experiment '%s' has no items of task '%s'", argv[1], argv[2]);
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(runs);
    sqlite3_finalize(items);
    return rc;
}

static int block_pareto(actx *a, int argc, char **argv)
{
    if (argc != 3) return afail(a, "{{pareto EXP TASK:METRIC}} takes an experiment and a column");
    char key[160];
    const char *metric = "";
    if (column_key(a, argv[2], key, sizeof key, &metric) != 0) return -1;
    long long exp = experiment_id(a, argv[1]);
    if (exp < 0) return -1;
    qh_plot_point pts[256];
    char labels[256][96];
    int front[256], n, nf = qh_pareto_runs(a->db, exp, key, 256, pts, labels, front, &n);
    if (nf < 0) return afail(a, "database: %s", sqlite3_errmsg(a->db));
    if (!n) return afail(a, "experiment '%s' has no quantized run with %s", argv[1], argv[2]);
    for (int k = 0; k < nf; k++) {
        char b[32], v[32];
        fmt_num(b, sizeof b, pts[front[k]].bpp, ".3f");
        fmt_num(v, sizeof v, pts[front[k]].value, default_fmt(metric));
        fprintf(a->out, "- %s: %s bpp, %s %s\n", labels[front[k]], b, key, v);
    }
    return 0;
}

/* Holm's correction over the claim set (the latest audit of every claim): the claims on a
 * retained fraction are the family; a claim where no test was made (baseline at chance, too
 * few discordant items) counts in it with p = 1; bit-count claims are exact and stay out.
 * ids/holds: the audits' ids and whether Holm keeps each one's verdict; returns m. */
static int holm_family(actx *a, long long **ids, int **holds, int *n_rows)
{
    sqlite3_stmt *st;
    if (prepare(a, &st, QH_Q_LATEST_AUDIT_P) != 0)
        return -1;
    int n = 0, cap = 16, m = 0;
    *ids = qh_malloc((size_t)cap * sizeof(long long));
    double *p = qh_malloc((size_t)cap * sizeof(double));
    int *in_family = qh_malloc((size_t)cap * sizeof(int));
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap *= 2;
            *ids = qh_realloc(*ids, (size_t)cap * sizeof(long long));
            p = qh_realloc(p, (size_t)cap * sizeof(double));
            in_family = qh_realloc(in_family, (size_t)cap * sizeof(int));
        }
        (*ids)[n] = sqlite3_column_int64(st, 0);
        in_family[n] = sqlite3_column_double(st, 1) > 0;
        p[n] = sqlite3_column_type(st, 2) == SQLITE_NULL ? 1.0 : sqlite3_column_double(st, 2);
        m += in_family[n];
        n++;
    }
    sqlite3_finalize(st);
    double *fp = qh_malloc((size_t)(m ? m : 1) * sizeof(double));
    int *fr = qh_malloc((size_t)(m ? m : 1) * sizeof(int));
    for (int i = 0, k = 0; i < n; i++)
        if (in_family[i]) fp[k++] = p[i];
    qh_holm(fp, m, QH_AUDIT_FAMILY_ALPHA, fr);
    *holds = qh_malloc((size_t)(n ? n : 1) * sizeof(int));
    for (int i = 0, k = 0; i < n; i++) (*holds)[i] = in_family[i] ? fr[k++] : -1; /* -1: not in the family */
    free(fp);
    free(fr);
    free(p);
    free(in_family);
    *n_rows = n;
    return m;
}

static int block_audits(actx *a)
{
    long long *holm_ids = NULL;
    int *holds = NULL, n_holm = 0;
    int m = holm_family(a, &holm_ids, &holds, &n_holm);
    if (m < 0) return -1;
    sqlite3_stmt *st;
    if (prepare(a, &st, QH_Q_LATEST_AUDITS) != 0) {
        free(holm_ids);
        free(holds);
        return -1;
    }
    fprintf(a->out, "| claim | method | bpp claimed / quantized tensors / whole model | task, metric, shots, n (discordant) | retention [95%% CI] "
                    "(claimed) | chance-adjusted [95%% CI] | p | verdict | with Holm (m = %d, family 0.05) | registration | items for +-0.01 |\n"
                    "|---|---|---|---|---|---|---|---|---|---|---|\n", m);
    int rows = 0;
    char *warnings = NULL;
    size_t wlen = 0;
    FILE *w = open_memstream(&warnings, &wlen);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char cb[32], bq[32], bm[32], ret[32], ci[128], claimed[32], ca[192] = "-", ns[32], need[32], pv[32], reg[64], disc[32];
        audit_format(a, st, "claimed_bpp", NULL, cb, sizeof cb);
        audit_format(a, st, "bpp_scope", NULL, bq, sizeof bq);
        audit_format(a, st, "bpp_model", NULL, bm, sizeof bm);
        audit_format(a, st, "retention", NULL, ret, sizeof ret);
        audit_format(a, st, "ci", NULL, ci, sizeof ci);
        audit_format(a, st, "claimed", NULL, claimed, sizeof claimed);
        audit_format(a, st, "n", NULL, ns, sizeof ns);
        audit_format(a, st, "items_needed", NULL, need, sizeof need);
        audit_format(a, st, "p", NULL, pv, sizeof pv);
        audit_format(a, st, "registration", NULL, reg, sizeof reg);
        audit_format(a, st, "discordant", NULL, disc, sizeof disc);
        if (strstr(text_or(st, 19, ""), "cannot be told from chance")) {
            snprintf(ca, sizeof ca, "- (baseline at chance: no meaning)"); /* (q - c) / (b - c) with b - c about 0 */
        } else if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
            char c0[32], c1[128];
            audit_format(a, st, "chance_adjusted", NULL, c0, sizeof c0);
            audit_format(a, st, "ca_ci", NULL, c1, sizeof c1);
            snprintf(ca, sizeof ca, "%s %s", c0, c1);
        }
        const char *verdict = text_or(st, 12, "-");
        const char *holm = "-";
        for (int i = 0; i < n_holm; i++)
            if (holm_ids[i] == sqlite3_column_int64(st, 24))
                holm = holds[i] < 0 ? "- (exact: bits)" : holds[i] ? verdict : "INCONCLUSIVE";
        fprintf(a->out, "| **%s**: \"", text_or(st, 20, "-"));
        qh_md_cell(a->out, text_or(st, 0, "-"));
        fprintf(a->out, "\" | `");
        qh_md_cell(a->out, text_or(st, 1, "-"));
        char claim_cell[64], nd[96];
        if (sqlite3_column_double(st, 4) > 0) snprintf(claim_cell, sizeof claim_cell, "(>= %s)", claimed);
        else snprintf(claim_cell, sizeof claim_cell, "(none claimed: the verdict is on the bits)");
        /* the protocol's shots, as the stored protocol of the baseline's metric states them */
        char shots[24] = "";
        const char *proto = text_or(st, 25, ""), *sh = strstr(proto, "-shot");
        if (sqlite3_column_double(st, 4) > 0 && strcmp(text_or(st, 3, ""), "ppl") != 0) {
            const char *d = sh;
            while (d && d > proto && d[-1] >= '0' && d[-1] <= '9') d--;
            snprintf(shots, sizeof shots, "%.*s-shot, ", sh && d < sh ? (int)(sh - d) : 1, sh && d < sh ? d : "0");
        }
        if (strcmp(disc, "-") != 0) snprintf(nd, sizeof nd, "%s%s (%s)", shots, ns, disc);
        else snprintf(nd, sizeof nd, "%s%s", shots, ns);
        fprintf(a->out, "` | %s / %s / %s | %s %s, %s | %s %s %s | %s | %s | %s%s | %s | %s | %s |\n", cb, bq, bm, text_or(st, 2, "-"),
                text_or(st, 3, "-"), nd, ret, ci, claim_cell, ca, pv, verdict, strcmp(reg, "post hoc") == 0 ? " (post hoc)" : "", holm,
                reg, need);
        /* the stored warnings, one "- ..." line each */
        fprintf(w, "- **%s**:\n", text_or(st, 20, "-"));
        const char *p = text_or(st, 19, "- none\n");
        while (*p) {
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len) fprintf(w, "  %.*s\n", (int)len, p);
            p += len + (e != NULL);
        }
        rows++;
    }
    sqlite3_finalize(st);
    fclose(w);
    free(holm_ids);
    free(holds);
    if (rows) fprintf(a->out, "\nWarnings raised by the audits:\n\n%s", warnings);
    free(warnings);
    if (!rows) return afail(a, "no audits in the database (run qharness audit experiments/claims/NAME.ini)");
    return 0;
}

/* ---- the template ----------------------------------------------------------------------- */

/* A number typed into the prose would go stale with the next sweep: refuse it.  Digits that
 * belong to a word (GPT-2, F16, 4-bit, wikitext2) and anything in `code` are names. */
static int check_prose(actx *a, const char *s, size_t len, int *in_code, int line_start)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '`') {
            *in_code = !*in_code;
            continue;
        }
        if (*in_code || !isdigit((unsigned char)s[i])) continue;
        char prev = i > 0 ? s[i - 1] : ' ';
        int word = isalnum((unsigned char)prev) || prev == '_' || prev == '.' ||
                   (prev == '-' && i >= 2 && isalpha((unsigned char)s[i - 2]));
        size_t j = i;
        while (j < len && (isdigit((unsigned char)s[j]) || ((s[j] == '.' || s[j] == ',') && j + 1 < len && isdigit((unsigned char)s[j + 1]))))
            j++;
        char next = j < len ? s[j] : ' ';
        if (isalpha((unsigned char)next) || next == '_' || (next == '-' && j + 1 < len && isalpha((unsigned char)s[j + 1]))) word = 1;
        /* "1. " at the start of a line is a Markdown list */
        if (line_start && !word && next == '.' && (j + 1 >= len || s[j + 1] == ' ')) {
            int only_space = 1;
            for (size_t k = 0; k < i; k++)
                if (!isspace((unsigned char)s[k])) only_space = 0;
            if (only_space) word = 1;
        }
        if (!word)
            return afail(a, "a number typed into the prose ('%.*s'): take it from the database with a directive "
                            "(see reports/assessment.h), or quote a name in `backticks`",
                         (int)(j - i), s + i);
        i = j - 1;
    }
    return 0;
}

static int b_provenance(actx *a, int argc, char **argv) { return block_provenance(a); }
static int b_audits(actx *a, int argc, char **argv) { return block_audits(a); }

/* Every directive the template may use, once: its words (the name included; an optional last
 * FMT not counted), the usage an error quotes, and what runs it.  A block directive stands on
 * a line of its own and writes a paragraph, table or list; an inline one writes a value into
 * the prose.  ({{#if}} and {{/if}} are the template's control, not directives.) */
typedef struct {
    const char *name;
    int min_words, max_words;
    const char *usage;
    int (*inline_fn)(actx *a, int argc, char **argv, const char *fmt, char *buf, size_t n);
    int (*block_fn)(actx *a, int argc, char **argv);
} directive;

static const directive directives[] = {
    {.name = "best", .min_words = 4, .max_words = 4, .usage = "best EXP CLAIM qharness|llama.cpp", .inline_fn = d_best},
    {.name = "v", .min_words = 4, .max_words = 4, .usage = "v|ci|n|chance EXP RUN TASK:METRIC [FMT]", .inline_fn = d_metric},
    {.name = "ci", .min_words = 4, .max_words = 4, .usage = "v|ci|n|chance EXP RUN TASK:METRIC [FMT]", .inline_fn = d_metric},
    {.name = "n", .min_words = 4, .max_words = 4, .usage = "v|ci|n|chance EXP RUN TASK:METRIC [FMT]", .inline_fn = d_metric},
    {.name = "chance", .min_words = 4, .max_words = 4, .usage = "v|ci|n|chance EXP RUN TASK:METRIC [FMT]", .inline_fn = d_metric},
    {.name = "ratio", .min_words = 5, .max_words = 5, .usage = "ratio EXP RUN1 RUN2 TASK:METRIC [FMT]", .inline_fn = d_ratio},
    {.name = "bpp", .min_words = 4, .max_words = 4, .usage = "bpp EXP RUN scope|model [FMT]", .inline_fn = d_bpp},
    {.name = "rel-error", .min_words = 3, .max_words = 3, .usage = "rel-error|seconds|quantize-seconds EXP RUN [FMT]", .inline_fn = d_run_number},
    {.name = "seconds", .min_words = 3, .max_words = 3, .usage = "rel-error|seconds|quantize-seconds EXP RUN [FMT]", .inline_fn = d_run_number},
    {.name = "quantize-seconds", .min_words = 3, .max_words = 3, .usage = "rel-error|seconds|quantize-seconds EXP RUN [FMT]",
     .inline_fn = d_run_number},
    {.name = "model", .min_words = 3, .max_words = 3, .usage = "model EXP FIELD", .inline_fn = d_model},
    {.name = "experiment", .min_words = 3, .max_words = 3, .usage = "experiment EXP FIELD [FMT]", .inline_fn = d_experiment},
    {.name = "audit", .min_words = 3, .max_words = 3, .usage = "audit CLAIM FIELD [FMT]", .inline_fn = d_audit},
    {.name = "provenance", .block_fn = b_provenance},
    {.name = "table", .block_fn = block_table},
    {.name = "chance-check", .block_fn = block_chance_check},
    {.name = "letter-bias", .block_fn = block_letter_bias},
    {.name = "pareto", .block_fn = block_pareto},
    {.name = "audits", .block_fn = b_audits},
};

static const directive *find_directive(const char *name)
{
    for (size_t i = 0; i < sizeof directives / sizeof *directives; i++)
        if (strcmp(directives[i].name, name) == 0) return &directives[i];
    return NULL;
}

/* One inline directive -> its text in buf. */
static int inline_directive(actx *a, int argc, char **argv, char *buf, size_t n)
{
    const char *fmt = argc > 1 && is_fmt(argv[argc - 1]) ? argv[--argc] : NULL;
    const directive *d = find_directive(argv[0]);
    if (!d || !d->inline_fn) return afail(a, "unknown directive '{{%s}}'", argv[0]);
    if (want_args(a, argc, d->min_words, d->max_words, d->usage) != 0) return -1;
    return d->inline_fn(a, argc, argv, fmt, buf, n);
}

/* {{#if experiment NAME}} holds when the latest experiment of that name has every run done; a
 * partial one (a sweep still running, or killed) leaves a note in place of the section. */
static int present(actx *a, const char *what, const char *name, int *yes)
{
    sqlite3_stmt *st;
    int some = strcmp(what, "runs") == 0; /* {{#if runs NAME}}: some runs done; the section says which are not */
    int runs = strcmp(what, "experiment") == 0 || some;
    const char *sql = runs ? QH_Q_EXPERIMENT_RUNS_DONE
                      : strcmp(what, "audit") == 0 ? QH_Q_CLAIM_AUDITS
                                                   : NULL;
    if (!sql) return afail(a, "{{#if %s}}: expected {{#if experiment NAME}}, {{#if runs NAME}} or {{#if audit CLAIM}}", what);
    long long exp = -1;
    if (runs) qh_db_latest_experiment(a->db, name, &exp);
    if (prepare(a, &st, sql) != 0) return -1;
    if (runs) sqlite3_bind_int64(st, 1, exp);
    else sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int total = 0, done = 0;
    if (sqlite3_step(st) == SQLITE_ROW) total = sqlite3_column_int(st, 0), done = sqlite3_column_int(st, 1);
    sqlite3_finalize(st);
    *yes = total > 0 && done == total;
    if (some) {
        *yes = done > 0;
        return 0;
    }
    int seen = 0;
    for (int i = 0; i < a->n_noted; i++) seen |= strcmp(a->noted[i], name) == 0;
    if (total > 0 && done < total && !seen && a->n_noted < 16) snprintf(a->noted[a->n_noted++], sizeof a->noted[0], "%s", name);
    if (total > 0 && done < total && !seen)
        fprintf(a->out, "> (A section about experiment `%s` is left out: %d of its %d runs are done in this database; "
                        "`qharness sweep --resume` completes it.)\n",
                name, done, total);
    return 0;
}

static int process_line(actx *a, char *line, int *skip_depth, int *depth)
{
    char *t = line;
    while (isspace((unsigned char)*t)) t++;
    size_t tl = strlen(t);
    while (tl && isspace((unsigned char)t[tl - 1])) tl--;
    int whole = tl >= 4 && strncmp(t, "{{", 2) == 0 && strncmp(t + tl - 2, "}}", 2) == 0 && !strstr(t + 2, "{{") &&
                strstr(t + 2, "}}") == t + tl - 2;
    if (whole && t[2] == '!') return 0;
    char *argv[MAX_ARGS];
    if (whole) {
        char inner[2048];
        snprintf(inner, sizeof inner, "%.*s", (int)(tl - 4), t + 2);
        int argc = split_args(inner, argv);
        if (argc < 0) return afail(a, "a directive with an unclosed quote or more than %d words", MAX_ARGS);
        if (argc == 0) return afail(a, "an empty directive {{}}");
        if (strcmp(argv[0], "#if") == 0) {
            if (argc != 3) return afail(a, "{{#if experiment NAME}} or {{#if audit CLAIM}}");
            if (*depth == 32) return afail(a, "{{#if}} nested too deep");
            (*depth)++;
            if (*skip_depth) return 0;
            int yes = 0;
            if (present(a, argv[1], argv[2], &yes) != 0) return -1;
            if (!yes) *skip_depth = *depth;
            return 0;
        }
        if (strcmp(argv[0], "/if") == 0) {
            if (argc != 1) return afail(a, "{{/if}} takes nothing");
            if (*depth == 0) return afail(a, "{{/if}} without {{#if}}");
            if (*skip_depth == *depth) *skip_depth = 0;
            (*depth)--;
            return 0;
        }
        if (*skip_depth) return 0;
        const directive *d = find_directive(argv[0]);
        if (d && d->block_fn) return d->block_fn(a, argc, argv);
    }
    if (*skip_depth) return 0;
    /* prose with inline directives */
    int in_code = 0;
    char *p = line;
    while (*p) {
        char *open = strstr(p, "{{");
        size_t plain = open ? (size_t)(open - p) : strlen(p);
        if (check_prose(a, p, plain, &in_code, p == line) != 0) return -1;
        fwrite(p, 1, plain, a->out);
        if (!open) break;
        char *close = strstr(open + 2, "}}");
        if (!close) return afail(a, "'{{' without '}}'");
        char inner[2048], value[512];
        snprintf(inner, sizeof inner, "%.*s", (int)(close - open - 2), open + 2);
        int argc = split_args(inner, argv);
        if (argc < 0) return afail(a, "a directive with an unclosed quote or more than %d words", MAX_ARGS);
        if (argc == 0) return afail(a, "an empty directive {{}}");
        const directive *d = find_directive(argv[0]);
        if ((d && d->block_fn) || argv[0][0] == '#' || argv[0][0] == '/' || argv[0][0] == '!')
            return afail(a, "{{%s}} must stand on a line of its own", argv[0]);
        if (inline_directive(a, argc, argv, value, sizeof value) != 0) return -1;
        fputs(value, a->out);
        p = close + 2;
    }
    fputc('\n', a->out);
    return 0;
}

int qh_assessment(const char *db_path, const char *template_path, const char *db_label, const char *template_label, FILE *out,
                  qh_err *err)
{
    char *text = NULL;
    size_t len;
    actx a = {.tpl = template_path, .line = 0, .out = out, .err = err};
    int rc = -1;
    if (!qh_file_exists(db_path)) return qh_fail(err, "%s: no such results database", db_path);
    if (qh_read_file(template_path, &text, &len, err) != 0) return -1;
    if (memchr(text, 0, len)) {
        qh_fail(err, "%s: not a text file (NUL byte)", template_path);
        goto out;
    }
    if (qh_db_open_read(db_path, &a.db) != SQLITE_OK) {
        qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(a.db));
        goto out;
    }
    if (!qh_db_schema_current(a.db, db_path, err)) goto out;
    fprintf(out, "<!-- Generated by `qharness report --assessment --db %s --template %s`: every number below is read from that "
                 "database.  Edit the template, not this file. -->\n",
            db_label, template_label);
    int skip_depth = 0, depth = 0;
    char *p = text;
    while (*p) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        a.line++;
        if (process_line(&a, p, &skip_depth, &depth) != 0) goto out;
        if (!e) break;
        p = e + 1;
    }
    if (depth != 0) {
        qh_fail(err, "%s: %d {{#if}} without {{/if}} at the end", template_path, depth);
        goto out;
    }
    rc = 0;
out:
    if (a.db) sqlite3_close(a.db);
    free(text);
    return rc;
}
