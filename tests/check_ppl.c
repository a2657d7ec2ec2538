/* check_ppl.c - the sliding-window protocol against a direct computation, its errors, the
 * bootstrap, and the golden perplexities of the default model (within 0.1%). */
#include <cJSON.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "harness/eval/eval_ppl.h"
#include "harness/model/tokenizer.h"
#include "harness/base/stats.h"
#include "tests/testutil.h"

static qh_model *tiny_model(void)
{
    static const tu_ckpt spec = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 12, .n_vocab = 40,
                                 .dtype = QH_DT_F32, .seed = 11};
    char *dir = tu_tmpdir();
    tu_write_checkpoint(dir, &spec);
    qh_model *m;
    qh_err err;
    ck_assert_msg(qh_model_load(dir, &m, 0, &err) == 0, "%s", err.msg);
    free(dir);
    return m;
}

/* NLL of ids[p] given ids[s..p-1], straight from logits in double precision. */
static double direct_nll(const qh_model *m, const int *ids, long s, long p)
{
    int T = (int)(p - s), V = m->cfg.n_vocab;
    qh_workspace ws;
    qh_workspace_init(&ws, &m->cfg, 1, T);
    qh_forward(m, ids + s, 1, T, &ws);
    float *lg = qh_malloc((size_t)T * V * sizeof(float));
    qh_head_logits(m, ws.ln, T, lg);
    const float *row = lg + (size_t)(T - 1) * V;
    double mx = -1e30, sum = 0;
    for (int v = 0; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    for (int v = 0; v < V; v++) sum += exp(row[v] - mx);
    double nll = mx + log(sum) - row[ids[p]];
    free(lg);
    qh_workspace_free(&ws);
    return nll;
}

START_TEST(protocol_matches_direct_computation)
{
    qh_model *m = tiny_model();
    int ids[30];
    for (int i = 0; i < 30; i++) ids[i] = (i * 17 + 3) % 40;
    struct { int ctx, stride; long max_tokens; int windows; long scored; } cases[] = {
        {12, 12, 0, 3, 11 + 11 + 5},   /* [0,12) [12,24) [24,30) */
        {12, 4, 0, 6, 29},             /* every token after the first, once */
        {12, 5, 0, 5, 29},             /* last window [20,30) ends exactly at n */
        {8, 8, 20, 3, 7 + 7 + 3},      /* budget-cut to 20 tokens */
        {12, 1, 0, 19, 29},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        qh_ppl_opts o = {.ctx = cases[c].ctx, .stride = cases[c].stride, .max_tokens = cases[c].max_tokens, .seed = 1, .n_boot = 50};
        qh_ppl_result r;
        qh_err err;
        ck_assert_msg(qh_eval_ppl(m, ids, 30, NULL, &o, &r, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(r.windows, cases[c].windows);
        ck_assert_int_eq(r.tokens_scored, cases[c].scored);
        /* recompute the protocol by hand: window s scores p >= max(prev_end, s+1) */
        long n = cases[c].max_tokens ? cases[c].max_tokens : 30, prev_end = 0;
        double want = 0;
        long count = 0;
        for (long s = 0;; s += cases[c].stride) {
            long end = s + cases[c].ctx < n ? s + cases[c].ctx : n;
            for (long p = prev_end > s + 1 ? prev_end : s + 1; p < end; p++, count++) want += direct_nll(m, ids, s, p);
            prev_end = end;
            if (end == n) break;
        }
        ck_assert_int_eq(count, r.tokens_scored);
        ck_assert_msg(fabs(r.nll_sum - want) < 1e-3 * count, "case %zu: nll %g vs direct %g", c, r.nll_sum, want);
        ck_assert_double_eq_tol(r.ppl, exp(want / count), 1e-3 * r.ppl);
        if (r.windows >= QH_MIN_RESAMPLING_UNITS) ck_assert(r.ppl_lo <= r.ppl && r.ppl <= r.ppl_hi);
        else ck_assert(isnan(r.ppl_lo) && isnan(r.ppl_hi)); /* too few windows to resample */
        qh_ppl_result_free(&r);
    }
    qh_model_free(m);
}
END_TEST

/* llama.cpp's protocol by hand: chunks [i*ctx, (i+1)*ctx) of full length, positions
 * ctx/2+1..ctx-1 scored given the whole chunk before them, the first token replaced by BOS. */
START_TEST(llama_cpp_protocol_matches_direct_computation)
{
    qh_model *m = tiny_model();
    int ids[30];
    for (int i = 0; i < 30; i++) ids[i] = (i * 17 + 3) % 40;
    struct { int ctx; long chunks; int use_bos; int windows; long scored; } cases[] = {
        {12, 0, 0, 2, 2 * 5},   /* [0,12) [12,24); the 6 tokens left over are not a chunk */
        {8, 0, 0, 3, 3 * 3},    /* positions 5..7 of [0,8) [8,16) [16,24) */
        {8, 2, 0, 2, 2 * 3},    /* --chunks 2 */
        {7, 0, 1, 4, 4 * 3},    /* odd ctx: positions 4..6; BOS id 39 replaces each chunk's first */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        qh_ppl_opts o = {.protocol = "llama-cpp", .ctx = cases[c].ctx, .chunks = cases[c].chunks, .use_bos = cases[c].use_bos,
                         .bos_id = 39, .seed = 1, .n_boot = 50};
        qh_ppl_result r;
        qh_err err;
        ck_assert_msg(qh_eval_ppl(m, ids, 30, NULL, &o, &r, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(r.windows, cases[c].windows);
        ck_assert_int_eq(r.tokens_scored, cases[c].scored);
        ck_assert_int_eq(r.bos_id, cases[c].use_bos ? 39 : -1);
        int ctx = cases[c].ctx, chunk[12];
        double want = 0, want2 = 0;
        long count = 0;
        for (int i = 0; i < cases[c].windows; i++) {
            memcpy(chunk, ids + i * ctx, (size_t)ctx * sizeof(int));
            if (cases[c].use_bos) chunk[0] = 39;
            for (int p = ctx / 2 + 1; p < ctx; p++, count++) {
                double nll = direct_nll(m, chunk, 0, p);
                want += nll;
                want2 += nll * nll;
            }
        }
        ck_assert_int_eq(count, r.tokens_scored);
        ck_assert_msg(fabs(r.nll_sum - want) < 1e-3 * count, "case %zu: nll %g vs direct %g", c, r.nll_sum, want);
        double mean = want / count, pm = exp(mean) * sqrt((want2 / count - mean * mean) / (count - 1));
        ck_assert_double_eq_tol(r.ppl_pm, pm, 1e-3 * pm);
        qh_ppl_result_free(&r);
    }
    qh_err err;
    qh_ppl_result r;
    qh_ppl_opts o = {.protocol = "llama-cpp", .ctx = 8, .stride = 4};
    ck_assert_int_eq(qh_eval_ppl(m, ids, 30, NULL, &o, &r, &err), -1);
    ck_assert_str_eq(err.msg, "--stride 4: the llama-cpp protocol's chunks do not overlap (stride = ctx 8)");
    o = (qh_ppl_opts){.protocol = "llama-cpp", .ctx = 12};
    ck_assert_int_eq(qh_eval_ppl(m, ids, 11, NULL, &o, &r, &err), -1);
    ck_assert_str_eq(err.msg, "11 tokens: the llama-cpp protocol needs at least one full chunk of 12");
    o = (qh_ppl_opts){.protocol = "llama", .ctx = 12};
    ck_assert_int_eq(qh_eval_ppl(m, ids, 30, NULL, &o, &r, &err), -1);
    ck_assert_str_eq(err.msg, "unknown perplexity protocol 'llama' (known: sliding, llama-cpp)");
    o = (qh_ppl_opts){.ctx = 12, .chunks = 2};
    ck_assert_int_eq(qh_eval_ppl(m, ids, 30, NULL, &o, &r, &err), -1);
    ck_assert_str_eq(err.msg, "--chunks belongs to the llama-cpp protocol; the sliding one scores the whole text");
    qh_model_free(m);
}
END_TEST

/* The fidelity statistics against a direct double-precision computation on two tiny models:
 * KL, its percentiles, top-1 agreement, dp, and ln(PPL ratio) equal to the log of the two
 * perplexities of qh_eval_ppl under the same protocol. */
START_TEST(fidelity_statistics_match_direct_computation)
{
    qh_model *a = tiny_model();
    static const tu_ckpt other = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 12, .n_vocab = 40, .dtype = QH_DT_F32, .seed = 12};
    char *dir = tu_tmpdir();
    tu_write_checkpoint(dir, &other);
    qh_model *b;
    qh_err err;
    ck_assert_msg(qh_model_load(dir, &b, 0, &err) == 0, "%s", err.msg);
    int ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 13 + 5) % 40;
    const char *protocols[] = {"sliding", "llama-cpp"};
    for (int pi = 0; pi < 2; pi++) {
        qh_ppl_opts o = {.protocol = protocols[pi], .ctx = 10, .seed = 1, .n_boot = 50};
        qh_fidelity_result f;
        ck_assert_msg(qh_eval_fidelity(a, b, ids, 40, &o, &f, &err) == 0, "%s", err.msg);
        /* direct: every scored (window, position) of the protocol */
        int V = 40, first = pi ? 10 / 2 + 1 : 1, n_win = 4; /* both: [0,10) .. [30,40) */
        double kl_sum = 0, d_sum = 0, dp_sum = 0, dp2 = 0, kls[40];
        long N = 0, agree = 0;
        for (int w = 0; w < n_win; w++) {
            int T = 10;
            qh_workspace wa, wb;
            qh_workspace_init(&wa, &a->cfg, 1, T);
            qh_workspace_init(&wb, &b->cfg, 1, T);
            qh_forward(a, ids + w * 10, 1, T, &wa);
            float *la = qh_malloc((size_t)T * V * sizeof(float)), *lb = qh_malloc((size_t)T * V * sizeof(float));
            qh_head_logits(a, wa.ln, T, la);
            qh_forward(b, ids + w * 10, 1, T, &wb);
            qh_head_logits(b, wb.ln, T, lb);
            for (int p = first; p < T; p++) {
                const float *ra = la + (size_t)(p - 1) * V, *rb = lb + (size_t)(p - 1) * V;
                double ma = -1e30, mb = -1e30, sa = 0, sb = 0;
                int aa = 0, ab = 0;
                for (int v = 0; v < V; v++) {
                    if (ra[v] > ma) ma = ra[v], aa = v;
                    if (rb[v] > mb) mb = rb[v], ab = v;
                }
                for (int v = 0; v < V; v++) sa += exp(ra[v] - ma), sb += exp(rb[v] - mb);
                double kl = 0;
                for (int v = 0; v < V; v++) {
                    double lpa = ra[v] - ma - log(sa), lpb = rb[v] - mb - log(sb);
                    kl += exp(lpa) * (lpa - lpb);
                }
                int t = ids[w * 10 + p];
                double lpa = ra[t] - ma - log(sa), lpb = rb[t] - mb - log(sb);
                kls[N++] = kl;
                kl_sum += kl;
                d_sum += -lpb + lpa;
                dp_sum += exp(lpb) - exp(lpa);
                dp2 += (exp(lpb) - exp(lpa)) * (exp(lpb) - exp(lpa));
                agree += aa == ab;
            }
            free(la);
            free(lb);
            qh_workspace_free(&wa);
            qh_workspace_free(&wb);
        }
        ck_assert_int_eq(f.positions, N);
        ck_assert_double_eq_tol(f.kl_mean, kl_sum / N, 1e-4 * (kl_sum / N) + 1e-7);
        ck_assert_double_eq_tol(f.top1, (double)agree / N, 1e-12);
        ck_assert_double_eq_tol(f.dp_mean, dp_sum / N, 1e-5);
        ck_assert_double_eq_tol(f.dp_rms, sqrt(dp2 / N), 1e-5);
        ck_assert_double_eq_tol(f.ln_ppl_ratio, d_sum / N, 1e-5);
        gsl_sort(kls, 1, (size_t)N);
        ck_assert_double_eq_tol(f.kl_median, gsl_stats_quantile_from_sorted_data(kls, 1, (size_t)N, 0.5), 1e-4 * kls[N / 2] + 1e-7);
        ck_assert_double_eq_tol(f.kl_max, kls[N - 1], 1e-4 * kls[N - 1]);
        if (f.windows >= QH_MIN_RESAMPLING_UNITS) ck_assert(f.kl_lo <= f.kl_mean && f.kl_mean <= f.kl_hi);
        else ck_assert(isnan(f.kl_lo) && isnan(f.kl_hi)); /* too few windows to resample */
        /* the ratio is the log of the two perplexities of the same protocol */
        qh_ppl_result ra, rb;
        ck_assert_int_eq(qh_eval_ppl(a, ids, 40, NULL, &o, &ra, &err), 0);
        ck_assert_int_eq(qh_eval_ppl(b, ids, 40, NULL, &o, &rb, &err), 0);
        ck_assert_int_eq(ra.tokens_scored, N);
        ck_assert_double_eq_tol(f.ln_ppl_ratio, log(rb.ppl / ra.ppl), 1e-5);
        qh_ppl_result_free(&ra);
        qh_ppl_result_free(&rb);
        qh_fidelity_result_free(&f);
    }
    qh_model_free(a);
    qh_model_free(b);
    free(dir);
}
END_TEST

START_TEST(protocol_errors)
{
    qh_model *m = tiny_model();
    int ids[30] = {0};
    qh_ppl_result r;
    qh_err err;
    qh_ppl_opts o = {.ctx = 13};
    ck_assert_int_eq(qh_eval_ppl(m, ids, 30, NULL, &o, &r, &err), -1);
    ck_assert_str_eq(err.msg, "--ctx 13: window longer than the model's context (12)");
    o = (qh_ppl_opts){.ctx = 8, .stride = 9};
    ck_assert_int_eq(qh_eval_ppl(m, ids, 30, NULL, &o, &r, &err), -1);
    ck_assert_str_eq(err.msg, "--stride 9: must be between 1 and the window length 8");
    o = (qh_ppl_opts){0};
    ck_assert_int_eq(qh_eval_ppl(m, ids, 1, NULL, &o, &r, &err), -1);
    ck_assert_str_eq(err.msg, "text has 1 token; perplexity needs at least 2");
    ids[3] = 40;
    ck_assert_int_eq(qh_eval_ppl(m, ids, 30, NULL, &o, &r, &err), -1);
    ck_assert_str_eq(err.msg, "token 3 has id 40, outside the model's vocabulary (40)");
    qh_model_free(m);
}
END_TEST

/* The documents of the shipped texts: WikiText-2's articles at their top-level headings,
 * TinyStories' stories, Gutenberg sections that never span two books. */
START_TEST(documents_of_the_shipped_texts)
{
    static const struct {
        const char *name;
        int documents;
    } counted[] = {{"wikitext2-test", 62}, {"wikitext2-valid", 60}, {"tinystories-eval", 500}, {"tinystories-calib", 500},
                   {"tinystories-valid1000", 1000}};
    qh_err err;
    for (size_t i = 0; i < sizeof counted / sizeof *counted; i++) {
        qh_text t;
        qh_text_documents d;
        ck_assert_msg(qh_text_load(counted[i].name, &t, &err) == 0, "%s", err.msg);
        ck_assert_ptr_nonnull(qh_text_documents_of(&t, &d));
        ck_assert_msg(d.n == counted[i].documents, "%s: %d documents", counted[i].name, d.n);
        for (int k = 1; k < d.n; k++) {
            ck_assert(d.start[k] > d.start[k - 1] && d.start[k] < (long)t.len);
            if (counted[i].name[0] == 'w') /* a top-level heading, not a section's " = = " */
                ck_assert(strncmp(t.text + d.start[k], " = ", 3) == 0 && t.text[d.start[k] + 3] != '=');
            else
                ck_assert(strncmp(t.text + d.start[k] - 14, "<|endoftext|>\n", 14) == 0);
        }
        qh_text_documents_free(&d);
        qh_text_free(&t);
    }
    qh_text t;
    qh_text_documents d;
    ck_assert_int_eq(qh_text_load("gutenberg-heldout", &t, &err), 0);
    ck_assert_ptr_nonnull(qh_text_documents_of(&t, &d));
    ck_assert_str_eq(d.units, "sections");
    /* a book's marked end ends its last section: the next starts within the end line's paragraph */
    int books = 0;
    for (const char *e = t.text; (e = strstr(e, "\nEnd of ")); e++) {
        if (strncmp(e, "\nEnd of the Project Gutenberg EBook", 35) != 0 && strncmp(e, "\nEnd of Project Gutenberg's", 27) != 0) continue;
        books++;
        long at = (long)(e - t.text);
        int k = 0;
        while (k < d.n && d.start[k] <= at) k++;
        ck_assert_msg(k == d.n || d.start[k] - at < 200, "a section runs on past the book end at byte %ld", at);
    }
    ck_assert_int_eq(books, 10); /* of the 12 books, 10 keep the line */
    for (int k = 1; k < d.n; k++) ck_assert(d.start[k] - d.start[k - 1] >= 2 || t.text[d.start[k] - 1] == '\n');
    ck_assert_msg(d.n > 100, "%d sections", d.n);
    qh_text_documents_free(&d);
    /* a user's file has no documents */
    char *dir = tu_tmpdir(), *f = qh_path_join(dir, "mine.txt");
    ck_assert_int_eq(qh_write_file(f, "Hello world", 11, &err), 0);
    qh_text mine;
    ck_assert_int_eq(qh_text_load(f, &mine, &err), 0);
    ck_assert_ptr_null(qh_text_documents_of(&mine, &d));
    ck_assert_int_eq(d.n, 0);
    qh_text_free(&mine);
    free(f);
    free(dir);

    /* tokens placed by their bytes: exact for GPT-2's byte-level BPE on all of WikiText-2 test */
    qh_tokenizer *tok = tu_default_tokenizer();
    int *token_bytes = qh_token_byte_lengths(tok, 50257), *ids, *doc;
    size_t n;
    qh_text w;
    ck_assert_int_eq(qh_text_load("wikitext2-test", &w, &err), 0);
    ck_assert_int_eq(qh_encode(tok, w.path, w.text, w.len, &ids, &n, &err), 0);
    ck_assert_ptr_nonnull(qh_text_documents_of(&w, &d));
    doc = qh_malloc(n * sizeof *doc);
    ck_assert_int_eq(qh_token_documents(&d, w.len, ids, (long)n, token_bytes, 0, doc), 0);
    long at = 0;
    for (size_t i = 0; i < n; i++) { /* the first token of each article starts at its heading */
        if (i == 0 || doc[i] != doc[i - 1]) {
            ck_assert(i == 0 || doc[i] == doc[i - 1] + 1);
            ck_assert_msg(at == d.start[doc[i]], "article %d starts at byte %ld, its first token at %ld", doc[i], d.start[doc[i]], at);
        }
        at += token_bytes[ids[i]];
    }
    ck_assert_int_eq(doc[n - 1], 61);
    /* bytes that do not add up to the text's: no documents */
    ck_assert_int_eq(qh_token_documents(&d, w.len, ids, (long)n, token_bytes, 1, doc), -1);
    ck_assert_int_eq(qh_token_documents(&d, w.len, ids, (long)n - 1, token_bytes, 0, doc), -1);
    free(doc);
    free(ids);
    qh_text_documents_free(&d);
    qh_text_free(&w);
    qh_text_free(&t);
    free(token_bytes);
    qh_tokenizer_free(tok);
}
END_TEST

/* The interval over documents: their sums are the perplexity's, and it is given from 20
 * documents up. */
START_TEST(document_interval_resamples_documents)
{
    qh_model *m = tiny_model();
    enum { N = 400 };
    int ids[N], doc[N];
    for (int i = 0; i < N; i++) ids[i] = (i * 7 + i / 13) % 40;
    for (int per = 10; per <= 25; per += 15) {
        for (int i = 0; i < N; i++) doc[i] = i / per;
        qh_ppl_opts o = {.ctx = 12, .seed = 3, .n_boot = 200, .token_document = doc};
        qh_ppl_result r;
        qh_err err;
        ck_assert_msg(qh_eval_ppl(m, ids, N, NULL, &o, &r, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(r.documents, N / per);
        double nll = 0;
        long tokens = 0;
        for (int k = 0; k < r.documents; k++) nll += r.document_nll[k], tokens += r.document_tokens[k];
        ck_assert_int_eq(tokens, r.tokens_scored);
        ck_assert_double_eq_tol(nll, r.nll_sum, 1e-9 * fabs(r.nll_sum));
        if (r.documents >= QH_MIN_RESAMPLING_UNITS) ck_assert(r.ppl_doc_lo < r.ppl && r.ppl < r.ppl_doc_hi);
        else ck_assert(isnan(r.ppl_doc_lo) && isnan(r.ppl_doc_hi)); /* 16 documents: none */
        qh_ppl_result_free(&r);
    }
    /* a budget keeps only the documents it reaches */
    for (int i = 0; i < N; i++) doc[i] = i / 10;
    qh_ppl_opts o = {.ctx = 12, .seed = 3, .n_boot = 200, .max_tokens = 95, .token_document = doc};
    qh_ppl_result r;
    qh_err err;
    ck_assert_int_eq(qh_eval_ppl(m, ids, N, NULL, &o, &r, &err), 0);
    ck_assert_int_eq(r.documents, 10);
    qh_ppl_result_free(&r);
    qh_model_free(m);
}
END_TEST

/* Runs the golden cases of perplexity.json; full=0: only those with a token budget. */
static void golden_ppl(int full)
{
    char *gp = tu_shared_path("golden/perplexity.json"), *text;
    size_t len;
    qh_err err;
    ck_assert_int_eq(qh_read_file(gp, &text, &len, &err), 0);
    cJSON *root = cJSON_Parse(text);
    qh_model *m = tu_default_model(0);
    qh_tokenizer *tok = tu_default_tokenizer();
    int *token_bytes = qh_token_byte_lengths(tok, 50257);
    int ran = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "results"))
    {
        const cJSON *mt = cJSON_GetObjectItem(c, "max_tokens");
        if (cJSON_IsNull(mt) != full) continue;
        qh_text t;
        ck_assert_msg(qh_text_load(cJSON_GetObjectItem(c, "dataset")->valuestring, &t, &err) == 0, "%s", err.msg);
        int *ids;
        size_t n;
        ck_assert_int_eq(qh_encode(tok, t.path, t.text, t.len, &ids, &n, &err), 0);
        qh_ppl_opts o = {.ctx = cJSON_GetObjectItem(c, "ctx")->valueint,
                         .stride = cJSON_GetObjectItem(c, "stride")->valueint,
                         .max_tokens = cJSON_IsNull(mt) ? 0 : (long)mt->valuedouble, .seed = 1, .n_boot = 200};
        qh_ppl_result r;
        ck_assert_int_eq(qh_eval_ppl(m, ids, (long)n, token_bytes, &o, &r, &err), 0);
        double want = cJSON_GetObjectItem(c, "ppl")->valuedouble;
        fprintf(stderr, "golden %s ctx %d stride %d budget %ld: ppl %.4f (golden %.4f, %+.4f%%), %.0f tokens/s\n",
                t.name, o.ctx, o.stride, o.max_tokens, r.ppl, want, 100 * (r.ppl / want - 1),
                r.tokens_forward / r.seconds);
        ck_assert_int_eq(r.tokens_scored, cJSON_GetObjectItem(c, "tokens_scored")->valueint);
        ck_assert_int_eq(r.windows, cJSON_GetObjectItem(c, "windows")->valueint);
        ck_assert_msg(fabs(r.ppl / want - 1) < 1e-3, "ppl %.4f vs golden %.4f", r.ppl, want);
        ck_assert_double_eq_tol(r.bits_per_byte, cJSON_GetObjectItem(c, "bits_per_byte")->valuedouble, 1e-3);
        ck_assert(r.ppl_lo < r.ppl && r.ppl < r.ppl_hi);
        qh_ppl_result_free(&r);
        free(ids);
        qh_text_free(&t);
        ran++;
    }
    ck_assert_int_ge(ran, 1);
    free(token_bytes);
    qh_tokenizer_free(tok);
    qh_model_free(m);
    cJSON_Delete(root);
    free(text);
    free(gp);
}

START_TEST(golden_perplexities_budgeted) { golden_ppl(0); }
END_TEST

START_TEST(golden_perplexity_all_of_wikitext2_test)
{
    if (tu_quick()) { /* counted by Check as a pass, so it says so */
        fprintf(stderr, "ppl: golden_perplexity_all_of_wikitext2_test SKIPPED under QH_TEST_QUICK (the budgeted golden cases run "
                        "the same code; the whole of WikiText-2 test takes minutes under the sanitizers)\n");
        return;
    }
    golden_ppl(1);
}
END_TEST

Suite *suite_ppl(void)
{
    Suite *s = suite_create("ppl");
    TCase *tc = tcase_create("protocol");
    tcase_add_test(tc, protocol_matches_direct_computation);
    tcase_add_test(tc, protocol_errors);
    tcase_add_test(tc, llama_cpp_protocol_matches_direct_computation);
    tcase_add_test(tc, fidelity_statistics_match_direct_computation);
    tcase_add_test(tc, documents_of_the_shipped_texts);
    tcase_add_test(tc, document_interval_resamples_documents);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    TCase *g = tcase_create("golden");
    tcase_add_test(g, golden_perplexities_budgeted);
    tcase_add_test(g, golden_perplexity_all_of_wikitext2_test);
    tcase_set_timeout(g, 900);
    suite_add_tcase(s, g);
    return s;
}
