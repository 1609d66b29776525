/* layout.c - the final page: positions and signed attribution tokens.
 *
 * inputs: 1
 * params:
 *   limit      int, optional (0..)     keep at most this many top-level items
 *   min_items  int, default 0 (0..)    drop carousels (entities with `items`) holding fewer
 *   model      str, optional           the model named in tokens of items whose fields carry no
 *                                      `model` (the feed binds it, e.g. model: "{ranker_model}")
 *
 * Drops undersized carousels first, then truncates to `limit`, then numbers what is left:
 * `position` 0..n-1 on top-level items and, inside every carousel, 0.. on its children (and so on
 * for deeper sub-feeds). Every item and child gets a `token` signed with the actor's token key
 * (schemas/token.h) naming the ranking, the item's path of positions, the context's `feed`, the
 * item's `source`, its model (fields.model, else the `model` param) and the context's
 * `experiments` variants. An actor started without --token-key refuses to serve layout. Children
 * are copied into the zone, never modified in place: inputs are borrowed. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "actors/nodes/nodes.h"
#include "schemas/mpobj.h"

/* What every token of one task shares; path and source/model change per item. */
typedef struct {
    const fmx_token_key_t *key;
    fmx_token_fields_t f;
    fmx_str_t model; /* the `model` param, or empty */
    msgpack_zone *zone;
} s_signer_t;

static int s_init(void **state, const fmx_actor_env_t *env, char err[FMX_ERR_LEN]) {
    (void)state;
    if (!env->token_key)
        return fmx_err(err, "layout signs attribution tokens: start the actor with --token-key FILE "
                            "(cluster.yaml tokens.key_file)");
    return 0;
}

/* context.experiments -> f's variants; -1 with err when there are too many or they are not strs. */
static int s_variants(const msgpack_object *context, fmx_token_fields_t *f, char err[FMX_ERR_LEN]) {
    const msgpack_object *exps = fmx_mp_map_get(context, "experiments");
    f->n_variants = 0;
    if (!exps) return 0;
    if (exps->type != MSGPACK_OBJECT_MAP) return fmx_err(err, "context.experiments is not a map");
    if (exps->via.map.size > FMX_TOKEN_MAX_VARIANTS)
        return fmx_err(err, "%u experiment assignments; tokens hold at most %d", exps->via.map.size,
                       FMX_TOKEN_MAX_VARIANTS);
    for (uint32_t i = 0; i < exps->via.map.size; i++) {
        const msgpack_object *k = &exps->via.map.ptr[i].key, *v = &exps->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_STR)
            return fmx_err(err, "context.experiments holds a non-string assignment");
        f->experiments[f->n_variants] = (fmx_str_t){k->via.str.ptr, k->via.str.size};
        f->variants[f->n_variants] = (fmx_str_t){v->via.str.ptr, v->via.str.size};
        f->n_variants++;
    }
    return 0;
}

/* Numbers e at path[0..depth) and signs its token into the zone. */
static int s_sign(s_signer_t *s, fmx_entity_t *e, size_t depth, char err[FMX_ERR_LEN]) {
    fmx_str_t model = s->model;
    const msgpack_object *m = fmx_entity_field(e, "model", 5);
    if (m && m->type == MSGPACK_OBJECT_STR) model = (fmx_str_t){m->via.str.ptr, m->via.str.size};
    s->f.depth = depth;
    s->f.source = e->source;
    s->f.model = model;
    char buf[FMX_TOKEN_TEXT_MAX + 1];
    size_t n;
    if (fmx_token_sign(s->key, &s->f, buf, sizeof buf, &n, err) != 0) return -1;
    e->token = (fmx_str_t){buf, n};
    if (fmx_node_str_dup(&e->token, s->zone) != 0) return fmx_err(err, "out of memory");
    e->position = s->f.path[depth - 1];
    e->has_position = true;
    return 0;
}

/* Numbers and signs the children of e (at path[0..depth)) and theirs, copying each level. */
static int s_children(s_signer_t *s, fmx_entity_t *e, size_t depth, char err[FMX_ERR_LEN]) {
    if (e->items.n == 0) return 0;
    if (depth >= FMX_ENTITY_MAX_DEPTH) return 0; /* decode refuses deeper trees anyway */
    fmx_entity_t *kids = msgpack_zone_malloc(s->zone, e->items.n * sizeof(*kids));
    if (!kids) return fmx_err(err, "out of memory");
    memcpy(kids, e->items.v, e->items.n * sizeof(*kids));
    e->items.v = kids;
    e->items.cap = e->items.n;
    for (size_t i = 0; i < e->items.n; i++) {
        s->f.path[depth] = (int64_t)i;
        if (s_sign(s, &kids[i], depth + 1, err) != 0 || s_children(s, &kids[i], depth + 1, err) != 0) return -1;
    }
    return 0;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    int64_t limit, min_items;
    if (fmx_node_param_int(task, "limit", INT64_MAX, 0, INT64_MAX, &limit, err) != 0) return -1;
    if (fmx_node_param_int(task, "min_items", 0, 0, INT32_MAX, &min_items, err) != 0) return -1;
    s_signer_t s;
    memset(&s, 0, sizeof s);
    if (fmx_node_param_str(task, "model", false, &s.model, err) < 0) return -1;
    if (task->n_inputs != 1) return fmx_err(err, "layout takes exactly one input");
    if (!task->env || !task->env->token_key) return fmx_err(err, "no token key to sign attribution tokens with");
    if (task->ranking_id.len == 0) return fmx_err(err, "task has no ranking id to attribute to");
    s.key = task->env->token_key;
    s.zone = task->zone;
    s.f.ranking_id = task->ranking_id;
    if (fmx_mp_get_str(task->context, "feed", &s.f.feed) < 0) return fmx_err(err, "context.feed is not a str");
    if (s_variants(task->context, &s.f, err) != 0) return -1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    s.f.issued = now.tv_sec;

    const fmx_entity_list_t *in = &task->inputs[0];
    size_t want = (uint64_t)limit < in->n ? (size_t)limit : in->n;
    if (fmx_entity_list_reserve(out, want, task->zone) != 0) return fmx_err(err, "out of memory");
    for (size_t i = 0; i < in->n && out->n < want; i++) {
        const fmx_entity_t *src = &in->v[i];
        if ((src->has_items || src->items.n > 0) && src->items.n < (uint64_t)min_items) continue;
        fmx_entity_t *e = fmx_entity_list_push(out, src, task->zone);
        if (!e) return fmx_err(err, "out of memory");
        s.f.path[0] = (int64_t)(out->n - 1);
        if (s_sign(&s, e, 1, err) != 0 || s_children(&s, e, 1, err) != 0) return -1;
    }
    return 0;
}

const fmx_node_type_t fmx_node_layout = {"layout", s_init, s_run, NULL};
