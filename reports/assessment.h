/* assessment.h - HONEST_ASSESSMENT.md from a reviewed template and the results store.
 *
 * The reviewer writes the prose once, in a template (reports/assessment.md.in); every number
 * in the output comes from the database through a directive, so a rerun of the sweeps
 * regenerates the file with the new numbers and a number cannot silently go stale.  A number
 * typed into the template's prose is an error (names in `code spans` and words such as
 * "GPT-2" or "4-bit" are not numbers).
 *
 * Template syntax, {{...}} with whitespace-separated arguments ("double quotes" group words):
 *
 *   inline, anywhere in a line (RUN is a run label, COL is TASK:METRIC, e.g.
 *   ppl.wikitext2-test:ppl or mmlu:acc; FMT is optional: .Nf, .Ng or .N% (percent)):
 *     {{v EXP RUN COL [FMT]}}         stored value            {{ci EXP RUN COL [FMT]}}  value [low, high]
 *     {{n EXP RUN COL}}               tokens or items         {{chance EXP RUN COL [FMT]}}
 *     {{ratio EXP RUN1 RUN2 COL [FMT]}}  value of RUN1 / value of RUN2
 *     {{bpp EXP RUN scope|model [FMT]}}  bits per parameter from the packed bytes
 *     {{rel-error EXP RUN [FMT]}}     mean relative Frobenius error of the run's quantized tensors
 *     {{seconds EXP RUN [FMT]}}       wall time of the run; {{quantize-seconds EXP RUN [FMT]}}: encode + decode
 *     {{model EXP FIELD}}             path sha256 parameters n_layer n_head n_embd n_ctx n_vocab
 *                                     dtype embedding_params embedding_share
 *     {{experiment EXP FIELD}}        runs done failed sha256 commit seconds started finished
 *     {{audit CLAIM FIELD [FMT]}}     text method task metric claimed claimed_bpp retention ci
 *                                     chance_adjusted ca_ci verdict holm (the verdict under Holm's
 *                                     correction over the claim set) items_needed n p bpp_scope
 *                                     bpp_model baseline quantized
 *   on a line of their own:
 *     {{provenance}}                  every experiment in the database: file, commit, host, runs
 *     {{table EXP COL[:v] ...}}       runs x columns, with intervals (":v": value only)
 *     {{chance-check EXP}}            the baseline's accuracy on every task against chance
 *     {{letter-bias EXP TASK}}        which letter each run picks most, against the gold letters
 *     {{pareto EXP COL}}              the runs no other run beats with fewer bits
 *     {{best EXP CLAIM qharness|llama.cpp}}  the best run of that side at or below the claim's bpp, on its task
 *                                     (EXP: one experiment or a comma list of experiments with the same budgets)
 *     {{audits}}                      every claim audited (latest audit of each) with warnings
 *     {{#if experiment EXP}} / {{#if audit CLAIM}} ... {{/if}}   keep lines only if present (every run done)
 *     {{#if runs EXP}} ... {{/if}}    keep lines if some runs of EXP are done (the text says which are not)
 *     {{! comment }}                  dropped
 */
#ifndef QH_ASSESSMENT_H
#define QH_ASSESSMENT_H

#include <stdio.h>

#include "harness/base/util.h"

/* template_label and db_label: how the two files are named in the generated header (paths as
 * the user gave them, so that the output does not depend on the working directory). */
int qh_assessment(const char *db_path, const char *template_path, const char *db_label, const char *template_label, FILE *out,
                  qh_err *err);

#endif
