/* blend.c - mixes several lists into one page and spreads out sellers (or any field).
 *
 * inputs: 1..n
 * params:
 *   strategy             str, "slots" (default), "concat", "weave" or "score"
 *   every                int, default 5 (1..)       slots: main items between two inserted ones
 *   ratio                list of int (0..), one per input, default all 1
 *                                                   weave: take ratio[0] from input 0, ratio[1]
 *                                                   from input 1, ..., and repeat
 *   quotas               list of int (0..), one per input, default all 0
 *                                                   score: most items taken from each input
 *                                                   (0 = no cap)
 *   debunch_by           str, default "seller_id"   the field whose runs max_run bounds
 *   max_run              int, default 0 = off        at most this many consecutive items with the
 *                                                   same fields[debunch_by]
 *   max_run_same_seller  int, default 0 = off        shorthand: max_run with debunch_by seller_id
 *                                                   (giving both max_run and this is an error)
 *   limit                int, optional (0..)        keep at most this many, after debunching
 *
 * slots: input 0 is the main list. After every `every` main items, the next entity of inputs
 * 1..n is inserted, taking the inputs in turn and skipping exhausted ones (a carousel after the
 * 5th stream, a promoted product after the 10th, ...). Side entities are only inserted after a
 * full group of main items, so a short main list never ends in a pile of inserts.
 * concat: the inputs one after the other.
 * weave: rounds of ratio[i] entities from each input i in turn, skipping exhausted inputs, until
 * all are exhausted ([3, 1]: three streams, one product, three streams, ...). A 0 never takes.
 * score: every input merged by score, descending (unscored last); ties keep input order, then
 * position. An entity past its input's quota is skipped and the merge goes on with the others.
 *
 * Debunching walks the blended list and, whenever taking the next item would make a run of more
 * than max_run items with one value of the field, takes the first later item with another value
 * instead; everything else keeps its relative order. When no other value is left the item is
 * kept anyway. Items without the field (or with a value that is not a str, int or bool) never
 * form runs. Linear in practice: the search for "another value" resumes where the last one
 * stopped, and remembers when none is left. */
#include <math.h>
#include <string.h>

#include "actors/nodes/nodes.h"

#define S_NONE SIZE_MAX

/* An item's run key: a value of the debunch field, or none (never forms a run). */
typedef struct {
    bool has;
    fmx_scalar_t v;
} s_seller_t;

static s_seller_t s_seller_of(const fmx_entity_t *e, fmx_str_t field) {
    s_seller_t s = {0};
    s.has = fmx_node_field_key(e, field, &s.v);
    return s;
}

static bool s_same(const s_seller_t *a, const s_seller_t *b) {
    return a->has && b->has && fmx_node_key_eq(&a->v, &b->v);
}

/* Reorders list so that no value of field runs longer than max_run where avoidable. */
static int s_debunch(fmx_entity_list_t *list, fmx_str_t field, size_t max_run, msgpack_zone *zone) {
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
        sellers[i] = s_seller_of(&list->v[i], field);
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

/* Rounds of ratio[i] from each input i, skipping exhausted ones. */
static int s_weave(fmx_task_t *task, const int64_t *ratio, fmx_entity_list_t *out) {
    size_t *cursor = msgpack_zone_malloc(task->zone, task->n_inputs * sizeof(*cursor));
    if (!cursor) return -1;
    memset(cursor, 0, task->n_inputs * sizeof(*cursor));
    for (bool progress = true; progress;) {
        progress = false;
        for (size_t i = 0; i < task->n_inputs; i++) {
            const fmx_entity_list_t *in = &task->inputs[i];
            size_t take = ratio ? (size_t)ratio[i] : 1;
            for (size_t k = 0; k < take && cursor[i] < in->n; k++, progress = true)
                if (!fmx_entity_list_push(out, &in->v[cursor[i]++], task->zone)) return -1;
        }
    }
    return 0;
}

/* Every input merged by score (stable), each input capped at its quota. */
static int s_by_score(fmx_task_t *task, const int64_t *quotas, fmx_entity_list_t *out) {
    size_t total = fmx_node_input_total(task);
    double *keys = msgpack_zone_malloc(task->zone, (total ? total : 1) * sizeof(*keys));
    const fmx_entity_t **all = msgpack_zone_malloc(task->zone, (total ? total : 1) * sizeof(*all));
    size_t *from = msgpack_zone_malloc(task->zone, (total ? total : 1) * sizeof(*from));
    size_t *taken = msgpack_zone_malloc(task->zone, task->n_inputs * sizeof(*taken));
    size_t *order;
    if (!keys || !all || !from || !taken) return -1;
    memset(taken, 0, task->n_inputs * sizeof(*taken));
    /* Concatenated in input order, the sort's index tie-break is exactly "input, then position". */
    size_t k = 0;
    for (size_t i = 0; i < task->n_inputs; i++)
        for (size_t j = 0; j < task->inputs[i].n; j++, k++) {
            all[k] = &task->inputs[i].v[j];
            keys[k] = all[k]->has_score ? all[k]->score : -INFINITY;
            from[k] = i;
        }
    if (fmx_node_order_desc(keys, total, &order, task->zone) != 0) return -1;
    for (size_t r = 0; r < total; r++) {
        size_t i = from[order[r]];
        if (quotas && quotas[i] > 0 && taken[i] >= (uint64_t)quotas[i]) continue;
        taken[i]++;
        if (!fmx_entity_list_push(out, all[order[r]], task->zone)) return -1;
    }
    return 0;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    fmx_str_t strategy, debunch_by;
    int64_t every, max_run, max_run_seller, limit;
    int64_t *ratio = NULL, *quotas = NULL;
    size_t n_ratio = 0, n_quotas = 0;
    if (fmx_node_param_str(task, "strategy", false, &strategy, err) < 0) return -1;
    if (fmx_node_param_int(task, "every", 5, 1, INT32_MAX, &every, err) != 0) return -1;
    if (fmx_node_param_str(task, "debunch_by", false, &debunch_by, err) < 0) return -1;
    if (fmx_node_param_int(task, "max_run", 0, 0, INT32_MAX, &max_run, err) != 0) return -1;
    if (fmx_node_param_int(task, "max_run_same_seller", 0, 0, INT32_MAX, &max_run_seller, err) != 0) return -1;
    if (fmx_node_param_int(task, "limit", INT64_MAX, 0, INT64_MAX, &limit, err) != 0) return -1;
    if (task->n_inputs < 1) return fmx_err(err, "blend needs at least one input");
    if (fmx_node_param_int_list(task, "ratio", task->n_inputs, 0, INT32_MAX, &ratio, &n_ratio, err) < 0) return -1;
    if (ratio && n_ratio != task->n_inputs)
        return fmx_err(err, "param 'ratio' has %zu entries for %zu inputs", n_ratio, task->n_inputs);
    if (fmx_node_param_int_list(task, "quotas", task->n_inputs, 0, INT64_MAX, &quotas, &n_quotas, err) < 0) return -1;
    if (quotas && n_quotas != task->n_inputs)
        return fmx_err(err, "param 'quotas' has %zu entries for %zu inputs", n_quotas, task->n_inputs);
    if (max_run > 0 && max_run_seller > 0)
        return fmx_err(err, "give param 'max_run' (with 'debunch_by') or 'max_run_same_seller', not both");
    if (max_run == 0 && max_run_seller > 0) {
        max_run = max_run_seller;
        debunch_by = FMX_STR_LIT("seller_id");
    }
    if (!debunch_by.ptr) debunch_by = FMX_STR_LIT("seller_id");
    if (max_run > 0 && debunch_by.len == 0) return fmx_err(err, "param 'debunch_by' is empty");

    enum { SLOTS, CONCAT, WEAVE, SCORE } how = SLOTS;
    if (!strategy.ptr || fmx_node_str_eq(strategy, FMX_STR_LIT("slots")))
        how = SLOTS;
    else if (fmx_node_str_eq(strategy, FMX_STR_LIT("concat")))
        how = CONCAT;
    else if (fmx_node_str_eq(strategy, FMX_STR_LIT("weave")))
        how = WEAVE;
    else if (fmx_node_str_eq(strategy, FMX_STR_LIT("score")))
        how = SCORE;
    else
        return fmx_err(err, "param 'strategy' must be \"slots\", \"concat\", \"weave\" or \"score\"");

    if (fmx_entity_list_reserve(out, fmx_node_input_total(task), task->zone) != 0) return fmx_err(err, "out of memory");
    int rc = 0;
    switch (how) {
    case CONCAT:
        for (size_t i = 0; i < task->n_inputs && rc == 0; i++)
            for (size_t j = 0; j < task->inputs[i].n && rc == 0; j++)
                if (!fmx_entity_list_push(out, &task->inputs[i].v[j], task->zone)) rc = -1;
        break;
    case SLOTS: rc = s_slots(task, (size_t)every, out); break;
    case WEAVE: rc = s_weave(task, ratio, out); break;
    case SCORE: rc = s_by_score(task, quotas, out); break;
    }
    if (rc != 0) return fmx_err(err, "out of memory");
    if (fmx_node_deadline_check(task, err) != 0) return -1;
    if (max_run > 0 && s_debunch(out, debunch_by, (size_t)max_run, task->zone) != 0)
        return fmx_err(err, "out of memory");
    if ((uint64_t)limit < out->n) out->n = (size_t)limit;
    return 0;
}

const fmx_node_type_t fmx_node_blend = {"blend", NULL, s_run, NULL};
