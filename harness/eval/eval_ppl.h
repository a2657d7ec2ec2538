/* eval_ppl.h - perplexity of a token stream, under one of two window protocols.
 *
 * The text is tokenized as one string and cut to max_tokens; then a protocol (one row of
 * the table in eval_ppl.c) cuts it into windows and says which tokens of each are scored:
 *
 * "sliding" (qharness's default; ../shared/golden/perplexity.json and the Hugging Face
 *   guide): windows start at 0, stride, 2*stride, ...; a window covers [s, min(s+ctx, n))
 *   and scores every token at position p >= max(previous window end, s+1) given the tokens
 *   before it in the same window; the last window is the first one that reaches the end.
 *   With stride = ctx every window scores ctx-1 tokens (its first token has no context);
 *   with stride < ctx only new tokens count.
 * "llama-cpp" (llama-perplexity's): non-overlapping chunks [i*ctx, (i+1)*ctx) of full length
 *   only (a partial last chunk is dropped), at most `chunks` of them; in each, the tokens at
 *   positions ctx/2+1 .. ctx-1 are scored, so every scored token has at least ctx/2 tokens of
 *   context; when the vocabulary adds a BOS token, the first token of each chunk is replaced
 *   by it (replaced, not inserted).  Its +/- is llama.cpp's: PPL * sqrt(var(NLL) / (N-1)) over
 *   the N scored tokens taken as independent (var with divisor N).
 *
 * The 95% interval of the perplexity comes from a seeded bootstrap over windows (the
 * resampled statistic is exp(sum NLL / sum tokens)); windows of one text are not
 * independent, so the interval is a sampling interval for this text, not a population one.
 * Where the text's documents are known (opts.token_document), a second interval resamples
 * the documents the scored tokens belong to (WikiText-2's articles): closer to a population
 * interval, and given only from QH_MIN_RESAMPLING_UNITS documents up. */
#ifndef QH_EVAL_PPL_H
#define QH_EVAL_PPL_H

#include "harness/model/forward.h"
#include "harness/model/model.h"
#include "harness/base/stats.h"

/* The protocol names, for usage lines: "sliding, llama-cpp". */
const char *qh_ppl_protocol_list(void);
/* 0 when name is a protocol (NULL is "sliding"). */
int qh_ppl_protocol_check(const char *name, qh_err *err);
/* What a protocol's bootstrap resamples, for count of them: "window"/"windows", "chunk"/"chunks". */
const char *qh_ppl_protocol_units(const char *name, long count);
/* One line that says what a protocol scores, for outputs and stored metrics. */
const char *qh_ppl_protocol_summary(const char *name);
/* How a protocol's numbers may differ from those of the program it follows (lines joined by
 * newlines), or NULL. */
const char *qh_ppl_protocol_note(const char *name);

typedef struct {
    const char *protocol;   /* NULL: "sliding" */
    int ctx;                /* 0: the model's context */
    int stride;             /* 0: ctx; "llama-cpp" takes ctx only */
    long chunks;            /* "llama-cpp": at most this many chunks; 0: all */
    int use_bos;            /* "llama-cpp": the vocabulary adds BOS; its id is bos_id */
    int bos_id;
    long max_tokens;        /* 0: all */
    int batch;              /* windows per forward call; 0: automatic */
    unsigned long seed;     /* bootstrap seed */
    int n_boot;             /* bootstrap resamples; 0: 1000 */
    const int *token_document; /* (n) the document of each token, ascending; NULL: none known */
    void (*progress)(void *ud, long done, long total);
    void *progress_ud;
} qh_ppl_opts;

typedef struct {
    char protocol[16];
    int ctx, stride;
    int first_scored_offset; /* "llama-cpp": ctx/2 + 1, the first scored position in a chunk */
    int bos_id;             /* -1: no BOS replaced */
    long max_tokens;
    long tokens_total;      /* tokens in the (budget-cut) stream */
    long tokens_scored;
    long tokens_forward;    /* tokens run through the model (windows x their length) */
    long bytes_scored;      /* UTF-8 bytes of the scored tokens */
    int windows;
    double nll_sum, mean_nll, ppl, bits_per_byte;
    double nll2_sum;        /* sum of squared per-token NLL */
    double ppl_pm;          /* llama.cpp's +/-: ppl * sqrt((nll2/N - mean^2) / (N-1)) */
    double ppl_lo, ppl_hi;  /* 95% bootstrap interval */
    int n_boot;
    unsigned long seed;
    double seconds;
    double *window_nll;     /* (windows) sum of NLL per window */
    long *window_tokens;    /* (windows) tokens scored per window */
    int documents;          /* documents with a scored token (0: none known) */
    double ppl_doc_lo, ppl_doc_hi; /* 95% bootstrap interval over them; NAN below QH_MIN_RESAMPLING_UNITS */
    double *document_nll;   /* (documents) sum of NLL of each one's scored tokens */
    long *document_tokens;  /* (documents) its scored tokens */
} qh_ppl_result;

/* token_bytes (n_vocab): UTF-8 byte length of each token, for bits per byte. */
int qh_eval_ppl(const qh_model *m, const int *ids, long n, const int *token_bytes,
                const qh_ppl_opts *opts, qh_ppl_result *res, qh_err *err);
void qh_ppl_result_free(qh_ppl_result *res);

/* Fidelity of a quantized model to its baseline, on the windows of a perplexity protocol
 * (opts: protocol, ctx, chunks, max_tokens, BOS, seed; stride is ctx): at every scored
 * position, KL(p_base || p_quant) of the next-token distributions, whether their argmaxes
 * agree, and dp = p_quant(next token) - p_base(next token).  Both models run on the same
 * windows.  The statistics are llama-perplexity --kl-divergence's: mean KL with its standard
 * error sqrt(var/(N-1)) (var with divisor N), median and percentiles (linear interpolation
 * between order statistics), maximum; "same top p" with sqrt(p(1-p)/(N-1)); RMS dp with the
 * delta-method error; ln(PPL_quant / PPL_base) = mean(nll_q - nll_b) with the error of the
 * per-token difference, which is where the correlation of the two perplexities enters.  The
 * 95% interval of the mean KL is also bootstrapped over windows. */
typedef struct {
    char protocol[16];
    int ctx, windows;
    long positions;
    double kl_mean, kl_lo, kl_hi;  /* nats per position; 95% bootstrap over windows */
    double kl_se;                  /* llama.cpp's +/- */
    double kl_median, kl_p90, kl_p95, kl_p99, kl_p999, kl_max, kl_min;
    double top1, top1_se;          /* "same top p" */
    double dp_mean, dp_se, dp_rms, dp_rms_se;
    double ln_ppl_ratio, ln_ppl_ratio_se, ppl_base, ppl_quant, nll_correlation;
    double *window_kl;             /* (windows) sum of KL per window */
    long *window_positions;
    long *window_agree;
    double seconds;
} qh_fidelity_result;

int qh_eval_fidelity(const qh_model *base, const qh_model *quant, const int *ids, long n, const qh_ppl_opts *opts,
                     qh_fidelity_result *res, qh_err *err);
void qh_fidelity_result_free(qh_fidelity_result *res);

/* The baseline's half, computed once for a sweep's runs: the log-softmax of the baseline at
 * every scored position, positions x n_vocab floats (the sweep builds it when that fits its
 * memory limit).  qh_eval_fidelity_cached(fb, quant, ...) gives the same result, bit for bit,
 * as qh_eval_fidelity(base, quant, ids, n, opts, ...) with fb's arguments; ids and base must
 * outlive fb. */
typedef struct qh_fidelity_base qh_fidelity_base;
int qh_fidelity_base_build(const qh_model *base, const int *ids, long n, const qh_ppl_opts *opts, qh_fidelity_base **fb,
                           qh_err *err);
int qh_eval_fidelity_cached(const qh_fidelity_base *fb, const qh_model *quant, qh_fidelity_result *res, qh_err *err);
void qh_fidelity_base_free(qh_fidelity_base *fb);

/* What a result scored under its protocol, in one line (the row of the protocol table says it):
 * "sliding: windows of ctx 256, stride 256; ...", "llama-cpp: 8 non-overlapping chunks of ...". */
void qh_ppl_describe(const qh_ppl_result *r, char *out, size_t n);
void qh_fidelity_describe(const qh_fidelity_result *r, char *out, size_t n);


#endif
