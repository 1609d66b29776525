/* test_chrome.c - the Chrome trace-event writer (common/chrome.h): valid JSON, one name per
 * process and per used (process, thread), complete events with the args given, distinct pids. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chrome.h"
#include "test/support/jparse.h"

static jp_value_t *s_parse(const fmx_jsonbuf_t *b) {
    char err[160];
    jp_value_t *v = jp_parse(b->data, b->len, err, sizeof err);
    if (!v) fail_msg("not valid JSON: %s\n%.*s", err, (int)b->len, b->data);
    assert_int_equal(v->type, JP_OBJ);
    return v;
}

/* The events of a parsed trace with this ph and name (NULL: any name), up to max. */
static size_t s_events(const jp_value_t *doc, const char *ph, const char *name, const jp_value_t **out, size_t max) {
    const jp_value_t *ev = jp_get(doc, "traceEvents");
    assert_non_null(ev);
    assert_int_equal(ev->type, JP_ARR);
    size_t n = 0;
    for (size_t i = 0; i < ev->n; i++) {
        const jp_value_t *e = &ev->items[i];
        const char *p = jp_get_str(e, "ph"), *nm = jp_get_str(e, "name");
        if (p && strcmp(p, ph) == 0 && (!name || (nm && strcmp(nm, name) == 0)) && n < max) out[n++] = e;
    }
    return n;
}

static void test_trace_round_trips(void **state) {
    (void)state;
    const fmx_chrome_process_t procs[] = {
        {.pid = 100, .name = "broker", .sort_index = 0},
        {.pid = 200, .name = "actor:score score-1 (pid 200)", .sort_index = 1},
        {.pid = 100, .name = "actor:retrieve r \"quoted\" (pid 100)", .sort_index = 2}, /* a pid clash */
        {.pid = 0, .name = "actor:hydrate (pid unknown)", .sort_index = 3},
    };
    const char *const threads[] = {"request", "follows", "scored\nname", "unused"};
    fmx_chrome_span_t spans[5];
    static const fmx_chrome_span_t init = FMX_CHROME_SPAN_INIT;
    for (size_t i = 0; i < 5; i++) spans[i] = init;
    spans[0].name = "request", spans[0].cat = "request", spans[0].dur_us = 9000, spans[0].status = "degraded";
    spans[1].name = "follows", spans[1].cat = "node", spans[1].thread = 1, spans[1].ts_us = 10, spans[1].dur_us = 900;
    spans[1].bytes = 356, spans[1].attempt = 1, spans[1].queue_us = 4, spans[1].status = "ok";
    spans[2].name = "follows", spans[2].cat = "actor", spans[2].process = 2, spans[2].thread = 1, spans[2].ts_us = 500;
    spans[2].dur_us = 80, spans[2].replica = "r \"quoted\"", spans[2].actor_us = 80, spans[2].hedge = true;
    spans[3].name = "scored\nname", spans[3].cat = "actor", spans[3].process = 1, spans[3].thread = 2;
    spans[3].ts_us = 1000, spans[3].dur_us = 7000, spans[3].outcome = "timeout", spans[3].fallback = "passthrough";
    spans[4].name = "queued", spans[4].cat = "queue", spans[4].process = 3, spans[4].thread = 2;
    fmx_chrome_trace_t t = {
        .request_id = FMX_STR_LIT("r\"1\n"),
        .feed = FMX_STR_LIT("home"),
        .user_id = FMX_STR_LIT("42"),
        .status = FMX_STR_LIT("degraded"),
        .wall_start_us = 1700000000000000ull,
        .processes = procs,
        .n_processes = 4,
        .threads = threads,
        .n_threads = 4,
        .spans = spans,
        .n_spans = 5,
    };
    fmx_jsonbuf_t b;
    fmx_jsonbuf_init(&b, 0);
    char err[FMX_ERR_LEN];
    assert_int_equal(fmx_chrome_write(&b, &t, err), 0);
    jp_value_t *doc = s_parse(&b);

    const jp_value_t *other = jp_get(doc, "otherData");
    assert_string_equal(jp_get_str(other, "request_id"), "r\"1\n");
    assert_string_equal(jp_get_str(other, "feed"), "home");
    assert_null(jp_get(other, "ranking_id")); /* empty: left out */
    assert_true(jp_get_num(other, "wall_start_us", 0) == 1700000000000000.0);
    assert_string_equal(jp_get_str(doc, "displayTimeUnit"), "ms");

    /* four processes, four distinct pids: the real ones where free, synthetic for the clash and 0 */
    const jp_value_t *ev[32];
    size_t n = s_events(doc, "M", "process_name", ev, 32);
    assert_int_equal(n, 4);
    double pids[4];
    for (size_t i = 0; i < 4; i++) {
        pids[i] = jp_get_num(ev[i], "pid", -1);
        assert_string_equal(jp_get_str(jp_get(ev[i], "args"), "name"), procs[i].name);
        assert_null(jp_get(ev[i], "ts")); /* metadata carries no timestamp */
        for (size_t k = 0; k < i; k++) assert_true(pids[k] != pids[i]);
    }
    assert_true(pids[0] == 100 && pids[1] == 200);
    assert_true(pids[2] >= 1000000000 && pids[3] >= 1000000000);

    /* threads named once per used (process, thread): (0,0) (0,1) (2,1) (1,2) (3,2); "unused" never */
    n = s_events(doc, "M", "thread_name", ev, 32);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) assert_string_not_equal(jp_get_str(jp_get(ev[i], "args"), "name"), "unused");

    n = s_events(doc, "X", NULL, ev, 32);
    assert_int_equal(n, 5);
    const jp_value_t *a = jp_get(ev[1], "args");
    assert_true(jp_get_num(ev[1], "pid", -1) == 100);
    assert_true(jp_get_num(ev[1], "tid", -1) == 2);
    assert_true(jp_get_num(ev[1], "ts", -1) == 10);
    assert_true(jp_get_num(ev[1], "dur", -1) == 900);
    assert_string_equal(jp_get_str(ev[1], "cat"), "node");
    assert_string_equal(jp_get_str(a, "node"), "follows");
    assert_true(jp_get_num(a, "bytes", -1) == 356);
    assert_true(jp_get_num(a, "queue_us", -1) == 4);
    assert_null(jp_get(a, "actor_us")); /* -1: left out */
    assert_null(jp_get(a, "hedge"));
    a = jp_get(ev[2], "args");
    assert_true(jp_get_num(ev[2], "pid", -1) == pids[2]);
    assert_string_equal(jp_get_str(a, "replica"), "r \"quoted\"");
    assert_int_equal(jp_get(a, "hedge")->type, JP_BOOL);
    a = jp_get(ev[3], "args");
    assert_string_equal(jp_get_str(ev[3], "name"), "scored\nname");
    assert_string_equal(jp_get_str(a, "outcome"), "timeout");
    assert_string_equal(jp_get_str(a, "fallback"), "passthrough");
    jp_free(&doc);
    fmx_jsonbuf_fini(&b);
}

static void test_edges(void **state) {
    (void)state;
    const fmx_chrome_process_t procs[] = {{.pid = 1, .name = "broker"}};
    const char *const threads[] = {"request"};
    fmx_chrome_trace_t t = {.processes = procs, .n_processes = 1, .threads = threads, .n_threads = 1};
    fmx_jsonbuf_t b;
    fmx_jsonbuf_init(&b, 0);
    char err[FMX_ERR_LEN];
    /* metadata only: still valid JSON (no trailing comma) */
    assert_int_equal(fmx_chrome_write(&b, &t, err), 0);
    jp_value_t *doc = s_parse(&b);
    assert_int_equal(jp_get(doc, "otherData")->n, 0);
    jp_free(&doc);

    /* nothing at all */
    fmx_jsonbuf_reset(&b);
    fmx_chrome_trace_t empty = {.n_processes = 0};
    assert_int_equal(fmx_chrome_write(&b, &empty, err), 0);
    doc = s_parse(&b);
    assert_int_equal(jp_get(doc, "traceEvents")->n, 0);
    jp_free(&doc);

    /* a span naming a thread or process that does not exist is refused */
    fmx_chrome_span_t s = FMX_CHROME_SPAN_INIT;
    s.thread = 1;
    t.spans = &s;
    t.n_spans = 1;
    fmx_jsonbuf_reset(&b);
    assert_int_equal(fmx_chrome_write(&b, &t, err), -1);
    assert_non_null(strstr(err, "thread"));
    s.thread = 0;
    s.process = 1;
    assert_int_equal(fmx_chrome_write(&b, &t, err), -1);

    /* out of room: an error, not a truncated file passed off as whole */
    fmx_jsonbuf_fini(&b);
    fmx_jsonbuf_init(&b, 64);
    s.process = 0;
    assert_int_equal(fmx_chrome_write(&b, &t, err), -1);
    fmx_jsonbuf_fini(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_round_trips),
        cmocka_unit_test(test_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
