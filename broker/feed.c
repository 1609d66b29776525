/* feed.c - loads and validates feed definitions (DESIGN.md section 5).
 *
 * broker/yaml.c reads the file into a raw tree with positions and scalar styles; this file
 * validates that tree into fmx_feed_t, converting param subtrees into fmx_value_t. */
#include "broker/feed.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/context.h"
#include "broker/yaml.h"
#include "schemas/node_schema.h"

#define S_MAX_NODES           4096 /* the plan builder's bound, too */
#define S_MAX_PARAMS          1024
#define S_MAX_FILES           4096
#define S_DEFAULT_DEADLINE_MS 150

static const char s_top_keys[] = "feed, params, context, deadline_ms, on_failure, nodes, output";
static const char s_node_keys[] =
    "type, subfeed, inputs, params, budget_ms, fallback, required, when, hedge_after_ms, hedge";

/* Every string in v must have well-formed templates. */
static int s_check_templates(const fmx_yaml_ctx_t *L, const fmx_value_t *v, const char *what) {
    char why[FMX_ERR_LEN];
    switch (v->kind) {
    case FMX_VAL_STR:
        if (fmx_value_template_check(v->u.s.ptr, v->u.s.len, NULL, why) < 0)
            return fmx_yaml_fail(L, v->line, v->col, "%s: malformed template: %s", what, why);
        return 0;
    case FMX_VAL_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++)
            if (s_check_templates(L, v->u.arr.items[i], what) != 0) return -1;
        return 0;
    case FMX_VAL_MAP:
        for (size_t i = 0; i < v->u.map.n; i++)
            if (s_check_templates(L, v->u.map.vals[i], what) != 0) return -1;
        return 0;
    default: return 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Feed-level helpers                                                                          */

static int s_positive_ms(const fmx_yaml_ctx_t *L, const fmx_yaml_t *y, const char *what, uint32_t *out) {
    fmx_value_t *v = y->kind == FMX_YAML_SCALAR ? fmx_yaml_scalar(L, y) : NULL;
    if (!v && y->kind == FMX_YAML_SCALAR) return -1;
    int rc = 0;
    if (!v || v->kind != FMX_VAL_INT || v->u.i <= 0 || v->u.i > (int64_t)UINT32_MAX)
        rc = fmx_yaml_fail_at(L, y, "%s must be a positive integer (milliseconds)", what);
    else
        *out = (uint32_t)v->u.i;
    fmx_value_destroy(&v);
    return rc;
}

/* "{{" -> "{", "}}" -> "}": what packing makes of an expression param without placeholders. */
static char *s_unescape_braces(const char *s, size_t len) {
    char *out = malloc(len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        out[o++] = s[i];
        if ((s[i] == '{' || s[i] == '}') && i + 1 < len && s[i + 1] == s[i]) i++;
    }
    out[o] = '\0';
    return out;
}

static void s_known_types(char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (const fmx_node_schema_t *s = fmx_node_schemas; s->name && used < cap; s++) {
        int n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", s->name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

static void s_known_params(const fmx_node_schema_t *schema, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (const fmx_param_spec_t *p = schema->params; p && p->key && used < cap; p++) {
        int n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", p->key);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Nodes                                                                                       */

/* Where a node's parts are in the raw tree, for the checks that run after all nodes are read. */
typedef struct {
    const fmx_yaml_t *key;
    const fmx_yaml_t *inputs_key;
    const fmx_yaml_t **input_at; /* one per input */
} s_nodepos_t;

static void s_node_fini(fmx_feed_node_t *n) {
    free(n->name);
    free(n->type);
    free(n->subfeed);
    for (size_t i = 0; n->inputs && i < n->n_inputs; i++)
        free(n->inputs[i]);
    free(n->inputs);
    free(n->input_index);
    fmx_value_destroy(&n->params);
    fmx_value_destroy(&n->fallback_items);
    free(n->when);
    fmx_expr_destroy(&n->when_expr);
}

/* One param value checked against its spec. NULL with err. */
static fmx_value_t *s_param(const fmx_yaml_ctx_t *L, const fmx_param_spec_t *spec, const fmx_yaml_t *y) {
    fmx_value_t *v = NULL;
    fmx_param_kind_t kind = spec->kind;
    /* str and expr params take the text of any non-null scalar: `model: 2024` means "2024". */
    if ((kind == FMX_PARAM_STR || kind == FMX_PARAM_EXPR) && y->kind == FMX_YAML_SCALAR && !fmx_yaml_is_null(y))
        v = fmx_yaml_text(L, y);
    else
        v = fmx_yaml_value(L, y);
    if (!v) return NULL;
    char what[FMX_YAML_MAX_NAME + 16];
    snprintf(what, sizeof what, "param '%s'", spec->key);
    if (s_check_templates(L, v, what) != 0) goto fail;
    bool whole = false;
    if (v->kind == FMX_VAL_STR) fmx_value_template_check(v->u.s.ptr, v->u.s.len, &whole, NULL);
    bool ok = false;
    switch (kind) {
    case FMX_PARAM_STR:
    case FMX_PARAM_EXPR: ok = v->kind == FMX_VAL_STR; break;
    case FMX_PARAM_INT: ok = v->kind == FMX_VAL_INT || whole; break;
    case FMX_PARAM_NUM: ok = v->kind == FMX_VAL_INT || v->kind == FMX_VAL_FLOAT || whole; break;
    case FMX_PARAM_BOOL: ok = v->kind == FMX_VAL_BOOL || whole; break;
    case FMX_PARAM_LIST: ok = v->kind == FMX_VAL_ARRAY; break;
    case FMX_PARAM_MAP: ok = v->kind == FMX_VAL_MAP; break;
    case FMX_PARAM_ANY: ok = true; break;
    }
    if (!ok) {
        fmx_yaml_fail_at(L, y, "param '%s' must be %s, got %s%s", spec->key, fmx_param_kind_name(kind),
                         fmx_value_kind_name(v->kind),
                         v->kind == FMX_VAL_STR ? " (a string is allowed only as one \"{template}\")" : "");
        goto fail;
    }
    if (kind == FMX_PARAM_EXPR) {
        char why[FMX_ERR_LEN];
        int names = fmx_value_template_check(v->u.s.ptr, v->u.s.len, NULL, why);
        if (names > 0) {
            fmx_yaml_fail_at(L, y, "param '%s': templates are not allowed in expressions (use the name directly)",
                             spec->key);
            goto fail;
        }
        char *src = s_unescape_braces(v->u.s.ptr, v->u.s.len);
        if (!src) {
            fmx_yaml_oom(L);
            goto fail;
        }
        snprintf(what, sizeof what, "'%s'", spec->key);
        fmx_expr_t *e = fmx_yaml_expr(L, y, src, what);
        free(src);
        if (!e) goto fail;
        fmx_expr_destroy(&e); /* the actor compiles its own copy; this was the load-time check */
    }
    return v;
fail:
    fmx_value_destroy(&v);
    return NULL;
}

static int s_node_params(const fmx_yaml_ctx_t *L, fmx_feed_node_t *n, const fmx_node_schema_t *schema,
                         const fmx_yaml_t *y) {
    if (fmx_yaml_is_null(y)) return 0;
    if (y->kind != FMX_YAML_MAP) return fmx_yaml_fail_at(L, y, "params must be a map");
    for (size_t i = 0; i < y->n; i++) {
        const fmx_yaml_t *k = y->keys[i];
        const fmx_param_spec_t *spec = fmx_node_schema_param(schema, k->text);
        if (!spec) {
            char known[160];
            s_known_params(schema, known, sizeof known);
            if (!known[0])
                return fmx_yaml_fail_at(L, k, "unknown param '%s': type '%s' takes no params", k->text, schema->name);
            return fmx_yaml_fail_at(L, k, "unknown param '%s' for type '%s' (known: %s)", k->text, schema->name, known);
        }
        fmx_value_t *v = s_param(L, spec, y->kids[i]);
        if (!v) return -1;
        if (fmx_value_map_put(n->params, k->text, v) != 0) {
            fmx_value_destroy(&v);
            return fmx_yaml_oom(L);
        }
    }
    return 0;
}

static int s_node_fallback(const fmx_yaml_ctx_t *L, fmx_feed_node_t *n, const fmx_yaml_t *y) {
    static const struct {
        const char *name;
        fmx_fallback_kind_t kind;
    } kinds[] = {{"empty", FMX_FALLBACK_EMPTY},
                 {"passthrough", FMX_FALLBACK_PASSTHROUGH},
                 {"cached", FMX_FALLBACK_CACHED},
                 {"none", FMX_FALLBACK_NONE}};
    if (y->kind == FMX_YAML_SCALAR) {
        for (size_t i = 0; i < FMX_ARRAY_LEN(kinds); i++)
            if (strcmp(y->text, kinds[i].name) == 0) {
                n->fallback = kinds[i].kind;
                return 0;
            }
        return fmx_yaml_fail_at(
            L, y, "unknown fallback '%.64s' (allowed: empty, passthrough, cached, none, {static: [...]})", y->text);
    }
    if (y->kind != FMX_YAML_MAP || y->n != 1 || strcmp(y->keys[0]->text, "static") != 0)
        return fmx_yaml_fail_at(L, y, "a fallback map must be {static: [ {id: ..., type: ...}, ... ]}");
    const fmx_yaml_t *list = y->kids[0];
    if (list->kind != FMX_YAML_SEQ) return fmx_yaml_fail_at(L, list, "static fallback must be a list of entities");
    n->fallback = FMX_FALLBACK_STATIC;
    n->fallback_items = fmx_value_new(FMX_VAL_ARRAY, list->line, list->col);
    if (!n->fallback_items) return fmx_yaml_oom(L);
    for (size_t i = 0; i < list->n; i++) {
        const fmx_yaml_t *item = list->kids[i];
        if (item->kind != FMX_YAML_MAP)
            return fmx_yaml_fail_at(L, item, "static fallback entity must be a map with id and type");
        fmx_value_t *ent = fmx_value_new(FMX_VAL_MAP, item->line, item->col);
        if (!ent) return fmx_yaml_oom(L);
        if (fmx_value_array_push(n->fallback_items, ent) != 0) {
            fmx_value_destroy(&ent);
            return fmx_yaml_oom(L);
        }
        int have = 0;
        for (size_t k = 0; k < item->n; k++) {
            const char *key = item->keys[k]->text;
            const fmx_yaml_t *val = item->kids[k];
            fmx_value_t *v;
            /* id and type are strings on the wire even when they look like numbers */
            if (strcmp(key, "id") == 0 || strcmp(key, "type") == 0) {
                if (fmx_yaml_want_text(L, val, strcmp(key, "id") == 0 ? "static entity id" : "static entity type") != 0)
                    return -1;
                have++;
                v = fmx_yaml_text(L, val);
            } else {
                v = fmx_yaml_value(L, val);
            }
            if (!v) return -1;
            if (fmx_value_map_put(ent, key, v) != 0) {
                fmx_value_destroy(&v);
                return fmx_yaml_oom(L);
            }
        }
        if (have != 2) return fmx_yaml_fail_at(L, item, "static fallback entity needs both id and type");
    }
    return s_check_templates(L, n->fallback_items, "static fallback");
}

static int s_node_inputs(const fmx_yaml_ctx_t *L, fmx_feed_node_t *n, s_nodepos_t *pos, const fmx_yaml_t *y) {
    size_t count = y->kind == FMX_YAML_SEQ ? y->n : 1;
    if (y->kind == FMX_YAML_MAP) return fmx_yaml_fail_at(L, y, "inputs must be a node name or a list of node names");
    if (count > S_MAX_NODES) return fmx_yaml_fail_at(L, y, "more than %d inputs", S_MAX_NODES);
    if (count == 0) return 0;
    n->inputs = calloc(count, sizeof *n->inputs);
    n->input_index = calloc(count, sizeof *n->input_index);
    pos->input_at = calloc(count, sizeof *pos->input_at);
    if (!n->inputs || !n->input_index || !pos->input_at) return fmx_yaml_oom(L);
    for (size_t i = 0; i < count; i++) {
        const fmx_yaml_t *item = y->kind == FMX_YAML_SEQ ? y->kids[i] : y;
        if (fmx_yaml_want_text(L, item, "an input") != 0) return -1;
        n->inputs[i] = strdup(item->text);
        if (!n->inputs[i]) return fmx_yaml_oom(L);
        n->n_inputs = i + 1;
        pos->input_at[i] = item;
        for (size_t k = 0; k < i; k++)
            if (strcmp(n->inputs[k], item->text) == 0)
                return fmx_yaml_fail_at(L, item, "input '%s' is listed twice", item->text);
    }
    return 0;
}

/* One node from its key and body. L->name is set by the caller. */
static int s_node(const fmx_yaml_ctx_t *L, fmx_feed_node_t *n, s_nodepos_t *pos, const fmx_yaml_t *body) {
    const fmx_yaml_t *y_type = NULL, *y_sub = NULL, *y_inputs = NULL, *y_params = NULL, *y_budget = NULL,
                     *y_fallback = NULL, *y_required = NULL, *y_when = NULL, *y_hedge_after = NULL, *y_hedge = NULL;
    const fmx_yaml_t *k_sub = NULL, *k_params = NULL;
    if (body->kind != FMX_YAML_MAP) return fmx_yaml_fail_at(L, body, "a node must be a map of %s", s_node_keys);
    for (size_t i = 0; i < body->n; i++) {
        const fmx_yaml_t *k = body->keys[i], *v = body->kids[i];
        const char *t = k->text;
        if (!strcmp(t, "type"))
            y_type = v;
        else if (!strcmp(t, "subfeed"))
            y_sub = v, k_sub = k;
        else if (!strcmp(t, "inputs"))
            y_inputs = v, pos->inputs_key = k;
        else if (!strcmp(t, "params"))
            y_params = v, k_params = k;
        else if (!strcmp(t, "budget_ms"))
            y_budget = v;
        else if (!strcmp(t, "fallback"))
            y_fallback = v;
        else if (!strcmp(t, "required"))
            y_required = v;
        else if (!strcmp(t, "when"))
            y_when = v;
        else if (!strcmp(t, "hedge_after_ms"))
            y_hedge_after = v;
        else if (!strcmp(t, "hedge"))
            y_hedge = v;
        else
            return fmx_yaml_fail_at(L, k, "unknown key '%.64s' (allowed: %s)", t, s_node_keys);
    }
    if (y_type && y_sub) return fmx_yaml_fail_at(L, k_sub, "has both `type` and `subfeed`: use one");
    if (!y_type && !y_sub)
        return fmx_yaml_fail(L, n->line, n->col, "needs `type` (a node type) or `subfeed` (a feed name)");

    n->params = fmx_value_new(FMX_VAL_MAP, body->line, body->col);
    if (!n->params) return fmx_yaml_oom(L);
    const fmx_node_schema_t *schema = NULL;
    if (y_type) {
        if (fmx_yaml_want_text(L, y_type, "type") != 0) return -1;
        schema = fmx_node_schema_find(y_type->text);
        if (!schema) {
            char known[160];
            s_known_types(known, sizeof known);
            return fmx_yaml_fail_at(L, y_type, "unknown node type '%.64s' (known: %s)", y_type->text, known);
        }
        n->type = strdup(schema->name);
        if (!n->type) return fmx_yaml_oom(L);
    } else {
        n->subfeed = fmx_yaml_name_dup(L, y_sub, "subfeed");
        if (!n->subfeed) return -1;
        if (y_inputs) return fmx_yaml_fail_at(L, pos->inputs_key, "a subfeed node takes no inputs");
        if (y_params) return fmx_yaml_fail_at(L, k_params, "a subfeed node takes no params");
    }
    if (y_inputs && s_node_inputs(L, n, pos, y_inputs) != 0) return -1;
    if (schema) {
        const fmx_yaml_t *at = pos->inputs_key ? pos->inputs_key : NULL;
        int line = at ? at->line : n->line, col = at ? at->col : n->col;
        int lo = schema->min_inputs, hi = schema->max_inputs;
        if ((size_t)lo > n->n_inputs || (hi >= 0 && n->n_inputs > (size_t)hi)) {
            if (hi == 0)
                return fmx_yaml_fail(L, line, col, "type '%s' takes no inputs, got %zu", schema->name, n->n_inputs);
            if (lo == hi)
                return fmx_yaml_fail(L, line, col, "type '%s' takes exactly %d input%s, got %zu", schema->name, lo,
                                     lo == 1 ? "" : "s", n->n_inputs);
            if (hi < 0)
                return fmx_yaml_fail(L, line, col, "type '%s' takes at least %d input%s, got %zu", schema->name, lo,
                                     lo == 1 ? "" : "s", n->n_inputs);
            return fmx_yaml_fail(L, line, col, "type '%s' takes %d to %d inputs, got %zu", schema->name, lo, hi,
                                 n->n_inputs);
        }
        if (y_params && s_node_params(L, n, schema, y_params) != 0) return -1;
        for (const fmx_param_spec_t *p = schema->params; p && p->key; p++)
            if (p->required && !fmx_value_map_get(n->params, p->key))
                return fmx_yaml_fail(L, n->line, n->col, "missing required param '%s' for type '%s'", p->key,
                                     schema->name);
    }
    if (y_budget && s_positive_ms(L, y_budget, "budget_ms", &n->budget_ms) != 0) return -1;
    if (y_hedge_after || y_hedge) {
        if (!y_type) return fmx_yaml_fail_at(L, y_hedge ? y_hedge : y_hedge_after, "a subfeed node cannot hedge");
        if (y_hedge_after && y_hedge)
            return fmx_yaml_fail_at(L, y_hedge, "use `hedge_after_ms` or `hedge`, not both");
        if (y_hedge_after && s_positive_ms(L, y_hedge_after, "hedge_after_ms", &n->hedge_after_ms) != 0) return -1;
        if (y_hedge) {
            /* "p50".."p99": hedge once the first copy has taken longer than that percentile of the
             * type's recent latencies */
            const char *t = y_hedge->kind == FMX_YAML_SCALAR ? y_hedge->text : "";
            char *end;
            long pct = t[0] == 'p' ? strtol(t + 1, &end, 10) : 0;
            if (t[0] != 'p' || end == t + 1 || *end || pct < 50 || pct > 99)
                return fmx_yaml_fail_at(L, y_hedge, "hedge must be a percentile p50..p99 (e.g. p95)");
            n->hedge_percentile = (uint8_t)pct;
        }
    }
    if (y_fallback) {
        if (s_node_fallback(L, n, y_fallback) != 0) return -1;
        if (n->fallback == FMX_FALLBACK_PASSTHROUGH && n->n_inputs == 0)
            return fmx_yaml_fail_at(L, y_fallback, "fallback 'passthrough' needs at least one input");
    }
    if (y_required) {
        fmx_value_t *v = y_required->kind == FMX_YAML_SCALAR ? fmx_yaml_scalar(L, y_required) : NULL;
        bool ok = v && v->kind == FMX_VAL_BOOL;
        if (ok) n->required = v->u.b;
        fmx_value_destroy(&v);
        if (!ok) return fmx_yaml_fail_at(L, y_required, "required must be true or false");
    }
    if (y_when) {
        if (fmx_yaml_want_text(L, y_when, "when") != 0) return -1;
        n->when = strdup(y_when->text);
        if (!n->when) return fmx_yaml_oom(L);
        n->when_expr = fmx_yaml_expr(L, y_when, n->when, "`when:`");
        if (!n->when_expr) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Graph checks and ordering                                                                   */

typedef struct {
    const char *name;
    size_t idx;
} s_nameref_t;

static int s_nameref_cmp(const void *a, const void *b) {
    return strcmp(((const s_nameref_t *)a)->name, ((const s_nameref_t *)b)->name);
}

/* Node index by name in refs sorted by name, or -1. */
static long s_find(const s_nameref_t *refs, size_t n, const char *name) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(refs[mid].name, name);
        if (c == 0) return (long)refs[mid].idx;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Resolves names, checks the graph and puts nodes in dependency order. */
static int s_graph(const fmx_yaml_ctx_t *L0, fmx_feed_t *feed, const s_nodepos_t *pos, const fmx_yaml_t *y_output) {
    fmx_yaml_ctx_t L = *L0;
    size_t n = feed->n_nodes;
    s_nameref_t *by_name = malloc(n * sizeof *by_name);
    size_t *indeg = calloc(n, sizeof *indeg), *renum = malloc(n * sizeof *renum);
    size_t *consumers = calloc(n, sizeof *consumers), *order = malloc(n * sizeof *order);
    bool *done = calloc(n, sizeof *done);
    fmx_feed_node_t *sorted = NULL;
    size_t *edge_at = NULL, *edges = NULL;
    int rc = -1;
    if (!by_name || !indeg || !renum || !consumers || !order || !done) {
        fmx_yaml_oom(&L);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        by_name[i] = (s_nameref_t){feed->nodes[i].name, i};
    qsort(by_name, n, sizeof *by_name, s_nameref_cmp);

    for (size_t i = 0; i < n; i++) {
        fmx_feed_node_t *node = &feed->nodes[i];
        L.name = node->name;
        for (size_t k = 0; k < node->n_inputs; k++) {
            long j = s_find(by_name, n, node->inputs[k]);
            const fmx_yaml_t *at = pos[i].input_at[k];
            if (j < 0) {
                fmx_yaml_fail_at(&L, at, "unknown input '%.64s'", node->inputs[k]);
                goto out;
            }
            if ((size_t)j == i) {
                fmx_yaml_fail_at(&L, at, "lists itself as an input");
                goto out;
            }
            node->input_index[k] = (size_t)j;
            consumers[j]++;
        }
        indeg[i] = node->n_inputs;
    }
    L.name = NULL;
    long out_idx = s_find(by_name, n, y_output->text);
    if (out_idx < 0) {
        fmx_yaml_fail_at(&L, y_output, "output '%.64s' is not a node of this feed", y_output->text);
        goto out;
    }
    feed->output = (size_t)out_idx;

    /* Consumer lists: edges[edge_at[j] .. edge_at[j + 1]) are the nodes reading j. */
    size_t n_edges = 0;
    for (size_t i = 0; i < n; i++)
        n_edges += feed->nodes[i].n_inputs;
    edge_at = calloc(n + 1, sizeof *edge_at);
    edges = malloc((n_edges ? n_edges : 1) * sizeof *edges);
    if (!edge_at || !edges) {
        fmx_yaml_oom(&L);
        goto out;
    }
    for (size_t j = 0; j < n; j++)
        edge_at[j + 1] = edge_at[j] + consumers[j];
    for (size_t i = 0; i < n; i++)
        indeg[i] = 0; /* reused as fill cursors, then restored */
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < feed->nodes[i].n_inputs; k++) {
            size_t j = feed->nodes[i].input_index[k];
            edges[edge_at[j] + indeg[j]++] = i;
        }
    for (size_t i = 0; i < n; i++)
        indeg[i] = feed->nodes[i].n_inputs;

    /* Kahn's algorithm, always taking the earliest ready node in file order: stable. The O(n^2)
     * scan for it is cheap with n <= S_MAX_NODES. */
    size_t placed = 0;
    for (;;) {
        size_t next = SIZE_MAX;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && indeg[i] == 0) {
                next = i;
                break;
            }
        if (next == SIZE_MAX) break;
        done[next] = true;
        order[placed++] = next;
        for (size_t e = edge_at[next]; e < edge_at[next + 1]; e++)
            indeg[edges[e]]--;
    }
    if (placed < n) {
        /* Every node left has an input that is left too: walk inputs until one repeats. */
        size_t *walk = order + placed; /* spare room: at most n - placed steps */
        size_t steps = 0, cur = SIZE_MAX;
        for (size_t i = 0; i < n && cur == SIZE_MAX; i++)
            if (!done[i]) cur = i;
        size_t start = 0;
        for (;;) {
            bool seen = false;
            for (size_t s = 0; s < steps; s++)
                if (walk[s] == cur) {
                    start = s;
                    seen = true;
                }
            if (seen) break;
            walk[steps++] = cur;
            const fmx_feed_node_t *node = &feed->nodes[cur];
            size_t nxt = SIZE_MAX;
            for (size_t k = 0; k < node->n_inputs && nxt == SIZE_MAX; k++)
                if (!done[node->input_index[k]]) nxt = node->input_index[k];
            cur = nxt;
        }
        /* walk[start..steps) follows inputs; print it reversed, as data flows, from the earliest
         * node in the file. */
        size_t len = steps - start, first = start;
        for (size_t s = start; s < steps; s++)
            if (walk[s] < walk[first]) first = s;
        char path[FMX_ERR_LEN];
        size_t used = 0;
        path[0] = '\0';
        for (size_t step = 0; step <= len && used < sizeof path; step++) {
            size_t s = start + (first - start + len - step % len) % len;
            int w = snprintf(path + used, sizeof path - used, "%s%s", step ? " -> " : "", feed->nodes[walk[s]].name);
            if (w < 0) break;
            used += (size_t)w;
        }
        const fmx_feed_node_t *at = &feed->nodes[walk[first]];
        L.name = at->name;
        fmx_yaml_fail(&L, at->line, at->col, "cycle: %s", path);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (consumers[i] == 0 && i != feed->output) {
            fmx_yaml_fail(&L, feed->nodes[i].line, feed->nodes[i].col,
                          "node '%s' is not used by any node or the output", feed->nodes[i].name);
            goto out;
        }

    /* Reorder; renum maps old index -> new index. */
    sorted = malloc(n * sizeof *sorted);
    if (!sorted) {
        fmx_yaml_oom(&L);
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        sorted[k] = feed->nodes[order[k]];
        renum[order[k]] = k;
    }
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < sorted[k].n_inputs; j++)
            sorted[k].input_index[j] = renum[sorted[k].input_index[j]];
    feed->output = renum[feed->output];
    free(feed->nodes);
    feed->nodes = sorted;
    rc = 0;
out:
    free(by_name);
    free(indeg);
    free(renum);
    free(edge_at);
    free(edges);
    free(consumers);
    free(order);
    free(done);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Feeds                                                                                       */

/* Positions the feedset's cross-file checks report at. */
typedef struct {
    int feed_line, feed_col;
    int fail_line, fail_col;
} s_marks_t;

const char *fmx_fallback_kind_name(fmx_fallback_kind_t kind) {
    switch (kind) {
    case FMX_FALLBACK_NONE: return "none";
    case FMX_FALLBACK_EMPTY: return "empty";
    case FMX_FALLBACK_PASSTHROUGH: return "passthrough";
    case FMX_FALLBACK_STATIC: return "static";
    case FMX_FALLBACK_CACHED: return "cached";
    }
    return "?";
}

void fmx_feed_destroy(fmx_feed_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_feed_t *self = *self_p;
    for (size_t i = 0; self->nodes && i < self->n_nodes; i++)
        s_node_fini(&self->nodes[i]);
    free(self->nodes);
    free(self->name);
    free(self->path);
    fmx_value_destroy(&self->params);
    free(self->on_failure);
    fmx_value_destroy(&self->context);
    for (size_t i = 0; self->param_decls && i < self->n_param_decls; i++)
        free(self->param_decls[i].name);
    free(self->param_decls);
    free(self);
    *self_p = NULL;
}

long fmx_feed_node_index(const fmx_feed_t *self, const char *name) {
    if (!self || !name) return -1;
    for (size_t i = 0; i < self->n_nodes; i++)
        if (strcmp(self->nodes[i].name, name) == 0) return (long)i;
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Feed params: defaults and declarations                                                      */

static const char s_param_keys[] = "default, type, min, max, overridable, doc";

const char *fmx_param_type_name(fmx_value_kind_t type) {
    switch (type) {
    case FMX_VAL_NULL: return "any";
    case FMX_VAL_BOOL: return "bool";
    case FMX_VAL_INT: return "int";
    case FMX_VAL_FLOAT: return "float";
    case FMX_VAL_STR: return "string";
    default: return "?";
    }
}

static const char *s_scalar_kind_name(fmx_scalar_kind_t kind) {
    switch (kind) {
    case FMX_SCALAR_NULL: return "null";
    case FMX_SCALAR_BOOL: return "bool";
    case FMX_SCALAR_INT: return "int";
    case FMX_SCALAR_FLOAT: return "float";
    case FMX_SCALAR_STR: return "string";
    }
    return "?";
}

const fmx_param_decl_t *fmx_feed_param(const fmx_feed_t *feed, const char *name) {
    if (!feed || !name) return NULL;
    for (size_t i = 0; i < feed->n_param_decls; i++)
        if (strcmp(feed->param_decls[i].name, name) == 0) return &feed->param_decls[i];
    return NULL;
}

int fmx_param_check(const fmx_param_decl_t *decl, const fmx_scalar_t *value, char err[FMX_ERR_LEN]) {
    const char *name = decl->name;
    double x = 0;
    bool ok = false;
    switch (decl->type) {
    case FMX_VAL_NULL: return 0; /* untyped: declared by a null short-form default */
    case FMX_VAL_BOOL: ok = value->kind == FMX_SCALAR_BOOL; break;
    case FMX_VAL_STR: ok = value->kind == FMX_SCALAR_STR; break;
    case FMX_VAL_INT:
        ok = value->kind == FMX_SCALAR_INT;
        x = ok ? (double)value->u.i : 0;
        break;
    case FMX_VAL_FLOAT:
        ok = value->kind == FMX_SCALAR_INT || value->kind == FMX_SCALAR_FLOAT;
        x = value->kind == FMX_SCALAR_INT ? (double)value->u.i : value->kind == FMX_SCALAR_FLOAT ? value->u.f : 0;
        if (ok && !isfinite(x)) return fmx_err(err, "%s must be a finite number", name);
        break;
    default: return fmx_err(err, "%s has an unsupported type", name);
    }
    if (!ok)
        return fmx_err(err, "%s must be %s %s, got %s", name, decl->type == FMX_VAL_INT ? "an" : "a",
                       fmx_param_type_name(decl->type), s_scalar_kind_name(value->kind));
    bool below = decl->has_min && x < decl->min, above = decl->has_max && x > decl->max;
    if (!below && !above) return 0;
    char shown[40];
    if (value->kind == FMX_SCALAR_INT)
        snprintf(shown, sizeof shown, "%lld", (long long)value->u.i);
    else
        snprintf(shown, sizeof shown, "%.15g", x);
    if (below) return fmx_err(err, "%s %s is below the minimum %.15g", name, shown, decl->min);
    return fmx_err(err, "%s %s is above the maximum %.15g", name, shown, decl->max);
}

/* A bound (`min`/`max`) of an int or float param. */
static int s_param_bound(const fmx_yaml_ctx_t *L, const fmx_param_decl_t *d, const fmx_yaml_t *k, const fmx_yaml_t *y,
                         double *out) {
    if (d->type != FMX_VAL_INT && d->type != FMX_VAL_FLOAT)
        return fmx_yaml_fail_at(L, k, "param '%s': %s is only allowed for int and float params, not %s", d->name,
                                k->text, fmx_param_type_name(d->type));
    fmx_value_t *v = y->kind == FMX_YAML_SCALAR ? fmx_yaml_scalar(L, y) : NULL;
    if (!v && y->kind == FMX_YAML_SCALAR) return -1;
    int rc = 0;
    if (v && v->kind == FMX_VAL_INT)
        *out = (double)v->u.i;
    else if (v && v->kind == FMX_VAL_FLOAT)
        *out = v->u.f;
    else
        rc = fmx_yaml_fail_at(L, y, "param '%s': %s must be a number", d->name, k->text);
    fmx_value_destroy(&v);
    return rc;
}

/* One param from its key and value (a scalar default, or the long form): the default goes
 * into feed->params, the declaration into *d. */
static int s_feed_param(const fmx_yaml_ctx_t *L, fmx_feed_t *feed, fmx_param_decl_t *d, const fmx_yaml_t *k,
                        const fmx_yaml_t *y) {
    static const char *const types[] = {"bool", "int", "float", "string"};
    static const fmx_value_kind_t kinds[] = {FMX_VAL_BOOL, FMX_VAL_INT, FMX_VAL_FLOAT, FMX_VAL_STR};
    d->line = k->line;
    d->col = k->col;
    if (!(d->name = strdup(k->text))) return fmx_yaml_oom(L);
    const fmx_yaml_t *y_def = y, *y_type = NULL, *y_over = NULL, *y_doc = NULL;
    const fmx_yaml_t *k_min = NULL, *y_min = NULL, *k_max = NULL, *y_max = NULL;
    if (y->kind == FMX_YAML_MAP) {
        y_def = NULL;
        for (size_t i = 0; i < y->n; i++) {
            const char *t = y->keys[i]->text;
            if (!strcmp(t, "default"))
                y_def = y->kids[i];
            else if (!strcmp(t, "type"))
                y_type = y->kids[i];
            else if (!strcmp(t, "min"))
                k_min = y->keys[i], y_min = y->kids[i];
            else if (!strcmp(t, "max"))
                k_max = y->keys[i], y_max = y->kids[i];
            else if (!strcmp(t, "overridable"))
                y_over = y->kids[i];
            else if (!strcmp(t, "doc"))
                y_doc = y->kids[i];
        }
        if (y_def) /* the long form; otherwise fall through to the error below */
            for (size_t i = 0; i < y->n; i++) {
                const char *t = y->keys[i]->text;
                if (strcmp(t, "default") && strcmp(t, "type") && strcmp(t, "min") && strcmp(t, "max") &&
                    strcmp(t, "overridable") && strcmp(t, "doc"))
                    return fmx_yaml_fail_at(L, y->keys[i], "param '%s': unknown key '%.64s' (allowed: %s)", d->name, t,
                                            s_param_keys);
            }
    }
    if (!y_def || y_def->kind != FMX_YAML_SCALAR)
        return fmx_yaml_fail_at(L, y_def ? y_def : y,
                                "param '%s': param values are scalars; use { default: ..., type: ... } to declare one",
                                d->name);
    if (y_type) {
        if (fmx_yaml_want_text(L, y_type, "type") != 0) return -1;
        size_t t = 0;
        while (t < FMX_ARRAY_LEN(types) && strcmp(types[t], y_type->text) != 0)
            t++;
        if (t == FMX_ARRAY_LEN(types))
            return fmx_yaml_fail_at(L, y_type, "param '%s': unknown type '%.64s' (allowed: bool, int, float, string)",
                                    d->name, y_type->text);
        d->type = kinds[t];
    }
    fmx_value_t *v = fmx_yaml_scalar(L, y_def);
    if (!v) return -1;
    if (!y_type) d->type = v->kind; /* inferred; a null default leaves the param untyped */
    int rc = -1;
    if (y_min && s_param_bound(L, d, k_min, y_min, &d->min) != 0) goto out;
    if (y_max && s_param_bound(L, d, k_max, y_max, &d->max) != 0) goto out;
    d->has_min = y_min != NULL;
    d->has_max = y_max != NULL;
    if (d->has_min && d->has_max && d->min > d->max) {
        fmx_yaml_fail_at(L, y_max, "param '%s': max %.15g is below min %.15g", d->name, d->max, d->min);
        goto out;
    }
    if (y_over) {
        fmx_value_t *b = y_over->kind == FMX_YAML_SCALAR ? fmx_yaml_scalar(L, y_over) : NULL;
        bool ok = b && b->kind == FMX_VAL_BOOL;
        if (ok) d->overridable = b->u.b;
        fmx_value_destroy(&b);
        if (!ok) {
            fmx_yaml_fail_at(L, y_over, "param '%s': overridable must be true or false", d->name);
            goto out;
        }
    }
    if (y_doc && fmx_yaml_want_text(L, y_doc, "doc") != 0) goto out;
    fmx_scalar_t sv;
    char why[FMX_ERR_LEN];
    fmx_value_to_scalar(v, &sv);
    if (fmx_param_check(d, &sv, why) != 0) {
        fmx_yaml_fail_at(L, y_def, "param '%s': bad default: %s", d->name, why);
        goto out;
    }
    if (d->type == FMX_VAL_FLOAT && v->kind == FMX_VAL_INT) { /* defaults carry their declared type */
        v->kind = FMX_VAL_FLOAT;
        v->u.f = (double)v->u.i;
    }
    if (fmx_value_map_put(feed->params, d->name, v) != 0) {
        fmx_yaml_oom(L);
        goto out;
    }
    return 0;
out:
    fmx_value_destroy(&v);
    return rc;
}

/* `params:`: a map of param name -> default or declaration; absent or null: none. */
static int s_feed_params(const fmx_yaml_ctx_t *L, fmx_feed_t *feed, const fmx_yaml_t *y) {
    bool none = !y || fmx_yaml_is_null(y);
    feed->params = fmx_value_new(FMX_VAL_MAP, y ? y->line : 0, y ? y->col : 0);
    if (!feed->params) return fmx_yaml_oom(L);
    if (none) return 0;
    if (y->kind != FMX_YAML_MAP) return fmx_yaml_fail_at(L, y, "params must be a map of defaults");
    if (y->n > S_MAX_PARAMS) return fmx_yaml_fail_at(L, y, "more than %d params", S_MAX_PARAMS);
    if (y->n && !(feed->param_decls = calloc(y->n, sizeof *feed->param_decls))) return fmx_yaml_oom(L);
    for (size_t i = 0; i < y->n; i++) {
        feed->n_param_decls = i + 1;
        if (s_feed_param(L, feed, &feed->param_decls[i], y->keys[i], y->kids[i]) != 0) return -1;
    }
    return 0;
}

static int s_feed_nodes(fmx_yaml_ctx_t *L, fmx_feed_t *feed, const fmx_yaml_t *y, const fmx_yaml_t *y_output) {
    if (y->kind != FMX_YAML_MAP || y->n == 0)
        return fmx_yaml_fail_at(L, y, "nodes must be a non-empty map of node name -> node");
    if (y->n > S_MAX_NODES) return fmx_yaml_fail_at(L, y, "more than %d nodes", S_MAX_NODES);
    int rc = -1;
    s_nodepos_t *pos = calloc(y->n, sizeof *pos);
    feed->nodes = calloc(y->n, sizeof *feed->nodes);
    if (!pos || !feed->nodes) {
        fmx_yaml_oom(L);
        goto out;
    }
    feed->n_nodes = y->n;
    for (size_t i = 0; i < y->n; i++) {
        fmx_feed_node_t *n = &feed->nodes[i];
        const fmx_yaml_t *k = y->keys[i];
        n->line = k->line;
        n->col = k->col;
        pos[i].key = k;
        n->name = fmx_yaml_name_dup(L, k, "node name");
        if (!n->name) goto out;
        L->name = n->name;
        int node_rc = s_node(L, n, &pos[i], y->kids[i]);
        L->name = NULL;
        if (node_rc != 0) goto out;
    }
    if (fmx_yaml_want_text(L, y_output, "output") != 0) goto out;
    rc = s_graph(L, feed, pos, y_output);
out:
    for (size_t i = 0; pos && i < y->n; i++)
        free(pos[i].input_at);
    free(pos);
    return rc;
}

/* A map of scalar defaults (`context:`); an absent or null key gives an empty map. */
static fmx_value_t *s_defaults_map(fmx_yaml_ctx_t *L, const fmx_yaml_t *y, const char *not_a_map) {
    fmx_value_t *v;
    if (y && !fmx_yaml_is_null(y)) {
        if (y->kind != FMX_YAML_MAP) {
            fmx_yaml_fail_at(L, y, "%s", not_a_map);
            return NULL;
        }
        v = fmx_yaml_value(L, y);
    } else {
        v = fmx_value_new(FMX_VAL_MAP, y ? y->line : 0, y ? y->col : 0);
        if (!v) fmx_yaml_oom(L);
    }
    return v;
}

static fmx_feed_t *s_feed_load(const char *path, char err[FMX_ERR_LEN], s_marks_t *marks) {
    fmx_yaml_ctx_t L = {path ? path : "(null)", err, "node", NULL};
    if (err) err[0] = '\0';
    char scratch[FMX_ERR_LEN];
    if (!err) L.err = scratch; /* messages always need a buffer: fmx_yaml_ctx_t.err is never NULL */
    L.err[0] = '\0';
    fmx_feed_t *self = NULL;
    static const fmx_yaml_opts_t opts = {"nodes", "node", false};
    fmx_yaml_t *root = fmx_yaml_load(&L, &opts);
    if (!root) return NULL;
    self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(L.path))) {
        fmx_yaml_oom(&L);
        goto fail;
    }
    self->deadline_ms = S_DEFAULT_DEADLINE_MS;
    if (root->kind != FMX_YAML_MAP) {
        fmx_yaml_fail_at(&L, root, "the top level must be a map with keys %s", s_top_keys);
        goto fail;
    }
    const fmx_yaml_t *y_feed = NULL, *y_params = NULL, *y_context = NULL, *y_deadline = NULL, *y_fail = NULL,
                     *y_nodes = NULL, *y_output = NULL;
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->keys[i]->text;
        const fmx_yaml_t *v = root->kids[i];
        if (!strcmp(k, "feed"))
            y_feed = v;
        else if (!strcmp(k, "params"))
            y_params = v;
        else if (!strcmp(k, "context"))
            y_context = v;
        else if (!strcmp(k, "deadline_ms"))
            y_deadline = v;
        else if (!strcmp(k, "on_failure"))
            y_fail = v;
        else if (!strcmp(k, "nodes"))
            y_nodes = v;
        else if (!strcmp(k, "output"))
            y_output = v;
        else {
            fmx_yaml_fail_at(&L, root->keys[i], "unknown key '%.64s' (allowed: %s)", k, s_top_keys);
            goto fail;
        }
    }
    const char *missing = !y_feed ? "feed" : !y_nodes ? "nodes" : !y_output ? "output" : NULL;
    if (missing) {
        fmx_yaml_fail_at(&L, root, "missing required key '%s'", missing);
        goto fail;
    }
    self->name = fmx_yaml_name_dup(&L, y_feed, "feed name");
    if (!self->name) goto fail;
    if (s_feed_params(&L, self, y_params) != 0) goto fail;
    self->context = s_defaults_map(&L, y_context, "context must be a map of defaults for request context keys");
    if (!self->context) goto fail;
    for (size_t i = 0; i < self->context->u.map.n; i++) {
        const char *key = self->context->u.map.keys[i];
        if (fmx_req_context_reserved(key, strlen(key))) {
            const fmx_value_t *v = self->context->u.map.vals[i];
            fmx_yaml_fail(&L, v->line, v->col, "context: `%s` is set by the broker for every request, not a default",
                          key);
            goto fail;
        }
    }
    if (y_deadline && s_positive_ms(&L, y_deadline, "deadline_ms", &self->deadline_ms) != 0) goto fail;
    if (y_fail && !(self->on_failure = fmx_yaml_name_dup(&L, y_fail, "on_failure feed"))) goto fail;
    if (s_feed_nodes(&L, self, y_nodes, y_output) != 0) goto fail;
    if (marks) {
        *marks = (s_marks_t){y_feed->line, y_feed->col, y_fail ? y_fail->line : 0, y_fail ? y_fail->col : 0};
    }
    fmx_yaml_destroy(&root);
    return self;
fail:
    fmx_yaml_destroy(&root);
    fmx_feed_destroy(&self);
    return NULL;
}

fmx_feed_t *fmx_feed_load(const char *path, char err[FMX_ERR_LEN]) {
    return s_feed_load(path, err, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Feed sets                                                                                   */

struct fmx_feedset {
    fmx_feed_t **feeds; /* in file-name order */
    s_marks_t *marks;
    size_t n;
};

typedef struct {
    char *buf;
    size_t cap, used;
    size_t count;
} s_errs_t;

static void s_errs_add(s_errs_t *e, const char *msg) {
    e->count++;
    if (!e->buf || e->cap == 0 || e->used + 1 >= e->cap) return;
    int w = snprintf(e->buf + e->used, e->cap - e->used, "%s\n", msg);
    if (w < 0) return;
    e->used += (size_t)w;
    if (e->used >= e->cap) e->used = e->cap - 1; /* truncated; snprintf kept the NUL */
}

void fmx_feedset_destroy(fmx_feedset_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_feedset_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        fmx_feed_destroy(&self->feeds[i]);
    free(self->feeds);
    free(self->marks);
    free(self);
    *self_p = NULL;
}

const fmx_feed_t *fmx_feedset_find(const fmx_feedset_t *self, const char *name, size_t len) {
    if (!self || !name) return NULL;
    for (size_t i = 0; i < self->n; i++) {
        const char *fn = self->feeds[i]->name;
        if (strlen(fn) == len && memcmp(fn, name, len) == 0) return self->feeds[i];
    }
    return NULL;
}

size_t fmx_feedset_count(const fmx_feedset_t *self) {
    return self ? self->n : 0;
}

const fmx_feed_t *fmx_feedset_at(const fmx_feedset_t *self, size_t index) {
    return self && index < self->n ? self->feeds[index] : NULL;
}

static long s_feed_index(const fmx_feedset_t *set, const char *name) {
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->feeds[i]->name, name) == 0) return (long)i;
    return -1;
}

static int s_name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool s_is_feed_file(const char *name) {
    size_t n = strlen(name);
    if (name[0] == '.') return false; /* editor and VCS droppings */
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* Sub-feed recursion: depth-first over "feed embeds feed" edges; color 1 = on the stack. */
static void s_recursion(const fmx_feedset_t *set, size_t f, unsigned char *color, size_t *stack, size_t depth,
                        s_errs_t *errs) {
    color[f] = 1;
    stack[depth] = f;
    const fmx_feed_t *feed = set->feeds[f];
    for (size_t i = 0; i < feed->n_nodes; i++) {
        const fmx_feed_node_t *node = &feed->nodes[i];
        if (!node->subfeed) continue;
        long t = s_feed_index(set, node->subfeed);
        if (t < 0) continue;
        if (color[t] == 1) {
            /* the cycle is stack[s..depth] -> t; print it from this feed */
            size_t s = depth;
            while (stack[s] != (size_t)t)
                s--;
            char path[FMX_ERR_LEN], msg[FMX_ERR_LEN];
            size_t used = (size_t)snprintf(path, sizeof path, "%s", feed->name);
            for (size_t k = s; k <= depth && used < sizeof path; k++) {
                int w = snprintf(path + used, sizeof path - used, " -> %s", set->feeds[stack[k]]->name);
                if (w < 0) break;
                used += (size_t)w;
            }
            fmx_yaml_ctx_t L = {feed->path, msg, "node", node->name};
            fmx_yaml_fail(&L, node->line, node->col, "sub-feed recursion: %s", path);
            s_errs_add(errs, msg);
        } else if (color[t] == 0) {
            s_recursion(set, (size_t)t, color, stack, depth + 1, errs);
        }
    }
    color[f] = 2;
}

/* Request facts every feed may read: the broker's own, and the context keys of DESIGN.md 4. */
static const char *const s_request_facts[] = {"user_id", "request_id", "feed", "hour", "weekday",
                                             "geo",     "platform",   "time", "session_id"};

/* Is `name` a parameter of `feed` or of a feed that embeds it (up to depth), a request fact, or
 * a key some feed gives a `context:` default for? */
static bool s_name_known(const fmx_feedset_t *set, const fmx_feed_t *feed, const char *name, int depth) {
    if (fmx_value_map_get(feed->params, name)) return true;
    if (depth == 0) {
        for (size_t i = 0; i < FMX_ARRAY_LEN(s_request_facts); i++)
            if (strcmp(s_request_facts[i], name) == 0) return true;
        for (size_t f = 0; f < set->n; f++)
            if (fmx_value_map_get(set->feeds[f]->context, name)) return true;
    }
    if (depth >= 8) return false;
    for (size_t f = 0; f < set->n; f++)
        for (size_t k = 0; k < set->feeds[f]->n_nodes; k++) {
            const char *sub = set->feeds[f]->nodes[k].subfeed;
            if (sub && strcmp(sub, feed->name) == 0 && s_name_known(set, set->feeds[f], name, depth + 1)) return true;
        }
    return false;
}

typedef struct {
    const fmx_feedset_t *set;
    const fmx_feed_t *feed;
    const fmx_feed_node_t *node;
    s_errs_t *errs;
} s_tpl_check_t;

static int s_check_template(void *arg, const fmx_value_t *where, const char *name, size_t len) {
    s_tpl_check_t *c = arg;
    char key[129], msg[FMX_ERR_LEN];
    if (len >= sizeof key) return 0; /* the loader already bounds names */
    memcpy(key, name, len);
    key[len] = '\0';
    if (s_name_known(c->set, c->feed, key, 0)) return 0;
    fmx_yaml_ctx_t L = {c->feed->path, msg, "node", c->node->name};
    fmx_yaml_fail(&L, where->line, where->col,
                  "template {%s} names no parameter of this feed (or of one embedding it) and no request fact; "
                  "declare it in params: or give a default in context:",
                  key);
    s_errs_add(c->errs, msg);
    return 0; /* keep going: report every unknown name */
}

static void s_cross_checks(const fmx_feedset_t *set, s_errs_t *errs) {
    char msg[FMX_ERR_LEN];
    for (size_t i = 0; i < set->n; i++) {
        const fmx_feed_t *feed = set->feeds[i];
        const s_marks_t *m = &set->marks[i];
        fmx_yaml_ctx_t L = {feed->path, msg, "node", NULL};
        long first = s_feed_index(set, feed->name);
        if (first >= 0 && (size_t)first != i) {
            fmx_yaml_fail(&L, m->feed_line, m->feed_col, "feed '%s' is already defined in %s", feed->name,
                          set->feeds[first]->path);
            s_errs_add(errs, msg);
        }
        if (feed->on_failure) {
            if (strcmp(feed->on_failure, feed->name) == 0) {
                fmx_yaml_fail(&L, m->fail_line, m->fail_col, "on_failure names this feed itself");
                s_errs_add(errs, msg);
            } else if (s_feed_index(set, feed->on_failure) < 0) {
                fmx_yaml_fail(&L, m->fail_line, m->fail_col, "on_failure: unknown feed '%s'", feed->on_failure);
                s_errs_add(errs, msg);
            }
        }
        for (size_t k = 0; k < feed->n_nodes; k++) {
            const fmx_feed_node_t *node = &feed->nodes[k];
            s_tpl_check_t check = {set, feed, node, errs};
            char tpl_err[FMX_ERR_LEN];
            fmx_value_each_template(node->params, s_check_template, &check, tpl_err);
            if (node->fallback_items) fmx_value_each_template(node->fallback_items, s_check_template, &check, tpl_err);
            if (!node->subfeed || s_feed_index(set, node->subfeed) >= 0) continue;
            L.name = node->name;
            fmx_yaml_fail(&L, node->line, node->col, "unknown sub-feed '%s'", node->subfeed);
            L.name = NULL;
            s_errs_add(errs, msg);
        }
    }
    unsigned char *color = calloc(set->n ? set->n : 1, 1);
    size_t *stack = malloc((set->n ? set->n : 1) * sizeof *stack);
    if (!color || !stack) {
        s_errs_add(errs, "out of memory checking sub-feeds");
    } else {
        for (size_t i = 0; i < set->n; i++)
            if (!color[i]) s_recursion(set, i, color, stack, 0, errs);
    }
    free(color);
    free(stack);
}

fmx_feedset_t *fmx_feedset_load_dir(const char *dir, char *errs, size_t errs_cap) {
    s_errs_t e = {errs, errs_cap, 0, 0};
    if (errs && errs_cap) errs[0] = '\0';
    char msg[FMX_ERR_LEN];
    char **names = NULL;
    size_t n_names = 0;
    fmx_feedset_t *self = calloc(1, sizeof *self);
    DIR *d = opendir(dir);
    if (!self) {
        s_errs_add(&e, "out of memory loading feeds");
        goto done;
    }
    if (!d) {
        snprintf(msg, sizeof msg, "%s: cannot open directory: %s", dir, strerror(errno));
        s_errs_add(&e, msg);
        goto done;
    }
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (!s_is_feed_file(ent->d_name)) continue;
        if (n_names == S_MAX_FILES) {
            snprintf(msg, sizeof msg, "%s: more than %d feed files", dir, S_MAX_FILES);
            s_errs_add(&e, msg);
            goto done;
        }
        if (n_names % 64 == 0) {
            char **grown = realloc(names, (n_names + 64) * sizeof *names);
            if (!grown) goto oom;
            names = grown;
        }
        if (asprintf(&names[n_names], "%s/%s", dir, ent->d_name) < 0) goto oom;
        n_names++;
    }
    if (n_names) qsort(names, n_names, sizeof *names, s_name_cmp);
    self->feeds = calloc(n_names ? n_names : 1, sizeof *self->feeds);
    self->marks = calloc(n_names ? n_names : 1, sizeof *self->marks);
    if (!self->feeds || !self->marks) goto oom;
    for (size_t i = 0; i < n_names; i++) {
        fmx_feed_t *feed = s_feed_load(names[i], msg, &self->marks[self->n]);
        if (!feed) {
            s_errs_add(&e, msg);
            continue;
        }
        self->feeds[self->n++] = feed;
    }
    s_cross_checks(self, &e);
    goto done;
oom:
    s_errs_add(&e, "out of memory loading feeds");
done:
    if (d) closedir(d);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    if (e.count) fmx_feedset_destroy(&self);
    return self;
}
