/* float.h - shared body of the float baselines (fp32, fp16, bf16): the weights stored as
 * "values" in one float dtype.  Each baseline is its own file and registry row. */
#ifndef QH_METHODS_FLOAT_H
#define QH_METHODS_FLOAT_H

#include "methods/method.h"

int qh_float_encode(qh_dtype dt, const qh_matrix *w, qh_packed *out);
int qh_float_decode(qh_dtype dt, const qh_packed *in, qh_matrix *w, qh_err *err);

#endif
