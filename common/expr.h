/* expr.h - the expression language of `when:` conditions and filter predicates.
 *
 *   expr  := or
 *   or    := and ( "||" and )*
 *   and   := not ( "&&" not )*
 *   not   := "!" not | cmp
 *   cmp   := primary ( ("==" | "!=" | "<" | "<=" | ">" | ">=") primary
 *                    | "in" "[" [ literal ("," literal)* ] "]" )?
 *   primary := number | 'string' | "string" | true | false | null | name | "(" expr ")"
 *   name  := [A-Za-z_][A-Za-z0-9_.]*       (a parameter, a context key or an entity field)
 *
 * Parsed once into a compact postfix program; evaluation allocates nothing.
 * Semantics: an unknown name is null. Int and float compare numerically; strings compare
 * bytewise; any other mixed-type comparison is false for ==, <, <=, >, >= and true for !=.
 * && and || short-circuit and yield booleans; a bare value is tested for truthiness. */
#ifndef FMX_EXPR_H
#define FMX_EXPR_H

#include <stdbool.h>

#include "common/fmx.h"
#include "common/scalar.h"

typedef struct fmx_expr fmx_expr_t;

/* Compiles src (NUL-terminated). NULL on error, with err explained and *err_col set to the
 * 1-based column in src where the problem is. The caller owns the result. The expression keeps
 * its own copy of string literals and names; src may be freed after. */
fmx_expr_t *fmx_expr_parse(const char *src, char err[FMX_ERR_LEN], int *err_col);
void fmx_expr_destroy(fmx_expr_t **self_p);

/* Evaluates to a scalar. Returned strings are borrowed from the expression or the lookup.
 * Returns 0, or -1 with err set (e.g. evaluation stack exhausted: a bug, not bad data). */
int fmx_expr_eval(const fmx_expr_t *self, fmx_lookup_fn lookup, void *arg, fmx_scalar_t *out, char err[FMX_ERR_LEN]);
/* Evaluates and tests truthiness; an evaluation failure is false. */
bool fmx_expr_test(const fmx_expr_t *self, fmx_lookup_fn lookup, void *arg);

/* The distinct variable names the expression reads, in first-use order (borrowed, NUL-terminated);
 * used to validate names at load time and to key plan caches. */
size_t fmx_expr_name_count(const fmx_expr_t *self);
const char *fmx_expr_name(const fmx_expr_t *self, size_t index);

/* The source text it was compiled from (borrowed). */
const char *fmx_expr_source(const fmx_expr_t *self);

#endif
