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

#include "harness/base/util.h"

typedef enum { QH_MC_CHOICE, QH_MC_PAIR, QH_MC_LAMBADA, QH_MC_MMLU, QH_MC_KINDS } qh_mc_kind;

/* How a kind of set is scored (eval_mc.c reads these, not the kind): one row per kind. */
typedef struct {
    int from_start_token;   /* each choice is a whole sentence, scored from the vocabulary's start token (BLiMP's pairs) */
    int letter_request;     /* one more request per item: the lettered prompt, scored on each letter (MMLU) */
    int has_norm;           /* acc_norm: the log-likelihood per character of the choice */
    int greedy_target;      /* correct when the target is the greedy continuation; no chance level (LAMBADA) */
} qh_mc_kind_traits;
extern const qh_mc_kind_traits qh_mc_kinds[QH_MC_KINDS];

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

/* The sets, one row each: a new set in a format that has a reader is one row (and its files
 * in datasets/SHA256SUMS). */
struct cJSON;
struct qh_mc_list;
typedef struct qh_mc_set qh_mc_set;
enum { QH_MC_OPT_SHOTS = 1, QH_MC_OPT_SUBJECTS = 2, QH_MC_OPT_SPLIT = 4 };
struct qh_mc_set {
    const char *name;         /* as named in [tasks] and on the command line */
    const char *path;         /* under datasets/: the file, or the directory of .jsonl files (one stratum each) */
    qh_mc_kind kind;          /* how eval_mc scores its items */
    int (*read)(struct qh_mc_list *items, const qh_mc_set *set, const qh_mc_opts *o, qh_err *err);
    int (*parse_line)(const struct cJSON *line, int lineno, void *ud, qh_err *err); /* JSONL readers: one line */
    unsigned options;         /* QH_MC_OPT_*: the options it takes */
    const char *protocol;     /* what is scored: {name}, {subset}, {split} and {shots} are filled in */
    const char *lm_eval;      /* lm-evaluation-harness's task of the same protocol (tests lmeval_parity_*), or what differs */
    const char *lm_eval_name; /* lm-eval's task name where it differs from name and the protocol is lm-eval's:
                               * accepted wherever a task is named, stored as name */
};

extern const qh_mc_set qh_mc_sets[]; /* ends with a row whose name is NULL */

/* By qharness's name or lm-eval's (arc_easy for arc-easy). */
const qh_mc_set *qh_mc_set_find(const char *name);
int qh_mc_load(const char *name, const qh_mc_opts *o, qh_mc_task *task, qh_err *err);
/* The same for a row that need not be in the table (a test's, a user's). */
int qh_mc_load_set(const qh_mc_set *set, const qh_mc_opts *o, qh_mc_task *task, qh_err *err);
/* The same with text as the content of every file the set's reader would read (one file per
 * stratum), instead of reading datasets/ and checking SHA256SUMS: what the fuzzer calls. */
int qh_mc_parse_text(const qh_mc_set *set, const char *text, size_t len, const qh_mc_opts *o, qh_mc_task *task,
                     qh_err *err);
void qh_mc_free(qh_mc_task *task);

/* HellaSwag as lm-eval preprocesses it, from a context line of llama.cpp's file, which joins
 * activity_label, ctx_a and ctx_b: where ctx_b starts (NULL: empty), and lm-eval's query. */
const char *qh_hellaswag_ctx_b(const char *line);
char *qh_hellaswag_lmeval_query(const char *line);

#endif
