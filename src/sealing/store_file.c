/*
 * The durable side of the sealed store (store.h): the three-step commit,
 * and finding at open the one file the anchor vouches for.
 *
 * Why three steps, and why this order (docs/migration.md §3 "Crash between
 * the two writes"). A state is durable only when both the file and the
 * anchor say so. Incrementing the anchor first and writing the store after
 * would leave, after a crash between the two, a store one behind the anchor:
 * refused as ROLLBACK, the instance bricked. So the new state is written
 * first, beside the old one, bound to v + 1 (step 1, store.next); then the
 * anchor goes to v + 1 (step 2), which is the commit point; then store.next
 * replaces store.bin (step 3, tidying only). A crash
 *   - before step 2: the anchor is at v, store.bin is bound to v: the old
 *     state opens (store.next, bound to v + 1, is rolled forward only if
 *     store.bin is gone: it is then the only state there is, and it was
 *     built on the state at v);
 *   - after step 2: the anchor is at v + 1 and store.next (or store.bin,
 *     after step 3) is bound to it: the new state opens.
 * Never is a file accepted whose value is behind the anchor (ROLLBACK) or
 * more than one ahead (CORRUPT: the anchor went back).
 *
 * Two different files bound to the same value could exist if a commit
 * failed after step 1 (the host keeps a copy of store.next, bound to v + 1)
 * and a later commit wrote another state bound to v + 1; the host could
 * then show either, and an instance would act on both (two RETIRED states
 * to two destinations: a fork). Two rules prevent it: a handle whose
 * commit failed refuses every later commit (it must be reopened), and
 * opening commits TWICE before anything is acknowledged or acted on: at
 * open the anchor is at a and every file a crashed commit left is bound to
 * at most a + 1, so once the anchor is at a + 2 the state opened is the
 * only one bound to it. One commit is not enough: the state re-sealed at
 * a + 1 and a stale file at a + 1 would both open (spin finds the fork:
 * docs/migration-model.md, the NAIVE_RESTART mutant).
 */
#include "sealing/store_priv.h"

#include "base/file.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static long crash_at = -1;

void cs_sealstore_test_crash_at(long n)
{
    crash_at = n;
}

/* The test hook: fails the armed durable step as if the process died. */
consort_err store_durable_step(const char *what)
{
    if (crash_at < 0)
        return CONSORT_OK;
    if (crash_at-- > 0)
        return CONSORT_OK;
    return cs_fail(CONSORT_E_IO, "injected crash before %s", what);
}

static consort_err paths(const char *dir, char *bin, char *next)
{
    CS_TRY(cs_path_join(bin, STORE_PATH_MAX, dir, "store.bin"));
    return cs_path_join(next, STORE_PATH_MAX, dir, "store.next");
}

bool store_exists(const char *dir)
{
    char bin[STORE_PATH_MAX], next[STORE_PATH_MAX];
    if (paths(dir, bin, next) != CONSORT_OK)
        return false;
    return cs_file_exists(bin) || cs_file_exists(next);
}

static consort_err fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cs_fail(cs_errno_code(errno), "cannot open %s: %s", dir, strerror(errno));
    consort_err rc = CONSORT_OK;
    if (fsync(fd) != 0)
        rc = cs_fail(cs_errno_code(errno), "cannot sync %s: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

static consort_err seal_content(cs_sealstore *s, uint64_t bound, cs_buf *blob)
{
    cs_buf plain;
    cs_buf_init_secret(&plain, CS_SEAL_MAX_PLAIN);
    consort_err rc = store_content_encode(&s->c, &plain);
    const cs_seal_params p = {
        .policy = CS_SEAL_POLICY_LINEAGE,
        .code_id = s->keys.code_id,
        .successors = s->successors,
        .successor_count = s->successor_count,
        .counter_name = CS_SEALSTORE_ANCHOR_COUNTER,
        .counter_value = bound,
    };
    if (rc == CONSORT_OK)
        rc = cs_seal_with(s->lineage_kc, &p, cs_buf_slice(&plain), blob);
    cs_buf_cleanup(&plain);
    return rc;
}

static consort_err commit_steps(cs_sealstore *s, cs_buf *blob)
{
    char bin[STORE_PATH_MAX], next[STORE_PATH_MAX];
    CS_TRY(paths(s->dir, bin, next));
    CS_ENSURE(s->bound < UINT64_MAX, CONSORT_E_STATE, "the anchor is at its maximum");
    uint64_t want = s->bound + 1, got = 0;
    CS_TRY(seal_content(s, want, blob));
    CS_TRY(store_durable_step("writing store.next"));
    CS_TRY(cs_file_write_atomic(next, cs_buf_slice(blob), 0600));
    CS_TRY(store_durable_step("incrementing the anchor"));
    CS_TRY(cs_anchor_increment(s->anchor, &got));
    CS_ENSURE(got == want, CONSORT_E_ROLLBACK,
              "anchor %s went from %" PRIu64 " to %" PRIu64 ", expected %" PRIu64
              ": something else increments it (one anchor per store)",
              cs_anchor_name(s->anchor), s->bound, got, want);
    s->bound = want; /* committed: the rest only tidies */
    CS_TRY(store_durable_step("renaming store.next to store.bin"));
    if (rename(next, bin) != 0)
        return cs_fail(cs_errno_code(errno), "cannot rename %s to %s: %s", next, bin,
                       strerror(errno));
    return fsync_dir(s->dir);
}

consort_err store_commit(cs_sealstore *s)
{
    CS_ENSURE(!s->broken, CONSORT_E_STATE,
              "sealed store %s: an earlier commit failed; reopen the store", s->dir);
    cs_buf blob;
    cs_buf_init(&blob, CS_SEAL_MAX_BLOB);
    consort_err rc = commit_steps(s, &blob);
    cs_buf_cleanup(&blob);
    if (rc != CONSORT_OK) {
        s->broken = true;
        return cs_err_context(rc, "sealed store %s: commit", s->dir);
    }
    return CONSORT_OK;
}

/* One candidate file: its bytes and the (unauthenticated) bound value. */
typedef struct candidate {
    const char *path;
    bool present;
    cs_buf bytes;
    uint64_t bound;
} candidate;

static consort_err read_candidate(candidate *c)
{
    cs_buf_init(&c->bytes, CS_SEAL_MAX_BLOB);
    c->present = cs_file_exists(c->path);
    if (!c->present)
        return CONSORT_OK;
    CS_TRY(cs_file_read(c->path, &c->bytes));
    cs_seal_header h;
    if (cs_seal_peek(cs_buf_slice(&c->bytes), &h) != CONSORT_OK || !h.has_counter ||
        strcmp(h.counter_name, CS_SEALSTORE_ANCHOR_COUNTER) != 0) {
        cs_log_warn("sealing", "sealed store: %s is not a store blob; ignored", c->path);
        c->present = false;
        return CONSORT_OK;
    }
    c->bound = h.counter_value;
    return CONSORT_OK;
}

/* Opens the chosen blob into s (content, successors) and checks its binding. */
static consort_err open_blob(cs_sealstore *s, candidate *c, uint8_t sealer[CS_SEAL_CODE_ID_LEN])
{
    cs_seal_header h;
    cs_buf plain;
    cs_buf_init_secret(&plain, CS_SEAL_MAX_BLOB);
    /* the ancestors are inside: admitted as the sealer or an approved successor */
    const cs_seal_opener o = {.code_id = s->keys.code_id};
    consort_err rc = cs_unseal_with(s->lineage_kc, &o, cs_buf_slice(&c->bytes), &h, &plain);
    if (rc == CONSORT_OK && (!h.has_counter || h.counter_value != c->bound))
        rc = cs_fail(CONSORT_E_CORRUPT, "bound value changed while opening");
    if (rc == CONSORT_OK)
        rc = store_content_decode(cs_buf_slice(&plain), &s->c);
    cs_buf_cleanup(&plain);
    if (rc != CONSORT_OK)
        return cs_err_context(rc, "%s", c->path);
    memcpy(sealer, h.sealer_code_id, CS_SEAL_CODE_ID_LEN);
    memcpy(s->successors, h.successors, sizeof h.successors);
    s->successor_count = h.successor_count;
    return CONSORT_OK;
}

static consort_err choose(cs_sealstore *s, candidate *cands, size_t n, uint64_t a,
                          uint8_t sealer[CS_SEAL_CODE_ID_LEN])
{
    for (size_t i = 0; i < n; i++)
        if (cands[i].present && cands[i].bound == a) {
            s->bound = a;
            return open_blob(s, &cands[i], sealer);
        }
    /* a commit cut between steps 1 and 2 with no store.bin left beside it
     * (a creation): it is the only state there is, built on the one at a */
    if (!cands[0].present && cands[1].present && a < UINT64_MAX && cands[1].bound == a + 1) {
        CS_TRY(open_blob(s, &cands[1], sealer));
        uint64_t got;
        CS_TRY(store_durable_step("rolling the anchor forward"));
        CS_TRY(cs_anchor_increment(s->anchor, &got));
        CS_ENSURE(got == a + 1, CONSORT_E_ROLLBACK,
                  "anchor %s went from %" PRIu64 " to %" PRIu64 " while rolling forward",
                  cs_anchor_name(s->anchor), a, got);
        s->bound = got;
        return CONSORT_OK;
    }
    CS_ENSURE(cands[0].present || cands[1].present, CONSORT_E_NOT_FOUND, "no sealed store in %s",
              s->dir);
    const candidate *c = cands[0].present ? &cands[0] : &cands[1];
    CS_ENSURE(c->bound > a, CONSORT_E_ROLLBACK,
              "%s is bound to anchor value %" PRIu64 ", anchor %s is at %" PRIu64
              ": an older copy of the store (rolled back)",
              c->path, c->bound, cs_anchor_name(s->anchor), a);
    return cs_fail(CONSORT_E_CORRUPT,
                   "%s is bound to anchor value %" PRIu64 ", anchor %s is only at %" PRIu64
                   ": the anchor is behind the store (it was reset or replaced)",
                   c->path, c->bound, cs_anchor_name(s->anchor), a);
}

consort_err store_load(cs_sealstore *s, uint8_t sealer[CS_SEAL_CODE_ID_LEN])
{
    char bin[STORE_PATH_MAX], next[STORE_PATH_MAX];
    CS_TRY(paths(s->dir, bin, next));
    uint64_t a;
    CS_TRY(cs_anchor_read(s->anchor, &a));
    candidate cands[2] = {{.path = bin}, {.path = next}};
    consort_err rc = read_candidate(&cands[0]);
    if (rc == CONSORT_OK)
        rc = read_candidate(&cands[1]);
    if (rc == CONSORT_OK)
        rc = choose(s, cands, 2, a, sealer);
    cs_buf_cleanup(&cands[0].bytes);
    cs_buf_cleanup(&cands[1].bytes);
    return rc;
}
