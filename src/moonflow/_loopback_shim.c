/*
 * moonflow's loopback shim: an LD_PRELOAD library for server binaries that cannot be told
 * which address to bind (the bundled time-skipping test server binds every interface).
 *
 * It interposes bind(2): a bind to the wildcard address becomes a bind to loopback, with the
 * same port; every other bind passes through unchanged to the real bind (dlsym RTLD_NEXT).
 *
 *   AF_INET   0.0.0.0                       -> 127.0.0.1
 *   AF_INET6  ::  (or ::ffff:0.0.0.0)       -> ::ffff:127.0.0.1 on a dual-stack socket, so
 *                                              IPv4 clients dialing 127.0.0.1 still connect;
 *                                              ::1 on an IPv6-only socket (IPV6_V6ONLY set)
 *
 * Loaded into a non-Python process: it must not use any Python symbol. Python never imports
 * it; moonflow/_loopback.py finds the built file and sets LD_PRELOAD for the child.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

static bind_fn real_bind;

__attribute__((constructor)) static void moonflow_loopback_init(void)
{
    real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
}

static int is_v4_wildcard_mapped(const struct in6_addr *a)
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->s6_addr, prefix, 12) == 0 && a->s6_addr[12] == 0 && a->s6_addr[13] == 0
           && a->s6_addr[14] == 0 && a->s6_addr[15] == 0;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (real_bind == NULL) {
        moonflow_loopback_init();
        if (real_bind == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }
    if (addr != NULL && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in4;
        memcpy(&in4, addr, sizeof in4);
        if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
            in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (const struct sockaddr *)&in4, sizeof in4);
        }
    } else if (addr != NULL && addr->sa_family == AF_INET6
               && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, addr, sizeof in6);
        if (IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr) || is_v4_wildcard_mapped(&in6.sin6_addr)) {
            int v6only = 0;
            socklen_t n = sizeof v6only;
            if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &n) != 0)
                v6only = 0;
            if (v6only && IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr)) {
                in6.sin6_addr = in6addr_loopback;
            } else {
                memset(&in6.sin6_addr, 0, sizeof in6.sin6_addr);
                in6.sin6_addr.s6_addr[10] = 0xff;
                in6.sin6_addr.s6_addr[11] = 0xff;
                in6.sin6_addr.s6_addr[12] = 127;
                in6.sin6_addr.s6_addr[15] = 1;
            }
            return real_bind(fd, (const struct sockaddr *)&in6, sizeof in6);
        }
    }
    return real_bind(fd, addr, len);
}
