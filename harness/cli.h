/* cli.h - what the commands of qharness share (harness/cmd/NAME.c, one file per command;
 * harness/main.c is the table): error exits, integer options, the quantization-scope and
 * calibration options (--method ... --imatrix), the window options of ppl and kld, loading a
 * model (directory, packed file or GGUF) with its tokenizer. */
#ifndef QH_CLI_H
#define QH_CLI_H

#include <getopt.h>

#include "eval_ppl.h"
#include "model.h"
#include "quantize.h"
#include "tokenizer.h"
#include "util.h"

#define QH_EXIT_USAGE 2

typedef struct {
    qh_model *model;
    qh_tokenizer *tok;
    int *token_bytes;          /* (n_vocab) */
    int quantized;             /* model holds decoded quantized weights */
    qh_quant_result quant;     /* their specs, parts and byte accounting */
} qh_cli_model;

/* --method, --include, --exclude, --override, --kept-dtype, calibration (--calib, --calib-windows,
 * --calib-ctx, --calib-seed, --imatrix) and mixed precision (--candidate, --target, --target-scope) */
#define SCOPE_LONGOPTS                                                                         \
    {"method", required_argument, 0, 1001}, {"include", required_argument, 0, 1002},          \
        {"exclude", required_argument, 0, 1003}, {"override", required_argument, 0, 1004},    \
        {"kept-dtype", required_argument, 0, 1005}, {"calib", required_argument, 0, 1006},    \
        {"calib-windows", required_argument, 0, 1007}, {"calib-ctx", required_argument, 0, 1008}, \
        {"calib-seed", required_argument, 0, 1009}, {"candidate", required_argument, 0, 1010},    \
        {"target", required_argument, 0, 1011}, {"target-scope", required_argument, 0, 1012},     \
        {"imatrix", required_argument, 0, 1013}

/* --ctx, --max-tokens, --seed, --protocol, --chunks */
#define WINDOW_LONGOPTS                                                                                             \
    {"ctx", required_argument, 0, 'c'}, {"max-tokens", required_argument, 0, 'm'}, {"seed", required_argument, 0, 'S'}, \
        {"protocol", required_argument, 0, 'P'}, {"chunks", required_argument, 0, 'C'}

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
/* Set by the command-line fuzzer (tests/fuzz/fuzz_cli.c): a command returns 0 as soon as its
 * options are parsed and checked, before it opens, loads or writes anything. */
extern int qh_cli_parse_only;
#define QH_CLI_OPTIONS_CHECKED()              \
    do {                                      \
        if (qh_cli_parse_only) return 0;      \
    } while (0)

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
