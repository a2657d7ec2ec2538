#define _GNU_SOURCE /* qsort_r */
/* plot.c - charts from the results store; see plot.h. */
#include "harness/run/store.h"
#include "methods/method.h"
#include "reports/plot.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness/run/claim.h"
#include "harness/model/model.h"
#include "harness/run/results.h"
#include "harness/run/queries.h"
#include "harness/base/stats.h"
#include "harness/base/outfile.h"
#include "reports/paired.h"

static int cmp_idx_bpp(const void *a, const void *b, void *ctx)
{
    const qh_plot_point *p = ctx;
    double x = p[*(const int *)a].bpp, y = p[*(const int *)b].bpp;
    return x < y ? -1 : (x > y ? 1 : *(const int *)a - *(const int *)b);
}

int qh_pareto(const qh_plot_point *p, int n, int lower_is_better, int *out)
{
    int *order = qh_malloc((size_t)(n ? n : 1) * sizeof(int)), k = 0;
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof(int), cmp_idx_bpp, (void *)p);
    double best = lower_is_better ? INFINITY : -INFINITY;
    for (int j = 0; j < n; j++) {
        int i = order[j];
        /* among points with the same bpp only the best can be on the frontier */
        int dominated_same_x = 0;
        for (int q = 0; q < n; q++)
            if (q != i && p[q].bpp == p[i].bpp &&
                (lower_is_better ? p[q].value < p[i].value : p[q].value > p[i].value))
                dominated_same_x = 1;
        if (dominated_same_x) continue;
        if (lower_is_better ? p[i].value < best : p[i].value > best) {
            out[k++] = i;
            best = p[i].value;
        }
    }
    free(order);
    return k;
}

int qh_pareto_paired(sqlite3 *db, const char *task, const char *metric, const long long *runs, const qh_plot_point *p, int n,
                     int *out)
{
    return qh_pareto_paired_unresolved(db, task, metric, runs, p, n, out, NULL);
}

int qh_pareto_paired_unresolved(sqlite3 *db, const char *task, const char *metric, const long long *runs, const qh_plot_point *p,
                                int n, int *out, int *unresolved)
{
    if (unresolved) *unresolved = 0;
    int lower = qh_metric_lower_is_better(metric);
    qh_paired_kind kind = qh_paired_kind_of(metric);
    sqlite3_stmt *st = NULL;
    if (kind != QH_PAIRED_NONE && qh_paired_prepare(db, metric, &st) != 0) return -1;
    int *order = qh_malloc((size_t)(n ? n : 1) * sizeof(int)), k = 0;
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof(int), cmp_idx_bpp, (void *)p);
    for (int a = 0; a < n; a++) {
        int i = order[a], dominated = 0;
        for (int j = 0; j < n && !dominated; j++) {
            if (j == i || p[j].bpp > p[i].bpp) continue;
            int ahead = lower ? p[j].value < p[i].value : p[j].value > p[i].value;
            /* not ahead on its value: not better on the evidence either (only a tie at fewer bits can still
             * beat i, where there are no items to pair on) */
            if (!ahead && !(p[j].bpp < p[i].bpp && p[j].value == p[i].value)) continue;
            qh_paired d = {NAN, NAN, NAN, 0, 0};
            if (kind != QH_PAIRED_NONE && qh_paired_compare(st, kind, runs[i], runs[j], task, &d) != 0) {
                sqlite3_finalize(st);
                free(order);
                return -1;
            }
            int better = qh_paired_better(&d, kind, lower);
            if (unresolved && d.units > 0 && (isnan(d.lo) || isnan(d.hi))) ++*unresolved;
            if (better < 0) /* nothing to pair on: the point estimates, as qh_pareto compares them */
                better = p[j].bpp < p[i].bpp ? (lower ? p[j].value <= p[i].value : p[j].value >= p[i].value)
                                             : (lower ? p[j].value < p[i].value : p[j].value > p[i].value);
            dominated = better;
        }
        if (!dominated) out[k++] = i;
    }
    sqlite3_finalize(st);
    free(order);
    return k;
}

int qh_pareto_runs(sqlite3 *db, long long exp, const char *key, int max, qh_plot_point *pts, char (*labels)[96], int *front,
                   int *n_points)
{
    sqlite3_stmt *st;
    *n_points = 0;
    if (sqlite3_prepare_v2(db,
                           QH_Q_PARETO_RUNS,
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, exp);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
    int n = 0;
    long long *runs = qh_malloc((size_t)(max ? max : 1) * sizeof(long long));
    char task[96] = "", metric[32] = "";
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        pts[n] = (qh_plot_point){sqlite3_column_double(st, 1), sqlite3_column_double(st, 2), 0, 0};
        runs[n] = sqlite3_column_int64(st, 3);
        snprintf(task, sizeof task, "%s", sqlite3_column_text(st, 4));
        snprintf(metric, sizeof metric, "%s", sqlite3_column_text(st, 5));
        snprintf(labels[n++], 96, "%s", sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "-");
    }
    sqlite3_finalize(st);
    *n_points = n;
    int k = n ? qh_pareto_paired(db, task, metric, runs, pts, n, front) : 0;
    free(runs);
    return k;
}

/* a gnuplot double-quoted string; a real newline in s becomes gnuplot's \n */
static void gp_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void safe_name(const char *in, char *out, size_t n)
{
    size_t k = 0;
    for (; *in && k + 1 < n; in++) out[k++] = (char)((*in >= 'a' && *in <= 'z') || (*in >= 'A' && *in <= 'Z') || (*in >= '0' && *in <= '9') || *in == '-' ? *in : '_');
    out[k] = 0;
}

typedef struct {
    char family[64], label[256];
    qh_plot_point pt;
    long long run;
} row;

/* 1 when the file gnuplot wrote ends as its format ends: a PNG with its IEND chunk, an SVG
 * with </svg>; a full disk leaves a file cut short or empty, and gnuplot still exits 0 */
static int chart_complete(const char *path, int png)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char tail[16] = {0};
    long n = 0;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 16 && fseek(f, -16, SEEK_END) == 0 && fread(tail, 1, 16, f) != 16) n = 0;
    fclose(f);
    if (n < 16) return 0;
    if (png) return memcmp(tail + 8, "IEND\xae\x42\x60\x82", 8) == 0;
    for (int i = 0; i + 6 <= 16; i++)
        if (memcmp(tail + i, "</svg>", 6) == 0) return 1;
    return 0;
}

/* s in single quotes for the shell */
static void sh_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    fputc('\'', f);
}

/* runs gnuplot -e DEFS SCRIPT */
static int run_gnuplot(const char *script, const char *defs, qh_err *err)
{
    char *cmd = NULL;
    size_t cmd_len = 0;
    FILE *cf = open_memstream(&cmd, &cmd_len);
    fputs("gnuplot -e ", cf);
    sh_quote(cf, defs);
    fputc(' ', cf);
    sh_quote(cf, script);
    fputs(" 2>&1", cf);
    fclose(cf);
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) return qh_fail(err, "cannot run gnuplot: %s", strerror(errno));
    char msg[512] = "";
    size_t n = fread(msg, 1, sizeof msg - 1, p);
    msg[n] = 0;
    int status = pclose(p);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        msg[strcspn(msg, "\n")] = 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            return qh_fail(err, "gnuplot not found (Debian: apt-get install gnuplot-nox)");
        return qh_fail(err, "%s: gnuplot failed: %s", script, msg);
    }
    return 0;
}

/* gnuplot's y settings for the points (with their bars), the baseline and chance: a range
 * fitted to them, and on a log axis spanning less than three decades ticks at 1-2-5 steps (every
 * multiple within one decade): gnuplot's own would be the powers of ten only, one label or none */
static void y_axis(const row *rows, int n, double baseline, double chance, int log_axis, int is_acc, char *out, size_t len)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        double a = rows[i].pt.lo < rows[i].pt.value ? rows[i].pt.lo : rows[i].pt.value;
        double b = rows[i].pt.hi > rows[i].pt.value ? rows[i].pt.hi : rows[i].pt.value;
        if (a < lo) lo = a;
        if (b > hi) hi = b;
    }
    double extra[2] = {baseline, chance};
    for (int k = 0; k < 2; k++)
        if (isfinite(extra[k])) lo = extra[k] < lo ? extra[k] : lo, hi = extra[k] > hi ? extra[k] : hi;
    size_t used = 0;
    if (log_axis && lo > 0 && isfinite(hi)) {
        double ylo = lo / 1.25, yhi = hi * 1.25;
        used += (size_t)snprintf(out, len, "set logscale y\nset yrange [%.6g:%.6g]\nset format y '%%g'\n", ylo, yhi);
        if (log10(yhi / ylo) < 3 && used < len) {
            /* within one decade every integer multiple, else 1-2-5 */
            static const double fine[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, coarse[] = {1, 2, 5};
            int within_decade = log10(yhi / ylo) < 1;
            const double *steps = within_decade ? fine : coarse;
            int n_steps = within_decade ? 9 : 3;
            used += (size_t)snprintf(out + used, len - used, "set ytics (");
            int first = 1;
            for (double decade = pow(10, floor(log10(ylo))); decade <= yhi && used < len; decade *= 10)
                for (int m = 0; m < n_steps && used < len; m++) {
                    double t = decade * steps[m];
                    if (t < ylo || t > yhi) continue;
                    used += (size_t)snprintf(out + used, len - used, "%s%.6g", first ? "" : ", ", t);
                    first = 0;
                }
            if (used < len) snprintf(out + used, len - used, ")\n");
        } else if (used < len)
            snprintf(out + used, len - used, "set ytics auto\nset format y '10^{%%T}'\n");
        return;
    }
    double pad = isfinite(hi - lo) && hi > lo ? 0.08 * (hi - lo) : 0.05;
    double ylo = lo - pad, yhi = hi + pad;
    if (is_acc) ylo = ylo < 0 ? 0 : ylo, yhi = yhi > 1 ? 1 : yhi;
    if (isfinite(ylo) && isfinite(yhi)) snprintf(out, len, "unset logscale y\nset yrange [%.6g:%.6g]\nset ytics auto\n", ylo, yhi);
    else snprintf(out, len, "unset logscale y\n");
}

/* the script's settings after "set output": title, axis labels, key below, grid, y axis */
static void chart_head(FILE *f, const char *title, const char *xlabel, const char *ylabel, const char *yset)
{
    fprintf(f, "set title ");
    gp_string(f, title);
    fprintf(f, " noenhanced\nset xlabel ");
    gp_string(f, xlabel);
    fprintf(f, " noenhanced\nset ylabel ");
    gp_string(f, ylabel);
    fprintf(f, " noenhanced\nset bmargin 9\nset key at screen 0.5, screen 0.01 center bottom horizontal noenhanced\nset grid\n"
               "set offsets graph 0.04, graph 0.12, 0, 0\n%s\n", yset);
}

/* one series per family (index k of dat: x, y, ylow, yhigh, label), a marker shape and colour of
 * its own each; then the labels of index label_index ("" for none) */
static void family_series(FILE *f, const char *dat, char (*families)[64], int nf, const char *label_index)
{
    static const int marker[] = {7, 5, 9, 11, 13, 15, 4, 6, 8, 10, 12, 14};
    for (int k = 0; k < nf; k++) {
        fprintf(f, "%s", k ? ", \\\n     " : "");
        gp_string(f, dat);
        fprintf(f, " index %d using 1:2:3:4 with yerrorbars lc %d pt %d ps 1.1 title ", k, k + 1, marker[k % (int)(sizeof marker / sizeof *marker)]);
        gp_string(f, families[k]);
    }
    /* up to a dozen points each carries its label; beyond that labels would cover each other, so only
     * the Pareto set's points are named (every point is in the .dat with its label); noenhanced, or
     * gnuplot reads the '_' of "double_quant=1" as a subscript */
    if (label_index[0]) {
        fprintf(f, ", \\\n     ");
        gp_string(f, dat);
        fprintf(f, " index %s using 1:2:5 with labels left offset char 0.7, char 0.5 font ',8' tc rgb 'gray30' noenhanced notitle", label_index);
    }
}

/* base.dat (data), base.gp (PNG then SVG: terminal, output, head, "plot " plot) and the two
 * charts, each drawn into a temporary of its own that gets the chart's name only once gnuplot has
 * finished it.  0, or -1 with nothing under a chart's name. */
static int draw_chart(const char *base, const char *data, const char *head, const char *plot, qh_err *err)
{
    char dat[300], gp[300];
    snprintf(dat, sizeof dat, "%s.dat", base);
    snprintf(gp, sizeof gp, "%s.gp", base);
    qh_outfile dat_out, gp_out, chart_out[2];
    if (qh_outfile_open(&dat_out, dat, err) != 0) return -1;
    fputs(data, dat_out.f);
    if (qh_outfile_commit(&dat_out, err) != 0) return -1;
    if (qh_outfile_open(&gp_out, gp, err) != 0) return -1;
    for (int term = 0; term < 2; term++) {
        char outp[320];
        snprintf(outp, sizeof outp, "%s.%s", base, term == 0 ? "png" : "svg");
        if (qh_outfile_open(&chart_out[term], outp, err) != 0) {
            if (term) qh_outfile_abort(&chart_out[0]);
            qh_outfile_abort(&gp_out);
            return -1;
        }
    }
    FILE *f = gp_out.f;
    for (int term = 0; term < 2; term++) {
        fprintf(f, "%s\nset output ", term == 0 ? "set terminal pngcairo size 1100,700 font ',10'" : "set terminal svg size 1100,700 font 'sans,10'");
        /* the script names the chart; qharness itself runs it with qh_out set to the
         * temporary, so the chart appears only when complete */
        fprintf(f, "(exists(\"qh_out_%s\") ? qh_out_%s : ", term == 0 ? "png" : "svg", term == 0 ? "png" : "svg");
        char final_name[320];
        snprintf(final_name, sizeof final_name, "%s.%s", base, term == 0 ? "png" : "svg");
        gp_string(f, final_name);
        fprintf(f, ")\n%splot %s\nunset output\n", head, plot);
    }
    char *defs = NULL;
    size_t defs_len = 0;
    FILE *df = open_memstream(&defs, &defs_len);
    fputs("qh_out_png=", df);
    gp_string(df, chart_out[0].tmp_path);
    fputs("; qh_out_svg=", df);
    gp_string(df, chart_out[1].tmp_path);
    fclose(df);
    int drawn = qh_outfile_commit(&gp_out, err) == 0 && run_gnuplot(gp, defs, err) == 0;
    free(defs);
    for (int term = 0; term < 2; term++) {
        if (drawn && !chart_complete(chart_out[term].tmp_path, term == 0)) {
            qh_fail(err, "%s.%s: gnuplot left it incomplete (disk full?); nothing written", base, term == 0 ? "png" : "svg");
            drawn = 0;
        }
        if (!drawn) qh_outfile_abort(&chart_out[term]);
        else if (qh_outfile_commit(&chart_out[term], err) != 0) drawn = 0;
    }
    return drawn ? 0 : -1;
}

/* The retention chart of one task: each run's retention against the baseline on the same
 * windows or items, as a claim states it (perplexity: ppl_base / ppl_run; an accuracy:
 * acc_run / acc_base), with its paired 95% interval, and the line of no loss at 1.  Returns 1
 * when drawn, 0 when the metric has no retention (KL) or no run pairs with the baseline, -1 on
 * an error. */
static int retention_chart(sqlite3 *db, const char *out_dir, const char *task, const char *metric, const char *tname, const row *rows, int n,
                           char (*families)[64], int nf, long long base_run, const char *model, long items, int ctx, const char *name,
                           int is_acc, int at_chance, FILE *log, qh_err *err)
{
    qh_paired_kind kind = qh_paired_kind_of(metric);
    if ((kind != QH_PAIRED_PPL && kind != QH_PAIRED_ACCURACY) || !base_run) return 0;
    sqlite3_stmt *st;
    if (qh_paired_prepare(db, metric, &st) != 0) return qh_fail(err, "%s", sqlite3_errmsg(db));
    row *pr = qh_malloc((size_t)n * sizeof *pr);
    int drawn_points = 0, intervals = 0;
    for (int i = 0; i < n; i++) {
        qh_paired d;
        if (qh_paired_retention(st, kind, base_run, rows[i].run, task, &d) != 0) {
            sqlite3_finalize(st);
            free(pr);
            return qh_fail(err, "%s", sqlite3_errmsg(db));
        }
        pr[i] = rows[i];
        pr[i].pt.value = d.delta;
        pr[i].pt.lo = isnan(d.lo) ? d.delta : d.lo;
        pr[i].pt.hi = isnan(d.hi) ? d.delta : d.hi;
        drawn_points += !isnan(d.delta);
        intervals += !isnan(d.lo);
    }
    sqlite3_finalize(st);
    int rc = 0;
    if (drawn_points == 0) goto done;
    const char *what = kind == QH_PAIRED_PPL ? "ppl base / ppl run" : "acc run / acc base";
    char base[300], dat[320], title[1400], ylabel[160], yset[1024], label_index[32];
    snprintf(base, sizeof base, "%s/%s_%s_retention", out_dir, tname, metric);
    snprintf(dat, sizeof dat, "%s.dat", base);
    char *data = NULL, *head = NULL, *plot = NULL;
    size_t data_len = 0, head_len = 0, plot_len = 0;
    FILE *f = open_memstream(&data, &data_len);
    fprintf(f, "# %s %s: retention (%s) on the same %s, 95%% paired bootstrap; experiment %s\n# bpp retention ci_low ci_high label\n",
            task, metric, what, is_acc ? "items" : "windows", name);
    int k = -1;
    for (int i = 0; i < n; i++) {
        if (i == 0 || strcmp(rows[i].family, rows[i - 1].family) != 0) {
            if (++k) fprintf(f, "\n\n");
        }
        if (!isnan(pr[i].pt.value))
            fprintf(f, "%.6f %.8g %.8g %.8g \"%s\"\n", pr[i].pt.bpp, pr[i].pt.value, pr[i].pt.lo, pr[i].pt.hi, pr[i].label);
        else
            fprintf(f, "# %s: no item shared with the baseline\n", pr[i].label);
    }
    fclose(f);
    row *valid = qh_malloc((size_t)n * sizeof *valid);
    int nv = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(pr[i].pt.value)) valid[nv++] = pr[i];
    y_axis(valid, nv, 1, NAN, 0, 0, yset, sizeof yset);
    free(valid);
    if (n <= 12) snprintf(label_index, sizeof label_index, "0:%d", nf - 1);
    else label_index[0] = 0;
    snprintf(title, sizeof title, "%.64s %.32s: retention against the baseline on the same %s, %s (quantized scope)\n%.300s, %ld %s, ctx %d, "
             "experiment %.128s; bars: 95%% paired bootstrap%s%s", task, metric, is_acc ? "items" : "windows", what, model, items,
             is_acc ? "items" : "tokens", ctx, name,
             intervals < drawn_points ? (is_acc ? " (none where fewer than " QH_STRINGIFY(QH_AUDIT_MIN_DISCORDANT) " items differ)"
                                                : " (none from fewer than " QH_STRINGIFY(QH_MIN_RESAMPLING_UNITS) " windows)") : "",
             at_chance ? "; baseline at chance: retention of noise" : "");
    snprintf(ylabel, sizeof ylabel, "retained: %s", what);
    f = open_memstream(&head, &head_len);
    chart_head(f, title, "bits per parameter from the packed bytes: quantized scope", ylabel, yset);
    fclose(f);
    f = open_memstream(&plot, &plot_len);
    family_series(f, dat, families, nf, label_index);
    fprintf(f, ", \\\n     1 with lines lc rgb 'forest-green' lw 2 title 'no loss (1)'");
    fclose(f);
    rc = draw_chart(base, data, head, plot, err) == 0 ? 1 : -1;
    free(data), free(head), free(plot);
    if (rc == 1 && log) fprintf(log, "chart        %s.png / .svg  (%d runs' retention, %d with an interval)\n", base, drawn_points, intervals);
done:
    free(pr);
    return rc;
}

/* What the charts of one experiment share. */
typedef struct {
    sqlite3 *db;
    const char *db_path, *out_dir, *name, *model, *baseline_name;
    long long exp;
    int ctx, whole_model;
    FILE *log;
    qh_err *err;
    sqlite3_stmt *rs;  /* the runs' values of one task and metric (qh_plot prepares it) */
} plot_ctx;

/* The chart of one task's metric against bpp, and (quantized scope) its retention chart beside
 * it; *rows is the runs' buffer, reused from chart to chart.  Returns the charts drawn (0: no
 * run has the metric) or -1 with err set. */
static int plot_metric(const plot_ctx *p, const char *task, const char *metric, row **rows_io)
{
    row *rows = *rows_io;
    const qh_metric *mrow = qh_metric_find(metric);
    int is_acc = strcmp(mrow->unit, "items") == 0;
    sqlite3_reset(p->rs);
    sqlite3_bind_int64(p->rs, 1, p->exp);
    sqlite3_bind_text(p->rs, 2, task, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(p->rs, 3, metric, -1, SQLITE_TRANSIENT);
    int n = 0, cap = 0;
    double baseline = NAN, base_lo = NAN, base_hi = NAN, chance = NAN;
    long items = 0;
    long long base_run = 0;
    int hidden = 0;
    while (sqlite3_step(p->rs) == SQLITE_ROW) {
        const char *fam = (const char *)sqlite3_column_text(p->rs, 0);
        hidden |= sqlite3_column_int(p->rs, 9);
        items = sqlite3_column_int64(p->rs, 7);
        if (sqlite3_column_type(p->rs, 8) != SQLITE_NULL) chance = sqlite3_column_double(p->rs, 8);
        if (qh_spec_is_baseline(fam)) {
            base_run = sqlite3_column_int64(p->rs, 10);
            baseline = sqlite3_column_double(p->rs, 4);
            if (sqlite3_column_type(p->rs, 5) != SQLITE_NULL) base_lo = sqlite3_column_double(p->rs, 5), base_hi = sqlite3_column_double(p->rs, 6);
            continue;
        }
        if (n == cap) *rows_io = rows = qh_realloc(rows, (size_t)(cap = cap ? cap * 2 : 32) * sizeof *rows);
        row *r = &rows[n++];
        snprintf(r->family, sizeof r->family, "%s", fam);
        snprintf(r->label, sizeof r->label, "%s", sqlite3_column_text(p->rs, 1));
        r->pt.bpp = sqlite3_column_double(p->rs, p->whole_model ? 3 : 2);
        r->pt.value = sqlite3_column_double(p->rs, 4);
        r->pt.lo = sqlite3_column_type(p->rs, 5) == SQLITE_NULL ? r->pt.value : sqlite3_column_double(p->rs, 5);
        r->pt.hi = sqlite3_column_type(p->rs, 6) == SQLITE_NULL ? r->pt.value : sqlite3_column_double(p->rs, 6);
        r->run = sqlite3_column_int64(p->rs, 10);
    }
    if (n == 0) return 0;
    char base[256], tname[64], dat[300];
    safe_name(task, tname, sizeof tname);
    snprintf(base, sizeof base, "%s/%s_%s%s", p->out_dir, tname, metric, p->whole_model ? "_model" : "");
    snprintf(dat, sizeof dat, "%s.dat", base);
    /* data: one gnuplot index block per family, then the Pareto set */
    char *data = NULL, *head = NULL, *plot = NULL;
    size_t data_len = 0, head_len = 0, plot_len = 0;
    FILE *f = open_memstream(&data, &data_len);
    fprintf(f, "# %s %s vs bpp (%s) from %s, experiment %s\n# bpp value ci_low ci_high label\n", task, metric,
            p->whole_model ? "whole model" : "quantized scope", p->db_path, p->name);
    char families[32][64];
    int nf = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp(rows[i].family, rows[i - 1].family) == 0) continue;
        if (nf == 32) break;
        if (nf) fprintf(f, "\n\n");
        snprintf(families[nf++], sizeof families[0], "%s", rows[i].family);
        for (int j = i; j < n && strcmp(rows[j].family, rows[i].family) == 0; j++)
            fprintf(f, "%.6f %.8g %.8g %.8g \"%s\"\n", rows[j].pt.bpp, rows[j].pt.value, rows[j].pt.lo, rows[j].pt.hi, rows[j].label);
    }
    qh_plot_point *pts = qh_malloc((size_t)n * sizeof *pts);
    int *front = qh_malloc((size_t)n * sizeof(int));
    long long *runs = qh_malloc((size_t)n * sizeof *runs);
    for (int i = 0; i < n; i++) pts[i] = rows[i].pt, runs[i] = rows[i].run;
    /* a baseline that cannot be told from chance has nothing to retain: no configuration
     * "wins" on such a task, so no Pareto set is drawn (the report says the same) */
    int at_chance = is_acc && !isnan(chance) && !isnan(base_lo) && base_lo <= chance && chance <= base_hi;
    int unresolved = 0;
    int nfront = at_chance ? 0 : qh_pareto_paired_unresolved(p->db, task, metric, runs, pts, n, front, &unresolved);
    free(runs);
    if (nfront >= 0) {
        fprintf(f, "\n\n# Pareto set (a point is beaten only by one with no more bits that its paired 95%% interval shows better)%s\n",
                at_chance ? ": none, the baseline cannot be told from chance" : "");
        for (int k = 0; k < nfront; k++)
            fprintf(f, "%.6f %.8g %.8g %.8g \"%s\"\n", pts[front[k]].bpp, pts[front[k]].value, pts[front[k]].lo, pts[front[k]].hi,
                    rows[front[k]].label);
    }
    fclose(f);
    free(pts);
    free(front);
    if (nfront < 0) {
        free(data);
        return qh_fail(p->err, "%s: %s", p->db_path, sqlite3_errmsg(p->db));
    }
    char title[1400], ylabel[128], xlabel[256], yset[1024], label_index[32];
    if (n <= 12) snprintf(label_index, sizeof label_index, "0:%d", nf - 1);
    else if (nfront > 0) snprintf(label_index, sizeof label_index, "%d", nf);
    else label_index[0] = 0;
    const char *what = mrow->axis;
    snprintf(title, sizeof title, "%s: %s vs bits per parameter (%s)\n%s, %ld %s, ctx %d, experiment %s; bars: 95%% CI%s%s", task,
             what, p->whole_model ? "whole model" : "quantized scope", p->model, items, is_acc ? "items" : "tokens", p->ctx, p->name,
             hidden ? " (none where fewer than " QH_STRINGIFY(QH_MIN_RESAMPLING_UNITS) " windows)" : "", at_chance ? "; baseline at chance: no Pareto set" : "");
    y_axis(rows, n, baseline, is_acc ? chance : NAN, mrow->log_axis, is_acc, yset, sizeof yset);
    snprintf(ylabel, sizeof ylabel, "%s%s", what, mrow->log_axis ? " (log scale)" : "");
    snprintf(xlabel, sizeof xlabel, "bits per parameter from the packed bytes: %s",
             p->whole_model ? "whole model (every parameter, kept tensors included)" : "quantized scope");
    f = open_memstream(&head, &head_len);
    chart_head(f, title, xlabel, ylabel, yset);
    fclose(f);
    f = open_memstream(&plot, &plot_len);
    family_series(f, dat, families, nf, label_index);
    if (nfront > 0) { /* ringed: the set need not be monotone, so no line joins it */
        fprintf(f, ", \\\n     ");
        gp_string(f, dat);
        /* where a pair had fewer windows than an interval needs, neither could be shown better: the
         * ring then means "not beaten", and must not read as a frontier */
        fprintf(f, " index %d using 1:2 with points pt 6 ps 2.6 lw 1.5 lc rgb 'black' title '%s'", nf,
                unresolved ? "not beaten (too few windows)" : "Pareto set (paired)");
    }
    if (!isnan(baseline)) fprintf(f, ", \\\n     %.8g with lines lc rgb 'forest-green' lw 2 title '%s (%.4g)'", baseline, p->baseline_name, baseline);
    if (is_acc && !isnan(chance)) fprintf(f, ", \\\n     %.8g with lines lc rgb 'red' dt 3 lw 2 title 'chance (%.3g)'", chance, chance);
    fclose(f);
    int drawn = draw_chart(base, data, head, plot, p->err);
    free(data), free(head), free(plot);
    if (drawn != 0) return -1;
    if (p->log) fprintf(p->log, "chart        %s.png / .svg  (%d points, %d families, %d in the Pareto set)\n", base, n, nf, nfront);
    /* beside it, the retention against the baseline on the same windows or items, with its paired
     * interval: what a marginal bar cannot show (quantized scope only: it does not depend on x) */
    int paired_drawn = p->whole_model ? 0 : retention_chart(p->db, p->out_dir, task, metric, tname, rows, n, families, nf, base_run, p->model, items, p->ctx,
                                                     p->name, is_acc, at_chance, p->log, p->err);
    return paired_drawn < 0 ? -1 : 1 + paired_drawn;
}

int qh_plot(const char *db_path, const char *experiment, long long experiment_id, const char *out_dir, int whole_model, FILE *log, qh_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL, *rs = NULL;
    int charts = -1;
    row *rows = NULL;
    if (!qh_file_exists(db_path)) return qh_fail(err, "%s: no such results database", db_path);
    if (qh_db_open_read(db_path, &db) != SQLITE_OK) {
        qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        goto out;
    }
    long long exp;
    if (qh_store_pick_experiment(db, db_path, experiment, experiment_id, &exp, err) != 0) goto out;
    if (sqlite3_prepare_v2(db,
                           QH_Q_PLOT_EXPERIMENT,
                           -1, &st, NULL) != SQLITE_OK) {
        qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_int64(st, 1, exp);
    if (sqlite3_step(st) != SQLITE_ROW) {
        qh_fail(err, "%s: experiment %lld has no runs", db_path, exp);
        goto out;
    }
    char name[128], model[1024];
    snprintf(name, sizeof name, "%s", sqlite3_column_text(st, 1));
    int ctx = sqlite3_column_int(st, 2);
    const char *mp = (const char *)sqlite3_column_text(st, 3), *slash = strrchr(mp, '/');
    snprintf(model, sizeof model, "%s", slash ? slash + 1 : mp);
    if (slash && strcmp(slash + 1, QH_FETCHED_MODEL_FILE) == 0) { /* a fetched model: its folder names it (smollm2/model.gguf) */
        const char *up = slash;
        while (up > mp && up[-1] != '/') up--;
        snprintf(model, sizeof model, "%s", up);
    }
    /* a model distributed quantized (a Q4_1 or Q4_K_M GGUF) has no unquantized weights here: its
     * baseline is that file dequantized, and the chart says so (not the type of one tensor: a
     * K-quant file mixes several) */
    const char *dtype = sqlite3_column_text(st, 5) ? (const char *)sqlite3_column_text(st, 5) : "F32";
    char baseline_name[96];
    if (strcmp(dtype, "F32") && strcmp(dtype, "F16") && strcmp(dtype, "BF16"))
        snprintf(baseline_name, sizeof baseline_name, "baseline: file dequantized");
    else
        snprintf(baseline_name, sizeof baseline_name, "unquantized");
    sqlite3_finalize(st);
    st = NULL;
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        qh_fail(err, "%s: cannot create directory: %s", out_dir, strerror(errno));
        goto out;
    }
    char charted[256], sql[512];
    qh_metric_sql_list(QH_METRIC_CHART, charted, sizeof charted);
    snprintf(sql, sizeof sql,
             QH_Q_EXPERIMENT_METRICS_FMT, charted);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           QH_Q_PLOT_POINTS,
                           -1, &rs, NULL) != SQLITE_OK) {
        qh_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_int64(st, 1, exp);
    plot_ctx pc = {.db = db, .db_path = db_path, .out_dir = out_dir, .name = name, .model = model, .baseline_name = baseline_name,
                   .exp = exp, .ctx = ctx, .whole_model = whole_model, .log = log, .err = err, .rs = rs};
    charts = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char task[64], metric[32];
        snprintf(task, sizeof task, "%s", sqlite3_column_text(st, 0));
        snprintf(metric, sizeof metric, "%s", sqlite3_column_text(st, 1));
        int drawn = plot_metric(&pc, task, metric, &rows);
        if (drawn < 0) {
            charts = -1;
            goto out;
        }
        charts += drawn;
    }
out:
    free(rows);
    sqlite3_finalize(st);
    sqlite3_finalize(rs);
    sqlite3_close(db);
    return charts;
}

/* index.md: every chart in out_dir, by scope, perplexity and fidelity first */
int qh_plot_overview(const char *out_dir, const char *title, qh_err *err)
{
    char pattern[4200], path[4200];
    snprintf(pattern, sizeof pattern, "%s/*.png", out_dir);
    snprintf(path, sizeof path, "%s/index.md", out_dir);
    glob_t g;
    int found = glob(pattern, 0, NULL, &g);
    if (found != 0 && found != GLOB_NOMATCH) return qh_fail(err, "%s: cannot list the charts", out_dir);
    qh_outfile o;
    if (qh_outfile_open(&o, path, err) != 0) {
        globfree(&g);
        return -1;
    }
    fprintf(o.f, "# Charts: %s\n\nEach chart: PNG and SVG, its data (.dat) and gnuplot script (.gp) beside it. x: bits per "
                 "parameter from the packed bytes; bars: 95%% intervals.\n", title);
    int n = 0;
    for (int scope = 0; scope < 2; scope++) {
        fprintf(o.f, "\n## %s\n\n", scope ? "Whole model (every parameter, kept tensors included)" : "Quantized scope");
        for (int pass = 0; pass < 2; pass++) /* texts (ppl., fidelity.) first, then the tasks */
            for (size_t i = 0; found == 0 && i < g.gl_pathc; i++) {
                const char *file = strrchr(g.gl_pathv[i], '/') + 1;
                size_t len = strlen(file);
                int whole = len > 10 && strcmp(file + len - 10, "_model.png") == 0;
                int text = strncmp(file, "ppl_", 4) == 0 || strncmp(file, "fidelity_", 9) == 0;
                if (whole != scope || text != (pass == 0)) continue;
                fprintf(o.f, "### %.*s\n\n![%.*s](%s)\n\n", (int)(len - 4), file, (int)(len - 4), file, file);
                n++;
            }
    }
    globfree(&g);
    if (qh_outfile_commit(&o, err) != 0) return -1;
    return n;
}
