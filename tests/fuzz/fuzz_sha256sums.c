/* fuzz_sha256sums.c - SHA256SUMS manifests (model folders, datasets/): every entry accepted
 * is 64 lowercase hex digits and a relative name that stays inside the folder (no ".."
 * component, no empty one, no NUL). */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qh_sum_entry *e = NULL;
    int n = 0;
    qh_err err = {{0}};
    int rc = qh_sha256sums_parse("SHA256SUMS", (const char *)data, size, &e, &n, &err);
    fz_check_error(rc, &err, "qh_sha256sums_parse");
    for (int i = 0; rc == 0 && i < n; i++) {
        if (strlen(e[i].hex) != 64 || strspn(e[i].hex, "0123456789abcdef") != 64) abort();
        char copy[sizeof e[i].name], *save = NULL;
        if (!e[i].name[0] || e[i].name[0] == '/' || strstr(e[i].name, "//")) abort();
        snprintf(copy, sizeof copy, "%s", e[i].name);
        for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save))
            if (strcmp(part, "..") == 0) abort(); /* a name that leaves the folder */
    }
    free(e);
    return 0;
}
