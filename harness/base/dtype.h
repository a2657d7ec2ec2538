/* dtype.h - the element types of checkpoints (safetensors' names) and the conversions
 * between fp32 and the 16-bit floats, for every module that stores or reads weights
 * (file formats, methods, the packed format) without going through a file-format header. */
#ifndef QH_DTYPE_H
#define QH_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    QH_DT_F32, QH_DT_F16, QH_DT_BF16, QH_DT_F64, QH_DT_U8, QH_DT_I8, QH_DT_U16, QH_DT_I16,
    QH_DT_U32, QH_DT_I32, QH_DT_U64, QH_DT_I64, QH_DT_BOOL, QH_DT_COUNT
} qh_dtype;

const char *qh_dtype_name(qh_dtype dt);
size_t qh_dtype_size(qh_dtype dt);
int qh_dtype_from_name(const char *name, qh_dtype *dt);   /* 0 if known */

float qh_f16_to_f32(uint16_t h);
uint16_t qh_f32_to_f16(float f);        /* round to nearest even, saturates to inf */
float qh_bf16_to_f32(uint16_t h);
uint16_t qh_f32_to_bf16(float f);       /* round to nearest even */
void qh_f16_to_f32_n(const uint16_t *in, float *out, size_t n);
void qh_f32_to_f16_n(const float *in, uint16_t *out, size_t n);

#endif
