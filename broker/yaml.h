/* yaml.h - the YAML reader the config loaders share (feeds, params.yaml, experiments.yaml).
 *
 * libyaml's event parser builds a small raw tree that keeps what validation needs and
 * fmx_value_t does not: positions of map keys, scalar style (a quoted "123" is a string, a plain
 * 123 an int) and whether a scalar spans lines. Refused while reading, with FILE:LINE:COL:
 * aliases and anchors (a small file could describe a huge tree), tags other than the standard
 * str/seq/map, non-scalar or NUL-holding map keys, duplicate keys, more than one document, nesting
 * deeper than 32 levels, more than 200000 values, files over 1 MiB. The loaders then walk the tree
 * and convert the parts they keep into fmx_value_t with the helpers below. */
#ifndef FMX_YAML_H
#define FMX_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "common/expr.h"
#include "common/fmx.h"
#include "common/value.h"

#define FMX_YAML_MAX_FILE (1024 * 1024) /* a config is a page of YAML, not a data set */
#define FMX_YAML_MAX_NAME 128           /* longest name fmx_yaml_name_dup accepts */

typedef enum { FMX_YAML_SCALAR, FMX_YAML_SEQ, FMX_YAML_MAP } fmx_yaml_kind_t;

typedef struct fmx_yaml fmx_yaml_t;
struct fmx_yaml {
    fmx_yaml_kind_t kind;
    int line, col, end_line; /* 1-based */
    bool plain;              /* untagged plain scalar: typed by the YAML 1.2 core schema */
    bool quoted;             /* single- or double-quoted: the text starts one column after col */
    char *text;              /* scalars: NUL-terminated copy (may hold NULs in values, never in keys) */
    size_t len;
    fmx_yaml_t **keys; /* maps: key scalars, parallel to kids */
    fmx_yaml_t **kids; /* sequence items, map values */
    size_t n, cap;
};

/* Where messages go and how they are prefixed: "FILE:LINE:COL: what", or with `name` set
 * "FILE:LINE:COL: KIND 'NAME': what" (e.g. "node 'scored'", "experiment 'ranker_test'"). */
typedef struct {
    const char *path;
    char *err; /* FMX_ERR_LEN bytes, never NULL */
    const char *kind;
    const char *name;
} fmx_yaml_ctx_t;

typedef struct {
    const char *names_key;  /* a top-level key whose map's keys name things (a feed's `nodes`): */
    const char *names_noun; /* a repeat there reads "duplicate NOUN 'x' (first defined at line N)" */
    bool allow_empty;       /* an empty file (or only comments) reads as a null scalar at 1:1 */
} fmx_yaml_opts_t;

/* Reads one file holding one YAML document. opts may be NULL. NULL with c->err on failure
 * (c->kind/name are not used while reading). Caller owns the tree. */
fmx_yaml_t *fmx_yaml_load(const fmx_yaml_ctx_t *c, const fmx_yaml_opts_t *opts);
void fmx_yaml_destroy(fmx_yaml_t **self_p);
/* A file that is one list under one top-level key, `KEY: [...]` (params.yaml's `overrides`,
 * experiments.yaml's `experiments`). 0 with *list_p NULL for an empty file, an absent or null
 * list, or (optional set) a file that does not exist; a non-list reads "KEY must be WHAT".
 * 0, or -1 with c->err; either way the caller destroys *root_p (*list_p points into it). */
int fmx_yaml_load_list(const fmx_yaml_ctx_t *c, bool optional, const char *key, const char *what, fmx_yaml_t **root_p,
                       const fmx_yaml_t **list_p);

/* A null in the core schema: an untagged plain "", "~", "null", "Null" or "NULL". */
bool fmx_yaml_is_null(const fmx_yaml_t *y);

/* Messages; all return -1 so callers can `return fmx_yaml_fail(...)`. */
int fmx_yaml_fail(const fmx_yaml_ctx_t *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int fmx_yaml_fail_at(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int fmx_yaml_oom(const fmx_yaml_ctx_t *c);

/* Conversions; NULL with c->err set (out of range, out of memory). Caller owns the result. */
fmx_value_t *fmx_yaml_scalar(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y); /* core schema typing */
fmx_value_t *fmx_yaml_value(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y);  /* a whole subtree */
fmx_value_t *fmx_yaml_text(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y);   /* a scalar's text as a string */

/* A scalar that is not null (names, expressions); 0 or -1 with "WHAT must be a ...". */
int fmx_yaml_want_text(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const char *what);
/* A name: 1-FMX_YAML_MAX_NAME letters, digits, '_' or '-'. A copy the caller frees, or NULL. */
char *fmx_yaml_name_dup(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const char *what);
/* Compiles src (the text of y, possibly unescaped) as an expression; an error points into the
 * scalar when its text maps 1:1 onto one source line: "bad WHAT expression: why". */
fmx_expr_t *fmx_yaml_expr(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const char *src, const char *what);

#endif
