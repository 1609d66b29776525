/* broker_int.h - the broker's private state, shared by broker.c (sockets, intake, loop),
 * exec.c (running plans) and admin.c (the admin socket). Not for use outside broker/. */
#ifndef FMX_BROKER_INT_H
#define FMX_BROKER_INT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "broker/broker.h"
#include "broker/cluster.h"
#include "broker/config.h"
#include "broker/context.h"
#include "broker/events.h"
#include "broker/fcache.h"
#include "broker/feed.h"
#include "broker/plan.h"
#include "broker/registry.h"
#include "broker/scheduler.h"
#include "common/timers.h"
#include "schemas/request.h"
#include "schemas/token.h"

/* Task ids: epoch(16) | generation(20) | request slot(16) | plan node(12). The epoch is random
 * per broker start so a result meant for a previous incarnation never matches a live task. */
#define FMX_TASK_ID(epoch, gen, slot, node)                                                            \
    (((uint64_t)(epoch) << 48) | (((uint64_t)(gen) & 0xfffffu) << 28) | ((uint64_t)(slot) << 12) | (uint64_t)(node))
#define FMX_TASK_EPOCH(id) ((uint32_t)((id) >> 48))
#define FMX_TASK_GEN(id) ((uint32_t)(((id) >> 28) & 0xfffffu))
#define FMX_TASK_SLOT(id) ((uint32_t)(((id) >> 12) & 0xffffu))
#define FMX_TASK_NODE(id) ((uint32_t)((id)&0xfffu))

typedef enum { FMX_NODE_WAITING = 0, FMX_NODE_QUEUED, FMX_NODE_RUNNING, FMX_NODE_DONE } fmx_node_state_t;

typedef struct {
    uint8_t state;
    uint8_t attempt;
    uint16_t waiting;        /* inputs not yet done */
    uint32_t type_index;
    const char *outcome;     /* "ok", "error", "timeout", "fallback" ... for the trace */
    uint64_t ready_us, dispatch_us, done_us, deadline_us;
    uint64_t reserve_us;     /* time its downstream is expected to need (longest path) */
    fmx_timer_t timer;
    zmq_msg_t result;        /* valid when state == DONE */
    fmx_replica_t *replica;  /* running it; valid while RUNNING (removal re-dispatches first) */
    fmx_replica_t *hedge_replica; /* running the hedge copy, or NULL */
    uint8_t copies;          /* copies in flight (2 while hedged) */
    fmx_timer_t hedge_timer;
    int64_t actor_pid;
    char actor[FMX_REPLICA_NAME_MAX]; /* replica name for the trace */
    uint64_t actor_us;       /* the time the actor reported for the result it used (for the trace) */
} fmx_node_run_t;

typedef struct {
    bool active;
    uint32_t slot, gen;
    uint8_t client[FMX_IDENTITY_MAX];
    size_t client_len;
    zmq_msg_t frame;         /* the request frame: req's strings point into it */
    fmx_request_t req;
    fmx_req_context_t ctx;   /* what templates and conditions read from the request */
    char request_id[FMX_ID_MAX + 1];
    char ranking_id[40];
    fmx_config_t *config;    /* the snapshot this request started on (a reference) */
    fmx_resolution_t res;    /* its parameters and experiment assignments */
    const fmx_plan_t *plan;  /* cached in config, or owned by the run when plan_owned */
    bool plan_owned;
    fmx_str_t *bound;        /* per node: params bound to this request, or NULL entries */
    fmx_node_run_t *nodes;
    zmq_msg_t context;       /* packed once, shared by every task of the request */
    uint64_t start_us, deadline_us;
    fmx_timer_t deadline_timer;
    size_t pending;          /* nodes not DONE */
    char failover_node[128]; /* the required node whose failure switched to on_failure, or "" */
    size_t n_fallbacks;
    struct fmx_trace_rec *trace; /* a sampled request's trace record (broker/trace.c), or NULL */
} fmx_run_t;

typedef struct {
    uint64_t requests, ok, degraded, errors, bad_requests, events;
    uint64_t tasks_dispatched, results, late_results, redispatches, fallbacks, queue_dropped;
    uint64_t replicas_registered, replicas_expired, reloads_ok, reloads_failed;
    uint64_t plan_cache_hits, plan_cache_misses, failovers, hedges, extra_denied;
    uint64_t events_rejected;   /* bad or forged token (also in bad_requests) */
    uint64_t events_overloaded; /* events log queue full (also in errors) */
} fmx_counters_t;

struct fmx_broker {
    fmx_cluster_t config;
    void *zmq_ctx;
    void *frontend, *backend, *admin, *monitor;
    fmx_timers_t *timers;
    fmx_registry_t *registry;
    fmx_sched_t *sched;
    fmx_config_t *cfg;        /* the current snapshot; in-flight requests may hold older ones */
    fmx_fcache_t *fcache;     /* last good outputs for `fallback: cached` */
    fmx_run_t *runs;          /* config.max_requests slots */
    uint32_t *free_slots;
    size_t n_free;
    uint32_t epoch;
    uint64_t next_ranking;
    uint64_t started_us;
    fmx_counters_t counters;
    msgpack_zone zone;        /* scratch for decoding actor headers */
    uint32_t extra_tokens;    /* hedges and retries share it, in tenths of a task (see exec.c) */
    struct fmx_metrics_sink *metrics; /* Prometheus registry + /metrics endpoint (metrics_sink.h) */
    fmx_token_key_t token_key; /* verifies the attribution tokens of events */
    bool has_token_key;        /* false: events are refused */
    fmx_events_t *events;      /* the events log writer, NULL when events.path is "off" */
    char event_line[FMX_EVENTS_LINE_MAX]; /* scratch: one formatted event */
    struct fmx_reqlog *reqlog; /* the JSON request log (broker/reqlog.c), NULL when off */
    struct fmx_trace *tracer;  /* sampled traces (broker/trace.c), NULL when off */
};

/* exec.c */
int fmx_exec_start(fmx_broker_t *b, fmx_run_t *run, char err[FMX_ERR_LEN], fmx_error_code_t *code);
/* actor_us: the time the actor reports it spent on the task (result header's elapsed_us). */
void fmx_exec_on_result(fmx_broker_t *b, fmx_replica_t *replica, uint64_t task_id, bool ok, fmx_str_t error,
                        uint64_t actor_us, zmq_msg_t *output);
void fmx_exec_on_capacity(fmx_broker_t *b, uint32_t type_index);
void fmx_exec_orphaned(fmx_broker_t *b, const fmx_replica_t *dead, const uint64_t *task_ids, size_t n,
                       const char *why);
void fmx_exec_abort_all(fmx_broker_t *b);

/* broker.c */
void fmx_broker_reply(fmx_broker_t *b, const uint8_t *client, size_t client_len, msgpack_sbuffer *body);
void fmx_broker_reply_error(fmx_broker_t *b, const uint8_t *client, size_t client_len, fmx_str_t request_id,
                            fmx_error_code_t code, const char *message);
int fmx_broker_send_task(fmx_broker_t *b, fmx_replica_t *replica, fmx_run_t *run, size_t node_index, uint64_t task_id,
                         uint64_t budget_us);
void fmx_broker_remove_replica(fmx_broker_t *b, fmx_replica_t *replica, const char *why);
void fmx_run_release(fmx_broker_t *b, fmx_run_t *run);
/* Loads feeds, params and experiments again; on any error keeps the current snapshot serving and
 * explains in errs. */
int fmx_broker_reload(fmx_broker_t *b, char *errs, size_t cap);

/* admin.c */
void fmx_admin_handle(fmx_broker_t *b);

#endif
