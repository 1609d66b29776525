/* merge.c - the union of several candidate lists.
 *
 * inputs: 1..n
 * params:
 *   limit  int, optional (0..)   keep at most this many, after dedup
 *
 * Deduplicates by (type, id). Each entity sits where its (type, id) first appeared, but the copy
 * kept is the one with the best score (with its source, fields and items): the same stream found
 * by "follows" with 0.4 and by "trending" with 0.9 is kept as the trending one, at the follows
 * position. A scored copy beats an unscored one; on equal scores the first copy stays.
 *
 * Every source that found an entity is recorded in fields.sources: an array of str, each source
 * once, in the order found (["follows", "trending"] above). The kept copy's other fields stay; an
 * entity without fields gets {sources}. The new fields map is built in the zone: inputs are
 * borrowed and never modified. */
#include <string.h>

#include "actors/nodes/nodes.h"

/* Does b beat a? */
static bool s_better(const fmx_entity_t *a, const fmx_entity_t *b) {
    if (!b->has_score) return false;
    if (!a->has_score) return true;
    return b->score > a->score;
}

/* e->fields with `sources` (replacing any it had) set to the array of n strings at src. */
static int s_set_sources(fmx_entity_t *e, msgpack_object *src, uint32_t n, msgpack_zone *zone) {
    const msgpack_object *f = &e->fields;
    uint32_t old = f->type == MSGPACK_OBJECT_MAP ? f->via.map.size : 0;
    msgpack_object_kv *kv = msgpack_zone_malloc(zone, ((size_t)old + 1) * sizeof(*kv));
    if (!kv) return -1;
    uint32_t m = 0;
    for (uint32_t i = 0; i < old; i++) {
        const msgpack_object *k = &f->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 7 && memcmp(k->via.str.ptr, "sources", 7) == 0)
            continue;
        kv[m++] = f->via.map.ptr[i];
    }
    kv[m].key = fmx_node_str_obj(FMX_STR_LIT("sources"));
    kv[m].val.type = MSGPACK_OBJECT_ARRAY;
    kv[m].val.via.array.size = n;
    kv[m].val.via.array.ptr = src;
    m++;
    e->fields.type = MSGPACK_OBJECT_MAP;
    e->fields.via.map.size = m;
    e->fields.via.map.ptr = kv;
    return 0;
}

/* fields.sources of every out entity; at[k] is the out index of the k-th input entity overall
 * (entities at or past out->n were cut by limit). */
static int s_sources(fmx_task_t *task, fmx_entity_list_t *out, const size_t *at, size_t total) {
    /* Distinct (entity, source) pairs in the order found: sources are numbered by a keymap, and a
     * pair is the int key entity << 32 | source (total fits in 32 bits: a set index). */
    fmx_node_keymap_t names, pairs;
    size_t *pair_at = msgpack_zone_malloc(task->zone, (total ? total : 1) * sizeof(*pair_at));
    fmx_str_t *pair_src = msgpack_zone_malloc(task->zone, (total ? total : 1) * sizeof(*pair_src));
    size_t *count = msgpack_zone_malloc(task->zone, (out->n ? out->n : 1) * sizeof(*count));
    if (!pair_at || !pair_src || !count || fmx_node_keymap_init(&names, total, task->zone) != 0 ||
        fmx_node_keymap_init(&pairs, total, task->zone) != 0)
        return -1;
    memset(count, 0, (out->n ? out->n : 1) * sizeof(*count));
    size_t k = 0;
    for (size_t i = 0; i < task->n_inputs; i++)
        for (size_t j = 0; j < task->inputs[i].n; j++, k++) {
            fmx_str_t s = task->inputs[i].v[j].source;
            if (!s.ptr || at[k] >= out->n) continue; /* no source, or cut by limit */
            fmx_scalar_t name = {.kind = FMX_SCALAR_STR, .u.s = s};
            int64_t sid = fmx_node_keymap_find(&names, &name, true);
            fmx_scalar_t pair = {.kind = FMX_SCALAR_INT, .u.i = (int64_t)(((uint64_t)at[k] << 32) | (uint64_t)sid)};
            size_t before = pairs.n;
            fmx_node_keymap_find(&pairs, &pair, true);
            if (pairs.n == before) continue;
            pair_at[before] = at[k];
            pair_src[before] = s;
            count[at[k]]++;
        }
    /* Bucket the pairs by entity, keeping their order: one array, an offset per entity. */
    msgpack_object *arr = msgpack_zone_malloc(task->zone, (pairs.n ? pairs.n : 1) * sizeof(*arr));
    size_t *fill = msgpack_zone_malloc(task->zone, (out->n ? out->n : 1) * sizeof(*fill));
    if (!arr || !fill) return -1;
    for (size_t e = 0, off = 0; e < out->n; e++) {
        fill[e] = off;
        off += count[e];
    }
    for (size_t p = 0; p < pairs.n; p++)
        arr[fill[pair_at[p]]++] = fmx_node_str_obj(pair_src[p]);
    for (size_t e = 0; e < out->n; e++) {
        uint32_t n = (uint32_t)count[e];
        if (s_set_sources(&out->v[e], arr + (fill[e] - n), n, task->zone) != 0) return -1;
    }
    return 0;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    int64_t limit;
    if (fmx_node_param_int(task, "limit", INT64_MAX, 0, INT64_MAX, &limit, err) != 0) return -1;
    if (task->n_inputs < 1) return fmx_err(err, "merge needs at least one input");

    size_t total = fmx_node_input_total(task);
    if (total >= UINT32_MAX) return fmx_err(err, "too many entities");
    fmx_node_set_t set;
    size_t *at = msgpack_zone_malloc(task->zone, (total ? total : 1) * sizeof(*at));
    if (!at || fmx_entity_list_reserve(out, total, task->zone) != 0 || fmx_node_set_init(&set, total, task->zone) != 0)
        return fmx_err(err, "out of memory");
    size_t seen = 0;
    for (size_t i = 0; i < task->n_inputs; i++) {
        const fmx_entity_list_t *in = &task->inputs[i];
        for (size_t j = 0; j < in->n; j++, seen++) {
            if (seen % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 &&
                fmx_node_deadline_check(task, err) != 0)
                return -1;
            const fmx_entity_t *e = &in->v[j];
            int64_t found = fmx_node_set_insert(&set, out, e, out->n);
            if (found < 0) {
                at[seen] = out->n;
                if (!fmx_entity_list_push(out, e, task->zone)) return fmx_err(err, "out of memory");
            } else {
                at[seen] = (size_t)found;
                if (s_better(&out->v[found], e)) out->v[found] = *e;
            }
        }
    }
    if ((uint64_t)limit < out->n) out->n = (size_t)limit;
    if (s_sources(task, out, at, total) != 0) return fmx_err(err, "out of memory");
    return 0;
}

const fmx_node_type_t fmx_node_merge = {"merge", NULL, s_run, NULL};
