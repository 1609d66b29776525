/* plan.h - a feed definition bound to one request's parameters: the message plan.
 *
 * Building never touches the network. It drops nodes whose `when:` is false (and nodes whose
 * every input was dropped), expands `subfeed:` nodes inline under "NODE/" names followed by a
 * carousel node that wraps the sub-feed's output as one entity, and binds templates in node
 * params, pre-encoding them as msgpack. Nodes come out in dependency order. */
#ifndef FMX_PLAN_H
#define FMX_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/feed.h"
#include "common/fmx.h"
#include "common/scalar.h"

#define FMX_PLAN_MAX_DEPTH 8 /* sub-feed nesting */

typedef enum {
    FMX_PLAN_TASK = 1, /* runs on an actor of `type` */
    FMX_PLAN_CAROUSEL, /* runs in the broker: wraps its one input as a carousel entity */
} fmx_plan_kind_t;

typedef struct {
    fmx_plan_kind_t kind;
    char *name;                 /* owned; sub-feed nodes are "PARENT/NAME" */
    const char *type;           /* borrowed from the feed; "carousel" for FMX_PLAN_CAROUSEL */
    size_t *inputs;             /* owned: plan node indices */
    size_t n_inputs;
    size_t *consumers;          /* owned: plan nodes that read this one */
    size_t n_consumers;
    char *params;               /* owned msgpack map, templates bound */
    size_t params_len;
    uint32_t budget_ms;
    fmx_fallback_kind_t fallback;
    char *static_items;         /* owned msgpack array for FMX_FALLBACK_STATIC */
    size_t static_len;
    bool required;
    bool request_bound;         /* params read the request (user_id, context): re-bound per request */
    const fmx_feed_node_t *def; /* borrowed: the definition it came from */
    const fmx_feed_t *scopes[FMX_PLAN_MAX_DEPTH + 1]; /* innermost feed first, the root last */
    size_t n_scopes;
} fmx_plan_node_t;

typedef struct {
    const fmx_feed_t *feed;     /* borrowed */
    fmx_plan_node_t *nodes;
    size_t n_nodes;
    size_t output;
    uint32_t deadline_ms;
    bool cacheable;             /* false when something other than node params read the request */
} fmx_plan_t;

/* Variables are resolved: a sub-feed's own params (innermost first), then at the root the
 * overrides (params.yaml, experiments, request), then the root's params, then the request context
 * (user_id, geo, ...), then the feeds' `context:` defaults. Either callback may be NULL. */
typedef struct {
    fmx_lookup_fn overrides;
    fmx_lookup_fn context;
    void *arg;
} fmx_plan_env_t;

/* NULL with err on failure (a template names an unknown variable, the output was pruned, an
 * unknown sub-feed, too many nodes). set may be NULL when the feed embeds no sub-feed. */
fmx_plan_t *fmx_plan_build(const fmx_feedset_t *set, const fmx_feed_t *feed, const fmx_plan_env_t *env,
                           char err[FMX_ERR_LEN]);
void fmx_plan_destroy(fmx_plan_t **self_p);

/* Binds a request_bound node's params for another request (same overrides, other context).
 * *params is malloc'd; the caller frees it. 0 or -1 with err. */
int fmx_plan_node_bind(const fmx_plan_t *self, size_t index, const fmx_plan_env_t *env, char **params,
                       size_t *params_len, char err[FMX_ERR_LEN]);

#endif
