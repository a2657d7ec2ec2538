/* paired.h - two runs of one experiment compared on the same windows or items.
 *
 * A marginal interval per run says how well each number is known, not whether two runs differ:
 * rtn-3's 509.6 [432.2, 601.1] against the baseline's 507.9 [431.5, 596.9] overlap entirely
 * although rtn-3 is worse on nearly every window.  Resampling the windows (items) both runs
 * scored, once for both, measures the difference itself.  What is compared, by metric:
 * perplexity as the ratio ppl_run / ppl_base, a per-position mean (KL, mean NLL) as the ratio
 * of means, an accuracy (acc, acc_norm, acc_letter) as the difference of the two means; and
 * retention as claims state it.  The reports' main table, the Pareto sets and the retention
 * charts use it. */
#ifndef QH_PAIRED_H
#define QH_PAIRED_H

#include <sqlite3.h>

typedef enum {
    QH_PAIRED_NONE,     /* no per-item column to pair on (top1, target_ppl, bits per byte) */
    QH_PAIRED_PPL,      /* exp(sum NLL / sum tokens), compared as a ratio */
    QH_PAIRED_RATE,     /* sum value / sum n (KL per position, mean NLL), compared as a ratio */
    QH_PAIRED_ACCURACY, /* mean of 0/1, compared as a difference */
} qh_paired_kind;

typedef struct {
    double delta;    /* ratio (run / base) or difference (run - base); NAN when nothing pairs */
    double lo, hi;   /* 95% paired bootstrap (1000 resamples, seed 1); NAN when not drawn */
    long units;      /* windows or items both runs scored */
    long discordant; /* accuracies: items where the two runs disagree */
} qh_paired;

qh_paired_kind qh_paired_kind_of(const char *metric);

/* the statement qh_paired_compare steps (one per metric's item column); finalize it after */
int qh_paired_prepare(sqlite3 *db, const char *metric, sqlite3_stmt **st);

/* run against base on task.  No interval from fewer than QH_MIN_RESAMPLING_UNITS units, nor, for
 * an accuracy, from fewer than QH_AUDIT_MIN_DISCORDANT items where the runs disagree (the
 * bootstrap then collapses towards a zero-width interval).  Returns 0, or -1 on a database error. */
int qh_paired_compare(sqlite3_stmt *st, qh_paired_kind kind, long long base, long long run, const char *task, qh_paired *out);

/* Retention as a claim names it (`retained = ...`): ppl_base / ppl_run for perplexity,
 * acc_run / acc_base for an accuracy, with the same pairing and interval rules; delta holds
 * the retention.  A rate (KL, whose baseline is 0) has none: delta NAN. */
int qh_paired_retention(sqlite3_stmt *st, qh_paired_kind kind, long long base, long long run, const char *task, qh_paired *out);

/* 1 when run is better than base by its paired interval (it excludes "no difference" on the
 * better side), 0 when not shown, -1 when the runs share no item (nothing to pair on). */
int qh_paired_better(const qh_paired *p, qh_paired_kind kind, int lower_is_better);

#endif
