/* metrics_sink.h - the broker's Prometheus metrics: the feedmix metric families over a registry
 * (broker/metrics.h), fed by the observer calls in broker/obs.c, and the /metrics endpoint
 * (broker/httpd.h) run inside the broker's event loop.
 *
 *   feedmix_requests_total{feed,status}                  counter   status: ok, degraded, error
 *   feedmix_request_duration_seconds{feed}               histogram admitted requests, start to reply
 *   feedmix_node_duration_seconds{feed,node,type}        histogram a node's inputs ready to its output
 *   feedmix_node_outcomes_total{feed,node,type,outcome}  counter   ok, error, timeout, fallback, late
 *   feedmix_replicas_ready{type}                         gauge     read at scrape time
 *   feedmix_queue_depth{type}                            gauge     read at scrape time
 *   feedmix_hedges_total, feedmix_retries_total          counter   read at scrape time
 *   feedmix_config_reloads_total{result}                 counter   result: ok, error
 *
 * Labels are bounded by the configuration: a feed a client names that the configuration does not
 * have is feed="unknown", and so are node and feed of a late result whose request is gone. Called
 * on the broker's one thread only. */
#ifndef FMX_METRICS_SINK_H
#define FMX_METRICS_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker_int.h"

#define FMX_METRICS_SINK_MAX_SERIES 4096
#define FMX_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct fmx_metrics_sink fmx_metrics_sink_t;

/* listen: "HOST:PORT" (port 0: any free one) or "off" (no HTTP; the admin `metrics` command still
 * answers). b is borrowed for the sink's life, read only at scrape time. NULL with err when the
 * address is bad or cannot be bound. */
fmx_metrics_sink_t *fmx_metrics_sink_new(const fmx_broker_t *b, const char *listen, char err[FMX_ERR_LEN]);
void fmx_metrics_sink_destroy(fmx_metrics_sink_t **self_p);

/* The HTTP port bound (0 when off). */
uint16_t fmx_metrics_sink_port(const fmx_metrics_sink_t *self);
/* Event-loop hooks (see broker/httpd.h): fd is -1 and the timeout -1 when HTTP is off. */
int fmx_metrics_sink_fd(const fmx_metrics_sink_t *self);
long fmx_metrics_sink_poll_timeout_ms(fmx_metrics_sink_t *self, uint64_t now_us);
void fmx_metrics_sink_poll_done(fmx_metrics_sink_t *self, bool readable, uint64_t now_us);

/* The exposition text with the gauges read now: 0 with *out (malloc'd; the caller frees) and
 * *len, or -1 on allocation failure. */
int fmx_metrics_sink_text(fmx_metrics_sink_t *self, char **out, size_t *len);

/* Events, one per broker/obs.h call; the arguments are those of that call. */
void fmx_metrics_sink_request_done(fmx_metrics_sink_t *self, const fmx_run_t *run, const char *status);
void fmx_metrics_sink_request_rejected(fmx_metrics_sink_t *self, const fmx_config_t *cfg, fmx_str_t feed);
void fmx_metrics_sink_node_result(fmx_metrics_sink_t *self, const fmx_run_t *run, size_t i, const fmx_replica_t *r,
                                  const char *outcome);
void fmx_metrics_sink_node_fallback(fmx_metrics_sink_t *self, const fmx_run_t *run, size_t i, const char *outcome,
                                    const char *kind);
void fmx_metrics_sink_node_done(fmx_metrics_sink_t *self, const fmx_run_t *run, size_t i, const char *outcome);
void fmx_metrics_sink_reload(fmx_metrics_sink_t *self, bool ok);

#endif
