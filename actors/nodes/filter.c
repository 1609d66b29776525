/* filter.c - keeps the entities a predicate accepts and drops what the viewer saw or blocked.
 *
 * inputs: 1
 * params (at least one of where, seen_key, blocked_key):
 *   where        expr, optional   e.g. "is_live == 1 && viewers > 0" (language: common/expr.h)
 *   seen_key     str, optional    store key holding refs {id, type} ("user:{user_id}:seen", bound
 *                                 by the broker): entities whose (type, id) is among them are dropped
 *   blocked_key  str, optional    store key holding an array of str ids (or refs: their id)
 *                                 ("user:{user_id}:blocked"): an entity is dropped when its id, or
 *                                 the value of any of its blocked_by fields, is in it
 *   blocked_by   list of str, default ["seller_id"]   the fields checked against the blocklist
 *
 * Both keys are read with one batched store read (fmx_store_mget, one read transaction); a
 * missing key drops nothing, a key param without a store is a task error, and so is a stored
 * value that is not an array. Blocklist entries and field values compare as keys (nodes.h): the
 * string "5" does not block the int 5. Only top-level entities are checked, not a carousel's items.
 *
 * A name in the expression is looked up, first match wins, in:
 *   1. the entity's fields[name]       (a map or array field reads as null)
 *   2. the entity's id, type, score (null when unscored), source
 *   3. the task context[name]          (user_id, geo, platform, ...)
 * "fields.x" and "context.x" read only that place. An unknown name is null.
 *
 * Compiling is the expensive part, so compiled expressions are cached in the node state keyed
 * by their source text (64 entries, replaced round-robin when full). Every worker thread inits
 * its own state and runs one task at a time on it, so the cache needs no lock. */
#include <stdlib.h>
#include <string.h>

#include "actors/nodes/nodes.h"
#include "common/expr.h"
#include "schemas/mpobj.h"

#define S_CACHE_SIZE     64
#define S_MAX_SOURCE     4096
#define S_MAX_BLOCKED_BY 64

typedef struct {
    char *src; /* owned copy of the source text */
    size_t len;
    fmx_expr_t *expr;
} s_entry_t;

typedef struct {
    s_entry_t entries[S_CACHE_SIZE];
    size_t next; /* the next slot to replace when full */
} s_state_t;

typedef struct {
    const fmx_entity_t *e;
    const msgpack_object *context;
} s_scope_t;

static bool s_name_is(const char *name, size_t len, const char *lit) {
    size_t n = strlen(lit);
    return len == n && memcmp(name, lit, n) == 0;
}

static int s_from_object(const msgpack_object *o, fmx_scalar_t *out) {
    if (!o || fmx_scalar_from_msgpack(o, out) != 0) {
        out->kind = FMX_SCALAR_NULL;
        return o ? 0 : -1; /* a present non-scalar is a known null */
    }
    return 0;
}

static int s_lookup(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    const s_scope_t *scope = arg;
    const fmx_entity_t *e = scope->e;
    out->kind = FMX_SCALAR_NULL;
    if (len > 7 && memcmp(name, "fields.", 7) == 0) return s_from_object(fmx_entity_field(e, name + 7, len - 7), out);
    if (len > 8 && memcmp(name, "context.", 8) == 0)
        return s_from_object(fmx_mp_map_getn(scope->context, name + 8, len - 8), out);

    const msgpack_object *f = fmx_entity_field(e, name, len);
    if (f) return s_from_object(f, out);
    fmx_str_t s = FMX_STR_NULL;
    if (s_name_is(name, len, "id"))
        s = e->id;
    else if (s_name_is(name, len, "type"))
        s = e->type;
    else if (s_name_is(name, len, "source"))
        s = e->source;
    else if (s_name_is(name, len, "score")) {
        if (e->has_score) {
            out->kind = FMX_SCALAR_FLOAT;
            out->u.f = e->score;
        }
        return 0;
    } else
        return s_from_object(fmx_mp_map_getn(scope->context, name, len), out);
    if (s.ptr) {
        out->kind = FMX_SCALAR_STR;
        out->u.s = s;
    }
    return 0;
}

/* The compiled expression for src, from the cache or freshly compiled into it. */
static const fmx_expr_t *s_compile(s_state_t *st, fmx_str_t src, char err[FMX_ERR_LEN]) {
    for (size_t i = 0; i < S_CACHE_SIZE; i++) {
        s_entry_t *c = &st->entries[i];
        if (c->expr && c->len == src.len && memcmp(c->src, src.ptr, src.len) == 0) return c->expr;
    }
    if (src.len > S_MAX_SOURCE) {
        fmx_err(err, "param 'where' is longer than %d bytes", S_MAX_SOURCE);
        return NULL;
    }
    char *copy = malloc(src.len + 1);
    if (!copy) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    memcpy(copy, src.ptr, src.len);
    copy[src.len] = '\0';
    if (memchr(copy, '\0', src.len)) {
        free(copy);
        fmx_err(err, "param 'where' contains a NUL byte");
        return NULL;
    }
    char perr[FMX_ERR_LEN];
    int col = 0;
    fmx_expr_t *expr = fmx_expr_parse(copy, perr, &col);
    if (!expr) {
        free(copy);
        fmx_err(err, "param 'where': column %d: %s", col, perr);
        return NULL;
    }
    s_entry_t *slot = &st->entries[st->next];
    st->next = (st->next + 1) % S_CACHE_SIZE;
    free(slot->src);
    fmx_expr_destroy(&slot->expr);
    slot->src = copy;
    slot->len = src.len;
    slot->expr = expr;
    return expr;
}

static int s_init(void **state, const fmx_actor_env_t *env, char err[FMX_ERR_LEN]) {
    (void)env;
    s_state_t *st = calloc(1, sizeof(*st));
    if (!st) return fmx_err(err, "out of memory");
    *state = st;
    return 0;
}

static void s_fini(void **state) {
    if (!state || !*state) return;
    s_state_t *st = *state;
    for (size_t i = 0; i < S_CACHE_SIZE; i++) {
        free(st->entries[i].src);
        fmx_expr_destroy(&st->entries[i].expr);
    }
    free(st);
    *state = NULL;
}

/* The seen refs and the blocklist of one task, read from the store. */
typedef struct {
    fmx_entity_list_t seen; /* refs as entities, indexed by seen_set */
    fmx_node_set_t seen_set;
    fmx_node_keymap_t blocked;
    bool has_seen, has_blocked;
} s_drop_t;

/* A stored value that must be an array. -1 with err. */
static int s_stored_array(const void *val, size_t len, fmx_str_t key, msgpack_zone *zone, msgpack_object *out,
                          char err[FMX_ERR_LEN]) {
    if (fmx_node_store_value(val, len, zone, out, err) != 0) return -1;
    if (out->type != MSGPACK_OBJECT_ARRAY)
        return fmx_err(err, "store key '%.*s' is not an array", (int)(key.len > 128 ? 128 : key.len), key.ptr);
    return 0;
}

static int s_load_seen(const msgpack_object *refs, s_drop_t *d, msgpack_zone *zone) {
    uint32_t n = refs->via.array.size;
    if (fmx_entity_list_reserve(&d->seen, n, zone) != 0 || fmx_node_set_init(&d->seen_set, n, zone) != 0) return -1;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *ref = &refs->via.array.ptr[i];
        fmx_entity_t e;
        memset(&e, 0, sizeof(e));
        /* A ref that cannot name an entity cannot match one: skipped. */
        if (!fmx_node_ref_id(fmx_mp_map_get(ref, "id"), zone, &e.id) || fmx_mp_get_str(ref, "type", &e.type) != 0)
            continue;
        if (fmx_node_set_insert(&d->seen_set, &d->seen, &e, d->seen.n) < 0) d->seen.v[d->seen.n++] = e;
    }
    d->has_seen = true;
    return 0;
}

static int s_load_blocked(const msgpack_object *list, s_drop_t *d, msgpack_zone *zone) {
    uint32_t n = list->via.array.size;
    if (fmx_node_keymap_init(&d->blocked, n, zone) != 0) return -1;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        fmx_scalar_t k;
        if (o->type == MSGPACK_OBJECT_MAP) o = fmx_mp_map_get(o, "id");
        if (fmx_node_object_key(o, &k)) fmx_node_keymap_find(&d->blocked, &k, true);
    }
    d->has_blocked = true;
    return 0;
}

/* Reads seen_key and blocked_key (either may be absent) in one batched read. */
static int s_load(fmx_task_t *task, fmx_str_t seen_key, fmx_str_t blocked_key, s_drop_t *d, char err[FMX_ERR_LEN]) {
    if (!task->env || !task->env->store)
        return fmx_err(err, "no store configured (param '%s' needs one)", seen_key.ptr ? "seen_key" : "blocked_key");
    const char *keys[2];
    size_t lens[2], n = 0;
    if (seen_key.ptr) keys[n] = seen_key.ptr, lens[n++] = seen_key.len;
    if (blocked_key.ptr) keys[n] = blocked_key.ptr, lens[n++] = blocked_key.len;
    const void *vals[2] = {NULL, NULL};
    size_t val_lens[2] = {0, 0};
    int rc = -1;
    fmx_store_txn_t *txn = fmx_store_read_begin(task->env->store, err);
    if (!txn) return -1;
    if (fmx_store_mget(txn, n, keys, lens, vals, val_lens, err) != 0) goto done;
    /* Parsing copies the values into the zone, so the transaction may end right after. */
    for (size_t i = 0; i < n; i++) {
        if (!vals[i]) continue; /* missing: nothing to drop */
        bool is_seen = seen_key.ptr && i == 0;
        msgpack_object arr;
        if (s_stored_array(vals[i], val_lens[i], is_seen ? seen_key : blocked_key, task->zone, &arr, err) != 0)
            goto done;
        if ((is_seen ? s_load_seen(&arr, d, task->zone) : s_load_blocked(&arr, d, task->zone)) != 0) {
            fmx_err(err, "out of memory");
            goto done;
        }
    }
    rc = 0;
done:
    fmx_store_txn_end(&txn);
    return rc;
}

static bool s_dropped(s_drop_t *d, const fmx_entity_t *e, const fmx_str_t *blocked_by, size_t n_blocked_by) {
    if (d->has_seen && fmx_node_set_find(&d->seen_set, &d->seen, e) >= 0) return true;
    if (d->has_blocked && d->blocked.n > 0) {
        fmx_scalar_t k = {.kind = FMX_SCALAR_STR, .u.s = e->id};
        if (fmx_node_keymap_find(&d->blocked, &k, false) >= 0) return true;
        for (size_t i = 0; i < n_blocked_by; i++)
            if (fmx_node_field_key(e, blocked_by[i], &k) && fmx_node_keymap_find(&d->blocked, &k, false) >= 0)
                return true;
    }
    return false;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    static const fmx_str_t default_blocked_by = FMX_STR_LIT("seller_id");
    fmx_str_t where, seen_key, blocked_key, *listed;
    size_t n_blocked_by;
    if (fmx_node_param_str(task, "where", false, &where, err) < 0) return -1;
    if (fmx_node_param_str(task, "seen_key", false, &seen_key, err) < 0) return -1;
    if (fmx_node_param_str(task, "blocked_key", false, &blocked_key, err) < 0) return -1;
    int rc = fmx_node_param_str_list(task, "blocked_by", S_MAX_BLOCKED_BY, &listed, &n_blocked_by, err);
    if (rc < 0) return -1;
    const fmx_str_t *blocked_by = listed;
    if (rc > 0) {
        blocked_by = &default_blocked_by;
        n_blocked_by = 1;
    }
    if (!where.ptr && !seen_key.ptr && !blocked_key.ptr)
        return fmx_err(err, "filter needs param 'where', 'seen_key' or 'blocked_key'");
    if ((seen_key.ptr && seen_key.len == 0) || (blocked_key.ptr && blocked_key.len == 0))
        return fmx_err(err, "param '%s' is empty", seen_key.ptr && seen_key.len == 0 ? "seen_key" : "blocked_key");
    if (task->n_inputs != 1) return fmx_err(err, "filter takes exactly one input");
    if (!task->state) return fmx_err(err, "filter state missing (init not called)");
    const fmx_expr_t *expr = NULL;
    if (where.ptr && !(expr = s_compile(task->state, where, err))) return -1;
    s_drop_t drop;
    memset(&drop, 0, sizeof(drop));
    if ((seen_key.ptr || blocked_key.ptr) && s_load(task, seen_key, blocked_key, &drop, err) != 0) return -1;

    const fmx_entity_list_t *in = &task->inputs[0];
    if (fmx_entity_list_reserve(out, in->n, task->zone) != 0) return fmx_err(err, "out of memory");
    s_scope_t scope = {.e = NULL, .context = task->context};
    for (size_t i = 0; i < in->n; i++) {
        if (i % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 && fmx_node_deadline_check(task, err) != 0)
            return -1;
        scope.e = &in->v[i];
        if (s_dropped(&drop, scope.e, blocked_by, n_blocked_by)) continue;
        if (expr && !fmx_expr_test(expr, s_lookup, &scope)) continue;
        if (!fmx_entity_list_push(out, scope.e, task->zone)) return fmx_err(err, "out of memory");
    }
    return 0;
}

const fmx_node_type_t fmx_node_filter = {"filter", s_init, s_run, s_fini};
