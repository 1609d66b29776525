/* test_queue.c - when every replica of a type is busy, tasks wait in the broker's per-type queue
 * and are served in turn; a queued task whose deadline passes is never sent to an actor. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "test/integration/harness.h"

#define N_CLIENTS 6

/* Every type once; hydrate is one slow replica that takes one task at a time. */
static void s_start(h_t *h, const char *delay) {
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    assert_true(h_start_broker(h, NULL) > 0);
    const char *const slow[] = {"--capacity", "1", "--threads", "1", "--inject", delay, NULL};
    for (int i = 0; i < n; i++)
        assert_true(h_start_actor(h, types[i], NULL, strcmp(types[i], "hydrate") == 0 ? slow : NULL) > 0);
    for (int i = 0; i < n; i++) assert_int_equal(h_wait_ready(h, types[i], 1, 10000), 0);
}

static int64_t s_counter(h_t *h, const char *type, const char *field) {
    h_reply_t r;
    int64_t v = -1;
    if (h_admin(h, "stats", 2000, &r) == 0) {
        const msgpack_object *m = type ? h_get(h_get(r.root, "types"), type) : h_get(r.root, "counters");
        if (m) v = h_get_int(m, field);
    }
    h_reply_fini(&r);
    return v;
}

static void test_busy_type_queues_and_serves_in_turn(void **state) {
    h_t *h = *state;
    s_start(h, "delay=60");
    h_client_t *c[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++) {
        assert_non_null(c[i] = h_client_new(h, h->front));
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        h_pack_request(&sb, "home", 10 + i, 5000);
        assert_int_equal(h_send(c[i], sb.data, sb.size), 0);
        msgpack_sbuffer_destroy(&sb);
    }
    int64_t max_queued = 0;
    for (int64_t until = h_now_ms() + 300; h_now_ms() < until; h_sleep_ms(5)) {
        int64_t q = s_counter(h, "hydrate", "queued");
        if (q > max_queued) max_queued = q;
    }
    assert_true(max_queued >= 1); /* capacity 1 and six requests: the rest waited in the broker */
    for (int i = 0; i < N_CLIENTS; i++) {
        h_reply_t r;
        assert_int_equal(h_recv(c[i], 5000, &r), 0);
        if (!h_status_is(&r, "ok")) h_print("reply", r.root);
        assert_true(h_status_is(&r, "ok"));
        h_reply_fini(&r);
        h_client_destroy(&c[i]);
    }
    assert_int_equal(s_counter(h, "hydrate", "queued"), 0);
    assert_int_equal(s_counter(h, "hydrate", "inflight"), 0);
}

static void test_expired_queued_tasks_are_never_sent(void **state) {
    h_t *h = *state;
    s_start(h, "delay=200");
    h_client_t *c[N_CLIENTS];
    int64_t sent_at = h_now_ms();
    for (int i = 0; i < N_CLIENTS; i++) {
        assert_non_null(c[i] = h_client_new(h, h->front));
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        h_pack_request(&sb, "home", 20 + i, 300); /* room for one 200 ms hydrate, not for six */
        assert_int_equal(h_send(c[i], sb.data, sb.size), 0);
        msgpack_sbuffer_destroy(&sb);
    }
    int answered_ok = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        h_reply_t r;
        assert_int_equal(h_recv(c[i], 5000, &r), 0); /* every request is answered */
        if (h_status_is(&r, "ok") || h_status_is(&r, "degraded"))
            answered_ok++;
        else
            assert_true(h_error_code_is(&r, "deadline_exceeded")); /* hydrate is required in home */
        h_reply_fini(&r);
        h_client_destroy(&c[i]);
    }
    /* All answered within the 300 ms deadline plus scheduling slack, not after six 200 ms tasks. */
    assert_true(h_now_ms() - sent_at < 1000);
    assert_true(answered_ok >= 1);
    assert_true(answered_ok < N_CLIENTS);
    /* The slow replica was sent at most one task per request that could still use it. */
    h_reply_t r;
    assert_int_equal(h_admin(h, "replicas", 2000, &r), 0);
    const msgpack_object *list = h_get(r.root, "replicas");
    assert_non_null(list);
    int64_t hydrate_tasks = -1;
    for (uint32_t i = 0; i < list->via.array.size; i++)
        if (h_str_eq(h_get(&list->via.array.ptr[i], "type"), "hydrate"))
            hydrate_tasks = h_get_int(&list->via.array.ptr[i], "tasks");
    h_reply_fini(&r);
    assert_true(hydrate_tasks >= 1);
    assert_true(hydrate_tasks <= 2); /* the first, and at most one that started just in time */
}

/* Past the in-flight bound the broker answers `overloaded` at once instead of queueing. */
static void test_overloaded_at_once(void **state) {
    h_t *h = *state;
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    const char *const bound[] = {"--max-requests", "2", NULL};
    assert_true(h_start_broker(h, bound) > 0);
    const char *const slow[] = {"--inject", "delay=300", NULL};
    for (int i = 0; i < n; i++)
        assert_true(h_start_actor(h, types[i], NULL, strcmp(types[i], "hydrate") == 0 ? slow : NULL) > 0);
    for (int i = 0; i < n; i++) assert_int_equal(h_wait_ready(h, types[i], 1, 10000), 0);
    h_client_t *c[N_CLIENTS];
    int64_t sent_at[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++) {
        assert_non_null(c[i] = h_client_new(h, h->front));
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        h_pack_request(&sb, "home", 30 + i, 3000);
        sent_at[i] = h_now_ms();
        assert_int_equal(h_send(c[i], sb.data, sb.size), 0);
        msgpack_sbuffer_destroy(&sb);
        h_sleep_ms(20); /* in order: the first two take the slots */
    }
    int served = 0, overloaded = 0;
    for (int i = N_CLIENTS - 1; i >= 0; i--) { /* the refused first: they must not wait for the slow */
        h_reply_t r;
        assert_int_equal(h_recv(c[i], 5000, &r), 0);
        int64_t took = h_now_ms() - sent_at[i];
        if (h_error_code_is(&r, "overloaded")) {
            overloaded++;
            assert_true(took < 150); /* at once; the served ones take > 300 ms of hydrate */
        } else if (h_status_is(&r, "ok") || h_status_is(&r, "degraded")) {
            served++;
            assert_true(took >= 300);
        }
        h_reply_fini(&r);
        h_client_destroy(&c[i]);
    }
    assert_int_equal(served, 2);
    assert_int_equal(overloaded, N_CLIENTS - 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_busy_type_queues_and_serves_in_turn, h_test_teardown),
        cmocka_unit_test_teardown(test_expired_queued_tasks_are_never_sent, h_test_teardown),
        cmocka_unit_test_teardown(test_overloaded_at_once, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
