/*
 * The operations endpoints' guards against browsers: which Host names they
 * answer (DNS rebinding), which origins may take an admin action, and the
 * security headers of every answer; through fr_admin_handle as the server
 * calls it, with a store in memory.
 */
#include "core/common.h"
#include "obs/admin.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/config.h"
#include "cli/sections.h"

#define TOKEN "admin-token-for-tests-4c1d"

/* ---- Host ----------------------------------------------------------------------------- */

static void test_host_defaults(void **state)
{
    static const struct {
        const char *host;
        bool ok;
    } cases[] = {
        /* addresses: a rebinding page has a name, never an address */
        {"127.0.0.1", true},
        {"127.0.0.1:8080", true},
        {"10.1.2.3:443", true},
        {"[::1]", true},
        {"[::1]:8080", true},
        {"[2001:db8::7]:80", true},
        /* loopback names no DNS can hand out */
        {"localhost", true},
        {"localhost:8080", true},
        {"LocalHost:8080", true},
        {"localhost.", true},
        {"ferry.localhost:8080", true},
        {"a.b.localhost", true},
        /* names: only those configured */
        {"evil.example", false},
        {"evil.example:8080", false},
        {"localhost.evil.example", false},
        {"evillocalhost", false},
        {".localhost", false},
        {"127.0.0.1.nip.io", false},
        /* no Host, or not one */
        {NULL, false},
        {"", false},
        {":8080", false},
        {"127.0.0.1:", false},
        {"127.0.0.1:80x", false},
        {"127.0.0.1:65536", false},
        {"127.0.0.1:123456", false},
        {"::1", false},
        {"[::1", false},
        {"[::1]x", false},
        {"[evil.example]", false},
        {"[fe80::1%25eth0]", false},
        {"evil example", false},
        {"evil.example/path", false},
        {"user@127.0.0.1", false},
        {"127.1", false}, /* a browser would send 127.0.0.1 */
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++)
        if (fr_admin_host_ok(NULL, 0, cases[i].host) != cases[i].ok)
            fail_msg("Host \"%s\": expected %s", cases[i].host ? cases[i].host : "(none)",
                     cases[i].ok ? "allowed" : "refused");
}

static void test_host_configured(void **state)
{
    const char *const allowed[] = {"ferry.example.com", "*.ops.example.net", "dot.example.org."};
    static const struct {
        const char *host;
        bool ok;
    } cases[] = {
        {"ferry.example.com", true},  {"FERRY.Example.COM:443", true},
        {"ferry.example.com.", true}, {"other.example.com", false},
        {"example.com", false},       {"xferry.example.com", false},
        {"a.ops.example.net", true},  {"a.b.ops.example.net:8080", true},
        {"ops.example.net", false}, /* a wildcard is for the names under it */
        {"aops.example.net", false},  {"dot.example.org", true},
        {"127.0.0.1", true},          {"localhost", true},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++)
        if (fr_admin_host_ok(allowed, FR_ARRAY_LEN(allowed), cases[i].host) != cases[i].ok)
            fail_msg("Host \"%s\": expected %s", cases[i].host,
                     cases[i].ok ? "allowed" : "refused");
    const char *const any[] = {"*"};
    assert_true(fr_admin_host_ok(any, 1, "evil.example"));
    assert_false(fr_admin_host_ok(any, 1, "evil example")); /* still a Host */
    assert_false(fr_admin_host_ok(any, 1, NULL));
}

/* ---- Origin --------------------------------------------------------------------------- */

static void test_origin(void **state)
{
    static const struct {
        const char *host, *origin, *fetch_site;
        bool ok;
    } cases[] = {
        /* no browser: curl, scripts, the CLI */
        {"127.0.0.1:8080", NULL, NULL, true},
        {NULL, NULL, NULL, true},
        /* the listener's own page */
        {"127.0.0.1:8080", "http://127.0.0.1:8080", NULL, true},
        {"127.0.0.1:8080", "http://127.0.0.1:8080", "same-origin", true},
        {"localhost:8080", "HTTP://LOCALHOST:8080", NULL, true},
        {"[::1]:8080", "http://[::1]:8080", NULL, true},
        {"ferry.example.com", "https://ferry.example.com", NULL, true}, /* behind a TLS proxy */
        {"ferry.example.com:443", "https://ferry.example.com", NULL, true},
        {"ferry.example.com", "http://ferry.example.com:80", NULL, true},
        {"127.0.0.1:8080", NULL, "none", true}, /* typed by the user */
        /* another site */
        {"127.0.0.1:8080", "http://evil.example", NULL, false},
        {"127.0.0.1:8080", "http://evil.example:8080", NULL, false},
        {"127.0.0.1:8080", "http://127.0.0.1:8081", NULL, false},
        {"127.0.0.1:8080", "http://localhost:8080", NULL, false},
        {"127.0.0.1:8080", "http://127.0.0.1", NULL, false},
        {"ferry.example.com", "http://ferry.example.com:8080", NULL, false},
        {"ferry.example.com", "https://ferry.example.com:80", NULL, false},
        {"127.0.0.1:8080", "null", NULL, false},
        {"127.0.0.1:8080", "file://", NULL, false},
        {"127.0.0.1:8080", "chrome-extension://abcdef", NULL, false},
        {"127.0.0.1:8080", "http://127.0.0.1:8080/path", NULL, false},
        {"127.0.0.1:8080", "", NULL, false},
        {NULL, "http://127.0.0.1:8080", NULL, false},
        /* the browser says so itself */
        {"127.0.0.1:8080", NULL, "cross-site", false},
        {"127.0.0.1:8080", NULL, "same-site", false},
        {"127.0.0.1:8080", "http://127.0.0.1:8080", "cross-site", false},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++)
        if (fr_admin_origin_ok(cases[i].host, cases[i].origin, cases[i].fetch_site) != cases[i].ok)
            fail_msg("Host %s, Origin %s, Sec-Fetch-Site %s: expected %s",
                     cases[i].host ? cases[i].host : "(none)",
                     cases[i].origin ? cases[i].origin : "(none)",
                     cases[i].fetch_site ? cases[i].fetch_site : "(none)",
                     cases[i].ok ? "allowed" : "refused");
}

/* ---- through fr_admin_handle ---------------------------------------------------------- */

struct env {
    struct fr_config *cfg;
    struct fr_admin *admin;
};

static int setup(void **state)
{
    static const char yaml[] = "store: \"sqlite::memory:\"\n"
                               "webhooks:\n"
                               "  listen: 127.0.0.1:8080\n"
                               "  admin_token: " TOKEN "\n"
                               "  allowed_hosts: [ferry.example.com, \"*.ops.example.net\"]\n"
                               "  sources:\n"
                               "    gh:\n"
                               "      path: /hooks/gh\n"
                               "      verify: { scheme: github, secrets: [gh-secret] }\n"
                               "      deliver: { url: http://127.0.0.1:9/x }\n";
    struct env *e = fr_calloc(1, sizeof(*e));
    struct fr_err err = {0};
    if (fr_config_load_string(yaml, strlen(yaml), "ferry.yaml", fr_cli_sections(), &e->cfg, &err) ||
        fr_admin_new(e->cfg, NULL, &e->admin, &err)) {
        print_error("%s\n", err.msg);
        return -1;
    }
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    fr_admin_free(e->admin);
    fr_config_free(e->cfg);
    free(e);
    return 0;
}

/* The value of header name in out's headers, or NULL. */
static const char *header(const struct fr_hook_response *out, const char *name)
{
    for (const struct fr_hook_header *h = out->headers; h && h->name; h++)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

static void assert_security_headers(const struct fr_hook_response *out)
{
    assert_non_null(header(out, "Content-Security-Policy"));
    assert_non_null(strstr(header(out, "Content-Security-Policy"), "default-src 'self'"));
    assert_non_null(strstr(header(out, "Content-Security-Policy"), "frame-ancestors 'none'"));
    assert_string_equal(header(out, "X-Frame-Options"), "DENY");
    assert_string_equal(header(out, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(header(out, "Referrer-Policy"), "no-referrer");
}

/* Answers rq; returns the status and leaves the answer in *out (free out->body). */
static unsigned handle(struct env *e, const struct fr_hook_request *rq,
                       struct fr_hook_response *out)
{
    assert_true(fr_admin_handle(e->admin, rq, out));
    assert_security_headers(out); /* on every answer */
    return out->status;
}

static unsigned get(struct env *e, const char *path, const char *host)
{
    struct fr_hook_response out;
    const struct fr_hook_request rq = {.method = "GET", .path = path, .host = host};
    unsigned status = handle(e, &rq, &out);
    if (status == 421) {
        assert_non_null(strstr(out.body, "webhooks.allowed_hosts"));
        if (host)
            assert_non_null(strstr(out.body, "\"host\":\""));
    }
    free(out.body);
    return status;
}

static void test_handle_hosts(void **state)
{
    struct env *e = *state;
    static const char *const guarded[] = {"/api/status", "/api/dlq", "/metrics", "/",
                                          "/api/nothing"};
    for (size_t i = 0; i < FR_ARRAY_LEN(guarded); i++) {
        unsigned ok = strcmp(guarded[i], "/api/nothing") == 0 ? 404 : 200;
        assert_int_equal(get(e, guarded[i], "evil.example"), 421);
        assert_int_equal(get(e, guarded[i], "evil.example:8080"), 421);
        assert_int_equal(get(e, guarded[i], NULL), 421);
        assert_int_equal(get(e, guarded[i], "127.0.0.1:8080"), ok);
        assert_int_equal(get(e, guarded[i], "localhost:8080"), ok);
        assert_int_equal(get(e, guarded[i], "ferry.example.com"), ok);
        assert_int_equal(get(e, guarded[i], "a.ops.example.net:8443"), ok);
    }
    /* probes answer whatever the Host */
    assert_int_equal(get(e, "/healthz", "evil.example"), 200);
    assert_int_equal(get(e, "/readyz", "evil.example"), 200);
    assert_int_equal(get(e, "/healthz", NULL), 200);
    /* the refused host is named, as text that is safe to show */
    struct fr_hook_response out;
    const struct fr_hook_request rq = {
        .method = "GET", .path = "/api/status", .host = "evil.example\x01\xff"};
    assert_int_equal(handle(e, &rq, &out), 421);
    assert_non_null(strstr(out.body, "\"host\":\"evil.example??\""));
    free(out.body);
    /* not an operations path: the server's 404 */
    const struct fr_hook_request hook = {.method = "POST", .path = "/hooks/gh", .host = "x.y"};
    assert_false(fr_admin_handle(e->admin, &hook, &out));
}

/* POST /api/dlq/7/replay with these headers; the status. */
static unsigned replay(struct env *e, const char *host, const char *origin, const char *fetch_site,
                       const char *authorization)
{
    struct fr_hook_response out;
    const struct fr_hook_request rq = {.method = "POST",
                                       .path = "/api/dlq/7/replay",
                                       .authorization = authorization,
                                       .host = host,
                                       .origin = origin,
                                       .fetch_site = fetch_site};
    unsigned status = handle(e, &rq, &out);
    if (status == 403)
        assert_non_null(strstr(out.body, "another site"));
    free(out.body);
    return status;
}

static void test_handle_origin(void **state)
{
    struct env *e = *state;
    const char *host = "127.0.0.1:8080", *bearer = "Bearer " TOKEN;
    /* past every guard: the store has no dead letter 7 */
    assert_int_equal(replay(e, host, NULL, NULL, bearer), 404);
    assert_int_equal(replay(e, host, "http://127.0.0.1:8080", "same-origin", bearer), 404);
    /* another site, even with the token */
    assert_int_equal(replay(e, host, "http://evil.example", NULL, bearer), 403);
    assert_int_equal(replay(e, host, "null", NULL, bearer), 403);
    assert_int_equal(replay(e, host, NULL, "cross-site", bearer), 403);
    /* and whether it has the token is not looked at */
    assert_int_equal(replay(e, host, "http://evil.example", NULL, NULL), 403);
    /* the token as before */
    assert_int_equal(replay(e, host, "http://127.0.0.1:8080", NULL, NULL), 401);
    assert_int_equal(replay(e, host, NULL, NULL, "Bearer wrong"), 401);
    /* the Host first */
    assert_int_equal(replay(e, "evil.example:8080", "http://evil.example:8080", NULL, bearer), 421);
}

/* The dashboard's policy allows its inline script and style by hash, and nothing else inline. */
static void test_page_policy(void **state)
{
    struct env *e = *state;
    struct fr_hook_response out;
    const struct fr_hook_request rq = {.method = "GET", .path = "/", .host = "127.0.0.1:8080"};
    assert_int_equal(handle(e, &rq, &out), 200);
    const char *csp = header(&out, "Content-Security-Policy");
    assert_non_null(strstr(csp, "script-src 'sha256-"));
    assert_non_null(strstr(csp, "style-src 'sha256-"));
    assert_null(strstr(csp, "unsafe"));
    assert_non_null(strstr(out.body, "<script>"));
    free(out.body);
    /* the API's answers have the plain policy */
    const struct fr_hook_request api = {
        .method = "GET", .path = "/api/status", .host = "127.0.0.1:8080"};
    assert_int_equal(handle(e, &api, &out), 200);
    assert_string_equal(header(&out, "Content-Security-Policy"),
                        "default-src 'self'; frame-ancestors 'none'");
    free(out.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_defaults),
        cmocka_unit_test(test_host_configured),
        cmocka_unit_test(test_origin),
        cmocka_unit_test_setup_teardown(test_handle_hosts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handle_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_policy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
