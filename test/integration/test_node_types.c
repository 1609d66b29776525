/* test_node_types.c - every node type served through a real broker and real actors over real
 * sockets: one feed per type in test/fixtures/integration/feeds_node_types/ (nt_<type>.yaml),
 * each checked for that node's effect in the reply.
 *
 * The store is not the demo data set but a small one this file writes, so every expected list is
 * exact (all for user 42, geo US):
 *   entity:livestream:ls1..ls5  seller_id, viewers, is_live, category (ls6 has no record)
 *   entity:product:p1..p6       seller_id, price
 *   user:42:follows_live        ls1 .9, ls2 .8, ls3 .7, ls4 .6
 *   geo:US:trending_live        ls5 .95, ls3 .5, ls6 .4
 *   user:42:products            p1 .9 .. p6 .4
 *   user:42:seen                p3, ls1          user:42:blocked   ["s3"]
 *   models/t_viewers.weights    score = viewers */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/store.h"
#include "schemas/mpobj.h"
#include "test/integration/harness.h"

#define REPLY_TIMEOUT_MS 6000

/* ---- the store ---- */

typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    fmx_store_txn_t *txn;
    char err[FMX_ERR_LEN];
} s_writer_t;

static int s_put(s_writer_t *w, const char *key) {
    int rc = fmx_store_put(w->txn, key, strlen(key), w->sb.data, w->sb.size, w->err);
    msgpack_sbuffer_clear(&w->sb);
    return rc;
}

static void s_kv_str(s_writer_t *w, const char *k, const char *v) {
    fmx_mp_pack_cstr(&w->pk, k);
    fmx_mp_pack_cstr(&w->pk, v);
}

static void s_kv_int(s_writer_t *w, const char *k, int64_t v) {
    fmx_mp_pack_cstr(&w->pk, k);
    msgpack_pack_int64(&w->pk, v);
}

/* refs "id:score id:score ..." of one type. */
static int s_put_refs(s_writer_t *w, const char *key, const char *type, const char *refs) {
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", refs);
    uint32_t n = 1;
    for (const char *p = refs; *p; p++)
        n += *p == ' ';
    msgpack_pack_array(&w->pk, n);
    for (char *r = strtok_r(buf, " ", &save); r; r = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(r, ':');
        *colon = '\0';
        msgpack_pack_map(&w->pk, 3);
        s_kv_str(w, "id", r);
        s_kv_str(w, "type", type);
        fmx_mp_pack_cstr(&w->pk, "score");
        msgpack_pack_double(&w->pk, atof(colon + 1));
    }
    return s_put(w, key);
}

static int s_write_store(const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/store", dir);
    s_writer_t w = {0};
    msgpack_sbuffer_init(&w.sb);
    msgpack_packer_init(&w.pk, &w.sb, msgpack_sbuffer_write);
    int rc = -1;
    fmx_store_t *store = fmx_store_open(path, 0, 16, w.err);
    if (!store || !(w.txn = fmx_store_write_begin(store, w.err))) goto done;

    static const struct {
        const char *id, *seller, *category;
        int viewers, live;
    } streams[] = {{"ls1", "s1", "toys", 10, 1},
                   {"ls2", "s2", "home", 50, 1},
                   {"ls3", "s1", "toys", 30, 1},
                   {"ls4", "s3", "toys", 5, 0},
                   {"ls5", "s2", "home", 40, 1}};
    for (size_t i = 0; i < FMX_ARRAY_LEN(streams); i++) {
        msgpack_pack_map(&w.pk, 4);
        s_kv_str(&w, "seller_id", streams[i].seller);
        s_kv_int(&w, "viewers", streams[i].viewers);
        s_kv_int(&w, "is_live", streams[i].live);
        s_kv_str(&w, "category", streams[i].category);
        snprintf(path, sizeof path, "entity:livestream:%s", streams[i].id);
        if (s_put(&w, path) != 0) goto done;
    }
    static const struct {
        const char *id, *seller;
        int price;
    } products[] = {{"p1", "s1", 10}, {"p2", "s1", 80}, {"p3", "s2", 20},
                    {"p4", "s3", 30}, {"p5", "s2", 40}, {"p6", "s4", 5}};
    for (size_t i = 0; i < FMX_ARRAY_LEN(products); i++) {
        msgpack_pack_map(&w.pk, 2);
        s_kv_str(&w, "seller_id", products[i].seller);
        s_kv_int(&w, "price", products[i].price);
        snprintf(path, sizeof path, "entity:product:%s", products[i].id);
        if (s_put(&w, path) != 0) goto done;
    }
    if (s_put_refs(&w, "user:42:follows_live", "livestream", "ls1:.9 ls2:.8 ls3:.7 ls4:.6") != 0 ||
        s_put_refs(&w, "geo:US:trending_live", "livestream", "ls5:.95 ls3:.5 ls6:.4") != 0 ||
        s_put_refs(&w, "user:42:products", "product", "p1:.9 p2:.8 p3:.7 p4:.6 p5:.5 p6:.4") != 0)
        goto done;
    msgpack_pack_array(&w.pk, 2);
    msgpack_pack_map(&w.pk, 2);
    s_kv_str(&w, "id", "p3");
    s_kv_str(&w, "type", "product");
    msgpack_pack_map(&w.pk, 2);
    s_kv_str(&w, "id", "ls1");
    s_kv_str(&w, "type", "livestream");
    if (s_put(&w, "user:42:seen") != 0) goto done;
    msgpack_pack_array(&w.pk, 1);
    fmx_mp_pack_cstr(&w.pk, "s3");
    if (s_put(&w, "user:42:blocked") != 0) goto done;
    rc = fmx_store_commit(&w.txn, w.err);
done:
    if (rc != 0) fprintf(stderr, "writing the test store failed: %s\n", w.err);
    fmx_store_txn_end(&w.txn);
    fmx_store_close(&store);
    msgpack_sbuffer_destroy(&w.sb);
    if (rc != 0) return -1;

    snprintf(path, sizeof path, "%s/models", dir);
    if (mkdir(path, 0755) != 0) return -1;
    snprintf(path, sizeof path, "%s/models/t_viewers.weights", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("# score = viewers\nviewers 1\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

static int s_group_setup(void **state) {
    h_t *h = h_new();
    if (!h || s_write_store(h->dir) != 0) {
        h_destroy(&h);
        return -1;
    }
    *state = h;
    return 0;
}

/* ---- serving ---- */

/* The broker on the node-type feeds, then one actor of each NULL-terminated type. */
static void s_start(h_t *h, ...) {
    char dir[600];
    const char *fixtures = getenv("FMX_FIXTURES");
    assert_non_null(fixtures);
    snprintf(dir, sizeof dir, "%s/integration/feeds_node_types", fixtures);
    const char *const extra[] = {"--feeds", dir, NULL};
    assert_true(h_start_broker(h, extra) > 0);
    va_list ap;
    va_start(ap, h);
    const char *types[8];
    size_t n = 0;
    for (const char *t; (t = va_arg(ap, const char *)) && n < FMX_ARRAY_LEN(types);)
        types[n++] = t;
    va_end(ap);
    for (size_t i = 0; i < n; i++)
        assert_true(h_start_actor(h, types[i], NULL, NULL) > 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(h_wait_ready(h, types[i], 1, 10000), 0);
}

/* Serves feed for user 42 in geo US; the reply must be ok. Returns its items. */
static const msgpack_object *s_serve(h_t *h, const char *feed, h_reply_t *r) {
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(h_pack_map(&sb, "feed", 's', feed, "user_id", 'i', 42, H_CTX_US, NULL), 0);
    int rc = h_call_ok(c, sb.data, sb.size, REPLY_TIMEOUT_MS, r);
    msgpack_sbuffer_destroy(&sb);
    h_client_destroy(&c);
    assert_int_equal(rc, 0);
    if (!h_status_is(r, "ok")) h_print("reply", r->root);
    assert_true(h_status_is(r, "ok"));
    const msgpack_object *items = h_get(r->root, "items");
    assert_non_null(items);
    assert_int_equal(items->type, MSGPACK_OBJECT_ARRAY);
    return items;
}

/* "id,id(child,child),..." of an items array. */
static size_t s_ids_into(const msgpack_object *items, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < items->via.array.size; i++) {
        const msgpack_object *it = &items->via.array.ptr[i];
        const msgpack_object *id = h_get(it, "id");
        assert_non_null(id);
        n += (size_t)snprintf(buf + n, cap - n, "%s%.*s", i ? "," : "", (int)id->via.str.size, id->via.str.ptr);
        const msgpack_object *kids = h_get(it, "items");
        if (!kids || n + 3 >= cap) continue;
        buf[n++] = '(';
        n += s_ids_into(kids, buf + n, cap - n);
        buf[n++] = ')';
        buf[n] = '\0';
    }
    assert_true(n < cap);
    return n;
}

static void s_assert_ids(const msgpack_object *items, const char *want) {
    char got[512];
    s_ids_into(items, got, sizeof got);
    assert_string_equal(got, want);
}

static const msgpack_object *s_item(const msgpack_object *items, uint32_t i) {
    assert_true(i < items->via.array.size);
    return &items->via.array.ptr[i];
}

static double s_score(const msgpack_object *item) {
    double v = NAN;
    assert_int_equal(fmx_mp_get_double(item, "score", &v), 0);
    return v;
}

static void s_assert_str(const msgpack_object *o, const char *want) {
    assert_non_null(o);
    if (!h_str_eq(o, want)) {
        h_print("got", o);
        fail_msg("want \"%s\"", want);
    }
}

/* ---- one test per node type ---- */

static void test_retrieve(void **state) {
    h_t *h = *state;
    s_start(h, "retrieve", NULL);
    h_reply_t r;
    const msgpack_object *items = s_serve(h, "nt_retrieve", &r);
    s_assert_ids(items, "ls1,ls2,ls3"); /* stored order, cut at limit 3 */
    s_assert_str(h_get(s_item(items, 0), "source"), "src");
    s_assert_str(h_get(s_item(items, 2), "type"), "livestream");
    assert_true(fabs(s_score(s_item(items, 1)) - 0.8) < 1e-9);
    h_reply_fini(&r);
    h_pass(h);
}

static void test_hydrate(void **state) {
    h_t *h = *state;
    s_start(h, "retrieve", "hydrate", NULL);
    h_reply_t r;
    const msgpack_object *items = s_serve(h, "nt_hydrate", &r);
    s_assert_ids(items, "ls1,ls2,ls3,ls4,ls5"); /* union in input order; ls6 has no record */
    const msgpack_object *fields = h_get(s_item(items, 1), "fields");
    assert_non_null(fields);
    assert_int_equal(fields->via.map.size, 2); /* projected to `fields` */
    assert_int_equal(h_get_int(fields, "viewers"), 50);
    s_assert_str(h_get(fields, "seller_id"), "s2");
    s_assert_str(h_get(s_item(items, 2), "source"), "follows"); /* first occurrence wins */
    h_reply_fini(&r);
    h_pass(h);
}

static void test_merge(void **state) {
    h_t *h = *state;
    s_start(h, "retrieve", "merge", NULL);
    h_reply_t r;
    const msgpack_object *items = s_serve(h, "nt_merge", &r);
    s_assert_ids(items, "ls1,ls2,ls3,ls4,ls5");
    const msgpack_object *ls3 = s_item(items, 2);
    s_assert_str(h_get(ls3, "source"), "follows"); /* .7 beats trending's .5 */
    const msgpack_object *sources = h_get(h_get(ls3, "fields"), "sources");
    assert_non_null(sources);
    assert_int_equal(sources->via.array.size, 2);
    s_assert_str(&sources->via.array.ptr[0], "follows");
    s_assert_str(&sources->via.array.ptr[1], "trending");
    sources = h_get(h_get(s_item(items, 4), "fields"), "sources");
    assert_int_equal(sources->via.array.size, 1);
    s_assert_str(&sources->via.array.ptr[0], "trending");
    h_reply_fini(&r);
    h_pass(h);
}

static void test_filter(void **state) {
    h_t *h = *state;
    s_start(h, "retrieve", "hydrate", "filter", NULL);
    h_reply_t r;
    const msgpack_object *items = s_serve(h, "nt_filter", &r);
    /* p2: price 80; p3: seen; p4: seller s3 blocked */
    s_assert_ids(items, "p1,p5,p6");
    h_reply_fini(&r);
    h_pass(h);
}

static void test_score(void **state) {
    h_t *h = *state;
    s_start(h, "retrieve", "hydrate", "score", NULL);
    h_reply_t r;
    const msgpack_object *items = s_serve(h, "nt_score", &r);
    s_assert_ids(items, "ls2,ls3,ls1,ls4"); /* by viewers */
    const double want[] = {50, 30, 10, 5};
    for (uint32_t i = 0; i < 4; i++)
        assert_true(fabs(s_score(s_item(items, i)) - want[i]) < 1e-9);
    h_reply_fini(&r);
    h_pass(h);
}

static void test_rank(void **state) {
    h_t *h = *state;
    s_start(h, "retrieve", "hydrate", "rank", NULL);
    h_reply_t r;
    const msgpack_object *items = s_serve(h, "nt_rank", &r);
    s_assert_ids(items, "p1,p3,p4"); /* one per seller, top 3 */
    h_reply_fini(&r);
    h_pass(h);
}

static void test_group(void **state) {
    h_t *h = *state;
    s_start(h, "retrieve", "hydrate", "group", NULL);
    h_reply_t r;
    const msgpack_object *items = s_serve(h, "nt_group", &r);
    s_assert_ids(items, "shops:s1(p1,p2),shops:s2(p3,p5)"); /* s3 and s4 have one product */
    const msgpack_object *c = s_item(items, 0);
    s_assert_str(h_get(c, "type"), "carousel");
    s_assert_str(h_get(c, "source"), "shops");
    s_assert_str(h_get(h_get(c, "fields"), "title"), "Shop s1");
    s_assert_str(h_get(h_get(c, "fields"), "group_by"), "seller_id");
    assert_true(fabs(s_score(c) - 0.9) < 1e-9);
    assert_true(fabs(s_score(s_item(items, 1)) - 0.7) < 1e-9);
    h_reply_fini(&r);
    h_pass(h);
}

static void test_blend(void **state) {
    h_t *h = *state;
    s_start(h, "retrieve", "blend", NULL);
    h_reply_t r;
    const msgpack_object *items = s_serve(h, "nt_blend", &r);
    s_assert_ids(items, "ls1,ls2,p1,ls3,ls4,p2,p3"); /* ratio [2, 1], live runs out, limit 7 */
    h_reply_fini(&r);
    h_pass(h);
}

static void test_layout(void **state) {
    h_t *h = *state;
    s_start(h, "retrieve", "layout", NULL);
    h_reply_t r;
    const msgpack_object *items = s_serve(h, "nt_layout", &r);
    s_assert_ids(items, "ls1,ls2");
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(h_get_int(s_item(items, i), "position"), (int64_t)i);
        const msgpack_object *token = h_get(s_item(items, i), "token");
        assert_non_null(token);
        assert_int_equal(token->type, MSGPACK_OBJECT_STR);
        assert_true(token->via.str.size > 3);
    }
    h_reply_fini(&r);
    h_pass(h);
}

int main(void) {
#define T(f) cmocka_unit_test_teardown(f, h_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_retrieve), T(test_hydrate), T(test_merge), T(test_filter), T(test_score),
        T(test_rank),     T(test_group),   T(test_blend), T(test_layout),
    };
#undef T
    return cmocka_run_group_tests(tests, s_group_setup, h_group_teardown);
}
