#include "broker/plan.h"

#include <stdlib.h>
#include <string.h>

#include "common/expr.h"

#define S_MAX_NODES 4096
#define S_MAX_SUBFEED_DEPTH FMX_PLAN_MAX_DEPTH
#define S_NAME_MAX 256

/* One level of feed nesting while resolving variables. `read_request` is set (on the scope the
 * lookup started from) when a name resolved from the request rather than from parameters. */
typedef struct s_scope {
    const fmx_feed_t *feed;
    const struct s_scope *parent;
    const fmx_plan_env_t *env;
    bool *read_request;
} s_scope_t;

typedef struct {
    fmx_plan_t *plan;
    size_t cap;
    const fmx_feedset_t *set;
    char *err;
} s_builder_t;

static int s_resolve(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    const s_scope_t *scope = arg;
    const fmx_plan_env_t *env = scope->env;
    char key[S_NAME_MAX];
    if (len >= sizeof key) return -1;
    memcpy(key, name, len);
    key[len] = '\0';
    for (const s_scope_t *s = scope; s; s = s->parent) {
        /* Overrides target the root feed's parameters; a sub-feed's own parameter stays its own. */
        if (!s->parent && env->overrides && env->overrides(env->arg, name, len, out) == 0) return 0;
        const fmx_value_t *v = fmx_value_map_get(s->feed->params, key);
        if (v && fmx_value_to_scalar(v, out) == 0) return 0;
    }
    if (scope->read_request) *scope->read_request = true;
    if (env->context && env->context(env->arg, name, len, out) == 0) return 0;
    for (const s_scope_t *s = scope; s; s = s->parent) {
        const fmx_value_t *v = fmx_value_map_get(s->feed->context, key);
        if (v && fmx_value_to_scalar(v, out) == 0) return 0;
    }
    return -1;
}

static void s_node_fini(fmx_plan_node_t *n) {
    free(n->name);
    free(n->inputs);
    free(n->consumers);
    free(n->params);
    free(n->static_items);
}

void fmx_plan_destroy(fmx_plan_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_plan_t *self = *self_p;
    for (size_t i = 0; i < self->n_nodes; i++) s_node_fini(&self->nodes[i]);
    free(self->nodes);
    free(self);
    *self_p = NULL;
}

static fmx_plan_node_t *s_add(s_builder_t *b) {
    fmx_plan_t *p = b->plan;
    if (p->n_nodes >= S_MAX_NODES) {
        fmx_err(b->err, "feed '%s': plan exceeds %d nodes", p->feed->name, S_MAX_NODES);
        return NULL;
    }
    if (p->n_nodes == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        fmx_plan_node_t *nodes = realloc(p->nodes, cap * sizeof *nodes);
        if (!nodes) {
            fmx_err(b->err, "out of memory building plan");
            return NULL;
        }
        p->nodes = nodes;
        b->cap = cap;
    }
    fmx_plan_node_t *n = &p->nodes[p->n_nodes++];
    memset(n, 0, sizeof *n);
    return n;
}

/* Packs v with templates bound; *read_request tells whether any template read the request. */
static char *s_pack_value(const fmx_value_t *v, const s_scope_t *scope, size_t *len, bool *read_request, char *err) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    s_scope_t tracked = *scope;
    *read_request = false;
    tracked.read_request = read_request;
    if (fmx_value_pack(v, &pk, s_resolve, &tracked, err) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return NULL;
    }
    *len = sb.size;
    return msgpack_sbuffer_release(&sb);
}

static char *s_join(const char *prefix, const char *name) {
    size_t a = prefix ? strlen(prefix) : 0, b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    if (a) {
        memcpy(s, prefix, a);
        s[a++] = '/';
    }
    memcpy(s + a, name, b + 1);
    return s;
}

/* Adds one feed's active nodes; *out_index gets the plan index of its output. Returns 0, -1 on
 * error, 1 when the feed's output was pruned (the caller decides whether that is an error). */
static int s_add_feed(s_builder_t *b, const fmx_feed_t *feed, const char *prefix, const s_scope_t *parent,
                      const fmx_plan_env_t *env, int depth, size_t *out_index) {
    if (depth > S_MAX_SUBFEED_DEPTH) return fmx_err(b->err, "feed '%s': sub-feeds nested deeper than %d", feed->name,
                                                    S_MAX_SUBFEED_DEPTH);
    s_scope_t scope = {feed, parent, env, NULL};
    /* map[i] = plan index of feed node i, or SIZE_MAX when pruned. */
    size_t *map = malloc((feed->n_nodes ? feed->n_nodes : 1) * sizeof *map);
    if (!map) return fmx_err(b->err, "out of memory building plan");
    int rc = -1;
    for (size_t i = 0; i < feed->n_nodes; i++) {
        const fmx_feed_node_t *def = &feed->nodes[i];
        map[i] = SIZE_MAX;
        if (def->when_expr && !fmx_expr_test(def->when_expr, s_resolve, &scope)) continue;
        size_t live_inputs = 0;
        for (size_t k = 0; k < def->n_inputs; k++)
            if (map[def->input_index[k]] != SIZE_MAX) live_inputs++;
        if (def->n_inputs > 0 && live_inputs == 0) continue; /* everything it reads was pruned */

        size_t sub_output = SIZE_MAX;
        char *name = s_join(prefix, def->name);
        if (!name) {
            fmx_err(b->err, "out of memory building plan");
            goto done;
        }
        if (def->subfeed) {
            const fmx_feed_t *sub = b->set ? fmx_feedset_find(b->set, def->subfeed, strlen(def->subfeed)) : NULL;
            if (!sub) {
                fmx_err(b->err, "%s:%d:%d: node '%s': unknown sub-feed '%s'", feed->path, def->line, def->col,
                        def->name, def->subfeed);
                free(name);
                goto done;
            }
            size_t mark = b->plan->n_nodes;
            int sub_rc = s_add_feed(b, sub, name, &scope, env, depth + 1, &sub_output);
            if (sub_rc != 0) {
                free(name);
                if (sub_rc < 0) goto done;
                /* The sub-feed's output was pruned: drop the inner nodes it added, and this node. */
                while (b->plan->n_nodes > mark) s_node_fini(&b->plan->nodes[--b->plan->n_nodes]);
                continue;
            }
        }
        fmx_plan_node_t *n = s_add(b);
        if (!n) {
            free(name);
            goto done;
        }
        n->name = name;
        n->def = def;
        n->budget_ms = def->budget_ms;
        n->fallback = def->fallback;
        n->required = def->required;
        if (def->subfeed) {
            n->kind = FMX_PLAN_CAROUSEL;
            n->type = "carousel";
            n->inputs = malloc(sizeof *n->inputs);
            if (!n->inputs) goto oom;
            n->inputs[0] = sub_output;
            n->n_inputs = 1;
        } else {
            n->kind = FMX_PLAN_TASK;
            n->type = def->type;
            if (live_inputs) {
                n->inputs = malloc(live_inputs * sizeof *n->inputs);
                if (!n->inputs) goto oom;
                for (size_t k = 0; k < def->n_inputs; k++)
                    if (map[def->input_index[k]] != SIZE_MAX) n->inputs[n->n_inputs++] = map[def->input_index[k]];
            }
        }
        for (const s_scope_t *sc = &scope; sc && n->n_scopes <= S_MAX_SUBFEED_DEPTH; sc = sc->parent)
            n->scopes[n->n_scopes++] = sc->feed;
        n->params = s_pack_value(def->params, &scope, &n->params_len, &n->request_bound, b->err);
        if (!n->params) {
            char why[FMX_ERR_LEN];
            memcpy(why, b->err, FMX_ERR_LEN);
            fmx_err(b->err, "node '%s': %s", n->name, why);
            goto done;
        }
        if (def->fallback == FMX_FALLBACK_STATIC && def->fallback_items) {
            bool static_read_request;
            n->static_items = s_pack_value(def->fallback_items, &scope, &n->static_len, &static_read_request, b->err);
            if (!n->static_items) goto done;
            if (static_read_request) b->plan->cacheable = false;
        }
        map[i] = b->plan->n_nodes - 1;
    }
    if (map[feed->output] == SIZE_MAX) {
        rc = 1;
        goto done;
    }
    *out_index = map[feed->output];
    rc = 0;
    goto done;
oom:
    fmx_err(b->err, "out of memory building plan");
done:
    free(map);
    return rc;
}

static int s_link_consumers(fmx_plan_t *p, char *err) {
    for (size_t i = 0; i < p->n_nodes; i++)
        for (size_t k = 0; k < p->nodes[i].n_inputs; k++) p->nodes[p->nodes[i].inputs[k]].n_consumers++;
    for (size_t i = 0; i < p->n_nodes; i++) {
        if (!p->nodes[i].n_consumers) continue;
        p->nodes[i].consumers = malloc(p->nodes[i].n_consumers * sizeof(size_t));
        if (!p->nodes[i].consumers) return fmx_err(err, "out of memory building plan");
        p->nodes[i].n_consumers = 0;
    }
    for (size_t i = 0; i < p->n_nodes; i++)
        for (size_t k = 0; k < p->nodes[i].n_inputs; k++) {
            fmx_plan_node_t *src = &p->nodes[p->nodes[i].inputs[k]];
            src->consumers[src->n_consumers++] = i;
        }
    return 0;
}

fmx_plan_t *fmx_plan_build(const fmx_feedset_t *set, const fmx_feed_t *feed, const fmx_plan_env_t *env,
                           char err[FMX_ERR_LEN]) {
    static const fmx_plan_env_t no_env = {NULL, NULL, NULL};
    s_builder_t b = {.set = set, .err = err};
    b.plan = calloc(1, sizeof *b.plan);
    if (!b.plan) {
        fmx_err(err, "out of memory building plan");
        return NULL;
    }
    b.plan->feed = feed;
    b.plan->deadline_ms = feed->deadline_ms;
    b.plan->cacheable = true;
    int rc = s_add_feed(&b, feed, NULL, NULL, env ? env : &no_env, 0, &b.plan->output);
    if (rc > 0) fmx_err(err, "feed '%s': the output node '%s' is disabled by `when:` for this request", feed->name,
                        feed->nodes[feed->output].name);
    if (rc != 0 || s_link_consumers(b.plan, err) != 0) {
        fmx_plan_destroy(&b.plan);
        return NULL;
    }
    return b.plan;
}

int fmx_plan_node_bind(const fmx_plan_t *self, size_t index, const fmx_plan_env_t *env, char **params,
                       size_t *params_len, char err[FMX_ERR_LEN]) {
    static const fmx_plan_env_t no_env = {NULL, NULL, NULL};
    const fmx_plan_node_t *n = &self->nodes[index];
    if (!n->def || n->n_scopes == 0) return fmx_err(err, "node '%s' has no definition to bind", n->name);
    /* Rebuild the scope chain, root last, exactly as when the plan was built. */
    s_scope_t chain[FMX_PLAN_MAX_DEPTH + 1];
    for (size_t k = 0; k < n->n_scopes; k++)
        chain[k] = (s_scope_t){n->scopes[k], k + 1 < n->n_scopes ? &chain[k + 1] : NULL, env ? env : &no_env, NULL};
    bool read_request;
    *params = s_pack_value(n->def->params, &chain[0], params_len, &read_request, err);
    return *params ? 0 : -1;
}
