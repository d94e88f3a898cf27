/*
 * One webhook signature scheme (src/hooks/verify.c), chosen at build time
 * by FUZZ_SCHEME: fuzz_verify_standard, _github, _stripe, _convoy, _hmac.
 *
 * The input is a delivery as text: header lines "Name: value" up to an
 * empty line, then the raw body (see the seeds, which are the published
 * vectors of tests/unit/hooks/test_verify.c). Properties: the result is a
 * known one; event_id is always a terminated string, "" on failure; and the
 * body, whatever its bytes, verifies when signed by fr_verify_sign with the
 * configured secret (the sender and receiver sides agree).
 */
#include "core/common.h"

#include "hooks/verify.h"
#include "fuzz_util.h"

#ifndef FUZZ_SCHEME
#error "FUZZ_SCHEME must name a scheme"
#endif

#define MAX_HEADERS 16

/* The published vectors' secrets and times (tests/unit/hooks/test_verify.c). */
#if FUZZ_SCHEME == FR_VERIFY_STANDARD
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define NOW    1614265330
#elif FUZZ_SCHEME == FR_VERIFY_STRIPE
#define SECRET "whsec_test_secret_for_ferry"
#define NOW    1700000000
#elif FUZZ_SCHEME == FR_VERIFY_CONVOY
#define SECRET "convoy-webhook-secret"
#define NOW    1700000000
#else /* github, hmac */
#define SECRET "It's a Secret to Everybody"
#define NOW    1700000000
#endif

/* Rotation: a wrong secret first, so that every input tries two. */
static const char *const secrets[] = {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", SECRET};

/* The configurations verified: hmac has two (hex with a prefix; base64 with a timestamp). */
static const struct fr_verify_conf confs[] = {
#if FUZZ_SCHEME == FR_VERIFY_HMAC
    {.scheme = FR_VERIFY_HMAC,
     .secrets = secrets,
     .nsecrets = 2,
     .header = "X-Signature",
     .prefix = "sha256="},
    {.scheme = FR_VERIFY_HMAC,
     .secrets = secrets,
     .nsecrets = 2,
     .tolerance_s = 60,
     .header = "X-Signature",
     .base64 = true,
     .prefix = "v1=",
     .timestamp_header = "X-Timestamp"},
#else
    {.scheme = FUZZ_SCHEME, .secrets = secrets, .nsecrets = 2},
#endif
};

/* Splits "Name: value" lines into headers (pointers into text, which is modified). */
static size_t parse_headers(char *text, struct fr_header *h, size_t max)
{
    size_t n = 0;
    char *line = text;
    while (line && *line && n < max) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            h[n].name = line;
            h[n].value = colon + 1;
            n++;
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

static void check_result(enum fr_verify_result r, const char *event_id, size_t idlen,
                         const char *reason)
{
    FUZZ_CHECK((unsigned)r < FR_VERIFY_RESULT__COUNT);
    FUZZ_CHECK(memchr(event_id, '\0', idlen) != NULL);
    FUZZ_CHECK(reason != NULL);
    if (r != FR_VERIFY_OK)
        FUZZ_CHECK(event_id[0] == '\0');
    FUZZ_CHECK(strstr(reason, SECRET) == NULL);
}

/* Signs body as a sender would and checks that it verifies. */
static void round_trip(const struct fr_verify_conf *conf, const uint8_t *body, size_t len)
{
    static const char id[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    char *sig = fr_verify_sign(conf, SECRET, id, NOW, body, len);
    FUZZ_CHECK(sig != NULL);
    char ts[24];
    snprintf(ts, sizeof(ts), "%d", NOW);
    struct fr_header h[3];
    size_t n = 0;
    switch (conf->scheme) {
    case FR_VERIFY_STANDARD:
        h[n++] = (struct fr_header){"webhook-id", id};
        h[n++] = (struct fr_header){"webhook-timestamp", ts};
        h[n++] = (struct fr_header){"webhook-signature", sig};
        break;
    case FR_VERIFY_GITHUB:
        h[n++] = (struct fr_header){"X-Hub-Signature-256", sig};
        break;
    case FR_VERIFY_STRIPE:
        h[n++] = (struct fr_header){"Stripe-Signature", sig};
        break;
    case FR_VERIFY_CONVOY:
        h[n++] = (struct fr_header){"X-Convoy-Signature", sig};
        break;
    case FR_VERIFY_HMAC:
        h[n++] = (struct fr_header){conf->header, sig};
        if (conf->timestamp_header)
            h[n++] = (struct fr_header){conf->timestamp_header, ts};
        break;
    default:
        abort();
    }
    char event_id[64];
    const char *reason = NULL;
    enum fr_verify_result r =
        fr_verify(conf, h, n, body, len, NOW, event_id, sizeof(event_id), &reason);
    if (r != FR_VERIFY_OK)
        fprintf(stderr, "signed delivery refused: %s (%s)\n", fr_verify_result_name(r), reason);
    FUZZ_CHECK(r == FR_VERIFY_OK);
    check_result(r, event_id, sizeof(event_id), reason);
    if (conf->scheme == FR_VERIFY_STANDARD)
        FUZZ_CHECK(strcmp(event_id, id) == 0);
    free(sig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return -1;
    const uint8_t *head, *body;
    size_t headlen, bodylen;
    fuzz_split(data, size, "\n\n", &head, &headlen, &body, &bodylen);
    char *text = fuzz_cstr(head, headlen);
    struct fr_header h[MAX_HEADERS];
    size_t nh = parse_headers(text, h, MAX_HEADERS);

    for (size_t i = 0; i < FR_ARRAY_LEN(confs); i++) {
        /* A small event_id buffer half the time: ids that do not fit come back "". */
        char event_id[64];
        size_t idlen = (size & 1) ? 8 : sizeof(event_id);
        const char *reason = NULL;
        enum fr_verify_result r =
            fr_verify(&confs[i], h, nh, body, bodylen, NOW, event_id, idlen, &reason);
        check_result(r, event_id, idlen, reason);
        round_trip(&confs[i], body, bodylen);
    }
    free(text);
    return 0;
}
