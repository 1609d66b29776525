/* experiments.h - configs/experiments.yaml: A/B experiments with stable assignment.
 *
 *   experiments:
 *     - name: ranker_test
 *       salt: ranker_test_2026       # changes re-shuffle users; default: the name
 *       layer: ranking               # experiments in one layer are mutually exclusive
 *       feeds: [home]                # optional: every feed when absent
 *       traffic: 100                 # percent of the layer's users, 0..100 (decimals allowed)
 *       when: "platform != 'tv'"     # optional targeting over the request context
 *       variants:
 *         - { name: control,   weight: 50 }
 *         - { name: treatment, weight: 50, params: { ranker_model: linear_v2 } }
 *
 * Assignment: the layer bucket xxHash64(layer + ":" + user_id) mod 10000 picks at most one
 * experiment of the layer (experiments take consecutive bucket ranges sized by traffic, in file
 * order; their total per layer must be <= 100 %); the variant bucket xxHash64(salt + ":" +
 * user_id) mod 10000 picks the variant by cumulative weight. Stable across restarts and hosts.
 * Variant params are validated like params.yaml overrides. Weights are positive numbers,
 * normalised by their sum. A user whose layer bucket falls in an experiment that does not target
 * the request (feed or `when:`) gets nothing from that layer: no re-assignment to a sibling.
 * A salt must not repeat across experiments nor equal a layer name (correlated buckets). */
#ifndef FMX_EXPERIMENTS_H
#define FMX_EXPERIMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "broker/feed.h"
#include "common/fmx.h"
#include "common/scalar.h"
#include "common/value.h"

#define FMX_BUCKETS 10000

typedef struct fmx_experiments fmx_experiments_t;

typedef struct {
    const char *experiment;   /* borrowed from the experiment set */
    const char *variant;
    const fmx_value_t *params; /* a map of overrides (possibly empty); never NULL */
} fmx_assignment_t;

fmx_experiments_t *fmx_experiments_load(const char *path, const fmx_feedset_t *feeds, int optional,
                                        char err[FMX_ERR_LEN]);
void fmx_experiments_destroy(fmx_experiments_t **self_p);
size_t fmx_experiments_count(const fmx_experiments_t *self);

/* The user's assignments for `feed` (at most one per layer), in file order. Returns how many were
 * written to out (up to max). Without `feeds:`, a variant's params may hold keys that `feed`
 * does not declare (another feed does): the caller skips names the feed does not declare. */
size_t fmx_experiments_assign(const fmx_experiments_t *self, const char *feed, fmx_str_t user_id,
                              fmx_lookup_fn context, void *context_arg, fmx_assignment_t *out, size_t max);

/* xxHash64(key + ":" + user_id) mod FMX_BUCKETS. */
uint32_t fmx_experiments_bucket(const char *key, fmx_str_t user_id);

/* Context names read by targeting expressions (for plan-cache keys); borrowed. Distinct, in
 * first-use order; returns how many were written (at most max). */
size_t fmx_experiments_context_names(const fmx_experiments_t *self, const char **names, size_t max);

#endif
