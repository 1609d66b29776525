/* The configuration snapshot: parameter layering, the overridable rule, and the plan cache
 * (a hit re-binds the new request's own user_id and context). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/config.h"
#include "broker/context.h"
#include "schemas/mpobj.h"

typedef struct {
    fmx_config_t *config;
    msgpack_zone zone;
    char dir[1024];
} s_fx_t;

static int s_setup(void **state) {
    static s_fx_t fx;
    const char *fixtures = getenv("FMX_FIXTURES");
    snprintf(fx.dir, sizeof fx.dir, "%s/config", fixtures ? fixtures : "test/fixtures");
    char feeds[1100], params[1100], exps[1100], errs[4096] = "";
    snprintf(feeds, sizeof feeds, "%s/feeds", fx.dir);
    snprintf(params, sizeof params, "%s/params.yaml", fx.dir);
    snprintf(exps, sizeof exps, "%s/experiments.yaml", fx.dir);
    fmx_config_paths_t paths = {feeds, params, exps};
    fx.config = fmx_config_load(&paths, errs, sizeof errs);
    if (!fx.config) {
        fprintf(stderr, "%s\n", errs);
        return -1;
    }
    msgpack_zone_init(&fx.zone, 4096);
    *state = &fx;
    return 0;
}

static int s_teardown(void **state) {
    s_fx_t *fx = *state;
    fmx_config_unref(&fx->config);
    msgpack_zone_destroy(&fx->zone);
    return 0;
}

/* Packs a flat map from "k=v,k2=v2" (all-digit values as ints) and unpacks it into the zone. */
static const msgpack_object *s_map(s_fx_t *fx, const char *spec) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    size_t n = 0;
    for (char *p = buf; *p; p++) n += *p == '=';
    msgpack_pack_map(&pk, n);
    for (char *save, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        *eq = '\0';
        fmx_mp_pack_cstr(&pk, kv);
        char *end;
        long long v = strtoll(eq + 1, &end, 10);
        if (*end == '\0' && end != eq + 1)
            msgpack_pack_int64(&pk, v);
        else
            fmx_mp_pack_cstr(&pk, eq + 1);
    }
    char *copy = msgpack_zone_malloc(&fx->zone, sb.size);
    memcpy(copy, sb.data, sb.size);
    msgpack_object *obj = msgpack_zone_malloc(&fx->zone, sizeof *obj);
    size_t off = 0;
    assert_int_equal(msgpack_unpack(copy, sb.size, &off, &fx->zone, obj), MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_destroy(&sb);
    return obj;
}

typedef struct {
    fmx_req_context_t ctx;
    fmx_resolution_t res;
} s_req_t;

static int s_resolve(s_fx_t *fx, s_req_t *r, const char *user, const char *context, const char *params,
                     fmx_error_code_t *code, char *err) {
    fmx_str_t uid = {user, strlen(user)};
    fmx_req_context_init(&r->ctx, uid, FMX_STR_LIT("req"), FMX_STR_LIT("home"), context ? s_map(fx, context) : NULL, 0);
    return fmx_config_resolve(fx->config, FMX_STR_LIT("home"), uid, params ? s_map(fx, params) : NULL,
                              fmx_req_context_lookup, &r->ctx, &r->res, code, err);
}

static void s_expect(s_req_t *r, const char *name, const char *want_str, int64_t want_int) {
    fmx_scalar_t v;
    assert_int_equal(fmx_resolution_lookup(&r->res, name, strlen(name), &v), 0);
    if (want_str) {
        assert_int_equal(v.kind, FMX_SCALAR_STR);
        if (v.u.s.len != strlen(want_str) || memcmp(v.u.s.ptr, want_str, v.u.s.len) != 0)
            fail_msg("%s = '%.*s', want '%s'", name, (int)v.u.s.len, v.u.s.ptr, want_str);
    } else {
        assert_int_equal(v.kind, FMX_SCALAR_INT);
        assert_int_equal(v.u.i, want_int);
    }
}

static void test_layers_later_wins(void **state) {
    s_fx_t *fx = *state;
    s_req_t r;
    fmx_error_code_t code;
    char err[FMX_ERR_LEN];
    /* defaults */
    assert_int_equal(s_resolve(fx, &r, "7", "platform=ios", NULL, &code, err), 0);
    s_expect(&r, "model", "m1", 0);
    s_expect(&r, "limit", NULL, 40);
    assert_int_equal(r.res.n_experiments, 0); /* the experiment targets platform web only */
    /* params.yaml: the later matching rule wins */
    assert_int_equal(s_resolve(fx, &r, "7", "geo=DE,platform=tv", NULL, &code, err), 0);
    s_expect(&r, "model", "m_tv", 0);
    s_expect(&r, "limit", NULL, 10);
    /* experiments beat params.yaml; find a user in each variant */
    int seen_control = 0, seen_treatment = 0;
    for (int u = 0; u < 200 && !(seen_control && seen_treatment); u++) {
        char user[16];
        snprintf(user, sizeof user, "%d", u);
        assert_int_equal(s_resolve(fx, &r, user, "geo=DE,platform=web", NULL, &code, err), 0);
        assert_int_equal(r.res.n_experiments, 1);
        assert_string_equal(r.res.experiments[0].experiment, "models");
        if (strcmp(r.res.experiments[0].variant, "treatment") == 0) {
            s_expect(&r, "model", "m_exp", 0);
            seen_treatment = 1;
        } else {
            s_expect(&r, "model", "m_de", 0);
            seen_control = 1;
        }
    }
    assert_true(seen_control && seen_treatment);
    /* the request's own params, for overridable ones, beat everything */
    assert_int_equal(s_resolve(fx, &r, "7", "platform=tv", "limit=3", &code, err), 0);
    s_expect(&r, "limit", NULL, 3);
}

static void test_request_params_are_checked(void **state) {
    s_fx_t *fx = *state;
    s_req_t r;
    fmx_error_code_t code = FMX_CODE_OK;
    char err[FMX_ERR_LEN] = "";
    assert_int_equal(s_resolve(fx, &r, "7", NULL, "model=evil", &code, err), -1);
    assert_int_equal(code, FMX_CODE_BAD_REQUEST);
    assert_non_null(strstr(err, "model"));
    assert_int_equal(s_resolve(fx, &r, "7", NULL, "limit=1000", &code, err), -1); /* max 100 */
    assert_int_equal(code, FMX_CODE_BAD_REQUEST);
    assert_int_equal(s_resolve(fx, &r, "7", NULL, "limit=many", &code, err), -1); /* an int */
    assert_int_equal(s_resolve(fx, &r, "7", NULL, "nosuch=1", &code, err), -1);
    fmx_str_t uid = FMX_STR_LIT("7");
    assert_int_equal(fmx_config_resolve(fx->config, FMX_STR_LIT("nofeed"), uid, NULL, NULL, NULL, &r.res, &code, err), -1);
    assert_int_equal(code, FMX_CODE_UNKNOWN_FEED);
}

/* The bound `key` param of node `name` for this request. */
static void s_expect_key(s_fx_t *fx, const fmx_plan_t *plan, fmx_str_t *bound, const char *name, const char *want) {
    for (size_t i = 0; i < plan->n_nodes; i++) {
        if (strcmp(plan->nodes[i].name, name) != 0) continue;
        fmx_str_t p = bound && bound[i].ptr ? bound[i] : (fmx_str_t){plan->nodes[i].params, plan->nodes[i].params_len};
        msgpack_object obj;
        size_t off = 0;
        assert_int_equal(msgpack_unpack(p.ptr, p.len, &off, &fx->zone, &obj), MSGPACK_UNPACK_SUCCESS);
        fmx_str_t key;
        assert_int_equal(fmx_mp_get_str(&obj, "key", &key), 0);
        if (key.len != strlen(want) || memcmp(key.ptr, want, key.len) != 0)
            fail_msg("%s.key = '%.*s', want '%s'", name, (int)key.len, key.ptr, want);
        return;
    }
    fail_msg("no node %s", name);
}

static bool s_has(const fmx_plan_t *plan, const char *name) {
    for (size_t i = 0; i < plan->n_nodes; i++)
        if (strcmp(plan->nodes[i].name, name) == 0) return true;
    return false;
}

static void test_plan_cache_hits_and_rebinds_the_request(void **state) {
    s_fx_t *fx = *state;
    s_req_t r;
    fmx_error_code_t code;
    char err[FMX_ERR_LEN];
    bool owned, hit;
    fmx_str_t *bound;
    fmx_plan_cache_stats_t before = fmx_config_plan_cache_stats(fx->config);

    assert_int_equal(s_resolve(fx, &r, "7", "platform=ios", NULL, &code, err), 0);
    const fmx_plan_t *p1 = fmx_config_plan(fx->config, &r.res, &owned, &hit, &bound, err);
    assert_non_null(p1);
    assert_false(hit);
    assert_false(owned);
    s_expect_key(fx, p1, bound, "a", "user:7:a");
    assert_false(s_has(p1, "extra"));
    fmx_config_bound_free(p1, &bound);

    /* Another user, same parameters: the same plan, with this user's key bound. */
    assert_int_equal(s_resolve(fx, &r, "8", "platform=ios", NULL, &code, err), 0);
    const fmx_plan_t *p2 = fmx_config_plan(fx->config, &r.res, &owned, &hit, &bound, err);
    assert_ptr_equal(p2, p1);
    assert_true(hit);
    assert_non_null(bound);
    s_expect_key(fx, p2, bound, "a", "user:8:a");
    fmx_config_bound_free(p2, &bound);

    /* A request fact a condition reads is part of the key: geo FR switches `extra` on. */
    assert_int_equal(s_resolve(fx, &r, "8", "platform=ios,geo=FR", NULL, &code, err), 0);
    const fmx_plan_t *p3 = fmx_config_plan(fx->config, &r.res, &owned, &hit, &bound, err);
    assert_false(hit);
    assert_ptr_not_equal(p3, p1);
    assert_true(s_has(p3, "extra"));
    s_expect_key(fx, p3, bound, "extra", "extra:FR");
    fmx_config_bound_free(p3, &bound);

    /* Other overrides, another plan. */
    assert_int_equal(s_resolve(fx, &r, "8", "platform=tv", NULL, &code, err), 0);
    const fmx_plan_t *p4 = fmx_config_plan(fx->config, &r.res, &owned, &hit, &bound, err);
    assert_false(hit);
    assert_ptr_not_equal(p4, p1);
    fmx_config_bound_free(p4, &bound);

    fmx_plan_cache_stats_t after = fmx_config_plan_cache_stats(fx->config);
    assert_int_equal(after.hits - before.hits, 1);
    assert_int_equal(after.misses - before.misses, 3);
    assert_int_equal(after.entries - before.entries, 3);
}

static void test_refcount_outlives_the_loader(void **state) {
    s_fx_t *fx = *state;
    fmx_config_t *extra = fmx_config_ref(fx->config);
    fmx_config_unref(&extra);
    assert_null(extra);
    assert_non_null(fmx_config_feeds(fx->config)); /* still alive: one reference left */
    uint64_t g = fmx_config_generation(fx->config);
    char errs[2048] = "";
    fmx_config_paths_t bad = {"/nonexistent/feeds", NULL, NULL};
    assert_null(fmx_config_load(&bad, errs, sizeof errs));
    assert_true(strlen(errs) > 0);
    assert_true(g > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers_later_wins),
        cmocka_unit_test(test_request_params_are_checked),
        cmocka_unit_test(test_plan_cache_hits_and_rebinds_the_request),
        cmocka_unit_test(test_refcount_outlives_the_loader),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
