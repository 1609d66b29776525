/* test_reqlog.c - the request log and the sampled traces of a real broker:
 * - N requests (served, degraded, unknown feed, undecodable, a hostile request id) make exactly
 *   N valid JSON lines that agree with the replies: ids, status, error code, fallbacks,
 *   experiments;
 * - with sample_rate 0 exactly the allowlisted user's requests (and debug ones) are traced, each
 *   file Chrome trace JSON with one node span per executed node and actor spans on the pids of
 *   the real actor processes; `feedctl get --trace-out` writes the same kind of file;
 * - with sample_rate 1 every request is traced.
 * Everything read back goes through a strict JSON parser (test/support/jparse.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test/integration/harness.h"
#include "test/support/jparse.h"

#define REPLY_TIMEOUT_MS 5000
#define HOME_NODES 11 /* follows trending hydrated live scored followed you_follow trend_only trending_in mixed page
                        (new_sellers, a sub-feed, is off by default) */

static pid_t s_actor_pids[H_MAX_TYPES];
static int s_n_actors;

/* A broker with these extra flags and one actor of every feed type; `bad_type` (may be NULL)
 * answers garbage, so its node deterministically falls back. */
static void s_start(h_t *h, const char *const *broker_args, const char *bad_type) {
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    assert_true(n > 0);
    assert_true(h_start_broker(h, broker_args) > 0);
    const char *const bad[] = {"--inject", "garbage", NULL};
    s_n_actors = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = h_start_actor(h, types[i], NULL, bad_type && strcmp(types[i], bad_type) == 0 ? bad : NULL);
        assert_true(pid > 0);
        s_actor_pids[s_n_actors++] = pid;
    }
    for (int i = 0; i < n; i++) assert_int_equal(h_wait_ready(h, types[i], 1, 10000), 0);
}

static char *s_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            assert_non_null(p);
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Lines of path once there are at least `want` (polling up to 5 s: the broker writes at the end of
 * its loop pass, after the reply went out). Each parsed; the count is returned. */
static size_t s_log_lines(const char *path, size_t want, jp_value_t **out, size_t max) {
    size_t n = 0;
    for (int64_t until = h_now_ms() + 5000;;) {
        size_t len = 0;
        char *text = s_read_file(path, &len);
        n = 0;
        for (size_t i = 0; text && i < len; i++) n += text[i] == '\n';
        if (n >= want || h_now_ms() > until) {
            size_t k = 0;
            for (char *line = text, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
                char err[160];
                jp_value_t *v = jp_parse(line, (size_t)(nl - line), err, sizeof err);
                if (!v) fail_msg("log line %zu is not valid JSON (%s): %.*s", k + 1, err, (int)(nl - line), line);
                if (k < max)
                    out[k] = v;
                else
                    jp_free(&v);
                k++;
            }
            free(text);
            return k;
        }
        free(text);
        h_sleep_ms(20);
    }
}

/* The line whose request_id is id (NULL: whose request_id is null). */
static const jp_value_t *s_line_for(jp_value_t **lines, size_t n, const char *id, size_t id_len) {
    for (size_t i = 0; i < n; i++) {
        const jp_value_t *rid = jp_get(lines[i], "request_id");
        if (!id && rid && rid->type == JP_NULL) return lines[i];
        if (id && rid && rid->type == JP_STR && rid->len == id_len && memcmp(rid->str, id, id_len) == 0)
            return lines[i];
    }
    return NULL;
}

/* The log line agrees with the reply: status, error code, fallbacks, experiments. */
static void s_check_line(const jp_value_t *line, const h_reply_t *r) {
    assert_non_null(line);
    const msgpack_object *status = h_get(r->root, "status");
    assert_non_null(status);
    assert_int_equal(strlen(jp_get_str(line, "status")), status->via.str.size);
    assert_memory_equal(jp_get_str(line, "status"), status->via.str.ptr, status->via.str.size);
    const msgpack_object *err = h_get(r->root, "error");
    if (err) {
        const msgpack_object *code = h_get(err, "code");
        assert_true(h_str_eq(code, jp_get_str(line, "error")));
    } else {
        assert_null(jp_get(line, "error"));
        assert_true(h_str_eq(h_get(r->root, "ranking_id"), jp_get_str(line, "ranking_id")));
        assert_true(jp_get_num(line, "latency_us", 0) > 0);
    }
    const msgpack_object *fb = h_get(r->root, "fallbacks");
    const jp_value_t *lfb = jp_get(line, "fallbacks");
    assert_non_null(lfb);
    assert_int_equal(lfb->n, fb ? fb->via.array.size : 0);
    for (size_t i = 0; i < lfb->n; i++) assert_true(h_str_eq(&fb->via.array.ptr[i], lfb->items[i].str));
    const msgpack_object *ex = h_get(r->root, "experiments");
    const jp_value_t *lex = jp_get(line, "experiments");
    assert_int_equal(lex->type, JP_OBJ);
    assert_int_equal(lex->n, ex ? ex->via.map.size : 0);
    for (size_t i = 0; i < lex->n; i++) assert_true(h_str_eq(h_get(ex, lex->keys[i]), lex->items[i].str));
}

static void s_request(h_client_t *c, h_reply_t *r, const char *feed, const char *rid, size_t rid_len, int user,
                      bool debug) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(h_pack_map(&sb, "feed", 's', feed, "user_id", 'i', user, "request_id", 'S', rid, rid_len,
                                H_CTX_US, "deadline_ms", 'i', 3000, "debug", 'b', (int)debug, NULL),
                     0);
    int rc = h_call(c, sb.data, sb.size, REPLY_TIMEOUT_MS, r);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(rc, 0);
}

static void test_one_line_per_request(void **state) {
    h_t *h = *state;
    char log_path[256];
    snprintf(log_path, sizeof log_path, "%s/log/requests.jsonl", h->dir); /* log/ is created by the broker */
    const char *const args[] = {"--request-log", log_path, NULL};
    s_start(h, args, "score");
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);

    enum { N_HOME = 6, N_UNKNOWN = 2 };
    h_reply_t home[N_HOME], unknown[N_UNKNOWN], evil, bad;
    char ids[N_HOME + N_UNKNOWN][32];
    for (int i = 0; i < N_HOME; i++) {
        snprintf(ids[i], sizeof ids[i], "rl-%d", i);
        s_request(c, &home[i], "home", ids[i], strlen(ids[i]), 100 + i, false);
        if (!h_status_is(&home[i], "degraded")) h_print("reply", home[i].root);
        assert_true(h_status_is(&home[i], "degraded")); /* score answers garbage: scored falls back */
    }
    for (int i = 0; i < N_UNKNOWN; i++) {
        snprintf(ids[N_HOME + i], sizeof ids[0], "rl-unknown-%d", i);
        s_request(c, &unknown[i], "nosuch", ids[N_HOME + i], strlen(ids[N_HOME + i]), 7, false);
        assert_true(h_error_code_is(&unknown[i], "unknown_feed"));
    }
    /* A request id full of what breaks naive JSON: quotes, backslashes, newlines, control bytes. */
    static const char evil_id[] = "q\"uo\\te\n{\"x\":1}\r\t\x01\x7f\xc3\xa9";
    s_request(c, &evil, "home", evil_id, sizeof evil_id - 1, 5, false);
    /* Not msgpack: answered before any id is known. */
    assert_int_equal(h_call(c, "\xc1", 1, REPLY_TIMEOUT_MS, &bad), 0);
    assert_true(h_error_code_is(&bad, "bad_request"));
    const size_t n_requests = N_HOME + N_UNKNOWN + 2;

    jp_value_t *lines[32] = {0};
    size_t n = s_log_lines(log_path, n_requests, lines, 32);
    assert_int_equal(n, n_requests);
    h_sleep_ms(200); /* and no more come */
    jp_value_t *again[32] = {0};
    size_t n2 = s_log_lines(log_path, n_requests + 1, again, 32);
    for (size_t i = 0; i < n2 && i < 32; i++) jp_free(&again[i]);
    assert_int_equal(n2, n_requests);

    for (int i = 0; i < N_HOME; i++) {
        const jp_value_t *l = s_line_for(lines, n, ids[i], strlen(ids[i]));
        s_check_line(l, &home[i]);
        const jp_value_t *fb = jp_get(l, "fallbacks");
        bool scored = false;
        for (size_t k = 0; k < fb->n; k++) scored |= strcmp(fb->items[k].str, "scored") == 0;
        assert_true(scored);
        assert_string_equal(jp_get_str(l, "feed"), "home");
        char user[16];
        snprintf(user, sizeof user, "%d", 100 + i);
        assert_string_equal(jp_get_str(l, "user_id"), user);
        assert_false(jp_get(l, "sampled")->b);
        assert_non_null(jp_get_str(l, "ts"));
    }
    for (int i = 0; i < N_UNKNOWN; i++) {
        const jp_value_t *l = s_line_for(lines, n, ids[N_HOME + i], strlen(ids[N_HOME + i]));
        s_check_line(l, &unknown[i]);
        assert_string_equal(jp_get_str(l, "feed"), "nosuch");
        assert_string_equal(jp_get_str(l, "user_id"), "7");
    }
    s_check_line(s_line_for(lines, n, evil_id, sizeof evil_id - 1), &evil);
    const jp_value_t *l = s_line_for(lines, n, NULL, 0);
    assert_non_null(l);
    assert_string_equal(jp_get_str(l, "error"), "bad_request");
    assert_int_equal(jp_get(l, "user_id")->type, JP_NULL);

    for (size_t i = 0; i < n && i < 32; i++) jp_free(&lines[i]);
    for (int i = 0; i < N_HOME; i++) h_reply_fini(&home[i]);
    for (int i = 0; i < N_UNKNOWN; i++) h_reply_fini(&unknown[i]);
    h_reply_fini(&evil);
    h_reply_fini(&bad);
    h_client_destroy(&c);
    h_pass(h);
}

/* The .json files in dir, as names (caller frees each). */
static size_t s_list_traces(const char *dir, char **names, size_t max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 && n < max) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    return n;
}

/* s_list_traces once it finds `want` files (the tracer writes them from its own thread), or
 * after 5 s with what there is. */
static size_t s_wait_traces(const char *dir, char **names, size_t max, size_t want) {
    size_t n;
    for (int64_t until = h_now_ms() + 5000; (n = s_list_traces(dir, names, max)) < want && h_now_ms() < until;) {
        for (size_t i = 0; i < n; i++) free(names[i]);
        h_sleep_ms(20);
    }
    return n;
}

static bool s_is_actor_pid(double pid) {
    for (int i = 0; i < s_n_actors; i++)
        if ((double)s_actor_pids[i] == pid) return true;
    return false;
}

/* A trace file: valid JSON, one "node" span per executed node (every node named once), and every
 * node that ran on an actor has an "actor" span on the pid of one of our actor processes, whose
 * process is named for its type. */
static void s_check_trace_file(const char *path, size_t want_nodes) {
    size_t len = 0;
    char *text = NULL;
    for (int64_t until = h_now_ms() + 3000; !(text = s_read_file(path, &len)) && h_now_ms() < until;) h_sleep_ms(20);
    if (!text) fail_msg("no trace file %s", path);
    char err[160];
    jp_value_t *doc = jp_parse(text, len, err, sizeof err);
    if (!doc) fail_msg("%s is not valid JSON: %s", path, err);
    free(text);
    const jp_value_t *ev = jp_get(doc, "traceEvents");
    assert_non_null(ev);
    const char *nodes[64];
    size_t n_nodes = 0, n_actor = 0;
    for (size_t i = 0; i < ev->n; i++) {
        const jp_value_t *e = &ev->items[i];
        const char *ph = jp_get_str(e, "ph"), *cat = jp_get_str(e, "cat");
        assert_non_null(ph);
        if (strcmp(ph, "X") != 0) continue;
        assert_true(jp_get_num(e, "ts", -1) >= 0 && jp_get_num(e, "dur", -1) >= 0);
        if (strcmp(cat, "node") == 0) {
            const char *name = jp_get_str(e, "name");
            for (size_t k = 0; k < n_nodes; k++) assert_string_not_equal(nodes[k], name);
            assert_true(n_nodes < 64);
            nodes[n_nodes++] = name;
            assert_string_equal(jp_get_str(jp_get(e, "args"), "status"), "ok");
        } else if (strcmp(cat, "actor") == 0) {
            n_actor++;
            if (!s_is_actor_pid(jp_get_num(e, "pid", -1))) fail_msg("actor span on pid %.0f", jp_get_num(e, "pid", -1));
            const char *outcome = jp_get_str(jp_get(e, "args"), "outcome"); /* absent in feedctl's */
            if (outcome) assert_string_equal(outcome, "ok");
        }
    }
    assert_int_equal(n_nodes, want_nodes);
    assert_int_equal(n_actor, want_nodes); /* one copy each: nothing hedged or retried here */
    /* every actor pid is named as a process "actor:TYPE ..." */
    size_t named = 0;
    for (size_t i = 0; i < ev->n; i++) {
        const jp_value_t *e = &ev->items[i];
        if (strcmp(jp_get_str(e, "ph"), "M") == 0 && strcmp(jp_get_str(e, "name"), "process_name") == 0 &&
            s_is_actor_pid(jp_get_num(e, "pid", -1)))
            named += strncmp(jp_get_str(jp_get(e, "args"), "name"), "actor:", 6) == 0;
    }
    assert_true(named >= 1);
    jp_free(&doc);
}

static void test_allowlisted_user_and_debug_are_traced(void **state) {
    h_t *h = *state;
    char dir[256], log_path[256];
    snprintf(dir, sizeof dir, "%s/traces-a", h->dir);
    snprintf(log_path, sizeof log_path, "%s/requests-a.jsonl", h->dir);
    const char *const args[] = {"--trace-dir", dir, "--trace-sample-rate", "0", "--trace-user", "77",
                                "--request-log", log_path, NULL};
    s_start(h, args, NULL);
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    char id[32];
    for (int i = 0; i < 4; i++) {
        h_reply_t r;
        snprintf(id, sizeof id, "tr-77-%d", i);
        s_request(c, &r, "home", id, strlen(id), 77, false);
        assert_true(h_status_is(&r, "ok") || h_status_is(&r, "degraded"));
        h_reply_fini(&r);
        snprintf(id, sizeof id, "tr-78-%d", i);
        s_request(c, &r, "home", id, strlen(id), 78, false);
        h_reply_fini(&r);
    }
    /* debug: traced whoever the user is */
    h_reply_t r;
    s_request(c, &r, "home", "tr-debug", 8, 78, true);
    bool debug_ok = h_status_is(&r, "ok");
    h_reply_fini(&r);
    jp_value_t *lines[16] = {0};
    size_t n = s_log_lines(log_path, 9, lines, 16);
    assert_int_equal(n, 9);
    for (size_t i = 0; i < n; i++) {
        const char *rid = jp_get_str(lines[i], "request_id");
        bool want = strncmp(rid, "tr-77-", 6) == 0 || strcmp(rid, "tr-debug") == 0;
        if (jp_get(lines[i], "sampled")->b != want) fail_msg("%s: sampled is wrong", rid);
        jp_free(&lines[i]);
    }

    char *names[16] = {0};
    size_t nt = s_wait_traces(dir, names, 16, 5);
    h_sleep_ms(100); /* and no more come */
    for (size_t i = 0; i < nt; i++) free(names[i]);
    nt = s_list_traces(dir, names, 16);
    /* sorted by name (insertion sort: a handful) */
    for (size_t i = 1; i < nt; i++)
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    assert_int_equal(nt, 5);
    assert_string_equal(names[0], "tr-77-0.json");
    assert_string_equal(names[3], "tr-77-3.json");
    assert_string_equal(names[4], "tr-debug.json");
    for (size_t i = 0; i < nt; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        /* a node that fell back on a loaded machine has no "ok" spans: check the clean ones */
        if (i < 4 || debug_ok) s_check_trace_file(path, HOME_NODES);
        free(names[i]);
    }

    /* feedctl get --trace-out: the same kind of file, from the reply alone */
    char out[256];
    snprintf(out, sizeof out, "%s/feedctl-trace.json", h->dir);
    const char *const argv[] = {"feedctl", "get", "home", "--user", "79", "--context", "geo=US", "--deadline-ms",
                                "3000", "--endpoint", h->front, "--trace-out", out, NULL};
    int status;
    assert_int_equal(h_run(h, "feedctl-trace", argv, 10000, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *log = h_read_log(h, "feedctl-trace");
    assert_non_null(log);
    assert_non_null(strstr(log, "\"trace\"")); /* the reply, trace inline, on stdout */
    free(log);
    s_check_trace_file(out, HOME_NODES);
    h_client_destroy(&c);
    h_pass(h);
}

static void test_rate_one_traces_everything(void **state) {
    h_t *h = *state;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/traces-b", h->dir);
    const char *const args[] = {"--trace-dir", dir, "--trace-sample-rate", "1", NULL};
    s_start(h, args, NULL);
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    for (int i = 0; i < 5; i++) {
        h_reply_t r;
        char id[32];
        snprintf(id, sizeof id, "all-%d", i);
        s_request(c, &r, "home", id, strlen(id), 200 + i, false);
        h_reply_fini(&r);
    }
    char *names[16] = {0};
    size_t nt = s_wait_traces(dir, names, 16, 5);
    assert_int_equal(nt, 5);
    for (size_t i = 0; i < nt; i++) free(names[i]);
    h_client_destroy(&c);
    h_pass(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_one_line_per_request, h_test_teardown),
        cmocka_unit_test_teardown(test_allowlisted_user_and_debug_are_traced, h_test_teardown),
        cmocka_unit_test_teardown(test_rate_one_traces_everything, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
