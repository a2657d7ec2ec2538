/* bench.h - forward-pass throughput against OpenBLAS sgemm on the same shapes, same run. */
#ifndef QH_BENCH_H
#define QH_BENCH_H

#include <stdio.h>

#include "model.h"

int qh_bench_run(const qh_model *m, const int *ids, long n, int ctx, int batch, int windows, FILE *out,
                 qh_err *err);

#endif
