/*
 * log.h: structured logs, one line per event on stderr.
 *
 * JSON lines by default ({"ts", "level", "msg", context..., fields...}),
 * or a text form for people at a terminal. Every string value and the
 * message pass through the redactor, and a field whose name is sensitive
 * (authorization, access_token, ...) is masked whatever its value.
 *
 *     FR_LOG_INFO("request", FR_LS("method", "POST"), FR_LI("status", 201));
 *
 * Thread-safe: each line is written with one call. The context (run_id,
 * job, ...) is per thread.
 */
#ifndef FR_CORE_LOG_H
#define FR_CORE_LOG_H

#include "core/common.h"

#include "core/buf.h"

enum fr_log_level { FR_LOG_DEBUG, FR_LOG_INFO, FR_LOG_WARN, FR_LOG_ERROR, FR_LOG_CRITICAL };
enum fr_log_format { FR_LOG_JSON, FR_LOG_TEXT };

enum fr_log_type { FR_LT_STR, FR_LT_INT, FR_LT_DOUBLE, FR_LT_BOOL };

struct fr_log_field {
    const char *key;
    enum fr_log_type type;
    union {
        const char *s; /* NULL is written as null */
        int64_t i;
        double d;
        bool b;
    } v;
};

#define FR_LS(k, val) ((struct fr_log_field){.key = (k), .type = FR_LT_STR, .v.s = (val)})
#define FR_LI(k, val) ((struct fr_log_field){.key = (k), .type = FR_LT_INT, .v.i = (int64_t)(val)})
#define FR_LD(k, val) ((struct fr_log_field){.key = (k), .type = FR_LT_DOUBLE, .v.d = (val)})
#define FR_LB(k, val) ((struct fr_log_field){.key = (k), .type = FR_LT_BOOL, .v.b = (val)})

/*
 * Sets the format, the lowest level written, and the stream (NULL: stderr).
 * Call once at start-up before other threads log.
 */
void fr_log_setup(enum fr_log_format format, enum fr_log_level min_level, FILE *out);
void fr_log_set_format(enum fr_log_format format);
void fr_log_set_level(enum fr_log_level min_level);
/*
 * While a progress line is drawn on the same terminal, every log line first
 * clears it ("\r" and erase to end of line), so the two never mix.
 */
void fr_log_set_progress_line(bool on);
/* Parses "json"/"text" and "debug"/"info"/"warn"/"error"; FR_EINVAL otherwise. */
int fr_log_parse_format(const char *s, enum fr_log_format *out);
int fr_log_parse_level(const char *s, enum fr_log_level *out);
bool fr_log_enabled(enum fr_log_level level);

/* Per-thread context added to every line: set (copied) or remove with value NULL. */
void fr_log_ctx_set(const char *key, const char *value);
void fr_log_ctx_clear(void);

/* Writes one line. fields may be NULL when n is 0. */
void fr_log_emit(enum fr_log_level level, const char *msg, const struct fr_log_field *fields,
                 size_t n);

/*
 * Lines formatted now and written later, together, for a thread that logs
 * many at once (the webhook committer: one line per event of a commit).
 * fr_log_batch_flush writes them under the lock single lines take, one
 * write per 4 KB at most (PIPE_BUF: on a pipe shared with other processes
 * no line is split), and empties the batch; release frees it. A batch
 * belongs to one thread; its lines carry that thread's context.
 */
struct fr_log_batch {
    struct fr_buf lines;
};
void fr_log_batch_add(struct fr_log_batch *b, enum fr_log_level level, const char *msg,
                      const struct fr_log_field *fields, size_t n);
void fr_log_batch_flush(struct fr_log_batch *b);
void fr_log_batch_release(struct fr_log_batch *b);

#define FR__LOG(level, msg, ...)                                                                   \
    do {                                                                                           \
        if (fr_log_enabled(level)) {                                                               \
            const struct fr_log_field fr__f[] = {{0}, ##__VA_ARGS__};                              \
            fr_log_emit((level), (msg), fr__f + 1, FR_ARRAY_LEN(fr__f) - 1);                       \
        }                                                                                          \
    } while (0)

#define FR_LOG_DEBUG(msg, ...)    FR__LOG(FR_LOG_DEBUG, msg, ##__VA_ARGS__)
#define FR_LOG_INFO(msg, ...)     FR__LOG(FR_LOG_INFO, msg, ##__VA_ARGS__)
#define FR_LOG_WARN(msg, ...)     FR__LOG(FR_LOG_WARN, msg, ##__VA_ARGS__)
#define FR_LOG_ERROR(msg, ...)    FR__LOG(FR_LOG_ERROR, msg, ##__VA_ARGS__)
#define FR_LOG_CRITICAL(msg, ...) FR__LOG(FR_LOG_CRITICAL, msg, ##__VA_ARGS__)

#endif
