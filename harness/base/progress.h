/* progress.h - what a long step is doing, on stderr, while it does it.
 *
 * A step (quantizing the matrices, scoring windows or requests) says begin, then how far it
 * is, then end.  Nothing is printed for a step that ends within two seconds.  After that, on a
 * terminal one line is rewritten in place (what, done/total, rate, ETA) and cleared at the end;
 * otherwise (a pipe, a log file, a Slurm job) a plain line is printed every 15 seconds and one
 * when the step ends, so a log shows that the job is alive and how fast it goes.
 * qh_progress_quiet(1) (the --quiet option) silences all of it; QHARNESS_PROGRESS_SECONDS=S
 * sets both waits to S seconds (0: a line at every step, as the tests ask).  Not thread-safe: call it from
 * the thread that runs the step, outside parallel regions. */
#ifndef QH_PROGRESS_H
#define QH_PROGRESS_H

void qh_progress_quiet(int quiet);
/* what: e.g. "quantize gptq bits=4" or "ppl.wikitext2-test"; unit: "matrices", "windows". */
void qh_progress_begin(const char *what, long total, const char *unit);
void qh_progress_step(long done);
void qh_progress_end(void);

/* For an evaluator's progress(ud, done, total) callback: ud is a qh_progress_task; the step
 * begins at the first call and ends when done reaches total. */
typedef struct {
    const char *what, *unit;
    int begun;
} qh_progress_task;
void qh_progress_callback(void *ud, long done, long total);

#endif
