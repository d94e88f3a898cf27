/*
 * Next links of a pull job: the Link header parser (fr__pull_link_next,
 * src/job/pull.c) and URL resolution and origins (src/http/url.c). The
 * input is a Link header value; the whole input is also tried as an OData
 * @odata.nextLink. Properties: a next link resolves to an http(s) URL that
 * has an origin; a relative link (no scheme, not "//host") never leaves
 * the page's origin, so a token cannot be sent elsewhere through one.
 */
#include "core/common.h"

#include "http/url.h"
#include "job/pull.h"
#include "fuzz_util.h"

#define BASE "https://api.example.com:8443/v1/participants?$top=100"

static struct fr_url_origin base_origin;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (fr_url_origin(BASE, &base_origin) != 0)
        abort();
    return 0;
}

static bool relative(const char *ref)
{
    size_t scheme =
        strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (scheme > 0 && ref[scheme] == ':')
        return false;
    /* "//host" is network-path relative; curl also reads backslashes as slashes. */
    return !((ref[0] == '/' || ref[0] == '\\') && (ref[1] == '/' || ref[1] == '\\'));
}

static void follow(const char *ref)
{
    char *abs = NULL;
    if (fr_url_resolve(BASE, ref, &abs) != 0) {
        FUZZ_CHECK(abs == NULL);
        return;
    }
    FUZZ_CHECK(strncmp(abs, "http://", 7) == 0 || strncmp(abs, "https://", 8) == 0);
    struct fr_url_origin o;
    if (fr_url_origin(abs, &o) == 0) {
        bool same = strcmp(o.host, base_origin.host) == 0 && o.port == base_origin.port &&
                    strcmp(o.scheme, base_origin.scheme) == 0;
        if (relative(ref) && !same)
            fprintf(stderr, "relative link \"%s\" left the origin: %s\n", ref, abs);
        FUZZ_CHECK(!relative(ref) || same);
        /* The host alone, and host:port, name the origin they came from. */
        char spec[300];
        snprintf(spec, sizeof(spec), strchr(o.host, ':') ? "[%s]:%ld" : "%s:%ld", o.host, o.port);
        FUZZ_CHECK(fr_url_origin_matches(&o, spec));
    } else {
        FUZZ_CHECK(!relative(ref));
    }
    free(abs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return -1;
    char *header = fuzz_cstr(data, size);
    char *next = fr__pull_link_next(header);
    if (next) {
        FUZZ_CHECK(strlen(next) < size);
        follow(next);
        free(next);
    }
    follow(header);
    free(header);
    return 0;
}
