/* reqlog.h - the request log: one JSON line per finished or rejected request, never one per node.
 *
 *   {"ts":"2024-05-01T12:00:00.123456Z","request_id":"r-1","ranking_id":"rk-...","feed":"home",
 *    "user_id":"42","experiments":{"ranker_test":"treatment"},"status":"degraded",
 *    "latency_us":8123,"fallbacks":["scored"],"sampled":false}
 * plus "error":"deadline_exceeded" when status is "error". A rejected request (no run yet) has
 * the fields it is known to have: request_id and user_id may be null, latency_us 0.
 *
 * It never blocks the broker: lines are appended to a buffer that is written with one write(2)
 * per loop pass (fmx_reqlog_flush) or when it grows past 64 KiB. The file is opened O_APPEND;
 * a write that fails drops what was buffered and counts the lines as dropped (so a full disk
 * costs log lines, never serving). "stderr" writes to fd 2, which blocks if whoever reads it
 * stalls, like the human log. fmx_reqlog_reopen closes and opens the path again (logrotate's
 * postrotate sends the broker SIGHUP). Single-threaded: the broker's loop thread only. */
#ifndef FMX_REQLOG_H
#define FMX_REQLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker_int.h"
#include "common/fmx.h"
#include "common/log.h"

typedef struct fmx_reqlog fmx_reqlog_t;

/* One request, as the log line shows it. Strings are borrowed for the call. */
typedef struct {
    uint64_t wall_us;              /* when it finished (CLOCK_REALTIME) */
    fmx_str_t request_id;          /* .ptr NULL: null (rejected before decoding) */
    fmx_str_t ranking_id;          /* .ptr NULL: null */
    fmx_str_t feed;                /* .ptr NULL: null */
    fmx_str_t user_id;             /* .ptr NULL: null */
    const char *const *exp_names;  /* parallel to exp_variants */
    const char *const *exp_variants;
    size_t n_experiments;
    const char *status;            /* "ok", "degraded", "error" */
    const char *error;             /* the error code with status "error", else NULL */
    uint64_t latency_us;
    const char *const *fallbacks;  /* node names */
    size_t n_fallbacks;
    bool sampled;                  /* a full trace of it was written */
} fmx_reqlog_entry_t;

/* dest: a file path (parent directories are created), "stderr", or "off" (returns NULL with
 * err empty: no log). level: FMX_LOG_DEBUG/INFO log every request, FMX_LOG_WARN only degraded
 * and error ones, FMX_LOG_ERROR only errors. NULL with err when the file cannot be opened. */
fmx_reqlog_t *fmx_reqlog_new(const char *dest, fmx_log_level_t level, char err[FMX_ERR_LEN]);
/* Flushes, closes, frees; NULL-safe, sets *self_p = NULL. */
void fmx_reqlog_destroy(fmx_reqlog_t **self_p);

/* True when a request with this status would be logged (NULL log: false), so callers skip
 * building entries nobody writes. */
bool fmx_reqlog_wants(const fmx_reqlog_t *self, const char *status);
/* Appends e's line to the buffer (NULL log: nothing); writes out when the buffer is large. */
void fmx_reqlog_append(fmx_reqlog_t *self, const fmx_reqlog_entry_t *e);
/* Writes what is buffered. 0, or -1 with err the first time a write fails after having worked
 * (so the caller logs once per outage, not once per pass); the lines are dropped either way. */
int fmx_reqlog_flush(fmx_reqlog_t *self, char err[FMX_ERR_LEN]);
/* Flushes, then opens the path again (a file moved away by logrotate is left to it). 0, or -1
 * with err: the log keeps the old descriptor then. No-op for "stderr". */
int fmx_reqlog_reopen(fmx_reqlog_t *self, char err[FMX_ERR_LEN]);

/* The broker's events (obs.c), each turned into an entry and appended; NULL log: nothing.
 * fmx_reqlog_run: a run whose reply went out (status, and code when "error").
 * fmx_reqlog_refused: a decoded request that failed before its plan ran; obs.h promises that
 *   fmx_obs_request_rejected follows for the same request, and fmx_reqlog_rejected then skips it.
 * fmx_reqlog_rejected: a request answered with an error before a run existed. */
void fmx_reqlog_run(fmx_reqlog_t *self, const fmx_run_t *run, const char *status, fmx_error_code_t code, bool sampled);
void fmx_reqlog_refused(fmx_reqlog_t *self, const fmx_run_t *run, fmx_error_code_t code);
void fmx_reqlog_rejected(fmx_reqlog_t *self, fmx_str_t feed, fmx_error_code_t code);

typedef struct {
    uint64_t lines;         /* written */
    uint64_t dropped;       /* lost to write errors or an unbuildable line */
    uint64_t write_errors;
} fmx_reqlog_stats_t;
void fmx_reqlog_stats(const fmx_reqlog_t *self, fmx_reqlog_stats_t *out);

#endif
