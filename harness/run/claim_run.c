/* claim_run.c - the runs a claim's verdict needs, as an experiment swept into the store, and the
 * filing of the verdict; see claim_run.h. */
#include "harness/run/claim_run.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/mc.h"
#include "harness/eval/metrics.h"
#include "harness/base/util.h"
#include "harness/run/store.h"
#include "harness/run/sweep.h"

/* the folder of the results database: what an audit writes goes beside the database it
 * writes to, whatever the working directory */
static void db_folder(const char *db_path, char *out, size_t len)
{
    const char *slash = strrchr(db_path, '/');
    if (!slash) snprintf(out, len, ".");
    else if (slash == db_path) snprintf(out, len, "/");
    else snprintf(out, len, "%.*s", (int)(slash - db_path), db_path);
}

int qh_claim_run(const qh_claim *cl, const char *db_path, char *exp_name_out, size_t exp_name_len, qh_err *err)
{
    const qh_claim c = *cl;
    const char *claim_path = c.path, *sha = c.sha256;
    int is_ppl = qh_metric_of_text(c.metric);
    /* the runs it needs, as an experiment: baseline + the method, on the task and on
     * perplexity (to compare what happens to perplexity with what happens to accuracy) */
    char exp_path[1400], exp_name[160], dir[1024];
    snprintf(exp_name, sizeof exp_name, "audit-%s", c.name);
    db_folder(db_path, dir, sizeof dir);
    mkdir(dir, 0755);
    snprintf(exp_path, sizeof exp_path, "%s/%s.ini", dir, exp_name);
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    char *about = qh_malloc(strlen(claim_path) + 128), *description = qh_malloc(strlen(c.text) + 16);
    sprintf(about, "written by qharness audit from %s (sha256 %s)", claim_path, sha);
    sprintf(description, "audit of: %s", c.text);
    qh_ini_comment(f, about);
    /* the task's protocol as this harness scores it: a new protocol is a new file, so the runs
     * of an earlier audit under another protocol are not reused */
    const qh_mc_set *set = is_ppl ? NULL : qh_mc_set_find(c.task);
    if (set) {
        char *protocol = qh_malloc(strlen(set->protocol) + 32);
        sprintf(protocol, "protocol: %s", set->protocol);
        qh_ini_comment(f, protocol);
        free(protocol);
    }
    fprintf(f, "[experiment]\nname = %s\n", exp_name);
    qh_ini_put(f, "description", description);
    fprintf(f, "models = %s\nseed = %lu\n", c.model, c.seed);
    free(about);
    free(description);
    if (c.ctx) fprintf(f, "ctx = %ld\n", c.ctx);
    fprintf(f, "\n[tasks]\n%s = %ld\n", c.task, c.budget ? c.budget : (is_ppl ? 32768 : 500));
    if (!is_ppl) fprintf(f, "%s = %d\n", QH_AUDIT_TEXT_TASK, QH_AUDIT_TEXT_TOKENS);
    if (c.calib_text[0]) fprintf(f, "\n[calibration]\ntext = %s\nwindows = %d\n", c.calib_text, c.calib_windows);
    if (c.calib_text[0] && c.ctx) fprintf(f, "ctx = %ld\n", c.ctx);
    if (c.checkpoint[0]) {
        /* the written experiment lives beside the database: the directory's path made absolute,
         * relative to the claim file as written */
        char joined[2200], *abs;
        const char *slash = strrchr(claim_path, '/');
        if (c.checkpoint[0] == '/' || c.is_inline || !slash) snprintf(joined, sizeof joined, "%s", c.checkpoint);
        else snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - claim_path), claim_path, c.checkpoint);
        if (!(abs = realpath(joined, NULL))) {
            fclose(f);
            free(text);
            return qh_fail(err, "%s: checkpoint %s: no such directory (vendor checkpoints are made by tools/peers/smollm2_vendor_checkpoints.py)",
                           claim_path, joined);
        }
        /* its weights' hash in the text: a changed file is a new audit, never the old runs reused */
        char *weights = qh_path_join(abs, "model.safetensors"), sha_w[65], line[128];
        qh_err ignored;
        if (qh_sha256_file(weights, sha_w, &ignored) != 0) snprintf(sha_w, sizeof sha_w, "unreadable");
        snprintf(line, sizeof line, "checkpoint weights sha256 %s", sha_w);
        free(weights);
        fprintf(f, "\n");
        qh_ini_comment(f, line);
        fprintf(f, "[method baseline]\nmethod = none\n\n[method claimed]\n");
        qh_ini_put(f, "checkpoint", abs);
        free(abs);
    } else {
        fprintf(f, "\n[method baseline]\nmethod = none\n\n[method claimed]\nspec = %s\n", c.method);
    }
    fclose(f);
    int wrc = qh_write_file(exp_path, text, text_len, err);
    free(text);
    if (wrc != 0) return -1;
    /* reuse the runs when this exact audit ran before */
    qh_sweep_opts so = {.db_path = db_path, .resume = 0, .new_experiment = 1};
    sqlite3 *db = NULL;
    char *ftext;
    size_t flen;
    char fsha[65] = "";
    if (qh_read_file(exp_path, &ftext, &flen, err) == 0) {
        qh_sha256_hex(ftext, flen, fsha);
        free(ftext);
    }
    if (qh_file_exists(db_path) && qh_db_open_read(db_path, &db) == SQLITE_OK) {
        sqlite3_stmt *st;
        long long latest;
        if (qh_db_latest_experiment(db, exp_name, &latest) == 1 &&
            sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM experiments WHERE id=? AND file_sha256=?", -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, latest);
            sqlite3_bind_text(st, 2, fsha, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0) so.resume = 1;
            sqlite3_finalize(st);
        }
        sqlite3_close(db);
        db = NULL;
    }
    int src = qh_sweep(exp_path, &so, err);
    if (src < 0) return -1;
    if (src > 0) return qh_fail(err, "%s: a run of the audit failed (see the runs table of %s)", claim_path, db_path);
    snprintf(exp_name_out, exp_name_len, "%s", exp_name);
    return 0;
}

int qh_claim_store_verdict(const char *db_path, const qh_claim *c, const qh_audit_record *r, qh_err *err)
{
    qh_store st;
    if (qh_store_open(db_path, &st, err) != 0) return -1;
    int rc = qh_store_audit(&st, c, r, err);
    qh_store_close(&st);
    return rc;
}
