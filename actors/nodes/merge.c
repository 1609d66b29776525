/* merge.c - the union of several candidate lists.
 *
 * inputs: 1..n
 * params:
 *   limit  int, optional (0..)   keep at most this many, after dedup
 *
 * Deduplicates by (type, id). Each entity sits where its (type, id) first appeared, but the copy
 * kept is the one with the best score (with its source, fields and items): the same stream found
 * by "follows" with 0.4 and by "trending" with 0.9 is kept as the trending one, at the follows
 * position. A scored copy beats an unscored one; on equal scores the first copy stays. */
#include <string.h>

#include "actors/nodes/nodes.h"

/* Does b beat a? */
static bool s_better(const fmx_entity_t *a, const fmx_entity_t *b) {
    if (!b->has_score) return false;
    if (!a->has_score) return true;
    return b->score > a->score;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    int64_t limit;
    if (fmx_node_param_int(task, "limit", INT64_MAX, 0, INT64_MAX, &limit, err) != 0) return -1;
    if (task->n_inputs < 1) return fmx_err(err, "merge needs at least one input");

    size_t total = fmx_node_input_total(task);
    fmx_node_set_t set;
    if (fmx_entity_list_reserve(out, total, task->zone) != 0 || fmx_node_set_init(&set, total, task->zone) != 0)
        return fmx_err(err, "out of memory");
    size_t seen = 0;
    for (size_t i = 0; i < task->n_inputs; i++) {
        const fmx_entity_list_t *in = &task->inputs[i];
        for (size_t j = 0; j < in->n; j++, seen++) {
            if (seen % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 &&
                fmx_node_deadline_check(task, err) != 0)
                return -1;
            const fmx_entity_t *e = &in->v[j];
            int64_t at = fmx_node_set_insert(&set, out, e, out->n);
            if (at < 0) {
                if (!fmx_entity_list_push(out, e, task->zone)) return fmx_err(err, "out of memory");
            } else if (s_better(&out->v[at], e)) {
                out->v[at] = *e;
            }
        }
    }
    if ((uint64_t)limit < out->n) out->n = (size_t)limit;
    return 0;
}

const fmx_node_type_t fmx_node_merge = {"merge", NULL, s_run, NULL};
