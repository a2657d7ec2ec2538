/* main.c - qharness: the table of commands (one file each under harness/cmd/, shared pieces in
 * cli.c), help and version. */
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

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *summary;
    const qh_cli_opt *options; /* NULL: the command takes none */
} commands[] = {
    {"info", qh_cmd_info, "info MODEL | info FILE.gguf [--tensors]",
     "config, parameter counts by group, dtype and sha256 of a model; for a GGUF file its header and bits-per-weight ledger", qh_cmd_info_options},
    {"ppl", qh_cmd_ppl, "ppl MODEL|PACKED.safetensors|FILE.gguf TEXT [OPTIONS]",
     "perplexity with a bootstrap 95% interval; TEXT is a dataset name or a UTF-8 file", qh_cmd_ppl_options},
    {"convert", qh_cmd_convert, "convert MODEL -o FILE.gguf [--type F32|F16|BF16|Q8_0|Q4_0|MXFP4]",
     "write a model as a GGUF file llama.cpp loads (block matrices, embedding and output in --type; ggml's rounding)", qh_cmd_convert_options},
    {"kld", qh_cmd_kld,
     "kld BASE MODEL|PACKED.safetensors|FILE.gguf TEXT [OPTIONS]",
     "KL divergence of MODEL from BASE per position, with llama-perplexity's statistics (--method quantizes MODEL)", qh_cmd_kld_options},
    {"mc", qh_cmd_mc,
     "mc MODEL --task NAME [OPTIONS]",
     "multiple-choice accuracy with a Wilson 95% interval and the chance level (mmlu, blimp, lambada, arc-easy, ...)", qh_cmd_mc_options},
    {"sweep", qh_cmd_sweep,
     "sweep EXPERIMENT.ini [--db FILE] [--resume | --new] [--dry-run [--json]] [--timings]\n"
     "       sweep EXPERIMENT.ini --slurm [--resume] [--partition P] [--time T] [--cpus-per-task N] [--max-parallel K]\n"
     "             [--runs-per-task R] [--no-merge-job] [--db FILE]  (one Slurm array task per run, shard databases)\n"
     "       sweep EXPERIMENT.ini --status | --cancel [--db FILE]",
     "run every configuration of an experiment file into SQLite (default " QH_DEFAULT_DB "), here or on Slurm", qh_cmd_sweep_options},
    {"merge", qh_cmd_merge, "merge --experiment NAME | --id ID [--db FILE]",
     "copy the finished runs of a Slurm sweep's shard databases into the experiment database (idempotent)", qh_cmd_merge_options},
    {"sweep-task", qh_cmd_sweep_task, "sweep-task PLAN.json INDEX",
     "one Slurm array task of sweep --slurm (its job script runs this): the plan's runs into their shards", NULL},
    {"results", qh_cmd_results, "results [--db FILE] [--experiment NAME | --id ID] [--all] [--markdown | --csv | --json | --lm-eval]  (neither: the list of experiments)",
     "the runs of an experiment with bpp, perplexity, fidelity and accuracies, read from SQLite", qh_cmd_results_options},
    {"plot", qh_cmd_plot, "plot [--db FILE] [--experiment NAME | --id ID] [-o DIR] [--scope quantized|model|both]",
     "perplexity/accuracy-vs-bpp charts (PNG + SVG) with intervals, Pareto frontier, baseline and chance, from SQLite", qh_cmd_plot_options},
    {"audit", qh_cmd_audit,
     "audit CLAIM.ini [--db FILE]\n"
     "       audit --claim \"model = default; method = SPEC; task = T; metric = M; retained = F[; claimed_bpp = B; budget = N; ...]\" [--db FILE]",
     "verdict on a claim: paired-bootstrap retention, chance-adjusted retention, bpp check, warnings; stored in SQLite", qh_cmd_audit_options},
    {"report", qh_cmd_report,
     "report [--db FILE] [--experiment NAME | --id ID] [-o FILE.md] [--charts DIR]\n"
     "       report --assessment [--db FILE] [--template FILE.md.in] [-o FILE.md]  (HONEST_ASSESSMENT.md from the database)",
     "Markdown report from SQLite: provenance, results with intervals, Pareto sets, warnings, charts; or the assessment", qh_cmd_report_options},
    {"methods", qh_cmd_methods, "methods", "list the quantization methods and their parameters", NULL},
    {"tasks", qh_cmd_tasks, "tasks", "list the evaluation tasks: multiple-choice sets (items, chance, protocol) and texts", NULL},
    {"quantize", qh_cmd_quantize,
     "quantize MODEL --method SPEC [-o FILE] [OPTIONS]\n"
     "       quantize MODEL --candidate SPEC ... --target BPP [-o FILE] [OPTIONS]  (mixed precision)",
     "quantize a model; report bits per parameter from the packed bytes; write the packed file", qh_cmd_quantize_options},
    {"tokenize", qh_cmd_tokenize, "tokenize MODEL TEXT", "print the token ids of a text, one per line (BOS first where the vocabulary adds one)", NULL},
    {"bench", qh_cmd_bench, "bench [MODEL] [--ctx N] [--batch B] [--windows W] | bench --dequant FILE.gguf",
     "forward-pass tokens/s and GFLOP/s next to OpenBLAS sgemm on the same shapes", qh_cmd_bench_options},
    {"version", cmd_version, "version", "print the version", NULL},
    {"help", cmd_help, "help [COMMAND]", "this list, or one command's usage and options", NULL},
};

static void print_usage(const struct command *c)
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
            if (strcmp(commands[i].name, argv[1]) == 0) {
                print_usage(&commands[i]);
                return 0;
            }
        fprintf(stderr, "qharness: no command '%s'\n", argv[1]);
        return QH_EXIT_USAGE;
    }
    printf("usage: qharness COMMAND [ARGS]      (qharness COMMAND --help: that command's usage; qharness --version)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        printf("  %-9s %s\n", commands[i].name, commands[i].summary);
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
        if (strcmp(commands[i].name, argv[1]) == 0) {
            if (asks_for_help(argc - 1, argv + 1)) {
                print_usage(&commands[i]);
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
            int rc = commands[i].run(argc - 1, argv + 1);
            qh_err err;
            /* stdout redirected to a full disk or a closed pipe: an error, never a silent empty file */
            if (qh_stdout_check(&err) != 0) return rc ? rc : qh_cli_die(&err);
            return rc;
        }
    fprintf(stderr, "qharness: '%s' is not a command (see 'qharness help')\n", argv[1]);
    return QH_EXIT_USAGE;
}
