/* test_load_faults.c - failures under steady load: a replica SIGKILLed while requests keep coming
 * loses none of them; a broker SIGKILLed and restarted under load gets its actors back within two
 * heartbeats and clients that retry are answered. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "test/integration/harness.h"

#define N_CLIENTS 4

typedef struct {
    int64_t sent, answered, lost;
} s_tally_t;

/* One round: every client sends, then every client reads. A request without a reply within
 * timeout_ms is lost (and, with retry, sent once more on a fresh socket). */
static void s_round(h_t *h, h_client_t **c, int round, int timeout_ms, bool retry, s_tally_t *t) {
    for (int i = 0; i < N_CLIENTS; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        h_pack_request(&sb, "home", 1 + (round * N_CLIENTS + i) % 200, 3000);
        assert_int_equal(h_send(c[i], sb.data, sb.size), 0);
        msgpack_sbuffer_destroy(&sb);
        t->sent++;
    }
    for (int i = 0; i < N_CLIENTS; i++) {
        h_reply_t r;
        int rc = h_recv(c[i], timeout_ms, &r);
        if (rc != 0 && retry) { /* h_recv recreated the socket: ask again, as a real client would */
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            h_pack_request(&sb, "home", 1 + (round * N_CLIENTS + i) % 200, 3000);
            rc = h_call(c[i], sb.data, sb.size, 5000, &r);
            msgpack_sbuffer_destroy(&sb);
        }
        if (rc == 0 && (h_status_is(&r, "ok") || h_status_is(&r, "degraded")))
            t->answered++;
        else {
            if (rc == 0) h_print("not served", r.root);
            t->lost++;
        }
        if (rc == 0) h_reply_fini(&r);
    }
    (void)h;
}

static void test_sigkill_one_of_two_replicas_under_load(void **state) {
    h_t *h = *state;
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    assert_true(h_start_broker(h, NULL) > 0);
    pid_t victims[H_MAX_TYPES];
    for (int i = 0; i < n; i++) {
        victims[i] = h_start_actor(h, types[i], NULL, NULL);
        assert_true(victims[i] > 0 && h_start_actor(h, types[i], NULL, NULL) > 0);
    }
    for (int i = 0; i < n; i++) assert_int_equal(h_wait_ready(h, types[i], 2, 10000), 0);
    h_client_t *c[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++) assert_non_null(c[i] = h_client_new(h, h->front));
    s_tally_t t = {0};
    for (int round = 0; round < 60; round++) {
        if (round == 20) /* one replica of every type dies at once, mid-load */
            for (int i = 0; i < n; i++) assert_int_equal(h_kill(victims[i], SIGKILL), 0);
        s_round(h, c, round, 5000, false, &t);
    }
    for (int i = 0; i < N_CLIENTS; i++) h_client_destroy(&c[i]);
    for (int i = 0; i < n; i++) h_wait_exit(h, victims[i], 2000, NULL);
    fprintf(stderr, "sent %lld answered %lld lost %lld\n", (long long)t.sent, (long long)t.answered, (long long)t.lost);
    assert_int_equal(t.lost, 0);
    assert_int_equal(t.answered, t.sent);
}

static void test_broker_sigkill_restart_under_load(void **state) {
    h_t *h = *state;
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    assert_true(h_start_broker(h, NULL) > 0);
    assert_int_equal(h_start_feed_actors(h, 10000), n);
    h_client_t *c[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++) assert_non_null(c[i] = h_client_new(h, h->front));
    s_tally_t t = {0};
    for (int round = 0; round < 10; round++) s_round(h, c, round, 5000, false, &t);
    /* Kill it with requests in flight: those are lost to the clients, who retry. */
    for (int i = 0; i < N_CLIENTS; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        h_pack_request(&sb, "home", 7, 3000);
        assert_int_equal(h_send(c[i], sb.data, sb.size), 0);
        msgpack_sbuffer_destroy(&sb);
    }
    pid_t old = h->broker;
    assert_int_equal(h_kill(old, SIGKILL), 0);
    assert_int_equal(h_wait_exit(h, old, 3000, NULL), 0);
    assert_true(h_start_broker(h, NULL) > 0);
    /* Measure from when the new broker answers, not from its (ASan-slow) process start. */
    h_reply_t up;
    bool answering = false;
    for (int64_t until = h_now_ms() + 5000; !answering && h_now_ms() < until;) {
        answering = h_admin(h, "stats", 100, &up) == 0;
        h_reply_fini(&up);
    }
    assert_true(answering);
    int64_t start = h_now_ms();
    for (int i = 0; i < n; i++) assert_int_equal(h_wait_ready(h, types[i], 1, 2000), 0);
    int64_t rejoin_ms = h_now_ms() - start;
    fprintf(stderr, "actors re-registered within %lld ms of the new broker answering\n", (long long)rejoin_ms);
    assert_true(rejoin_ms <= 2 * 100 + 100); /* two heartbeats (100 ms here) and slack for the poll */
    for (int i = 0; i < N_CLIENTS; i++) {
        h_reply_t r;
        if (h_recv(c[i], 300, &r) == 0) h_reply_fini(&r); /* the old broker's replies never come */
    }
    s_tally_t after = {0};
    for (int round = 0; round < 10; round++) s_round(h, c, round, 2000, true, &after);
    for (int i = 0; i < N_CLIENTS; i++) h_client_destroy(&c[i]);
    assert_int_equal(after.lost, 0);
    assert_int_equal(after.answered, after.sent);
    assert_int_equal(t.lost, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sigkill_one_of_two_replicas_under_load, h_test_teardown),
        cmocka_unit_test_teardown(test_broker_sigkill_restart_under_load, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
