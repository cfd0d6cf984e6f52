/*
 * The committed index of a map (kv_priv.h "the committed index"): for every
 * key changed after the store's committed seqno, its record at that seqno and
 * how many uncommitted changes of it are pending.
 *
 * The table is a slot array (kv_slots.c) with wider slots. Entries are only added by commit and
 * apply, after cs_kv_shadow_reserve; set_committed and rollback only update and remove them, so
 * they never allocate. A table whose last entry goes is freed if it grew large, so a burst of
 * uncommitted writes does not pin memory.
 */
#include "store/kv_priv.h"

#include "base/alloc.h"

#include <string.h>

/* An emptied table above this many slots gives its memory back. */
#define SHADOW_KEEP_CAP 256

/* Entry i (the committed index is never shared with a view: every chunk is
 * the table's own, so slots are written in place). */
static kv_shadow *at(const kv_shadows *t, size_t i)
{
    return (kv_shadow *)(void *)kv_slot_at(&t->slots, sizeof(kv_shadow), i);
}

void cs_kv_shadow_init(kv_shadows *t)
{
    *t = (kv_shadows){0};
}

void cs_kv_shadow_cleanup(kv_shadows *t)
{
    for (size_t i = 0; i < kv_slots_cap(&t->slots); i++)
        cs_kv_rec_unref(at(t, i)->rec);
    cs_kv_slots_free(&t->slots);
    cs_kv_shadow_init(t);
}

static size_t probe(const kv_shadows *t, uint64_t hash, cs_slice key)
{
    return cs_kv_slots_probe(&t->slots, sizeof(kv_shadow), hash, key);
}

consort_err cs_kv_shadow_reserve(kv_shadows *t, size_t extra)
{
    return cs_kv_slots_reserve(&t->slots, sizeof(kv_shadow), t->count, extra, "KV committed index");
}

const kv_shadow *cs_kv_shadow_find(const kv_shadows *t, uint64_t hash, cs_slice key)
{
    if (t->count == 0)
        return NULL;
    const kv_shadow *sh = at(t, probe(t, hash, key));
    return sh->rec != NULL ? sh : NULL;
}

/* Drops the entry in slot i and its reference. */
static void take(kv_shadows *t, size_t i)
{
    cs_kv_rec_unref(at(t, i)->rec);
    t->count--;
    cs_kv_slots_shift_out(&t->slots, sizeof(kv_shadow), i);
    if (t->count == 0 && kv_slots_cap(&t->slots) > SHADOW_KEEP_CAP) {
        cs_kv_slots_free(&t->slots);
        cs_kv_shadow_init(t);
    }
}

void cs_kv_shadow_written(kv_shadows *t, kv_rec *old, kv_rec *new_rec)
{
    const kv_rec *key = old != NULL ? old : new_rec;
    size_t i = probe(t, key->hash, kv_rec_key(key));
    kv_shadow *sh = at(t, i);
    if (sh->rec != NULL) {
        sh->pending++; /* an earlier pending change saved the committed record */
        return;
    }
    /* the first pending change: what it displaced is the committed record
     * (absent: keep the new record for its key bytes) */
    *sh = (kv_shadow){.hash = key->hash,
                      .rec = cs_kv_rec_ref(old != NULL ? old : new_rec),
                      .pending = 1,
                      .present = old != NULL};
    t->count++;
}

/* The slot of a key that must have an entry (the undo log names it), or
 * SIZE_MAX if it has none, which the invariants rule out. */
static size_t slot_of(const kv_shadows *t, const kv_rec *key)
{
    if (t->count == 0)
        return SIZE_MAX;
    size_t i = probe(t, key->hash, kv_rec_key(key));
    return at(t, i)->rec != NULL ? i : SIZE_MAX;
}

void cs_kv_shadow_committed(kv_shadows *t, const kv_rec *key, kv_rec *new_rec)
{
    size_t i = slot_of(t, key);
    if (i == SIZE_MAX)
        return;
    kv_shadow *sh = at(t, i);
    if (--sh->pending == 0) {
        take(t, i); /* no pending change left: the map table is the committed state */
        return;
    }
    if (new_rec != NULL) {
        cs_kv_rec_unref(sh->rec);
        sh->rec = cs_kv_rec_ref(new_rec);
        sh->present = true;
    } else {
        sh->present = false; /* removed: the old record stays for its key bytes */
    }
}

void cs_kv_shadow_undone(kv_shadows *t, const kv_rec *key)
{
    size_t i = slot_of(t, key);
    if (i != SIZE_MAX && --at(t, i)->pending == 0)
        take(t, i);
}
