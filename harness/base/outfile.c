/* outfile.c - see outfile.h. */
#include "harness/base/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int qh_outfile_open(qh_outfile *o, const char *path, qh_err *err)
{
    memset(o, 0, sizeof *o);
    if (qh_is_dir(path)) return qh_fail(err, "%s: is a directory, not a file to write", path);
    size_t n = strlen(path);
    char *tmp = qh_malloc(n + 16);
    snprintf(tmp, n + 16, "%s.XXXXXX", path);
    int fd = mkstemp(tmp); /* O_CREAT | O_EXCL, mode 0600 */
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return qh_fail(err, "%s: cannot create a file beside it: %s", path, strerror(e));
    }
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || !(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return qh_fail(err, "%s: cannot open for writing: %s", path, strerror(e));
    }
    o->path = qh_strdup(path);
    o->tmp_path = tmp;
    return 0;
}

static void release(qh_outfile *o)
{
    free(o->path);
    free(o->tmp_path);
    memset(o, 0, sizeof *o);
}

void qh_outfile_abort(qh_outfile *o)
{
    if (o->f) fclose(o->f);
    if (o->tmp_path) unlink(o->tmp_path);
    release(o);
}

static void sync_dir_of(const char *path)
{
    char *copy = qh_strdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd); /* best effort: the rename is already atomic; this makes it durable */
        close(fd);
    }
    free(copy);
}

int qh_outfile_commit(qh_outfile *o, qh_err *err)
{
    int e = 0;
    if (fflush(o->f) != 0 || ferror(o->f)) e = errno ? errno : EIO;
    if (!e && fsync(fileno(o->f)) != 0 && errno != EINVAL) e = errno;
    if (fclose(o->f) != 0 && !e) e = errno ? errno : EIO;
    o->f = NULL;
    if (!e && rename(o->tmp_path, o->path) != 0) e = errno;
    if (e) {
        qh_fail(err, "%s: write failed (%s); nothing written", o->path, strerror(e));
        unlink(o->tmp_path);
        release(o);
        return -1;
    }
    sync_dir_of(o->path);
    release(o);
    return 0;
}

int qh_stdout_check(qh_err *err)
{
    errno = 0;
    int flush_failed = fflush(stdout) != 0, e = errno;
    if (flush_failed || ferror(stdout)) /* an earlier line's write may have failed: its errno is gone */
        return qh_fail(err, "standard output: write failed%s%s%s; the output is incomplete", flush_failed && e ? " (" : "",
                       flush_failed && e ? strerror(e) : "", flush_failed && e ? ")" : "");
    return 0;
}
