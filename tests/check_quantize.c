/* check_quantize.c - whole-model quantization: the bpp identity against the bytes of the
 * written file, scope patterns and overrides, no silent no-ops, kept dtypes, and the packed
 * file's round trip and corruption handling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/model/forward.h"
#include "harness/quantize/packed.h"
#include "harness/quantize/quantize.h"
#include "tests/testutil.h"


static float *hidden_of(const qh_model *m)
{
    int T = 24, tokens[24];
    for (int i = 0; i < T; i++) tokens[i] = (i * 977 + 13) % m->cfg.n_vocab;
    qh_workspace ws;
    qh_workspace_init(&ws, &m->cfg, 1, T);
    qh_forward(m, tokens, 1, T, &ws);
    float *out = qh_malloc((size_t)T * m->cfg.n_embd * sizeof(float));
    memcpy(out, ws.ln, (size_t)T * m->cfg.n_embd * sizeof(float));
    qh_workspace_free(&ws);
    return out;
}

START_TEST(bpp_identity_with_the_written_file)
{
    const char *specs[] = {"rtn bits=3 group=64", "ternary", "outliers frac=0.01 + rtn bits=2 group=128",
                           "magnitude-recovery", "nf4", "nf4 double_quant=1", "nvfp4"};
    char *dir = tu_tmpdir(), *path = qh_path_join(dir, "q.safetensors");
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        qh_model *m = tu_default_model(1);
        qh_quant_opts o;
        qh_quant_opts_init(&o);
        o.spec = specs[s];
        qh_quant_result res;
        qh_err err;
        ck_assert_msg(qh_quantize_model(m, &o, &res, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(res.n_q, 24);
        ck_assert_uint_eq(res.params_quantized, 6 * 12 * 256 * 256);
        ck_assert_uint_eq(res.params_total, 17670400);
        ck_assert_msg(qh_quant_write(path, m, &res, &err) == 0, "%s", err.msg);
        qh_safetensors st;
        ck_assert_int_eq(qh_st_open(path, &st, &err), 0);
        size_t file_bytes = 0, quant_bytes = 0;
        for (int i = 0; i < st.n_tensors; i++) {
            file_bytes += st.tensors[i].nbytes;
            if (strstr(st.tensors[i].name, ".weight.")) quant_bytes += st.tensors[i].nbytes;
        }
        /* the bytes the format gives for these shapes (tu_format_bytes), kept tensors f16 */
        size_t format_bytes = 0;
        for (int q = 0; q < res.n_q; q++) format_bytes += tu_format_bytes(res.q[q].spec, res.q[q].rows, res.q[q].cols);
        ck_assert_uint_eq(quant_bytes, format_bytes);
        ck_assert_uint_eq(file_bytes, format_bytes + 2 * (17670400 - res.params_quantized));
        /* (b) x parameters / 8 == bytes of the tensors in the file; (a) likewise for the scope */
        ck_assert_double_eq_tol(res.bpp_model * 17670400 / 8, (double)file_bytes, 1e-6);
        ck_assert_double_eq_tol(res.bpp_quantized * res.params_quantized / 8, (double)quant_bytes, 1e-6);
        size_t kinds = 0;
        for (int k = 0; k < QH_PART_KINDS; k++) kinds += res.bytes_by_kind[k];
        ck_assert_uint_eq(kinds, res.bytes_quantized);
        ck_assert_uint_eq(res.bytes_kept, (17670400 - res.params_quantized) * 2);
        qh_st_close(&st);
        /* the file decodes to exactly the in-memory quantized model */
        qh_model *back;
        qh_quant_result res2;
        ck_assert_msg(qh_quant_load(path, &back, &res2, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(res2.bytes_total, res.bytes_total);
        ck_assert_double_eq(res2.bpp_quantized, res.bpp_quantized);
        ck_assert_str_eq(res2.spec, res.spec);
        ck_assert_str_eq(res2.source_sha256, "82fb3d52de414ad4f34dccc04920a854be291b8de43780c105289d76e40180a3");
        for (int t = 0; t < m->n_tensors; t++)
            ck_assert_msg(memcmp(m->tensors[t].data, back->tensors[t].data,
                                 (size_t)m->tensors[t].rows * m->tensors[t].cols * 4) == 0,
                          "%s: tensor %s differs after the file round trip", specs[s], m->tensors[t].name);
        float *h1 = hidden_of(m), *h2 = hidden_of(back);
        ck_assert_int_eq(memcmp(h1, h2, 24 * 256 * 4), 0);
        free(h1);
        free(h2);
        qh_quant_result_free(&res2);
        qh_model_free(back);
        qh_quant_result_free(&res);
        qh_model_free(m);
    }
    free(path);
    free(dir);
}
END_TEST

START_TEST(scope_patterns_and_overrides)
{
    qh_model *m = tu_default_model(1);
    qh_quant_opts o;
    qh_quant_opts_init(&o);
    o.spec = "rtn bits=4 group=64";
    o.include[o.n_include++] = "wte.weight";
    o.exclude[o.n_exclude++] = "h.0.*";
    o.override_pattern[o.n_override] = "h.*.mlp.c_proj.weight";
    o.override_spec[o.n_override++] = "rtn bits=8";
    qh_quant_result res;
    qh_err err;
    ck_assert_msg(qh_quantize_model(m, &o, &res, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(res.n_q, 20 + 1); /* blocks 1-5 and the (tied) embedding */
    int saw_wte = 0, eight = 0;
    for (int i = 0; i < res.n_q; i++) {
        ck_assert(strncmp(res.q[i].name, "h.0.", 4) != 0);
        if (strcmp(res.q[i].name, "wte.weight") == 0) {
            saw_wte = 1;
            ck_assert_int_eq(res.q[i].transposed, 0);
            ck_assert_int_eq(res.q[i].rows, 50257);
        } else {
            ck_assert_int_eq(res.q[i].transposed, 1); /* Conv1D (in, out) -> (out, in) */
        }
        if (strstr(res.q[i].name, "mlp.c_proj")) {
            ck_assert_str_eq(res.q[i].spec, "rtn bits=8 group=0 scheme=sym");
            eight++;
        }
    }
    ck_assert(saw_wte);
    ck_assert_int_eq(eight, 5);
    ck_assert_uint_eq(res.params_quantized, 5 * 12 * 65536 + 50257 * 256);
    /* the tied head is the quantized embedding */
    ck_assert_ptr_eq(m->head, m->wte);
    qh_quant_result_free(&res);
    qh_model_free(m);

    struct { const char *inc, *exc, *ov, *msg; } bad[] = {
        {"h.*.attn.c_atn.weight", NULL, NULL, "--include 'h.*.attn.c_atn.weight' matches no tensor"},
        {"ln_f.weight", NULL, NULL, "matches 'ln_f.weight', a 1-D tensor"},
        {NULL, "h.9.*", NULL, "--exclude 'h.9.*' matches no tensor"},
        {NULL, NULL, "h.*.mlp.c_proj.weight", "unknown method 'frob'"},
        {NULL, "h.*", NULL, "nothing to quantize"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        m = tu_default_model(1);
        qh_quant_opts_init(&o);
        o.spec = "rtn bits=4";
        if (bad[i].inc) o.include[o.n_include++] = bad[i].inc;
        if (bad[i].exc) o.exclude[o.n_exclude++] = bad[i].exc;
        if (bad[i].ov) {
            o.override_pattern[o.n_override] = bad[i].ov;
            o.override_spec[o.n_override++] = "frob x=1";
        }
        ck_assert_int_eq(qh_quantize_model(m, &o, &res, &err), -1);
        ck_assert_msg(strstr(err.msg, bad[i].msg), "'%s' lacks '%s'", err.msg, bad[i].msg);
        qh_model_free(m);
    }
}
END_TEST

/* A method that hands back the tensor unchanged at fewer bits than the source is an error:
 * here a weight already on a ternary grid, so ternary "quantization" changes nothing. */
START_TEST(silent_no_op_is_an_error)
{
    char *dir = tu_tmpdir();
    tu_ckpt spec = {.n_layer = 1, .n_head = 2, .n_embd = 16, .n_ctx = 8, .n_vocab = 32, .dtype = QH_DT_F32, .seed = 5};
    tu_write_checkpoint(dir, &spec);
    qh_model *m;
    qh_err err;
    ck_assert_int_eq(qh_model_load(dir, &m, 0, &err), 0);
    qh_tensor *t = qh_model_tensor(m, "h.0.attn.c_proj.weight");
    for (int i = 0; i < 16 * 16; i++) t->data[i] = (i % 3 - 1) * 0.5f;
    qh_quant_opts o;
    qh_quant_opts_init(&o);
    o.spec = "ternary";
    qh_quant_result res;
    ck_assert_int_eq(qh_quantize_model(m, &o, &res, &err), -1);
    ck_assert_msg(strstr(err.msg, "h.0.attn.c_proj.weight: method 'ternary group=0 delta=0.7' left the tensor unchanged"), "%s", err.msg);
    qh_model_free(m);
    /* the lossless baselines are allowed to change nothing */
    ck_assert_int_eq(qh_model_load(dir, &m, 0, &err), 0);
    o.spec = "fp32";
    ck_assert_msg(qh_quantize_model(m, &o, &res, &err) == 0, "%s", err.msg);
    ck_assert_double_eq(res.bpp_quantized, 32.0);
    qh_quant_result_free(&res);
    qh_model_free(m);
    free(dir);
}
END_TEST

START_TEST(kept_dtypes_and_untied_head)
{
    char *dir = tu_tmpdir(), *path = qh_path_join(dir, "p.safetensors");
    tu_ckpt spec = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 8, .n_vocab = 32, .dtype = QH_DT_F32, .seed = 8};
    tu_write_checkpoint(dir, &spec);
    qh_dtype dts[3] = {QH_DT_F16, QH_DT_BF16, QH_DT_F32};
    for (int d = 0; d < 3; d++) {
        qh_model *m;
        qh_err err;
        ck_assert_int_eq(qh_model_load(dir, &m, 0, &err), 0);
        /* an explicit head that differs from wte stays a separate, kept tensor */
        m->head = qh_malloc(32 * 16 * sizeof(float));
        for (int i = 0; i < 32 * 16; i++) m->head[i] = 0.125f * (i % 5);
        m->head_tied = 0;
        m->n_params += 32 * 16;
        qh_quant_opts o;
        qh_quant_opts_init(&o);
        o.spec = "binary";
        o.kept_dtype = dts[d];
        qh_quant_result res;
        ck_assert_msg(qh_quantize_model(m, &o, &res, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(res.bytes_kept, (m->n_params - res.params_quantized) * qh_dtype_size(dts[d]));
        ck_assert_msg(qh_quant_write(path, m, &res, &err) == 0, "%s", err.msg);
        qh_model *back;
        qh_quant_result r2;
        ck_assert_msg(qh_quant_load(path, &back, &r2, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(back->head_tied, 0);
        ck_assert_int_eq(memcmp(back->head, m->head, 32 * 16 * 4), 0);
        ck_assert_uint_eq(back->n_params, m->n_params);
        ck_assert_uint_eq(r2.bytes_total, res.bytes_total);
        for (int t = 0; t < m->n_tensors; t++)
            ck_assert_int_eq(memcmp(m->tensors[t].data, back->tensors[t].data, (size_t)m->tensors[t].rows * m->tensors[t].cols * 4), 0);
        qh_quant_result_free(&r2);
        qh_model_free(back);
        qh_quant_result_free(&res);
        qh_model_free(m);
    }
    free(path);
    free(dir);
}
END_TEST

/* Rewrites a packed file without one tensor, or with other metadata. */
static void rewrite(const char *src, const char *dst, const char *drop, const char *meta)
{
    qh_safetensors st;
    qh_err err;
    ck_assert_int_eq(qh_st_open(src, &st, &err), 0);
    qh_st_entry *e = qh_calloc((size_t)st.n_tensors, sizeof *e);
    int n = 0;
    for (int i = 0; i < st.n_tensors; i++) {
        const qh_st_tensor *t = &st.tensors[i];
        if (drop && strcmp(t->name, drop) == 0) continue;
        e[n] = (qh_st_entry){t->name, t->dtype, t->ndim, {0}, t->data, t->nbytes};
        memcpy(e[n].shape, t->shape, sizeof t->shape);
        n++;
    }
    const char *k[] = {"qharness"}, *v[] = {meta ? meta : qh_st_meta(&st, "qharness")};
    ck_assert_int_eq(qh_st_write(dst, e, n, k, v, 1, &err), 0);
    qh_st_close(&st);
    free(e);
}

START_TEST(corrupt_packed_files)
{
    char *dir = tu_tmpdir(), *good = qh_path_join(dir, "good.safetensors"), *bad = qh_path_join(dir, "bad.safetensors");
    qh_model *m = tu_default_model(1);
    qh_quant_opts o;
    qh_quant_opts_init(&o);
    o.spec = "rtn bits=2 group=64";
    qh_quant_result res;
    qh_err err;
    ck_assert_int_eq(qh_quantize_model(m, &o, &res, &err), 0);
    ck_assert_int_eq(qh_quant_write(good, m, &res, &err), 0);
    qh_quant_result_free(&res);
    qh_model_free(m);
    qh_model *back;
    rewrite(good, bad, "h.3.mlp.c_fc.weight.scales", NULL);
    ck_assert_int_eq(qh_quant_load(bad, &back, &res, &err), -1);
    ck_assert_msg(strstr(err.msg, "bad.safetensors: tensor 'h.3.mlp.c_fc.weight': packed part 'scales' is missing"), "%s", err.msg);
    rewrite(good, bad, "ln_f.bias", NULL);
    ck_assert_int_eq(qh_quant_load(bad, &back, &res, &err), -1);
    ck_assert_msg(strstr(err.msg, "tensor 'ln_f.bias' is missing"), "%s", err.msg);
    rewrite(good, bad, NULL, "{\"format\": \"qharness-packed-1\"}");
    ck_assert_int_eq(qh_quant_load(bad, &back, &res, &err), -1);
    ck_assert_msg(strstr(err.msg, "'qharness' metadata is malformed or incomplete"), "%s", err.msg);
    ck_assert_int_eq(qh_is_packed_file(good), 1);
    char *plain = tu_home_path("models/gpt2-gutenberg-18m/model.safetensors");
    ck_assert_int_eq(qh_is_packed_file(plain), 0);
    free(plain);
    free(good);
    free(bad);
    free(dir);
}
END_TEST

Suite *suite_quantize(void)
{
    Suite *s = suite_create("quantize");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, bpp_identity_with_the_written_file);
    tcase_add_test(tc, scope_patterns_and_overrides);
    tcase_add_test(tc, silent_no_op_is_an_error);
    tcase_add_test(tc, kept_dtypes_and_untied_head);
    tcase_add_test(tc, corrupt_packed_files);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
