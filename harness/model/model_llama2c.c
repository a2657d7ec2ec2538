/* model_llama2c.c - Andrej Karpathy's llama2.c checkpoints (run.c's format) as a Llama qh_model.
 *
 * Version 0 ("legacy", what llama2.c's export writes by default and the stories* models ship
 * as): seven int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
 * negative vocab_size means the classifier is not shared with the embedding), then fp32
 * arrays: token embedding (V, C), attention RMSNorm weights (L, C), wq (L, C, C), wk (L, KV, C),
 * wv (L, KV, C), wo (L, C, C), MLP RMSNorm (L, C), w1 (L, F, C), w2 (L, C, F), w3 (L, F, C),
 * final RMSNorm (C), the legacy RoPE tables freq_cis_real/imag (seq_len * head_size / 2 each,
 * skipped: recomputed), and wcls (V, C) when not shared.  Matrices are PyTorch (out, in); w1 is
 * the gate, w3 the up and w2 the down projection; q/k rows are in Meta's pair order.  run.c
 * uses eps 1e-5 and RoPE base 10000.  The file size must be exactly what the header implies:
 * that is both the probe and the truncation check. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/model/model.h"
#include "harness/base/gemm.h"

typedef struct {
    int dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len;
    int shared;
    uint64_t floats; /* fp32 values after the header */
} l2c_header;

#define L2C_HEADER_BYTES 28

/* the header's numbers, checked, and the file size they imply; -1 with err when implausible */
static int header_parse(const char *path, const uint8_t *h, uint64_t file_size, l2c_header *out, qh_err *err)
{
    int32_t v[7];
    memcpy(v, h, sizeof v);
    static const char *const names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    for (int i = 0; i < 7; i++) {
        int32_t x = i == 5 && v[i] < 0 && v[i] != INT32_MIN ? -v[i] : v[i];
        if (x <= 0 || x > (1 << 20)) return qh_fail(err, "%s: header field %s is %d: not a llama2.c checkpoint", path, names[i], v[i]);
    }
    l2c_header c = {v[0], v[1], v[2], v[3], v[4], v[5] < 0 ? -v[5] : v[5], v[6], v[5] > 0, 0};
    if (c.dim % c.n_heads || (c.dim / c.n_heads) % 2 || c.n_heads % c.n_kv)
        return qh_fail(err, "%s: dim %d, n_heads %d, n_kv_heads %d do not make even heads in whole K/V groups", path, c.dim, c.n_heads,
                       c.n_kv);
    uint64_t C = (uint64_t)c.dim, F = (uint64_t)c.hidden, L = (uint64_t)c.n_layers, V = (uint64_t)c.vocab;
    uint64_t KV = (uint64_t)c.n_kv * (C / (uint64_t)c.n_heads), hs = C / (uint64_t)c.n_heads;
    c.floats = V * C + L * (2 * C + 2 * C * C + 2 * KV * C + 3 * F * C) + C + (uint64_t)c.seq_len * hs + (c.shared ? 0 : V * C);
    uint64_t want = L2C_HEADER_BYTES + 4 * c.floats;
    if (file_size != want)
        return qh_fail(err, "%s: %llu bytes, but its header (dim %d, hidden %d, %d layers, %d heads, %d kv heads, vocab %d, seq_len %d) "
                       "implies %llu: truncated, or not a version-0 llama2.c checkpoint",
                       path, (unsigned long long)file_size, c.dim, c.hidden, c.n_layers, c.n_heads, c.n_kv, c.vocab, c.seq_len,
                       (unsigned long long)want);
    *out = c;
    return 0;
}

/* The checkpoint a path names: the file itself, or in a directory the one *.bin file that is
 * not a tokenizer (tokenizer.bin, tok*.bin).  Returns a malloc'd path or NULL. */
static char *checkpoint_path(const char *path)
{
    if (!qh_is_dir(path)) {
        size_t n = strlen(path);
        return n > 4 && strcmp(path + n - 4, ".bin") == 0 ? qh_strdup(path) : NULL;
    }
    DIR *d = opendir(path);
    char *found = NULL;
    int count = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".bin") == 0 && strncmp(e->d_name, "tok", 3) != 0) {
            if (!found) found = qh_path_join(path, e->d_name);
            count++;
        }
    }
    if (d) closedir(d);
    if (count != 1) {
        free(found);
        return NULL;
    }
    return found;
}

int qh_llama2c_probe(const char *path)
{
    char *file = checkpoint_path(path);
    if (!file) return 0;
    FILE *f = fopen(file, "rb");
    uint8_t h[L2C_HEADER_BYTES];
    int ok = 0;
    if (f && fread(h, 1, sizeof h, f) == sizeof h && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        l2c_header c;
        qh_err e;
        ok = size > 0 && header_parse(file, h, (uint64_t)size, &c, &e) == 0;
    }
    if (f) fclose(f);
    free(file);
    return ok;
}

int qh_model_load_llama2c(const char *path, qh_model **out, int compute_sha, qh_err *err)
{
    char *file = checkpoint_path(path);
    if (!file) return qh_fail(err, "%s: no llama2.c checkpoint (one .bin file besides the tokenizer)", path);
    /* mapped, not read: checkpoints of real Llama models are many GB */
    char *bytes = NULL;
    size_t size = 0;
    qh_model *m = NULL;
    int fd = open(file, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        qh_fail(err, "%s: cannot open", file);
        if (fd >= 0) close(fd);
        goto fail;
    }
    size = (size_t)sb.st_size;
    if (size > 0) {
        void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        bytes = map == MAP_FAILED ? NULL : map;
    }
    close(fd);
    if (size > 0 && !bytes) {
        qh_fail(err, "%s: cannot map %zu bytes", file, size);
        goto fail;
    }
    l2c_header h;
    if (size < L2C_HEADER_BYTES) {
        qh_fail(err, "%s: %zu bytes: shorter than a llama2.c header (28)", file, size);
        goto fail;
    }
    if (header_parse(file, (const uint8_t *)bytes, size, &h, err) != 0) goto fail;
    m = qh_calloc(1, sizeof *m);
    m->dir = qh_strdup(path);
    m->head_tied = h.shared;
    snprintf(m->weights_path, sizeof m->weights_path, "%s", file);
    snprintf(m->dtype, sizeof m->dtype, "F32");
    snprintf(m->ctx_source, sizeof m->ctx_source, "the llama2.c header's seq_len");
    qh_config *c = &m->cfg;
    c->arch = QH_ARCH_LLAMA;
    c->n_embd = h.dim;
    c->n_ff = h.hidden;
    c->n_layer = h.n_layers;
    c->n_head = h.n_heads;
    c->n_kv_head = h.n_kv;
    c->n_vocab = h.vocab;
    c->n_ctx = h.seq_len;
    c->ln_eps = 1e-5f;       /* run.c's rmsnorm */
    c->rope_theta = 10000.0f; /* run.c's RoPE */
    /* the file's size (checked above) already bounds the layer count */
    if (qh_model_expected_tensors(m, UINT64_MAX, path, err) != 0) goto fail;
    const qh_arch *a = qh_config_arch(c);
    /* the file's arrays in order: which block tensor (index in the architecture row, -1 for a
     * global: the embedding, final norm, classifier) and whether it is an (out, in) matrix */
    const float *p = (const float *)(bytes + L2C_HEADER_BYTES);
    static const char *const order[] = {"input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                                        "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                                        "mlp.gate_proj.weight", "mlp.down_proj.weight", "mlp.up_proj.weight"};
    for (int k = 0; k < m->n_tensors; k++) m->tensors[k].data = qh_malloc((size_t)m->tensors[k].rows * m->tensors[k].cols * sizeof(float));
    size_t VC = (size_t)c->n_vocab * c->n_embd;
    memcpy(m->tensors[0].data, p, VC * sizeof(float)); /* embed_tokens (V, C) */
    p += VC;
    for (size_t o = 0; o < sizeof order / sizeof *order; o++) {
        int j;
        for (j = 0; j < a->n_block && strcmp(a->block[j].name, order[o]) != 0; j++) {
        }
        for (int l = 0; l < c->n_layer; l++) {
            qh_tensor *t = &m->tensors[a->n_pre + l * a->n_block + j];
            size_t n = (size_t)t->rows * t->cols;
            if (t->is_linear) qh_transpose(p, t->cols, t->rows, t->data); /* (out, in) -> (in, out) */
            else memcpy(t->data, p, n * sizeof(float));
            p += n;
        }
    }
    memcpy(m->tensors[m->n_tensors - 1].data, p, (size_t)c->n_embd * sizeof(float)); /* norm */
    p += c->n_embd;
    p += (size_t)c->n_ctx * (c->n_embd / c->n_head); /* freq_cis_real and _imag */
    for (int k = 0; k < m->n_tensors; k++) m->n_params += (size_t)m->tensors[k].rows * m->tensors[k].cols;
    if (!h.shared) {
        m->head = qh_malloc(VC * sizeof(float));
        memcpy(m->head, p, VC * sizeof(float));
        m->n_params += VC;
    }
    qh_model_wire(m);
    munmap(bytes, size);
    bytes = NULL;
    if (compute_sha && qh_sha256_file(file, m->sha256, err) != 0) goto fail;
    free(file);
    *out = m;
    return 0;
fail:
    if (bytes) munmap(bytes, size);
    free(file);
    qh_model_free(m);
    return -1;
}
