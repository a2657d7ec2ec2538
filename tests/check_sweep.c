/* check_sweep.c - experiment files (good, bad, grids), the SQLite schema, the sweep runner on
 * a small experiment, resume after SIGKILL, and multiple-choice scoring against a direct
 * computation. */
#include <cJSON.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "datasets/mc.h"
#include "harness/eval/eval_mc.h"
#include "harness/run/experiment.h"
#include "harness/model/forward.h"
#include "harness/run/store.h"
#include "methods/method.h"
#include "tests/testutil.h"

static char *write_temp(const char *dir, const char *name, const char *text)
{
    char *p = qh_path_join(dir, name);
    qh_err err;
    ck_assert_int_eq(qh_write_file(p, text, strlen(text), &err), 0);
    return p;
}

static const char *good_ini =
    "; a comment\n"
    "[experiment]\n"
    "name = unit\n"
    "description = grid test\n"
    "models = default\n"
    "seed = 7\n"
    "ctx = 128\n"
    "\n"
    "[tasks]\n"
    "ppl.wikitext2-test = 1024\n"
    "fidelity.wikitext2-test = 512\n"
    "mmlu = 12\n"
    "mmlu.shots = 2\n"
    "mmlu.subjects = anatomy,astronomy\n"
    "copa = all\n"
    "\n"
    "[method base]\n"
    "method = none\n"
    "\n"
    "[method rtn]\n"
    "method = rtn\n"
    "bits = 2, 3, 4\n"
    "group = 64,128\n"
    "scheme = asym\n"
    "\n"
    "[method wrapped]\n"
    "spec = outliers frac=0.01 + binary\n"
    "include = wte.weight\n"
    "override = h.*.mlp.*=rtn bits=8\n"
    "kept_dtype = BF16\n";

START_TEST(experiment_parsing_and_grid)
{
    char *dir = tu_tmpdir(), *p = write_temp(dir, "x.ini", good_ini);
    qh_experiment x;
    qh_err err;
    ck_assert_msg(qh_experiment_load(p, &x, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(x.name, "unit");
    ck_assert_int_eq(x.seed, 7);
    ck_assert_int_eq(x.ctx, 128);
    ck_assert_int_eq(x.n_models, 1);
    ck_assert_int_eq(x.n_tasks, 4);
    ck_assert_int_eq(x.tasks[0].kind, QH_TASK_PPL);
    ck_assert_int_eq(x.tasks[0].budget, 1024);
    ck_assert_int_eq(x.tasks[1].kind, QH_TASK_FIDELITY);
    ck_assert_int_eq(x.tasks[2].shots, 2);
    ck_assert_str_eq(x.tasks[2].subjects, "anatomy,astronomy");
    ck_assert_int_eq(x.tasks[3].budget, 0); /* all */
    /* 1 baseline + 3 x 2 grid + 1 spec */
    ck_assert_int_eq(x.n_configs, 8);
    ck_assert_str_eq(x.configs[0].canonical, "none");
    ck_assert_str_eq(x.configs[1].label, "rtn bits=2 group=64");
    ck_assert_str_eq(x.configs[1].canonical, "rtn bits=2 group=64 scheme=asym | kept F16");
    ck_assert_str_eq(x.configs[2].label, "rtn bits=2 group=128");
    ck_assert_str_eq(x.configs[6].label, "rtn bits=4 group=128");
    ck_assert_str_eq(x.configs[7].canonical,
                     "outliers frac=0.01 + binary group=0 | include wte.weight | override h.*.mlp.*=rtn bits=8 group=0 scheme=sym | kept BF16");
    ck_assert_int_eq(x.configs[7].scope.kept_dtype, QH_DT_BF16);
    ck_assert_int_eq(x.configs[7].scope.n_override, 1);
    ck_assert_str_eq(x.configs[7].scope.override_pattern[0], "h.*.mlp.*");
    ck_assert_int_eq((int)strlen(x.sha256), 64);
    qh_experiment_free(&x);
    free(p);
    free(dir);
}
END_TEST

START_TEST(experiment_errors_name_file_line_and_key)
{
    struct { const char *text, *want; } bad[] = {
        {"[experiment]\nname = a\nmodels = default\n[tasks]\nppl.wikitext2-test = 10\n[methd x]\nmethod = none\n",
         "bad.ini:6: unknown section [methd x]"},
        {"[experiment]\nname = a\ncolour = red\n", "bad.ini:3: [experiment] unknown key 'colour'"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\nppl.wikitext2-test = lots\n", "bad.ini:5: [tasks] ppl.wikitext2-test = 'lots'"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\nppl.wikitext9 = 10\n", "bad.ini:5: [tasks] ppl.wikitext9: unknown text dataset"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\nmmlux = 10\n", "bad.ini:5: [tasks] unknown task 'mmlux'"},
        /* the known names come with the refusal */
        {"[experiment]\nname = a\nmodels = default\n[tasks]\nmmlux = 10\n", "are mmlu, blimp, lambada, arc-easy"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\nmmlux = 10\n", "take wikitext2-test, wikitext2-valid"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\ncopa = 5\n[method r]\nmethod = rtn\nbits = 4, 9\n",
         "bad.ini:8: [method r] method 'rtn': bits=9 is out of range [2, 8]"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\ncopa = 5\n[method r]\nmethod = rtx\n", "bad.ini:7: [method r] method spec 'rtx': unknown method 'rtx'"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\ncopa = 5\n[method r]\nmethod = rtn\nbitz = 4\n",
         "bad.ini:8: [method r] method 'rtn' has no parameter 'bitz'"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\ncopa = 5\n[method r]\nspec = binary\nmethod = binary\n",
         "bad.ini:7: [method r] give either 'spec' or 'method'"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\ncopa = 5\n[method r]\nmethod = binary\n[method s]\nspec = binary group=0\n",
         "bad.ini:9: [method s] 's' repeats a configuration of 'r'"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\ncopa = 5\n[method r]\nspec = binary\noverride = nopattern\n",
         "bad.ini:8: [method r] override 'nopattern' must be PATTERN=SPEC"},
        {"[experiment]\nname = a\nmodels = default\nthis line has no equals sign\n", "bad.ini:4: not a 'key = value' line"},
        {"[experiment]\ndescription = no name\nmodels = default\n[tasks]\ncopa = 5\n[method r]\nmethod = none\n",
         "bad.ini: [experiment] name is required"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\ncopa = 5\n", "bad.ini: no [method NAME] section"},
        {"[experiment]\nname = a b\n", "bad.ini:2: [experiment] name 'a b'"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\nmmlu = 5\nmmlu.shots = 9\n", "bad.ini:6: [tasks] mmlu.shots: '9' must be 0 to 5"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\nppl.wikitext2-test@llama = 10\n",
         "bad.ini:5: [tasks] ppl.wikitext2-test@llama: unknown perplexity protocol 'llama' (known: sliding, llama-cpp)"},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\ncopa = 5\n[method g]\ngguf = nowhere.gguf\n",
         "bad.ini:7: [method g] gguf: "},
        {"[experiment]\nname = a\nmodels = default\n[tasks]\ncopa = 5\n[method g]\ngguf = x.gguf\nmethod = rtn\n",
         "bad.ini:7: [method g] gguf = FILE takes no other key"},
    };
    char *dir = tu_tmpdir();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *p = write_temp(dir, "bad.ini", bad[i].text);
        qh_experiment x;
        qh_err err;
        ck_assert_msg(qh_experiment_load(p, &x, &err) == -1, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, bad[i].want), "case %zu: '%s' lacks '%s'", i, err.msg, bad[i].want);
        free(p);
    }
    free(dir);
}
END_TEST

/* Where SQL may be written: a shell pipeline over the sources (run in the repository root)
 * must find nothing, and a count of the rightful place's matches must reach at least; both
 * halves, so that a pattern matching nothing cannot pass. */
static void sql_only_in(const char *finds_nothing, const char *counts, int at_least, const char *what)
{
    char *home = tu_home_path(""), cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "cd %s && %s", home, finds_nothing);
    int rc = tu_run_shell(cmd, &out);
    ck_assert_msg(rc == 1 && out[0] == 0, "%s:\n%s", what, out);
    free(out);
    snprintf(cmd, sizeof cmd, "cd %s && %s", home, counts);
    ck_assert_int_eq(tu_run_shell(cmd, &out), 0);
    ck_assert_msg(atoi(out) >= at_least, "%s", out);
    free(out);
    free(home);
}

/* The store owns the schema: no source but harness/run/store.c holds SQL that changes a
 * database (a reader that wrote, or a second copy of a writer, would show here). */
START_TEST(only_the_store_writes_sql)
{
    sql_only_in("grep -rnE '\"[^\"]*\\b(INSERT|UPDATE|DELETE|REPLACE|ATTACH|DETACH|CREATE|DROP|ALTER)\\b' "
                "harness methods datasets reports --include='*.c' --include='*.h' | grep -v '^harness/run/store\\.c:'",
                "grep -cE '\"[^\"]*\\b(INSERT|UPDATE|DELETE)\\b' harness/run/store.c", 10, "SQL that writes outside harness/run/store.c");
}
END_TEST

/* Every query the readers of the store ask is a named one in harness/run/queries.h: no SELECT
 * written in reports/ or in the results tables. */
START_TEST(readers_ask_named_queries)
{
    sql_only_in("grep -nE '\"[^\"]*\\bSELECT\\b' reports/*.c reports/*.h harness/run/results.c",
                "grep -cE '^#define QH_Q_[A-Z_]+' harness/run/queries.h", 40, "queries written outside harness/run/queries.h");
}
END_TEST

START_TEST(schema_is_the_documented_file)
{
    char *path = tu_home_path("harness/run/schema.sql"), *text;
    size_t len;
    qh_err err;
    ck_assert_int_eq(qh_read_file(path, &text, &len, &err), 0);
    ck_assert_str_eq(qh_schema_sql(), text);
    char *dir = tu_tmpdir(), *db = qh_path_join(dir, "s.sqlite");
    qh_store s;
    ck_assert_msg(qh_store_open(db, &s, &err) == 0, "%s", err.msg);
    const char *tables[] = {"meta", "experiments", "models", "method_configs", "runs", "bpp", "bpp_parts", "tensors", "metrics", "items", "audits", "slurm_tasks"};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        long long n;
        int found;
        ck_assert_int_eq(qh_store_int(&s, &err, &n, &found, "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name=?", "t", tables[i]), 0);
        ck_assert_msg(n == 1, "table %s missing", tables[i]);
    }
    long long wal;
    int found;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(s.db, "PRAGMA journal_mode", -1, &st, NULL);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    /* the UNIQUE keys that make duplicates impossible */
    ck_assert_int_eq(qh_store_run(&s, &err, NULL, "INSERT INTO method_configs(canonical, family) VALUES ('x', 'x')", ""), 0);
    ck_assert_int_eq(qh_store_run(&s, &err, NULL, "INSERT INTO method_configs(canonical, family) VALUES ('x', 'x')", ""), -1);
    ck_assert_msg(strstr(err.msg, "UNIQUE"), "%s", err.msg);
    ck_assert_int_eq(qh_store_int(&s, &err, &wal, &found, "SELECT value FROM meta WHERE key='schema_version'", ""), 0);
    ck_assert_int_eq(wal, 2);
    qh_store_close(&s);
    /* reopening an existing store is fine */
    ck_assert_int_eq(qh_store_open(db, &s, &err), 0);
    qh_store_close(&s);
    /* a version-1 store (audits without the test's p, discordant count and registration) is
     * upgraded on opening, its rows kept; a newer one than this harness writes is refused */
    char *old_db = qh_path_join(dir, "v1.sqlite");
    sqlite3 *raw;
    ck_assert_int_eq(sqlite3_open(old_db, &raw), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(raw,
                                  "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                                  "INSERT INTO meta VALUES ('schema_version', '1');"
                                  "CREATE TABLE audits (id INTEGER PRIMARY KEY, claim TEXT NOT NULL, verdict TEXT NOT NULL);"
                                  "INSERT INTO audits(claim, verdict) VALUES ('old', 'REFUTED');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    ck_assert_msg(qh_store_open(old_db, &s, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(qh_store_int(&s, &err, &wal, &found, "SELECT value FROM meta WHERE key='schema_version'", ""), 0);
    ck_assert_int_eq(wal, 2);
    ck_assert_int_eq(qh_store_int(&s, &err, &wal, &found, "SELECT COUNT(*) FROM audits WHERE claim='old' AND p_value IS NULL AND registration IS NULL", ""), 0);
    ck_assert_int_eq(wal, 1);
    ck_assert_int_eq(qh_store_run(&s, &err, NULL, "UPDATE meta SET value='3' WHERE key='schema_version'", ""), 0);
    qh_store_close(&s);
    ck_assert_int_eq(qh_store_open(old_db, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, "schema version 3, this harness writes 2"), "%s", err.msg);
    free(old_db);
    free(db);
    free(dir);
    free(text);
    free(path);
}
END_TEST

START_TEST(wilson_known_values)
{
    double lo, hi;
    qh_wilson(50, 100, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0.403832, 1e-6);
    ck_assert_double_eq_tol(hi, 0.596168, 1e-6);
    qh_wilson(0, 10, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0.0, 1e-12);
    ck_assert_double_eq_tol(hi, 0.277533, 1e-6);
    qh_wilson(81, 100, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0.722212, 1e-6);
    ck_assert_double_eq_tol(hi, 0.874852, 1e-6);
    for (long n = 1; n <= 300; n++) { /* the ends are exact: p = 0 and p = 1 lie inside their intervals */
        qh_wilson(n, n, &lo, &hi);
        ck_assert(hi == 1.0);
        qh_wilson(0, n, &lo, &hi);
        ck_assert(lo == 0.0);
    }
    qh_wilson(1, 1, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0.206549, 1e-6);
    ck_assert_double_eq_tol(hi, 1.0, 1e-12);
}
END_TEST

/* log p(cont | context) computed directly: one forward over the whole sequence, double-precision
 * log-softmax at each continuation position. */
static double direct_ll(const qh_model *m, qh_tokenizer *tok, const char *context, const char *cont, int bos)
{
    int *a = NULL, *b;
    size_t na = 0, nb;
    qh_err err;
    if (*context) ck_assert_int_eq(qh_encode(tok, "c", context, strlen(context), &a, &na, &err), 0);
    ck_assert_int_eq(qh_encode(tok, "x", cont, strlen(cont), &b, &nb, &err), 0);
    int lead = bos >= 0, n = (int)(lead + na + nb), V = m->cfg.n_vocab;
    int *all = qh_malloc((size_t)n * sizeof(int));
    if (lead) all[0] = bos;
    if (na) memcpy(all + lead, a, na * sizeof(int));
    memcpy(all + lead + na, b, nb * sizeof(int));
    int start = n > m->cfg.n_ctx ? n - m->cfg.n_ctx : 0, T = n - start;
    qh_workspace ws;
    qh_workspace_init(&ws, &m->cfg, 1, T);
    qh_forward(m, all + start, 1, T, &ws);
    float *lg = qh_malloc((size_t)T * V * sizeof(float));
    qh_head_logits(m, ws.ln, T, lg);
    double ll = 0;
    for (int p = n - (int)nb; p < n; p++) {
        const float *row = lg + (size_t)(p - start - 1) * V;
        double mx = -1e30, s = 0;
        for (int v = 0; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        for (int v = 0; v < V; v++) s += exp(row[v] - mx);
        ll += row[all[p]] - mx - log(s);
    }
    free(lg);
    free(all);
    free(a);
    free(b);
    qh_workspace_free(&ws);
    return ll;
}

/* qh_eval_mc against direct computation, on a few items of every task kind */
START_TEST(mc_agrees_with_direct_computation)
{
    qh_model *m = tu_default_model(0);
    qh_tokenizer *tok = tu_default_tokenizer();
    qh_err err;
    const char *tasks[] = {"copa", "winogrande", "blimp", "lambada", "arc-easy", "hellaswag", "mmlu"};
    for (size_t ti = 0; ti < sizeof tasks / sizeof *tasks; ti++) {
        qh_mc_opts o = {.budget = 3, .seed = 5};
        qh_mc_task t;
        ck_assert_msg(qh_mc_load(tasks[ti], &o, &t, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(t.n_items, 3);
        qh_mc_result r;
        ck_assert_msg(qh_eval_mc(m, tok, &t, 256, &r, NULL, NULL, &err) == 0, "%s", err.msg);
        int eot = qh_token_id(tok, "<|endoftext|>");
        for (int i = 0; i < t.n_items; i++) {
            const qh_mc_item *it = &t.items[i];
            double best = -1e30;
            int arg = -1;
            for (int c = 0; c < it->n_choices; c++) {
                double ll = direct_ll(m, tok, it->contexts ? it->contexts[c] : it->context, it->choices[c],
                                      t.kind == QH_MC_PAIR ? eot : -1);
                if (ll > best) {
                    best = ll;
                    arg = c;
                }
                if (c == it->gold) ck_assert_msg(fabs(ll - r.item_gold_ll[i]) < 2e-3 * fabs(ll) + 1e-3, "%s item %d: %g vs %g", tasks[ti], i, ll, r.item_gold_ll[i]);
            }
            if (t.kind != QH_MC_LAMBADA) ck_assert_int_eq(r.item_correct[i], arg == it->gold);
        }
        ck_assert(r.acc >= r.acc_lo && r.acc <= r.acc_hi);
        qh_mc_result_free(&r);
        qh_mc_free(&t);
    }
    qh_tokenizer_free(tok);
    qh_model_free(m);
}
END_TEST

/* The same request scores the same bits in every one of 64 batch slots, among requests of
 * other lengths (so the padded width changes), and with one thread or all of them. */
START_TEST(a_request_scores_the_same_in_every_batch_slot)
{
    qh_model *m = tu_default_model(0);
    enum { N = 64 };
    qh_lm_request req[N];
    memset(req, 0, sizeof req);
    int base[12] = {464, 3290, 373, 262, 1266, 286, 1661, 11, 340, 373, 262, 4785};
    for (int k = 0; k < N; k++) {
        int copy = k % 3 != 1; /* two in three are the same request */
        req[k].n = copy ? 12 : 5 + k % 11;
        req[k].n_cont = copy ? 4 : 2;
        req[k].tokens = qh_malloc((size_t)req[k].n * sizeof(int));
        for (int t = 0; t < req[k].n; t++) req[k].tokens[t] = copy ? base[t] : (k * 131 + t * 17) % 50257;
        req[k].n_alt = copy ? 2 : 0;
        req[k].alt[0] = 317;
        req[k].alt[1] = 347;
    }
    int threads = omp_get_max_threads();
    double first = 0, first_alt = 0;
    for (int nt = threads; nt >= 1; nt -= threads > 1 ? threads - 1 : 1) {
        omp_set_num_threads(nt);
        qh_score_requests(m, req, N, 256, NULL, NULL);
        omp_set_num_threads(threads);
        if (nt == threads) {
            first = req[0].logprob;
            first_alt = req[0].alt_logprob[1];
        }
        for (int k = 0; k < N; k++) {
            if (k % 3 == 1) continue;
            ck_assert_msg(req[k].logprob == first, "slot of request %d, %d threads: %.17g vs %.17g", k, nt,
                          req[k].logprob, first);
            ck_assert_msg(req[k].alt_logprob[1] == first_alt, "alternative of request %d, %d threads", k, nt);
        }
    }
    for (int k = 0; k < N; k++) free(req[k].tokens);
    qh_model_free(m);
}
END_TEST

/* hand-made items whose answers are fixed by construction: a choice identical to the gold
 * one cannot win (first index wins ties), and a LAMBADA target that is the greedy token is correct */
START_TEST(mc_scoring_rules_on_hand_made_items)
{
    qh_model *m = tu_default_model(0);
    qh_tokenizer *tok = tu_default_tokenizer();
    qh_err err;
    qh_mc_task t = {0};
    snprintf(t.name, sizeof t.name, "hand");
    t.kind = QH_MC_CHOICE;
    t.n_items = 2;
    t.items = qh_calloc(2, sizeof(qh_mc_item));
    const char *ch[2][3] = {{" the cat", " the cat", " the cat"}, {" of", " of the of the of the", " of"}};
    int gold[2] = {0, 1};
    for (int i = 0; i < 2; i++) {
        qh_mc_item *it = &t.items[i];
        snprintf(it->key, sizeof it->key, "h/%d", i);
        it->context = qh_strdup("It was the best of times, it was the worst");
        it->n_choices = 3;
        it->choices = qh_calloc(3, sizeof(char *));
        for (int c = 0; c < 3; c++) it->choices[c] = qh_strdup(ch[i][c]);
        it->gold = gold[i];
    }
    qh_mc_result r;
    ck_assert_int_eq(qh_eval_mc(m, tok, &t, 256, &r, NULL, NULL, &err), 0);
    ck_assert_int_eq(r.item_correct[0], 1);  /* three identical choices: the first (gold) wins */
    ck_assert_int_eq(r.item_correct[1], 0);  /* a longer continuation has a lower total log-likelihood */
    ck_assert_double_eq_tol(r.acc, 0.5, 1e-12);
    qh_mc_result_free(&r);
    /* LAMBADA rule: the target made of the model's own greedy token is correct */
    const char *context = "It was the best of times, it was the worst of";
    int *ids;
    size_t n;
    ck_assert_int_eq(qh_encode(tok, "c", context, strlen(context), &ids, &n, &err), 0);
    qh_workspace ws;
    qh_workspace_init(&ws, &m->cfg, 1, (int)n);
    qh_forward(m, ids, 1, (int)n, &ws);
    float *lg = qh_malloc((size_t)m->cfg.n_vocab * sizeof(float));
    qh_head_logits(m, ws.ln + (n - 1) * m->cfg.n_embd, 1, lg);
    int am = 0;
    for (int v = 1; v < m->cfg.n_vocab; v++) am = lg[v] > lg[am] ? v : am;
    size_t bl;
    const char *bytes = qh_token_bytes(tok, am, &bl);
    qh_lm_request req[2] = {0};
    for (int k = 0; k < 2; k++) {
        req[k].n = (int)n + 1;
        req[k].n_cont = 1;
        req[k].tokens = qh_malloc(((size_t)n + 1) * sizeof(int));
        memcpy(req[k].tokens, ids, n * sizeof(int));
        req[k].tokens[n] = k == 0 ? am : (am + 1) % m->cfg.n_vocab;
    }
    qh_score_requests(m, req, 2, 256, NULL, NULL);
    ck_assert_int_eq(req[0].all_greedy, 1);
    ck_assert_int_eq(req[1].all_greedy, 0);
    ck_assert(req[0].logprob > req[1].logprob);
    (void)bytes;
    (void)bl;
    free(req[0].tokens);
    free(req[1].tokens);
    free(lg);
    free(ids);
    qh_workspace_free(&ws);
    qh_mc_free(&t);
    qh_tokenizer_free(tok);
    qh_model_free(m);
}
END_TEST

START_TEST(sampling_is_reproducible_and_stratified)
{
    qh_mc_opts o = {.budget = 57 * 3, .seed = 11};
    qh_mc_task a, b, c;
    qh_err err;
    ck_assert_int_eq(qh_mc_load("mmlu", &o, &a, &err), 0);
    ck_assert_int_eq(qh_mc_load("mmlu", &o, &b, &err), 0);
    o.seed = 12;
    ck_assert_int_eq(qh_mc_load("mmlu", &o, &c, &err), 0);
    ck_assert_int_eq(a.n_items, 171);
    ck_assert_int_eq(a.n_available, 14042);
    int same = 1, differ = 0;
    for (int i = 0; i < a.n_items; i++) {
        same &= strcmp(a.items[i].key, b.items[i].key) == 0;
        differ |= strcmp(a.items[i].key, c.items[i].key) != 0;
    }
    ck_assert(same);
    ck_assert(differ);
    /* proportional by subject: the smallest subjects (about 100 questions) still get 1 */
    char last[128] = "";
    int subjects = 0;
    for (int i = 0; i < a.n_items; i++) {
        char subj[128];
        snprintf(subj, sizeof subj, "%.*s", (int)strcspn(a.items[i].key, "/"), a.items[i].key);
        if (strcmp(subj, last)) subjects++;
        snprintf(last, sizeof last, "%s", subj);
    }
    ck_assert_int_eq(subjects, 57);
    qh_mc_free(&a);
    qh_mc_free(&b);
    qh_mc_free(&c);
    /* errors */
    qh_mc_opts bad = {.budget = 5, .shots = 2};
    ck_assert_int_eq(qh_mc_load("copa", &bad, &a, &err), -1);
    ck_assert_msg(strstr(err.msg, "copa: shots apply to mmlu only"), "%s", err.msg);
    qh_mc_opts subj = {.subjects = "astrology"};
    ck_assert_int_eq(qh_mc_load("mmlu", &subj, &a, &err), -1);
    ck_assert_msg(strstr(err.msg, "no subject matches 'astrology'"), "%s", err.msg);
    qh_mc_opts plain = {.budget = 5};
    ck_assert_int_eq(qh_mc_load("trivia", &plain, &a, &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown task 'trivia'"), "%s", err.msg);
}
END_TEST

/* ---- the sweep, end to end, through the CLI --------------------------------------------- */

static const char *sweep_ini =
    "[experiment]\nname = resume-test\nmodels = default\nseed = 3\n"
    "[tasks]\nppl.wikitext2-test = 1024\nfidelity.wikitext2-test = 512\ncopa = 12\nblimp = 67\nmmlu = 8\n"
    "[method base]\nmethod = none\n"
    "[method rtn]\nmethod = rtn\nbits = 8, 4, 3, 2\ngroup = 64\nscheme = asym\n"
    "[method bin]\nmethod = binary\n"
    "[method ter]\nspec = outliers frac=0.01 + ternary\n";

static long long q1(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    ck_assert_msg(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(h));
    long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static char *q1s(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(h));
    char *v = qh_strdup(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* sum of every metric value and item value of an experiment: equal sums, equal numbers */
static double fingerprint(const char *db, long long exp)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    sqlite3_open(db, &h);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT TOTAL(m.value * (1 + r.ordinal)) FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.experiment_id = %lld)"
             " + (SELECT TOTAL(i.value) FROM items i JOIN runs r ON r.id = i.run_id WHERE r.experiment_id = %lld)", exp, exp);
    sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    sqlite3_step(st);
    double v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Every one of n runs done, in one experiment, each once: per run one metric row per (task,
 * metric), every item, one bpp row (the tasks of sweep_ini and slurm_ini: copa 12 items,
 * ppl.wikitext2-test 4 windows). */
static void expect_every_run_once(const char *db, int n)
{
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM runs WHERE status='done'"), n);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM experiments"), 1);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM runs"), n);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM (SELECT run_id, task, metric, COUNT(*) c FROM metrics GROUP BY 1,2,3 HAVING c > 1)"), 0);
    ck_assert_int_eq(q1(db, "SELECT COUNT(DISTINCT run_id) FROM metrics"), n);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM items WHERE task='copa'"), n * 12);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM items WHERE task='ppl.wikitext2-test'"), n * 4);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM bpp"), n);
}

START_TEST(sweep_resume_after_sigkill)
{
    char *dir = tu_tmpdir(), *ini = write_temp(dir, "r.ini", sweep_ini), *db = qh_path_join(dir, "r.sqlite");
    char *bin = getenv("QH_TEST_BINARY") ? qh_strdup(getenv("QH_TEST_BINARY")) : tu_home_path("qharness");
    /* start the sweep, kill it with SIGKILL once some runs are done and others are not */
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", 1);
        dup2(null, 1);
        dup2(null, 2);
        execl(bin, bin, "sweep", ini, "--db", db, (char *)NULL);
        _exit(127);
    }
    double t0 = qh_now();
    long long done = 0;
    while (qh_now() - t0 < 240) {
        usleep(20000);
        /* the file exists before its schema does: wait for the runs table before asking it */
        if (access(db, F_OK) == 0 && q1(db, "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='runs'") == 1 &&
            (done = q1(db, "SELECT COUNT(*) FROM runs WHERE status='done'")) >= 2)
            break;
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFSIGNALED(status));
    long long total = q1(db, "SELECT COUNT(*) FROM runs");
    done = q1(db, "SELECT COUNT(*) FROM runs WHERE status='done'");
    ck_assert_int_eq(total, 7);
    ck_assert_msg(done >= 2 && done < 7, "killed with %lld of 7 runs done", done);
    /* every run is all or nothing: no metrics or items for runs that are not done */
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.status<>'done'"), 0);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM items i JOIN runs r ON r.id=i.run_id WHERE r.status<>'done'"), 0);
    const char *stamps = "SELECT GROUP_CONCAT(id || '@' || finished_at, ' ') FROM (SELECT id, finished_at FROM runs "
                         "WHERE id IN (SELECT id FROM runs WHERE status='done') ORDER BY id)";
    char *done_before = q1s(db, stamps);
    /* resume */
    char cmd[8192], *out;
    snprintf(cmd, sizeof cmd, "sweep %s --db %s --resume", ini, db);
    int rc = tu_run_cli(cmd, &out);
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strstr(out, "done in an earlier session, skipped"), "%s", out);
    free(out);
    expect_every_run_once(db, 7);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM items WHERE task='blimp'"), 7 * 67);
    /* runs finished before the kill were not redone: their finish stamps are unchanged */
    char query[512];
    snprintf(query, sizeof query, "SELECT GROUP_CONCAT(id || '@' || finished_at, ' ') FROM (SELECT id, finished_at FROM runs "
                                  "ORDER BY id LIMIT %lld)", done);
    char *after = q1s(db, query);
    ck_assert_str_eq(after, done_before);
    free(after);
    free(done_before);
    /* the baseline agrees with itself: KL 0, top-1 1 */
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM metrics m JOIN runs r ON r.id=m.run_id JOIN method_configs c ON c.id=r.config_id "
                            "WHERE c.canonical='none' AND ((m.metric='kl' AND ABS(m.value) < 1e-6) OR (m.metric='top1' AND m.value = 1))"), 2);
    /* bpp of the 8-bit asym run, from bytes: 8 + 16/64 + 8/64 over the scope */
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM bpp b JOIN runs r ON r.id=b.run_id WHERE r.label='rtn bits=8' AND "
                            "ABS(b.bpp_quantized - 8.375) < 1e-9 AND b.bytes_total * 8 = ROUND(b.bpp_model * b.params_total)"), 1);
    /* a second, uninterrupted sweep of the same file: a new experiment, the same numbers */
    snprintf(cmd, sizeof cmd, "sweep %s --db %s", ini, db);
    rc = tu_run_cli(cmd, &out);
    ck_assert_msg(rc == 0, "%s", out);
    free(out);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM experiments"), 2);
    double a = fingerprint(db, 1), b = fingerprint(db, 2);
    ck_assert_msg(fabs(a - b) <= 1e-9 * fabs(a), "resumed %.12g vs clean %.12g", a, b);
    /* resume refuses an edited file */
    char *edited = write_temp(dir, "r.ini", "; edited\n");
    FILE *f = fopen(edited, "a");
    fputs(sweep_ini, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "sweep %s --db %s --resume", ini, db);
    rc = tu_run_cli(cmd, &out);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(out, "changed since experiment 'resume-test'"), "%s", out);
    free(out);
    free(edited);
    free(bin);
    free(db);
    free(ini);
    free(dir);
}
END_TEST

START_TEST(dry_run_lists_the_grid)
{
    char *dir = tu_tmpdir(), *ini = write_temp(dir, "d.ini", sweep_ini), cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "sweep --dry-run %s", ini);
    int rc = tu_run_cli(cmd, &out);
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strstr(out, "1 model(s) x 7 configurations = 7 runs, 5 tasks"), "%s", out);
    ck_assert_msg(strstr(out, "rtn bits=2 group=64 scheme=asym | kept F16"), "%s", out);
    ck_assert_msg(strstr(out, "estimate "), "%s", out);
    free(out);
    /* --json: one object per expanded run, parsed back; each spec parses to its canonical form */
    snprintf(cmd, sizeof cmd, "sweep --dry-run --json %s", ini);
    ck_assert_int_eq(tu_run_cli_stdout(cmd, &out), 0);
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_msg(o, "not JSON: %s", line);
        ck_assert_int_eq((int)cJSON_GetObjectItem(o, "run")->valuedouble, lines + 1);
        const char *spec = cJSON_GetStringValue(cJSON_GetObjectItem(o, "spec")),
                   *canonical = cJSON_GetStringValue(cJSON_GetObjectItem(o, "canonical"));
        ck_assert(spec && canonical && cJSON_IsBool(cJSON_GetObjectItem(o, "needs_calibration")));
        ck_assert(cJSON_GetObjectItem(o, "estimate_s")->valuedouble > 0);
        if (strcmp(spec, "none") != 0) {
            qh_spec *ps;
            qh_err err;
            ck_assert_msg(qh_spec_parse(spec, &ps, &err) == 0, "%s", err.msg);
            char canon[512];
            qh_spec_canonical(ps, canon, sizeof canon);
            ck_assert_msg(strncmp(canonical, canon, strlen(canon)) == 0, "%s vs %s", canonical, canon);
            qh_spec_free(ps);
        }
        cJSON_Delete(o);
    }
    ck_assert_int_eq(lines, 7);
    free(out);
    ck_assert_int_eq(tu_run_cli("sweep --json experiments/default.ini", &out), 2); /* --json needs --dry-run */
    free(out);
    char *bad = write_temp(dir, "b.ini", "[experiment]\nname = x\nmodels = default\n[tasks]\ncopa = 0\n");
    snprintf(cmd, sizeof cmd, "sweep --dry-run %s", bad);
    rc = tu_run_cli(cmd, &out);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(out, "b.ini:5: [tasks] copa = '0'"), "%s", out);
    free(out);
    free(bad);
    free(ini);
    free(dir);
}
END_TEST

/* ---- a sweep through a real Slurm cluster --------------------------------------------------- */

static const char *slurm_ini =
    "[experiment]\nname = slurm-test\nmodels = default\nseed = 3\n"
    "[tasks]\nppl.wikitext2-test = 1024\nfidelity.wikitext2-test = 512\ncopa = 12\n"
    "[method base]\nmethod = none\n"
    "[method rtn]\nmethod = rtn\nbits = 4, 3\ngroup = 64\nscheme = asym\n"
    "[method bin]\nmethod = binary\n";

/* every metric of an experiment's runs, one line each by ordinal */
static char *metric_lines(const char *db)
{
    return q1s(db, "SELECT GROUP_CONCAT(line, char(10)) FROM (SELECT r.ordinal || ' ' || m.task || ' ' || m.metric || ' ' || "
                   "printf('%.17g', m.value) AS line FROM metrics m JOIN runs r ON r.id=m.run_id ORDER BY r.ordinal, m.task, m.metric)");
}

/* squeue has nothing left of this cluster's jobs (array and merge); 0 when it timed out */
static int wait_for_slurm(double seconds)
{
    double t0 = qh_now();
    while (qh_now() - t0 < seconds) {
        FILE *p = popen("squeue -h 2>&1", "r");
        char line[512];
        int any = 0;
        while (p && fgets(line, sizeof line, p)) any = 1;
        if (p) pclose(p);
        if (!any) return 1;
        usleep(200000);
    }
    return 0;
}

START_TEST(slurm_sweep_survives_a_killed_task)
{
    if (tu_quick()) {
        printf("skipped: slurm_sweep_survives_a_killed_task under QH_TEST_QUICK (the sanitizer pass); it runs in the plain pass\n");
        return;
    }
    char *dir = tu_tmpdir(), *ini = write_temp(dir, "s.ini", slurm_ini), cmd[8192], *out;
    char *local = qh_path_join(dir, "local.sqlite"), *db = qh_path_join(dir, "slurm.sqlite"), *cl = qh_path_join(dir, "cluster");
    char *script = tu_home_path("tests/slurm/cluster.sh");
    /* the daemons need root: as another user, through sudo where it asks no password */
    const char *sudo = getuid() != 0 && system("sudo -n true >/dev/null 2>&1") == 0 ? "sudo -n " : "";
    snprintf(cmd, sizeof cmd, "%s'%s' start '%s' %d 2>'%s/cluster.err'", sudo, script, cl, (int)getpid(), dir);
    int rc = system(cmd);
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        char *why_path = qh_path_join(dir, "cluster.err"), *why = NULL;
        size_t len;
        qh_err err;
        if (qh_read_file(why_path, &why, &len, &err) != 0) why = qh_strdup("?");
        why[strcspn(why, "\n")] = 0;
        int unavailable = WIFEXITED(rc) && WEXITSTATUS(rc) == 77;
        ck_assert_msg(unavailable && !getenv("QH_REQUIRE_SLURM"), "the test cluster did not start: %s", why);
        printf("skipped: slurm_sweep_survives_a_killed_task: no Slurm cluster can start here: %s\n", why);
        free(why);
        free(why_path);
        return;
    }
    char *conf = qh_path_join(cl, "slurm.conf");
    setenv("SLURM_CONF", conf, 1);
    /* the same sweep here, for the numbers and the wall time */
    snprintf(cmd, sizeof cmd, "sweep %s --db %s", ini, local);
    double t0 = qh_now();
    ck_assert_msg(tu_run_cli(cmd, &out) == 0, "%s", out);
    double local_s = qh_now() - t0;
    free(out);
    /* through Slurm, with the task of 'rtn bits=3' held between its evaluation and its commit */
    setenv("QH_TEST_STALL_LABEL", "rtn bits=3", 1);
    snprintf(cmd, sizeof cmd, "sweep %s --db %s --slurm --cpus-per-task 1", ini, db);
    t0 = qh_now();
    rc = tu_run_cli(cmd, &out);
    unsetenv("QH_TEST_STALL_LABEL");
    ck_assert_msg(rc == 0 && strstr(out, "4 runs submitted as Slurm array job"), "%s", out);
    free(out);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM slurm_tasks"), 4);
    {
        /* paths in #SBATCH lines are quoted (sbatch reads a quoted value as one, spaces and all) */
        char *job = qh_path_join(dir, "slurm.sqlite.shards/exp-1/job-1.sh"), *text;
        size_t len;
        qh_err err;
        ck_assert_int_eq(qh_read_file(job, &text, &len, &err), 0);
        ck_assert_msg(strstr(text, "#SBATCH --output=\"") && strstr(text, "#SBATCH --chdir=\""), "%s", text);
        free(text);
        free(job);
    }
    char *victim = q1s(db, "SELECT t.job_id || '_' || t.array_index FROM slurm_tasks t JOIN runs r ON r.id=t.run_id WHERE r.label='rtn bits=3'");
    snprintf(cmd, sizeof cmd, "sweep %s --db %s --status", ini, db);
    int seen = 0;
    while (qh_now() - t0 < 180 && !seen) {
        usleep(200000);
        ck_assert_int_eq(tu_run_cli_stdout(cmd, &out), 0);
        seen = strstr(out, "3 done, 1 running") != NULL;
        free(out);
    }
    ck_assert_msg(seen, "the three other runs did not finish while the fourth was held");
    /* the held task: evaluated, not committed; kill it there */
    char *shard_dir = qh_path_join(dir, "slurm.sqlite.shards/exp-1");
    long long held_run = q1(db, "SELECT id FROM runs WHERE label='rtn bits=3'");
    char shard_name[64];
    snprintf(shard_name, sizeof shard_name, "run-%lld.sqlite", held_run);
    char *held_shard = qh_path_join(shard_dir, shard_name);
    ck_assert_int_eq(q1(held_shard, "SELECT COUNT(*) FROM runs WHERE status='running'"), 1);
    snprintf(cmd, sizeof cmd, "scancel %s", victim);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_msg(wait_for_slurm(60), "the cancelled array and its merge job did not end");
    /* the merge job ran: three runs in, the killed one pending with nothing of it stored */
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM runs WHERE status='done'"), 3);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM runs WHERE status='pending' AND label='rtn bits=3'"), 1);
    ck_assert_int_eq(q1(held_shard, "SELECT COUNT(*) FROM metrics"), 0);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.status<>'done'"), 0);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM items i JOIN runs r ON r.id=i.run_id WHERE r.status<>'done'"), 0);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM bpp b JOIN runs r ON r.id=b.run_id WHERE r.status<>'done'"), 0);
    snprintf(cmd, sizeof cmd, "sweep %s --db %s --status", ini, db);
    ck_assert_int_eq(tu_run_cli_stdout(cmd, &out), 0);
    ck_assert_msg(strstr(out, "3 done, 0 running, 0 pending, 1 failed") && strstr(out, "ended CANCELLED"), "%s", out);
    free(out);
    /* resume: exactly the killed run again */
    snprintf(cmd, sizeof cmd, "sweep %s --db %s --slurm --resume", ini, db);
    rc = tu_run_cli(cmd, &out);
    ck_assert_msg(rc == 0 && strstr(out, "1 runs submitted as Slurm array job") && strstr(out, "3 done before"), "%s", out);
    free(out);
    ck_assert_msg(wait_for_slurm(120), "the resubmitted run did not end");
    double slurm_s = qh_now() - t0;
    expect_every_run_once(db, 4);
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM slurm_tasks"), 5);
    /* the numbers are the local sweep's: 1 thread per task there, all cores here; the same
     * summation order in every kernel qharness uses, so equal to the last bit (measured), and
     * asserted to 1e-9 relative as between any two sweeps */
    char *a = metric_lines(local), *b = metric_lines(db);
    ck_assert_int_eq(strlen(a) > 0, 1);
    if (strcmp(a, b) != 0) {
        double fa = fingerprint(local, 1), fb = fingerprint(db, 1);
        ck_assert_msg(fabs(fa - fb) <= 1e-9 * fabs(fa), "Slurm %.12g vs local %.12g", fb, fa);
    }
    ck_assert_int_eq(q1(db, "SELECT COUNT(*) FROM metrics"), q1(local, "SELECT COUNT(*) FROM metrics"));
    /* merging again, twice, changes nothing */
    double before = fingerprint(db, 1);
    char *stamps = q1s(db, "SELECT GROUP_CONCAT(id || '@' || finished_at, ' ') FROM runs");
    snprintf(cmd, sizeof cmd, "merge --db %s --experiment slurm-test", db);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(tu_run_cli(cmd, &out), 0);
        ck_assert_msg(strstr(out, "0 runs copied in, 4 done before (untouched)"), "%s", out);
        free(out);
    }
    char *stamps_after = q1s(db, "SELECT GROUP_CONCAT(id || '@' || finished_at, ' ') FROM runs");
    ck_assert_str_eq(stamps, stamps_after);
    ck_assert(fingerprint(db, 1) == before);
    /* a shard that is not a database is refused by name; the rest stays as it was */
    char *junk = write_temp(shard_dir, "run-99.sqlite", "this is not a database, it is text long enough to look like a file");
    rc = tu_run_cli(cmd, &out);
    ck_assert_msg(rc == 1 && strstr(out, "run-99.sqlite: shard refused"), "%s", out);
    free(out);
    ck_assert(fingerprint(db, 1) == before);
    unlink(junk);
    printf("slurm_sweep_survives_a_killed_task: 4-run sweep %.1f s locally; through Slurm with the kill and the resume %.1f s\n",
           local_s, slurm_s);
    snprintf(cmd, sizeof cmd, "%s'%s' stop '%s'", sudo, script, cl);
    ck_assert_int_eq(system(cmd), 0);
    unsetenv("SLURM_CONF");
    free(junk);
    free(stamps);
    free(stamps_after);
    free(a);
    free(b);
    free(held_shard);
    free(shard_dir);
    free(victim);
    free(conf);
    free(script);
    free(cl);
    free(db);
    free(local);
    free(ini);
    free(dir);
}
END_TEST

/* The cluster commands' bad input, without a cluster: each a one-line error naming the file. */
START_TEST(slurm_commands_refuse_bad_input)
{
    char *dir = tu_tmpdir(), *ini = write_temp(dir, "s.ini", slurm_ini), cmd[8192], *out;
    char *db = qh_path_join(dir, "none.sqlite");
    struct {
        const char *args;
        int rc;
        const char *says;
    } cases[] = {
        {"sweep %s --partition debug", 2, "go with --slurm"},
        {"sweep %s --slurm --cpus-per-task 0", 2, "is not a count"},
        {"sweep %s --status --slurm", 2, "each go alone"},
        {"merge --db %s", 2, "expected --experiment NAME or --id ID"},
        {"sweep-task %s/missing.json 0", 1, "missing.json"},
        {"sweep-task %s/s.ini 0", 1, "s.ini: not JSON"},
        {"sweep-task %s/plan.json 3", 1, "plan.json: task 3: the plan has tasks 0..0"},
        {"sweep-task %s/bad-plan.json 0", 1, "bad-plan.json: task 0, run 0: a key is missing"},
    };
    char *plan = write_temp(dir, "plan.json",
                            "{\"experiment_id\": 1, \"experiment_file\": \"x.ini\", \"experiment_sha256\": \"ab\", \"db\": \"d\", \"tasks\": [[]]}");
    char *bad = write_temp(dir, "bad-plan.json",
                           "{\"experiment_id\": 1, \"experiment_file\": \"x.ini\", \"experiment_sha256\": \"ab\", \"db\": \"d\", \"tasks\": [[{\"run\": 1}]]}");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(cmd, sizeof cmd, cases[i].args, strncmp(cases[i].args, "sweep-task", 10) == 0 ? dir : (strncmp(cases[i].args, "merge", 5) == 0 ? db : ini));
        int rc = tu_run_cli(cmd, &out);
        ck_assert_msg(rc == cases[i].rc && strstr(out, cases[i].says), "'%s' exited %d: %s", cmd, rc, out);
        free(out);
    }
    snprintf(cmd, sizeof cmd, "merge --db %s --experiment x", db);
    ck_assert_int_eq(tu_run_cli(cmd, &out), 1);
    ck_assert_msg(strstr(out, "none.sqlite: no such database"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "sweep %s --status --db %s", ini, db);
    ck_assert_int_eq(tu_run_cli(cmd, &out), 1);
    ck_assert_msg(strstr(out, "none.sqlite: no such database"), "%s", out);
    free(out);
    ck_assert(!qh_file_exists(db)); /* nothing created by asking */
    free(plan);
    free(bad);
    free(db);
    free(ini);
    free(dir);
}
END_TEST

Suite *suite_sweep(void)
{
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("experiment");
    tcase_add_test(tc, experiment_parsing_and_grid);
    tcase_add_test(tc, experiment_errors_name_file_line_and_key);
    tcase_add_test(tc, schema_is_the_documented_file);
    tcase_add_test(tc, only_the_store_writes_sql);
    tcase_add_test(tc, readers_ask_named_queries);
    tcase_add_test(tc, wilson_known_values);
    tcase_add_test(tc, sampling_is_reproducible_and_stratified);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    TCase *mc = tcase_create("mc");
    tcase_add_test(mc, mc_agrees_with_direct_computation);
    tcase_add_test(mc, mc_scoring_rules_on_hand_made_items);
    tcase_add_test(mc, a_request_scores_the_same_in_every_batch_slot);
    tcase_set_timeout(mc, 300);
    suite_add_tcase(s, mc);
    TCase *sw = tcase_create("runner");
    tcase_add_test(sw, dry_run_lists_the_grid);
    tcase_add_test(sw, sweep_resume_after_sigkill);
    tcase_set_timeout(sw, 900);
    suite_add_tcase(s, sw);
    TCase *sl = tcase_create("slurm");
    tcase_add_test(sl, slurm_commands_refuse_bad_input);
    tcase_add_test(sl, slurm_sweep_survives_a_killed_task);
    tcase_set_timeout(sl, 600);
    suite_add_tcase(s, sl);
    return s;
}
