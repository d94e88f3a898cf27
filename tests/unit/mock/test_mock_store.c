/*
 * test_mock_store.c: the credits store of src/mock (find-or-add by
 * sourceRef, removal, insertion order, recycling of removed rows), checked
 * against a jansson object as the reference.
 */
#include "core/common.h"
#include "mock/mock.h"

#include <setjmp.h>
#include <cmocka.h>

#include "mock/mock_int.h"

/* The store keeps credits as bytes; these tests use strings as the bytes. */
static struct fr__mock_row *add(struct fr__mock_store *s, const char *ref, const char *credit,
                                bool *added)
{
    return fr__mock_store_add(s, ref, strlen(ref), credit, strlen(credit), added);
}

static void assert_credit(const struct fr__mock_row *r, const char *want)
{
    assert_int_equal(r->credit_len, strlen(want));
    assert_memory_equal(r->credit, want, r->credit_len);
}

static void test_add_find_duplicate(void **state)
{
    struct fr__mock_store s;
    fr__mock_store_init(&s);
    assert_null(fr__mock_store_find(&s, "A"));
    assert_int_equal(fr__mock_store_remove(&s, "A"), 0);

    bool added;
    struct fr__mock_row *a = add(&s, "A", "{\"sourceRef\":\"A\"}", &added);
    assert_true(added);
    assert_int_equal(a->count, 1);
    assert_string_equal(a->ref, "A");
    assert_credit(a, "{\"sourceRef\":\"A\"}");

    /* A second add of the same sourceRef keeps the first credit. */
    assert_ptr_equal(add(&s, "A", "{\"other\":1}", &added), a);
    assert_false(added);
    assert_credit(a, "{\"sourceRef\":\"A\"}");
    assert_ptr_equal(fr__mock_store_find(&s, "A"), a);
    assert_null(fr__mock_store_find(&s, "AA"));
    assert_null(fr__mock_store_find(&s, ""));
    assert_int_equal(fr__mock_store_len(&s), 1);

    a->count = 3;
    assert_int_equal(fr__mock_store_remove(&s, "A"), 3);
    assert_int_equal(fr__mock_store_remove(&s, "A"), 0);
    assert_null(fr__mock_store_find(&s, "A"));
    assert_int_equal(fr__mock_store_len(&s), 0);
    fr__mock_store_release(&s);
}

/* The refs from head to tail, joined by ',' */
static char *order(const struct fr__mock_store *s)
{
    struct fr_buf b = FR_BUF_INIT;
    for (const struct fr__mock_row *r = s->head; r; r = r->next)
        fr_buf_addf(&b, "%s%s", r == s->head ? "" : ",", r->ref);
    return fr_buf_detach(&b, NULL);
}

static void test_insertion_order_survives_removal(void **state)
{
    struct fr__mock_store s;
    fr__mock_store_init(&s);
    bool added;
    static const char *const refs[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < FR_ARRAY_LEN(refs); i++)
        add(&s, refs[i], "{}", &added);
    fr__mock_store_remove(&s, "a");
    fr__mock_store_remove(&s, "c");
    add(&s, "a", "{}", &added); /* back, as the newest */
    char *o = order(&s);
    assert_string_equal(o, "b,d,a");
    free(o);
    fr__mock_store_remove(&s, "a");
    fr__mock_store_remove(&s, "b");
    o = order(&s);
    assert_string_equal(o, "d");
    free(o);
    assert_ptr_equal(s.head, s.tail);

    fr__mock_store_clear(&s);
    assert_int_equal(fr__mock_store_len(&s), 0);
    assert_null(s.head);
    assert_null(fr__mock_store_find(&s, "d"));
    add(&s, "d", "{\"again\":true}", &added);
    assert_true(added);
    fr__mock_store_release(&s);
}

/* Rows too big for the blocks, sourceRefs with bytes a C string function would stop at. */
static void test_big_rows_and_odd_refs(void **state)
{
    struct fr__mock_store s;
    fr__mock_store_init(&s);
    size_t big = 5 * FR__MOCK_ROW_SMALL;
    char *text = fr_malloc(big + 1);
    memset(text, 'x', big);
    text[big] = '\0';
    bool added;
    struct fr__mock_row *r = fr__mock_store_add(&s, "big", 3, text, big, &added);
    assert_true(added);
    assert_int_equal(r->credit_len, big);
    assert_credit(r, text);
    add(&s, "ü/€ '\"", "{}", &added);
    assert_true(added);
    assert_non_null(fr__mock_store_find(&s, "ü/€ '\""));
    assert_int_equal(fr__mock_store_remove(&s, "big"), 1);
    /* Removed while big rows were in it: clear and release free the rest. */
    add(&s, "big2", text, &added);
    fr__mock_store_clear(&s);
    add(&s, "big3", text, &added);
    free(text);
    fr__mock_store_release(&s);
}

/*
 * Many adds and removes, in an order drawn from a fixed seed, against a jansson
 * object (which keeps insertion order too): same members, same order, same credits.
 */
static void test_matches_reference(void **state)
{
    struct fr__mock_store s;
    fr__mock_store_init(&s);
    json_t *ref = json_object();
    struct fr_rng rng;
    fr_rng_seed(&rng, 7);
    for (int step = 0; step < 60000; step++) {
        char key[32], text[64];
        unsigned k = (unsigned)(fr_rng_next(&rng) % 5000);
        snprintf(key, sizeof(key), "ORD-%u", k);
        /* Texts of many lengths, so rows of many sizes get recycled. */
        snprintf(text, sizeof(text), "{\"k\":%u,\"pad\":\"%.*s\"}", k, (int)(k % 40),
                 "........................................");
        if (fr_rng_next(&rng) % 3 == 0) {
            uint64_t n = fr__mock_store_remove(&s, key);
            assert_int_equal(n, json_object_get(ref, key) ? 1 : 0);
            json_object_del(ref, key);
        } else {
            bool added;
            struct fr__mock_row *r = add(&s, key, text, &added);
            assert_int_equal(added, json_object_get(ref, key) == NULL);
            if (added)
                json_object_set_new(ref, key, json_string(text));
            assert_credit(r, json_string_value(json_object_get(ref, key)));
        }
    }
    assert_int_equal(fr__mock_store_len(&s), json_object_size(ref));
    const struct fr__mock_row *r = s.head;
    const char *key;
    json_t *v;
    json_object_foreach(ref, key, v)
    {
        assert_non_null(r);
        assert_string_equal(r->ref, key);
        assert_credit(r, json_string_value(v));
        assert_ptr_equal(fr__mock_store_find(&s, key), r);
        r = r->next;
    }
    assert_null(r);
    json_decref(ref);
    fr__mock_store_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find_duplicate),
        cmocka_unit_test(test_insertion_order_survives_removal),
        cmocka_unit_test(test_big_rows_and_odd_refs),
        cmocka_unit_test(test_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
