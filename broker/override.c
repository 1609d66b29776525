/* override.c - targeted, typed parameter overrides for params.yaml and experiments.yaml. */
#include "broker/override.h"

#include <stdlib.h>
#include <string.h>

/* The feeds one entry applies to when its rule targets every feed: those that declare it. */
typedef struct {
    char **feeds; /* NULL with n == 0: every feed the rule targets */
    size_t n;
} s_only_t;

struct fmx_override {
    fmx_value_t *values; /* map name -> scalar */
    s_only_t *only;      /* one per entry of values */
    size_t n_only;       /* allocated (zeroed) entries of only */
};

/* ------------------------------------------------------------------------------------------ */
/* Targets                                                                                     */

void fmx_override_feeds_fini(fmx_override_feeds_t *self) {
    if (!self) return;
    for (size_t i = 0; i < self->n; i++)
        free(self->names[i]);
    free(self->names);
    self->names = NULL;
    self->n = 0;
}

bool fmx_override_feeds_has(const fmx_override_feeds_t *self, const char *feed) {
    if (!self->names) return true;
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->names[i], feed) == 0) return true;
    return false;
}

int fmx_override_feeds_parse(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const fmx_feedset_t *feeds,
                             fmx_override_feeds_t *out) {
    out->names = NULL;
    out->n = 0;
    if (!y) return 0;
    if (y->kind == FMX_YAML_MAP || fmx_yaml_is_null(y))
        return fmx_yaml_fail_at(c, y,
                                "feeds must be a feed name or a list of feed names (leave it out for every feed)");
    size_t count = y->kind == FMX_YAML_SEQ ? y->n : 1;
    if (count == 0) return fmx_yaml_fail_at(c, y, "feeds must not be empty (leave it out for every feed)");
    out->names = calloc(count, sizeof *out->names);
    if (!out->names) return fmx_yaml_oom(c);
    for (size_t i = 0; i < count; i++) {
        const fmx_yaml_t *item = y->kind == FMX_YAML_SEQ ? y->kids[i] : y;
        char *name = fmx_yaml_name_dup(c, item, "feed name");
        if (!name) return -1;
        out->names[out->n++] = name;
        for (size_t k = 0; k + 1 < out->n; k++)
            if (strcmp(out->names[k], name) == 0) return fmx_yaml_fail_at(c, item, "feed '%s' is listed twice", name);
        if (feeds && !fmx_feedset_find(feeds, name, item->len))
            return fmx_yaml_fail_at(c, item, "unknown feed '%s'", name);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* `when:` and the context names it reads                                                      */

static int s_names_add(fmx_override_names_t *self, const fmx_expr_t *e) {
    for (size_t i = 0; i < fmx_expr_name_count(e); i++) {
        const char *name = fmx_expr_name(e, i);
        size_t k = 0;
        while (k < self->n && strcmp(self->names[k], name) != 0)
            k++;
        if (k < self->n) continue;
        const char **grown = realloc(self->names, (self->n + 1) * sizeof *grown);
        if (!grown) return -1;
        self->names = grown;
        grown[self->n++] = name;
    }
    return 0;
}

int fmx_override_when_parse(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, fmx_override_names_t *names,
                            fmx_expr_t **out) {
    if (!y) return 0;
    if (fmx_yaml_want_text(c, y, "when") != 0) return -1;
    if (!(*out = fmx_yaml_expr(c, y, y->text, "`when:`"))) return -1;
    if (s_names_add(names, *out) != 0) return fmx_yaml_oom(c);
    return 0;
}

void fmx_override_names_fini(fmx_override_names_t *self) {
    if (!self) return;
    free(self->names);
    self->names = NULL;
    self->n = 0;
}

size_t fmx_override_names_get(const fmx_override_names_t *self, const char **out, size_t max) {
    size_t n = 0;
    for (; self && n < self->n && n < max; n++)
        out[n] = self->names[n];
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Overrides                                                                                   */

void fmx_override_destroy(fmx_override_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_override_t *self = *self_p;
    for (size_t i = 0; i < self->n_only; i++) {
        for (size_t k = 0; k < self->only[i].n; k++)
            free(self->only[i].feeds[k]);
        free(self->only[i].feeds);
    }
    free(self->only);
    fmx_value_destroy(&self->values);
    free(self);
    *self_p = NULL;
}

const fmx_value_t *fmx_override_values(const fmx_override_t *self) {
    return self->values;
}

bool fmx_override_applies(const fmx_override_t *self, size_t index, const char *feed) {
    if (index >= self->values->u.map.n) return false;
    const s_only_t *only = &self->only[index];
    if (!only->feeds) return true;
    for (size_t i = 0; i < only->n; i++)
        if (strcmp(only->feeds[i], feed) == 0) return true;
    return false;
}

/* Checks v against feed's declaration of `key`; *floats stays true while every one is float. */
static int s_check(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const fmx_param_decl_t *decl, const char *feed,
                   const fmx_value_t *v, bool *floats) {
    fmx_scalar_t sv;
    char why[FMX_ERR_LEN];
    fmx_value_to_scalar(v, &sv);
    if (fmx_param_check(decl, &sv, why) != 0) return fmx_yaml_fail_at(c, y, "%s (feed '%s')", why, feed);
    if (decl->type != FMX_VAL_FLOAT) *floats = false;
    return 0;
}

/* One entry: the value, checked against every feed it applies to; fills *only. */
static fmx_value_t *s_entry(const fmx_yaml_ctx_t *c, const fmx_yaml_t *k, const fmx_yaml_t *y,
                            const fmx_feedset_t *feeds, const fmx_override_feeds_t *targets, s_only_t *only) {
    if (y->kind != FMX_YAML_SCALAR) {
        fmx_yaml_fail_at(c, y, "param '%s': override values are scalars", k->text);
        return NULL;
    }
    fmx_value_t *v = fmx_yaml_scalar(c, y);
    if (!v || !feeds) return v;
    bool floats = true;
    if (targets->names) {
        for (size_t t = 0; t < targets->n; t++) {
            const fmx_feed_t *feed = fmx_feedset_find(feeds, targets->names[t], strlen(targets->names[t]));
            const fmx_param_decl_t *decl = fmx_feed_param(feed, k->text);
            if (!decl) {
                fmx_yaml_fail_at(c, k, "param '%s' is not declared by feed '%s'", k->text, targets->names[t]);
                goto fail;
            }
            if (s_check(c, y, decl, feed->name, v, &floats) != 0) goto fail;
        }
    } else {
        size_t n_feeds = fmx_feedset_count(feeds);
        for (size_t f = 0; f < n_feeds; f++) {
            const fmx_feed_t *feed = fmx_feedset_at(feeds, f);
            const fmx_param_decl_t *decl = fmx_feed_param(feed, k->text);
            if (!decl) continue;
            if (!only->feeds && !(only->feeds = calloc(n_feeds, sizeof *only->feeds))) goto oom;
            if (!(only->feeds[only->n] = strdup(feed->name))) goto oom;
            only->n++;
            if (s_check(c, y, decl, feed->name, v, &floats) != 0) goto fail;
        }
        if (only->n == 0) {
            fmx_yaml_fail_at(c, k, "param '%s' is not declared by any feed", k->text);
            goto fail;
        }
    }
    if (floats && v->kind == FMX_VAL_INT) { /* overrides carry the declared type, like defaults */
        v->kind = FMX_VAL_FLOAT;
        v->u.f = (double)v->u.i;
    }
    return v;
oom:
    fmx_yaml_oom(c);
fail:
    fmx_value_destroy(&v);
    return NULL;
}

fmx_override_t *fmx_override_new(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const fmx_feedset_t *feeds,
                                 const fmx_override_feeds_t *targets, const char *what) {
    fmx_override_t *self = calloc(1, sizeof *self);
    if (!self || !(self->values = fmx_value_new(FMX_VAL_MAP, y ? y->line : 0, y ? y->col : 0))) goto oom;
    if (!y) return self;
    if (y->kind != FMX_YAML_MAP) {
        fmx_yaml_fail_at(c, y, "%s must be a map of param -> value", what);
        goto fail;
    }
    if (y->n && !(self->only = calloc(y->n, sizeof *self->only))) goto oom;
    self->n_only = y->n;
    for (size_t i = 0; i < y->n; i++) {
        fmx_value_t *v = s_entry(c, y->keys[i], y->kids[i], feeds, targets, &self->only[i]);
        if (!v) goto fail;
        if (fmx_value_map_put(self->values, y->keys[i]->text, v) != 0) {
            fmx_value_destroy(&v);
            goto oom;
        }
    }
    return self;
oom:
    fmx_yaml_oom(c);
fail:
    fmx_override_destroy(&self);
    return NULL;
}
