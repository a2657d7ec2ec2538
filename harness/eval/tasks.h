/* tasks.h - the task table: what an experiment's [tasks] can name, one row per kind of task.
 *
 * A kind says how its tasks are named in an experiment file and which options they take,
 * what it loads once per model (a tokenized text; a multiple-choice set with its requests
 * tokenized; the baseline's next-token distributions for fidelity), how it evaluates one
 * model, which rows it stores (metrics by the names of metrics.h, per-item rows) and what
 * one evaluation costs (for --dry-run).  The sweep calls the rows and knows no kind.  The
 * data behind the tasks are rows too: a text is a row of datasets/datasets.c, a multiple-
 * choice set a row of datasets/mc.c; a new one is a task every kind already handles. */
#ifndef QH_TASKS_H
#define QH_TASKS_H

#include "harness/model/model.h"
#include "harness/model/tokenizer.h"

/* The kinds of task (the rows of the table below), and one task as an experiment names it. */
typedef enum { QH_TASK_PPL, QH_TASK_FIDELITY, QH_TASK_MC, QH_TASK_KINDS } qh_task_kind;

typedef struct {
    qh_task_kind kind;
    char name[48];           /* "ppl.wikitext2-test", "fidelity.wikitext2-test", "mmlu" */
    char dataset[48];        /* the dataset or mc task name */
    long budget;             /* tokens (ppl, fidelity) or items (mc); 0 = all */
    int shots;
    char subjects[512];
    char split[8];
    char protocol[16];       /* ppl and fidelity: "sliding" or "llama-cpp" (eval_ppl.h) */
    int line;
} qh_task_spec;

/* What the tasks of one model share. */
typedef struct {
    const qh_model *base;
    qh_tokenizer *tok;
    const int *token_bytes;    /* (n_vocab) UTF-8 bytes of each token */
    unsigned long seed;
    int ctx;                   /* the experiment's window; 0 = the model's */
    int bos;                   /* the id the vocabulary adds at the start, or -1 */
    size_t cache_bytes;        /* memory a task may keep per model to avoid recomputing the baseline */
} qh_task_env;

/* Where a task's rows go (the sweep's store, inside the run's transaction). */
typedef struct qh_task_sink {
    int (*metric)(struct qh_task_sink *sink, const char *metric, double value, double lo, double hi, long n, double chance,
                  const char *protocol, const char *dataset_sha256);
    /* correct, correct_norm, correct_letter: "0", "1" or NULL; detail: JSON or NULL */
    int (*item)(struct qh_task_sink *sink, long idx, const char *key, const char *correct, const char *correct_norm,
                const char *correct_letter, double value, long n, const char *detail);
    void *ud;
} qh_task_sink;

typedef struct {
    const char *name;          /* "ppl", "fidelity", "mc" */
    const char *unit;          /* what a budget counts */
    const char *metrics;       /* the metrics it may store, rows of metrics.h: "ppl,mean_nll,..." */
    /* 1: name is a task of this kind (t->dataset and t->protocol filled in); 0: not of this
     * kind; -1: of this kind but not valid (why says what is wrong) */
    int (*parse)(qh_task_spec *t, const char *name, char *why, size_t why_len);
    /* [tasks] TASK.KEY = VALUE (name is "TASK.KEY"): 1 taken, -1 refused (why); NULL: the kind takes no options */
    int (*option)(qh_task_spec *t, const char *name, const char *key, const char *value, char *why, size_t why_len);
    int (*load)(const qh_task_spec *t, const qh_task_env *env, void **data, qh_err *err);
    void (*free_data)(void *data);
    int (*evaluate)(const qh_task_spec *t, const qh_task_env *env, void *data, const qh_model *m, void **result, qh_err *err);
    int (*store)(const qh_task_spec *t, const qh_task_env *env, const void *data, const void *result, qh_task_sink *sink);
    void (*free_result)(void *result);
    /* seconds of one evaluation, from the measured tokens per second of a full forward pass
     * with the head over every row (full_tps) and without it (body_tps) */
    double (*cost)(const qh_task_spec *t, const qh_task_env *env, const void *data, double full_tps, double body_tps);
    /* its tasks are named PREFIX + a text's name ("ppl.wikitext2-test"); NULL: by the set's name (mc) */
    const char *prefix;
} qh_task_traits;

extern const qh_task_traits qh_task_table[QH_TASK_KINDS];

/* The kind whose parse takes name (t filled in, the kind returned), in table order; -1 when
 * a kind refuses it, -2 when none knows it (why says which). */
int qh_task_parse(qh_task_spec *t, const char *name, char *why, size_t why_len);

/* The kind of a stored task name by its prefix (mc when no prefix is its); the name without
 * the prefix ("wikitext2-test" of "ppl.wikitext2-test"); an SQL CASE on column that orders
 * tasks by kind, the table's order ("CASE WHEN m.task LIKE 'ppl.%' THEN 0 ... ELSE 2 END"). */
qh_task_kind qh_task_kind_of(const char *task);
const char *qh_task_text_name(const char *task);
void qh_task_order_sql(const char *column, char *buf, size_t n);

#endif
