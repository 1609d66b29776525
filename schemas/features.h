/* features.h - model features by name: a list compiled once, and one dense float row per entity.
 *
 * The score node (serving) and feedmix-train (training) both build their rows here, so a model
 * sees the same numbers in both. A feature is a name:
 *   f          the entity's fields[f] (int, float or bool = 0/1)
 *   score      the entity's incoming score
 *   user.f     the user record's field f (the map stored at user:{user_id})
 *   ctx.f      the task context's field f (the broker adds hour and weekday to it)
 *   in.f.g     1 when the entity's string field f equals the user's string field g or is an element
 *              of the user's array field g (in.category.categories), else 0
 *   log.f      log1p(max(0, fields[f]))
 * f and g are [A-Za-z0-9_]+. A value that is missing or of another type is NaN, XGBoost's
 * "missing" (a feature reading the user is NaN when there is no user record); infinities are
 * clamped to +-FLT_MAX, which XGBoost accepts where it refuses inf. */
#ifndef FMX_FEATURES_H
#define FMX_FEATURES_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/fmx.h"
#include "schemas/entity.h"

#define FMX_FEATURES_MAX     1024 /* features in one list */
#define FMX_FEATURE_NAME_MAX 128  /* bytes in one name */

typedef struct fmx_features fmx_features_t;

/* Compiles n names. NULL with err naming the bad name (syntax, duplicate, too many). Caller owns. */
fmx_features_t *fmx_features_new(const char *const *names, size_t n, char err[FMX_ERR_LEN]);
/* Compiles a comma-separated list ("viewers, log.viewers,in.category.categories"; blanks around
 * names are ignored); how a model stores its features. NULL with err. Caller owns. */
fmx_features_t *fmx_features_parse(const char *list, size_t len, char err[FMX_ERR_LEN]);
void fmx_features_destroy(fmx_features_t **self_p);

size_t fmx_features_count(const fmx_features_t *self);
/* The i-th name, NUL-terminated (borrowed; NULL when i is out of range). */
const char *fmx_features_name(const fmx_features_t *self, size_t i);
/* The names joined with ',' (borrowed), what fmx_features_parse reads back. */
const char *fmx_features_list(const fmx_features_t *self);
/* True when some feature reads the user record (user.*, in.*): the caller may skip fetching it. */
bool fmx_features_need_user(const fmx_features_t *self);

/* Fills row[0 .. count) for entity e. user and ctx are maps, or NULL (or another type) when
 * absent. Everything is borrowed; nothing allocates. */
void fmx_features_row(const fmx_features_t *self, const fmx_entity_t *e, const msgpack_object *user,
                      const msgpack_object *ctx, float *row);

#endif
