/* params.h - configs/params.yaml: dynamic parameter overrides with targeting.
 *
 *   overrides:                         # applied in file order; a later rule wins
 *     - feeds: [home]                  # optional: every feed when absent
 *       when: "geo == 'DE'"            # optional: expression over the request context
 *       set: { ranker_model: linear_v2 }
 *
 * Rules sit between feed defaults and experiments (DESIGN.md section 5). Each `set` key must be
 * a parameter that every targeted feed declares, of the declared type and within its bounds
 * (without `feeds:`, at least one feed must declare it and it applies only to those that do);
 * anything else, unknown keys included, is refused at load with FILE:LINE:COL. An empty file or
 * `overrides: []` is no rules. `when:` reads the request context, where the broker adds `hour`
 * (0-23, UTC) and `weekday` (0 = Monday) derived from the request's `time`. */
#ifndef FMX_PARAMS_H
#define FMX_PARAMS_H

#include <stddef.h>

#include "broker/feed.h"
#include "common/fmx.h"
#include "common/scalar.h"
#include "common/value.h"

typedef struct fmx_params fmx_params_t;

/* Loads and validates against the feeds (NULL feeds: syntax only). A missing file is an empty
 * rule set only when `optional` is non-zero. NULL with err on failure. */
fmx_params_t *fmx_params_load(const char *path, const fmx_feedset_t *feeds, int optional, char err[FMX_ERR_LEN]);
void fmx_params_destroy(fmx_params_t **self_p);
size_t fmx_params_rule_count(const fmx_params_t *self);

/* Calls set(arg, name, value) for every override of every rule that targets `feed` and whose
 * `when:` holds under `context`, in file order (so the caller's last write wins). Values are
 * borrowed from the rule set. Returns the number of rules that applied. */
typedef void (*fmx_param_set_fn)(void *arg, const char *name, const fmx_value_t *value);
size_t fmx_params_apply(const fmx_params_t *self, const char *feed, fmx_lookup_fn context, void *context_arg,
                        fmx_param_set_fn set, void *set_arg);

/* The context names the rules' `when:` expressions read (for plan-cache keys); borrowed.
 * Distinct, in first-use order; returns how many were written (at most max). */
size_t fmx_params_context_names(const fmx_params_t *self, const char **names, size_t max);

#endif
