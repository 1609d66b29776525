/* test_report.c - `feedctl report` (tools/feedctl/report.c): the Wilson interval against published
 * values, --since parsing, line parsing (what counts, what is skipped), grouping and both output
 * forms. tools/ is not a library the unit tests link, so the sources are compiled in here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/feedctl/json.c"
#include "tools/feedctl/report.c"

static void s_near(double got, double want, double tol) {
    if (fabs(got - want) > tol) fail_msg("got %.6f, want %.6f (+-%g)", got, want, tol);
}

/* Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3
 * (Wilson score, no continuity correction), to the 4 decimals printed there. */
static void test_wilson_published_values(void **state) {
    (void)state;
    static const struct {
        uint64_t k, n;
        double lo, hi;
    } cases[] = {
        {81, 263, 0.2553, 0.3662},
        {15, 148, 0.0624, 0.1605},
        {0, 20, 0.0, 0.1611},
        {1, 29, 0.0061, 0.1718},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double lo = -1, hi = -1;
        assert_int_equal(fmx_report_wilson(cases[i].k, cases[i].n, FMX_REPORT_Z95, &lo, &hi), 0);
        s_near(lo, cases[i].lo, 0.00005 + 1e-12);
        s_near(hi, cases[i].hi, 0.00005 + 1e-12);
    }
}

static void test_wilson_properties(void **state) {
    (void)state;
    double lo = -1, hi = -1;
    assert_int_equal(fmx_report_wilson(0, 0, FMX_REPORT_Z95, &lo, &hi), -1);
    assert_true(lo == -1 && hi == -1); /* untouched */
    assert_int_equal(fmx_report_wilson(0, 10, FMX_REPORT_Z95, &lo, &hi), 0);
    assert_true(lo == 0.0);
    s_near(hi, 0.27753, 0.00001);
    assert_int_equal(fmx_report_wilson(10, 10, FMX_REPORT_Z95, &lo, &hi), 0);
    assert_true(hi == 1.0);
    s_near(lo, 1 - 0.27753, 0.00001); /* symmetric */
    assert_int_equal(fmx_report_wilson(12, 10, FMX_REPORT_Z95, &lo, &hi), 0); /* k > n: as k = n */
    assert_true(hi == 1.0);
    /* the interval holds the estimate, stays in [0, 1], and narrows as n grows at a fixed CTR */
    double prev = 2;
    for (uint64_t n = 10; n <= 10000000; n *= 10) {
        uint64_t k = n / 20;
        assert_int_equal(fmx_report_wilson(k, n, FMX_REPORT_Z95, &lo, &hi), 0);
        assert_true(lo >= 0 && lo <= 0.05 && hi >= 0.05 && hi <= 1);
        assert_true(hi - lo < prev);
        prev = hi - lo;
    }
    assert_true(prev < 0.0003);
    /* a wider quantile gives a wider interval */
    double lo2 = -1, hi2 = -1;
    fmx_report_wilson(30, 100, FMX_REPORT_Z95, &lo, &hi);
    fmx_report_wilson(30, 100, 2.5758, &lo2, &hi2);
    assert_true(lo2 < lo && hi2 > hi);
}

static void test_since(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    double s;
    const double now = 1767225600.0; /* 2026-01-01T00:00:00Z */
    assert_int_equal(fmx_report_parse_since("90s", now, &s, err), 0);
    assert_true(s == now - 90);
    assert_int_equal(fmx_report_parse_since("15m", now, &s, err), 0);
    assert_true(s == now - 900);
    assert_int_equal(fmx_report_parse_since("2h", now, &s, err), 0);
    assert_true(s == now - 7200);
    assert_int_equal(fmx_report_parse_since("7d", now, &s, err), 0);
    assert_true(s == now - 7 * 86400);
    assert_int_equal(fmx_report_parse_since("1w", now, &s, err), 0);
    assert_true(s == now - 604800);
    assert_int_equal(fmx_report_parse_since("1767000000", now, &s, err), 0);
    assert_true(s == 1767000000.0);
    assert_int_equal(fmx_report_parse_since("2026-01-01", now, &s, err), 0);
    assert_true(s == 1767225600.0);
    assert_int_equal(fmx_report_parse_since("2026-01-01T12:30:15Z", now, &s, err), 0);
    assert_true(s == 1767225600.0 + 12 * 3600 + 30 * 60 + 15);
    assert_int_equal(fmx_report_parse_since("2026-01-01T12:30", now, &s, err), 0);
    assert_true(s == 1767225600.0 + 12 * 3600 + 30 * 60);
    static const char *const bad[] = {"", "h", "2x", "-5m", "1.5h", "yesterday", "2026-13-01", "2026-01-01T25:00",
                                      "2026-01-01T12", "2026-01-01Tnoon", "2026-01-01junk", "12345678901234"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (fmx_report_parse_since(bad[i], now, &s, err) != -1) fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(err, "--since"));
    }
}

static int s_add(fmx_report_t *r, const char *line) {
    return fmx_report_add_line(r, line, strlen(line));
}

static void test_lines(void **state) {
    (void)state;
    fmx_report_t *r = fmx_report_new(1000.0);
    assert_non_null(r);
    /* counted */
    assert_int_equal(s_add(r, "{\"ts\":1000,\"event\":\"impression\",\"feed\":\"home\",\"source\":\"follows\","
                              "\"variants\":{\"exp\":\"a\",\"ui\":\"b\"}}"),
                     0);
    assert_int_equal(s_add(r, " { \"source\" : \"follows\", \"feed\":\"home\", \"event\":\"click\", \"ts\": 1.5e3 ,"
                              "\"path\":[1,{\"x\":[true,false,null,\"s\\\"\"]}], \"issued\": -3 } "),
                     0);
    /* escapes decode: the same group as a literal "é" */
    assert_int_equal(s_add(r, "{\"ts\":2000,\"event\":\"impression\",\"feed\":\"home\",\"source\":\"caf\\u00e9\"}"),
                     0);
    assert_int_equal(s_add(r, "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\",\"source\":\"caf\xc3\xa9\"}"), 0);
    /* a surrogate pair, and a lone surrogate (U+FFFD) */
    assert_int_equal(s_add(r, "{\"ts\":2000,\"event\":\"impression\",\"feed\":\"home\",\"source\":\"\\ud83d\\ude00\"}"),
                     0);
    assert_int_equal(s_add(r, "{\"ts\":2000,\"event\":\"impression\",\"feed\":\"home\",\"source\":\"\\udc00\"}"), 0);
    /* skipped: older, or another event */
    assert_int_equal(s_add(r, "{\"ts\":999.999,\"event\":\"click\",\"feed\":\"home\",\"source\":\"follows\"}"), 1);
    assert_int_equal(s_add(r, "{\"ts\":2000,\"event\":\"share\",\"feed\":\"home\",\"source\":\"follows\"}"), 1);
    /* malformed */
    static const char *const bad[] = {
        "",
        "{}",
        "[]",
        "null",
        "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\"}",                          /* no source */
        "{\"ts\":\"2000\",\"event\":\"click\",\"feed\":\"home\",\"source\":\"s\"}",       /* ts a string */
        "{\"ts\":2000,\"event\":1,\"feed\":\"home\",\"source\":\"s\"}",
        "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\",\"source\":\"s\"",            /* unterminated */
        "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\",\"source\":\"s\"}x",          /* trailing */
        "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\",\"source\":\"s\",}",          /* trailing comma */
        "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\",\"source\":\"a\tb\"}",        /* raw tab */
        "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\",\"source\":\"\\x\"}",         /* bad escape */
        "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\",\"source\":\"\\u12\"}",
        "{\"ts\":01,\"event\":\"click\",\"feed\":\"home\",\"source\":\"s\"}",             /* leading zero */
        "{\"ts\":1e999,\"event\":\"click\",\"feed\":\"home\",\"source\":\"s\"}",          /* not finite */
        "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\",\"source\":\"s\",\"variants\":[]}",
        "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\",\"source\":\"s\",\"variants\":{\"e\":1}}",
        "{\"ts\":2000,\"event\":\"click\",\"feed\":\"home\",\"source\":\"s\",\"x\":tru}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (s_add(r, bad[i]) != -1) fail_msg("accepted: %s", bad[i]);
    /* nesting deeper than the reader allows is malformed, not a stack overflow */
    char deep[4096];
    int n = snprintf(deep, sizeof deep, "{\"ts\":2000,\"event\":\"click\",\"feed\":\"h\",\"source\":\"s\",\"x\":");
    for (int i = 0; i < 1000; i++) deep[n++] = '[';
    deep[n] = '\0';
    assert_int_equal(s_add(r, deep), -1);
    /* too long */
    char *huge = malloc(FMX_REPORT_LINE_MAX + 10);
    assert_non_null(huge);
    memset(huge, ' ', FMX_REPORT_LINE_MAX + 10);
    assert_int_equal(fmx_report_add_line(r, huge, FMX_REPORT_LINE_MAX + 10), -1);
    free(huge);

    fmx_report_totals_t t = fmx_report_totals(r);
    assert_int_equal(t.impressions, 4);
    assert_int_equal(t.clicks, 2);
    assert_int_equal(t.before, 1);
    assert_int_equal(t.other, 1);
    assert_int_equal(t.malformed, sizeof bad / sizeof bad[0] + 2);
    assert_int_equal(t.lines, 8 + sizeof bad / sizeof bad[0] + 2);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    assert_int_equal(fmx_report_print(r, out, true, "mem"), 0);
    fclose(out);
    if (getenv("FMX_TEST_VERBOSE")) fputs(text, stderr);
    assert_non_null(strstr(text, "{\"feed\": \"home\", \"source\": \"follows\", \"impressions\": 1, \"clicks\": 1, "
                                 "\"ctr\": 1.0, \"ci95\": [0.20654931437723745, 1.0]}"));
    assert_non_null(strstr(text, "\"source\": \"caf\xc3\xa9\", \"impressions\": 1, \"clicks\": 1"));
    assert_non_null(strstr(text, "\"source\": \"\xf0\x9f\x98\x80\", \"impressions\": 1, \"clicks\": 0"));
    assert_non_null(strstr(text, "\"source\": \"\xef\xbf\xbd\", \"impressions\": 1"));
    assert_non_null(strstr(text, "{\"feed\": \"home\", \"experiment\": \"exp\", \"variant\": \"a\", \"impressions\": 1, "
                                 "\"clicks\": 0, \"ctr\": 0.0, \"ci95\": [0.0, 0.7934506856227626]}"));
    assert_non_null(strstr(text, "\"experiment\": \"ui\", \"variant\": \"b\""));
    assert_non_null(strstr(text, "\"since\": 1000.000"));
    free(text);
    fmx_report_destroy(&r);
    assert_null(r);
    fmx_report_destroy(&r);
}

/* Many groups (rehashing), read from a stream with long and NUL-holding lines, sorted output. */
static void test_read_and_table(void **state) {
    (void)state;
    char *in = NULL;
    size_t in_len = 0;
    FILE *f = open_memstream(&in, &in_len);
    assert_non_null(f);
    for (int i = 999; i >= 0; i--) {
        fprintf(f, "{\"ts\":5,\"event\":\"impression\",\"feed\":\"f%03d\",\"source\":\"s\",\"variants\":{\"e\":\"v\"}}\n", i);
        if (i % 2 == 0) fprintf(f, "{\"ts\":5,\"event\":\"click\",\"feed\":\"f%03d\",\"source\":\"s\"}\n", i);
    }
    fputs("{\"ts\":5,\"event\":\"click\",\"feed\":\"\\u001b[2J\",\"source\":\"s\"}\n", f); /* ESC, escaped */
    for (int i = 0; i < FMX_REPORT_LINE_MAX + 100; i++) fputc('x', f);                  /* too long */
    fputs("\n\n", f);
    fwrite("{\"ts\":5,\0}\n", 1, 11, f);                                                   /* a NUL */
    fputs("{\"ts\":5,\"event\":\"impression\",\"feed\":\"zz\",\"source\":\"s\"}", f);        /* no newline */
    fclose(f);
    FILE *rd = fmemopen(in, in_len, "rb");
    assert_non_null(rd);
    fmx_report_t *r = fmx_report_new(-INFINITY);
    char err[FMX_ERR_LEN];
    assert_int_equal(fmx_report_read(r, rd, err), 0);
    fclose(rd);
    free(in);
    fmx_report_totals_t t = fmx_report_totals(r);
    assert_int_equal(t.impressions, 1001);
    assert_int_equal(t.clicks, 501);
    assert_int_equal(t.malformed, 2);
    assert_int_equal(t.lines, 1000 + 500 + 1 + 2 + 1);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_int_equal(fmx_report_print(r, out, false, "mem"), 0);
    fclose(out);
    if (getenv("FMX_TEST_VERBOSE")) fputs(text, stderr);
    assert_null(strchr(text, '\x1b')); /* sanitised */
    const char *a = strstr(text, "\nf000  s"), *b = strstr(text, "\nf001  s"), *z = strstr(text, "\nzz    s");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(z);
    assert_true(a < b && b < z);
    assert_non_null(strstr(text, "FEED  SOURCE  IMPRESSIONS  CLICKS      CTR  95% CI\n?[2J  s                 0       1        -  -\n"));
    assert_non_null(strstr(text, "\nf000  s                 1       1  100.00%  [20.65%, 100.00%]\n"));
    assert_non_null(strstr(text, "\nf001  s                 1       0    0.00%  [0.00%, 79.35%]\n"));
    assert_non_null(strstr(text, "\nf000  e           v                  1       0  0.00%  [0.00%, 79.35%]\n"));
    free(text);
    fmx_report_destroy(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wilson_published_values),
        cmocka_unit_test(test_wilson_properties),
        cmocka_unit_test(test_since),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_read_and_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
