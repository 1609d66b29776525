/* score.c - a linear scorer: score = bias + sum(weight[f] * fields[f]).
 *
 * inputs: 1
 * params:
 *   weights  map str -> number, optional   the weights inline; the key "bias" is the bias
 *   model    str, optional                 a model file, <data_dir>/models/<model>.weights
 * `weights` wins when both are given; neither is an error.
 *
 * A model file is text, one "feature weight" per line, an optional "bias b" line, `#` comments
 * and blank lines ignored. Model names are plain file names ([A-Za-z0-9_.-], no leading dot), so
 * a request parameter can never reach outside the models directory. A model is loaded once and
 * cached in the node state (16 models, replaced round-robin); a file that fails to load is not
 * cached, so fixing it on disk fixes the next task.
 *
 * Int, float and bool fields count (true = 1); missing or other fields count as 0. The output is
 * every input entity with its new score, sorted by score descending, stable. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "actors/nodes/nodes.h"
#include "schemas/mpobj.h"

#define S_MAX_MODELS   16
#define S_MAX_NAME     128
#define S_MAX_FEATURES 4096
#define S_MAX_FILE     (1024 * 1024)

typedef struct {
    const char *name; /* in a model: owned; inline: borrowed from params */
    size_t len;
    double weight;
} s_feature_t;

typedef struct {
    char *name;
    s_feature_t *features;
    size_t n;
    double bias;
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

static int s_model_load(s_model_t *m, const char *dir, fmx_str_t name, char err[FMX_ERR_LEN]) {
    int rc = -1;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    m->name = strndup(name.ptr, name.len);
    if (!m->name) return fmx_err(err, "out of memory");
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s.weights", dir, m->name) >= (int)sizeof(path)) {
        fmx_err(err, "model path too long");
        goto done;
    }
    f = fopen(path, "r");
    if (!f) {
        fmx_err(err, "fopen(%s) failed: %s", path, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > S_MAX_FILE) {
        fmx_err(err, "model file %s is not a regular file of at most %d bytes", path, S_MAX_FILE);
        goto done;
    }
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
    if (f) fclose(f);
    if (rc != 0) s_model_clear(m);
    return rc;
}

static const s_model_t *s_model_get(s_state_t *st, fmx_str_t name, char err[FMX_ERR_LEN]) {
    if (!s_name_ok(name)) {
        fmx_err(err, "bad model name '%.*s'", (int)(name.len > 64 ? 64 : name.len), name.ptr);
        return NULL;
    }
    for (size_t i = 0; i < S_MAX_MODELS; i++) {
        const s_model_t *m = &st->models[i];
        if (m->name && strlen(m->name) == name.len && memcmp(m->name, name.ptr, name.len) == 0) return m;
    }
    if (!st->models_dir) {
        fmx_err(err, "no data directory configured for model '%.*s'", (int)name.len, name.ptr);
        return NULL;
    }
    s_model_t *slot = &st->models[st->next];
    s_model_clear(slot);
    if (s_model_load(slot, st->models_dir, name, err) != 0) return NULL;
    st->next = (st->next + 1) % S_MAX_MODELS;
    return slot;
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
    return 0;
}

static double s_score(const s_model_t *m, const fmx_entity_t *e) {
    double s = m->bias, v;
    for (size_t i = 0; i < m->n; i++)
        if (fmx_node_number(fmx_entity_field(e, m->features[i].name, m->features[i].len), &v))
            s += m->features[i].weight * v;
    return s;
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
    const s_model_t *model;
    s_model_t inline_model = {0};
    const msgpack_object *weights = fmx_mp_map_get(task->params, "weights");
    fmx_str_t name;
    if (fmx_node_param_str(task, "model", false, &name, err) < 0) return -1;
    if (weights && weights->type != MSGPACK_OBJECT_NIL) {
        if (s_inline_weights(weights, task->zone, &inline_model, err) != 0) return -1;
        model = &inline_model;
    } else if (name.ptr) {
        if (!task->state) return fmx_err(err, "score state missing (init not called)");
        model = s_model_get(task->state, name, err);
        if (!model) return -1;
    } else {
        return fmx_err(err, "score needs param 'weights' or 'model'");
    }

    const fmx_entity_list_t *in = &task->inputs[0];
    double *keys = msgpack_zone_malloc(task->zone, (in->n ? in->n : 1) * sizeof(*keys));
    if (!keys || fmx_entity_list_reserve(out, in->n, task->zone) != 0) return fmx_err(err, "out of memory");
    for (size_t i = 0; i < in->n; i++) {
        if (i % FMX_NODE_DEADLINE_EVERY == FMX_NODE_DEADLINE_EVERY - 1 && fmx_node_deadline_check(task, err) != 0)
            return -1;
        fmx_entity_t *e = fmx_entity_list_push(out, &in->v[i], task->zone);
        if (!e) return fmx_err(err, "out of memory");
        e->score = keys[i] = s_score(model, e);
        e->has_score = true;
    }
    if (fmx_node_sort_desc(out, keys, task->zone) != 0) return fmx_err(err, "out of memory");
    return 0;
}

const fmx_node_type_t fmx_node_score = {"score", s_init, s_run, s_fini};
