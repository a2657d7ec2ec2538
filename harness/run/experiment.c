/* experiment.c - parse and expand experiment files; see experiment.h. */
#include "harness/run/experiment.h"
#include "harness/eval/tasks.h"

#include <ctype.h>
#include <stdarg.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/gguf.h"
#include "harness/formats/hf_quant.h"
#include "harness/formats/imatrix.h"

/* ---- a method section as read, before grid expansion ------------------------------------- */

#define MAX_KEYS 16
typedef struct {
    char name[128];
    int line;
    char method[64];
    int method_line;
    char spec[512];
    int spec_line;
    int n_params;
    char keys[MAX_KEYS][32];
    char values[MAX_KEYS][512];
    int lines[MAX_KEYS];
    char *include[QH_MAX_PATTERNS], *exclude[QH_MAX_PATTERNS], *override[QH_MAX_PATTERNS];
    int n_include, n_exclude, n_override;
    char kept[8];
    char candidates[1024];   /* mixed precision: "spec | spec | ..." */
    int candidates_line;
    char target[256];
    int target_line;
    int whole_model;
    char gguf[1024];         /* gguf = FILE or checkpoint = DIR */
    int gguf_line;
    int is_checkpoint;       /* the path came as checkpoint = DIR */
} method_section;

typedef struct {
    qh_experiment *x;
    const char *path;
    int line;                /* of the line inih is handling */
    int section_line;        /* of the last [section] header */
    char error[768];
    int error_line;
    method_section *sections;
    int n_sections;
    int seen_experiment;
    char **headers;          /* every [section] name read so far, and its line */
    int *header_lines, n_headers;
} parse_state;

/* reader for ini_parse_stream: counts lines; refuses lines inih would split */
typedef struct {
    const char *p, *end;
    parse_state *ps;
} text_stream;

static char *read_line(char *str, int num, void *stream)
{
    text_stream *ts = stream;
    if (ts->p >= ts->end) return NULL;
    const char *nl = memchr(ts->p, '\n', (size_t)(ts->end - ts->p));
    size_t len = nl ? (size_t)(nl - ts->p) + 1 : (size_t)(ts->end - ts->p);
    ts->ps->line++;
    if (len >= (size_t)num) {
        if (!ts->ps->error[0]) {
            snprintf(ts->ps->error, sizeof ts->ps->error, "line longer than %d characters", num - 2);
            ts->ps->error_line = ts->ps->line;
        }
        len = (size_t)num - 2;
        memcpy(str, ts->p, len);
        str[len] = '\n';
        str[len + 1] = 0;
        ts->p = nl ? nl + 1 : ts->end;
        return str;
    }
    memcpy(str, ts->p, len);
    str[len] = 0;
    ts->p += len;
    parse_state *ps = ts->ps;
    const char *nul = memchr(str, 0, len);
    if (nul && !ps->error[0]) { /* inih would stop the line there and read a value cut short */
        snprintf(ps->error, sizeof ps->error, "a NUL byte at column %zu", (size_t)(nul - str) + 1);
        ps->error_line = ps->line;
    }
    const char *q = str;
    while (*q == ' ' || *q == '\t') q++;
    if (*q == '[') {
        ps->section_line = ps->line;
        const char *close = strchr(q, ']');
        if (close) { /* a section given twice would silently override the first */
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(close - q - 1), q + 1);
            for (int i = 0; i < ps->n_headers && !ps->error[0]; i++)
                if (strcmp(ps->headers[i], name) == 0) {
                    snprintf(ps->error, sizeof ps->error, "section [%s] given twice (first at line %d)", name, ps->header_lines[i]);
                    ps->error_line = ps->line;
                }
            ps->headers = qh_realloc(ps->headers, (size_t)(ps->n_headers + 1) * sizeof *ps->headers);
            ps->header_lines = qh_realloc(ps->header_lines, (size_t)(ps->n_headers + 1) * sizeof *ps->header_lines);
            ps->header_lines[ps->n_headers] = ps->line;
            ps->headers[ps->n_headers++] = qh_strdup(name);
        }
    }
    return str;
}

static int fail_at(parse_state *ps, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(parse_state *ps, int line, const char *fmt, ...)
{
    if (!ps->error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->error, sizeof ps->error, fmt, ap);
        va_end(ap);
        ps->error_line = line;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static int parse_budget(const char *v, long *out)
{
    if (strcmp(v, "all") == 0) {
        *out = 0;
        return 0;
    }
    char *end;
    long b = strtol(v, &end, 10);
    if (!*v || *end || b < 1) return -1;
    *out = b;
    return 0;
}

static int handle_tasks(parse_state *ps, const char *name, const char *value)
{
    qh_experiment *x = ps->x;
    const char *dot = strchr(name, '.');
    char why[512];
    qh_task_spec probe;
    /* TASK.KEY = VALUE: an option of a task listed above (mmlu.shots), unless the whole name is a task (ppl.DATASET) */
    if (dot && qh_task_parse(&probe, name, why, sizeof why) == -2) {
        for (int i = 0; i < x->n_tasks; i++) {
            qh_task_spec *t = &x->tasks[i];
            if (strncmp(t->name, name, (size_t)(dot - name)) != 0 || t->name[dot - name]) continue;
            const qh_task_traits *kind = &qh_task_table[t->kind];
            if (!kind->option) return fail_at(ps, ps->line, "[tasks] %s: a %s task takes no options", name, kind->name);
            if (kind->option(t, name, dot + 1, value, why, sizeof why) < 0) return fail_at(ps, ps->line, "[tasks] %s", why);
            return 1;
        }
        return fail_at(ps, ps->line, "[tasks] '%s' sets an option of a task not listed above it", name);
    }
    if (x->n_tasks == QH_MAX_TASKS) return fail_at(ps, ps->line, "[tasks] more than %d tasks", QH_MAX_TASKS);
    qh_task_spec *t = &x->tasks[x->n_tasks];
    memset(t, 0, sizeof *t);
    t->line = ps->line;
    if (qh_task_parse(t, name, why, sizeof why) < 0) return fail_at(ps, ps->line, "[tasks] %s", why);
    for (int i = 0; i < x->n_tasks; i++)
        if (strcmp(x->tasks[i].name, t->name) == 0) return fail_at(ps, ps->line, "[tasks] '%s' listed twice", name);
    if (parse_budget(value, &t->budget) != 0)
        return fail_at(ps, ps->line, "[tasks] %s = '%s': the budget must be a positive integer or 'all'", name, value);
    x->n_tasks++;
    return 1;
}

static int handle_experiment(parse_state *ps, const char *name, const char *value)
{
    qh_experiment *x = ps->x;
    if (strcmp(name, "name") == 0) {
        for (const char *c = value; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
                return fail_at(ps, ps->line, "[experiment] name '%s': use letters, digits, '-', '_', '.'", value);
        snprintf(x->name, sizeof x->name, "%s", value);
    } else if (strcmp(name, "description") == 0) { /* an indented continuation line is more of it */
        size_t have = strlen(x->description);
        snprintf(x->description + have, sizeof x->description - have, "%s%s", have ? " " : "", value);
    } else if (strcmp(name, "models") == 0 || strcmp(name, "model") == 0) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", value);
        char *save;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (x->n_models == 8) return fail_at(ps, ps->line, "[experiment] at most 8 models");
            snprintf(x->models[x->n_models++], sizeof x->models[0], "%s", trim(tok));
        }
    } else if (strcmp(name, "seed") == 0 || strcmp(name, "ctx") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        if (!*value || *end || v < 0 || (name[0] == 'c' && v < 2))
            return fail_at(ps, ps->line, "[experiment] %s = '%s' is not a valid integer", name, value);
        if (name[0] == 's') x->seed = (unsigned long)v;
        else if (v > 1 << 20) return fail_at(ps, ps->line, "[experiment] ctx = %ld is longer than any model's context", v);
        else x->ctx = (int)v, x->ctx_line = ps->line;
    } else {
        return fail_at(ps, ps->line, "[experiment] unknown key '%s' (name, description, models, seed, ctx)", name);
    }
    return 1;
}

static int handle_method(parse_state *ps, method_section *s, const char *name, const char *value)
{
    if (strcmp(name, "method") == 0) {
        snprintf(s->method, sizeof s->method, "%s", value);
        s->method_line = ps->line;
    } else if (strcmp(name, "spec") == 0) {
        snprintf(s->spec, sizeof s->spec, "%s", value);
        s->spec_line = ps->line;
    } else if (strcmp(name, "include") == 0 || strcmp(name, "exclude") == 0 || strcmp(name, "override") == 0) {
        char **list = name[0] == 'i' ? s->include : name[0] == 'e' ? s->exclude : s->override;
        int *n = name[0] == 'i' ? &s->n_include : name[0] == 'e' ? &s->n_exclude : &s->n_override;
        if (*n == QH_MAX_PATTERNS) return fail_at(ps, ps->line, "[%s] too many %s patterns", s->name, name);
        if (name[0] == 'o' && (!strchr(value, '=') || value[0] == '='))
            return fail_at(ps, ps->line, "[%s] override '%s' must be PATTERN=SPEC", s->name, value);
        list[(*n)++] = qh_strdup(value);
    } else if (strcmp(name, "gguf") == 0 || strcmp(name, "checkpoint") == 0) {
        if (s->gguf[0]) return fail_at(ps, ps->line, "[%s] one gguf = FILE or checkpoint = DIR a method section", s->name);
        snprintf(s->gguf, sizeof s->gguf, "%s", value);
        s->gguf_line = ps->line;
        s->is_checkpoint = name[0] == 'c';
    } else if (strcmp(name, "candidates") == 0) {
        snprintf(s->candidates, sizeof s->candidates, "%s", value);
        s->candidates_line = ps->line;
    } else if (strcmp(name, "target") == 0) {
        snprintf(s->target, sizeof s->target, "%s", value);
        s->target_line = ps->line;
    } else if (strcmp(name, "target_scope") == 0) {
        if (strcmp(value, "quantized") && strcmp(value, "model"))
            return fail_at(ps, ps->line, "[%s] target_scope '%s' must be quantized or model", s->name, value);
        s->whole_model = strcmp(value, "model") == 0;
    } else if (strcmp(name, "kept_dtype") == 0) {
        qh_dtype dt;
        if (qh_dtype_from_name(value, &dt) != 0 || (dt != QH_DT_F16 && dt != QH_DT_BF16 && dt != QH_DT_F32))
            return fail_at(ps, ps->line, "[%s] kept_dtype '%s' must be F16, BF16 or F32", s->name, value);
        snprintf(s->kept, sizeof s->kept, "%s", value);
    } else {
        for (int i = 0; i < s->n_params; i++)
            if (strcmp(s->keys[i], name) == 0) return fail_at(ps, ps->line, "[%s] '%s' given twice", s->name, name);
        if (s->n_params == MAX_KEYS) return fail_at(ps, ps->line, "[%s] too many parameters", s->name);
        snprintf(s->keys[s->n_params], sizeof s->keys[0], "%s", name);
        snprintf(s->values[s->n_params], sizeof s->values[0], "%s", value);
        s->lines[s->n_params++] = ps->line;
    }
    return 1;
}

/* a path as written in the experiment file: absolute, or relative to the file's directory;
 * -1 when it does not fit in out */
static int beside_experiment(const parse_state *ps, const char *value, char *out, size_t size)
{
    const char *slash = value[0] == '/' ? NULL : strrchr(ps->path, '/');
    size_t dir_len = slash ? (size_t)(slash - ps->path + 1) : 0, len = strlen(value);
    if (dir_len + len >= size) return -1;
    memcpy(out, ps->path, dir_len);
    memcpy(out + dir_len, value, len + 1);
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_state *ps = user;
    if (ps->error[0]) return 0;
    if (strcmp(section, "experiment") == 0) {
        ps->seen_experiment = 1;
        return handle_experiment(ps, name, value);
    }
    if (strcmp(section, "tasks") == 0) return handle_tasks(ps, name, value);
    if (strcmp(section, "calibration") == 0) {
        qh_experiment *x = ps->x;
        if (strcmp(name, "text") == 0) snprintf(x->calib_text, sizeof x->calib_text, "%s", value);
        else if (strcmp(name, "imatrix") == 0) { /* relative to this file, like gguf = */
            if (beside_experiment(ps, value, x->calib_imatrix, sizeof x->calib_imatrix) != 0)
                return fail_at(ps, ps->line, "[calibration] imatrix: the path is too long");
            qh_imatrix im;
            qh_err ierr;
            if (qh_imatrix_load(x->calib_imatrix, &im, &ierr) != 0) return fail_at(ps, ps->line, "[calibration] imatrix: %s", ierr.msg);
            snprintf(x->calib_imatrix_sha, sizeof x->calib_imatrix_sha, "%s", im.sha256);
            qh_imatrix_free(&im);
        } else if (strcmp(name, "windows") == 0 || strcmp(name, "ctx") == 0) {
            char *end;
            long v = strtol(value, &end, 10);
            if (!*value || *end || v < (name[0] == 'w' ? 1 : 2) || v > 100000)
                return fail_at(ps, ps->line, "[calibration] %s = '%s' is not a valid count", name, value);
            if (name[0] == 'w') x->calib_windows = (int)v;
            else x->calib_ctx = (int)v, x->calib_ctx_line = ps->line;
        } else {
            return fail_at(ps, ps->line, "[calibration] unknown key '%s' (text, windows, ctx, imatrix)", name);
        }
        return 1;
    }
    if (strncmp(section, "method ", 7) == 0 && section[7]) {
        for (const char *c = section; *c; c++) /* the name is a run's label, printed in tables and messages */
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                return fail_at(ps, ps->section_line, "[method NAME]: the name holds the control character 0x%02x", (unsigned)(unsigned char)*c);
        method_section *s = NULL;
        for (int i = 0; i < ps->n_sections; i++)
            if (strcmp(ps->sections[i].name, section) == 0) s = &ps->sections[i];
        if (!s) {
            ps->sections = qh_realloc(ps->sections, (size_t)(ps->n_sections + 1) * sizeof *ps->sections);
            s = &ps->sections[ps->n_sections++];
            memset(s, 0, sizeof *s);
            snprintf(s->name, sizeof s->name, "%s", section);
            s->line = ps->section_line;
        }
        return handle_method(ps, s, name, value);
    }
    return fail_at(ps, ps->section_line, "unknown section [%s] (experiment, tasks, calibration, method NAME)", section);
}

/* ---- grid expansion --------------------------------------------------------------------- */

static char *keep_string(qh_experiment *x, const char *s)
{
    x->strings = qh_realloc(x->strings, (size_t)(x->n_strings + 1) * sizeof(char *));
    return x->strings[x->n_strings++] = qh_strdup(s);
}

/* A configuration is known by its canonical text, so one that does not fit is refused, not cut
 * (two cut ones could look the same). */
static int canonical_too_long(parse_state *ps, const char *section, int line, size_t size)
{
    return fail_at(ps, line, "[%s] the configuration (spec and scope) is longer than %zu bytes", section, size - 1);
}

static int add_config(qh_experiment *x, parse_state *ps, method_section *s, const char *spec, const char *label, int line)
{
    x->configs = qh_realloc(x->configs, (size_t)(x->n_configs + 1) * sizeof *x->configs);
    qh_run_config *c = &x->configs[x->n_configs];
    memset(c, 0, sizeof *c);
    c->line = line;
    snprintf(c->label, sizeof c->label, "%s", label);
    snprintf(c->spec, sizeof c->spec, "%s", spec);
    qh_quant_opts_init(&c->scope);
    if (s->kept[0]) qh_dtype_from_name(s->kept, &c->scope.kept_dtype);
    if (qh_spec_is_baseline(spec)) {
        if (s->n_include || s->n_exclude || s->n_override || s->kept[0])
            return fail_at(ps, line, "[%s] the baseline (method = %s) takes no scope keys", s->name, QH_BASELINE);
        snprintf(c->canonical, sizeof c->canonical, "%s", QH_BASELINE);
        snprintf(c->family, sizeof c->family, "%s", QH_BASELINE);
    } else {
        qh_spec *parsed;
        qh_err err;
        if (qh_spec_parse(spec, &parsed, &err) != 0) return fail_at(ps, line, "[%s] %s", s->name, err.msg);
        qh_spec_canonical(parsed, c->canonical, sizeof c->canonical);
        snprintf(c->family, sizeof c->family, "%s", parsed->method->name);
        c->needs_calibration = qh_spec_needs_calibration(parsed);
        qh_spec_free(parsed);
        c->scope.spec = keep_string(x, spec);
        size_t k = strlen(c->canonical);
        for (int i = 0; i < s->n_include; i++) {
            c->scope.include[c->scope.n_include++] = keep_string(x, s->include[i]);
            k += (size_t)snprintf(c->canonical + k, sizeof c->canonical - k, " | include %s", s->include[i]);
            if (k >= sizeof c->canonical) return canonical_too_long(ps, s->name, line, sizeof c->canonical);
        }
        for (int i = 0; i < s->n_exclude; i++) {
            c->scope.exclude[c->scope.n_exclude++] = keep_string(x, s->exclude[i]);
            k += (size_t)snprintf(c->canonical + k, sizeof c->canonical - k, " | exclude %s", s->exclude[i]);
            if (k >= sizeof c->canonical) return canonical_too_long(ps, s->name, line, sizeof c->canonical);
        }
        for (int i = 0; i < s->n_override; i++) {
            char *o = keep_string(x, s->override[i]), *eq = strchr(o, '=');
            *eq = 0;
            qh_spec *os;
            if (qh_spec_parse(eq + 1, &os, &err) != 0) return fail_at(ps, line, "[%s] override: %s", s->name, err.msg);
            char oc[512];
            qh_spec_canonical(os, oc, sizeof oc);
            c->needs_calibration |= qh_spec_needs_calibration(os);
            c->scope.override_pattern[c->scope.n_override] = o;
            c->scope.override_spec[c->scope.n_override++] = eq + 1;
            qh_spec_free(os);
            k += (size_t)snprintf(c->canonical + k, sizeof c->canonical - k, " | override %s=%s", o, oc);
            if (k >= sizeof c->canonical) return canonical_too_long(ps, s->name, line, sizeof c->canonical);
        }
        k += (size_t)snprintf(c->canonical + k, sizeof c->canonical - k, " | kept %s", qh_dtype_name(c->scope.kept_dtype));
        if (k >= sizeof c->canonical) return canonical_too_long(ps, s->name, line, sizeof c->canonical);
    }
    for (int i = 0; i < x->n_configs; i++)
        if (strcmp(x->configs[i].canonical, c->canonical) == 0)
            return fail_at(ps, line, "[%s] '%s' repeats a configuration of '%s'", s->name, label, x->configs[i].label);
    x->n_configs++;
    return 1;
}

/* [method NAME] with candidates = a | b | c and target = t1, t2: one mixed config per target */
static int expand_mixed(qh_experiment *x, parse_state *ps, method_section *s)
{
    const char *short_name = s->name + 7;
    if (s->method[0] || s->spec[0] || s->n_params)
        return fail_at(ps, s->candidates_line, "[%s] candidates exclude method, spec and method parameters", s->name);
    if (!s->target[0]) return fail_at(ps, s->candidates_line, "[%s] candidates need target = BPP", s->name);
    char buf[1024], *cands[QH_MAX_PATTERNS];
    int nc = 0;
    snprintf(buf, sizeof buf, "%s", s->candidates);
    char canon_list[1024] = "";
    size_t cl = 0;
    char *save;
    for (char *tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
        if (nc == QH_MAX_PATTERNS) return fail_at(ps, s->candidates_line, "[%s] too many candidates", s->name);
        char *c = trim(tok);
        qh_spec *sp;
        qh_err err;
        if (qh_spec_parse(c, &sp, &err) != 0) return fail_at(ps, s->candidates_line, "[%s] candidate: %s", s->name, err.msg);
        char cc[256];
        qh_spec_canonical(sp, cc, sizeof cc);
        qh_spec_free(sp);
        cl += (size_t)snprintf(canon_list + cl, sizeof canon_list - cl, "%s %s", nc ? " |" : "", cc);
        if (cl >= sizeof canon_list) return canonical_too_long(ps, s->name, s->candidates_line, sizeof canon_list);
        cands[nc++] = c;
    }
    if (nc < 2) return fail_at(ps, s->candidates_line, "[%s] mixed precision needs at least two candidates", s->name);
    char tbuf[256];
    snprintf(tbuf, sizeof tbuf, "%s", s->target);
    for (char *tok = strtok_r(tbuf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end, *t = trim(tok);
        double v = strtod(t, &end);
        if (*end || !(v > 0 && v < 64)) return fail_at(ps, s->target_line, "[%s] target '%s' is not a bpp in (0, 64)", s->name, t);
        x->configs = qh_realloc(x->configs, (size_t)(x->n_configs + 1) * sizeof *x->configs);
        qh_run_config *c = &x->configs[x->n_configs];
        memset(c, 0, sizeof *c);
        c->line = s->target_line;
        snprintf(c->label, sizeof c->label, "%s %s", short_name, t);
        snprintf(c->spec, sizeof c->spec, "mixed");
        snprintf(c->family, sizeof c->family, "mixed");
        qh_quant_opts_init(&c->scope);
        if (s->kept[0]) qh_dtype_from_name(s->kept, &c->scope.kept_dtype);
        for (int i = 0; i < nc; i++) c->scope.candidates[c->scope.n_candidates++] = keep_string(x, cands[i]);
        c->scope.mixed_target = v;
        c->scope.mixed_whole_model = s->whole_model;
        for (int i = 0; i < s->n_include; i++) c->scope.include[c->scope.n_include++] = keep_string(x, s->include[i]);
        for (int i = 0; i < s->n_exclude; i++) c->scope.exclude[c->scope.n_exclude++] = keep_string(x, s->exclude[i]);
        c->needs_calibration = 1;
        size_t k = (size_t)snprintf(c->canonical, sizeof c->canonical, "mixed target=%g scope=%s:%s", v,
                                    s->whole_model ? "model" : "quantized", canon_list);
        for (int i = 0; i < s->n_include && k < sizeof c->canonical; i++)
            k += (size_t)snprintf(c->canonical + k, sizeof c->canonical - k, " | include %s", s->include[i]);
        for (int i = 0; i < s->n_exclude && k < sizeof c->canonical; i++)
            k += (size_t)snprintf(c->canonical + k, sizeof c->canonical - k, " | exclude %s", s->exclude[i]);
        if (k < sizeof c->canonical)
            k += (size_t)snprintf(c->canonical + k, sizeof c->canonical - k, " | kept %s", qh_dtype_name(c->scope.kept_dtype));
        if (k >= sizeof c->canonical) return canonical_too_long(ps, s->name, s->target_line, sizeof c->canonical);
        x->n_configs++;
    }
    return 1;
}

/* [method NAME] with gguf = FILE, or checkpoint = DIR (a Hugging Face directory a vendor's tool
 * quantized): one configuration, the file's weights; the key in the store is the file's name and
 * sha256 (a directory's: its model.safetensors'), not its path */
static int add_gguf(qh_experiment *x, parse_state *ps, method_section *s)
{
    const char *key = s->is_checkpoint ? "checkpoint" : "gguf", *what = s->is_checkpoint ? "DIR" : "FILE";
    if (s->method[0] || s->spec[0] || s->n_params || s->candidates[0] || s->n_include || s->n_exclude || s->n_override || s->kept[0])
        return fail_at(ps, s->gguf_line, "[%s] %s = %s takes no other key (the file fixes method and scope)", s->name, key, what);
    char path[sizeof ((qh_run_config *)0)->gguf];
    if (beside_experiment(ps, s->gguf, path, sizeof path) != 0)
        return fail_at(ps, s->gguf_line, "[%s] %s: the path is longer than %zu bytes", s->name, key, sizeof path - 1);
    qh_err err;
    char sha[65], family[sizeof ((qh_run_config *)0)->family] = "llama.cpp";
    if (s->is_checkpoint) {
        char *config = qh_path_join(path, "config.json"), *weights = qh_path_join(path, "model.safetensors");
        qh_hfq q;
        int present = 0, rc = !qh_is_dir(path) ? qh_fail(&err, "%s: not a directory", path)
                              : qh_hfq_from_config(config, &q, &present, &err) != 0 ? -1
                              : !present ? qh_fail(&err, "%s: no quantization_config: not a quantized checkpoint", config)
                                         : qh_sha256_file(weights, sha, &err);
        if (rc == 0) snprintf(family, sizeof family, "%s", q.fmt->tool);
        free(config);
        free(weights);
        if (rc != 0) return fail_at(ps, s->gguf_line, "[%s] checkpoint: %s", s->name, err.msg);
    } else {
        qh_gguf *g;
        if (qh_gguf_open(path, &g, &err) != 0) return fail_at(ps, s->gguf_line, "[%s] gguf: %s", s->name, err.msg);
        qh_gguf_close(g);
        if (qh_sha256_file(path, sha, &err) != 0) return fail_at(ps, s->gguf_line, "[%s] gguf: %s", s->name, err.msg);
    }
    x->configs = qh_realloc(x->configs, (size_t)(x->n_configs + 1) * sizeof *x->configs);
    qh_run_config *c = &x->configs[x->n_configs];
    memset(c, 0, sizeof *c);
    c->line = s->gguf_line;
    qh_quant_opts_init(&c->scope);
    snprintf(c->label, sizeof c->label, "%s", s->name + 7);
    snprintf(c->spec, sizeof c->spec, "%s", key);
    snprintf(c->family, sizeof c->family, "%s", family);
    memcpy(c->gguf, path, sizeof path);
    size_t n;
    const char *base = qh_path_tail(path, &n);
    snprintf(c->canonical, sizeof c->canonical, "%s %.*s sha256=%s", key, (int)n, base, sha);
    for (int i = 0; i < x->n_configs; i++)
        if (strcmp(x->configs[i].canonical, c->canonical) == 0)
            return fail_at(ps, s->gguf_line, "[%s] the same file as '%s'", s->name, x->configs[i].label);
    x->n_configs++;
    return 1;
}

static int expand_section(qh_experiment *x, parse_state *ps, method_section *s)
{
    const char *short_name = s->name + 7;
    if (s->gguf[0]) return add_gguf(x, ps, s);
    if (s->candidates[0]) return expand_mixed(x, ps, s);
    if (s->target[0]) return fail_at(ps, s->target_line, "[%s] target goes with candidates (mixed precision)", s->name);
    if (s->spec[0] && (s->method[0] || s->n_params))
        return fail_at(ps, s->spec_line, "[%s] give either 'spec' or 'method' with parameters, not both", s->name);
    if (s->spec[0]) return add_config(x, ps, s, s->spec, short_name, s->spec_line);
    if (!s->method[0]) return fail_at(ps, s->line, "[%s] needs 'method = NAME' or 'spec = ...'", s->name);
    if (qh_spec_is_baseline(s->method)) {
        if (s->n_params) return fail_at(ps, s->lines[0], "[%s] the baseline takes no parameters", s->name);
        return add_config(x, ps, s, QH_BASELINE, short_name, s->method_line);
    }
    /* split every value list; then walk the product like an odometer */
    char *vals[MAX_KEYS][32];
    int nv[MAX_KEYS], idx[MAX_KEYS] = {0};
    char copies[MAX_KEYS][512];
    for (int k = 0; k < s->n_params; k++) {
        snprintf(copies[k], sizeof copies[k], "%s", s->values[k]);
        nv[k] = 0;
        char *save;
        for (char *tok = strtok_r(copies[k], ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (nv[k] == 32) return fail_at(ps, s->lines[k], "[%s] %s: more than 32 values", s->name, s->keys[k]);
            vals[k][nv[k]++] = trim(tok);
        }
        if (nv[k] == 0) return fail_at(ps, s->lines[k], "[%s] %s: no value", s->name, s->keys[k]);
    }
    double grid = 1;
    for (int k = 0; k < s->n_params; k++) grid *= nv[k];
    if (grid + x->n_configs > QH_MAX_CONFIGS)
        return fail_at(ps, s->line, "[%s] the grid has %.0f configurations; an experiment holds at most %d", s->name, grid,
                       QH_MAX_CONFIGS);
    for (;;) {
        char spec[512], label[256];
        size_t a = (size_t)snprintf(spec, sizeof spec, "%s", s->method);
        size_t b = (size_t)snprintf(label, sizeof label, "%s", short_name);
        for (int k = 0; k < s->n_params; k++) {
            a += (size_t)snprintf(spec + a, sizeof spec - a, " %s=%s", s->keys[k], vals[k][idx[k]]);
            if (a >= sizeof spec) return fail_at(ps, s->lines[k], "[%s] the method spec is longer than %zu bytes", s->name, sizeof spec - 1);
            if (nv[k] > 1 && b < sizeof label) b += (size_t)snprintf(label + b, sizeof label - b, " %s=%s", s->keys[k], vals[k][idx[k]]);
        }
        /* a bad value names the line of its key */
        qh_spec *parsed;
        qh_err err;
        if (qh_spec_parse(spec, &parsed, &err) != 0) {
            int line = s->method_line;
            for (int k = 0; k < s->n_params; k++)
                if (strstr(err.msg, s->keys[k])) line = s->lines[k];
            return fail_at(ps, line, "[%s] %s", s->name, err.msg);
        }
        qh_spec_free(parsed);
        if (!add_config(x, ps, s, spec, label, s->method_line)) return 0;
        int k = s->n_params - 1;
        while (k >= 0 && ++idx[k] == nv[k]) idx[k--] = 0;
        if (k < 0) break;
    }
    return 1;
}

void qh_experiment_free(qh_experiment *x)
{
    free(x->path);
    free(x->text);
    free(x->configs);
    for (int i = 0; i < x->n_strings; i++) free(x->strings[i]);
    free(x->strings);
    memset(x, 0, sizeof *x);
}

static void free_sections(parse_state *ps)
{
    for (int i = 0; i < ps->n_sections; i++) {
        method_section *s = &ps->sections[i];
        for (int k = 0; k < s->n_include; k++) free(s->include[k]);
        for (int k = 0; k < s->n_exclude; k++) free(s->exclude[k]);
        for (int k = 0; k < s->n_override; k++) free(s->override[k]);
    }
    free(ps->sections);
    for (int i = 0; i < ps->n_headers; i++) free(ps->headers[i]);
    free(ps->headers);
    free(ps->header_lines);
}

int qh_experiment_load(const char *path, qh_experiment *x, qh_err *err)
{
    memset(x, 0, sizeof *x);
    size_t len;
    if (qh_read_file(path, &x->text, &len, err) != 0) return -1;
    x->path = qh_strdup(path);
    x->seed = 1;
    qh_sha256_hex(x->text, len, x->sha256);
    if (qh_check_utf8(path, x->text, len, err) != 0) goto fail;
    parse_state ps = {0};
    ps.x = x;
    ps.path = path;
    text_stream ts = {x->text, x->text + len, &ps};
    int rc = ini_parse_stream(read_line, &ts, handler, &ps);
    if (!ps.error[0] && rc > 0) fail_at(&ps, rc, "not a 'key = value' line, a [section] or a comment");
    for (int i = 0; i < ps.n_sections && !ps.error[0]; i++) expand_section(x, &ps, &ps.sections[i]);
    if (!ps.error[0]) {
        if (!ps.seen_experiment || !x->name[0]) fail_at(&ps, 0, "[experiment] name is required");
        else if (!x->n_models) fail_at(&ps, 0, "[experiment] models is required");
        else if (!x->n_tasks) fail_at(&ps, 0, "[tasks] lists no task");
        else if (!x->n_configs) fail_at(&ps, 0, "no [method NAME] section");
    }
    free_sections(&ps);
    if (!x->calib_text[0]) snprintf(x->calib_text, sizeof x->calib_text, "gutenberg-calib");
    if (!x->calib_windows) x->calib_windows = 128;
    for (int i = 0; i < x->n_configs && !ps.error[0]; i++) { /* calibration is part of what a run is */
        qh_run_config *c = &x->configs[i];
        if (!c->needs_calibration) continue;
        size_t k = strlen(c->canonical);
        char ctx[32] = "model";
        if (x->calib_ctx) snprintf(ctx, sizeof ctx, "%d", x->calib_ctx);
        if (x->calib_imatrix[0])
            snprintf(c->canonical + k, sizeof c->canonical - k, " | calib imatrix sha256=%s", x->calib_imatrix_sha);
        else
            snprintf(c->canonical + k, sizeof c->canonical - k, " | calib %s windows=%d ctx=%s seed=%lu", x->calib_text,
                     x->calib_windows, ctx, x->seed);
    }
    if (ps.error[0]) {
        if (ps.error_line > 0) qh_fail(err, "%s:%d: %s", path, ps.error_line, ps.error);
        else qh_fail(err, "%s: %s", path, ps.error);
        goto fail;
    }
    return 0;
fail:
    qh_experiment_free(x);
    return -1;
}
