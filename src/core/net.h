/*
 * net.h: the listening socket of a server command (`ferry mock`,
 * `ferry serve`), from an address written as IP:PORT.
 */
#ifndef FR_CORE_NET_H
#define FR_CORE_NET_H

#include "core/common.h"

#include "core/error.h"

/*
 * Binds and listens on addr: a numeric IPv4 address or a bracketed IPv6
 * one, a colon, and a port (0: any free port), e.g. 127.0.0.1:8089 or
 * [::1]:0. On success *fd is the listening socket (close-on-exec), *port
 * the port it got, *v6 whether it is IPv6, and host (hostlen bytes) the
 * IP as written, without brackets. FR_EINVAL
 * for an address that is not IP:PORT, FR_EIO when the socket cannot be
 * bound (err names the address and the reason).
 */
int fr_net_listen(const char *addr, char *host, size_t hostlen, int *fd, int *port, bool *v6,
                  struct fr_err *err);

#endif
