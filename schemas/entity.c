/* entity.c - feed entities: decode from msgpack, pack to msgpack, zone-grown lists (entity.h). */
#include "schemas/entity.h"

#include <inttypes.h>
#include <string.h>

#include "schemas/mpcheck.h"
#include "schemas/mpobj.h"

void fmx_entity_list_init(fmx_entity_list_t *list) {
    list->v = NULL;
    list->n = 0;
    list->cap = 0;
}

int fmx_entity_list_reserve(fmx_entity_list_t *list, size_t cap, msgpack_zone *zone) {
    if (cap <= list->cap) return 0;
    if (cap > SIZE_MAX / sizeof(fmx_entity_t)) return -1;
    /* Zones cannot realloc: take a fresh array and copy; the old one stays in the zone until
     * the zone is cleared, which doubling bounds to at most the size of the final array. */
    fmx_entity_t *v = msgpack_zone_malloc(zone, cap * sizeof(fmx_entity_t));
    if (!v) return -1;
    if (list->n > 0) memcpy(v, list->v, list->n * sizeof(fmx_entity_t));
    list->v = v;
    list->cap = cap;
    return 0;
}

fmx_entity_t *fmx_entity_list_push(fmx_entity_list_t *list, const fmx_entity_t *e, msgpack_zone *zone) {
    fmx_entity_t copy = *e; /* e may point into list->v itself */
    if (list->n == list->cap) {
        if (list->cap > SIZE_MAX / 2) return NULL;
        if (fmx_entity_list_reserve(list, list->cap < 8 ? 8 : list->cap * 2, zone) < 0) return NULL;
    }
    list->v[list->n] = copy;
    return &list->v[list->n++];
}

/* ---- decoding ------------------------------------------------------------------------------ */

enum { K_ID, K_TYPE, K_SCORE, K_POSITION, K_SOURCE, K_TOKEN, K_FIELDS, K_ITEMS, K_COUNT };
static const char *const s_keys[K_COUNT] = {
    [K_ID] = "id",         [K_TYPE] = "type",   [K_SCORE] = "score",   [K_POSITION] = "position",
    [K_SOURCE] = "source", [K_TOKEN] = "token", [K_FIELDS] = "fields", [K_ITEMS] = "items",
};

static int s_list_decode(const msgpack_object *array, msgpack_zone *zone, fmx_entity_list_t *out, unsigned level,
                         char err[FMX_ERR_LEN]);

static int s_str(const msgpack_object *o, const char *key, fmx_str_t *out, char err[FMX_ERR_LEN]) {
    if (o->type != MSGPACK_OBJECT_STR) return fmx_err(err, "`%s` must be a str, got %s", key, fmx_mp_type_name(o));
    out->ptr = o->via.str.ptr;
    out->len = o->via.str.size;
    return 0;
}

/* Decodes one entity map into e. Messages are relative to the entity ("`id` is missing"); the
 * caller prefixes the position. An optional key whose value is nil counts as absent. */
static int s_entity_decode(const msgpack_object *o, msgpack_zone *zone, fmx_entity_t *e, unsigned level,
                           char err[FMX_ERR_LEN]) {
    memset(e, 0, sizeof(*e));
    e->fields.type = MSGPACK_OBJECT_NIL;
    if (o->type != MSGPACK_OBJECT_MAP) return fmx_err(err, "not a map (got %s)", fmx_mp_type_name(o));

    const msgpack_object *val[K_COUNT] = {0};
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) continue; /* unknown key: dropped */
        for (int k = 0; k < K_COUNT; k++) {
            if (fmx_mp_str_eq(&kv->key, s_keys[k])) {
                if (val[k]) return fmx_err(err, "duplicate key `%s`", s_keys[k]);
                val[k] = &kv->val;
                break;
            }
        }
    }
    for (int k = K_SCORE; k < K_COUNT; k++)
        if (val[k] && val[k]->type == MSGPACK_OBJECT_NIL) val[k] = NULL;

    if (!val[K_ID]) return fmx_err(err, "`id` is missing");
    if (s_str(val[K_ID], "id", &e->id, err) < 0) return -1;
    if (!val[K_TYPE]) return fmx_err(err, "`type` is missing");
    if (s_str(val[K_TYPE], "type", &e->type, err) < 0) return -1;

    if (val[K_SCORE]) {
        const msgpack_object *s = val[K_SCORE];
        if (s->type == MSGPACK_OBJECT_FLOAT32 || s->type == MSGPACK_OBJECT_FLOAT64)
            e->score = s->via.f64;
        else if (s->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            e->score = (double)s->via.u64;
        else if (s->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            e->score = (double)s->via.i64;
        else
            return fmx_err(err, "`score` must be a number, got %s", fmx_mp_type_name(s));
        e->has_score = true;
    }
    if (val[K_POSITION]) {
        const msgpack_object *p = val[K_POSITION];
        if (p->type == MSGPACK_OBJECT_POSITIVE_INTEGER && p->via.u64 <= (uint64_t)INT64_MAX)
            e->position = (int64_t)p->via.u64;
        else if (p->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            e->position = p->via.i64;
        else
            return fmx_err(err, "`position` must be a 64-bit int, got %s", fmx_mp_type_name(p));
        e->has_position = true;
    }
    if (val[K_SOURCE] && s_str(val[K_SOURCE], "source", &e->source, err) < 0) return -1;
    if (val[K_TOKEN] && s_str(val[K_TOKEN], "token", &e->token, err) < 0) return -1;
    if (val[K_FIELDS]) {
        if (val[K_FIELDS]->type != MSGPACK_OBJECT_MAP)
            return fmx_err(err, "`fields` must be a map, got %s", fmx_mp_type_name(val[K_FIELDS]));
        e->fields = *val[K_FIELDS];
    }
    if (val[K_ITEMS]) {
        if (val[K_ITEMS]->type != MSGPACK_OBJECT_ARRAY)
            return fmx_err(err, "`items` must be an array, got %s", fmx_mp_type_name(val[K_ITEMS]));
        if (s_list_decode(val[K_ITEMS], zone, &e->items, level + 1, err) < 0) return -1;
        e->has_items = true;
    }
    return 0;
}

/* level 1 is the top-level list; a carousel's `items` is level 2, and so on. */
static int s_list_decode(const msgpack_object *array, msgpack_zone *zone, fmx_entity_list_t *out, unsigned level,
                         char err[FMX_ERR_LEN]) {
    fmx_entity_list_init(out);
    if (array->type != MSGPACK_OBJECT_ARRAY)
        return fmx_err(err, "expected an array of entities, got %s", fmx_mp_type_name(array));
    if (level > FMX_ENTITY_MAX_DEPTH) return fmx_err(err, "`items` nested deeper than %d levels", FMX_ENTITY_MAX_DEPTH);

    /* The list grows as entities pass, rather than reserving array.size up front: a result of a
     * million empty maps then fails on the first one instead of allocating for all of them. */
    for (uint32_t i = 0; i < array->via.array.size; i++) {
        fmx_entity_t e;
        char why[FMX_ERR_LEN];
        if (s_entity_decode(&array->via.array.ptr[i], zone, &e, level, why) < 0) {
            /* Nested messages already start with "items[j]": join them into one path. */
            if (strncmp(why, "items[", 6) == 0) return fmx_err(err, "items[%" PRIu32 "].%s", i, why);
            return fmx_err(err, "items[%" PRIu32 "]: %s", i, why);
        }
        if (!fmx_entity_list_push(out, &e, zone))
            return fmx_err(err, "out of memory decoding %" PRIu32 " entities", array->via.array.size);
    }
    return 0;
}

int fmx_entity_list_decode(const msgpack_object *array, msgpack_zone *zone, fmx_entity_list_t *out,
                           char err[FMX_ERR_LEN]) {
    return s_list_decode(array, zone, out, 1, err);
}

int fmx_entity_list_decode_frame(const void *buf, size_t len, msgpack_zone *zone, fmx_entity_list_t *out,
                                 char err[FMX_ERR_LEN]) {
    char why[FMX_ERR_LEN];
    fmx_entity_list_init(out);
    if (fmx_mp_check(buf, len, &fmx_mp_limits_result, why) < 0)
        return fmx_err(err, "entity frame is not valid msgpack: %s", why);

    msgpack_object root;
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack(buf, len, &off, zone, &root);
    if (rc == MSGPACK_UNPACK_NOMEM_ERROR)
        return fmx_err(err, "out of memory unpacking an entity frame of %zu bytes", len);
    if (rc != MSGPACK_UNPACK_SUCCESS)
        return fmx_err(err, "entity frame is not valid msgpack (unpack returned %d)", (int)rc);
    return s_list_decode(&root, zone, out, 1, err);
}

/* ---- packing ------------------------------------------------------------------------------- */

static int s_kv_str(msgpack_packer *pk, const char *key, fmx_str_t v) {
    return fmx_mp_pack_cstr(pk, key) || fmx_mp_pack_strn(pk, v.ptr, v.len) ? -1 : 0;
}

int fmx_entity_pack(msgpack_packer *pk, const fmx_entity_t *e) {
    bool has_fields = e->fields.type == MSGPACK_OBJECT_MAP;
    bool has_items = e->has_items || e->items.n > 0;
    size_t n = 2 + e->has_score + e->has_position + (e->source.len > 0) + (e->token.len > 0) + has_fields + has_items;

    if (msgpack_pack_map(pk, n) || s_kv_str(pk, "id", e->id) || s_kv_str(pk, "type", e->type)) return -1;
    if (e->has_score && (fmx_mp_pack_cstr(pk, "score") || msgpack_pack_double(pk, e->score))) return -1;
    if (e->has_position && (fmx_mp_pack_cstr(pk, "position") || msgpack_pack_int64(pk, e->position))) return -1;
    if (e->source.len > 0 && s_kv_str(pk, "source", e->source)) return -1;
    if (e->token.len > 0 && s_kv_str(pk, "token", e->token)) return -1;
    if (has_fields && (fmx_mp_pack_cstr(pk, "fields") || msgpack_pack_object(pk, e->fields))) return -1;
    if (has_items && (fmx_mp_pack_cstr(pk, "items") || fmx_entity_list_pack(pk, &e->items))) return -1;
    return 0;
}

int fmx_entity_list_pack(msgpack_packer *pk, const fmx_entity_list_t *list) {
    if (msgpack_pack_array(pk, list->n)) return -1;
    for (size_t i = 0; i < list->n; i++)
        if (fmx_entity_pack(pk, &list->v[i])) return -1;
    return 0;
}

const msgpack_object *fmx_entity_field(const fmx_entity_t *e, const char *key, size_t key_len) {
    return fmx_mp_map_getn(&e->fields, key, key_len);
}
