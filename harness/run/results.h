/* results.h - print an experiment's runs and metrics from the SQLite store as a table. */
#ifndef QH_RESULTS_H
#define QH_RESULTS_H

#include <sqlite3.h>
#include <stdio.h>

#include "harness/base/stats.h"
#include "harness/base/util.h"
#include "harness/run/queries.h"

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

typedef struct {
    double value, lo, hi, chance;
    long n;
    int has_ci, has_chance;
    int ci_hidden; /* an interval is stored but rests on fewer than QH_MIN_RESAMPLING_UNITS windows */
} qh_metric_cell;
/* "value [lo, hi]" (or the value alone without an interval), 3-4 significant digits each. */
void qh_fmt_metric_cell(char *cell, size_t len, const qh_metric_cell *m);
/* One metric of one run through a statement prepared from QH_Q_RESULT_CELL; 1 if stored. */
int qh_results_cell(sqlite3_stmt *mt, long long run, const char *column, qh_metric_cell *out);

#endif
