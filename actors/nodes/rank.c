/* rank.c - orders a list, ranks inside its collections, caps per group and keeps the top.
 *
 * inputs: 1
 * params:
 *   limit            int, optional (0..)       keep at most this many after sorting and capping
 *   by               str, default "score"      the entity score, or a numeric field of that name
 *   per_group_by     str, optional             the field whose value forms groups for per_group_limit
 *   per_group_limit  int, default 0 = no cap   after sorting, keep at most this many entities per
 *                                              value of fields[per_group_by] (2 per seller_id, ...);
 *                                              entities without that field are not capped
 *   items_limit      int, default 0 = keep all  ranked within: the items of every collection are
 *                                              sorted by the same key and cut to items_limit
 *   across           bool, default true        false: collections keep their positions; only the
 *                                              other entities are sorted, into the slots between
 *
 * Stable sort, descending: equal keys keep their input order. Unscored entities (by "score") and
 * entities whose field is missing or not a number (int, float or bool) sort last, in input order.
 * A collection (an entity with items: a carousel, a group) first has its items ranked ("within"),
 * then sorts by its own key, or by its best remaining item's key when it has none ("across").
 * Items are copied into the zone, never reordered in place: inputs are borrowed. */
#include <math.h>
#include <string.h>

#include "actors/nodes/nodes.h"

static bool s_is_collection(const fmx_entity_t *e) {
    return e->has_items || e->items.n > 0;
}

/* e's own key: its score or its numeric field `by`; -inf when it has none. */
static double s_key(const fmx_entity_t *e, bool by_score, fmx_str_t by) {
    double v;
    if (by_score) return e->has_score ? e->score : -INFINITY;
    return fmx_node_number(fmx_entity_field(e, by.ptr, by.len), &v) ? v : -INFINITY;
}

static bool s_has_key(const fmx_entity_t *e, bool by_score, fmx_str_t by) {
    double v;
    return by_score ? e->has_score : fmx_node_number(fmx_entity_field(e, by.ptr, by.len), &v);
}

/* Sorts a copy of c's items and cuts it to limit (0: all); returns the best remaining key. */
static int s_rank_within(fmx_entity_t *c, bool by_score, fmx_str_t by, size_t limit, msgpack_zone *zone, double *best) {
    fmx_entity_list_t items = {0};
    size_t n = c->items.n;
    *best = -INFINITY;
    if (n == 0) return 0;
    double *keys = msgpack_zone_malloc(zone, n * sizeof(*keys));
    if (!keys || fmx_entity_list_reserve(&items, n, zone) != 0) return -1;
    memcpy(items.v, c->items.v, n * sizeof(*items.v));
    items.n = n;
    for (size_t i = 0; i < n; i++)
        keys[i] = s_key(&items.v[i], by_score, by);
    if (fmx_node_sort_desc(&items, keys, zone) != 0) return -1;
    if (limit > 0 && limit < items.n) items.n = limit;
    c->items = items;
    *best = s_key(&items.v[0], by_score, by);
    return 0;
}

/* Keeps at most cap entities per value of fields[field], in order. */
static int s_per_group(fmx_entity_list_t *list, fmx_str_t field, size_t cap, msgpack_zone *zone) {
    fmx_node_keymap_t map;
    size_t *count = msgpack_zone_malloc(zone, (list->n ? list->n : 1) * sizeof(*count));
    if (!count || fmx_node_keymap_init(&map, list->n, zone) != 0) return -1;
    size_t kept = 0;
    for (size_t i = 0; i < list->n; i++) {
        fmx_scalar_t k;
        if (fmx_node_field_key(&list->v[i], field, &k)) {
            size_t before = map.n;
            int64_t g = fmx_node_keymap_find(&map, &k, true);
            if (map.n > before) count[g] = 0;
            if (count[g]++ >= cap) continue;
        }
        list->v[kept++] = list->v[i];
    }
    list->n = kept;
    return 0;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    int64_t limit, per_group_limit, items_limit;
    fmx_str_t by, per_group_by;
    bool across;
    if (fmx_node_param_int(task, "limit", INT64_MAX, 0, INT64_MAX, &limit, err) != 0) return -1;
    if (fmx_node_param_str(task, "by", false, &by, err) < 0) return -1;
    if (fmx_node_param_str(task, "per_group_by", false, &per_group_by, err) < 0) return -1;
    if (fmx_node_param_int(task, "per_group_limit", 0, 0, INT32_MAX, &per_group_limit, err) != 0) return -1;
    if (fmx_node_param_int(task, "items_limit", 0, 0, INT32_MAX, &items_limit, err) != 0) return -1;
    if (fmx_node_param_bool(task, "across", true, &across, err) != 0) return -1;
    if (task->n_inputs != 1) return fmx_err(err, "rank takes exactly one input");
    if (per_group_limit > 0 && per_group_by.len == 0)
        return fmx_err(err, "param 'per_group_limit' needs param 'per_group_by' (the field to group by)");
    bool by_score = !by.ptr || fmx_node_str_eq(by, FMX_STR_LIT("score"));

    const fmx_entity_list_t *in = &task->inputs[0];
    size_t n = in->n;
    double *keys = msgpack_zone_malloc(task->zone, (n ? n : 1) * sizeof(*keys));
    if (!keys || fmx_entity_list_reserve(out, n, task->zone) != 0) return fmx_err(err, "out of memory");
    size_t collections = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 && fmx_node_deadline_check(task, err) != 0)
            return -1;
        fmx_entity_t *e = fmx_entity_list_push(out, &in->v[i], task->zone);
        if (!e) return fmx_err(err, "out of memory");
        keys[i] = s_key(e, by_score, by);
        if (!s_is_collection(e)) continue;
        collections++;
        double best;
        if (s_rank_within(e, by_score, by, (size_t)items_limit, task->zone, &best) != 0)
            return fmx_err(err, "out of memory");
        if (!s_has_key(e, by_score, by)) keys[i] = best;
    }

    if (across || collections == 0) {
        if (fmx_node_sort_desc(out, keys, task->zone) != 0) return fmx_err(err, "out of memory");
    } else if (collections < n) {
        /* Sort the others apart, then pour them back into the slots collections left free. */
        fmx_entity_list_t rest = {0};
        double *rest_keys = msgpack_zone_malloc(task->zone, (n - collections) * sizeof(*rest_keys));
        if (!rest_keys || fmx_entity_list_reserve(&rest, n - collections, task->zone) != 0)
            return fmx_err(err, "out of memory");
        for (size_t i = 0; i < n; i++) {
            if (s_is_collection(&out->v[i])) continue;
            rest_keys[rest.n] = keys[i];
            rest.v[rest.n++] = out->v[i];
        }
        if (fmx_node_sort_desc(&rest, rest_keys, task->zone) != 0) return fmx_err(err, "out of memory");
        for (size_t i = 0, j = 0; i < n; i++)
            if (!s_is_collection(&out->v[i])) out->v[i] = rest.v[j++];
    }
    if (per_group_limit > 0 && s_per_group(out, per_group_by, (size_t)per_group_limit, task->zone) != 0)
        return fmx_err(err, "out of memory");
    if ((uint64_t)limit < out->n) out->n = (size_t)limit;
    return 0;
}

const fmx_node_type_t fmx_node_rank = {"rank", NULL, s_run, NULL};
