/* obs.c - the broker's observers (broker/obs.h), called on its one thread. Each sink gets one
 * line per event here: USDT probes (only when a tracer has set their semaphore), Prometheus
 * metrics, the JSON request log and sampled traces. */
#include "broker/obs.h"

#include <inttypes.h>

#include "broker/metrics_sink.h"
#include "broker/reqlog.h"
#include "broker/trace.h"
#include "broker/usdt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/probes.h"

/* Logs a sink's failure, but only when count (its failures so far) is a power of two, so a full
 * disk does not flood the log. */
static void s_sink_error(uint64_t count, const char *err) {
    if ((count & (count - 1)) == 0) fmx_log_warn("%s (failure %" PRIu64 ")", err, count);
}

void fmx_obs_request_start(fmx_broker_t *b, fmx_run_t *run) {
    if (FMX_PROBE_ENABLED(request__start)) fmx_usdt_request_start(run);
    fmx_trace_request_start(b->tracer, run);
}

void fmx_obs_request_done(fmx_broker_t *b, fmx_run_t *run, const char *status, fmx_error_code_t code) {
    if (FMX_PROBE_ENABLED(request__done)) fmx_usdt_request_done(run, status, code);
    fmx_metrics_sink_request_done(b->metrics, run, status);
    if (fmx_log_level <= FMX_LOG_DEBUG)
        fmx_log_debug("request %s ranking %s feed %.*s user %.*s: %s in %" PRIu64 " us", run->request_id,
                      run->ranking_id, (int)run->req.feed.len, run->req.feed.ptr, (int)run->req.user_id.len,
                      run->req.user_id.ptr, status, fmx_clock_now_us() - run->start_us);
    fmx_reqlog_run(b->reqlog, run, status, code, run->trace != NULL);
    char err[FMX_ERR_LEN];
    if (fmx_trace_request_done(b->tracer, run, status, code, err) != 0) {
        fmx_trace_stats_t st;
        fmx_trace_stats(b->tracer, &st);
        s_sink_error(st.errors + st.dropped, err);
    }
}

void fmx_obs_request_refused(fmx_broker_t *b, fmx_run_t *run, fmx_error_code_t code) {
    fmx_reqlog_refused(b->reqlog, run, code);
}

void fmx_obs_request_rejected(fmx_broker_t *b, fmx_str_t feed, fmx_error_code_t code) {
    fmx_metrics_sink_request_rejected(b->metrics, b->cfg, feed);
    fmx_reqlog_rejected(b->reqlog, feed, code);
}

void fmx_obs_node_dispatch(fmx_broker_t *b, fmx_run_t *run, size_t i, const fmx_replica_t *r, bool hedge) {
    if (FMX_PROBE_ENABLED(node__dispatch)) fmx_usdt_node_dispatch(b, run, i, r, hedge);
    fmx_trace_dispatch(b->tracer, run, i, r, hedge);
}

void fmx_obs_node_result(fmx_broker_t *b, fmx_run_t *run, size_t i, const fmx_replica_t *r, const char *outcome,
                         uint64_t actor_us, size_t bytes) {
    if (FMX_PROBE_ENABLED(node__result)) fmx_usdt_node_result(b, run, i, r, outcome, actor_us, bytes);
    fmx_metrics_sink_node_result(b->metrics, run, i, r, outcome);
    fmx_trace_result(b->tracer, run, i, r, outcome, actor_us, bytes);
}

void fmx_obs_node_fallback(fmx_broker_t *b, fmx_run_t *run, size_t i, const char *outcome, const char *kind) {
    if (FMX_PROBE_ENABLED(node__fallback)) fmx_usdt_node_fallback(run, i, outcome, kind);
    fmx_metrics_sink_node_fallback(b->metrics, run, i, outcome, kind);
    fmx_trace_fallback(b->tracer, run, i, outcome, kind);
}

void fmx_obs_node_done(fmx_broker_t *b, fmx_run_t *run, size_t i, const char *outcome) {
    fmx_metrics_sink_node_done(b->metrics, run, i, outcome);
    fmx_trace_node_done(b->tracer, run, i, outcome);
}

void fmx_obs_reload(fmx_broker_t *b, bool ok) {
    fmx_metrics_sink_reload(b->metrics, ok);
    char err[FMX_ERR_LEN];
    if (fmx_reqlog_reopen(b->reqlog, err) != 0) fmx_log_warn("request log: %s (still writing the old file)", err);
}

void fmx_obs_flush(fmx_broker_t *b) {
    char err[FMX_ERR_LEN];
    if (fmx_reqlog_flush(b->reqlog, err) != 0) fmx_log_warn("%s", err);
}
