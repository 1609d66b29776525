/* entity.h - feed entities as actors see them, decoded from and packed to msgpack.
 *
 * On the wire an entity is a map: id (str, required), type (str, required), score (float),
 * position (int), source (str), fields (map), items (array of entities: a carousel or other
 * sub-feed), token (str). Unknown keys are dropped on decode.
 *
 * Memory: all decoding and list growth allocate from a caller's msgpack_zone (the task's scratch
 * arena, freed in one go after the reply is sent); strings and `fields` point into the input
 * frames or the store's read transaction, which must outlive the entities. Nothing here mallocs. */
#ifndef FMX_ENTITY_H
#define FMX_ENTITY_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/fmx.h"

#define FMX_ENTITY_MAX_DEPTH 4 /* carousel nesting accepted on decode */

typedef struct fmx_entity fmx_entity_t;

typedef struct {
    fmx_entity_t *v;
    size_t n, cap;
} fmx_entity_list_t;

struct fmx_entity {
    fmx_str_t id, type, source, token;
    double score;
    int64_t position;
    bool has_score, has_position;
    msgpack_object fields;   /* a map, or MSGPACK_OBJECT_NIL when absent */
    fmx_entity_list_t items; /* sub-feed children; n == 0 when none */
    bool has_items;          /* packs `items` (possibly empty) */
};

/* An empty list (no allocation). */
void fmx_entity_list_init(fmx_entity_list_t *list);
/* Appends a copy of *e, growing from zone; returns the stored element or NULL on OOM. */
fmx_entity_t *fmx_entity_list_push(fmx_entity_list_t *list, const fmx_entity_t *e, msgpack_zone *zone);
/* Ensures room for `cap` elements. 0 or -1. */
int fmx_entity_list_reserve(fmx_entity_list_t *list, size_t cap, msgpack_zone *zone);

/* Decodes an array of entity maps. Returns 0, or -1 with err naming the index and problem
 * (not an array, element not a map, id/type missing or not str, wrong field types, too deep). */
int fmx_entity_list_decode(const msgpack_object *array, msgpack_zone *zone, fmx_entity_list_t *out,
                           char err[FMX_ERR_LEN]);
/* Decodes a whole frame holding one array: fmx_mp_check(result limits) + unpack + list decode. */
int fmx_entity_list_decode_frame(const void *buf, size_t len, msgpack_zone *zone, fmx_entity_list_t *out,
                                 char err[FMX_ERR_LEN]);

int fmx_entity_pack(msgpack_packer *pk, const fmx_entity_t *e);
int fmx_entity_list_pack(msgpack_packer *pk, const fmx_entity_list_t *list);

/* Field accessor: fields[key] or NULL. */
const msgpack_object *fmx_entity_field(const fmx_entity_t *e, const char *key, size_t key_len);

#endif
