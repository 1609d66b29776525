/* hydrate.c - attaches each entity's stored record as its `fields`, at every level of nesting.
 *
 * inputs: 1..n
 * params:
 *   fields  list of str, optional   keep only these fields (in this order); default all
 *
 * Top level: the union of all inputs, deduplicated by (type, id) in input order: the first
 * occurrence wins and keeps its source and score. Nested: the `items` of a carousel (or any
 * sub-feed entity, to FMX_ENTITY_MAX_DEPTH) are hydrated too, in their own order; a sub-feed's
 * list is its own, so it is not deduplicated against the others.
 *
 * One batch: every distinct (type, id) of every level is fetched once, with one fmx_store_mget
 * of `entity:{type}:{id}` in one read transaction (a consistent snapshot on LMDB, one round trip
 * on Redis): the same stream in five carousels and the top-level list costs one key. The record,
 * a msgpack map, becomes `fields` of every entity with that (type, id). An entity without a
 * record (or with one that is not a map) is dropped: a stream that ended since retrieval has
 * nothing to show. A carousel is kept without a record (its own fields stay) with whichever of
 * its items are left: layout decides whether it is still worth showing. */
#include <string.h>

#include "actors/nodes/nodes.h"
#include "schemas/mpobj.h"

/* "entity:" + type + ":" + id must fit; longer ids cannot be in the store anyway (LMDB keys
 * are at most 511 bytes). */
#define S_KEY_MAX 512
#define S_KEY_PREFIX "entity:"
#define S_KEY_PREFIX_LEN (sizeof(S_KEY_PREFIX) - 1)

/* The distinct entities of a task, and what the store holds for each. */
typedef struct {
    fmx_entity_list_t uniq; /* one entity per distinct (type, id), in first-seen order */
    fmx_node_set_t set;     /* indexes uniq */
    msgpack_object *recs;   /* recs[i]: uniq.v[i]'s record, NIL when missing or not a map */
    size_t visited;         /* entities handled so far, for deadline checks */
} s_batch_t;

/* Keeps only the wanted fields of a stored map, in the order asked, each once. */
static int s_project(msgpack_object *map, const msgpack_object *wanted, msgpack_zone *zone) {
    uint32_t n = wanted->via.array.size;
    msgpack_object_kv *kv = msgpack_zone_malloc(zone, (n ? n : 1) * sizeof(*kv));
    if (!kv) return -1;
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *name = &wanted->via.array.ptr[i];
        const msgpack_object *v = fmx_mp_map_getn(map, name->via.str.ptr, name->via.str.size);
        if (!v) continue;
        bool dup = false;
        for (uint32_t j = 0; j < m && !dup; j++)
            dup = kv[j].key.via.str.size == name->via.str.size &&
                  memcmp(kv[j].key.via.str.ptr, name->via.str.ptr, name->via.str.size) == 0;
        if (dup) continue;
        kv[m].key = *name;
        kv[m].val = *v;
        m++;
    }
    map->via.map.ptr = kv;
    map->via.map.size = m;
    return 0;
}

/* Whether `entity:{type}:{id}` can be a key at all. */
static bool s_keyable(const fmx_entity_t *e) {
    return e->type.ptr && e->id.ptr && e->type.len < S_KEY_MAX && e->id.len < S_KEY_MAX &&
           S_KEY_PREFIX_LEN + e->type.len + 1 + e->id.len <= S_KEY_MAX;
}

/* Entities in l and below (the decoder bounds the depth). */
static size_t s_count(const fmx_entity_list_t *l, int depth) {
    size_t n = l->n;
    if (depth < FMX_ENTITY_MAX_DEPTH)
        for (size_t i = 0; i < l->n; i++)
            n += s_count(&l->v[i].items, depth + 1);
    return n;
}

/* Adds every keyable entity of l and below to the batch, once per (type, id). */
static int s_collect(s_batch_t *b, const fmx_entity_list_t *l, int depth, msgpack_zone *zone) {
    for (size_t i = 0; i < l->n; i++) {
        const fmx_entity_t *e = &l->v[i];
        if (s_keyable(e) && fmx_node_set_insert(&b->set, &b->uniq, e, b->uniq.n) < 0 &&
            !fmx_entity_list_push(&b->uniq, e, zone))
            return -1;
        if (depth < FMX_ENTITY_MAX_DEPTH && s_collect(b, &e->items, depth + 1, zone) != 0) return -1;
    }
    return 0;
}

/* One mget for the whole batch; each record is decoded (and projected) once into recs. */
static int s_fetch(s_batch_t *b, fmx_task_t *task, const msgpack_object *wanted, char err[FMX_ERR_LEN]) {
    size_t n = b->uniq.n;
    b->recs = msgpack_zone_malloc(task->zone, (n ? n : 1) * sizeof(*b->recs));
    const char **keys = msgpack_zone_malloc(task->zone, (n ? n : 1) * sizeof(*keys));
    size_t *key_lens = msgpack_zone_malloc(task->zone, (n ? n : 1) * sizeof(*key_lens));
    const void **vals = msgpack_zone_malloc(task->zone, (n ? n : 1) * sizeof(*vals));
    size_t *val_lens = msgpack_zone_malloc(task->zone, (n ? n : 1) * sizeof(*val_lens));
    if (!b->recs || !keys || !key_lens || !vals || !val_lens) return fmx_err(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const fmx_entity_t *e = &b->uniq.v[i];
        size_t len = S_KEY_PREFIX_LEN + e->type.len + 1 + e->id.len;
        char *k = msgpack_zone_malloc_no_align(task->zone, len);
        if (!k) return fmx_err(err, "out of memory");
        memcpy(k, S_KEY_PREFIX, S_KEY_PREFIX_LEN);
        memcpy(k + S_KEY_PREFIX_LEN, e->type.ptr, e->type.len);
        k[S_KEY_PREFIX_LEN + e->type.len] = ':';
        memcpy(k + S_KEY_PREFIX_LEN + e->type.len + 1, e->id.ptr, e->id.len);
        keys[i] = k;
        key_lens[i] = len;
        b->recs[i].type = MSGPACK_OBJECT_NIL;
    }
    if (n == 0) return 0;

    fmx_store_txn_t *txn = fmx_store_read_begin(task->env->store, err);
    if (!txn) return -1;
    int rc = -1;
    if (fmx_store_mget(txn, n, keys, key_lens, vals, val_lens, err) != 0) goto done;
    for (size_t i = 0; i < n; i++) {
        if (i % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 && fmx_node_deadline_check(task, err) != 0)
            goto done;
        if (!vals[i]) continue;
        msgpack_object rec;
        /* Copies into the zone: the transaction (and what it holds) ends below. */
        if (fmx_node_store_value(vals[i], val_lens[i], task->zone, &rec, err) != 0) goto done;
        if (rec.type != MSGPACK_OBJECT_MAP) continue;
        if (wanted && s_project(&rec, wanted, task->zone) != 0) {
            fmx_err(err, "out of memory");
            goto done;
        }
        b->recs[i] = rec;
    }
    rc = 0;
done:
    fmx_store_txn_end(&txn);
    return rc;
}

/* The record of e, or NULL. */
static const msgpack_object *s_record(const s_batch_t *b, const fmx_entity_t *e) {
    if (!s_keyable(e)) return NULL;
    /* Always found: s_collect saw every keyable entity. */
    int64_t i = fmx_node_set_find(&b->set, &b->uniq, e);
    return i >= 0 && b->recs[i].type == MSGPACK_OBJECT_MAP ? &b->recs[i] : NULL;
}

/* Sets the fields of l's entities and keeps those that have a record or are sub-feeds, in
 * order, into *dst (which may be l itself: compaction never overtakes the reader). A nested list
 * gets a new array from the zone: the one it came with belongs to an input. */
static int s_apply(s_batch_t *b, fmx_task_t *task, const fmx_entity_list_t *l, fmx_entity_list_t *dst, int depth,
                   char err[FMX_ERR_LEN]) {
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (++b->visited % FMX_NODE_DEADLINE_EVERY == 0 && fmx_node_deadline_check(task, err) != 0) return -1;
        fmx_entity_t e = l->v[i];
        const msgpack_object *rec = s_record(b, &e);
        bool sub = e.has_items || e.items.n > 0;
        if (!rec && !sub) continue;
        if (rec) e.fields = *rec;
        if (sub && depth < FMX_ENTITY_MAX_DEPTH && e.items.n > 0) {
            fmx_entity_list_t items;
            fmx_entity_list_init(&items);
            if (fmx_entity_list_reserve(&items, e.items.n, task->zone) != 0) return fmx_err(err, "out of memory");
            if (s_apply(b, task, &e.items, &items, depth + 1, err) != 0) return -1;
            e.items = items;
        }
        dst->v[kept++] = e;
    }
    dst->n = kept;
    return 0;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    if (task->n_inputs < 1) return fmx_err(err, "hydrate needs at least one input");
    const msgpack_object *wanted = fmx_mp_map_get(task->params, "fields");
    if (wanted && wanted->type == MSGPACK_OBJECT_NIL) wanted = NULL;
    if (wanted) {
        if (wanted->type != MSGPACK_OBJECT_ARRAY) return fmx_err(err, "param 'fields' must be a list of strings");
        for (uint32_t i = 0; i < wanted->via.array.size; i++)
            if (wanted->via.array.ptr[i].type != MSGPACK_OBJECT_STR)
                return fmx_err(err, "param 'fields' must be a list of strings");
    }
    if (!task->env || !task->env->store) return fmx_err(err, "no store configured");

    /* The top-level union, deduplicated into out; the set indexes out's entries. */
    size_t total = fmx_node_input_total(task);
    fmx_node_set_t top;
    if (fmx_entity_list_reserve(out, total, task->zone) != 0 || fmx_node_set_init(&top, total, task->zone) != 0)
        return fmx_err(err, "out of memory");
    for (size_t i = 0; i < task->n_inputs; i++) {
        const fmx_entity_list_t *in = &task->inputs[i];
        for (size_t j = 0; j < in->n; j++) {
            if (fmx_node_set_insert(&top, out, &in->v[j], out->n) >= 0) continue;
            if (!fmx_entity_list_push(out, &in->v[j], task->zone)) return fmx_err(err, "out of memory");
        }
    }

    /* Every distinct (type, id) of every level, then one fetch for all of them. */
    s_batch_t b;
    memset(&b, 0, sizeof b);
    fmx_entity_list_init(&b.uniq);
    size_t all = s_count(out, 0);
    if (fmx_entity_list_reserve(&b.uniq, all, task->zone) != 0 || fmx_node_set_init(&b.set, all, task->zone) != 0 ||
        s_collect(&b, out, 0, task->zone) != 0)
        return fmx_err(err, "out of memory");
    if (fmx_node_deadline_check(task, err) != 0) return -1;
    if (s_fetch(&b, task, wanted, err) != 0) return -1;
    if (fmx_node_deadline_check(task, err) != 0) return -1;
    return s_apply(&b, task, out, out, 0, err);
}

const fmx_node_type_t fmx_node_hydrate = {"hydrate", NULL, s_run, NULL};
