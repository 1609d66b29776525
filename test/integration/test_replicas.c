/* test_replicas.c - several replicas of a node type: the broker spreads tasks over them, and
 * SIGKILL of a replica holding a task loses no request. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test/integration/harness.h"

#define REPLY_TIMEOUT_MS 5000
#define READY_TIMEOUT_MS 10000

/* The second replicated type: score when the feeds use it, else the first type but hydrate. */
static void s_other_type(char types[][32], int n, char *out)
{
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(types[i], "score") == 0) {
            strcpy(out, "score");
            return;
        }
        if (!out[0] && strcmp(types[i], "hydrate") != 0)
            strcpy(out, types[i]);
    }
}

/* Starts the broker and one actor of every feed type, except that `hydrate` gets the two given
 * replicas (extra args each) and `other` (if set) a second plain replica. */
static void s_start(h_t *h, const char *const *hydrate_a, const char *const *hydrate_b, const char *other,
                    pid_t *a_pid, pid_t *b_pid)
{
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    assert_true(n > 0);
    assert_true(h_start_broker(h, NULL) > 0);
    bool has_hydrate = false;
    for (int i = 0; i < n; i++) {
        if (strcmp(types[i], "hydrate") == 0) {
            has_hydrate = true;
            continue;
        }
        assert_true(h_start_actor(h, types[i], NULL, NULL) > 0);
        if (other && strcmp(types[i], other) == 0)
            assert_true(h_start_actor(h, types[i], NULL, NULL) > 0);
    }
    assert_true(has_hydrate);
    *a_pid = h_start_actor(h, "hydrate", "hydrate-a", hydrate_a);
    *b_pid = h_start_actor(h, "hydrate", "hydrate-b", hydrate_b);
    assert_true(*a_pid > 0 && *b_pid > 0);
    for (int i = 0; i < n; i++) {
        int want = strcmp(types[i], "hydrate") == 0 || (other && strcmp(types[i], other) == 0) ? 2 : 1;
        int rc = h_wait_ready(h, types[i], want, READY_TIMEOUT_MS);
        if (rc != 0)
            fprintf(stderr, "type %s: fewer than %d ready replicas\n", types[i], want);
        assert_int_equal(rc, 0);
    }
}

/* One request on c; asserts it is answered with ok or degraded. */
static void s_request_served(h_client_t *c, int user, const char *what)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_request(&sb, "home", user, 2000);
    h_reply_t r;
    int rc = h_call(c, sb.data, sb.size, REPLY_TIMEOUT_MS, &r);
    msgpack_sbuffer_destroy(&sb);
    bool served = rc == 0 && (h_status_is(&r, "ok") || h_status_is(&r, "degraded"));
    if (!served) {
        fprintf(stderr, "%s: user %d not served (rc %d)\n", what, user, rc);
        h_print("reply", r.root);
    }
    h_reply_fini(&r);
    assert_true(served);
}

/* The admin `replicas` entry of pid, or NULL. */
static const msgpack_object *s_replica(const h_reply_t *r, pid_t pid)
{
    const msgpack_object *list = h_get(r->root, "replicas");
    if (!list || list->type != MSGPACK_OBJECT_ARRAY)
        return NULL;
    for (uint32_t i = 0; i < list->via.array.size; i++)
        if (h_get_int(&list->via.array.ptr[i], "pid") == (int64_t)pid)
            return &list->via.array.ptr[i];
    return NULL;
}

/* Every replica of `type` got tasks and none more than 75% of them. */
static void s_check_balance(const h_reply_t *r, const char *type, int want_replicas)
{
    const msgpack_object *list = h_get(r->root, "replicas");
    assert_non_null(list);
    assert_int_equal(list->type, MSGPACK_OBJECT_ARRAY);
    int64_t tasks[16], total = 0;
    int n = 0;
    for (uint32_t i = 0; i < list->via.array.size && n < 16; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        if (!h_str_eq(h_get(e, "type"), type))
            continue;
        tasks[n] = h_get_int(e, "tasks");
        assert_true(tasks[n] != INT64_MIN);
        total += tasks[n++];
    }
    if (n != want_replicas)
        h_print("replicas", list);
    assert_int_equal(n, want_replicas);
    for (int i = 0; i < n; i++) {
        if (tasks[i] <= 0 || tasks[i] * 4 > total * 3) {
            fprintf(stderr, "%s: replica %d got %lld of %lld tasks\n", type, i, (long long)tasks[i], (long long)total);
            h_print("replicas", list);
        }
        assert_true(tasks[i] > 0);
        assert_true(tasks[i] * 4 <= total * 3);
    }
}

static void test_balance(void **state)
{
    h_t *h = *state;
    char types[H_MAX_TYPES][32], other[32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    assert_true(n > 1);
    s_other_type(types, n, other);
    assert_true(other[0] != '\0');
    pid_t a, b;
    s_start(h, NULL, NULL, other, &a, &b);

    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    for (int i = 0; i < 40; i++)
        s_request_served(c, 1 + i % 200, "balance");
    h_client_destroy(&c);

    h_reply_t r;
    assert_int_equal(h_admin(h, "replicas", 2000, &r), 0);
    assert_true(h_status_is(&r, "ok"));
    s_check_balance(&r, "hydrate", 2);
    s_check_balance(&r, other, 2);
    /* Each replica reports what it is. */
    const msgpack_object *ea = s_replica(&r, a);
    assert_non_null(ea);
    assert_true(h_str_eq(h_get(ea, "name"), "hydrate-a"));
    assert_true(h_get_int(ea, "capacity") > 0);
    assert_int_equal(h_get_int(ea, "inflight"), 0);
    assert_true(h_get_int(ea, "idle_ms") >= 0);
    h_reply_fini(&r);
    h_pass(h);
}

static void test_kill_busy_replica(void **state)
{
    h_t *h = *state;
    static const char *const slow[] = {"--inject", "delay=300", NULL};
    pid_t victim, survivor;
    s_start(h, slow, NULL, NULL, &victim, &survivor);

    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    bool killed = false;
    /* Which replica gets a task is the broker's choice: retry until the victim holds one. */
    for (int attempt = 0; attempt < 20 && !killed; attempt++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        h_pack_request(&sb, "home", 42, 3000);
        assert_int_equal(h_send(c, sb.data, sb.size), 0);
        msgpack_sbuffer_destroy(&sb);
        int64_t until = h_now_ms() + 250;
        while (!killed && h_now_ms() < until) {
            h_reply_t r;
            if (h_admin(h, "replicas", 500, &r) == 0) {
                const msgpack_object *e = s_replica(&r, victim);
                if (e && h_get_int(e, "inflight") >= 1) {
                    assert_int_equal(h_kill(victim, SIGKILL), 0);
                    killed = true;
                }
            }
            h_reply_fini(&r);
            if (!killed)
                h_sleep_ms(5);
        }
        h_reply_t r;
        int rc = h_recv(c, REPLY_TIMEOUT_MS, &r);
        bool served = rc == 0 && (h_status_is(&r, "ok") || h_status_is(&r, "degraded"));
        if (!served) {
            fprintf(stderr, "attempt %d (victim %s): not served, rc %d\n", attempt, killed ? "killed" : "idle", rc);
            h_print("reply", r.root);
        }
        h_reply_fini(&r);
        assert_true(served);
    }
    if (!killed)
        fprintf(stderr, "the slow replica never got a task in 20 requests\n");
    assert_true(killed);
    int status;
    assert_int_equal(h_wait_exit(h, victim, 2000, &status), 0);
    /* The victim's task went to the survivor, not to a fallback. */
    h_reply_t stats;
    assert_int_equal(h_admin(h, "stats", 2000, &stats), 0);
    const msgpack_object *counters = h_get(stats.root, "counters");
    assert_non_null(counters);
    assert_true(h_get_int(counters, "redispatches") >= 1);
    h_reply_fini(&stats);

    for (int i = 0; i < 10; i++)
        s_request_served(c, 42 + i, "after kill");
    h_client_destroy(&c);
    assert_true(h_alive(h, survivor));
    h_pass(h);
}

/* SIGTERM to a replica busy with a task: it finishes the task (the request is served ok, not
 * re-dispatched or degraded), says `disconnect`, and exits 0. */
static void test_sigterm_finishes_in_flight_work(void **state)
{
    h_t *h = *state;
    static const char *const slow[] = {"--inject", "delay=400", NULL};
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    assert_true(h_start_broker(h, NULL) > 0);
    pid_t victim = -1;
    for (int i = 0; i < n; i++) {
        pid_t pid = h_start_actor(h, types[i], NULL, strcmp(types[i], "hydrate") == 0 ? slow : NULL);
        assert_true(pid > 0);
        if (strcmp(types[i], "hydrate") == 0)
            victim = pid;
    }
    for (int i = 0; i < n; i++)
        assert_int_equal(h_wait_ready(h, types[i], 1, READY_TIMEOUT_MS), 0);
    assert_true(victim > 0);

    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_request(&sb, "home", 42, 3000);
    assert_int_equal(h_send(c, sb.data, sb.size), 0);
    msgpack_sbuffer_destroy(&sb);
    bool busy = false;
    for (int64_t until = h_now_ms() + 2000; !busy && h_now_ms() < until; h_sleep_ms(5)) {
        h_reply_t r;
        if (h_admin(h, "replicas", 500, &r) == 0) {
            const msgpack_object *e = s_replica(&r, victim);
            busy = e && h_get_int(e, "inflight") >= 1;
        }
        h_reply_fini(&r);
    }
    assert_true(busy);
    assert_int_equal(h_kill(victim, SIGTERM), 0);

    h_reply_t r;
    assert_int_equal(h_recv(c, REPLY_TIMEOUT_MS, &r), 0);
    if (!h_status_is(&r, "ok"))
        h_print("reply", r.root);
    assert_true(h_status_is(&r, "ok"));
    h_reply_fini(&r);
    int status = -1;
    assert_int_equal(h_wait_exit(h, victim, 3000, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* It said `disconnect`, so the broker drops it at once instead of after 3 silent heartbeats
     * (300 ms here): poll well inside that window. */
    int64_t ready = -1, redispatches = -1;
    for (int64_t until = h_now_ms() + 150; ready != 0 && h_now_ms() < until; h_sleep_ms(10)) {
        h_reply_t stats;
        assert_int_equal(h_admin(h, "stats", 2000, &stats), 0);
        ready = h_get_int(h_get(h_get(stats.root, "types"), "hydrate"), "ready");
        redispatches = h_get_int(h_get(stats.root, "counters"), "redispatches");
        h_reply_fini(&stats);
    }
    assert_int_equal(ready, 0);
    assert_int_equal(redispatches, 0);
    h_client_destroy(&c);
    h_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_balance, h_test_teardown),
        cmocka_unit_test_teardown(test_kill_busy_replica, h_test_teardown),
        cmocka_unit_test_teardown(test_sigterm_finishes_in_flight_work, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
