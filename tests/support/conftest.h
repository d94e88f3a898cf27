/*
 * conftest.h: loading ferry.yaml text in the config tests of every layer
 * (tests/unit/<layer>/test_<layer>_conf.c and core's test_config.c), with
 * every section the command line loads. Header-only; include it after
 * <cmocka.h>.
 */
#ifndef FR_TEST_CONFTEST_H
#define FR_TEST_CONFTEST_H

#include "cli/sections.h"
#include "core/config.h"
#include "core/error.h"

/* Loads yaml as the file name; returns the code, leaves the config or the error. */
static inline int fr_test_conf_load_as(const char *yaml, const char *name, struct fr_config **cfg,
                                       struct fr_err *err)
{
    fr_err_clear(err);
    return fr_config_load_string(yaml, strlen(yaml), name, fr_cli_sections(), cfg, err);
}

/* fr_test_conf_load_as for "ferry.yaml". */
static inline int fr_test_conf_load(const char *yaml, struct fr_config **cfg, struct fr_err *err)
{
    return fr_test_conf_load_as(yaml, "ferry.yaml", cfg, err);
}

/*
 * Asserts that yaml fails with FR_ECONFIG and a message containing frag1
 * and (when not NULL) frag2; returns the error for more checks.
 */
static inline struct fr_err fr_test_conf_expect_error(const char *yaml, const char *frag1,
                                                      const char *frag2)
{
    struct fr_config *cfg = NULL;
    struct fr_err err;
    int rc = fr_test_conf_load(yaml, &cfg, &err);
    if (rc != FR_ECONFIG || !strstr(err.msg, frag1) || (frag2 && !strstr(err.msg, frag2)))
        print_error("unexpected result %d: %s\n", rc, err.msg);
    assert_int_equal(rc, FR_ECONFIG);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, frag1));
    if (frag2)
        assert_non_null(strstr(err.msg, frag2));
    return err;
}

#endif
