#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/cluster.h"
#include "common/store.h"
#include "common/log.h"

static const char *s_fixture(const char *name) {
    static char path[1024];
    const char *dir = getenv("FMX_FIXTURES");
    snprintf(path, sizeof path, "%s/cluster/%s", dir ? dir : "test/fixtures", name);
    return path;
}

static void test_defaults_and_overlay(void **state) {
    (void)state;
    fmx_cluster_t c;
    char err[FMX_ERR_LEN];
    fmx_cluster_defaults(&c);
    assert_string_equal(c.frontend, "tcp://127.0.0.1:7400");
    assert_string_equal(c.backend, "tcp://127.0.0.1:7401");
    assert_int_equal(c.heartbeat_ms, 1000);
    assert_int_equal(fmx_cluster_load(&c, s_fixture("good.yaml"), err), 0);
    assert_string_equal(c.frontend, "ipc:///tmp/fmx-front");
    assert_string_equal(c.backend, "tcp://127.0.0.1:7401"); /* untouched */
    assert_int_equal(c.heartbeat_ms, 250);
    assert_int_equal(c.max_requests, 100);
    assert_int_equal(c.n_actors, 2);
    assert_string_equal(c.actors[0].type, "retrieve");
    assert_int_equal(c.actors[0].replicas, 3);
    assert_string_equal(c.actors[1].type, "score");
}

static void test_tokens_and_events(void **state) {
    (void)state;
    fmx_cluster_t c;
    char err[FMX_ERR_LEN];
    fmx_cluster_defaults(&c);
    assert_string_equal(c.token_key_file, ""); /* no key unless configured */
    assert_string_equal(c.events_path, "var/log/events.jsonl");
    assert_int_equal(c.events_fsync, FMX_FSYNC_INTERVAL);
    assert_int_equal(c.events_fsync_interval_ms, 1000);
    assert_int_equal(c.events_queue_kb, 4096);
    if (fmx_cluster_load(&c, s_fixture("tokens.yaml"), err) != 0) fail_msg("%s", err);
    assert_string_equal(c.token_key_file, "/tmp/fmx.key");
    assert_string_equal(c.events_path, "/tmp/fmx-events.jsonl");
    assert_int_equal(c.events_fsync, FMX_FSYNC_ALWAYS);
    assert_int_equal(c.events_fsync_interval_ms, 250);
    assert_int_equal(c.events_queue_kb, 64);
    assert_string_equal(c.frontend, "tcp://127.0.0.1:7400"); /* untouched */
}

static void s_expect_error(const char *file, const char *where, const char *what) {
    fmx_cluster_t c;
    char err[FMX_ERR_LEN] = "";
    fmx_cluster_defaults(&c);
    assert_int_equal(fmx_cluster_load(&c, s_fixture(file), err), -1);
    if (!strstr(err, where) || !strstr(err, what)) fail_msg("unexpected error for %s: %s", file, err);
}

static void test_errors_name_file_line_column(void **state) {
    (void)state;
    s_expect_error("bad_key.yaml", "bad_key.yaml:3:3:", "unknown key in `broker`: heartbeat");
    s_expect_error("bad_range.yaml", "bad_range.yaml:2:17:", "1..65535");
    s_expect_error("bad_syntax.yaml", "bad_syntax.yaml:", "");
    s_expect_error("missing.yaml", "missing.yaml", "cannot open");
    s_expect_error("bad_fsync.yaml", "bad_fsync.yaml:2:10:", "expected always, interval or never for fsync");
}

/* store: an LMDB directory (today's form, backend optional) or a Redis URL; either way one
 * string, which feedmix-supervise passes to the actors as --store. */
static void test_store_backends(void **state) {
    (void)state;
    fmx_cluster_t c;
    char err[FMX_ERR_LEN] = "";
    fmx_cluster_defaults(&c);
    assert_string_equal(c.store_path, "var/store");
    if (fmx_cluster_load(&c, s_fixture("store_redis.yaml"), err) != 0) fail_msg("%s", err);
    assert_string_equal(c.store_path, "redis://127.0.0.1:6380/2");
    assert_true(fmx_store_is_redis(c.store_path));
    assert_int_equal(fmx_cluster_load(&c, s_fixture("store_lmdb.yaml"), err), 0);
    assert_string_equal(c.store_path, "/var/lib/feedmix/store");
    assert_false(fmx_store_is_redis(c.store_path));

    s_expect_error("bad_store_backend.yaml", "bad_store_backend.yaml:2:12:", "expected lmdb or redis for backend");
    s_expect_error("bad_store_url.yaml", "bad_store_url.yaml:3:8:", "the port is missing");
    s_expect_error("bad_store_no_url.yaml", "bad_store_no_url.yaml:3:9:", "`path` is for backend lmdb");
    s_expect_error("bad_store_url_lmdb.yaml", "bad_store_url_lmdb.yaml:2:8:", "`url` needs backend: redis");
    s_expect_error("bad_store_key.yaml", "bad_store_key.yaml:3:3:", "unknown key in `store`");
    s_expect_error("bad_store_redis_path.yaml", "bad_store_redis_path.yaml:2:9:", "backend: redis, url:");
}

static void test_metrics_listen(void **state) {
    (void)state;
    fmx_cluster_t c;
    char err[FMX_ERR_LEN] = "";
    fmx_cluster_defaults(&c);
    assert_string_equal(c.metrics_listen, "off"); /* no port unless asked for */
    assert_int_equal(fmx_cluster_load(&c, s_fixture("metrics.yaml"), err), 0);
    assert_string_equal(c.metrics_listen, "127.0.0.1:0");
    s_expect_error("bad_metrics.yaml", "bad_metrics.yaml:2:11:", "'nowhere' is not an IPv4 address");
    assert_int_equal(fmx_cluster_check_metrics("off", err), 0);
    assert_int_equal(fmx_cluster_check_metrics("[::1]:9400", err), 0);
    assert_int_equal(fmx_cluster_check_metrics("127.0.0.1:70000", err), -1);
}

/* log: and trace: sections (the request log, sampled traces); a trace section turns traces on. */
static void test_log_and_trace_sections(void **state) {
    (void)state;
    fmx_cluster_t c;
    char err[FMX_ERR_LEN];
    fmx_cluster_defaults(&c);
    assert_string_equal(c.request_log, "off");
    assert_string_equal(c.trace_dir, "off");
    assert_int_equal(fmx_cluster_load(&c, s_fixture("logs.yaml"), err), 0);
    assert_string_equal(c.request_log, "stderr");
    assert_int_equal(c.request_log_level, FMX_LOG_WARN);
    assert_string_equal(c.trace_dir, "var/traces");
    assert_true(c.trace_sample_rate == 0.25);
    assert_int_equal(c.n_trace_users, 2);
    assert_string_equal(c.trace_users[0], "42");
    assert_string_equal(c.trace_users[1], "user-7");
    s_expect_error("bad_rate.yaml", "bad_rate.yaml:2:16:", "0..1");
    s_expect_error("bad_users.yaml", "bad_users.yaml:2:10:", "list of user ids");
}

static void test_the_shipped_cluster_file_loads(void **state) {
    (void)state;
    const char *dir = getenv("FMX_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/../../configs/cluster.yaml", dir ? dir : "test/fixtures");
    fmx_cluster_t c;
    char err[FMX_ERR_LEN] = "";
    fmx_cluster_defaults(&c);
    if (fmx_cluster_load(&c, path, err) != 0) fail_msg("%s", err);
    assert_true(c.n_actors >= 5);
    assert_string_equal(c.metrics_listen, "127.0.0.1:9400"); /* DESIGN.md section 7 */
    assert_string_equal(c.token_key_file, "var/secret/token.key");
    assert_string_equal(c.events_path, "var/log/events.jsonl");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_overlay),
        cmocka_unit_test(test_tokens_and_events),
        cmocka_unit_test(test_errors_name_file_line_column),
        cmocka_unit_test(test_store_backends),
        cmocka_unit_test(test_metrics_listen),
        cmocka_unit_test(test_log_and_trace_sections),
        cmocka_unit_test(test_the_shipped_cluster_file_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
