/* qharness quantize: quantize a model and write the packed file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli/cli.h"
#include "harness/quantize/packed.h"
#include "harness/formats/safetensors.h"

const qh_cli_opt qh_cmd_quantize_options[] = {
    {"output", required_argument, 'o', "FILE", "write the packed model (.safetensors) here (also -o)", "nothing written"},
    {"tensors", no_argument, 't', NULL, "a line per tensor: method, bits, relative error", NULL},
    QH_SCOPE_OPTS,
    QH_CLI_OPT_END};

int qh_cmd_quantize(int argc, char **argv)
{
    qh_cli_scope q;
    qh_cli_scope_init(&q);
    const char *output = NULL;
    int per_tensor = 0, c;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((c = qh_cli_getopt(argc, argv, "o:", qh_cmd_quantize_options)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 't': per_tensor = 1; break;
        default: {
            int e = qh_cli_scope_option(c, optarg, &q, "quantize", "o:", argv);
            if (e) return e;
        }
        }
    }
    if (argc - optind != 1) return qh_cli_usage("quantize", "expected one MODEL argument%s", "");
    if (qh_cli_mixed_usage("quantize", &q)) return QH_EXIT_USAGE;
    /* no method's packed form is exactly a ggml type (rtn bits=8 group=32, the nearest, divides
     * by the F16-rounded scale and rounds half to even; Q8_0 multiplies by the inverse of the
     * unrounded one and rounds half away), so a GGUF of it would not be the measured model */
    size_t olen = output ? strlen(output) : 0;
    if (olen > 5 && strcmp(output + olen - 5, ".gguf") == 0)
        return qh_cli_usage("quantize", "-o %s: quantize writes qharness's packed safetensors; no method's packed form is exactly a "
                                       "ggml type, so GGUF is written by 'qharness convert MODEL -o FILE.gguf --type T'", output);
    if (!q.quant.spec && !q.quant.n_candidates)
        return qh_cli_usage("quantize", "--method SPEC (or --candidate ... --target BPP) is required (see 'qharness methods')%s", "");
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    char *dir = qh_resolve_model_dir(argv[optind]);
    qh_model *m;
    qh_tokenizer *tok = NULL;
    qh_quant_result res;
    if (qh_model_load(dir, &m, 1, &err) != 0 || qh_tokenizer_load_dir(dir, &tok, &err) != 0) {
        free(dir);
        return qh_cli_die(&err);
    }
    int rc = qh_cli_quantize(m, tok, &q, &res, &err);
    if (rc == 0) qh_tokenizer_sha256(tok, res.tokenizer_sha256);
    qh_tokenizer_free(tok);
    if (rc == 0) {
        printf("model        %s (sha256 %.12s)\n", dir, m->sha256);
        qh_quant_print_report(stdout, m, &res, per_tensor);
        if (output) {
            rc = qh_quant_write(output, m, &res, &err);
            if (rc == 0) {
                qh_safetensors st;
                rc = qh_st_open(output, &st, &err);
                if (rc == 0) {
                    printf("written      %s: %zu bytes (%zu of tensors = %.4f bpp x %zu parameters / 8, %zu of header)\n",
                           output, st.map_size, res.bytes_total, res.bpp_model, res.params_total, st.data_start);
                    qh_st_close(&st);
                }
            }
        }
        qh_quant_result_free(&res);
    }
    qh_model_free(m);
    free(dir);
    return rc == 0 ? 0 : qh_cli_die(&err);
}

const qh_command qh_command_quantize = {
    .name = "quantize",
    .run = qh_cmd_quantize,
    .usage = "quantize MODEL --method SPEC [-o FILE] [OPTIONS]\n"
             "       quantize MODEL --candidate SPEC ... --target BPP [-o FILE] [OPTIONS]  (mixed precision)",
    .summary = "quantize a model; report bits per parameter from the packed bytes; write the packed file",
    .options = qh_cmd_quantize_options,
};
