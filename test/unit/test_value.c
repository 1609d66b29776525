/* test_value.c - common/value.h: the typed tree, cloning, templates and packing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/value.h"

/* ---- helpers ---- */

typedef struct {
    const char *name;
    fmx_scalar_t val;
} var_t;

static int lookup(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    const var_t *vars = arg;
    for (; vars->name; vars++)
        if (strlen(vars->name) == len && memcmp(vars->name, name, len) == 0) {
            *out = vars->val;
            return 0;
        }
    out->kind = FMX_SCALAR_NULL;
    return -1;
}

static fmx_scalar_t sc_str(const char *p) {
    fmx_scalar_t s = {.kind = FMX_SCALAR_STR};
    s.u.s.ptr = p;
    s.u.s.len = strlen(p);
    return s;
}

/* A packed value and its unpacked view (strings point into sb, so both live together). */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_unpacked up;
} packed_t;

static void packed_free(packed_t *p) {
    msgpack_unpacked_destroy(&p->up);
    msgpack_sbuffer_destroy(&p->sb);
}

/* Packs v and unpacks it into *p (caller calls packed_free). Returns fmx_value_pack's result. */
static int pack(const fmx_value_t *v, fmx_lookup_fn fn, void *arg, packed_t *p, char *err) {
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
    int rc = fmx_value_pack(v, &pk, fn, arg, err);
    msgpack_unpacked_init(&p->up);
    if (rc == 0) assert_int_equal(msgpack_unpack_next(&p->up, p->sb.data, p->sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    return rc;
}

static void assert_mp_str(const msgpack_object *o, const char *want) {
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_int_equal(o->via.str.size, strlen(want));
    assert_memory_equal(o->via.str.ptr, want, strlen(want));
}

static fmx_value_t *str(const char *s, int line, int col) {
    fmx_value_t *v = fmx_value_new_str(s, strlen(s), line, col);
    assert_non_null(v);
    return v;
}

static const var_t vars[] = {
    {"user_id", {.kind = FMX_SCALAR_STR, .u.s = {"u42", 3}}},
    {"limit", {.kind = FMX_SCALAR_INT, .u.i = 40}},
    {"flag", {.kind = FMX_SCALAR_BOOL, .u.b = true}},
    {"ratio", {.kind = FMX_SCALAR_FLOAT, .u.f = 0.25}},
    {"geo.country", {.kind = FMX_SCALAR_STR, .u.s = {"DE", 2}}},
    {"nothing", {.kind = FMX_SCALAR_NULL}},
    {NULL, {.kind = FMX_SCALAR_NULL}},
};

/* ---- construction ---- */

static void test_construct_scalars(void **state) {
    (void)state;
    fmx_value_t *v = fmx_value_new(FMX_VAL_INT, 3, 9);
    assert_non_null(v);
    v->u.i = -7;
    assert_int_equal(v->line, 3);
    assert_int_equal(v->col, 9);
    fmx_scalar_t sc;
    assert_int_equal(fmx_value_to_scalar(v, &sc), 0);
    assert_int_equal(sc.kind, FMX_SCALAR_INT);
    assert_int_equal(sc.u.i, -7);
    fmx_value_destroy(&v);
    assert_null(v);
    fmx_value_destroy(&v); /* NULL-safe */
    fmx_value_destroy(NULL);

    v = fmx_value_new(FMX_VAL_STR, 0, 0); /* an empty string, never a NULL pointer */
    assert_non_null(v->u.s.ptr);
    assert_int_equal(v->u.s.len, 0);
    assert_string_equal(v->u.s.ptr, "");
    fmx_value_destroy(&v);

    v = fmx_value_new_str("a\0b", 3, 1, 1); /* embedded NUL kept, terminated after */
    assert_int_equal(v->u.s.len, 3);
    assert_int_equal(v->u.s.ptr[1], '\0');
    assert_int_equal(v->u.s.ptr[3], '\0');
    assert_int_equal(fmx_value_to_scalar(v, &sc), 0);
    assert_int_equal(sc.kind, FMX_SCALAR_STR);
    assert_ptr_equal(sc.u.s.ptr, v->u.s.ptr); /* borrowed */
    assert_int_equal(sc.u.s.len, 3);
    fmx_value_destroy(&v);

    v = fmx_value_new(FMX_VAL_NULL, 0, 0);
    assert_int_equal(fmx_value_to_scalar(v, &sc), 0);
    assert_int_equal(sc.kind, FMX_SCALAR_NULL);
    fmx_value_destroy(&v);

    assert_string_equal(fmx_value_kind_name(FMX_VAL_NULL), "null");
    assert_string_equal(fmx_value_kind_name(FMX_VAL_BOOL), "bool");
    assert_string_equal(fmx_value_kind_name(FMX_VAL_INT), "int");
    assert_string_equal(fmx_value_kind_name(FMX_VAL_FLOAT), "float");
    assert_string_equal(fmx_value_kind_name(FMX_VAL_STR), "str");
    assert_string_equal(fmx_value_kind_name(FMX_VAL_ARRAY), "list");
    assert_string_equal(fmx_value_kind_name(FMX_VAL_MAP), "map");
}

static void test_construct_containers(void **state) {
    (void)state;
    fmx_value_t *arr = fmx_value_new(FMX_VAL_ARRAY, 1, 1);
    for (int i = 0; i < 100; i++) { /* crosses several growth steps */
        fmx_value_t *item = fmx_value_new(FMX_VAL_INT, 2, i + 1);
        item->u.i = i * 3;
        assert_int_equal(fmx_value_array_push(arr, item), 0);
    }
    assert_int_equal(arr->u.arr.n, 100);
    for (int i = 0; i < 100; i++) assert_int_equal(arr->u.arr.items[i]->u.i, i * 3);
    fmx_scalar_t sc;
    assert_int_equal(fmx_value_to_scalar(arr, &sc), -1); /* not a scalar */

    fmx_value_t *map = fmx_value_new(FMX_VAL_MAP, 1, 1);
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "k%d", i);
        fmx_value_t *v = fmx_value_new(FMX_VAL_INT, 0, 0);
        v->u.i = i;
        assert_int_equal(fmx_value_map_put(map, key, v), 0);
    }
    strcpy(key, "changed"); /* the key was copied */
    assert_int_equal(map->u.map.n, 50);
    assert_int_equal(fmx_value_map_get(map, "k0")->u.i, 0);
    assert_int_equal(fmx_value_map_get(map, "k37")->u.i, 37);
    assert_null(fmx_value_map_get(map, "k50"));
    assert_null(fmx_value_map_get(map, "changed"));
    assert_null(fmx_value_map_get(arr, "k0")); /* not a map */
    assert_null(fmx_value_map_get(NULL, "k0"));
    assert_int_equal(fmx_value_to_scalar(map, &sc), -1);

    assert_int_equal(fmx_value_map_put(map, "list", arr), 0);
    assert_ptr_equal(fmx_value_map_get(map, "list"), arr);
    fmx_value_destroy(&map); /* frees arr too */
    assert_null(map);
}

static fmx_value_t *sample_tree(void) {
    fmx_value_t *root = fmx_value_new(FMX_VAL_MAP, 1, 1);
    fmx_value_map_put(root, "key", str("user:{user_id}:follows", 2, 8));
    fmx_value_t *lim = fmx_value_new(FMX_VAL_INT, 3, 10);
    lim->u.i = 300;
    fmx_value_map_put(root, "limit", lim);
    fmx_value_t *f = fmx_value_new(FMX_VAL_FLOAT, 4, 10);
    f->u.f = 1.5;
    fmx_value_map_put(root, "w", f);
    fmx_value_t *b = fmx_value_new(FMX_VAL_BOOL, 5, 10);
    b->u.b = true;
    fmx_value_map_put(root, "on", b);
    fmx_value_map_put(root, "none", fmx_value_new(FMX_VAL_NULL, 6, 10));
    fmx_value_t *arr = fmx_value_new(FMX_VAL_ARRAY, 7, 10);
    fmx_value_array_push(arr, str("{limit}", 7, 11));
    fmx_value_array_push(arr, str("plain", 7, 20));
    fmx_value_map_put(root, "list", arr);
    return root;
}

static void test_clone(void **state) {
    (void)state;
    fmx_value_t *orig = sample_tree();
    fmx_value_t *copy = fmx_value_clone(orig);
    assert_non_null(copy);
    assert_ptr_not_equal(copy, orig);
    assert_int_equal(copy->u.map.n, orig->u.map.n);
    const fmx_value_t *k = fmx_value_map_get(copy, "key");
    assert_ptr_not_equal(k, fmx_value_map_get(orig, "key"));
    assert_string_equal(k->u.s.ptr, "user:{user_id}:follows");
    assert_int_equal(k->line, 2);
    assert_int_equal(k->col, 8);
    assert_int_equal(fmx_value_map_get(copy, "limit")->u.i, 300);
    assert_true(fmx_value_map_get(copy, "w")->u.f == 1.5);
    assert_true(fmx_value_map_get(copy, "on")->u.b);
    assert_int_equal(fmx_value_map_get(copy, "none")->kind, FMX_VAL_NULL);
    const fmx_value_t *l = fmx_value_map_get(copy, "list");
    assert_int_equal(l->u.arr.n, 2);
    assert_string_equal(l->u.arr.items[1]->u.s.ptr, "plain");
    assert_int_equal(l->u.arr.items[1]->col, 20);

    /* deep: changing the original does not touch the copy */
    fmx_value_t *ol = (fmx_value_t *)fmx_value_map_get(orig, "limit");
    ol->u.i = 1;
    orig->u.map.vals[0]->u.s.ptr[0] = 'X';
    fmx_value_destroy(&orig);
    assert_int_equal(fmx_value_map_get(copy, "limit")->u.i, 300);
    assert_string_equal(fmx_value_map_get(copy, "key")->u.s.ptr, "user:{user_id}:follows");
    fmx_value_destroy(&copy);
    assert_null(fmx_value_clone(NULL));
}

/* ---- packing ---- */

static void test_pack_verbatim(void **state) {
    (void)state;
    fmx_value_t *root = sample_tree();
    char err[FMX_ERR_LEN] = "";
    packed_t up;
    assert_int_equal(pack(root, NULL, NULL, &up, err), 0);
    const msgpack_object *o = &up.up.data;
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(o->via.map.size, 6);
    assert_mp_str(&o->via.map.ptr[0].key, "key");
    assert_mp_str(&o->via.map.ptr[0].val, "user:{user_id}:follows"); /* no lookup: verbatim */
    assert_int_equal(o->via.map.ptr[1].val.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(o->via.map.ptr[1].val.via.u64, 300);
    assert_int_equal(o->via.map.ptr[2].val.type, MSGPACK_OBJECT_FLOAT64);
    assert_true(o->via.map.ptr[2].val.via.f64 == 1.5);
    assert_int_equal(o->via.map.ptr[3].val.type, MSGPACK_OBJECT_BOOLEAN);
    assert_true(o->via.map.ptr[3].val.via.boolean);
    assert_int_equal(o->via.map.ptr[4].val.type, MSGPACK_OBJECT_NIL);
    const msgpack_object *l = &o->via.map.ptr[5].val;
    assert_int_equal(l->type, MSGPACK_OBJECT_ARRAY);
    assert_mp_str(&l->via.array.ptr[0], "{limit}");
    packed_free(&up);

    /* negative ints stay negative; a malformed template is fine without lookup */
    fmx_value_t *neg = fmx_value_new(FMX_VAL_INT, 1, 1);
    neg->u.i = -5;
    assert_int_equal(pack(neg, NULL, NULL, &up, err), 0);
    assert_int_equal(up.up.data.type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_int_equal(up.up.data.via.i64, -5);
    packed_free(&up);
    fmx_value_destroy(&neg);
    fmx_value_t *bad = str("{oops", 1, 1);
    assert_int_equal(pack(bad, NULL, NULL, &up, err), 0);
    assert_mp_str(&up.up.data, "{oops");
    packed_free(&up);
    fmx_value_destroy(&bad);
    fmx_value_destroy(&root);
}

static void test_pack_templates(void **state) {
    (void)state;
    fmx_value_t *root = sample_tree();
    char err[FMX_ERR_LEN] = "";
    packed_t up;
    assert_int_equal(pack(root, lookup, (void *)vars, &up, err), 0);
    const msgpack_object *o = &up.up.data;
    assert_mp_str(&o->via.map.ptr[0].val, "user:u42:follows");
    const msgpack_object *l = &o->via.map.ptr[5].val;
    /* "{limit}" alone packs the variable's own type */
    assert_int_equal(l->via.array.ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(l->via.array.ptr[0].via.u64, 40);
    assert_mp_str(&l->via.array.ptr[1], "plain");
    packed_free(&up);
    fmx_value_destroy(&root);
}

static void test_pack_single_placeholder_types(void **state) {
    (void)state;
    struct {
        const char *tpl;
        msgpack_object_type type;
    } cases[] = {
        {"{flag}", MSGPACK_OBJECT_BOOLEAN}, {"{ratio}", MSGPACK_OBJECT_FLOAT64},
        {"{user_id}", MSGPACK_OBJECT_STR},  {"{nothing}", MSGPACK_OBJECT_NIL},
        {"{limit}", MSGPACK_OBJECT_POSITIVE_INTEGER},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++) {
        fmx_value_t *v = str(cases[i].tpl, 1, 1);
        char err[FMX_ERR_LEN] = "";
        packed_t up;
        assert_int_equal(pack(v, lookup, (void *)vars, &up, err), 0);
        assert_int_equal(up.up.data.type, cases[i].type);
        if (cases[i].type == MSGPACK_OBJECT_BOOLEAN) assert_true(up.up.data.via.boolean);
        if (cases[i].type == MSGPACK_OBJECT_FLOAT64) assert_true(up.up.data.via.f64 == 0.25);
        if (cases[i].type == MSGPACK_OBJECT_STR) assert_mp_str(&up.up.data, "u42");
        packed_free(&up);
        fmx_value_destroy(&v);
    }
}

static void test_pack_interpolation(void **state) {
    (void)state;
    struct {
        const char *tpl, *want;
    } cases[] = {
        {"geo:{geo.country}:trending", "geo:DE:trending"},
        {"{limit}{limit}", "4040"},     /* two placeholders: a string */
        {" {limit}", " 40"},            /* text around one placeholder: a string */
        {"{flag}/{ratio}", "true/0.25"},
        {"{nothing}", NULL},            /* checked separately: packs nil */
        {"{{literal}}", "{literal}"},   /* escapes */
        {"a{{b}}c{user_id}", "a{b}cu42"},
        {"}}{{", "}{"},
        {"no braces", "no braces"},
        {"", ""},
        {"x{nothing}y", "xnully"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++) {
        if (!cases[i].want) continue;
        fmx_value_t *v = str(cases[i].tpl, 1, 1);
        char err[FMX_ERR_LEN] = "";
        packed_t up;
        assert_int_equal(pack(v, lookup, (void *)vars, &up, err), 0);
        assert_mp_str(&up.up.data, cases[i].want);
        packed_free(&up);
        fmx_value_destroy(&v);
    }
}

static void test_pack_unknown_name(void **state) {
    (void)state;
    fmx_value_t *root = fmx_value_new(FMX_VAL_MAP, 1, 1);
    fmx_value_map_put(root, "key", str("user:{user_id}:{missing_var}", 3, 7));
    char err[FMX_ERR_LEN] = "";
    packed_t up;
    assert_int_equal(pack(root, lookup, (void *)vars, &up, err), -1);
    assert_string_equal(err, "3:7: unknown template variable 'missing_var'");
    packed_free(&up);
    fmx_value_destroy(&root);

    fmx_value_t *whole = str("{nope}", 12, 30);
    assert_int_equal(pack(whole, lookup, (void *)vars, &up, err), -1);
    assert_string_equal(err, "12:30: unknown template variable 'nope'");
    packed_free(&up);
    fmx_value_destroy(&whole);

    fmx_value_t *synth = str("{nope}", 0, 0); /* synthesized: no position */
    assert_int_equal(pack(synth, lookup, (void *)vars, &up, err), -1);
    assert_string_equal(err, "unknown template variable 'nope'");
    packed_free(&up);
    fmx_value_destroy(&synth);
}

static int count_names(void *arg, const fmx_value_t *where, const char *name, size_t len) {
    (void)where;
    (void)name;
    (void)len;
    ++*(int *)arg;
    return 0;
}

static void test_pack_malformed(void **state) {
    (void)state;
    const char *bad[] = {"{", "x{", "{}", "{a b}", "}", "a}b", "{1a}", "{.a}", "{a", "{a-b}", "{{a}", "x}}}"};
    for (size_t i = 0; i < FMX_ARRAY_LEN(bad); i++) {
        fmx_value_t *v = str(bad[i], 4, 2);
        char err[FMX_ERR_LEN] = "";
        packed_t up;
        assert_int_equal(pack(v, lookup, (void *)vars, &up, err), -1);
        assert_non_null(strstr(err, "4:2: malformed template"));
        packed_free(&up);
        assert_int_equal(fmx_value_template_check(v->u.s.ptr, v->u.s.len, NULL, err), -1);
        int names = 0;
        assert_int_equal(fmx_value_each_template(v, count_names, &names, err), -1);
        assert_non_null(strstr(err, "4:2:"));
        fmx_value_destroy(&v);
    }
}

static int big_lookup(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    (void)name;
    (void)len;
    *out = sc_str(arg);
    return 0;
}

static void test_pack_bounded(void **state) {
    (void)state;
    char *big = malloc(3001);
    memset(big, 'x', 3000);
    big[3000] = '\0';
    char err[FMX_ERR_LEN] = "";
    packed_t up;
    fmx_value_t *one = str("k:{a}", 2, 3); /* 3002 bytes: fits */
    assert_int_equal(pack(one, big_lookup, big, &up, err), 0);
    assert_int_equal(up.up.data.via.str.size, 3002);
    packed_free(&up);
    fmx_value_t *two = str("{a}{b}", 2, 3); /* 6000 bytes: refused */
    assert_int_equal(pack(two, big_lookup, big, &up, err), -1);
    assert_string_equal(err, "2:3: template expands to more than 4096 bytes");
    packed_free(&up);
    fmx_value_t *whole = str("{a}", 2, 3); /* a single placeholder is not interpolated: no bound */
    assert_int_equal(pack(whole, big_lookup, big, &up, err), 0);
    assert_int_equal(up.up.data.via.str.size, 3000);
    packed_free(&up);
    fmx_value_destroy(&one);
    fmx_value_destroy(&two);
    fmx_value_destroy(&whole);
    free(big);
}

/* ---- enumeration ---- */

typedef struct {
    char names[8][32];
    int lines[8];
    int n;
    int stop_at;
} collect_t;

static int collect(void *arg, const fmx_value_t *where, const char *name, size_t len) {
    collect_t *c = arg;
    if (c->n == c->stop_at) return 7;
    assert_true(len < 32 && c->n < 8);
    memcpy(c->names[c->n], name, len);
    c->names[c->n][len] = '\0';
    c->lines[c->n] = where->line;
    c->n++;
    return 0;
}

static void test_each_template(void **state) {
    (void)state;
    fmx_value_t *root = sample_tree();
    fmx_value_t *m = fmx_value_new(FMX_VAL_MAP, 8, 1);
    fmx_value_map_put(m, "{not_a_template_key}", str("{{x}} {a.b_c} {d}", 9, 4));
    fmx_value_map_put(root, "nested", m);
    collect_t c = {.stop_at = -1};
    char err[FMX_ERR_LEN] = "";
    assert_int_equal(fmx_value_each_template(root, collect, &c, err), 0);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.names[0], "user_id");
    assert_int_equal(c.lines[0], 2);
    assert_string_equal(c.names[1], "limit");
    assert_int_equal(c.lines[1], 7);
    assert_string_equal(c.names[2], "a.b_c");
    assert_string_equal(c.names[3], "d");
    assert_int_equal(c.lines[3], 9);

    collect_t s = {.stop_at = 1};
    assert_int_equal(fmx_value_each_template(root, collect, &s, err), 7); /* first non-zero result */
    assert_int_equal(s.n, 1);
    fmx_value_destroy(&root);
}

static void test_template_check(void **state) {
    (void)state;
    char err[FMX_ERR_LEN] = "";
    bool whole = true;
    assert_int_equal(fmx_value_template_check("plain", 5, &whole, err), 0);
    assert_false(whole);
    assert_int_equal(fmx_value_template_check("{limit}", 7, &whole, err), 1);
    assert_true(whole);
    assert_int_equal(fmx_value_template_check("{a}{b}", 6, &whole, err), 2);
    assert_false(whole);
    assert_int_equal(fmx_value_template_check("x{a}", 4, &whole, err), 1);
    assert_false(whole);
    assert_int_equal(fmx_value_template_check("{a} ", 4, &whole, err), 1);
    assert_false(whole);
    assert_int_equal(fmx_value_template_check("{{a}}", 5, &whole, err), 0);
    assert_false(whole);
    assert_int_equal(fmx_value_template_check("{a}", 3, NULL, err), 1);
    assert_int_equal(fmx_value_template_check("{}", 2, &whole, err), -1);
    assert_non_null(strstr(err, "empty placeholder"));
    assert_int_equal(fmx_value_template_check("{a", 2, &whole, err), -1);
    assert_non_null(strstr(err, "unclosed '{'"));
    assert_int_equal(fmx_value_template_check("a}", 2, &whole, err), -1);
    assert_non_null(strstr(err, "unmatched '}'"));
    assert_int_equal(fmx_value_template_check("{a b}", 5, &whole, err), -1);
    assert_non_null(strstr(err, "bad character"));
    assert_int_equal(fmx_value_template_check("{9}", 3, &whole, err), -1);
    assert_non_null(strstr(err, "must start with"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_construct_scalars),
        cmocka_unit_test(test_construct_containers),
        cmocka_unit_test(test_clone),
        cmocka_unit_test(test_pack_verbatim),
        cmocka_unit_test(test_pack_templates),
        cmocka_unit_test(test_pack_single_placeholder_types),
        cmocka_unit_test(test_pack_interpolation),
        cmocka_unit_test(test_pack_unknown_name),
        cmocka_unit_test(test_pack_malformed),
        cmocka_unit_test(test_pack_bounded),
        cmocka_unit_test(test_each_template),
        cmocka_unit_test(test_template_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
