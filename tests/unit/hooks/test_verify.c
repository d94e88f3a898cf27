#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/error.h"
#include "hooks/verify.h"

/* ---- published vectors ---- */

/* Standard Webhooks (standard-webhooks/standard-webhooks libraries' tests). */
#define STD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define STD_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define STD_TS     "1614265330"
#define STD_NOW    1614265330
#define STD_BODY   "{\"test\": 2432232314}"
#define STD_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* GitHub docs, "Validating webhook deliveries". */
#define GH_SECRET "It's a Secret to Everybody"
#define GH_BODY   "Hello, World!"
#define GH_SIG    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

/* Convoy docs: simple and advanced signatures. */
#define CV_SECRET "convoy-webhook-secret"
#define CV_BODY   "{\"event\":\"charge.success\",\"amount\":1000,\"currency\":\"NGN\"}"
#define CV_PLAIN  "244449b7f48cbc2709060c9dcdc2b3aa47a78f540430579015c579fb12defbb4"
#define CV_V1     "77b8b9269f25a199846a55a2bd25b3fba151c70fdae60bb1dcd87fbbc943c55c"
#define CV_TS     1700000000

/*
 * Stripe: computed independently with
 *   printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac whsec_test_secret_for_ferry
 * The key is the whole secret, "whsec_" included and not base64-decoded.
 */
#define ST_SECRET "whsec_test_secret_for_ferry"
#define ST_BODY                                                                                    \
    "{\"id\":\"evt_1NG8Du2eZvKYlo2CUI79vXWy\",\"object\":\"event\",\"type\":\"charge.succeeded\"}"
#define ST_TS 1700000000
#define ST_V1 "3739bc52837e2a89d6d1abc9ac8bd44cf0850b4b056f249f9a45e4ecc5ee0b7f"
/* The same payload under the key "test_secret_for_ferry": a wrong key handling. */
#define ST_V1_STRIPPED "c76ba7cc5e9dd06588921554fcdc9af7c9cc96672c526260d3ff15c2d2675591"

/* ---- helpers ---- */

static char event_id[128];
static const char *reason;

static enum fr_verify_result verify_n(const struct fr_verify_conf *conf,
                                      const struct fr_header *headers, size_t nheaders,
                                      const char *body, size_t len, int64_t now)
{
    memset(event_id, 'x', sizeof(event_id));
    reason = NULL;
    enum fr_verify_result r =
        fr_verify(conf, headers, nheaders, body, len, now, event_id, sizeof(event_id), &reason);
    assert_non_null(reason);
    assert_non_null(memchr(event_id, '\0', sizeof(event_id)));
    if (r != FR_VERIFY_OK)
        assert_string_equal(event_id, "");
    return r;
}

#define VERIFY(conf, headers, body, now)                                                           \
    verify_n(conf, headers, FR_ARRAY_LEN(headers), body, strlen(body), now)

static const char *const std_secrets[] = {STD_SECRET};
static const struct fr_verify_conf std_conf = {
    .scheme = FR_VERIFY_STANDARD, .secrets = std_secrets, .nsecrets = 1, .tolerance_s = 300};

/* ---- standard ---- */

static void test_standard_vector(void **state)
{
    const struct fr_header h[] = {
        {"webhook-id", STD_ID}, {"webhook-timestamp", STD_TS}, {"webhook-signature", STD_SIG}};
    assert_int_equal(VERIFY(&std_conf, h, STD_BODY, STD_NOW), FR_VERIFY_OK);
    assert_string_equal(event_id, STD_ID);

    char *sig = fr_verify_sign(&std_conf, STD_SECRET, STD_ID, STD_NOW, STD_BODY, strlen(STD_BODY));
    assert_string_equal(sig, STD_SIG);
    free(sig);

    /* The reason never echoes the signature or the secret. */
    assert_null(strstr(reason, "g0hM"));
    assert_null(strstr(reason, "MfKQ"));
}

static void test_standard_rejects(void **state)
{
    const struct fr_header h[] = {
        {"webhook-id", STD_ID}, {"webhook-timestamp", STD_TS}, {"webhook-signature", STD_SIG}};

    /* One byte of the body changed. */
    assert_int_equal(VERIFY(&std_conf, h, "{\"test\": 2432232315}", STD_NOW), FR_VERIFY_MISMATCH);

    /* The id and timestamp are signed too. */
    const struct fr_header other_id[] = {{"webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJeK"},
                                         {"webhook-timestamp", STD_TS},
                                         {"webhook-signature", STD_SIG}};
    assert_int_equal(VERIFY(&std_conf, other_id, STD_BODY, STD_NOW), FR_VERIFY_MISMATCH);
    const struct fr_header other_ts[] = {{"webhook-id", STD_ID},
                                         {"webhook-timestamp", "1614265331"},
                                         {"webhook-signature", STD_SIG}};
    assert_int_equal(VERIFY(&std_conf, other_ts, STD_BODY, STD_NOW), FR_VERIFY_MISMATCH);

    /* Wrong secret. */
    const char *const wrong[] = {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    struct fr_verify_conf conf = std_conf;
    conf.secrets = wrong;
    assert_int_equal(VERIFY(&conf, h, STD_BODY, STD_NOW), FR_VERIFY_MISMATCH);

    /* Rotation: the second of two secrets verifies. */
    const char *const rotated[] = {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", STD_SECRET};
    conf.secrets = rotated;
    conf.nsecrets = 2;
    assert_int_equal(VERIFY(&conf, h, STD_BODY, STD_NOW), FR_VERIFY_OK);
    assert_string_equal(event_id, STD_ID);

    /* A secret that is not base64, alone or next to a good one. */
    const char *const bad[] = {"whsec_not*base64"};
    conf.secrets = bad;
    conf.nsecrets = 1;
    assert_int_equal(VERIFY(&conf, h, STD_BODY, STD_NOW), FR_VERIFY_BAD_SECRET);
    const char *const bad_then_good[] = {"whsec_not*base64", STD_SECRET};
    conf.secrets = bad_then_good;
    conf.nsecrets = 2;
    assert_int_equal(VERIFY(&conf, h, STD_BODY, STD_NOW), FR_VERIFY_OK);

    /* No secret at all. */
    conf.nsecrets = 0;
    assert_int_equal(VERIFY(&conf, h, STD_BODY, STD_NOW), FR_VERIFY_BAD_SECRET);
}

static void test_standard_timestamps(void **state)
{
    const struct fr_header h[] = {
        {"webhook-id", STD_ID}, {"webhook-timestamp", STD_TS}, {"webhook-signature", STD_SIG}};
    assert_int_equal(VERIFY(&std_conf, h, STD_BODY, STD_NOW + 300), FR_VERIFY_OK);
    assert_int_equal(VERIFY(&std_conf, h, STD_BODY, STD_NOW - 300), FR_VERIFY_OK);
    assert_int_equal(VERIFY(&std_conf, h, STD_BODY, STD_NOW + 301), FR_VERIFY_STALE);
    assert_int_equal(VERIFY(&std_conf, h, STD_BODY, STD_NOW - 301), FR_VERIFY_FUTURE);
    assert_int_equal(VERIFY(&std_conf, h, STD_BODY, INT64_MAX), FR_VERIFY_STALE);
    assert_int_equal(VERIFY(&std_conf, h, STD_BODY, INT64_MIN), FR_VERIFY_FUTURE);

    /* tolerance_s 0 means the default, 300 s. */
    struct fr_verify_conf conf = std_conf;
    conf.tolerance_s = 0;
    assert_int_equal(VERIFY(&conf, h, STD_BODY, STD_NOW + 300), FR_VERIFY_OK);
    assert_int_equal(VERIFY(&conf, h, STD_BODY, STD_NOW + 301), FR_VERIFY_STALE);
    conf.tolerance_s = 10;
    assert_int_equal(VERIFY(&conf, h, STD_BODY, STD_NOW + 11), FR_VERIFY_STALE);

    static const char *const bad_ts[] = {
        "", "abc", "-1614265330", "1614265330.5", "0x1", "16142653301614265330", "1614 265330"};
    for (size_t i = 0; i < FR_ARRAY_LEN(bad_ts); i++) {
        const struct fr_header hb[] = {{"webhook-id", STD_ID},
                                       {"webhook-timestamp", bad_ts[i]},
                                       {"webhook-signature", STD_SIG}};
        enum fr_verify_result want = bad_ts[i][0] ? FR_VERIFY_MALFORMED : FR_VERIFY_MISSING_HEADER;
        assert_int_equal(VERIFY(&std_conf, hb, STD_BODY, STD_NOW), want);
    }
}

static void test_standard_headers(void **state)
{
    /* Any case, in any order, among other headers; values trimmed. */
    const struct fr_header mixed[] = {{"Content-Type", "application/json"},
                                      {"WEBHOOK-SIGNATURE", STD_SIG},
                                      {"Webhook-Timestamp", " " STD_TS},
                                      {"webhook-ID", STD_ID}};
    assert_int_equal(VERIFY(&std_conf, mixed, STD_BODY, STD_NOW), FR_VERIFY_OK);

    /* Svix's names. */
    const struct fr_header svix[] = {
        {"svix-id", STD_ID}, {"Svix-Timestamp", STD_TS}, {"SVIX-SIGNATURE", STD_SIG}};
    assert_int_equal(VERIFY(&std_conf, svix, STD_BODY, STD_NOW), FR_VERIFY_OK);
    assert_string_equal(event_id, STD_ID);

    /* Each header missing in turn. */
    for (size_t skip = 0; skip < 3; skip++) {
        const struct fr_header all[] = {
            {"webhook-id", STD_ID}, {"webhook-timestamp", STD_TS}, {"webhook-signature", STD_SIG}};
        struct fr_header some[2];
        size_t n = 0;
        for (size_t i = 0; i < 3; i++)
            if (i != skip)
                some[n++] = all[i];
        assert_int_equal(verify_n(&std_conf, some, n, STD_BODY, strlen(STD_BODY), STD_NOW),
                         FR_VERIFY_MISSING_HEADER);
    }
    assert_int_equal(verify_n(&std_conf, NULL, 0, STD_BODY, strlen(STD_BODY), STD_NOW),
                     FR_VERIFY_MISSING_HEADER);
}

static void expect_standard_sig(const char *sig, enum fr_verify_result want)
{
    const struct fr_header h[] = {
        {"webhook-id", STD_ID}, {"webhook-timestamp", STD_TS}, {"webhook-signature", sig}};
    enum fr_verify_result got = VERIFY(&std_conf, h, STD_BODY, STD_NOW);
    if (got != want)
        print_error("signature: %s\n", sig);
    assert_int_equal(got, want);
}

static void test_standard_signature_list(void **state)
{
    /* Unknown versions are skipped, before or after the v1. */
    expect_standard_sig("v2,AAAA " STD_SIG, FR_VERIFY_OK);
    expect_standard_sig("v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= " STD_SIG, FR_VERIFY_OK);
    expect_standard_sig(STD_SIG " v2,whatever", FR_VERIFY_OK);
    expect_standard_sig("garbage " STD_SIG, FR_VERIFY_OK);
    /* A wrong v1 before the right one. */
    expect_standard_sig("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " STD_SIG, FR_VERIFY_OK);
    expect_standard_sig("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", FR_VERIFY_MISMATCH);
    /* Only the last byte differs (E= -> A=). */
    expect_standard_sig("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", FR_VERIFY_MISMATCH);
    /* Only unknown versions: nothing to check. */
    expect_standard_sig("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", FR_VERIFY_MALFORMED);
    expect_standard_sig("v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", FR_VERIFY_MALFORMED);
    /* Bad base64, wrong length, padding in the middle, a v1 with nothing. */
    expect_standard_sig("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O*=", FR_VERIFY_MALFORMED);
    expect_standard_sig("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ", FR_VERIFY_MALFORMED);
    expect_standard_sig("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE==", FR_VERIFY_MALFORMED);
    expect_standard_sig("v1,g0hM=SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", FR_VERIFY_MALFORMED);
    expect_standard_sig("v1,", FR_VERIFY_MALFORMED);
    /* A malformed entry does not hide a valid one. */
    expect_standard_sig("v1,%%% " STD_SIG, FR_VERIFY_OK);
    /* The signature is compared as bytes: the same MAC without padding is accepted. */
    expect_standard_sig("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", FR_VERIFY_OK);
}

static void test_standard_round_trip(void **state)
{
    /* A secret whose base64 carries padding, with and without the prefix. */
    const char *const secrets[] = {"whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dQ==",
                                   "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dQ=="};
    for (size_t i = 0; i < FR_ARRAY_LEN(secrets); i++) {
        struct fr_verify_conf conf = std_conf;
        conf.secrets = &secrets[i];
        const char body[] = "{\"a\":1}\n\0binary";
        char *sig = fr_verify_sign(&conf, secrets[i], "msg_1", 1700000000, body, sizeof(body));
        assert_non_null(sig);
        assert_memory_equal(sig, "v1,", 3);
        const struct fr_header h[] = {{"webhook-id", "msg_1"},
                                      {"webhook-timestamp", "1700000000"},
                                      {"webhook-signature", sig}};
        assert_int_equal(verify_n(&conf, h, 3, body, sizeof(body), 1700000000), FR_VERIFY_OK);
        assert_string_equal(event_id, "msg_1");
        /* The embedded NUL and what follows are signed. */
        assert_int_equal(verify_n(&conf, h, 3, body, sizeof(body) - 1, 1700000000),
                         FR_VERIFY_MISMATCH);
        free(sig);
    }
    /* Both spellings are one key. */
    char *a = fr_verify_sign(&std_conf, secrets[0], "m", 1, "x", 1);
    char *b = fr_verify_sign(&std_conf, secrets[1], "m", 1, "x", 1);
    assert_string_equal(a, b);
    free(a);
    free(b);
    assert_null(fr_verify_sign(&std_conf, "whsec_*", "m", 1, "x", 1));
    assert_null(fr_verify_sign(&std_conf, STD_SECRET, NULL, 1, "x", 1));
}

/* ---- github ---- */

static const char *const gh_secrets[] = {GH_SECRET};
static const struct fr_verify_conf gh_conf = {
    .scheme = FR_VERIFY_GITHUB, .secrets = gh_secrets, .nsecrets = 1};

static void test_github(void **state)
{
    const struct fr_header h[] = {{"X-GitHub-Event", "push"},
                                  {"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
                                  {"X-Hub-Signature-256", GH_SIG}};
    /* No timestamp: any now is fine. */
    assert_int_equal(VERIFY(&gh_conf, h, GH_BODY, 0), FR_VERIFY_OK);
    assert_string_equal(event_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_int_equal(VERIFY(&gh_conf, h, GH_BODY, INT64_MAX), FR_VERIFY_OK);

    char *sig = fr_verify_sign(&gh_conf, GH_SECRET, NULL, 0, GH_BODY, strlen(GH_BODY));
    assert_string_equal(sig, GH_SIG);
    free(sig);

    assert_int_equal(VERIFY(&gh_conf, h, "Hello, World?", 0), FR_VERIFY_MISMATCH);

    struct fr_verify_conf conf = gh_conf;
    const char *const wrong[] = {"It's a Secret to Everybody!"};
    conf.secrets = wrong;
    assert_int_equal(VERIFY(&conf, h, GH_BODY, 0), FR_VERIFY_MISMATCH);
    const char *const rotated[] = {"old secret", GH_SECRET};
    conf.secrets = rotated;
    conf.nsecrets = 2;
    assert_int_equal(VERIFY(&conf, h, GH_BODY, 0), FR_VERIFY_OK);
    const char *const empty[] = {""};
    conf.secrets = empty;
    conf.nsecrets = 1;
    assert_int_equal(VERIFY(&conf, h, GH_BODY, 0), FR_VERIFY_BAD_SECRET);

    /* Lower-case names, no delivery id. */
    const struct fr_header lower[] = {{"x-hub-signature-256", GH_SIG}};
    assert_int_equal(VERIFY(&gh_conf, lower, GH_BODY, 0), FR_VERIFY_OK);
    assert_string_equal(event_id, "");

    /* The SHA-1 header alone is not enough. */
    const struct fr_header sha1[] = {{"X-Hub-Signature", "sha1=0123"}};
    assert_int_equal(VERIFY(&gh_conf, sha1, GH_BODY, 0), FR_VERIFY_MISSING_HEADER);

    static const char *const malformed[] = {
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17a",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",
        "sha256=",
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(malformed); i++) {
        const struct fr_header hm[] = {{"X-Hub-Signature-256", malformed[i]}};
        assert_int_equal(VERIFY(&gh_conf, hm, GH_BODY, 0), FR_VERIFY_MALFORMED);
    }
    /* Only the last byte differs: the whole MAC is compared. */
    const struct fr_header last[] = {
        {"X-Hub-Signature-256",
         "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e16"}};
    assert_int_equal(VERIFY(&gh_conf, last, GH_BODY, 0), FR_VERIFY_MISMATCH);

    /* Upper-case hex is the same MAC. */
    const struct fr_header upper[] = {
        {"X-Hub-Signature-256",
         "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"}};
    assert_int_equal(VERIFY(&gh_conf, upper, GH_BODY, 0), FR_VERIFY_OK);
}

/* ---- stripe ---- */

static const char *const st_secrets[] = {ST_SECRET};
static const struct fr_verify_conf st_conf = {
    .scheme = FR_VERIFY_STRIPE, .secrets = st_secrets, .nsecrets = 1, .tolerance_s = 300};

static enum fr_verify_result stripe(const char *value, const char *body, int64_t now)
{
    const struct fr_header h[] = {{"stripe-signature", value}};
    return verify_n(&st_conf, h, 1, body, strlen(body), now);
}

static void test_stripe(void **state)
{
    assert_int_equal(stripe("t=1700000000,v1=" ST_V1, ST_BODY, ST_TS), FR_VERIFY_OK);
    assert_string_equal(event_id, "evt_1NG8Du2eZvKYlo2CUI79vXWy");
    char *sig = fr_verify_sign(&st_conf, ST_SECRET, NULL, ST_TS, ST_BODY, strlen(ST_BODY));
    assert_string_equal(sig, "t=1700000000,v1=" ST_V1);
    free(sig);

    /* The key is the secret string itself, not its base64-decoded tail. */
    assert_int_equal(stripe("t=1700000000,v1=" ST_V1_STRIPPED, ST_BODY, ST_TS), FR_VERIFY_MISMATCH);

    /* v0 and unknown keys are ignored; any v1 may match; spaces tolerated. */
    assert_int_equal(stripe("t=1700000000,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba81"
                            "6edb039989a39,v1=" ST_V1,
                            ST_BODY, ST_TS),
                     FR_VERIFY_OK);
    assert_int_equal(stripe("t=1700000000, v1=" CV_PLAIN ", v1=" ST_V1 ", x=y", ST_BODY, ST_TS),
                     FR_VERIFY_OK);
    assert_int_equal(stripe("v1=" ST_V1 ",t=1700000000", ST_BODY, ST_TS), FR_VERIFY_OK);

    /* A v0 carrying the right MAC does not count. */
    assert_int_equal(stripe("t=1700000000,v0=" ST_V1 ",v1=" CV_PLAIN, ST_BODY, ST_TS),
                     FR_VERIFY_MISMATCH);

    /* Tampered body, wrong timestamp in the header. */
    char tampered[] = ST_BODY;
    tampered[10] ^= 1;
    assert_int_equal(stripe("t=1700000000,v1=" ST_V1, tampered, ST_TS), FR_VERIFY_MISMATCH);
    assert_int_equal(stripe("t=1700000001,v1=" ST_V1, ST_BODY, ST_TS), FR_VERIFY_MISMATCH);

    /* Tolerance, both directions. */
    assert_int_equal(stripe("t=1700000000,v1=" ST_V1, ST_BODY, ST_TS + 300), FR_VERIFY_OK);
    assert_int_equal(stripe("t=1700000000,v1=" ST_V1, ST_BODY, ST_TS + 301), FR_VERIFY_STALE);
    assert_int_equal(stripe("t=1700000000,v1=" ST_V1, ST_BODY, ST_TS - 301), FR_VERIFY_FUTURE);

    /* Garbage. */
    static const char *const malformed[] = {
        "garbage",
        "t=1700000000",
        "v1=" ST_V1,
        "t=1700000000,v0=" ST_V1,
        "t=abc,v1=" ST_V1,
        "t=,v1=" ST_V1,
        "t=1700000000,v1=zz",
        "t=1700000000,v1=" ST_V1 "00",
        ",,,",
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(malformed); i++) {
        enum fr_verify_result got = stripe(malformed[i], ST_BODY, ST_TS);
        if (got != FR_VERIFY_MALFORMED)
            print_error("header: %s\n", malformed[i]);
        assert_int_equal(got, FR_VERIFY_MALFORMED);
    }
    const struct fr_header none[] = {{"Content-Type", "application/json"}};
    assert_int_equal(VERIFY(&st_conf, none, ST_BODY, ST_TS), FR_VERIFY_MISSING_HEADER);

    /* Rotation and wrong secret. */
    struct fr_verify_conf conf = st_conf;
    const char *const rotated[] = {"whsec_old", ST_SECRET};
    conf.secrets = rotated;
    conf.nsecrets = 2;
    const struct fr_header h[] = {{"Stripe-Signature", "t=1700000000,v1=" ST_V1}};
    assert_int_equal(VERIFY(&conf, h, ST_BODY, ST_TS), FR_VERIFY_OK);
    conf.nsecrets = 1;
    assert_int_equal(VERIFY(&conf, h, ST_BODY, ST_TS), FR_VERIFY_MISMATCH);
}

static void test_stripe_event_id(void **state)
{
    static const struct {
        const char *body;
        const char *id;
    } cases[] = {
        {"{\"object\":\"event\",\"id\":\"evt_2\"}", "evt_2"},
        {"{\"data\":{\"id\":\"ch_1\"}}", ""}, /* only the top level counts */
        {"{\"id\":42}", ""},
        {"[\"id\"]", ""},
        {"not json", ""},
        {"", ""},
        {"{\"id\":\"evt_\\u0000x\"}", ""}, /* an id with a NUL is no id */
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        const char *b = cases[i].body;
        char *sig = fr_verify_sign(&st_conf, ST_SECRET, NULL, ST_TS, b, strlen(b));
        assert_int_equal(stripe(sig, b, ST_TS), FR_VERIFY_OK);
        assert_string_equal(event_id, cases[i].id);
        free(sig);
    }

    /* An id longer than the buffer is left out, not cut. */
    const char *b = "{\"id\":\"evt_0123456789\"}";
    char *sig = fr_verify_sign(&st_conf, ST_SECRET, NULL, ST_TS, b, strlen(b));
    const struct fr_header h[] = {{"Stripe-Signature", sig}};
    char small[14];
    assert_int_equal(fr_verify(&st_conf, h, 1, b, strlen(b), ST_TS, small, sizeof(small), NULL),
                     FR_VERIFY_OK);
    assert_string_equal(small, "");
    char exact[15];
    assert_int_equal(fr_verify(&st_conf, h, 1, b, strlen(b), ST_TS, exact, sizeof(exact), NULL),
                     FR_VERIFY_OK);
    assert_string_equal(exact, "evt_0123456789");
    assert_int_equal(fr_verify(&st_conf, h, 1, b, strlen(b), ST_TS, NULL, 0, NULL), FR_VERIFY_OK);
    free(sig);
}

/* ---- convoy ---- */

static const char *const cv_secrets[] = {CV_SECRET};
static const struct fr_verify_conf cv_conf = {
    .scheme = FR_VERIFY_CONVOY, .secrets = cv_secrets, .nsecrets = 1, .tolerance_s = 300};

static enum fr_verify_result convoy(const char *value, const char *body, int64_t now)
{
    const struct fr_header h[] = {{"X-Convoy-Signature", value}};
    return verify_n(&cv_conf, h, 1, body, strlen(body), now);
}

static void test_convoy(void **state)
{
    /* Simple: no timestamp, so any now. */
    assert_int_equal(convoy(CV_PLAIN, CV_BODY, 0), FR_VERIFY_OK);
    assert_string_equal(event_id, "");
    assert_int_equal(convoy(CV_PLAIN, CV_BODY "\n", 0), FR_VERIFY_MISMATCH);
    assert_int_equal(convoy(CV_V1, CV_BODY, 0), FR_VERIFY_MISMATCH);

    /* Advanced: "ts,body", with a comma. */
    assert_int_equal(convoy("t=1700000000,v1=" CV_V1, CV_BODY, CV_TS), FR_VERIFY_OK);
    assert_int_equal(convoy("t=1700000000,v1=" CV_PLAIN ",v1=" CV_V1, CV_BODY, CV_TS),
                     FR_VERIFY_OK);
    assert_int_equal(convoy("t=1700000000,v2=abc,v1=" CV_V1, CV_BODY, CV_TS), FR_VERIFY_OK);
    assert_int_equal(convoy("t=1700000000,v1=" CV_PLAIN, CV_BODY, CV_TS), FR_VERIFY_MISMATCH);
    assert_int_equal(convoy("t=1700000000,v1=" CV_V1, CV_BODY " ", CV_TS), FR_VERIFY_MISMATCH);
    assert_int_equal(convoy("t=1700000000,v1=" CV_V1, CV_BODY, CV_TS + 301), FR_VERIFY_STALE);
    assert_int_equal(convoy("t=1700000000,v1=" CV_V1, CV_BODY, CV_TS - 301), FR_VERIFY_FUTURE);

    char *sig = fr_verify_sign(&cv_conf, CV_SECRET, NULL, 0, CV_BODY, strlen(CV_BODY));
    assert_string_equal(sig, CV_PLAIN);
    free(sig);
    sig = fr_verify_sign(&cv_conf, CV_SECRET, NULL, CV_TS, CV_BODY, strlen(CV_BODY));
    assert_string_equal(sig, "t=1700000000,v1=" CV_V1);
    free(sig);

    /* Rotation, wrong secret. */
    struct fr_verify_conf conf = cv_conf;
    const char *const rotated[] = {"previous", CV_SECRET};
    conf.secrets = rotated;
    conf.nsecrets = 2;
    const struct fr_header h[] = {{"x-convoy-signature", CV_PLAIN}};
    assert_int_equal(VERIFY(&conf, h, CV_BODY, 0), FR_VERIFY_OK);
    conf.nsecrets = 1;
    assert_int_equal(VERIFY(&conf, h, CV_BODY, 0), FR_VERIFY_MISMATCH);

    static const char *const malformed[] = {"zz", CV_PLAIN "0", "t=1700000000", "t=x,v1=" CV_V1,
                                            "t=1700000000,v1=" CV_V1 "0"};
    for (size_t i = 0; i < FR_ARRAY_LEN(malformed); i++)
        assert_int_equal(convoy(malformed[i], CV_BODY, CV_TS), FR_VERIFY_MALFORMED);
    const struct fr_header none[] = {{"X-Convoy-Signature", ""}};
    assert_int_equal(VERIFY(&cv_conf, none, CV_BODY, CV_TS), FR_VERIFY_MISSING_HEADER);
}

/* ---- generic hmac ---- */

static void test_hmac(void **state)
{
    /* The GitHub vector through the generic scheme. */
    const char *const secrets[] = {GH_SECRET};
    struct fr_verify_conf conf = {.scheme = FR_VERIFY_HMAC,
                                  .secrets = secrets,
                                  .nsecrets = 1,
                                  .header = "X-Signature",
                                  .prefix = "sha256="};
    const struct fr_header h[] = {{"x-signature", GH_SIG}};
    assert_int_equal(VERIFY(&conf, h, GH_BODY, 0), FR_VERIFY_OK);
    assert_string_equal(event_id, "");
    assert_int_equal(VERIFY(&conf, h, "Hello, World", 0), FR_VERIFY_MISMATCH);
    const struct fr_header no_prefix[] = {
        {"X-Signature", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}};
    assert_int_equal(VERIFY(&conf, no_prefix, GH_BODY, 0), FR_VERIFY_MALFORMED);
    conf.prefix = NULL;
    assert_int_equal(VERIFY(&conf, no_prefix, GH_BODY, 0), FR_VERIFY_OK);

    /* Base64 of the same MAC: 44 characters ending in one '='. Decoding must
     * drop the padding byte EVP_DecodeBlock counts, or the MAC is 33 bytes. */
    conf.base64 = true;
    const struct fr_header b64[] = {
        {"X-Signature", "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc="}};
    assert_int_equal(VERIFY(&conf, b64, GH_BODY, 0), FR_VERIFY_OK);
    char *sig = fr_verify_sign(&conf, GH_SECRET, NULL, 0, GH_BODY, strlen(GH_BODY));
    assert_string_equal(sig, "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc=");
    free(sig);
    assert_int_equal(VERIFY(&conf, no_prefix, GH_BODY, 0), FR_VERIFY_MALFORMED);
    const struct fr_header b64_bad[] = {
        {"X-Signature", "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPh=="}};
    assert_int_equal(VERIFY(&conf, b64_bad, GH_BODY, 0), FR_VERIFY_MALFORMED);

    /* With a timestamp header: "ts.body", and the tolerance applies. */
    conf.timestamp_header = "X-Timestamp";
    conf.prefix = "v1=";
    conf.tolerance_s = 60;
    sig = fr_verify_sign(&conf, GH_SECRET, NULL, 1700000000, GH_BODY, strlen(GH_BODY));
    assert_memory_equal(sig, "v1=", 3);
    const struct fr_header ht[] = {{"X-Timestamp", "1700000000"}, {"X-Signature", sig}};
    assert_int_equal(VERIFY(&conf, ht, GH_BODY, 1700000000), FR_VERIFY_OK);
    assert_int_equal(VERIFY(&conf, ht, GH_BODY, 1700000061), FR_VERIFY_STALE);
    assert_int_equal(VERIFY(&conf, ht, GH_BODY, 1699999939), FR_VERIFY_FUTURE);
    const struct fr_header ht_other[] = {{"X-Timestamp", "1700000001"}, {"X-Signature", sig}};
    assert_int_equal(VERIFY(&conf, ht_other, GH_BODY, 1700000000), FR_VERIFY_MISMATCH);
    const struct fr_header ht_missing[] = {{"X-Signature", sig}};
    assert_int_equal(VERIFY(&conf, ht_missing, GH_BODY, 1700000000), FR_VERIFY_MISSING_HEADER);
    /* Rotation. */
    const char *const rotated[] = {"old", GH_SECRET};
    conf.secrets = rotated;
    conf.nsecrets = 2;
    assert_int_equal(VERIFY(&conf, ht, GH_BODY, 1700000000), FR_VERIFY_OK);
    free(sig);

    /* The signature header is required; without a name the conf is wrong. */
    const struct fr_header other[] = {{"X-Other", GH_SIG}};
    assert_int_equal(VERIFY(&conf, other, GH_BODY, 1700000000), FR_VERIFY_MISSING_HEADER);
    conf.header = NULL;
    assert_int_equal(VERIFY(&conf, h, GH_BODY, 0), FR_VERIFY_BAD_CONFIG);
}

/* ---- names and odd configurations ---- */

static void test_names(void **state)
{
    static const char *const names[] = {"standard", "github", "stripe", "convoy", "hmac"};
    for (size_t i = 0; i < FR_ARRAY_LEN(names); i++) {
        enum fr_verify_scheme s = FR_VERIFY_HMAC;
        assert_int_equal(fr_verify_parse_scheme(names[i], &s), 0);
        assert_int_equal(s, (enum fr_verify_scheme)i);
        assert_string_equal(fr_verify_scheme_name(s), names[i]);
    }
    enum fr_verify_scheme s = FR_VERIFY_GITHUB;
    assert_int_equal(fr_verify_parse_scheme("svix", &s), 0);
    assert_int_equal(s, FR_VERIFY_STANDARD);
    assert_int_equal(fr_verify_parse_scheme("GitHub", &s), FR_EINVAL);
    assert_int_equal(fr_verify_parse_scheme("", &s), FR_EINVAL);
    assert_int_equal(fr_verify_parse_scheme(NULL, &s), FR_EINVAL);
    assert_int_equal(s, FR_VERIFY_STANDARD);
    assert_string_equal(fr_verify_scheme_name((enum fr_verify_scheme)99), "unknown");

    assert_string_equal(fr_verify_result_name(FR_VERIFY_OK), "ok");
    assert_string_equal(fr_verify_result_name(FR_VERIFY_MISMATCH), "mismatch");
    assert_string_equal(fr_verify_result_name(FR_VERIFY_BAD_CONFIG), "bad_config");
    assert_string_equal(fr_verify_result_name((enum fr_verify_result)99), "unknown");

    struct fr_verify_conf conf = std_conf;
    conf.scheme = (enum fr_verify_scheme)99;
    const struct fr_header h[] = {{"webhook-id", STD_ID}};
    assert_int_equal(VERIFY(&conf, h, STD_BODY, STD_NOW), FR_VERIFY_BAD_CONFIG);
    assert_null(fr_verify_sign(&conf, STD_SECRET, STD_ID, 1, "x", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_vector),
        cmocka_unit_test(test_standard_rejects),
        cmocka_unit_test(test_standard_timestamps),
        cmocka_unit_test(test_standard_headers),
        cmocka_unit_test(test_standard_signature_list),
        cmocka_unit_test(test_standard_round_trip),
        cmocka_unit_test(test_github),
        cmocka_unit_test(test_stripe),
        cmocka_unit_test(test_stripe_event_id),
        cmocka_unit_test(test_convoy),
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
