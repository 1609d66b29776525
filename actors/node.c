/* node.c - the table of node types this actor binary implements (Redis's command table), and
 * the helpers the handlers in actors/nodes/ share (declared in actors/nodes/nodes.h).
 * Adding a type: write actors/nodes/<name>.c, declare it in nodes.h, list it here, and give it
 * a row in schemas/node_schema.c under the same name. */
#include "actors/node.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "actors/nodes/nodes.h"
#include "common/clock.h"
#include "schemas/mpcheck.h"
#include "schemas/mpobj.h"

static const fmx_node_type_t *const s_types[] = {
    &fmx_node_retrieve, &fmx_node_hydrate, &fmx_node_merge, &fmx_node_filter,
    &fmx_node_score,    &fmx_node_rank,    &fmx_node_blend, &fmx_node_layout,
};

const fmx_node_type_t *fmx_node_type_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < FMX_ARRAY_LEN(s_types); i++)
        if (strcmp(s_types[i]->name, name) == 0) return s_types[i];
    return NULL;
}

size_t fmx_node_type_count(void) {
    return FMX_ARRAY_LEN(s_types);
}

const fmx_node_type_t *fmx_node_type_at(size_t index) {
    return index < FMX_ARRAY_LEN(s_types) ? s_types[index] : NULL;
}

/* ---- helpers shared by the handlers ---- */

int fmx_node_param_int(const fmx_task_t *task, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out,
                       char err[FMX_ERR_LEN]) {
    int64_t v = def;
    int rc = fmx_mp_get_int(task->params, key, &v);
    if (rc < 0) return fmx_err(err, "param '%s' must be an integer", key);
    if (rc == 0 && (v < min || v > max))
        return fmx_err(err, "param '%s' is %lld, outside %lld..%lld", key, (long long)v, (long long)min,
                       (long long)max);
    *out = v;
    return 0;
}

int fmx_node_param_str(const fmx_task_t *task, const char *key, bool required, fmx_str_t *out, char err[FMX_ERR_LEN]) {
    *out = FMX_STR_NULL;
    int rc = fmx_mp_get_str(task->params, key, out);
    if (rc < 0) return fmx_err(err, "param '%s' must be a string", key);
    if (rc > 0 && required) return fmx_err(err, "param '%s' is required", key);
    return rc;
}

int fmx_node_deadline_check(const fmx_task_t *task, char err[FMX_ERR_LEN]) {
    if (task->deadline_us != 0 && fmx_clock_now_us() > task->deadline_us) return fmx_err(err, "deadline passed");
    return 0;
}

bool fmx_node_number(const msgpack_object *o, double *out) {
    if (!o) return false;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return true;
    case MSGPACK_OBJECT_BOOLEAN: *out = o->via.boolean ? 1.0 : 0.0; return true;
    default: return false;
    }
}

size_t fmx_node_input_total(const fmx_task_t *task) {
    size_t n = 0;
    for (size_t i = 0; i < task->n_inputs; i++)
        n += task->inputs[i].n;
    return n;
}

int fmx_node_str_dup(fmx_str_t *s, msgpack_zone *zone) {
    if (!s->ptr) return 0;
    char *p = msgpack_zone_malloc_no_align(zone, s->len ? s->len : 1);
    if (!p) return -1;
    if (s->len) memcpy(p, s->ptr, s->len);
    s->ptr = p;
    return 0;
}

bool fmx_node_str_eq(fmx_str_t a, fmx_str_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int fmx_node_store_value(const void *val, size_t len, msgpack_zone *zone, msgpack_object *out, char err[FMX_ERR_LEN]) {
    if (fmx_mp_check(val, len, &fmx_mp_limits_result, err) != 0) return -1;
    char *copy = msgpack_zone_malloc_no_align(zone, len);
    if (!copy) return fmx_err(err, "out of memory");
    memcpy(copy, val, len);
    size_t off = 0;
    if (msgpack_unpack(copy, len, &off, zone, out) != MSGPACK_UNPACK_SUCCESS)
        return fmx_err(err, "bad msgpack in store");
    return 0;
}

int fmx_node_set_init(fmx_node_set_t *set, size_t max_entries, msgpack_zone *zone) {
    /* Load factor <= 1/2 keeps probe sequences short. */
    size_t cap = 16;
    while (cap < max_entries * 2) {
        if (cap > SIZE_MAX / 2 / sizeof(uint32_t) || cap >= UINT32_MAX) return -1;
        cap *= 2;
    }
    set->slots = msgpack_zone_malloc(zone, cap * sizeof(uint32_t));
    if (!set->slots) return -1;
    memset(set->slots, 0, cap * sizeof(uint32_t));
    set->mask = cap - 1;
    set->n = 0;
    set->max = max_entries;
    return 0;
}

static uint64_t s_entity_hash(const fmx_entity_t *e) {
    /* Seeding the id hash with the type hash separates ("a","bc") from ("ab","c"). */
    uint64_t t = XXH3_64bits(e->type.ptr ? e->type.ptr : "", e->type.len);
    return XXH3_64bits_withSeed(e->id.ptr ? e->id.ptr : "", e->id.len, t);
}

int64_t fmx_node_set_insert(fmx_node_set_t *set, const fmx_entity_list_t *list, const fmx_entity_t *e, size_t index) {
    size_t i = (size_t)s_entity_hash(e) & set->mask;
    for (;;) {
        uint32_t slot = set->slots[i];
        if (slot == 0) break;
        const fmx_entity_t *o = &list->v[slot - 1];
        if (fmx_node_str_eq(o->id, e->id) && fmx_node_str_eq(o->type, e->type)) return (int64_t)(slot - 1);
        i = (i + 1) & set->mask;
    }
    assert(set->n < set->max && index < UINT32_MAX);
    set->slots[i] = (uint32_t)index + 1;
    set->n++;
    return -1;
}

typedef struct {
    double key;
    size_t idx;
} s_sort_item_t;

static int s_sort_cmp(const void *a, const void *b) {
    const s_sort_item_t *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

int fmx_node_sort_desc(fmx_entity_list_t *list, const double *keys, msgpack_zone *zone) {
    size_t n = list->n;
    if (n < 2) return 0;
    s_sort_item_t *items = msgpack_zone_malloc(zone, n * sizeof(*items));
    fmx_entity_t *sorted = msgpack_zone_malloc(zone, n * sizeof(*sorted));
    if (!items || !sorted) return -1;
    for (size_t i = 0; i < n; i++) {
        /* NaN would break the comparator's total order: sort it after everything. */
        items[i].key = isnan(keys[i]) ? -INFINITY : keys[i];
        items[i].idx = i;
    }
    /* The index tie-break makes qsort stable. */
    qsort(items, n, sizeof(*items), s_sort_cmp);
    for (size_t i = 0; i < n; i++)
        sorted[i] = list->v[items[i].idx];
    list->v = sorted;
    list->cap = n;
    return 0;
}
