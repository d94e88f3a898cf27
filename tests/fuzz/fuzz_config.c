/*
 * The config loader (src/core/config*.c) from a YAML buffer, as
 * fr_config_load reads a file. Properties: a failure always says why; the
 * value of a secret given through ${FERRY_FUZZ_SECRET} never shows in an
 * error, warning or missing-secret message, whatever the file does with it.
 */
#include "core/common.h"

#include "core/config.h"
#include "core/error.h"
#include "core/redact.h"
#include "fuzz_util.h"
#include "cli/sections.h"

#define SECRET "fuzz-s3cr3t-v4lue"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet_logs();
    setenv("FERRY_FUZZ_SECRET", SECRET, 1);
    setenv("FERRY_FUZZ_HOST", "127.0.0.1", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return -1;
    struct fr_config *cfg = NULL;
    struct fr_err err = {0};
    int rc = fr_config_load_string((const char *)data, size, "ferry.yaml", fr_cli_sections(), &cfg,
                                   &err);
    bool literal = memmem(data, size, SECRET, strlen(SECRET)) != NULL;
    if (rc == 0) {
        FUZZ_CHECK(cfg != NULL);
        for (size_t i = 0; i < cfg->nwarnings; i++)
            FUZZ_CHECK(literal || strstr(cfg->warnings[i], SECRET) == NULL);
        /* Secrets left unset are kept with the message a command prints when it needs them. */
        for (size_t i = 0; i < cfg->nmissing_secrets; i++)
            FUZZ_CHECK(literal || strstr(cfg->missing_secrets[i].msg, SECRET) == NULL);
        fr_config_free(cfg);
    } else {
        FUZZ_CHECK(cfg == NULL);
        FUZZ_CHECK(err.code != 0 && err.msg[0] != '\0');
        FUZZ_CHECK(literal || strstr(err.msg, SECRET) == NULL);
    }
    /* The loader registers every secret with the redactor: start each input afresh. */
    fr_redact_reset();
    return 0;
}
