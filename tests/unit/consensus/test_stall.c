/*
 * The leader's stall watch (stall.h), on made-up observations: a follower
 * whose match index stays below the leader's last index is reported after
 * the threshold and then once per period; moving, catching up, leaving the
 * configuration or a new term start it over.
 */
#include "testutil.h"

#include "consensus/stall.h"

#include <string.h>

#define AFTER 10000
#define EVERY 60000

static size_t check(cs_raft_stall *s, uint64_t now, uint64_t term, uint64_t last,
                    const cs_raft_peer_progress *p, size_t n, cs_raft_stalled *out)
{
    return cs_raft_stall_check(s, now, term, last, p, n, AFTER, EVERY, out, 4);
}

static void stalled_follower_reported_then_periodically(void **state)
{
    (void)state;
    cs_raft_stall s = {0};
    cs_raft_stalled out[4];
    cs_raft_peer_progress p[2] = {{.id = 2, .match_index = 100, .next_index = 101},
                                  {.id = 3, .match_index = 40, .next_index = 41}};
    /* the first look starts both clocks */
    assert_int_equal(check(&s, 1000, 5, 100, p, 2, out), 0);
    /* 2 has everything; 3 is behind but not for long */
    assert_int_equal(check(&s, 6000, 5, 100, p, 2, out), 0);
    assert_int_equal(cs_raft_stall_ms(&s, 3, 6000, 100), 5000);
    assert_int_equal(check(&s, 10999, 5, 100, p, 2, out), 0);
    /* 3 stalled for 10 s: reported once, with its index and duration */
    assert_int_equal(check(&s, 11000, 5, 100, p, 2, out), 1);
    assert_int_equal(out[0].index, 1);
    assert_int_equal(out[0].stalled_ms, 10000);
    /* not again within the period, though it stays stalled */
    assert_int_equal(check(&s, 12000, 5, 150, p, 2, out), 0);
    p[0].match_index = 150; /* 2 follows the leader */
    assert_int_equal(check(&s, 70999, 5, 150, p, 2, out), 0);
    assert_int_equal(check(&s, 71000, 5, 150, p, 2, out), 1);
    assert_int_equal(out[0].index, 1);
    assert_int_equal(out[0].stalled_ms, 70000);
    assert_int_equal(cs_raft_stall_ms(&s, 2, 71000, 150), 0);
}

static void moving_or_caught_up_starts_over(void **state)
{
    (void)state;
    cs_raft_stall s = {0};
    cs_raft_stalled out[4];
    cs_raft_peer_progress p = {.id = 7, .match_index = 10};
    assert_int_equal(check(&s, 1000, 1, 50, &p, 1, out), 0);
    assert_int_equal(check(&s, 11000, 1, 50, &p, 1, out), 1);
    /* it moved: no report until it sits still for 10 s again */
    p.match_index = 11;
    assert_int_equal(check(&s, 12000, 1, 50, &p, 1, out), 0);
    assert_int_equal(check(&s, 21999, 1, 50, &p, 1, out), 0);
    assert_int_equal(check(&s, 22000, 1, 50, &p, 1, out), 1);
    assert_int_equal(out[0].stalled_ms, 10000);
    /* the leader's log has nothing newer: not stalled, however long */
    p.match_index = 50;
    assert_int_equal(check(&s, 23000, 1, 50, &p, 1, out), 0);
    assert_int_equal(check(&s, 90000, 1, 50, &p, 1, out), 0);
    assert_int_equal(cs_raft_stall_ms(&s, 7, 90000, 50), 0);
    /* new entries: its clock starts when they appear, not before */
    assert_int_equal(check(&s, 91000, 1, 60, &p, 1, out), 0);
    assert_int_equal(check(&s, 100999, 1, 60, &p, 1, out), 0);
    assert_int_equal(check(&s, 101000, 1, 60, &p, 1, out), 1);
}

static void new_term_or_removed_peer_forgotten(void **state)
{
    (void)state;
    cs_raft_stall s = {0};
    cs_raft_stalled out[4];
    cs_raft_peer_progress p[2] = {{.id = 2, .match_index = 3}, {.id = 3, .match_index = 3}};
    assert_int_equal(check(&s, 1000, 1, 9, p, 2, out), 0);
    /* a new leadership (term 2) starts every clock again */
    assert_int_equal(check(&s, 9000, 2, 9, p, 2, out), 0);
    assert_int_equal(check(&s, 18999, 2, 9, p, 2, out), 0);
    /* 3 left the configuration; it comes back later with a fresh clock */
    assert_int_equal(check(&s, 19000, 2, 9, p, 1, out), 1);
    assert_int_equal(out[0].index, 0);
    assert_int_equal(cs_raft_stall_ms(&s, 3, 19000, 9), 0);
    assert_int_equal(check(&s, 20000, 2, 9, p, 2, out), 0);
    assert_int_equal(cs_raft_stall_ms(&s, 3, 25000, 9), 5000);
    /* out[] holds at most `max`; the count says how many fit */
    assert_int_equal(cs_raft_stall_check(&s, 40000, 2, 9, p, 2, AFTER, EVERY, out, 1), 1);
    assert_int_equal(out[0].index, 1);
    assert_string_equal(cs_raft_progress_mode_name(CS_RAFT_SNAPSHOT), "snapshot");
    assert_string_equal(cs_raft_progress_mode_name(9), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stalled_follower_reported_then_periodically),
        cmocka_unit_test(moving_or_caught_up_starts_over),
        cmocka_unit_test(new_term_or_removed_peer_forgotten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
