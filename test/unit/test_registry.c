#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "broker/registry.h"

static fmx_replica_t *s_reg(fmx_registry_t *r, uint32_t id, const char *type, uint32_t cap) {
    uint8_t ident[5] = {0, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    char name[32];
    snprintf(name, sizeof name, "%s-%u", type, id);
    return fmx_registry_register(r, ident, sizeof ident, type, strlen(type), cap, 1000 + id, name, strlen(name), 0);
}

static void test_register_find_refresh(void **state) {
    (void)state;
    fmx_registry_t *r = fmx_registry_new();
    fmx_replica_t *a = s_reg(r, 1, "retrieve", 4);
    assert_non_null(a);
    assert_string_equal(a->name, "retrieve-1");
    assert_int_equal(a->pid, 1001);
    assert_int_equal(fmx_registry_replica_count(r), 1);
    assert_ptr_equal(fmx_registry_find(r, a->identity, a->identity_len), a);
    /* Same identity and shape: the same replica, refreshed. */
    assert_ptr_equal(s_reg(r, 1, "retrieve", 4), a);
    assert_int_equal(fmx_registry_replica_count(r), 1);
    /* Same identity, another shape: refused until the caller removes the old one. */
    assert_null(s_reg(r, 1, "score", 4));
    assert_null(s_reg(r, 1, "retrieve", 8));
    long t = fmx_registry_type_find(r, "retrieve", 8);
    assert_true(t >= 0);
    assert_int_equal(fmx_registry_type_at(r, (size_t)t)->capacity, 4);
    /* Bad arguments. */
    assert_null(fmx_registry_register(r, (const uint8_t *)"x", 1, "", 0, 1, 1, "n", 1, 0));
    assert_null(fmx_registry_register(r, (const uint8_t *)"x", 1, "t", 1, 0, 1, "n", 1, 0));
    assert_null(fmx_registry_register(r, (const uint8_t *)"x", 0, "t", 1, 1, 1, "n", 1, 0));
    fmx_registry_destroy(&r);
    assert_null(r);
}

static void test_pick_least_loaded(void **state) {
    (void)state;
    fmx_registry_t *r = fmx_registry_new();
    fmx_replica_t *a = s_reg(r, 1, "score", 2), *b = s_reg(r, 2, "score", 4);
    uint32_t t = a->type_index;
    assert_int_equal(b->type_index, t);
    /* Ties go to the replica given fewer tasks so far. */
    fmx_replica_t *first = fmx_registry_pick(r, t, 0);
    assert_int_equal(fmx_registry_task_begin(r, first, 100), 0);
    fmx_replica_t *second = fmx_registry_pick(r, t, 0);
    assert_ptr_not_equal(first, second);
    assert_int_equal(fmx_registry_task_begin(r, second, 101), 0);
    /* a: 1/2, b: 1/4 -> b is less loaded by ratio. */
    assert_ptr_equal(fmx_registry_pick(r, t, 0), b);
    assert_int_equal(fmx_registry_task_begin(r, b, 102), 0);
    assert_int_equal(fmx_registry_task_begin(r, b, 103), 0);
    assert_int_equal(fmx_registry_task_begin(r, a, 104), 0);
    assert_int_equal(fmx_registry_task_begin(r, b, 105), 0);
    /* Both full. */
    assert_null(fmx_registry_pick(r, t, 0));
    assert_int_equal(fmx_registry_task_begin(r, a, 106), -1);
    assert_int_equal(fmx_registry_type_at(r, t)->inflight, 6);
    /* Late or duplicate results do not free capacity twice. */
    assert_int_equal(fmx_registry_task_end(r, a, 104), 0);
    assert_int_equal(fmx_registry_task_end(r, a, 104), -1);
    assert_ptr_equal(fmx_registry_pick(r, t, 0), a);
    assert_null(fmx_registry_pick(r, 999, 0));
    fmx_registry_destroy(&r);
}

static void test_remove_reports_orphans(void **state) {
    (void)state;
    fmx_registry_t *r = fmx_registry_new();
    fmx_replica_t *a = s_reg(r, 7, "hydrate", 3);
    fmx_registry_task_begin(r, a, 11);
    fmx_registry_task_begin(r, a, 12);
    uint32_t t = a->type_index;
    uint64_t orphans[3] = {0};
    assert_int_equal(fmx_registry_remove(r, a, orphans), 2);
    assert_true((orphans[0] == 11 && orphans[1] == 12) || (orphans[0] == 12 && orphans[1] == 11));
    assert_int_equal(fmx_registry_replica_count(r), 0);
    assert_int_equal(fmx_registry_type_at(r, t)->n_replicas, 0);
    assert_int_equal(fmx_registry_type_at(r, t)->inflight, 0);
    assert_int_equal(fmx_registry_type_at(r, t)->capacity, 0);
    assert_null(fmx_registry_pick(r, t, 0));
    fmx_registry_destroy(&r);
}

static void test_many_replicas_churn(void **state) {
    (void)state;
    fmx_registry_t *r = fmx_registry_new();
    fmx_replica_t *reps[500];
    for (uint32_t i = 0; i < 500; i++) assert_non_null(reps[i] = s_reg(r, i, i % 2 ? "a" : "b", 1));
    for (uint32_t i = 0; i < 500; i += 2) fmx_registry_remove(r, reps[i], NULL);
    assert_int_equal(fmx_registry_replica_count(r), 250);
    for (uint32_t i = 1; i < 500; i += 2) assert_ptr_equal(fmx_registry_find(r, reps[i]->identity, 5), reps[i]);
    /* Re-add through tombstones and growth. */
    for (uint32_t i = 1000; i < 1500; i++) assert_non_null(s_reg(r, i, "c", 2));
    assert_int_equal(fmx_registry_replica_count(r), 750);
    long c = fmx_registry_type_find(r, "c", 1);
    assert_int_equal(fmx_registry_type_at(r, (size_t)c)->capacity, 1000);
    fmx_registry_destroy(&r);
}

static void test_expiry(void **state) {
    (void)state;
    fmx_registry_t *r = fmx_registry_new();
    fmx_replica_t *a = s_reg(r, 1, "x", 1), *b = s_reg(r, 2, "x", 1);
    a->last_seen_us = 1000;
    b->last_seen_us = 5000;
    assert_null(fmx_registry_next_expired(r, 3000, 3000));
    assert_ptr_equal(fmx_registry_next_expired(r, 4001, 3000), a);
    assert_ptr_equal(fmx_registry_next_expired(r, 100000, 3000), a); /* oldest first */
    fmx_registry_remove(r, a, NULL);
    assert_ptr_equal(fmx_registry_next_expired(r, 100000, 3000), b);
    fmx_registry_destroy(&r);
}

static void test_outlier_ejection(void **state) {
    (void)state;
    fmx_registry_t *r = fmx_registry_new();
    fmx_replica_t *a = s_reg(r, 1, "score", 4), *b = s_reg(r, 2, "score", 4);
    uint32_t t = a->type_index;
    a->tasks_total = 0;
    b->tasks_total = 10; /* a is preferred while healthy */
    assert_ptr_equal(fmx_registry_pick(r, t, 0), a);
    assert_int_equal(fmx_registry_note_miss(r, a, 100), 0);
    assert_int_equal(fmx_registry_note_miss(r, a, 100), 0);
    assert_ptr_equal(fmx_registry_pick(r, t, 100), a); /* two misses: still in rotation */
    assert_int_equal(fmx_registry_note_miss(r, a, 100), 1); /* the third ejects it for 1 s */
    assert_ptr_equal(fmx_registry_pick(r, t, 200), b);
    assert_ptr_equal(fmx_registry_pick(r, t, 100 + FMX_EJECT_BASE_US - 1), b);
    /* back after the back-off, on probation: one more miss ejects it for twice as long */
    assert_ptr_equal(fmx_registry_pick(r, t, 100 + FMX_EJECT_BASE_US), a);
    uint64_t now = 100 + FMX_EJECT_BASE_US;
    assert_int_equal(fmx_registry_note_miss(r, a, now), 1);
    assert_ptr_equal(fmx_registry_pick(r, t, now + 2 * FMX_EJECT_BASE_US - 1), b);
    assert_ptr_equal(fmx_registry_pick(r, t, now + 2 * FMX_EJECT_BASE_US), a);
    /* a success restores it fully */
    fmx_registry_note_success(r, a);
    assert_int_equal(fmx_registry_note_miss(r, a, now), 0);
    assert_int_equal(a->ejections, 2);
    /* the back-off is capped */
    for (int i = 0; i < 20; i++) fmx_registry_note_miss(r, b, 0);
    assert_int_equal(b->eject_backoff, FMX_EJECT_MAX_US);
    /* every replica ejected: the type still runs, on the least loaded ejected one */
    fmx_registry_note_miss(r, a, now);
    fmx_registry_note_miss(r, a, now);
    assert_true(a->ejected_until > now && b->ejected_until > now);
    assert_non_null(fmx_registry_pick(r, t, now));
    fmx_registry_destroy(&r);
}

static void test_latency_percentiles_and_pick_other(void **state) {
    (void)state;
    fmx_registry_t *r = fmx_registry_new();
    fmx_replica_t *a = s_reg(r, 1, "score", 4), *b = s_reg(r, 2, "score", 4);
    uint32_t t = a->type_index;
    for (uint64_t us = 1; us <= 15; us++) fmx_registry_note_latency(r, t, us * 100);
    assert_int_equal(fmx_registry_latency_percentile(r, t, 95), 0); /* too few samples */
    for (uint64_t us = 16; us <= 100; us++) fmx_registry_note_latency(r, t, us * 100);
    /* the ring keeps the last 64: 3700..10000 */
    assert_int_equal(fmx_registry_latency_percentile(r, t, 50), 6800);
    assert_int_equal(fmx_registry_latency_percentile(r, t, 95), 9600);
    assert_int_equal(fmx_registry_latency_percentile(r, t, 0), 0);
    assert_int_equal(fmx_registry_latency_percentile(r, 99, 95), 0);
    assert_ptr_equal(fmx_registry_pick_other(r, t, 0, a), b);
    assert_ptr_equal(fmx_registry_pick_other(r, t, 0, b), a);
    fmx_registry_task_begin(r, b, 1);
    fmx_registry_task_begin(r, b, 2);
    fmx_registry_task_begin(r, b, 3);
    fmx_registry_task_begin(r, b, 4);
    assert_null(fmx_registry_pick_other(r, t, 0, a)); /* the only other one is full */
    fmx_registry_destroy(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_find_refresh), cmocka_unit_test(test_pick_least_loaded),
        cmocka_unit_test(test_remove_reports_orphans), cmocka_unit_test(test_many_replicas_churn),
        cmocka_unit_test(test_expiry), cmocka_unit_test(test_outlier_ejection),
        cmocka_unit_test(test_latency_percentiles_and_pick_other),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
