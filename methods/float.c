/* float.c - see float.h. */
#include "methods/float.h"

#include <string.h>

int qh_float_encode(qh_dtype dt, const qh_matrix *w, qh_packed *out)
{
    size_t n = (size_t)w->rows * w->cols;
    void *v = qh_packed_add(out, "values", dt, w->rows, w->cols);
    if (dt == QH_DT_F32) memcpy(v, w->data, n * 4);
    else if (dt == QH_DT_F16) qh_f32_to_f16_n(w->data, v, n);
    else
        for (size_t i = 0; i < n; i++) ((uint16_t *)v)[i] = qh_f32_to_bf16(w->data[i]);
    return 0;
}

int qh_float_decode(qh_dtype dt, const qh_packed *in, qh_matrix *w, qh_err *err)
{
    size_t n = (size_t)w->rows * w->cols;
    const qh_part *p;
    if (qh_packed_expect(in, "values", dt, n, &p, err) != 0) return -1;
    if (dt == QH_DT_F32) memcpy(w->data, p->data, n * 4);
    else if (dt == QH_DT_F16) qh_f16_to_f32_n(p->data, w->data, n);
    else
        for (size_t i = 0; i < n; i++) w->data[i] = qh_bf16_to_f32(((const uint16_t *)p->data)[i]);
    return 0;
}
