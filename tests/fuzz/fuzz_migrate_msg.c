/*
 * Fuzz target: what a migration reads from the host (docs/migration.md §2,
 * §5; src/sealing): the protocol's messages as `consortd --migrate` reads
 * them from files (offer, package, confirm, done: migrate_msg.c) and sealed
 * blobs (seal.c: cs_seal_peek, cs_unseal).
 *
 * Input: byte 0 mod 5 picks the parser, the rest is its input:
 *   0 offer, 1 package, 2 confirm, 3 done (verified under a fixed key),
 *   4 a sealed blob (peeked, then opened under a fixed root).
 * Checks beyond "no crash, no leak, no out-of-bounds access": a package
 * that parses encodes its header back to exactly its associated data (what
 * the AEAD authenticates is what was parsed); a blob that peeks and opens
 * gives the same header both ways.
 *
 * Seeds (corpus/migrate_msg): the messages of a real migration in the
 * sandbox (docs/migration.md §7) and a blob the sealing sample sealed.
 */
#include "crypto/key.h"
#include "sealing/migrate_priv.h"
#include "sealing/seal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t ROOT[32] = {0x51, 0x5e, 0xa1, 0x01};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1 << 20))
        return 0;
    static cs_key *key;
    if (key == NULL && cs_key_generate(CS_CURVE_P256, &key) != CONSORT_OK)
        abort();
    cs_slice in = CS_SLICE(data + 1, size - 1);
    switch (data[0] % 5) {
    case 0: {
        mig_offer o;
        if (mig_offer_parse(in, &o) == CONSORT_OK && o.evidence.len > in.len)
            abort(); /* a slice of the input cannot be longer than it */
        break;
    }
    case 1: {
        mig_package p;
        if (mig_package_parse(in, &p) == CONSORT_OK) {
            cs_buf again;
            cs_buf_init(&again, 0);
            if (mig_package_header(&p, &again) != CONSORT_OK ||
                !cs_slice_eq(cs_buf_slice(&again), p.aad))
                abort(); /* the authenticated bytes are not what was parsed */
            cs_buf_cleanup(&again);
        }
        break;
    }
    case 2: {
        mig_confirm c;
        cs_key *transfer = NULL;
        if (mig_confirm_parse(in, &c, &transfer) == CONSORT_OK)
            cs_key_free(transfer);
        break;
    }
    case 3: {
        static const uint8_t id_s[MIG_ID_LEN] = {1}, id_d[MIG_ID_LEN] = {2};
        if (mig_done_verify(in, id_s, id_d, key) == CONSORT_OK)
            abort(); /* a done no holder of `key` signed cannot verify */
        break;
    }
    default: {
        cs_seal_header peeked, opened;
        if (cs_seal_peek(in, &peeked) != CONSORT_OK)
            break;
        uint8_t code[32];
        memcpy(code, peeked.sealer_code_id, 32);
        const cs_seal_opener o = {.code_id = code};
        cs_buf plain;
        cs_buf_init_secret(&plain, 0);
        if (cs_unseal(ROOT, &o, in, &opened, &plain) == CONSORT_OK &&
            (opened.policy != peeked.policy || opened.counter_value != peeked.counter_value ||
             memcmp(opened.sealer_code_id, peeked.sealer_code_id, 32) != 0))
            abort(); /* the header read two ways differs */
        cs_buf_cleanup(&plain);
        break;
    }
    }
    cs_err_clear();
    return 0;
}
