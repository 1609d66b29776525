/* test_httpd.c - broker/httpd.h over real loopback sockets, driven the way the broker drives it:
 * one thread polls the server's descriptor and the test's client sockets in turn. Checks 200,
 * 404, 405, 400 on garbage, a cap on request size, the connection limit, and listen parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker/httpd.h"
#include "common/clock.h"

typedef struct {
    int calls;
    int fail;
} s_body_t;

static int s_body(void *arg, char **body, size_t *len) {
    s_body_t *b = arg;
    b->calls++;
    if (b->fail) return -1;
    *body = strdup("x_total 1\n");
    *len = strlen(*body);
    return 0;
}

/* Serves for up to ms milliseconds, as the broker's loop would. */
static void s_serve(fmx_httpd_t *d, int ms) {
    uint64_t until = fmx_clock_now_us() + (uint64_t)ms * 1000u;
    for (uint64_t now; (now = fmx_clock_now_us()) < until;) {
        long t = fmx_httpd_poll_timeout_ms(d, now);
        if (t < 0 || t > 10) t = 10;
        struct pollfd p = {fmx_httpd_fd(d), POLLIN, 0};
        int n = poll(&p, 1, (int)t);
        fmx_httpd_poll_done(d, n > 0 && (p.revents & POLLIN), fmx_clock_now_us());
    }
}

static int s_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Sends req and serves until the server closes the connection or ms pass; the reply in out.
 * Returns 1 when the server closed it. */
static int s_exchange(fmx_httpd_t *d, int fd, const char *req, size_t req_len, char *out, size_t cap, int ms) {
    if (req_len) assert_int_equal(send(fd, req, req_len, MSG_NOSIGNAL), (ssize_t)req_len);
    size_t n = 0;
    out[0] = '\0';
    uint64_t until = fmx_clock_now_us() + (uint64_t)ms * 1000u;
    while (fmx_clock_now_us() < until) {
        s_serve(d, 5);
        for (;;) {
            ssize_t r = recv(fd, out + n, cap - 1 - n, 0);
            if (r == 0 || (r < 0 && errno == ECONNRESET)) {
                out[n] = '\0';
                return 1;
            }
            if (r < 0) break;
            n += (size_t)r;
            out[n] = '\0';
            if (n == cap - 1) return 0;
        }
    }
    return 0;
}

static fmx_httpd_t *s_start(s_body_t *b) {
    char err[FMX_ERR_LEN];
    fmx_httpd_t *d = fmx_httpd_new("127.0.0.1:0", "/metrics", "text/plain; version=0.0.4", s_body, b, err);
    if (!d) fail_msg("%s", err);
    assert_true(fmx_httpd_port(d) > 0);
    assert_true(fmx_httpd_fd(d) >= 0);
    return d;
}

static void test_get_404_405_and_500(void **state) {
    (void)state;
    s_body_t b = {0};
    fmx_httpd_t *d = s_start(&b);
    char out[4096];
    static const char get[] = "GET /metrics?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int fd = s_connect(fmx_httpd_port(d));
    assert_int_equal(s_exchange(d, fd, get, strlen(get), out, sizeof out, 2000), 1);
    close(fd);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "Content-Type: text/plain; version=0.0.4\r\n"));
    assert_non_null(strstr(out, "\r\n\r\nx_total 1\n"));
    assert_int_equal(b.calls, 1);

    static const char nope[] = "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    fd = s_connect(fmx_httpd_port(d));
    assert_int_equal(s_exchange(d, fd, nope, strlen(nope), out, sizeof out, 2000), 1);
    close(fd);
    assert_non_null(strstr(out, "HTTP/1.1 404 Not Found\r\n"));

    static const char post[] = "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
    fd = s_connect(fmx_httpd_port(d));
    s_exchange(d, fd, post, strlen(post), out, sizeof out, 1000);
    close(fd);
    assert_non_null(strstr(out, "HTTP/1.1 405 Method Not Allowed\r\n"));
    assert_non_null(strstr(out, "Allow: GET\r\n"));
    assert_int_equal(b.calls, 1); /* neither rendered anything */

    b.fail = 1;
    fd = s_connect(fmx_httpd_port(d));
    assert_int_equal(s_exchange(d, fd, get, strlen(get), out, sizeof out, 2000), 1);
    close(fd);
    assert_non_null(strstr(out, "HTTP/1.1 500 "));
    fmx_httpd_destroy(&d);
    assert_null(d);
    fmx_httpd_destroy(&d);
}

static void test_garbage_and_oversized_requests_are_refused(void **state) {
    (void)state;
    s_body_t b = {0};
    fmx_httpd_t *d = s_start(&b);
    char out[4096];
    int fd = s_connect(fmx_httpd_port(d));
    assert_int_equal(s_exchange(d, fd, "GARBAGE\r\n\r\n", 11, out, sizeof out, 2000), 1);
    close(fd);
    /* libmicrohttpd hangs up on a request line it cannot parse (or answers 400): never a 200 */
    assert_true(out[0] == '\0' || strstr(out, "HTTP/1.1 400 "));

    /* Headers past the per-connection memory limit: refused and closed, never buffered. */
    size_t big = FMX_HTTPD_MEMORY_LIMIT * 2;
    char *req = malloc(big + 64);
    int n = snprintf(req, 64, "GET /metrics HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 4);
    fd = s_connect(fmx_httpd_port(d));
    size_t sent = 0, total = (size_t)n + big + 4;
    uint64_t until = fmx_clock_now_us() + 3000000u;
    int closed = 0;
    while (!closed && fmx_clock_now_us() < until) {
        ssize_t w = sent < total ? send(fd, req + sent, total - sent, MSG_NOSIGNAL) : 0;
        if (w > 0) sent += (size_t)w;
        if (w < 0 && errno != EAGAIN) closed = 1; /* EPIPE/ECONNRESET: the server hung up */
        closed = closed || s_exchange(d, fd, NULL, 0, out, sizeof out, 20);
    }
    close(fd);
    free(req);
    assert_true(closed);
    assert_int_equal(b.calls, 0);
    fmx_httpd_destroy(&d);
}

static void test_connection_limit_keeps_serving(void **state) {
    (void)state;
    s_body_t b = {0};
    fmx_httpd_t *d = s_start(&b);
    int idle[FMX_HTTPD_MAX_CONNECTIONS];
    for (size_t i = 0; i < FMX_ARRAY_LEN(idle); i++) {
        idle[i] = s_connect(fmx_httpd_port(d));
        s_serve(d, 2);
    }
    /* At the limit a new connection is not served (left in the backlog or hung up on), and the
     * loop driving the server never blocks on any of them. */
    char out[4096];
    static const char get[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int extra = s_connect(fmx_httpd_port(d));
    uint64_t t0 = fmx_clock_now_us();
    s_exchange(d, extra, get, strlen(get), out, sizeof out, 300);
    assert_true(fmx_clock_now_us() - t0 < 1000000u);
    assert_null(strstr(out, "200 OK"));
    assert_int_equal(b.calls, 0);
    close(extra);
    for (size_t i = 0; i < FMX_ARRAY_LEN(idle); i++) close(idle[i]);
    s_serve(d, 50); /* it notices the closes */
    int fd = s_connect(fmx_httpd_port(d));
    assert_int_equal(s_exchange(d, fd, get, strlen(get), out, sizeof out, 2000), 1);
    close(fd);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    fmx_httpd_destroy(&d);
}

static void test_parse_listen_and_bind_errors(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    struct sockaddr_storage a;
    socklen_t len;
    assert_int_equal(fmx_httpd_parse_listen("127.0.0.1:9400", &a, &len, err), 0);
    assert_int_equal(a.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&a)->sin_port), 9400);
    assert_int_equal(fmx_httpd_parse_listen("localhost:0", &a, &len, err), 0);
    assert_int_equal(fmx_httpd_parse_listen("[::1]:80", &a, &len, err), 0);
    assert_int_equal(a.ss_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    static const char *const bad[] = {"9400", ":9400", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                                      "::1:80", "[::1:80", "[nope]:80", "example.com:80", "127.0.0.1:80x", ""};
    for (size_t i = 0; i < FMX_ARRAY_LEN(bad); i++)
        if (fmx_httpd_parse_listen(bad[i], &a, &len, err) != -1) fail_msg("accepted '%s'", bad[i]);
    s_body_t b = {0};
    fmx_httpd_t *d = s_start(&b);
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%u", (unsigned)fmx_httpd_port(d));
    assert_null(fmx_httpd_new(taken, "/metrics", "text/plain", s_body, &b, err));
    assert_non_null(strstr(err, "bind(127.0.0.1:"));
    assert_non_null(strstr(err, "in use"));
    assert_null(fmx_httpd_new("nowhere:1", "/metrics", "text/plain", s_body, &b, err));
    fmx_httpd_destroy(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_404_405_and_500),
        cmocka_unit_test(test_garbage_and_oversized_requests_are_refused),
        cmocka_unit_test(test_connection_limit_keeps_serving),
        cmocka_unit_test(test_parse_listen_and_bind_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
