/* rangecoder.h - an adaptive binary range coder (the LZMA kind: 11-bit probabilities, carry
 * propagation through a cached byte), for the streams a method compresses below its plain
 * bit width: BiLLM's group bitmap, entropy-coded indices.  Each probability adapts as it codes
 * (p += (1 - p) / 32 per bit), so a stream needs no stored frequency table; a method chooses
 * which probability (context) codes each bit, and decode must choose the same.
 * Decoding is strict: a stream that ends early, or has bytes left over, is an error. */
#ifndef QH_METHODS_RANGECODER_H
#define QH_METHODS_RANGECODER_H

#include <stddef.h>
#include <stdint.h>

#define QH_RC_PROB_BITS 11
#define QH_RC_PROB_INIT (1u << (QH_RC_PROB_BITS - 1)) /* p(0) = 1/2 */

typedef uint16_t qh_rc_prob; /* probability of a 0, in units of 2^-11 */

typedef struct {
    uint64_t low;
    uint32_t range;
    uint8_t cache;
    size_t cache_size;
    uint8_t *buf;
    size_t len, cap;
} qh_rc_encoder;

typedef struct {
    uint32_t range, code;
    const uint8_t *buf;
    size_t len, pos;
    int overrun; /* bytes wanted past the end */
} qh_rc_decoder;

void qh_rc_probs_init(qh_rc_prob *p, size_t n);
void qh_rc_encoder_init(qh_rc_encoder *e);
void qh_rc_encode_bit(qh_rc_encoder *e, qh_rc_prob *p, int bit);
/* Flushes; the stream is e->buf[0 .. e->len) (malloc'd, the caller frees it). */
void qh_rc_encoder_finish(qh_rc_encoder *e);
/* n-bit symbols, most significant bit first, through a binary tree of 2^n - 1 probabilities. */
void qh_rc_encode_tree(qh_rc_encoder *e, qh_rc_prob *tree, int nbits, unsigned symbol);

void qh_rc_decoder_init(qh_rc_decoder *d, const uint8_t *buf, size_t len);
int qh_rc_decode_bit(qh_rc_decoder *d, qh_rc_prob *p);
unsigned qh_rc_decode_tree(qh_rc_decoder *d, qh_rc_prob *tree, int nbits);
/* 0 when the stream was read exactly to its end; else -1 (truncated or with trailing bytes). */
int qh_rc_decoder_check(const qh_rc_decoder *d);

#endif
