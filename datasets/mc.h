/* mc.h - the multiple-choice evaluation sets qharness ships, loaded into one item form.
 *
 * An item has a context, n choices (continuations) and the gold index; Winogrande items have
 * one context per choice and a shared continuation (partial scoring, Sakaguchi et al.).
 * MMLU items carry two prompts: the lettered one ("...\nAnswer:", scored on " A".." D") and
 * the answer-text one ("Question: ...\nAnswer:", scored on " <choice text>").
 * Budgets pick a seeded random subset; for MMLU (by subject) and BLiMP (by paradigm) the
 * subset is stratified, each stratum getting its proportional share.
 * Every file read is checked against datasets/SHA256SUMS. */
#ifndef QH_MC_H
#define QH_MC_H

#include "../harness/util.h"

typedef enum { QH_MC_CHOICE, QH_MC_PAIR, QH_MC_LAMBADA, QH_MC_MMLU } qh_mc_kind;

typedef struct {
    char key[96];             /* stable id: "<file or subject>/<index>" */
    char *context;            /* shared context ("" for BLiMP) */
    char **contexts;          /* per-choice contexts (Winogrande), else NULL */
    char *letter_prompt;      /* MMLU: the lettered prompt */
    int n_choices;
    char **choices;           /* continuations, delimiter included */
    int gold;
} qh_mc_item;

typedef struct {
    char name[32];
    qh_mc_kind kind;
    int n_items;
    long n_available;         /* items in the full set */
    qh_mc_item *items;
    double chance;            /* expected accuracy of a uniform guess */
    char sha256[65];          /* over the sha256 of every file read, in order */
    char protocol[640];
} qh_mc_task;

typedef struct {
    long budget;              /* items; 0 = all */
    int shots;                /* MMLU: dev examples per prompt (0-5) */
    const char *subjects;     /* MMLU: comma-separated subset, NULL = all */
    unsigned long seed;
    int first;                /* take the first items of each stratum instead of a random subset */
    const char *split;        /* MMLU: "test" (default) or "dev" (then shots must be 0) */
} qh_mc_opts;

extern const char *const qh_mc_task_names[];

int qh_mc_load(const char *name, const qh_mc_opts *o, qh_mc_task *task, qh_err *err);
void qh_mc_free(qh_mc_task *task);

#endif
