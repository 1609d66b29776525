/* test_faults.c - the fault matrix: each actor fault x each fallback kind. Whatever the actor
 * does (answers late, hangs, spins, crashes, answers garbage), the reply arrives by the request's
 * deadline + 5 ms, says `degraded` (or the error a required node calls for) and names the node.
 * Then SIGSTOP/SIGCONT of every replica of a type: degraded on time, then healthy again. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/integration/harness.h"

#define DEADLINE_MS 400 /* the fm_* feeds' deadline_ms */
#define USER 3 /* follows more than 5 live streams in the 200-user demo data: fm_passthrough needs 5 */

typedef enum { K_EMPTY, K_STATIC, K_CACHED, K_PASSTHROUGH, K_REQUIRED, K_COUNT } kind_t;
static const char *const s_feeds[K_COUNT] = {"fm_empty", "fm_static", "fm_cached", "fm_passthrough", "fm_required"};

static void s_start_broker(h_t *h) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/integration/feeds_faults", getenv("FMX_FIXTURES"));
    const char *const extra[] = {"--feeds", dir, NULL};
    assert_true(h_start_broker(h, extra) > 0);
}

static void s_request(h_t *h, const char *feed, h_reply_t *r, int64_t *elapsed_ms) {
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_map(&sb, "feed", 's', feed, "user_id", 'i', USER, NULL);
    int64_t t0 = h_now_ms();
    assert_int_equal(h_call(c, sb.data, sb.size, 5000, r), 0);
    *elapsed_ms = h_now_ms() - t0;
    msgpack_sbuffer_destroy(&sb);
    h_client_destroy(&c);
}

/* "id,id,..." of the reply's items */
static void s_ids(const h_reply_t *r, char *out, size_t cap) {
    const msgpack_object *items = h_get(r->root, "items");
    size_t n = 0;
    out[0] = '\0';
    for (uint32_t i = 0; items && i < items->via.array.size && n < cap; i++) {
        const msgpack_object *id = h_get(&items->via.array.ptr[i], "id");
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", i ? "," : "", (int)id->via.str.size, id->via.str.ptr);
    }
}

static void s_case(h_t *h, const char *fault, kind_t kind) {
    s_start_broker(h);
    assert_true(h_start_actor(h, "layout", NULL, NULL) > 0);
    const char *faulty = kind == K_PASSTHROUGH ? "rank" : "retrieve";
    if (kind == K_PASSTHROUGH) assert_true(h_start_actor(h, "retrieve", NULL, NULL) > 0);
    char cached_ids[512] = "";
    h_reply_t r;
    int64_t ms;
    if (kind == K_CACHED) { /* a healthy answer first, to be remembered */
        pid_t healthy = h_start_actor(h, "retrieve", "healthy", NULL);
        assert_int_equal(h_wait_ready(h, "retrieve", 1, 10000), 0);
        assert_int_equal(h_wait_ready(h, "layout", 1, 10000), 0);
        s_request(h, s_feeds[kind], &r, &ms);
        assert_true(h_status_is(&r, "ok"));
        s_ids(&r, cached_ids, sizeof cached_ids);
        assert_true(cached_ids[0] != '\0');
        h_reply_fini(&r);
        assert_int_equal(h_kill(healthy, SIGTERM), 0);
        assert_int_equal(h_wait_exit(h, healthy, 5000, NULL), 0);
    }
    const char *const inject[] = {"--inject", fault, NULL};
    pid_t bad = h_start_actor(h, faulty, "faulty", inject);
    assert_true(bad > 0);
    assert_int_equal(h_wait_ready(h, faulty, 1, 10000), 0);
    assert_int_equal(h_wait_ready(h, "layout", 1, 10000), 0);

    s_request(h, s_feeds[kind], &r, &ms);
    char ids[512];
    s_ids(&r, ids, sizeof ids);
    if (ms > DEADLINE_MS + 5) fail_msg("%s x %s: reply after %lld ms", fault, s_feeds[kind], (long long)ms);
    if (kind == K_REQUIRED) {
        /* garbage fails the node at once; every other fault runs out its budget */
        const char *code = strcmp(fault, "garbage") == 0 ? "internal" : "deadline_exceeded";
        if (!h_error_code_is(&r, code)) h_print("reply", r.root);
        assert_true(h_error_code_is(&r, code));
    } else {
        if (!h_status_is(&r, "degraded")) h_print("reply", r.root);
        assert_true(h_status_is(&r, "degraded"));
        const msgpack_object *fb = h_get(r.root, "fallbacks");
        assert_int_equal(fb->via.array.size, 1);
        assert_true(h_str_eq(&fb->via.array.ptr[0], "src"));
        if (kind == K_EMPTY) assert_string_equal(ids, "");
        if (kind == K_STATIC) assert_string_equal(ids, "static1,static2");
        if (kind == K_CACHED) assert_string_equal(ids, cached_ids);
        if (kind == K_PASSTHROUGH) assert_int_equal(h_get(r.root, "items")->via.array.size, 5); /* not rank's 2 */
    }
    h_reply_fini(&r);
    if (strncmp(fault, "delay=", 6) == 0 && kind == K_EMPTY) {
        /* the late answer arrives and is dropped, counted */
        int64_t late = 0;
        for (int64_t until = h_now_ms() + 2000; late < 1 && h_now_ms() < until; h_sleep_ms(20)) {
            h_reply_t st;
            if (h_admin(h, "stats", 1000, &st) == 0) late = h_get_int(h_get(st.root, "counters"), "late_results");
            h_reply_fini(&st);
        }
        assert_true(late >= 1);
    }
    /* a hung or spinning actor cannot stop gracefully: that is the point of the fault */
    h_kill(bad, SIGKILL);
    h_wait_exit(h, bad, 5000, NULL);
    assert_int_equal(h_stop_all(h), 0);
}

static void s_matrix(void **state, const char *fault) {
    for (int k = 0; k < K_COUNT; k++) s_case(*state, fault, (kind_t)k);
}

static void test_late(void **state) { s_matrix(state, "delay=600"); }
static void test_hang(void **state) { s_matrix(state, "hang"); }
static void test_spin(void **state) { s_matrix(state, "spin"); }
static void test_crash(void **state) { s_matrix(state, "crash-after=0"); }
static void test_garbage(void **state) { s_matrix(state, "garbage"); }

/* Every replica of a type frozen: degraded on time; thawed: healthy again. */
static void test_sigstop_then_sigcont(void **state) {
    h_t *h = *state;
    s_start_broker(h);
    assert_true(h_start_actor(h, "layout", NULL, NULL) > 0);
    pid_t a = h_start_actor(h, "retrieve", "r1", NULL), b = h_start_actor(h, "retrieve", "r2", NULL);
    assert_int_equal(h_wait_ready(h, "retrieve", 2, 10000), 0);
    assert_int_equal(h_wait_ready(h, "layout", 1, 10000), 0);
    h_reply_t r;
    int64_t ms;
    s_request(h, "fm_empty", &r, &ms);
    assert_true(h_status_is(&r, "ok"));
    h_reply_fini(&r);
    assert_int_equal(h_kill(a, SIGSTOP), 0);
    assert_int_equal(h_kill(b, SIGSTOP), 0);
    for (int i = 0; i < 5; i++) {
        s_request(h, "fm_empty", &r, &ms);
        assert_true(ms <= DEADLINE_MS + 5);
        assert_true(h_status_is(&r, "degraded"));
        h_reply_fini(&r);
    }
    assert_int_equal(h_kill(a, SIGCONT), 0);
    assert_int_equal(h_kill(b, SIGCONT), 0);
    bool healthy = false;
    for (int64_t until = h_now_ms() + 5000; !healthy && h_now_ms() < until; h_sleep_ms(50)) {
        s_request(h, "fm_empty", &r, &ms);
        healthy = h_status_is(&r, "ok");
        h_reply_fini(&r);
    }
    assert_true(healthy);
}

/* A budgetless node that hangs is cut off early enough for its downstream to run in time. */
static void test_downstream_reserve(void **state) {
    h_t *h = *state;
    s_start_broker(h);
    assert_true(h_start_actor(h, "layout", NULL, NULL) > 0);
    pid_t healthy = h_start_actor(h, "retrieve", "healthy", NULL);
    assert_int_equal(h_wait_ready(h, "retrieve", 1, 10000), 0);
    assert_int_equal(h_wait_ready(h, "layout", 1, 10000), 0);
    h_reply_t r;
    int64_t ms;
    for (int i = 0; i < 5; i++) { /* the broker learns how long layout takes */
        s_request(h, "fm_reserve", &r, &ms);
        assert_true(h_status_is(&r, "ok"));
        h_reply_fini(&r);
    }
    assert_int_equal(h_kill(healthy, SIGTERM), 0);
    assert_int_equal(h_wait_exit(h, healthy, 5000, NULL), 0);
    const char *const hang[] = {"--inject", "hang", NULL};
    pid_t bad = h_start_actor(h, "retrieve", "faulty", hang);
    assert_int_equal(h_wait_ready(h, "retrieve", 1, 10000), 0);
    /* Only src falls back: layout still runs, on src's fallback. A broker descheduled for longer
     * than the reserve loses that race, so allow three tries; without a reserve all three fail. */
    bool only_src = false;
    for (int attempt = 0; attempt < 3 && !only_src; attempt++) {
        s_request(h, "fm_reserve", &r, &ms);
        assert_true(ms <= DEADLINE_MS + 5);
        assert_true(h_status_is(&r, "degraded"));
        const msgpack_object *fb = h_get(r.root, "fallbacks");
        only_src = fb->via.array.size == 1 && h_str_eq(&fb->via.array.ptr[0], "src");
        if (!only_src) h_print("reply", r.root);
        h_reply_fini(&r);
    }
    assert_true(only_src);
    h_kill(bad, SIGKILL);
    h_wait_exit(h, bad, 5000, NULL);
}

/* A required node fails: the feed's on_failure feed is served, on time, and the reply says so. */
static void test_on_failure_feed(void **state) {
    h_t *h = *state;
    s_start_broker(h);
    assert_true(h_start_actor(h, "layout", NULL, NULL) > 0);
    assert_true(h_start_actor(h, "retrieve", NULL, NULL) > 0);
    const char *const hang[] = {"--inject", "hang", NULL};
    pid_t bad = h_start_actor(h, "hydrate", "faulty", hang);
    const char *types[] = {"layout", "retrieve", "hydrate"};
    for (int i = 0; i < 3; i++) assert_int_equal(h_wait_ready(h, types[i], 1, 10000), 0);
    h_reply_t r;
    int64_t ms;
    s_request(h, "fm_failover", &r, &ms);
    if (!h_status_is(&r, "degraded")) h_print("reply", r.root);
    assert_true(ms <= DEADLINE_MS + 5);
    assert_true(h_status_is(&r, "degraded"));
    assert_true(h_str_eq(h_get(r.root, "feed"), "fm_backup")); /* the feed served */
    const msgpack_object *fb = h_get(r.root, "fallbacks");
    assert_int_equal(fb->via.array.size, 1);
    assert_true(h_str_eq(&fb->via.array.ptr[0], "hyd"));
    assert_int_equal(h_get(r.root, "items")->via.array.size, 3); /* fm_backup's limit */
    h_reply_fini(&r);
    h_reply_t st;
    assert_int_equal(h_admin(h, "stats", 2000, &st), 0);
    assert_int_equal(h_get_int(h_get(st.root, "counters"), "failovers"), 1);
    h_reply_fini(&st);
    /* Counted under the feed asked for, not the one served. */
    assert_int_equal(h_admin(h, "metrics", 2000, &st), 0);
    const msgpack_object *text = h_get(st.root, "text");
    assert_non_null(text);
    static const char line[] = "\nfeedmix_requests_total{feed=\"fm_failover\",status=\"degraded\"} 1\n";
    assert_non_null(memmem(text->via.str.ptr, text->via.str.size, line, strlen(line)));
    h_reply_fini(&st);
    h_kill(bad, SIGKILL);
    h_wait_exit(h, bad, 5000, NULL);
}

/* A hedged node: when its first copy sits on a slow replica, a second copy on another replica
 * answers, and the slow one's answer is dropped as late. */
static void test_hedge(void **state) {
    h_t *h = *state;
    s_start_broker(h);
    assert_true(h_start_actor(h, "layout", NULL, NULL) > 0);
    const char *const slow[] = {"--inject", "delay=300", NULL};
    pid_t s1 = h_start_actor(h, "retrieve", "slow", slow);
    assert_true(s1 > 0);
    assert_int_equal(h_wait_ready(h, "retrieve", 1, 10000), 0); /* registered first: picked first on ties */
    assert_true(h_start_actor(h, "retrieve", "fast", NULL) > 0);
    assert_int_equal(h_wait_ready(h, "retrieve", 2, 10000), 0);
    assert_int_equal(h_wait_ready(h, "layout", 1, 10000), 0);
    for (int i = 0; i < 6; i++) {
        h_reply_t r;
        int64_t ms;
        s_request(h, "fm_hedge", &r, &ms);
        if (!h_status_is(&r, "ok") || ms >= 200) {
            h_print("reply", r.root);
            fail_msg("request %d: %lld ms (the slow replica takes 300)", i, (long long)ms);
        }
        h_reply_fini(&r);
    }
    h_reply_t st;
    assert_int_equal(h_admin(h, "stats", 2000, &st), 0);
    int64_t hedges = h_get_int(h_get(st.root, "counters"), "hedges");
    h_reply_fini(&st);
    assert_true(hedges >= 1);
    h_kill(s1, SIGKILL); /* its late answers may still be pending: no graceful drain needed */
    h_wait_exit(h, s1, 5000, NULL);
}

/* Hedges share a budget with retries: at most a tenth of first dispatches plus a 100-task
 * burst, however much every task would like a second copy. */
static void test_hedge_budget(void **state) {
    h_t *h = *state;
    s_start_broker(h);
    assert_true(h_start_actor(h, "layout", NULL, NULL) > 0);
    const char *const slow[] = {"--inject", "delay=5", NULL};
    assert_true(h_start_actor(h, "retrieve", "r1", slow) > 0);
    assert_true(h_start_actor(h, "retrieve", "r2", slow) > 0);
    assert_int_equal(h_wait_ready(h, "retrieve", 2, 10000), 0);
    assert_int_equal(h_wait_ready(h, "layout", 1, 10000), 0);
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    const int n = 400;
    for (int i = 0; i < n; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        h_pack_map(&sb, "feed", 's', "fm_hedge_always", "user_id", 'i', USER, NULL);
        h_reply_t r;
        assert_int_equal(h_call(c, sb.data, sb.size, 5000, &r), 0);
        msgpack_sbuffer_destroy(&sb);
        assert_true(h_status_is(&r, "ok"));
        h_reply_fini(&r);
    }
    h_client_destroy(&c);
    h_reply_t st;
    assert_int_equal(h_admin(h, "stats", 2000, &st), 0);
    int64_t hedges = h_get_int(h_get(st.root, "counters"), "hedges");
    int64_t denied = h_get_int(h_get(st.root, "counters"), "extra_denied");
    h_reply_fini(&st);
    fprintf(stderr, "%d requests: %lld hedges, %lld refused by the budget\n", n, (long long)hedges, (long long)denied);
    /* src and out each earn a tenth on first dispatch: 2n/10 tokens plus the 100-token burst */
    assert_true(hedges <= 2 * n / 10 + 100);
    assert_true(hedges >= 100);
    assert_true(denied >= 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_late, h_test_teardown),
        cmocka_unit_test_teardown(test_hang, h_test_teardown),
        cmocka_unit_test_teardown(test_spin, h_test_teardown),
        cmocka_unit_test_teardown(test_crash, h_test_teardown),
        cmocka_unit_test_teardown(test_garbage, h_test_teardown),
        cmocka_unit_test_teardown(test_sigstop_then_sigcont, h_test_teardown),
        cmocka_unit_test_teardown(test_downstream_reserve, h_test_teardown),
        cmocka_unit_test_teardown(test_on_failure_feed, h_test_teardown),
        cmocka_unit_test_teardown(test_hedge, h_test_teardown),
        cmocka_unit_test_teardown(test_hedge_budget, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
