/* harness.h - process-level tests: a temp dir, a seeded store, real broker and actor processes on
 * ipc:// endpoints, REQ clients with timeouts, and a teardown that leaves no child behind.
 *
 * Typical test binary (the cmocka hooks h_group_setup, h_test_teardown, h_group_teardown do the
 * setup and teardown steps):
 *   group setup:    h = h_new();  h_seed(h, 200)           (one temp dir + store per binary)
 *   each test:      h_start_broker(h, NULL); h_start_actor(h, "hydrate", NULL, NULL); ...
 *                   h_wait_ready(...); h_call(...); ...; h_pass(h);
 *   test teardown:  h_stop_all(h)  (prints the children's log tails unless h_pass was called)
 *   group teardown: h_destroy(&h)
 *
 * Environment: FMX_BIN (the binaries), FMX_SOURCE (repo root, for configs/feeds), FMX_FIXTURES.
 * Failures are explained on stderr; functions return -1 (or NULL) rather than aborting so a
 * cmocka assert in the test reports the line. */
#ifndef FMX_HARNESS_H
#define FMX_HARNESS_H

#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define H_MAX_CHILDREN 64
#define H_MAX_TYPES 32
#define H_MAX_LIVE 64

/* {"geo": "US"}: the request context every feed with geo templates needs, as raw msgpack for
 * h_pack_map's 'r' kind: "context", 'r', H_CONTEXT_US, H_CONTEXT_US_LEN. */
#define H_CONTEXT_US "\x81\xa3" "geo" "\xa2" "US"
#define H_CONTEXT_US_LEN ((size_t)8)
/* The whole triple, for an h_pack_map argument list. */
#define H_CTX_US "context", 'r', H_CONTEXT_US, H_CONTEXT_US_LEN

struct h_client;

typedef struct h_child {
    pid_t pid;      /* 0 once reaped */
    char name[64];  /* log file is <dir>/<name>.log */
    int status;     /* waitpid status once reaped */
} h_child_t;

typedef struct h {
    char dir[64];                     /* temp dir, removed by h_destroy */
    char front[128], back[128], admin[128]; /* ipc://<dir>/front, back, admin */
    char bin[512], source[512];       /* $FMX_BIN, $FMX_SOURCE */
    char token_key[128];              /* <dir>/token.key: a fresh random key every broker and actor gets */
    void *zmq;                        /* one context for every client */
    h_child_t children[H_MAX_CHILDREN];
    size_t n_children;
    pid_t broker;                     /* last broker started, 0 if none */
    bool seeded;
    bool passed;                      /* set by h_pass: teardown keeps the logs quiet */
    /* What a failed assert (a longjmp out of the test) leaves open: h_stop_all frees it, so a
     * failing test neither leaks (ASan) nor hangs in zmq_ctx_term on an unclosed socket. */
    struct h_client *clients[H_MAX_LIVE];
    size_t n_clients;
    struct {
        char *buf;
        msgpack_zone *zone;
    } replies[H_MAX_LIVE];
    size_t n_replies;
} h_t;

/* Reads FMX_BIN/FMX_SOURCE, makes the temp dir, its token key and the zmq context. NULL on failure. */
h_t *h_new(void);
/* Stops every child (h_stop_all), removes the temp dir, frees. NULL-safe, sets *h_p = NULL. */
void h_destroy(h_t **h_p);

/* Runs feedmix-seed into <dir>/store and <dir>/models, then feedmix-train for the GBDT models the
 * shipped feeds score with, once (later calls return 0). 0 or -1. */
int h_seed(h_t *h, int users);

/* cmocka hooks every process test shares (they take the void **state cmocka passes):
 *   h_group_setup:    h_new() + h_seed(h, H_SEED_USERS) into *state; 0, or -1 with nothing left over.
 *   h_group_teardown: h_destroy of *state; always 0.
 *   h_test_teardown:  h_stop_all of *state; 0, or -1 (the test fails) when a child needed SIGKILL,
 *                     exited badly or could not be reaped. */
#define H_SEED_USERS 200
int h_group_setup(void **state);
int h_group_teardown(void **state);
int h_test_teardown(void **state);

/* Starts feedmix-broker on the harness endpoints with --feeds test/fixtures/integration/feeds_generous
 * (the shipped feeds with budgets a loaded ASan machine can meet),
 * --heartbeat-ms 100, --log-level info, --metrics 127.0.0.1:0 (a free port: the admin `stats`
 * says which, as metrics_port), --token-key h->token_key, then the NULL-terminated extra args
 * (may be NULL). Its events log is <dir>/var/log/events.jsonl unless extra says --events.
 * Returns the pid (also kept in h->broker) or -1. Logs go to <dir>/broker.log (appended). */
pid_t h_start_broker(h_t *h, const char *const *extra);
/* Starts feedmix-actor --node type on the harness endpoints with the seeded store, data dir
 * <dir>, --heartbeat-ms 100, --token-key h->token_key and the extra args. name (NULL: "<type>-<n>") is passed as --name
 * and names the log file. Returns the pid or -1. */
pid_t h_start_actor(h_t *h, const char *type, const char *name, const char *const *extra);

/* Runs $FMX_BIN/<argv[0]> with the other argv entries (NULL-terminated) to completion, output
 * (stdout and stderr) in <dir>/<name>.log. Returns 0 and the waitpid status in *status, or -1
 * when it could not start or ran longer than timeout_ms (then it is killed). */
int h_run(h_t *h, const char *name, const char *const *argv, int timeout_ms, int *status);
/* The whole of <dir>/<name>.log as a NUL-terminated string (caller frees), NULL if unreadable. */
char *h_read_log(h_t *h, const char *name);

/* The node types used by the feed files in $FMX_SOURCE/configs/feeds (every `type:` value of a
 * node), deduplicated, into types[] (each up to 31 chars). Returns the count or -1. */
int h_feed_types(h_t *h, char types[][32], int max);
/* One actor of every type h_feed_types finds, then h_wait_ready for each. Returns the number of
 * types or -1. */
int h_start_feed_actors(h_t *h, int timeout_ms);

/* Sends sig to pid. 0 or -1. */
int h_kill(pid_t pid, int sig);
/* Waits up to timeout_ms for a child of the harness to exit; reaps it. Returns 0 and the waitpid
 * status in *status (may be NULL), or -1 on timeout. */
int h_wait_exit(h_t *h, pid_t pid, int timeout_ms, int *status);
/* True while the child is running (not exited, not a zombie). Reaps it if it exited. */
bool h_alive(h_t *h, pid_t pid);

/* Polls the admin `stats` until types[type].ready >= n. 0, or -1 on timeout. */
int h_wait_ready(h_t *h, const char *type, int n, int timeout_ms);

/* SIGTERM to every running child, up to 2 s to exit, then SIGKILL for the rest; reaps all.
 * Prints the tail of each child's log unless h_pass was called since the last h_stop_all.
 * Returns 0 when every child exited on SIGTERM, 1 when some needed SIGKILL, -1 when a child
 * could not be reaped or waitpid still finds a child afterwards. Resets h->passed. */
int h_stop_all(h_t *h);
/* Marks the current test as passed (call it last in the test body). */
void h_pass(h_t *h);
/* Prints the last `lines` lines of every child's log to stderr. */
void h_dump_logs(h_t *h, int lines);

/* A reply: one msgpack object decoded from a frame; root points into buf/up. */
typedef struct {
    h_t *h;
    char *buf;
    size_t len;
    msgpack_unpacked up;
    const msgpack_object *root;
} h_reply_t;
void h_reply_fini(h_reply_t *r); /* NULL-safe and idempotent on a zeroed or finished reply */

/* A REQ client. A REQ socket that timed out waiting for a reply is stuck in its state machine:
 * h_call closes and recreates it then. */
typedef struct h_client {
    h_t *h;
    void *sock;
    char endpoint[128];
    int type;
} h_client_t;

h_client_t *h_client_new(h_t *h, const char *endpoint);
/* A client of another socket type (ZMQ_DEALER for raw multipart tests): h_send/h_recv then move
 * single frames, the caller handles envelopes with zmq directly on c->sock. */
h_client_t *h_client_new_type(h_t *h, const char *endpoint, int type);
void h_client_destroy(h_client_t **c_p);
/* Sends buf as one frame, waits up to timeout_ms for one reply frame and decodes it into *out
 * (caller calls h_reply_fini). 0 ok; -1 timeout (the socket is recreated); -2 the reply is not
 * one msgpack object (or came in several frames); -3 send/socket error. */
int h_call(h_client_t *c, const void *buf, size_t len, int timeout_ms, h_reply_t *out);
/* h_call for tests that need status ok: a `degraded` reply (a node missed its budget, which a
 * loaded CI machine under ASan can cause with the feeds' 10-30 ms budgets) is logged and the
 * request repeated, up to 3 attempts in all. Returns as h_call; *out holds the last reply. */
int h_call_ok(h_client_t *c, const void *buf, size_t len, int timeout_ms, h_reply_t *out);
/* The send and receive halves of h_call, for tests that act while a request is in flight.
 * h_recv returns as h_call does. */
int h_send(h_client_t *c, const void *buf, size_t len);
int h_recv(h_client_t *c, int timeout_ms, h_reply_t *out);

/* Admin request {"cmd": cmd} on a fresh REQ socket. Return codes as h_call. */
int h_admin(h_t *h, const char *cmd, int timeout_ms, h_reply_t *out);

/* Packs a map from (key, kind, value) triples ending with a NULL key, kinds:
 *   's' const char *      'S' const char *, size_t (str with length)   'i' int   'I' int64_t
 *   'd' double            'b' int (bool)   'n' (no value: nil)          'r' const void *, size_t:
 *   raw msgpack bytes appended verbatim (a nested map or array packed elsewhere)
 * e.g. h_pack_map(&sb, "feed", 's', "home", "user_id", 'i', 42, NULL). Appends to sb. 0 or -1. */
int h_pack_map(msgpack_sbuffer *sb, ...);
/* h_pack_map for a caller that takes the triples as its own variadic arguments. */
int h_pack_mapv(msgpack_sbuffer *sb, va_list ap);
/* A feed request {"feed", "user_id": user (int), "context": {"geo": "US"},
 * "deadline_ms": deadline_ms if > 0}. */
int h_pack_request(msgpack_sbuffer *sb, const char *feed, int64_t user, int64_t deadline_ms);

/* Small readers over replies. */
const msgpack_object *h_get(const msgpack_object *map, const char *key);
bool h_str_eq(const msgpack_object *o, const char *s);
/* map[key] as an int64 (INT64_MIN when absent or not an int). */
int64_t h_get_int(const msgpack_object *map, const char *key);
/* reply.status == want */
bool h_status_is(const h_reply_t *r, const char *want);
/* reply.error.code == code */
bool h_error_code_is(const h_reply_t *r, const char *code);
/* Prints a reply compactly to stderr, for diagnostics. */
void h_print(const char *label, const msgpack_object *o);

/* Monotonic milliseconds. */
int64_t h_now_ms(void);
void h_sleep_ms(int ms);

/* Starts $FMX_BIN/<argv[0]> with the other argv entries (NULL-terminated) in the background, like
 * h_start_broker: cwd the temp dir, output in <dir>/<name>.log, stopped by h_stop_all. Pid or -1. */
pid_t h_start(h_t *h, const char *name, const char *const *argv);

#endif
