/* Unit tests of the key requests' paths: {{key}} replaced by the URL-encoded key. */
#include "core/common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "job/key_request.h"

static void test_expand_key(void **state)
{
    char *p = fr_key_request_path("/credits/{{key}}", "SO 1/2");
    assert_string_equal(p, "/credits/SO%201%2F2");
    free(p);
    p = fr_key_request_path("/a/{{key}}?k={{key}}", "x");
    assert_string_equal(p, "/a/x?k=x");
    free(p);
    p = fr_key_request_path("/none", "x");
    assert_string_equal(p, "/none");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
