#include "core/common.h"
#include "mock/mock.h"

#include <errno.h>
#include <openssl/evp.h>

#include "mock/mock_int.h"

/* lastModified of participant i: a fixed base plus i minutes, until a touch moves it. */
#define BASE_WALL_MS 1704067200000LL /* 2024-01-01T00:00:00Z */

void fr__mock_participants_init(struct fr_mock *m)
{
    m->modified = fr_calloc(m->participants, sizeof(*m->modified));
    for (unsigned i = 0; i < m->participants; i++)
        m->modified[i] = BASE_WALL_MS + (int64_t)(i + 1) * 60000;
    m->last_touch_ms = BASE_WALL_MS + (int64_t)m->participants * 60000;
}

void fr__mock_participants_release(struct fr_mock *m)
{
    free(m->modified);
    m->modified = NULL;
}

/* The test switch ?broken=: answers that a client must refuse to follow. */
enum broken { BROKEN_NONE, BROKEN_REPEAT, BROKEN_NOT_ARRAY, BROKEN_INVALID };
enum paging { PAGING_ODATA, PAGING_LINK, PAGING_CURSOR };

/* Participant i (1-based), with its lastModified; under BROKEN_INVALID every 10th is invalid. */
static json_t *participant(unsigned i, int64_t modified_ms, enum broken broken)
{
    char id[16], name[32], email[48], modified[32];
    snprintf(id, sizeof(id), "P%06u", i);
    snprintf(name, sizeof(name), "Participant %u", i);
    snprintf(email, sizeof(email), "p%06u@example.com", i);
    fr_format_rfc3339(modified_ms, modified, sizeof(modified));
    if (broken == BROKEN_INVALID && i % 10 == 0)
        return json_pack("{s:s,s:s,s:s}", "participantId", id, "name", name, "lastModified",
                         "yesterday");
    return json_pack("{s:s,s:s,s:s,s:s}", "participantId", id, "name", name, "email", email,
                     "lastModified", modified);
}

/* base64url without padding of "o=<offset>". */
static void skiptoken_encode(unsigned offset, char *out, size_t outlen)
{
    char raw[32];
    int n = snprintf(raw, sizeof(raw), "o=%u", offset);
    unsigned char b64[64];
    int len = EVP_EncodeBlock(b64, (const unsigned char *)raw, n);
    while (len > 0 && b64[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    b64[len] = '\0';
    fr_strlcpy(out, (char *)b64, outlen);
}

static bool skiptoken_decode(const char *tok, unsigned *offset)
{
    size_t len = strlen(tok);
    if (len == 0 || len > 40)
        return false;
    unsigned char b64[48];
    size_t i;
    for (i = 0; i < len; i++) {
        char c = tok[i];
        if (c == '+' || c == '/' || c == '=')
            return false;
        b64[i] = (unsigned char)(c == '-' ? '+' : c == '_' ? '/' : c);
    }
    while (i % 4)
        b64[i++] = '=';
    unsigned char raw[40];
    int n = EVP_DecodeBlock(raw, b64, (int)i);
    if (n < 0)
        return false;
    raw[n] = '\0';
    size_t rawlen = strlen((char *)raw); /* padding decodes as trailing NULs */
    if (rawlen < 3 || raw[0] != 'o' || raw[1] != '=')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul((char *)raw + 2, &end, 10);
    if (errno || *end || raw[2] < '0' || raw[2] > '9' || v > FR_MOCK_MAX_PARTICIPANTS)
        return false;
    *offset = (unsigned)v;
    return true;
}

/* Percent-encodes a query value into b. */
static void add_query_value(struct fr_buf *b, const char *v)
{
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            fr_buf_addc(b, (char)c);
        else
            fr_buf_addf(b, "%%%02X", c);
    }
}

struct page_query {
    unsigned top; /* 0: not given */
    const char *orderby;
    bool desc;
    const char *filter; /* as given, for next links */
    bool filtered;
    int64_t after_ms; /* $filter=lastModified gt X */
    enum paging paging;
    const char *paging_text;
    enum broken broken;
    const char *broken_text;
    unsigned offset; /* position in the ordering where the page starts */
};

/* "lastModified gt 2024-01-01T00:00:00Z" (the value may be in single quotes). */
static bool parse_filter(const char *f, int64_t *after_ms)
{
    static const char prefix[] = "lastModified gt ";
    if (strncmp(f, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *v = f + sizeof(prefix) - 1;
    char buf[64];
    size_t len = strlen(v);
    if (len >= 2 && v[0] == '\'' && v[len - 1] == '\'') {
        v++;
        len -= 2;
    }
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return fr_parse_rfc3339(buf, after_ms) == 0;
}

static const char *arg(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Reads the query; a message for the 400 when something is bad. */
static const char *read_query(struct MHD_Connection *conn, struct page_query *q)
{
    memset(q, 0, sizeof(*q));
    const char *top = arg(conn, "$top");
    const char *order = arg(conn, "$orderby");
    const char *paging = arg(conn, "paging");
    const char *broken = arg(conn, "broken");
    q->filter = arg(conn, "$filter");
    if (top) {
        char *end;
        errno = 0;
        long v = strtol(top, &end, 10);
        if (errno || *end || top[0] < '0' || top[0] > '9' || v < 1 || v > 1000000)
            return "$top must be a positive integer";
        q->top = (unsigned)v;
    }
    if (order) {
        if (strcmp(order, "participantId") == 0 || strcmp(order, "participantId asc") == 0)
            q->desc = false;
        else if (strcmp(order, "participantId desc") == 0)
            q->desc = true;
        else
            return "$orderby must be \"participantId\" or \"participantId desc\"";
        q->orderby = order;
    }
    if (q->filter) {
        if (!parse_filter(q->filter, &q->after_ms))
            return "$filter must be \"lastModified gt <RFC 3339 date-time>\"";
        q->filtered = true;
    }
    if (paging) {
        if (strcmp(paging, "odata") == 0)
            q->paging = PAGING_ODATA;
        else if (strcmp(paging, "link") == 0)
            q->paging = PAGING_LINK;
        else if (strcmp(paging, "cursor") == 0)
            q->paging = PAGING_CURSOR;
        else
            return "paging must be odata, link or cursor";
        q->paging_text = paging;
    }
    if (broken) {
        if (strcmp(broken, "repeat") == 0)
            q->broken = BROKEN_REPEAT;
        else if (strcmp(broken, "not_array") == 0)
            q->broken = BROKEN_NOT_ARRAY;
        else if (strcmp(broken, "invalid") == 0)
            q->broken = BROKEN_INVALID;
        else
            return "broken must be repeat, not_array or invalid";
        q->broken_text = broken;
    }
    const char *token = arg(conn, q->paging == PAGING_CURSOR ? "cursor" : "$skiptoken");
    if (token && !skiptoken_decode(token, &q->offset))
        return q->paging == PAGING_CURSOR ? "invalid cursor (send back next_cursor as given)"
                                          : "invalid $skiptoken (use the next link as given)";
    return NULL;
}

static void add_param(struct fr_buf *b, const char *name, const char *value)
{
    if (!value)
        return;
    fr_buf_adds(b, name);
    fr_buf_addc(b, '=');
    add_query_value(b, value);
    fr_buf_addc(b, '&');
}

/* The next page's link: absolute for OData, relative (to the host) for Link headers. */
static char *next_link(const struct fr_mock *m, const struct page_query *q, unsigned offset)
{
    struct fr_buf b = FR_BUF_INIT;
    char tok[64];
    skiptoken_encode(offset, tok, sizeof(tok));
    if (q->paging == PAGING_ODATA)
        fr_buf_addf(&b, "http://%s:%d", m->host, m->port);
    fr_buf_adds(&b, "/participants?");
    if (q->top)
        fr_buf_addf(&b, "$top=%u&", q->top);
    add_param(&b, "$orderby", q->orderby);
    add_param(&b, "$filter", q->filter);
    add_param(&b, "paging", q->paging_text);
    add_param(&b, "broken", q->broken_text);
    fr_buf_addf(&b, "$skiptoken=%s", tok);
    return fr_buf_detach(&b, NULL);
}

/* Participant number at position k of the ordering. */
static unsigned at(const struct fr_mock *m, const struct page_query *q, unsigned k)
{
    return q->desc ? m->participants - k : k + 1;
}

static bool matches(const struct fr_mock *m, const struct page_query *q, unsigned k)
{
    return !q->filtered || m->modified[at(m, q, k) - 1] > q->after_ms;
}

void fr__mock_handle_participants(struct fr_mock *m, struct fr__mock_req *rq,
                                  struct fr__mock_reply *out)
{
    struct page_query q;
    const char *why = read_query(rq->conn, &q);
    if (!why && q.offset > m->participants)
        why = "invalid $skiptoken: past the end";
    if (why) {
        fr__mock_error(out, 400, "bad_request", why);
        return;
    }
    unsigned size = q.top ? FR_MIN(q.top, FR__MOCK_PAGE_MAX) : FR__MOCK_PAGE_MAX;
    json_t *value = json_array();
    unsigned k = q.offset, taken = 0;
    pthread_mutex_lock(&m->lock);
    for (; k < m->participants && taken < size; k++) {
        if (!matches(m, &q, k))
            continue;
        unsigned i = at(m, &q, k);
        json_array_append_new(value, participant(i, m->modified[i - 1], q.broken));
        taken++;
    }
    unsigned next = k;
    while (k < m->participants && !matches(m, &q, k))
        k++;
    bool more = k < m->participants;
    pthread_mutex_unlock(&m->lock);

    out->status = 200;
    if (q.broken == BROKEN_NOT_ARRAY && q.offset > 0)
        out->body = json_pack("{s:{s:o}}", "value", "participants", value);
    else
        out->body = json_pack("{s:o}", "value", value);
    if (q.paging == PAGING_CURSOR) {
        char tok[64];
        skiptoken_encode(next, tok, sizeof(tok));
        json_object_set_new(out->body, "next_cursor", more ? json_string(tok) : json_null());
        return;
    }
    if (!more)
        return;
    /* repeat: from the second page on, the next link is this page's own */
    char *link = next_link(m, &q, q.broken == BROKEN_REPEAT && q.offset > 0 ? q.offset : next);
    if (q.paging == PAGING_LINK) {
        out->header_name = "Link";
        snprintf(out->header_value, sizeof(out->header_value), "<%s>; rel=\"next\"", link);
    } else {
        json_object_set_new(out->body, "@odata.nextLink", json_string(link));
    }
    free(link);
}

/* POST /mock/participants/touch {"ids": ["P000005", ...]}: each gets a newer lastModified. */
void fr__mock_handle_touch(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out)
{
    json_t *body = json_loadb(fr_buf_str(rq->body), rq->body->len, 0, NULL);
    json_t *ids = json_object_get(body, "ids");
    if (!json_is_array(ids) || json_array_size(ids) == 0) {
        json_decref(body);
        fr__mock_error(out, 400, "bad_request", "send {\"ids\": [\"P000001\", ...]}");
        return;
    }
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        const char *s = json_string_value(id);
        unsigned long n = 0;
        char *end = NULL;
        if (s && s[0] == 'P')
            n = strtoul(s + 1, &end, 10);
        if (!s || !end || *end || n < 1 || n > m->participants) {
            json_decref(body);
            fr__mock_error(out, 400, "bad_request", "unknown participant id");
            return;
        }
    }
    pthread_mutex_lock(&m->lock);
    /* one minute after the newest lastModified so far: later than any, the same for this call */
    int64_t now = m->last_touch_ms + 60000;
    m->last_touch_ms = now;
    json_array_foreach(ids, i, id) m->modified[strtoul(json_string_value(id) + 1, NULL, 10) - 1] =
        now;
    pthread_mutex_unlock(&m->lock);
    char modified[32];
    fr_format_rfc3339(now, modified, sizeof(modified));
    out->status = 200;
    out->body = json_pack("{s:I,s:s}", "touched", (json_int_t)json_array_size(ids), "lastModified",
                          modified);
    json_decref(body);
}
