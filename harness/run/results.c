/* results.c - a results table read back from SQLite: nothing here recomputes a number. */
#include "harness/run/store.h"
#include "harness/run/results.h"
#include "harness/run/queries.h"
#include "harness/eval/metrics.h"
#include "harness/eval/tasks.h"

#include <cJSON.h>
#include <csv.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static int db_fail(sqlite3 *db, const char *path, qh_err *err)
{
    return qh_fail(err, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
}

int qh_results_columns(sqlite3 *db, long long exp, const char *metrics_in, char (*cols)[96], int max)
{
    char sql[1024], order[256];
    qh_task_order_sql("m.task", order, sizeof order);
    snprintf(sql, sizeof sql,
             QH_Q_RESULT_COLUMNS_FMT,
             metrics_in, order);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(st, 1, exp);
    int n = 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW)
        snprintf(cols[n++], 96, "%s %s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    return n;
}

void qh_md_cell(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
}

int qh_results_cell(sqlite3_stmt *mt, long long run, const char *column, qh_metric_cell *out)
{
    sqlite3_reset(mt);
    sqlite3_bind_int64(mt, 1, run);
    sqlite3_bind_text(mt, 2, column, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(mt) != SQLITE_ROW) return 0;
    out->value = sqlite3_column_double(mt, 0);
    out->has_ci = sqlite3_column_type(mt, 1) != SQLITE_NULL;
    out->lo = sqlite3_column_double(mt, 1);
    out->hi = sqlite3_column_double(mt, 2);
    out->n = (long)sqlite3_column_int64(mt, 3);
    out->has_chance = sqlite3_column_type(mt, 4) != SQLITE_NULL;
    out->chance = sqlite3_column_double(mt, 4);
    out->ci_hidden = sqlite3_column_int(mt, 5);
    return 1;
}

/* "%.4g"-style: 3 or 4 significant digits, never an exponent for the values a table holds */
void qh_fmt_sig(char *buf, size_t len, double v)
{
    double a = v < 0 ? -v : v;
    int decimals = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : a >= 1 ? 3 : 4;
    if (a != 0 && a < 0.001) {
        snprintf(buf, len, "%.2e", v);
        return;
    }
    snprintf(buf, len, "%.*f", decimals, v);
}

void qh_fmt_metric_cell(char *cell, size_t len, const qh_metric_cell *m)
{
    char v[24], lo[24], hi[24];
    qh_fmt_sig(v, sizeof v, m->value);
    if (!m->has_ci) {
        snprintf(cell, len, "%s", v);
        return;
    }
    qh_fmt_sig(lo, sizeof lo, m->lo);
    qh_fmt_sig(hi, sizeof hi, m->hi);
    snprintf(cell, len, "%s [%s, %s]", v, lo, hi);
}

/* the metrics a terminal table shows by default: perplexities and fidelity */

static void csv_field(FILE *out, const char *s, int last)
{
    csv_fwrite(out, s ? s : "", s ? strlen(s) : 0);
    fputc(last ? '\n' : ',', out);
}

static void csv_number(FILE *out, sqlite3_stmt *st, int col, int last)
{
    char b[40] = "";
    if (sqlite3_column_type(st, col) == SQLITE_INTEGER) snprintf(b, sizeof b, "%lld", sqlite3_column_int64(st, col));
    else if (sqlite3_column_type(st, col) != SQLITE_NULL) snprintf(b, sizeof b, "%.17g", sqlite3_column_double(st, col));
    fputs(b, out);
    fputc(last ? '\n' : ',', out);
}

static cJSON *json_value(sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL: return cJSON_CreateNull();
    case SQLITE_INTEGER: return cJSON_CreateNumber((double)sqlite3_column_int64(st, col));
    case SQLITE_FLOAT: return cJSON_CreateNumber(sqlite3_column_double(st, col));
    default: return cJSON_CreateString((const char *)sqlite3_column_text(st, col));
    }
}

/* The columns of QH_Q_RESULT_ROWS (queries.h), one row (CSV) or object (JSON) per metric. */
static const char *long_names[] = {"run", "label", "status", "method", "bpp_quantized", "bpp_model", "task",
                                   "metric", "value", "ci_low", "ci_high", "n", "chance", "protocol"};

static int print_long(sqlite3 *db, long long exp, const char *exp_name, qh_results_format fmt, FILE *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, QH_Q_RESULT_ROWS, -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(st, 1, exp);
    int n_names = (int)(sizeof long_names / sizeof *long_names);
    if (fmt == QH_RESULTS_CSV) {
        csv_field(out, "experiment", 0);
        for (int i = 0; i < n_names; i++) csv_field(out, long_names[i], i == n_names - 1);
        while (sqlite3_step(st) == SQLITE_ROW) {
            csv_field(out, exp_name, 0);
            for (int i = 0; i < n_names; i++) {
                int last = i == n_names - 1;
                int type = sqlite3_column_type(st, i);
                if (type == SQLITE_TEXT) csv_field(out, (const char *)sqlite3_column_text(st, i), last);
                else csv_number(out, st, i, last);
            }
        }
        sqlite3_finalize(st);
        return 0;
    }
    /* JSON: one object per line, one per (run, metric): easy to stream into jq or pandas */
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "experiment", exp_name);
        for (int i = 0; i < n_names; i++) cJSON_AddItemToObject(o, long_names[i], json_value(st, i));
        char *txt = cJSON_PrintUnformatted(o);
        fprintf(out, "%s\n", txt);
        free(txt);
        cJSON_Delete(o);
    }
    sqlite3_finalize(st);
    return 0;
}

/* lm-eval's task and metric for one of ours: its task name where the protocols are the same
 * (tests lmeval_parity_*), MMLU's lettered accuracy as "mmlu" and the answer-text ones as
 * "mmlu_continuation", LAMBADA's target perplexity as lambada_openai's "perplexity"; texts keep
 * qharness's names (lm-eval's wikitext scores words and bytes of whole documents, not tokens). */
static void lmeval_names(const char *task, const char *metric, char *lm_task, size_t tl, char *lm_metric, size_t ml)
{
    static const struct {
        const char *task, *metric, *lm_task, *lm_metric;
    } map[] = {
        {"mmlu", "acc_letter", "mmlu", "acc"},       {"mmlu", "acc", "mmlu_continuation", "acc"},
        {"mmlu", "acc_norm", "mmlu_continuation", "acc_norm"}, {"lambada", "target_ppl", "lambada_openai", "perplexity"},
        {"lambada", "acc", "lambada_openai", "acc"}, {"arc-easy", NULL, "arc_easy", NULL},
        {"arc-challenge", NULL, "arc_challenge", NULL},
    };
    snprintf(lm_task, tl, "%s", task);
    snprintf(lm_metric, ml, "%s", metric);
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(map[i].task, task) == 0 && (!map[i].metric || strcmp(map[i].metric, metric) == 0)) {
            snprintf(lm_task, tl, "%s", map[i].lm_task);
            if (map[i].lm_metric) snprintf(lm_metric, ml, "%s", map[i].lm_metric);
            return;
        }
}

static cJSON *object_in(cJSON *parent, const char *key)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);
    if (!o) o = cJSON_AddObjectToObject(parent, key);
    return o;
}

static void print_lmeval_run(cJSON *o, FILE *out)
{
    char *txt = cJSON_PrintUnformatted(o);
    fprintf(out, "%s\n", txt);
    free(txt);
    cJSON_Delete(o);
}

/* One object per run in lm-eval's layout, from QH_Q_RESULT_ROWS's rows (ordered by run). */
static int print_lmeval(sqlite3 *db, long long exp, const char *exp_name, FILE *out)
{
    sqlite3_stmt *st, *ms;
    if (sqlite3_prepare_v2(db, QH_Q_RESULT_ROWS, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_prepare_v2(db, QH_Q_RUN_MODEL,
                           -1, &ms, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_bind_int64(st, 1, exp);
    cJSON *o = NULL;
    long long ordinal = -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (!o || sqlite3_column_int64(st, 0) != ordinal) {
            if (o) print_lmeval_run(o, out);
            ordinal = sqlite3_column_int64(st, 0);
            o = cJSON_CreateObject();
            cJSON_AddObjectToObject(o, "results");
            cJSON_AddObjectToObject(o, "n-samples");
            cJSON *config = cJSON_AddObjectToObject(o, "config");
            cJSON_AddStringToObject(config, "model", "qharness");
            sqlite3_reset(ms);
            sqlite3_bind_int64(ms, 1, exp);
            sqlite3_bind_int64(ms, 2, ordinal);
            if (sqlite3_step(ms) == SQLITE_ROW) {
                cJSON_AddItemToObject(config, "model_args", json_value(ms, 0));
                cJSON_AddItemToObject(config, "model_sha256", json_value(ms, 1));
            }
            cJSON_AddStringToObject(config, "experiment", exp_name);
            cJSON_AddStringToObject(config, "run", (const char *)sqlite3_column_text(st, 1));
            cJSON_AddStringToObject(config, "method", (const char *)sqlite3_column_text(st, 3));
            cJSON_AddStringToObject(config, "status", (const char *)sqlite3_column_text(st, 2));
            cJSON_AddObjectToObject(o, "versions");
            cJSON *q = cJSON_AddObjectToObject(o, "qharness");
            cJSON_AddItemToObject(q, "bpp_quantized", json_value(st, 4));
            cJSON_AddItemToObject(q, "bpp_model", json_value(st, 5));
            cJSON_AddObjectToObject(q, "intervals");
            cJSON_AddObjectToObject(q, "protocols");
        }
        if (sqlite3_column_type(st, 6) == SQLITE_NULL) continue; /* a run with no metric yet */
        const char *task = (const char *)sqlite3_column_text(st, 6), *metric = (const char *)sqlite3_column_text(st, 7);
        char lt[64], lm[64], key[96];
        lmeval_names(task, metric, lt, sizeof lt, lm, sizeof lm);
        cJSON *res = object_in(object_in(o, "results"), lt);
        if (!cJSON_GetObjectItem(res, "alias")) cJSON_AddStringToObject(res, "alias", lt);
        double v = sqlite3_column_double(st, 8);
        long n = (long)sqlite3_column_int64(st, 11);
        snprintf(key, sizeof key, "%s,none", lm);
        cJSON_AddNumberToObject(res, key, v);
        const qh_metric *row = qh_metric_find(metric);
        snprintf(key, sizeof key, "%s_stderr,none", lm);
        if (row && row->interval == QH_INTERVAL_WILSON && n > 1) /* lm-eval's: the sample standard deviation / sqrt(n) */
            cJSON_AddNumberToObject(res, key, sqrt(v * (1 - v) / (double)(n - 1)));
        else
            cJSON_AddStringToObject(res, key, "N/A");
        cJSON *ns = object_in(object_in(o, "n-samples"), lt);
        if (!cJSON_GetObjectItem(ns, "effective")) cJSON_AddNumberToObject(ns, "effective", (double)n);
        if (!cJSON_GetObjectItem(object_in(o, "versions"), lt)) cJSON_AddStringToObject(object_in(o, "versions"), lt, "qharness " QH_VERSION);
        cJSON *q = cJSON_GetObjectItem(o, "qharness");
        cJSON *iv = object_in(object_in(q, "intervals"), lt);
        if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateNumber(sqlite3_column_double(st, 9)));
            cJSON_AddItemToArray(pair, cJSON_CreateNumber(sqlite3_column_double(st, 10)));
            cJSON_AddItemToObject(iv, lm, pair);
        }
        cJSON *pr = object_in(q, "protocols");
        if (!cJSON_GetObjectItem(pr, lt) && sqlite3_column_type(st, 13) != SQLITE_NULL)
            cJSON_AddStringToObject(pr, lt, (const char *)sqlite3_column_text(st, 13));
    }
    if (o) print_lmeval_run(o, out);
    sqlite3_finalize(st);
    sqlite3_finalize(ms);
    return 0;
}

/* One terminal or Markdown table of the runs over cols (n of them): bpp in both scopes, then a
 * cell per column, each as wide as its widest cell.  values_only: the cells without their
 * intervals and the headers without the metric (the accuracy table of the default view).
 * Counts the runs, those done and whether an interval was hidden. */
static int text_table(sqlite3_stmt *st, sqlite3_stmt *mt, char (*cols)[96], int n, int markdown, int values_only, FILE *out, int *n_runs,
                      int *n_done, int *hidden)
{
    char heads[48][96];
    int width[48], label_width = 3;
    for (int c = 0; c < n; c++) {
        const char *h = cols[c];
        if (!markdown) h = qh_task_text_name(h);
        snprintf(heads[c], sizeof heads[c], "%.95s", h);
        if (values_only) heads[c][strcspn(heads[c], " ")] = 0; /* "arc-easy acc" -> "arc-easy" */
        width[c] = (int)strlen(heads[c]);
    }
    *n_runs = *n_done = 0;
    sqlite3_reset(st);
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long run = sqlite3_column_int64(st, 0);
        (*n_runs)++;
        *n_done += strcmp((const char *)sqlite3_column_text(st, 2), "done") == 0;
        int lw = (int)strlen((const char *)sqlite3_column_text(st, 1));
        label_width = lw > label_width ? lw : label_width;
        for (int c = 0; c < n; c++) {
            char cell[80];
            qh_metric_cell m;
            if (!qh_results_cell(mt, run, cols[c], &m)) continue;
            m.has_ci &= !values_only;
            qh_fmt_metric_cell(cell, sizeof cell, &m);
            width[c] = (int)strlen(cell) > width[c] ? (int)strlen(cell) : width[c];
        }
    }
    if (label_width > 32) label_width = 32; /* long labels are cut in the text table, whole in the others */
    sqlite3_reset(st);
    if (markdown) {
        fprintf(out, "\n| run | status | bpp (quantized scope) | bpp (whole model) |");
        for (int c = 0; c < n; c++) fprintf(out, " %s |", cols[c]);
        fprintf(out, "\n|---|---|---|---|");
        for (int c = 0; c < n; c++) fprintf(out, "---|");
        fprintf(out, "\n");
    } else {
        /* the status column only while some run is not done */
        if (values_only && label_width < 9) label_width = 9;
        fprintf(out, "%-*s%s %7s %7s", label_width, values_only ? "run (acc)" : "run", *n_done == *n_runs ? "" : " status ", "bpp.q", "bpp.all");
        for (int c = 0; c < n; c++) fprintf(out, "  %-*s", c == n - 1 ? 0 : width[c], heads[c]);
        fprintf(out, "\n");
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        long long run = sqlite3_column_int64(st, 0);
        char bq[32] = "-", bm[32] = "-";
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) qh_fmt_sig(bq, sizeof bq, sqlite3_column_double(st, 3));
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) qh_fmt_sig(bm, sizeof bm, sqlite3_column_double(st, 4));
        if (markdown) fprintf(out, "| %s | %s | %s | %s |", sqlite3_column_text(st, 1), sqlite3_column_text(st, 2), bq, bm);
        else {
            fprintf(out, "%-*.*s", label_width, label_width, sqlite3_column_text(st, 1));
            if (*n_done != *n_runs) fprintf(out, " %-7s", sqlite3_column_text(st, 2));
            fprintf(out, " %7s %7s", bq, bm);
        }
        for (int c = 0; c < n; c++) {
            char cell[80] = "-";
            qh_metric_cell m;
            if (qh_results_cell(mt, run, cols[c], &m)) {
                m.has_ci &= !values_only;
                *hidden |= m.ci_hidden;
                qh_fmt_metric_cell(cell, sizeof cell, &m);
            }
            if (markdown) fprintf(out, " %s |", cell);
            else fprintf(out, "  %-*s", c == n - 1 ? 0 : width[c], cell);
        }
        fprintf(out, "\n");
    }
    return step == SQLITE_DONE ? 0 : -1;
}

int qh_results_print(const char *path, const char *name, long long id, qh_results_format fmt, int all, FILE *out, qh_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL, *mt = NULL;
    int rc = -1;
    int markdown = fmt == QH_RESULTS_MARKDOWN;
    if (!qh_file_exists(path)) return qh_fail(err, "%s: no such results database", path);
    if (qh_db_open_read(path, &db) != SQLITE_OK) {
        db_fail(db, path, err);
        goto out;
    }
    long long exp = -1;
    if (!name && id <= 0 && (fmt == QH_RESULTS_TEXT || markdown)) { /* which experiments there are */
        rc = qh_store_list_experiments(db, path, out, err);
        goto out;
    }
    if (qh_store_pick_experiment(db, path, name, id, &exp, err) != 0) goto out;
    if (sqlite3_prepare_v2(db, QH_Q_EXPERIMENT_HEADER, -1,
                           &st, NULL) != SQLITE_OK) {
        db_fail(db, path, err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, exp);
    if (sqlite3_step(st) != SQLITE_ROW) {
        db_fail(db, path, err);
        goto out;
    }
    if (fmt == QH_RESULTS_CSV || fmt == QH_RESULTS_JSON || fmt == QH_RESULTS_LMEVAL) {
        char *exp_name = qh_strdup((const char *)sqlite3_column_text(st, 1));
        sqlite3_finalize(st);
        st = NULL;
        rc = fmt == QH_RESULTS_LMEVAL ? print_lmeval(db, exp, exp_name, out) : print_long(db, exp, exp_name, fmt, out);
        free(exp_name);
        if (rc) db_fail(db, path, err);
        goto out;
    }
    fprintf(out, "experiment %s (id %lld, file sha256 %.12s, commit %s), started %s, finished %s\n",
            sqlite3_column_text(st, 1), exp, sqlite3_column_text(st, 4), sqlite3_column_text(st, 5), sqlite3_column_text(st, 2),
            sqlite3_column_text(st, 3) ? (const char *)sqlite3_column_text(st, 3) : "(not finished)");
    sqlite3_finalize(st);
    st = NULL;
    /* the columns: every (task, metric) present, in a stable order */
    char cols[48][96];
    char shown[512];
    qh_metric_sql_list(all ? QH_METRIC_ALL : QH_METRIC_RESULTS, shown, sizeof shown);
    int n_cols = qh_results_columns(db, exp, shown, cols, 48);
    if (n_cols < 0) {
        db_fail(db, path, err);
        goto out;
    }
    if (sqlite3_prepare_v2(db,
                           QH_Q_RUNS_BPP_BY_ORDINAL, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, QH_Q_RESULT_CELL, -1, &mt, NULL) != SQLITE_OK) {
        db_fail(db, path, err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, exp);
    int n_runs = 0, n_done = 0, hidden = 0;
    /* on a terminal by default: the texts (perplexity, fidelity) in one table, the accuracies,
     * value only, in a second, so that each fits a terminal; markdown and --all: one table */
    int split = !markdown && !all;
    int text_cols = n_cols;
    if (split)
        for (text_cols = 0; text_cols < n_cols && qh_task_kind_of(cols[text_cols]) != QH_TASK_MC;)
            text_cols++;
    if (text_table(st, mt, cols, text_cols, markdown, 0, out, &n_runs, &n_done, &hidden) != 0 ||
        (split && text_cols < n_cols && (fprintf(out, "\n"), text_table(st, mt, cols + text_cols, n_cols - text_cols, 0, 1, out, &n_runs, &n_done, &hidden)) != 0)) {
        db_fail(db, path, err);
        goto out;
    }
    fprintf(out, "%s(%d of %d runs done; intervals: 95%%; ppl and KL by bootstrap over windows, accuracies by Wilson;\n %s"
                 "chance levels, item counts and protocols: --csv or --json%s)\n",
            markdown ? "\n" : "", n_done, n_runs, split ? "accuracies' intervals, acc_norm and the rest: --all; " : "",
            hidden ? ";\n no interval where fewer than " QH_STRINGIFY(QH_MIN_RESAMPLING_UNITS) " windows were resampled" : "");
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(mt);
    sqlite3_close(db);
    return rc;
}
