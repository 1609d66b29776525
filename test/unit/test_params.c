/* test_params.c - broker/params.h: params.yaml loading, validation against feeds, layering. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "broker/params.h"
#include "test/support/ctx.h"
#include "test/support/fixtures.h"

static void fixture(char *buf, size_t cap, const char *rel) {
    fixtures_path(buf, cap, "params", rel);
}

/* home (limit, ranker_model, boost, show_new_sellers) and products (limit, min_price) */
static fmx_feedset_t *s_test_feeds(void) {
    return fixtures_feedset("params", "feeds");
}

static fmx_params_t *s_load(const char *rel, const fmx_feedset_t *feeds) {
    char path[FIXTURES_PATH_MAX], err[FMX_ERR_LEN] = "";
    fixture(path, sizeof path, rel);
    fmx_params_t *p = fmx_params_load(path, feeds, 0, err);
    if (!p) fail_msg("%s", err);
    return p;
}

/* ---- recording what apply sets, as "name=value" in call order ---- */

typedef struct {
    char calls[16][64];
    size_t n;
} rec_t;

static void rec_set(void *arg, const char *name, const fmx_value_t *v) {
    rec_t *r = arg;
    assert_true(r->n < 16);
    char *out = r->calls[r->n++];
    switch (v->kind) {
    case FMX_VAL_INT: snprintf(out, 64, "%s=%lld", name, (long long)v->u.i); break;
    case FMX_VAL_FLOAT: snprintf(out, 64, "%s=%.2ff", name, v->u.f); break; /* f: stored as a float */
    case FMX_VAL_STR: snprintf(out, 64, "%s='%s'", name, v->u.s.ptr); break;
    case FMX_VAL_BOOL: snprintf(out, 64, "%s=%s", name, v->u.b ? "true" : "false"); break;
    default: snprintf(out, 64, "%s=?", name); break;
    }
}

/* Applies and compares the calls with want (NULL-terminated) and the count of rules applied. */
static void s_expect(const fmx_params_t *p, const char *feed, ctx_t *ctx, size_t rules, const char *const *want) {
    rec_t r = {.n = 0};
    size_t applied = fmx_params_apply(p, feed, ctx_lookup, ctx, rec_set, &r);
    size_t n = 0;
    while (want[n])
        n++;
    if (r.n != n) {
        char got[1024] = "";
        for (size_t i = 0; i < r.n; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %s", r.calls[i]);
        fail_msg("feed %s: want %zu calls, got %zu:%s", feed, n, r.n, got);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(r.calls[i], want[i]);
    assert_int_equal(applied, rules);
}

/* ---- layering and targeting ---- */

static void test_layering(void **state) {
    (void)state;
    fmx_feedset_t *feeds = s_test_feeds();
    fmx_params_t *p = s_load("good.yaml", feeds);
    assert_int_equal(fmx_params_rule_count(p), 6);

    /* no context: the untargeted limit rule and home's boost */
    ctx_t none = {.n = 0};
    s_expect(p, "home", &none, 2, (const char *const[]){"limit=30", "boost=3.00f", NULL});

    /* file order, later wins: the caller keeps the last write of limit (25) */
    ctx_t de = {.n = 0};
    ctx_str(&de, "geo", "DE");
    s_expect(p, "home", &de, 3,
             (const char *const[]){"limit=30", "ranker_model='linear_v2'", "limit=25", "boost=3.00f", NULL});
    ctx_t de_ios = de;
    ctx_str(&de_ios, "platform", "ios");
    s_expect(
        p, "home", &de_ios, 4,
        (const char *const[]){"limit=30", "ranker_model='linear_v2'", "limit=25", "limit=10", "boost=3.00f", NULL});
    ctx_t fr_ios = {.n = 0};
    ctx_str(&fr_ios, "geo", "FR");
    ctx_str(&fr_ios, "platform", "ios");
    s_expect(p, "home", &fr_ios, 2, (const char *const[]){"limit=30", "boost=3.00f", NULL});

    /* products: home-only rules skip it; boost is not its param; min_price (float) only at night */
    s_expect(p, "products", &de, 2, (const char *const[]){"limit=30", "limit=15", NULL});
    ctx_t night = {.n = 0};
    ctx_int(&night, "hour", 23);
    s_expect(p, "products", &night, 3, (const char *const[]){"limit=30", "min_price=2.00f", "limit=15", NULL});
    ctx_t noon = {.n = 0};
    ctx_int(&noon, "hour", 12);
    s_expect(p, "products", &noon, 2, (const char *const[]){"limit=30", "limit=15", NULL});

    /* a feed the file does not know: the untargeted rules set only declared params */
    s_expect(p, "elsewhere", &de, 0, (const char *const[]){NULL});
    /* no context lookup at all: names are null */
    rec_t r = {.n = 0};
    assert_int_equal(fmx_params_apply(p, "home", NULL, NULL, rec_set, &r), 2);

    const char *names[8];
    assert_int_equal(fmx_params_context_names(p, names, 8), 3);
    assert_string_equal(names[0], "geo");
    assert_string_equal(names[1], "platform");
    assert_string_equal(names[2], "hour");
    assert_int_equal(fmx_params_context_names(p, names, 2), 2);

    fmx_params_destroy(&p);
    assert_null(p);
    fmx_params_destroy(&p);
    fmx_feedset_destroy(&feeds);
}

static void test_empty_and_missing(void **state) {
    (void)state;
    fmx_feedset_t *feeds = s_test_feeds();
    const char *empties[] = {"empty.yaml", "empty_list.yaml", "null_list.yaml"};
    for (size_t i = 0; i < FMX_ARRAY_LEN(empties); i++) {
        fmx_params_t *p = s_load(empties[i], feeds);
        assert_int_equal(fmx_params_rule_count(p), 0);
        ctx_t none = {.n = 0};
        s_expect(p, "home", &none, 0, (const char *const[]){NULL});
        const char *names[2];
        assert_int_equal(fmx_params_context_names(p, names, 2), 0);
        fmx_params_destroy(&p);
    }

    char err[FMX_ERR_LEN] = "";
    fmx_params_t *p = fmx_params_load("/nonexistent/params.yaml", feeds, 1, err);
    assert_non_null(p);
    assert_int_equal(fmx_params_rule_count(p), 0);
    fmx_params_destroy(&p);
    p = fmx_params_load(NULL, feeds, 1, err);
    assert_non_null(p);
    fmx_params_destroy(&p);
    assert_null(fmx_params_load("/nonexistent/params.yaml", feeds, 0, err));
    assert_string_equal(err, "/nonexistent/params.yaml:1:1: cannot open: No such file or directory");
    assert_null(fmx_params_load("/nonexistent/params.yaml", feeds, 0, NULL));
    assert_int_equal(fmx_params_rule_count(NULL), 0);
    fmx_feedset_destroy(&feeds);
}

/* Without feeds only the syntax is checked: unknown feeds and params pass. */
static void test_syntax_only(void **state) {
    (void)state;
    fmx_params_t *p = s_load("syntax_only.yaml", NULL);
    assert_int_equal(fmx_params_rule_count(p), 1);
    fmx_params_destroy(&p);
    char path[FIXTURES_PATH_MAX], err[FMX_ERR_LEN];
    fixture(path, sizeof path, "bad/bad_when.yaml");
    assert_null(fmx_params_load(path, NULL, 0, err));
    assert_non_null(strstr(err, "bad `when:` expression"));
    fixture(path, sizeof path, "syntax_only.yaml");
    fmx_feedset_t *feeds = s_test_feeds();
    assert_null(fmx_params_load(path, feeds, 0, err));
    assert_non_null(strstr(err, ":2:13: unknown feed 'nowhere'"));
    fmx_feedset_destroy(&feeds);
}

/* The shipped params.yaml validates against the shipped feeds, and its DE rule applies. */
static void test_shipped_config(void **state) {
    (void)state;
    char path[FIXTURES_PATH_MAX], err[FMX_ERR_LEN] = "";
    fixtures_path(path, sizeof path, "../../configs", "params.yaml");
    fmx_feedset_t *feeds = fixtures_feedset("../../configs", "feeds");
    fmx_params_t *p = fmx_params_load(path, feeds, 0, err);
    if (!p) fail_msg("%s", err);
    assert_true(fmx_params_rule_count(p) >= 1);
    ctx_t de = {.n = 0}, us = {.n = 0};
    ctx_str(&de, "geo", "DE");
    ctx_str(&us, "geo", "US");
    rec_t r_de = {.n = 0}, r_us = {.n = 0};
    assert_true(fmx_params_apply(p, "home", ctx_lookup, &de, rec_set, &r_de) >= 1);
    fmx_params_apply(p, "home", ctx_lookup, &us, rec_set, &r_us);
    assert_true(r_de.n > r_us.n);
    fmx_params_destroy(&p);
    fmx_feedset_destroy(&feeds);
}

/* ---- every load error, with its position ---- */

static const fixtures_bad_t bad_cases[] = {
    {"yaml_syntax.yaml", "3:3", "YAML syntax error"},
    {"not_a_map.yaml", "1:1", "the top level must be a map with the key overrides"},
    {"unknown_top_key.yaml", "2:1", "unknown key 'rules' (allowed: overrides)"},
    {"overrides_not_list.yaml", "1:12", "overrides must be a list of { feeds, when, set } rules"},
    {"rule_not_map.yaml", "2:5", "an override must be a map of feeds, when, set"},
    {"rule_unknown_key.yaml", "2:7", "unknown key 'feed' (allowed: feeds, when, set)"},
    {"no_set.yaml", "2:5", "an override needs `set:`"},
    {"empty_set.yaml", "2:27", "set must be a non-empty map of param -> value"},
    {"set_not_map.yaml", "2:10", "set must be a non-empty map of param -> value"},
    {"unknown_feed.yaml", "2:19", "unknown feed 'nowhere'"},
    {"feed_twice.yaml", "2:29", "feed 'home' is listed twice"},
    {"feeds_empty.yaml", "2:12", "feeds must not be empty"},
    {"bad_when.yaml", "3:19", "bad `when:` expression"}, /* points at the second == */
    {"when_not_scalar.yaml", "2:11", "when must be a scalar"},
    {"undeclared.yaml", "3:22", "param 'boost' is not declared by feed 'products'"},
    {"undeclared_any.yaml", "2:22", "param 'nope' is not declared by any feed"},
    {"wrong_type.yaml", "3:26", "ranker_model must be a string, got int (feed 'home')"},
    {"out_of_range.yaml", "3:14", "limit 100 is above the maximum 50 (feed 'products')"},
    {"value_not_scalar.yaml", "2:19", "param 'limit': override values are scalars"},
    {"duplicate_key.yaml", "2:22", "duplicate key 'limit' (first at line 2)"},
    {"alias.yaml", "2:10", "anchors are not supported"},
};

static int s_load_bad(const char *path, char err[FMX_ERR_LEN], void *feeds) {
    fmx_params_t *p = fmx_params_load(path, feeds, 1, err);
    int rc = p ? 0 : -1;
    fmx_params_destroy(&p);
    return rc;
}

static void test_bad_files(void **state) {
    (void)state;
    fmx_feedset_t *feeds = s_test_feeds();
    fixtures_check_bad("params", bad_cases, FMX_ARRAY_LEN(bad_cases), s_load_bad, feeds);
    fmx_feedset_destroy(&feeds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layering),    cmocka_unit_test(test_empty_and_missing),
        cmocka_unit_test(test_syntax_only), cmocka_unit_test(test_shipped_config),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
