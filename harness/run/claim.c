/* claim.c - claim files: parsing, inline claims, their git origin; see claim.h (the runs a verdict
 * needs and its filing are claim_run.c). */
#include "harness/run/claim.h"

#include <errno.h>
#include <limits.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/mc.h"
#include "harness/eval/metrics.h"
#include "harness/eval/tasks.h"
#include "harness/base/util.h"

const char *qh_verdict_name(qh_verdict v)
{
    return v == QH_VERDICT_SUPPORTED ? "SUPPORTED" : v == QH_VERDICT_REFUTED ? "REFUTED" : "INCONCLUSIVE";
}

const char *qh_registration_name(qh_registration r)
{
    return r == QH_REG_PRE_REGISTERED ? "pre-registered" : r == QH_REG_POST_HOC ? "post hoc" : "not committed";
}

int qh_claim_git_origin(const char *path, char commit[41], long long *committed_at, char *why, size_t why_len)
{
    commit[0] = 0;
    *committed_at = 0;
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        return 1;
    }
    char *slash = strrchr(real, '/');
    *slash = 0;
    const char *dir = slash == real ? "/" : real, *base = slash + 1;
    char *out = NULL;
    qh_err err;
    /* anything git reports for the file (untracked ??, ignored !!, modified) means the text
     * audited is not the text committed */
    char *status_argv[] = {"git", "-C", (char *)dir, "status", "--porcelain", "--ignored", "--", (char *)base, NULL};
    if (qh_run_command(status_argv, &out, &err) != 0) {
        snprintf(why, why_len, "not in a git work tree");
        return 1;
    }
    int changed = out && out[0];
    char state[3] = {out && out[0] ? out[0] : ' ', out && out[0] && out[1] ? out[1] : ' ', 0};
    free(out);
    if (changed) {
        snprintf(why, why_len, "the file is %s in git",
                 strcmp(state, "??") == 0 ? "untracked" : strcmp(state, "!!") == 0 ? "ignored" : "changed since its last commit");
        return 1;
    }
    char *log_argv[] = {"git", "-C", (char *)dir, "log", "-1", "--format=%H %ct", "--", (char *)base, NULL};
    if (qh_run_command(log_argv, &out, &err) != 0) {
        snprintf(why, why_len, "git log: %.160s", err.msg);
        return 1;
    }
    char hex[64] = "";
    long long t = 0;
    int ok = out && sscanf(out, "%63s %lld", hex, &t) == 2 && strlen(hex) == 40 && t > 0;
    free(out);
    if (!ok) {
        snprintf(why, why_len, "the file has no commit in git");
        return 1;
    }
    memcpy(commit, hex, 41);
    *committed_at = t;
    return 0;
}

typedef struct {
    qh_claim *c;
    char error[512];
} parse_state;

static int claim_handler(void *user, const char *section, const char *key, const char *value)
{
    parse_state *ps = user;
    qh_claim *c = ps->c;
    if (ps->error[0]) return 0;
    if (strcmp(section, "claim") != 0) {
        snprintf(ps->error, sizeof ps->error, "unknown section [%s] (claim)", section);
        return 0;
    }
    char *end;
    if (strcmp(key, "name") == 0) snprintf(c->name, sizeof c->name, "%s", value);
    else if (strcmp(key, "text") == 0) { /* an indented continuation line is more of the text */
        size_t have = strlen(c->text);
        snprintf(c->text + have, sizeof c->text - have, "%s%s", have ? " " : "", value);
    }
    else if (strcmp(key, "model") == 0) snprintf(c->model, sizeof c->model, "%s", value);
    else if (strcmp(key, "method") == 0) snprintf(c->method, sizeof c->method, "%s", value);
    else if (strcmp(key, "checkpoint") == 0) snprintf(c->checkpoint, sizeof c->checkpoint, "%s", value);
    else if (strcmp(key, "task") == 0) snprintf(c->task, sizeof c->task, "%s", value);
    else if (strcmp(key, "metric") == 0) snprintf(c->metric, sizeof c->metric, "%s", value);
    else if (strcmp(key, "calibration") == 0) snprintf(c->calib_text, sizeof c->calib_text, "%s", value);
    else if (strcmp(key, "retained") == 0 || strcmp(key, "claimed_bpp") == 0) {
        double v = strtod(value, &end);
        if (*end || !(v > 0) || !isfinite(v)) {
            snprintf(ps->error, sizeof ps->error, "%s = '%s' is not a positive finite number", key, value);
            return 0;
        }
        if (key[0] == 'r' && v > 1) {
            snprintf(ps->error, sizeof ps->error, "retained = '%s' is not a fraction in (0, 1]%s", value,
                     v <= 100 ? " (a percentage? 95% is written 0.95)" : "");
            return 0;
        }
        if (key[0] == 'c' && v > 64) {
            snprintf(ps->error, sizeof ps->error, "claimed_bpp = '%s': more than 64 bits per parameter is not a quantization claim", value);
            return 0;
        }
        if (key[0] == 'r') c->claimed = v;
        else c->claimed_bpp = v;
    } else if (strcmp(key, "budget") == 0 || strcmp(key, "seed") == 0 || strcmp(key, "ctx") == 0) {
        errno = 0;
        long v = strtol(value, &end, 10);
        long lo = key[0] == 's' ? 0 : key[0] == 'c' ? 2 : 1, hi = key[0] == 'c' ? 1L << 20 : LONG_MAX;
        if (*end || end == value || errno || v < lo || v > hi) {
            snprintf(ps->error, sizeof ps->error, "%s = '%s' is not a whole number in [%ld, %ld]", key, value, lo, hi);
            return 0;
        }
        if (key[0] == 'b') c->budget = v;
        else if (key[0] == 'c') c->ctx = v;
        else c->seed = (unsigned long)v;
    } else {
        snprintf(ps->error, sizeof ps->error, "[claim] unknown key '%s'", key);
        return 0;
    }
    return 1;
}

/* text (len bytes) as a claim; origin names it in errors: a file with line numbers, or "--claim"
 * (inline: the lines are the generated INI's, not the user's, so no number is given) */
static int claim_parse(const char *text, size_t len, const char *origin, int is_inline, qh_claim *out, qh_err *err)
{
    qh_claim c = {0};
    parse_state ps = {&c, ""};
    c.seed = 1;
    c.calib_windows = 128;
    qh_sha256_hex(text, len, c.sha256);
    int long_line = qh_ini_long_line(text, len);
    if (long_line) /* inline specs are wrapped to fit, so only a file can have one */
        return qh_fail(err, "%s:%d: line longer than %d characters (continue a long value on the next line, indented)", origin, long_line,
                       QH_INI_LINE_MAX);
    int line = ini_parse_string(text, claim_handler, &ps);
    if (ps.error[0] || line != 0) {
        if (is_inline) return qh_fail(err, "%s: %s", origin, ps.error[0] ? ps.error : "not key = value");
        return qh_fail(err, "%s:%d: %s", origin, line, ps.error[0] ? ps.error : "not key = value");
    }
    if (c.checkpoint[0] && c.method[0]) return qh_fail(err, "%s: [claim] give a method or a checkpoint, not both", origin);
    if (c.checkpoint[0]) { /* the directory's name stands for the method in reports */
        size_t n;
        const char *base = qh_path_tail(c.checkpoint, &n);
        snprintf(c.method, sizeof c.method, "checkpoint %.*s", (int)n, base);
    }
    if (!c.name[0] || !c.model[0] || !c.method[0] || !c.task[0] || !c.metric[0] || !(c.claimed > 0 || c.claimed_bpp > 0))
        return qh_fail(err, "%s: [claim] needs name, model, method (or checkpoint), task, metric, and retained or claimed_bpp (or both)", origin);
    int is_ppl = qh_metric_of_text(c.metric);
    const qh_mc_set *named = qh_mc_set_find(c.task); /* lm-eval's name (arc_easy) is judged as qharness's (arc-easy) */
    if (named) snprintf(c.task, sizeof c.task, "%s", named->name);
    if (is_ppl != (qh_task_kind_of(c.task) == QH_TASK_PPL))
        return qh_fail(err, "%s: metric 'ppl' goes with a task 'ppl.DATASET' (and accuracies with multiple-choice tasks)", origin);
    const qh_metric *claimed = qh_metric_find(c.metric);
    if (!claimed || !(claimed->shown & QH_METRIC_CLAIM)) {
        char names[128];
        qh_metric_names(QH_METRIC_CLAIM, names, sizeof names);
        return qh_fail(err, "%s: metric '%s' (%s)", origin, c.metric, names);
    }
    snprintf(c.path, sizeof c.path, "%s", origin);
    c.is_inline = is_inline;
    *out = c;
    return 0;
}

int qh_claim_load(const char *claim_path, qh_claim *out, qh_err *err)
{
    char *text;
    size_t len;
    if (qh_read_file(claim_path, &text, &len, err) != 0) return -1;
    int rc = claim_parse(text, len, claim_path, 0, out, err);
    free(text);
    return rc;
}

int qh_claim_load_inline(const char *spec, qh_claim *out, qh_err *err)
{
    char *ini = qh_claim_inline_ini(spec, err);
    if (!ini) return -1;
    int rc = claim_parse(ini, strlen(ini), "--claim", 1, out, err);
    free(ini);
    return rc;
}

char *qh_claim_inline_ini(const char *spec, qh_err *err)
{
    for (const char *c = spec; *c; c++) /* the spec becomes lines of an INI file: no line breaks in it */
        if ((unsigned char)*c < 0x20 && *c != '\t') {
            qh_fail(err, "--claim: control character 0x%02x at byte %ld", (unsigned)(unsigned char)*c, (long)(c - spec));
            return NULL;
        }
    char sha[65];
    qh_sha256_hex(spec, strlen(spec), sha);
    char *ini = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&ini, &len);
    if (!f) {
        qh_fail(err, "--claim: out of memory");
        return NULL;
    }
    char *comment = qh_malloc(strlen(spec) + 64);
    sprintf(comment, "qharness audit --claim \"%s\"", spec);
    qh_ini_comment(f, comment); /* long specs wrapped: inih reads lines of at most QH_INI_LINE_MAX */
    free(comment);
    fprintf(f, "[claim]\n");
    int has_name = 0, has_text = 0;
    char *copy = qh_strdup(spec), *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        while (*item == ' ' || *item == '\t') item++;
        if (!*item) continue;
        char *eq = strchr(item, '=');
        if (!eq) {
            qh_fail(err, "--claim: '%s' is not key = value", item); /* item lies in copy: said before copy is freed */
            fclose(f);
            free(ini);
            free(copy);
            return NULL;
        }
        char *key_end = eq;
        while (key_end > item && (key_end[-1] == ' ' || key_end[-1] == '\t')) key_end--;
        *key_end = 0;
        char *value = eq + 1;
        while (*value == ' ' || *value == '\t') value++;
        size_t vl = strlen(value);
        while (vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t')) value[--vl] = 0;
        has_name |= strcmp(item, "name") == 0;
        has_text |= strcmp(item, "text") == 0;
        qh_ini_put(f, item, value);
    }
    free(copy);
    char name[32];
    snprintf(name, sizeof name, "inline-%.8s", sha);
    if (!has_name) qh_ini_put(f, "name", name);
    if (!has_text) qh_ini_put(f, "text", spec);
    fclose(f);
    return ini;
}
