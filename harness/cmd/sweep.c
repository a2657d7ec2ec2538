/* qharness sweep: every configuration of an experiment file into SQLite, here or as Slurm
 * array jobs (--slurm); where its runs stand (--status); stopping its Slurm tasks (--cancel). */

#include "../sweep.h"
#include "../cli.h"

int qh_cmd_sweep(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"resume", no_argument, 0, 'r'},
                                             {"new", no_argument, 0, 'N'},
                                             {"dry-run", no_argument, 0, 'n'}, {"timings", no_argument, 0, 't'},
                                             {"json", no_argument, 0, 'j'}, {"status", no_argument, 0, 's'},
                                             {"cancel", no_argument, 0, 'x'}, {"slurm", no_argument, 0, 'S'},
                                             {"partition", required_argument, 0, 'p'}, {"time", required_argument, 0, 'T'},
                                             {"cpus-per-task", required_argument, 0, 'c'}, {"max-parallel", required_argument, 0, 'm'},
                                             {"runs-per-task", required_argument, 0, 'R'}, {"no-merge-job", no_argument, 0, 'M'},
                                             {0, 0, 0, 0}};
    qh_sweep_opts o = {0};
    int c, slurm_only = 0;
    long v;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db_path = optarg; break;
        case 'r': o.resume = 1; break;
        case 'N': o.new_experiment = 1; break;
        case 'n': o.dry_run = 1; break;
        case 't': o.timings = 1; break;
        case 'j': o.json = 1; break;
        case 's': o.status = 1; break;
        case 'x': o.cancel = 1; break;
        case 'S': o.slurm = 1; break;
        case 'p': o.slurm_opts.partition = optarg, slurm_only = 1; break;
        case 'T': o.slurm_opts.time_limit = optarg, slurm_only = 1; break;
        case 'M': o.slurm_opts.no_merge_job = 1, slurm_only = 1; break;
        case 'c':
        case 'm':
        case 'R':
            if (qh_cli_parse_long(optarg, c == 'm' ? 0 : 1, 100000, &v) != 0)
                return qh_cli_usage("sweep", "'%s' is not a count for --cpus-per-task, --max-parallel or --runs-per-task", optarg);
            if (c == 'c') o.slurm_opts.cpus_per_task = (int)v;
            else if (c == 'm') o.slurm_opts.max_parallel = (int)v;
            else o.slurm_opts.runs_per_task = (int)v;
            slurm_only = 1;
            break;
        default: return qh_cli_bad_option("sweep", "", argv);
        }
    }
    if (argc - optind != 1) return qh_cli_usage("sweep", "expected one EXPERIMENT.ini%s", "");
    if (o.json && !o.dry_run) return qh_cli_usage("sweep", "--json goes with --dry-run%s", "");
    if (slurm_only && !o.slurm) return qh_cli_usage("sweep", "--partition, --time, --cpus-per-task, --max-parallel, --runs-per-task and --no-merge-job go with --slurm%s", "");
    if (o.resume && o.new_experiment) return qh_cli_usage("sweep", "--resume continues the latest experiment of the name, --new starts another: give one%s", "");
    if (o.status + o.cancel + o.dry_run > 1 || ((o.status || o.cancel || o.dry_run) && (o.slurm || o.resume || o.new_experiment)))
        return qh_cli_usage("sweep", "--status, --cancel and --dry-run each go alone (with --db)%s", "");
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    int rc = qh_sweep(argv[optind], &o, &err);
    if (rc < 0) return qh_cli_die(&err);
    return rc;
}
