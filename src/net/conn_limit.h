/*
 * Counting the connections a listener holds, per client address and in
 * total, against its caps (net.h cs_listener_set_limits). No I/O: the
 * listener asks cs_conn_table_admit before it hands a connection on, and
 * calls cs_conn_table_release once that connection's socket is closed, so
 * the counts are descriptors in use.
 *
 * A client address is an IPv4 address, or the /64 prefix of an IPv6
 * address (a host is given a whole /64: RFC 4291 §2.5.1, interface
 * identifiers are 64 bits, and RFC 4941 lets it change them at will); an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) counts as its IPv4 address.
 *
 * The table keeps one entry per address with open connections, so it never
 * holds more entries than connections. Its hash is keyed with a random
 * secret, so clients cannot choose addresses that collide.
 */
#ifndef CS_NET_CONN_LIMIT_H
#define CS_NET_CONN_LIMIT_H

#include "base/err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A client address as counted: 4 bytes (IPv4) or 8 (an IPv6 /64). */
typedef struct cs_conn_key {
    uint8_t len;
    uint8_t bytes[8];
} cs_conn_key;

typedef enum cs_conn_verdict {
    CS_CONN_ADMITTED = 0,
    CS_CONN_OVER_ADDRESS, /* the client address holds max_per_address already */
    CS_CONN_OVER_TOTAL,   /* the listener holds max_total already */
    CS_CONN_NO_MEMORY,    /* the table could not grow: refused (fails closed) */
} cs_conn_verdict;

typedef struct cs_conn_table cs_conn_table;

/* An empty table without caps. Errors: CONSORT_E_NOMEM, the random source's. */
CS_MUST_CHECK consort_err cs_conn_table_new(cs_conn_table **out);
/* cs_conn_table_free(NULL) is a no-op. */
void cs_conn_table_free(cs_conn_table *t);

/* Sets the caps (0: no cap). Connections already counted stay; lowering a
 * cap below what is open refuses new connections until enough have closed. */
void cs_conn_table_set_limits(cs_conn_table *t, size_t max_total, size_t max_per_address);

/* The client address `sa` is counted under (AF_INET or AF_INET6; any other
 * family gives the empty key, counted as one address). */
void cs_conn_key_of(const struct sockaddr *sa, cs_conn_key *out);

/* Counts one more connection from `key` if both caps allow it (the total
 * cap is checked first); otherwise counts nothing and says which cap. */
cs_conn_verdict cs_conn_table_admit(cs_conn_table *t, const cs_conn_key *key);
/* Forgets one connection admitted from `key`. */
void cs_conn_table_release(cs_conn_table *t, const cs_conn_key *key);

/* Connections counted in all, and from `key`. */
size_t cs_conn_table_total(const cs_conn_table *t);
size_t cs_conn_table_count(const cs_conn_table *t, const cs_conn_key *key);

#endif
