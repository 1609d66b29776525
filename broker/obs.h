/* obs.h - what the broker's observers hear: one call per lifecycle event of a request and of each
 * of its nodes, made from exec.c and broker.c. Every sink (USDT probes, Prometheus metrics, the
 * JSON request log, sampled traces) hangs off these calls, so the serving code names each event
 * once and a new sink never touches the scheduler. All calls are on the broker's one thread and
 * must not block: a sink that does I/O buffers it. Arguments are borrowed for the call. */
#ifndef FMX_OBS_H
#define FMX_OBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker_int.h"

/* A feed request was admitted and its run prepared (plan, deadline and context are set). */
void fmx_obs_request_start(fmx_broker_t *b, fmx_run_t *run);
/* The reply for run went out: status "ok", "degraded" or "error" (then code says which).
 * Called once per run, just before the run is released. */
void fmx_obs_request_done(fmx_broker_t *b, fmx_run_t *run, const char *status, fmx_error_code_t code);
/* A request answered with an error before a run existed (too large, undecodable, overloaded, or
 * a feed that failed to resolve); feed is empty when unknown. */
void fmx_obs_request_rejected(fmx_broker_t *b, fmx_str_t feed, fmx_error_code_t code);
/* A decoded feed request (ids and user known) failed before its plan ran: unknown feed, bad
 * params, no plan. fmx_obs_request_rejected follows at once for the same request, with
 * run->req.feed: counting sinks count that one; this one is for sinks that name requests. */
void fmx_obs_request_refused(fmx_broker_t *b, fmx_run_t *run, fmx_error_code_t code);
/* Node i was sent to replica r (hedge: the second copy). run->nodes[i].ready_us is when its
 * inputs were complete, so now - ready_us is the time it waited in the broker's queue. */
void fmx_obs_node_dispatch(fmx_broker_t *b, fmx_run_t *run, size_t i, const fmx_replica_t *r, bool hedge);
/* A result header arrived from r for task_id. outcome: "ok", "error", "garbage", or "late" (the
 * node no longer waits for it: run is NULL when the request itself is gone). actor_us: the time
 * the actor reports it spent; bytes: the output frame's size (0 without one). */
void fmx_obs_node_result(fmx_broker_t *b, fmx_run_t *run, size_t i, const fmx_replica_t *r, const char *outcome,
                         uint64_t actor_us, size_t bytes);
/* Node i failed with outcome ("timeout", "error", "garbage", "overloaded") and its fallback
 * (named by kind: "empty", "passthrough", "static", "cached", or "none (required)") applies. */
void fmx_obs_node_fallback(fmx_broker_t *b, fmx_run_t *run, size_t i, const char *outcome, const char *kind);
/* Node i is done: outcome "ok", or the failure whose fallback output it now holds. */
void fmx_obs_node_done(fmx_broker_t *b, fmx_run_t *run, size_t i, const char *outcome);
/* A configuration reload finished (ok or not). SIGHUP comes here too: files reopen (logrotate). */
void fmx_obs_reload(fmx_broker_t *b, bool ok);
/* The end of a loop pass, before the broker sleeps in poll (and once more when it stops): sinks
 * that buffer write out here. */
void fmx_obs_flush(fmx_broker_t *b);

#endif
