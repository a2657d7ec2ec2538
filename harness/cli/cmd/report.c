/* qharness report: the Markdown report or the assessment, from SQLite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reports/assessment.h"
#include "reports/report.h"
#include "harness/cli/cli.h"
#include "harness/run/store.h"
#include "harness/base/outfile.h"

const qh_cli_opt qh_cmd_report_options[] = {
    {"db", required_argument, 'd', "FILE", "the results database", QH_DEFAULT_DB},
    {"experiment", required_argument, 'e', "NAME", "the experiment, by name (the latest of that name)", "the latest experiment"},
    {"id", required_argument, 'i', "ID", "the experiment, by id (qharness results lists them)", NULL},
    {"output", required_argument, 'o', "FILE.md", "write the report here (also -o)", "standard output"},
    {"charts", required_argument, 'c', "DIR", "link the charts qharness plot wrote to this folder", "no charts linked"},
    {"assessment", no_argument, 'a', NULL, "the project's HONEST_ASSESSMENT.md from the database instead", NULL},
    {"template", required_argument, 't', "FILE.md.in", "--assessment: the template", "reports/assessment.md.in"},
    QH_CLI_OPT_END};

int qh_cmd_report(int argc, char **argv)
{
    const char *db = QH_DEFAULT_DB, *name = NULL, *outp = NULL, *charts = NULL, *template = NULL;
    int c, assessment = 0;
    long id = 0;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "o:", qh_cmd_report_options)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'e': name = optarg; break;
        case 'i':
            if (qh_cli_parse_long(optarg, 1, 1L << 40, &id) != 0) return qh_cli_usage("report", "'%s' is not an experiment id", optarg);
            break;
        case 'o': outp = optarg; break;
        case 'c': charts = optarg; break;
        case 'a': assessment = 1; break;
        case 't': template = optarg; break;
        default: return qh_cli_bad_option("report", "o:", argv);
        }
    }
    if (argc != optind) return qh_cli_usage("report", "unexpected argument '%s'", argv[optind]);
    if (assessment && (name || id || charts))
        return qh_cli_usage("report", "--assessment reads every experiment and audit; it takes no %s", name ? "--experiment" : id ? "--id" : "--charts");
    if (name && id) return qh_cli_usage("report", "give --experiment NAME or --id ID, not both%s", "");
    if (template && !assessment) return qh_cli_usage("report", "%s goes with --assessment", "--template");
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    FILE *f = stdout;
    qh_outfile out;
    if (outp) {
        if (qh_outfile_open(&out, outp, &err) != 0) return qh_cli_die(&err);
        f = out.f;
    }
    int rc;
    if (assessment) {
        char *default_template = qh_path_join(qh_home(), "reports/assessment.md.in");
        rc = qh_assessment(db, template ? template : default_template, db, template ? template : "reports/assessment.md.in", f, &err);
        free(default_template);
    } else
        rc = qh_report(db, name, id, charts, f, &err);
    if (outp) {
        if (rc != 0) qh_outfile_abort(&out);
        else if ((rc = qh_outfile_commit(&out, &err)) == 0) printf("%s   %s\n", assessment ? "assessment" : "report    ", outp);
    } else if (rc == 0)
        rc = qh_stdout_check(&err);
    return rc == 0 ? 0 : qh_cli_die(&err);
}

const qh_command qh_command_report = {
    .name = "report",
    .run = qh_cmd_report,
    .usage = "report [--db FILE] [--experiment NAME | --id ID] [-o FILE.md] [--charts DIR]\n"
             "       report --assessment [--db FILE] [--template FILE.md.in] [-o FILE.md]  (HONEST_ASSESSMENT.md from the database)",
    .summary = "Markdown report from SQLite: provenance, results with intervals, Pareto sets, warnings, charts; or the assessment",
    .options = qh_cmd_report_options,
};
