/* test_mpcheck.c - the msgpack guard (schemas/mpcheck.h) and the object accessors (schemas/mpobj.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "schemas/mpcheck.h"
#include "schemas/mpobj.h"

static const fmx_mp_limits_t s_big = {.max_bytes = 64u << 20, .max_depth = 32, .max_elements = 1u << 24};

#define CHECK_OK(buf, len, lim)                                                                                        \
    do {                                                                                                               \
        char err_[FMX_ERR_LEN] = "";                                                                                   \
        int rc_ = fmx_mp_check((buf), (len), (lim), err_);                                                             \
        if (rc_ != 0) print_error("unexpected error: %s\n", err_);                                                     \
        assert_int_equal(rc_, 0);                                                                                      \
    } while (0)

#define CHECK_FAIL(buf, len, lim, substr)                                                                              \
    do {                                                                                                               \
        char err_[FMX_ERR_LEN] = "";                                                                                   \
        assert_int_equal(fmx_mp_check((buf), (len), (lim), err_), -1);                                                 \
        if (!strstr(err_, (substr))) print_error("message \"%s\" lacks \"%s\"\n", err_, (substr));                     \
        assert_non_null(strstr(err_, (substr)));                                                                       \
    } while (0)

/* ---- samples: one valid object of every format ------------------------------------------------ */

typedef struct {
    char *data;
    size_t len;
} sample_t;

static sample_t s_samples[64];
static size_t s_n_samples;

static void add_sample(const void *data, size_t len) {
    assert_true(s_n_samples < FMX_ARRAY_LEN(s_samples));
    sample_t *s = &s_samples[s_n_samples++];
    s->data = malloc(len);
    assert_non_null(s->data);
    memcpy(s->data, data, len);
    s->len = len;
}

static void add_packed(msgpack_sbuffer *sb) {
    add_sample(sb->data, sb->size);
    msgpack_sbuffer_clear(sb);
}

static int samples_setup(void **state) {
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    msgpack_pack_nil(&pk), add_packed(&sb);
    msgpack_pack_true(&pk), add_packed(&sb);
    msgpack_pack_false(&pk), add_packed(&sb);
    static const int64_t ints[] = {0,         1,  127, 128, 255,  256,  65535,  65536,  4294967295LL,  4294967296LL,
                                   INT64_MAX, -1, -32, -33, -128, -129, -32768, -32769, -2147483648LL, -2147483649LL,
                                   INT64_MIN};
    for (size_t i = 0; i < FMX_ARRAY_LEN(ints); i++)
        msgpack_pack_int64(&pk, ints[i]), add_packed(&sb);
    msgpack_pack_uint64(&pk, UINT64_MAX), add_packed(&sb);
    msgpack_pack_float(&pk, 1.5f), add_packed(&sb);
    msgpack_pack_double(&pk, -2.25), add_packed(&sb);

    static char big[70000];
    memset(big, 'x', sizeof(big));
    static const size_t str_lens[] = {0, 5, 31, 32, 255, 256, 65535, 65536};
    for (size_t i = 0; i < FMX_ARRAY_LEN(str_lens); i++) {
        msgpack_pack_str(&pk, str_lens[i]);
        if (str_lens[i]) msgpack_pack_str_body(&pk, big, str_lens[i]);
        add_packed(&sb);
    }
    static const size_t bin_lens[] = {0, 3, 256, 65536};
    for (size_t i = 0; i < FMX_ARRAY_LEN(bin_lens); i++) {
        msgpack_pack_bin(&pk, bin_lens[i]);
        if (bin_lens[i]) msgpack_pack_bin_body(&pk, big, bin_lens[i]);
        add_packed(&sb);
    }
    /* Containers: empty, fixarray, array16 and a nested map holding every scalar kind. */
    msgpack_pack_array(&pk, 0), add_packed(&sb);
    msgpack_pack_map(&pk, 0), add_packed(&sb);
    msgpack_pack_array(&pk, 3), msgpack_pack_int(&pk, 1), msgpack_pack_str(&pk, 1), msgpack_pack_str_body(&pk, "a", 1),
        msgpack_pack_nil(&pk), add_packed(&sb);
    msgpack_pack_array(&pk, 20);
    for (int i = 0; i < 20; i++)
        msgpack_pack_int(&pk, i * 1000);
    add_packed(&sb);
    msgpack_pack_map(&pk, 17);
    for (int i = 0; i < 17; i++) {
        char key[8];
        int n = snprintf(key, sizeof(key), "k%d", i);
        msgpack_pack_str(&pk, (size_t)n), msgpack_pack_str_body(&pk, key, (size_t)n);
        msgpack_pack_map(&pk, 2);
        msgpack_pack_str(&pk, 1), msgpack_pack_str_body(&pk, "f", 1), msgpack_pack_double(&pk, i / 3.0);
        msgpack_pack_str(&pk, 1), msgpack_pack_str_body(&pk, "a", 1), msgpack_pack_array(&pk, 2);
        msgpack_pack_true(&pk), msgpack_pack_bin(&pk, 2), msgpack_pack_bin_body(&pk, "zz", 2);
    }
    add_packed(&sb);
    msgpack_sbuffer_destroy(&sb);

    /* Wide headers that msgpack-c never emits for small counts, but which are valid. */
    static const uint8_t arr32[] = {0xdd, 0, 0, 0, 2, 0xc0, 0x01};
    static const uint8_t map32[] = {0xdf, 0, 0, 0, 1, 0xa1, 'k', 0xc3};
    static const uint8_t map16[] = {0xde, 0, 1, 0xa1, 'k', 0xc2};
    static const uint8_t str8[] = {0xd9, 2, 'h', 'i'};
    static const uint8_t u8[] = {0xcc, 7};
    static const uint8_t i8[] = {0xd0, 7};
    add_sample(arr32, sizeof(arr32));
    add_sample(map32, sizeof(map32));
    add_sample(map16, sizeof(map16));
    add_sample(str8, sizeof(str8));
    add_sample(u8, sizeof(u8));
    add_sample(i8, sizeof(i8));
    return 0;
}

static int samples_teardown(void **state) {
    (void)state;
    for (size_t i = 0; i < s_n_samples; i++)
        free(s_samples[i].data);
    s_n_samples = 0;
    return 0;
}

static void test_valid_samples(void **state) {
    (void)state;
    assert_int_equal(s_n_samples, 50);
    for (size_t i = 0; i < s_n_samples; i++) {
        CHECK_OK(s_samples[i].data, s_samples[i].len, &s_big);
        /* and msgpack-c agrees it is exactly one object */
        msgpack_zone z;
        msgpack_zone_init(&z, 1024);
        msgpack_object o;
        size_t off = 0;
        assert_int_equal(msgpack_unpack(s_samples[i].data, s_samples[i].len, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, s_samples[i].len);
        msgpack_zone_destroy(&z);
    }
}

static void test_truncated_everywhere(void **state) {
    (void)state;
    for (size_t i = 0; i < s_n_samples; i++) {
        for (size_t len = 0; len < s_samples[i].len; len++) {
            char err[FMX_ERR_LEN] = "";
            if (fmx_mp_check(s_samples[i].data, len, &s_big, err) != -1)
                fail_msg("sample %zu truncated to %zu of %zu bytes passed", i, len, s_samples[i].len);
            assert_true(strlen(err) > 0);
            /* fmx_mp_skip must also notice */
            size_t off = 0;
            assert_int_equal(fmx_mp_skip(s_samples[i].data, len, &off), -1);
            assert_int_equal(off, 0);
        }
    }
}

static void test_trailing_bytes(void **state) {
    (void)state;
    for (size_t i = 0; i < s_n_samples; i++) {
        size_t len = s_samples[i].len;
        char *buf = malloc(len + 2);
        assert_non_null(buf);
        memcpy(buf, s_samples[i].data, len);
        buf[len] = (char)0xc0;
        buf[len + 1] = 0x01;
        char want[64];
        snprintf(want, sizeof(want), "2 trailing bytes after the object that ends at offset %zu", len);
        CHECK_FAIL(buf, len + 2, &s_big, want);
        free(buf);
    }
}

static void test_skip_samples(void **state) {
    (void)state;
    for (size_t i = 0; i < s_n_samples; i++) {
        size_t off = 0;
        assert_int_equal(fmx_mp_skip(s_samples[i].data, s_samples[i].len, &off), 0);
        assert_int_equal(off, s_samples[i].len);
    }
}

/* ---- hand-made malformed input ------------------------------------------------------------- */

static void test_empty(void **state) {
    (void)state;
    CHECK_FAIL(NULL, 0, &fmx_mp_limits_request, "empty buffer");
    CHECK_FAIL("", 0, &fmx_mp_limits_request, "empty buffer");
}

static void test_huge_counts(void **state) {
    (void)state;
    uint8_t buf[16];
    memset(buf, 0xc0, sizeof(buf));
    buf[0] = 0xdd, buf[1] = buf[2] = buf[3] = buf[4] = 0xff;
    char err[FMX_ERR_LEN];
    assert_int_equal(fmx_mp_check(buf, 13, &fmx_mp_limits_request, err), -1);
    assert_string_equal(err, "array of 4294967295 elements at offset 0 exceeds the 8 bytes that remain");

    buf[0] = 0xdf; /* map32: 2^32-1 entries */
    CHECK_FAIL(buf, 13, &fmx_mp_limits_request, "map of 4294967295 entries at offset 0 exceeds the 8 bytes");
    /* a bare 5-byte header */
    CHECK_FAIL(buf, 5, &fmx_mp_limits_request, "exceeds the 0 bytes that remain");

    /* array16 of 3 with 2 bytes left; map16 of 2 with 3 bytes left (entries need 2 bytes each) */
    static const uint8_t a16[] = {0xdc, 0, 3, 0xc0, 0xc0};
    CHECK_FAIL(a16, sizeof(a16), &fmx_mp_limits_request, "array of 3 elements at offset 0 exceeds the 2 bytes");
    static const uint8_t m16[] = {0xde, 0, 2, 0xc0, 0xc0, 0xc0};
    CHECK_FAIL(m16, sizeof(m16), &fmx_mp_limits_request, "map of 2 entries at offset 0 exceeds the 3 bytes");
    /* nested: the inner array's offset is reported */
    static const uint8_t nest[] = {0x92, 0x01, 0xdd, 0x7f, 0xff, 0xff, 0xff, 0xc0};
    CHECK_FAIL(nest, sizeof(nest), &fmx_mp_limits_request,
               "array of 2147483647 elements at offset 2 exceeds the 1 bytes");

    /* str32 / bin32 claiming 4 GiB */
    static const uint8_t s32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b'};
    CHECK_FAIL(s32, sizeof(s32), &fmx_mp_limits_request,
               "truncated str32 at offset 0: needs 4294967295 bytes, 2 remain");
    static const uint8_t b32[] = {0x91, 0xc6, 0xff, 0xff, 0xff, 0xff};
    CHECK_FAIL(b32, sizeof(b32), &fmx_mp_limits_request, "truncated bin32 at offset 1");
    /* a header cut inside its length field */
    static const uint8_t cut[] = {0x91, 0xda, 0x01};
    CHECK_FAIL(cut, sizeof(cut), &fmx_mp_limits_request, "truncated str16 header at offset 1");
    /* a fixarray that ends before its elements */
    static const uint8_t short_arr[] = {0x93, 0x01, 0x02};
    CHECK_FAIL(short_arr, sizeof(short_arr), &fmx_mp_limits_request, "exceeds the 2 bytes that remain");
    static const uint8_t short_nested[] = {0x92, 0x91, 0x91, 0x01};
    CHECK_FAIL(short_nested, sizeof(short_nested), &fmx_mp_limits_request, "ends at offset 4 inside a container");
}

static void nested(uint8_t *buf, size_t depth, uint8_t tag) {
    for (size_t i = 0; i < depth; i++)
        buf[i] = tag;
    buf[depth] = 0x01;
}

static void test_depth(void **state) {
    (void)state;
    static uint8_t buf[100001];
    /* request limits: 16 levels pass, 17 fail; also with maps (key nil, value nested) */
    nested(buf, 16, 0x91);
    CHECK_OK(buf, 17, &fmx_mp_limits_request);
    nested(buf, 17, 0x91);
    CHECK_FAIL(buf, 18, &fmx_mp_limits_request, "array at offset 16 is nested deeper than 16 levels");
    for (int i = 0; i < 17; i++)
        buf[2 * i] = 0x81, buf[2 * i + 1] = 0xc0;
    buf[34] = 0x01;
    CHECK_FAIL(buf, 35, &fmx_mp_limits_request, "map at offset 32 is nested deeper than 16");
    /* an empty container counts as a level too */
    nested(buf, 16, 0x91);
    buf[16] = 0x90;
    CHECK_FAIL(buf, 17, &fmx_mp_limits_request, "nested deeper than 16");

    /* result limits: 32 pass (and msgpack-c can unpack them), 33 fail */
    nested(buf, 32, 0x91);
    CHECK_OK(buf, 33, &fmx_mp_limits_result);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, 33, &off), MSGPACK_UNPACK_SUCCESS);
    msgpack_unpacked_destroy(&u);
    nested(buf, 33, 0x91);
    CHECK_FAIL(buf, 34, &fmx_mp_limits_result, "nested deeper than 32");

    /* a limit above what msgpack-c supports is clamped */
    fmx_mp_limits_t deep = s_big;
    deep.max_depth = 100000;
    CHECK_FAIL(buf, 34, &deep, "nested deeper than 32");
    /* a depth bomb: 100000 nested arrays fail fast, whatever the limit */
    nested(buf, 100000, 0x91);
    CHECK_FAIL(buf, sizeof(buf), &deep, "nested deeper");
    nested(buf, 100000, 0xdc); /* array16 headers with counts from the following tags */
    CHECK_FAIL(buf, sizeof(buf), &deep, "at offset");

    fmx_mp_limits_t flat = s_big;
    flat.max_depth = 0;
    CHECK_OK("\x01", 1, &flat);
    CHECK_FAIL("\x90", 1, &flat, "nested deeper than 0");
}

static void test_element_limit(void **state) {
    (void)state;
    size_t len = 3 + 65536;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    memset(buf, 0xc0, len);
    buf[0] = 0xdc, buf[1] = 0xff, buf[2] = 0xff; /* 65535 elements + the root = 65536: at the limit */
    CHECK_OK(buf, len - 1, &fmx_mp_limits_request);
    /* array32 of 65536 nils: one too many */
    size_t len32 = 5 + 65536;
    uint8_t *b32 = malloc(len32);
    assert_non_null(b32);
    memset(b32, 0xc0, len32);
    b32[0] = 0xdd, b32[1] = 0, b32[2] = 1, b32[3] = 0, b32[4] = 0;
    CHECK_FAIL(b32, len32, &fmx_mp_limits_request, "more than 65536 objects in total (array at offset 0)");
    free(b32);
    free(buf);

    /* map keys and values both count */
    fmx_mp_limits_t small = s_big;
    small.max_elements = 4;
    static const uint8_t m[] = {0x82, 0x01, 0x02, 0x03, 0x04};
    CHECK_FAIL(m, sizeof(m), &small, "more than 4 objects");
    small.max_elements = 5;
    CHECK_OK(m, sizeof(m), &small);
}

static void test_byte_limit(void **state) {
    (void)state;
    size_t len = (1u << 20) + 1;
    uint8_t *buf = calloc(1, len);
    assert_non_null(buf);
    CHECK_FAIL(buf, len, &fmx_mp_limits_request, "1048577 bytes exceed the limit of 1048576 bytes");
    /* a single 1 MiB str passes */
    buf[0] = 0xdb, buf[1] = 0, buf[2] = 0x0f, buf[3] = 0xff, buf[4] = 0xfb;
    CHECK_OK(buf, 1u << 20, &fmx_mp_limits_request);
    free(buf);
}

static void test_ext_and_invalid(void **state) {
    (void)state;
    static const uint8_t exts[][20] = {
        {0xc7, 1, 5, 0},
        {0xc8, 0, 1, 5, 0},
        {0xc9, 0, 0, 0, 1, 5, 0},
        {0xd4, 5, 0},
        {0xd5, 5, 0, 0},
        {0xd6, 5, 0, 0, 0, 0},
        {0xd7, 5, 0, 0, 0, 0, 0, 0, 0, 0},
        {0xd8, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    };
    static const size_t ext_lens[] = {4, 5, 7, 3, 4, 6, 10, 18};
    for (size_t i = 0; i < FMX_ARRAY_LEN(exts); i++)
        CHECK_FAIL(exts[i], ext_lens[i], &s_big, "(ext type) at offset 0 is not supported");
    static const uint8_t in_map[] = {0x81, 0xa1, 'k', 0xd4, 1, 2};
    CHECK_FAIL(in_map, sizeof(in_map), &s_big, "fixext1 (ext type) at offset 3");

    CHECK_FAIL("\xc1", 1, &s_big, "invalid byte 0xc1 at offset 0");
    static const uint8_t c1[] = {0x93, 0x01, 0x02, 0xc1};
    CHECK_FAIL(c1, sizeof(c1), &s_big, "invalid byte 0xc1 at offset 3");
    size_t off = 0;
    assert_int_equal(fmx_mp_skip(c1, sizeof(c1), &off), -1);
    assert_int_equal(fmx_mp_skip(exts[0], 4, &off), -1);
}

/* Every single-byte mutation of every sample: whatever passes the check must unpack, whole,
 * without ext objects. Catches a walker that accepts what msgpack-c would choke on. */
static bool has_ext(const msgpack_object *o) {
    if (o->type == MSGPACK_OBJECT_EXT) return true;
    if (o->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (has_ext(&o->via.array.ptr[i])) return true;
    if (o->type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (has_ext(&o->via.map.ptr[i].key) || has_ext(&o->via.map.ptr[i].val)) return true;
    return false;
}

static void test_mutations_agree_with_msgpack_c(void **state) {
    (void)state;
    static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa1,
                                    0xbf, 0xc0, 0xc1, 0xc2, 0xc4, 0xc7, 0xca, 0xcb, 0xcc, 0xcf, 0xd0,
                                    0xd4, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
    size_t passed = 0, tried = 0;
    for (size_t i = 0; i < s_n_samples; i++) {
        if (s_samples[i].len > 400) continue;
        char *buf = malloc(s_samples[i].len);
        assert_non_null(buf);
        for (size_t pos = 0; pos < s_samples[i].len; pos++) {
            for (size_t b = 0; b < FMX_ARRAY_LEN(bytes); b++) {
                memcpy(buf, s_samples[i].data, s_samples[i].len);
                buf[pos] = (char)bytes[b];
                tried++;
                char err[FMX_ERR_LEN];
                if (fmx_mp_check(buf, s_samples[i].len, &s_big, err) != 0) {
                    assert_true(strlen(err) > 0);
                    continue;
                }
                passed++;
                msgpack_zone z;
                msgpack_zone_init(&z, 1024);
                msgpack_object o;
                size_t off = 0;
                assert_int_equal(msgpack_unpack(buf, s_samples[i].len, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
                assert_int_equal(off, s_samples[i].len);
                assert_false(has_ext(&o));
                size_t skip = 0;
                assert_int_equal(fmx_mp_skip(buf, s_samples[i].len, &skip), 0);
                assert_int_equal(skip, s_samples[i].len);
                msgpack_zone_destroy(&z);
            }
        }
        free(buf);
    }
    assert_true(passed > 100 && passed < tried);
}

/* ---- skip and array headers ---------------------------------------------------------------- */

static void test_skip_and_array_header(void **state) {
    (void)state;
    /* [ {"a": [1, 2]}, "xyz", 300, [] ] */
    static const uint8_t buf[] = {0x94, 0x81, 0xa1, 'a', 0x92, 0x01, 0x02, 0xa3, 'x', 'y', 'z', 0xcd, 0x01, 0x2c, 0x90};
    size_t off = 0;
    uint32_t n = 0;
    assert_int_equal(fmx_mp_read_array_header(buf, sizeof(buf), &off, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(off, 1);
    assert_int_equal(fmx_mp_skip(buf, sizeof(buf), &off), 0);
    assert_int_equal(off, 7);
    assert_int_equal(fmx_mp_skip(buf, sizeof(buf), &off), 0);
    assert_int_equal(off, 11);
    assert_int_equal(fmx_mp_skip(buf, sizeof(buf), &off), 0);
    assert_int_equal(off, 14);
    assert_int_equal(fmx_mp_read_array_header(buf, sizeof(buf), &off, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(off, sizeof(buf));
    assert_int_equal(fmx_mp_skip(buf, sizeof(buf), &off), -1); /* nothing left */
    assert_int_equal(fmx_mp_read_array_header(buf, sizeof(buf), &off, &n), -1);

    /* not an array: off and count untouched */
    off = 1;
    n = 77;
    assert_int_equal(fmx_mp_read_array_header(buf, sizeof(buf), &off, &n), -1);
    assert_int_equal(off, 1);
    assert_int_equal(n, 77);

    static const uint8_t a16[] = {0xdc, 0x01, 0x00};
    static const uint8_t a32[] = {0xdd, 0x00, 0x01, 0x00, 0x00};
    off = 0;
    assert_int_equal(fmx_mp_read_array_header(a16, sizeof(a16), &off, &n), 0);
    assert_int_equal(n, 256);
    assert_int_equal(off, 3);
    off = 0;
    assert_int_equal(fmx_mp_read_array_header(a32, sizeof(a32), &off, &n), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(off, 5);
    off = 0;
    assert_int_equal(fmx_mp_read_array_header(a32, 3, &off, &n), -1); /* header cut short */
    assert_int_equal(off, 0);
}

/* ---- mpobj --------------------------------------------------------------------------------- */

static void test_mpobj_accessors(void **state) {
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
    fmx_mp_pack_cstr(&pk, "s"), fmx_mp_pack_cstr(&pk, "hello");
    fmx_mp_pack_cstr(&pk, "i"), msgpack_pack_int64(&pk, -42);
    fmx_mp_pack_cstr(&pk, "u"), msgpack_pack_uint64(&pk, UINT64_MAX);
    fmx_mp_pack_cstr(&pk, "f"), msgpack_pack_float(&pk, 0.5f);
    fmx_mp_pack_cstr(&pk, "b"), msgpack_pack_true(&pk);
    fmx_mp_pack_cstr(&pk, "e"), fmx_mp_pack_cstr(&pk, NULL); /* NULL packs as "" */
    msgpack_pack_int(&pk, 7), fmx_mp_pack_cstr(&pk, "int key");
    fmx_mp_pack_cstr(&pk, ""), msgpack_pack_int(&pk, 9);
    fmx_mp_pack_strn(&pk, "big!", 3), msgpack_pack_int64(&pk, INT64_MAX);

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *m = &u.data;

    fmx_str_t s = FMX_STR_NULL;
    int64_t i = 0;
    double d = 0;
    bool b = false;
    assert_int_equal(fmx_mp_get_str(m, "s", &s), 0);
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.ptr, "hello", 5);
    assert_int_equal(fmx_mp_get_str(m, "i", &s), -1);
    assert_int_equal(fmx_mp_get_str(m, "missing", &s), 1);
    assert_int_equal(s.len, 5); /* untouched */
    assert_int_equal(fmx_mp_get_str(m, "e", &s), 0);
    assert_int_equal(s.len, 0);

    assert_int_equal(fmx_mp_get_int(m, "i", &i), 0);
    assert_int_equal(i, -42);
    assert_int_equal(fmx_mp_get_int(m, "big", &i), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(fmx_mp_get_int(m, "u", &i), -1); /* does not fit */
    assert_int_equal(fmx_mp_get_int(m, "f", &i), -1);
    assert_int_equal(fmx_mp_get_int(m, "", &i), 0);
    assert_int_equal(i, 9);

    assert_int_equal(fmx_mp_get_double(m, "f", &d), 0);
    assert_true(d == 0.5);
    assert_int_equal(fmx_mp_get_double(m, "i", &d), 0);
    assert_true(d == -42.0);
    assert_int_equal(fmx_mp_get_double(m, "u", &d), 0);
    assert_true(d == 18446744073709551615.0);
    assert_int_equal(fmx_mp_get_double(m, "s", &d), -1);
    assert_int_equal(fmx_mp_get_double(m, "nope", &d), 1);

    assert_int_equal(fmx_mp_get_bool(m, "b", &b), 0);
    assert_true(b);
    assert_int_equal(fmx_mp_get_bool(m, "i", &b), -1);
    assert_int_equal(fmx_mp_get_bool(m, "x", &b), 1);

    assert_non_null(fmx_mp_map_get(m, "s"));
    assert_null(fmx_mp_map_get(m, "int key")); /* the value, not a key */
    assert_null(fmx_mp_map_getn(m, "ss", 2));
    assert_non_null(fmx_mp_map_getn(m, "sx", 1));
    assert_null(fmx_mp_map_get(NULL, "s"));
    assert_null(fmx_mp_map_get(fmx_mp_map_get(m, "s"), "s")); /* not a map */

    assert_true(fmx_mp_str_eq(fmx_mp_map_get(m, "s"), "hello"));
    assert_false(fmx_mp_str_eq(fmx_mp_map_get(m, "s"), "hell"));
    assert_false(fmx_mp_str_eq(fmx_mp_map_get(m, "i"), "-42"));
    assert_true(fmx_mp_str_eq(fmx_mp_map_get(m, "e"), ""));
    assert_false(fmx_mp_str_eq(NULL, ""));

    assert_string_equal(fmx_mp_type_name(fmx_mp_map_get(m, "s")), "str");
    assert_string_equal(fmx_mp_type_name(fmx_mp_map_get(m, "u")), "int");
    assert_string_equal(fmx_mp_type_name(fmx_mp_map_get(m, "f")), "float");
    assert_string_equal(fmx_mp_type_name(m), "map");

    char buf[12];
    assert_string_equal(fmx_mp_printable(buf, sizeof(buf), "ok", 2), "ok");
    assert_string_equal(fmx_mp_printable(buf, sizeof(buf), "a\n`\x80z", 5), "a???z");
    assert_string_equal(fmx_mp_printable(buf, sizeof(buf), "0123456789abc", 13), "01234567...");

    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_samples, samples_setup, samples_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_everywhere, samples_setup, samples_teardown),
        cmocka_unit_test_setup_teardown(test_trailing_bytes, samples_setup, samples_teardown),
        cmocka_unit_test_setup_teardown(test_skip_samples, samples_setup, samples_teardown),
        cmocka_unit_test_setup_teardown(test_mutations_agree_with_msgpack_c, samples_setup, samples_teardown),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_element_limit),
        cmocka_unit_test(test_byte_limit),
        cmocka_unit_test(test_ext_and_invalid),
        cmocka_unit_test(test_skip_and_array_header),
        cmocka_unit_test(test_mpobj_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
