/* results.c - a results table read back from SQLite: nothing here recomputes a number. */
#include "results.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static int db_fail(sqlite3 *db, const char *path, qh_err *err)
{
    return qh_fail(err, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
}

int qh_results_columns(sqlite3 *db, long long exp, const char *metrics_in, char (*cols)[96], int max)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT m.task, m.metric FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.experiment_id=? "
             "AND m.metric IN (%s) ORDER BY CASE WHEN m.task LIKE 'ppl.%%' THEN 0 WHEN m.task LIKE 'fidelity.%%' THEN 1 "
             "ELSE 2 END, m.task, m.metric",
             metrics_in);
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
    return 1;
}

int qh_results_print(const char *path, const char *name, int markdown, FILE *out, qh_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL, *mt = NULL;
    int rc = -1;
    if (!qh_file_exists(path)) return qh_fail(err, "%s: no such results database", path);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        db_fail(db, path, err);
        goto out;
    }
    long long exp = -1;
    const char *q = name ? "SELECT id, name, started_at, finished_at, file_sha256, COALESCE(git_commit,'?') FROM experiments WHERE name=? ORDER BY id DESC LIMIT 1"
                         : "SELECT id, name, started_at, finished_at, file_sha256, COALESCE(git_commit,'?') FROM experiments ORDER BY id DESC LIMIT 1";
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
        db_fail(db, path, err);
        goto out;
    }
    if (name) sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        qh_fail(err, "%s: no experiment%s%s", path, name ? " named " : "", name ? name : "");
        goto out;
    }
    exp = sqlite3_column_int64(st, 0);
    fprintf(out, "experiment %s (id %lld, file sha256 %.12s, commit %s), started %s, finished %s\n",
            sqlite3_column_text(st, 1), exp, sqlite3_column_text(st, 4), sqlite3_column_text(st, 5), sqlite3_column_text(st, 2),
            sqlite3_column_text(st, 3) ? (const char *)sqlite3_column_text(st, 3) : "(not finished)");
    sqlite3_finalize(st);
    st = NULL;
    /* the columns: every (task, metric) present, in a stable order */
    char cols[32][96];
    int n_cols = qh_results_columns(db, exp, "'ppl','kl','top1','acc','acc_norm','acc_letter'", cols, 32);
    if (n_cols < 0) {
        db_fail(db, path, err);
        goto out;
    }
    if (markdown) {
        fprintf(out, "\n| run | status | bpp (quantized scope) | bpp (whole model) |");
        for (int c = 0; c < n_cols; c++) fprintf(out, " %s |", cols[c]);
        fprintf(out, "\n|---|---|---|---|");
        for (int c = 0; c < n_cols; c++) fprintf(out, "---|");
        fprintf(out, "\n");
    } else {
        fprintf(out, "%-22s %-7s %8s %8s", "run", "status", "bpp.q", "bpp.all");
        for (int c = 0; c < n_cols; c++) fprintf(out, "  %-24s", cols[c]);
        fprintf(out, "\n");
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT r.id, r.label, r.status, b.bpp_quantized, b.bpp_model FROM runs r LEFT JOIN bpp b ON b.run_id=r.id "
                           "WHERE r.experiment_id=? ORDER BY r.ordinal", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, QH_RESULTS_CELL_SQL, -1, &mt, NULL) != SQLITE_OK) {
        db_fail(db, path, err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, exp);
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long run = sqlite3_column_int64(st, 0);
        char bq[32] = "-", bm[32] = "-";
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) snprintf(bq, sizeof bq, "%.4f", sqlite3_column_double(st, 3));
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) snprintf(bm, sizeof bm, "%.4f", sqlite3_column_double(st, 4));
        if (markdown) fprintf(out, "| %s | %s | %s | %s |", sqlite3_column_text(st, 1), sqlite3_column_text(st, 2), bq, bm);
        else fprintf(out, "%-22.22s %-7s %8s %8s", sqlite3_column_text(st, 1), sqlite3_column_text(st, 2), bq, bm);
        for (int c = 0; c < n_cols; c++) {
            char cell[64] = "-";
            qh_metric_cell m;
            if (qh_results_cell(mt, run, cols[c], &m)) {
                int big = strstr(cols[c], " ppl") != NULL;
                if (!m.has_ci) snprintf(cell, sizeof cell, big ? "%.1f" : "%.4f", m.value);
                else if (big) snprintf(cell, sizeof cell, "%.1f [%.1f, %.1f]", m.value, m.lo, m.hi);
                else snprintf(cell, sizeof cell, "%.3f [%.3f, %.3f]", m.value, m.lo, m.hi);
            }
            if (markdown) fprintf(out, " %s |", cell);
            else fprintf(out, "  %-24s", cell);
        }
        fprintf(out, "\n");
    }
    fprintf(out, "%s(intervals: 95%%; ppl and KL by bootstrap over windows, accuracies by Wilson; chance levels, item counts "
                 "and protocols are in the metrics table)\n", markdown ? "\n" : "");
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(mt);
    sqlite3_close(db);
    return rc;
}
