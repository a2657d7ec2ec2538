/* paired.c - two runs compared on the windows or items both scored; see paired.h. */
#include "reports/paired.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/claim.h"
#include "harness/run/queries.h"
#include "harness/eval/metrics.h"
#include "harness/base/stats.h"
#include "harness/base/util.h"

qh_paired_kind qh_paired_kind_of(const char *metric)
{
    const qh_metric *m = qh_metric_find(metric);
    if (!m || !m->item_column) return QH_PAIRED_NONE;
    if (m->of_text) return QH_PAIRED_PPL;
    if (strcmp(m->item_column, "value") == 0) return QH_PAIRED_RATE;
    return QH_PAIRED_ACCURACY;
}

int qh_paired_prepare(sqlite3 *db, const char *metric, sqlite3_stmt **st)
{
    const qh_metric *m = qh_metric_find(metric);
    const char *col = m && m->item_column ? m->item_column : "value";
    char sql[512];
    snprintf(sql, sizeof sql,
             QH_Q_PAIRED_ITEMS_FMT,
             col, col, col, col);
    return sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK ? 0 : -1;
}

typedef struct {
    double *b, *q, *bn, *qn; /* per unit: the two runs' values and counts */
    qh_paired_kind kind;
    int retention;           /* the statistic: retention instead of the change */
} units;

static double paired_stat(int which, const long *idx, long n, void *ud)
{
    (void)which;
    const units *u = ud;
    double sb = 0, sq = 0, tb = 0, tq = 0;
    for (long k = 0; k < n; k++) {
        long i = idx ? idx[k] : k;
        sb += u->b[i], sq += u->q[i], tb += u->bn[i], tq += u->qn[i];
    }
    if (u->retention) return u->kind == QH_PAIRED_PPL ? exp(sb / tb - sq / tq) : u->kind == QH_PAIRED_ACCURACY ? sq / sb : NAN;
    switch (u->kind) {
    case QH_PAIRED_PPL: return exp(sq / tq - sb / tb);
    case QH_PAIRED_RATE: return (sq / tq) / (sb / tb);
    default: return (sq - sb) / (double)n;
    }
}

static int compare(sqlite3_stmt *st, qh_paired_kind kind, int retention, long long base, long long run, const char *task, qh_paired *out)
{
    units u = {NULL, NULL, NULL, NULL, kind, retention};
    long n = 0, cap = 0;
    *out = (qh_paired){NAN, NAN, NAN, 0, 0};
    if (kind == QH_PAIRED_NONE) return 0;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, base);
    sqlite3_bind_int64(st, 2, run);
    sqlite3_bind_text(st, 3, task, -1, SQLITE_TRANSIENT);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            u.b = qh_realloc(u.b, (size_t)cap * sizeof(double)), u.q = qh_realloc(u.q, (size_t)cap * sizeof(double));
            u.bn = qh_realloc(u.bn, (size_t)cap * sizeof(double)), u.qn = qh_realloc(u.qn, (size_t)cap * sizeof(double));
        }
        u.b[n] = sqlite3_column_double(st, 0), u.bn[n] = sqlite3_column_double(st, 1);
        u.q[n] = sqlite3_column_double(st, 2), u.qn[n] = sqlite3_column_double(st, 3);
        out->discordant += kind == QH_PAIRED_ACCURACY && u.b[n] != u.q[n];
        n++;
    }
    out->units = n;
    if (n > 0) {
        double d = paired_stat(0, NULL, n, &u);
        out->delta = isfinite(d) ? d : NAN;
        if (isfinite(d) && n >= QH_MIN_RESAMPLING_UNITS && (kind != QH_PAIRED_ACCURACY || out->discordant >= QH_AUDIT_MIN_DISCORDANT))
            qh_paired_bootstrap(n, 1000, 1, 1, paired_stat, &u, &out->lo, &out->hi);
    }
    free(u.b), free(u.q), free(u.bn), free(u.qn);
    return step == SQLITE_DONE ? 0 : -1;
}

int qh_paired_compare(sqlite3_stmt *st, qh_paired_kind kind, long long base, long long run, const char *task, qh_paired *out)
{
    return compare(st, kind, 0, base, run, task, out);
}

int qh_paired_retention(sqlite3_stmt *st, qh_paired_kind kind, long long base, long long run, const char *task, qh_paired *out)
{
    return compare(st, kind, 1, base, run, task, out);
}

int qh_paired_better(const qh_paired *p, qh_paired_kind kind, int lower_is_better)
{
    if (p->units == 0 || isnan(p->delta)) return -1;
    if (isnan(p->lo) || isnan(p->hi)) return 0;
    double none = kind == QH_PAIRED_ACCURACY ? 0 : 1; /* "no difference": a difference of 0, a ratio of 1 */
    return lower_is_better ? p->hi < none : p->lo > none;
}
