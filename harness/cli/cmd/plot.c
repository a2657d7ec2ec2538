/* qharness plot: charts from SQLite. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "reports/plot.h"
#include "harness/cli/cli.h"
#include "harness/run/store.h"

const qh_cli_opt qh_cmd_plot_options[] = {
    {"db", required_argument, 'd', "FILE", "the results database", QH_DEFAULT_DB},
    {"experiment", required_argument, 'e', "NAME", "the experiment, by name (the latest of that name)", "the latest experiment"},
    {"id", required_argument, 'i', "ID", "the experiment, by id (qharness results lists them)", NULL},
    {"output", required_argument, 'o', "DIR", "the folder the charts are written to (also -o)", "reports/NAME, the experiment's name"},
    {"charts", required_argument, 'o', "DIR", "same as --output (report's word for the charts' folder)", NULL},
    {"scope", required_argument, 's', "quantized|model|both", "bits per parameter over the quantized tensors, the whole model, or a chart of each", "both"},
    {"bpp-scope", required_argument, 's', "quantized|model|both", "same as --scope (the spelling quantize takes too)", NULL},
    QH_CLI_OPT_END};

int qh_cmd_plot(int argc, char **argv)
{
    const char *db = QH_DEFAULT_DB, *name = NULL, *out = NULL;
    int whole = -1, c;
    long id = 0;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "o:", qh_cmd_plot_options)) != -1) {
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
    char title[300];
    if (id) snprintf(title, sizeof title, "experiment id %ld in %s", id, db);
    else snprintf(title, sizeof title, "experiment %s in %s", name ? name : "(the latest)", db);
    if (qh_plot_overview(out, title, &err) < 0) return qh_cli_die(&err);
    printf("charts       %d written under %s/ (PNG, SVG, with their .dat and .gp; overview: %s/index.md)\n", total, out, out);
    return 0;
}

const qh_command qh_command_plot = {
    .name = "plot",
    .run = qh_cmd_plot,
    .usage = "plot [--db FILE] [--experiment NAME | --id ID] [-o DIR] [--scope quantized|model|both]",
    .summary = "perplexity/accuracy-vs-bpp charts (PNG + SVG) with intervals, Pareto frontier, baseline and chance, from SQLite",
    .options = qh_cmd_plot_options,
};
