/* test_experiments.c - broker/experiments.h: loading, stable bucketing, splits, layers, targeting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "broker/experiments.h"
#include "test/support/ctx.h"
#include "test/support/fixtures.h"

#define USERS     100000
#define TOLERANCE 0.015 /* absolute share: +-1.5 percentage points */

static void fixture(char *buf, size_t cap, const char *rel) {
    fixtures_path(buf, cap, "experiments", rel);
}

/* The params tests' two feeds: home (limit, ranker_model, boost, show_new_sellers) and products
 * (limit, min_price). */
static fmx_feedset_t *s_test_feeds(void) {
    return fixtures_feedset("params", "feeds");
}

static fmx_experiments_t *s_load(const char *rel, const fmx_feedset_t *feeds) {
    char path[FIXTURES_PATH_MAX], err[FMX_ERR_LEN] = "";
    fixture(path, sizeof path, rel);
    fmx_experiments_t *x = fmx_experiments_load(path, feeds, 0, err);
    if (!x) fail_msg("%s", err);
    return x;
}

static fmx_str_t s_user(char *buf, size_t cap, int i) {
    int n = snprintf(buf, cap, "user-%d", i);
    return (fmx_str_t){buf, (size_t)n};
}

/* The variant of `experiment` among the assignments, or NULL. */
static const fmx_assignment_t *s_find(const fmx_assignment_t *a, size_t n, const char *experiment) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i].experiment, experiment) == 0) return &a[i];
    return NULL;
}

static void assert_share(const char *what, size_t count, double want) {
    double got = (double)count / USERS;
    if (fabs(got - want) > TOLERANCE) fail_msg("%s: share %.4f, want %.4f +- %.3f", what, got, want, TOLERANCE);
}

/* ---- bucketing ---- */

/* Fixed expectations, computed once with an independent XXH64 implementation: a change of hash,
 * seed or key layout breaks assignments of every running experiment, and this test. */
static void test_bucket_stability(void **state) {
    (void)state;
    static const struct {
        const char *key, *user;
        uint32_t bucket;
    } cases[] = {
        {"ranker_test_2026", "42", 8794},
        {"ranking", "42", 5326},
        {"ranker_test_2026", "user-1", 9793},
        {"ranking", "user-1", 2555},
        {"salt", "u", 1211},
        {"layer", "", 1654},
        {"ranker_test_2026", "a-rather-long-user-id-that-is-more-than-32-bytes", 5391},
        {"ranker_test_2026", "1", 974},
        {"ranker_test_2026", "alice", 66},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++) {
        fmx_str_t user = {cases[i].user, strlen(cases[i].user)};
        uint32_t b = fmx_experiments_bucket(cases[i].key, user);
        if (b != cases[i].bucket) fail_msg("%s:%s -> %u, want %u", cases[i].key, cases[i].user, b, cases[i].bucket);
    }
    /* the user id is length-delimited, not NUL-terminated */
    assert_int_equal(fmx_experiments_bucket("ranking", (fmx_str_t){"42xyz", 2}), 5326);
    assert_int_equal(fmx_experiments_bucket("layer", FMX_STR_NULL), 1654);

    /* through assignment, across two independent loads ("restarts") */
    fmx_feedset_t *feeds = s_test_feeds();
    for (int load = 0; load < 2; load++) {
        fmx_experiments_t *x = s_load("split.yaml", feeds);
        fmx_assignment_t a[4];
        assert_int_equal(fmx_experiments_assign(x, "home", FMX_STR_LIT("42"), NULL, NULL, a, 4), 2);
        assert_string_equal(a[0].experiment, "ranker_test");
        assert_string_equal(a[0].variant, "treatment"); /* variant bucket 8794 >= 5000 */
        assert_string_equal(a[1].experiment, "three_way");
        assert_int_equal(fmx_experiments_assign(x, "home", FMX_STR_LIT("1"), NULL, NULL, a, 4), 2);
        assert_string_equal(a[0].variant, "control"); /* 974 < 5000 */
        assert_int_equal(fmx_experiments_assign(x, "home", FMX_STR_LIT("alice"), NULL, NULL, a, 4), 2);
        assert_string_equal(a[0].variant, "control"); /* 66 */
        fmx_experiments_destroy(&x);
    }
    fmx_feedset_destroy(&feeds);
}

/* ---- splits ---- */

static void test_split(void **state) {
    (void)state;
    fmx_feedset_t *feeds = s_test_feeds();
    fmx_experiments_t *x = s_load("split.yaml", feeds);
    assert_int_equal(fmx_experiments_count(x), 2);
    size_t control = 0, treatment = 0, abc[3] = {0, 0, 0};
    for (int i = 0; i < USERS; i++) {
        char buf[32];
        fmx_assignment_t a[4];
        size_t n = fmx_experiments_assign(x, "home", s_user(buf, sizeof buf, i), NULL, NULL, a, 4);
        assert_int_equal(n, 2); /* full traffic in both layers */
        const fmx_assignment_t *r = s_find(a, n, "ranker_test"), *t = s_find(a, n, "three_way");
        assert_non_null(r);
        assert_non_null(t);
        if (!strcmp(r->variant, "control")) {
            control++;
            assert_int_equal(r->params->kind, FMX_VAL_MAP);
            assert_int_equal(r->params->u.map.n, 0);
        } else {
            assert_string_equal(r->variant, "treatment");
            treatment++;
            assert_string_equal(fmx_value_map_get(r->params, "ranker_model")->u.s.ptr, "linear_v2");
        }
        abc[t->variant[0] - 'a']++;
        if (t->variant[0] == 'b') {
            const fmx_value_t *boost = fmx_value_map_get(t->params, "boost");
            assert_int_equal(boost->kind, FMX_VAL_FLOAT); /* boost is declared float: 2 is stored as 2.0 */
            assert_true(boost->u.f == 2.0);
        }
        if (t->variant[0] == 'c') assert_true(fmx_value_map_get(t->params, "show_new_sellers")->u.b);
    }
    assert_int_equal(control + treatment, USERS);
    assert_share("control", control, 0.5);
    assert_share("treatment", treatment, 0.5);
    assert_share("a (20)", abc[0], 0.2);
    assert_share("b (30)", abc[1], 0.3);
    assert_share("c (50)", abc[2], 0.5);
    fmx_experiments_destroy(&x);
    fmx_feedset_destroy(&feeds);
}

/* Two layers draw independently: every cell of the joint distribution is the product of the
 * marginals. */
static void test_layers_independent(void **state) {
    (void)state;
    fmx_feedset_t *feeds = s_test_feeds();
    fmx_experiments_t *x = s_load("split.yaml", feeds);
    size_t joint[2][3] = {{0}}, rows[2] = {0}, cols[3] = {0};
    for (int i = 0; i < USERS; i++) {
        char buf[32];
        fmx_assignment_t a[4];
        size_t n = fmx_experiments_assign(x, "home", s_user(buf, sizeof buf, i), NULL, NULL, a, 4);
        int r = strcmp(s_find(a, n, "ranker_test")->variant, "treatment") == 0;
        int t = s_find(a, n, "three_way")->variant[0] - 'a';
        joint[r][t]++;
        rows[r]++;
        cols[t]++;
    }
    for (int r = 0; r < 2; r++)
        for (int t = 0; t < 3; t++) {
            char what[64];
            snprintf(what, sizeof what, "ranker %d x three_way %c", r, 'a' + t);
            assert_share(what, joint[r][t], ((double)rows[r] / USERS) * ((double)cols[t] / USERS));
        }
    fmx_experiments_destroy(&x);

    /* partial traffic: in-or-out of `other` does not depend on the `shared` layer */
    x = s_load("exclusive.yaml", feeds);
    size_t c = 0, a_only = 0, a_and_c = 0;
    for (int i = 0; i < USERS; i++) {
        char buf[32];
        fmx_assignment_t as[4];
        size_t n = fmx_experiments_assign(x, "home", s_user(buf, sizeof buf, i), NULL, NULL, as, 4);
        bool in_a = s_find(as, n, "exp_a") != NULL, in_c = s_find(as, n, "exp_c") != NULL;
        c += in_c;
        a_only += in_a;
        a_and_c += in_a && in_c;
    }
    assert_share("exp_c", c, 0.5);
    assert_share("exp_a and exp_c", a_and_c, ((double)a_only / USERS) * ((double)c / USERS));
    fmx_experiments_destroy(&x);
    fmx_feedset_destroy(&feeds);
}

/* Experiments in one layer never share a user; their shares follow their traffic. */
static void test_layer_exclusive(void **state) {
    (void)state;
    fmx_feedset_t *feeds = s_test_feeds();
    fmx_experiments_t *x = s_load("exclusive.yaml", feeds);
    assert_int_equal(fmx_experiments_count(x), 4);
    size_t a = 0, b = 0, none = 0, bx = 0;
    for (int i = 0; i < USERS; i++) {
        char buf[32];
        fmx_assignment_t as[4];
        size_t n = fmx_experiments_assign(x, "home", s_user(buf, sizeof buf, i), NULL, NULL, as, 4);
        const fmx_assignment_t *in_a = s_find(as, n, "exp_a"), *in_b = s_find(as, n, "exp_b");
        if (in_a && in_b) fail_msg("user-%d is in both exp_a and exp_b", i);
        assert_null(s_find(as, n, "exp_zero")); /* traffic 0 assigns nobody */
        a += in_a != NULL;
        b += in_b != NULL;
        none += !in_a && !in_b;
        if (in_b) {
            bx += strcmp(in_b->variant, "x") == 0;
            assert_int_equal(in_b->params->u.map.n, 0);
        }
        /* file order in the output: exp_a / exp_c / exp_b */
        if (n == 2) assert_string_equal(as[0].experiment, in_a ? "exp_a" : "exp_c");
    }
    assert_share("exp_a (30)", a, 0.3);
    assert_share("exp_b (40)", b, 0.4);
    assert_share("neither (30)", none, 0.3);
    /* exp_b's weights 0.5 : 1.5 */
    double x_share = (double)bx / (double)b;
    if (fabs(x_share - 0.25) > TOLERANCE) fail_msg("exp_b x: %.4f of its users, want 0.25", x_share);

    /* out holds at most max */
    fmx_assignment_t one[1];
    size_t total = 0;
    for (int i = 0; i < 1000; i++) {
        char buf[32];
        size_t n = fmx_experiments_assign(x, "home", s_user(buf, sizeof buf, i), NULL, NULL, one, 1);
        assert_true(n <= 1);
        total += n;
    }
    assert_true(total > 500); /* ~85 % are in at least one experiment */
    assert_int_equal(fmx_experiments_assign(x, "home", FMX_STR_LIT("u"), NULL, NULL, one, 0), 0);
    fmx_experiments_destroy(&x);
    fmx_feedset_destroy(&feeds);
}

/* ---- targeting ---- */

static void test_targeting(void **state) {
    (void)state;
    fmx_feedset_t *feeds = s_test_feeds();
    fmx_experiments_t *x = s_load("targeting.yaml", feeds);
    ctx_t ios = {.n = 0}, web = {.n = 0};
    ctx_str(&ios, "platform", "ios");
    ctx_str(&web, "platform", "web");
    size_t ios_only = 0, everyone_ios = 0, everyone_web = 0, nothing_web = 0;
    for (int i = 0; i < USERS; i++) {
        char buf[32];
        fmx_str_t user = s_user(buf, sizeof buf, i);
        fmx_assignment_t ai[4], aw[4];
        size_t ni = fmx_experiments_assign(x, "home", user, ctx_lookup, &ios, ai, 4);
        size_t nw = fmx_experiments_assign(x, "home", user, ctx_lookup, &web, aw, 4);
        assert_null(s_find(ai, ni, "products_only")); /* feeds: products */
        assert_null(s_find(aw, nw, "ios_only"));
        bool in_ios = s_find(ai, ni, "ios_only") != NULL;
        bool e_ios = s_find(ai, ni, "everyone") != NULL, e_web = s_find(aw, nw, "everyone") != NULL;
        assert_true(in_ios != e_ios); /* the two fill layer t */
        /* a web user in ios_only's range is NOT moved into `everyone` */
        assert_int_equal(e_ios, e_web);
        ios_only += in_ios;
        everyone_ios += e_ios;
        everyone_web += e_web;
        nothing_web += nw == 0;
    }
    assert_share("ios_only on ios", ios_only, 0.5);
    assert_share("everyone on ios", everyone_ios, 0.5);
    assert_share("everyone on web", everyone_web, 0.5);
    assert_share("nothing on web", nothing_web, 0.5);

    /* feed targeting: products_only only for products, with min_price as a float */
    fmx_assignment_t a[4];
    size_t n = fmx_experiments_assign(x, "products", FMX_STR_LIT("42"), ctx_lookup, &web, a, 4);
    const fmx_assignment_t *p = s_find(a, n, "products_only");
    assert_non_null(p);
    assert_string_equal(p->variant, "cheap");
    assert_int_equal(fmx_value_map_get(p->params, "min_price")->kind, FMX_VAL_FLOAT);
    assert_true(fmx_value_map_get(p->params, "min_price")->u.f == 1.0);

    /* `when:` over several context names; without `feeds:` a variant's params may hold keys this
     * feed does not declare (min_price is products'): the caller skips those */
    ctx_t de_morning = {.n = 0}, de_night = {.n = 0}, us = {.n = 0};
    ctx_str(&de_morning, "geo", "DE");
    ctx_int(&de_morning, "hour", 8);
    ctx_str(&de_night, "geo", "AT");
    ctx_int(&de_night, "hour", 3);
    ctx_str(&us, "geo", "US");
    ctx_int(&us, "hour", 8);
    n = fmx_experiments_assign(x, "home", FMX_STR_LIT("42"), ctx_lookup, &de_morning, a, 4);
    const fmx_assignment_t *q = s_find(a, n, "any_feed");
    assert_non_null(q);
    assert_int_equal(fmx_value_map_get(q->params, "limit")->u.i, 20);
    assert_non_null(fmx_value_map_get(q->params, "min_price"));
    n = fmx_experiments_assign(x, "products", FMX_STR_LIT("42"), ctx_lookup, &de_morning, a, 4);
    assert_non_null(s_find(a, n, "any_feed"));
    n = fmx_experiments_assign(x, "home", FMX_STR_LIT("42"), ctx_lookup, &de_night, a, 4);
    assert_null(s_find(a, n, "any_feed"));
    n = fmx_experiments_assign(x, "home", FMX_STR_LIT("42"), ctx_lookup, &us, a, 4);
    assert_null(s_find(a, n, "any_feed"));
    n = fmx_experiments_assign(x, "home", FMX_STR_LIT("42"), NULL, NULL, a, 4); /* no context: nulls */
    assert_null(s_find(a, n, "any_feed"));
    assert_null(s_find(a, n, "ios_only"));

    const char *names[8];
    assert_int_equal(fmx_experiments_context_names(x, names, 8), 3);
    assert_string_equal(names[0], "platform");
    assert_string_equal(names[1], "geo");
    assert_string_equal(names[2], "hour");
    assert_int_equal(fmx_experiments_context_names(x, names, 1), 1);
    fmx_experiments_destroy(&x);
    fmx_feedset_destroy(&feeds);
}

/* ---- files ---- */

static void test_empty_and_missing(void **state) {
    (void)state;
    fmx_feedset_t *feeds = s_test_feeds();
    const char *empties[] = {"empty.yaml", "empty_list.yaml"};
    for (size_t i = 0; i < FMX_ARRAY_LEN(empties); i++) {
        fmx_experiments_t *x = s_load(empties[i], feeds);
        assert_int_equal(fmx_experiments_count(x), 0);
        fmx_assignment_t a[2];
        assert_int_equal(fmx_experiments_assign(x, "home", FMX_STR_LIT("42"), NULL, NULL, a, 2), 0);
        fmx_experiments_destroy(&x);
    }
    char err[FMX_ERR_LEN] = "";
    fmx_experiments_t *x = fmx_experiments_load("/nonexistent/experiments.yaml", feeds, 1, err);
    assert_non_null(x);
    assert_int_equal(fmx_experiments_count(x), 0);
    fmx_experiments_destroy(&x);
    assert_null(fmx_experiments_load("/nonexistent/experiments.yaml", feeds, 0, err));
    assert_string_equal(err, "/nonexistent/experiments.yaml:1:1: cannot open: No such file or directory");
    assert_int_equal(fmx_experiments_count(NULL), 0);
    /* syntax only: without feeds, feed names and params are not checked */
    x = s_load("split.yaml", NULL);
    assert_int_equal(fmx_experiments_count(x), 2);
    fmx_experiments_destroy(&x);
    fmx_experiments_destroy(&x);
    fmx_feedset_destroy(&feeds);
}

/* The shipped experiments.yaml: ranker_test on home, 50/50, treatment switches the model. */
static void test_shipped_config(void **state) {
    (void)state;
    char path[FIXTURES_PATH_MAX], err[FMX_ERR_LEN] = "";
    fixtures_path(path, sizeof path, "../../configs", "experiments.yaml");
    fmx_feedset_t *feeds = fixtures_feedset("../../configs", "feeds");
    fmx_experiments_t *x = fmx_experiments_load(path, feeds, 0, err);
    if (!x) fail_msg("%s", err);
    const fmx_param_decl_t *model = fmx_feed_param(fmx_feedset_find(feeds, "home", 4), "ranker_model");
    assert_non_null(model);
    assert_int_equal(model->type, FMX_VAL_STR);
    size_t treatment = 0;
    for (int i = 0; i < USERS; i++) {
        char buf[32];
        fmx_assignment_t a[4];
        size_t n = fmx_experiments_assign(x, "home", s_user(buf, sizeof buf, i), NULL, NULL, a, 4);
        const fmx_assignment_t *r = s_find(a, n, "ranker_test");
        assert_non_null(r);
        if (strcmp(r->variant, "treatment") == 0) {
            treatment++;
            assert_string_equal(fmx_value_map_get(r->params, "ranker_model")->u.s.ptr, "linear_v2");
        } else {
            assert_string_equal(r->variant, "control");
            assert_null(fmx_value_map_get(r->params, "ranker_model"));
        }
    }
    assert_share("ranker_test treatment", treatment, 0.5);
    fmx_assignment_t a[4];
    assert_int_equal(fmx_experiments_assign(x, "no_such_feed", FMX_STR_LIT("42"), NULL, NULL, a, 4), 0);
    fmx_experiments_destroy(&x);
    fmx_feedset_destroy(&feeds);
}

/* ---- every load error, with its position ---- */

static const fixtures_bad_t bad_cases[] = {
    {"yaml_syntax.yaml", "4:1", "YAML syntax error"},
    {"not_a_map.yaml", "1:1", "the top level must be a map with the key experiments"},
    {"unknown_top_key.yaml", "1:1", "unknown key 'experiment' (allowed: experiments)"},
    {"not_list.yaml", "1:14", "experiments must be a list of experiments"},
    {"exp_not_map.yaml", "2:5", "an experiment must be a map of name, salt, layer, feeds, traffic, when, variants"},
    {"no_name.yaml", "2:5", "an experiment needs `name`"},
    {"bad_name.yaml", "2:11", "experiment name 'a b' must be 1-128 letters"},
    {"duplicate_name.yaml", "6:11", "duplicate experiment 'a' (first at line 2)"},
    {"unknown_key.yaml", "5:5", "experiment 'a': unknown key 'weight' (allowed: name, salt, layer"},
    {"no_layer.yaml", "2:5", "experiment 'a': missing required key 'layer'"},
    {"layer_not_string.yaml", "3:12", "experiment 'a': layer must be a scalar"},
    {"no_traffic.yaml", "2:5", "experiment 'a': missing required key 'traffic'"},
    {"traffic_range.yaml", "4:14", "experiment 'a': traffic must be a percentage from 0 to 100"},
    {"traffic_not_number.yaml", "4:14", "experiment 'a': traffic must be a number"},
    {"layer_over.yaml", "12:14",
     "experiment 'c': layer 'l' is over-subscribed: its experiments' traffic adds up to 100.5%"},
    {"no_variants.yaml", "5:15", "experiment 'a': variants must be a non-empty list"},
    {"variant_not_map.yaml", "5:16", "experiment 'a': a variant must be a map of name, weight, params"},
    {"variant_unknown_key.yaml", "5:39", "experiment 'a': variant: unknown key 'param'"},
    {"variant_no_weight.yaml", "5:16", "experiment 'a': a variant needs `weight`"},
    {"duplicate_variant.yaml", "7:17", "experiment 'a': duplicate variant 'on' (first at line 6)"},
    {"zero_weight.yaml", "5:62", "experiment 'a': variant 'off': weight must be a number above 0"},
    {"weight_not_number.yaml", "5:36", "experiment 'a': weight must be a number"},
    {"tiny_weight.yaml", "5:67",
     "experiment 'a': variant 'off': weight 1 is too small to get any of the 10000 buckets"},
    {"unknown_feed.yaml", "4:19", "experiment 'a': unknown feed 'nowhere'"},
    {"bad_when.yaml", "5:31", "experiment 'a': bad `when:` expression"}, /* the end of the plain scalar */
    {"undeclared_param.yaml", "6:49", "experiment 'a': param 'ranker_model' is not declared by feed 'products'"},
    {"param_type.yaml", "8:33", "experiment 'a': ranker_model must be a string, got int (feed 'home')"},
    {"param_range.yaml", "6:56", "experiment 'a': limit 0 is below the minimum 1 (feed 'home')"},
    {"salt_is_layer.yaml", "7:11", "experiment 'b': salt 'l' is also a layer name"},
    {"salt_reused.yaml", "8:11", "experiment 'b': salt 's1' is already used by experiment 'a'"},
    {"name_is_layer.yaml", "2:11", "experiment 'ranking': salt 'ranking' is also a layer name"},
};

static int s_load_bad(const char *path, char err[FMX_ERR_LEN], void *feeds) {
    fmx_experiments_t *x = fmx_experiments_load(path, feeds, 1, err);
    int rc = x ? 0 : -1;
    fmx_experiments_destroy(&x);
    return rc;
}

static void test_bad_files(void **state) {
    (void)state;
    fmx_feedset_t *feeds = s_test_feeds();
    fixtures_check_bad("experiments", bad_cases, FMX_ARRAY_LEN(bad_cases), s_load_bad, feeds);
    fmx_feedset_destroy(&feeds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_stability),   cmocka_unit_test(test_split),
        cmocka_unit_test(test_layers_independent), cmocka_unit_test(test_layer_exclusive),
        cmocka_unit_test(test_targeting),          cmocka_unit_test(test_empty_and_missing),
        cmocka_unit_test(test_shipped_config),     cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
