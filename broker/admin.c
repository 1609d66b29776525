/* admin.c - the admin socket: stats, replicas, metrics, reload. One msgpack map each way (PROTOCOL.md). */
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "broker/metrics_sink.h"
#include "common/clock.h"
#include "common/frame.h"
#include "schemas/mpcheck.h"
#include "schemas/mpobj.h"

static void s_kv(msgpack_packer *pk, const char *key, uint64_t v) {
    fmx_mp_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, v);
}

static void s_stats(fmx_broker_t *b, msgpack_packer *pk) {
    msgpack_pack_map(pk, 8);
    fmx_mp_pack_cstr(pk, "status");
    fmx_mp_pack_cstr(pk, "ok");
    s_kv(pk, "uptime_ms", (fmx_clock_now_us() - b->started_us) / 1000u);
    s_kv(pk, "metrics_port", fmx_metrics_sink_port(b->metrics)); /* 0: the HTTP endpoint is off */
    fmx_mp_pack_cstr(pk, "types");
    size_t n_types = fmx_registry_type_count(b->registry);
    msgpack_pack_map(pk, n_types);
    for (size_t i = 0; i < n_types; i++) {
        const fmx_type_t *t = fmx_registry_type_at(b->registry, i);
        fmx_mp_pack_cstr(pk, t->name);
        msgpack_pack_map(pk, 5);
        s_kv(pk, "ready", t->n_replicas);
        s_kv(pk, "latency_us", t->latency_us);
        s_kv(pk, "capacity", t->capacity);
        s_kv(pk, "inflight", t->inflight);
        s_kv(pk, "queued", fmx_sched_depth(b->sched, (uint32_t)i));
    }
    const fmx_counters_t *c = &b->counters;
    fmx_mp_pack_cstr(pk, "counters");
    fmx_events_stats_t es = {0};
    if (b->events) es = fmx_events_stats(b->events);
    msgpack_pack_map(pk, 25);
    s_kv(pk, "requests", c->requests);
    s_kv(pk, "ok", c->ok);
    s_kv(pk, "degraded", c->degraded);
    s_kv(pk, "errors", c->errors);
    s_kv(pk, "bad_requests", c->bad_requests);
    s_kv(pk, "events", c->events);
    s_kv(pk, "tasks_dispatched", c->tasks_dispatched);
    s_kv(pk, "results", c->results);
    s_kv(pk, "late_results", c->late_results);
    s_kv(pk, "redispatches", c->redispatches);
    s_kv(pk, "fallbacks", c->fallbacks);
    s_kv(pk, "queue_dropped", c->queue_dropped);
    s_kv(pk, "replicas_registered", c->replicas_registered);
    s_kv(pk, "replicas_expired", c->replicas_expired);
    s_kv(pk, "reloads_ok", c->reloads_ok);
    s_kv(pk, "reloads_failed", c->reloads_failed);
    s_kv(pk, "plan_cache_hits", c->plan_cache_hits);
    s_kv(pk, "plan_cache_misses", c->plan_cache_misses);
    s_kv(pk, "failovers", c->failovers);
    s_kv(pk, "hedges", c->hedges);
    s_kv(pk, "extra_denied", c->extra_denied);
    s_kv(pk, "events_rejected", c->events_rejected);
    s_kv(pk, "events_overloaded", c->events_overloaded);
    s_kv(pk, "events_logged", es.written);
    s_kv(pk, "events_log_errors", es.write_errors + es.fsync_errors);
    fmx_mp_pack_cstr(pk, "feeds");
    const fmx_feedset_t *feeds = fmx_config_feeds(b->cfg);
    size_t n_feeds = fmx_feedset_count(feeds);
    msgpack_pack_array(pk, n_feeds);
    for (size_t i = 0; i < n_feeds; i++) fmx_mp_pack_cstr(pk, fmx_feedset_at(feeds, i)->name);
    fmx_mp_pack_cstr(pk, "config");
    msgpack_pack_map(pk, 4);
    s_kv(pk, "generation", fmx_config_generation(b->cfg));
    s_kv(pk, "params_rules", b->cfg && fmx_config_params(b->cfg) ? fmx_params_rule_count(fmx_config_params(b->cfg)) : 0);
    s_kv(pk, "experiments",
         fmx_config_experiments(b->cfg) ? fmx_experiments_count(fmx_config_experiments(b->cfg)) : 0);
    s_kv(pk, "plan_cache_entries", fmx_config_plan_cache_stats(b->cfg).entries);
    fmx_fcache_stats_t fc = fmx_fcache_stats(b->fcache);
    fmx_mp_pack_cstr(pk, "fallback_cache");
    msgpack_pack_map(pk, 6);
    s_kv(pk, "entries", fc.entries);
    s_kv(pk, "bytes", fc.bytes);
    s_kv(pk, "hits", fc.hits);
    s_kv(pk, "misses", fc.misses);
    s_kv(pk, "expired", fc.expired);
    s_kv(pk, "evicted", fc.evicted);
}

typedef struct {
    fmx_broker_t *b;
    msgpack_packer *pk;
    uint64_t now;
} s_each_t;

static void s_replica(void *arg, fmx_replica_t *r) {
    s_each_t *e = arg;
    msgpack_packer *pk = e->pk;
    msgpack_pack_map(pk, 7);
    fmx_mp_pack_cstr(pk, "type");
    fmx_mp_pack_cstr(pk, fmx_registry_type_at(e->b->registry, r->type_index)->name);
    fmx_mp_pack_cstr(pk, "pid");
    msgpack_pack_int64(pk, r->pid);
    fmx_mp_pack_cstr(pk, "name");
    fmx_mp_pack_cstr(pk, r->name);
    s_kv(pk, "capacity", r->capacity);
    s_kv(pk, "inflight", r->inflight);
    s_kv(pk, "tasks", r->tasks_total);
    s_kv(pk, "idle_ms", (e->now - r->last_seen_us) / 1000u);
}

static void s_replicas(fmx_broker_t *b, msgpack_packer *pk) {
    msgpack_pack_map(pk, 2);
    fmx_mp_pack_cstr(pk, "status");
    fmx_mp_pack_cstr(pk, "ok");
    fmx_mp_pack_cstr(pk, "replicas");
    msgpack_pack_array(pk, fmx_registry_replica_count(b->registry));
    s_each_t e = {b, pk, fmx_clock_now_us()};
    fmx_registry_each(b->registry, s_replica, &e);
}

static void s_error(msgpack_packer *pk, const char *code, const char *message);

/* {"status": "ok", "text": the Prometheus exposition /metrics would serve now}. */
static void s_metrics(fmx_broker_t *b, msgpack_packer *pk) {
    char *text;
    size_t len;
    if (fmx_metrics_sink_text(b->metrics, &text, &len) != 0) {
        s_error(pk, "internal", "out of memory rendering the metrics");
        return;
    }
    msgpack_pack_map(pk, 2);
    fmx_mp_pack_cstr(pk, "status");
    fmx_mp_pack_cstr(pk, "ok");
    fmx_mp_pack_cstr(pk, "text");
    fmx_mp_pack_strn(pk, text, len);
    free(text);
}

static void s_error(msgpack_packer *pk, const char *code, const char *message) {
    msgpack_pack_map(pk, 2);
    fmx_mp_pack_cstr(pk, "status");
    fmx_mp_pack_cstr(pk, "error");
    fmx_mp_pack_cstr(pk, "error");
    msgpack_pack_map(pk, 2);
    fmx_mp_pack_cstr(pk, "code");
    fmx_mp_pack_cstr(pk, code);
    fmx_mp_pack_cstr(pk, "message");
    fmx_mp_pack_cstr(pk, message);
}

static void s_handle(fmx_broker_t *b, const void *data, size_t len, msgpack_packer *pk) {
    char err[FMX_ERR_LEN];
    static const fmx_mp_limits_t limits = {4096, 4, 256};
    if (fmx_mp_check(data, len, &limits, err) != 0) {
        s_error(pk, "bad_request", err);
        return;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    size_t off = 0;
    fmx_str_t cmd = FMX_STR_NULL;
    if (msgpack_unpack(data, len, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS || obj.type != MSGPACK_OBJECT_MAP ||
        fmx_mp_get_str(&obj, "cmd", &cmd) != 0) {
        s_error(pk, "bad_request", "expected a map with a string `cmd`");
    } else if (cmd.len == 5 && memcmp(cmd.ptr, "stats", 5) == 0) {
        s_stats(b, pk);
    } else if (cmd.len == 8 && memcmp(cmd.ptr, "replicas", 8) == 0) {
        s_replicas(b, pk);
    } else if (cmd.len == 7 && memcmp(cmd.ptr, "metrics", 7) == 0) {
        s_metrics(b, pk);
    } else if (cmd.len == 6 && memcmp(cmd.ptr, "reload", 6) == 0) {
        char errs[4096];
        if (fmx_broker_reload(b, errs, sizeof errs) == 0) {
            msgpack_pack_map(pk, 1);
            fmx_mp_pack_cstr(pk, "status");
            fmx_mp_pack_cstr(pk, "ok");
        } else {
            s_error(pk, "bad_request", errs);
        }
    } else {
        s_error(pk, "bad_request", "unknown `cmd` (expected stats, replicas, metrics or reload)");
    }
    msgpack_zone_destroy(&zone);
}

void fmx_admin_handle(fmx_broker_t *b) {
    for (int k = 0; k < 64; k++) {
        zmq_msg_t f[3];
        int overflow;
        int n = fmx_frame_recv(b->admin, f, 3, &overflow);
        if (n < 0) return;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        if (n == 3 && !overflow && zmq_msg_size(&f[1]) == 0)
            s_handle(b, zmq_msg_data(&f[2]), zmq_msg_size(&f[2]), &pk);
        else
            s_error(&pk, "bad_request", "expected one frame after the empty delimiter");
        /* [identity][delimiter][reply]; an unknown identity fails the first send and drops it all. */
        if (n >= 1 && fmx_frame_send_copy(b->admin, &f[0], ZMQ_SNDMORE) == 0) {
            fmx_frame_send_bytes(b->admin, "", 0, ZMQ_SNDMORE);
            fmx_frame_send_sbuffer(b->admin, &sb, 0);
        }
        msgpack_sbuffer_destroy(&sb);
        fmx_frame_close_all(f, n);
    }
}
