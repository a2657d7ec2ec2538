/* results.h - print an experiment's runs and metrics from the SQLite store as a table. */
#ifndef QH_RESULTS_H
#define QH_RESULTS_H

#include <sqlite3.h>
#include <stdio.h>

#include "util.h"

/* name: experiment name (latest run of it), or NULL for the latest experiment. markdown: emit
 * a Markdown table instead of aligned text. */
int qh_results_print(const char *db_path, const char *name, int markdown, FILE *out, qh_err *err);

/* Shared by the results table and the Markdown report (reports/report.c). */

/* The "task metric" columns of experiment exp whose metric is in metrics_in (an SQL list such
 * as "'ppl','acc'"), ordered perplexity, fidelity, then tasks; returns their count or -1. */
int qh_results_columns(sqlite3 *db, long long exp, const char *metrics_in, char (*cols)[96], int max);

/* Writes s as (part of) a Markdown table cell: '|' ends a cell even inside `code`, so it is
 * escaped as "\|". */
void qh_md_cell(FILE *out, const char *s);

#define QH_RESULTS_CELL_SQL "SELECT value, ci_low, ci_high, n, chance FROM metrics WHERE run_id=? AND task || ' ' || metric = ?"
typedef struct {
    double value, lo, hi, chance;
    long n;
    int has_ci, has_chance;
} qh_metric_cell;
/* One metric of one run through a statement prepared from QH_RESULTS_CELL_SQL; 1 if stored. */
int qh_results_cell(sqlite3_stmt *mt, long long run, const char *column, qh_metric_cell *out);

#endif
