/* usdt.c - the broker's USDT probe sites and their semaphores (common/probes.h). Only called while
 * a probe is enabled, so the argument work here (a clock read, copying the feed name out of the
 * request frame so it is NUL-terminated) is never paid in normal serving. */
#include "broker/usdt.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/probes.h"

FMX_PROBE_SEMAPHORE(request__start);
FMX_PROBE_SEMAPHORE(request__done);
FMX_PROBE_SEMAPHORE(node__dispatch);
FMX_PROBE_SEMAPHORE(node__result);
FMX_PROBE_SEMAPHORE(node__fallback);

/* The feed name as a C string: req.feed points into the request frame, unterminated. */
static const char *s_feed(const fmx_run_t *run, char buf[FMX_ID_MAX + 1]) {
    snprintf(buf, FMX_ID_MAX + 1, "%.*s", (int)(run->req.feed.len > FMX_ID_MAX ? FMX_ID_MAX : run->req.feed.len),
             run->req.feed.ptr ? run->req.feed.ptr : "");
    return buf;
}

void fmx_usdt_request_start(const fmx_run_t *run) {
    char feed[FMX_ID_MAX + 1];
    const char *id = run->request_id, *f = s_feed(run, feed);
    uint64_t budget_us = run->deadline_us > run->start_us ? run->deadline_us - run->start_us : 0;
    STAP_PROBEV(feedmix, request__start, id, f, budget_us);
}

void fmx_usdt_request_done(const fmx_run_t *run, const char *status, fmx_error_code_t code) {
    char feed[FMX_ID_MAX + 1];
    const char *id = run->request_id, *f = s_feed(run, feed);
    const char *error = strcmp(status, "error") == 0 ? fmx_error_code_name(code) : "";
    uint64_t latency_us = fmx_clock_now_us() - run->start_us;
    STAP_PROBEV(feedmix, request__done, id, f, status, latency_us, error);
}

void fmx_usdt_node_dispatch(const fmx_broker_t *b, const fmx_run_t *run, size_t i, const fmx_replica_t *r, bool hedge) {
    const fmx_plan_node_t *pn = &run->plan->nodes[i];
    const fmx_node_run_t *n = &run->nodes[i];
    const char *id = run->request_id, *node = pn->name, *type = pn->type;
    int64_t pid = r->pid;
    uint64_t task_id = FMX_TASK_ID(b->epoch, run->gen, run->slot, i);
    /* dispatch_us is the first copy's send time; a hedge waited for that copy, not in the queue. */
    uint64_t queue_us = n->dispatch_us > n->ready_us ? n->dispatch_us - n->ready_us : 0;
    int is_hedge = hedge ? 1 : 0;
    STAP_PROBEV(feedmix, node__dispatch, id, node, type, pid, task_id, queue_us, is_hedge);
}

void fmx_usdt_node_result(const fmx_broker_t *b, const fmx_run_t *run, size_t i, const fmx_replica_t *r,
                          const char *outcome, uint64_t actor_us, size_t bytes) {
    const char *id = "", *node = "", *type = NULL;
    uint64_t task_id = 0, d2r_us = 0, size = bytes;
    int64_t pid = r->pid;
    if (!run) {
        const fmx_type_t *t = fmx_registry_type_at(b->registry, r->type_index);
        type = t ? t->name : "";
    } else {
        const fmx_node_run_t *n = &run->nodes[i];
        id = run->request_id;
        node = run->plan->nodes[i].name;
        type = run->plan->nodes[i].type;
        task_id = FMX_TASK_ID(b->epoch, run->gen, run->slot, i);
        uint64_t now = fmx_clock_now_us();
        d2r_us = n->dispatch_us && now > n->dispatch_us ? now - n->dispatch_us : 0;
    }
    STAP_PROBEV(feedmix, node__result, id, node, type, pid, task_id, outcome, d2r_us, actor_us, size);
}

void fmx_usdt_node_fallback(const fmx_run_t *run, size_t i, const char *outcome, const char *kind) {
    const char *id = run->request_id, *node = run->plan->nodes[i].name, *type = run->plan->nodes[i].type;
    int64_t pid = run->nodes[i].actor_pid;
    STAP_PROBEV(feedmix, node__fallback, id, node, type, pid, outcome, kind);
}
