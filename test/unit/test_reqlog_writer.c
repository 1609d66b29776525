/* test_reqlog_writer.c - the JSON-lines request log (broker/reqlog.h) without a broker: one valid
 * line per entry with the fields given, level filtering, buffering until a flush, write errors
 * counted and survived, reopen after a rotation. The broker's side is in
 * test/integration/test_reqlog.c. */
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

#include "broker/reqlog.h"
#include "test/support/jparse.h"

typedef struct {
    char dir[64];
    char path[128];
} t_dir_t;

static int s_setup(void **state) {
    t_dir_t *d = calloc(1, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/fmx-reqlog-XXXXXX");
    if (!mkdtemp(d->dir)) return -1;
    snprintf(d->path, sizeof d->path, "%s/sub/requests.jsonl", d->dir); /* sub/ does not exist yet */
    *state = d;
    return 0;
}

static int s_teardown(void **state) {
    t_dir_t *d = *state;
    char p[160];
    unlink(d->path);
    snprintf(p, sizeof p, "%s.1", d->path);
    unlink(p);
    snprintf(p, sizeof p, "%s/sub", d->dir);
    rmdir(p);
    rmdir(d->dir);
    free(d);
    return 0;
}

/* The file's lines, each parsed (failing the test on an invalid one). Returns the count. */
static size_t s_read_lines(const char *path, jp_value_t **out, size_t max) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        assert_int_equal(line[len - 1], '\n');
        char err[160];
        jp_value_t *v = jp_parse(line, (size_t)len - 1, err, sizeof err);
        if (!v) fail_msg("line %zu is not valid JSON (%s): %s", n + 1, err, line);
        if (n < max)
            out[n] = v;
        else
            jp_free(&v);
        n++;
    }
    free(line);
    fclose(f);
    return n;
}

static void s_free_lines(jp_value_t **v, size_t n) {
    for (size_t i = 0; i < n; i++) jp_free(&v[i]);
}

static void test_lines(void **state) {
    t_dir_t *d = *state;
    char err[FMX_ERR_LEN];
    fmx_reqlog_t *log = fmx_reqlog_new(d->path, FMX_LOG_INFO, err);
    if (!log) fail_msg("%s", err);
    const char *names[] = {"ranker_test", "layout \"x\""}, *variants[] = {"treatment", "control"};
    const char *fallbacks[] = {"scored", "trending"};
    /* A request id from a hostile client: quotes, backslashes, newlines, NUL, invalid UTF-8. */
    static const char evil[] = "id\"\\\n\r\t\0\x01\xff\xc3(end";
    fmx_reqlog_entry_t e = {
        .wall_us = 1700000000123456ull,
        .request_id = {evil, sizeof evil - 1},
        .ranking_id = FMX_STR_LIT("rk-1"),
        .feed = FMX_STR_LIT("home"),
        .user_id = FMX_STR_LIT("42"),
        .exp_names = names,
        .exp_variants = variants,
        .n_experiments = 2,
        .status = "degraded",
        .latency_us = 8123,
        .fallbacks = fallbacks,
        .n_fallbacks = 2,
        .sampled = true,
    };
    fmx_reqlog_append(log, &e);
    fmx_reqlog_entry_t rejected = {.wall_us = 1, .status = "error", .error = "bad_request"};
    fmx_reqlog_append(log, &rejected);
    jp_value_t *lines[4];
    assert_int_equal(s_read_lines(d->path, lines, 4), 0); /* buffered until the flush */
    assert_int_equal(fmx_reqlog_flush(log, err), 0);
    assert_int_equal(s_read_lines(d->path, lines, 4), 2);

    const jp_value_t *l = lines[0];
    assert_string_equal(jp_get_str(l, "ts"), "2023-11-14T22:13:20.123456Z");
    const jp_value_t *rid = jp_get(l, "request_id");
    assert_int_equal(rid->type, JP_STR);
    /* the valid bytes come back exactly; the two invalid ones as U+FFFD */
    static const char want[] = "id\"\\\n\r\t\0\x01\xef\xbf\xbd\xef\xbf\xbd(end";
    assert_int_equal(rid->len, sizeof want - 1);
    assert_memory_equal(rid->str, want, sizeof want - 1);
    assert_string_equal(jp_get_str(l, "ranking_id"), "rk-1");
    assert_string_equal(jp_get_str(l, "feed"), "home");
    assert_string_equal(jp_get_str(l, "user_id"), "42");
    assert_string_equal(jp_get_str(jp_get(l, "experiments"), "ranker_test"), "treatment");
    assert_string_equal(jp_get_str(jp_get(l, "experiments"), "layout \"x\""), "control");
    assert_string_equal(jp_get_str(l, "status"), "degraded");
    assert_null(jp_get(l, "error"));
    assert_true(jp_get_num(l, "latency_us", -1) == 8123);
    const jp_value_t *fb = jp_get(l, "fallbacks");
    assert_int_equal(fb->n, 2);
    assert_string_equal(fb->items[1].str, "trending");
    assert_true(jp_get(l, "sampled")->b);

    l = lines[1];
    assert_int_equal(jp_get(l, "request_id")->type, JP_NULL);
    assert_int_equal(jp_get(l, "user_id")->type, JP_NULL);
    assert_string_equal(jp_get_str(l, "error"), "bad_request");
    assert_int_equal(jp_get(l, "experiments")->n, 0);
    assert_false(jp_get(l, "sampled")->b);
    s_free_lines(lines, 2);

    fmx_reqlog_stats_t st;
    fmx_reqlog_stats(log, &st);
    assert_int_equal(st.lines, 2);
    assert_int_equal(st.dropped, 0);

    /* Rotation: the file is moved away, reopen starts a new one; destroy flushes. */
    char moved[160];
    snprintf(moved, sizeof moved, "%s.1", d->path);
    assert_int_equal(rename(d->path, moved), 0);
    fmx_reqlog_append(log, &e);
    assert_int_equal(fmx_reqlog_reopen(log, err), 0); /* flushes the pending line to the old file */
    fmx_reqlog_append(log, &rejected);
    fmx_reqlog_destroy(&log);
    assert_null(log);
    fmx_reqlog_destroy(&log);
    assert_int_equal(s_read_lines(moved, lines, 4), 3);
    s_free_lines(lines, 3);
    assert_int_equal(s_read_lines(d->path, lines, 4), 1);
    s_free_lines(lines, 1);
}

static void test_levels_and_off(void **state) {
    t_dir_t *d = *state;
    char err[FMX_ERR_LEN] = "x";
    assert_null(fmx_reqlog_new("off", FMX_LOG_INFO, err));
    assert_string_equal(err, ""); /* off is not an error */
    assert_false(fmx_reqlog_wants(NULL, "error"));
    fmx_reqlog_append(NULL, &(fmx_reqlog_entry_t){.status = "ok"}); /* NULL-safe */
    assert_int_equal(fmx_reqlog_flush(NULL, err), 0);

    fmx_reqlog_t *log = fmx_reqlog_new(d->path, FMX_LOG_WARN, err);
    assert_non_null(log);
    assert_false(fmx_reqlog_wants(log, "ok"));
    assert_true(fmx_reqlog_wants(log, "degraded"));
    assert_true(fmx_reqlog_wants(log, "error"));
    fmx_reqlog_destroy(&log);
    log = fmx_reqlog_new(d->path, FMX_LOG_ERROR, err);
    assert_false(fmx_reqlog_wants(log, "degraded"));
    assert_true(fmx_reqlog_wants(log, "error"));
    fmx_reqlog_destroy(&log);
    log = fmx_reqlog_new(d->path, FMX_LOG_DEBUG, err);
    assert_true(fmx_reqlog_wants(log, "ok"));
    fmx_reqlog_destroy(&log);

    assert_null(fmx_reqlog_new("/proc/nonexistent/dir/x.jsonl", FMX_LOG_INFO, err));
    assert_true(err[0] != '\0');
}

/* /dev/full fails every write with ENOSPC: lines are counted as dropped, the error is reported
 * once per outage, and appending keeps working. */
static void test_write_errors_drop_lines(void **state) {
    (void)state;
    if (access("/dev/full", W_OK) != 0) skip();
    char err[FMX_ERR_LEN];
    fmx_reqlog_t *log = fmx_reqlog_new("/dev/full", FMX_LOG_INFO, err);
    assert_non_null(log);
    fmx_reqlog_entry_t e = {.status = "ok", .request_id = FMX_STR_LIT("r")};
    fmx_reqlog_append(log, &e);
    fmx_reqlog_append(log, &e);
    err[0] = '\0';
    assert_int_equal(fmx_reqlog_flush(log, err), -1);
    assert_non_null(strstr(err, "write failed"));
    fmx_reqlog_append(log, &e);
    assert_int_equal(fmx_reqlog_flush(log, err), 0); /* the same outage: not reported again */
    fmx_reqlog_stats_t st;
    fmx_reqlog_stats(log, &st);
    assert_int_equal(st.lines, 0);
    assert_int_equal(st.dropped, 3);
    assert_int_equal(st.write_errors, 2);
    /* Many lines: flushed on the way (the buffer stays bounded), all counted. */
    for (int i = 0; i < 5000; i++) fmx_reqlog_append(log, &e);
    fmx_reqlog_flush(log, err);
    fmx_reqlog_stats(log, &st);
    assert_int_equal(st.dropped, 5003);
    fmx_reqlog_destroy(&log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_levels_and_off, s_setup, s_teardown),
        cmocka_unit_test(test_write_errors_drop_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
