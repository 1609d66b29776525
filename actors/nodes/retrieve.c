/* retrieve.c - candidates from one store key.
 *
 * inputs: none
 * params:
 *   key          str, required   store key holding a msgpack array of refs {id, type[, score]}
 *                                ("user:{user_id}:follows_live", bound by the broker)
 *   limit        int, default 100 (0..1000000)   at most this many entities, in stored order
 *   entity_type  str, optional   the type of refs that carry none
 *
 * Emits one entity per ref with `source` = this node's name and the ref's score when it has one.
 * A missing key is an empty list, not an error (a new user follows nobody). Refs that are not
 * maps, lack an id or have no type (and no entity_type) are skipped: one bad ref should not cost
 * the whole candidate set. Non-negative integer ids are accepted and turned into strings. */
#include <string.h>

#include "actors/nodes/nodes.h"
#include "schemas/mpobj.h"

#define S_MAX_LIMIT 1000000

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    fmx_str_t key, entity_type;
    int64_t limit;
    if (fmx_node_param_str(task, "key", true, &key, err) < 0) return -1;
    if (fmx_node_param_str(task, "entity_type", false, &entity_type, err) < 0) return -1;
    if (fmx_node_param_int(task, "limit", 100, 0, S_MAX_LIMIT, &limit, err) != 0) return -1;
    if (!task->env || !task->env->store) return fmx_err(err, "no store configured");
    if (key.len == 0) return fmx_err(err, "param 'key' is empty");

    int rc = -1;
    fmx_store_txn_t *txn = fmx_store_read_begin(task->env->store, err);
    if (!txn) return -1;
    const void *val;
    size_t val_len;
    int found = fmx_store_get(txn, key.ptr, key.len, &val, &val_len, err);
    if (found < 0) goto done;
    if (found > 0) {
        rc = 0; /* missing key: empty list */
        goto done;
    }
    msgpack_object refs;
    if (fmx_node_store_value(val, val_len, task->zone, &refs, err) != 0) goto done;
    if (refs.type != MSGPACK_OBJECT_ARRAY) {
        fmx_err(err, "store key '%.*s' is not an array of refs", (int)(key.len > 128 ? 128 : key.len), key.ptr);
        goto done;
    }
    size_t n = refs.via.array.size;
    if (n > (size_t)limit) n = (size_t)limit;
    if (fmx_entity_list_reserve(out, n, task->zone) != 0) {
        fmx_err(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < refs.via.array.size && out->n < (size_t)limit; i++) {
        if (i % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 && fmx_node_deadline_check(task, err) != 0)
            goto done;
        const msgpack_object *ref = &refs.via.array.ptr[i];
        if (ref->type != MSGPACK_OBJECT_MAP) continue;
        fmx_entity_t e;
        memset(&e, 0, sizeof(e));
        e.fields.type = MSGPACK_OBJECT_NIL;
        if (!fmx_node_ref_id(fmx_mp_map_get(ref, "id"), task->zone, &e.id)) continue;
        if (fmx_mp_get_str(ref, "type", &e.type) != 0 || e.type.len == 0) e.type = entity_type;
        if (!e.type.ptr || e.type.len == 0) continue;
        double score;
        if (fmx_mp_get_double(ref, "score", &score) == 0) {
            e.score = score;
            e.has_score = true;
        }
        e.source = task->node;
        if (!fmx_entity_list_push(out, &e, task->zone)) {
            fmx_err(err, "out of memory");
            goto done;
        }
    }
    rc = 0;
done:
    fmx_store_txn_end(&txn);
    return rc;
}

const fmx_node_type_t fmx_node_retrieve = {"retrieve", NULL, s_run, NULL};
