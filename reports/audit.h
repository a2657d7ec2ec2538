/* audit.h - verdicts on claims such as "method X at 1.58 bpp retains 99% of FP16 accuracy".
 *
 * The claim and the runs it needs are harness/run/claim.h's (the sweep side); from the stored
 * per-item rows of the baseline and the quantized run this computes:
 *   retention  accuracy: q / b (mean correctness); perplexity: ppl_b / ppl_q
 *   its 95% interval by a paired bootstrap over items (windows for perplexity), seeded (GSL)
 *   chance-adjusted retention (q - chance) / (b - chance), with its interval
 *   verdict    SUPPORTED (interval above the claimed fraction), REFUTED (below), INCONCLUSIVE
 *   and, when inconclusive, the items needed to decide at the observed effect size,
 * plus the warnings a careful reviewer would raise.  It reads the store only; claim.c files
 * the verdict. */
#ifndef QH_AUDIT_H
#define QH_AUDIT_H

#include <stdio.h>

#include "harness/run/claim.h"
#include "harness/base/util.h"

/* Paired statistics.  accuracy (per_token == NULL): b[i], q[i] in {0, 1}; perplexity: b[i],
 * q[i] are window NLL sums over per_token[i] tokens. */
void qh_audit_compute(const double *b, const double *q, const long *per_token, long n, double chance, double claimed,
                      int n_boot, unsigned long seed, qh_audit_stats *out);

/* The verdict on claim c from the runs of experiment exp_name in the store (claim.h ran
 * them): reads the per-item rows of both runs, computes the statistics and the warnings,
 * prints them to out and fills record.  The database is opened read-only. */
int qh_audit_evaluate(const qh_claim *c, const char *db_path, const char *exp_name, FILE *out, qh_audit_record *record,
                      qh_err *err);

#endif
