/* trace_out.h - `feedctl get --trace-out FILE`: the `trace` of a debug reply as Chrome trace-event
 * JSON (common/chrome.h), the same format as the broker's sampled traces, so Perfetto and
 * scripts/trace-gantt open either.
 *
 * From the reply alone: each node is a bar on the broker's track from (start_us - queue_us) to
 * end_us with its queueing nested in it, and a bar on its replica's track for the last
 * actor_us before end_us. The broker's own pid is the replica_pid of a carousel node when the
 * plan has one, else unknown (a synthetic pid). Entries from an older broker without the detail
 * keys still draw, as broker bars only. */
#ifndef FMX_TRACE_OUT_H
#define FMX_TRACE_OUT_H

#include <msgpack.h>
#include <stdio.h>

#include "common/fmx.h"

/* Writes the Chrome JSON of reply (a decoded reply map) to out. 0, or -1 with err: no `trace`
 * array (the request was not sent with debug), malformed entries, a write error. */
int fmx_trace_out_write(FILE *out, const msgpack_object *reply, char err[FMX_ERR_LEN]);

#endif
