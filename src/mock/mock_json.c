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

/* The frozen form: a tag byte, then for s (string) a u32 length and the bytes,
 * i/r an int64/double, o/a a u32 count and the members (o: key as a string,
 * then value); t, f and n stand alone. Native byte order: it never leaves the process. */
enum { TAG_OBJECT = 'o', TAG_ARRAY = 'a', TAG_STRING = 's', TAG_INT = 'i', TAG_REAL = 'r' };

static void put_u32(struct fr_buf *b, size_t n)
{
    FR_ASSERT(n <= UINT32_MAX);
    uint32_t v = (uint32_t)n;
    fr_buf_add(b, &v, sizeof(v));
}

static void put_bytes(struct fr_buf *b, const char *s, size_t len)
{
    put_u32(b, len);
    fr_buf_add(b, s, len);
}

void fr__mock_json_freeze(struct fr_buf *b, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        fr_buf_addc(b, TAG_OBJECT);
        put_u32(b, json_object_size(j));
        const char *key;
        size_t key_len;
        json_t *v;
        json_object_keylen_foreach((json_t *)j, key, key_len, v)
        {
            put_bytes(b, key, key_len);
            fr__mock_json_freeze(b, v);
        }
        break;
    }
    case JSON_ARRAY:
        fr_buf_addc(b, TAG_ARRAY);
        put_u32(b, json_array_size(j));
        for (size_t i = 0; i < json_array_size(j); i++)
            fr__mock_json_freeze(b, json_array_get(j, i));
        break;
    case JSON_STRING:
        fr_buf_addc(b, TAG_STRING);
        put_bytes(b, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER: {
        int64_t v = json_integer_value(j);
        fr_buf_addc(b, TAG_INT);
        fr_buf_add(b, &v, sizeof(v));
        break;
    }
    case JSON_REAL: {
        double v = json_real_value(j);
        fr_buf_addc(b, TAG_REAL);
        fr_buf_add(b, &v, sizeof(v));
        break;
    }
    case JSON_TRUE:
        fr_buf_addc(b, 't');
        break;
    case JSON_FALSE:
        fr_buf_addc(b, 'f');
        break;
    case JSON_NULL:
        fr_buf_addc(b, 'n');
        break;
    }
}

struct cursor {
    const char *p, *end;
};

static bool take(struct cursor *c, void *out, size_t n)
{
    if ((size_t)(c->end - c->p) < n)
        return false;
    memcpy(out, c->p, n);
    c->p += n;
    return true;
}

/* A u32 length followed by that many bytes; *s points at them. */
static bool take_bytes(struct cursor *c, const char **s, size_t *len)
{
    uint32_t n;
    if (!take(c, &n, sizeof(n)) || (size_t)(c->end - c->p) < n)
        return false;
    *s = c->p;
    *len = n;
    c->p += n;
    return true;
}

static json_t *thaw(struct cursor *c)
{
    char tag;
    if (!take(c, &tag, 1))
        return NULL;
    const char *s;
    size_t len;
    uint32_t n;
    switch (tag) {
    case TAG_OBJECT: {
        if (!take(c, &n, sizeof(n)))
            return NULL;
        json_t *o = json_object();
        for (uint32_t i = 0; i < n; i++) {
            json_t *v;
            if (!take_bytes(c, &s, &len) || !(v = thaw(c)) ||
                json_object_setn_new_nocheck(o, s, len, v) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    case TAG_ARRAY: {
        if (!take(c, &n, sizeof(n)))
            return NULL;
        json_t *a = json_array();
        for (uint32_t i = 0; i < n; i++) {
            json_t *v = thaw(c);
            if (!v || json_array_append_new(a, v) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    case TAG_STRING:
        return take_bytes(c, &s, &len) ? json_stringn_nocheck(s, len) : NULL;
    case TAG_INT: {
        int64_t v;
        return take(c, &v, sizeof(v)) ? json_integer((json_int_t)v) : NULL;
    }
    case TAG_REAL: {
        double v;
        return take(c, &v, sizeof(v)) ? json_real(v) : NULL;
    }
    case 't':
        return json_true();
    case 'f':
        return json_false();
    case 'n':
        return json_null();
    }
    return NULL;
}

json_t *fr__mock_json_thaw(const char *data, size_t len)
{
    struct cursor c = {data, data + len};
    json_t *j = thaw(&c);
    if (j && c.p != c.end) {
        json_decref(j);
        return NULL;
    }
    return j;
}
