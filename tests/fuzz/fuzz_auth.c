/*
 * OAuth token responses (fr_auth_parse_token_response, fr_auth_error_code,
 * src/http/auth.c): the input is the body a token endpoint answers.
 * Properties: a parsed token is non-empty, its lifetime within
 * 1..FR_TOKEN_MAX_LIFETIME_S (never an overflow, whatever expires_in says);
 * a failure says why; an error code, when there is one, is a short string.
 */
#include "core/common.h"

#include "core/error.h"
#include "http/auth.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return -1;
    char *token = NULL;
    int64_t lifetime = -1;
    struct fr_err err = {0};
    int rc = fr_auth_parse_token_response((const char *)data, size, &token, &lifetime, &err);
    if (rc == 0) {
        FUZZ_CHECK(token && *token);
        FUZZ_CHECK(lifetime >= 1 && lifetime <= FR_TOKEN_MAX_LIFETIME_S);
    } else {
        FUZZ_CHECK(rc == FR_EPARSE && err.msg[0]);
    }
    free(token);
    const char *code = fr_auth_error_code((const char *)data, size);
    FUZZ_CHECK(!code || strlen(code) < 64);
    return 0;
}
