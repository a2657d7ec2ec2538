#define _GNU_SOURCE /* qsort_r */
/* eval_mc.c - request scoring and multiple-choice evaluation; see eval_mc.h. */
#include "eval_mc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"

void qh_wilson(long k, long n, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    const double z = 1.959963984540054;
    double p = (double)k / n, z2n = z * z / n;
    double center = (p + z2n / 2) / (1 + z2n);
    double half = z * sqrt(p * (1 - p) / n + z2n / (4.0 * n)) / (1 + z2n);
    *lo = center - half < 0 || k == 0 ? 0 : center - half; /* exact at the ends: rounding must not */
    *hi = center + half > 1 || k == n ? 1 : center + half; /* exclude p = 0 or 1 from its interval */
}

static int by_length_desc(const void *a, const void *b, void *ctx)
{
    const qh_lm_request *req = ctx;
    return req[*(const int *)b].n - req[*(const int *)a].n;
}

void qh_score_requests(const qh_model *m, qh_lm_request *req, int n, int ctx,
                       void (*progress)(void *ud, long done, long total), void *ud)
{
    if (ctx <= 0 || ctx > m->cfg.n_ctx) ctx = m->cfg.n_ctx;
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
    int *order = qh_malloc((size_t)(n ? n : 1) * sizeof(int));
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof(int), by_length_desc, req);
    /* batches of up to 4096 tokens (or one full window), at most 64 requests */
    const int max_batch = 64, cap = (4096 > ctx ? 4096 : ctx) + max_batch * QH_MAX_ALT; /* rows: tokens + alternatives */
    int C = m->cfg.n_embd;
    qh_workspace ws;
    qh_workspace_init_rows(&ws, &m->cfg, cap, ctx);
    int *tokens = qh_malloc((size_t)cap * sizeof(int)), *targets = qh_malloc((size_t)cap * sizeof(int)),
        *owner = qh_malloc((size_t)cap * sizeof(int));
    float *hidden = qh_malloc((size_t)cap * C * sizeof(float)), *nll = qh_malloc((size_t)cap * sizeof(float));
    unsigned char *greedy = qh_malloc((size_t)cap);
    for (int i0 = 0; i0 < n;) {
        int T = req[order[i0]].n, B = 0;
        while (i0 + B < n && B < max_batch && (B + 1) * T <= cap - max_batch * QH_MAX_ALT) B++;
        for (int b = 0; b < B; b++) {
            const qh_lm_request *r = &req[order[i0 + b]];
            memcpy(tokens + (size_t)b * T, r->tokens, (size_t)r->n * sizeof(int));
            for (int t = r->n; t < T; t++) tokens[(size_t)b * T + t] = 0; /* right padding */
        }
        qh_forward(m, tokens, B, T, &ws);
        int R = 0;
        for (int b = 0; b < B; b++) {
            qh_lm_request *r = &req[order[i0 + b]];
            r->logprob = 0;
            r->all_greedy = 1;
            for (int p = r->n - r->n_cont; p < r->n; p++) {
                memcpy(hidden + (size_t)R * C, ws.ln + ((size_t)b * T + (size_t)(p - 1)) * C, (size_t)C * sizeof(float));
                targets[R] = r->tokens[p];
                owner[R++] = order[i0 + b];
            }
            for (int k = 0; k < r->n_alt; k++) { /* encoded as owner -(1 + request * QH_MAX_ALT + k) */
                memcpy(hidden + (size_t)R * C, ws.ln + ((size_t)b * T + (size_t)(r->n - 1)) * C, (size_t)C * sizeof(float));
                targets[R] = r->alt[k];
                owner[R++] = -(1 + order[i0 + b] * QH_MAX_ALT + k);
            }
        }
        qh_head_nll_argmax(m, hidden, targets, R, nll, greedy, &ws);
        for (int k = 0; k < R; k++) {
            if (owner[k] < 0) {
                int code = -owner[k] - 1;
                req[code / QH_MAX_ALT].alt_logprob[code % QH_MAX_ALT] = -nll[k];
                continue;
            }
            req[owner[k]].logprob -= nll[k];
            req[owner[k]].all_greedy &= greedy[k];
        }
        i0 += B;
        if (progress) progress(ud, i0, n);
    }
    free(order);
    free(tokens);
    free(hidden);
    free(nll);
    free(targets);
    free(owner);
    free(greedy);
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

/* context tokens + continuation tokens; the last n_cont are scored */
static int make_request(qh_tokenizer *tok, const char *context, const char *cont, int bos, qh_lm_request *r, qh_err *err)
{
    int *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (context && *context && qh_encode(tok, "context", context, strlen(context), &a, &na, err) != 0) return -1;
    if (*cont && qh_encode(tok, "continuation", cont, strlen(cont), &b, &nb, err) != 0) {
        free(a);
        return -1;
    }
    int lead = bos >= 0 ? 1 : 0;
    if (na + (size_t)lead == 0 || (nb == 0 && *cont)) {
        free(a);
        free(b);
        return qh_fail(err, "empty %s", nb == 0 ? "continuation" : "context");
    }
    r->n = (int)(lead + na + nb);
    r->n_cont = (int)nb;
    r->tokens = qh_malloc((size_t)r->n * sizeof(int));
    if (lead) r->tokens[0] = bos;
    if (na) memcpy(r->tokens + lead, a, na * sizeof(int));
    if (nb) memcpy(r->tokens + lead + na, b, nb * sizeof(int));
    free(a);
    free(b);
    return 0;
}

int qh_eval_mc(const qh_model *m, qh_tokenizer *tok, const qh_mc_task *task, int ctx, qh_mc_result *res,
               void (*progress)(void *ud, long done, long total), void *ud, qh_err *err)
{
    memset(res, 0, sizeof *res);
    snprintf(res->task, sizeof res->task, "%s", task->name);
    res->n_items = task->n_items;
    res->chance = task->chance;
    int eot = qh_token_id(tok, "<|endoftext|>");
    if (task->kind == QH_MC_PAIR && eot < 0) return qh_fail(err, "%s: the tokenizer has no <|endoftext|> token", task->name);
    static const char *letters[4] = {" A", " B", " C", " D"};
    int letter_id[4];
    for (int k = 0; k < 4; k++) {
        letter_id[k] = qh_token_id(tok, letters[k]);
        if (task->kind == QH_MC_MMLU && letter_id[k] < 0) return qh_fail(err, "mmlu: '%s' is not a single token", letters[k]);
    }
    /* requests: one per choice, plus (MMLU) the lettered prompt scored on each letter */
    int n_req = 0;
    for (int i = 0; i < task->n_items; i++) n_req += task->items[i].n_choices + (task->kind == QH_MC_MMLU ? 1 : 0);
    qh_lm_request *req = qh_calloc((size_t)n_req, sizeof *req);
    int k = 0;
    for (int i = 0; i < task->n_items; i++) {
        const qh_mc_item *it = &task->items[i];
        for (int c = 0; c < it->n_choices; c++, k++) {
            const char *context = it->contexts ? it->contexts[c] : it->context;
            if (make_request(tok, context, it->choices[c], task->kind == QH_MC_PAIR ? eot : -1, &req[k], err) != 0) {
                qh_err_prefix(err, "%s item %s choice %d", task->name, it->key, c);
                goto fail;
            }
        }
        if (task->kind == QH_MC_MMLU) { /* the lettered prompt, scored on each letter as the next token */
            if (make_request(tok, it->letter_prompt, "", -1, &req[k], err) != 0) goto fail;
            req[k].n_alt = 4;
            memcpy(req[k].alt, letter_id, sizeof letter_id);
            k++;
        }
    }
    double t0 = qh_now();
    qh_score_requests(m, req, n_req, ctx, progress, ud);
    res->seconds = qh_now() - t0;
    res->item_correct = qh_calloc((size_t)task->n_items, 1);
    res->item_correct_norm = qh_calloc((size_t)task->n_items, 1);
    res->item_correct_letter = qh_calloc((size_t)task->n_items, 1);
    res->item_gold_ll = qh_calloc((size_t)task->n_items, sizeof(double));
    res->item_detail = qh_calloc((size_t)task->n_items, sizeof(char *));
    /* per-choice contexts with one shared continuation (WinoGrande): normalising by the
     * continuation's length changes nothing, so acc_norm would only repeat acc */
    res->has_norm = (task->kind == QH_MC_CHOICE || task->kind == QH_MC_MMLU) && !task->items[0].contexts;
    res->has_letter = task->kind == QH_MC_MMLU;
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
            double norm = r[c].logprob / (double)strlen(it->choices[c]);
            if (r[c].logprob > r[best].logprob) best = c;
            if (norm > r[best_norm].logprob / (double)strlen(it->choices[best_norm])) best_norm = c;
            if (dl < sizeof detail) dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "%s%.6f", c ? "," : "", r[c].logprob);
        }
        res->item_gold_ll[i] = r[it->gold].logprob;
        if (task->kind == QH_MC_LAMBADA) {
            res->item_correct[i] = (unsigned char)r[0].all_greedy;
            target_ll += r[0].logprob;
            res->target_tokens += r[0].n_cont;
            if (dl < sizeof detail) dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "],\"tokens\":%d", r[0].n_cont);
        } else {
            res->item_correct[i] = (unsigned char)(best == it->gold);
            res->item_correct_norm[i] = (unsigned char)(best_norm == it->gold);
            if (dl < sizeof detail) dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "]");
        }
        k += it->n_choices;
        if (task->kind == QH_MC_MMLU) {
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
    res->target_ppl = res->target_tokens ? exp(-target_ll / res->target_tokens) : NAN;
    for (int i = 0; i < n_req; i++) free(req[i].tokens);
    free(req);
    return 0;
fail:
    for (int i = 0; i < n_req; i++) free(req[i].tokens);
    free(req);
    qh_mc_result_free(res);
    return -1;
}
