/*
 * The JSON Schema validator (src/job/schema.c). The input is a schema and a
 * record, two JSON texts separated by a line "---". Properties: a schema
 * that does not compile says why; a record is valid exactly when no reason
 * comes back; reasons are at most FR_SCHEMA_MAX_REASONS strings; validating
 * twice gives the same answer.
 */
#include "core/common.h"

#include <jansson.h>

#include "core/error.h"
#include "job/schema.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return -1;
    const uint8_t *a, *b;
    size_t alen, blen;
    fuzz_split(data, size, "\n---\n", &a, &alen, &b, &blen);
    json_t *doc = json_loadb((const char *)a, alen, JSON_DECODE_ANY, NULL);
    if (!doc)
        return 0;
    struct fr_schema *s = NULL;
    struct fr_err err = {0};
    if (fr_schema_compile(doc, "schema.json", &s, &err) != 0) {
        FUZZ_CHECK(s == NULL && err.msg[0]);
        json_decref(doc);
        return 0;
    }
    json_t *value = json_loadb((const char *)b, blen, JSON_DECODE_ANY, NULL);
    if (value) {
        json_t *reasons = NULL;
        bool valid = fr_schema_validate(s, value, &reasons);
        FUZZ_CHECK(valid == (reasons == NULL));
        if (reasons) {
            FUZZ_CHECK(json_is_array(reasons));
            size_t n = json_array_size(reasons);
            FUZZ_CHECK(n >= 1 && n <= FR_SCHEMA_MAX_REASONS);
            for (size_t i = 0; i < n; i++)
                FUZZ_CHECK(json_is_string(json_array_get(reasons, i)));
            char *text = fr_schema_reasons_text(reasons);
            FUZZ_CHECK(text && *text);
            free(text);
        }
        json_t *again = NULL;
        FUZZ_CHECK(fr_schema_validate(s, value, &again) == valid);
        FUZZ_CHECK(again == reasons || json_equal(again, reasons));
        json_decref(again);
        json_decref(reasons);
        json_decref(value);
    }
    fr_schema_free(s);
    json_decref(doc);
    return 0;
}
