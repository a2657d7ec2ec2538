/* qharness plot: charts from SQLite. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../../reports/plot.h"
#include "../cli.h"

int qh_cmd_plot(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"experiment", required_argument, 0, 'e'},
                                             {"id", required_argument, 0, 'i'}, {"output", required_argument, 0, 'o'}, {"scope", required_argument, 0, 's'},
                                             {0, 0, 0, 0}};
    const char *db = "results/qharness.sqlite", *name = NULL, *out = NULL;
    int whole = -1, c;
    long id = 0;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'e': name = optarg; break;
        case 'i':
            if (qh_cli_parse_long(optarg, 1, 1L << 40, &id) != 0) return qh_cli_usage("plot", "'%s' is not an experiment id", optarg);
            break;
        case 'o': out = optarg; break;
        case 's':
            if (strcmp(optarg, "quantized") && strcmp(optarg, "model") && strcmp(optarg, "both"))
                return qh_cli_usage("plot", "--scope '%s' must be quantized, model or both", optarg);
            whole = strcmp(optarg, "model") == 0 ? 1 : strcmp(optarg, "quantized") == 0 ? 0 : -1;
            break;
        default: return qh_cli_bad_option("plot", "o:", argv);
        }
    }
    if (argc != optind) return qh_cli_usage("plot", "unexpected argument '%s'", argv[optind]);
    if (name && id) return qh_cli_usage("plot", "give --experiment NAME or --id ID, not both%s", "");
    char def[256];
    if (!out) {
        if (id) snprintf(def, sizeof def, "reports/experiment-%ld", id);
        else snprintf(def, sizeof def, "reports/%s", name ? name : "latest");
        out = def;
        mkdir("reports", 0755);
    }
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    int total = 0;
    for (int scope = 0; scope < 2; scope++) {
        if (whole >= 0 && scope != whole) continue;
        int n = qh_plot(db, name, id, out, scope, stdout, &err);
        if (n < 0) return qh_cli_die(&err);
        total += n;
    }
    printf("charts       %d written under %s/ (PNG, SVG, with their .dat and .gp)\n", total, out);
    return 0;
}
