#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/feed.h"
#include "broker/plan.h"
#include "schemas/mpobj.h"

typedef struct {
    const char *keys[8];
    fmx_scalar_t vals[8];
    size_t n;
} s_vars_t;

static int s_lookup(const s_vars_t *v, const char *name, size_t len, fmx_scalar_t *out) {
    for (size_t i = 0; i < v->n; i++)
        if (strlen(v->keys[i]) == len && memcmp(v->keys[i], name, len) == 0) {
            *out = v->vals[i];
            return 0;
        }
    return -1;
}

typedef struct {
    s_vars_t overrides, context;
} s_env_t;

static int s_over(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    return s_lookup(&((s_env_t *)arg)->overrides, name, len, out);
}
static int s_ctx(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    return s_lookup(&((s_env_t *)arg)->context, name, len, out);
}

static fmx_scalar_t s_str(const char *s) { return (fmx_scalar_t){.kind = FMX_SCALAR_STR, .u.s = {s, strlen(s)}}; }
static fmx_scalar_t s_int(int64_t i) { return (fmx_scalar_t){.kind = FMX_SCALAR_INT, .u.i = i}; }
static fmx_scalar_t s_bool(bool b) { return (fmx_scalar_t){.kind = FMX_SCALAR_BOOL, .u.b = b}; }

static fmx_feedset_t *s_load(void) {
    const char *dir = getenv("FMX_FIXTURES");
    char path[1024], errs[4096] = "";
    snprintf(path, sizeof path, "%s/plan", dir ? dir : "test/fixtures");
    fmx_feedset_t *set = fmx_feedset_load_dir(path, errs, sizeof errs);
    if (!set) fail_msg("%s", errs);
    return set;
}

static const fmx_plan_node_t *s_node(const fmx_plan_t *p, const char *name) {
    for (size_t i = 0; i < p->n_nodes; i++)
        if (strcmp(p->nodes[i].name, name) == 0) return &p->nodes[i];
    return NULL;
}

static size_t s_index(const fmx_plan_t *p, const char *name) {
    const fmx_plan_node_t *n = s_node(p, name);
    assert_non_null(n);
    return (size_t)(n - p->nodes);
}

/* Decodes a node's packed params and returns params[key] as a scalar. */
static fmx_scalar_t s_param(const fmx_plan_node_t *n, const char *key, msgpack_zone *zone) {
    msgpack_object obj;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(n->params, n->params_len, &off, zone, &obj), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *v = fmx_mp_map_get(&obj, key);
    assert_non_null(v);
    fmx_scalar_t out;
    assert_int_equal(fmx_scalar_from_msgpack(v, &out), 0);
    return out;
}

static void s_assert_str(fmx_scalar_t v, const char *want) {
    assert_int_equal(v.kind, FMX_SCALAR_STR);
    if (v.u.s.len != strlen(want) || memcmp(v.u.s.ptr, want, v.u.s.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)v.u.s.len, v.u.s.ptr, want);
}

static void test_prunes_when_false_and_what_only_it_feeds(void **state) {
    (void)state;
    fmx_feedset_t *set = s_load();
    const fmx_feed_t *feed = fmx_feedset_find(set, "page", 4);
    s_env_t env = {.context = {{"user_id"}, {s_str("42")}, 1}};
    fmx_plan_env_t pe = {s_over, s_ctx, &env};
    char err[FMX_ERR_LEN];
    fmx_plan_t *p = fmx_plan_build(set, feed, &pe, err);
    if (!p) fail_msg("%s", err);
    /* show_extra is false: b and b_only are gone, merged reads only a. */
    assert_null(s_node(p, "b"));
    assert_null(s_node(p, "b_only"));
    const fmx_plan_node_t *merged = s_node(p, "merged");
    assert_int_equal(merged->n_inputs, 1);
    assert_int_equal(merged->inputs[0], s_index(p, "a"));
    /* Dependency order: every node after its inputs; consumers mirror inputs. */
    for (size_t i = 0; i < p->n_nodes; i++)
        for (size_t k = 0; k < p->nodes[i].n_inputs; k++) assert_true(p->nodes[i].inputs[k] < i);
    const fmx_plan_node_t *a = s_node(p, "a");
    assert_int_equal(a->n_consumers, 1);
    assert_int_equal(a->consumers[0], s_index(p, "merged"));
    assert_int_equal(p->output, s_index(p, "mix"));
    assert_int_equal(p->deadline_ms, 120);
    assert_int_equal(a->budget_ms, 15);
    assert_int_equal(s_node(p, "scored")->fallback, FMX_FALLBACK_PASSTHROUGH);
    fmx_plan_destroy(&p);
    assert_null(p);

    /* Flip the param through the override layer: b and b_only come back. */
    env.overrides = (s_vars_t){{"show_extra"}, {s_bool(true)}, 1};
    p = fmx_plan_build(set, feed, &pe, err);
    assert_non_null(p);
    assert_non_null(s_node(p, "b_only"));
    assert_int_equal(s_node(p, "merged")->n_inputs, 2);
    fmx_plan_destroy(&p);
    fmx_feedset_destroy(&set);
}

static void test_binds_templates_with_types_and_layers(void **state) {
    (void)state;
    fmx_feedset_t *set = s_load();
    const fmx_feed_t *feed = fmx_feedset_find(set, "page", 4);
    s_env_t env = {.overrides = {{"limit"}, {s_int(5)}, 1}, .context = {{"user_id", "geo"}, {s_str("7"), s_str("DE")}, 2}};
    fmx_plan_env_t pe = {s_over, s_ctx, &env};
    char err[FMX_ERR_LEN];
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    fmx_plan_t *p = fmx_plan_build(set, feed, &pe, err);
    if (!p) fail_msg("%s", err);
    s_assert_str(s_param(s_node(p, "a"), "key", &zone), "user:7:a");
    fmx_scalar_t limit = s_param(s_node(p, "a"), "limit", &zone);
    assert_int_equal(limit.kind, FMX_SCALAR_INT); /* a lone placeholder keeps the value's type */
    assert_int_equal(limit.u.i, 5);                /* the override layer beats the feed default */
    s_assert_str(s_param(s_node(p, "scored"), "model", &zone), "m1");
    /* The sub-feed's nodes are namespaced and read the sub-feed's own params and the context. */
    s_assert_str(s_param(s_node(p, "carousel/src"), "key", &zone), "inner:DE");
    assert_int_equal(s_param(s_node(p, "carousel/top"), "limit", &zone).u.i, 7);
    fmx_plan_destroy(&p);

    /* Without geo in the request the feed's context default applies. */
    env.context.n = 1;
    p = fmx_plan_build(set, feed, &pe, err);
    if (!p) fail_msg("%s", err);
    s_assert_str(s_param(s_node(p, "carousel/src"), "key", &zone), "inner:US");
    fmx_plan_destroy(&p);
    msgpack_zone_destroy(&zone);
    fmx_feedset_destroy(&set);
}

static void test_subfeed_becomes_a_carousel_node(void **state) {
    (void)state;
    fmx_feedset_t *set = s_load();
    const fmx_feed_t *feed = fmx_feedset_find(set, "page", 4);
    s_env_t env = {.context = {{"user_id"}, {s_str("1")}, 1}};
    fmx_plan_env_t pe = {s_over, s_ctx, &env};
    char err[FMX_ERR_LEN];
    fmx_plan_t *p = fmx_plan_build(set, feed, &pe, err);
    assert_non_null(p);
    const fmx_plan_node_t *c = s_node(p, "carousel");
    assert_non_null(c);
    assert_int_equal(c->kind, FMX_PLAN_CAROUSEL);
    assert_string_equal(c->type, "carousel");
    assert_int_equal(c->n_inputs, 1);
    assert_int_equal(c->inputs[0], s_index(p, "carousel/top"));
    const fmx_plan_node_t *mix = s_node(p, "mix");
    assert_int_equal(mix->n_inputs, 2);
    assert_int_equal(mix->inputs[1], s_index(p, "carousel"));
    fmx_plan_destroy(&p);

    /* A false when: on the sub-feed node drops it and all of its inner nodes. */
    env.context = (s_vars_t){{"user_id", "geo"}, {s_str("1"), s_str("XX")}, 2};
    p = fmx_plan_build(set, feed, &pe, err);
    assert_non_null(p);
    assert_null(s_node(p, "carousel"));
    assert_null(s_node(p, "carousel/src"));
    assert_int_equal(s_node(p, "mix")->n_inputs, 1);
    fmx_plan_destroy(&p);
    fmx_feedset_destroy(&set);
}

static void test_subfeed_whose_output_is_pruned_leaves_nothing_behind(void **state) {
    (void)state;
    fmx_feedset_t *set = s_load();
    const fmx_feed_t *feed = fmx_feedset_find(set, "page2", 5);
    char err[FMX_ERR_LEN];
    fmx_plan_t *p = fmx_plan_build(set, feed, NULL, err);
    if (!p) fail_msg("%s", err);
    assert_int_equal(p->n_nodes, 2); /* a, mix: no orphaned off/src */
    assert_null(s_node(p, "off/src"));
    assert_null(s_node(p, "off"));
    assert_int_equal(s_node(p, "mix")->n_inputs, 1);
    fmx_plan_destroy(&p);
    fmx_feedset_destroy(&set);
}

static void test_unbound_template_is_an_error_naming_the_node(void **state) {
    (void)state;
    fmx_feedset_t *set = s_load();
    const fmx_feed_t *feed = fmx_feedset_find(set, "page", 4);
    s_env_t env = {0}; /* no user_id */
    fmx_plan_env_t pe = {s_over, s_ctx, &env};
    char err[FMX_ERR_LEN] = "";
    fmx_plan_t *p = fmx_plan_build(set, feed, &pe, err);
    assert_null(p);
    if (!strstr(err, "node 'a'") || !strstr(err, "user_id")) fail_msg("unexpected: %s", err);
    fmx_feedset_destroy(&set);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prunes_when_false_and_what_only_it_feeds),
        cmocka_unit_test(test_binds_templates_with_types_and_layers),
        cmocka_unit_test(test_subfeed_becomes_a_carousel_node),
        cmocka_unit_test(test_subfeed_whose_output_is_pruned_leaves_nothing_behind),
        cmocka_unit_test(test_unbound_template_is_an_error_naming_the_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
