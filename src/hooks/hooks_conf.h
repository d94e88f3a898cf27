/*
 * hooks_conf.h: the webhooks section of ferry.yaml, parsed in the layer
 * that serves it (hooks_conf.c). See core/config.h for the file as a whole.
 */
#ifndef FR_HOOKS_HOOKS_CONF_H
#define FR_HOOKS_HOOKS_CONF_H

#include "core/common.h"

#include "core/config.h"
#include "hooks/verify.h"

/*
 * One inbound webhook source: deliveries POSTed to path are verified under
 * scheme with any of secrets, then handed on to deliver_url (POST) or
 * deliver_exec (exactly one is set), retried with backoff.
 */
/* What makes two deliveries of a source the same event (webhooks.sources.NAME.dedupe). */
enum fr_dedupe {
    FR_DEDUPE_ID,          /* "id": the id the scheme names (webhook-id, X-GitHub-Delivery, ...) */
    FR_DEDUPE_CONTENT,     /* "content": the SHA-256 of the signed body */
    FR_DEDUPE_DELIVERY_ID, /* "delivery_id": github's word for FR_DEDUPE_ID */
};

struct fr_webhook_source_conf {
    char *name; /* the key under webhooks.sources */
    char *path; /* starts with "/", unique across sources */
    enum fr_verify_scheme scheme;
    char **secrets; /* signing secrets (rotation), each redacted; at least one */
    size_t nsecrets;
    int64_t tolerance_ms;        /* timestamp tolerance; default 5m, > 0 */
    char *hmac_header;           /* scheme hmac only (required there); else NULL */
    bool hmac_base64;            /* scheme hmac: encoding base64 (default hex: false) */
    char *hmac_prefix;           /* scheme hmac: optional, e.g. "sha256="; else NULL */
    char *hmac_timestamp_header; /* scheme hmac: optional; else NULL */
    char *deliver_url;           /* http(s) URL the event is POSTed to, or NULL */
    char *deliver_exec; /* command run by the shell in the config file's directory, or NULL */
    int64_t deliver_timeout_ms; /* default 10s for url, 30s for exec */
    int max_attempts;           /* default 8, 1..100 */
    int64_t base_ms, cap_ms;    /* backoff: default 1s and 10m, base <= cap */
    enum fr_dedupe dedupe;      /* default FR_DEDUPE_CONTENT for github, else FR_DEDUPE_ID */
    int line, col;              /* where the source is defined */
};

struct fr_webhooks_conf {
    bool configured;           /* the file has a webhooks section (then nsources >= 1) */
    char *listen;              /* "IP:PORT" or "[IPv6]:PORT"; default "127.0.0.1:8080" */
    uint64_t max_body;         /* bytes; default 1MB, at least 1KB */
    int64_t timeout_ms;        /* idle time allowed a connection; default 10s */
    int64_t header_timeout_ms; /* a request head must arrive within this; default 10s */
    int64_t body_timeout_ms;   /* a body must arrive within this of its head; default 60s */
    uint64_t min_body_rate;    /* bytes/s a body must average after its first seconds; 0: any */
    int max_connections;       /* connections served at once; default 4096 */
    int max_connections_per_client; /* from one client address; default 256, 0: no limit */
    uint64_t unverified_budget;     /* bytes of bodies held before verification; default 64MB */
    char **allowed_hosts;           /* Host names the operations endpoints answer; NULL: defaults */
    size_t nallowed_hosts;          /* follows allowed_hosts (a struct fr__cfg_strings) */
    int64_t retention_ms; /* delivered events are deleted this long after delivery; default 7d */
    char *admin_token;    /* secret: Bearer token for admin actions (replay, run now); NULL: none */
    bool protect_reads;   /* reads of the API need admin_token on a loopback listener too */
    struct fr_webhook_source_conf *sources;
    size_t nsources;
    char *dir; /* the config file's directory: where exec handlers run */
};

/* The section "webhooks", for the list src/cli loads with. */
extern const struct fr_config_section fr_webhooks_section;

/* The webhook source of that name, or NULL. Borrowed from w. */
const struct fr_webhook_source_conf *fr_webhook_source_find(const struct fr_webhooks_conf *w,
                                                            const char *name);

#endif
