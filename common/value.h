/* value.h - a typed tree with source positions: what a YAML config becomes after loading.
 *
 * Feed params, node params, params.yaml and experiments.yaml all load into this. Template
 * binding happens when a value is packed to msgpack: a string "{name}" that is exactly one
 * placeholder becomes the looked-up scalar with its own type (so `limit: "{limit}"` packs an
 * int); placeholders inside a longer string are formatted into it ("user:{user_id}:follows"). */
#ifndef FMX_VALUE_H
#define FMX_VALUE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/fmx.h"
#include "common/scalar.h"

typedef enum {
    FMX_VAL_NULL = 0,
    FMX_VAL_BOOL,
    FMX_VAL_INT,
    FMX_VAL_FLOAT,
    FMX_VAL_STR,
    FMX_VAL_ARRAY,
    FMX_VAL_MAP,
} fmx_value_kind_t;

typedef struct fmx_value fmx_value_t;

struct fmx_value {
    fmx_value_kind_t kind;
    int line, col; /* 1-based position in the source file; 0 when synthesized */
    union {
        bool b;
        int64_t i;
        double f;
        struct { char *ptr; size_t len; } s;                   /* owned, NUL-terminated */
        struct { fmx_value_t **items; size_t n; } arr;          /* owned */
        struct { char **keys; fmx_value_t **vals; size_t n; } map; /* owned; keys NUL-terminated */
    } u;
};

/* Constructors: NULL on allocation failure; caller owns. */
fmx_value_t *fmx_value_new(fmx_value_kind_t kind, int line, int col);
fmx_value_t *fmx_value_new_str(const char *s, size_t len, int line, int col);
/* Appends to an array / map (taking ownership of item; key is copied). 0 or -1. On -1 the item
 * stays with the caller. map_put does not replace an existing key (map_get finds the first).
 * Grow containers only through these: their capacity is implied by n. */
int fmx_value_array_push(fmx_value_t *arr, fmx_value_t *item);
int fmx_value_map_put(fmx_value_t *map, const char *key, fmx_value_t *val);
void fmx_value_destroy(fmx_value_t **self_p);
fmx_value_t *fmx_value_clone(const fmx_value_t *v);

const fmx_value_t *fmx_value_map_get(const fmx_value_t *map, const char *key);
/* Scalars only: -1 for arrays and maps. The scalar borrows strings from v. */
int fmx_value_to_scalar(const fmx_value_t *v, fmx_scalar_t *out);
const char *fmx_value_kind_name(fmx_value_kind_t kind);

/* Calls fn(arg, name, len) for every {placeholder} in every string of the tree, for load-time
 * validation and plan-cache keys. Stops and returns the first non-zero fn result. Malformed
 * braces ("{", "{}", "{a b}") return -1 with err naming line:col. */
typedef int (*fmx_value_name_fn)(void *arg, const fmx_value_t *where, const char *name, size_t len);
int fmx_value_each_template(const fmx_value_t *v, fmx_value_name_fn fn, void *arg, char err[FMX_ERR_LEN]);

/* Checks the template syntax of one string (not a tree). Returns the number of placeholders, or
 * -1 with err explaining the problem (no position: the caller knows where the string is). *whole
 * (may be NULL) is set when the string is exactly one placeholder, which packs with its own type. */
int fmx_value_template_check(const char *s, size_t len, bool *whole, char err[FMX_ERR_LEN]);

/* Packs v as msgpack, binding templates through lookup (NULL lookup packs strings verbatim).
 * An unknown name is an error naming it and the value's line:col. 0 or -1. */
int fmx_value_pack(const fmx_value_t *v, msgpack_packer *pk, fmx_lookup_fn lookup, void *arg, char err[FMX_ERR_LEN]);

#endif
