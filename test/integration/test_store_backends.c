/* test_store_backends.c - the two store backends hold and serve the same thing: the real
 * feedmix-seed writes the same data set into LMDB (the harness's store) and into a real
 * redis-server (test/support/redis.h); every key and value must be equal; then a real broker and
 * one actor per node type serve `home` for a few users once over each backend, and the replies
 * must hold the same item ids in the same order, carousels included.
 *
 * The Redis server is a child of this process, and the harness's teardown wants no child left:
 * it is started by the test that needs it and stopped before h_stop_all. Without redis-server
 * the whole file is skipped (exit 77). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/store.h"
#include "test/integration/harness.h"
#include "test/support/redis.h"

#define REPLY_TIMEOUT_MS 5000
#define S_USERS 4
#define S_IDS_MAX 16384
#define S_BATCH 500

static const int64_t s_users[S_USERS] = {1, 7, 42, 150};

/* What the LMDB run served, per user, for the Redis run to compare against. */
static char s_lmdb_ids[S_USERS][S_IDS_MAX];
static bool s_lmdb_done;
static redis_t s_redis;

/* Appends "id,id,[carousel:id,id],..." of an items array. */
static void s_ids(const msgpack_object *items, char *out, size_t cap, size_t *len, int depth)
{
    assert_non_null(items);
    assert_int_equal(items->type, MSGPACK_OBJECT_ARRAY);
    for (uint32_t i = 0; i < items->via.array.size; i++) {
        const msgpack_object *it = &items->via.array.ptr[i];
        const msgpack_object *id = h_get(it, "id"), *sub = h_get(it, "items");
        assert_non_null(id);
        assert_int_equal(id->type, MSGPACK_OBJECT_STR);
        int w = snprintf(out + *len, cap - *len, "%s%.*s%s", i ? "," : "", (int)id->via.str.size, id->via.str.ptr,
                         sub && depth < 4 ? ":[" : "");
        assert_true(w > 0 && (size_t)w < cap - *len);
        *len += (size_t)w;
        if (sub && depth < 4) {
            s_ids(sub, out, cap, len, depth + 1);
            assert_true(*len + 2 < cap);
            out[(*len)++] = ']';
            out[*len] = '\0';
        }
    }
}

/* Serves `home` for every test user into ids[] (asserting status ok and some items). */
static void s_serve_home(h_t *h, char ids[S_USERS][S_IDS_MAX])
{
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    for (int u = 0; u < S_USERS; u++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        h_pack_request(&sb, "home", s_users[u], 3000);
        h_reply_t r;
        int rc = h_call_ok(c, sb.data, sb.size, REPLY_TIMEOUT_MS, &r);
        msgpack_sbuffer_destroy(&sb);
        if (rc != 0 || !h_status_is(&r, "ok")) {
            fprintf(stderr, "user %lld: not served ok (rc %d)\n", (long long)s_users[u], rc);
            h_print("reply", r.root);
        }
        assert_int_equal(rc, 0);
        assert_true(h_status_is(&r, "ok"));
        const msgpack_object *items = h_get(r.root, "items");
        assert_non_null(items);
        assert_true(items->via.array.size > 0);
        size_t len = 0;
        ids[u][0] = '\0';
        s_ids(items, ids[u], S_IDS_MAX, &len, 0);
        h_reply_fini(&r);
    }
    h_client_destroy(&c);
}

/* Starts the broker and one actor of every type the feeds use, with `extra` args each. */
static void s_start_cluster(h_t *h, const char *const *extra)
{
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    assert_true(n > 0);
    assert_true(h_start_broker(h, NULL) > 0);
    for (int i = 0; i < n; i++)
        assert_true(h_start_actor(h, types[i], NULL, extra) > 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(h_wait_ready(h, types[i], 1, 10000), 0);
}

static void test_home_over_lmdb(void **state)
{
    h_t *h = *state;
    s_start_cluster(h, NULL);
    s_serve_home(h, s_lmdb_ids);
    s_lmdb_done = true;
    h_pass(h);
}

/* Every key of the LMDB store, compared with one mget per batch against the Redis store; then
 * the key counts. Returns the number of keys. */
static size_t s_compare_stores(h_t *h, fmx_store_t *redis)
{
    char path[128], err[FMX_ERR_LEN];
    snprintf(path, sizeof path, "%s/store", h->dir);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);

    const char *keys[S_BATCH];
    size_t key_lens[S_BATCH], val_lens[S_BATCH], lmdb_lens[S_BATCH], total = 0, mismatches = 0;
    const void *vals[S_BATCH], *lmdb_vals[S_BATCH];
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        size_t n = 0;
        for (; rc == 0 && n < S_BATCH; n++, rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            keys[n] = k.mv_data; /* valid while the LMDB read transaction is */
            key_lens[n] = k.mv_size;
            lmdb_vals[n] = v.mv_data;
            lmdb_lens[n] = v.mv_size;
        }
        fmx_store_txn_t *rt = fmx_store_read_begin(redis, err);
        assert_non_null(rt);
        if (fmx_store_mget(rt, n, keys, key_lens, vals, val_lens, err) != 0) fail_msg("mget: %s", err);
        for (size_t i = 0; i < n; i++) {
            bool same = vals[i] && val_lens[i] == lmdb_lens[i] && memcmp(vals[i], lmdb_vals[i], val_lens[i]) == 0;
            if (!same && mismatches++ < 5)
                fprintf(stderr, "key %.*s: lmdb %zu bytes, redis %s %zu bytes\n", (int)key_lens[i], keys[i],
                        lmdb_lens[i], vals[i] ? "has" : "lacks", val_lens[i]);
        }
        fmx_store_txn_end(&rt);
        total += n;
    }
    assert_int_equal(rc, MDB_NOTFOUND);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    assert_int_equal(mismatches, 0);

    /* Nothing more on the Redis side either. */
    redisContext *c = redisConnect("127.0.0.1", s_redis.port);
    assert_true(c && !c->err);
    redisReply *r = redisCommand(c, "DBSIZE");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long dbsize = r->integer;
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(dbsize, (long long)total);
    return total;
}

/* INFO commandstats calls of one command. */
static long long s_calls(const char *cmd)
{
    redisContext *c = redisConnect("127.0.0.1", s_redis.port);
    assert_true(c && !c->err);
    redisReply *r = redisCommand(c, "INFO commandstats");
    assert_true(r && r->type == REDIS_REPLY_STRING);
    char name[64];
    snprintf(name, sizeof name, "cmdstat_%s:calls=", cmd);
    const char *at = strstr(r->str, name);
    long long n = at ? strtoll(at + strlen(name), NULL, 10) : 0;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static void test_redis_seed_and_home(void **state)
{
    h_t *h = *state;
    assert_true(s_lmdb_done); /* test_home_over_lmdb ran first */
    int rc = redis_start(&s_redis);
    if (rc != 0)
        fprintf(stderr, "%s\n", s_redis.why);
    assert_int_equal(rc, 0);

    char users[16];
    snprintf(users, sizeof users, "%d", H_SEED_USERS);
    const char *argv[] = {"feedmix-seed", "--out", s_redis.url, "--users", users, NULL};
    int status = 0;
    assert_int_equal(h_run(h, "seed-redis", argv, 60000, &status), 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *log = h_read_log(h, "seed-redis");
        fprintf(stderr, "feedmix-seed --out %s failed:\n%s\n", s_redis.url, log ? log : "");
        free(log);
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    char err[FMX_ERR_LEN];
    fmx_store_t *redis = fmx_store_open(s_redis.url, 1, 0, err);
    assert_non_null(redis);
    size_t keys = s_compare_stores(h, redis);
    fmx_store_close(&redis);
    assert_true(keys > H_SEED_USERS); /* a record per user at least */

    /* A second seed of the same data set is recognised through meta:seed and leaves it be. */
    assert_int_equal(h_run(h, "seed-redis-again", argv, 60000, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *log = h_read_log(h, "seed-redis-again");
    assert_non_null(log);
    assert_non_null(strstr(log, "already holds"));
    free(log);

    /* The actors' --store given twice: the later (Redis) one wins, as feedmix-supervise would
     * pass a cluster.yaml `store: { backend: redis, url: ... }`. */
    long long mgets = s_calls("mget");
    const char *extra[] = {"--store", s_redis.url, NULL};
    s_start_cluster(h, extra);
    static char ids[S_USERS][S_IDS_MAX];
    s_serve_home(h, ids);
    for (int u = 0; u < S_USERS; u++) {
        if (strcmp(ids[u], s_lmdb_ids[u]) != 0)
            fprintf(stderr, "user %lld:\n  lmdb:  %s\n  redis: %s\n", (long long)s_users[u], s_lmdb_ids[u], ids[u]);
        assert_string_equal(ids[u], s_lmdb_ids[u]);
    }
    /* Served from Redis indeed: hydrate batches with MGET (one per task at least). */
    assert_true(s_calls("mget") - mgets >= S_USERS);
    h_pass(h);
}

/* Redis stops first: h_stop_all wants no child of this process left. */
static int s_teardown(void **state)
{
    redis_fini(&s_redis);
    return h_test_teardown(state);
}

int main(void)
{
    if (!redis_installed()) {
        fprintf(stderr, "test_store_backends: %s is not installed: skipped\n", REDIS_SERVER_PATH);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_home_over_lmdb, s_teardown),
        cmocka_unit_test_teardown(test_redis_seed_and_home, s_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
