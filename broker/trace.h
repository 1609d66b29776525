/* trace.h - sampled full execution traces, written as Chrome trace-event JSON (common/chrome.h)
 * to <dir>/<request_id>.json, one file per traced request, for Perfetto and scripts/trace-gantt.
 *
 * Which requests: every `debug: true` request, every request of an allowlisted user, and a
 * random sample_rate fraction of the rest. Only a traced run carries a record (run->trace); for
 * the others each event below costs one NULL test. The record copies what the obs events tell
 * (every dispatched copy: replica, pid, dispatch, result arrival, the actor's own elapsed time,
 * outcome, output bytes; every node: ready, done, outcome, fallback kind), so it survives a
 * failover that replaces the run's plan. Times in the file are microseconds since the request
 * started; an actor's start is taken as result arrival - its reported elapsed time (the actors'
 * clocks are never compared with the broker's).
 *
 * The file (a few KB) is built on the broker's thread when the request ends (~30 us) and written
 * by the tracer's own writer thread (open, write, rename), so neither the kernel's file creation
 * nor a slow disk ever holds up the loop; at most 256 files wait, more traces are dropped and
 * counted. Every function is for the broker's loop thread only. */
#ifndef FMX_TRACE_H
#define FMX_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker_int.h"
#include "common/fmx.h"

typedef struct fmx_trace fmx_trace_t;

/* dir is created if missing. users: user ids always traced (copied). seed: for the sampler.
 * NULL with err when dir cannot be created or an argument is out of range. */
fmx_trace_t *fmx_trace_new(const char *dir, double sample_rate, const char *const *users, size_t n_users,
                           uint64_t seed, char err[FMX_ERR_LEN]);
void fmx_trace_destroy(fmx_trace_t **self_p);

/* True when a request of this user with this debug flag would be traced now (draws from the
 * sampler). NULL tracer: false. */
bool fmx_trace_sample(fmx_trace_t *self, fmx_str_t user_id, bool debug);

/* The broker's events (obs.c). request_start decides and attaches run->trace (which stays NULL
 * when out of memory: the request is then simply not traced); the others record into it. */
void fmx_trace_request_start(fmx_trace_t *self, fmx_run_t *run);
void fmx_trace_dispatch(fmx_trace_t *self, fmx_run_t *run, size_t i, const fmx_replica_t *r, bool hedge);
void fmx_trace_result(fmx_trace_t *self, fmx_run_t *run, size_t i, const fmx_replica_t *r, const char *outcome,
                      uint64_t actor_us, size_t bytes);
void fmx_trace_fallback(fmx_trace_t *self, fmx_run_t *run, size_t i, const char *outcome, const char *kind);
void fmx_trace_node_done(fmx_trace_t *self, fmx_run_t *run, size_t i, const char *outcome);
/* Builds the trace file, hands it to the writer thread and frees the record (run->trace = NULL).
 * 0 (also for an untraced run), or -1 with err when this trace was dropped (out of memory, or
 * S_QUEUE files already waiting for the disk) or when a file failed to write since the last
 * call (its error in err, reported once). */
int fmx_trace_request_done(fmx_trace_t *self, fmx_run_t *run, const char *status, fmx_error_code_t code,
                           char err[FMX_ERR_LEN]);

typedef struct {
    uint64_t traced;      /* requests that got a record */
    uint64_t queued;      /* files handed to the writer */
    uint64_t dropped;     /* traces lost before the writer: out of memory, queue full */
    uint64_t written;     /* files the writer wrote */
    uint64_t errors;      /* files the writer could not write */
    uint64_t build_us;    /* broker-thread time spent building files (the writer's is its own) */
} fmx_trace_stats_t;
/* A snapshot (takes the writer's lock briefly). NULL tracer: zeros. */
void fmx_trace_stats(fmx_trace_t *self, fmx_trace_stats_t *out);

/* The file name a request's trace goes to, without the directory: the request id when it is
 * made of [A-Za-z0-9._-] and does not start with '.', else the id with every other byte as '_'
 * followed by "-" and the ranking id (two ids cleaning to the same name stay apart). ".json"
 * appended. Returns the length written (< cap) or -1 when it does not fit. */
int fmx_trace_file_name(char *out, size_t cap, const char *request_id, const char *ranking_id);

#endif
