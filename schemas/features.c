/* features.c - compiled feature lists and dense rows (see features.h for the names). */
#include "schemas/features.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/mpobj.h"

typedef enum {
    S_FIELD = 1, /* f */
    S_SCORE,     /* score */
    S_USER,      /* user.f */
    S_CTX,       /* ctx.f */
    S_IN,        /* in.f.g: a is the entity's field, b the user's */
    S_LOG,       /* log.f */
} s_kind_t;

typedef struct {
    s_kind_t kind;
    const char *a, *b; /* into name; b only for S_IN */
    size_t a_len, b_len;
    char *name; /* owned, NUL-terminated */
} s_feature_t;

struct fmx_features {
    s_feature_t *v;
    size_t n;
    char *list; /* names joined with ',' */
    bool need_user;
};

void fmx_features_destroy(fmx_features_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_features_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        free(self->v[i].name);
    free(self->v);
    free(self->list);
    free(self);
    *self_p = NULL;
}

static bool s_ident_ok(const char *s, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

/* Splits f->name into kind and parts. -1 with err. */
static int s_compile(s_feature_t *f, char err[FMX_ERR_LEN]) {
    const char *name = f->name;
    size_t len = strlen(name);
    const char *dot = memchr(name, '.', len);
    if (!dot) {
        if (!s_ident_ok(name, len)) return fmx_err(err, "feature '%s': a name is [A-Za-z0-9_]+ with a prefix", name);
        f->kind = strcmp(name, "score") == 0 ? S_SCORE : S_FIELD;
        f->a = name;
        f->a_len = len;
        return 0;
    }
    size_t plen = (size_t)(dot - name);
    const char *rest = dot + 1;
    size_t rlen = len - plen - 1;
    if (plen == 2 && memcmp(name, "in", 2) == 0) {
        const char *dot2 = memchr(rest, '.', rlen);
        if (!dot2) return fmx_err(err, "feature '%s': in.FIELD.USER_FIELD needs two names", name);
        f->kind = S_IN;
        f->a = rest;
        f->a_len = (size_t)(dot2 - rest);
        f->b = dot2 + 1;
        f->b_len = rlen - f->a_len - 1;
        if (!s_ident_ok(f->a, f->a_len) || !s_ident_ok(f->b, f->b_len))
            return fmx_err(err, "feature '%s': in.FIELD.USER_FIELD takes two [A-Za-z0-9_]+ names", name);
        return 0;
    }
    if (plen == 4 && memcmp(name, "user", 4) == 0)
        f->kind = S_USER;
    else if (plen == 3 && memcmp(name, "ctx", 3) == 0)
        f->kind = S_CTX;
    else if (plen == 3 && memcmp(name, "log", 3) == 0)
        f->kind = S_LOG;
    else
        return fmx_err(err, "feature '%s': unknown prefix '%.*s' (user, ctx, in, log)", name, (int)plen, name);
    f->a = rest;
    f->a_len = rlen;
    if (!s_ident_ok(rest, rlen)) return fmx_err(err, "feature '%s': '%.*s.' takes one [A-Za-z0-9_]+ name", name,
                                                (int)plen, name);
    return 0;
}

fmx_features_t *fmx_features_new(const char *const *names, size_t n, char err[FMX_ERR_LEN]) {
    if (n == 0) {
        fmx_err(err, "no features");
        return NULL;
    }
    if (n > FMX_FEATURES_MAX) {
        fmx_err(err, "%zu features, more than %d", n, FMX_FEATURES_MAX);
        return NULL;
    }
    fmx_features_t *self = calloc(1, sizeof(*self));
    if (!self) goto oom;
    self->v = calloc(n, sizeof(*self->v));
    if (!self->v) goto oom;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = names[i] ? strlen(names[i]) : 0;
        if (len == 0 || len > FMX_FEATURE_NAME_MAX) {
            fmx_err(err, "feature %zu: a name has 1..%d bytes", i + 1, FMX_FEATURE_NAME_MAX);
            goto fail;
        }
        s_feature_t *f = &self->v[self->n];
        f->name = strdup(names[i]);
        if (!f->name) goto oom;
        self->n++;
        if (s_compile(f, err) != 0) goto fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp(self->v[j].name, f->name) == 0) {
                fmx_err(err, "feature '%s' is listed twice", f->name);
                goto fail;
            }
        if (f->kind == S_USER || f->kind == S_IN) self->need_user = true;
        total += len + 1;
    }
    self->list = malloc(total);
    if (!self->list) goto oom;
    char *p = self->list;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(self->v[i].name);
        memcpy(p, self->v[i].name, len);
        p += len;
        *p++ = i + 1 < n ? ',' : '\0';
    }
    return self;
oom:
    fmx_err(err, "out of memory");
fail:
    fmx_features_destroy(&self);
    return NULL;
}

static bool s_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

fmx_features_t *fmx_features_parse(const char *list, size_t len, char err[FMX_ERR_LEN]) {
    /* Bounded before any allocation: a model file is input. */
    if (!list || len == 0) {
        fmx_err(err, "empty feature list");
        return NULL;
    }
    if (len > (size_t)FMX_FEATURES_MAX * (FMX_FEATURE_NAME_MAX + 2)) {
        fmx_err(err, "feature list of %zu bytes is too long", len);
        return NULL;
    }
    fmx_features_t *self = NULL;
    char *copy = malloc(len + 1);
    const char **names = calloc(FMX_FEATURES_MAX, sizeof(*names));
    if (!copy || !names) {
        fmx_err(err, "out of memory");
        goto done;
    }
    memcpy(copy, list, len);
    copy[len] = '\0';
    if (memchr(copy, '\0', len)) {
        fmx_err(err, "feature list holds a NUL byte");
        goto done;
    }
    size_t n = 0;
    char *p = copy;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        while (s_blank(*p))
            p++;
        char *end = p + strlen(p);
        while (end > p && s_blank(end[-1]))
            *--end = '\0';
        if (!*p) {
            fmx_err(err, "feature list: empty name at position %zu", n + 1);
            goto done;
        }
        if (n == FMX_FEATURES_MAX) {
            fmx_err(err, "more than %d features", FMX_FEATURES_MAX);
            goto done;
        }
        names[n++] = p;
        if (!comma) break;
        p = comma + 1;
    }
    self = fmx_features_new(names, n, err);
done:
    free(names);
    free(copy);
    return self;
}

size_t fmx_features_count(const fmx_features_t *self) {
    return self ? self->n : 0;
}

const char *fmx_features_name(const fmx_features_t *self, size_t i) {
    return self && i < self->n ? self->v[i].name : NULL;
}

const char *fmx_features_list(const fmx_features_t *self) {
    return self ? self->list : NULL;
}

bool fmx_features_need_user(const fmx_features_t *self) {
    return self && self->need_user;
}

/* ---- rows ---- */

static double s_number(const msgpack_object *o) {
    if (!o) return NAN;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)o->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return o->via.f64;
    case MSGPACK_OBJECT_BOOLEAN: return o->via.boolean ? 1.0 : 0.0;
    default: return NAN;
    }
}

static float s_float(double v) {
    if (isnan(v)) return NAN;
    if (v > FLT_MAX) return FLT_MAX;
    if (v < -FLT_MAX) return -FLT_MAX;
    return (float)v;
}

static bool s_str_is(const msgpack_object *o, const msgpack_object *s) {
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == s->via.str.size &&
           memcmp(o->via.str.ptr, s->via.str.ptr, s->via.str.size) == 0;
}

static double s_in(const s_feature_t *f, const fmx_entity_t *e, const msgpack_object *user) {
    if (!user || user->type != MSGPACK_OBJECT_MAP) return NAN;
    const msgpack_object *v = fmx_entity_field(e, f->a, f->a_len);
    if (!v || v->type != MSGPACK_OBJECT_STR) return 0;
    const msgpack_object *u = fmx_mp_map_getn(user, f->b, f->b_len);
    if (!u) return 0;
    if (u->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < u->via.array.size; i++)
            if (s_str_is(&u->via.array.ptr[i], v)) return 1;
        return 0;
    }
    return s_str_is(u, v) ? 1 : 0;
}

void fmx_features_row(const fmx_features_t *self, const fmx_entity_t *e, const msgpack_object *user,
                      const msgpack_object *ctx, float *row) {
    for (size_t i = 0; i < self->n; i++) {
        const s_feature_t *f = &self->v[i];
        double v;
        switch (f->kind) {
        case S_FIELD: v = s_number(fmx_entity_field(e, f->a, f->a_len)); break;
        case S_SCORE: v = e->has_score ? e->score : NAN; break;
        case S_USER: v = s_number(fmx_mp_map_getn(user, f->a, f->a_len)); break;
        case S_CTX: v = s_number(fmx_mp_map_getn(ctx, f->a, f->a_len)); break;
        case S_IN: v = s_in(f, e, user); break;
        case S_LOG:
            v = s_number(fmx_entity_field(e, f->a, f->a_len));
            if (!isnan(v)) v = log1p(v > 0 ? v : 0);
            break;
        default: v = NAN; break;
        }
        row[i] = s_float(v);
    }
}
