/* hydrate.c - attaches each entity's stored record as its `fields`.
 *
 * inputs: 1..n
 * params:
 *   fields  list of str, optional   keep only these fields (in this order); default all
 *
 * The union of all inputs, deduplicated by (type, id) in input order: the first occurrence wins
 * and keeps its source and score. One read transaction fetches `entity:{type}:{id}` for every
 * unique entity (a consistent snapshot, and one reader slot for the whole batch); the record, a
 * msgpack map, becomes `fields`. Entities without a record (or with one that is not a map) are
 * dropped: a stream that ended since retrieval has nothing to show. */
#include <string.h>

#include "actors/nodes/nodes.h"
#include "schemas/mpobj.h"

/* "entity:" + type + ":" + id must fit; longer ids cannot be in the store anyway (LMDB keys
 * are at most 511 bytes). */
#define S_KEY_MAX 512

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

    /* Dedup into out first; the set indexes out's entries. */
    size_t total = fmx_node_input_total(task);
    fmx_node_set_t set;
    if (fmx_entity_list_reserve(out, total, task->zone) != 0 || fmx_node_set_init(&set, total, task->zone) != 0)
        return fmx_err(err, "out of memory");
    for (size_t i = 0; i < task->n_inputs; i++) {
        const fmx_entity_list_t *in = &task->inputs[i];
        for (size_t j = 0; j < in->n; j++) {
            if (fmx_node_set_insert(&set, out, &in->v[j], out->n) >= 0) continue;
            if (!fmx_entity_list_push(out, &in->v[j], task->zone)) return fmx_err(err, "out of memory");
        }
    }

    int rc = -1;
    fmx_store_txn_t *txn = fmx_store_read_begin(task->env->store, err);
    if (!txn) return -1;
    char key[S_KEY_MAX];
    size_t kept = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (i % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 && fmx_node_deadline_check(task, err) != 0)
            goto done;
        fmx_entity_t *e = &out->v[i];
        if (!e->type.ptr || !e->id.ptr || e->type.len > sizeof(key) || e->id.len > sizeof(key) ||
            e->type.len + e->id.len + 8 > sizeof(key))
            continue; /* cannot be in the store */
        size_t klen = 0;
        memcpy(key, "entity:", 7);
        klen += 7;
        memcpy(key + klen, e->type.ptr, e->type.len);
        klen += e->type.len;
        key[klen++] = ':';
        memcpy(key + klen, e->id.ptr, e->id.len);
        klen += e->id.len;
        const void *val;
        size_t val_len;
        int found = fmx_store_get(txn, key, klen, &val, &val_len, err);
        if (found < 0) goto done;
        if (found > 0) continue;
        msgpack_object rec;
        if (fmx_node_store_value(val, val_len, task->zone, &rec, err) != 0) goto done;
        if (rec.type != MSGPACK_OBJECT_MAP) continue;
        if (wanted && s_project(&rec, wanted, task->zone) != 0) {
            fmx_err(err, "out of memory");
            goto done;
        }
        e->fields = rec;
        out->v[kept++] = *e;
    }
    out->n = kept;
    rc = 0;
done:
    fmx_store_txn_end(&txn);
    return rc;
}

const fmx_node_type_t fmx_node_hydrate = {"hydrate", NULL, s_run, NULL};
