#include "core/common.h"
#include "job/key_request.h"

#include "core/buf.h"
#include "http/client.h"

char *fr_key_request_path(const char *tmpl, const char *key)
{
    char *enc = fr_http_escape(key);
    struct fr_buf b = FR_BUF_INIT;
    const char *at;
    while ((at = strstr(tmpl, "{{key}}"))) {
        fr_buf_add(&b, tmpl, (size_t)(at - tmpl));
        fr_buf_adds(&b, enc);
        tmpl = at + strlen("{{key}}");
    }
    fr_buf_adds(&b, tmpl);
    free(enc);
    return fr_buf_detach(&b, NULL);
}
