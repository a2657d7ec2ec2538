/* qharness tokenize: the token ids of a text, as the model sees it: the BOS first where the
 * vocabulary adds one (as llama-tokenize prints them). */
#include <stdio.h>
#include <stdlib.h>

#include "datasets/datasets.h"
#include "harness/cli/cli.h"

int qh_cmd_tokenize(int argc, char **argv)
{
    if (argc != 3) return qh_cli_usage("tokenize", "expected MODEL and TEXT (a dataset name or a file)%s", "");
    QH_CLI_OPTIONS_CHECKED();
    qh_err err;
    char *dir = qh_resolve_model_dir(argv[1]);
    qh_tokenizer *tok;
    qh_text text;
    int rc = qh_tokenizer_load_dir(dir, &tok, &err);
    free(dir);
    if (rc != 0) return qh_cli_die(&err);
    if (qh_text_load(argv[2], &text, &err) != 0) {
        qh_tokenizer_free(tok);
        return qh_cli_die(&err);
    }
    int *ids;
    size_t n;
    double t0 = qh_now();
    rc = qh_encode(tok, text.path, text.text, text.len, &ids, &n, &err);
    double el = qh_now() - t0;
    if (rc == 0) {
        int bos = qh_tokenizer_bos_added(tok);
        if (bos >= 0) printf("%d\n", bos);
        for (size_t i = 0; i < n; i++) printf("%d\n", ids[i]);
        fprintf(stderr, "%zu tokens from %zu bytes in %.3f s%s\n", n + (bos >= 0), text.len, el,
                bos >= 0 ? " (the first is the BOS the vocabulary adds)" : "");
        free(ids);
    }
    qh_text_free(&text);
    qh_tokenizer_free(tok);
    return rc == 0 ? 0 : qh_cli_die(&err);
}

const qh_command qh_command_tokenize = {
    .name = "tokenize",
    .run = qh_cmd_tokenize,
    .usage = "tokenize MODEL TEXT",
    .summary = "print the token ids of a text, one per line (BOS first where the vocabulary adds one)",
    .options = NULL,
};
