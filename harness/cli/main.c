/* main.c - qharness: the list of commands (each defined in its file under harness/cli/cmd/
 * with its usage and options; shared pieces in cli.c), help and version. */
#include <stdio.h>
#include <string.h>

#include "datasets/datasets.h"
#include "harness/cli/cli.h"
#include "harness/model/model.h"
#include "harness/base/outfile.h"
#include "harness/base/progress.h"
#include "harness/run/store.h"
#include "harness/base/util.h"

static int cmd_help(int argc, char **argv);

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("qharness %s\n", QH_VERSION);
    return 0;
}

static const qh_command command_version = {.name = "version", .run = cmd_version, .usage = "version", .summary = "print the version"};
static const qh_command command_help = {.name = "help", .run = cmd_help, .usage = "help [COMMAND]",
                                        .summary = "this list, or one command's usage and options"};

/* the commands in the order help lists them; each is defined beside its option table in its
 * own file (harness/cli/cmd/NAME.c), its usage and summary included */
static const qh_command *const commands[] = {
    &qh_command_info,
    &qh_command_ppl,
    &qh_command_convert,
    &qh_command_kld,
    &qh_command_mc,
    &qh_command_sweep,
    &qh_command_merge,
    &qh_command_sweep_task,
    &qh_command_results,
    &qh_command_plot,
    &qh_command_audit,
    &qh_command_report,
    &qh_command_methods,
    &qh_command_tasks,
    &qh_command_quantize,
    &qh_command_tokenize,
    &qh_command_bench,
    &command_version,
    &command_help,
};

static void print_usage(const qh_command *c)
{
    printf("usage: qharness %s\n  %s\n\n", c->usage, c->summary);
    qh_cli_print_options(stdout, c->options);
}

/* "--help" or "-h" among a command's arguments (before a "--"): print its usage instead */
static int asks_for_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    if (argc >= 2) {
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (strcmp(commands[i]->name, argv[1]) == 0) {
                print_usage(commands[i]);
                return 0;
            }
        fprintf(stderr, "qharness: no command '%s'\n", argv[1]);
        return QH_EXIT_USAGE;
    }
    printf("usage: qharness COMMAND [ARGS]      (qharness COMMAND --help: that command's usage; qharness --version)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        printf("  %-9s %s\n", commands[i]->name, commands[i]->summary);
    printf("\nMODEL is a model folder (Hugging Face GPT-2 or Llama safetensors, a llama2.c checkpoint), a GGUF file,\n"
           "a file written by quantize, or a name under models/ ('default' = %s; 'smollm2' once make deps fetched it).\n"
           "Steps longer than two seconds show their progress on stderr (a line every 15 s when it is not a terminal);\n"
           "--quiet, with any command, silences it.\n"
           "Datasets: ", QH_DEFAULT_MODEL);
    for (const qh_text_dataset *d = qh_text_datasets; d->name; d++) printf("%s%s", d == qh_text_datasets ? "" : ", ", d->name);
    printf(".\nEnvironment: QHARNESS_THREADS (default: all cores), QHARNESS_HOME (default: the binary's directory).\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(1, argv);
        return QH_EXIT_USAGE;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines arrive as they are printed, piped or not */
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) return cmd_help(1, argv);
    if (strcmp(argv[1], "--version") == 0) return cmd_version(1, argv);
    qh_threads();
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i]->name, argv[1]) == 0) {
            if (asks_for_help(argc - 1, argv + 1)) {
                print_usage(commands[i]);
                return 0;
            }
            /* --quiet (any command, before a "--"): no progress lines; taken out before the
             * command parses its own options */
            int n = 1;
            for (int a = 1, past_dashes = 0; a < argc; a++) {
                past_dashes |= strcmp(argv[a], "--") == 0;
                if (!past_dashes && strcmp(argv[a], "--quiet") == 0) qh_progress_quiet(1);
                else argv[n++] = argv[a];
            }
            argv[n] = NULL;
            argc = n;
            int rc = commands[i]->run(argc - 1, argv + 1);
            qh_err err;
            /* stdout redirected to a full disk or a closed pipe: an error, never a silent empty file */
            if (qh_stdout_check(&err) != 0) return rc ? rc : qh_cli_die(&err);
            return rc;
        }
    fprintf(stderr, "qharness: '%s' is not a command (see 'qharness help')\n", argv[1]);
    return QH_EXIT_USAGE;
}
