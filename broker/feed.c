/* feed.c - loads and validates feed definitions (DESIGN.md section 5).
 *
 * Two stages: libyaml's event parser builds a small raw tree (s_ynode_t) that keeps what the
 * checks need and fmx_value_t does not: positions of map keys, scalar style (a quoted "123" is a
 * string, a plain 123 an int) and whether a scalar spans lines. The raw tree is then validated
 * into fmx_feed_t, converting param subtrees into fmx_value_t. The event API lets us stop at
 * the first alias, anchor or over-deep level before libyaml builds anything big. */
#include "broker/feed.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "schemas/node_schema.h"

#define S_MAX_FILE (1024 * 1024) /* a feed is a page of YAML, not a data set */
#define S_MAX_DEPTH 32
#define S_MAX_YNODES 200000      /* bounds memory for files full of tiny values like "[[],[]]" */
#define S_MAX_NODES 4096         /* the plan builder's bound, too */
#define S_MAX_NAME 128
#define S_MAX_FILES 4096
#define S_DEFAULT_DEADLINE_MS 150

static const char s_top_keys[] = "feed, params, context, deadline_ms, on_failure, nodes, output";
static const char s_node_keys[] = "type, subfeed, inputs, params, budget_ms, fallback, required, when";

/* ------------------------------------------------------------------------------------------ */
/* Raw YAML tree                                                                               */

typedef enum { S_Y_SCALAR, S_Y_SEQ, S_Y_MAP } s_ykind_t;

typedef struct s_ynode s_ynode_t;
struct s_ynode {
    s_ykind_t kind;
    int line, col, end_line; /* 1-based */
    bool plain;              /* untagged plain scalar: typed by the YAML 1.2 core schema */
    bool quoted;             /* single- or double-quoted: the text starts one column after col */
    char *text;              /* scalars: NUL-terminated copy */
    size_t len;
    s_ynode_t **keys;        /* maps: key scalars */
    s_ynode_t **kids;        /* sequence items, map values */
    size_t n, cap;
};

static void s_ynode_free(s_ynode_t *y) {
    if (!y) return;
    for (size_t i = 0; i < y->n; i++) {
        if (y->keys) s_ynode_free(y->keys[i]);
        s_ynode_free(y->kids[i]);
    }
    free(y->keys);
    free(y->kids);
    free(y->text);
    free(y);
}

static int s_ynode_push(s_ynode_t *y, s_ynode_t *key, s_ynode_t *kid) {
    if (y->n == y->cap) {
        size_t cap = y->cap ? y->cap * 2 : 8;
        s_ynode_t **kids = realloc(y->kids, cap * sizeof *kids);
        if (!kids) return -1;
        y->kids = kids;
        if (y->kind == S_Y_MAP) {
            s_ynode_t **keys = realloc(y->keys, cap * sizeof *keys);
            if (!keys) return -1;
            y->keys = keys;
        }
        y->cap = cap;
    }
    if (y->kind == S_Y_MAP) y->keys[y->n] = key;
    y->kids[y->n++] = kid;
    return 0;
}

/* A null scalar in the core schema: only meaningful for plain scalars. */
static bool s_is_null(const s_ynode_t *y) {
    if (y->kind != S_Y_SCALAR || !y->plain) return false;
    const char *t = y->text;
    return y->len == 0 || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 || strcmp(t, "Null") == 0 ||
           strcmp(t, "NULL") == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */

typedef struct {
    const char *path;
    char *err;
    const char *node; /* node being checked, for the message prefix; NULL at feed level */
} s_ctx_t;

static int s_fail(const s_ctx_t *L, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int s_fail(const s_ctx_t *L, int line, int col, const char *fmt, ...) {
    char msg[FMX_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L->node) return fmx_err(L->err, "%s:%d:%d: node '%s': %s", L->path, line, col, L->node, msg);
    return fmx_err(L->err, "%s:%d:%d: %s", L->path, line, col, msg);
}

static int s_fail_at(const s_ctx_t *L, const s_ynode_t *y, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int s_fail_at(const s_ctx_t *L, const s_ynode_t *y, const char *fmt, ...) {
    char msg[FMX_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return s_fail(L, y->line, y->col, "%s", msg);
}

static int s_oom(const s_ctx_t *L) {
    return fmx_err(L->err, "%s: out of memory", L->path);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading: YAML events -> raw tree                                                            */

typedef struct {
    s_ctx_t *L;
    yaml_parser_t parser;
    const char *buf;
    size_t len;
    size_t n_ynodes;
} s_reader_t;

static int s_yaml_error(s_reader_t *r) {
    const yaml_parser_t *p = &r->parser;
    if (p->error == YAML_MEMORY_ERROR) return s_oom(r->L);
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    if (p->error == YAML_READER_ERROR) { /* encoding problems carry a byte offset, not a mark */
        line = 1;
        col = 1;
        for (size_t i = 0; i < p->problem_offset && i < r->len; i++) {
            if (r->buf[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
    }
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->context)
        return s_fail(r->L, line, col, "YAML syntax error: %s (%s at line %d)", problem, p->context,
                      (int)p->context_mark.line + 1);
    return s_fail(r->L, line, col, "YAML syntax error: %s", problem);
}

/* Next event; refuses aliases and anchors, which would let a small file describe a huge tree. */
static int s_next(s_reader_t *r, yaml_event_t *ev) {
    if (!yaml_parser_parse(&r->parser, ev)) return s_yaml_error(r);
    const yaml_char_t *anchor = NULL;
    if (ev->type == YAML_SCALAR_EVENT) anchor = ev->data.scalar.anchor;
    if (ev->type == YAML_SEQUENCE_START_EVENT) anchor = ev->data.sequence_start.anchor;
    if (ev->type == YAML_MAPPING_START_EVENT) anchor = ev->data.mapping_start.anchor;
    if (ev->type == YAML_ALIAS_EVENT || anchor) {
        int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
        bool alias = ev->type == YAML_ALIAS_EVENT;
        yaml_event_delete(ev);
        return s_fail(r->L, line, col, "%s", alias ? "aliases are not supported" : "anchors are not supported");
    }
    return 0;
}

typedef struct {
    const char *s;
    size_t len;
    size_t idx;
} s_keyref_t;

static int s_keyref_cmp(const void *a, const void *b) {
    const s_keyref_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Duplicate keys: YAML forbids them but libyaml reports them as two entries. Sorting keeps this
 * O(n log n) for big maps; the earliest repeated key is reported. */
static int s_check_dups(s_reader_t *r, const s_ynode_t *map, bool nodes_map) {
    if (map->n < 2) return 0;
    s_keyref_t *refs = malloc(map->n * sizeof *refs);
    if (!refs) return s_oom(r->L);
    for (size_t i = 0; i < map->n; i++) refs[i] = (s_keyref_t){map->keys[i]->text, map->keys[i]->len, i};
    qsort(refs, map->n, sizeof *refs, s_keyref_cmp);
    size_t dup = SIZE_MAX, first = 0;
    for (size_t i = 1; i < map->n; i++)
        if (refs[i].len == refs[i - 1].len && memcmp(refs[i].s, refs[i - 1].s, refs[i].len) == 0 && refs[i].idx < dup) {
            dup = refs[i].idx;
            first = refs[i - 1].idx;
        }
    free(refs);
    if (dup == SIZE_MAX) return 0;
    const s_ynode_t *k = map->keys[dup], *f = map->keys[first];
    if (nodes_map) return s_fail(r->L, k->line, k->col, "duplicate node '%s' (first defined at line %d)", k->text, f->line);
    return s_fail(r->L, k->line, k->col, "duplicate key '%s' (first at line %d)", k->text, f->line);
}

/* Builds the node that starts with *ev (always consumed). */
static s_ynode_t *s_read(s_reader_t *r, yaml_event_t *ev, int depth, bool nodes_map) {
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    yaml_event_type_t type = ev->type;
    const char *tag = NULL, *want_tag = NULL;
    s_ynode_t *y = calloc(1, sizeof *y);
    if (y) {
        y->line = line;
        y->col = col;
        y->end_line = (int)ev->end_mark.line + 1;
    }
    if (type == YAML_SCALAR_EVENT) {
        tag = (const char *)ev->data.scalar.tag;
        want_tag = YAML_STR_TAG;
        if (y) {
            y->kind = S_Y_SCALAR;
            y->plain = !tag && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            y->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                        ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            y->len = ev->data.scalar.length;
            y->text = malloc(y->len + 1);
            if (y->text) {
                memcpy(y->text, ev->data.scalar.value, y->len);
                y->text[y->len] = '\0';
            }
        }
    } else if (type == YAML_SEQUENCE_START_EVENT) {
        tag = (const char *)ev->data.sequence_start.tag;
        want_tag = YAML_SEQ_TAG;
        if (y) y->kind = S_Y_SEQ;
    } else if (type == YAML_MAPPING_START_EVENT) {
        tag = (const char *)ev->data.mapping_start.tag;
        want_tag = YAML_MAP_TAG;
        if (y) y->kind = S_Y_MAP;
    }
    bool bad_tag = tag && strcmp(tag, want_tag) != 0;
    yaml_event_delete(ev);

    if (!y || (type == YAML_SCALAR_EVENT && !y->text)) {
        s_oom(r->L);
        goto fail;
    }
    if (!want_tag) {
        s_fail(r->L, line, col, "unexpected YAML event %d", (int)type);
        goto fail;
    }
    if (bad_tag) {
        s_fail(r->L, line, col, "YAML tags are not supported (only !!str)");
        goto fail;
    }
    if (++r->n_ynodes > S_MAX_YNODES) {
        s_fail(r->L, line, col, "more than %d values in one file", S_MAX_YNODES);
        goto fail;
    }
    if (depth > S_MAX_DEPTH) {
        s_fail(r->L, line, col, "nested deeper than %d levels", S_MAX_DEPTH);
        goto fail;
    }
    if (type == YAML_SCALAR_EVENT) return y;

    yaml_event_type_t end = type == YAML_SEQUENCE_START_EVENT ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
    for (;;) {
        yaml_event_t e;
        if (s_next(r, &e) != 0) goto fail;
        if (e.type == end) {
            yaml_event_delete(&e);
            break;
        }
        s_ynode_t *key = NULL;
        if (y->kind == S_Y_MAP) {
            if (e.type != YAML_SCALAR_EVENT) {
                s_fail(r->L, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1, "map keys must be scalars");
                yaml_event_delete(&e);
                goto fail;
            }
            key = s_read(r, &e, depth + 1, false);
            if (!key) goto fail;
            if (strlen(key->text) != key->len) {
                s_fail(r->L, key->line, key->col, "map keys may not contain NUL bytes");
                s_ynode_free(key);
                goto fail;
            }
            if (s_next(r, &e) != 0) {
                s_ynode_free(key);
                goto fail;
            }
        }
        bool kid_nodes = y->kind == S_Y_MAP && depth == 1 && strcmp(key->text, "nodes") == 0;
        s_ynode_t *kid = s_read(r, &e, depth + 1, kid_nodes);
        if (!kid || s_ynode_push(y, key, kid) != 0) {
            if (kid) s_oom(r->L);
            s_ynode_free(key);
            s_ynode_free(kid);
            goto fail;
        }
    }
    if (y->kind == S_Y_MAP && s_check_dups(r, y, nodes_map) != 0) goto fail;
    return y;
fail:
    s_ynode_free(y);
    return NULL;
}

static int s_read_file(const char *path, char **buf_out, size_t *len_out, const s_ctx_t *L) {
    FILE *f = fopen(path, "rb");
    if (!f) return s_fail(L, 1, 1, "cannot open: %s", strerror(errno));
    char *buf = malloc(S_MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        return s_oom(L);
    }
    size_t len = fread(buf, 1, S_MAX_FILE + 1, f);
    int rc = 0;
    if (ferror(f)) rc = s_fail(L, 1, 1, "cannot read: %s", strerror(errno));
    else if (len > S_MAX_FILE) rc = s_fail(L, 1, 1, "file is larger than %d bytes", S_MAX_FILE);
    fclose(f);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *buf_out = buf;
    *len_out = len;
    return 0;
}

/* One YAML document -> raw tree, or NULL with err. */
static s_ynode_t *s_parse_file(s_ctx_t *L) {
    s_reader_t r = {.L = L};
    s_ynode_t *root = NULL;
    char *buf = NULL;
    if (s_read_file(L->path, &buf, &r.len, L) != 0) return NULL;
    r.buf = buf;
    if (!yaml_parser_initialize(&r.parser)) {
        free(buf);
        s_oom(L);
        return NULL;
    }
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)buf, r.len);
    yaml_event_t ev;
    if (s_next(&r, &ev) != 0) goto done; /* STREAM-START */
    yaml_event_delete(&ev);
    if (s_next(&r, &ev) != 0) goto done;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        s_fail(L, 1, 1, "the file is empty");
        goto done;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if (s_next(&r, &ev) != 0) goto done;
    root = s_read(&r, &ev, 1, false);
    if (!root) goto done;
    if (s_next(&r, &ev) != 0) goto fail; /* DOCUMENT-END */
    yaml_event_delete(&ev);
    if (s_next(&r, &ev) != 0) goto fail;
    if (ev.type != YAML_STREAM_END_EVENT) {
        s_fail(L, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1, "only one YAML document per file");
        yaml_event_delete(&ev);
        goto fail;
    }
    yaml_event_delete(&ev);
    goto done;
fail:
    s_ynode_free(root);
    root = NULL;
done:
    yaml_parser_delete(&r.parser);
    free(buf);
    return root;
}

/* ------------------------------------------------------------------------------------------ */
/* Converting: raw tree -> fmx_value_t                                                         */

static bool s_match_int(const char *t) {
    if (*t == '-' || *t == '+') t++;
    if (!*t) return false;
    for (; *t; t++)
        if (*t < '0' || *t > '9') return false;
    return true;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool s_match_float(const char *t) {
    if (*t == '-' || *t == '+') t++;
    size_t digits = 0;
    while (*t >= '0' && *t <= '9') t++, digits++;
    if (*t == '.') {
        t++;
        while (*t >= '0' && *t <= '9') t++, digits++;
    }
    if (!digits) return false;
    if (*t == 'e' || *t == 'E') {
        t++;
        if (*t == '-' || *t == '+') t++;
        if (*t < '0' || *t > '9') return false;
        while (*t >= '0' && *t <= '9') t++;
    }
    return *t == '\0';
}

/* YAML 1.2 core schema for plain scalars; everything else is a string. NULL: out of range, or
 * out of memory with err untouched. */
static fmx_value_t *s_scalar_typed(const s_ctx_t *L, const s_ynode_t *y) {
    if (!y->plain) return fmx_value_new_str(y->text, y->len, y->line, y->col);
    const char *t = y->text;
    fmx_value_t *v = NULL;
    if (s_is_null(y)) return fmx_value_new(FMX_VAL_NULL, y->line, y->col);
    if (!strcmp(t, "true") || !strcmp(t, "True") || !strcmp(t, "TRUE") || !strcmp(t, "false") ||
        !strcmp(t, "False") || !strcmp(t, "FALSE")) {
        v = fmx_value_new(FMX_VAL_BOOL, y->line, y->col);
        if (v) v->u.b = t[0] == 't' || t[0] == 'T';
        return v;
    }
    if (s_match_int(t)) {
        errno = 0;
        long long i = strtoll(t, NULL, 10);
        if (errno == ERANGE) {
            s_fail_at(L, y, "integer %s is out of range", t);
            return NULL;
        }
        v = fmx_value_new(FMX_VAL_INT, y->line, y->col);
        if (v) v->u.i = i;
        return v;
    }
    if (s_match_float(t)) {
        double d = strtod(t, NULL);
        if (isinf(d)) {
            s_fail_at(L, y, "number %s is out of range", t);
            return NULL;
        }
        v = fmx_value_new(FMX_VAL_FLOAT, y->line, y->col);
        if (v) v->u.f = d;
        return v;
    }
    return fmx_value_new_str(y->text, y->len, y->line, y->col);
}

/* NULL with err set. */
static fmx_value_t *s_scalar(const s_ctx_t *L, const s_ynode_t *y) {
    L->err[0] = '\0';
    fmx_value_t *v = s_scalar_typed(L, y);
    if (!v && L->err[0] == '\0') s_oom(L);
    return v;
}

/* NULL with err set (out of range, out of memory). */
static fmx_value_t *s_value(const s_ctx_t *L, const s_ynode_t *y) {
    fmx_value_t *v = NULL;
    if (y->kind == S_Y_SCALAR) return s_scalar(L, y);
    v = fmx_value_new(y->kind == S_Y_SEQ ? FMX_VAL_ARRAY : FMX_VAL_MAP, y->line, y->col);
    if (!v) goto oom;
    for (size_t i = 0; i < y->n; i++) {
        fmx_value_t *kid = s_value(L, y->kids[i]);
        if (!kid) goto fail;
        int rc = y->kind == S_Y_SEQ ? fmx_value_array_push(v, kid) : fmx_value_map_put(v, y->keys[i]->text, kid);
        if (rc != 0) {
            fmx_value_destroy(&kid);
            goto oom;
        }
    }
    return v;
oom:
    s_oom(L);
fail:
    fmx_value_destroy(&v);
    return NULL;
}

/* The text of a scalar that is not null, as a string value (names, expressions, str params). */
static fmx_value_t *s_text_value(const s_ctx_t *L, const s_ynode_t *y) {
    fmx_value_t *v = fmx_value_new_str(y->text, y->len, y->line, y->col);
    if (!v) s_oom(L);
    return v;
}

/* Every string in v must have well-formed templates. */
static int s_check_templates(const s_ctx_t *L, const fmx_value_t *v, const char *what) {
    char why[FMX_ERR_LEN];
    switch (v->kind) {
    case FMX_VAL_STR:
        if (fmx_value_template_check(v->u.s.ptr, v->u.s.len, NULL, why) < 0)
            return s_fail(L, v->line, v->col, "%s: malformed template: %s", what, why);
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

static bool s_valid_name(const char *s, size_t len) {
    if (len == 0 || len > S_MAX_NAME) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* A scalar that is not null, for names and expressions. */
static int s_want_text(const s_ctx_t *L, const s_ynode_t *y, const char *what) {
    if (y->kind != S_Y_SCALAR || s_is_null(y))
        return s_fail_at(L, y, "%s must be a %s", what, y->kind == S_Y_SCALAR ? "non-empty scalar" : "scalar");
    return 0;
}

static char *s_name_dup(const s_ctx_t *L, const s_ynode_t *y, const char *what) {
    if (s_want_text(L, y, what) != 0) return NULL;
    if (!s_valid_name(y->text, y->len)) {
        s_fail_at(L, y, "%s '%.*s' must be 1-%d letters, digits, '_' or '-'", what, 64, y->text, S_MAX_NAME);
        return NULL;
    }
    char *s = strdup(y->text);
    if (!s) s_oom(L);
    return s;
}

static int s_positive_ms(const s_ctx_t *L, const s_ynode_t *y, const char *what, uint32_t *out) {
    fmx_value_t *v = y->kind == S_Y_SCALAR ? s_scalar(L, y) : NULL;
    if (!v && y->kind == S_Y_SCALAR) return -1;
    int rc = 0;
    if (!v || v->kind != FMX_VAL_INT || v->u.i <= 0 || v->u.i > (int64_t)UINT32_MAX)
        rc = s_fail_at(L, y, "%s must be a positive integer (milliseconds)", what);
    else
        *out = (uint32_t)v->u.i;
    fmx_value_destroy(&v);
    return rc;
}

static fmx_expr_t *s_compile(const s_ctx_t *L, const s_ynode_t *y, const char *src, const char *what) {
    char why[FMX_ERR_LEN];
    int ecol = 0;
    fmx_expr_t *e = fmx_expr_parse(src, why, &ecol);
    if (e) return e;
    int col = y->col;
    /* Point into the scalar when its text maps 1:1 onto one source line. */
    if (ecol > 0 && y->line == y->end_line && (y->plain || y->quoted)) col = y->col + (y->quoted ? 1 : 0) + ecol - 1;
    s_fail(L, y->line, col, "bad %s expression: %s", what, why);
    return NULL;
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
    const s_ynode_t *key;
    const s_ynode_t *inputs_key;
    const s_ynode_t **input_at; /* one per input */
} s_nodepos_t;

static void s_node_fini(fmx_feed_node_t *n) {
    free(n->name);
    free(n->type);
    free(n->subfeed);
    for (size_t i = 0; n->inputs && i < n->n_inputs; i++) free(n->inputs[i]);
    free(n->inputs);
    free(n->input_index);
    fmx_value_destroy(&n->params);
    fmx_value_destroy(&n->fallback_items);
    free(n->when);
    fmx_expr_destroy(&n->when_expr);
}

/* One param value checked against its spec. NULL with err. */
static fmx_value_t *s_param(const s_ctx_t *L, const fmx_param_spec_t *spec, const s_ynode_t *y) {
    fmx_value_t *v = NULL;
    fmx_param_kind_t kind = spec->kind;
    /* str and expr params take the text of any non-null scalar: `model: 2024` means "2024". */
    if ((kind == FMX_PARAM_STR || kind == FMX_PARAM_EXPR) && y->kind == S_Y_SCALAR && !s_is_null(y))
        v = s_text_value(L, y);
    else
        v = s_value(L, y);
    if (!v) return NULL;
    char what[S_MAX_NAME + 16];
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
        s_fail_at(L, y, "param '%s' must be %s, got %s%s", spec->key, fmx_param_kind_name(kind),
                  fmx_value_kind_name(v->kind),
                  v->kind == FMX_VAL_STR ? " (a string is allowed only as one \"{template}\")" : "");
        goto fail;
    }
    if (kind == FMX_PARAM_EXPR) {
        char why[FMX_ERR_LEN];
        int names = fmx_value_template_check(v->u.s.ptr, v->u.s.len, NULL, why);
        if (names > 0) {
            s_fail_at(L, y, "param '%s': templates are not allowed in expressions (use the name directly)", spec->key);
            goto fail;
        }
        char *src = s_unescape_braces(v->u.s.ptr, v->u.s.len);
        if (!src) {
            s_oom(L);
            goto fail;
        }
        snprintf(what, sizeof what, "'%s'", spec->key);
        fmx_expr_t *e = s_compile(L, y, src, what);
        free(src);
        if (!e) goto fail;
        fmx_expr_destroy(&e); /* the actor compiles its own copy; this was the load-time check */
    }
    return v;
fail:
    fmx_value_destroy(&v);
    return NULL;
}

static int s_node_params(const s_ctx_t *L, fmx_feed_node_t *n, const fmx_node_schema_t *schema, const s_ynode_t *y) {
    if (s_is_null(y)) return 0;
    if (y->kind != S_Y_MAP) return s_fail_at(L, y, "params must be a map");
    for (size_t i = 0; i < y->n; i++) {
        const s_ynode_t *k = y->keys[i];
        const fmx_param_spec_t *spec = fmx_node_schema_param(schema, k->text);
        if (!spec) {
            char known[160];
            s_known_params(schema, known, sizeof known);
            if (!known[0]) return s_fail_at(L, k, "unknown param '%s': type '%s' takes no params", k->text, schema->name);
            return s_fail_at(L, k, "unknown param '%s' for type '%s' (known: %s)", k->text, schema->name, known);
        }
        fmx_value_t *v = s_param(L, spec, y->kids[i]);
        if (!v) return -1;
        if (fmx_value_map_put(n->params, k->text, v) != 0) {
            fmx_value_destroy(&v);
            return s_oom(L);
        }
    }
    return 0;
}

static int s_node_fallback(const s_ctx_t *L, fmx_feed_node_t *n, const s_ynode_t *y) {
    static const struct {
        const char *name;
        fmx_fallback_kind_t kind;
    } kinds[] = {{"empty", FMX_FALLBACK_EMPTY}, {"passthrough", FMX_FALLBACK_PASSTHROUGH},
                 {"cached", FMX_FALLBACK_CACHED}, {"none", FMX_FALLBACK_NONE}};
    if (y->kind == S_Y_SCALAR) {
        for (size_t i = 0; i < FMX_ARRAY_LEN(kinds); i++)
            if (strcmp(y->text, kinds[i].name) == 0) {
                n->fallback = kinds[i].kind;
                return 0;
            }
        return s_fail_at(L, y, "unknown fallback '%.64s' (allowed: empty, passthrough, cached, none, {static: [...]})",
                         y->text);
    }
    if (y->kind != S_Y_MAP || y->n != 1 || strcmp(y->keys[0]->text, "static") != 0)
        return s_fail_at(L, y, "a fallback map must be {static: [ {id: ..., type: ...}, ... ]}");
    const s_ynode_t *list = y->kids[0];
    if (list->kind != S_Y_SEQ) return s_fail_at(L, list, "static fallback must be a list of entities");
    n->fallback = FMX_FALLBACK_STATIC;
    n->fallback_items = fmx_value_new(FMX_VAL_ARRAY, list->line, list->col);
    if (!n->fallback_items) return s_oom(L);
    for (size_t i = 0; i < list->n; i++) {
        const s_ynode_t *item = list->kids[i];
        if (item->kind != S_Y_MAP) return s_fail_at(L, item, "static fallback entity must be a map with id and type");
        fmx_value_t *ent = fmx_value_new(FMX_VAL_MAP, item->line, item->col);
        if (!ent) return s_oom(L);
        if (fmx_value_array_push(n->fallback_items, ent) != 0) {
            fmx_value_destroy(&ent);
            return s_oom(L);
        }
        int have = 0;
        for (size_t k = 0; k < item->n; k++) {
            const char *key = item->keys[k]->text;
            const s_ynode_t *val = item->kids[k];
            fmx_value_t *v;
            /* id and type are strings on the wire even when they look like numbers */
            if (strcmp(key, "id") == 0 || strcmp(key, "type") == 0) {
                if (s_want_text(L, val, strcmp(key, "id") == 0 ? "static entity id" : "static entity type") != 0)
                    return -1;
                have++;
                v = s_text_value(L, val);
            } else {
                v = s_value(L, val);
            }
            if (!v) return -1;
            if (fmx_value_map_put(ent, key, v) != 0) {
                fmx_value_destroy(&v);
                return s_oom(L);
            }
        }
        if (have != 2) return s_fail_at(L, item, "static fallback entity needs both id and type");
    }
    return s_check_templates(L, n->fallback_items, "static fallback");
}

static int s_node_inputs(const s_ctx_t *L, fmx_feed_node_t *n, s_nodepos_t *pos, const s_ynode_t *y) {
    size_t count = y->kind == S_Y_SEQ ? y->n : 1;
    if (y->kind == S_Y_MAP) return s_fail_at(L, y, "inputs must be a node name or a list of node names");
    if (count > S_MAX_NODES) return s_fail_at(L, y, "more than %d inputs", S_MAX_NODES);
    if (count == 0) return 0;
    n->inputs = calloc(count, sizeof *n->inputs);
    n->input_index = calloc(count, sizeof *n->input_index);
    pos->input_at = calloc(count, sizeof *pos->input_at);
    if (!n->inputs || !n->input_index || !pos->input_at) return s_oom(L);
    for (size_t i = 0; i < count; i++) {
        const s_ynode_t *item = y->kind == S_Y_SEQ ? y->kids[i] : y;
        if (s_want_text(L, item, "an input") != 0) return -1;
        n->inputs[i] = strdup(item->text);
        if (!n->inputs[i]) return s_oom(L);
        n->n_inputs = i + 1;
        pos->input_at[i] = item;
        for (size_t k = 0; k < i; k++)
            if (strcmp(n->inputs[k], item->text) == 0) return s_fail_at(L, item, "input '%s' is listed twice", item->text);
    }
    return 0;
}

/* One node from its key and body. L->node is set by the caller. */
static int s_node(const s_ctx_t *L, fmx_feed_node_t *n, s_nodepos_t *pos, const s_ynode_t *body) {
    const s_ynode_t *y_type = NULL, *y_sub = NULL, *y_inputs = NULL, *y_params = NULL, *y_budget = NULL,
                    *y_fallback = NULL, *y_required = NULL, *y_when = NULL;
    const s_ynode_t *k_sub = NULL, *k_params = NULL;
    if (body->kind != S_Y_MAP) return s_fail_at(L, body, "a node must be a map of %s", s_node_keys);
    for (size_t i = 0; i < body->n; i++) {
        const s_ynode_t *k = body->keys[i], *v = body->kids[i];
        const char *t = k->text;
        if (!strcmp(t, "type")) y_type = v;
        else if (!strcmp(t, "subfeed")) y_sub = v, k_sub = k;
        else if (!strcmp(t, "inputs")) y_inputs = v, pos->inputs_key = k;
        else if (!strcmp(t, "params")) y_params = v, k_params = k;
        else if (!strcmp(t, "budget_ms")) y_budget = v;
        else if (!strcmp(t, "fallback")) y_fallback = v;
        else if (!strcmp(t, "required")) y_required = v;
        else if (!strcmp(t, "when")) y_when = v;
        else return s_fail_at(L, k, "unknown key '%.64s' (allowed: %s)", t, s_node_keys);
    }
    if (y_type && y_sub) return s_fail_at(L, k_sub, "has both `type` and `subfeed`: use one");
    if (!y_type && !y_sub) return s_fail(L, n->line, n->col, "needs `type` (a node type) or `subfeed` (a feed name)");

    n->params = fmx_value_new(FMX_VAL_MAP, body->line, body->col);
    if (!n->params) return s_oom(L);
    const fmx_node_schema_t *schema = NULL;
    if (y_type) {
        if (s_want_text(L, y_type, "type") != 0) return -1;
        schema = fmx_node_schema_find(y_type->text);
        if (!schema) {
            char known[160];
            s_known_types(known, sizeof known);
            return s_fail_at(L, y_type, "unknown node type '%.64s' (known: %s)", y_type->text, known);
        }
        n->type = strdup(schema->name);
        if (!n->type) return s_oom(L);
    } else {
        n->subfeed = s_name_dup(L, y_sub, "subfeed");
        if (!n->subfeed) return -1;
        if (y_inputs) return s_fail_at(L, pos->inputs_key, "a subfeed node takes no inputs");
        if (y_params) return s_fail_at(L, k_params, "a subfeed node takes no params");
    }
    if (y_inputs && s_node_inputs(L, n, pos, y_inputs) != 0) return -1;
    if (schema) {
        const s_ynode_t *at = pos->inputs_key ? pos->inputs_key : NULL;
        int line = at ? at->line : n->line, col = at ? at->col : n->col;
        int lo = schema->min_inputs, hi = schema->max_inputs;
        if ((size_t)lo > n->n_inputs || (hi >= 0 && n->n_inputs > (size_t)hi)) {
            if (hi == 0) return s_fail(L, line, col, "type '%s' takes no inputs, got %zu", schema->name, n->n_inputs);
            if (lo == hi)
                return s_fail(L, line, col, "type '%s' takes exactly %d input%s, got %zu", schema->name, lo,
                              lo == 1 ? "" : "s", n->n_inputs);
            if (hi < 0)
                return s_fail(L, line, col, "type '%s' takes at least %d input%s, got %zu", schema->name, lo,
                              lo == 1 ? "" : "s", n->n_inputs);
            return s_fail(L, line, col, "type '%s' takes %d to %d inputs, got %zu", schema->name, lo, hi, n->n_inputs);
        }
        if (y_params && s_node_params(L, n, schema, y_params) != 0) return -1;
        for (const fmx_param_spec_t *p = schema->params; p && p->key; p++)
            if (p->required && !fmx_value_map_get(n->params, p->key))
                return s_fail(L, n->line, n->col, "missing required param '%s' for type '%s'", p->key, schema->name);
    }
    if (y_budget && s_positive_ms(L, y_budget, "budget_ms", &n->budget_ms) != 0) return -1;
    if (y_fallback) {
        if (s_node_fallback(L, n, y_fallback) != 0) return -1;
        if (n->fallback == FMX_FALLBACK_PASSTHROUGH && n->n_inputs == 0)
            return s_fail_at(L, y_fallback, "fallback 'passthrough' needs at least one input");
    }
    if (y_required) {
        fmx_value_t *v = y_required->kind == S_Y_SCALAR ? s_scalar(L, y_required) : NULL;
        bool ok = v && v->kind == FMX_VAL_BOOL;
        if (ok) n->required = v->u.b;
        fmx_value_destroy(&v);
        if (!ok) return s_fail_at(L, y_required, "required must be true or false");
    }
    if (y_when) {
        if (s_want_text(L, y_when, "when") != 0) return -1;
        n->when = strdup(y_when->text);
        if (!n->when) return s_oom(L);
        n->when_expr = s_compile(L, y_when, n->when, "`when:`");
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
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* Resolves names, checks the graph and puts nodes in dependency order. */
static int s_graph(const s_ctx_t *L0, fmx_feed_t *feed, const s_nodepos_t *pos, const s_ynode_t *y_output) {
    s_ctx_t L = *L0;
    size_t n = feed->n_nodes;
    s_nameref_t *by_name = malloc(n * sizeof *by_name);
    size_t *indeg = calloc(n, sizeof *indeg), *renum = malloc(n * sizeof *renum);
    size_t *consumers = calloc(n, sizeof *consumers), *order = malloc(n * sizeof *order);
    bool *done = calloc(n, sizeof *done);
    fmx_feed_node_t *sorted = NULL;
    size_t *edge_at = NULL, *edges = NULL;
    int rc = -1;
    if (!by_name || !indeg || !renum || !consumers || !order || !done) {
        s_oom(&L);
        goto out;
    }
    for (size_t i = 0; i < n; i++) by_name[i] = (s_nameref_t){feed->nodes[i].name, i};
    qsort(by_name, n, sizeof *by_name, s_nameref_cmp);

    for (size_t i = 0; i < n; i++) {
        fmx_feed_node_t *node = &feed->nodes[i];
        L.node = node->name;
        for (size_t k = 0; k < node->n_inputs; k++) {
            long j = s_find(by_name, n, node->inputs[k]);
            const s_ynode_t *at = pos[i].input_at[k];
            if (j < 0) {
                s_fail_at(&L, at, "unknown input '%.64s'", node->inputs[k]);
                goto out;
            }
            if ((size_t)j == i) {
                s_fail_at(&L, at, "lists itself as an input");
                goto out;
            }
            node->input_index[k] = (size_t)j;
            consumers[j]++;
        }
        indeg[i] = node->n_inputs;
    }
    L.node = NULL;
    long out_idx = s_find(by_name, n, y_output->text);
    if (out_idx < 0) {
        s_fail_at(&L, y_output, "output '%.64s' is not a node of this feed", y_output->text);
        goto out;
    }
    feed->output = (size_t)out_idx;

    /* Consumer lists: edges[edge_at[j] .. edge_at[j + 1]) are the nodes reading j. */
    size_t n_edges = 0;
    for (size_t i = 0; i < n; i++) n_edges += feed->nodes[i].n_inputs;
    edge_at = calloc(n + 1, sizeof *edge_at);
    edges = malloc((n_edges ? n_edges : 1) * sizeof *edges);
    if (!edge_at || !edges) {
        s_oom(&L);
        goto out;
    }
    for (size_t j = 0; j < n; j++) edge_at[j + 1] = edge_at[j] + consumers[j];
    for (size_t i = 0; i < n; i++) indeg[i] = 0; /* reused as fill cursors, then restored */
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < feed->nodes[i].n_inputs; k++) {
            size_t j = feed->nodes[i].input_index[k];
            edges[edge_at[j] + indeg[j]++] = i;
        }
    for (size_t i = 0; i < n; i++) indeg[i] = feed->nodes[i].n_inputs;

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
        for (size_t e = edge_at[next]; e < edge_at[next + 1]; e++) indeg[edges[e]]--;
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
        L.node = at->name;
        s_fail(&L, at->line, at->col, "cycle: %s", path);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (consumers[i] == 0 && i != feed->output) {
            s_fail(&L, feed->nodes[i].line, feed->nodes[i].col, "node '%s' is not used by any node or the output",
                   feed->nodes[i].name);
            goto out;
        }

    /* Reorder; renum maps old index -> new index. */
    sorted = malloc(n * sizeof *sorted);
    if (!sorted) {
        s_oom(&L);
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        sorted[k] = feed->nodes[order[k]];
        renum[order[k]] = k;
    }
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < sorted[k].n_inputs; j++) sorted[k].input_index[j] = renum[sorted[k].input_index[j]];
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
    for (size_t i = 0; self->nodes && i < self->n_nodes; i++) s_node_fini(&self->nodes[i]);
    free(self->nodes);
    free(self->name);
    free(self->path);
    fmx_value_destroy(&self->params);
    free(self->on_failure);
    fmx_value_destroy(&self->context);
    free(self);
    *self_p = NULL;
}

long fmx_feed_node_index(const fmx_feed_t *self, const char *name) {
    if (!self || !name) return -1;
    for (size_t i = 0; i < self->n_nodes; i++)
        if (strcmp(self->nodes[i].name, name) == 0) return (long)i;
    return -1;
}

static int s_feed_nodes(s_ctx_t *L, fmx_feed_t *feed, const s_ynode_t *y, const s_ynode_t *y_output) {
    if (y->kind != S_Y_MAP || y->n == 0) return s_fail_at(L, y, "nodes must be a non-empty map of node name -> node");
    if (y->n > S_MAX_NODES) return s_fail_at(L, y, "more than %d nodes", S_MAX_NODES);
    int rc = -1;
    s_nodepos_t *pos = calloc(y->n, sizeof *pos);
    feed->nodes = calloc(y->n, sizeof *feed->nodes);
    if (!pos || !feed->nodes) {
        s_oom(L);
        goto out;
    }
    feed->n_nodes = y->n;
    for (size_t i = 0; i < y->n; i++) {
        fmx_feed_node_t *n = &feed->nodes[i];
        const s_ynode_t *k = y->keys[i];
        n->line = k->line;
        n->col = k->col;
        pos[i].key = k;
        n->name = s_name_dup(L, k, "node name");
        if (!n->name) goto out;
        L->node = n->name;
        int node_rc = s_node(L, n, &pos[i], y->kids[i]);
        L->node = NULL;
        if (node_rc != 0) goto out;
    }
    if (s_want_text(L, y_output, "output") != 0) goto out;
    rc = s_graph(L, feed, pos, y_output);
out:
    for (size_t i = 0; pos && i < y->n; i++) free(pos[i].input_at);
    free(pos);
    return rc;
}

/* A map of scalar defaults (`params:` or `context:`); an absent or null key gives an empty map. */
static fmx_value_t *s_defaults_map(s_ctx_t *L, const s_ynode_t *y, const char *not_a_map) {
    fmx_value_t *v;
    if (y && !s_is_null(y)) {
        if (y->kind != S_Y_MAP) {
            s_fail_at(L, y, "%s", not_a_map);
            return NULL;
        }
        v = s_value(L, y);
    } else {
        v = fmx_value_new(FMX_VAL_MAP, y ? y->line : 0, y ? y->col : 0);
        if (!v) s_oom(L);
    }
    return v;
}

static fmx_feed_t *s_feed_load(const char *path, char err[FMX_ERR_LEN], s_marks_t *marks) {
    s_ctx_t L = {path ? path : "(null)", err, NULL};
    if (err) err[0] = '\0';
    char scratch[FMX_ERR_LEN];
    if (!err) L.err = scratch; /* s_value tells an error from OOM by a non-empty buffer */
    L.err[0] = '\0';
    fmx_feed_t *self = NULL;
    s_ynode_t *root = s_parse_file(&L);
    if (!root) return NULL;
    self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(L.path))) {
        s_oom(&L);
        goto fail;
    }
    self->deadline_ms = S_DEFAULT_DEADLINE_MS;
    if (root->kind != S_Y_MAP) {
        s_fail_at(&L, root, "the top level must be a map with keys %s", s_top_keys);
        goto fail;
    }
    const s_ynode_t *y_feed = NULL, *y_params = NULL, *y_context = NULL, *y_deadline = NULL, *y_fail = NULL,
                    *y_nodes = NULL, *y_output = NULL;
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->keys[i]->text;
        const s_ynode_t *v = root->kids[i];
        if (!strcmp(k, "feed")) y_feed = v;
        else if (!strcmp(k, "params")) y_params = v;
        else if (!strcmp(k, "context")) y_context = v;
        else if (!strcmp(k, "deadline_ms")) y_deadline = v;
        else if (!strcmp(k, "on_failure")) y_fail = v;
        else if (!strcmp(k, "nodes")) y_nodes = v;
        else if (!strcmp(k, "output")) y_output = v;
        else {
            s_fail_at(&L, root->keys[i], "unknown key '%.64s' (allowed: %s)", k, s_top_keys);
            goto fail;
        }
    }
    const char *missing = !y_feed ? "feed" : !y_nodes ? "nodes" : !y_output ? "output" : NULL;
    if (missing) {
        s_fail_at(&L, root, "missing required key '%s'", missing);
        goto fail;
    }
    self->name = s_name_dup(&L, y_feed, "feed name");
    if (!self->name) goto fail;
    self->params = s_defaults_map(&L, y_params, "params must be a map of defaults");
    if (!self->params) goto fail;
    self->context = s_defaults_map(&L, y_context, "context must be a map of defaults for request context keys");
    if (!self->context) goto fail;
    if (y_deadline && s_positive_ms(&L, y_deadline, "deadline_ms", &self->deadline_ms) != 0) goto fail;
    if (y_fail && !(self->on_failure = s_name_dup(&L, y_fail, "on_failure feed"))) goto fail;
    if (s_feed_nodes(&L, self, y_nodes, y_output) != 0) goto fail;
    if (marks) {
        *marks = (s_marks_t){y_feed->line, y_feed->col, y_fail ? y_fail->line : 0, y_fail ? y_fail->col : 0};
    }
    s_ynode_free(root);
    return self;
fail:
    s_ynode_free(root);
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
    for (size_t i = 0; i < self->n; i++) fmx_feed_destroy(&self->feeds[i]);
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
            while (stack[s] != (size_t)t) s--;
            char path[FMX_ERR_LEN], msg[FMX_ERR_LEN];
            size_t used = (size_t)snprintf(path, sizeof path, "%s", feed->name);
            for (size_t k = s; k <= depth && used < sizeof path; k++) {
                int w = snprintf(path + used, sizeof path - used, " -> %s", set->feeds[stack[k]]->name);
                if (w < 0) break;
                used += (size_t)w;
            }
            s_ctx_t L = {feed->path, msg, node->name};
            s_fail(&L, node->line, node->col, "sub-feed recursion: %s", path);
            s_errs_add(errs, msg);
        } else if (color[t] == 0) {
            s_recursion(set, (size_t)t, color, stack, depth + 1, errs);
        }
    }
    color[f] = 2;
}

static void s_cross_checks(const fmx_feedset_t *set, s_errs_t *errs) {
    char msg[FMX_ERR_LEN];
    for (size_t i = 0; i < set->n; i++) {
        const fmx_feed_t *feed = set->feeds[i];
        const s_marks_t *m = &set->marks[i];
        s_ctx_t L = {feed->path, msg, NULL};
        long first = s_feed_index(set, feed->name);
        if (first >= 0 && (size_t)first != i) {
            s_fail(&L, m->feed_line, m->feed_col, "feed '%s' is already defined in %s", feed->name,
                   set->feeds[first]->path);
            s_errs_add(errs, msg);
        }
        if (feed->on_failure) {
            if (strcmp(feed->on_failure, feed->name) == 0) {
                s_fail(&L, m->fail_line, m->fail_col, "on_failure names this feed itself");
                s_errs_add(errs, msg);
            } else if (s_feed_index(set, feed->on_failure) < 0) {
                s_fail(&L, m->fail_line, m->fail_col, "on_failure: unknown feed '%s'", feed->on_failure);
                s_errs_add(errs, msg);
            }
        }
        for (size_t k = 0; k < feed->n_nodes; k++) {
            const fmx_feed_node_t *node = &feed->nodes[k];
            if (!node->subfeed || s_feed_index(set, node->subfeed) >= 0) continue;
            L.node = node->name;
            s_fail(&L, node->line, node->col, "unknown sub-feed '%s'", node->subfeed);
            L.node = NULL;
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
    for (size_t i = 0; i < n_names; i++) free(names[i]);
    free(names);
    if (e.count) fmx_feedset_destroy(&self);
    return self;
}
