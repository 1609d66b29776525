/* test_plan_print.c - JSON and DOT rendering of plans for `feedctl plan` (tools/feedctl/plan_print.c).
 *
 * tools/ is not a library the unit tests link, so the printer and json.c are compiled into this
 * test. The golden files of whole `feedctl plan` runs are checked by test/cli/test_feedctl_offline.sh;
 * here the rendering is asserted piece by piece on plans built directly and through the config. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/config.h"
#include "broker/context.h"
#include "broker/feed.h"
#include "broker/plan.h"
#include "tools/feedctl/json.c"
#include "tools/feedctl/plan_print.c"

static const char *t_fixtures(void)
{
    const char *dir = getenv("FMX_FIXTURES");
    return dir && *dir ? dir : "test/fixtures";
}

static fmx_feedset_t *t_load(const char *sub)
{
    char path[1024], errs[4096] = "";
    snprintf(path, sizeof path, "%s/%s", t_fixtures(), sub);
    fmx_feedset_t *set = fmx_feedset_load_dir(path, errs, sizeof errs);
    if (!set)
        fail_msg("%s", errs);
    return set;
}

/* A context of (name, string value) pairs; unknown names are not found. */
typedef struct {
    const char *names[4];
    const char *values[4];
    size_t n;
} t_ctx_t;

static int t_ctx_lookup(void *arg, const char *name, size_t len, fmx_scalar_t *out)
{
    const t_ctx_t *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->names[i]) == len && memcmp(c->names[i], name, len) == 0) {
            out->kind = FMX_SCALAR_STR;
            out->u.s = (fmx_str_t){c->values[i], strlen(c->values[i])};
            return 0;
        }
    return -1;
}

/* Plan-env callbacks over a resolution: its overrides, and its context callback. */
static int t_res_overrides(void *arg, const char *name, size_t len, fmx_scalar_t *out)
{
    const fmx_resolution_t *res = arg;
    for (size_t i = 0; i < res->n; i++)
        if (res->names[i].len == len && memcmp(res->names[i].ptr, name, len) == 0) {
            *out = res->values[i];
            return 0;
        }
    return -1;
}

static int t_res_context(void *arg, const char *name, size_t len, fmx_scalar_t *out)
{
    const fmx_resolution_t *res = arg;
    return res->context(res->context_arg, name, len, out);
}

static fmx_plan_t *t_plan(const fmx_feedset_t *set, const char *feed, t_ctx_t *ctx)
{
    fmx_plan_env_t env = {NULL, t_ctx_lookup, ctx};
    char err[FMX_ERR_LEN];
    fmx_plan_t *p = fmx_plan_build(set, fmx_feedset_find(set, feed, strlen(feed)), &env, err);
    if (!p)
        fail_msg("%s", err);
    return p;
}

/* Renders with the JSON (dot == false) or DOT printer; returns the text (caller frees). */
static char *t_render(const fmx_plan_print_t *in, bool dot)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    assert_non_null(mem);
    char err[FMX_ERR_LEN] = "";
    int rc = dot ? fmx_plan_print_dot(mem, in, err) : fmx_plan_print_json(mem, in, err);
    assert_int_equal(fclose(mem), 0);
    if (rc != 0)
        fail_msg("render failed: %s", err);
    return text;
}

static void t_assert_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("missing:\n%s\n--- in:\n%s", want, text);
}

static void t_assert_lacks(const char *text, const char *unwanted)
{
    if (strstr(text, unwanted))
        fail_msg("unexpected:\n%s\n--- in:\n%s", unwanted, text);
}

static void t_assert_text(const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("got:\n%s\n--- want:\n%s", got, want);
}

static const char t_tiny_json[] = "{\n"
                                  "  \"feed\": \"tiny\",\n"
                                  "  \"experiments\": {},\n"
                                  "  \"params\": {},\n"
                                  "  \"deadline_ms\": 150,\n"
                                  "  \"output\": \"mix\",\n"
                                  "  \"nodes\": [\n"
                                  "    {\n"
                                  "      \"name\": \"a\",\n"
                                  "      \"type\": \"retrieve\",\n"
                                  "      \"kind\": \"task\",\n"
                                  "      \"inputs\": [],\n"
                                  "      \"budget_ms\": 5,\n"
                                  "      \"fallback\": \"empty\",\n"
                                  "      \"required\": false,\n"
                                  "      \"params\": {\n"
                                  "        \"key\": \"u:9\",\n"
                                  "        \"limit\": 3\n"
                                  "      }\n"
                                  "    },\n"
                                  "    {\n"
                                  "      \"name\": \"car/s\",\n"
                                  "      \"type\": \"retrieve\",\n"
                                  "      \"kind\": \"task\",\n"
                                  "      \"inputs\": [],\n"
                                  "      \"budget_ms\": 0,\n"
                                  "      \"fallback\": \"none\",\n"
                                  "      \"required\": false,\n"
                                  "      \"params\": {\n"
                                  "        \"key\": \"i\"\n"
                                  "      }\n"
                                  "    },\n"
                                  "    {\n"
                                  "      \"name\": \"car/w\",\n"
                                  "      \"type\": \"score\",\n"
                                  "      \"kind\": \"task\",\n"
                                  "      \"inputs\": [\n"
                                  "        \"car/s\"\n"
                                  "      ],\n"
                                  "      \"budget_ms\": 0,\n"
                                  "      \"fallback\": \"none\",\n"
                                  "      \"required\": false,\n"
                                  "      \"params\": {\n"
                                  "        \"weights\": {\n"
                                  "          \"x\": 0.1,\n"
                                  "          \"y\": 2.0\n"
                                  "        }\n"
                                  "      }\n"
                                  "    },\n"
                                  "    {\n"
                                  "      \"name\": \"car\",\n"
                                  "      \"type\": \"carousel\",\n"
                                  "      \"kind\": \"carousel\",\n"
                                  "      \"inputs\": [\n"
                                  "        \"car/w\"\n"
                                  "      ],\n"
                                  "      \"budget_ms\": 0,\n"
                                  "      \"fallback\": \"none\",\n"
                                  "      \"required\": false,\n"
                                  "      \"params\": {}\n"
                                  "    },\n"
                                  "    {\n"
                                  "      \"name\": \"mix\",\n"
                                  "      \"type\": \"blend\",\n"
                                  "      \"kind\": \"task\",\n"
                                  "      \"inputs\": [\n"
                                  "        \"a\",\n"
                                  "        \"car\"\n"
                                  "      ],\n"
                                  "      \"budget_ms\": 0,\n"
                                  "      \"fallback\": \"none\",\n"
                                  "      \"required\": true,\n"
                                  "      \"params\": {\n"
                                  "        \"strategy\": \"concat\"\n"
                                  "      }\n"
                                  "    }\n"
                                  "  ],\n"
                                  "  \"pruned\": [\n"
                                  "    \"b\"\n"
                                  "  ]\n"
                                  "}\n";

static void test_json_lists_nodes_in_plan_order_and_the_pruned_ones(void **state)
{
    (void)state;
    fmx_feedset_t *set = t_load("feedctl_offline/tiny/feeds");
    t_ctx_t ctx = {{"user_id"}, {"9"}, 1};
    fmx_plan_t *p = t_plan(set, "tiny", &ctx);
    fmx_plan_print_t in = {p, set, NULL, NULL};
    char *json = t_render(&in, false);
    t_assert_text(json, t_tiny_json);
    free(json);
    fmx_plan_destroy(&p);
    fmx_feedset_destroy(&set);
}

static const char t_tiny_dot[] = "digraph \"tiny\" {\n"
                                 "  label=\"tiny\\ndeadline 150 ms\";\n"
                                 "  labelloc=t;\n"
                                 "  rankdir=LR;\n"
                                 "  node [shape=box];\n"
                                 "  \"a\" [label=\"a\\nretrieve\"];\n"
                                 "  \"b\" [label=\"b\\nretrieve\", style=dashed, color=gray, fontcolor=gray];\n"
                                 "  subgraph \"cluster_car\" {\n"
                                 "    label=\"inner\";\n"
                                 "    \"car/s\" [label=\"car/s\\nretrieve\"];\n"
                                 "    \"car/w\" [label=\"car/w\\nscore\"];\n"
                                 "  }\n"
                                 "  \"car\" [label=\"car\\ncarousel\", shape=box3d];\n"
                                 "  \"mix\" [label=\"mix\\nblend\", peripheries=2];\n"
                                 "  \"car/s\" -> \"car/w\";\n"
                                 "  \"car/w\" -> \"car\";\n"
                                 "  \"a\" -> \"mix\";\n"
                                 "  \"car\" -> \"mix\";\n"
                                 "  \"b\" -> \"mix\" [style=dashed, color=gray];\n"
                                 "}\n";

static void test_dot_draws_clusters_output_and_greyed_pruned_nodes(void **state)
{
    (void)state;
    fmx_feedset_t *set = t_load("feedctl_offline/tiny/feeds");
    t_ctx_t ctx = {{"user_id"}, {"9"}, 1};
    fmx_plan_t *p = t_plan(set, "tiny", &ctx);
    fmx_plan_print_t in = {p, set, NULL, NULL};
    char *dot = t_render(&in, true);
    t_assert_text(dot, t_tiny_dot);
    free(dot);
    fmx_plan_destroy(&p);
    fmx_feedset_destroy(&set);
}

static void test_dot_nests_the_clusters_of_nested_subfeeds(void **state)
{
    (void)state;
    fmx_feedset_t *set = t_load("feedctl_offline/tiny/feeds");
    fmx_plan_t *p = t_plan(set, "nest", &(t_ctx_t){0});
    fmx_plan_print_t in = {p, set, NULL, NULL};
    char *dot = t_render(&in, true);
    t_assert_has(dot, "  subgraph \"cluster_m\" {\n"
                      "    label=\"mid\";\n"
                      "    subgraph \"cluster_m/i\" {\n"
                      "      label=\"inner\";\n"
                      "      \"m/i/s\" [label=\"m/i/s\\nretrieve\"];\n"
                      "      \"m/i/w\" [label=\"m/i/w\\nscore\"];\n"
                      "    }\n"
                      "    \"m/i\" [label=\"m/i\\ncarousel\", shape=box3d];\n"
                      "    \"m/r\" [label=\"m/r\\nrank\"];\n"
                      "  }\n"
                      "  \"m\" [label=\"m\\ncarousel\", shape=box3d];\n"
                      "  \"out\" [label=\"out\\nrank\", peripheries=2];\n");
    t_assert_has(dot, "  \"m/i/w\" -> \"m/i\";\n  \"m/i\" -> \"m/r\";\n  \"m/r\" -> \"m\";\n  \"m\" -> \"out\";\n");
    free(dot);
    fmx_plan_destroy(&p);
    fmx_feedset_destroy(&set);
}

static void test_a_pruned_subfeed_lists_its_inner_nodes_and_greys_its_cluster(void **state)
{
    (void)state;
    fmx_feedset_t *set = t_load("plan_golden/subfeed/feeds");
    t_ctx_t ctx = {{"user_id"}, {"7"}, 1};
    fmx_plan_t *p = t_plan(set, "page", &ctx);
    fmx_plan_print_t in = {p, set, NULL, NULL};
    char *json = t_render(&in, false);
    t_assert_has(json, "  \"pruned\": [\n    \"deals/src\",\n    \"deals/top\",\n    \"deals\"\n  ]\n");
    t_assert_has(json, "      \"name\": \"new_sellers\",\n      \"type\": \"carousel\",\n      \"kind\": \"carousel\",\n"
                       "      \"inputs\": [\n        \"new_sellers/top\"\n      ],\n      \"budget_ms\": 40,\n"
                       "      \"fallback\": \"empty\",\n");
    /* Floats come out in their shortest round-trip form. */
    t_assert_has(json, "\"followers\": 0.5,\n          \"recency\": 0.001,\n          \"rating\": 1.25\n");
    free(json);
    char *dot = t_render(&in, true);
    t_assert_has(dot, "  subgraph \"cluster_deals\" {\n    label=\"deals\";\n    style=dashed; color=gray; fontcolor=gray;\n");
    t_assert_has(dot, "  \"deals/src\" -> \"deals/top\" [style=dashed, color=gray];\n");
    t_assert_has(dot, "  \"deals/top\" -> \"deals\" [style=dashed, color=gray];\n");
    t_assert_has(dot, "  \"deals\" -> \"mixed\" [style=dashed, color=gray];\n");
    t_assert_has(dot, "  \"new_sellers\" -> \"mixed\";\n");
    t_assert_lacks(dot, "\"new_sellers\" -> \"mixed\" [");
    free(dot);
    fmx_plan_destroy(&p);
    fmx_feedset_destroy(&set);
}

static void test_a_subfeed_whose_output_is_pruned_is_pruned_whole(void **state)
{
    (void)state;
    /* test/fixtures/plan: page2 embeds inner_off, whose output `top` is disabled by `when:`; the
     * plan drops the sub-feed's surviving `src` with it. */
    fmx_feedset_t *set = t_load("plan");
    fmx_plan_t *p = t_plan(set, "page2", &(t_ctx_t){0});
    fmx_plan_print_t in = {p, set, NULL, NULL};
    char *json = t_render(&in, false);
    t_assert_has(json, "  \"pruned\": [\n    \"off/src\",\n    \"off/top\",\n    \"off\"\n  ]\n");
    free(json);
    fmx_plan_destroy(&p);
    fmx_feedset_destroy(&set);
}

static void test_nothing_is_pruned_when_every_condition_holds(void **state)
{
    (void)state;
    fmx_feedset_t *set = t_load("plan_golden/when_pruned/feeds");
    t_ctx_t ctx = {{"user_id", "platform", "show_deals"}, {"1", "ios", "yes"}, 3};
    /* show_deals is a feed param (false): the context cannot turn it on, only an override can. */
    fmx_plan_t *p = t_plan(set, "shop", &ctx);
    fmx_plan_print_t in = {p, set, NULL, NULL};
    char *json = t_render(&in, false);
    t_assert_has(json, "  \"pruned\": [\n    \"deals\",\n    \"deals_ok\"\n  ]\n");
    free(json);
    fmx_plan_destroy(&p);

    fmx_scalar_t on = {.kind = FMX_SCALAR_BOOL, .u.b = true};
    fmx_resolution_t res = {.feed = fmx_feedset_find(set, "shop", 4), .names = {FMX_STR_LIT("show_deals")},
                            .values = {on}, .n = 1, .context = t_ctx_lookup, .context_arg = &ctx};
    fmx_plan_env_t env = {t_res_overrides, t_res_context, &res};
    char err[FMX_ERR_LEN];
    p = fmx_plan_build(set, res.feed, &env, err);
    if (!p)
        fail_msg("%s", err);
    in = (fmx_plan_print_t){p, set, &res, NULL};
    json = t_render(&in, false);
    t_assert_has(json, "  \"pruned\": []\n");
    t_assert_has(json, "  \"params\": {\n    \"show_deals\": true\n  },\n");
    t_assert_has(json, "      \"inputs\": [\n        \"bought\",\n        \"popular\",\n        \"deals_ok\",\n"
                       "        \"ios_promo\"\n      ],\n");
    char *dot = t_render(&in, true);
    t_assert_lacks(dot, "dashed");
    free(dot);
    free(json);
    fmx_plan_destroy(&p);
    fmx_feedset_destroy(&set);
}

static void test_resolution_and_bound_params_are_printed(void **state)
{
    (void)state;
    fmx_feedset_t *set = t_load("feedctl_offline/tiny/feeds");
    t_ctx_t ctx = {{"user_id"}, {"9"}, 1};
    fmx_plan_t *p = t_plan(set, "tiny", &ctx);
    fmx_value_t *empty = fmx_value_new(FMX_VAL_MAP, 0, 0);
    assert_non_null(empty);
    fmx_resolution_t res = {.feed = p->feed,
                            .names = {FMX_STR_LIT("ratio"), FMX_STR_LIT("label")},
                            .values = {{.kind = FMX_SCALAR_FLOAT, .u.f = 0.25},
                                       {.kind = FMX_SCALAR_STR, .u.s = FMX_STR_LIT("say \"hi\"")}},
                            .n = 2,
                            .experiments = {{"exp_a", "treatment", empty}, {"exp_b", "control", empty}},
                            .n_experiments = 2};
    /* Another request's binding of node `a` (what fmx_config_plan returns on a cache hit). */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    fmx_mp_pack_cstr(&pk, "key");
    fmx_mp_pack_cstr(&pk, "u:other");
    fmx_str_t bound[5] = {{sb.data, sb.size}};
    assert_int_equal(p->n_nodes, 5);
    assert_string_equal(p->nodes[0].name, "a");
    fmx_plan_print_t in = {p, set, &res, bound};
    char *json = t_render(&in, false);
    t_assert_has(json, "  \"experiments\": {\n    \"exp_a\": \"treatment\",\n    \"exp_b\": \"control\"\n  },\n"
                       "  \"params\": {\n    \"ratio\": 0.25,\n    \"label\": \"say \\\"hi\\\"\"\n  },\n");
    t_assert_has(json, "      \"params\": {\n        \"key\": \"u:other\"\n      }\n");
    t_assert_lacks(json, "u:9");
    /* Nodes without a bound entry keep the plan's params. */
    t_assert_has(json, "        \"strategy\": \"concat\"\n");
    free(json);
    char *dot = t_render(&in, true);
    t_assert_has(dot, "  label=\"tiny\\ndeadline 150 ms\\nexp_a: treatment\\nexp_b: control\";\n");
    free(dot);
    msgpack_sbuffer_destroy(&sb);
    fmx_value_destroy(&empty);
    fmx_plan_destroy(&p);
    fmx_feedset_destroy(&set);
}

static void test_dot_strings_are_escaped(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    assert_non_null(mem);
    s_dot_chars(mem, "a\"b\\c\nd", 7);
    s_dot_id(mem, "x\"");
    assert_int_equal(fclose(mem), 0);
    assert_string_equal(text, "a\\\"b\\\\c?d\"x\\\"\"");
    free(text);
}

/* Graphviz must accept what we print; skipped where `dot` is not installed. */
static void test_dot_output_renders_with_graphviz(void **state)
{
    (void)state;
    if (system("command -v dot >/dev/null 2>&1") != 0)
        skip();
    static const char *const cases[][2] = {
        {"feedctl_offline/tiny/feeds", "tiny"},
        {"feedctl_offline/tiny/feeds", "nest"},
        {"plan_golden/subfeed/feeds", "page"},
        {"plan_golden/when_pruned/feeds", "shop"},
    };
    for (size_t c = 0; c < FMX_ARRAY_LEN(cases); c++) {
        fmx_feedset_t *set = t_load(cases[c][0]);
        t_ctx_t ctx = {{"user_id"}, {"3"}, 1};
        fmx_plan_t *p = t_plan(set, cases[c][1], &ctx);
        fmx_plan_print_t in = {p, set, NULL, NULL};
        char *dot = t_render(&in, true);
        char path[] = "/tmp/fmx_plan_print_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        size_t len = strlen(dot);
        assert_int_equal(write(fd, dot, len), (ssize_t)len);
        close(fd);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "dot -Tsvg %s >/dev/null", path);
        int rc = system(cmd);
        unlink(path);
        if (rc != 0)
            fail_msg("dot -Tsvg rejected %s:\n%s", cases[c][1], dot);
        free(dot);
        fmx_plan_destroy(&p);
        fmx_feedset_destroy(&set);
    }
}

/* Through the config as `feedctl plan` does it: the second user hits the plan cache and gets its
 * request-bound params in `bound`, which the printer must show instead of the first user's. */
static void test_cached_plan_prints_this_requests_bound_params(void **state)
{
    (void)state;
    char feeds[1024], params[1024], experiments[1024], errs[4096] = "";
    snprintf(feeds, sizeof feeds, "%s/plan_golden/when_pruned/feeds", t_fixtures());
    snprintf(params, sizeof params, "%s/plan_golden/when_pruned/params.yaml", t_fixtures());
    snprintf(experiments, sizeof experiments, "%s/plan_golden/when_pruned/experiments.yaml", t_fixtures());
    fmx_config_paths_t paths = {feeds, params, experiments};
    fmx_config_t *config = fmx_config_load(&paths, errs, sizeof errs);
    if (!config)
        fail_msg("%s", errs);
    static const char *const users[] = {"1", "2"};
    for (size_t u = 0; u < FMX_ARRAY_LEN(users); u++) {
        fmx_req_context_t ctx;
        fmx_str_t user = {users[u], strlen(users[u])};
        fmx_req_context_init(&ctx, user, FMX_STR_LIT("r"), FMX_STR_LIT("shop"), NULL, 0);
        fmx_resolution_t res;
        fmx_error_code_t code;
        char err[FMX_ERR_LEN];
        if (fmx_config_resolve(config, FMX_STR_LIT("shop"), user, NULL, fmx_req_context_lookup, &ctx, &res, &code,
                               err) != 0)
            fail_msg("%s", err);
        bool owned, hit;
        fmx_str_t *bound = NULL;
        const fmx_plan_t *plan = fmx_config_plan(config, &res, &owned, &hit, &bound, err);
        if (!plan)
            fail_msg("%s", err);
        assert_int_equal(hit, u == 1);
        fmx_plan_print_t in = {plan, fmx_config_feeds(config), &res, bound};
        char *json = t_render(&in, false);
        char want[64];
        snprintf(want, sizeof want, "\"key\": \"user:%s:bought\"", users[u]);
        t_assert_has(json, want);
        snprintf(want, sizeof want, "\"key\": \"user:%s:bought\"", users[1 - u]);
        t_assert_lacks(json, want);
        free(json);
        fmx_config_bound_free(plan, &bound);
        if (owned) {
            fmx_plan_t *mine = (fmx_plan_t *)plan;
            fmx_plan_destroy(&mine);
        }
    }
    fmx_config_unref(&config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lists_nodes_in_plan_order_and_the_pruned_ones),
        cmocka_unit_test(test_dot_draws_clusters_output_and_greyed_pruned_nodes),
        cmocka_unit_test(test_dot_nests_the_clusters_of_nested_subfeeds),
        cmocka_unit_test(test_a_pruned_subfeed_lists_its_inner_nodes_and_greys_its_cluster),
        cmocka_unit_test(test_a_subfeed_whose_output_is_pruned_is_pruned_whole),
        cmocka_unit_test(test_nothing_is_pruned_when_every_condition_holds),
        cmocka_unit_test(test_resolution_and_bound_params_are_printed),
        cmocka_unit_test(test_dot_strings_are_escaped),
        cmocka_unit_test(test_dot_output_renders_with_graphviz),
        cmocka_unit_test(test_cached_plan_prints_this_requests_bound_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
