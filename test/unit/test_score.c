/* test_score.c - the score node with XGBoost models, and feedmix-train.
 *
 * Small models are trained in-process with the XGBoost C API (one known signal each) and written
 * where the node looks for them; the node runs through the node table as the actor would call it.
 * test_train_planted builds an LMDB store whose clicks depend on one feature, runs the real
 * feedmix-train binary (build/bin, next to this test's build/test dir) on it, checks its holdout
 * AUC and that the node then orders a high-signal entity above a low-signal one.
 *
 * FMX_BENCH=1 also prints the latency of scoring 300 entities, linear vs XGBoost. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#include "actors/node.h"
#include "common/store.h"
#include "schemas/entity.h"
#include "schemas/mpobj.h"
#include "test/support/nodefx.h"
#include "test/support/rng.h"

/* ---- fixture: test/support/nodefx, with the score type started on a data dir of its own ---- */

static int s_setup(void **state) {
    nfx_setup(state);
    nfx_t *fx = *state;
    fx->env.node_type = "score";
    fx->task.node = FMX_STR_LIT("scored");
    fx->n_inputs = 1; /* one input, even while it is empty */
    nfx_context(fx, "user_id=42");
    nfx_tmpdir(fx, "score");
    char path[128];
    snprintf(path, sizeof(path), "%s/models", fx->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    fx->env.data_dir = fx->dir;
    fx->type = fmx_node_type_find("score");
    assert_non_null(fx->type);
    assert_int_equal(fx->type->init(&fx->state, &fx->env, fx->err), 0);
    return 0;
}

/* A livestream in the one input; fields is a spec or NULL. */
static void s_add(nfx_t *fx, const char *id, const char *fields) {
    nfx_add(fx, 0, id, "livestream", NAN, NULL, fields);
}

static double s_score_of(nfx_t *fx, const char *id) {
    for (size_t i = 0; i < fx->out.n; i++)
        if (fx->out.v[i].id.len == strlen(id) && memcmp(fx->out.v[i].id.ptr, id, strlen(id)) == 0) {
            assert_true(fx->out.v[i].has_score);
            return fx->out.v[i].score;
        }
    fail_msg("no %s in the output", id);
    return NAN;
}

static void s_err_has(nfx_t *fx, const char *needle) {
    if (!strstr(fx->err, needle)) fprintf(stderr, "err: '%s', want '%s'\n", fx->err, needle);
    assert_non_null(strstr(fx->err, needle));
}

/* ---- models ---- */

/* Trains `rounds` trees of depth `depth` on `cols` uniform columns where the label is
 * column `signal` > 0.5 (signal >= cols: random labels, which grow full trees), and saves <dir>/models/<name>.json with feedmix_features = attr (NULL:
 * no attribute). */
static void s_make_model(nfx_t *fx, const char *name, size_t cols, size_t signal, const char *attr, int rounds,
                         int depth) {
    size_t n = 2000;
    float *x = malloc(n * cols * sizeof(float)), *y = malloc(n * sizeof(float));
    assert_true(x && y);
    uint64_t seed = 7;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < cols; j++)
            x[i * cols + j] = (float)rng_unit(&seed);
        y[i] = signal < cols ? x[i * cols + signal] > 0.5f : rng_unit(&seed) < 0.3;
    }
    DMatrixHandle dm;
    BoosterHandle b;
    assert_int_equal(XGDMatrixCreateFromMat_omp(x, n, cols, NAN, &dm, 1), 0);
    assert_int_equal(XGDMatrixSetFloatInfo(dm, "label", y, n), 0);
    assert_int_equal(XGBoosterCreate(&dm, 1, &b), 0);
    char d[8];
    snprintf(d, sizeof(d), "%d", depth);
    assert_int_equal(XGBoosterSetParam(b, "objective", "binary:logistic"), 0);
    assert_int_equal(XGBoosterSetParam(b, "tree_method", "hist"), 0);
    assert_int_equal(XGBoosterSetParam(b, "nthread", "1"), 0);
    assert_int_equal(XGBoosterSetParam(b, "max_depth", d), 0);
    for (int i = 0; i < rounds; i++)
        assert_int_equal(XGBoosterUpdateOneIter(b, i, dm), 0);
    if (attr) assert_int_equal(XGBoosterSetAttr(b, "feedmix_features", attr), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/models/%s.json", fx->dir, name);
    assert_int_equal(XGBoosterSaveModel(b, path), 0);
    XGBoosterFree(b);
    XGDMatrixFree(dm);
    free(x);
    free(y);
}

static void s_write_file(nfx_t *fx, const char *name, const char *text, size_t len);

static void s_write_text(nfx_t *fx, const char *name, const char *text) {
    s_write_file(fx, name, text, strlen(text));
}

static void s_write_file(nfx_t *fx, const char *name, const char *text, size_t len) {
    char path[256], tmp[300];
    snprintf(path, sizeof(path), "%s/models/%s", fx->dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0); /* a new inode, as feedmix-train writes */
}

static char *s_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---- tests ---- */

static void test_xgb_scores(void **state) {
    nfx_t *fx = *state;
    s_make_model(fx, "q", 2, 0, "quality,viewers", 20, 3);
    s_add(fx, "lo", "quality=0.1,viewers=5");
    s_add(fx, "hi", "quality=0.9,viewers=1");
    s_add(fx, "none", "viewers=3");
    s_add(fx, "hi2", "quality=0.8,viewers=100");
    nfx_params(fx, "model=q");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_int_equal(fx->out.n, 4);
    double hi = s_score_of(fx, "hi"), hi2 = s_score_of(fx, "hi2"), lo = s_score_of(fx, "lo");
    double none = s_score_of(fx, "none");
    assert_true(hi > 0.9 && hi2 > 0.9 && lo < 0.1);
    assert_true(none > 0 && none < 1); /* missing quality: the trees' default branch */
    /* Best first; lo last; none lands wherever the trees send a missing value. */
    const char *ids = nfx_ids(fx, &fx->out);
    assert_true(strlen(ids) > 3 && strcmp(ids + strlen(ids) - 3, ",lo") == 0);
    assert_true(strstr(ids, "hi,") < strstr(ids, "hi2,"));
    for (size_t i = 1; i < fx->out.n; i++)
        assert_true(fx->out.v[i - 1].score >= fx->out.v[i].score);

    /* Equal rows keep their input order (stable). */
    fx->raw[0].n = 0;
    s_add(fx, "a", "quality=0.7");
    s_add(fx, "b", "quality=0.2");
    s_add(fx, "c", "quality=0.7");
    s_add(fx, "d", "quality=0.7");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "a,c,d,b");

    /* No input: no output, no predict. */
    fx->raw[0].n = 0;
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_int_equal(fx->out.n, 0);

    /* A task past its deadline is dropped before predicting. */
    s_add(fx, "a", "quality=0.7");
    fx->task.deadline_us = 1;
    assert_int_equal(nfx_run(fx, "score"), -1);
    s_err_has(fx, "deadline");
    fx->task.deadline_us = 0;
}

static void test_xgb_user_record(void **state) {
    nfx_t *fx = *state;
    /* Column 0 is the signal: user.activity; the model never saw NaN, so a missing user takes
     * the default branch, whatever that is. */
    s_make_model(fx, "ua", 2, 0, "user.activity,quality", 20, 3);
    char path[128];
    snprintf(path, sizeof(path), "%s/store", fx->dir);
    fx->store = fmx_store_open(path, 0, 16, fx->err);
    assert_non_null(fx->store);
    fmx_store_txn_t *w = fmx_store_write_begin(fx->store, fx->err);
    assert_non_null(w);
    nfx_pack_spec(fx, "geo=US,activity=0.9");
    assert_int_equal(fmx_store_put(w, "user:7", 6, fx->sb.data, fx->sb.size, fx->err), 0);
    msgpack_sbuffer_clear(&fx->sb);
    nfx_pack_spec(fx, "geo=US,activity=0.1");
    assert_int_equal(fmx_store_put(w, "user:8", 6, fx->sb.data, fx->sb.size, fx->err), 0);
    msgpack_sbuffer_clear(&fx->sb);
    msgpack_pack_array(&fx->pk, 0); /* not a map: no user */
    assert_int_equal(fmx_store_put(w, "user:9", 6, fx->sb.data, fx->sb.size, fx->err), 0);
    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_store_commit(&w, fx->err), 0);
    fx->env.store = fx->store;

    s_add(fx, "a", "quality=0.5");
    nfx_params(fx, "model=ua");
    msgpack_pack_map(&fx->pk, 1); /* the broker sends user_id as a string */
    nfx_str(fx, "user_id");
    nfx_str(fx, "7");
    fx->context = nfx_take_obj(fx);
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_true(s_score_of(fx, "a") > 0.9);
    nfx_context(fx, "user_id=8");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_true(s_score_of(fx, "a") < 0.1);
    /* An int user_id reads the same record. */
    nfx_context(fx, "user_id=7");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_true(s_score_of(fx, "a") > 0.9);

    /* Missing record, a record that is not a map, no user_id, no store: scored all the same. */
    nfx_context(fx, "user_id=12345");
    assert_int_equal(nfx_run(fx, "score"), 0);
    double missing = s_score_of(fx, "a");
    nfx_context(fx, "user_id=9");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_true(s_score_of(fx, "a") == missing);
    nfx_context(fx, "geo=US");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_true(s_score_of(fx, "a") == missing);
    fx->env.store = NULL;
    nfx_context(fx, "user_id=7");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_true(s_score_of(fx, "a") == missing);
}

static void test_scorer_choice(void **state) {
    nfx_t *fx = *state;
    s_make_model(fx, "both", 1, 0, "quality", 10, 2);
    s_write_text(fx, "both.weights", "quality 100\n");
    s_write_text(fx, "lin.weights", "bias 5\n");
    s_add(fx, "a", "quality=0.9");
    s_add(fx, "b", "quality=0.2");

    nfx_params(fx, "model=both"); /* the .json wins */
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_true(s_score_of(fx, "a") > 0.5 && s_score_of(fx, "a") < 1);
    nfx_params(fx, "model=both,scorer=linear");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_true(fabs(s_score_of(fx, "a") - 90) < 1e-9);
    nfx_params(fx, "model=both,scorer=xgboost");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_true(s_score_of(fx, "a") < 1);
    assert_string_equal(nfx_ids(fx, &fx->out), "a,b");

    nfx_params(fx, "model=lin"); /* no .json: the .weights */
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_true(s_score_of(fx, "b") == 5);
    nfx_params(fx, "model=lin,scorer=xgboost");
    assert_int_equal(nfx_run(fx, "score"), -1);
    s_err_has(fx, "lin.json");
    nfx_params(fx, "model=both,scorer=forest");
    assert_int_equal(nfx_run(fx, "score"), -1);
    s_err_has(fx, "scorer");
    msgpack_pack_map(&fx->pk, 2);
    nfx_str(fx, "weights");
    nfx_pack_spec(fx, "quality=1");
    nfx_str(fx, "scorer");
    nfx_str(fx, "xgboost");
    fx->params = nfx_take_obj(fx);
    assert_int_equal(nfx_run(fx, "score"), -1);
    s_err_has(fx, "weights");
    nfx_params(fx, "model=../models/both");
    assert_int_equal(nfx_run(fx, "score"), -1);
    s_err_has(fx, "bad model name");

    /* No data dir: a model cannot be found, but inline weights still work. */
    fx->type->fini(&fx->state);
    fx->env.data_dir = NULL;
    assert_int_equal(fx->type->init(&fx->state, &fx->env, fx->err), 0);
    nfx_params(fx, "model=both");
    assert_int_equal(nfx_run(fx, "score"), -1);
    s_err_has(fx, "no data directory");
}

static void test_bad_models(void **state) {
    nfx_t *fx = *state;
    s_make_model(fx, "good", 2, 0, "quality,viewers", 10, 3);
    s_make_model(fx, "noattr", 2, 0, NULL, 10, 3);
    s_make_model(fx, "count", 2, 0, "quality,viewers,rating", 10, 3);
    s_make_model(fx, "badattr", 2, 0, "quality,,viewers", 10, 3);
    char path[256];
    snprintf(path, sizeof(path), "%s/models/good.json", fx->dir);
    size_t len;
    char *json = s_read_file(path, &len);
    s_write_file(fx, "trunc.json", json, len / 2);
    s_write_file(fx, "empty.json", "", 0);
    s_write_text(fx, "text.json", "hello, I am not a model");
    s_write_text(fx, "obj.json", "{\"learner\": 5}");
    free(json);
    snprintf(path, sizeof(path), "%s/models/dir.json", fx->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    /* Broken files do not stop a start-up that preloads the directory. */
    fx->type->fini(&fx->state);
    assert_int_equal(fx->type->init(&fx->state, &fx->env, fx->err), 0);

    s_add(fx, "a", "quality=0.9,viewers=1");
    s_add(fx, "b", "quality=0.1,viewers=1");
    static const struct {
        const char *model, *needle;
    } cases[] = {
        {"trunc", "trunc.json"},     {"trunc", "load failed"},     {"empty", "empty.json"},
        {"text", "not an XGBoost"},  {"obj", "obj.json"},          {"noattr", "feedmix_features"},
        {"count", "names 3"},        {"badattr", "empty name"},    {"dir", "dir.json"},
    };
    char spec[64];
    for (size_t i = 0; i < FMX_ARRAY_LEN(cases); i++) {
        snprintf(spec, sizeof(spec), "model=%s,scorer=xgboost", cases[i].model);
        nfx_params(fx, spec);
        assert_int_equal(nfx_run(fx, "score"), -1);
        s_err_has(fx, cases[i].needle);
        /* The node keeps serving the good model between failures. */
        nfx_params(fx, "model=good");
        assert_int_equal(nfx_run(fx, "score"), 0);
        assert_string_equal(nfx_ids(fx, &fx->out), "a,b");
    }
    /* Fixing a broken file on disk fixes the next task (a failed load is not cached). */
    snprintf(path, sizeof(path), "%s/models/good.json", fx->dir);
    json = s_read_file(path, &len);
    s_write_file(fx, "trunc.json", json, len);
    free(json);
    nfx_params(fx, "model=trunc");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "a,b");
}

static void test_reload(void **state) {
    nfx_t *fx = *state;
    s_make_model(fx, "m", 2, 0, "quality,viewers", 10, 3); /* likes quality */
    s_add(fx, "q", "quality=0.9,viewers=0.1");
    s_add(fx, "v", "quality=0.1,viewers=0.9");
    nfx_params(fx, "model=m,scorer=xgboost");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "q,v");
    /* A retrained model renamed into place is picked up by the next task. */
    char path[256], tmp[256];
    s_make_model(fx, "m2", 2, 1, "quality,viewers", 10, 3); /* likes viewers */
    snprintf(tmp, sizeof(tmp), "%s/models/m2.json", fx->dir);
    snprintf(path, sizeof(path), "%s/models/m.json", fx->dir);
    assert_int_equal(rename(tmp, path), 0);
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "v,q");
    /* Deleted: the cached model keeps serving. */
    assert_int_equal(remove(path), 0);
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "v,q");
    /* init preloads the directory's XGBoost models: a restarted node serves m3 after its file
     * is gone. */
    s_make_model(fx, "m3", 2, 1, "quality,viewers", 10, 3);
    fx->type->fini(&fx->state);
    assert_int_equal(fx->type->init(&fx->state, &fx->env, fx->err), 0);
    snprintf(path, sizeof(path), "%s/models/m3.json", fx->dir);
    assert_int_equal(remove(path), 0);
    nfx_params(fx, "model=m3,scorer=xgboost");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "v,q");
    /* More models than the cache holds: each still loads and scores. */
    char name[32], spec[64];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        s_make_model(fx, name, 2, (size_t)(i % 2), "quality,viewers", 2, 2);
        snprintf(spec, sizeof(spec), "model=%s", name);
        nfx_params(fx, spec);
        assert_int_equal(nfx_run(fx, "score"), 0);
        assert_string_equal(nfx_ids(fx, &fx->out), i % 2 ? "v,q" : "q,v");
    }
}

/* ---- feedmix-train on a planted signal ---- */

/* A store where a livestream impression is clicked with p = 0.85 when quality > 0.5 and 0.1
 * otherwise; products are always clicked (they must not leak into a livestream model); a few
 * rows name a livestream without a record. */
static void s_planted_store(nfx_t *fx, const char *path, size_t *live_rows, size_t *orphans) {
    fmx_store_t *st = fmx_store_open(path, 0, 64, fx->err);
    assert_non_null(st);
    fmx_store_txn_t *w = fmx_store_write_begin(st, fx->err);
    assert_non_null(w);
    msgpack_packer *pk = &fx->pk;
    char key[64];
    uint64_t seed = 42;
    enum { USERS = 400, LIVE = 200, PER_USER = 20, CHUNK = 1500 };
    static const char *const cats[] = {"gaming", "fashion", "food", "art"};
    for (int i = 1; i <= USERS; i++) {
        msgpack_pack_map(pk, 3);
        nfx_str(fx, "geo");
        nfx_str(fx, "US");
        nfx_str(fx, "categories");
        msgpack_pack_array(pk, 1);
        nfx_str(fx, cats[i % 4]);
        nfx_str(fx, "activity");
        msgpack_pack_double(pk, rng_unit(&seed));
        snprintf(key, sizeof(key), "user:%d", i);
        assert_int_equal(fmx_store_put(w, key, strlen(key), fx->sb.data, fx->sb.size, fx->err), 0);
        msgpack_sbuffer_clear(&fx->sb);
    }
    double quality[LIVE + 1];
    for (int i = 1; i <= LIVE; i++) {
        quality[i] = rng_unit(&seed);
        msgpack_pack_map(pk, 4);
        nfx_str(fx, "quality");
        msgpack_pack_double(pk, quality[i]);
        nfx_str(fx, "viewers");
        msgpack_pack_uint64(pk, rng_next(&seed) % 1000);
        nfx_str(fx, "category");
        nfx_str(fx, cats[i % 4]);
        nfx_str(fx, "is_live");
        msgpack_pack_uint64(pk, 1);
        snprintf(key, sizeof(key), "entity:livestream:ls%d", i);
        assert_int_equal(fmx_store_put(w, key, strlen(key), fx->sb.data, fx->sb.size, fx->err), 0);
        msgpack_sbuffer_clear(&fx->sb);
        msgpack_pack_map(pk, 1);
        nfx_str(fx, "price");
        msgpack_pack_double(pk, 10);
        snprintf(key, sizeof(key), "entity:product:p%d", i);
        assert_int_equal(fmx_store_put(w, key, strlen(key), fx->sb.data, fx->sb.size, fx->err), 0);
        msgpack_sbuffer_clear(&fx->sb);
    }
    /* Rows: user-major, PER_USER per user, every 5th a product, every 97th an orphan. */
    size_t total = (size_t)USERS * PER_USER, chunks = (total + CHUNK - 1) / CHUNK, row = 0;
    *live_rows = *orphans = 0;
    for (size_t c = 0; c < chunks; c++) {
        size_t n = total - row < CHUNK ? total - row : CHUNK;
        msgpack_pack_array(pk, (uint32_t)n);
        for (size_t k = 0; k < n; k++, row++) {
            int user = (int)(row / PER_USER) + 1;
            msgpack_pack_array(pk, 4);
            msgpack_pack_uint64(pk, (uint64_t)user);
            int id = (int)(rng_next(&seed) % LIVE) + 1;
            if (row % 5 == 4) {
                nfx_str(fx, "product");
                snprintf(key, sizeof(key), "p%d", id);
                nfx_str(fx, key);
                msgpack_pack_uint64(pk, 1);
                continue;
            }
            nfx_str(fx, "livestream");
            (*live_rows)++;
            if (row % 97 == 0) {
                (*orphans)++;
                nfx_str(fx, "ls999999");
                msgpack_pack_uint64(pk, 0);
                continue;
            }
            snprintf(key, sizeof(key), "ls%d", id);
            nfx_str(fx, key);
            msgpack_pack_uint64(pk, rng_unit(&seed) < (quality[id] > 0.5 ? 0.85 : 0.1) ? 1 : 0);
        }
        snprintf(key, sizeof(key), "interactions:%zu", c);
        assert_int_equal(fmx_store_put(w, key, strlen(key), fx->sb.data, fx->sb.size, fx->err), 0);
        msgpack_sbuffer_clear(&fx->sb);
    }
    msgpack_pack_map(pk, 3);
    nfx_str(fx, "chunks");
    msgpack_pack_uint64(pk, chunks);
    nfx_str(fx, "rows");
    msgpack_pack_uint64(pk, total);
    nfx_str(fx, "positives");
    msgpack_pack_uint64(pk, 0); /* not read by the trainer */
    assert_int_equal(fmx_store_put(w, "interactions:meta", 17, fx->sb.data, fx->sb.size, fx->err), 0);
    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_store_commit(&w, fx->err), 0);
    fmx_store_close(&st);
}

/* Runs build/bin/feedmix-train with argv (NULL-terminated, argv[0] ignored), stdout and stderr
 * into out_path. Returns the exit status. */
static int s_train(const char *const *argv, const char *out_path) {
    char self[PATH_MAX], bin[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    assert_true(n > 0);
    self[n] = '\0';
    snprintf(bin, sizeof(bin), "%s/../bin/feedmix-train", dirname(self));
    if (access(bin, X_OK) != 0) fail_msg("feedmix-train not built at %s", bin);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(out_path, "w", stdout);
        if (!f || dup2(fileno(stdout), 2) < 0) _exit(126);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The logloss and auc of the output line starting with `label`. */
static void s_metric(const char *out, const char *label, double *logloss, double *auc) {
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, label, strlen(label)) == 0 && p[strlen(label)] == ' ') {
            assert_int_equal(sscanf(p + strlen(label), "%lf %lf", logloss, auc), 2);
            return;
        }
    }
    fail_msg("no '%s' line in:\n%s", label, out);
}

static void test_train_planted(void **state) {
    nfx_t *fx = *state;
    char store[128], models[128], out[128], model[160];
    snprintf(store, sizeof(store), "%s/store", fx->dir);
    snprintf(models, sizeof(models), "%s/models", fx->dir);
    snprintf(out, sizeof(out), "%s/train.out", fx->dir);
    snprintf(model, sizeof(model), "%s/models/planted.json", fx->dir);
    size_t live_rows, orphans;
    s_planted_store(fx, store, &live_rows, &orphans);

    const char *argv[] = {"feedmix-train", "--type",   "livestream", "--store",  store,     "--models",
                          models,          "--name",   "planted",    "--rounds", "30",      "--depth",
                          "3",             "--features", "viewers,quality,is_live,in.category.categories,user.activity",
                          NULL};
    int rc = s_train(argv, out);
    size_t len;
    char *text = s_read_file(out, &len);
    if (rc != 0) fprintf(stderr, "%s", text);
    assert_int_equal(rc, 0);
    double ll, auc, ll_const, auc_const, ll_train, auc_train;
    s_metric(text, "holdout", &ll, &auc);
    s_metric(text, "constant", &ll_const, &auc_const);
    s_metric(text, "train", &ll_train, &auc_train);
    fprintf(stderr, "planted: holdout logloss %.4f auc %.4f; constant %.4f %.4f\n", ll, auc, ll_const, auc_const);
    assert_true(auc > 0.75);
    assert_true(fabs(auc_const - 0.5) < 1e-9);
    assert_true(ll < ll_const);
    assert_true(auc_train > 0.75);
    /* Only livestream rows with a record: the products and the orphans are out. */
    char want[96];
    snprintf(want, sizeof(want), "type livestream, %zu rows", live_rows - orphans);
    if (!strstr(text, want)) fprintf(stderr, "want '%s' in:\n%s", want, text);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "(%zu rows skipped", orphans);
    assert_non_null(strstr(text, want));
    free(text);

    /* Deterministic: the same data gives the same file, byte for byte. */
    size_t len1, len2;
    char *first = s_read_file(model, &len1);
    assert_int_equal(s_train(argv, out), 0);
    char *second = s_read_file(model, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(first, second, len1);
    free(first);
    free(second);

    /* --models creates missing parents, as feedmix-seed --models does. */
    char deep[160], deep_model[200];
    snprintf(deep, sizeof(deep), "%s/a/b/models", fx->dir);
    snprintf(deep_model, sizeof(deep_model), "%s/planted.json", deep);
    const char *deep_argv[] = {"feedmix-train", "--type",  "livestream", "--store", store, "--models", deep,
                               "--name",        "planted", "--rounds",   "1",       NULL};
    assert_int_equal(s_train(deep_argv, out), 0);
    assert_int_equal(access(deep_model, R_OK), 0);

    /* Served: a high-quality stream above a low-quality one, whatever the other fields. */
    s_add(fx, "low", "quality=0.1,viewers=900,is_live=1,category=gaming");
    s_add(fx, "high", "quality=0.9,viewers=3,is_live=1,category=art");
    nfx_params(fx, "model=planted");
    assert_int_equal(nfx_run(fx, "score"), 0);
    assert_string_equal(nfx_ids(fx, &fx->out), "high,low");
    assert_true(s_score_of(fx, "high") > 0.6 && s_score_of(fx, "low") < 0.3);

    /* Errors the trainer explains: no interactions, unknown type without features, bad option. */
    char empty[128];
    snprintf(empty, sizeof(empty), "%s/empty", fx->dir);
    fmx_store_t *st = fmx_store_open(empty, 0, 16, fx->err);
    assert_non_null(st);
    fmx_store_close(&st);
    const char *no_meta[] = {"feedmix-train", "--type", "livestream", "--store", empty, "--models", models, NULL};
    assert_int_equal(s_train(no_meta, out), 1);
    text = s_read_file(out, &len);
    assert_non_null(strstr(text, "interactions:meta"));
    free(text);
    const char *no_rows[] = {"feedmix-train", "--type", "account", "--name", "x", "--features", "followers",
                             "--store", store, "--models", models, NULL};
    assert_int_equal(s_train(no_rows, out), 1);
    text = s_read_file(out, &len);
    assert_non_null(strstr(text, "0 training rows"));
    free(text);
    const char *bad_feat[] = {"feedmix-train", "--type", "livestream", "--features", "in.category", "--store", store,
                              "--models", models, NULL};
    assert_int_equal(s_train(bad_feat, out), 1);
    const char *bad_opt[] = {"feedmix-train", "--type", "livestream", "--rounds", "0", NULL};
    assert_int_equal(s_train(bad_opt, out), 2);
    const char *no_type[] = {"feedmix-train", "--type", "account", NULL};
    assert_int_equal(s_train(no_type, out), 2);
}

/* ---- latency (FMX_BENCH=1) ---- */

static double s_now_us(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void test_bench(void **state) {
    nfx_t *fx = *state;
    if (!getenv("FMX_BENCH")) {
        skip();
        return;
    }
    s_make_model(fx, "b100", 8, SIZE_MAX, "quality,viewers,log.viewers,started_min_ago,is_live,in.category.categories,"
                                   "user.activity,score", 100, 6);
    s_make_model(fx, "b4", 8, SIZE_MAX, "quality,viewers,log.viewers,started_min_ago,is_live,in.category.categories,"
                                 "user.activity,score", 100, 4);
    /* b100: 100 trees of depth 6; b4: 100 of depth 4 (feedmix-train's default). */
    s_write_text(fx, "b100.weights", "bias 0.1\nquality 1\nviewers 0.001\nstarted_min_ago -0.01\nis_live 1\n");
    uint64_t seed = 3;
    char spec[256], id[16];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "ls%d", i);
        snprintf(spec, sizeof(spec), "quality=%.3f,viewers=%d,started_min_ago=%d,is_live=1,category=gaming",
                 rng_unit(&seed), (int)(rng_next(&seed) % 5000), (int)(rng_next(&seed) % 300));
        s_add(fx, id, spec);
    }
    static const char *const specs[] = {"model=b100,scorer=linear", "model=b100,scorer=xgboost",
                                        "model=b4,scorer=xgboost"};
    for (size_t k = 0; k < FMX_ARRAY_LEN(specs); k++) {
        nfx_params(fx, specs[k]);
        assert_int_equal(nfx_run(fx, "score"), 0); /* loads and caches, and decodes the input once */
        int iters = 300;
        double t0 = s_now_us(CLOCK_MONOTONIC), c0 = s_now_us(CLOCK_THREAD_CPUTIME_ID);
        double p0 = s_now_us(CLOCK_PROCESS_CPUTIME_ID);
        /* Per-task scratch from a zone reset after each task, as the actor runtime does. */
        msgpack_zone *scratch = msgpack_zone_new(64 * 1024);
        assert_non_null(scratch);
        fx->task.zone = scratch;
        for (int i = 0; i < iters; i++) {
            fmx_entity_list_init(&fx->out);
            assert_int_equal(fx->type->run(&fx->task, &fx->out, fx->err), 0);
            msgpack_zone_clear(scratch);
        }
        double wall = (s_now_us(CLOCK_MONOTONIC) - t0) / iters;
        double cpu = (s_now_us(CLOCK_THREAD_CPUTIME_ID) - c0) / iters;
        double proc = (s_now_us(CLOCK_PROCESS_CPUTIME_ID) - p0) / iters;
        fprintf(stderr, "bench: 300 entities, %s: %.1f us per task (CPU: %.1f us this thread, %.1f us process)\n",
                specs[k], wall, cpu, proc);
        fx->task.zone = fx->zone;
        msgpack_zone_free(scratch);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_xgb_scores, s_setup, nfx_teardown),
        cmocka_unit_test_setup_teardown(test_xgb_user_record, s_setup, nfx_teardown),
        cmocka_unit_test_setup_teardown(test_scorer_choice, s_setup, nfx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_models, s_setup, nfx_teardown),
        cmocka_unit_test_setup_teardown(test_reload, s_setup, nfx_teardown),
        cmocka_unit_test_setup_teardown(test_train_planted, s_setup, nfx_teardown),
        cmocka_unit_test_setup_teardown(test_bench, s_setup, nfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
