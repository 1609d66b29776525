/* trace.c - sampled execution traces (see trace.h). */
#include "broker/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chrome.h"
#include "common/clock.h"
#include "common/jsonbuf.h"

#define S_MAX_USERS 64
#define S_USER_MAX 128
#define S_MAX_ENTRIES 16384 /* per record and kind: a bound, far above any plan */
#define S_NAME_MAX 128
#define S_WORD_MAX 24       /* outcomes, fallback kinds */
#define S_QUEUE 256         /* files waiting for the writer thread; past that traces are dropped */
#define S_FILE_NAME_MAX (FMX_ID_MAX * 2 + 96)

/* A file for the writer thread: its name in dir and its bytes (owned). */
typedef struct {
    char name[S_FILE_NAME_MAX];
    char *data;
    size_t len;
} s_job_t;

/* Everything the Chrome writer needs, built from the record (the tracer keeps one). */
typedef struct s_build {
    fmx_chrome_process_t procs[FMX_CHROME_MAX_PROCESSES];
    char proc_names[FMX_CHROME_MAX_PROCESSES][FMX_REPLICA_NAME_MAX + 96];
    size_t n_procs;
    const char **threads;
    fmx_chrome_span_t *spans;
    size_t n_spans;
} s_build_t;

struct fmx_trace {
    char dir[4096];
    double rate;
    uint64_t rng;
    char users[S_MAX_USERS][S_USER_MAX + 1];
    size_t n_users;
    fmx_jsonbuf_t buf;        /* the next file's text; handed to the writer whole */
    s_build_t *build;         /* scratch for building a file, reused */
    fmx_trace_stats_t stats;  /* broker thread's; written/errors are copied from the writer's */
    uint64_t errors_reported; /* writer errors already returned to the caller */
    /* The writer thread: creating a file costs tens to hundreds of microseconds in the kernel
     * (inode allocation), and a slow disk would stall the loop, so the broker only queues. */
    pthread_t writer;
    bool writer_started;
    pthread_mutex_t mu;       /* guards everything below */
    pthread_cond_t cv;
    s_job_t queue[S_QUEUE];
    size_t head, count;
    bool stopping;
    uint64_t written, errors;
    char last_error[FMX_ERR_LEN];
};

/* A node name, as a row (thread) of the trace. */
typedef struct {
    char name[S_NAME_MAX];
    char type[S_NAME_MAX / 2];
    char fallback[S_WORD_MAX]; /* the kind its fallback applied, until its node entry takes it */
} s_thread_t;

/* One copy of a task sent to a replica. */
typedef struct {
    uint32_t thread;
    char replica[FMX_REPLICA_NAME_MAX];
    int64_t pid;
    uint64_t dispatch_us, result_us, actor_us, bytes;
    uint8_t attempt;
    bool hedge, has_result;
    char outcome[S_WORD_MAX];
} s_copy_t;

/* One node as the broker saw it, from ready to done (or to the end of the request). */
typedef struct {
    uint32_t thread;
    uint64_t ready_us, dispatch_us, done_us, bytes;
    uint8_t attempt;
    bool in_broker; /* a carousel: no actor */
    char status[S_WORD_MAX], outcome[S_WORD_MAX], fallback[S_WORD_MAX];
} s_node_t;

struct fmx_trace_rec {
    uint64_t start_us, wall_start_us;
    s_thread_t *threads;
    size_t n_threads, cap_threads;
    s_copy_t *copies;
    size_t n_copies, cap_copies;
    s_node_t *nodes;
    size_t n_nodes, cap_nodes;
    const fmx_plan_t *mapped; /* the plan thread_of maps (a failover brings another) */
    uint32_t *thread_of;      /* plan node index -> thread */
    bool broken;              /* out of memory or past a bound: written as far as it got */
};

/* --- the writer thread -------------------------------------------------------------------- */

static int s_write_file(const char *dir, const s_job_t *job, char err[FMX_ERR_LEN]) {
    char path[4096 + S_FILE_NAME_MAX + 2], tmp[sizeof path + 32];
    snprintf(path, sizeof path, "%s/%s", dir, job->name);
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    /* Written aside and renamed, so a reader never sees half a file. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fmx_err(err, "open(%s) failed: %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < job->len) {
        ssize_t n = write(fd, job->data + off, job->len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fmx_err(err, "write(%s) failed: %s", tmp, n < 0 ? strerror(errno) : "no progress");
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)n;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        fmx_err(err, "writing %s failed: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Writes queued files until told to stop, then drains the queue. dir never changes after start. */
static void *s_writer_main(void *arg) {
    fmx_trace_t *self = arg;
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while (self->count == 0 && !self->stopping) pthread_cond_wait(&self->cv, &self->mu);
        if (self->count == 0) break;
        s_job_t job = self->queue[self->head];
        self->head = (self->head + 1) % S_QUEUE;
        self->count--;
        pthread_mutex_unlock(&self->mu);
        char err[FMX_ERR_LEN];
        int rc = s_write_file(self->dir, &job, err);
        free(job.data);
        pthread_mutex_lock(&self->mu);
        if (rc == 0) {
            self->written++;
        } else {
            self->errors++;
            memcpy(self->last_error, err, sizeof err);
        }
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

/* --- the tracer ---------------------------------------------------------------------------- */

fmx_trace_t *fmx_trace_new(const char *dir, double sample_rate, const char *const *users, size_t n_users,
                           uint64_t seed, char err[FMX_ERR_LEN]) {
    if (!(sample_rate >= 0.0 && sample_rate <= 1.0)) {
        fmx_err(err, "trace sample rate %g is not in 0..1", sample_rate);
        return NULL;
    }
    if (n_users > S_MAX_USERS) {
        fmx_err(err, "at most %d traced users", S_MAX_USERS);
        return NULL;
    }
    if (strlen(dir) >= sizeof ((fmx_trace_t *)0)->dir - 200) { /* room for the file name */
        fmx_err(err, "trace directory name is too long");
        return NULL;
    }
    fmx_trace_t *self = calloc(1, sizeof *self);
    if (!self) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    snprintf(self->dir, sizeof self->dir, "%s", dir);
    self->rate = sample_rate;
    self->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    fmx_jsonbuf_init(&self->buf, 64u << 20);
    for (size_t i = 0; i < n_users; i++) {
        if (strlen(users[i]) > S_USER_MAX) {
            fmx_err(err, "traced user id '%.32s...' is too long", users[i]);
            goto fail;
        }
        snprintf(self->users[self->n_users++], S_USER_MAX + 1, "%s", users[i]);
    }
    if (fmx_mkdir_p(dir, err) != 0) goto fail;
    self->build = calloc(1, sizeof *self->build);
    if (!self->build) {
        fmx_err(err, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    if (pthread_create(&self->writer, NULL, s_writer_main, self) != 0) {
        fmx_err(err, "pthread_create failed for the trace writer");
        goto fail;
    }
    self->writer_started = true;
    return self;
fail:
    fmx_trace_destroy(&self);
    return NULL;
}

void fmx_trace_destroy(fmx_trace_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_trace_t *self = *self_p;
    if (self->build) { /* the mutex exists from here on */
        if (self->writer_started) {
            pthread_mutex_lock(&self->mu);
            self->stopping = true;
            pthread_cond_signal(&self->cv);
            pthread_mutex_unlock(&self->mu);
            pthread_join(self->writer, NULL); /* it writes what is queued first */
        }
        pthread_cond_destroy(&self->cv);
        pthread_mutex_destroy(&self->mu);
    }
    free(self->build);
    fmx_jsonbuf_fini(&self->buf);
    free(self);
    *self_p = NULL;
}

void fmx_trace_stats(fmx_trace_t *self, fmx_trace_stats_t *out) {
    if (!self) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = self->stats;
    pthread_mutex_lock(&self->mu);
    out->written = self->written;
    out->errors = self->errors;
    pthread_mutex_unlock(&self->mu);
}

/* xorshift64*: a sampler needs speed and spread, not secrecy. */
static double s_uniform(fmx_trace_t *self) {
    self->rng ^= self->rng >> 12;
    self->rng ^= self->rng << 25;
    self->rng ^= self->rng >> 27;
    return (double)((self->rng * 0x2545f4914f6cdd1dull) >> 11) * 0x1.0p-53;
}

bool fmx_trace_sample(fmx_trace_t *self, fmx_str_t user_id, bool debug) {
    if (!self) return false;
    if (debug) return true;
    for (size_t i = 0; i < self->n_users; i++)
        if (strlen(self->users[i]) == user_id.len && memcmp(self->users[i], user_id.ptr, user_id.len) == 0) return true;
    return self->rate > 0.0 && (self->rate >= 1.0 || s_uniform(self) < self->rate);
}

/* --- recording ----------------------------------------------------------------------------- */

static void s_rec_free(struct fmx_trace_rec **rec_p) {
    struct fmx_trace_rec *rec = *rec_p;
    if (!rec) return;
    free(rec->threads);
    free(rec->copies);
    free(rec->nodes);
    free(rec->thread_of);
    free(rec);
    *rec_p = NULL;
}

/* Room for one more element in *arr (n used of *cap), or false (the record is marked broken). */
static bool s_grow(struct fmx_trace_rec *rec, void **arr, size_t n, size_t *cap, size_t size) {
    if (n < *cap) return true;
    size_t cap2 = *cap ? *cap * 2 : 16;
    void *p = n < S_MAX_ENTRIES ? realloc(*arr, cap2 * size) : NULL;
    if (!p) {
        rec->broken = true;
        return false;
    }
    *arr = p;
    *cap = cap2;
    return true;
}

static void s_word(char *dst, const char *src) {
    snprintf(dst, S_WORD_MAX, "%s", src ? src : "");
}

/* The thread of plan node i, mapping the run's current plan on first use. UINT32_MAX when the
 * record cannot hold it. */
static uint32_t s_thread(struct fmx_trace_rec *rec, const fmx_run_t *run, size_t i) {
    const fmx_plan_t *plan = run->plan;
    if (!plan || i >= plan->n_nodes) return UINT32_MAX;
    if (rec->mapped != plan) {
        uint32_t *map = realloc(rec->thread_of, (plan->n_nodes ? plan->n_nodes : 1) * sizeof *map);
        if (!map) {
            rec->broken = true;
            return UINT32_MAX;
        }
        rec->thread_of = map;
        rec->mapped = plan;
        for (size_t k = 0; k < plan->n_nodes; k++) {
            const fmx_plan_node_t *pn = &plan->nodes[k];
            map[k] = UINT32_MAX;
            for (size_t t = 0; t < rec->n_threads && map[k] == UINT32_MAX; t++)
                if (strncmp(rec->threads[t].name, pn->name, S_NAME_MAX - 1) == 0) map[k] = (uint32_t)t;
            if (map[k] != UINT32_MAX ||
                !s_grow(rec, (void **)&rec->threads, rec->n_threads, &rec->cap_threads, sizeof *rec->threads))
                continue;
            s_thread_t *th = &rec->threads[rec->n_threads];
            memset(th, 0, sizeof *th);
            snprintf(th->name, sizeof th->name, "%s", pn->name);
            snprintf(th->type, sizeof th->type, "%s", pn->type ? pn->type : "");
            map[k] = (uint32_t)rec->n_threads++;
        }
    }
    return rec->thread_of[i];
}

void fmx_trace_request_start(fmx_trace_t *self, fmx_run_t *run) {
    if (!fmx_trace_sample(self, run->req.user_id, run->req.debug)) return;
    struct fmx_trace_rec *rec = calloc(1, sizeof *rec);
    if (!rec) return;
    rec->start_us = run->start_us;
    /* The wall clock of the request's start, for otherData: now minus what already elapsed. */
    uint64_t elapsed = fmx_clock_now_us() - run->start_us;
    rec->wall_start_us = fmx_clock_wall_us() - elapsed;
    run->trace = rec;
    self->stats.traced++;
}

void fmx_trace_dispatch(fmx_trace_t *self, fmx_run_t *run, size_t i, const fmx_replica_t *r, bool hedge) {
    (void)self;
    struct fmx_trace_rec *rec = run->trace;
    if (!rec) return;
    uint32_t t = s_thread(rec, run, i);
    if (t == UINT32_MAX || !s_grow(rec, (void **)&rec->copies, rec->n_copies, &rec->cap_copies, sizeof *rec->copies))
        return;
    s_copy_t *c = &rec->copies[rec->n_copies++];
    memset(c, 0, sizeof *c);
    c->thread = t;
    snprintf(c->replica, sizeof c->replica, "%s", r->name);
    c->pid = r->pid;
    c->dispatch_us = fmx_clock_now_us();
    c->attempt = run->nodes[i].attempt;
    c->hedge = hedge;
}

void fmx_trace_result(fmx_trace_t *self, fmx_run_t *run, size_t i, const fmx_replica_t *r, const char *outcome,
                      uint64_t actor_us, size_t bytes) {
    (void)self;
    if (!run || !run->trace) return;
    struct fmx_trace_rec *rec = run->trace;
    uint32_t t = s_thread(rec, run, i);
    /* The latest copy of this node on this replica still waiting for its answer. */
    for (size_t k = rec->n_copies; t != UINT32_MAX && k-- > 0;) {
        s_copy_t *c = &rec->copies[k];
        if (c->thread != t || c->has_result || c->pid != r->pid || strcmp(c->replica, r->name) != 0) continue;
        c->has_result = true;
        c->result_us = fmx_clock_now_us();
        c->actor_us = actor_us;
        c->bytes = bytes;
        s_word(c->outcome, outcome);
        return;
    }
}

void fmx_trace_fallback(fmx_trace_t *self, fmx_run_t *run, size_t i, const char *outcome, const char *kind) {
    (void)self, (void)outcome;
    if (!run->trace) return;
    uint32_t t = s_thread(run->trace, run, i);
    if (t != UINT32_MAX) s_word(run->trace->threads[t].fallback, kind);
}

/* A node entry from plan node i's state in the run. */
static void s_node_entry(struct fmx_trace_rec *rec, const fmx_run_t *run, size_t i, const char *status,
                         const char *outcome, uint64_t end_us) {
    uint32_t t = s_thread(rec, run, i);
    if (t == UINT32_MAX || !s_grow(rec, (void **)&rec->nodes, rec->n_nodes, &rec->cap_nodes, sizeof *rec->nodes))
        return;
    const fmx_node_run_t *n = &run->nodes[i];
    s_node_t *e = &rec->nodes[rec->n_nodes++];
    memset(e, 0, sizeof *e);
    e->thread = t;
    e->ready_us = n->ready_us ? n->ready_us : end_us;
    e->dispatch_us = n->dispatch_us;
    e->done_us = end_us;
    e->attempt = n->attempt;
    e->in_broker = run->plan->nodes[i].kind == FMX_PLAN_CAROUSEL;
    e->bytes = n->state == FMX_NODE_DONE ? zmq_msg_size((zmq_msg_t *)&n->result) : 0;
    s_word(e->status, status);
    s_word(e->outcome, outcome);
    s_thread_t *th = &rec->threads[t];
    memcpy(e->fallback, th->fallback, sizeof e->fallback);
    th->fallback[0] = '\0';
}

void fmx_trace_node_done(fmx_trace_t *self, fmx_run_t *run, size_t i, const char *outcome) {
    (void)self;
    if (!run->trace) return;
    bool ok = outcome && strcmp(outcome, "ok") == 0;
    s_node_entry(run->trace, run, i, ok ? "ok" : "fallback", outcome, run->nodes[i].done_us);
}

/* --- writing ------------------------------------------------------------------------------- */

int fmx_trace_file_name(char *out, size_t cap, const char *request_id, const char *ranking_id) {
    size_t n = strlen(request_id);
    bool clean = n > 0 && request_id[0] != '.';
    for (size_t i = 0; clean && i < n; i++) {
        char c = request_id[i];
        clean = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                c == '-';
    }
    size_t need = n + 5 + (clean ? 0 : 1 + strlen(ranking_id));
    if (need >= cap) return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = request_id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  (c == '.' && i > 0);
        out[k++] = ok ? c : '_';
    }
    if (!clean) k += (size_t)snprintf(out + k, cap - k, "-%s", ranking_id);
    memcpy(out + k, ".json", 6);
    return (int)(k + 5);
}


/* The process index of replica (name, pid) of node type `type`, added on first use. */
static size_t s_process(s_build_t *bd, const char *replica, int64_t pid, const char *type) {
    char name[sizeof bd->proc_names[0]];
    snprintf(name, sizeof name, "actor:%s %s (pid %lld)", type, replica, (long long)pid);
    for (size_t p = 1; p < bd->n_procs; p++)
        if (bd->procs[p].pid == pid && strcmp(bd->proc_names[p], name) == 0) return p;
    if (bd->n_procs == FMX_CHROME_MAX_PROCESSES) return 0; /* drawn on the broker's track instead */
    size_t p = bd->n_procs++;
    memcpy(bd->proc_names[p], name, sizeof name);
    bd->procs[p] = (fmx_chrome_process_t){.pid = pid, .name = bd->proc_names[p], .sort_index = (int)p};
    return p;
}

static uint64_t s_rel(const struct fmx_trace_rec *rec, uint64_t t) {
    return t > rec->start_us ? t - rec->start_us : 0;
}

int fmx_trace_request_done(fmx_trace_t *self, fmx_run_t *run, const char *status, fmx_error_code_t code,
                           char err[FMX_ERR_LEN]) {
    struct fmx_trace_rec *rec = run->trace;
    if (!rec) return 0;
    run->trace = NULL;
    if (!self) {
        s_rec_free(&rec);
        return 0;
    }
    uint64_t now = fmx_clock_now_us();
    /* Nodes the request ended without: still queued or running, or never ready. */
    for (size_t i = 0; run->plan && run->nodes && i < run->plan->n_nodes; i++) {
        uint8_t st = run->nodes[i].state;
        if (st != FMX_NODE_DONE)
            s_node_entry(rec, run, i, st == FMX_NODE_RUNNING ? "running" : st == FMX_NODE_QUEUED ? "queued" : "skipped",
                         NULL, now);
    }
    int rc = -1;
    bool queued = false; /* false at `out`: this trace is lost, whatever the reason */
    s_build_t *bd = self->build;
    bd->n_spans = 0;
    bd->threads = calloc(rec->n_threads + 1, sizeof *bd->threads);
    bd->spans = calloc(1 + 2 * rec->n_nodes + rec->n_copies, sizeof *bd->spans);
    if (!bd->threads || !bd->spans) {
        fmx_err(err, "out of memory writing the trace of %s", run->request_id);
        goto out;
    }
    bd->procs[0] = (fmx_chrome_process_t){.pid = getpid(), .name = "broker", .sort_index = 0};
    bd->n_procs = 1;
    bd->threads[0] = "request";
    for (size_t t = 0; t < rec->n_threads; t++) bd->threads[t + 1] = rec->threads[t].name;
    static const fmx_chrome_span_t init = FMX_CHROME_SPAN_INIT;
    fmx_chrome_span_t *s = &bd->spans[bd->n_spans++];
    *s = init;
    s->name = "request";
    s->cat = "request";
    s->dur_us = s_rel(rec, now);
    s->status = status;
    if (strcmp(status, "error") == 0) s->outcome = fmx_error_code_name(code);
    for (size_t k = 0; k < rec->n_nodes; k++) {
        const s_node_t *e = &rec->nodes[k];
        const s_thread_t *th = &rec->threads[e->thread];
        s = &bd->spans[bd->n_spans++];
        *s = init;
        s->name = th->name;
        s->cat = "node";
        s->thread = e->thread + 1;
        s->ts_us = s_rel(rec, e->ready_us);
        s->dur_us = e->done_us > e->ready_us ? e->done_us - e->ready_us : 0;
        s->type = th->type;
        s->status = e->status;
        s->outcome = e->outcome[0] && strcmp(e->outcome, "ok") != 0 ? e->outcome : NULL;
        s->fallback = e->fallback[0] ? e->fallback : NULL;
        s->bytes = e->status[0] == 'o' || e->status[0] == 'f' ? (int64_t)e->bytes : -1;
        s->attempt = e->attempt;
        s->replica = e->in_broker ? "broker" : NULL;
        uint64_t queued = e->dispatch_us > e->ready_us ? e->dispatch_us - e->ready_us : 0;
        s->queue_us = e->in_broker ? -1 : (int64_t)queued;
        if (queued > 0) { /* nested: the wait for a replica */
            s = &bd->spans[bd->n_spans++];
            *s = init;
            s->name = "queued";
            s->cat = "queue";
            s->thread = e->thread + 1;
            s->ts_us = s_rel(rec, e->ready_us);
            s->dur_us = queued;
        }
    }
    for (size_t k = 0; k < rec->n_copies; k++) {
        const s_copy_t *c = &rec->copies[k];
        const s_thread_t *th = &rec->threads[c->thread];
        s = &bd->spans[bd->n_spans++];
        *s = init;
        s->name = th->name;
        s->cat = "actor";
        s->process = s_process(bd, c->replica, c->pid, th->type);
        s->thread = c->thread + 1;
        /* In the actor: from (arrival - its own elapsed time) to arrival. Without an answer, from
         * dispatch to the end of the request: busy for all we know. */
        uint64_t end = c->has_result ? c->result_us : now;
        uint64_t start = c->has_result && c->actor_us < end - c->dispatch_us ? end - c->actor_us : c->dispatch_us;
        s->ts_us = s_rel(rec, start);
        s->dur_us = end > start ? end - start : 0;
        s->type = th->type;
        s->replica = c->replica;
        s->outcome = c->has_result ? c->outcome : "no reply";
        s->bytes = c->has_result ? (int64_t)c->bytes : -1;
        s->attempt = c->attempt;
        s->actor_us = c->has_result ? (int64_t)c->actor_us : -1;
        s->hedge = c->hedge;
    }
    fmx_chrome_trace_t ct = {
        .request_id = {run->request_id, strlen(run->request_id)},
        .ranking_id = {run->ranking_id, strlen(run->ranking_id)},
        .feed = run->req.feed,
        .user_id = run->req.user_id,
        .status = {status, strlen(status)},
        .wall_start_us = rec->wall_start_us,
        .processes = bd->procs,
        .n_processes = bd->n_procs,
        .threads = bd->threads,
        .n_threads = rec->n_threads + 1,
        .spans = bd->spans,
        .n_spans = bd->n_spans,
    };
    s_job_t job;
    fmx_jsonbuf_reset(&self->buf);
    if (fmx_trace_file_name(job.name, sizeof job.name, run->request_id, run->ranking_id) < 0) {
        fmx_err(err, "request id too long for a file name");
        goto out;
    }
    if (fmx_chrome_write(&self->buf, &ct, err) != 0) goto out;
    /* The buffer goes to the writer whole; the next trace starts a new one. */
    job.data = self->buf.data;
    job.len = self->buf.len;
    pthread_mutex_lock(&self->mu);
    queued = self->count < S_QUEUE;
    if (queued) {
        self->queue[(self->head + self->count) % S_QUEUE] = job;
        self->count++;
        pthread_cond_signal(&self->cv);
    }
    uint64_t errors = self->errors;
    if (errors > self->errors_reported) memcpy(err, self->last_error, FMX_ERR_LEN);
    pthread_mutex_unlock(&self->mu);
    if (queued) {
        fmx_jsonbuf_init(&self->buf, self->buf.max);
        self->stats.queued++;
    } else {
        fmx_err(err, "trace of %s dropped: %d files already wait for the disk", run->request_id, S_QUEUE);
        goto out;
    }
    /* Queued; but report a file that failed since the last call, once. */
    rc = errors > self->errors_reported ? -1 : 0;
    self->errors_reported = errors;
out:
    if (!queued) self->stats.dropped++;
    free(bd->threads);
    free(bd->spans);
    bd->threads = NULL;
    bd->spans = NULL;
    s_rec_free(&rec);
    self->stats.build_us += fmx_clock_now_us() - now;
    return rc;
}
