/*
 * Retry-After (fr_parse_retry_after, src/http/policy.c): the input is the
 * header value as a server sends it. Properties: a parsed delay is never
 * negative and never beyond INT32_MAX seconds (or the furthest date); the
 * same value parsed at a later "now" never waits longer.
 */
#include "core/common.h"

#include "core/error.h"
#include "http/policy.h"
#include "fuzz_util.h"

/* 2024-03-01T00:00:00Z, a fixed "now" so that runs are reproducible. */
#define NOW_MS 1709251200000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 512)
        return -1;
    char *s = fuzz_cstr(data, size);
    int64_t delay = -1;
    if (fr_parse_retry_after(s, NOW_MS, &delay) == 0) {
        FUZZ_CHECK(delay >= 0);
        int64_t later = -1;
        FUZZ_CHECK(fr_parse_retry_after(s, NOW_MS + 1000, &later) == 0);
        FUZZ_CHECK(later >= 0 && later <= delay);
    }
    free(s);
    return 0;
}
