/* test_node_schema.c - schemas/node_schema.h: the node type catalogue. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/fmx.h"
#include "schemas/node_schema.h"

typedef struct {
    const char *name;
    int min_inputs, max_inputs;
    const char *params; /* "key:kind:req key:kind:opt ..." in table order */
} expect_t;

/* The Core catalogue (nodes-catalogue.md); the actor handlers depend on these exact names. */
static const expect_t expected[] = {
    {"retrieve", 0, 0, "key:str:req limit:int:opt entity_type:str:opt"},
    {"hydrate", 1, -1, "fields:list:opt"},
    {"merge", 1, -1, "limit:int:opt"},
    {"filter", 1, 1, "where:expr:opt seen_key:str:opt blocked_key:str:opt blocked_by:list:opt"},
    {"score", 1, 1, "model:str:opt scorer:str:opt weights:map:opt"},
    {"rank", 1, 1,
     "limit:int:opt by:str:opt per_group_by:str:opt per_group_limit:int:opt items_limit:int:opt "
     "across:bool:opt"},
    {"group", 1, 1,
     "by:str:req type:str:opt title:str:opt min_items:int:opt max_items:int:opt max_groups:int:opt score:str:opt"},
    {"blend", 1, -1,
     "strategy:str:opt every:int:opt ratio:list:opt quotas:list:opt debunch_by:str:opt max_run:int:opt "
     "max_run_same_seller:int:opt limit:int:opt"},
    {"layout", 1, 1, "limit:int:opt min_items:int:opt model:str:opt"},
};

static void test_table_matches_catalogue(void **state) {
    (void)state;
    size_t n = 0;
    while (fmx_node_schemas[n].name) n++;
    assert_int_equal(n, FMX_ARRAY_LEN(expected));
    for (size_t i = 0; i < n; i++) {
        const fmx_node_schema_t *s = &fmx_node_schemas[i];
        const expect_t *e = &expected[i];
        assert_string_equal(s->name, e->name);
        assert_int_equal(s->min_inputs, e->min_inputs);
        assert_int_equal(s->max_inputs, e->max_inputs);
        assert_non_null(s->doc);
        assert_true(strlen(s->doc) > 10);
        char got[512] = "";
        for (const fmx_param_spec_t *p = s->params; p->key; p++) {
            char one[64];
            snprintf(one, sizeof one, "%s%s:%s:%s", got[0] ? " " : "", p->key, fmx_param_kind_name(p->kind),
                     p->required ? "req" : "opt");
            strncat(got, one, sizeof got - strlen(got) - 1);
            assert_non_null(p->doc);
            assert_true(strlen(p->doc) > 0);
        }
        assert_string_equal(got, e->params);
    }
}

static void test_find(void **state) {
    (void)state;
    const fmx_node_schema_t *f = fmx_node_schema_find("filter");
    assert_non_null(f);
    assert_string_equal(f->name, "filter");
    assert_ptr_equal(fmx_node_schema_find("layout"), &fmx_node_schemas[8]);
    assert_null(fmx_node_schema_find("shuffle"));
    assert_null(fmx_node_schema_find("Filter")); /* names are case-sensitive */
    assert_null(fmx_node_schema_find("filte"));
    assert_null(fmx_node_schema_find(""));
    assert_null(fmx_node_schema_find(NULL));
    assert_null(fmx_node_schema_find("carousel")); /* broker-side plan node, not a feed node type */
}

static void test_param(void **state) {
    (void)state;
    const fmx_node_schema_t *r = fmx_node_schema_find("retrieve");
    const fmx_param_spec_t *key = fmx_node_schema_param(r, "key");
    assert_non_null(key);
    assert_int_equal(key->kind, FMX_PARAM_STR);
    assert_true(key->required);
    const fmx_param_spec_t *limit = fmx_node_schema_param(r, "limit");
    assert_int_equal(limit->kind, FMX_PARAM_INT);
    assert_false(limit->required);
    assert_null(fmx_node_schema_param(r, "where"));
    assert_null(fmx_node_schema_param(r, "lim"));
    assert_null(fmx_node_schema_param(NULL, "key"));
    assert_null(fmx_node_schema_param(r, NULL));
    const fmx_param_spec_t *where = fmx_node_schema_param(fmx_node_schema_find("filter"), "where");
    assert_int_equal(where->kind, FMX_PARAM_EXPR);
    assert_false(where->required); /* where, seen_key or blocked_key: checked by the node */
    assert_int_equal(fmx_node_schema_param(fmx_node_schema_find("score"), "weights")->kind, FMX_PARAM_MAP);
}

static void test_kind_names(void **state) {
    (void)state;
    assert_string_equal(fmx_param_kind_name(FMX_PARAM_STR), "str");
    assert_string_equal(fmx_param_kind_name(FMX_PARAM_INT), "int");
    assert_string_equal(fmx_param_kind_name(FMX_PARAM_NUM), "num");
    assert_string_equal(fmx_param_kind_name(FMX_PARAM_BOOL), "bool");
    assert_string_equal(fmx_param_kind_name(FMX_PARAM_EXPR), "expr");
    assert_string_equal(fmx_param_kind_name(FMX_PARAM_LIST), "list");
    assert_string_equal(fmx_param_kind_name(FMX_PARAM_MAP), "map");
    assert_string_equal(fmx_param_kind_name(FMX_PARAM_ANY), "any");
    assert_string_equal(fmx_param_kind_name((fmx_param_kind_t)99), "?");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_matches_catalogue),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_param),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
