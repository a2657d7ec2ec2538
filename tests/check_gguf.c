/* check_gguf.c - the GGUF reader and the ggml type table against files llama.cpp wrote
 * (../shared/golden/gguf), and bad files made here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/ggml_types.h"
#include "harness/gguf.h"
#include "testutil.h"

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

Suite *suite_gguf(void)
{
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("read");
    tcase_add_test(tc, every_metadata_type);
    tcase_add_test(tc, every_type_dequantizes_like_llama_cpp);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
