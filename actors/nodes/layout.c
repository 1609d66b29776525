/* layout.c - the final page: positions and attribution tokens.
 *
 * inputs: 1
 * params:
 *   limit      int, optional (0..)     keep at most this many top-level items
 *   min_items  int, default 0 (0..)    drop carousels (entities with `items`) holding fewer
 *
 * Drops undersized carousels first, then truncates to `limit`, then numbers what is left:
 * `position` 0..n-1 on top-level items and, inside every carousel, 0.. on its children (and so on
 * for deeper sub-feeds). Every item and child gets a `token`; for now it is the plain string
 * "v1.<ranking_id>.<variants>.<position>", children "...<pos>.<childpos>", where <variants> is
 * "exp=variant+exp2=variant2" from the context's `experiments` map, or "-" when the viewer is in
 * none (issue "Observability" replaces it with a signed token). Children are copied into the zone, never
 * modified in place: inputs are borrowed. */
#include <stdio.h>
#include <string.h>

#include "actors/nodes/nodes.h"
#include "schemas/mpobj.h"

/* Longest token we build: "v1." + ranking id + "." + variants + FMX_ENTITY_MAX_DEPTH positions. */
#define S_MAX_RANKING_ID 128
#define S_MAX_VARIANTS   256
#define S_PREFIX_MAX     (3 + S_MAX_RANKING_ID + 1 + S_MAX_VARIANTS + 1)
#define S_TOKEN_MAX      (S_PREFIX_MAX + (FMX_ENTITY_MAX_DEPTH + 1) * 21 + 1)

/* "exp=variant+exp2=variant2" from context.experiments, "-" when empty. -1 when too long. */
static int s_variants(const msgpack_object *context, char *buf, size_t cap) {
    const msgpack_object *exps = fmx_mp_map_get(context, "experiments");
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; exps && exps->type == MSGPACK_OBJECT_MAP && i < exps->via.map.size; i++) {
        const msgpack_object *k = &exps->via.map.ptr[i].key, *v = &exps->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_STR) continue;
        int w = snprintf(buf + n, cap - n, "%s%.*s=%.*s", n ? "+" : "", (int)k->via.str.size, k->via.str.ptr,
                         (int)v->via.str.size, v->via.str.ptr);
        if (w < 0 || (size_t)w >= cap - n) return -1;
        n += (size_t)w;
    }
    if (n == 0) snprintf(buf, cap, "-");
    return 0;
}

static int s_set_token(fmx_entity_t *e, const char *prefix, size_t prefix_len, int64_t pos, msgpack_zone *zone,
                       char *buf) {
    int n = snprintf(buf, S_TOKEN_MAX, "%.*s.%lld", (int)prefix_len, prefix, (long long)pos);
    if (n < 0 || n >= S_TOKEN_MAX) return -1;
    char *p = msgpack_zone_malloc_no_align(zone, (size_t)n);
    if (!p) return -1;
    memcpy(p, buf, (size_t)n);
    e->token = (fmx_str_t){p, (size_t)n};
    e->position = pos;
    e->has_position = true;
    return 0;
}

/* Numbers the children of e (whose token is set) and theirs, copying each level. */
static int s_children(fmx_entity_t *e, int depth, msgpack_zone *zone) {
    if (e->items.n == 0) return 0;
    if (depth >= FMX_ENTITY_MAX_DEPTH) return 0; /* decode refuses deeper trees anyway */
    fmx_entity_t *kids = msgpack_zone_malloc(zone, e->items.n * sizeof(*kids));
    if (!kids) return -1;
    memcpy(kids, e->items.v, e->items.n * sizeof(*kids));
    e->items.v = kids;
    e->items.cap = e->items.n;
    char buf[S_TOKEN_MAX];
    for (size_t i = 0; i < e->items.n; i++) {
        if (s_set_token(&kids[i], e->token.ptr, e->token.len, (int64_t)i, zone, buf) != 0) return -1;
        if (s_children(&kids[i], depth + 1, zone) != 0) return -1;
    }
    return 0;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    int64_t limit, min_items;
    if (fmx_node_param_int(task, "limit", INT64_MAX, 0, INT64_MAX, &limit, err) != 0) return -1;
    if (fmx_node_param_int(task, "min_items", 0, 0, INT32_MAX, &min_items, err) != 0) return -1;
    if (task->n_inputs != 1) return fmx_err(err, "layout takes exactly one input");
    if (task->ranking_id.len > S_MAX_RANKING_ID)
        return fmx_err(err, "ranking id longer than %d bytes", S_MAX_RANKING_ID);

    char variants[S_MAX_VARIANTS + 1];
    if (s_variants(task->context, variants, sizeof variants) != 0)
        return fmx_err(err, "experiment assignments longer than %d bytes", S_MAX_VARIANTS);
    char prefix[S_PREFIX_MAX];
    int plen = snprintf(prefix, sizeof(prefix), "v1.%.*s.%s", (int)task->ranking_id.len,
                        task->ranking_id.ptr ? task->ranking_id.ptr : "", variants);
    if (plen < 0 || (size_t)plen >= sizeof(prefix)) return fmx_err(err, "bad ranking id");

    const fmx_entity_list_t *in = &task->inputs[0];
    size_t want = (uint64_t)limit < in->n ? (size_t)limit : in->n;
    if (fmx_entity_list_reserve(out, want, task->zone) != 0) return fmx_err(err, "out of memory");
    char buf[S_TOKEN_MAX];
    for (size_t i = 0; i < in->n && out->n < want; i++) {
        const fmx_entity_t *src = &in->v[i];
        if ((src->has_items || src->items.n > 0) && src->items.n < (uint64_t)min_items) continue;
        fmx_entity_t *e = fmx_entity_list_push(out, src, task->zone);
        if (!e) return fmx_err(err, "out of memory");
        if (s_set_token(e, prefix, (size_t)plen, (int64_t)(out->n - 1), task->zone, buf) != 0 ||
            s_children(e, 1, task->zone) != 0)
            return fmx_err(err, "out of memory");
    }
    return 0;
}

const fmx_node_type_t fmx_node_layout = {"layout", NULL, s_run, NULL};
