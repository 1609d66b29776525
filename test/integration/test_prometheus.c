/* test_prometheus.c - the broker's /metrics over a real TCP socket: after N requests (some falling
 * back by injected faults) every count equals what the replies and their debug traces said;
 * timeouts and late results are counted; `feedctl stats` shows the same; and garbage, slow and
 * idle HTTP clients never stall serving. The exposition is parsed here independently of
 * broker/metrics.c, so a format slip on either side fails the test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "test/integration/harness.h"

#define MAX_SERIES 2048
#define HTTP_LIMIT 16 /* broker/httpd.h FMX_HTTPD_MAX_CONNECTIONS */
#define HTTP_IDLE_S 5 /* FMX_HTTPD_TIMEOUT_S */

static const char *const s_issue_names[] = {
    "feedmix_requests_total",      "feedmix_request_duration_seconds", "feedmix_node_duration_seconds",
    "feedmix_node_outcomes_total", "feedmix_replicas_ready",           "feedmix_queue_depth",
    "feedmix_hedges_total",        "feedmix_retries_total",            "feedmix_config_reloads_total",
};

/* --- a scrape: "name{labels}" -> value, as rendered -------------------------------------------- */

typedef struct {
    char *text;
    size_t n;
    char *key[MAX_SERIES];
    double value[MAX_SERIES];
} scrape_t;

static void s_scrape_free(scrape_t *s) {
    free(s->text);
    memset(s, 0, sizeof *s);
}

/* Splits text (taken) into samples; fails the test on a line that is not `KEY VALUE`. */
static void s_parse(scrape_t *s, char *text) {
    memset(s, 0, sizeof *s);
    s->text = text;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *sp = strrchr(line, ' ');
        if (!sp) fail_msg("not a sample: %s", line);
        *sp = '\0';
        char *end;
        double v = strtod(sp + 1, &end);
        if (*end || end == sp + 1) fail_msg("bad value in: %s %s", line, sp + 1);
        assert_true(s->n < MAX_SERIES);
        s->key[s->n] = line;
        s->value[s->n++] = v;
    }
}

/* The value of the series rendered exactly as key (printf-style), or NAN when absent. */
static double s_get(const scrape_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static double s_get(const scrape_t *s, const char *fmt, ...) {
    char key[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->key[i], key) == 0) return s->value[i];
    return NAN;
}

/* Sum over the series whose key starts with prefix and contains every needle (NULL-terminated). */
static double s_sum(const scrape_t *s, const char *prefix, ...) {
    double sum = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (strncmp(s->key[i], prefix, strlen(prefix)) != 0) continue;
        va_list ap;
        va_start(ap, prefix);
        bool all = true;
        for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
            all = all && strstr(s->key[i], needle);
        va_end(ap);
        if (all) sum += s->value[i];
    }
    return sum;
}

/* --- raw HTTP ---------------------------------------------------------------------------------- */

static int s_port(h_t *h) {
    h_reply_t r;
    assert_int_equal(h_admin(h, "stats", 2000, &r), 0);
    int64_t port = h_get_int(r.root, "metrics_port");
    h_reply_fini(&r);
    assert_true(port > 0 && port < 65536);
    return (int)port;
}

static int s_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {3, 0}; /* a server that stops reading must not hang the test in send() */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Sends req on a new connection and reads until the server closes it (or timeout_ms); returns the
 * whole response (caller frees), "" when it closed without one, NULL on timeout. */
static char *s_http(int port, const char *req, size_t req_len, int timeout_ms) {
    int fd = s_connect(port);
    if (req_len && send(fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
        close(fd);
        return strdup(""); /* it hung up while we were still sending */
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    int64_t until = h_now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(until - h_now_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            free(buf);
            close(fd);
            return NULL;
        }
        if (n + 1 == cap) {
            buf = realloc(buf, cap *= 2);
            assert_non_null(buf);
        }
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) break; /* closed (or reset: garbage gets hung up on) */
        n += (size_t)r;
    }
    buf[n] = '\0';
    close(fd);
    return buf;
}

/* GET /metrics parsed into s; the HTTP status and content type are checked. */
static void s_scrape(int port, scrape_t *s) {
    static const char get[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char *resp = s_http(port, get, strlen(get), 5000);
    assert_non_null(resp);
    if (strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) != 0) fail_msg("scrape: %.200s", resp);
    assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    char *body = strstr(resp, "\r\n\r\n");
    assert_non_null(body);
    char *text = strdup(body + 4);
    free(resp);
    for (size_t i = 0; i < sizeof s_issue_names / sizeof s_issue_names[0]; i++) {
        char type_line[128];
        snprintf(type_line, sizeof type_line, "# TYPE %s ", s_issue_names[i]);
        if (!strstr(text, type_line)) fail_msg("no %s in /metrics", s_issue_names[i]);
    }
    s_parse(s, text);
}

/* --- setup ------------------------------------------------------------------------------------- */

static void s_start_faults_broker(h_t *h) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/integration/feeds_faults", getenv("FMX_FIXTURES"));
    const char *const extra[] = {"--feeds", dir, NULL};
    assert_true(h_start_broker(h, extra) > 0);
}

/* One request with debug; counts its status and its trace into the expectations. */
typedef struct {
    char feed[32], node[32], type[32];
    int ok, fallback;
} node_count_t;

typedef struct {
    int ok[2], degraded[2], error[2]; /* by feed index */
    node_count_t nodes[16];
    size_t n_nodes;
} expect_t;

static node_count_t *s_node(expect_t *e, const char *feed, const msgpack_object *node, const msgpack_object *type) {
    for (size_t i = 0; i < e->n_nodes; i++)
        if (strcmp(e->nodes[i].feed, feed) == 0 && h_str_eq(node, e->nodes[i].node) && h_str_eq(type, e->nodes[i].type))
            return &e->nodes[i];
    assert_true(e->n_nodes < 16);
    node_count_t *n = &e->nodes[e->n_nodes++];
    snprintf(n->feed, sizeof n->feed, "%s", feed);
    snprintf(n->node, sizeof n->node, "%.*s", (int)node->via.str.size, node->via.str.ptr);
    snprintf(n->type, sizeof n->type, "%.*s", (int)type->via.str.size, type->via.str.ptr);
    return n;
}

static void s_request(h_client_t *c, expect_t *e, const char *const feeds[2], int f) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_map(&sb, "feed", 's', feeds[f], "user_id", 'i', 42, "debug", 'b', 1, NULL);
    h_reply_t r;
    assert_int_equal(h_call(c, sb.data, sb.size, 5000, &r), 0);
    msgpack_sbuffer_destroy(&sb);
    if (h_status_is(&r, "ok")) e->ok[f]++;
    else if (h_status_is(&r, "degraded")) e->degraded[f]++;
    else e->error[f]++;
    const msgpack_object *trace = h_get(r.root, "trace");
    for (uint32_t i = 0; trace && i < trace->via.array.size; i++) {
        const msgpack_object *t = &trace->via.array.ptr[i];
        node_count_t *n = s_node(e, feeds[f], h_get(t, "node"), h_get(t, "type"));
        if (h_str_eq(h_get(t, "status"), "ok")) n->ok++;
        if (h_str_eq(h_get(t, "status"), "fallback")) n->fallback++;
    }
    h_reply_fini(&r);
}

/* --- tests ------------------------------------------------------------------------------------- */

/* fm_backup runs healthy; fm_passthrough's `src` runs on a rank actor that answers garbage, so it
 * falls back (cause: error) on every request. */
static void test_counts_match_the_replies(void **state) {
    h_t *h = *state;
    s_start_faults_broker(h);
    const char *const garbage[] = {"--inject", "garbage", NULL};
    assert_true(h_start_actor(h, "retrieve", NULL, NULL) > 0);
    assert_true(h_start_actor(h, "layout", NULL, NULL) > 0);
    assert_true(h_start_actor(h, "rank", NULL, garbage) > 0);
    assert_int_equal(h_wait_ready(h, "retrieve", 1, 10000), 0);
    assert_int_equal(h_wait_ready(h, "layout", 1, 10000), 0);
    assert_int_equal(h_wait_ready(h, "rank", 1, 10000), 0);
    int port = s_port(h);

    const char *const feeds[2] = {"fm_backup", "fm_passthrough"};
    enum { N = 30 };
    expect_t e = {0};
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    for (int i = 0; i < N; i++) s_request(c, &e, feeds, i % 2);
    /* Two requests for feeds the configuration lacks (one not even msgpack): feed="unknown". */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_map(&sb, "feed", 's', "no_such_feed_xyz", "user_id", 'i', 1, NULL);
    h_reply_t r;
    assert_int_equal(h_call(c, sb.data, sb.size, 5000, &r), 0);
    assert_true(h_error_code_is(&r, "unknown_feed"));
    h_reply_fini(&r);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(h_call(c, "\xc1", 1, 5000, &r), 0);
    assert_true(h_error_code_is(&r, "bad_request"));
    h_reply_fini(&r);
    h_client_destroy(&c);
    assert_int_equal(h_admin(h, "reload", 5000, &r), 0);
    assert_true(h_status_is(&r, "ok"));
    h_reply_fini(&r);

    scrape_t s;
    s_scrape(port, &s);
    /* requests: by feed and status, exactly as the replies said; the histogram saw each one */
    double total = 0, timed = 0;
    for (int f = 0; f < 2; f++) {
        int got[3] = {e.ok[f], e.degraded[f], e.error[f]};
        static const char *const status[3] = {"ok", "degraded", "error"};
        for (int k = 0; k < 3; k++) {
            double v = s_get(&s, "feedmix_requests_total{feed=\"%s\",status=\"%s\"}", feeds[f], status[k]);
            if (got[k] == 0 && isnan(v)) continue;
            if (v != got[k]) fail_msg("requests_total{%s,%s} = %g, replies said %d", feeds[f], status[k], v, got[k]);
            total += v;
        }
        double count = s_get(&s, "feedmix_request_duration_seconds_count{feed=\"%s\"}", feeds[f]);
        assert_true(count == got[0] + got[1] + got[2]);
        assert_true(s_get(&s, "feedmix_request_duration_seconds_bucket{feed=\"%s\",le=\"+Inf\"}", feeds[f]) == count);
        assert_true(s_get(&s, "feedmix_request_duration_seconds_sum{feed=\"%s\"}", feeds[f]) > 0);
        timed += count;
    }
    assert_true(total == N);
    assert_true(timed == N);
    assert_true(e.degraded[1] == N / 2); /* every fm_passthrough reply fell back */
    assert_true(s_get(&s, "feedmix_requests_total{feed=\"unknown\",status=\"error\"}") == 2);
    assert_true(s_sum(&s, "feedmix_requests_total{", (char *)NULL) == N + 2);
    assert_true(s_sum(&s, "feedmix_request_duration_seconds_count{", (char *)NULL) == N);

    /* nodes: ok and fallback as the traces said; each fallback has its cause; durations per node */
    assert_true(e.n_nodes == 5); /* fm_backup: src, out; fm_passthrough: all, src, out */
    for (size_t i = 0; i < e.n_nodes; i++) {
        const node_count_t *n = &e.nodes[i];
        char labels[160];
        snprintf(labels, sizeof labels, "feed=\"%s\",node=\"%s\",type=\"%s\"", n->feed, n->node, n->type);
        double ok = s_get(&s, "feedmix_node_outcomes_total{%s,outcome=\"ok\"}", labels);
        double fb = s_get(&s, "feedmix_node_outcomes_total{%s,outcome=\"fallback\"}", labels);
        double err = s_get(&s, "feedmix_node_outcomes_total{%s,outcome=\"error\"}", labels);
        double to = s_get(&s, "feedmix_node_outcomes_total{%s,outcome=\"timeout\"}", labels);
        ok = isnan(ok) ? 0 : ok, fb = isnan(fb) ? 0 : fb, err = isnan(err) ? 0 : err, to = isnan(to) ? 0 : to;
        if (ok != n->ok || fb != n->fallback || err + to != fb)
            fail_msg("%s: ok %g fallback %g error %g timeout %g; traces said ok %d fallback %d", labels, ok, fb, err,
                     to, n->ok, n->fallback);
        double count = s_get(&s, "feedmix_node_duration_seconds_count{%s}", labels);
        assert_true(count == n->ok + n->fallback);
        /* cumulative buckets, ending at +Inf == count */
        double prev = 0;
        size_t buckets = 0;
        for (size_t k = 0; k < s.n; k++) {
            char prefix[300];
            snprintf(prefix, sizeof prefix, "feedmix_node_duration_seconds_bucket{%s,le=", labels);
            if (strncmp(s.key[k], prefix, strlen(prefix)) != 0) continue;
            assert_true(s.value[k] >= prev);
            prev = s.value[k];
            buckets++;
        }
        assert_true(buckets > 2);
        assert_true(prev == count);
    }
    assert_true(s_get(&s, "feedmix_node_outcomes_total{feed=\"fm_passthrough\",node=\"src\",type=\"rank\","
                          "outcome=\"fallback\"}") == N / 2);
    assert_true(s_get(&s, "feedmix_node_outcomes_total{feed=\"fm_passthrough\",node=\"src\",type=\"rank\","
                          "outcome=\"error\"}") == N / 2); /* garbage is an error, at once */

    /* gauges and the rest */
    assert_true(s_get(&s, "feedmix_replicas_ready{type=\"retrieve\"}") == 1);
    assert_true(s_get(&s, "feedmix_replicas_ready{type=\"layout\"}") == 1);
    assert_true(s_get(&s, "feedmix_replicas_ready{type=\"rank\"}") == 1);
    assert_true(s_get(&s, "feedmix_queue_depth{type=\"rank\"}") == 0);
    assert_true(s_get(&s, "feedmix_hedges_total") == 0);
    assert_true(s_get(&s, "feedmix_retries_total") == 0);
    assert_true(s_get(&s, "feedmix_config_reloads_total{result=\"ok\"}") == 1);
    assert_true(s_get(&s, "feedmix_config_reloads_total{result=\"error\"}") == 0);
    assert_true(s_get(&s, "feedmix_metrics_series_dropped_total") == 0);

    /* The admin `metrics` command serves the same text. */
    assert_int_equal(h_admin(h, "metrics", 2000, &r), 0);
    assert_true(h_status_is(&r, "ok"));
    const msgpack_object *text = h_get(r.root, "text");
    assert_non_null(text);
    char line[200];
    snprintf(line, sizeof line, "\nfeedmix_requests_total{feed=\"fm_passthrough\",status=\"degraded\"} %d\n", N / 2);
    assert_non_null(memmem(text->via.str.ptr, text->via.str.size, line, strlen(line)));
    h_reply_fini(&r);
    s_scrape_free(&s);

    /* feedctl stats: the same numbers as tables */
    char admin_arg[200];
    snprintf(admin_arg, sizeof admin_arg, "%s", h->admin);
    const char *const stats[] = {"feedctl", "stats", "--admin", admin_arg, NULL};
    int status;
    assert_int_equal(h_run(h, "feedctl-stats", stats, 10000, &status), 0);
    char *out = h_read_log(h, "feedctl-stats");
    assert_non_null(out);
    if (status != 0) fail_msg("feedctl stats: %s", out);
    assert_non_null(strstr(out, "READY")); /* the per-type table is still there */
    assert_non_null(strstr(out, "P99_MS"));
    char want[200];
    snprintf(want, sizeof want, "\nfm_passthrough         0        %2d         0 ", N / 2);
    if (!strstr(out, want)) fail_msg("no '%s' in:\n%s", want + 1, out);
    snprintf(want, sizeof want, "rank             0        %2d        %2d         0         0 ", N / 2, N / 2);
    if (!strstr(out, want)) fail_msg("no '%s' in:\n%s", want, out);
    free(out);
    h_pass(h);
}

/* A slow retrieve: fm_empty's `src` times out (fallback `empty`), and the answer that comes later
 * is counted as late. */
static void test_timeouts_and_late_results(void **state) {
    h_t *h = *state;
    s_start_faults_broker(h);
    const char *const slow[] = {"--inject", "delay=250", NULL};
    assert_true(h_start_actor(h, "retrieve", NULL, slow) > 0);
    assert_true(h_start_actor(h, "layout", NULL, NULL) > 0);
    assert_int_equal(h_wait_ready(h, "retrieve", 1, 10000), 0);
    assert_int_equal(h_wait_ready(h, "layout", 1, 10000), 0);
    int port = s_port(h);
    enum { K = 4 };
    h_client_t *c = h_client_new(h, h->front);
    for (int i = 0; i < K; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        h_pack_map(&sb, "feed", 's', "fm_empty", "user_id", 'i', 42, NULL);
        h_reply_t r;
        assert_int_equal(h_call(c, sb.data, sb.size, 5000, &r), 0);
        msgpack_sbuffer_destroy(&sb);
        assert_true(h_status_is(&r, "degraded"));
        h_reply_fini(&r);
    }
    h_client_destroy(&c);
    /* every slow answer arrives eventually, after its request was answered */
    scrape_t s = {0};
    double late = 0;
    for (int64_t until = h_now_ms() + 8000; h_now_ms() < until; h_sleep_ms(100)) {
        s_scrape_free(&s);
        s_scrape(port, &s);
        late = s_sum(&s, "feedmix_node_outcomes_total{", "type=\"retrieve\"", "outcome=\"late\"", (char *)NULL);
        if (late >= K) break;
    }
    assert_true(late == K);
    const char *src = "feed=\"fm_empty\",node=\"src\",type=\"retrieve\"";
    assert_true(s_get(&s, "feedmix_node_outcomes_total{%s,outcome=\"timeout\"}", src) == K);
    assert_true(s_get(&s, "feedmix_node_outcomes_total{%s,outcome=\"fallback\"}", src) == K);
    assert_true(isnan(s_get(&s, "feedmix_node_outcomes_total{%s,outcome=\"ok\"}", src)));
    assert_true(s_get(&s, "feedmix_node_duration_seconds_count{%s}", src) == K);
    /* its fallback took the node's budget (80 ms): the duration sum says so */
    assert_true(s_get(&s, "feedmix_node_duration_seconds_sum{%s}", src) >= K * 0.079);
    assert_true(s_get(&s, "feedmix_requests_total{feed=\"fm_empty\",status=\"degraded\"}") == K);
    s_scrape_free(&s);
    h_pass(h);
}

static bool s_closed_by_server(int fd, int timeout_ms) {
    struct pollfd p = {fd, POLLIN, 0};
    char buf[4096];
    for (int64_t until = h_now_ms() + timeout_ms; h_now_ms() < until;) {
        if (poll(&p, 1, 100) > 0) {
            ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno == ECONNRESET)) return true;
            if (r > 0 && strstr(buf, "200 OK")) return false;
        }
    }
    return false;
}

/* Garbage, slowloris and idle HTTP clients holding every connection slot: feed requests are
 * answered on time all along, /metrics comes back once slots free up, and the broker hangs up
 * on the slow ones after its idle timeout. */
static void test_bad_http_never_stalls_serving(void **state) {
    h_t *h = *state;
    assert_true(h_start_broker(h, NULL) > 0);
    assert_true(h_start_feed_actors(h, 10000) > 0);
    int port = s_port(h);

    char *resp = s_http(port, "GARBAGE\r\n\r\n", 11, 3000);
    assert_non_null(resp); /* answered or hung up on, at once */
    assert_null(strstr(resp, "200 OK"));
    free(resp);
    static const char nope[] = "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    resp = s_http(port, nope, strlen(nope), 3000);
    assert_non_null(resp);
    assert_non_null(strstr(resp, "HTTP/1.1 404 "));
    free(resp);
    static const char post[] = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
    resp = s_http(port, post, strlen(post), 3000);
    assert_non_null(resp);
    assert_non_null(strstr(resp, "HTTP/1.1 405 "));
    free(resp);
    size_t big = 1 << 20;
    char *bomb = malloc(big + 64);
    int n = snprintf(bomb, 64, "GET /metrics HTTP/1.1\r\nX-Bomb: ");
    memset(bomb + n, 'x', big);
    resp = s_http(port, bomb, (size_t)n + big, 3000); /* never ends its headers */
    free(bomb);
    assert_non_null(resp); /* hung up on (or 431), not buffered */
    assert_null(strstr(resp, "200 OK"));
    free(resp);

    /* Every slot taken: three slowloris clients that stop mid-header, the rest idle. */
    int conns[HTTP_LIMIT];
    for (int i = 0; i < HTTP_LIMIT; i++) {
        conns[i] = s_connect(port);
        if (i < 3) {
            static const char partial[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
            assert_int_equal(send(conns[i], partial, strlen(partial), MSG_NOSIGNAL), (ssize_t)strlen(partial));
        }
    }
    h_client_t *c = h_client_new(h, h->front);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_request(&sb, "home", 42, 2000);
    for (int i = 0; i < 20; i++) {
        h_reply_t r;
        int64_t t0 = h_now_ms();
        assert_int_equal(h_call(c, sb.data, sb.size, 3000, &r), 0);
        assert_true(h_status_is(&r, "ok") || h_status_is(&r, "degraded"));
        assert_true(h_now_ms() - t0 < 2100); /* within its deadline: nothing waited on HTTP */
        h_reply_fini(&r);
        /* a trickle on the slow ones, as slowloris does */
        send(conns[i % 3], "x", 1, MSG_NOSIGNAL);
    }
    /* Free the idle slots: a scrape is served again (within the server's 1 s resume tick). */
    for (int i = 3; i < HTTP_LIMIT; i++) close(conns[i]);
    scrape_t s;
    s_scrape(port, &s);
    assert_true(s_sum(&s, "feedmix_requests_total{feed=\"home\"", (char *)NULL) >= 20);
    s_scrape_free(&s);
    /* The slow ones are hung up on after the idle timeout, their headers never complete. */
    for (int i = 0; i < 3; i++) {
        assert_true(s_closed_by_server(conns[i], (HTTP_IDLE_S + 3) * 1000));
        close(conns[i]);
    }
    h_reply_t r;
    assert_int_equal(h_call(c, sb.data, sb.size, 3000, &r), 0);
    assert_true(h_status_is(&r, "ok") || h_status_is(&r, "degraded"));
    h_reply_fini(&r);
    msgpack_sbuffer_destroy(&sb);
    h_client_destroy(&c);
    assert_true(h_alive(h, h->broker));
    h_pass(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counts_match_the_replies, h_test_teardown),
        cmocka_unit_test_teardown(test_timeouts_and_late_results, h_test_teardown),
        cmocka_unit_test_teardown(test_bad_http_never_stalls_serving, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
