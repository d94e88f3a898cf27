/*
 * The event id a webhook is stored under: the scheme's id when it is safe
 * to store and to send on as a header, else the SHA-256 of the body.
 */
#include "core/common.h"
#include "hooks/server.h"

#include <setjmp.h>
#include <cmocka.h>

/* SHA-256 of "" and of "abc" (FIPS 180-2 examples). */
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void test_scheme_id_kept(void **state)
{
    char out[FR_HOOK_ID_MAX];
    fr_hook_event_id("msg_p5jXN8AQM9LWM0D4loKWxJek", "abc", 3, out);
    assert_string_equal(out, "msg_p5jXN8AQM9LWM0D4loKWxJek");
    fr_hook_event_id("72d3162e-cc78-11e3-81ab-4c9367dc0958", "abc", 3, out);
    assert_string_equal(out, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
}

static void test_no_id_is_body_hash(void **state)
{
    char out[FR_HOOK_ID_MAX];
    fr_hook_event_id(NULL, "abc", 3, out);
    assert_string_equal(out, SHA_ABC);
    fr_hook_event_id("", "abc", 3, out);
    assert_string_equal(out, SHA_ABC);
    fr_hook_event_id(NULL, NULL, 0, out);
    assert_string_equal(out, SHA_EMPTY);
    /* Bytes after a NUL count: the hash is over the whole body. */
    fr_hook_event_id(NULL, "abc\0def", 7, out);
    assert_string_not_equal(out, SHA_ABC);
}

static void test_unsafe_id_is_body_hash(void **state)
{
    char out[FR_HOOK_ID_MAX];
    /* A body id could carry CR/LF (header injection downstream), spaces or non-ASCII. */
    fr_hook_event_id("evt_1\r\nX-Evil: 1", "abc", 3, out);
    assert_string_equal(out, SHA_ABC);
    fr_hook_event_id("evt 1", "abc", 3, out);
    assert_string_equal(out, SHA_ABC);
    fr_hook_event_id("\xc3\xa9vt", "abc", 3, out);
    assert_string_equal(out, SHA_ABC);
}

static void test_id_length_limit(void **state)
{
    char id[FR_HOOK_ID_MAX + 1];
    char out[FR_HOOK_ID_MAX];
    memset(id, 'a', sizeof(id));
    id[FR_HOOK_ID_MAX - 1] = '\0'; /* the longest kept: 255 bytes */
    fr_hook_event_id(id, "abc", 3, out);
    assert_string_equal(out, id);
    id[FR_HOOK_ID_MAX - 1] = 'a';
    id[FR_HOOK_ID_MAX] = '\0'; /* 256 bytes: never truncated, hashed instead */
    fr_hook_event_id(id, "abc", 3, out);
    assert_string_equal(out, SHA_ABC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheme_id_kept),
        cmocka_unit_test(test_no_id_is_body_hash),
        cmocka_unit_test(test_unsafe_id_is_body_hash),
        cmocka_unit_test(test_id_length_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
