/* nodes.h - the node type descriptors of actors/nodes/ (one per file, listed by actors/node.c)
 * and the few helpers they share (defined in actors/node.c). Internal to the actor library: the
 * runtime sees node types only through fmx_node_type_find().
 *
 * Conventions every handler follows: params is a map (NULL or a non-map reads as empty); all
 * scratch comes from task->zone; `out` entities may point into the input frames (the runner
 * keeps them alive until `out` is packed) but never into a store transaction, which ends before
 * run() returns, so store bytes are copied into the zone first. */
#ifndef FMX_NODES_H
#define FMX_NODES_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/node.h"
#include "common/scalar.h"

extern const fmx_node_type_t fmx_node_retrieve;
extern const fmx_node_type_t fmx_node_hydrate;
extern const fmx_node_type_t fmx_node_merge;
extern const fmx_node_type_t fmx_node_filter;
extern const fmx_node_type_t fmx_node_score;
extern const fmx_node_type_t fmx_node_rank;
extern const fmx_node_type_t fmx_node_group;
extern const fmx_node_type_t fmx_node_blend;
extern const fmx_node_type_t fmx_node_layout;

/* How many entities a long loop handles between two deadline checks. */
#define FMX_NODE_DEADLINE_EVERY 2048

/* An int param: *out = def when absent; -1 with err when not an int or outside [min, max]. */
int fmx_node_param_int(const fmx_task_t *task, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out,
                       char err[FMX_ERR_LEN]);
/* A str param: 0 found, 1 absent and optional (*out = FMX_STR_NULL), -1 with err when absent and
 * required or not a string. */
int fmx_node_param_str(const fmx_task_t *task, const char *key, bool required, fmx_str_t *out, char err[FMX_ERR_LEN]);
/* A bool param: *out = def when absent; -1 with err when not a bool. */
int fmx_node_param_bool(const fmx_task_t *task, const char *key, bool def, bool *out, char err[FMX_ERR_LEN]);
/* A list-of-ints param: 1 when absent (*out NULL, *n 0); 0 with *out (zone) and *n; -1 with err when
 * not a list, an entry is not an int in [min, max], or the list has more than max_n entries. */
int fmx_node_param_int_list(const fmx_task_t *task, const char *key, size_t max_n, int64_t min, int64_t max,
                            int64_t **out, size_t *n, char err[FMX_ERR_LEN]);
/* A list-of-strings param: 1 when absent (*out NULL, *n 0); 0 with *out (zone; borrowed strings) and
 * *n; -1 with err when not a list of strings or longer than max_n. */
int fmx_node_param_str_list(const fmx_task_t *task, const char *key, size_t max_n, fmx_str_t **out, size_t *n,
                            char err[FMX_ERR_LEN]);
/* A ref's id (a non-empty str, or a non-negative int turned into a str in the zone) into *out;
 * false when o is absent, of another type, or the zone is out of memory. */
bool fmx_node_ref_id(const msgpack_object *o, msgpack_zone *zone, fmx_str_t *out);
/* -1 with err "deadline passed" when task->deadline_us (0: none) is behind the clock. */
int fmx_node_deadline_check(const fmx_task_t *task, char err[FMX_ERR_LEN]);
/* An int, float or bool object as a double (true = 1); false for anything else or NULL. */
bool fmx_node_number(const msgpack_object *o, double *out);
/* Total entities over all inputs. */
size_t fmx_node_input_total(const fmx_task_t *task);
/* A copy of s in the zone (not NUL-terminated); FMX_STR_NULL fields stay NULL. -1 on OOM. */
int fmx_node_str_dup(fmx_str_t *s, msgpack_zone *zone);
bool fmx_node_str_eq(fmx_str_t a, fmx_str_t b);
/* A msgpack str object over s (borrowed: it points at s.ptr, which must outlive it). */
msgpack_object fmx_node_str_obj(fmx_str_t s);

/* Copies a store value into the zone (the read transaction ends before the reply is packed),
 * checks it with fmx_mp_check and unpacks it into *out. -1 with err. */
int fmx_node_store_value(const void *val, size_t len, msgpack_zone *zone, msgpack_object *out, char err[FMX_ERR_LEN]);

/* A set of entities keyed by (type, id): open addressing over indices into one entity list,
 * hashed with XXH3, allocated from a zone. Sized once for the most entities it will hold. */
typedef struct {
    uint32_t *slots; /* index + 1 into the list; 0 is empty */
    size_t mask;
    size_t n, max;
} fmx_node_set_t;

int fmx_node_set_init(fmx_node_set_t *set, size_t max_entries, msgpack_zone *zone);
/* Looks up e's (type, id) among the entities of `list` the set indexes. Found: returns its index.
 * Absent: records `index` (where the caller is about to store e in list) and returns -1. */
int64_t fmx_node_set_insert(fmx_node_set_t *set, const fmx_entity_list_t *list, const fmx_entity_t *e, size_t index);
/* Looks up e's (type, id) without adding it: its index in list, or -1. */
int64_t fmx_node_set_find(const fmx_node_set_t *set, const fmx_entity_list_t *list, const fmx_entity_t *e);

/* Keys: a field value that groups, caps, debunches or blocks entities. Only str, int and bool
 * values are keys (a float or a container never is); kinds never compare equal across, so the
 * int 5 and the string "5" are different keys. Strings are borrowed. */
/* fields[name] of e as a key: true when present and a str, int or bool. */
bool fmx_node_field_key(const fmx_entity_t *e, fmx_str_t name, fmx_scalar_t *out);
/* A msgpack str, int or bool as a key: false for anything else. */
bool fmx_node_object_key(const msgpack_object *o, fmx_scalar_t *out);
bool fmx_node_key_eq(const fmx_scalar_t *a, const fmx_scalar_t *b);

/* Distinct keys numbered 0..n-1 in the order first added: open addressing, XXH3, zone memory,
 * sized once for the most keys it will hold. */
typedef struct {
    uint32_t *slots;    /* index + 1 into keys; 0 is empty */
    fmx_scalar_t *keys; /* keys[i] is the i-th distinct key */
    size_t mask, n, max;
} fmx_node_keymap_t;

int fmx_node_keymap_init(fmx_node_keymap_t *map, size_t max_keys, msgpack_zone *zone);
/* The index of key k. Absent: with add, numbers it map->n (the map must hold fewer than max_keys)
 * and returns that; without, returns -1. */
int64_t fmx_node_keymap_find(fmx_node_keymap_t *map, const fmx_scalar_t *k, bool add);

/* The indices 0..n-1 ordered by keys descending, stable (NaN as -inf), in *order (zone). -1 on OOM. */
int fmx_node_order_desc(const double *keys, size_t n, size_t **order, msgpack_zone *zone);
/* Stable sort of list by keys[i] (the key of list->v[i]) descending; NaN counts as -inf. -1 on OOM. */
int fmx_node_sort_desc(fmx_entity_list_t *list, const double *keys, msgpack_zone *zone);

#endif
