/* qharness audit: a verdict on a claim (a claim file, or one given inline). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../reports/audit.h"
#include "../cli.h"

static int write_inline_claim(const char *spec, char *path, size_t path_len, qh_err *err)
{
    char sha[65];
    qh_sha256_hex(spec, strlen(spec), sha);
    mkdir("results", 0755);
    snprintf(path, path_len, "results/claim-%.12s.ini", sha);
    FILE *f = fopen(path, "w");
    if (!f) return qh_fail(err, "%s: cannot write", path);
    fprintf(f, "; qharness audit --claim \"%s\"\n[claim]\n", spec);
    int has_name = 0, has_text = 0;
    char *copy = qh_strdup(spec), *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        while (*item == ' ' || *item == '\t') item++;
        if (!*item) continue;
        has_name |= strncmp(item, "name", 4) == 0 && strchr(" =", item[4]);
        has_text |= strncmp(item, "text", 4) == 0 && strchr(" =", item[4]);
        fprintf(f, "%s\n", item);
    }
    free(copy);
    if (!has_name) fprintf(f, "name = inline-%.8s\n", sha);
    if (!has_text) fprintf(f, "text = %s\n", spec);
    fclose(f);
    return 0;
}

int qh_cmd_audit(int argc, char **argv)
{
    static const struct option longopts[] = {{"db", required_argument, 0, 'd'}, {"claim", required_argument, 0, 'c'}, {0, 0, 0, 0}};
    const char *db = "results/qharness.sqlite", *inline_claim = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'd') db = optarg;
        else if (c == 'c') inline_claim = optarg;
        else return qh_cli_usage("audit", "unknown option '%s'", argv[optind - 1]);
    }
    if (inline_claim && argc != optind) return qh_cli_usage("audit", "give a CLAIM.ini or --claim, not both (%s)", argv[optind]);
    if (!inline_claim && argc - optind != 1) return qh_cli_usage("audit", "expected one CLAIM.ini or --claim \"KEY = VALUE; ...\"%s", "");
    qh_err err;
    char path[256];
    if (inline_claim && write_inline_claim(inline_claim, path, sizeof path, &err) != 0) return qh_cli_die(&err);
    return qh_audit(inline_claim ? path : argv[optind], db, stdout, &err) == 0 ? 0 : qh_cli_die(&err);
}
