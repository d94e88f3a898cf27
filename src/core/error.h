/*
 * error.h: ferry's error codes and the detailed error record.
 *
 * Functions return an int: 0 (FR_OK) on success, or one of the FR_E* codes.
 * Calls that reach a library or the OS may also fill an optional
 * struct fr_err with the native code and a message a person can act on;
 * the first failure recorded wins (later ones do not overwrite it).
 */
#ifndef FR_CORE_ERROR_H
#define FR_CORE_ERROR_H

/* X(NAME, "message") for every error code, in a stable order. */
#define FR_ERR_MAP(X)                                                                              \
    X(INVAL, "invalid argument")                                                                   \
    X(CONFIG, "configuration error")                                                               \
    X(PARSE, "malformed input")                                                                    \
    X(IO, "input/output error")                                                                    \
    X(NOTFOUND, "not found")                                                                       \
    X(TOOBIG, "size limit exceeded")                                                               \
    X(AUTH, "authentication failed")                                                               \
    X(UNREACHABLE, "target unreachable")                                                           \
    X(REJECTED, "request rejected by the target")                                                  \
    X(TIMEOUT, "timed out")                                                                        \
    X(HTTP, "HTTP transfer failed")                                                                \
    X(STORE, "store failed")                                                                       \
    X(INTERNAL, "internal error")                                                                  \
    X(BUSY, "in use elsewhere")                                                                    \
    X(INDOUBT, "sent but no complete answer: the target may have acted")                           \
    X(CANCELED, "canceled before it was final")

enum fr_errcode {
    FR_OK = 0,
#define FR_ERR_ENUM(name, msg) FR_E##name,
    FR_ERR_MAP(FR_ERR_ENUM)
#undef FR_ERR_ENUM
        FR_ERR__COUNT
};

/* The fixed message of a code ("invalid argument"); never NULL. */
const char *fr_strerror(int code);
/* The code's name without prefix ("INVAL"); never NULL. */
const char *fr_errname(int code);

struct fr_err {
    int code;    /* FR_E*, 0 while nothing failed */
    long native; /* the library's own code, an errno, or an HTTP status */
    char msg[512];
};

/*
 * Records a failure in err unless err is NULL or already holds one.
 * Returns code, so callers can write `return fr_err_set(err, ...)`.
 * The message must not contain secrets; fr_err_set runs it through the
 * redactor anyway.
 */
int fr_err_set(struct fr_err *err, int code, long native, const char *fmt, ...) FR_PRINTF(4, 5);
void fr_err_clear(struct fr_err *err);

#endif
