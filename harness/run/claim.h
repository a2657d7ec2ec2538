/* claim.h - claims and the runs that judge them (the sweep side of `qharness audit`).
 *
 * A claim file (INI, section [claim]) names a model, a method spec, a task and metric, and
 * the retained fraction claimed, the bpp claimed, or both.  With a retained fraction the
 * verdict is on it (a bpp claimed beside it draws a warning when the bytes exceed it); with a
 * bpp alone, a bit-count claim, the verdict is on the bits the bytes hold, and the task's
 * retention is measured and shown beside it.  This header is what a claim is and what its
 * audit records (the types the verdict code of reports/audit.c reads and fills); running a
 * claim's experiment and filing its verdict are claim_run.h's, so that the readers of claims
 * do not depend on the sweep runner. */
#ifndef QH_CLAIM_H
#define QH_CLAIM_H

#include "harness/base/util.h"

typedef struct {
    char name[128], text[512], model[1024], method[512], task[64], metric[32], calib_text[256];
    char checkpoint[1024];         /* checkpoint = DIR: a Hugging Face directory a vendor's tool quantized (of `model`) is the
                                      claimed side instead of a method; relative to the claim file; method is then "checkpoint NAME" */
    double claimed, claimed_bpp;   /* 0: not stated (claimed 0: a bit-count claim) */
    long budget;                   /* 0: the default (32768 tokens, 500 items) */
    long ctx;                      /* 0: the experiment's default; a model with a long context is audited at a stated one */
    unsigned long seed;
    int calib_windows;
    char path[1024];               /* the claim file, or "--claim" for one given on the command line */
    char sha256[65];               /* of the claim file (of its INI form, given inline) */
    int is_inline;                 /* given as audit --claim: no file, so never pre-registered */
} qh_claim;

typedef enum { QH_VERDICT_SUPPORTED, QH_VERDICT_REFUTED, QH_VERDICT_INCONCLUSIVE } qh_verdict;

/* A bit count claimed is met when the packed quantized weights take at most this much more:
 * claims state bits to a hundredth or so ("1.08 bits"). */
#define QH_CLAIM_BPP_SLACK 0.02

/* The smallest change of retention an audit is asked to resolve: "items needed" is the count
 * that would make the 95% interval this narrow on each side, whatever the effect observed. */
#define QH_AUDIT_MIN_EFFECT 0.01

/* An accuracy claim is not SUPPORTED on fewer items where the two runs disagree: all the
 * evidence about a paired difference is in the discordant items, and with a handful of them
 * the posterior's tails are set by its prior's pseudo-counts, not by the data (the same
 * reason McNemar's test is not trusted below about ten discordant pairs). */
#define QH_AUDIT_MIN_DISCORDANT 10

/* The text whose perplexity an audit of an accuracy claim measures beside the task (what
 * happens to perplexity next to what happens to accuracy), and its budget in tokens. */
#define QH_AUDIT_TEXT_TASK "ppl.wikitext2-test"
#define QH_AUDIT_TEXT_TOKENS 16384

/* The family-wise level at which a set of claims is judged together (Holm). */
#define QH_AUDIT_FAMILY_ALPHA 0.05

typedef struct {
    double retention, lo, hi;              /* 95%: accuracy, Jeffreys-Dirichlet posterior of the paired table; perplexity, paired bootstrap */
    double chance_adj, ca_lo, ca_hi;       /* accuracy only; NAN otherwise */
    qh_verdict verdict;
    double items_needed;                   /* inconclusive: items for an interval of +-QH_AUDIT_MIN_EFFECT; otherwise 0 */
    long n;
    long discordant;                       /* accuracy: items where the two runs disagree */
    int draws;                             /* the bootstrap resamples or posterior draws behind lo, hi and p_value */
    int baseline_at_chance;                /* accuracy: the baseline's Wilson interval reaches chance */
    double p_value;                        /* two-sided, of retention = claimed, from the same draws as the interval;
                                              NAN where no test was made (baseline at chance, too few discordant
                                              items, a bit-count claim) */
    char reason[320];                      /* why the verdict is what it is, in a sentence */
} qh_audit_stats;

/* Whether a claim was written before the results it judges: the commit that last changed its
 * file must be older than the first result of its configuration, model and task in the store. */
typedef enum { QH_REG_NOT_COMMITTED, QH_REG_PRE_REGISTERED, QH_REG_POST_HOC } qh_registration;

/* A verdict as filed: the runs it was computed from, the statistics and the warnings. */
typedef struct {
    long long experiment_id, baseline_run, quantized_run;
    qh_audit_stats stats;
    char warnings[2048];
    qh_registration registration;
    char claim_commit[41];                 /* the commit that last changed the claim file; "" when not committed */
    long long claim_committed_at;          /* its commit time, Unix seconds; 0 when not committed */
    char registration_note[256];           /* in a sentence, with both times */
} qh_audit_record;

const char *qh_registration_name(qh_registration r);

/* The commit that last changed the file at path, as git sees it now: 0 with commit (40 hex)
 * and its time filled when the file is committed and unchanged since; 1 with why filled
 * when it is not (untracked, ignored, modified, not in a git work tree, git missing). */
int qh_claim_git_origin(const char *path, char commit[41], long long *committed_at, char *why, size_t why_len);

const char *qh_verdict_name(qh_verdict v);

/* Parses and checks a claim file (errors name the file, line and key). */
int qh_claim_load(const char *path, qh_claim *c, qh_err *err);
/* The claim file an inline --claim "KEY = VALUE; ..." spec stands for (malloc'd); NULL with err set. */
char *qh_claim_inline_ini(const char *spec, qh_err *err);
/* Parses and checks an inline claim directly: no file is written, errors say "--claim: ..." and
 * name the key (any length; a name "inline-SHA" and the text are the spec's when not given). */
int qh_claim_load_inline(const char *spec, qh_claim *c, qh_err *err);

#endif
