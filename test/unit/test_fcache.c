#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <zmq.h>

#include "broker/fcache.h"

static void s_msg(zmq_msg_t *m, size_t size, char fill) {
    zmq_msg_init_size(m, size);
    memset(zmq_msg_data(m), fill, size);
}

static char s_get(fmx_fcache_t *c, uint64_t key, uint64_t now) {
    zmq_msg_t out;
    if (fmx_fcache_get(c, key, now, &out) != 0) return 0;
    char first = *(char *)zmq_msg_data(&out);
    zmq_msg_close(&out);
    return first;
}

static void test_put_get_replace_and_share(void **state) {
    (void)state;
    fmx_fcache_t *c = fmx_fcache_new(1 << 20, 1000);
    zmq_msg_t a, b;
    s_msg(&a, 100, 'a');
    assert_int_equal(fmx_fcache_put(c, 1, &a, 0), 0);
    /* The caller's message stays valid and the cache holds a share, not a copy. */
    zmq_msg_t out;
    assert_int_equal(fmx_fcache_get(c, 1, 10, &out), 0);
    assert_ptr_equal(zmq_msg_data(&out), zmq_msg_data(&a));
    zmq_msg_close(&out);
    zmq_msg_close(&a);
    assert_int_equal(s_get(c, 1, 10), 'a'); /* still there after the producer let go */
    s_msg(&b, 50, 'b');
    assert_int_equal(fmx_fcache_put(c, 1, &b, 20), 0);
    zmq_msg_close(&b);
    assert_int_equal(s_get(c, 1, 30), 'b');
    assert_int_equal(s_get(c, 2, 30), 0);
    fmx_fcache_stats_t st = fmx_fcache_stats(c);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, 50);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.misses, 1);
    fmx_fcache_destroy(&c);
    assert_null(c);
}

static void test_ttl(void **state) {
    (void)state;
    fmx_fcache_t *c = fmx_fcache_new(1 << 20, 1000);
    zmq_msg_t a;
    s_msg(&a, 10, 'a');
    fmx_fcache_put(c, 7, &a, 5000);
    zmq_msg_close(&a);
    assert_int_equal(s_get(c, 7, 6000), 'a');
    assert_int_equal(s_get(c, 7, 6001), 0); /* older than the TTL: gone */
    assert_int_equal(fmx_fcache_stats(c).expired, 1);
    assert_int_equal(fmx_fcache_stats(c).entries, 0);
    fmx_fcache_destroy(&c);
}

static void test_lru_eviction_by_bytes(void **state) {
    (void)state;
    fmx_fcache_t *c = fmx_fcache_new(300, 1000000);
    for (uint64_t k = 1; k <= 3; k++) {
        zmq_msg_t m;
        s_msg(&m, 100, (char)('0' + k));
        fmx_fcache_put(c, k, &m, k);
        zmq_msg_close(&m);
    }
    assert_int_equal(s_get(c, 1, 10), '1'); /* 1 is now the most recent; 2 the least */
    zmq_msg_t m;
    s_msg(&m, 150, '4');
    fmx_fcache_put(c, 4, &m, 11);
    zmq_msg_close(&m);
    assert_int_equal(s_get(c, 2, 12), 0);
    assert_int_equal(s_get(c, 3, 12), 0); /* 150 more bytes needed two victims */
    assert_int_equal(s_get(c, 1, 12), '1');
    assert_int_equal(s_get(c, 4, 12), '4');
    assert_true(fmx_fcache_stats(c).bytes <= 300);
    assert_int_equal(fmx_fcache_stats(c).evicted, 2);
    /* Larger than the whole bound: not kept, nothing evicted for it. */
    s_msg(&m, 301, 'x');
    assert_int_equal(fmx_fcache_put(c, 5, &m, 13), 0);
    zmq_msg_close(&m);
    assert_int_equal(s_get(c, 5, 14), 0);
    assert_int_equal(s_get(c, 1, 14), '1');
    fmx_fcache_destroy(&c);
}

static void test_many_keys_churn(void **state) {
    (void)state;
    fmx_fcache_t *c = fmx_fcache_new(64 * 1000, 1000000);
    for (uint64_t k = 0; k < 20000; k++) {
        zmq_msg_t m;
        s_msg(&m, 100, (char)(k % 100));
        uint64_t key = k * 0x9E3779B97F4A7C15ull; /* spread, with collisions in the low bits */
        assert_int_equal(fmx_fcache_put(c, key, &m, k), 0);
        zmq_msg_close(&m);
        assert_int_equal(s_get(c, key, k), (char)(k % 100));
    }
    fmx_fcache_stats_t st = fmx_fcache_stats(c);
    assert_int_equal(st.entries, 640);
    assert_int_equal(st.bytes, 64000);
    /* the newest 640 are all present, the one before them is not */
    for (uint64_t k = 20000 - 640; k < 20000; k++) assert_int_equal(s_get(c, k * 0x9E3779B97F4A7C15ull, 20000), (char)(k % 100));
    assert_int_equal(s_get(c, (20000 - 641) * 0x9E3779B97F4A7C15ull, 20000), 0);
    fmx_fcache_destroy(&c);
}

static void test_keys_separate_feed_node_params(void **state) {
    (void)state;
    assert_true(fmx_fcache_key("ab", "c", "p", 1) != fmx_fcache_key("a", "bc", "p", 1));
    assert_true(fmx_fcache_key("f", "n", "p1", 2) != fmx_fcache_key("f", "n", "p2", 2));
    assert_int_equal(fmx_fcache_key("f", "n", "p", 1), fmx_fcache_key("f", "n", "p", 1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_and_share), cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_lru_eviction_by_bytes),     cmocka_unit_test(test_many_keys_churn),
        cmocka_unit_test(test_keys_separate_feed_node_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
