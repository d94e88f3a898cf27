#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

/* FR_ALLOC_GROW: 16 slots at first, then doubling, never fewer than asked, contents kept. */
static void test_alloc_grow(void **state)
{
    (void)state;
    int *v = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < 1000; i++) {
        size_t before = cap;
        FR_ALLOC_GROW(v, n + 1, cap);
        if (n < before)
            assert_int_equal(cap, before); /* room left: untouched */
        v[n++] = i;
        if (i == 0)
            assert_int_equal(cap, 16);
        if (i == 16)
            assert_int_equal(cap, 32);
    }
    assert_int_equal(cap, 1024);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(v[i], i);

    /* A jump past double takes exactly what is asked. */
    uint32_t cap32 = (uint32_t)cap;
    FR_ALLOC_GROW(v, 5000, cap32);
    assert_int_equal(cap32, 5000);
    assert_int_equal(v[999], 999);
    free(v);

    assert_int_equal(fr_alloc_nr(0, 1), 16);
    assert_int_equal(fr_alloc_nr(100, 101), 200);
    assert_int_equal(fr_alloc_nr(SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 2), SIZE_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
