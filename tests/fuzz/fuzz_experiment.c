/* fuzz_experiment.c - experiment files (INI: [experiment], [tasks], [method NAME] with
 * parameter grids, [mixed NAME], [calibration], includes and patterns), then the semantic
 * checks a sweep makes against each model before any work (qh_experiment_check_model), on
 * the default model's and stories260K's tensor tables: what passes them must be something
 * the forward pass can run (a window no longer than the model's context), which is how the
 * "ctx = 5000" crash of the dry run would have been found. */
#include "tests/fuzz/fuzz.h"
#include "harness/run/experiment.h"
#include "harness/model/model.h"
#include "harness/run/sweep.h"

/* a model's config and tensor names, without weights */
static qh_model *skeleton(const char *rel, int llama2c)
{
    qh_model *m = qh_calloc(1, sizeof *m);
    m->head_tied = 1;
    qh_err err;
    char *dir = qh_path_join(qh_home(), rel);
    if (llama2c) {
        qh_model *full;
        if (qh_model_load(dir, &full, 0, &err) != 0) abort();
        m->cfg = full->cfg;
        qh_model_free(full);
    } else if (qh_config_load(dir, &m->cfg, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    free(dir);
    if (qh_model_expected_tensors(m, UINT64_MAX, rel, &err) != 0) abort();
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static qh_model *models[2];
    if (!models[0]) {
        models[0] = skeleton("models/gpt2-gutenberg-18m", 0);
        models[1] = skeleton("models/stories260K", 1);
    }
    qh_experiment x;
    qh_err err = {{0}};
    int rc = qh_experiment_load(fz_file("in.ini", data, size), &x, &err);
    fz_check_error(rc, &err, "qh_experiment_load");
    if (rc != 0) return 0;
    for (int k = 0; k < 2; k++) {
        qh_err cerr = {{0}};
        int ok = qh_experiment_check_model(&x, models[k], "m", &cerr);
        fz_check_error(ok, &cerr, "qh_experiment_check_model");
        if (ok != 0) continue;
        int max_ctx = qh_config_max_ctx(&models[k]->cfg), window = x.ctx ? x.ctx : models[k]->cfg.n_ctx;
        if (window < 2 || window > max_ctx || x.calib_ctx > max_ctx) abort(); /* what the dry run's forward pass relies on */
    }
    qh_experiment_free(&x);
    return 0;
}
