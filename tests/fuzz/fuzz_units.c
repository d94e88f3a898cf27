/*
 * Durations, sizes, rates and percentages (src/core/units.c): the input is
 * one value as an operator would write it in ferry.yaml, fed to every parser.
 * Properties: on success the result is within the documented bounds and the
 * reason is not set; on failure a reason is given.
 */
#include "core/common.h"

#include <math.h>

#include "core/error.h"
#include "core/units.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return -1; /* config values are short; longer inputs only slow the search */
    char *s = fuzz_cstr(data, size);

    const char *why = NULL;
    int64_t ms = -1;
    if (fr_parse_duration(s, &ms, &why) == 0) {
        FUZZ_CHECK(why == NULL);
        FUZZ_CHECK(ms >= 0 && ms <= (int64_t)1e15);
    } else {
        FUZZ_CHECK(why != NULL && *why);
    }

    why = NULL;
    uint64_t bytes = 0;
    if (fr_parse_size(s, &bytes, &why) == 0)
        FUZZ_CHECK(why == NULL && bytes <= (uint64_t)1e18);
    else
        FUZZ_CHECK(why != NULL && *why);

    why = NULL;
    struct fr_rate rate = {0};
    if (fr_parse_rate(s, &rate, &why) == 0) {
        FUZZ_CHECK(why == NULL);
        FUZZ_CHECK(rate.count >= 1 && rate.count <= 1000000000u);
        FUZZ_CHECK(rate.window_ms == 1000 || rate.window_ms == 60000 || rate.window_ms == 3600000);
    } else {
        FUZZ_CHECK(why != NULL && *why);
    }

    why = NULL;
    double fraction = -1;
    if (fr_parse_percent(s, &fraction, &why) == 0)
        FUZZ_CHECK(why == NULL && isfinite(fraction) && fraction >= 0 && fraction <= 1);
    else
        FUZZ_CHECK(why != NULL && *why);

    free(s);
    return 0;
}
