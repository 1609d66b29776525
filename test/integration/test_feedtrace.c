/* test_feedtrace.c - feedtrace (tools/feedtrace) against a real broker and actors: under a known
 * load, the tasks it saw in the actors add up, per node type, to the tasks the broker dispatched
 * to that type (admin `replicas`), and so do the broker-side queue and dispatch-to-result counts.
 *
 * Skips (exit 77, saying why) when not root, when feedtrace was not built (no clang, bpftool,
 * libbpf or kernel BTF), or when feedtrace reports that BPF is not permitted (its exit code 2). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/integration/harness.h"

#define REQUESTS         24
#define REPLY_TIMEOUT_MS 10000
#define MAX_REPLICAS     32

static char s_skip[512]; /* set by the test when BPF turns out not to be permitted */

typedef struct {
    char type[32];
    int64_t pid;
    int64_t tasks;
} s_replica_t;

/* The broker's view: every replica with its type, pid and tasks dispatched to it, ever. */
static int s_replicas(h_t *h, s_replica_t *out, int max) {
    h_reply_t r;
    int n = -1;
    if (h_admin(h, "replicas", 2000, &r) == 0) {
        const msgpack_object *list = h_get(r.root, "replicas");
        if (list && list->type == MSGPACK_OBJECT_ARRAY) {
            n = 0;
            for (uint32_t i = 0; i < list->via.array.size && n < max; i++) {
                const msgpack_object *rep = &list->via.array.ptr[i];
                const msgpack_object *type = h_get(rep, "type");
                if (!type || type->type != MSGPACK_OBJECT_STR || type->via.str.size >= sizeof out[n].type) continue;
                snprintf(out[n].type, sizeof out[n].type, "%.*s", (int)type->via.str.size, type->via.str.ptr);
                out[n].pid = h_get_int(rep, "pid");
                out[n].tasks = h_get_int(rep, "tasks");
                n++;
            }
        }
    }
    h_reply_fini(&r);
    return n;
}

static int64_t s_counter(h_t *h, const char *field) {
    h_reply_t r;
    int64_t v = -1;
    if (h_admin(h, "stats", 2000, &r) == 0) v = h_get_int(h_get(r.root, "counters"), field);
    h_reply_fini(&r);
    return v;
}

/* The string value of "key":"..." in a JSON line we wrote ourselves, into buf. */
static int s_json_str(const char *line, const char *key, char *buf, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(line, pat);
    if (!p) return -1;
    p += strlen(pat);
    const char *end = strchr(p, '"');
    if (!end || (size_t)(end - p) >= cap) return -1;
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    return 0;
}

static int64_t s_json_int(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* Sum of the `count` of feedtrace's JSON lines of this kind and node type. */
static int64_t s_traced(const char *log, const char *kind, const char *type) {
    int64_t sum = 0;
    for (const char *line = log; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (*line != '{') continue;
        char k[32], t[32];
        const char *nl = strchr(line, '\n');
        char one[1024];
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len >= sizeof one) continue;
        memcpy(one, line, len);
        one[len] = '\0';
        if (s_json_str(one, "kind", k, sizeof k) != 0 || s_json_str(one, "node", t, sizeof t) != 0) continue;
        if (strcmp(k, kind) == 0 && strcmp(t, type) == 0) sum += s_json_int(one, "count");
    }
    return sum;
}

/* Waits until feedtrace says "attached" (0), exits (its exit status), or the timeout (-1). */
static int s_wait_attached(h_t *h, pid_t pid, int timeout_ms) {
    for (int64_t until = h_now_ms() + timeout_ms; h_now_ms() < until; h_sleep_ms(50)) {
        char *log = h_read_log(h, "feedtrace");
        bool attached = log && strstr(log, "attached");
        free(log);
        if (attached) return 0;
        int status;
        if (h_wait_exit(h, pid, 0, &status) == 0) /* exited (and reaped) */
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return -1;
}

static void test_counts_match_dispatched(void **state) {
    h_t *h = *state;
    assert_true(h_start_broker(h, NULL) > 0);
    int n_types = h_start_feed_actors(h, 15000);
    assert_true(n_types > 0);

    /* Warm-up (model load, store open) before tracing starts. */
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_request(&sb, "home", 1, 5000);
    h_reply_t r;
    assert_int_equal(h_call(c, sb.data, sb.size, REPLY_TIMEOUT_MS, &r), 0);
    h_reply_fini(&r);

    s_replica_t before[MAX_REPLICAS], after[MAX_REPLICAS];
    int n_before = s_replicas(h, before, MAX_REPLICAS);
    assert_true(n_before >= n_types);
    assert_true(n_before <= 16); /* feedtrace takes up to 16 --pid */
    int64_t hedges0 = s_counter(h, "hedges"), late0 = s_counter(h, "late_results");

    /* Only this test's actors: other tests may run feedmix processes at the same time. */
    const char *argv[8 + 2 * MAX_REPLICAS] = {"feedtrace", "--json", "-i", "1", "-d", "100"};
    int argc = 6;
    char pids[MAX_REPLICAS][24];
    for (int i = 0; i < n_before; i++) {
        snprintf(pids[i], sizeof pids[i], "%" PRId64, before[i].pid);
        argv[argc++] = "--pid";
        argv[argc++] = pids[i];
    }
    argv[argc] = NULL;
    pid_t ft = h_start(h, "feedtrace", argv);
    assert_true(ft > 0);
    int attached = s_wait_attached(h, ft, 20000);
    if (attached == 2) {
        char *log = h_read_log(h, "feedtrace");
        snprintf(s_skip, sizeof s_skip, "feedtrace: BPF not permitted here: %s", log ? log : "(no output)");
        free(log);
        h_client_destroy(&c);
        msgpack_sbuffer_destroy(&sb);
        h_pass(h);
        return;
    }
    if (attached != 0) h_dump_logs(h, 20);
    assert_int_equal(attached, 0);

    for (int i = 0; i < REQUESTS; i++) {
        sb.size = 0;
        h_pack_request(&sb, "home", 100 + i, 5000);
        assert_int_equal(h_call(c, sb.data, sb.size, REPLY_TIMEOUT_MS, &r), 0);
        assert_true(h_status_is(&r, "ok") || h_status_is(&r, "degraded"));
        h_reply_fini(&r);
        h_sleep_ms(100); /* spread over a few of feedtrace's 1 s intervals: their counts must add up */
    }
    h_client_destroy(&c);
    msgpack_sbuffer_destroy(&sb);
    int n_after = s_replicas(h, after, MAX_REPLICAS);
    assert_int_equal(n_after, n_before);
    int64_t hedges = s_counter(h, "hedges") - hedges0, late = s_counter(h, "late_results") - late0;

    h_sleep_ms(200); /* the last results' probes have fired; feedtrace reports them at exit */
    assert_int_equal(h_kill(ft, SIGINT), 0);
    int status = -1;
    assert_int_equal(h_wait_exit(h, ft, 10000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char *log = h_read_log(h, "feedtrace");
    assert_non_null(log);

    /* Per node type: tasks dispatched during the traced load, from the broker's counters. */
    int busy_types = 0;
    for (int i = 0; i < n_before; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen |= strcmp(before[j].type, before[i].type) == 0;
        if (seen) continue;
        int64_t dispatched = 0;
        for (int j = 0; j < n_after; j++)
            if (strcmp(after[j].type, before[i].type) == 0) dispatched += after[j].tasks;
        for (int j = 0; j < n_before; j++)
            if (strcmp(before[j].type, before[i].type) == 0) dispatched -= before[j].tasks;
        int64_t actor = s_traced(log, "actor", before[i].type);
        int64_t queue = s_traced(log, "queue", before[i].type);
        int64_t d2r = s_traced(log, "dispatch_to_result", before[i].type);
        fprintf(stderr,
                "%-10s dispatched %4" PRId64 "  traced: actor %4" PRId64 "  queue %4" PRId64
                "  dispatch_to_result %4" PRId64 "\n",
                before[i].type, dispatched, actor, queue, d2r);
        /* Every type the feed runs saw each request; a type only other feeds use saw none. */
        assert_true(dispatched >= REQUESTS || dispatched == 0);
        if (dispatched > 0) busy_types++;
        assert_int_equal(actor, dispatched);
        if (hedges == 0) assert_int_equal(queue, dispatched);
        if (late == 0) assert_int_equal(d2r, dispatched);
    }
    assert_true(busy_types >= 5); /* home runs retrieve, hydrate, filter, score, group, blend, layout */
    free(log);
    h_pass(h);
}

int main(void) {
    if (geteuid() != 0) {
        printf("SKIP: feedtrace needs root (BPF and uprobes)\n");
        return 77;
    }
    const char *bin = getenv("FMX_BIN");
    char path[600];
    snprintf(path, sizeof path, "%s/feedtrace", bin ? bin : ".");
    if (access(path, X_OK) != 0) {
        printf("SKIP: %s not built (it needs clang, bpftool, libbpf-dev and /sys/kernel/btf/vmlinux)\n", path);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counts_match_dispatched, h_test_teardown),
    };
    int rc = cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
    if (s_skip[0]) {
        printf("SKIP: %s\n", s_skip);
        return 77;
    }
    return rc;
}
