/* test_url.c: next-link resolution and origins (src/http/url.c). */
#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/error.h"
#include "http/url.h"

static void expect_resolve(const char *base, const char *ref, const char *want)
{
    char *out = NULL;
    int rc = fr_url_resolve(base, ref, &out);
    if (rc || strcmp(out, want) != 0)
        fail_msg("%s + %s: got %s, want %s", base, ref, out ? out : "(error)", want);
    free(out);
}

static void test_resolve(void **state)
{
    const char *base = "http://127.0.0.1:8089/api/participants?$top=100&$orderby=participantId";
    /* absolute links as given */
    expect_resolve(base, "http://127.0.0.1:8089/api/participants?$skiptoken=abc",
                   "http://127.0.0.1:8089/api/participants?$skiptoken=abc");
    expect_resolve(base, "https://other.example.com/x", "https://other.example.com/x");
    /* relative ones against the page they came from (RFC 3986 5.4) */
    expect_resolve(base, "/participants?paging=link&$skiptoken=bz0xMDA",
                   "http://127.0.0.1:8089/participants?paging=link&$skiptoken=bz0xMDA");
    expect_resolve(base, "?page=2", "http://127.0.0.1:8089/api/participants?page=2");
    expect_resolve(base, "next?page=2", "http://127.0.0.1:8089/api/next?page=2");
    expect_resolve(base, "../v2/p", "http://127.0.0.1:8089/v2/p");
    expect_resolve(base, "//cdn.example.com/p", "http://cdn.example.com/p");

    char *out = (char *)"x";
    assert_int_equal(fr_url_resolve("/relative/base", "/p", &out), FR_EINVAL);
    assert_null(out);
    assert_int_equal(fr_url_resolve(base, "ftp://example.com/file", &out), FR_EINVAL);
    assert_int_equal(fr_url_resolve(base, "", &out), FR_EINVAL);
    assert_int_equal(fr_url_resolve(base, "/a b", &out), FR_EINVAL);
    assert_int_equal(fr_url_resolve("file:///etc/passwd", "/p", &out), FR_EINVAL);
}

static void test_origin(void **state)
{
    struct fr_url_origin o;
    assert_int_equal(fr_url_origin("HTTPS://API.Example.com/p?x=1", &o), 0);
    assert_string_equal(o.scheme, "https");
    assert_string_equal(o.host, "api.example.com");
    assert_int_equal(o.port, 443);
    assert_int_equal(fr_url_origin("http://127.0.0.1:8089/p", &o), 0);
    assert_string_equal(o.scheme, "http");
    assert_string_equal(o.host, "127.0.0.1");
    assert_int_equal(o.port, 8089);
    assert_int_equal(fr_url_origin("http://[::1]:9000/p", &o), 0);
    assert_string_equal(o.host, "::1");
    assert_int_equal(o.port, 9000);
    assert_int_equal(fr_url_origin("/p", &o), FR_EINVAL);
    assert_int_equal(fr_url_origin("ftp://example.com/", &o), FR_EINVAL);

    assert_int_equal(fr_url_origin("https://cdn.example.com:8443/x", &o), 0);
    assert_true(fr_url_origin_matches(&o, "cdn.example.com"));
    assert_true(fr_url_origin_matches(&o, "CDN.example.com:8443"));
    assert_false(fr_url_origin_matches(&o, "cdn.example.com:443"));
    assert_false(fr_url_origin_matches(&o, "example.com"));
    assert_false(fr_url_origin_matches(&o, "cdn.example.com.evil"));
    assert_int_equal(fr_url_origin("http://[::1]:9000/p", &o), 0);
    assert_true(fr_url_origin_matches(&o, "[::1]:9000"));
    assert_true(fr_url_origin_matches(&o, "[::1]"));
    assert_false(fr_url_origin_matches(&o, "[::1]:9001"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
