/* override.h - what params.yaml rules and experiment variants share: the feeds a rule targets
 * (`feeds:`) and a map of parameter overrides checked against those feeds' declarations
 * (fmx_feed_param / fmx_param_check in broker/feed.h). Used by broker/params.c and
 * broker/experiments.c only.
 *
 * With `feeds:` absent a rule targets every feed: each key must then be declared by at least one
 * feed, and applies only to the feeds that declare it. Values are scalars of the declared type;
 * an int given for a param every applicable feed declares float is stored as a float. */
#ifndef FMX_OVERRIDE_H
#define FMX_OVERRIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/feed.h"
#include "broker/yaml.h"
#include "common/expr.h"
#include "common/fmx.h"
#include "common/value.h"

/* The feeds a rule targets. Caller-allocated; release with fmx_override_feeds_fini. */
typedef struct {
    char **names; /* NULL: every feed */
    size_t n;
} fmx_override_feeds_t;

/* `feeds:` (a name or a list of names; y NULL: every feed). Each must be a feed of `feeds` (when
 * non-NULL) and listed once. 0, or -1 with c->err. */
int fmx_override_feeds_parse(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const fmx_feedset_t *feeds,
                             fmx_override_feeds_t *out);
void fmx_override_feeds_fini(fmx_override_feeds_t *self);
bool fmx_override_feeds_has(const fmx_override_feeds_t *self, const char *feed);

/* The distinct request-context names that rules' `when:`s read, in first-read order: what a
 * caller must look up before applying. The names are borrowed from the expressions, which must
 * outlive this. Caller-allocated and zeroed; release with fmx_override_names_fini. */
typedef struct {
    const char **names;
    size_t n;
} fmx_override_names_t;

/* `when:` (y NULL: *out stays NULL, always): a non-empty scalar compiled as an expression into
 * *out (caller owns, set before the names are added), its names added to names. 0 or -1 with c->err. */
int fmx_override_when_parse(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, fmx_override_names_t *names,
                            fmx_expr_t **out);
void fmx_override_names_fini(fmx_override_names_t *self);
/* Copies up to max names (borrowed) into out; returns how many. self may be NULL. */
size_t fmx_override_names_get(const fmx_override_names_t *self, const char **out, size_t max);

typedef struct fmx_override fmx_override_t;

/* A map of param -> scalar (y NULL: an empty set) for the targeted feeds; feeds NULL checks
 * syntax only. `what` names the map in messages ("set", "params"). NULL with c->err. */
fmx_override_t *fmx_override_new(const fmx_yaml_ctx_t *c, const fmx_yaml_t *y, const fmx_feedset_t *feeds,
                                 const fmx_override_feeds_t *targets, const char *what);
void fmx_override_destroy(fmx_override_t **self_p);
/* The overrides as a map (possibly empty, never NULL), in file order; borrowed. */
const fmx_value_t *fmx_override_values(const fmx_override_t *self);
/* Whether entry `index` of the map applies to `feed` (the rule's own targeting aside). */
bool fmx_override_applies(const fmx_override_t *self, size_t index, const char *feed);

#endif
