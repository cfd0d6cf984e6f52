/*
 * Internals of the KV store, shared by src/store/kv*.c only.
 *
 * Ownership in one paragraph: a key with its value lives in a reference-
 * counted kv_rec that is immutable once published. The store's map tables
 * hold one reference per present key; a transaction's read set holds a
 * reference to each record it read (so a borrowed value stays valid however
 * the store changes) and its write set holds the records it will publish;
 * the undo log holds the records that later writes displaced, until compact
 * frees them or rollback puts them back. Committing moves a write record into
 * a map table without copying it. Each map's committed index (kv_shadows)
 * holds a reference to the record each key written since the committed seqno
 * had at that seqno; a read-only transaction over the committed state holds
 * the records it returned.
 */
#ifndef CS_STORE_KV_PRIV_H
#define CS_STORE_KV_PRIV_H

#include "base/cbor.h"
#include "crypto/kv_siphash.h"
#include "crypto/lthash.h"
#include "store/kv.h"

/* ---- records (kv_table.c) ---- */

typedef struct kv_rec {
    uint64_t hash;    /* cs_kv_hash of the key under the store's seed */
    uint64_t version; /* store: seqno that wrote it; read set: version seen (0 = absent) */
    uint32_t refs;
    uint32_t klen; /* both at most CS_KV_REC_LEN_MAX (cs_kv_rec_new) */
    uint32_t vlen;
    bool present;   /* false: a removal (write set) or an absent key (read set) */
    uint8_t data[]; /* klen key bytes, then vlen value bytes */
} kv_rec;
/* One record per key is most of a store's memory (docs/kv.md "Memory"): its
 * header stays at 32 bytes, so a 72-byte key and value take one 112-byte
 * heap chunk, not 128. */
_Static_assert(sizeof(kv_rec) <= 32, "a KV record's header is at most 32 bytes");
#define CS_KV_REC_LEN_MAX UINT32_MAX

static inline cs_slice kv_rec_key(const kv_rec *r)
{
    return (cs_slice){r->data, r->klen};
}
static inline cs_slice kv_rec_value(const kv_rec *r)
{
    return (cs_slice){r->data + r->klen, r->vlen};
}

/* A record with one reference; `value` NULL makes a not-present record. */
CS_MUST_CHECK consort_err cs_kv_rec_new(uint64_t hash, cs_slice key, const cs_slice *value,
                                        kv_rec **out);
kv_rec *cs_kv_rec_ref(kv_rec *r);
/* Drops one reference; frees at zero. NULL is a no-op. */
void cs_kv_rec_unref(kv_rec *r);

/* Bytewise lexicographic order; a proper prefix sorts first. */
int cs_kv_bytes_cmp(cs_slice a, cs_slice b);

/* ---- slot arrays: open-addressing hash tables (kv_slots.c) ---- */

typedef struct kv_slot {
    uint64_t hash;
    kv_rec *rec; /* NULL = empty slot */
} kv_slot;

/* Slots live in chunks of at most KV_CHUNK_SLOTS; a chunk shared with a
 * pinned view (refs > 1) is copied before it is written. */
#define KV_CHUNK_SHIFT 10
#define KV_CHUNK_SLOTS ((size_t)1 << KV_CHUNK_SHIFT)

struct kv_slab;

typedef struct kv_chunk {
    size_t refs;          /* the array's, plus one per pinned view holding it */
    struct kv_slab *slab; /* a copy carved from a slab of spares, or NULL */
    unsigned char slots[];
} kv_chunk;

/* A spare: room for one chunk in a slab the pin allocated at once (the
 * memory is not touched until a copy is written there). */
typedef struct kv_spare {
    kv_chunk *chunk;
    struct kv_slab *slab;
} kv_spare;

/*
 * Open addressing over an array of slots of `size` bytes, each beginning
 * with a kv_slot (the map tables' slots, and the committed index's wider
 * ones): linear probing over a power-of-two array kept at most 3/4 full,
 * backward-shift deletion (no tombstones).
 */
typedef struct kv_slots {
    kv_chunk **chunks; /* NULL until the first reserve */
    size_t mask;       /* capacity - 1 (capacity is a power of two) */
    kv_spare *spare;   /* room for a copy per chunk shared with a view (cs_kv_slot_w) */
    size_t nspare;
} kv_slots;

static inline size_t kv_slots_cap(const kv_slots *a)
{
    return a->chunks != NULL ? a->mask + 1 : 0;
}
/* Slot i for reading (i below the capacity). */
static inline kv_slot *kv_slot_at(const kv_slots *a, size_t size, size_t i)
{
    return (kv_slot *)(void *)(a->chunks[i >> KV_CHUNK_SHIFT]->slots +
                               (i & (KV_CHUNK_SLOTS - 1)) * size);
}
/* Slot i for writing: copies its chunk first if a view shares it. */
void *cs_kv_slot_w(kv_slots *a, size_t size, size_t i);
/* The slot holding `key`, or the empty slot where it would go. */
size_t cs_kv_slots_probe(const kv_slots *a, size_t size, uint64_t hash, cs_slice key);
/* Room for `extra` more than `count` entries (a new array of twice the
 * size, rehashed, if needed). Unchanged on failure. */
CS_MUST_CHECK consort_err cs_kv_slots_reserve(kv_slots *a, size_t size, size_t count, size_t extra,
                                              const char *what);
/* The capacity for `extra` more than `count` entries: `cap` itself if they
 * fit at 3/4, else doubled until they do. NOMEM on overflow. */
CS_MUST_CHECK consort_err cs_kv_slots_grown_cap(size_t cap, size_t size, size_t count, size_t extra,
                                                const char *what, size_t *out);
/* The bytes cs_kv_slots_alloc maps for `cap` slots of `size` (0 on
 * overflow): what a table about to grow announces (cs_alloc_zeroed_pages_soon). */
size_t cs_kv_slots_bytes(size_t cap, size_t size);
/* *a = a new empty array of `cap` slots (a power of two). */
CS_MUST_CHECK consort_err cs_kv_slots_alloc(kv_slots *a, size_t size, size_t cap, const char *what);
/* Puts an entry whose key the array does not hold (needs room). */
void cs_kv_slots_insert(kv_slots *a, size_t size, const kv_slot *s);
/* Empties slot i, shifting later members of its probe run back. */
void cs_kv_slots_shift_out(kv_slots *a, size_t size, size_t i);
/* Releases the chunks and spares (not the records the slots point at). */
void cs_kv_slots_free(kv_slots *a);
/* For a pinned view: a new array of the chunks (one more reference each),
 * and a spare for each chunk this shares first. Unchanged on failure. */
CS_MUST_CHECK consort_err cs_kv_slots_share(kv_slots *a, size_t size, kv_chunk ***out, size_t *n);
/* No view holds any chunk any more: frees the spares. */
void cs_kv_slots_unshared(kv_slots *a);
/* How many page ranges of freed chunks were given back with madvise
 * (process-wide): a system call and a TLB shootdown each. */
uint64_t cs_kv_slots_advised(void);

/* ---- the map table: records keyed by key bytes (kv_table.c) ---- */

/*
 * A table grows incrementally: a new array of twice the slots takes every
 * new key, while each later change moves the next KV_GROW_STEP slots of the
 * previous array into it (lookups look in both), so no single write rehashes
 * the whole map on the store's thread (at 10M keys that took seconds).
 * Every key is in exactly one of the two arrays, and the previous array's
 * slots before `old_pos` are empty.
 */
#define KV_GROW_STEP 16

typedef struct kv_table {
    kv_slots slots; /* where new keys go */
    kv_slots old;   /* growing: the previous array (chunks NULL: not growing) */
    size_t old_pos;
    size_t count; /* records in both */
} kv_table;

static inline size_t cs_kv_table_cap(const kv_table *t)
{
    return kv_slots_cap(&t->slots) + kv_slots_cap(&t->old);
}
/* Record i of the table (NULL: empty), i below cs_kv_table_cap: the
 * slots of the array new keys go to, then those of the previous one. */
static inline kv_rec *cs_kv_table_rec(const kv_table *t, size_t i)
{
    size_t n = kv_slots_cap(&t->slots);
    if (i < n)
        return kv_slot_at(&t->slots, sizeof(kv_slot), i)->rec;
    return kv_slot_at(&t->old, sizeof(kv_slot), i - n)->rec;
}

void cs_kv_table_init(kv_table *t);
/* Unrefs every record and frees the slots. */
void cs_kv_table_cleanup(kv_table *t);
/* Makes room for `extra` more records; on failure the table holds the same
 * records (a growth still under way may have been finished). Tables never
 * shrink, so a record removed can always be put back. */
CS_MUST_CHECK consort_err cs_kv_table_reserve(kv_table *t, size_t extra);
kv_rec *cs_kv_table_find(const kv_table *t, uint64_t hash, cs_slice key);
/* Publishes `rec` (taking over the caller's reference) and returns the record
 * it displaced (its reference now the caller's), or NULL. Needs room: call
 * cs_kv_table_reserve(t, 1) first unless the key is known to be present. */
kv_rec *cs_kv_table_set(kv_table *t, kv_rec *rec);
/* Removes the key and returns its record (reference to the caller), or NULL. */
kv_rec *cs_kv_table_take(kv_table *t, uint64_t hash, cs_slice key);
/* A new array of the table's records sorted by key (no references taken;
 * free with cs_free). An empty table gives NULL and 0. */
CS_MUST_CHECK consort_err cs_kv_table_sorted(const kv_table *t, kv_rec ***out, size_t *n);
/* Sorts an array of records by key, in cs_kv_bytes_cmp order (kv_sort.c: a
 * radix sort for large arrays). */
void cs_kv_recs_sort(kv_rec **recs, size_t n);

/* ---- the committed index (kv_shadow.c; docs/kv.md "Committed reads") ----
 *
 * One per map: an entry for every key that an undo item after the store's
 * committed seqno changed (an uncommitted transaction wrote it), saying what
 * the key was at the committed seqno. Keys without an entry have not changed
 * since, so the map table holds their committed record. Invariants, with
 * C = committed seqno and L = last seqno:
 *
 *   - an entry exists iff at least one undo item with seqno in (C, L] changed
 *     the key, and `pending` counts those items (one per seqno at most);
 *   - `present`: the key existed at C, and `rec` is its record then; else
 *     `rec` is some record of the same key, kept only for its key bytes;
 *   - the entry holds one reference to `rec`.
 *
 * Commit and apply add (or count) an entry per key they change; set_committed
 * walks the undo items it passes, moving `rec` forward and dropping entries
 * whose last pending writer became committed; rollback uncounts the items it
 * undoes. Each is O(1) per undo item. Same table scheme as kv_table (linear
 * probing, backward-shift deletion, at most 3/4 full).
 */

typedef struct kv_shadow {
    uint64_t hash; /* hash and rec as in kv_slot (cs_kv_slots_*) */
    kv_rec *rec;   /* NULL = empty slot */
    size_t pending;
    bool present;
} kv_shadow;
_Static_assert(offsetof(kv_shadow, hash) == offsetof(kv_slot, hash) &&
                   offsetof(kv_shadow, rec) == offsetof(kv_slot, rec),
               "a kv_shadow begins with a kv_slot");

typedef struct kv_shadows {
    kv_slots slots;
    size_t count;
} kv_shadows;

void cs_kv_shadow_init(kv_shadows *t);
/* Unrefs every record and frees the slots. */
void cs_kv_shadow_cleanup(kv_shadows *t);
/* Room for `extra` more entries; on failure the table is unchanged. */
CS_MUST_CHECK consort_err cs_kv_shadow_reserve(kv_shadows *t, size_t extra);
/* The entry of `key`, or NULL. */
const kv_shadow *cs_kv_shadow_find(const kv_shadows *t, uint64_t hash, cs_slice key);
/* An uncommitted transaction changed a key from `old` to `new_rec` (NULL =
 * absent; not both): counts the change, creating the entry with `old` as the
 * committed record if the key had none. Needs room (cs_kv_shadow_reserve). */
void cs_kv_shadow_written(kv_shadows *t, kv_rec *old, kv_rec *new_rec);
/* The change of a key to `new_rec` (NULL = removed) at a seqno that just
 * became committed, `key` being any record of the key: uncounts it, and the
 * entry's committed record becomes `new_rec` (dropped when no change stays
 * pending). */
void cs_kv_shadow_committed(kv_shadows *t, const kv_rec *key, kv_rec *new_rec);
/* A change of a key undone by rollback: uncounts it (dropped at zero). */
void cs_kv_shadow_undone(kv_shadows *t, const kv_rec *key);

/* ---- maps and the store (kv_store.c) ---- */

typedef struct kv_map {
    uint8_t *name;
    size_t name_len;
    bool is_public;
    bool in_digest;     /* false for the map excluded from the state digest */
    kv_table table;     /* present keys only */
    kv_shadows shadow;  /* the committed index: keys changed after the committed seqno */
    uint64_t mod_count; /* bumped by every change, never restored: detects any change */
} kv_map;

static inline cs_slice kv_map_name(const kv_map *m)
{
    return (cs_slice){m->name, m->name_len};
}

/* Undo record: `map` went from `old` (NULL = key absent) to `new_rec` (NULL =
 * removed); the log owns `old` and only points at `new_rec`. An item whose
 * `old` and `new_rec` are both NULL says the transaction created `map`. */
typedef struct kv_undo_item {
    kv_map *map;
    kv_rec *old;
    kv_rec *new_rec;
} kv_undo_item;

typedef struct kv_undo_seg {
    uint64_t seqno;
    size_t first; /* index of its first item */
} kv_undo_seg;

typedef struct kv_undo {
    kv_undo_item *items;
    size_t nitems, items_cap;
    kv_undo_seg *segs;
    size_t nsegs, segs_cap;
    uint64_t floor; /* rollback may not go below this seqno */
} kv_undo;

struct cs_kv_store {
    uint8_t seed[CS_SIPHASH_KEY_LEN];
    cs_kv_limits limits;
    kv_map **maps; /* sorted by name, bytewise */
    size_t nmaps, maps_cap;
    uint64_t last_seqno;
    uint64_t committed_seqno; /* undo.floor <= committed_seqno <= last_seqno */
    uint64_t generation;      /* bumped by rollback and restore: open transactions go stale */
    uint64_t maps_epoch;      /* bumped whenever the set of map objects changes */
    kv_undo undo;
    cs_lthash digest; /* the state digest's LtHash of the present keys (kv_digest.c) */
    uint8_t excluded[CS_KV_MAP_NAME_MAX]; /* the map left out of it ... */
    size_t excluded_len;                  /* ... (0 = none) */
    /* pinned views (kv_snapshot.c) */
    cs_kv_pinned *pins; /* the live ones, linked */
    kv_rec **kept;      /* records rollback took out of tables while views lived */
    size_t nkept, kept_cap;
    bool closing; /* cs_kv_store_free ran: the last view's free frees the store */
};

/* ---- pinned views (kv_snapshot.c) ----
 *
 * A record a view's frozen chunks point at must outlive the view. Every
 * record there has version <= the view's horizon (the store's last seqno at
 * pin time) and was in a table then; a table lets go of a record only into
 * the undo log (apply), back out of it (rollback) or at the store's end. So:
 * compact drops undo items only up to cs_kv_pins_hold (the items made since
 * a view was pinned hold what the tables let go of), rollback gives the
 * records it takes out of tables to cs_kv_pins_drop (after
 * cs_kv_pins_reserve), restore refuses while a view lives, and
 * cs_kv_store_free leaves the store to the last view's free.
 */
/* The seqno after which every undo item was made while some live view
 * lived (UINT64_MAX: none): at most the oldest view's pin time, lowered by
 * a rollback below it (the seqnos after it are made again). */
uint64_t cs_kv_pins_hold(const cs_kv_store *s);
void cs_kv_pins_rolled_back(cs_kv_store *s, uint64_t to);
/* The newest live view's horizon (0: none). */
uint64_t cs_kv_pins_reach(const cs_kv_store *s);
/* Room to keep `n` more records for live views (nothing to do without any). */
CS_MUST_CHECK consort_err cs_kv_pins_reserve(cs_kv_store *s, size_t n);
/* Drops a table's reference to `r`, keeping it until the last view goes if
 * a view may point at it (room reserved by cs_kv_pins_reserve). */
void cs_kv_pins_drop(cs_kv_store *s, kv_rec *r);
/* The last view went (kv_store.c): frees kept records and spares, and the
 * store if it is closing. */
void cs_kv_pins_released(cs_kv_store *s);

static inline uint64_t cs_kv_hash(const cs_kv_store *s, cs_slice key)
{
    return cs_siphash24(s->seed, key);
}

/* The map called `name`, or NULL; *pos (optional) gets its sorted position. */
kv_map *cs_kv_map_find(const cs_kv_store *s, cs_slice name, size_t *pos);
/* A new empty map for store `s` (not inserted yet; in the state digest
 * unless it is the excluded map); the name must have been checked. */
CS_MUST_CHECK consort_err cs_kv_map_new(const cs_kv_store *s, cs_slice name, kv_map **out);
void cs_kv_map_free(kv_map *m);
/* Inserts a map at sorted position `pos`; needs maps_cap > nmaps. */
void cs_kv_store_insert_map(cs_kv_store *s, kv_map *m, size_t pos);
CS_MUST_CHECK consort_err cs_kv_store_reserve_maps(cs_kv_store *s, size_t extra);

/* Writes a printable rendering of `s` (escaped, truncated) into buf[cap]. */
const char *cs_kv_fmt(cs_slice s, char *buf, size_t cap);
#define CS_KV_FMT_MAX 100

/* ---- transactions (kv_tx.c; commit in kv_apply.c) ---- */

/* What one transaction did to one map. */
typedef struct kv_txmap {
    uint8_t *name;
    size_t name_len;
    kv_map *map;        /* cached store map (NULL = none) ... */
    uint64_t map_epoch; /* ... valid while the store's maps_epoch equals this */
    kv_table reads;     /* records read from the store (absent keys as not-present records) */
    kv_table writes;    /* buffered puts and removals */
    bool scanned;       /* cs_kv_foreach ran: the whole map counts as read ... */
    uint64_t scan_mod;  /* ... at this mod_count (0 if the map did not exist) */
} kv_txmap;

struct cs_kv_tx {
    cs_kv_store *store;
    uint64_t generation; /* the store's generation at begin */
    kv_txmap **maps;     /* sorted by name */
    size_t nmaps, maps_cap;
    size_t last; /* index of the map used last (a cheap cache) */
    bool committed;
    /* A read-only transaction over the committed state (kv_committed.c):
     * `reads` holds the record each get returned last per key, `kept` the
     * ones it returned before that (borrowed values stay valid). */
    bool view;
    kv_rec **kept;
    size_t nkept, kept_cap;
};

static inline cs_slice kv_txmap_name(const kv_txmap *tm)
{
    return (cs_slice){tm->name, tm->name_len};
}

/* The transaction's record of map `name`, created on first use (the name is
 * checked then). Errors: INVALID_ARGUMENT, NOMEM. */
CS_MUST_CHECK consort_err cs_kv_tx_map(cs_kv_tx *tx, cs_slice name, kv_txmap **out);
/* The store's current map for a transaction map, or NULL. */
kv_map *cs_kv_tx_store_map(const cs_kv_tx *tx, kv_txmap *tm);
/* STATE if the transaction has committed. */
CS_MUST_CHECK consort_err cs_kv_tx_check_open(const cs_kv_tx *tx, const char *op);
/* STATE if the transaction is a read-only view of the committed state. */
CS_MUST_CHECK consort_err cs_kv_tx_check_writable(const cs_kv_tx *tx, const char *op);

/* ---- reads over the committed state (kv_committed.c) ---- */

/* cs_kv_get and cs_kv_foreach for a view transaction (tx->view), after the
 * common checks. */
CS_MUST_CHECK consort_err cs_kv_view_get(cs_kv_tx *tx, kv_txmap *tm, uint64_t hash, cs_slice key,
                                         cs_slice *value, bool *found);
CS_MUST_CHECK consort_err cs_kv_view_foreach(cs_kv_tx *tx, kv_txmap *tm, cs_kv_visit_cb cb,
                                             void *ctx);

/* ---- batches: the writes of one transaction, sorted (kv_apply.c) ---- */

typedef struct kv_write {
    cs_slice name; /* borrowed from the transaction or the decoded input */
    kv_map *map;   /* the store's map, or a new one while preparing */
    kv_rec *rec;   /* one reference owned by the batch (present = put) */
} kv_write;

typedef struct kv_batch {
    kv_write *w;
    size_t n, cap;
    kv_map **new_maps; /* created by prepare, owned by the batch until applied */
    size_t n_new;
} kv_batch;

void cs_kv_batch_init(kv_batch *b);
void cs_kv_batch_cleanup(kv_batch *b);
/* Appends a write, taking over the caller's reference to `rec` (also on failure). */
CS_MUST_CHECK consort_err cs_kv_batch_push(kv_batch *b, cs_slice name, kv_rec *rec);
/* Applies a batch sorted by (name, key) as `seqno`: every allocation happens
 * before the store changes, so on failure the store is unchanged; on success
 * the batch's records belong to the store. */
CS_MUST_CHECK consort_err cs_kv_batch_apply(cs_kv_store *s, kv_batch *b, uint64_t seqno);

/* ---- write-set codec (kv_wscodec.c) ---- */

/* Appends the canonical encoding of the batch's public or private writes. */
CS_MUST_CHECK consort_err cs_kv_ws_encode(const kv_batch *b, bool public_set, cs_buf *out);

/* ---- undo log (kv_undo.c) ---- */

/* Undo items cs_kv_compact frees per call at most (whole seqnos; one seqno
 * even if larger): ~10 ms of freeing records. */
#define KV_COMPACT_STEP 65536

void cs_kv_undo_cleanup(kv_undo *u);
CS_MUST_CHECK consort_err cs_kv_undo_reserve(kv_undo *u, size_t items);
/* Infallible after cs_kv_undo_reserve. */
void cs_kv_undo_push(kv_undo *u, kv_map *map, kv_rec *old, kv_rec *new_rec);
void cs_kv_undo_begin_seg(kv_undo *u, uint64_t seqno);
/* Index of the first item of a seqno after `seqno` (nitems if none);
 * `seqno` must be >= the floor. O(1): one segment per seqno. */
size_t cs_kv_undo_first_after(const kv_undo *u, uint64_t seqno);

/* ---- the state digest (kv_digest.c; docs/kv.md "State digest") ---- */

/* Adds to / removes from `h` the element of key `r` of map `m` with version
 * `version` (a put's record gets its version only when published). A no-op
 * for the excluded map. CRYPTO; `h` is unchanged on failure. */
CS_MUST_CHECK consort_err cs_kv_digest_add(cs_lthash *h, const kv_map *m, const kv_rec *r,
                                           uint64_t version);
CS_MUST_CHECK consort_err cs_kv_digest_sub(cs_lthash *h, const kv_map *m, const kv_rec *r,
                                           uint64_t version);
/* The LtHash of every present key of `maps` (the one scan: restore). */
CS_MUST_CHECK consort_err cs_kv_digest_maps(kv_map *const *maps, size_t n, cs_lthash *out);

/* ---- strict canonical CBOR (kv_wscodec.c) ---- */

/* Reads an item of type `want` that must be in shortest form (RFC 8949
 * §4.2.1); `what` names it in errors. Strings must fit the input. */
CS_MUST_CHECK consort_err cs_kv_cbor_next(cs_cbor_reader *r, cs_cbor_type want, const char *what,
                                          cs_cbor_item *it);
/* A count (array or map) that cannot exceed the bytes left. */
CS_MUST_CHECK consort_err cs_kv_cbor_count(cs_cbor_reader *r, cs_cbor_type want, const char *what,
                                           uint64_t *count);
/* Map name check for decoders: MALFORMED instead of INVALID_ARGUMENT. */
CS_MUST_CHECK consort_err cs_kv_decode_map_name(cs_slice name, size_t offset);

/* Limits with defaults filled in. */
cs_kv_limits cs_kv_limits_resolve(const cs_kv_limits *in);

#endif
