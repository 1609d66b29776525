/* test_jsonbuf.c - JSON text building (common/jsonbuf.h): every string, whatever its bytes, comes
 * out as valid JSON that a strict parser decodes to the intended text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonbuf.h"
#include "test/support/jparse.h"

/* Writes s[0..n) as a JSON string, checks the text is exactly `want` and parses back to `decoded`
 * (decoded_len bytes). */
static void s_check(const char *s, size_t n, const char *want, const char *decoded, size_t decoded_len) {
    fmx_jsonbuf_t b;
    fmx_jsonbuf_init(&b, 0);
    assert_int_equal(fmx_jsonbuf_str(&b, s, n), 0);
    if (want) {
        if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
            fail_msg("wrote %.*s, wanted %s", (int)b.len, b.data, want);
    }
    char err[128];
    jp_value_t *v = jp_parse(b.data, b.len, err, sizeof err);
    if (!v) fail_msg("not valid JSON (%s): %.*s", err, (int)b.len, b.data);
    assert_int_equal(v->type, JP_STR);
    assert_int_equal(v->len, decoded_len);
    assert_memory_equal(v->str, decoded, decoded_len);
    jp_free(&v);
    fmx_jsonbuf_fini(&b);
}

static void test_escapes(void **state) {
    (void)state;
    s_check("plain", 5, "\"plain\"", "plain", 5);
    s_check("", 0, "\"\"", "", 0);
    s_check("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"", "a\"b\\c/d", 7);
    s_check("l1\nl2\r\t\b\f", 9, "\"l1\\nl2\\r\\t\\b\\f\"", "l1\nl2\r\t\b\f", 9);
    s_check("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"", "\x01\x1f\x7f", 3);
    s_check("nul\0byte", 8, "\"nul\\u0000byte\"", "nul\0byte", 8);
    /* valid UTF-8 is kept as is: 2, 3 and 4 byte sequences */
    s_check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14);
    /* U+2028 / U+2029 are escaped: some readers split lines on them */
    s_check("a\xe2\x80\xa8" "b\xe2\x80\xa9", 8, "\"a\\u2028b\\u2029\"", "a\xe2\x80\xa8" "b\xe2\x80\xa9", 8);
}

static void test_invalid_utf8_becomes_replacement(void **state) {
    (void)state;
    static const char fffd[] = "\xef\xbf\xbd";
    s_check("\xff", 1, "\"\\ufffd\"", fffd, 3);
    s_check("a\x80z", 3, "\"a\\ufffdz\"", "a\xef\xbf\xbdz", 5);
    /* overlong, surrogate, past U+10FFFF, truncated: each maximal invalid subpart is one U+FFFD */
    s_check("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"", "\xef\xbf\xbd\xef\xbf\xbd", 6);
    s_check("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9);
    s_check("\xf4\x90\x80\x80", 4, NULL, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12);
    s_check("\xe2\x82", 2, "\"\\ufffd\"", fffd, 3);
    s_check("\xf0\x9f\x98", 3, "\"\\ufffd\"", fffd, 3);
}

/* Every byte value, alone and in the middle of text, gives valid JSON. */
static void test_every_byte(void **state) {
    (void)state;
    fmx_jsonbuf_t b;
    fmx_jsonbuf_init(&b, 0);
    for (int x = 0; x < 256; x++) {
        char s[3] = {'a', (char)x, 'z'};
        fmx_jsonbuf_reset(&b);
        assert_int_equal(fmx_jsonbuf_str(&b, s, 3), 0);
        char err[128];
        jp_value_t *v = jp_parse(b.data, b.len, err, sizeof err);
        if (!v) fail_msg("byte 0x%02x: %s: %.*s", x, err, (int)b.len, b.data);
        if (x < 0x80) {
            assert_int_equal(v->len, 3);
            assert_memory_equal(v->str, s, 3);
        }
        jp_free(&v);
    }
    fmx_jsonbuf_fini(&b);
}

static void test_documents_and_numbers(void **state) {
    (void)state;
    fmx_jsonbuf_t b;
    fmx_jsonbuf_init(&b, 0);
    fmx_jsonbuf_lit(&b, "{");
    fmx_jsonbuf_key(&b, "k\"ey");
    fmx_jsonbuf_u64(&b, UINT64_MAX);
    fmx_jsonbuf_lit(&b, ",");
    fmx_jsonbuf_key(&b, "neg");
    fmx_jsonbuf_i64(&b, INT64_MIN);
    fmx_jsonbuf_lit(&b, ",");
    fmx_jsonbuf_key(&b, "t");
    fmx_jsonbuf_bool(&b, true);
    fmx_jsonbuf_lit(&b, ",");
    fmx_jsonbuf_key(&b, "n");
    fmx_jsonbuf_cstr(&b, NULL);
    fmx_jsonbuf_lit(&b, "}");
    assert_false(b.failed);
    const char want[] = "{\"k\\\"ey\":18446744073709551615,\"neg\":-9223372036854775808,\"t\":true,\"n\":null}";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    jp_value_t *v = jp_parse(b.data, b.len, NULL, 0);
    assert_non_null(v);
    assert_non_null(jp_get(v, "k\"ey"));
    assert_int_equal(jp_get(v, "n")->type, JP_NULL);
    jp_free(&v);
    /* consume drops a written prefix */
    fmx_jsonbuf_consume(&b, 1);
    assert_int_equal(b.data[0], '"');
    fmx_jsonbuf_consume(&b, b.len + 5);
    assert_int_equal(b.len, 0);
    fmx_jsonbuf_fini(&b);
}

/* A bounded buffer fails, stays failed (appends are no-ops) until reset, and never exceeds max. */
static void test_bound_is_sticky(void **state) {
    (void)state;
    fmx_jsonbuf_t b;
    fmx_jsonbuf_init(&b, 16);
    assert_int_equal(fmx_jsonbuf_lit(&b, "0123456789"), 0);
    assert_int_equal(fmx_jsonbuf_lit(&b, "0123456789"), -1);
    assert_true(b.failed);
    assert_int_equal(b.len, 10);
    assert_int_equal(fmx_jsonbuf_lit(&b, "x"), -1); /* would fit, but the failure is sticky */
    assert_int_equal(b.len, 10);
    assert_true(b.cap <= 16);
    fmx_jsonbuf_reset(&b);
    assert_false(b.failed);
    assert_int_equal(fmx_jsonbuf_str(&b, "abc", 3), 0);
    assert_int_equal(b.len, 5);
    fmx_jsonbuf_fini(&b);
    fmx_jsonbuf_fini(&b); /* idempotent */
}

/* A fixed buffer writes into the caller's memory, fails (sticky) instead of growing, and fini
 * leaves it alone; cap 0 takes nothing, even after a reset. */
static void test_fixed_buffer(void **state) {
    (void)state;
    char mem[8];
    fmx_jsonbuf_t b;
    fmx_jsonbuf_init_fixed(&b, mem, sizeof mem);
    assert_int_equal(fmx_jsonbuf_str(&b, "a\n", 2), 0);
    assert_ptr_equal(b.data, mem);
    assert_memory_equal(mem, "\"a\\n\"", 5);
    assert_int_equal(fmx_jsonbuf_lit(&b, "1234"), -1);
    assert_true(b.failed);
    assert_int_equal(b.len, 5);
    fmx_jsonbuf_reset(&b);
    assert_int_equal(fmx_jsonbuf_lit(&b, "12345678"), 0);
    assert_ptr_equal(b.data, mem);
    fmx_jsonbuf_fini(&b); /* mem is on the stack: ASan would catch a free */
    fmx_jsonbuf_init_fixed(&b, mem, 0);
    assert_int_equal(fmx_jsonbuf_raw(&b, "x", 1), -1);
    fmx_jsonbuf_reset(&b);
    assert_int_equal(fmx_jsonbuf_raw(&b, "x", 1), -1);
    assert_ptr_equal(b.data, mem);
    fmx_jsonbuf_fini(&b);
}

/* The test parser itself refuses what it must, so "it parses" means something. */
static void test_parser_is_strict(void **state) {
    (void)state;
    static const char *const bad[] = {
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "\"a", "\"\x01\"", "\"\\x\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"\xff\"", "[1] 2", "{a:1}", "tru", "nul", "'a'", "1e", "+1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jp_value_t *v = jp_parse(bad[i], strlen(bad[i]), NULL, 0);
        if (v) fail_msg("accepted %s", bad[i]);
    }
    const char *good = " {\"a\": [1, -2.5e3, true, null, \"\\ud83d\\ude00\"]} ";
    jp_value_t *v = jp_parse(good, strlen(good), NULL, 0);
    assert_non_null(v);
    const jp_value_t *a = jp_get(v, "a");
    assert_int_equal(a->n, 5);
    assert_true(a->items[1].num == -2500.0);
    assert_string_equal(a->items[4].str, "\xf0\x9f\x98\x80");
    jp_free(&v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_invalid_utf8_becomes_replacement),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_documents_and_numbers),
        cmocka_unit_test(test_bound_is_sticky),
        cmocka_unit_test(test_fixed_buffer),
        cmocka_unit_test(test_parser_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
