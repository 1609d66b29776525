/* test_fallback.c - an actor that answers garbage is a failed node, not a broker problem: the
 * node's fallback stands in, the reply says `degraded` and names it, and the feed's `limit` still
 * holds although the node that applies it (layout) fell back to passthrough. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/integration/harness.h"

static void s_start(h_t *h, const char *bad_type, const char *inject) {
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    assert_true(h_start_broker(h, NULL) > 0);
    const char *const bad[] = {"--inject", inject, NULL};
    for (int i = 0; i < n; i++)
        assert_true(h_start_actor(h, types[i], NULL, strcmp(types[i], bad_type) == 0 ? bad : NULL) > 0);
    for (int i = 0; i < n; i++) assert_int_equal(h_wait_ready(h, types[i], 1, 10000), 0);
}

/* Returns how many items the degraded reply carried. */
static size_t s_expect_degraded(h_client_t *c, int64_t limit, const char *fallback, size_t max_items) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (limit > 0)
        h_pack_map(&sb, "feed", 's', "home", "user_id", 'i', 42, "limit", 'I', limit, "deadline_ms", 'i', 3000, NULL);
    else
        h_pack_request(&sb, "home", 42, 3000);
    h_reply_t r;
    assert_int_equal(h_call(c, sb.data, sb.size, 5000, &r), 0);
    msgpack_sbuffer_destroy(&sb);
    if (!h_status_is(&r, "degraded")) h_print("reply", r.root);
    assert_true(h_status_is(&r, "degraded"));
    const msgpack_object *fb = h_get(r.root, "fallbacks");
    assert_non_null(fb);
    assert_int_equal(fb->via.array.size, 1);
    assert_true(h_str_eq(&fb->via.array.ptr[0], fallback));
    const msgpack_object *items = h_get(r.root, "items");
    assert_non_null(items);
    assert_true(items->via.array.size > 0);
    assert_true(items->via.array.size <= max_items);
    size_t n = items->via.array.size;
    h_reply_fini(&r);
    return n;
}

static void test_garbage_layout_falls_back_and_limit_holds(void **state) {
    h_t *h = *state;
    s_start(h, "layout", "garbage");
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    assert_int_equal(s_expect_degraded(c, 0, "page", 40), 40); /* home's limit param; the store has more */
    assert_int_equal(s_expect_degraded(c, 5, "page", 5), 5); /* the request's limit wins */
    h_client_destroy(&c);
    char *log = h_read_log(h, "broker");
    assert_non_null(log);
    assert_non_null(strstr(log, "garbage from actor"));
    free(log);
    assert_true(h_alive(h, h->broker));
}

static void test_failing_required_node_is_an_error_not_a_hang(void **state) {
    h_t *h = *state;
    s_start(h, "hydrate", "garbage");
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_request(&sb, "home", 42, 3000);
    h_reply_t r;
    int64_t t0 = h_now_ms();
    assert_int_equal(h_call(c, sb.data, sb.size, 5000, &r), 0);
    msgpack_sbuffer_destroy(&sb);
    assert_true(h_now_ms() - t0 < 2000); /* answered when the garbage arrived, not at the deadline */
    assert_true(h_error_code_is(&r, "internal"));
    assert_non_null(strstr(h_get(h_get(r.root, "error"), "message")->via.str.ptr, "hydrated"));
    h_reply_fini(&r);
    h_client_destroy(&c);
}

/* More sellers than the default store: enough live streams that home's limit of 40 bites. */
static int s_group_setup(void **state) {
    h_t *h = h_new();
    if (!h || h_seed(h, 3000) != 0) {
        h_destroy(&h);
        return -1;
    }
    *state = h;
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_garbage_layout_falls_back_and_limit_holds, h_test_teardown),
        cmocka_unit_test_teardown(test_failing_required_node_is_an_error_not_a_hang, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, s_group_setup, h_group_teardown);
}
