/* qharness bench: forward-pass and dequantization speed. */
#include <stdio.h>
#include <stdlib.h>

#include "datasets/datasets.h"
#include "harness/model/bench.h"
#include "harness/cli/cli.h"

const qh_cli_opt qh_cmd_bench_options[] = {
    {"ctx", required_argument, 'c', "N", "tokens per window", "256"},
    {"windows", required_argument, 'w', "W", "windows timed", "16"},
    {"batch", required_argument, 'b', "B", "windows per forward pass", "4"},
    {"dequant", required_argument, 'd', "FILE.gguf", "time dequantizing every tensor of a GGUF file instead", NULL},
    QH_CLI_OPT_END};

int qh_cmd_bench(int argc, char **argv)
{
    int ctx = 256, windows = 16, batch = 4, c;
    const char *dequant = NULL;
    long v;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "", qh_cmd_bench_options)) != -1) {
        switch (c) {
        case 'c': if (qh_cli_parse_long(optarg, 2, 1 << 20, &v)) return qh_cli_usage("bench", "--ctx '%s' is not an integer from 2 to 1048576", optarg); ctx = (int)v; break;
        case 'w': if (qh_cli_parse_long(optarg, 1, 1 << 20, &v)) return qh_cli_usage("bench", "--windows '%s' is not an integer from 1 to 1048576", optarg); windows = (int)v; break;
        case 'b': if (qh_cli_parse_long(optarg, 1, 4096, &v)) return qh_cli_usage("bench", "--batch '%s' is not an integer from 1 to 4096", optarg); batch = (int)v; break;
        case 'd': dequant = optarg; break;
        default: return qh_cli_bad_option("bench", "", argv);
        }
    }
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    if (dequant) {
        if (optind < argc) return qh_cli_usage("bench", "--dequant FILE.gguf takes no model%s", "");
        return qh_bench_dequant(dequant, stdout, &err) == 0 ? 0 : qh_cli_die(&err);
    }
    const char *model_arg = optind < argc ? argv[optind] : "default";
    qh_cli_model lm;
    if (qh_cli_load(model_arg, NULL, &lm, &err) != 0) return qh_cli_die(&err);
    qh_text text;
    int *ids = NULL;
    size_t n;
    int rc = qh_text_load("wikitext2-test", &text, &err);
    if (rc == 0) rc = qh_encode(lm.tok, text.path, text.text, text.len, &ids, &n, &err);
    if (rc == 0) rc = qh_bench_run(lm.model, ids, (long)n, ctx, batch, windows, stdout, &err);
    free(ids);
    if (text.text) qh_text_free(&text);
    qh_cli_free_loaded(&lm);
    return rc == 0 ? 0 : qh_cli_die(&err);
}

const qh_command qh_command_bench = {
    .name = "bench",
    .run = qh_cmd_bench,
    .usage = "bench [MODEL] [--ctx N] [--batch B] [--windows W] | bench --dequant FILE.gguf",
    .summary = "forward-pass tokens/s and GFLOP/s next to OpenBLAS sgemm on the same shapes",
    .options = qh_cmd_bench_options,
};
