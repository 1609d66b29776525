/* node_schema.c - the node type catalogue: one row per type, params documented in place.
 * The actor handlers in actors/nodes/ implement these names and params. */
#include "schemas/node_schema.h"

#include <stddef.h>
#include <string.h>

static const fmx_param_spec_t s_retrieve_params[] = {
    {"key", FMX_PARAM_STR, true, "store key holding a msgpack array of refs {id, type[, score]}"},
    {"limit", FMX_PARAM_INT, false, "most entities emitted (default 100)"},
    {"entity_type", FMX_PARAM_STR, false, "type given to refs that lack one"},
    {NULL, 0, false, NULL},
};

static const fmx_param_spec_t s_hydrate_params[] = {
    {"fields", FMX_PARAM_LIST, false, "keep only these stored fields (default: all)"},
    {NULL, 0, false, NULL},
};

static const fmx_param_spec_t s_merge_params[] = {
    {"limit", FMX_PARAM_INT, false, "most entities emitted"},
    {NULL, 0, false, NULL},
};

static const fmx_param_spec_t s_filter_params[] = {
    {"where", FMX_PARAM_EXPR, false, "keep entities for which this expression is true"},
    {"seen_key", FMX_PARAM_STR, false, "store key of refs {id, type} to drop (e.g. \"user:{user_id}:seen\")"},
    {"blocked_key", FMX_PARAM_STR, false,
     "store key of blocked ids; drops an entity whose id or blocked_by field is one"},
    {"blocked_by", FMX_PARAM_LIST, false, "fields checked against the blocklist (default [\"seller_id\"])"},
    {NULL, 0, false, NULL},
};

static const fmx_param_spec_t s_score_params[] = {
    {"model", FMX_PARAM_STR, false, "<data_dir>/models/<model>.json (XGBoost) or <model>.weights (linear)"},
    {"scorer", FMX_PARAM_STR, false, "\"xgboost\" or \"linear\" (default: the .json when it exists)"},
    {"weights", FMX_PARAM_MAP, false, "inline linear model, feature -> weight; wins over model"},
    {NULL, 0, false, NULL},
};

static const fmx_param_spec_t s_rank_params[] = {
    {"limit", FMX_PARAM_INT, false, "keep the top limit"},
    {"by", FMX_PARAM_STR, false, "numeric field to sort by (default \"score\")"},
    {"per_group_by", FMX_PARAM_STR, false, "field whose values per_group_limit caps (e.g. \"seller_id\")"},
    {"per_group_limit", FMX_PARAM_INT, false, "most entities per value of per_group_by (0 = no cap)"},
    {"items_limit", FMX_PARAM_INT, false, "collections: rank their items and keep this many (0 = all)"},
    {"across", FMX_PARAM_BOOL, false, "sort collections among the rest (default true; false: keep their slots)"},
    {NULL, 0, false, NULL},
};

static const fmx_param_spec_t s_group_params[] = {
    {"by", FMX_PARAM_STR, true, "field whose value (str, int, bool) forms the groups"},
    {"type", FMX_PARAM_STR, false, "entity type of a collection (default \"carousel\")"},
    {"title", FMX_PARAM_STR, false, "fields.title; \"{value}\" is the group's value (write {{value}} in a feed)"},
    {"min_items", FMX_PARAM_INT, false, "drop groups with fewer members (default 1)"},
    {"max_items", FMX_PARAM_INT, false, "keep the first N members of a group (0 = all)"},
    {"max_groups", FMX_PARAM_INT, false, "keep the first N groups (0 = all)"},
    {"score", FMX_PARAM_STR, false, "collection score from its members': max (default), mean or sum"},
    {NULL, 0, false, NULL},
};

static const fmx_param_spec_t s_blend_params[] = {
    {"strategy", FMX_PARAM_STR, false, "\"slots\" (default), \"concat\", \"weave\" or \"score\""},
    {"every", FMX_PARAM_INT, false, "slots: main items between inserted ones (default 5)"},
    {"ratio", FMX_PARAM_LIST, false, "weave: how many to take from each input per round (default all 1)"},
    {"quotas", FMX_PARAM_LIST, false, "score: most items taken from each input (0 = no cap)"},
    {"debunch_by", FMX_PARAM_STR, false, "field whose runs max_run bounds (default \"seller_id\")"},
    {"max_run", FMX_PARAM_INT, false, "most consecutive items with one value of debunch_by (0 = off)"},
    {"max_run_same_seller", FMX_PARAM_INT, false, "shorthand: max_run with debunch_by seller_id (0 = off)"},
    {"limit", FMX_PARAM_INT, false, "most entities emitted"},
    {NULL, 0, false, NULL},
};

static const fmx_param_spec_t s_layout_params[] = {
    {"limit", FMX_PARAM_INT, false, "most top-level items"},
    {"min_items", FMX_PARAM_INT, false, "drop carousels with fewer children (default 0)"},
    {"model", FMX_PARAM_STR, false, "model named in tokens of items without fields.model"},
    {NULL, 0, false, NULL},
};

const fmx_node_schema_t fmx_node_schemas[] = {
    {"retrieve", 0, 0, s_retrieve_params, "reads a list of entity refs from the store"},
    {"hydrate", 1, -1, s_hydrate_params, "unions its inputs and fetches each entity's stored fields"},
    {"merge", 1, -1, s_merge_params, "unions its inputs, keeping the best score per entity and every source"},
    {"filter", 1, 1, s_filter_params, "keeps entities matching an expression, drops seen and blocked ones"},
    {"score", 1, 1, s_score_params, "XGBoost or linear model score, sorted best first"},
    {"rank", 1, 1, s_rank_params, "stable sort by score or a field (within and across collections), caps, top-limit"},
    {"group", 1, 1, s_group_params, "entities -> collections (carousels) by the value of a field"},
    {"blend", 1, -1, s_blend_params, "interleaves inputs (slots, concat, weave, score), then debunches"},
    {"layout", 1, 1, s_layout_params, "final list: positions and signed attribution tokens"},
    {NULL, 0, 0, NULL, NULL},
};

const fmx_node_schema_t *fmx_node_schema_find(const char *type) {
    if (!type) return NULL;
    for (const fmx_node_schema_t *s = fmx_node_schemas; s->name; s++)
        if (strcmp(s->name, type) == 0) return s;
    return NULL;
}

const fmx_param_spec_t *fmx_node_schema_param(const fmx_node_schema_t *schema, const char *key) {
    if (!schema || !key) return NULL;
    for (const fmx_param_spec_t *p = schema->params; p && p->key; p++)
        if (strcmp(p->key, key) == 0) return p;
    return NULL;
}

const char *fmx_param_kind_name(fmx_param_kind_t kind) {
    switch (kind) {
    case FMX_PARAM_STR: return "str";
    case FMX_PARAM_INT: return "int";
    case FMX_PARAM_NUM: return "num";
    case FMX_PARAM_BOOL: return "bool";
    case FMX_PARAM_EXPR: return "expr";
    case FMX_PARAM_LIST: return "list";
    case FMX_PARAM_MAP: return "map";
    case FMX_PARAM_ANY: return "any";
    }
    return "?";
}
