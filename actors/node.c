/* node.c - the table of node types this actor binary implements (Redis's command table), and
 * the helpers the handlers in actors/nodes/ share (declared in actors/nodes/nodes.h).
 * Adding a type: write actors/nodes/<name>.c, declare it in nodes.h, list it here, and give it
 * a row in schemas/node_schema.c under the same name. */
#include "actors/node.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "actors/nodes/nodes.h"
#include "common/clock.h"
#include "schemas/mpcheck.h"
#include "schemas/mpobj.h"

static const fmx_node_type_t *const s_types[] = {
    &fmx_node_retrieve, &fmx_node_hydrate, &fmx_node_merge, &fmx_node_filter, &fmx_node_score,
    &fmx_node_rank,     &fmx_node_group,   &fmx_node_blend, &fmx_node_layout,
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

int fmx_node_param_bool(const fmx_task_t *task, const char *key, bool def, bool *out, char err[FMX_ERR_LEN]) {
    bool v = def;
    if (fmx_mp_get_bool(task->params, key, &v) < 0) return fmx_err(err, "param '%s' must be true or false", key);
    *out = v;
    return 0;
}

/* params[key] as an array with at most max_n entries: 1 absent, 0, or -1 with err. */
static int s_param_list(const fmx_task_t *task, const char *key, size_t max_n, const char *what,
                        const msgpack_object **out, char err[FMX_ERR_LEN]) {
    const msgpack_object *v = fmx_mp_map_get(task->params, key);
    if (!v) return 1;
    if (v->type != MSGPACK_OBJECT_ARRAY) return fmx_err(err, "param '%s' must be a list of %s", key, what);
    if (v->via.array.size > max_n) return fmx_err(err, "param '%s' has more than %zu entries", key, max_n);
    *out = v;
    return 0;
}

int fmx_node_param_int_list(const fmx_task_t *task, const char *key, size_t max_n, int64_t min, int64_t max,
                            int64_t **out, size_t *n, char err[FMX_ERR_LEN]) {
    *out = NULL;
    *n = 0;
    const msgpack_object *list = NULL;
    int rc = s_param_list(task, key, max_n, "integers", &list, err);
    if (rc != 0) return rc;
    uint32_t size = list->via.array.size;
    int64_t *v = msgpack_zone_malloc(task->zone, (size ? size : 1) * sizeof(*v));
    if (!v) return fmx_err(err, "out of memory");
    for (uint32_t i = 0; i < size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX)
            v[i] = (int64_t)o->via.u64;
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            v[i] = o->via.i64;
        else
            return fmx_err(err, "param '%s': entry %u must be an integer", key, i);
        if (v[i] < min || v[i] > max)
            return fmx_err(err, "param '%s': entry %u is %lld, outside %lld..%lld", key, i, (long long)v[i],
                           (long long)min, (long long)max);
    }
    *out = v;
    *n = size;
    return 0;
}

int fmx_node_param_str_list(const fmx_task_t *task, const char *key, size_t max_n, fmx_str_t **out, size_t *n,
                            char err[FMX_ERR_LEN]) {
    *out = NULL;
    *n = 0;
    const msgpack_object *list = NULL;
    int rc = s_param_list(task, key, max_n, "strings", &list, err);
    if (rc != 0) return rc;
    uint32_t size = list->via.array.size;
    fmx_str_t *v = msgpack_zone_malloc(task->zone, (size ? size : 1) * sizeof(*v));
    if (!v) return fmx_err(err, "out of memory");
    for (uint32_t i = 0; i < size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_STR) return fmx_err(err, "param '%s': entry %u must be a string", key, i);
        v[i] = (fmx_str_t){o->via.str.ptr, o->via.str.size};
    }
    *out = v;
    *n = size;
    return 0;
}

/* Store refs name entities by a str id or, in older data, a non-negative int: both read as a str. */
bool fmx_node_ref_id(const msgpack_object *o, msgpack_zone *zone, fmx_str_t *out) {
    if (!o) return false;
    if (o->type == MSGPACK_OBJECT_STR) {
        if (o->via.str.size == 0) return false;
        *out = (fmx_str_t){o->via.str.ptr, o->via.str.size};
        return true;
    }
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return false;
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%" PRIu64, o->via.u64);
    char *p = msgpack_zone_malloc_no_align(zone, (size_t)n);
    if (!p) return false;
    memcpy(p, buf, (size_t)n);
    *out = (fmx_str_t){p, (size_t)n};
    return true;
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

msgpack_object fmx_node_str_obj(fmx_str_t s) {
    msgpack_object o;
    o.type = MSGPACK_OBJECT_STR;
    o.via.str.ptr = s.ptr;
    o.via.str.size = (uint32_t)s.len;
    return o;
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

/* The zeroed slot table of an open-addressing index for up to max entries: a power of two with
 * load factor <= 1/2, which keeps probe sequences short. NULL when too big or out of memory. */
static uint32_t *s_slots_alloc(size_t max, size_t *mask, msgpack_zone *zone) {
    size_t cap = 16;
    while (cap / 2 < max) {
        if (cap > SIZE_MAX / 2 / sizeof(uint32_t) || cap >= UINT32_MAX) return NULL;
        cap *= 2;
    }
    uint32_t *slots = msgpack_zone_malloc(zone, cap * sizeof(uint32_t));
    if (!slots) return NULL;
    memset(slots, 0, cap * sizeof(uint32_t));
    *mask = cap - 1;
    return slots;
}

int fmx_node_set_init(fmx_node_set_t *set, size_t max_entries, msgpack_zone *zone) {
    set->slots = s_slots_alloc(max_entries, &set->mask, zone);
    if (!set->slots) return -1;
    set->n = 0;
    set->max = max_entries;
    return 0;
}

static uint64_t s_entity_hash(const fmx_entity_t *e) {
    /* Seeding the id hash with the type hash separates ("a","bc") from ("ab","c"). */
    uint64_t t = XXH3_64bits(e->type.ptr ? e->type.ptr : "", e->type.len);
    return XXH3_64bits_withSeed(e->id.ptr ? e->id.ptr : "", e->id.len, t);
}

/* The slot holding e's (type, id), or the empty slot where it would go. */
static size_t s_set_slot(const fmx_node_set_t *set, const fmx_entity_list_t *list, const fmx_entity_t *e) {
    size_t i = (size_t)s_entity_hash(e) & set->mask;
    for (;;) {
        uint32_t slot = set->slots[i];
        if (slot == 0) return i;
        const fmx_entity_t *o = &list->v[slot - 1];
        if (fmx_node_str_eq(o->id, e->id) && fmx_node_str_eq(o->type, e->type)) return i;
        i = (i + 1) & set->mask;
    }
}

int64_t fmx_node_set_insert(fmx_node_set_t *set, const fmx_entity_list_t *list, const fmx_entity_t *e, size_t index) {
    size_t i = s_set_slot(set, list, e);
    if (set->slots[i] != 0) return (int64_t)(set->slots[i] - 1);
    assert(set->n < set->max && index < UINT32_MAX);
    set->slots[i] = (uint32_t)index + 1;
    set->n++;
    return -1;
}

int64_t fmx_node_set_find(const fmx_node_set_t *set, const fmx_entity_list_t *list, const fmx_entity_t *e) {
    size_t i = s_set_slot(set, list, e);
    return set->slots[i] != 0 ? (int64_t)(set->slots[i] - 1) : -1;
}

bool fmx_node_object_key(const msgpack_object *o, fmx_scalar_t *out) {
    if (!o || fmx_scalar_from_msgpack(o, out) != 0) return false;
    return out->kind == FMX_SCALAR_STR || out->kind == FMX_SCALAR_INT || out->kind == FMX_SCALAR_BOOL;
}

bool fmx_node_field_key(const fmx_entity_t *e, fmx_str_t name, fmx_scalar_t *out) {
    return fmx_node_object_key(fmx_entity_field(e, name.ptr, name.len), out);
}

bool fmx_node_key_eq(const fmx_scalar_t *a, const fmx_scalar_t *b) {
    if (a->kind != b->kind) return false;
    switch (a->kind) {
    case FMX_SCALAR_STR: return fmx_node_str_eq(a->u.s, b->u.s);
    case FMX_SCALAR_INT: return a->u.i == b->u.i;
    case FMX_SCALAR_BOOL: return a->u.b == b->u.b;
    default: return false;
    }
}

static uint64_t s_key_hash(const fmx_scalar_t *k) {
    /* The kind seeds the hash: the string "1" and the int 1 land apart. */
    switch (k->kind) {
    case FMX_SCALAR_STR: return XXH3_64bits_withSeed(k->u.s.ptr ? k->u.s.ptr : "", k->u.s.len, FMX_SCALAR_STR);
    case FMX_SCALAR_INT: return XXH3_64bits_withSeed(&k->u.i, sizeof(k->u.i), FMX_SCALAR_INT);
    case FMX_SCALAR_BOOL: return k->u.b ? 0x9e3779b97f4a7c15ull : 0x85ebca6b0badf00dull;
    default: return 0;
    }
}

int fmx_node_keymap_init(fmx_node_keymap_t *map, size_t max_keys, msgpack_zone *zone) {
    map->slots = s_slots_alloc(max_keys, &map->mask, zone);
    if (!map->slots) return -1;
    map->keys = msgpack_zone_malloc(zone, (max_keys ? max_keys : 1) * sizeof(fmx_scalar_t));
    if (!map->keys) return -1;
    map->n = 0;
    map->max = max_keys;
    return 0;
}

int64_t fmx_node_keymap_find(fmx_node_keymap_t *map, const fmx_scalar_t *k, bool add) {
    size_t i = (size_t)s_key_hash(k) & map->mask;
    for (;;) {
        uint32_t slot = map->slots[i];
        if (slot == 0) break;
        if (fmx_node_key_eq(&map->keys[slot - 1], k)) return (int64_t)(slot - 1);
        i = (i + 1) & map->mask;
    }
    if (!add) return -1;
    assert(map->n < map->max);
    map->keys[map->n] = *k;
    map->slots[i] = (uint32_t)++map->n;
    return (int64_t)(map->n - 1);
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

int fmx_node_order_desc(const double *keys, size_t n, size_t **order, msgpack_zone *zone) {
    *order = msgpack_zone_malloc(zone, (n ? n : 1) * sizeof(**order));
    if (!*order) return -1;
    if (n == 0) return 0;
    s_sort_item_t *items = msgpack_zone_malloc(zone, n * sizeof(*items));
    if (!items) return -1;
    for (size_t i = 0; i < n; i++) {
        /* NaN would break the comparator's total order: sort it after everything. */
        items[i].key = isnan(keys[i]) ? -INFINITY : keys[i];
        items[i].idx = i;
    }
    /* The index tie-break makes qsort stable. */
    qsort(items, n, sizeof(*items), s_sort_cmp);
    for (size_t i = 0; i < n; i++)
        (*order)[i] = items[i].idx;
    return 0;
}

int fmx_node_sort_desc(fmx_entity_list_t *list, const double *keys, msgpack_zone *zone) {
    size_t n = list->n;
    if (n < 2) return 0;
    size_t *order;
    fmx_entity_t *sorted = msgpack_zone_malloc(zone, n * sizeof(*sorted));
    if (!sorted || fmx_node_order_desc(keys, n, &order, zone) != 0) return -1;
    for (size_t i = 0; i < n; i++)
        sorted[i] = list->v[order[i]];
    list->v = sorted;
    list->cap = n;
    return 0;
}
