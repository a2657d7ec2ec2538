/* check_safetensors.c - the reader accepts what the writer writes and rejects every kind of
 * corrupt file with a message naming the file and the problem. */
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "harness/formats/gptq.h"
#include "tests/testutil.h"

/* Writes an 8-byte length, the header text, then data_len zero bytes. */
static void write_raw(const char *path, const char *header, size_t data_len, long long declared_len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    uint64_t h = declared_len >= 0 ? (uint64_t)declared_len : strlen(header);
    for (int i = 0; i < 8; i++) fputc((int)(h >> (8 * i)) & 0xff, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_len; i++) fputc(0, f);
    fclose(f);
}

static char *expect_error(const char *header, size_t data_len, long long declared)
{
    char *dir = tu_tmpdir(), *path = qh_path_join(dir, "x.safetensors");
    write_raw(path, header, data_len, declared);
    qh_safetensors st;
    qh_err err;
    ck_assert_int_eq(qh_st_open(path, &st, &err), -1);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "message does not name the file: %s", err.msg);
    free(path);
    free(dir);
    return qh_strdup(err.msg);
}

#define ASSERT_ERROR(HEADER, DATA_LEN, DECLARED, NEEDLE)                                        \
    do {                                                                                       \
        char *msg = expect_error(HEADER, DATA_LEN, DECLARED);                                  \
        ck_assert_msg(strstr(msg, NEEDLE), "'%s' lacks '%s'", msg, NEEDLE);                    \
        free(msg);                                                                             \
    } while (0)

START_TEST(round_trip)
{
    char *dir = tu_tmpdir(), *path = qh_path_join(dir, "ok.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t b[3] = {qh_f32_to_f16(0.5f), qh_f32_to_f16(-2.0f), qh_f32_to_f16(3.25f)};
    uint8_t c[5] = {1, 2, 3, 4, 5};
    qh_st_entry e[3] = {{"a", QH_DT_F32, 2, {2, 3}, a, sizeof a},
                        {"b", QH_DT_F16, 1, {3}, b, sizeof b},
                        {"c.codes", QH_DT_U8, 1, {5}, c, sizeof c}};
    const char *k[] = {"method"}, *v[] = {"rtn bits=3"};
    qh_err err;
    ck_assert_int_eq(qh_st_write(path, e, 3, k, v, 1, &err), 0);
    qh_safetensors st;
    ck_assert_msg(qh_st_open(path, &st, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(st.n_tensors, 3);
    ck_assert_str_eq(qh_st_meta(&st, "method"), "rtn bits=3");
    ck_assert_uint_eq(st.data_start % 8, 0);
    float out[6];
    ck_assert_int_eq(qh_st_to_f32(&st, qh_st_find(&st, "a"), out, &err), 0);
    ck_assert_float_eq(out[5], 6.0f);
    ck_assert_int_eq(qh_st_to_f32(&st, qh_st_find(&st, "b"), out, &err), 0);
    ck_assert_float_eq(out[2], 3.25f);
    const qh_st_tensor *ct = qh_st_find(&st, "c.codes");
    ck_assert_int_eq(ct->dtype, QH_DT_U8);
    ck_assert_uint_eq(ct->data[4], 5);
    ck_assert_int_eq(qh_st_to_f32(&st, ct, out, &err), -1); /* codes are not weights */
    ck_assert_msg(strstr(err.msg, "dtype U8; weights must be F32, F16 or BF16"), "%s", err.msg);
    qh_st_close(&st);
    free(path);
    free(dir);
}
END_TEST

START_TEST(truncated_and_garbage)
{
    ASSERT_ERROR("", 0, 1000, "header length 1000 runs past end of file");
    ASSERT_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, -1,
                 "tensor 'a' runs past end of file (offset 16 > data size 8)");
    ASSERT_ERROR("{\"a\": [1, 2", 0, -1, "header is not a valid JSON object");
    ASSERT_ERROR("[1, 2, 3]", 0, -1, "header is not a valid JSON object");
    /* a file shorter than the length prefix */
    char *dir = tu_tmpdir(), *path = qh_path_join(dir, "short.safetensors");
    qh_err err;
    ck_assert_int_eq(qh_write_file(path, "abc", 3, &err), 0);
    qh_safetensors st;
    ck_assert_int_eq(qh_st_open(path, &st, &err), -1);
    ck_assert_msg(strstr(err.msg, "truncated: 3 bytes"), "%s", err.msg);
    ck_assert_int_eq(qh_st_open("/nonexistent/x.safetensors", &st, &err), -1);
    ck_assert_msg(strstr(err.msg, "/nonexistent/x.safetensors: cannot open"), "%s", err.msg);
    free(path);
    free(dir);
}
END_TEST

START_TEST(bad_entries)
{
    ASSERT_ERROR("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, -1,
                 "tensor 'a': unknown dtype 'Q7'");
    ASSERT_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1,
                 "tensor 'a': shape needs 12 bytes of F32 but data_offsets give 8");
    ASSERT_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, -1,
                 "data_offsets must be two integers with begin <= end");
    ASSERT_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, -1,
                 "shape entry 0 is not a non-negative integer");
    ASSERT_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, -1, "needs dtype, shape and two data_offsets");
    ASSERT_ERROR("{\"__metadata__\":{\"k\":5}}", 0, -1, "__metadata__ value 'k' is not a string");
}
END_TEST

START_TEST(overlapping_tensors)
{
    ASSERT_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                 16, -1, "tensors 'a' and 'b' overlap (bytes 0-16 and 8-16)");
}
END_TEST

/* GPTQ layers as AutoGPTQ 0.7.1 packs them (tools/peers/gptq_reference.py: its own GPTQ on a
 * slice of SmolLM2's weights, its own QuantLinear.pack, its own forward on the identity): every
 * variant -- 2, 3 (codes straddling words), 4 and 8 bits; groups of 32 and 64, one group a
 * column, act-order's permuted g_idx; symmetric and not -- dequantizes to the tool's F16 bits,
 * every one of 576 x 64. */
START_TEST(gptq_dequantizes_as_autogptq)
{
    char *path = tu_home_path("tests/data/gptq/autogptq.safetensors");
    cJSON *meta = tu_read_json("tests/data/gptq/autogptq.json"), *v;
    qh_safetensors st;
    qh_err err;
    ck_assert_msg(qh_st_open(path, &st, &err) == 0, "%s", err.msg);
    int variants = 0, seen_bits[9] = {0};
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(meta, "variants"))
    {
        const char *name = cJSON_GetObjectItem(v, "name")->valuestring;
        const qh_st_tensor *t[5];
        static const char *const parts[] = {"qweight", "qzeros", "scales", "g_idx", "dequant"};
        static const qh_dtype types[] = {QH_DT_I32, QH_DT_I32, QH_DT_F16, QH_DT_I32, QH_DT_F16};
        for (int k = 0; k < 5; k++) {
            char tn[64];
            snprintf(tn, sizeof tn, "%s.%s", name, parts[k]);
            t[k] = qh_st_find(&st, tn);
            ck_assert_msg(t[k] && t[k]->dtype == types[k], "%s", tn);
        }
        qh_gptq_layout l = {.bits = cJSON_GetObjectItem(v, "bits")->valueint, .in = (int)t[3]->shape[0], .out = (int)t[2]->shape[1],
                            .n_groups = (int)t[2]->shape[0], .zeros_minus_one = 1};
        ck_assert_int_eq(t[4]->shape[0], l.in);
        ck_assert_int_eq(t[4]->shape[1], l.out);
        size_t n = (size_t)l.in * l.out;
        uint16_t *w = malloc(n * sizeof *w);
        ck_assert_msg(qh_gptq_dequantize(&l, (const int32_t *)t[0]->data, (const int32_t *)t[1]->data, (const uint16_t *)t[2]->data,
                                         (const int32_t *)t[3]->data, w, &err) == 0, "%s: %s", name, err.msg);
        size_t differ = 0, first = n;
        const uint16_t *want = (const uint16_t *)t[4]->data;
        for (size_t i = 0; i < n; i++)
            if (w[i] != want[i]) differ++, first = first < n ? first : i;
        ck_assert_msg(differ == 0, "%s: %zu of %zu weights differ from AutoGPTQ's, the first at input %zu output %zu", name, differ, n,
                      first / l.out, first % l.out);
        free(w);
        seen_bits[l.bits] = 1;
        variants++;
    }
    ck_assert_int_eq(variants, 7);
    ck_assert(seen_bits[2] && seen_bits[3] && seen_bits[4] && seen_bits[8]);
    /* what is not a layout, and a g_idx that names no group, are refused by name */
    const qh_st_tensor *q = qh_st_find(&st, "b4g64.qweight"), *z = qh_st_find(&st, "b4g64.qzeros"), *s = qh_st_find(&st, "b4g64.scales");
    int32_t *g = calloc(576, sizeof *g);
    uint16_t *w = malloc((size_t)576 * 64 * sizeof *w);
    qh_gptq_layout bad = {.bits = 5, .in = 576, .out = 64, .n_groups = 9, .zeros_minus_one = 1};
    ck_assert_int_ne(qh_gptq_dequantize(&bad, (const int32_t *)q->data, (const int32_t *)z->data, (const uint16_t *)s->data, g, w, &err), 0);
    ck_assert_msg(strstr(err.msg, "5 bits"), "%s", err.msg);
    bad.bits = 4;
    g[100] = 9;
    ck_assert_int_ne(qh_gptq_dequantize(&bad, (const int32_t *)q->data, (const int32_t *)z->data, (const uint16_t *)s->data, g, w, &err), 0);
    ck_assert_msg(strstr(err.msg, "g_idx[100] is 9"), "%s", err.msg);
    free(g);
    free(w);
    qh_st_close(&st);
    cJSON_Delete(meta);
    free(path);
}
END_TEST

Suite *suite_safetensors(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, truncated_and_garbage);
    tcase_add_test(tc, bad_entries);
    tcase_add_test(tc, overlapping_tensors);
    tcase_add_test(tc, gptq_dequantizes_as_autogptq);
    suite_add_tcase(s, tc);
    return s;
}
