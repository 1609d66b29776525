/* node_schema.h - the catalogue of node types: names, inputs and parameter schemas.
 *
 * This is where broker and actors meet about node types: the feed loader validates a feed's
 * nodes against it, and the actor runner looks up its handler by the same name. One row per
 * type; the table ends with a NULL name. */
#ifndef FMX_NODE_SCHEMA_H
#define FMX_NODE_SCHEMA_H

#include <stdbool.h>

typedef enum {
    FMX_PARAM_STR = 1, /* a string; may hold {templates} */
    FMX_PARAM_INT,
    FMX_PARAM_NUM,     /* int or float */
    FMX_PARAM_BOOL,
    FMX_PARAM_EXPR,    /* a string in the expression language (common/expr.h), compiled at load */
    FMX_PARAM_LIST,
    FMX_PARAM_MAP,
    FMX_PARAM_ANY,
} fmx_param_kind_t;

typedef struct {
    const char *key;
    fmx_param_kind_t kind;
    bool required;
    const char *doc;
} fmx_param_spec_t;

typedef struct {
    const char *name;
    int min_inputs, max_inputs;     /* max -1: unbounded */
    const fmx_param_spec_t *params; /* terminated by a NULL key */
    const char *doc;
} fmx_node_schema_t;

extern const fmx_node_schema_t fmx_node_schemas[];

const fmx_node_schema_t *fmx_node_schema_find(const char *type);
const fmx_param_spec_t *fmx_node_schema_param(const fmx_node_schema_t *schema, const char *key);
const char *fmx_param_kind_name(fmx_param_kind_t kind);

#endif
