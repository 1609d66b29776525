/* test_entity.c - the entity codec and zone-grown lists (schemas/entity.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/entity.h"
#include "schemas/mpobj.h"
#include "test/support/corpus.h"

typedef struct {
    msgpack_zone zone;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char err[FMX_ERR_LEN];
} fx_t;

static int fx_setup(void **state) {
    fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    assert_true(msgpack_zone_init(&fx->zone, 4096));
    msgpack_sbuffer_init(&fx->sb);
    msgpack_packer_init(&fx->pk, &fx->sb, msgpack_sbuffer_write);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state) {
    fx_t *fx = *state;
    msgpack_zone_destroy(&fx->zone);
    msgpack_sbuffer_destroy(&fx->sb);
    free(fx);
    return 0;
}

static bool str_is(fmx_str_t s, const char *want) {
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.ptr, want, s.len) == 0);
}

static fmx_entity_t entity(const char *id, const char *type) {
    fmx_entity_t e;
    memset(&e, 0, sizeof(e));
    e.id = (fmx_str_t){id, strlen(id)};
    e.type = (fmx_str_t){type, strlen(type)};
    e.fields.type = MSGPACK_OBJECT_NIL;
    return e;
}

/* ---- lists --------------------------------------------------------------------------------- */

static void test_list_growth(void **state) {
    fx_t *fx = *state;
    fmx_entity_list_t l;
    fmx_entity_list_init(&l);
    assert_null(l.v);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.cap, 0);

    static char ids[100][16];
    for (int i = 0; i < 100; i++) {
        snprintf(ids[i], sizeof(ids[i]), "e%d", i);
        fmx_entity_t e = entity(ids[i], "product");
        e.position = i;
        e.has_position = true;
        fmx_entity_t *stored = fmx_entity_list_push(&l, &e, &fx->zone);
        assert_non_null(stored);
        assert_ptr_equal(stored, &l.v[i]);
        assert_true(l.cap >= l.n);
    }
    assert_int_equal(l.n, 100);
    assert_int_equal(l.cap, 128); /* 8, 16, 32, 64, 128 */
    for (int i = 0; i < 100; i++) {
        assert_true(str_is(l.v[i].id, ids[i]));
        assert_int_equal(l.v[i].position, i);
    }
    /* pushing an element of the list itself while it grows */
    fmx_entity_list_t s;
    fmx_entity_list_init(&s);
    fmx_entity_t first = entity("a", "t");
    assert_non_null(fmx_entity_list_push(&s, &first, &fx->zone));
    for (int i = 0; i < 20; i++)
        assert_non_null(fmx_entity_list_push(&s, &s.v[0], &fx->zone));
    assert_int_equal(s.n, 21);
    assert_true(str_is(s.v[20].id, "a"));

    /* reserve: no-op when smaller, exact when larger, refuses absurd sizes */
    assert_int_equal(fmx_entity_list_reserve(&l, 10, &fx->zone), 0);
    assert_int_equal(l.cap, 128);
    assert_int_equal(fmx_entity_list_reserve(&l, 500, &fx->zone), 0);
    assert_int_equal(l.cap, 500);
    assert_true(str_is(l.v[99].id, "e99"));
    assert_int_equal(fmx_entity_list_reserve(&l, SIZE_MAX, &fx->zone), -1);
    assert_int_equal(l.cap, 500);
    assert_int_equal(l.n, 100);
}

/* ---- pack / decode round trip -------------------------------------------------------------- */

/* Fields come from a msgpack map, like the store would give them; the unpacked strings point
 * into fsb, so both live as long as the sample. */
typedef struct {
    msgpack_sbuffer fsb;
    msgpack_unpacked u;
} holder_t;

static void holder_fini(holder_t *h) {
    msgpack_unpacked_destroy(&h->u);
    msgpack_sbuffer_destroy(&h->fsb);
}

/* Builds: [ livestream(all fields), carousel{ items: [product(fields), store] }, account(min) ] */
static void build_sample(fx_t *fx, fmx_entity_list_t *out, holder_t *holder) {
    msgpack_sbuffer *fsb = &holder->fsb;
    msgpack_unpacked *fields_holder = &holder->u;
    msgpack_sbuffer_init(fsb);
    msgpack_packer fpk;
    msgpack_packer_init(&fpk, fsb, msgpack_sbuffer_write);
    msgpack_pack_map(&fpk, 3);
    fmx_mp_pack_cstr(&fpk, "viewers"), msgpack_pack_int(&fpk, 1200);
    fmx_mp_pack_cstr(&fpk, "title"), fmx_mp_pack_cstr(&fpk, "live now");
    fmx_mp_pack_cstr(&fpk, "tags"), msgpack_pack_array(&fpk, 2), fmx_mp_pack_cstr(&fpk, "a"), msgpack_pack_nil(&fpk);
    msgpack_unpacked_init(fields_holder);
    assert_int_equal(msgpack_unpack_next(fields_holder, fsb->data, fsb->size, NULL), MSGPACK_UNPACK_SUCCESS);

    fmx_entity_list_init(out);
    fmx_entity_t live = entity("ls-1", "livestream");
    live.score = 0.875;
    live.has_score = true;
    live.position = 0;
    live.has_position = true;
    live.source = (fmx_str_t)FMX_STR_LIT("follows");
    live.token = (fmx_str_t)FMX_STR_LIT("tok:1:0");
    live.fields = fields_holder->data;
    assert_non_null(fmx_entity_list_push(out, &live, &fx->zone));

    fmx_entity_t car = entity("new_sellers", "carousel");
    car.position = 1;
    car.has_position = true;
    car.has_items = true;
    fmx_entity_t p = entity("p-9", "product");
    p.score = -3.5;
    p.has_score = true;
    p.fields = fields_holder->data;
    assert_non_null(fmx_entity_list_push(&car.items, &p, &fx->zone));
    fmx_entity_t st = entity("st-2", "store");
    st.token = (fmx_str_t)FMX_STR_LIT("t2");
    assert_non_null(fmx_entity_list_push(&car.items, &st, &fx->zone));
    assert_non_null(fmx_entity_list_push(out, &car, &fx->zone));

    fmx_entity_t acc = entity("acc-3", "account");
    assert_non_null(fmx_entity_list_push(out, &acc, &fx->zone));
}

static void test_round_trip(void **state) {
    fx_t *fx = *state;
    fmx_entity_list_t in, outl;
    holder_t holder;
    build_sample(fx, &in, &holder);
    assert_int_equal(fmx_entity_list_pack(&fx->pk, &in), 0);

    assert_int_equal(fmx_entity_list_decode_frame(fx->sb.data, fx->sb.size, &fx->zone, &outl, fx->err), 0);
    assert_int_equal(outl.n, 3);

    const fmx_entity_t *a = &outl.v[0];
    assert_true(str_is(a->id, "ls-1"));
    assert_true(str_is(a->type, "livestream"));
    assert_true(a->has_score);
    assert_true(a->score == 0.875);
    assert_true(a->has_position);
    assert_int_equal(a->position, 0);
    assert_true(str_is(a->source, "follows"));
    assert_true(str_is(a->token, "tok:1:0"));
    assert_int_equal(a->fields.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(a->fields.via.map.size, 3);
    const msgpack_object *v = fmx_entity_field(a, "viewers", 7);
    assert_non_null(v);
    assert_int_equal(v->via.u64, 1200);
    assert_true(fmx_mp_str_eq(fmx_entity_field(a, "title", 5), "live now"));
    assert_int_equal(fmx_entity_field(a, "tags", 4)->via.array.size, 2);
    assert_null(fmx_entity_field(a, "nope", 4));
    assert_null(fmx_entity_field(a, "viewersX", 7 + 1));
    assert_false(a->has_items);
    assert_int_equal(a->items.n, 0);
    /* decoded strings point into the frame */
    assert_true(a->id.ptr > fx->sb.data && a->id.ptr < fx->sb.data + fx->sb.size);

    const fmx_entity_t *c = &outl.v[1];
    assert_true(str_is(c->type, "carousel"));
    assert_false(c->has_score);
    assert_int_equal(c->position, 1);
    assert_true(c->has_items);
    assert_int_equal(c->items.n, 2);
    assert_true(str_is(c->items.v[0].id, "p-9"));
    assert_true(c->items.v[0].score == -3.5);
    assert_true(fmx_mp_str_eq(fmx_entity_field(&c->items.v[0], "title", 5), "live now"));
    assert_true(str_is(c->items.v[1].id, "st-2"));
    assert_true(str_is(c->items.v[1].token, "t2"));
    assert_int_equal(c->items.v[1].fields.type, MSGPACK_OBJECT_NIL);
    assert_null(fmx_entity_field(&c->items.v[1], "title", 5));

    const fmx_entity_t *m = &outl.v[2];
    assert_true(str_is(m->id, "acc-3"));
    assert_false(m->has_score);
    assert_false(m->has_position);
    assert_int_equal(m->source.len, 0);
    assert_int_equal(m->token.len, 0);

    /* packing the decoded list gives the same bytes */
    msgpack_sbuffer again;
    msgpack_sbuffer_init(&again);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &again, msgpack_sbuffer_write);
    assert_int_equal(fmx_entity_list_pack(&pk, &outl), 0);
    assert_int_equal(again.size, fx->sb.size);
    assert_memory_equal(again.data, fx->sb.data, again.size);
    msgpack_sbuffer_destroy(&again);
    holder_fini(&holder);
}

static void test_pack_key_order(void **state) {
    fx_t *fx = *state;
    fmx_entity_list_t in;
    holder_t holder;
    build_sample(fx, &in, &holder);
    assert_int_equal(fmx_entity_pack(&fx->pk, &in.v[0]), 0);

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, fx->sb.data, fx->sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, fx->sb.size);
    static const char *const order[] = {"id", "type", "score", "position", "source", "token", "fields"};
    assert_int_equal(u.data.via.map.size, FMX_ARRAY_LEN(order));
    for (size_t i = 0; i < FMX_ARRAY_LEN(order); i++)
        assert_true(fmx_mp_str_eq(&u.data.via.map.ptr[i].key, order[i]));
    assert_int_equal(u.data.via.map.ptr[2].val.type, MSGPACK_OBJECT_FLOAT64);
    msgpack_unpacked_destroy(&u);

    /* carousel: id, type, position, items; an empty has_items list still packs `items: []` */
    msgpack_sbuffer_clear(&fx->sb);
    fmx_entity_t e = entity("c", "carousel");
    e.has_items = true;
    assert_int_equal(fmx_entity_pack(&fx->pk, &e), 0);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, fx->sb.data, fx->sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(u.data.via.map.size, 3);
    assert_true(fmx_mp_str_eq(&u.data.via.map.ptr[2].key, "items"));
    assert_int_equal(u.data.via.map.ptr[2].val.via.array.size, 0);
    msgpack_unpacked_destroy(&u);

    /* minimal: exactly {id, type}; NULL/empty strings are fine */
    msgpack_sbuffer_clear(&fx->sb);
    fmx_entity_t z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(fmx_entity_pack(&fx->pk, &z), 0);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, fx->sb.data, fx->sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(u.data.via.map.size, 2);
    assert_true(fmx_mp_str_eq(&u.data.via.map.ptr[0].val, ""));
    msgpack_unpacked_destroy(&u);
    holder_fini(&holder);
}

/* ---- decode details and errors ------------------------------------------------------------- */

static void k(msgpack_packer *pk, const char *key) {
    fmx_mp_pack_cstr(pk, key);
}

static void id_type(msgpack_packer *pk, const char *id) {
    k(pk, "id"), k(pk, id), k(pk, "type"), k(pk, "product");
}

static int decode(fx_t *fx, fmx_entity_list_t *out) {
    fx->err[0] = '\0';
    return fmx_entity_list_decode_frame(fx->sb.data, fx->sb.size, &fx->zone, out, fx->err);
}

static void expect_error(fx_t *fx, const char *want) {
    fmx_entity_list_t out;
    int rc = decode(fx, &out);
    if (rc != -1) fail_msg("decoded, wanted an error with \"%s\"", want);
    if (!strstr(fx->err, want)) fail_msg("message \"%s\" lacks \"%s\"", fx->err, want);
    msgpack_sbuffer_clear(&fx->sb);
}

static void test_decode_leniency(void **state) {
    fx_t *fx = *state;
    msgpack_packer *pk = &fx->pk;
    /* int score, negative position, nil optionals, unknown and non-str keys dropped */
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 9);
    id_type(pk, "x");
    k(pk, "score"), msgpack_pack_int(pk, 3);
    k(pk, "position"), msgpack_pack_int(pk, -2);
    k(pk, "source"), msgpack_pack_nil(pk);
    k(pk, "fields"), msgpack_pack_nil(pk);
    k(pk, "future"), msgpack_pack_array(pk, 0);
    msgpack_pack_int(pk, 5), msgpack_pack_int(pk, 6);
    k(pk, "items"), msgpack_pack_nil(pk);
    fmx_entity_list_t out;
    assert_int_equal(decode(fx, &out), 0);
    assert_int_equal(out.n, 1);
    assert_true(out.v[0].has_score);
    assert_true(out.v[0].score == 3.0);
    assert_int_equal(out.v[0].position, -2);
    assert_int_equal(out.v[0].source.len, 0);
    assert_int_equal(out.v[0].fields.type, MSGPACK_OBJECT_NIL);
    assert_false(out.v[0].has_items);
    msgpack_sbuffer_clear(&fx->sb);

    /* float32 score; an empty top-level array */
    msgpack_pack_array(pk, 1), msgpack_pack_map(pk, 3), id_type(pk, "y"), k(pk, "score"), msgpack_pack_float(pk, 0.25f);
    assert_int_equal(decode(fx, &out), 0);
    assert_true(out.v[0].score == 0.25);
    msgpack_sbuffer_clear(&fx->sb);
    msgpack_pack_array(pk, 0);
    assert_int_equal(decode(fx, &out), 0);
    assert_int_equal(out.n, 0);
    msgpack_sbuffer_clear(&fx->sb);
}

static void test_decode_errors(void **state) {
    fx_t *fx = *state;
    msgpack_packer *pk = &fx->pk;

    msgpack_pack_map(pk, 0);
    expect_error(fx, "expected an array of entities, got map");

    msgpack_pack_array(pk, 2), msgpack_pack_map(pk, 2), id_type(pk, "a"), msgpack_pack_int(pk, 4);
    expect_error(fx, "items[1]: not a map (got int)");

    msgpack_pack_array(pk, 1), msgpack_pack_map(pk, 1), k(pk, "type"), k(pk, "t");
    expect_error(fx, "items[0]: `id` is missing");
    msgpack_pack_array(pk, 1), msgpack_pack_map(pk, 1), k(pk, "id"), k(pk, "i");
    expect_error(fx, "items[0]: `type` is missing");
    msgpack_pack_array(pk, 1), msgpack_pack_map(pk, 2), k(pk, "id"), msgpack_pack_int(pk, 1), k(pk, "type"), k(pk, "t");
    expect_error(fx, "items[0]: `id` must be a str, got int");
    msgpack_pack_array(pk, 1), msgpack_pack_map(pk, 2), k(pk, "id"), k(pk, "i"), k(pk, "type"), msgpack_pack_nil(pk);
    expect_error(fx, "items[0]: `type` must be a str, got nil");

    static const struct {
        const char *key;
        int kind; /* 0 str, 1 float, 2 uint64 max, 3 int, 4 array, 5 map, 6 bool */
        const char *want;
    } cases[] = {
        {"score", 0, "`score` must be a number, got str"},
        {"score", 6, "`score` must be a number, got bool"},
        {"position", 1, "`position` must be a 64-bit int, got float"},
        {"position", 2, "`position` must be a 64-bit int, got int"},
        {"source", 3, "`source` must be a str, got int"},
        {"token", 4, "`token` must be a str, got array"},
        {"fields", 4, "`fields` must be a map, got array"},
        {"fields", 0, "`fields` must be a map, got str"},
        {"items", 5, "`items` must be an array, got map"},
        {"id", 0, "duplicate key `id`"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++) {
        msgpack_pack_array(pk, 2);
        msgpack_pack_map(pk, 2), id_type(pk, "ok");
        msgpack_pack_map(pk, 3), id_type(pk, "bad"), k(pk, cases[i].key);
        switch (cases[i].kind) {
        case 0: k(pk, "s"); break;
        case 1: msgpack_pack_double(pk, 1.5); break;
        case 2: msgpack_pack_uint64(pk, UINT64_MAX); break;
        case 3: msgpack_pack_int(pk, 3); break;
        case 4: msgpack_pack_array(pk, 0); break;
        case 5: msgpack_pack_map(pk, 0); break;
        case 6: msgpack_pack_true(pk); break;
        }
        char want[128];
        snprintf(want, sizeof(want), "items[1]: %s", cases[i].want);
        expect_error(fx, want);
    }

    /* a nested error names its path */
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 3), id_type(pk, "car"), k(pk, "items");
    msgpack_pack_array(pk, 2);
    msgpack_pack_map(pk, 2), id_type(pk, "c0");
    msgpack_pack_map(pk, 3), id_type(pk, "c1"), k(pk, "items");
    msgpack_pack_array(pk, 1), msgpack_pack_map(pk, 1), k(pk, "id"), k(pk, "deep");
    expect_error(fx, "items[0].items[1].items[0]: `type` is missing");

    /* not msgpack at all */
    msgpack_sbuffer_write(&fx->sb, "\x91\xc1", 2);
    expect_error(fx, "entity frame is not valid msgpack: invalid byte 0xc1 at offset 1");
    msgpack_sbuffer_write(&fx->sb, "\x90\x90", 2);
    expect_error(fx, "entity frame is not valid msgpack: 1 trailing bytes");
    expect_error(fx, "empty buffer");
}

/* Nesting of `items`: FMX_ENTITY_MAX_DEPTH levels are accepted, one more is refused. */
static void pack_nested(msgpack_packer *pk, int levels) {
    msgpack_pack_array(pk, 1);
    if (levels == 1) {
        msgpack_pack_map(pk, 2), id_type(pk, "leaf");
        return;
    }
    msgpack_pack_map(pk, 3), id_type(pk, "car"), k(pk, "items");
    pack_nested(pk, levels - 1);
}

static void test_depth(void **state) {
    fx_t *fx = *state;
    fmx_entity_list_t out;
    pack_nested(&fx->pk, FMX_ENTITY_MAX_DEPTH);
    assert_int_equal(decode(fx, &out), 0);
    const fmx_entity_list_t *l = &out;
    for (int d = 1; d < FMX_ENTITY_MAX_DEPTH; d++) {
        assert_int_equal(l->n, 1);
        assert_true(l->v[0].has_items);
        l = &l->v[0].items;
    }
    assert_true(str_is(l->v[0].id, "leaf"));
    msgpack_sbuffer_clear(&fx->sb);

    pack_nested(&fx->pk, FMX_ENTITY_MAX_DEPTH + 1);
    expect_error(fx, "items[0].items[0].items[0].items[0]: `items` nested deeper than 4 levels");
    /* and way deeper: stopped by the msgpack guard, long before recursion matters */
    pack_nested(&fx->pk, 40);
    expect_error(fx, "nested deeper than 32");
}

/* The list decoder works on an already-unpacked object too. */
static void test_decode_object(void **state) {
    fx_t *fx = *state;
    msgpack_pack_array(&fx->pk, 2);
    msgpack_pack_map(&fx->pk, 2), id_type(&fx->pk, "a");
    msgpack_pack_map(&fx->pk, 2), id_type(&fx->pk, "b");
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(fx->sb.data, fx->sb.size, &off, &fx->zone, &o), MSGPACK_UNPACK_SUCCESS);
    fmx_entity_list_t out;
    assert_int_equal(fmx_entity_list_decode(&o, &fx->zone, &out, fx->err), 0);
    assert_int_equal(out.n, 2);
    assert_true(str_is(out.v[1].id, "b"));
    assert_int_equal(fmx_entity_list_decode(&o.via.array.ptr[0], &fx->zone, &out, fx->err), -1);
    assert_string_equal(fx->err, "expected an array of entities, got map");
    assert_int_equal(out.n, 0);
}

/* Every prefix of a valid frame is refused; every single-byte corruption is refused or decodes to
 * entities that have an id and a type. */
static void test_truncated_and_corrupted(void **state) {
    fx_t *fx = *state;
    fmx_entity_list_t in;
    holder_t holder;
    build_sample(fx, &in, &holder);
    assert_int_equal(fmx_entity_list_pack(&fx->pk, &in), 0);
    size_t len = fx->sb.size;
    char *copy = malloc(len);
    assert_non_null(copy);

    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 1024));
    for (size_t n = 0; n < len; n++) {
        fmx_entity_list_t out;
        char err[FMX_ERR_LEN] = "";
        if (fmx_entity_list_decode_frame(fx->sb.data, n, &z, &out, err) != -1)
            fail_msg("frame cut to %zu of %zu bytes decoded", n, len);
        assert_non_null(strstr(err, "not valid msgpack"));
        msgpack_zone_clear(&z);
    }
    static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0x81, 0x90, 0x91, 0x9f, 0xa0, 0xa2,
                                    0xc0, 0xc1, 0xc3, 0xca, 0xcb, 0xd3, 0xdc, 0xdf, 0xff};
    size_t ok = 0;
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t b = 0; b < FMX_ARRAY_LEN(bytes); b++) {
            memcpy(copy, fx->sb.data, len);
            copy[pos] = (char)bytes[b];
            fmx_entity_list_t out;
            char err[FMX_ERR_LEN] = "";
            if (fmx_entity_list_decode_frame(copy, len, &z, &out, err) == 0) {
                ok++;
                for (size_t i = 0; i < out.n; i++)
                    assert_true(out.v[i].fields.type == MSGPACK_OBJECT_NIL ||
                                out.v[i].fields.type == MSGPACK_OBJECT_MAP);
            } else {
                assert_true(strlen(err) > 0);
            }
            msgpack_zone_clear(&z);
        }
    }
    assert_true(ok > 0);
    msgpack_zone_destroy(&z);
    free(copy);
    holder_fini(&holder);
}

/* ---- the fuzz seed corpus (test/fuzz/make-seeds.py): ok-* decode, bad-* are refused ---------- */

static int s_decode_seed(const char *data, size_t len, char err[FMX_ERR_LEN], void *arg) {
    msgpack_zone *z = arg;
    fmx_entity_list_t out;
    int rc = fmx_entity_list_decode_frame(data, len, z, &out, err);
    msgpack_zone_clear(z);
    return rc;
}

static void test_seed_corpus(void **state) {
    fx_t *fx = *state;
    size_t n = corpus_for_each_seed("result", s_decode_seed, &fx->zone);
    if (n == 0) skip();
    assert_true(n >= 10);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_list_growth),   T(test_round_trip), T(test_pack_key_order), T(test_decode_leniency),
        T(test_decode_errors), T(test_depth),      T(test_decode_object),  T(test_truncated_and_corrupted),
        T(test_seed_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
