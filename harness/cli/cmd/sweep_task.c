/* qharness sweep-task: one Slurm array task of a sweep --slurm (the job script runs it): the
 * runs the plan file gives task INDEX, each into its own shard database. */

#include <stdlib.h>

#include "harness/run/sweep.h"
#include "harness/cli/cli.h"

int qh_cmd_sweep_task(int argc, char **argv)
{
    long index;
    if (argc != 3) return qh_cli_usage("sweep-task", "expected PLAN.json INDEX%s", "");
    if (qh_cli_parse_long(argv[2], 0, 1000000, &index) != 0) return qh_cli_usage("sweep-task", "'%s' is not a task index", argv[2]);
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    int rc = qh_sweep_task(argv[1], (int)index, &err);
    if (rc < 0) return qh_cli_die(&err);
    return rc;
}

const qh_command qh_command_sweep_task = {
    .name = "sweep-task",
    .run = qh_cmd_sweep_task,
    .usage = "sweep-task PLAN.json INDEX",
    .summary = "one Slurm array task of sweep --slurm (its job script runs this): the plan's runs into their shards",
    .options = NULL,
};
