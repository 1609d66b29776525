/* request.c - the client protocol (DESIGN.md section 4): request decoding, reply encoding. */
#include "schemas/request.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/mpcheck.h"
#include "schemas/mpobj.h"

static const char *const s_code_names[] = {
    [FMX_CODE_OK] = "ok",
    [FMX_CODE_BAD_REQUEST] = "bad_request",
    [FMX_CODE_UNKNOWN_FEED] = "unknown_feed",
    [FMX_CODE_OVERLOADED] = "overloaded",
    [FMX_CODE_DEADLINE_EXCEEDED] = "deadline_exceeded",
    [FMX_CODE_INTERNAL] = "internal",
};

const char *fmx_error_code_name(fmx_error_code_t code) {
    if ((unsigned)code >= FMX_ARRAY_LEN(s_code_names)) return "internal";
    return s_code_names[code];
}

/* ---- decoding helpers ---------------------------------------------------------------------- */

/* Orders str objects by length, then bytes: all that finding duplicates needs. */
static int s_str_cmp(const msgpack_object *x, const msgpack_object *y) {
    if (x->via.str.size != y->via.str.size) return x->via.str.size < y->via.str.size ? -1 : 1;
    return x->via.str.size ? memcmp(x->via.str.ptr, y->via.str.ptr, x->via.str.size) : 0;
}

static int s_key_cmp(const void *a, const void *b) {
    return s_str_cmp(*(const msgpack_object *const *)a, *(const msgpack_object *const *)b);
}

/* Checks that every key of map is a str and that no key repeats. `where` names the map in
 * messages ("" for the request itself). Large maps are sorted in a zone-allocated index. */
static int s_check_keys(const msgpack_object *map, msgpack_zone *zone, const char *where, char err[FMX_ERR_LEN]) {
    uint32_t n = map->via.map.size;
    const msgpack_object_kv *kv = map->via.map.ptr;
    char name[48];

    for (uint32_t i = 0; i < n; i++) {
        if (kv[i].key.type != MSGPACK_OBJECT_STR)
            return fmx_err(err, "%s keys must be strings, got %s", where, fmx_mp_type_name(&kv[i].key));
    }
    const msgpack_object *dup = NULL;
    if (n <= 16) {
        for (uint32_t i = 1; i < n && !dup; i++)
            for (uint32_t j = 0; j < i && !dup; j++)
                if (s_str_cmp(&kv[i].key, &kv[j].key) == 0) dup = &kv[i].key;
    } else {
        const msgpack_object **keys = msgpack_zone_malloc(zone, (size_t)n * sizeof(*keys));
        if (!keys) return fmx_err(err, "out of memory checking %s keys", where);
        for (uint32_t i = 0; i < n; i++)
            keys[i] = &kv[i].key;
        qsort(keys, n, sizeof(*keys), s_key_cmp);
        for (uint32_t i = 1; i < n && !dup; i++)
            if (s_str_cmp(keys[i - 1], keys[i]) == 0) dup = keys[i];
    }
    if (dup)
        return fmx_err(err, "duplicate key `%s` in %s",
                       fmx_mp_printable(name, sizeof(name), dup->via.str.ptr, dup->via.str.size), where);
    return 0;
}

static int s_str(const msgpack_object *o, const char *key, size_t max, bool nonempty, fmx_str_t *out,
                 char err[FMX_ERR_LEN]) {
    if (o->type != MSGPACK_OBJECT_STR) return fmx_err(err, "`%s` must be a str, got %s", key, fmx_mp_type_name(o));
    if (o->via.str.size > max)
        return fmx_err(err, "`%s` is %" PRIu32 " bytes long, the limit is %zu", key, o->via.str.size, max);
    if (nonempty && o->via.str.size == 0) return fmx_err(err, "`%s` must not be empty", key);
    out->ptr = o->via.str.ptr;
    out->len = o->via.str.size;
    return 0;
}

static int s_int_range(const msgpack_object *o, const char *key, int64_t lo, int64_t hi, int64_t *out,
                       char err[FMX_ERR_LEN]) {
    bool ok = false;
    int64_t v = 0;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)hi) {
        v = (int64_t)o->via.u64;
        ok = v >= lo;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
        ok = v >= lo && v <= hi;
    }
    if (ok) {
        *out = v;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return fmx_err(err, "`%s` must be an integer between %" PRId64 " and %" PRId64 ", got %" PRIu64, key, lo, hi,
                       o->via.u64);
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return fmx_err(err, "`%s` must be an integer between %" PRId64 " and %" PRId64 ", got %" PRId64, key, lo, hi,
                       o->via.i64);
    return fmx_err(err, "`%s` must be an integer between %" PRId64 " and %" PRId64 ", got %s", key, lo, hi,
                   fmx_mp_type_name(o));
}

static bool s_feed_name_ok(fmx_str_t s) {
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* `context`: a map with str keys, values scalars, arrays or maps (bin and ext are refused). */
static int s_context(const msgpack_object *o, msgpack_zone *zone, char err[FMX_ERR_LEN]) {
    char name[48];
    if (o->type != MSGPACK_OBJECT_MAP) return fmx_err(err, "`context` must be a map, got %s", fmx_mp_type_name(o));
    if (s_check_keys(o, zone, "`context`", err) < 0) return -1;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->val.type == MSGPACK_OBJECT_BIN || kv->val.type == MSGPACK_OBJECT_EXT)
            return fmx_err(err, "`context.%s` must be a scalar, array or map, got %s",
                           fmx_mp_printable(name, sizeof(name), kv->key.via.str.ptr, kv->key.via.str.size),
                           fmx_mp_type_name(&kv->val));
    }
    return 0;
}

/* The request keys, in the order their values are checked (so messages are deterministic). */
enum { K_FEED, K_EVENT, K_TOKEN, K_USER_ID, K_REQUEST_ID, K_CONTEXT, K_PARAMS, K_LIMIT, K_DEADLINE, K_DEBUG, K_COUNT };
static const char *const s_keys[K_COUNT] = {
    [K_FEED] = "feed",       [K_EVENT] = "event",           [K_TOKEN] = "token",
    [K_USER_ID] = "user_id", [K_REQUEST_ID] = "request_id", [K_CONTEXT] = "context",
    [K_PARAMS] = "params",   [K_LIMIT] = "limit",           [K_DEADLINE] = "deadline_ms",
    [K_DEBUG] = "debug",
};

int fmx_request_decode(fmx_request_t *req, const void *buf, size_t len, char err[FMX_ERR_LEN]) {
    char why[FMX_ERR_LEN];
    memset(req, 0, sizeof(*req));
    msgpack_unpacked_init(&req->unpacked);

    if (fmx_mp_check(buf, len, &fmx_mp_limits_request, why) < 0)
        return fmx_err(err, "request is not valid msgpack: %s", why);

    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack_next(&req->unpacked, buf, len, &off);
    if (rc == MSGPACK_UNPACK_NOMEM_ERROR) return fmx_err(err, "out of memory decoding the request");
    if (rc != MSGPACK_UNPACK_SUCCESS) /* cannot happen after fmx_mp_check; never trust it blindly */
        return fmx_err(err, "request is not valid msgpack (unpack returned %d)", (int)rc);

    const msgpack_object *root = &req->unpacked.data;
    if (root->type != MSGPACK_OBJECT_MAP)
        return fmx_err(err, "request must be a msgpack map, got %s", fmx_mp_type_name(root));
    if (s_check_keys(root, req->unpacked.zone, "request", err) < 0) return -1;

    const msgpack_object *val[K_COUNT] = {0};
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        for (int k = 0; k < K_COUNT; k++) {
            if (kv->key.via.str.size == strlen(s_keys[k]) &&
                memcmp(kv->key.via.str.ptr, s_keys[k], kv->key.via.str.size) == 0) {
                val[k] = &kv->val; /* keys are unique: checked above */
                break;
            }
        }
    }

    if (val[K_FEED] && val[K_EVENT]) return fmx_err(err, "request has both `feed` and `event`; send one");
    if (!val[K_FEED] && !val[K_EVENT]) return fmx_err(err, "request has neither `feed` nor `event`");
    req->kind = val[K_FEED] ? FMX_REQ_FEED : FMX_REQ_EVENT;

    if (val[K_FEED]) {
        if (s_str(val[K_FEED], "feed", FMX_ID_MAX, true, &req->feed, err) < 0) return -1;
        if (!s_feed_name_ok(req->feed)) return fmx_err(err, "`feed` may only contain letters, digits, '_' and '-'");
    }
    if (val[K_EVENT] && s_str(val[K_EVENT], "event", FMX_ID_MAX, true, &req->event, err) < 0) return -1;
    if (val[K_TOKEN] && s_str(val[K_TOKEN], "token", FMX_TOKEN_MAX, true, &req->token, err) < 0) return -1;

    if (val[K_USER_ID]) {
        const msgpack_object *u = val[K_USER_ID];
        int n = -1;
        if (u->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            n = snprintf(req->user_id_buf, sizeof(req->user_id_buf), "%" PRIu64, u->via.u64);
        else if (u->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            n = snprintf(req->user_id_buf, sizeof(req->user_id_buf), "%" PRId64, u->via.i64);
        else if (u->type != MSGPACK_OBJECT_STR)
            return fmx_err(err, "`user_id` must be a str or an int, got %s", fmx_mp_type_name(u));
        if (n >= 0) {
            req->user_id.ptr = req->user_id_buf;
            req->user_id.len = (size_t)n;
        } else if (s_str(u, "user_id", FMX_ID_MAX, true, &req->user_id, err) < 0) {
            return -1;
        }
    }
    if (val[K_REQUEST_ID] && s_str(val[K_REQUEST_ID], "request_id", FMX_ID_MAX, false, &req->request_id, err) < 0)
        return -1;
    if (val[K_CONTEXT]) {
        if (s_context(val[K_CONTEXT], req->unpacked.zone, err) < 0) return -1;
        req->context = val[K_CONTEXT];
    }
    if (val[K_PARAMS]) {
        if (val[K_PARAMS]->type != MSGPACK_OBJECT_MAP)
            return fmx_err(err, "`params` must be a map, got %s", fmx_mp_type_name(val[K_PARAMS]));
        if (s_check_keys(val[K_PARAMS], req->unpacked.zone, "`params`", err) < 0) return -1;
        req->params = val[K_PARAMS];
    }
    if (val[K_LIMIT] && s_int_range(val[K_LIMIT], "limit", 1, FMX_LIMIT_MAX, &req->limit, err) < 0) return -1;
    if (val[K_DEADLINE] &&
        s_int_range(val[K_DEADLINE], "deadline_ms", 1, FMX_DEADLINE_MAX_MS, &req->deadline_ms, err) < 0)
        return -1;
    if (val[K_DEBUG]) {
        if (val[K_DEBUG]->type != MSGPACK_OBJECT_BOOLEAN)
            return fmx_err(err, "`debug` must be a bool, got %s", fmx_mp_type_name(val[K_DEBUG]));
        req->debug = val[K_DEBUG]->via.boolean;
    }

    if (req->kind == FMX_REQ_FEED && !val[K_USER_ID]) return fmx_err(err, "`user_id` is required");
    if (req->kind == FMX_REQ_EVENT && !val[K_TOKEN]) return fmx_err(err, "`token` is required with `event`");
    return 0;
}

void fmx_request_fini(fmx_request_t *req) {
    if (!req) return;
    msgpack_unpacked_destroy(&req->unpacked);
    /* Everything else pointed into the zone or the caller's buffer: forget it all, so a second
     * fini or a stray read sees an empty request rather than dangling pointers. */
    memset(req, 0, sizeof(*req));
}

/* ---- replies ------------------------------------------------------------------------------- */

static int s_pack_str(msgpack_packer *pk, fmx_str_t s) {
    return fmx_mp_pack_strn(pk, s.ptr, s.len);
}

static int s_pack_kv_str(msgpack_packer *pk, const char *key, fmx_str_t val) {
    return fmx_mp_pack_cstr(pk, key) || s_pack_str(pk, val) ? -1 : 0;
}

static int s_pack_kv_cstr(msgpack_packer *pk, const char *key, const char *val) {
    return fmx_mp_pack_cstr(pk, key) || fmx_mp_pack_cstr(pk, val) ? -1 : 0;
}

static int s_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t val) {
    return fmx_mp_pack_cstr(pk, key) || msgpack_pack_uint64(pk, val) ? -1 : 0;
}

/* Every packer appends one map or nothing: on failure out is rolled back to its previous size. */
static int s_rollback(msgpack_sbuffer *out, size_t mark) {
    out->size = mark;
    return -1;
}

int fmx_reply_pack(msgpack_sbuffer *out, const fmx_reply_t *r) {
    size_t mark = out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);

    if (r->items) {
        /* Spliced raw: it must at least start as an array, or the reply would be garbage. */
        size_t off = 0;
        uint32_t count;
        if (fmx_mp_read_array_header(r->items, r->items_len, &off, &count) < 0) return -1;
    }

    if (msgpack_pack_map(&pk, r->with_trace ? 8 : 7) || s_pack_kv_cstr(&pk, "status", r->status ? r->status : "ok") ||
        s_pack_kv_str(&pk, "request_id", r->request_id) || s_pack_kv_str(&pk, "ranking_id", r->ranking_id) ||
        s_pack_kv_str(&pk, "feed", r->feed) || fmx_mp_pack_cstr(&pk, "items"))
        return s_rollback(out, mark);
    if (r->items ? msgpack_sbuffer_write(out, r->items, r->items_len) : msgpack_pack_array(&pk, 0))
        return s_rollback(out, mark);

    if (fmx_mp_pack_cstr(&pk, "experiments") || msgpack_pack_map(&pk, r->n_experiments)) return s_rollback(out, mark);
    for (size_t i = 0; i < r->n_experiments; i++)
        if (s_pack_str(&pk, r->experiment_names[i]) || s_pack_str(&pk, r->experiment_variants[i]))
            return s_rollback(out, mark);

    if (fmx_mp_pack_cstr(&pk, "fallbacks") || msgpack_pack_array(&pk, r->n_fallbacks)) return s_rollback(out, mark);
    for (size_t i = 0; i < r->n_fallbacks; i++)
        if (fmx_mp_pack_cstr(&pk, r->fallbacks[i])) return s_rollback(out, mark);

    if (r->with_trace) {
        if (fmx_mp_pack_cstr(&pk, "trace") || msgpack_pack_array(&pk, r->n_trace)) return s_rollback(out, mark);
        for (size_t i = 0; i < r->n_trace; i++) {
            const fmx_trace_entry_t *t = &r->trace[i];
            size_t n = 6 + (t->detail ? 5 + (t->outcome != NULL) + (t->fallback != NULL) : 0);
            if (msgpack_pack_map(&pk, n) || s_pack_kv_cstr(&pk, "node", t->node) ||
                s_pack_kv_cstr(&pk, "type", t->type) || s_pack_kv_cstr(&pk, "actor", t->actor) ||
                s_pack_kv_cstr(&pk, "status", t->status) || s_pack_kv_u64(&pk, "start_us", t->start_us) ||
                s_pack_kv_u64(&pk, "end_us", t->end_us))
                return s_rollback(out, mark);
            if (t->detail &&
                (s_pack_kv_u64(&pk, "queue_us", t->queue_us) || s_pack_kv_u64(&pk, "actor_us", t->actor_us) ||
                 s_pack_kv_u64(&pk, "bytes", t->bytes) || fmx_mp_pack_cstr(&pk, "replica_pid") ||
                 msgpack_pack_int64(&pk, t->replica_pid) || s_pack_kv_u64(&pk, "attempt", t->attempt) ||
                 (t->outcome && s_pack_kv_cstr(&pk, "outcome", t->outcome)) ||
                 (t->fallback && s_pack_kv_cstr(&pk, "fallback", t->fallback))))
                return s_rollback(out, mark);
        }
    }
    return 0;
}

int fmx_reply_pack_error(msgpack_sbuffer *out, fmx_str_t request_id, fmx_error_code_t code, const char *message) {
    size_t mark = out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    bool with_id = request_id.len > 0;

    if (msgpack_pack_map(&pk, with_id ? 3 : 2) || s_pack_kv_cstr(&pk, "status", "error") ||
        (with_id && s_pack_kv_str(&pk, "request_id", request_id)) || fmx_mp_pack_cstr(&pk, "error") ||
        msgpack_pack_map(&pk, 2) || s_pack_kv_cstr(&pk, "code", fmx_error_code_name(code)) ||
        s_pack_kv_cstr(&pk, "message", message))
        return s_rollback(out, mark);
    return 0;
}

int fmx_reply_pack_event_ok(msgpack_sbuffer *out, fmx_str_t request_id) {
    size_t mark = out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    bool with_id = request_id.len > 0;

    if (msgpack_pack_map(&pk, with_id ? 2 : 1) || s_pack_kv_cstr(&pk, "status", "ok") ||
        (with_id && s_pack_kv_str(&pk, "request_id", request_id)))
        return s_rollback(out, mark);
    return 0;
}
