/* test_metrics_print.c - tools/feedctl/metrics_print.h: the broker's exposition as feedctl's tables,
 * byte for byte, with p50/p99 from the buckets; a malformed line prints nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/feedctl/metrics_print.c"

static const char s_text[] =
    "# HELP feedmix_requests_total R.\n"
    "# TYPE feedmix_requests_total counter\n"
    "feedmix_requests_total{feed=\"home\",status=\"ok\"} 90\n"
    "feedmix_requests_total{feed=\"home\",status=\"degraded\"} 10\n"
    "feedmix_requests_total{feed=\"unknown\",status=\"error\"} 2\n"
    "feedmix_request_duration_seconds_bucket{feed=\"home\",le=\"0.001\"} 10\n"
    "feedmix_request_duration_seconds_bucket{feed=\"home\",le=\"0.01\"} 60\n"
    "feedmix_request_duration_seconds_bucket{feed=\"home\",le=\"0.1\"} 100\n"
    "feedmix_request_duration_seconds_bucket{feed=\"home\",le=\"+Inf\"} 100\n"
    "feedmix_request_duration_seconds_sum{feed=\"home\"} 1.5\n"
    "feedmix_request_duration_seconds_count{feed=\"home\"} 100\n"
    "feedmix_node_duration_seconds_bucket{feed=\"home\",node=\"follows\",type=\"retrieve\",le=\"0.001\"} 100\n"
    "feedmix_node_duration_seconds_bucket{feed=\"home\",node=\"follows\",type=\"retrieve\",le=\"+Inf\"} 100\n"
    "feedmix_node_outcomes_total{feed=\"home\",node=\"follows\",type=\"retrieve\",outcome=\"ok\"} 97\n"
    "feedmix_node_outcomes_total{feed=\"home\",node=\"follows\",type=\"retrieve\",outcome=\"fallback\"} 3\n"
    "feedmix_node_outcomes_total{feed=\"home\",node=\"follows\",type=\"retrieve\",outcome=\"timeout\"} 3\n"
    "feedmix_node_outcomes_total{feed=\"unknown\",node=\"unknown\",type=\"retrieve\",outcome=\"late\"} 1\n"
    "feedmix_replicas_ready{type=\"retrieve\"} 2\n"
    "feedmix_hedges_total 0\n";

static char *s_tables(const char *text, int *rc) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    char err[FMX_ERR_LEN] = "";
    *rc = fmx_metrics_print_tables(f, text, strlen(text), err);
    fclose(f);
    if (*rc != 0) {
        free(buf);
        return strdup(err);
    }
    return buf;
}

static void test_tables(void **state) {
    (void)state;
    int rc;
    char *out = s_tables(s_text, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out,
                        "FEED           OK  DEGRADED     ERROR    P50_MS    P99_MS\n"
                        "home           90        10         0      8.20     97.75\n"
                        "unknown         0         0         2         -         -\n"
                        "\n"
                        "FEED    NODE    TYPE            OK  FALLBACK     ERROR   TIMEOUT      LATE"
                        "    P50_MS    P99_MS\n"
                        "home    follows retrieve        97         3         0         3         0"
                        "      0.50      0.99\n"
                        "unknown unknown retrieve         0         0         0         0         1"
                        "         -         -\n");
    free(out);
}

static void test_malformed_prints_nothing(void **state) {
    (void)state;
    int rc;
    char *out = s_tables("feedmix_requests_total{feed=\"home\",status=\"ok\"} 1\n"
                         "feedmix_requests_total{feed=\"x} 1\n",
                         &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(out, "metrics line 2:"));
    free(out);
    out = s_tables("", &rc); /* nothing to show: just the headers */
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "FEED "));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_malformed_prints_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
