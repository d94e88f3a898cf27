#include "core/common.h"
#include "core/jsonptr.h"

/*
 * Unescapes one reference token [tok, tok+len) into out (len + 1 bytes).
 * Returns the unescaped length, or -1 on a "~" not followed by 0 or 1.
 */
static ptrdiff_t unescape_token(const char *tok, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] != '~') {
            out[o++] = tok[i];
            continue;
        }
        if (i + 1 >= len || (tok[i + 1] != '0' && tok[i + 1] != '1'))
            return -1;
        out[o++] = tok[i + 1] == '0' ? '~' : '/';
        i++;
    }
    out[o] = '\0';
    return (ptrdiff_t)o;
}

/* An array index per RFC 6901: "0" or digits without a leading zero. */
static bool parse_index(const char *s, size_t len, size_t *index)
{
    if (len == 0 || (len > 1 && s[0] == '0'))
        return false;
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (SIZE_MAX - 9) / 10)
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *index = v;
    return true;
}

static json_t *step(json_t *node, const char *tok, size_t len)
{
    if (json_is_array(node)) {
        size_t index;
        if (memchr(tok, '~', len) || !parse_index(tok, len, &index))
            return NULL;
        return json_array_get(node, index);
    }
    if (!json_is_object(node))
        return NULL;
    char small[128];
    char *key = len < sizeof(small) ? small : fr_malloc(len + 1);
    ptrdiff_t klen = unescape_token(tok, len, key);
    json_t *next = klen < 0 ? NULL : json_object_getn(node, key, (size_t)klen);
    if (key != small)
        free(key);
    return next;
}

json_t *fr_json_pointer(json_t *root, const char *pointer)
{
    if (!root || !pointer)
        return NULL;
    if (*pointer == '\0')
        return root;
    if (*pointer != '/')
        return NULL;
    json_t *node = root;
    const char *p = pointer + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        node = step(node, p, len);
        if (!node || !slash)
            return node;
        p = slash + 1;
    }
}
