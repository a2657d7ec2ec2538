/* tok_hf_json.c - Hugging Face's tokenizer.json (model type BPE): byte-level or SentencePiece-style. */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/tokenizer_impl.h"

/* ---- Hugging Face's tokenizer.json (model type BPE) ----------------------------------------
 *
 * Two kinds are read, each only where its encoding is what qharness implements:
 *  - byte-level BPE (GPT-2): a ByteLevel pre-tokenizer (GPT-2's regex, no prefix space);
 *  - SentencePiece-style BPE (Llama, Mistral): no pre-tokenizer or Metaspace, a normalizer
 *    that prepends and/or replaces spaces with U+2581, byte_fallback; pairs merge by the rank
 *    of their merges entry, as Hugging Face's BPE does.
 * The BOS comes from the post-processor's template (a special token in front of $A).  Added
 * tokens must be pieces of model.vocab with the same id (special tokens are not split off the
 * text, as elsewhere in qharness). */

static const cJSON *json_get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static int json_type_is(const cJSON *o, const char *type)
{
    const cJSON *t = json_get(o, "type");
    return cJSON_IsString(t) && strcmp(t->valuestring, type) == 0;
}

static const char *json_type(const cJSON *o)
{
    const cJSON *t = json_get(o, "type");
    return cJSON_IsString(t) ? t->valuestring : "(no type)";
}

/* The steps of a normalizer, pre-tokenizer or post-processor o (its list when a Sequence):
 * how many (at most 16), or -1 with err set. */
static int json_steps(const char *path, const char *what, const cJSON *o, const char *list, const cJSON *steps[16], qh_err *err)
{
    if (!o || cJSON_IsNull(o)) return 0;
    if (!json_type_is(o, "Sequence")) {
        steps[0] = o;
        return 1;
    }
    const cJSON *arr = json_get(o, list), *e;
    int n = 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > 16)
        return qh_fail(err, "%s: %s: a Sequence needs a '%s' array of at most 16 steps", path, what, list);
    cJSON_ArrayForEach(e, arr) steps[n++] = e;
    return n;
}

/* The merges entry i ("a b", or ["a", "b"] since tokenizers 0.20) as its two halves. */
static int json_merge(const char *path, const cJSON *e, int i, const char **a, size_t *la, const char **b, size_t *lb, qh_err *err)
{
    if (cJSON_IsString(e)) {
        const char *s = e->valuestring, *sp = strchr(s, ' ');
        if (sp && sp != s && sp[1] && !strchr(sp + 1, ' ')) {
            *a = s, *la = (size_t)(sp - s), *b = sp + 1, *lb = strlen(sp + 1);
            return 0;
        }
    } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) && cJSON_IsString(e->child->next) &&
               e->child->valuestring[0] && e->child->next->valuestring[0]) {
        *a = e->child->valuestring, *la = strlen(*a), *b = e->child->next->valuestring, *lb = strlen(*b);
        return 0;
    }
    return qh_fail(err, "%s: model.merges[%d]: a merge is \"A B\" or [\"A\", \"B\"] (two non-empty tokens)", path, i);
}

/* The id the template puts before $A, or -1. */
static int json_bos(const char *path, const cJSON *post, const cJSON *vocab, int64_t *bos, qh_err *err)
{
    *bos = -1;
    const cJSON *steps[16];
    int n = json_steps(path, "post_processor", post, "processors", steps, err);
    for (int k = 0; k < n; k++) {
        const cJSON *step = steps[k];
        if (!json_type_is(step, "TemplateProcessing")) continue;
        const cJSON *single = json_get(step, "single"), *first = cJSON_IsArray(single) ? single->child : NULL;
        const cJSON *special = first ? json_get(first, "SpecialToken") : NULL, *id = special ? json_get(special, "id") : NULL;
        if (!special) return 0;
        const cJSON *v = cJSON_IsString(id) ? json_get(vocab, id->valuestring) : NULL;
        if (!cJSON_IsNumber(v))
            return qh_fail(err, "%s: post_processor: the template's leading special token is not in model.vocab", path);
        *bos = (int64_t)v->valuedouble;
    }
    return n < 0 ? -1 : 0;
}

/* SentencePiece-style: decides add_space_prefix from the normalizer and pre-tokenizer, or refuses. */
static int json_spm_steps(const char *path, const cJSON *norm, const cJSON *pre, int *prefix, qh_err *err)
{
    *prefix = 0;
    const cJSON *steps[16];
    int n = json_steps(path, "normalizer", norm, "normalizers", steps, err);
    for (int k = 0; k < n; k++) {
        const cJSON *step = steps[k];
        const cJSON *v = json_get(step, "prepend"), *pat = json_get(step, "pattern"), *content = json_get(step, "content");
        const cJSON *str = pat ? json_get(pat, "String") : NULL;
        if (json_type_is(step, "Prepend") && cJSON_IsString(v) && strcmp(v->valuestring, qh_tok_spm_space) == 0) *prefix = 1;
        else if (!(json_type_is(step, "Replace") && cJSON_IsString(str) && strcmp(str->valuestring, " ") == 0 &&
                   cJSON_IsString(content) && strcmp(content->valuestring, qh_tok_spm_space) == 0))
            return qh_fail(err, "%s: normalizer '%s' is not supported: qharness reads SentencePiece-style vocabularies whose "
                           "normalizer only prepends U+2581 and replaces spaces with it", path, json_type(step));
    }
    int m = n < 0 ? -1 : json_steps(path, "pre_tokenizer", pre, "pretokenizers", steps, err);
    for (int k = 0; k < m; k++) {
        const cJSON *step = steps[k];
        const cJSON *rep = json_get(step, "replacement"), *scheme = json_get(step, "prepend_scheme"), *add = json_get(step, "add_prefix_space");
        if (!json_type_is(step, "Metaspace") || !cJSON_IsString(rep) || strcmp(rep->valuestring, qh_tok_spm_space) != 0)
            return qh_fail(err, "%s: pre_tokenizer '%s' is not supported with a SentencePiece-style vocabulary (Metaspace with "
                           "U+2581 is)", path, json_type(step));
        *prefix = cJSON_IsString(scheme) ? strcmp(scheme->valuestring, "never") != 0 : !cJSON_IsFalse(add);
    }
    return n < 0 || m < 0 ? -1 : 0;
}

int qh_tokenizer_load_hf_json(const char *path, qh_tokenizer **out, qh_err *err)
{
    char *text = NULL, *scratch = NULL;
    size_t len;
    qh_tokenizer *tok = NULL;
    int rc = -1;
    if (qh_read_file(path, &text, &len, err) != 0) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *model = root ? json_get(root, "model") : NULL, *vocab = model ? json_get(model, "vocab") : NULL,
                *merges = model ? json_get(model, "merges") : NULL, *pre = root ? json_get(root, "pre_tokenizer") : NULL;
    if (!cJSON_IsObject(root)) {
        qh_fail(err, "%s: not a JSON object", path);
        goto cleanup;
    }
    if (!cJSON_IsObject(model) || !json_type_is(model, "BPE")) {
        qh_fail(err, "%s: model.type is '%s': qharness reads BPE tokenizers", path, model ? json_type(model) : "(no model)");
        goto cleanup;
    }
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        qh_fail(err, "%s: model.vocab must be an object and model.merges an array", path);
        goto cleanup;
    }
    /* what changes BPE itself: affixes on word pieces (CLIP's "</w>"), random dropout of merges */
    static const char *const unsupported[] = {"continuing_subword_prefix", "end_of_word_suffix", "dropout"};
    for (int k = 0; k < 3; k++) {
        const cJSON *o = json_get(model, unsupported[k]);
        if (o && !cJSON_IsNull(o) && !(cJSON_IsString(o) && !o->valuestring[0]) && !(cJSON_IsNumber(o) && o->valuedouble == 0)) {
            qh_fail(err, "%s: model.%s is set: qharness's BPE has no word affixes and no dropout", path, unsupported[k]);
            goto cleanup;
        }
    }
    int byte_level = 0;
    const cJSON *steps[16];
    int n_pre = json_steps(path, "pre_tokenizer", pre, "pretokenizers", steps, err);
    if (n_pre < 0) goto cleanup;
    for (int k = 0; k < n_pre; k++) {
        if (!json_type_is(steps[k], "ByteLevel")) continue;
        const cJSON *regex = json_get(steps[k], "use_regex"), *space = json_get(steps[k], "add_prefix_space");
        if (n_pre > 1 || cJSON_IsFalse(regex) || cJSON_IsTrue(space)) {
            qh_fail(err, "%s: pre_tokenizer: a ByteLevel step %s: qharness implements GPT-2's pre-tokenization only", path,
                    n_pre > 1 ? "in a Sequence (another split, e.g. Llama 3's regex)" : "without GPT-2's regex or with a prefix space");
            goto cleanup;
        }
        byte_level = 1;
    }
    const cJSON *norm = json_get(root, "normalizer");
    if (byte_level && norm && !cJSON_IsNull(norm)) {
        qh_fail(err, "%s: normalizer '%s' with a ByteLevel pre-tokenizer: GPT-2 has none, and qharness applies none", path, json_type(norm));
        goto cleanup;
    }
    const cJSON *added = json_get(root, "added_tokens"), *a;
    if (!cJSON_IsArray(added)) added = NULL;
    cJSON_ArrayForEach(a, added)
    {
        const cJSON *content = json_get(a, "content"), *id = json_get(a, "id"), *v = cJSON_IsString(content) ? json_get(vocab, content->valuestring) : NULL;
        if (!cJSON_IsNumber(id) || !cJSON_IsNumber(v) || v->valuedouble != id->valuedouble) {
            qh_fail(err, "%s: added_tokens: '%s' is not a token of model.vocab with the same id (special tokens outside the "
                    "vocabulary are not supported)", path, cJSON_IsString(content) ? content->valuestring : "?");
            goto cleanup;
        }
    }
    int n_merges = cJSON_GetArraySize(merges), i = 0;
    const cJSON *e;
    char where[4200];
    snprintf(where, sizeof where, "%s: model.vocab", path);
    if (byte_level) { /* GPT-2: the byte-to-unicode qh_tok_alphabet, as vocab.json + merges.txt */
        int inverse[512];
        qh_tok_alphabet(inverse);
        tok = qh_calloc(1, sizeof *tok);
        if (qh_tok_vocab_from_json(tok, where, vocab, inverse, err) != 0) goto cleanup;
        snprintf(where, sizeof where, "%s: model.merges", path);
        qh_u64map_init(&tok->merges, (size_t)n_merges + 16);
        cJSON_ArrayForEach(e, merges)
        {
            const char *ma, *mb;
            size_t la, lb;
            if (json_merge(path, e, i, &ma, &la, &mb, &lb, err) != 0) goto cleanup;
            scratch = qh_realloc(scratch, 2 * (la + lb + 2)); /* the "a b" line, then qh_tok_add_merge's bytes */
            char *line = scratch + la + lb + 2;
            memcpy(line, ma, la), line[la] = ' ', memcpy(line + la + 1, mb, lb);
            if (qh_tok_add_merge(tok, where, i, line, la + lb + 1, i, inverse, scratch, err) != 0) goto cleanup;
            i++;
        }
        qh_strmap_init(&tok->cache, 1 << 8);
        *out = tok;
        tok = NULL;
        rc = 0;
        goto cleanup;
    }
    const cJSON *fallback = json_get(model, "byte_fallback");
    int prefix;
    if (json_spm_steps(path, norm, pre, &prefix, err) != 0) goto cleanup;
    if (!cJSON_IsTrue(fallback)) {
        qh_fail(err, "%s: neither a ByteLevel pre-tokenizer (GPT-2) nor model.byte_fallback (SentencePiece-style)", path);
        goto cleanup;
    }
    int n = qh_tok_vocab_json_size(where, vocab, err);
    if (n < 0) goto cleanup;
    tok = qh_tok_spm_new(n);
    tok->add_space_prefix = prefix;
    tok->spm_ranked = 1;
    cJSON_ArrayForEach(e, vocab)
    {
        if (!e->string[0]) {
            qh_fail(err, "%s: token '' has no valid integer id", where);
            goto cleanup;
        }
        if (tok->token_bytes[e->valueint]) {
            qh_fail(err, "%s: id %d is used twice", where, e->valueint);
            goto cleanup;
        }
        qh_tok_spm_add_piece(tok, e->valueint, e->string, strlen(e->string), 0);
    }
    qh_u64map_init(&tok->merges, (size_t)n_merges + 16);
    cJSON_ArrayForEach(e, merges)
    {
        const char *ma, *mb;
        size_t la, lb;
        int ia, ib, iab;
        if (json_merge(path, e, i, &ma, &la, &mb, &lb, err) != 0) goto cleanup;
        scratch = qh_realloc(scratch, la + lb + 1);
        memcpy(scratch, ma, la), memcpy(scratch + la, mb, lb);
        if (!qh_strmap_get(&tok->vocab, ma, la, &ia) || !qh_strmap_get(&tok->vocab, mb, lb, &ib) ||
            !qh_strmap_get(&tok->vocab, scratch, la + lb, &iab)) {
            qh_fail(err, "%s: model.merges[%d] names tokens missing from model.vocab", path, i);
            goto cleanup;
        }
        uint64_t old;
        if (!qh_u64map_get(&tok->merges, qh_tok_pair_key(ia, ib), &old))
            qh_u64map_put(&tok->merges, qh_tok_pair_key(ia, ib), (uint64_t)i << 32 | (uint32_t)iab);
        i++;
    }
    int64_t bos;
    if (json_bos(path, json_get(root, "post_processor"), vocab, &bos, err) != 0) goto cleanup;
    rc = qh_tok_spm_finish(tok, path, bos, bos >= 0, out, err);
    tok = NULL; /* qh_tok_spm_finish frees it on failure */
cleanup:
    if (tok) qh_tokenizer_free(tok);
    free(scratch);
    cJSON_Delete(root);
    free(text);
    return rc;
}
