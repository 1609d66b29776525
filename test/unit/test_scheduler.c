#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "broker/scheduler.h"

static void test_fifo_per_type(void **state) {
    (void)state;
    fmx_sched_t *s = fmx_sched_new(100);
    for (uint64_t i = 0; i < 40; i++) assert_int_equal(fmx_sched_push(s, (uint32_t)(i % 2), i, 1000), 0);
    assert_int_equal(fmx_sched_depth(s, 0), 20);
    assert_int_equal(fmx_sched_depth(s, 1), 20);
    assert_int_equal(fmx_sched_depth(s, 7), 0);
    uint64_t id;
    for (uint64_t i = 0; i < 40; i += 2) {
        assert_int_equal(fmx_sched_pop(s, 0, 0, &id, NULL), 0);
        assert_int_equal(id, i);
    }
    assert_int_equal(fmx_sched_pop(s, 0, 0, &id, NULL), -1);
    assert_int_equal(fmx_sched_pop(s, 9, 0, &id, NULL), -1);
    assert_int_equal(fmx_sched_depth(s, 1), 20);
    fmx_sched_destroy(&s);
    assert_null(s);
}

static void test_bounded(void **state) {
    (void)state;
    fmx_sched_t *s = fmx_sched_new(3);
    assert_int_equal(fmx_sched_push(s, 0, 1, 10), 0);
    assert_int_equal(fmx_sched_push(s, 0, 2, 10), 0);
    assert_int_equal(fmx_sched_push(s, 0, 3, 10), 0);
    assert_int_equal(fmx_sched_push(s, 0, 4, 10), -1);
    assert_int_equal(fmx_sched_push(s, 1, 4, 10), 0); /* per type */
    assert_null(fmx_sched_new(0));
    fmx_sched_destroy(&s);
}

static void test_expired_are_dropped_never_popped(void **state) {
    (void)state;
    fmx_sched_t *s = fmx_sched_new(10);
    fmx_sched_push(s, 0, 1, 100);
    fmx_sched_push(s, 0, 2, 50);
    fmx_sched_push(s, 0, 3, 300);
    fmx_sched_push(s, 0, 4, 120);
    uint64_t id;
    size_t dropped = 0;
    assert_int_equal(fmx_sched_pop(s, 0, 110, &id, &dropped), 0);
    assert_int_equal(id, 3);
    assert_int_equal(dropped, 2);
    assert_int_equal(fmx_sched_pop(s, 0, 110, &id, &dropped), 0);
    assert_int_equal(id, 4);
    assert_int_equal(fmx_sched_pop(s, 0, 110, &id, &dropped), -1);
    /* A deadline equal to now has passed. */
    fmx_sched_push(s, 0, 5, 200);
    assert_int_equal(fmx_sched_pop(s, 0, 200, &id, &dropped), -1);
    assert_int_equal(dropped, 3);
    fmx_sched_destroy(&s);
}

static void test_ring_wraps_and_grows(void **state) {
    (void)state;
    fmx_sched_t *s = fmx_sched_new(1000);
    uint64_t next_in = 0, next_out = 0, id;
    for (int round = 0; round < 50; round++) {
        for (int k = 0; k < 13; k++) assert_int_equal(fmx_sched_push(s, 2, next_in++, 10), 0);
        for (int k = 0; k < 11; k++) {
            assert_int_equal(fmx_sched_pop(s, 2, 0, &id, NULL), 0);
            assert_int_equal(id, next_out++);
        }
    }
    while (fmx_sched_pop(s, 2, 0, &id, NULL) == 0) assert_int_equal(id, next_out++);
    assert_int_equal(next_out, next_in);
    fmx_sched_destroy(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_per_type),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_expired_are_dropped_never_popped),
        cmocka_unit_test(test_ring_wraps_and_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
