/* group.c - entities -> collections (carousels) by the value of a field.
 *
 * inputs: 1
 * params:
 *   by          str, required            the field that groups: fields[by], a str, int or bool;
 *                                        "source" or "type" with no such field group by the
 *                                        entity's own source (the retrieval node) or type
 *   type        str, default "carousel"  entity type of every collection
 *   title       str, default "{value}"   fields.title of a collection; each "{value}" becomes the
 *                                        group's value. In a feed file write "{{value}}": single
 *                                        braces there are the feed's own templates.
 *   min_items   int, default 1 (0..)     drop groups with fewer members (counted before max_items)
 *   max_items   int, default 0 = no cap  keep the first max_items members of each group
 *   max_groups  int, default 0 = no cap  keep the first max_groups groups (after min_items)
 *   score       str, "max" (default), "mean" or "sum"   the collection's score, from its kept
 *                                        members' scores
 *
 * A collection: id "<node>:<value>", type, score, source = this node's name, fields {title,
 * group_by: by, value}, items = its members in input order. Groups come out in the order of their
 * first member, so a ranked input gives the best group first. Entities without the field, or whose
 * value is not a str, int or bool (null, float, map, array), are left out. Unscored members do not
 * count towards the score; a collection with no scored member is unscored. The int 5 and the
 * string "5" are different groups (with the same id). A title is cut to 4096 bytes. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "actors/nodes/nodes.h"

#define S_TITLE_PARAM_MAX 1024
#define S_TITLE_MAX       4096 /* a formatted title is cut there */
#define S_VALUE_TEXT_MAX  24   /* the text of an int or bool value */

typedef enum { S_MAX, S_MEAN, S_SUM } s_agg_t;

typedef struct {
    size_t found;     /* members in the input */
    size_t cap, kept; /* room in items (found cut to max_items), members stored so far */
    size_t first;     /* index of the first member in the input */
    fmx_entity_t *items;
} s_group_t;

/* The value as text: a str as is, an int in decimal, a bool as true/false. */
static fmx_str_t s_value_text(const fmx_scalar_t *v, char buf[S_VALUE_TEXT_MAX]) {
    if (v->kind == FMX_SCALAR_STR) return v->u.s;
    int n = v->kind == FMX_SCALAR_INT ? snprintf(buf, S_VALUE_TEXT_MAX, "%" PRId64, v->u.i)
                                      : snprintf(buf, S_VALUE_TEXT_MAX, "%s", v->u.b ? "true" : "false");
    return (fmx_str_t){buf, n > 0 ? (size_t)n : 0};
}

/* prefix + text + suffix into the zone. */
static int s_concat(fmx_str_t a, fmx_str_t b, fmx_str_t c, msgpack_zone *zone, fmx_str_t *out) {
    size_t n = a.len + b.len + c.len;
    char *p = msgpack_zone_malloc_no_align(zone, n ? n : 1);
    if (!p) return -1;
    if (a.len) memcpy(p, a.ptr, a.len);
    if (b.len) memcpy(p + a.len, b.ptr, b.len);
    if (c.len) memcpy(p + a.len + b.len, c.ptr, c.len);
    *out = (fmx_str_t){p, n};
    return 0;
}

/* Appends src to p[*o..cap), as much as fits. */
static void s_append(char *p, size_t *o, size_t cap, const char *src, size_t len) {
    size_t n = len < cap - *o ? len : cap - *o;
    if (n) memcpy(p + *o, src, n);
    *o += n;
}

/* title with every "{value}" replaced by text, cut to S_TITLE_MAX bytes at a UTF-8 character
 * boundary (a display string: one odd value must not fail the node or allocate without bound). */
static int s_title(fmx_str_t title, fmx_str_t text, msgpack_zone *zone, fmx_str_t *out) {
    static const char ph[] = "{value}";
    const size_t ph_len = sizeof(ph) - 1;
    if (!memmem(title.ptr, title.len, ph, ph_len)) {
        *out = title;
        return 0;
    }
    char *p = msgpack_zone_malloc_no_align(zone, S_TITLE_MAX);
    if (!p) return -1;
    size_t o = 0;
    for (size_t i = 0; i < title.len && o < S_TITLE_MAX;) {
        if (i + ph_len <= title.len && memcmp(title.ptr + i, ph, ph_len) == 0) {
            s_append(p, &o, S_TITLE_MAX, text.ptr, text.len);
            i += ph_len;
        } else {
            p[o++] = title.ptr[i++];
        }
    }
    if (o == S_TITLE_MAX) {
        /* Drop a character the cut split: back to the start of the last sequence, keep it only
         * when complete. */
        size_t start = o;
        while (start > 0 && ((unsigned char)p[start - 1] & 0xC0) == 0x80)
            start--;
        if (start > 0) {
            unsigned char lead = (unsigned char)p[start - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (o - (start - 1) < need) o = start - 1;
        }
    }
    *out = (fmx_str_t){p, o};
    return 0;
}

/* The collection of group g into *c. -1 with err. */
static int s_collection(fmx_task_t *task, const s_group_t *g, const fmx_scalar_t *value, const msgpack_object *raw,
                        fmx_str_t by, fmx_str_t type, fmx_str_t title, s_agg_t agg, fmx_entity_t *c,
                        char err[FMX_ERR_LEN]) {
    char buf[S_VALUE_TEXT_MAX];
    fmx_str_t text = s_value_text(value, buf);
    memset(c, 0, sizeof(*c));
    if (s_concat(task->node, FMX_STR_LIT(":"), text, task->zone, &c->id) != 0) return fmx_err(err, "out of memory");
    c->type = type;
    c->source = task->node;
    fmx_str_t t;
    if (s_title(title, text, task->zone, &t) != 0) return fmx_err(err, "out of memory");

    msgpack_object_kv *kv = msgpack_zone_malloc(task->zone, 3 * sizeof(*kv));
    if (!kv) return fmx_err(err, "out of memory");
    kv[0].key = fmx_node_str_obj(FMX_STR_LIT("title"));
    kv[0].val = fmx_node_str_obj(t);
    kv[1].key = fmx_node_str_obj(FMX_STR_LIT("group_by"));
    kv[1].val = fmx_node_str_obj(by);
    kv[2].key = fmx_node_str_obj(FMX_STR_LIT("value"));
    kv[2].val = *raw; /* typed as found: an int stays an int */
    c->fields.type = MSGPACK_OBJECT_MAP;
    c->fields.via.map.size = 3;
    c->fields.via.map.ptr = kv;

    c->items.v = g->items;
    c->items.n = c->items.cap = g->kept;
    c->has_items = true;

    double acc = 0;
    size_t scored = 0;
    for (size_t i = 0; i < g->kept; i++) {
        const fmx_entity_t *m = &g->items[i];
        if (!m->has_score) continue;
        if (agg == S_MAX)
            acc = scored == 0 || m->score > acc ? m->score : acc;
        else
            acc += m->score;
        scored++;
    }
    if (scored > 0) {
        c->has_score = true;
        c->score = agg == S_MEAN ? acc / (double)scored : acc;
    }
    return 0;
}

/* The grouping value of e as a key and as the object packed into fields.value: fields[by], else
 * the entity's own source or type for by = "source" / "type" (so "sellers you follow" is a group
 * of what the follows retrieval found). false when e has none. */
static bool s_value(const fmx_entity_t *e, fmx_str_t by, fmx_scalar_t *key, msgpack_object *raw) {
    const msgpack_object *f = fmx_entity_field(e, by.ptr, by.len);
    if (f) {
        if (!fmx_node_field_key(e, by, key)) return false;
        *raw = *f;
        return true;
    }
    fmx_str_t own = fmx_node_str_eq(by, FMX_STR_LIT("source")) ? e->source
                    : fmx_node_str_eq(by, FMX_STR_LIT("type")) ? e->type
                                                               : FMX_STR_NULL;
    if (!own.ptr || own.len == 0) return false;
    key->kind = FMX_SCALAR_STR;
    key->u.s = own;
    *raw = fmx_node_str_obj(own);
    return true;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    fmx_str_t by, type, title, score;
    int64_t min_items, max_items, max_groups;
    if (fmx_node_param_str(task, "by", true, &by, err) != 0) return -1;
    if (fmx_node_param_str(task, "type", false, &type, err) < 0) return -1;
    if (fmx_node_param_str(task, "title", false, &title, err) < 0) return -1;
    if (fmx_node_param_str(task, "score", false, &score, err) < 0) return -1;
    if (fmx_node_param_int(task, "min_items", 1, 0, INT32_MAX, &min_items, err) != 0) return -1;
    if (fmx_node_param_int(task, "max_items", 0, 0, INT32_MAX, &max_items, err) != 0) return -1;
    if (fmx_node_param_int(task, "max_groups", 0, 0, INT32_MAX, &max_groups, err) != 0) return -1;
    if (task->n_inputs != 1) return fmx_err(err, "group takes exactly one input");
    if (by.len == 0) return fmx_err(err, "param 'by' is empty");
    if (!type.ptr) type = FMX_STR_LIT("carousel");
    if (type.len == 0) return fmx_err(err, "param 'type' is empty");
    if (!title.ptr) title = FMX_STR_LIT("{value}");
    if (title.len > S_TITLE_PARAM_MAX) return fmx_err(err, "param 'title' is longer than %d bytes", S_TITLE_PARAM_MAX);
    s_agg_t agg = S_MAX;
    if (score.ptr && fmx_node_str_eq(score, FMX_STR_LIT("mean")))
        agg = S_MEAN;
    else if (score.ptr && fmx_node_str_eq(score, FMX_STR_LIT("sum")))
        agg = S_SUM;
    else if (score.ptr && !fmx_node_str_eq(score, FMX_STR_LIT("max")))
        return fmx_err(err, "param 'score' must be \"max\", \"mean\" or \"sum\"");
    /* The strings stay valid until out is packed, but copies cost little and depend on nothing. */
    if (fmx_node_str_dup(&by, task->zone) != 0 || fmx_node_str_dup(&type, task->zone) != 0 ||
        fmx_node_str_dup(&title, task->zone) != 0)
        return fmx_err(err, "out of memory");

    const fmx_entity_list_t *in = &task->inputs[0];
    size_t n = in->n;
    fmx_node_keymap_t map;
    int64_t *group_of = msgpack_zone_malloc(task->zone, (n ? n : 1) * sizeof(*group_of));
    s_group_t *groups = msgpack_zone_malloc(task->zone, (n ? n : 1) * sizeof(*groups));
    if (!group_of || !groups || fmx_node_keymap_init(&map, n, task->zone) != 0) return fmx_err(err, "out of memory");

    for (size_t i = 0; i < n; i++) {
        if (i % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 && fmx_node_deadline_check(task, err) != 0)
            return -1;
        fmx_scalar_t k;
        msgpack_object raw;
        group_of[i] = -1;
        if (!s_value(&in->v[i], by, &k, &raw)) continue;
        size_t before = map.n;
        int64_t g = fmx_node_keymap_find(&map, &k, true);
        if (map.n > before) groups[g] = (s_group_t){.first = i};
        groups[g].found++;
        group_of[i] = g;
    }
    for (size_t g = 0; g < map.n; g++) {
        s_group_t *gr = &groups[g];
        gr->cap = max_items > 0 && (uint64_t)max_items < gr->found ? (size_t)max_items : gr->found;
        gr->items = msgpack_zone_malloc(task->zone, gr->cap * sizeof(*gr->items));
        if (!gr->items) return fmx_err(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (group_of[i] < 0) continue;
        s_group_t *gr = &groups[group_of[i]];
        if (gr->kept < gr->cap) gr->items[gr->kept++] = in->v[i];
    }

    if (fmx_entity_list_reserve(out, map.n, task->zone) != 0) return fmx_err(err, "out of memory");
    for (size_t g = 0; g < map.n; g++) {
        if (groups[g].found < (uint64_t)min_items) continue;
        if (max_groups > 0 && out->n >= (uint64_t)max_groups) break;
        fmx_scalar_t k;
        msgpack_object raw;
        s_value(&in->v[groups[g].first], by, &k, &raw);
        fmx_entity_t c;
        if (s_collection(task, &groups[g], &map.keys[g], &raw, by, type, title, agg, &c, err) != 0) return -1;
        if (!fmx_entity_list_push(out, &c, task->zone)) return fmx_err(err, "out of memory");
    }
    return 0;
}

const fmx_node_type_t fmx_node_group = {"group", NULL, s_run, NULL};
