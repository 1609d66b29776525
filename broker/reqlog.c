/* reqlog.c - the JSON-lines request log (see reqlog.h). */
#include "broker/reqlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/jsonbuf.h"

#define S_FLUSH_AT (64u << 10) /* write out before the next pass once this much is buffered */
#define S_BUF_MAX (8u << 20)   /* a line that would grow the buffer past this is dropped */

struct fmx_reqlog {
    char path[4096];          /* "" for stderr */
    int fd;
    fmx_log_level_t level;
    fmx_jsonbuf_t buf;
    uint64_t pending;         /* lines in buf */
    bool need_newline;        /* a failed write left half a line in the file */
    bool failing;             /* the last write failed (so the next failure is not reported again) */
    const char *skip_feed;    /* the refused request whose rejection is already logged */
    fmx_reqlog_stats_t stats;
};

static int s_open(const char *path, char err[FMX_ERR_LEN]) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fmx_err(err, "open(%s) failed: %s", path, strerror(errno));
    return fd;
}

fmx_reqlog_t *fmx_reqlog_new(const char *dest, fmx_log_level_t level, char err[FMX_ERR_LEN]) {
    err[0] = '\0';
    if (strcmp(dest, "off") == 0 || level >= FMX_LOG_OFF) return NULL;
    fmx_reqlog_t *self = calloc(1, sizeof *self);
    if (!self) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    self->fd = -1;
    self->level = level;
    fmx_jsonbuf_init(&self->buf, S_BUF_MAX);
    if (strcmp(dest, "stderr") == 0) {
        self->fd = STDERR_FILENO;
        return self;
    }
    if (strlen(dest) >= sizeof self->path) {
        fmx_err(err, "request log path is too long");
        goto fail;
    }
    snprintf(self->path, sizeof self->path, "%s", dest);
    const char *slash = strrchr(dest, '/');
    if (slash && slash != dest) {
        char dir[sizeof self->path];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - dest), dest);
        if (fmx_mkdir_p(dir, err) != 0) goto fail;
    }
    self->fd = s_open(self->path, err);
    if (self->fd < 0) goto fail;
    return self;
fail:
    fmx_reqlog_destroy(&self);
    return NULL;
}

void fmx_reqlog_destroy(fmx_reqlog_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_reqlog_t *self = *self_p;
    fmx_reqlog_flush(self, NULL);
    if (self->fd >= 0 && self->fd != STDERR_FILENO) close(self->fd);
    fmx_jsonbuf_fini(&self->buf);
    free(self);
    *self_p = NULL;
}

bool fmx_reqlog_wants(const fmx_reqlog_t *self, const char *status) {
    if (!self) return false;
    if (self->level <= FMX_LOG_INFO) return true;
    if (self->level == FMX_LOG_WARN) return strcmp(status, "ok") != 0;
    return strcmp(status, "error") == 0;
}

/* Writes all of buf[0..len) or fails; EINTR is retried, a short write continues. Returns the
 * bytes written (len on success) and sets *failed_errno. */
static size_t s_write_all(int fd, const char *buf, size_t len, int *failed_errno) {
    size_t off = 0;
    *failed_errno = 0;
    while (off < len) {
        ssize_t n = write(fd, buf + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            *failed_errno = n < 0 ? errno : EIO;
            break;
        }
        off += (size_t)n;
    }
    return off;
}

int fmx_reqlog_flush(fmx_reqlog_t *self, char err[FMX_ERR_LEN]) {
    if (!self || self->buf.len == 0) return 0;
    int e = 0;
    if (self->need_newline) {
        s_write_all(self->fd, "\n", 1, &e);
        if (e == 0) self->need_newline = false;
    }
    size_t done = e == 0 ? s_write_all(self->fd, self->buf.data, self->buf.len, &e) : 0;
    int rc = 0;
    if (e == 0) {
        self->stats.lines += self->pending;
        self->failing = false;
    } else {
        /* Count what did not make it whole; a cut line is ended before the next write. */
        uint64_t whole = 0;
        for (size_t i = 0; i < done; i++) whole += self->buf.data[i] == '\n';
        self->stats.lines += whole;
        self->stats.dropped += self->pending - whole;
        self->stats.write_errors++;
        if (done && self->buf.data[done - 1] != '\n') self->need_newline = true;
        if (!self->failing) rc = fmx_err(err, "request log %s: write failed: %s (lines are dropped until it works)",
                                         self->path[0] ? self->path : "stderr", strerror(e));
        self->failing = true;
    }
    fmx_jsonbuf_reset(&self->buf);
    self->pending = 0;
    return rc;
}

int fmx_reqlog_reopen(fmx_reqlog_t *self, char err[FMX_ERR_LEN]) {
    if (!self || !self->path[0]) return 0;
    fmx_reqlog_flush(self, NULL);
    int fd = s_open(self->path, err);
    if (fd < 0) return -1;
    close(self->fd);
    self->fd = fd;
    self->need_newline = false; /* a fresh file, or one whose last line we cannot fix anyway */
    return 0;
}

void fmx_reqlog_stats(const fmx_reqlog_t *self, fmx_reqlog_stats_t *out) {
    if (self)
        *out = self->stats;
    else
        memset(out, 0, sizeof *out);
}

/* ,"key":"value" or ,"key":null */
static void s_kv(fmx_jsonbuf_t *b, const char *key, fmx_str_t v) {
    fmx_jsonbuf_raw(b, ",", 1);
    fmx_jsonbuf_key(b, key);
    if (v.ptr)
        fmx_jsonbuf_str(b, v.ptr, v.len);
    else
        fmx_jsonbuf_lit(b, "null");
}

void fmx_reqlog_append(fmx_reqlog_t *self, const fmx_reqlog_entry_t *e) {
    if (!self) return;
    fmx_jsonbuf_t *b = &self->buf;
    size_t mark = b->len;
    char ts[96]; /* sized for any int the compiler can imagine in struct tm */
    time_t secs = (time_t)(e->wall_us / 1000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(e->wall_us % 1000000u));
    fmx_jsonbuf_lit(b, "{\"ts\":\"");
    fmx_jsonbuf_lit(b, ts);
    fmx_jsonbuf_lit(b, "\"");
    s_kv(b, "request_id", e->request_id);
    s_kv(b, "ranking_id", e->ranking_id);
    s_kv(b, "feed", e->feed);
    s_kv(b, "user_id", e->user_id);
    fmx_jsonbuf_lit(b, ",\"experiments\":{");
    for (size_t i = 0; i < e->n_experiments; i++) {
        if (i) fmx_jsonbuf_raw(b, ",", 1);
        fmx_jsonbuf_key(b, e->exp_names[i]);
        fmx_jsonbuf_cstr(b, e->exp_variants[i]);
    }
    fmx_jsonbuf_lit(b, "},\"status\":");
    fmx_jsonbuf_cstr(b, e->status);
    if (e->error) {
        fmx_jsonbuf_lit(b, ",\"error\":");
        fmx_jsonbuf_cstr(b, e->error);
    }
    fmx_jsonbuf_lit(b, ",\"latency_us\":");
    fmx_jsonbuf_u64(b, e->latency_us);
    fmx_jsonbuf_lit(b, ",\"fallbacks\":[");
    for (size_t i = 0; i < e->n_fallbacks; i++) {
        if (i) fmx_jsonbuf_raw(b, ",", 1);
        fmx_jsonbuf_cstr(b, e->fallbacks[i]);
    }
    fmx_jsonbuf_lit(b, "],\"sampled\":");
    fmx_jsonbuf_bool(b, e->sampled);
    fmx_jsonbuf_lit(b, "}\n");
    if (b->failed) {
        /* Too large or out of memory: drop this line, keep the others. */
        b->len = mark;
        b->failed = false;
        self->stats.dropped++;
        return;
    }
    self->pending++;
    if (b->len >= S_FLUSH_AT) fmx_reqlog_flush(self, NULL);
}

/* The entry fields every run-based line shares: ids, user, experiments. */
static void s_entry_of_run(fmx_reqlog_entry_t *e, const fmx_run_t *run, const char **names, const char **variants) {
    e->wall_us = fmx_clock_wall_us();
    e->request_id = (fmx_str_t){run->request_id, strlen(run->request_id)};
    e->feed = run->req.feed;
    e->user_id = run->req.user_id;
    size_t n = run->res.n_experiments < FMX_MAX_EXPERIMENTS ? run->res.n_experiments : FMX_MAX_EXPERIMENTS;
    for (size_t i = 0; i < n; i++) {
        names[i] = run->res.experiments[i].experiment;
        variants[i] = run->res.experiments[i].variant;
    }
    e->exp_names = names;
    e->exp_variants = variants;
    e->n_experiments = n;
    e->latency_us = fmx_clock_now_us() - run->start_us;
}

void fmx_reqlog_run(fmx_reqlog_t *self, const fmx_run_t *run, const char *status, fmx_error_code_t code,
                    bool sampled) {
    if (!fmx_reqlog_wants(self, status)) return;
    self->skip_feed = NULL;
    const char *names[FMX_MAX_EXPERIMENTS], *variants[FMX_MAX_EXPERIMENTS];
    fmx_reqlog_entry_t e = {.status = status, .sampled = sampled};
    s_entry_of_run(&e, run, names, variants);
    e.ranking_id = (fmx_str_t){run->ranking_id, strlen(run->ranking_id)};
    if (strcmp(status, "error") == 0) e.error = fmx_error_code_name(code);
    /* Fallbacks as the reply names them: the node that failed the feed over, then every node
     * whose output is a fallback. */
    const char *local[64], **fallbacks = local;
    size_t n_nodes = run->plan && run->nodes ? run->plan->n_nodes : 0, n = 0;
    if (n_nodes + 1 > FMX_ARRAY_LEN(local)) {
        fallbacks = malloc((n_nodes + 1) * sizeof *fallbacks);
        if (!fallbacks) {
            self->stats.dropped++;
            return;
        }
    }
    if (run->failover_node[0]) fallbacks[n++] = run->failover_node;
    for (size_t i = 0; i < n_nodes; i++) {
        const fmx_node_run_t *nd = &run->nodes[i];
        if (nd->state == FMX_NODE_DONE && nd->outcome && strcmp(nd->outcome, "ok") != 0)
            fallbacks[n++] = run->plan->nodes[i].name;
    }
    e.fallbacks = fallbacks;
    e.n_fallbacks = n;
    fmx_reqlog_append(self, &e);
    if (fallbacks != local) free(fallbacks);
}

void fmx_reqlog_refused(fmx_reqlog_t *self, const fmx_run_t *run, fmx_error_code_t code) {
    if (!fmx_reqlog_wants(self, "error")) return;
    const char *names[FMX_MAX_EXPERIMENTS], *variants[FMX_MAX_EXPERIMENTS];
    fmx_reqlog_entry_t e = {.status = "error", .error = fmx_error_code_name(code)};
    s_entry_of_run(&e, run, names, variants);
    fmx_reqlog_append(self, &e);
    self->skip_feed = run->req.feed.ptr;
}

void fmx_reqlog_rejected(fmx_reqlog_t *self, fmx_str_t feed, fmx_error_code_t code) {
    if (!fmx_reqlog_wants(self, "error")) return;
    if (self->skip_feed && feed.ptr == self->skip_feed) { /* fmx_reqlog_refused wrote it */
        self->skip_feed = NULL;
        return;
    }
    self->skip_feed = NULL;
    fmx_reqlog_entry_t e = {.wall_us = fmx_clock_wall_us(), .feed = feed.len ? feed : FMX_STR_NULL,
                            .status = "error", .error = fmx_error_code_name(code)};
    fmx_reqlog_append(self, &e);
}
