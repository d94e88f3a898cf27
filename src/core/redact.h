/*
 * redact.h: the one place secrets are kept out of everything ferry writes:
 * log lines, errors, stdout, stored columns, API answers, alert payloads.
 *
 * Two mechanisms: a registry of secret values (every configured secret is
 * registered when the config is loaded, every token when it is fetched, the
 * password of a store URL when it is read), and sensitive names
 * (Authorization, client_secret, access_token, refresh_token, password, ...)
 * whose values are masked wherever they appear as a header, a JSON member, a
 * form field or a query parameter. Text that comes from outside (an API's
 * answer, a handler's output, a library's message quoting a URL) is redacted
 * where it enters ferry, before it is kept anywhere. Thread-safe.
 */
#ifndef FR_CORE_REDACT_H
#define FR_CORE_REDACT_H

#include "core/common.h"

#define FR_REDACTED "[REDACTED]"

/*
 * Registers a secret value (copied). Empty strings are ignored. A value
 * added n times stays registered until it is removed n times, so two users
 * of one value (two targets with the same key) cannot unregister it for
 * each other.
 */
void fr_redact_add_secret(const char *value);
/* Undoes one fr_redact_add_secret of value (a token that was replaced); no-op if absent. */
void fr_redact_remove_secret(const char *value);
/* Forgets every registered secret (tests). */
void fr_redact_reset(void);

/* True when a header, field or parameter of this name holds a secret (case-insensitive). */
bool fr_redact_is_sensitive_name(const char *name, size_t len);

/*
 * Returns a copy of text (len bytes; NUL not required) with registered
 * secrets, values of sensitive names and Bearer/Basic credentials replaced
 * by [REDACTED]. The caller frees the result.
 */
char *fr_redact_mem(const char *text, size_t len);
/* fr_redact_mem for a NUL-terminated string; NULL gives NULL. */
char *fr_redact_str(const char *s);

/*
 * How far past an excerpt's end fr_redact_excerpt reads, so that a secret
 * the cut would split (its head shown, its tail cut off) is still matched
 * whole: a caller that keeps only the start of a body keeps max plus this.
 */
#define FR_REDACT_EXCERPT_SLACK 8192

/*
 * A one-line excerpt of text[0..len) for a message: redacted first, then
 * cut to at most max bytes (on a UTF-8 character boundary) with "..."
 * appended when anything was cut; control characters become spaces. The
 * caller frees the result.
 */
char *fr_redact_excerpt(const char *text, size_t len, size_t max);
/* The same for the end of text (a command's last output): "..." first when anything was cut. */
char *fr_redact_excerpt_tail(const char *text, size_t len, size_t max);

/*
 * URLs. A store URL's credentials are its userinfo password
 * (scheme://user:PASSWORD@host, or user:PASSWORD@host when "scheme://" is
 * missing or mistyped; from the first ':' to the last '@', so a password
 * holding a raw '@', '/', '?' or '#' is covered whole) and the values of
 * password= and sslpassword= parameters (query or libpq conninfo).
 */

/* url with its credentials replaced by [REDACTED] (and fr_redact_str applied); NULL gives NULL.
 * The caller frees the result. */
char *fr_redact_url(const char *url);

/*
 * A URL whose path and query are the secret (a Slack-style webhook URL,
 * /services/T.../B.../TOKEN): "scheme://host[:port]/[REDACTED]", userinfo
 * dropped; without a path or query, "scheme://host[:port]"; without "://",
 * "[REDACTED]". The caller frees the result.
 */
char *fr_redact_url_path(const char *url);

/* Credentials shorter than this are masked in URLs but not registered (they would mask common
 * text everywhere). */
#define FR_REDACT_MIN_URL_SECRET 4

/*
 * Registers url's credentials (as written and percent-decoded), so that a
 * library's message quoting them ("invalid percent-encoded token: ...") is
 * redacted too. NULL is a no-op.
 */
void fr_redact_add_url_credentials(const char *url);

/*
 * msg with every double-quoted part that quotes a credential of url (a
 * piece of url overlapping one) replaced by [REDACTED]: for a library's
 * messages about a URL it was handed (libpq's "missing \"=\" after \"...\""),
 * whatever was registered. The caller frees the result; NULL msg gives NULL.
 */
char *fr_redact_url_quotes(const char *msg, const char *url);

#endif
