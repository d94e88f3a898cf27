/*
 * redact.h: the one place secrets are kept out of logs, errors and stored bodies.
 *
 * Two mechanisms: a registry of secret values (every configured secret is
 * registered when the config is loaded, every token when it is fetched), and
 * sensitive names (Authorization, client_secret, access_token, refresh_token,
 * password, ...) whose values are masked wherever they appear as a header,
 * a JSON member, a form field or a query parameter. Thread-safe.
 */
#ifndef FR_CORE_REDACT_H
#define FR_CORE_REDACT_H

#include "core/common.h"

#define FR_REDACTED "[REDACTED]"

/* Registers a secret value (copied). Empty strings are ignored. */
void fr_redact_add_secret(const char *value);
/* Forgets a registered value (a token that was replaced); no-op if absent. */
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

#endif
