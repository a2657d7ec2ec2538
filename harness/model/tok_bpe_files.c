/* tok_bpe_files.c - GPT-2's vocab.json + merges.txt (and encoder.json + vocab.bpe): a byte-level BPE vocabulary. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/tokenizer_impl.h"

int qh_tok_vocab_json_size(const char *source, const cJSON *root, qh_err *err)
{
    if (!cJSON_IsObject(root)) return qh_fail(err, "%s: vocabulary is not a valid JSON object", source);
    int n = cJSON_GetArraySize(root), max_id = -1;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble >= 1e7 ||
            item->valuedouble != (int)item->valuedouble)
            return qh_fail(err, "%s: token '%s' has no valid integer id", source, item->string);
        if (item->valueint > max_id) max_id = item->valueint;
    }
    if (n == 0 || max_id + 1 != n)
        return qh_fail(err, "%s: vocabulary ids must be 0..%d without gaps (largest id is %d)", source, n - 1, max_id);
    return n;
}

int qh_tok_vocab_from_json(qh_tokenizer *tok, const char *source, const cJSON *root, const int inverse[512], qh_err *err)
{
    int n = qh_tok_vocab_json_size(source, root, err);
    if (n < 0) return -1;
    const cJSON *item;
    qh_tok_vocab_init(tok, n);
    cJSON_ArrayForEach(item, root)
    {
        if (qh_tok_add_token(tok, source, item->string, strlen(item->string), item->valueint, inverse, err) != 0) return -1;
    }
    return qh_tok_check_byte_tokens(tok, source, 0, err);
}

static int load_vocab(qh_tokenizer *tok, const char *path, const int inverse[512], qh_err *err)
{
    char *text = NULL;
    size_t len;
    if (qh_read_file(path, &text, &len, err) != 0) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    int rc = root ? qh_tok_vocab_from_json(tok, path, root, inverse, err)
                  : qh_fail(err, "%s: vocabulary is not a valid JSON object", path);
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* The merge "A B" (ll bytes) of the given rank; where names its place in messages
 * ("merges.txt:12", "file.gguf: tokenizer.ggml.merges[11]").  scratch holds ll bytes. */
static int load_merges(qh_tokenizer *tok, const char *path, const int inverse[512], qh_err *err)
{
    char *text = NULL;
    size_t len;
    if (qh_read_file(path, &text, &len, err) != 0) return -1;
    qh_u64map_init(&tok->merges, len / 8 + 16); /* a merge line is at least 4 bytes; the map grows */
    char *bytes = qh_malloc(len + 1);
    int rank = 0, line_no = 0, rc = -1;
    char *line = text;
    while (line < text + len) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) end = text + len;
        line_no++;
        size_t ll = (size_t)(end - line);
        if (ll && line[ll - 1] == '\r') ll--;
        if (ll == 0 || (line_no == 1 && strncmp(line, "#version", 8) == 0)) {
            line = end + 1;
            continue;
        }
        if (qh_tok_add_merge(tok, path, line_no, line, ll, rank, inverse, bytes, err) != 0) goto cleanup;
        rank++;
        line = end + 1;
    }
    if (rank == 0) {
        qh_fail(err, "%s: no merges", path);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(bytes);
    free(text);
    return rc;
}

int qh_tokenizer_load(const char *vocab_path, const char *merges_path, qh_tokenizer **out, qh_err *err)
{
    int inverse[512];
    qh_tok_alphabet(inverse);
    qh_tokenizer *tok = qh_calloc(1, sizeof *tok);
    if (load_vocab(tok, vocab_path, inverse, err) != 0 || load_merges(tok, merges_path, inverse, err) != 0) {
        qh_tokenizer_free(tok);
        return -1;
    }
    qh_strmap_init(&tok->cache, 1 << 8); /* grows with the text */
    *out = tok;
    return 0;
}
