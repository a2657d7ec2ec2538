/* check_cli.c - end-to-end through the qharness binary: real output on the default model,
 * and for every kind of bad input a one-line error naming the file and the problem, with a
 * non-zero exit and no crash. */
#include <cJSON.h>
#include <glob.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datasets/mc.h"
#include "harness/cli/cli.h"
#include "methods/method.h"
#include "tests/testutil.h"

/* Asserts a single line "qharness: ..." containing needle, and the exit code. */
static void expect_error(const char *args, int want_rc, const char *needle)
{
    char *out;
    int rc = tu_run_cli(args, &out);
    ck_assert_msg(rc == want_rc, "'%s': exit %d (want %d): %s", args, rc, want_rc, out);
    ck_assert_msg(strncmp(out, "qharness", 8) == 0, "'%s': output does not start with qharness: %s", args, out);
    char *nl = strchr(out, '\n');
    ck_assert_msg(nl && nl[1] == 0, "'%s': error is not exactly one line: %s", args, out);
    ck_assert_msg(strstr(out, needle), "'%s': '%s' lacks '%s'", args, out, needle);
    free(out);
}

/* Every command that `qharness help` lists answers --help and -h with its usage on stdout
 * and exit 0; --version and version print the version; a usage error still exits 2. */
START_TEST(every_command_answers_help_and_version)
{
    char *list;
    ck_assert_int_eq(tu_run_cli_stdout("help", &list), 0);
    int commands = 0;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        char name[32];
        if (line[0] != ' ' || line[1] != ' ' || sscanf(line, "%31s", name) != 1) continue;
        for (int form = 0; form < 3; form++) {
            static const char *flags[] = {"--help", "-h", "default --help"};
            char args[96], want[64], *out;
            snprintf(args, sizeof args, "%s %s", name, flags[form]);
            snprintf(want, sizeof want, "usage: qharness %s", name);
            int rc = tu_run_cli_stdout(args, &out);
            ck_assert_msg(rc == 0, "'qharness %s' exited %d: %s", args, rc, out);
            ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "'qharness %s' printed: %s", args, out);
            free(out);
        }
        commands++;
    }
    free(list);
    ck_assert_int_ge(commands, 13);
    const char *version_forms[] = {"--version", "version"};
    for (int k = 0; k < 2; k++) {
        char *out;
        ck_assert_int_eq(tu_run_cli_stdout(version_forms[k], &out), 0);
        ck_assert_msg(strncmp(out, "qharness ", 9) == 0 && strchr(out, '.'), "%s", out);
        free(out);
    }
    char *out;
    ck_assert_int_eq(tu_run_cli_stdout("--help", &out), 0);
    ck_assert_msg(strstr(out, "usage: qharness COMMAND"), "%s", out);
    free(out);
    ck_assert_int_eq(tu_run_cli("results --bogus", &out), 2);
    free(out);
    ck_assert_int_eq(tu_run_cli("", &out), 2);
    free(out);
}
END_TEST

/* Each command's option table is what getopt reads and what --help prints: every row has a
 * sentence, a value-taking option names its value, no name appears twice, and an alias ("same
 * as --X") stands for an option of the same table that returns the same value to getopt. */
START_TEST(every_option_has_help_and_aliases_their_target)
{
    static const struct {
        const char *cmd;
        const qh_cli_opt *table;
    } tables[] = {{"ppl", qh_cmd_ppl_options},         {"kld", qh_cmd_kld_options},           {"mc", qh_cmd_mc_options},
                  {"audit", qh_cmd_audit_options},     {"bench", qh_cmd_bench_options},       {"convert", qh_cmd_convert_options},
                  {"merge", qh_cmd_merge_options},     {"plot", qh_cmd_plot_options},         {"quantize", qh_cmd_quantize_options},
                  {"report", qh_cmd_report_options},   {"results", qh_cmd_results_options},   {"sweep", qh_cmd_sweep_options},
                  {"info", qh_cmd_info_options}};
    int aliases = 0;
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++) {
        for (const qh_cli_opt *o = tables[t].table; o->name; o++) {
            ck_assert_msg(o->help && strlen(o->help) > 8, "%s --%s: no sentence", tables[t].cmd, o->name);
            ck_assert_msg((o->has_arg == required_argument) == (o->arg != NULL), "%s --%s: value name", tables[t].cmd, o->name);
            for (const qh_cli_opt *p = tables[t].table; p < o; p++)
                ck_assert_msg(strcmp(p->name, o->name) != 0, "%s --%s twice", tables[t].cmd, o->name);
            const char *same = strstr(o->help, "same as --");
            if (!same) continue;
            char target[32];
            ck_assert_int_eq(sscanf(same + strlen("same as --"), "%31[a-z-]", target), 1);
            const qh_cli_opt *p = tables[t].table;
            while (p->name && strcmp(p->name, target)) p++;
            ck_assert_msg(p->name && p->val == o->val && p->has_arg == o->has_arg, "%s --%s: alias of --%s, which differs",
                          tables[t].cmd, o->name, target);
            aliases++;
        }
    }
    ck_assert_int_ge(aliases, 6);
    /* the options issue 35 found missing from ppl's help, each with its sentence and default */
    char *out;
    ck_assert_int_eq(tu_run_cli_stdout("ppl --help", &out), 0);
    static const char *want[] = {"--include GLOB", "--calib TEXT", "(default: gutenberg-calib)", "--imatrix FILE.dat",
                                 "--kept-dtype F16|BF16|F32", "(default: F16)", "--stride S", "--quiet"};
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) ck_assert_msg(strstr(out, want[k]), "ppl --help lacks '%s':\n%s", want[k], out);
    free(out);
    /* aliases are parsed as their targets: the error is about the argument, not the option */
    expect_error("ppl default no-such-text --budget 64", 1, "no-such-text");
    expect_error("mc default --task no-such-task --budget 5", 1, "no-such-task");
    expect_error("plot --db no-such.sqlite --charts somewhere", 1, "no-such.sqlite");
    expect_error("plot --db no-such.sqlite --bpp-scope nowhere", 2, "--scope 'nowhere'");
}
END_TEST

/* results: terminal-width tables by default, every metric with --all, and CSV / JSON lines
 * that carry every stored metric unrounded (checked against the database directly). */
START_TEST(results_table_csv_and_json)
{
    char *db = tu_home_path("docs/assessment.sqlite"), args[4096], *out;
    snprintf(args, sizeof args, "results --db %s --experiment default", db);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    int lines = 0;
    for (char *l = out, *e; *l; l = e + 1, lines++) {
        e = strchr(l, '\n');
        if (!e) break;
        ck_assert_msg(e - l <= 140 || lines == 0, "line %d is %d wide", lines, (int)(e - l));
    }
    ck_assert_int_ge(lines, 13);
    ck_assert_msg(strstr(out, "wikitext2-test ppl") && strstr(out, "wikitext2-test kl") && strstr(out, "bpp.all"), "%s", out);
    ck_assert_msg(strstr(out, "ternary") && strstr(out, "1.647") && strstr(out, "708.0 [642.2, 785.7]"), "%s", out);
    /* the accuracies by default, values only, in a table of their own (issue 35); the rest with --all */
    ck_assert_msg(strstr(out, "run (acc)") && strstr(out, "winogrande") && strstr(out, "0.5233") && !strstr(out, "acc_letter"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "results --db %s --experiment default --all", db);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    ck_assert_msg(strstr(out, "mmlu acc_letter"), "%s", out);
    free(out);
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT COUNT(*), SUM(value) FROM metrics m JOIN runs r ON r.id=m.run_id WHERE "
                                           "r.experiment_id=(SELECT MAX(id) FROM experiments WHERE name='default')", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long n_metrics = sqlite3_column_int(st, 0);
    double sum = sqlite3_column_double(st, 1);
    sqlite3_finalize(st);
    sqlite3_close(h);
    snprintf(args, sizeof args, "results --db %s --experiment default --json", db);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    long n_json = 0;
    double json_sum = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"), n_json++) {
        cJSON *o = cJSON_Parse(l);
        ck_assert_msg(o != NULL, "not JSON: %s", l);
        json_sum += cJSON_GetObjectItem(o, "value")->valuedouble;
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(o, "protocol"));
        cJSON_Delete(o);
    }
    free(out);
    ck_assert_int_eq(n_json, n_metrics);
    ck_assert_double_eq_tol(json_sum, sum, 1e-9 * fabs(sum));
    snprintf(args, sizeof args, "results --db %s --experiment default --csv", db);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    ck_assert_msg(strncmp(out, "\"experiment\",\"run\",\"label\"", 26) == 0, "%s", out);
    long records = 0; /* protocol texts hold no newline, so one record per line */
    for (char *c = out; *c; c++) records += *c == '\n';
    ck_assert_int_eq(records, n_metrics + 1);
    free(out);
    /* lm-eval's layout: one object per run, results by lm-eval's task name, "acc,none" with its
     * stderr as lm-eval computes it (sqrt(p (1 - p) / (n - 1))), bpp and intervals beside */
    snprintf(args, sizeof args, "results --db %s --experiment default --lm-eval", db);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    int runs = 0, mmlu_seen = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"), runs++) {
        cJSON *o = cJSON_Parse(l);
        ck_assert_msg(o != NULL, "not JSON: %s", l);
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "qharness"), "bpp_model"));
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "config"), "model_sha256"));
        const cJSON *mm = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "results"), "mmlu");
        if (mm) {
            double acc = cJSON_GetObjectItem(mm, "acc,none")->valuedouble, se = cJSON_GetObjectItem(mm, "acc_stderr,none")->valuedouble;
            long n = (long)cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "n-samples"), "mmlu"), "effective")->valuedouble;
            ck_assert_double_eq_tol(se, sqrt(acc * (1 - acc) / (double)(n - 1)), 1e-12);
            mmlu_seen++;
        }
        cJSON_Delete(o);
    }
    ck_assert_msg(runs >= 2 && mmlu_seen == runs, "%d runs, %d with mmlu", runs, mmlu_seen);
    free(out);
    snprintf(args, sizeof args, "results --db %s --csv --json", db);
    ck_assert_int_eq(tu_run_cli(args, &out), 2);
    free(out);
    free(db);
}
END_TEST

/* A model directory that shares the default model's tokenizer and config; weights given. */
START_TEST(ppl_json_on_the_default_model)
{
    char *out;
    /* 20 windows: the fewest a bootstrap interval is computed from */
    int rc = tu_run_cli("ppl default wikitext2-test --max-tokens 5120 --json", &out);
    ck_assert_msg(rc == 0, "%s", out);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens_scored")->valueint, 20 * 255);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "windows")->valueint, 20);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "ctx")->valueint, 256);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "dataset_sha256")->valuestring,
                     "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "model_sha256")->valuestring,
                     "82fb3d52de414ad4f34dccc04920a854be291b8de43780c105289d76e40180a3");
    double ppl = cJSON_GetObjectItem(j, "ppl")->valuedouble;
    const cJSON *ci = cJSON_GetObjectItem(j, "ppl_ci95");
    ck_assert_msg(cJSON_IsArray(ci), "no interval from 20 windows: %s", out);
    ck_assert(cJSON_GetArrayItem(ci, 0)->valuedouble < ppl && ppl < cJSON_GetArrayItem(ci, 1)->valuedouble);
    /* the weak default model: WikiText-2 perplexity in the hundreds */
    ck_assert(ppl > 200 && ppl < 1500);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(j, "mean_nll")->valuedouble, log(ppl), 1e-6);
    /* 5,120 tokens lie in the first articles: no interval over articles */
    const cJSON *bd = cJSON_GetObjectItem(j, "by_document");
    ck_assert_msg(cJSON_IsObject(bd), "%s", out);
    ck_assert_str_eq(cJSON_GetObjectItem(bd, "unit")->valuestring, "article");
    ck_assert_int_eq(cJSON_GetObjectItem(bd, "documents_scored")->valueint, 2);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(bd, "ppl_ci95")));
    cJSON_Delete(j);
    free(out);
    /* TinyStories' stories are short: 8,192 tokens span enough of them for an interval */
    ck_assert_int_eq(tu_run_cli("ppl default tinystories-eval --max-tokens 8192", &out), 0);
    ck_assert_msg(strstr(out, "by story     95% CI [") && strstr(out, " stories the scored tokens are in, 1000 resamples"), "%s", out);
    free(out);
    ck_assert_int_eq(tu_run_cli("ppl default wikitext2-test --max-tokens 1024", &out), 0);
    ck_assert_msg(strstr(out, "by article   no interval: the scored tokens are in 1 article (a bootstrap needs at least 20)"), "%s", out);
    free(out);
    /* the same run, twice: identical numbers */
    char *again;
    rc = tu_run_cli("ppl default wikitext2-test --max-tokens 5120 --json", &again);
    ck_assert_int_eq(rc, 0);
    cJSON *a = cJSON_Parse(again);
    ck_assert_double_eq(cJSON_GetObjectItem(a, "ppl")->valuedouble, ppl);
    cJSON_Delete(a);
    free(again);
}
END_TEST

/* a misspelled model name is answered with the names there are */
START_TEST(unknown_model_names_the_known_ones)
{
    char *out;
    ck_assert_int_ne(tu_run_cli("ppl gpt2-gutenberg wikitext2-test", &out), 0);
    ck_assert_msg(strstr(out, "gpt2-gutenberg: no such model file or directory") && strstr(out, "(default, ") &&
                      strstr(out, "gpt2-gutenberg-18m") && strstr(out, "stories260K"),
                  "%s", out);
    free(out);
}
END_TEST

START_TEST(ppl_text_output_and_info)
{
    char *out;
    int rc = tu_run_cli("ppl default gutenberg-heldout --max-tokens 2816 --stride 128", &out); /* 21 windows */
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strstr(out, "perplexity"), "%s", out);
    ck_assert_msg(strstr(out, "95% CI [") && strstr(out, "bootstrap over 21 windows"), "%s", out);
    ck_assert_msg(strstr(out, "windows of ctx 256, stride 128"), "%s", out);
    ck_assert_msg(strstr(out, "window       ctx 256 is the model's context (config.json n_positions); --ctx sets it"), "%s", out);
    ck_assert_msg(strstr(out, "over 2815 scored tokens"), "%s", out);
    free(out);
    /* one model in two formats, two default windows: each output says where its window came from (issue 35) */
    char *gguf = tu_shared_path("golden/gguf/stories260K-f32.gguf"), cmd[4200];
    rc = tu_run_cli("ppl stories260K tinystories-eval --max-tokens 300", &out);
    ck_assert_msg(rc == 0 && strstr(out, "window       ctx 512 is the model's context (the llama2.c header's seq_len)"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "ppl %s tinystories-eval --max-tokens 300", gguf);
    rc = tu_run_cli(cmd, &out);
    ck_assert_msg(rc == 0 && strstr(out, "window       ctx 128 is the model's context (llama.context_length)"), "%s", out);
    free(out);
    free(gguf);
    /* 7 windows: no interval, and it says why */
    rc = tu_run_cli("ppl default gutenberg-heldout --max-tokens 1024 --stride 128", &out);
    ck_assert_msg(rc == 0 && strstr(out, "no interval: 7 windows (a bootstrap needs at least 20)") && !strstr(out, "CI ["), "%s", out);
    ck_assert_msg(strstr(out, "bits/byte"), "%s", out);
    free(out);
    rc = tu_run_cli("info default", &out);
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strstr(out, "parameters       17670400"), "%s", out);
    ck_assert_msg(strstr(out, "82fb3d52de414ad4f34dccc04920a854be291b8de43780c105289d76e40180a3"), "%s", out);
    ck_assert_msg(strstr(out, "dtype            F16"), "%s", out);
    free(out);
}
END_TEST

START_TEST(corrupt_checkpoints)
{
    char *wp = tu_home_path("models/gpt2-gutenberg-18m/model.safetensors"), *data;
    size_t len;
    qh_err err;
    ck_assert_int_eq(qh_read_file(wp, &data, &len, &err), 0);
    char args[4096];
    /* truncated in the middle of the data */
    char *dir = tu_model_dir_with_weights(data, len / 2);
    snprintf(args, sizeof args, "ppl %s wikitext2-test --max-tokens 512", dir);
    expect_error(args, 1, "runs past end of file");
    free(dir);
    /* truncated inside the header */
    dir = tu_model_dir_with_weights(data, 100);
    snprintf(args, sizeof args, "info %s", dir);
    expect_error(args, 1, "header length");
    free(dir);
    /* garbage where the header should be */
    char garbage[64] = {40, 0, 0, 0, 0, 0, 0, 0};
    memset(garbage + 8, '#', 56);
    dir = tu_model_dir_with_weights(garbage, sizeof garbage);
    snprintf(args, sizeof args, "ppl %s wikitext2-test", dir);
    expect_error(args, 1, "header is not a valid JSON object");
    free(dir);
    /* an unknown dtype in an otherwise intact file */
    char *patched = qh_malloc(len);
    memcpy(patched, data, len);
    char *dt = strstr(patched + 8, "\"F16\"");
    ck_assert_ptr_nonnull(dt);
    memcpy(dt, "\"Q16\"", 5);
    dir = tu_model_dir_with_weights(patched, len);
    snprintf(args, sizeof args, "ppl %s wikitext2-test", dir);
    expect_error(args, 1, "unknown dtype 'Q16'");
    free(dir);
    free(patched);
    free(data);
    free(wp);
}
END_TEST

START_TEST(bad_model_directories)
{
    char args[4096];
    expect_error("info /nonexistent/model", 1, "/nonexistent/model: no such model file or directory");
    /* weights fine, tokenizer missing */
    char *dir = tu_tmpdir();
    tu_ckpt spec = {.n_layer = 1, .n_head = 2, .n_embd = 8, .n_ctx = 16, .n_vocab = 50257, .dtype = QH_DT_F16, .seed = 3};
    tu_write_checkpoint(dir, &spec);
    snprintf(args, sizeof args, "ppl %s wikitext2-test", dir);
    expect_error(args, 1, "no tokenizer: expected vocab.json + merges.txt, encoder.json + vocab.bpe, llama2.c's tokenizer.bin, tokenizer.model or tokenizer.json");
    /* malformed vocabulary */
    char *v = qh_path_join(dir, "vocab.json"), *m = qh_path_join(dir, "merges.txt");
    qh_err err;
    ck_assert_int_eq(qh_write_file(v, "{\"!\": 0,", 8, &err), 0);
    ck_assert_int_eq(qh_write_file(m, "#version: 0.2\n", 14, &err), 0);
    expect_error(args, 1, "vocab.json: vocabulary is not a valid JSON object");
    /* shape disagreeing with config.json */
    tu_ckpt wider = spec;
    wider.n_embd = 16;
    tu_write_config(dir, &wider);
    snprintf(args, sizeof args, "info %s", dir);
    expect_error(args, 1, "has shape (50257, 8) but");
    free(v);
    free(m);
    free(dir);
}
END_TEST

START_TEST(bad_texts_and_options)
{
    char *dir = tu_tmpdir(), args[4096];
    char *bad = qh_path_join(dir, "latin1.txt"), *empty = qh_path_join(dir, "empty.txt"), *one = qh_path_join(dir, "one.txt");
    qh_err err;
    ck_assert_int_eq(qh_write_file(bad, "caf\xe9 au lait\n", 13, &err), 0);
    ck_assert_int_eq(qh_write_file(empty, "", 0, &err), 0);
    ck_assert_int_eq(qh_write_file(one, "a", 1, &err), 0);
    snprintf(args, sizeof args, "ppl default %s", bad);
    expect_error(args, 1, "latin1.txt: not valid UTF-8 at byte 3 (line 1)");
    snprintf(args, sizeof args, "ppl default %s", empty);
    expect_error(args, 1, "empty.txt: empty text");
    snprintf(args, sizeof args, "ppl default %s", one);
    expect_error(args, 1, "one.txt: text has 1 token; perplexity needs at least 2");
    expect_error("ppl default wikitext2-test --ctx 512", 1, "--ctx 512: window longer than the model's context (256)");
    expect_error("ppl default wikitext2-test --ctx 128 --stride 200", 1, "--stride 200: must be between 1 and the window length 128");
    expect_error("ppl default no-such-set", 1, "no-such-set: no such file, and not a registered dataset (wikitext2-test");
    expect_error("quantize default --method \"rtn bits=8 group=32\" -o x.gguf", 2, "-o x.gguf: quantize writes qharness's packed safetensors");
    expect_error("ppl default wikitext2-test --ctx abc", 2, "--ctx 'abc' is not an integer from 2 to 1048576");
    expect_error("ppl default wikitext2-test --frobnicate", 2, "unknown option '--frobnicate'");
    /* an option given without its value is named as such, not as unknown */
    expect_error("ppl default wikitext2-test --method", 2, "option '--method' needs a value");
    expect_error("results --db", 2, "option '--db' needs a value");
    expect_error("plot -o", 2, "option '-o' needs a value");
    expect_error("plot -x", 2, "unknown option '-x'");
    expect_error("ppl default", 2, "expected MODEL and TEXT");
    expect_error("frobnicate", 2, "'frobnicate' is not a command");
    expect_error("plot --scope sideways", 2, "--scope 'sideways' must be quantized, model or both");
    expect_error("plot --db /nonexistent/r.sqlite", 1, "/nonexistent/r.sqlite: no such results database");
    expect_error("results --db /nonexistent/r.sqlite", 1, "/nonexistent/r.sqlite: no such results database");
    free(bad);
    free(empty);
    free(one);
    free(dir);
}
END_TEST

/* A registered dataset whose bytes changed is refused, naming both hashes. */
START_TEST(dataset_checksum_is_enforced)
{
    char *home = tu_tmpdir(), args[8192];
    char *models = tu_home_path("models"), *link = qh_path_join(home, "models");
    ck_assert_int_eq(symlink(models, link), 0);
    char *ds = qh_path_join(home, "datasets");
    mkdir(ds, 0755);
    char *wt = qh_path_join(ds, "wikitext-2-raw");
    mkdir(wt, 0755);
    char *f = qh_path_join(wt, "wiki.test.raw");
    qh_err err;
    ck_assert_int_eq(qh_write_file(f, " = Tampered = \n", 15, &err), 0);
    const char *bin = getenv("QH_TEST_BINARY");
    char *def = tu_home_path("qharness");
    snprintf(args, sizeof args, "QHARNESS_HOME=%s %s ppl default wikitext2-test 2>&1", home, bin ? bin : def);
    FILE *p = popen(args, "r");
    char buf[2048] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    int status = pclose(p);
    ck_assert_int_eq(WEXITSTATUS(status), 1);
    ck_assert_msg(strstr(buf, "does not match the registered 173c87a5"), "%s", buf);
    free(def);
    free(f);
    free(wt);
    free(ds);
    free(link);
    free(models);
    free(home);
}
END_TEST

START_TEST(methods_quantize_and_packed_ppl)
{
    char *out, args[4096];
    int rc = tu_run_cli("methods", &out);
    ck_assert_int_eq(rc, 0);
    for (int i = 0; qh_methods[i]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\n%s", qh_methods[i]->name);
        ck_assert_msg(strstr(out, needle), "'methods' does not list %s", qh_methods[i]->name);
    }
    free(out);
    /* 'tasks' lists every multiple-choice set with its size and chance level, and every text */
    rc = tu_run_cli("tasks", &out);
    ck_assert_int_eq(rc, 0);
    for (const qh_mc_set *set = qh_mc_sets; set->name; set++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\n  %-23s ", set->name); /* the longest name, hellaswag-llamacpp-file, sets the width */
        ck_assert_msg(strstr(out, needle), "'tasks' does not list %s", set->name);
    }
    ck_assert_msg(strstr(out, "\n  copa                        100  0.5000   lm-eval: copa\n"), "%s", out);
    ck_assert_msg(strstr(out, "\n  arc-easy                   2376  0.2500   lm-eval: arc_easy (either name is taken; stored as the first)\n"), "%s", out);
    ck_assert_msg(strstr(out, "documents (ppl's interval by document): articles: each begins at a top-level heading"), "%s", out);
    ck_assert_msg(strstr(out, "\n  mmlu                      14042  0.2500   lm-eval: mmlu (acc_letter)"), "%s", out);
    ck_assert_msg(strstr(out, "\n  wikitext2-test ") && !strstr(out, "seeded subset"), "%s", out);
    free(out);
    ck_assert_int_eq(tu_run_cli("tasks extra", &out), 2); /* a usage error */
    free(out);
    /* progress: with the waits at 0 every step prints a line on stderr (not a terminal here):
     * what, done/total, the unit; --quiet silences it; stdout stays the result */
    setenv("QHARNESS_PROGRESS_SECONDS", "0", 1);
    rc = tu_run_cli("quantize default --method 'rtn bits=4'", &out);
    ck_assert_msg(rc == 0 && strstr(out, "quantize rtn bits=4 group=0 scheme=sym: 1/24 matrices (4%) after ") &&
                      strstr(out, "quantize rtn bits=4 group=0 scheme=sym: 24 matrices in "),
                  "%s", out);
    free(out);
    rc = tu_run_cli("ppl default wikitext2-test --max-tokens 2048 --quiet", &out);
    ck_assert_msg(rc == 0 && !strstr(out, "/8 windows (") && !strstr(out, "perplexity: 8 windows in") && strstr(out, "perplexity   "), "%s", out);
    free(out);
    rc = tu_run_cli_stdout("ppl default wikitext2-test --max-tokens 2048", &out);
    ck_assert_msg(rc == 0 && !strstr(out, "/8 windows ("), "progress reached stdout: %s", out);
    free(out);
    unsetenv("QHARNESS_PROGRESS_SECONDS");
    char *dir = tu_tmpdir(), *packed = qh_path_join(dir, "rtn3.safetensors");
    snprintf(args, sizeof args, "quantize default --method 'rtn bits=3 group=64' -o %s", packed);
    rc = tu_run_cli(args, &out);
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strstr(out, "quantized    24 tensors, 4718592 of 17670400 parameters"), "%s", out);
    ck_assert_msg(strstr(out, "bpp          3.2500 bits/weight"), "%s", out); /* 3 bits + an f16 scale per 64 */
    ck_assert_msg(strstr(out, "written      "), "%s", out);
    free(out);
    /* the packed file and the in-memory quantization give the same numbers */
    snprintf(args, sizeof args, "ppl %s wikitext2-test --max-tokens 1024 --json", packed);
    char *a, *b;
    ck_assert_int_eq(tu_run_cli(args, &a), 0);
    ck_assert_int_eq(tu_run_cli("ppl default wikitext2-test --max-tokens 1024 --json --method 'rtn bits=3 group=64'", &b), 0);
    cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
    ck_assert_msg(ja && jb, "%s\n%s", a, b);
    ck_assert_double_eq(cJSON_GetObjectItem(ja, "nll_sum")->valuedouble, cJSON_GetObjectItem(jb, "nll_sum")->valuedouble);
    ck_assert_double_eq(cJSON_GetObjectItem(ja, "bpp_quantized")->valuedouble, 3.25);
    ck_assert_double_eq(cJSON_GetObjectItem(ja, "bpp_model")->valuedouble, cJSON_GetObjectItem(jb, "bpp_model")->valuedouble);
    ck_assert_str_eq(cJSON_GetObjectItem(ja, "method")->valuestring, "rtn bits=3 group=64 scheme=sym");
    ck_assert_int_eq(cJSON_GetObjectItem(ja, "params_quantized")->valueint, 4718592);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    free(a);
    free(b);
    /* bad specs and options */
    expect_error("quantize default --method 'rtn bits=9'", 1, "method 'rtn': bits=9 is out of range [2, 8]");
    expect_error("quantize default --method 'rtm bits=3'", 1, "unknown method 'rtm'");
    expect_error("quantize default --method 'rtn bits=3' --include 'h.*.mlp.c_fcc.weight'", 1, "matches no tensor");
    expect_error("quantize default", 2, "--method SPEC (or --candidate ... --target BPP) is required");
    expect_error("quantize default --candidate binary", 2, "--candidate needs --target BPP");
    expect_error("quantize default --method binary --candidate ternary --target 1.2", 2, "--method and --candidate exclude each other");
    expect_error("ppl default wikitext2-test --include wte.weight", 2, "need --method");
    expect_error("quantize default --method rtn --override nopattern", 2, "--override 'nopattern' must be PATTERN=SPEC");
    expect_error("quantize default --method rtn --kept-dtype Q8", 2, "--kept-dtype 'Q8' must be F16, BF16 or F32");
    snprintf(args, sizeof args, "ppl %s wikitext2-test --method rtn", packed);
    expect_error(args, 1, "already quantized");
    free(packed);
    free(dir);
}
END_TEST

START_TEST(audit_through_the_cli)
{
    char *dir = tu_tmpdir(), *claim = qh_path_join(dir, "c.ini"), *db = qh_path_join(dir, "a.sqlite"), args[4096], *out;
    const char *text = "[claim]\nname = unit-binary\ntext = binary keeps 99% of perplexity\nmodel = default\n"
                       "method = binary\nclaimed_bpp = 1\ntask = ppl.wikitext2-test\nmetric = ppl\nbudget = 5120\nretained = 0.99\n";
    qh_err err;
    ck_assert_int_eq(qh_write_file(claim, text, strlen(text), &err), 0);
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0); /* the audit writes its experiment file beside --db, not under ./results */
    snprintf(args, sizeof args, "audit %s --db %s", claim, db);
    int rc = tu_run_cli(args, &out);
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strstr(out, "verdict      REFUTED"), "%s", out);
    {
        /* the bits from the format, not from qharness's accounting: binary (one scale per row)
         * stores a sign bit per weight and an f16 scale per output row; every other tensor
         * stays f16.  The scope is the 6 blocks' four matrices: out rows 768 + 256 + 1024 + 256,
         * in 256 (256 and 1024 for the MLP's down projection). */
        double weights = 6.0 * (768 * 256 + 256 * 256 + 1024 * 256 + 256 * 1024), rows = 6.0 * (768 + 256 + 1024 + 256);
        double scope_bits = weights + 16 * rows, model_bits = scope_bits + 16 * (17670400 - weights);
        char want[160];
        snprintf(want, sizeof want, "claimed 1; measured %.4f (quantized weights), %.4f (whole model)", scope_bits / weights,
                 model_bits / 17670400);
        ck_assert_msg(strstr(out, want), "expected '%s' in:\n%s", want, out);
    }
    ck_assert_msg(strstr(out, "leaves out the unquantized tensors"), "%s", out);
    free(out);
    /* again: the runs are reused, the verdict is the same and stored twice */
    rc = tu_run_cli(args, &out);
    ck_assert_msg(rc == 0 && strstr(out, "done in an earlier session, skipped") && strstr(out, "REFUTED"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "sqlite3 %s \"SELECT COUNT(*), MIN(verdict), COUNT(DISTINCT quantized_run) FROM audits\"", db);
    FILE *p = popen(args, "r");
    char buf[128] = "";
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, p));
    pclose(p);
    ck_assert_str_eq(buf, "2|REFUTED|1\n");
    /* a malformed claim */
    const char *bad = "[claim]\nname = x\nretained = lots\n";
    ck_assert_int_eq(qh_write_file(claim, bad, strlen(bad), &err), 0);
    snprintf(args, sizeof args, "audit %s --db %s", claim, db);
    expect_error(args, 1, "c.ini:3: retained = 'lots' is not a positive finite number");
    /* a claim given on the command line: parsed directly (no claim file written), audited like a file */
    snprintf(args, sizeof args, "audit --db %s --claim \"model = default; method = binary; claimed_bpp = 1; "
             "task = ppl.wikitext2-test; metric = ppl; budget = 5120; retained = 0.99\"", db);
    rc = tu_run_cli(args, &out);
    ck_assert_msg(rc == 0 && strstr(out, "claim        inline-") && strstr(out, "(--claim, sha256 ") && strstr(out, "verdict      REFUTED") &&
                      strstr(out, "not committed: given inline on the command line"),
                  "%s", out);
    free(out);
    {
        /* what an audit writes (its experiment file) goes beside the database, never into ./results/;
         * an inline claim leaves no claim file anywhere */
        char pattern[4200];
        snprintf(pattern, sizeof pattern, "%s/claim-*.ini", dir);
        glob_t g;
        ck_assert_int_eq(glob(pattern, 0, NULL, &g), GLOB_NOMATCH);
        snprintf(pattern, sizeof pattern, "%s/audit-*.ini", dir);
        ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
        globfree(&g);
        char *stray = qh_path_join(dir, "results");
        ck_assert_msg(!qh_is_dir(stray), "audit wrote into ./results/ although --db is %s", db);
        free(stray);
    }
    /* a bit-count claim (no retained fraction): judged on the bytes.  binary with one F16 scale per row writes
     * 1 + 16 x 13824 rows / 4718592 weights = 1.046875 bpp over the quantized tensors */
    snprintf(args, sizeof args, "audit --db %s --claim \"model = default; method = binary; claimed_bpp = 1.05; "
             "task = ppl.wikitext2-test; metric = ppl; budget = 5120\"", db);
    rc = tu_run_cli(args, &out);
    ck_assert_msg(rc == 0 && strstr(out, "(no retention claimed)") &&
                      strstr(out, "verdict      SUPPORTED (the bit count: the packed quantized weights take 1.0469 bpp, -0.0031 "
                                  "against the 1.05 claimed)"),
                  "%s", out);
    free(out);
    snprintf(args, sizeof args, "audit --db %s --claim \"model = default; method = binary; claimed_bpp = 1; "
             "task = ppl.wikitext2-test; metric = ppl; budget = 5120\"", db);
    rc = tu_run_cli(args, &out);
    ck_assert_msg(rc == 0 && strstr(out, "verdict      REFUTED (the bit count: the packed quantized weights take 1.0469 bpp, +0.0469"),
                  "%s", out);
    free(out);
    snprintf(args, sizeof args, "audit --db %s --claim \"model = default; method = binary; task = ppl.wikitext2-test; metric = ppl\"", db);
    expect_error(args, 1, "needs name, model, method (or checkpoint), task, metric, and retained or claimed_bpp (or both)");
    snprintf(args, sizeof args, "audit --db %s --claim \"model = default; retained = lots\"", db);
    expect_error(args, 1, "qharness: --claim: retained = 'lots' is not a positive finite number"); /* no file the user never wrote */
    snprintf(args, sizeof args, "audit %s --claim \"model = default\"", claim);
    expect_error(args, 2, "give a CLAIM.ini or --claim, not both");
    ck_assert_int_eq(chdir(cwd), 0);
    free(db);
    free(claim);
    free(dir);
}
END_TEST

/* HONEST_ASSESSMENT.md is what `qharness report --assessment` writes from the committed
 * database, byte for byte; and, checked without the generator, its tables carry the
 * database's numbers. */
/* The README's agreement table with the reference implementation (the model card's numbers,
 * PyTorch with lm-evaluation-harness conventions, to one decimal): each pins the count of
 * correct items, which qharness must reproduce exactly where the rounding allows one count. */
static double json_number(const char *json, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(json, k);
    ck_assert_msg(p, "no %s in %s", key, json);
    return strtod(p + strlen(k), NULL);
}

START_TEST(readme_agreement_with_the_reference)
{
    const struct {
        const char *args, *metric;
        double reference; /* the model card's percentage */
        long items;
        int slow;         /* skipped under QH_TEST_QUICK */
    } cases[] = {
        {"mc default --task mmlu --split dev --json", "acc_letter", 23.5, 285, 0},
        {"mc default --task arc-easy --n 500 --first --json", "acc", 23.2, 500, 0},
        /* the card's acc_norm (24.6%) divides by the UTF-8 bytes of " " + choice, which qharness
         * matched to the digit; qharness now divides by the characters of the choice, as
         * lm-evaluation-harness does (tests lmeval_parity_*), and gets 24.0% */
        {"mc default --task arc-easy --n 500 --first --json", "acc_norm", 24.0, 500, 0},
        {"mc default --task blimp --n 6700 --first --json", "acc", 54.3, 6700, 1},
    };
    char *out = NULL;
    const char *last = "";
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (cases[i].slow && tu_quick()) {
            fprintf(stderr, "cli: README agreement '%s' %s SKIPPED under QH_TEST_QUICK (checked by make check-unit)\n", cases[i].args,
                    cases[i].metric);
            continue;
        }
        if (strcmp(last, cases[i].args) != 0) {
            free(out);
            ck_assert_int_eq(tu_run_cli_stdout(cases[i].args, &out), 0);
            last = cases[i].args;
        }
        ck_assert_int_eq((long)json_number(out, "items"), cases[i].items);
        double v = 100 * json_number(out, cases[i].metric);
        /* the card rounds to 0.1%: qharness's value must round to the same */
        ck_assert_msg(fabs(v - cases[i].reference) <= 0.05 + 1e-9, "%s %s: %.4f%%, the reference %.1f%%", cases[i].args, cases[i].metric,
                      v, cases[i].reference);
    }
    free(out);
}
END_TEST

START_TEST(assessment_regenerates_the_committed_file)
{
    char *home = tu_home_path(""), cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(home), 0); /* the file names the database by this relative path */
    char *dir = tu_tmpdir(), *gen = qh_path_join(dir, "assessment.md"), args[4200], *out;
    snprintf(args, sizeof args, "report --assessment --db docs/assessment.sqlite -o %s", gen);
    int rc = tu_run_cli(args, &out);
    ck_assert_msg(rc == 0, "%s", out);
    free(out);
    char *want, *got;
    size_t want_len, got_len;
    qh_err err;
    ck_assert_msg(qh_read_file("HONEST_ASSESSMENT.md", &want, &want_len, &err) == 0, "%s", err.msg);
    ck_assert_msg(qh_read_file(gen, &got, &got_len, &err) == 0, "%s", err.msg);
    size_t at = 0;
    while (at < want_len && at < got_len && want[at] == got[at]) at++;
    ck_assert_msg(want_len == got_len && at == want_len,
                  "HONEST_ASSESSMENT.md differs from the generated file at byte %zu (edit reports/assessment.md.in, then "
                  "qharness report --assessment --db docs/assessment.sqlite -o HONEST_ASSESSMENT.md): ...%.80s",
                  at, got + (at > 20 ? at - 20 : 0));
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2("docs/assessment.sqlite", &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    /* every run of the three sweeps: label, configuration, bpp and WikiText-2 perplexity with its interval */
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT r.label, c.canonical, b.bpp_quantized, b.bpp_model, m.value, m.ci_low, m.ci_high FROM runs r "
                                        "JOIN method_configs c ON c.id=r.config_id JOIN bpp b ON b.run_id=r.id JOIN metrics m ON "
                                        "m.run_id=r.id AND m.task='ppl.wikitext2-test' AND m.metric='ppl' WHERE r.experiment_id IN "
                                        "(SELECT MAX(id) FROM experiments WHERE name IN ('default', 'calibrated', 'published') GROUP BY name)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char row[1024], scope[32] = "-";
        if (sqlite3_column_type(st, 2) != SQLITE_NULL) snprintf(scope, sizeof scope, "%.3f", sqlite3_column_double(st, 2));
        char canonical[512], *o = canonical; /* '|' escaped in a Markdown cell */
        for (const char *c = (const char *)sqlite3_column_text(st, 1); *c && o < canonical + sizeof canonical - 2; c++) {
            if (*c == '|') *o++ = '\\';
            *o++ = *c;
        }
        *o = 0;
        snprintf(row, sizeof row, "| %s | `%s` | %s | %.2f | %.1f [%.1f, %.1f] |", sqlite3_column_text(st, 0), canonical, scope, sqlite3_column_double(st, 3), sqlite3_column_double(st, 4), sqlite3_column_double(st, 5),
                 sqlite3_column_double(st, 6));
        ck_assert_msg(strstr(want, row), "HONEST_ASSESSMENT.md lacks the database row %s", row);
        rows++;
    }
    sqlite3_finalize(st);
    ck_assert_int_ge(rows, 46);
    /* every claim's verdict and retention */
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT claim, retention, ci_low, ci_high, verdict, claimed FROM audits WHERE id IN "
                                            "(SELECT MAX(id) FROM audits GROUP BY claim)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int claims = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char name[128], stats[256];
        snprintf(name, sizeof name, "| **%s**: ", sqlite3_column_text(st, 0));
        /* a bit-count claim (claimed 0) claims no retention; fewer than 20 windows give no interval */
        const char *claims_none = sqlite3_column_double(st, 5) > 0 ? "(>= " : "(none claimed";
        if (sqlite3_column_type(st, 2) == SQLITE_NULL)
            snprintf(stats, sizeof stats, "| %.3f [-, -] %s", sqlite3_column_double(st, 1), claims_none);
        else
            snprintf(stats, sizeof stats, "| %.3f [%.3f, %.3f] %s", sqlite3_column_double(st, 1), sqlite3_column_double(st, 2),
                     sqlite3_column_double(st, 3), claims_none);
        char *line = strstr(want, name);
        ck_assert_msg(line, "HONEST_ASSESSMENT.md lacks claim %s", name);
        char *end = strchr(line, '\n');
        *end = 0;
        ck_assert_msg(strstr(line, stats) && strstr(line, (const char *)sqlite3_column_text(st, 4)), "%s lacks %s", line, stats);
        *end = '\n';
        claims++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* one audit per shipped claim file (the test runs in the repository root) */
    glob_t files;
    ck_assert_int_eq(glob("experiments/claims/*.ini", 0, NULL, &files), 0);
    ck_assert_int_eq(claims, (int)files.gl_pathc);
    globfree(&files);
    /* bad input */
    expect_error("report --assessment --db docs/assessment.sqlite --template /nonexistent.md.in", 1,
                 "/nonexistent.md.in: cannot open");
    expect_error("report --assessment --db /nonexistent.sqlite", 1, "/nonexistent.sqlite: no such results database");
    expect_error("report --assessment --experiment default", 2, "takes no --experiment");
    expect_error("report --template x.md.in", 2, "--template goes with --assessment");
    free(want);
    free(got);
    ck_assert_int_eq(chdir(cwd), 0);
    free(gen);
    free(dir);
    free(home);
}
END_TEST

/* Before: a second sweep of a name beside an unfinished one started silently, and results,
 * plot and report showed whichever came last with no way to name the other. */
START_TEST(experiments_are_picked_by_id)
{
    char *dir = tu_tmpdir(), *ini = qh_path_join(dir, "tiny.ini"), *db = qh_path_join(dir, "t.sqlite"), args[8192], *out;
    const char *text = "[experiment]\nname = tiny\nmodels = default\nctx = 64\n\n[tasks]\nppl.wikitext2-test = 256\n\n"
                       "[method baseline]\nmethod = none\n\n[method rtn]\nmethod = rtn\nbits = 4\n";
    qh_err err;
    ck_assert_int_eq(qh_write_file(ini, text, strlen(text), &err), 0);
    snprintf(args, sizeof args, "sweep %s --db %s", ini, db);
    ck_assert_int_eq(tu_run_cli(args, &out), 0);
    free(out);
    /* a finished experiment may be run again: a second one of the same name */
    ck_assert_int_eq(tu_run_cli(args, &out), 0);
    free(out);
    snprintf(args, sizeof args, "results --db %s", db);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    ck_assert_msg(strstr(out, "    1  tiny") && strstr(out, "    2  tiny") && strstr(out, "2/2") && strstr(out, "2 experiments in"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "results --db %s --experiment tiny", db);
    ck_assert_int_eq(tu_run_cli(args, &out), 0);
    ck_assert_msg(strstr(out, "experiment tiny (id 2") && strstr(out, "note: 2 experiments are named 'tiny'") && strstr(out, "--id picks another"),
                  "%s", out);
    free(out);
    snprintf(args, sizeof args, "results --db %s --id 1", db);
    ck_assert_int_eq(tu_run_cli(args, &out), 0);
    ck_assert_msg(strstr(out, "experiment tiny (id 1") && !strstr(out, "note:"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "report --db %s --id 1", db);
    ck_assert_int_eq(tu_run_cli_stdout(args, &out), 0);
    ck_assert_msg(strstr(out, "# Experiment `tiny`"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "results --db %s --id 9", db);
    ck_assert_int_eq(tu_run_cli(args, &out), 1);
    ck_assert_msg(strstr(out, "no experiment with id 9"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "results --db %s --id 1 --experiment tiny", db);
    ck_assert_int_eq(tu_run_cli(args, &out), 2);
    free(out);
    /* an unfinished one (a sweep that was stopped): a plain rerun is refused, --resume
     * continues it, --new starts another */
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, "UPDATE runs SET status='pending' WHERE experiment_id=2 AND label='rtn'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    snprintf(args, sizeof args, "sweep %s --db %s", ini, db);
    ck_assert_int_eq(tu_run_cli(args, &out), 1);
    ck_assert_msg(strstr(out, "experiment 'tiny' (id 2)") && strstr(out, "has 1 run not done: --resume continues it, --new starts another"),
                  "%s", out);
    free(out);
    snprintf(args, sizeof args, "sweep %s --db %s --resume --new", ini, db);
    ck_assert_int_eq(tu_run_cli(args, &out), 2);
    free(out);
    snprintf(args, sizeof args, "sweep %s --db %s --resume", ini, db);
    ck_assert_int_eq(tu_run_cli(args, &out), 0);
    ck_assert_msg(strstr(out, "1 done earlier") && strstr(out, "experiment id 2"), "%s", out);
    free(out);
    free(ini);
    free(db);
    free(dir);
}
END_TEST

Suite *suite_cli(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("end-to-end");
    tcase_add_test(tc, every_command_answers_help_and_version);
    tcase_add_test(tc, every_option_has_help_and_aliases_their_target);
    tcase_add_test(tc, results_table_csv_and_json);
    tcase_add_test(tc, ppl_json_on_the_default_model);
    tcase_add_test(tc, unknown_model_names_the_known_ones);
    tcase_add_test(tc, ppl_text_output_and_info);
    tcase_add_test(tc, corrupt_checkpoints);
    tcase_add_test(tc, bad_model_directories);
    tcase_add_test(tc, bad_texts_and_options);
    tcase_add_test(tc, dataset_checksum_is_enforced);
    tcase_add_test(tc, methods_quantize_and_packed_ppl);
    tcase_add_test(tc, audit_through_the_cli);
    tcase_add_test(tc, experiments_are_picked_by_id);
    tcase_add_test(tc, assessment_regenerates_the_committed_file);
    tcase_add_test(tc, readme_agreement_with_the_reference);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}
