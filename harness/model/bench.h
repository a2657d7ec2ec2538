/* bench.h - forward-pass throughput against OpenBLAS sgemm on the same shapes, same run. */
#ifndef QH_BENCH_H
#define QH_BENCH_H

#include <stdio.h>

#include "harness/model/model.h"

int qh_bench_run(const qh_model *m, const int *ids, long n, int ctx, int batch, int windows, FILE *out,
                 qh_err *err);

/* GB/s of dequantizing the first tensor of each ggml type in a GGUF file (types.gguf has all). */
int qh_bench_dequant(const char *path, FILE *out, qh_err *err);

#endif
