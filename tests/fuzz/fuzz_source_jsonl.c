/* The JSONL source with the job map (src/job/source_jsonl.c, map.c); see source_map.h. */
#include "core/common.h"

#include "source_map.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet_logs();
    fuzz_map_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return -1;
    fuzz_source(FR_SOURCE_JSONL, ".jsonl", data, size);
    return 0;
}
