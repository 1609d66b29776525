/* experiments.c - configs/experiments.yaml: layered A/B experiments with stable assignment.
 *
 * Bucket ranges are integers fixed at load, so assignment is two hashes and a few compares:
 * an experiment owns layer buckets [lo, hi) (traffic in hundredths of a percent, consecutive in
 * file order within its layer), a variant owns variant buckets [previous end, end) sized by
 * its share of the weights. */
#include "broker/experiments.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack: no allocation per request */
#include <xxhash.h>

#include "broker/override.h"
#include "broker/yaml.h"
#include "common/expr.h"

typedef struct {
    char *name;
    fmx_override_t *params;
    uint32_t end; /* variant buckets [previous variant's end, end) */
    int line, col;
} s_variant_t;

typedef struct {
    char *name;
    char *salt;
    char *layer;
    fmx_override_feeds_t feeds;
    fmx_expr_t *when; /* NULL: always */
    double traffic;   /* percent, as written */
    uint32_t lo, hi;  /* layer buckets [lo, hi) */
    s_variant_t *variants;
    size_t n_variants;
    int line, col;           /* the name */
    int salt_line, salt_col; /* the salt, or the name when it defaults */
    int traffic_line, traffic_col;
} s_exp_t;

struct fmx_experiments {
    s_exp_t *exps;
    size_t n;
    fmx_override_names_t names; /* the context names the `when:`s read */
};

static const char s_exp_keys[] = "name, salt, layer, feeds, traffic, when, variants";
static const char s_variant_keys[] = "name, weight, params";

uint32_t fmx_experiments_bucket(const char *key, fmx_str_t user_id) {
    XXH64_state_t st;
    XXH64_reset(&st, 0);
    if (key) XXH64_update(&st, key, strlen(key));
    XXH64_update(&st, ":", 1);
    if (user_id.ptr && user_id.len) XXH64_update(&st, user_id.ptr, user_id.len);
    return (uint32_t)(XXH64_digest(&st) % FMX_BUCKETS);
}

static void s_exp_fini(s_exp_t *e) {
    free(e->name);
    free(e->salt);
    free(e->layer);
    fmx_override_feeds_fini(&e->feeds);
    fmx_expr_destroy(&e->when);
    for (size_t i = 0; e->variants && i < e->n_variants; i++) {
        free(e->variants[i].name);
        fmx_override_destroy(&e->variants[i].params);
    }
    free(e->variants);
}

void fmx_experiments_destroy(fmx_experiments_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_experiments_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        s_exp_fini(&self->exps[i]);
    free(self->exps);
    fmx_override_names_fini(&self->names);
    free(self);
    *self_p = NULL;
}

size_t fmx_experiments_count(const fmx_experiments_t *self) {
    return self ? self->n : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading                                                                                     */

/* A finite number from a plain scalar; -1 with c->err naming `what`. */
static int s_number(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const char *what, double *out) {
    fmx_value_t *v = y->kind == FMX_YAML_SCALAR ? fmx_yaml_scalar(c, y) : NULL;
    if (!v && y->kind == FMX_YAML_SCALAR) return -1;
    int rc = 0;
    if (v && v->kind == FMX_VAL_INT)
        *out = (double)v->u.i;
    else if (v && v->kind == FMX_VAL_FLOAT)
        *out = v->u.f;
    else
        rc = fmx_yaml_fail_at(c, y, "%s must be a number", what);
    fmx_value_destroy(&v);
    return rc;
}

static int s_variants(const fmx_yaml_ctx_t *c, s_exp_t *e, const fmx_yaml_t *y, const fmx_feedset_t *feeds) {
    if (y->kind != FMX_YAML_SEQ || y->n == 0)
        return fmx_yaml_fail_at(c, y, "variants must be a non-empty list of { name, weight, params }");
    if (!(e->variants = calloc(y->n, sizeof *e->variants))) return fmx_yaml_oom(c);
    double *weights = malloc(y->n * sizeof *weights);
    if (!weights) return fmx_yaml_oom(c);
    const fmx_yaml_t **weight_at = malloc(y->n * sizeof *weight_at);
    int rc = -1;
    if (!weight_at) {
        fmx_yaml_oom(c);
        goto out;
    }
    double total = 0;
    for (size_t i = 0; i < y->n; i++) {
        s_variant_t *v = &e->variants[i];
        const fmx_yaml_t *item = y->kids[i];
        e->n_variants = i + 1;
        v->line = item->line;
        v->col = item->col;
        if (item->kind != FMX_YAML_MAP) {
            fmx_yaml_fail_at(c, item, "a variant must be a map of %s", s_variant_keys);
            goto out;
        }
        const fmx_yaml_t *y_name = NULL, *y_weight = NULL, *y_params = NULL;
        for (size_t k = 0; k < item->n; k++) {
            const char *t = item->keys[k]->text;
            if (!strcmp(t, "name"))
                y_name = item->kids[k];
            else if (!strcmp(t, "weight"))
                y_weight = item->kids[k];
            else if (!strcmp(t, "params"))
                y_params = item->kids[k];
            else {
                fmx_yaml_fail_at(c, item->keys[k], "variant: unknown key '%.64s' (allowed: %s)", t, s_variant_keys);
                goto out;
            }
        }
        if (!y_name || !y_weight) {
            fmx_yaml_fail_at(c, item, "a variant needs `%s`", !y_name ? "name" : "weight");
            goto out;
        }
        if (!(v->name = fmx_yaml_name_dup(c, y_name, "variant name"))) goto out;
        for (size_t k = 0; k < i; k++)
            if (strcmp(e->variants[k].name, v->name) == 0) {
                fmx_yaml_fail_at(c, y_name, "duplicate variant '%s' (first at line %d)", v->name, e->variants[k].line);
                goto out;
            }
        if (s_number(c, y_weight, "weight", &weights[i]) != 0) goto out;
        if (!(weights[i] > 0) || !isfinite(weights[i])) {
            fmx_yaml_fail_at(c, y_weight, "variant '%s': weight must be a number above 0", v->name);
            goto out;
        }
        weight_at[i] = y_weight;
        total += weights[i];
        if (y_params && fmx_yaml_is_null(y_params)) y_params = NULL;
        if (!(v->params = fmx_override_new(c, y_params, feeds, &e->feeds, "params"))) goto out;
    }
    if (!isfinite(total)) {
        fmx_yaml_fail_at(c, y, "the variants' weights add up to more than a double holds");
        goto out;
    }
    /* Cumulative bounds, rounded once each, so the shares add up to exactly FMX_BUCKETS. */
    double cum = 0;
    uint32_t prev = 0;
    for (size_t i = 0; i < e->n_variants; i++) {
        cum += weights[i];
        uint32_t end = i + 1 == e->n_variants ? FMX_BUCKETS : (uint32_t)llround(cum / total * FMX_BUCKETS);
        if (end > FMX_BUCKETS) end = FMX_BUCKETS;
        if (end <= prev) {
            fmx_yaml_fail_at(c, weight_at[i], "variant '%s': weight %g is too small to get any of the %d buckets",
                             e->variants[i].name, weights[i], FMX_BUCKETS);
            goto out;
        }
        e->variants[i].end = end;
        prev = end;
    }
    rc = 0;
out:
    free(weights);
    free(weight_at);
    return rc;
}

static int s_experiment(fmx_yaml_ctx_t *c, fmx_experiments_t *self, s_exp_t *e, const fmx_yaml_t *y,
                        const fmx_feedset_t *feeds) {
    if (y->kind != FMX_YAML_MAP) return fmx_yaml_fail_at(c, y, "an experiment must be a map of %s", s_exp_keys);
    const fmx_yaml_t *y_name = NULL, *y_salt = NULL, *y_layer = NULL, *y_feeds = NULL, *y_traffic = NULL,
                     *y_when = NULL, *y_variants = NULL, *k_unknown = NULL;
    for (size_t i = 0; i < y->n; i++) {
        const char *k = y->keys[i]->text;
        const fmx_yaml_t *v = y->kids[i];
        if (!strcmp(k, "name"))
            y_name = v;
        else if (!strcmp(k, "salt"))
            y_salt = v;
        else if (!strcmp(k, "layer"))
            y_layer = v;
        else if (!strcmp(k, "feeds"))
            y_feeds = v;
        else if (!strcmp(k, "traffic"))
            y_traffic = v;
        else if (!strcmp(k, "when"))
            y_when = v;
        else if (!strcmp(k, "variants"))
            y_variants = v;
        else if (!k_unknown)
            k_unknown = y->keys[i]; /* reported once the name is known */
    }
    if (!y_name) return fmx_yaml_fail_at(c, y, "an experiment needs `name`");
    if (!(e->name = fmx_yaml_name_dup(c, y_name, "experiment name"))) return -1;
    e->line = y_name->line;
    e->col = y_name->col;
    for (size_t k = 0; self->exps + k < e; k++)
        if (strcmp(self->exps[k].name, e->name) == 0)
            return fmx_yaml_fail_at(c, y_name, "duplicate experiment '%s' (first at line %d)", e->name,
                                    self->exps[k].line);
    c->kind = "experiment";
    c->name = e->name; /* later messages name the experiment */
    if (k_unknown)
        return fmx_yaml_fail_at(c, k_unknown, "unknown key '%.64s' (allowed: %s)", k_unknown->text, s_exp_keys);
    const char *missing = !y_layer ? "layer" : !y_traffic ? "traffic" : !y_variants ? "variants" : NULL;
    if (missing) return fmx_yaml_fail_at(c, y, "missing required key '%s'", missing);
    if (!(e->layer = fmx_yaml_name_dup(c, y_layer, "layer"))) return -1;
    const fmx_yaml_t *salt_at = y_salt ? y_salt : y_name;
    if (y_salt && fmx_yaml_want_text(c, y_salt, "salt") != 0) return -1;
    if (!(e->salt = strdup(salt_at->text))) return fmx_yaml_oom(c);
    e->salt_line = salt_at->line;
    e->salt_col = salt_at->col;
    if (s_number(c, y_traffic, "traffic", &e->traffic) != 0) return -1;
    if (!(e->traffic >= 0 && e->traffic <= 100))
        return fmx_yaml_fail_at(c, y_traffic, "traffic must be a percentage from 0 to 100");
    e->traffic_line = y_traffic->line;
    e->traffic_col = y_traffic->col;
    if (fmx_override_feeds_parse(c, y_feeds, feeds, &e->feeds) != 0) return -1;
    if (fmx_override_when_parse(c, y_when, &self->names, &e->when) != 0) return -1;
    return s_variants(c, e, y_variants, feeds);
}

/* Layer ranges in file order, and the salts: two experiments with one salt, or a salt that is
 * also a layer name, would draw correlated buckets across layers. */
static int s_layers(fmx_yaml_ctx_t *c, fmx_experiments_t *self) {
    for (size_t i = 0; i < self->n; i++) {
        s_exp_t *e = &self->exps[i];
        c->kind = "experiment";
        c->name = e->name;
        uint32_t start = 0;
        double pct = 0;
        for (size_t k = 0; k < i; k++)
            if (strcmp(self->exps[k].layer, e->layer) == 0) {
                start = self->exps[k].hi;
                pct += self->exps[k].traffic;
            }
        uint32_t size = (uint32_t)llround(e->traffic * (FMX_BUCKETS / 100));
        if (start + size > FMX_BUCKETS)
            return fmx_yaml_fail(
                c, e->traffic_line, e->traffic_col,
                "layer '%s' is over-subscribed: its experiments' traffic adds up to %.15g%% (at most 100)", e->layer,
                pct + e->traffic);
        e->lo = start;
        e->hi = start + size;
        for (size_t k = 0; k < self->n; k++) {
            const s_exp_t *o = &self->exps[k];
            if (strcmp(o->layer, e->salt) == 0)
                return fmx_yaml_fail(c, e->salt_line, e->salt_col,
                                     "salt '%s' is also a layer name: the variant split would follow the layer split "
                                     "(set another `salt:`)",
                                     e->salt);
            if (k < i && strcmp(o->salt, e->salt) == 0)
                return fmx_yaml_fail(c, e->salt_line, e->salt_col,
                                     "salt '%s' is already used by experiment '%s' (set another `salt:`)", e->salt,
                                     o->name);
        }
    }
    return 0;
}

fmx_experiments_t *fmx_experiments_load(const char *path, const fmx_feedset_t *feeds, int optional,
                                        char err[FMX_ERR_LEN]) {
    char scratch[FMX_ERR_LEN];
    fmx_yaml_ctx_t c = {path ? path : "(null)", err ? err : scratch, NULL, NULL};
    c.err[0] = '\0';
    fmx_yaml_t *root = NULL;
    const fmx_yaml_t *list = NULL;
    fmx_experiments_t *self = calloc(1, sizeof *self);
    if (!self) {
        fmx_yaml_oom(&c);
        return NULL;
    }
    if (!path && !optional) {
        fmx_err(c.err, "experiments: no file given");
        goto fail;
    }
    if (path && fmx_yaml_load_list(&c, optional, "experiments", "a list of experiments", &root, &list) != 0) goto fail;
    if (list && list->n && !(self->exps = calloc(list->n, sizeof *self->exps))) {
        fmx_yaml_oom(&c);
        goto fail;
    }
    for (size_t i = 0; list && i < list->n; i++) {
        self->n = i + 1;
        c.kind = c.name = NULL;
        if (s_experiment(&c, self, &self->exps[i], list->kids[i], feeds) != 0) goto fail;
    }
    if (s_layers(&c, self) != 0) goto fail;
    fmx_yaml_destroy(&root);
    return self;
fail:
    fmx_yaml_destroy(&root);
    fmx_experiments_destroy(&self);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Assignment                                                                                  */

size_t fmx_experiments_assign(const fmx_experiments_t *self, const char *feed, fmx_str_t user_id, fmx_lookup_fn context,
                              void *context_arg, fmx_assignment_t *out, size_t max) {
    size_t n = 0;
    if (!self || !feed) return 0;
    for (size_t i = 0; i < self->n && n < max; i++) {
        const s_exp_t *e = &self->exps[i];
        if (e->lo == e->hi || !fmx_override_feeds_has(&e->feeds, feed)) continue;
        uint32_t b = fmx_experiments_bucket(e->layer, user_id);
        if (b < e->lo || b >= e->hi) continue;
        /* A user in this range whose request the experiment does not target stays out of the
         * layer: re-assigning them to a sibling would skew the sibling's population. */
        if (e->when && !fmx_expr_test(e->when, context, context_arg)) continue;
        uint32_t vb = fmx_experiments_bucket(e->salt, user_id);
        size_t v = 0;
        while (vb >= e->variants[v].end)
            v++; /* the last end is FMX_BUCKETS: always stops */
        assert(v < e->n_variants);
        out[n++] = (fmx_assignment_t){e->name, e->variants[v].name, fmx_override_values(e->variants[v].params)};
    }
    return n;
}

size_t fmx_experiments_context_names(const fmx_experiments_t *self, const char **names, size_t max) {
    return fmx_override_names_get(self ? &self->names : NULL, names, max);
}
