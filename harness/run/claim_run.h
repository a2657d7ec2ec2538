/* claim_run.h - the sweep side of `qharness audit`: qh_claim_run plans what a claim's verdict
 * needs as an experiment (the baseline and the method, on the task and on WikiText-2
 * perplexity), writes it beside the results database as audit-NAME.ini and runs it through the
 * sweep, reusing the runs of an identical earlier audit.  The verdict itself is computed from
 * the store by reports/audit.c; qh_claim_store_verdict files it in the audits table. */
#ifndef QH_CLAIM_RUN_H
#define QH_CLAIM_RUN_H

#include "harness/run/claim.h"

/* Writes the claim's experiment and sweeps it into db_path; exp_name gets its name. */
int qh_claim_run(const qh_claim *c, const char *db_path, char *exp_name, size_t exp_name_len, qh_err *err);
/* Files the verdict r of claim c in the audits table of db_path. */
int qh_claim_store_verdict(const char *db_path, const qh_claim *c, const qh_audit_record *r, qh_err *err);

#endif
