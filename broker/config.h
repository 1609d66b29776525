/* config.h - everything a request is resolved against, loaded and swapped as one snapshot:
 * feeds, params.yaml, experiments.yaml. A reload builds a whole new snapshot and swaps it only
 * when every file loads; requests in flight keep the snapshot they started on (refcounted).
 *
 * Resolution of one request, later layers winning (DESIGN.md section 5):
 *   feed defaults -> params.yaml rules that target it -> its experiment variants
 *   -> the request's own `params`, for parameters the feed declares `overridable`.
 * Then the plan is built (broker/plan.h) from the resolved values and the request context, or
 * taken from the snapshot's plan cache, keyed by the values the feed's `when:` conditions and
 * parameter templates read. */
#ifndef FMX_CONFIG_H
#define FMX_CONFIG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/experiments.h"
#include "broker/feed.h"
#include "broker/params.h"
#include "broker/plan.h"
#include "common/fmx.h"
#include "common/scalar.h"
#include "schemas/request.h"

#define FMX_MAX_RESOLVED 32
#define FMX_MAX_EXPERIMENTS 16

typedef struct {
    const char *feeds_dir;
    const char *params_path;      /* NULL or missing file: no rules */
    const char *experiments_path; /* NULL or missing file: no experiments */
} fmx_config_paths_t;

typedef struct fmx_config fmx_config_t;

/* Loads all three; NULL when anything fails, with every message in errs (one per line).
 * The result has one reference, owned by the caller. */
fmx_config_t *fmx_config_load(const fmx_config_paths_t *paths, char *errs, size_t errs_cap);
fmx_config_t *fmx_config_ref(fmx_config_t *self);
void fmx_config_unref(fmx_config_t **self_p);

const fmx_feedset_t *fmx_config_feeds(const fmx_config_t *self);
const fmx_params_t *fmx_config_params(const fmx_config_t *self);
const fmx_experiments_t *fmx_config_experiments(const fmx_config_t *self);
uint64_t fmx_config_generation(const fmx_config_t *self); /* process-unique, grows with each load */

/* The parameter values one request resolved to, and its experiment assignments. Caller-allocated
 * value type; everything in it is borrowed from the config snapshot or the request and lives as
 * long as both. */
typedef struct {
    const fmx_feed_t *feed;
    fmx_str_t names[FMX_MAX_RESOLVED];            /* overridden names (feed defaults not repeated) */
    fmx_scalar_t values[FMX_MAX_RESOLVED];
    size_t n;
    fmx_assignment_t experiments[FMX_MAX_EXPERIMENTS];
    size_t n_experiments;
    fmx_lookup_fn context;                        /* the request context (user_id, geo, ...) */
    void *context_arg;
} fmx_resolution_t;

/* Resolves a request for `feed`. request_params (a msgpack map or NULL) may only set parameters
 * the feed declares overridable, with the declared type and bounds. -1 with err and *code
 * (unknown_feed, bad_request) on failure. */
int fmx_config_resolve(const fmx_config_t *self, fmx_str_t feed, fmx_str_t user_id,
                       const msgpack_object *request_params, fmx_lookup_fn context, void *context_arg,
                       fmx_resolution_t *out, fmx_error_code_t *code, char err[FMX_ERR_LEN]);

/* Sets (or replaces) one resolved value, e.g. the request's `limit` for a feed that declares
 * `limit`. The name is borrowed. -1 when the table is full. */
int fmx_resolution_set(fmx_resolution_t *res, fmx_str_t name, const fmx_scalar_t *value);

/* Variables in resolution order for plan building: resolved overrides first (only for names the
 * top-level feed declares), then feed defaults, then context, then the feed's context defaults. */
int fmx_resolution_lookup(void *resolution, const char *name, size_t len, fmx_scalar_t *out);

/* The plan for a resolved request, from the snapshot's cache when one was built for the same feed,
 * the same overrides and the same values of the request facts its `when:` conditions read.
 * A cached plan belongs to the snapshot and lives as long as it; when *owned comes back true the
 * plan was not cached (cache full, or not cacheable) and the caller destroys it.
 * Nodes whose params read the request (user_id, geo, ...) get those params bound for this
 * request in `bound` (an array of plan->n_nodes, NULL entries meaning "use the plan's params");
 * *bound is NULL when no node needs it. Free with fmx_config_bound_free. NULL with err on failure. */
const fmx_plan_t *fmx_config_plan(fmx_config_t *self, const fmx_resolution_t *res, bool *owned, bool *cache_hit,
                                  fmx_str_t **bound, char err[FMX_ERR_LEN]);
void fmx_config_bound_free(const fmx_plan_t *plan, fmx_str_t **bound);

typedef struct {
    uint64_t hits, misses, entries;
} fmx_plan_cache_stats_t;
fmx_plan_cache_stats_t fmx_config_plan_cache_stats(const fmx_config_t *self);

#endif
