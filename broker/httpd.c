/* httpd.c - one-path HTTP server on libmicrohttpd in external-epoll mode (broker/httpd.h).
 *
 * The listening socket is made here rather than by libmicrohttpd so a bind failure is explained
 * with its errno and port 0 can be read back with getsockname; libmicrohttpd takes it over and
 * closes it when the daemon stops. */
#include "broker/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fmx_httpd {
    struct MHD_Daemon *daemon;
    int epoll_fd;
    uint16_t port;
    char *path, *content_type;
    fmx_httpd_body_fn body;
    void *arg;
    uint64_t due_us;      /* run libmicrohttpd by then even without I/O */
    uint64_t last_run_us;
};

/* libmicrohttpd 0.9.75 stops accepting at the connection limit and resumes only in a later
 * MHD_run, which neither its descriptor nor MHD_get_timeout announces: without a timeout of its
 * own it is still run this often, so a freed slot is used within that time. */
#define S_IDLE_RUN_US 1000000u

int fmx_httpd_parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *addr_len,
                           char err[FMX_ERR_LEN]) {
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || colon == listen)
        return fmx_err(err, "listen address '%s' is not HOST:PORT", listen ? listen : "");
    uint32_t port;
    if (fmx_parse_u32(colon + 1, 0, 65535, &port) != 0)
        return fmx_err(err, "listen address '%s': the port must be an integer in 0..65535", listen);
    char host[64];
    size_t host_len = (size_t)(colon - listen);
    bool v6 = listen[0] == '[';
    if (v6 && (host_len < 3 || listen[host_len - 1] != ']'))
        return fmx_err(err, "listen address '%s': an IPv6 address goes in brackets", listen);
    if (v6) listen++, host_len -= 2;
    if (host_len >= sizeof host) return fmx_err(err, "listen address '%s': host too long", listen);
    memcpy(host, listen, host_len);
    host[host_len] = '\0';
    memset(addr, 0, sizeof *addr);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return fmx_err(err, "listen address: '%s' is not an IPv6 address", host);
        *addr_len = sizeof *a;
        return 0;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)addr;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return fmx_err(err, "listen address: '%s' is not an IPv4 address (or [IPv6], or localhost)", host);
    *addr_len = sizeof *a;
    return 0;
}

static enum MHD_Result s_reply_static(struct MHD_Connection *c, unsigned status, const char *text, const char *allow) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Answers at the first call, when the headers are in: nothing here reads a request body, and a
 * body sent anyway is dropped by libmicrohttpd with the connection. */
static enum MHD_Result s_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                const char *version, const char *upload_data, size_t *upload_data_size,
                                void **con_cls) {
    (void)version, (void)upload_data, (void)upload_data_size, (void)con_cls;
    fmx_httpd_t *self = cls;
    if (strcmp(url, self->path) != 0) return s_reply_static(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return s_reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n", MHD_HTTP_METHOD_GET);
    char *body = NULL;
    size_t len = 0;
    if (self->body(self->arg, &body, &len) != 0)
        return s_reply_static(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render\n", NULL);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, self->content_type);
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

static int s_listen_socket(const char *address, uint16_t *port, char err[FMX_ERR_LEN]) {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (fmx_httpd_parse_listen(address, &addr, &addr_len, err) != 0) return -1;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fmx_err(err, "socket() for %s failed: %s", address, strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* a restarted broker rebinds at once */
    if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
        fmx_err(err, "bind(%s) failed: %s", address, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    if (listen(fd, 64) != 0 || getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
        fmx_err(err, "listen(%s) failed: %s", address, strerror(errno));
        close(fd);
        return -1;
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

fmx_httpd_t *fmx_httpd_new(const char *listen_address, const char *path, const char *content_type,
                           fmx_httpd_body_fn body, void *arg, char err[FMX_ERR_LEN]) {
    fmx_httpd_t *self = calloc(1, sizeof *self);
    if (!self) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    self->epoll_fd = -1;
    self->body = body;
    self->arg = arg;
    self->path = strdup(path);
    self->content_type = strdup(content_type);
    if (!self->path || !self->content_type) {
        fmx_err(err, "out of memory");
        goto fail;
    }
    int fd = s_listen_socket(listen_address, &self->port, err);
    if (fd < 0) goto fail;
    /* No MHD_USE_INTERNAL_POLLING_THREAD: the caller's loop drives it. No MHD_USE_ERROR_LOG: a
     * client's bad request is its own problem, not a line in the broker's log. */
    self->daemon = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, s_access, self,
                                    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)FMX_HTTPD_MAX_CONNECTIONS,
                                    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)FMX_HTTPD_TIMEOUT_S,
                                    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)FMX_HTTPD_MEMORY_LIMIT,
                                    MHD_OPTION_END);
    if (!self->daemon) {
        /* Not closed here: libmicrohttpd versions differ on whether a failed start closes a socket
         * it was given, and a double close could hit a descriptor libzmq opened meanwhile. */
        fmx_err(err, "cannot start the HTTP server on %s (libmicrohttpd)", listen_address);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info || info->epoll_fd < 0) {
        fmx_err(err, "libmicrohttpd gave no epoll descriptor");
        goto fail;
    }
    self->epoll_fd = info->epoll_fd;
    return self;
fail:
    fmx_httpd_destroy(&self);
    return NULL;
}

void fmx_httpd_destroy(fmx_httpd_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_httpd_t *self = *self_p;
    if (self->daemon) MHD_stop_daemon(self->daemon);
    free(self->path);
    free(self->content_type);
    free(self);
    *self_p = NULL;
}

uint16_t fmx_httpd_port(const fmx_httpd_t *self) {
    return self->port;
}

int fmx_httpd_fd(const fmx_httpd_t *self) {
    return self->epoll_fd;
}

long fmx_httpd_poll_timeout_ms(fmx_httpd_t *self, uint64_t now_us) {
    MHD_UNSIGNED_LONG_LONG ms;
    uint64_t idle_due = self->last_run_us + S_IDLE_RUN_US;
    if (MHD_get_timeout(self->daemon, &ms) == MHD_YES && now_us + (uint64_t)ms * 1000u < idle_due)
        self->due_us = now_us + (uint64_t)ms * 1000u;
    else
        self->due_us = idle_due;
    return self->due_us > now_us ? (long)((self->due_us - now_us + 999u) / 1000u) : 0;
}

void fmx_httpd_poll_done(fmx_httpd_t *self, bool readable, uint64_t now_us) {
    if (!readable && now_us < self->due_us) return;
    MHD_run(self->daemon);
    self->last_run_us = now_us;
}
