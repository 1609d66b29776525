#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <zmq.h>

#include "common/fmx.h"
#include "common/frame.h"

typedef struct {
    void *ctx, *a, *b;
} s_pair_t;

static int s_setup(void **state) {
    static s_pair_t p;
    static int n;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://test-frame-%d", n++);
    p.ctx = zmq_ctx_new();
    p.a = zmq_socket(p.ctx, ZMQ_PAIR);
    p.b = zmq_socket(p.ctx, ZMQ_PAIR);
    if (zmq_bind(p.a, ep) != 0 || zmq_connect(p.b, ep) != 0) return -1;
    *state = &p;
    return 0;
}

static int s_teardown(void **state) {
    s_pair_t *p = *state;
    int zero = 0;
    zmq_setsockopt(p->a, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(p->b, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(p->a);
    zmq_close(p->b);
    zmq_ctx_term(p->ctx);
    return 0;
}

static void test_sbuffer_moves_without_copy_and_roundtrips(void **state) {
    s_pair_t *p = *state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (int i = 0; i < 1000; i++) msgpack_pack_int(&pk, i); /* large enough not to be a VSM message */
    size_t size = sb.size;
    const char *data = sb.data;
    zmq_msg_t m;
    assert_int_equal(fmx_frame_from_sbuffer(&m, &sb), 0);
    assert_null(sb.data);
    assert_int_equal(sb.size, 0);
    assert_ptr_equal(zmq_msg_data(&m), data); /* the same buffer: no copy */
    assert_int_equal(zmq_msg_size(&m), size);
    /* A copy shares the buffer; the original stays valid after the copy is sent. */
    assert_int_equal(fmx_frame_send_copy(p->a, &m, ZMQ_SNDMORE), 0);
    assert_int_equal(fmx_frame_send_bytes(p->a, "xy", 2, 0), 0);
    assert_ptr_equal(zmq_msg_data(&m), data);
    zmq_msg_close(&m);

    zmq_msg_t f[4];
    int overflow;
    int n = fmx_frame_recv(p->b, f, 4, &overflow);
    assert_int_equal(n, 2);
    assert_int_equal(overflow, 0);
    assert_int_equal(zmq_msg_size(&f[0]), size);
    assert_int_equal(zmq_msg_size(&f[1]), 2);
    assert_memory_equal(zmq_msg_data(&f[1]), "xy", 2);
    fmx_frame_close_all(f, n);
    msgpack_sbuffer_destroy(&sb);
}

static void test_recv_bounds_frames_and_reports_overflow(void **state) {
    s_pair_t *p = *state;
    for (int i = 0; i < 10; i++) assert_int_equal(fmx_frame_send_bytes(p->a, &i, sizeof i, i < 9 ? ZMQ_SNDMORE : 0), 0);
    assert_int_equal(fmx_frame_send_bytes(p->a, "next", 4, 0), 0);
    zmq_msg_t f[3];
    int overflow;
    int n = fmx_frame_recv(p->b, f, 3, &overflow);
    assert_int_equal(n, 3);
    assert_int_equal(overflow, 1);
    int v;
    memcpy(&v, zmq_msg_data(&f[2]), sizeof v);
    assert_int_equal(v, 2);
    fmx_frame_close_all(f, n);
    /* The dropped frames were consumed: the next message starts cleanly. */
    n = fmx_frame_recv(p->b, f, 3, &overflow);
    assert_int_equal(n, 1);
    assert_int_equal(overflow, 0);
    assert_memory_equal(zmq_msg_data(&f[0]), "next", 4);
    fmx_frame_close_all(f, n);
    /* Nothing waiting: -1 at once, no blocking. */
    assert_int_equal(fmx_frame_recv(p->b, f, 3, &overflow), -1);
}

static void test_empty_sbuffer_sends_an_empty_frame(void **state) {
    s_pair_t *p = *state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(fmx_frame_send_sbuffer(p->a, &sb, 0), 0);
    zmq_msg_t f[1];
    int overflow;
    assert_int_equal(fmx_frame_recv(p->b, f, 1, &overflow), 1);
    assert_int_equal(zmq_msg_size(&f[0]), 0);
    fmx_frame_close_all(f, 1);
}

static void test_parse_u32(void **state) {
    (void)state;
    uint32_t v = 7;
    assert_int_equal(fmx_parse_u32("42", 1, 100, &v), 0);
    assert_int_equal(v, 42);
    const char *bad[] = {"", "0", "101", "-1", "+5", " 5", "5 ", "5x", "0x10", "99999999999999999999", NULL};
    for (int i = 0; bad[i]; i++) {
        v = 7;
        if (fmx_parse_u32(bad[i], 1, 100, &v) != -1) fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(v, 7);
    }
    assert_int_equal(fmx_parse_u32(NULL, 0, 1, &v), -1);
    assert_int_equal(fmx_parse_u32("4294967295", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, UINT32_MAX);
}

static void test_parse_i64(void **state) {
    (void)state;
    int64_t v = 7;
    assert_true(fmx_parse_i64("0", &v) && v == 0);
    assert_true(fmx_parse_i64("-42", &v) && v == -42);
    assert_true(fmx_parse_i64("9223372036854775807", &v) && v == INT64_MAX);
    assert_true(fmx_parse_i64("-9223372036854775808", &v) && v == INT64_MIN);
    const char *bad[] = {"", "-", "007", "-0x1", "1.5", " 1", "1 ", "+1", "9223372036854775808", NULL};
    for (int i = 0; bad[i]; i++) {
        v = 7;
        if (fmx_parse_i64(bad[i], &v)) fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(v, 7);
    }
    assert_false(fmx_parse_i64(NULL, &v));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sbuffer_moves_without_copy_and_roundtrips, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_recv_bounds_frames_and_reports_overflow, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_empty_sbuffer_sends_an_empty_frame, s_setup, s_teardown),
        cmocka_unit_test(test_parse_u32),
        cmocka_unit_test(test_parse_i64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
