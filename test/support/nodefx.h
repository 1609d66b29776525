/* nodefx.h - what the node-handler tests share (test_nodes, test_nodes_lib, test_score, and the
 * msgpack part for test_features): a zone and a packer, "k=v,..." specs packed as maps, entities
 * and input lists built in the zone, an LMDB store in a temp dir, and a runner that calls a node
 * type's handler through the node table on inputs that went through a msgpack round trip, as the
 * actor runtime hands them over. Every helper fails the current cmocka test on a broken fixture. */
#ifndef FMX_TEST_NODEFX_H
#define FMX_TEST_NODEFX_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/node.h"
#include "common/store.h"
#include "schemas/entity.h"
#include "schemas/token.h"

#define NFX_MAX_INPUTS 4

/* The fields are the tests' to read and set; the helpers keep them consistent. */
typedef struct {
    msgpack_zone *zone; /* everything built or decoded lives here until teardown */
    msgpack_sbuffer sb; /* what pk packs into; nfx_take_obj and nfx_store_put empty it */
    msgpack_packer pk;
    fmx_entity_list_t raw[NFX_MAX_INPUTS]; /* as built */
    fmx_entity_list_t in[NFX_MAX_INPUTS];  /* after the msgpack round trip */
    size_t n_inputs;                       /* inputs nfx_run hands over: grows with nfx_add/nfx_push */
    msgpack_object params, context;        /* NIL: nfx_run packs "" and "user_id=42,geo=DE" */
    fmx_actor_env_t env;                   /* node_type "test"; token_key = &key */
    fmx_task_t task;                       /* task.node is "mynode" until a test sets it */
    void *state;                           /* what type->init stored */
    const fmx_node_type_t *type;           /* the type state belongs to; fini at teardown */
    fmx_entity_list_t out;
    bool out_round_trip; /* nfx_run replaces a successful output by its msgpack round trip */
    char err[FMX_ERR_LEN];
    char dir[64];        /* nfx_tmpdir; removed with its contents at teardown */
    fmx_store_t *store;
    fmx_store_txn_t *wtxn;
    fmx_token_key_t key; /* a fresh key per test; layout signs with it */
    fmx_token_t tok;     /* room for a test to decode a token into */
    char ids[16384];     /* nfx_ids writes here */
} nfx_t;

/* cmocka fixtures: *state = a new nfx_t / frees it (node state, store, temp dir included). */
int nfx_setup(void **state);
int nfx_teardown(void **state);

/* fx->dir = a new /tmp/fmx-test-<name>-XXXXXX (once per test). */
void nfx_tmpdir(nfx_t *fx, const char *name);

/* Packs the string s with fx->pk. */
void nfx_str(nfx_t *fx, const char *s);
/* What fx->sb holds, copied into the zone and unpacked there; empties fx->sb. */
msgpack_object nfx_take_obj(nfx_t *fx);
/* Packs "k=v,k2=[a|b]" as a map. A value is an int, a float (has '.'), true/false, null, a list
 * of such scalars separated by '|' in [], or else a string; it runs to the next ',' and may hold
 * '=' ("where=a == 1"). "" packs an empty map. */
void nfx_pack_spec(nfx_t *fx, const char *spec);
/* s copied into the zone; NULL gives FMX_STR_NULL. */
fmx_str_t nfx_zstr(nfx_t *fx, const char *s);

/* An entity in the zone: score NAN = unscored; source and fields (a spec) NULL = none. */
fmx_entity_t nfx_ent(nfx_t *fx, const char *id, const char *type, double score, const char *source,
                     const char *fields);
/* Appends e to input `input` (< NFX_MAX_INPUTS); returns where it now lives. */
fmx_entity_t *nfx_push(nfx_t *fx, size_t input, fmx_entity_t e);
/* nfx_push(nfx_ent(...)). */
fmx_entity_t *nfx_add(nfx_t *fx, size_t input, const char *id, const char *type, double score, const char *source,
                      const char *fields);
/* fx->params / fx->context = the spec packed. */
void nfx_params(nfx_t *fx, const char *spec);
void nfx_context(nfx_t *fx, const char *spec);

/* Packs then decodes list into back (in the zone), as a sender and its receiver would. */
void nfx_round_trip(nfx_t *fx, const fmx_entity_list_t *list, fmx_entity_list_t *back);
/* Runs node type `name` on the inputs built so far, each after a round trip; inits the type
 * first when it is not fx->type (finishing the previous one). Returns what run returned, with
 * fx->out and fx->err filled. */
int nfx_run(nfx_t *fx, const char *name);

/* "id1,id2,..." of list (top level only), in fx->ids. */
const char *nfx_ids(nfx_t *fx, const fmx_entity_list_t *list);
/* The same with each collection's items after its id: "id1,id2(child,child(...)),...". */
const char *nfx_ids_tree(nfx_t *fx, const fmx_entity_list_t *list);
/* s is the text want. */
void nfx_assert_str(fmx_str_t s, const char *want);

/* Opens the store at path (an LMDB dir or a redis:// URL), emptied, with a write transaction in
 * fx->wtxn, as fx->env.store. */
void nfx_store_open_at(nfx_t *fx, const char *path);
/* The same on a new LMDB store in nfx_tmpdir(fx, "nodes"). */
void nfx_store_open(nfx_t *fx);
/* Stores what fx->sb holds under key and empties fx->sb. */
void nfx_store_put(nfx_t *fx, const char *key);
void nfx_store_commit(nfx_t *fx);
/* Closes (unmaps) the store: output that pointed into it would now fault under ASan/SEGV. */
void nfx_store_close(nfx_t *fx);

#endif
