/* params.c - configs/params.yaml: dynamic parameter overrides, targeted by feed and context. */
#include "broker/params.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    const char **names; /* distinct context names the `when:`s read, borrowed from the expressions */
    size_t n_names;
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
    free(self->names);
    free(self);
    *self_p = NULL;
}

size_t fmx_params_rule_count(const fmx_params_t *self) {
    return self ? self->n : 0;
}

/* Adds the names e reads to the set of distinct names. */
static int s_add_names(const char ***names, size_t *n, const fmx_expr_t *e) {
    for (size_t i = 0; i < fmx_expr_name_count(e); i++) {
        const char *name = fmx_expr_name(e, i);
        size_t k = 0;
        while (k < *n && strcmp((*names)[k], name) != 0)
            k++;
        if (k < *n) continue;
        const char **grown = realloc(*names, (*n + 1) * sizeof *grown);
        if (!grown) return -1;
        *names = grown;
        grown[(*n)++] = name;
    }
    return 0;
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
    if (y_when) {
        if (fmx_yaml_want_text(c, y_when, "when") != 0) return -1;
        if (!(r->when = fmx_yaml_expr(c, y_when, y_when->text, "`when:`"))) return -1;
        if (s_add_names(&self->names, &self->n_names, r->when) != 0) return fmx_yaml_oom(c);
    }
    r->set = fmx_override_new(c, y_set, feeds, &r->feeds, "set");
    return r->set ? 0 : -1;
}

fmx_params_t *fmx_params_load(const char *path, const fmx_feedset_t *feeds, int optional, char err[FMX_ERR_LEN]) {
    char scratch[FMX_ERR_LEN];
    fmx_yaml_ctx_t c = {path ? path : "(null)", err ? err : scratch, NULL, NULL};
    c.err[0] = '\0';
    fmx_yaml_t *root = NULL;
    fmx_params_t *self = calloc(1, sizeof *self);
    if (!self) {
        fmx_yaml_oom(&c);
        return NULL;
    }
    if (!path && !optional) {
        fmx_err(c.err, "params: no file given");
        goto fail;
    }
    if (!path || (optional && access(path, F_OK) != 0 && errno == ENOENT)) return self; /* no rules */
    static const fmx_yaml_opts_t opts = {NULL, NULL, true};
    if (!(root = fmx_yaml_load(&c, &opts))) goto fail;
    if (fmx_yaml_is_null(root)) goto done; /* an empty file: no rules */
    if (root->kind != FMX_YAML_MAP) {
        fmx_yaml_fail_at(&c, root, "the top level must be a map with the key overrides");
        goto fail;
    }
    const fmx_yaml_t *list = NULL;
    for (size_t i = 0; i < root->n; i++) {
        if (strcmp(root->keys[i]->text, "overrides") != 0) {
            fmx_yaml_fail_at(&c, root->keys[i], "unknown key '%.64s' (allowed: overrides)", root->keys[i]->text);
            goto fail;
        }
        list = root->kids[i];
    }
    if (!list || fmx_yaml_is_null(list)) goto done;
    if (list->kind != FMX_YAML_SEQ) {
        fmx_yaml_fail_at(&c, list, "overrides must be a list of { feeds, when, set } rules");
        goto fail;
    }
    if (list->n && !(self->rules = calloc(list->n, sizeof *self->rules))) {
        fmx_yaml_oom(&c);
        goto fail;
    }
    for (size_t i = 0; i < list->n; i++) {
        self->n = i + 1;
        if (s_rule(&c, self, &self->rules[i], list->kids[i], feeds) != 0) goto fail;
    }
done:
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
    size_t n = 0;
    for (; self && n < self->n_names && n < max; n++)
        names[n] = self->names[n];
    return n;
}
