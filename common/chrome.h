/* chrome.h - one request's execution as Chrome trace-event JSON, the format Perfetto
 * (ui.perfetto.dev) and chrome://tracing open. Shared by the broker's sampled traces and
 * `feedctl get --trace-out`, which know different amounts about a request but draw it alike:
 *
 *   {"traceEvents": [ "M" events naming every process and thread,
 *                     "X" complete events (ts, dur in microseconds since the request started) ],
 *    "displayTimeUnit": "ms", "otherData": {request_id, ranking_id, feed, user_id, status, ...}}
 *
 * A process is the broker or one actor replica; a thread is one node of the plan (tid = its
 * index + 1), so a node's bars line up across processes. OS pids become the trace's pids, except
 * that pid 0 (unknown; special in Perfetto) and pids already used by another process (replicas
 * on other hosts or in containers) get a synthetic pid from 1000000000 up, so processes never
 * merge. Metadata events carry no timestamp (Perfetto rejects negative ones). */
#ifndef FMX_CHROME_H
#define FMX_CHROME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/fmx.h"
#include "common/jsonbuf.h"

#define FMX_CHROME_MAX_PROCESSES 256 /* more are refused: the pid table is on the stack */

typedef struct {
    int64_t pid;      /* the OS pid, 0 when unknown */
    const char *name; /* "broker", "actor:score (pid 4242)" */
    int sort_index;   /* order of the process tracks, lowest first */
} fmx_chrome_process_t;

/* One complete ("X") event. Strings are borrowed; NULL strings and negative numbers are left
 * out of args. */
typedef struct {
    const char *name;    /* the node, or "request", "queued" */
    const char *cat;     /* "request", "node", "queue", "actor" */
    size_t process;      /* index into the trace's processes */
    size_t thread;       /* index into its threads: tid = thread + 1 */
    uint64_t ts_us, dur_us;
    /* args */
    const char *type, *status, *outcome, *fallback, *replica;
    int64_t bytes, attempt, actor_us, queue_us;
    bool hedge;          /* a hedge copy (args.hedge: true) */
} fmx_chrome_span_t;

/* A span with every optional arg absent. */
#define FMX_CHROME_SPAN_INIT {.bytes = -1, .attempt = -1, .actor_us = -1, .queue_us = -1}

typedef struct {
    fmx_str_t request_id, ranking_id, feed, user_id, status; /* otherData; empty ones left out */
    uint64_t wall_start_us;                                 /* unix time of ts 0; 0 left out */
    const fmx_chrome_process_t *processes;
    size_t n_processes;
    const char *const *threads;                             /* thread names (node names) */
    size_t n_threads;
    const fmx_chrome_span_t *spans;
    size_t n_spans;
} fmx_chrome_trace_t;

/* Appends the whole JSON document to out. 0, or -1 with err (a span naming a process or thread
 * that does not exist, too many processes, or out of memory). */
int fmx_chrome_write(fmx_jsonbuf_t *out, const fmx_chrome_trace_t *trace, char err[FMX_ERR_LEN]);

#endif
