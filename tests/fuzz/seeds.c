/* seeds.c - writes the binary seed corpora of the fuzz targets (tests/fuzz/corpus/NAME/):
 * small but valid inputs made by qharness's own writers, so that the fuzzer starts deep
 * inside each parser: a tiny GPT-2 (1 layer, 32 wide, 258-token byte-level vocabulary) as a
 * Hugging Face checkpoint, as packed files of every calibration-free method, as GGUF (F32 and
 * Q8_0), a GGUF holding one block of every ggml type, plain safetensors in each dtype, the
 * vocabulary files, and imatrix files.  `make fuzz-seeds` rebuilds them; the text seeds
 * (experiment and claim files, task files) are copied from the shipped files by the Makefile.
 * Deterministic: the same bytes on every run. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/base/dtype.h"
#include "harness/formats/ggml_types.h"
#include "harness/formats/gguf.h"
#include "harness/model/model.h"
#include "harness/quantize/packed.h"
#include "harness/quantize/quantize.h"
#include "harness/formats/safetensors.h"
#include "harness/model/tokenizer.h"
#include "harness/base/util.h"

static const char *out_dir;
static unsigned rng = 12345;

static float rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return ((float)((rng >> 8) & 0xffff) / 65536.0f - 0.5f) / 2;
}

static void die(const qh_err *err)
{
    fprintf(stderr, "seeds: %s\n", err->msg);
    exit(1);
}

static char *corpus_path(const char *target, const char *name)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", out_dir, target);
    mkdir(dir, 0755);
    return qh_path_join(dir, name);
}

static void put(const char *target, const char *name, const void *a, size_t na, const char *sep, const void *b,
                size_t nb)
{
    char *p = corpus_path(target, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(a, 1, na, f) != na || (sep && fputs(sep, f) < 0) || (b && fwrite(b, 1, nb, f) != nb)) {
        perror(p);
        exit(1);
    }
    fclose(f);
    free(p);
}

static void put_file(const char *target, const char *name, const char *from)
{
    char *data;
    size_t len;
    qh_err err = {{0}};
    if (qh_read_file(from, &data, &len, &err) != 0) die(&err);
    put(target, name, data, len, NULL, NULL, 0);
    free(data);
}

/* byte-level BPE's byte -> code point map (GPT-2's bytes_to_unicode) */
static int byte_cp(int b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
    return 256 + n;
}

static void put_utf8(FILE *f, int cp)
{
    if (cp < 0x80) {
        if (cp == '"' || cp == '\\') fputc('\\', f);
        fputc(cp, f);
    } else if (cp < 0x800) {
        fputc(0xc0 | cp >> 6, f);
        fputc(0x80 | (cp & 63), f);
    } else {
        fputc(0xe0 | cp >> 12, f);
        fputc(0x80 | (cp >> 6 & 63), f);
        fputc(0x80 | (cp & 63), f);
    }
}

static qh_model *tiny_model(int n_vocab, int n_embd)
{
    qh_model *m = qh_calloc(1, sizeof *m);
    m->cfg = (qh_config){.n_vocab = n_vocab, .n_ctx = 4, .n_embd = n_embd, .n_head = 2, .n_layer = 1, .ln_eps = 1e-5f};
    m->head_tied = 1;
    m->dir = qh_strdup("tiny");
    qh_model_expected_tensors(m);
    for (int t = 0; t < m->n_tensors; t++) {
        qh_tensor *x = &m->tensors[t];
        size_t n = (size_t)x->rows * x->cols;
        x->data = qh_malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) x->data[i] = rnd() + (strstr(x->name, "ln_") && strstr(x->name, "weight") ? 1 : 0);
    }
    qh_model_wire(m);
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seeds OUT_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0755);
    char tmp[] = "/tmp/qh-seeds-XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    qh_err err = {{0}};

    /* the vocabulary: 256 bytes + merges "t h" -> "th", "th e" -> "the" */
    char *vocab_path = qh_path_join(tmp, "vocab.json"), *merges_path = qh_path_join(tmp, "merges.txt");
    FILE *f = fopen(vocab_path, "w");
    fputc('{', f);
    for (int b = 0; b < 256; b++) {
        fputc('"', f);
        put_utf8(f, byte_cp(b));
        fprintf(f, "\": %d, ", b);
    }
    fprintf(f, "\"th\": 256, \"the\": 257}");
    fclose(f);
    f = fopen(merges_path, "w");
    fprintf(f, "#version: 0.2\nt h\nth e\n");
    fclose(f);
    qh_tokenizer *tok;
    if (qh_tokenizer_load(vocab_path, merges_path, &tok, &err) != 0) die(&err);
    {
        char *v, *m;
        size_t nv, nm;
        if (qh_read_file(vocab_path, &v, &nv, &err) || qh_read_file(merges_path, &m, &nm, &err)) die(&err);
        put("fuzz_vocab", "bytes-2-merges", v, nv, "\n#merges#\n", m, nm);
        free(v);
        free(m);
    }

    /* the model: 258 tokens (the vocabulary's) for GGUF, whose files carry the vocabulary; 16 wide
     * with 16 tokens for the checkpoint and the packed files, which do not (small seeds run fast) */
    qh_model *m = tiny_model(258, 32), *small = tiny_model(16, 16);
    (void)small;
    qh_st_entry *e = qh_calloc((size_t)small->n_tensors, sizeof *e);
    for (int t = 0; t < small->n_tensors; t++) {
        qh_tensor *x = &small->tensors[t];
        e[t] = (qh_st_entry){x->name, QH_DT_F32, x->ndim, {0}, x->data, (size_t)x->rows * x->cols * sizeof(float)};
        if (x->ndim == 2) e[t].shape[0] = x->rows, e[t].shape[1] = x->cols;
        else e[t].shape[0] = x->cols;
    }
    char *st_path = qh_path_join(tmp, "model.safetensors");
    if (qh_st_write(st_path, e, small->n_tensors, NULL, NULL, 0, &err) != 0) die(&err);
    free(e);
    {
        static const char config[] = "{\"model_type\": \"gpt2\", \"n_embd\": 16, \"n_layer\": 1, \"n_head\": 2, "
                                     "\"n_positions\": 4, \"vocab_size\": 16, \"layer_norm_epsilon\": 1e-05, "
                                     "\"activation_function\": \"gelu_new\"}";
        char *w;
        size_t nw;
        if (qh_read_file(st_path, &w, &nw, &err) != 0) die(&err);
        put("fuzz_checkpoint", "tiny-f32", config, sizeof config - 1, "\n#safetensors#\n", w, nw);
        free(w);
    }

    /* a tiny Llama (16 wide, 2 heads sharing one K/V head, MLP 24 wide, 16 tokens): as a Hugging
     * Face directory (PyTorch (out, in) matrices, "model." names, untied head) and as llama2.c's
     * model.bin (tied) */
    {
        qh_model *l = qh_calloc(1, sizeof *l);
        l->cfg = (qh_config){.n_vocab = 16, .n_ctx = 8, .n_embd = 16, .n_head = 2, .n_layer = 1, .ln_eps = 1e-5f,
                             .arch = QH_ARCH_LLAMA, .n_kv_head = 1, .n_ff = 24, .rope_theta = 10000};
        qh_model_expected_tensors(l);
        qh_st_entry *le = qh_calloc((size_t)l->n_tensors + 1, sizeof *le);
        char (*names)[80] = qh_calloc((size_t)l->n_tensors, sizeof *names);
        size_t floats = 0;
        for (int t = 0; t < l->n_tensors; t++) {
            qh_tensor *x = &l->tensors[t];
            size_t n = (size_t)x->rows * x->cols;
            x->data = qh_malloc(n * sizeof(float));
            for (size_t i = 0; i < n; i++) x->data[i] = rnd() + (x->ndim == 1 ? 1 : 0);
            snprintf(names[t], sizeof names[t], "model.%s", x->name);
            le[t] = (qh_st_entry){names[t], QH_DT_F32, x->ndim, {0}, x->data, n * sizeof(float)};
            if (x->ndim == 2) le[t].shape[0] = x->is_linear ? x->cols : x->rows, le[t].shape[1] = x->is_linear ? x->rows : x->cols;
            else le[t].shape[0] = x->cols;
            floats += n;
        }
        float head[16 * 16];
        for (int i = 0; i < 16 * 16; i++) head[i] = rnd();
        le[l->n_tensors] = (qh_st_entry){"lm_head.weight", QH_DT_F32, 2, {16, 16}, head, sizeof head};
        if (qh_st_write(st_path, le, l->n_tensors + 1, NULL, NULL, 0, &err) != 0) die(&err);
        static const char config[] = "{\"model_type\": \"llama\", \"hidden_size\": 16, \"intermediate_size\": 24, "
                                     "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, "
                                     "\"max_position_embeddings\": 8, \"vocab_size\": 16, \"rms_norm_eps\": 1e-05, "
                                     "\"rope_theta\": 10000.0, \"hidden_act\": \"silu\", \"tie_word_embeddings\": false}";
        char *w;
        size_t nw;
        if (qh_read_file(st_path, &w, &nw, &err) != 0) die(&err);
        put("fuzz_checkpoint", "tiny-llama-hf", config, sizeof config - 1, "\n#safetensors#\n", w, nw);
        free(w);
        /* llama2.c: "L2C\n", 7 int32 (dim, hidden, layers, heads, kv heads, vocab, seq_len), then the
         * fp32 arrays (values only matter for the loader's bookkeeping: zeros) */
        int32_t hdr[7] = {16, 24, 1, 2, 1, 16, 8};
        size_t nf = floats + (size_t)8 * (16 / 2); /* + freq_cis_real/imag: seq_len x head_size/2 each */
        size_t nb = 4 + sizeof hdr + nf * sizeof(float);
        uint8_t *b = qh_calloc(nb, 1);
        memcpy(b, "L2C\n", 4);
        memcpy(b + 4, hdr, sizeof hdr);
        put("fuzz_checkpoint", "tiny-llama2c", b, nb, NULL, NULL, 0);
        free(b);
        /* ... and as llama.cpp writes a llama GGUF: keys, blk.N names, linear weights ne = [in, out] */
        qh_gguf_writer *gw = qh_gguf_writer_new(0);
        qh_gguf_put_str(gw, "general.architecture", "llama");
        qh_gguf_put_u32(gw, "llama.block_count", 1);
        qh_gguf_put_u32(gw, "llama.context_length", 8);
        qh_gguf_put_u32(gw, "llama.embedding_length", 16);
        qh_gguf_put_u32(gw, "llama.feed_forward_length", 24);
        qh_gguf_put_u32(gw, "llama.attention.head_count", 2);
        qh_gguf_put_u32(gw, "llama.attention.head_count_kv", 1);
        qh_gguf_put_u32(gw, "llama.rope.dimension_count", 8);
        qh_gguf_put_f32(gw, "llama.rope.freq_base", 10000);
        qh_gguf_put_f32(gw, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
        float **rows = qh_calloc((size_t)l->n_tensors, sizeof *rows);
        for (int t = 0; t < l->n_tensors; t++) {
            qh_tensor *x = &l->tensors[t];
            char gname[96];
            const qh_arch_tensor *at = qh_model_arch_tensor(l, t);
            if (x->layer >= 0) snprintf(gname, sizeof gname, "blk.%d.%s", x->layer, at->gguf);
            else snprintf(gname, sizeof gname, "%s", at->gguf);
            int64_t ne[2] = {x->is_linear ? x->rows : x->cols, x->is_linear ? x->cols : x->rows};
            size_t n = (size_t)x->rows * x->cols;
            rows[t] = qh_malloc(n * sizeof(float));
            for (int r = 0; r < x->rows; r++)
                for (int c = 0; c < x->cols; c++)
                    rows[t][x->is_linear ? (size_t)c * x->rows + r : (size_t)r * x->cols + c] = x->data[(size_t)r * x->cols + c];
            if (qh_gguf_put_tensor(gw, gname, x->ndim, ne, 0, rows[t], n * sizeof(float), &err) != 0) die(&err);
        }
        char *gp = corpus_path("fuzz_gguf", "tiny-llama");
        if (qh_gguf_write(gw, gp, &err) != 0) die(&err);
        free(gp);
        qh_gguf_writer_free(gw);
        for (int t = 0; t < l->n_tensors; t++) free(rows[t]);
        free(rows);
        free(names);
        free(le);
        qh_model_wire(l);
        qh_model_free(l);
    }

    /* plain safetensors: one tensor per dtype, with metadata */
    {
        float f32[6] = {1, -2, 0.5f, 3, 0, -0.25f};
        uint16_t f16[6], bf16[6];
        for (int i = 0; i < 6; i++) f16[i] = qh_f32_to_f16(f32[i]), bf16[i] = qh_f32_to_bf16(f32[i]);
        qh_st_entry t[3] = {{"a.f32", QH_DT_F32, 2, {2, 3}, f32, sizeof f32},
                            {"b.f16", QH_DT_F16, 1, {6}, f16, sizeof f16},
                            {"c.bf16", QH_DT_BF16, 3, {1, 2, 3}, bf16, sizeof bf16}};
        const char *mk[] = {"format"}, *mv[] = {"pt"};
        char *p = corpus_path("fuzz_safetensors", "three-dtypes");
        if (qh_st_write(p, t, 3, mk, mv, 1, &err) != 0) die(&err);
        free(p);
    }

    /* packed files: every method that needs no calibration, its default parameters (wrappers
     * around binary) */
    for (const qh_method *const *meth = qh_methods; *meth; meth++) {
        if ((*meth)->needs_calibration) continue;
        qh_model *c = qh_model_clone(small);
        qh_quant_opts o;
        qh_quant_opts_init(&o);
        char spec[128];
        snprintf(spec, sizeof spec, "%s", (*meth)->name);
        if (strcmp(spec, "outliers") == 0 || strcmp(spec, "lowrank") == 0) snprintf(spec, sizeof spec, "%s + binary", (*meth)->name);
        o.spec = spec;
        qh_quant_result res;
        if (qh_quantize_model(c, &o, &res, &err) != 0) {
            fprintf(stderr, "seeds: %s skipped: %s\n", (*meth)->name, err.msg);
            qh_model_free(c);
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "tiny-%s", (*meth)->name);
        char *p = corpus_path("fuzz_packed", name);
        if (qh_quant_write(p, c, &res, &err) != 0) die(&err);
        free(p);
        qh_quant_result_free(&res);
        qh_model_free(c);
    }

    /* GGUF: the model (with its vocabulary) in F32 and Q8_0 */
    const char *types[] = {"Q8_0"};
    for (int i = 0; i < 1; i++) {
        char name[64];
        snprintf(name, sizeof name, "tiny-%s", types[i]);
        char *p = corpus_path("fuzz_gguf", name);
        if (qh_model_write_gguf(m, tok, "tiny", types[i], p, &err) != 0) die(&err);
        free(p);
    }
    /* GGUF: one 256-element row of every ggml type, its bytes random */
    {
        qh_gguf_writer *w = qh_gguf_writer_new(0);
        qh_gguf_put_str(w, "general.architecture", "none");
        uint8_t *bufs[64] = {0}, *buf;
        int nb_used = 0;
        for (const qh_ggml_type *t = qh_ggml_types; t->name && nb_used < 64; t++) {
            if (!t->dequant) continue;
            buf = bufs[nb_used++] = qh_malloc(4096); /* the writer keeps the pointer until it writes */
            int64_t ne[1] = {256};
            size_t nb = 256 / t->block * t->bytes;
            for (size_t k = 0; k < nb; k++) buf[k] = (uint8_t)(rnd() * 512);
            if (strcmp(t->name, "F16") == 0 || strcmp(t->name, "BF16") == 0 || strcmp(t->name, "F32") == 0)
                memset(buf, 0x3c, nb); /* finite values */
            char nm[64];
            snprintf(nm, sizeof nm, "t.%s", t->name);
            if (qh_gguf_put_tensor(w, nm, 1, ne, t->id, buf, nb, &err) != 0) die(&err);
        }
        char *p = corpus_path("fuzz_gguf", "every-type");
        if (qh_gguf_write(w, p, &err) != 0) die(&err);
        free(p);
        for (int k = 0; k < nb_used; k++) free(bufs[k]);
        qh_gguf_writer_free(w);
    }

    /* GGUF: a SentencePiece ("llama") vocabulary alone: <unk> <s> </s>, the 256 byte fallbacks,
     * a few pieces with scores */
    {
        static const char *pieces[] = {"\xe2\x96\x81", "\xe2\x96\x81t", "he", "\xe2\x96\x81the", "\xe2\x96\x81" "a", "nd", "\xe2\x96\x81" "and"};
        int np = (int)(sizeof pieces / sizeof *pieces), nt = 3 + 256 + np;
        char **tokens = qh_malloc((size_t)nt * sizeof *tokens);
        float *scores = qh_malloc((size_t)nt * sizeof *scores);
        int32_t *types = qh_malloc((size_t)nt * sizeof *types);
        const char *special[3] = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < nt; i++) {
            tokens[i] = qh_malloc(16);
            if (i < 3) snprintf(tokens[i], 16, "%s", special[i]);
            else if (i < 259) snprintf(tokens[i], 16, "<0x%02X>", i - 3);
            else snprintf(tokens[i], 16, "%s", pieces[i - 259]);
            scores[i] = i < 259 ? 0.0f : -(float)(i - 259);
            types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
        }
        qh_gguf_writer *w = qh_gguf_writer_new(0);
        qh_gguf_put_str(w, "general.architecture", "llama");
        qh_gguf_put_str(w, "tokenizer.ggml.model", "llama");
        qh_gguf_put_str_array(w, "tokenizer.ggml.tokens", tokens, (uint64_t)nt);
        qh_gguf_put_f32_array(w, "tokenizer.ggml.scores", scores, (uint64_t)nt);
        qh_gguf_put_i32_array(w, "tokenizer.ggml.token_type", types, (uint64_t)nt);
        qh_gguf_put_u32(w, "tokenizer.ggml.bos_token_id", 1);
        qh_gguf_put_bool(w, "tokenizer.ggml.add_bos_token", 1);
        char *p = corpus_path("fuzz_gguf", "sentencepiece-vocab");
        if (qh_gguf_write(w, p, &err) != 0) die(&err);
        free(p);
        qh_gguf_writer_free(w);
        for (int i = 0; i < nt; i++) free(tokens[i]);
        free(tokens), free(scores), free(types);
    }

    /* llama2.c's tokenizer file: the same small vocabulary, spaces as ' ', BOS/EOS as llama2.c's
     * export writes them */
    {
        static const char *pieces[] = {" ", " t", "he", " the", " a", "nd", " and"};
        int np = (int)(sizeof pieces / sizeof *pieces);
        char *p = corpus_path("fuzz_tokbin", "small-vocab");
        f = fopen(p, "wb");
        uint32_t longest = 6;
        fwrite(&longest, 4, 1, f);
        for (int i = 0; i < 3 + 256 + np; i++) {
            char t[16];
            const char *special[3] = {"<unk>", "\n<s>\n", "\n</s>\n"};
            if (i < 3) snprintf(t, sizeof t, "%s", special[i]);
            else if (i < 259) snprintf(t, sizeof t, "<0x%02X>", i - 3);
            else snprintf(t, sizeof t, "%s", pieces[i - 259]);
            float score = i < 259 ? 0.0f : -(float)(i - 259);
            uint32_t tl = (uint32_t)strlen(t);
            fwrite(&score, 4, 1, f);
            fwrite(&tl, 4, 1, f);
            fwrite(t, 1, tl, f);
        }
        fclose(f);
        free(p);
    }

    /* fuzz_sentencepiece: the small vocabulary above as tokenizer.model (protobuf: pieces = 1
     * {piece = 1, score = 2, type = 3}, trainer_spec = 2 {model_type = 3, bos_id = 41},
     * normalizer_spec = 3 {add_dummy_prefix = 3}), and as tokenizer.json in its SentencePiece
     * forms (Prepend + Replace normalizer, "a b" merges; Metaspace, pair merges) and GPT-2's */
    {
        static const char *pieces[] = {"\xe2\x96\x81", "\xe2\x96\x81t", "he", "\xe2\x96\x81the", "\xe2\x96\x81" "a", "nd", "\xe2\x96\x81" "and"};
        static const char *merges[][2] = {{"\xe2\x96\x81", "t"}, {"h", "e"}, {"\xe2\x96\x81t", "he"}, {"\xe2\x96\x81", "a"}, {"n", "d"}, {"\xe2\x96\x81" "a", "nd"}};
        int np = (int)(sizeof pieces / sizeof *pieces), nm = (int)(sizeof merges / sizeof *merges);
        unsigned char pb[16384];
        size_t at = 1;
        pb[0] = 0; /* even: tokenizer.model */
        cJSON *vocab = cJSON_CreateObject();
        for (int i = 0; i < 3 + 256 + np + 6; i++) {
            char t[16];
            const char *special[3] = {"<unk>", "<s>", "</s>"}, *letters = "tehnda";
            if (i < 3) snprintf(t, sizeof t, "%s", special[i]);
            else if (i < 259) snprintf(t, sizeof t, "<0x%02X>", i - 3);
            else if (i < 259 + np) snprintf(t, sizeof t, "%s", pieces[i - 259]);
            else snprintf(t, sizeof t, "%c", letters[i - 259 - np]); /* the letters the merges start from */
            cJSON_AddNumberToObject(vocab, t, i);
            float score = i < 259 ? 0.0f : -(float)(i - 259);
            size_t tl = strlen(t);
            unsigned char type = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
            pb[at++] = 0x0a, pb[at++] = (unsigned char)(2 + tl + 5 + 2); /* a piece: every one under 128 bytes */
            pb[at++] = 0x0a, pb[at++] = (unsigned char)tl;
            memcpy(pb + at, t, tl), at += tl;
            pb[at++] = 0x15, memcpy(pb + at, &score, 4), at += 4;
            pb[at++] = 0x18, pb[at++] = type;
        }
        static const unsigned char specs[] = {0x12, 0x05, 0x18, 0x02, 0xc8, 0x02, 0x01, 0x1a, 0x02, 0x18, 0x01};
        memcpy(pb + at, specs, sizeof specs), at += sizeof specs; /* BPE, bos_id 1; add_dummy_prefix */
        put("fuzz_sentencepiece", "tokenizer-model", pb, at, NULL, NULL, 0);
        for (int form = 0; form < 3; form++) {
            cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model"), *ms = cJSON_CreateArray();
            cJSON_AddStringToObject(model, "type", "BPE");
            if (form < 2) {
                cJSON_AddBoolToObject(model, "byte_fallback", 1);
                cJSON_AddItemToObject(model, "vocab", cJSON_Duplicate(vocab, 1));
                for (int i = 0; i < nm; i++) {
                    char line[32];
                    snprintf(line, sizeof line, "%s %s", merges[i][0], merges[i][1]);
                    cJSON_AddItemToArray(ms, form ? cJSON_CreateStringArray(merges[i], 2) : cJSON_CreateString(line));
                }
                const char *rest = form ? "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\", \"prepend_scheme\": \"first\"}}"
                                        : "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"}, "
                                          "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]}, "
                                          "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}}, "
                                          "{\"Sequence\": {\"id\": \"A\"}}]}, \"added_tokens\": [{\"id\": 1, \"content\": \"<s>\"}]}";
                cJSON *r = cJSON_Parse(rest), *item;
                while ((item = r->child)) cJSON_AddItemToObject(root, item->string, cJSON_DetachItemViaPointer(r, item));
                cJSON_Delete(r);
            } else { /* GPT-2's: the byte-level vocabulary of fuzz_vocab's seed */
                char *v;
                size_t nv;
                if (qh_read_file(vocab_path, &v, &nv, &err)) die(&err);
                cJSON_AddItemToObject(model, "vocab", cJSON_Parse(v));
                free(v);
                cJSON_AddItemToArray(ms, cJSON_CreateString("t h"));
                cJSON_AddItemToArray(ms, cJSON_CreateString("th e"));
                cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
                cJSON_AddStringToObject(pre, "type", "ByteLevel");
                cJSON_AddBoolToObject(pre, "add_prefix_space", 0);
            }
            cJSON_AddItemToObject(model, "merges", ms);
            char *json = cJSON_PrintUnformatted(root);
            static const char *names[] = {"tokenizer-json-spm", "tokenizer-json-metaspace", "tokenizer-json-gpt2"};
            put("fuzz_sentencepiece", names[form], "\1", 1, NULL, json, strlen(json));
            free(json);
            cJSON_Delete(root);
        }
        cJSON_Delete(vocab);
    }

    /* imatrix: two entries, with and without the trailer naming the dataset */
    for (int trailer = 0; trailer < 2; trailer++) {
        char *p = corpus_path("fuzz_imatrix", trailer ? "two-entries-dataset" : "two-entries");
        f = fopen(p, "wb");
        int32_t n = 2;
        fwrite(&n, 4, 1, f);
        const char *names[2] = {"blk.0.attn_qkv.weight", "blk.0.ffn_down.weight"};
        for (int k = 0; k < 2; k++) {
            int32_t len = (int32_t)strlen(names[k]), ncall = 10, nval = k ? 128 : 32;
            fwrite(&len, 4, 1, f);
            fwrite(names[k], 1, (size_t)len, f);
            fwrite(&ncall, 4, 1, f);
            fwrite(&nval, 4, 1, f);
            for (int j = 0; j < nval; j++) {
                float v = 10 * (0.5f + rnd());
                fwrite(&v, 4, 1, f);
            }
        }
        if (trailer) {
            int32_t chunks = 10, len = 10;
            fwrite(&chunks, 4, 1, f);
            fwrite(&len, 4, 1, f);
            fwrite("calib.text", 1, 10, f);
        }
        fclose(f);
        free(p);
    }
    (void)put_file;
    qh_tokenizer_free(tok);
    qh_model_free(m);
    qh_model_free(small);
    unlink(vocab_path), unlink(merges_path), unlink(st_path);
    free(vocab_path), free(merges_path), free(st_path);
    rmdir(tmp);
    return 0;
}
