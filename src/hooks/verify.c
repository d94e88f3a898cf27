#include "core/common.h"

#include "hooks/verify.h"

#include <inttypes.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>

#include "core/error.h"
#include "core/hex.h"

#define MAC_LEN 32
/* Longest base64 text decoded (secrets, signatures): far above any real one. */
#define B64_MAX 4096

/* A borrowed run of bytes inside a header value or the body. */
struct span {
    const char *p;
    size_t n;
};

/* One piece of the signed content; the MAC covers the pieces in order. */
struct part {
    const void *p;
    size_t n;
};

/* Everything a scheme's verifier needs for one call. */
struct call {
    const struct fr_verify_conf *conf;
    const struct fr_header *headers;
    size_t nheaders;
    const char *body;
    size_t len;
    int64_t now;
    char *event_id;
    size_t idlen;
    const char **reason;
};

static enum fr_verify_result fail(struct call *c, enum fr_verify_result r, const char *why)
{
    *c->reason = why;
    return r;
}

/* ---- bytes: HMAC, hex, base64 ---- */

/* HMAC-SHA256 with no key yet, made once: each MAC starts from a copy, so
 * no call looks the algorithms up again (OpenSSL 3 fetches by name, under a
 * lock, every time). Never freed: it lives as long as the process. */
static EVP_MAC_CTX *hmac_template;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_template_make(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    FR_ASSERT(mac != NULL);
    hmac_template = EVP_MAC_CTX_new(mac);
    FR_ASSERT(hmac_template != NULL);
    EVP_MAC_free(mac); /* the context keeps its own reference */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    FR_ASSERT(EVP_MAC_CTX_set_params(hmac_template, params) == 1);
}

static void hmac_parts(const void *key, size_t keylen, const struct part *parts, size_t nparts,
                       unsigned char out[MAC_LEN])
{
    pthread_once(&hmac_once, hmac_template_make);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(hmac_template);
    FR_ASSERT(ctx != NULL);
    FR_ASSERT(keylen > 0);
    FR_ASSERT(EVP_MAC_init(ctx, key, keylen, NULL) == 1);
    for (size_t i = 0; i < nparts; i++)
        FR_ASSERT(EVP_MAC_update(ctx, parts[i].p, parts[i].n) == 1);
    size_t outlen = 0;
    FR_ASSERT(EVP_MAC_final(ctx, out, &outlen, MAC_LEN) == 1 && outlen == MAC_LEN);
    EVP_MAC_CTX_free(ctx);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes exactly 2 * MAC_LEN hex digits (either case). */
static bool hex_mac(struct span s, unsigned char out[MAC_LEN])
{
    if (s.n != 2 * MAC_LEN)
        return false;
    for (size_t i = 0; i < MAC_LEN; i++) {
        int hi = hexval(s.p[2 * i]), lo = hexval(s.p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

static char *hex_encode(const unsigned char *in, size_t n)
{
    char *out = fr_malloc(2 * n + 1);
    fr_hex_encode(in, n, out);
    return out;
}

static bool is_b64(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

/*
 * Decodes standard base64; '=' padding may be present (then the length is a
 * multiple of 4) or left out. Returns a new buffer the caller frees, or NULL
 * for anything else (other characters, whitespace, bad length, empty).
 */
static unsigned char *b64_decode(const char *s, size_t n, size_t *outlen)
{
    if (n == 0 || n > B64_MAX)
        return NULL;
    size_t pad = 0;
    while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
        pad++;
    size_t data = n - pad;
    for (size_t i = 0; i < data; i++)
        if (!is_b64(s[i]))
            return NULL;
    if ((pad > 0 && n % 4 != 0) || data % 4 == 1 || data == 0)
        return NULL;
    /* EVP_DecodeBlock wants whole quanta and counts padding as zero bytes. */
    size_t padded = (data + 3) / 4 * 4;
    unsigned char *tmp = fr_malloc(padded);
    memcpy(tmp, s, data);
    memset(tmp + data, '=', padded - data);
    unsigned char *out = fr_malloc(padded / 4 * 3 + 1);
    int r = EVP_DecodeBlock(out, tmp, (int)padded);
    free(tmp);
    if (r < 0 || (size_t)r < padded - data) {
        free(out);
        return NULL;
    }
    *outlen = (size_t)r - (padded - data);
    return out;
}

static char *b64_encode(const unsigned char *in, size_t n)
{
    char *out = fr_malloc((n + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

/* ---- header values ---- */

static struct span trim(const char *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (struct span){p, n};
}

/* The first header called name (any case), trimmed; false if absent or empty. */
static bool header(const struct call *c, const char *name, struct span *out)
{
    for (size_t i = 0; i < c->nheaders; i++) {
        const struct fr_header *h = &c->headers[i];
        if (h->name == NULL || h->value == NULL || strcasecmp(h->name, name) != 0)
            continue;
        *out = trim(h->value, strlen(h->value));
        return out->n > 0;
    }
    return false;
}

static bool span_eq(struct span s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* Splits the next item off *rest at sep; false when nothing is left. */
static bool next_item(struct span *rest, char sep, struct span *item)
{
    if (rest->n == 0)
        return false;
    const char *end = memchr(rest->p, sep, rest->n);
    size_t n = end ? (size_t)(end - rest->p) : rest->n;
    *item = trim(rest->p, n);
    rest->p += end ? n + 1 : n;
    rest->n -= end ? n + 1 : n;
    return true;
}

/* Unix seconds: 1 to 18 ASCII digits, nothing else. */
static bool parse_ts(struct span s, int64_t *out)
{
    if (s.n == 0 || s.n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        v = v * 10 + (s.p[i] - '0');
    }
    *out = v;
    return true;
}

static enum fr_verify_result check_ts(struct call *c, struct span s)
{
    int64_t ts;
    if (!parse_ts(s, &ts))
        return fail(c, FR_VERIFY_MALFORMED, "the signature timestamp is not unix seconds");
    int64_t tol = c->conf->tolerance_s > 0 ? c->conf->tolerance_s : FR_VERIFY_DEFAULT_TOLERANCE_S;
    /* Unsigned differences cannot overflow whatever now the caller passes. */
    if (c->now >= ts && (uint64_t)c->now - (uint64_t)ts > (uint64_t)tol)
        return fail(c, FR_VERIFY_STALE, "the signature timestamp is older than the tolerance");
    if (ts > c->now && (uint64_t)ts - (uint64_t)c->now > (uint64_t)tol)
        return fail(c, FR_VERIFY_FUTURE, "the signature timestamp is ahead of the tolerance");
    return FR_VERIFY_OK;
}

static void set_id(struct call *c, const char *p, size_t n)
{
    if (c->idlen > 0 && n < c->idlen && memchr(p, '\0', n) == NULL) {
        memcpy(c->event_id, p, n);
        c->event_id[n] = '\0';
    }
}

/* ---- secrets and matching ---- */

/* The HMAC key of a secret; *owned is set when it must be freed. NULL: unusable. */
static const unsigned char *secret_key(const char *secret, bool b64, size_t *keylen,
                                       unsigned char **owned)
{
    *owned = NULL;
    if (secret == NULL || secret[0] == '\0')
        return NULL;
    if (!b64) {
        *keylen = strlen(secret);
        return (const unsigned char *)secret;
    }
    static const char prefix[] = "whsec_";
    if (strncmp(secret, prefix, sizeof(prefix) - 1) == 0)
        secret += sizeof(prefix) - 1;
    *owned = b64_decode(secret, strlen(secret), keylen);
    return *keylen > 0 ? *owned : NULL;
}

/* The MACs of the content under every usable secret, computed once per call. */
struct macs {
    unsigned char (*mac)[MAC_LEN];
    size_t n;
};

static void macs_compute(struct macs *m, const struct fr_verify_conf *conf, bool b64_keys,
                         const struct part *parts, size_t nparts)
{
    m->mac = fr_reallocarray(NULL, conf->nsecrets, MAC_LEN);
    m->n = 0;
    for (size_t i = 0; i < conf->nsecrets; i++) {
        unsigned char *owned;
        size_t keylen = 0;
        const unsigned char *key = secret_key(conf->secrets[i], b64_keys, &keylen, &owned);
        if (key != NULL)
            hmac_parts(key, keylen, parts, nparts, m->mac[m->n++]);
        if (owned != NULL) {
            OPENSSL_cleanse(owned, keylen);
            free(owned);
        }
    }
}

/* Constant time in the MAC bytes: every secret's MAC is compared. */
static bool macs_match(const struct macs *m, const unsigned char cand[MAC_LEN])
{
    int hit = 0;
    for (size_t i = 0; i < m->n; i++)
        hit |= CRYPTO_memcmp(m->mac[i], cand, MAC_LEN) == 0;
    return hit != 0;
}

static void macs_release(struct macs *m)
{
    OPENSSL_cleanse(m->mac, m->n * MAC_LEN);
    free(m->mac);
    m->mac = NULL;
}

/* ---- schemes ---- */

static bool header_alias(const struct call *c, const char *name, const char *alias,
                         struct span *out)
{
    return header(c, name, out) || header(c, alias, out);
}

static enum fr_verify_result verify_standard(struct call *c)
{
    struct span id, ts, sig, item;
    if (!header_alias(c, "webhook-id", "svix-id", &id) ||
        !header_alias(c, "webhook-timestamp", "svix-timestamp", &ts) ||
        !header_alias(c, "webhook-signature", "svix-signature", &sig))
        return fail(c, FR_VERIFY_MISSING_HEADER,
                    "webhook-id, webhook-timestamp or webhook-signature is missing");
    enum fr_verify_result r = check_ts(c, ts);
    if (r != FR_VERIFY_OK)
        return r;

    const struct part parts[] = {{id.p, id.n}, {".", 1}, {ts.p, ts.n}, {".", 1}, {c->body, c->len}};
    struct macs m;
    macs_compute(&m, c->conf, true, parts, FR_ARRAY_LEN(parts));
    if (m.n == 0) {
        macs_release(&m);
        return fail(c, FR_VERIFY_BAD_SECRET, "no configured secret is valid whsec_ base64");
    }
    bool matched = false, known = false, bad = false;
    while (next_item(&sig, ' ', &item)) {
        const char *comma = memchr(item.p, ',', item.n);
        if (comma == NULL || !span_eq((struct span){item.p, (size_t)(comma - item.p)}, "v1"))
            continue; /* another version, or not a signature: skipped */
        known = true;
        size_t n = 0;
        unsigned char *cand = b64_decode(comma + 1, item.n - (size_t)(comma + 1 - item.p), &n);
        if (cand != NULL && n == MAC_LEN)
            matched |= macs_match(&m, cand);
        else
            bad = true;
        free(cand);
    }
    macs_release(&m);
    if (matched) {
        set_id(c, id.p, id.n);
        return FR_VERIFY_OK;
    }
    if (!known)
        return fail(c, FR_VERIFY_MALFORMED, "webhook-signature holds no v1 signature");
    if (bad)
        return fail(c, FR_VERIFY_MALFORMED, "a v1 signature is not base64 of 32 bytes");
    return fail(c, FR_VERIFY_MISMATCH, "no v1 signature matches any configured secret");
}

static bool strip_prefix(struct span *s, const char *prefix)
{
    size_t n = strlen(prefix);
    if (s->n < n || strncasecmp(s->p, prefix, n) != 0)
        return false;
    s->p += n;
    s->n -= n;
    return true;
}

/* One candidate MAC against every secret's MAC of parts (raw keys). */
static enum fr_verify_result match_one(struct call *c, const unsigned char cand[MAC_LEN],
                                       const struct part *parts, size_t nparts)
{
    struct macs m;
    macs_compute(&m, c->conf, false, parts, nparts);
    bool usable = m.n > 0, matched = macs_match(&m, cand);
    macs_release(&m);
    if (!usable)
        return fail(c, FR_VERIFY_BAD_SECRET, "no configured secret is usable (all empty)");
    if (!matched)
        return fail(c, FR_VERIFY_MISMATCH, "the signature matches no configured secret");
    return FR_VERIFY_OK;
}

static enum fr_verify_result verify_github(struct call *c)
{
    struct span sig, id;
    unsigned char cand[MAC_LEN];
    if (!header(c, "X-Hub-Signature-256", &sig))
        return fail(c, FR_VERIFY_MISSING_HEADER, "X-Hub-Signature-256 is missing");
    if (!strip_prefix(&sig, "sha256=") || !hex_mac(sig, cand))
        return fail(c, FR_VERIFY_MALFORMED, "X-Hub-Signature-256 is not sha256=<64 hex digits>");
    const struct part parts[] = {{c->body, c->len}};
    enum fr_verify_result r = match_one(c, cand, parts, 1);
    if (r == FR_VERIFY_OK && header(c, "X-GitHub-Delivery", &id))
        set_id(c, id.p, id.n);
    return r;
}

/*
 * The "t=<ts>,v1=<hex>,..." form of Stripe and Convoy: the timestamp is
 * checked, then every v1 is tried against the MAC of "ts<sep>body".
 */
static enum fr_verify_result verify_tv1(struct call *c, struct span value, const char *sep,
                                        const char *what)
{
    struct span rest = value, item, ts = {NULL, 0};
    size_t nv1 = 0;
    while (next_item(&rest, ',', &item)) {
        if (ts.p == NULL && item.n >= 2 && memcmp(item.p, "t=", 2) == 0)
            ts = (struct span){item.p + 2, item.n - 2};
        else if (item.n >= 3 && memcmp(item.p, "v1=", 3) == 0)
            nv1++;
    }
    if (ts.p == NULL || nv1 == 0)
        return fail(c, FR_VERIFY_MALFORMED, what);
    enum fr_verify_result r = check_ts(c, ts);
    if (r != FR_VERIFY_OK)
        return r;

    const struct part parts[] = {{ts.p, ts.n}, {sep, 1}, {c->body, c->len}};
    struct macs m;
    macs_compute(&m, c->conf, false, parts, FR_ARRAY_LEN(parts));
    bool usable = m.n > 0, matched = false, bad = false;
    rest = value;
    while (usable && next_item(&rest, ',', &item)) {
        unsigned char cand[MAC_LEN];
        if (item.n < 3 || memcmp(item.p, "v1=", 3) != 0)
            continue; /* t, v0 and unknown keys */
        if (hex_mac((struct span){item.p + 3, item.n - 3}, cand))
            matched |= macs_match(&m, cand);
        else
            bad = true;
    }
    macs_release(&m);
    if (!usable)
        return fail(c, FR_VERIFY_BAD_SECRET, "no configured secret is usable (all empty)");
    if (matched)
        return FR_VERIFY_OK;
    if (bad)
        return fail(c, FR_VERIFY_MALFORMED, "a v1 signature is not 64 hex digits");
    return fail(c, FR_VERIFY_MISMATCH, "no v1 signature matches any configured secret");
}

/* The body's top-level "id" string, if the body is a JSON object with one. */
static void stripe_event_id(struct call *c)
{
    json_t *root = json_loadb(c->body, c->len, 0, NULL);
    json_t *id = json_object_get(root, "id"); /* NULL-safe; borrowed */
    if (json_is_string(id))
        set_id(c, json_string_value(id), json_string_length(id));
    json_decref(root);
}

static enum fr_verify_result verify_stripe(struct call *c)
{
    struct span value;
    if (!header(c, "Stripe-Signature", &value))
        return fail(c, FR_VERIFY_MISSING_HEADER, "Stripe-Signature is missing");
    enum fr_verify_result r =
        verify_tv1(c, value, ".", "Stripe-Signature lacks t= or v1= (want t=<ts>,v1=<hex>)");
    if (r == FR_VERIFY_OK)
        stripe_event_id(c);
    return r;
}

static enum fr_verify_result verify_convoy(struct call *c)
{
    struct span value;
    unsigned char cand[MAC_LEN];
    if (!header(c, "X-Convoy-Signature", &value))
        return fail(c, FR_VERIFY_MISSING_HEADER, "X-Convoy-Signature is missing");
    if (memchr(value.p, '=', value.n) != NULL)
        return verify_tv1(c, value, ",",
                          "X-Convoy-Signature lacks t= or v1= (want t=<ts>,v1=<hex> or <hex>)");
    if (!hex_mac(value, cand))
        return fail(c, FR_VERIFY_MALFORMED, "X-Convoy-Signature is not 64 hex digits");
    const struct part parts[] = {{c->body, c->len}};
    return match_one(c, cand, parts, 1);
}

static enum fr_verify_result verify_hmac(struct call *c)
{
    const struct fr_verify_conf *conf = c->conf;
    struct span sig, ts = {"", 0};
    unsigned char cand[MAC_LEN];
    if (conf->header == NULL || conf->header[0] == '\0')
        return fail(c, FR_VERIFY_BAD_CONFIG, "the hmac scheme needs a signature header name");
    if (!header(c, conf->header, &sig))
        return fail(c, FR_VERIFY_MISSING_HEADER, "the configured signature header is missing");
    if (conf->timestamp_header != NULL && conf->timestamp_header[0] != '\0') {
        if (!header(c, conf->timestamp_header, &ts))
            return fail(c, FR_VERIFY_MISSING_HEADER, "the configured timestamp header is missing");
        enum fr_verify_result r = check_ts(c, ts);
        if (r != FR_VERIFY_OK)
            return r;
    }
    if (conf->prefix != NULL && !strip_prefix(&sig, conf->prefix))
        return fail(c, FR_VERIFY_MALFORMED, "the signature lacks the configured prefix");
    if (conf->base64) {
        size_t n = 0;
        unsigned char *raw = b64_decode(sig.p, sig.n, &n);
        bool ok = raw != NULL && n == MAC_LEN;
        if (ok)
            memcpy(cand, raw, MAC_LEN);
        free(raw);
        if (!ok)
            return fail(c, FR_VERIFY_MALFORMED, "the signature is not base64 of 32 bytes");
    } else if (!hex_mac(sig, cand)) {
        return fail(c, FR_VERIFY_MALFORMED, "the signature is not 64 hex digits");
    }
    const struct part with_ts[] = {{ts.p, ts.n}, {".", 1}, {c->body, c->len}};
    const struct part body_only[] = {{c->body, c->len}};
    if (ts.n > 0)
        return match_one(c, cand, with_ts, FR_ARRAY_LEN(with_ts));
    return match_one(c, cand, body_only, 1);
}

/* ---- signing ---- */

/* The MAC of parts under secret, or false when the secret is unusable. */
static bool sign_mac(const char *secret, bool b64_key, const struct part *parts, size_t nparts,
                     unsigned char out[MAC_LEN])
{
    unsigned char *owned;
    size_t keylen = 0;
    const unsigned char *key = secret_key(secret, b64_key, &keylen, &owned);
    if (key != NULL)
        hmac_parts(key, keylen, parts, nparts, out);
    if (owned != NULL) {
        OPENSSL_cleanse(owned, keylen);
        free(owned);
    }
    return key != NULL;
}

static char *sign_standard(const struct fr_verify_conf *conf, const char *secret, const char *id,
                           const char *ts, const void *body, size_t len)
{
    unsigned char mac[MAC_LEN];
    if (id == NULL)
        return NULL;
    const struct part parts[] = {
        {id, strlen(id)}, {".", 1}, {ts, strlen(ts)}, {".", 1}, {body, len}};
    if (!sign_mac(secret, true, parts, FR_ARRAY_LEN(parts), mac))
        return NULL;
    char *b64 = b64_encode(mac, MAC_LEN);
    char *out = fr_asprintf("v1,%s", b64);
    free(b64);
    return out;
}

static char *sign_github(const struct fr_verify_conf *conf, const char *secret, const char *id,
                         const char *ts, const void *body, size_t len)
{
    unsigned char mac[MAC_LEN];
    const struct part parts[] = {{body, len}};
    if (!sign_mac(secret, false, parts, 1, mac))
        return NULL;
    char *hex = hex_encode(mac, MAC_LEN);
    char *out = fr_asprintf("sha256=%s", hex);
    free(hex);
    return out;
}

/* "t=<ts>,v1=<hex>" over "ts<sep>body". */
static char *sign_tv1(const char *secret, const char *ts, const char *sep, const void *body,
                      size_t len)
{
    unsigned char mac[MAC_LEN];
    const struct part parts[] = {{ts, strlen(ts)}, {sep, 1}, {body, len}};
    if (!sign_mac(secret, false, parts, FR_ARRAY_LEN(parts), mac))
        return NULL;
    char *hex = hex_encode(mac, MAC_LEN);
    char *out = fr_asprintf("t=%s,v1=%s", ts, hex);
    free(hex);
    return out;
}

static char *sign_stripe(const struct fr_verify_conf *conf, const char *secret, const char *id,
                         const char *ts, const void *body, size_t len)
{
    return sign_tv1(secret, ts, ".", body, len);
}

static char *sign_convoy(const struct fr_verify_conf *conf, const char *secret, const char *id,
                         const char *ts, const void *body, size_t len)
{
    unsigned char mac[MAC_LEN];
    if (ts != NULL)
        return sign_tv1(secret, ts, ",", body, len);
    const struct part parts[] = {{body, len}};
    if (!sign_mac(secret, false, parts, 1, mac))
        return NULL;
    return hex_encode(mac, MAC_LEN);
}

static char *sign_hmac(const struct fr_verify_conf *conf, const char *secret, const char *id,
                       const char *ts, const void *body, size_t len)
{
    unsigned char mac[MAC_LEN];
    bool with_ts = conf->timestamp_header != NULL && conf->timestamp_header[0] != '\0';
    const struct part parts[] = {{ts, strlen(ts)}, {".", 1}, {body, len}};
    if (!sign_mac(secret, false, with_ts ? parts : parts + 2, with_ts ? 3 : 1, mac))
        return NULL;
    char *enc = conf->base64 ? b64_encode(mac, MAC_LEN) : hex_encode(mac, MAC_LEN);
    char *out = fr_asprintf("%s%s", conf->prefix ? conf->prefix : "", enc);
    free(enc);
    return out;
}

/* ---- the scheme table ---- */

typedef enum fr_verify_result (*verify_fn)(struct call *c);
/* ts is the decimal timestamp; NULL only for convoy's plain form. */
typedef char *(*sign_fn)(const struct fr_verify_conf *conf, const char *secret, const char *id,
                         const char *ts, const void *body, size_t len);

static const struct scheme {
    const char *name;
    verify_fn verify;
    sign_fn sign;
} schemes[FR_VERIFY_SCHEME__COUNT] = {
    [FR_VERIFY_STANDARD] = {"standard", verify_standard, sign_standard},
    [FR_VERIFY_GITHUB] = {"github", verify_github, sign_github},
    [FR_VERIFY_STRIPE] = {"stripe", verify_stripe, sign_stripe},
    [FR_VERIFY_CONVOY] = {"convoy", verify_convoy, sign_convoy},
    [FR_VERIFY_HMAC] = {"hmac", verify_hmac, sign_hmac},
};

static const char *const result_names[] = {
#define FR_VERIFY_RESULT_STR(name, str) str,
    FR_VERIFY_RESULT_MAP(FR_VERIFY_RESULT_STR)
#undef FR_VERIFY_RESULT_STR
};

static const struct scheme *scheme_of(const struct fr_verify_conf *conf)
{
    if (conf == NULL || (unsigned)conf->scheme >= FR_VERIFY_SCHEME__COUNT)
        return NULL;
    return &schemes[conf->scheme];
}

enum fr_verify_result fr_verify(const struct fr_verify_conf *conf, const struct fr_header *headers,
                                size_t nheaders, const void *body, size_t len, int64_t now_s,
                                char *event_id, size_t idlen, const char **reason)
{
    const char *ignored;
    struct call c = {
        .conf = conf,
        .headers = headers,
        .nheaders = headers ? nheaders : 0,
        .body = body ? body : "",
        .len = body ? len : 0,
        .now = now_s,
        .event_id = event_id,
        .idlen = event_id ? idlen : 0,
        .reason = reason ? reason : &ignored,
    };
    if (c.idlen > 0)
        event_id[0] = '\0';
    const struct scheme *s = scheme_of(conf);
    if (s == NULL)
        return fail(&c, FR_VERIFY_BAD_CONFIG, "unknown webhook signature scheme");
    if (conf->nsecrets == 0 || conf->secrets == NULL)
        return fail(&c, FR_VERIFY_BAD_SECRET, "no webhook secret is configured");
    enum fr_verify_result r = s->verify(&c);
    if (r == FR_VERIFY_OK)
        *c.reason = "signature verified";
    else if (c.idlen > 0)
        event_id[0] = '\0';
    return r;
}

char *fr_verify_sign(const struct fr_verify_conf *conf, const char *secret, const char *id,
                     int64_t ts, const void *body, size_t len)
{
    const struct scheme *s = scheme_of(conf);
    if (s == NULL)
        return NULL;
    char tsbuf[32];
    snprintf(tsbuf, sizeof(tsbuf), "%" PRId64, ts);
    bool plain = conf->scheme == FR_VERIFY_CONVOY && ts <= 0;
    return s->sign(conf, secret, id, plain ? NULL : tsbuf, body ? body : "", body ? len : 0);
}

const char *fr_verify_scheme_name(enum fr_verify_scheme scheme)
{
    if ((unsigned)scheme >= FR_VERIFY_SCHEME__COUNT)
        return "unknown";
    return schemes[scheme].name;
}

int fr_verify_parse_scheme(const char *name, enum fr_verify_scheme *out)
{
    if (name == NULL)
        return FR_EINVAL;
    if (strcmp(name, "svix") == 0) {
        *out = FR_VERIFY_STANDARD;
        return 0;
    }
    for (size_t i = 0; i < FR_ARRAY_LEN(schemes); i++) {
        if (strcmp(name, schemes[i].name) == 0) {
            *out = (enum fr_verify_scheme)i;
            return 0;
        }
    }
    return FR_EINVAL;
}

const char *fr_verify_result_name(enum fr_verify_result result)
{
    if ((unsigned)result >= FR_ARRAY_LEN(result_names))
        return "unknown";
    return result_names[result];
}
