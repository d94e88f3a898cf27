/* The store section (src/store/store_conf.c): its default, where it is written, its password. */
#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/redact.h"
#include "cli/sections.h"
#include "conftest.h"

static int setup(void **state)
{
    (void)state;
    fr_redact_reset();
    return 0;
}

/* No store key: the SQLite file beside the config, and no position to name. */
static void test_default(void **state)
{
    (void)state;
    struct fr_config *cfg = NULL;
    struct fr_err err;
    assert_int_equal(fr_test_conf_load("targets: {}\n", &cfg, &err), 0);
    assert_string_equal(cfg->store, "sqlite:ferry.db");
    assert_int_equal(cfg->store_pos.line, 0);
    assert_int_equal(cfg->store_pos.col, 0);
    fr_config_free(cfg);
}

/* As written: the URL, where it stands, and its password a secret from then on. */
static void test_url_and_password(void **state)
{
    (void)state;
    struct fr_config *cfg = NULL;
    struct fr_err err;
    assert_int_equal(
        fr_test_conf_load("# the store\nstore: postgresql://ferry:pAss-w0rd-77@db/ferry\n", &cfg,
                          &err),
        0);
    assert_string_equal(cfg->store, "postgresql://ferry:pAss-w0rd-77@db/ferry");
    assert_int_equal(cfg->store_pos.line, 2);
    assert_int_equal(cfg->store_pos.col, 8);
    char *shown = fr_redact_str("connect failed: password pAss-w0rd-77 rejected");
    assert_null(strstr(shown, "pAss-w0rd-77"));
    free(shown);
    fr_config_free(cfg);
}

static void test_errors(void **state)
{
    (void)state;
    fr_test_conf_expect_error("store: [a, b]\n", "ferry.yaml:1:8", "store");
    fr_test_conf_expect_error("store: \"\"\n", "ferry.yaml:1:8", "store");
    fr_test_conf_expect_error("stor: sqlite:x.db\n", "ferry.yaml:1:1", "did you mean \"store\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_default, setup),
        cmocka_unit_test_setup(test_url_and_password, setup),
        cmocka_unit_test_setup(test_errors, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fr_redact_reset();
    return rc;
}
