#include "core/common.h"
#include "core/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse_listen(const char *addr, struct sockaddr_storage *ss, socklen_t *sl, char *host,
                        size_t hostlen, struct fr_err *err)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || colon[1] == '\0')
        return fr_err_set(err, FR_EINVAL, 0, "listen address \"%s\" is not IP:PORT", addr);
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || port < 0 || port > 65535 || colon[1] == '-' || colon[1] == '+')
        return fr_err_set(err, FR_EINVAL, 0, "listen address \"%s\": bad port", addr);
    const char *ip = addr;
    size_t iplen = (size_t)(colon - addr);
    bool bracketed = ip[0] == '[' && iplen >= 2 && ip[iplen - 1] == ']';
    if (bracketed) {
        ip++;
        iplen -= 2;
    }
    if (iplen >= hostlen)
        return fr_err_set(err, FR_EINVAL, 0, "listen address \"%s\" is not IP:PORT", addr);
    memcpy(host, ip, iplen);
    host[iplen] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (!bracketed && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *sl = sizeof(*v4);
        return 0;
    }
    if (bracketed && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*v6);
        return 0;
    }
    return fr_err_set(
        err, FR_EINVAL, 0,
        "listen address \"%s\": \"%s\" is not an IP address (e.g. 127.0.0.1:8080 or [::1]:8080)",
        addr, host);
}

static int bind_listen(const char *addr, const struct sockaddr_storage *ss, socklen_t sl,
                       int *fd_out, int *port_out, struct fr_err *err)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fr_err_set(err, FR_EIO, errno, "cannot create a socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        close(fd);
        return fr_err_set(err, FR_EIO, e, "cannot listen on %s: %s", addr, strerror(e));
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &bl);
    *port_out = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    *fd_out = fd;
    return 0;
}

int fr_net_listen(const char *addr, char *host, size_t hostlen, int *fd, int *port, bool *v6,
                  struct fr_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int rc = parse_listen(addr, &ss, &sl, host, hostlen, err);
    *v6 = !rc && ss.ss_family == AF_INET6;
    return rc ? rc : bind_listen(addr, &ss, sl, fd, port, err);
}
