/* runtime.c - the actor process: broker sockets and heartbeats on the main thread, node work on
 * worker threads, inproc PAIR sockets between them.
 *
 * Main loop phases: poll (broker sockets, their monitors, workers; timeout = next heartbeat) ->
 * broker messages (tasks queue locally) -> worker results (forwarded, worker refilled) ->
 * heartbeats and broker liveness. */
#include "actors/runtime.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/probes.h"
#include "schemas/entity.h"
#include "schemas/mpcheck.h"
#include "schemas/wire.h"

#define S_MAX_FRAMES (3 + FMX_WIRE_MAX_INPUTS)
#define S_MAX_WORKERS 64
#define S_WORKER_START_MS 60000 /* a worker reports its init within this */

/* USDT: task__start(type, task_id) and task__done(type, task_id, status, elapsed_us) around the
 * node's run (common/probes.h, tools/feedtrace/README.md). */
FMX_PROBE_SEMAPHORE(task__start);
FMX_PROBE_SEMAPHORE(task__done);

void fmx_runtime_defaults(fmx_runtime_config_t *c) {
    memset(c, 0, sizeof *c);
    c->capacity = 4;
    c->threads = 2;
    c->heartbeat_ms = 1000;
    c->liveness = 3;
    c->data_dir = "var";
}

int fmx_runtime_parse_inject(fmx_runtime_config_t *c, const char *spec) {
    char *end;
    if (strncmp(spec, "delay=", 6) == 0) {
        c->inject = FMX_INJECT_DELAY;
        c->inject_arg = strtoull(spec + 6, &end, 10);
        return (*end || end == spec + 6) ? -1 : 0;
    }
    if (strncmp(spec, "crash-after=", 12) == 0) {
        c->inject = FMX_INJECT_CRASH_AFTER;
        c->inject_arg = strtoull(spec + 12, &end, 10);
        return (*end || end == spec + 12) ? -1 : 0;
    }
    if (strcmp(spec, "hang") == 0) c->inject = FMX_INJECT_HANG;
    else if (strcmp(spec, "spin") == 0) c->inject = FMX_INJECT_SPIN;
    else if (strcmp(spec, "garbage") == 0) c->inject = FMX_INJECT_GARBAGE;
    else return -1;
    return 0;
}

/* --- executing one task (worker side, also used directly by tests) ---------------------------- */

static int s_unpack_map(const void *buf, size_t len, msgpack_zone *zone, msgpack_object *out, const char *what,
                        char err[FMX_ERR_LEN]) {
    if (fmx_mp_check(buf, len, &fmx_mp_limits_result, err) != 0) return -1;
    size_t off = 0;
    if (msgpack_unpack(buf, len, &off, zone, out) != MSGPACK_UNPACK_SUCCESS)
        return fmx_err(err, "%s frame does not decode", what);
    if (out->type != MSGPACK_OBJECT_MAP) return fmx_err(err, "%s frame is not a map", what);
    return 0;
}

int fmx_runtime_execute(const fmx_node_type_t *type, void *state, const fmx_actor_env_t *env, msgpack_zone *zone,
                        const void *const *frames, const size_t *sizes, size_t n_frames, msgpack_sbuffer *header,
                        msgpack_sbuffer *output) {
    uint64_t start = fmx_clock_now_us();
    char err[FMX_ERR_LEN] = "";
    fmx_wire_header_t h;
    memset(&h, 0, sizeof h);
    msgpack_object params, context;
    fmx_entity_list_t inputs[FMX_WIRE_MAX_INPUTS];
    fmx_entity_list_t out;
    fmx_entity_list_init(&out);
    int ok = 0;
    if (n_frames < 3 || n_frames > 3 + FMX_WIRE_MAX_INPUTS) {
        fmx_err(err, "task has %zu frames; expected header, params, context and up to %d inputs", n_frames,
                FMX_WIRE_MAX_INPUTS);
        goto reply;
    }
    if (fmx_wire_header_decode(&h, frames[0], sizes[0], zone, err) != 0) goto reply;
    if (h.cmd != FMX_CMD_TASK) {
        fmx_err(err, "expected a task, got %s", fmx_cmd_name(h.cmd));
        goto reply;
    }
    if (h.type.len != strlen(type->name) || memcmp(h.type.ptr, type->name, h.type.len) != 0) {
        fmx_err(err, "this actor serves '%s', not '%.*s'", type->name, (int)h.type.len, h.type.ptr);
        goto reply;
    }
    if (s_unpack_map(frames[1], sizes[1], zone, &params, "params", err) != 0) goto reply;
    if (s_unpack_map(frames[2], sizes[2], zone, &context, "context", err) != 0) goto reply;
    size_t n_inputs = n_frames - 3;
    for (size_t i = 0; i < n_inputs; i++) {
        fmx_entity_list_init(&inputs[i]);
        char why[FMX_ERR_LEN];
        if (fmx_entity_list_decode_frame(frames[3 + i], sizes[3 + i], zone, &inputs[i], why) != 0) {
            fmx_err(err, "input %zu: %s", i, why);
            goto reply;
        }
    }
    fmx_task_t task = {
        .request_id = h.request_id,
        .ranking_id = h.ranking_id,
        .node = h.node,
        .deadline_us = start + h.budget_us,
        .params = &params,
        .context = &context,
        .inputs = inputs,
        .n_inputs = n_inputs,
        .zone = zone,
        .env = env,
        .state = state,
    };
    const char *type_name = type->name;
    uint64_t task_id = h.task_id, run_start = 0;
    if (FMX_PROBE_ENABLED(task__start) || FMX_PROBE_ENABLED(task__done)) run_start = fmx_clock_now_us();
    FMX_PROBE(task__start, type_name, task_id);
    if (type->run(&task, &out, err) != 0) {
        if (!err[0]) fmx_err(err, "node failed");
    } else {
        msgpack_packer pk;
        msgpack_packer_init(&pk, output, msgpack_sbuffer_write);
        if (fmx_entity_list_pack(&pk, &out) == 0)
            ok = 1;
        else {
            fmx_err(err, "cannot pack the output");
            output->size = 0;
        }
    }
    /* status 0: ok, -1: the node failed (an error reply goes back); elapsed covers run + pack. */
    FMX_PROBE(task__done, type_name, task_id, ok ? 0 : -1, run_start ? fmx_clock_now_us() - run_start : 0);
reply:
    fmx_wire_pack_result(header, h.task_id, ok, ok ? NULL : err, fmx_clock_now_us() - start);
    return ok ? 0 : -1;
}

/* --- workers ----------------------------------------------------------------------------------- */

typedef struct {
    pthread_t thread;
    void *pair;           /* main-thread end */
    char endpoint[64];
    const fmx_runtime_config_t *config;
    const fmx_node_type_t *type;
    const fmx_actor_env_t *env;
    void *zmq_ctx;
    int busy;
    int started;
    char init_err[FMX_ERR_LEN];
    int init_rc;
} s_worker_t;


static void s_inject(const fmx_runtime_config_t *c) {
    switch (c->inject) {
    case FMX_INJECT_DELAY: {
        struct timespec ts = {(time_t)(c->inject_arg / 1000), (long)(c->inject_arg % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
        break;
    }
    case FMX_INJECT_HANG:
        for (;;) pause();
    case FMX_INJECT_SPIN:
        for (volatile uint64_t x = 0;; x++) {}
    default: break;
    }
}

static void *s_worker_main(void *arg) {
    s_worker_t *w = arg;
    void *sock = zmq_socket(w->zmq_ctx, ZMQ_PAIR);
    void *state = NULL;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 64 * 1024);
    w->init_rc = sock && zmq_connect(sock, w->endpoint) == 0 ? 0 : -1;
    if (w->init_rc != 0) fmx_err(w->init_err, "worker socket: %s", zmq_strerror(errno));
    if (w->init_rc == 0 && w->type->init) w->init_rc = w->type->init(&state, w->env, w->init_err);
    /* Tell main we are up (or not): one frame holding the init status. */
    if (sock) zmq_send(sock, &w->init_rc, sizeof w->init_rc, 0);
    while (w->init_rc == 0) {
        zmq_msg_t f[1 + S_MAX_FRAMES];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_init(&f[n]);
            if (zmq_msg_recv(&f[n], sock, 0) < 0) {
                zmq_msg_close(&f[n]);
                goto out; /* context terminated */
            }
            more = zmq_msg_more(&f[n]);
            n++;
            if (n == 1 + S_MAX_FRAMES && more) { /* main never sends more; defensive */
                zmq_msg_close(&f[--n]);
            }
        }
        if (n == 1 && zmq_msg_size(&f[0]) == 0) { /* stop */
            zmq_msg_close(&f[0]);
            break;
        }
        /* f[0] = broker index (1 byte) + deadline (8 bytes) */
        uint64_t deadline = 0;
        if (zmq_msg_size(&f[0]) == 9) memcpy(&deadline, (uint8_t *)zmq_msg_data(&f[0]) + 1, 8);
        msgpack_sbuffer header, output;
        msgpack_sbuffer_init(&header);
        msgpack_sbuffer_init(&output);
        const void *frames[S_MAX_FRAMES];
        size_t sizes[S_MAX_FRAMES];
        for (int i = 1; i < n; i++) {
            frames[i - 1] = zmq_msg_data(&f[i]);
            sizes[i - 1] = zmq_msg_size(&f[i]);
        }
        int ok;
        if (fmx_clock_now_us() >= deadline) {
            fmx_wire_header_t h;
            char err[FMX_ERR_LEN];
            uint64_t id = n > 1 && fmx_wire_header_decode(&h, frames[0], sizes[0], &zone, err) == 0 ? h.task_id : 0;
            fmx_wire_pack_result(&header, id, false, "deadline passed before the task started", 0);
            ok = -1;
        } else {
            s_inject(w->config);
            ok = fmx_runtime_execute(w->type, state, w->env, &zone, frames, sizes, (size_t)(n - 1), &header, &output);
        }
        if (w->config->inject == FMX_INJECT_GARBAGE && ok == 0) {
            output.size = 0;
            msgpack_sbuffer_write(&output, "\xc1 not msgpack", 13);
        }
        zmq_msg_t idx;
        zmq_msg_init_size(&idx, 1);
        memcpy(zmq_msg_data(&idx), zmq_msg_data(&f[0]), 1);
        zmq_msg_send(&idx, sock, ZMQ_SNDMORE);
        fmx_frame_send_sbuffer(sock, &header, ok == 0 ? ZMQ_SNDMORE : 0);
        if (ok == 0) fmx_frame_send_sbuffer(sock, &output, 0);
        msgpack_sbuffer_destroy(&header);
        msgpack_sbuffer_destroy(&output);
        for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
        msgpack_zone_clear(&zone);
    }
out:
    if (w->type->fini && state) w->type->fini(&state);
    msgpack_zone_destroy(&zone);
    if (sock) {
        int zero = 0;
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(sock);
    }
    return NULL;
}

/* --- brokers ----------------------------------------------------------------------------------- */

typedef struct {
    const char *endpoint;
    void *sock, *monitor;
    uint64_t last_heard_us, next_hb_us;
    unsigned index;
} s_broker_t;

typedef struct {
    zmq_msg_t frames[1 + S_MAX_FRAMES]; /* [route][header][params][context][inputs...] */
    int n;
} s_pending_t;

typedef struct {
    const fmx_runtime_config_t *config;
    void *zmq_ctx;
    s_broker_t brokers[FMX_RUNTIME_MAX_BROKERS];
    s_worker_t workers[S_MAX_WORKERS];
    uint32_t n_workers;
    s_pending_t *queue; /* ring */
    size_t q_cap, q_head, q_len;
    char name[64];
    msgpack_zone zone;
    uint64_t tasks_seen; /* for --inject crash-after */
} s_actor_t;

static int s_send_simple(s_actor_t *a, s_broker_t *br, fmx_cmd_t cmd) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc;
    switch (cmd) {
    case FMX_CMD_READY:
        rc = fmx_wire_pack_ready(&sb, a->config->node_type, a->config->capacity, getpid(), a->name);
        break;
    case FMX_CMD_HEARTBEAT: rc = fmx_wire_pack_heartbeat(&sb); break;
    default: rc = fmx_wire_pack_disconnect(&sb, "stopping"); break;
    }
    if (rc == 0) rc = fmx_frame_send_sbuffer(br->sock, &sb, ZMQ_DONTWAIT);
    msgpack_sbuffer_destroy(&sb);
    br->next_hb_us = fmx_clock_now_us() + (uint64_t)a->config->heartbeat_ms * 1000u;
    return rc;
}

static void s_broker_close(s_broker_t *br) {
    int zero = 0;
    /* Monitor off first, then its reader: see the same order in broker.c. */
    if (br->sock) zmq_socket_monitor(br->sock, NULL, 0);
    if (br->monitor) {
        zmq_setsockopt(br->monitor, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(br->monitor);
        br->monitor = NULL;
    }
    if (br->sock) {
        zmq_close(br->sock);
        br->sock = NULL;
    }
}

static int s_broker_open(s_actor_t *a, s_broker_t *br, char err[FMX_ERR_LEN]) {
    static unsigned generation;
    char mon[96];
    snprintf(mon, sizeof mon, "inproc://feedmix-actor-monitor-%u-%u", br->index, generation++);
    br->sock = zmq_socket(a->zmq_ctx, ZMQ_DEALER);
    if (!br->sock) return fmx_err(err, "zmq_socket failed: %s", zmq_strerror(errno));
    int zero = 0, reconnect = 100, reconnect_max = (int)a->config->heartbeat_ms;
    int64_t maxmsg = 256ll << 20;
    zmq_setsockopt(br->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(br->sock, ZMQ_RECONNECT_IVL, &reconnect, sizeof reconnect);
    zmq_setsockopt(br->sock, ZMQ_RECONNECT_IVL_MAX, &reconnect_max, sizeof reconnect_max);
    zmq_setsockopt(br->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (zmq_socket_monitor(br->sock, mon, ZMQ_EVENT_CONNECTED) != 0)
        return fmx_err(err, "zmq_socket_monitor failed: %s", zmq_strerror(errno));
    br->monitor = zmq_socket(a->zmq_ctx, ZMQ_PAIR);
    if (!br->monitor || zmq_connect(br->monitor, mon) != 0)
        return fmx_err(err, "monitor connect failed: %s", zmq_strerror(errno));
    if (zmq_connect(br->sock, br->endpoint) != 0)
        return fmx_err(err, "zmq_connect(%s) failed: %s", br->endpoint, zmq_strerror(errno));
    br->last_heard_us = fmx_clock_now_us();
    return 0;
}

static s_pending_t *s_queue_push(s_actor_t *a) {
    if (a->q_len == a->q_cap) {
        size_t cap = a->q_cap ? a->q_cap * 2 : 16;
        s_pending_t *q = malloc(cap * sizeof *q);
        if (!q) return NULL;
        for (size_t i = 0; i < a->q_len; i++) q[i] = a->queue[(a->q_head + i) % a->q_cap];
        free(a->queue);
        a->queue = q;
        a->q_cap = cap;
        a->q_head = 0;
    }
    s_pending_t *p = &a->queue[(a->q_head + a->q_len) % a->q_cap];
    a->q_len++;
    return p;
}

static void s_close_pending(s_pending_t *p) {
    for (int i = 0; i < p->n; i++) zmq_msg_close(&p->frames[i]);
    p->n = 0;
}

/* Hands queued tasks to idle workers. */
static void s_feed_workers(s_actor_t *a) {
    for (uint32_t w = 0; w < a->n_workers && a->q_len > 0; w++) {
        if (a->workers[w].busy) continue;
        s_pending_t *p = &a->queue[a->q_head];
        a->q_head = (a->q_head + 1) % a->q_cap;
        a->q_len--;
        for (int i = 0; i < p->n; i++)
            if (zmq_msg_send(&p->frames[i], a->workers[w].pair, i + 1 < p->n ? ZMQ_SNDMORE : 0) < 0)
                zmq_msg_close(&p->frames[i]);
        p->n = 0;
        a->workers[w].busy = 1;
    }
}

static void s_on_broker(s_actor_t *a, s_broker_t *br, int accept_tasks) {
    for (int k = 0; k < 256; k++) {
        /* frames[0] is reserved for the route to a worker; the message lands in frames[1..]. */
        s_pending_t tmp = {.n = 0};
        int overflow;
        tmp.n = fmx_frame_recv(br->sock, &tmp.frames[1], S_MAX_FRAMES, &overflow);
        if (tmp.n < 0) return;
        br->last_heard_us = fmx_clock_now_us();
        /* frames[1..n] hold the message; frames[0] gets the route below. */
        fmx_wire_header_t h;
        char err[FMX_ERR_LEN];
        int n = tmp.n;
        tmp.n = n + 1;
        zmq_msg_init(&tmp.frames[0]);
        if (overflow || fmx_wire_header_decode(&h, zmq_msg_data(&tmp.frames[1]), zmq_msg_size(&tmp.frames[1]),
                                               &a->zone, err) != 0) {
            fmx_log_warn("bad message from broker %s: %s", br->endpoint, overflow ? "too many frames" : err);
        } else if (h.cmd == FMX_CMD_DISCONNECT) {
            /* The broker does not know us (it restarted): register again. */
            fmx_log_info("broker %s asked us to register again", br->endpoint);
            s_send_simple(a, br, FMX_CMD_READY);
        } else if (h.cmd == FMX_CMD_TASK && accept_tasks) {
            if (a->config->inject == FMX_INJECT_CRASH_AFTER && ++a->tasks_seen > a->config->inject_arg) {
                fmx_log_warn("fault injection: crashing after %" PRIu64 " tasks", a->config->inject_arg);
                raise(SIGKILL);
            }
            zmq_msg_close(&tmp.frames[0]);
            uint8_t route[9];
            uint64_t deadline = fmx_clock_now_us() + h.budget_us;
            route[0] = (uint8_t)br->index;
            memcpy(route + 1, &deadline, 8);
            zmq_msg_init_size(&tmp.frames[0], sizeof route);
            memcpy(zmq_msg_data(&tmp.frames[0]), route, sizeof route);
            s_pending_t *p = s_queue_push(a);
            if (p) {
                *p = tmp;
                tmp.n = 0;
            }
        } else if (h.cmd != FMX_CMD_HEARTBEAT && h.cmd != FMX_CMD_TASK) {
            fmx_log_warn("unexpected %s from broker %s", fmx_cmd_name(h.cmd), br->endpoint);
        }
        msgpack_zone_clear(&a->zone);
        s_close_pending(&tmp);
    }
}

static void s_on_worker(s_actor_t *a, s_worker_t *w) {
    zmq_msg_t f[3];
    int overflow;
    int n = fmx_frame_recv(w->pair, f, 3, &overflow);
    if (n < 0) return;
    w->busy = 0;
    unsigned bi = n > 0 && zmq_msg_size(&f[0]) == 1 ? *(uint8_t *)zmq_msg_data(&f[0]) : FMX_RUNTIME_MAX_BROKERS;
    if (bi < a->config->n_brokers && n >= 2 && a->brokers[bi].sock) {
        for (int i = 1; i < n; i++)
            if (zmq_msg_send(&f[i], a->brokers[bi].sock, (i + 1 < n ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0) break;
    }
    fmx_frame_close_all(f, n);
}

static void s_on_monitor(s_actor_t *a, s_broker_t *br) {
    /* Every (re)connection says `ready` at once: a restarted broker learns about us within
     * milliseconds instead of waiting for our next heartbeat. */
    if (fmx_frame_drain_monitor(br->monitor) > 0) s_send_simple(a, br, FMX_CMD_READY);
}

static int s_workers_busy(const s_actor_t *a) {
    for (uint32_t w = 0; w < a->n_workers; w++)
        if (a->workers[w].busy) return 1;
    return 0;
}

static void s_shutdown(s_actor_t *a) {
    for (uint32_t w = 0; w < a->n_workers; w++) {
        if (!a->workers[w].started) continue;
        zmq_send(a->workers[w].pair, "", 0, 0);
    }
    for (uint32_t w = 0; w < a->n_workers; w++)
        if (a->workers[w].started) pthread_join(a->workers[w].thread, NULL);
    for (uint32_t w = 0; w < a->n_workers; w++)
        if (a->workers[w].pair) zmq_close(a->workers[w].pair);
    /* The last results and `disconnect` may still sit in the pipes: give them a moment to leave,
     * bounded because a broker that is already gone would hold us for the whole linger. */
    int linger = 500;
    for (size_t i = 0; i < a->config->n_brokers; i++)
        if (a->brokers[i].sock) zmq_setsockopt(a->brokers[i].sock, ZMQ_LINGER, &linger, sizeof linger);
    for (size_t i = 0; i < a->config->n_brokers; i++) s_broker_close(&a->brokers[i]);
    while (a->q_len > 0) {
        s_close_pending(&a->queue[a->q_head]);
        a->q_head = (a->q_head + 1) % a->q_cap;
        a->q_len--;
    }
    free(a->queue);
    msgpack_zone_destroy(&a->zone);
    if (a->zmq_ctx) zmq_ctx_term(a->zmq_ctx);
}

int fmx_runtime_run(const fmx_runtime_config_t *config, volatile int *stop, char err[FMX_ERR_LEN]) {
    const fmx_node_type_t *type = fmx_node_type_find(config->node_type);
    if (!type) return fmx_err(err, "unknown node type '%s'", config->node_type);
    if (config->n_brokers == 0) return fmx_err(err, "no broker endpoint given");
    if (config->threads == 0 || config->threads > S_MAX_WORKERS)
        return fmx_err(err, "threads must be 1..%d", S_MAX_WORKERS);
    /* The key lives on this stack frame for the actor's life; workers borrow it through env. */
    fmx_token_key_t token_key;
    memset(&token_key, 0, sizeof token_key);
    if (config->token_key_path && fmx_token_key_load(&token_key, config->token_key_path, err) != 0) return -1;
    fmx_store_t *store = NULL;
    /* A missing LMDB dir means no store; a Redis URL is opened (it connects per transaction). */
    if (config->store_path && (fmx_store_is_redis(config->store_path) || access(config->store_path, F_OK) == 0)) {
        store = fmx_store_open(config->store_path, 1, 0, err);
        if (!store) {
            fmx_token_key_wipe(&token_key);
            return -1;
        }
    }
    fmx_actor_env_t env = {config->node_type, config->data_dir, store, config->token_key_path ? &token_key : NULL};
    s_actor_t a;
    memset(&a, 0, sizeof a);
    a.config = config;
    msgpack_zone_init(&a.zone, 4096);
    if (config->name)
        snprintf(a.name, sizeof a.name, "%s", config->name);
    else
        snprintf(a.name, sizeof a.name, "%s-%d", config->node_type, (int)getpid());
    int rc = -1;
    a.zmq_ctx = zmq_ctx_new();
    if (!a.zmq_ctx) {
        fmx_err(err, "zmq_ctx_new failed: %s", zmq_strerror(errno));
        goto out;
    }
    a.n_workers = config->threads;
    for (uint32_t w = 0; w < a.n_workers; w++) {
        s_worker_t *wk = &a.workers[w];
        wk->config = config;
        wk->type = type;
        wk->env = &env;
        wk->zmq_ctx = a.zmq_ctx;
        snprintf(wk->endpoint, sizeof wk->endpoint, "inproc://feedmix-worker-%u", w);
        wk->pair = zmq_socket(a.zmq_ctx, ZMQ_PAIR);
        if (!wk->pair || zmq_bind(wk->pair, wk->endpoint) != 0) {
            fmx_err(err, "worker socket: %s", zmq_strerror(errno));
            goto out;
        }
        if (pthread_create(&wk->thread, NULL, s_worker_main, wk) != 0) {
            fmx_err(err, "pthread_create failed");
            goto out;
        }
        wk->started = 1;
        /* Bounded: a worker that could not even make its socket never reports (model preloads
         * take seconds at most). */
        int status = -1, handshake_ms = S_WORKER_START_MS, forever = -1;
        zmq_setsockopt(wk->pair, ZMQ_RCVTIMEO, &handshake_ms, sizeof handshake_ms);
        int got = zmq_recv(wk->pair, &status, sizeof status, 0);
        zmq_setsockopt(wk->pair, ZMQ_RCVTIMEO, &forever, sizeof forever);
        if (got < 0) {
            fmx_err(err, "node '%s' failed to start: its worker thread did not report within %d ms", type->name,
                    S_WORKER_START_MS);
            goto out;
        }
        if (got != (int)sizeof status || status != 0) {
            fmx_err(err, "node '%s' failed to start: %s", type->name, wk->init_err[0] ? wk->init_err : "?");
            goto out;
        }
    }
    for (size_t i = 0; i < config->n_brokers; i++) {
        a.brokers[i].endpoint = config->brokers[i];
        a.brokers[i].index = (unsigned)i;
        if (s_broker_open(&a, &a.brokers[i], err) != 0) goto out;
        s_send_simple(&a, &a.brokers[i], FMX_CMD_READY);
    }
    fmx_log_info("serving node type %s to %zu broker(s), capacity %u, %u worker(s)", type->name, config->n_brokers,
                 config->capacity, config->threads);

    uint64_t stop_deadline = 0;
    for (;;) {
        uint64_t now = fmx_clock_now_us();
        if (*stop && !stop_deadline) {
            fmx_log_info("stopping: finishing %zu queued task(s)", a.q_len + (size_t)s_workers_busy(&a));
            stop_deadline = now + 3u * 1000000u; /* tasks take ms; scripts/down waits 5 s */
        }
        if (stop_deadline && ((a.q_len == 0 && !s_workers_busy(&a)) || now >= stop_deadline)) break;
        zmq_pollitem_t items[2 * FMX_RUNTIME_MAX_BROKERS + S_MAX_WORKERS];
        size_t n = 0;
        uint64_t next = UINT64_MAX;
        for (size_t i = 0; i < config->n_brokers; i++) {
            items[n++] = (zmq_pollitem_t){a.brokers[i].sock, 0, ZMQ_POLLIN, 0};
            items[n++] = (zmq_pollitem_t){a.brokers[i].monitor, 0, ZMQ_POLLIN, 0};
            if (a.brokers[i].next_hb_us < next) next = a.brokers[i].next_hb_us;
        }
        for (uint32_t w = 0; w < a.n_workers; w++) items[n++] = (zmq_pollitem_t){a.workers[w].pair, 0, ZMQ_POLLIN, 0};
        long timeout = next <= now ? 0 : (long)((next - now + 999) / 1000);
        if (stop_deadline && timeout > 50) timeout = 50;
        if (zmq_poll(items, (int)n, timeout) < 0) {
            if (errno == EINTR) continue;
            fmx_err(err, "zmq_poll failed: %s", zmq_strerror(errno));
            goto out;
        }
        for (size_t i = 0; i < config->n_brokers; i++) {
            if (items[2 * i].revents & ZMQ_POLLIN) s_on_broker(&a, &a.brokers[i], !stop_deadline);
            if (items[2 * i + 1].revents & ZMQ_POLLIN) s_on_monitor(&a, &a.brokers[i]);
        }
        for (uint32_t w = 0; w < a.n_workers; w++)
            if (items[2 * config->n_brokers + w].revents & ZMQ_POLLIN) s_on_worker(&a, &a.workers[w]);
        s_feed_workers(&a);
        now = fmx_clock_now_us();
        uint64_t silence = (uint64_t)config->heartbeat_ms * 1000u * config->liveness;
        for (size_t i = 0; i < config->n_brokers; i++) {
            s_broker_t *br = &a.brokers[i];
            if (now - br->last_heard_us > silence) {
                /* Nothing from this broker for `liveness` heartbeats: start over with a new socket. */
                fmx_log_warn("broker %s silent for %" PRIu64 " ms; reconnecting", br->endpoint,
                             (now - br->last_heard_us) / 1000u);
                s_broker_close(br);
                if (s_broker_open(&a, br, err) != 0) goto out;
                s_send_simple(&a, br, FMX_CMD_READY);
            } else if (now >= br->next_hb_us) {
                s_send_simple(&a, br, FMX_CMD_HEARTBEAT);
            }
        }
    }
    for (size_t i = 0; i < config->n_brokers; i++) s_send_simple(&a, &a.brokers[i], FMX_CMD_DISCONNECT);
    if (s_workers_busy(&a)) {
        /* A worker stuck in a node cannot be joined, and libzmq would wait for its socket at
         * context end: let the disconnect leave, then report so main exits without them. */
        fmx_log_warn("a worker is still inside a task after the drain window; exiting without it");
        struct timespec pause = {0, 200 * 1000000L};
        nanosleep(&pause, NULL);
        return 1;
    }
    rc = 0;
out:
    s_shutdown(&a);
    fmx_store_close(&store);
    fmx_token_key_wipe(&token_key);
    return rc;
}
