/* check_gguf.c - the GGUF reader and the ggml type table against files llama.cpp wrote
 * (../shared/golden/gguf), and bad files made here. */
#include <cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/cli/cli.h"
#include "harness/formats/ggml_types.h"
#include "harness/formats/gguf.h"
#include "harness/model/model.h"
#include "harness/model/tokenizer.h"
#include "datasets/datasets.h"
#include "harness/model/forward.h"
#include "harness/formats/imatrix.h"
#include "harness/quantize/quantize.h"
#include "harness/formats/safetensors.h"
#include "methods/method.h"
#include "tests/testutil.h"

static qh_gguf *open_golden(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/gguf/%s", name);
    char *path = tu_shared_path(rel);
    qh_gguf *g;
    qh_err err;
    ck_assert_msg(qh_gguf_open(path, &g, &err) == 0, "%s", err.msg);
    free(path);
    return g;
}

/* One key of every GGUF value type, as types.gguf holds them. */
START_TEST(every_metadata_type)
{
    qh_gguf *g = open_golden("types.gguf");
    qh_err err;
    ck_assert_int_eq(g->version, 3);
    ck_assert_int_eq((int)g->n_tensors, 46);
    int64_t i;
    double f;
    const char *s;
    uint64_t len;
    struct { const char *key; uint32_t type; int64_t value; } ints[] = {
        {"test.u8", QH_GGUF_U8, 200},        {"test.i8", QH_GGUF_I8, -100},
        {"test.u16", QH_GGUF_U16, 60000},    {"test.i16", QH_GGUF_I16, -30000},
        {"test.u32", QH_GGUF_U32, 4000000000LL}, {"test.i32", QH_GGUF_I32, -2000000000},
        {"test.i64", QH_GGUF_I64, -4611686018427387904LL}, {"test.bool", QH_GGUF_BOOL, 1},
    };
    for (size_t k = 0; k < sizeof ints / sizeof *ints; k++) {
        ck_assert_msg(qh_gguf_get_int(g, ints[k].key, &i, &err) == 0, "%s", err.msg);
        ck_assert_msg(i == ints[k].value, "%s: %lld", ints[k].key, (long long)i);
        ck_assert_int_eq(qh_gguf_find(g, ints[k].key)->type, ints[k].type);
    }
    /* 9223372036854775813 does not fit an int64: refused as an int, exact as the u64 */
    ck_assert_int_eq(qh_gguf_get_int(g, "test.u64", &i, &err), -1);
    ck_assert_msg(strstr(err.msg, "test.u64") && strstr(err.msg, "does not fit"), "%s", err.msg);
    ck_assert(qh_gguf_find(g, "test.u64")->u == 9223372036854775813ULL);
    ck_assert_int_eq(qh_gguf_get_float(g, "test.f32", &f, &err), 0);
    ck_assert(f == 0.15625);
    ck_assert_int_eq(qh_gguf_get_float(g, "test.f64", &f, &err), 0);
    ck_assert(f == 2.718281828459045);
    ck_assert_int_eq(qh_gguf_get_str(g, "test.string", &s, &len, &err), 0);
    ck_assert_int_eq((int)len, (int)strlen("h\xc3\xa9llo, GGUF \xe2\x9c\x93"));
    ck_assert(memcmp(s, "h\xc3\xa9llo, GGUF \xe2\x9c\x93", len) == 0);
    const qh_gguf_kv *a = qh_gguf_find(g, "test.array_i32");
    ck_assert(a && a->type == QH_GGUF_ARRAY && a->elem_type == QH_GGUF_I32 && a->n == 3);
    ck_assert(qh_gguf_array_num(a, 0) == 1 && qh_gguf_array_num(a, 1) == -2 && qh_gguf_array_num(a, 2) == 3);
    a = qh_gguf_find(g, "test.array_f32");
    ck_assert(a && a->n == 2 && qh_gguf_array_num(a, 0) == 0.5 && qh_gguf_array_num(a, 1) == -1.25);
    a = qh_gguf_find(g, "test.array_str");
    ck_assert(a && a->elem_type == QH_GGUF_STRING && a->n == 3);
    const char *e0 = qh_gguf_array_str(g, a, 0, &len);
    ck_assert(len == 1 && e0[0] == 'a');
    qh_gguf_array_str(g, a, 1, &len);
    ck_assert_int_eq((int)len, 0);
    const char *e2 = qh_gguf_array_str(g, a, 2, &len);
    ck_assert(len == 2 && memcmp(e2, "\xcf\x89", 2) == 0);
    /* wrong-type look-ups name the key and what it is */
    ck_assert_int_eq(qh_gguf_get_str(g, "test.u8", &s, &len, &err), -1);
    ck_assert_msg(strstr(err.msg, "test.u8") && strstr(err.msg, "is a u8"), "%s", err.msg);
    ck_assert_int_eq(qh_gguf_get_int(g, "no.such.key", &i, &err), -1);
    ck_assert_msg(strstr(err.msg, "no key 'no.such.key'"), "%s", err.msg);
    qh_gguf_close(g);
}
END_TEST

/* Every type's dequantization equals llama.cpp's own (T.ffn_down.expected), bit for bit. */
START_TEST(every_type_dequantizes_like_llama_cpp)
{
    qh_gguf *g = open_golden("types.gguf");
    static const char *types[] = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K",
                                  "Q5_K", "Q6_K", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S",
                                  "IQ1_M", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0"};
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        char wn[64], en[64];
        snprintf(wn, sizeof wn, "%s.ffn_down.weight", types[k]);
        snprintf(en, sizeof en, "%s.ffn_down.expected", types[k]);
        const qh_gguf_tensor *w = qh_gguf_tensor_find(g, wn), *e = qh_gguf_tensor_find(g, en);
        ck_assert_msg(w && e, "%s", wn);
        const qh_ggml_type *t = qh_ggml_type_by_id(w->type);
        ck_assert_msg(t && strcmp(t->name, types[k]) == 0, "%s has type %u", wn, w->type);
        ck_assert(e->type == 0 && e->n_elements == w->n_elements && w->n_elements == 64 * 1024);
        /* the bytes of the tensor, computed from the type's block size independently of the reader */
        ck_assert_msg(w->bytes == w->n_elements / (uint64_t)t->block * t->bytes, "%s bytes", wn);
        float *out = malloc(w->n_elements * sizeof(float));
        qh_ggml_dequantize(t, w->data, out, w->n_elements);
        long differ = 0, first = -1;
        for (uint64_t i = 0; i < w->n_elements; i++) {
            float x;
            memcpy(&x, e->data + 4 * i, 4);
            if (memcmp(&x, &out[i], 4) != 0) {
                if (first < 0) first = (long)i;
                differ++;
            }
        }
        if (differ) {
            float x;
            memcpy(&x, e->data + 4 * first, 4);
            ck_abort_msg("%s: %ld of %llu values differ; first at %ld: %.9g vs llama.cpp %.9g", types[k], differ,
                         (unsigned long long)w->n_elements, first, out[first], x);
        }
        free(out);
    }
    qh_gguf_close(g);
}
END_TEST

static void expect_dequantized(const qh_gguf *g, const char *name, const char *expected_name)
{
    const qh_gguf_tensor *t = qh_gguf_tensor_find(g, name), *e = qh_gguf_tensor_find(g, expected_name);
    ck_assert_msg(t && e && e->type == 0 && e->n_elements == t->n_elements, "%s", name);
    const qh_ggml_type *ty = qh_ggml_type_by_id(t->type);
    ck_assert_ptr_nonnull(ty);
    ck_assert_uint_eq(t->bytes, t->n_elements / (uint64_t)ty->block * ty->bytes);
    float *out = malloc(t->n_elements * sizeof(float));
    qh_ggml_dequantize(ty, t->data, out, t->n_elements);
    for (uint64_t i = 0; i < t->n_elements; i++) {
        float x;
        memcpy(&x, e->data + 4 * i, 4);
        ck_assert_msg(memcmp(&x, &out[i], 4) == 0, "%s[%llu]: %a, gguf-py %a", name, (unsigned long long)i, (double)out[i], (double)x);
    }
    free(out);
}

/* ggml's MXFP4 and NVFP4 (types 39, 40) against llama.cpp's gguf-py (tests/data/ggml_fp4, made by
 * tools/peers/ggml_fp4_reference.py): blocks of random bytes (every E8M0 scale byte range,
 * subnormal scales, UE4M3's 0x7F) dequantize to gguf-py's numbers bit for bit; a default-model
 * matrix quantizes to gguf-py's bytes and back to its numbers; on exact ties ggml keeps the smaller
 * magnitude where the mxfp4 method (OCP's rounding) takes the even code. */
START_TEST(fp4_types_equal_gguf_py)
{
    char *path = tu_home_path("tests/data/ggml_fp4/fp4.gguf");
    cJSON *ref = tu_read_json("tests/data/ggml_fp4/fp4.json");
    qh_gguf *g;
    qh_err err;
    ck_assert_msg(qh_gguf_open(path, &g, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(qh_ggml_type_by_id(39)->name, "MXFP4");
    ck_assert_str_eq(qh_ggml_type_by_id(40)->name, "NVFP4");
    expect_dequantized(g, "random.mxfp4", "random.mxfp4.expected");
    expect_dequantized(g, "random.nvfp4", "random.nvfp4.expected");
    expect_dequantized(g, "ties.mxfp4", "ties.expected");
    const qh_ggml_type *mx = qh_ggml_type_by_name("MXFP4");
    /* the default model's rows: the same input as gguf-py's, the same bytes out, the same numbers back */
    char *model = tu_home_path("models/gpt2-gutenberg-18m/model.safetensors");
    qh_safetensors st;
    ck_assert_msg(qh_st_open(model, &st, &err) == 0, "%s", err.msg);
    const qh_st_tensor *src = qh_st_find(&st, "h.0.mlp.c_proj.weight");
    float *conv = malloc(1024 * 256 * sizeof(float)), *rows = malloc(64 * 1024 * sizeof(float));
    ck_assert_int_eq(qh_st_to_f32(&st, src, conv, &err), 0);
    for (int r = 0; r < 64; r++)
        for (int c = 0; c < 1024; c++) rows[r * 1024 + c] = conv[(size_t)c * 256 + r];
    char hex[65];
    qh_sha256_hex(rows, 64 * 1024 * sizeof(float), hex);
    ck_assert_str_eq(hex, cJSON_GetObjectItem(ref, "source_sha256")->valuestring);
    const qh_gguf_tensor *t = qh_gguf_tensor_find(g, "ffn_down.mxfp4");
    ck_assert(t && t->ne[0] == 1024 && t->ne[1] == 64);
    uint8_t *bytes = malloc(t->bytes);
    qh_ggml_quantize(mx, rows, bytes, 64 * 1024);
    qh_sha256_hex(bytes, t->bytes, hex);
    ck_assert_str_eq(hex, cJSON_GetObjectItem(ref, "ffn_down_mxfp4_sha256")->valuestring);
    ck_assert(memcmp(bytes, t->data, t->bytes) == 0);
    float *back = malloc(64 * 1024 * sizeof(float));
    qh_ggml_dequantize(mx, t->data, back, 64 * 1024);
    qh_sha256_hex(back, 64 * 1024 * sizeof(float), hex);
    ck_assert_str_eq(hex, cJSON_GetObjectItem(ref, "ffn_down_dequantized_sha256")->valuestring);
    /* ties: ggml's writer gives gguf-py's bytes; OCP's rounding (the mxfp4 method) differs exactly there */
    static const float ties[12] = {6.0f, 0.75f, 1.75f, 3.5f, 2.5f, 5.0f, -0.75f, -1.75f, -3.5f, 0.25f, 1.25f, -5.0f};
    static const float ocp[12] = {6.0f, 1.0f, 2.0f, 4.0f, 2.0f, 4.0f, -1.0f, -2.0f, -4.0f, 0.0f, 1.0f, -4.0f};
    float in[64] = {0};
    memcpy(in, ties, sizeof ties);
    uint8_t tie_bytes[34];
    qh_ggml_quantize(mx, in, tie_bytes, 64);
    ck_assert(memcmp(tie_bytes, qh_gguf_tensor_find(g, "ties.mxfp4")->data, sizeof tie_bytes) == 0);
    qh_spec *spec;
    ck_assert_int_eq(qh_spec_parse("mxfp4", &spec, &err), 0);
    qh_packed p = {0};
    qh_matrix w = {1, 64, in}, o = {1, 64, malloc(64 * sizeof(float))};
    ck_assert_int_eq(spec->method->encode(spec, &w, NULL, &p, &err), 0);
    ck_assert_int_eq(spec->method->decode(spec, &p, &o, &err), 0);
    float ggml_ties[64];
    qh_ggml_dequantize(mx, tie_bytes, ggml_ties, 64);
    int differ = 0;
    for (int i = 0; i < 12; i++) {
        ck_assert_msg(o.data[i] == ocp[i], "mxfp4 method on %g: %g, OCP's %g", (double)ties[i], (double)o.data[i], (double)ocp[i]);
        differ += o.data[i] != ggml_ties[i];
    }
    ck_assert_int_eq(differ, 6); /* 0.75, 1.75, 3.5 and their negatives */
    qh_packed_free(&p);
    qh_spec_free(spec);
    free(o.data), free(back), free(bytes), free(rows), free(conv), free(model), free(path);
    qh_st_close(&st);
    qh_gguf_close(g);
    cJSON_Delete(ref);
}
END_TEST

/* The writers against llama-quantize: the first 64 rows of the default model's blk.0.ffn_down
 * ((out, in) = (256, 1024) in GGUF order), quantized by qharness, give the bytes of types.gguf
 * for F16, BF16 and Q8_0.  Q4_0 is not compared byte for byte: types.gguf's rows were quantized
 * with the importance matrix (llama.cpp's weighted Q4_0 search, not quantize_row_q4_0_ref, which
 * is what qharness writes; 10502 of 36864 bytes differ); it is checked by its definition: the
 * largest-magnitude element of a block is exactly -8 d, every other within d/2 of its value. */
START_TEST(writers_give_llama_quantize_bytes)
{
    qh_gguf *g = open_golden("types.gguf");
    qh_model *m = tu_default_model(0);
    const qh_tensor *w = NULL;
    for (int k = 0; k < m->n_tensors; k++)
        if (strcmp(m->tensors[k].name, "h.0.mlp.c_proj.weight") == 0) w = &m->tensors[k];
    ck_assert(w && w->rows == 1024 && w->cols == 256);
    float *rows = malloc(64 * 1024 * sizeof(float)); /* transposed: row o of GGUF = column o of Conv1D */
    for (int o = 0; o < 64; o++)
        for (int i = 0; i < 1024; i++) rows[o * 1024 + i] = w->data[(size_t)i * 256 + o];
    int writable = 0;
    for (const qh_ggml_type *t = qh_ggml_types; t->name; t++) {
        if (!t->quant || t->id == 0) continue;
        if (strcmp(t->name, "MXFP4") == 0) continue; /* types.gguf predates it: fp4_types_equal_gguf_py holds it to gguf-py */
        if (t->id == 2) { /* Q4_0 */
            uint8_t blk[18];
            float back[32];
            for (int b = 0; b < 64 * 1024 / 32; b++) {
                const float *x = rows + 32 * b;
                t->quant(x, blk);
                t->dequant(blk, back);
                int big = 0;
                for (int j = 1; j < 32; j++) big = fabsf(x[j]) > fabsf(x[big]) ? j : big;
                float d = fabsf(back[big]) / 8;
                ck_assert_msg(fabsf(back[big] - x[big]) <= 1e-3f * fabsf(x[big]), "Q4_0 block %d: max %g -> %g", b, x[big], back[big]);
                for (int j = 0; j < 32; j++)
                    ck_assert_msg(fabsf(back[j] - x[j]) <= d / 2 * 1.01f + 1e-3f * d ||
                                      (fabsf(fabsf(back[j]) - 7 * d) <= 1e-4f * d && fabsf(x[j]) > 7 * d), /* the clamp at q = 15 */
                                  "Q4_0 block %d element %d: %g -> %g (d %g)", b, j, x[j], back[j], d);
            }
            writable++;
            continue;
        }
        char wn[64];
        snprintf(wn, sizeof wn, "%s.ffn_down.weight", t->name);
        const qh_gguf_tensor *ref = qh_gguf_tensor_find(g, wn);
        ck_assert_msg(ref != NULL, "%s", wn);
        uint8_t *out = malloc(ref->bytes);
        qh_ggml_quantize(t, rows, out, 64 * 1024);
        long differ = 0, first = -1;
        for (uint64_t i = 0; i < ref->bytes; i++)
            if (out[i] != ref->data[i]) {
                if (first < 0) first = (long)i;
                differ++;
            }
        ck_assert_msg(differ == 0, "%s: %ld of %llu bytes differ from llama-quantize's, first at byte %ld", t->name, differ,
                      (unsigned long long)ref->bytes, first);
        free(out);
        writable++;
    }
    ck_assert_int_eq(writable, 4); /* F16 BF16 Q8_0 Q4_0 */
    free(rows);
    qh_model_free(m);
    qh_gguf_close(g);
}
END_TEST

/* ---- bad files -------------------------------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *x, size_t n)
{
    if (b->n + n > b->cap) b->p = realloc(b->p, b->cap = (b->n + n) * 2 + 64);
    memcpy(b->p + b->n, x, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* A small valid file: two keys and one F32 tensor "w" of 8 elements; the knobs break it. */
typedef struct {
    uint32_t magic_first, version, type;
    const char *name, *key2;
    uint64_t offset, ne0;
    int truncate; /* bytes cut from the end */
} spec;

static char *write_file(const char *dir, const char *file, const spec *sp)
{
    buf b = {0};
    put_u32(&b, sp->magic_first ? sp->magic_first : 0x46554747u);
    put_u32(&b, sp->version ? sp->version : 3);
    put_u64(&b, 1);
    put_u64(&b, 2);
    put_str(&b, "general.architecture");
    put_u32(&b, QH_GGUF_STRING);
    put_str(&b, "gpt2");
    put_str(&b, sp->key2 ? sp->key2 : "general.name");
    put_u32(&b, QH_GGUF_STRING);
    put_str(&b, "t");
    put_str(&b, sp->name ? sp->name : "w");
    put_u32(&b, 1);
    put_u64(&b, sp->ne0 ? sp->ne0 : 8);
    put_u32(&b, sp->type);
    put_u64(&b, sp->offset);
    while (b.n % 32) put(&b, "", 1);
    float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    put(&b, data, sizeof data);
    char *path = qh_path_join(dir, file);
    qh_err err;
    ck_assert_int_eq(qh_write_file(path, b.p, b.n - (size_t)sp->truncate, &err), 0);
    free(b.p);
    return path;
}

START_TEST(bad_files_name_the_place)
{
    char *dir = tu_tmpdir();
    char long_name[80];
    memset(long_name, 'x', 64);
    long_name[64] = 0;
    struct {
        spec sp;
        const char *want;
    } cases[] = {
        {{0}, NULL}, /* the valid file */
        {{.truncate = 20}, "tensor 'w' at byte"},
        {{.truncate = 150}, "truncated at byte"},
        {{.magic_first = 0x464c457f}, "byte 0: not a GGUF file"},
        {{.version = 1}, "byte 4: GGUF version 1"},
        {{.offset = 4096}, "run past the end of the file"},
        {{.offset = 4}, "not a multiple of the alignment"},
        {{.type = 99}, "tensor 'w' at byte"},
        {{.type = 12}, "not a multiple of Q4_K's block of 256"},
        {{.name = long_name}, "name of 64 bytes"},
        {{.key2 = "general.architecture"}, "key 'general.architecture' at byte"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char file[32];
        snprintf(file, sizeof file, "case%zu.gguf", k);
        char *path = write_file(dir, file, &cases[k].sp);
        qh_gguf *g;
        qh_err err;
        int rc = qh_gguf_open(path, &g, &err);
        if (!cases[k].want) {
            ck_assert_msg(rc == 0, "%s", err.msg);
            ck_assert(g->tensors[0].n_elements == 8 && g->tensors[0].bytes == 32);
            float x;
            memcpy(&x, g->tensors[0].data + 28, 4);
            ck_assert(x == 8.0f);
            qh_gguf_close(g);
        } else {
            ck_assert_msg(rc == -1, "case %zu opened", k);
            ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, cases[k].want), "case %zu: %s", k, err.msg);
            ck_assert_msg(!strchr(err.msg, '\n'), "one line: %s", err.msg);
        }
        free(path);
    }
    /* counts the file cannot hold are refused before anything is allocated for them (a 24-byte
     * file claiming 2^20 keys and tensors used to cost about 200 MB of zeroed tables) */
    {
        uint8_t head[24] = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
        uint64_t n = 1u << 20;
        memcpy(head + 8, &n, 8);
        memcpy(head + 16, &n, 8);
        char *path = qh_path_join(dir, "counts.gguf");
        qh_err e;
        ck_assert_int_eq(qh_write_file(path, head, sizeof head, &e), 0);
        qh_gguf *g;
        ck_assert_int_eq(qh_gguf_open(path, &g, &e), -1);
        ck_assert_msg(strstr(e.msg, "1048576 tensors and 1048576 keys cannot fit in the file's 24 bytes"), "%s", e.msg);
        free(path);
    }
    /* the unknown type and the duplicate key say what they are */
    spec unknown = {.type = 99}, dup = {.key2 = "general.architecture"};
    char *p1 = write_file(dir, "u.gguf", &unknown), *p2 = write_file(dir, "d.gguf", &dup);
    qh_gguf *g;
    qh_err err;
    ck_assert_int_eq(qh_gguf_open(p1, &g, &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown ggml type 99"), "%s", err.msg);
    ck_assert_int_eq(qh_gguf_open(p2, &g, &err), -1);
    ck_assert_msg(strstr(err.msg, "duplicate key"), "%s", err.msg);
    free(p1);
    free(p2);
    free(dir);
}
END_TEST

/* The ledger of llama.cpp's IQ1_S file against sizes computed here from the model's shapes and
 * the format's block sizes: 24 block matrices of 6 x (C x 3C + C x C + C x 4C + 4C x C) weights,
 * 50 bytes per 256 (block_iq1_s), embedding and output in F16 (2 bytes a weight). */
START_TEST(ledger_of_the_iq1_s_file)
{
    char *path = tu_shared_path("golden/gguf/default-IQ1_S.gguf"), args[4200], *out;
    snprintf(args, sizeof args, "info %s", path);
    ck_assert_int_eq(tu_run_cli(args, &out), 0);
    long C = 256, V = 50257, block = 6 * (C * 3 * C + C * C + C * 4 * C + 4 * C * C);
    char want[256];
    snprintf(want, sizeof want, "%-26s %12ld weights %12ld bytes  %7.4f bpw", "block matrices", block, block / 256 * 50, 1.5625);
    ck_assert_msg(strstr(out, want), "%s\nwanted: %s", out, want);
    snprintf(want, sizeof want, "%-26s %12ld weights %12ld bytes  %7.4f bpw", "output", V * C, V * C * 2, 16.0);
    ck_assert_msg(strstr(out, want), "%s\nwanted: %s", out, want);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    snprintf(want, sizeof want, "(%lld bytes)", (long long)sb.st_size);
    ck_assert_msg(strstr(out, want), "%s", out);
    ck_assert_msg(strstr(out, "general.file_type 24 = IQ1_S") && strstr(out, "token embedding in F16"), "%s", out);
    /* where it came from and its context, so that a default window is never a surprise */
    ck_assert_msg(strstr(out, "context          256 tokens (gpt2.context_length)") && strstr(out, "baseline         this file dequantized"),
                  "%s", out);
    free(out);
    /* ppl --json on the file carries its bits from the same ledger, as a --method run does */
    snprintf(args, sizeof args, "ppl %s wikitext2-test --max-tokens 512 --json", path);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    ck_assert_msg(strstr(out, "\"bpp_quantized\":1.5625") && strstr(out, "\"method\":\"gguf IQ1_S (default-IQ1_S.gguf)\"") &&
                      strstr(out, "\"quantized_tensors\":24"),
                  "%s", out);
    free(out);
    free(path);
}
END_TEST

/* The vocabulary in the GGUF metadata gives the same ids as the reference encoder on all of
 * WikiText-2 test. */
START_TEST(tokenizer_from_gguf_metadata)
{
    char *path = tu_shared_path("golden/gguf/default-IQ1_S.gguf");
    qh_tokenizer *tok;
    qh_err err;
    ck_assert_msg(qh_tokenizer_load_dir(path, &tok, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(qh_tokenizer_vocab_size(tok), 50257);
    tu_check_encodes_wikitext2_test(tok);
    qh_tokenizer_free(tok);
    free(path);
}
END_TEST

/* llama.cpp's files as models, under qharness's protocol (WikiText-2 test, first 16384 tokens,
 * ctx 256): the independent reference of golden.json (gguf-py dequantization + a PyTorch fp32
 * forward) within 0.05%. */
START_TEST(gguf_files_as_models_match_the_reference)
{
    struct { const char *file; double reference; const char *dtype; } cases[] = {
        {"default-IQ1_S.gguf", 504.5511094920724, "IQ1_S"},
        {"default-Q4_K-pure.gguf", 467.0812423995428, "Q4_K"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        if (k == 1 && tu_quick()) {
            fprintf(stderr, "gguf: %s skipped under QH_TEST_QUICK (same code path as %s)\n", cases[k].file, cases[0].file);
            continue;
        }
        char rel[128], args[4300], *out;
        snprintf(rel, sizeof rel, "golden/gguf/%s", cases[k].file);
        char *path = tu_shared_path(rel);
        snprintf(args, sizeof args, "ppl %s wikitext2-test --max-tokens 16384 --json", path);
        ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
        cJSON *j = cJSON_Parse(out);
        ck_assert_msg(j != NULL, "%s", out);
        double ppl = cJSON_GetObjectItem(j, "ppl")->valuedouble;
        ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens_scored")->valueint, 16320);
        ck_assert_msg(fabs(ppl / cases[k].reference - 1) < 5e-4, "%s: ppl %.4f, reference %.4f", cases[k].file, ppl,
                      cases[k].reference);
        fprintf(stderr, "gguf: %s ppl %.4f (reference %.4f, %+.4f%%)\n", cases[k].file, ppl, cases[k].reference,
                100 * (ppl / cases[k].reference - 1));
        cJSON_Delete(j);
        free(out);
        free(path);
    }
    /* the model's own description names the file's block type */
    qh_model *m;
    qh_err err;
    char *path = tu_shared_path("golden/gguf/default-IQ1_S.gguf");
    ck_assert_msg(qh_model_load(path, &m, 0, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(m->dtype, "IQ1_S");
    ck_assert_int_eq(m->cfg.n_layer, 6);
    ck_assert_int_eq(m->cfg.n_vocab, 50257);
    qh_model_free(m);
    /* a GGUF of an architecture without a row in the table is refused by name */
    char *dir = tu_tmpdir(), *st = qh_path_join(dir, "falcon.gguf");
    qh_gguf_writer *w = qh_gguf_writer_new(0);
    qh_gguf_put_str(w, "general.architecture", "falcon");
    ck_assert_msg(qh_gguf_write(w, st, &err) == 0, "%s", err.msg);
    qh_gguf_writer_free(w);
    ck_assert_int_eq(qh_model_load(st, &m, 0, &err), -1);
    ck_assert_msg(strstr(err.msg, "architecture 'falcon'") && strstr(err.msg, st) && strstr(err.msg, "gpt2, llama and gemma3"), "%s", err.msg);
    free(st);
    free(dir);
    free(path);
}
END_TEST

/* llama-perplexity's protocol (-c 256 --chunks 64 on WikiText-2 test, 8128 tokens scored), numbers
 * read from golden.json: within 0.05% of the fp32 reference of the same protocol, within 0.5% of
 * llama-perplexity itself (8-bit activations in its dot products), and its +/- likewise. */
START_TEST(llama_cpp_protocol_matches_llama_perplexity)
{
    char *gpath = tu_shared_path("golden/gguf/golden.json"), *text;
    size_t len;
    qh_err err;
    ck_assert_msg(qh_read_file(gpath, &text, &len, &err) == 0, "%s", err.msg);
    cJSON *golden = cJSON_Parse(text);
    ck_assert(golden != NULL);
    struct { const char *key, *model, *reference; } cases[] = {
        {"default-f32", "default", "reference_same_protocol"},
        {"default-IQ1_S.gguf", "golden/gguf/default-IQ1_S.gguf", "reference_llama_protocol_fp32_activations"},
        {"default-Q4_K-pure.gguf", "golden/gguf/default-Q4_K-pure.gguf", "reference_llama_protocol_fp32_activations"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        if (k == 2 && tu_quick()) {
            fprintf(stderr, "gguf: llama-cpp protocol on %s skipped under QH_TEST_QUICK (same code path as %s)\n", cases[k].key,
                    cases[1].key);
            continue;
        }
        cJSON *entry = cJSON_GetObjectItem(golden, cases[k].key);
        cJSON *llama = cJSON_GetObjectItem(entry, "llama-perplexity"), *ref = cJSON_GetObjectItem(entry, cases[k].reference);
        ck_assert_msg(llama && ref, "golden.json: %s lacks its numbers", cases[k].key);
        double llama_ppl = cJSON_GetObjectItem(llama, "ppl")->valuedouble, llama_pm = cJSON_GetObjectItem(llama, "pm")->valuedouble;
        double ref_ppl = cJSON_GetObjectItem(ref, "ppl")->valuedouble, ref_pm = cJSON_GetObjectItem(ref, "pm")->valuedouble;
        char *model = strchr(cases[k].model, '/') ? tu_shared_path(cases[k].model) : strdup(cases[k].model), args[4300], *out;
        snprintf(args, sizeof args, "ppl %s wikitext2-test --protocol llama-cpp --ctx 256 --chunks 64 --json", model);
        ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
        cJSON *j = cJSON_Parse(out);
        ck_assert_msg(j != NULL, "%s", out);
        double ppl = cJSON_GetObjectItem(j, "ppl")->valuedouble, pm = cJSON_GetObjectItem(j, "ppl_pm_llama_cpp")->valuedouble;
        ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens_scored")->valueint, 64 * 127);
        ck_assert_int_eq(cJSON_GetObjectItem(j, "windows")->valueint, 64);
        ck_assert_msg(fabs(ppl / ref_ppl - 1) < 5e-4, "%s: ppl %.4f, fp32 reference %.4f", cases[k].key, ppl, ref_ppl);
        ck_assert_msg(fabs(pm / ref_pm - 1) < 5e-4, "%s: +/- %.5f, fp32 reference %.5f", cases[k].key, pm, ref_pm);
        ck_assert_msg(fabs(ppl / llama_ppl - 1) < 5e-3, "%s: ppl %.4f, llama-perplexity %.4f", cases[k].key, ppl, llama_ppl);
        ck_assert_msg(fabs(pm / llama_pm - 1) < 5e-3, "%s: +/- %.5f, llama-perplexity %.5f", cases[k].key, pm, llama_pm);
        fprintf(stderr, "gguf: llama-cpp protocol %s: %.4f +/- %.5f (reference %.4f, %+.4f%%; llama-perplexity %.4f, %+.3f%%)\n",
                cases[k].key, ppl, pm, ref_ppl, 100 * (ppl / ref_ppl - 1), llama_ppl, 100 * (ppl / llama_ppl - 1));
        cJSON_Delete(j);
        free(out);
        free(model);
    }
    cJSON_Delete(golden);
    free(text);
    free(gpath);
}
END_TEST

/* sqlite3 one value as double, from a query with no parameters */
static double sql_double(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: no row", sql);
    double v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* [method llamacpp-iq1s] gguf = FILE in a sweep: the file's weights evaluated beside the
 * baseline, bytes from the file (checked against sizes computed from the config and the
 * block sizes: IQ1_S is 50 bytes per 256 weights), the same perplexity as `qharness ppl`, and
 * a file that is not of the base model refused by tensor name. */
START_TEST(a_gguf_file_as_a_sweep_configuration)
{
    char *iq1 = tu_shared_path("golden/gguf/default-IQ1_S.gguf"), *dir = tu_tmpdir(), ini[4300], db[4300], args[9000], *out;
    snprintf(ini, sizeof ini, "%s/peer.ini", dir);
    snprintf(db, sizeof db, "%s/peer.sqlite", dir);
    char text[4400];
    snprintf(text, sizeof text,
             "[experiment]\nname = peer\nmodels = default, %s\nctx = 256\n[tasks]\nppl.wikitext2-test = 4096\n"
             "ppl.wikitext2-test@llama-cpp = 4096\n[method base]\nmethod = none\n[method llamacpp-iq1s]\ngguf = %s\n", iq1, iq1);
    qh_err err;
    ck_assert_int_eq(qh_write_file(ini, text, strlen(text), &err), 0);
    snprintf(args, sizeof args, "sweep %s --db %s", ini, db);
    ck_assert_int_eq(tu_run_cli(args, &out), 0);
    free(out);
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    const char *run = "(SELECT r.id FROM runs r JOIN method_configs c ON c.id = r.config_id JOIN models m ON m.id = r.model_id "
                      "WHERE c.family = 'llama.cpp' AND m.path NOT LIKE '%.gguf')";
    char q[1024];
    long C = 256, L = 6, V = 50257, P = 256;
    double blocks = (double)L * 12 * C * C * 50 / 256;
    double kept = (double)V * C * 2 * 2 /* token_embd and output, F16 */ + (double)P * C * 4 /* position_embd F32 */ +
                  (double)(L * (4 * C + C + 3 * C + C + 4 * C) + 2 * C) * 4 /* norms and biases F32 */;
    snprintf(q, sizeof q, "SELECT bytes_quantized FROM bpp WHERE run_id = %s", run);
    ck_assert_double_eq(sql_double(h, q), blocks);
    snprintf(q, sizeof q, "SELECT bytes_total FROM bpp WHERE run_id = %s", run);
    ck_assert_double_eq(sql_double(h, q), blocks + kept);
    snprintf(q, sizeof q, "SELECT bpp_quantized FROM bpp WHERE run_id = %s", run);
    ck_assert_double_eq(sql_double(h, q), 1.5625);
    snprintf(q, sizeof q, "SELECT count(*) FROM tensors WHERE run_id = %s AND spec = 'ggml IQ1_S' AND rel_error > 0 AND rel_error < 1", run);
    ck_assert_double_eq(sql_double(h, q), 24);
    snprintf(q, sizeof q, "SELECT value FROM metrics WHERE run_id = %s AND task = 'ppl.wikitext2-test@llama-cpp' AND metric = 'ppl'", run);
    double swept = sql_double(h, q);
    /* the file as the experiment's model: its baseline's bits are the file's too */
    const char *gguf_base = "(SELECT r.id FROM runs r JOIN method_configs c ON c.id = r.config_id JOIN models m ON m.id = r.model_id "
                            "WHERE c.family = 'none' AND m.path LIKE '%.gguf')";
    snprintf(q, sizeof q, "SELECT bytes_total FROM bpp WHERE run_id = %s", gguf_base);
    ck_assert_double_eq(sql_double(h, q), blocks + kept);
    snprintf(q, sizeof q, "SELECT value FROM metrics WHERE run_id = %s AND task = 'ppl.wikitext2-test@llama-cpp' AND metric = 'ppl'", gguf_base);
    ck_assert_double_eq(sql_double(h, q), swept);
    sqlite3_close(h);
    snprintf(args, sizeof args, "ppl %s wikitext2-test --protocol llama-cpp --ctx 256 --max-tokens 4096 --json", iq1);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(j, "ppl")->valuedouble, swept, 1e-6 * swept);
    cJSON_Delete(j);
    free(out);

    /* a base model whose F32 tensors differ is not the file's source */
    qh_model *base = tu_default_model(0), *loaded;
    ck_assert_msg(qh_model_load(iq1, &loaded, 0, &err) == 0, "%s", err.msg);
    qh_quant_result res;
    ck_assert_msg(qh_quant_result_from_gguf(iq1, loaded, base, &res, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(res.kept_desc, "F32+F16");
    qh_quant_result_free(&res);
    base->tensors[3].data[5] += 0.25f;
    ck_assert_int_eq(qh_quant_result_from_gguf(iq1, loaded, base, &res, &err), -1);
    ck_assert_msg(strstr(err.msg, "tensor 'blk.0.attn_norm.bias' (F32 in the file) differs") && strstr(err.msg, iq1), "%s", err.msg);
    qh_model_free(base);
    qh_model_free(loaded);
    free(iq1);
    free(dir);
}
END_TEST

/* `qharness kld` against llama-perplexity --kl-divergence on the IQ1_S file (base: the default
 * model in F32; 64 chunks of 256).  llama.cpp stores the base's log-probabilities in 16 bits
 * and quantizes activations to 8 bits, so agreement is to about 1%, not to the bit. */
START_TEST(kld_matches_llama_perplexity_kl_divergence)
{
    char *gpath = tu_shared_path("golden/gguf/golden.json"), *text, *iq1 = tu_shared_path("golden/gguf/default-IQ1_S.gguf");
    size_t len;
    qh_err err;
    ck_assert_msg(qh_read_file(gpath, &text, &len, &err) == 0, "%s", err.msg);
    cJSON *golden = cJSON_Parse(text);
    cJSON *k = cJSON_GetObjectItem(cJSON_GetObjectItem(golden, "default-IQ1_S.gguf"), "llama-perplexity-kld");
    ck_assert(k != NULL);
    char args[4300], *out;
    snprintf(args, sizeof args, "kld default %s wikitext2-test --protocol llama-cpp --ctx 256 --chunks 64 --json", iq1);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "%s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "positions")->valueint, 64 * 127);
    struct { const char *ours, *theirs; double scale, rel_tol; } cmp[] = {
        {"kl_mean", "mean_kld", 1, 0.01},       {"kl_se", "mean_kld_pm", 1, 0.02}, {"kl_median", "median_kld", 1, 0.01},
        {"kl_p99", "kld_99", 1, 0.01},          {"same_top_p", "same_top_p_percent", 100, 0.005},
        {"same_top_p_se", "same_top_p_pm", 100, 0.02}, {"dp_rms", "rms_dp_percent", 100, 0.01},
    };
    for (size_t i = 0; i < sizeof cmp / sizeof *cmp; i++) {
        double ours = cmp[i].scale * cJSON_GetObjectItem(j, cmp[i].ours)->valuedouble;
        double theirs = cJSON_GetObjectItem(k, cmp[i].theirs)->valuedouble;
        ck_assert_msg(fabs(ours / theirs - 1) < cmp[i].rel_tol, "%s %.6f vs llama.cpp's %s %.6f", cmp[i].ours, ours, cmp[i].theirs,
                      theirs);
        fprintf(stderr, "gguf: kld %s %.6f, llama.cpp %.6f (%+.2f%%)\n", cmp[i].ours, ours, theirs, 100 * (ours / theirs - 1));
    }
    cJSON_Delete(j);
    free(out);
    cJSON_Delete(golden);
    free(text);
    free(gpath);
    free(iq1);
}
END_TEST

/* Runs "qharness convert MODEL -o OUT [--type TYPE]", which must succeed. */
static void cli_convert(const char *model, const char *out, const char *type)
{
    char args[9000], *o;
    snprintf(args, sizeof args, "convert %s -o %s%s%s", model, out, type ? " --type " : "", type ? type : "");
    ck_assert_int_eq(tu_run_cli_stdout(args, &o), 0);
    free(o);
}

/* qharness convert: the F32 file gives golden.json's default-f32 numbers under both protocols
 * (llama-perplexity 441.5749 / reference 441.5729, and qharness's golden 454.2810), carries the
 * metadata llama.cpp's own converter wrote into default-IQ1_S.gguf (tokens, token types,
 * merges, hyperparameters: value for value), and Q8_0 tensors read back as ggml dequantizes
 * them; a type qharness cannot write leaves no file. */
START_TEST(convert_writes_what_llama_cpp_writes)
{
    char *dir = tu_tmpdir(), out[4300], args[9000], *o;
    snprintf(out, sizeof out, "%s/default-f32.gguf", dir);
    cli_convert("default", out, NULL);
    qh_gguf *mine, *theirs;
    qh_err err;
    char *iq1 = tu_shared_path("golden/gguf/default-IQ1_S.gguf");
    ck_assert_msg(qh_gguf_open(out, &mine, &err) == 0, "%s", err.msg);
    ck_assert_msg(qh_gguf_open(iq1, &theirs, &err) == 0, "%s", err.msg);
    static const char *keys[] = {"general.architecture", "gpt2.block_count", "gpt2.context_length", "gpt2.embedding_length",
                                 "gpt2.feed_forward_length", "gpt2.attention.head_count", "gpt2.attention.layer_norm_epsilon",
                                 "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                                 "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                 "tokenizer.ggml.add_bos_token", "general.name"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) tu_same_gguf_kv(mine, theirs, keys[i]);
    ck_assert_uint_eq(mine->n_tensors, theirs->n_tensors);
    for (uint64_t i = 0; i < mine->n_tensors; i++) { /* the same names and shapes */
        const qh_gguf_tensor *a = &mine->tensors[i], *b = qh_gguf_tensor_find(theirs, a->name);
        ck_assert_msg(b && a->n_dims == b->n_dims && a->ne[0] == b->ne[0] && a->ne[1] == b->ne[1], "%s", a->name);
        ck_assert_uint_eq(a->offset % 32, 0);
    }
    qh_gguf_close(mine);
    qh_gguf_close(theirs);
    struct { const char *protocol; double want; } ppl[] = {{"--protocol llama-cpp --chunks 64", 441.57287629864254},
                                                          {"--max-tokens 16384", 454.2810}};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "ppl %s wikitext2-test --ctx 256 %s --json", out, ppl[k].protocol);
        ck_assert_int_eq(tu_run_cli_stdout(args, &o), 0);
        cJSON *j = cJSON_Parse(o);
        double v = cJSON_GetObjectItem(j, "ppl")->valuedouble;
        ck_assert_msg(fabs(v / ppl[k].want - 1) < 5e-4, "%s: %.4f vs %.4f", ppl[k].protocol, v, ppl[k].want);
        fprintf(stderr, "gguf: convert F32, %s: ppl %.4f (reference %.4f)\n", ppl[k].protocol, v, ppl[k].want);
        cJSON_Delete(j);
        free(o);
    }
    /* Q8_0: the file's tensors are ggml's Q8_0 of the model's weights */
    snprintf(out, sizeof out, "%s/default-q8.gguf", dir);
    cli_convert("default", out, "Q8_0");
    ck_assert_msg(qh_gguf_open(out, &mine, &err) == 0, "%s", err.msg);
    const qh_gguf_tensor *t = qh_gguf_tensor_find(mine, "blk.2.ffn_up.weight");
    ck_assert(t && t->type == 8 && t->bytes == 256 * 1024 / 32 * 34);
    qh_model *m = tu_default_model(0);
    const qh_tensor *w = NULL;
    for (int k = 0; k < m->n_tensors; k++)
        if (strcmp(m->tensors[k].name, "h.2.mlp.c_fc.weight") == 0) w = &m->tensors[k];
    float row[256], back[256];
    uint8_t blocks[8 * 34];
    for (int i = 0; i < 256; i++) row[i] = w->data[(size_t)i * 1024 + 7]; /* row 7 of (out, in) */
    qh_ggml_quantize(qh_ggml_type_by_name("Q8_0"), row, blocks, 256);
    ck_assert(memcmp(blocks, t->data + 7 * 8 * 34, sizeof blocks) == 0);
    qh_ggml_dequantize(qh_ggml_type_by_name("Q8_0"), t->data + 7 * 8 * 34, back, 256);
    double err2 = 0, norm2 = 0; /* and it is close: Q8_0 keeps ~0.4% of a row's norm as error */
    for (int i = 0; i < 256; i++) err2 += (back[i] - row[i]) * (back[i] - row[i]), norm2 += row[i] * row[i];
    ck_assert_msg(sqrt(err2 / norm2) < 0.01, "Q8_0 relative error %g", sqrt(err2 / norm2));
    qh_gguf_close(mine);
    /* MXFP4: llama.cpp's file type 38, the tensors ggml's MXFP4 of the weights (its writer is held
     * to gguf-py by fp4_types_equal_gguf_py) */
    snprintf(out, sizeof out, "%s/default-mxfp4.gguf", dir);
    cli_convert("default", out, "MXFP4");
    ck_assert_msg(qh_gguf_open(out, &mine, &err) == 0, "%s", err.msg);
    int64_t file_type;
    ck_assert_int_eq(qh_gguf_get_int(mine, "general.file_type", &file_type, &err), 0);
    ck_assert_int_eq((int)file_type, 38);
    t = qh_gguf_tensor_find(mine, "blk.2.ffn_up.weight");
    ck_assert(t && t->type == 39 && t->bytes == 256 * 1024 / 32 * 17);
    uint8_t mx[8 * 17];
    qh_ggml_quantize(qh_ggml_type_by_name("MXFP4"), row, mx, 256);
    ck_assert(memcmp(mx, t->data + 7 * 8 * 17, sizeof mx) == 0);
    qh_gguf_close(mine);
    qh_model_free(m);
    /* refused: nothing written */
    snprintf(out, sizeof out, "%s/q4k.gguf", dir);
    snprintf(args, sizeof args, "convert default -o %s --type Q4_K", out);
    ck_assert_int_eq(tu_run_cli(args, &o), 1);
    ck_assert_msg(strstr(o, "--type Q4_K: qharness writes F32, F16, BF16, Q8_0, Q4_0 or MXFP4"), "%s", o);
    free(o);
    struct stat st;
    ck_assert(stat(out, &st) != 0);
    free(iq1);
    free(dir);
}
END_TEST

/* qharness convert of stories260K (llama2.c files): every tensor byte-identical to the file
 * llama.cpp's convert-llama2c wrote from the same checkpoint, its vocabulary (pieces, scores,
 * token types) and hyperparameters value for value (not llama.context_length: llama.cpp's
 * converter writes its --ctx default of 128, the checkpoint says 512), and the written file
 * scores TinyStories to the same bits as the llama2.c files. */
/* The types convert writes are spelled in its option row and in the command list beside the
 * writer's table: all three say the same. */
START_TEST(convert_usage_lists_the_written_types)
{
    const char *types = qh_gguf_write_types("|", "|");
    const qh_cli_opt *o = qh_cmd_convert_options;
    while (o->name && strcmp(o->name, "type") != 0) o++;
    ck_assert_ptr_nonnull(o->name);
    ck_assert_str_eq(o->arg, types);
    char *out, want[160];
    ck_assert_int_eq(tu_run_cli("convert --help", &out), 0);
    snprintf(want, sizeof want, "[--type %s]\n", types);
    ck_assert_msg(strstr(out, want), "'%s' not in qharness convert --help:\n%s", want, out);
    free(out);
    ck_assert_str_eq(qh_gguf_write_types(", ", " or "), "F32, F16, BF16, Q8_0, Q4_0 or MXFP4");
}
END_TEST

START_TEST(convert_writes_llama_as_llama_cpp_converts_it)
{
    char *dir = tu_tmpdir(), out[4300], args[9000], *o;
    snprintf(out, sizeof out, "%s/stories260K-f32.gguf", dir);
    cli_convert("stories260K", out, NULL);
    qh_gguf *mine, *theirs;
    qh_err err;
    char *ref = tu_shared_path("golden/gguf/stories260K-f32.gguf");
    ck_assert_msg(qh_gguf_open(out, &mine, &err) == 0, "%s", err.msg);
    ck_assert_msg(qh_gguf_open(ref, &theirs, &err) == 0, "%s", err.msg);
    static const char *keys[] = {"general.architecture", "llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
                                 "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
                                 "llama.attention.layer_norm_rms_epsilon", "tokenizer.ggml.model", "tokenizer.ggml.tokens",
                                 "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.unknown_token_id",
                                 "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) tu_same_gguf_kv(mine, theirs, keys[i]);
    ck_assert_uint_eq(mine->n_tensors, theirs->n_tensors);
    for (uint64_t i = 0; i < mine->n_tensors; i++) {
        const qh_gguf_tensor *a = &mine->tensors[i], *b = qh_gguf_tensor_find(theirs, a->name);
        ck_assert_msg(b && a->n_dims == b->n_dims && a->ne[0] == b->ne[0] && a->ne[1] == b->ne[1] && a->type == b->type, "%s", a->name);
        ck_assert_msg(a->bytes == b->bytes && memcmp(a->data, b->data, a->bytes) == 0, "tensor %s differs from llama.cpp's", a->name);
    }
    qh_gguf_close(mine);
    qh_gguf_close(theirs);
    char *bin = tu_shared_path("models/stories260K"), *txt = tu_shared_path("data/tinystories/valid_first1000.txt");
    double ppl[2];
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "ppl %s %s --protocol llama-cpp --ctx 256 --max-tokens 8192 --json", k ? out : bin, txt);
        ck_assert_int_eq(tu_run_cli_stdout(args, &o), 0);
        cJSON *j = cJSON_Parse(o);
        ck_assert_msg(j != NULL, "%s", o);
        ppl[k] = cJSON_GetObjectItem(j, "ppl")->valuedouble;
        cJSON_Delete(j);
        free(o);
    }
    ck_assert_msg(ppl[0] == ppl[1], "llama2.c files %.6f, the written GGUF %.6f", ppl[0], ppl[1]);
    /* Q8_0: rows of 64 are quantized, ffn_down's rows of 172 (not a multiple of 32) stay F32 */
    snprintf(out, sizeof out, "%s/stories260K-q8.gguf", dir);
    cli_convert("stories260K", out, "Q8_0");
    ck_assert_msg(qh_gguf_open(out, &mine, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(qh_gguf_tensor_find(mine, "blk.0.attn_q.weight")->type, 8);
    ck_assert_int_eq(qh_gguf_tensor_find(mine, "blk.0.ffn_down.weight")->type, 0);
    qh_gguf_close(mine);
    qh_model *m;
    ck_assert_msg(qh_model_load(out, &m, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m->cfg.arch, QH_ARCH_LLAMA);
    qh_model_free(m);
    free(bin);
    free(txt);
    free(ref);
    free(dir);
}
END_TEST

/* sum of x_j^2 of one captured input of block 0 */
typedef struct {
    int which;
    double *sum;
    long rows;
} sq_capture;

static void capture_squares(void *ud, int layer, int which, const float *x, int rows, int cols)
{
    sq_capture *c = ud;
    if (layer != 0 || which != c->which) return;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) c->sum[j] += (double)x[(size_t)r * cols + j] * x[(size_t)r * cols + j];
    c->rows += rows;
}

/* llama.cpp's importance matrix: the header and trailer as llama-imatrix wrote them, and its
 * values equal to E[x^2] of block 0's inputs computed here on the same text (gutenberg calib,
 * 128 chunks of 256 from the start); a damaged file names the entry and byte. */
START_TEST(imatrix_file_is_read_and_means_what_it_says)
{
    char *path = tu_shared_path("golden/gguf/imatrix-gutenberg-calib.dat");
    qh_imatrix im;
    qh_err err;
    ck_assert_msg(qh_imatrix_load(path, &im, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(im.n_entries, 24);
    ck_assert_int_eq(im.chunks, 128);
    ck_assert_str_eq(im.dataset, "gutenberg-calib.txt");
    const qh_imatrix_entry *qkv = qh_imatrix_find(&im, "blk.0.attn_qkv.weight"), *up = qh_imatrix_find(&im, "blk.0.ffn_up.weight");
    ck_assert(qkv && up && qkv->nval == 256 && qkv->ncall == 128 && qh_imatrix_find(&im, "blk.5.ffn_down.weight")->nval == 1024);
    qh_model *m = tu_default_model(0);
    qh_tokenizer *tok = tu_default_tokenizer();
    qh_text text;
    ck_assert_msg(qh_text_load("gutenberg-calib", &text, &err) == 0, "%s", err.msg);
    int *ids;
    size_t n;
    ck_assert_int_eq(qh_encode(tok, text.path, text.text, text.len, &ids, &n, &err), 0);
    ck_assert(n >= 128 * 256);
    const qh_imatrix_entry *want[2] = {qkv, up};
    int which[2] = {0, 2}; /* QH_IN_ATTN, QH_IN_FC: ln_1 and ln_2 outputs */
    for (int k = 0; k < 2; k++) {
        double sum[256] = {0};
        sq_capture cap = {which[k], sum, 0};
        qh_workspace ws;
        qh_workspace_init(&ws, &m->cfg, 8, 256);
        for (int c0 = 0; c0 < 128; c0 += 8) {
            qh_embed(m, ids + (size_t)c0 * 256, 8, 256, &ws);
            qh_block_forward(m, 0, 8, 256, &ws, capture_squares, &cap);
        }
        qh_workspace_free(&ws);
        ck_assert_int_eq(cap.rows, 128 * 256);
        double worst = 0;
        for (int j = 0; j < 256; j++) {
            double ours = sum[j] / cap.rows, theirs = want[k]->values[j] / want[k]->ncall;
            worst = fmax(worst, fabs(ours / theirs - 1));
        }
        ck_assert_msg(worst < 1e-3, "%s: E[x^2] differs by %.3g (relative) from the file", want[k]->name, worst);
        fprintf(stderr, "gguf: imatrix %s: E[x^2] within %.2g of qharness's own\n", want[k]->name, worst);
    }
    free(ids);
    qh_text_free(&text);
    qh_tokenizer_free(tok);
    qh_model_free(m);
    qh_imatrix_free(&im);
    /* damaged: truncated inside the values of the first entry, and a negative value */
    char *data;
    size_t len;
    ck_assert_int_eq(qh_read_file(path, &data, &len, &err), 0);
    char *dir = tu_tmpdir(), bad[4300];
    snprintf(bad, sizeof bad, "%s/bad.dat", dir);
    ck_assert_int_eq(qh_write_file(bad, data, 500, &err), 0);
    ck_assert_int_eq(qh_imatrix_load(bad, &im, &err), -1);
    ck_assert_msg(strstr(err.msg, "bad.dat: byte 29: entry 'blk.4.ffn_down.weight': bad counts"), "%s", err.msg);
    float neg = -1;
    qh_imatrix_free(&im);
    ck_assert_int_eq(qh_imatrix_load(path, &im, &err), 0);
    qh_imatrix_free(&im);
    memcpy(data + 37, &neg, 4); /* value 0 of the first entry: 4 + 4 + 21 + 8 */
    ck_assert_int_eq(qh_write_file(bad, data, len, &err), 0);
    ck_assert_int_eq(qh_imatrix_load(bad, &im, &err), -1);
    ck_assert_msg(strstr(err.msg, "byte 37: entry 'blk.4.ffn_down.weight': value 0 is -1"), "%s", err.msg);
    free(data);
    /* as calibration statistics: the run says which; gptq, which needs the full Hessian, refuses */
    char args[9000], *out;
    snprintf(args, sizeof args, "ppl default wikitext2-test --max-tokens 512 --method \"lowrank rank=8 weighted=1 + binary\" --imatrix %s",
             path);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    ck_assert_msg(strstr(out, "calibration  llama.cpp importance matrix imatrix-gutenberg-calib.dat (sha256 5a7180fcc942; 128 chunks "
                              "of gutenberg-calib.txt; diagonal E[x^2] only)"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "ppl default wikitext2-test --max-tokens 512 --method gptq --imatrix %s", path);
    ck_assert_int_eq(tu_run_cli(args, &out), 1);
    ck_assert_msg(strstr(out, "an importance matrix holds its diagonal only"), "%s", out);
    free(out);
    free(dir);
    free(path);
}
END_TEST

/* A packed file quantized from a GGUF model finds its tokenizer in that file (its source is a
 * file, not a directory), and scores what the in-memory quantization scores. */
START_TEST(packed_from_a_gguf_file_loads_with_its_vocabulary)
{
    char *src = tu_shared_path("golden/gguf/default-Q4_K-pure.gguf"), *dir = tu_tmpdir(), *packed = qh_path_join(dir, "q.safetensors");
    char args[8192], *out, *direct;
    snprintf(args, sizeof args, "quantize %s --method \"rtn bits=4 group=64\" -o %s", src, packed);
    ck_assert_msg(tu_run_cli(args, &out) == 0, "%s", out);
    free(out);
    snprintf(args, sizeof args, "ppl %s wikitext2-test --max-tokens 512 --json", packed);
    ck_assert_msg(tu_run_cli_stdout(args, &out) == 0, "%s", out);
    snprintf(args, sizeof args, "ppl %s wikitext2-test --max-tokens 512 --json --method \"rtn bits=4 group=64\"", src);
    ck_assert_msg(tu_run_cli_stdout(args, &direct) == 0, "%s", direct);
    char *a = strstr(out, "\"ppl\""), *b = strstr(direct, "\"ppl\"");
    ck_assert_msg(a && b && strtod(a + 6, NULL) == strtod(b + 6, NULL), "packed %s\nin memory %s", out, direct);
    free(out);
    free(direct);
    free(packed);
    free(dir);
    free(src);
}
END_TEST

Suite *suite_gguf(void)
{
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("read");
    tcase_add_test(tc, every_metadata_type);
    tcase_add_test(tc, every_type_dequantizes_like_llama_cpp);
    tcase_add_test(tc, fp4_types_equal_gguf_py);
    tcase_add_test(tc, writers_give_llama_quantize_bytes);
    tcase_add_test(tc, bad_files_name_the_place);
    tcase_add_test(tc, ledger_of_the_iq1_s_file);
    tcase_add_test(tc, tokenizer_from_gguf_metadata);
    tcase_add_test(tc, gguf_files_as_models_match_the_reference);
    tcase_add_test(tc, llama_cpp_protocol_matches_llama_perplexity);
    tcase_add_test(tc, a_gguf_file_as_a_sweep_configuration);
    tcase_add_test(tc, kld_matches_llama_perplexity_kl_divergence);
    tcase_add_test(tc, convert_writes_what_llama_cpp_writes);
    tcase_add_test(tc, convert_writes_llama_as_llama_cpp_converts_it);
    tcase_add_test(tc, convert_usage_lists_the_written_types);
    tcase_add_test(tc, imatrix_file_is_read_and_means_what_it_says);
    tcase_add_test(tc, packed_from_a_gguf_file_loads_with_its_vocabulary);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}
