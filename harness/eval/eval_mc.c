#define _GNU_SOURCE /* qsort_r */
/* eval_mc.c - request scoring and multiple-choice evaluation; see eval_mc.h. */
#include "harness/eval/eval_mc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/forward.h"

static int by_length_desc(const void *a, const void *b, void *ctx)
{
    const qh_lm_request *req = ctx;
    return req[*(const int *)b].n - req[*(const int *)a].n;
}

/* Buffers of the head over the scored rows of a batch. */
typedef struct {
    int *targets, *owner;
    float *hidden, *nll;
    unsigned char *greedy;
} head_rows;

/* The scored rows of B requests whose hidden states are in ws->ln (B, T): request idx[b]'s
 * token p (>= first[b]) sits at row p - first[b] of slot b.  Gathers the rows that predict
 * scored tokens (and the alternatives after the last token), runs the head, accumulates. */
static void score_batch(const qh_model *m, qh_lm_request *req, const int *idx, const int *first, int B, int T, qh_workspace *ws,
                        head_rows *h)
{
    int C = m->cfg.n_embd, R = 0;
    for (int b = 0; b < B; b++) {
        qh_lm_request *r = &req[idx[b]];
        int f = first ? first[b] : 0;
        r->logprob = 0;
        r->all_greedy = 1;
        for (int p = r->n - r->n_cont; p < r->n; p++) {
            memcpy(h->hidden + (size_t)R * C, ws->ln + ((size_t)b * T + (size_t)(p - 1 - f)) * C, (size_t)C * sizeof(float));
            h->targets[R] = r->tokens[p];
            h->owner[R++] = idx[b];
        }
        for (int k = 0; k < r->n_alt; k++) { /* encoded as owner -(1 + request * QH_MAX_ALT + k) */
            memcpy(h->hidden + (size_t)R * C, ws->ln + ((size_t)b * T + (size_t)(r->n - 1 - f)) * C, (size_t)C * sizeof(float));
            h->targets[R] = r->alt[k];
            h->owner[R++] = -(1 + idx[b] * QH_MAX_ALT + k);
        }
    }
    qh_head_nll_argmax(m, h->hidden, h->targets, R, h->nll, h->greedy, ws);
    for (int k = 0; k < R; k++) {
        if (h->owner[k] < 0) {
            int code = -h->owner[k] - 1;
            req[code / QH_MAX_ALT].alt_logprob[code % QH_MAX_ALT] = -h->nll[k];
            continue;
        }
        req[h->owner[k]].logprob -= h->nll[k];
        req[h->owner[k]].all_greedy &= h->greedy[k];
    }
}

/* Requests of one group (the choices of an item) share their first P tokens: P is their
 * common prefix, stopped one token before the first scored position of any of them so that
 * every scored row comes from the continuation pass. */
typedef struct {
    int first, count;   /* members: order[first .. first + count) */
    int P;
} share_group;

static int by_group(const void *a, const void *b, void *ctx)
{
    const qh_lm_request *req = ctx;
    int ga = req[*(const int *)a].group, gb = req[*(const int *)b].group;
    return ga != gb ? (ga > gb) - (ga < gb) : *(const int *)a - *(const int *)b;
}

static int by_prefix_desc(const void *a, const void *b) { return ((const share_group *)b)->P - ((const share_group *)a)->P; }

typedef struct {
    const qh_lm_request *req;
    const int *pos;     /* request -> P of its group */
} suffix_ctx;

static int by_suffix_desc(const void *a, const void *b, void *ctx)
{
    const suffix_ctx *s = ctx;
    int ia = *(const int *)a, ib = *(const int *)b;
    return (s->req[ib].n - s->pos[ib]) - (s->req[ia].n - s->pos[ia]);
}

#define MIN_SHARED 8 /* shorter common prefixes are not worth a second pass */

void qh_score_requests(const qh_model *m, qh_lm_request *req, int n, int ctx,
                       void (*progress)(void *ud, long done, long total), void *ud)
{
    if (ctx <= 0 || ctx > qh_config_max_ctx(&m->cfg)) ctx = ctx <= 0 ? m->cfg.n_ctx : qh_config_max_ctx(&m->cfg);
    /* left truncation to the window */
    for (int i = 0; i < n; i++) {
        qh_lm_request *r = &req[i];
        r->truncated = 0;
        if (r->n > ctx) {
            int cut = r->n - ctx;
            memmove(r->tokens, r->tokens + cut, (size_t)ctx * sizeof(int));
            r->n = ctx;
            r->truncated = cut;
            if (r->n_cont > ctx - 1) r->n_cont = ctx - 1;
        }
    }
    /* groups that share a prefix; every other request runs whole */
    int *order = qh_malloc((size_t)(n ? n : 1) * sizeof(int)), *prefix = qh_calloc((size_t)(n ? n : 1), sizeof(int));
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof(int), by_group, req);
    share_group *groups = qh_malloc((size_t)(n ? n : 1) * sizeof *groups);
    int n_groups = 0, n_whole = 0;
    int *whole = qh_malloc((size_t)(n ? n : 1) * sizeof(int)), *shared = qh_malloc((size_t)(n ? n : 1) * sizeof(int));
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && req[order[j]].group && req[order[j]].group == req[order[i]].group) j++;
        int P = 0;
        if (req[order[i]].group && j - i > 1) {
            const qh_lm_request *a = &req[order[i]];
            P = a->n - a->n_cont - 1;
            for (int k = i + 1; k < j; k++) {
                const qh_lm_request *b = &req[order[k]];
                int lim = b->n - b->n_cont - 1, q = 0;
                P = lim < P ? lim : P;
                while (q < P && a->tokens[q] == b->tokens[q]) q++;
                P = q;
            }
        }
        if (P >= MIN_SHARED) {
            groups[n_groups++] = (share_group){i, j - i, P};
            for (int k = i; k < j; k++) prefix[order[k]] = P;
        } else {
            for (int k = i; k < j; k++) whole[n_whole++] = order[k];
        }
        i = j;
    }
    /* batches of up to 4096 tokens (or one full window), at most 64 requests */
    const int max_batch = 64, cap = (4096 > ctx ? 4096 : ctx) + max_batch * QH_MAX_ALT; /* rows: tokens + alternatives */
    int C = m->cfg.n_embd, W = qh_config_qkv_width(&m->cfg);
    qh_workspace ws;
    qh_workspace_init_rows(&ws, &m->cfg, cap, ctx);
    int *tokens = qh_malloc((size_t)cap * sizeof(int));
    head_rows h = {qh_malloc((size_t)cap * sizeof(int)), qh_malloc((size_t)cap * sizeof(int)),
                   qh_malloc((size_t)cap * C * sizeof(float)), qh_malloc((size_t)cap * sizeof(float)), qh_malloc((size_t)cap)};
    long done = 0;
    qsort_r(whole, (size_t)n_whole, sizeof(int), by_length_desc, req);
    for (int i0 = 0; i0 < n_whole;) {
        int T = req[whole[i0]].n, B = 0;
        while (i0 + B < n_whole && B < max_batch && (B + 1) * T <= cap - max_batch * QH_MAX_ALT) B++;
        for (int b = 0; b < B; b++) {
            const qh_lm_request *r = &req[whole[i0 + b]];
            memcpy(tokens + (size_t)b * T, r->tokens, (size_t)r->n * sizeof(int));
            for (int t = r->n; t < T; t++) tokens[(size_t)b * T + t] = 0; /* right padding */
        }
        qh_forward(m, tokens, B, T, &ws);
        score_batch(m, req, whole + i0, NULL, B, T, &ws, &h);
        i0 += B;
        done += B;
        if (progress) progress(ud, done, n);
    }
    /* shared prefixes: a batch of prefixes, then the continuations of those groups */
    qsort(groups, (size_t)n_groups, sizeof *groups, by_prefix_desc);
    size_t layer_rows = 0;
    float *keep = NULL;
    const float **prefix_qkv = qh_malloc((size_t)(n ? n : 1) * sizeof(float *));
    int *slot_P = qh_malloc((size_t)max_batch * sizeof(int)), *slot_S = qh_malloc((size_t)max_batch * sizeof(int));
    suffix_ctx sc = {req, prefix};
    for (int g0 = 0; g0 < n_groups;) {
        int T = groups[g0].P, G = 0;
        while (g0 + G < n_groups && G < max_batch && (G + 1) * T <= cap - max_batch * QH_MAX_ALT) G++;
        for (int g = 0; g < G; g++) {
            const qh_lm_request *r = &req[order[groups[g0 + g].first]];
            memcpy(tokens + (size_t)g * T, r->tokens, (size_t)groups[g0 + g].P * sizeof(int));
            for (int t = groups[g0 + g].P; t < T; t++) tokens[(size_t)g * T + t] = 0;
        }
        size_t rows = (size_t)G * T * W;
        if (rows > layer_rows) {
            free(keep);
            keep = qh_malloc((size_t)m->cfg.n_layer * rows * sizeof(float));
            layer_rows = rows;
        }
        qh_forward_keep_qkv(m, tokens, G, T, &ws, keep);
        int n_sh = 0;
        for (int g = 0; g < G; g++)
            for (int k = 0; k < groups[g0 + g].count; k++) {
                int ri = order[groups[g0 + g].first + k];
                shared[n_sh++] = ri;
                prefix_qkv[ri] = keep + (size_t)g * T * W; /* layer l at + l * G*T*W */
            }
        qsort_r(shared, (size_t)n_sh, sizeof(int), by_suffix_desc, &sc);
        for (int i0 = 0; i0 < n_sh;) {
            int S = req[shared[i0]].n - prefix[shared[i0]], B = 0;
            while (i0 + B < n_sh && B < max_batch && (B + 1) * S <= cap - max_batch * QH_MAX_ALT) B++;
            const float *slot_qkv[64];
            for (int b = 0; b < B; b++) {
                int ri = shared[i0 + b];
                const qh_lm_request *r = &req[ri];
                slot_P[b] = prefix[ri];
                slot_S[b] = r->n - prefix[ri];
                slot_qkv[b] = prefix_qkv[ri];
                memcpy(tokens + (size_t)b * S, r->tokens + slot_P[b], (size_t)slot_S[b] * sizeof(int));
                for (int t = slot_S[b]; t < S; t++) tokens[(size_t)b * S + t] = 0;
            }
            qh_forward_continue(m, tokens, B, S, slot_qkv, rows, slot_P, slot_S, &ws);
            score_batch(m, req, shared + i0, slot_P, B, S, &ws, &h);
            i0 += B;
            done += B;
            if (progress) progress(ud, done, n);
        }
        g0 += G;
    }
    free(keep);
    free(prefix_qkv);
    free(slot_P);
    free(slot_S);
    free(order);
    free(prefix);
    free(groups);
    free(whole);
    free(shared);
    free(tokens);
    free(h.targets);
    free(h.owner);
    free(h.hidden);
    free(h.nll);
    free(h.greedy);
    qh_workspace_free(&ws);
}

void qh_mc_result_free(qh_mc_result *r)
{
    for (int i = 0; i < r->n_items && r->item_detail; i++) free(r->item_detail[i]);
    free(r->item_detail);
    free(r->item_correct);
    free(r->item_correct_norm);
    free(r->item_correct_letter);
    free(r->item_gold_ll);
    memset(r, 0, sizeof *r);
}

/* context tokens + continuation tokens; the last n_cont are scored.  lead: a token put first
 * (BOS, or GPT-2's <|endoftext|> for a sentence without context), or -1.  The continuation is
 * encoded on its own (as lm-evaluation-harness does for GPT-2) unless the vocabulary encodes a
 * text on its own differently (SentencePiece's leading space): then context + continuation are
 * encoded together and the tokens after their common prefix with the context alone are scored. */
static int make_request_split(qh_tokenizer *tok, const char *context, const char *cont, int lead_id, qh_lm_request *r, qh_err *err);

/* lm-eval's rule first: white space at the end of the context belongs to the continuation */
static int make_request(qh_tokenizer *tok, const char *context, const char *cont, int lead_id, qh_lm_request *r, qh_err *err)
{
    size_t lc = context ? strlen(context) : 0, keep = lc;
    while (keep && strchr(" \t\n\r\v\f", context[keep - 1])) keep--;
    if (keep == lc || !*cont) return make_request_split(tok, context, cont, lead_id, r, err);
    char *ctx = qh_malloc(keep + 1), *moved = qh_malloc(lc - keep + strlen(cont) + 1);
    memcpy(ctx, context, keep);
    ctx[keep] = 0;
    memcpy(moved, context + keep, lc - keep);
    strcpy(moved + (lc - keep), cont);
    int rc = make_request_split(tok, ctx, moved, lead_id, r, err);
    free(ctx);
    free(moved);
    return rc;
}

static int make_request_split(qh_tokenizer *tok, const char *context, const char *cont, int lead_id, qh_lm_request *r, qh_err *err)
{
    int *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (context && *context && qh_encode(tok, "context", context, strlen(context), &a, &na, err) != 0) return -1;
    if (*cont && qh_tokenizer_encodes_alone_differently(tok) && na) {
        size_t lc = strlen(context), lk = strlen(cont);
        char *joined = qh_malloc(lc + lk + 1);
        memcpy(joined, context, lc);
        memcpy(joined + lc, cont, lk + 1);
        int *w = NULL;
        size_t nw = 0;
        int rc = qh_encode(tok, "context + continuation", joined, lc + lk, &w, &nw, err);
        free(joined);
        if (rc != 0) {
            free(a);
            return -1;
        }
        size_t common = 0;
        while (common < na && common < nw && a[common] == w[common]) common++;
        na = common;
        nb = nw - common;
        b = qh_malloc((nb ? nb : 1) * sizeof(int));
        memcpy(b, w + common, nb * sizeof(int));
        free(w);
    } else if (*cont && qh_encode(tok, "continuation", cont, strlen(cont), &b, &nb, err) != 0) {
        free(a);
        return -1;
    }
    int lead = lead_id >= 0 ? 1 : 0;
    if (na + (size_t)lead == 0 || (nb == 0 && *cont)) {
        free(a);
        free(b);
        return qh_fail(err, "empty %s", nb == 0 ? "continuation" : "context");
    }
    r->n = (int)(lead + na + nb);
    r->n_cont = (int)nb;
    r->tokens = qh_malloc((size_t)r->n * sizeof(int));
    if (lead) r->tokens[0] = lead_id;
    if (na) memcpy(r->tokens + lead, a, na * sizeof(int));
    if (nb) memcpy(r->tokens + lead + na, b, nb * sizeof(int));
    free(a);
    free(b);
    return 0;
}

/* MMLU's answer letter k as the token that follows "Answer:" (GPT-2: " A"; SentencePiece:
 * "\xe2\x96\x81A"), from the tokenizer: the tokens of "Answer: A" past those of "Answer:". */
static int letter_token(qh_tokenizer *tok, int k, int *id, qh_err *err)
{
    static const char *const with[4] = {"Answer: A", "Answer: B", "Answer: C", "Answer: D"};
    int *a = NULL, *b = NULL, rc = -1;
    size_t na = 0, nb = 0;
    if (qh_encode(tok, "mmlu letter", "Answer:", 7, &a, &na, err) != 0 || qh_encode(tok, "mmlu letter", with[k], 9, &b, &nb, err) != 0)
        goto out;
    if (nb != na + 1 || memcmp(a, b, na * sizeof(int)) != 0) {
        qh_fail(err, "mmlu: '%c' after 'Answer:' is not a single token of this vocabulary", 'A' + k);
        goto out;
    }
    *id = b[na];
    rc = 0;
out:
    free(a);
    free(b);
    return rc;
}

void qh_mc_requests_free(qh_mc_requests *rq)
{
    for (int i = 0; i < rq->n_req; i++) free(rq->req[i].tokens);
    free(rq->req);
    memset(rq, 0, sizeof *rq);
}

int qh_mc_requests_build(qh_tokenizer *tok, const qh_mc_task *task, qh_mc_requests *rq, qh_err *err)
{
    memset(rq, 0, sizeof *rq);
    /* what every request starts with: BOS where the vocabulary adds one; sentences without
     * context (pairs) start from the tokenizer's start token */
    const qh_mc_kind_traits *kt = &qh_mc_kinds[task->kind];
    int bos = qh_tokenizer_bos_added(tok), start = qh_tokenizer_start_token(tok);
    if (kt->from_start_token && start < 0)
        return qh_fail(err, "%s: the tokenizer has no start token (no BOS, no <|endoftext|>) to score a sentence from", task->name);
    int letter_id[4];
    for (int k = 0; k < 4 && kt->letter_request; k++)
        if (letter_token(tok, k, &letter_id[k], err) != 0) return -1;
    /* requests: one per choice, plus (MMLU) the lettered prompt scored on each letter */
    int n_req = 0;
    for (int i = 0; i < task->n_items; i++) n_req += task->items[i].n_choices + kt->letter_request;
    qh_lm_request *req = qh_calloc((size_t)n_req, sizeof *req);
    rq->req = req;
    rq->n_req = n_req;
    int k = 0;
    for (int i = 0; i < task->n_items; i++) {
        const qh_mc_item *it = &task->items[i];
        for (int c = 0; c < it->n_choices; c++, k++) {
            const char *context = it->contexts ? it->contexts[c] : it->context;
            if (make_request(tok, context, it->choices[c], kt->from_start_token ? start : bos, &req[k], err) != 0) {
                qh_err_prefix(err, "%s item %s choice %d", task->name, it->key, c);
                goto fail;
            }
            req[k].group = i + 1; /* the choices of an item may share their context */
        }
        if (kt->letter_request) { /* the lettered prompt, scored on each letter as the next token */
            if (make_request(tok, it->letter_prompt, "", bos, &req[k], err) != 0) goto fail;
            req[k].n_alt = 4;
            memcpy(req[k].alt, letter_id, sizeof letter_id);
            k++;
        }
    }
    return 0;
fail:
    qh_mc_requests_free(rq);
    return -1;
}

/* acc_norm's length, as lm-eval's: the characters (code points) of the choice, without the
 * target delimiter " " every continuation starts with */
static double choice_chars(const char *continuation)
{
    const char *p = continuation + (continuation[0] == ' ');
    long n = 0;
    for (; *p; p++) n += ((unsigned char)*p & 0xC0) != 0x80;
    return n > 0 ? (double)n : 1.0;
}

int qh_eval_mc_requests(const qh_model *m, const qh_mc_task *task, const qh_mc_requests *rq, int ctx, qh_mc_result *res,
                        void (*progress)(void *ud, long done, long total), void *ud, qh_err *err)
{
    memset(res, 0, sizeof *res);
    snprintf(res->task, sizeof res->task, "%s", task->name);
    res->n_items = task->n_items;
    res->chance = task->chance;
    const qh_mc_kind_traits *kt = &qh_mc_kinds[task->kind];
    int n_req = rq->n_req, k;
    /* scoring truncates requests in place: it works on a copy, so the prepared ones serve every model */
    qh_lm_request *req = qh_malloc((size_t)n_req * sizeof *req);
    for (int i = 0; i < n_req; i++) {
        req[i] = rq->req[i];
        req[i].tokens = qh_malloc((size_t)req[i].n * sizeof(int));
        memcpy(req[i].tokens, rq->req[i].tokens, (size_t)req[i].n * sizeof(int));
    }
    double t0 = qh_now();
    qh_score_requests(m, req, n_req, ctx, progress, ud);
    res->seconds = qh_now() - t0;
    /* an argmax over NaN picks choice 0 and looks like an accuracy at chance: a non-finite
     * log-likelihood is an error that names the item */
    k = 0;
    for (int i = 0; i < task->n_items; i++) {
        int nr = task->items[i].n_choices + kt->letter_request;
        for (int j = k; j < k + nr; j++) {
            double bad = isfinite(req[j].logprob) ? 0 : req[j].logprob;
            for (int l = 0; l < req[j].n_alt && bad == 0; l++)
                if (!isfinite(req[j].alt_logprob[l])) bad = req[j].alt_logprob[l];
            if (bad != 0) {
                qh_fail(err, "%s: item %s: a log-likelihood is %s (the model's activations overflowed); no accuracy", task->name,
                        task->items[i].key, qh_nonfinite_name(bad));
                for (int q = 0; q < n_req; q++) free(req[q].tokens);
                free(req);
                return -1;
            }
        }
        k += nr;
    }
    res->item_correct = qh_calloc((size_t)task->n_items, 1);
    res->item_correct_norm = qh_calloc((size_t)task->n_items, 1);
    res->item_correct_letter = qh_calloc((size_t)task->n_items, 1);
    res->item_gold_ll = qh_calloc((size_t)task->n_items, sizeof(double));
    res->item_detail = qh_calloc((size_t)task->n_items, sizeof(char *));
    /* per-choice contexts with one shared continuation (WinoGrande): normalising by the
     * continuation's length changes nothing, so acc_norm would only repeat acc */
    res->has_norm = kt->has_norm && !task->items[0].contexts;
    res->has_letter = kt->letter_request;
    double target_ll = 0;
    k = 0;
    for (int i = 0; i < task->n_items; i++) {
        const qh_mc_item *it = &task->items[i];
        const qh_lm_request *r = &req[k];
        int best = 0, best_norm = 0;
        char detail[1024];
        size_t dl = (size_t)snprintf(detail, sizeof detail, "{\"ll\":[");
        for (int c = 0; c < it->n_choices; c++) {
            if (r[c].truncated) res->truncated_requests++;
            double norm = r[c].logprob / choice_chars(it->choices[c]);
            if (r[c].logprob > r[best].logprob) best = c;
            if (norm > r[best_norm].logprob / choice_chars(it->choices[best_norm])) best_norm = c;
            if (dl < sizeof detail) dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "%s%.6f", c ? "," : "", r[c].logprob);
        }
        res->item_gold_ll[i] = r[it->gold].logprob;
        if (kt->greedy_target) {
            res->item_correct[i] = (unsigned char)r[0].all_greedy;
            target_ll += r[0].logprob; /* lm-eval's perplexity: per passage */
            res->target_tokens += r[0].n_cont;
            if (dl < sizeof detail) dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "],\"tokens\":%d", r[0].n_cont);
        } else {
            res->item_correct[i] = (unsigned char)(best == it->gold);
            res->item_correct_norm[i] = (unsigned char)(best_norm == it->gold);
            if (dl < sizeof detail) dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "]");
        }
        k += it->n_choices;
        if (kt->letter_request) {
            int bl = 0;
            if (dl < sizeof detail) dl += (size_t)snprintf(detail + dl, sizeof detail - dl, ",\"letter_ll\":[");
            const qh_lm_request *lr = &req[k];
            for (int l = 0; l < 4; l++) {
                if (lr->alt_logprob[l] > lr->alt_logprob[bl]) bl = l;
                if (dl < sizeof detail) dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "%s%.6f", l ? "," : "", lr->alt_logprob[l]);
            }
            if (lr->truncated) res->truncated_requests++;
            if (dl < sizeof detail) dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "]");
            res->item_correct_letter[i] = (unsigned char)(bl == it->gold);
            k += 1;
        }
        if (dl < sizeof detail) snprintf(detail + dl, sizeof detail - dl, "}");
        res->item_detail[i] = qh_strdup(detail);
        res->correct += res->item_correct[i];
        res->correct_norm += res->item_correct_norm[i];
        res->correct_letter += res->item_correct_letter[i];
    }
    long N = task->n_items;
    res->acc = (double)res->correct / N;
    qh_wilson(res->correct, N, &res->acc_lo, &res->acc_hi);
    res->acc_norm = (double)res->correct_norm / N;
    qh_wilson(res->correct_norm, N, &res->acc_norm_lo, &res->acc_norm_hi);
    res->acc_letter = (double)res->correct_letter / N;
    qh_wilson(res->correct_letter, N, &res->acc_letter_lo, &res->acc_letter_hi);
    res->target_ppl = res->target_tokens ? exp(-target_ll / (double)N) : NAN;
    for (int i = 0; i < n_req; i++) free(req[i].tokens);
    free(req);
    return 0;
}

int qh_eval_mc(const qh_model *m, qh_tokenizer *tok, const qh_mc_task *task, int ctx, qh_mc_result *res,
               void (*progress)(void *ud, long done, long total), void *ud, qh_err *err)
{
    qh_mc_requests rq;
    memset(res, 0, sizeof *res);
    if (qh_mc_requests_build(tok, task, &rq, err) != 0) return -1;
    int rc = qh_eval_mc_requests(m, task, &rq, ctx, res, progress, ud, err);
    qh_mc_requests_free(&rq);
    return rc;
}
