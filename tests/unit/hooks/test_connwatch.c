/*
 * The deadlines of a connection: which phase is past its deadline, and
 * why, at a given time (fr_conn_verdict is pure); and the watchdog itself
 * shutting down a socket past its deadline, never one ferry is busy with.
 */
#include "core/common.h"
#include "hooks/connwatch.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/clock.h"

static const struct fr_conn_limits limits = {
    .header_timeout_ms = 10000, .body_timeout_ms = 60000, .min_body_rate = 1024};

static void test_head_deadline(void **state)
{
    assert_int_equal(fr_conn_verdict(&limits, FR_CONN_HEAD, 1000, 0, 1000), FR_CONN_OPEN);
    assert_int_equal(fr_conn_verdict(&limits, FR_CONN_HEAD, 1000, 0, 10999), FR_CONN_OPEN);
    assert_int_equal(fr_conn_verdict(&limits, FR_CONN_HEAD, 1000, 0, 11000),
                     FR_CONN_HEADER_TIMEOUT);
    assert_string_equal(fr_conn_close_name(FR_CONN_HEADER_TIMEOUT), "header_timeout");
}

static void test_body_deadline_and_rate(void **state)
{
    /* Any rate within the first 5 s. */
    assert_int_equal(fr_conn_verdict(&limits, FR_CONN_BODY, 0, 0, 4999), FR_CONN_OPEN);
    /* Then at least 1 KB/s on average since the head: 5 s need 5,120 bytes. */
    assert_int_equal(fr_conn_verdict(&limits, FR_CONN_BODY, 0, 5119, 5000), FR_CONN_SLOW_BODY);
    assert_int_equal(fr_conn_verdict(&limits, FR_CONN_BODY, 0, 5120, 5000), FR_CONN_OPEN);
    assert_int_equal(fr_conn_verdict(&limits, FR_CONN_BODY, 0, 30 * 1024, 30000), FR_CONN_OPEN);
    assert_int_equal(fr_conn_verdict(&limits, FR_CONN_BODY, 0, 30 * 1024 - 1, 30000),
                     FR_CONN_SLOW_BODY);
    /* However fast, the whole body within body_timeout. */
    assert_int_equal(fr_conn_verdict(&limits, FR_CONN_BODY, 0, 1u << 30, 60000),
                     FR_CONN_BODY_TIMEOUT);
    /* No minimum rate: only the deadline. */
    struct fr_conn_limits any = limits;
    any.min_body_rate = 0;
    assert_int_equal(fr_conn_verdict(&any, FR_CONN_BODY, 0, 0, 59999), FR_CONN_OPEN);
    /* The largest values the config allows do not overflow. */
    struct fr_conn_limits big = {3600000, 3600000, 1024ull * 1024 * 1024};
    assert_int_equal(fr_conn_verdict(&big, FR_CONN_BODY, 0, 0, 3599999), FR_CONN_SLOW_BODY);
}

static void test_busy_never_closed(void **state)
{
    assert_int_equal(fr_conn_verdict(&limits, FR_CONN_BUSY, 0, 0, INT64_MAX / 2), FR_CONN_OPEN);
}

static size_t reported[FR_CONN__COUNT];

static void on_look(const size_t closed[FR_CONN__COUNT], void *ud)
{
    for (size_t i = 0; i < FR_CONN__COUNT; i++)
        reported[i] += closed[i];
}

/* Whether the peer of fd sees end-of-file within ms. */
static bool eof_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return false;
    char c;
    return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

static void test_watchdog_shuts_down_late_connections(void **state)
{
    struct fr_conn_limits quick = {.header_timeout_ms = 200, .body_timeout_ms = 400};
    struct fr_connwatch *w = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_connwatch_start(&quick, on_look, NULL, &w, &err), 0);
    int late[2], busy[2], body[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, late), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, busy), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, body), 0);
    int64_t t0 = fr_now_ms();
    struct fr_conn *c_late = fr_connwatch_add(w, late[0]);
    struct fr_conn *c_busy = fr_connwatch_add(w, busy[0]);
    struct fr_conn *c_body = fr_connwatch_add(w, body[0]);
    fr_connwatch_enter(w, c_busy, FR_CONN_BUSY);
    fr_connwatch_enter(w, c_body, FR_CONN_BODY);
    fr_connwatch_body(c_body, 10);
    assert_true(eof_within(late[1], 2000));
    int64_t head_ms = fr_now_ms() - t0;
    assert_true(head_ms >= 200 && head_ms < 1000);
    assert_true(eof_within(body[1], 2000));
    int64_t body_ms = fr_now_ms() - t0;
    assert_true(body_ms >= 400 && body_ms < 1200);
    assert_false(eof_within(busy[1], 300)); /* busy: never */
    fr_connwatch_remove(w, c_late);
    fr_connwatch_remove(w, c_body);
    fr_connwatch_remove(w, c_busy);
    fr_connwatch_stop(w);
    assert_int_equal(reported[FR_CONN_HEADER_TIMEOUT], 1);
    assert_int_equal(reported[FR_CONN_BODY_TIMEOUT], 1);
    assert_int_equal(reported[FR_CONN_SLOW_BODY], 0);
    for (int i = 0; i < 2; i++) {
        close(late[i]);
        close(busy[i]);
        close(body[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_deadline),
        cmocka_unit_test(test_body_deadline_and_rate),
        cmocka_unit_test(test_busy_never_closed),
        cmocka_unit_test(test_watchdog_shuts_down_late_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
