/* test_nodes_lib.c - the node library of issue 4: group, and the extensions of rank (per-group
 * caps, ranking within and across collections), blend (weave, score, generic debunching),
 * filter (seen and blocked lists from the store) and merge (fields.sources).
 *
 * Handlers are called directly through the node table, on inputs that went through a msgpack
 * round trip as the actor runtime hands them over; outputs are packed and decoded back too, so a
 * collection or a fields map built in the zone is proven to be valid on the wire. filter reads a
 * real LMDB store in a temp dir, closed before its output is checked. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "actors/node.h"
#include "common/store.h"
#include "schemas/entity.h"
#include "schemas/mpobj.h"

#define S_MAX_INPUTS 4

typedef struct {
    msgpack_zone *zone;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    fmx_entity_list_t raw[S_MAX_INPUTS]; /* as built */
    fmx_entity_list_t in[S_MAX_INPUTS];  /* after the msgpack round trip */
    size_t n_inputs;
    msgpack_object params, context;
    fmx_actor_env_t env;
    fmx_task_t task;
    void *state;
    const fmx_node_type_t *type;
    fmx_entity_list_t out;
    char err[FMX_ERR_LEN];
    char dir[64];
    fmx_store_t *store;
    fmx_store_txn_t *wtxn;
    char ids[16384];
} s_fx_t;

/* ---- fixture ---- */

static int s_setup(void **state) {
    s_fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->zone = msgpack_zone_new(8192);
    assert_non_null(fx->zone);
    msgpack_sbuffer_init(&fx->sb);
    msgpack_packer_init(&fx->pk, &fx->sb, msgpack_sbuffer_write);
    fx->params.type = MSGPACK_OBJECT_NIL;
    fx->context.type = MSGPACK_OBJECT_NIL;
    fx->env.node_type = "test";
    *state = fx;
    return 0;
}

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int s_teardown(void **state) {
    s_fx_t *fx = *state;
    if (fx->type && fx->type->fini) fx->type->fini(&fx->state);
    fmx_store_txn_end(&fx->wtxn);
    fmx_store_close(&fx->store);
    if (fx->dir[0]) nftw(fx->dir, s_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    msgpack_sbuffer_destroy(&fx->sb);
    msgpack_zone_free(fx->zone);
    free(fx);
    return 0;
}

/* What fx->sb holds, copied into the zone and unpacked there. */
static msgpack_object s_take_obj(s_fx_t *fx) {
    char *copy = msgpack_zone_malloc(fx->zone, fx->sb.size);
    assert_non_null(copy);
    memcpy(copy, fx->sb.data, fx->sb.size);
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(copy, fx->sb.size, &off, fx->zone, &o), MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_clear(&fx->sb);
    return o;
}

static void s_str(s_fx_t *fx, const char *s) {
    assert_int_equal(fmx_mp_pack_cstr(&fx->pk, s), 0);
}

/* One scalar from text: an int, a float (has '.'), true/false, null, or else a string. */
static void s_pack_scalar(s_fx_t *fx, const char *v) {
    char *end;
    long long i = strtoll(v, &end, 10);
    if (*v && !*end) {
        msgpack_pack_int64(&fx->pk, i);
        return;
    }
    double d = strtod(v, &end);
    if (*v && !*end && strchr(v, '.'))
        msgpack_pack_double(&fx->pk, d);
    else if (strcmp(v, "true") == 0)
        msgpack_pack_true(&fx->pk);
    else if (strcmp(v, "false") == 0)
        msgpack_pack_false(&fx->pk);
    else if (strcmp(v, "null") == 0)
        msgpack_pack_nil(&fx->pk);
    else
        s_str(fx, v);
}

/* Packs "k=v,k2=[a|b]" as a map; a value in [] is a list of scalars separated by '|'. A value
 * runs to the next ',' and may hold '=' ("where=a == 1"). */
static void s_pack_spec(s_fx_t *fx, const char *spec) {
    char buf[8192];
    assert_true(strlen(spec) < sizeof(buf));
    strcpy(buf, spec);
    uint32_t n = *spec ? 1 : 0;
    for (const char *p = spec; *p; p++)
        n += *p == ',';
    msgpack_pack_map(&fx->pk, n);
    char *save = NULL;
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        assert_non_null(eq);
        *eq = '\0';
        char *v = eq + 1;
        s_str(fx, kv);
        size_t len = strlen(v);
        if (len >= 2 && v[0] == '[' && v[len - 1] == ']') {
            v[len - 1] = '\0';
            v++;
            uint32_t items = *v ? 1 : 0;
            for (const char *p = v; *p; p++)
                items += *p == '|';
            msgpack_pack_array(&fx->pk, items);
            char *save2 = NULL;
            for (char *it = strtok_r(v, "|", &save2); it; it = strtok_r(NULL, "|", &save2))
                s_pack_scalar(fx, it);
        } else {
            s_pack_scalar(fx, v);
        }
    }
}

static fmx_str_t s_zstr(s_fx_t *fx, const char *s) {
    if (!s) return FMX_STR_NULL;
    size_t n = strlen(s);
    char *p = msgpack_zone_malloc(fx->zone, n + 1);
    assert_non_null(p);
    memcpy(p, s, n + 1);
    return (fmx_str_t){p, n};
}

/* An entity: score NAN = unscored; source and fields NULL = none. */
static fmx_entity_t s_ent(s_fx_t *fx, const char *id, const char *type, double score, const char *source,
                          const char *fields) {
    fmx_entity_t e;
    memset(&e, 0, sizeof(e));
    e.id = s_zstr(fx, id);
    e.type = s_zstr(fx, type);
    e.source = s_zstr(fx, source);
    if (!isnan(score)) {
        e.score = score;
        e.has_score = true;
    }
    e.fields.type = MSGPACK_OBJECT_NIL;
    if (fields) {
        s_pack_spec(fx, fields);
        e.fields = s_take_obj(fx);
    }
    return e;
}

static fmx_entity_t *s_add(s_fx_t *fx, size_t input, const char *id, const char *type, double score, const char *source,
                           const char *fields) {
    assert_true(input < S_MAX_INPUTS);
    if (input >= fx->n_inputs) fx->n_inputs = input + 1;
    fmx_entity_t e = s_ent(fx, id, type, score, source, fields);
    fmx_entity_t *p = fmx_entity_list_push(&fx->raw[input], &e, fx->zone);
    assert_non_null(p);
    return p;
}

/* A child of the collection c (the last entity s_add returned). */
static void s_child(s_fx_t *fx, fmx_entity_t *c, const char *id, double score, const char *fields) {
    fmx_entity_t e = s_ent(fx, id, "product", score, "sub", fields);
    assert_non_null(fmx_entity_list_push(&c->items, &e, fx->zone));
    c->has_items = true;
}

static void s_params(s_fx_t *fx, const char *spec) {
    s_pack_spec(fx, spec);
    fx->params = s_take_obj(fx);
}

/* Packs then decodes list, as the runner would before replying and the broker after. */
static void s_round_trip(s_fx_t *fx, const fmx_entity_list_t *list, fmx_entity_list_t *back) {
    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_entity_list_pack(&fx->pk, list), 0);
    char *frame = msgpack_zone_malloc(fx->zone, fx->sb.size);
    assert_non_null(frame);
    memcpy(frame, fx->sb.data, fx->sb.size);
    assert_int_equal(fmx_entity_list_decode_frame(frame, fx->sb.size, fx->zone, back, fx->err), 0);
    msgpack_sbuffer_clear(&fx->sb);
}

/* Runs node type `name` on the inputs built so far. On success the output is replaced by its own
 * msgpack round trip. */
static int s_run(s_fx_t *fx, const char *name) {
    const fmx_node_type_t *type = fmx_node_type_find(name);
    assert_non_null(type);
    if (fx->type != type) {
        if (fx->type && fx->type->fini) fx->type->fini(&fx->state);
        fx->type = type;
        if (type->init) assert_int_equal(type->init(&fx->state, &fx->env, fx->err), 0);
    }
    for (size_t i = 0; i < fx->n_inputs; i++)
        s_round_trip(fx, &fx->raw[i], &fx->in[i]);
    if (fx->params.type == MSGPACK_OBJECT_NIL) s_params(fx, "");
    if (fx->context.type == MSGPACK_OBJECT_NIL) {
        s_pack_spec(fx, "user_id=42,geo=DE");
        fx->context = s_take_obj(fx);
    }
    fx->task.request_id = FMX_STR_LIT("req-1");
    fx->task.ranking_id = FMX_STR_LIT("R1");
    if (!fx->task.node.ptr) fx->task.node = FMX_STR_LIT("grp");
    fx->task.params = &fx->params;
    fx->task.context = &fx->context;
    fx->task.inputs = fx->in;
    fx->task.n_inputs = fx->n_inputs;
    fx->task.zone = fx->zone;
    fx->task.env = &fx->env;
    fx->task.state = fx->state;
    fmx_entity_list_init(&fx->out);
    fx->err[0] = '\0';
    int rc = type->run(&fx->task, &fx->out, fx->err);
    if (rc == 0) {
        fmx_entity_list_t back;
        s_round_trip(fx, &fx->out, &back);
        fx->out = back;
    }
    return rc;
}

/* Runs and expects an error whose message contains `what`. */
static void s_run_fails(s_fx_t *fx, const char *name, const char *what) {
    assert_int_equal(s_run(fx, name), -1);
    if (!strstr(fx->err, what)) fail_msg("error '%s' does not mention '%s'", fx->err, what);
}

/* "id,id(child,child),..." of a list. */
static size_t s_ids_into(const fmx_entity_list_t *l, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        const fmx_entity_t *e = &l->v[i];
        int w = snprintf(buf + n, cap - n, "%s%.*s", i ? "," : "", (int)e->id.len, e->id.ptr);
        assert_true(w > 0 && (size_t)w < cap - n);
        n += (size_t)w;
        if (!e->has_items) continue;
        assert_true(n + 2 < cap);
        buf[n++] = '(';
        n += s_ids_into(&e->items, buf + n, cap - n);
        assert_true(n + 2 < cap);
        buf[n++] = ')';
        buf[n] = '\0';
    }
    return n;
}

static const char *s_ids(s_fx_t *fx) {
    s_ids_into(&fx->out, fx->ids, sizeof(fx->ids));
    return fx->ids;
}

static void s_assert_str(fmx_str_t s, const char *want) {
    if (!s.ptr || s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)s.len, s.ptr ? s.ptr : "(null)", want);
}

static void s_assert_field_str(const fmx_entity_t *e, const char *k, const char *want) {
    fmx_str_t v;
    assert_int_equal(fmx_mp_get_str(&e->fields, k, &v), 0);
    s_assert_str(v, want);
}

static void s_assert_score(const fmx_entity_t *e, double want) {
    assert_true(e->has_score);
    if (fabs(e->score - want) > 1e-9) fail_msg("score %g, want %g", e->score, want);
}

/* ---- store ---- */

static void s_store_open(s_fx_t *fx) {
    strcpy(fx->dir, "/tmp/fmx-test-nodes-lib-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->store = fmx_store_open(fx->dir, 0, 16, fx->err);
    assert_non_null(fx->store);
    fx->wtxn = fmx_store_write_begin(fx->store, fx->err);
    assert_non_null(fx->wtxn);
    fx->env.store = fx->store;
}

static void s_store_put(s_fx_t *fx, const char *key) {
    assert_int_equal(fmx_store_put(fx->wtxn, key, strlen(key), fx->sb.data, fx->sb.size, fx->err), 0);
    msgpack_sbuffer_clear(&fx->sb);
}

static void s_store_commit(s_fx_t *fx) {
    assert_int_equal(fmx_store_commit(&fx->wtxn, fx->err), 0);
}

/* ---- group ---- */

static void s_group_inputs(s_fx_t *fx) {
    s_add(fx, 0, "a", "product", 0.9, "r", "seller_id=s1");
    s_add(fx, 0, "b", "product", 0.8, "r", "seller_id=s2");
    s_add(fx, 0, "c", "product", 0.7, "r", "seller_id=s1");
    s_add(fx, 0, "d", "product", 0.6, "r", "category=toys"); /* no seller_id */
    s_add(fx, 0, "e", "product", 0.5, "r", "seller_id=1.5"); /* a float: not a key */
    s_add(fx, 0, "f", "product", 0.1, "r", "seller_id=s3");
    s_add(fx, 0, "g", "product", NAN, "r", "seller_id=s2");   /* unscored */
    s_add(fx, 0, "h", "product", 0.4, "r", "seller_id=null"); /* null: not a key */
    s_add(fx, 0, "i", "product", 0.3, "r", NULL);             /* no fields at all */
}

static void test_group_basic(void **state) {
    s_fx_t *fx = *state;
    s_group_inputs(fx);
    s_params(fx, "by=seller_id");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "grp:s1(a,c),grp:s2(b,g),grp:s3(f)");
    const fmx_entity_t *s1 = &fx->out.v[0];
    s_assert_str(s1->type, "carousel");
    s_assert_str(s1->source, "grp");
    s_assert_field_str(s1, "title", "s1");
    s_assert_field_str(s1, "group_by", "seller_id");
    s_assert_field_str(s1, "value", "s1");
    assert_int_equal(s1->fields.via.map.size, 3);
    s_assert_score(&fx->out.v[0], 0.9); /* max */
    s_assert_score(&fx->out.v[1], 0.8); /* g is unscored and does not count */
    s_assert_score(&fx->out.v[2], 0.1);
    /* members keep what they had */
    s_assert_field_str(&s1->items.v[1], "seller_id", "s1");
    s_assert_score(&s1->items.v[1], 0.7);
    /* the input was not touched */
    assert_int_equal(fx->in[0].n, 9);
    assert_false(fx->in[0].v[0].has_items);

    s_params(fx, "by=seller_id,score=mean");
    assert_int_equal(s_run(fx, "group"), 0);
    s_assert_score(&fx->out.v[0], 0.8);
    s_assert_score(&fx->out.v[1], 0.8);
    s_params(fx, "by=seller_id,score=sum");
    assert_int_equal(s_run(fx, "group"), 0);
    s_assert_score(&fx->out.v[0], 1.6);
    s_assert_score(&fx->out.v[1], 0.8);
    s_params(fx, "by=seller_id,score=max");
    assert_int_equal(s_run(fx, "group"), 0);
    s_assert_score(&fx->out.v[1], 0.8);
}

/* "source" and "type" group by the entity's own attributes when no field has that name; a field
 * of that name wins. */
static void test_group_by_source_and_type(void **state) {
    s_fx_t *fx = *state;
    s_add(fx, 0, "a", "livestream", 0.9, "follows", NULL);
    s_add(fx, 0, "b", "livestream", 0.8, "trending", NULL);
    s_add(fx, 0, "c", "product", 0.7, "follows", NULL);
    s_add(fx, 0, "d", "product", 0.6, "trending", "source=editorial");
    s_params(fx, "by=source");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "grp:follows(a,c),grp:trending(b),grp:editorial(d)");
    s_assert_field_str(&fx->out.v[0], "value", "follows");
    s_assert_field_str(&fx->out.v[0], "group_by", "source");
    s_params(fx, "by=type");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "grp:livestream(a,b),grp:product(c,d)");
    s_params(fx, "by=id"); /* only source and type fall back: no field `id`, no groups */
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "");
}

static void test_group_caps(void **state) {
    s_fx_t *fx = *state;
    s_group_inputs(fx);
    s_params(fx, "by=seller_id,min_items=2");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "grp:s1(a,c),grp:s2(b,g)");
    /* min_items counts every member, before max_items cuts */
    s_params(fx, "by=seller_id,min_items=2,max_items=1");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "grp:s1(a),grp:s2(b)");
    s_params(fx, "by=seller_id,max_groups=2");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "grp:s1(a,c),grp:s2(b,g)");
    s_params(fx, "by=seller_id,min_items=2,max_groups=1,max_items=0");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "grp:s1(a,c)");
    /* the score comes from the kept members */
    s_params(fx, "by=seller_id,max_items=1,score=sum");
    assert_int_equal(s_run(fx, "group"), 0);
    s_assert_score(&fx->out.v[0], 0.9);
    s_assert_score(&fx->out.v[1], 0.8);
    s_params(fx, "by=seller_id,min_items=3");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_int_equal(fx->out.n, 0);
    s_params(fx, "by=nothing_has_this");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_int_equal(fx->out.n, 0);
}

static void test_group_values_and_titles(void **state) {
    s_fx_t *fx = *state;
    s_add(fx, 0, "a", "livestream", 0.5, "r", "cat=7,live=true");
    s_add(fx, 0, "b", "livestream", NAN, "r", "cat=-2,live=false");
    s_add(fx, 0, "c", "livestream", 0.2, "r", "cat=7,live=true");
    s_add(fx, 0, "d", "livestream", 0.1, "r", "cat=s7,live=1"); /* the string "s7", the int 1 */
    fx->task.node = FMX_STR_LIT("by_cat");
    s_params(fx, "by=cat,type=shelf,title=More in {value}: {value}!");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "by_cat:7(a,c),by_cat:-2(b),by_cat:s7(d)");
    s_assert_str(fx->out.v[0].type, "shelf");
    s_assert_field_str(&fx->out.v[0], "title", "More in 7: 7!");
    s_assert_field_str(&fx->out.v[1], "title", "More in -2: -2!");
    int64_t v = 0;
    assert_int_equal(fmx_mp_get_int(&fx->out.v[0].fields, "value", &v), 0); /* stays an int */
    assert_int_equal(v, 7);
    assert_false(fx->out.v[1].has_score); /* no scored member */

    s_params(fx, "by=live,title=Live: {value}");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "by_cat:true(a,c),by_cat:false(b),by_cat:1(d)");
    s_assert_field_str(&fx->out.v[1], "title", "Live: false");
    bool b = true;
    assert_int_equal(fmx_mp_get_bool(&fx->out.v[1].fields, "value", &b), 0);
    assert_false(b);

    s_params(fx, "by=cat,title=Fixed");
    assert_int_equal(s_run(fx, "group"), 0);
    s_assert_field_str(&fx->out.v[2], "title", "Fixed");
}

static void test_group_edges(void **state) {
    s_fx_t *fx = *state;
    /* empty input */
    fx->n_inputs = 1;
    s_params(fx, "by=seller_id");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_int_equal(fx->out.n, 0);
    /* all in one group, ties kept in input order */
    s_add(fx, 0, "a", "product", 0.5, "r", "seller_id=s1");
    s_add(fx, 0, "b", "product", 0.5, "r", "seller_id=s1");
    s_add(fx, 0, "c", "product", 0.5, "r", "seller_id=s1");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_string_equal(s_ids(fx), "grp:s1(a,b,c)");
    s_params(fx, "by=seller_id,title=x{value}");
    assert_int_equal(s_run(fx, "group"), 0);
    s_assert_field_str(&fx->out.v[0], "title", "xs1");
}

/* A title that would be huge is cut at 4096 bytes, and the node still answers. */
static void test_group_title_cap(void **state) {
    s_fx_t *fx = *state;
    char fields[128] = "seller_id=";
    for (int i = 0; i < 5; i++)
        strcat(fields, "abcdefghij"); /* a 50-byte value */
    s_add(fx, 0, "a", "product", 0.5, "r", fields);
    char params[1024] = "by=seller_id,title=";
    for (int i = 0; i < 100; i++)
        strcat(params, "\xc3\xa9{value}"); /* 900 bytes of template */
    s_params(fx, params);
    assert_int_equal(s_run(fx, "group"), 0);
    fmx_str_t t;
    assert_int_equal(fmx_mp_get_str(&fx->out.v[0].fields, "title", &t), 0);
    assert_int_equal(t.len, 4096); /* 100 x 52 bytes wanted */
    assert_memory_equal(t.ptr,
                        "\xc3\xa9"
                        "abcdefghij",
                        12);
    /* a template over 1024 bytes is refused */
    char long_title[1200] = "by=seller_id,title=";
    for (int i = 0; i < 103; i++)
        strcat(long_title, "0123456789");
    s_params(fx, long_title);
    s_run_fails(fx, "group", "'title'");
}

static void test_group_title_cut_mid_character(void **state) {
    s_fx_t *fx = *state;
    /* "abc" then 2-byte characters: byte 4096 falls inside one, which is dropped whole */
    char value[5000] = "seller_id=abc";
    for (int i = 0; i < 2100; i++)
        strcat(value, "\xc3\xa9");
    s_add(fx, 0, "a", "product", 0.5, "r", value);
    s_params(fx, "by=seller_id");
    assert_int_equal(s_run(fx, "group"), 0);
    fmx_str_t t;
    assert_int_equal(fmx_mp_get_str(&fx->out.v[0].fields, "title", &t), 0);
    assert_int_equal(t.len, 4095); /* "abc" + 2046 whole characters; the 2047th was split */
    assert_int_equal((unsigned char)t.ptr[t.len - 1], 0xa9);
}

static void test_group_bad_params(void **state) {
    s_fx_t *fx = *state;
    s_group_inputs(fx);
    s_params(fx, "");
    s_run_fails(fx, "group", "'by'");
    s_params(fx, "by=");
    s_run_fails(fx, "group", "'by'");
    s_params(fx, "by=3");
    s_run_fails(fx, "group", "'by'");
    s_params(fx, "by=seller_id,score=median");
    s_run_fails(fx, "group", "'score'");
    s_params(fx, "by=seller_id,max_items=-1");
    s_run_fails(fx, "group", "'max_items'");
    s_params(fx, "by=seller_id,min_items=x");
    s_run_fails(fx, "group", "'min_items'");
    s_params(fx, "by=seller_id,max_groups=-3");
    s_run_fails(fx, "group", "'max_groups'");
    s_params(fx, "by=seller_id,type=");
    s_run_fails(fx, "group", "'type'");
    s_add(fx, 1, "z", "product", 0.5, "r", NULL);
    s_params(fx, "by=seller_id");
    s_run_fails(fx, "group", "one input");
}

static void test_group_many_and_deadline(void **state) {
    s_fx_t *fx = *state;
    char id[16], f[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "p%d", i);
        snprintf(f, sizeof f, "seller_id=s%d", i % 700);
        s_add(fx, 0, id, "product", (double)i, "r", f);
    }
    s_params(fx, "by=seller_id,max_items=3");
    assert_int_equal(s_run(fx, "group"), 0);
    assert_int_equal(fx->out.n, 700);
    s_assert_str(fx->out.v[0].id, "grp:s0");
    assert_int_equal(fx->out.v[0].items.n, 3);
    s_assert_str(fx->out.v[0].items.v[2].id, "p1400");
    s_assert_score(&fx->out.v[0], 1400);
    assert_int_equal(fx->out.v[699].items.n, 3); /* 5000 = 7 * 700 + 100: s699 has 7 */
    fx->task.deadline_us = 1;
    s_run_fails(fx, "group", "deadline passed");
}

/* ---- rank ---- */

static void test_rank_per_group(void **state) {
    s_fx_t *fx = *state;
    s_add(fx, 0, "a", "product", 0.1, "r", "seller_id=s1");
    s_add(fx, 0, "b", "product", 0.9, "r", "seller_id=s1");
    s_add(fx, 0, "c", "product", 0.8, "r", "seller_id=s1");
    s_add(fx, 0, "d", "product", 0.7, "r", "seller_id=s2");
    s_add(fx, 0, "e", "product", 0.8, "r", "seller_id=s1");
    s_add(fx, 0, "f", "product", 0.5, "r", NULL); /* no field: never capped */
    s_add(fx, 0, "g", "product", 0.4, "r", NULL);
    s_add(fx, 0, "h", "product", 0.3, "r", "seller_id=7");
    s_add(fx, 0, "i", "product", 0.2, "r", "seller_id=7");
    s_params(fx, "per_group_by=seller_id,per_group_limit=2");
    assert_int_equal(s_run(fx, "rank"), 0);
    /* sorted: b .9, c .8, e .8 (tie: input order), d, f, g, h, i, a */
    assert_string_equal(s_ids(fx), "b,c,d,f,g,h,i");
    s_params(fx, "per_group_by=seller_id,per_group_limit=1,limit=3");
    assert_int_equal(s_run(fx, "rank"), 0);
    assert_string_equal(s_ids(fx), "b,d,f");
    s_params(fx, "per_group_by=seller_id"); /* no limit: no cap */
    assert_int_equal(s_run(fx, "rank"), 0);
    assert_string_equal(s_ids(fx), "b,c,e,d,f,g,h,i,a");
    s_params(fx, "per_group_limit=2");
    s_run_fails(fx, "rank", "per_group_by");
    s_params(fx, "per_group_by=seller_id,per_group_limit=-1");
    s_run_fails(fx, "rank", "per_group_limit");
    s_params(fx, "across=yes");
    s_run_fails(fx, "rank", "across");
}

static void s_rank_collections(s_fx_t *fx) {
    fmx_entity_t *c1 = s_add(fx, 0, "c1", "carousel", NAN, "g", NULL); /* ranked by its best item */
    s_child(fx, c1, "i1", 0.1, NULL);
    s_child(fx, c1, "i2", 0.5, NULL);
    s_child(fx, c1, "i3", 0.3, NULL);
    s_child(fx, c1, "i4", NAN, NULL);
    s_add(fx, 0, "x", "livestream", 0.45, "r", NULL);
    fmx_entity_t *c2 = s_add(fx, 0, "c2", "carousel", 0.4, "g", NULL); /* its own score counts */
    s_child(fx, c2, "j1", 0.9, NULL);
    s_child(fx, c2, "j2", 0.2, NULL);
    s_child(fx, c2, "j3", 0.2, NULL);
    s_add(fx, 0, "y", "livestream", 0.6, "r", NULL);
    fmx_entity_t *c3 = s_add(fx, 0, "c3", "carousel", NAN, "g", NULL); /* empty, unscored: last */
    c3->has_items = true;
    s_add(fx, 0, "z", "livestream", NAN, "r", NULL);
}

static void test_rank_within_and_across(void **state) {
    s_fx_t *fx = *state;
    s_rank_collections(fx);
    assert_int_equal(s_run(fx, "rank"), 0);
    /* within: items sorted, all kept; across: c1 by its best item 0.5 */
    assert_string_equal(s_ids(fx), "y,c1(i2,i3,i1,i4),x,c2(j1,j2,j3),c3(),z");
    s_params(fx, "items_limit=2");
    assert_int_equal(s_run(fx, "rank"), 0);
    assert_string_equal(s_ids(fx), "y,c1(i2,i3),x,c2(j1,j2),c3(),z");
    s_params(fx, "items_limit=1,limit=3");
    assert_int_equal(s_run(fx, "rank"), 0);
    assert_string_equal(s_ids(fx), "y,c1(i2),x");
    /* across false: collections keep their slots, the rest is sorted around them */
    s_params(fx, "items_limit=2,across=false");
    assert_int_equal(s_run(fx, "rank"), 0);
    assert_string_equal(s_ids(fx), "c1(i2,i3),y,c2(j1,j2),x,c3(),z");
    /* the input was not reordered */
    const fmx_entity_list_t *kids = &fx->in[0].v[0].items;
    assert_int_equal(kids->n, 4);
    s_assert_str(kids->v[0].id, "i1");
    s_params(fx, "items_limit=-2");
    s_run_fails(fx, "rank", "items_limit");
}

static void test_rank_collections_by_field(void **state) {
    s_fx_t *fx = *state;
    fmx_entity_t *c = s_add(fx, 0, "c", "carousel", 0.99, "g", NULL);
    s_child(fx, c, "k1", 0.9, "viewers=1");
    s_child(fx, c, "k2", 0.1, "viewers=30");
    s_add(fx, 0, "a", "livestream", 0.1, "r", "viewers=20");
    s_add(fx, 0, "b", "livestream", 0.2, "r", "viewers=40");
    s_params(fx, "by=viewers");
    assert_int_equal(s_run(fx, "rank"), 0);
    /* within by the same field; across: c has no viewers of its own, so its best item's 30 */
    assert_string_equal(s_ids(fx), "b,c(k2,k1),a");
}

static void test_rank_only_collections_across_false(void **state) {
    s_fx_t *fx = *state;
    fmx_entity_t *c = s_add(fx, 0, "c", "carousel", NAN, "g", NULL);
    s_child(fx, c, "k1", 0.1, NULL);
    s_child(fx, c, "k2", 0.2, NULL);
    c = s_add(fx, 0, "d", "carousel", NAN, "g", NULL);
    s_child(fx, c, "m1", 0.9, NULL);
    s_params(fx, "across=false");
    assert_int_equal(s_run(fx, "rank"), 0);
    assert_string_equal(s_ids(fx), "c(k2,k1),d(m1)");
    s_params(fx, "");
    assert_int_equal(s_run(fx, "rank"), 0);
    assert_string_equal(s_ids(fx), "d(m1),c(k2,k1)");
    /* empty input */
    memset(&fx->raw[0], 0, sizeof(fx->raw[0]));
    assert_int_equal(s_run(fx, "rank"), 0);
    assert_int_equal(fx->out.n, 0);
}

/* ---- blend ---- */

static void s_letters(s_fx_t *fx, size_t input, const char *prefix, int n) {
    char id[16];
    for (int i = 1; i <= n; i++) {
        snprintf(id, sizeof id, "%s%d", prefix, i);
        s_add(fx, input, id, "livestream", NAN, prefix, NULL);
    }
}

static void test_blend_weave(void **state) {
    s_fx_t *fx = *state;
    s_letters(fx, 0, "a", 7);
    s_letters(fx, 1, "b", 2);
    s_params(fx, "strategy=weave,ratio=[3|1]");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "a1,a2,a3,b1,a4,a5,a6,b2,a7");
    s_params(fx, "strategy=weave,ratio=[1|2],limit=5");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "a1,b1,b2,a2,a3");
    /* no ratio: one from each in turn; an exhausted input is skipped */
    s_params(fx, "strategy=weave");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "a1,b1,a2,b2,a3,a4,a5,a6,a7");
    /* a 0 never takes */
    s_params(fx, "strategy=weave,ratio=[0|1]");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "b1,b2");
    s_params(fx, "strategy=weave,ratio=[0|0]");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_int_equal(fx->out.n, 0);
}

static void test_blend_weave_three_inputs_exhausted(void **state) {
    s_fx_t *fx = *state;
    s_letters(fx, 0, "a", 2);
    fx->n_inputs = 2; /* input 1 empty */
    s_letters(fx, 2, "c", 5);
    s_params(fx, "strategy=weave,ratio=[2|2|1]");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "a1,a2,c1,c2,c3,c4,c5");
}

static void test_blend_bad_lists(void **state) {
    s_fx_t *fx = *state;
    s_letters(fx, 0, "a", 2);
    s_letters(fx, 1, "b", 2);
    s_params(fx, "strategy=weave,ratio=[3]");
    s_run_fails(fx, "blend", "'ratio'");
    s_params(fx, "strategy=weave,ratio=[3|1|1]");
    s_run_fails(fx, "blend", "'ratio'");
    s_params(fx, "strategy=weave,ratio=[3|-1]");
    s_run_fails(fx, "blend", "'ratio'");
    s_params(fx, "strategy=weave,ratio=[3|x]");
    s_run_fails(fx, "blend", "'ratio'");
    s_params(fx, "strategy=weave,ratio=3");
    s_run_fails(fx, "blend", "'ratio'");
    s_params(fx, "strategy=score,quotas=[1]");
    s_run_fails(fx, "blend", "'quotas'");
    s_params(fx, "strategy=score,quotas=[1|-5]");
    s_run_fails(fx, "blend", "'quotas'");
    s_params(fx, "strategy=score,quotas=[1|1.5]");
    s_run_fails(fx, "blend", "'quotas'");
    s_params(fx, "max_run=2,max_run_same_seller=2");
    s_run_fails(fx, "blend", "max_run");
    s_params(fx, "max_run=-1");
    s_run_fails(fx, "blend", "'max_run'");
    s_params(fx, "max_run=1,debunch_by=");
    s_run_fails(fx, "blend", "'debunch_by'");
    s_params(fx, "strategy=zigzag");
    s_run_fails(fx, "blend", "weave");
}

static void test_blend_score(void **state) {
    s_fx_t *fx = *state;
    s_add(fx, 0, "a1", "livestream", 0.9, "A", NULL);
    s_add(fx, 0, "a2", "livestream", 0.5, "A", NULL);
    s_add(fx, 0, "a3", "livestream", 0.4, "A", NULL);
    s_add(fx, 0, "a4", "livestream", NAN, "A", NULL);
    s_add(fx, 0, "a5", "livestream", 0.1, "A", NULL);
    s_add(fx, 1, "b1", "product", 0.95, "B", NULL);
    s_add(fx, 1, "b2", "product", 0.5, "B", NULL); /* ties a2: input 0 first */
    s_add(fx, 1, "b3", "product", 0.7, "B", NULL); /* an unsorted input is fine */
    s_add(fx, 2, "c1", "account", 0.5, "C", NULL);
    s_add(fx, 2, "c2", "account", NAN, "C", NULL);
    s_params(fx, "strategy=score");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "b1,a1,b3,a2,b2,c1,a3,a5,a4,c2");
    /* quotas: at most 2 from A, 1 from B, C uncapped; the merge goes on past a full quota */
    s_params(fx, "strategy=score,quotas=[2|1|0]");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "b1,a1,a2,c1,c2");
    s_params(fx, "strategy=score,quotas=[0|0|1],limit=4");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "b1,a1,b3,a2");
    /* debunching after the merge, by type */
    s_params(fx, "strategy=score,debunch_by=type,max_run=1");
    assert_int_equal(s_run(fx, "blend"), 0);
    /* type is not a field: nothing forms runs */
    assert_string_equal(s_ids(fx), "b1,a1,b3,a2,b2,c1,a3,a5,a4,c2");
}

static void test_blend_debunch_by(void **state) {
    s_fx_t *fx = *state;
    s_add(fx, 0, "i0", "product", NAN, "m", "category=toys,seller_id=s1");
    s_add(fx, 0, "i1", "product", NAN, "m", "category=toys,seller_id=s1");
    s_add(fx, 0, "i2", "product", NAN, "m", "category=toys,seller_id=s2");
    s_add(fx, 0, "i3", "product", NAN, "m", "category=home,seller_id=s1");
    s_add(fx, 0, "i4", "product", NAN, "m", "category=toys,seller_id=s3");
    s_add(fx, 0, "i5", "product", NAN, "m", "category=5,seller_id=s1");
    s_add(fx, 0, "i6", "product", NAN, "m", "category=5,seller_id=s1");
    s_params(fx, "debunch_by=category,max_run=1");
    assert_int_equal(s_run(fx, "blend"), 0);
    /* toys | home | toys | 5 | toys | 5, then only toys are left */
    assert_string_equal(s_ids(fx), "i0,i3,i1,i5,i2,i6,i4");
    /* the shorthand reads seller_id whatever debunch_by says: by category, i2 would move */
    s_params(fx, "debunch_by=category,max_run_same_seller=2");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "i0,i1,i2,i3,i4,i5,i6");
    s_params(fx, "max_run_same_seller=1");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "i0,i2,i1,i4,i3,i5,i6");
    /* max_run alone debunches seller_id */
    s_params(fx, "max_run=1");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "i0,i2,i1,i4,i3,i5,i6");
}

static void test_blend_debunch_impossible(void **state) {
    s_fx_t *fx = *state;
    s_add(fx, 0, "a", "product", NAN, "m", "seller_id=7");
    s_add(fx, 0, "b", "product", NAN, "m", "seller_id=7");
    s_add(fx, 0, "c", "product", NAN, "m", "seller_id=7");
    s_params(fx, "max_run=1,limit=2");
    assert_int_equal(s_run(fx, "blend"), 0);
    assert_string_equal(s_ids(fx), "a,b");
    /* single input, empty: every strategy gives nothing */
    memset(&fx->raw[0], 0, sizeof(fx->raw[0]));
    const char *specs[] = {"strategy=slots", "strategy=concat", "strategy=weave", "strategy=score,max_run=2"};
    for (size_t i = 0; i < FMX_ARRAY_LEN(specs); i++) {
        s_params(fx, specs[i]);
        assert_int_equal(s_run(fx, "blend"), 0);
        assert_int_equal(fx->out.n, 0);
    }
}

/* ---- filter ---- */

static void s_filter_store(s_fx_t *fx, bool seen, bool blocked) {
    s_store_open(fx);
    if (seen) {
        msgpack_pack_array(&fx->pk, 6);
        s_pack_spec(fx, "id=a,type=livestream");
        s_pack_spec(fx, "id=d,type=product");
        s_pack_spec(fx, "id=b,type=product"); /* b is a livestream: not seen */
        s_pack_spec(fx, "id=7");              /* no type: matches nothing */
        s_str(fx, "c");                       /* not a ref */
        s_pack_spec(fx, "id=a,type=livestream");
        s_store_put(fx, "user:42:seen");
    }
    if (blocked) {
        msgpack_pack_array(&fx->pk, 5);
        s_str(fx, "s2");
        s_str(fx, "u9");
        s_pack_spec(fx, "id=s9,type=seller"); /* a ref: its id */
        msgpack_pack_int(&fx->pk, 5);         /* blocks the int 5, not the string "5" */
        msgpack_pack_array(&fx->pk, 0);       /* ignored */
        s_store_put(fx, "user:42:blocked");
    }
    msgpack_pack_map(&fx->pk, 1);
    s_str(fx, "id");
    s_str(fx, "x");
    s_store_put(fx, "not_an_array");
    s_store_commit(fx);
}

static void s_filter_inputs(s_fx_t *fx) {
    s_add(fx, 0, "a", "livestream", 0.9, "r", "seller_id=s1,is_live=1"); /* seen */
    s_add(fx, 0, "b", "livestream", 0.8, "r", "seller_id=s2,is_live=1"); /* blocked seller */
    s_add(fx, 0, "c", "livestream", 0.7, "r", "seller_id=s3,is_live=0");
    s_add(fx, 0, "d", "product", 0.6, "r", "seller_id=s4");           /* seen */
    s_add(fx, 0, "u9", "account", 0.5, "r", "name=nine");             /* blocked id */
    s_add(fx, 0, "e", "product", 0.4, "r", "seller_id=5,owner=s9");   /* the int 5 */
    s_add(fx, 0, "f", "product", 0.3, "r", "seller_id=5.0,owner=s2"); /* a float: no key */
    s_add(fx, 0, "g", "store", 0.2, "r", "seller_id=s9");             /* blocked via a ref */
    s_add(fx, 0, "h", "store", 0.1, "r", NULL);
}

static void test_filter_seen_and_blocked(void **state) {
    s_fx_t *fx = *state;
    s_filter_store(fx, true, true);
    s_filter_inputs(fx);
    s_params(fx, "seen_key=user:42:seen");
    assert_int_equal(s_run(fx, "filter"), 0);
    assert_string_equal(s_ids(fx), "b,c,u9,e,f,g,h");
    s_params(fx, "blocked_key=user:42:blocked");
    assert_int_equal(s_run(fx, "filter"), 0);
    assert_string_equal(s_ids(fx), "a,c,d,f,h");
    s_params(fx, "blocked_key=user:42:blocked,blocked_by=[owner]");
    assert_int_equal(s_run(fx, "filter"), 0);
    assert_string_equal(s_ids(fx), "a,b,c,d,g,h");
    s_params(fx, "blocked_key=user:42:blocked,blocked_by=[]"); /* ids only */
    assert_int_equal(s_run(fx, "filter"), 0);
    assert_string_equal(s_ids(fx), "a,b,c,d,e,f,g,h");
    s_params(fx, "seen_key=user:42:seen,blocked_key=user:42:blocked,blocked_by=[seller_id|owner]");
    assert_int_equal(s_run(fx, "filter"), 0);
    assert_string_equal(s_ids(fx), "c,h");
    /* with where: all three apply */
    s_params(fx, "seen_key=user:42:seen,blocked_key=user:42:blocked,where=is_live == 0 || score < 0.35");
    fmx_store_close(&fx->store); /* proves the output does not point into the store... */
    fx->env.store = fmx_store_open(fx->dir, 1, 16, fx->err);
    fx->store = fx->env.store;
    assert_non_null(fx->store);
    assert_int_equal(s_run(fx, "filter"), 0);
    fmx_store_close(&fx->store); /* ...closed (unmapped) before it is read */
    fx->env.store = NULL;
    assert_string_equal(s_ids(fx), "c,f,h");
    s_assert_field_str(&fx->out.v[0], "seller_id", "s3");
}

static void test_filter_missing_keys_and_errors(void **state) {
    s_fx_t *fx = *state;
    s_filter_store(fx, false, false);
    s_filter_inputs(fx);
    /* missing keys drop nothing */
    s_params(fx, "seen_key=user:42:seen,blocked_key=user:42:blocked");
    assert_int_equal(s_run(fx, "filter"), 0);
    assert_int_equal(fx->out.n, 9);
    s_params(fx, "seen_key=user:43:seen,where=seller_id == 's3'");
    assert_int_equal(s_run(fx, "filter"), 0);
    assert_string_equal(s_ids(fx), "c");
    s_params(fx, "seen_key=not_an_array");
    s_run_fails(fx, "filter", "not_an_array");
    s_params(fx, "blocked_key=not_an_array");
    s_run_fails(fx, "filter", "not an array");
    s_params(fx, "seen_key=");
    s_run_fails(fx, "filter", "'seen_key'");
    s_params(fx, "blocked_key=user:42:blocked,blocked_by=seller_id");
    s_run_fails(fx, "filter", "'blocked_by'");
    s_params(fx, "blocked_key=user:42:blocked,blocked_by=[seller_id|3]");
    s_run_fails(fx, "filter", "'blocked_by'");
    s_params(fx, "seen_key=5");
    s_run_fails(fx, "filter", "'seen_key'");
    s_params(fx, "");
    s_run_fails(fx, "filter", "'where', 'seen_key' or 'blocked_key'");
    s_params(fx, "blocked_by=[owner]"); /* blocked_by alone is not enough */
    s_run_fails(fx, "filter", "'blocked_key'");
    /* no store with a key param is an error; without one, where alone still works */
    fmx_store_close(&fx->store);
    fx->env.store = NULL;
    s_params(fx, "seen_key=user:42:seen");
    s_run_fails(fx, "filter", "no store");
    s_params(fx, "where=seller_id == 's4'");
    assert_int_equal(s_run(fx, "filter"), 0);
    assert_string_equal(s_ids(fx), "d");
}

static void test_filter_big_seen_list(void **state) {
    s_fx_t *fx = *state;
    s_store_open(fx);
    char id[16];
    msgpack_pack_array(&fx->pk, 3000);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "e%d", i * 2);
        msgpack_pack_map(&fx->pk, 2);
        s_str(fx, "id");
        s_str(fx, id);
        s_str(fx, "type");
        s_str(fx, "livestream");
    }
    s_store_put(fx, "user:42:seen");
    s_store_commit(fx);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "e%d", i);
        s_add(fx, 0, id, "livestream", NAN, "r", NULL);
    }
    s_params(fx, "seen_key=user:42:seen");
    assert_int_equal(s_run(fx, "filter"), 0);
    assert_int_equal(fx->out.n, 2500); /* every odd one */
    s_assert_str(fx->out.v[0].id, "e1");
    s_assert_str(fx->out.v[2499].id, "e4999");
}

/* ---- merge ---- */

static const msgpack_object *s_sources(const fmx_entity_t *e) {
    const msgpack_object *s = fmx_mp_map_get(&e->fields, "sources");
    assert_non_null(s);
    assert_int_equal(s->type, MSGPACK_OBJECT_ARRAY);
    return s;
}

static void s_assert_sources(const fmx_entity_t *e, const char *want) {
    const msgpack_object *s = s_sources(e);
    char got[256] = "";
    for (uint32_t i = 0; i < s->via.array.size; i++) {
        const msgpack_object *o = &s->via.array.ptr[i];
        assert_int_equal(o->type, MSGPACK_OBJECT_STR);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s", i ? "," : "", (int)o->via.str.size,
                 o->via.str.ptr);
    }
    assert_string_equal(got, want);
}

static void test_merge_sources(void **state) {
    s_fx_t *fx = *state;
    s_add(fx, 0, "x1", "livestream", 0.3, "follows", "k=a1");
    s_add(fx, 0, "x2", "livestream", 0.9, "follows", NULL);
    s_add(fx, 0, "x1", "livestream", 0.2, "follows", NULL); /* same source twice: once */
    s_add(fx, 1, "x1", "livestream", 0.8, "trending", "k=b1,sources=[old|stuff]");
    s_add(fx, 1, "x3", "livestream", NAN, "trending", NULL);
    s_add(fx, 1, "x1", "product", 0.1, "trending", NULL); /* another type: another entity */
    s_add(fx, 2, "x3", "livestream", 0.1, "new", NULL);
    s_add(fx, 2, "x1", "livestream", 0.1, "new", NULL);
    s_add(fx, 2, "x4", "livestream", 0.1, NULL, "k=d"); /* no source */
    assert_int_equal(s_run(fx, "merge"), 0);
    assert_string_equal(s_ids(fx), "x1,x2,x3,x1,x4");
    const fmx_entity_t *x1 = &fx->out.v[0];
    s_assert_str(x1->source, "trending"); /* the best copy is kept ... */
    s_assert_score(x1, 0.8);
    s_assert_field_str(x1, "k", "b1");            /* ... with its fields ... */
    s_assert_sources(x1, "follows,trending,new"); /* ... and every source, its own replaced */
    assert_int_equal(x1->fields.via.map.size, 2);
    s_assert_sources(&fx->out.v[1], "follows");
    s_assert_sources(&fx->out.v[2], "trending,new");
    s_assert_str(fx->out.v[2].source, "new");
    s_assert_sources(&fx->out.v[3], "trending");
    s_assert_str(fx->out.v[3].type, "product");
    s_assert_sources(&fx->out.v[4], "");
    s_assert_field_str(&fx->out.v[4], "k", "d");
    /* the inputs were not modified */
    assert_null(fmx_mp_map_get(&fx->in[0].v[0].fields, "sources"));
    assert_int_equal(fx->in[0].v[1].fields.type, MSGPACK_OBJECT_NIL);
    assert_int_equal(fmx_mp_map_get(&fx->in[1].v[0].fields, "sources")->via.array.size, 2);

    s_params(fx, "limit=2");
    assert_int_equal(s_run(fx, "merge"), 0);
    assert_string_equal(s_ids(fx), "x1,x2");
    s_assert_sources(&fx->out.v[0], "follows,trending,new");
}

static void test_merge_sources_many(void **state) {
    s_fx_t *fx = *state;
    char id[16], src[16];
    /* 3 inputs x 2000 entities over 500 ids, 7 sources */
    for (int k = 0; k < 6000; k++) {
        snprintf(id, sizeof id, "e%d", k % 500);
        snprintf(src, sizeof src, "s%d", k % 7);
        s_add(fx, (size_t)(k / 2000), id, "livestream", NAN, src, NULL);
    }
    assert_int_equal(s_run(fx, "merge"), 0);
    assert_int_equal(fx->out.n, 500);
    /* e0 appears at k = 0, 500, ..., 5500: sources k % 7 in order, each once */
    s_assert_sources(&fx->out.v[0], "s0,s3,s6,s2,s5,s1,s4");
    s_assert_sources(&fx->out.v[1], "s1,s4,s0,s3,s6,s2,s5");
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T(test_group_basic),
        T(test_group_by_source_and_type),
        T(test_group_caps),
        T(test_group_values_and_titles),
        T(test_group_edges),
        T(test_group_title_cap),
        T(test_group_title_cut_mid_character),
        T(test_group_bad_params),
        T(test_group_many_and_deadline),
        T(test_rank_per_group),
        T(test_rank_within_and_across),
        T(test_rank_collections_by_field),
        T(test_rank_only_collections_across_false),
        T(test_blend_weave),
        T(test_blend_weave_three_inputs_exhausted),
        T(test_blend_bad_lists),
        T(test_blend_score),
        T(test_blend_debunch_by),
        T(test_blend_debunch_impossible),
        T(test_filter_seen_and_blocked),
        T(test_filter_missing_keys_and_errors),
        T(test_filter_big_seen_list),
        T(test_merge_sources),
        T(test_merge_sources_many),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
