/* qharness results: the runs of an experiment, read from SQLite. */

#include "harness/run/results.h"
#include "harness/cli/cli.h"
#include "harness/run/store.h"

const qh_cli_opt qh_cmd_results_options[] = {
    {"db", required_argument, 'd', "FILE", "the results database", QH_DEFAULT_DB},
    {"experiment", required_argument, 'e', "NAME", "the experiment, by name (the latest of that name)", "the list of experiments"},
    {"id", required_argument, 'i', "ID", "the experiment, by id (qharness results lists them)", NULL},
    {"all", no_argument, 'a', NULL, "every metric column (bits per byte, acc_norm, target perplexity, ...)", NULL},
    {"markdown", no_argument, 'm', NULL, "a Markdown table", NULL},
    {"csv", no_argument, 'c', NULL, "CSV, every column", NULL},
    {"json", no_argument, 'j', NULL, "one JSON object per run", NULL},
    {"lm-eval", no_argument, 'l', NULL, "lm-evaluation-harness's results layout per run, with bpp and intervals", NULL},
    QH_CLI_OPT_END};

int qh_cmd_results(int argc, char **argv)
{
    const char *db = QH_DEFAULT_DB, *name = NULL;
    int c, all = 0, n_formats = 0;
    long id = 0;
    qh_results_format fmt = QH_RESULTS_TEXT;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "", qh_cmd_results_options)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'e': name = optarg; break;
        case 'i':
            if (qh_cli_parse_long(optarg, 1, 1L << 40, &id) != 0) return qh_cli_usage("results", "'%s' is not an experiment id", optarg);
            break;
        case 'm': fmt = QH_RESULTS_MARKDOWN; n_formats++; break;
        case 'c': fmt = QH_RESULTS_CSV; n_formats++; break;
        case 'j': fmt = QH_RESULTS_JSON; n_formats++; break;
        case 'l': fmt = QH_RESULTS_LMEVAL; n_formats++; break;
        case 'a': all = 1; break;
        default: return qh_cli_bad_option("results", "", argv);
        }
    }
    if (argc != optind) return qh_cli_usage("results", "unexpected argument '%s'", argv[optind]);
    if (name && id) return qh_cli_usage("results", "give --experiment NAME or --id ID, not both%s", "");
    if (n_formats > 1) return qh_cli_usage("results", "give one of --markdown, --csv, --json, --lm-eval%s", "");
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    return qh_results_print(db, name, id, fmt, all, stdout, &err) == 0 ? 0 : qh_cli_die(&err);
}

/* --claim "key = value; key = value; ..." becomes a claim file under results/ (kept, so that the
 * audit's provenance names a file like any other), then is audited like one. */

const qh_command qh_command_results = {
    .name = "results",
    .run = qh_cmd_results,
    .usage = "results [--db FILE] [--experiment NAME | --id ID] [--all] [--markdown | --csv | --json | --lm-eval]  (neither: the list of experiments)",
    .summary = "the runs of an experiment with bpp, perplexity, fidelity and accuracies, read from SQLite",
    .options = qh_cmd_results_options,
};
