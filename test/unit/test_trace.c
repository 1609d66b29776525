/* test_trace.c - the sampled tracer's decisions and file names (broker/trace.h). Recording and
 * writing need a running broker: test/integration/test_reqlog.c covers them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/trace.h"

static void test_file_names(void **state) {
    (void)state;
    char out[96];
    assert_int_equal(fmx_trace_file_name(out, sizeof out, "req-0001.a_B", "rk-1"), 17);
    assert_string_equal(out, "req-0001.a_B.json");
    /* anything that could leave the directory, hide the file or break a shell is cleaned, and the
     * ranking id keeps cleaned names apart */
    fmx_trace_file_name(out, sizeof out, "../../etc/passwd", "rk-2");
    assert_string_equal(out, "_._.._etc_passwd-rk-2.json");
    fmx_trace_file_name(out, sizeof out, ".hidden", "rk-3");
    assert_string_equal(out, "_hidden-rk-3.json");
    fmx_trace_file_name(out, sizeof out, "a\"b\nc d", "rk-4");
    assert_string_equal(out, "a_b_c_d-rk-4.json");
    fmx_trace_file_name(out, sizeof out, "\xc3\xa9", "rk-5");
    assert_string_equal(out, "__-rk-5.json");
    assert_null(strchr(out, '/'));
    /* too long for the buffer: refused, not cut */
    assert_int_equal(fmx_trace_file_name(out, 10, "abcdefgh", "rk"), -1);
    assert_int_equal(fmx_trace_file_name(out, 14, "abcdefgh", "rk"), 13);
}

static void test_sampling(void **state) {
    (void)state;
    char dir[] = "/tmp/fmx-trace-XXXXXX", err[FMX_ERR_LEN];
    assert_non_null(mkdtemp(dir));
    char sub[64];
    snprintf(sub, sizeof sub, "%s/a/b", dir); /* created on demand */
    const char *users[] = {"42", "user 7"};
    fmx_trace_t *t = fmx_trace_new(sub, 0.0, users, 2, 1, err);
    if (!t) fail_msg("%s", err);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    /* rate 0: only debug requests and allowlisted users */
    int hits = 0;
    for (int i = 0; i < 1000; i++) hits += fmx_trace_sample(t, FMX_STR_LIT("43"), false);
    assert_int_equal(hits, 0);
    assert_true(fmx_trace_sample(t, FMX_STR_LIT("42"), false));
    assert_true(fmx_trace_sample(t, FMX_STR_LIT("user 7"), false));
    assert_false(fmx_trace_sample(t, FMX_STR_LIT("4"), false));   /* no prefix match */
    assert_false(fmx_trace_sample(t, FMX_STR_LIT("420"), false));
    assert_true(fmx_trace_sample(t, FMX_STR_LIT("43"), true));
    assert_false(fmx_trace_sample(NULL, FMX_STR_LIT("42"), true)); /* tracing off */
    fmx_trace_destroy(&t);
    assert_null(t);

    /* rate 1: all; rate 0.25: about a quarter (10000 draws: 4 sigma is +-175) */
    t = fmx_trace_new(sub, 1.0, NULL, 0, 7, err);
    for (int i = 0; i < 1000; i++) hits += fmx_trace_sample(t, FMX_STR_LIT("1"), false);
    assert_int_equal(hits, 1000);
    fmx_trace_destroy(&t);
    t = fmx_trace_new(sub, 0.25, NULL, 0, 7, err);
    hits = 0;
    for (int i = 0; i < 10000; i++) hits += fmx_trace_sample(t, FMX_STR_LIT("1"), false);
    if (hits < 2325 || hits > 2675) fail_msg("rate 0.25 sampled %d of 10000", hits);
    fmx_trace_stats_t s;
    fmx_trace_stats(t, &s);
    assert_int_equal(s.traced, 0); /* sampling alone records nothing */
    fmx_trace_destroy(&t);

    assert_null(fmx_trace_new(sub, 1.5, NULL, 0, 1, err));
    assert_non_null(strstr(err, "0..1"));
    assert_null(fmx_trace_new(sub, -0.1, NULL, 0, 1, err));
    assert_null(fmx_trace_new("/proc/nonexistent/traces", 0.5, NULL, 0, 1, err));
    char b_dir[80];
    snprintf(b_dir, sizeof b_dir, "%s/a", dir);
    rmdir(sub);
    rmdir(b_dir);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_sampling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
