/* eval_mc.h - log-likelihood scoring of (context, continuation) requests and the
 * multiple-choice tasks built on it.
 *
 * A request is a token sequence whose last n_cont tokens are scored given everything before
 * them.  Requests longer than the window are cut from the left (their context loses its
 * oldest tokens; the count is reported).  Requests are sorted by length and batched; shorter
 * ones are right-padded, which causal attention makes harmless.  Only the rows that predict
 * scored tokens go through the head.  Requests of one group (the choices of an item) that
 * share at least 8 leading tokens run them once: the prefix first, then each continuation
 * on the prefix's keys and values, with the same bits as the whole sequence (forward.h).
 * A request may also ask for the log-probabilities of a
 * few alternative next tokens after its last token (one forward pass instead of one per
 * alternative). */
#ifndef QH_EVAL_MC_H
#define QH_EVAL_MC_H

#include "datasets/mc.h"
#include "harness/model/model.h"
#include "harness/base/stats.h"
#include "harness/model/tokenizer.h"

#define QH_MAX_ALT 8

typedef struct {
    int *tokens;          /* owned */
    int n, n_cont;
    int n_alt;            /* alternatives for the token after the sequence (MMLU letters) */
    int alt[QH_MAX_ALT];
    double alt_logprob[QH_MAX_ALT];
    double logprob;       /* sum of log p over the scored tokens */
    int all_greedy;       /* every scored token was the argmax */
    int truncated;        /* tokens cut from the left */
    int group;            /* > 0: requests of one group may share their common prefix (run once) */
} qh_lm_request;

/* Scores every request in place (ctx: window; 0 = the model's). */
void qh_score_requests(const qh_model *m, qh_lm_request *req, int n, int ctx,
                       void (*progress)(void *ud, long done, long total), void *ud);


typedef struct {
    char task[32];
    int n_items;
    double chance;
    long truncated_requests;
    double seconds;
    /* accuracy (argmax log-likelihood), length-normalised accuracy, lettered (MMLU) */
    long correct, correct_norm, correct_letter;
    double acc, acc_lo, acc_hi, acc_norm, acc_norm_lo, acc_norm_hi, acc_letter, acc_letter_lo, acc_letter_hi;
    int has_norm, has_letter;
    double target_ppl;    /* LAMBADA: perplexity over the target tokens */
    long target_tokens;
    /* per item */
    unsigned char *item_correct, *item_correct_norm, *item_correct_letter;
    double *item_gold_ll;         /* log-likelihood of the gold choice */
    char **item_detail;           /* JSON: every choice's log-likelihood and bytes */
} qh_mc_result;

/* The requests of a multiple-choice set, tokenized once and scored by every model of a sweep. */
typedef struct {
    qh_lm_request *req;
    int n_req;
} qh_mc_requests;

int qh_mc_requests_build(qh_tokenizer *tok, const qh_mc_task *task, qh_mc_requests *rq, qh_err *err);
void qh_mc_requests_free(qh_mc_requests *rq);
/* Scores a copy of the prepared requests with m; rq is left as it was. */
int qh_eval_mc_requests(const qh_model *m, const qh_mc_task *task, const qh_mc_requests *rq, int ctx, qh_mc_result *res,
                        void (*progress)(void *ud, long done, long total), void *ud, qh_err *err);
/* Build, score, free: for one model. */
int qh_eval_mc(const qh_model *m, qh_tokenizer *tok, const qh_mc_task *task, int ctx, qh_mc_result *res,
               void (*progress)(void *ud, long done, long total), void *ud, qh_err *err);
void qh_mc_result_free(qh_mc_result *r);

#endif
