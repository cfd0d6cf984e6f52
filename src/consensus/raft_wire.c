/*
 * The Raft wire validator (raft_wire.h): a state machine over the stream's
 * fields. Each step either assembles a field of 1..8 bytes (acc) and checks
 * it, or passes a run of bytes unparsed (skip: fixed fields, payloads).
 */
#include "consensus/raft_wire.h"

#include <raft.h>
#include <string.h>

enum phase {
    PH_PREAMBLE,
    PH_HEADER,
    PH_PAYLOAD,
    PH_FAILED,
};

/* Steps: the field being read (or ST_SKIP while passing bytes, then `after`). */
enum step {
    ST_TYPE,
    ST_HEADER_LEN,
    ST_SKIP, /* then `after` */
    ST_AE_N,
    ST_AE_ENTRY_TYPE,
    ST_AE_ENTRY_LEN,
    ST_IS_CONF_LEN,
    ST_CONF_FORMAT,
    ST_CONF_N,
    ST_CONF_ID,
    ST_CONF_ADDR,
    ST_CONF_ROLE,
    ST_CONF_PAD,
    ST_IS_DATA_LEN,
    ST_HEADER_END,
};

#define ENCODING_FORMAT 1 /* libraft configuration.c */
#define ADDRESS_MAX     255

static const char *type_name(uint64_t t)
{
    switch (t) {
    case RAFT_IO_APPEND_ENTRIES:
        return "AppendEntries";
    case RAFT_IO_APPEND_ENTRIES_RESULT:
        return "AppendEntriesResult";
    case RAFT_IO_REQUEST_VOTE:
        return "RequestVote";
    case RAFT_IO_REQUEST_VOTE_RESULT:
        return "RequestVoteResult";
    case RAFT_IO_INSTALL_SNAPSHOT:
        return "InstallSnapshot";
    case RAFT_IO_TIMEOUT_NOW:
        return "TimeoutNow";
    default:
        return "message";
    }
}

void cs_raft_wire_init(cs_raft_wire *w, const cs_raft_wire_limits *lim)
{
    memset(w, 0, sizeof *w);
    if (lim != NULL)
        w->lim = *lim;
    if (w->lim.max_entries == 0)
        w->lim.max_entries = CS_RAFT_WIRE_ENTRIES_MAX;
    if (w->lim.max_entry == 0)
        w->lim.max_entry = CS_RAFT_WIRE_ENTRY_MAX;
    if (w->lim.max_append == 0)
        w->lim.max_append = CS_RAFT_WIRE_APPEND_MAX;
    if (w->lim.max_snapshot == 0)
        w->lim.max_snapshot = CS_RAFT_WIRE_SNAPSHOT_MAX;
    w->phase = PH_PREAMBLE;
    w->step = ST_TYPE;
    w->acc_need = 8;
}

static uint64_t acc_le(const cs_raft_wire *w)
{
    uint64_t v = 0;
    for (size_t i = w->acc_len; i-- > 0;)
        v = v << 8 | w->acc[i];
    return v;
}

static void expect(cs_raft_wire *w, int step, size_t n)
{
    w->step = step;
    w->acc_len = 0;
    w->acc_need = n;
}

static void skip_then(cs_raft_wire *w, uint64_t n, int after)
{
    w->step = ST_SKIP;
    w->skip = n;
    w->after = after;
}

/* The size of the field a step reads after a skip. */
static size_t field_size(int step)
{
    switch (step) {
    case ST_AE_ENTRY_TYPE:
        return 1;
    case ST_AE_ENTRY_LEN:
        return 4;
    case ST_HEADER_END:
        return 0;
    default:
        return 8;
    }
}

static void next_message(cs_raft_wire *w)
{
    w->messages++;
    w->phase = PH_PREAMBLE;
    expect(w, ST_TYPE, 8);
}

/* The header is read: its payload follows, or the next message. */
static void header_done(cs_raft_wire *w)
{
    if (w->payload == 0) {
        next_message(w);
        return;
    }
    w->phase = PH_PAYLOAD;
    w->step = ST_SKIP;
    w->skip = w->payload;
}

/* Fixed-layout headers: [min, CS_RAFT_WIRE_FIXED_MAX], or exactly v1. */
static consort_err check_fixed(const cs_raft_wire *w, uint64_t v1, uint64_t min)
{
    uint64_t h = w->header_len;
    CS_ENSURE(h == v1 || (h >= min && h <= CS_RAFT_WIRE_FIXED_MAX), CONSORT_E_MALFORMED,
              "raft %s: header of %llu bytes (expected %llu, or %llu..%d)", type_name(w->type),
              (unsigned long long)h, (unsigned long long)v1, (unsigned long long)min,
              CS_RAFT_WIRE_FIXED_MAX);
    return CONSORT_OK;
}

static consort_err on_header_len(cs_raft_wire *w)
{
    uint64_t h = w->header_len;
    w->header_left = h;
    w->payload = 0;
    w->phase = PH_HEADER;
    switch (w->type) {
    case RAFT_IO_REQUEST_VOTE:
        CS_TRY(check_fixed(w, 32, 40));
        break;
    case RAFT_IO_REQUEST_VOTE_RESULT:
        CS_TRY(check_fixed(w, 16, 24));
        break;
    case RAFT_IO_APPEND_ENTRIES_RESULT:
    case RAFT_IO_TIMEOUT_NOW:
        CS_TRY(check_fixed(w, 24, 24));
        break;
    case RAFT_IO_APPEND_ENTRIES:
        CS_ENSURE(h >= 40 && h <= 48 + 16 * w->lim.max_entries, CONSORT_E_TOO_LARGE,
                  "raft AppendEntries: header of %llu bytes (40..%llu: at most %llu entries)",
                  (unsigned long long)h, (unsigned long long)(48 + 16 * w->lim.max_entries),
                  (unsigned long long)w->lim.max_entries);
        skip_then(w, 32, ST_AE_N);
        return CONSORT_OK;
    case RAFT_IO_INSTALL_SNAPSHOT:
        CS_ENSURE(h >= 56 + 16 && h <= 56 + CS_RAFT_WIRE_CONF_MAX, CONSORT_E_TOO_LARGE,
                  "raft InstallSnapshot: header of %llu bytes (72..%llu)", (unsigned long long)h,
                  (unsigned long long)(56 + CS_RAFT_WIRE_CONF_MAX));
        skip_then(w, 32, ST_IS_CONF_LEN);
        return CONSORT_OK;
    default:
        break;
    }
    skip_then(w, h, ST_HEADER_END);
    return CONSORT_OK;
}

static consort_err on_conf_server_done(cs_raft_wire *w)
{
    if (--w->count > 0) {
        expect(w, ST_CONF_ID, 8);
        return CONSORT_OK;
    }
    CS_ENSURE(w->conf_left < 8, CONSORT_E_MALFORMED,
              "raft InstallSnapshot: %llu bytes after the configuration's servers",
              (unsigned long long)w->conf_left);
    if (w->conf_left > 0)
        expect(w, ST_CONF_PAD, (size_t)w->conf_left);
    else
        expect(w, ST_IS_DATA_LEN, 8);
    return CONSORT_OK;
}

/* A field is complete in acc: check it and choose the next step. */
static consort_err on_field(cs_raft_wire *w)
{
    const uint64_t v = acc_le(w);
    switch (w->step) {
    case ST_TYPE:
        CS_ENSURE(v >= RAFT_IO_APPEND_ENTRIES && v <= RAFT_IO_TIMEOUT_NOW, CONSORT_E_MALFORMED,
                  "raft message type %llu unknown (1..6)", (unsigned long long)v);
        w->type = v;
        expect(w, ST_HEADER_LEN, 8);
        return CONSORT_OK;
    case ST_HEADER_LEN:
        w->header_len = v;
        return on_header_len(w);
    case ST_AE_N:
        CS_ENSURE(v <= w->lim.max_entries, CONSORT_E_TOO_LARGE,
                  "raft AppendEntries: %llu entries (at most %llu)", (unsigned long long)v,
                  (unsigned long long)w->lim.max_entries);
        CS_ENSURE(w->header_len == 40 + 16 * v || w->header_len == 48 + 16 * v, CONSORT_E_MALFORMED,
                  "raft AppendEntries: %llu entries in a header of %llu bytes (needs %llu)",
                  (unsigned long long)v, (unsigned long long)w->header_len,
                  (unsigned long long)(48 + 16 * v));
        w->count = v;
        if (v == 0)
            skip_then(w, w->header_left, ST_HEADER_END);
        else
            skip_then(w, 8, ST_AE_ENTRY_TYPE); /* the entry's term */
        return CONSORT_OK;
    case ST_AE_ENTRY_TYPE:
        CS_ENSURE(v >= RAFT_COMMAND && v <= RAFT_CHANGE, CONSORT_E_MALFORMED,
                  "raft AppendEntries: entry type %llu unknown (1..3)", (unsigned long long)v);
        skip_then(w, 3, ST_AE_ENTRY_LEN); /* unused */
        return CONSORT_OK;
    case ST_AE_ENTRY_LEN:
        CS_ENSURE(v <= w->lim.max_entry, CONSORT_E_TOO_LARGE,
                  "raft AppendEntries: an entry of %llu bytes (at most %llu)",
                  (unsigned long long)v, (unsigned long long)w->lim.max_entry);
        CS_ENSURE(v % 8 == 0, CONSORT_E_MALFORMED,
                  "raft AppendEntries: an entry of %llu bytes, not a multiple of 8",
                  (unsigned long long)v);
        w->payload += v;
        CS_ENSURE(w->payload <= w->lim.max_append, CONSORT_E_TOO_LARGE,
                  "raft AppendEntries: entries of more than %llu bytes in all",
                  (unsigned long long)w->lim.max_append);
        if (--w->count > 0)
            skip_then(w, 8, ST_AE_ENTRY_TYPE);
        else
            skip_then(w, w->header_left, ST_HEADER_END); /* the sender's slack */
        return CONSORT_OK;
    case ST_IS_CONF_LEN:
        CS_ENSURE(v == w->header_len - 48 || v == w->header_len - 56, CONSORT_E_MALFORMED,
                  "raft InstallSnapshot: configuration of %llu bytes in a header of %llu",
                  (unsigned long long)v, (unsigned long long)w->header_len);
        w->conf_left = v;
        expect(w, ST_CONF_FORMAT, 1);
        return CONSORT_OK;
    case ST_CONF_FORMAT:
        CS_ENSURE(v == ENCODING_FORMAT, CONSORT_E_MALFORMED,
                  "raft InstallSnapshot: configuration format %llu (expected 1)",
                  (unsigned long long)v);
        expect(w, ST_CONF_N, 8);
        return CONSORT_OK;
    case ST_CONF_N:
        CS_ENSURE(v >= 1 && v <= CS_RAFT_WIRE_SERVERS_MAX, CONSORT_E_MALFORMED,
                  "raft InstallSnapshot: configuration of %llu servers (1..%d)",
                  (unsigned long long)v, CS_RAFT_WIRE_SERVERS_MAX);
        w->count = v;
        expect(w, ST_CONF_ID, 8);
        return CONSORT_OK;
    case ST_CONF_ID:
        CS_ENSURE(v != 0, CONSORT_E_MALFORMED, "raft InstallSnapshot: server id 0");
        w->addr_len = 0;
        expect(w, ST_CONF_ADDR, 1);
        return CONSORT_OK;
    case ST_CONF_ADDR:
        if (v == 0) {
            CS_ENSURE(w->addr_len > 0, CONSORT_E_MALFORMED,
                      "raft InstallSnapshot: empty server address");
            expect(w, ST_CONF_ROLE, 1);
            return CONSORT_OK;
        }
        w->addr_len++;
        CS_ENSURE(v > 0x20 && v < 0x7f && w->addr_len <= ADDRESS_MAX, CONSORT_E_MALFORMED,
                  "raft InstallSnapshot: server address not 1..%d printable bytes", ADDRESS_MAX);
        expect(w, ST_CONF_ADDR, 1);
        return CONSORT_OK;
    case ST_CONF_ROLE:
        CS_ENSURE(v == RAFT_STANDBY || v == RAFT_VOTER || v == RAFT_SPARE, CONSORT_E_MALFORMED,
                  "raft InstallSnapshot: server role %llu unknown", (unsigned long long)v);
        return on_conf_server_done(w);
    case ST_CONF_PAD: /* libraft leaves the padding uninitialised: any bytes */
        (void)v;
        expect(w, ST_IS_DATA_LEN, 8);
        return CONSORT_OK;
    case ST_IS_DATA_LEN:
        CS_ENSURE(v >= 1 && v <= w->lim.max_snapshot, CONSORT_E_TOO_LARGE,
                  "raft InstallSnapshot: snapshot of %llu bytes (1..%llu)", (unsigned long long)v,
                  (unsigned long long)w->lim.max_snapshot);
        w->payload = v;
        skip_then(w, w->header_left, ST_HEADER_END); /* the sender's slack */
        return CONSORT_OK;
    default:
        return cs_fail(CONSORT_E_STATE, "raft wire: step %d (a bug)", w->step);
    }
}

/* Bytes of the header (and of its configuration) consumed. */
static consort_err consume_header(cs_raft_wire *w, uint64_t n)
{
    CS_ENSURE(n <= w->header_left, CONSORT_E_MALFORMED,
              "raft %s: fields run past its header of %llu bytes", type_name(w->type),
              (unsigned long long)w->header_len);
    w->header_left -= n;
    if (w->step >= ST_CONF_FORMAT && w->step <= ST_CONF_PAD) {
        CS_ENSURE(n <= w->conf_left, CONSORT_E_MALFORMED,
                  "raft InstallSnapshot: servers run past the configuration's length");
        w->conf_left -= n;
    }
    return CONSORT_OK;
}

static consort_err feed(cs_raft_wire *w, cs_slice data)
{
    size_t i = 0;
    for (;;) {
        if (w->step == ST_HEADER_END) {
            CS_ENSURE(w->header_left == 0, CONSORT_E_MALFORMED,
                      "raft %s: %llu header bytes left over", type_name(w->type),
                      (unsigned long long)w->header_left);
            header_done(w);
            continue;
        }
        if (i == data.len)
            return CONSORT_OK;
        size_t avail = data.len - i;
        if (w->step == ST_SKIP) {
            size_t n = w->skip < avail ? (size_t)w->skip : avail;
            if (w->phase == PH_HEADER)
                CS_TRY(consume_header(w, n));
            w->skip -= n;
            i += n;
            if (w->skip > 0)
                continue;
            if (w->phase == PH_PAYLOAD)
                next_message(w);
            else
                expect(w, w->after, field_size(w->after));
            continue;
        }
        size_t n = w->acc_need - w->acc_len;
        if (n > avail)
            n = avail;
        if (w->phase == PH_HEADER)
            CS_TRY(consume_header(w, n));
        memcpy(w->acc + w->acc_len, data.ptr + i, n);
        w->acc_len += n;
        i += n;
        if (w->acc_len == w->acc_need)
            CS_TRY(on_field(w));
    }
}

consort_err cs_raft_wire_feed(cs_raft_wire *w, cs_slice data)
{
    CS_ENSURE(w->phase != PH_FAILED, CONSORT_E_MALFORMED,
              "raft stream refused earlier: nothing more is read");
    consort_err rc = feed(w, data);
    if (rc != CONSORT_OK)
        w->phase = PH_FAILED;
    return rc;
}
