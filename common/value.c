/* value.c - the typed config tree: construction, cloning, lookup, templates and msgpack packing.
 *
 * Template syntax: `{name}` with name [A-Za-z_][A-Za-z0-9_.]*; `{{` and `}}` are literal braces;
 * any other brace is malformed. */
#include "common/value.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Longest string an interpolated template may expand to: a template is a key or a model name,
 * never a document, so a bigger result means a runaway parameter. */
#define S_TPL_MAX 4096

/* Containers keep no capacity field: it is implied by n (0, then 4, 8, 16, ...). */
static int s_grow(void **items, size_t n, size_t size) {
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0)) return 0;
    size_t cap = n ? n * 2 : 4;
    if (cap > SIZE_MAX / size) return -1;
    void *p = realloc(*items, cap * size);
    if (!p) return -1;
    *items = p;
    return 0;
}

fmx_value_t *fmx_value_new(fmx_value_kind_t kind, int line, int col) {
    fmx_value_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->kind = kind;
    self->line = line;
    self->col = col;
    if (kind == FMX_VAL_STR) {
        self->u.s.ptr = calloc(1, 1); /* strings are never NULL */
        if (!self->u.s.ptr) goto fail;
    }
    return self;
fail:
    fmx_value_destroy(&self);
    return NULL;
}

fmx_value_t *fmx_value_new_str(const char *s, size_t len, int line, int col) {
    if (len == SIZE_MAX) return NULL;
    fmx_value_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->kind = FMX_VAL_STR;
    self->line = line;
    self->col = col;
    self->u.s.ptr = malloc(len + 1);
    if (!self->u.s.ptr) goto fail;
    if (len) memcpy(self->u.s.ptr, s, len);
    self->u.s.ptr[len] = '\0';
    self->u.s.len = len;
    return self;
fail:
    fmx_value_destroy(&self);
    return NULL;
}

/* On failure the item stays with the caller (like a failed zmq_msg_send). */
int fmx_value_array_push(fmx_value_t *arr, fmx_value_t *item) {
    assert(arr && arr->kind == FMX_VAL_ARRAY && item);
    if (!arr || arr->kind != FMX_VAL_ARRAY || !item) return -1;
    if (s_grow((void **)&arr->u.arr.items, arr->u.arr.n, sizeof *arr->u.arr.items) != 0) return -1;
    arr->u.arr.items[arr->u.arr.n++] = item;
    return 0;
}

/* Appends without looking for an existing key (the loader rejects duplicates before it gets
 * here, and a scan would make building a map quadratic). On failure val stays with the caller. */
int fmx_value_map_put(fmx_value_t *map, const char *key, fmx_value_t *val) {
    assert(map && map->kind == FMX_VAL_MAP && key && val);
    if (!map || map->kind != FMX_VAL_MAP || !key || !val) return -1;
    size_t n = map->u.map.n;
    if (s_grow((void **)&map->u.map.keys, n, sizeof *map->u.map.keys) != 0) return -1;
    if (s_grow((void **)&map->u.map.vals, n, sizeof *map->u.map.vals) != 0) return -1;
    char *k = strdup(key);
    if (!k) return -1;
    map->u.map.keys[n] = k;
    map->u.map.vals[n] = val;
    map->u.map.n = n + 1;
    return 0;
}

void fmx_value_destroy(fmx_value_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_value_t *self = *self_p;
    switch (self->kind) {
    case FMX_VAL_STR: free(self->u.s.ptr); break;
    case FMX_VAL_ARRAY:
        for (size_t i = 0; i < self->u.arr.n; i++) fmx_value_destroy(&self->u.arr.items[i]);
        free(self->u.arr.items);
        break;
    case FMX_VAL_MAP:
        for (size_t i = 0; i < self->u.map.n; i++) {
            free(self->u.map.keys[i]);
            fmx_value_destroy(&self->u.map.vals[i]);
        }
        free(self->u.map.keys);
        free(self->u.map.vals);
        break;
    default: break;
    }
    free(self);
    *self_p = NULL;
}

fmx_value_t *fmx_value_clone(const fmx_value_t *v) {
    if (!v) return NULL;
    if (v->kind == FMX_VAL_STR) return fmx_value_new_str(v->u.s.ptr, v->u.s.len, v->line, v->col);
    fmx_value_t *self = fmx_value_new(v->kind, v->line, v->col);
    if (!self) return NULL;
    switch (v->kind) {
    case FMX_VAL_BOOL: self->u.b = v->u.b; break;
    case FMX_VAL_INT: self->u.i = v->u.i; break;
    case FMX_VAL_FLOAT: self->u.f = v->u.f; break;
    case FMX_VAL_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++) {
            fmx_value_t *item = fmx_value_clone(v->u.arr.items[i]);
            if (!item) goto fail;
            if (fmx_value_array_push(self, item) != 0) {
                fmx_value_destroy(&item);
                goto fail;
            }
        }
        break;
    case FMX_VAL_MAP:
        for (size_t i = 0; i < v->u.map.n; i++) {
            fmx_value_t *val = fmx_value_clone(v->u.map.vals[i]);
            if (!val) goto fail;
            if (fmx_value_map_put(self, v->u.map.keys[i], val) != 0) {
                fmx_value_destroy(&val);
                goto fail;
            }
        }
        break;
    default: break;
    }
    return self;
fail:
    fmx_value_destroy(&self);
    return NULL;
}

const fmx_value_t *fmx_value_map_get(const fmx_value_t *map, const char *key) {
    if (!map || map->kind != FMX_VAL_MAP || !key) return NULL;
    for (size_t i = 0; i < map->u.map.n; i++)
        if (strcmp(map->u.map.keys[i], key) == 0) return map->u.map.vals[i];
    return NULL;
}

int fmx_value_to_scalar(const fmx_value_t *v, fmx_scalar_t *out) {
    out->kind = FMX_SCALAR_NULL;
    if (!v) return -1;
    switch (v->kind) {
    case FMX_VAL_NULL: return 0;
    case FMX_VAL_BOOL: out->kind = FMX_SCALAR_BOOL; out->u.b = v->u.b; return 0;
    case FMX_VAL_INT: out->kind = FMX_SCALAR_INT; out->u.i = v->u.i; return 0;
    case FMX_VAL_FLOAT: out->kind = FMX_SCALAR_FLOAT; out->u.f = v->u.f; return 0;
    case FMX_VAL_STR:
        out->kind = FMX_SCALAR_STR;
        out->u.s.ptr = v->u.s.ptr;
        out->u.s.len = v->u.s.len;
        return 0;
    default: return -1;
    }
}

const char *fmx_value_kind_name(fmx_value_kind_t kind) {
    switch (kind) {
    case FMX_VAL_NULL: return "null";
    case FMX_VAL_BOOL: return "bool";
    case FMX_VAL_INT: return "int";
    case FMX_VAL_FLOAT: return "float";
    case FMX_VAL_STR: return "str";
    case FMX_VAL_ARRAY: return "list";
    case FMX_VAL_MAP: return "map";
    }
    return "?";
}

/* ---- template scanning ---- */

typedef enum { S_TOK_END, S_TOK_TEXT, S_TOK_NAME, S_TOK_ERROR } s_tok_kind_t;

typedef struct {
    s_tok_kind_t kind;
    const char *ptr; /* TEXT: literal bytes (an escaped brace is one byte); NAME: the name */
    size_t len;
    const char *why; /* ERROR */
} s_tok_t;

static bool s_name_start(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool s_name_char(char c) {
    return s_name_start(c) || (c >= '0' && c <= '9') || c == '.';
}

/* Next token of s from *pos. Text runs stop before any brace. */
static s_tok_t s_tok_next(const char *s, size_t len, size_t *pos) {
    s_tok_t t = {S_TOK_END, NULL, 0, NULL};
    size_t i = *pos;
    if (i >= len) return t;
    if (s[i] == '{' || s[i] == '}') {
        char brace = s[i];
        if (i + 1 < len && s[i + 1] == brace) {
            t.kind = S_TOK_TEXT;
            t.ptr = s + i;
            t.len = 1;
            *pos = i + 2;
            return t;
        }
        t.kind = S_TOK_ERROR;
        if (brace == '}') {
            t.why = "unmatched '}' (write '}}' for a literal brace)";
            return t;
        }
        size_t start = i + 1, j = start;
        while (j < len && s_name_char(s[j])) j++;
        if (j >= len) t.why = "unclosed '{' (write '{{' for a literal brace)";
        else if (s[j] != '}') t.why = "bad character in placeholder: names are [A-Za-z_][A-Za-z0-9_.]*";
        else if (j == start) t.why = "empty placeholder '{}'";
        else if (!s_name_start(s[start])) t.why = "placeholder name must start with a letter or '_'";
        else {
            t.kind = S_TOK_NAME;
            t.ptr = s + start;
            t.len = j - start;
            t.why = NULL;
            *pos = j + 1;
        }
        return t;
    }
    size_t j = i;
    while (j < len && s[j] != '{' && s[j] != '}') j++;
    t.kind = S_TOK_TEXT;
    t.ptr = s + i;
    t.len = j - i;
    *pos = j;
    return t;
}

int fmx_value_template_check(const char *s, size_t len, bool *whole, char err[FMX_ERR_LEN]) {
    if (whole) *whole = false;
    int names = 0;
    size_t pos = 0;
    for (;;) {
        size_t before = pos;
        s_tok_t t = s_tok_next(s, len, &pos);
        if (t.kind == S_TOK_END) break;
        if (t.kind == S_TOK_ERROR) return fmx_err(err, "%s", t.why);
        if (t.kind == S_TOK_NAME) {
            if (names < INT32_MAX) names++;
            if (whole && before == 0 && pos == len) *whole = true; /* "{a}", not "x{a}" or "{a}{b}" */
        }
    }
    return names;
}

static int s_each(const fmx_value_t *v, fmx_value_name_fn fn, void *arg, char *err) {
    switch (v->kind) {
    case FMX_VAL_STR: {
        size_t pos = 0;
        for (;;) {
            s_tok_t t = s_tok_next(v->u.s.ptr, v->u.s.len, &pos);
            if (t.kind == S_TOK_END) return 0;
            if (t.kind == S_TOK_ERROR) return fmx_err(err, "%d:%d: malformed template: %s", v->line, v->col, t.why);
            if (t.kind == S_TOK_NAME) {
                int rc = fn(arg, v, t.ptr, t.len);
                if (rc != 0) return rc;
            }
        }
    }
    case FMX_VAL_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++) {
            int rc = s_each(v->u.arr.items[i], fn, arg, err);
            if (rc != 0) return rc;
        }
        return 0;
    case FMX_VAL_MAP:
        for (size_t i = 0; i < v->u.map.n; i++) {
            int rc = s_each(v->u.map.vals[i], fn, arg, err);
            if (rc != 0) return rc;
        }
        return 0;
    default: return 0;
    }
}

int fmx_value_each_template(const fmx_value_t *v, fmx_value_name_fn fn, void *arg, char err[FMX_ERR_LEN]) {
    if (!v) return 0;
    assert(fn);
    return s_each(v, fn, arg, err);
}

/* ---- packing ---- */

static int s_pack_raw_str(msgpack_packer *pk, const char *s, size_t len) {
    if (len > UINT32_MAX) return -1;
    if (msgpack_pack_str(pk, len) != 0) return -1;
    return msgpack_pack_str_body(pk, s, len);
}

static int s_oom(char *err) {
    return fmx_err(err, "out of memory packing a value");
}

static int s_unknown(const fmx_value_t *v, const s_tok_t *t, char *err) {
    int n = t->len > 128 ? 128 : (int)t->len;
    if (v->line > 0) return fmx_err(err, "%d:%d: unknown template variable '%.*s'", v->line, v->col, n, t->ptr);
    return fmx_err(err, "unknown template variable '%.*s'", n, t->ptr);
}

static int s_pack_template(const fmx_value_t *v, msgpack_packer *pk, fmx_lookup_fn lookup, void *arg, char *err) {
    const char *s = v->u.s.ptr;
    size_t len = v->u.s.len;
    if (!memchr(s, '{', len) && !memchr(s, '}', len)) return s_pack_raw_str(pk, s, len) == 0 ? 0 : s_oom(err);
    char check[FMX_ERR_LEN];
    bool whole = false;
    if (fmx_value_template_check(s, len, &whole, check) < 0) {
        if (v->line > 0) return fmx_err(err, "%d:%d: malformed template: %s", v->line, v->col, check);
        return fmx_err(err, "malformed template: %s", check);
    }
    fmx_scalar_t sc;
    size_t pos = 0;
    if (whole) {
        s_tok_t t = s_tok_next(s, len, &pos);
        if (lookup(arg, t.ptr, t.len, &sc) != 0) return s_unknown(v, &t, err);
        return fmx_scalar_pack(pk, &sc) == 0 ? 0 : s_oom(err);
    }
    char buf[S_TPL_MAX + 1];
    size_t used = 0;
    for (;;) {
        s_tok_t t = s_tok_next(s, len, &pos);
        if (t.kind == S_TOK_END) break;
        if (t.kind == S_TOK_TEXT) {
            if (t.len > S_TPL_MAX - used) goto too_long;
            memcpy(buf + used, t.ptr, t.len);
            used += t.len;
        } else { /* NAME: errors were ruled out by the check above */
            if (lookup(arg, t.ptr, t.len, &sc) != 0) return s_unknown(v, &t, err);
            int n = fmx_scalar_format(&sc, buf + used, sizeof buf - used);
            if (n < 0) goto too_long;
            used += (size_t)n;
        }
    }
    return s_pack_raw_str(pk, buf, used) == 0 ? 0 : s_oom(err);
too_long:
    if (v->line > 0)
        return fmx_err(err, "%d:%d: template expands to more than %d bytes", v->line, v->col, S_TPL_MAX);
    return fmx_err(err, "template expands to more than %d bytes", S_TPL_MAX);
}

int fmx_value_pack(const fmx_value_t *v, msgpack_packer *pk, fmx_lookup_fn lookup, void *arg, char err[FMX_ERR_LEN]) {
    switch (v->kind) {
    case FMX_VAL_NULL: return msgpack_pack_nil(pk) == 0 ? 0 : s_oom(err);
    case FMX_VAL_BOOL: return (v->u.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) == 0 ? 0 : s_oom(err);
    case FMX_VAL_INT: return msgpack_pack_int64(pk, v->u.i) == 0 ? 0 : s_oom(err);
    case FMX_VAL_FLOAT: return msgpack_pack_double(pk, v->u.f) == 0 ? 0 : s_oom(err);
    case FMX_VAL_STR:
        if (lookup) return s_pack_template(v, pk, lookup, arg, err);
        return s_pack_raw_str(pk, v->u.s.ptr, v->u.s.len) == 0 ? 0 : s_oom(err);
    case FMX_VAL_ARRAY:
        if (v->u.arr.n > UINT32_MAX || msgpack_pack_array(pk, v->u.arr.n) != 0) return s_oom(err);
        for (size_t i = 0; i < v->u.arr.n; i++)
            if (fmx_value_pack(v->u.arr.items[i], pk, lookup, arg, err) != 0) return -1;
        return 0;
    case FMX_VAL_MAP:
        if (v->u.map.n > UINT32_MAX || msgpack_pack_map(pk, v->u.map.n) != 0) return s_oom(err);
        for (size_t i = 0; i < v->u.map.n; i++) {
            if (s_pack_raw_str(pk, v->u.map.keys[i], strlen(v->u.map.keys[i])) != 0) return s_oom(err);
            if (fmx_value_pack(v->u.map.vals[i], pk, lookup, arg, err) != 0) return -1;
        }
        return 0;
    }
    return fmx_err(err, "bad value kind %d", (int)v->kind);
}
