/* qharness convert: a model written as a GGUF file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/gguf.h"
#include "harness/cli/cli.h"

const qh_cli_opt qh_cmd_convert_options[] = {
    {"output", required_argument, 'o', "FILE.gguf", "the GGUF file to write (also -o)", NULL},
    {"type", required_argument, 't', "F32|F16|BF16|Q8_0|Q4_0|MXFP4", "type of the block matrices, embedding and output (ggml's rounding)", "F32"},
    QH_CLI_OPT_END};

/* general.name: the file's name without its extension, or its folder's where the file is a
 * folder's model.* (models/gemma3/model.gguf is "gemma3"), or the folder's */
static void model_name(const char *path, char *out, size_t n)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
    char *slash = strrchr(buf, '/'), *base = slash ? slash + 1 : buf, *dot = strrchr(base, '.');
    if (dot && dot != base && strcmp(dot, ".gguf") == 0) *dot = 0;
    if (strcmp(base, "model") == 0 && slash && slash != buf) {
        *slash = 0;
        char *up = strrchr(buf, '/');
        base = up ? up + 1 : buf;
    }
    snprintf(out, n, "%s", base);
}

int qh_cmd_convert(int argc, char **argv)
{
    const char *out = NULL, *type = "F32";
    int c;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "o:", qh_cmd_convert_options)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 't': type = optarg; break;
        default: return qh_cli_bad_option("convert", "o:", argv);
        }
    }
    if (argc - optind != 1 || !out) return qh_cli_usage("convert", "expected MODEL and -o FILE.gguf%s", "");
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    qh_cli_model lm;
    if (qh_cli_load(argv[optind], NULL, &lm, &err) != 0) return qh_cli_die(&err);
    char *dir = qh_resolve_model_dir(argv[optind]), base[256];
    model_name(dir, base, sizeof base);
    double t0 = qh_now();
    int rc = qh_model_write_gguf(lm.model, lm.tok, base, type, out, &err);
    if (rc == 0) {
        qh_gguf *g;
        rc = qh_gguf_open(out, &g, &err); /* read back: what was written is a valid file */
        if (rc == 0) {
            printf("wrote %s (%s, %zu bytes, %llu tensors) in %.2f s\n", out, type, g->size, (unsigned long long)g->n_tensors,
                   qh_now() - t0);
            qh_gguf_print_ledger(g, 0, stdout);
            qh_gguf_close(g);
        }
    }
    free(dir);
    qh_cli_free_loaded(&lm);
    return rc == 0 ? 0 : qh_cli_die(&err);
}

const qh_command qh_command_convert = {
    .name = "convert",
    .run = qh_cmd_convert,
    .usage = "convert MODEL -o FILE.gguf [--type F32|F16|BF16|Q8_0|Q4_0|MXFP4]",
    .summary = "write a model as a GGUF file llama.cpp loads (block matrices, embedding and output in --type; ggml's rounding)",
    .options = qh_cmd_convert_options,
};
