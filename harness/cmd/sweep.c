/* qharness sweep: every configuration of an experiment file into SQLite. */

#include "../sweep.h"
#include "../cli.h"

int qh_cmd_sweep(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"resume", no_argument, 0, 'r'},
                                             {"dry-run", no_argument, 0, 'n'}, {"timings", no_argument, 0, 't'},
                                             {"json", no_argument, 0, 'j'},
                                             {0, 0, 0, 0}};
    qh_sweep_opts o = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db_path = optarg; break;
        case 'r': o.resume = 1; break;
        case 'n': o.dry_run = 1; break;
        case 't': o.timings = 1; break;
        case 'j': o.json = 1; break;
        default: return qh_cli_usage("sweep", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return qh_cli_usage("sweep", "expected one EXPERIMENT.ini%s", "");
    if (o.json && !o.dry_run) return qh_cli_usage("sweep", "--json goes with --dry-run%s", "");
    qh_err err;
    int rc = qh_sweep(argv[optind], &o, &err);
    if (rc < 0) return qh_cli_die(&err);
    return rc;
}
