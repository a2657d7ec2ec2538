/* fuzz_shard.c - shard databases as `qharness merge` reads them (DB.shards/exp-ID/run-RUN.sqlite,
 * written by a Slurm array task): the input is the shard file, merged into a fresh copy of an
 * experiment database that plans run 1 of experiment 1.  A shard is refused with a reason or
 * merged; what is merged must be finite.  FZ_SHARD_SEED=PATH writes a valid shard (the seed). */
#include <sqlite3.h>

#include "tests/fuzz/fuzz.h"
#include "harness/run/shard.h"
#include "harness/run/store.h"

/* the rows a sweep would have planned, and (done) what a finished task adds */
static const char plan_sql[] =
    "INSERT INTO experiments(id, name, file_path, file_text, file_sha256, harness_version, seed, ctx, started_at) "
    "VALUES (1, 'x', '/x.ini', '[experiment]', 'aaaa', '0.1.0', 1, 256, '2026-01-01T00:00:00Z');"
    "INSERT INTO models VALUES (1, 'm', 'bbbb', 'gpt2', 1, 1, 8, 16, 10, 100, 'F16');"
    "INSERT INTO method_configs VALUES (1, 'rtn bits=4', 'rtn');"
    "INSERT INTO runs(id, experiment_id, model_id, config_id, ordinal, label, status) VALUES (1, 1, 1, 1, 0, 'rtn', 'pending');";
static const char done_sql[] =
    "UPDATE runs SET status='done', started_at='2026-01-01T00:00:01Z', finished_at='2026-01-01T00:00:02Z', seconds=1 WHERE id=1;"
    "INSERT INTO metrics(run_id, task, metric, value, ci_low, ci_high, n, chance, protocol, dataset_sha256) "
    "VALUES (1, 'ppl.wikitext2-test', 'ppl', 600.5, 550, 650, 1024, NULL, 'sliding', 'cccc');";

static void make_db(const char *path, int done)
{
    qh_store s;
    qh_err err;
    unlink(path);
    if (qh_store_open(path, &s, &err) != 0 || qh_store_exec(&s, plan_sql, &err) != 0 || (done && qh_store_exec(&s, done_sql, &err) != 0)) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    qh_store_exec(&s, "PRAGMA journal_mode=DELETE", &err); /* one file, no -wal beside it */
    qh_store_close(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char main_template[512], main_db[512], *shard_dir;
    static char *template_bytes;
    static size_t template_len;
    qh_err err = {{0}};
    if (!main_template[0]) {
        const char *seed = getenv("FZ_SHARD_SEED");
        if (seed) {
            make_db(seed, 1);
            exit(0);
        }
        snprintf(main_template, sizeof main_template, "%s/template.sqlite", fz_dir());
        snprintf(main_db, sizeof main_db, "%s/main.sqlite", fz_dir());
        make_db(main_template, 0);
        if (qh_read_file(main_template, &template_bytes, &template_len, &err) != 0) abort();
        shard_dir = qh_shard_dir(main_db, 1);
        if (qh_mkdirs(shard_dir, &err) != 0) abort();
    }
    /* a fresh experiment database every time: a merge changes it */
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", main_db);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", main_db);
    unlink(wal);
    int fd = open(main_db, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, template_bytes, template_len) != (ssize_t)template_len) abort();
    close(fd);
    char *shard = qh_shard_file(shard_dir, 1);
    fd = open(shard, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size)) abort();
    close(fd);
    qh_store s;
    if (qh_store_open(main_db, &s, &err) != 0) abort();
    qh_merge_counts c;
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY); /* refusals are printed: not the fuzzer's output */
    if (!getenv("FZ_VERBOSE")) dup2(devnull, 2);
    int rc = qh_merge_shards(&s, 1, shard_dir, &c, &err);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    fz_check_error(rc, &err, "qh_merge_shards");
    /* whatever was merged is finite */
    long long bad;
    int found;
    if (qh_store_int(&s, &err, &bad, &found,
                     "SELECT COUNT(*) FROM metrics WHERE NOT (typeof(value) IN ('real','integer') AND abs(value) <= 1.7976931348623157e308)", "") != 0 ||
        bad)
        abort();
    qh_store_close(&s);
    unlink(shard);
    free(shard);
    return 0;
}
