/* plan_print.h - renders a message plan (broker/plan.h) for `feedctl plan`: JSON to read and diff,
 * Graphviz DOT to draw.
 *
 * Both outputs are deterministic (plan order, then feed order; no pointers, no clocks; floats
 * through json.h's shortest round-trip form), so they can be compared byte for byte with golden
 * files. Nodes the plan lacks are found by walking the feed definition, sub-feeds included,
 * under the names the plan compiler would have given them ("PARENT/NAME"): they are the nodes
 * dropped by `when:` (directly, or because everything they read or their sub-feed's output was
 * dropped).
 *
 * JSON:  {"feed", "experiments": {name: variant}, "params": {override: value}, "deadline_ms",
 *         "output", "nodes": [{"name", "type", "kind": "task"|"carousel", "inputs": [names],
 *         "budget_ms", "fallback", "required", "params": {...}}...], "pruned": [names]}
 * DOT:   one box per node labelled "name\ntype", edges input -> consumer, the output node
 *        double-bordered, pruned nodes and their would-be edges dashed and grey, each expanded
 *        sub-feed inside a `cluster_PARENT` subgraph labelled with the sub-feed's name. */
#ifndef FMX_PLAN_PRINT_H
#define FMX_PLAN_PRINT_H

#include <stdio.h>

#include "broker/config.h"
#include "broker/plan.h"
#include "common/fmx.h"

/* What to render; everything is borrowed. */
typedef struct {
    const fmx_plan_t *plan;      /* required */
    const fmx_feedset_t *set;    /* the set the plan was built from; NULL: sub-feeds are not walked */
    const fmx_resolution_t *res; /* experiments and overrides; NULL prints both as {} */
    const fmx_str_t *bound;      /* NULL, or plan->n_nodes params from fmx_config_plan (a NULL ptr:
                                  * that node keeps the plan's params) */
} fmx_plan_print_t;

/* Writes the JSON document (indented by 2, trailing newline). 0, or -1 with err. */
int fmx_plan_print_json(FILE *out, const fmx_plan_print_t *in, char err[FMX_ERR_LEN]);

/* Writes the DOT graph (trailing newline). 0, or -1 with err. */
int fmx_plan_print_dot(FILE *out, const fmx_plan_print_t *in, char err[FMX_ERR_LEN]);

#endif
