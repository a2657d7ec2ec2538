/* fuzz_gguf.c - the GGUF reader: header, metadata (every value and array element read back),
 * tensor infos, the bits ledger, the dequantization of every tensor it accepts (i-quant grid
 * indices and scales come from the file), the GGUF tokenizer and the model loader. */
#include "tests/fuzz/fuzz.h"
#include "harness/formats/ggml_types.h"
#include "harness/formats/gguf.h"
#include "harness/model/model.h"
#include "harness/model/tokenizer.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull) devnull = fopen("/dev/null", "w");
    const char *path = fz_file("in.gguf", data, size);
    qh_gguf *g = NULL;
    qh_err err = {{0}};
    int rc = qh_gguf_open(path, &g, &err);
    fz_check_error(rc, &err, "qh_gguf_open");
    if (rc != 0) return 0;
    double sink = 0;
    for (uint64_t k = 0; k < g->n_kv; k++) {
        const qh_gguf_kv *kv = &g->kv[k];
        if (qh_gguf_find(g, kv->key) != kv) abort(); /* keys are unique */
        if (kv->type != QH_GGUF_ARRAY) continue;
        for (uint64_t i = 0; i < kv->n && i < 4096; i++) {
            uint64_t len;
            if (kv->elem_type == QH_GGUF_STRING) {
                const char *s = qh_gguf_array_str(g, kv, i, &len);
                if (s && len) sink += (unsigned char)s[len - 1];
            } else if (kv->elem_type != QH_GGUF_ARRAY)
                sink += qh_gguf_array_num(kv, i);
        }
    }
    qh_gguf_print_ledger(g, 1, devnull);
    for (uint64_t t = 0; t < g->n_tensors; t++) {
        const qh_gguf_tensor *ti = &g->tensors[t];
        const qh_ggml_type *ty = qh_ggml_type_by_id(ti->type);
        if (!ty || !ty->dequant || ti->n_elements == 0) continue;
        /* the first and the last block: the grids and scales a block indexes, and the end of
         * the data the reader accepted (mapped, so outside ASan's view: a read past the file
         * would fault) */
        float *out = qh_malloc((size_t)ty->block * sizeof(float));
        uint64_t blocks = ti->n_elements / (uint64_t)ty->block;
        ty->dequant(ti->data, out);
        ty->dequant(ti->data + (blocks - 1) * ty->bytes, out);
        for (int i = 0; i < ty->block; i++) sink += out[i] == out[i];
        free(out);
    }
    qh_tokenizer *tok = NULL;
    qh_err e2 = {{0}};
    if (qh_tokenizer_from_gguf(g, &tok, &e2) == 0) {
        int *ids = NULL;
        size_t n = 0;
        if (qh_encode(tok, "fuzz", "Hello world, 12 tokens?", 23, &ids, &n, &e2) == 0) free(ids);
        qh_tokenizer_free(tok);
    } else
        fz_check_error(-1, &e2, "qh_tokenizer_from_gguf");
    qh_gguf_close(g);
    qh_model *m = NULL;
    qh_err e3 = {{0}};
    rc = qh_model_load_gguf(path, &m, 0, &e3);
    fz_check_error(rc, &e3, "qh_model_load_gguf");
    if (rc == 0) qh_model_free(m);
    (void)sink;
    return 0;
}
