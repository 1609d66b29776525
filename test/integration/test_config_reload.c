/* test_config_reload.c - the configuration is live: ranker_test splits users and changes their
 * ranking; a broken params.yaml is refused while requests keep being served; a good one changes
 * what is served after `reload` (admin) or SIGHUP, without a restart. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/token.h"
#include "test/integration/harness.h"

#define N_CLIENTS 4

static char s_params_path[256];

static void s_write(const char *path, const char *text) {
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0); /* atomic: the broker never reads half a file */
}

static void s_start(h_t *h) {
    char experiments[600];
    snprintf(s_params_path, sizeof s_params_path, "%s/params.yaml", h->dir);
    snprintf(experiments, sizeof experiments, "%s/configs/experiments.yaml", getenv("FMX_SOURCE"));
    s_write(s_params_path, "overrides: []\n");
    const char *const extra[] = {"--params", s_params_path, "--experiments", experiments, NULL};
    assert_true(h_start_broker(h, extra) > 0);
    assert_true(h_start_feed_actors(h, 10000) > 0);
}

/* h_reply_t points into itself: filled in place, never returned by value. */
static void s_get(h_client_t *c, int64_t user, h_reply_t *r) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    h_pack_request(&sb, "home", user, 3000);
    int rc = h_call_ok(c, sb.data, sb.size, 5000, r);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0 || !(h_status_is(r, "ok") || h_status_is(r, "degraded"))) {
        h_print("reply", r->root);
        fail_msg("user %lld not served (rc %d)", (long long)user, rc);
    }
}

static const char *s_variant(const h_reply_t *r) {
    const msgpack_object *v = h_get(h_get(r->root, "experiments"), "ranker_test");
    if (!v || v->type != MSGPACK_OBJECT_STR) return NULL;
    return h_str_eq(v, "treatment") ? "treatment" : h_str_eq(v, "control") ? "control" : NULL;
}

static void test_ranker_test_splits_users_and_changes_scores(void **state) {
    h_t *h = *state;
    fmx_token_key_t key;
    char kerr[FMX_ERR_LEN];
    if (fmx_token_key_load(&key, h->token_key, kerr) != 0) fail_msg("%s", kerr);
    s_start(h);
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    int treatment = 0, control = 0;
    /* score of one entity as each variant's model saw it (same entity, same fields) */
    double score[2][64];
    char ids[64][16];
    int n_ids = 0;
    for (int i = 0; i < 64; i++) score[0][i] = score[1][i] = NAN;
    for (int64_t u = 1; u <= 200; u++) {
        h_reply_t r;
        s_get(c, u, &r);
        const char *variant = s_variant(&r);
        assert_non_null(variant);
        int t = strcmp(variant, "treatment") == 0;
        treatment += t;
        control += !t;
        const msgpack_object *items = h_get(r.root, "items");
        /* every token carries the assignment (signed: decoded with the harness's key) */
        const msgpack_object *tok = items->via.array.size ? h_get(&items->via.array.ptr[0], "token") : NULL;
        if (tok) {
            fmx_token_t t;
            char err[FMX_ERR_LEN];
            msgpack_zone z;
            assert_true(msgpack_zone_init(&z, 1024));
            if (fmx_token_verify(&key, tok->via.str.ptr, tok->via.str.size, &z, &t, err) != 0) fail_msg("%s", err);
            msgpack_zone_destroy(&z);
            assert_int_equal(t.f.n_variants, 1);
            assert_true(t.f.experiments[0].len == 11 && memcmp(t.f.experiments[0].ptr, "ranker_test", 11) == 0);
            assert_true(t.f.variants[0].len == strlen(variant) &&
                        memcmp(t.f.variants[0].ptr, variant, strlen(variant)) == 0);
        }
        for (uint32_t k = 0; k < items->via.array.size; k++) {
            const msgpack_object *id = h_get(&items->via.array.ptr[k], "id");
            const msgpack_object *sc = h_get(&items->via.array.ptr[k], "score");
            if (!id || !sc || id->via.str.size >= 16) continue;
            int slot = -1;
            for (int j = 0; j < n_ids && slot < 0; j++)
                if (strlen(ids[j]) == id->via.str.size && memcmp(ids[j], id->via.str.ptr, id->via.str.size) == 0)
                    slot = j;
            if (slot < 0 && n_ids < 64) {
                slot = n_ids++;
                memcpy(ids[slot], id->via.str.ptr, id->via.str.size);
                ids[slot][id->via.str.size] = '\0';
            }
            if (slot >= 0) score[t][slot] = sc->via.f64;
        }
        h_reply_fini(&r);
    }
    /* 50/50 by weight; 200 users allow a wide but honest band (the exact split is unit-tested) */
    assert_true(treatment >= 70 && treatment <= 130);
    assert_int_equal(treatment + control, 200);
    int compared = 0, differ = 0;
    for (int j = 0; j < n_ids; j++)
        if (!isnan(score[0][j]) && !isnan(score[1][j])) {
            compared++;
            differ += fabs(score[0][j] - score[1][j]) > 1e-9;
        }
    assert_true(compared >= 3);
    assert_int_equal(differ, compared); /* linear_v2 scores every shared entity differently */
    h_client_destroy(&c);
}

static int64_t s_reloads(h_t *h, const char *which) {
    h_reply_t r;
    int64_t v = -1;
    if (h_admin(h, "stats", 2000, &r) == 0) v = h_get_int(h_get(r.root, "counters"), which);
    h_reply_fini(&r);
    return v;
}

/* Keeps N_CLIENTS requests in flight for `rounds` rounds; every one must be served. */
static void s_load(h_t *h, h_client_t **c, int rounds, size_t want_items) {
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < N_CLIENTS; i++) {
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            h_pack_request(&sb, "home", 10 + i, 3000);
            assert_int_equal(h_send(c[i], sb.data, sb.size), 0);
            msgpack_sbuffer_destroy(&sb);
        }
        for (int i = 0; i < N_CLIENTS; i++) {
            h_reply_t r;
            assert_int_equal(h_recv(c[i], 5000, &r), 0);
            if (!(h_status_is(&r, "ok") || h_status_is(&r, "degraded"))) h_print("reply", r.root);
            assert_true(h_status_is(&r, "ok") || h_status_is(&r, "degraded"));
            if (want_items) assert_int_equal(h_get(r.root, "items")->via.array.size, want_items);
            h_reply_fini(&r);
        }
    }
    (void)h;
}

static void test_reload_refuses_broken_and_applies_good(void **state) {
    h_t *h = *state;
    s_start(h);
    h_client_t *c[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++) assert_non_null(c[i] = h_client_new(h, h->front));
    s_load(h, c, 3, 0);

    /* A broken file: refused with FILE:LINE:COL, and serving never stops. */
    s_write(s_params_path, "overrides:\n  - set: { limit: 9999 }\n");
    h_reply_t r;
    assert_int_equal(h_admin(h, "reload", 2000, &r), 0);
    assert_true(h_status_is(&r, "error"));
    const msgpack_object *msg = h_get(h_get(r.root, "error"), "message");
    assert_non_null(msg);
    assert_non_null(memmem(msg->via.str.ptr, msg->via.str.size, "params.yaml:2:", 14));
    h_reply_fini(&r);
    assert_int_equal(s_reloads(h, "reloads_failed"), 1);
    s_load(h, c, 5, 0);

    /* A good one: limit 3 for everyone, applied without a restart. */
    s_write(s_params_path, "overrides:\n  - set: { limit: 3 }\n");
    assert_int_equal(h_admin(h, "reload", 2000, &r), 0);
    assert_true(h_status_is(&r, "ok"));
    h_reply_fini(&r);
    s_load(h, c, 3, 3);

    /* SIGHUP does the same. */
    s_write(s_params_path, "overrides:\n  - set: { limit: 2 }\n");
    assert_int_equal(h_kill(h->broker, SIGHUP), 0);
    for (int64_t until = h_now_ms() + 3000; s_reloads(h, "reloads_ok") < 2 && h_now_ms() < until;) h_sleep_ms(10);
    assert_int_equal(s_reloads(h, "reloads_ok"), 2);
    s_load(h, c, 3, 2);
    for (int i = 0; i < N_CLIENTS; i++) h_client_destroy(&c[i]);
    assert_true(h_alive(h, h->broker));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ranker_test_splits_users_and_changes_scores, h_test_teardown),
        cmocka_unit_test_teardown(test_reload_refuses_broken_and_applies_good, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
