/* test_nodes.c - the Core node handlers, called directly through the node table.
 *
 * Inputs are built as entities, packed with fmx_entity_list_pack and decoded back with
 * fmx_entity_list_decode_frame, as the actor runtime would hand them over. retrieve and hydrate
 * read a real LMDB store in a temp dir; the store is closed (unmapped) before their output is
 * checked, which proves no result points into it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "actors/node.h"
#include "common/store.h"
#include "schemas/entity.h"
#include "schemas/mpobj.h"
#include "schemas/node_schema.h"
#include "test/support/nodefx.h"
#include "test/support/redis.h"

static int64_t s_field_int(const fmx_entity_t *e, const char *k) {
    int64_t v = -999;
    assert_int_equal(fmx_mp_get_int(&e->fields, k, &v), 0);
    return v;
}

/* ---- the table ---- */

static void test_table(void **state) {
    (void)state;
    static const char *const names[] = {"retrieve", "hydrate", "merge", "filter", "score",
                                        "rank",     "group",   "blend", "layout"};
    assert_int_equal(fmx_node_type_count(), FMX_ARRAY_LEN(names));
    for (size_t i = 0; i < FMX_ARRAY_LEN(names); i++) {
        const fmx_node_type_t *t = fmx_node_type_find(names[i]);
        assert_non_null(t);
        assert_string_equal(t->name, names[i]);
        assert_non_null(t->run);
        assert_ptr_equal(fmx_node_type_at(i), t);
    }
    assert_null(fmx_node_type_at(FMX_ARRAY_LEN(names)));
    assert_null(fmx_node_type_find("nope"));
    assert_null(fmx_node_type_find(NULL));
    /* The broker's catalogue and this table name the same types. */
    size_t n = 0;
    for (const fmx_node_schema_t *s = fmx_node_schemas; s->name; s++, n++)
        assert_non_null(fmx_node_type_find(s->name));
    assert_int_equal(n, fmx_node_type_count());
}

/* ---- retrieve ---- */

static void s_seed_refs(nfx_t *fx) {
    nfx_store_open(fx);
    msgpack_packer *pk = &fx->pk;
    msgpack_pack_array(pk, 7);
    nfx_pack_spec(fx, "id=ls1,type=livestream");
    nfx_pack_spec(fx, "id=ls2,type=livestream,score=0.5");
    nfx_pack_spec(fx, "id=x9"); /* no type */
    msgpack_pack_map(pk, 1);  /* integer id, no type */
    nfx_str(fx, "id");
    msgpack_pack_uint64(pk, 42);
    nfx_str(fx, "garbage");               /* not a map */
    nfx_pack_spec(fx, "type=livestream"); /* no id */
    nfx_pack_spec(fx, "id=p1,type=product,score=2");
    nfx_store_put(fx, "user:7:follows_live");
    msgpack_pack_map(pk, 1);
    nfx_str(fx, "geo");
    nfx_str(fx, "DE");
    nfx_store_put(fx, "user:7");
    nfx_store_commit(fx);
}

static void test_retrieve(void **state) {
    nfx_t *fx = *state;
    s_seed_refs(fx);
    fx->task.node = FMX_STR_LIT("follows");
    nfx_params(fx, "key=user:7:follows_live,limit=10");
    assert_int_equal(nfx_run(fx, "retrieve"), 0);
    nfx_store_close(fx);
    assert_string_equal(nfx_ids(fx, &fx->out), "ls1,ls2,p1");
    nfx_assert_str(fx->out.v[0].type, "livestream");
    nfx_assert_str(fx->out.v[0].source, "follows");
    assert_false(fx->out.v[0].has_score);
    assert_true(fx->out.v[1].has_score);
    assert_true(fx->out.v[1].score == 0.5);
    nfx_assert_str(fx->out.v[2].type, "product");
    assert_true(fx->out.v[2].score == 2.0);
    assert_int_equal(fx->out.v[2].fields.type, MSGPACK_OBJECT_NIL);
}

static void test_retrieve_entity_type_limit(void **state) {
    nfx_t *fx = *state;
    s_seed_refs(fx);
    nfx_params(fx, "key=user:7:follows_live,entity_type=livestream");
    assert_int_equal(nfx_run(fx, "retrieve"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "ls1,ls2,x9,42,p1");
    nfx_assert_str(fx->out.v[2].type, "livestream");
    nfx_assert_str(fx->out.v[3].type, "livestream");
    nfx_assert_str(fx->out.v[4].type, "product"); /* the ref's own type wins */
    nfx_assert_str(fx->out.v[4].source, "mynode");

    nfx_params(fx, "key=user:7:follows_live,entity_type=livestream,limit=3");
    assert_int_equal(nfx_run(fx, "retrieve"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "ls1,ls2,x9");
    nfx_params(fx, "key=user:7:follows_live,limit=0");
    assert_int_equal(nfx_run(fx, "retrieve"), 0);
    assert_int_equal(fx->out.n, 0);
}

static void test_retrieve_missing_and_errors(void **state) {
    nfx_t *fx = *state;
    s_seed_refs(fx);
    nfx_params(fx, "key=user:8:follows_live");
    assert_int_equal(nfx_run(fx, "retrieve"), 0); /* missing key: empty, not an error */
    assert_int_equal(fx->out.n, 0);

    nfx_params(fx, "key=user:7");
    assert_int_equal(nfx_run(fx, "retrieve"), -1);
    assert_non_null(strstr(fx->err, "not an array"));

    nfx_params(fx, "limit=3");
    assert_int_equal(nfx_run(fx, "retrieve"), -1);
    assert_non_null(strstr(fx->err, "key"));

    nfx_params(fx, "key=user:7:follows_live,limit=-1");
    assert_int_equal(nfx_run(fx, "retrieve"), -1);
    assert_non_null(strstr(fx->err, "limit"));

    nfx_params(fx, "key=user:7:follows_live,limit=many");
    assert_int_equal(nfx_run(fx, "retrieve"), -1);

    nfx_store_close(fx);
    nfx_params(fx, "key=user:7:follows_live");
    assert_int_equal(nfx_run(fx, "retrieve"), -1);
    assert_string_equal(fx->err, "no store configured");
}

/* ---- hydrate ---- */

static void s_seed_entities(nfx_t *fx) {
    nfx_store_open(fx);
    nfx_pack_spec(fx, "seller_id=s1,viewers=10,is_live=1,title=one");
    nfx_store_put(fx, "entity:livestream:ls1");
    nfx_pack_spec(fx, "seller_id=s2,viewers=20,is_live=0,title=two");
    nfx_store_put(fx, "entity:livestream:ls2");
    nfx_pack_spec(fx, "seller_id=s1,price=9.5");
    nfx_store_put(fx, "entity:product:ls1"); /* same id, other type */
    msgpack_pack_int(&fx->pk, 5);
    nfx_store_put(fx, "entity:livestream:bad"); /* not a map: dropped */
    nfx_store_commit(fx);
}

static void test_hydrate(void **state) {
    nfx_t *fx = *state;
    s_seed_entities(fx);
    nfx_add(fx, 0, "ls1", "livestream", 0.1, "follows", NULL);
    nfx_add(fx, 0, "ls3", "livestream", NAN, "follows", NULL); /* not stored */
    nfx_add(fx, 0, "ls2", "livestream", NAN, "follows", "stale=1");
    nfx_add(fx, 1, "ls2", "livestream", 0.9, "trending", NULL);
    nfx_add(fx, 1, "ls1", "livestream", 0.8, "trending", NULL);
    nfx_add(fx, 1, "bad", "livestream", 0.7, "trending", NULL);
    nfx_add(fx, 1, "ls1", "product", 0.6, "trending", NULL);
    assert_int_equal(nfx_run(fx, "hydrate"), 0);
    nfx_store_close(fx);

    assert_string_equal(nfx_ids(fx, &fx->out), "ls1,ls2,ls1");
    const fmx_entity_t *a = &fx->out.v[0], *b = &fx->out.v[1], *c = &fx->out.v[2];
    nfx_assert_str(a->source, "follows"); /* first occurrence wins */
    assert_true(a->has_score && a->score == 0.1);
    assert_int_equal(s_field_int(a, "viewers"), 10);
    nfx_assert_str(b->source, "follows");
    assert_false(b->has_score);
    assert_int_equal(s_field_int(b, "viewers"), 20);
    assert_null(fmx_entity_field(b, "stale", 5)); /* replaced by the stored record */
    nfx_assert_str(c->type, "product");
    nfx_assert_str(c->source, "trending");
    double price = 0;
    assert_int_equal(fmx_mp_get_double(&c->fields, "price", &price), 0);
    assert_true(price == 9.5);
    fmx_str_t title;
    assert_int_equal(fmx_mp_get_str(&a->fields, "title", &title), 0);
    nfx_assert_str(title, "one");
}

static void test_hydrate_fields_projection(void **state) {
    nfx_t *fx = *state;
    s_seed_entities(fx);
    nfx_add(fx, 0, "ls2", "livestream", NAN, "follows", NULL);
    nfx_add(fx, 0, "ls1", "livestream", NAN, "follows", NULL);
    msgpack_pack_map(&fx->pk, 1);
    nfx_str(fx, "fields");
    msgpack_pack_array(&fx->pk, 4);
    nfx_str(fx, "viewers");
    nfx_str(fx, "nope");
    nfx_str(fx, "seller_id");
    nfx_str(fx, "viewers");
    fx->params = nfx_take_obj(fx);
    assert_int_equal(nfx_run(fx, "hydrate"), 0);
    nfx_store_close(fx);
    assert_string_equal(nfx_ids(fx, &fx->out), "ls2,ls1");
    const msgpack_object *f = &fx->out.v[0].fields;
    assert_int_equal(f->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(f->via.map.size, 2);
    assert_true(fmx_mp_str_eq(&f->via.map.ptr[0].key, "viewers"));
    assert_true(fmx_mp_str_eq(&f->via.map.ptr[1].key, "seller_id"));
    assert_int_equal(s_field_int(&fx->out.v[0], "viewers"), 20);
    assert_int_equal(s_field_int(&fx->out.v[1], "viewers"), 10);

    nfx_params(fx, "fields=viewers"); /* a string, not a list */
    fx->env.store = NULL;
    assert_int_equal(nfx_run(fx, "hydrate"), -1);
    assert_non_null(strstr(fx->err, "fields"));
}

static void test_hydrate_many_and_deadline(void **state) {
    nfx_t *fx = *state;
    nfx_store_open(fx);
    char id[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof(id), "entity:livestream:e%d", i);
        msgpack_pack_map(&fx->pk, 1);
        nfx_str(fx, "n");
        msgpack_pack_int(&fx->pk, i);
        nfx_store_put(fx, id);
    }
    nfx_store_commit(fx);
    /* 6000 entities, each id twice over two inputs, plus ids not stored. */
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        nfx_add(fx, 0, id, "livestream", NAN, "a", NULL);
        snprintf(id, sizeof(id), "e%d", 2999 - i);
        nfx_add(fx, 1, id, "livestream", NAN, "b", NULL);
        snprintf(id, sizeof(id), "x%d", i);
        nfx_add(fx, 1, id, "livestream", NAN, "b", NULL);
    }
    assert_int_equal(nfx_run(fx, "hydrate"), 0);
    assert_int_equal(fx->out.n, 3000);
    for (size_t i = 0; i < fx->out.n; i++) {
        assert_int_equal(s_field_int(&fx->out.v[i], "n"), (int64_t)i);
        nfx_assert_str(fx->out.v[i].source, "a");
    }
    fx->task.deadline_us = 1; /* long past */
    assert_int_equal(nfx_run(fx, "hydrate"), -1);
    assert_string_equal(fx->err, "deadline passed");
}

/* An entity with items (a carousel): each "id" of the comma-separated list is a livestream. */
static fmx_entity_t s_carousel(nfx_t *fx, const char *id, const char *items) {
    fmx_entity_t c = nfx_ent(fx, id, "carousel", NAN, "sub", "title=stale");
    c.has_items = true;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", items);
    char *save = NULL;
    for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        fmx_entity_t e = nfx_ent(fx, it, "livestream", NAN, "sub", NULL);
        assert_non_null(fmx_entity_list_push(&c.items, &e, fx->zone));
    }
    return c;
}

/* Carousels share the batch: ls1 and ls2 in the top level and in five carousels (one nested in
 * another), ls9 everywhere but not stored. Stores what the run needs into the open store, runs
 * hydrate and checks every level. Returns the number of distinct keys the run had to fetch. */
static size_t s_hydrate_nested(nfx_t *fx) {
    nfx_pack_spec(fx, "viewers=10,title=one");
    nfx_store_put(fx, "entity:livestream:ls1");
    nfx_pack_spec(fx, "viewers=20,title=two");
    nfx_store_put(fx, "entity:livestream:ls2");
    nfx_pack_spec(fx, "title=Trending");
    nfx_store_put(fx, "entity:carousel:c2");
    nfx_store_commit(fx);

    nfx_add(fx, 0, "ls1", "livestream", 0.5, "follows", NULL);
    nfx_push(fx, 0, s_carousel(fx, "c1", "ls2,ls1,ls9"));
    nfx_add(fx, 0, "ls9", "livestream", NAN, "follows", NULL);
    fmx_entity_t c2 = s_carousel(fx, "c2", "ls1,ls9");
    fmx_entity_t c3 = s_carousel(fx, "c3", "ls9,ls2,ls1");
    assert_non_null(fmx_entity_list_push(&c2.items, &c3, fx->zone));
    nfx_push(fx, 0, c2);
    nfx_push(fx, 0, s_carousel(fx, "c4", "ls9")); /* nothing left in it */
    nfx_add(fx, 1, "ls2", "livestream", 0.7, "trending", NULL);
    nfx_push(fx, 1, s_carousel(fx, "c1", "ls1")); /* a duplicate of c1: the first one wins */
    nfx_push(fx, 1, s_carousel(fx, "c5", "ls2,ls1"));
    assert_int_equal(nfx_run(fx, "hydrate"), 0);
    nfx_store_close(fx); /* nothing may point into the store (or a Redis reply) now */

    assert_string_equal(nfx_ids(fx, &fx->out), "ls1,c1,c2,c4,ls2,c5");
    const fmx_entity_t *o = fx->out.v;
    assert_int_equal(s_field_int(&o[0], "viewers"), 10);
    assert_int_equal(s_field_int(&o[4], "viewers"), 20);
    nfx_assert_str(o[4].source, "trending");
    /* c1: its items in their order, ls9 dropped; no record, so its own fields stay. */
    assert_string_equal(nfx_ids(fx, &o[1].items), "ls2,ls1");
    assert_int_equal(s_field_int(&o[1].items.v[0], "viewers"), 20);
    assert_int_equal(s_field_int(&o[1].items.v[1], "viewers"), 10);
    fmx_str_t title;
    assert_int_equal(fmx_mp_get_str(&o[1].fields, "title", &title), 0);
    nfx_assert_str(title, "stale");
    /* c2 has a record; c3 inside it is hydrated too. */
    assert_int_equal(fmx_mp_get_str(&o[2].fields, "title", &title), 0);
    nfx_assert_str(title, "Trending");
    assert_string_equal(nfx_ids(fx, &o[2].items), "ls1,c3");
    assert_int_equal(s_field_int(&o[2].items.v[0], "viewers"), 10);
    const fmx_entity_t *in3 = &o[2].items.v[1];
    assert_true(in3->has_items);
    assert_string_equal(nfx_ids(fx, &in3->items), "ls2,ls1");
    assert_int_equal(s_field_int(&in3->items.v[1], "viewers"), 10);
    /* c4 is kept, empty: layout's min_items decides. */
    assert_true(o[3].has_items);
    assert_int_equal(o[3].items.n, 0);
    assert_string_equal(nfx_ids(fx, &o[5].items), "ls2,ls1");
    /* The inputs were not changed in place: the first input's c1 still lists ls9. */
    assert_int_equal(fx->in[0].v[1].items.n, 3);
    /* ls1, ls2, ls9 + carousels c1..c5 */
    return 8;
}

static void test_hydrate_nested(void **state) {
    nfx_t *fx = *state;
    nfx_store_open(fx);
    s_hydrate_nested(fx);
}

/* INFO's counter `name` in `section` (e.g. stats / keyspace_hits, commandstats / cmdstat_mget:calls). */
static long long s_redis_info(redisContext *c, const char *section, const char *name) {
    redisReply *r = redisCommand(c, "INFO %s", section);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    const char *at = strstr(r->str, name);
    long long v = at ? strtoll(at + strlen(name) + 1, NULL, 10) : 0;
    freeReplyObject(r);
    return v;
}

/* The same on Redis, where the batch is observable: one MGET, one lookup per distinct key. */
static void test_hydrate_nested_redis(void **state) {
    nfx_t *fx = *state;
    redis_t rs;
    memset(&rs, 0, sizeof rs);
    int started = redis_start(&rs);
    if (started == 1) {
        fprintf(stderr, "%s\n", rs.why);
        skip();
    }
    assert_int_equal(started, 0);
    redisContext *c = redisConnect("127.0.0.1", rs.port);
    assert_true(c && !c->err);
    nfx_store_open_at(fx, rs.url);
    long long lookups = s_redis_info(c, "stats", "keyspace_hits") + s_redis_info(c, "stats", "keyspace_misses");
    long long mgets = s_redis_info(c, "commandstats", "cmdstat_mget:calls");
    long long gets = s_redis_info(c, "commandstats", "cmdstat_get:calls");
    size_t distinct = s_hydrate_nested(fx);
    lookups = s_redis_info(c, "stats", "keyspace_hits") + s_redis_info(c, "stats", "keyspace_misses") - lookups;
    assert_int_equal(s_redis_info(c, "commandstats", "cmdstat_mget:calls") - mgets, 1);
    assert_int_equal(s_redis_info(c, "commandstats", "cmdstat_get:calls") - gets, 0);
    assert_int_equal(lookups, (long long)distinct);
    redisFree(c);
    redis_fini(&rs);
}

/* ---- merge ---- */

static void test_merge(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "x1", "livestream", 0.3, "A", "k=a1");
    nfx_add(fx, 0, "x2", "livestream", 0.9, "A", NULL);
    nfx_add(fx, 1, "x1", "livestream", 0.8, "B", "k=b1");
    nfx_add(fx, 1, "x3", "livestream", NAN, "B", NULL);
    nfx_add(fx, 1, "x2", "livestream", 0.5, "B", NULL);
    nfx_add(fx, 1, "x1", "product", 0.1, "B", NULL);
    nfx_add(fx, 2, "x3", "livestream", 0.1, "C", NULL);
    nfx_add(fx, 2, "x2", "livestream", 0.9, "C", NULL); /* a tie: the first stays */
    assert_int_equal(nfx_run(fx, "merge"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "x1,x2,x3,x1");
    const char *sources[] = {"B", "A", "C", "B"};
    const double scores[] = {0.8, 0.9, 0.1, 0.1};
    for (size_t i = 0; i < 4; i++) {
        nfx_assert_str(fx->out.v[i].source, sources[i]);
        assert_true(fx->out.v[i].score == scores[i]);
    }
    fmx_str_t k;
    assert_int_equal(fmx_mp_get_str(&fx->out.v[0].fields, "k", &k), 0);
    nfx_assert_str(k, "b1");
    nfx_assert_str(fx->out.v[3].type, "product");

    nfx_params(fx, "limit=2");
    assert_int_equal(nfx_run(fx, "merge"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "x1,x2");
}

static void test_merge_many_and_deadline(void **state) {
    nfx_t *fx = *state;
    char id[32];
    /* 20000 entities over 1000 distinct ids: the score of each copy is its round. */
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < 1000; i++) {
            snprintf(id, sizeof(id), "e%d", i);
            nfx_add(fx, (size_t)(r % 2), id, "livestream", (double)((r * 7) % 20), r % 2 ? "odd" : "even", NULL);
        }
    assert_int_equal(nfx_run(fx, "merge"), 0);
    assert_int_equal(fx->out.n, 1000);
    for (size_t i = 0; i < fx->out.n; i++) {
        snprintf(id, sizeof(id), "e%zu", i);
        nfx_assert_str(fx->out.v[i].id, id);
        assert_true(fx->out.v[i].score == 19.0); /* r = 17: 119 % 20 */
        nfx_assert_str(fx->out.v[i].source, "odd");
    }
    fx->task.deadline_us = 1;
    assert_int_equal(nfx_run(fx, "merge"), -1);
    assert_string_equal(fx->err, "deadline passed");
}

/* ---- filter ---- */

static void s_filter_inputs(nfx_t *fx) {
    nfx_add(fx, 0, "a", "livestream", 0.9, "follows", "is_live=1,viewers=10,seller_id=s1");
    nfx_add(fx, 0, "b", "livestream", 0.2, "trending", "is_live=0,viewers=50,seller_id=s2");
    nfx_add(fx, 0, "c", "livestream", NAN, "trending", "is_live=1,viewers=0");
    nfx_add(fx, 0, "d", "product", 0.7, "follows", "id=fieldid,geo=FR");
    nfx_add(fx, 0, "e", "livestream", 0.6, "follows", NULL);
}

static const char *s_filter(nfx_t *fx, const char *where) {
    msgpack_sbuffer_clear(&fx->sb);
    msgpack_pack_map(&fx->pk, 1);
    nfx_str(fx, "where");
    nfx_str(fx, where);
    fx->params = nfx_take_obj(fx);
    int rc = nfx_run(fx, "filter");
    if (rc != 0) return fx->err;
    return nfx_ids(fx, &fx->out);
}

static void test_filter(void **state) {
    nfx_t *fx = *state;
    s_filter_inputs(fx);
    assert_string_equal(s_filter(fx, "is_live == 1 && viewers > 0"), "a");
    assert_string_equal(s_filter(fx, "is_live == 1"), "a,c");
    assert_string_equal(s_filter(fx, "viewers >= 10"), "a,b");
    assert_string_equal(s_filter(fx, "!is_live"), "b,d,e");
    /* entity attributes */
    assert_string_equal(s_filter(fx, "type == 'product'"), "d");
    assert_string_equal(s_filter(fx, "score > 0.5"), "a,d,e");
    assert_string_equal(s_filter(fx, "score == null"), "c");
    assert_string_equal(s_filter(fx, "source == \"trending\""), "b,c");
    assert_string_equal(s_filter(fx, "id in ['a', 'e', 'zz']"), "a,e");
    /* fields shadow the entity's own id, and the context */
    assert_string_equal(s_filter(fx, "id == 'fieldid'"), "d");
    assert_string_equal(s_filter(fx, "geo == 'DE'"), "a,b,c,e");
    assert_string_equal(s_filter(fx, "geo == 'FR'"), "d");
    assert_string_equal(s_filter(fx, "context.geo == 'DE' && fields.seller_id == 's2'"), "b");
    assert_string_equal(s_filter(fx, "user_id == 42 && seller_id != 's1'"), "b,c,d,e");
    assert_string_equal(s_filter(fx, "unknown_name"), "");
    /* the first expression is still cached and still right */
    assert_string_equal(s_filter(fx, "is_live == 1 && viewers > 0"), "a");
}

static void test_filter_cache_and_errors(void **state) {
    nfx_t *fx = *state;
    s_filter_inputs(fx);
    char where[64];
    /* More distinct expressions than the cache holds: each is still evaluated correctly. */
    for (int i = 0; i < 150; i++) {
        snprintf(where, sizeof(where), "viewers > %d", i % 60);
        const char *want = (i % 60) < 10 ? "a,b" : (i % 60) < 50 ? "b" : "";
        assert_string_equal(s_filter(fx, where), want);
    }
    const char *err = s_filter(fx, "viewers > ");
    assert_non_null(strstr(err, "where"));
    assert_non_null(strstr(err, "column"));
    assert_non_null(strstr(s_filter(fx, "(is_live"), "where"));
    nfx_params(fx, "");
    assert_int_equal(nfx_run(fx, "filter"), -1);
    assert_non_null(strstr(fx->err, "where"));
    nfx_params(fx, "where=5");
    assert_int_equal(nfx_run(fx, "filter"), -1);
}

/* ---- score ---- */

static void s_score_inputs(nfx_t *fx) {
    nfx_add(fx, 0, "e1", "livestream", NAN, "f", "viewers=10,is_live=1");
    nfx_add(fx, 0, "e2", "livestream", 0.3, "f", "viewers=2,is_live=true,quality=0.5");
    nfx_add(fx, 0, "e3", "livestream", 9.0, "f", "viewers=many");
    nfx_add(fx, 0, "e4", "livestream", NAN, "f", NULL);
    nfx_add(fx, 0, "e5", "livestream", NAN, "f", "viewers=20,is_live=0,quality=2.0");
}

static void s_assert_scores(nfx_t *fx, const char *ids, const double *want) {
    assert_string_equal(nfx_ids(fx, &fx->out), ids);
    for (size_t i = 0; i < fx->out.n; i++) {
        assert_true(fx->out.v[i].has_score);
        assert_true(fabs(fx->out.v[i].score - want[i]) < 1e-9);
    }
}

static void test_score_inline(void **state) {
    nfx_t *fx = *state;
    s_score_inputs(fx);
    msgpack_pack_map(&fx->pk, 2);
    nfx_str(fx, "weights");
    nfx_pack_spec(fx, "bias=1,viewers=0.5,is_live=2,quality=1.0");
    nfx_str(fx, "model"); /* weights win */
    nfx_str(fx, "no_such_model");
    fx->params = nfx_take_obj(fx);
    assert_int_equal(nfx_run(fx, "score"), 0);
    /* e5: 1+10+0+2 = 13; e1: 1+5+2 = 8; e2: 1+1+2+0.5 = 4.5; e3, e4: bias only, input order */
    const double want[] = {13, 8, 4.5, 1, 1};
    s_assert_scores(fx, "e5,e1,e2,e3,e4", want);

    msgpack_pack_map(&fx->pk, 1);
    nfx_str(fx, "weights");
    nfx_pack_spec(fx, "viewers=fast");
    fx->params = nfx_take_obj(fx);
    assert_int_equal(nfx_run(fx, "score"), -1);
    assert_non_null(strstr(fx->err, "weights"));

    nfx_params(fx, "");
    assert_int_equal(nfx_run(fx, "score"), -1);
    assert_non_null(strstr(fx->err, "model"));
}

static void s_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static void test_score_model(void **state) {
    nfx_t *fx = *state;
    nfx_tmpdir(fx, "nodes");
    char path[512];
    snprintf(path, sizeof(path), "%s/models", fx->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/models/m1.weights", fx->dir);
    s_write_file(path, "# a test model\n\nbias 0.5   # always\nviewers 0.1\n  quality\t-1\n");
    snprintf(path, sizeof(path), "%s/models/broken.weights", fx->dir);
    s_write_file(path, "bias 1\nviewers\n");
    snprintf(path, sizeof(path), "%s/models/nan.weights", fx->dir);
    s_write_file(path, "viewers nan\n");
    fx->env.data_dir = fx->dir;
    s_score_inputs(fx);

    nfx_params(fx, "model=m1");
    assert_int_equal(nfx_run(fx, "score"), 0);
    /* e1: 0.5+1 = 1.5; e2: 0.5+0.2-0.5 = 0.2; e3, e4: 0.5; e5: 0.5+2-2 = 0.5 */
    const double want[] = {1.5, 0.5, 0.5, 0.5, 0.2};
    s_assert_scores(fx, "e1,e3,e4,e5,e2", want);

    /* Cached: deleting the file does not matter any more. */
    snprintf(path, sizeof(path), "%s/models/m1.weights", fx->dir);
    assert_int_equal(remove(path), 0);
    assert_int_equal(nfx_run(fx, "score"), 0);
    s_assert_scores(fx, "e1,e3,e4,e5,e2", want);

    nfx_params(fx, "model=broken");
    assert_int_equal(nfx_run(fx, "score"), -1);
    assert_non_null(strstr(fx->err, "line 2"));
    nfx_params(fx, "model=nan");
    assert_int_equal(nfx_run(fx, "score"), -1);
    assert_non_null(strstr(fx->err, "line 1"));
    nfx_params(fx, "model=missing");
    assert_int_equal(nfx_run(fx, "score"), -1);
    assert_non_null(strstr(fx->err, "missing.weights"));
    nfx_params(fx, "model=../models/m1");
    assert_int_equal(nfx_run(fx, "score"), -1);
    assert_non_null(strstr(fx->err, "bad model name"));
    nfx_params(fx, "model=.hidden");
    assert_int_equal(nfx_run(fx, "score"), -1);
}

/* ---- rank ---- */

static void test_rank(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "a", "livestream", 0.2, "s", "viewers=5");
    nfx_add(fx, 0, "b", "livestream", NAN, "s", "viewers=50");
    nfx_add(fx, 0, "c", "livestream", 0.9, "s", "viewers=1.5");
    nfx_add(fx, 0, "d", "livestream", 0.2, "s", "viewers=x");
    nfx_add(fx, 0, "e", "livestream", 0.5, "s", "viewers=true");
    nfx_add(fx, 0, "f", "livestream", -1.0, "s", NULL);
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "c,e,a,d,f,b");
    nfx_params(fx, "limit=3");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "c,e,a");
    nfx_params(fx, "by=viewers");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "b,a,c,e,d,f");
    assert_true(fx->out.v[0].has_score == false); /* rank orders, it does not rescore */
    nfx_params(fx, "by=score,limit=0");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_int_equal(fx->out.n, 0);
}

/* ---- blend ---- */

static void test_blend_slots(void **state) {
    nfx_t *fx = *state;
    char id[16];
    for (int i = 1; i <= 16; i++) {
        snprintf(id, sizeof(id), "m%d", i);
        nfx_add(fx, 0, id, "livestream", NAN, "main", NULL);
    }
    nfx_add(fx, 1, "a1", "carousel", NAN, "side", NULL);
    nfx_add(fx, 1, "a2", "carousel", NAN, "side", NULL);
    nfx_add(fx, 2, "b1", "product", NAN, "side", NULL);
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "m1,m2,m3,m4,m5,a1,m6,m7,m8,m9,m10,b1,m11,m12,m13,m14,m15,a2,m16");

    nfx_params(fx, "strategy=slots,every=3,limit=10");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "m1,m2,m3,a1,m4,m5,m6,b1,m7,m8");
    nfx_params(fx, "every=3");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "m1,m2,m3,a1,m4,m5,m6,b1,m7,m8,m9,a2,m10,m11,m12,m13,m14,m15,m16");

    nfx_params(fx, "strategy=concat,limit=18");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "m1,m2,m3,m4,m5,m6,m7,m8,m9,m10,m11,m12,m13,m14,m15,m16,a1,a2");

    nfx_params(fx, "strategy=zigzag");
    assert_int_equal(nfx_run(fx, "blend"), -1);
    assert_non_null(strstr(fx->err, "strategy"));
    nfx_params(fx, "every=0");
    assert_int_equal(nfx_run(fx, "blend"), -1);
}

static void test_blend_debunch(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "i0", "livestream", NAN, "m", "seller_id=s1");
    nfx_add(fx, 0, "i1", "livestream", NAN, "m", "seller_id=s1");
    nfx_add(fx, 0, "i2", "livestream", NAN, "m", "seller_id=s1");
    nfx_add(fx, 0, "i3", "livestream", NAN, "m", "seller_id=s2");
    nfx_add(fx, 0, "i4", "livestream", NAN, "m", "seller_id=s1");
    nfx_add(fx, 0, "i5", "livestream", NAN, "m", "seller_id=s1");
    nfx_add(fx, 0, "i6", "livestream", NAN, "m", "seller_id=s1");
    nfx_add(fx, 0, "i7", "livestream", NAN, "m", NULL);
    nfx_add(fx, 0, "i8", "livestream", NAN, "m", "seller_id=s1");
    nfx_add(fx, 0, "i9", "livestream", NAN, "m", "seller_id=s1");
    nfx_add(fx, 0, "i10", "livestream", NAN, "m", "seller_id=s1");
    nfx_add(fx, 0, "i11", "livestream", NAN, "m", "seller_id=s1");
    nfx_params(fx, "max_run_same_seller=2");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    /* s1 s1 | s2 | s1 s1 | none | s1 s1 | then only s1 is left: kept in order */
    assert_string_equal(nfx_ids(fx, &fx->out), "i0,i1,i3,i2,i4,i7,i5,i6,i8,i9,i10,i11");

    nfx_params(fx, "max_run_same_seller=1,limit=5");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "i0,i3,i1,i7,i2");

    nfx_params(fx, "max_run_same_seller=0");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "i0,i1,i2,i3,i4,i5,i6,i7,i8,i9,i10,i11");
}

/* Debunching a long pseudo-random list: a permutation, and a run over the bound only where
 * nothing but that seller is left. */
static void test_blend_debunch_property(void **state) {
    nfx_t *fx = *state;
    enum { N = 5000, K = 2 };
    uint64_t x = 88172645463325252ull;
    char id[16], fields[32];
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* seller 0 dominates so that runs are common */
        int s = (x % 10) < 6 ? 0 : (int)(x % 4);
        snprintf(id, sizeof(id), "%d", i);
        snprintf(fields, sizeof(fields), "seller_id=s%d", s);
        nfx_add(fx, 0, id, "livestream", NAN, "m", fields);
    }
    nfx_params(fx, "max_run_same_seller=2");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_int_equal(fx->out.n, N);
    static bool seen[N];
    memset(seen, 0, sizeof(seen));
    size_t run = 0;
    const msgpack_object *prev = NULL;
    for (size_t i = 0; i < fx->out.n; i++) {
        char num[16];
        assert_true(fx->out.v[i].id.len < sizeof(num));
        memcpy(num, fx->out.v[i].id.ptr, fx->out.v[i].id.len);
        num[fx->out.v[i].id.len] = '\0';
        int idx = atoi(num);
        assert_true(idx >= 0 && idx < N && !seen[idx]);
        seen[idx] = true;
        const msgpack_object *s = fmx_entity_field(&fx->out.v[i], "seller_id", 9);
        assert_non_null(s);
        run = prev && prev->via.str.size == s->via.str.size &&
                      memcmp(prev->via.str.ptr, s->via.str.ptr, s->via.str.size) == 0
                  ? run + 1
                  : 1;
        prev = s;
        if (run > K) {
            for (size_t j = i + 1; j < fx->out.n; j++) {
                const msgpack_object *t = fmx_entity_field(&fx->out.v[j], "seller_id", 9);
                assert_true(t->via.str.size == s->via.str.size &&
                            memcmp(t->via.str.ptr, s->via.str.ptr, s->via.str.size) == 0);
            }
            break;
        }
    }
}

/* ---- layout ---- */

static bool s_str_is(fmx_str_t a, const char *b) {
    return a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

/* token verifies with fx->key and names ranking R1, feed, source, model and the path given as
 * depth ints; fx->tok keeps the decoded token for further checks. */
static void s_token(nfx_t *fx, fmx_str_t token, const char *feed, const char *source, const char *model, size_t depth,
                    ...) {
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 1024));
    if (fmx_token_verify(&fx->key, token.ptr, token.len, &z, &fx->tok, fx->err) != 0)
        fail_msg("token '%.*s': %s", (int)token.len, token.ptr, fx->err);
    msgpack_zone_destroy(&z);
    const fmx_token_fields_t *f = &fx->tok.f;
    assert_true(s_str_is(f->ranking_id, "R1"));
    if (!s_str_is(f->feed, feed)) fail_msg("feed '%.*s', want '%s'", (int)f->feed.len, f->feed.ptr, feed);
    if (!s_str_is(f->source, source)) fail_msg("source '%.*s', want '%s'", (int)f->source.len, f->source.ptr, source);
    if (!s_str_is(f->model, model)) fail_msg("model '%.*s', want '%s'", (int)f->model.len, f->model.ptr, model);
    assert_int_equal(f->depth, depth);
    va_list ap;
    va_start(ap, depth);
    for (size_t d = 0; d < depth; d++) assert_int_equal(f->path[d], va_arg(ap, int));
    va_end(ap);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    assert_true(f->issued <= now.tv_sec && f->issued > now.tv_sec - 60);
}

static void test_layout(void **state) {
    nfx_t *fx = *state;
    fmx_entity_list_t kids_c, kids_d, kids_g;
    fmx_entity_list_init(&kids_c);
    fmx_entity_list_init(&kids_d);
    fmx_entity_list_init(&kids_g);
    fmx_entity_t k = nfx_ent(fx, "c1", "livestream", 0.5, "sub", NULL);
    assert_non_null(fmx_entity_list_push(&kids_c, &k, fx->zone));
    k = nfx_ent(fx, "c2", "livestream", NAN, "sub2", NULL);
    assert_non_null(fmx_entity_list_push(&kids_c, &k, fx->zone));
    k = nfx_ent(fx, "d1", "livestream", NAN, "sub", NULL);
    assert_non_null(fmx_entity_list_push(&kids_d, &k, fx->zone));

    nfx_add(fx, 0, "a", "livestream", 0.9, "follows", NULL);
    nfx_add(fx, 0, "c", "carousel", NAN, "new_sellers", NULL);
    fx->raw[0].v[1].items = kids_c;
    fx->raw[0].v[1].has_items = true;
    nfx_add(fx, 0, "d", "carousel", NAN, "other", NULL);
    fx->raw[0].v[2].items = kids_d;
    fx->raw[0].v[2].has_items = true;
    nfx_add(fx, 0, "g", "carousel", NAN, "empty", NULL);
    fx->raw[0].v[3].items = kids_g;
    fx->raw[0].v[3].has_items = true;
    nfx_add(fx, 0, "b", "livestream", 0.1, "trending", NULL);
    nfx_add(fx, 0, "e", "livestream", 0.0, "trending", NULL);

    nfx_context(fx, "user_id=42,feed=home");
    nfx_params(fx, "min_items=2,limit=3");
    assert_int_equal(nfx_run(fx, "layout"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "a,c,b");
    const char *sources[] = {"follows", "new_sellers", "trending"};
    for (size_t i = 0; i < 3; i++) {
        assert_true(fx->out.v[i].has_position);
        assert_int_equal(fx->out.v[i].position, (int64_t)i);
        s_token(fx, fx->out.v[i].token, "home", sources[i], "", 1, (int)i);
        assert_int_equal(fx->tok.f.n_variants, 0);
    }
    const fmx_entity_list_t *kids = &fx->out.v[1].items;
    assert_int_equal(kids->n, 2);
    assert_int_equal(kids->v[0].position, 0);
    assert_int_equal(kids->v[1].position, 1);
    s_token(fx, kids->v[0].token, "home", "sub", "", 2, 1, 0);
    s_token(fx, kids->v[1].token, "home", "sub2", "", 2, 1, 1);
    /* every token differs */
    assert_false(kids->v[0].token.len == kids->v[1].token.len &&
                 memcmp(kids->v[0].token.ptr, kids->v[1].token.ptr, kids->v[0].token.len) == 0);
    /* the input was not modified */
    assert_false(fx->in[0].v[1].items.v[0].has_position);
    assert_int_equal(fx->in[0].v[1].token.len, 0);

    /* the tokens survive packing */
    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_entity_list_pack(&fx->pk, &fx->out), 0);
    fmx_entity_list_t back;
    assert_int_equal(fmx_entity_list_decode_frame(fx->sb.data, fx->sb.size, fx->zone, &back, fx->err), 0);
    assert_int_equal(back.n, 3);
    s_token(fx, back.v[1].items.v[1].token, "home", "sub2", "", 2, 1, 1);
    assert_int_equal(back.v[2].position, 2);
    msgpack_sbuffer_clear(&fx->sb);

    /* min_items 0 keeps empty carousels; no limit keeps everything */
    nfx_params(fx, "");
    assert_int_equal(nfx_run(fx, "layout"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "a,c,d,g,b,e");
    s_token(fx, fx->out.v[5].token, "home", "trending", "", 1, 5);
    s_token(fx, fx->out.v[2].items.v[0].token, "home", "sub", "", 2, 2, 0);

    nfx_params(fx, "min_items=1");
    assert_int_equal(nfx_run(fx, "layout"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "a,c,d,b,e");
    s_token(fx, fx->out.v[3].token, "home", "trending", "", 1, 3);
}

/* The viewer's experiment variants travel in every token, children included. */
static void test_layout_tokens_carry_variants(void **state) {
    nfx_t *fx = *state;
    /* context {experiments: {ranker_test: treatment, ui: b}, feed: shop} */
    msgpack_sbuffer_clear(&fx->sb);
    msgpack_pack_map(&fx->pk, 2);
    msgpack_pack_str_with_body(&fx->pk, "experiments", 11);
    msgpack_pack_map(&fx->pk, 2);
    msgpack_pack_str_with_body(&fx->pk, "ranker_test", 11);
    msgpack_pack_str_with_body(&fx->pk, "treatment", 9);
    msgpack_pack_str_with_body(&fx->pk, "ui", 2);
    msgpack_pack_str_with_body(&fx->pk, "b", 1);
    msgpack_pack_str_with_body(&fx->pk, "feed", 4);
    msgpack_pack_str_with_body(&fx->pk, "shop", 4);
    fx->context = nfx_take_obj(fx);
    fmx_entity_list_t kids;
    fmx_entity_list_init(&kids);
    fmx_entity_t k = nfx_ent(fx, "k", "product", 1.0, "x", NULL);
    assert_non_null(fmx_entity_list_push(&kids, &k, fx->zone));
    nfx_add(fx, 0, "a", "livestream", 0.9, "follows", NULL);
    nfx_add(fx, 0, "c", "carousel", NAN, "sub", NULL);
    fx->raw[0].v[1].items = kids;
    fx->raw[0].v[1].has_items = true;
    assert_int_equal(nfx_run(fx, "layout"), 0);
    for (int i = 0; i < 2; i++) {
        if (i == 0)
            s_token(fx, fx->out.v[0].token, "shop", "follows", "", 1, 0);
        else
            s_token(fx, fx->out.v[1].items.v[0].token, "shop", "x", "", 2, 1, 0);
        assert_int_equal(fx->tok.f.n_variants, 2);
        assert_true(s_str_is(fx->tok.f.experiments[0], "ranker_test") && s_str_is(fx->tok.f.variants[0], "treatment"));
        assert_true(s_str_is(fx->tok.f.experiments[1], "ui") && s_str_is(fx->tok.f.variants[1], "b"));
    }
}

/* The model in a token: the item's fields.model, else the layout's `model` param, else empty. */
static void test_layout_token_model(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "a", "livestream", 0.9, "follows", "model=gbdt_v3,seller_id=s1");
    nfx_add(fx, 0, "b", "livestream", 0.5, "trending", "seller_id=s2");
    nfx_add(fx, 0, "c", "livestream", 0.4, "trending", "model=7");
    nfx_context(fx, "feed=home");
    nfx_params(fx, "model=linear_v2");
    assert_int_equal(nfx_run(fx, "layout"), 0);
    s_token(fx, fx->out.v[0].token, "home", "follows", "gbdt_v3", 1, 0);
    s_token(fx, fx->out.v[1].token, "home", "trending", "linear_v2", 1, 1);
    s_token(fx, fx->out.v[2].token, "home", "trending", "linear_v2", 1, 2); /* not a str: the param */
    /* a token from another key is refused */
    fmx_token_key_t other;
    assert_int_equal(fmx_token_key_generate(&other, fx->err), 0);
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 1024));
    assert_int_equal(fmx_token_verify(&other, fx->out.v[0].token.ptr, fx->out.v[0].token.len, &z, &fx->tok, fx->err),
                     -1);
    msgpack_zone_destroy(&z);
    nfx_params(fx, "model=3");
    assert_int_equal(nfx_run(fx, "layout"), -1);
    assert_non_null(strstr(fx->err, "model"));
}

/* Without a key layout does not start; too many experiments is an error, not a silent cut. */
static void test_layout_needs_a_key(void **state) {
    nfx_t *fx = *state;
    const fmx_node_type_t *t = fmx_node_type_find("layout");
    assert_non_null(t);
    assert_non_null(t->init);
    fmx_actor_env_t env = {"layout", NULL, NULL, NULL};
    void *st = NULL;
    assert_int_equal(t->init(&st, &env, fx->err), -1);
    assert_non_null(strstr(fx->err, "--token-key"));
    env.token_key = &fx->key;
    assert_int_equal(t->init(&st, &env, fx->err), 0);

    msgpack_sbuffer_clear(&fx->sb);
    msgpack_pack_map(&fx->pk, 1);
    msgpack_pack_str_with_body(&fx->pk, "experiments", 11);
    msgpack_pack_map(&fx->pk, FMX_TOKEN_MAX_VARIANTS + 1);
    for (int i = 0; i <= FMX_TOKEN_MAX_VARIANTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "e%d", i);
        nfx_str(fx, name);
        nfx_str(fx, "v");
    }
    fx->context = nfx_take_obj(fx);
    nfx_add(fx, 0, "a", "livestream", 0.9, "follows", NULL);
    assert_int_equal(nfx_run(fx, "layout"), -1);
    assert_non_null(strstr(fx->err, "experiment"));
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, nfx_setup, nfx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_table),
        T(test_retrieve),
        T(test_retrieve_entity_type_limit),
        T(test_retrieve_missing_and_errors),
        T(test_hydrate),
        T(test_hydrate_fields_projection),
        T(test_hydrate_many_and_deadline),
        T(test_hydrate_nested),
        T(test_hydrate_nested_redis),
        T(test_merge),
        T(test_merge_many_and_deadline),
        T(test_filter),
        T(test_filter_cache_and_errors),
        T(test_score_inline),
        T(test_score_model),
        T(test_rank),
        T(test_blend_slots),
        T(test_blend_debunch),
        T(test_blend_debunch_property),
        T(test_layout),
        T(test_layout_tokens_carry_variants),
        T(test_layout_token_model),
        T(test_layout_needs_a_key),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
