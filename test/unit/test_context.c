#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "broker/context.h"

static fmx_scalar_t s_get(fmx_req_context_t *c, const char *name) {
    fmx_scalar_t v = {.kind = FMX_SCALAR_NULL};
    if (fmx_req_context_lookup(c, name, strlen(name), &v) != 0) v.kind = (fmx_scalar_kind_t)-1;
    return v;
}

static void test_facts_and_context_keys(void **state) {
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "geo", 3);
    msgpack_pack_str_with_body(&pk, "DE", 2);
    msgpack_pack_str_with_body(&pk, "time", 4);
    msgpack_pack_int64(&pk, 1700000000); /* 2023-11-14 22:13:20 UTC, a Tuesday */
    msgpack_pack_str_with_body(&pk, "hour", 4);
    msgpack_pack_int(&pk, 5); /* a client key wins over the derived one */
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    fmx_req_context_t c;
    fmx_req_context_init(&c, FMX_STR_LIT("42"), FMX_STR_LIT("r1"), FMX_STR_LIT("home"), &up.data, 0);
    fmx_scalar_t v = s_get(&c, "user_id");
    assert_int_equal(v.kind, FMX_SCALAR_STR);
    assert_memory_equal(v.u.s.ptr, "42", 2);
    v = s_get(&c, "geo");
    assert_int_equal(v.kind, FMX_SCALAR_STR);
    assert_memory_equal(v.u.s.ptr, "DE", 2);
    assert_int_equal(s_get(&c, "hour").u.i, 5);
    assert_int_equal(c.hour, 22);
    assert_int_equal(s_get(&c, "weekday").u.i, 1);
    assert_int_equal((int)s_get(&c, "nope").kind, -1);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

static void test_clock_fallback_and_edges(void **state) {
    (void)state;
    fmx_req_context_t c;
    fmx_req_context_init(&c, FMX_STR_LIT("1"), FMX_STR_NULL, FMX_STR_LIT("f"), NULL, 0);
    assert_int_equal(c.hour, 0);
    assert_int_equal(c.weekday, 3); /* Thursday */
    fmx_req_context_init(&c, FMX_STR_LIT("1"), FMX_STR_NULL, FMX_STR_LIT("f"), NULL, -1);
    assert_int_equal(c.hour, 23);
    assert_int_equal(c.weekday, 2); /* Wednesday 1969-12-31 */
    fmx_req_context_init(&c, FMX_STR_LIT("1"), FMX_STR_NULL, FMX_STR_LIT("f"), NULL, 4 * 86400 + 7200);
    assert_int_equal(c.hour, 2);
    assert_int_equal(c.weekday, 0); /* Monday 1970-01-05 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_facts_and_context_keys),
        cmocka_unit_test(test_clock_fallback_and_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
