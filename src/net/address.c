/* Socket addresses: parsing "host:port", formatting, libuv errors. */
#include "net/net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_MAX 48

static consort_err parse_port(const char *s, const char *address, int *out)
{
    CS_ENSURE(*s != '\0' && strlen(s) <= 5 && strspn(s, "0123456789") == strlen(s),
              CONSORT_E_INVALID_ARGUMENT, "address '%s': port '%s' is not a number", address, s);
    long v = strtol(s, NULL, 10);
    CS_ENSURE(v >= 0 && v <= 65535, CONSORT_E_INVALID_ARGUMENT,
              "address '%s': port %ld out of range 0..65535", address, v);
    *out = (int)v;
    return CONSORT_OK;
}

consort_err cs_net_parse_address(const char *address, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(address != NULL, CONSORT_E_INVALID_ARGUMENT, "address: none given");
    const char *colon = strrchr(address, ':');
    CS_ENSURE(colon != NULL, CONSORT_E_INVALID_ARGUMENT, "address '%s': expected host:port",
              address);
    char host[HOST_MAX];
    size_t host_len = (size_t)(colon - address);
    bool v6 = host_len >= 2 && address[0] == '[' && address[host_len - 1] == ']';
    const char *host_start = v6 ? address + 1 : address;
    if (v6)
        host_len -= 2;
    CS_ENSURE(host_len >= 1 && host_len < sizeof host, CONSORT_E_INVALID_ARGUMENT,
              "address '%s': host of %zu characters", address, host_len);
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    int port = 0;
    CS_TRY(parse_port(colon + 1, address, &port));
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    int rc = v6 ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)out)
                : uv_ip4_addr(host, port, (struct sockaddr_in *)out);
    CS_ENSURE(rc == 0, CONSORT_E_INVALID_ARGUMENT,
              "address '%s': '%s' is not a numeric IPv%d address", address, host, v6 ? 6 : 4);
    return CONSORT_OK;
}

void cs_net_format_address(const struct sockaddr *sa, char out[CS_NET_ADDRESS_MAX])
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        (void)uv_ip4_name(in, ip, sizeof ip);
        snprintf(out, CS_NET_ADDRESS_MAX, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        (void)uv_ip6_name(in6, ip, sizeof ip);
        snprintf(out, CS_NET_ADDRESS_MAX, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, CS_NET_ADDRESS_MAX, "(family %d)", (int)sa->sa_family);
    }
}

consort_err cs_net_uv_fail(int uv_err, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    consort_err code = CONSORT_E_IO;
    if (uv_err == UV_ENOMEM)
        code = CONSORT_E_NOMEM;
    else if (uv_err == UV_ETIMEDOUT)
        code = CONSORT_E_TIMEOUT;
    return cs_fail(code, "%s: %s (%s)", what, uv_strerror(uv_err), uv_err_name(uv_err));
}
