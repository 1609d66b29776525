/* metrics_sink.c - the feedmix metric families, fed by broker/obs.c, served on /metrics
 * (broker/metrics_sink.h). */
#include "broker/metrics_sink.h"

#include <stdlib.h>
#include <string.h>

#include "broker/httpd.h"
#include "broker/metrics.h"
#include "common/clock.h"

/* Upper bounds in microseconds: a request's deadline is tens to hundreds of ms, a node's budget
 * a few ms to tens of ms; both reach seconds for the slow tail. */
static const uint64_t s_request_bounds[] = {1000,   2500,   5000,    10000,   25000,   50000,   100000,
                                            250000, 500000, 1000000, 2500000, 5000000, 10000000};
static const uint64_t s_node_bounds[] = {250,   500,    1000,   2500,   5000,    10000,  25000,
                                         50000, 100000, 250000, 500000, 1000000, 2500000};

struct fmx_metrics_sink {
    const fmx_broker_t *b;
    fmx_metrics_t *reg;
    fmx_httpd_t *httpd;
    int requests, request_duration, node_duration, node_outcomes, replicas_ready, queue_depth, hedges, retries,
        reloads;
};

static int s_body(void *arg, char **body, size_t *len) {
    return fmx_metrics_sink_text(arg, body, len);
}

static int s_declare(fmx_metrics_sink_t *self, char err[FMX_ERR_LEN]) {
    static const char *const feed_status[] = {"feed", "status"}, *const feed[] = {"feed"};
    static const char *const node[] = {"feed", "node", "type", "outcome"}, *const type[] = {"type"};
    static const char *const result[] = {"result"};
    fmx_metrics_t *m = self->reg;
    if ((self->requests = fmx_metrics_family(m, "feedmix_requests_total",
                                             "Feed requests answered, by the feed asked for and the reply status "
                                             "(ok, degraded, error).",
                                             FMX_METRIC_COUNTER, feed_status, 2, NULL, 0, err)) < 0 ||
        (self->request_duration = fmx_metrics_family(
             m, "feedmix_request_duration_seconds",
             "Time from admitting a feed request to its reply (requests refused before a run are not timed).",
             FMX_METRIC_HISTOGRAM, feed, 1, s_request_bounds, FMX_ARRAY_LEN(s_request_bounds), err)) < 0 ||
        (self->node_duration = fmx_metrics_family(
             m, "feedmix_node_duration_seconds",
             "Time from a node's inputs being ready to its output (its own or its fallback's), queueing included.",
             FMX_METRIC_HISTOGRAM, node, 3, s_node_bounds, FMX_ARRAY_LEN(s_node_bounds), err)) < 0 ||
        (self->node_outcomes = fmx_metrics_family(
             m, "feedmix_node_outcomes_total",
             "Node outcomes: ok; fallback (its fallback stood in) plus its cause, error or timeout (also counted "
             "for a failed required node); late (a result that came after the node stopped waiting).",
             FMX_METRIC_COUNTER, node, 4, NULL, 0, err)) < 0 ||
        (self->replicas_ready = fmx_metrics_family(m, "feedmix_replicas_ready",
                                                   "Actor replicas registered, by node type.", FMX_METRIC_GAUGE, type,
                                                   1, NULL, 0, err)) < 0 ||
        (self->queue_depth = fmx_metrics_family(m, "feedmix_queue_depth",
                                                "Tasks waiting in the broker for a free replica, by node type.",
                                                FMX_METRIC_GAUGE, type, 1, NULL, 0, err)) < 0 ||
        (self->hedges = fmx_metrics_family(m, "feedmix_hedges_total",
                                           "Second copies of a slow task sent to another replica.",
                                           FMX_METRIC_COUNTER, NULL, 0, NULL, 0, err)) < 0 ||
        (self->retries = fmx_metrics_family(m, "feedmix_retries_total",
                                            "Tasks dispatched again after their replica died.", FMX_METRIC_COUNTER,
                                            NULL, 0, NULL, 0, err)) < 0 ||
        (self->reloads = fmx_metrics_family(
             m, "feedmix_config_reloads_total",
             "Configuration reloads, by result (ok, or error: the old one kept serving).", FMX_METRIC_COUNTER,
             result, 1, NULL, 0, err)) < 0)
        return -1;
    /* Series that must be there from the start, so a dashboard sees 0 rather than nothing. */
    fmx_metrics_add(m, self->hedges, NULL, 0);
    fmx_metrics_add(m, self->retries, NULL, 0);
    fmx_metrics_add(m, self->reloads, (const char *const[]){"ok"}, 0);
    fmx_metrics_add(m, self->reloads, (const char *const[]){"error"}, 0);
    return 0;
}

fmx_metrics_sink_t *fmx_metrics_sink_new(const fmx_broker_t *b, const char *listen, char err[FMX_ERR_LEN]) {
    fmx_metrics_sink_t *self = calloc(1, sizeof *self);
    if (!self) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    self->b = b;
    self->reg = fmx_metrics_new(FMX_METRICS_SINK_MAX_SERIES);
    if (!self->reg) {
        fmx_err(err, "out of memory");
        goto fail;
    }
    if (s_declare(self, err) != 0) goto fail;
    if (strcmp(listen, "off") != 0) {
        self->httpd = fmx_httpd_new(listen, "/metrics", FMX_METRICS_CONTENT_TYPE, s_body, self, err);
        if (!self->httpd) goto fail;
    }
    return self;
fail:
    fmx_metrics_sink_destroy(&self);
    return NULL;
}

void fmx_metrics_sink_destroy(fmx_metrics_sink_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_metrics_sink_t *self = *self_p;
    fmx_httpd_destroy(&self->httpd);
    fmx_metrics_destroy(&self->reg);
    free(self);
    *self_p = NULL;
}

uint16_t fmx_metrics_sink_port(const fmx_metrics_sink_t *self) {
    return self && self->httpd ? fmx_httpd_port(self->httpd) : 0;
}

int fmx_metrics_sink_fd(const fmx_metrics_sink_t *self) {
    return self && self->httpd ? fmx_httpd_fd(self->httpd) : -1;
}

long fmx_metrics_sink_poll_timeout_ms(fmx_metrics_sink_t *self, uint64_t now_us) {
    return self && self->httpd ? fmx_httpd_poll_timeout_ms(self->httpd, now_us) : -1;
}

void fmx_metrics_sink_poll_done(fmx_metrics_sink_t *self, bool readable, uint64_t now_us) {
    if (self && self->httpd) fmx_httpd_poll_done(self->httpd, readable, now_us);
}

int fmx_metrics_sink_text(fmx_metrics_sink_t *self, char **out, size_t *len) {
    const fmx_broker_t *b = self->b;
    size_t n_types = fmx_registry_type_count(b->registry);
    for (size_t i = 0; i < n_types; i++) {
        const fmx_type_t *t = fmx_registry_type_at(b->registry, i);
        const char *type[] = {t->name};
        fmx_metrics_set(self->reg, self->replicas_ready, type, (double)t->n_replicas);
        fmx_metrics_set(self->reg, self->queue_depth, type, (double)fmx_sched_depth(b->sched, (uint32_t)i));
    }
    fmx_metrics_set(self->reg, self->hedges, NULL, (double)b->counters.hedges);
    fmx_metrics_set(self->reg, self->retries, NULL, (double)b->counters.redispatches);
    return fmx_metrics_render(self->reg, out, len);
}

/* --- events ------------------------------------------------------------------------------------ */

/* The configured feed's own name (bounded cardinality), or "unknown". */
static const char *s_feed(const fmx_config_t *cfg, fmx_str_t feed) {
    const fmx_feed_t *f = cfg && feed.len ? fmx_feedset_find(fmx_config_feeds(cfg), feed.ptr, feed.len) : NULL;
    return f ? f->name : "unknown";
}

static void s_outcome(fmx_metrics_sink_t *self, const fmx_run_t *run, size_t i, const char *type, const char *outcome) {
    const fmx_plan_node_t *pn = run ? &run->plan->nodes[i] : NULL;
    const char *labels[] = {pn ? run->plan->feed->name : "unknown", pn ? pn->name : "unknown", pn ? pn->type : type,
                            outcome};
    fmx_metrics_add(self->reg, self->node_outcomes, labels, 1);
}

void fmx_metrics_sink_request_done(fmx_metrics_sink_t *self, const fmx_run_t *run, const char *status) {
    if (!self) return;
    /* The feed asked for, as admission resolved it; once a failover resolved the on_failure
     * feed in its place (or failed to), the name is looked up again. */
    const fmx_feed_t *asked = run->failover_node[0] ? NULL : run->res.feed;
    const char *labels[] = {asked ? asked->name : s_feed(run->config, run->req.feed), status};
    fmx_metrics_add(self->reg, self->requests, labels, 1);
    uint64_t now = fmx_clock_now_us();
    fmx_metrics_observe(self->reg, self->request_duration, labels, now > run->start_us ? now - run->start_us : 0);
}

void fmx_metrics_sink_request_rejected(fmx_metrics_sink_t *self, const fmx_config_t *cfg, fmx_str_t feed) {
    if (!self) return;
    const char *labels[] = {s_feed(cfg, feed), "error"};
    fmx_metrics_add(self->reg, self->requests, labels, 1);
}

void fmx_metrics_sink_node_result(fmx_metrics_sink_t *self, const fmx_run_t *run, size_t i, const fmx_replica_t *r,
                                  const char *outcome) {
    if (!self || strcmp(outcome, "late") != 0) return; /* the others are counted when the node is done */
    const fmx_type_t *t = fmx_registry_type_at(self->b->registry, r->type_index);
    s_outcome(self, run, i, t ? t->name : "unknown", "late");
}

void fmx_metrics_sink_node_fallback(fmx_metrics_sink_t *self, const fmx_run_t *run, size_t i, const char *outcome,
                                    const char *kind) {
    if (!self) return;
    /* A required node has no fallback: only its cause is counted (the request fails or fails over). */
    if (strcmp(kind, "none (required)") != 0) s_outcome(self, run, i, NULL, "fallback");
    s_outcome(self, run, i, NULL, strcmp(outcome, "timeout") == 0 ? "timeout" : "error");
}

void fmx_metrics_sink_node_done(fmx_metrics_sink_t *self, const fmx_run_t *run, size_t i, const char *outcome) {
    if (!self) return;
    const fmx_node_run_t *n = &run->nodes[i];
    const fmx_plan_node_t *pn = &run->plan->nodes[i];
    const char *labels[] = {run->plan->feed->name, pn->name, pn->type};
    fmx_metrics_observe(self->reg, self->node_duration, labels,
                        n->ready_us && n->done_us > n->ready_us ? n->done_us - n->ready_us : 0);
    if (strcmp(outcome, "ok") == 0) s_outcome(self, run, i, NULL, "ok");
}

void fmx_metrics_sink_reload(fmx_metrics_sink_t *self, bool ok) {
    if (!self) return;
    fmx_metrics_add(self->reg, self->reloads, (const char *const[]){ok ? "ok" : "error"}, 1);
}
