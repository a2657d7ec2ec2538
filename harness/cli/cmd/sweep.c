/* qharness sweep: every configuration of an experiment file into SQLite, here or as Slurm
 * array jobs (--slurm); where its runs stand (--status); stopping its Slurm tasks (--cancel). */

#include "harness/run/sweep.h"
#include "harness/cli/cli.h"
#include "harness/run/store.h"

const qh_cli_opt qh_cmd_sweep_options[] = {
    {"db", required_argument, 'd', "FILE", "the results database", QH_DEFAULT_DB},
    {"resume", no_argument, 'r', NULL, "continue the latest experiment of this name: runs done are kept, the rest run", NULL},
    {"new", no_argument, 'N', NULL, "start another experiment of this name although the latest is unfinished", NULL},
    {"dry-run", no_argument, 'n', NULL, "check the file against the models and print the plan and a time estimate; run nothing", NULL},
    {"json", no_argument, 'j', NULL, "--dry-run: the plan as JSON", NULL},
    {"timings", no_argument, 't', NULL, "print each run's time per step", NULL},
    {"status", no_argument, 's', NULL, "the experiment's runs and Slurm tasks, as stored", NULL},
    {"cancel", no_argument, 'x', NULL, "cancel the experiment's Slurm jobs", NULL},
    {"slurm", no_argument, 'S', NULL, "submit a Slurm array (one task per run or --runs-per-task runs) instead of running here", NULL},
    {"partition", required_argument, 'p', "P", "--slurm: the partition", "the cluster's default"},
    {"time", required_argument, 'T', "T", "--slurm: each task's time limit", "the partition's"},
    {"cpus-per-task", required_argument, 'c', "N", "--slurm: cores per task", "1"},
    {"max-parallel", required_argument, 'm', "K", "--slurm: array tasks running at once (0: no limit)", "0"},
    {"runs-per-task", required_argument, 'R', "R", "--slurm: runs per array task", "1"},
    {"no-merge-job", no_argument, 'M', NULL, "--slurm: no dependent job merging the shards (run qharness merge)", NULL},
    QH_CLI_OPT_END};

int qh_cmd_sweep(int argc, char **argv)
{
    qh_sweep_opts o = {0};
    int c, slurm_only = 0;
    long v;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "", qh_cmd_sweep_options)) != -1) {
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

const qh_command qh_command_sweep = {
    .name = "sweep",
    .run = qh_cmd_sweep,
    .usage = "sweep EXPERIMENT.ini [--db FILE] [--resume | --new] [--dry-run [--json]] [--timings]\n"
             "       sweep EXPERIMENT.ini --slurm [--resume] [--partition P] [--time T] [--cpus-per-task N] [--max-parallel K]\n"
             "             [--runs-per-task R] [--no-merge-job] [--db FILE]  (one Slurm array task per run, shard databases)\n"
             "       sweep EXPERIMENT.ini --status | --cancel [--db FILE]",
    .summary = "run every configuration of an experiment file into SQLite (default " QH_DEFAULT_DB "), here or on Slurm",
    .options = qh_cmd_sweep_options,
};
