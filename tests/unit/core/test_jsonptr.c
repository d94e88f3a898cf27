#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/jsonptr.h"

static void test_json_pointer(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *doc = json_loads("{\"a\": {\"b\": [10, {\"c\": \"deep\"}]}, \"x/y\": 1, \"m~n\": 2,"
                             " \"\": 3, \"arr\": [\"zero\"], \"01\": 4}",
                             0, &jerr);
    assert_non_null(doc);
    assert_ptr_equal(fr_json_pointer(doc, ""), doc);
    assert_int_equal(json_integer_value(fr_json_pointer(doc, "/a/b/0")), 10);
    assert_string_equal(json_string_value(fr_json_pointer(doc, "/a/b/1/c")), "deep");
    assert_int_equal(json_integer_value(fr_json_pointer(doc, "/x~1y")), 1);
    assert_int_equal(json_integer_value(fr_json_pointer(doc, "/m~0n")), 2);
    assert_int_equal(json_integer_value(fr_json_pointer(doc, "/")), 3);
    assert_int_equal(json_integer_value(fr_json_pointer(doc, "/01")), 4); /* object key */
    assert_string_equal(json_string_value(fr_json_pointer(doc, "/arr/0")), "zero");
    /* missing and malformed */
    assert_null(fr_json_pointer(doc, "/nope"));
    assert_null(fr_json_pointer(doc, "/a/b/2"));
    assert_null(fr_json_pointer(doc, "/a/b/01"));  /* leading zero */
    assert_null(fr_json_pointer(doc, "/a/b/-"));   /* past the end */
    assert_null(fr_json_pointer(doc, "/a/b/-1"));  /* sign */
    assert_null(fr_json_pointer(doc, "/a/b/x"));   /* not an index */
    assert_null(fr_json_pointer(doc, "/a/b/0/z")); /* into a number */
    assert_null(fr_json_pointer(doc, "/m~2n"));    /* bad escape */
    assert_null(fr_json_pointer(doc, "/m~"));      /* dangling escape */
    assert_null(fr_json_pointer(doc, "a"));        /* no leading slash */
    assert_null(fr_json_pointer(doc, NULL));
    assert_null(fr_json_pointer(NULL, "/a"));
    /* "/x/y" is two tokens, not the key "x/y" */
    assert_null(fr_json_pointer(doc, "/x/y"));
    json_decref(doc);
}

static void test_json_pointer_long_key(void **state)
{
    (void)state;
    char key[300];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_t *doc = json_object();
    json_object_set_new(doc, key, json_integer(9));
    char *ptr = fr_asprintf("/%s", key);
    assert_int_equal(json_integer_value(fr_json_pointer(doc, ptr)), 9);
    ptr[5] = '~'; /* a bad escape inside a long token */
    assert_null(fr_json_pointer(doc, ptr));
    free(ptr);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_pointer),
        cmocka_unit_test(test_json_pointer_long_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
