/* outfile.h - the one way qharness writes a file a user named: nothing appears under the final
 * name unless every byte of it was written.
 *
 * The data go to a temporary file created with O_EXCL (mkstemp) in the same directory, so no
 * planted symlink is followed and two writers of one name never share a temporary; every
 * write, the flush, fsync and close are checked; only then is the temporary renamed over the
 * final name (atomic within a directory) and the directory synced.  On any failure the
 * temporary is removed and the final name is left as it was. */
#ifndef QH_OUTFILE_H
#define QH_OUTFILE_H

#include <stdio.h>

#include "harness/base/util.h"

typedef struct {
    FILE *f;          /* write here (stdio; errors are collected and checked at commit) */
    char *path;       /* the final name */
    char *tmp_path;   /* the temporary, in the same directory */
} qh_outfile;

/* Creates the temporary for path.  Fails (nothing created) when path is a directory or its
 * directory is not writable. */
int qh_outfile_open(qh_outfile *o, const char *path, qh_err *err);
/* Flushes, checks, fsyncs, closes and renames into place; on failure removes the temporary
 * and says why, naming path.  o is released either way. */
int qh_outfile_commit(qh_outfile *o, qh_err *err);
/* Drops the temporary (an error elsewhere); the final name is untouched. */
void qh_outfile_abort(qh_outfile *o);

/* stdout as an output: flushes and checks it (a full disk behind `> FILE` is an error, not a
 * silent empty file).  Returns 0 or -1 with the message in err. */
int qh_stdout_check(qh_err *err);

#endif
