/* test_seed.c - feedmix-seed: determinism and the shape of the demo data.
 *
 * Runs the real binary (build/bin/feedmix-seed, found next to this test's build/test/ dir)
 * into temp dirs. Same seed -> every key/value pair identical, compared through an LMDB cursor;
 * another seed -> different data. Then checks the keys the feeds read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <lmdb.h>
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

/* Runs the seeder; returns its exit status. */
static int s_seed(const s_fx_t *fx, const char *out, const char *models, const char *users, const char *seed) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[12];
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
        argv[i] = NULL;
        execv(fx->seed_bin, (char *const *)argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
    /* 300 users x 3 keys, 30 sellers x 2, ~150 products, 8 geos, 12 categories, meta */
    long pairs = s_compare(a, b);
    assert_true(pairs > 300 * 3 + 30 * 2 + 90 + 8 + 12);
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
    fmx_store_txn_end(&txn);
    fmx_store_close(&store);

    assert_int_not_equal(s_seed(fx, a, NULL, "0", "7"), 0);
    assert_int_not_equal(s_seed(fx, a, NULL, "ten", "7"), 0);
}

/* Unpacks a store value into a zone. */
static msgpack_object s_value(fmx_store_txn_t *txn, const char *key, msgpack_zone *zone) {
    char err[FMX_ERR_LEN];
    const void *v;
    size_t n;
    msgpack_object o = {.type = MSGPACK_OBJECT_NIL};
    int rc = fmx_store_get(txn, key, strlen(key), &v, &n, err);
    if (rc != 0) {
        fprintf(stderr, "missing key %s\n", key);
        fail();
    }
    size_t off = 0;
    assert_int_equal(msgpack_unpack(v, n, &off, zone, &o), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, n);
    return o;
}

static void test_contents(void **state) {
    s_fx_t *fx = *state;
    if (!s_have_seeder(fx)) skip();
    char out[128], models[128], path[256], err[FMX_ERR_LEN], key[128];
    snprintf(out, sizeof(out), "%s/store", fx->dir);
    snprintf(models, sizeof(models), "%s/models", fx->dir);
    assert_int_equal(s_seed(fx, out, models, "200", "1"), 0);

    fmx_store_t *store = fmx_store_open(out, 1, 0, err);
    assert_non_null(store);
    fmx_store_txn_t *txn = fmx_store_read_begin(store, err);
    assert_non_null(txn);
    msgpack_zone *zone = msgpack_zone_new(8192);

    msgpack_object meta = s_value(txn, "meta:seed", zone);
    int64_t i64 = 0;
    assert_int_equal(fmx_mp_get_int(&meta, "users", &i64), 0);
    assert_int_equal(i64, 200);
    assert_int_equal(fmx_mp_get_int(&meta, "sellers", &i64), 0);
    assert_int_equal(i64, 20);

    msgpack_object user = s_value(txn, "user:42", zone);
    fmx_str_t geo;
    assert_int_equal(fmx_mp_get_str(&user, "geo", &geo), 0);
    const msgpack_object *cats = fmx_mp_map_get(&user, "categories");
    assert_non_null(cats);
    assert_int_equal(cats->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(cats->via.array.size, 3);

    msgpack_object follows = s_value(txn, "user:42:follows", zone);
    assert_int_equal(follows.type, MSGPACK_OBJECT_ARRAY);
    assert_true(follows.via.array.size >= 5 && follows.via.array.size <= 40);
    msgpack_object live = s_value(txn, "user:42:follows_live", zone);
    assert_int_equal(live.type, MSGPACK_OBJECT_ARRAY);
    assert_true(live.via.array.size >= 1);
    assert_true(live.via.array.size <= follows.via.array.size);
    for (uint32_t i = 0; i < live.via.array.size; i++) {
        const msgpack_object *ref = &live.via.array.ptr[i];
        fmx_str_t id;
        assert_int_equal(fmx_mp_get_str(ref, "id", &id), 0);
        assert_true(fmx_mp_str_eq(fmx_mp_map_get(ref, "type"), "livestream"));
        snprintf(key, sizeof(key), "entity:livestream:%.*s", (int)id.len, id.ptr);
        msgpack_object ls = s_value(txn, key, zone);
        assert_int_equal(fmx_mp_get_int(&ls, "is_live", &i64), 0);
        assert_int_equal(i64, 1);
        /* the stream's seller is one the user follows */
        fmx_str_t seller;
        assert_int_equal(fmx_mp_get_str(&ls, "seller_id", &seller), 0);
        bool followed = false;
        for (uint32_t j = 0; j < follows.via.array.size && !followed; j++) {
            fmx_str_t s;
            assert_int_equal(fmx_mp_get_str(&follows.via.array.ptr[j], "id", &s), 0);
            followed = s.len == seller.len && memcmp(s.ptr, seller.ptr, s.len) == 0;
        }
        assert_true(followed);
    }

    /* trending: live streams of that geo, best first, scores normalised to 0..1 */
    msgpack_object trending = s_value(txn, "geo:US:trending_live", zone);
    assert_int_equal(trending.type, MSGPACK_OBJECT_ARRAY);
    assert_true(trending.via.array.size >= 1 && trending.via.array.size <= 300);
    double prev = 2.0, score;
    for (uint32_t i = 0; i < trending.via.array.size; i++) {
        const msgpack_object *ref = &trending.via.array.ptr[i];
        assert_int_equal(fmx_mp_get_double(ref, "score", &score), 0);
        assert_true(score <= prev && score >= 0.0 && score <= 1.0);
        if (i == 0) assert_true(score == 1.0);
        prev = score;
        fmx_str_t id;
        assert_int_equal(fmx_mp_get_str(ref, "id", &id), 0);
        snprintf(key, sizeof(key), "entity:livestream:%.*s", (int)id.len, id.ptr);
        msgpack_object ls = s_value(txn, key, zone);
        assert_true(fmx_mp_str_eq(fmx_mp_map_get(&ls, "geo"), "US"));
        assert_int_equal(fmx_mp_get_int(&ls, "is_live", &i64), 0);
        assert_int_equal(i64, 1);
    }
    msgpack_object products = s_value(txn, "category:fashion:products", zone);
    assert_int_equal(products.type, MSGPACK_OBJECT_ARRAY);
    msgpack_object seller = s_value(txn, "entity:seller:s1", zone);
    assert_int_equal(fmx_mp_get_int(&seller, "followers", &i64), 0);
    bool is_new;
    assert_int_equal(fmx_mp_get_bool(&seller, "is_new", &is_new), 0);
    msgpack_object product = s_value(txn, "entity:product:p1", zone);
    double price;
    assert_int_equal(fmx_mp_get_double(&product, "price", &price), 0);
    assert_true(price > 0);

    fmx_store_txn_end(&txn);
    msgpack_zone_free(zone);

    /* The models load in the score node and rank a live, watched stream first. */
    const fmx_node_type_t *score_type = fmx_node_type_find("score");
    fmx_actor_env_t env = {.node_type = "score", .data_dir = fx->dir, .store = store};
    void *st = NULL;
    assert_int_equal(score_type->init(&st, &env, err), 0);
    snprintf(path, sizeof(path), "%s/linear_v2.weights", models);
    assert_int_equal(access(path, R_OK), 0);
    const char *names[] = {"linear_v1", "linear_v2"};
    for (size_t m = 0; m < 2; m++) {
        msgpack_zone *z = msgpack_zone_new(4096);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        /* params {model: name}; entities: an offline stream, then a live one */
        msgpack_pack_map(&pk, 1);
        fmx_mp_pack_cstr(&pk, "model");
        fmx_mp_pack_cstr(&pk, names[m]);
        msgpack_pack_array(&pk, 2);
        const int live_flags[] = {0, 1};
        for (int i = 0; i < 2; i++) {
            msgpack_pack_map(&pk, 3);
            fmx_mp_pack_cstr(&pk, "id");
            fmx_mp_pack_cstr(&pk, i ? "on" : "off");
            fmx_mp_pack_cstr(&pk, "type");
            fmx_mp_pack_cstr(&pk, "livestream");
            fmx_mp_pack_cstr(&pk, "fields");
            msgpack_pack_map(&pk, 3);
            fmx_mp_pack_cstr(&pk, "is_live");
            msgpack_pack_int(&pk, live_flags[i]);
            fmx_mp_pack_cstr(&pk, "viewers");
            msgpack_pack_int(&pk, live_flags[i] * 100);
            fmx_mp_pack_cstr(&pk, "quality");
            msgpack_pack_double(&pk, 0.5);
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
                           .env = &env,
                           .state = st};
        fmx_entity_list_init(&out);
        assert_int_equal(score_type->run(&task, &out, err), 0);
        assert_int_equal(out.n, 2);
        assert_memory_equal(out.v[0].id.ptr, "on", 2);
        assert_true(out.v[0].score > out.v[1].score);
        msgpack_sbuffer_destroy(&sb);
        msgpack_zone_free(z);
    }
    score_type->fini(&st);
    fmx_store_close(&store);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deterministic, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_contents, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
