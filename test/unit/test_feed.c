/* test_feed.c - broker/feed.h: loading, validating and ordering feed definitions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/feed.h"
#include "test/support/fixtures.h"

static void fixture(char *buf, size_t cap, const char *rel) {
    fixtures_path(buf, cap, "feeds", rel);
}

static const fmx_feed_node_t *node(const fmx_feed_t *f, const char *name) {
    long i = fmx_feed_node_index(f, name);
    assert_true(i >= 0);
    return &f->nodes[i];
}

static const char *input_name(const fmx_feed_t *f, const fmx_feed_node_t *n, size_t k) {
    assert_true(k < n->n_inputs);
    assert_true(n->input_index[k] < f->n_nodes);
    return f->nodes[n->input_index[k]].name;
}

static void assert_param_str(const fmx_feed_node_t *n, const char *key, const char *want) {
    const fmx_value_t *v = fmx_value_map_get(n->params, key);
    assert_non_null(v);
    assert_int_equal(v->kind, FMX_VAL_STR);
    assert_string_equal(v->u.s.ptr, want);
}

static void assert_param_int(const fmx_feed_node_t *n, const char *key, int64_t want) {
    const fmx_value_t *v = fmx_value_map_get(n->params, key);
    assert_non_null(v);
    assert_int_equal(v->kind, FMX_VAL_INT);
    assert_int_equal(v->u.i, want);
}

/* Every node comes after all of its inputs. */
static void assert_dependency_order(const fmx_feed_t *f) {
    for (size_t i = 0; i < f->n_nodes; i++)
        for (size_t k = 0; k < f->nodes[i].n_inputs; k++) {
            assert_true(f->nodes[i].input_index[k] < i);
            assert_string_equal(f->nodes[f->nodes[i].input_index[k]].name, f->nodes[i].inputs[k]);
        }
    assert_true(f->output < f->n_nodes);
}

/* ---- the DESIGN.md example ---- */

static void test_design_example(void **state) {
    (void)state;
    char path[512], err[FMX_ERR_LEN] = "";
    fixture(path, sizeof path, "good/home.yaml");
    fmx_feed_t *f = fmx_feed_load(path, err);
    if (!f) fail_msg("%s", err);
    assert_string_equal(f->name, "home");
    assert_string_equal(f->path, path);
    assert_int_equal(f->deadline_ms, 150);
    assert_null(f->on_failure);

    /* feed params keep their YAML types */
    assert_int_equal(f->params->kind, FMX_VAL_MAP);
    assert_int_equal(f->params->u.map.n, 3);
    assert_int_equal(fmx_value_map_get(f->params, "limit")->kind, FMX_VAL_INT);
    assert_int_equal(fmx_value_map_get(f->params, "limit")->u.i, 40);
    assert_string_equal(fmx_value_map_get(f->params, "ranker_model")->u.s.ptr, "gbdt_v1");
    assert_int_equal(fmx_value_map_get(f->params, "show_new_sellers")->kind, FMX_VAL_BOOL);
    assert_false(fmx_value_map_get(f->params, "show_new_sellers")->u.b);

    /* dependency order; file order among independent nodes */
    const char *order[] = {"follows", "trending", "hydrated", "live", "scored", "new_sellers", "page"};
    assert_int_equal(f->n_nodes, FMX_ARRAY_LEN(order));
    for (size_t i = 0; i < FMX_ARRAY_LEN(order); i++) assert_string_equal(f->nodes[i].name, order[i]);
    assert_string_equal(f->nodes[f->output].name, "page");
    assert_dependency_order(f);

    const fmx_feed_node_t *follows = node(f, "follows");
    assert_string_equal(follows->type, "retrieve");
    assert_null(follows->subfeed);
    assert_int_equal(follows->n_inputs, 0);
    assert_param_str(follows, "key", "user:{user_id}:follows_live");
    assert_param_int(follows, "limit", 300);
    assert_int_equal(follows->budget_ms, 15);
    assert_int_equal(follows->fallback, FMX_FALLBACK_EMPTY);
    assert_false(follows->required);
    assert_null(follows->when);
    assert_int_equal(follows->line, 5);
    assert_int_equal(follows->col, 3);
    const fmx_value_t *key = fmx_value_map_get(follows->params, "key");
    assert_int_equal(key->line, 5);
    assert_int_equal(key->col, 47);
    assert_int_equal(fmx_value_map_get(follows->params, "limit")->col, 85);

    const fmx_feed_node_t *trending = node(f, "trending");
    assert_param_str(trending, "key", "geo:{geo}:trending_live");
    assert_int_equal(trending->fallback, FMX_FALLBACK_CACHED);

    const fmx_feed_node_t *hydrated = node(f, "hydrated");
    assert_string_equal(hydrated->type, "hydrate");
    assert_int_equal(hydrated->n_inputs, 2);
    assert_string_equal(input_name(f, hydrated, 0), "follows");
    assert_string_equal(input_name(f, hydrated, 1), "trending");
    assert_true(hydrated->required);
    assert_int_equal(hydrated->budget_ms, 20);
    assert_int_equal(hydrated->fallback, FMX_FALLBACK_NONE);
    assert_non_null(hydrated->params);
    assert_int_equal(hydrated->params->kind, FMX_VAL_MAP);
    assert_int_equal(hydrated->params->u.map.n, 0);

    const fmx_feed_node_t *live = node(f, "live");
    assert_param_str(live, "where", "is_live == 1 && viewers > 0");
    assert_int_equal(fmx_value_map_get(live->params, "where")->col, 69);

    const fmx_feed_node_t *scored = node(f, "scored");
    assert_param_str(scored, "model", "{ranker_model}");
    assert_int_equal(scored->fallback, FMX_FALLBACK_PASSTHROUGH);
    assert_int_equal(scored->budget_ms, 30);

    const fmx_feed_node_t *ns = node(f, "new_sellers");
    assert_null(ns->type);
    assert_string_equal(ns->subfeed, "carousel_new_sellers");
    assert_string_equal(ns->when, "show_new_sellers");
    assert_non_null(ns->when_expr);
    assert_string_equal(fmx_expr_source(ns->when_expr), "show_new_sellers");
    assert_int_equal(ns->n_inputs, 0);
    assert_int_equal(ns->params->u.map.n, 0);
    assert_int_equal(ns->line, 10);
    assert_int_equal(ns->col, 3);

    const fmx_feed_node_t *page = node(f, "page");
    assert_string_equal(page->type, "blend");
    assert_string_equal(input_name(f, page, 0), "scored");
    assert_string_equal(input_name(f, page, 1), "new_sellers");
    assert_param_str(page, "strategy", "slots");
    assert_param_int(page, "every", 5);
    assert_param_int(page, "max_run_same_seller", 2);

    assert_int_equal(fmx_feed_node_index(f, "nope"), -1);
    assert_int_equal(fmx_feed_node_index(f, "page"), 6);
    fmx_feed_destroy(&f);
    assert_null(f);
    fmx_feed_destroy(&f);
}

/* Block style, nodes out of order, static fallback, single-string inputs, escapes. */
static void test_block_style(void **state) {
    (void)state;
    char path[512], err[FMX_ERR_LEN] = "";
    fixture(path, sizeof path, "good/products.yml");
    fmx_feed_t *f = fmx_feed_load(path, err);
    if (!f) fail_msg("%s", err);
    const char *order[] = {"candidates", "hydrated", "cheap", "ranked", "layout"};
    assert_int_equal(f->n_nodes, FMX_ARRAY_LEN(order));
    for (size_t i = 0; i < FMX_ARRAY_LEN(order); i++) assert_string_equal(f->nodes[i].name, order[i]);
    assert_int_equal(f->output, 4);
    assert_dependency_order(f);
    assert_string_equal(f->on_failure, "home");
    assert_int_equal(f->deadline_ms, 150); /* default */

    assert_int_equal(fmx_value_map_get(f->params, "min_price")->kind, FMX_VAL_FLOAT);
    assert_true(fmx_value_map_get(f->params, "min_price")->u.f == 5.5);
    assert_true(fmx_value_map_get(f->params, "debug")->u.b);
    assert_int_equal(fmx_value_map_get(f->params, "note")->kind, FMX_VAL_NULL);
    assert_int_equal(fmx_value_map_get(f->params, "limit")->line, 4);
    assert_int_equal(fmx_value_map_get(f->params, "limit")->col, 10);

    const fmx_feed_node_t *layout = node(f, "layout");
    assert_param_str(layout, "limit", "{limit}"); /* an int param given as one template */
    assert_param_int(layout, "min_items", 0);
    assert_int_equal(layout->line, 10);

    const fmx_feed_node_t *cand = node(f, "candidates");
    assert_int_equal(cand->fallback, FMX_FALLBACK_STATIC);
    const fmx_value_t *items = cand->fallback_items;
    assert_non_null(items);
    assert_int_equal(items->kind, FMX_VAL_ARRAY);
    assert_int_equal(items->u.arr.n, 2);
    const fmx_value_t *id0 = fmx_value_map_get(items->u.arr.items[0], "id");
    assert_int_equal(id0->kind, FMX_VAL_STR); /* ids are strings even when they look like numbers */
    assert_string_equal(id0->u.s.ptr, "1001");
    assert_true(fmx_value_map_get(items->u.arr.items[0], "score")->u.f == 0.5);
    assert_string_equal(fmx_value_map_get(items->u.arr.items[1], "id")->u.s.ptr, "p-2");
    assert_string_equal(fmx_value_map_get(items->u.arr.items[1], "type")->u.s.ptr, "product");
    assert_int_equal(cand->budget_ms, 10);

    const fmx_feed_node_t *hyd = node(f, "hydrated");
    assert_int_equal(hyd->n_inputs, 1);
    assert_string_equal(hyd->inputs[0], "candidates");
    const fmx_value_t *fields = fmx_value_map_get(hyd->params, "fields");
    assert_int_equal(fields->kind, FMX_VAL_ARRAY);
    assert_string_equal(fields->u.arr.items[1]->u.s.ptr, "seller_id");

    const fmx_feed_node_t *cheap = node(f, "cheap");
    assert_string_equal(cheap->when, "platform != \"web\"");
    assert_non_null(cheap->when_expr);
    assert_false(cheap->required);
    assert_param_str(cheap, "where", "price >= 5 && name != '{{x}}'"); /* escapes stay until packing */

    assert_int_equal(node(f, "ranked")->fallback, FMX_FALLBACK_PASSTHROUGH);
    fmx_feed_destroy(&f);
}

/* ---- one broken file per error kind ---- */

static const fixtures_bad_t bad_cases[] = {
    {"yaml_syntax.yaml", "4:1", "YAML syntax error: did not find expected ',' or '}'"},
    {"not_a_map.yaml", "1:1", "the top level must be a map"},
    {"empty.yaml", "1:1", "the file is empty"},
    {"multi_doc.yaml", "5:1", "only one YAML document per file"},
    {"unknown_top_key.yaml", "2:1", "unknown key 'version' (allowed: feed, params, context, deadline_ms, on_failure, nodes, output)"},
    {"context_not_map.yaml", "2:10", "context must be a map of defaults for request context keys"},
    {"context_reserved.yaml", "2:30", "context: `user_id` is set by the broker for every request, not a default"},
    {"duplicate_top_key.yaml", "4:1", "duplicate key 'feed' (first at line 1)"},
    {"missing_output.yaml", "1:1", "missing required key 'output'"},
    {"bad_feed_name.yaml", "1:7", "feed name 'home page' must be"},
    {"bad_deadline.yaml", "2:14", "deadline_ms must be a positive integer"},
    {"empty_nodes.yaml", "2:8", "nodes must be a non-empty map"},
    {"duplicate_node.yaml", "5:3", "duplicate node 'src' (first defined at line 3)"},
    {"bad_node_name.yaml", "3:3", "node name 'a/b' must be"},
    {"node_not_map.yaml", "3:8", "node 'src': a node must be a map"},
    {"unknown_node_key.yaml", "4:24", "node 'out': unknown key 'inptus' (allowed: type, subfeed, inputs"},
    {"type_and_subfeed.yaml", "3:26", "node 'src': has both `type` and `subfeed`"},
    {"no_type.yaml", "3:3", "node 'src': needs `type`"},
    {"unknown_type.yaml", "4:16", "node 'out': unknown node type 'shuffle' (known: retrieve, hydrate, merge"},
    {"inputs_on_retrieve.yaml", "4:27", "node 'more': type 'retrieve' takes no inputs, got 1"},
    {"too_many_inputs.yaml", "5:22", "node 'f': type 'filter' takes exactly 1 input, got 2"},
    {"too_few_inputs.yaml", "3:3", "node 'h': type 'hydrate' takes at least 1 input, got 0"},
    {"unknown_param.yaml", "3:44", "node 'src': unknown param 'limt' for type 'retrieve' (known: key, limit, entity_type)"},
    {"param_kind.yaml", "3:51", "node 'src': param 'limit' must be int, got str"},
    {"missing_param.yaml", "3:3", "node 'src': missing required param 'key' for type 'retrieve'"},
    {"bad_where.yaml", "4:66", "node 'f': bad 'where' expression"},
    {"template_in_expr.yaml", "4:54", "node 'f': param 'where': templates are not allowed in expressions"},
    {"malformed_template.yaml", "3:41", "node 'src': param 'key': malformed template"},
    {"unknown_input.yaml", "4:33", "node 'out': unknown input 'scr'"},
    {"self_input.yaml", "4:35", "node 'm': lists itself as an input"},
    {"duplicate_input.yaml", "4:35", "node 'm': input 'src' is listed twice"},
    {"cycle.yaml", "4:3", "node 'a': cycle: a -> b -> c -> a"},
    {"unknown_output.yaml", "4:9", "output 'page' is not a node of this feed"},
    {"unused_node.yaml", "4:3", "node 'extra' is not used by any node or the output"},
    {"bad_fallback.yaml", "3:56", "node 'src': unknown fallback 'sometimes'"},
    {"passthrough_no_input.yaml", "3:56", "node 'src': fallback 'passthrough' needs at least one input"},
    {"static_fallback.yaml", "9:11", "node 'src': static fallback entity needs both id and type"},
    {"subfeed_inputs.yaml", "4:26", "node 'car': a subfeed node takes no inputs"},
    {"subfeed_params.yaml", "4:26", "node 'car': a subfeed node takes no params"},
    {"bad_when.yaml", "6:18", "node 'src': bad `when:` expression"},           /* plain: points at the 2nd == */
    {"bad_when_quoted.yaml", "3:65", "node 'src': bad `when:` expression"},    /* quoted: past the open quote */
    {"anchor.yaml", "3:34", "anchors are not supported"},
    {"alias.yaml", "3:34", "aliases are not supported"},
    {"tag.yaml", "3:51", "YAML tags are not supported"},
    {"too_deep.yaml", "3:85", "nested deeper than 32 levels"},
    {"int_range.yaml", "3:51", "integer 99999999999999999999 is out of range"},
    {"bad_budget.yaml", "3:57", "node 'src': budget_ms must be a positive integer"},
    {"bad_required.yaml", "3:56", "node 'src': required must be true or false"},
    /* typed feed params */
    {"params_not_map.yaml", "2:9", "params must be a map of defaults"},
    {"param_map_no_default.yaml", "2:18",
     "param 'limit': param values are scalars; use { default: ..., type: ... } to declare one"},
    {"param_list.yaml", "3:9", "param 'tags': param values are scalars"},
    {"param_default_not_scalar.yaml", "3:21", "param 'limit': param values are scalars"},
    {"param_unknown_key.yaml", "3:25",
     "param 'limit': unknown key 'maximum' (allowed: default, type, min, max, overridable, doc)"},
    {"param_bad_type.yaml", "3:31", "param 'limit': unknown type 'integer' (allowed: bool, int, float, string)"},
    {"param_bound_on_string.yaml", "3:32", "param 'model': max is only allowed for int and float params, not string"},
    {"param_bound_not_number.yaml", "3:30", "param 'limit': min must be a number"},
    {"param_min_above_max.yaml", "3:39", "param 'limit': max 10 is below min 50"},
    {"param_bad_overridable.yaml", "3:38", "param 'limit': overridable must be true or false"},
    {"param_default_type.yaml", "3:21", "param 'limit': bad default: limit must be an int, got string"},
    {"param_default_range.yaml", "4:14", "param 'limit': bad default: limit 500 is above the maximum 200"},
    {"param_null_typed.yaml", "3:21", "param 'model': bad default: model must be a string, got null"},
    {"param_bad_doc.yaml", "3:29", "doc must be a scalar"},
};

static int s_load_bad(const char *path, char err[FMX_ERR_LEN], void *arg) {
    (void)arg;
    fmx_feed_t *f = fmx_feed_load(path, err);
    int rc = f ? 0 : -1;
    fmx_feed_destroy(&f);
    return rc;
}

static void test_bad_files(void **state) {
    (void)state;
    fixtures_check_bad("feeds", bad_cases, FMX_ARRAY_LEN(bad_cases), s_load_bad, NULL);
}

static void test_io_errors(void **state) {
    (void)state;
    char err[FMX_ERR_LEN] = "";
    assert_null(fmx_feed_load("/nonexistent/feed.yaml", err));
    assert_string_equal(err, "/nonexistent/feed.yaml:1:1: cannot open: No such file or directory");

    /* > 1 MiB: refused before parsing */
    char tmpl[] = "/tmp/fmx_feed_big_XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    fputs("feed: big\n# ", fp);
    for (int i = 0; i < (1 << 20) / 64 + 1; i++)
        fputs("0123456789012345678901234567890123456789012345678901234567890123", fp);
    fputs("\n", fp);
    fclose(fp);
    assert_null(fmx_feed_load(tmpl, err));
    assert_non_null(strstr(err, ":1:1: file is larger than 1048576 bytes"));
    unlink(tmpl);

    /* a NULL err buffer is allowed */
    assert_null(fmx_feed_load("/nonexistent/feed.yaml", NULL));
}

/* Error text never overruns the buffer, even with a very long path. */
static void test_long_path(void **state) {
    (void)state;
    char path[1024];
    memset(path, 'a', sizeof path);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    char err[FMX_ERR_LEN + 8];
    memset(err, 'Z', sizeof err);
    assert_null(fmx_feed_load(path, err));
    assert_int_equal(strlen(err), FMX_ERR_LEN - 1);
    assert_int_equal(err[FMX_ERR_LEN], 'Z');
}

/* ---- typed params ---- */

static const fmx_param_decl_t *decl(const fmx_feed_t *f, const char *name) {
    const fmx_param_decl_t *d = fmx_feed_param(f, name);
    if (!d) fail_msg("no declaration for '%s'", name);
    assert_string_equal(d->name, name);
    return d;
}

static void test_typed_params(void **state) {
    (void)state;
    char path[512], err[FMX_ERR_LEN] = "";
    fixture(path, sizeof path, "typed/typed.yaml");
    fmx_feed_t *f = fmx_feed_load(path, err);
    if (!f) fail_msg("%s", err);
    const char *order[] = {"short_int", "short_str", "limit",    "ratio", "inferred",
                           "flag",      "model",     "anything", "quoted"};
    assert_int_equal(f->n_param_decls, FMX_ARRAY_LEN(order));
    assert_int_equal(f->params->u.map.n, FMX_ARRAY_LEN(order));
    for (size_t i = 0; i < FMX_ARRAY_LEN(order); i++) {
        assert_string_equal(f->param_decls[i].name, order[i]);
        assert_string_equal(f->params->u.map.keys[i], order[i]); /* params stays the map of defaults */
    }

    const fmx_param_decl_t *d = decl(f, "short_int");
    assert_int_equal(d->type, FMX_VAL_INT);
    assert_false(d->has_min || d->has_max || d->overridable);
    assert_int_equal(d->line, 4);
    assert_int_equal(d->col, 3);
    assert_int_equal(fmx_value_map_get(f->params, "short_int")->u.i, 7);
    assert_int_equal(decl(f, "short_str")->type, FMX_VAL_STR);

    d = decl(f, "limit");
    assert_int_equal(d->type, FMX_VAL_INT);
    assert_true(d->has_min && d->has_max && d->overridable);
    assert_true(d->min == 1 && d->max == 200);
    assert_int_equal(d->line, 6);
    const fmx_value_t *limit = fmx_value_map_get(f->params, "limit");
    assert_int_equal(limit->kind, FMX_VAL_INT);
    assert_int_equal(limit->u.i, 40);
    assert_int_equal(limit->line, 6); /* the default's own position */
    assert_int_equal(limit->col, 21);

    d = decl(f, "ratio"); /* an int default of a float param is stored as a float */
    assert_int_equal(d->type, FMX_VAL_FLOAT);
    assert_true(d->min == 0 && d->max == 2.5);
    assert_int_equal(fmx_value_map_get(f->params, "ratio")->kind, FMX_VAL_FLOAT);
    assert_true(fmx_value_map_get(f->params, "ratio")->u.f == 1.0);

    d = decl(f, "inferred");
    assert_int_equal(d->type, FMX_VAL_FLOAT);
    assert_false(d->has_min);
    assert_true(d->has_max && d->max == 1);

    d = decl(f, "flag");
    assert_int_equal(d->type, FMX_VAL_BOOL);
    assert_false(d->overridable);
    assert_true(fmx_value_map_get(f->params, "flag")->u.b);

    d = decl(f, "model");
    assert_int_equal(d->type, FMX_VAL_STR);
    assert_true(d->overridable);
    assert_string_equal(fmx_value_map_get(f->params, "model")->u.s.ptr, "linear_v1");

    assert_int_equal(decl(f, "anything")->type, FMX_VAL_NULL); /* a null default: untyped */
    assert_int_equal(fmx_value_map_get(f->params, "anything")->kind, FMX_VAL_NULL);
    assert_int_equal(decl(f, "quoted")->type, FMX_VAL_STR);
    assert_string_equal(fmx_value_map_get(f->params, "quoted")->u.s.ptr, "2024");

    assert_null(fmx_feed_param(f, "nope"));
    assert_null(fmx_feed_param(NULL, "limit"));
    fmx_feed_destroy(&f);
}

static fmx_scalar_t s_int(int64_t i) {
    return (fmx_scalar_t){.kind = FMX_SCALAR_INT, .u.i = i};
}

static fmx_scalar_t s_float(double x) {
    return (fmx_scalar_t){.kind = FMX_SCALAR_FLOAT, .u.f = x};
}

static fmx_scalar_t s_str(const char *s) {
    return (fmx_scalar_t){.kind = FMX_SCALAR_STR, .u.s = {s, strlen(s)}};
}

static fmx_scalar_t s_bool(bool b) {
    return (fmx_scalar_t){.kind = FMX_SCALAR_BOOL, .u.b = b};
}

static void test_param_check(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    fmx_param_decl_t limit = {"limit", FMX_VAL_INT, true, true, 1, 200, true, 1, 1};
    fmx_scalar_t v = s_int(1);
    assert_int_equal(fmx_param_check(&limit, &v, err), 0);
    v = s_int(200);
    assert_int_equal(fmx_param_check(&limit, &v, err), 0);
    v = s_int(500);
    assert_int_equal(fmx_param_check(&limit, &v, err), -1);
    assert_string_equal(err, "limit 500 is above the maximum 200");
    v = s_int(0);
    assert_int_equal(fmx_param_check(&limit, &v, err), -1);
    assert_string_equal(err, "limit 0 is below the minimum 1");
    v = s_float(5.0); /* a float is not an int */
    assert_int_equal(fmx_param_check(&limit, &v, err), -1);
    assert_string_equal(err, "limit must be an int, got float");

    fmx_param_decl_t model = {"ranker_model", FMX_VAL_STR, false, false, 0, 0, false, 1, 1};
    v = s_int(2);
    assert_int_equal(fmx_param_check(&model, &v, err), -1);
    assert_string_equal(err, "ranker_model must be a string, got int");
    v = s_str("linear_v2");
    assert_int_equal(fmx_param_check(&model, &v, err), 0);
    v = (fmx_scalar_t){.kind = FMX_SCALAR_NULL};
    assert_int_equal(fmx_param_check(&model, &v, err), -1);
    assert_string_equal(err, "ranker_model must be a string, got null");

    fmx_param_decl_t ratio = {"ratio", FMX_VAL_FLOAT, true, true, 0, 2.5, false, 1, 1};
    v = s_int(2); /* an int is accepted for a float */
    assert_int_equal(fmx_param_check(&ratio, &v, err), 0);
    v = s_float(2.5);
    assert_int_equal(fmx_param_check(&ratio, &v, err), 0);
    v = s_float(2.75);
    assert_int_equal(fmx_param_check(&ratio, &v, err), -1);
    assert_string_equal(err, "ratio 2.75 is above the maximum 2.5");
    v = s_int(3);
    assert_int_equal(fmx_param_check(&ratio, &v, err), -1);
    assert_string_equal(err, "ratio 3 is above the maximum 2.5");
    v = s_float(-0.5);
    assert_int_equal(fmx_param_check(&ratio, &v, err), -1);
    assert_string_equal(err, "ratio -0.5 is below the minimum 0");
    v = s_float(NAN);
    assert_int_equal(fmx_param_check(&ratio, &v, err), -1);
    assert_string_equal(err, "ratio must be a finite number");
    v = s_str("1.5");
    assert_int_equal(fmx_param_check(&ratio, &v, err), -1);
    assert_string_equal(err, "ratio must be a float, got string");

    fmx_param_decl_t flag = {"flag", FMX_VAL_BOOL, false, false, 0, 0, false, 1, 1};
    v = s_bool(false);
    assert_int_equal(fmx_param_check(&flag, &v, err), 0);
    v = s_int(1);
    assert_int_equal(fmx_param_check(&flag, &v, err), -1);
    assert_string_equal(err, "flag must be a bool, got int");

    fmx_param_decl_t any = {"note", FMX_VAL_NULL, false, false, 0, 0, false, 1, 1};
    v = s_str("x");
    assert_int_equal(fmx_param_check(&any, &v, err), 0);
    v = s_int(-4);
    assert_int_equal(fmx_param_check(&any, &v, err), 0);

    fmx_param_decl_t unbounded = {"n", FMX_VAL_INT, false, false, 0, 0, false, 1, 1};
    v = s_int(INT64_MIN);
    assert_int_equal(fmx_param_check(&unbounded, &v, err), 0);
    assert_string_equal(fmx_param_type_name(FMX_VAL_STR), "string");
    assert_string_equal(fmx_param_type_name(FMX_VAL_NULL), "any");
}

/* ---- feed sets ---- */

static void test_feedset_good(void **state) {
    (void)state;
    char dir[512], errs[2048] = "x";
    fixture(dir, sizeof dir, "good");
    fmx_feedset_t *set = fmx_feedset_load_dir(dir, errs, sizeof errs);
    if (!set) fail_msg("%s", errs);
    assert_string_equal(errs, "");
    assert_int_equal(fmx_feedset_count(set), 3);
    /* file-name order */
    assert_string_equal(fmx_feedset_at(set, 0)->name, "carousel_new_sellers");
    assert_string_equal(fmx_feedset_at(set, 1)->name, "home");
    assert_string_equal(fmx_feedset_at(set, 2)->name, "products");
    assert_null(fmx_feedset_at(set, 3));
    const fmx_feed_t *home = fmx_feedset_find(set, "home", 4);
    assert_ptr_equal(home, fmx_feedset_at(set, 1));
    assert_ptr_equal(fmx_feedset_find(set, "homepage", 4), home); /* length-delimited */
    assert_null(fmx_feedset_find(set, "hom", 3));
    assert_null(fmx_feedset_find(set, "nope", 4));
    const fmx_feed_t *car = fmx_feedset_find(set, "carousel_new_sellers", strlen("carousel_new_sellers"));
    assert_non_null(car);
    assert_int_equal(car->deadline_ms, 80);
    const fmx_feed_node_t *sellers = &car->nodes[fmx_feed_node_index(car, "sellers")];
    assert_string_equal(fmx_value_map_get(sellers->params, "limit")->u.s.ptr, "{carousel_limit}");
    fmx_feedset_destroy(&set);
    assert_null(set);
    fmx_feedset_destroy(&set);
    assert_int_equal(fmx_feedset_count(NULL), 0);
}

typedef struct {
    const char *dir;
    const char *lines[3]; /* "REL:LINE:COL: message" for each expected error line, in order */
} set_case_t;

static const set_case_t set_cases[] = {
    {"sets/unknown_subfeed", {"home.yaml:4:3: node 'car': unknown sub-feed 'nowhere'"}},
    {"sets/unknown_on_failure",
     {"home.yaml:2:13: on_failure: unknown feed 'backup'", "self.yaml:2:13: on_failure names this feed itself"}},
    {"sets/recursion",
     {"b.yaml:4:3: node 'back': sub-feed recursion: b -> a -> b", "c.yml:3:3: node 'me': sub-feed recursion: c -> c"}},
    {"sets/duplicate", {"two.yaml:2:7: feed 'same' is already defined in "}},
    {"sets/unknown_template", {"home.yaml:5:51: node 'b': template {ranker_modle} names no parameter"}},
    {"sets/many_errors",
     {"b_bad.yaml:3:3: node 'src': missing required param 'key'", "c_bad.yml:4:9: output 'nope' is not a node"}},
};

static void test_feedset_errors(void **state) {
    (void)state;
    for (size_t i = 0; i < FMX_ARRAY_LEN(set_cases); i++) {
        const set_case_t *c = &set_cases[i];
        char dir[512], errs[4096];
        fixture(dir, sizeof dir, c->dir);
        fmx_feedset_t *set = fmx_feedset_load_dir(dir, errs, sizeof errs);
        if (set) fail_msg("%s: loaded but should fail", c->dir);
        const char *line = errs;
        size_t n = 0;
        for (; n < 3 && c->lines[n]; n++) {
            char want[1024];
            snprintf(want, sizeof want, "%s/%s", dir, c->lines[n]);
            if (strncmp(line, want, strlen(want)) != 0) fail_msg("%s: want line '%s' in:\n%s", c->dir, want, errs);
            line = strchr(line, '\n');
            assert_non_null(line);
            line++;
        }
        if (*line) fail_msg("%s: unexpected extra errors:\n%s", c->dir, line);
    }
}

static void test_feedset_edges(void **state) {
    (void)state;
    char errs[256];
    assert_null(fmx_feedset_load_dir("/nonexistent/feeds", errs, sizeof errs));
    assert_non_null(strstr(errs, "/nonexistent/feeds: cannot open directory"));

    /* a small buffer truncates but stays terminated; NULL is allowed */
    char dir[512], small[24];
    memset(small, 'Z', sizeof small);
    fixture(dir, sizeof dir, "sets/many_errors");
    assert_null(fmx_feedset_load_dir(dir, small, 16));
    assert_int_equal(strlen(small), 15);
    assert_int_equal(small[16], 'Z');
    assert_null(fmx_feedset_load_dir(dir, NULL, 0));

    /* an empty directory is an empty set */
    char tmpl[] = "/tmp/fmx_feeds_XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    fmx_feedset_t *set = fmx_feedset_load_dir(tmpl, errs, sizeof errs);
    assert_non_null(set);
    assert_int_equal(fmx_feedset_count(set), 0);
    assert_null(fmx_feedset_find(set, "home", 4));
    fmx_feedset_destroy(&set);
    rmdir(tmpl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_block_style),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_long_path),
        cmocka_unit_test(test_typed_params),
        cmocka_unit_test(test_param_check),
        cmocka_unit_test(test_feedset_good),
        cmocka_unit_test(test_feedset_errors),
        cmocka_unit_test(test_feedset_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
