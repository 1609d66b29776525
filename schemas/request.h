/* request.h - the client protocol of DESIGN.md section 4: request decoding and reply encoding.
 *
 * A request is one frame holding one msgpack map. Decoding is defensive: the frame passes
 * fmx_mp_check (fmx_mp_limits_request) before msgpack-c touches it, then every known key is
 * type-checked. Unknown keys are ignored (forward compatibility). Any violation yields -1 with a
 * message the broker sends back as a `bad_request` error. */
#ifndef FMX_REQUEST_H
#define FMX_REQUEST_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/fmx.h"

typedef enum {
    FMX_CODE_OK = 0,
    FMX_CODE_BAD_REQUEST,
    FMX_CODE_UNKNOWN_FEED,
    FMX_CODE_OVERLOADED,
    FMX_CODE_DEADLINE_EXCEEDED,
    FMX_CODE_INTERNAL,
} fmx_error_code_t;

/* "bad_request", "unknown_feed", ...; "ok" for FMX_CODE_OK. */
const char *fmx_error_code_name(fmx_error_code_t code);

#define FMX_ID_MAX 128          /* feed, user_id, request_id, event: at most this many bytes */
#define FMX_LIMIT_MAX 1000      /* `limit` accepted range 1..FMX_LIMIT_MAX */
#define FMX_DEADLINE_MAX_MS 60000 /* `deadline_ms` accepted range 1..FMX_DEADLINE_MAX_MS */
#define FMX_TOKEN_MAX 1024

typedef enum { FMX_REQ_FEED = 1, FMX_REQ_EVENT } fmx_req_kind_t;

/* A decoded request. Strings point into the frame the request was decoded from or into
 * `unpacked`'s zone: keep both alive while the request is used. Caller-allocated value type:
 * fmx_request_decode initialises it, fmx_request_fini releases it (also after a failed decode). */
typedef struct {
    fmx_req_kind_t kind;
    fmx_str_t feed;        /* FMX_REQ_FEED: non-empty, [A-Za-z0-9_-] only */
    fmx_str_t user_id;     /* a str, or an int formatted in decimal into user_id_buf */
    fmx_str_t request_id;  /* empty when the client sent none */
    fmx_str_t event;       /* FMX_REQ_EVENT: "impression", "click", ... */
    fmx_str_t token;       /* FMX_REQ_EVENT: the item's attribution token */
    const msgpack_object *context; /* a map with str keys, or NULL when absent */
    const msgpack_object *params;  /* request-level param overrides (a map), or NULL */
    int64_t limit;         /* 0 when absent */
    int64_t deadline_ms;   /* 0 when absent */
    bool debug;
    char user_id_buf[24];
    msgpack_unpacked unpacked;
} fmx_request_t;

/* Decodes buf[0..len). Returns 0, or -1 with err explaining (`bad_request`). Rules:
 * a map; exactly one of `feed` (str) or `event` (str, then `token` str required);
 * `user_id` str or int required with `feed`; `request_id` str; `context` map with str keys whose
 * values are scalars, arrays or maps; `limit` int 1..FMX_LIMIT_MAX; `deadline_ms` int
 * 1..FMX_DEADLINE_MAX_MS; `debug` bool; `params` map; strings at most FMX_ID_MAX bytes
 * (token FMX_TOKEN_MAX); duplicate keys refused. */
int fmx_request_decode(fmx_request_t *req, const void *buf, size_t len, char err[FMX_ERR_LEN]);
void fmx_request_fini(fmx_request_t *req);

/* One trace entry of a `debug` reply. The first six fields are the contract of DESIGN.md section
 * 4; with `detail` set the entry also packs the rest (queue_us, actor_us, bytes, replica_pid,
 * attempt, and outcome / fallback when not NULL). */
typedef struct {
    const char *node, *type, *actor, *status;
    uint64_t start_us, end_us; /* relative to the request's start */
    bool detail;
    uint64_t queue_us;         /* inputs ready -> sent to a replica (the broker's queue) */
    uint64_t actor_us;         /* the time the actor reported for the result used */
    uint64_t bytes;            /* output size */
    int64_t replica_pid;       /* the replica that ran it (the broker's pid for a carousel), 0: none */
    uint32_t attempt;          /* copies sent: retries and hedges count */
    const char *outcome;       /* why it fell back ("timeout", "error" ...), or NULL */
    const char *fallback;      /* the fallback kind that replaced its output, or NULL */
} fmx_trace_entry_t;

/* A served reply. `items` is a complete msgpack array (as an actor produced it), spliced into the
 * reply without decoding. experiments are parallel arrays of names and variants. */
typedef struct {
    const char *status;            /* "ok" or "degraded" */
    fmx_str_t request_id, ranking_id, feed;
    const char *items;             /* raw msgpack array; NULL packs an empty array */
    size_t items_len;
    const fmx_str_t *experiment_names, *experiment_variants;
    size_t n_experiments;
    const char *const *fallbacks;  /* node names */
    size_t n_fallbacks;
    const fmx_trace_entry_t *trace; /* packed only when with_trace */
    size_t n_trace;
    bool with_trace;
} fmx_reply_t;

/* Appends the reply map to out. Returns 0 or -1 (allocation failure). */
int fmx_reply_pack(msgpack_sbuffer *out, const fmx_reply_t *reply);
/* {"status":"error","request_id":..,"error":{"code":..,"message":..}}; request_id omitted if empty. */
int fmx_reply_pack_error(msgpack_sbuffer *out, fmx_str_t request_id, fmx_error_code_t code, const char *message);
/* {"status":"ok"} plus request_id if non-empty: the reply to an engagement event. */
int fmx_reply_pack_event_ok(msgpack_sbuffer *out, fmx_str_t request_id);

#endif
