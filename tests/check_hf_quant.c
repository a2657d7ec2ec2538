/* check_hf_quant.c - Hugging Face checkpoints stored quantized by the vendors' tools (issue 34):
 * GPTQ (AutoGPTQ, and GPTQModel's v2 zeros), AWQ (AutoAWQ GEMM and GEMV), compressed-tensors
 * (pack-quantized and naive) and bitsandbytes NF4, each written by the tool itself into a tiny
 * Llama or GPT-2 directory by tools/peers/hf_quant_reference.py (tests/data/hf_quant/), with the
 * tool's own dequantization. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/hf_quant.h"
#include "harness/model/forward.h"
#include "harness/quantize/quantize.h"
#include "harness/run/claim.h"
#include "harness/run/experiment.h"
#include "tests/testutil.h"

/* Whether a file's tensor is one of a quantized layer's (its name is the layer's and a part:
 * "h.0.attn.c_attn.qweight"), not the layer's bias or another tensor of the model. */
static int part_of_a_layer(const cJSON *variant, const char *name)
{
    const cJSON *layer;
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, ".bias") == 0) return 0;
    cJSON_ArrayForEach(layer, cJSON_GetObjectItem(variant, "layers"))
    {
        size_t k = strlen(layer->string);
        if (n > k && strncmp(name, layer->string, k) == 0 && name[k] == '.') return 1;
    }
    return 0;
}

/* Every quantized layer of every variant, dequantized by qharness, is the tool's own
 * dequantization bit for bit: the sha256 of its float32 (out, in) bytes is the one the tool's
 * dequantization gave (AutoGPTQ's QuantLinear forward, AutoAWQ's dequantize_gemm, compressed-
 * tensors' decompress, bitsandbytes's dequantize_4bit); and every tensor of the file is
 * consumed by some layer (none left over). */
START_TEST(every_variant_dequantizes_as_its_tool)
{
    cJSON *ref = tu_read_json("tests/data/hf_quant/reference.json"), *v, *layer;
    int variants = 0, layers = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(ref, "variants"))
    {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/data/hf_quant/%s", v->string);
        char *dir = tu_home_path(rel), *cfg = qh_path_join(dir, "config.json"), *weights = qh_path_join(dir, "model.safetensors");
        qh_err err;
        qh_hfq q;
        int present;
        ck_assert_msg(qh_hfq_from_config(cfg, &q, &present, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(present, 1);
        qh_safetensors st;
        ck_assert_msg(qh_st_open(weights, &st, &err) == 0, "%s", err.msg);
        unsigned char *used = qh_calloc((size_t)st.n_tensors, 1);
        cJSON_ArrayForEach(layer, cJSON_GetObjectItem(v, "layers"))
        {
            cJSON *shape = cJSON_GetObjectItem(layer, "shape");
            qh_hfq_layer l = {.st = &st, .used = used, .out = cJSON_GetArrayItem(shape, 0)->valueint, .in = cJSON_GetArrayItem(shape, 1)->valueint};
            snprintf(l.base, sizeof l.base, "%s", layer->string);
            float *w = qh_malloc((size_t)l.out * l.in * sizeof *w);
            int rc = qh_hfq_layer_load(&q, &l, w, &err);
            ck_assert_msg(rc == 1, "%s %s: %s", v->string, layer->string, rc < 0 ? err.msg : "not quantized");
            char got[65];
            qh_sha256_hex(w, (size_t)l.out * l.in * sizeof *w, got);
            const char *want = cJSON_GetObjectItem(layer, "sha256")->valuestring;
            cJSON *first = cJSON_GetObjectItem(layer, "first");
            ck_assert_msg(strcmp(got, want) == 0, "%s %s (%s): dequantization differs from the tool's: first values %.9g %.9g vs %.9g %.9g",
                          v->string, layer->string, q.desc, w[0], w[1], cJSON_GetArrayItem(first, 0)->valuedouble,
                          cJSON_GetArrayItem(first, 1)->valuedouble);
            ck_assert(l.bytes > 0);
            free(w);
            layers++;
        }
        /* what the layers did not consume is exactly the float32 tensors of the rest of the model */
        for (int i = 0; i < st.n_tensors; i++)
            ck_assert_msg(used[i] == part_of_a_layer(v, st.tensors[i].name) && (used[i] || st.tensors[i].dtype == QH_DT_F32),
                          "%s: tensor %s %s", v->string, st.tensors[i].name, used[i] ? "consumed by no layer of its name" : "left over");
        free(used);
        qh_st_close(&st);
        free(cfg);
        free(weights);
        free(dir);
        variants++;
    }
    fprintf(stderr, "hf_quant: %d variants, %d layers: qharness's dequantization is the tool's, bit for bit\n", variants, layers);
    ck_assert_int_ge(variants, 16);
    cJSON_Delete(ref);
}
END_TEST

/* Each directory loads as a model (the quantized layers dequantized, q and k rows put in
 * qharness's RoPE order like any Llama file) and its logits are transformers' float32 forward of
 * the same model with the tool's dequantized weights, within 1e-4; the ledger counts the bytes
 * of the quantized layers' tensors (all of them, scales, zeros, g_idx, absmax and code maps
 * included) and of the whole file. */
START_TEST(quantized_directories_run_as_transformers)
{
    cJSON *ref = tu_read_json("tests/data/hf_quant/reference.json"), *v, *e;
    int T = cJSON_GetArraySize(cJSON_GetObjectItem(ref, "ids")), k = 0;
    int *ids = qh_malloc((size_t)T * sizeof *ids);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "ids")) ids[k++] = e->valueint;
    double worst_all = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(ref, "variants"))
    {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/data/hf_quant/%s", v->string);
        char *dir = tu_home_path(rel);
        qh_model *m;
        qh_err err;
        ck_assert_msg(qh_model_load(dir, &m, 0, &err) == 0, "%s: %s", v->string, err.msg);
        int V = m->cfg.n_vocab;
        /* the ledger against the file's header: the quantized layers' weights and the bytes of
         * their parts, every other tensor kept */
        size_t weights = 0, part_bytes = 0, all_bytes = 0;
        cJSON *layer;
        cJSON_ArrayForEach(layer, cJSON_GetObjectItem(v, "layers"))
        {
            cJSON *shape = cJSON_GetObjectItem(layer, "shape");
            weights += (size_t)cJSON_GetArrayItem(shape, 0)->valueint * cJSON_GetArrayItem(shape, 1)->valueint;
        }
        qh_safetensors st;
        char *weights_path = qh_path_join(dir, "model.safetensors");
        ck_assert_int_eq(qh_st_open(weights_path, &st, &err), 0);
        for (int i = 0; i < st.n_tensors; i++) {
            all_bytes += st.tensors[i].nbytes;
            if (part_of_a_layer(v, st.tensors[i].name)) part_bytes += st.tensors[i].nbytes;
        }
        qh_st_close(&st);
        free(weights_path);
        ck_assert_int_eq(m->quant_layers, cJSON_GetArraySize(cJSON_GetObjectItem(v, "layers")));
        ck_assert_int_eq(m->quant_weights, weights);
        ck_assert_int_eq(m->quant_bytes, part_bytes);
        ck_assert_int_eq(m->file_tensor_bytes, all_bytes);
        ck_assert(m->quant_bytes > 0 && m->quant_bytes < m->file_tensor_bytes);
        float *logits = qh_malloc((size_t)T * V * sizeof *logits);
        tu_all_logits(m, ids, T, logits);
        double worst = 0;
        cJSON *rows = cJSON_GetObjectItem(v, "logits");
        for (int t = 0; t < T; t++)
            for (int j = 0; j < V; j++)
                worst = fmax(worst, fabs(logits[(size_t)t * V + j] - cJSON_GetArrayItem(cJSON_GetArrayItem(rows, t), j)->valuedouble));
        ck_assert_msg(worst < 1e-4, "%s: max |qharness - transformers| %.3g", v->string, worst);
        worst_all = fmax(worst_all, worst);
        free(logits);
        qh_model_free(m);
        free(dir);
    }
    fprintf(stderr, "hf_quant: logits of every quantized directory within %.3g of transformers' float32 forward\n", worst_all);
    free(ids);
    cJSON_Delete(ref);
}
END_TEST

/* a copy of a variant's directory whose config.json has `from` replaced by `to` (or whose
 * safetensors has one more tensor) must be refused, in one line naming what */
static void refused(const char *variant, const char *from, const char *to, const char *says)
{
    char rel[256], *tmp = tu_tmpdir(), cmd[2048], *out = NULL;
    snprintf(rel, sizeof rel, "tests/data/hf_quant/%s", variant);
    char *src = tu_home_path(rel);
    snprintf(cmd, sizeof cmd, "cp %s/model.safetensors %s/ && sed 's|%s|%s|' %s/config.json > %s/config.json", src, tmp, from, to, src, tmp);
    ck_assert_int_eq(tu_run_shell(cmd, &out), 0);
    qh_model *m = NULL;
    qh_err err;
    ck_assert_msg(qh_model_load(tmp, &m, 0, &err) != 0, "%s with %s: loaded", variant, to);
    ck_assert_msg(strstr(err.msg, says) && !strchr(err.msg, '\n'), "%s with %s: '%s' does not say '%s'", variant, to, err.msg, says);
    free(out);
    free(src);
    free(tmp);
}

START_TEST(what_is_not_read_is_refused_by_name)
{
    refused("gptq-b4g32-act", "\"quant_method\": \"gptq\"", "\"quant_method\": \"hqq\"", "quant_method 'hqq' is not read");
    refused("gptq-b4g32-act", "\"checkpoint_format\": \"gptq\"", "\"checkpoint_format\": \"marlin\"", "checkpoint_format 'marlin'");
    refused("gptq-b4g32-act", "\"bits\": 4", "\"bits\": 5", "2, 3, 4 or 8 bits");
    refused("gptq-b4g32-act", "\"desc_act\": true", "\"desc_act\": true, \"lm_head\": true", "quantized head is not read");
    refused("gptq-b4g32-act", "\"group_size\": 32", "\"group_size\": 64", "qzeros' is I32 (2, 8) where a layer of 64 outputs and 64 inputs needs I32 (1, 8)");
    refused("awq-gemm", "\"version\": \"gemm\"", "\"version\": \"marlin\"", "version 'marlin'");
    refused("awq-gemm", "\"version\": \"gemm\"", "\"version\": \"gemv\"", "qzeros' is I32 (2, 8) where a layer of 64 outputs and 64 inputs needs I32 (64, 4)");
    refused("awq-gemm", "\"zero_point\": true", "\"zero_point\": false", "zero_point false");
    refused("bnb-nf4", "\"bnb_4bit_quant_type\": \"nf4\"", "\"bnb_4bit_quant_type\": \"fp4\"", "'fp4' is not read");
    refused("bnb-nf4", "\"load_in_8bit\": false", "\"load_in_8bit\": true", "LLM.int8");
    refused("ct-w4-group-sym", "\"format\": \"pack-quantized\"", "\"format\": \"float-quantized\"", "format 'float-quantized'");
    refused("ct-w4-group-sym", "\"quantization_status\": \"compressed\"", "\"quantization_status\": \"frozen\"", "only compressed");
    refused("ct-w4-group-sym", "\"input_activations\": null", "\"input_activations\": {}", "quantizes activations");
    refused("ct-w4-group-sym", "\"symmetric\": true", "\"symmetric\": false", "weight_zero_point' is missing");
    /* the same file with one more byte of header (a space the JSON allows): every tensor one byte off
     * its element size, refused rather than read misaligned */
    {
        char *src = tu_home_path("tests/data/hf_quant/gptq-b4g32-act"), *tmp = tu_tmpdir(), cmd[2048], *out = NULL, *bytes;
        size_t len;
        qh_err err;
        char *weights = qh_path_join(src, "model.safetensors");
        ck_assert_int_eq(qh_read_file(weights, &bytes, &len, &err), 0);
        uint64_t hl;
        memcpy(&hl, bytes, 8);
        char *shifted = qh_malloc(len + 1);
        uint64_t hl1 = hl + 1;
        memcpy(shifted, &hl1, 8);
        memcpy(shifted + 8, bytes + 8, hl);
        shifted[8 + hl] = ' ';
        memcpy(shifted + 9 + hl, bytes + 8 + hl, len - 8 - hl);
        char *dst = qh_path_join(tmp, "model.safetensors");
        ck_assert_int_eq(qh_write_file(dst, shifted, len + 1, &err), 0);
        snprintf(cmd, sizeof cmd, "cp %s/config.json %s/", src, tmp);
        ck_assert_int_eq(tu_run_shell(cmd, &out), 0);
        qh_model *m = NULL;
        ck_assert(qh_model_load(tmp, &m, 0, &err) != 0);
        ck_assert_msg(strstr(err.msg, "not a multiple of its 4-byte elements") && !strchr(err.msg, '\n'), "%s", err.msg);
        free(out);
        free(dst);
        free(shifted);
        free(bytes);
        free(weights);
        free(tmp);
        free(src);
    }
    /* a directory without the quantization_config: the quantized layers' tensors are unexpected */
    refused("gptq-b4g32-act", "\"quantization_config\"", "\"not_a_quantization_config\"", "unexpected tensor 'model.layers.0.mlp.down_proj.g_idx'");
}
END_TEST

/* `qharness info DIR` gives the ledger of such a directory from its bytes, next to the bits its
 * config names. */
START_TEST(info_gives_the_ledger_from_the_bytes)
{
    char *dir = tu_home_path("tests/data/hf_quant/gptq-b4g32-act"), args[512], *out = NULL, want[160];
    qh_model *m;
    qh_err err;
    ck_assert_msg(qh_model_load(dir, &m, 0, &err) == 0, "%s", err.msg);
    snprintf(args, sizeof args, "info %s", dir);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    ck_assert_msg(strstr(out, "GPTQ 4-bit, groups of 32, asymmetric, act-order") && strstr(out, "the config names 4 bits a weight"), "%s", out);
    snprintf(want, sizeof want, "%zu weights in %zu bytes", m->quant_weights, m->quant_bytes);
    ck_assert_msg(strstr(out, want), "%s lacks '%s'", out, want);
    snprintf(want, sizeof want, "%.4f bits per weight", 8.0 * m->quant_bytes / m->quant_weights);
    ck_assert_msg(strstr(out, want) && 8.0 * m->quant_bytes / m->quant_weights > 4.5, "%s lacks '%s'", out, want);
    snprintf(want, sizeof want, "%zu bytes of tensors", m->file_tensor_bytes);
    ck_assert_msg(strstr(out, want), "%s lacks '%s'", out, want);
    free(out);
    qh_model_free(m);
    free(dir);
}
END_TEST

/* Such a directory as a run of a sweep (`checkpoint = DIR` in a method section): its accounting
 * from the bytes of its own tensors against the model it was made from (the unquantized tiny
 * model, tests/data/hf_quant/f32), by kind; a kept tensor that differs from the base's means
 * another model and is refused; the experiment file's key gives one configuration named by the
 * directory and its weights' sha256, the tool as its family. */
START_TEST(a_checkpoint_is_a_run_accounted_from_its_bytes)
{
    char *base_dir = tu_home_path("tests/data/hf_quant/f32"), *dir = tu_home_path("tests/data/hf_quant/bnb-nf4-dq");
    qh_model *base, *m;
    qh_err err;
    ck_assert_msg(qh_model_load(base_dir, &base, 1, &err) == 0, "%s", err.msg);
    ck_assert_msg(qh_model_load(dir, &m, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(base->quant_layers, 0);
    qh_quant_result q;
    ck_assert_msg(qh_quant_result_from_checkpoint(dir, m, base, &q, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(q.n_q, 14);
    ck_assert_int_eq(q.bytes_quantized, m->quant_bytes);
    ck_assert_int_eq(q.bytes_total, m->file_tensor_bytes);
    ck_assert_int_eq(q.bytes_kept, (96 * 64 + 5 * 64) * 4);
    ck_assert_int_eq(q.params_quantized, m->quant_weights);
    ck_assert(fabs(q.bpp_quantized - 8.0 * m->quant_bytes / m->quant_weights) < 1e-12);
    size_t kinds = 0;
    for (int k = 0; k < QH_PART_KINDS; k++) kinds += q.bytes_by_kind[k];
    ck_assert_int_eq(kinds, q.bytes_quantized);
    /* NF4 codes are half a byte a weight; the absmax codes, nested absmax and both code maps are scales */
    ck_assert_int_eq(q.bytes_by_kind[QH_PART_CODES], m->quant_weights / 2);
    ck_assert_int_gt(q.bytes_by_kind[QH_PART_SCALES], 0);
    ck_assert_msg(strstr(q.spec, "bitsandbytes NF4") && strstr(q.spec, "bnb-nf4-dq"), "%s", q.spec);
    ck_assert_str_eq(q.source_sha256, base->sha256);
    qh_quant_result_free(&q);
    /* a kept tensor changed: not a quantization of this base */
    m->lnf_w[3] += 0.5f;
    ck_assert(qh_quant_result_from_checkpoint(dir, m, base, &q, &err) != 0);
    ck_assert_msg(strstr(err.msg, "'norm.weight'") && strstr(err.msg, "not a quantization of that model"), "%s", err.msg);
    qh_model_free(m);
    qh_model_free(base);
    /* the experiment's key */
    char *tmp = tu_tmpdir(), path[1024], text[4096];
    snprintf(path, sizeof path, "%s/x.ini", tmp);
    snprintf(text, sizeof text,
             "[experiment]\nname = x\nmodels = %s\n\n[tasks]\nppl.wikitext2-test = 1024\n\n[method baseline]\nmethod = none\n\n"
             "[method vendor]\ncheckpoint = %s\n\n[method again]\ncheckpoint = %s/\n",
             base_dir, dir, dir);
    ck_assert_int_eq(qh_write_file(path, text, strlen(text), &err), 0);
    qh_experiment x;
    ck_assert(qh_experiment_load(path, &x, &err) != 0); /* the same directory twice */
    ck_assert_msg(strstr(err.msg, "[method again] the same file as 'vendor'"), "%s", err.msg);
    snprintf(text, sizeof text,
             "[experiment]\nname = x\nmodels = %s\n\n[tasks]\nppl.wikitext2-test = 1024\n\n[method baseline]\nmethod = none\n\n"
             "[method vendor]\ncheckpoint = %s\n\n[method not-one]\ncheckpoint = %s\n",
             base_dir, dir, base_dir);
    ck_assert_int_eq(qh_write_file(path, text, strlen(text), &err), 0);
    ck_assert(qh_experiment_load(path, &x, &err) != 0); /* an unquantized directory is not a checkpoint of this kind */
    ck_assert_msg(strstr(err.msg, "no quantization_config") && !strchr(err.msg, '\n'), "%s", err.msg);
    snprintf(text, sizeof text,
             "[experiment]\nname = x\nmodels = %s\n\n[tasks]\nppl.wikitext2-test = 1024\n\n[method baseline]\nmethod = none\n\n"
             "[method vendor]\ncheckpoint = %s\n",
             base_dir, dir);
    ck_assert_int_eq(qh_write_file(path, text, strlen(text), &err), 0);
    ck_assert_msg(qh_experiment_load(path, &x, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(x.n_configs, 2);
    const qh_run_config *c = &x.configs[1];
    ck_assert_str_eq(c->spec, "checkpoint");
    ck_assert_str_eq(c->family, "bitsandbytes (transformers)");
    ck_assert_msg(strncmp(c->canonical, "checkpoint bnb-nf4-dq sha256=", 29) == 0, "%s", c->canonical);
    ck_assert_str_eq(c->gguf, dir);
    qh_experiment_free(&x);
    /* a claim names such a directory instead of a method */
    snprintf(path, sizeof path, "%s/c.ini", tmp);
    snprintf(text, sizeof text, "[claim]\nname = c\nmodel = default\ncheckpoint = %s/\nclaimed_bpp = 4.127\ntask = ppl.wikitext2-test\nmetric = ppl\n", dir);
    ck_assert_int_eq(qh_write_file(path, text, strlen(text), &err), 0);
    qh_claim cl;
    ck_assert_msg(qh_claim_load(path, &cl, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(cl.method, "checkpoint bnb-nf4-dq");
    snprintf(text, sizeof text, "[claim]\nname = c\nmodel = default\nmethod = nf4\ncheckpoint = %s\nclaimed_bpp = 4.127\ntask = ppl.wikitext2-test\nmetric = ppl\n", dir);
    ck_assert_int_eq(qh_write_file(path, text, strlen(text), &err), 0);
    ck_assert(qh_claim_load(path, &cl, &err) != 0);
    ck_assert_msg(strstr(err.msg, "a method or a checkpoint, not both"), "%s", err.msg);
    free(tmp);
    free(dir);
    free(base_dir);
}
END_TEST

Suite *suite_hf_quant(void)
{
    Suite *s = suite_create("hf_quant");
    TCase *t = tcase_create("hf_quant");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, every_variant_dequantizes_as_its_tool);
    tcase_add_test(t, quantized_directories_run_as_transformers);
    tcase_add_test(t, what_is_not_read_is_refused_by_name);
    tcase_add_test(t, info_gives_the_ledger_from_the_bytes);
    tcase_add_test(t, a_checkpoint_is_a_run_accounted_from_its_bytes);
    suite_add_tcase(s, t);
    return s;
}
