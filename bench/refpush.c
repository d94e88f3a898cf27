/*
 * ferry-refpush: the nightly push loop of bench/reference_push.py written in
 * C with the libraries ferry is built on (libcsv, jansson, libcurl), and
 * nothing else: no journal, no retries, no rate limiter, no crash safety.
 * It is the CPU floor those libraries set for one record, measured beside
 * ferry and the Python script by bench/push.sh. A benchmark tool, not a
 * test, and not a way to push records.
 *
 *   ferry-refpush [--text] BASE_URL CSV_FILE
 *
 * --text writes each batch's JSON with printf instead of a jansson tree:
 * no escaping at all, right only for the benchmark's plain values, so the
 * figure is a lower bound (reading the CSV, sending, and parsing the
 * answers with jansson), not a way to write JSON.
 *
 * Gets a token (client credentials demo / demo-secret, as the mock takes),
 * then POSTs batches of 100 payloads as {"value": [...]} to
 * BASE_URL/credits/batch over one keep-alive connection, and counts the
 * results whose status is CREATED. Prints "CREATED CPU_SECONDS". Exit 1 on
 * any failure.
 */
#include "core/common.h"

#include <csv.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/resource.h>

#include "core/buf.h"

#define BATCH 100

struct loop {
    CURL *curl;
    struct curl_slist *headers;
    char *batch_url;
    json_t *batch; /* the payloads of the batch being filled */
    bool text;     /* --text: the batch is written into body instead */
    struct fr_buf body;
    size_t nbody;
    struct fr_buf answer;
    long created;
    bool failed;
    /* the CSV reader: header names, then one row's fields */
    char *names[8];
    size_t nnames;
    char *fields[8];
    size_t nfields;
    bool header_done;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    return fr_buf_add(ud, data, size * n) ? 0 : size * n;
}

/* POSTs body to url; the answer lands in l->answer. */
static bool post(struct loop *l, const char *url, const char *body, struct curl_slist *headers)
{
    fr_buf_reset(&l->answer);
    curl_easy_setopt(l->curl, CURLOPT_URL, url);
    curl_easy_setopt(l->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(l->curl, CURLOPT_HTTPHEADER, headers);
    long status = 0;
    if (curl_easy_perform(l->curl) != CURLE_OK ||
        curl_easy_getinfo(l->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
        status / 100 != 2) {
        fprintf(stderr, "ferry-refpush: POST %s failed (HTTP %ld)\n", url, status);
        return false;
    }
    return true;
}

static void flush(struct loop *l)
{
    bool ok;
    if (l->text) {
        if (l->failed || l->nbody == 0)
            return;
        fr_buf_adds(&l->body, "]}");
        ok = post(l, l->batch_url, fr_buf_str(&l->body), l->headers);
        fr_buf_reset(&l->body);
        l->nbody = 0;
    } else {
        if (l->failed || json_array_size(l->batch) == 0)
            return;
        json_t *env = json_pack("{s:O}", "value", l->batch);
        char *body = json_dumps(env, JSON_COMPACT);
        json_decref(env);
        json_array_clear(l->batch);
        ok = post(l, l->batch_url, body, l->headers);
        free(body);
    }
    json_t *answer = ok ? json_loadb(l->answer.data, l->answer.len, 0, NULL) : NULL;
    json_t *results = json_object_get(answer, "results");
    if (!json_is_array(results)) {
        l->failed = true;
        json_decref(answer);
        return;
    }
    size_t i;
    json_t *r;
    json_array_foreach(results, i,
                       r) if (strcmp(json_string_value(json_object_get(r, "status")) ?: "",
                                     "CREATED") == 0) l->created++;
    json_decref(answer);
}

static const char *field(struct loop *l, const char *name)
{
    for (size_t i = 0; i < l->nnames && i < l->nfields; i++)
        if (strcmp(l->names[i], name) == 0)
            return l->fields[i];
    return "";
}

static void on_field(void *s, size_t len, void *ud)
{
    struct loop *l = ud;
    char **slot = l->header_done ? l->fields : l->names;
    size_t *n = l->header_done ? &l->nfields : &l->nnames;
    if (*n < FR_ARRAY_LEN(l->fields))
        slot[(*n)++] = fr_strndup(s, len);
}

static void on_row(int c, void *ud)
{
    (void)c;
    struct loop *l = ud;
    if (!l->header_done) {
        l->header_done = true;
        return;
    }
    if (l->text) {
        fr_buf_adds(&l->body, l->nbody ? "," : "{\"value\":[");
        fr_buf_addf(&l->body,
                    "{\"amount\":%s,\"currencyCode\":\"USD\",\"participantId\":\"%s\","
                    "\"periodId\":\"2026-11\",\"sourceRef\":\"%s\",\"transactionDate\":\"%s\"}",
                    field(l, "amount"), field(l, "participant_id"), field(l, "order_id"),
                    field(l, "order_date"));
        l->nbody++;
    } else {
        json_array_append_new(l->batch,
                              json_pack("{s:s, s:s, s:f, s:s, s:s, s:s}", "participantId",
                                        field(l, "participant_id"), "transactionDate",
                                        field(l, "order_date"), "amount",
                                        strtod(field(l, "amount"), NULL), "currencyCode", "USD",
                                        "periodId", "2026-11", "sourceRef", field(l, "order_id")));
    }
    for (size_t i = 0; i < l->nfields; i++)
        free(l->fields[i]);
    l->nfields = 0;
    if ((l->text ? l->nbody : json_array_size(l->batch)) == BATCH)
        flush(l);
}

int main(int argc, char **argv)
{
    bool text = argc == 4 && strcmp(argv[1], "--text") == 0;
    if (argc != 3 + text) {
        fprintf(stderr, "usage: ferry-refpush [--text] BASE_URL CSV_FILE\n");
        return 2;
    }
    argv += text;
    FILE *in = fopen(argv[2], "rb");
    if (!in) {
        perror(argv[2]);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct loop l = {.curl = curl_easy_init(), .batch = json_array(), .text = text};
    fr_buf_init(&l.answer, 64u << 20);
    fr_buf_init(&l.body, 64u << 20);
    curl_easy_setopt(l.curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(l.curl, CURLOPT_WRITEDATA, &l.answer);

    char *token_url = fr_asprintf("%s/oauth/token", argv[1]);
    bool ok = post(&l, token_url,
                   "grant_type=client_credentials&client_id=demo&client_secret=demo-secret", NULL);
    free(token_url);
    json_t *tok = ok ? json_loadb(l.answer.data, l.answer.len, 0, NULL) : NULL;
    const char *access = json_string_value(json_object_get(tok, "access_token"));
    if (!access) {
        fprintf(stderr, "ferry-refpush: no token\n");
        return 1;
    }
    char *auth = fr_asprintf("Authorization: Bearer %s", access);
    json_decref(tok);
    l.headers = curl_slist_append(NULL, auth);
    l.headers = curl_slist_append(l.headers, "Content-Type: application/json");
    free(auth);
    l.batch_url = fr_asprintf("%s/credits/batch", argv[1]);

    struct csv_parser p;
    csv_init(&p, CSV_APPEND_NULL);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0 && !l.failed)
        csv_parse(&p, chunk, n, on_field, on_row, &l);
    csv_fini(&p, on_field, on_row, &l);
    csv_free(&p);
    fclose(in);
    flush(&l);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%ld %.3f\n", l.created,
           (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6);
    for (size_t i = 0; i < l.nnames; i++)
        free(l.names[i]);
    json_decref(l.batch);
    free(l.batch_url);
    fr_buf_release(&l.answer);
    fr_buf_release(&l.body);
    curl_slist_free_all(l.headers);
    curl_easy_cleanup(l.curl);
    curl_global_cleanup();
    return l.failed ? 1 : 0;
}
