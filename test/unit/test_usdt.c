/* test_usdt.c - broker/usdt.c: building every broker probe's arguments (what runs only while a
 * tracer is attached, so serving tests never reach it) is safe on every path the broker takes:
 * a normal and a hedged dispatch, a result for a live request and a late one for a request that
 * is gone, a fallback of a node never sent, an error reply, a feed name longer than an id. Under
 * ASan+UBSan this is where a bad read would show; and the run must come out unchanged. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "broker/usdt.h"

typedef struct {
    fmx_broker_t b;
    fmx_plan_node_t pnodes[2];
    fmx_plan_t plan;
    fmx_node_run_t nodes[2];
    fmx_run_t run;
    fmx_replica_t replica;
    char feed[FMX_ID_MAX + 40];
} s_fixture_t;

static int s_teardown(void **state) {
    s_fixture_t *f = *state;
    fmx_registry_destroy(&f->b.registry);
    test_free(f);
    return 0;
}

static int s_setup(void **state) {
    s_fixture_t *f = test_calloc(1, sizeof *f);
    if (!f) return -1;
    f->b.epoch = 0x1234;
    *state = f;
    f->b.registry = fmx_registry_new();
    if (!f->b.registry || fmx_registry_type(f->b.registry, "score", 5) != 0) {
        s_teardown(state);
        return -1;
    }
    f->pnodes[0] = (fmx_plan_node_t){.name = "follows", .type = "retrieve"};
    f->pnodes[1] = (fmx_plan_node_t){.name = "scored", .type = "score"};
    f->plan = (fmx_plan_t){.nodes = f->pnodes, .n_nodes = 2, .output = 1};
    f->nodes[1].ready_us = 1000;
    f->nodes[1].dispatch_us = 1250;
    f->nodes[1].actor_pid = 4242;
    f->run.active = true;
    f->run.slot = 3;
    f->run.gen = 9;
    f->run.plan = &f->plan;
    f->run.nodes = f->nodes;
    f->run.start_us = 900;
    f->run.deadline_us = 150900;
    strcpy(f->run.request_id, "req-1");
    f->run.req.feed = (fmx_str_t){"home", 4};
    f->replica = (fmx_replica_t){.type_index = 0, .pid = 4242};
    return 0;
}

static void test_every_event_leaves_the_run_unchanged(void **state) {
    s_fixture_t *f = *state;
    fmx_run_t before;
    memcpy(&before, &f->run, sizeof before); /* bytes, padding included */
    fmx_node_run_t nodes_before[2];
    memcpy(nodes_before, f->nodes, sizeof nodes_before);

    fmx_usdt_request_start(&f->run);
    fmx_usdt_node_dispatch(&f->b, &f->run, 1, &f->replica, false);
    fmx_usdt_node_dispatch(&f->b, &f->run, 1, &f->replica, true);
    fmx_usdt_node_result(&f->b, &f->run, 1, &f->replica, "ok", 300, 1024);
    fmx_usdt_node_result(&f->b, NULL, 1, &f->replica, "late", 300, 0); /* the request is gone */
    fmx_usdt_node_fallback(&f->run, 0, "timeout", "empty");            /* never dispatched */
    fmx_usdt_request_done(&f->run, "degraded", FMX_CODE_INTERNAL);
    fmx_usdt_request_done(&f->run, "error", FMX_CODE_DEADLINE_EXCEEDED);

    assert_memory_equal(&before, &f->run, sizeof before);
    assert_memory_equal(nodes_before, f->nodes, sizeof nodes_before);
}

/* A feed name is copied into a bounded buffer: longer than FMX_ID_MAX is cut, never overrun. */
static void test_long_and_empty_feed_names(void **state) {
    s_fixture_t *f = *state;
    memset(f->feed, 'f', sizeof f->feed);
    f->run.req.feed = (fmx_str_t){f->feed, sizeof f->feed};
    fmx_usdt_request_start(&f->run);
    fmx_usdt_request_done(&f->run, "ok", FMX_CODE_INTERNAL);
    f->run.req.feed = FMX_STR_NULL;
    fmx_usdt_request_start(&f->run);
    fmx_usdt_request_done(&f->run, "error", FMX_CODE_BAD_REQUEST);
    assert_null(f->run.req.feed.ptr);
}

/* A late result whose replica's type index is unknown still fires, with an empty type. */
static void test_late_result_of_unknown_type(void **state) {
    s_fixture_t *f = *state;
    f->replica.type_index = 99;
    fmx_usdt_node_result(&f->b, NULL, 0, &f->replica, "late", 0, 0);
    assert_int_equal(f->replica.type_index, 99);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_event_leaves_the_run_unchanged, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_long_and_empty_feed_names, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_late_result_of_unknown_type, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
