/* test_request.c - the client protocol codec (schemas/request.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/mpobj.h"
#include "schemas/request.h"
#include "test/support/corpus.h"

/* ---- a tiny request builder ------------------------------------------------------------------ */

typedef enum {
    V_STR = 1, /* s (NUL-terminated) or, when n > 0, n copies of s[0] */
    V_INT,
    V_UINT,
    V_NIL,
    V_BOOL,
    V_FLOAT,
    V_ARRAY,      /* [1, "two"] */
    V_BIN,        /* 3 bytes */
    V_MAP,        /* {"a": 1} */
    V_CTX,        /* a realistic context map */
    V_CTX_INTKEY, /* {1: "x"} */
    V_CTX_BIN,    /* {"blob": bin} */
    V_CTX_DUP,    /* {"geo": "DE", "geo": "FR"} */
    V_DEEP,       /* 20 nested arrays */
} vkind_t;

typedef struct {
    const char *key; /* NULL: an int key (7) */
    vkind_t kind;
    const char *s;
    int64_t i;
    size_t n;
} kv_t;

static void pack_val(msgpack_packer *pk, const kv_t *kv) {
    switch (kv->kind) {
    case V_STR:
        if (kv->n > 0) {
            char *tmp = malloc(kv->n);
            assert_non_null(tmp);
            memset(tmp, kv->s[0], kv->n);
            fmx_mp_pack_strn(pk, tmp, kv->n);
            free(tmp);
        } else {
            fmx_mp_pack_cstr(pk, kv->s);
        }
        break;
    case V_INT: msgpack_pack_int64(pk, kv->i); break;
    case V_UINT: msgpack_pack_uint64(pk, (uint64_t)kv->i); break;
    case V_NIL: msgpack_pack_nil(pk); break;
    case V_BOOL: kv->i ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
    case V_FLOAT: msgpack_pack_double(pk, 1.5); break;
    case V_ARRAY: msgpack_pack_array(pk, 2), msgpack_pack_int(pk, 1), fmx_mp_pack_cstr(pk, "two"); break;
    case V_BIN: msgpack_pack_bin(pk, 3), msgpack_pack_bin_body(pk, "abc", 3); break;
    case V_MAP: msgpack_pack_map(pk, 1), fmx_mp_pack_cstr(pk, "a"), msgpack_pack_int(pk, 1); break;
    case V_CTX:
        msgpack_pack_map(pk, 6);
        fmx_mp_pack_cstr(pk, "geo"), fmx_mp_pack_cstr(pk, "DE");
        fmx_mp_pack_cstr(pk, "platform"), fmx_mp_pack_cstr(pk, "ios");
        fmx_mp_pack_cstr(pk, "time"), msgpack_pack_int64(pk, 1700000000);
        fmx_mp_pack_cstr(pk, "session_id"), fmx_mp_pack_cstr(pk, "s-9");
        fmx_mp_pack_cstr(pk, "tags"), msgpack_pack_array(pk, 2), msgpack_pack_int(pk, 1), msgpack_pack_nil(pk);
        fmx_mp_pack_cstr(pk, "nested"), msgpack_pack_map(pk, 1), fmx_mp_pack_cstr(pk, "x"), msgpack_pack_float(pk, 2.f);
        break;
    case V_CTX_INTKEY: msgpack_pack_map(pk, 1), msgpack_pack_int(pk, 1), fmx_mp_pack_cstr(pk, "x"); break;
    case V_CTX_BIN:
        msgpack_pack_map(pk, 2), fmx_mp_pack_cstr(pk, "geo"), fmx_mp_pack_cstr(pk, "DE");
        fmx_mp_pack_cstr(pk, "blob"), msgpack_pack_bin(pk, 1), msgpack_pack_bin_body(pk, "z", 1);
        break;
    case V_CTX_DUP:
        msgpack_pack_map(pk, 2), fmx_mp_pack_cstr(pk, "geo"), fmx_mp_pack_cstr(pk, "DE");
        fmx_mp_pack_cstr(pk, "geo"), fmx_mp_pack_cstr(pk, "FR");
        break;
    case V_DEEP:
        for (int i = 0; i < 20; i++)
            msgpack_pack_array(pk, 1);
        msgpack_pack_nil(pk);
        break;
    }
}

static void pack_map(msgpack_sbuffer *sb, const kv_t *kvs, size_t n) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < n; i++) {
        if (kvs[i].key)
            fmx_mp_pack_cstr(&pk, kvs[i].key);
        else
            msgpack_pack_int(&pk, 7);
        pack_val(&pk, &kvs[i]);
    }
}

static const kv_t s_feed_req[] = {
    {"feed", V_STR, "home", 0, 0},  {"user_id", V_STR, "42", 0, 0}, {"request_id", V_STR, "r-1", 0, 0},
    {"context", V_CTX, NULL, 0, 0}, {"limit", V_INT, NULL, 10, 0},  {"deadline_ms", V_INT, NULL, 150, 0},
    {"debug", V_BOOL, NULL, 1, 0},  {"params", V_MAP, NULL, 0, 0},
};

static const kv_t s_event_req[] = {
    {"event", V_STR, "click", 0, 0},
    {"token", V_STR, "tok.abc", 0, 0},
    {"request_id", V_STR, "r-2", 0, 0},
    {"user_id", V_INT, NULL, 42, 0},
};

/* The base request with `key` replaced by *with (or removed when with is NULL; appended when the
 * base lacks it). */
static void build_variant(msgpack_sbuffer *sb, const kv_t *base, size_t n, const char *key, const kv_t *with) {
    kv_t kvs[16];
    size_t m = 0;
    bool replaced = false;
    for (size_t i = 0; i < n; i++) {
        if (key && base[i].key && strcmp(base[i].key, key) == 0) {
            replaced = true;
            if (with) kvs[m++] = *with;
        } else {
            kvs[m++] = base[i];
        }
    }
    if (!replaced && with) kvs[m++] = *with;
    pack_map(sb, kvs, m);
}

static void expect_fail_buf(const void *buf, size_t len, const char *substr) {
    fmx_request_t req;
    char err[FMX_ERR_LEN] = "";
    int rc = fmx_request_decode(&req, buf, len, err);
    if (rc != -1) fail_msg("decode passed, expected an error containing \"%s\"", substr);
    if (!strstr(err, substr)) fail_msg("message \"%s\" lacks \"%s\"", err, substr);
    fmx_request_fini(&req);
}

static void expect_fail(const kv_t *base, size_t n, const char *key, const kv_t *with, const char *substr) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    build_variant(&sb, base, n, key, with);
    expect_fail_buf(sb.data, sb.size, substr);
    msgpack_sbuffer_destroy(&sb);
}

static void expect_ok(const kv_t *base, size_t n, const char *key, const kv_t *with, fmx_request_t *req,
                      msgpack_sbuffer *sb) {
    msgpack_sbuffer_init(sb);
    build_variant(sb, base, n, key, with);
    char err[FMX_ERR_LEN] = "";
    int rc = fmx_request_decode(req, sb->data, sb->size, err);
    if (rc != 0) fail_msg("unexpected error: %s", err);
}

#define FEED  s_feed_req, FMX_ARRAY_LEN(s_feed_req)
#define EVENT s_event_req, FMX_ARRAY_LEN(s_event_req)

static bool str_is(fmx_str_t s, const char *want) {
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.ptr, want, s.len) == 0);
}

/* ---- decoding: valid requests ---------------------------------------------------------------- */

static void test_decode_feed_request(void **state) {
    (void)state;
    fmx_request_t req;
    msgpack_sbuffer sb;
    expect_ok(FEED, NULL, NULL, &req, &sb);
    assert_int_equal(req.kind, FMX_REQ_FEED);
    assert_true(str_is(req.feed, "home"));
    assert_true(str_is(req.user_id, "42"));
    assert_true(str_is(req.request_id, "r-1"));
    assert_int_equal(req.limit, 10);
    assert_int_equal(req.deadline_ms, 150);
    assert_true(req.debug);
    assert_non_null(req.context);
    assert_int_equal(req.context->type, MSGPACK_OBJECT_MAP);
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(req.context, "geo"), "DE"));
    int64_t t = 0;
    assert_int_equal(fmx_mp_get_int(req.context, "time", &t), 0);
    assert_int_equal(t, 1700000000);
    assert_non_null(req.params);
    assert_int_equal(fmx_mp_get_int(req.params, "a", &t), 0);
    assert_int_equal(t, 1);
    assert_int_equal(req.event.len, 0);
    /* strings point into the caller's buffer, not copies */
    assert_true(req.feed.ptr >= sb.data && req.feed.ptr < sb.data + sb.size);
    fmx_request_fini(&req);
    msgpack_sbuffer_destroy(&sb);
}

static void test_decode_minimal_and_defaults(void **state) {
    (void)state;
    static const kv_t min[] = {{"user_id", V_STR, "u", 0, 0}, {"feed", V_STR, "Home_2-x", 0, 0}};
    fmx_request_t req;
    msgpack_sbuffer sb;
    expect_ok(min, 2, NULL, NULL, &req, &sb);
    assert_int_equal(req.kind, FMX_REQ_FEED);
    assert_true(str_is(req.feed, "Home_2-x"));
    assert_int_equal(req.request_id.len, 0);
    assert_null(req.context);
    assert_null(req.params);
    assert_int_equal(req.limit, 0);
    assert_int_equal(req.deadline_ms, 0);
    assert_false(req.debug);
    fmx_request_fini(&req);
    msgpack_sbuffer_destroy(&sb);

    /* unknown keys are ignored, whatever their type */
    static const kv_t extra = {"future_key", V_ARRAY, NULL, 0, 0};
    expect_ok(FEED, "future_key", &extra, &req, &sb);
    assert_true(str_is(req.feed, "home"));
    fmx_request_fini(&req);
    msgpack_sbuffer_destroy(&sb);
    /* debug false, limits at their bounds, empty request_id */
    static const kv_t dbg = {"debug", V_BOOL, NULL, 0, 0};
    expect_ok(FEED, "debug", &dbg, &req, &sb);
    assert_false(req.debug);
    fmx_request_fini(&req);
    msgpack_sbuffer_destroy(&sb);
    static const kv_t lim[] = {{"limit", V_INT, NULL, 1, 0},
                               {"limit", V_INT, NULL, 1000, 0},
                               {"deadline_ms", V_INT, NULL, 1, 0},
                               {"deadline_ms", V_UINT, NULL, 60000, 0},
                               {"request_id", V_STR, "", 0, 0}};
    for (size_t i = 0; i < FMX_ARRAY_LEN(lim); i++) {
        expect_ok(FEED, lim[i].key, &lim[i], &req, &sb);
        if (strcmp(lim[i].key, "limit") == 0)
            assert_int_equal(req.limit, lim[i].i);
        else if (strcmp(lim[i].key, "deadline_ms") == 0)
            assert_int_equal(req.deadline_ms, lim[i].i);
        else
            assert_int_equal(req.request_id.len, 0);
        fmx_request_fini(&req);
        msgpack_sbuffer_destroy(&sb);
    }
    /* strings exactly at their limits */
    static const kv_t at_limit[] = {{"feed", V_STR, "f", 0, FMX_ID_MAX},
                                    {"user_id", V_STR, "u", 0, FMX_ID_MAX},
                                    {"request_id", V_STR, "r", 0, FMX_ID_MAX}};
    for (size_t i = 0; i < FMX_ARRAY_LEN(at_limit); i++) {
        expect_ok(FEED, at_limit[i].key, &at_limit[i], &req, &sb);
        fmx_request_fini(&req);
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_decode_event(void **state) {
    (void)state;
    fmx_request_t req;
    msgpack_sbuffer sb;
    expect_ok(EVENT, NULL, NULL, &req, &sb);
    assert_int_equal(req.kind, FMX_REQ_EVENT);
    assert_true(str_is(req.event, "click"));
    assert_true(str_is(req.token, "tok.abc"));
    assert_true(str_is(req.request_id, "r-2"));
    assert_true(str_is(req.user_id, "42"));
    assert_int_equal(req.feed.len, 0);
    fmx_request_fini(&req);
    msgpack_sbuffer_destroy(&sb);

    /* user_id is optional with an event; token may be as long as FMX_TOKEN_MAX */
    static const kv_t tok = {"token", V_STR, "t", 0, FMX_TOKEN_MAX};
    expect_ok(EVENT, "user_id", NULL, &req, &sb);
    assert_int_equal(req.user_id.len, 0);
    fmx_request_fini(&req);
    msgpack_sbuffer_destroy(&sb);
    expect_ok(EVENT, "token", &tok, &req, &sb);
    assert_int_equal(req.token.len, FMX_TOKEN_MAX);
    fmx_request_fini(&req);
    msgpack_sbuffer_destroy(&sb);
}

static void test_user_id_int_formatting(void **state) {
    (void)state;
    static const struct {
        kv_t kv;
        const char *want;
    } cases[] = {
        {{"user_id", V_INT, NULL, 0, 0}, "0"},
        {{"user_id", V_INT, NULL, 42, 0}, "42"},
        {{"user_id", V_INT, NULL, -7, 0}, "-7"},
        {{"user_id", V_INT, NULL, INT64_MAX, 0}, "9223372036854775807"},
        {{"user_id", V_INT, NULL, INT64_MIN, 0}, "-9223372036854775808"},
        {{"user_id", V_UINT, NULL, -1 /* UINT64_MAX */, 0}, "18446744073709551615"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++) {
        fmx_request_t req;
        msgpack_sbuffer sb;
        expect_ok(FEED, "user_id", &cases[i].kv, &req, &sb);
        if (!str_is(req.user_id, cases[i].want))
            fail_msg("user_id %.*s, want %s", (int)req.user_id.len, req.user_id.ptr, cases[i].want);
        assert_ptr_equal(req.user_id.ptr, req.user_id_buf);
        fmx_request_fini(&req);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* ---- decoding: malformed requests ------------------------------------------------------------ */

static void test_not_msgpack_or_not_map(void **state) {
    (void)state;
    expect_fail_buf("", 0, "request is not valid msgpack: empty buffer");
    expect_fail_buf("\xc1", 1, "not valid msgpack: invalid byte 0xc1 at offset 0");
    expect_fail_buf("hello world", 11, "not valid msgpack: 10 trailing bytes");
    expect_fail_buf("\x81\xa4"
                    "feed",
                    6, "not valid msgpack: truncated");
    expect_fail_buf("\xd4\x01\x02", 3, "ext type");
    expect_fail_buf("\x92\x01\x02", 3, "request must be a msgpack map, got array");
    expect_fail_buf("\xa3"
                    "abc",
                    4, "request must be a msgpack map, got str");
    expect_fail_buf("\x05", 1, "request must be a msgpack map, got int");
    expect_fail_buf("\xc0", 1, "request must be a msgpack map, got nil");
    expect_fail_buf("\xc4\x01z", 3, "request must be a msgpack map, got bin");
    expect_fail_buf("\x80", 1, "request has neither `feed` nor `event`");
}

static void test_structure_errors(void **state) {
    (void)state;
    expect_fail(FEED, "feed", NULL, "request has neither `feed` nor `event`");
    static const kv_t ev = {"event", V_STR, "click", 0, 0};
    expect_fail(FEED, "event", &ev, "request has both `feed` and `event`");
    expect_fail(FEED, "user_id", NULL, "`user_id` is required");
    expect_fail(EVENT, "token", NULL, "`token` is required with `event`");
    static const kv_t intkey = {NULL, V_STR, "x", 0, 0};
    expect_fail(FEED, NULL, &intkey, "request keys must be strings, got int");
}

static void test_wrong_types(void **state) {
    (void)state;
    static const struct {
        bool event; /* use the event request as the base */
        kv_t kv;
        const char *want;
    } cases[] = {
        {false, {"feed", V_INT, NULL, 1, 0}, "`feed` must be a str, got int"},
        {false, {"feed", V_NIL, NULL, 0, 0}, "`feed` must be a str, got nil"},
        {false, {"feed", V_BIN, NULL, 0, 0}, "`feed` must be a str, got bin"},
        {false, {"feed", V_ARRAY, NULL, 0, 0}, "`feed` must be a str, got array"},
        {false, {"user_id", V_FLOAT, NULL, 0, 0}, "`user_id` must be a str or an int, got float"},
        {false, {"user_id", V_BOOL, NULL, 1, 0}, "`user_id` must be a str or an int, got bool"},
        {false, {"user_id", V_MAP, NULL, 0, 0}, "`user_id` must be a str or an int, got map"},
        {false, {"user_id", V_NIL, NULL, 0, 0}, "`user_id` must be a str or an int, got nil"},
        {false, {"request_id", V_INT, NULL, 5, 0}, "`request_id` must be a str, got int"},
        {false, {"context", V_STR, "geo=DE", 0, 0}, "`context` must be a map, got str"},
        {false, {"context", V_ARRAY, NULL, 0, 0}, "`context` must be a map, got array"},
        {false, {"context", V_CTX_INTKEY, NULL, 0, 0}, "`context` keys must be strings, got int"},
        {false, {"context", V_CTX_BIN, NULL, 0, 0}, "`context.blob` must be a scalar, array or map, got bin"},
        {false, {"params", V_ARRAY, NULL, 0, 0}, "`params` must be a map, got array"},
        {false, {"params", V_CTX_INTKEY, NULL, 0, 0}, "`params` keys must be strings"},
        {false, {"limit", V_STR, "10", 0, 0}, "`limit` must be an integer between 1 and 1000, got str"},
        {false, {"limit", V_FLOAT, NULL, 0, 0}, "`limit` must be an integer between 1 and 1000, got float"},
        {false, {"deadline_ms", V_BOOL, NULL, 1, 0}, "`deadline_ms` must be an integer between 1 and 60000, got bool"},
        {false, {"debug", V_INT, NULL, 1, 0}, "`debug` must be a bool, got int"},
        {false, {"debug", V_STR, "true", 0, 0}, "`debug` must be a bool, got str"},
        {true, {"event", V_INT, NULL, 1, 0}, "`event` must be a str, got int"},
        {true, {"token", V_BIN, NULL, 0, 0}, "`token` must be a str, got bin"},
        {true, {"token", V_STR, "", 0, 0}, "`token` must not be empty"},
        {true, {"event", V_STR, "", 0, 0}, "`event` must not be empty"},
        {true, {"user_id", V_ARRAY, NULL, 0, 0}, "`user_id` must be a str or an int, got array"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++) {
        if (cases[i].event)
            expect_fail(EVENT, cases[i].kv.key, &cases[i].kv, cases[i].want);
        else
            expect_fail(FEED, cases[i].kv.key, &cases[i].kv, cases[i].want);
    }
}

static void test_ranges(void **state) {
    (void)state;
    static const struct {
        kv_t kv;
        const char *want;
    } cases[] = {
        {{"limit", V_INT, NULL, 0, 0}, "`limit` must be an integer between 1 and 1000, got 0"},
        {{"limit", V_INT, NULL, 1001, 0}, "`limit` must be an integer between 1 and 1000, got 1001"},
        {{"limit", V_INT, NULL, -1, 0}, "`limit` must be an integer between 1 and 1000, got -1"},
        {{"limit", V_INT, NULL, INT64_MIN, 0}, "got -9223372036854775808"},
        {{"limit", V_UINT, NULL, -1, 0}, "`limit` must be an integer between 1 and 1000, got 18446744073709551615"},
        {{"deadline_ms", V_INT, NULL, 0, 0}, "`deadline_ms` must be an integer between 1 and 60000, got 0"},
        {{"deadline_ms", V_INT, NULL, 60001, 0}, "`deadline_ms` must be an integer between 1 and 60000, got 60001"},
        {{"deadline_ms", V_INT, NULL, -150, 0}, "got -150"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++)
        expect_fail(FEED, cases[i].kv.key, &cases[i].kv, cases[i].want);
}

static void test_oversize_and_bad_names(void **state) {
    (void)state;
    static const struct {
        bool event;
        kv_t kv;
        const char *want;
    } cases[] = {
        {false, {"feed", V_STR, "f", 0, FMX_ID_MAX + 1}, "`feed` is 129 bytes long, the limit is 128"},
        {false, {"user_id", V_STR, "u", 0, FMX_ID_MAX + 1}, "`user_id` is 129 bytes long, the limit is 128"},
        {false, {"user_id", V_STR, "", 0, 0}, "`user_id` must not be empty"},
        {false, {"request_id", V_STR, "r", 0, 5000}, "`request_id` is 5000 bytes long, the limit is 128"},
        {true, {"event", V_STR, "e", 0, FMX_ID_MAX + 1}, "`event` is 129 bytes long"},
        {true, {"token", V_STR, "t", 0, FMX_TOKEN_MAX + 1}, "`token` is 1025 bytes long, the limit is 1024"},
        {false, {"feed", V_STR, "", 0, 0}, "`feed` must not be empty"},
        {false, {"feed", V_STR, "home page", 0, 0}, "`feed` may only contain letters, digits, '_' and '-'"},
        {false, {"feed", V_STR, "../etc/passwd", 0, 0}, "`feed` may only contain"},
        {false, {"feed", V_STR, "h\xc3\xa9llo", 0, 0}, "`feed` may only contain"},
        {false, {"context", V_DEEP, NULL, 0, 0}, "nested deeper than 16"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++) {
        if (cases[i].event)
            expect_fail(EVENT, cases[i].kv.key, &cases[i].kv, cases[i].want);
        else
            expect_fail(FEED, cases[i].kv.key, &cases[i].kv, cases[i].want);
    }

    /* a whole request over 1 MiB */
    static const kv_t huge = {"padding", V_STR, "p", 0, 1u << 20};
    expect_fail(FEED, "padding", &huge, "request is not valid msgpack: 1048");
    expect_fail(FEED, "padding", &huge, "exceed the limit of 1048576 bytes");
}

static void test_duplicate_keys(void **state) {
    (void)state;
    static const kv_t dup_feed[] = {
        {"feed", V_STR, "home", 0, 0}, {"user_id", V_INT, NULL, 1, 0}, {"feed", V_STR, "other", 0, 0}};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_map(&sb, dup_feed, 3);
    expect_fail_buf(sb.data, sb.size, "duplicate key `feed`");
    msgpack_sbuffer_clear(&sb);

    /* an unknown key repeated is refused too, in a small map and in a large one (sorted path) */
    static const kv_t dup_x[] = {{"feed", V_STR, "home", 0, 0},
                                 {"user_id", V_INT, NULL, 1, 0},
                                 {"x", V_INT, NULL, 1, 0},
                                 {"x", V_INT, NULL, 2, 0}};
    pack_map(&sb, dup_x, 4);
    expect_fail_buf(sb.data, sb.size, "duplicate key `x`");
    msgpack_sbuffer_clear(&sb);

    kv_t many[40];
    char names[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "k%02d", i);
        many[i] = (kv_t){names[i], V_INT, NULL, i, 0};
    }
    many[0] = (kv_t){"feed", V_STR, "home", 0, 0};
    many[1] = (kv_t){"user_id", V_STR, "u", 0, 0};
    pack_map(&sb, many, 40);
    fmx_request_t req;
    char err[FMX_ERR_LEN];
    assert_int_equal(fmx_request_decode(&req, sb.data, sb.size, err), 0);
    fmx_request_fini(&req);
    msgpack_sbuffer_clear(&sb);
    many[39].key = "k17";
    pack_map(&sb, many, 40);
    expect_fail_buf(sb.data, sb.size, "duplicate key `k17`");
    msgpack_sbuffer_clear(&sb);
    many[39].key = "user_id";
    pack_map(&sb, many, 40);
    expect_fail_buf(sb.data, sb.size, "duplicate key `user_id`");
    msgpack_sbuffer_destroy(&sb);

    /* in context */
    static const kv_t ctx = {"context", V_CTX_DUP, NULL, 0, 0};
    expect_fail(FEED, "context", &ctx, "duplicate key `geo` in `context`");
}

static void test_truncated_everywhere(void **state) {
    (void)state;
    msgpack_sbuffer bufs[2];
    msgpack_sbuffer_init(&bufs[0]);
    msgpack_sbuffer_init(&bufs[1]);
    build_variant(&bufs[0], FEED, NULL, NULL);
    build_variant(&bufs[1], EVENT, NULL, NULL);
    for (int b = 0; b < 2; b++) {
        for (size_t len = 0; len < bufs[b].size; len++) {
            fmx_request_t req;
            char err[FMX_ERR_LEN] = "";
            if (fmx_request_decode(&req, bufs[b].data, len, err) != -1)
                fail_msg("request %d truncated to %zu bytes decoded", b, len);
            assert_non_null(strstr(err, "not valid msgpack"));
            fmx_request_fini(&req);
        }
        /* and every single-byte corruption fails cleanly or decodes to something sane */
        char *copy = malloc(bufs[b].size);
        assert_non_null(copy);
        for (size_t pos = 0; pos < bufs[b].size; pos++) {
            static const uint8_t bytes[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0xa0, 0xbf, 0xc0,
                                            0xc1, 0xc4, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xff};
            for (size_t k = 0; k < FMX_ARRAY_LEN(bytes); k++) {
                memcpy(copy, bufs[b].data, bufs[b].size);
                copy[pos] = (char)bytes[k];
                fmx_request_t req;
                char err[FMX_ERR_LEN] = "";
                if (fmx_request_decode(&req, copy, bufs[b].size, err) == 0)
                    assert_true(req.kind == FMX_REQ_FEED ? req.feed.len > 0 && req.user_id.len > 0
                                                         : req.event.len > 0 && req.token.len > 0);
                else
                    assert_true(strlen(err) > 0);
                fmx_request_fini(&req);
            }
        }
        free(copy);
        msgpack_sbuffer_destroy(&bufs[b]);
    }
}

static void test_fini_safety(void **state) {
    (void)state;
    fmx_request_t req;
    memset(&req, 0, sizeof(req));
    fmx_request_fini(&req);
    fmx_request_fini(&req);
    fmx_request_fini(NULL);

    /* a failure after msgpack-c allocated its zone: fini frees it (ASan checks for the leak) */
    char err[FMX_ERR_LEN];
    assert_int_equal(fmx_request_decode(&req, "\x92\x01\x02", 3, err), -1);
    fmx_request_fini(&req);
    fmx_request_fini(&req);
    assert_null(req.context);
    assert_null(req.unpacked.zone);
}

/* ---- replies ------------------------------------------------------------------------------- */

static msgpack_object unpack_one(msgpack_unpacked *u, const msgpack_sbuffer *sb) {
    size_t off = 0;
    msgpack_unpacked_init(u);
    assert_int_equal(msgpack_unpack_next(u, sb->data, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, sb->size);
    assert_int_equal(u->data.type, MSGPACK_OBJECT_MAP);
    return u->data;
}

static void test_reply_pack(void **state) {
    (void)state;
    /* items as an actor would send them: [{"id": "a"}, {"id": "b"}] */
    msgpack_sbuffer items;
    msgpack_sbuffer_init(&items);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &items, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_map(&pk, 1), fmx_mp_pack_cstr(&pk, "id"), fmx_mp_pack_cstr(&pk, "a");
    msgpack_pack_map(&pk, 1), fmx_mp_pack_cstr(&pk, "id"), fmx_mp_pack_cstr(&pk, "b");

    const fmx_str_t names[] = {FMX_STR_LIT("ranker"), FMX_STR_LIT("layout")};
    const fmx_str_t variants[] = {FMX_STR_LIT("treatment"), FMX_STR_LIT("control")};
    const char *const fallbacks[] = {"trending", "scored"};
    const fmx_trace_entry_t trace[] = {
        {.node = "follows", .type = "retrieve", .actor = "retrieve-1", .status = "ok", .start_us = 10, .end_us = 900},
        {.node = "scored", .type = "score", .actor = NULL, .status = "fallback", .start_us = 950, .end_us = 30000},
    };
    fmx_reply_t r = {
        .status = "degraded",
        .request_id = FMX_STR_LIT("r-1"),
        .ranking_id = FMX_STR_LIT("rk-9"),
        .feed = FMX_STR_LIT("home"),
        .items = items.data,
        .items_len = items.size,
        .experiment_names = names,
        .experiment_variants = variants,
        .n_experiments = 2,
        .fallbacks = fallbacks,
        .n_fallbacks = 2,
        .trace = trace,
        .n_trace = 2,
        .with_trace = true,
    };

    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    assert_int_equal(fmx_reply_pack(&out, &r), 0);
    msgpack_unpacked u;
    msgpack_object m = unpack_one(&u, &out);
    assert_int_equal(m.via.map.size, 8);
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(&m, "status"), "degraded"));
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(&m, "request_id"), "r-1"));
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(&m, "ranking_id"), "rk-9"));
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(&m, "feed"), "home"));
    const msgpack_object *it = fmx_mp_map_get(&m, "items");
    assert_non_null(it);
    assert_int_equal(it->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(it->via.array.size, 2);
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(&it->via.array.ptr[1], "id"), "b"));
    const msgpack_object *ex = fmx_mp_map_get(&m, "experiments");
    assert_int_equal(ex->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(ex->via.map.size, 2);
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(ex, "ranker"), "treatment"));
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(ex, "layout"), "control"));
    const msgpack_object *fb = fmx_mp_map_get(&m, "fallbacks");
    assert_int_equal(fb->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(fb->via.array.size, 2);
    assert_true(fmx_mp_str_eq(&fb->via.array.ptr[0], "trending"));
    assert_true(fmx_mp_str_eq(&fb->via.array.ptr[1], "scored"));
    const msgpack_object *tr = fmx_mp_map_get(&m, "trace");
    assert_int_equal(tr->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(tr->via.array.size, 2);
    for (uint32_t i = 0; i < 2; i++) {
        const msgpack_object *e = &tr->via.array.ptr[i];
        assert_int_equal(e->via.map.size, 6);
        assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "node"), trace[i].node));
        assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "type"), trace[i].type));
        assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "actor"), trace[i].actor ? trace[i].actor : ""));
        assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "status"), trace[i].status));
        int64_t v;
        assert_int_equal(fmx_mp_get_int(e, "start_us", &v), 0);
        assert_int_equal(v, trace[i].start_us);
        assert_int_equal(fmx_mp_get_int(e, "end_us", &v), 0);
        assert_int_equal(v, trace[i].end_us);
    }
    msgpack_unpacked_destroy(&u);

    /* without trace: 7 keys, no `trace`; NULL items -> [] */
    msgpack_sbuffer_clear(&out);
    r.with_trace = false;
    r.items = NULL;
    r.items_len = 0;
    r.n_experiments = 0;
    r.n_fallbacks = 0;
    r.status = "ok";
    assert_int_equal(fmx_reply_pack(&out, &r), 0);
    m = unpack_one(&u, &out);
    assert_int_equal(m.via.map.size, 7);
    assert_null(fmx_mp_map_get(&m, "trace"));
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(&m, "status"), "ok"));
    assert_int_equal(fmx_mp_map_get(&m, "items")->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(fmx_mp_map_get(&m, "items")->via.array.size, 0);
    assert_int_equal(fmx_mp_map_get(&m, "experiments")->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(fmx_mp_map_get(&m, "experiments")->via.map.size, 0);
    assert_int_equal(fmx_mp_map_get(&m, "fallbacks")->via.array.size, 0);
    msgpack_unpacked_destroy(&u);

    /* items that are not an array: refused, buffer untouched */
    size_t before = out.size;
    r.items = "\x81\xa1"
              "a\x01";
    r.items_len = 4;
    assert_int_equal(fmx_reply_pack(&out, &r), -1);
    assert_int_equal(out.size, before);
    r.items = "";
    r.items_len = 0;
    assert_int_equal(fmx_reply_pack(&out, &r), -1);

    msgpack_sbuffer_destroy(&out);
    msgpack_sbuffer_destroy(&items);
}

/* A detailed entry keeps the six contract keys and adds the measurements; outcome and fallback
 * only when set. */
static void test_reply_pack_trace_detail(void **state) {
    (void)state;
    const fmx_trace_entry_t trace[] = {
        {.node = "scored", .type = "score", .actor = "score-1", .status = "fallback", .start_us = 950,
         .end_us = 30000, .detail = true, .queue_us = 40, .actor_us = 0, .bytes = 1, .replica_pid = 4242,
         .attempt = 2, .outcome = "timeout", .fallback = "passthrough"},
        {.node = "page", .type = "blend", .actor = "blend-1", .status = "ok", .start_us = 30010, .end_us = 30500,
         .detail = true, .queue_us = 3, .actor_us = 400, .bytes = 2048, .replica_pid = 77, .attempt = 1},
    };
    fmx_reply_t r = {.status = "degraded", .request_id = FMX_STR_LIT("r-2"), .ranking_id = FMX_STR_LIT("rk-2"),
                     .feed = FMX_STR_LIT("home"), .trace = trace, .n_trace = 2, .with_trace = true};
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    assert_int_equal(fmx_reply_pack(&out, &r), 0);
    msgpack_unpacked u;
    msgpack_object m = unpack_one(&u, &out);
    const msgpack_object *tr = fmx_mp_map_get(&m, "trace");
    assert_int_equal(tr->via.array.size, 2);
    const msgpack_object *e = &tr->via.array.ptr[0];
    assert_int_equal(e->via.map.size, 13);
    int64_t v;
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "node"), "scored"));
    assert_int_equal(fmx_mp_get_int(e, "end_us", &v), 0);
    assert_int_equal(v, 30000);
    assert_int_equal(fmx_mp_get_int(e, "queue_us", &v), 0);
    assert_int_equal(v, 40);
    assert_int_equal(fmx_mp_get_int(e, "replica_pid", &v), 0);
    assert_int_equal(v, 4242);
    assert_int_equal(fmx_mp_get_int(e, "attempt", &v), 0);
    assert_int_equal(v, 2);
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "outcome"), "timeout"));
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "fallback"), "passthrough"));
    e = &tr->via.array.ptr[1];
    assert_int_equal(e->via.map.size, 11);
    assert_null(fmx_mp_map_get(e, "outcome"));
    assert_null(fmx_mp_map_get(e, "fallback"));
    assert_int_equal(fmx_mp_get_int(e, "actor_us", &v), 0);
    assert_int_equal(v, 400);
    assert_int_equal(fmx_mp_get_int(e, "bytes", &v), 0);
    assert_int_equal(v, 2048);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&out);
}

static void test_reply_pack_error(void **state) {
    (void)state;
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    msgpack_unpacked u;

    assert_int_equal(fmx_reply_pack_error(&out, FMX_STR_LIT("r-7"), FMX_CODE_UNKNOWN_FEED, "no feed `x`"), 0);
    msgpack_object m = unpack_one(&u, &out);
    assert_int_equal(m.via.map.size, 3);
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(&m, "status"), "error"));
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(&m, "request_id"), "r-7"));
    const msgpack_object *e = fmx_mp_map_get(&m, "error");
    assert_non_null(e);
    assert_int_equal(e->via.map.size, 2);
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "code"), "unknown_feed"));
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "message"), "no feed `x`"));
    msgpack_unpacked_destroy(&u);

    msgpack_sbuffer_clear(&out);
    assert_int_equal(fmx_reply_pack_error(&out, FMX_STR_NULL, FMX_CODE_BAD_REQUEST, "`limit` ..."), 0);
    m = unpack_one(&u, &out);
    assert_int_equal(m.via.map.size, 2);
    assert_null(fmx_mp_map_get(&m, "request_id"));
    e = fmx_mp_map_get(&m, "error");
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "code"), "bad_request"));
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "message"), "`limit` ..."));
    msgpack_unpacked_destroy(&u);

    /* every code round-trips by name */
    static const struct {
        fmx_error_code_t code;
        const char *name;
    } codes[] = {
        {FMX_CODE_OK, "ok"},
        {FMX_CODE_BAD_REQUEST, "bad_request"},
        {FMX_CODE_UNKNOWN_FEED, "unknown_feed"},
        {FMX_CODE_OVERLOADED, "overloaded"},
        {FMX_CODE_DEADLINE_EXCEEDED, "deadline_exceeded"},
        {FMX_CODE_INTERNAL, "internal"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(codes); i++) {
        assert_string_equal(fmx_error_code_name(codes[i].code), codes[i].name);
        msgpack_sbuffer_clear(&out);
        assert_int_equal(fmx_reply_pack_error(&out, FMX_STR_LIT("r"), codes[i].code, NULL), 0);
        m = unpack_one(&u, &out);
        e = fmx_mp_map_get(&m, "error");
        assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "code"), codes[i].name));
        assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "message"), ""));
        msgpack_unpacked_destroy(&u);
    }
    assert_string_equal(fmx_error_code_name((fmx_error_code_t)99), "internal");

    /* event ok */
    msgpack_sbuffer_clear(&out);
    assert_int_equal(fmx_reply_pack_event_ok(&out, FMX_STR_NULL), 0);
    m = unpack_one(&u, &out);
    assert_int_equal(m.via.map.size, 1);
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(&m, "status"), "ok"));
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_clear(&out);
    assert_int_equal(fmx_reply_pack_event_ok(&out, FMX_STR_LIT("ev-1")), 0);
    m = unpack_one(&u, &out);
    assert_int_equal(m.via.map.size, 2);
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(&m, "request_id"), "ev-1"));
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&out);
}

/* An error reply to a bad request decodes as a map a client can read: the full loop. */
static void test_error_reply_carries_decode_message(void **state) {
    (void)state;
    fmx_request_t req;
    char err[FMX_ERR_LEN];
    assert_int_equal(fmx_request_decode(&req, "\x93\x01\x02\x03", 4, err), -1);
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    assert_int_equal(fmx_reply_pack_error(&out, req.request_id, FMX_CODE_BAD_REQUEST, err), 0);
    fmx_request_fini(&req);
    msgpack_unpacked u;
    msgpack_object m = unpack_one(&u, &out);
    const msgpack_object *e = fmx_mp_map_get(&m, "error");
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(e, "message"), "request must be a msgpack map, got array"));
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&out);
}

/* ---- the fuzz seed corpus (test/fuzz/make-seeds.py): ok-* decode, bad-* are refused ---------- */

static int s_decode_seed(const char *data, size_t len, char err[FMX_ERR_LEN], void *arg) {
    (void)arg;
    fmx_request_t req;
    int rc = fmx_request_decode(&req, data, len, err);
    fmx_request_fini(&req);
    return rc;
}

static void test_seed_corpus(void **state) {
    (void)state;
    size_t n = corpus_for_each_seed("request", s_decode_seed, NULL);
    if (n == 0) skip();
    assert_true(n >= 20);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_feed_request),
        cmocka_unit_test(test_decode_minimal_and_defaults),
        cmocka_unit_test(test_decode_event),
        cmocka_unit_test(test_user_id_int_formatting),
        cmocka_unit_test(test_not_msgpack_or_not_map),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_oversize_and_bad_names),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_fini_safety),
        cmocka_unit_test(test_reply_pack),
        cmocka_unit_test(test_reply_pack_trace_detail),
        cmocka_unit_test(test_reply_pack_error),
        cmocka_unit_test(test_error_reply_carries_decode_message),
        cmocka_unit_test(test_seed_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
