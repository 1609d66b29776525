/* events.c - the engagement events log (broker/events.h): a byte ring between the broker thread
 * (producer) and one writer thread (consumer).
 *
 * The lock guards only the ring's indices and the counters; the writer never holds it during
 * write(2) or fdatasync(2). The bytes between tail and tail + in_flight belong to the writer while
 * it writes them, and the producer only ever copies into the free part, so neither side touches
 * the other's bytes. */
#include "broker/events.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/jsonbuf.h"

struct fmx_events {
    int fd;
    fmx_events_opts_t opts;
    char *ring;
    size_t cap, head, tail, used; /* used bytes start at tail; head = (tail + used) % cap */
    size_t in_flight;             /* bytes from tail the writer is writing now */
    uint64_t bytes_queued, bytes_done; /* totals, for fmx_events_flush */
    fmx_events_stats_t stats;
    bool stop, started;
    bool idle;              /* the writer waits on `wake`: only then does append signal it */
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* producer -> writer: lines queued, or stop */
    pthread_cond_t drained; /* writer -> flushers: bytes_done advanced */
    pthread_t thread;
};

int fmx_fsync_parse(const char *s, fmx_fsync_t *out) {
    if (strcmp(s, "always") == 0) *out = FMX_FSYNC_ALWAYS;
    else if (strcmp(s, "interval") == 0) *out = FMX_FSYNC_INTERVAL;
    else if (strcmp(s, "never") == 0) *out = FMX_FSYNC_NEVER;
    else return -1;
    return 0;
}

const char *fmx_fsync_name(fmx_fsync_t policy) {
    switch (policy) {
    case FMX_FSYNC_ALWAYS: return "always";
    case FMX_FSYNC_INTERVAL: return "interval";
    case FMX_FSYNC_NEVER: return "never";
    }
    return "?";
}

/* --- writer ------------------------------------------------------------------------------------ */

/* The clock `wake` and `drained` wait on (CLOCK_MONOTONIC), in ms. */
static uint64_t s_mono_ms(void) {
    return fmx_clock_now_us() / 1000u;
}

static void s_deadline(struct timespec *ts, uint64_t at_ms) {
    ts->tv_sec = (time_t)(at_ms / 1000u);
    ts->tv_nsec = (long)(at_ms % 1000u) * 1000000L;
}

/* Writes ring[tail .. tail+n) (wrapping) whole; 0, or -1 on a write error. Called unlocked. */
static int s_write(fmx_events_t *ev, size_t tail, size_t n) {
    size_t first = n <= ev->cap - tail ? n : ev->cap - tail;
    struct iovec iov[2] = {{ev->ring + tail, first}, {ev->ring, n - first}};
    int cnt = n > first ? 2 : 1;
    struct iovec *v = iov;
    while (cnt > 0) {
        ssize_t w = writev(ev->fd, v, cnt);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        size_t done = (size_t)w;
        while (cnt > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
    return 0;
}

static size_t s_count_lines(const fmx_events_t *ev, size_t tail, size_t n) {
    size_t lines = 0, first = n <= ev->cap - tail ? n : ev->cap - tail;
    const char *seg[2] = {ev->ring + tail, ev->ring};
    size_t len[2] = {first, n - first};
    for (int k = 0; k < 2; k++)
        for (const char *p = seg[k], *end = seg[k] + len[k]; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
            lines++;
    return lines;
}

static void *s_writer(void *arg) {
    fmx_events_t *ev = arg;
    bool dirty = false; /* written since the last sync */
    uint64_t next_sync = 0;
    pthread_mutex_lock(&ev->lock);
    for (;;) {
        while (ev->used == 0 && !ev->stop) {
            ev->idle = true;
            if (dirty && ev->opts.fsync == FMX_FSYNC_INTERVAL) {
                uint64_t now = s_mono_ms();
                if (now >= next_sync) break;
                struct timespec ts;
                s_deadline(&ts, next_sync);
                pthread_cond_timedwait(&ev->wake, &ev->lock, &ts);
            } else {
                pthread_cond_wait(&ev->wake, &ev->lock);
            }
        }
        ev->idle = false;
        size_t tail = ev->tail, n = ev->used;
        bool stopping = ev->stop && n == 0;
        ev->in_flight = n;
        pthread_mutex_unlock(&ev->lock);

        int werr = 0;
        size_t lines = 0;
        if (n > 0) {
            lines = s_count_lines(ev, tail, n);
            werr = s_write(ev, tail, n);
            dirty = dirty || werr == 0;
        }
        int synced = 0, serr = 0;
        uint64_t now = s_mono_ms();
        bool sync = dirty && (ev->opts.fsync == FMX_FSYNC_ALWAYS ||
                              (ev->opts.fsync == FMX_FSYNC_INTERVAL && (now >= next_sync || stopping)) ||
                              (stopping && ev->opts.fsync != FMX_FSYNC_NEVER));
        if (sync) {
            synced = 1;
            serr = fdatasync(ev->fd) != 0;
            dirty = false;
            next_sync = now + ev->opts.fsync_interval_ms;
        }

        pthread_mutex_lock(&ev->lock);
        ev->tail = (tail + n) % ev->cap;
        ev->used -= n;
        ev->in_flight = 0;
        ev->bytes_done += n;
        if (werr) ev->stats.write_errors++;
        else ev->stats.written += lines;
        ev->stats.fsyncs += (uint64_t)synced;
        ev->stats.fsync_errors += (uint64_t)serr;
        pthread_cond_broadcast(&ev->drained);
        if (stopping) break;
    }
    pthread_mutex_unlock(&ev->lock);
    return NULL;
}

/* --- life cycle -------------------------------------------------------------------------------- */

/* mkdir -p of path's directory. */
static int s_mkdir_parents(const char *path, char err[FMX_ERR_LEN]) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    char dir[4096];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir) return fmx_err(err, "events log path is too long");
    memcpy(dir, path, n);
    dir[n] = '\0';
    return fmx_mkdir_p(dir, err);
}

fmx_events_t *fmx_events_new(const char *path, const fmx_events_opts_t *opts, char err[FMX_ERR_LEN]) {
    if (opts->queue_bytes < FMX_EVENTS_LINE_MAX) {
        fmx_err(err, "events queue of %zu bytes is smaller than one line (%d)", opts->queue_bytes, FMX_EVENTS_LINE_MAX);
        return NULL;
    }
    if (opts->fsync == FMX_FSYNC_INTERVAL && opts->fsync_interval_ms == 0) {
        fmx_err(err, "events fsync interval must be at least 1 ms");
        return NULL;
    }
    fmx_events_t *ev = calloc(1, sizeof *ev);
    if (!ev) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    ev->fd = -1;
    ev->opts = *opts;
    ev->cap = opts->queue_bytes;
    pthread_mutex_init(&ev->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->wake, &ca);
    pthread_cond_init(&ev->drained, &ca);
    pthread_condattr_destroy(&ca);
    ev->ring = malloc(ev->cap);
    if (!ev->ring) {
        fmx_err(err, "out of memory for a %zu-byte events queue", ev->cap);
        goto fail;
    }
    if (s_mkdir_parents(path, err) != 0) goto fail;
    ev->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (ev->fd < 0) {
        fmx_err(err, "open(%s) failed: %s", path, strerror(errno));
        goto fail;
    }
    if (pthread_create(&ev->thread, NULL, s_writer, ev) != 0) {
        fmx_err(err, "cannot start the events writer thread");
        goto fail;
    }
    ev->started = true;
    return ev;
fail:
    fmx_events_destroy(&ev);
    return NULL;
}

void fmx_events_destroy(fmx_events_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_events_t *ev = *self_p;
    if (ev->started) {
        pthread_mutex_lock(&ev->lock);
        ev->stop = true;
        pthread_cond_signal(&ev->wake);
        pthread_mutex_unlock(&ev->lock);
        pthread_join(ev->thread, NULL);
    }
    if (ev->fd >= 0) close(ev->fd);
    pthread_cond_destroy(&ev->wake);
    pthread_cond_destroy(&ev->drained);
    pthread_mutex_destroy(&ev->lock);
    free(ev->ring);
    free(ev);
    *self_p = NULL;
}

/* --- producer ---------------------------------------------------------------------------------- */

int fmx_events_append(fmx_events_t *ev, const char *line, size_t len) {
    pthread_mutex_lock(&ev->lock);
    if (len > ev->cap - ev->used) {
        ev->stats.full++;
        pthread_mutex_unlock(&ev->lock);
        return -1;
    }
    size_t first = len <= ev->cap - ev->head ? len : ev->cap - ev->head;
    memcpy(ev->ring + ev->head, line, first);
    memcpy(ev->ring, line + first, len - first);
    ev->head = (ev->head + len) % ev->cap;
    ev->used += len;
    ev->bytes_queued += len;
    ev->stats.queued++;
    /* A busy writer finds the line when it comes back for the next batch: no wake-up needed. */
    if (ev->idle) pthread_cond_signal(&ev->wake);
    pthread_mutex_unlock(&ev->lock);
    return 0;
}

int fmx_events_flush(fmx_events_t *ev, int timeout_ms) {
    struct timespec ts;
    s_deadline(&ts, s_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0));
    pthread_mutex_lock(&ev->lock);
    uint64_t target = ev->bytes_queued;
    int rc = 0;
    while (ev->bytes_done < target && rc == 0)
        rc = pthread_cond_timedwait(&ev->drained, &ev->lock, &ts) == 0 ? 0 : -1;
    if (ev->bytes_done >= target) rc = 0;
    pthread_mutex_unlock(&ev->lock);
    return rc;
}

fmx_events_stats_t fmx_events_stats(fmx_events_t *ev) {
    pthread_mutex_lock(&ev->lock);
    fmx_events_stats_t s = ev->stats;
    s.pending_bytes = ev->used;
    pthread_mutex_unlock(&ev->lock);
    return s;
}

/* --- formatting -------------------------------------------------------------------------------- */

static void s_key_str(fmx_jsonbuf_t *o, const char *key, fmx_str_t v) {
    fmx_jsonbuf_raw(o, ",", 1);
    fmx_jsonbuf_key(o, key);
    fmx_jsonbuf_str(o, v.ptr, v.len);
}

size_t fmx_events_format(char *buf, size_t cap, int64_t ts_ms, fmx_str_t event, const fmx_token_fields_t *f,
                         fmx_str_t user_id, fmx_str_t request_id) {
    /* The broker's line buffer, filled in place: no allocation per event. */
    fmx_jsonbuf_t o;
    fmx_jsonbuf_init_fixed(&o, buf, cap);
    if (ts_ms < 0) ts_ms = 0;
    char ts[64];
    int n = snprintf(ts, sizeof ts, "{\"ts\":%" PRId64 ".%03" PRId64 ",\"event\":", ts_ms / 1000, ts_ms % 1000);
    fmx_jsonbuf_raw(&o, ts, (size_t)n);
    fmx_jsonbuf_str(&o, event.ptr, event.len);
    s_key_str(&o, "ranking_id", f->ranking_id);
    s_key_str(&o, "feed", f->feed);
    s_key_str(&o, "source", f->source);
    s_key_str(&o, "model", f->model);
    fmx_jsonbuf_lit(&o, ",\"position\":");
    fmx_jsonbuf_i64(&o, f->depth ? f->path[0] : 0);
    if (f->depth > 1) {
        fmx_jsonbuf_lit(&o, ",\"child_position\":");
        fmx_jsonbuf_i64(&o, f->path[f->depth - 1]);
        fmx_jsonbuf_lit(&o, ",\"path\":[");
        for (size_t d = 0; d < f->depth; d++) {
            if (d) fmx_jsonbuf_raw(&o, ",", 1);
            fmx_jsonbuf_i64(&o, f->path[d]);
        }
        fmx_jsonbuf_raw(&o, "]", 1);
    }
    fmx_jsonbuf_lit(&o, ",\"variants\":{");
    for (size_t i = 0; i < f->n_variants; i++) {
        if (i) fmx_jsonbuf_raw(&o, ",", 1);
        fmx_jsonbuf_str(&o, f->experiments[i].ptr, f->experiments[i].len);
        fmx_jsonbuf_raw(&o, ":", 1);
        fmx_jsonbuf_str(&o, f->variants[i].ptr, f->variants[i].len);
    }
    fmx_jsonbuf_lit(&o, "},\"issued\":");
    fmx_jsonbuf_i64(&o, f->issued);
    if (user_id.len) s_key_str(&o, "user_id", user_id);
    if (request_id.len) s_key_str(&o, "request_id", request_id);
    fmx_jsonbuf_lit(&o, "}\n");
    return o.failed ? 0 : o.len;
}
