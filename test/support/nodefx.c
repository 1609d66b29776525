/* nodefx.c - see nodefx.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "schemas/mpobj.h"
#include "test/support/nodefx.h"

int nfx_setup(void **state) {
    nfx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->zone = msgpack_zone_new(8192);
    assert_non_null(fx->zone);
    msgpack_sbuffer_init(&fx->sb);
    msgpack_packer_init(&fx->pk, &fx->sb, msgpack_sbuffer_write);
    fx->params.type = MSGPACK_OBJECT_NIL;
    fx->context.type = MSGPACK_OBJECT_NIL;
    fx->env.node_type = "test";
    assert_int_equal(fmx_token_key_generate(&fx->key, fx->err), 0);
    fx->env.token_key = &fx->key;
    fx->task.node = FMX_STR_LIT("mynode");
    *state = fx;
    return 0;
}

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int nfx_teardown(void **state) {
    nfx_t *fx = *state;
    if (fx->type && fx->type->fini) fx->type->fini(&fx->state);
    fmx_store_txn_end(&fx->wtxn);
    fmx_store_close(&fx->store);
    if (fx->dir[0]) nftw(fx->dir, s_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    msgpack_sbuffer_destroy(&fx->sb);
    msgpack_zone_free(fx->zone);
    free(fx);
    *state = NULL;
    return 0;
}

void nfx_tmpdir(nfx_t *fx, const char *name) {
    assert_true(fx->dir[0] == '\0'); /* teardown removes one dir */
    int n = snprintf(fx->dir, sizeof(fx->dir), "/tmp/fmx-test-%s-XXXXXX", name);
    assert_true(n > 0 && (size_t)n < sizeof(fx->dir));
    assert_non_null(mkdtemp(fx->dir));
}

/* ---- msgpack ---- */

void nfx_str(nfx_t *fx, const char *s) {
    assert_int_equal(fmx_mp_pack_cstr(&fx->pk, s), 0);
}

msgpack_object nfx_take_obj(nfx_t *fx) {
    char *copy = msgpack_zone_malloc(fx->zone, fx->sb.size);
    assert_non_null(copy);
    memcpy(copy, fx->sb.data, fx->sb.size);
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(copy, fx->sb.size, &off, fx->zone, &o), MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_clear(&fx->sb);
    return o;
}

/* One scalar from text: an int, a float (has '.'), true/false, null, or else a string. */
static void s_pack_scalar(nfx_t *fx, const char *v) {
    char *end;
    long long i = strtoll(v, &end, 10);
    if (*v && !*end) {
        msgpack_pack_int64(&fx->pk, i);
        return;
    }
    double d = strtod(v, &end);
    if (*v && !*end && strchr(v, '.'))
        msgpack_pack_double(&fx->pk, d);
    else if (strcmp(v, "true") == 0)
        msgpack_pack_true(&fx->pk);
    else if (strcmp(v, "false") == 0)
        msgpack_pack_false(&fx->pk);
    else if (strcmp(v, "null") == 0)
        msgpack_pack_nil(&fx->pk);
    else
        nfx_str(fx, v);
}

void nfx_pack_spec(nfx_t *fx, const char *spec) {
    char buf[8192];
    assert_true(strlen(spec) < sizeof(buf));
    strcpy(buf, spec);
    uint32_t n = *spec ? 1 : 0;
    for (const char *p = spec; *p; p++)
        n += *p == ',';
    msgpack_pack_map(&fx->pk, n);
    char *save = NULL;
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        assert_non_null(eq);
        *eq = '\0';
        char *v = eq + 1;
        nfx_str(fx, kv);
        size_t len = strlen(v);
        if (len >= 2 && v[0] == '[' && v[len - 1] == ']') {
            v[len - 1] = '\0';
            v++;
            uint32_t items = *v ? 1 : 0;
            for (const char *p = v; *p; p++)
                items += *p == '|';
            msgpack_pack_array(&fx->pk, items);
            char *save2 = NULL;
            for (char *it = strtok_r(v, "|", &save2); it; it = strtok_r(NULL, "|", &save2))
                s_pack_scalar(fx, it);
        } else {
            s_pack_scalar(fx, v);
        }
    }
}

fmx_str_t nfx_zstr(nfx_t *fx, const char *s) {
    if (!s) return FMX_STR_NULL;
    size_t n = strlen(s);
    char *p = msgpack_zone_malloc(fx->zone, n + 1);
    assert_non_null(p);
    memcpy(p, s, n + 1);
    return (fmx_str_t){p, n};
}

/* ---- entities and inputs ---- */

fmx_entity_t nfx_ent(nfx_t *fx, const char *id, const char *type, double score, const char *source,
                     const char *fields) {
    fmx_entity_t e;
    memset(&e, 0, sizeof(e));
    e.id = nfx_zstr(fx, id);
    e.type = nfx_zstr(fx, type);
    e.source = nfx_zstr(fx, source);
    if (!isnan(score)) {
        e.score = score;
        e.has_score = true;
    }
    e.fields.type = MSGPACK_OBJECT_NIL;
    if (fields) {
        nfx_pack_spec(fx, fields);
        e.fields = nfx_take_obj(fx);
    }
    return e;
}

fmx_entity_t *nfx_push(nfx_t *fx, size_t input, fmx_entity_t e) {
    assert_true(input < NFX_MAX_INPUTS);
    if (input >= fx->n_inputs) fx->n_inputs = input + 1;
    fmx_entity_t *p = fmx_entity_list_push(&fx->raw[input], &e, fx->zone);
    assert_non_null(p);
    return p;
}

fmx_entity_t *nfx_add(nfx_t *fx, size_t input, const char *id, const char *type, double score, const char *source,
                      const char *fields) {
    return nfx_push(fx, input, nfx_ent(fx, id, type, score, source, fields));
}

void nfx_params(nfx_t *fx, const char *spec) {
    nfx_pack_spec(fx, spec);
    fx->params = nfx_take_obj(fx);
}

void nfx_context(nfx_t *fx, const char *spec) {
    nfx_pack_spec(fx, spec);
    fx->context = nfx_take_obj(fx);
}

/* ---- running a node ---- */

void nfx_round_trip(nfx_t *fx, const fmx_entity_list_t *list, fmx_entity_list_t *back) {
    msgpack_sbuffer_clear(&fx->sb);
    assert_int_equal(fmx_entity_list_pack(&fx->pk, list), 0);
    char *frame = msgpack_zone_malloc(fx->zone, fx->sb.size);
    assert_non_null(frame);
    memcpy(frame, fx->sb.data, fx->sb.size);
    assert_int_equal(fmx_entity_list_decode_frame(frame, fx->sb.size, fx->zone, back, fx->err), 0);
    msgpack_sbuffer_clear(&fx->sb);
}

int nfx_run(nfx_t *fx, const char *name) {
    const fmx_node_type_t *type = fmx_node_type_find(name);
    assert_non_null(type);
    if (fx->type != type) {
        if (fx->type && fx->type->fini) fx->type->fini(&fx->state);
        fx->type = type;
        if (type->init) assert_int_equal(type->init(&fx->state, &fx->env, fx->err), 0);
    }
    for (size_t i = 0; i < fx->n_inputs; i++)
        nfx_round_trip(fx, &fx->raw[i], &fx->in[i]);
    if (fx->params.type == MSGPACK_OBJECT_NIL) nfx_params(fx, "");
    if (fx->context.type == MSGPACK_OBJECT_NIL) nfx_context(fx, "user_id=42,geo=DE");
    fx->task.request_id = FMX_STR_LIT("req-1");
    fx->task.ranking_id = FMX_STR_LIT("R1");
    fx->task.params = &fx->params;
    fx->task.context = &fx->context;
    fx->task.inputs = fx->in;
    fx->task.n_inputs = fx->n_inputs;
    fx->task.zone = fx->zone;
    fx->task.env = &fx->env;
    fx->task.state = fx->state;
    fmx_entity_list_init(&fx->out);
    fx->err[0] = '\0';
    int rc = type->run(&fx->task, &fx->out, fx->err);
    if (rc == 0 && fx->out_round_trip) {
        fmx_entity_list_t back;
        nfx_round_trip(fx, &fx->out, &back);
        fx->out = back;
    }
    return rc;
}

/* ---- checks ---- */

/* The ids of l into buf, with each collection's items in () after its id when tree. */
static size_t s_ids_into(const fmx_entity_list_t *l, bool tree, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        const fmx_entity_t *e = &l->v[i];
        int w = snprintf(buf + n, cap - n, "%s%.*s", i ? "," : "", (int)e->id.len, e->id.ptr);
        assert_true(w > 0 && (size_t)w < cap - n);
        n += (size_t)w;
        if (!tree || !e->has_items) continue;
        assert_true(n + 2 < cap);
        buf[n++] = '(';
        n += s_ids_into(&e->items, true, buf + n, cap - n);
        assert_true(n + 2 < cap);
        buf[n++] = ')';
        buf[n] = '\0';
    }
    return n;
}

const char *nfx_ids(nfx_t *fx, const fmx_entity_list_t *list) {
    s_ids_into(list, false, fx->ids, sizeof(fx->ids));
    return fx->ids;
}

const char *nfx_ids_tree(nfx_t *fx, const fmx_entity_list_t *list) {
    s_ids_into(list, true, fx->ids, sizeof(fx->ids));
    return fx->ids;
}

void nfx_assert_str(fmx_str_t s, const char *want) {
    if (!s.ptr || s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)s.len, s.ptr ? s.ptr : "(null)", want);
}

/* ---- store ---- */

void nfx_store_open_at(nfx_t *fx, const char *path) {
    fx->store = fmx_store_open(path, 0, 16, fx->err);
    assert_non_null(fx->store);
    fx->wtxn = fmx_store_write_begin(fx->store, fx->err);
    assert_non_null(fx->wtxn);
    assert_int_equal(fmx_store_clear(fx->wtxn, fx->err), 0);
    fx->env.store = fx->store;
}

void nfx_store_open(nfx_t *fx) {
    nfx_tmpdir(fx, "nodes");
    nfx_store_open_at(fx, fx->dir);
}

void nfx_store_put(nfx_t *fx, const char *key) {
    assert_int_equal(fmx_store_put(fx->wtxn, key, strlen(key), fx->sb.data, fx->sb.size, fx->err), 0);
    msgpack_sbuffer_clear(&fx->sb);
}

void nfx_store_commit(nfx_t *fx) {
    assert_int_equal(fmx_store_commit(&fx->wtxn, fx->err), 0);
}

void nfx_store_close(nfx_t *fx) {
    fmx_store_close(&fx->store);
    fx->env.store = NULL;
}
