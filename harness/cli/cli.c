/* cli.c - the pieces the commands share; see cli.h. */
#include "harness/cli/cli.h"
#include "harness/quantize/packed.h"

#include <assert.h>
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/formats/imatrix.h"
#include "harness/formats/safetensors.h"

int qh_cli_parse_only;

int qh_cli_die(const qh_err *err)
{
    fprintf(stderr, "qharness: %s\n", err->msg);
    return 1;
}

int qh_cli_usage(const char *cmd, const char *fmt, const char *arg)
{
    if (qh_cli_parse_only) { /* the command-line fuzzer: formatted, not printed (millions of lines) */
        char line[2048];
        snprintf(line, sizeof line, fmt, arg);
        return QH_EXIT_USAGE;
    }
    fprintf(stderr, "qharness %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'qharness help %s')\n", cmd);
    return QH_EXIT_USAGE;
}

/* Parses a whole positive integer option; returns 0 on success. */
int qh_cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* ---- shared pieces ---------------------------------------------------------------------- */

/* Options shared by every command that quantizes: --method, --include, --exclude,
 * --override, --kept-dtype.  Returns 1 if c was one of them, -1 on a bad value. */

void qh_cli_scope_init(qh_cli_scope *s)
{
    memset(s, 0, sizeof *s);
    qh_quant_opts_init(&s->quant);
    s->calib_windows = 128;
    s->calib_seed = 1;
}

static int scope_option(int c, char *arg, qh_cli_scope *s, const char *cmd)
{
    qh_quant_opts *q = &s->quant;
    switch (c) {
    case 1001: q->spec = arg; return 1;
    case 1002:
        if (q->n_include == QH_MAX_PATTERNS) return qh_cli_usage(cmd, "too many --include patterns%s", ""), -1;
        q->include[q->n_include++] = arg;
        return 1;
    case 1003:
        if (q->n_exclude == QH_MAX_PATTERNS) return qh_cli_usage(cmd, "too many --exclude patterns%s", ""), -1;
        q->exclude[q->n_exclude++] = arg;
        return 1;
    case 1004: {
        char *eq = strchr(arg, '=');
        if (!eq || eq == arg || !eq[1] || q->n_override == QH_MAX_PATTERNS)
            return qh_cli_usage(cmd, "--override '%s' must be PATTERN=SPEC", arg), -1;
        *eq = 0;
        q->override_pattern[q->n_override] = arg;
        q->override_spec[q->n_override++] = eq + 1;
        return 1;
    }
    case 1006: s->calib_text = arg; s->calib_given = 1; return 1;
    case 1013: s->imatrix = arg; return 1;
    case 1010:
        if (q->n_candidates == QH_MAX_PATTERNS) return qh_cli_usage(cmd, "too many --candidate specs%s", ""), -1;
        q->candidates[q->n_candidates++] = arg;
        return 1;
    case 1011: {
        char *end;
        double v = strtod(arg, &end);
        if (*end || !(v > 0 && v < 64)) return qh_cli_usage(cmd, "--target '%s' must be a bpp between 0 and 64", arg), -1;
        q->mixed_target = v;
        return 1;
    }
    case 1012:
        if (strcmp(arg, "quantized") && strcmp(arg, "model"))
            return qh_cli_usage(cmd, "--target-scope '%s' must be quantized or model", arg), -1;
        q->mixed_whole_model = strcmp(arg, "model") == 0;
        return 1;
    case 1007:
    case 1008:
    case 1009: {
        long v;
        if (qh_cli_parse_long(arg, c == 1009 ? 0 : (c == 1008 ? 2 : 1), 1L << 30, &v))
            return qh_cli_usage(cmd, "calibration option '%s' is not a valid integer", arg), -1;
        if (c == 1007) s->calib_windows = (int)v;
        else if (c == 1008) s->calib_ctx = (int)v;
        else s->calib_seed = (unsigned long)v;
        s->calib_given = 1;
        return 1;
    }
    case 1005:
        if (qh_dtype_from_name(arg, &q->kept_dtype) != 0 ||
            (q->kept_dtype != QH_DT_F16 && q->kept_dtype != QH_DT_BF16 && q->kept_dtype != QH_DT_F32))
            return qh_cli_usage(cmd, "--kept-dtype '%s' must be F16, BF16 or F32", arg), -1;
        return 1;
    }
    return 0;
}

static int scope_without_method(const qh_quant_opts *q)
{
    return !q->spec && !q->n_candidates && (q->n_include || q->n_exclude || q->n_override);
}

/* The default branch of a quantizing command's option switch: a scope option, or an
 * unknown option.  Returns 0 when handled, else the exit code. */
int qh_cli_scope_option(int c, char *arg, qh_cli_scope *s, const char *cmd, const char *optstring, char **argv)
{
    int k = scope_option(c, arg, s, cmd);
    if (k < 0) return QH_EXIT_USAGE;
    if (k == 0) return qh_cli_bad_option(cmd, optstring, argv);
    return 0;
}

int qh_cli_bad_option(const char *cmd, const char *optstring, char **argv)
{
    const char *arg = argv[optind - 1];
    /* getopt_long sets optopt to the option's value when its argument is missing, and to 0 for
     * an unknown long option; an unknown short option sets it too, but is not in optstring */
    int missing = optopt != 0 && (strncmp(arg, "--", 2) == 0 || (optstring && strchr(optstring, optopt)));
    return qh_cli_usage(cmd, missing ? "option '%s' needs a value" : "unknown option '%s'", arg);
}

/* --candidate and --target go together, and exclude --method */
int qh_cli_mixed_usage(const char *cmd, const qh_cli_scope *s)
{
    const qh_quant_opts *q = &s->quant;
    if (scope_without_method(q)) return qh_cli_usage(cmd, "--include/--exclude/--override need --method%s", "");
    if (q->n_candidates && q->spec) return qh_cli_usage(cmd, "--method and --candidate exclude each other%s", "");
    if (q->n_candidates && !q->mixed_target) return qh_cli_usage(cmd, "--candidate needs --target BPP%s", "");
    if (!q->n_candidates && q->mixed_target) return qh_cli_usage(cmd, "--target needs --candidate specs%s", "");
    return 0;
}

/* Whether any method named in q (default or overrides) needs calibration statistics. */
static int scope_needs_calibration(const qh_quant_opts *q, qh_err *err, int *needs)
{
    *needs = q->n_candidates > 0; /* mixed precision measures sensitivities on calibration data */
    for (int i = q->n_candidates ? q->n_override : -1; i < q->n_override; i++) {
        qh_spec *s;
        if (qh_spec_parse(i < 0 ? q->spec : q->override_spec[i], &s, err) != 0) return -1;
        *needs |= qh_spec_needs_calibration(s);
        qh_spec_free(s);
    }
    return 0;
}

/* Quantizes m in place with q, first tokenizing the calibration text when a method needs it
 * (or --calib was given): default the shipped gutenberg-calib, 128 windows of the model's
 * context, seed 1. */
int qh_cli_quantize(qh_model *m, qh_tokenizer *tok, const qh_cli_scope *s, qh_quant_result *res, qh_err *err)
{
    const qh_quant_opts *q = &s->quant;
    int needs;
    if (scope_needs_calibration(q, err, &needs) != 0) return -1;
    qh_quant_opts local = *q;
    qh_calib_opts co = {0};
    int *ids = NULL;
    qh_imatrix im = {0};
    if (s->imatrix) { /* llama.cpp's statistics instead of a calibration text */
        if (s->calib_given) return qh_fail(err, "--imatrix replaces the calibration text: give it or --calib and its options, not both");
        if (qh_imatrix_load(s->imatrix, &im, err) != 0) return -1;
        qh_calib_opts_imatrix(&im, &co);
        local.calib = &co;
    } else if (needs || s->calib_given) {
        if (qh_calib_opts_load(s->calib_text ? s->calib_text : "gutenberg-calib", tok, s->calib_windows,
                               s->calib_ctx ? s->calib_ctx : m->cfg.n_ctx, s->calib_seed, &co, &ids, err) != 0) {
            free(ids);
            return -1;
        }
        local.calib = &co;
    }
    int rc = qh_quantize_model(m, &local, res, err);
    free(ids);
    qh_imatrix_free(&im);
    return rc;
}

/* Loads a model directory (optionally quantizing it in memory with q->spec) or a packed
 * qharness file, and its tokenizer: beside a packed file, else its source model (a directory,
 * or the GGUF file it was quantized from). */
int qh_cli_load(const char *arg, const qh_cli_scope *s, qh_cli_model *lm, qh_err *err)
{
    const qh_quant_opts *q = s ? &s->quant : NULL;
    memset(lm, 0, sizeof *lm);
    char *dir = NULL;
    int rc;
    if (qh_is_packed_file(arg)) {
        if (q && (q->spec || q->n_candidates)) return qh_fail(err, "%s: already quantized; --method applies to a model directory", arg);
        rc = qh_quant_load(arg, &lm->model, &lm->quant, err);
        lm->quantized = rc == 0;
        if (rc == 0) {
            char *beside = qh_strdup(arg), *slash = strrchr(beside, '/');
            if (slash) *slash = 0;
            else strcpy(beside, ".");
            char *v1 = qh_path_join(beside, "vocab.json"), *v2 = qh_path_join(beside, "encoder.json");
            dir = qh_file_exists(v1) || qh_file_exists(v2) ? qh_strdup(beside) : qh_strdup(lm->model->dir);
            free(v1);
            free(v2);
            free(beside);
            /* the source is a directory, or a file that carries its vocabulary (GGUF, llama2.c's .bin) */
            if (!qh_is_dir(dir) && !qh_file_exists(dir))
                rc = qh_fail(err, "%s: its tokenizer is looked for beside it and in its source model %s, which is missing", arg, dir);
        }
    } else {
        dir = qh_resolve_model_dir(arg);
        rc = qh_model_load(dir, &lm->model, 1, err);
        if (rc == 0) rc = qh_tokenizer_load_dir(dir, &lm->tok, err);
        if (rc == 0 && q && (q->spec || q->n_candidates)) {
            rc = qh_cli_quantize(lm->model, lm->tok, s, &lm->quant, err);
            lm->quantized = rc == 0;
        } else if (rc == 0 && qh_gguf_probe(dir)) {
            /* a GGUF file is its own quantization: its bits from its ledger, as a sweep stores them */
            rc = qh_quant_result_from_gguf(dir, lm->model, lm->model, &lm->quant, err);
            lm->quantized = rc == 0;
        }
    }
    if (rc == 0 && !lm->tok) {
        rc = qh_tokenizer_load_dir(dir, &lm->tok, err);
        /* a packed file knows its tokenizer by content: one found by path must be that one */
        char found[65];
        if (rc == 0 && lm->quant.tokenizer_sha256[0] && (qh_tokenizer_sha256(lm->tok, found), strcmp(found, lm->quant.tokenizer_sha256) != 0))
            rc = qh_fail(err, "%s: made with tokenizer %.12s, but the one found in %s is %.12s: put the source model's tokenizer files beside it", arg,
                         lm->quant.tokenizer_sha256, dir, found);
    }
    if (rc == 0 && qh_tokenizer_vocab_size(lm->tok) > lm->model->cfg.n_vocab)
        rc = qh_fail(err, "%s: tokenizer has %d tokens but the model's vocab_size is %d", dir,
                     qh_tokenizer_vocab_size(lm->tok), lm->model->cfg.n_vocab);
    free(dir);
    if (rc != 0) {
        qh_model_free(lm->model);
        qh_tokenizer_free(lm->tok);
        qh_quant_result_free(&lm->quant);
        memset(lm, 0, sizeof *lm);
        return -1;
    }
    lm->token_bytes = qh_token_byte_lengths(lm->tok, lm->model->cfg.n_vocab);
    return 0;
}

void qh_cli_free_loaded(qh_cli_model *lm)
{
    qh_model_free(lm->model);
    qh_tokenizer_free(lm->tok);
    qh_quant_result_free(&lm->quant);
    free(lm->token_bytes);
}

/* Options of the commands that evaluate windows of a text (ppl, kld): --ctx, --max-tokens,
 * --seed, --protocol, --chunks.  Returns 1 if c was one of them, 0 if not, or QH_EXIT_USAGE. */

int qh_cli_window_option(int c, const char *arg, qh_ppl_opts *opts, const char *cmd)
{
    long v;
    switch (c) {
    case 'c': if (qh_cli_parse_long(arg, 2, 1 << 20, &v)) return qh_cli_usage(cmd, "--ctx '%s' is not an integer from 2 to 1048576", arg); opts->ctx = (int)v; return 1;
    case 'm': if (qh_cli_parse_long(arg, 2, 1L << 40, &v)) return qh_cli_usage(cmd, "--max-tokens '%s' is not an integer from 2 to 1099511627776", arg); opts->max_tokens = v; return 1;
    case 'S': if (qh_cli_parse_long(arg, 0, 1L << 40, &v)) return qh_cli_usage(cmd, "--seed '%s' is not an integer from 0 to 1099511627776", arg); opts->seed = (unsigned long)v; return 1;
    case 'C': if (qh_cli_parse_long(arg, 1, 1L << 40, &v)) return qh_cli_usage(cmd, "--chunks '%s' is not an integer from 1 to 1099511627776", arg); opts->chunks = v; return 1;
    case 'P': {
        qh_err perr;
        if (qh_ppl_protocol_check(arg, &perr) != 0) return qh_cli_usage(cmd, "--protocol: %s", perr.msg);
        opts->protocol = arg;
        return 1;
    }
    }
    return 0;
}

/* a window option or a quantization-scope one; QH_EXIT_USAGE (said) when neither or a bad value */
int qh_cli_window_or_scope_option(int c, char *arg, qh_ppl_opts *opts, qh_cli_scope *q, const char *cmd, char **argv)
{
    int e = qh_cli_window_option(c, arg, opts, cmd);
    if (e == 0) e = qh_cli_scope_option(c, arg, q, cmd, "", argv); /* 0 or QH_EXIT_USAGE; no short options */
    return e == QH_EXIT_USAGE ? QH_EXIT_USAGE : 0;
}

void qh_cli_json_number(cJSON *o, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

void qh_cli_json_interval(cJSON *o, const char *key, double lo, double hi)
{
    if (!isfinite(lo) || !isfinite(hi)) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    cJSON *a = cJSON_AddArrayToObject(o, key);
    cJSON_AddItemToArray(a, cJSON_CreateNumber(lo));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(hi));
}

void qh_cli_json_print(cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    if (!text) {
        fprintf(stderr, "qharness: out of memory printing JSON\n");
        abort();
    }
    printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(o);
}

/* getopt_long needs its own row type; a command's table is converted once and kept (the
 * commands are few, their tables static) */
int qh_cli_getopt(int argc, char **argv, const char *shortopts, const qh_cli_opt *table)
{
    enum { MAX_TABLES = 32, MAX_ROWS = 64 };
    static const qh_cli_opt *tables[MAX_TABLES];
    static struct option built[MAX_TABLES][MAX_ROWS];
    int t = 0;
    while (t < MAX_TABLES && tables[t] && tables[t] != table) t++;
    assert(t < MAX_TABLES);
    if (!tables[t]) {
        int r = 0;
        for (; table[r].name; r++) {
            assert(r < MAX_ROWS - 1);
            built[t][r] = (struct option){table[r].name, table[r].has_arg, NULL, table[r].val};
        }
        built[t][r] = (struct option){0, 0, 0, 0};
        tables[t] = table;
    }
    return getopt_long(argc, argv, shortopts, built[t], NULL);
}

/* words of text after a column of `indent`, wrapped before `width` */
static void print_wrapped(FILE *f, const char *text, int indent, int width)
{
    int col = indent;
    for (const char *w = text; *w;) {
        size_t len = strcspn(w, " ");
        if (col > indent && col + 1 + (int)len > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        }
        fprintf(f, "%s%.*s", col > indent ? " " : "", (int)len, w);
        col += (col > indent ? 1 : 0) + (int)len;
        w += len;
        while (*w == ' ') w++;
    }
    fprintf(f, "\n");
}

void qh_cli_print_options(FILE *f, const qh_cli_opt *table)
{
    enum { HEAD = 30, WIDTH = 110 };
    fprintf(f, "options:\n");
    for (const qh_cli_opt *o = table; o && o->name; o++) {
        char head[96], text[512];
        snprintf(head, sizeof head, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        snprintf(text, sizeof text, "%s%s%s%s", o->help, o->dflt ? " (default: " : "", o->dflt ? o->dflt : "", o->dflt ? ")" : "");
        if ((int)strlen(head) > HEAD - 4) fprintf(f, "  %s\n%*s", head, HEAD, "");
        else fprintf(f, "  %-*s", HEAD - 2, head);
        print_wrapped(f, text, HEAD, WIDTH);
    }
    fprintf(f, "  %-*s", HEAD - 2, "--quiet");
    print_wrapped(f, "no progress lines on stderr (any command)", HEAD, WIDTH);
    fprintf(f, "  %-*s", HEAD - 2, "--help, -h");
    print_wrapped(f, "this text", HEAD, WIDTH);
}
