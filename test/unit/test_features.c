/* test_features.c - schemas/features: compiling names and filling rows from an entity, a user
 * record and a task context built as msgpack (with test/support/nodefx's zone and packer). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/features.h"
#include "test/support/nodefx.h"

static fmx_features_t *s_parse(nfx_t *fx, const char *list) {
    return fmx_features_parse(list, strlen(list), fx->err);
}

static void s_refused(nfx_t *fx, const char *list, const char *needle) {
    fx->err[0] = '\0';
    fmx_features_t *f = s_parse(fx, list);
    if (f) fprintf(stderr, "accepted: '%s'\n", list);
    assert_null(f);
    if (!strstr(fx->err, needle)) fprintf(stderr, "err for '%s': %s (want '%s')\n", list, fx->err, needle);
    assert_non_null(strstr(fx->err, needle));
}

static void test_compile(void **state) {
    nfx_t *fx = *state;
    fmx_features_t *f = s_parse(fx, " viewers,log.viewers , in.category.categories,user.activity,ctx.hour,score ");
    assert_non_null(f);
    assert_int_equal(fmx_features_count(f), 6);
    assert_string_equal(fmx_features_name(f, 0), "viewers");
    assert_string_equal(fmx_features_name(f, 2), "in.category.categories");
    assert_string_equal(fmx_features_name(f, 5), "score");
    assert_null(fmx_features_name(f, 6));
    assert_string_equal(fmx_features_list(f), "viewers,log.viewers,in.category.categories,user.activity,ctx.hour,score");
    assert_true(fmx_features_need_user(f));
    /* The joined list reads back as the same list (what a model file stores). */
    const char *list = fmx_features_list(f);
    fmx_features_t *g = fmx_features_parse(list, strlen(list), fx->err);
    assert_non_null(g);
    assert_string_equal(fmx_features_list(g), list);
    fmx_features_destroy(&g);
    fmx_features_destroy(&f);
    assert_null(f);
    fmx_features_destroy(&f); /* NULL-safe */
    fmx_features_destroy(NULL);

    const char *names[] = {"quality", "log.sales"};
    f = fmx_features_new(names, 2, fx->err);
    assert_non_null(f);
    assert_false(fmx_features_need_user(f));
    assert_string_equal(fmx_features_list(f), "quality,log.sales");
    fmx_features_destroy(&f);
    f = s_parse(fx, "in.geo.geo");
    assert_non_null(f);
    assert_true(fmx_features_need_user(f));
    fmx_features_destroy(&f);
}

static void test_refused(void **state) {
    nfx_t *fx = *state;
    s_refused(fx, "", "empty");
    s_refused(fx, "viewers,,quality", "empty name");
    s_refused(fx, "viewers,", "empty name");
    s_refused(fx, "  ", "empty name");
    s_refused(fx, "viewers,viewers", "twice");
    s_refused(fx, "seller.followers", "unknown prefix");
    s_refused(fx, "user.", "user.");
    s_refused(fx, "user.a.b", "user.");
    s_refused(fx, "log.", "log.");
    s_refused(fx, "in.category", "two names");
    s_refused(fx, "in.category.", "in.FIELD.USER_FIELD");
    s_refused(fx, "in..categories", "in.FIELD.USER_FIELD");
    s_refused(fx, "in.a.b.c", "in.FIELD.USER_FIELD");
    s_refused(fx, "view ers", "name");
    s_refused(fx, "viewers;drop", "name");
    s_refused(fx, ".viewers", "unknown prefix");
    char nul[] = "viewers\0x";
    fx->err[0] = '\0';
    assert_null(fmx_features_parse(nul, sizeof(nul) - 1, fx->err));
    assert_non_null(strstr(fx->err, "NUL"));
    assert_null(fmx_features_parse(NULL, 0, fx->err));

    /* Bounds: a name of FMX_FEATURE_NAME_MAX bytes is fine, one more is not. */
    char name[FMX_FEATURE_NAME_MAX + 2];
    memset(name, 'a', sizeof(name));
    name[FMX_FEATURE_NAME_MAX] = '\0';
    fmx_features_t *f = s_parse(fx, name);
    assert_non_null(f);
    fmx_features_destroy(&f);
    name[FMX_FEATURE_NAME_MAX] = 'a';
    name[FMX_FEATURE_NAME_MAX + 1] = '\0';
    s_refused(fx, name, "bytes");

    /* FMX_FEATURES_MAX names pass, one more does not; a huge list is refused before parsing. */
    size_t cap = (FMX_FEATURES_MAX + 1) * 8;
    char *list = malloc(cap);
    assert_non_null(list);
    size_t n = 0;
    for (int i = 0; i < FMX_FEATURES_MAX; i++)
        n += (size_t)snprintf(list + n, cap - n, "%sf%d", i ? "," : "", i);
    f = fmx_features_parse(list, n, fx->err);
    assert_non_null(f);
    assert_int_equal(fmx_features_count(f), FMX_FEATURES_MAX);
    fmx_features_destroy(&f);
    snprintf(list + n, cap - n, ",extra");
    s_refused(fx, list, "more than");
    free(list);
    size_t big = (size_t)FMX_FEATURES_MAX * (FMX_FEATURE_NAME_MAX + 2) + 1;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'a', big);
    assert_null(fmx_features_parse(huge, big, fx->err));
    assert_non_null(strstr(fx->err, "too long"));
    free(huge);
    assert_null(fmx_features_new(NULL, 0, fx->err));
}

/* The entity every row test uses. */
static fmx_entity_t s_entity(nfx_t *fx, bool scored) {
    fmx_entity_t e;
    memset(&e, 0, sizeof(e));
    e.id = FMX_STR_LIT("ls1");
    e.type = FMX_STR_LIT("livestream");
    if (scored) {
        e.score = 0.25;
        e.has_score = true;
    }
    msgpack_pack_map(&fx->pk, 9);
    nfx_str(fx, "viewers");
    msgpack_pack_uint64(&fx->pk, 99);
    nfx_str(fx, "quality");
    msgpack_pack_double(&fx->pk, 0.5);
    nfx_str(fx, "is_new");
    msgpack_pack_true(&fx->pk);
    nfx_str(fx, "delta");
    msgpack_pack_int64(&fx->pk, -7);
    nfx_str(fx, "category");
    nfx_str(fx, "gaming");
    nfx_str(fx, "geo");
    nfx_str(fx, "DE");
    nfx_str(fx, "huge");
    msgpack_pack_double(&fx->pk, 1e300);
    nfx_str(fx, "tags");
    msgpack_pack_array(&fx->pk, 1);
    nfx_str(fx, "x");
    nfx_str(fx, "nothing");
    msgpack_pack_nil(&fx->pk);
    e.fields = nfx_take_obj(fx);
    return e;
}

static msgpack_object s_user(nfx_t *fx) {
    msgpack_pack_map(&fx->pk, 5);
    nfx_str(fx, "geo");
    nfx_str(fx, "DE");
    nfx_str(fx, "categories");
    msgpack_pack_array(&fx->pk, 3);
    nfx_str(fx, "fashion");
    msgpack_pack_int64(&fx->pk, 5); /* not a string: skipped */
    nfx_str(fx, "gaming");
    nfx_str(fx, "activity");
    msgpack_pack_float(&fx->pk, 0.75f);
    nfx_str(fx, "platform");
    nfx_str(fx, "ios");
    nfx_str(fx, "vip");
    msgpack_pack_false(&fx->pk);
    return nfx_take_obj(fx);
}

static msgpack_object s_ctx(nfx_t *fx) {
    msgpack_pack_map(&fx->pk, 3);
    nfx_str(fx, "hour");
    msgpack_pack_int64(&fx->pk, 21);
    nfx_str(fx, "weekday");
    msgpack_pack_int64(&fx->pk, 6);
    nfx_str(fx, "geo");
    nfx_str(fx, "DE");
    return nfx_take_obj(fx);
}

static void test_row(void **state) {
    nfx_t *fx = *state;
    fmx_features_t *f = s_parse(fx, "viewers,quality,is_new,delta,category,missing,huge,score,"
                                    "log.viewers,log.delta,log.category,log.huge,"
                                    "user.activity,user.vip,user.geo,user.nope,"
                                    "ctx.hour,ctx.weekday,ctx.geo,ctx.none,"
                                    "in.category.categories,in.geo.geo,in.geo.categories,in.missing.geo,"
                                    "in.category.nope,in.tags.categories,in.category.platform,nothing");
    assert_non_null(f);
    size_t n = fmx_features_count(f);
    assert_int_equal(n, 28);
    float *row = calloc(n, sizeof(float));
    assert_non_null(row);
    fmx_entity_t e = s_entity(fx, true);
    msgpack_object user = s_user(fx), ctx = s_ctx(fx);

    fmx_features_row(f, &e, &user, &ctx, row);
    const float want[] = {99, 0.5f, 1, -7, NAN, NAN, FLT_MAX, 0.25f,
                          (float)log1p(99.0), 0, NAN, (float)log1p(1e300),
                          0.75f, 0, NAN, NAN,
                          21, 6, NAN, NAN,
                          1, 1, 0, 0,
                          0, 0, 0, NAN};
    for (size_t i = 0; i < n; i++) {
        if (isnan(want[i]) ? !isnan(row[i]) : fabsf(row[i] - want[i]) > 1e-6f * fmaxf(1, fabsf(want[i])))
            fprintf(stderr, "%s: got %g want %g\n", fmx_features_name(f, i), row[i], want[i]);
        if (isnan(want[i]))
            assert_true(isnan(row[i]));
        else
            assert_true(fabsf(row[i] - want[i]) <= 1e-6f * fmaxf(1, fabsf(want[i])));
    }

    /* No user record: every user.* and in.* is NaN; entity and context features stay. Unscored:
     * score is NaN. No context: ctx.* is NaN. */
    e = s_entity(fx, false);
    fmx_features_row(f, &e, NULL, NULL, row);
    assert_true(row[0] == 99);
    assert_true(isnan(row[7]));
    for (size_t i = 12; i < 24; i++)
        assert_true(isnan(row[i]));
    for (size_t i = 24; i < 27; i++)
        assert_true(isnan(row[i]));
    /* A user "record" that is not a map counts as none. */
    msgpack_pack_array(&fx->pk, 0);
    msgpack_object not_map = nfx_take_obj(fx);
    fmx_features_row(f, &e, &not_map, &not_map, row);
    assert_true(isnan(row[12]) && isnan(row[20]) && isnan(row[16]));

    /* An entity without fields: field features NaN, in.* 0 (the user exists, the entity has no
     * category), log.* NaN. */
    fmx_entity_t bare;
    memset(&bare, 0, sizeof(bare));
    bare.fields.type = MSGPACK_OBJECT_NIL;
    fmx_features_row(f, &bare, &user, &ctx, row);
    assert_true(isnan(row[0]) && isnan(row[8]));
    assert_true(row[20] == 0 && row[21] == 0);
    assert_true(row[12] == 0.75f && row[16] == 21);
    free(row);
    fmx_features_destroy(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_compile, nfx_setup, nfx_teardown),
        cmocka_unit_test_setup_teardown(test_refused, nfx_setup, nfx_teardown),
        cmocka_unit_test_setup_teardown(test_row, nfx_setup, nfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
