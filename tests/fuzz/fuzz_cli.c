/* fuzz_cli.c - the command line of every command: the input is a command (its first byte
 * picks one) and arguments separated by NUL bytes; the command parses and checks its options
 * and returns before any work (qh_cli_parse_only).  Usage errors exit through the usage path
 * (status 2, one line); nothing may crash, whatever getopt is handed. */
#include "tests/fuzz/fuzz.h"
#include "harness/cli/cli.h"

static int (*const commands[])(int, char **) = {qh_cmd_info,  qh_cmd_tokenize, qh_cmd_ppl,    qh_cmd_kld,     qh_cmd_convert,
                                               qh_cmd_mc,    qh_cmd_sweep,    qh_cmd_sweep_task, qh_cmd_merge, qh_cmd_results,
                                               qh_cmd_audit, qh_cmd_report,   qh_cmd_plot,   qh_cmd_quantize, qh_cmd_bench};
static const char *const names[] = {"info", "tokenize", "ppl",    "kld",    "convert",  "mc",       "sweep", "sweep-task",
                                    "merge", "results", "audit", "report", "plot", "quantize", "bench"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qh_cli_parse_only = 1; /* options parsed and checked, usage errors formatted but not printed */
    if (size == 0 || size > 4096) return 0;
    size_t n_commands = sizeof commands / sizeof *commands;
    int which = data[0] % (int)n_commands;
    char *text = qh_malloc(size + 1);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    char *argv[65];
    int argc = 0;
    argv[argc++] = (char *)names[which];
    for (size_t i = 0; i < size - 1 && argc < 64;) {
        argv[argc++] = text + i;
        i += strlen(text + i) + 1;
    }
    argv[argc] = NULL;
    int rc = commands[which](argc, argv);
    if (rc != 0 && rc != QH_EXIT_USAGE) abort(); /* no work was done: only a usage error can fail */
    free(text);
    return 0;
}
