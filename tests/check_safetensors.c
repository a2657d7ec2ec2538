/* check_safetensors.c - the reader accepts what the writer writes and rejects every kind of
 * corrupt file with a message naming the file and the problem. */
#include <stdlib.h>
#include <string.h>

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

Suite *suite_safetensors(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, truncated_and_garbage);
    tcase_add_test(tc, bad_entries);
    tcase_add_test(tc, overlapping_tensors);
    suite_add_tcase(s, tc);
    return s;
}
