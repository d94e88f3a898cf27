/*
 * dispatch.h: the workers that hand stored webhook events to their
 * handlers (hooks/deliver.h), with retries and a dead-letter queue.
 *
 * Each worker has its own store handle and claims one due event at a time
 * under a lease longer than any delivery can take (the longest
 * deliver.timeout plus FR_DISPATCH_LEASE_MARGIN_MS), so the lease never
 * needs renewing; a worker of a process that died leaves its lease to
 * expire and the event is claimed again (delivery is at least once).
 *
 * After a failed attempt the event is due again after a full-jitter
 * exponential backoff between the source's base and cap (a Retry-After
 * from an HTTP handler replaces it, up to cap); after max_attempts it goes
 * to the dead-letter queue with its last error. An event whose source is
 * no longer configured is dead-lettered at once.
 *
 * Idle workers wake when fr_dispatch_wake is called (new events stored) or
 * every FR_DISPATCH_IDLE_POLL_MS (retries coming due).
 *
 * The first worker also deletes the delivered events past
 * webhooks.retention, once a minute (or once per retention, if shorter):
 * FR_DISPATCH_PURGE_BATCH per call of fr_store_events_purge_delivered, at
 * most that many per transaction, so a receiver's commit waits for one
 * batch at most; FR_DISPATCH_PURGE_BATCHES calls at most per round, then a
 * delivery, and the next round a second later when there is more.
 */
#ifndef FR_HOOKS_DISPATCH_H
#define FR_HOOKS_DISPATCH_H

#include "core/common.h"

#include "hooks/hooks_conf.h"
#include "store/store.h"
#include "core/error.h"
#include "core/observer.h"

#define FR_DISPATCH_DEFAULT_WORKERS 4
#define FR_DISPATCH_LEASE_MARGIN_MS 10000
#define FR_DISPATCH_IDLE_POLL_MS    500
#define FR_DISPATCH_PURGE_EVERY_MS  60000
#define FR_DISPATCH_PURGE_BATCH     500
#define FR_DISPATCH_PURGE_BATCHES   40

/*
 * The delay before the next attempt after attempts_made failed ones
 * (>= 1): retry_after_ms (>= 0: the handler asked) capped at cap_ms, else
 * a uniform draw from rnd in [0, min(cap_ms, base_ms * 2^(attempts_made-1))].
 * Pure.
 */
int64_t fr_dispatch_retry_delay(int64_t base_ms, int64_t cap_ms, int attempts_made,
                                int64_t retry_after_ms, uint64_t rnd);

struct fr_dispatch;

/*
 * Starts workers (0: FR_DISPATCH_DEFAULT_WORKERS) delivering the events of
 * webhooks' sources, each with its own handle on the store, opened by
 * store. Each delivery attempt (not one abandoned at stop) is reported to
 * observer (may be NULL) in ferry_delivery_attempts_total and
 * ferry_delivery_duration_seconds. webhooks, store and observer are
 * borrowed until fr_dispatch_stop returns. FR_ESTORE (err says why) when
 * the store cannot be opened.
 */
int fr_dispatch_start(const struct fr_webhooks_conf *webhooks, const struct fr_store_opener *store,
                      size_t workers, const struct fr_observer *observer, struct fr_dispatch **out,
                      struct fr_err *err);

/* New events are stored: wakes idle workers. Thread-safe; d may be NULL. */
void fr_dispatch_wake(void *d);

/* The workers started; *running gets how many are running now. Thread-safe. */
size_t fr_dispatch_workers(struct fr_dispatch *d, size_t *running);

/*
 * Stops: deliveries in progress are abandoned (an HTTP transfer is
 * aborted, a command's process group killed) without counting an attempt,
 * every lease of this process is released so the events are due at once
 * for the next start, and the workers are joined and freed. NULL is a no-op.
 */
void fr_dispatch_stop(struct fr_dispatch *d);

#endif
