/*
 * mock.h: the simulated incentive-management API behind `ferry mock`.
 *
 * An HTTP server on loopback (libmicrohttpd, one thread per connection) with
 * OAuth2 client credentials, credit posting (single and batch, with sourceRef
 * de-duplication), an OData participants listing, a /mock/stats counter page
 * and seeded, reproducible fault injection. docs/mock.md is the operator's view.
 *
 * It runs in-process as well as behind the CLI: fr_mock_start returns once
 * the socket is bound and serving; fr_mock_stop stops and frees it.
 * All functions taking a struct fr_mock are thread-safe.
 */
#ifndef FR_MOCK_MOCK_H
#define FR_MOCK_MOCK_H

#include "core/common.h"

#include <jansson.h>

#include "core/error.h"
#include "core/units.h"

/* Injected faults; fr_mock_faults_init gives "no faults". */
struct fr_mock_faults {
    bool rate_limited;   /* rate=N/WINDOW given */
    struct fr_rate rate; /* admitted arrivals per sliding window */
    double reset;        /* probability: close without acting or answering */
    double error5xx;     /* probability: 500/502/503 */
    double body_error;   /* probability: 200 {"success":false} */
    double truncate;     /* probability: acted, body cut short */
    double slow;         /* probability: acted, answer delayed by slow_ms */
    int64_t slow_ms;
    double drop_after;       /* probability: acted, then closed without answering */
    uint32_t drop_nth;       /* 0 = off; else >= 2: request N of a connection acted, then closed */
    double record_error;     /* per batch record: status ERROR, not stored */
    int64_t token_ttl_ms;    /* lifetime of issued tokens; default 3600 s */
    int64_t revoke_every_ms; /* 0 = never; else all tokens revoked every period */
    bool no_dedupe;          /* store duplicate sourceRefs instead of refusing them */
    bool echo_auth; /* credits routes refuse records with a message quoting the Authorization */
};

void fr_mock_faults_init(struct fr_mock_faults *f);

/*
 * Parses a fault spec such as "rate=600/min,error5xx=0.05,slow=0.02:1500ms,no_dedupe"
 * into out (first reset to no faults). NULL or "" means no faults.
 * Returns 0, or FR_EINVAL with *why set to a sentence naming the bad item
 * (`unknown fault "errr5xx"`, `error5xx=1.5: probability must be between 0 and 1`).
 * *why is borrowed from a per-thread buffer, valid until this thread's next call.
 * Pure: touches nothing but out and *why.
 */
int fr_mock_parse_faults(const char *spec, struct fr_mock_faults *out, const char **why);

/* The fault names, their syntax and meaning, one per line, for --help. Static. */
const char *fr_mock_faults_help(void);

#define FR_MOCK_DEFAULT_LISTEN        "127.0.0.1:8089"
#define FR_MOCK_DEFAULT_CLIENT_ID     "demo"
#define FR_MOCK_DEFAULT_CLIENT_SECRET "demo-secret"
#define FR_MOCK_DEFAULT_PARTICIPANTS  1000
#define FR_MOCK_MAX_PARTICIPANTS      999999
/* Every access token the mock issues starts with this (then 40 hex digits). */
#define FR_MOCK_TOKEN_PREFIX "mock_at_"

/* Everything is borrowed for the duration of fr_mock_start only (copied). */
struct fr_mock_opts {
    const char *listen;        /* "IP:PORT" (IPv6 as "[::1]:PORT"); NULL = default; port 0 = any */
    const char *client_id;     /* NULL = "demo" */
    const char *client_secret; /* NULL = "demo-secret"; never logged */
    unsigned participants;     /* P000001..; 0 = 1000; at most FR_MOCK_MAX_PARTICIPANTS */
    bool seeded;               /* false: seed from the OS */
    uint64_t seed;             /* PRNG seed for the fault draws */
    struct fr_mock_faults faults;
};

struct fr_mock;

/*
 * Binds, starts serving and hands the server back in *out (free with
 * fr_mock_stop). Returns FR_EINVAL for a bad listen address or options,
 * FR_EIO when the socket cannot be bound (err says why, e.g. "address in use"),
 * FR_EINTERNAL when libmicrohttpd refuses to start.
 */
int fr_mock_start(const struct fr_mock_opts *opts, struct fr_mock **out, struct fr_err *err);

/* The host for URLs: the bound IP ("[::1]" for IPv6), 127.0.0.1 for a wildcard. Borrowed. */
const char *fr_mock_host(const struct fr_mock *m);

/* The bound port (the real one when opts.listen asked for port 0). */
int fr_mock_port(const struct fr_mock *m);

/* The seed in use (the drawn one when opts.seeded was false). */
uint64_t fr_mock_seed(const struct fr_mock *m);

/*
 * The /mock/stats document: {"requests": {"METHOD /path": {"STATUS": n}},
 * "tokens_issued": n, "credits": {"stored", "duplicate_attempts",
 * "max_store_count"}, "faults": {name: n}}. The caller json_decrefs it.
 */
json_t *fr_mock_stats(struct fr_mock *m);

/* Totals for a summary line. */
struct fr_mock_totals {
    uint64_t requests;
    uint64_t tokens_issued;
    uint64_t credits_stored;
    uint64_t faults;
};
void fr_mock_totals(struct fr_mock *m, struct fr_mock_totals *out);

/*
 * Replaces the faults in force from the next request on, as POST /mock/faults
 * does: the rate window restarts. f is copied.
 */
void fr_mock_set_faults(struct fr_mock *m, const struct fr_mock_faults *f);

/* Stops serving (waits for in-flight requests) and frees m. NULL is a no-op. */
void fr_mock_stop(struct fr_mock *m);

#endif
