/* cli.h - what the commands of qharness share (harness/cmd/NAME.c, one file per command;
 * harness/cli/main.c is the table): error exits, integer options, the quantization-scope and
 * calibration options (--method ... --imatrix), the window options of ppl and kld, loading a
 * model (directory, packed file or GGUF) with its tokenizer. */
#ifndef QH_CLI_H
#define QH_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "harness/eval/eval_ppl.h"
#include "harness/model/model.h"
#include "harness/quantize/quantize.h"
#include "harness/model/tokenizer.h"
#include "harness/base/util.h"

#define QH_EXIT_USAGE 2

typedef struct {
    qh_model *model;
    qh_tokenizer *tok;
    int *token_bytes;          /* (n_vocab) */
    int quantized;             /* model holds decoded quantized weights */
    qh_quant_result quant;     /* their specs, parts and byte accounting */
} qh_cli_model;

/* One option of a command: getopt's row beside its help.  Each command's table is both what
 * getopt reads (qh_cli_getopt) and what `qharness COMMAND --help` prints, so an option cannot
 * exist without its sentence.  An alias row (an older or shared spelling kept working) says
 * "same as --NAME". */
typedef struct {
    const char *name;  /* long name, without "--" */
    int has_arg;       /* no_argument or required_argument */
    int val;           /* what qh_cli_getopt returns for it */
    const char *arg;   /* the argument's name in help ("N", "SPEC"); NULL for a flag */
    const char *help;  /* one sentence */
    const char *dflt;  /* the default, in words; NULL for a flag or where there is none */
} qh_cli_opt;
#define QH_CLI_OPT_END {0, 0, 0, 0, 0, 0}

/* getopt_long over a command's table (built into getopt's form once per table) */
int qh_cli_getopt(int argc, char **argv, const char *shortopts, const qh_cli_opt *table);
/* "options:" and a line per row: --name ARG, the sentence, its default */
void qh_cli_print_options(FILE *f, const qh_cli_opt *table);

/* --method, --include, --exclude, --override, --kept-dtype, calibration (--calib, --calib-windows,
 * --calib-ctx, --calib-seed, --imatrix) and mixed precision (--candidate, --target, --target-scope) */
#define QH_SCOPE_OPTS                                                                                                   \
    {"method", required_argument, 1001, "SPEC",                                                                      \
     "quantize the model first: a method and its parameters, e.g. \"rtn bits=4 group=64\" (see qharness methods)",     \
     "no quantization"},                                                                                                \
        {"include", required_argument, 1002, "GLOB",                                                                 \
         "also quantize the matrices whose names match, beyond the default scope (repeatable; --exclude narrows it)",  \
         "none: the default scope, every block matrix"},                                                               \
        {"exclude", required_argument, 1003, "GLOB", "keep the tensors whose names match unquantized (repeatable)",  \
         "none"},                                                                                                       \
        {"override", required_argument, 1004, "GLOB=SPEC",                                                           \
         "quantize the tensors whose names match with SPEC instead (repeatable)", NULL},                                \
        {"kept-dtype", required_argument, 1005, "F16|BF16|F32",                                                      \
         "the type unquantized tensors are stored and counted in", "F16"},                                              \
        {"calib", required_argument, 1006, "TEXT",                                                                   \
         "calibration text of the methods that need one (never an evaluation text)", "gutenberg-calib"},                \
        {"calib-windows", required_argument, 1007, "N", "calibration windows drawn from --calib", "128"},            \
        {"calib-ctx", required_argument, 1008, "T", "tokens per calibration window", "the model's context"},         \
        {"calib-seed", required_argument, 1009, "S", "seed of the draw of calibration windows", "1"},                \
        {"imatrix", required_argument, 1013, "FILE.dat",                                                             \
         "llama.cpp's importance matrix in place of calibration windows", NULL},                                        \
        {"candidate", required_argument, 1010, "SPEC",                                                               \
         "mixed precision: a method each tensor may take (repeatable; needs --target)", NULL},                          \
        {"target", required_argument, 1011, "BPP", "mixed precision: the bits per parameter to meet", NULL},         \
        {"target-scope", required_argument, 1012, "quantized|model",                                                 \
         "mixed precision: --target counts the quantized tensors or the whole model", "quantized"},                     \
        {"bpp-scope", required_argument, 1012, "quantized|model", "same as --target-scope", NULL}

/* --ctx, --max-tokens (alias --budget), --seed, --protocol, --chunks */
#define QH_WINDOW_OPTS                                                                                                  \
    {"ctx", required_argument, 'c', "N", "window length in tokens", "the model's context"},                          \
        {"max-tokens", required_argument, 'm', "N", "score only the first N tokens of the text", "the whole text"},  \
        {"budget", required_argument, 'm', "N", "same as --max-tokens (the word experiment files use)", NULL},       \
        {"seed", required_argument, 'S', "S", "seed of the bootstrap resamples", "1"},                               \
        {"protocol", required_argument, 'P', "sliding|llama-cpp",                                                    \
         "sliding windows (every token scored once, with context) or llama-perplexity's chunks (second halves)",       \
         "sliding"},                                                                                                    \
        {"chunks", required_argument, 'C', "N", "llama-cpp protocol: score only the first N chunks", "all"}

/* What the scope and calibration options set: the quantization options and the calibration
 * source (a text, default gutenberg-calib, 128 windows of the model's context, seed 1; or
 * llama.cpp's importance matrix) */
typedef struct {
    qh_quant_opts quant;
    const char *calib_text, *imatrix;
    int calib_windows, calib_ctx, calib_given;
    unsigned long calib_seed;
} qh_cli_scope;

int qh_cli_die(const qh_err *err);
int qh_cli_usage(const char *cmd, const char *fmt, const char *arg);
/* The default branch of an option switch: "option '--x' needs a value" when getopt found the
 * option without its argument, else "unknown option '--x'" (optstring: the short options). */
int qh_cli_bad_option(const char *cmd, const char *optstring, char **argv);
int qh_cli_parse_long(const char *s, long lo, long hi, long *out);
void qh_cli_scope_init(qh_cli_scope *s);
int qh_cli_scope_option(int c, char *arg, qh_cli_scope *s, const char *cmd, const char *optstring, char **argv);
int qh_cli_mixed_usage(const char *cmd, const qh_cli_scope *s);
int qh_cli_quantize(qh_model *m, qh_tokenizer *tok, const qh_cli_scope *s, qh_quant_result *res, qh_err *err);
int qh_cli_load(const char *arg, const qh_cli_scope *s, qh_cli_model *lm, qh_err *err);
void qh_cli_free_loaded(qh_cli_model *lm);
/* --json output: one object per line through cJSON (strings escaped); a number that is not
 * finite is null (JSON has no nan), an interval is [lo, hi] or null. */
struct cJSON;
void qh_cli_json_number(struct cJSON *o, const char *key, double v);
void qh_cli_json_interval(struct cJSON *o, const char *key, double lo, double hi);
void qh_cli_json_print(struct cJSON *o);
int qh_cli_window_option(int c, const char *arg, qh_ppl_opts *opts, const char *cmd);
int qh_cli_window_or_scope_option(int c, char *arg, qh_ppl_opts *opts, qh_cli_scope *q, const char *cmd, char **argv);

/* one command each, harness/cmd/NAME.c */
/* their option tables (getopt's rows and --help's lines) */
extern const qh_cli_opt qh_cmd_ppl_options[], qh_cmd_kld_options[], qh_cmd_mc_options[], qh_cmd_audit_options[],
    qh_cmd_bench_options[], qh_cmd_convert_options[], qh_cmd_merge_options[], qh_cmd_plot_options[],
    qh_cmd_quantize_options[], qh_cmd_report_options[], qh_cmd_results_options[], qh_cmd_sweep_options[],
    qh_cmd_info_options[];
/* Set by the command-line fuzzer (tests/fuzz/fuzz_cli.c): a command returns 0 as soon as its
 * options are parsed and checked, before it opens, loads or writes anything. */
extern int qh_cli_parse_only;
#define QH_CLI_OPTIONS_CHECKED()              \
    do {                                      \
        if (qh_cli_parse_only) return 0;      \
    } while (0)

/* A command: its name, what runs it, its usage line(s) and one-line summary for help, and its
 * options (NULL: none).  Each is defined in its file under cmd/, beside its option table. */
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *summary;
    const qh_cli_opt *options;
} qh_command;
extern const qh_command qh_command_info, qh_command_ppl, qh_command_convert, qh_command_kld, qh_command_mc, qh_command_sweep,
    qh_command_merge, qh_command_sweep_task, qh_command_results, qh_command_plot, qh_command_audit, qh_command_report,
    qh_command_methods, qh_command_tasks, qh_command_quantize, qh_command_tokenize, qh_command_bench;

int qh_cmd_info(int argc, char **argv);
int qh_cmd_tokenize(int argc, char **argv);
int qh_cmd_ppl(int argc, char **argv);
int qh_cmd_kld(int argc, char **argv);
int qh_cmd_convert(int argc, char **argv);
int qh_cmd_mc(int argc, char **argv);
int qh_cmd_sweep(int argc, char **argv);
int qh_cmd_sweep_task(int argc, char **argv);
int qh_cmd_merge(int argc, char **argv);
int qh_cmd_results(int argc, char **argv);
int qh_cmd_audit(int argc, char **argv);
int qh_cmd_report(int argc, char **argv);
int qh_cmd_plot(int argc, char **argv);
int qh_cmd_methods(int argc, char **argv);
int qh_cmd_tasks(int argc, char **argv);
int qh_cmd_quantize(int argc, char **argv);
int qh_cmd_bench(int argc, char **argv);

#endif
