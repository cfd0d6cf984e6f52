/* The in-process network: attachment, dialing, cut links (loopnet.h). */
#include "base/alloc.h"
#include "base/log.h"
#include "consensus/bridge.h"
#include "consensus/loopnet_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_MOD "raft"

/* One dial, completed from a timer so the callback never runs inside connect(). */
typedef struct dial {
    uv_timer_t timer;
    cs_loopnet *net;
    unsigned from; /* node slot of the dialer */
    char address[256];
    cs_raft_connect_cb cb;
    void *arg;
} dial;

static int slot_of(const cs_loopnet *n, uint64_t id)
{
    for (int i = 0; i < CS_LOOPNET_MAX_NODES; i++)
        if (n->nodes[i].used && n->nodes[i].id == id)
            return i;
    return -1;
}

consort_err cs_loopnet_new(uv_loop_t *loop, cs_loopnet **out)
{
    cs_loopnet *n = cs_calloc(1, sizeof *n);
    CS_ENSURE(n != NULL, CONSORT_E_NOMEM, "loopnet");
    n->loop = loop;
    *out = n;
    return CONSORT_OK;
}

consort_err cs_loopnet_attach(cs_loopnet *n, uint64_t id, const char *address,
                              cs_loopnet_accept_fn accept, void *ctx)
{
    CS_ENSURE(id != 0 && address != NULL && strlen(address) < sizeof n->nodes[0].address &&
                  accept != NULL,
              CONSORT_E_INVALID_ARGUMENT, "loopnet: attach needs id, address, accept");
    int i = slot_of(n, id);
    if (i < 0) {
        for (i = 0; i < CS_LOOPNET_MAX_NODES && n->nodes[i].used; i++)
            ;
        CS_ENSURE(i < CS_LOOPNET_MAX_NODES, CONSORT_E_BUSY, "loopnet: %d nodes at most",
                  CS_LOOPNET_MAX_NODES);
    }
    loop_node *node = &n->nodes[i];
    node->net = n;
    node->slot = (unsigned)i;
    node->used = true;
    node->attached = true;
    node->id = id;
    strcpy(node->address, address);
    node->accept = accept;
    node->accept_ctx = ctx;
    return CONSORT_OK;
}

void cs_loopnet_detach(cs_loopnet *n, uint64_t id)
{
    int i = slot_of(n, id);
    if (i >= 0)
        n->nodes[i].attached = false;
}

static void dial_free_cb(uv_handle_t *h)
{
    cs_free(h->data);
}

/* Sets up the connection, or explains why not. */
static consort_err dial_complete(dial *d, cs_stream **mine, uint64_t *peer_id)
{
    cs_loopnet *n = d->net;
    const loop_node *from = &n->nodes[d->from];
    int to = -1;
    for (int i = 0; i < CS_LOOPNET_MAX_NODES; i++)
        if (n->nodes[i].used && n->nodes[i].attached &&
            strcmp(n->nodes[i].address, d->address) == 0)
            to = i;
    CS_ENSURE(to >= 0, CONSORT_E_IO, "loopnet: nobody listens at %s", d->address);
    CS_ENSURE(from->attached, CONSORT_E_STATE, "loopnet: dialer %llu detached",
              (unsigned long long)from->id);
    CS_ENSURE(!n->blocked[d->from][to], CONSORT_E_IO, "loopnet: link %llu-%llu is cut",
              (unsigned long long)from->id, (unsigned long long)n->nodes[to].id);
    const loop_node *target = &n->nodes[to];
    int fds[2];
    CS_ENSURE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, CONSORT_E_IO,
              "loopnet: socketpair: %s", strerror(errno));
    cs_stream *theirs = NULL;
    consort_err rc = cs_loopnet_stream_new(n, fds[0], from->id, target->id, target->address, mine);
    if (rc != CONSORT_OK) {
        close(fds[1]);
        return rc;
    }
    rc = cs_loopnet_stream_new(n, fds[1], target->id, from->id, from->address, &theirs);
    if (rc != CONSORT_OK) {
        cs_raft_stream_discard(*mine);
        return rc;
    }
    rc = target->accept(target->accept_ctx, theirs, from->id, from->address);
    if (rc != CONSORT_OK) {
        cs_raft_stream_discard(*mine);
        return cs_err_context(rc, "loopnet: %llu refused %llu", (unsigned long long)target->id,
                              (unsigned long long)from->id);
    }
    *peer_id = target->id;
    return CONSORT_OK;
}

static void dial_timer_cb(uv_timer_t *t)
{
    dial *d = t->data;
    cs_loopnet *n = d->net;
    cs_stream *mine = NULL;
    uint64_t peer_id = 0;
    consort_err rc = dial_complete(d, &mine, &peer_id);
    char msg[CS_ERRMSG_MAX] = "";
    if (rc != CONSORT_OK) /* a synchronous failure: its message is current */
        snprintf(msg, sizeof msg, "%s", consort_errmsg());
    n->pending--;
    uv_close((uv_handle_t *)&d->timer, dial_free_cb);
    d->cb(d->arg, rc, msg, rc == CONSORT_OK ? mine : NULL, peer_id);
}

static consort_err loop_connect(void *ctx, uint64_t id, const char *address, cs_raft_connect_cb cb,
                                void *arg)
{
    loop_node *from = ctx;
    cs_loopnet *n = from->net;
    (void)id; /* dialed by address; the answer says who was reached */
    CS_ENSURE(strlen(address) < 256, CONSORT_E_INVALID_ARGUMENT, "loopnet: address too long");
    dial *d = cs_calloc(1, sizeof *d);
    CS_ENSURE(d != NULL, CONSORT_E_NOMEM, "loopnet dial");
    d->net = n;
    d->from = from->slot;
    strcpy(d->address, address);
    d->cb = cb;
    d->arg = arg;
    uv_timer_init(n->loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, dial_timer_cb, 0, 0);
    n->pending++;
    return CONSORT_OK;
}

consort_err cs_loopnet_connector(cs_loopnet *n, uint64_t id, cs_raft_connector *out)
{
    int i = slot_of(n, id);
    CS_ENSURE(i >= 0, CONSORT_E_NOT_FOUND, "loopnet: %llu not attached", (unsigned long long)id);
    *out = (cs_raft_connector){.ctx = &n->nodes[i], .connect = loop_connect, .cancel = NULL};
    return CONSORT_OK;
}

void cs_loopnet_partition(cs_loopnet *n, uint64_t a, uint64_t b, bool blocked)
{
    int i = slot_of(n, a);
    int j = slot_of(n, b);
    if (i < 0 || j < 0)
        return;
    n->blocked[i][j] = n->blocked[j][i] = blocked;
    if (blocked)
        cs_loopnet_cut(n, a, b);
}

void cs_loopnet_isolate(cs_loopnet *n, uint64_t a, bool blocked)
{
    int i = slot_of(n, a);
    if (i < 0)
        return;
    for (int j = 0; j < CS_LOOPNET_MAX_NODES; j++)
        n->blocked[i][j] = n->blocked[j][i] = blocked;
    if (blocked)
        cs_loopnet_cut(n, a, 0);
}

void cs_loopnet_free(cs_loopnet *n)
{
    if (n == NULL)
        return;
    if (cs_loopnet_busy(n) != 0)
        cs_log_error(LOG_MOD, "loopnet freed with %u streams/dials open (a bug)",
                     cs_loopnet_busy(n));
    cs_free(n);
}
