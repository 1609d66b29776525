/* test_events_log.c - the engagement events log (broker/events.h): line format and escaping, the
 * writer thread under each fsync policy, a full queue refusing at once instead of waiting (a FIFO
 * nobody reads stands in for a stalled disk), and shutdown writing everything acknowledged.
 * (Named _log: test/integration/test_events.c is the process test of the whole feature.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker/events.h"

typedef struct {
    char dir[64];
    char path[128];
} s_fx_t;

static int s_setup(void **state) {
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/fmx-events-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/log/sub/events.jsonl", fx->dir); /* parents do not exist yet */
    *state = fx;
    return 0;
}

static int s_teardown(void **state) {
    s_fx_t *fx = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static char *s_slurp(const char *path, size_t *len) {
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static fmx_token_fields_t s_fields(void) {
    fmx_token_fields_t f;
    memset(&f, 0, sizeof f);
    f.ranking_id = FMX_STR_LIT("rk-00010000000000a");
    f.feed = FMX_STR_LIT("home");
    f.source = FMX_STR_LIT("follows");
    f.model = FMX_STR_LIT("linear_v1");
    f.path[0] = 4;
    f.depth = 1;
    f.experiments[0] = FMX_STR_LIT("ranker_test");
    f.variants[0] = FMX_STR_LIT("control");
    f.n_variants = 1;
    f.issued = 1767225600;
    return f;
}

/* ---- format ---- */

static void test_format(void **state) {
    (void)state;
    char buf[FMX_EVENTS_LINE_MAX];
    fmx_token_fields_t f = s_fields();
    size_t n = fmx_events_format(buf, sizeof buf, 1767225601234, FMX_STR_LIT("click"), &f, FMX_STR_LIT("42"),
                                 FMX_STR_LIT("r-1"));
    const char *want = "{\"ts\":1767225601.234,\"event\":\"click\",\"ranking_id\":\"rk-00010000000000a\","
                       "\"feed\":\"home\",\"source\":\"follows\",\"model\":\"linear_v1\",\"position\":4,"
                       "\"variants\":{\"ranker_test\":\"control\"},\"issued\":1767225600,\"user_id\":\"42\","
                       "\"request_id\":\"r-1\"}\n";
    assert_int_equal(n, strlen(want));
    buf[n] = '\0';
    assert_string_equal(buf, want);

    /* a carousel child; no user or request id; no variants; ms padded */
    f.path[1] = 2;
    f.path[2] = 0;
    f.depth = 3;
    f.n_variants = 0;
    n = fmx_events_format(buf, sizeof buf, 5007, FMX_STR_LIT("impression"), &f, FMX_STR_NULL, FMX_STR_NULL);
    buf[n] = '\0';
    assert_string_equal(buf, "{\"ts\":5.007,\"event\":\"impression\",\"ranking_id\":\"rk-00010000000000a\","
                             "\"feed\":\"home\",\"source\":\"follows\",\"model\":\"linear_v1\",\"position\":4,"
                             "\"child_position\":0,\"path\":[4,2,0],\"variants\":{},\"issued\":1767225600}\n");
}

static void test_format_escapes(void **state) {
    (void)state;
    char buf[FMX_EVENTS_LINE_MAX];
    fmx_token_fields_t f = s_fields();
    f.source = (fmx_str_t){"a\"b\\c\n\x01", 7};
    f.model = (fmx_str_t){"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14}; /* valid UTF-8 passes through */
    /* invalid: lone continuation, overlong, surrogate, truncated sequence at the end (one U+FFFD
     * per maximal invalid subpart, common/jsonbuf.h) */
    fmx_str_t user = {"\x80x\xc0\xaf\xed\xa0\x80y\xe2\x82", 10};
    size_t n = fmx_events_format(buf, sizeof buf, 0, FMX_STR_LIT("cl\x7fick"), &f, user, FMX_STR_NULL);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\"source\":\"a\\\"b\\\\c\\n\\u0001\""));
    assert_non_null(strstr(buf, "\"model\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""));
    assert_non_null(strstr(buf, "\"user_id\":\"\\ufffdx\\ufffd\\ufffd\\ufffd\\ufffd\\ufffdy\\ufffd\""));
    assert_non_null(strstr(buf, "\"event\":\"cl\x7fick\""));
    assert_int_equal(strchr(buf, '\n') - buf, (long)n - 1); /* one line */
}

static void test_format_bounds(void **state) {
    (void)state;
    char buf[FMX_EVENTS_LINE_MAX];
    fmx_token_fields_t f = s_fields();
    size_t full = fmx_events_format(buf, sizeof buf, 1, FMX_STR_LIT("click"), &f, FMX_STR_NULL, FMX_STR_NULL);
    assert_true(full > 0);
    for (size_t cap = 0; cap < full; cap++)
        assert_int_equal(fmx_events_format(buf, cap, 1, FMX_STR_LIT("click"), &f, FMX_STR_NULL, FMX_STR_NULL), 0);
    assert_int_equal(fmx_events_format(buf, full, 1, FMX_STR_LIT("click"), &f, FMX_STR_NULL, FMX_STR_NULL), full);
    /* the worst a valid token and request can do still fits a line: every byte escaped 6-fold */
    static char bad[FMX_TOKEN_PAYLOAD_MAX];
    memset(bad, 0x01, sizeof bad);
    fmx_token_fields_t w = s_fields();
    w.source = (fmx_str_t){bad, sizeof bad - 100};
    fmx_str_t id128 = {bad, 128};
    assert_true(fmx_events_format(buf, sizeof buf, INT64_MAX, id128, &w, id128, id128) > 0);
}

/* ---- writer ---- */

static void test_writes_and_drains(void **state) {
    s_fx_t *fx = *state;
    char err[FMX_ERR_LEN];
    fmx_events_opts_t o = {FMX_FSYNC_ALWAYS, 1000, 64 << 10};
    fmx_events_t *ev = fmx_events_new(fx->path, &o, err);
    if (!ev) fail_msg("%s", err);
    char line[64];
    for (int i = 0; i < 500; i++) {
        int n = snprintf(line, sizeof line, "{\"n\":%d}\n", i);
        /* 64 KB of ring holds ~6000 such lines: nothing is refused */
        assert_int_equal(fmx_events_append(ev, line, (size_t)n), 0);
    }
    assert_int_equal(fmx_events_flush(ev, 5000), 0);
    fmx_events_stats_t st = fmx_events_stats(ev);
    assert_int_equal(st.queued, 500);
    assert_int_equal(st.written, 500);
    assert_int_equal(st.full, 0);
    assert_int_equal(st.pending_bytes, 0);
    assert_int_equal(st.write_errors + st.fsync_errors, 0);
    assert_true(st.fsyncs >= 1); /* always: every batch */
    /* more after a flush, then destroy: shutdown writes what was acknowledged */
    for (int i = 500; i < 600; i++) {
        int n = snprintf(line, sizeof line, "{\"n\":%d}\n", i);
        assert_int_equal(fmx_events_append(ev, line, (size_t)n), 0);
    }
    fmx_events_destroy(&ev);
    assert_null(ev);
    fmx_events_destroy(&ev); /* NULL-safe */
    size_t len = 0;
    char *text = s_slurp(fx->path, &len);
    assert_non_null(text);
    char *p = text;
    for (int i = 0; i < 600; i++) {
        int n = snprintf(line, sizeof line, "{\"n\":%d}\n", i);
        if (strncmp(p, line, (size_t)n) != 0) fail_msg("line %d: '%.20s'", i, p);
        p += n;
    }
    assert_int_equal(*p, '\0');
    free(text);

    /* reopening appends */
    ev = fmx_events_new(fx->path, &o, err);
    assert_non_null(ev);
    assert_int_equal(fmx_events_append(ev, "{}\n", 3), 0);
    fmx_events_destroy(&ev);
    text = s_slurp(fx->path, &len);
    assert_non_null(text);
    assert_string_equal(text + len - 3, "{}\n");
    assert_non_null(strstr(text, "{\"n\":0}\n"));
    free(text);
}

static void test_fsync_policies(void **state) {
    s_fx_t *fx = *state;
    char err[FMX_ERR_LEN];
    /* never: no sync, not even at shutdown */
    fmx_events_opts_t o = {FMX_FSYNC_NEVER, 1000, 16 << 10};
    fmx_events_t *ev = fmx_events_new(fx->path, &o, err);
    assert_non_null(ev);
    assert_int_equal(fmx_events_append(ev, "{}\n", 3), 0);
    assert_int_equal(fmx_events_flush(ev, 5000), 0);
    assert_int_equal(fmx_events_stats(ev).fsyncs, 0);
    fmx_events_destroy(&ev);

    /* interval: the first batch syncs, later ones wait for the interval, then sync without new
     * writes arriving */
    o = (fmx_events_opts_t){FMX_FSYNC_INTERVAL, 100, 16 << 10};
    ev = fmx_events_new(fx->path, &o, err);
    assert_non_null(ev);
    assert_int_equal(fmx_events_append(ev, "{}\n", 3), 0);
    assert_int_equal(fmx_events_flush(ev, 5000), 0);
    assert_int_equal(fmx_events_stats(ev).fsyncs, 1);
    assert_int_equal(fmx_events_append(ev, "{}\n", 3), 0);
    assert_int_equal(fmx_events_flush(ev, 5000), 0);
    uint64_t before = fmx_events_stats(ev).fsyncs;
    assert_true(before <= 2);
    for (int i = 0; i < 100 && fmx_events_stats(ev).fsyncs < 2; i++) usleep(10000);
    assert_int_equal(fmx_events_stats(ev).fsyncs, 2);
    fmx_events_destroy(&ev);

    /* options out of range */
    o = (fmx_events_opts_t){FMX_FSYNC_INTERVAL, 0, 16 << 10};
    assert_null(fmx_events_new(fx->path, &o, err));
    o = (fmx_events_opts_t){FMX_FSYNC_ALWAYS, 1, 1000};
    assert_null(fmx_events_new(fx->path, &o, err));
    assert_non_null(strstr(err, "smaller than one line"));
    o = (fmx_events_opts_t){FMX_FSYNC_ALWAYS, 1, 16 << 10};
    assert_null(fmx_events_new("/proc/nope/events.jsonl", &o, err));

    fmx_fsync_t p;
    assert_int_equal(fmx_fsync_parse("always", &p), 0);
    assert_int_equal(p, FMX_FSYNC_ALWAYS);
    assert_int_equal(fmx_fsync_parse("never", &p), 0);
    assert_int_equal(p, FMX_FSYNC_NEVER);
    assert_int_equal(fmx_fsync_parse("interval", &p), 0);
    assert_int_equal(p, FMX_FSYNC_INTERVAL);
    assert_int_equal(fmx_fsync_parse("sometimes", &p), -1);
    assert_string_equal(fmx_fsync_name(FMX_FSYNC_NEVER), "never");
}

/* A stalled writer (a FIFO nobody drains) fills the ring; append then fails at once, and once the
 * reader drains, every accepted line arrives, in order, and nothing refused does. */
static void test_full_queue_refuses_without_waiting(void **state) {
    s_fx_t *fx = *state;
    char err[FMX_ERR_LEN], fifo[160];
    snprintf(fifo, sizeof fifo, "%s/fifo", fx->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    assert_true(rd >= 0);
    fmx_events_opts_t o = {FMX_FSYNC_NEVER, 1000, 16 << 10};
    fmx_events_t *ev = fmx_events_new(fifo, &o, err);
    if (!ev) fail_msg("%s", err);
    char line[1000];
    memset(line, 'x', sizeof line);
    line[sizeof line - 1] = '\n';
    int accepted = 0, refused = 0, streak = 0;
    struct timespec t0, t1;
    /* Append until 40 refusals in a row, 5 ms apart: by then the writer had 200 ms to fill the
     * pipe, so the ring stays full only because the write blocks. */
    for (int i = 0; i < 20000 && streak < 40; i++) {
        snprintf(line, 12, "%010d", accepted);
        line[10] = ' ';
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = fmx_events_append(ev, line, sizeof line);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        /* never blocks: well under 100 ms even on a loaded machine */
        assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 100);
        if (rc == 0) {
            accepted++;
            streak = 0;
        } else {
            refused++;
            streak++;
            usleep(5000);
        }
    }
    assert_int_equal(streak, 40);
    assert_true(accepted > 64); /* the pipe buffer (64 KB) plus the ring (16 KB) */
    fmx_events_stats_t st = fmx_events_stats(ev);
    assert_int_equal(st.full, (uint64_t)refused);
    assert_int_equal(st.queued, (uint64_t)accepted);
    assert_true(st.pending_bytes > 0);

    /* drain: every accepted line arrives in order */
    size_t want = (size_t)accepted * sizeof line, got = 0;
    char *all = malloc(want + 1);
    assert_non_null(all);
    for (int spins = 0; got < want && spins < 5000;) {
        ssize_t n = read(rd, all + got, want - got);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        struct pollfd p = {rd, POLLIN, 0};
        poll(&p, 1, 10);
        spins++;
    }
    assert_int_equal(got, want);
    for (int i = 0; i < accepted; i++) {
        char num[12];
        snprintf(num, sizeof num, "%010d", i);
        assert_memory_equal(all + (size_t)i * sizeof line, num, 10);
    }
    free(all);
    assert_int_equal(fmx_events_flush(ev, 5000), 0);
    assert_int_equal(fmx_events_stats(ev).written, (uint64_t)accepted);
    /* room again; with the reader gone the write fails with EPIPE (SIGPIPE ignored in main):
     * counted, not fatal */
    close(rd);
    assert_int_equal(fmx_events_append(ev, line, sizeof line), 0);
    assert_int_equal(fmx_events_flush(ev, 5000), 0);
    assert_int_equal(fmx_events_stats(ev).write_errors, 1);
    fmx_events_destroy(&ev);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_escapes),
        cmocka_unit_test(test_format_bounds),
        T(test_writes_and_drains),
        T(test_fsync_policies),
        T(test_full_queue_refuses_without_waiting),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
