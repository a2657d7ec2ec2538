/* qharness audit: a verdict on a claim (a claim file, or one given inline). */
#include <stdio.h>

#include "reports/audit.h"
#include "harness/run/claim_run.h"
#include "harness/cli/cli.h"
#include "harness/run/store.h"

const qh_cli_opt qh_cmd_audit_options[] = {
    {"db", required_argument, 'd', "FILE", "the results database", QH_DEFAULT_DB},
    {"claim", required_argument, 'c', "\"k = v; ...\"", "the claim inline instead of a CLAIM.ini (the same keys, ';' between them)", NULL},
    QH_CLI_OPT_END};

int qh_cmd_audit(int argc, char **argv)
{
    const char *db = QH_DEFAULT_DB, *inline_claim = NULL;
    int c;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "", qh_cmd_audit_options)) != -1) {
        if (c == 'd') db = optarg;
        else if (c == 'c') inline_claim = optarg;
        else return qh_cli_bad_option("audit", "", argv);
    }
    if (inline_claim && argc != optind) return qh_cli_usage("audit", "give a CLAIM.ini or --claim, not both (%s)", argv[optind]);
    if (!inline_claim && argc - optind != 1) return qh_cli_usage("audit", "expected one CLAIM.ini or --claim \"KEY = VALUE; ...\"%s", "");
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    /* plan and run on the sweep side, judge from the store, file the verdict */
    qh_claim claim;
    qh_audit_record record;
    char exp_name[160];
    if ((inline_claim ? qh_claim_load_inline(inline_claim, &claim, &err) : qh_claim_load(argv[optind], &claim, &err)) != 0 ||
        qh_claim_run(&claim, db, exp_name, sizeof exp_name, &err) != 0 ||
        qh_audit_evaluate(&claim, db, exp_name, stdout, &record, &err) != 0 || qh_claim_store_verdict(db, &claim, &record, &err) != 0)
        return qh_cli_die(&err);
    return 0;
}

const qh_command qh_command_audit = {
    .name = "audit",
    .run = qh_cmd_audit,
    .usage = "audit CLAIM.ini [--db FILE]\n"
             "       audit --claim \"model = default; method = SPEC; task = T; metric = M; retained = F[; claimed_bpp = B; budget = N; ...]\" [--db FILE]",
    .summary = "verdict on a claim: paired-bootstrap retention, chance-adjusted retention, bpp check, warnings; stored in SQLite",
    .options = qh_cmd_audit_options,
};
