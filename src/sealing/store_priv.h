/* The sealed store's parts (store.h), for src/sealing/store*.c and migrate*.c only. */
#ifndef CS_SEALING_STORE_PRIV_H
#define CS_SEALING_STORE_PRIV_H

#include "sealing/store.h"

#define STORE_PATH_MAX 4096

typedef struct store_counter {
    char name[CS_SEAL_MAX_COUNTER_NAME + 1];
    uint64_t value;
} store_counter;

/* Migration facts kept durably (docs/migration.md §5); empty buffers when
 * not in use. */
typedef struct store_migration {
    cs_buf eph_key;        /* source FROZEN/RETIRED: its ephemeral key, PKCS#8 PEM (secret) */
    cs_buf transfer_key;   /* destination PENDING: its transfer key, PKCS#8 PEM (secret) */
    cs_buf source_eph;     /* destination PENDING: the source's ephemeral key, SPKI DER */
    cs_buf package_digest; /* destination PENDING: SHA-256 of the package (32) */
    cs_buf confirm_tag;    /* destination PENDING: the source's tag to echo in confirm (32) */
} store_migration;

/* What the plaintext of store.bin holds (store_codec.c). */
typedef struct store_content {
    uint8_t instance_id[CS_SEALSTORE_ID_LEN];
    cs_sealstore_state state;
    uint8_t peer_id[CS_SEALSTORE_ID_LEN]; /* RETIRED: destination, PENDING: source */
    uint8_t smk[32];
    store_counter *counters; /* sorted by name */
    size_t counter_count;
    cs_code_id ancestors[CS_SEALSTORE_MAX_ANCESTORS];
    size_t ancestor_count;
    cs_buf payload;
    store_migration mig;
} store_content;

struct cs_sealstore {
    char dir[STORE_PATH_MAX];
    cs_sealstore_keys keys;
    cs_anchor *anchor; /* borrowed */
    uint64_t bound;    /* the anchor value the durable state is bound to */
    cs_code_id successors[CS_SEAL_MAX_SUCCESSORS];
    size_t successor_count;
    store_content c;
    bool broken;                  /* a commit failed: reopen */
    cs_seal_keycache *lineage_kc; /* root = keys.lineage_root (store.bin) */
    cs_seal_keycache *smk_kc;     /* root = SMK (application blobs) */
};

/* store_codec.c */
void store_content_init(store_content *c);
void store_content_cleanup(store_content *c);
CS_MUST_CHECK consort_err store_content_encode(const store_content *c, cs_buf *out);
CS_MUST_CHECK consort_err store_content_decode(cs_slice in, store_content *c);
/* The counter called `name`, or NULL; *insert_at receives where it would go. */
store_counter *store_counter_find(const store_content *c, const char *name, size_t *insert_at);
/* INVALID_ARGUMENT unless `name` is 1-64 printable ASCII bytes and not reserved. */
CS_MUST_CHECK consort_err store_counter_name_check(const char *name);
/* Finds or adds (value 0) the counter `name`: TOO_LARGE past the limit. */
CS_MUST_CHECK consort_err store_counter_get(store_content *c, const char *name,
                                            store_counter **out);

/* store_file.c */
/* The crash-injection point before a durable step (store.h
 * cs_sealstore_test_crash_at); CONSORT_OK unless armed for this one. */
CS_MUST_CHECK consort_err store_durable_step(const char *what);
/* Seals the handle's content bound to bound + 1 and makes it durable
 * (store.h, the three steps); marks the handle broken on any failure. */
CS_MUST_CHECK consort_err store_commit(cs_sealstore *s);
/* Reads the store of s->dir bound to the anchor (or to anchor + 1, rolling
 * it forward) into s->c, s->successors, s->bound; *sealer receives the
 * code id that sealed it. */
CS_MUST_CHECK consort_err store_load(cs_sealstore *s, uint8_t sealer[CS_SEAL_CODE_ID_LEN]);
/* True if dir holds store.bin or store.next. */
bool store_exists(const char *dir);

/* store.c */
/* A handle on `dir` with no content yet (keys copied, key caches made). */
CS_MUST_CHECK consort_err store_handle_new(const char *dir, const cs_sealstore_keys *keys,
                                           cs_anchor *anchor, cs_sealstore **out);
/* Makes the SMK key cache (after the SMK is known). */
CS_MUST_CHECK consort_err store_smk_ready(cs_sealstore *s);
/* Fails (STATE) if the handle is broken, FROZEN unless the state is LIVE. */
CS_MUST_CHECK consort_err store_need_live(const cs_sealstore *s, const char *what);
CS_MUST_CHECK consort_err store_need_usable(const cs_sealstore *s, const char *what);

#endif
