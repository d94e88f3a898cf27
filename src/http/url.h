/*
 * url.h: the URLs of the pages a pull job follows, through libcurl's URL
 * API: a next link resolved against the page it came from (RFC 3986
 * section 5), and where a URL points (scheme, host, port), so that a next
 * link to another host can be refused before a token is sent there.
 *
 * Only http and https URLs are accepted.
 */
#ifndef FR_HTTP_URL_H
#define FR_HTTP_URL_H

#include "core/common.h"

/*
 * ref (absolute, or relative such as "/p?page=2", "?page=2", "p2") resolved
 * against the absolute URL base. *out is a new string (caller frees).
 * FR_EINVAL when base is not an http(s) URL, or ref does not make one.
 */
int fr_url_resolve(const char *base, const char *ref, char **out);

/* Where a URL points: the scheme and host in lowercase, the port made explicit. */
struct fr_url_origin {
    char scheme[8]; /* "http" or "https" */
    char host[256]; /* without brackets for IPv6 */
    long port;      /* 80 or 443 when the URL does not say */
};

/* Fills *out from an absolute http(s) URL; FR_EINVAL otherwise. */
int fr_url_origin(const char *url, struct fr_url_origin *out);

/*
 * Whether host_spec ("api.example.com", "api.example.com:8443",
 * "[::1]:8080", case-insensitive) names o: the host alone matches any
 * port, host:port only that port.
 */
bool fr_url_origin_matches(const struct fr_url_origin *o, const char *host_spec);

#endif
