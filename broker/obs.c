/* obs.c - the broker's observers (broker/obs.h), called on its one thread. Each sink gets one
 * line per event here. */
#include "broker/obs.h"

#include <inttypes.h>

#include "broker/metrics_sink.h"
#include "broker/usdt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/probes.h"

void fmx_obs_request_start(fmx_broker_t *b, fmx_run_t *run) {
    (void)b, (void)run;
    if (FMX_PROBE_ENABLED(request__start)) fmx_usdt_request_start(run);
}

void fmx_obs_request_done(fmx_broker_t *b, fmx_run_t *run, const char *status, fmx_error_code_t code) {
    (void)b, (void)code;
    fmx_metrics_sink_request_done(b->metrics, run, status);
    if (FMX_PROBE_ENABLED(request__done)) fmx_usdt_request_done(run, status, code);
    if (fmx_log_level <= FMX_LOG_DEBUG)
        fmx_log_debug("request %s ranking %s feed %.*s user %.*s: %s in %" PRIu64 " us", run->request_id,
                      run->ranking_id, (int)run->req.feed.len, run->req.feed.ptr, (int)run->req.user_id.len,
                      run->req.user_id.ptr, status, fmx_clock_now_us() - run->start_us);
}

void fmx_obs_request_rejected(fmx_broker_t *b, fmx_str_t feed, fmx_error_code_t code) {
    (void)b, (void)feed, (void)code;
    fmx_metrics_sink_request_rejected(b->metrics, b->cfg, feed);
}

void fmx_obs_node_dispatch(fmx_broker_t *b, fmx_run_t *run, size_t i, const fmx_replica_t *r, bool hedge) {
    (void)b, (void)run, (void)i, (void)r, (void)hedge;
    if (FMX_PROBE_ENABLED(node__dispatch)) fmx_usdt_node_dispatch(b, run, i, r, hedge);
}

void fmx_obs_node_result(fmx_broker_t *b, fmx_run_t *run, size_t i, const fmx_replica_t *r, const char *outcome,
                         uint64_t actor_us, size_t bytes) {
    (void)b, (void)run, (void)i, (void)r, (void)outcome, (void)actor_us, (void)bytes;
    fmx_metrics_sink_node_result(b->metrics, run, i, r, outcome);
    if (FMX_PROBE_ENABLED(node__result)) fmx_usdt_node_result(b, run, i, r, outcome, actor_us, bytes);
}

void fmx_obs_node_fallback(fmx_broker_t *b, fmx_run_t *run, size_t i, const char *outcome, const char *kind) {
    (void)b, (void)run, (void)i, (void)outcome, (void)kind;
    fmx_metrics_sink_node_fallback(b->metrics, run, i, outcome, kind);
    if (FMX_PROBE_ENABLED(node__fallback)) fmx_usdt_node_fallback(run, i, outcome, kind);
}

void fmx_obs_node_done(fmx_broker_t *b, fmx_run_t *run, size_t i, const char *outcome) {
    (void)b, (void)run, (void)i, (void)outcome;
    fmx_metrics_sink_node_done(b->metrics, run, i, outcome);
}

void fmx_obs_reload(fmx_broker_t *b, bool ok) {
    (void)b, (void)ok;
    fmx_metrics_sink_reload(b->metrics, ok);
}
