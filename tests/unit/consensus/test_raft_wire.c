/*
 * The Raft wire validator (src/consensus/raft_wire.h): libraft's own
 * messages pass, whole or split at every byte; oversized announced sizes
 * and counts are refused on the bytes that announce them (before the
 * header or payload they announce, which libraft would allocate); malformed
 * headers that libraft would read past or assert on are refused.
 * End to end through a real raft: test_transport.c
 * (oversized_message_refused_before_raft_allocates).
 */
#include "testutil.h"

#include "consensus/raft_wire.h"

#include <raft.h>
#include <string.h>

/* ---- encoding messages as libraft 0.15 does (uv_encoding.c) ---- */

typedef struct msg {
    uint8_t b[4096];
    size_t len;
} msg;

static void put64(msg *m, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        m->b[m->len++] = (uint8_t)(v >> (8 * i));
}

static void put32(msg *m, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        m->b[m->len++] = (uint8_t)(v >> (8 * i));
}

static void put8(msg *m, uint8_t v)
{
    m->b[m->len++] = v;
}

static void preamble(msg *m, uint64_t type, uint64_t header_len)
{
    put64(m, type);
    put64(m, header_len);
}

/* AppendEntries with entries of the given lengths; payload filled. */
static void append_entries(msg *m, const uint32_t *lens, size_t n)
{
    preamble(m, RAFT_IO_APPEND_ENTRIES, 48 + 16 * n);
    put64(m, 3);  /* term */
    put64(m, 10); /* prev index */
    put64(m, 2);  /* prev term */
    put64(m, 9);  /* commit */
    put64(m, n);
    for (size_t i = 0; i < n; i++) {
        put64(m, 3);
        put8(m, RAFT_COMMAND);
        put8(m, 0);
        put8(m, 0);
        put8(m, 0);
        put32(m, lens[i]);
    }
    put64(m, 0); /* libraft's slack */
    for (size_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < lens[i]; k++)
            put8(m, (uint8_t)k);
}

/* A configuration as configurationEncode writes it (padded to 8). */
static size_t conf(msg *m, size_t servers)
{
    size_t start = m->len;
    put8(m, 1);
    put64(m, servers);
    for (size_t i = 0; i < servers; i++) {
        put64(m, i + 1);
        memcpy(m->b + m->len, "node-1", 7);
        m->b[m->len + 5] = (uint8_t)('1' + i);
        m->len += 7;
        put8(m, RAFT_VOTER);
    }
    /* libraft does not initialise the padding (configurationEncodeToBuf
     * allocates the buffer without zeroing it): any bytes may come */
    while ((m->len - start) % 8 != 0)
        put8(m, 0xbe);
    return m->len - start;
}

static void install_snapshot(msg *m, uint64_t data_len, size_t servers)
{
    msg c = {.len = 0};
    size_t clen = conf(&c, servers);
    preamble(m, RAFT_IO_INSTALL_SNAPSHOT, 56 + clen);
    put64(m, 3);
    put64(m, 100);
    put64(m, 2);
    put64(m, 1);
    put64(m, clen);
    memcpy(m->b + m->len, c.b, clen);
    m->len += clen;
    put64(m, data_len);
    put64(m, 0); /* slack */
    for (uint64_t k = 0; k < data_len; k++)
        put8(m, (uint8_t)k);
}

static void fixed(msg *m, uint64_t type, size_t header_len)
{
    preamble(m, type, header_len);
    for (size_t i = 0; i < header_len; i++)
        put8(m, (uint8_t)i);
}

/* Every kind of message libraft sends, back to back. */
static void all_kinds(msg *m)
{
    const uint32_t lens[] = {8, 64, 0, 16};
    fixed(m, RAFT_IO_REQUEST_VOTE, 40);
    fixed(m, RAFT_IO_REQUEST_VOTE, 32); /* v1 */
    fixed(m, RAFT_IO_REQUEST_VOTE_RESULT, 24);
    fixed(m, RAFT_IO_REQUEST_VOTE_RESULT, 16); /* v1 */
    fixed(m, RAFT_IO_APPEND_ENTRIES_RESULT, 24);
    fixed(m, RAFT_IO_TIMEOUT_NOW, 24);
    append_entries(m, lens, 4);
    append_entries(m, NULL, 0); /* a heartbeat */
    install_snapshot(m, 40, 3);
}

static void test_libraft_messages_pass_whole_and_split(void **state)
{
    (void)state;
    msg m = {.len = 0};
    all_kinds(&m);
    cs_raft_wire w;
    cs_raft_wire_init(&w, NULL);
    cst_ok(cs_raft_wire_feed(&w, CS_SLICE(m.b, m.len)));
    assert_int_equal(w.messages, 9);
    /* byte by byte */
    cs_raft_wire_init(&w, NULL);
    for (size_t i = 0; i < m.len; i++)
        cst_ok(cs_raft_wire_feed(&w, CS_SLICE(m.b + i, 1)));
    assert_int_equal(w.messages, 9);
    /* split in two at every offset */
    for (size_t cut = 0; cut <= m.len; cut++) {
        cs_raft_wire_init(&w, NULL);
        cst_ok(cs_raft_wire_feed(&w, CS_SLICE(m.b, cut)));
        cst_ok(cs_raft_wire_feed(&w, CS_SLICE(m.b + cut, m.len - cut)));
        assert_int_equal(w.messages, 9);
    }
}

/* Refused exactly when the bytes of `m` up to `at` arrive (not before). */
static void refused_at(const msg *m, size_t at, const cs_raft_wire_limits *lim, consort_err want,
                       const char *needle)
{
    cs_raft_wire w;
    cs_raft_wire_init(&w, lim);
    if (at > 0)
        cst_ok(cs_raft_wire_feed(&w, CS_SLICE(m->b, at - 1)));
    cst_fails(cs_raft_wire_feed(&w, CS_SLICE(m->b + at - 1, m->len - (at - 1))), want);
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("message \"%s\" does not name \"%s\"", consort_errmsg(), needle);
    /* and stays refused */
    cst_fails(cs_raft_wire_feed(&w, CS_SLICE_LIT("x")), CONSORT_E_MALFORMED);
}

static void test_oversized_announcements_refused_on_the_announcing_bytes(void **state)
{
    (void)state;
    /* a header of 2^40 bytes: refused at the preamble's last byte */
    msg m = {.len = 0};
    preamble(&m, RAFT_IO_APPEND_ENTRIES, (uint64_t)1 << 40);
    refused_at(&m, 16, NULL, CONSORT_E_TOO_LARGE, "header of 1099511627776 bytes");
    /* so is any header over the entries cap */
    m.len = 0;
    preamble(&m, RAFT_IO_APPEND_ENTRIES, 48 + 16 * CS_RAFT_WIRE_ENTRIES_MAX + 16);
    refused_at(&m, 16, NULL, CONSORT_E_TOO_LARGE, "at most 4194304 entries");
    /* a fixed-layout message with a large header */
    m.len = 0;
    preamble(&m, RAFT_IO_REQUEST_VOTE, (uint64_t)64 << 20);
    refused_at(&m, 16, NULL, CONSORT_E_MALFORMED, "RequestVote: header of 67108864 bytes");
    m.len = 0;
    preamble(&m, RAFT_IO_INSTALL_SNAPSHOT, (uint64_t)1 << 33);
    refused_at(&m, 16, NULL, CONSORT_E_TOO_LARGE, "InstallSnapshot: header of 8589934592");

    /* one entry announcing 4 GiB - 8: refused at its length field */
    const uint32_t big[] = {0xfffffff8u};
    m.len = 0;
    preamble(&m, RAFT_IO_APPEND_ENTRIES, 48 + 16);
    put64(&m, 1);
    put64(&m, 0);
    put64(&m, 0);
    put64(&m, 0);
    put64(&m, 1);
    put64(&m, 1);
    put8(&m, RAFT_COMMAND);
    put8(&m, 0);
    put8(&m, 0);
    put8(&m, 0);
    put32(&m, big[0]);
    refused_at(&m, m.len, NULL, CONSORT_E_TOO_LARGE, "an entry of 4294967288 bytes");

    /* entries within the per-entry cap that add up beyond the batch cap */
    const cs_raft_wire_limits small = {.max_append = 64, .max_entries = 8};
    const uint32_t lens[] = {32, 32, 8};
    m.len = 0;
    append_entries(&m, lens, 3);
    size_t third_len = 16 + 40 + 2 * 16 + 16; /* up to the third entry's length field */
    refused_at(&m, third_len, &small, CONSORT_E_TOO_LARGE, "more than 64 bytes in all");
    /* more entries than the cap: refused at the count */
    const uint32_t nine[9] = {8, 8, 8, 8, 8, 8, 8, 8, 8};
    const cs_raft_wire_limits eight = {.max_entries = 8};
    m.len = 0;
    append_entries(&m, nine, 9);
    refused_at(&m, 16, &eight, CONSORT_E_TOO_LARGE, "at most 8 entries");

    /* a snapshot of 2^40 bytes: refused at its length field */
    m.len = 0;
    install_snapshot(&m, 8, 1);
    size_t data_len_end = m.len - 8 - 8; /* before the slack and the 8 data bytes */
    for (int i = 0; i < 8; i++)
        m.b[data_len_end - 8 + (size_t)i] = (uint8_t)((((uint64_t)1 << 40)) >> (8 * i));
    refused_at(&m, data_len_end, NULL, CONSORT_E_TOO_LARGE, "snapshot of 1099511627776 bytes");
    const cs_raft_wire_limits snap = {.max_snapshot = 4};
    m.len = 0;
    install_snapshot(&m, 8, 1);
    refused_at(&m, data_len_end, &snap, CONSORT_E_TOO_LARGE, "snapshot of 8 bytes (1..4)");
}

static void test_malformed_headers_refused(void **state)
{
    (void)state;
    msg m = {.len = 0};
    preamble(&m, 7, 24);
    refused_at(&m, 8, NULL, CONSORT_E_MALFORMED, "type 7 unknown");
    m.len = 0;
    preamble(&m, 0, 24);
    refused_at(&m, 8, NULL, CONSORT_E_MALFORMED, "type 0 unknown");
    /* libraft would read 32 bytes of a 1-byte header */
    m.len = 0;
    fixed(&m, RAFT_IO_REQUEST_VOTE, 1);
    refused_at(&m, 16, NULL, CONSORT_E_MALFORMED, "header of 1 bytes");
    /* a result of 17 bytes: libraft reads flags past it */
    m.len = 0;
    fixed(&m, RAFT_IO_REQUEST_VOTE_RESULT, 17);
    refused_at(&m, 16, NULL, CONSORT_E_MALFORMED, "header of 17 bytes");
    m.len = 0;
    fixed(&m, RAFT_IO_APPEND_ENTRIES_RESULT, 0);
    refused_at(&m, 16, NULL, CONSORT_E_MALFORMED, "header of 0 bytes");

    /* entries count that does not match the header length */
    const uint32_t one[] = {8};
    m.len = 0;
    append_entries(&m, one, 1);
    m.b[16 + 32] = 2; /* n = 2 in a header sized for 1 */
    refused_at(&m, 16 + 40, NULL, CONSORT_E_MALFORMED, "2 entries in a header of 64 bytes");
    /* entry type 9 */
    m.len = 0;
    append_entries(&m, one, 1);
    m.b[16 + 40 + 8] = 9;
    refused_at(&m, 16 + 40 + 9, NULL, CONSORT_E_MALFORMED, "entry type 9 unknown");
    /* an entry length libraft's decoder would misalign on */
    const uint32_t odd[] = {12};
    m.len = 0;
    append_entries(&m, odd, 1);
    refused_at(&m, 16 + 40 + 16, NULL, CONSORT_E_MALFORMED, "not a multiple of 8");

    /* InstallSnapshot configurations libraft asserts on or reads past */
    msg good = {.len = 0};
    install_snapshot(&good, 8, 2);
    const size_t conf_at = 16 + 40; /* the configuration's first byte */
    m = good;
    m.b[conf_at] = 2; /* format */
    refused_at(&m, conf_at + 1, NULL, CONSORT_E_MALFORMED, "configuration format 2");
    m = good;
    m.b[conf_at + 1] = 0; /* 0 servers */
    refused_at(&m, conf_at + 9, NULL, CONSORT_E_MALFORMED, "configuration of 0 servers");
    m = good;
    m.b[conf_at + 1] = 200; /* 200 servers in a configuration sized for 2 */
    refused_at(&m, conf_at + 42, NULL, CONSORT_E_MALFORMED, "run past the configuration");
    m = good;
    m.b[conf_at + 9] = 0; /* server id 0 */
    refused_at(&m, conf_at + 17, NULL, CONSORT_E_MALFORMED, "server id 0");
    m = good;
    m.b[conf_at + 17] = 0; /* empty address */
    refused_at(&m, conf_at + 18, NULL, CONSORT_E_MALFORMED, "empty server address");
    m = good;
    m.b[conf_at + 18] = 0x07; /* unprintable */
    refused_at(&m, conf_at + 19, NULL, CONSORT_E_MALFORMED, "printable");
    m = good;
    m.b[conf_at + 24] = 7; /* role */
    refused_at(&m, conf_at + 25, NULL, CONSORT_E_MALFORMED, "role 7 unknown");
    /* conf length that disagrees with the header length */
    m = good;
    m.b[16 + 32] = (uint8_t)(m.b[16 + 32] + 16);
    refused_at(&m, 16 + 40, NULL, CONSORT_E_MALFORMED, "configuration of");
    /* an empty snapshot */
    m.len = 0;
    install_snapshot(&m, 0, 1);
    refused_at(&m, m.len - 8, NULL, CONSORT_E_TOO_LARGE, "snapshot of 0 bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libraft_messages_pass_whole_and_split),
        cmocka_unit_test(test_oversized_announcements_refused_on_the_announcing_bytes),
        cmocka_unit_test(test_malformed_headers_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
