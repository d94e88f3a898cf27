#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>

#include "core/log_limit.h"

#define KIND "signature failures"
#define PATH "/hooks/std"

/* What the flushes handed back, copied. */
struct got {
    size_t n;
    struct {
        char *kind, *source, *client;
        bool catch_all;
        uint64_t suppressed;
        int64_t window_ms;
        char *sentence;
    } s[64];
};

static char *dup_or_null(const char *s)
{
    return s ? fr_strdup(s) : NULL;
}

static void collect(const struct fr_log_limit_summary *s, void *ud)
{
    struct got *g = ud;
    assert_true(g->n < FR_ARRAY_LEN(g->s));
    g->s[g->n].kind = dup_or_null(s->kind);
    g->s[g->n].source = dup_or_null(s->source);
    g->s[g->n].client = dup_or_null(s->client);
    g->s[g->n].catch_all = s->catch_all;
    g->s[g->n].suppressed = s->suppressed;
    g->s[g->n].window_ms = s->window_ms;
    g->s[g->n].sentence = fr_log_limit_sentence(s);
    g->n++;
}

static void got_reset(struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->s[i].kind);
        free(g->s[i].source);
        free(g->s[i].client);
        free(g->s[i].sentence);
    }
    g->n = 0;
}

/* The summary for client (NULL: the catch-all), or NULL. */
static size_t find(const struct got *g, const char *client)
{
    for (size_t i = 0; i < g->n; i++)
        if (client ? (g->s[i].client && strcmp(g->s[i].client, client) == 0) : g->s[i].catch_all)
            return i;
    fail_msg("no summary for %s", client ? client : "the catch-all");
    return 0;
}

/* n occurrences of key at now; returns how many were to be logged. */
static int hits(struct fr_log_limit *lim, const char *kind, const char *source, const char *client,
                int64_t now, int n)
{
    int logged = 0;
    for (int i = 0; i < n; i++)
        logged += fr_log_limit_hit(lim, kind, source, client, now);
    return logged;
}

static struct fr_log_limit *new_default(void)
{
    return fr_log_limit_new(FR_LOG_LIMIT_BURST, FR_LOG_LIMIT_WINDOW_MS, FR_LOG_LIMIT_MAX_KEYS);
}

static void test_first_burst_then_counted(void **state)
{
    struct fr_log_limit *lim = new_default();
    struct got g = {0};
    for (int i = 0; i < 5; i++)
        assert_true(fr_log_limit_hit(lim, KIND, PATH, "127.0.0.1", i));
    assert_false(fr_log_limit_hit(lim, KIND, PATH, "127.0.0.1", 5));
    assert_int_equal(hits(lim, KIND, PATH, "127.0.0.1", 9999, 2340), 0);

    /* The window started at 0: over at 10000, not a millisecond before. */
    assert_int_equal(fr_log_limit_flush(lim, 9999, collect, &g), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(fr_log_limit_flush(lim, 10000, collect, &g), 1);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.s[0].kind, KIND);
    assert_string_equal(g.s[0].source, PATH);
    assert_string_equal(g.s[0].client, "127.0.0.1");
    assert_false(g.s[0].catch_all);
    assert_int_equal(g.s[0].suppressed, 2341);
    assert_int_equal(g.s[0].window_ms, 10000);
    assert_string_equal(g.s[0].sentence, "2,341 more signature failures from 127.0.0.1 on "
                                         "/hooks/std in the last 10 s");
    got_reset(&g);

    /* Reported once; the key starts over: five more lines in its next window. */
    assert_int_equal(fr_log_limit_flush(lim, 10000, collect, &g), 0);
    assert_int_equal(hits(lim, KIND, PATH, "127.0.0.1", 10001, 7), 5);
    assert_int_equal(fr_log_limit_flush(lim, 20000, collect, &g), 0);
    assert_int_equal(fr_log_limit_flush(lim, 20001, collect, &g), 1);
    assert_int_equal(g.s[0].suppressed, 2);
    got_reset(&g);
    fr_log_limit_free(lim);
}

static void test_quiet_key_has_no_summary(void **state)
{
    struct fr_log_limit *lim = new_default();
    struct got g = {0};
    assert_int_equal(hits(lim, KIND, PATH, "10.0.0.1", 0, 5), 5);
    assert_int_equal(fr_log_limit_flush(lim, 60000, collect, &g), 0);
    /* A hit after the window is the first of a new one. */
    assert_int_equal(hits(lim, KIND, PATH, "10.0.0.1", 10000, 5), 5);
    assert_false(fr_log_limit_hit(lim, KIND, PATH, "10.0.0.1", 19999));
    assert_true(fr_log_limit_hit(lim, KIND, PATH, "10.0.0.1", 20000));
    assert_int_equal(fr_log_limit_flush(lim, 20000, collect, &g), 1);
    assert_int_equal(g.s[0].suppressed, 1);
    assert_int_equal(g.s[0].window_ms, 10000);
    got_reset(&g);
    fr_log_limit_free(lim);
}

static void test_keys_independent(void **state)
{
    struct fr_log_limit *lim = new_default();
    struct got g = {0};
    assert_int_equal(hits(lim, KIND, PATH, "127.0.0.1", 0, 100), 5);
    /* Another client, another source, another kind: each its own five. */
    assert_int_equal(hits(lim, KIND, PATH, "127.0.0.2", 1, 8), 5);
    assert_int_equal(hits(lim, KIND, "/hooks/gh", "127.0.0.1", 2, 5), 5);
    assert_int_equal(hits(lim, "bodies over max_body", PATH, "127.0.0.1", 3, 6), 5);
    /* NULL is "". */
    assert_int_equal(hits(lim, KIND, NULL, NULL, 4, 3), 3);
    assert_int_equal(hits(lim, KIND, "", "", 4, 3), 2);

    assert_int_equal(fr_log_limit_flush(lim, 10003, collect, &g), 3);
    size_t i = find(&g, "127.0.0.2");
    assert_int_equal(g.s[i].suppressed, 3);
    assert_string_equal(g.s[i].source, PATH);
    for (i = 0; i < g.n; i++) {
        if (strcmp(g.s[i].client, "127.0.0.1") != 0)
            continue;
        if (strcmp(g.s[i].kind, KIND) == 0) {
            assert_string_equal(g.s[i].source, PATH);
            assert_int_equal(g.s[i].suppressed, 95);
        } else {
            assert_string_equal(g.s[i].kind, "bodies over max_body");
            assert_int_equal(g.s[i].suppressed, 1);
        }
    }
    got_reset(&g);
    /* The key without source or client ends a millisecond later. */
    assert_int_equal(fr_log_limit_flush(lim, 10004, collect, &g), 1);
    assert_int_equal(g.s[0].suppressed, 1);
    assert_string_equal(g.s[0].sentence, "1 more signature failures in the last 10 s");
    got_reset(&g);
    fr_log_limit_free(lim);
}

static void test_cap_and_catch_all(void **state)
{
    struct fr_log_limit *lim = fr_log_limit_new(5, 10000, 3);
    struct got g = {0};
    assert_int_equal(hits(lim, KIND, PATH, "10.0.0.1", 0, 6), 5);
    assert_int_equal(hits(lim, KIND, PATH, "10.0.0.2", 0, 6), 5);
    assert_int_equal(hits(lim, KIND, PATH, "10.0.0.3", 0, 6), 5);
    /* The table is full: 1000 rotating addresses share one catch-all key. */
    int logged = 0;
    for (int i = 0; i < 1000; i++) {
        char client[32];
        snprintf(client, sizeof(client), "10.1.%d.%d", i / 256, i % 256);
        logged += fr_log_limit_hit(lim, KIND, PATH, client, 1 + i);
    }
    assert_int_equal(logged, 5);
    /* Known keys are still counted apart. */
    assert_false(fr_log_limit_hit(lim, KIND, PATH, "10.0.0.1", 2000));

    assert_int_equal(fr_log_limit_flush(lim, 10001, collect, &g), 4);
    size_t i = find(&g, NULL);
    assert_null(g.s[i].client);
    assert_string_equal(g.s[i].kind, KIND);
    assert_string_equal(g.s[i].source, PATH);
    assert_int_equal(g.s[i].suppressed, 995);
    assert_string_equal(g.s[i].sentence,
                        "995 more signature failures from other clients on /hooks/std in the "
                        "last 10 s");
    assert_int_equal(g.s[find(&g, "10.0.0.1")].suppressed, 2);
    got_reset(&g);

    /* Those keys are gone once reported and quiet: a new client has its own key again. */
    assert_int_equal(hits(lim, KIND, PATH, "10.2.0.1", 20000, 7), 5);
    assert_int_equal(fr_log_limit_flush(lim, 30000, collect, &g), 1);
    assert_string_equal(g.s[0].client, "10.2.0.1");
    got_reset(&g);

    /* Three keys again; the catch-all names no kind or source when they differ. */
    hits(lim, KIND, PATH, "a", 40000, 1);
    hits(lim, KIND, PATH, "b", 40000, 1);
    hits(lim, KIND, PATH, "c", 40000, 1);
    assert_int_equal(hits(lim, KIND, PATH, "d", 40000, 3), 3);
    assert_int_equal(hits(lim, "oversized bodies", "/hooks/gh", "e", 40000, 3), 2);
    assert_int_equal(fr_log_limit_flush(lim, 50000, collect, &g), 1);
    assert_true(g.s[0].catch_all);
    assert_null(g.s[0].kind);
    assert_null(g.s[0].source);
    assert_int_equal(g.s[0].suppressed, 1);
    assert_string_equal(g.s[0].sentence, "1 more warnings from other clients in the last 10 s");
    got_reset(&g);
    fr_log_limit_free(lim);
}

/* Without a flush between two busy windows, nothing is lost: one summary spans both. */
static void test_late_flush_keeps_counts(void **state)
{
    struct fr_log_limit *lim = new_default();
    struct got g = {0};
    assert_int_equal(hits(lim, KIND, PATH, "c", 0, 10), 5);
    assert_int_equal(hits(lim, KIND, PATH, "c", 15000, 7), 5);
    assert_int_equal(hits(lim, KIND, PATH, "c", 26000, 8), 5);
    /* Windows 0..10 s (5 not logged), 15..25 s (2) are over; 26..36 s (3) is open. */
    assert_int_equal(fr_log_limit_flush(lim, 30000, collect, &g), 1);
    assert_int_equal(g.s[0].suppressed, 7);
    assert_int_equal(g.s[0].window_ms, 25000);
    assert_string_equal(g.s[0].sentence,
                        "7 more signature failures from c on /hooks/std in the last 25 s");
    got_reset(&g);
    assert_int_equal(fr_log_limit_flush(lim, 35999, collect, &g), 0);
    assert_int_equal(fr_log_limit_flush(lim, 36000, collect, &g), 1);
    assert_int_equal(g.s[0].suppressed, 3);
    assert_int_equal(g.s[0].window_ms, 10000);
    got_reset(&g);
    fr_log_limit_free(lim);
}

/* The time is whatever the caller's clock says: large, and not always in order across threads. */
static void test_time_is_a_parameter(void **state)
{
    struct fr_log_limit *lim = fr_log_limit_new(2, 250, 16);
    struct got g = {0};
    const int64_t t0 = 1700000000123LL;
    assert_int_equal(hits(lim, KIND, PATH, "c", t0, 3), 2);
    /* An earlier time (another thread read the clock first) is in the same window. */
    assert_false(fr_log_limit_hit(lim, KIND, PATH, "c", t0 - 5));
    assert_false(fr_log_limit_hit(lim, KIND, PATH, "c", t0 + 249));
    assert_int_equal(fr_log_limit_flush(lim, t0 + 249, collect, &g), 0);
    assert_int_equal(fr_log_limit_flush(lim, t0 + 250, collect, &g), 1);
    assert_int_equal(g.s[0].suppressed, 3);
    assert_int_equal(g.s[0].window_ms, 250);
    assert_string_equal(g.s[0].sentence,
                        "3 more signature failures from c on /hooks/std in the last 250 ms");
    got_reset(&g);
    fr_log_limit_free(lim);

    /* burst 0: summaries only. */
    lim = fr_log_limit_new(0, 1000, 4);
    assert_int_equal(hits(lim, KIND, PATH, "c", 0, 4), 0);
    assert_int_equal(fr_log_limit_flush(lim, 1000, NULL, NULL), 1);
    fr_log_limit_free(lim);
    fr_log_limit_free(NULL);
}

static void test_long_strings_truncated(void **state)
{
    struct fr_log_limit *lim = new_default();
    struct got g = {0};
    char a[FR_LOG_LIMIT_STR_MAX + 50], b[FR_LOG_LIMIT_STR_MAX + 50];
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[FR_LOG_LIMIT_STR_MAX + 10] = 'y';
    /* Agreeing in the first FR_LOG_LIMIT_STR_MAX bytes: one key. */
    assert_int_equal(hits(lim, KIND, a, "c", 0, 3), 3);
    assert_int_equal(hits(lim, KIND, b, "c", 0, 3), 2);
    assert_int_equal(fr_log_limit_flush(lim, 10000, collect, &g), 1);
    assert_int_equal(strlen(g.s[0].source), FR_LOG_LIMIT_STR_MAX);
    got_reset(&g);
    fr_log_limit_free(lim);
}

static void test_sentence(void **state)
{
    struct fr_log_limit_summary s = {KIND, PATH, "::1", false, 1234567, 10001};
    char *line = fr_log_limit_sentence(&s);
    assert_string_equal(
        line, "1,234,567 more signature failures from ::1 on /hooks/std in the last 11 s");
    free(line);
    s.suppressed = 999;
    s.window_ms = 999;
    s.source = NULL;
    line = fr_log_limit_sentence(&s);
    assert_string_equal(line, "999 more signature failures from ::1 in the last 999 ms");
    free(line);
    s.suppressed = 1000;
    s.client = "";
    s.source = PATH;
    s.window_ms = 60000;
    line = fr_log_limit_sentence(&s);
    assert_string_equal(line, "1,000 more signature failures on /hooks/std in the last 60 s");
    free(line);
}

/* A callback may call the limiter: flush has released its lock. */
static void reenter(const struct fr_log_limit_summary *s, void *ud)
{
    struct fr_log_limit *lim = ud;
    (void)s;
    assert_true(fr_log_limit_hit(lim, "summaries", NULL, NULL, 10000));
}

static void test_callback_may_reenter(void **state)
{
    struct fr_log_limit *lim = new_default();
    hits(lim, KIND, PATH, "c", 0, 6);
    assert_int_equal(fr_log_limit_flush(lim, 10000, reenter, lim), 1);
    fr_log_limit_free(lim);
}

struct flood {
    struct fr_log_limit *lim;
    int logged;
};

static void *flood_thread(void *arg)
{
    struct flood *f = arg;
    char client[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(client, sizeof(client), "c%d", i % 3);
        f->logged += fr_log_limit_hit(f->lim, KIND, PATH, client, i / 4000);
        if (i % 100 == 0)
            fr_log_limit_flush(f->lim, i / 4000, NULL, NULL);
    }
    return NULL;
}

/* Four threads, three keys, 80,000 occurrences in one window: 15 logged, the rest counted. */
static void test_threads(void **state)
{
    struct fr_log_limit *lim = new_default();
    struct flood f[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        f[i] = (struct flood){lim, 0};
        assert_int_equal(pthread_create(&t[i], NULL, flood_thread, &f[i]), 0);
    }
    int logged = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        logged += f[i].logged;
    }
    assert_int_equal(logged, 15);
    struct got g = {0};
    assert_int_equal(fr_log_limit_flush(lim, 10000, collect, &g), 3);
    uint64_t suppressed = 0;
    for (size_t i = 0; i < g.n; i++)
        suppressed += g.s[i].suppressed;
    assert_int_equal(suppressed, 80000 - 15);
    got_reset(&g);
    fr_log_limit_free(lim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_burst_then_counted),
        cmocka_unit_test(test_quiet_key_has_no_summary),
        cmocka_unit_test(test_keys_independent),
        cmocka_unit_test(test_cap_and_catch_all),
        cmocka_unit_test(test_late_flush_keeps_counts),
        cmocka_unit_test(test_time_is_a_parameter),
        cmocka_unit_test(test_long_strings_truncated),
        cmocka_unit_test(test_sentence),
        cmocka_unit_test(test_callback_may_reenter),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
