/* qharness methods: the registry of quantization methods. */
#include <stdio.h>
#include <string.h>

#include "harness/cli/cli.h"

int qh_cmd_methods(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("Quantization methods (spec: \"NAME key=value ...\"; wrappers: \"NAME key=value ... + INNER SPEC\"):\n");
    for (int i = 0; qh_methods[i]; i++) {
        const qh_method *m = qh_methods[i];
        printf("\n%s%s\n  %s\n", m->name, m->is_wrapper ? " ... + INNER" : "", m->summary);
        for (const qh_param *p = m->params; p->name; p++) {
            char range[64], def[64];
            if (p->type == QH_PARAM_ENUM) {
                const char *c = p->choices;
                for (int k = 0; k < (int)p->def && c; k++) c = strchr(c, '|') ? strchr(c, '|') + 1 : NULL;
                snprintf(def, sizeof def, "%.*s", c ? (int)strcspn(c, "|") : 1, c ? c : "?");
                snprintf(range, sizeof range, "one of %s", p->choices);
            } else {
                snprintf(def, sizeof def, "%g", p->def);
                snprintf(range, sizeof range, "%s in [%.10g, %.10g]", p->type == QH_PARAM_INT ? "int" : "real", p->min, p->max);
            }
            printf("  %-8s %-24s default %-6s %s\n", p->name, range, def, p->help);
        }
    }
    return 0;
}

const qh_command qh_command_methods = {
    .name = "methods",
    .run = qh_cmd_methods,
    .usage = "methods",
    .summary = "list the quantization methods and their parameters",
    .options = NULL,
};
