/* usdt.h - the broker's USDT probes (common/probes.h, provider "feedmix"), fired from the
 * fmx_obs_* calls in broker/obs.c. obs.c tests the probe's semaphore first
 * (`if (FMX_PROBE_ENABLED(x)) fmx_usdt_x(...)`), so a detached probe costs one load and a branch
 * and these functions, which build the arguments, run only while a tracer listens.
 * Arguments are documented in tools/feedtrace/README.md. */
#ifndef FMX_USDT_H
#define FMX_USDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker_int.h"

/* request__start(request_id, feed, budget_us) */
void fmx_usdt_request_start(const fmx_run_t *run);
/* request__done(request_id, feed, status, latency_us, error_code) */
void fmx_usdt_request_done(const fmx_run_t *run, const char *status, fmx_error_code_t code);
/* node__dispatch(request_id, node, type, replica_pid, task_id, queue_us, hedge) */
void fmx_usdt_node_dispatch(const fmx_broker_t *b, const fmx_run_t *run, size_t i, const fmx_replica_t *r, bool hedge);
/* node__result(request_id, node, type, replica_pid, task_id, outcome, dispatch_to_result_us, actor_us,
 * bytes); run may be NULL (a late result for a request that is gone). */
void fmx_usdt_node_result(const fmx_broker_t *b, const fmx_run_t *run, size_t i, const fmx_replica_t *r,
                          const char *outcome, uint64_t actor_us, size_t bytes);
/* node__fallback(request_id, node, type, replica_pid, outcome, kind) */
void fmx_usdt_node_fallback(const fmx_run_t *run, size_t i, const char *outcome, const char *kind);

#endif
