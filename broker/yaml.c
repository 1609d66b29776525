/* yaml.c - libyaml events -> a raw tree with positions, and its conversion to fmx_value_t.
 *
 * The event API lets us stop at the first alias, anchor or over-deep level before libyaml builds
 * anything big (its document API would expand the whole file first). */
#include "broker/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define S_MAX_DEPTH  32
#define S_MAX_YNODES 200000 /* bounds memory for files full of tiny values like "[[],[]]" */

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */

static int s_vfail(const fmx_yaml_ctx_t *c, int line, int col, const char *fmt, va_list ap) {
    char msg[FMX_ERR_LEN];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (c->name)
        return fmx_err(c->err, "%s:%d:%d: %s '%s': %s", c->path, line, col, c->kind ? c->kind : "", c->name, msg);
    return fmx_err(c->err, "%s:%d:%d: %s", c->path, line, col, msg);
}

int fmx_yaml_fail(const fmx_yaml_ctx_t *c, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    s_vfail(c, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

int fmx_yaml_fail_at(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    s_vfail(c, y->line, y->col, fmt, ap);
    va_end(ap);
    return -1;
}

int fmx_yaml_oom(const fmx_yaml_ctx_t *c) {
    return fmx_err(c->err, "%s: out of memory", c->path);
}

/* ------------------------------------------------------------------------------------------ */
/* Raw tree                                                                                    */

void fmx_yaml_destroy(fmx_yaml_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_yaml_t *y = *self_p;
    for (size_t i = 0; i < y->n; i++) {
        if (y->keys) fmx_yaml_destroy(&y->keys[i]);
        fmx_yaml_destroy(&y->kids[i]);
    }
    free(y->keys);
    free(y->kids);
    free(y->text);
    free(y);
    *self_p = NULL;
}

static int s_push(fmx_yaml_t *y, fmx_yaml_t *key, fmx_yaml_t *kid) {
    if (y->n == y->cap) {
        size_t cap = y->cap ? y->cap * 2 : 8;
        fmx_yaml_t **kids = realloc(y->kids, cap * sizeof *kids);
        if (!kids) return -1;
        y->kids = kids;
        if (y->kind == FMX_YAML_MAP) {
            fmx_yaml_t **keys = realloc(y->keys, cap * sizeof *keys);
            if (!keys) return -1;
            y->keys = keys;
        }
        y->cap = cap;
    }
    if (y->kind == FMX_YAML_MAP) y->keys[y->n] = key;
    y->kids[y->n++] = kid;
    return 0;
}

bool fmx_yaml_is_null(const fmx_yaml_t *y) {
    if (y->kind != FMX_YAML_SCALAR || !y->plain) return false;
    const char *t = y->text;
    return y->len == 0 || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 || strcmp(t, "Null") == 0 ||
           strcmp(t, "NULL") == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading: YAML events -> raw tree                                                            */

typedef struct {
    const fmx_yaml_ctx_t *c;
    const fmx_yaml_opts_t *opts;
    yaml_parser_t parser;
    const char *buf;
    size_t len;
    size_t n_ynodes;
} s_reader_t;

static int s_yaml_error(s_reader_t *r) {
    const yaml_parser_t *p = &r->parser;
    if (p->error == YAML_MEMORY_ERROR) return fmx_yaml_oom(r->c);
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
        return fmx_yaml_fail(r->c, line, col, "YAML syntax error: %s (%s at line %d)", problem, p->context,
                             (int)p->context_mark.line + 1);
    return fmx_yaml_fail(r->c, line, col, "YAML syntax error: %s", problem);
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
        return fmx_yaml_fail(r->c, line, col, "%s", alias ? "aliases are not supported" : "anchors are not supported");
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
static int s_check_dups(s_reader_t *r, const fmx_yaml_t *map, const char *noun) {
    if (map->n < 2) return 0;
    s_keyref_t *refs = malloc(map->n * sizeof *refs);
    if (!refs) return fmx_yaml_oom(r->c);
    for (size_t i = 0; i < map->n; i++)
        refs[i] = (s_keyref_t){map->keys[i]->text, map->keys[i]->len, i};
    qsort(refs, map->n, sizeof *refs, s_keyref_cmp);
    size_t dup = SIZE_MAX, first = 0;
    for (size_t i = 1; i < map->n; i++)
        if (refs[i].len == refs[i - 1].len && memcmp(refs[i].s, refs[i - 1].s, refs[i].len) == 0 && refs[i].idx < dup) {
            dup = refs[i].idx;
            first = refs[i - 1].idx;
        }
    free(refs);
    if (dup == SIZE_MAX) return 0;
    const fmx_yaml_t *k = map->keys[dup], *f = map->keys[first];
    if (noun)
        return fmx_yaml_fail(r->c, k->line, k->col, "duplicate %s '%s' (first defined at line %d)", noun, k->text,
                             f->line);
    return fmx_yaml_fail(r->c, k->line, k->col, "duplicate key '%s' (first at line %d)", k->text, f->line);
}

/* Builds the node that starts with *ev (always consumed). noun: see fmx_yaml_opts_t.names_noun. */
static fmx_yaml_t *s_read(s_reader_t *r, yaml_event_t *ev, int depth, const char *noun) {
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    yaml_event_type_t type = ev->type;
    const char *tag = NULL, *want_tag = NULL;
    fmx_yaml_t *y = calloc(1, sizeof *y);
    if (y) {
        y->line = line;
        y->col = col;
        y->end_line = (int)ev->end_mark.line + 1;
    }
    if (type == YAML_SCALAR_EVENT) {
        tag = (const char *)ev->data.scalar.tag;
        want_tag = YAML_STR_TAG;
        if (y) {
            y->kind = FMX_YAML_SCALAR;
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
        if (y) y->kind = FMX_YAML_SEQ;
    } else if (type == YAML_MAPPING_START_EVENT) {
        tag = (const char *)ev->data.mapping_start.tag;
        want_tag = YAML_MAP_TAG;
        if (y) y->kind = FMX_YAML_MAP;
    }
    bool bad_tag = tag && strcmp(tag, want_tag) != 0;
    yaml_event_delete(ev);

    if (!y || (type == YAML_SCALAR_EVENT && !y->text)) {
        fmx_yaml_oom(r->c);
        goto fail;
    }
    if (!want_tag) {
        fmx_yaml_fail(r->c, line, col, "unexpected YAML event %d", (int)type);
        goto fail;
    }
    if (bad_tag) {
        fmx_yaml_fail(r->c, line, col, "YAML tags are not supported (only !!str)");
        goto fail;
    }
    if (++r->n_ynodes > S_MAX_YNODES) {
        fmx_yaml_fail(r->c, line, col, "more than %d values in one file", S_MAX_YNODES);
        goto fail;
    }
    if (depth > S_MAX_DEPTH) {
        fmx_yaml_fail(r->c, line, col, "nested deeper than %d levels", S_MAX_DEPTH);
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
        fmx_yaml_t *key = NULL;
        if (y->kind == FMX_YAML_MAP) {
            if (e.type != YAML_SCALAR_EVENT) {
                fmx_yaml_fail(r->c, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1,
                              "map keys must be scalars");
                yaml_event_delete(&e);
                goto fail;
            }
            key = s_read(r, &e, depth + 1, NULL);
            if (!key) goto fail;
            if (strlen(key->text) != key->len) {
                fmx_yaml_fail(r->c, key->line, key->col, "map keys may not contain NUL bytes");
                fmx_yaml_destroy(&key);
                goto fail;
            }
            if (s_next(r, &e) != 0) {
                fmx_yaml_destroy(&key);
                goto fail;
            }
        }
        const char *kid_noun = NULL;
        if (y->kind == FMX_YAML_MAP && depth == 1 && r->opts && r->opts->names_key &&
            strcmp(key->text, r->opts->names_key) == 0)
            kid_noun = r->opts->names_noun;
        fmx_yaml_t *kid = s_read(r, &e, depth + 1, kid_noun);
        if (!kid || s_push(y, key, kid) != 0) {
            if (kid) fmx_yaml_oom(r->c);
            fmx_yaml_destroy(&key);
            fmx_yaml_destroy(&kid);
            goto fail;
        }
    }
    if (y->kind == FMX_YAML_MAP && s_check_dups(r, y, noun) != 0) goto fail;
    return y;
fail:
    fmx_yaml_destroy(&y);
    return NULL;
}

static int s_read_file(const fmx_yaml_ctx_t *c, char **buf_out, size_t *len_out) {
    FILE *f = fopen(c->path, "rb");
    if (!f) return fmx_yaml_fail(c, 1, 1, "cannot open: %s", strerror(errno));
    char *buf = malloc(FMX_YAML_MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        return fmx_yaml_oom(c);
    }
    size_t len = fread(buf, 1, FMX_YAML_MAX_FILE + 1, f);
    int rc = 0;
    if (ferror(f))
        rc = fmx_yaml_fail(c, 1, 1, "cannot read: %s", strerror(errno));
    else if (len > FMX_YAML_MAX_FILE)
        rc = fmx_yaml_fail(c, 1, 1, "file is larger than %d bytes", FMX_YAML_MAX_FILE);
    fclose(f);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *buf_out = buf;
    *len_out = len;
    return 0;
}

/* The null scalar an empty file reads as. */
static fmx_yaml_t *s_empty(const fmx_yaml_ctx_t *c) {
    fmx_yaml_t *y = calloc(1, sizeof *y);
    if (y) y->text = calloc(1, 1);
    if (!y || !y->text) {
        fmx_yaml_destroy(&y);
        fmx_yaml_oom(c);
        return NULL;
    }
    y->kind = FMX_YAML_SCALAR;
    y->line = y->col = y->end_line = 1;
    y->plain = true;
    return y;
}

fmx_yaml_t *fmx_yaml_load(const fmx_yaml_ctx_t *c, const fmx_yaml_opts_t *opts) {
    s_reader_t r = {.c = c, .opts = opts};
    fmx_yaml_t *root = NULL;
    char *buf = NULL;
    if (s_read_file(c, &buf, &r.len) != 0) return NULL;
    r.buf = buf;
    if (!yaml_parser_initialize(&r.parser)) {
        free(buf);
        fmx_yaml_oom(c);
        return NULL;
    }
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)buf, r.len);
    yaml_event_t ev;
    if (s_next(&r, &ev) != 0) goto done; /* STREAM-START */
    yaml_event_delete(&ev);
    if (s_next(&r, &ev) != 0) goto done;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        if (opts && opts->allow_empty)
            root = s_empty(c);
        else
            fmx_yaml_fail(c, 1, 1, "the file is empty");
        goto done;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if (s_next(&r, &ev) != 0) goto done;
    root = s_read(&r, &ev, 1, NULL);
    if (!root) goto done;
    if (s_next(&r, &ev) != 0) goto fail; /* DOCUMENT-END */
    yaml_event_delete(&ev);
    if (s_next(&r, &ev) != 0) goto fail;
    if (ev.type != YAML_STREAM_END_EVENT) {
        fmx_yaml_fail(c, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1, "only one YAML document per file");
        yaml_event_delete(&ev);
        goto fail;
    }
    yaml_event_delete(&ev);
    goto done;
fail:
    fmx_yaml_destroy(&root);
done:
    yaml_parser_delete(&r.parser);
    free(buf);
    return root;
}

int fmx_yaml_load_list(const fmx_yaml_ctx_t *c, bool optional, const char *key, const char *what, fmx_yaml_t **root_p,
                       const fmx_yaml_t **list_p) {
    *root_p = NULL;
    *list_p = NULL;
    if (optional && access(c->path, F_OK) != 0 && errno == ENOENT) return 0;
    static const fmx_yaml_opts_t opts = {NULL, NULL, true};
    fmx_yaml_t *root = fmx_yaml_load(c, &opts);
    if (!root) return -1;
    *root_p = root; /* the caller destroys it on both paths */
    if (fmx_yaml_is_null(root)) return 0;
    if (root->kind != FMX_YAML_MAP)
        return fmx_yaml_fail_at(c, root, "the top level must be a map with the key %s", key);
    const fmx_yaml_t *list = NULL;
    for (size_t i = 0; i < root->n; i++) {
        if (strcmp(root->keys[i]->text, key) != 0)
            return fmx_yaml_fail_at(c, root->keys[i], "unknown key '%.64s' (allowed: %s)", root->keys[i]->text, key);
        list = root->kids[i];
    }
    if (!list || fmx_yaml_is_null(list)) return 0;
    if (list->kind != FMX_YAML_SEQ) return fmx_yaml_fail_at(c, list, "%s must be %s", key, what);
    *list_p = list;
    return 0;
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
    while (*t >= '0' && *t <= '9')
        t++, digits++;
    if (*t == '.') {
        t++;
        while (*t >= '0' && *t <= '9')
            t++, digits++;
    }
    if (!digits) return false;
    if (*t == 'e' || *t == 'E') {
        t++;
        if (*t == '-' || *t == '+') t++;
        if (*t < '0' || *t > '9') return false;
        while (*t >= '0' && *t <= '9')
            t++;
    }
    return *t == '\0';
}

/* YAML 1.2 core schema for plain scalars; everything else is a string. NULL: out of range, or
 * out of memory with err untouched. */
static fmx_value_t *s_scalar_typed(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y) {
    if (!y->plain) return fmx_value_new_str(y->text, y->len, y->line, y->col);
    const char *t = y->text;
    fmx_value_t *v = NULL;
    if (fmx_yaml_is_null(y)) return fmx_value_new(FMX_VAL_NULL, y->line, y->col);
    if (!strcmp(t, "true") || !strcmp(t, "True") || !strcmp(t, "TRUE") || !strcmp(t, "false") || !strcmp(t, "False") ||
        !strcmp(t, "FALSE")) {
        v = fmx_value_new(FMX_VAL_BOOL, y->line, y->col);
        if (v) v->u.b = t[0] == 't' || t[0] == 'T';
        return v;
    }
    if (s_match_int(t)) {
        errno = 0;
        long long i = strtoll(t, NULL, 10);
        if (errno == ERANGE) {
            fmx_yaml_fail_at(c, y, "integer %s is out of range", t);
            return NULL;
        }
        v = fmx_value_new(FMX_VAL_INT, y->line, y->col);
        if (v) v->u.i = i;
        return v;
    }
    if (s_match_float(t)) {
        double d = strtod(t, NULL);
        if (isinf(d)) {
            fmx_yaml_fail_at(c, y, "number %s is out of range", t);
            return NULL;
        }
        v = fmx_value_new(FMX_VAL_FLOAT, y->line, y->col);
        if (v) v->u.f = d;
        return v;
    }
    return fmx_value_new_str(y->text, y->len, y->line, y->col);
}

fmx_value_t *fmx_yaml_scalar(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y) {
    c->err[0] = '\0'; /* tells a range error (message written) from out of memory */
    fmx_value_t *v = s_scalar_typed(c, y);
    if (!v && c->err[0] == '\0') fmx_yaml_oom(c);
    return v;
}

fmx_value_t *fmx_yaml_value(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y) {
    fmx_value_t *v = NULL;
    if (y->kind == FMX_YAML_SCALAR) return fmx_yaml_scalar(c, y);
    v = fmx_value_new(y->kind == FMX_YAML_SEQ ? FMX_VAL_ARRAY : FMX_VAL_MAP, y->line, y->col);
    if (!v) goto oom;
    for (size_t i = 0; i < y->n; i++) {
        fmx_value_t *kid = fmx_yaml_value(c, y->kids[i]);
        if (!kid) goto fail;
        int rc = y->kind == FMX_YAML_SEQ ? fmx_value_array_push(v, kid) : fmx_value_map_put(v, y->keys[i]->text, kid);
        if (rc != 0) {
            fmx_value_destroy(&kid);
            goto oom;
        }
    }
    return v;
oom:
    fmx_yaml_oom(c);
fail:
    fmx_value_destroy(&v);
    return NULL;
}

fmx_value_t *fmx_yaml_text(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y) {
    fmx_value_t *v = fmx_value_new_str(y->text ? y->text : "", y->text ? y->len : 0, y->line, y->col);
    if (!v) fmx_yaml_oom(c);
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Names and expressions                                                                       */

static bool s_valid_name(const char *s, size_t len) {
    if (len == 0 || len > FMX_YAML_MAX_NAME) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-'))
            return false;
    }
    return true;
}

int fmx_yaml_want_text(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const char *what) {
    if (y->kind != FMX_YAML_SCALAR || fmx_yaml_is_null(y))
        return fmx_yaml_fail_at(c, y, "%s must be a %s", what,
                                y->kind == FMX_YAML_SCALAR ? "non-empty scalar" : "scalar");
    return 0;
}

char *fmx_yaml_name_dup(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const char *what) {
    if (fmx_yaml_want_text(c, y, what) != 0) return NULL;
    if (!s_valid_name(y->text, y->len)) {
        fmx_yaml_fail_at(c, y, "%s '%.*s' must be 1-%d letters, digits, '_' or '-'", what, 64, y->text,
                         FMX_YAML_MAX_NAME);
        return NULL;
    }
    char *s = strdup(y->text);
    if (!s) fmx_yaml_oom(c);
    return s;
}

fmx_expr_t *fmx_yaml_expr(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const char *src, const char *what) {
    char why[FMX_ERR_LEN];
    int ecol = 0;
    fmx_expr_t *e = fmx_expr_parse(src, why, &ecol);
    if (e) return e;
    int col = y->col;
    /* Point into the scalar when its text maps 1:1 onto one source line. */
    if (ecol > 0 && y->line == y->end_line && (y->plain || y->quoted)) col = y->col + (y->quoted ? 1 : 0) + ecol - 1;
    fmx_yaml_fail(c, y->line, col, "bad %s expression: %s", what, why);
    return NULL;
}
