/* tok_llama2c.c - llama2.c's tokenizer.bin: a SentencePiece vocabulary of pieces and scores. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/tokenizer_impl.h"

int qh_tokenizer_load_llama2c(const char *path, qh_tokenizer **out, qh_err *err)
{
    char *data;
    size_t len;
    if (qh_read_file(path, &data, &len, err) != 0) return -1;
    /* u32 longest token; per token: f32 score, u32 length, the bytes (spaces as ' ') */
    uint32_t max_len = 0;
    size_t at = 4;
    int n = 0;
    if (len >= 4) memcpy(&max_len, data, 4);
    if (len < 4 || max_len == 0 || max_len > 65536) {
        free(data);
        return qh_fail(err, "%s: byte 0: not a llama2.c tokenizer (longest token %u)", path, max_len);
    }
    for (; at < len; n++) { /* count and check first */
        uint32_t tl;
        float sc;
        if (len - at < 8 || (memcpy(&sc, data + at, 4), memcpy(&tl, data + at + 4, 4), tl > max_len) || len - at - 8 < tl ||
            !isfinite(sc) || n == (1 << 24)) {
            qh_fail(err, "%s: byte %zu: token %d is truncated or longer than the %u bytes the header allows", path, at, n,
                    max_len);
            free(data);
            return -1;
        }
        at += 8 + tl;
    }
    if (n < 3) {
        free(data);
        return qh_fail(err, "%s: %d tokens (a llama2.c vocabulary has <unk>, <s>, </s> and the byte fallbacks)", path, n);
    }
    qh_tokenizer *tok = qh_tok_spm_new(n);
    char *piece = qh_malloc(3 * (size_t)max_len + 1);
    at = 4;
    for (int i = 0; i < n; i++) {
        uint32_t tl;
        float sc;
        memcpy(&sc, data + at, 4);
        memcpy(&tl, data + at + 4, 4);
        const char *t = data + at + 8;
        at += 8 + tl;
        size_t pl = 0;
        /* llama2.c's export wrote "\n<s>\n" and "\n</s>\n" for BOS and EOS, and ' ' for U+2581 */
        if (i <= 2 && tl >= 2 && t[0] == '\n' && t[tl - 1] == '\n') t++, tl -= 2;
        for (uint32_t k = 0; k < tl; k++)
            if (t[k] == ' ') memcpy(piece + pl, qh_tok_spm_space, 3), pl += 3;
            else piece[pl++] = t[k];
        qh_tok_spm_add_piece(tok, i, piece, pl, sc);
    }
    free(piece);
    free(data);
    return qh_tok_spm_finish(tok, path, 1, 1, out, err); /* run.c encodes with the BOS, id 1 */
}
