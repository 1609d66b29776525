/* test_restart.c - the broker dies (SIGKILL, no goodbye) and a new one binds the same endpoints:
 * the running actors register again within 2 s and a client that kept its socket is served. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "test/integration/harness.h"

#define REPLY_TIMEOUT_MS 5000

static void s_request_ok(h_client_t *c, const char *what)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_request(&sb, "home", 42, 2000);
    h_reply_t r;
    int rc = h_call_ok(c, sb.data, sb.size, REPLY_TIMEOUT_MS, &r);
    msgpack_sbuffer_destroy(&sb);
    bool ok = rc == 0 && h_status_is(&r, "ok");
    if (!ok) {
        fprintf(stderr, "%s: not served ok (rc %d)\n", what, rc);
        h_print("reply", r.root);
    }
    h_reply_fini(&r);
    assert_true(ok);
}

static void s_restart(h_t *h, int sig)
{
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    assert_true(n > 0);
    assert_true(h_start_broker(h, NULL) > 0);
    assert_int_equal(h_start_feed_actors(h, 10000), n);

    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    s_request_ok(c, "before the restart");

    pid_t old = h->broker;
    assert_int_equal(h_kill(old, sig), 0);
    int status;
    assert_int_equal(h_wait_exit(h, old, 3000, &status), 0);
    if (sig == SIGKILL)
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    else
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    pid_t fresh = h_start_broker(h, NULL);
    assert_true(fresh > 0);
    int64_t start = h_now_ms();
    for (int i = 0; i < n; i++) {
        int left = (int)(start + 2000 - h_now_ms());
        int rc = h_wait_ready(h, types[i], 1, left > 0 ? left : 1);
        if (rc != 0)
            fprintf(stderr, "`%s` did not register with the new broker within 2 s\n", types[i]);
        assert_int_equal(rc, 0);
    }
    /* The same client socket reconnects by itself. */
    s_request_ok(c, "after the restart");
    h_client_destroy(&c);
    /* The actors lived through it. */
    for (size_t i = 0; i < h->n_children; i++)
        if (h->children[i].pid && h->children[i].pid != fresh)
            assert_true(h_alive(h, h->children[i].pid));
    h_pass(h);
}

static void test_broker_sigkill(void **state)
{
    s_restart(*state, SIGKILL);
}

static void test_broker_sigterm(void **state)
{
    s_restart(*state, SIGTERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_broker_sigkill, h_test_teardown),
        cmocka_unit_test_teardown(test_broker_sigterm, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
