#include "crypto/kv_siphash.h"

/* Written from the SipHash paper (§2): c = 2 compression rounds per message
 * word, d = 4 finalisation rounds, little-endian words, the last word padded
 * with zeros and carrying the input length mod 256 in its top byte. */

static inline uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

typedef struct sip_state {
    uint64_t v0, v1, v2, v3;
} sip_state;

static inline void sip_round(sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl(s->v2, 32);
}

static inline void sip_compress(sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

uint64_t cs_siphash24(const uint8_t key[CS_SIPHASH_KEY_LEN], cs_slice in)
{
    uint64_t k0 = load_le64(key);
    uint64_t k1 = load_le64(key + 8);
    /* SipHash §2 "Initialization": the constants spell "somepseudorandomlygeneratedbytes" */
    sip_state s = {
        .v0 = k0 ^ 0x736f6d6570736575ULL,
        .v1 = k1 ^ 0x646f72616e646f6dULL,
        .v2 = k0 ^ 0x6c7967656e657261ULL,
        .v3 = k1 ^ 0x7465646279746573ULL,
    };
    size_t whole = in.len & ~(size_t)7;
    for (size_t off = 0; off < whole; off += 8)
        sip_compress(&s, load_le64(in.ptr + off));

    uint64_t last = (uint64_t)(in.len & 0xff) << 56;
    for (size_t i = 0; i < (in.len & 7); i++)
        last |= (uint64_t)in.ptr[whole + i] << (8 * i);
    sip_compress(&s, last);

    /* SipHash §2 "Finalization" */
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
