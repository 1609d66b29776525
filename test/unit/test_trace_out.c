/* test_trace_out.c - `feedctl get --trace-out` (tools/feedctl/trace_out.c): a debug reply's trace
 * becomes Chrome trace JSON with a bar per node on the broker, its queueing nested, and the
 * actor's time on the replica's own process.
 *
 * tools/ is not a library the unit tests link, so the converter is compiled into this test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/mpobj.h"
#include "test/support/jparse.h"
#include "tools/feedctl/trace_out.c"

static void s_kv_str(msgpack_packer *pk, const char *k, const char *v) {
    fmx_mp_pack_cstr(pk, k);
    fmx_mp_pack_cstr(pk, v);
}

static void s_kv_int(msgpack_packer *pk, const char *k, int64_t v) {
    fmx_mp_pack_cstr(pk, k);
    msgpack_pack_int64(pk, v);
}

/* A reply like the broker's, with three trace entries: an actor node, a carousel (the broker's
 * pid) and a node that fell back. */
static void s_reply(msgpack_sbuffer *sb, bool with_trace) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, with_trace ? 4 : 3);
    s_kv_str(&pk, "status", "degraded");
    s_kv_str(&pk, "request_id", "r-\"1\"");
    s_kv_str(&pk, "feed", "home");
    if (!with_trace) return;
    fmx_mp_pack_cstr(&pk, "trace");
    msgpack_pack_array(&pk, 3);
    msgpack_pack_map(&pk, 11);
    s_kv_str(&pk, "node", "follows");
    s_kv_str(&pk, "type", "retrieve");
    s_kv_str(&pk, "actor", "retrieve-1");
    s_kv_str(&pk, "status", "ok");
    s_kv_int(&pk, "start_us", 100);
    s_kv_int(&pk, "end_us", 900);
    s_kv_int(&pk, "queue_us", 40);
    s_kv_int(&pk, "actor_us", 300);
    s_kv_int(&pk, "bytes", 356);
    s_kv_int(&pk, "replica_pid", 4242);
    s_kv_int(&pk, "attempt", 1);
    msgpack_pack_map(&pk, 8);
    s_kv_str(&pk, "node", "new_sellers");
    s_kv_str(&pk, "type", "carousel");
    s_kv_str(&pk, "actor", "broker");
    s_kv_str(&pk, "status", "ok");
    s_kv_int(&pk, "start_us", 950);
    s_kv_int(&pk, "end_us", 960);
    s_kv_int(&pk, "replica_pid", 777);
    s_kv_int(&pk, "actor_us", 0);
    msgpack_pack_map(&pk, 8); /* an older broker: no detail keys but these */
    s_kv_str(&pk, "node", "scored");
    s_kv_str(&pk, "type", "score");
    s_kv_str(&pk, "actor", "score-2");
    s_kv_str(&pk, "status", "fallback");
    s_kv_int(&pk, "start_us", 1000);
    s_kv_int(&pk, "end_us", 31000);
    s_kv_str(&pk, "outcome", "timeout");
    s_kv_str(&pk, "fallback", "passthrough");
}

static jp_value_t *s_convert(bool with_trace, int expect_rc) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_reply(&sb, with_trace);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    char err[FMX_ERR_LEN];
    int rc = fmx_trace_out_write(f, &up.data, err);
    fclose(f);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(rc, expect_rc);
    jp_value_t *doc = NULL;
    if (rc == 0) {
        char perr[160];
        doc = jp_parse(text, len, perr, sizeof perr);
        if (!doc) fail_msg("not valid JSON: %s\n%s", perr, text);
    } else {
        assert_non_null(strstr(err, "debug"));
    }
    free(text);
    return doc;
}

static void test_reply_to_chrome(void **state) {
    (void)state;
    jp_value_t *doc = s_convert(true, 0);
    assert_string_equal(jp_get_str(jp_get(doc, "otherData"), "request_id"), "r-\"1\"");
    const jp_value_t *ev = jp_get(doc, "traceEvents");
    size_t n_x = 0, n_actor = 0, n_queue = 0;
    double broker_pid = -1, actor_pid = -1;
    for (size_t i = 0; i < ev->n; i++) {
        const jp_value_t *e = &ev->items[i];
        const char *ph = jp_get_str(e, "ph"), *cat = jp_get_str(e, "cat");
        const jp_value_t *args = jp_get(e, "args");
        if (strcmp(ph, "M") == 0 && strcmp(jp_get_str(e, "name"), "process_name") == 0) {
            if (strcmp(jp_get_str(args, "name"), "broker") == 0) broker_pid = jp_get_num(e, "pid", -1);
            if (strstr(jp_get_str(args, "name"), "retrieve-1")) actor_pid = jp_get_num(e, "pid", -1);
        }
        if (strcmp(ph, "X") != 0) continue;
        n_x++;
        if (strcmp(cat, "actor") == 0) {
            n_actor++;
            /* the last actor_us before end_us */
            assert_string_equal(jp_get_str(e, "name"), "follows");
            assert_true(jp_get_num(e, "ts", -1) == 600 && jp_get_num(e, "dur", -1) == 300);
            assert_true(jp_get_num(e, "pid", -1) == 4242);
        }
        if (strcmp(cat, "queue") == 0) {
            n_queue++;
            assert_true(jp_get_num(e, "ts", -1) == 60 && jp_get_num(e, "dur", -1) == 40);
        }
        if (strcmp(cat, "node") == 0 && strcmp(jp_get_str(e, "name"), "follows") == 0)
            assert_true(jp_get_num(e, "ts", -1) == 60 && jp_get_num(e, "dur", -1) == 840);
        if (strcmp(cat, "node") == 0 && strcmp(jp_get_str(e, "name"), "scored") == 0) {
            assert_string_equal(jp_get_str(args, "outcome"), "timeout");
            assert_string_equal(jp_get_str(args, "fallback"), "passthrough");
            assert_true(jp_get_num(e, "dur", -1) == 30000);
        }
        if (strcmp(cat, "request") == 0) {
            assert_true(jp_get_num(e, "dur", -1) == 31000);
            assert_string_equal(jp_get_str(args, "status"), "degraded");
        }
    }
    /* request + 3 nodes + 1 queued + 1 actor bar (the carousel and the old entry have none) */
    assert_int_equal(n_x, 6);
    assert_int_equal(n_actor, 1);
    assert_int_equal(n_queue, 1);
    assert_true(broker_pid == 777); /* from the carousel entry */
    assert_true(actor_pid == 4242);
    jp_free(&doc);
}

static void test_no_trace_is_an_error(void **state) {
    (void)state;
    assert_null(s_convert(false, -1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_to_chrome),
        cmocka_unit_test(test_no_trace_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
