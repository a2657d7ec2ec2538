/* audit.h - verdicts on claims such as "method X at 1.58 bpp retains 99% of FP16 accuracy".
 *
 * A claim file (INI) names a model, a method spec, a task and metric, the retained fraction
 * claimed and optionally the bpp claimed.  The audit runs (or reuses) the baseline and the
 * quantized run through the sweep machinery, then from the stored per-item rows computes:
 *   retention  accuracy: q / b (mean correctness); perplexity: ppl_b / ppl_q
 *   its 95% interval by a paired bootstrap over items (windows for perplexity), seeded (GSL)
 *   chance-adjusted retention (q - chance) / (b - chance), with its interval
 *   verdict    SUPPORTED (interval above the claimed fraction), REFUTED (below), INCONCLUSIVE
 *   and, when inconclusive, the items needed to decide at the observed effect size,
 * plus the warnings a careful reviewer would raise.  Verdicts are stored in SQLite. */
#ifndef QH_AUDIT_H
#define QH_AUDIT_H

#include <stdio.h>

#include "../harness/util.h"

typedef enum { QH_VERDICT_SUPPORTED, QH_VERDICT_REFUTED, QH_VERDICT_INCONCLUSIVE } qh_verdict;

typedef struct {
    double retention, lo, hi;              /* paired bootstrap 95% */
    double chance_adj, ca_lo, ca_hi;       /* accuracy only; NAN otherwise */
    qh_verdict verdict;
    double items_needed;                   /* inconclusive: estimate; otherwise 0 */
    long n;
} qh_audit_stats;

/* Paired statistics.  accuracy (per_token == NULL): b[i], q[i] in {0, 1}; perplexity: b[i],
 * q[i] are window NLL sums over per_token[i] tokens. */
void qh_audit_compute(const double *b, const double *q, const long *per_token, long n, double chance, double claimed,
                      int n_boot, unsigned long seed, qh_audit_stats *out);
const char *qh_verdict_name(qh_verdict v);

/* Runs the audit of a claim file; prints the verdict; returns 0 (any verdict) or -1. */
int qh_audit(const char *claim_path, const char *db_path, FILE *out, qh_err *err);

#endif
