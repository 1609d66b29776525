/* events.h - the engagement events log: one JSON line per accepted event, written by a thread of
 * its own so the broker's loop never waits for the disk.
 *
 * The broker thread formats a line (fmx_events_format) and hands it over with fmx_events_append,
 * which only copies it into a bounded ring buffer: when the ring is full the call fails at once
 * and the broker answers `overloaded` for that event instead of waiting. The writer thread takes
 * everything queued in one go, write(2)s it with O_APPEND, then fdatasync()s per policy:
 *   always    after every batch it writes (group commit: one sync covers all lines of the batch),
 *   interval  at most every fsync_interval_ms while unsynced lines exist,
 *   never     leaves it to the kernel.
 * The reply to the client goes out when the line is queued, before it is on disk, under every
 * policy: durability is bounded by the policy, serving latency is not. Line format (keys in this
 * order; child_position and path only for items inside a carousel; user_id and request_id only
 * when the client sent them):
 *   {"ts":1767225600.123,"event":"click","ranking_id":"rk-..","feed":"home","source":"follows",
 *    "model":"linear_v1","position":3,"child_position":1,"path":[3,1],
 *    "variants":{"ranker_test":"control"},"issued":1767225599,"user_id":"42","request_id":"r-1"} */
#ifndef FMX_EVENTS_H
#define FMX_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/fmx.h"
#include "schemas/token.h"

#define FMX_EVENTS_LINE_MAX 16384 /* fits the longest line a valid token and request can make */

typedef enum { FMX_FSYNC_INTERVAL = 0, FMX_FSYNC_ALWAYS, FMX_FSYNC_NEVER } fmx_fsync_t;

/* "always", "interval", "never" -> *out. 0, or -1 for anything else. */
int fmx_fsync_parse(const char *s, fmx_fsync_t *out);
const char *fmx_fsync_name(fmx_fsync_t policy);

typedef struct {
    fmx_fsync_t fsync;
    uint32_t fsync_interval_ms; /* FMX_FSYNC_INTERVAL: 1.. */
    size_t queue_bytes;         /* ring size, at least FMX_EVENTS_LINE_MAX */
} fmx_events_opts_t;

typedef struct {
    uint64_t queued;       /* lines accepted by fmx_events_append */
    uint64_t full;         /* lines refused because the ring was full */
    uint64_t written;      /* lines the writer wrote */
    uint64_t write_errors; /* failed write(2) calls; their batch is dropped */
    uint64_t fsyncs, fsync_errors;
    size_t pending_bytes;  /* queued, not yet written */
} fmx_events_stats_t;

typedef struct fmx_events fmx_events_t;

/* Opens (creating it and its parent directories) path for appending and starts the writer.
 * NULL with err on failure. */
fmx_events_t *fmx_events_new(const char *path, const fmx_events_opts_t *opts, char err[FMX_ERR_LEN]);
/* Stops the writer after it wrote everything queued, syncs (unless policy never), closes. NULL-safe,
 * sets *self_p = NULL. */
void fmx_events_destroy(fmx_events_t **self_p);

/* Queues line[0..len) (a whole line, ending in '\n'): a memcpy under a short lock, never I/O.
 * 0, or -1 when the ring has no room for it now (counted in `full`). */
int fmx_events_append(fmx_events_t *self, const char *line, size_t len);
/* Waits up to timeout_ms until every line queued before the call is written (and synced under
 * policy always). 0, or -1 on timeout. For tests and shutdown paths, never the serving loop. */
int fmx_events_flush(fmx_events_t *self, int timeout_ms);
fmx_events_stats_t fmx_events_stats(fmx_events_t *self);

/* Formats one event line (JSON, '\n'-terminated, no NUL) into buf. ts_ms: wall clock, ms since
 * the epoch; user_id and request_id may be empty (then omitted). Strings are escaped as JSON, and
 * invalid UTF-8 becomes U+FFFD. Returns the length, or 0 when it does not fit cap. */
size_t fmx_events_format(char *buf, size_t cap, int64_t ts_ms, fmx_str_t event, const fmx_token_fields_t *f,
                         fmx_str_t user_id, fmx_str_t request_id);

#endif
