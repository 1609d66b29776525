/* test_metrics.c - broker/metrics.h: the exposition text byte for byte, escaping, histogram
 * buckets, the series cap, parsing a line back, and quantiles from buckets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metrics.h"

#define S_DROPPED_TAIL                                                                                                 \
    "# HELP feedmix_metrics_series_dropped_total Metric updates dropped because the series limit was reached.\n"     \
    "# TYPE feedmix_metrics_series_dropped_total counter\n"

/* noinline: GCC 12 at -O2 otherwise mistakes the returned buffer for its local pointer (dangling-pointer). */
__attribute__((noinline)) static char *s_render(const fmx_metrics_t *m) {
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(fmx_metrics_render(m, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_counters_and_gauges_render_exactly(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    fmx_metrics_t *m = fmx_metrics_new(16);
    assert_non_null(m);
    const char *const fs[] = {"feed", "status"}, *const t[] = {"type"};
    int req = fmx_metrics_family(m, "x_requests_total", "Requests.", FMX_METRIC_COUNTER, fs, 2, NULL, 0, err);
    int ready = fmx_metrics_family(m, "x_ready", "Ready replicas.", FMX_METRIC_GAUGE, t, 1, NULL, 0, err);
    int plain = fmx_metrics_family(m, "x_hedges_total", "Hedges.", FMX_METRIC_COUNTER, NULL, 0, NULL, 0, err);
    int empty = fmx_metrics_family(m, "x_empty_total", "Never set.", FMX_METRIC_COUNTER, t, 1, NULL, 0, err);
    assert_int_equal(req, 0);
    assert_int_equal(ready, 1);
    assert_int_equal(plain, 2);
    assert_int_equal(empty, 3);
    fmx_metrics_add(m, req, (const char *const[]){"home", "ok"}, 2);
    fmx_metrics_add(m, req, (const char *const[]){"shop", "error"}, 1);
    fmx_metrics_add(m, req, (const char *const[]){"home", "ok"}, 3);
    fmx_metrics_set(m, ready, (const char *const[]){"score"}, 2);
    fmx_metrics_set(m, ready, (const char *const[]){"score"}, 3); /* set replaces */
    fmx_metrics_set(m, ready, (const char *const[]){"ratio"}, 0.25);
    fmx_metrics_add(m, plain, NULL, 7);
    assert_int_equal(fmx_metrics_series(m), 5);
    char *text = s_render(m);
    assert_string_equal(text, "# HELP x_requests_total Requests.\n"
                              "# TYPE x_requests_total counter\n"
                              "x_requests_total{feed=\"home\",status=\"ok\"} 5\n"
                              "x_requests_total{feed=\"shop\",status=\"error\"} 1\n"
                              "# HELP x_ready Ready replicas.\n"
                              "# TYPE x_ready gauge\n"
                              "x_ready{type=\"score\"} 3\n"
                              "x_ready{type=\"ratio\"} 0.25\n"
                              "# HELP x_hedges_total Hedges.\n"
                              "# TYPE x_hedges_total counter\n"
                              "x_hedges_total 7\n"
                              "# HELP x_empty_total Never set.\n"
                              "# TYPE x_empty_total counter\n" S_DROPPED_TAIL
                              "feedmix_metrics_series_dropped_total 0\n");
    free(text);
    fmx_metrics_destroy(&m);
    assert_null(m);
    fmx_metrics_destroy(&m); /* NULL-safe */
}

static void test_histogram_buckets_are_cumulative_with_inf_sum_count(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    fmx_metrics_t *m = fmx_metrics_new(4);
    const char *const f[] = {"feed"};
    const uint64_t bounds[] = {500, 5000, 1000000};
    int h = fmx_metrics_family(m, "x_duration_seconds", "Durations.", FMX_METRIC_HISTOGRAM, f, 1, bounds, 3, err);
    assert_int_equal(h, 0);
    const char *const home[] = {"home"};
    fmx_metrics_observe(m, h, home, 100);     /* <= 0.0005 */
    fmx_metrics_observe(m, h, home, 500);     /* on the bound: le is inclusive */
    fmx_metrics_observe(m, h, home, 4000);    /* <= 0.005 */
    fmx_metrics_observe(m, h, home, 2500000); /* only +Inf */
    int nolabel = fmx_metrics_family(m, "y_seconds", "No labels.", FMX_METRIC_HISTOGRAM, NULL, 0, bounds, 1, err);
    fmx_metrics_observe(m, nolabel, NULL, 1);
    char *text = s_render(m);
    assert_string_equal(text, "# HELP x_duration_seconds Durations.\n"
                              "# TYPE x_duration_seconds histogram\n"
                              "x_duration_seconds_bucket{feed=\"home\",le=\"0.0005\"} 2\n"
                              "x_duration_seconds_bucket{feed=\"home\",le=\"0.005\"} 3\n"
                              "x_duration_seconds_bucket{feed=\"home\",le=\"1\"} 3\n"
                              "x_duration_seconds_bucket{feed=\"home\",le=\"+Inf\"} 4\n"
                              "x_duration_seconds_sum{feed=\"home\"} 2.5046\n"
                              "x_duration_seconds_count{feed=\"home\"} 4\n"
                              "# HELP y_seconds No labels.\n"
                              "# TYPE y_seconds histogram\n"
                              "y_seconds_bucket{le=\"0.0005\"} 1\n"
                              "y_seconds_bucket{le=\"+Inf\"} 1\n"
                              "y_seconds_sum 0.000001\n"
                              "y_seconds_count 1\n" S_DROPPED_TAIL "feedmix_metrics_series_dropped_total 0\n");
    free(text);
    fmx_metrics_destroy(&m);
}

static void test_label_values_and_help_are_escaped(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    fmx_metrics_t *m = fmx_metrics_new(8);
    const char *const f[] = {"feed"};
    int c = fmx_metrics_family(m, "x_total", "A \\ backslash\nand a \"quote\".", FMX_METRIC_COUNTER, f, 1, NULL, 0,
                               err);
    fmx_metrics_add(m, c, (const char *const[]){"a\"b\\c\nd"}, 1);
    fmx_metrics_add(m, c, (const char *const[]){"tab\there\x01\x7f"}, 1);
    fmx_metrics_add(m, c, (const char *const[]){"caf\xc3\xa9 \xff\xc3("}, 1); /* é kept; bad UTF-8 becomes ? */
    fmx_metrics_add(m, c, (const char *const[]){"\xc0\xaf \xed\xa0\x80"}, 1);  /* overlong, surrogate */
    char *text = s_render(m);
    assert_non_null(strstr(text, "# HELP x_total A \\\\ backslash\\nand a \"quote\".\n"));
    assert_non_null(strstr(text, "x_total{feed=\"a\\\"b\\\\c\\nd\"} 1\n"));
    assert_non_null(strstr(text, "x_total{feed=\"tab?here??\"} 1\n"));
    assert_non_null(strstr(text, "x_total{feed=\"caf\xc3\xa9 ?" "?(\"} 1\n"));
    assert_non_null(strstr(text, "x_total{feed=\"?? ???\"} 1\n"));
    /* Every escaped value parses back to what was meant. */
    fmx_metrics_sample_t s;
    const char *line = strstr(text, "x_total{feed=\"a");
    assert_int_equal(fmx_metrics_parse_line(line, strcspn(line, "\n"), &s, err), 1);
    assert_string_equal(fmx_metrics_sample_label(&s, "feed"), "a\"b\\c\nd");
    free(text);
    fmx_metrics_destroy(&m);
}

static void test_long_values_are_truncated_and_the_cap_counts_drops(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    fmx_metrics_t *m = fmx_metrics_new(3);
    const char *const f[] = {"feed"};
    int c = fmx_metrics_family(m, "x_total", "X.", FMX_METRIC_COUNTER, f, 1, NULL, 0, err);
    char a[300], b[300];
    memset(a, 'a', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    memcpy(b, a, sizeof b);
    b[200] = 'b'; /* differs only past the kept prefix: the same series */
    fmx_metrics_add(m, c, (const char *const[]){a}, 1);
    fmx_metrics_add(m, c, (const char *const[]){b}, 1);
    assert_int_equal(fmx_metrics_series(m), 1);
    fmx_metrics_add(m, c, (const char *const[]){"two"}, 1);
    fmx_metrics_add(m, c, (const char *const[]){"three"}, 1);
    fmx_metrics_add(m, c, (const char *const[]){"four"}, 1); /* over the cap of 3 */
    fmx_metrics_add(m, c, (const char *const[]){"five"}, 1);
    fmx_metrics_add(m, c, (const char *const[]){"two"}, 1);  /* existing series still count */
    assert_int_equal(fmx_metrics_series(m), 3);
    assert_int_equal(fmx_metrics_dropped(m), 2);
    char *text = s_render(m);
    char want[200];
    snprintf(want, sizeof want, "x_total{feed=\"%.*s\"} 2\n", FMX_METRICS_VALUE_MAX, a);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "x_total{feed=\"two\"} 2\n"));
    assert_null(strstr(text, "four"));
    assert_non_null(strstr(text, "feedmix_metrics_series_dropped_total 2\n"));
    free(text);
    fmx_metrics_destroy(&m);
}

static void test_bad_declarations_are_refused(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    fmx_metrics_t *m = fmx_metrics_new(8);
    const char *const le[] = {"le"}, *const bad[] = {"a-b"}, *const reserved[] = {"__name"};
    const uint64_t desc[] = {10, 5}, ok[] = {5};
    assert_int_equal(fmx_metrics_family(m, "1abc", "", FMX_METRIC_COUNTER, NULL, 0, NULL, 0, err), -1);
    assert_int_equal(fmx_metrics_family(m, "a b", "", FMX_METRIC_COUNTER, NULL, 0, NULL, 0, err), -1);
    assert_int_equal(fmx_metrics_family(m, "x", "", FMX_METRIC_COUNTER, bad, 1, NULL, 0, err), -1);
    assert_non_null(strstr(err, "a-b"));
    assert_int_equal(fmx_metrics_family(m, "x", "", FMX_METRIC_COUNTER, reserved, 1, NULL, 0, err), -1);
    assert_int_equal(fmx_metrics_family(m, "x", "", FMX_METRIC_HISTOGRAM, le, 1, ok, 1, err), -1);
    assert_int_equal(fmx_metrics_family(m, "x", "", FMX_METRIC_HISTOGRAM, NULL, 0, desc, 2, err), -1);
    assert_non_null(strstr(err, "ascend"));
    assert_int_equal(fmx_metrics_family(m, "x", "", FMX_METRIC_HISTOGRAM, NULL, 0, NULL, 0, err), -1);
    assert_int_equal(fmx_metrics_family(m, "x", "", FMX_METRIC_COUNTER, NULL, 0, ok, 1, err), -1);
    assert_int_equal(fmx_metrics_family(m, "x:y_total", "", FMX_METRIC_COUNTER, le, 1, NULL, 0, err), 0);
    assert_int_equal(fmx_metrics_family(m, "x:y_total", "", FMX_METRIC_COUNTER, NULL, 0, NULL, 0, err), -1);
    assert_non_null(strstr(err, "twice"));
    assert_null(fmx_metrics_new(0));
    fmx_metrics_destroy(&m);
}

static void test_parse_line(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    fmx_metrics_sample_t s;
    const char *l = "feedmix_requests_total{feed=\"home\", status=\"ok\",} 12";
    assert_int_equal(fmx_metrics_parse_line(l, strlen(l), &s, err), 1);
    assert_string_equal(s.name, "feedmix_requests_total");
    assert_int_equal(s.n_labels, 2);
    assert_string_equal(fmx_metrics_sample_label(&s, "status"), "ok");
    assert_null(fmx_metrics_sample_label(&s, "nope"));
    assert_true(s.value == 12.0);
    l = "x_bucket{le=\"+Inf\"} 3 1700000000000";
    assert_int_equal(fmx_metrics_parse_line(l, strlen(l), &s, err), 1);
    assert_true(s.value == 3.0);
    l = "up NaN";
    assert_int_equal(fmx_metrics_parse_line(l, strlen(l), &s, err), 1);
    assert_true(isnan(s.value));
    l = "g -Inf";
    assert_int_equal(fmx_metrics_parse_line(l, strlen(l), &s, err), 1);
    assert_true(isinf(s.value) && s.value < 0);
    assert_int_equal(fmx_metrics_parse_line("# HELP x y", 10, &s, err), 0);
    assert_int_equal(fmx_metrics_parse_line("   ", 3, &s, err), 0);
    assert_int_equal(fmx_metrics_parse_line("", 0, &s, err), 0);
    /* the length bounds the line: what follows is not read */
    assert_int_equal(fmx_metrics_parse_line("x 1 garbage", 3, &s, err), 1);
    static const char *const bad[] = {
        "x",          "x{",          "x{a=\"b\"",  "x{a=\"b} 1",    "x{a=b} 1",  "x{a=\"\\t\"} 1", "x abc",
        "x 1 2 3",    "{a=\"b\"} 1", "x{a=\"b\" c=\"d\"} 1", "x{1a=\"b\"} 1",  "x 1 12x",   "x{=\"b\"} 1",
        "x{a=\"b\"}1x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (fmx_metrics_parse_line(bad[i], strlen(bad[i]), &s, err) != -1) fail_msg("accepted: %s", bad[i]);
    char many[512] = "x{";
    for (int i = 0; i < FMX_METRICS_PARSE_LABELS + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "l%d=\"v\",", i);
    strcat(many, "} 1");
    assert_int_equal(fmx_metrics_parse_line(many, strlen(many), &s, err), -1);
    assert_non_null(strstr(err, "labels"));
}

static void test_quantile_interpolates_like_prometheus(void **state) {
    (void)state;
    const double upper[] = {0.001, 0.01, 0.1, INFINITY};
    const double cum[] = {10, 60, 100, 100};
    assert_true(fabs(fmx_metrics_quantile(0.05, upper, cum, 4) - 0.0005) < 1e-12); /* from 0 in the first */
    assert_true(fabs(fmx_metrics_quantile(0.5, upper, cum, 4) - 0.0082) < 1e-12);  /* 0.001 + 0.009*40/50 */
    assert_true(fabs(fmx_metrics_quantile(0.99, upper, cum, 4) - 0.09775) < 1e-12);
    const double inf_cum[] = {1, 1, 1, 100};
    assert_true(fmx_metrics_quantile(0.99, upper, inf_cum, 4) == 0.1); /* in +Inf: the highest bound */
    const double none[] = {0, 0, 0, 0};
    assert_true(isnan(fmx_metrics_quantile(0.5, upper, none, 4)));
    assert_true(isnan(fmx_metrics_quantile(1.5, upper, cum, 4)));
    assert_true(isnan(fmx_metrics_quantile(0.5, upper, cum, 1)));
    const double no_inf[] = {0.1, 0.2};
    assert_true(isnan(fmx_metrics_quantile(0.5, no_inf, cum, 2)));
}

/* Render a busy registry, parse every line back: the format this module writes is the format it
 * reads, and every sample line is well-formed. */
static void test_render_parses_back(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    fmx_metrics_t *m = fmx_metrics_new(64);
    const char *const n[] = {"feed", "node"};
    const uint64_t bounds[] = {1000, 10000};
    int h = fmx_metrics_family(m, "x_seconds", "H.", FMX_METRIC_HISTOGRAM, n, 2, bounds, 2, err);
    for (int i = 0; i < 10; i++) {
        char node[16];
        snprintf(node, sizeof node, "n\"%d\\", i);
        fmx_metrics_observe(m, h, (const char *const[]){"f", node}, (uint64_t)i * 1500);
    }
    char *text = s_render(m);
    size_t samples = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        fmx_metrics_sample_t s;
        int rc = fmx_metrics_parse_line(p, len, &s, err);
        if (rc < 0) fail_msg("%.*s: %s", (int)len, p, err);
        if (rc == 1 && strcmp(s.name, "x_seconds_count") == 0) assert_true(s.value == 1.0);
        samples += (size_t)rc;
        p += len + (p[len] == '\n');
    }
    assert_int_equal(samples, 10 * (3 + 2) + 1); /* 3 buckets, sum, count per series; the drop counter */
    free(text);
    fmx_metrics_destroy(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_and_gauges_render_exactly),
        cmocka_unit_test(test_histogram_buckets_are_cumulative_with_inf_sum_count),
        cmocka_unit_test(test_label_values_and_help_are_escaped),
        cmocka_unit_test(test_long_values_are_truncated_and_the_cap_counts_drops),
        cmocka_unit_test(test_bad_declarations_are_refused),
        cmocka_unit_test(test_parse_line),
        cmocka_unit_test(test_quantile_interpolates_like_prometheus),
        cmocka_unit_test(test_render_parses_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
