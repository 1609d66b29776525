/* feed.h - feed definitions (configs/feeds/NAME.yaml, DESIGN.md section 5) loaded with libyaml.
 *
 * Loading validates statically: YAML syntax, the fixed keys and their types, unknown node type
 * (against schemas/node_schema.h), params against the type's schema, duplicate node names,
 * missing inputs, `type` xor `subfeed`, unknown fallback kind, cycles, an unparsable `when:`,
 * a missing or unknown `output`. Every message reads "FILE:LINE:COL: node 'NAME': what" (the
 * node part omitted for feed-level errors). Nodes come out in dependency order.
 *
 * Feed params are declared in a short form, typed by the value (bool, int, float, string; a null
 * default declares an untyped param), or a long form:
 *   params:
 *     ranker_model: linear_v1
 *     limit: { default: 40, type: int, min: 1, max: 200, overridable: true, doc: "page size" }
 * `type` is inferred from `default` when absent; min/max only for int and float; the default
 * must fit its own declaration. `overridable` lets a request's `params` set it. */
#ifndef FMX_FEED_H
#define FMX_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/expr.h"
#include "common/fmx.h"
#include "common/value.h"

typedef enum {
    FMX_FALLBACK_NONE = 0,  /* not given: a failed node fails its dependents' input as empty */
    FMX_FALLBACK_EMPTY,
    FMX_FALLBACK_PASSTHROUGH,
    FMX_FALLBACK_STATIC,
    FMX_FALLBACK_CACHED,
} fmx_fallback_kind_t;

const char *fmx_fallback_kind_name(fmx_fallback_kind_t kind);

typedef struct {
    char *name;
    char *type;                  /* node type, NULL for a sub-feed node */
    char *subfeed;               /* embedded feed name, NULL for a typed node */
    char **inputs;               /* names, as written */
    size_t *input_index;         /* resolved: indices into fmx_feed_t.nodes */
    size_t n_inputs;
    fmx_value_t *params;         /* a map; never NULL (empty map when absent) */
    uint32_t budget_ms;          /* 0 when absent: bounded by the request deadline only */
    uint32_t hedge_after_ms;     /* > 0: a second copy to another replica after this long */
    uint8_t hedge_percentile;    /* 50..99: hedge after that percentile of the type's latency; 0 off */
    fmx_fallback_kind_t fallback;
    fmx_value_t *fallback_items; /* `static`: the list of entities from `fallback: {static: [...]}` */
    bool required;
    char *when;                  /* source text, NULL when absent */
    fmx_expr_t *when_expr;       /* compiled `when:` */
    int line, col;               /* where the node's key is */
} fmx_feed_node_t;

/* One declared feed param. */
typedef struct {
    char *name;
    fmx_value_kind_t type;       /* BOOL, INT, FLOAT or STR; NULL: untyped (any scalar fits) */
    bool has_min, has_max;
    double min, max;             /* inclusive bounds, only for INT and FLOAT */
    bool overridable;            /* a request's own `params` may set it */
    int line, col;               /* where the param's key is */
} fmx_param_decl_t;

typedef struct {
    char *name;                  /* `feed:` */
    char *path;                  /* file it came from */
    fmx_value_t *params;         /* a map of defaults (name -> scalar); never NULL */
    fmx_value_t *context;        /* defaults for request context keys the request omits (e.g. geo); never NULL */
    uint32_t deadline_ms;        /* default 150 when absent */
    char *on_failure;            /* a feed name or NULL */
    fmx_feed_node_t *nodes;      /* dependency order: every node after all its inputs */
    size_t n_nodes;
    size_t output;               /* index of the output node */
    fmx_param_decl_t *param_decls; /* one per entry of params, in the same order */
    size_t n_param_decls;
} fmx_feed_t;

/* Loads one file. NULL on error with err "FILE:LINE:COL: ...". Caller owns. */
fmx_feed_t *fmx_feed_load(const char *path, char err[FMX_ERR_LEN]);
void fmx_feed_destroy(fmx_feed_t **self_p);
/* Index of the node named `name`, or -1. */
long fmx_feed_node_index(const fmx_feed_t *self, const char *name);

/* The declaration of param `name`, or NULL when the feed does not declare it. Borrowed. */
const fmx_param_decl_t *fmx_feed_param(const fmx_feed_t *feed, const char *name);
/* 0 when the value fits (type; an int is accepted for float; bounds), else -1 with err saying why,
 * e.g. "ranker_model must be a string, got int", "limit 500 is above the maximum 200". */
int fmx_param_check(const fmx_param_decl_t *decl, const fmx_scalar_t *value, char err[FMX_ERR_LEN]);
/* The name of a declared type as written in YAML: bool, int, float, string ("any" for untyped). */
const char *fmx_param_type_name(fmx_value_kind_t type);

/* Every *.yaml in a directory, with cross-feed checks (unique feed names, known `subfeed` and
 * `on_failure` targets, no sub-feed recursion). */
typedef struct fmx_feedset fmx_feedset_t;

/* NULL when any file fails; errs then holds every message, one per line (truncated to cap). */
fmx_feedset_t *fmx_feedset_load_dir(const char *dir, char *errs, size_t errs_cap);
void fmx_feedset_destroy(fmx_feedset_t **self_p);
const fmx_feed_t *fmx_feedset_find(const fmx_feedset_t *self, const char *name, size_t len);
size_t fmx_feedset_count(const fmx_feedset_t *self);
const fmx_feed_t *fmx_feedset_at(const fmx_feedset_t *self, size_t index);

#endif
