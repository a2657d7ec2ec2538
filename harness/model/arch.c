/* arch.c - the architecture table; see arch.h.  Each row is its family's file (arch_gpt2.c,
 * arch_llama.c, arch_gemma3.c).  The order of a row's tensors is the order of the model's
 * tensor table (and so of packed files and of quantization): GPT-2's is the order qharness has
 * always used, so its files and results do not change. */
#include "harness/model/arch.h"

#include <assert.h>
#include <string.h>

const qh_arch *const qh_archs[QH_N_ARCH] = {
    [QH_ARCH_GPT2] = &qh_arch_gpt2,
    [QH_ARCH_LLAMA] = &qh_arch_llama,
    [QH_ARCH_GEMMA3] = &qh_arch_gemma3,
};

/* the table is indexed by qh_arch_id, and GPT-2 is the zero value of a config */
static_assert(QH_ARCH_GPT2 == 0, "a zeroed qh_config is GPT-2");

const qh_arch *qh_arch_by_name(const char *name, size_t len)
{
    for (int i = 0; i < QH_N_ARCH; i++)
        if (strlen(qh_archs[i]->name) == len && memcmp(qh_archs[i]->name, name, len) == 0) return qh_archs[i];
    return NULL;
}
