/* check_model.c - loading Hugging Face GPT-2 directories in every naming and dtype variant,
 * rejecting inconsistent ones, and the forward pass against the golden logits. */
#include <cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/model/forward.h"

#include "tests/testutil.h"

static const tu_ckpt small = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 12, .n_vocab = 40,
                              .dtype = QH_DT_F32, .seed = 7};

static float *logits_of(const char *dir, int T, const int *tokens)
{
    qh_model *m;
    qh_err err;
    ck_assert_msg(qh_model_load(dir, &m, 0, &err) == 0, "%s: %s", dir, err.msg);
    qh_workspace ws;
    qh_workspace_init(&ws, &m->cfg, 1, T);
    qh_forward(m, tokens, 1, T, &ws);
    float *out = qh_malloc((size_t)T * m->cfg.n_vocab * sizeof(float));
    qh_head_logits(m, ws.ln, T, out);
    qh_workspace_free(&ws);
    qh_model_free(m);
    return out;
}

/* The naming variants of real files: gpt2 (no prefix, attn.bias buffers), distilgpt2
 * ("transformer." prefix, explicit lm_head), and each weight dtype. All hold the same
 * weights, so all must give the same logits. */
/* Every architecture row fills every slot it must (designated initializers leave a forgotten
 * one NULL or zero, which would be a crash or a wrong shape at run time, not a compile error);
 * its tensors name their fields and GGUF names; the optional slots go in pairs. */
START_TEST(every_architecture_row_fills_its_slots)
{
    for (int i = 0; i < QH_N_ARCH; i++) {
        const qh_arch *a = qh_archs[i];
        ck_assert_ptr_nonnull(a);
        ck_assert_msg(a->id == (qh_arch_id)i, "row %d says id %d", i, a->id);
        ck_assert_msg(a->name && a->display && a->block_fmt && a->linear_desc && a->hf_prefix, "%s: a name is missing", a->name);
        ck_assert_msg(a->forward_block && a->config_gguf && a->describe_config, "%s: a required function is missing", a->name);
        ck_assert_msg(a->pre && a->block && a->post && a->n_pre > 0 && a->n_block > 0 && a->n_post > 0, "%s: a tensor table is empty", a->name);
        ck_assert_msg(a->default_scope && a->n_default_scope > 0, "%s: no default scope", a->name);
        ck_assert_msg((a->config_hf == NULL) == (a->hf_model_type == NULL) && (a->config_hf == NULL) == (a->hf_ctx_key == NULL),
                      "%s: config_hf, hf_model_type and hf_ctx_key go together", a->name);
        ck_assert_ptr_eq(qh_arch_by_name(a->name, strlen(a->name)), a);
        int inputs[QH_N_INPUTS] = {0};
        const qh_arch_tensor *tables[3] = {a->pre, a->block, a->post};
        int counts[3] = {a->n_pre, a->n_block, a->n_post};
        for (int g = 0; g < 3; g++)
            for (int k = 0; k < counts[g]; k++) {
                const qh_arch_tensor *at = &tables[g][k];
                ck_assert_msg(at->name && at->gguf && (at->ndim == 1 || at->ndim == 2), "%s: tensor %d of table %d", a->name, k, g);
                ck_assert_msg(at->input < QH_N_INPUTS && (at->input < 0 || (g == 1 && at->ndim == 2)),
                              "%s: %s reads input %d", a->name, at->name, at->input);
                if (at->input >= 0) inputs[at->input]++;
                ck_assert_msg(!at->hf_rope_rows || at->input == QH_IN_ATTN, "%s: %s", a->name, at->name);
            }
        for (int in = 0; in < QH_N_INPUTS; in++) ck_assert_msg(inputs[in] > 0, "%s: no linear layer reads input %d", a->name, in);
    }
}
END_TEST

START_TEST(naming_and_dtype_variants)
{
    struct { const char *what; qh_dtype dt; int prefix, buffers, head; } v[] = {
        {"f32 plain", QH_DT_F32, 0, 0, 0},
        {"gpt2 style: f16, attn.bias buffers", QH_DT_F16, 0, 1, 0},
        {"distilgpt2 style: prefix + lm_head", QH_DT_F32, 1, 1, 1},
        {"bf16 with prefix", QH_DT_BF16, 1, 0, 0},
        {"f16 prefix, lm_head, no buffers", QH_DT_F16, 1, 0, 1},
    };
    int tokens[10] = {0, 5, 39, 12, 12, 7, 1, 30, 22, 3};
    float *ref = NULL;
    char *root = tu_tmpdir();
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        tu_ckpt spec = small;
        spec.dtype = v[i].dt;
        spec.prefix = v[i].prefix;
        spec.attn_buffers = v[i].buffers;
        spec.lm_head = v[i].head;
        char sub[64];
        snprintf(sub, sizeof sub, "v%zu", i);
        char *dir = qh_path_join(root, sub);
        tu_write_checkpoint(dir, &spec);
        qh_model *m;
        qh_err err;
        ck_assert_msg(qh_model_load(dir, &m, 1, &err) == 0, "%s: %s", v[i].what, err.msg);
        ck_assert_uint_eq(m->n_params, 40 * 16 + 12 * 16 + 2 * (12 * 16 * 16 + 13 * 16) + 2 * 16);
        ck_assert_int_eq(m->head_tied, 1); /* an lm_head equal to wte stays tied */
        ck_assert_str_eq(m->dtype, qh_dtype_name(v[i].dt));
        ck_assert_int_eq((int)strlen(m->sha256), 64);
        qh_model_free(m);
        float *lg = logits_of(dir, 10, tokens);
        if (!ref) ref = lg;
        else {
            for (int k = 0; k < 10 * 40; k++)
                ck_assert_msg(fabsf(lg[k] - ref[k]) < 1e-5f, "%s: logit %d differs: %g vs %g", v[i].what, k, lg[k], ref[k]);
            free(lg);
        }
        free(dir);
    }
    free(ref);
    free(root);
}
END_TEST

/* An lm_head that differs from wte is a separate head and counts as parameters. */
START_TEST(untied_head)
{
    char *dir = tu_tmpdir();
    tu_ckpt spec = small;
    spec.lm_head = 1;
    tu_write_checkpoint(dir, &spec);
    /* rewrite lm_head with different values */
    char *path = qh_path_join(dir, "model.safetensors");
    qh_safetensors st;
    qh_err err;
    ck_assert_int_eq(qh_st_open(path, &st, &err), 0);
    qh_st_entry *e = qh_calloc((size_t)st.n_tensors, sizeof *e);
    float *head = qh_malloc(40 * 16 * sizeof(float));
    for (int i = 0; i < 40 * 16; i++) head[i] = 0.25f;
    for (int i = 0; i < st.n_tensors; i++) {
        const qh_st_tensor *t = &st.tensors[i];
        e[i] = (qh_st_entry){t->name, t->dtype, t->ndim, {0}, t->data, t->nbytes};
        memcpy(e[i].shape, t->shape, sizeof t->shape);
        if (strcmp(t->name, "lm_head.weight") == 0) e[i].data = head;
    }
    char *out = qh_path_join(dir, "new.safetensors");
    ck_assert_int_eq(qh_st_write(out, e, st.n_tensors, NULL, NULL, 0, &err), 0);
    qh_st_close(&st);
    ck_assert_int_eq(rename(out, path), 0);
    qh_model *m;
    ck_assert_msg(qh_model_load(dir, &m, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m->head_tied, 0);
    ck_assert_float_eq(m->head[17], 0.25f);
    ck_assert_uint_eq(m->n_params, 40 * 16 * 2 + 12 * 16 + 2 * (12 * 16 * 16 + 13 * 16) + 2 * 16);
    qh_model_free(m);
    free(head);
    free(e);
    free(out);
    free(path);
    free(dir);
}
END_TEST

/* config.json of the real checkpoints (the fields that matter, plus the noise they carry). */
START_TEST(real_configs)
{
    struct { const char *name, *json; int layer, head, embd, ctx; } r[] = {
        {"gpt2", "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPT2LMHeadModel\"], \"attn_pdrop\": 0.1, \"bos_token_id\": 50256, \"embd_pdrop\": 0.1, \"eos_token_id\": 50256, \"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gpt2\", \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12, \"n_positions\": 1024, \"resid_pdrop\": 0.1, \"summary_activation\": null, \"summary_first_dropout\": 0.1, \"summary_proj_to_labels\": true, \"summary_type\": \"cls_index\", \"summary_use_proj\": true, \"task_specific_params\": {\"text-generation\": {\"do_sample\": true, \"max_length\": 50}}, \"vocab_size\": 50257}", 12, 12, 768, 1024},
        {"gpt2-medium", "{\"activation_function\": \"gelu_new\", \"model_type\": \"gpt2\", \"n_ctx\": 1024, \"n_embd\": 1024, \"n_head\": 16, \"n_layer\": 24, \"n_positions\": 1024, \"n_special\": 0, \"predict_special_tokens\": true, \"layer_norm_epsilon\": 1e-05, \"vocab_size\": 50257}", 24, 16, 1024, 1024},
        {"gpt2-large", "{\"activation_function\": \"gelu_new\", \"model_type\": \"gpt2\", \"n_ctx\": 1024, \"n_embd\": 1280, \"n_head\": 20, \"n_layer\": 36, \"n_positions\": 1024, \"layer_norm_epsilon\": 1e-05, \"vocab_size\": 50257}", 36, 20, 1280, 1024},
        {"gpt2-xl", "{\"activation_function\": \"gelu_new\", \"model_type\": \"gpt2\", \"n_ctx\": 1024, \"n_embd\": 1600, \"n_head\": 25, \"n_layer\": 48, \"n_positions\": 1024, \"output_past\": true, \"layer_norm_epsilon\": 1e-05, \"vocab_size\": 50257}", 48, 25, 1600, 1024},
        {"distilgpt2", "{\"_num_labels\": 1, \"activation_function\": \"gelu_new\", \"architectures\": [\"GPT2LMHeadModel\"], \"id2label\": {\"0\": \"LABEL_0\"}, \"label2id\": {\"LABEL_0\": 0}, \"model_type\": \"gpt2\", \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 6, \"n_positions\": 1024, \"layer_norm_epsilon\": 1e-05, \"vocab_size\": 50257}", 6, 12, 768, 1024},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        char *dir = tu_tmpdir(), *p = qh_path_join(dir, "config.json");
        qh_err err;
        ck_assert_int_eq(qh_write_file(p, r[i].json, strlen(r[i].json), &err), 0);
        qh_config c;
        ck_assert_msg(qh_config_load(dir, &c, &err) == 0, "%s: %s", r[i].name, err.msg);
        ck_assert_int_eq(c.n_layer, r[i].layer);
        ck_assert_int_eq(c.n_head, r[i].head);
        ck_assert_int_eq(c.n_embd, r[i].embd);
        ck_assert_int_eq(c.n_ctx, r[i].ctx);
        ck_assert_int_eq(c.n_vocab, 50257);
        ck_assert_float_eq_tol(c.ln_eps, 1e-5f, 1e-12f);
        unlink(p);
        free(p);
        free(dir);
    }
}
END_TEST

static char *load_error(const char *dir)
{
    qh_model *m;
    qh_err err;
    ck_assert_int_eq(qh_model_load(dir, &m, 0, &err), -1);
    return qh_strdup(err.msg);
}

#define ASSERT_LOAD_ERROR(DIR, NEEDLE)                                                         \
    do {                                                                                       \
        char *msg = load_error(DIR);                                                           \
        ck_assert_msg(strstr(msg, NEEDLE), "'%s' lacks '%s'", msg, NEEDLE);                    \
        free(msg);                                                                             \
    } while (0)

START_TEST(inconsistent_checkpoints)
{
    char *dir = tu_tmpdir();
    tu_ckpt spec = small;
    tu_write_checkpoint(dir, &spec);
    /* the config says a wider model than the weights */
    tu_ckpt wider = spec;
    wider.n_embd = 32;
    tu_write_config(dir, &wider);
    ASSERT_LOAD_ERROR(dir, "tensor 'wte.weight' has shape (40, 16) but");
    ASSERT_LOAD_ERROR(dir, "config.json implies (40, 32)");
    /* fewer layers in the config: block 1's tensors are unexpected */
    tu_ckpt shallower = spec;
    shallower.n_layer = 1;
    tu_write_config(dir, &shallower);
    ASSERT_LOAD_ERROR(dir, "unexpected tensor 'h.1.");
    /* more layers in the config: block 2 is missing */
    tu_ckpt deeper = spec;
    deeper.n_layer = 3;
    tu_write_config(dir, &deeper);
    ASSERT_LOAD_ERROR(dir, "tensor 'h.2.ln_1.weight' is missing");
    /* config problems */
    char *cp = qh_path_join(dir, "config.json");
    qh_err err;
    const char *no_embd = "{\"n_layer\": 2, \"n_head\": 2, \"n_positions\": 12, \"vocab_size\": 40}";
    ck_assert_int_eq(qh_write_file(cp, no_embd, strlen(no_embd), &err), 0);
    ASSERT_LOAD_ERROR(dir, "config.json: missing 'n_embd'");
    const char *relu = "{\"n_embd\": 16, \"n_layer\": 2, \"n_head\": 2, \"n_positions\": 12, \"vocab_size\": 40, \"activation_function\": \"relu\"}";
    ck_assert_int_eq(qh_write_file(cp, relu, strlen(relu), &err), 0);
    ASSERT_LOAD_ERROR(dir, "activation_function 'relu' is not supported");
    const char *odd = "{\"n_embd\": 16, \"n_layer\": 2, \"n_head\": 3, \"n_positions\": 12, \"vocab_size\": 40}";
    ck_assert_int_eq(qh_write_file(cp, odd, strlen(odd), &err), 0);
    ASSERT_LOAD_ERROR(dir, "n_embd 16 is not a multiple of n_head 3");
    ck_assert_int_eq(qh_write_file(cp, "{nope", 5, &err), 0);
    ASSERT_LOAD_ERROR(dir, "config.json: not a valid JSON object");
    unlink(cp);
    ASSERT_LOAD_ERROR(dir, ": not a model directory: no config.json (Hugging Face), no llama2.c checkpoint (.bin)");
    ASSERT_LOAD_ERROR("/nonexistent/model", "/nonexistent/model: no such model file or directory");
    /* weights missing */
    tu_write_config(dir, &spec);
    char *wp = qh_path_join(dir, "model.safetensors");
    unlink(wp);
    ASSERT_LOAD_ERROR(dir, "model.safetensors: missing");
    free(wp);
    free(cp);
    free(dir);
}
END_TEST

START_TEST(weights_in_an_integer_dtype_are_refused)
{
    char *dir = tu_tmpdir();
    tu_ckpt spec = small;
    tu_write_checkpoint(dir, &spec);
    char *path = qh_path_join(dir, "model.safetensors");
    qh_safetensors st;
    qh_err err;
    ck_assert_int_eq(qh_st_open(path, &st, &err), 0);
    qh_st_entry *e = qh_calloc((size_t)st.n_tensors, sizeof *e);
    for (int i = 0; i < st.n_tensors; i++) {
        const qh_st_tensor *t = &st.tensors[i];
        e[i] = (qh_st_entry){t->name, t->dtype, t->ndim, {0}, t->data, t->nbytes};
        memcpy(e[i].shape, t->shape, sizeof t->shape);
        if (strcmp(t->name, "ln_f.bias") == 0) e[i].dtype = QH_DT_I32; /* same byte count */
    }
    char *out = qh_path_join(dir, "new.safetensors");
    ck_assert_int_eq(qh_st_write(out, e, st.n_tensors, NULL, NULL, 0, &err), 0);
    qh_st_close(&st);
    ck_assert_int_eq(rename(out, path), 0);
    ASSERT_LOAD_ERROR(dir, "tensor 'ln_f.bias' has dtype I32");
    free(e);
    free(out);
    free(path);
    free(dir);
}
END_TEST

/* The default model's logits at the golden positions, within the golden tolerance. */
START_TEST(golden_logits)
{
    char *gp = tu_shared_path("golden/forward.json"), *text;
    size_t len;
    qh_err err;
    ck_assert_int_eq(qh_read_file(gp, &text, &len, &err), 0);
    cJSON *root = cJSON_Parse(text);
    double tol = cJSON_GetObjectItem(root, "tolerance_abs")->valuedouble;
    ck_assert(tol <= 1e-3);
    qh_model *m = tu_default_model(0);
    int V = m->cfg.n_vocab, checked = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(root, "cases"))
    {
        const cJSON *jids = cJSON_GetObjectItem(cs, "ids");
        int T = cJSON_GetArraySize(jids);
        int *ids = qh_malloc((size_t)T * sizeof(int));
        for (int i = 0; i < T; i++) ids[i] = cJSON_GetArrayItem(jids, i)->valueint;
        qh_workspace ws;
        qh_workspace_init(&ws, &m->cfg, 1, T);
        qh_forward(m, ids, 1, T, &ws);
        float *lg = qh_malloc((size_t)T * V * sizeof(float));
        qh_head_logits(m, ws.ln, T, lg);
        /* per-token NLL and the sequence mean */
        const cJSON *jnll = cJSON_GetObjectItem(cs, "nll");
        double sum = 0;
        for (int t = 0; t + 1 < T; t++) {
            double mx = -1e30, s = 0;
            for (int v = 0; v < V; v++) mx = lg[(size_t)t * V + v] > mx ? lg[(size_t)t * V + v] : mx;
            for (int v = 0; v < V; v++) s += exp(lg[(size_t)t * V + v] - mx);
            double nll = mx + log(s) - lg[(size_t)t * V + ids[t + 1]];
            ck_assert_msg(fabs(nll - cJSON_GetArrayItem(jnll, t)->valuedouble) < tol, "nll %d: %g vs %g", t, nll,
                          cJSON_GetArrayItem(jnll, t)->valuedouble);
            sum += nll;
        }
        ck_assert_double_eq_tol(sum / (T - 1), cJSON_GetObjectItem(cs, "mean_nll")->valuedouble, tol);
        const cJSON *pos;
        cJSON_ArrayForEach(pos, cJSON_GetObjectItem(cs, "positions"))
        {
            int p = cJSON_GetObjectItem(pos, "pos")->valueint;
            const float *row = lg + (size_t)p * V;
            double mx = -1e30, s = 0;
            for (int v = 0; v < V; v++) mx = row[v] > mx ? row[v] : mx;
            for (int v = 0; v < V; v++) s += exp(row[v] - mx);
            ck_assert_double_eq_tol(mx + log(s), cJSON_GetObjectItem(pos, "logsumexp")->valuedouble, tol);
            const char *lists[2] = {"top10", "probe"};
            for (int li = 0; li < 2; li++) {
                const cJSON *pair;
                cJSON_ArrayForEach(pair, cJSON_GetObjectItem(pos, lists[li]))
                {
                    int id = cJSON_GetArrayItem(pair, 0)->valueint;
                    double want = cJSON_GetArrayItem(pair, 1)->valuedouble;
                    ck_assert_msg(fabs(row[id] - want) < tol, "%s pos %d id %d: %.6f vs %.6f",
                                  cJSON_GetObjectItem(cs, "name")->valuestring, p, id, row[id], want);
                    checked++;
                }
            }
            /* the golden top-1 is our argmax */
            int best = 0;
            for (int v = 1; v < V; v++) best = row[v] > row[best] ? v : best;
            ck_assert_int_eq(best, cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pos, "top10"), 0), 0)->valueint);
        }
        free(lg);
        free(ids);
        qh_workspace_free(&ws);
    }
    ck_assert_int_ge(checked, 100);
    qh_model_free(m);
    cJSON_Delete(root);
    free(text);
    free(gp);
}
END_TEST

/* A window's hidden states are the same bits in every slot of a batch, alone, with other
 * windows around it, and with one thread or all of them (gemm.h says why this holds). */
START_TEST(batch_equals_single)
{
    qh_model *m = tu_default_model(0);
    enum { T = 32, B = 5 };
    int C = m->cfg.n_embd;
    int window[T], tokens[B * T];
    for (int i = 0; i < T; i++) window[i] = (i * 7919) % 50000;
    qh_workspace wb, w1;
    qh_workspace_init(&wb, &m->cfg, B, T);
    qh_workspace_init(&w1, &m->cfg, 1, T);
    qh_forward(m, window, 1, T, &w1);
    int threads = omp_get_max_threads();
    for (int slot = 0; slot < B; slot++)
        for (int nt = 1; nt <= threads; nt += threads > 1 ? threads - 1 : 1) {
            for (int i = 0; i < B * T; i++) tokens[i] = (i * 104729 + 17) % 50257; /* other windows */
            memcpy(tokens + slot * T, window, sizeof window);
            omp_set_num_threads(nt);
            qh_forward(m, tokens, B, T, &wb);
            omp_set_num_threads(threads);
            ck_assert_msg(memcmp(wb.ln + (size_t)slot * T * C, w1.ln, (size_t)T * C * sizeof(float)) == 0,
                          "slot %d, %d threads: hidden states differ from the window alone", slot, nt);
        }
    /* a shorter window padded to T: its rows are the same bits as the window computed alone */
    qh_workspace w2;
    qh_workspace_init(&w2, &m->cfg, 1, 20);
    qh_forward(m, window, 1, 20, &w2);
    ck_assert_int_eq(memcmp(w2.ln, w1.ln, (size_t)20 * C * sizeof(float)), 0);
    qh_workspace_free(&w2);
    qh_workspace_free(&wb);
    qh_workspace_free(&w1);
    qh_model_free(m);
}
END_TEST

Suite *suite_model(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, every_architecture_row_fills_its_slots);
    tcase_add_test(tc, naming_and_dtype_variants);
    tcase_add_test(tc, untied_head);
    tcase_add_test(tc, real_configs);
    tcase_add_test(tc, inconsistent_checkpoints);
    tcase_add_test(tc, weights_in_an_integer_dtype_are_refused);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    TCase *fw = tcase_create("forward");
    tcase_add_test(fw, golden_logits);
    tcase_add_test(fw, batch_equals_single);
    tcase_set_timeout(fw, 120);
    suite_add_tcase(s, fw);
    return s;
}
