/* cluster.h - configs/cluster.yaml: endpoints, broker limits, and the actors `up` starts.
 *
 *   broker:  { frontend: EP, backend: EP, admin: EP, heartbeat_ms: N, liveness: N,
 *              max_requests: N, queue_per_type: N, feeds: DIR, params: FILE, experiments: FILE,
 *              fallback_cache_mb: N, fallback_cache_ttl_s: N }
 *   store:   { backend: lmdb, path: DIR }       (backend optional: lmdb is the default)
 *         or { backend: redis, url: "redis://HOST:PORT[/DB]" }
 *   metrics: { listen: HOST:PORT | off }    (the broker's /metrics endpoint; port 0: any free port)
 *   actors:  { TYPE: REPLICAS, ... }            (mapping order is kept)
 *   tokens:  { key_file: FILE }                 (attribution token key; none: events are refused)
 *   events:  { path: FILE|off, fsync: always|interval|never, fsync_interval_ms: N, queue_kb: N }
 *   log:     { requests: FILE | stderr | off, level: debug | info | warn | error }
 *   trace:   { sample_rate: 0..1, users: [ID, ...], dir: DIR | off }  (a `trace:` section
 *            turns sampled traces on, into var/traces unless dir says otherwise)
 * Every key is optional; absent ones keep the defaults set by fmx_cluster_defaults. */
#ifndef FMX_CLUSTER_H
#define FMX_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "broker/events.h"
#include "common/fmx.h"

#define FMX_ENDPOINT_MAX 256
#define FMX_PATH_MAX 1024
#define FMX_CLUSTER_MAX_TYPES 64
#define FMX_CLUSTER_MAX_TRACE_USERS 64
#define FMX_CLUSTER_TRACE_USER_MAX 128

typedef struct {
    char frontend[FMX_ENDPOINT_MAX], backend[FMX_ENDPOINT_MAX], admin[FMX_ENDPOINT_MAX];
    char feeds_dir[FMX_PATH_MAX];
    char params_path[FMX_PATH_MAX];      /* a missing file means no overrides */
    char experiments_path[FMX_PATH_MAX]; /* a missing file means no experiments */
    char store_path[FMX_PATH_MAX];       /* an LMDB dir or a redis:// URL: the actors' --store */
    char metrics_listen[FMX_ENDPOINT_MAX]; /* "HOST:PORT" or "off" (the default: tests and side-by-side
                                              brokers never fight over a port; cluster.yaml sets 9400) */
    uint32_t heartbeat_ms;   /* 1..60000 */
    uint32_t liveness;       /* heartbeats missed before a peer is dead, 1..100 */
    uint32_t max_requests;   /* in flight at once, 1..65535; more get `overloaded` */
    uint32_t queue_per_type; /* tasks waiting per node type, 1..1000000 */
    uint32_t fallback_cache_mb;    /* bound of the `cached` fallback's memory, 0..65536 (0: off) */
    uint32_t fallback_cache_ttl_s; /* how old a cached output may be, 1..86400 */
    char token_key_file[FMX_PATH_MAX]; /* signs/verifies attribution tokens; "" = no key */
    char events_path[FMX_PATH_MAX];    /* the events log (JSON lines), "off" = not written */
    fmx_fsync_t events_fsync;
    uint32_t events_fsync_interval_ms; /* 1..3600000 */
    uint32_t events_queue_kb;          /* writer queue, 16..1048576 */
    struct {
        char type[64];
        uint32_t replicas;
    } actors[FMX_CLUSTER_MAX_TYPES];
    size_t n_actors;
    char request_log[FMX_PATH_MAX]; /* the JSON request log: a path, "stderr" or "off" (default) */
    int request_log_level;          /* an fmx_log_level_t: info logs every request, warn degraded+error */
    char trace_dir[FMX_PATH_MAX];   /* sampled traces go here; "off" (default): none */
    double trace_sample_rate;       /* 0..1 of the requests (debug ones and trace_users always) */
    char trace_users[FMX_CLUSTER_MAX_TRACE_USERS][FMX_CLUSTER_TRACE_USER_MAX + 1];
    size_t n_trace_users;
} fmx_cluster_t;

void fmx_cluster_defaults(fmx_cluster_t *c);
/* Overlays the file onto *c. 0, or -1 with err "FILE:LINE:COL: message". */
int fmx_cluster_load(fmx_cluster_t *c, const char *path, char err[FMX_ERR_LEN]);
/* 0 when listen is "off" or a metrics address fmx_httpd_parse_listen accepts; else -1 with err. */
int fmx_cluster_check_metrics(const char *listen, char err[FMX_ERR_LEN]);

#endif
