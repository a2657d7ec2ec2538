/* common.c - packed-buffer bookkeeping, spec parsing and bit packing shared by all methods. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods/method.h"

/* ---- packed buffers --------------------------------------------------------------------- */

void *qh_packed_add(qh_packed *p, const char *name, qh_dtype dtype, int64_t n0, int64_t n1)
{
    if (p->n_parts >= QH_MAX_PARTS) {
        fprintf(stderr, "qharness: internal error: more than %d packed parts\n", QH_MAX_PARTS);
        abort();
    }
    qh_part *part = &p->part[p->n_parts++];
    memset(part, 0, sizeof *part);
    snprintf(part->name, sizeof part->name, "%s", name);
    part->dtype = dtype;
    part->ndim = n1 > 0 ? 2 : 1;
    part->shape[0] = n0;
    part->shape[1] = n1 > 0 ? n1 : 0;
    size_t numel = (size_t)n0 * (size_t)(n1 > 0 ? n1 : 1);
    part->bytes = numel * qh_dtype_size(dtype);
    part->data = qh_calloc(part->bytes ? part->bytes : 1, 1);
    return part->data;
}

const qh_part *qh_packed_find(const qh_packed *p, const char *name)
{
    for (int i = 0; i < p->n_parts; i++)
        if (strcmp(p->part[i].name, name) == 0) return &p->part[i];
    return NULL;
}

int qh_packed_expect(const qh_packed *p, const char *name, qh_dtype dtype, size_t numel, const qh_part **out,
                     qh_err *err)
{
    const qh_part *part = qh_packed_find(p, name);
    if (!part) return qh_fail(err, "packed part '%s' is missing", name);
    if (part->dtype != dtype)
        return qh_fail(err, "packed part '%s' is %s, expected %s", name, qh_dtype_name(part->dtype), qh_dtype_name(dtype));
    if (part->bytes != numel * qh_dtype_size(dtype))
        return qh_fail(err, "packed part '%s' has %zu bytes, expected %zu", name, part->bytes, numel * qh_dtype_size(dtype));
    *out = part;
    return 0;
}

size_t qh_packed_bytes(const qh_packed *p)
{
    size_t n = 0;
    for (int i = 0; i < p->n_parts; i++) n += p->part[i].bytes;
    return n;
}

void qh_packed_free(qh_packed *p)
{
    for (int i = 0; i < p->n_parts; i++) free(p->part[i].data);
    memset(p, 0, sizeof *p);
}

void qh_packed_adopt(qh_packed *outer, qh_packed *inner, const char *prefix)
{
    for (int i = 0; i < inner->n_parts; i++) {
        if (outer->n_parts >= QH_MAX_PARTS) abort();
        qh_part *dst = &outer->part[outer->n_parts++];
        *dst = inner->part[i];
        snprintf(dst->name, sizeof dst->name, "%s.%s", prefix, inner->part[i].name);
    }
    inner->n_parts = 0;
}

void qh_packed_view(const qh_packed *p, const char *prefix, qh_packed *view)
{
    size_t k = strlen(prefix);
    view->n_parts = 0;
    for (int i = 0; i < p->n_parts; i++)
        if (strncmp(p->part[i].name, prefix, k) == 0 && p->part[i].name[k] == '.') {
            view->part[view->n_parts] = p->part[i];
            snprintf(view->part[view->n_parts].name, sizeof view->part[0].name, "%s", p->part[i].name + k + 1);
            view->n_parts++;
        }
}

static const struct {
    const char *suffix;
    qh_part_kind kind;
} part_kinds[] = {
    {"codes", QH_PART_CODES},       {"signs", QH_PART_CODES},         {"scales", QH_PART_SCALES},
    {"zeros", QH_PART_ZEROS},       {"codebook", QH_PART_CODEBOOK},   {"indices", QH_PART_INDICES},
    {"outlier_cols", QH_PART_OUTLIERS}, {"outlier_rowptr", QH_PART_OUTLIERS},
    {"outlier_values", QH_PART_OUTLIERS}, {"factor_u", QH_PART_FACTORS}, {"factor_v", QH_PART_FACTORS},
    {"factor_scales", QH_PART_FACTORS}, {"values", QH_PART_VALUES},
    {"ggml_blocks", QH_PART_GGML_BLOCKS}, {"mask", QH_PART_MASKS},
    {"tensor_scale", QH_PART_SCALES},  {"scale_codes", QH_PART_SCALES}, {"scale_scales", QH_PART_SCALES},
    {"scale_offset", QH_PART_SCALES},
};

qh_part_kind qh_part_kind_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *last = dot ? dot + 1 : name;
    for (size_t i = 0; i < sizeof part_kinds / sizeof *part_kinds; i++)
        if (strcmp(last, part_kinds[i].suffix) == 0) return part_kinds[i].kind;
    return QH_PART_KINDS;
}

const char *qh_part_kind_name(qh_part_kind k)
{
    static const char *names[] = {"codes", "scales", "zero points", "codebooks", "indices",
                                  "outliers", "low-rank factors", "unquantized values", "ggml blocks", "masks", "?"};
    return names[k];
}

/* ---- bits ------------------------------------------------------------------------------- */

size_t qh_bits_bytes(size_t n, int bits) { return (n * (size_t)bits + 7) / 8; }

void qh_bits_pack(uint8_t *out, const uint8_t *codes, size_t n, int bits)
{
    memset(out, 0, qh_bits_bytes(n, bits));
    if (bits == 8) {
        memcpy(out, codes, n);
        return;
    }
    size_t bit = 0;
    for (size_t i = 0; i < n; i++, bit += (size_t)bits) {
        unsigned v = codes[i];
        size_t byte = bit >> 3, off = bit & 7;
        out[byte] |= (uint8_t)(v << off);
        if (off + (size_t)bits > 8) out[byte + 1] |= (uint8_t)(v >> (8 - off));
    }
}

void qh_bits_pack16(uint8_t *out, const uint16_t *codes, size_t n, int bits)
{
    memset(out, 0, qh_bits_bytes(n, bits));
    for (size_t i = 0, bit = 0; i < n; i++)
        for (int b = 0; b < bits; b++, bit++)
            if (codes[i] >> b & 1) out[bit >> 3] |= (uint8_t)(1u << (bit & 7));
}

void qh_bits_unpack16(uint16_t *codes, const uint8_t *in, size_t n, int bits)
{
    for (size_t i = 0, bit = 0; i < n; i++) {
        unsigned v = 0;
        for (int b = 0; b < bits; b++, bit++) v |= (unsigned)(in[bit >> 3] >> (bit & 7) & 1) << b;
        codes[i] = (uint16_t)v;
    }
}

void qh_bits_unpack(uint8_t *codes, const uint8_t *in, size_t n, int bits)
{
    if (bits == 8) {
        memcpy(codes, in, n);
        return;
    }
    unsigned mask = (1u << bits) - 1;
    size_t bit = 0;
    for (size_t i = 0; i < n; i++, bit += (size_t)bits) {
        size_t byte = bit >> 3, off = bit & 7;
        unsigned v = in[byte] >> off;
        if (off + (size_t)bits > 8) v |= (unsigned)in[byte + 1] << (8 - off);
        codes[i] = (uint8_t)(v & mask);
    }
}

int qh_group_size(int group, int cols) { return group <= 0 || group > cols ? cols : group; }
int qh_groups_per_row(int group, int cols)
{
    int g = qh_group_size(group, cols);
    return (cols + g - 1) / g;
}

float qh_f16_round(float x) { return qh_f16_to_f32(qh_f32_to_f16(x)); }

int qh_cmp_float_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : (x > y ? -1 : 0);
}

int qh_cmp_ranked(const void *a, const void *b)
{
    const qh_ranked *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

/* ---- specs ------------------------------------------------------------------------------ */

int qh_method_n_params(const qh_method *m)
{
    int n = 0;
    while (m->params[n].name) n++;
    return n;
}

const qh_method *qh_method_find(const char *name)
{
    for (int i = 0; qh_methods[i]; i++)
        if (strcmp(qh_methods[i]->name, name) == 0) return qh_methods[i];
    return NULL;
}

void qh_spec_free(qh_spec *spec)
{
    if (!spec) return;
    qh_spec_free(spec->inner);
    free(spec);
}

static int choice_index(const char *choices, const char *value)
{
    int idx = 0;
    size_t vl = strlen(value);
    for (const char *p = choices;; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vl && strncmp(p, value, len) == 0) return idx;
        if (!bar) return -1;
        p = bar + 1;
    }
}

static const char *choice_name(const char *choices, int idx, char *buf, size_t len)
{
    const char *p = choices;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p) p++;
    }
    if (!p) return "?";
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n >= len) n = len - 1;
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

static int parse_words(char **words, int n, qh_spec **out, const char *whole, qh_err *err)
{
    if (n == 0) return qh_fail(err, "method spec '%s': empty", whole);
    const qh_method *m = qh_method_find(words[0]);
    if (!m) {
        qh_fail(err, "method spec '%s': unknown method '%s' (see 'qharness methods')", whole, words[0]);
        return -1;
    }
    qh_spec *s = qh_calloc(1, sizeof *s);
    s->method = m;
    int np = qh_method_n_params(m);
    int seen[QH_MAX_PARAMS] = {0};
    for (int i = 0; i < np; i++) s->values[i] = m->params[i].def;
    int i;
    for (i = 1; i < n && strcmp(words[i], "+") != 0; i++) {
        char *eq = strchr(words[i], '=');
        if (!eq || eq == words[i] || !eq[1]) {
            qh_fail(err, "method spec '%s': '%s' is not NAME=VALUE", whole, words[i]);
            goto fail;
        }
        *eq = 0;
        const char *key = words[i], *val = eq + 1;
        int k;
        for (k = 0; k < np; k++)
            if (strcmp(m->params[k].name, key) == 0) break;
        if (k == np) {
            char list[256] = "";
            for (int j = 0; j < np; j++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", m->params[j].name);
            qh_fail(err, "method '%s' has no parameter '%s' (parameters: %s)", m->name, key, np ? list : "none");
            goto fail;
        }
        if (seen[k]++) {
            qh_fail(err, "method '%s': parameter '%s' given twice", m->name, key);
            goto fail;
        }
        const qh_param *p = &m->params[k];
        if (p->type == QH_PARAM_ENUM) {
            int idx = choice_index(p->choices, val);
            if (idx < 0) {
                qh_fail(err, "method '%s': %s='%s' must be one of %s", m->name, key, val, p->choices);
                goto fail;
            }
            s->values[k] = idx;
            continue;
        }
        char *end;
        double v = strtod(val, &end);
        if (*end || val == end || !isfinite(v)) {
            qh_fail(err, "method '%s': %s='%s' is not a number", m->name, key, val);
            goto fail;
        }
        if (p->type == QH_PARAM_INT && v != floor(v)) {
            qh_fail(err, "method '%s': %s=%s must be an integer", m->name, key, val);
            goto fail;
        }
        if (v < p->min || v > p->max) {
            qh_fail(err, "method '%s': %s=%s is out of range [%g, %g]", m->name, key, val, p->min, p->max);
            goto fail;
        }
        s->values[k] = v;
    }
    if (i < n) { /* "+ inner" */
        if (!m->is_wrapper) {
            qh_fail(err, "method '%s' is not a wrapper and takes no '+ INNER' method", m->name);
            goto fail;
        }
        if (parse_words(words + i + 1, n - i - 1, &s->inner, whole, err) != 0) goto fail;
    } else if (m->is_wrapper) {
        qh_fail(err, "method '%s' wraps another method: write e.g. '%s ... + rtn bits=2'", m->name, m->name);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    qh_spec_free(s);
    return -1;
}

int qh_spec_parse(const char *text, qh_spec **out, qh_err *err)
{
    char *copy = qh_strdup(text);
    char *words[128];
    int n = 0;
    char *save;
    for (char *tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        if (n == 128) {
            free(copy);
            return qh_fail(err, "method spec '%s': too many words", text);
        }
        words[n++] = tok;
    }
    int rc = parse_words(words, n, out, text, err);
    free(copy);
    return rc;
}

void qh_spec_canonical(const qh_spec *spec, char *buf, size_t len)
{
    const qh_method *m = spec->method;
    size_t k = (size_t)snprintf(buf, len, "%s", m->name);
    for (int i = 0; m->params[i].name && k < len; i++) {
        const qh_param *p = &m->params[i];
        char tmp[64];
        if (m->named_if_set && strcmp(m->named_if_set, p->name) == 0 && spec->values[i] == p->def) continue;
        if (p->type == QH_PARAM_ENUM)
            k += (size_t)snprintf(buf + k, len - k, " %s=%s", p->name, choice_name(p->choices, (int)spec->values[i], tmp, sizeof tmp));
        else if (p->type == QH_PARAM_INT)
            k += (size_t)snprintf(buf + k, len - k, " %s=%d", p->name, (int)spec->values[i]);
        else
            k += (size_t)snprintf(buf + k, len - k, " %s=%g", p->name, spec->values[i]);
    }
    if (spec->inner && k < len) {
        k += (size_t)snprintf(buf + k, len - k, " + ");
        if (k < len) qh_spec_canonical(spec->inner, buf + k, len - k);
    }
}

int qh_spec_needs_calibration(const qh_spec *spec)
{
    for (; spec; spec = spec->inner)
        if (spec->method->needs_calibration ||
            (spec->method->calibration_param && qh_spec_get(spec, spec->method->calibration_param) != 0))
            return 1;
    return 0;
}

static int param_index(const qh_spec *spec, const char *name)
{
    for (int i = 0; spec->method->params[i].name; i++)
        if (strcmp(spec->method->params[i].name, name) == 0) return i;
    fprintf(stderr, "qharness: internal error: method '%s' has no parameter '%s'\n", spec->method->name, name);
    abort();
}

double qh_spec_get(const qh_spec *spec, const char *param) { return spec->values[param_index(spec, param)]; }

const char *qh_spec_choice(const qh_spec *spec, const char *param)
{
    static __thread char buf[64];
    int i = param_index(spec, param);
    return choice_name(spec->method->params[i].choices, (int)spec->values[i], buf, sizeof buf);
}

void qh_dgemm(int trans_a, int trans_b, int M, int N, int K, double alpha, const double *A, int lda,
              const double *B, int ldb, double beta, double *C, int ldc)
{
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
}

void qh_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
}

int qh_spec_is_baseline(const char *spec) { return strcmp(spec, QH_BASELINE) == 0; }
