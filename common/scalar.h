/* scalar.h - one typed scalar value, the unit that expressions, templates and lookups share.
 * Strings are borrowed: they point into a msgpack frame, a config tree or a literal. */
#ifndef FMX_SCALAR_H
#define FMX_SCALAR_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/fmx.h"

typedef enum { FMX_SCALAR_NULL = 0, FMX_SCALAR_BOOL, FMX_SCALAR_INT, FMX_SCALAR_FLOAT, FMX_SCALAR_STR } fmx_scalar_kind_t;

typedef struct {
    fmx_scalar_kind_t kind;
    union {
        bool b;
        int64_t i;
        double f;
        fmx_str_t s;
    } u;
} fmx_scalar_t;

/* Resolves a variable name (not NUL-terminated) to a scalar. Returns 0 when found, -1 when the
 * name is unknown; *out is then left NULL-kind. Used by expressions and template binding. */
typedef int (*fmx_lookup_fn)(void *arg, const char *name, size_t name_len, fmx_scalar_t *out);

/* A msgpack scalar (nil, bool, int, float, str) -> scalar; -1 for arrays, maps, bin, ext. */
int fmx_scalar_from_msgpack(const msgpack_object *o, fmx_scalar_t *out);
/* Packs the scalar as the matching msgpack type. */
int fmx_scalar_pack(msgpack_packer *pk, const fmx_scalar_t *v);
/* Truthiness: null/false/0/0.0/"" are false. */
bool fmx_scalar_truthy(const fmx_scalar_t *v);
/* Appends a textual form (no quotes) to buf for string templates; returns bytes written or -1. */
int fmx_scalar_format(const fmx_scalar_t *v, char *buf, size_t cap);

#endif
