/* rangecoder.c - the adaptive binary range coder of rangecoder.h.  Written from the
 * description of LZMA's coder: a 32-bit range split at bound = (range >> 11) * p(0); the low
 * end is 64 bits wide so that a carry out of the 32 bits already settled can be added to the
 * byte held back (cache) and to the 0xFF bytes pending behind it. */
#include "methods/rangecoder.h"

#include <stdlib.h>
#include <string.h>

#include "harness/base/util.h"

#define TOP (1u << 24)
#define ADAPT 5 /* p moves 1/32 of the way to the bit just coded */

void qh_rc_probs_init(qh_rc_prob *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = QH_RC_PROB_INIT;
}

static void put_byte(qh_rc_encoder *e, uint8_t b)
{
    if (e->len == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 256;
        e->buf = qh_realloc(e->buf, e->cap);
    }
    e->buf[e->len++] = b;
}

static void shift_low(qh_rc_encoder *e)
{
    if ((uint32_t)e->low < 0xFF000000u || (e->low >> 32) != 0) {
        uint8_t carry = (uint8_t)(e->low >> 32), held = e->cache;
        do {
            put_byte(e, (uint8_t)(held + carry));
            held = 0xFF;
        } while (--e->cache_size != 0);
        e->cache = (uint8_t)(e->low >> 24);
    }
    e->cache_size++;
    e->low = (e->low & 0x00FFFFFFu) << 8;
}

void qh_rc_encoder_init(qh_rc_encoder *e)
{
    memset(e, 0, sizeof *e);
    e->range = 0xFFFFFFFFu;
    e->cache_size = 1;
}

void qh_rc_encode_bit(qh_rc_encoder *e, qh_rc_prob *p, int bit)
{
    uint32_t bound = (e->range >> QH_RC_PROB_BITS) * *p;
    if (!bit) {
        e->range = bound;
        *p += ((1u << QH_RC_PROB_BITS) - *p) >> ADAPT;
    } else {
        e->low += bound;
        e->range -= bound;
        *p -= *p >> ADAPT;
    }
    while (e->range < TOP) {
        e->range <<= 8;
        shift_low(e);
    }
}

void qh_rc_encoder_finish(qh_rc_encoder *e)
{
    for (int i = 0; i < 5; i++) shift_low(e);
}

void qh_rc_encode_tree(qh_rc_encoder *e, qh_rc_prob *tree, int nbits, unsigned symbol)
{
    unsigned node = 1;
    for (int b = nbits - 1; b >= 0; b--) {
        int bit = (symbol >> b) & 1;
        qh_rc_encode_bit(e, &tree[node - 1], bit);
        node = 2 * node + (unsigned)bit;
    }
}

static uint8_t next_byte(qh_rc_decoder *d)
{
    if (d->pos < d->len) return d->buf[d->pos++];
    d->overrun = 1;
    return 0;
}

void qh_rc_decoder_init(qh_rc_decoder *d, const uint8_t *buf, size_t len)
{
    memset(d, 0, sizeof *d);
    d->buf = buf;
    d->len = len;
    d->range = 0xFFFFFFFFu;
    for (int i = 0; i < 5; i++) d->code = (d->code << 8) | next_byte(d);
}

int qh_rc_decode_bit(qh_rc_decoder *d, qh_rc_prob *p)
{
    uint32_t bound = (d->range >> QH_RC_PROB_BITS) * *p;
    int bit;
    if (d->code < bound) {
        d->range = bound;
        *p += ((1u << QH_RC_PROB_BITS) - *p) >> ADAPT;
        bit = 0;
    } else {
        d->code -= bound;
        d->range -= bound;
        *p -= *p >> ADAPT;
        bit = 1;
    }
    while (d->range < TOP) {
        d->range <<= 8;
        d->code = (d->code << 8) | next_byte(d);
    }
    return bit;
}

unsigned qh_rc_decode_tree(qh_rc_decoder *d, qh_rc_prob *tree, int nbits)
{
    unsigned node = 1;
    for (int b = 0; b < nbits; b++) node = 2 * node + (unsigned)qh_rc_decode_bit(d, &tree[node - 1]);
    return node - (1u << nbits);
}

int qh_rc_decoder_check(const qh_rc_decoder *d) { return d->overrun || d->pos != d->len ? -1 : 0; }
