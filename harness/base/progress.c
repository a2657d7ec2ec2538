/* progress.c - progress of long steps on stderr; see progress.h. */
#include "harness/base/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/base/util.h"

#define QUIET_SECONDS 2.0  /* a step shorter than this prints nothing */
#define LOG_EVERY 15.0     /* seconds between lines when stderr is not a terminal */
#define TTY_EVERY 0.25     /* seconds between rewrites on a terminal */

/* QHARNESS_PROGRESS_SECONDS=S: both waits S seconds instead (0: every step; the tests use it) */
static double wait_seconds(double dflt)
{
    const char *e = getenv("QHARNESS_PROGRESS_SECONDS");
    char *end;
    double v = e ? strtod(e, &end) : -1;
    return e && end != e && v >= 0 ? v : dflt;
}

static struct {
    int quiet, active, tty, printed;
    char what[160], unit[24];
    long total, done;
    double start, last;
} P;

void qh_progress_quiet(int quiet) { P.quiet = quiet; }

void qh_progress_begin(const char *what, long total, const char *unit)
{
    snprintf(P.what, sizeof P.what, "%s", what);
    snprintf(P.unit, sizeof P.unit, "%s", unit);
    P.total = total;
    P.done = 0;
    P.start = P.last = qh_now();
    P.active = 1;
    P.printed = 0;
    P.tty = isatty(2);
}

static void eta_text(char *buf, size_t n, double elapsed)
{
    double rate = elapsed > 0 ? (double)P.done / elapsed : 0;
    if (P.done > 0 && P.total > P.done) snprintf(buf, n, ", %.3g %s/s, ETA %.0f s", rate, P.unit, (double)(P.total - P.done) / rate);
    else if (P.done > 0) snprintf(buf, n, ", %.3g %s/s", rate, P.unit);
    else buf[0] = 0;
}

void qh_progress_step(long done)
{
    if (!P.active || P.quiet) return;
    P.done = done;
    double now = qh_now(), elapsed = now - P.start;
    double quiet = wait_seconds(QUIET_SECONDS), every = P.tty ? TTY_EVERY : wait_seconds(LOG_EVERY);
    if (elapsed < quiet || (P.printed && now - P.last < every)) return;
    if (!P.tty && !P.printed && elapsed < every) return; /* the first log line after 15 s, not 2 */
    P.last = now;
    char eta[96];
    eta_text(eta, sizeof eta, elapsed);
    if (P.tty) fprintf(stderr, "\r%s: %ld/%ld %s (%.0f%%)%s\033[K", P.what, done, P.total, P.unit, P.total ? 100.0 * done / P.total : 0.0, eta);
    else fprintf(stderr, "%s: %ld/%ld %s (%.0f%%) after %.0f s%s\n", P.what, done, P.total, P.unit, P.total ? 100.0 * done / P.total : 0.0, elapsed, eta);
    fflush(stderr);
    P.printed = 1;
}

void qh_progress_end(void)
{
    if (!P.active) return;
    P.active = 0;
    if (P.quiet || !P.printed) return;
    if (P.tty) fprintf(stderr, "\r\033[K");
    else fprintf(stderr, "%s: %ld %s in %.1f s\n", P.what, P.done, P.unit, qh_now() - P.start);
    fflush(stderr);
}

void qh_progress_callback(void *ud, long done, long total)
{
    qh_progress_task *t = ud;
    if (!t->begun) {
        qh_progress_begin(t->what, total, t->unit);
        t->begun = 1;
    }
    qh_progress_step(done);
    if (done >= total) {
        qh_progress_end();
        t->begun = 0;
    }
}
