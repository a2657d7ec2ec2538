/* qharness tasks: what can be evaluated -- the multiple-choice sets with their sizes, chance
 * levels and protocols, and the shipped texts for perplexity and fidelity. */
#include <stdio.h>
#include <string.h>

#include "datasets/datasets.h"
#include "datasets/mc.h"
#include "harness/cli/cli.h"

int qh_cmd_tasks(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) return qh_cli_usage("tasks", "takes no arguments (%s)", argv[1]);
    printf("Multiple-choice tasks (qharness mc MODEL --task NAME; in an experiment: NAME = ITEMS under [tasks]):\n\n");
    int width = 4; /* the longest task name */
    for (const qh_mc_set *s = qh_mc_sets; s->name; s++)
        if ((int)strlen(s->name) > width) width = (int)strlen(s->name);
    printf("  %-*s %7s %7s\n", width, "task", "items", "chance");
    for (const qh_mc_set *s = qh_mc_sets; s->name; s++) {
        qh_mc_opts o = {.budget = 0, .seed = 1};
        qh_mc_task t;
        qh_err err;
        if (qh_mc_load_set(s, &o, &t, &err) != 0) {
            printf("  %-*s %7s %7s  not loadable here: %s\n", width, s->name, "-", "-", err.msg);
            continue;
        }
        const char *proto = t.protocol;
        size_t skip = strlen(s->name) + 2; /* "NAME: " repeats the name */
        if (strncmp(proto, s->name, strlen(s->name)) == 0 && proto[strlen(s->name)] == ':') proto += skip;
        char chance[16] = "-";
        if (t.chance > 0) snprintf(chance, sizeof chance, "%.4f", t.chance);
        /* how a run draws its items is the run's, not the task's: cut "[;,] seeded subset (seed 1)" */
        const char *subset = strstr(proto, "seeded subset");
        int shown = subset ? (int)(subset - proto) : (int)strlen(proto);
        while (shown > 0 && strchr(" ,;", proto[shown - 1])) shown--;
        printf("  %-*s %7ld %7s   lm-eval: %s%s\n      %.*s\n", width, s->name, t.n_available, chance, s->lm_eval,
               s->lm_eval_name ? " (either name is taken; stored as the first)" : "", shown, proto);
        qh_mc_free(&t);
    }
    printf("\nTexts (qharness ppl|kld MODEL NAME; in an experiment: ppl.NAME or fidelity.NAME = TOKENS, @llama-cpp for that protocol):\n\n");
    for (const qh_text_dataset *d = qh_text_datasets; d->name; d++) {
        printf("  %-22s %s\n", d->name, d->summary);
        if (d->documents_rule) printf("  %-22s   documents (ppl's interval by document): %s\n", "", d->documents_rule);
    }
    return 0;
}

const qh_command qh_command_tasks = {
    .name = "tasks",
    .run = qh_cmd_tasks,
    .usage = "tasks",
    .summary = "list the evaluation tasks: multiple-choice sets (items, chance, protocol) and texts",
    .options = NULL,
};
