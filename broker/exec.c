/* exec.c - running one request's plan: dispatch every node whose inputs are ready, collect
 * results, substitute fallbacks for nodes that fail or miss their deadline, and reply when the
 * output node is done. Inputs travel to actors as the very frames other actors produced
 * (zmq_msg_copy shares the buffer); the broker decodes only headers. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "broker/obs.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/scalar.h"
#include "schemas/mpcheck.h"
#include "schemas/mpobj.h"

static const char s_empty_array[] = {(char)0x90};

static void s_ready(fmx_broker_t *b, fmx_run_t *run, size_t i);
static bool s_failover(fmx_broker_t *b, fmx_run_t *run, const char *node, const char *outcome);
static void s_complete(fmx_broker_t *b, fmx_run_t *run, size_t i, zmq_msg_t *result, const char *outcome);

static fmx_run_t *s_run_of(fmx_broker_t *b, uint64_t id) {
    if (FMX_TASK_EPOCH(id) != b->epoch) return NULL;
    uint32_t slot = FMX_TASK_SLOT(id);
    if (slot >= b->config.max_requests) return NULL;
    fmx_run_t *run = &b->runs[slot];
    if (!run->active || (run->gen & 0xfffffu) != FMX_TASK_GEN(id)) return NULL;
    if (FMX_TASK_NODE(id) >= run->plan->n_nodes) return NULL;
    return run;
}

static uint64_t s_task_id(const fmx_broker_t *b, const fmx_run_t *run, size_t i) {
    return FMX_TASK_ID(b->epoch, run->gen, run->slot, i);
}

/* --- request-time variables ------------------------------------------------------------------ */

/* Keys the broker sets itself in the context actors see; same-named client keys are dropped. */
static bool s_reserved_context_key(const msgpack_object *k) {
    return k->type == MSGPACK_OBJECT_STR && fmx_req_context_reserved(k->via.str.ptr, k->via.str.size);
}

/* Does the client's context carry key? */
static bool s_client_has(const msgpack_object *ctx, const char *key) {
    return ctx && fmx_mp_map_get(ctx, key) != NULL;
}

/* The context actors see: the broker's facts (experiments, user, ids, feed), the client's own
 * keys, then what templates and conditions also saw but the client left out: the feed's
 * `context:` defaults and the derived hour and weekday. So a filter reads the same `geo` or `hour`
 * a `when:` did. */
static int s_pack_context(fmx_run_t *run) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t extra = 0;
    const msgpack_object *ctx = run->req.context;
    const fmx_value_t *defaults = run->res.feed->context;
    if (ctx) {
        for (uint32_t i = 0; i < ctx->via.map.size; i++) {
            const msgpack_object *k = &ctx->via.map.ptr[i].key;
            /* The broker's own facts win over same-named client keys. */
            if (!s_reserved_context_key(k)) extra++;
        }
    }
    for (size_t d = 0; defaults && d < defaults->u.map.n; d++)
        if (!s_client_has(ctx, defaults->u.map.keys[d])) extra++;
    bool add_hour = !s_client_has(ctx, "hour") && !fmx_value_map_get(defaults, "hour");
    bool add_weekday = !s_client_has(ctx, "weekday") && !fmx_value_map_get(defaults, "weekday");
    extra += add_hour + add_weekday;
    msgpack_pack_map(&pk, 5 + extra);
    fmx_mp_pack_cstr(&pk, "experiments"); /* so actors (layout's tokens) can attribute to variants */
    msgpack_pack_map(&pk, run->res.n_experiments);
    for (size_t e = 0; e < run->res.n_experiments; e++) {
        fmx_mp_pack_cstr(&pk, run->res.experiments[e].experiment);
        fmx_mp_pack_cstr(&pk, run->res.experiments[e].variant);
    }
    fmx_mp_pack_cstr(&pk, "user_id");
    fmx_mp_pack_strn(&pk, run->req.user_id.ptr, run->req.user_id.len);
    fmx_mp_pack_cstr(&pk, "request_id");
    fmx_mp_pack_cstr(&pk, run->request_id);
    fmx_mp_pack_cstr(&pk, "ranking_id");
    fmx_mp_pack_cstr(&pk, run->ranking_id);
    fmx_mp_pack_cstr(&pk, "feed");
    fmx_mp_pack_cstr(&pk, run->res.feed->name); /* the feed served: the on_failure one after a failover */
    for (uint32_t i = 0; ctx && i < ctx->via.map.size; i++) {
        const msgpack_object *k = &ctx->via.map.ptr[i].key;
        if (s_reserved_context_key(k)) continue;
        msgpack_pack_object(&pk, *k);
        msgpack_pack_object(&pk, ctx->via.map.ptr[i].val);
    }
    char err[FMX_ERR_LEN];
    for (size_t d = 0; defaults && d < defaults->u.map.n; d++) {
        if (s_client_has(ctx, defaults->u.map.keys[d])) continue;
        fmx_mp_pack_cstr(&pk, defaults->u.map.keys[d]);
        if (fmx_value_pack(defaults->u.map.vals[d], &pk, NULL, NULL, err) != 0) msgpack_pack_nil(&pk);
    }
    if (add_hour) {
        fmx_mp_pack_cstr(&pk, "hour");
        msgpack_pack_int64(&pk, run->ctx.hour);
    }
    if (add_weekday) {
        fmx_mp_pack_cstr(&pk, "weekday");
        msgpack_pack_int64(&pk, run->ctx.weekday);
    }
    return fmx_frame_from_sbuffer(&run->context, &sb);
}

/* "exp=variant,exp2=variant2" or "-", for log lines (truncated to cap). */
static const char *s_variants(const fmx_run_t *run, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (size_t e = 0; e < run->res.n_experiments && n + 1 < cap; e++) {
        int w = snprintf(buf + n, cap - n, "%s%s=%s", e ? "," : "", run->res.experiments[e].experiment,
                         run->res.experiments[e].variant);
        if (w < 0) break;
        n += (size_t)w;
    }
    return n ? buf : "-";
}

/* --- hedges and retries -------------------------------------------------------------------------
 * They share one budget so they cannot amplify an overload: every first dispatch earns a tenth
 * of a token, a hedge or a retry costs a whole one (at most ~10 % extra tasks), and the bucket
 * holds 100 tokens of burst for a replica dying with its tasks in flight. */

#define S_TOKENS_MAX 1000 /* tenths */

static void s_earn_token(fmx_broker_t *b) {
    if (b->extra_tokens < S_TOKENS_MAX) b->extra_tokens++;
}

static bool s_spend_token(fmx_broker_t *b) {
    if (b->extra_tokens < 10) {
        b->counters.extra_denied++;
        return false;
    }
    b->extra_tokens -= 10;
    return true;
}

/* --- timers ------------------------------------------------------------------------------------ */

static void s_fail(fmx_broker_t *b, fmx_run_t *run, size_t i, const char *outcome);

/* A node out of time. If it was running, its replica missed a deadline (outlier ejection). */
static void s_timeout(fmx_broker_t *b, fmx_run_t *run, size_t i) {
    fmx_node_run_t *n = &run->nodes[i];
    if (n->state == FMX_NODE_RUNNING && n->replica &&
        fmx_registry_note_miss(b->registry, n->replica, fmx_clock_now_us()))
        fmx_log_warn("replica %s (pid %" PRId64 ") missed %d deadlines in a row: out of rotation for %" PRIu64 " ms",
                     n->replica->name, n->replica->pid, FMX_EJECT_AFTER_MISSES,
                     (n->replica->ejected_until - fmx_clock_now_us()) / 1000u);
    s_fail(b, run, i, "timeout");
}

static void s_node_timer(void *arg, uint64_t task_id, uint64_t now_us) {
    (void)now_us;
    fmx_broker_t *b = arg;
    fmx_run_t *run = s_run_of(b, task_id);
    if (!run) return;
    size_t i = FMX_TASK_NODE(task_id);
    run->nodes[i].timer = 0;
    if (run->nodes[i].state == FMX_NODE_RUNNING || run->nodes[i].state == FMX_NODE_QUEUED) s_timeout(b, run, i);
}

static void s_run_timer(void *arg, uint64_t task_id, uint64_t now_us) {
    (void)now_us;
    fmx_broker_t *b = arg;
    fmx_run_t *run = s_run_of(b, task_id);
    if (!run) return;
    run->deadline_timer = 0;
    uint32_t gen = run->gen;
    /* Fail everything still open, in dependency order; each failure may complete (and release)
     * the request, so liveness is checked before the plan is touched. */
    for (size_t i = 0; run->active && run->gen == gen && i < run->plan->n_nodes; i++)
        if (run->nodes[i].state == FMX_NODE_RUNNING || run->nodes[i].state == FMX_NODE_QUEUED) s_timeout(b, run, i);
}

/* --- dispatch ---------------------------------------------------------------------------------- */

static void s_hedge_timer(void *arg, uint64_t task_id, uint64_t now_us);

static void s_send(fmx_broker_t *b, fmx_run_t *run, size_t i, fmx_replica_t *replica, uint64_t now) {
    fmx_node_run_t *n = &run->nodes[i];
    const fmx_plan_node_t *pn = &run->plan->nodes[i];
    uint64_t task_id = s_task_id(b, run, i);
    if (fmx_registry_task_begin(b->registry, replica, task_id) != 0) {
        s_fail(b, run, i, "error");
        return;
    }
    if (n->attempt == 0) s_earn_token(b);
    n->state = FMX_NODE_RUNNING;
    n->attempt++;
    n->dispatch_us = now;
    n->replica = replica;
    n->copies = 1;
    /* Hedge: a second copy to another replica if this one is slower than the node allows. */
    uint64_t hedge_us = pn->def && pn->def->hedge_after_ms ? (uint64_t)pn->def->hedge_after_ms * 1000u
                        : pn->def && pn->def->hedge_percentile
                            ? fmx_registry_latency_percentile(b->registry, n->type_index, pn->def->hedge_percentile)
                            : 0;
    if (hedge_us && !n->hedge_timer && now + hedge_us < n->deadline_us)
        n->hedge_timer = fmx_timers_add(b->timers, now + hedge_us, s_hedge_timer, b, task_id);
    n->actor_pid = replica->pid;
    snprintf(n->actor, sizeof n->actor, "%s", replica->name);
    b->counters.tasks_dispatched++;
    fmx_obs_node_dispatch(b, run, i, replica, false);
    if (fmx_broker_send_task(b, replica, run, i, task_id, n->deadline_us - now) != 0) {
        /* The replica is gone: removing it re-dispatches this task with the others it held. */
        fmx_broker_remove_replica(b, replica, "unreachable");
    }
}

static void s_dispatch(fmx_broker_t *b, fmx_run_t *run, size_t i) {
    fmx_node_run_t *n = &run->nodes[i];
    uint64_t now = fmx_clock_now_us();
    if (n->deadline_us <= now) {
        s_fail(b, run, i, "timeout");
        return;
    }
    fmx_replica_t *replica = fmx_registry_pick(b->registry, n->type_index, now);
    if (replica) {
        s_send(b, run, i, replica, now);
        return;
    }
    if (fmx_sched_push(b->sched, n->type_index, s_task_id(b, run, i), n->deadline_us) != 0) {
        fmx_log_warn("request %s node %s: queue for type %s is full", run->request_id, run->plan->nodes[i].name,
                     run->plan->nodes[i].type);
        s_fail(b, run, i, "overloaded");
        return;
    }
    n->state = FMX_NODE_QUEUED;
}

static void s_hedge_timer(void *arg, uint64_t task_id, uint64_t now_us) {
    fmx_broker_t *b = arg;
    fmx_run_t *run = s_run_of(b, task_id);
    if (!run) return;
    size_t i = FMX_TASK_NODE(task_id);
    fmx_node_run_t *n = &run->nodes[i];
    n->hedge_timer = 0;
    if (n->state != FMX_NODE_RUNNING || n->copies != 1) return;
    fmx_replica_t *other = fmx_registry_pick_other(b->registry, n->type_index, now_us, n->replica);
    if (!other || !s_spend_token(b)) return;
    if (fmx_registry_task_begin(b->registry, other, task_id) != 0) return;
    n->hedge_replica = other;
    n->copies = 2;
    n->attempt++;
    b->counters.hedges++;
    b->counters.tasks_dispatched++;
    fmx_log_debug("request %s node %s: hedging to replica %s", run->request_id, run->plan->nodes[i].name, other->name);
    fmx_obs_node_dispatch(b, run, i, other, true);
    if (fmx_broker_send_task(b, other, run, i, task_id, n->deadline_us > now_us ? n->deadline_us - now_us : 0) != 0)
        fmx_broker_remove_replica(b, other, "unreachable");
}

void fmx_exec_on_capacity(fmx_broker_t *b, uint32_t type_index) {
    uint64_t now = fmx_clock_now_us();
    for (;;) {
        fmx_replica_t *replica = fmx_registry_pick(b->registry, type_index, now);
        if (!replica) return;
        uint64_t task_id;
        size_t dropped = 0;
        int rc = fmx_sched_pop(b->sched, type_index, now, &task_id, &dropped);
        b->counters.queue_dropped += dropped;
        if (rc != 0) return;
        fmx_run_t *run = s_run_of(b, task_id);
        if (!run || run->nodes[FMX_TASK_NODE(task_id)].state != FMX_NODE_QUEUED) continue; /* stale */
        s_send(b, run, FMX_TASK_NODE(task_id), replica, now);
    }
}

static void s_carousel(fmx_broker_t *b, fmx_run_t *run, size_t i) {
    const fmx_plan_node_t *pn = &run->plan->nodes[i];
    const zmq_msg_t *in = &run->nodes[pn->inputs[0]].result;
    zmq_msg_t *input = (zmq_msg_t *)in; /* zmq_msg_data/size take non-const */
    const char *base = strrchr(pn->name, '/');
    base = base ? base + 1 : pn->name;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 5);
    fmx_mp_pack_cstr(&pk, "id");
    fmx_mp_pack_cstr(&pk, base);
    fmx_mp_pack_cstr(&pk, "type");
    fmx_mp_pack_cstr(&pk, "carousel");
    fmx_mp_pack_cstr(&pk, "source");
    fmx_mp_pack_cstr(&pk, pn->name);
    fmx_mp_pack_cstr(&pk, "fields");
    msgpack_pack_map(&pk, 1);
    fmx_mp_pack_cstr(&pk, "feed");
    fmx_mp_pack_cstr(&pk, pn->def && pn->def->subfeed ? pn->def->subfeed : base);
    fmx_mp_pack_cstr(&pk, "items");
    /* The sub-feed's output array is spliced in as it came from its actor. */
    msgpack_sbuffer_write(&sb, zmq_msg_data(input), zmq_msg_size(input));
    zmq_msg_t out;
    if (fmx_frame_from_sbuffer(&out, &sb) != 0) {
        s_fail(b, run, i, "error");
        return;
    }
    s_complete(b, run, i, &out, "ok");
}

static void s_ready(fmx_broker_t *b, fmx_run_t *run, size_t i) {
    fmx_node_run_t *n = &run->nodes[i];
    const fmx_plan_node_t *pn = &run->plan->nodes[i];
    uint64_t now = fmx_clock_now_us();
    n->ready_us = now;
    if (pn->kind == FMX_PLAN_CAROUSEL) {
        n->dispatch_us = now;
        s_carousel(b, run, i);
        return;
    }
    /* Leave the downstream what it is expected to need, but never more than half of what is left:
     * a node starved of all time would only fall back too. */
    uint64_t left = run->deadline_us > now ? run->deadline_us - now : 0;
    uint64_t reserve = n->reserve_us < left / 2 ? n->reserve_us : left / 2;
    n->deadline_us = run->deadline_us - reserve;
    if (pn->budget_ms && now + (uint64_t)pn->budget_ms * 1000u < n->deadline_us)
        n->deadline_us = now + (uint64_t)pn->budget_ms * 1000u;
    if (n->deadline_us <= now) {
        s_fail(b, run, i, "timeout");
        return;
    }
    if (n->deadline_us < run->deadline_us) {
        n->timer = fmx_timers_add(b->timers, n->deadline_us, s_node_timer, b, s_task_id(b, run, i));
        if (!n->timer) {
            s_fail(b, run, i, "error");
            return;
        }
    }
    s_dispatch(b, run, i);
}

/* --- completion -------------------------------------------------------------------------------- */

static void s_finish(fmx_broker_t *b, fmx_run_t *run, size_t output_index);

/* The `cached` fallback's key for node i of this request: feed, node and its bound params. */
static uint64_t s_cache_key(const fmx_run_t *run, size_t i) {
    const fmx_plan_node_t *pn = &run->plan->nodes[i];
    fmx_str_t params = run->bound && run->bound[i].ptr ? run->bound[i] : (fmx_str_t){pn->params, pn->params_len};
    return fmx_fcache_key(run->plan->feed->name, pn->name, params.ptr, params.len);
}

static void s_complete(fmx_broker_t *b, fmx_run_t *run, size_t i, zmq_msg_t *result, const char *outcome) {
    fmx_node_run_t *n = &run->nodes[i];
    const fmx_plan_node_t *pn = &run->plan->nodes[i];
    if (pn->fallback == FMX_FALLBACK_CACHED && strcmp(outcome, "ok") == 0)
        fmx_fcache_put(b->fcache, s_cache_key(run, i), result, fmx_clock_now_us());
    if (n->timer) {
        fmx_timers_cancel(b->timers, n->timer);
        n->timer = 0;
    }
    if (n->hedge_timer) {
        fmx_timers_cancel(b->timers, n->hedge_timer);
        n->hedge_timer = 0;
    }
    n->state = FMX_NODE_DONE;
    n->done_us = fmx_clock_now_us();
    n->outcome = outcome;
    zmq_msg_init(&n->result);
    zmq_msg_move(&n->result, result);
    run->pending--;
    fmx_obs_node_done(b, run, i, outcome);
    if (i == run->plan->output) {
        s_finish(b, run, i);
        return;
    }
    uint32_t gen = run->gen;
    for (size_t k = 0; run->active && run->gen == gen && k < pn->n_consumers; k++) {
        size_t c = pn->consumers[k];
        if (--run->nodes[c].waiting == 0) s_ready(b, run, c);
    }
}

static void s_fail(fmx_broker_t *b, fmx_run_t *run, size_t i, const char *outcome) {
    const fmx_plan_node_t *pn = &run->plan->nodes[i];
    char variants[256];
    fmx_log_info("request %s ranking %s experiments %s node %s (%s): %s, fallback %s", run->request_id,
                 run->ranking_id, s_variants(run, variants, sizeof variants), pn->name, pn->type, outcome,
                 pn->required ? "none (required)" : fmx_fallback_kind_name(pn->fallback));
    if (pn->required) {
        fmx_obs_node_fallback(b, run, i, outcome, "none (required)"); /* as obs.h says: before the plan goes */
        char node[sizeof run->failover_node];
        snprintf(node, sizeof node, "%s", pn->name); /* the plan goes away if we fail over */
        if (s_failover(b, run, node, outcome)) return;
        fmx_error_code_t code = strcmp(outcome, "timeout") == 0     ? FMX_CODE_DEADLINE_EXCEEDED
                                : strcmp(outcome, "overloaded") == 0 ? FMX_CODE_OVERLOADED
                                                                     : FMX_CODE_INTERNAL;
        char msg[FMX_ERR_LEN + 64];
        snprintf(msg, sizeof msg, "required node '%s' failed: %s", node, outcome);
        b->counters.errors++;
        fmx_broker_reply_error(b, run->client, run->client_len,
                               (fmx_str_t){run->request_id, strlen(run->request_id)}, code, msg);
        fmx_obs_request_done(b, run, "error", code);
        fmx_run_release(b, run);
        return;
    }
    zmq_msg_t out;
    int rc;
    if (pn->fallback == FMX_FALLBACK_PASSTHROUGH && pn->n_inputs > 0 &&
        run->nodes[pn->inputs[0]].state == FMX_NODE_DONE) {
        zmq_msg_init(&out);
        rc = zmq_msg_copy(&out, &run->nodes[pn->inputs[0]].result);
    } else if (pn->fallback == FMX_FALLBACK_STATIC && pn->static_items) {
        rc = fmx_frame_from_bytes(&out, pn->static_items, pn->static_len);
    } else if (pn->fallback == FMX_FALLBACK_CACHED &&
               fmx_fcache_get(b->fcache, s_cache_key(run, i), fmx_clock_now_us(), &out) == 0) {
        rc = 0;
    } else {
        /* empty, an unspecified fallback, or nothing fresh in the cache */
        rc = fmx_frame_from_bytes(&out, s_empty_array, sizeof s_empty_array);
    }
    if (rc != 0) {
        b->counters.errors++;
        fmx_broker_reply_error(b, run->client, run->client_len,
                               (fmx_str_t){run->request_id, strlen(run->request_id)}, FMX_CODE_INTERNAL,
                               "out of memory applying a fallback");
        fmx_obs_request_done(b, run, "error", FMX_CODE_INTERNAL);
        fmx_run_release(b, run);
        return;
    }
    b->counters.fallbacks++;
    run->n_fallbacks++;
    fmx_obs_node_fallback(b, run, i, outcome, fmx_fallback_kind_name(pn->fallback));
    s_complete(b, run, i, &out, outcome); /* an outcome other than "ok" marks a fallback */
}

void fmx_exec_on_result(fmx_broker_t *b, fmx_replica_t *replica, uint64_t task_id, bool ok, fmx_str_t error,
                        uint64_t actor_us, zmq_msg_t *output) {
    b->counters.results++;
    uint32_t type_index = replica->type_index;
    int was_inflight = fmx_registry_task_end(b->registry, replica, task_id) == 0;
    fmx_run_t *run = s_run_of(b, task_id);
    size_t i = FMX_TASK_NODE(task_id);
    size_t bytes = output ? zmq_msg_size(output) : 0;
    if (!was_inflight || !run || run->nodes[i].state != FMX_NODE_RUNNING) {
        b->counters.late_results++;
        fmx_obs_node_result(b, run, i, replica, "late", actor_us, bytes);
    } else if (!ok && run->nodes[i].copies > 1) {
        fmx_obs_node_result(b, run, i, replica, "error", actor_us, bytes);
        run->nodes[i].copies--; /* the other copy may still answer */
        if (run->nodes[i].replica == replica) run->nodes[i].replica = run->nodes[i].hedge_replica;
        run->nodes[i].hedge_replica = NULL;
    } else if (!ok) {
        fmx_obs_node_result(b, run, i, replica, "error", actor_us, bytes);
        fmx_log_warn("request %s node %s: actor %s (pid %" PRId64 ") failed: %.*s", run->request_id,
                     run->plan->nodes[i].name, replica->name, replica->pid, (int)error.len, error.ptr);
        s_fail(b, run, i, "error");
    } else {
        char err[FMX_ERR_LEN];
        const uint8_t *data = output ? zmq_msg_data(output) : NULL;
        size_t size = output ? zmq_msg_size(output) : 0;
        if (!data || fmx_mp_check(data, size, &fmx_mp_limits_result, err) != 0 ||
            !((data[0] >= 0x90 && data[0] <= 0x9f) || data[0] == 0xdc || data[0] == 0xdd)) {
            if (data && data[0] != 0) fmx_err(err, "result is not a msgpack array");
            if (!data) fmx_err(err, "result frame missing");
            fmx_log_warn("request %s node %s: garbage from actor %s (pid %" PRId64 "): %s", run->request_id,
                         run->plan->nodes[i].name, replica->name, replica->pid, err);
            fmx_obs_node_result(b, run, i, replica, "garbage", actor_us, bytes);
            s_fail(b, run, i, "garbage");
        } else {
            run->nodes[i].actor_us = actor_us; /* for the trace: the copy whose result is used */
            fmx_obs_node_result(b, run, i, replica, "ok", actor_us, bytes);
            fmx_registry_note_success(b->registry, replica);
            fmx_registry_note_latency(b->registry, type_index, fmx_clock_now_us() - run->nodes[i].dispatch_us);
            s_complete(b, run, i, output, "ok");
        }
    }
    fmx_exec_on_capacity(b, type_index);
}

void fmx_exec_orphaned(fmx_broker_t *b, const fmx_replica_t *dead, const uint64_t *task_ids, size_t n,
                       const char *why) {
    uint64_t now = fmx_clock_now_us();
    for (size_t k = 0; k < n; k++) {
        fmx_run_t *run = s_run_of(b, task_ids[k]);
        size_t i = FMX_TASK_NODE(task_ids[k]);
        if (!run || run->nodes[i].state != FMX_NODE_RUNNING) continue;
        fmx_node_run_t *nd = &run->nodes[i];
        /* Forget the dead replica (it is being freed); a hedge copy elsewhere keeps the node alive. */
        if (nd->replica == dead) nd->replica = nd->hedge_replica;
        nd->hedge_replica = NULL;
        if (nd->copies > 1) {
            nd->copies--;
            continue;
        }
        nd->replica = NULL;
        fmx_log_info("request %s node %s: replica %s, re-dispatching attempt %u", run->request_id,
                     run->plan->nodes[i].name, why, nd->attempt + 1);
        if (nd->deadline_us <= now + 1000 || !s_spend_token(b)) {
            s_fail(b, run, i, nd->deadline_us <= now + 1000 ? "timeout" : "error");
            continue;
        }
        b->counters.redispatches++;
        s_dispatch(b, run, i);
    }
}

/* --- reply ------------------------------------------------------------------------------------- */

static void s_finish(fmx_broker_t *b, fmx_run_t *run, size_t output_index) {
    zmq_msg_t *out = &run->nodes[output_index].result;
    const char *items = zmq_msg_data(out);
    size_t items_len = zmq_msg_size(out);
    char *sliced = NULL;
    uint32_t count = 0;
    size_t off = 0;
    /* The request's `limit`, else the feed's resolved `limit` parameter: honoured even when the
     * node that applies it fell back (a passthrough layout would otherwise serve everything). */
    int64_t limit = run->req.limit;
    fmx_scalar_t v;
    if (limit <= 0 && fmx_resolution_lookup(&run->res, "limit", 5, &v) == 0 && v.kind == FMX_SCALAR_INT) limit = v.u.i;
    if (limit > 0 && fmx_mp_read_array_header(items, items_len, &off, &count) == 0 && count > (uint64_t)limit) {
        /* Truncate by slicing whole elements; nothing is decoded. */
        size_t end = off;
        for (int64_t k = 0; k < limit; k++) fmx_mp_skip(items, items_len, &end);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, (size_t)limit);
        msgpack_sbuffer_write(&sb, items + off, end - off);
        items_len = sb.size;
        items = sliced = msgpack_sbuffer_release(&sb);
    }

    size_t n_nodes = run->plan->n_nodes;
    const char **fallbacks = calloc(n_nodes + 1, sizeof *fallbacks);
    fmx_trace_entry_t *trace = run->req.debug ? calloc(n_nodes ? n_nodes : 1, sizeof *trace) : NULL;
    size_t n_fallbacks = 0, n_trace = 0;
    if (fallbacks && run->failover_node[0]) fallbacks[n_fallbacks++] = run->failover_node; /* the feed failed over */
    for (size_t i = 0; fallbacks && i < n_nodes; i++) {
        const fmx_node_run_t *n = &run->nodes[i];
        bool fell_back = n->state == FMX_NODE_DONE && n->outcome && strcmp(n->outcome, "ok") != 0;
        if (fell_back) fallbacks[n_fallbacks++] = run->plan->nodes[i].name;
        if (trace) {
            fmx_trace_entry_t *t = &trace[n_trace++];
            t->node = run->plan->nodes[i].name;
            t->type = run->plan->nodes[i].type;
            t->actor = n->actor[0] ? n->actor : (run->plan->nodes[i].kind == FMX_PLAN_CAROUSEL ? "broker" : "");
            t->status = n->state == FMX_NODE_DONE ? (fell_back ? "fallback" : "ok")
                        : n->state == FMX_NODE_RUNNING ? "running"
                        : n->state == FMX_NODE_QUEUED  ? "queued"
                                                       : "skipped";
            uint64_t start = n->dispatch_us ? n->dispatch_us : n->ready_us;
            t->start_us = start > run->start_us ? start - run->start_us : 0;
            t->end_us = n->done_us > run->start_us ? n->done_us - run->start_us : 0;
            bool in_broker = run->plan->nodes[i].kind == FMX_PLAN_CAROUSEL;
            t->detail = true;
            t->queue_us = n->dispatch_us > n->ready_us && !in_broker ? n->dispatch_us - n->ready_us : 0;
            t->actor_us = n->actor_us;
            t->bytes = n->state == FMX_NODE_DONE ? zmq_msg_size((zmq_msg_t *)&n->result) : 0;
            t->replica_pid = in_broker ? (int64_t)getpid() : n->actor_pid;
            t->attempt = n->attempt;
            t->outcome = fell_back ? n->outcome : NULL;
            t->fallback = fell_back ? fmx_fallback_kind_name(run->plan->nodes[i].fallback) : NULL;
        }
    }
    fmx_str_t exp_names[FMX_MAX_EXPERIMENTS], exp_variants[FMX_MAX_EXPERIMENTS];
    for (size_t e = 0; e < run->res.n_experiments; e++) {
        exp_names[e] = (fmx_str_t){run->res.experiments[e].experiment, strlen(run->res.experiments[e].experiment)};
        exp_variants[e] = (fmx_str_t){run->res.experiments[e].variant, strlen(run->res.experiments[e].variant)};
    }
    fmx_reply_t reply = {
        .status = n_fallbacks ? "degraded" : "ok",
        .request_id = {run->request_id, strlen(run->request_id)},
        .ranking_id = {run->ranking_id, strlen(run->ranking_id)},
        .feed = {run->res.feed->name, strlen(run->res.feed->name)},
        .items = items,
        .items_len = items_len,
        .experiment_names = exp_names,
        .experiment_variants = exp_variants,
        .n_experiments = run->res.n_experiments,
        .fallbacks = fallbacks,
        .n_fallbacks = n_fallbacks,
        .trace = trace,
        .n_trace = n_trace,
        .with_trace = trace != NULL,
    };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (!fallbacks || (run->req.debug && !trace) || fmx_reply_pack(&sb, &reply) != 0) {
        msgpack_sbuffer_destroy(&sb);
        b->counters.errors++;
        fmx_broker_reply_error(b, run->client, run->client_len, reply.request_id, FMX_CODE_INTERNAL,
                               "out of memory building the reply");
        fmx_obs_request_done(b, run, "error", FMX_CODE_INTERNAL);
    } else {
        if (n_fallbacks)
            b->counters.degraded++;
        else
            b->counters.ok++;
        fmx_broker_reply(b, run->client, run->client_len, &sb);
        fmx_obs_request_done(b, run, reply.status, FMX_CODE_INTERNAL);
    }
    free(sliced);
    free(fallbacks);
    free(trace);
    fmx_run_release(b, run);
}

/* --- start ------------------------------------------------------------------------------------- */

/* Resolves `feed` for this request and makes its plan ready to run: nodes, the context frame,
 * downstream reserves and the request's deadline timer. The deadline is set once, from the
 * request or the first feed: a failover feed runs in what is left of it. */
static int s_prepare(fmx_broker_t *b, fmx_run_t *run, fmx_str_t feed, char err[FMX_ERR_LEN], fmx_error_code_t *code) {
    if (fmx_config_resolve(run->config, feed, run->req.user_id, run->req.params, fmx_req_context_lookup, &run->ctx,
                           &run->res, code, err) != 0)
        return -1;
    /* The request's `limit` (a protocol field) sets the feed's `limit` parameter when it has one,
     * within that parameter's declared bounds: share's "top 10" stays 10 when 12 are asked for. */
    const fmx_param_decl_t *decl = fmx_feed_param(run->res.feed, "limit");
    if (run->req.limit > 0 && decl) {
        if (decl->has_max && (double)run->req.limit > decl->max) run->req.limit = (int64_t)decl->max;
        if (decl->has_min && (double)run->req.limit < decl->min) run->req.limit = (int64_t)decl->min;
        fmx_scalar_t limit = {.kind = FMX_SCALAR_INT, .u.i = run->req.limit};
        fmx_resolution_set(&run->res, FMX_STR_LIT("limit"), &limit);
    }
    bool hit;
    run->plan = fmx_config_plan(run->config, &run->res, &run->plan_owned, &hit, &run->bound, err);
    if (!run->plan) {
        *code = FMX_CODE_BAD_REQUEST;
        return -1;
    }
    if (hit)
        b->counters.plan_cache_hits++;
    else
        b->counters.plan_cache_misses++;
    run->nodes = calloc(run->plan->n_nodes, sizeof *run->nodes);
    if (!run->nodes || s_pack_context(run) != 0) {
        *code = FMX_CODE_INTERNAL;
        return fmx_err(err, "out of memory starting the request");
    }
    if (!run->deadline_us) {
        uint64_t deadline_ms = run->req.deadline_ms > 0 ? (uint64_t)run->req.deadline_ms : run->plan->deadline_ms;
        run->deadline_us = run->start_us + deadline_ms * 1000u;
    }
    run->pending = run->plan->n_nodes;
    for (size_t i = 0; i < run->plan->n_nodes; i++) {
        const fmx_plan_node_t *pn = &run->plan->nodes[i];
        run->nodes[i].waiting = (uint16_t)pn->n_inputs;
        if (pn->kind == FMX_PLAN_TASK) {
            long t = fmx_registry_type(b->registry, pn->type, strlen(pn->type));
            if (t < 0) {
                *code = FMX_CODE_INTERNAL;
                return fmx_err(err, "node '%s': cannot register type '%s'", pn->name, pn->type);
            }
            run->nodes[i].type_index = (uint32_t)t;
        }
    }
    /* Downstream reserve, from the outputs back: the longest path of expected type latencies. */
    for (size_t i = run->plan->n_nodes; i-- > 0;) {
        const fmx_plan_node_t *pn = &run->plan->nodes[i];
        uint64_t need = 0;
        for (size_t k = 0; k < pn->n_consumers; k++) {
            const fmx_node_run_t *c = &run->nodes[pn->consumers[k]];
            const fmx_type_t *t = run->plan->nodes[pn->consumers[k]].kind == FMX_PLAN_TASK
                                      ? fmx_registry_type_at(b->registry, c->type_index)
                                      : NULL;
            /* Twice the smoothed latency plus 5 ms per hop: headroom for variance and for the broker
             * waking a little late, in the spirit of TCP's RTO over its smoothed RTT. */
            uint64_t path = (t && t->latency_us ? 2 * t->latency_us + 5000 : 0) + c->reserve_us;
            if (path > need) need = path;
        }
        run->nodes[i].reserve_us = need;
    }
    run->deadline_timer = fmx_timers_add(b->timers, run->deadline_us, s_run_timer, b, s_task_id(b, run, 0));
    if (!run->deadline_timer) {
        *code = FMX_CODE_INTERNAL;
        return fmx_err(err, "out of memory starting the request");
    }
    return 0;
}

/* Kicks off every source node. The request may finish inside this loop (all sources failing
 * with fallbacks straight to the output), which releases the run: stop touching it then. */
static void s_kick(fmx_broker_t *b, fmx_run_t *run) {
    uint32_t gen = run->gen;
    for (size_t i = 0; run->active && run->gen == gen && i < run->plan->n_nodes; i++)
        if (run->plan->nodes[i].n_inputs == 0 && run->nodes[i].state == FMX_NODE_WAITING && !run->nodes[i].ready_us)
            s_ready(b, run, i);
}

int fmx_exec_start(fmx_broker_t *b, fmx_run_t *run, char err[FMX_ERR_LEN], fmx_error_code_t *code) {
    fmx_req_context_init(&run->ctx, run->req.user_id, (fmx_str_t){run->request_id, strlen(run->request_id)},
                         run->req.feed, run->req.context, (int64_t)time(NULL));
    if (s_prepare(b, run, run->req.feed, err, code) != 0) return -1;
    fmx_obs_request_start(b, run);
    s_kick(b, run);
    return 0;
}

/* Abandons the running plan: timers cancelled, outputs dropped, and a new generation, so results
 * still in flight for it are late when they come. The run itself stays active. */
static void s_abandon_plan(fmx_broker_t *b, fmx_run_t *run) {
    if (run->deadline_timer) fmx_timers_cancel(b->timers, run->deadline_timer);
    run->deadline_timer = 0;
    for (size_t i = 0; run->nodes && i < run->plan->n_nodes; i++) {
        if (run->nodes[i].timer) fmx_timers_cancel(b->timers, run->nodes[i].timer);
        if (run->nodes[i].hedge_timer) fmx_timers_cancel(b->timers, run->nodes[i].hedge_timer);
        if (run->nodes[i].state == FMX_NODE_DONE) zmq_msg_close(&run->nodes[i].result);
    }
    free(run->nodes);
    run->nodes = NULL;
    fmx_config_bound_free(run->plan, &run->bound);
    if (run->plan_owned) {
        fmx_plan_t *owned = (fmx_plan_t *)run->plan;
        fmx_plan_destroy(&owned);
    }
    run->plan = NULL;
    run->plan_owned = false;
    zmq_msg_close(&run->context);
    zmq_msg_init(&run->context);
    run->gen++;
}

/* A required node failed: serve the feed's `on_failure` feed in what is left of the deadline,
 * once. Returns true when the failover feed is running (or has already answered). */
static bool s_failover(fmx_broker_t *b, fmx_run_t *run, const char *node, const char *outcome) {
    const char *alt = run->res.feed->on_failure;
    if (!alt || run->failover_node[0]) return false;
    snprintf(run->failover_node, sizeof run->failover_node, "%s", node);
    fmx_log_info("request %s: required node %s failed (%s): serving on_failure feed %s", run->request_id, node,
                 outcome, alt);
    fmx_str_t feed = {alt, strlen(alt)}; /* borrowed from the snapshot the run holds */
    s_abandon_plan(b, run);
    char err[FMX_ERR_LEN];
    fmx_error_code_t code;
    if (s_prepare(b, run, feed, err, &code) != 0) {
        fmx_log_warn("request %s: on_failure feed %s cannot run: %s", run->request_id, alt, err);
        b->counters.errors++;
        fmx_broker_reply_error(b, run->client, run->client_len,
                               (fmx_str_t){run->request_id, strlen(run->request_id)}, code, err);
        fmx_obs_request_done(b, run, "error", code);
        fmx_run_release(b, run);
        return true;
    }
    b->counters.failovers++;
    s_kick(b, run);
    return true;
}

void fmx_exec_abort_all(fmx_broker_t *b) {
    for (uint32_t s = 0; s < b->config.max_requests; s++) {
        fmx_run_t *run = &b->runs[s];
        if (!run->active) continue;
        fmx_broker_reply_error(b, run->client, run->client_len,
                               (fmx_str_t){run->request_id, strlen(run->request_id)}, FMX_CODE_INTERNAL,
                               "broker shutting down");
        fmx_obs_request_done(b, run, "error", FMX_CODE_INTERNAL);
        fmx_run_release(b, run);
    }
}
