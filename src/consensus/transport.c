#include "consensus/transport.h"

#include "base/alloc.h"
#include "base/log.h"
#include "consensus/bridge.h"

#include <raft.h>
#include <raft/uv.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>

#define LOG_MOD     "raft"
#define ADDRESS_MAX 255
#define SCRATCH_LEN ((size_t)64 << 10)

/* One outbound attempt in the connector's hands. When the transport closes
 * first it is `cancelled`: raft hears RAFT_CANCELED from the close's loop
 * callback (never inside close()), and the request lives until both that
 * happened (t == NULL: detached) and the connector called back (`answered`). */
typedef struct connect_req {
    cs_raft_transport *t;
    struct raft_uv_connect *req;
    raft_uv_connect_cb cb;
    uint64_t id;
    bool cancelled;
    bool answered;
    struct connect_req *prev, *next;
} connect_req;

struct cs_raft_transport {
    struct raft_uv_transport raft; /* raft.impl == this; raft.data is raft_uv's */
    uv_loop_t *loop;
    cs_raft_connector connector;
    cs_raft_transport_limits limits;
    cs_raft_bridge_cfg cfg;
    cs_raft_bridge *bridges;
    connect_req *connecting;
    connect_req *cancelled; /* cancelled by close; raft not told yet */
    raft_id id;
    char address[ADDRESS_MAX + 1];
    raft_uv_accept_cb accept_cb;
    bool listening;
    bool closing;
    bool closer_open; /* uv_check used only to make the close callback async */
    uv_check_t closer;
    raft_uv_transport_close_cb close_cb;
    cs_raft_transport_stats stats;
};

static unsigned count_bridges(const cs_raft_transport *t)
{
    unsigned n = 0;
    for (const cs_raft_bridge *b = t->bridges; b != NULL; b = b->next)
        n++;
    return n;
}

static void maybe_fire_close(cs_raft_transport *t)
{
    if (t->close_cb == NULL || t->closer_open || t->bridges != NULL)
        return;
    raft_uv_transport_close_cb cb = t->close_cb;
    t->close_cb = NULL;
    cb(&t->raft);
}

static void bridge_done(void *ctx)
{
    maybe_fire_close(ctx);
}

static void unlink_req(cs_raft_transport *t, connect_req *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        t->connecting = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* ---- struct raft_uv_transport operations ---- */

static int op_init(struct raft_uv_transport *rt, raft_id id, const char *address)
{
    cs_raft_transport *t = rt->impl;
    size_t len = strlen(address);
    if (id == 0 || len == 0 || len > ADDRESS_MAX) {
        snprintf(rt->errmsg, sizeof rt->errmsg, "raft id %llu / address of %zu bytes invalid",
                 (unsigned long long)id, len);
        return RAFT_INVALID;
    }
    t->id = id;
    memcpy(t->address, address, len + 1);
    return 0;
}

static int op_listen(struct raft_uv_transport *rt, raft_uv_accept_cb cb)
{
    cs_raft_transport *t = rt->impl;
    t->accept_cb = cb;
    t->listening = true;
    return 0;
}

static void on_connected(void *arg, consort_err status, const char *msg, cs_stream *stream,
                         uint64_t peer_id)
{
    connect_req *r = arg;
    cs_raft_transport *t = r->t;
    if (r->cancelled) { /* the transport closed meanwhile; raft is told by the close */
        cs_raft_stream_discard(stream);
        r->answered = true;
        if (t == NULL) /* raft was told already */
            cs_free(r);
        return;
    }
    unlink_req(t, r);
    struct raft_uv_connect *req = r->req;
    raft_uv_connect_cb cb = r->cb;
    uint64_t want = r->id;
    cs_free(r);

    if (status != CONSORT_OK || stream == NULL) {
        cs_log_debug(LOG_MOD, "raft %llu: connect to %llu failed: %s", (unsigned long long)t->id,
                     (unsigned long long)want, status != CONSORT_OK ? msg : "no stream");
        cs_raft_stream_discard(stream);
        cb(req, NULL, RAFT_NOCONNECTION);
        return;
    }
    if (peer_id != want) {
        /* The channel authenticated somebody else at that address: raft must
         * never talk to a peer other than the one it asked for. */
        cs_log_warn(LOG_MOD, "raft %llu: connect to %llu reached authenticated peer %llu: refused",
                    (unsigned long long)t->id, (unsigned long long)want,
                    (unsigned long long)peer_id);
        t->stats.refused++;
        cs_raft_stream_discard(stream);
        cb(req, NULL, RAFT_NOCONNECTION);
        return;
    }
    if (count_bridges(t) >= t->limits.max_connections) {
        cs_log_warn(LOG_MOD, "raft %llu: connection limit %u reached: connect to %llu dropped",
                    (unsigned long long)t->id, t->limits.max_connections, (unsigned long long)want);
        t->stats.refused++;
        cs_raft_stream_discard(stream);
        cb(req, NULL, RAFT_NOCONNECTION);
        return;
    }
    uv_stream_t *raft_end = NULL;
    if (cs_raft_bridge_new(&t->cfg, stream, false, peer_id, &raft_end, NULL) != CONSORT_OK) {
        cs_log_warn(LOG_MOD, "raft %llu: %s", (unsigned long long)t->id, consort_errmsg());
        cb(req, NULL, RAFT_NOCONNECTION);
        return;
    }
    t->stats.connected++;
    cb(req, raft_end, 0);
}

static int op_connect(struct raft_uv_transport *rt, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    cs_raft_transport *t = rt->impl;
    if (t->closing)
        return RAFT_CANCELED;
    connect_req *r = cs_calloc(1, sizeof *r);
    if (r == NULL)
        return RAFT_NOMEM;
    r->t = t;
    r->req = req;
    r->cb = cb;
    r->id = id;
    r->next = t->connecting;
    if (r->next != NULL)
        r->next->prev = r;
    t->connecting = r;
    consort_err rc = t->connector.connect(t->connector.ctx, id, address, on_connected, r);
    if (rc != CONSORT_OK) {
        snprintf(rt->errmsg, sizeof rt->errmsg, "connect to %llu at %s: %s", (unsigned long long)id,
                 address, consort_errmsg());
        cs_log_debug(LOG_MOD, "raft %llu: %s", (unsigned long long)t->id, rt->errmsg);
        unlink_req(t, r);
        cs_free(r);
        return RAFT_NOCONNECTION;
    }
    return 0;
}

static void closer_closed_cb(uv_handle_t *h)
{
    cs_raft_transport *t = h->data;
    /* connects cancelled by close(): raft hears RAFT_CANCELED now, before close_cb */
    while (t->cancelled != NULL) {
        connect_req *r = t->cancelled;
        t->cancelled = r->next;
        r->next = NULL;
        struct raft_uv_connect *req = r->req;
        raft_uv_connect_cb cb = r->cb;
        r->t = NULL;
        if (r->answered)
            cs_free(r);
        cb(req, NULL, RAFT_CANCELED);
    }
    t->closer_open = false;
    maybe_fire_close(t);
}

static void op_close(struct raft_uv_transport *rt, raft_uv_transport_close_cb cb)
{
    cs_raft_transport *t = rt->impl;
    t->closing = true;
    t->listening = false;
    t->close_cb = cb;
    /* Cancel pending connects: raft hears RAFT_CANCELED from closer_closed_cb
     * (like uv_close, never inside this call); each request stays allocated
     * until then and until the connector calls back. */
    while (t->connecting != NULL) {
        connect_req *r = t->connecting;
        unlink_req(t, r);
        r->cancelled = true;
        r->next = t->cancelled;
        t->cancelled = r;
        if (t->connector.cancel != NULL)
            t->connector.cancel(t->connector.ctx, r);
    }
    for (cs_raft_bridge *b = t->bridges, *next; b != NULL; b = next) {
        next = b->next;
        cs_raft_bridge_close(b);
    }
    /* The callback must not run inside close(): go through one handle close. */
    uv_check_init(t->loop, &t->closer);
    t->closer.data = t;
    t->closer_open = true;
    uv_close((uv_handle_t *)&t->closer, closer_closed_cb);
}

/* ---- public API ---- */

static bool address_ok(const char *a)
{
    size_t len = strnlen(a, ADDRESS_MAX + 1);
    if (len == 0 || len > ADDRESS_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (a[i] <= 0x20 || a[i] >= 0x7f)
            return false;
    return true;
}

consort_err cs_raft_transport_accept(cs_raft_transport *t, cs_stream *stream, uint64_t peer_id,
                                     const char *peer_address)
{
    consort_err rc = CONSORT_OK;
    if (!t->listening)
        rc = cs_fail(CONSORT_E_STATE, "raft transport is not listening (not started or closing)");
    else if (peer_id == 0 || peer_id == t->id)
        rc = cs_fail(CONSORT_E_INVALID_ARGUMENT, "inbound raft peer id %llu refused (own id %llu)",
                     (unsigned long long)peer_id, (unsigned long long)t->id);
    else if (peer_address == NULL || !address_ok(peer_address))
        rc = cs_fail(CONSORT_E_INVALID_ARGUMENT,
                     "inbound raft peer %llu: address must be 1..%d printable bytes",
                     (unsigned long long)peer_id, ADDRESS_MAX);
    else if (count_bridges(t) >= t->limits.max_connections)
        rc = cs_fail(CONSORT_E_BUSY, "inbound raft peer %llu: connection limit %u reached",
                     (unsigned long long)peer_id, t->limits.max_connections);
    if (rc != CONSORT_OK) {
        t->stats.refused++;
        cs_raft_stream_discard(stream);
        return rc;
    }
    uv_stream_t *raft_end = NULL;
    CS_TRY_CTX(cs_raft_bridge_new(&t->cfg, stream, true, peer_id, &raft_end, NULL),
               "inbound raft peer %llu", (unsigned long long)peer_id);
    t->stats.accepted++;
    /* raft owns raft_end from here, even if it fails to use it. */
    t->accept_cb(&t->raft, peer_id, peer_address, raft_end);
    return CONSORT_OK;
}

void cs_raft_transport_drop_peer(cs_raft_transport *t, uint64_t peer_id)
{
    for (cs_raft_bridge *b = t->bridges, *next; b != NULL; b = next) {
        next = b->next;
        if (b->peer_id == peer_id)
            cs_raft_bridge_close(b);
    }
}

/* Bytes waiting on our end of a bridge's socketpair: what raft wrote and
 * the pump has not read yet. */
static uint64_t unread(const cs_raft_bridge *b)
{
    uv_os_fd_t fd;
    int n = 0;
    if (b->closing || uv_fileno((const uv_handle_t *)&b->pump, &fd) != 0 ||
        ioctl(fd, FIONREAD, &n) != 0 || n < 0)
        return 0;
    return (uint64_t)n;
}

void cs_raft_transport_stats_get(const cs_raft_transport *t, cs_raft_transport_stats *out)
{
    *out = t->stats;
    out->connections = count_bridges(t);
    for (const cs_raft_bridge *b = t->bridges; b != NULL; b = b->next)
        out->raft_unread += unread(b);
}

void cs_raft_transport_peer_get(const cs_raft_transport *t, uint64_t peer_id,
                                cs_raft_transport_peer *out)
{
    *out = (cs_raft_transport_peer){0};
    for (const cs_raft_bridge *b = t->bridges; b != NULL; b = b->next)
        if (b->peer_id == peer_id && !b->closing) {
            if (b->inbound)
                out->inbound++;
            else
                out->outbound++;
        }
    for (const connect_req *r = t->connecting; r != NULL; r = r->next)
        if (r->id == peer_id)
            out->connecting++;
}

struct raft_uv_transport *cs_raft_transport_raft(cs_raft_transport *t)
{
    return &t->raft;
}

static void ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPIPE, &ign, NULL);
    }
}

consort_err cs_raft_transport_new(uv_loop_t *loop, const cs_raft_connector *connector,
                                  const cs_raft_transport_limits *limits, cs_raft_transport **out)
{
    CS_ENSURE(loop != NULL && connector != NULL && connector->connect != NULL && out != NULL,
              CONSORT_E_INVALID_ARGUMENT, "raft transport: loop and connector are required");
    cs_raft_transport *t = cs_calloc(1, sizeof *t);
    uint8_t *scratch = cs_malloc(SCRATCH_LEN);
    if (t == NULL || scratch == NULL) {
        cs_free(t);
        cs_free(scratch);
        return cs_fail(CONSORT_E_NOMEM, "raft transport");
    }
    t->loop = loop;
    t->connector = *connector;
    if (limits != NULL)
        t->limits = *limits;
    if (t->limits.high_water == 0)
        t->limits.high_water = (size_t)4 << 20;
    if (t->limits.low_water == 0 || t->limits.low_water > t->limits.high_water)
        t->limits.low_water = t->limits.high_water / 4;
    if (t->limits.max_connections == 0)
        t->limits.max_connections = 256;
    t->cfg = (cs_raft_bridge_cfg){
        .loop = loop,
        .high_water = t->limits.high_water,
        .low_water = t->limits.low_water,
        .wire = &t->limits.wire,
        .scratch = scratch,
        .scratch_len = SCRATCH_LEN,
        .list = &t->bridges,
        .done = bridge_done,
        .done_ctx = t,
        .bytes_to_peers = &t->stats.bytes_to_peers,
        .bytes_from_peers = &t->stats.bytes_from_peers,
        .pauses = &t->stats.pauses,
        .inbound_pauses = &t->stats.inbound_pauses,
        .wire_refused = &t->stats.wire_refused,
    };
    t->raft.impl = t;
    t->raft.init = op_init;
    t->raft.listen = op_listen;
    t->raft.connect = op_connect;
    t->raft.close = op_close;
    ignore_sigpipe();
    *out = t;
    return CONSORT_OK;
}

void cs_raft_transport_free(cs_raft_transport *t)
{
    if (t == NULL)
        return;
    if (t->bridges != NULL || t->closer_open)
        cs_log_error(LOG_MOD, "raft transport freed with %u open connections (a bug)",
                     count_bridges(t));
    cs_free(t->cfg.scratch);
    cs_free(t);
}
