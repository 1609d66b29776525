/* The shipped configs load, and the process tests' generous-budget copy of the feeds has not
 * drifted from them in anything but budgets and deadlines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/feed.h"

static fmx_feedset_t *s_load(const char *rel) {
    const char *fixtures = getenv("FMX_FIXTURES");
    char path[1024], errs[8192] = "";
    snprintf(path, sizeof path, "%s/%s", fixtures ? fixtures : "test/fixtures", rel);
    fmx_feedset_t *set = fmx_feedset_load_dir(path, errs, sizeof errs);
    if (!set) fail_msg("%s:\n%s", path, errs);
    return set;
}

static void test_shipped_feeds_load(void **state) {
    (void)state;
    fmx_feedset_t *set = s_load("../../configs/feeds");
    assert_true(fmx_feedset_count(set) >= 1);
    assert_non_null(fmx_feedset_find(set, "home", 4));
    fmx_feedset_destroy(&set);
}

static void test_generous_copy_matches_shipped_feeds(void **state) {
    (void)state;
    fmx_feedset_t *real = s_load("../../configs/feeds"), *copy = s_load("integration/feeds_generous");
    for (size_t f = 0; f < fmx_feedset_count(copy); f++) {
        const fmx_feed_t *c = fmx_feedset_at(copy, f);
        const fmx_feed_t *r = fmx_feedset_find(real, c->name, strlen(c->name));
        if (!r) fail_msg("feeds_generous has feed '%s' that configs/feeds does not", c->name);
        assert_int_equal(c->n_nodes, r->n_nodes);
        assert_int_equal(c->output, r->output);
        for (size_t i = 0; i < c->n_nodes; i++) {
            const fmx_feed_node_t *a = &c->nodes[i], *b = &r->nodes[i];
            if (strcmp(a->name, b->name) != 0) fail_msg("feed %s: node %s vs %s", c->name, a->name, b->name);
            assert_string_equal(a->type ? a->type : "-", b->type ? b->type : "-");
            assert_int_equal(a->n_inputs, b->n_inputs);
            for (size_t k = 0; k < a->n_inputs; k++) assert_string_equal(a->inputs[k], b->inputs[k]);
            assert_int_equal(a->fallback, b->fallback);
            assert_int_equal(a->required, b->required);
            assert_int_equal(a->params->u.map.n, b->params->u.map.n);
        }
    }
    fmx_feedset_destroy(&real);
    fmx_feedset_destroy(&copy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_feeds_load),
        cmocka_unit_test(test_generous_copy_matches_shipped_feeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
