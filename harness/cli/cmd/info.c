/* qharness info: a model's config and parameter counts, or a GGUF file's header and bits-per-weight ledger. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/gguf.h"
#include "harness/cli/cli.h"

/* info on a GGUF file: its header and the bits-per-weight ledger from its bytes */
static int info_gguf(const char *path, int tensors)
{
    qh_gguf *g;
    qh_err err;
    if (qh_gguf_open(path, &g, &err) != 0) return qh_cli_die(&err);
    const char *arch = "?", *name = "?";
    uint64_t len, nlen;
    const qh_gguf_kv *a = qh_gguf_find(g, "general.architecture"), *n = qh_gguf_find(g, "general.name");
    if (a && a->type == QH_GGUF_STRING) arch = a->str, len = a->str_len;
    else len = 1;
    if (n && n->type == QH_GGUF_STRING) name = n->str, nlen = n->str_len;
    else nlen = 1;
    printf("file             %s (%zu bytes)\n", path, g->size);
    printf("gguf             version %u, %llu keys, %llu tensors, alignment %llu, data at byte %llu\n", g->version,
           (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors, (unsigned long long)g->alignment,
           (unsigned long long)g->data_offset);
    printf("model            %.*s, architecture %.*s\n", (int)nlen, name, (int)len, arch);
    char key[160];
    int64_t n_ctx = 0;
    qh_err ignored;
    snprintf(key, sizeof key, "%.*s.context_length", (int)len, arch);
    if (qh_gguf_find(g, key) && qh_gguf_get_int(g, key, &n_ctx, &ignored) == 0)
        printf("context          %lld tokens (%s): the default window of ppl and kld; experiments set ctx\n", (long long)n_ctx, key);
    printf("baseline         this file dequantized to F32: every \"unquantized\" number on it means that, and quantization re-quantizes it\n");
    qh_gguf_print_ledger(g, tensors, stdout);
    qh_gguf_close(g);
    return 0;
}

const qh_cli_opt qh_cmd_info_options[] = {
    {"tensors", no_argument, 't', NULL, "GGUF file: a line per tensor (type, shape, bytes, bits per weight)", NULL},
    QH_CLI_OPT_END};

int qh_cmd_info(int argc, char **argv)
{
    int tensors = 0, opt;
    optind = 0; /* glibc: 0 resets getopt fully; 1 would keep a half-read option cluster from an earlier call */
    opterr = 0;
    while ((opt = qh_cli_getopt(argc, argv, "", qh_cmd_info_options)) != -1) {
        if (opt == 't') tensors = 1;
        else return qh_cli_bad_option("info", "", argv);
    }
    if (argc - optind != 1) return qh_cli_usage("info", "expected one MODEL argument%s", "");
    QH_CLI_OPTIONS_CHECKED();
    char *dir = qh_resolve_model_dir(argv[optind]); /* a name under models/ may be a fetched GGUF file */
    qh_err err;
    if (qh_gguf_probe(dir)) {
        if (qh_sha256sums_verify_file(dir, NULL, &err) != 0) { /* a fetched model's file is checked before its ledger is shown */
            free(dir);
            return qh_cli_die(&err);
        }
        int rc = info_gguf(dir, tensors);
        free(dir);
        return rc;
    }
    if (tensors) {
        free(dir);
        return qh_cli_usage("info", "--tensors is for a GGUF file%s", "");
    }
    qh_model *m;
    if (qh_model_load(dir, &m, 1, &err) != 0) {
        free(dir);
        return qh_cli_die(&err);
    }
    const qh_config *c = &m->cfg;
    size_t groups[6] = {0}; /* wte, wpe, attention, mlp, layernorm, head */
    for (int i = 0; i < m->n_tensors; i++) {
        const qh_tensor *t = &m->tensors[i];
        size_t n = (size_t)t->rows * t->cols;
        if (t->data == m->wte) groups[0] += n;
        else if (t->data == m->wpe) groups[1] += n;
        else if (strstr(t->name, ".attn.") || strstr(t->name, ".self_attn.")) groups[2] += n;
        else if (strstr(t->name, ".mlp.")) groups[3] += n;
        else groups[4] += n;
    }
    if (!m->head_tied) groups[5] = (size_t)c->n_vocab * c->n_embd;
    printf("model            %s\n", dir);
    printf("weights          %s (sha256 %s)\n", m->weights_path, m->sha256);
    printf("dtype            %s\n", m->dtype);
    const qh_arch *a = qh_config_arch(c);
    char config[512];
    a->describe_config(c, config, sizeof config);
    printf("config           %s\n", config);
    printf("context          %d tokens (%s): the default window of ppl and kld; experiments set ctx\n", c->n_ctx,
           m->ctx_source[0] ? m->ctx_source : "its config");
    printf("parameters       %zu (%.2fM)\n", m->n_params, m->n_params / 1e6);
    const char *names[6] = {"token embedding", "position emb.", "attention", "mlp", a->norm == QH_NORM_RMS ? "rmsnorm" : "layernorm", "lm_head"};
    for (int g = 0; g < 6; g++) {
        if (g == 1 && a->pos != QH_POS_LEARNED) continue;
        if (g == 5 && m->head_tied) {
            printf("  %-14s %12s  tied to the token embedding\n", names[g], "0");
            continue;
        }
        printf("  %-14s %12zu  %5.1f%%\n", names[g], groups[g], 100.0 * groups[g] / m->n_params);
    }
    size_t block_linear = 0;
    int n_linear = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].is_linear) {
            block_linear += (size_t)m->tensors[i].rows * m->tensors[i].cols;
            n_linear++;
        }
    printf("block linear     %zu weights in %d matrices (%s per block)\n", block_linear, n_linear, a->linear_desc);
    if (m->quant_layers) {
        /* the ledger of a checkpoint a vendor's tool quantized: from the bytes of its tensors, next to what its config names */
        printf("quantized by     %s: the config names %g bits a weight, scales and zeros not counted\n", m->quant_desc, m->quant_named_bits);
        printf("  layers         %zu of the %d block matrices, %zu weights in %zu bytes of their tensors (codes, scales, zeros, g_idx, "
               "absmax, code maps): %.4f bits per weight\n", m->quant_layers, n_linear, m->quant_weights, m->quant_bytes,
               8.0 * m->quant_bytes / m->quant_weights);
        printf("  whole file     %zu bytes of tensors (the header not counted) for %zu parameters: %.4f bits per parameter\n",
               m->file_tensor_bytes, m->n_params, 8.0 * m->file_tensor_bytes / m->n_params);
    }
    free(dir);
    qh_model_free(m);
    return 0;
}

const qh_command qh_command_info = {
    .name = "info",
    .run = qh_cmd_info,
    .usage = "info MODEL | info FILE.gguf [--tensors]",
    .summary = "config, parameter counts by group, dtype and sha256 of a model; for a GGUF file its header and bits-per-weight ledger",
    .options = qh_cmd_info_options,
};
