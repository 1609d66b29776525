/* test_seed.c - feedmix-seed: determinism and the shape of the demo data (version 2).
 *
 * Runs the real binary (build/bin/feedmix-seed, found next to this test's build/test/ dir)
 * into temp dirs. Same seed -> every key/value pair identical, compared through an LMDB cursor;
 * another seed -> different data. Then walks every key family of tools/seed/seed.c's banner for
 * every user and checks its shape and its cross-references, and that the demo models load and
 * rank the way their comments say. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/node.h"
#include "common/store.h"
#include "schemas/mpobj.h"

typedef struct {
    char seed_bin[PATH_MAX];
    char dir[64];
} s_fx_t;

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int s_setup(void **state) {
    s_fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    assert_true(n > 0);
    self[n] = '\0';
    snprintf(fx->seed_bin, sizeof(fx->seed_bin), "%s/../bin/feedmix-seed", dirname(self));
    strcpy(fx->dir, "/tmp/fmx-test-seed-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    *state = fx;
    return 0;
}

static int s_teardown(void **state) {
    s_fx_t *fx = *state;
    nftw(fx->dir, s_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* Runs the seeder with stderr into err_path (or inherited when NULL) and an optional extra
 * flag; returns its exit status. */
static int s_seed_ex(const s_fx_t *fx, const char *out, const char *models, const char *users, const char *seed,
                     const char *flag, const char *err_path) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[14];
        int i = 0;
        argv[i++] = fx->seed_bin;
        argv[i++] = "--out";
        argv[i++] = out;
        if (models) {
            argv[i++] = "--models";
            argv[i++] = models;
        }
        argv[i++] = "--users";
        argv[i++] = users;
        argv[i++] = "--seed";
        argv[i++] = seed;
        if (flag) argv[i++] = flag;
        argv[i] = NULL;
        if (err_path) {
            int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(126);
            close(fd);
        }
        execv(fx->seed_bin, (char *const *)argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int s_seed(const s_fx_t *fx, const char *out, const char *models, const char *users, const char *seed) {
    return s_seed_ex(fx, out, models, users, seed, NULL, NULL);
}

static bool s_have_seeder(const s_fx_t *fx) {
    if (access(fx->seed_bin, X_OK) == 0) return true;
    fprintf(stderr, "feedmix-seed not built at %s (cmake --build build first)\n", fx->seed_bin);
    return false;
}

/* Every key/value pair of two stores, compared in key order. Returns the number of pairs, or
 * -1 at the first difference. */
static long s_compare(const char *a, const char *b) {
    MDB_env *env[2] = {NULL, NULL};
    MDB_txn *txn[2] = {NULL, NULL};
    MDB_cursor *cur[2] = {NULL, NULL};
    MDB_dbi dbi[2];
    const char *paths[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mdb_env_create(&env[i]), 0);
        assert_int_equal(mdb_env_open(env[i], paths[i], MDB_RDONLY, 0644), 0);
        assert_int_equal(mdb_txn_begin(env[i], NULL, MDB_RDONLY, &txn[i]), 0);
        assert_int_equal(mdb_dbi_open(txn[i], NULL, 0, &dbi[i]), 0);
        assert_int_equal(mdb_cursor_open(txn[i], dbi[i], &cur[i]), 0);
    }
    long pairs = 0;
    for (;;) {
        MDB_val k[2], v[2];
        int rc0 = mdb_cursor_get(cur[0], &k[0], &v[0], MDB_NEXT);
        int rc1 = mdb_cursor_get(cur[1], &k[1], &v[1], MDB_NEXT);
        if (rc0 != rc1) {
            pairs = -1;
            break;
        }
        if (rc0 == MDB_NOTFOUND) break;
        assert_int_equal(rc0, 0);
        if (k[0].mv_size != k[1].mv_size || memcmp(k[0].mv_data, k[1].mv_data, k[0].mv_size) != 0 ||
            v[0].mv_size != v[1].mv_size || memcmp(v[0].mv_data, v[1].mv_data, v[0].mv_size) != 0) {
            pairs = -1;
            break;
        }
        pairs++;
    }
    for (int i = 0; i < 2; i++) {
        mdb_cursor_close(cur[i]);
        mdb_txn_abort(txn[i]);
        mdb_env_close(env[i]);
    }
    return pairs;
}

static void test_deterministic(void **state) {
    s_fx_t *fx = *state;
    if (!s_have_seeder(fx)) skip();
    char a[128], b[128], c[128];
    snprintf(a, sizeof(a), "%s/a", fx->dir);
    snprintf(b, sizeof(b), "%s/b", fx->dir);
    snprintf(c, sizeof(c), "%s/c", fx->dir);
    assert_int_equal(s_seed(fx, a, NULL, "300", "7"), 0);
    assert_int_equal(s_seed(fx, b, NULL, "300", "7"), 0);
    assert_int_equal(s_seed(fx, c, NULL, "300", "8"), 0);
    /* 300 users x 14 keys, 30 sellers x 2, ~150 products, 8 geos x 3, 12 categories, meta */
    long pairs = s_compare(a, b);
    assert_true(pairs > 300 * 14 + 30 * 2 + 90 + 8 * 3 + 12);
    assert_int_equal(s_compare(a, c), -1);

    /* Re-seeding a store with fewer users leaves no stale keys behind. */
    assert_int_equal(s_seed(fx, c, NULL, "300", "7"), 0);
    assert_int_equal(s_compare(a, c), pairs);
    assert_int_equal(s_seed(fx, c, NULL, "100", "7"), 0);
    char err[FMX_ERR_LEN];
    fmx_store_t *store = fmx_store_open(c, 1, 0, err);
    assert_non_null(store);
    fmx_store_txn_t *txn = fmx_store_read_begin(store, err);
    const void *v;
    size_t n;
    assert_int_equal(fmx_store_get(txn, "user:100", 8, &v, &n, err), 0);
    assert_int_equal(fmx_store_get(txn, "user:101", 8, &v, &n, err), 1);
    assert_int_equal(fmx_store_get(txn, "entity:account:u101", 19, &v, &n, err), 1);
    fmx_store_txn_end(&txn);
    fmx_store_close(&store);

    assert_int_not_equal(s_seed(fx, a, NULL, "0", "7"), 0);
    assert_int_not_equal(s_seed(fx, a, NULL, "ten", "7"), 0);
    assert_int_not_equal(s_seed(fx, a, NULL, "99999999", "7"), 0);
}

/* Reads a whole small file into buf; returns its length. */
static size_t s_slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

static size_t s_count_char(const char *s, char c) {
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* Not a tty: one summary line, no progress; --quiet: nothing; --progress: phase lines. */
static void test_output(void **state) {
    s_fx_t *fx = *state;
    if (!s_have_seeder(fx)) skip();
    char out[128], log[128], buf[8192];
    snprintf(out, sizeof(out), "%s/store", fx->dir);
    snprintf(log, sizeof(log), "%s/stderr", fx->dir);
    assert_int_equal(s_seed_ex(fx, out, NULL, "100", "3", NULL, log), 0);
    s_slurp(log, buf, sizeof(buf));
    assert_int_equal(s_count_char(buf, '\n'), 1);
    assert_null(strchr(buf, '\r'));
    assert_non_null(strstr(buf, "wrote"));

    assert_int_equal(s_seed_ex(fx, out, NULL, "100", "4", "--quiet", log), 0);
    assert_int_equal(s_slurp(log, buf, sizeof(buf)), 0);

    assert_int_equal(s_seed_ex(fx, out, NULL, "100", "5", "--progress", log), 0);
    s_slurp(log, buf, sizeof(buf));
    assert_non_null(strstr(buf, "users"));
    assert_non_null(strstr(buf, "100%"));
    assert_null(strchr(buf, '\r')); /* not a tty: whole lines */

    /* the same data set again is left alone */
    assert_int_equal(s_seed_ex(fx, out, NULL, "100", "5", NULL, log), 0);
    s_slurp(log, buf, sizeof(buf));
    assert_non_null(strstr(buf, "already holds"));
}

/* ---- the contents walk ---- */

#define T_USERS   1000
#define T_SELLERS 100
#define T_MAX     8000 /* products, stores, updates: at most 7 per seller each */

static const char *const t_geos[] = {"US", "DE", "FR", "GB", "BR", "JP", "IN", "MX"};
static const char *const t_cats[] = {"fashion", "beauty", "electronics",  "gaming",  "home", "sports",
                                     "toys",    "food",   "collectibles", "jewelry", "art",  "books"};

typedef struct {
    int geo, cat;
    bool is_new, is_live;
    int64_t viewers;
    double quality;
    size_t n_products;
} t_seller_t;

typedef struct {
    uint32_t seller;
    int cat;
    double price, rating;
    int64_t sales;
} t_product_t;

typedef struct {
    bool open;
    int geo;
    int64_t orders;
} t_store_t;

typedef struct {
    bool going_live;
    uint32_t seller, product;
    int64_t starts;
    double old_price, new_price, drop_pct;
} t_update_t;

typedef struct {
    int geo, cats[3];
    double activity;
    int64_t followers;        /* from entity:account */
    uint32_t follows[40];     /* sellers (1-based) */
    size_t n_follows;
    uint32_t following[40];   /* accounts (1-based) */
    size_t n_following;
} t_user_t;

/* Everything the walk cross-references, loaded once. */
typedef struct {
    fmx_store_txn_t *txn;
    msgpack_zone *zone;
    t_seller_t sellers[T_SELLERS + 1];
    t_product_t products[T_MAX + 1];
    t_store_t stores[T_MAX + 1];
    t_update_t updates[T_MAX + 1];
    t_user_t users[T_USERS + 1];
    size_t n_products, n_stores, n_updates;
} t_world_t;

/* Unpacks a store value into the zone; false when the key is missing. */
static bool s_get(t_world_t *w, const char *key, msgpack_object *o) {
    char err[FMX_ERR_LEN];
    const void *v;
    size_t n;
    int rc = fmx_store_get(w->txn, key, strlen(key), &v, &n, err);
    assert_true(rc >= 0);
    if (rc == 1) return false;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(v, n, &off, w->zone, o), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, n);
    return true;
}

static msgpack_object s_value(t_world_t *w, const char *key) {
    msgpack_object o;
    if (!s_get(w, key, &o)) {
        fprintf(stderr, "missing key %s\n", key);
        fail();
    }
    return o;
}

static int s_index(const char *const *names, size_t n, const msgpack_object *o) {
    for (size_t i = 0; i < n; i++)
        if (fmx_mp_str_eq(o, names[i])) return (int)i;
    return -1;
}

static int s_geo(const msgpack_object *map) {
    int g = s_index(t_geos, 8, fmx_mp_map_get(map, "geo"));
    assert_true(g >= 0);
    return g;
}

static int s_cat(const msgpack_object *map) {
    int c = s_index(t_cats, 12, fmx_mp_map_get(map, "category"));
    assert_true(c >= 0);
    return c;
}

static int64_t s_int(const msgpack_object *map, const char *key) {
    int64_t v = 0;
    if (fmx_mp_get_int(map, key, &v) != 0) {
        fprintf(stderr, "field %s is not an int\n", key);
        fail();
    }
    return v;
}

static double s_double(const msgpack_object *map, const char *key) {
    double v = 0;
    if (fmx_mp_get_double(map, key, &v) != 0) {
        fprintf(stderr, "field %s is not a number\n", key);
        fail();
    }
    return v;
}

static void s_has_str(const msgpack_object *map, const char *key) {
    fmx_str_t s;
    assert_int_equal(fmx_mp_get_str(map, key, &s), 0);
    assert_true(s.len > 0);
}

/* "<prefix><N>" -> N (>= 1), 0 when the string is not of that form. */
static uint32_t s_parse_id(const msgpack_object *o, const char *prefix) {
    if (!o || o->type != MSGPACK_OBJECT_STR) return 0;
    size_t pl = strlen(prefix), n = o->via.str.size;
    const char *s = o->via.str.ptr;
    if (n <= pl || n > pl + 9 || memcmp(s, prefix, pl) != 0) return 0;
    uint32_t v = 0;
    for (size_t i = pl; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    return v;
}

static uint32_t s_id_field(const msgpack_object *map, const char *key, const char *prefix, size_t max) {
    uint32_t v = s_parse_id(fmx_mp_map_get(map, key), prefix);
    assert_true(v >= 1 && v <= max);
    return v;
}

/* A list of refs of one type: checks the shape, returns the 1-based indexes into idx (cap) and
 * the scores into score (may be NULL: then refs must carry no score). Returns the count. */
static size_t s_refs(const msgpack_object *o, const char *type, const char *prefix, size_t max, size_t cap,
                     uint32_t *idx, double *score) {
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_true(o->via.array.size <= cap);
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *ref = &o->via.array.ptr[i];
        assert_int_equal(ref->type, MSGPACK_OBJECT_MAP);
        assert_true(fmx_mp_str_eq(fmx_mp_map_get(ref, "type"), type));
        idx[i] = s_id_field(ref, "id", prefix, max);
        if (score) {
            score[i] = s_double(ref, "score");
        } else {
            assert_null(fmx_mp_map_get(ref, "score"));
        }
    }
    return o->via.array.size;
}

/* Scores in (0, 1], descending; the first is 1 when `first_one`. */
static void s_check_scores(const double *score, size_t n, bool first_one) {
    for (size_t i = 0; i < n; i++) {
        assert_true(score[i] > 0.0 && score[i] <= 1.0);
        if (i > 0) assert_true(score[i] <= score[i - 1]);
    }
    if (n > 0 && first_one) assert_true(score[0] == 1.0);
}

static bool s_has(const uint32_t *v, size_t n, uint32_t x) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return true;
    return false;
}

static void s_no_dups(const uint32_t *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        assert_false(s_has(v, i, v[i]));
}

static void s_load_entities(t_world_t *w) {
    char key[64];
    msgpack_object o;
    for (uint32_t i = 1; i <= T_SELLERS; i++) {
        msgpack_zone_clear(w->zone);
        t_seller_t *s = &w->sellers[i];
        snprintf(key, sizeof(key), "entity:seller:s%u", i);
        o = s_value(w, key);
        s_has_str(&o, "name");
        s->geo = s_geo(&o);
        s->cat = s_cat(&o);
        assert_true(s_int(&o, "followers") >= 0);
        int64_t days = s_int(&o, "created_days_ago");
        assert_int_equal(fmx_mp_get_bool(&o, "is_new", &s->is_new), 0);
        assert_true(s->is_new == (days <= 30));
        snprintf(key, sizeof(key), "entity:livestream:ls%u", i);
        o = s_value(w, key);
        assert_int_equal(s_id_field(&o, "seller_id", "s", T_SELLERS), i);
        assert_int_equal(s_geo(&o), s->geo);
        assert_int_equal(s_cat(&o), s->cat);
        int64_t live = s_int(&o, "is_live");
        assert_true(live == 0 || live == 1);
        s->is_live = live;
        s->viewers = s_int(&o, "viewers");
        assert_true(s->viewers >= 0);
        s_has_str(&o, "title");
        s->quality = s_double(&o, "quality");
        assert_true(s->quality >= 0 && s->quality <= 1);
        assert_true(s_int(&o, "started_min_ago") >= 0);
    }
    snprintf(key, sizeof(key), "entity:seller:s%u", T_SELLERS + 1);
    assert_false(s_get(w, key, &o));

    for (w->n_products = 0;; w->n_products++) {
        msgpack_zone_clear(w->zone);
        snprintf(key, sizeof(key), "entity:product:p%zu", w->n_products + 1);
        if (!s_get(w, key, &o)) break;
        assert_true(w->n_products < T_MAX);
        t_product_t *p = &w->products[w->n_products + 1];
        p->seller = s_id_field(&o, "seller_id", "s", T_SELLERS);
        p->cat = s_cat(&o);
        assert_int_equal(p->cat, w->sellers[p->seller].cat);
        w->sellers[p->seller].n_products++;
        p->price = s_double(&o, "price");
        p->rating = s_double(&o, "rating");
        p->sales = s_int(&o, "sales");
        assert_true(p->price > 0 && p->rating >= 1 && p->rating <= 5 && p->sales >= 0);
        s_has_str(&o, "title");
    }
    assert_true(w->n_products >= 3 * T_SELLERS && w->n_products <= 7 * T_SELLERS);

    for (w->n_stores = 0;; w->n_stores++) {
        msgpack_zone_clear(w->zone);
        snprintf(key, sizeof(key), "entity:store:st%zu", w->n_stores + 1);
        if (!s_get(w, key, &o)) break;
        assert_true(w->n_stores < T_MAX);
        t_store_t *st = &w->stores[w->n_stores + 1];
        s_has_str(&o, "name");
        uint32_t seller = s_id_field(&o, "seller_id", "s", T_SELLERS);
        assert_int_equal(s_cat(&o), w->sellers[seller].cat);
        st->geo = s_geo(&o);
        assert_int_equal(st->geo, w->sellers[seller].geo);
        double rating = s_double(&o, "rating");
        assert_true(rating >= 1 && rating <= 5);
        st->orders = s_int(&o, "orders");
        assert_true(st->orders >= 0);
        int64_t dmin = s_int(&o, "delivery_min");
        assert_true(dmin > 0 && dmin <= 120);
        int64_t open = s_int(&o, "is_open");
        assert_true(open == 0 || open == 1);
        st->open = open;
    }
    assert_true(w->n_stores > 10);

    size_t kinds[2] = {0, 0};
    for (w->n_updates = 0;; w->n_updates++) {
        msgpack_zone_clear(w->zone);
        snprintf(key, sizeof(key), "entity:update:up%zu", w->n_updates + 1);
        if (!s_get(w, key, &o)) break;
        assert_true(w->n_updates < T_MAX);
        t_update_t *up = &w->updates[w->n_updates + 1];
        up->going_live = fmx_mp_str_eq(fmx_mp_map_get(&o, "kind"), "going_live");
        assert_true(up->going_live || fmx_mp_str_eq(fmx_mp_map_get(&o, "kind"), "price_drop"));
        kinds[up->going_live]++;
        up->seller = s_id_field(&o, "seller_id", "s", T_SELLERS);
        s_has_str(&o, "title");
        if (up->going_live) {
            up->starts = s_int(&o, "starts_in_min");
            assert_true(up->starts >= 1 && up->starts <= 120);
            assert_false(w->sellers[up->seller].is_live);
            assert_null(fmx_mp_map_get(&o, "product_id"));
        } else {
            up->product = s_id_field(&o, "product_id", "p", w->n_products);
            assert_int_equal(w->products[up->product].seller, up->seller);
            up->old_price = s_double(&o, "old_price");
            up->new_price = s_double(&o, "new_price");
            up->drop_pct = s_double(&o, "drop_pct");
            assert_true(up->new_price < up->old_price);
            assert_true(up->new_price == w->products[up->product].price);
            assert_true(up->drop_pct > 0 && up->drop_pct < 1);
            assert_true(fabs(up->drop_pct - (1 - up->new_price / up->old_price)) < 1e-3);
        }
    }
    assert_true(kinds[0] > 0 && kinds[1] > 0);

    for (uint32_t u = 1; u <= T_USERS; u++) {
        msgpack_zone_clear(w->zone);
        t_user_t *tu = &w->users[u];
        snprintf(key, sizeof(key), "user:%u", u);
        o = s_value(w, key);
        tu->geo = s_geo(&o);
        const msgpack_object *cats = fmx_mp_map_get(&o, "categories");
        assert_non_null(cats);
        assert_int_equal(cats->type, MSGPACK_OBJECT_ARRAY);
        assert_int_equal(cats->via.array.size, 3);
        for (int c = 0; c < 3; c++) {
            tu->cats[c] = s_index(t_cats, 12, &cats->via.array.ptr[c]);
            assert_true(tu->cats[c] >= 0);
        }
        assert_true(tu->cats[0] != tu->cats[1] && tu->cats[1] != tu->cats[2] && tu->cats[0] != tu->cats[2]);
        s_has_str(&o, "platform");
        int64_t qs = s_int(&o, "quiet_start"), qe = s_int(&o, "quiet_end");
        assert_true(qs >= 20 && qs <= 23 && qe >= 6 && qe <= 9);
        tu->activity = s_double(&o, "activity");
        double ps = s_double(&o, "price_sensitivity");
        assert_true(tu->activity >= 0 && tu->activity <= 1 && ps >= 0 && ps <= 1);

        snprintf(key, sizeof(key), "entity:account:u%u", u);
        o = s_value(w, key);
        s_has_str(&o, "name");
        assert_int_equal(s_geo(&o), tu->geo);
        tu->followers = s_int(&o, "followers");
        assert_int_equal(s_int(&o, "is_seller"), u <= T_SELLERS);
        if (u <= T_SELLERS) assert_int_equal(tu->geo, w->sellers[u].geo);

        snprintf(key, sizeof(key), "user:%u:follows", u);
        o = s_value(w, key);
        tu->n_follows = s_refs(&o, "seller", "s", T_SELLERS, 40, tu->follows, NULL);
        assert_true(tu->n_follows >= 5);
        s_no_dups(tu->follows, tu->n_follows);
        snprintf(key, sizeof(key), "user:%u:following_accounts", u);
        o = s_value(w, key);
        tu->n_following = s_refs(&o, "account", "u", T_USERS, 40, tu->following, NULL);
        assert_true(tu->n_following >= 5);
        assert_false(s_has(tu->following, tu->n_following, u));
        s_no_dups(tu->following, tu->n_following);
    }
}

/* Per-user lists that reference the entities and the follow graph. */
static void s_check_user(t_world_t *w, uint32_t u, size_t *counts) {
    char key[64];
    uint32_t idx[300];
    double score[300];
    const t_user_t *tu = &w->users[u];
    msgpack_object o;
    msgpack_zone_clear(w->zone);

    snprintf(key, sizeof(key), "user:%u:follows_live", u);
    o = s_value(w, key);
    uint32_t live[40];
    size_t n_live = s_refs(&o, "livestream", "ls", T_SELLERS, 40, live, score);
    s_check_scores(score, n_live, true);
    size_t want_live = 0;
    for (size_t i = 0; i < tu->n_follows; i++)
        want_live += w->sellers[tu->follows[i]].is_live;
    assert_int_equal(n_live, want_live);
    for (size_t i = 0; i < n_live; i++) {
        assert_true(w->sellers[live[i]].is_live);
        assert_true(s_has(tu->follows, tu->n_follows, live[i]));
    }

    snprintf(key, sizeof(key), "user:%u:follows_products", u);
    o = s_value(w, key);
    uint32_t fprod[200];
    size_t n_fprod = s_refs(&o, "product", "p", w->n_products, 200, fprod, score);
    s_check_scores(score, n_fprod, true);
    size_t want_fprod = 0;
    for (size_t i = 0; i < tu->n_follows; i++)
        want_fprod += w->sellers[tu->follows[i]].n_products;
    assert_int_equal(n_fprod, want_fprod < 200 ? want_fprod : 200);
    for (size_t i = 0; i < n_fprod; i++) {
        assert_true(s_has(tu->follows, tu->n_follows, w->products[fprod[i]].seller));
        if (i > 0) assert_true(w->products[fprod[i]].sales <= w->products[fprod[i - 1]].sales);
    }

    snprintf(key, sizeof(key), "user:%u:category_products", u);
    o = s_value(w, key);
    size_t n = s_refs(&o, "product", "p", w->n_products, 300, idx, score);
    assert_true(n > 0);
    s_check_scores(score, n, true);
    for (size_t i = 0; i < n; i++) {
        int c = w->products[idx[i]].cat;
        assert_true(c == tu->cats[0] || c == tu->cats[1] || c == tu->cats[2]);
        if (i > 0) assert_true(w->products[idx[i]].sales <= w->products[idx[i - 1]].sales);
    }

    /* mutuals: exactly the followed accounts that follow back */
    snprintf(key, sizeof(key), "user:%u:mutuals", u);
    o = s_value(w, key);
    uint32_t mutuals[40];
    size_t n_mutuals = s_refs(&o, "account", "u", T_USERS, 40, mutuals, score);
    size_t want_mutuals = 0;
    for (size_t i = 0; i < tu->n_following; i++) {
        const t_user_t *b = &w->users[tu->following[i]];
        if (s_has(b->following, b->n_following, u)) {
            want_mutuals++;
            assert_true(s_has(mutuals, n_mutuals, tu->following[i]));
        }
    }
    assert_int_equal(n_mutuals, want_mutuals);
    for (size_t i = 0; i < n_mutuals; i++) {
        assert_true(score[i] == 1.0);
        const t_user_t *b = &w->users[mutuals[i]];
        assert_true(s_has(tu->following, tu->n_following, mutuals[i]));
        assert_true(s_has(b->following, b->n_following, u));
    }
    counts[0] += n_mutuals;

    snprintf(key, sizeof(key), "user:%u:recent_interactions", u);
    o = s_value(w, key);
    n = s_refs(&o, "account", "u", T_USERS, 20, idx, score);
    s_check_scores(score, n, false);
    for (size_t i = 0; i < n; i++)
        assert_true(s_has(tu->following, tu->n_following, idx[i]));
    s_no_dups(idx, n);
    counts[1] += n;

    snprintf(key, sizeof(key), "user:%u:upcoming_live", u);
    o = s_value(w, key);
    n = s_refs(&o, "update", "up", w->n_updates, 10, idx, score);
    s_check_scores(score, n, false);
    for (size_t i = 0; i < n; i++) {
        const t_update_t *up = &w->updates[idx[i]];
        assert_true(up->going_live);
        assert_true(s_has(tu->follows, tu->n_follows, up->seller));
        if (i > 0) assert_true(up->starts >= w->updates[idx[i - 1]].starts);
    }
    counts[2] += n;

    snprintf(key, sizeof(key), "user:%u:watched", u);
    o = s_value(w, key);
    uint32_t watched[15];
    size_t n_watched = s_refs(&o, "product", "p", w->n_products, 15, watched, NULL);
    s_no_dups(watched, n_watched);

    snprintf(key, sizeof(key), "user:%u:price_drops", u);
    o = s_value(w, key);
    n = s_refs(&o, "update", "up", w->n_updates, 8, idx, score);
    for (size_t i = 0; i < n; i++) {
        const t_update_t *up = &w->updates[idx[i]];
        assert_false(up->going_live);
        assert_true(s_has(watched, n_watched, up->product));
        assert_true(up->new_price < up->old_price);
        assert_true(score[i] == up->drop_pct);
        if (i > 0) assert_true(score[i] <= score[i - 1]);
    }
    counts[3] += n;

    /* seen: refs that exist, taken from follows_live and follows_products */
    snprintf(key, sizeof(key), "user:%u:seen", u);
    o = s_value(w, key);
    assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
    for (uint32_t i = 0; i < o.via.array.size; i++) {
        const msgpack_object *ref = &o.via.array.ptr[i];
        uint32_t x;
        if (fmx_mp_str_eq(fmx_mp_map_get(ref, "type"), "livestream")) {
            x = s_id_field(ref, "id", "ls", T_SELLERS);
            assert_true(s_has(live, n_live, x));
        } else {
            assert_true(fmx_mp_str_eq(fmx_mp_map_get(ref, "type"), "product"));
            x = s_id_field(ref, "id", "p", w->n_products);
            assert_true(s_has(fprod, n_fprod, x));
        }
    }
    counts[4] += o.via.array.size;
    counts[5] += n_live + n_fprod;

    snprintf(key, sizeof(key), "user:%u:blocked", u);
    o = s_value(w, key);
    assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
    assert_true(o.via.array.size <= 3);
    for (uint32_t i = 0; i < o.via.array.size; i++) {
        const msgpack_object *id = &o.via.array.ptr[i];
        uint32_t s = s_parse_id(id, "s"), a = s_parse_id(id, "u");
        assert_true((s >= 1 && s <= T_SELLERS) || (a >= 1 && a <= T_USERS));
        if (s) assert_false(s_has(tu->follows, tu->n_follows, s));
        if (a) assert_false(a == u || s_has(tu->following, tu->n_following, a));
    }
    counts[6] += o.via.array.size;
}

/* Area under the ROC curve of value against label (ties count half). */
static double s_auc(double *v, const uint8_t *label, size_t n) {
    size_t *order = malloc(n * sizeof(*order));
    assert_non_null(order);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    /* shell sort: no qsort comparator, which would need the values in a global */
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++)
            for (size_t j = i; j >= gap && v[order[j - gap]] > v[order[j]]; j -= gap) {
                size_t t = order[j];
                order[j] = order[j - gap];
                order[j - gap] = t;
            }
    double rank_sum = 0;
    size_t pos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[order[j]] == v[order[i]])
            j++;
        double rank = (double)(i + j + 1) / 2.0; /* average 1-based rank of the tie group */
        for (size_t k = i; k < j; k++)
            if (label[order[k]]) rank_sum += rank, pos++;
        i = j;
    }
    free(order);
    size_t neg = n - pos;
    assert_true(pos > 0 && neg > 0);
    return (rank_sum - (double)pos * (double)(pos + 1) / 2.0) / ((double)pos * (double)neg);
}

static void s_check_interactions(t_world_t *w) {
    msgpack_zone_clear(w->zone);
    msgpack_object meta = s_value(w, "interactions:meta");
    int64_t chunks = s_int(&meta, "chunks"), rows = s_int(&meta, "rows"), positives = s_int(&meta, "positives");
    assert_true(rows >= 15 * T_USERS && rows <= 20 * T_USERS);
    assert_int_equal(chunks, (rows + 9999) / 10000);
    double *quality = malloc((size_t)rows * sizeof(double)), *rating = malloc((size_t)rows * sizeof(double));
    uint8_t *lq = malloc((size_t)rows), *lr = malloc((size_t)rows);
    assert_true(quality && rating && lq && lr);
    size_t nq = 0, nr = 0;
    int64_t seen_rows = 0, seen_pos = 0;
    char key[64];
    for (int64_t k = 0; k < chunks; k++) {
        msgpack_zone_clear(w->zone);
        snprintf(key, sizeof(key), "interactions:%" PRId64, k);
        msgpack_object chunk = s_value(w, key);
        assert_int_equal(chunk.type, MSGPACK_OBJECT_ARRAY);
        assert_true(chunk.via.array.size >= 1 && chunk.via.array.size <= 10000);
        for (uint32_t i = 0; i < chunk.via.array.size; i++) {
            const msgpack_object *row = &chunk.via.array.ptr[i];
            assert_int_equal(row->type, MSGPACK_OBJECT_ARRAY);
            assert_int_equal(row->via.array.size, 4);
            const msgpack_object *f = row->via.array.ptr;
            assert_int_equal(f[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
            assert_true(f[0].via.u64 >= 1 && f[0].via.u64 <= T_USERS);
            assert_int_equal(f[3].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
            assert_true(f[3].via.u64 <= 1);
            uint8_t label = (uint8_t)f[3].via.u64;
            if (fmx_mp_str_eq(&f[1], "livestream")) {
                uint32_t x = s_parse_id(&f[2], "ls");
                assert_true(x >= 1 && x <= T_SELLERS);
                assert_true(w->sellers[x].is_live);
                quality[nq] = w->sellers[x].quality;
                lq[nq++] = label;
            } else {
                assert_true(fmx_mp_str_eq(&f[1], "product"));
                uint32_t x = s_parse_id(&f[2], "p");
                assert_true(x >= 1 && x <= w->n_products);
                rating[nr] = w->products[x].rating;
                lr[nr++] = label;
            }
            seen_rows++;
            seen_pos += label;
        }
    }
    snprintf(key, sizeof(key), "interactions:%" PRId64, chunks);
    msgpack_object o;
    assert_false(s_get(w, key, &o));
    assert_int_equal(seen_rows, rows);
    assert_int_equal(seen_pos, positives);
    /* both labels, in a plausible mix, and both kinds of item */
    assert_true(positives > rows / 10 && positives < rows * 6 / 10);
    assert_true(nq > (size_t)rows / 4 && nr > (size_t)rows / 4);
    /* the hidden click model leaves a clear signal in single features */
    double auc_q = s_auc(quality, lq, nq), auc_r = s_auc(rating, lr, nr);
    assert_true(auc_q > 0.65);
    assert_true(auc_r > 0.6);
    free(quality);
    free(rating);
    free(lq);
    free(lr);
}

static void s_check_geo_lists(t_world_t *w, size_t *n_new, size_t *n_stores) {
    char key[64];
    uint32_t idx[400];
    double score[400];
    for (int g = 0; g < 8; g++) {
        msgpack_zone_clear(w->zone);
        snprintf(key, sizeof(key), "geo:%s:trending_live", t_geos[g]);
        msgpack_object o = s_value(w, key);
        size_t n = s_refs(&o, "livestream", "ls", T_SELLERS, 300, idx, score);
        s_check_scores(score, n, true);
        size_t want = 0;
        for (uint32_t i = 1; i <= T_SELLERS; i++)
            want += w->sellers[i].geo == g && w->sellers[i].is_live;
        assert_int_equal(n, want);
        for (size_t i = 0; i < n; i++) {
            assert_true(w->sellers[idx[i]].is_live && w->sellers[idx[i]].geo == g);
            if (i > 0) assert_true(w->sellers[idx[i]].viewers <= w->sellers[idx[i - 1]].viewers);
        }

        snprintf(key, sizeof(key), "geo:%s:new_sellers", t_geos[g]);
        o = s_value(w, key);
        n = s_refs(&o, "livestream", "ls", T_SELLERS, 100, idx, score);
        for (size_t i = 0; i < n; i++) {
            const t_seller_t *s = &w->sellers[idx[i]];
            assert_true(s->is_new && s->is_live && s->geo == g);
            assert_true(score[i] >= 0 && score[i] <= 1);
            if (i > 0) assert_true(score[i] <= score[i - 1] && s->viewers <= w->sellers[idx[i - 1]].viewers);
        }
        *n_new += n;

        snprintf(key, sizeof(key), "geo:%s:stores", t_geos[g]);
        o = s_value(w, key);
        n = s_refs(&o, "store", "st", w->n_stores, 400, idx, score);
        want = 0;
        for (uint32_t i = 1; i <= w->n_stores; i++)
            want += w->stores[i].open && w->stores[i].geo == g;
        assert_int_equal(n, want);
        for (size_t i = 0; i < n; i++) {
            assert_true(w->stores[idx[i]].open && w->stores[idx[i]].geo == g);
            assert_true(score[i] >= 0 && score[i] <= 1);
            if (i > 0) assert_true(score[i] <= score[i - 1] && w->stores[idx[i]].orders <= w->stores[idx[i - 1]].orders);
        }
        *n_stores += n;
    }
    for (int c = 0; c < 12; c++) {
        msgpack_zone_clear(w->zone);
        snprintf(key, sizeof(key), "category:%s:products", t_cats[c]);
        msgpack_object o = s_value(w, key);
        size_t n = s_refs(&o, "product", "p", w->n_products, 300, idx, score);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(w->products[idx[i]].cat, c);
            assert_true(score[i] >= 0 && score[i] <= 1);
            if (i > 0) assert_true(score[i] <= score[i - 1]);
        }
    }
}

static void test_contents(void **state) {
    s_fx_t *fx = *state;
    if (!s_have_seeder(fx)) skip();
    char out[128], models[128], err[FMX_ERR_LEN];
    snprintf(out, sizeof(out), "%s/store", fx->dir);
    snprintf(models, sizeof(models), "%s/models", fx->dir);
    assert_int_equal(s_seed(fx, out, models, "1000", "1"), 0);

    fmx_store_t *store = fmx_store_open(out, 1, 0, err);
    assert_non_null(store);
    t_world_t *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    w->txn = fmx_store_read_begin(store, err);
    assert_non_null(w->txn);
    w->zone = msgpack_zone_new(65536);

    msgpack_object meta = s_value(w, "meta:seed");
    assert_int_equal(s_int(&meta, "users"), T_USERS);
    assert_int_equal(s_int(&meta, "sellers"), T_SELLERS);
    assert_int_equal(s_int(&meta, "seed"), 1);
    assert_int_equal(s_int(&meta, "version"), 2);

    s_load_entities(w);
    /* account followers are the in-degree of the follow graph */
    int64_t *indeg = calloc(T_USERS + 1, sizeof(*indeg));
    assert_non_null(indeg);
    for (uint32_t u = 1; u <= T_USERS; u++)
        for (size_t i = 0; i < w->users[u].n_following; i++)
            indeg[w->users[u].following[i]]++;
    for (uint32_t u = 1; u <= T_USERS; u++)
        assert_int_equal(indeg[u], w->users[u].followers);
    free(indeg);

    /* mutuals, recent, upcoming, price drops, seen, seen-eligible, blocked */
    size_t counts[7] = {0};
    for (uint32_t u = 1; u <= T_USERS; u++)
        s_check_user(w, u, counts);
    /* every family is exercised, so the checks above are not vacuous */
    for (int i = 0; i < 7; i++)
        assert_true(counts[i] > 0);
    /* seen is about 5 % of what the feeds retrieve */
    assert_true(counts[4] * 100 > counts[5] * 3 && counts[4] * 100 < counts[5] * 8);

    size_t n_new = 0, n_stores = 0;
    s_check_geo_lists(w, &n_new, &n_stores);
    assert_true(n_new > 0 && n_stores > 0);
    s_check_interactions(w);

    fmx_store_txn_end(&w->txn);
    msgpack_zone_free(w->zone);
    free(w);
    fmx_store_close(&store);
}

/* ---- the demo models, through the real score node ---- */

typedef struct {
    const char *name;
    double value;
} t_field_t;

/* Scores two entities of `type` with model; asserts the second ranks first. */
static void s_rank_pair(const fmx_node_type_t *score_type, void *st, fmx_actor_env_t *env, const char *model,
                        const char *type, const t_field_t *lo, const t_field_t *hi, size_t n_fields) {
    char err[FMX_ERR_LEN];
    msgpack_zone *z = msgpack_zone_new(4096);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    fmx_mp_pack_cstr(&pk, "model");
    fmx_mp_pack_cstr(&pk, model);
    msgpack_pack_array(&pk, 2);
    const t_field_t *fields[2] = {lo, hi};
    for (int i = 0; i < 2; i++) {
        msgpack_pack_map(&pk, 3);
        fmx_mp_pack_cstr(&pk, "id");
        fmx_mp_pack_cstr(&pk, i ? "hi" : "lo");
        fmx_mp_pack_cstr(&pk, "type");
        fmx_mp_pack_cstr(&pk, type);
        fmx_mp_pack_cstr(&pk, "fields");
        msgpack_pack_map(&pk, (uint32_t)n_fields);
        for (size_t f = 0; f < n_fields; f++) {
            fmx_mp_pack_cstr(&pk, fields[i][f].name);
            msgpack_pack_double(&pk, fields[i][f].value);
        }
    }
    msgpack_object params;
    size_t off = 0;
    /* params and the entity array share the buffer: EXTRA_BYTES */
    assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, z, &params), MSGPACK_UNPACK_EXTRA_BYTES);
    fmx_entity_list_t in, out;
    assert_int_equal(fmx_entity_list_decode_frame(sb.data + off, sb.size - off, z, &in, err), 0);
    msgpack_object ctx = {.type = MSGPACK_OBJECT_NIL};
    fmx_task_t task = {.node = FMX_STR_LIT("scored"),
                       .params = &params,
                       .context = &ctx,
                       .inputs = &in,
                       .n_inputs = 1,
                       .zone = z,
                       .env = env,
                       .state = st};
    fmx_entity_list_init(&out);
    if (score_type->run(&task, &out, err) != 0) {
        fprintf(stderr, "model %s: %s\n", model, err);
        fail();
    }
    assert_int_equal(out.n, 2);
    assert_memory_equal(out.v[0].id.ptr, "hi", 2);
    assert_true(out.v[0].score > out.v[1].score);
    msgpack_sbuffer_destroy(&sb);
    msgpack_zone_free(z);
}

static void test_models(void **state) {
    s_fx_t *fx = *state;
    if (!s_have_seeder(fx)) skip();
    char out[128], models[128], path[256], err[FMX_ERR_LEN];
    snprintf(out, sizeof(out), "%s/store", fx->dir);
    snprintf(models, sizeof(models), "%s/models", fx->dir);
    assert_int_equal(s_seed(fx, out, models, "100", "1"), 0);
    const char *names[] = {"linear_v1", "linear_v2", "share_v1", "push_v1", "explore_v1"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "%s/%s.weights", models, names[i]);
        assert_int_equal(access(path, R_OK), 0);
    }
    fmx_store_t *store = fmx_store_open(out, 1, 0, err);
    assert_non_null(store);
    const fmx_node_type_t *score_type = fmx_node_type_find("score");
    assert_non_null(score_type);
    fmx_actor_env_t env = {.node_type = "score", .data_dir = fx->dir, .store = store};
    void *st = NULL;
    assert_int_equal(score_type->init(&st, &env, err), 0);

    /* a live stream beats an offline one */
    const t_field_t off_stream[] = {{"is_live", 0}, {"viewers", 0}, {"quality", 0.5}};
    const t_field_t on_stream[] = {{"is_live", 1}, {"viewers", 100}, {"quality", 0.5}};
    s_rank_pair(score_type, st, &env, "linear_v1", "livestream", off_stream, on_stream, 3);
    s_rank_pair(score_type, st, &env, "linear_v2", "livestream", off_stream, on_stream, 3);
    /* more reach wins the share sheet, other things equal */
    const t_field_t few[] = {{"followers", 3}, {"is_seller", 0}};
    const t_field_t many[] = {{"followers", 900}, {"is_seller", 0}};
    s_rank_pair(score_type, st, &env, "share_v1", "account", few, many, 2);
    /* a 40 % drop beats a 5 % one; a stream in 5 min beats one in 2 h */
    const t_field_t small_drop[] = {{"drop_pct", 0.05}, {"starts_in_min", 0}};
    const t_field_t big_drop[] = {{"drop_pct", 0.4}, {"starts_in_min", 0}};
    s_rank_pair(score_type, st, &env, "push_v1", "update", small_drop, big_drop, 2);
    const t_field_t late[] = {{"drop_pct", 0}, {"starts_in_min", 120}};
    const t_field_t soon[] = {{"drop_pct", 0}, {"starts_in_min", 5}};
    s_rank_pair(score_type, st, &env, "push_v1", "update", late, soon, 2);
    /* an open, well rated, fast store beats a closed, slow one */
    const t_field_t bad_store[] = {{"is_open", 0}, {"rating", 2.0}, {"orders", 10}, {"delivery_min", 90}};
    const t_field_t good_store[] = {{"is_open", 1}, {"rating", 4.5}, {"orders", 10}, {"delivery_min", 20}};
    s_rank_pair(score_type, st, &env, "explore_v1", "store", bad_store, good_store, 4);
    const t_field_t slow[] = {{"is_open", 1}, {"rating", 4.5}, {"orders", 10}, {"delivery_min", 80}};
    s_rank_pair(score_type, st, &env, "explore_v1", "store", slow, good_store, 4);

    score_type->fini(&st);
    fmx_store_close(&store);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deterministic, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_output, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_contents, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_models, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
