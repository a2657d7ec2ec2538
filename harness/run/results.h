/* results.h - print an experiment's runs and metrics from the SQLite store as a table. */
#ifndef QH_RESULTS_H
#define QH_RESULTS_H

#include <sqlite3.h>
#include <stdio.h>

#include "harness/base/stats.h"
#include "harness/base/util.h"

typedef enum { QH_RESULTS_TEXT, QH_RESULTS_MARKDOWN, QH_RESULTS_CSV, QH_RESULTS_JSON, QH_RESULTS_LMEVAL } qh_results_format;

/* id > 0: that experiment; else name: the latest experiment of that name; neither: TEXT and
 * MARKDOWN list the experiments, CSV and JSON take the latest.
 * TEXT and MARKDOWN: a table of runs with bpp (both scopes) and, by default, perplexities, KL
 * and top-1 (all: every metric), 3-4 significant digits.  CSV and JSON (one object per line):
 * every metric of every run, one row each, unrounded, with interval, count, chance and protocol.
 * LMEVAL: one object per run (a line each) in lm-evaluation-harness's results layout -- "results"
 * by lm-eval's task name with "acc,none", "acc_stderr,none", ..., "n-samples", "config",
 * "versions" -- plus "qharness": bpp in both scopes, the 95% intervals and the protocols. */
int qh_results_print(const char *db_path, const char *name, long long id, qh_results_format fmt, int all, FILE *out, qh_err *err);

/* v with 3 or 4 significant digits in fixed notation (454.3, 12.86, 0.9604, 0.000123). */
void qh_fmt_sig(char *buf, size_t len, double v);

/* Shared by the results table and the Markdown report (reports/report.c). */

/* The "task metric" columns of experiment exp whose metric is in metrics_in (an SQL list such
 * as "'ppl','acc'"), ordered perplexity, fidelity, then tasks; returns their count or -1. */
int qh_results_columns(sqlite3 *db, long long exp, const char *metrics_in, char (*cols)[96], int max);

/* Writes s as (part of) a Markdown table cell: '|' ends a cell even inside `code`, so it is
 * escaped as "\|". */
void qh_md_cell(FILE *out, const char *s);

/* A bootstrap interval (perplexity, mean NLL, KL) resampled from fewer than
 * QH_MIN_RESAMPLING_UNITS windows says little about the spread of the number, so every reader
 * shows none: QH_SQL_CI(m, "ci_low") is m.ci_low, or NULL when metrics row m has from 1 to
 * QH_MIN_RESAMPLING_UNITS - 1 windows stored in items (none stored: a store from before
 * per-window items, whose windows cannot be counted; shown as stored).  The metric list is the
 * QH_INTERVAL_BOOTSTRAP rows of harness/eval/metrics.c (a test holds them equal). */
#define QH_SQL_BOOTSTRAP_METRICS "'ppl','mean_nll','kl'"
#define QH_SQL_FEW_UNITS(m)                                                                                        \
    "(" m ".metric IN (" QH_SQL_BOOTSTRAP_METRICS ") AND (SELECT COUNT(*) FROM items i WHERE i.run_id=" m              \
    ".run_id AND i.task=" m ".task) BETWEEN 1 AND " QH_STRINGIFY(QH_MIN_RESAMPLING_UNITS) " - 1)"
#define QH_SQL_CI(m, col) "CASE WHEN " QH_SQL_FEW_UNITS(m) " THEN NULL ELSE " m "." col " END"
#define QH_STRINGIFY_(x) #x
#define QH_STRINGIFY(x) QH_STRINGIFY_(x)
#define QH_RESULTS_CELL_SQL                                                                                         \
    "SELECT m.value, " QH_SQL_CI("m", "ci_low") ", " QH_SQL_CI("m", "ci_high") ", m.n, m.chance, "                 \
    "m.ci_low IS NOT NULL AND " QH_SQL_FEW_UNITS("m") " FROM metrics m WHERE m.run_id=? AND m.task || ' ' || m.metric = ?"
typedef struct {
    double value, lo, hi, chance;
    long n;
    int has_ci, has_chance;
    int ci_hidden; /* an interval is stored but rests on fewer than QH_MIN_RESAMPLING_UNITS windows */
} qh_metric_cell;
/* "value [lo, hi]" (or the value alone without an interval), 3-4 significant digits each. */
void qh_fmt_metric_cell(char *cell, size_t len, const qh_metric_cell *m);
/* One metric of one run through a statement prepared from QH_RESULTS_CELL_SQL; 1 if stored. */
int qh_results_cell(sqlite3_stmt *mt, long long run, const char *column, qh_metric_cell *out);

#endif
