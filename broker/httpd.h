/* httpd.h - a small HTTP server for one path, on libmicrohttpd driven by the caller's event loop.
 *
 * No thread of its own and no locks: libmicrohttpd runs in external-epoll mode, so the whole
 * server is one file descriptor. Each pass the caller asks fmx_httpd_poll_timeout_ms() how long it
 * may sleep, polls fmx_httpd_fd() for reading with at most that timeout alongside its own
 * sockets, then calls fmx_httpd_poll_done(); libmicrohttpd then does non-blocking I/O only, so a
 * slow or garbage client never stalls the caller. Defences: FMX_HTTPD_MAX_CONNECTIONS at once, an
 * idle timeout of FMX_HTTPD_TIMEOUT_S, and FMX_HTTPD_MEMORY_LIMIT bytes of request per connection.
 * Only GET of the path is served (body from the callback); any other path is 404, any other
 * method on the path 405. */
#ifndef FMX_HTTPD_H
#define FMX_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/fmx.h"

#define FMX_HTTPD_MAX_CONNECTIONS 16
#define FMX_HTTPD_TIMEOUT_S 5
#define FMX_HTTPD_MEMORY_LIMIT (32u * 1024u)

typedef struct fmx_httpd fmx_httpd_t;

/* Produces the body of one GET: 0 with *body (malloc'd; the server frees it) and *len, or -1
 * (the client gets 500). Called on the caller's thread, from fmx_httpd_poll_done. */
typedef int (*fmx_httpd_body_fn)(void *arg, char **body, size_t *len);

/* "HOST:PORT": HOST an IPv4 address, "localhost", or a bracketed IPv6 address ("[::1]:9400"); PORT
 * 0..65535, 0 meaning any free port. 0 with *addr and *addr_len set, or -1 with err. */
int fmx_httpd_parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *addr_len,
                           char err[FMX_ERR_LEN]);

/* Binds listen (see fmx_httpd_parse_listen) and starts serving path with content_type (both
 * copied). NULL with err when the address is bad or cannot be bound. */
fmx_httpd_t *fmx_httpd_new(const char *listen, const char *path, const char *content_type, fmx_httpd_body_fn body,
                           void *arg, char err[FMX_ERR_LEN]);
/* Closes every connection and the listening socket. NULL-safe; sets *self_p = NULL. */
void fmx_httpd_destroy(fmx_httpd_t **self_p);

/* The bound port (the one chosen when the address said 0). */
uint16_t fmx_httpd_port(const fmx_httpd_t *self);
/* The one descriptor to poll for reading. */
int fmx_httpd_fd(const fmx_httpd_t *self);
/* The longest the caller may sleep before fmx_httpd_poll_done, in ms (at most about a second). */
long fmx_httpd_poll_timeout_ms(fmx_httpd_t *self, uint64_t now_us);
/* After the poll: serves what is ready when the descriptor was readable or the timeout given by
 * the last fmx_httpd_poll_timeout_ms has passed; otherwise does nothing (no system call). */
void fmx_httpd_poll_done(fmx_httpd_t *self, bool readable, uint64_t now_us);

#endif
