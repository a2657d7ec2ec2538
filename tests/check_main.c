/* check_main.c - runs every Check suite; see testutil.h for the helpers. */
#include <math.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil.h"
#include <cJSON.h>
#include "datasets/datasets.h"
#include "harness/model/forward.h"
#include "harness/model/tokenizer.h"
#include "methods/method.h"

const char *tu_shared(void)
{
    static char path[4096];
    if (!path[0]) {
        const char *env = getenv("QH_SHARED");
        snprintf(path, sizeof path, "%s", env ? env : "");
        if (!path[0]) snprintf(path, sizeof path, "%s/../shared", qh_home());
    }
    return path;
}

char *tu_shared_path(const char *rel) { return qh_path_join(tu_shared(), rel); }
char *tu_home_path(const char *rel) { return qh_path_join(qh_home(), rel); }

char *tu_fetched_model_or_skip(const char *name, const char *test)
{
    char *path = qh_resolve_model_dir(name);
    if (qh_file_exists(path)) return path;
    fprintf(stderr, "SKIPPED %s: %s is not there (make deps fetches it)\n", test, path);
    free(path);
    return NULL;
}

cJSON *tu_read_json(const char *rel)
{
    char *p = tu_home_path(rel), *text;
    size_t len;
    qh_err err;
    ck_assert_msg(qh_read_file(p, &text, &len, &err) == 0, "%s", err.msg);
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "%s: not JSON", p);
    free(text);
    free(p);
    return j;
}

void tu_ids_sha256(const int *ids, size_t n, char out[65])
{
    qh_sha256_ctx c;
    qh_sha256_init(&c);
    char line[16];
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(line, sizeof line, "%d\n", ids[i]);
        qh_sha256_update(&c, line, (size_t)k);
    }
    uint8_t d[32];
    qh_sha256_final(&c, d);
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

int tu_check_reference_ids(qh_tokenizer *tok, const cJSON *texts, const char *const *peers, int n_peers, const char *model)
{
    int checked = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, texts)
    {
        qh_text text;
        qh_err err;
        ck_assert_msg(qh_text_load(t->string, &text, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(text.sha256, cJSON_GetObjectItem(t, "text_sha256")->valuestring);
        int *ids;
        size_t n;
        ck_assert_msg(qh_encode(tok, t->string, text.text, text.len, &ids, &n, &err) == 0, "%s", err.msg);
        char sha[65];
        tu_ids_sha256(ids, n, sha);
        for (int p = 0; p < n_peers; p++) {
            const cJSON *d = cJSON_GetObjectItem(t, peers[p]);
            ck_assert_msg((size_t)cJSON_GetObjectItem(d, "n")->valueint == n, "%s: %zu ids, %s %d", t->string, n, peers[p],
                          cJSON_GetObjectItem(d, "n")->valueint);
            ck_assert_msg(strcmp(sha, cJSON_GetObjectItem(d, "sha256")->valuestring) == 0, "%s: ids differ from %s's", t->string, peers[p]);
        }
        fprintf(stderr, "%s: %s: %zu ids, equal to %s's%s\n", model, t->string, n, peers[0], n_peers > 1 ? " and the other peers'" : "");
        free(ids);
        qh_text_free(&text);
        checked++;
    }
    return checked;
}

double tu_check_reference_logits(const qh_model *m, const cJSON *cases, int max_T, int *longest)
{
    double worst = 0;
    const cJSON *c;
    *longest = 0;
    float *logits = qh_malloc((size_t)m->cfg.n_vocab * sizeof(float));
    cJSON_ArrayForEach(c, cases)
    {
        cJSON *tokens = cJSON_GetObjectItem(c, "tokens"), *e;
        int T = cJSON_GetArraySize(tokens), k = 0;
        if (T > max_T) {
            fprintf(stderr, "reference logits: the %d-token text is left out here (longer than %d)\n", T, max_T);
            continue;
        }
        if (T > *longest) *longest = T;
        int *ids = qh_malloc((size_t)T * sizeof(int));
        cJSON_ArrayForEach(e, tokens) ids[k++] = e->valueint;
        qh_workspace ws;
        qh_workspace_init(&ws, &m->cfg, 1, T);
        qh_forward(m, ids, 1, T, &ws);
        cJSON *row;
        cJSON_ArrayForEach(row, cJSON_GetObjectItem(c, "rows"))
        {
            int pos = atoi(row->string);
            qh_head_logits(m, ws.ln + (size_t)pos * m->cfg.n_embd, 1, logits);
            cJSON *index = cJSON_GetObjectItem(row, "index"), *value = cJSON_GetObjectItem(row, "value");
            for (int i = 0; i < cJSON_GetArraySize(index); i++) {
                int v = cJSON_GetArrayItem(index, i)->valueint;
                double want = cJSON_GetArrayItem(value, i)->valuedouble, d = fabs(logits[v] - want);
                worst = fmax(worst, d);
                ck_assert_msg(d < 1e-3, "T %d, position %d, token %d: qharness %.6f, reference %.6f", T, pos, v, logits[v], want);
            }
            int am = 0;
            for (int v = 1; v < m->cfg.n_vocab; v++)
                if (logits[v] > logits[am]) am = v;
            ck_assert_int_eq(am, cJSON_GetObjectItem(cJSON_GetObjectItem(c, "argmax"), row->string)->valueint);
        }
        qh_workspace_free(&ws);
        free(ids);
    }
    free(logits);
    return worst;
}
qh_model *tu_default_model(int compute_sha)
{
    char *dir = tu_home_path("models/gpt2-gutenberg-18m");
    qh_model *m;
    qh_err err;
    ck_assert_msg(qh_model_load(dir, &m, compute_sha, &err) == 0, "%s", err.msg);
    free(dir);
    return m;
}

qh_tokenizer *tu_default_tokenizer(void)
{
    char *dir = tu_home_path("models/gpt2-gutenberg-18m");
    qh_tokenizer *tok;
    qh_err err;
    ck_assert_msg(qh_tokenizer_load_dir(dir, &tok, &err) == 0, "%s", err.msg);
    free(dir);
    return tok;
}

int tu_quick(void) { return getenv("QH_TEST_QUICK") != NULL; }

static size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

static size_t tu_format_bytes_inner(const qh_spec *spec, int rows, int cols)
{
    char inner[512];
    qh_spec_canonical(spec->inner, inner, sizeof inner);
    return tu_format_bytes(inner, rows, cols);
}

size_t tu_format_bytes(const char *spec_text, int rows, int cols)
{
    qh_spec *spec;
    qh_err err;
    ck_assert_msg(qh_spec_parse(spec_text, &spec, &err) == 0, "%s", err.msg);
    const char *name = spec->method->name;
    size_t R = (size_t)rows, C = (size_t)cols, N = R * C, bytes = 0;
#define P(NAME) qh_spec_get(spec, NAME)
    /* groups run along a row; 0 means one group per row */
#define GROUPS(G) (R * ((G) > 0 ? div_up(C, (size_t)(G)) : 1))
    if (strcmp(name, "fp32") == 0) bytes = 4 * N;
    else if (strcmp(name, "fp16") == 0 || strcmp(name, "bf16") == 0) bytes = 2 * N;
    else if ((strcmp(name, "rtn") == 0 || strcmp(name, "gptq") == 0) && P("scheme") == 0) /* sym: one f16 scale per group */
        bytes = div_up(N * (size_t)P("bits"), 8) + 2 * GROUPS(P("group"));
    else if (strcmp(name, "nf4") == 0 && P("double_quant") == 1) /* an 8-bit code per block, F32 absmax per 256 of them, F32 offset */
        bytes = div_up(N, 2) + GROUPS(P("block")) + 4 * div_up(GROUPS(P("block")), 256) + 4;
    else if (strcmp(name, "nf4") == 0 || strcmp(name, "fp4") == 0) bytes = div_up(N, 2) + 2 * GROUPS(P("block"));
    else if (strcmp(name, "mxfp4") == 0) bytes = div_up(N, 2) + GROUPS(32);          /* an E8M0 byte per 32 */
    else if (strcmp(name, "nvfp4") == 0) bytes = div_up(N, 2) + GROUPS(16) + 4;      /* an E4M3 byte per 16, an F32 per matrix */
    else if (strcmp(name, "binary") == 0) bytes = div_up(N, 8) + 2 * GROUPS(P("group"));
    else if (strcmp(name, "ternary") == 0) bytes = div_up(N, 5) + 2 * GROUPS(P("group")); /* 5 trits a byte */
    else if (strcmp(name, "residual-binary") == 0) bytes = (size_t)P("k") * (div_up(N, 8) + 2 * GROUPS(P("group")));
    else if (strcmp(name, "magnitude-recovery") == 0) bytes = div_up(N, 8) + 2 * (R + C) * (size_t)P("rank");
    else if (strcmp(name, "outliers") == 0) { /* CSR: u32 row pointers, u16 column and f16 value each */
        size_t k = (size_t)floor(P("frac") * (double)N + 0.5);
        bytes = 4 * (R + 1) + 4 * k + tu_format_bytes_inner(spec, rows, cols);
    } else if (strcmp(name, "lowrank") == 0 && P("factors") == 0) /* int8 factors, an f16 scale per row of each */
        bytes = (R + C) * (size_t)P("rank") + 2 * (R + C) + tu_format_bytes_inner(spec, rows, cols);
    else if (strcmp(name, "hvq") == 0 && P("rows") == 0) { /* an f16 scale per row, the codebook, packed indices */
        size_t k = (size_t)P("k"), d = (size_t)P("dim"), bits = 0;
        while (((size_t)1 << bits) < k) bits++;
        bytes = 2 * R + 2 * k * d + div_up(R * div_up(C, d) * bits, 8); /* a row's last vector may be short */
    } else if (strcmp(name, "pb-llm") == 0) { /* mask bitmap, signs of the rest, salient codes, F16 means + scales */
        size_t G = P("group") > 0 ? (size_t)P("group") : C, k = 0;
        for (size_t c0 = 0; c0 < C; c0 += G) k += (size_t)floor(P("frac") * (double)R * (double)(c0 + G <= C ? G : C - c0) + 0.5);
        size_t bits = (size_t)P("bits");
        bytes = div_up(N, 8) + div_up(N - k, 8) + div_up(k * bits, 8) + 4 * GROUPS(P("group")) + 2 * R + div_up(R * bits, 8);
    } else if (strcmp(name, "salomi-hvq") == 0 && P("indices") == 1) { /* signs, packed tile indices, F16 codebook, F32 shift */
        size_t b = (size_t)P("block"), k = (size_t)P("k"), bits = 0, tiles = div_up(R, b) * div_up(C, b);
        while (((size_t)1 << bits) < k) bits++;
        bytes = div_up(N, 8) + div_up(tiles * bits, 8) + 2 * k * b * b + 4;
    } else if (strcmp(name, "gridvq") == 0) { /* F16 d per super-block, sub-block codes, 8 low index bits, the high bits, 7 signs */
        static const size_t index_bits[] = {11, 8, 9, 16}, code_extra[] = {1, 0, 0, 0}, sign_bits[] = {0, 7, 7, 7}; /* iq1s, iq2xxs, iq2xs, iq3xxs */
        size_t g = (size_t)P("grid"), V = R * div_up(C, 8);
        bytes = 2 * R * div_up(C, (size_t)P("super")) + div_up(R * div_up(C, (size_t)P("sub")) * ((size_t)P("scale_bits") + code_extra[g]), 8) + V +
                div_up(V * (index_bits[g] - 8), 8) + div_up(V * sign_bits[g], 8);
    } else if (strcmp(name, "aqlm") == 0) /* M codes of B bits per 8 weights (a row's last padded), F16 codebooks, an F16 scale per row */
        bytes = div_up(R * div_up(C, 8) * (size_t)P("M") * (size_t)P("B"), 8) + 2 * (size_t)P("M") * ((size_t)1 << (size_t)P("B")) * 8 + 2 * R;
    else if (strcmp(name, "quipsharp") == 0) /* a U16 E8P code per 8 weights (a row's last padded), a sign per row and input, F32 scale */
        bytes = 2 * R * div_up(C, 8) + div_up(R, 8) + div_up(C, 8) + 4;
    else if (strcmp(name, "salomi-lowrank") == 0) /* signs, F32 scale, INT8 factors with an F32 scale each */
        bytes = div_up(N, 8) + 4 + (R + C) * (size_t)P("rank") + 8;
    else
        ck_abort_msg("tu_format_bytes: no format written down for '%s'", spec_text);
#undef GROUPS
#undef P
    qh_spec_free(spec);
    return bytes;
}

size_t tu_format_bytes_given(const char *spec_text, int rows, int cols, const qh_packed *p)
{
    if (strncmp(spec_text, "salomi-hvq ", 11) == 0 && strstr(spec_text, "indices=coded")) { /* the coded stream's length */
        char plain[512];
        snprintf(plain, sizeof plain, "%s", spec_text);
        memcpy(strstr(plain, "indices=coded"), "indices=plain", 13);
        const qh_part *idx = qh_packed_find(p, "indices");
        ck_assert_ptr_nonnull(idx);
        qh_spec *spec;
        qh_err err;
        ck_assert_msg(qh_spec_parse(plain, &spec, &err) == 0, "%s", err.msg);
        size_t b = (size_t)qh_spec_get(spec, "block"), k = (size_t)qh_spec_get(spec, "k"), bits = 0;
        qh_spec_free(spec);
        while (((size_t)1 << bits) < k) bits++;
        return tu_format_bytes(plain, rows, cols) - div_up(div_up((size_t)rows, b) * div_up((size_t)cols, b) * bits, 8) + idx->bytes;
    }
    if (strncmp(spec_text, "billm ", 6) != 0) return tu_format_bytes(spec_text, rows, cols);
    qh_spec *spec;
    qh_err err;
    ck_assert_msg(qh_spec_parse(spec_text, &spec, &err) == 0, "%s", err.msg);
    size_t R = (size_t)rows, C = (size_t)cols, bs = (size_t)qh_spec_get(spec, "block"), salient_cols = 0;
    int coded = qh_spec_get(spec, "masks") == 0;
    qh_spec_free(spec);
    const qh_part *col = qh_packed_find(p, "salient.mask"), *grp = qh_packed_find(p, "group.mask");
    ck_assert_ptr_nonnull(col);
    ck_assert_ptr_nonnull(grp);
    for (size_t c = 0; c < C; c++) salient_cols += (((const uint8_t *)col->data)[c >> 3] >> (c & 7)) & 1;
    size_t n_sal = R * salient_cols, n_ns = R * C - n_sal;
    /* column bitmap; group bitmap (or its coded length); a sign per non-salient weight, two per salient;
     * eight F16 per row and block (two means and two scales for the groups, as many for the stages) */
    return div_up(C, 8) + (coded ? grp->bytes : div_up(n_ns, 8)) + div_up(n_ns, 8) + div_up(2 * n_sal, 8) +
           16 * R * div_up(C, bs);
}

void tu_check_wikitext2_test_ids(const int *ids, size_t n)
{
    char *gp = tu_shared_path("golden/wikitext2_test_raw.ids.txt"), *golden;
    size_t glen, k = 0;
    qh_err err;
    ck_assert_msg(qh_read_file(gp, &golden, &glen, &err) == 0, "%s", err.msg);
    for (char *p = golden; *p; k++) {
        long id = strtol(p, &p, 10);
        ck_assert_msg(k < n, "fewer ids than the golden file");
        ck_assert_msg(ids[k] == id, "id %zu is %d, golden %ld", k, ids[k], id);
        while (*p == '\n') p++;
    }
    ck_assert_uint_eq(k, n);
    free(golden);
    free(gp);
}

void tu_check_encodes_wikitext2_test(qh_tokenizer *tok)
{
    qh_text text;
    qh_err err;
    ck_assert_msg(qh_text_load("wikitext2-test", &text, &err) == 0, "%s", err.msg);
    int *ids;
    size_t n;
    ck_assert_int_eq(qh_encode(tok, text.path, text.text, text.len, &ids, &n, &err), 0);
    tu_check_wikitext2_test_ids(ids, n);
    ck_assert_uint_eq(n, 286221);
    free(ids);
    qh_text_free(&text);
}

char *tu_tmpdir(void)
{
    char tmpl[] = "/tmp/qh_test_XXXXXX";
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    return qh_strdup(d);
}

void tu_all_logits(const qh_model *m, const int *ids, int T, float *out)
{
    qh_workspace ws;
    qh_workspace_init(&ws, &m->cfg, 1, T);
    qh_forward(m, ids, 1, T, &ws);
    qh_head_logits(m, ws.ln, T, out);
    qh_workspace_free(&ws);
}

int tu_run_shell(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 4096, n = 0;
    char *buf = qh_malloc(cap);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 2) buf = qh_realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int status = pclose(p);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *tu_binary(void)
{
    static char path[4096];
    if (!path[0]) {
        const char *bin = getenv("QH_TEST_BINARY");
        char *def = tu_home_path("qharness");
        snprintf(path, sizeof path, "%s", bin ? bin : def);
        free(def);
    }
    return path;
}

/* runs the binary under test with args and a shell redirection of stderr */
static int run_cli(const char *args, const char *stderr_to, char **out)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>%s", tu_binary(), args, stderr_to);
    return tu_run_shell(cmd, out);
}

char *tu_model_dir_with_weights(const void *weights, size_t len)
{
    char *dir = tu_tmpdir();
    const char *files[] = {"config.json", "vocab.json", "merges.txt"};
    for (int i = 0; i < 3; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/gpt2-gutenberg-18m/%s", files[i]);
        char *src = tu_home_path(rel), *dst = qh_path_join(dir, files[i]);
        ck_assert_int_eq(symlink(src, dst), 0);
        free(src);
        free(dst);
    }
    char *w = qh_path_join(dir, "model.safetensors");
    qh_err err;
    ck_assert_int_eq(qh_write_file(w, weights, len, &err), 0);
    free(w);
    return dir;
}

int tu_run_cli(const char *args, char **out) { return run_cli(args, "&1", out); }
int tu_run_cli_stdout(const char *args, char **out) { return run_cli(args, "/dev/null", out); }

void tu_write_config(const char *dir, const tu_ckpt *s)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"model_type\": \"gpt2\", \"activation_function\": \"gelu_new\", \"n_embd\": %d, "
             "\"n_layer\": %d, \"n_head\": %d, \"n_positions\": %d, \"n_ctx\": %d, \"vocab_size\": %d, "
             "\"layer_norm_epsilon\": 1e-05}\n",
             s->n_embd, s->n_layer, s->n_head, s->n_ctx, s->n_ctx, s->n_vocab);
    char *path = qh_path_join(dir, "config.json");
    qh_err err;
    ck_assert_int_eq(qh_write_file(path, text, strlen(text), &err), 0);
    free(path);
}

static float rand_weight(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)((int)((*state >> 16) % 65) - 32) / 64.0f;
}

void tu_write_checkpoint(const char *dir, const tu_ckpt *s)
{
    mkdir(dir, 0755);
    tu_write_config(dir, s);
    qh_model proto = {0};
    proto.cfg = (qh_config){.n_vocab = s->n_vocab, .n_ctx = s->n_ctx, .n_embd = s->n_embd, .n_head = s->n_head, .n_layer = s->n_layer, .ln_eps = 1e-5f};
    /* the same table the loader expects, built by hand here so the test is independent */
    int C = s->n_embd, cap = 8 + 14 * s->n_layer, n = 0;
    qh_st_entry *e = qh_calloc((size_t)cap, sizeof *e);
    char **names = qh_calloc((size_t)cap, sizeof *names);
    void **bufs = qh_calloc((size_t)cap, sizeof *bufs);
    unsigned state = s->seed;
    size_t esz = qh_dtype_size(s->dtype);
    float *wte_copy = NULL;
#define ENTRY(R, COLS, IS2D, ...)                                                              \
    do {                                                                                       \
        char nm[128], full[160];                                                               \
        snprintf(nm, sizeof nm, __VA_ARGS__);                                                  \
        snprintf(full, sizeof full, "%s%s", s->prefix ? "transformer." : "", nm);             \
        size_t cnt = (size_t)(R) * (COLS);                                                     \
        float *f = qh_malloc(cnt * sizeof(float));                                             \
        for (size_t i = 0; i < cnt; i++) f[i] = rand_weight(&state);                           \
        if (strstr(nm, "ln_") && strstr(nm, "weight"))                                         \
            for (size_t i = 0; i < cnt; i++) f[i] += 1.0f;                                     \
        if (strcmp(nm, "wte.weight") == 0) {                                                   \
            wte_copy = qh_malloc(cnt * sizeof(float));                                         \
            memcpy(wte_copy, f, cnt * sizeof(float));                                          \
        }                                                                                      \
        void *out = qh_malloc(cnt * esz);                                                      \
        for (size_t i = 0; i < cnt; i++) {                                                     \
            if (s->dtype == QH_DT_F32) ((float *)out)[i] = f[i];                               \
            else if (s->dtype == QH_DT_F16) ((uint16_t *)out)[i] = qh_f32_to_f16(f[i]);        \
            else ((uint16_t *)out)[i] = qh_f32_to_bf16(f[i]);                                  \
        }                                                                                      \
        free(f);                                                                               \
        names[n] = qh_strdup(full);                                                            \
        bufs[n] = out;                                                                         \
        e[n].name = names[n];                                                                  \
        e[n].dtype = s->dtype;                                                                 \
        e[n].ndim = (IS2D) ? 2 : 1;                                                            \
        if (IS2D) { e[n].shape[0] = (R); e[n].shape[1] = (COLS); }                             \
        else e[n].shape[0] = (COLS);                                                           \
        e[n].data = out;                                                                       \
        e[n].nbytes = cnt * esz;                                                               \
        n++;                                                                                   \
    } while (0)
    ENTRY(s->n_vocab, C, 1, "wte.weight");
    ENTRY(s->n_ctx, C, 1, "wpe.weight");
    for (int l = 0; l < s->n_layer; l++) {
        ENTRY(1, C, 0, "h.%d.ln_1.weight", l);
        ENTRY(1, C, 0, "h.%d.ln_1.bias", l);
        ENTRY(C, 3 * C, 1, "h.%d.attn.c_attn.weight", l);
        ENTRY(1, 3 * C, 0, "h.%d.attn.c_attn.bias", l);
        ENTRY(C, C, 1, "h.%d.attn.c_proj.weight", l);
        ENTRY(1, C, 0, "h.%d.attn.c_proj.bias", l);
        ENTRY(1, C, 0, "h.%d.ln_2.weight", l);
        ENTRY(1, C, 0, "h.%d.ln_2.bias", l);
        ENTRY(C, 4 * C, 1, "h.%d.mlp.c_fc.weight", l);
        ENTRY(1, 4 * C, 0, "h.%d.mlp.c_fc.bias", l);
        ENTRY(4 * C, C, 1, "h.%d.mlp.c_proj.weight", l);
        ENTRY(1, C, 0, "h.%d.mlp.c_proj.bias", l);
        if (s->attn_buffers) {
            /* real gpt2 files: a (1, 1, n_ctx, n_ctx) causal mask and a scalar, as F32 */
            char nm[160];
            size_t cnt = (size_t)s->n_ctx * s->n_ctx;
            float *mask = qh_calloc(cnt, sizeof(float));
            snprintf(nm, sizeof nm, "%sh.%d.attn.bias", s->prefix ? "transformer." : "", l);
            names[n] = qh_strdup(nm);
            bufs[n] = mask;
            e[n] = (qh_st_entry){names[n], QH_DT_F32, 4, {1, 1, s->n_ctx, s->n_ctx}, mask, cnt * 4};
            n++;
            float *mb = qh_malloc(4);
            *mb = -1e4f;
            snprintf(nm, sizeof nm, "%sh.%d.attn.masked_bias", s->prefix ? "transformer." : "", l);
            names[n] = qh_strdup(nm);
            bufs[n] = mb;
            e[n] = (qh_st_entry){names[n], QH_DT_F32, 0, {0}, mb, 4};
            n++;
        }
    }
    ENTRY(1, C, 0, "ln_f.weight");
    ENTRY(1, C, 0, "ln_f.bias");
#undef ENTRY
    if (s->lm_head) {
        size_t cnt = (size_t)s->n_vocab * C;
        void *out = qh_malloc(cnt * esz);
        for (size_t i = 0; i < cnt; i++) {
            if (s->dtype == QH_DT_F32) ((float *)out)[i] = wte_copy[i];
            else if (s->dtype == QH_DT_F16) ((uint16_t *)out)[i] = qh_f32_to_f16(wte_copy[i]);
            else ((uint16_t *)out)[i] = qh_f32_to_bf16(wte_copy[i]);
        }
        names[n] = qh_strdup("lm_head.weight");
        bufs[n] = out;
        e[n] = (qh_st_entry){names[n], s->dtype, 2, {s->n_vocab, C}, out, cnt * esz};
        n++;
    }
    static const char *mk[] = {"format"}, *mv[] = {"pt"};
    char *path = qh_path_join(dir, "model.safetensors");
    qh_err err;
    ck_assert_msg(qh_st_write(path, e, n, mk, mv, 1, &err) == 0, "%s", err.msg);
    free(path);
    for (int i = 0; i < n; i++) {
        free(names[i]);
        free(bufs[i]);
    }
    free(wte_copy);
    free(names);
    free(bufs);
    free(e);
    (void)proto;
}

int main(void)
{
    SRunner *sr = srunner_create(suite_util());
    srunner_add_suite(sr, suite_tokenizer());
    srunner_add_suite(sr, suite_safetensors());
    srunner_add_suite(sr, suite_gemm());
    srunner_add_suite(sr, suite_gguf());
    srunner_add_suite(sr, suite_model());
    srunner_add_suite(sr, suite_ppl());
    srunner_add_suite(sr, suite_methods());
    srunner_add_suite(sr, suite_quantize());
    srunner_add_suite(sr, suite_calib());
    srunner_add_suite(sr, suite_cli());
    srunner_add_suite(sr, suite_sweep());
    srunner_add_suite(sr, suite_reports());
    srunner_add_suite(sr, suite_stats());
    srunner_add_suite(sr, suite_tasks());
    srunner_add_suite(sr, suite_llama());
    srunner_add_suite(sr, suite_reliability());
    srunner_add_suite(sr, suite_smollm2());
    srunner_add_suite(sr, suite_gemma3());
    srunner_add_suite(sr, suite_hf_quant());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void tu_same_gguf_kv(const qh_gguf *a, const qh_gguf *b, const char *key)
{
    const qh_gguf_kv *x = qh_gguf_find(a, key), *y = qh_gguf_find(b, key);
    ck_assert_msg(x && y, "%s missing", key);
    ck_assert_msg(x->type == y->type && x->elem_type == y->elem_type && x->n == y->n, "%s: type or count differs", key);
    if (x->type == QH_GGUF_ARRAY && x->elem_type == QH_GGUF_STRING) {
        for (uint64_t i = 0; i < x->n; i++) {
            uint64_t la, lb;
            const char *sa = qh_gguf_array_str(a, x, i, &la), *sb = qh_gguf_array_str(b, y, i, &lb);
            ck_assert_msg(la == lb && memcmp(sa, sb, la) == 0, "%s[%llu]: '%.*s' vs the reference's '%.*s'", key,
                          (unsigned long long)i, (int)la, sa, (int)lb, sb);
        }
    } else if (x->type == QH_GGUF_ARRAY) {
        ck_assert_msg(memcmp(x->data, y->data, x->n * 4) == 0, "%s differs", key);
    } else if (x->type == QH_GGUF_STRING) {
        ck_assert_msg(x->str_len == y->str_len && memcmp(x->str, y->str, x->str_len) == 0, "%s differs", key);
    } else {
        ck_assert_msg(x->u == y->u && x->f == y->f, "%s: %g vs the reference's %g", key, x->f, y->f);
    }
}
