#include "core/common.h"
#include "mock/mock.h"

#include "mock/mock_int.h"

void fr__mock_json_put_string(struct fr_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    fr_buf_addc(b, '"');
    const char *run = s;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        fr_buf_add(b, run, (size_t)(p - run));
        if (c == '\0')
            break;
        run = p + 1;
        char esc[6] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        fr_buf_add(b, esc, n);
    }
    fr_buf_addc(b, '"');
}

static int put(const char *data, size_t len, void *b)
{
    return fr_buf_add(b, data, len) ? -1 : 0;
}

void fr__mock_json_put(struct fr_buf *b, const json_t *j)
{
    if (json_dump_callback(j, put, b, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        fr_die(__FILE__, __LINE__, "jansson could not write a JSON value");
}
