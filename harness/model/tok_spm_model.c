/* tok_spm_model.c - SentencePiece's tokenizer.model, read as the protobuf it is. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/tokenizer_impl.h"

/* ---- SentencePiece's tokenizer.model: a protobuf ModelProto ------------------------------
 *
 * The fields read (sentencepiece_model.proto): pieces = 1 {piece = 1, score = 2, type = 3},
 * trainer_spec = 2 {model_type = 3 (1 unigram, 2 BPE), unk_id = 40, bos_id = 41 (default 1;
 * -1: none), eos_id = 42, pad_id = 43}, normalizer_spec = 3 {add_dummy_prefix = 3 (default
 * true)}; every other field is skipped by its wire type.  Every piece goes into the vocabulary
 * with its score, whatever its type; the user-defined ones (Gemma's runs of whitespace, its
 * HTML tags) are also cut out of a text before the rest is encoded, as llama.cpp does with the
 * user-defined tokens its converter copies from this file; and
 * the normalization rules (precompiled_charsmap, remove_extra_whitespaces) are not applied: what
 * llama.cpp's converter keeps and its tokenizer does, so ids are llama.cpp's.  (protobuf-c would
 * need code generated from the schema at build time for five wire rules and three messages.) */

typedef struct {
    const unsigned char *base, *p, *end; /* the file; the read position; the end of this message */
    const char *path;
} pb_in;

static int pb_fail(const pb_in *in, qh_err *err, const char *what)
{
    return qh_fail(err, "%s: byte %zu: %s", in->path, (size_t)(in->p - in->base), what);
}

static int pb_varint(pb_in *in, uint64_t *v, qh_err *err)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (in->p == in->end) return pb_fail(in, err, "truncated varint");
        unsigned char b = *in->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return pb_fail(in, err, "varint longer than ten bytes");
}

typedef struct {
    uint32_t field;
    int wire;                   /* 0 varint, 1 fixed 64, 2 length-delimited, 5 fixed 32 */
    uint64_t u;                 /* varint or fixed value */
    const unsigned char *data;  /* length-delimited: the bytes */
    size_t len;
} pb_field;

/* The next field of the message being read. */
static int pb_next(pb_in *in, pb_field *f, qh_err *err)
{
    uint64_t key = 0;
    if (pb_varint(in, &key, err) != 0) return -1;
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff) return pb_fail(in, err, "field number 0 or above 2^29 - 1");
    f->field = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    size_t left = (size_t)(in->end - in->p);
    switch (f->wire) {
    case 0: return pb_varint(in, &f->u, err);
    case 1:
    case 5: {
        size_t k = f->wire == 1 ? 8 : 4;
        if (left < k) return pb_fail(in, err, "truncated fixed-width field");
        f->u = 0;
        memcpy(&f->u, in->p, k); /* little-endian, as the wire format */
        in->p += k;
        return 0;
    }
    case 2:
        if (pb_varint(in, &f->u, err) != 0) return -1;
        if (f->u > (uint64_t)(in->end - in->p)) return pb_fail(in, err, "length-delimited field runs past its message");
        f->data = in->p;
        f->len = (size_t)f->u;
        in->p += f->len;
        return 0;
    default: return pb_fail(in, err, "wire type 3, 4, 6 or 7 (groups or invalid): not in SentencePiece's schema");
    }
}

/* A field of the expected wire type, or an error naming it. */
static int pb_want(const pb_in *in, const pb_field *f, int wire, const char *name, qh_err *err)
{
    if (f->wire == wire) return 0;
    char what[128];
    snprintf(what, sizeof what, "field %u (%s) has wire type %d, not %d", f->field, name, f->wire, wire);
    return pb_fail(in, err, what);
}

static pb_in pb_sub(const pb_in *in, const pb_field *f)
{
    return (pb_in){in->base, f->data, f->data + f->len, in->path};
}

int qh_tokenizer_load_spm_model(const char *path, qh_tokenizer **out, qh_err *err)
{
    char *data;
    size_t len;
    if (qh_read_file(path, &data, &len, err) != 0) return -1;
    pb_in top = {(const unsigned char *)data, (const unsigned char *)data, (const unsigned char *)data + len, path};
    pb_field f;
    uint64_t n = 0, model_type = 1, add_dummy_prefix = 1;
    int64_t special[4] = {0, 1, 2, -1}; /* unk, bos, eos, pad: SentencePiece's defaults */
    int32_t *types = NULL;
    qh_tokenizer *tok = NULL;
    while (top.p < top.end) { /* pass 1: count the pieces, read the two specs */
        if (pb_next(&top, &f, err) != 0) goto fail;
        if (f.field == 1) {
            if (pb_want(&top, &f, 2, "ModelProto.pieces", err) != 0) goto fail;
            if (++n > (1u << 24)) {
                pb_fail(&top, err, "more than 2^24 pieces");
                goto fail;
            }
        } else if (f.field == 2 || f.field == 3) {
            if (pb_want(&top, &f, 2, f.field == 2 ? "ModelProto.trainer_spec" : "ModelProto.normalizer_spec", err) != 0) goto fail;
            pb_in spec = pb_sub(&top, &f);
            int is_trainer = f.field == 2;
            while (spec.p < spec.end) {
                pb_field g;
                if (pb_next(&spec, &g, err) != 0) goto fail;
                uint64_t *dst = is_trainer && g.field == 3 ? &model_type : !is_trainer && g.field == 3 ? &add_dummy_prefix : NULL;
                if (is_trainer && g.field >= 40 && g.field <= 43) { /* unk_id, bos_id, eos_id, pad_id */
                    static const char *const names[] = {"TrainerSpec.unk_id", "TrainerSpec.bos_id", "TrainerSpec.eos_id",
                                                        "TrainerSpec.pad_id"};
                    if (pb_want(&spec, &g, 0, names[g.field - 40], err) != 0) goto fail;
                    special[g.field - 40] = (int32_t)(uint32_t)g.u; /* int32: negative values are sign-extended varints */
                } else if (dst) {
                    if (pb_want(&spec, &g, 0, is_trainer ? "TrainerSpec.model_type" : "NormalizerSpec.add_dummy_prefix", err) != 0)
                        goto fail;
                    *dst = g.u;
                }
            }
        }
    }
    if (n < 1) {
        qh_fail(err, "%s: no pieces (not a SentencePiece model)", path);
        goto fail;
    }
    if (model_type != 2) { /* absent: SentencePiece's default, unigram */
        static const char *const types[] = {"?", "unigram", "BPE", "word", "char"};
        qh_fail(err, "%s: trainer_spec.model_type is %llu (%s): qharness reads BPE SentencePiece models (llama.cpp's "
                "'llama' vocabularies), not Viterbi-segmented ones", path, (unsigned long long)model_type,
                types[model_type < 5 ? model_type : 0]);
        goto fail;
    }
    tok = qh_tok_spm_new((int)n);
    tok->add_space_prefix = add_dummy_prefix != 0;
    types = qh_malloc((size_t)n * sizeof *types);
    top.p = top.base;
    for (int i = 0; top.p < top.end;) { /* pass 2: the pieces, checked as pass 1 did the rest */
        if (pb_next(&top, &f, err) != 0) goto fail;
        if (f.field != 1) continue;
        pb_in piece = pb_sub(&top, &f);
        const unsigned char *text = NULL;
        size_t text_len = 0;
        float score = 0;
        types[i] = 1; /* NORMAL, the default */
        while (piece.p < piece.end) {
            pb_field g;
            if (pb_next(&piece, &g, err) != 0) goto fail;
            if (g.field == 1) {
                if (pb_want(&piece, &g, 2, "SentencePiece.piece", err) != 0) goto fail;
                text = g.data, text_len = g.len;
            } else if (g.field == 3) {
                if (pb_want(&piece, &g, 0, "SentencePiece.type", err) != 0) goto fail;
                types[i] = g.u <= 6 ? (int32_t)g.u : 0;
            } else if (g.field == 2) {
                uint32_t bits = (uint32_t)g.u;
                if (pb_want(&piece, &g, 5, "SentencePiece.score", err) != 0) goto fail;
                memcpy(&score, &bits, 4);
                if (!isfinite(score)) {
                    pb_fail(&piece, err, "a piece's score is not finite");
                    goto fail;
                }
            }
        }
        if (!text || text_len == 0) {
            char what[64];
            snprintf(what, sizeof what, "piece %d has no text", i);
            pb_fail(&piece, err, what);
            goto fail;
        }
        qh_tok_spm_add_piece(tok, i++, (const char *)text, text_len, score);
    }
    free(data);
    qh_tok_set_types(tok, types);
    int *kept[] = {&tok->unk_id, NULL, &tok->eos_id, &tok->pad_id};
    for (int k = 0; k < 4; k++)
        if (kept[k] && special[k] >= 0 && special[k] < tok->n_vocab) *kept[k] = (int)special[k];
    return qh_tok_spm_finish(tok, path, special[1], special[1] >= 0, out, err);
fail:
    if (tok) qh_tokenizer_free(tok);
    free(types);
    free(data);
    return -1;
}
