/* mc.c - loaders for the multiple-choice sets; see mc.h and datasets/README.md. */
#include "datasets/mc.h"

#include <cJSON.h>
#include <stdarg.h>
#include <csv.h>
#include <dirent.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

const qh_mc_kind_traits qh_mc_kinds[QH_MC_KINDS] = {
    [QH_MC_CHOICE] = {.has_norm = 1},
    [QH_MC_PAIR] = {.from_start_token = 1},
    [QH_MC_LAMBADA] = {.greedy_target = 1},
    [QH_MC_MMLU] = {.letter_request = 1, .has_norm = 1},
};


/* ---- growing item list ------------------------------------------------------------------ */

typedef struct qh_mc_list {
    qh_mc_item *items;
    int n, cap;
    int *stratum;             /* per item */
    qh_sha256_ctx files_sha;
    const char *given;        /* qh_mc_parse_text: the text of every file, not read, not checked */
    size_t given_len;
} item_list;

static qh_mc_item *new_item(item_list *l, int stratum)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->items = qh_realloc(l->items, (size_t)l->cap * sizeof *l->items);
        l->stratum = qh_realloc(l->stratum, (size_t)l->cap * sizeof *l->stratum);
    }
    qh_mc_item *it = &l->items[l->n];
    memset(it, 0, sizeof *it);
    l->stratum[l->n++] = stratum;
    return it;
}

static void free_item(qh_mc_item *it)
{
    free(it->context);
    free(it->letter_prompt);
    for (int c = 0; c < it->n_choices; c++) {
        free(it->choices[c]);
        if (it->contexts) free(it->contexts[c]);
    }
    free(it->choices);
    free(it->contexts);
}

void qh_mc_free(qh_mc_task *t)
{
    for (int i = 0; i < t->n_items; i++) free_item(&t->items[i]);
    free(t->items);
    memset(t, 0, sizeof *t);
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = qh_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* " " + choice: lm-eval's target delimiter, always (a context that ends in white space gives
 * it to the continuation when the request is encoded, as lm-eval does) */
static char *continuation(const char *context, const char *choice)
{
    (void)context;
    return xasprintf(" %s", choice);
}

/* text without the white space Python's str.strip() removes at either end (ASCII white space
 * and U+00A0, the ones MMLU's questions carry) */
static char *py_strip(const char *s)
{
    const char *e = s + strlen(s);
    for (;;) {
        if (*s && strchr(" \t\n\r\v\f", *s)) s++;
        else if ((unsigned char)s[0] == 0xc2 && (unsigned char)s[1] == 0xa0) s += 2;
        else break;
    }
    for (;;) {
        if (e > s && strchr(" \t\n\r\v\f", e[-1])) e--;
        else if (e - s >= 2 && (unsigned char)e[-2] == 0xc2 && (unsigned char)e[-1] == 0xa0) e -= 2;
        else break;
    }
    return xasprintf("%.*s", (int)(e - s), s);
}

/* ---- checked reading -------------------------------------------------------------------- */

/* Reads datasets/<rel>, checks it against datasets/SHA256SUMS, folds its hash into l. */
static int read_checked(const char *rel, item_list *l, char **text, size_t *len, qh_err *err)
{
    static qh_sum_entry *manifest; /* parsed once: the shipped SHA256SUMS */
    static int manifest_n;
    if (l->given) {
        *text = qh_malloc(l->given_len + 1);
        memcpy(*text, l->given, l->given_len);
        (*text)[l->given_len] = 0;
        *len = l->given_len;
        char hex[65];
        qh_sha256_hex(*text, *len, hex);
        qh_sha256_update(&l->files_sha, hex, 64);
        return 0;
    }
    char *sums_path = qh_path_join(qh_home(), "datasets/SHA256SUMS");
    if (!manifest) {
        char *mtext = NULL;
        size_t mlen;
        if (qh_read_file(sums_path, &mtext, &mlen, err) != 0 || qh_sha256sums_parse(sums_path, mtext, mlen, &manifest, &manifest_n, err) != 0) {
            free(mtext);
            free(sums_path);
            return -1;
        }
        free(mtext);
    }
    char *path = qh_path_join(qh_home(), "datasets"), *full = qh_path_join(path, rel);
    free(path);
    int rc = -1;
    if (qh_read_file(full, text, len, err) != 0) goto done;
    char hex[65];
    qh_sha256_hex(*text, *len, hex);
    const qh_sum_entry *listed = NULL;
    for (int i = 0; i < manifest_n && !listed; i++)
        if (strcmp(manifest[i].name, rel) == 0) listed = &manifest[i];
    if (!listed) {
        qh_fail(err, "%s: not listed in %s", full, sums_path);
        free(*text);
        goto done;
    }
    if (strcmp(listed->hex, hex) != 0) {
        qh_fail(err, "%s: sha256 %s does not match %s in %s", full, hex, listed->hex, sums_path);
        free(*text);
        goto done;
    }
    qh_sha256_update(&l->files_sha, hex, 64);
    rc = 0;
done:
    free(full);
    free(sums_path);
    return rc;
}

/* Calls fn(line, lineno, ud) for each non-empty line of a JSONL file, parsed. */
static int each_json_line(const char *rel, item_list *l, int (*fn)(const cJSON *, int, void *, qh_err *), void *ud,
                          qh_err *err)
{
    char *text;
    size_t len;
    if (read_checked(rel, l, &text, &len, err) != 0) return -1;
    int lineno = 0, rc = 0;
    for (char *line = text; line < text + len && rc == 0;) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) end = text + len;
        *end = 0;
        lineno++;
        if (end > line) {
            cJSON *j = cJSON_Parse(line);
            if (!j) rc = qh_fail(err, "datasets/%s:%d: not valid JSON", rel, lineno);
            else rc = fn(j, lineno, ud, err);
            cJSON_Delete(j);
        }
        line = end + 1;
    }
    free(text);
    return rc;
}

static const char *json_str(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- per-format parsers ----------------------------------------------------------------- */

typedef struct {
    item_list *l;
    const char *rel;
    int stratum;
} parse_ctx;

static int parse_choice_line(const cJSON *j, int lineno, void *ud, qh_err *err)
{
    parse_ctx *p = ud;
    const char *q = json_str(j, "query");
    const cJSON *ch = cJSON_GetObjectItem(j, "choices"), *gold = cJSON_GetObjectItem(j, "gold");
    int n = cJSON_GetArraySize(ch);
    if (!q || !cJSON_IsArray(ch) || n < 2 || !cJSON_IsNumber(gold) || gold->valueint < 0 || gold->valueint >= n)
        return qh_fail(err, "datasets/%s:%d: expected {\"query\", \"choices\" (2 or more), \"gold\" (an index)}", p->rel, lineno);
    qh_mc_item *it = new_item(p->l, p->stratum);
    snprintf(it->key, sizeof it->key, "%d", lineno - 1);
    /* lm-eval-harness formats question sets as "Question: ...\nAnswer:"; the shipped ARC and
     * PIQA queries carry the "Question:" part only (PIQA with a trailing newline) */
    if (strncmp(q, "Question:", 9) == 0) {
        size_t ql = strlen(q);
        while (ql && (q[ql - 1] == '\n' || q[ql - 1] == ' ')) ql--;
        it->context = xasprintf("%.*s\nAnswer:", (int)ql, q);
    } else {
        it->context = qh_strdup(q);
    }
    it->n_choices = n;
    it->choices = qh_calloc((size_t)n, sizeof(char *));
    for (int c = 0; c < n; c++) {
        const cJSON *s = cJSON_GetArrayItem(ch, c);
        if (!cJSON_IsString(s)) return qh_fail(err, "datasets/%s:%d: choice %d is not a string", p->rel, lineno, c);
        it->choices[c] = continuation(it->context, s->valuestring);
    }
    it->gold = gold->valueint;
    return 0;
}

/* COPA as lm-eval's super_glue copa: the premise without its final punctuation + " therefore"
 * or " because" (the shipped query has "premise, therefore"), each choice with a leading space
 * of its own (lm-eval's doc_to_choice) after the target delimiter: "  " + choice */
static int parse_copa_line(const cJSON *j, int lineno, void *ud, qh_err *err)
{
    parse_ctx *p = ud;
    const char *q = json_str(j, "query");
    const cJSON *ch = cJSON_GetObjectItem(j, "choices"), *gold = cJSON_GetObjectItem(j, "gold");
    if (!q || !cJSON_IsArray(ch) || cJSON_GetArraySize(ch) != 2 || !cJSON_IsNumber(gold) || gold->valueint < 0 || gold->valueint > 1)
        return qh_fail(err, "datasets/%s:%d: expected {\"query\", \"choices\" (2), \"gold\" (0 or 1)}", p->rel, lineno);
    size_t ql = strlen(q);
    const char *connector = NULL;
    static const char *const connectors[] = {"therefore", "because"};
    for (int k = 0; k < 2 && !connector; k++) {
        size_t cl = strlen(connectors[k]);
        if (ql > cl + 2 && strcmp(q + ql - cl, connectors[k]) == 0 && q[ql - cl - 1] == ' ' && q[ql - cl - 2] == ',') connector = connectors[k];
    }
    if (!connector) return qh_fail(err, "datasets/%s:%d: a COPA query ends with ', therefore' or ', because'", p->rel, lineno);
    qh_mc_item *it = new_item(p->l, p->stratum);
    snprintf(it->key, sizeof it->key, "%d", lineno - 1);
    it->context = xasprintf("%.*s %s", (int)(ql - strlen(connector) - 2), q, connector);
    it->n_choices = 2;
    it->choices = qh_calloc(2, sizeof(char *));
    for (int c = 0; c < 2; c++) {
        const cJSON *s = cJSON_GetArrayItem(ch, c);
        if (!cJSON_IsString(s) || !s->valuestring[0]) return qh_fail(err, "datasets/%s:%d: choice %d is not a non-empty string", p->rel, lineno, c);
        it->choices[c] = xasprintf("  %s", s->valuestring);
    }
    it->gold = gold->valueint;
    return 0;
}

static int parse_winogrande_line(const cJSON *j, int lineno, void *ud, qh_err *err)
{
    parse_ctx *p = ud;
    const cJSON *opts = cJSON_GetObjectItem(j, "context_options"), *gold = cJSON_GetObjectItem(j, "gold");
    const char *cont = json_str(j, "continuation");
    int n = cJSON_GetArraySize(opts);
    if (!cJSON_IsArray(opts) || n != 2 || !cont || !cJSON_IsNumber(gold) || gold->valueint < 0 || gold->valueint > 1)
        return qh_fail(err, "datasets/%s:%d: expected {\"context_options\" (2), \"continuation\", \"gold\"}", p->rel, lineno);
    qh_mc_item *it = new_item(p->l, p->stratum);
    snprintf(it->key, sizeof it->key, "%d", lineno - 1);
    it->context = qh_strdup("");
    it->n_choices = 2;
    it->contexts = qh_calloc(2, sizeof(char *));
    it->choices = qh_calloc(2, sizeof(char *));
    for (int c = 0; c < 2; c++) {
        const cJSON *s = cJSON_GetArrayItem(opts, c);
        if (!cJSON_IsString(s)) return qh_fail(err, "datasets/%s:%d: context option %d is not a string", p->rel, lineno, c);
        it->contexts[c] = qh_strdup(s->valuestring);
        it->choices[c] = continuation(s->valuestring, cont);
    }
    it->gold = gold->valueint;
    return 0;
}

static int parse_blimp_line(const cJSON *j, int lineno, void *ud, qh_err *err)
{
    parse_ctx *p = ud;
    const char *good = json_str(j, "sentence_good"), *bad = json_str(j, "sentence_bad");
    if (!good || !bad) return qh_fail(err, "datasets/%s:%d: expected sentence_good and sentence_bad", p->rel, lineno);
    qh_mc_item *it = new_item(p->l, p->stratum);
    const char *slash = strrchr(p->rel, '/');
    snprintf(it->key, sizeof it->key, "%.*s/%d", (int)(strlen(slash + 1) - 6), slash + 1, lineno - 1);
    it->context = qh_strdup("");
    it->n_choices = 2;
    it->choices = qh_calloc(2, sizeof(char *));
    it->choices[0] = qh_strdup(good);
    it->choices[1] = qh_strdup(bad);
    it->gold = 0;
    return 0;
}

static int parse_lambada_line(const cJSON *j, int lineno, void *ud, qh_err *err)
{
    parse_ctx *p = ud;
    const char *text = json_str(j, "text");
    const char *sp = text ? strrchr(text, ' ') : NULL;
    if (!sp || sp == text || !sp[1]) return qh_fail(err, "datasets/%s:%d: expected {\"text\"} ending in a word", p->rel, lineno);
    qh_mc_item *it = new_item(p->l, p->stratum);
    snprintf(it->key, sizeof it->key, "%d", lineno - 1);
    it->context = qh_malloc((size_t)(sp - text) + 1);
    memcpy(it->context, text, (size_t)(sp - text));
    it->context[sp - text] = 0;
    it->n_choices = 1;
    it->choices = qh_calloc(1, sizeof(char *));
    it->choices[0] = qh_strdup(sp); /* " word" */
    it->gold = 0;
    return 0;
}

/* lm-eval's hellaswag preprocess(): strip, " [title]" -> ". ", every "[...]" (no newline inside,
 * shortest first) removed, then one pass of "  " -> " " (Python's str.replace: left to right,
 * not overlapping, so three spaces become two). */
static char *hellaswag_preprocess(const char *text)
{
    char *stripped = py_strip(text);
    size_t n = strlen(stripped);
    char *titled = qh_malloc(n + n / 2 + 1), *t = titled; /* " [title]" (8 bytes) becomes 2 */
    for (const char *s = stripped; *s;)
        if (strncmp(s, " [title]", 8) == 0) {
            memcpy(t, ". ", 2), t += 2, s += 8;
        } else
            *t++ = *s++;
    *t = 0;
    char *unbracketed = qh_malloc(strlen(titled) + 1), *u = unbracketed;
    for (const char *s = titled; *s;) {
        const char *close = NULL;
        if (*s == '[')
            for (const char *c = s + 1; *c && *c != '\n'; c++)
                if (*c == ']') {
                    close = c;
                    break;
                }
        if (close) s = close + 1;
        else *u++ = *s++;
    }
    *u = 0;
    char *out = qh_malloc(strlen(unbracketed) + 1), *o = out;
    for (const char *s = unbracketed; *s;)
        if (s[0] == ' ' && s[1] == ' ') *o++ = ' ', s += 2;
        else *o++ = *s++;
    *o = 0;
    free(stripped);
    free(titled);
    free(unbracketed);
    return out;
}

/* Python's str.capitalize(): the first character title-cased, every other one lower-cased
 * (per code point; text that is not UTF-8 is kept as it is). */
static char *py_capitalize(const char *s)
{
    size_t len = strlen(s);
    char *out = qh_malloc(4 * len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (step <= 0) {
            out[o++] = s[i++];
            continue;
        }
        cp = i == 0 ? utf8proc_totitle(cp) : utf8proc_tolower(cp);
        o += (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out + o);
        i += (size_t)step;
    }
    out[o] = 0;
    return out;
}

/* Where ctx_b starts in a line of llama.cpp's file ("activity_label: ctx_a ctx_b"), or NULL
 * where it is empty.  The file joins the two; the split is rebuilt from how HellaSwag was made
 * (Zellers et al. 2019, after SWAG): an ActivityNet context is whole sentences (ctx_a) and the
 * first words of the next one (ctx_b, lower-case in the data), a WikiHow context ("How to ...")
 * is whole steps with ctx_b empty.  So ctx_b is taken as what follows the last ". ", "! " or
 * "? " of an ActivityNet line; datasets/README.md says which items this cannot settle. */
const char *qh_hellaswag_ctx_b(const char *line)
{
    const char *body = strstr(line, ": ");
    if (!body) return NULL;
    body += 2;
    if (strncmp(body, "How to ", 7) == 0) return NULL;
    const char *tail = NULL;
    for (const char *s = body; s[0] && s[1]; s++)
        if ((s[0] == '.' || s[0] == '!' || s[0] == '?') && s[1] == ' ') tail = s + 2;
    return tail && *tail ? tail : NULL;
}

/* The query lm-eval's hellaswag scores, from a line of llama.cpp's file:
 * preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()). */
char *qh_hellaswag_lmeval_query(const char *line)
{
    const char *ctx_b = qh_hellaswag_ctx_b(line);
    char *joined;
    if (ctx_b) {
        char *cap = py_capitalize(ctx_b);
        joined = xasprintf("%.*s%s", (int)(ctx_b - line), line, cap);
        free(cap);
    } else
        joined = xasprintf("%s ", line); /* ctx_a + " " + "": the space goes with the strip */
    char *query = hellaswag_preprocess(joined);
    free(joined);
    return query;
}

static int load_hellaswag(item_list *l, const char *rel, int lmeval, qh_err *err)
{
    char *text;
    size_t len;
    if (read_checked(rel, l, &text, &len, err) != 0) return -1;
    char *lines[6];
    int k = 0, lineno = 0, rc = 0;
    for (char *line = text; line < text + len && rc == 0;) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) end = text + len;
        *end = 0;
        lines[k++] = line;
        lineno++;
        if (k == 6) {
            char *e;
            long gold = strtol(lines[1], &e, 10);
            if (*e || e == lines[1] || gold < 0 || gold > 3) {
                rc = qh_fail(err, "datasets/%s:%d: expected a gold index 0-3", rel, lineno - 4);
                break;
            }
            qh_mc_item *it = new_item(l, 0);
            snprintf(it->key, sizeof it->key, "%d", (lineno - 1) / 6);
            it->context = lmeval ? qh_hellaswag_lmeval_query(lines[0]) : qh_strdup(lines[0]);
            it->n_choices = 4;
            it->choices = qh_calloc(4, sizeof(char *));
            for (int c = 0; c < 4; c++) {
                char *ending = lmeval ? hellaswag_preprocess(lines[2 + c]) : qh_strdup(lines[2 + c]);
                it->choices[c] = continuation(it->context, ending);
                free(ending);
            }
            it->gold = (int)gold;
            k = 0;
        }
        line = end + 1;
    }
    if (rc == 0 && k != 0) rc = qh_fail(err, "datasets/%s: %d trailing lines (tasks are 6 lines each)", rel, k);
    free(text);
    return rc;
}

/* ---- MMLU (CSV via libcsv) -------------------------------------------------------------- */

typedef struct {
    char *field[6];
    int nf, row, bad;
    int nul_record, nul_field; /* first field holding a NUL byte (1-based), or 0 */
    char **rows; /* flattened 6 fields per row */
    int n_rows, cap;
} csv_state;

static void csv_field(void *s, size_t len, void *ud)
{
    csv_state *c = ud;
    if (!c->nul_record && len && memchr(s, 0, len)) { /* C strings would cut the value there */
        c->nul_record = c->row + 1;
        c->nul_field = c->nf + 1;
    }
    if (c->nf < 6) {
        c->field[c->nf] = qh_malloc(len + 1);
        memcpy(c->field[c->nf], s, len);
        c->field[c->nf][len] = 0;
    }
    c->nf++;
}

static void csv_row(int ch, void *ud)
{
    (void)ch;
    csv_state *c = ud;
    if (c->nf != 6) {
        if (!c->bad) c->bad = c->row + 1;
    } else if (c->row > 0) { /* row 0 is the header */
        if (c->n_rows == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 64;
            c->rows = qh_realloc(c->rows, (size_t)c->cap * 6 * sizeof(char *));
        }
        memcpy(c->rows + (size_t)c->n_rows * 6, c->field, 6 * sizeof(char *));
        c->n_rows++;
        c->nf = 0;
        c->row++;
        return;
    }
    for (int i = 0; i < c->nf && i < 6; i++) free(c->field[i]);
    c->nf = 0;
    c->row++;
}

static void free_csv(csv_state *c)
{
    for (int i = 0; i < c->n_rows * 6; i++) free(c->rows[i]);
    for (int i = 0; i < c->nf && i < 6; i++) free(c->field[i]); /* a row cut short */
    free(c->rows);
    memset(c, 0, sizeof *c);
}

/* Reads one MMLU CSV into c; on failure c holds nothing. */
static int read_csv(const char *rel, item_list *l, csv_state *c, qh_err *err)
{
    char *text;
    size_t len;
    memset(c, 0, sizeof *c);
    if (read_checked(rel, l, &text, &len, err) != 0) return -1;
    struct csv_parser p;
    csv_init(&p, CSV_APPEND_NULL);
    int ok = csv_parse(&p, text, len, csv_field, csv_row, c) == len && csv_fini(&p, csv_field, csv_row, c) == 0;
    int csv_err = csv_error(&p);
    csv_free(&p);
    free(text);
    int rc = 0;
    if (!ok) rc = qh_fail(err, "datasets/%s: malformed CSV: %s", rel, csv_strerror(csv_err));
    else if (c->nul_record) rc = qh_fail(err, "datasets/%s: record %d, field %d: a NUL byte", rel, c->nul_record, c->nul_field);
    else if (c->bad) rc = qh_fail(err, "datasets/%s:%d: expected 6 fields (question, choice0-3, answer)", rel, c->bad);
    for (int r = 0; rc == 0 && r < c->n_rows; r++) {
        char *e;
        long a = strtol(c->rows[r * 6 + 5], &e, 10);
        if (*e || e == c->rows[r * 6 + 5] || a < 0 || a > 3)
            rc = qh_fail(err, "datasets/%s:%d: answer '%s' is not 0-3", rel, r + 2, c->rows[r * 6 + 5]);
    }
    if (rc != 0) free_csv(c);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_dir(const item_list *l, const char *rel, const char *suffix, char ***names, int *n, qh_err *err)
{
    if (l->given) { /* one file, whose text is given */
        *names = qh_malloc(sizeof(char *));
        (*names)[0] = qh_malloc(strlen(suffix) + 6);
        sprintf((*names)[0], "given%s", suffix);
        *n = 1;
        return 0;
    }
    char *base = qh_path_join(qh_home(), "datasets"), *dir = qh_path_join(base, rel);
    free(base);
    DIR *d = opendir(dir);
    if (!d) {
        qh_fail(err, "%s: cannot open directory", dir);
        free(dir);
        return -1;
    }
    struct dirent *e;
    int cap = 0;
    *n = 0;
    *names = NULL;
    size_t sl = strlen(suffix);
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl <= sl || strcmp(e->d_name + nl - sl, suffix) != 0) continue;
        if (*n == cap) *names = qh_realloc(*names, (size_t)(cap = cap ? cap * 2 : 64) * sizeof(char *));
        (*names)[(*n)++] = qh_strdup(e->d_name);
    }
    closedir(d);
    free(dir);
    qsort(*names, (size_t)*n, sizeof(char *), cmp_str);
    return 0;
}

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap) *cap = *cap ? *cap * 2 : 1024;
        *buf = qh_realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

static int load_mmlu(item_list *l, const qh_mc_opts *o, qh_err *err)
{
    char **files;
    int nf;
    const char *split = o->split ? o->split : "test";
    if (strcmp(split, "test") != 0 && strcmp(split, "dev") != 0) return qh_fail(err, "mmlu: split '%s' (test or dev)", split);
    if (strcmp(split, "dev") == 0 && o->shots) return qh_fail(err, "mmlu: shots come from dev, so split=dev needs shots=0");
    char dir[16], suffix[16];
    snprintf(dir, sizeof dir, "mmlu/%s", split);
    snprintf(suffix, sizeof suffix, "_%s.csv", split);
    if (list_dir(l, dir, suffix, &files, &nf, err) != 0) return -1;
    int rc = 0, matched = 0;
    static const char letters[] = "ABCD";
    for (int f = 0; f < nf && rc == 0; f++) {
        char subject[128];
        snprintf(subject, sizeof subject, "%.*s", (int)(strlen(files[f]) - strlen(suffix)), files[f]);
        if (o->subjects) { /* comma-separated subset */
            int want = 0;
            const char *p = o->subjects;
            while (*p && !want) {
                size_t k = strcspn(p, ",");
                want = k == strlen(subject) && strncmp(p, subject, k) == 0;
                p += k + (p[k] == ',');
            }
            if (!want) continue;
        }
        matched++;
        char rel[256], pretty[128];
        snprintf(pretty, sizeof pretty, "%s", subject);
        for (char *c = pretty; *c; c++) *c = *c == '_' ? ' ' : *c;
        csv_state dev = {0}, test;
        if (o->shots > 0) {
            snprintf(rel, sizeof rel, "mmlu/dev/%s_dev.csv", subject);
            if ((rc = read_csv(rel, l, &dev, err)) != 0) break;
            if (dev.n_rows < o->shots) {
                rc = qh_fail(err, "datasets/%s: %d dev examples, %d shots asked", rel, dev.n_rows, o->shots);
                free_csv(&dev);
                break;
            }
        }
        snprintf(rel, sizeof rel, "%s/%s", dir, files[f]);
        if ((rc = read_csv(rel, l, &test, err)) != 0) {
            free_csv(&dev);
            break;
        }
        /* the shared prefix of both prompt styles: header + shots */
        char *head_letter = NULL, *head_text = NULL;
        size_t ll = 0, lc = 0, tl = 0, tc = 0;
        char *h = xasprintf("The following are multiple choice questions (with answers) about %s.\n\n", pretty);
        append(&head_letter, &ll, &lc, h);
        append(&head_text, &tl, &tc, h);
        free(h);
        /* lm-eval's mmlu and mmlu_continuation: the question stripped ({{question.strip()}}) */
        for (int s = 0; s < o->shots; s++) {
            char **r = dev.rows + (size_t)s * 6;
            int a = atoi(r[5]);
            char *question = py_strip(r[0]);
            char *shot = xasprintf("%s\nA. %s\nB. %s\nC. %s\nD. %s\nAnswer: %c\n\n", question, r[1], r[2], r[3], r[4], letters[a]);
            append(&head_letter, &ll, &lc, shot);
            free(shot);
            shot = xasprintf("Question: %s\nAnswer: %s\n\n", question, r[1 + a]);
            append(&head_text, &tl, &tc, shot);
            free(shot);
            free(question);
        }
        for (int q = 0; q < test.n_rows; q++) {
            char **r = test.rows + (size_t)q * 6;
            qh_mc_item *it = new_item(l, f);
            snprintf(it->key, sizeof it->key, "%s/%d", subject, q);
            char *question = py_strip(r[0]);
            it->letter_prompt = xasprintf("%s%s\nA. %s\nB. %s\nC. %s\nD. %s\nAnswer:", head_letter, question, r[1], r[2], r[3], r[4]);
            it->context = xasprintf("%sQuestion: %s\nAnswer:", head_text, question);
            free(question);
            it->n_choices = 4;
            it->choices = qh_calloc(4, sizeof(char *));
            for (int c = 0; c < 4; c++) it->choices[c] = continuation(it->context, r[1 + c]);
            it->gold = atoi(r[5]);
        }
        free(head_letter);
        free(head_text);
        free_csv(&dev);
        free_csv(&test);
    }
    if (rc == 0 && o->subjects && matched == 0) rc = qh_fail(err, "mmlu: no subject matches '%s'", o->subjects);
    for (int f = 0; f < nf; f++) free(files[f]);
    free(files);
    return rc;
}

/* ---- sampling --------------------------------------------------------------------------- */

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Keeps a seeded subset of `budget` items, proportional per stratum (largest remainders). */
static void sample(item_list *l, long budget, unsigned long seed, int first)
{
    if (budget <= 0 || budget >= l->n) return;
    int ns = 0;
    for (int i = 0; i < l->n; i++) ns = l->stratum[i] + 1 > ns ? l->stratum[i] + 1 : ns;
    long *size = qh_calloc((size_t)ns, sizeof(long)), *take = qh_calloc((size_t)ns, sizeof(long));
    double *frac = qh_calloc((size_t)ns, sizeof(double));
    for (int i = 0; i < l->n; i++) size[l->stratum[i]]++;
    long given = 0;
    for (int s = 0; s < ns; s++) {
        double exact = (double)budget * size[s] / l->n;
        take[s] = (long)exact;
        frac[s] = exact - take[s];
        given += take[s];
    }
    while (given < budget) { /* largest remainder first; ties to the lower stratum */
        int best = -1;
        for (int s = 0; s < ns; s++)
            if (take[s] < size[s] && (best < 0 || frac[s] > frac[best])) best = s;
        take[best]++;
        frac[best] = -1;
        given++;
    }
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    int *keep = qh_malloc((size_t)budget * sizeof(int)), nk = 0;
    int *idx = qh_malloc((size_t)l->n * sizeof(int));
    for (int s = 0; s < ns; s++) {
        int m = 0;
        for (int i = 0; i < l->n; i++)
            if (l->stratum[i] == s) idx[m++] = i;
        if (!first) gsl_ran_shuffle(rng, idx, (size_t)m, sizeof(int));
        for (long k = 0; k < take[s]; k++) keep[nk++] = idx[k];
    }
    qsort(keep, (size_t)nk, sizeof(int), cmp_int);
    char *kept = qh_calloc((size_t)l->n, 1);
    for (int k = 0; k < nk; k++) kept[keep[k]] = 1;
    int w = 0;
    for (int i = 0; i < l->n; i++) {
        if (kept[i]) {
            l->items[w] = l->items[i];
            l->stratum[w++] = l->stratum[i];
        } else {
            free_item(&l->items[i]);
        }
    }
    l->n = w;
    free(kept);
    free(idx);
    free(keep);
    gsl_rng_free(rng);
    free(frac);
    free(take);
    free(size);
}

/* ---- the sets: one row each ------------------------------------------------------------- */

/* format readers: a set's items from its files (the row says which) */
static int read_jsonl(item_list *l, const qh_mc_set *set, const qh_mc_opts *o, qh_err *err)
{
    (void)o;
    parse_ctx p = {l, set->path, 0};
    return each_json_line(set->path, l, set->parse_line, &p, err);
}

static int read_jsonl_dir(item_list *l, const qh_mc_set *set, const qh_mc_opts *o, qh_err *err)
{
    (void)o;
    char **files = NULL;
    int nf = 0, rc = list_dir(l, set->path, ".jsonl", &files, &nf, err);
    for (int f = 0; rc == 0 && f < nf; f++) { /* one stratum per file */
        char rel[256];
        snprintf(rel, sizeof rel, "%s/%s", set->path, files[f]);
        parse_ctx p = {l, rel, f};
        rc = each_json_line(rel, l, set->parse_line, &p, err);
    }
    for (int f = 0; f < nf; f++) free(files[f]);
    free(files);
    return rc;
}

static int read_hellaswag(item_list *l, const qh_mc_set *set, const qh_mc_opts *o, qh_err *err)
{
    (void)o;
    return load_hellaswag(l, set->path, 1, err);
}

static int read_hellaswag_llamacpp_file(item_list *l, const qh_mc_set *set, const qh_mc_opts *o, qh_err *err)
{
    (void)o;
    return load_hellaswag(l, set->path, 0, err);
}

static int read_mmlu(item_list *l, const qh_mc_set *set, const qh_mc_opts *o, qh_err *err)
{
    (void)set;
    return load_mmlu(l, o, err);
}

#define CHOICE_PROTOCOL                                                                                           \
    "{name}: log p(' ' + choice | query), queries starting 'Question:' formatted 'Question: ...\\nAnswer:' as in " \
    "lm-evaluation-harness; argmax (acc) and argmax of log p / characters of the choice (acc_norm, lm-eval's); {subset}"

/* protocol: what is scored, with {name}, {subset} (how the items were drawn), {split} and
 * {shots} filled in */
const qh_mc_set qh_mc_sets[] = {
    {"mmlu", "mmlu", QH_MC_MMLU, read_mmlu, NULL, QH_MC_OPT_SHOTS | QH_MC_OPT_SUBJECTS | QH_MC_OPT_SPLIT,
     "MMLU {split}, {shots}-shot (dev examples); acc_letter: argmax of log p(' A'..' D') after the lettered prompt "
     "ending 'Answer:' (lm-eval's mmlu); acc/acc_norm: argmax of log p(' <answer text>' | 'Question: ...\\nAnswer:') "
     "(lm-eval's mmlu_continuation), acc_norm divides by the answer's characters; question stripped; stratified by subject, {subset}", "mmlu (acc_letter), mmlu_continuation (acc, acc_norm)", NULL},
    {"blimp", "blimp", QH_MC_PAIR, read_jsonl_dir, parse_blimp_line, 0,
     "BLiMP minimal pairs (67 paradigms): correct when the good sentence has the higher total log-likelihood, "
     "each sentence scored from <|endoftext|>; stratified by paradigm, {subset}", "blimp_* (per paradigm; not held against lm-eval here)", NULL},
    {"lambada", "lambada/lambada_test.jsonl", QH_MC_LAMBADA, read_jsonl, parse_lambada_line, 0,
     "LAMBADA (OpenAI test): context = text before the last space, target = ' ' + last word; correct when "
     "every target token is the greedy argmax (lm-eval's lambada_openai acc); target_ppl = exp(-mean over passages of the "
     "target's log-likelihood), lm-eval's perplexity (per passage, not per token); {subset}", "lambada_openai", "lambada_openai"},
    {"arc-easy", "multiple-choice/arc_easy.jsonl", QH_MC_CHOICE, read_jsonl, parse_choice_line, 0, CHOICE_PROTOCOL, "arc_easy", "arc_easy"},
    {"arc-challenge", "multiple-choice/arc_challenge.jsonl", QH_MC_CHOICE, read_jsonl, parse_choice_line, 0, CHOICE_PROTOCOL, "arc_challenge", "arc_challenge"},
    {"piqa", "multiple-choice/piqa.jsonl", QH_MC_CHOICE, read_jsonl, parse_choice_line, 0, CHOICE_PROTOCOL, "piqa", NULL},
    {"winogrande", "multiple-choice/winogrande.jsonl", QH_MC_CHOICE, read_jsonl, parse_winogrande_line, 0,
     "WinoGrande dev, partial scoring: log p(continuation | context with option i), argmax; {subset}", "winogrande", NULL},
    {"hellaswag", "hellaswag/hellaswag_val_full.txt", QH_MC_CHOICE, read_hellaswag, NULL, 0,
     "HellaSwag validation as lm-evaluation-harness's hellaswag: log p(' ' + preprocess(ending) | preprocess(activity_label: "
     "ctx_a + ' ' + ctx_b.capitalize())), ctx_b rebuilt from llama.cpp's file (the first words after the last sentence of "
     "an ActivityNet context); acc and acc_norm (log-likelihood / characters of the ending); {subset}",
     "hellaswag (ctx_a/ctx_b split rebuilt from llama.cpp's joined file: datasets/README.md)", NULL},
    {"openbookqa", "multiple-choice/openbook_qa.jsonl", QH_MC_CHOICE, read_jsonl, parse_choice_line, 0, CHOICE_PROTOCOL, "openbookqa", NULL},
    {"copa", "multiple-choice/copa.jsonl", QH_MC_CHOICE, read_jsonl, parse_copa_line, 0,
     "{name}: log p('  ' + choice | premise without its final punctuation + ' therefore' or ' because'), argmax (acc), "
     "as lm-evaluation-harness's copa; {subset}", "copa", NULL},
    /* after the others: the fuzzer picks a set by its row */
    {"hellaswag-llamacpp-file", "hellaswag/hellaswag_val_full.txt", QH_MC_CHOICE, read_hellaswag_llamacpp_file, NULL, 0,
     "HellaSwag validation, text as shipped in llama.cpp's file (ctx_b not capitalised, 18 bracketed artefacts kept; "
     "not lm-eval's preprocessing): log p(' ' + ending | context); acc and acc_norm (log-likelihood / characters of the "
     "ending); {subset}", "none: lm-eval's hellaswag capitalises ctx_b and drops bracketed text", NULL},
    {NULL, NULL, 0, NULL, NULL, 0, NULL, NULL, NULL},
};

const qh_mc_set *qh_mc_set_find(const char *name)
{
    for (const qh_mc_set *s = qh_mc_sets; s->name; s++)
        if (strcmp(s->name, name) == 0 || (s->lm_eval_name && strcmp(s->lm_eval_name, name) == 0)) return s;
    return NULL;
}

/* ---- entry point ------------------------------------------------------------------------ */

int qh_mc_load(const char *name, const qh_mc_opts *o, qh_mc_task *t, qh_err *err)
{
    const qh_mc_set *set = qh_mc_set_find(name);
    if (!set) {
        char list[256] = "";
        for (const qh_mc_set *s = qh_mc_sets; s->name; s++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", s == qh_mc_sets ? "" : ", ", s->name);
        memset(t, 0, sizeof *t);
        return qh_fail(err, "unknown task '%s' (tasks: %s)", name, list);
    }
    return qh_mc_load_set(set, o, t, err);
}

static int load_set(const qh_mc_set *set, const qh_mc_opts *o, const char *given, size_t given_len, qh_mc_task *t,
                    qh_err *err)
{
    const char *name = set->name;
    memset(t, 0, sizeof *t);
    item_list l = {0};
    l.given = given;
    l.given_len = given_len;
    qh_sha256_init(&l.files_sha);
    char how[64];
    if (o->first) snprintf(how, sizeof how, "first items of each stratum");
    else snprintf(how, sizeof how, "seeded subset (seed %lu)", o->seed);
    if (o->shots < 0 || o->shots > 5) return qh_fail(err, "%s: shots=%d (0 to 5 dev examples)", name, o->shots);
    if (o->shots && !(set->options & QH_MC_OPT_SHOTS)) return qh_fail(err, "%s: shots apply to mmlu only", name);
    if (o->subjects && !(set->options & QH_MC_OPT_SUBJECTS)) return qh_fail(err, "%s: subjects apply to mmlu only", name);
    if (o->split && !(set->options & QH_MC_OPT_SPLIT)) return qh_fail(err, "%s: split applies to mmlu only", name);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = set->kind;
    int rc = set->read(&l, set, o, err);
    char shots[16];
    snprintf(shots, sizeof shots, "%d", o->shots);
    const char *fields[][2] = {{"{name}", name}, {"{subset}", how}, {"{split}", o->split ? o->split : "test"}, {"{shots}", shots}};
    size_t w = 0;
    for (const char *c = set->protocol; *c && w + 1 < sizeof t->protocol;) {
        size_t f = 0;
        while (f < 4 && strncmp(c, fields[f][0], strlen(fields[f][0])) != 0) f++;
        if (f == 4) {
            t->protocol[w++] = *c++;
            continue;
        }
        w += (size_t)snprintf(t->protocol + w, sizeof t->protocol - w, "%s", fields[f][1]);
        if (w >= sizeof t->protocol) w = sizeof t->protocol - 1;
        c += strlen(fields[f][0]);
    }
    t->protocol[w] = 0;
    if (rc == 0 && l.n == 0) rc = qh_fail(err, "%s: no items", name);
    if (rc != 0) {
        for (int i = 0; i < l.n; i++) free_item(&l.items[i]);
        free(l.items);
        free(l.stratum);
        return -1;
    }
    t->n_available = l.n;
    sample(&l, o->budget, o->seed, o->first);
    t->items = l.items;
    t->n_items = l.n;
    double chance = 0;
    for (int i = 0; i < l.n; i++) chance += qh_mc_kinds[t->kind].greedy_target ? 0.0 : 1.0 / l.items[i].n_choices;
    t->chance = chance / l.n;
    uint8_t d[32];
    qh_sha256_final(&l.files_sha, d);
    qh_sha256_hex(d, 32, t->sha256);
    free(l.stratum);
    return 0;
}

int qh_mc_load_set(const qh_mc_set *set, const qh_mc_opts *o, qh_mc_task *t, qh_err *err)
{
    return load_set(set, o, NULL, 0, t, err);
}

int qh_mc_parse_text(const qh_mc_set *set, const char *text, size_t len, const qh_mc_opts *o, qh_mc_task *t, qh_err *err)
{
    return load_set(set, o, text ? text : "", len, t, err);
}
