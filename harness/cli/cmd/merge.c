/* qharness merge: the finished runs of an experiment's shard databases (sweep --slurm) into
 * the experiment database, one transaction per run; idempotent. */

#include <stdio.h>
#include <stdlib.h>

#include "harness/run/shard.h"
#include "harness/cli/cli.h"
#include "harness/run/store.h"

const qh_cli_opt qh_cmd_merge_options[] = {
    {"db", required_argument, 'd', "FILE", "the results database", QH_DEFAULT_DB},
    {"experiment", required_argument, 'e', "NAME", "the experiment, by name (the latest of that name)", "the latest experiment"},
    {"id", required_argument, 'i', "ID", "the experiment, by id (qharness results lists them)", NULL},
    QH_CLI_OPT_END};

int qh_cmd_merge(int argc, char **argv)
{
    const char *db_path = QH_DEFAULT_DB, *name = NULL;
    long id = 0;
    int c;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "", qh_cmd_merge_options)) != -1) {
        switch (c) {
        case 'd': db_path = optarg; break;
        case 'e': name = optarg; break;
        case 'i':
            if (qh_cli_parse_long(optarg, 1, 1L << 40, &id) != 0) return qh_cli_usage("merge", "'%s' is not an experiment id", optarg);
            break;
        default: return qh_cli_bad_option("merge", "", argv);
        }
    }
    if (optind != argc || (!name) == (!id)) return qh_cli_usage("merge", "expected --experiment NAME or --id ID%s", "");
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    if (!qh_file_exists(db_path)) {
        qh_fail(&err, "%s: no such database", db_path);
        return qh_cli_die(&err);
    }
    qh_store s;
    if (qh_store_open(db_path, &s, &err) != 0) return qh_cli_die(&err);
    long long exp;
    if (qh_store_pick_experiment(s.db, db_path, name, id, &exp, &err) != 0) goto out;
    char *dir = qh_shard_dir(db_path, exp);
    if (!qh_is_dir(dir)) {
        qh_fail(&err, "%s: no shards (experiment %lld was not run with sweep --slurm)", dir, exp);
        free(dir);
        goto out;
    }
    qh_merge_counts m;
    if (qh_merge_shards(&s, exp, dir, &m, &err) != 0) {
        free(dir);
        goto out;
    }
    long long done, total;
    int found;
    if (qh_store_int(&s, &err, &done, &found, "SELECT COUNT(*) FROM runs WHERE experiment_id=? AND status='done'", "i", exp) ||
        qh_store_int(&s, &err, &total, &found, "SELECT COUNT(*) FROM runs WHERE experiment_id=?", "i", exp)) {
        free(dir);
        goto out;
    }
    printf("merged %d shards of experiment %lld from %s: %d runs copied in, %d done before (untouched), %d failed recorded, "
           "%d unfinished, %d refused; %lld of %lld runs done\n",
           m.shards, exp, dir, m.merged, m.already, m.failed, m.unfinished, m.refused, done, total);
    free(dir);
    qh_store_close(&s);
    return m.refused ? 1 : 0;
out:
    qh_store_close(&s);
    return qh_cli_die(&err);
}

const qh_command qh_command_merge = {
    .name = "merge",
    .run = qh_cmd_merge,
    .usage = "merge --experiment NAME | --id ID [--db FILE]",
    .summary = "copy the finished runs of a Slurm sweep's shard databases into the experiment database (idempotent)",
    .options = qh_cmd_merge_options,
};
