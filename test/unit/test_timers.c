#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "common/timers.h"

typedef struct {
    uint64_t fired[4096];
    size_t n;
    fmx_timers_t *timers;
    fmx_timer_t cancel_me;
} s_log_t;

static void s_record(void *arg, uint64_t cookie, uint64_t now) {
    (void)now;
    s_log_t *log = arg;
    log->fired[log->n++] = cookie;
}

static void test_fires_in_expiry_order(void **state) {
    (void)state;
    s_log_t log = {.n = 0};
    fmx_timers_t *t = fmx_timers_new();
    uint64_t at[] = {50, 10, 40, 20, 30, 10};
    for (size_t i = 0; i < 6; i++) assert_true(fmx_timers_add(t, at[i], s_record, &log, i) != 0);
    assert_int_equal(fmx_timers_next(t), 10);
    assert_int_equal(fmx_timers_run(t, 25), 3);
    /* Equal expiries fire in insertion order. */
    assert_int_equal(log.fired[0], 1);
    assert_int_equal(log.fired[1], 5);
    assert_int_equal(log.fired[2], 3);
    assert_int_equal(fmx_timers_run(t, 1000), 3);
    assert_int_equal(log.fired[3], 4);
    assert_int_equal(log.fired[4], 2);
    assert_int_equal(log.fired[5], 0);
    assert_int_equal(fmx_timers_count(t), 0);
    assert_int_equal(fmx_timers_next(t), UINT64_MAX);
    fmx_timers_destroy(&t);
    assert_null(t);
    fmx_timers_destroy(&t);
}

static void test_cancel_and_stale_handles(void **state) {
    (void)state;
    s_log_t log = {.n = 0};
    fmx_timers_t *t = fmx_timers_new();
    fmx_timer_t a = fmx_timers_add(t, 10, s_record, &log, 1);
    fmx_timer_t b = fmx_timers_add(t, 20, s_record, &log, 2);
    assert_int_equal(fmx_timers_cancel(t, a), 0);
    assert_int_equal(fmx_timers_cancel(t, a), -1);
    assert_int_equal(fmx_timers_cancel(t, 0), -1);
    assert_int_equal(fmx_timers_cancel(t, 999999), -1);
    /* The slot of `a` is reused; the old handle must not cancel the new timer. */
    fmx_timer_t c = fmx_timers_add(t, 5, s_record, &log, 3);
    assert_int_equal(fmx_timers_cancel(t, a), -1);
    assert_int_equal(fmx_timers_run(t, 100), 2);
    assert_int_equal(log.fired[0], 3);
    assert_int_equal(log.fired[1], 2);
    assert_int_equal(fmx_timers_cancel(t, b), -1); /* already fired */
    assert_int_equal(fmx_timers_cancel(t, c), -1);
    fmx_timers_destroy(&t);
}

static void s_cancel_other(void *arg, uint64_t cookie, uint64_t now) {
    s_log_t *log = arg;
    s_record(arg, cookie, now);
    fmx_timers_cancel(log->timers, log->cancel_me);
    fmx_timers_add(log->timers, now, s_record, log, 99); /* due now: fires in this same run */
}

static void test_callbacks_may_add_and_cancel(void **state) {
    (void)state;
    s_log_t log = {.n = 0};
    fmx_timers_t *t = fmx_timers_new();
    log.timers = t;
    fmx_timers_add(t, 10, s_cancel_other, &log, 1);
    log.cancel_me = fmx_timers_add(t, 10, s_record, &log, 2);
    assert_int_equal(fmx_timers_run(t, 10), 2);
    assert_int_equal(log.fired[0], 1);
    assert_int_equal(log.fired[1], 99);
    fmx_timers_destroy(&t);
}

static void test_heap_order_under_random_churn(void **state) {
    (void)state;
    s_log_t log = {.n = 0};
    fmx_timers_t *t = fmx_timers_new();
    fmx_timer_t handles[3000];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < 3000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        handles[i] = fmx_timers_add(t, x % 100000, s_record, &log, x % 100000);
    }
    for (size_t i = 0; i < 3000; i += 3) assert_int_equal(fmx_timers_cancel(t, handles[i]), 0);
    assert_int_equal(fmx_timers_count(t), 2000);
    assert_int_equal(fmx_timers_run(t, UINT64_MAX - 1), 2000);
    for (size_t i = 1; i < log.n; i++) assert_true(log.fired[i - 1] <= log.fired[i]);
    fmx_timers_destroy(&t);
}

static void test_poll_timeout(void **state) {
    (void)state;
    s_log_t log = {.n = 0};
    fmx_timers_t *t = fmx_timers_new();
    assert_int_equal(fmx_timers_poll_timeout_ms(t, 0), -1);
    fmx_timers_add(t, 2500, s_record, &log, 0);
    assert_int_equal(fmx_timers_poll_timeout_ms(t, 1000), 2); /* rounds up: 1.5 ms -> 2 */
    assert_int_equal(fmx_timers_poll_timeout_ms(t, 2500), 0);
    assert_int_equal(fmx_timers_poll_timeout_ms(t, 9000), 0);
    fmx_timers_destroy(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_in_expiry_order),
        cmocka_unit_test(test_cancel_and_stale_handles),
        cmocka_unit_test(test_callbacks_may_add_and_cancel),
        cmocka_unit_test(test_heap_order_under_random_churn),
        cmocka_unit_test(test_poll_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
