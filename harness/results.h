/* results.h - print an experiment's runs and metrics from the SQLite store as a table. */
#ifndef QH_RESULTS_H
#define QH_RESULTS_H

#include <stdio.h>

#include "util.h"

/* name: experiment name (latest run of it), or NULL for the latest experiment. markdown: emit
 * a Markdown table instead of aligned text. */
int qh_results_print(const char *db_path, const char *name, int markdown, FILE *out, qh_err *err);

#endif
