/* eval_ppl.h - perplexity of a token stream under a sliding-window protocol.
 *
 * Protocol (the one of ../shared/golden/perplexity.json and the Hugging Face guide): the
 * text is tokenized as one string and cut to max_tokens; windows start at 0, stride,
 * 2*stride, ...; a window covers [s, min(s+ctx, n)) and scores every token at position
 * p >= max(previous window end, s+1) given the tokens before it in the same window; the last
 * window is the first one that reaches the end.  With stride = ctx every window scores
 * ctx-1 tokens (its first token has no context); with stride < ctx only new tokens count.
 *
 * The 95% interval of the perplexity comes from a seeded bootstrap over windows (the
 * resampled statistic is exp(sum NLL / sum tokens)); windows of one text are not
 * independent, so the interval is a sampling interval for this text, not a population one. */
#ifndef QH_EVAL_PPL_H
#define QH_EVAL_PPL_H

#include "forward.h"
#include "model.h"

typedef struct {
    int ctx;                /* 0: the model's context */
    int stride;             /* 0: ctx */
    long max_tokens;        /* 0: all */
    int batch;              /* windows per forward call; 0: automatic */
    unsigned long seed;     /* bootstrap seed */
    int n_boot;             /* bootstrap resamples; 0: 1000 */
    void (*progress)(void *ud, long done, long total);
    void *progress_ud;
} qh_ppl_opts;

typedef struct {
    int ctx, stride;
    long max_tokens;
    long tokens_total;      /* tokens in the (budget-cut) stream */
    long tokens_scored;
    long tokens_forward;    /* tokens run through the model (windows x their length) */
    long bytes_scored;      /* UTF-8 bytes of the scored tokens */
    int windows;
    double nll_sum, mean_nll, ppl, bits_per_byte;
    double ppl_lo, ppl_hi;  /* 95% bootstrap interval */
    int n_boot;
    unsigned long seed;
    double seconds;
    double *window_nll;     /* (windows) sum of NLL per window */
    long *window_tokens;    /* (windows) tokens scored per window */
} qh_ppl_result;

/* token_bytes (n_vocab): UTF-8 byte length of each token, for bits per byte. */
int qh_eval_ppl(const qh_model *m, const int *ids, long n, const int *token_bytes,
                const qh_ppl_opts *opts, qh_ppl_result *res, qh_err *err);
void qh_ppl_result_free(qh_ppl_result *res);

/* Fidelity of a quantized model to its baseline on the perplexity windows (stride = ctx):
 * for every scored position, KL(p_base || p_quant) of the next-token distributions and
 * whether their argmaxes agree.  Both models run on the same windows, chunk by chunk. */
typedef struct {
    int windows;
    long positions;
    double kl_mean, kl_lo, kl_hi;  /* nats per position; 95% bootstrap over windows */
    double top1;                   /* fraction of positions whose argmax agrees */
    double *window_kl;             /* (windows) sum of KL per window */
    long *window_positions;
    long *window_agree;
    double seconds;
} qh_fidelity_result;

int qh_eval_fidelity(const qh_model *base, const qh_model *quant, const int *ids, long n, int ctx, long max_tokens,
                     unsigned long seed, qh_fidelity_result *res, qh_err *err);
void qh_fidelity_result_free(qh_fidelity_result *res);

/* Percentile bootstrap of exp(sum a / sum b) over n paired items. */
void qh_bootstrap_ratio_exp(const double *a, const long *b, int n, int n_boot, unsigned long seed,
                            double *lo, double *hi);

#endif
