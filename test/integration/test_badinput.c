/* test_badinput.c - every kind of malformed client request of DESIGN.md section 4, sent as raw
 * frames to a real broker: each gets an error reply with code bad_request, the broker stays up,
 * and a valid request is served afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "test/integration/harness.h"

#define REPLY_TIMEOUT_MS 3000
#define MAX_CASES 64

typedef struct {
    const char *name;
    msgpack_sbuffer sb;
} s_case_t;

typedef struct {
    s_case_t cases[MAX_CASES];
    size_t n;
} s_cases_t;

static int s_setup(void **state)
{
    h_t *h = *state;
    if (h_start_broker(h, NULL) < 0 || h_start_feed_actors(h, 10000) < 0) {
        h_stop_all(h);
        return -1;
    }
    return 0;
}

static msgpack_sbuffer *s_add(s_cases_t *cs, const char *name)
{
    assert_true(cs->n < MAX_CASES);
    s_case_t *c = &cs->cases[cs->n++];
    c->name = name;
    msgpack_sbuffer_init(&c->sb);
    return &c->sb;
}

static void s_add_bytes(s_cases_t *cs, const char *name, const void *p, size_t len)
{
    msgpack_sbuffer *sb = s_add(cs, name);
    if (len > 0) /* an empty write would memcpy to the NULL data of an empty sbuffer */
        msgpack_sbuffer_write(sb, p, len);
}

static void s_build(s_cases_t *cs)
{
    msgpack_sbuffer *sb;
    msgpack_packer pk;

    s_add_bytes(cs, "not msgpack (0xc1 is never used)", "\xc1\xc1\xc1", 3);
    s_add_bytes(cs, "text (several msgpack ints)", "GET / HTTP/1.0\r\n\r\n", 18);
    s_add_bytes(cs, "empty frame", "", 0);

    /* Truncated: a valid request cut in the middle of a string. */
    msgpack_sbuffer full;
    msgpack_sbuffer_init(&full);
    h_pack_map(&full, "feed", 's', "home", "user_id", 'i', 42, "request_id", 's', "truncated-request", NULL);
    s_add_bytes(cs, "truncated msgpack", full.data, full.size - 5);
    /* A valid request followed by trailing bytes: not exactly one object. */
    sb = s_add(cs, "trailing bytes after the map");
    msgpack_sbuffer_write(sb, full.data, full.size);
    msgpack_sbuffer_write(sb, "\x01", 1);
    msgpack_sbuffer_destroy(&full);

    sb = s_add(cs, "an array");
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_int(&pk, 2);
    msgpack_pack_int(&pk, 3);
    sb = s_add(cs, "a string");
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "home", 4);
    s_add_bytes(cs, "nil", "\xc0", 1);
    s_add_bytes(cs, "an int", "\x2a", 1);

    h_pack_map(s_add(cs, "map without feed or event"), "user_id", 'i', 42, NULL);
    h_pack_map(s_add(cs, "empty map"), NULL);
    h_pack_map(s_add(cs, "feed is an int"), "feed", 'i', 7, "user_id", 'i', 42, NULL);
    h_pack_map(s_add(cs, "feed is empty"), "feed", 's', "", "user_id", 'i', 42, NULL);
    h_pack_map(s_add(cs, "feed with a path"), "feed", 's', "../home", "user_id", 'i', 42, NULL);
    h_pack_map(s_add(cs, "user_id missing"), "feed", 's', "home", NULL);
    msgpack_sbuffer inner;
    msgpack_sbuffer_init(&inner);
    h_pack_map(&inner, "a", 'i', 1, NULL);
    h_pack_map(s_add(cs, "user_id is a map"), "feed", 's', "home", "user_id", 'r', inner.data, inner.size, NULL);
    h_pack_map(s_add(cs, "user_id is a float"), "feed", 's', "home", "user_id", 'd', 4.2, NULL);
    h_pack_map(s_add(cs, "user_id is nil"), "feed", 's', "home", "user_id", 'n', NULL);
    h_pack_map(s_add(cs, "limit is a string"), "feed", 's', "home", "user_id", 'i', 42, "limit", 's', "5", NULL);
    h_pack_map(s_add(cs, "limit 0"), "feed", 's', "home", "user_id", 'i', 42, "limit", 'i', 0, NULL);
    h_pack_map(s_add(cs, "limit 1000000"), "feed", 's', "home", "user_id", 'i', 42, "limit", 'i', 1000000, NULL);
    h_pack_map(s_add(cs, "limit -1"), "feed", 's', "home", "user_id", 'i', 42, "limit", 'i', -1, NULL);
    h_pack_map(s_add(cs, "deadline_ms negative"), "feed", 's', "home", "user_id", 'i', 42, "deadline_ms", 'i', -5,
               NULL);
    h_pack_map(s_add(cs, "deadline_ms a float"), "feed", 's', "home", "user_id", 'i', 42, "deadline_ms", 'd', 10.5,
               NULL);
    h_pack_map(s_add(cs, "debug is an int"), "feed", 's', "home", "user_id", 'i', 42, "debug", 'i', 1, NULL);
    h_pack_map(s_add(cs, "context is a string"), "feed", 's', "home", "user_id", 'i', 42, "context", 's', "geo=DE",
               NULL);
    h_pack_map(s_add(cs, "context is an array"), "feed", 's', "home", "user_id", 'i', 42, "context", 'r', "\x91\x01",
               (size_t)2, NULL);
    h_pack_map(s_add(cs, "request_id is an int"), "feed", 's', "home", "user_id", 'i', 42, "request_id", 'i', 9,
               NULL);
    h_pack_map(s_add(cs, "duplicate feed key"), "feed", 's', "home", "feed", 's', "home", "user_id", 'i', 42, NULL);
    h_pack_map(s_add(cs, "feed and event"), "feed", 's', "home", "event", 's', "click", "user_id", 'i', 42, "token",
               's', "v1.x.0", NULL);
    h_pack_map(s_add(cs, "event without token"), "event", 's', "click", NULL);
    h_pack_map(s_add(cs, "event is an int"), "event", 'i', 3, "token", 's', "v1.x.0", NULL);
    msgpack_sbuffer_destroy(&inner);

    /* An id longer than any id may be. */
    char long_id[300];
    memset(long_id, 'x', sizeof long_id);
    h_pack_map(s_add(cs, "user_id of 300 bytes"), "feed", 's', "home", "user_id", 'S', long_id, sizeof long_id, NULL);

    /* 2 MiB: a well-formed request padded past the request size limit. */
    size_t pad_len = 2u << 20;
    char *pad = malloc(pad_len);
    assert_non_null(pad);
    memset(pad, 'p', pad_len);
    h_pack_map(s_add(cs, "2 MiB frame"), "feed", 's', "home", "user_id", 'i', 42, "pad", 'S', pad, pad_len, NULL);
    free(pad);

    /* Headers whose counts the bytes cannot hold: msgpack-c would allocate for them up front. */
    s_add_bytes(cs, "array header claiming 2^32-1 elements", "\xdd\xff\xff\xff\xff", 5);
    s_add_bytes(cs, "map header claiming 2^32-1 pairs", "\xdf\xff\xff\xff\xff", 5);
    s_add_bytes(cs, "str header claiming 4 GiB", "\xdb\xff\xff\xff\xff" "abc", 8);
    s_add_bytes(cs, "map whose value claims 2^32-1 elements",
                "\x82\xa4" "feed" "\xa4" "home" "\xa7" "user_id" "\xdd\xff\xff\xff\xff", 24);

    /* 100 nested arrays around a nil; and the same inside a request's context. */
    sb = s_add(cs, "100 nested arrays");
    for (int i = 0; i < 100; i++)
        msgpack_sbuffer_write(sb, "\x91", 1);
    msgpack_sbuffer_write(sb, "\xc0", 1);
    char nested[101];
    memset(nested, '\x91', 100);
    nested[100] = '\xc0';
    sb = s_add(cs, "context with 100 nested arrays");
    msgpack_sbuffer inner_ctx;
    msgpack_sbuffer_init(&inner_ctx);
    msgpack_sbuffer_write(&inner_ctx, "\x81\xa1k", 3);
    msgpack_sbuffer_write(&inner_ctx, nested, sizeof nested);
    h_pack_map(sb, "feed", 's', "home", "user_id", 'i', 42, "context", 'r', inner_ctx.data, inner_ctx.size, NULL);
    msgpack_sbuffer_destroy(&inner_ctx);

    s_add_bytes(cs, "ext type", "\xd4\x01\x00", 3);
}

static void s_free(s_cases_t *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        msgpack_sbuffer_destroy(&cs->cases[i].sb);
    cs->n = 0;
}

/* [empty][a][b] from a DEALER: one delimiter and two body frames. The broker may answer
 * bad_request or drop it; either way it must stay alive. */
static void s_multipart(h_t *h)
{
    h_client_t *c = h_client_new_type(h, h->front, ZMQ_DEALER);
    assert_non_null(c);
    void *d = c->sock;
    msgpack_sbuffer a;
    msgpack_sbuffer_init(&a);
    h_pack_map(&a, "feed", 's', "home", "user_id", 'i', 42, NULL);
    assert_int_equal(zmq_send(d, "", 0, ZMQ_SNDMORE), 0);
    assert_true(zmq_send(d, a.data, a.size, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(d, a.data, a.size, 0) >= 0);
    msgpack_sbuffer_destroy(&a);

    zmq_pollitem_t item = {d, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, 1500) == 1) {
        /* A reply: [empty][one msgpack map with bad_request]. */
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, d, 0) >= 0);
        assert_int_equal(zmq_msg_size(&m), 0);
        assert_true(zmq_msg_more(&m));
        assert_true(zmq_msg_recv(&m, d, 0) >= 0);
        assert_false(zmq_msg_more(&m));
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        assert_int_equal(msgpack_unpack_next(&up, zmq_msg_data(&m), zmq_msg_size(&m), &off), MSGPACK_UNPACK_SUCCESS);
        h_reply_t r = {.root = &up.data};
        if (!h_error_code_is(&r, "bad_request"))
            h_print("multipart reply", &up.data);
        assert_true(h_status_is(&r, "error"));
        assert_true(h_error_code_is(&r, "bad_request"));
        msgpack_unpacked_destroy(&up);
        zmq_msg_close(&m);
    }
    h_client_destroy(&c);
}

static void test_bad_requests(void **state)
{
    h_t *h = *state;
    pid_t broker = h->broker;
    s_cases_t cs = {.n = 0};
    s_build(&cs);
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    size_t failures = 0;
    for (size_t i = 0; i < cs.n; i++) {
        h_reply_t r;
        int rc = h_call(c, cs.cases[i].sb.data, cs.cases[i].sb.size, REPLY_TIMEOUT_MS, &r);
        bool ok = rc == 0 && h_status_is(&r, "error") && h_error_code_is(&r, "bad_request") &&
                  h_get(h_get(r.root, "error"), "message") &&
                  h_get(h_get(r.root, "error"), "message")->type == MSGPACK_OBJECT_STR;
        if (!ok) {
            fprintf(stderr, "case '%s' (%zu bytes): rc %d\n", cs.cases[i].name, cs.cases[i].sb.size, rc);
            h_print("  reply", r.root);
            failures++;
        }
        h_reply_fini(&r);
        if (!h_alive(h, broker)) {
            fprintf(stderr, "the broker died on case '%s'\n", cs.cases[i].name);
            break;
        }
    }
    size_t sent = cs.n;
    s_free(&cs);
    assert_int_equal(failures, 0);
    assert_true(h_alive(h, broker));

    s_multipart(h);
    assert_true(h_alive(h, broker));

    /* Still serving. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_map(&sb, "feed", 's', "home", "user_id", 'i', 42, H_CTX_US, "request_id", 's', "after-bad-input", NULL);
    h_reply_t r;
    int rc = h_call_ok(c, sb.data, sb.size, 5000, &r);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0 || !h_status_is(&r, "ok"))
        h_print("valid request after bad input", r.root);
    assert_int_equal(rc, 0);
    assert_true(h_status_is(&r, "ok"));
    assert_true(h_str_eq(h_get(r.root, "request_id"), "after-bad-input"));
    h_reply_fini(&r);
    h_client_destroy(&c);

    /* Counted, and the process is still the same one. */
    assert_int_equal(h_admin(h, "stats", 2000, &r), 0);
    int64_t bad = h_get_int(h_get(r.root, "counters"), "bad_requests");
    if (bad < (int64_t)sent)
        h_print("stats", r.root);
    assert_true(bad >= (int64_t)sent);
    h_reply_fini(&r);
    assert_int_equal(h_kill(broker, 0), 0);
    assert_true(h_alive(h, broker));
    h_pass(h);
}

/* The admin socket is as defensive as the frontend. */
static void test_bad_admin(void **state)
{
    h_t *h = *state;
    h_client_t *c = h_client_new(h, h->admin);
    assert_non_null(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_map(&sb, "cmd", 's', "no-such-command", NULL);
    h_reply_t r;
    assert_int_equal(h_call(c, sb.data, sb.size, REPLY_TIMEOUT_MS, &r), 0);
    assert_true(h_error_code_is(&r, "bad_request"));
    h_reply_fini(&r);
    msgpack_sbuffer_destroy(&sb);
    static const struct {
        const char *bytes;
        size_t len;
    } raw[] = {{"", 0}, {"\xc1", 1}, {"\xdd\xff\xff\xff\xff", 5}, {"\x81\xa3" "cmd\x07", 6}, {"\x93\x01\x02\x03", 4}};
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        int rc = h_call(c, raw[i].bytes, raw[i].len, REPLY_TIMEOUT_MS, &r);
        if (rc != 0 || !h_error_code_is(&r, "bad_request")) {
            fprintf(stderr, "admin case %zu: rc %d\n", i, rc);
            h_print("  reply", r.root);
        }
        assert_int_equal(rc, 0);
        assert_true(h_status_is(&r, "error"));
        assert_true(h_error_code_is(&r, "bad_request"));
        h_reply_fini(&r);
    }
    h_client_destroy(&c);
    assert_true(h_alive(h, h->broker));
    assert_int_equal(h_admin(h, "stats", 2000, &r), 0);
    assert_true(h_status_is(&r, "ok"));
    h_reply_fini(&r);
    h_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_requests, s_setup, h_test_teardown),
        cmocka_unit_test_setup_teardown(test_bad_admin, s_setup, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
