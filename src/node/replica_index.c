/*
 * What the node remembers per seqno, in memory: the term of every entry (as
 * runs of equal terms: terms change rarely), where each entry of its own
 * ledger lies (chunk and frame offset: 8 bytes per entry), and the seqnos
 * of signature entries (receipts need the first signature after a
 * transaction). Rebuilt from the ledger at start (replica_recover.c).
 *
 * Ledger positions mirror the writer's rule (docs/ledger.md §5.1 "Frames and names": a
 * chunk is closed at the first signature entry after it reaches
 * chunk_size bytes). Reading checks the entry found is the one wanted and
 * falls back to scanning the chunk, so a mirror that went wrong (e.g. the
 * chunk size changed between runs) costs time, never a wrong answer.
 */
#include "node/replica_priv.h"

#include "base/alloc.h"
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static consort_err grow(void **arr, size_t *cap, size_t count, size_t elem)
{
    if (count < *cap)
        return CONSORT_OK;
    size_t ncap = *cap ? *cap * 2 : 1024;
    void *p = cs_realloc(*arr, ncap * elem);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "node index: %zu entries", ncap);
    *arr = p;
    *cap = ncap;
    return CONSORT_OK;
}

void replica_index_cleanup(replica_index *x)
{
    cs_free(x->offsets);
    cs_free(x->chunk_first);
    cs_free(x->terms);
    cs_free(x->sigs);
    memset(x, 0, sizeof *x);
}

void replica_index_reset(replica_index *x, uint64_t base)
{
    replica_index_cleanup(x);
    x->base = base;
}

consort_err replica_index_add_term(replica_index *x, uint64_t seqno, uint64_t term)
{
    if (x->term_count > 0 && x->terms[x->term_count - 1].term == term)
        return CONSORT_OK;
    CS_TRY(grow((void **)&x->terms, &x->term_cap, x->term_count, sizeof *x->terms));
    x->terms[x->term_count++] = (replica_term_run){.first_seqno = seqno, .term = term};
    return CONSORT_OK;
}

consort_err replica_index_add_sig(replica_index *x, uint64_t seqno)
{
    CS_TRY(grow((void **)&x->sigs, &x->sig_cap, x->sig_count, sizeof *x->sigs));
    x->sigs[x->sig_count++] = seqno;
    return CONSORT_OK;
}

consort_err replica_index_add(replica_index *x, uint64_t seqno, uint64_t term, bool signature,
                              size_t entry_len, uint64_t chunk_size)
{
    CS_ENSURE(seqno == x->base + x->offset_count, CONSORT_E_STATE,
              "node index: seqno %llu, expected %llu", (unsigned long long)seqno,
              (unsigned long long)(x->base + x->offset_count));
    CS_TRY(grow((void **)&x->offsets, &x->offset_cap, x->offset_count, sizeof *x->offsets));
    if (x->chunk_count == 0 || x->chunk_closing) {
        CS_TRY(
            grow((void **)&x->chunk_first, &x->chunk_cap, x->chunk_count, sizeof *x->chunk_first));
        x->chunk_first[x->chunk_count++] = seqno;
        x->chunk_bytes = 0;
        x->chunk_closing = false;
    }
    CS_TRY(replica_index_add_term(x, seqno, term));
    if (signature)
        CS_TRY(replica_index_add_sig(x, seqno));
    x->offsets[x->offset_count++] = x->chunk_bytes;
    x->chunk_bytes += 4 + (uint64_t)entry_len;
    if (signature && x->chunk_bytes >= chunk_size)
        x->chunk_closing = true;
    return CONSORT_OK;
}

consort_err replica_index_resume(replica_index *x, uint64_t chunk_first, uint64_t chunk_bytes,
                                 bool closing)
{
    CS_ENSURE(x->offset_count == 0 && x->chunk_count == 0 && chunk_first < x->base, CONSORT_E_STATE,
              "node index: resuming at %llu in a chunk from %llu", (unsigned long long)x->base,
              (unsigned long long)chunk_first);
    CS_TRY(grow((void **)&x->chunk_first, &x->chunk_cap, x->chunk_count, sizeof *x->chunk_first));
    x->chunk_first[x->chunk_count++] = chunk_first;
    x->chunk_bytes = chunk_bytes;
    x->chunk_closing = closing;
    return CONSORT_OK;
}

consort_err replica_index_prepend(replica_index *x, replica_index *prefix)
{
    CS_ENSURE(prefix->base >= 1 && prefix->base < x->base &&
                  prefix->offset_count == x->base - prefix->base,
              CONSORT_E_STATE, "node index: a prefix of %zu entries from %llu before %llu",
              prefix->offset_count, (unsigned long long)prefix->base, (unsigned long long)x->base);
    /* the prefix's arrays grow by x's part (realloc moves a large one by
     * remapping pages, not copying), then take x's place */
    size_t chunks = 0; /* x's chunks after the prefix's last */
    while (chunks < x->chunk_count &&
           (prefix->chunk_count == 0 || x->chunk_first[x->chunk_count - 1 - chunks] >
                                            prefix->chunk_first[prefix->chunk_count - 1]))
        chunks++;
    size_t sigs = 0; /* x's signatures after the prefix's last */
    while (sigs < x->sig_count &&
           (prefix->sig_count == 0 ||
            x->sigs[x->sig_count - 1 - sigs] > prefix->sigs[prefix->sig_count - 1]))
        sigs++;
    uint64_t *offsets =
        cs_realloc(prefix->offsets, (prefix->offset_count + x->offset_count + 1) * sizeof *offsets);
    CS_ENSURE(offsets != NULL, CONSORT_E_NOMEM, "node index: %zu entries",
              prefix->offset_count + x->offset_count);
    prefix->offsets = offsets;
    prefix->offset_cap = prefix->offset_count + x->offset_count + 1;
    uint64_t *firsts =
        cs_realloc(prefix->chunk_first, (prefix->chunk_count + chunks + 1) * sizeof *firsts);
    CS_ENSURE(firsts != NULL, CONSORT_E_NOMEM, "node index: %zu chunks",
              prefix->chunk_count + chunks);
    prefix->chunk_first = firsts;
    prefix->chunk_cap = prefix->chunk_count + chunks + 1;
    uint64_t *sig = cs_realloc(prefix->sigs, (prefix->sig_count + sigs + 1) * sizeof *sig);
    CS_ENSURE(sig != NULL, CONSORT_E_NOMEM, "node index: %zu signatures", prefix->sig_count + sigs);
    prefix->sigs = sig;
    prefix->sig_cap = prefix->sig_count + sigs + 1;
    /* nothing can fail from here */
    if (x->offset_count > 0)
        memcpy(offsets + prefix->offset_count, x->offsets, x->offset_count * sizeof *offsets);
    if (chunks > 0) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(firsts + prefix->chunk_count, x->chunk_first + x->chunk_count - chunks,
               chunks * sizeof *firsts);
    if (sigs > 0)
        memcpy(sig + prefix->sig_count, x->sigs + x->sig_count - sigs, sigs * sizeof *sig);
    cs_free(x->offsets);
    cs_free(x->chunk_first);
    cs_free(x->sigs);
    x->base = prefix->base;
    x->offsets = offsets;
    x->offset_count += prefix->offset_count;
    x->offset_cap = prefix->offset_cap;
    x->chunk_first = firsts;
    x->chunk_count = prefix->chunk_count + chunks;
    x->chunk_cap = prefix->chunk_cap;
    x->sigs = sig;
    x->sig_count = prefix->sig_count + sigs;
    x->sig_cap = prefix->sig_cap;
    /* x keeps its terms (a snapshot's run from 1) and where its chunk is */
    prefix->offsets = prefix->chunk_first = prefix->sigs = NULL;
    replica_index_cleanup(prefix);
    return CONSORT_OK;
}

uint64_t replica_index_term(const replica_index *x, uint64_t seqno)
{
    if (seqno == 0 || x->term_count == 0 || seqno < x->terms[0].first_seqno)
        return 0;
    size_t lo = 0, hi = x->term_count; /* last run with first_seqno <= seqno */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->terms[mid].first_seqno <= seqno)
            lo = mid;
        else
            hi = mid;
    }
    return x->terms[lo].term;
}

consort_err replica_index_terms_digest(const replica_index *x, uint64_t tree_size, uint64_t applied,
                                       uint64_t pending_term, uint8_t out[CS_LEDGER_DIGEST_LEN])
{
    if (tree_size <= applied ||
        (x->term_count > 0 && x->terms[x->term_count - 1].term == pending_term))
        return cs_ledger_terms_digest(x->terms, x->term_count, tree_size, out);
    /* one more run for the pending entries (a leader's own term) */
    replica_term_run *runs = cs_malloc((x->term_count + 1) * sizeof *runs);
    CS_ENSURE(runs != NULL, CONSORT_E_NOMEM, "terms digest");
    if (x->term_count > 0)
        memcpy(runs, x->terms, x->term_count * sizeof *runs);
    runs[x->term_count] = (replica_term_run){.first_seqno = applied + 1, .term = pending_term};
    consort_err rc = cs_ledger_terms_digest(runs, x->term_count + 1, tree_size, out);
    cs_free(runs);
    return rc;
}

uint64_t replica_index_sig_after(const replica_index *x, uint64_t seqno)
{
    size_t lo = 0, hi = x->sig_count; /* first signature > seqno */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->sigs[mid] <= seqno)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->sig_count ? x->sigs[lo] : 0;
}

/* Reads the frame at `off` of `fd`: be32 length || entry. */
static consort_err read_frame(int fd, uint64_t off, cs_buf *out, uint64_t *next)
{
    uint8_t hdr[4];
    ssize_t r = pread(fd, hdr, 4, (off_t)off);
    CS_ENSURE(r == 4, CONSORT_E_NOT_FOUND, "no frame at offset %llu", (unsigned long long)off);
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    CS_ENSURE(len >= CS_LEDGER_ENTRY_MIN && len <= CS_LEDGER_ENTRY_MAX, CONSORT_E_CORRUPT,
              "frame length %u at offset %llu", len, (unsigned long long)off);
    cs_buf_reset(out);
    uint8_t *p;
    CS_TRY(cs_buf_extend(out, len, &p));
    r = pread(fd, p, len, (off_t)(off + 4));
    CS_ENSURE(r == (ssize_t)len, CONSORT_E_CORRUPT, "short frame at offset %llu",
              (unsigned long long)off);
    *next = off + 4 + len;
    return CONSORT_OK;
}

static bool is_entry(const cs_buf *b, uint64_t seqno)
{
    cs_ledger_entry e;
    return cs_ledger_entry_decode(cs_buf_slice(b), &e) == CONSORT_OK && e.seqno == seqno;
}

static consort_err read_in_chunk(const char *path, uint64_t first, uint64_t seqno, bool have_off,
                                 uint64_t off, cs_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CS_ENSURE(fd >= 0, cs_errno_code(errno), "%s: %s", path, strerror(errno));
    uint64_t next = 0;
    consort_err rc = CONSORT_E_NOT_FOUND;
    if (have_off && read_frame(fd, off, out, &next) == CONSORT_OK && is_entry(out, seqno))
        rc = CONSORT_OK;
    /* fall back: scan the chunk from its start */
    uint64_t pos = 0;
    for (uint64_t s = first; rc != CONSORT_OK && s <= seqno; s++) {
        rc = read_frame(fd, pos, out, &next);
        if (rc != CONSORT_OK)
            break;
        pos = next;
        rc = s == seqno && is_entry(out, seqno) ? CONSORT_OK : CONSORT_E_NOT_FOUND;
    }
    close(fd);
    if (rc != CONSORT_OK)
        cs_buf_reset(out);
    return rc;
}

/* The index of the chunk that holds `seqno` in the index's mirror of the
 * ledger's chunks (chunk_count > 0, seqno >= chunk_first[0]). */
static size_t mirrored_chunk(const replica_index *x, uint64_t seqno)
{
    size_t lo = 0, hi = x->chunk_count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->chunk_first[mid] <= seqno)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* The entry read from the file the index says holds it, named from the
 * mirror (ledger_<first>-<last>.committed, or .open for a chunk whose close
 * has not renamed it yet) without listing the directory, which costs a
 * readdir of every chunk (hundreds in a long ledger) per read. NOT_FOUND if
 * neither name opens or holds it: the caller lists the directory. */
static consort_err read_mirrored(const replica_index *x, const char *dir, uint64_t seqno,
                                 cs_buf *out)
{
    if (x->chunk_count == 0 || seqno < x->chunk_first[0])
        return CONSORT_E_NOT_FOUND;
    const size_t k = mirrored_chunk(x, seqno);
    const bool followed = k + 1 < x->chunk_count;
    cs_ledger_chunk c = {.first = x->chunk_first[k],
                         .last =
                             followed ? x->chunk_first[k + 1] - 1 : x->base + x->offset_count - 1};
    for (int i = 0; i < 2; i++) {
        c.committed = followed == (i == 0); /* the likelier name first */
        cs_ledger_chunk_format_name(&c);
        char path[CS_NODE_PATH_MAX + CS_LEDGER_NAME_MAX + 2];
        if (cs_path_join(path, sizeof path, dir, c.name) == CONSORT_OK &&
            read_in_chunk(path, c.first, seqno, true, x->offsets[seqno - x->base], out) ==
                CONSORT_OK)
            return CONSORT_OK;
    }
    return CONSORT_E_NOT_FOUND;
}

consort_err replica_index_read_entry(const replica_index *x, const char *dir, uint64_t seqno,
                                     cs_buf *out)
{
    CS_ENSURE(seqno >= x->base && seqno < x->base + x->offset_count, CONSORT_E_NOT_FOUND,
              "entry %llu is not in this node's ledger", (unsigned long long)seqno);
    if (read_mirrored(x, dir, seqno, out) == CONSORT_OK)
        return CONSORT_OK;
    cs_ledger_chunk *chunks;
    size_t count;
    CS_TRY(cs_ledger_chunks_list(dir, &chunks, &count));
    const cs_ledger_chunk *c = NULL;
    for (size_t i = 0; i < count; i++)
        if (chunks[i].first <= seqno && (!chunks[i].committed || seqno <= chunks[i].last))
            c = &chunks[i];
    consort_err rc;
    if (c == NULL) {
        rc = cs_fail(CONSORT_E_NOT_FOUND, "no ledger chunk holds entry %llu",
                     (unsigned long long)seqno);
        goto done;
    }
    /* the mirrored position, if its chunk is the one on disk */
    const size_t k = x->chunk_count > 0 ? mirrored_chunk(x, seqno) : 0;
    char path[CS_NODE_PATH_MAX + CS_LEDGER_NAME_MAX + 2];
    CS_TRY_GOTO(rc, cs_path_join(path, sizeof path, dir, c->name), done);
    const bool have_off = x->chunk_count > 0 && x->chunk_first[k] == c->first;
    rc = read_in_chunk(path, c->first, seqno, have_off, x->offsets[seqno - x->base], out);
    if (rc != CONSORT_OK)
        rc = cs_fail(rc, "entry %llu not found in %s", (unsigned long long)seqno, c->name);
done:
    cs_free(chunks);
    return rc;
}
