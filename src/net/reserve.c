/* Addresses bound before anything listens on them (reserve.h). */
#include "net/reserve.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUSY_POLL_MS 50

typedef struct reserved {
    struct sockaddr_storage sa; /* the bound address (its port non-zero) */
    int fd;                     /* -1: free slot */
} reserved;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static reserved g_slots[CS_NET_RESERVED_MAX];
static size_t g_used; /* slots [0, g_used) may hold a socket */

static uint16_t port_of(const struct sockaddr *sa)
{
    return ntohs(sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                                           : ((const struct sockaddr_in *)sa)->sin_port);
}

static bool same_address(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family || port_of(a) != port_of(b))
        return false;
    if (a->sa_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr)) == 0;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* A socket bound to `ss` in *fd (the bound port written back into ss). */
static consort_err bind_socket(const char *address, struct sockaddr_storage *ss, int *fd)
{
    *fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CS_ENSURE(*fd >= 0, CONSORT_E_IO, "address '%s': socket: %s", address, strerror(errno));
    /* as every listener here: a restart binds while the last run's connections linger */
    int one = 1;
    socklen_t len =
        ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    const char *step = "setsockopt";
    if (setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0) {
        step = "bind";
        int rc = bind(*fd, (const struct sockaddr *)ss, len);
        /* a process that is exiting may hold the port a moment longer */
        for (int waited = 0;
             rc != 0 && errno == EADDRINUSE && port_of((const struct sockaddr *)ss) != 0 &&
             waited < CS_NET_RESERVE_WAIT_MS;
             waited += BUSY_POLL_MS) {
            struct timespec ts = {0, BUSY_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
            rc = bind(*fd, (const struct sockaddr *)ss, len);
        }
        if (rc == 0) {
            step = "getsockname";
            len = sizeof *ss;
            if (getsockname(*fd, (struct sockaddr *)ss, &len) == 0)
                return CONSORT_OK;
        }
    }
    consort_err rc = cs_fail(CONSORT_E_IO, "address '%s': %s: %s", address, step, strerror(errno));
    close(*fd);
    *fd = -1;
    return rc;
}

/* A free slot for `ss` in *out; fails if the table is full or ss is reserved already. */
static consort_err slot_for(const char *address, const struct sockaddr_storage *ss, reserved **out)
{
    reserved *free_slot = NULL;
    for (size_t i = 0; i < g_used; i++) {
        if (g_slots[i].fd < 0) {
            free_slot = free_slot != NULL ? free_slot : &g_slots[i];
            continue;
        }
        CS_ENSURE(
            !same_address((const struct sockaddr *)&g_slots[i].sa, (const struct sockaddr *)ss),
            CONSORT_E_IO, "address '%s' is reserved already", address);
    }
    if (free_slot == NULL && g_used < CS_NET_RESERVED_MAX)
        free_slot = &g_slots[g_used++];
    CS_ENSURE(free_slot != NULL, CONSORT_E_BUSY, "address '%s': %d addresses are reserved already",
              address, CS_NET_RESERVED_MAX);
    *out = free_slot;
    return CONSORT_OK;
}

consort_err cs_net_reserve(const char *address, char bound[CS_NET_ADDRESS_MAX])
{
    struct sockaddr_storage ss;
    CS_TRY(cs_net_parse_address(address, &ss));
    const char *colon = strrchr(address, ':'); /* parsed: there is one */
    int n = snprintf(bound, CS_NET_ADDRESS_MAX, "%.*s:65535", (int)(colon - address), address);
    CS_ENSURE(n > 0 && n < CS_NET_ADDRESS_MAX, CONSORT_E_INVALID_ARGUMENT,
              "address '%s' is too long", address);
    int fd = -1;
    CS_TRY(bind_socket(address, &ss, &fd));
    snprintf(bound, CS_NET_ADDRESS_MAX, "%.*s:%u", (int)(colon - address), address,
             (unsigned)port_of((const struct sockaddr *)&ss));
    reserved *r = NULL;
    pthread_mutex_lock(&g_lock);
    consort_err rc = slot_for(address, &ss, &r);
    if (rc == CONSORT_OK)
        *r = (reserved){.sa = ss, .fd = fd};
    pthread_mutex_unlock(&g_lock);
    if (rc != CONSORT_OK)
        close(fd);
    return rc;
}

int cs_net_reserved_take(const struct sockaddr *sa)
{
    int fd = -1;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_used && fd < 0; i++) {
        if (g_slots[i].fd >= 0 && same_address((const struct sockaddr *)&g_slots[i].sa, sa)) {
            fd = g_slots[i].fd;
            g_slots[i].fd = -1;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return fd;
}

void cs_net_reserved_release(void)
{
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_used; i++) {
        if (g_slots[i].fd >= 0)
            close(g_slots[i].fd);
        g_slots[i].fd = -1;
    }
    g_used = 0;
    pthread_mutex_unlock(&g_lock);
}
