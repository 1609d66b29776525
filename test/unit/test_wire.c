/* test_wire.c - broker <-> actor header frames (schemas/wire.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/mpobj.h"
#include "schemas/wire.h"

typedef struct {
    msgpack_sbuffer sb;
    msgpack_zone zone;
    fmx_wire_header_t h;
    char err[FMX_ERR_LEN];
} fx_t;

static int fx_setup(void **state) {
    fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    msgpack_sbuffer_init(&fx->sb);
    assert_true(msgpack_zone_init(&fx->zone, 2048));
    *state = fx;
    return 0;
}

static int fx_teardown(void **state) {
    fx_t *fx = *state;
    msgpack_sbuffer_destroy(&fx->sb);
    msgpack_zone_destroy(&fx->zone);
    free(fx);
    return 0;
}

static int decode(fx_t *fx) {
    fx->err[0] = '\0';
    msgpack_zone_clear(&fx->zone);
    return fmx_wire_header_decode(&fx->h, fx->sb.data, fx->sb.size, &fx->zone, fx->err);
}

static bool str_is(fmx_str_t s, const char *want) {
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.ptr, want, s.len) == 0);
}

/* The header map must start with v, cmd (readers may peek at them). */
static void assert_prefix(fx_t *fx, const char *cmd, uint32_t n_keys) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, fx->sb.data, fx->sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, fx->sb.size);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(u.data.via.map.size, n_keys);
    assert_true(fmx_mp_str_eq(&u.data.via.map.ptr[0].key, "v"));
    assert_int_equal(u.data.via.map.ptr[0].val.via.u64, 1);
    assert_true(fmx_mp_str_eq(&u.data.via.map.ptr[1].key, "cmd"));
    assert_true(fmx_mp_str_eq(&u.data.via.map.ptr[1].val, cmd));
    msgpack_unpacked_destroy(&u);
}

/* ---- round trips --------------------------------------------------------------------------- */

static void test_ready(void **state) {
    fx_t *fx = *state;
    assert_int_equal(fmx_wire_pack_ready(&fx->sb, "score", 4, 12345, "score@host-1"), 0);
    assert_prefix(fx, "ready", 6);
    assert_int_equal(decode(fx), 0);
    assert_int_equal(fx->h.cmd, FMX_CMD_READY);
    assert_true(str_is(fx->h.type, "score"));
    assert_int_equal(fx->h.capacity, 4);
    assert_int_equal(fx->h.pid, 12345);
    assert_true(str_is(fx->h.name, "score@host-1"));
    assert_int_equal(fx->h.task_id, 0);
    assert_int_equal(fx->h.node.len, 0);
    assert_int_equal(fx->h.error.len, 0);

    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_wire_pack_ready(&fx->sb, "retrieve", 1024, -1, NULL), 0);
    assert_prefix(fx, "ready", 5);
    assert_int_equal(decode(fx), 0);
    assert_int_equal(fx->h.capacity, 1024);
    assert_int_equal(fx->h.pid, -1);
    assert_int_equal(fx->h.name.len, 0);
}

static void test_heartbeat_and_disconnect(void **state) {
    fx_t *fx = *state;
    assert_int_equal(fmx_wire_pack_heartbeat(&fx->sb), 0);
    assert_prefix(fx, "hb", 2);
    assert_int_equal(decode(fx), 0);
    assert_int_equal(fx->h.cmd, FMX_CMD_HEARTBEAT);

    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_wire_pack_disconnect(&fx->sb, "shutting down"), 0);
    assert_prefix(fx, "disconnect", 3);
    assert_int_equal(decode(fx), 0);
    assert_int_equal(fx->h.cmd, FMX_CMD_DISCONNECT);
    assert_true(str_is(fx->h.reason, "shutting down"));

    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_wire_pack_disconnect(&fx->sb, NULL), 0);
    assert_prefix(fx, "disconnect", 2);
    assert_int_equal(decode(fx), 0);
    assert_int_equal(fx->h.cmd, FMX_CMD_DISCONNECT);
    assert_int_equal(fx->h.reason.len, 0);
}

static void test_task(void **state) {
    fx_t *fx = *state;
    assert_int_equal(fmx_wire_pack_task(&fx->sb, UINT64_MAX, FMX_STR_LIT("req-1"), FMX_STR_LIT("rk-2"),
                                        FMX_STR_LIT("scored"), FMX_STR_LIT("score"), 29500, 2),
                     0);
    assert_prefix(fx, "task", 9);
    assert_int_equal(decode(fx), 0);
    assert_int_equal(fx->h.cmd, FMX_CMD_TASK);
    assert_true(fx->h.task_id == UINT64_MAX);
    assert_true(str_is(fx->h.request_id, "req-1"));
    assert_true(str_is(fx->h.ranking_id, "rk-2"));
    assert_true(str_is(fx->h.node, "scored"));
    assert_true(str_is(fx->h.type, "score"));
    assert_int_equal(fx->h.budget_us, 29500);
    assert_int_equal(fx->h.attempt, 2);
    assert_int_equal(fx->h.capacity, 0);
    /* strings point into the frame */
    assert_true(fx->h.node.ptr > fx->sb.data && fx->h.node.ptr < fx->sb.data + fx->sb.size);

    /* rank may be empty, budget 0 is legal (the actor then drops the task) */
    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_wire_pack_task(&fx->sb, 0, FMX_STR_LIT("r"), FMX_STR_NULL, FMX_STR_LIT("n"), FMX_STR_LIT("t"),
                                        0, UINT32_MAX),
                     0);
    assert_int_equal(decode(fx), 0);
    assert_int_equal(fx->h.ranking_id.len, 0);
    assert_int_equal(fx->h.budget_us, 0);
    assert_true(fx->h.attempt == UINT32_MAX);
}

static void test_result(void **state) {
    fx_t *fx = *state;
    assert_int_equal(fmx_wire_pack_result(&fx->sb, 77, true, NULL, 1234), 0);
    assert_prefix(fx, "result", 5);
    assert_int_equal(decode(fx), 0);
    assert_int_equal(fx->h.cmd, FMX_CMD_RESULT);
    assert_int_equal(fx->h.task_id, 77);
    assert_true(fx->h.ok);
    assert_int_equal(fx->h.elapsed_us, 1234);
    assert_int_equal(fx->h.error.len, 0);

    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_wire_pack_result(&fx->sb, 78, false, "model not found", 9), 0);
    assert_prefix(fx, "result", 6);
    assert_int_equal(decode(fx), 0);
    assert_false(fx->h.ok);
    assert_true(str_is(fx->h.error, "model not found"));
    assert_int_equal(fx->h.task_id, 78);
    assert_int_equal(fx->h.elapsed_us, 9);

    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_wire_pack_result(&fx->sb, 79, false, NULL, 0), 0);
    assert_int_equal(decode(fx), 0);
    assert_false(fx->h.ok);
    assert_true(fx->h.error.len > 0);

    /* an enormous error message is cut so the header still fits */
    char *big = malloc(100000);
    assert_non_null(big);
    memset(big, 'e', 99999);
    big[99999] = '\0';
    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_wire_pack_result(&fx->sb, 80, false, big, 0), 0);
    assert_true(fx->sb.size <= FMX_WIRE_HEADER_MAX);
    assert_int_equal(decode(fx), 0);
    assert_true(fx->h.error.len > 100 && fx->h.error.len < 99999);
    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_wire_pack_ready(&fx->sb, "x", 1, 1, big), 0);
    assert_int_equal(decode(fx), 0);
    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_wire_pack_disconnect(&fx->sb, big), 0);
    assert_int_equal(decode(fx), 0);
    free(big);
}

static void test_cmd_names(void **state) {
    (void)state;
    assert_string_equal(fmx_cmd_name(FMX_CMD_READY), "ready");
    assert_string_equal(fmx_cmd_name(FMX_CMD_HEARTBEAT), "hb");
    assert_string_equal(fmx_cmd_name(FMX_CMD_TASK), "task");
    assert_string_equal(fmx_cmd_name(FMX_CMD_RESULT), "result");
    assert_string_equal(fmx_cmd_name(FMX_CMD_DISCONNECT), "disconnect");
    assert_string_equal(fmx_cmd_name(FMX_CMD_NONE), "?");
    assert_string_equal(fmx_cmd_name((fmx_cmd_t)42), "?");
}

/* Every prefix of every packed header is refused; so is each with a byte appended. */
static void test_truncated_everywhere(void **state) {
    fx_t *fx = *state;
    msgpack_sbuffer all[6];
    for (int i = 0; i < 6; i++)
        msgpack_sbuffer_init(&all[i]);
    fmx_wire_pack_ready(&all[0], "score", 4, 1, "n");
    fmx_wire_pack_heartbeat(&all[1]);
    fmx_wire_pack_task(&all[2], 1, FMX_STR_LIT("r"), FMX_STR_LIT("k"), FMX_STR_LIT("n"), FMX_STR_LIT("t"), 5, 0);
    fmx_wire_pack_result(&all[3], 1, true, NULL, 3);
    fmx_wire_pack_result(&all[4], 1, false, "boom", 3);
    fmx_wire_pack_disconnect(&all[5], "bye");
    for (int i = 0; i < 6; i++) {
        for (size_t len = 0; len < all[i].size; len++) {
            msgpack_zone_clear(&fx->zone);
            fx->err[0] = '\0';
            if (fmx_wire_header_decode(&fx->h, all[i].data, len, &fx->zone, fx->err) != -1)
                fail_msg("header %d cut to %zu bytes decoded", i, len);
            assert_non_null(strstr(fx->err, "header is not valid msgpack"));
            assert_int_equal(fx->h.cmd, FMX_CMD_NONE);
        }
        msgpack_sbuffer_write(&all[i], "\xc0", 1);
        assert_int_equal(fmx_wire_header_decode(&fx->h, all[i].data, all[i].size, &fx->zone, fx->err), -1);
        assert_non_null(strstr(fx->err, "trailing"));
        msgpack_sbuffer_destroy(&all[i]);
    }
}

/* ---- malformed headers --------------------------------------------------------------------- */

typedef enum { V_STR = 1, V_INT, V_UINT, V_BOOL, V_NIL, V_FLOAT, V_ARRAY, V_DEEP, V_EXT } vkind_t;
typedef struct {
    const char *key; /* NULL: an int key */
    vkind_t kind;
    const char *s;
    int64_t i;
} kv_t;

static void pack_kvs(msgpack_sbuffer *sb, const kv_t *kvs, size_t n, const char *drop, const kv_t *with) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    const kv_t *list[32];
    size_t m = 0;
    bool replaced = false;
    for (size_t i = 0; i < n; i++) {
        if (drop && kvs[i].key && strcmp(kvs[i].key, drop) == 0) {
            replaced = true;
            if (with) list[m++] = with;
        } else {
            list[m++] = &kvs[i];
        }
    }
    if (!replaced && with) list[m++] = with;
    msgpack_pack_map(&pk, m);
    for (size_t i = 0; i < m; i++) {
        const kv_t *kv = list[i];
        if (kv->key)
            fmx_mp_pack_cstr(&pk, kv->key);
        else
            msgpack_pack_int(&pk, 3);
        switch (kv->kind) {
        case V_STR: fmx_mp_pack_cstr(&pk, kv->s); break;
        case V_INT: msgpack_pack_int64(&pk, kv->i); break;
        case V_UINT: msgpack_pack_uint64(&pk, (uint64_t)kv->i); break;
        case V_BOOL: kv->i ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk); break;
        case V_NIL: msgpack_pack_nil(&pk); break;
        case V_FLOAT: msgpack_pack_double(&pk, 1.0); break;
        case V_ARRAY:
            msgpack_pack_array(&pk, 1), msgpack_pack_map(&pk, 1), msgpack_pack_int(&pk, 1), msgpack_pack_int(&pk, 2);
            break;
        case V_DEEP:
            for (int d = 0; d < 6; d++)
                msgpack_pack_array(&pk, 1);
            msgpack_pack_nil(&pk);
            break;
        case V_EXT: msgpack_pack_ext(&pk, 1, 5), msgpack_pack_ext_body(&pk, "x", 1); break;
        }
    }
}

static const kv_t s_ready[] = {
    {"v", V_INT, NULL, 1},        {"cmd", V_STR, "ready", 0}, {"type", V_STR, "score", 0},
    {"capacity", V_INT, NULL, 4}, {"pid", V_INT, NULL, 99},   {"name", V_STR, "a", 0},
};
static const kv_t s_task[] = {
    {"v", V_INT, NULL, 1},       {"cmd", V_STR, "task", 0},       {"id", V_INT, NULL, 5},
    {"req", V_STR, "r", 0},      {"rank", V_STR, "k", 0},         {"node", V_STR, "n", 0},
    {"type", V_STR, "score", 0}, {"budget_us", V_INT, NULL, 100}, {"attempt", V_INT, NULL, 0},
};
static const kv_t s_result[] = {
    {"v", V_INT, NULL, 1},   {"cmd", V_STR, "result", 0}, {"id", V_INT, NULL, 5},
    {"ok", V_BOOL, NULL, 0}, {"error", V_STR, "bad", 0},  {"elapsed_us", V_INT, NULL, 7},
};

typedef struct {
    const kv_t *base;
    size_t n;
} base_t;
#define BASE(a) ((base_t){(a), FMX_ARRAY_LEN(a)})

static void expect(fx_t *fx, base_t b, const char *drop, const kv_t *with, const char *want) {
    msgpack_sbuffer_clear(&fx->sb);
    pack_kvs(&fx->sb, b.base, b.n, drop, with);
    int rc = decode(fx);
    if (!want) {
        if (rc != 0) fail_msg("unexpected error: %s", fx->err);
        return;
    }
    if (rc != -1) fail_msg("decoded, wanted an error with \"%s\"", want);
    if (!strstr(fx->err, want)) fail_msg("message \"%s\" lacks \"%s\"", fx->err, want);
}

static void test_bases_decode(void **state) {
    fx_t *fx = *state;
    expect(fx, BASE(s_ready), NULL, NULL, NULL);
    expect(fx, BASE(s_task), NULL, NULL, NULL);
    expect(fx, BASE(s_result), NULL, NULL, NULL);
    assert_false(fx->h.ok);
    assert_true(str_is(fx->h.error, "bad"));
    /* unknown keys, even nested ones, are ignored */
    static const kv_t extra = {"future", V_ARRAY, NULL, 0};
    expect(fx, BASE(s_task), "future", &extra, NULL);
    assert_int_equal(fx->h.cmd, FMX_CMD_TASK);
    /* a key belonging to another command is ignored too */
    static const kv_t cap = {"capacity", V_STR, "lots", 0};
    expect(fx, BASE(s_task), "capacity", &cap, NULL);
    assert_int_equal(fx->h.capacity, 0);
}

static void test_missing_required(void **state) {
    fx_t *fx = *state;
    static const struct {
        base_t b;
        const char *key;
        const char *want;
    } cases[] = {
        {BASE(s_ready), "type", "`ready` header needs `type`"},
        {BASE(s_ready), "capacity", "`ready` header needs `capacity`"},
        {BASE(s_ready), "pid", "`ready` header needs `pid`"},
        {BASE(s_task), "id", "`task` header needs `id`"},
        {BASE(s_task), "req", "`task` header needs `req`"},
        {BASE(s_task), "rank", "`task` header needs `rank`"},
        {BASE(s_task), "node", "`task` header needs `node`"},
        {BASE(s_task), "type", "`task` header needs `type`"},
        {BASE(s_task), "budget_us", "`task` header needs `budget_us`"},
        {BASE(s_task), "attempt", "`task` header needs `attempt`"},
        {BASE(s_result), "id", "`result` header needs `id`"},
        {BASE(s_result), "ok", "`result` header needs `ok`"},
        {BASE(s_result), "elapsed_us", "`result` header needs `elapsed_us`"},
        {BASE(s_result), "error", "`result` header with ok=false needs `error`"},
        {BASE(s_ready), "v", "header has no `v`"},
        {BASE(s_task), "cmd", "header has no `cmd`"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++)
        expect(fx, cases[i].b, cases[i].key, NULL, cases[i].want);
    /* optional ones */
    expect(fx, BASE(s_ready), "name", NULL, NULL);
    static const kv_t ok = {"ok", V_BOOL, NULL, 1};
    msgpack_sbuffer_clear(&fx->sb);
    kv_t res[6];
    memcpy(res, s_result, sizeof(res));
    res[3] = ok;
    expect(fx, (base_t){res, 6}, "error", NULL, NULL);
    assert_true(fx->h.ok);
}

static void test_wrong_fields(void **state) {
    fx_t *fx = *state;
    static const struct {
        base_t b;
        kv_t kv;
        const char *want;
    } cases[] = {
        {BASE(s_ready), {"v", V_INT, NULL, 2}, "unsupported protocol version 2"},
        {BASE(s_ready), {"v", V_INT, NULL, 0}, "unsupported protocol version 0"},
        {BASE(s_ready), {"v", V_INT, NULL, -1}, "unsupported protocol version -1"},
        {BASE(s_ready), {"v", V_STR, "1", 0}, "header `v` must be an int, got str"},
        {BASE(s_ready), {"v", V_FLOAT, NULL, 0}, "header `v` must be an int, got float"},
        {BASE(s_ready), {"cmd", V_INT, NULL, 1}, "header `cmd` must be a str, got int"},
        {BASE(s_ready), {"cmd", V_STR, "fly", 0}, "unknown cmd `fly`"},
        {BASE(s_ready), {"cmd", V_STR, "", 0}, "unknown cmd ``"},
        {BASE(s_ready), {"cmd", V_STR, "READY", 0}, "unknown cmd `READY`"},
        {BASE(s_ready), {"type", V_STR, "", 0}, "`type` in a `ready` header must not be empty"},
        {BASE(s_ready),
         {"type", V_STR, "0123456789012345678901234567890123456789012345678901234567890123x", 0},
         "`type` in a `ready` header is 65 bytes long, the limit is 64"},
        {BASE(s_ready), {"type", V_INT, NULL, 3}, "`type` in a `ready` header must be a str, got int"},
        {BASE(s_ready),
         {"capacity", V_INT, NULL, 0},
         "`capacity` in a `ready` header must be an int between 1 and 1024"},
        {BASE(s_ready),
         {"capacity", V_INT, NULL, 1025},
         "`capacity` in a `ready` header must be an int between 1 and 1024"},
        {BASE(s_ready), {"capacity", V_INT, NULL, -4}, "between 1 and 1024"},
        {BASE(s_ready), {"capacity", V_STR, "4", 0}, "between 1 and 1024"},
        {BASE(s_ready), {"pid", V_STR, "99", 0}, "`pid` in a `ready` header must be a 64-bit int, got str"},
        {BASE(s_ready), {"pid", V_UINT, NULL, -1}, "`pid` in a `ready` header must be a 64-bit int, got int"},
        {BASE(s_ready), {"name", V_NIL, NULL, 0}, "`name` in a `ready` header must be a str, got nil"},
        {BASE(s_task),
         {"id", V_INT, NULL, -5},
         "`id` in a `task` header must be a non-negative int, got a negative int"},
        {BASE(s_task), {"id", V_STR, "5", 0}, "`id` in a `task` header must be a non-negative int, got str"},
        {BASE(s_task), {"req", V_STR, "", 0}, "`req` in a `task` header must not be empty"},
        {BASE(s_task), {"node", V_STR, "", 0}, "`node` in a `task` header must not be empty"},
        {BASE(s_task), {"rank", V_INT, NULL, 0}, "`rank` in a `task` header must be a str, got int"},
        {BASE(s_task), {"budget_us", V_FLOAT, NULL, 0}, "`budget_us` in a `task` header must be a non-negative int"},
        {BASE(s_task),
         {"attempt", V_UINT, NULL, 4294967296LL},
         "`attempt` in a `task` header must be an int between 0 and 4294967295"},
        {BASE(s_result), {"ok", V_INT, NULL, 1}, "`ok` in a `result` header must be a bool, got int"},
        {BASE(s_result), {"error", V_BOOL, NULL, 1}, "`error` in a `result` header must be a str, got bool"},
        {BASE(s_result),
         {"elapsed_us", V_INT, NULL, -1},
         "`elapsed_us` in a `result` header must be a non-negative int"},
        {BASE(s_result), {NULL, V_STR, "x", 0}, "header keys must be strings, got int"},
        {BASE(s_result), {"x", V_DEEP, NULL, 0}, "header is not valid msgpack: array at offset"},
        {BASE(s_result), {"x", V_EXT, NULL, 0}, "(ext type)"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++)
        expect(fx, cases[i].b, cases[i].kv.key, &cases[i].kv, cases[i].want);

    /* disconnect: reason must be a str when present */
    static const kv_t disc[] = {{"v", V_INT, NULL, 1}, {"cmd", V_STR, "disconnect", 0}, {"reason", V_INT, NULL, 1}};
    expect(fx, BASE(disc), NULL, NULL, "`reason` in a `disconnect` header must be a str, got int");
}

static void test_structural(void **state) {
    fx_t *fx = *state;
    /* duplicates */
    static const kv_t dup_v[] = {{"v", V_INT, NULL, 1}, {"cmd", V_STR, "hb", 0}, {"v", V_INT, NULL, 1}};
    expect(fx, BASE(dup_v), NULL, NULL, "duplicate key `v` in header");
    static const kv_t dup_x[] = {
        {"v", V_INT, NULL, 1}, {"x", V_INT, NULL, 1}, {"cmd", V_STR, "hb", 0}, {"x", V_INT, NULL, 1}};
    expect(fx, BASE(dup_x), NULL, NULL, "duplicate key `x` in header");

    /* not a map, not msgpack, empty, too big */
    char *err = fx->err;
    assert_int_equal(fmx_wire_header_decode(&fx->h, "\x92\x01\x02", 3, &fx->zone, err), -1);
    assert_string_equal(err, "header must be a msgpack map, got array");
    assert_int_equal(fmx_wire_header_decode(&fx->h, "", 0, &fx->zone, err), -1);
    assert_non_null(strstr(err, "empty buffer"));
    assert_int_equal(fmx_wire_header_decode(&fx->h, "\xc1", 1, &fx->zone, err), -1);
    assert_non_null(strstr(err, "0xc1"));
    assert_int_equal(fmx_wire_header_decode(&fx->h, "\x80", 1, &fx->zone, err), -1);
    assert_string_equal(err, "header has no `v` (protocol version)");

    char *big = calloc(1, FMX_WIRE_HEADER_MAX + 1);
    assert_non_null(big);
    assert_int_equal(fmx_wire_header_decode(&fx->h, big, FMX_WIRE_HEADER_MAX + 1, &fx->zone, err), -1);
    assert_string_equal(err, "header frame of 4097 bytes exceeds the limit of 4096 bytes");
    free(big);

    /* a map claiming 65535 entries in 10 bytes */
    static const uint8_t lie[] = {0xde, 0xff, 0xff, 0xa1, 'v', 0x01, 0xa3, 'c', 'm', 'd'};
    assert_int_equal(fmx_wire_header_decode(&fx->h, lie, sizeof(lie), &fx->zone, err), -1);
    assert_non_null(strstr(err, "map of 65535 entries at offset 0 exceeds the 7 bytes that remain"));
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_ready),        T(test_heartbeat_and_disconnect),
        T(test_task),         T(test_result),
        T(test_cmd_names),    T(test_truncated_everywhere),
        T(test_bases_decode), T(test_missing_required),
        T(test_wrong_fields), T(test_structural),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
