/* node.h - what a node type is to the actor runtime: one descriptor with hooks.
 *
 * A node type is one file in actors/nodes/ with its parameters documented at the top and one
 * `const fmx_node_type_t fmx_node_<name>` descriptor; actors/node.c lists them in a table. The
 * runner looks the type up by name (the same name as schemas/node_schema.h), calls init once,
 * run once per task, fini at exit. */
#ifndef FMX_NODE_H
#define FMX_NODE_H

#include <msgpack.h>
#include <stdint.h>

#include "common/fmx.h"
#include "common/store.h"
#include "schemas/entity.h"
#include "schemas/token.h"

/* What a node may use for its whole life. */
typedef struct {
    const char *node_type;
    const char *data_dir;  /* var/ : models live in data_dir/models */
    fmx_store_t *store;    /* may be NULL when the actor runs without a store */
    const fmx_token_key_t *token_key; /* signs attribution tokens (layout); NULL without --token-key */
} fmx_actor_env_t;

/* One task. Everything is borrowed for the duration of run(); allocate scratch from `zone`. */
typedef struct {
    fmx_str_t request_id, ranking_id, node;
    uint64_t deadline_us;            /* CLOCK_MONOTONIC; past it the result will be dropped */
    const msgpack_object *params;    /* a map (bound: templates already substituted) */
    const msgpack_object *context;   /* a map: user_id, request_id, ranking_id, geo, platform, ... */
    const fmx_entity_list_t *inputs; /* n_inputs lists, one per declared input, in order */
    size_t n_inputs;
    msgpack_zone *zone;
    const fmx_actor_env_t *env;
    void *state;                     /* what init stored */
} fmx_task_t;

typedef struct {
    const char *name;
    /* May be NULL. 0 or -1 with err; failure stops the actor at start-up. */
    int (*init)(void **state, const fmx_actor_env_t *env, char err[FMX_ERR_LEN]);
    /* Fills *out (initialised empty by the caller, grown from task->zone). 0, or -1 with err:
     * the broker then applies the node's fallback. Must not keep pointers past return. */
    int (*run)(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]);
    /* May be NULL. */
    void (*fini)(void **state);
} fmx_node_type_t;

/* The table of node types this actor binary implements. */
const fmx_node_type_t *fmx_node_type_find(const char *name);
size_t fmx_node_type_count(void);
const fmx_node_type_t *fmx_node_type_at(size_t index);

#endif
