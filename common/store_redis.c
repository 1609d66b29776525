/* store_redis.c - the Redis backend of common/store.h (hiredis 0.14, blocking contexts).
 *
 * Threads: a store is shared by an actor's worker threads, and a hiredis context is not thread
 * safe, so the store keeps a small pool of idle connections (mutex + stack). A transaction checks
 * one out for its whole life and gives it back at its end; a connection that saw an I/O error, a
 * timeout or a reply out of step is closed instead, and the next transaction connects afresh.
 * fmx_store_open only checks the URL: a Redis that is down at start-up (or restarts later) fails
 * the transactions of that moment with a message, and serving resumes when it is back.
 *
 * Timeouts (connect S_CONNECT_TIMEOUT_MS, each command S_COMMAND_TIMEOUT_MS) turn a dead or
 * stuck server into a failed task instead of a hung worker.
 *
 * Reads: GET, or MGET in chunks of S_MGET_CHUNK keys all sent before the first reply is read (one
 * round trip). The replies a value points into are held by the transaction until it ends. A
 * pooled connection may be stale (the server restarted since it was last used): when the first
 * command of a transaction on it fails with an I/O error, the idle pool is dropped and the
 * command retried once on a fresh connection. Reads are idempotent, so this is safe.
 *
 * Writes: MULTI at begin, then SET/FLUSHDB appended to the output buffer and pipelined; their
 * QUEUED replies are drained every S_DRAIN_CMDS commands or S_DRAIN_BYTES bytes, so neither side
 * buffers without bound; EXEC commits atomically, DISCARD aborts.
 *
 * SIGPIPE: writing to a connection the server closed raises SIGPIPE, which would kill a process
 * that does not ignore it (a test, the seeder). When the process did not ignore it at open, the
 * signal is blocked in the calling thread around each round trip and a SIGPIPE raised by it is
 * consumed (the technique libpq uses), so the store never changes the process's dispositions. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/store_int.h"

#define S_CONNECT_TIMEOUT_MS 1000
#define S_COMMAND_TIMEOUT_MS 2000
#define S_POOL_IDLE_MAX 32          /* idle connections kept; more threads just connect */
#define S_MGET_CHUNK 1000           /* keys per MGET: bounds one reply and the server's work */
#define S_DRAIN_CMDS 1000           /* queued writes between two drains of their replies */
#define S_DRAIN_BYTES (8u << 20)    /* ... or this many bytes of keys and values */

typedef struct {
    fmx_store_t base;
    fmx_store_redis_url_t url;
    bool guard_sigpipe; /* SIGPIPE was not ignored at open */
    pthread_mutex_t lock;
    redisContext *idle[S_POOL_IDLE_MAX];
    size_t n_idle;
} s_store_t;

typedef struct {
    fmx_store_txn_t base;
    redisContext *c;
    bool fresh;  /* c was connected for this transaction: it cannot be stale */
    bool proven; /* a command succeeded on c in this transaction */
    bool broken; /* c saw an error or is out of step: close it at the end */
    /* read: the replies returned values point into */
    redisReply **held;
    size_t n_held, cap_held;
    /* write */
    size_t pending;       /* commands whose QUEUED reply is not read yet */
    size_t pending_bytes; /* their key and value bytes */
    size_t queued;        /* commands queued since MULTI: EXEC answers one result each */
} s_txn_t;

static const fmx_store_ops_t s_ops;

/* ---- URL ---- */

/* A port or db: digits only, no sign, no leading zero, within lo..hi. */
static int s_parse_num(const char *s, size_t len, int lo, int hi, int *out) {
    if (len == 0 || len > 6 || (len > 1 && s[0] == '0')) return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static bool s_host_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
           ch == '_';
}

int fmx_store_redis_url_parse(const char *url, fmx_store_redis_url_t *out, char err[FMX_ERR_LEN]) {
    static const char prefix[] = "redis://";
    if (!url || strncmp(url, prefix, sizeof(prefix) - 1) != 0)
        return fmx_err(err, "redis URL '%.80s' must start with redis://", url ? url : "(null)");
    const char *p = url + sizeof(prefix) - 1;
    memset(out, 0, sizeof(*out));
    if (strchr(p, '@')) return fmx_err(err, "redis URL '%.80s': credentials are not supported", url);
    if (strchr(p, '?') || strchr(p, '#'))
        return fmx_err(err, "redis URL '%.80s': options (?...) are not supported", url);
    const char *host = p, *host_end;
    if (*p == '[') { /* [IPv6]:port */
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end == host)
            return fmx_err(err, "redis URL '%.80s': an IPv6 host needs [ADDRESS]", url);
        for (const char *q = host; q < host_end; q++)
            if (!(*q == ':' || *q == '.' || (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
                  (*q >= 'A' && *q <= 'F')))
                return fmx_err(err, "redis URL '%.80s': bad character in the IPv6 address", url);
        p = host_end + 1;
    } else {
        while (s_host_char(*p))
            p++;
        host_end = p;
        if (host_end == host) return fmx_err(err, "redis URL '%.80s': the host is missing", url);
    }
    if ((size_t)(host_end - host) >= sizeof(out->host))
        return fmx_err(err, "redis URL '%.80s': the host is too long", url);
    if (*p != ':') {
        if (*p == '\0' || *p == '/')
            return fmx_err(err, "redis URL '%.80s': the port is missing (redis://HOST:PORT[/DB])", url);
        return fmx_err(err, "redis URL '%.80s': bad character '%c' in the host", url, *p);
    }
    const char *port = ++p;
    while (*p && *p != '/')
        p++;
    if (s_parse_num(port, (size_t)(p - port), 1, 65535, &out->port) != 0)
        return fmx_err(err, "redis URL '%.80s': the port must be a number in 1..65535", url);
    if (*p == '/') {
        const char *db = ++p;
        if (s_parse_num(db, strlen(db), 0, FMX_STORE_REDIS_DB_MAX, &out->db) != 0)
            return fmx_err(err, "redis URL '%.80s': the database after '/' must be a number in 0..%d", url,
                           FMX_STORE_REDIS_DB_MAX);
    }
    memcpy(out->host, host, (size_t)(host_end - host));
    out->host[host_end - host] = '\0';
    return 0;
}

/* ---- SIGPIPE guard ---- */

typedef struct {
    bool active, was_pending;
    sigset_t old;
} s_sigpipe_t;

static void s_sigpipe_block(const s_store_t *self, s_sigpipe_t *g) {
    g->active = self->guard_sigpipe;
    if (!g->active) return;
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    /* One already pending (blocked by the caller) is the caller's: leave it be. */
    g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

/* Keeps errno: callers explain the failure of the call before it. */
static void s_sigpipe_restore(s_sigpipe_t *g) {
    if (!g->active) return;
    int saved = errno;
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    errno = saved;
}

/* ---- connections ---- */

/* A key as it can appear in a message: at most FMX_STORE_ERR_KEY bytes, unprintables as '?'. */
static const char *s_keyfmt(char out[FMX_STORE_ERR_KEY + 4], const char *key, size_t len) {
    size_t n = len > FMX_STORE_ERR_KEY ? FMX_STORE_ERR_KEY : len;
    for (size_t i = 0; i < n; i++)
        out[i] = key[i] >= 0x20 && key[i] < 0x7f ? key[i] : '?';
    if (n < len) {
        memcpy(out + n, "...", 4);
    } else {
        out[n] = '\0';
    }
    return out;
}

/* Explains a context error: an I/O error with EAGAIN is the command timeout. */
static int s_io_err(const s_store_t *self, const redisContext *c, const char *what, char err[FMX_ERR_LEN]) {
    int e = errno;
    if (c && c->err == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK))
        return fmx_err(err, "redis %s on %s:%d: no reply within %d ms", what, self->url.host, self->url.port,
                       S_COMMAND_TIMEOUT_MS);
    if (c && c->err == REDIS_ERR_EOF)
        return fmx_err(err, "redis %s on %s:%d: the server closed the connection", what, self->url.host, self->url.port);
    return fmx_err(err, "redis %s on %s:%d failed: %s", what, self->url.host, self->url.port,
                   c && c->err ? c->errstr : "out of memory");
}

static redisContext *s_connect(s_store_t *self, char err[FMX_ERR_LEN]) {
    struct timeval ctv = {S_CONNECT_TIMEOUT_MS / 1000, (S_CONNECT_TIMEOUT_MS % 1000) * 1000};
    struct timeval tv = {S_COMMAND_TIMEOUT_MS / 1000, (S_COMMAND_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(self->url.host, self->url.port, ctv);
    if (!c || c->err) {
        fmx_err(err, "redis connect to %s:%d failed: %s", self->url.host, self->url.port,
                c ? c->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        fmx_err(err, "redis connect to %s:%d: cannot set the timeout: %s", self->url.host, self->url.port, c->errstr);
        goto fail;
    }
    if (self->url.db != 0) {
        char db[16];
        int n = snprintf(db, sizeof(db), "%d", self->url.db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, (size_t)n};
        s_sigpipe_t g;
        s_sigpipe_block(self, &g);
        redisReply *r = redisCommandArgv(c, 2, argv, lens);
        s_sigpipe_restore(&g);
        if (!r) {
            s_io_err(self, c, "SELECT", err);
            goto fail;
        }
        bool ok = r->type == REDIS_REPLY_STATUS && r->len == 2 && memcmp(r->str, "OK", 2) == 0;
        if (!ok)
            fmx_err(err, "redis SELECT %d on %s:%d failed: %.*s", self->url.db, self->url.host, self->url.port,
                    r->type == REDIS_REPLY_ERROR ? (int)(r->len > 120 ? 120 : r->len) : 16,
                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        if (!ok) goto fail;
    }
    return c;
fail:
    if (c) redisFree(c);
    return NULL;
}

static redisContext *s_checkout(s_store_t *self, bool *fresh, char err[FMX_ERR_LEN]) {
    redisContext *c = NULL;
    pthread_mutex_lock(&self->lock);
    if (self->n_idle > 0) c = self->idle[--self->n_idle];
    pthread_mutex_unlock(&self->lock);
    *fresh = c == NULL;
    return c ? c : s_connect(self, err);
}

static void s_checkin(s_store_t *self, redisContext *c, bool broken) {
    if (!c) return;
    if (!broken && !c->err) {
        pthread_mutex_lock(&self->lock);
        bool kept = self->n_idle < S_POOL_IDLE_MAX;
        if (kept) self->idle[self->n_idle++] = c;
        pthread_mutex_unlock(&self->lock);
        if (kept) return;
    }
    redisFree(c);
}

/* Closes every idle connection: after one turned out stale, the others (same server) are too. */
static void s_drop_idle(s_store_t *self) {
    redisContext *drop[S_POOL_IDLE_MAX];
    pthread_mutex_lock(&self->lock);
    size_t n = self->n_idle;
    memcpy(drop, self->idle, n * sizeof(drop[0]));
    self->n_idle = 0;
    pthread_mutex_unlock(&self->lock);
    for (size_t i = 0; i < n; i++)
        redisFree(drop[i]);
}

/* ---- store ---- */

static void s_close(fmx_store_t *base) {
    s_store_t *self = (s_store_t *)base;
    for (size_t i = 0; i < self->n_idle; i++)
        redisFree(self->idle[i]);
    pthread_mutex_destroy(&self->lock);
    free(self);
}

fmx_store_t *fmx_store_redis_open(const char *url, bool readonly, char err[FMX_ERR_LEN]) {
    s_store_t *self = calloc(1, sizeof(*self));
    if (!self) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    if (fmx_store_redis_url_parse(url, &self->url, err) != 0) {
        free(self);
        return NULL;
    }
    if (pthread_mutex_init(&self->lock, NULL) != 0) {
        fmx_err(err, "pthread_mutex_init failed");
        free(self);
        return NULL;
    }
    self->base.ops = &s_ops;
    self->base.readonly = readonly;
    struct sigaction sa;
    self->guard_sigpipe = sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_IGN;
    return &self->base;
}

/* ---- transactions ---- */

static s_store_t *s_store(s_txn_t *t) {
    return (s_store_t *)t->base.store;
}

static void s_release(s_txn_t *t) {
    for (size_t i = 0; i < t->n_held; i++)
        freeReplyObject(t->held[i]);
    free(t->held);
    s_checkin(s_store(t), t->c, t->broken);
    free(t);
}

static int s_hold(s_txn_t *t, redisReply *r, char err[FMX_ERR_LEN]) {
    if (t->n_held == t->cap_held) {
        size_t cap = t->cap_held ? t->cap_held * 2 : 8;
        redisReply **p = cap < SIZE_MAX / sizeof(*p) ? realloc(t->held, cap * sizeof(*p)) : NULL;
        if (!p) {
            freeReplyObject(r);
            return fmx_err(err, "out of memory");
        }
        t->held = p;
        t->cap_held = cap;
    }
    t->held[t->n_held++] = r;
    return 0;
}

static bool s_status_is(const redisReply *r, const char *want) {
    size_t n = strlen(want);
    return r && r->type == REDIS_REPLY_STATUS && r->len == n && memcmp(r->str, want, n) == 0;
}

/* An unexpected reply, explained: a Redis error's text, or its type. */
static int s_reply_err(const s_store_t *self, const redisReply *r, const char *what, char err[FMX_ERR_LEN]) {
    if (r->type == REDIS_REPLY_ERROR)
        return fmx_err(err, "redis %s on %s:%d: %.*s", what, self->url.host, self->url.port,
                       (int)(r->len > 160 ? 160 : r->len), r->str);
    return fmx_err(err, "redis %s on %s:%d: unexpected reply of type %d", what, self->url.host, self->url.port, r->type);
}

/* A batch of commands sent in one round trip: command i is argvs[i][0..argcs[i]). */
typedef struct {
    size_t n;
    const int *argcs;
    const char *const *const *argvs;
    const size_t *const *lens;
    const char *what; /* for messages */
} s_batch_t;

/* Sends every command of b, then reads one reply per command into replies[]. 0; or -1 with err
 * and every reply read so far freed (the connection is then out of step); -2 likewise when the
 * command timed out. */
static int s_roundtrip_once(s_txn_t *t, const s_batch_t *b, redisReply **replies, char err[FMX_ERR_LEN]) {
    for (size_t i = 0; i < b->n; i++)
        if (redisAppendCommandArgv(t->c, b->argcs[i], (const char **)b->argvs[i], b->lens[i]) != REDIS_OK)
            return s_io_err(s_store(t), t->c, b->what, err);
    s_sigpipe_t g;
    s_sigpipe_block(s_store(t), &g);
    size_t got = 0;
    for (; got < b->n; got++) {
        void *r = NULL;
        if (redisGetReply(t->c, &r) != REDIS_OK || !r) break;
        replies[got] = r;
    }
    bool timed_out = t->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
    s_sigpipe_restore(&g);
    if (got == b->n) return 0;
    s_io_err(s_store(t), t->c, b->what, err);
    for (size_t i = 0; i < got; i++) {
        freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
    return timed_out ? -2 : -1;
}

/* s_roundtrip_once, retried once on a fresh connection when the first command of the
 * transaction fails on a pooled one (stale after a server restart; a timeout is not that, and
 * is not retried). Only for idempotent commands. */
static int s_roundtrip(s_txn_t *t, const s_batch_t *b, redisReply **replies, char err[FMX_ERR_LEN]) {
    if (t->broken) return fmx_err(err, "redis %s: the connection failed earlier in this transaction", b->what);
    for (int attempt = 0;; attempt++) {
        int rc = s_roundtrip_once(t, b, replies, err);
        if (rc == 0) {
            t->proven = true;
            return 0;
        }
        if (rc == -2 || attempt > 0 || t->fresh || t->proven) break;
        redisFree(t->c);
        t->c = NULL;
        s_drop_idle(s_store(t));
        char cerr[FMX_ERR_LEN];
        t->c = s_connect(s_store(t), cerr);
        if (!t->c) {
            fmx_err(err, "%s", cerr);
            break;
        }
        t->fresh = true;
    }
    t->broken = true;
    return -1;
}

static fmx_store_txn_t *s_begin(fmx_store_t *base, bool write, char err[FMX_ERR_LEN]) {
    s_store_t *self = (s_store_t *)base;
    s_txn_t *t = calloc(1, sizeof(*t));
    if (!t) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    t->base.store = base;
    t->base.write = write;
    t->c = s_checkout(self, &t->fresh, err);
    if (!t->c) {
        free(t);
        return NULL;
    }
    if (write) {
        /* MULTI is sent at once (not appended): its round trip proves the connection, so a
         * stale pooled one is replaced before any write depends on it. */
        static const char *const argv[] = {"MULTI"};
        static const size_t lens[] = {5};
        static const int argc = 1;
        const char *const *argvs[] = {argv};
        const size_t *lensv[] = {lens};
        s_batch_t b = {1, &argc, argvs, lensv, "MULTI"};
        redisReply *r = NULL;
        if (s_roundtrip(t, &b, &r, err) != 0) goto fail;
        bool ok = s_status_is(r, "OK");
        if (!ok) s_reply_err(self, r, "MULTI", err);
        freeReplyObject(r);
        if (!ok) {
            t->broken = true;
            goto fail;
        }
    }
    return &t->base;
fail:
    s_release(t);
    return NULL;
}

static int s_get(fmx_store_txn_t *base, const char *key, size_t key_len, const void **val, size_t *val_len,
                 char err[FMX_ERR_LEN]) {
    s_txn_t *t = (s_txn_t *)base;
    char kbuf[FMX_STORE_ERR_KEY + 4], what[FMX_STORE_ERR_KEY + 16];
    snprintf(what, sizeof(what), "GET %s", s_keyfmt(kbuf, key, key_len));
    const char *argv[] = {"GET", key};
    const size_t lens[] = {3, key_len};
    const int argc = 2;
    const char *const *argvs[] = {argv};
    const size_t *lensv[] = {lens};
    s_batch_t b = {1, &argc, argvs, lensv, what};
    redisReply *r = NULL;
    if (s_roundtrip(t, &b, &r, err) != 0) return -1;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 1;
    }
    if (r->type != REDIS_REPLY_STRING) {
        /* e.g. WRONGTYPE for a list: the connection is still in step. */
        s_reply_err(s_store(t), r, what, err);
        freeReplyObject(r);
        return -1;
    }
    if (s_hold(t, r, err) != 0) return -1;
    *val = r->str;
    *val_len = r->len;
    return 0;
}

static int s_mget(fmx_store_txn_t *base, size_t n, const char *const *keys, const size_t *key_lens, const void **vals,
                  size_t *val_lens, char err[FMX_ERR_LEN]) {
    s_txn_t *t = (s_txn_t *)base;
    /* The keys to ask for (empty ones are missing by definition). */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += key_lens[i] > 0;
    if (m == 0) return 0;
    size_t n_cmds = (m + S_MGET_CHUNK - 1) / S_MGET_CHUNK;
    int rc = -1;
    size_t *idx = NULL;
    const char **argv = NULL;
    size_t *lens = NULL;
    int *argcs = NULL;
    const char *const **argvs = NULL;
    const size_t **lensv = NULL;
    redisReply **replies = NULL;
    /* One argv for all chunks: chunk j's command is "MGET" + its keys, at offset j * (chunk+1). */
    size_t slots = m + n_cmds;
    if (m > SIZE_MAX / sizeof(size_t) / 2) {
        fmx_err(err, "store mget: too many keys");
        goto done;
    }
    idx = malloc(m * sizeof(*idx));
    argv = malloc(slots * sizeof(*argv));
    lens = malloc(slots * sizeof(*lens));
    argcs = malloc(n_cmds * sizeof(*argcs));
    argvs = malloc(n_cmds * sizeof(*argvs));
    lensv = malloc(n_cmds * sizeof(*lensv));
    replies = calloc(n_cmds, sizeof(*replies));
    if (!idx || !argv || !lens || !argcs || !argvs || !lensv || !replies) {
        fmx_err(err, "out of memory");
        goto done;
    }
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (key_lens[i] > 0) idx[m++] = i;
    size_t at = 0;
    for (size_t j = 0; j < n_cmds; j++) {
        size_t from = j * S_MGET_CHUNK, to = from + S_MGET_CHUNK < m ? from + S_MGET_CHUNK : m;
        argvs[j] = argv + at;
        lensv[j] = lens + at;
        argcs[j] = (int)(to - from + 1);
        argv[at] = "MGET";
        lens[at++] = 4;
        for (size_t k = from; k < to; k++) {
            argv[at] = keys[idx[k]];
            lens[at++] = key_lens[idx[k]];
        }
    }
    char what[32];
    snprintf(what, sizeof(what), "MGET (%zu keys)", m);
    s_batch_t b = {n_cmds, argcs, argvs, lensv, what};
    if (s_roundtrip(t, &b, replies, err) != 0) goto done;
    /* Check every reply before taking any value, so a bad one leaves vals all NULL. */
    for (size_t j = 0; j < n_cmds; j++) {
        redisReply *r = replies[j];
        size_t want = (size_t)argcs[j] - 1;
        if (r->type != REDIS_REPLY_ARRAY) {
            s_reply_err(s_store(t), r, what, err);
            goto done;
        }
        if (r->elements != want) {
            fmx_err(err, "redis %s on %s:%d: %zu values for %zu keys", what, s_store(t)->url.host,
                    s_store(t)->url.port, r->elements, want);
            goto done;
        }
        for (size_t k = 0; k < want; k++) {
            int type = r->element[k]->type;
            if (type != REDIS_REPLY_STRING && type != REDIS_REPLY_NIL) {
                s_reply_err(s_store(t), r->element[k], what, err);
                goto done;
            }
        }
    }
    for (size_t j = 0; j < n_cmds; j++) {
        redisReply *r = replies[j];
        for (size_t k = 0; k < r->elements; k++) {
            const redisReply *e = r->element[k];
            if (e->type != REDIS_REPLY_STRING) continue;
            size_t i = idx[j * S_MGET_CHUNK + k];
            vals[i] = e->str;
            val_lens[i] = e->len;
        }
        replies[j] = NULL;
        if (s_hold(t, r, err) != 0) { /* frees r: forget what pointed into it */
            for (size_t i = 0; i < n; i++) {
                vals[i] = NULL;
                val_lens[i] = 0;
            }
            goto done;
        }
    }
    rc = 0;
done:
    for (size_t j = 0; replies && j < n_cmds; j++)
        if (replies[j]) freeReplyObject(replies[j]);
    free(replies);
    free(lensv);
    free(argvs);
    free(argcs);
    free(lens);
    free(argv);
    free(idx);
    return rc;
}

/* Reads the replies of every pending queued command: each must be QUEUED. */
static int s_drain(s_txn_t *t, char err[FMX_ERR_LEN]) {
    if (t->broken) return fmx_err(err, "redis write: the connection failed earlier in this transaction");
    s_sigpipe_t g;
    s_sigpipe_block(s_store(t), &g);
    int rc = 0;
    while (t->pending > 0) {
        void *p = NULL;
        if (redisGetReply(t->c, &p) != REDIS_OK || !p) {
            rc = s_io_err(s_store(t), t->c, "write", err);
            break;
        }
        redisReply *r = p;
        t->pending--;
        bool ok = s_status_is(r, "QUEUED");
        if (!ok) rc = s_reply_err(s_store(t), r, "write", err);
        freeReplyObject(r);
        if (!ok) break;
    }
    s_sigpipe_restore(&g);
    if (rc != 0) t->broken = true; /* the server discards the MULTI when the connection closes */
    t->pending_bytes = 0;
    return rc;
}

static int s_append(s_txn_t *t, int argc, const char **argv, const size_t *lens, size_t bytes, char err[FMX_ERR_LEN]) {
    if (t->broken) return fmx_err(err, "redis write: the connection failed earlier in this transaction");
    if (redisAppendCommandArgv(t->c, argc, argv, lens) != REDIS_OK) {
        t->broken = true;
        return s_io_err(s_store(t), t->c, "write", err);
    }
    t->pending++;
    t->queued++;
    t->pending_bytes += bytes;
    if (t->pending >= S_DRAIN_CMDS || t->pending_bytes >= S_DRAIN_BYTES) return s_drain(t, err);
    return 0;
}

static int s_put(fmx_store_txn_t *base, const char *key, size_t key_len, const void *val, size_t val_len,
                 char err[FMX_ERR_LEN]) {
    const char *argv[] = {"SET", key, val};
    size_t lens[] = {3, key_len, val_len};
    return s_append((s_txn_t *)base, 3, argv, lens, key_len + val_len, err);
}

static int s_clear(fmx_store_txn_t *base, char err[FMX_ERR_LEN]) {
    const char *argv[] = {"FLUSHDB"};
    size_t lens[] = {7};
    return s_append((s_txn_t *)base, 1, argv, lens, 0, err);
}

static int s_commit(fmx_store_txn_t *base, char err[FMX_ERR_LEN]) {
    s_txn_t *t = (s_txn_t *)base;
    s_store_t *self = s_store(t);
    int rc = -1;
    const char *argv[] = {"EXEC"};
    size_t lens[] = {4};
    if (t->broken) {
        fmx_err(err, "redis EXEC: the connection failed earlier in this transaction");
        goto done;
    }
    if (redisAppendCommandArgv(t->c, 1, argv, lens) != REDIS_OK) {
        t->broken = true;
        s_io_err(self, t->c, "EXEC", err);
        goto done;
    }
    if (s_drain(t, err) != 0) goto done;
    s_sigpipe_t g;
    s_sigpipe_block(self, &g);
    void *p = NULL;
    int got = redisGetReply(t->c, &p);
    s_sigpipe_restore(&g);
    if (got != REDIS_OK || !p) {
        t->broken = true;
        s_io_err(self, t->c, "EXEC", err);
        goto done;
    }
    redisReply *r = p;
    if (r->type != REDIS_REPLY_ARRAY) {
        s_reply_err(self, r, "EXEC", err); /* EXECABORT, or nil when the transaction was aborted */
    } else if (r->elements != t->queued) {
        fmx_err(err, "redis EXEC on %s:%d: %zu results for %zu commands", self->url.host, self->url.port, r->elements,
                t->queued);
    } else {
        rc = 0;
        for (size_t i = 0; i < r->elements && rc == 0; i++)
            if (!s_status_is(r->element[i], "OK")) rc = s_reply_err(self, r->element[i], "EXEC", err);
    }
    freeReplyObject(r);
done:
    s_release(t);
    return rc;
}

static void s_end(fmx_store_txn_t *base) {
    s_txn_t *t = (s_txn_t *)base;
    if (t->base.write && !t->broken) {
        /* DISCARD after the pending QUEUED replies; any trouble and the connection is closed,
         * which discards the transaction on the server just as well. */
        char err[FMX_ERR_LEN];
        const char *argv[] = {"DISCARD"};
        size_t lens[] = {7};
        if (redisAppendCommandArgv(t->c, 1, argv, lens) != REDIS_OK || s_drain(t, err) != 0) {
            t->broken = true;
        } else {
            s_sigpipe_t g;
            s_sigpipe_block(s_store(t), &g);
            void *p = NULL;
            if (redisGetReply(t->c, &p) != REDIS_OK || !s_status_is(p, "OK")) t->broken = true;
            s_sigpipe_restore(&g);
            if (p) freeReplyObject(p);
        }
    }
    s_release(t);
}

static const fmx_store_ops_t s_ops = {
    .name = "redis",
    .close = s_close,
    .begin = s_begin,
    .get = s_get,
    .mget = s_mget,
    .put = s_put,
    .clear = s_clear,
    .commit = s_commit,
    .end = s_end,
};
