/* filter.c - keeps the entities a predicate accepts.
 *
 * inputs: 1
 * params:
 *   where  expr, required   e.g. "is_live == 1 && viewers > 0" (language: common/expr.h)
 *
 * A name in the expression is looked up, first match wins, in:
 *   1. the entity's fields[name]       (a map or array field reads as null)
 *   2. the entity's id, type, score (null when unscored), source
 *   3. the task context[name]          (user_id, geo, platform, ...)
 * "fields.x" and "context.x" read only that place. An unknown name is null.
 *
 * Compiling is the expensive part, so compiled expressions are cached in the node state keyed
 * by their source text (64 entries, replaced round-robin when full). An actor runs one task at
 * a time, so the cache needs no lock. */
#include <stdlib.h>
#include <string.h>

#include "actors/nodes/nodes.h"
#include "common/expr.h"
#include "schemas/mpobj.h"

#define S_CACHE_SIZE 64
#define S_MAX_SOURCE 4096

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

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    fmx_str_t where;
    if (fmx_node_param_str(task, "where", true, &where, err) != 0) return -1;
    if (task->n_inputs != 1) return fmx_err(err, "filter takes exactly one input");
    if (!task->state) return fmx_err(err, "filter state missing (init not called)");
    const fmx_expr_t *expr = s_compile(task->state, where, err);
    if (!expr) return -1;

    const fmx_entity_list_t *in = &task->inputs[0];
    if (fmx_entity_list_reserve(out, in->n, task->zone) != 0) return fmx_err(err, "out of memory");
    s_scope_t scope = {.e = NULL, .context = task->context};
    for (size_t i = 0; i < in->n; i++) {
        if (i % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 && fmx_node_deadline_check(task, err) != 0)
            return -1;
        scope.e = &in->v[i];
        if (fmx_expr_test(expr, s_lookup, &scope) && !fmx_entity_list_push(out, scope.e, task->zone))
            return fmx_err(err, "out of memory");
    }
    return 0;
}

const fmx_node_type_t fmx_node_filter = {"filter", s_init, s_run, s_fini};
