/* check_reports.c - charts from a small database: the Pareto frontier on known points,
 * non-empty PNG and SVG files, data files carrying exactly the stored numbers, clear errors. */
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store.h"
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>

#include "harness/eval/eval_ppl.h"
#include "harness/eval/metrics.h"
#include "harness/run/results.h"
#include "harness/base/stats.h"
#include "reports/assessment.h"
#include "reports/audit.h"
#include "reports/plot.h"
#include "reports/report.h"
#include "tests/testutil.h"

START_TEST(pareto_frontier_on_known_points)
{
    /* lower is better (perplexity): (1,10) (2,8) (2,9) (3,9) (4,5) (5,5) -> (1,10) (2,8) (4,5) */
    qh_plot_point p[6] = {{3, 9, 0, 0}, {1, 10, 0, 0}, {2, 9, 0, 0}, {4, 5, 0, 0}, {2, 8, 0, 0}, {5, 5, 0, 0}};
    int out[6];
    int n = qh_pareto(p, 6, 1, out);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(out[0], 1);
    ck_assert_int_eq(out[1], 4);
    ck_assert_int_eq(out[2], 3);
    /* higher is better (accuracy) on the same points: (1,10) only, nothing later beats 10 */
    n = qh_pareto(p, 6, 0, out);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(out[0], 1);
    qh_plot_point q[4] = {{1, 0.5, 0, 0}, {2, 0.6, 0, 0}, {3, 0.55, 0, 0}, {4, 0.7, 0, 0}};
    n = qh_pareto(q, 4, 0, out);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(out[2], 3);
}
END_TEST

static void must(qh_store *s, const char *sql)
{
    qh_err err;
    ck_assert_msg(qh_store_exec(s, sql, &err) == 0, "%s", err.msg);
}

static char *make_db(const char *dir)
{
    char *db = qh_path_join(dir, "r.sqlite");
    qh_store s;
    qh_err err;
    ck_assert_int_eq(qh_store_open(db, &s, &err), 0);
    must(&s, "INSERT INTO experiments(id, name, file_path, file_text, file_sha256, harness_version, seed, ctx, started_at) "
             "VALUES (1, 'unit', 'x.ini', '', 'abc', '0', 1, 256, 'now')");
    must(&s, "INSERT INTO models(id, path, sha256, architecture, n_layer, n_head, n_embd, n_ctx, n_vocab, parameters, dtype) "
             "VALUES (1, '/m/tiny', 'def', 'gpt2', 1, 1, 8, 16, 32, 1000, 'F16')");
    must(&s, "INSERT INTO method_configs(id, canonical, family) VALUES (1, 'none', 'none'), (2, 'rtn bits=4', 'rtn'), "
             "(3, 'rtn bits=2', 'rtn'), (4, 'binary', 'binary')");
    must(&s, "INSERT INTO runs(id, experiment_id, model_id, config_id, ordinal, label, status) VALUES "
             "(1,1,1,1,0,'baseline','done'), (2,1,1,2,1,'rtn4','done'), (3,1,1,3,2,'rtn2','done'), (4,1,1,4,3,'binary','done')");
    must(&s, "INSERT INTO bpp(run_id, tensors_quantized, params_total, params_quantized, bytes_total, bytes_quantized, bytes_kept, "
             "bpp_quantized, bpp_model, kept_dtype) VALUES (1,0,1000,0,2000,0,2000,NULL,16,'F16'), "
             "(2,1,1000,500,1265,265,1000,4.24,10.12,'F16'), (3,1,1000,500,1140,140,1000,2.24,9.12,'F16'), "
             "(4,1,1000,500,1066,66,1000,1.056,8.528,'F16')");
    must(&s, "INSERT INTO metrics(run_id, task, metric, value, ci_low, ci_high, n, chance, protocol) VALUES "
             "(1,'ppl.wikitext2-test','ppl',100.5,90,110,4096,NULL,'p'), (2,'ppl.wikitext2-test','ppl',101.25,91,111,4096,NULL,'p'), "
             "(3,'ppl.wikitext2-test','ppl',140.125,120,160,4096,NULL,'p'), (4,'ppl.wikitext2-test','ppl',400.75,350,450,4096,NULL,'p'), "
             "(1,'copa','acc',0.6,0.5,0.7,100,0.5,'p'), (2,'copa','acc',0.58,0.48,0.68,100,0.5,'p'), "
             "(3,'copa','acc',0.55,0.45,0.65,100,0.5,'p'), (4,'copa','acc',0.52,0.42,0.62,100,0.5,'p')");
    qh_store_close(&s);
    return db;
}

/* A point is beaten only by one with no more bits that is better by the paired interval: A
 * (2 bpp) is ahead of B (3 bpp) on its value but not on the evidence (window by window the two
 * trade places), so B stays in the set where the point estimates drop it; C (3 bpp) is worse
 * than A on every window and is dropped. */
START_TEST(pareto_sets_count_only_paired_evidence)
{
    char *dir = tu_tmpdir(), *db = make_db(dir);
    qh_store s;
    qh_err err;
    ck_assert_int_eq(qh_store_open(db, &s, &err), 0);
    char sql[256];
    for (int w = 0; w < 30; w++) {
        double b = 460.0 + 3 * (w % 3), a = b + (w % 2 ? 4.0 : -4.5), c = b + 20.0;
        const double v[3] = {a, b, c};
        for (int r = 0; r < 3; r++) {
            snprintf(sql, sizeof sql, "INSERT INTO items(run_id, task, idx, item_key, value, n) VALUES (%d, 'ppl.t', %d, '%d', %.17g, 100)",
                     r + 2, w, w * 100, v[r]);
            must(&s, sql);
        }
    }
    qh_store_close(&s);
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    const long long runs[3] = {2, 3, 4};
    const qh_plot_point pts[3] = {{2, 99, 0, 0}, {3, 100, 0, 0}, {3, 130, 0, 0}};
    int out[3];
    ck_assert_int_eq(qh_pareto(pts, 3, 1, out), 1); /* the point estimates: A alone */
    int k = qh_pareto_paired(h, "ppl.t", "ppl", runs, pts, 3, out);
    ck_assert_int_eq(k, 2);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 1);
    /* without items to pair on (another task) it falls back on the values */
    ck_assert_int_eq(qh_pareto_paired(h, "ppl.none", "ppl", runs, pts, 3, out), 1);
    sqlite3_close(h);
    free(db);
    free(dir);
}
END_TEST

START_TEST(charts_from_a_small_database)
{
    char *dir = tu_tmpdir(), *db = make_db(dir), *out = qh_path_join(dir, "charts");
    qh_err err;
    ck_assert_msg(qh_plot(db, "unit", 0, out, 0, NULL, &err) == 2, "%s", err.msg);
    ck_assert_int_eq(qh_plot(db, NULL, 0, out, 1, NULL, &err), 2);
    const char *files[] = {"ppl_wikitext2-test_ppl", "copa_acc", "ppl_wikitext2-test_ppl_model", "copa_acc_model"};
    for (int i = 0; i < 4; i++) {
        char rel[128], *path, *data;
        size_t len;
        snprintf(rel, sizeof rel, "%s.png", files[i]);
        path = qh_path_join(out, rel);
        ck_assert_msg(qh_read_file(path, &data, &len, &err) == 0, "%s", err.msg);
        ck_assert(len > 1000 && memcmp(data, "\x89PNG", 4) == 0);
        free(data);
        free(path);
        snprintf(rel, sizeof rel, "%s.svg", files[i]);
        path = qh_path_join(out, rel);
        ck_assert_int_eq(qh_read_file(path, &data, &len, &err), 0);
        ck_assert(strstr(data, "<svg") != NULL);
        free(data);
        free(path);
    }
    /* the data file holds the stored numbers, one family per block, then the frontier */
    char *dat = qh_path_join(out, "ppl_wikitext2-test_ppl.dat"), *text;
    size_t len;
    ck_assert_int_eq(qh_read_file(dat, &text, &len, &err), 0);
    ck_assert_msg(strstr(text, "1.056000 400.75 350 450 \"binary\""), "%s", text);
    ck_assert_msg(strstr(text, "4.240000 101.25 91 111 \"rtn4\""), "%s", text);
    ck_assert_msg(strstr(text, "2.240000 140.125 120 160 \"rtn2\""), "%s", text);
    ck_assert_msg(!strstr(text, "100.5"), "the baseline is a line, not a point"); /* baseline drawn as a line */
    char *front = strstr(text, "# Pareto set");
    ck_assert_ptr_nonnull(front);
    ck_assert(strstr(front, "\"binary\"") && strstr(front, "\"rtn2\"") && strstr(front, "\"rtn4\""));
    free(text);
    free(dat);
    char *gp = qh_path_join(out, "copa_acc.gp");
    ck_assert_int_eq(qh_read_file(gp, &text, &len, &err), 0);
    ck_assert_msg(strstr(text, "0.5 with lines") && strstr(text, "chance (0.5)"), "%s", text);
    ck_assert_msg(strstr(text, "unquantized (0.6)"), "%s", text);
    ck_assert_msg(strstr(text, "copa: acc vs bits per parameter (quantized scope)\\ntiny, 100 items, ctx 256"), "%s", text);
    free(text);
    free(gp);
    /* errors */
    ck_assert_int_eq(qh_plot(db, "nope", 0, out, 0, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "no experiment named nope"), "%s", err.msg);
    ck_assert_int_eq(qh_plot("/nonexistent.sqlite", NULL, 0, out, 0, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "no such results database"), "%s", err.msg);
    free(out);
    free(db);
    free(dir);
}
END_TEST

/* Every chart of the default sweep (as recorded in docs/assessment.sqlite): its y range holds
 * every point with its bar and the baseline, a log axis has more than one labelled tick, each
 * family its own marker, every point a label, no Pareto set on a task whose baseline is at
 * chance, and index.md links every chart. */
START_TEST(charts_of_the_default_sweep_show_their_data)
{
    char *dir = tu_tmpdir(), *out = qh_path_join(dir, "charts"), *db = tu_home_path("docs/assessment.sqlite");
    qh_err err;
    int charts = 0;
    for (int scope = 0; scope < 2; scope++) {
        int n = qh_plot(db, "default", 0, out, scope, NULL, &err);
        ck_assert_msg(n > 10, "%d: %s", n, err.msg);
        charts += n;
    }
    ck_assert_int_eq(qh_plot_overview(out, "default", &err), charts);
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s/*.gp", out);
    glob_t g;
    ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
    ck_assert_int_eq((int)g.gl_pathc, charts);
    int log_charts = 0, without_frontier = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *gp, *dat, datpath[4200];
        size_t len;
        ck_assert_int_eq(qh_read_file(g.gl_pathv[i], &gp, &len, &err), 0);
        snprintf(datpath, sizeof datpath, "%.*s.dat", (int)strlen(g.gl_pathv[i]) - 3, g.gl_pathv[i]);
        ck_assert_int_eq(qh_read_file(datpath, &dat, &len, &err), 0);
        double lo, hi;
        const char *yr = strstr(gp, "set yrange [");
        ck_assert_msg(yr && sscanf(yr, "set yrange [%lf:%lf]", &lo, &hi) == 2 && lo < hi, "%s: no y range", g.gl_pathv[i]);
        int points = 0;
        for (char *line = dat; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
            double x, v, a, b;
            if (*line == '#' || sscanf(line, "%lf %lf %lf %lf", &x, &v, &a, &b) != 4) continue;
            ck_assert_msg(lo <= a && a <= v && v <= b && b <= hi, "%s: %g [%g, %g] outside [%g, %g]", g.gl_pathv[i], v, a, b, lo, hi);
            points++;
        }
        ck_assert_msg(points >= 8, "%s: %d points", datpath, points);
        const char *base = strstr(gp, "with lines lc rgb 'forest-green'"); /* "     454.28 with lines ..." */
        ck_assert_ptr_nonnull(base);
        while (base > gp && base[-1] != '\n') base--;
        double baseline;
        ck_assert_int_eq(sscanf(base, "%lf", &baseline), 1);
        ck_assert_msg(lo <= baseline && baseline <= hi, "%s: baseline %g outside [%g, %g]", g.gl_pathv[i], baseline, lo, hi);
        if (strstr(gp, "\nset logscale y")) {
            log_charts++;
            const char *t = strstr(gp, "set ytics (");
            ck_assert_msg(t && strchr(t, ','), "%s: a log axis with one tick", g.gl_pathv[i]);
        }
        ck_assert_msg(strstr(gp, "pt 7 ") && strstr(gp, "pt 5 ") && strstr(gp, "with labels"), "%s: markers or labels", g.gl_pathv[i]);
        if (strstr(dat, "none, the baseline cannot be told from chance")) {
            without_frontier++;
            ck_assert_msg(!strstr(gp, "Pareto set (paired)'") && strstr(gp, "baseline at chance: no Pareto set"), "%s", g.gl_pathv[i]);
        }
        free(gp);
        free(dat);
    }
    ck_assert_int_ge(log_charts, 4);           /* two texts' perplexity, both scopes */
    ck_assert_int_ge(without_frontier, 2 * 8); /* the default model is at chance on most tasks */
    globfree(&g);
    char *index = qh_path_join(out, "index.md"), *text;
    size_t len;
    ck_assert_int_eq(qh_read_file(index, &text, &len, &err), 0);
    ck_assert_msg(strstr(text, "![ppl_wikitext2-test_ppl](ppl_wikitext2-test_ppl.png)") &&
                      strstr(text, "![mmlu_acc_model](mmlu_acc_model.png)"), "%s", text);
    free(text);
    free(index);
    free(db);
    free(out);
    free(dir);
}
END_TEST

START_TEST(report_numbers_are_the_database_numbers)
{
    char *dir = tu_tmpdir(), *db = make_db(dir);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    qh_err err;
    ck_assert_msg(qh_report(db, "unit", 0, "charts", f, &err) == 0, "%s", err.msg);
    fclose(f);
    /* provenance */
    ck_assert_msg(strstr(buf, "| model | `/m/tiny`, sha256 `def`, 1000 parameters"), "%s", buf);
    ck_assert_msg(strstr(buf, "| experiment file | `x.ini`, sha256 `abc` |"), "%s", buf);
    ck_assert_msg(strstr(buf, "| runs | 4 planned, 4 done, 0 failed |"), "%s", buf);
    /* the results rows carry the stored values and intervals */
    ck_assert_msg(strstr(buf, "| rtn4 | `rtn bits=4` | 4.240 | 10.12 | 101.2 | 0.5800 |"), "%s", buf); /* no items: no paired difference */
    ck_assert_msg(strstr(buf, "| baseline | `none` | - | 16.00 | 100.5 | 0.6000 |"), "%s", buf);
    ck_assert_msg(strstr(buf, "--id 1 --csv"), "the wide table's command: %s", buf);
    ck_assert_msg(strstr(buf, "| *chance* | | | | | 0.5000 |"), "%s", buf);
    /* Pareto sets: for perplexity all three are on the frontier; for accuracy too (more bits, better) */
    ck_assert_msg(strstr(buf, "- **ppl.wikitext2-test ppl**: binary (1.056 bpp, 400.8), rtn2 (2.240 bpp, 140.1), rtn4 (4.240 bpp, 101.2)"), "%s", buf);
    /* the baseline's copa interval [0.5, 0.7] contains chance 0.5: a warning */
    ck_assert_msg(strstr(buf, "- copa acc: the unquantized baseline (0.6000 [0.5000, 0.7000], n=100) cannot be told from chance (0.5000)"), "%s", buf);
    ck_assert_msg(strstr(buf, "![copa acc](charts/copa_acc.png)"), "%s", buf);
    /* ... and no Pareto "winner" on it */
    ck_assert_msg(strstr(buf, "- **copa acc**: no Pareto set: the unquantized baseline (0.6000 [0.5000, 0.7000], n=100) cannot "
                              "be told from chance (0.5)"), "%s", buf);
    free(buf);
    f = open_memstream(&buf, &len);
    ck_assert_int_eq(qh_report(db, "nope", 0, NULL, f, &err), -1);
    fclose(f);
    free(buf);
    ck_assert_msg(strstr(err.msg, "no experiment named nope"), "%s", err.msg);
    free(db);
    free(dir);
}
END_TEST

/* Issue 35: a bootstrap over a handful of windows is as narrow as they happen to agree, so an
 * interval resampled from fewer than QH_MIN_RESAMPLING_UNITS windows is not shown by the table,
 * the report or the charts, and a perplexity audit over so few windows is not judged. */
START_TEST(intervals_from_few_windows_are_hidden)
{
    /* the SQL list of bootstrap metrics is the metric table's */
    int bootstrap = 0;
    for (int i = 0; i < qh_n_metrics; i++) {
        if (qh_metrics[i].interval != QH_INTERVAL_BOOTSTRAP) continue;
        char quoted[40];
        snprintf(quoted, sizeof quoted, "'%s'", qh_metrics[i].name);
        ck_assert_msg(strstr(QH_SQL_BOOTSTRAP_METRICS, quoted), "%s is bootstrapped but not in QH_SQL_BOOTSTRAP_METRICS", quoted);
        bootstrap++;
    }
    int listed = 1;
    for (const char *c = QH_SQL_BOOTSTRAP_METRICS; *c; c++) listed += *c == ',';
    ck_assert_int_eq(listed, bootstrap);

    char *dir = tu_tmpdir(), *db = make_db(dir);
    qh_store s;
    qh_err err;
    ck_assert_int_eq(qh_store_open(db, &s, &err), 0);
    char sql[256];
    /* rtn4: 8 windows stored; rtn2 and the baseline: 20, rtn2 0.1 nats a token worse on each; binary
     * none (a store from before per-window items) */
    for (int run = 1; run <= 3; run++)
        for (int w = 0; w < (run == 2 ? 8 : QH_MIN_RESAMPLING_UNITS); w++) {
            snprintf(sql, sizeof sql, "INSERT INTO items(run_id, task, idx, item_key, value, n) VALUES (%d, 'ppl.wikitext2-test', %d, '%d', %g, 100)",
                     run, w, w * 100, 460.0 + (w % 3) + (run == 3 ? 10.0 : 0.0));
            must(&s, sql);
        }
    /* copa, 30 items: rtn4 differs from the baseline on 3 (too few for an interval), rtn2 on 12 */
    for (int run = 1; run <= 3; run++)
        for (int i = 0; i < 30; i++) {
            int base = i % 2, flipped = run == 2 ? i < 3 : run == 3 ? i < 12 : 0;
            snprintf(sql, sizeof sql, "INSERT INTO items(run_id, task, idx, item_key, correct, value, n) VALUES (%d, 'copa', %d, 'c/%d', %d, -1, 1)",
                     run, i, i, flipped ? !base : base);
            must(&s, sql);
        }
    qh_store_close(&s);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_msg(qh_report(db, "unit", 0, NULL, f, &err) == 0, "%s", err.msg);
    fclose(f);
    /* the paired ratio exp(0.1) on 20 windows has its interval; on 8 pairs it has none, and says why */
    ck_assert_msg(strstr(buf, "| rtn2 | `rtn bits=2` | 2.240 | 9.120 | 140.1; ×1.1052 [1.1052, 1.1052] |"), "%s", buf);
    ck_assert_msg(strstr(buf, "| rtn4 | `rtn bits=4` | 4.240 | 10.12 | 101.2; ×1.0000 | 0.5800; +0.033 (3 items differ) |"), "%s", buf);
    ck_assert_msg(strstr(buf, "| 140.1; ×1.1052 [1.1052, 1.1052] | 0.5500; +0.000 [-"), "%s", buf); /* 6 up, 6 down */
    ck_assert_msg(strstr(buf, "| baseline | `none` | - | 16.00 | 100.5 | 0.6000 |"), "%s", buf);
    ck_assert_msg(strstr(buf, "not shown where they would rest on fewer than 20 windows"), "%s", buf);
    free(buf);
    f = open_memstream(&buf, &len);
    ck_assert_msg(qh_results_print(db, "unit", 0, QH_RESULTS_TEXT, 0, f, &err) == 0, "%s", err.msg);
    fclose(f);
    ck_assert_msg(strstr(buf, "  101.2\n") && !strstr(buf, "[91.00") && strstr(buf, "no interval where fewer than 20 windows"), "%s", buf);
    free(buf);
    f = open_memstream(&buf, &len);
    ck_assert_msg(qh_results_print(db, "unit", 0, QH_RESULTS_CSV, 0, f, &err) == 0, "%s", err.msg);
    fclose(f);
    ck_assert_msg(strstr(buf, "\"ppl.wikitext2-test\",\"ppl\",101.25,,,4096") && strstr(buf, "\"ppl.wikitext2-test\",\"ppl\",140.125,120,160,4096"), "%s", buf);
    free(buf);
    char *out = qh_path_join(dir, "charts"), *dat = qh_path_join(out, "ppl_wikitext2-test_ppl.dat"), *text;
    ck_assert_msg(qh_plot(db, "unit", 0, out, 0, NULL, &err) == 4, "%s", err.msg); /* two charts and their retention charts */
    ck_assert_int_eq(qh_read_file(dat, &text, &len, &err), 0);
    ck_assert_msg(strstr(text, "4.240000 101.25 101.25 101.25 \"rtn4\""), "%s", text); /* no bar */
    free(text);
    /* the retention chart: ppl_base / ppl_rtn2 = exp(-0.1) on 20 windows with its (zero-width) interval, rtn4's 8 pairs none */
    char *paired_dat = qh_path_join(out, "ppl_wikitext2-test_ppl_retention.dat");
    ck_assert_int_eq(qh_read_file(paired_dat, &text, &len, &err), 0);
    ck_assert_msg(strstr(text, "2.240000 0.90483742 0.90483742 0.90483742 \"rtn2\"") && strstr(text, "4.240000 1 1 1 \"rtn4\"") &&
                      strstr(text, "# binary: no item shared with the baseline"), "%s", text);
    free(paired_dat);
    free(text);
    ck_assert_int_eq(qh_read_file(dat, &text, &len, &err), 0);
    ck_assert_msg(strstr(text, "2.240000 140.125 120 160 \"rtn2\""), "%s", text);
    free(text);
    free(dat);
    free(out);
    free(db);
    free(dir);

    /* a perplexity audit over 10 windows: no interval, no verdict either way */
    double b[10], q[10];
    long tok[10];
    for (int i = 0; i < 10; i++) b[i] = 500.0 + i, q[i] = b[i] + 50.0, tok[i] = 100;
    qh_audit_stats st;
    qh_audit_compute(b, q, tok, 10, 0, 0.99, 500, 1, &st);
    ck_assert_int_eq(st.verdict, QH_VERDICT_INCONCLUSIVE);
    ck_assert(isnan(st.lo) && isnan(st.hi) && isnan(st.p_value));
    ck_assert_msg(strstr(st.reason, "10 windows scored, fewer than the 20"), "%s", st.reason);
}
END_TEST

/* the verdict logic on synthetic per-item data */
START_TEST(audit_verdicts_on_synthetic_items)
{
    long n = 2000;
    double *b = qh_malloc((size_t)n * sizeof(double)), *q = qh_malloc((size_t)n * sizeof(double));
    unsigned s = 5;
    /* clear support: the quantized model answers like the baseline, 70% correct, but for one
     * item in 50 where it flips (about 40 discordant items, both ways) */
    for (long i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        b[i] = (s >> 8) % 10 < 7;
        q[i] = i % 50 == 0 ? !b[i] : b[i];
    }
    qh_audit_stats st;
    qh_audit_compute(b, q, NULL, n, 0.25, 0.95, 1000, 1, &st);
    ck_assert_msg(st.discordant == 40 && fabs(st.retention - 1.0) < 0.02, "%ld %g", st.discordant, st.retention);
    ck_assert_int_eq(st.verdict, QH_VERDICT_SUPPORTED);
    ck_assert_msg(st.p_value <= 0.05, "p %g", st.p_value); /* the interval excludes the claim: so does the test */
    /* clear refutation: it loses a third of the baseline's correct answers */
    for (long i = 0; i < n; i++) q[i] = b[i] && i % 3 != 0;
    qh_audit_compute(b, q, NULL, n, 0.25, 0.99, 1000, 1, &st);
    ck_assert_msg(st.retention > 0.6 && st.retention < 0.72, "%g", st.retention);
    ck_assert_int_eq(st.verdict, QH_VERDICT_REFUTED);
    ck_assert(st.hi < 0.99);
    ck_assert_msg(st.p_value <= 0.05, "p %g", st.p_value);
    /* straddle: one lost answer in a hundred on 100 items, claimed 0.99 */
    long m = 100;
    for (long i = 0; i < m; i++) {
        b[i] = i % 2 == 0;
        q[i] = b[i] && i != 10;
    }
    qh_audit_compute(b, q, NULL, m, 0.25, 0.97, 1000, 1, &st);
    ck_assert_int_eq(st.verdict, QH_VERDICT_INCONCLUSIVE);
    ck_assert(st.lo < 0.97 && st.hi >= 0.97);
    ck_assert_msg(st.items_needed > m, "needed %g", st.items_needed);
    ck_assert_msg(st.p_value > 0.05 && st.p_value <= 1, "p %g", st.p_value);
    /* seeded: the same seed gives the same interval */
    qh_audit_stats st2;
    qh_audit_compute(b, q, NULL, m, 0.25, 0.97, 1000, 1, &st2);
    ck_assert_double_eq(st.lo, st2.lo);
    /* perplexity: windows of NLL sums; q worse by 0.1 nats per token -> retention exp(-0.1) */
    long *tok = qh_malloc(50 * sizeof(long));
    for (long i = 0; i < 50; i++) {
        tok[i] = 100;
        b[i] = 500.0 + (double)(i % 7) * 10;
        q[i] = b[i] + 10.0;
    }
    qh_audit_compute(b, q, tok, 50, 0, 0.99, 500, 1, &st);
    ck_assert_double_eq_tol(st.retention, exp(-0.1), 1e-12);
    ck_assert_int_eq(st.verdict, QH_VERDICT_REFUTED);
    ck_assert(isnan(st.chance_adj));
    free(tok);
    free(b);
    free(q);
}
END_TEST

/* Verdicts that cannot pass on noise (issue 31): a model that answers like its baseline on
 * every item is not "retaining 99%" when the baseline is at chance, and the interval of a
 * paired retention does not collapse to [1, 1] when the runs never disagree. */
START_TEST(audit_verdicts_cannot_pass_on_noise)
{
    long n = 228;
    double *b = qh_malloc((size_t)n * sizeof(double)), *q = qh_malloc((size_t)n * sizeof(double));
    /* MMLU at chance: the letter A on every question, a quarter right, the quantized model the same */
    for (long i = 0; i < n; i++) b[i] = q[i] = i % 4 == 0;
    qh_audit_stats st;
    qh_audit_compute(b, q, NULL, n, 0.25, 0.99, 2000, 1, &st);
    ck_assert_int_eq(st.discordant, 0);
    ck_assert_double_eq_tol(st.retention, 1.0, 1e-12);
    ck_assert_int_eq(st.verdict, QH_VERDICT_INCONCLUSIVE);
    ck_assert_msg(strstr(st.reason, "cannot be told from chance"), "%s", st.reason);
    ck_assert_msg(st.lo < 0.99 && st.hi > 1.0, "the interval collapsed: [%g, %g]", st.lo, st.hi);
    /* zero discordant items above chance: a real interval below 1 (Jeffreys: half an item of doubt per cell) */
    for (long i = 0; i < n; i++) b[i] = q[i] = i % 4 != 0;
    qh_audit_compute(b, q, NULL, n, 0.25, 0.99, 2000, 1, &st);
    ck_assert_msg(st.lo < 0.995 && st.lo > 0.95, "[%g, %g]", st.lo, st.hi);
    ck_assert_int_eq(st.verdict, QH_VERDICT_INCONCLUSIVE);
    ck_assert_msg(st.items_needed > 0 && strstr(st.reason, "contains the claimed"), "%g %s", st.items_needed, st.reason);
    /* far above chance with a real loss: 171 right, the quantized model loses 30 of them */
    for (long i = 0; i < n; i++) q[i] = b[i] && i % 7 != 1;
    qh_audit_compute(b, q, NULL, n, 0.25, 0.99, 2000, 1, &st);
    ck_assert_msg(st.discordant > 20 && st.hi < 0.99, "[%g, %g] %ld", st.lo, st.hi, st.discordant);
    ck_assert_int_eq(st.verdict, QH_VERDICT_REFUTED);
    ck_assert_msg(strstr(st.reason, "lies below the claimed"), "%s", st.reason);
    ck_assert_msg(st.p_value < 1e-3, "p %g", st.p_value);
    free(b);
    free(q);
    /* far above chance but the runs disagree on 3 of 4000 items: the interval clears 0.99 on the
     * prior's word only -- INCONCLUSIVE, with no test counted */
    n = 4000;
    b = qh_malloc((size_t)n * sizeof(double));
    q = qh_malloc((size_t)n * sizeof(double));
    for (long i = 0; i < n; i++) {
        b[i] = i % 4 != 0;
        q[i] = b[i] && i != 1 && i != 2 && i != 3;
    }
    qh_audit_compute(b, q, NULL, n, 0.25, 0.99, 2000, 1, &st);
    ck_assert_msg(st.discordant == 3 && st.lo >= 0.99, "%ld [%g, %g]", st.discordant, st.lo, st.hi);
    ck_assert_int_eq(st.verdict, QH_VERDICT_INCONCLUSIVE);
    ck_assert_msg(strstr(st.reason, "rests on the prior"), "%s", st.reason);
    ck_assert(isnan(st.p_value));
    free(b);
    free(q);
}
END_TEST

/* Against known values: for many items the percentile bootstrap must agree with the normal
 * interval computed with GSL (mean +- z_0.975 sd / sqrt(n)), for accuracy retention, for
 * perplexity retention (on the log scale) and for the perplexity interval of one run. */
START_TEST(bootstrap_intervals_match_normal_theory)
{
    long n = 4000;
    double *b = qh_malloc((size_t)n * sizeof(double)), *q = qh_malloc((size_t)n * sizeof(double)), *d = qh_malloc((size_t)n * sizeof(double));
    long *tok = qh_malloc((size_t)n * sizeof(long));
    unsigned s = 11;
    double z = gsl_cdf_ugaussian_Pinv(0.975);
    ck_assert_double_eq_tol(z, 1.959964, 1e-6);
    /* accuracy: the baseline answers every item, the quantized model 90% of them -> retention = mean(q) */
    for (long i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        b[i] = 1;
        q[i] = (s >> 8) % 10 != 0;
    }
    qh_audit_stats st;
    qh_audit_compute(b, q, NULL, n, 0.25, 0.5, 2000, 3, &st);
    double mean = gsl_stats_mean(q, 1, (size_t)n), se = gsl_stats_sd(q, 1, (size_t)n) / sqrt((double)n);
    ck_assert_double_eq_tol(st.retention, mean, 1e-12);
    ck_assert_msg(fabs(st.lo - (mean - z * se)) < 0.15 * se && fabs(st.hi - (mean + z * se)) < 0.15 * se,
                  "bootstrap [%g, %g] vs normal [%g, %g]", st.lo, st.hi, mean - z * se, mean + z * se);
    /* chance-adjusted: (q - 0.25) / (1 - 0.25) is linear in mean(q) */
    ck_assert_msg(fabs(st.ca_lo - (mean - z * se - 0.25) / 0.75) < 0.15 * se / 0.75, "%g", st.ca_lo);
    /* perplexity: windows of 100 tokens, NLL differences spread uniformly; retention = exp(mean(b - q) / 100) */
    for (long i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        tok[i] = 100;
        b[i] = 500.0 + (double)(i % 13);
        d[i] = -5.0 + 10.0 * (double)(s >> 8) / 16777216.0; /* b - q in [-5, 5], mean about 0 */
        q[i] = b[i] - d[i] + 3.0;                         /* q worse by 3 nats per window on average */
        d[i] = (b[i] - q[i]) / 100.0;
    }
    qh_audit_compute(b, q, tok, n, 0, 0.99, 2000, 3, &st);
    mean = gsl_stats_mean(d, 1, (size_t)n);
    se = gsl_stats_sd(d, 1, (size_t)n) / sqrt((double)n);
    ck_assert_double_eq_tol(log(st.retention), mean, 1e-12);
    ck_assert_msg(fabs(log(st.lo) - (mean - z * se)) < 0.15 * se && fabs(log(st.hi) - (mean + z * se)) < 0.15 * se,
                  "bootstrap [%g, %g] vs normal [%g, %g]", log(st.lo), log(st.hi), mean - z * se, mean + z * se);
    /* one run's perplexity interval: exp(sum NLL / sum tokens), windows of equal length */
    for (long i = 0; i < n; i++) d[i] = q[i] / 100.0;
    double lo, hi;
    qh_bootstrap_ratio_exp(q, tok, n, 2000, 5, &lo, &hi);
    mean = gsl_stats_mean(d, 1, (size_t)n);
    se = gsl_stats_sd(d, 1, (size_t)n) / sqrt((double)n);
    ck_assert_msg(fabs(log(lo) - (mean - z * se)) < 0.15 * se && fabs(log(hi) - (mean + z * se)) < 0.15 * se,
                  "bootstrap [%g, %g] vs normal [%g, %g]", log(lo), log(hi), mean - z * se, mean + z * se);
    free(b);
    free(q);
    free(d);
    free(tok);
}
END_TEST

/* Runs the assessment generator on template text; returns its output (malloc'd) or NULL with err. */
static char *assess(const char *db, const char *dir, const char *template_text, qh_err *err)
{
    char *tpl = qh_path_join(dir, "t.md.in");
    ck_assert_int_eq(qh_write_file(tpl, template_text, strlen(template_text), err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = qh_assessment(db, tpl, "r.sqlite", "t.md.in", f, err);
    fclose(f);
    free(tpl);
    if (rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

START_TEST(assessment_numbers_are_the_database_numbers)
{
    char *dir = tu_tmpdir(), *db = make_db(dir);
    qh_store s;
    qh_err err;
    ck_assert_int_eq(qh_store_open(db, &s, &err), 0);
    must(&s, "INSERT INTO audits(claim, claim_text, claim_sha256, experiment_id, baseline_run, quantized_run, task, metric, claimed, "
             "claimed_bpp, retention, ci_low, ci_high, chance_adjusted, ca_low, ca_high, n, verdict, items_needed, warnings, created_at, "
             "p_value, discordant, registration) VALUES "
             "('c1', 'rtn2 keeps 99%', 'x', 1, 1, 3, 'copa', 'acc', 0.99, 2, 0.9166, 0.8, 1.05, 0.5, 0.1, 0.9, 100, "
             "'INCONCLUSIVE', 12345.4, '- first warning\n- second warning\n', 'now', 0.2, 7, 'post hoc'),"
             "('c2', 'rtn2 keeps 90%', 'x', 1, 1, 3, 'copa', 'acc', 0.9, NULL, 0.95, 0.905, 0.99, NULL, NULL, NULL, 100, "
             "'SUPPORTED', NULL, '- none\n', 'now', 0.03, 30, 'pre-registered'),"
             "('c3', 'rtn2 takes 2 bits', 'x', 1, 1, 3, 'copa', 'acc', 0, 2, 0.9166, 0.8, 1.05, NULL, NULL, NULL, 100, "
             "'REFUTED', NULL, '- none\n', 'now', NULL, NULL, NULL)");
    /* four MMLU questions: the baseline always puts A first; the answers are A, B, A, C */
    must(&s, "INSERT INTO items(run_id, task, idx, item_key, correct_letter, value, n, detail) VALUES "
             "(1,'mmlu',0,'s/0',1,-1.0,4,'{\"ll\":[-1.0,-2.0,-3.0,-4.0],\"letter_ll\":[-1,-2,-3,-4]}'),"
             "(1,'mmlu',1,'s/1',0,-2.5,4,'{\"ll\":[-1.0,-2.5,-3.0,-4.0],\"letter_ll\":[-1,-2,-3,-4]}'),"
             "(1,'mmlu',2,'s/2',1,-0.5,4,'{\"ll\":[-0.5,-2.0,-3.0,-4.0],\"letter_ll\":[-1,-3,-3,-4]}'),"
             "(1,'mmlu',3,'s/3',0,-3.0,4,'{\"ll\":[-1.0,-2.0,-3.0,-4.0],\"letter_ll\":[-0.1,-2,-3,-4]}')");
    must(&s, "INSERT INTO metrics(run_id, task, metric, value, ci_low, ci_high, n, chance, protocol) VALUES "
             "(1,'mmlu','acc_letter',0.5,0.15,0.85,4,0.25,'p')");
    qh_store_close(&s);
    char *out = assess(db, dir,
                       "# T for GPT-2, F16, 4-bit, wikitext2 and top-1\n"
                       "Ppl {{v unit rtn4 ppl.wikitext2-test:ppl .2f}} and {{ci unit baseline ppl.wikitext2-test:ppl}} on "
                       "{{n unit baseline ppl.wikitext2-test:ppl}} tokens.\n"
                       "Chance {{chance unit baseline copa:acc .2f}}; ratio {{ratio unit binary baseline ppl.wikitext2-test:ppl}}; "
                       "bpp {{bpp unit rtn2 scope}} / {{bpp unit rtn2 model .1f}}; acc {{v unit rtn4 copa:acc .1%}}.\n"
                       "Model {{model unit parameters}} {{model unit embedding_share}} `code 123`; runs {{experiment unit done}}.\n"
                       "{{! a comment }}\n"
                       "{{#if experiment nope}}\nnever {{v nope x y:z}} 42\n{{/if}}\n"
                       "{{#if experiment unit}}\n{{table unit ppl.wikitext2-test:ppl copa:acc:v}}\n{{/if}}\n"
                       "{{chance-check unit}}\n{{pareto unit ppl.wikitext2-test:ppl}}\n{{letter-bias unit mmlu}}\n"
                       "Audit {{audit c1 verdict}} {{audit c1 retention}} {{audit c1 ci}} {{audit c1 items_needed}} "
                       "{{audit c1 bpp_scope}} {{audit c1 baseline}} {{audit c1 quantized}}.\n{{audits}}\n",
                       &err);
    ck_assert_msg(out != NULL, "%s", err.msg);
    ck_assert_msg(strncmp(out, "<!-- Generated by `qharness report --assessment --db r.sqlite --template t.md.in`", 80) == 0, "%s", out);
    ck_assert_msg(strstr(out, "\n# T for GPT-2, F16, 4-bit, wikitext2 and top-1\n"), "%s", out);
    ck_assert_msg(strstr(out, "Ppl 101.25 and 100.5 [90.0, 110.0] on 4,096 tokens.\n"), "%s", out);
    /* 400.75 / 100.5 = 3.9875 */
    ck_assert_msg(strstr(out, "Chance 0.50; ratio 3.99; bpp 2.240 / 9.1; acc 58.0%.\n"), "%s", out);
    ck_assert_msg(strstr(out, "Model 1,000 26% `code 123`; runs 4.\n"), "%s", out); /* 32 x 8 of 1000 */
    ck_assert_msg(!strstr(out, "never") && !strstr(out, "comment"), "%s", out);
    ck_assert_msg(strstr(out, "| baseline | `none` | - | 16.00 | 100.5 [90.0, 110.0] | 0.600 |\n"), "%s", out);
    ck_assert_msg(strstr(out, "| rtn2 | `rtn bits=2` | 2.240 | 9.12 | 140.1 [120.0, 160.0] | 0.550 |\n"), "%s", out);
    ck_assert_msg(strstr(out, "| *tokens or items* | | | | 4,096 | 100 |\n"), "%s", out);
    ck_assert_msg(strstr(out, "- copa acc: 0.600 [0.500, 0.700] on 100 items, chance 0.500: **cannot be told from chance**\n"), "%s", out);
    ck_assert_msg(strstr(out, "- binary: 1.056 bpp, ppl.wikitext2-test ppl 400.8\n- rtn2: 2.240 bpp, ppl.wikitext2-test ppl 140.1\n"
                              "- rtn4: 4.240 bpp, ppl.wikitext2-test ppl 101.2\n"), "%s", out);
    /* always A; two of the four answers are A; acc_letter as stored */
    ck_assert_msg(strstr(out, "| baseline | A | 100.0% of 4 | 50.0% | 50.0% |\n"), "%s", out);
    ck_assert_msg(strstr(out, "Audit INCONCLUSIVE 0.917 [0.800, 1.050] 12,345 2.2400 0.600 0.550.\n"), "%s", out);
    /* Holm over the two claims on a retained fraction (the bit count is exact): 0.03 > 0.05 / 2,
     * so c2's SUPPORTED does not survive the correction */
    ck_assert_msg(strstr(out, "| verdict | with Holm (m = 2, family 0.05) | registration |"), "%s", out);
    ck_assert_msg(strstr(out, "| **c1**: \"rtn2 keeps 99%\" | `rtn bits=2` | 2 / 2.2400 / 9.12 | copa acc, 0-shot, 100 (7) | 0.917 [0.800, 1.050] "
                              "(>= 0.99) | 0.500 [0.100, 0.900] | 0.2000 | INCONCLUSIVE (post hoc) | INCONCLUSIVE | post hoc | 12,345 |\n"),
                  "%s", out);
    ck_assert_msg(strstr(out, "| **c2**: \"rtn2 keeps 90%\" | `rtn bits=2` | not stated / 2.2400 / 9.12 | copa acc, 0-shot, 100 (30) | 0.950 "
                              "[0.905, 0.990] (>= 0.90) | - | 0.0300 | SUPPORTED | INCONCLUSIVE | pre-registered | - |\n"),
                  "%s", out);
    ck_assert_msg(strstr(out, "| **c3**: \"rtn2 takes 2 bits\" | `rtn bits=2` | 2 / 2.2400 / 9.12 | copa acc, 100 | 0.917 [0.800, 1.050] "
                              "(none claimed: the verdict is on the bits) | - | - | REFUTED | - (exact: bits) | not recorded | - |\n"),
                  "%s", out);
    ck_assert_msg(strstr(out, "- **c1**:\n  - first warning\n  - second warning\n"), "%s", out);
    free(out);
    /* a partial experiment: its sections are left out, with a note saying so */
    ck_assert_int_eq(qh_store_open(db, &s, &err), 0);
    must(&s, "INSERT INTO experiments(id, name, file_path, file_text, file_sha256, harness_version, seed, started_at) "
             "VALUES (2, 'half', 'h.ini', '', 'abc', '0', 1, 'now')");
    must(&s, "INSERT INTO runs(id, experiment_id, model_id, config_id, ordinal, label, status) VALUES "
             "(5,2,1,1,0,'baseline','done'), (6,2,1,2,1,'rtn4','pending')");
    qh_store_close(&s);
    out = assess(db, dir, "a\n{{#if experiment half}}\nhidden\n{{/if}}\n{{#if experiment half}}\nhidden\n{{/if}}\nb\n", &err);
    ck_assert_msg(out != NULL, "%s", err.msg);
    ck_assert_msg(strstr(out, "a\n> (A section about experiment `half` is left out: 1 of its 2 runs are done in this database; "
                              "`qharness sweep --resume` completes it.)\nb\n"), "%s", out);
    free(out);
    /* errors name the template line and the problem */
    struct {
        const char *tpl, *needle;
    } bad[] = {
        {"ok\n{{v unit nope ppl.wikitext2-test:ppl}}\n", "t.md.in:2: experiment 'unit' has no run labelled 'nope'"},
        {"{{v unit rtn4 copa:kl}}\n", "t.md.in:1: run 'rtn4' of 'unit' has no metric copa:kl"},
        {"{{v nope rtn4 copa:acc}}\n", "t.md.in:1: no experiment 'nope' in the database"},
        {"{{v unit rtn4 copa}}\n", "'copa' is not TASK:METRIC"},
        {"{{bpp unit baseline scope}}\n", "run 'baseline' of 'unit' has no scope bpp"},
        {"it costs 3 times more\n", "t.md.in:1: a number typed into the prose ('3')"},
        {"retains 99.5% of it\n", "a number typed into the prose ('99.5')"},
        {"{{#if experiment unit}}\nx\n", "1 {{#if}} without {{/if}}"},
        {"{{/if}}\n", "{{/if}} without {{#if}}"},
        {"a {{frob x}} b\n", "unknown directive '{{frob}}'"},
        {"a {{table unit copa:acc}} b\n", "{{table}} must stand on a line of its own"},
        {"a {{v unit rtn4 copa:acc\n", "'{{' without '}}'"},
        {"{{audit nope verdict}}\n", "no audit of claim 'nope'"},
        {"{{audit c1 colour}}\n", "{{audit}}: no field 'colour'"},
        {"{{model unit colour}}\n", "{{model}}: no field 'colour'"},
        {"{{letter-bias unit copa}}\n", "items of task 'copa' carry no per-letter log-likelihoods"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (strcmp(bad[i].needle, "items of task 'copa' carry no per-letter log-likelihoods") == 0) {
            ck_assert_int_eq(qh_store_open(db, &s, &err), 0);
            must(&s, "INSERT INTO items(run_id, task, idx, item_key, correct, value, n, detail) VALUES "
                     "(1,'copa',0,'0',1,-1.0,2,'{\"ll\":[-1.0,-2.0]}')");
            qh_store_close(&s);
        }
        out = assess(db, dir, bad[i].tpl, &err);
        ck_assert_msg(out == NULL, "'%s' was accepted", bad[i].tpl);
        ck_assert_msg(strstr(err.msg, bad[i].needle), "'%s': '%s' lacks '%s'", bad[i].tpl, err.msg, bad[i].needle);
        ck_assert_msg(!strchr(err.msg, '\n'), "%s", err.msg);
    }
    ck_assert_int_eq(qh_assessment("/nonexistent.sqlite", "x", "a", "b", stdout, &err), -1);
    ck_assert_msg(strstr(err.msg, "no such results database"), "%s", err.msg);
    free(db);
    free(dir);
}
END_TEST

/* Pre-registration: a claim file is "committed" only when git has it unchanged, and then its
 * last commit and that commit's time are what the audit compares with the first result. */
START_TEST(claim_files_are_registered_by_their_last_commit)
{
    char *dir = tu_tmpdir(), *claim = qh_path_join(dir, "c.ini"), cmd[2048], commit[41], why[200];
    long long at = 0;
    qh_err err;
    ck_assert_int_eq(qh_write_file(claim, "[claim]\n", 8, &err), 0);
    ck_assert_int_eq(qh_claim_git_origin(claim, commit, &at, why, sizeof why), 1); /* no repository */
    ck_assert_msg(strstr(why, "not in a git work tree"), "%s", why);
    snprintf(cmd, sizeof cmd, "git -C '%s' init -q && git -C '%s' config user.email t@t && git -C '%s' config user.name t", dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(qh_claim_git_origin(claim, commit, &at, why, sizeof why), 1);
    ck_assert_msg(strstr(why, "untracked"), "%s", why);
    snprintf(cmd, sizeof cmd, "git -C '%s' add c.ini && GIT_COMMITTER_DATE='2026-01-02T03:04:05Z' git -C '%s' commit -qm c", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_msg(qh_claim_git_origin(claim, commit, &at, why, sizeof why) == 0, "%s", why);
    ck_assert_int_eq((int)strlen(commit), 40);
    ck_assert_int_eq(at, 1767323045); /* 2026-01-02T03:04:05Z */
    char t[32];
    qh_utc_format(at, t);
    ck_assert_str_eq(t, "2026-01-02T03:04:05Z");
    ck_assert_int_eq(qh_write_file(claim, "[claim]\nx = 1\n", 14, &err), 0); /* the audited text is not the committed one */
    ck_assert_int_eq(qh_claim_git_origin(claim, commit, &at, why, sizeof why), 1);
    ck_assert_msg(strstr(why, "changed since its last commit"), "%s", why);
    ck_assert_str_eq(qh_registration_name(QH_REG_POST_HOC), "post hoc");
    free(claim);
    free(dir);
}
END_TEST

Suite *suite_reports(void)
{
    Suite *s = suite_create("reports");
    TCase *tc = tcase_create("plot");
    tcase_add_test(tc, pareto_frontier_on_known_points);
    tcase_add_test(tc, pareto_sets_count_only_paired_evidence);
    tcase_add_test(tc, charts_from_a_small_database);
    tcase_add_test(tc, charts_of_the_default_sweep_show_their_data);
    tcase_add_test(tc, report_numbers_are_the_database_numbers);
    tcase_add_test(tc, intervals_from_few_windows_are_hidden);
    tcase_add_test(tc, assessment_numbers_are_the_database_numbers);
    tcase_add_test(tc, audit_verdicts_on_synthetic_items);
    tcase_add_test(tc, audit_verdicts_cannot_pass_on_noise);
    tcase_add_test(tc, claim_files_are_registered_by_their_last_commit);
    tcase_add_test(tc, bootstrap_intervals_match_normal_theory);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
