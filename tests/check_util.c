/* check_util.c - sha256 against FIPS 180-4 vectors, hash maps, half-precision conversions,
 * the fast exp used in the hot loops; the include rule of the source tree (tools/floors.sh). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/forward.h"
#include "tests/testutil.h"


/* Stored model paths are shown relative to the project they came from. */
START_TEST(display_paths_relative_to_the_project)
{
    char buf[4096], *home_model = qh_path_join(qh_home(), "models/gpt2-gutenberg-18m");
    qh_display_path(home_model, buf, sizeof buf);
    ck_assert_str_eq(buf, "models/gpt2-gutenberg-18m");
    qh_display_path("/another/machine/checkout/models/gpt2-gutenberg-18m", buf, sizeof buf);
    ck_assert_str_eq(buf, "models/gpt2-gutenberg-18m");
    qh_display_path("/data/models/not-one-of-ours", buf, sizeof buf);
    ck_assert_str_eq(buf, "/data/models/not-one-of-ours");
    qh_display_path("/data/gpt2", buf, sizeof buf);
    ck_assert_str_eq(buf, "/data/gpt2");
    /* a model fetched at set-up (models/smollm2 ships its card and manifest; model.gguf is fetched) */
    qh_display_path("/another/machine/checkout/models/smollm2/model.gguf", buf, sizeof buf);
    ck_assert_str_eq(buf, "models/smollm2/model.gguf");
    qh_display_path("/data/models/not-one-of-ours/model.gguf", buf, sizeof buf);
    ck_assert_str_eq(buf, "/data/models/not-one-of-ours/model.gguf");
    qh_display_path("/x/models/smollm2/deeper/model.gguf", buf, sizeof buf);
    ck_assert_str_eq(buf, "/x/models/smollm2/deeper/model.gguf");
    free(home_model);
}
END_TEST
START_TEST(sha256_vectors)
{
    char hex[65];
    qh_sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    qh_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    qh_sha256_hex(two, strlen(two), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in odd-sized pieces to exercise the buffering */
    qh_sha256_ctx c;
    qh_sha256_init(&c);
    char chunk[997];
    memset(chunk, 'a', sizeof chunk);
    size_t left = 1000000;
    while (left) {
        size_t k = left < sizeof chunk ? left : sizeof chunk;
        qh_sha256_update(&c, chunk, k);
        left -= k;
    }
    uint8_t d[32];
    qh_sha256_final(&c, d);
    ck_assert_uint_eq(d[0], 0xcd);
    ck_assert_uint_eq(d[1], 0xc7);
    ck_assert_uint_eq(d[31], 0xd0);
}
END_TEST

START_TEST(sha256_of_shipped_model_matches_its_card)
{
    char *p = tu_home_path("models/gpt2-gutenberg-18m/config.json"), hex[65];
    qh_err err;
    ck_assert_int_eq(qh_sha256_file(p, hex, &err), 0);
    ck_assert_str_eq(hex, "979f05c14581b821c153eff302333e0077ef19b3cb52ec0c0e4aa9abc9617ffa");
    free(p);
}
END_TEST

START_TEST(strmap_and_u64map)
{
    qh_strmap m;
    qh_strmap_init(&m, 4);
    char key[16];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        qh_strmap_put(&m, key, (size_t)n, i * 3);
    }
    qh_strmap_put(&m, "a\0b", 3, 77); /* embedded NUL */
    int v;
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        ck_assert(qh_strmap_get(&m, key, (size_t)n, &v));
        ck_assert_int_eq(v, i * 3);
    }
    ck_assert(qh_strmap_get(&m, "a\0b", 3, &v));
    ck_assert_int_eq(v, 77);
    ck_assert(!qh_strmap_get(&m, "a", 1, &v));
    ck_assert_uint_eq(m.count, 5001);
    qh_strmap_free(&m);

    qh_u64map u;
    qh_u64map_init(&u, 2);
    for (uint64_t i = 1; i < 10000; i++) qh_u64map_put(&u, i * 7919, i);
    uint64_t x;
    for (uint64_t i = 1; i < 10000; i++) {
        ck_assert(qh_u64map_get(&u, i * 7919, &x));
        ck_assert_uint_eq(x, i);
    }
    ck_assert(!qh_u64map_get(&u, 3, &x));
    qh_u64map_free(&u);
}
END_TEST

START_TEST(half_conversions)
{
    /* every finite f16 survives f16 -> f32 -> f16 exactly */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        float f = qh_f16_to_f32((uint16_t)h);
        ck_assert_uint_eq(qh_f32_to_f16(f), h);
    }
    ck_assert_float_eq(qh_f16_to_f32(0x3c00), 1.0f);
    ck_assert_float_eq(qh_f16_to_f32(0xc000), -2.0f);
    ck_assert_float_eq(qh_f16_to_f32(0x7bff), 65504.0f);
    ck_assert_float_eq(qh_f16_to_f32(0x0001), ldexpf(1.0f, -24)); /* smallest subnormal */
    ck_assert_uint_eq(qh_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00); /* tie to even */
    ck_assert_uint_eq(qh_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
    ck_assert_uint_eq(qh_f32_to_f16(1e6f), 0x7c00);                   /* overflow to inf */
    ck_assert_float_eq(qh_bf16_to_f32(qh_f32_to_bf16(1.5f)), 1.5f);
    ck_assert_uint_eq(qh_f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80); /* tie to even */
    ck_assert_uint_eq(qh_f32_to_bf16(1.0f + 3 * ldexpf(1.0f, -8)), 0x3f82);
}
END_TEST

START_TEST(fast_exp_accuracy)
{
    double worst = 0;
    for (float x = -80.0f; x < 80.0f; x += 0.00731f) {
        double rel = fabs(qh_fast_expf(x) - exp((double)x)) / exp((double)x);
        if (rel > worst) worst = rel;
    }
    ck_assert_msg(worst < 5e-7, "worst relative error %g", worst);
    ck_assert_float_eq(qh_fast_expf(0.0f), 1.0f);
}
END_TEST

/* The tree keeps its floors, and the check would see it if it did not: an include that points
 * upward and one that is not a path from the repository root each fail it, naming the line. */
START_TEST(floors_refuse_an_upward_include)
{
    char *home = tu_home_path("tools/floors.sh"), *out, cmd[8192];
    snprintf(cmd, sizeof cmd, "%s 2>&1", home);
    int rc = tu_run_shell(cmd, &out);
    ck_assert_msg(rc == 0 && strstr(out, "none upward"), "rc %d:\n%s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "harness/base "));
    free(out);

    char *dir = tu_tmpdir();
    snprintf(cmd, sizeof cmd, "cd %s && mkdir -p harness/base harness/model harness/cli && : > harness/cli/cli.h && "
             ": > harness/model/model.h && printf '#include \"harness/model/model.h\"\\n' > harness/cli/ok.c && "
             "printf '/* low */\\n#include \"harness/cli/cli.h\"\\n' > harness/base/util.c && "
             "printf '#include \"model.h\"\\n' > harness/model/forward.c && %s %s 2>&1", dir, home, dir);
    rc = tu_run_shell(cmd, &out);
    ck_assert_msg(rc == 1, "rc %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "harness/base/util.c:2: includes harness/cli/cli.h: harness/cli is above harness/base"), "%s", out);
    ck_assert_msg(strstr(out, "harness/model/forward.c:1: includes \"model.h\", which is not a path from the repository root"), "%s", out);
    ck_assert_msg(!strstr(out, "ok.c"), "a downward include refused:\n%s", out);
    ck_assert_ptr_nonnull(strstr(out, "floors: 2 include(s) break the rule"));
    free(out);
    free(dir);
    free(home);
}
END_TEST

Suite *suite_util(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, display_paths_relative_to_the_project);
    tcase_add_test(tc, sha256_vectors);
    tcase_add_test(tc, sha256_of_shipped_model_matches_its_card);
    tcase_add_test(tc, strmap_and_u64map);
    tcase_add_test(tc, half_conversions);
    tcase_add_test(tc, fast_exp_accuracy);
    tcase_add_test(tc, floors_refuse_an_upward_include);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
