/*
 * The byte buffer's cap: appends past max are refused, and the allocation
 * never grows past max + 1 (doubling stops at the cap); fr_buf_reserve
 * allocates exactly what it is asked for.
 */
#include "core/common.h"
#include "core/buf.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"

static void test_doubling_stops_at_the_cap(void **state)
{
    struct fr_buf b;
    fr_buf_init(&b, 1000);
    char data[1000];
    memset(data, 'x', sizeof(data));
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(fr_buf_add(&b, data, 100), 0);
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.cap, 1001); /* not 1024 */
    assert_int_equal(fr_buf_add(&b, "y", 1), FR_ETOOBIG);
    assert_int_equal(b.len, 1000);
    fr_buf_release(&b);
}

static void test_reserve_is_exact(void **state)
{
    struct fr_buf b;
    fr_buf_init(&b, 1u << 20);
    assert_int_equal(fr_buf_reserve(&b, 700000), 0);
    assert_int_equal(b.cap, 700001);
    assert_string_equal(fr_buf_str(&b), "");
    char *data = fr_malloc(700000);
    memset(data, 'z', 700000);
    assert_int_equal(fr_buf_add(&b, data, 700000), 0);
    assert_int_equal(b.cap, 700001); /* filled without growing */
    assert_int_equal(fr_buf_reserve(&b, (1u << 20) - 700000 + 1), FR_ETOOBIG);
    assert_int_equal(b.cap, 700001);
    free(data);
    fr_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubling_stops_at_the_cap),
        cmocka_unit_test(test_reserve_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
