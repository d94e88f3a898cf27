#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/redact.h"
#include "hooks/verify.h"
#include "cli/sections.h"
#include "conftest.h"
#include "hooks/hooks_conf.h"

#define CRM_SECRET    "whsec_c2VjcmV0Q1JNdG9rZW4xMjM0"
#define GITHUB_SECRET "ghSecretValue987xyz"
#define FILE_SECRET   "fileSecretQ7w8e9r0"

/* Asserts that no secret of this file appears in text. */
static void assert_no_secret(const char *text)
{
    assert_null(strstr(text, CRM_SECRET));
    assert_null(strstr(text, GITHUB_SECRET));
    assert_null(strstr(text, FILE_SECRET));
}

/* Asserts that yaml fails with FR_ECONFIG and a message containing each fragment. */
static void expect_error(const char *yaml, const char *frag1, const char *frag2)
{
    struct fr_err err = fr_test_conf_expect_error(yaml, frag1, frag2);
    assert_no_secret(err.msg);
}

static int setup(void **state)
{
    setenv("CRM_WEBHOOK_SECRET", CRM_SECRET, 1);
    setenv("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET, 1);
    unsetenv("FERRY_TEST_UNSET");
    fr_redact_reset();
    return 0;
}

/* The example of the product issue. */
static const char full_yaml[] =
    "webhooks:\n"
    "  listen: 127.0.0.1:8080\n"
    "  max_body: 1MB\n"
    "  timeout: 10s\n"
    "  sources:\n"
    "    crm:\n"
    "      path: /hooks/crm\n"
    "      verify: { scheme: standard, secrets: [\"${CRM_WEBHOOK_SECRET}\"], tolerance: 5m }\n"
    "      deliver: { url: http://127.0.0.1:9000/events, timeout: 10s, max_attempts: 8, base: "
    "1s, cap: 10m }\n"
    "    github:\n"
    "      path: /hooks/github\n"
    "      verify: { scheme: github, secrets: [\"${GITHUB_WEBHOOK_SECRET}\"] }\n"
    "      deliver: { exec: ./handle-github.sh, timeout: 30s, max_attempts: 5 }\n";

static void test_full(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    int rc = fr_test_conf_load_as(full_yaml, "/etc/ferry/ferry.yaml", &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->nwarnings, 0);
    const struct fr_webhooks_conf *w = cfg->webhooks;
    assert_true(w->configured);
    assert_string_equal(w->listen, "127.0.0.1:8080");
    assert_int_equal(w->max_body, 1024 * 1024);
    assert_int_equal(w->timeout_ms, 10000);
    assert_int_equal(w->retention_ms, 7 * 86400000LL);
    assert_int_equal(w->nsources, 2);

    const struct fr_webhook_source_conf *s = &w->sources[0];
    assert_string_equal(s->name, "crm");
    assert_int_equal(s->line, 6);
    assert_int_equal(s->col, 5);
    assert_string_equal(s->path, "/hooks/crm");
    assert_int_equal(s->scheme, FR_VERIFY_STANDARD);
    assert_int_equal(s->nsecrets, 1);
    assert_string_equal(s->secrets[0], CRM_SECRET);
    assert_int_equal(s->tolerance_ms, 5 * 60000);
    assert_null(s->hmac_header);
    assert_false(s->hmac_base64);
    assert_null(s->hmac_prefix);
    assert_null(s->hmac_timestamp_header);
    assert_string_equal(s->deliver_url, "http://127.0.0.1:9000/events");
    assert_null(s->deliver_exec);
    assert_int_equal(s->deliver_timeout_ms, 10000);
    assert_int_equal(s->max_attempts, 8);
    assert_int_equal(s->base_ms, 1000);
    assert_int_equal(s->cap_ms, 600000);

    s = &w->sources[1];
    assert_string_equal(s->name, "github");
    assert_int_equal(s->line, 10);
    assert_int_equal(s->col, 5);
    assert_string_equal(s->path, "/hooks/github");
    assert_int_equal(s->scheme, FR_VERIFY_GITHUB);
    assert_int_equal(s->nsecrets, 1);
    assert_string_equal(s->secrets[0], GITHUB_SECRET);
    assert_int_equal(s->tolerance_ms, 5 * 60000); /* default */
    assert_null(s->deliver_url);
    assert_string_equal(s->deliver_exec, "./handle-github.sh");
    assert_int_equal(s->deliver_timeout_ms, 30000);
    assert_int_equal(s->max_attempts, 5);
    assert_int_equal(s->base_ms, 1000);  /* default */
    assert_int_equal(s->cap_ms, 600000); /* default */
    fr_config_free(cfg);
}

#define SOURCES "  sources:\n    crm:\n      path: /hooks/crm\n"
#define HEAD    "webhooks:\n" SOURCES
#define VERIFY  "      verify: { scheme: standard, secrets: [\"${CRM_WEBHOOK_SECRET}\"] }\n"
#define DELIVER "      deliver: { url: http://127.0.0.1:9000/events }\n"

/* The limits' defaults, allowed_hosts written as names (port dropped, lower case), dedupe. */
static void test_gateway_limits(void **state)
{
    (void)state;
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(fr_test_conf_load(HEAD VERIFY DELIVER, &cfg, &err), 0);
    const struct fr_webhooks_conf *w = cfg->webhooks;
    assert_int_equal(w->header_timeout_ms, 10000);
    assert_int_equal(w->body_timeout_ms, 60000);
    assert_int_equal(w->min_body_rate, 1024);
    assert_int_equal(w->max_connections, 4096);
    assert_int_equal(w->max_connections_per_client, 256);
    assert_int_equal(w->unverified_budget, 64 * 1024 * 1024);
    assert_int_equal(w->nallowed_hosts, 0);
    assert_int_equal(w->sources[0].dedupe, FR_DEDUPE_ID);
    fr_config_free(cfg);

    assert_int_equal(
        fr_test_conf_load(
            "webhooks:\n  max_body: 100MB\n"
            "  allowed_hosts: [Ferry.Example.COM:8443, \"*.internal\", \"[::1]:80\"]\n"
            "  sources:\n    gh:\n      path: /gh\n"
            "      verify: { scheme: github, secrets: [\"${GITHUB_WEBHOOK_SECRET}\"] }\n" DELIVER,
            &cfg, &err),
        0);
    w = cfg->webhooks;
    assert_int_equal(w->unverified_budget, 100 * 1024 * 1024); /* the default yields */
    assert_int_equal(w->nallowed_hosts, 3);
    assert_string_equal(w->allowed_hosts[0], "ferry.example.com");
    assert_string_equal(w->allowed_hosts[1], "*.internal");
    assert_string_equal(w->allowed_hosts[2], "[::1]");
    assert_int_equal(w->sources[0].dedupe, FR_DEDUPE_CONTENT); /* github's default */
    fr_config_free(cfg);

    expect_error(
        "webhooks:\n  allowed_hosts: [ok.example, \"http://bad/x\"]\n" SOURCES VERIFY DELIVER,
        "ferry.yaml:2:31: webhooks.allowed_hosts[1]", "is not a host name");
    expect_error("webhooks:\n  max_body: 2MB\n  unverified_budget: 1MB\n" SOURCES VERIFY DELIVER,
                 "webhooks.unverified_budget", "smaller than max_body");
}

static void test_defaults(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(fr_test_conf_load(HEAD VERIFY DELIVER, &cfg, &err), 0);
    const struct fr_webhooks_conf *w = cfg->webhooks;
    assert_true(w->configured);
    assert_string_equal(w->listen, "127.0.0.1:8080");
    assert_int_equal(w->max_body, 1024 * 1024);
    assert_int_equal(w->timeout_ms, 10000);
    const struct fr_webhook_source_conf *s = &w->sources[0];
    assert_int_equal(s->tolerance_ms, 300000);
    assert_int_equal(s->deliver_timeout_ms, 10000);
    assert_int_equal(s->max_attempts, 8);
    assert_int_equal(s->base_ms, 1000);
    assert_int_equal(s->cap_ms, 600000);
    fr_config_free(cfg);

    /* exec defaults to 30s. */
    assert_int_equal(
        fr_test_conf_load(HEAD VERIFY "      deliver: { exec: \"./h.sh --all\" }\n", &cfg, &err),
        0);
    assert_string_equal(cfg->webhooks->sources[0].deliver_exec, "./h.sh --all");
    assert_int_equal(cfg->webhooks->sources[0].deliver_timeout_ms, 30000);
    fr_config_free(cfg);

    /* Explicit values, svix as an alias of standard, two secrets (rotation). */
    assert_int_equal(
        fr_test_conf_load("webhooks:\n  listen: \"[::1]:0\"\n  max_body: 1KB\n  timeout: 250ms\n"
                          "  retention: 36h\n  sources:\n    crm:\n      path: /hooks/crm\n"
                          "      verify: { scheme: svix, secrets: [\"${CRM_WEBHOOK_SECRET}\", "
                          "\"${GITHUB_WEBHOOK_SECRET}\"], tolerance: 30s }\n"
                          "      deliver: { url: \"https://x.example/e/\", timeout: 2s, "
                          "max_attempts: 100, base: 10m, cap: 10m }\n",
                          &cfg, &err),
        0);
    w = cfg->webhooks;
    assert_string_equal(w->listen, "[::1]:0");
    assert_int_equal(w->max_body, 1024);
    assert_int_equal(w->timeout_ms, 250);
    assert_int_equal(w->retention_ms, 36 * 3600000LL);
    s = &w->sources[0];
    assert_int_equal(s->scheme, FR_VERIFY_STANDARD);
    assert_int_equal(s->nsecrets, 2);
    assert_string_equal(s->secrets[1], GITHUB_SECRET);
    assert_int_equal(s->tolerance_ms, 30000);
    assert_string_equal(s->deliver_url, "https://x.example/e");
    assert_int_equal(s->deliver_timeout_ms, 2000);
    assert_int_equal(s->max_attempts, 100);
    assert_int_equal(s->base_ms, 600000);
    fr_config_free(cfg);

    /* No webhooks section: not configured, no sources. */
    assert_int_equal(fr_test_conf_load("store: sqlite:x.db\n", &cfg, &err), 0);
    assert_false(cfg->webhooks->configured);
    assert_int_equal(cfg->webhooks->nsources, 0);
    assert_null(cfg->webhooks->sources);
    fr_config_free(cfg);
}

static void test_hmac(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    int rc = fr_test_conf_load(
        HEAD "      verify:\n        scheme: hmac\n"
             "        secrets: [\"${CRM_WEBHOOK_SECRET}\"]\n"
             "        header: X-Signature\n        encoding: base64\n"
             "        prefix: \"sha256=\"\n        timestamp_header: X-Timestamp\n" DELIVER,
        &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    const struct fr_webhook_source_conf *s = &cfg->webhooks->sources[0];
    assert_int_equal(s->scheme, FR_VERIFY_HMAC);
    assert_string_equal(s->hmac_header, "X-Signature");
    assert_true(s->hmac_base64);
    assert_string_equal(s->hmac_prefix, "sha256=");
    assert_string_equal(s->hmac_timestamp_header, "X-Timestamp");
    fr_config_free(cfg);

    /* Only header: hex, no prefix, no timestamp. */
    assert_int_equal(fr_test_conf_load(HEAD "      verify: { scheme: hmac, header: X-Sig, secrets: "
                                            "[\"${CRM_WEBHOOK_SECRET}\"] }\n" DELIVER,
                                       &cfg, &err),
                     0);
    s = &cfg->webhooks->sources[0];
    assert_string_equal(s->hmac_header, "X-Sig");
    assert_false(s->hmac_base64);
    assert_null(s->hmac_prefix);
    assert_null(s->hmac_timestamp_header);
    fr_config_free(cfg);

    expect_error(
        HEAD "      verify: { scheme: hmac, secrets: [\"${CRM_WEBHOOK_SECRET}\"] }\n" DELIVER,
        "ferry.yaml:5:15: webhooks.sources.crm.verify: missing required key \"header\"", NULL);
    expect_error(HEAD "      verify: { scheme: hmac, header: X-Sig, encoding: b64, secrets: "
                      "[\"${CRM_WEBHOOK_SECRET}\"] }\n" DELIVER,
                 "ferry.yaml:5:56: webhooks.sources.crm.verify.encoding: invalid value \"b64\" "
                 "(use \"hex\" or \"base64\")",
                 NULL);
    expect_error(HEAD "      verify: { scheme: hmac, header: \"X Sig\", secrets: "
                      "[\"${CRM_WEBHOOK_SECRET}\"] }\n" DELIVER,
                 "webhooks.sources.crm.verify.header: invalid header name \"X Sig\"", NULL);
    /* hmac keys under another scheme name the scheme. */
    expect_error(HEAD "      verify: { scheme: github, secrets: [\"${CRM_WEBHOOK_SECRET}\"], "
                      "header: X-Sig }\n" DELIVER,
                 "ferry.yaml:5:77: webhooks.sources.crm.verify: key \"header\" does not apply to "
                 "scheme \"github\" (it belongs to \"hmac\")",
                 NULL);
    expect_error(HEAD "      verify: { scheme: stripe, encoding: hex, secrets: "
                      "[\"${CRM_WEBHOOK_SECRET}\"] }\n" DELIVER,
                 "key \"encoding\" does not apply to scheme \"stripe\"", NULL);
    expect_error(HEAD "      verify: { prefix: \"v1=\", scheme: convoy, secrets: "
                      "[\"${CRM_WEBHOOK_SECRET}\"] }\n" DELIVER,
                 "key \"prefix\" does not apply to scheme \"convoy\"", NULL);
    expect_error(HEAD "      verify: { scheme: standard, timestamp_header: X-T, secrets: "
                      "[\"${CRM_WEBHOOK_SECRET}\"] }\n" DELIVER,
                 "key \"timestamp_header\" does not apply to scheme \"standard\"", NULL);
}

static void test_errors(void **state)
{
    /* Unknown keys, with a suggestion, at each level. */
    expect_error("webhooks:\n  listn: 127.0.0.1:1\n",
                 "ferry.yaml:2:3: unknown key \"listn\" under webhooks (did you mean \"listen\"?)",
                 NULL);
    expect_error(HEAD "      verfy: {}\n",
                 "ferry.yaml:5:7: unknown key \"verfy\" under webhooks.sources.crm (did you mean "
                 "\"verify\"?)",
                 NULL);
    expect_error(HEAD "      verify: { scheme: github, secret: [x] }\n" DELIVER,
                 "ferry.yaml:5:33: unknown key \"secret\" under webhooks.sources.crm.verify (did "
                 "you mean \"secrets\"?)",
                 NULL);
    expect_error(HEAD VERIFY "      deliver: { url: http://127.0.0.1:1/e, max_attempt: 3 }\n",
                 "ferry.yaml:6:45: unknown key \"max_attempt\" under webhooks.sources.crm.deliver "
                 "(did you mean \"max_attempts\"?)",
                 NULL);
    expect_error(
        "webhooks:\n  retention: 500ms\n  sources:\n    crm:\n      path: /hooks/crm\n" VERIFY
            DELIVER,
        "ferry.yaml:2:14: webhooks.retention: 500ms is too short (at least 1s)", NULL);
    expect_error("webhook:\n  listen: x\n",
                 "ferry.yaml:1:1: unknown key \"webhook\" at the top level (did you mean "
                 "\"webhooks\"?)",
                 NULL);

    /* Scheme. */
    expect_error(HEAD
                 "      verify: { scheme: githb, secrets: [\"${CRM_WEBHOOK_SECRET}\"] }\n" DELIVER,
                 "ferry.yaml:5:25: webhooks.sources.crm.verify.scheme: unknown scheme \"githb\" "
                 "(schemes: \"standard\", \"github\", \"stripe\", \"convoy\", \"hmac\"; did you "
                 "mean \"github\"?)",
                 NULL);
    expect_error(HEAD
                 "      verify: { scheme: sha1, secrets: [\"${CRM_WEBHOOK_SECRET}\"] }\n" DELIVER,
                 "unknown scheme \"sha1\" (schemes: \"standard\", \"github\", \"stripe\", "
                 "\"convoy\", \"hmac\")",
                 NULL);
    expect_error(HEAD "      verify: { secrets: [\"${CRM_WEBHOOK_SECRET}\"] }\n" DELIVER,
                 "ferry.yaml:5:15: webhooks.sources.crm.verify: missing required key \"scheme\"",
                 NULL);

    /* Secrets. */
    expect_error(HEAD "      verify: { scheme: github }\n" DELIVER,
                 "ferry.yaml:5:15: webhooks.sources.crm.verify: missing required key \"secrets\"",
                 NULL);
    expect_error(HEAD "      verify: { scheme: github, secrets: [] }\n" DELIVER,
                 "ferry.yaml:5:42: webhooks.sources.crm.verify.secrets: the list is empty", NULL);
    expect_error(HEAD
                 "      verify: { scheme: github, secrets: \"${CRM_WEBHOOK_SECRET}\" }\n" DELIVER,
                 "ferry.yaml:5:42: webhooks.sources.crm.verify.secrets: expected a sequence", NULL);
    expect_error(HEAD "      verify: { scheme: github, secrets: [\"file:/nonexistent/ferry-x\"] "
                      "}\n" DELIVER,
                 "webhooks.sources.crm.verify.secrets[0]: cannot read secret file "
                 "\"/nonexistent/ferry-x\"",
                 NULL);
    expect_error(HEAD "      verify: { scheme: github, secrets: [\"${CRM_WEBHOOK_SECRET}\"], "
                      "tolerance: 0s }\n" DELIVER,
                 "webhooks.sources.crm.verify.tolerance: 0s is too short (at least 1ms)", NULL);
    expect_error(HEAD "      verify: [github]\n" DELIVER,
                 "ferry.yaml:5:15: webhooks.sources.crm.verify: expected a mapping", NULL);

    /* Deliver. */
    expect_error(HEAD VERIFY "      deliver: { url: http://127.0.0.1:1/e, exec: ./h.sh }\n",
                 "ferry.yaml:6:51: webhooks.sources.crm.deliver: set either url (POST each event) "
                 "or exec (run a command), not both",
                 NULL);
    expect_error(HEAD VERIFY "      deliver: { timeout: 5s }\n",
                 "ferry.yaml:6:16: webhooks.sources.crm.deliver: missing \"url\" or \"exec\"",
                 NULL);
    expect_error(HEAD VERIFY "      deliver: { url: ftp://127.0.0.1/e }\n",
                 "ferry.yaml:6:23: webhooks.sources.crm.deliver.url: invalid URL "
                 "\"ftp://127.0.0.1/e\"",
                 NULL);
    expect_error(HEAD VERIFY "      deliver: { exec: \"\" }\n",
                 "ferry.yaml:6:24: webhooks.sources.crm.deliver.exec: empty value", NULL);
    expect_error(HEAD VERIFY "      deliver: { exec: \"  \" }\n",
                 "webhooks.sources.crm.deliver: exec is blank", NULL);
    expect_error(HEAD VERIFY "      deliver: { url: http://127.0.0.1:1/e, max_attempts: 0 }\n",
                 "ferry.yaml:6:59: webhooks.sources.crm.deliver.max_attempts: 0 is out of range "
                 "(1..100)",
                 NULL);
    expect_error(HEAD VERIFY "      deliver: { url: http://127.0.0.1:1/e, max_attempts: 101 }\n",
                 "max_attempts: 101 is out of range (1..100)", NULL);
    expect_error(HEAD VERIFY "      deliver: { url: http://127.0.0.1:1/e, base: 20m }\n",
                 "ferry.yaml:6:51: webhooks.sources.crm.deliver: base (20m) must not be greater "
                 "than cap (10m)",
                 NULL);
    expect_error(HEAD VERIFY "      deliver: { url: http://127.0.0.1:1/e, base: 2s, cap: 1s }\n",
                 "base (2s) must not be greater than cap (1s)", NULL);
    expect_error(HEAD VERIFY "      deliver: { url: http://127.0.0.1:1/e, timeout: 30 }\n",
                 "webhooks.sources.crm.deliver.timeout: invalid duration \"30\"", NULL);
    expect_error(HEAD VERIFY,
                 "ferry.yaml:4:7: webhooks.sources.crm: missing required key \"deliver\"", NULL);
    expect_error("webhooks:\n  sources:\n    crm:\n      path: /hooks/crm\n" DELIVER,
                 "ferry.yaml:4:7: webhooks.sources.crm: missing required key \"verify\"", NULL);

    /* Paths and names. */
    expect_error("webhooks:\n  sources:\n    crm:\n      path: hooks/crm\n" VERIFY DELIVER,
                 "ferry.yaml:4:13: webhooks.sources.crm.path: invalid path \"hooks/crm\" (it must "
                 "start with /)",
                 NULL);
    expect_error("webhooks:\n  sources:\n    crm:\n" VERIFY DELIVER,
                 "ferry.yaml:4:7: webhooks.sources.crm: missing required key \"path\"", NULL);
    expect_error(HEAD VERIFY DELIVER "    crm2:\n      path: /hooks/crm\n" VERIFY DELIVER,
                 "ferry.yaml:8:13: webhooks.sources.crm2.path: \"/hooks/crm\" is already the path "
                 "of source crm (line 3)",
                 NULL);
    expect_error(HEAD VERIFY DELIVER "    crm:\n      path: /hooks/other\n",
                 "ferry.yaml:7:5: duplicate key \"crm\" under webhooks.sources (first at line 3:5)",
                 NULL);
    expect_error("webhooks:\n  sources:\n    \"c rm\":\n      path: /h\n" VERIFY DELIVER,
                 "ferry.yaml:3:5: webhooks.sources: invalid source name \"c rm\"", NULL);

    /* Sources required and non-empty; the section a mapping. */
    expect_error("webhooks:\n  listen: 127.0.0.1:8080\n",
                 "ferry.yaml:2:3: webhooks: missing required key \"sources\"", NULL);
    expect_error("webhooks:\n  sources: {}\n", "ferry.yaml:2:12: webhooks.sources: no sources",
                 NULL);
    expect_error("webhooks:\n  sources:\n",
                 "ferry.yaml:2:11: webhooks.sources: expected a mapping (key: value pairs), found "
                 "an empty value",
                 NULL);
    expect_error("webhooks: [a]\n", "ferry.yaml:1:11: webhooks: expected a mapping", NULL);

    /* Section-level values. */
    expect_error(
        "webhooks:\n  max_body: 512B\n  sources:\n    crm:\n      path: /hooks/crm\n" VERIFY
            DELIVER,
        "ferry.yaml:2:13: webhooks.max_body: 512B is too small (at least 1024 bytes)", NULL);
    expect_error("webhooks:\n  timeout: 0s\n", "ferry.yaml:2:12: webhooks.timeout: 0s is too short",
                 NULL);
}

/* A webhooks section with listen set to addr. */
static char *with_listen(const char *addr)
{
    return fr_asprintf("webhooks:\n  listen: \"%s\"\n  sources:\n    crm:\n      path: "
                       "/hooks/crm\n" VERIFY DELIVER,
                       addr);
}

static void test_listen(void **state)
{
    static const char *const good[] = {"127.0.0.1:8080", "10.1.2.3:0", "[::1]:8080",
                                       "192.168.0.10:65535", "[fe80::1]:443"};
    for (size_t i = 0; i < FR_ARRAY_LEN(good); i++) {
        struct fr_config *cfg;
        struct fr_err err;
        char *yaml = with_listen(good[i]);
        int rc = fr_test_conf_load(yaml, &cfg, &err);
        if (rc)
            print_error("%s: %s\n", good[i], err.msg);
        assert_int_equal(rc, 0);
        assert_string_equal(cfg->webhooks->listen, good[i]);
        assert_int_equal(cfg->nwarnings, 0);
        fr_config_free(cfg);
        free(yaml);
    }

    static const char *const bad[] = {
        "localhost:8080", "127.0.0.1", "127.0.0.1:",      "127.0.0.1:65536",
        "127.0.0.1:80x",  "::1:8080",  "[::1]8080",       "[127.0.0.1]:80",
        "256.0.0.1:80",   ":8080",     "example.com:443", "127.0.0.1:123456"};
    for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
        char *yaml = with_listen(bad[i]);
        char *frag = fr_asprintf("ferry.yaml:2:11: webhooks.listen: invalid address \"%s\" "
                                 "(write IP:PORT such as 127.0.0.1:8080, or [::1]:8080 for IPv6",
                                 bad[i]);
        expect_error(yaml, frag, NULL);
        free(frag);
        free(yaml);
    }

    /* Every interface: allowed, with a warning. */
    static const char *const any[] = {"0.0.0.0:8080", "[::]:8080"};
    for (size_t i = 0; i < FR_ARRAY_LEN(any); i++) {
        struct fr_config *cfg;
        struct fr_err err;
        char *yaml = with_listen(any[i]);
        assert_int_equal(fr_test_conf_load(yaml, &cfg, &err), 0);
        assert_int_equal(cfg->nwarnings, 1);
        char *want =
            fr_asprintf("ferry.yaml:2:11: webhooks.listen %s listens on every interface", any[i]);
        assert_non_null(strstr(cfg->warnings[0], want));
        free(want);
        fr_config_free(cfg);
        free(yaml);
    }
}

static void test_secrets(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;

    /* Every secret registered with the redactor, none in a warning. */
    assert_int_equal(fr_test_conf_load_as(full_yaml, "/etc/ferry/ferry.yaml", &cfg, &err), 0);
    char *red = fr_redact_str("got " CRM_SECRET " and " GITHUB_SECRET);
    assert_no_secret(red);
    assert_non_null(strstr(red, FR_REDACTED));
    free(red);
    fr_config_free(cfg);

    /* A literal secret works, with a warning that does not quote it. */
    fr_redact_reset();
    assert_int_equal(fr_test_conf_load(HEAD
                                       "      verify: { scheme: github, secrets: [" GITHUB_SECRET
                                       "] }\n" DELIVER,
                                       &cfg, &err),
                     0);
    assert_string_equal(cfg->webhooks->sources[0].secrets[0], GITHUB_SECRET);
    assert_int_equal(cfg->nwarnings, 1);
    assert_non_null(strstr(cfg->warnings[0],
                           "ferry.yaml:5:43: webhooks.sources.crm.verify.secrets[0] is a literal "
                           "secret in the config file; use ${ENV} or file:/path"));
    assert_no_secret(cfg->warnings[0]);
    red = fr_redact_str(GITHUB_SECRET);
    assert_string_equal(red, FR_REDACTED);
    free(red);
    fr_config_free(cfg);

    /* file: relative to the config's directory. */
    fr_redact_reset();
    char dir[] = "/tmp/ferry-hookcfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *file = fr_asprintf("%s/gh.secret", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(FILE_SECRET "\n", f);
    fclose(f);
    chmod(file, 0600);
    char *name = fr_asprintf("%s/ferry.yaml", dir);
    assert_int_equal(
        fr_test_conf_load_as(HEAD
                             "      verify: { scheme: github, secrets: [\"${CRM_WEBHOOK_SECRET}\", "
                             "\"file:gh.secret\"] }\n" DELIVER,
                             name, &cfg, &err),
        0);
    assert_int_equal(cfg->webhooks->sources[0].nsecrets, 2);
    assert_string_equal(cfg->webhooks->sources[0].secrets[1], FILE_SECRET);
    assert_int_equal(cfg->nwarnings, 0);
    red = fr_redact_str("x " FILE_SECRET " y");
    assert_no_secret(red);
    free(red);
    fr_config_free(cfg);
    unlink(file);
    rmdir(dir);
    free(file);
    free(name);

    /* Errors after the secrets were read do not quote them. */
    expect_error(HEAD "      verify: { scheme: github, secrets: [\"${GITHUB_WEBHOOK_SECRET}\"], "
                      "header: X }\n" DELIVER,
                 "key \"header\" does not apply", NULL);
    expect_error(HEAD "      verify: { scheme: github, secrets: [" GITHUB_SECRET "] }\n" DELIVER
                      "    crm2:\n      path: /hooks/crm\n" VERIFY DELIVER,
                 "is already the path of source crm", NULL);
    setenv("CRM_WEBHOOK_SECRET", "", 1);
    expect_error(HEAD VERIFY DELIVER, "verify.secrets[0]: the secret is empty", NULL);
}

/*
 * An unset variable in a webhook secret or the admin token does not fail the
 * load (a command that does not serve webhooks needs neither); serve requires
 * them and gets the message the load used to give.
 */
static void test_missing_secrets(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    int rc =
        fr_test_conf_load("webhooks:\n"
                          "  admin_token: ${FERRY_TEST_UNSET_ADMIN}\n"
                          "  sources:\n"
                          "    crm:\n"
                          "      path: /hooks/crm\n"
                          "      verify: { scheme: github, secrets: [\"${GITHUB_WEBHOOK_SECRET}\", "
                          "\"${CRM_WEBHOOK_SECRET}\", \"${FERRY_TEST_UNSET}\"] }\n" DELIVER,
                          &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    const struct fr_webhook_source_conf *s = &cfg->webhooks->sources[0];
    assert_int_equal(s->nsecrets, 3);
    assert_string_equal(s->secrets[0], GITHUB_SECRET);
    assert_null(s->secrets[2]);
    assert_null(cfg->webhooks->admin_token);
    assert_int_equal(cfg->nmissing_secrets, 2);
    assert_string_equal(cfg->missing_secrets[0].key, "webhooks.admin_token");
    assert_string_equal(cfg->missing_secrets[1].key, "webhooks.sources.crm.verify.secrets[2]");

    assert_int_equal(fr_config_require_secrets(cfg, "targets", &err), 0);
    fr_err_clear(&err);
    assert_int_equal(fr_config_require_secrets(cfg, "webhooks.sources.crm", &err), FR_ECONFIG);
    assert_string_equal(err.msg, "ferry.yaml:6:96: webhooks.sources.crm.verify.secrets[2]: "
                                 "environment variable FERRY_TEST_UNSET is not set");
    assert_no_secret(err.msg);
    fr_err_clear(&err);
    assert_int_equal(fr_config_require_secrets(cfg, "webhooks", &err), FR_ECONFIG);
    assert_string_equal(err.msg, "ferry.yaml:2:16: webhooks.admin_token: environment variable "
                                 "FERRY_TEST_UNSET_ADMIN is not set");
    fr_config_free(cfg);
}

static void test_find_source(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(fr_test_conf_load(full_yaml, &cfg, &err), 0);
    const struct fr_webhook_source_conf *s = fr_webhook_source_find(cfg->webhooks, "github");
    assert_ptr_equal(s, &cfg->webhooks->sources[1]);
    assert_string_equal(s->path, "/hooks/github");
    assert_ptr_equal(fr_webhook_source_find(cfg->webhooks, "crm"), &cfg->webhooks->sources[0]);
    assert_null(fr_webhook_source_find(cfg->webhooks, "stripe"));
    assert_null(fr_webhook_source_find(cfg->webhooks, NULL));
    assert_null(fr_webhook_source_find(NULL, "crm"));
    fr_config_free(cfg);

    /* No webhooks section: none. */
    assert_int_equal(fr_test_conf_load("store: sqlite:x.db\n", &cfg, &err), 0);
    assert_null(fr_webhook_source_find(cfg->webhooks, "crm"));
    fr_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_full, setup),
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_gateway_limits, setup),
        cmocka_unit_test_setup(test_hmac, setup),
        cmocka_unit_test_setup(test_errors, setup),
        cmocka_unit_test_setup(test_listen, setup),
        cmocka_unit_test_setup(test_secrets, setup),
        cmocka_unit_test_setup(test_missing_secrets, setup),
        cmocka_unit_test_setup(test_find_source, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
