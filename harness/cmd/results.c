/* qharness results: the runs of an experiment, read from SQLite. */

#include "../results.h"
#include "../cli.h"

int qh_cmd_results(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"experiment", required_argument, 0, 'e'},
                                             {"id", required_argument, 0, 'i'}, {"markdown", no_argument, 0, 'm'}, {"csv", no_argument, 0, 'c'},
                                             {"json", no_argument, 0, 'j'}, {"lm-eval", no_argument, 0, 'l'}, {"all", no_argument, 0, 'a'},
                                             {0, 0, 0, 0}};
    const char *db = "results/qharness.sqlite", *name = NULL;
    int c, all = 0, n_formats = 0;
    long id = 0;
    qh_results_format fmt = QH_RESULTS_TEXT;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
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
