/* wire.h - the broker <-> actor protocol (schemas/PROTOCOL.md, "FMX/1").
 *
 * Actors connect a DEALER to the broker's backend ROUTER. Every message is a multipart message
 * whose first frame (after the ROUTER's identity frame on the broker side) is a HEADER: one
 * msgpack map with at least "v" (protocol version, 1) and "cmd". Frames after the header:
 *
 *   cmd          dir    header fields                                   frames after header
 *   ready        A->B   type, capacity, pid, name                       -
 *   hb           both   -                                               -
 *   task         B->A   id, req, rank, node, type, budget_us, attempt   params, context, input*
 *   result       A->B   id, ok, error (when !ok), elapsed_us            output (when ok)
 *   disconnect   both   reason (optional)                               -
 *
 * params is a msgpack map, context a msgpack map, each input and the output a msgpack array of
 * entities. The broker forwards params/context/inputs as opaque frames. */
#ifndef FMX_WIRE_H
#define FMX_WIRE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/fmx.h"

#define FMX_WIRE_VERSION 1
#define FMX_WIRE_HEADER_MAX 4096 /* a header frame larger than this is refused */
#define FMX_WIRE_MAX_INPUTS 64

typedef enum {
    FMX_CMD_NONE = 0,
    FMX_CMD_READY,
    FMX_CMD_HEARTBEAT,
    FMX_CMD_TASK,
    FMX_CMD_RESULT,
    FMX_CMD_DISCONNECT,
} fmx_cmd_t;

const char *fmx_cmd_name(fmx_cmd_t cmd); /* "ready", "hb", ...; "?" otherwise */

/* A decoded header. Strings point into the header frame: keep it alive while h is used.
 * Fields not used by the command are zero. */
typedef struct {
    fmx_cmd_t cmd;
    /* ready */
    fmx_str_t type;        /* also in task: the node type */
    uint32_t capacity;     /* 1..1024 */
    int64_t pid;
    fmx_str_t name;        /* free-form actor name, for logs and traces */
    /* task / result */
    uint64_t task_id;
    fmx_str_t request_id, ranking_id, node;
    uint64_t budget_us;    /* remaining budget when the broker sent the task */
    uint32_t attempt;
    /* result */
    bool ok;
    fmx_str_t error;
    uint64_t elapsed_us;
    /* disconnect */
    fmx_str_t reason;
} fmx_wire_header_t;

/* Decodes one header frame. zone is caller-owned scratch (cleared by the caller between
 * messages). Checks: size <= FMX_WIRE_HEADER_MAX, passes fmx_mp_check, a map with str keys,
 * v == FMX_WIRE_VERSION, a known cmd, and the fields that cmd requires with the right types.
 * Returns 0 or -1 with err. Unknown extra keys are ignored. */
int fmx_wire_header_decode(fmx_wire_header_t *h, const void *buf, size_t len, msgpack_zone *zone,
                           char err[FMX_ERR_LEN]);

/* Header encoders: each appends exactly one msgpack map to out. Return 0 or -1. */
int fmx_wire_pack_ready(msgpack_sbuffer *out, const char *type, uint32_t capacity, int64_t pid, const char *name);
int fmx_wire_pack_heartbeat(msgpack_sbuffer *out);
int fmx_wire_pack_task(msgpack_sbuffer *out, uint64_t task_id, fmx_str_t request_id, fmx_str_t ranking_id,
                       fmx_str_t node, fmx_str_t type, uint64_t budget_us, uint32_t attempt);
int fmx_wire_pack_result(msgpack_sbuffer *out, uint64_t task_id, bool ok, const char *error, uint64_t elapsed_us);
int fmx_wire_pack_disconnect(msgpack_sbuffer *out, const char *reason);

#endif
