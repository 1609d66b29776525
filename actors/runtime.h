/* runtime.h - the actor runtime: connect to brokers, register, heartbeat, run tasks.
 *
 * Threads: the main thread owns the broker DEALER sockets (one per broker), heartbeats and a
 * local queue; `threads` workers each run the node on one task at a time. A slow or stuck node
 * therefore never silences the heartbeat: the broker's node deadline catches it instead.
 * Capacity (announced in `ready`) may exceed the worker count so the broker can pipeline. */
#ifndef FMX_RUNTIME_H
#define FMX_RUNTIME_H

#include <stdint.h>

#include "actors/node.h"
#include "common/fmx.h"

#define FMX_RUNTIME_MAX_BROKERS 16

typedef enum { FMX_INJECT_NONE = 0, FMX_INJECT_DELAY, FMX_INJECT_HANG, FMX_INJECT_SPIN, FMX_INJECT_CRASH_AFTER,
               FMX_INJECT_GARBAGE } fmx_inject_kind_t;

typedef struct {
    const char *node_type;
    const char *brokers[FMX_RUNTIME_MAX_BROKERS];
    size_t n_brokers;
    const char *store_path;   /* NULL: no store */
    const char *data_dir;
    const char *name;         /* NULL: TYPE-PID */
    const char *token_key_path; /* key file for signing attribution tokens (schemas/token.h), or NULL */
    uint32_t capacity;
    uint32_t threads;
    uint32_t heartbeat_ms;
    uint32_t liveness;
    fmx_inject_kind_t inject;
    uint64_t inject_arg;      /* delay ms, or N for crash-after */
} fmx_runtime_config_t;

void fmx_runtime_defaults(fmx_runtime_config_t *config);
/* "delay=MS", "hang", "spin", "crash-after=N", "garbage" -> config. 0 or -1. */
int fmx_runtime_parse_inject(fmx_runtime_config_t *config, const char *spec);

/* Runs until *stop is set, then finishes the work in hand, says `disconnect` and returns.
 * 0 after a clean stop, -1 (err set) when start-up fails, 1 when a worker was still stuck in a
 * task after the 3 s drain window: the caller must then _exit, as that thread cannot be joined. */
int fmx_runtime_run(const fmx_runtime_config_t *config, volatile int *stop, char err[FMX_ERR_LEN]);

/* Runs one task given as wire frames (header, params, context, inputs...) through a node type,
 * packing the reply header and output into the two buffers. Exposed for tests and benchmarks.
 * Returns 0 when the result is ok, -1 when it is an error reply (still packed). */
int fmx_runtime_execute(const fmx_node_type_t *type, void *state, const fmx_actor_env_t *env, msgpack_zone *zone,
                        const void *const *frames, const size_t *sizes, size_t n_frames, msgpack_sbuffer *header,
                        msgpack_sbuffer *output);

#endif
