/*
 * LD_PRELOAD shim for bench_scale's wide-area runs (scripts/bench-scale.sh):
 * the service records one node_address per node, which is both where the
 * node listens and where its peers dial it, so a delaying proxy cannot be
 * put in between by configuration. This shim rewrites the destination of
 * connect(2) calls to 127.0.0.1:P into 127.0.0.1:Q for the pairs "P Q" (one
 * pair a line) in the file named by CONSORT_BENCH_CONNECT_MAP, read at each
 * call (node-to-node connections are few). Without the variable, or for a
 * port not listed, connect is unchanged. Bench-only: never loaded by the
 * product. (Built without -Wpedantic: glibc declares connect with a
 * transparent union under _GNU_SOURCE, and dlsym returns an object pointer.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static unsigned short mapped_port(unsigned short port)
{
    const char *path = getenv("CONSORT_BENCH_CONNECT_MAP");
    if (path == NULL)
        return 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    unsigned from, to;
    unsigned short out = 0;
    while (fscanf(f, "%u %u", &from, &to) == 2)
        if (from == port && to > 0 && to < 65536) {
            out = (unsigned short)to;
            break;
        }
    fclose(f);
    return out;
}

__attribute__((visibility("default"))) int connect(int fd, const struct sockaddr *addr,
                                                   socklen_t len)
{
    static connect_fn real;
    if (real == NULL)
        real = (connect_fn)dlsym(RTLD_NEXT, "connect");
    if (addr != NULL && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, addr, sizeof in);
        if (in.sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
            unsigned short to = mapped_port(ntohs(in.sin_port));
            if (to != 0) {
                in.sin_port = htons(to);
                return real(fd, (const struct sockaddr *)&in, sizeof in);
            }
        }
    }
    return real(fd, addr, len);
}
