/* metrics.c - the metric table; see metrics.h.  A new metric is one row here and the code
 * of the task that computes it. */
#include "harness/eval/metrics.h"

#include <stdio.h>
#include <string.h>

#define SHOWN_PPL (QH_METRIC_RESULTS | QH_METRIC_ALL | QH_METRIC_REPORT | QH_METRIC_CHART)
#define SHOWN_ACC (QH_METRIC_ALL | QH_METRIC_REPORT | QH_METRIC_CHART | QH_METRIC_CLAIM)

const qh_metric qh_metrics[] = {
    /* perplexity tasks */
    {"ppl", 1, ".1f", QH_INTERVAL_BOOTSTRAP, "tokens", 0, SHOWN_PPL | QH_METRIC_CLAIM, "perplexity", 1, "value", .of_text = 1},
    {"mean_nll", 1, ".3f", QH_INTERVAL_BOOTSTRAP, "tokens", 0, QH_METRIC_ALL, "mean NLL, nats/token", 0, "value", 0},
    {"bits_per_byte", 1, ".3f", QH_INTERVAL_NONE, "bytes", 0, QH_METRIC_ALL, "bits per UTF-8 byte", 0, NULL, 0},
    /* fidelity tasks */
    {"kl", 1, ".3f", QH_INTERVAL_BOOTSTRAP, "positions", 0, SHOWN_PPL, "KL(baseline || quantized), nats/token", 0, "value", 0},
    {"top1", 0, ".3f", QH_INTERVAL_WILSON, "positions", 0, SHOWN_PPL, "top-1 agreement with the baseline", 0, NULL, 0},
    {"kl_median", 1, ".3f", QH_INTERVAL_NONE, "positions", 0, 0, "median KL, nats/token", 0, NULL, 0},
    {"kl_p99", 1, ".3f", QH_INTERVAL_NONE, "positions", 0, 0, "99th percentile of KL, nats/token", 0, NULL, 0},
    {"kl_p99.9", 1, ".3f", QH_INTERVAL_NONE, "positions", 0, 0, "99.9th percentile of KL, nats/token", 0, NULL, 0},
    {"kl_max", 1, ".3f", QH_INTERVAL_NONE, "positions", 0, 0, "maximum KL, nats/token", 0, NULL, 0},
    {"rms_dp", 1, ".3f", QH_INTERVAL_STDERR, "positions", 0, 0, "RMS of p_quantized - p_baseline (next token)", 0, NULL, 0},
    {"ln_ppl_ratio", 1, ".3f", QH_INTERVAL_STDERR, "positions", 0, 0, "ln(PPL_quantized / PPL_baseline)", 0, NULL, 0},
    /* multiple-choice tasks */
    {"acc", 0, ".3f", QH_INTERVAL_WILSON, "items", 1, SHOWN_ACC | QH_METRIC_RESULTS, "acc", 0, "correct", 0},
    {"acc_norm", 0, ".3f", QH_INTERVAL_WILSON, "items", 1, SHOWN_ACC, "acc_norm", 0, "correct_norm", 0},
    {"acc_letter", 0, ".3f", QH_INTERVAL_WILSON, "items", 1, SHOWN_ACC, "acc_letter", 0, "correct_letter", 0},
    {"target_ppl", 1, ".1f", QH_INTERVAL_NONE, "passages", 0, QH_METRIC_ALL | QH_METRIC_REPORT, "target perplexity (per passage, lm-eval's)", 1, NULL, 0},
};
const int qh_n_metrics = (int)(sizeof qh_metrics / sizeof qh_metrics[0]);

const qh_metric *qh_metric_find(const char *name)
{
    for (int i = 0; name && i < qh_n_metrics; i++)
        if (strcmp(qh_metrics[i].name, name) == 0) return &qh_metrics[i];
    return NULL;
}

int qh_metric_of_text(const char *name)
{
    const qh_metric *m = qh_metric_find(name);
    return m && m->of_text;
}

int qh_metric_lower_is_better(const char *name)
{
    const qh_metric *m = qh_metric_find(name);
    return m && m->lower_is_better;
}

const char *qh_metric_fmt(const char *name)
{
    const qh_metric *m = qh_metric_find(name);
    return m ? m->fmt : ".3f";
}

static void list(int shown, const char *quote, const char *sep, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < qh_n_metrics; i++) {
        if (!(qh_metrics[i].shown & shown)) continue;
        int w = snprintf(buf + o, len - o, "%s%s%s%s", o ? sep : "", quote, qh_metrics[i].name, quote);
        if (w < 0 || (size_t)w >= len - o) break;
        o += (size_t)w;
    }
}

void qh_metric_sql_list(int shown, char *buf, size_t len) { list(shown, "'", ",", buf, len); }

void qh_metric_names(int shown, char *buf, size_t len) { list(shown, "", ", ", buf, len); }
