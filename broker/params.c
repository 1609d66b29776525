/* params.c - configs/params.yaml: dynamic parameter overrides, targeted by feed and context. */
#include "broker/params.h"

#include <stdlib.h>
#include <string.h>

#include "broker/override.h"
#include "broker/yaml.h"
#include "common/expr.h"

typedef struct {
    fmx_override_feeds_t feeds;
    fmx_expr_t *when; /* NULL: always */
    fmx_override_t *set;
} s_rule_t;

struct fmx_params {
    s_rule_t *rules;
    size_t n;
    fmx_override_names_t names; /* the context names the `when:`s read */
};

static const char s_rule_keys[] = "feeds, when, set";

void fmx_params_destroy(fmx_params_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_params_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        fmx_override_feeds_fini(&self->rules[i].feeds);
        fmx_expr_destroy(&self->rules[i].when);
        fmx_override_destroy(&self->rules[i].set);
    }
    free(self->rules);
    fmx_override_names_fini(&self->names);
    free(self);
    *self_p = NULL;
}

size_t fmx_params_rule_count(const fmx_params_t *self) {
    return self ? self->n : 0;
}

static int s_rule(const fmx_yaml_ctx_t *c, fmx_params_t *self, s_rule_t *r, const fmx_yaml_t *y,
                  const fmx_feedset_t *feeds) {
    if (y->kind != FMX_YAML_MAP) return fmx_yaml_fail_at(c, y, "an override must be a map of %s", s_rule_keys);
    const fmx_yaml_t *y_feeds = NULL, *y_when = NULL, *y_set = NULL;
    for (size_t i = 0; i < y->n; i++) {
        const char *k = y->keys[i]->text;
        if (!strcmp(k, "feeds"))
            y_feeds = y->kids[i];
        else if (!strcmp(k, "when"))
            y_when = y->kids[i];
        else if (!strcmp(k, "set"))
            y_set = y->kids[i];
        else
            return fmx_yaml_fail_at(c, y->keys[i], "unknown key '%.64s' (allowed: %s)", k, s_rule_keys);
    }
    if (!y_set) return fmx_yaml_fail_at(c, y, "an override needs `set:` (a map of param -> value)");
    if (y_set->kind != FMX_YAML_MAP || y_set->n == 0)
        return fmx_yaml_fail_at(c, y_set, "set must be a non-empty map of param -> value");
    if (fmx_override_feeds_parse(c, y_feeds, feeds, &r->feeds) != 0) return -1;
    if (fmx_override_when_parse(c, y_when, &self->names, &r->when) != 0) return -1;
    r->set = fmx_override_new(c, y_set, feeds, &r->feeds, "set");
    return r->set ? 0 : -1;
}

fmx_params_t *fmx_params_load(const char *path, const fmx_feedset_t *feeds, int optional, char err[FMX_ERR_LEN]) {
    char scratch[FMX_ERR_LEN];
    fmx_yaml_ctx_t c = {path ? path : "(null)", err ? err : scratch, NULL, NULL};
    c.err[0] = '\0';
    fmx_yaml_t *root = NULL;
    const fmx_yaml_t *list = NULL;
    fmx_params_t *self = calloc(1, sizeof *self);
    if (!self) {
        fmx_yaml_oom(&c);
        return NULL;
    }
    if (!path && !optional) {
        fmx_err(c.err, "params: no file given");
        goto fail;
    }
    if (path &&
        fmx_yaml_load_list(&c, optional, "overrides", "a list of { feeds, when, set } rules", &root, &list) != 0)
        goto fail;
    if (list && list->n && !(self->rules = calloc(list->n, sizeof *self->rules))) {
        fmx_yaml_oom(&c);
        goto fail;
    }
    for (size_t i = 0; list && i < list->n; i++) {
        self->n = i + 1;
        if (s_rule(&c, self, &self->rules[i], list->kids[i], feeds) != 0) goto fail;
    }
    fmx_yaml_destroy(&root);
    return self;
fail:
    fmx_yaml_destroy(&root);
    fmx_params_destroy(&self);
    return NULL;
}

size_t fmx_params_apply(const fmx_params_t *self, const char *feed, fmx_lookup_fn context, void *context_arg,
                        fmx_param_set_fn set, void *set_arg) {
    size_t applied = 0;
    if (!self || !feed) return 0;
    for (size_t i = 0; i < self->n; i++) {
        const s_rule_t *r = &self->rules[i];
        if (!fmx_override_feeds_has(&r->feeds, feed)) continue;
        if (r->when && !fmx_expr_test(r->when, context, context_arg)) continue;
        const fmx_value_t *values = fmx_override_values(r->set);
        bool any = false;
        for (size_t k = 0; k < values->u.map.n; k++) {
            if (!fmx_override_applies(r->set, k, feed)) continue;
            set(set_arg, values->u.map.keys[k], values->u.map.vals[k]);
            any = true;
        }
        applied += any;
    }
    return applied;
}

size_t fmx_params_context_names(const fmx_params_t *self, const char **names, size_t max) {
    return fmx_override_names_get(self ? &self->names : NULL, names, max);
}
