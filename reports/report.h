/* report.h - a Markdown report of one experiment, read from the SQLite store alone:
 * provenance (harness version and commit, experiment file and model sha256, datasets'
 * sha256, calibration), the results table (bpp in both scopes, every metric with its 95%
 * interval, chance levels and item counts), the Pareto set of each metric, links to the
 * charts of `qharness plot`, and warnings a reviewer would raise (a baseline that cannot be
 * told from chance). */
#ifndef QH_REPORT_H
#define QH_REPORT_H

#include <stdio.h>

#include "harness/base/util.h"

/* charts_dir: where `qharness plot` wrote the charts, relative to the report (NULL: none). */
int qh_report(const char *db_path, const char *experiment, long long experiment_id, const char *charts_dir, FILE *out, qh_err *err);

#endif
