/* test_supervise.c - feedmix-supervise keeps the cluster of a cluster.yaml running: a killed actor or
 * broker is restarted within 2 s (new pid in its pid file, registered, serving), a type that keeps
 * crashing hits the restart limit and is left down while the rest serves, SIGTERM stops every child
 * and removes every pid file, a second supervisor on the same run dir is refused, and a SIGKILLed
 * supervisor takes its children with it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/integration/harness.h"

#define READY_TIMEOUT_MS 20000
#define REPLY_TIMEOUT_MS 6000
#define RESTART_WITHIN_MS 2000
#define MAX_PIDS 64

/* One supervisor run: its own run and log dirs under the harness temp dir. */
typedef struct {
    h_t *h;
    char name[32]; /* harness child name: its log is <dir>/<name>.log */
    char config[256], run[256], logs[256];
    char types[H_MAX_TYPES][32];
    int n_types;
    pid_t pid;
} s_run_t;

/* cluster.yaml on the harness endpoints: one replica of every node type the feeds use. */
static void s_setup(h_t *h, s_run_t *r, const char *name)
{
    memset(r, 0, sizeof *r);
    r->h = h;
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->config, sizeof r->config, "%s/%s.yaml", h->dir, name);
    snprintf(r->run, sizeof r->run, "%s/run-%s", h->dir, name);
    snprintf(r->logs, sizeof r->logs, "%s/log-%s", h->dir, name);
    r->n_types = h_feed_types(h, r->types, H_MAX_TYPES);
    assert_true(r->n_types > 0);
    FILE *f = fopen(r->config, "w");
    assert_non_null(f);
    fprintf(f,
            "broker:\n  frontend: \"%s\"\n  backend: \"%s\"\n  admin: \"%s\"\n  heartbeat_ms: 100\n"
            "  feeds: \"%s/test/fixtures/integration/feeds_generous\"\n"
            "store:\n  path: \"%s/store\"\ntokens:\n  key_file: \"%s\"\nactors:\n",
            h->front, h->back, h->admin, h->source, h->dir, h->token_key);
    for (int i = 0; i < r->n_types; i++)
        fprintf(f, "  %s: 1\n", r->types[i]);
    assert_int_equal(fclose(f), 0);
}

/* The supervisor's argv with the NULL-terminated extra args appended. */
static int s_argv(const s_run_t *r, const char **argv, int cap, const char *const *extra)
{
    const char *fixed[] = {"feedmix-supervise", "--config", r->config, "--run-dir", r->run, "--log-dir", r->logs,
                           "--data", r->h->dir, "--broker-arg", "--log-level", "--broker-arg", "info"};
    int n = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[n++] = fixed[i];
    for (; extra && *extra && n < cap - 1; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    return n;
}

static void s_start(s_run_t *r, const char *const *extra)
{
    const char *argv[48];
    s_argv(r, argv, 48, extra);
    r->pid = h_start(r->h, r->name, argv);
    assert_true(r->pid > 0);
}

static void s_wait_all_ready(s_run_t *r, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    for (int i = 0; i < r->n_types; i++) {
        int left = (int)(deadline - h_now_ms());
        int rc = h_wait_ready(r->h, r->types[i], 1, left > 0 ? left : 1);
        if (rc != 0)
            fprintf(stderr, "no ready `%s` replica within %d ms\n", r->types[i], timeout_ms);
        assert_int_equal(rc, 0);
    }
}

/* The pid RUN/<stem>.pid names, 0 when the file is missing or not a number. */
static pid_t s_pidfile(const s_run_t *r, const char *stem)
{
    char path[sizeof r->run + 128 + 8];
    int n = snprintf(path, sizeof path, "%s/%s.pid", r->run, stem);
    assert_true(n > 0 && (size_t)n < sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long v = 0;
    if (fscanf(f, "%ld", &v) != 1)
        v = 0;
    fclose(f);
    return v > 0 && v < INT32_MAX ? (pid_t)v : 0;
}

/* Every pid named by a RUN/NAME.pid file but supervise.pid; returns the count. */
static int s_child_pids(const s_run_t *r, pid_t *pids, int cap)
{
    char pattern[320];
    snprintf(pattern, sizeof pattern, "%s/*.pid", r->run);
    glob_t g;
    int n = 0;
    if (glob(pattern, 0, NULL, &g) != 0)
        return 0;
    for (size_t i = 0; i < g.gl_pathc && n < cap; i++) {
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        if (strcmp(base, "supervise.pid") == 0)
            continue;
        char stem[128];
        snprintf(stem, sizeof stem, "%.*s", (int)(strlen(base) - 4), base);
        pid_t pid = s_pidfile(r, stem);
        if (pid > 0)
            pids[n++] = pid;
    }
    globfree(&g);
    return n;
}

static int s_count_files(const char *pattern)
{
    glob_t g;
    int n = glob(pattern, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    if (n > 0)
        globfree(&g);
    return n;
}

/* Not a child of ours: alive means the pid exists and is not a zombie waiting for its new parent. */
static bool s_pid_running(pid_t pid)
{
    if (kill(pid, 0) != 0)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] != 'Z';
}

/* The broker's `replicas` lists one of type with this pid. */
static bool s_registered(h_t *h, const char *type, pid_t pid)
{
    h_reply_t rep;
    if (h_admin(h, "replicas", 500, &rep) != 0)
        return false;
    bool found = false;
    const msgpack_object *list = h_get(rep.root, "replicas");
    if (list && list->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < list->via.array.size && !found; i++) {
            const msgpack_object *e = &list->via.array.ptr[i];
            found = h_str_eq(h_get(e, "type"), type) && h_get_int(e, "pid") == pid;
        }
    h_reply_fini(&rep);
    return found;
}

static void s_request_ok(h_t *h, const char *what)
{
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_request(&sb, "home", 42, 3000);
    h_reply_t rep;
    int rc = h_call_ok(c, sb.data, sb.size, REPLY_TIMEOUT_MS, &rep);
    msgpack_sbuffer_destroy(&sb);
    bool ok = rc == 0 && h_status_is(&rep, "ok");
    if (!ok) {
        fprintf(stderr, "%s: not served ok (rc %d)\n", what, rc);
        h_print("reply", rep.root);
    }
    h_reply_fini(&rep);
    h_client_destroy(&c);
    assert_true(ok);
}

/* Kills the process RUN/<stem>.pid names and waits until the file names a new running pid. */
static pid_t s_kill_and_wait_restart(s_run_t *r, const char *stem)
{
    pid_t old = s_pidfile(r, stem);
    assert_true(old > 0);
    assert_int_equal(kill(old, SIGKILL), 0);
    int64_t deadline = h_now_ms() + RESTART_WITHIN_MS;
    pid_t fresh = 0;
    while (h_now_ms() < deadline) {
        pid_t p = s_pidfile(r, stem);
        if (p > 0 && p != old && s_pid_running(p)) {
            fresh = p;
            break;
        }
        h_sleep_ms(10);
    }
    if (!fresh)
        fprintf(stderr, "%s.pid names no new running process within %d ms of SIGKILL\n", stem, RESTART_WITHIN_MS);
    assert_true(fresh > 0);
    assert_false(s_pid_running(old));
    return fresh;
}

/* SIGTERM to the supervisor: it exits 0, no child it had is left, no pid file is left. */
static void s_stop(s_run_t *r)
{
    pid_t pids[MAX_PIDS];
    int n = s_child_pids(r, pids, MAX_PIDS);
    assert_true(n > 0);
    assert_int_equal(h_kill(r->pid, SIGTERM), 0);
    int status = 0;
    assert_int_equal(h_wait_exit(r->h, r->pid, 15000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    int outlived = 0;
    for (int i = 0; i < n; i++) {
        if (s_pid_running(pids[i])) {
            fprintf(stderr, "pid %d outlived the supervisor\n", (int)pids[i]);
            kill(pids[i], SIGKILL); /* not ours to reap; a failing run must not leave it running */
            outlived++;
        }
    }
    assert_int_equal(outlived, 0);
    char pattern[320];
    snprintf(pattern, sizeof pattern, "%s/*.pid", r->run);
    assert_int_equal(s_count_files(pattern), 0);
}

static int s_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_restarts_killed_children(void **state)
{
    h_t *h = *state;
    s_run_t r;
    s_setup(h, &r, "sup-kill");
    s_start(&r, NULL);
    s_wait_all_ready(&r, READY_TIMEOUT_MS);
    assert_int_equal(s_pidfile(&r, "supervise"), r.pid);
    s_request_ok(h, "at start");

    /* hydrate is required by the home feed: a request served ok proves the new replica works. */
    int64_t t0 = h_now_ms();
    pid_t fresh = s_kill_and_wait_restart(&r, "actor-hydrate-1");
    while (!s_registered(h, "hydrate", fresh) && h_now_ms() < t0 + RESTART_WITHIN_MS)
        h_sleep_ms(20);
    if (!s_registered(h, "hydrate", fresh))
        fprintf(stderr, "the restarted hydrate (pid %d) did not register within %d ms\n", (int)fresh,
                RESTART_WITHIN_MS);
    assert_true(s_registered(h, "hydrate", fresh));
    s_request_ok(h, "after an actor SIGKILL");

    /* The broker is supervised the same way; the actors that lived through it register again. */
    s_kill_and_wait_restart(&r, "broker");
    s_wait_all_ready(&r, 5000);
    s_request_ok(h, "after a broker SIGKILL");

    char *log = h_read_log(h, r.name);
    assert_non_null(log);
    bool said = strstr(log, "actor-hydrate-1") && strstr(log, "killed by signal 9");
    free(log);
    assert_true(said);
    s_stop(&r);
    h_pass(h);
}

static void test_restart_limit(void **state)
{
    h_t *h = *state;
    s_run_t r;
    s_setup(h, &r, "sup-limit");
    /* filter kills itself on its first task; home's filter node falls back to passthrough. */
    const char *const extra[] = {"--max-restarts", "2", "--window-s", "60", "--inject-type", "filter=crash-after=0",
                                 NULL};
    s_start(&r, extra);
    s_wait_all_ready(&r, READY_TIMEOUT_MS);

    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_request(&sb, "home", 42, 3000);
    bool gave_up = false;
    int64_t deadline = h_now_ms() + 40000;
    while (!gave_up && h_now_ms() < deadline) {
        h_reply_t rep;
        h_call(c, sb.data, sb.size, REPLY_TIMEOUT_MS, &rep);
        h_reply_fini(&rep);
        char *log = h_read_log(h, r.name);
        gave_up = log && strstr(log, "giving up on `filter`");
        free(log);
        h_sleep_ms(50);
    }
    assert_true(gave_up);
    char *log = h_read_log(h, r.name);
    assert_non_null(log);
    int restarts = s_count(log, "restarted actor-filter-1");
    bool error_line = strstr(log, "error giving up on `filter`: more than 2 restarts within 60 s") != NULL;
    free(log);
    assert_int_equal(restarts, 2); /* exactly --max-restarts restarts, then no more */
    assert_true(error_line);

    /* filter is down and has no pid file; everything else still runs and serves (degraded). */
    char pattern[320];
    snprintf(pattern, sizeof pattern, "%s/actor-filter-*.pid", r.run);
    assert_int_equal(s_count_files(pattern), 0);
    assert_true(h_alive(h, r.pid));
    assert_true(s_pid_running(s_pidfile(&r, "broker")));
    for (int i = 0; i < r.n_types; i++) {
        if (strcmp(r.types[i], "filter") == 0)
            continue;
        char stem[64];
        snprintf(stem, sizeof stem, "actor-%s-1", r.types[i]);
        assert_true(s_pid_running(s_pidfile(&r, stem)));
    }
    h_reply_t rep;
    int rc = h_call(c, sb.data, sb.size, REPLY_TIMEOUT_MS, &rep);
    bool served = rc == 0 && (h_status_is(&rep, "degraded") || h_status_is(&rep, "ok"));
    if (!served)
        h_print("after giving up on filter", rep.root);
    h_reply_fini(&rep);
    msgpack_sbuffer_destroy(&sb);
    h_client_destroy(&c);
    assert_true(served);
    s_stop(&r);
    h_pass(h);
}

static void test_run_dir_guard(void **state)
{
    h_t *h = *state;
    s_run_t r;
    s_setup(h, &r, "sup-guard");
    s_start(&r, NULL);
    assert_int_equal(h_wait_ready(h, r.types[0], 1, READY_TIMEOUT_MS), 0);

    /* A second supervisor on the same run dir refuses and leaves the first one's files alone. */
    const char *argv[48];
    s_argv(&r, argv, 48, NULL);
    int status = 0;
    assert_int_equal(h_run(h, "sup-second", argv, 10000, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char *log = h_read_log(h, "sup-second");
    assert_non_null(log);
    bool refused = strstr(log, "another supervisor runs") != NULL;
    free(log);
    assert_true(refused);
    assert_int_equal(s_pidfile(&r, "supervise"), r.pid);
    s_stop(&r);

    /* A pid file naming a running feedmix process it did not start blocks a new supervisor... */
    pid_t stray = h_start_broker(h, NULL);
    assert_true(stray > 0);
    char path[320];
    snprintf(path, sizeof path, "%s/broker.pid", r.run);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%d\n", (int)stray);
    fclose(f);
    assert_int_equal(h_run(h, "sup-stale", argv, 10000, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    assert_int_equal(s_pidfile(&r, "broker"), stray);
    assert_int_equal(h_kill(stray, SIGTERM), 0);
    assert_int_equal(h_wait_exit(h, stray, 5000, NULL), 0);

    /* ...while a stale one (dead pid, or a pid reused by something else: this test) is replaced. */
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    s_start(&r, NULL);
    s_wait_all_ready(&r, READY_TIMEOUT_MS);
    pid_t broker = s_pidfile(&r, "broker");
    assert_true(broker > 0 && broker != getpid());
    s_request_ok(h, "after replacing a stale pid file");
    s_stop(&r);
    h_pass(h);
}

static void test_supervisor_sigkill(void **state)
{
    h_t *h = *state;
    s_run_t r;
    s_setup(h, &r, "sup-sigkill");
    s_start(&r, NULL);
    s_wait_all_ready(&r, READY_TIMEOUT_MS);
    pid_t pids[MAX_PIDS];
    int n = s_child_pids(&r, pids, MAX_PIDS);
    assert_int_equal(n, r.n_types + 1);

    /* Its children get SIGTERM from the kernel (PR_SET_PDEATHSIG): nothing runs unsupervised. */
    assert_int_equal(h_kill(r.pid, SIGKILL), 0);
    assert_int_equal(h_wait_exit(h, r.pid, 5000, NULL), 0);
    int64_t deadline = h_now_ms() + 8000;
    int running = n;
    while (running > 0 && h_now_ms() < deadline) {
        running = 0;
        for (int i = 0; i < n; i++)
            running += s_pid_running(pids[i]);
        if (running)
            h_sleep_ms(20);
    }
    for (int i = 0; i < n && running > 0; i++) {
        /* Not ours to reap: kill what outlived it so a failing run leaves nothing behind. */
        if (s_pid_running(pids[i])) {
            fprintf(stderr, "pid %d outlived its supervisor's SIGKILL by 8 s\n", (int)pids[i]);
            kill(pids[i], SIGKILL);
        }
    }
    assert_int_equal(running, 0);

    /* The pid files it left are stale: a new supervisor on the same run dir starts and serves. */
    s_start(&r, NULL);
    s_wait_all_ready(&r, READY_TIMEOUT_MS);
    s_request_ok(h, "after a supervisor SIGKILL and a new supervisor");
    s_stop(&r);
    h_pass(h);
}

/* On a failure, the children's logs (in the runs' log dirs) say more than the supervisor's. */
static int s_teardown(void **state)
{
    h_t *h = *state;
    if (!h->passed) {
        char pattern[320];
        snprintf(pattern, sizeof pattern, "%s/log-*/*.log", h->dir);
        glob_t g;
        if (glob(pattern, 0, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++) {
                FILE *f = fopen(g.gl_pathv[i], "r");
                if (!f)
                    continue;
                char buf[2048];
                fseek(f, 0, SEEK_END);
                long size = ftell(f);
                fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
                size_t got = fread(buf, 1, sizeof buf - 1, f);
                buf[got] = '\0';
                fclose(f);
                fprintf(stderr, "---- %s (tail) ----\n%s\n", g.gl_pathv[i], buf);
            }
            globfree(&g);
        }
    }
    return h_test_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_restarts_killed_children, s_teardown),
        cmocka_unit_test_teardown(test_restart_limit, s_teardown),
        cmocka_unit_test_teardown(test_run_dir_guard, s_teardown),
        cmocka_unit_test_teardown(test_supervisor_sigkill, s_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
