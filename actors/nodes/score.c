/* score.c - scores entities with a model: XGBoost trees, or a linear model (the cheap alternative).
 *
 * inputs: 1
 * params:
 *   model    str, optional                 a model name: <data_dir>/models/<model>.json (XGBoost) or
 *                                          <data_dir>/models/<model>.weights (linear)
 *   scorer   str, optional                 "xgboost" or "linear": which file `model` names. Default:
 *                                          the .json when it exists, else the .weights
 *   weights  map str -> number, optional   an inline linear model; the key "bias" is the bias
 * `weights` wins over `model` (and cannot go with scorer: xgboost); neither is an error.
 *
 * XGBoost: a model file is the JSON that feedmix-train writes (XGBoosterSaveModel), with the
 * attribute "feedmix_features" naming its columns in order (schemas/features.h: viewers,
 * log.viewers, user.activity, in.category.categories, ctx.hour, score, ...), so a file describes
 * itself. Per task, the user record `user:{user_id}` (user_id from the task context) is read once
 * from the store when a feature needs it (no store, no user_id or no record: those features are
 * NaN, XGBoost's missing), every input entity becomes one row of one dense matrix, and one
 * in-place predict scores them all. The score is the model's output (a probability for
 * binary:logistic). Predicting runs with nthread 1: the actor's worker threads are the
 * parallelism. Node state is per worker thread (the runtime calls init in each), so a booster is
 * never shared between threads and needs no lock.
 *
 * Linear: text, one "feature weight" per line, an optional "bias b" line, `#` comments and blank
 * lines ignored; score = bias + sum(weight[f] * fields[f]). Int, float and bool fields count
 * (true = 1); missing or other fields count as 0, except a feature named "score" with no such
 * field, which reads the entity's incoming score (as in schemas/features.h).
 *
 * Model names are plain file names ([A-Za-z0-9_.-], no leading dot), so a request parameter can
 * never reach outside the models directory. A model is loaded once and cached in the node state
 * (16 models, replaced round-robin; init preloads the XGBoost models it finds, as parsing a few
 * hundred trees takes longer than a score budget); the file is stat()ed per task and reloaded when it changed
 * (feedmix-train renames a new model into place). A cached model whose file went away keeps
 * serving when `scorer` names its kind; without `scorer`, a missing .json means the .weights file
 * is what the model name now picks. A file that fails to load is an error naming the file and is not cached, so
 * fixing it on disk fixes the next task.
 *
 * The output is every input entity with its new score, sorted by score descending, stable. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#include "actors/nodes/nodes.h"
#include "schemas/features.h"
#include "schemas/mpobj.h"

#define S_MAX_MODELS   16
#define S_MAX_NAME     128
#define S_MAX_FEATURES 4096
#define S_MAX_FILE     (1024 * 1024)
#define S_MAX_XGB_FILE (256 * 1024 * 1024)
#define S_MAX_CELLS    ((size_t)64 * 1024 * 1024) /* floats in one predict matrix: 256 MiB */
#define S_ATTR         "feedmix_features"

typedef enum { S_ANY = 0, S_LINEAR, S_XGBOOST } s_kind_t;

typedef struct {
    const char *name; /* in a model: owned; inline: borrowed from params */
    size_t len;
    double weight;
} s_feature_t;

/* Which version of a file a cached model was loaded from. */
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} s_file_id_t;

typedef struct {
    char *name;
    s_kind_t kind;
    s_file_id_t file;
    /* linear */
    s_feature_t *features;
    size_t n;
    double bias;
    /* xgboost */
    BoosterHandle booster;
    fmx_features_t *columns;
} s_model_t;

typedef struct {
    char *models_dir; /* NULL when the actor has no data_dir */
    s_model_t models[S_MAX_MODELS];
    size_t next;
} s_state_t;

static void s_model_clear(s_model_t *m) {
    for (size_t i = 0; i < m->n; i++)
        free((char *)m->features[i].name);
    free(m->features);
    free(m->name);
    if (m->booster) XGBoosterFree(m->booster);
    fmx_features_destroy(&m->columns);
    memset(m, 0, sizeof(*m));
}

static bool s_name_ok(fmx_str_t name) {
    if (name.len == 0 || name.len > S_MAX_NAME || name.ptr[0] == '.') return false;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.';
        if (!ok) return false;
    }
    return true;
}

static void s_file_id(s_file_id_t *id, const struct stat *st) {
    *id = (s_file_id_t){st->st_dev, st->st_ino, st->st_size, st->st_mtim};
}

static bool s_file_same(const s_file_id_t *a, const s_file_id_t *b) {
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* XGBoost's last error, first line only (it appends a stack trace). */
static int s_xgb_err(char err[FMX_ERR_LEN], const char *path, const char *what) {
    const char *msg = XGBGetLastError();
    if (!msg) msg = "";
    size_t len = strcspn(msg, "\n");
    return fmx_err(err, "model file %s: %s: %.*s", path, what, (int)(len > 160 ? 160 : len), msg);
}

/* ---- linear ---- */

/* Parses one line into m; blank and comment lines are fine. -1 with err. */
static int s_parse_line(s_model_t *m, char *line, size_t lineno, char err[FMX_ERR_LEN]) {
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *save = NULL;
    char *feat = strtok_r(line, " \t\r\n", &save);
    if (!feat) return 0;
    char *num = strtok_r(NULL, " \t\r\n", &save);
    char *extra = strtok_r(NULL, " \t\r\n", &save);
    if (!num || extra) return fmx_err(err, "model '%s' line %zu: expected 'feature weight'", m->name, lineno);
    char *end;
    errno = 0;
    double w = strtod(num, &end);
    if (errno || *end || !isfinite(w))
        return fmx_err(err, "model '%s' line %zu: bad weight '%.32s'", m->name, lineno, num);
    if (strcmp(feat, "bias") == 0) {
        m->bias = w;
        return 0;
    }
    if (m->n >= S_MAX_FEATURES) return fmx_err(err, "model '%s': more than %d features", m->name, S_MAX_FEATURES);
    s_feature_t *grown = realloc(m->features, (m->n + 1) * sizeof(*grown));
    if (!grown) return fmx_err(err, "out of memory");
    m->features = grown;
    char *copy = strdup(feat);
    if (!copy) return fmx_err(err, "out of memory");
    m->features[m->n++] = (s_feature_t){copy, strlen(copy), w};
    return 0;
}

/* Loads the linear model at path into m (m->name set). -1 with err. */
static int s_linear_load(s_model_t *m, const char *path, char err[FMX_ERR_LEN]) {
    int rc = -1;
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fopen(path, "r");
    if (!f) return fmx_err(err, "fopen(%s) failed: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > S_MAX_FILE) {
        fmx_err(err, "model file %s is not a regular file of at most %d bytes", path, S_MAX_FILE);
        goto done;
    }
    s_file_id(&m->file, &st);
    size_t lineno = 0;
    while (getline(&line, &cap, f) >= 0)
        if (s_parse_line(m, line, ++lineno, err) != 0) goto done;
    if (ferror(f)) {
        fmx_err(err, "reading %s failed", path);
        goto done;
    }
    rc = 0;
done:
    free(line);
    fclose(f);
    return rc;
}

/* A feature reads fields[name]; "score" with no such field reads the incoming (retrieval) score,
 * as schemas/features.h names it, so a share model can weigh "mutual" against "recent". */
static double s_linear_score(const s_model_t *m, const fmx_entity_t *e) {
    double s = m->bias, v;
    for (size_t i = 0; i < m->n; i++) {
        const msgpack_object *f = fmx_entity_field(e, m->features[i].name, m->features[i].len);
        if (fmx_node_number(f, &v))
            s += m->features[i].weight * v;
        else if (!f && e->has_score && m->features[i].len == 5 && memcmp(m->features[i].name, "score", 5) == 0)
            s += m->features[i].weight * e->score;
    }
    return s;
}

/* Inline weights from params into a zone array. -1 with err. */
static int s_inline_weights(const msgpack_object *map, msgpack_zone *zone, s_model_t *m, char err[FMX_ERR_LEN]) {
    if (map->type != MSGPACK_OBJECT_MAP) return fmx_err(err, "param 'weights' must be a map of numbers");
    uint32_t n = map->via.map.size;
    m->features = msgpack_zone_malloc(zone, (n ? n : 1) * sizeof(*m->features));
    if (!m->features) return fmx_err(err, "out of memory");
    m->n = 0;
    m->bias = 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key, *v = &map->via.map.ptr[i].val;
        double w;
        if (k->type != MSGPACK_OBJECT_STR || v->type == MSGPACK_OBJECT_BOOLEAN || !fmx_node_number(v, &w))
            return fmx_err(err, "param 'weights' must be a map of numbers");
        if (k->via.str.size == 4 && memcmp(k->via.str.ptr, "bias", 4) == 0)
            m->bias = w;
        else
            m->features[m->n++] = (s_feature_t){k->via.str.ptr, k->via.str.size, w};
    }
    m->kind = S_LINEAR;
    return 0;
}

/* ---- xgboost ---- */

/* Reads the whole file (a regular file of at most S_MAX_XGB_FILE bytes) into *buf. -1 with err. */
static int s_read_file(const char *path, char **buf, size_t *len, s_file_id_t *id, char err[FMX_ERR_LEN]) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fmx_err(err, "open(%s) failed: %s", path, strerror(errno));
    int rc = -1;
    char *b = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > S_MAX_XGB_FILE) {
        fmx_err(err, "model file %s is not a regular file of at most %d MiB", path, S_MAX_XGB_FILE >> 20);
        goto done;
    }
    size_t size = (size_t)st.st_size, got = 0;
    b = malloc(size ? size : 1);
    if (!b) {
        fmx_err(err, "out of memory");
        goto done;
    }
    while (got < size) {
        ssize_t r = read(fd, b + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            fmx_err(err, "reading %s failed: %s", path, r < 0 ? strerror(errno) : "file shrank");
            goto done;
        }
        got += (size_t)r;
    }
    s_file_id(id, &st);
    *buf = b;
    *len = size;
    b = NULL;
    rc = 0;
done:
    free(b);
    close(fd);
    return rc;
}

/* Loads an XGBoost JSON model with its feature list into m. -1 with err naming the file. */
static int s_xgb_load(s_model_t *m, const char *path, char err[FMX_ERR_LEN]) {
    char *buf = NULL;
    size_t len = 0;
    if (s_read_file(path, &buf, &len, &m->file, err) != 0) return -1;
    int rc = -1;
    /* JSON only: the legacy binary format has no place here and a weaker parser. */
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
        i++;
    if (i == len || buf[i] != '{') {
        fmx_err(err, "model file %s is not an XGBoost JSON model", path);
        goto done;
    }
    if (XGBoosterCreate(NULL, 0, &m->booster) != 0) {
        m->booster = NULL;
        s_xgb_err(err, path, "XGBoosterCreate");
        goto done;
    }
    if (XGBoosterLoadModelFromBuffer(m->booster, buf, (bst_ulong)len) != 0) {
        s_xgb_err(err, path, "load failed");
        goto done;
    }
    if (XGBoosterSetParam(m->booster, "nthread", "1") != 0) {
        s_xgb_err(err, path, "nthread");
        goto done;
    }
    const char *attr = NULL;
    int found = 0;
    if (XGBoosterGetAttr(m->booster, S_ATTR, &attr, &found) != 0) {
        s_xgb_err(err, path, S_ATTR);
        goto done;
    }
    if (!found || !attr) {
        fmx_err(err, "model file %s has no '" S_ATTR "' attribute (models come from feedmix-train)", path);
        goto done;
    }
    char ferr[FMX_ERR_LEN];
    m->columns = fmx_features_parse(attr, strlen(attr), ferr);
    if (!m->columns) {
        fmx_err(err, "model file %s: " S_ATTR ": %s", path, ferr);
        goto done;
    }
    bst_ulong n_model = 0;
    if (XGBoosterGetNumFeature(m->booster, &n_model) != 0) {
        s_xgb_err(err, path, "XGBoosterGetNumFeature");
        goto done;
    }
    if (n_model != (bst_ulong)fmx_features_count(m->columns)) {
        fmx_err(err, "model file %s: the trees take %" PRIu64 " features but " S_ATTR " names %zu", path,
                (uint64_t)n_model, fmx_features_count(m->columns));
        goto done;
    }
    m->kind = S_XGBOOST;
    rc = 0;
done:
    free(buf);
    return rc;
}

/* The task's user record (a map in the zone) into *user, or NULL when there is none (or it is not
 * a map). -1 with err when the store fails or the stored bytes are not valid msgpack. */
static int s_user_record(const fmx_task_t *task, const msgpack_object **user, char err[FMX_ERR_LEN]) {
    *user = NULL;
    fmx_store_t *store = task->env ? task->env->store : NULL;
    const msgpack_object *uid = fmx_mp_map_get(task->context, "user_id");
    if (!store || !uid) return 0;
    char key[96];
    int klen;
    if (uid->type == MSGPACK_OBJECT_STR && uid->via.str.size > 0 && uid->via.str.size <= 64)
        klen = snprintf(key, sizeof(key), "user:%.*s", (int)uid->via.str.size, uid->via.str.ptr);
    else if (uid->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        klen = snprintf(key, sizeof(key), "user:%" PRIu64, uid->via.u64);
    else
        return 0;
    if (klen < 0 || (size_t)klen >= sizeof(key)) return 0;
    fmx_store_txn_t *txn = fmx_store_read_begin(store, err);
    if (!txn) return -1;
    const void *val;
    size_t len;
    int rc = fmx_store_get(txn, key, (size_t)klen, &val, &len, err);
    if (rc == 0) {
        msgpack_object *o = msgpack_zone_malloc(task->zone, sizeof(*o));
        if (!o)
            rc = fmx_err(err, "out of memory");
        else if (fmx_node_store_value(val, len, task->zone, o, err) != 0)
            rc = -1;
        else if (o->type == MSGPACK_OBJECT_MAP)
            *user = o;
    }
    fmx_store_txn_end(&txn);
    return rc < 0 ? -1 : 0;
}

/* Scores in->v into keys[] with one predict over a dense n x m matrix. -1 with err. */
static int s_xgb_score(fmx_task_t *task, const s_model_t *m, const fmx_entity_list_t *in, double *keys,
                       char err[FMX_ERR_LEN]) {
    size_t n = in->n, cols = fmx_features_count(m->columns);
    if (n == 0) return 0;
    if (n > S_MAX_CELLS / cols)
        return fmx_err(err, "%zu entities x %zu features is too large for one predict", n, cols);
    const msgpack_object *user = NULL;
    if (fmx_features_need_user(m->columns) && s_user_record(task, &user, err) != 0) return -1;
    float *rows = msgpack_zone_malloc(task->zone, n * cols * sizeof(float));
    if (!rows) return fmx_err(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (i % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 && fmx_node_deadline_check(task, err) != 0)
            return -1;
        fmx_features_row(m->columns, &in->v[i], user, task->context, rows + i * cols);
    }
    if (fmx_node_deadline_check(task, err) != 0) return -1;
    /* In-place predict reads the matrix through a numpy-style array interface. */
    char array[160];
    snprintf(array, sizeof(array),
             "{\"data\": [%" PRIuPTR ", true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", \"version\": 3}",
             (uintptr_t)rows, n, cols);
    static const char config[] = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
                                 "\"strict_shape\": false, \"cache_id\": 0, \"missing\": NaN}";
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *out = NULL;
    if (XGBoosterPredictFromDense(m->booster, array, config, NULL, &shape, &dim, &out) != 0) {
        const char *msg = XGBGetLastError();
        size_t len = msg ? strcspn(msg, "\n") : 0;
        return fmx_err(err, "model '%s': predict failed: %.*s", m->name, (int)(len > 160 ? 160 : len), msg ? msg : "");
    }
    if (!out || !shape || dim < 1 || dim > 2 || shape[0] != (bst_ulong)n || (dim == 2 && shape[1] != 1))
        return fmx_err(err, "model '%s': predict gave an unexpected shape (not one score per entity)", m->name);
    for (size_t i = 0; i < n; i++)
        keys[i] = (double)out[i];
    return 0;
}

/* ---- the cache ---- */

/* The model `name` of kind (S_ANY: the .json when it exists, else the .weights), from the cache
 * or loaded. NULL with err. */
static const s_model_t *s_model_get(s_state_t *st, fmx_str_t name, s_kind_t kind, char err[FMX_ERR_LEN]) {
    if (!s_name_ok(name)) {
        fmx_err(err, "bad model name '%.*s'", (int)(name.len > 64 ? 64 : name.len), name.ptr);
        return NULL;
    }
    if (!st->models_dir) {
        fmx_err(err, "no data directory configured for model '%.*s'", (int)name.len, name.ptr);
        return NULL;
    }
    char path[4096];
    struct stat sb;
    bool on_disk = false;
    if (kind == S_ANY || kind == S_XGBOOST) {
        if (snprintf(path, sizeof(path), "%s/%.*s.json", st->models_dir, (int)name.len, name.ptr) >= (int)sizeof(path))
            goto too_long;
        on_disk = stat(path, &sb) == 0;
        if (kind == S_ANY) kind = on_disk ? S_XGBOOST : S_LINEAR;
    }
    if (kind == S_LINEAR) {
        if (snprintf(path, sizeof(path), "%s/%.*s.weights", st->models_dir, (int)name.len, name.ptr) >=
            (int)sizeof(path))
            goto too_long;
        on_disk = stat(path, &sb) == 0;
    }
    s_file_id_t now = {0};
    if (on_disk) s_file_id(&now, &sb);
    s_model_t *slot = NULL;
    for (size_t i = 0; i < S_MAX_MODELS; i++) {
        s_model_t *m = &st->models[i];
        if (m->name && m->kind == kind && strlen(m->name) == name.len && memcmp(m->name, name.ptr, name.len) == 0) {
            if (!on_disk || s_file_same(&m->file, &now)) return m;
            slot = m; /* changed on disk: reload in place */
            break;
        }
    }
    if (!slot) {
        slot = &st->models[st->next];
        st->next = (st->next + 1) % S_MAX_MODELS;
    }
    s_model_clear(slot);
    slot->name = strndup(name.ptr, name.len);
    if (!slot->name) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    int rc = kind == S_XGBOOST ? s_xgb_load(slot, path, err) : s_linear_load(slot, path, err);
    if (rc != 0) {
        s_model_clear(slot);
        return NULL;
    }
    slot->kind = kind;
    return slot;
too_long:
    fmx_err(err, "model path too long");
    return NULL;
}

/* ---- the node ---- */

static int s_json_file(const struct dirent *d) {
    size_t n = strlen(d->d_name);
    return n > 5 && d->d_name[0] != '.' && strcmp(d->d_name + n - 5, ".json") == 0;
}

/* Loads the first S_MAX_MODELS XGBoost models of the directory (by name), so the first task
 * that names one does not pay for parsing it (tens of ms for a few hundred trees, more than a
 * score node's budget). A file that fails here is skipped: the task that names it reports why. */
static void s_preload(s_state_t *st) {
    struct dirent **names = NULL;
    int n = scandir(st->models_dir, &names, s_json_file, alphasort);
    char err[FMX_ERR_LEN];
    for (int i = 0; i < n; i++) {
        if (i < S_MAX_MODELS) {
            fmx_str_t name = {names[i]->d_name, strlen(names[i]->d_name) - 5};
            (void)s_model_get(st, name, S_XGBOOST, err);
        }
        free(names[i]);
    }
    free(names);
}

static int s_init(void **state, const fmx_actor_env_t *env, char err[FMX_ERR_LEN]) {
    s_state_t *st = calloc(1, sizeof(*st));
    if (!st) return fmx_err(err, "out of memory");
    if (env && env->data_dir) {
        size_t n = strlen(env->data_dir) + sizeof("/models");
        st->models_dir = malloc(n);
        if (!st->models_dir) {
            free(st);
            return fmx_err(err, "out of memory");
        }
        snprintf(st->models_dir, n, "%s/models", env->data_dir);
        s_preload(st);
    }
    *state = st;
    return 0;
}

static void s_fini(void **state) {
    if (!state || !*state) return;
    s_state_t *st = *state;
    for (size_t i = 0; i < S_MAX_MODELS; i++)
        s_model_clear(&st->models[i]);
    free(st->models_dir);
    free(st);
    *state = NULL;
}

static int s_run(fmx_task_t *task, fmx_entity_list_t *out, char err[FMX_ERR_LEN]) {
    if (task->n_inputs != 1) return fmx_err(err, "score takes exactly one input");
    fmx_str_t name, scorer;
    if (fmx_node_param_str(task, "model", false, &name, err) < 0) return -1;
    if (fmx_node_param_str(task, "scorer", false, &scorer, err) < 0) return -1;
    s_kind_t kind = S_ANY;
    if (scorer.ptr) {
        if (fmx_node_str_eq(scorer, FMX_STR_LIT("xgboost")))
            kind = S_XGBOOST;
        else if (fmx_node_str_eq(scorer, FMX_STR_LIT("linear")))
            kind = S_LINEAR;
        else
            return fmx_err(err, "param 'scorer' must be \"xgboost\" or \"linear\"");
    }
    const s_model_t *model;
    s_model_t inline_model = {0};
    const msgpack_object *weights = fmx_mp_map_get(task->params, "weights");
    if (weights && weights->type != MSGPACK_OBJECT_NIL) {
        if (kind == S_XGBOOST) return fmx_err(err, "param 'weights' is a linear model; scorer xgboost needs 'model'");
        if (s_inline_weights(weights, task->zone, &inline_model, err) != 0) return -1;
        model = &inline_model;
    } else if (name.ptr) {
        if (!task->state) return fmx_err(err, "score state missing (init not called)");
        model = s_model_get(task->state, name, kind, err);
        if (!model) return -1;
    } else {
        return fmx_err(err, "score needs param 'weights' or 'model'");
    }

    const fmx_entity_list_t *in = &task->inputs[0];
    double *keys = msgpack_zone_malloc(task->zone, (in->n ? in->n : 1) * sizeof(*keys));
    if (!keys || fmx_entity_list_reserve(out, in->n, task->zone) != 0) return fmx_err(err, "out of memory");
    if (model->kind == S_XGBOOST && s_xgb_score(task, model, in, keys, err) != 0) return -1;
    for (size_t i = 0; i < in->n; i++) {
        if (i % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 && fmx_node_deadline_check(task, err) != 0)
            return -1;
        fmx_entity_t *e = fmx_entity_list_push(out, &in->v[i], task->zone);
        if (!e) return fmx_err(err, "out of memory");
        if (model->kind == S_LINEAR) keys[i] = s_linear_score(model, e);
        e->score = keys[i];
        e->has_score = true;
    }
    if (fmx_node_sort_desc(out, keys, task->zone) != 0) return fmx_err(err, "out of memory");
    return 0;
}

const fmx_node_type_t fmx_node_score = {"score", s_init, s_run, s_fini};
