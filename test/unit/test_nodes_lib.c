/* test_nodes_lib.c - the node library of issue 4: group, and the extensions of rank (per-group
 * caps, ranking within and across collections), blend (weave, score, generic debunching),
 * filter (seen and blocked lists from the store) and merge (fields.sources).
 *
 * Handlers are called directly through the node table, on inputs that went through a msgpack
 * round trip as the actor runtime hands them over; outputs are packed and decoded back too, so a
 * collection or a fields map built in the zone is proven to be valid on the wire. filter reads a
 * real LMDB store in a temp dir, closed before its output is checked. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/node.h"
#include "common/store.h"
#include "schemas/entity.h"
#include "schemas/mpobj.h"
#include "test/support/nodefx.h"

/* ---- fixture: test/support/nodefx, with outputs through a round trip too ---- */

static int s_setup(void **state) {
    nfx_setup(state);
    nfx_t *fx = *state;
    fx->out_round_trip = true;
    fx->task.node = FMX_STR_LIT("grp");
    return 0;
}

/* A child of the collection c (the last entity nfx_add returned). */
static void s_child(nfx_t *fx, fmx_entity_t *c, const char *id, double score, const char *fields) {
    fmx_entity_t e = nfx_ent(fx, id, "product", score, "sub", fields);
    assert_non_null(fmx_entity_list_push(&c->items, &e, fx->zone));
    c->has_items = true;
}

/* Runs and expects an error whose message contains `what`. */
static void s_run_fails(nfx_t *fx, const char *name, const char *what) {
    assert_int_equal(nfx_run(fx, name), -1);
    if (!strstr(fx->err, what)) fail_msg("error '%s' does not mention '%s'", fx->err, what);
}

static void s_assert_field_str(const fmx_entity_t *e, const char *k, const char *want) {
    fmx_str_t v;
    assert_int_equal(fmx_mp_get_str(&e->fields, k, &v), 0);
    nfx_assert_str(v, want);
}

static void s_assert_score(const fmx_entity_t *e, double want) {
    assert_true(e->has_score);
    if (fabs(e->score - want) > 1e-9) fail_msg("score %g, want %g", e->score, want);
}

/* ---- group ---- */

static void s_group_inputs(nfx_t *fx) {
    nfx_add(fx, 0, "a", "product", 0.9, "r", "seller_id=s1");
    nfx_add(fx, 0, "b", "product", 0.8, "r", "seller_id=s2");
    nfx_add(fx, 0, "c", "product", 0.7, "r", "seller_id=s1");
    nfx_add(fx, 0, "d", "product", 0.6, "r", "category=toys"); /* no seller_id */
    nfx_add(fx, 0, "e", "product", 0.5, "r", "seller_id=1.5"); /* a float: not a key */
    nfx_add(fx, 0, "f", "product", 0.1, "r", "seller_id=s3");
    nfx_add(fx, 0, "g", "product", NAN, "r", "seller_id=s2");   /* unscored */
    nfx_add(fx, 0, "h", "product", 0.4, "r", "seller_id=null"); /* null: not a key */
    nfx_add(fx, 0, "i", "product", 0.3, "r", NULL);             /* no fields at all */
}

static void test_group_basic(void **state) {
    nfx_t *fx = *state;
    s_group_inputs(fx);
    nfx_params(fx, "by=seller_id");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "grp:s1(a,c),grp:s2(b,g),grp:s3(f)");
    const fmx_entity_t *s1 = &fx->out.v[0];
    nfx_assert_str(s1->type, "carousel");
    nfx_assert_str(s1->source, "grp");
    s_assert_field_str(s1, "title", "s1");
    s_assert_field_str(s1, "group_by", "seller_id");
    s_assert_field_str(s1, "value", "s1");
    assert_int_equal(s1->fields.via.map.size, 3);
    s_assert_score(&fx->out.v[0], 0.9); /* max */
    s_assert_score(&fx->out.v[1], 0.8); /* g is unscored and does not count */
    s_assert_score(&fx->out.v[2], 0.1);
    /* members keep what they had */
    s_assert_field_str(&s1->items.v[1], "seller_id", "s1");
    s_assert_score(&s1->items.v[1], 0.7);
    /* the input was not touched */
    assert_int_equal(fx->in[0].n, 9);
    assert_false(fx->in[0].v[0].has_items);

    nfx_params(fx, "by=seller_id,score=mean");
    assert_int_equal(nfx_run(fx, "group"), 0);
    s_assert_score(&fx->out.v[0], 0.8);
    s_assert_score(&fx->out.v[1], 0.8);
    nfx_params(fx, "by=seller_id,score=sum");
    assert_int_equal(nfx_run(fx, "group"), 0);
    s_assert_score(&fx->out.v[0], 1.6);
    s_assert_score(&fx->out.v[1], 0.8);
    nfx_params(fx, "by=seller_id,score=max");
    assert_int_equal(nfx_run(fx, "group"), 0);
    s_assert_score(&fx->out.v[1], 0.8);
}

/* "source" and "type" group by the entity's own attributes when no field has that name; a field
 * of that name wins. */
static void test_group_by_source_and_type(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "a", "livestream", 0.9, "follows", NULL);
    nfx_add(fx, 0, "b", "livestream", 0.8, "trending", NULL);
    nfx_add(fx, 0, "c", "product", 0.7, "follows", NULL);
    nfx_add(fx, 0, "d", "product", 0.6, "trending", "source=editorial");
    nfx_params(fx, "by=source");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "grp:follows(a,c),grp:trending(b),grp:editorial(d)");
    s_assert_field_str(&fx->out.v[0], "value", "follows");
    s_assert_field_str(&fx->out.v[0], "group_by", "source");
    nfx_params(fx, "by=type");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "grp:livestream(a,b),grp:product(c,d)");
    nfx_params(fx, "by=id"); /* only source and type fall back: no field `id`, no groups */
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "");
}

static void test_group_caps(void **state) {
    nfx_t *fx = *state;
    s_group_inputs(fx);
    nfx_params(fx, "by=seller_id,min_items=2");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "grp:s1(a,c),grp:s2(b,g)");
    /* min_items counts every member, before max_items cuts */
    nfx_params(fx, "by=seller_id,min_items=2,max_items=1");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "grp:s1(a),grp:s2(b)");
    nfx_params(fx, "by=seller_id,max_groups=2");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "grp:s1(a,c),grp:s2(b,g)");
    nfx_params(fx, "by=seller_id,min_items=2,max_groups=1,max_items=0");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "grp:s1(a,c)");
    /* the score comes from the kept members */
    nfx_params(fx, "by=seller_id,max_items=1,score=sum");
    assert_int_equal(nfx_run(fx, "group"), 0);
    s_assert_score(&fx->out.v[0], 0.9);
    s_assert_score(&fx->out.v[1], 0.8);
    nfx_params(fx, "by=seller_id,min_items=3");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_int_equal(fx->out.n, 0);
    nfx_params(fx, "by=nothing_has_this");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_int_equal(fx->out.n, 0);
}

static void test_group_values_and_titles(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "a", "livestream", 0.5, "r", "cat=7,live=true");
    nfx_add(fx, 0, "b", "livestream", NAN, "r", "cat=-2,live=false");
    nfx_add(fx, 0, "c", "livestream", 0.2, "r", "cat=7,live=true");
    nfx_add(fx, 0, "d", "livestream", 0.1, "r", "cat=s7,live=1"); /* the string "s7", the int 1 */
    fx->task.node = FMX_STR_LIT("by_cat");
    nfx_params(fx, "by=cat,type=shelf,title=More in {value}: {value}!");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "by_cat:7(a,c),by_cat:-2(b),by_cat:s7(d)");
    nfx_assert_str(fx->out.v[0].type, "shelf");
    s_assert_field_str(&fx->out.v[0], "title", "More in 7: 7!");
    s_assert_field_str(&fx->out.v[1], "title", "More in -2: -2!");
    int64_t v = 0;
    assert_int_equal(fmx_mp_get_int(&fx->out.v[0].fields, "value", &v), 0); /* stays an int */
    assert_int_equal(v, 7);
    assert_false(fx->out.v[1].has_score); /* no scored member */

    nfx_params(fx, "by=live,title=Live: {value}");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "by_cat:true(a,c),by_cat:false(b),by_cat:1(d)");
    s_assert_field_str(&fx->out.v[1], "title", "Live: false");
    bool b = true;
    assert_int_equal(fmx_mp_get_bool(&fx->out.v[1].fields, "value", &b), 0);
    assert_false(b);

    nfx_params(fx, "by=cat,title=Fixed");
    assert_int_equal(nfx_run(fx, "group"), 0);
    s_assert_field_str(&fx->out.v[2], "title", "Fixed");
}

static void test_group_edges(void **state) {
    nfx_t *fx = *state;
    /* empty input */
    fx->n_inputs = 1;
    nfx_params(fx, "by=seller_id");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_int_equal(fx->out.n, 0);
    /* all in one group, ties kept in input order */
    nfx_add(fx, 0, "a", "product", 0.5, "r", "seller_id=s1");
    nfx_add(fx, 0, "b", "product", 0.5, "r", "seller_id=s1");
    nfx_add(fx, 0, "c", "product", 0.5, "r", "seller_id=s1");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "grp:s1(a,b,c)");
    nfx_params(fx, "by=seller_id,title=x{value}");
    assert_int_equal(nfx_run(fx, "group"), 0);
    s_assert_field_str(&fx->out.v[0], "title", "xs1");
}

/* A title that would be huge is cut at 4096 bytes, and the node still answers. */
static void test_group_title_cap(void **state) {
    nfx_t *fx = *state;
    char fields[128] = "seller_id=";
    for (int i = 0; i < 5; i++)
        strcat(fields, "abcdefghij"); /* a 50-byte value */
    nfx_add(fx, 0, "a", "product", 0.5, "r", fields);
    char params[1024] = "by=seller_id,title=";
    for (int i = 0; i < 100; i++)
        strcat(params, "\xc3\xa9{value}"); /* 900 bytes of template */
    nfx_params(fx, params);
    assert_int_equal(nfx_run(fx, "group"), 0);
    fmx_str_t t;
    assert_int_equal(fmx_mp_get_str(&fx->out.v[0].fields, "title", &t), 0);
    assert_int_equal(t.len, 4096); /* 100 x 52 bytes wanted */
    assert_memory_equal(t.ptr,
                        "\xc3\xa9"
                        "abcdefghij",
                        12);
    /* a template over 1024 bytes is refused */
    char long_title[1200] = "by=seller_id,title=";
    for (int i = 0; i < 103; i++)
        strcat(long_title, "0123456789");
    nfx_params(fx, long_title);
    s_run_fails(fx, "group", "'title'");
}

static void test_group_title_cut_mid_character(void **state) {
    nfx_t *fx = *state;
    /* "abc" then 2-byte characters: byte 4096 falls inside one, which is dropped whole */
    char value[5000] = "seller_id=abc";
    for (int i = 0; i < 2100; i++)
        strcat(value, "\xc3\xa9");
    nfx_add(fx, 0, "a", "product", 0.5, "r", value);
    nfx_params(fx, "by=seller_id");
    assert_int_equal(nfx_run(fx, "group"), 0);
    fmx_str_t t;
    assert_int_equal(fmx_mp_get_str(&fx->out.v[0].fields, "title", &t), 0);
    assert_int_equal(t.len, 4095); /* "abc" + 2046 whole characters; the 2047th was split */
    assert_int_equal((unsigned char)t.ptr[t.len - 1], 0xa9);
}

static void test_group_bad_params(void **state) {
    nfx_t *fx = *state;
    s_group_inputs(fx);
    nfx_params(fx, "");
    s_run_fails(fx, "group", "'by'");
    nfx_params(fx, "by=");
    s_run_fails(fx, "group", "'by'");
    nfx_params(fx, "by=3");
    s_run_fails(fx, "group", "'by'");
    nfx_params(fx, "by=seller_id,score=median");
    s_run_fails(fx, "group", "'score'");
    nfx_params(fx, "by=seller_id,max_items=-1");
    s_run_fails(fx, "group", "'max_items'");
    nfx_params(fx, "by=seller_id,min_items=x");
    s_run_fails(fx, "group", "'min_items'");
    nfx_params(fx, "by=seller_id,max_groups=-3");
    s_run_fails(fx, "group", "'max_groups'");
    nfx_params(fx, "by=seller_id,type=");
    s_run_fails(fx, "group", "'type'");
    nfx_add(fx, 1, "z", "product", 0.5, "r", NULL);
    nfx_params(fx, "by=seller_id");
    s_run_fails(fx, "group", "one input");
}

static void test_group_many_and_deadline(void **state) {
    nfx_t *fx = *state;
    char id[16], f[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "p%d", i);
        snprintf(f, sizeof f, "seller_id=s%d", i % 700);
        nfx_add(fx, 0, id, "product", (double)i, "r", f);
    }
    nfx_params(fx, "by=seller_id,max_items=3");
    assert_int_equal(nfx_run(fx, "group"), 0);
    assert_int_equal(fx->out.n, 700);
    nfx_assert_str(fx->out.v[0].id, "grp:s0");
    assert_int_equal(fx->out.v[0].items.n, 3);
    nfx_assert_str(fx->out.v[0].items.v[2].id, "p1400");
    s_assert_score(&fx->out.v[0], 1400);
    assert_int_equal(fx->out.v[699].items.n, 3); /* 5000 = 7 * 700 + 100: s699 has 7 */
    fx->task.deadline_us = 1;
    s_run_fails(fx, "group", "deadline passed");
}

/* ---- rank ---- */

static void test_rank_per_group(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "a", "product", 0.1, "r", "seller_id=s1");
    nfx_add(fx, 0, "b", "product", 0.9, "r", "seller_id=s1");
    nfx_add(fx, 0, "c", "product", 0.8, "r", "seller_id=s1");
    nfx_add(fx, 0, "d", "product", 0.7, "r", "seller_id=s2");
    nfx_add(fx, 0, "e", "product", 0.8, "r", "seller_id=s1");
    nfx_add(fx, 0, "f", "product", 0.5, "r", NULL); /* no field: never capped */
    nfx_add(fx, 0, "g", "product", 0.4, "r", NULL);
    nfx_add(fx, 0, "h", "product", 0.3, "r", "seller_id=7");
    nfx_add(fx, 0, "i", "product", 0.2, "r", "seller_id=7");
    nfx_params(fx, "per_group_by=seller_id,per_group_limit=2");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    /* sorted: b .9, c .8, e .8 (tie: input order), d, f, g, h, i, a */
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "b,c,d,f,g,h,i");
    nfx_params(fx, "per_group_by=seller_id,per_group_limit=1,limit=3");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "b,d,f");
    nfx_params(fx, "per_group_by=seller_id"); /* no limit: no cap */
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "b,c,e,d,f,g,h,i,a");
    nfx_params(fx, "per_group_limit=2");
    s_run_fails(fx, "rank", "per_group_by");
    nfx_params(fx, "per_group_by=seller_id,per_group_limit=-1");
    s_run_fails(fx, "rank", "per_group_limit");
    nfx_params(fx, "across=yes");
    s_run_fails(fx, "rank", "across");
}

static void s_rank_collections(nfx_t *fx) {
    fmx_entity_t *c1 = nfx_add(fx, 0, "c1", "carousel", NAN, "g", NULL); /* ranked by its best item */
    s_child(fx, c1, "i1", 0.1, NULL);
    s_child(fx, c1, "i2", 0.5, NULL);
    s_child(fx, c1, "i3", 0.3, NULL);
    s_child(fx, c1, "i4", NAN, NULL);
    nfx_add(fx, 0, "x", "livestream", 0.45, "r", NULL);
    fmx_entity_t *c2 = nfx_add(fx, 0, "c2", "carousel", 0.4, "g", NULL); /* its own score counts */
    s_child(fx, c2, "j1", 0.9, NULL);
    s_child(fx, c2, "j2", 0.2, NULL);
    s_child(fx, c2, "j3", 0.2, NULL);
    nfx_add(fx, 0, "y", "livestream", 0.6, "r", NULL);
    fmx_entity_t *c3 = nfx_add(fx, 0, "c3", "carousel", NAN, "g", NULL); /* empty, unscored: last */
    c3->has_items = true;
    nfx_add(fx, 0, "z", "livestream", NAN, "r", NULL);
}

static void test_rank_within_and_across(void **state) {
    nfx_t *fx = *state;
    s_rank_collections(fx);
    assert_int_equal(nfx_run(fx, "rank"), 0);
    /* within: items sorted, all kept; across: c1 by its best item 0.5 */
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "y,c1(i2,i3,i1,i4),x,c2(j1,j2,j3),c3(),z");
    nfx_params(fx, "items_limit=2");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "y,c1(i2,i3),x,c2(j1,j2),c3(),z");
    nfx_params(fx, "items_limit=1,limit=3");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "y,c1(i2),x");
    /* across false: collections keep their slots, the rest is sorted around them */
    nfx_params(fx, "items_limit=2,across=false");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "c1(i2,i3),y,c2(j1,j2),x,c3(),z");
    /* the input was not reordered */
    const fmx_entity_list_t *kids = &fx->in[0].v[0].items;
    assert_int_equal(kids->n, 4);
    nfx_assert_str(kids->v[0].id, "i1");
    nfx_params(fx, "items_limit=-2");
    s_run_fails(fx, "rank", "items_limit");
}

static void test_rank_collections_by_field(void **state) {
    nfx_t *fx = *state;
    fmx_entity_t *c = nfx_add(fx, 0, "c", "carousel", 0.99, "g", NULL);
    s_child(fx, c, "k1", 0.9, "viewers=1");
    s_child(fx, c, "k2", 0.1, "viewers=30");
    nfx_add(fx, 0, "a", "livestream", 0.1, "r", "viewers=20");
    nfx_add(fx, 0, "b", "livestream", 0.2, "r", "viewers=40");
    nfx_params(fx, "by=viewers");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    /* within by the same field; across: c has no viewers of its own, so its best item's 30 */
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "b,c(k2,k1),a");
}

static void test_rank_only_collections_across_false(void **state) {
    nfx_t *fx = *state;
    fmx_entity_t *c = nfx_add(fx, 0, "c", "carousel", NAN, "g", NULL);
    s_child(fx, c, "k1", 0.1, NULL);
    s_child(fx, c, "k2", 0.2, NULL);
    c = nfx_add(fx, 0, "d", "carousel", NAN, "g", NULL);
    s_child(fx, c, "m1", 0.9, NULL);
    nfx_params(fx, "across=false");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "c(k2,k1),d(m1)");
    nfx_params(fx, "");
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "d(m1),c(k2,k1)");
    /* empty input */
    memset(&fx->raw[0], 0, sizeof(fx->raw[0]));
    assert_int_equal(nfx_run(fx, "rank"), 0);
    assert_int_equal(fx->out.n, 0);
}

/* ---- blend ---- */

static void s_letters(nfx_t *fx, size_t input, const char *prefix, int n) {
    char id[16];
    for (int i = 1; i <= n; i++) {
        snprintf(id, sizeof id, "%s%d", prefix, i);
        nfx_add(fx, input, id, "livestream", NAN, prefix, NULL);
    }
}

static void test_blend_weave(void **state) {
    nfx_t *fx = *state;
    s_letters(fx, 0, "a", 7);
    s_letters(fx, 1, "b", 2);
    nfx_params(fx, "strategy=weave,ratio=[3|1]");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "a1,a2,a3,b1,a4,a5,a6,b2,a7");
    nfx_params(fx, "strategy=weave,ratio=[1|2],limit=5");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "a1,b1,b2,a2,a3");
    /* no ratio: one from each in turn; an exhausted input is skipped */
    nfx_params(fx, "strategy=weave");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "a1,b1,a2,b2,a3,a4,a5,a6,a7");
    /* a 0 never takes */
    nfx_params(fx, "strategy=weave,ratio=[0|1]");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "b1,b2");
    nfx_params(fx, "strategy=weave,ratio=[0|0]");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_int_equal(fx->out.n, 0);
}

static void test_blend_weave_three_inputs_exhausted(void **state) {
    nfx_t *fx = *state;
    s_letters(fx, 0, "a", 2);
    fx->n_inputs = 2; /* input 1 empty */
    s_letters(fx, 2, "c", 5);
    nfx_params(fx, "strategy=weave,ratio=[2|2|1]");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "a1,a2,c1,c2,c3,c4,c5");
}

static void test_blend_bad_lists(void **state) {
    nfx_t *fx = *state;
    s_letters(fx, 0, "a", 2);
    s_letters(fx, 1, "b", 2);
    nfx_params(fx, "strategy=weave,ratio=[3]");
    s_run_fails(fx, "blend", "'ratio'");
    nfx_params(fx, "strategy=weave,ratio=[3|1|1]");
    s_run_fails(fx, "blend", "'ratio'");
    nfx_params(fx, "strategy=weave,ratio=[3|-1]");
    s_run_fails(fx, "blend", "'ratio'");
    nfx_params(fx, "strategy=weave,ratio=[3|x]");
    s_run_fails(fx, "blend", "'ratio'");
    nfx_params(fx, "strategy=weave,ratio=3");
    s_run_fails(fx, "blend", "'ratio'");
    nfx_params(fx, "strategy=score,quotas=[1]");
    s_run_fails(fx, "blend", "'quotas'");
    nfx_params(fx, "strategy=score,quotas=[1|-5]");
    s_run_fails(fx, "blend", "'quotas'");
    nfx_params(fx, "strategy=score,quotas=[1|1.5]");
    s_run_fails(fx, "blend", "'quotas'");
    nfx_params(fx, "max_run=2,max_run_same_seller=2");
    s_run_fails(fx, "blend", "max_run");
    nfx_params(fx, "max_run=-1");
    s_run_fails(fx, "blend", "'max_run'");
    nfx_params(fx, "max_run=1,debunch_by=");
    s_run_fails(fx, "blend", "'debunch_by'");
    nfx_params(fx, "strategy=zigzag");
    s_run_fails(fx, "blend", "weave");
}

static void test_blend_score(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "a1", "livestream", 0.9, "A", NULL);
    nfx_add(fx, 0, "a2", "livestream", 0.5, "A", NULL);
    nfx_add(fx, 0, "a3", "livestream", 0.4, "A", NULL);
    nfx_add(fx, 0, "a4", "livestream", NAN, "A", NULL);
    nfx_add(fx, 0, "a5", "livestream", 0.1, "A", NULL);
    nfx_add(fx, 1, "b1", "product", 0.95, "B", NULL);
    nfx_add(fx, 1, "b2", "product", 0.5, "B", NULL); /* ties a2: input 0 first */
    nfx_add(fx, 1, "b3", "product", 0.7, "B", NULL); /* an unsorted input is fine */
    nfx_add(fx, 2, "c1", "account", 0.5, "C", NULL);
    nfx_add(fx, 2, "c2", "account", NAN, "C", NULL);
    nfx_params(fx, "strategy=score");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "b1,a1,b3,a2,b2,c1,a3,a5,a4,c2");
    /* quotas: at most 2 from A, 1 from B, C uncapped; the merge goes on past a full quota */
    nfx_params(fx, "strategy=score,quotas=[2|1|0]");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "b1,a1,a2,c1,c2");
    nfx_params(fx, "strategy=score,quotas=[0|0|1],limit=4");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "b1,a1,b3,a2");
    /* debunching after the merge, by type */
    nfx_params(fx, "strategy=score,debunch_by=type,max_run=1");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    /* type is not a field: nothing forms runs */
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "b1,a1,b3,a2,b2,c1,a3,a5,a4,c2");
}

static void test_blend_debunch_by(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "i0", "product", NAN, "m", "category=toys,seller_id=s1");
    nfx_add(fx, 0, "i1", "product", NAN, "m", "category=toys,seller_id=s1");
    nfx_add(fx, 0, "i2", "product", NAN, "m", "category=toys,seller_id=s2");
    nfx_add(fx, 0, "i3", "product", NAN, "m", "category=home,seller_id=s1");
    nfx_add(fx, 0, "i4", "product", NAN, "m", "category=toys,seller_id=s3");
    nfx_add(fx, 0, "i5", "product", NAN, "m", "category=5,seller_id=s1");
    nfx_add(fx, 0, "i6", "product", NAN, "m", "category=5,seller_id=s1");
    nfx_params(fx, "debunch_by=category,max_run=1");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    /* toys | home | toys | 5 | toys | 5, then only toys are left */
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "i0,i3,i1,i5,i2,i6,i4");
    /* the shorthand reads seller_id whatever debunch_by says: by category, i2 would move */
    nfx_params(fx, "debunch_by=category,max_run_same_seller=2");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "i0,i1,i2,i3,i4,i5,i6");
    nfx_params(fx, "max_run_same_seller=1");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "i0,i2,i1,i4,i3,i5,i6");
    /* max_run alone debunches seller_id */
    nfx_params(fx, "max_run=1");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "i0,i2,i1,i4,i3,i5,i6");
}

static void test_blend_debunch_impossible(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "a", "product", NAN, "m", "seller_id=7");
    nfx_add(fx, 0, "b", "product", NAN, "m", "seller_id=7");
    nfx_add(fx, 0, "c", "product", NAN, "m", "seller_id=7");
    nfx_params(fx, "max_run=1,limit=2");
    assert_int_equal(nfx_run(fx, "blend"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "a,b");
    /* single input, empty: every strategy gives nothing */
    memset(&fx->raw[0], 0, sizeof(fx->raw[0]));
    const char *specs[] = {"strategy=slots", "strategy=concat", "strategy=weave", "strategy=score,max_run=2"};
    for (size_t i = 0; i < FMX_ARRAY_LEN(specs); i++) {
        nfx_params(fx, specs[i]);
        assert_int_equal(nfx_run(fx, "blend"), 0);
        assert_int_equal(fx->out.n, 0);
    }
}

/* ---- filter ---- */

static void s_filter_store(nfx_t *fx, bool seen, bool blocked) {
    nfx_store_open(fx);
    if (seen) {
        msgpack_pack_array(&fx->pk, 6);
        nfx_pack_spec(fx, "id=a,type=livestream");
        nfx_pack_spec(fx, "id=d,type=product");
        nfx_pack_spec(fx, "id=b,type=product"); /* b is a livestream: not seen */
        nfx_pack_spec(fx, "id=7");              /* no type: matches nothing */
        nfx_str(fx, "c");                       /* not a ref */
        nfx_pack_spec(fx, "id=a,type=livestream");
        nfx_store_put(fx, "user:42:seen");
    }
    if (blocked) {
        msgpack_pack_array(&fx->pk, 5);
        nfx_str(fx, "s2");
        nfx_str(fx, "u9");
        nfx_pack_spec(fx, "id=s9,type=seller"); /* a ref: its id */
        msgpack_pack_int(&fx->pk, 5);         /* blocks the int 5, not the string "5" */
        msgpack_pack_array(&fx->pk, 0);       /* ignored */
        nfx_store_put(fx, "user:42:blocked");
    }
    msgpack_pack_map(&fx->pk, 1);
    nfx_str(fx, "id");
    nfx_str(fx, "x");
    nfx_store_put(fx, "not_an_array");
    nfx_store_commit(fx);
}

static void s_filter_inputs(nfx_t *fx) {
    nfx_add(fx, 0, "a", "livestream", 0.9, "r", "seller_id=s1,is_live=1"); /* seen */
    nfx_add(fx, 0, "b", "livestream", 0.8, "r", "seller_id=s2,is_live=1"); /* blocked seller */
    nfx_add(fx, 0, "c", "livestream", 0.7, "r", "seller_id=s3,is_live=0");
    nfx_add(fx, 0, "d", "product", 0.6, "r", "seller_id=s4");           /* seen */
    nfx_add(fx, 0, "u9", "account", 0.5, "r", "name=nine");             /* blocked id */
    nfx_add(fx, 0, "e", "product", 0.4, "r", "seller_id=5,owner=s9");   /* the int 5 */
    nfx_add(fx, 0, "f", "product", 0.3, "r", "seller_id=5.0,owner=s2"); /* a float: no key */
    nfx_add(fx, 0, "g", "store", 0.2, "r", "seller_id=s9");             /* blocked via a ref */
    nfx_add(fx, 0, "h", "store", 0.1, "r", NULL);
}

/* A seen ref with an int id matches the entity whose id is that number, as retrieve reads it. */
static void test_filter_seen_int_ids(void **state) {
    nfx_t *fx = *state;
    nfx_store_open(fx);
    msgpack_pack_array(&fx->pk, 1);
    nfx_pack_spec(fx, "id=7,type=store");
    nfx_store_put(fx, "user:42:seen");
    nfx_store_commit(fx);
    nfx_add(fx, 0, "7", "store", 0.9, "r", NULL);
    nfx_add(fx, 0, "8", "store", 0.8, "r", NULL);
    nfx_params(fx, "seen_key=user:42:seen");
    assert_int_equal(nfx_run(fx, "filter"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "8");
}

static void test_filter_seen_and_blocked(void **state) {
    nfx_t *fx = *state;
    s_filter_store(fx, true, true);
    s_filter_inputs(fx);
    nfx_params(fx, "seen_key=user:42:seen");
    assert_int_equal(nfx_run(fx, "filter"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "b,c,u9,e,f,g,h");
    nfx_params(fx, "blocked_key=user:42:blocked");
    assert_int_equal(nfx_run(fx, "filter"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "a,c,d,f,h");
    nfx_params(fx, "blocked_key=user:42:blocked,blocked_by=[owner]");
    assert_int_equal(nfx_run(fx, "filter"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "a,b,c,d,g,h");
    nfx_params(fx, "blocked_key=user:42:blocked,blocked_by=[]"); /* ids only */
    assert_int_equal(nfx_run(fx, "filter"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "a,b,c,d,e,f,g,h");
    nfx_params(fx, "seen_key=user:42:seen,blocked_key=user:42:blocked,blocked_by=[seller_id|owner]");
    assert_int_equal(nfx_run(fx, "filter"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "c,h");
    /* with where: all three apply */
    nfx_params(fx, "seen_key=user:42:seen,blocked_key=user:42:blocked,where=is_live == 0 || score < 0.35");
    fmx_store_close(&fx->store); /* proves the output does not point into the store... */
    fx->env.store = fmx_store_open(fx->dir, 1, 16, fx->err);
    fx->store = fx->env.store;
    assert_non_null(fx->store);
    assert_int_equal(nfx_run(fx, "filter"), 0);
    fmx_store_close(&fx->store); /* ...closed (unmapped) before it is read */
    fx->env.store = NULL;
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "c,f,h");
    s_assert_field_str(&fx->out.v[0], "seller_id", "s3");
}

static void test_filter_missing_keys_and_errors(void **state) {
    nfx_t *fx = *state;
    s_filter_store(fx, false, false);
    s_filter_inputs(fx);
    /* missing keys drop nothing */
    nfx_params(fx, "seen_key=user:42:seen,blocked_key=user:42:blocked");
    assert_int_equal(nfx_run(fx, "filter"), 0);
    assert_int_equal(fx->out.n, 9);
    nfx_params(fx, "seen_key=user:43:seen,where=seller_id == 's3'");
    assert_int_equal(nfx_run(fx, "filter"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "c");
    nfx_params(fx, "seen_key=not_an_array");
    s_run_fails(fx, "filter", "not_an_array");
    nfx_params(fx, "blocked_key=not_an_array");
    s_run_fails(fx, "filter", "not an array");
    nfx_params(fx, "seen_key=");
    s_run_fails(fx, "filter", "'seen_key'");
    nfx_params(fx, "blocked_key=user:42:blocked,blocked_by=seller_id");
    s_run_fails(fx, "filter", "'blocked_by'");
    nfx_params(fx, "blocked_key=user:42:blocked,blocked_by=[seller_id|3]");
    s_run_fails(fx, "filter", "'blocked_by'");
    nfx_params(fx, "seen_key=5");
    s_run_fails(fx, "filter", "'seen_key'");
    nfx_params(fx, "");
    s_run_fails(fx, "filter", "'where', 'seen_key' or 'blocked_key'");
    nfx_params(fx, "blocked_by=[owner]"); /* blocked_by alone is not enough */
    s_run_fails(fx, "filter", "'blocked_key'");
    /* no store with a key param is an error; without one, where alone still works */
    fmx_store_close(&fx->store);
    fx->env.store = NULL;
    nfx_params(fx, "seen_key=user:42:seen");
    s_run_fails(fx, "filter", "no store");
    nfx_params(fx, "where=seller_id == 's4'");
    assert_int_equal(nfx_run(fx, "filter"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "d");
}

static void test_filter_big_seen_list(void **state) {
    nfx_t *fx = *state;
    nfx_store_open(fx);
    char id[16];
    msgpack_pack_array(&fx->pk, 3000);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "e%d", i * 2);
        msgpack_pack_map(&fx->pk, 2);
        nfx_str(fx, "id");
        nfx_str(fx, id);
        nfx_str(fx, "type");
        nfx_str(fx, "livestream");
    }
    nfx_store_put(fx, "user:42:seen");
    nfx_store_commit(fx);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "e%d", i);
        nfx_add(fx, 0, id, "livestream", NAN, "r", NULL);
    }
    nfx_params(fx, "seen_key=user:42:seen");
    assert_int_equal(nfx_run(fx, "filter"), 0);
    assert_int_equal(fx->out.n, 2500); /* every odd one */
    nfx_assert_str(fx->out.v[0].id, "e1");
    nfx_assert_str(fx->out.v[2499].id, "e4999");
}

/* ---- merge ---- */

static const msgpack_object *s_sources(const fmx_entity_t *e) {
    const msgpack_object *s = fmx_mp_map_get(&e->fields, "sources");
    assert_non_null(s);
    assert_int_equal(s->type, MSGPACK_OBJECT_ARRAY);
    return s;
}

static void s_assert_sources(const fmx_entity_t *e, const char *want) {
    const msgpack_object *s = s_sources(e);
    char got[256] = "";
    for (uint32_t i = 0; i < s->via.array.size; i++) {
        const msgpack_object *o = &s->via.array.ptr[i];
        assert_int_equal(o->type, MSGPACK_OBJECT_STR);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s", i ? "," : "", (int)o->via.str.size,
                 o->via.str.ptr);
    }
    assert_string_equal(got, want);
}

static void test_merge_sources(void **state) {
    nfx_t *fx = *state;
    nfx_add(fx, 0, "x1", "livestream", 0.3, "follows", "k=a1");
    nfx_add(fx, 0, "x2", "livestream", 0.9, "follows", NULL);
    nfx_add(fx, 0, "x1", "livestream", 0.2, "follows", NULL); /* same source twice: once */
    nfx_add(fx, 1, "x1", "livestream", 0.8, "trending", "k=b1,sources=[old|stuff]");
    nfx_add(fx, 1, "x3", "livestream", NAN, "trending", NULL);
    nfx_add(fx, 1, "x1", "product", 0.1, "trending", NULL); /* another type: another entity */
    nfx_add(fx, 2, "x3", "livestream", 0.1, "new", NULL);
    nfx_add(fx, 2, "x1", "livestream", 0.1, "new", NULL);
    nfx_add(fx, 2, "x4", "livestream", 0.1, NULL, "k=d"); /* no source */
    assert_int_equal(nfx_run(fx, "merge"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "x1,x2,x3,x1,x4");
    const fmx_entity_t *x1 = &fx->out.v[0];
    nfx_assert_str(x1->source, "trending"); /* the best copy is kept ... */
    s_assert_score(x1, 0.8);
    s_assert_field_str(x1, "k", "b1");            /* ... with its fields ... */
    s_assert_sources(x1, "follows,trending,new"); /* ... and every source, its own replaced */
    assert_int_equal(x1->fields.via.map.size, 2);
    s_assert_sources(&fx->out.v[1], "follows");
    s_assert_sources(&fx->out.v[2], "trending,new");
    nfx_assert_str(fx->out.v[2].source, "new");
    s_assert_sources(&fx->out.v[3], "trending");
    nfx_assert_str(fx->out.v[3].type, "product");
    s_assert_sources(&fx->out.v[4], "");
    s_assert_field_str(&fx->out.v[4], "k", "d");
    /* the inputs were not modified */
    assert_null(fmx_mp_map_get(&fx->in[0].v[0].fields, "sources"));
    assert_int_equal(fx->in[0].v[1].fields.type, MSGPACK_OBJECT_NIL);
    assert_int_equal(fmx_mp_map_get(&fx->in[1].v[0].fields, "sources")->via.array.size, 2);

    nfx_params(fx, "limit=2");
    assert_int_equal(nfx_run(fx, "merge"), 0);
    assert_string_equal(nfx_ids_tree(fx, &fx->out), "x1,x2");
    s_assert_sources(&fx->out.v[0], "follows,trending,new");
}

static void test_merge_sources_many(void **state) {
    nfx_t *fx = *state;
    char id[16], src[16];
    /* 3 inputs x 2000 entities over 500 ids, 7 sources */
    for (int k = 0; k < 6000; k++) {
        snprintf(id, sizeof id, "e%d", k % 500);
        snprintf(src, sizeof src, "s%d", k % 7);
        nfx_add(fx, (size_t)(k / 2000), id, "livestream", NAN, src, NULL);
    }
    assert_int_equal(nfx_run(fx, "merge"), 0);
    assert_int_equal(fx->out.n, 500);
    /* e0 appears at k = 0, 500, ..., 5500: sources k % 7 in order, each once */
    s_assert_sources(&fx->out.v[0], "s0,s3,s6,s2,s5,s1,s4");
    s_assert_sources(&fx->out.v[1], "s1,s4,s0,s3,s6,s2,s5");
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, nfx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_group_basic),
        T(test_group_by_source_and_type),
        T(test_group_caps),
        T(test_group_values_and_titles),
        T(test_group_edges),
        T(test_group_title_cap),
        T(test_group_title_cut_mid_character),
        T(test_group_bad_params),
        T(test_group_many_and_deadline),
        T(test_rank_per_group),
        T(test_rank_within_and_across),
        T(test_rank_collections_by_field),
        T(test_rank_only_collections_across_false),
        T(test_blend_weave),
        T(test_blend_weave_three_inputs_exhausted),
        T(test_blend_bad_lists),
        T(test_blend_score),
        T(test_blend_debunch_by),
        T(test_blend_debunch_impossible),
        T(test_filter_seen_int_ids),
        T(test_filter_seen_and_blocked),
        T(test_filter_missing_keys_and_errors),
        T(test_filter_big_seen_list),
        T(test_merge_sources),
        T(test_merge_sources_many),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
