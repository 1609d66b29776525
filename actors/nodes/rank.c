/* rank.c - orders a list and keeps the top.
 *
 * inputs: 1
 * params:
 *   limit  int, optional (0..)        keep at most this many after sorting
 *   by     str, default "score"       the entity score, or a numeric field of that name
 *
 * Stable sort, descending. Unscored entities (by "score") and entities whose field is missing
 * or not a number (int, float or bool) sort last, in their input order. */
#include <math.h>

#include "actors/nodes/nodes.h"

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    int64_t limit;
    fmx_str_t by;
    if (fmx_node_param_int(task, "limit", INT64_MAX, 0, INT64_MAX, &limit, err) != 0) return -1;
    if (fmx_node_param_str(task, "by", false, &by, err) < 0) return -1;
    if (task->n_inputs != 1) return fmx_err(err, "rank takes exactly one input");
    bool by_score = !by.ptr || fmx_node_str_eq(by, FMX_STR_LIT("score"));

    const fmx_entity_list_t *in = &task->inputs[0];
    double *keys = msgpack_zone_malloc(task->zone, (in->n ? in->n : 1) * sizeof(*keys));
    if (!keys || fmx_entity_list_reserve(out, in->n, task->zone) != 0) return fmx_err(err, "out of memory");
    for (size_t i = 0; i < in->n; i++) {
        const fmx_entity_t *e = &in->v[i];
        if (!fmx_entity_list_push(out, e, task->zone)) return fmx_err(err, "out of memory");
        keys[i] = -INFINITY;
        if (by_score) {
            if (e->has_score) keys[i] = e->score;
        } else {
            double v;
            if (fmx_node_number(fmx_entity_field(e, by.ptr, by.len), &v)) keys[i] = v;
        }
    }
    if (fmx_node_sort_desc(out, keys, task->zone) != 0) return fmx_err(err, "out of memory");
    if ((uint64_t)limit < out->n) out->n = (size_t)limit;
    return 0;
}

const fmx_node_type_t fmx_node_rank = {"rank", NULL, s_run, NULL};
