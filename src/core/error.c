#include "core/common.h"
#include "core/error.h"

#include "core/redact.h"

static const char *const messages[] = {[FR_OK] = "success",
#define FR_ERR_MSG(name, msg) [FR_E##name] = msg,
                                       FR_ERR_MAP(FR_ERR_MSG)
#undef FR_ERR_MSG
};

static const char *const names[] = {[FR_OK] = "OK",
#define FR_ERR_NAME(name, msg) [FR_E##name] = #name,
                                    FR_ERR_MAP(FR_ERR_NAME)
#undef FR_ERR_NAME
};

const char *fr_strerror(int code)
{
    if (code < 0 || code >= FR_ERR__COUNT)
        return "unknown error";
    return messages[code];
}

const char *fr_errname(int code)
{
    if (code < 0 || code >= FR_ERR__COUNT)
        return "UNKNOWN";
    return names[code];
}

int fr_err_set(struct fr_err *err, int code, long native, const char *fmt, ...)
{
    if (!err || err->code)
        return code;
    err->code = code;
    err->native = native;
    va_list ap;
    va_start(ap, fmt);
    char *raw = fr_vasprintf(fmt, ap);
    va_end(ap);
    char *safe = fr_redact_str(raw);
    fr_strlcpy(err->msg, safe, sizeof(err->msg));
    free(safe);
    free(raw);
    return code;
}

void fr_err_clear(struct fr_err *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}
