/* blend.c - mixes several lists into one page and spreads out sellers.
 *
 * inputs: 1..n
 * params:
 *   strategy             str, "slots" (default) or "concat"
 *   every                int, default 5 (1..)   slots: main items between two inserted ones
 *   max_run_same_seller  int, default 0 = off    at most this many consecutive items with the
 *                                                same fields.seller_id
 *   limit                int, optional (0..)     keep at most this many, after debunching
 *
 * slots: input 0 is the main list. After every `every` main items, the next entity of inputs
 * 1..n is inserted, taking the inputs in turn and skipping exhausted ones (a carousel after the
 * 5th stream, a promoted product after the 10th, ...). Side entities are only inserted after a
 * full group of main items, so a short main list never ends in a pile of inserts.
 * concat: the inputs one after the other.
 *
 * Debunching walks the blended list and, whenever taking the next item would make a run of more
 * than max_run_same_seller items of one seller, takes the first later item of another seller
 * instead; everything else keeps its relative order. When no other seller is left the item is
 * kept anyway. Items without a seller_id never form runs. Linear in practice: the search for
 * "another seller" resumes where the last one stopped, and remembers when none is left. */
#include <string.h>

#include "actors/nodes/nodes.h"
#include "common/scalar.h"

#define S_NONE SIZE_MAX

typedef struct {
    bool has;
    fmx_scalar_t v; /* str or int */
} s_seller_t;

static s_seller_t s_seller_of(const fmx_entity_t *e) {
    s_seller_t s = {0};
    const msgpack_object *o = fmx_entity_field(e, "seller_id", 9);
    if (o && fmx_scalar_from_msgpack(o, &s.v) == 0 && (s.v.kind == FMX_SCALAR_STR || s.v.kind == FMX_SCALAR_INT))
        s.has = true;
    return s;
}

static bool s_same(const s_seller_t *a, const s_seller_t *b) {
    if (!a->has || !b->has || a->v.kind != b->v.kind) return false;
    if (a->v.kind == FMX_SCALAR_INT) return a->v.u.i == b->v.u.i;
    return fmx_node_str_eq(a->v.u.s, b->v.u.s);
}

/* Reorders list so that no seller runs longer than max_run where avoidable. */
static int s_debunch(fmx_entity_list_t *list, size_t max_run, msgpack_zone *zone) {
    size_t n = list->n;
    if (n < 2) return 0;
    /* The items not yet placed, as a doubly linked list over indices. */
    size_t *next = msgpack_zone_malloc(zone, n * sizeof(*next));
    size_t *prev = msgpack_zone_malloc(zone, n * sizeof(*prev));
    bool *taken = msgpack_zone_malloc(zone, n * sizeof(*taken));
    s_seller_t *sellers = msgpack_zone_malloc(zone, n * sizeof(*sellers));
    fmx_entity_t *placed = msgpack_zone_malloc(zone, n * sizeof(*placed));
    if (!next || !prev || !taken || !sellers || !placed) return -1;
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? i + 1 : S_NONE;
        prev[i] = i > 0 ? i - 1 : S_NONE;
        taken[i] = false;
        sellers[i] = s_seller_of(&list->v[i]);
    }
    size_t head = 0;
    size_t run = 0;
    s_seller_t run_seller = {0};
    /* Search memory, kept across runs: every untaken item from head up to `resume` has seller
     * resume_seller (items only ever leave the list, so this stays true until resume is taken),
     * and no item of a seller other than none_left_seller remains once none_left is set. */
    size_t resume = S_NONE;
    s_seller_t resume_seller = {0}, none_left_seller = {0};
    bool none_left = false;

    for (size_t out = 0; out < n; out++) {
        size_t pick = head;
        if (run >= max_run && s_same(&sellers[head], &run_seller) &&
            !(none_left && s_same(&none_left_seller, &run_seller))) {
            size_t p = head;
            if (resume != S_NONE && !taken[resume] && s_same(&resume_seller, &run_seller)) p = resume;
            while (p != S_NONE && s_same(&sellers[p], &run_seller))
                p = next[p];
            if (p == S_NONE) {
                none_left = true;
                none_left_seller = run_seller;
            } else {
                pick = p;
                resume = prev[p]; /* a run_seller item, still untaken */
                resume_seller = run_seller;
            }
        }
        /* unlink pick */
        if (prev[pick] != S_NONE) next[prev[pick]] = next[pick];
        if (next[pick] != S_NONE) prev[next[pick]] = prev[pick];
        if (pick == head) head = next[pick];
        taken[pick] = true;
        placed[out] = list->v[pick];

        if (s_same(&sellers[pick], &run_seller)) {
            run++;
        } else {
            run = 1;
            run_seller = sellers[pick];
        }
    }
    list->v = placed;
    list->cap = n;
    return 0;
}

static int s_slots(fmx_task_t *task, size_t every, fmx_entity_list_t *out) {
    const fmx_entity_list_t *main_list = &task->inputs[0];
    size_t *cursor = msgpack_zone_malloc(task->zone, task->n_inputs * sizeof(*cursor));
    if (!cursor) return -1;
    memset(cursor, 0, task->n_inputs * sizeof(*cursor));
    size_t turn = 1; /* the side input whose turn it is */
    for (size_t i = 0; i < main_list->n; i++) {
        if (!fmx_entity_list_push(out, &main_list->v[i], task->zone)) return -1;
        if ((i + 1) % every != 0 || task->n_inputs < 2) continue;
        for (size_t tried = 0; tried < task->n_inputs - 1; tried++) {
            size_t k = turn;
            turn = turn + 1 < task->n_inputs ? turn + 1 : 1;
            if (cursor[k] < task->inputs[k].n) {
                if (!fmx_entity_list_push(out, &task->inputs[k].v[cursor[k]++], task->zone)) return -1;
                break;
            }
        }
    }
    return 0;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    fmx_str_t strategy;
    int64_t every, max_run, limit;
    if (fmx_node_param_str(task, "strategy", false, &strategy, err) < 0) return -1;
    if (fmx_node_param_int(task, "every", 5, 1, INT32_MAX, &every, err) != 0) return -1;
    if (fmx_node_param_int(task, "max_run_same_seller", 0, 0, INT32_MAX, &max_run, err) != 0) return -1;
    if (fmx_node_param_int(task, "limit", INT64_MAX, 0, INT64_MAX, &limit, err) != 0) return -1;
    bool concat = false;
    if (strategy.ptr && fmx_node_str_eq(strategy, FMX_STR_LIT("concat")))
        concat = true;
    else if (strategy.ptr && !fmx_node_str_eq(strategy, FMX_STR_LIT("slots")))
        return fmx_err(err, "param 'strategy' must be \"slots\" or \"concat\"");
    if (task->n_inputs < 1) return fmx_err(err, "blend needs at least one input");

    if (fmx_entity_list_reserve(out, fmx_node_input_total(task), task->zone) != 0) return fmx_err(err, "out of memory");
    if (concat) {
        for (size_t i = 0; i < task->n_inputs; i++)
            for (size_t j = 0; j < task->inputs[i].n; j++)
                if (!fmx_entity_list_push(out, &task->inputs[i].v[j], task->zone)) return fmx_err(err, "out of memory");
    } else if (s_slots(task, (size_t)every, out) != 0) {
        return fmx_err(err, "out of memory");
    }
    if (max_run > 0 && s_debunch(out, (size_t)max_run, task->zone) != 0) return fmx_err(err, "out of memory");
    if ((uint64_t)limit < out->n) out->n = (size_t)limit;
    return 0;
}

const fmx_node_type_t fmx_node_blend = {"blend", NULL, s_run, NULL};
