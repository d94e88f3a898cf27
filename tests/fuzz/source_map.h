/*
 * source_map.h: the body of the CSV and JSONL source targets. The input is
 * a whole source file; every record it gives is mapped by a job map using
 * every field type. Properties: a record has either fields or an error
 * naming its line; fr_map_write gives, byte for byte, the canonical text
 * of fr_map_apply's payload and fr_map_key of it (map.h promises both);
 * a rejection always says why.
 */
#ifndef FR_FUZZ_SOURCE_MAP_H
#define FR_FUZZ_SOURCE_MAP_H

#include "core/common.h"

#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "job/map.h"
#include "job/source.h"
#include "fuzz_util.h"
#include "job/job_conf.h"

/* The most records read from one input: enough to cross chunk boundaries, bounded in time. */
#define FUZZ_MAX_RECORDS 2000

static struct fr_map_field fuzz_map_fields[] = {
    {.name = "sourceRef", .from = "order_id", .type = FR_FIELD_STRING, .required = true},
    {.name = "amount", .from = "amount", .type = FR_FIELD_NUMBER},
    {.name = "quantity", .from = "qty", .type = FR_FIELD_INTEGER},
    {.name = "active", .from = "active", .type = FR_FIELD_BOOLEAN},
    {.name = "creditDate", .from = "date", .type = FR_FIELD_DATE},
    {.name = "note", .from = "note", .type = FR_FIELD_STRING},
    {.name = "currency", .type = FR_FIELD_STRING}, /* a literal, set in fuzz_map_init */
};

static void fuzz_map_init(void)
{
    fuzz_map_fields[FR_ARRAY_LEN(fuzz_map_fields) - 1].value = json_string("EUR");
}

static void fuzz_map_record(struct fr_map *m, json_t *fields)
{
    json_t *payload = NULL;
    char *why_apply = NULL;
    int rc_apply =
        fr_map_apply(fuzz_map_fields, FR_ARRAY_LEN(fuzz_map_fields), fields, &payload, &why_apply);

    struct fr_buf out = FR_BUF_INIT;
    char *key = NULL, *why_write = NULL;
    int rc_write = fr_map_write(m, fields, &out, &key, &why_write);

    FUZZ_CHECK(rc_apply == rc_write);
    if (rc_apply == 0) {
        char *canonical = fr_map_canonical(payload);
        FUZZ_CHECK(strcmp(canonical, fr_buf_str(&out)) == 0);
        char *want_key = fr_map_key(payload, "sourceRef");
        FUZZ_CHECK((want_key == NULL) == (key == NULL));
        FUZZ_CHECK(!key || strcmp(key, want_key) == 0);
        char hash[65];
        fr_map_hash(payload, hash);
        char digest[65];
        fr_map_digest(m, canonical, strlen(canonical), digest);
        FUZZ_CHECK(strcmp(hash, digest) == 0);
        free(want_key);
        free(canonical);
        json_decref(payload);
    } else {
        FUZZ_CHECK(payload == NULL && why_apply && why_write);
        FUZZ_CHECK(strcmp(why_apply, why_write) == 0);
    }
    free(why_apply);
    free(why_write);
    free(key);
    fr_buf_release(&out);
}

static void fuzz_source(enum fr_source_type type, const char *suffix, const uint8_t *data,
                        size_t size)
{
    struct fr_source_conf conf = {.type = type};
    conf.path = (char *)fuzz_write_temp(suffix, data, size);
    struct fr_source *src = NULL;
    struct fr_err err = {0};
    if (fr_source_open(&conf, &src, &err) != 0) {
        FUZZ_CHECK(src == NULL && err.msg[0]);
        return;
    }
    struct fr_map *m = fr_map_new(fuzz_map_fields, FR_ARRAY_LEN(fuzz_map_fields), "sourceRef");
    for (int i = 0; i < FUZZ_MAX_RECORDS; i++) {
        struct fr_record rec = {0};
        bool eof = false;
        fr_err_clear(&err);
        if (fr_source_next(src, &rec, &eof, &err) != 0) {
            FUZZ_CHECK(err.msg[0]);
            fr_record_release(&rec);
            break;
        }
        if (eof) {
            fr_record_release(&rec);
            break;
        }
        FUZZ_CHECK((rec.fields == NULL) != (rec.error == NULL));
        FUZZ_CHECK(rec.line >= 1);
        if (rec.error)
            FUZZ_CHECK(strncmp(rec.error, "line ", 5) == 0);
        else
            fuzz_map_record(m, rec.fields);
        fr_record_release(&rec);
    }
    int64_t done = 0, total = 0;
    fr_source_progress(src, &done, &total);
    FUZZ_CHECK(done >= 0 && (total < 0 || done <= total));
    fr_map_free(m);
    fr_source_close(src);
}

#endif
