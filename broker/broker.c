/* broker.c - sockets, intake and the event loop of feedmix-broker.
 *
 * Loop phases, once per pass: poll (timeout = next timer or HTTP timeout) -> readable sockets, each
 * drained up to a batch -> the metrics endpoint -> expired timers -> a pending reload. Everything
 * runs on this one thread; nothing on the hot path locks. */
#include "broker/broker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "broker/metrics_sink.h"
#include "broker/obs.h"
#include "broker/reqlog.h"
#include "broker/trace.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "schemas/mpobj.h"
#include "schemas/wire.h"

#define S_BATCH 256                      /* messages per socket per pass, for fairness */
#define S_FRONTEND_MAX_MSG (16u << 20)   /* transport cap; requests > 1 MiB get bad_request */
#define S_BACKEND_MAX_MSG (256ll << 20)
#define S_MAX_FRAMES 8
#define S_MONITOR_ENDPOINT "inproc://feedmix-backend-monitor"

/* --- feeds ------------------------------------------------------------------------------------- */

static fmx_config_t *s_config_load(const fmx_cluster_t *c, char *errs, size_t cap) {
    fmx_config_paths_t paths = {c->feeds_dir, c->params_path, c->experiments_path};
    return fmx_config_load(&paths, errs, cap);
}

int fmx_broker_reload(fmx_broker_t *b, char *errs, size_t cap) {
    fmx_config_t *next = s_config_load(&b->config, errs, cap);
    if (!next) {
        b->counters.reloads_failed++;
        fmx_obs_reload(b, false);
        fmx_log_error("reload failed, still serving the previous configuration:\n%s", errs);
        return -1;
    }
    /* Requests in flight keep their reference to the old snapshot and finish on it. */
    fmx_config_unref(&b->cfg);
    b->cfg = next;
    b->counters.reloads_ok++;
    fmx_obs_reload(b, true);
    fmx_log_info("reloaded %zu feeds from %s (generation %llu)", fmx_feedset_count(fmx_config_feeds(next)),
                 b->config.feeds_dir, (unsigned long long)fmx_config_generation(next));
    return 0;
}

/* --- sending ----------------------------------------------------------------------------------- */

static void s_reply_to(void *sock, const uint8_t *client, size_t client_len, msgpack_sbuffer *body) {
    /* The client may be gone (REQ closed): ROUTER drops such replies, which is what we want. */
    if (fmx_frame_send_bytes(sock, client, client_len, ZMQ_SNDMORE) != 0 || fmx_frame_send_bytes(sock, "", 0, ZMQ_SNDMORE) != 0 ||
        fmx_frame_send_sbuffer(sock, body, ZMQ_DONTWAIT) != 0)
        fmx_log_debug("reply dropped: %s", zmq_strerror(errno));
    msgpack_sbuffer_destroy(body);
}

void fmx_broker_reply(fmx_broker_t *b, const uint8_t *client, size_t client_len, msgpack_sbuffer *body) {
    s_reply_to(b->frontend, client, client_len, body);
}

void fmx_broker_reply_error(fmx_broker_t *b, const uint8_t *client, size_t client_len, fmx_str_t request_id,
                            fmx_error_code_t code, const char *message) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (fmx_reply_pack_error(&sb, request_id, code, message) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return;
    }
    fmx_broker_reply(b, client, client_len, &sb);
}

static int s_send_header(fmx_broker_t *b, const fmx_replica_t *r, msgpack_sbuffer *header, int more) {
    if (fmx_frame_send_bytes(b->backend, r->identity, r->identity_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) != 0) {
        msgpack_sbuffer_destroy(header);
        return -1; /* EHOSTUNREACH with ROUTER_MANDATORY: the peer is gone */
    }
    int rc = fmx_frame_send_sbuffer(b->backend, header, more ? ZMQ_SNDMORE : 0);
    msgpack_sbuffer_destroy(header);
    return rc;
}

int fmx_broker_send_task(fmx_broker_t *b, fmx_replica_t *replica, fmx_run_t *run, size_t node_index, uint64_t task_id,
                         uint64_t budget_us) {
    const fmx_plan_node_t *pn = &run->plan->nodes[node_index];
    msgpack_sbuffer header;
    msgpack_sbuffer_init(&header);
    fmx_str_t rid = {run->request_id, strlen(run->request_id)}, rank = {run->ranking_id, strlen(run->ranking_id)};
    fmx_str_t node = {pn->name, strlen(pn->name)}, type = {pn->type, strlen(pn->type)};
    if (fmx_wire_pack_task(&header, task_id, rid, rank, node, type, budget_us, run->nodes[node_index].attempt) != 0) {
        msgpack_sbuffer_destroy(&header);
        return -1;
    }
    if (s_send_header(b, replica, &header, 1) != 0) return -1;
    /* Once the identity frame is accepted the rest of the multipart message goes out whole. */
    fmx_str_t params = run->bound && run->bound[node_index].ptr ? run->bound[node_index]
                                                                  : (fmx_str_t){pn->params, pn->params_len};
    fmx_frame_send_bytes(b->backend, params.ptr, params.len, ZMQ_SNDMORE);
    fmx_frame_send_copy(b->backend, &run->context, pn->n_inputs ? ZMQ_SNDMORE : 0);
    for (size_t k = 0; k < pn->n_inputs; k++)
        fmx_frame_send_copy(b->backend, &run->nodes[pn->inputs[k]].result, k + 1 < pn->n_inputs ? ZMQ_SNDMORE : 0);
    return 0;
}

static int s_send_simple(fmx_broker_t *b, const fmx_replica_t *r, fmx_cmd_t cmd) {
    msgpack_sbuffer header;
    msgpack_sbuffer_init(&header);
    int rc = cmd == FMX_CMD_HEARTBEAT ? fmx_wire_pack_heartbeat(&header) : fmx_wire_pack_disconnect(&header, "unknown");
    if (rc != 0) {
        msgpack_sbuffer_destroy(&header);
        return -1;
    }
    return s_send_header(b, r, &header, 0);
}

static void s_send_disconnect_to(fmx_broker_t *b, const uint8_t *identity, size_t len) {
    fmx_replica_t tmp;
    memcpy(tmp.identity, identity, len);
    tmp.identity_len = len;
    s_send_simple(b, &tmp, FMX_CMD_DISCONNECT);
}

/* --- replicas ---------------------------------------------------------------------------------- */

void fmx_broker_remove_replica(fmx_broker_t *b, fmx_replica_t *replica, const char *why) {
    const fmx_type_t *t = fmx_registry_type_at(b->registry, replica->type_index);
    fmx_log_warn("replica %s (%s, pid %" PRId64 ") %s; %u tasks in flight", replica->name, t ? t->name : "?",
                 replica->pid, why, replica->inflight);
    /* The orphans are copied out before re-dispatch, which may remove further replicas. */
    uint64_t local[64];
    uint64_t *ids = replica->inflight <= 64 ? local : malloc(replica->inflight * sizeof *ids);
    if (!ids) fmx_log_error("out of memory removing replica %s; its tasks fall back at their deadlines", replica->name);
    /* Re-dispatch only after removal, so the task cannot go back to this replica; the pointer is
     * passed for identity only and is not dereferenced once freed. */
    const fmx_replica_t *dead = replica;
    size_t n = fmx_registry_remove(b->registry, replica, ids);
    b->counters.replicas_expired++;
    if (n) fmx_exec_orphaned(b, dead, ids, n, why);
    if (ids != local) free(ids);
}

typedef struct {
    fmx_broker_t *b;
    fmx_replica_t *dead[64];
    size_t n_dead;
} s_probe_t;

static void s_probe_one(void *arg, fmx_replica_t *r) {
    s_probe_t *p = arg;
    if (s_send_simple(p->b, r, FMX_CMD_HEARTBEAT) != 0 && errno == EHOSTUNREACH && p->n_dead < 64)
        p->dead[p->n_dead++] = r;
}

/* Heartbeats every replica; a send that fails with EHOSTUNREACH means its pipe is gone. */
static void s_probe_all(fmx_broker_t *b) {
    s_probe_t p = {.b = b};
    fmx_registry_each(b->registry, s_probe_one, &p);
    for (size_t i = 0; i < p.n_dead; i++) fmx_broker_remove_replica(b, p.dead[i], "disconnected");
}

static void s_heartbeat_timer(void *arg, uint64_t cookie, uint64_t now) {
    (void)cookie;
    fmx_broker_t *b = arg;
    uint64_t silence = (uint64_t)b->config.heartbeat_ms * 1000u * b->config.liveness;
    fmx_replica_t *r;
    while ((r = fmx_registry_next_expired(b->registry, now, silence)) != NULL)
        fmx_broker_remove_replica(b, r, "silent for too long");
    s_probe_all(b);
    fmx_timers_add(b->timers, now + (uint64_t)b->config.heartbeat_ms * 1000u, s_heartbeat_timer, b, 0);
}

static void s_probe_timer(void *arg, uint64_t cookie, uint64_t now) {
    (void)cookie;
    (void)now;
    s_probe_all(arg);
}

/* --- requests ---------------------------------------------------------------------------------- */

void fmx_run_release(fmx_broker_t *b, fmx_run_t *run) {
    if (!run->active) return;
    if (run->deadline_timer) fmx_timers_cancel(b->timers, run->deadline_timer);
    if (run->nodes) {
        for (size_t i = 0; i < run->plan->n_nodes; i++) {
            if (run->nodes[i].timer) fmx_timers_cancel(b->timers, run->nodes[i].timer);
            if (run->nodes[i].hedge_timer) fmx_timers_cancel(b->timers, run->nodes[i].hedge_timer);
            if (run->nodes[i].state == FMX_NODE_DONE) zmq_msg_close(&run->nodes[i].result);
        }
        free(run->nodes);
    }
    zmq_msg_close(&run->context);
    if (run->plan) fmx_config_bound_free(run->plan, &run->bound);
    if (run->plan_owned) {
        fmx_plan_t *owned = (fmx_plan_t *)run->plan;
        fmx_plan_destroy(&owned);
    }
    fmx_request_fini(&run->req);
    zmq_msg_close(&run->frame);
    fmx_config_unref(&run->config);
    uint32_t slot = run->slot, gen = run->gen + 1;
    memset(run, 0, sizeof *run);
    run->slot = slot;
    run->gen = gen; /* stale task ids and timers for this slot no longer match */
    b->free_slots[b->n_free++] = slot;
}

static void s_new_id(fmx_broker_t *b, char *out, size_t cap, const char *prefix) {
    snprintf(out, cap, "%s%04x%012" PRIx64, prefix, b->epoch, ++b->next_ranking);
}

/* An engagement event: verify its token, queue one line for the events log, reply. Never waits:
 * a full log queue is an `overloaded` reply for this event. */
static void s_handle_event(fmx_broker_t *b, const uint8_t *client, size_t client_len, const fmx_request_t *req) {
    char err[FMX_ERR_LEN], msg[FMX_ERR_LEN + 32];
    b->counters.events++;
    if (!b->has_token_key) {
        b->counters.errors++;
        fmx_broker_reply_error(b, client, client_len, req->request_id, FMX_CODE_INTERNAL,
                               "this broker has no token key (tokens.key_file in cluster.yaml)");
        return;
    }
    fmx_token_t tok;
    int rc = fmx_token_verify(&b->token_key, req->token.ptr, req->token.len, &b->zone, &tok, err);
    msgpack_zone_clear(&b->zone);
    if (rc != 0) {
        b->counters.bad_requests++;
        b->counters.events_rejected++;
        snprintf(msg, sizeof msg, "bad attribution token: %s", err);
        fmx_broker_reply_error(b, client, client_len, req->request_id, FMX_CODE_BAD_REQUEST, msg);
        return;
    }
    if (b->events) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        size_t n = fmx_events_format(b->event_line, sizeof b->event_line, ts_ms, req->event, &tok.f, req->user_id,
                                     req->request_id);
        if (n == 0 || fmx_events_append(b->events, b->event_line, n) != 0) {
            b->counters.errors++;
            b->counters.events_overloaded++;
            fmx_broker_reply_error(b, client, client_len, req->request_id, FMX_CODE_OVERLOADED,
                                   n == 0 ? "event too large to log" : "the events log is behind; event not recorded");
            return;
        }
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (fmx_reply_pack_event_ok(&sb, req->request_id) == 0)
        fmx_broker_reply(b, client, client_len, &sb);
    else
        msgpack_sbuffer_destroy(&sb);
}

static void s_handle_request(fmx_broker_t *b, const uint8_t *client, size_t client_len, zmq_msg_t *body) {
    char err[FMX_ERR_LEN];
    b->counters.requests++;
    size_t size = zmq_msg_size(body);
    if (size > (1u << 20)) {
        b->counters.bad_requests++;
        snprintf(err, sizeof err, "request of %zu bytes exceeds the limit of 1048576", size);
        fmx_broker_reply_error(b, client, client_len, FMX_STR_NULL, FMX_CODE_BAD_REQUEST, err);
        fmx_obs_request_rejected(b, FMX_STR_NULL, FMX_CODE_BAD_REQUEST);
        return;
    }
    if (b->n_free == 0) {
        fmx_broker_reply_error(b, client, client_len, FMX_STR_NULL, FMX_CODE_OVERLOADED,
                               "too many requests in flight");
        b->counters.errors++;
        fmx_obs_request_rejected(b, FMX_STR_NULL, FMX_CODE_OVERLOADED);
        return;
    }
    fmx_run_t *run = &b->runs[b->free_slots[--b->n_free]];
    run->active = true;
    run->start_us = fmx_clock_now_us();
    zmq_msg_init(&run->frame);
    zmq_msg_init(&run->context);
    zmq_msg_move(&run->frame, body);
    memcpy(run->client, client, client_len);
    run->client_len = client_len;
    if (fmx_request_decode(&run->req, zmq_msg_data(&run->frame), zmq_msg_size(&run->frame), err) != 0) {
        b->counters.bad_requests++;
        fmx_broker_reply_error(b, client, client_len, FMX_STR_NULL, FMX_CODE_BAD_REQUEST, err);
        fmx_obs_request_rejected(b, FMX_STR_NULL, FMX_CODE_BAD_REQUEST);
        fmx_run_release(b, run);
        return;
    }
    if (run->req.kind == FMX_REQ_EVENT) {
        s_handle_event(b, client, client_len, &run->req);
        fmx_run_release(b, run);
        return;
    }
    if (run->req.request_id.len)
        snprintf(run->request_id, sizeof run->request_id, "%.*s", (int)run->req.request_id.len,
                 run->req.request_id.ptr);
    else
        s_new_id(b, run->request_id, sizeof run->request_id, "req-");
    s_new_id(b, run->ranking_id, sizeof run->ranking_id, "rk-");
    run->config = fmx_config_ref(b->cfg);
    fmx_error_code_t code = FMX_CODE_INTERNAL;
    if (fmx_exec_start(b, run, err, &code) != 0) {
        if (code == FMX_CODE_BAD_REQUEST || code == FMX_CODE_UNKNOWN_FEED)
            b->counters.bad_requests++;
        else
            b->counters.errors++;
        fmx_log_info("request %s: %s: %s", run->request_id, fmx_error_code_name(code), err);
        fmx_broker_reply_error(b, client, client_len, (fmx_str_t){run->request_id, strlen(run->request_id)}, code,
                               err);
        fmx_obs_request_refused(b, run, code);
        fmx_obs_request_rejected(b, run->req.feed, code);
        fmx_run_release(b, run);
    }
}

static void s_on_frontend(fmx_broker_t *b) {
    for (int k = 0; k < S_BATCH; k++) {
        zmq_msg_t f[S_MAX_FRAMES];
        int overflow;
        int n = fmx_frame_recv(b->frontend, f, S_MAX_FRAMES, &overflow);
        if (n < 0) return;
        const uint8_t *client = zmq_msg_data(&f[0]);
        size_t client_len = zmq_msg_size(&f[0]);
        /* [identity][empty delimiter][body]: what REQ sends, and what DEALER clients must send. */
        if (n == 3 && !overflow && zmq_msg_size(&f[1]) == 0 && client_len <= FMX_IDENTITY_MAX) {
            s_handle_request(b, client, client_len, &f[2]);
        } else if (client_len <= FMX_IDENTITY_MAX && n >= 2) {
            b->counters.requests++;
            b->counters.bad_requests++;
            fmx_broker_reply_error(b, client, client_len, FMX_STR_NULL, FMX_CODE_BAD_REQUEST,
                                   "a request is one frame holding one msgpack map (after the empty delimiter)");
            fmx_obs_request_rejected(b, FMX_STR_NULL, FMX_CODE_BAD_REQUEST);
        }
        fmx_frame_close_all(f, n);
    }
}

static void s_on_backend(fmx_broker_t *b) {
    for (int k = 0; k < S_BATCH; k++) {
        zmq_msg_t f[S_MAX_FRAMES];
        int overflow;
        int n = fmx_frame_recv(b->backend, f, S_MAX_FRAMES, &overflow);
        if (n < 0) return;
        const uint8_t *id = zmq_msg_data(&f[0]);
        size_t id_len = zmq_msg_size(&f[0]);
        fmx_wire_header_t h;
        char err[FMX_ERR_LEN];
        uint64_t now = fmx_clock_now_us();
        fmx_replica_t *r = fmx_registry_find(b->registry, id, id_len);
        if (r) r->last_seen_us = now; /* any traffic counts as life */
        if (n < 2 || fmx_wire_header_decode(&h, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), &b->zone, err) != 0) {
            fmx_log_warn("backend: bad message from %s: %s", r ? r->name : "unregistered peer",
                         n < 2 ? "no header frame" : err);
        } else if (h.cmd == FMX_CMD_READY) {
            if (r && (fmx_registry_type_find(b->registry, h.type.ptr, h.type.len) != (long)r->type_index ||
                      r->capacity != h.capacity)) {
                fmx_broker_remove_replica(b, r, "re-registered with another shape");
                r = NULL;
            }
            int fresh = r == NULL;
            r = fmx_registry_register(b->registry, id, id_len, h.type.ptr, h.type.len, h.capacity, h.pid, h.name.ptr,
                                      h.name.len, now);
            if (!r) {
                fmx_log_warn("backend: cannot register replica '%.*s' of type '%.*s'", (int)h.name.len, h.name.ptr,
                             (int)h.type.len, h.type.ptr);
            } else {
                if (fresh) {
                    b->counters.replicas_registered++;
                    fmx_log_info("replica %s ready: type %.*s, capacity %u, pid %" PRId64, r->name, (int)h.type.len,
                                 h.type.ptr, r->capacity, r->pid);
                }
                fmx_exec_on_capacity(b, r->type_index);
            }
        } else if (!r) {
            /* Not registered (e.g. we restarted): ask it to say `ready` again. */
            if (h.cmd != FMX_CMD_DISCONNECT) s_send_disconnect_to(b, id, id_len);
        } else if (h.cmd == FMX_CMD_RESULT) {
            fmx_exec_on_result(b, r, h.task_id, h.ok, h.error, h.elapsed_us, h.ok && n >= 3 ? &f[2] : NULL);
        } else if (h.cmd == FMX_CMD_DISCONNECT) {
            fmx_broker_remove_replica(b, r, "disconnected");
        } else if (h.cmd != FMX_CMD_HEARTBEAT) {
            fmx_log_warn("backend: unexpected %s from replica %s", fmx_cmd_name(h.cmd), r->name);
        }
        msgpack_zone_clear(&b->zone);
        fmx_frame_close_all(f, n);
    }
}

static void s_on_monitor(fmx_broker_t *b) {
    if (fmx_frame_drain_monitor(b->monitor) == 0) return;
    /* A peer's connection dropped. The ROUTER forgets its identity a moment later, so probe now
     * and again shortly; a killed replica is then found in milliseconds, not heartbeats. */
    s_probe_all(b);
    uint64_t now = fmx_clock_now_us();
    fmx_timers_add(b->timers, now + 2000, s_probe_timer, b, 0);
    fmx_timers_add(b->timers, now + 20000, s_probe_timer, b, 0);
}

/* --- life cycle -------------------------------------------------------------------------------- */

static void *s_bind(void *ctx, int type, const char *endpoint, int64_t max_msg, char *err) {
    void *s = zmq_socket(ctx, type);
    if (!s) {
        fmx_err(err, "zmq_socket failed: %s", zmq_strerror(errno));
        return NULL;
    }
    int zero = 0, one = 1, hwm = 100000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (max_msg > 0) zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    if (type == ZMQ_ROUTER) zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (zmq_bind(s, endpoint) != 0) {
        fmx_err(err, "zmq_bind(%s) failed: %s", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

fmx_broker_t *fmx_broker_new(const fmx_cluster_t *config, char err[FMX_ERR_LEN]) {
    fmx_broker_t *b = calloc(1, sizeof *b);
    if (!b) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    b->config = *config;
    msgpack_zone_init(&b->zone, 4096);
    char errs[4096];
    b->cfg = s_config_load(config, errs, sizeof errs);
    if (!b->cfg) {
        fmx_err(err, "cannot load the configuration:\n%s", errs);
        goto fail;
    }
    b->fcache = fmx_fcache_new((size_t)config->fallback_cache_mb << 20, (uint64_t)config->fallback_cache_ttl_s * 1000000u);
    b->timers = fmx_timers_new();
    b->registry = fmx_registry_new();
    b->sched = fmx_sched_new(config->queue_per_type);
    b->runs = calloc(config->max_requests, sizeof *b->runs);
    b->free_slots = calloc(config->max_requests, sizeof *b->free_slots);
    if (!b->fcache || !b->timers || !b->registry || !b->sched || !b->runs || !b->free_slots) {
        fmx_err(err, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < config->max_requests; i++) {
        b->runs[i].slot = i;
        b->free_slots[b->n_free++] = config->max_requests - 1 - i;
    }
    /* Random epoch: task ids from a previous broker's life never match ours. */
    FILE *ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(&b->epoch, sizeof b->epoch, 1, ur) != 1) b->epoch = (uint32_t)getpid() ^ (uint32_t)fmx_clock_now_us();
    if (ur) fclose(ur);
    b->epoch &= 0xffffu;
    b->zmq_ctx = zmq_ctx_new();
    if (!b->zmq_ctx) {
        fmx_err(err, "zmq_ctx_new failed: %s", zmq_strerror(errno));
        goto fail;
    }
    b->frontend = s_bind(b->zmq_ctx, ZMQ_ROUTER, config->frontend, S_FRONTEND_MAX_MSG, err);
    if (!b->frontend) goto fail;
    b->backend = s_bind(b->zmq_ctx, ZMQ_ROUTER, config->backend, S_BACKEND_MAX_MSG, err);
    if (!b->backend) goto fail;
    b->admin = s_bind(b->zmq_ctx, ZMQ_ROUTER, config->admin, 1 << 20, err);
    if (!b->admin) goto fail;
    if (zmq_socket_monitor(b->backend, S_MONITOR_ENDPOINT, ZMQ_EVENT_DISCONNECTED) != 0) {
        fmx_err(err, "zmq_socket_monitor failed: %s", zmq_strerror(errno));
        goto fail;
    }
    b->monitor = zmq_socket(b->zmq_ctx, ZMQ_PAIR);
    if (!b->monitor || zmq_connect(b->monitor, S_MONITOR_ENDPOINT) != 0) {
        fmx_err(err, "monitor connect failed: %s", zmq_strerror(errno));
        goto fail;
    }
    b->metrics = fmx_metrics_sink_new(b, config->metrics_listen, err);
    if (!b->metrics) goto fail;
    if (config->token_key_file[0]) {
        if (fmx_token_key_load(&b->token_key, config->token_key_file, err) != 0) goto fail;
        b->has_token_key = true;
    }
    if (strcmp(config->events_path, "off") != 0) {
        fmx_events_opts_t eo = {config->events_fsync, config->events_fsync_interval_ms,
                                (size_t)config->events_queue_kb << 10};
        b->events = fmx_events_new(config->events_path, &eo, err);
        if (!b->events) goto fail;
    }
    b->reqlog = fmx_reqlog_new(config->request_log, (fmx_log_level_t)config->request_log_level, err);
    if (!b->reqlog && err[0]) goto fail;
    if (strcmp(config->trace_dir, "off") != 0) {
        const char *users[FMX_CLUSTER_MAX_TRACE_USERS];
        for (size_t i = 0; i < config->n_trace_users; i++) users[i] = config->trace_users[i];
        b->tracer = fmx_trace_new(config->trace_dir, config->trace_sample_rate, users, config->n_trace_users,
                                  ((uint64_t)b->epoch << 32) ^ fmx_clock_wall_us(), err);
        if (!b->tracer) goto fail;
    }
    b->started_us = fmx_clock_now_us();
    b->extra_tokens = 1000; /* a full bucket: 100 extra tasks of burst */
    if (!fmx_timers_add(b->timers, b->started_us + (uint64_t)config->heartbeat_ms * 1000u, s_heartbeat_timer, b, 0)) {
        fmx_err(err, "out of memory");
        goto fail;
    }
    return b;
fail:
    fmx_broker_destroy(&b);
    return NULL;
}

void fmx_broker_destroy(fmx_broker_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_broker_t *b = *self_p;
    if (b->runs && b->frontend) fmx_exec_abort_all(b);
    else if (b->runs)
        for (uint32_t i = 0; i < b->config.max_requests; i++) fmx_run_release(b, &b->runs[i]);
    int zero = 0;
    /* Stop the monitor before closing its reader: libzmq's monitor send blocks on a PAIR whose
     * peer is gone, holding the lock zmq_socket_monitor(NULL) then waits for. */
    if (b->backend) zmq_socket_monitor(b->backend, NULL, 0);
    if (b->monitor) {
        zmq_setsockopt(b->monitor, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(b->monitor);
    }
    if (b->backend) zmq_close(b->backend);
    if (b->frontend) zmq_close(b->frontend);
    if (b->admin) zmq_close(b->admin);
    if (b->zmq_ctx) zmq_ctx_term(b->zmq_ctx);
    fmx_metrics_sink_destroy(&b->metrics);
    fmx_registry_destroy(&b->registry);
    fmx_sched_destroy(&b->sched);
    fmx_timers_destroy(&b->timers);
    fmx_config_unref(&b->cfg);
    fmx_fcache_destroy(&b->fcache);
    fmx_events_destroy(&b->events); /* drains: every acknowledged event reaches the file */
    fmx_token_key_wipe(&b->token_key);
    fmx_trace_destroy(&b->tracer);
    fmx_reqlog_destroy(&b->reqlog); /* flushes the lines of the requests aborted above */
    msgpack_zone_destroy(&b->zone);
    free(b->runs);
    free(b->free_slots);
    free(b);
    *self_p = NULL;
}

int fmx_broker_run(fmx_broker_t *b, volatile int *stop, volatile int *reload) {
    fmx_log_info("serving clients on %s, actors on %s, admin on %s", b->config.frontend, b->config.backend,
                 b->config.admin);
    int http_fd = fmx_metrics_sink_fd(b->metrics);
    if (http_fd >= 0) { /* the port read back, for a listen address that asked for any (port 0) */
        const char *listen = b->config.metrics_listen;
        fmx_log_info("metrics on http://%.*s:%u/metrics", (int)(strrchr(listen, ':') - listen), listen,
                     (unsigned)fmx_metrics_sink_port(b->metrics));
    }
    if (!b->has_token_key)
        fmx_log_warn("no token key (tokens.key_file, --token-key): engagement events will be refused");
    else if (b->events)
        fmx_log_info("engagement events go to %s (fsync %s)", b->config.events_path,
                     fmx_fsync_name(b->config.events_fsync));
    while (!*stop) {
        /* The metrics endpoint is one epoll descriptor among the sockets; its connection timeouts
         * bound the sleep like our own timers do. */
        zmq_pollitem_t items[] = {
            {b->frontend, 0, ZMQ_POLLIN, 0},
            {b->backend, 0, ZMQ_POLLIN, 0},
            {b->admin, 0, ZMQ_POLLIN, 0},
            {b->monitor, 0, ZMQ_POLLIN, 0},
            {NULL, http_fd, ZMQ_POLLIN, 0},
        };
        fmx_obs_flush(b); /* before sleeping: what the last pass buffered goes out */
        uint64_t now = fmx_clock_now_us();
        long timeout = fmx_timers_poll_timeout_ms(b->timers, now);
        long http_ms = fmx_metrics_sink_poll_timeout_ms(b->metrics, now);
        if (http_ms >= 0 && (timeout < 0 || http_ms < timeout)) timeout = http_ms;
        int rc = zmq_poll(items, http_fd >= 0 ? 5 : 4, timeout);
        if (rc < 0) {
            if (errno == EINTR) continue;
            fmx_log_error("zmq_poll failed: %s", zmq_strerror(errno));
            return -1;
        }
        /* Results first: they free capacity and finish requests before new ones are admitted. */
        if (items[1].revents & ZMQ_POLLIN) s_on_backend(b);
        if (items[3].revents & ZMQ_POLLIN) s_on_monitor(b);
        if (items[0].revents & ZMQ_POLLIN) s_on_frontend(b);
        if (items[2].revents & ZMQ_POLLIN) fmx_admin_handle(b);
        if (http_fd >= 0) fmx_metrics_sink_poll_done(b->metrics, items[4].revents & ZMQ_POLLIN, fmx_clock_now_us());
        fmx_timers_run(b->timers, fmx_clock_now_us());
        if (*reload) {
            char errs[8192];
            *reload = 0;
            fmx_broker_reload(b, errs, sizeof errs);
        }
    }
    fmx_obs_flush(b);
    fmx_log_info("stopping");
    return 0;
}
