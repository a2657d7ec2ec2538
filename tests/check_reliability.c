/* check_reliability.c - never a believable wrong number (issue 29): each case here was a
 * command that printed a plausible number that was wrong, or wrote where it should not, and is
 * now an error that names the file, place and problem.  Every test reproduces its case first
 * (the input that used to pass) and asserts the refusal. */
#include <cJSON.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "datasets/mc.h"
#include "harness/run/claim.h"
#include "harness/eval/eval_mc.h"
#include "harness/eval/eval_ppl.h"
#include "harness/run/experiment.h"
#include "harness/base/outfile.h"
#include "harness/quantize/quantize.h"
#include "harness/run/store.h"
#include "harness/run/sweep_slurm.h"
#include "tests/testutil.h"

/* runs a shell command line in which every "QH" word is the binary under test; stdout and
 * stderr together into *out; the exit status */
static int run_sh(const char *line, char **out)
{
    char cmd[16384];
    size_t k = 0;
    for (const char *c = line; *c && k + 4200 < sizeof cmd; c++) {
        if (c[0] == 'Q' && c[1] == 'H' && (c[2] == ' ' || !c[2]) && (c == line || c[-1] == ' ' || c[-1] == ';' || c[-1] == '(')) {
            k += (size_t)snprintf(cmd + k, sizeof cmd - k, "%s", tu_binary());
            c++;
            continue;
        }
        cmd[k++] = *c;
    }
    cmd[k] = 0;
    char full[16500];
    snprintf(full, sizeof full, "bash -c '%s' 2>&1", cmd);
    return tu_run_shell(full, out);
}

/* the last line of the output is "qharness: ..." holding needle; the exit status is want_rc */
static void expect_sh_error(const char *line, int want_rc, const char *needle)
{
    char *out;
    int rc = run_sh(line, &out);
    ck_assert_msg(rc == want_rc, "'%s': exit %d (want %d): %s", line, rc, want_rc, out);
    ck_assert_msg(strstr(out, needle), "'%s': '%s' lacks '%s'", line, out, needle);
    free(out);
}

/* ---- non-finite weights and results ---------------------------------------------------- */

/* A copy of the default model (config, tokenizer) whose weights file has the 16-bit value
 * `bits` at element `index` of tensor `name`. */
static char *default_with_f16(const char *name, size_t index, uint16_t bits)
{
    char *wp = tu_home_path("models/gpt2-gutenberg-18m/model.safetensors");
    qh_safetensors st;
    qh_err err;
    ck_assert_msg(qh_st_open(wp, &st, &err) == 0, "%s", err.msg);
    const qh_st_tensor *t = qh_st_find(&st, name);
    ck_assert_ptr_nonnull(t);
    ck_assert(t->dtype == QH_DT_F16 && index < qh_st_numel(t));
    size_t at = (size_t)(t->data - st.map) + 2 * index;
    char *bytes = qh_malloc(st.map_size);
    memcpy(bytes, st.map, st.map_size);
    memcpy(bytes + at, &bits, 2);
    size_t len = st.map_size;
    qh_st_close(&st);
    free(wp);
    char *dir = tu_model_dir_with_weights(bytes, len);
    free(bytes);
    return dir;
}

/* Before: arc-easy at acc 0.2500 with rc 0 (argmax over NaN picks choice 0), perplexity 607-1100
 * after rtn/nf4/ternary/outliers turned the NaN into numbers, plain ppl "nan" with rc 0 and
 * "ppl":nan in --json.  Now every command refuses the model at load, naming tensor and place. */
START_TEST(nonfinite_weights_are_refused_naming_the_tensor)
{
    static const struct {
        const char *tensor;
        size_t index;
        uint16_t bits;
        const char *what;
    } cases[] = {
        {"h.2.mlp.c_fc.weight", 100, 0x7e00, "holds nan at index 100"}, /* a block weight */
        {"wte.weight", 256 * 7 + 3, 0x7c00, "holds inf at index 1795 (row 7, column 3)"}, /* the (tied) embedding */
        {"ln_f.weight", 5, 0xfc00, "holds -inf at index 5"},                              /* a norm */
    };
    const char *commands[] = {"ppl %s wikitext2-test --max-tokens 512", "ppl %s wikitext2-test --max-tokens 512 --json",
                              "mc %s --task arc-easy --n 20", "ppl %s wikitext2-test --max-tokens 512 --method \"rtn bits=4\"",
                              "ppl %s wikitext2-test --max-tokens 512 --method nf4", "kld default %s wikitext2-test --max-tokens 512",
                              "quantize %s --method ternary"};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char *dir = default_with_f16(cases[c].tensor, cases[c].index, cases[c].bits);
        /* under the sanitizers (QH_TEST_QUICK) two commands per case: the refusal is in the one loader they share */
        size_t n_commands = tu_quick() ? 2 : sizeof commands / sizeof *commands;
        for (size_t k = 0; k < n_commands; k++) {
            char args[4400], *out, want[256];
            snprintf(args, sizeof args, commands[k], dir);
            int rc = tu_run_cli(args, &out);
            snprintf(want, sizeof want, "tensor '%s' %s", cases[c].tensor, cases[c].what);
            ck_assert_msg(rc == 1 && strstr(out, want) && strstr(out, "refusing a model with non-finite weights"), "'%s': exit %d: %s",
                          args, rc, out);
            ck_assert_msg(!strstr(out, "acc ") && !strstr(out, "perplexity "), "'%s' printed a result: %s", args, out);
            free(out);
        }
        free(dir);
    }
}
END_TEST

/* Finite weights can still overflow: 1e38 in the final norm makes every logit infinite.  The
 * evaluators say so, naming the window or item, instead of scoring NaN. */
START_TEST(overflowing_activations_are_an_error_not_a_number)
{
    qh_model *m = tu_default_model(0), *base = tu_default_model(0);
    qh_tokenizer *tok = tu_default_tokenizer();
    qh_err err;
    for (int i = 0; i < m->cfg.n_embd; i++) m->lnf_w[i] = 1e38f;
    qh_text text;
    ck_assert_msg(qh_text_load("wikitext2-test", &text, &err) == 0, "%s", err.msg);
    int *ids;
    size_t n;
    ck_assert_int_eq(qh_encode(tok, "wikitext2-test", text.text, text.len, &ids, &n, &err), 0);
    qh_ppl_opts o = {.ctx = 64, .max_tokens = 256, .seed = 1};
    qh_ppl_result r;
    ck_assert_int_eq(qh_eval_ppl(m, ids, (long)n, NULL, &o, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "window 0 (tokens 0-63): the model's log-likelihood is") && strstr(err.msg, "no perplexity"), "%s",
                  err.msg);
    qh_fidelity_result f;
    ck_assert_int_eq(qh_eval_fidelity(base, m, ids, 256, &o, &f, &err), -1);
    ck_assert_msg(strstr(err.msg, "are not finite") && strstr(err.msg, "no KL"), "%s", err.msg);
    qh_mc_opts mo = {.budget = 3, .seed = 5};
    qh_mc_task t;
    ck_assert_msg(qh_mc_load("arc-easy", &mo, &t, &err) == 0, "%s", err.msg);
    qh_mc_result mr;
    ck_assert_int_eq(qh_eval_mc(m, tok, &t, 256, &mr, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "arc-easy: item ") && strstr(err.msg, "no accuracy"), "%s", err.msg);
    qh_mc_free(&t);
    free(ids);
    qh_text_free(&text);
    qh_tokenizer_free(tok);
    qh_model_free(m);
    qh_model_free(base);
}
END_TEST

/* A quantizer turns a NaN into a finite code: its input is checked first, naming the tensor. */
START_TEST(quantizer_input_must_be_finite)
{
    qh_model *m = tu_default_model(0);
    qh_tensor *t = qh_model_tensor(m, "h.1.attn.c_proj.weight");
    ck_assert_ptr_nonnull(t);
    t->data[3 * t->cols + 2] = NAN; /* (in, out) layout: input row 3, output column 2 */
    const char *specs[] = {"rtn bits=4", "nf4", "ternary", "binary", "outliers + rtn bits=2"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        qh_quant_opts o;
        qh_quant_opts_init(&o);
        o.spec = specs[i];
        qh_quant_result res;
        qh_err err;
        qh_model *c = qh_model_clone(m);
        ck_assert_msg(qh_quantize_model(c, &o, &res, &err) == -1, "%s quantized a NaN", specs[i]);
        ck_assert_msg(strstr(err.msg, "h.1.attn.c_proj.weight") && strstr(err.msg, "input weight at row 2, column 3 is nan"), "%s: %s",
                      specs[i], err.msg);
        qh_quant_result_free(&res);
        qh_model_free(c);
    }
    qh_model_free(m);
}
END_TEST

/* The store never keeps an infinity (NaN is its "not applicable", NULL). */
START_TEST(store_refuses_infinity)
{
    char *dir = tu_tmpdir(), *db = qh_path_join(dir, "s.sqlite");
    qh_store s;
    qh_err err;
    ck_assert_int_eq(qh_store_open(db, &s, &err), 0);
    ck_assert_int_eq(qh_store_exec(&s, "CREATE TABLE t(v REAL)", &err), 0);
    ck_assert_int_eq(qh_store_run(&s, &err, NULL, "INSERT INTO t VALUES (?)", "d", INFINITY), -1);
    ck_assert_msg(strstr(err.msg, "refusing to store inf"), "%s", err.msg);
    ck_assert_int_eq(qh_store_run(&s, &err, NULL, "INSERT INTO t VALUES (?)", "d", 1.5), 0);
    qh_store_close(&s);
    free(db);
    free(dir);
}
END_TEST

/* Before: "95% CI [179992.2, 179992.2]" from one window resampled. */
START_TEST(one_window_gives_no_interval)
{
    char *dir = tu_tmpdir(), *f = qh_path_join(dir, "two.txt"), args[4200], *out;
    qh_err err;
    ck_assert_int_eq(qh_write_file(f, "Hello world", 11, &err), 0);
    snprintf(args, sizeof args, "ppl default %s", f);
    ck_assert_int_eq(tu_run_cli(args, &out), 0);
    ck_assert_msg(strstr(out, "no interval: 1 window (a bootstrap needs at least 20)") && !strstr(out, "CI [") && !strstr(out, "nan"), "%s",
                  out);
    free(out);
    snprintf(args, sizeof args, "ppl default %s --json", f);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j, "not JSON: %s", out);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "ppl_ci95")) && cJSON_IsNull(cJSON_GetObjectItem(j, "ppl_pm_llama_cpp")));
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "ppl")));
    cJSON_Delete(j);
    free(out);
    free(f);
    free(dir);
}
END_TEST

/* ---- experiment values checked against the model before any work ------------------------- */

static char *write_experiment(const char *dir, const char *name, const char *text)
{
    char *p = qh_path_join(dir, name);
    qh_err err;
    ck_assert_int_eq(qh_write_file(p, text, strlen(text), &err), 0);
    return p;
}

/* Before: ctx = 300 read past a heap buffer in the dry run's timing pass, 5000 was a SIGSEGV,
 * 100000 an abort on 80 GB. */
START_TEST(experiment_ctx_is_checked_against_the_model)
{
    char *dir = tu_tmpdir();
    const long ctxs[] = {300, 5000, 100000};
    for (int i = 0; i < 3; i++) {
        char text[512], args[4400];
        snprintf(text, sizeof text, "[experiment]\nname = x\nmodels = default\nctx = %ld\n\n[tasks]\nppl.wikitext2-test = 1024\n\n"
                 "[method baseline]\nmethod = none\n", ctxs[i]);
        char *p = write_experiment(dir, "ctx.ini", text), want[128], *db = qh_path_join(dir, "x.sqlite");
        snprintf(want, sizeof want, "ctx.ini:4: [experiment] ctx = %ld is longer than the context of model default (256)", ctxs[i]);
        for (int dry = 0; dry < 2; dry++) {
            snprintf(args, sizeof args, "sweep %s --db %s%s", p, db, dry ? " --dry-run" : "");
            char *out;
            int rc = tu_run_cli(args, &out);
            ck_assert_msg(rc == 1 && strstr(out, want), "'%s': exit %d: %s", args, rc, out);
            free(out);
        }
        free(db);
        free(p);
    }
    /* the calibration window too */
    char *p = write_experiment(dir, "calib.ini",
                               "[experiment]\nname = x\nmodels = default\n\n[tasks]\nppl.wikitext2-test = 1024\n\n[calibration]\nctx = 512\n\n"
                               "[method g]\nmethod = gptq\nbits = 4\n");
    char args[4400], *out;
    snprintf(args, sizeof args, "sweep %s --dry-run", p);
    ck_assert_int_eq(tu_run_cli(args, &out), 1);
    ck_assert_msg(strstr(out, "calib.ini:9: [calibration] ctx = 512 is longer than the context of model default (256)"), "%s", out);
    free(out);
    free(p);
    free(dir);
}
END_TEST

/* Before: a second [experiment] silently overrode the first; a NUL cut a value short. */
START_TEST(experiment_files_refuse_duplicates_and_nul)
{
    qh_experiment x;
    qh_err err;
    char *dir = tu_tmpdir();
    char *p = write_experiment(dir, "dup.ini", "[experiment]\nname = x\nmodels = default\n[tasks]\nppl.wikitext2-test = 1024\n"
                                               "[experiment]\nname = y\n[method b]\nmethod = none\n");
    ck_assert_int_eq(qh_experiment_load(p, &x, &err), -1);
    ck_assert_msg(strstr(err.msg, "dup.ini:6: section [experiment] given twice (first at line 1)"), "%s", err.msg);
    free(p);
    static const char nul[] = "[experiment]\nname = x\0y\nmodels = default\n[tasks]\nppl.wikitext2-test = 1024\n[method b]\nmethod = none\n";
    p = qh_path_join(dir, "nul.ini");
    ck_assert_int_eq(qh_write_file(p, nul, sizeof nul - 1, &err), 0);
    ck_assert_int_eq(qh_experiment_load(p, &x, &err), -1);
    ck_assert_msg(strstr(err.msg, "nul.ini:2: a NUL byte at column 9"), "%s", err.msg);
    free(p);
    /* and in an MMLU CSV */
    static const char csv[] = "question,choice0,choice1,choice2,choice3,answer\nWhat\0?,a,b,c,d,0\n";
    qh_mc_opts o = {.budget = 0, .seed = 1};
    qh_mc_task t;
    ck_assert_int_eq(qh_mc_parse_text(qh_mc_set_find("mmlu"), csv, sizeof csv - 1, &o, &t, &err), -1);
    ck_assert_msg(strstr(err.msg, "record 2, field 1: a NUL byte"), "%s", err.msg);
    free(dir);
}
END_TEST

/* Before: claimed_bpp = inf was SUPPORTED, retained = inf REFUTED, retained = 95 judged. */
START_TEST(claims_take_finite_fractions_only)
{
    char *dir = tu_tmpdir();
    static const struct {
        const char *line, *want;
    } cases[] = {
        {"claimed_bpp = inf", "claimed_bpp = 'inf' is not a positive finite number"},
        {"retained = inf", "retained = 'inf' is not a positive finite number"},
        {"retained = nan", "retained = 'nan' is not a positive finite number"},
        {"retained = 95", "retained = '95' is not a fraction in (0, 1] (a percentage? 95% is written 0.95)"},
        {"claimed_bpp = 1e300", "more than 64 bits per parameter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text, "[claim]\nname = x\nmodel = default\nmethod = binary\ntask = ppl.wikitext2-test\nmetric = ppl\n%s\n",
                 cases[i].line);
        char *p = write_experiment(dir, "c.ini", text);
        qh_claim c;
        qh_err err;
        ck_assert_int_eq(qh_claim_load(p, &c, &err), -1);
        ck_assert_msg(strstr(err.msg, cases[i].want), "%s: %s", cases[i].line, err.msg);
        free(p);
    }
    free(dir);
}
END_TEST

/* Before: a plan with config_index 1e30 was undefined behaviour in the conversion. */
START_TEST(plan_numbers_are_whole_and_in_range)
{
    char *dir = tu_tmpdir();
    const char *bad[] = {"1e30", "-1", "0.5", "9007199254740993"};
    for (int i = 0; i < 4; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"experiment\":\"x\",\"experiment_id\":1,\"experiment_file\":\"/x.ini\",\"experiment_sha256\":\"%064d\",\"db\":\"/x.sqlite\","
                 "\"submission\":1,\"tasks\":[[{\"run\":1,\"model_id\":1,\"config_id\":1,\"model_index\":0,\"config_index\":%s,"
                 "\"ordinal\":0,\"model_sha256\":\"%064d\"}]]}",
                 0, bad[i], 0);
        char *p = write_experiment(dir, "plan.json", text);
        qh_task_plan plan;
        qh_err err;
        ck_assert_int_eq(qh_task_plan_read(p, 0, &plan, &err), -1);
        ck_assert_msg(strstr(err.msg, "task 0, run 0:"), "%s: %s", bad[i], err.msg);
        free(p);
    }
    free(dir);
}
END_TEST

/* ---- outputs: atomic, checked, never reported unless written ------------------------------ */

/* Before: quantize -o F wrote F.tmp then renamed: a symlink planted there made qharness (as
 * root) overwrite its target, and two runs at once mixed their data into one loadable file. */
START_TEST(outputs_use_unique_temporaries)
{
    char *dir = tu_tmpdir(), *victim = qh_path_join(dir, "victim.txt"), *out = qh_path_join(dir, "out.safetensors");
    char *planted = qh_path_join(dir, "out.safetensors.tmp"), *planted2 = qh_path_join(dir, "out.safetensors.partial");
    qh_err err;
    ck_assert_int_eq(qh_write_file(victim, "precious data\n", 14, &err), 0);
    ck_assert_int_eq(symlink(victim, planted), 0);
    ck_assert_int_eq(symlink(victim, planted2), 0);
    char args[4400], *o;
    snprintf(args, sizeof args, "quantize default --method \"rtn bits=4 group=64\" -o %s", out);
    ck_assert_int_eq(tu_run_cli(args, &o), 0);
    free(o);
    struct stat sb;
    ck_assert_int_eq(stat(victim, &sb), 0);
    ck_assert_int_eq(sb.st_size, 14);
    /* two writers of one name: each has its own temporary; the name ends as one whole file */
    qh_outfile a, b;
    char *same = qh_path_join(dir, "same.txt");
    ck_assert_int_eq(qh_outfile_open(&a, same, &err), 0);
    ck_assert_int_eq(qh_outfile_open(&b, same, &err), 0);
    ck_assert_str_ne(a.tmp_path, b.tmp_path);
    fputs("first writer, whole\n", a.f);
    fputs("second writer, whole\n", b.f);
    ck_assert_int_eq(qh_outfile_commit(&b, &err), 0);
    ck_assert_int_eq(qh_outfile_commit(&a, &err), 0);
    char *text;
    size_t len;
    ck_assert_int_eq(qh_read_file(same, &text, &len, &err), 0);
    ck_assert_str_eq(text, "first writer, whole\n");
    free(text);
    /* a symlink at the final name is replaced, its target untouched */
    char *link_out = qh_path_join(dir, "linked.md");
    ck_assert_int_eq(symlink(victim, link_out), 0);
    ck_assert_int_eq(qh_write_file(link_out, "report\n", 7, &err), 0);
    ck_assert_int_eq(lstat(link_out, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    ck_assert_int_eq(stat(victim, &sb), 0);
    ck_assert_int_eq(sb.st_size, 14);
    /* nothing left behind */
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s/*.??????", dir);
    glob_t g;
    ck_assert_int_eq(glob(pattern, 0, NULL, &g), GLOB_NOMATCH);
    free(link_out);
    free(same);
    free(planted);
    free(planted2);
    free(out);
    free(victim);
    free(dir);
}
END_TEST

/* Before: with the disk full, report -o, plot -o and results --csv > FILE exited 0 leaving
 * empty files, and plot said "charts 10 written".  A file-size limit (ulimit -f, SIGXFSZ
 * ignored) stands in for the full disk. */
START_TEST(a_full_disk_is_an_error)
{
    char *dir = tu_tmpdir(), line[8192];
    char *db = tu_home_path("docs/assessment.sqlite");
    snprintf(line, sizeof line, "cd %s; trap \"\" XFSZ; ulimit -f 8; QH report --db %s --experiment default -o report.md", dir, db);
    expect_sh_error(line, 1, "report.md: write failed (File too large); nothing written");
    char *report = qh_path_join(dir, "report.md");
    ck_assert_msg(!qh_file_exists(report), "a report was left behind");
    snprintf(line, sizeof line, "cd %s; trap \"\" XFSZ; ulimit -f 20; QH plot --db %s --experiment default -o charts", dir, db);
    char *out;
    int rc = run_sh(line, &out);
    ck_assert_msg(rc == 1 && strstr(out, "gnuplot left it incomplete (disk full?); nothing written") && !strstr(out, "written under"), "%s",
                  out);
    free(out);
    snprintf(line, sizeof line, "cd %s; QH results --db %s --experiment default --csv > /dev/full", dir, db);
    expect_sh_error(line, 1, "qharness: standard output: write failed");
    snprintf(line, sizeof line, "cd %s; trap \"\" XFSZ; ulimit -f 1; QH results --db %s --experiment default --csv > r.csv", dir, db);
    expect_sh_error(line, 1, "qharness: standard output: write failed");
    free(report);
    free(db);
    free(dir);
}
END_TEST

/* Before: results/report/plot failed on a database they could not write ("attempt to write a
 * readonly database"): a WAL database in a folder the reader cannot write. */
START_TEST(readers_take_a_readonly_database)
{
    if (getuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0) {
        fprintf(stderr, "SKIPPED readers_take_a_readonly_database: needs root and setpriv to become another user\n");
        return;
    }
    /* another user, a copy of the binary it can run (the checkout may sit in a private
     * folder), a WAL database with no -shm file in a folder that user cannot write */
    char *dir = tu_tmpdir(), line[8192], *src = tu_home_path("docs/assessment.sqlite");
    snprintf(line, sizeof line, "chmod 755 %s && cp %s %s/qh && mkdir %s/ro && cp %s %s/ro/r.sqlite && chmod 555 %s/ro", dir, tu_binary(), dir, dir, src,
             dir, dir);
    ck_assert_int_eq(system(line), 0);
    const char *cmds[] = {"results --db %s/ro/r.sqlite --experiment default", "report --db %s/ro/r.sqlite --experiment default"};
    for (int i = 0; i < 2; i++) {
        char args[4400];
        snprintf(args, sizeof args, cmds[i], dir);
        snprintf(line, sizeof line, "setpriv --reuid=65534 --regid=65534 --clear-groups %s/qh %s", dir, args);
        char *out;
        int rc = run_sh(line, &out);
        ck_assert_msg(rc == 0 && strstr(out, "default") && !strstr(out, "readonly"), "'%s': exit %d: %.300s", line, rc, out);
        free(out);
    }
    snprintf(line, sizeof line, "chmod 755 %s/ro", dir);
    ck_assert_int_eq(system(line), 0);
    free(src);
    free(dir);
}
END_TEST

/* ---- derived files and locks ---------------------------------------------------------------- */

/* Before: a packed file recorded its source as typed (relative); run from another directory it
 * used whatever tokenizer sat at that path (perplexity 932.63 instead of 607.20, rc 0). */
START_TEST(packed_file_is_tied_to_its_tokenizer)
{
    char *dir = tu_tmpdir(), line[8192], *out;
    snprintf(line, sizeof line, "cd %s && QH quantize models/gpt2-gutenberg-18m --method \"rtn bits=4 group=64\" -o %s/p.safetensors >/dev/null",
             qh_home(), dir);
    ck_assert_int_eq(run_sh(line, &out), 0);
    free(out);
    /* from elsewhere: the same number as from the project */
    double ppl[2];
    for (int i = 0; i < 2; i++) {
        snprintf(line, sizeof line, "cd %s && QH ppl %s/p.safetensors wikitext2-test --max-tokens 1024 --json", i ? dir : qh_home(), dir);
        ck_assert_int_eq(run_sh(line, &out), 0);
        cJSON *j = cJSON_Parse(out);
        ck_assert_msg(j, "%s", out);
        ppl[i] = cJSON_GetObjectItem(j, "ppl")->valuedouble;
        cJSON_Delete(j);
        free(out);
    }
    ck_assert_msg(ppl[0] == ppl[1], "%f vs %f", ppl[0], ppl[1]);
    /* a different vocabulary beside it is refused by content */
    char *home_vocab = tu_home_path("models/gpt2-gutenberg-18m/vocab.json"), *text;
    size_t len;
    qh_err err;
    ck_assert_int_eq(qh_read_file(home_vocab, &text, &len, &err), 0);
    /* the same tokens with two ids exchanged: every file still parses, the model would read nonsense */
    ck_assert(strncmp(text, "{\"!\": 0, \"\\\"\": 1,", 16) == 0);
    memcpy(text, "{\"!\": 1, \"\\\"\": 0,", 16);
    char *v = qh_path_join(dir, "vocab.json"), *mg = qh_path_join(dir, "merges.txt"), *home_merges = tu_home_path("models/gpt2-gutenberg-18m/merges.txt");
    ck_assert_int_eq(qh_write_file(v, text, len, &err), 0);
    ck_assert_int_eq(symlink(home_merges, mg), 0);
    snprintf(line, sizeof line, "QH ppl %s/p.safetensors wikitext2-test --max-tokens 1024", dir);
    expect_sh_error(line, 1, "p.safetensors: made with tokenizer ");
    free(home_merges);
    free(mg);
    free(v);
    free(text);
    free(home_vocab);
    free(dir);
}
END_TEST

/* Model folders ship SHA256SUMS: a changed file is refused. */
START_TEST(model_manifest_is_checked)
{
    char *dir = tu_tmpdir(), line[8192];
    snprintf(line, sizeof line, "cp -r %s/models/gpt2-gutenberg-18m %s/m && printf \" \" >> %s/m/config.json", qh_home(), dir, dir);
    ck_assert_int_eq(system(line), 0);
    snprintf(line, sizeof line, "QH info %s/m", dir);
    expect_sh_error(line, 1, "m/SHA256SUMS:1: config.json has sha256 ");
    /* a malformed manifest line names its place */
    qh_sum_entry *e;
    int n;
    qh_err err;
    static const char bad[] = "979f05c14581b821c153eff302333e0077ef19b3cb52ec0c0e4aa9abc9617ffa  config.json\nnot a line\n";
    ck_assert_int_eq(qh_sha256sums_parse("S", bad, sizeof bad - 1, &e, &n, &err), -1);
    ck_assert_msg(strstr(err.msg, "S:2: not a manifest line"), "%s", err.msg);
    static const char escape[] = "979f05c14581b821c153eff302333e0077ef19b3cb52ec0c0e4aa9abc9617ffa  ../etc/passwd\n";
    ck_assert_int_eq(qh_sha256sums_parse("S", escape, sizeof escape - 1, &e, &n, &err), -1);
    free(dir);
}
END_TEST

/* Before: two concurrent `sweep --resume` of one experiment both ran every pending run. */
START_TEST(one_sweep_per_experiment_at_a_time)
{
    char *dir = tu_tmpdir(), *db = qh_path_join(dir, "r.sqlite");
    char *p = write_experiment(dir, "e.ini", "[experiment]\nname = locked\nmodels = default\n\n[tasks]\nppl.wikitext2-test = 512\n\n"
                                             "[method baseline]\nmethod = none\n");
    char args[8400], *out;
    snprintf(args, sizeof args, "sweep %s --db %s", p, db);
    ck_assert_int_eq(tu_run_cli(args, &out), 0);
    free(out);
    /* this process holds the experiment's lock as a running sweep would */
    char *lock = qh_path_join(dir, "r.sqlite.lock");
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1};
    ck_assert_int_eq(fcntl(fd, F_SETLK, &fl), 0);
    snprintf(args, sizeof args, "sweep %s --db %s --resume", p, db);
    ck_assert_int_eq(tu_run_cli(args, &out), 1);
    char want[64];
    snprintf(want, sizeof want, "experiment 1 is being swept by another process (pid %d)", (int)getpid());
    ck_assert_msg(strstr(out, want), "%s", out);
    free(out);
    close(fd); /* released: the resume runs (nothing left to do) */
    ck_assert_int_eq(tu_run_cli(args, &out), 0);
    ck_assert_msg(strstr(out, "done in an earlier session, skipped"), "%s", out);
    free(out);
    free(lock);
    free(p);
    free(db);
    free(dir);
}
END_TEST

/* ---- messages that named the wrong thing --------------------------------------------------- */

START_TEST(messages_name_the_real_problem)
{
    char *dir = tu_tmpdir(), line[8192];
    /* a corrupt llama2.c header said "config.json: cannot open" */
    snprintf(line, sizeof line, "mkdir %s/l && head -c 40 %s/models/stories260K/stories260K.bin | tr \"\\000\" \"\\377\" > %s/l/m.bin", dir, qh_home(),
             dir);
    ck_assert_int_eq(system(line), 0);
    snprintf(line, sizeof line, "QH info %s/l", dir);
    expect_sh_error(line, 1, "l/m.bin: header field dim is -192: not a llama2.c checkpoint");
    /* a GGUF with a bad magic said "not a model directory" */
    snprintf(line, sizeof line, "printf \"GGUX\\003\\000\\000\\000\" > %s/b.gguf; QH info %s/b.gguf", dir, dir);
    expect_sh_error(line, 1, "b.gguf: not a GGUF file: it starts with 'GGUX', a GGUF file with 'GGUF'");
    /* a directory given as TEXT said "no such file" */
    snprintf(line, sizeof line, "QH ppl default %s", dir);
    expect_sh_error(line, 1, ": is a directory; TEXT is a UTF-8 file or a registered dataset");
    /* a model fetched at set-up (make deps) and not there: says how to get it */
    snprintf(line, sizeof line, "mkdir -p %s/home/models/fetched && ln -s %s/datasets %s/home/datasets && printf \"%%064d  model.gguf\\n\" 0 > "
             "%s/home/models/fetched/SHA256SUMS && QHARNESS_HOME=%s/home QH ppl fetched wikitext2-test",
             dir, qh_home(), dir, dir, dir);
    expect_sh_error(line, 1, "fetched/model.gguf: missing: this model is fetched at set-up (`make deps`");
    /* --batch 100000 said "not a positive integer" */
    expect_sh_error("QH ppl default wikitext2-test --batch 100000", 2, "--batch '100000' is not an integer from 1 to 4096");
    free(dir);
}
END_TEST

/* The dry run counts calibration and warns on a grid that is more likely a typo. */
START_TEST(dry_run_counts_calibration_and_warns_on_large_grids)
{
    char *dir = tu_tmpdir(), args[4400], *out;
    char *p = write_experiment(dir, "big.ini", "[experiment]\nname = big\nmodels = default\n\n[tasks]\nppl.wikitext2-test = 256\n\n"
                                               "[method g]\nmethod = rtn\nbits = 2, 3, 4, 5, 6, 7, 8\ngroup = 0, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536\n"
                                               "scheme = sym, asym\n\n"
                                               "[method gptq]\nmethod = gptq\nbits = 4\n");
    snprintf(args, sizeof args, "sweep %s --dry-run", p);
    int rc = tu_run_cli(args, &out);
    ck_assert_msg(rc == 0 && strstr(out, "calibration  ") && strstr(out, "calibration included") && strstr(out, "warning: ") &&
                      strstr(out, "211 runs"),
                  "%d: %s", rc, out);
    free(out);
    free(p);
    free(dir);
}
END_TEST

/* Before: an inline claim of about 185 characters or more failed with "claim-....ini:2: unknown
 * section [] (claim)" (inih splits lines longer than its buffer, and the spec was copied into a
 * comment line), and a long line in a claim file was "not key = value" on the line after it. */
START_TEST(long_claims_are_read_whole)
{
    char *dir = tu_tmpdir(), *db = qh_path_join(dir, "c.sqlite"), *claim = qh_path_join(dir, "long.ini"), args[8192], *out;
    char text[400] = "";
    for (int i = 0; i < 3; i++) strcat(text, "binary weights keep ninety-nine percent of the quality of the full precision model. ");
    text[strlen(text) - 1] = 0;
    snprintf(args, sizeof args,
             "audit --claim 'model = default; method = binary; task = ppl.wikitext2-test; metric = ppl; retained = 0.99; budget = 512; text = %s' --db %s",
             text, db);
    int rc = tu_run_cli(args, &out);
    ck_assert_msg(rc == 0, "%s", out);
    char want[512];
    snprintf(want, sizeof want, "\"%s\"", text); /* the text whole, joined from its continuation lines */
    /* 512 tokens are 2 windows: no interval, so no verdict either way (issue 35), and it says why */
    ck_assert_msg(strstr(out, want) && strstr(out, "verdict      INCONCLUSIVE") && strstr(out, "2 windows scored, fewer than the 20") &&
                      strstr(out, "no interval (2 windows; a bootstrap needs 20)") && !strstr(out, "nan"),
                  "%s", out);
    free(out);
    char file[1024];
    snprintf(file, sizeof file, "[claim]\nname = long\ntext = %s\nmodel = default\nmethod = binary\ntask = ppl.wikitext2-test\n", text);
    qh_err err;
    ck_assert_int_eq(qh_write_file(claim, file, strlen(file), &err), 0);
    snprintf(args, sizeof args, "audit %s --db %s", claim, db);
    ck_assert_int_eq(tu_run_cli(args, &out), 1);
    snprintf(want, sizeof want, "%s:3: line longer than 198 characters", claim);
    ck_assert_msg(strstr(out, want), "%s", out);
    free(out);
    free(claim);
    free(db);
    free(dir);
}
END_TEST

Suite *suite_reliability(void)
{
    Suite *s = suite_create("reliability");
    TCase *t = tcase_create("reliability");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, nonfinite_weights_are_refused_naming_the_tensor);
    tcase_add_test(t, overflowing_activations_are_an_error_not_a_number);
    tcase_add_test(t, quantizer_input_must_be_finite);
    tcase_add_test(t, store_refuses_infinity);
    tcase_add_test(t, one_window_gives_no_interval);
    tcase_add_test(t, experiment_ctx_is_checked_against_the_model);
    tcase_add_test(t, experiment_files_refuse_duplicates_and_nul);
    tcase_add_test(t, claims_take_finite_fractions_only);
    tcase_add_test(t, plan_numbers_are_whole_and_in_range);
    tcase_add_test(t, outputs_use_unique_temporaries);
    tcase_add_test(t, a_full_disk_is_an_error);
    tcase_add_test(t, readers_take_a_readonly_database);
    tcase_add_test(t, packed_file_is_tied_to_its_tokenizer);
    tcase_add_test(t, model_manifest_is_checked);
    tcase_add_test(t, one_sweep_per_experiment_at_a_time);
    tcase_add_test(t, messages_name_the_real_problem);
    tcase_add_test(t, dry_run_counts_calibration_and_warns_on_large_grids);
    tcase_add_test(t, long_claims_are_read_whole);
    suite_add_tcase(s, t);
    return s;
}
