/*
 * log_limit.h: log lines that cannot flood. Decides which occurrences of a
 * repeated warning are logged and counts the others, so that a flood of bad
 * requests writes a few lines and one summary per window instead of a line
 * each ("2,341 more signature failures from 127.0.0.1 on /hooks/std in the
 * last 10 s").
 *
 * Occurrences are counted per key (kind, source, client): kind says what
 * happened, as a plural noun phrase that reads in the summary ("signature
 * failures"); source where (a webhook source's path); client who (the peer
 * address). Each key has windows of window_ms, the first starting at its
 * first occurrence: the first `burst` occurrences of a window are logged,
 * the rest are counted. Once a window has ended, fr_log_limit_flush hands
 * back one summary for the key if anything was counted, and the next
 * occurrence starts a new window. Counts are never lost, whatever the order
 * of the calls: a summary covers every occurrence not logged since the
 * last summary of its key, and its window_ms spans them.
 *
 * Memory is bounded: at most max_keys keys; an occurrence of a new key while
 * that many are in use is counted under one catch-all key, so a sender who
 * rotates addresses adds nothing. Strings are kept to their first
 * FR_LOG_LIMIT_STR_MAX bytes (longer ones that agree that far are one key).
 * A key whose window ended with nothing left to report is dropped at the
 * next flush.
 *
 * Policy only: the time is an argument (milliseconds of a monotonic clock,
 * fr_now_ms); nothing reads the clock, sleeps or logs. Thread-safe: every
 * call takes the limiter's mutex; flush calls its callback after releasing
 * it, so the callback may log or call the limiter.
 *
 * How a caller uses it (the webhook server, for a rejected request):
 *
 *     // at start-up
 *     struct fr_log_limit *lim = fr_log_limit_new(FR_LOG_LIMIT_BURST,
 *                                                  FR_LOG_LIMIT_WINDOW_MS,
 *                                                  FR_LOG_LIMIT_MAX_KEYS);
 *
 *     static void log_summary(const struct fr_log_limit_summary *s, void *ud)
 *     {
 *         char *line = fr_log_limit_sentence(s);
 *         FR_LOG_WARN(line, FR_LS("kind", s->kind), FR_LS("source", s->source),
 *                     FR_LS("client", s->client), FR_LI("suppressed", s->suppressed),
 *                     FR_LI("window_ms", s->window_ms));
 *         free(line);
 *     }
 *
 *     // in any thread, for each rejected request; metrics count every one
 *     int64_t now = fr_now_ms();
 *     fr_metrics_inc(...);
 *     if (fr_log_limit_hit(lim, "signature failures", src->path, client_ip, now))
 *         FR_LOG_WARN("webhook rejected", FR_LS("reason", "signature"), ...);
 *     fr_log_limit_flush(lim, now, log_summary, NULL);
 *
 *     // and from a timer, about once a second (the serve loop's tick), so
 *     // the summary of a flood that stopped still comes out
 *     fr_log_limit_flush(lim, fr_now_ms(), log_summary, NULL);
 *
 *     // at shutdown, a last flush at now + window hands back what is left
 *     fr_log_limit_flush(lim, fr_now_ms() + FR_LOG_LIMIT_WINDOW_MS, log_summary, NULL);
 *     fr_log_limit_free(lim);
 *
 * A flush with nothing due returns at once (no walk over the keys), so
 * calling it on every hit costs little.
 */
#ifndef FR_CORE_LOG_LIMIT_H
#define FR_CORE_LOG_LIMIT_H

#include "core/common.h"

/* Defaults: 5 lines per key per 10 s, 1024 keys. */
#define FR_LOG_LIMIT_BURST     5
#define FR_LOG_LIMIT_WINDOW_MS 10000
#define FR_LOG_LIMIT_MAX_KEYS  1024
/* Bytes kept of each of kind, source and client. */
#define FR_LOG_LIMIT_STR_MAX 200

struct fr_log_limit;

/*
 * A new limiter: burst occurrences logged per key and window (0: none, only
 * summaries), windows of window_ms (at least 1), at most max_keys keys
 * besides the catch-all (at least 1). Free with fr_log_limit_free.
 */
struct fr_log_limit *fr_log_limit_new(unsigned burst, int64_t window_ms, size_t max_keys);
/* Frees the limiter and what it counted (nothing is reported). NULL is a no-op. */
void fr_log_limit_free(struct fr_log_limit *lim);

/*
 * Counts one occurrence of (kind, source, client) at now_ms; true when it
 * should be logged, false when it is counted for the summary. kind must not
 * be NULL; source and client may be (taken as ""). The strings are copied
 * (truncated to FR_LOG_LIMIT_STR_MAX bytes) when the key is new; borrowed
 * only for the call.
 */
bool fr_log_limit_hit(struct fr_log_limit *lim, const char *kind, const char *source,
                      const char *client, int64_t now_ms);

/* What fr_log_limit_flush hands back for one key. Every pointer is borrowed for the callback. */
struct fr_log_limit_summary {
    /*
     * The key. In the catch-all (catch_all true) client is NULL, and kind
     * and source are NULL when its occurrences had more than one.
     */
    const char *kind;
    const char *source;
    const char *client;
    bool catch_all;
    uint64_t suppressed; /* occurrences not logged */
    int64_t window_ms; /* from the start of the first window they fell in to the end of the last */
};

typedef void (*fr_log_limit_fn)(const struct fr_log_limit_summary *s, void *ud);

/*
 * Ends every window that is over at now_ms; for each key with occurrences
 * not logged in windows now over, calls cb once (after the limiter's mutex
 * is released) and forgets them, then drops the keys with nothing left.
 * Returns the number of summaries handed to cb. cb may be NULL (the counts
 * are dropped).
 */
size_t fr_log_limit_flush(struct fr_log_limit *lim, int64_t now_ms, fr_log_limit_fn cb, void *ud);

/*
 * The summary as a sentence, e.g. "2,341 more signature failures from
 * 127.0.0.1 on /hooks/std in the last 10 s", or for the catch-all "12 more
 * signature failures from other clients on /hooks/std in the last 10 s"
 * ("warnings" and no "on ..." when the kinds or sources were mixed; an
 * empty source or client is left out). The window is in whole seconds,
 * rounded up, or in ms below 1 s. The caller frees the result.
 */
char *fr_log_limit_sentence(const struct fr_log_limit_summary *s);

#endif
