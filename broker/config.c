/* config.c - the configuration snapshot, per-request resolution and the plan cache. */
#include "broker/config.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/expr.h"
#include "schemas/mpobj.h"

#define S_CACHE_MAX 1024 /* plans per snapshot; a reload starts a fresh cache */
#define S_MAX_WHEN_NAMES 64

typedef struct {
    uint64_t hash;
    char *key;
    size_t key_len;
    fmx_plan_t *plan;
} s_entry_t;

typedef struct {
    const char *names[S_MAX_WHEN_NAMES]; /* borrowed from the feeds' compiled expressions */
    size_t n;
} s_when_names_t;

struct fmx_config {
    unsigned refs;
    uint64_t generation;
    fmx_feedset_t *feeds;
    fmx_params_t *params;
    fmx_experiments_t *experiments;
    s_when_names_t *when_names; /* per feed index: request facts its conditions read */
    s_entry_t *cache;           /* open addressing, S_CACHE_MAX * 2 slots */
    fmx_plan_cache_stats_t stats;
};

static uint64_t s_generations;

/* --- load -------------------------------------------------------------------------------------- */

static bool s_declared(const fmx_feed_t *const *chain, size_t depth, const char *name) {
    for (size_t i = 0; i < depth; i++)
        if (fmx_value_map_get(chain[i]->params, name)) return true;
    return false;
}

static void s_add_name(s_when_names_t *w, const char *name) {
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->names[i], name) == 0) return;
    if (w->n < S_MAX_WHEN_NAMES) w->names[w->n++] = name;
}

/* Collects the names `when:` conditions read from the request (not declared as a parameter by the
 * feed or any feed embedding it), through sub-feeds. */
static void s_collect_when(const fmx_feedset_t *set, const fmx_feed_t *feed, const fmx_feed_t **chain, size_t depth,
                           s_when_names_t *out) {
    if (depth > FMX_PLAN_MAX_DEPTH) return;
    chain[depth++] = feed;
    for (size_t i = 0; i < feed->n_nodes; i++) {
        const fmx_feed_node_t *n = &feed->nodes[i];
        for (size_t k = 0; n->when_expr && k < fmx_expr_name_count(n->when_expr); k++)
            if (!s_declared(chain, depth, fmx_expr_name(n->when_expr, k))) s_add_name(out, fmx_expr_name(n->when_expr, k));
        if (n->subfeed) {
            const fmx_feed_t *sub = fmx_feedset_find(set, n->subfeed, strlen(n->subfeed));
            if (sub) s_collect_when(set, sub, chain, depth, out);
        }
    }
}

static void s_destroy(fmx_config_t *self) {
    for (size_t i = 0; self->cache && i < 2 * S_CACHE_MAX; i++) {
        free(self->cache[i].key);
        fmx_plan_destroy(&self->cache[i].plan);
    }
    free(self->cache);
    free(self->when_names);
    fmx_experiments_destroy(&self->experiments);
    fmx_params_destroy(&self->params);
    fmx_feedset_destroy(&self->feeds);
    free(self);
}

fmx_config_t *fmx_config_load(const fmx_config_paths_t *paths, char *errs, size_t errs_cap) {
    char err[FMX_ERR_LEN];
    fmx_config_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(errs, errs_cap, "out of memory");
        return NULL;
    }
    self->refs = 1;
    self->generation = ++s_generations;
    self->feeds = fmx_feedset_load_dir(paths->feeds_dir, errs, errs_cap);
    if (!self->feeds) goto fail;
    if (paths->params_path) {
        self->params = fmx_params_load(paths->params_path, self->feeds, 1, err);
        if (!self->params) {
            snprintf(errs, errs_cap, "%s", err);
            goto fail;
        }
    }
    if (paths->experiments_path) {
        self->experiments = fmx_experiments_load(paths->experiments_path, self->feeds, 1, err);
        if (!self->experiments) {
            snprintf(errs, errs_cap, "%s", err);
            goto fail;
        }
    }
    size_t n_feeds = fmx_feedset_count(self->feeds);
    self->when_names = calloc(n_feeds ? n_feeds : 1, sizeof *self->when_names);
    self->cache = calloc(2 * S_CACHE_MAX, sizeof *self->cache);
    if (!self->when_names || !self->cache) {
        snprintf(errs, errs_cap, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n_feeds; i++) {
        const fmx_feed_t *chain[FMX_PLAN_MAX_DEPTH + 1];
        s_collect_when(self->feeds, fmx_feedset_at(self->feeds, i), chain, 0, &self->when_names[i]);
    }
    return self;
fail:
    s_destroy(self);
    return NULL;
}

fmx_config_t *fmx_config_ref(fmx_config_t *self) {
    self->refs++;
    return self;
}

void fmx_config_unref(fmx_config_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_config_t *self = *self_p;
    *self_p = NULL;
    if (--self->refs == 0) s_destroy(self);
}

const fmx_feedset_t *fmx_config_feeds(const fmx_config_t *self) { return self->feeds; }
const fmx_params_t *fmx_config_params(const fmx_config_t *self) { return self->params; }
const fmx_experiments_t *fmx_config_experiments(const fmx_config_t *self) { return self->experiments; }
uint64_t fmx_config_generation(const fmx_config_t *self) { return self->generation; }
fmx_plan_cache_stats_t fmx_config_plan_cache_stats(const fmx_config_t *self) { return self->stats; }

/* --- resolve ----------------------------------------------------------------------------------- */

int fmx_resolution_set(fmx_resolution_t *r, fmx_str_t name, const fmx_scalar_t *value) {
    for (size_t i = 0; i < r->n; i++)
        if (r->names[i].len == name.len && memcmp(r->names[i].ptr, name.ptr, name.len) == 0) {
            r->values[i] = *value;
            return 0;
        }
    if (r->n == FMX_MAX_RESOLVED) return -1;
    r->names[r->n] = name;
    r->values[r->n++] = *value;
    return 0;
}

static void s_upsert(fmx_resolution_t *r, fmx_str_t name, const fmx_scalar_t *value) {
    (void)fmx_resolution_set(r, name, value); /* params a feed declares are far fewer than the table */
}

static void s_set_from_value(void *arg, const char *name, const fmx_value_t *value) {
    fmx_resolution_t *res = arg;
    fmx_scalar_t v;
    /* An experiment for every feed may carry params this feed does not declare: they are not its. */
    if (fmx_feed_param(res->feed, name) && fmx_value_to_scalar(value, &v) == 0)
        s_upsert(res, (fmx_str_t){name, strlen(name)}, &v);
}

static int s_feed_index(const fmx_feedset_t *set, const fmx_feed_t *feed) {
    for (size_t i = 0; i < fmx_feedset_count(set); i++)
        if (fmx_feedset_at(set, i) == feed) return (int)i;
    return -1;
}

int fmx_config_resolve(const fmx_config_t *self, fmx_str_t feed_name, fmx_str_t user_id,
                       const msgpack_object *request_params, fmx_lookup_fn context, void *context_arg,
                       fmx_resolution_t *out, fmx_error_code_t *code, char err[FMX_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    out->context = context;
    out->context_arg = context_arg;
    out->feed = fmx_feedset_find(self->feeds, feed_name.ptr, feed_name.len);
    if (!out->feed) {
        *code = FMX_CODE_UNKNOWN_FEED;
        return fmx_err(err, "unknown feed '%.*s'", (int)feed_name.len, feed_name.ptr);
    }
    if (self->params) fmx_params_apply(self->params, out->feed->name, context, context_arg, s_set_from_value, out);
    if (self->experiments) {
        out->n_experiments = fmx_experiments_assign(self->experiments, out->feed->name, user_id, context, context_arg,
                                                    out->experiments, FMX_MAX_EXPERIMENTS);
        for (size_t e = 0; e < out->n_experiments; e++) {
            const fmx_value_t *p = out->experiments[e].params;
            for (size_t k = 0; p && k < p->u.map.n; k++) s_set_from_value(out, p->u.map.keys[k], p->u.map.vals[k]);
        }
    }
    for (uint32_t i = 0; request_params && i < request_params->via.map.size; i++) {
        const msgpack_object *k = &request_params->via.map.ptr[i].key;
        fmx_str_t name = {k->via.str.ptr, k->via.str.size};
        char cname[128];
        if (k->type != MSGPACK_OBJECT_STR || name.len == 0 || name.len >= sizeof cname) {
            *code = FMX_CODE_BAD_REQUEST;
            return fmx_err(err, "`params` keys must be parameter names");
        }
        memcpy(cname, name.ptr, name.len);
        cname[name.len] = '\0';
        const fmx_param_decl_t *decl = fmx_feed_param(out->feed, cname);
        if (!decl || !decl->overridable) {
            *code = FMX_CODE_BAD_REQUEST;
            return fmx_err(err, "feed '%s' does not let a request set param `%s`", out->feed->name, cname);
        }
        fmx_scalar_t v;
        char why[FMX_ERR_LEN];
        if (fmx_scalar_from_msgpack(&request_params->via.map.ptr[i].val, &v) != 0) {
            *code = FMX_CODE_BAD_REQUEST;
            return fmx_err(err, "param `%s` must be a scalar", cname);
        }
        if (fmx_param_check(decl, &v, why) != 0) {
            *code = FMX_CODE_BAD_REQUEST;
            return fmx_err(err, "param `%s`: %s", cname, why);
        }
        s_upsert(out, name, &v);
    }
    return 0;
}

static int s_overrides(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    const fmx_resolution_t *r = arg;
    for (size_t i = 0; i < r->n; i++)
        if (r->names[i].len == len && memcmp(r->names[i].ptr, name, len) == 0) {
            *out = r->values[i];
            return 0;
        }
    return -1;
}

static int s_context(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    const fmx_resolution_t *r = arg;
    return r->context ? r->context(r->context_arg, name, len, out) : -1;
}

int fmx_resolution_lookup(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    const fmx_resolution_t *r = arg;
    char key[128];
    if (s_overrides(arg, name, len, out) == 0) return 0;
    if (len >= sizeof key) return -1;
    memcpy(key, name, len);
    key[len] = '\0';
    const fmx_value_t *v = fmx_value_map_get(r->feed->params, key);
    if (v && fmx_value_to_scalar(v, out) == 0) return 0;
    if (s_context(arg, name, len, out) == 0) return 0;
    v = fmx_value_map_get(r->feed->context, key);
    return v && fmx_value_to_scalar(v, out) == 0 ? 0 : -1;
}

/* --- plans ------------------------------------------------------------------------------------- */

/* The key: feed index, every override (name, value), and the request facts conditions read. */
static char *s_cache_key(const fmx_config_t *self, const fmx_resolution_t *r, int feed_index, size_t *len) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_int(&pk, feed_index);
    msgpack_pack_array(&pk, r->n);
    for (size_t i = 0; i < r->n; i++) {
        fmx_mp_pack_strn(&pk, r->names[i].ptr, r->names[i].len);
        fmx_scalar_pack(&pk, &r->values[i]);
    }
    const s_when_names_t *w = &self->when_names[feed_index];
    for (size_t i = 0; i < w->n; i++) {
        fmx_scalar_t v;
        if (fmx_resolution_lookup((void *)r, w->names[i], strlen(w->names[i]), &v) != 0) v.kind = FMX_SCALAR_NULL;
        fmx_scalar_pack(&pk, &v);
    }
    *len = sb.size;
    return msgpack_sbuffer_release(&sb);
}

static s_entry_t *s_slot(fmx_config_t *self, uint64_t hash, const char *key, size_t len) {
    size_t mask = 2 * S_CACHE_MAX - 1, i = (size_t)hash & mask;
    for (;;) {
        s_entry_t *e = &self->cache[i];
        if (!e->plan || (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0)) return e;
        i = (i + 1) & mask;
    }
}

static int s_bind(const fmx_plan_t *plan, const fmx_plan_env_t *env, fmx_str_t **bound, char *err) {
    *bound = NULL;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        if (!plan->nodes[i].request_bound) continue;
        if (!*bound && !(*bound = calloc(plan->n_nodes, sizeof **bound))) return fmx_err(err, "out of memory");
        char *params;
        size_t len;
        if (fmx_plan_node_bind(plan, i, env, &params, &len, err) != 0) return -1;
        (*bound)[i] = (fmx_str_t){params, len};
    }
    return 0;
}

void fmx_config_bound_free(const fmx_plan_t *plan, fmx_str_t **bound) {
    if (!bound || !*bound) return;
    for (size_t i = 0; i < plan->n_nodes; i++) free((char *)(*bound)[i].ptr);
    free(*bound);
    *bound = NULL;
}

const fmx_plan_t *fmx_config_plan(fmx_config_t *self, const fmx_resolution_t *res, bool *owned, bool *cache_hit,
                                  fmx_str_t **bound, char err[FMX_ERR_LEN]) {
    *owned = false;
    *cache_hit = false;
    *bound = NULL;
    fmx_plan_env_t env = {s_overrides, s_context, (void *)res};
    int feed_index = s_feed_index(self->feeds, res->feed);
    size_t key_len = 0;
    char *key = feed_index >= 0 ? s_cache_key(self, res, feed_index, &key_len) : NULL;
    uint64_t hash = key ? XXH3_64bits(key, key_len) : 0;
    s_entry_t *slot = key ? s_slot(self, hash, key, key_len) : NULL;
    fmx_plan_t *plan;
    if (slot && slot->plan) {
        plan = slot->plan;
        free(key);
        *cache_hit = true;
        self->stats.hits++;
        /* The cached plan's request-bound params belong to its first request: bind this one's. */
        if (s_bind(plan, &env, bound, err) != 0) {
            fmx_config_bound_free(plan, bound);
            return NULL;
        }
        return plan;
    }
    self->stats.misses++;
    plan = fmx_plan_build(self->feeds, res->feed, &env, err);
    if (!plan) {
        free(key);
        return NULL;
    }
    if (slot && plan->cacheable && self->stats.entries < S_CACHE_MAX) {
        slot->hash = hash;
        slot->key = key;
        slot->key_len = key_len;
        slot->plan = plan;
        self->stats.entries++;
    } else {
        free(key);
        *owned = true;
    }
    return plan; /* freshly built for this request: its params are already bound to it */
}
