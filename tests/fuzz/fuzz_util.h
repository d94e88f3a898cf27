/*
 * fuzz_util.h: what the libFuzzer targets of tests/fuzz share.
 *
 * Each target is one fuzz_<name>.c defining LLVMFuzzerTestOneInput (and
 * LLVMFuzzerInitialize where it needs setup); its seeds are in
 * tests/fuzz/corpus/<name>/. A target aborts (FUZZ_CHECK) when a property
 * the module documents does not hold, so the fuzzer reports more than crashes.
 */
#ifndef FR_FUZZ_UTIL_H
#define FR_FUZZ_UTIL_H

#include "core/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken property: print it and abort, so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A NUL-terminated copy of data[0..size) (inner NULs kept); caller frees. */
char *fuzz_cstr(const uint8_t *data, size_t size);

/*
 * The path of a scratch file private to this process (created on first use
 * with the given suffix, removed at exit), rewritten with data[0..size).
 * Borrowed; one per process.
 */
const char *fuzz_write_temp(const char *suffix, const uint8_t *data, size_t size);

/*
 * Splits data at the first occurrence of sep: [*a, *alen) before it and
 * [*b, *blen) after. Without sep, everything is in a and b is empty.
 */
void fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **a, size_t *alen,
                const uint8_t **b, size_t *blen);

/* Turns logging down to errors on stderr, so fuzzing output stays readable. */
void fuzz_quiet_logs(void);

#endif
