/*
 * Addresses bound before anything listens on them (docs/operating.md
 * "Ports").
 *
 * consortd must say which ports it has before its node can serve them (port
 * 0 picks a free port; clients are served only once the node has its
 * certificate). cs_net_reserve binds an address once, at start: the socket
 * holds the port from then on, without listening (a client that connects
 * early is refused, as before), and the first listener on that address
 * (cs_tcp_listen and the transports built on it) takes the socket over
 * instead of binding again. A port is never picked, released and bound a
 * second time, so no other process can take it in between.
 *
 * The reservations are the process's (at most CS_NET_RESERVED_MAX, guarded
 * by a mutex); an address is matched by its parsed socket address.
 */
#ifndef CS_NET_RESERVE_H
#define CS_NET_RESERVE_H

#include "net/net.h"

#define CS_NET_RESERVED_MAX 64
/* How long a port that another socket listens on is waited for (a process
 * that is exiting, e.g. just killed, may still hold it for a moment). */
#define CS_NET_RESERVE_WAIT_MS 2000

/*
 * Binds `address` ("host:port"; port 0 picks a free one) and keeps the
 * socket for the first listener on the bound address. `bound` receives the
 * address with the bound port and the host exactly as given ("localhost:0"
 * gives "localhost:41234"). A port in use is retried every 50 ms for up to
 * CS_NET_RESERVE_WAIT_MS (the call sleeps: it is for a process's start).
 * Errors: CONSORT_E_INVALID_ARGUMENT (address),
 * CONSORT_E_IO (bind failed, e.g. the port is taken; or the address is
 * reserved already), CONSORT_E_BUSY (CS_NET_RESERVED_MAX reserved already).
 */
CS_MUST_CHECK consort_err cs_net_reserve(const char *address, char bound[CS_NET_ADDRESS_MAX]);

/* The reserved socket for `sa` (its port non-zero), now the caller's; -1 if none. */
int cs_net_reserved_take(const struct sockaddr *sa);

/* Closes every reserved socket no listener has taken. */
void cs_net_reserved_release(void);

#endif
