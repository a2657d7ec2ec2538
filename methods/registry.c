/* registry.c - the one table of quantization methods.  Adding a method = one file + one row.
 * Names are stable: results are stored by name, never by position. */
#include "methods/method.h"

extern const qh_method qh_method_fp32, qh_method_fp16, qh_method_bf16, qh_method_rtn, qh_method_nf4,
    qh_method_fp4, qh_method_binary, qh_method_ternary, qh_method_residual_binary,
    qh_method_magnitude_recovery, qh_method_outliers, qh_method_gptq,
    qh_method_lowrank, qh_method_hvq, qh_method_pb_llm, qh_method_billm, qh_method_salomi_hvq, qh_method_salomi_lowrank,
    qh_method_gridvq, qh_method_quipsharp, qh_method_aqlm, qh_method_mxfp4, qh_method_nvfp4;

const qh_method *const qh_methods[] = {
    &qh_method_fp32,
    &qh_method_fp16,
    &qh_method_bf16,
    &qh_method_rtn,
    &qh_method_nf4,
    &qh_method_fp4,
    &qh_method_mxfp4,
    &qh_method_nvfp4,
    &qh_method_binary,
    &qh_method_ternary,
    &qh_method_residual_binary,
    &qh_method_magnitude_recovery,
    &qh_method_outliers,
    &qh_method_gptq,
    &qh_method_lowrank,
    &qh_method_hvq,
    &qh_method_pb_llm,
    &qh_method_billm,
    &qh_method_salomi_hvq,
    &qh_method_salomi_lowrank,
    &qh_method_gridvq,
    &qh_method_quipsharp,
    &qh_method_aqlm,
    NULL,
};
