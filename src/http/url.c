#include "core/common.h"
#include "http/url.h"

#include <curl/curl.h>
#include <errno.h>
#include <strings.h>

#include "core/error.h"

/* A URL handle holding url, or NULL when it is not an absolute http(s) URL. */
static CURLU *parse(const char *url)
{
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return NULL;
    CURLU *h = curl_url();
    if (!h)
        fr_die(__FILE__, __LINE__, "curl_url failed");
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK) {
        curl_url_cleanup(h);
        return NULL;
    }
    return h;
}

int fr_url_resolve(const char *base, const char *ref, char **out)
{
    *out = NULL;
    if (!*ref || strpbrk(ref, " \t\r\n"))
        return FR_EINVAL;
    CURLU *h = parse(base);
    if (!h)
        return FR_EINVAL;
    char *url = NULL, *scheme = NULL;
    int rc = FR_EINVAL;
    /* Setting a URL on a handle that holds one resolves it against the old one. */
    if (curl_url_set(h, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
        curl_url_get(h, CURLUPART_URL, &url, 0) == CURLUE_OK) {
        *out = fr_strdup(url);
        rc = 0;
    }
    curl_free(url);
    curl_free(scheme);
    curl_url_cleanup(h);
    return rc;
}

int fr_url_origin(const char *url, struct fr_url_origin *out)
{
    memset(out, 0, sizeof(*out));
    CURLU *h = parse(url);
    if (!h)
        return FR_EINVAL;
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = FR_EINVAL;
    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        strlen(scheme) < sizeof(out->scheme)) {
        const char *hs = host;
        size_t hl = strlen(hs);
        if (hl >= 2 && hs[0] == '[' && hs[hl - 1] == ']')
            hs++, hl -= 2;
        if (hl > 0 && hl < sizeof(out->host)) {
            for (size_t i = 0; scheme[i]; i++)
                out->scheme[i] =
                    (char)(scheme[i] >= 'A' && scheme[i] <= 'Z' ? scheme[i] + 32 : scheme[i]);
            for (size_t i = 0; i < hl; i++)
                out->host[i] = (char)(hs[i] >= 'A' && hs[i] <= 'Z' ? hs[i] + 32 : hs[i]);
            out->port = strtol(port, NULL, 10);
            rc = 0;
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(h);
    return rc;
}

bool fr_url_origin_matches(const struct fr_url_origin *o, const char *host_spec)
{
    const char *host = host_spec;
    size_t hl;
    const char *port = NULL;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close)
            return false;
        host++;
        hl = (size_t)(close - host);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return false;
    } else {
        const char *colon = strchr(host, ':');
        hl = colon ? (size_t)(colon - host) : strlen(host);
        if (colon)
            port = colon + 1;
    }
    if (hl != strlen(o->host) || strncasecmp(host, o->host, hl) != 0)
        return false;
    if (!port)
        return true;
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    return !errno && *port && !*end && p == o->port;
}
