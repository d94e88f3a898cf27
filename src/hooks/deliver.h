/*
 * deliver.h: one attempt at handing a stored webhook event to its source's
 * handler: an HTTP POST (deliver.url) or a command (deliver.exec).
 *
 *   url   POST of the raw body with the original Content-Type (none when
 *         the sender gave none) plus X-Ferry-Event-Id, X-Ferry-Source and
 *         X-Ferry-Attempt, sent by the HTTP client (fr_http_post_once in
 *         src/http/client.h). Any 2xx is delivered; anything else, or a
 *         transport failure, is a failed attempt (the hand-off table of
 *         src/http/policy.c). Redirects are not followed; TLS
 *         certificates are verified. A Retry-After header on a failed
 *         answer is reported.
 *   exec  /bin/sh -c COMMAND (core/proc.h) in the config file's directory,
 *         in a process group of its own, the body on stdin, FERRY_EVENT_ID,
 *         FERRY_SOURCE, FERRY_ATTEMPT and FERRY_EVENT_SEQ in the
 *         environment; its stdout and stderr are captured (the last bytes
 *         go into the error). Exit status 0 is delivered. At the timeout
 *         the whole process group is killed (SIGKILL).
 *
 * An attempt ends early, as ABORTED, when *stop becomes non-zero (ferry
 * serve is stopping): the event is then not counted as attempted.
 *
 * Threads: a struct fr_deliverer belongs to one thread (it holds that
 * thread's HTTP client, created by its first url delivery, so connections
 * are reused). fr_deliverer_new also sets libcurl up for the process
 * (fr_http_init), from the thread that starts the workers.
 */
#ifndef FR_HOOKS_DELIVER_H
#define FR_HOOKS_DELIVER_H

#include "core/common.h"

#include <stdatomic.h>

#include "core/config.h"
#include "store/store.h"
#include "hooks/hooks_conf.h"

enum fr_deliver_outcome {
    FR_DELIVER_OK,      /* delivered */
    FR_DELIVER_FAILED,  /* a failed attempt; retry or dead-letter */
    FR_DELIVER_ABORTED, /* stopped by *stop: not an attempt */
};

struct fr_deliver_result {
    enum fr_deliver_outcome outcome;
    int status;             /* url: the HTTP status, 0 without one; exec: the exit status, -1 */
    int64_t retry_after_ms; /* url: a parsed Retry-After on a failure; -1 when none */
    char error[512];        /* what failed, for last_error and logs (redacted); "" when OK */
};

struct fr_deliverer;

/* stop is borrowed for the deliverer's life. */
/*
 * Whether v may be sent as an HTTP header value as it is: tabs, visible
 * ASCII, spaces and bytes >= 0x80 only. CR, LF and the other control bytes
 * are refused, so a stored value can never add a header line. Pure.
 */
bool fr_deliver_header_value_ok(const char *v);

struct fr_deliverer *fr_deliverer_new(const atomic_int *stop);
void fr_deliverer_free(struct fr_deliverer *d);

/*
 * One attempt for event e (borrowed; its body loaded) of source src, attempt
 * number attempt (1 for the first). workdir is where exec commands run.
 * Fills *res; never fails otherwise.
 */
void fr_deliver(struct fr_deliverer *d, const struct fr_webhook_source_conf *src,
                const char *workdir, const struct fr_event *e, int attempt,
                struct fr_deliver_result *res);

#endif
