#include "core/common.h"
#include "mock/mock.h"

#include <errno.h>
#include <openssl/evp.h>

#include "mock/mock_int.h"

/* lastModified of participant i: a fixed base plus i minutes, so pages are stable. */
#define BASE_WALL_MS 1704067200000LL /* 2024-01-01T00:00:00Z */

static json_t *participant(unsigned i)
{
    char id[16], name[32], email[48], modified[32];
    snprintf(id, sizeof(id), "P%06u", i);
    snprintf(name, sizeof(name), "Participant %u", i);
    snprintf(email, sizeof(email), "p%06u@example.com", i);
    fr_format_rfc3339(BASE_WALL_MS + (int64_t)i * 60000, modified, sizeof(modified));
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
    unsigned offset;
};

/* Reads $top, $orderby and $skiptoken; a message for the 400 when one is bad. */
static const char *read_query(struct MHD_Connection *conn, struct page_query *q)
{
    memset(q, 0, sizeof(*q));
    const char *top = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "$top");
    const char *order = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "$orderby");
    const char *skip = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "$skiptoken");
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
    if (skip && !skiptoken_decode(skip, &q->offset))
        return "invalid $skiptoken (use the @odata.nextLink as given)";
    return NULL;
}

static char *next_link(const struct fr_mock *m, const struct page_query *q, unsigned offset)
{
    struct fr_buf b = FR_BUF_INIT;
    char tok[64];
    skiptoken_encode(offset, tok, sizeof(tok));
    fr_buf_addf(&b, "http://%s:%d/participants?", m->host, m->port);
    if (q->top)
        fr_buf_addf(&b, "$top=%u&", q->top);
    if (q->orderby) {
        fr_buf_adds(&b, "$orderby=");
        add_query_value(&b, q->orderby);
        fr_buf_addc(&b, '&');
    }
    fr_buf_addf(&b, "$skiptoken=%s", tok);
    return fr_buf_detach(&b, NULL);
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
    unsigned end = FR_MIN(m->participants, q.offset + size);
    json_t *value = json_array();
    for (unsigned k = q.offset; k < end; k++)
        json_array_append_new(value, participant(q.desc ? m->participants - k : k + 1));
    out->status = 200;
    out->body = json_pack("{s:o}", "value", value);
    if (end < m->participants) {
        char *link = next_link(m, &q, end);
        json_object_set_new(out->body, "@odata.nextLink", json_string(link));
        free(link);
    }
}
