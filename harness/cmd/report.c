/* qharness report: the Markdown report or the assessment, from SQLite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../reports/assessment.h"
#include "../../reports/report.h"
#include "../cli.h"
#include "../outfile.h"

int qh_cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"experiment", required_argument, 0, 'e'},
                                             {"id", required_argument, 0, 'i'}, {"output", required_argument, 0, 'o'}, {"charts", required_argument, 0, 'c'},
                                             {"assessment", no_argument, 0, 'a'}, {"template", required_argument, 0, 't'},
                                             {0, 0, 0, 0}};
    const char *db = "results/qharness.sqlite", *name = NULL, *outp = NULL, *charts = NULL, *template = NULL;
    int c, assessment = 0;
    long id = 0;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
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
