/* metrics.h - the metric table: what every stored metric is, in one place.
 *
 * A metric row says which way is better, how the reports print it, what its interval is,
 * what its n counts, whether it has a chance level, where it is shown (the results table by
 * default or with --all, the Markdown report, the charts) and whether a claim can be made
 * on it (and from which per-item column the audit resamples it).  The sweep writes metrics by
 * these names; results, plot, report, assessment and audit read their facts from here. */
#ifndef QH_METRICS_H
#define QH_METRICS_H

#include <stddef.h>

typedef enum {
    QH_INTERVAL_NONE,       /* a point value (medians, maxima, bits per byte) */
    QH_INTERVAL_BOOTSTRAP,  /* seeded bootstrap over windows */
    QH_INTERVAL_WILSON,     /* Wilson score interval over items or positions */
    QH_INTERVAL_STDERR,     /* +/-1.96 of llama.cpp's standard error */
} qh_interval_kind;

enum {
    QH_METRIC_RESULTS = 1 << 0,  /* a column of `qharness results` by default */
    QH_METRIC_ALL = 1 << 1,      /* ... with --all */
    QH_METRIC_REPORT = 1 << 2,   /* a column of the Markdown report */
    QH_METRIC_CHART = 1 << 3,    /* one chart per task (qharness plot) */
    QH_METRIC_CLAIM = 1 << 4,    /* a claim file may name it (qharness audit) */
};

typedef struct {
    const char *name;            /* as stored in metrics.metric */
    int lower_is_better;
    const char *fmt;             /* printf conversion the reports use by default */
    qh_interval_kind interval;
    const char *unit;            /* what metrics.n counts: "tokens", "items", "passages", "positions", "bytes" */
    int has_chance;              /* metrics.chance is the expected value of a uniform guess */
    int shown;                   /* QH_METRIC_* flags */
    const char *axis;            /* the charts' y label */
    int log_axis;                /* charted on a log scale */
    const char *item_column;     /* items column the audit resamples: correct, correct_norm, ... */
    int of_text;                 /* a text's perplexity: a claim on it names a ppl.TEXT task, its retention is
                                    baseline / quantized, and the audit pairs the runs by the text's windows */
} qh_metric;

extern const qh_metric qh_metrics[];
extern const int qh_n_metrics;

/* NULL when no row has that name. */
const qh_metric *qh_metric_find(const char *name);
/* 1 for a metric with of_text set (ppl), 0 for any other name. */
int qh_metric_of_text(const char *name);
/* Lower is better for the row; an unknown metric is taken as higher-is-better. */
int qh_metric_lower_is_better(const char *name);
/* Its default format; ".3f" for an unknown metric. */
const char *qh_metric_fmt(const char *name);
/* The SQL list "'ppl','kl',..." of the metrics shown with any of the flags in `shown`. */
void qh_metric_sql_list(int shown, char *buf, size_t len);
/* "ppl, acc, ..." of the metrics with the flags, for error messages. */
void qh_metric_names(int shown, char *buf, size_t len);

#endif
