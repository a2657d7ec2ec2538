/* fuzz_template.c - the assessment template (reports/assessment.md.in's {{directives}}, read
 * by `report --assessment`), run against the committed docs/assessment.sqlite: every directive
 * with any arguments must render or fail with a one-line reason naming the template's line. */
#include "tests/fuzz/fuzz.h"
#include "reports/assessment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *db;
    static FILE *sink;
    if (!db) {
        db = qh_path_join(qh_home(), "docs/assessment.sqlite");
        sink = fopen("/dev/null", "w");
        if (!sink) abort();
    }
    qh_err err = {{0}};
    int rc = qh_assessment(db, fz_file("t.md.in", data, size), "db", "t", sink, &err);
    fz_check_error(rc, &err, "qh_assessment");
    return 0;
}
