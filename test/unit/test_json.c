/* test_json.c - the msgpack -> JSON printer of feedctl (tools/feedctl/json.c).
 *
 * tools/ is not a library the unit tests link, so the printer is compiled into this test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/feedctl/json.c"

typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} t_buf_t;

static void t_init(t_buf_t *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

static void t_str(t_buf_t *b, const char *s, size_t n)
{
    msgpack_pack_str(&b->pk, n);
    msgpack_pack_str_body(&b->pk, s, n);
}

static void t_cstr(t_buf_t *b, const char *s)
{
    t_str(b, s, strlen(s));
}

/* Unpacks what b holds, prints it with the given indent; returns the text (caller frees) and
 * the printer's return code in *rc. Frees b. */
static char *t_render(t_buf_t *b, int indent, int *rc)
{
    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, b->sb.data, b->sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, b->sb.size);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    assert_non_null(mem);
    int r = fmx_json_write(mem, &up.data, indent);
    assert_int_equal(fclose(mem), 0);
    if (rc)
        *rc = r;
    else
        assert_int_equal(r, 0);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&b->sb);
    return text;
}

static void t_expect(t_buf_t *b, int indent, const char *want)
{
    char *got = t_render(b, indent, NULL);
    assert_string_equal(got, want);
    free(got);
}

static void t_expect_str(const char *s, size_t n, const char *want)
{
    t_buf_t b;
    t_init(&b);
    t_str(&b, s, n);
    t_expect(&b, 0, want);
}

#define EXPECT_STR(lit, want) t_expect_str((lit), sizeof(lit) - 1, (want))

static void test_escapes(void **state)
{
    (void)state;
    EXPECT_STR("plain", "\"plain\"");
    EXPECT_STR("", "\"\"");
    EXPECT_STR("q\"b\\s/", "\"q\\\"b\\\\s/\"");
    EXPECT_STR("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    EXPECT_STR("a\x01z\x1f", "\"a\\u0001z\\u001f\"");
    EXPECT_STR("nul\0in", "\"nul\\u0000in\"");
    EXPECT_STR("\x7f", "\"\x7f\"");
}

static void test_utf8(void **state)
{
    (void)state;
    /* Valid 2, 3 and 4 byte sequences pass through. */
    EXPECT_STR("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    EXPECT_STR("\xff", "\"\\ufffd\"");
    EXPECT_STR("a\xc3", "\"a\\ufffd\"");                 /* truncated at the end */
    EXPECT_STR("\xe2\x82x", "\"\\ufffdx\"");             /* truncated 3-byte: one replacement */
    EXPECT_STR("\xc0\xaf", "\"\\ufffd\\ufffd\"");        /* overlong */
    EXPECT_STR("\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\""); /* overlong 3-byte */
    EXPECT_STR("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    EXPECT_STR("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
    EXPECT_STR("\x80z", "\"\\ufffdz\"");                 /* lone continuation byte */
    EXPECT_STR("\xf0\x9f\x98", "\"\\ufffd\"");           /* truncated 4-byte */
}

static void test_scalars(void **state)
{
    (void)state;
    t_buf_t b;
    t_init(&b);
    msgpack_pack_array(&b.pk, 7);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_true(&b.pk);
    msgpack_pack_false(&b.pk);
    msgpack_pack_int64(&b.pk, -42);
    msgpack_pack_uint64(&b.pk, UINT64_MAX);
    msgpack_pack_int64(&b.pk, INT64_MIN);
    msgpack_pack_int(&b.pk, 0);
    t_expect(&b, 0, "[null,true,false,-42,18446744073709551615,-9223372036854775808,0]");
}

static void test_floats(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(fmx_json_format_double(buf, 0.1, 0), "0.1");
    assert_string_equal(fmx_json_format_double(buf, 1.0, 0), "1.0");
    assert_string_equal(fmx_json_format_double(buf, -0.0, 0), "-0.0");
    assert_string_equal(fmx_json_format_double(buf, 1.5, 0), "1.5");
    assert_string_equal(fmx_json_format_double(buf, 1e300, 0), "1e+300");
    assert_string_equal(fmx_json_format_double(buf, 123456789012.0, 0), "123456789012.0");
    assert_string_equal(fmx_json_format_double(buf, 1.0 / 3.0, 0), "0.3333333333333333");
    assert_string_equal(fmx_json_format_double(buf, 5e-324, 0), "5e-324");
    assert_string_equal(fmx_json_format_double(buf, NAN, 0), "null");
    assert_string_equal(fmx_json_format_double(buf, -INFINITY, 0), "null");
    assert_string_equal(fmx_json_format_double(buf, (double)0.1f, 1), "0.1");
    assert_string_equal(fmx_json_format_double(buf, (double)(1.0f / 3.0f), 1), "0.33333334");
    /* Every printed double reads back to the same value. */
    double samples[] = {0.3, 2.675, 1e-7, 6.02214076e23, 0.1 + 0.2, 9007199254740993.0, -1.25e-300};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        assert_true(strtod(fmx_json_format_double(buf, samples[i], 0), NULL) == samples[i]);

    t_buf_t b;
    t_init(&b);
    msgpack_pack_array(&b.pk, 3);
    msgpack_pack_double(&b.pk, 0.25);
    msgpack_pack_float(&b.pk, 0.1f);
    msgpack_pack_double(&b.pk, 2.0);
    t_expect(&b, 0, "[0.25,0.1,2.0]");
}

static void test_bin_and_ext(void **state)
{
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"\"\"", "\"Zg==\"", "\"Zm8=\"", "\"Zm9v\"", "\"Zm9vYg==\"", "\"Zm9vYmE=\"",
                                      "\"Zm9vYmFy\""};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        t_buf_t b;
        t_init(&b);
        msgpack_pack_bin(&b.pk, strlen(in[i]));
        msgpack_pack_bin_body(&b.pk, in[i], strlen(in[i]));
        t_expect(&b, 0, out[i]);
    }
    t_buf_t b;
    t_init(&b);
    msgpack_pack_bin(&b.pk, 3);
    msgpack_pack_bin_body(&b.pk, "\xff\x00\xfe", 3);
    t_expect(&b, 0, "\"/wD+\"");

    t_init(&b);
    msgpack_pack_ext(&b.pk, 2, 5);
    msgpack_pack_ext_body(&b.pk, "ab", 2);
    t_expect(&b, 0, "{\"ext\":5,\"data\":\"YWI=\"}");
}

static void test_nesting_pretty(void **state)
{
    (void)state;
    t_buf_t b;
    t_init(&b);
    msgpack_pack_map(&b.pk, 5);
    t_cstr(&b, "status");
    t_cstr(&b, "ok");
    t_cstr(&b, "items");
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_map(&b.pk, 2);
    t_cstr(&b, "id");
    t_cstr(&b, "7");
    t_cstr(&b, "score");
    msgpack_pack_double(&b.pk, 0.5);
    msgpack_pack_array(&b.pk, 0);
    t_cstr(&b, "empty");
    msgpack_pack_map(&b.pk, 0);
    t_cstr(&b, "zeta"); /* wire order, not sorted */
    msgpack_pack_int(&b.pk, 1);
    t_cstr(&b, "alpha");
    msgpack_pack_int(&b.pk, 2);
    t_expect(&b, 2,
             "{\n"
             "  \"status\": \"ok\",\n"
             "  \"items\": [\n"
             "    {\n"
             "      \"id\": \"7\",\n"
             "      \"score\": 0.5\n"
             "    },\n"
             "    []\n"
             "  ],\n"
             "  \"empty\": {},\n"
             "  \"zeta\": 1,\n"
             "  \"alpha\": 2\n"
             "}");
}

static void test_compact_and_keys(void **state)
{
    (void)state;
    t_buf_t b;
    t_init(&b);
    msgpack_pack_map(&b.pk, 4);
    msgpack_pack_int(&b.pk, 7);
    msgpack_pack_true(&b.pk);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_int(&b.pk, 1);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_int(&b.pk, 1);
    t_cstr(&b, "x");
    msgpack_pack_int(&b.pk, 2);
    t_str(&b, "k\"\n", 3);
    msgpack_pack_int(&b.pk, 3);
    t_expect(&b, 0, "{\"7\":true,\"null\":1,\"[1,\\\"x\\\"]\":2,\"k\\\"\\n\":3}");
}

/* msgpack-c's unpacker refuses deep nesting itself, so the chains are built by hand. */
static char *t_render_chain(int depth, int indent, int *rc)
{
    msgpack_object *objs = calloc((size_t)depth + 1, sizeof *objs);
    assert_non_null(objs);
    for (int i = 0; i < depth; i++) {
        objs[i].type = MSGPACK_OBJECT_ARRAY;
        objs[i].via.array.size = 1;
        objs[i].via.array.ptr = &objs[i + 1];
    }
    objs[depth].type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    objs[depth].via.u64 = 1;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    assert_non_null(mem);
    *rc = fmx_json_write(mem, &objs[0], indent);
    assert_int_equal(fclose(mem), 0);
    free(objs);
    return text;
}

static void test_depth_limit(void **state)
{
    (void)state;
    /* Nesting within the limit prints completely. */
    int rc = -2;
    char *text = t_render_chain(FMX_JSON_MAX_DEPTH, 0, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(text), 2 * FMX_JSON_MAX_DEPTH + 1);
    assert_int_equal(text[FMX_JSON_MAX_DEPTH], '1');
    free(text);

    /* One level more: the innermost container becomes null, the output stays balanced. */
    rc = 0;
    text = t_render_chain(FMX_JSON_MAX_DEPTH + 1, 2, &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(text, "null"));
    assert_null(strchr(text, '1'));
    size_t open = 0, close = 0;
    for (const char *p = text; *p; p++) {
        open += *p == '[';
        close += *p == ']';
    }
    assert_int_equal(open, FMX_JSON_MAX_DEPTH);
    assert_int_equal(close, FMX_JSON_MAX_DEPTH);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),         cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_scalars),         cmocka_unit_test(test_floats),
        cmocka_unit_test(test_bin_and_ext),     cmocka_unit_test(test_nesting_pretty),
        cmocka_unit_test(test_compact_and_keys), cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
