/* wire.c - broker <-> actor header frames (FMX/1, see wire.h and schemas/PROTOCOL.md).
 *
 * Decoding is table-driven: each command lists its fields with a type, a range and where the
 * value lands in fmx_wire_header_t; one loop checks them all. */
#include "schemas/wire.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "schemas/mpcheck.h"
#include "schemas/mpobj.h"

/* A header is a flat map of ~10 keys; anything nested or long is refused before unpacking. */
static const fmx_mp_limits_t s_header_limits = {
    .max_bytes = FMX_WIRE_HEADER_MAX,
    .max_depth = 4,
    .max_elements = 256,
};

#define S_TYPE_MAX 64 /* node type names */
/* Free-form strings (actor name, error, reason) are cut to this on encode so that a long
 * message can never push a header over FMX_WIRE_HEADER_MAX. */
#define S_TEXT_MAX 1024

typedef enum { F_STR = 1, F_U64, F_U32, F_I64, F_BOOL } s_ftype_t;

typedef struct {
    const char *key;
    s_ftype_t type;
    size_t offset; /* into fmx_wire_header_t */
    bool required;
    bool nonempty;     /* F_STR */
    uint64_t min, max; /* F_U32: value range; F_STR: max is the length limit */
} s_field_t;

#define S_OFF(f) offsetof(fmx_wire_header_t, f)

static const s_field_t s_ready_fields[] = {
    {"type", F_STR, S_OFF(type), true, true, 0, S_TYPE_MAX},
    {"capacity", F_U32, S_OFF(capacity), true, false, 1, 1024},
    {"pid", F_I64, S_OFF(pid), true, false, 0, 0},
    {"name", F_STR, S_OFF(name), false, false, 0, FMX_WIRE_HEADER_MAX},
    {NULL, 0, 0, false, false, 0, 0},
};

static const s_field_t s_task_fields[] = {
    {"id", F_U64, S_OFF(task_id), true, false, 0, 0},
    {"req", F_STR, S_OFF(request_id), true, true, 0, FMX_WIRE_HEADER_MAX},
    {"rank", F_STR, S_OFF(ranking_id), true, false, 0, FMX_WIRE_HEADER_MAX},
    {"node", F_STR, S_OFF(node), true, true, 0, FMX_WIRE_HEADER_MAX},
    {"type", F_STR, S_OFF(type), true, true, 0, S_TYPE_MAX},
    {"budget_us", F_U64, S_OFF(budget_us), true, false, 0, 0},
    {"attempt", F_U32, S_OFF(attempt), true, false, 0, UINT32_MAX},
    {NULL, 0, 0, false, false, 0, 0},
};

static const s_field_t s_result_fields[] = {
    {"id", F_U64, S_OFF(task_id), true, false, 0, 0},
    {"ok", F_BOOL, S_OFF(ok), true, false, 0, 0},
    {"elapsed_us", F_U64, S_OFF(elapsed_us), true, false, 0, 0},
    {"error", F_STR, S_OFF(error), false, false, 0, FMX_WIRE_HEADER_MAX}, /* required when !ok: below */
    {NULL, 0, 0, false, false, 0, 0},
};

static const s_field_t s_disconnect_fields[] = {
    {"reason", F_STR, S_OFF(reason), false, false, 0, FMX_WIRE_HEADER_MAX},
    {NULL, 0, 0, false, false, 0, 0},
};

static const s_field_t s_no_fields[] = {
    {NULL, 0, 0, false, false, 0, 0},
};

static const struct {
    fmx_cmd_t cmd;
    const char *name;
    const s_field_t *fields;
} s_cmds[] = {
    {FMX_CMD_READY, "ready", s_ready_fields},
    {FMX_CMD_HEARTBEAT, "hb", s_no_fields},
    {FMX_CMD_TASK, "task", s_task_fields},
    {FMX_CMD_RESULT, "result", s_result_fields},
    {FMX_CMD_DISCONNECT, "disconnect", s_disconnect_fields},
};

const char *fmx_cmd_name(fmx_cmd_t cmd) {
    for (size_t i = 0; i < FMX_ARRAY_LEN(s_cmds); i++)
        if (s_cmds[i].cmd == cmd) return s_cmds[i].name;
    return "?";
}

/* Checks one field's value and stores it into h. */
static int s_field(fmx_wire_header_t *h, const char *cmd, const s_field_t *f, const msgpack_object *o,
                   char err[FMX_ERR_LEN]) {
    char *dst = (char *)h + f->offset;
    switch (f->type) {
    case F_STR:
        if (o->type != MSGPACK_OBJECT_STR)
            return fmx_err(err, "`%s` in a `%s` header must be a str, got %s", f->key, cmd, fmx_mp_type_name(o));
        if (f->nonempty && o->via.str.size == 0)
            return fmx_err(err, "`%s` in a `%s` header must not be empty", f->key, cmd);
        if (o->via.str.size > f->max)
            return fmx_err(err, "`%s` in a `%s` header is %" PRIu32 " bytes long, the limit is %" PRIu64, f->key, cmd,
                           o->via.str.size, f->max);
        *(fmx_str_t *)(void *)dst = (fmx_str_t){o->via.str.ptr, o->via.str.size};
        return 0;
    case F_U64:
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return fmx_err(err, "`%s` in a `%s` header must be a non-negative int, got %s", f->key, cmd,
                           o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? "a negative int" : fmx_mp_type_name(o));
        *(uint64_t *)(void *)dst = o->via.u64;
        return 0;
    case F_U32:
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 < f->min || o->via.u64 > f->max)
            return fmx_err(err, "`%s` in a `%s` header must be an int between %" PRIu64 " and %" PRIu64, f->key, cmd,
                           f->min, f->max);
        *(uint32_t *)(void *)dst = (uint32_t)o->via.u64;
        return 0;
    case F_I64:
        if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            *(int64_t *)(void *)dst = o->via.i64;
            return 0;
        }
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > (uint64_t)INT64_MAX)
            return fmx_err(err, "`%s` in a `%s` header must be a 64-bit int, got %s", f->key, cmd, fmx_mp_type_name(o));
        *(int64_t *)(void *)dst = (int64_t)o->via.u64;
        return 0;
    case F_BOOL:
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return fmx_err(err, "`%s` in a `%s` header must be a bool, got %s", f->key, cmd, fmx_mp_type_name(o));
        *(bool *)(void *)dst = o->via.boolean;
        return 0;
    }
    return fmx_err(err, "internal: bad field table entry for `%s`", f->key);
}

int fmx_wire_header_decode(fmx_wire_header_t *h, const void *buf, size_t len, msgpack_zone *zone,
                           char err[FMX_ERR_LEN]) {
    char why[FMX_ERR_LEN], name[48];
    memset(h, 0, sizeof(*h));

    if (len > FMX_WIRE_HEADER_MAX)
        return fmx_err(err, "header frame of %zu bytes exceeds the limit of %d bytes", len, FMX_WIRE_HEADER_MAX);
    if (fmx_mp_check(buf, len, &s_header_limits, why) < 0) return fmx_err(err, "header is not valid msgpack: %s", why);

    msgpack_object root;
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack(buf, len, &off, zone, &root);
    if (rc == MSGPACK_UNPACK_NOMEM_ERROR) return fmx_err(err, "out of memory decoding a header");
    if (rc != MSGPACK_UNPACK_SUCCESS) return fmx_err(err, "header is not valid msgpack (unpack returned %d)", (int)rc);
    if (root.type != MSGPACK_OBJECT_MAP)
        return fmx_err(err, "header must be a msgpack map, got %s", fmx_mp_type_name(&root));

    /* Str keys, none repeated: a header holds at most 128 entries (s_header_limits), so the
     * quadratic scan is cheap. */
    const msgpack_object_kv *kv = root.via.map.ptr;
    for (uint32_t i = 0; i < root.via.map.size; i++) {
        if (kv[i].key.type != MSGPACK_OBJECT_STR)
            return fmx_err(err, "header keys must be strings, got %s", fmx_mp_type_name(&kv[i].key));
        for (uint32_t j = 0; j < i; j++)
            if (kv[j].key.via.str.size == kv[i].key.via.str.size &&
                (kv[i].key.via.str.size == 0 ||
                 memcmp(kv[j].key.via.str.ptr, kv[i].key.via.str.ptr, kv[i].key.via.str.size) == 0))
                return fmx_err(err, "duplicate key `%s` in header",
                               fmx_mp_printable(name, sizeof(name), kv[i].key.via.str.ptr, kv[i].key.via.str.size));
    }

    const msgpack_object *v = fmx_mp_map_get(&root, "v");
    if (!v) return fmx_err(err, "header has no `v` (protocol version)");
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER && v->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return fmx_err(err, "header `v` must be an int, got %s", fmx_mp_type_name(v));
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 != FMX_WIRE_VERSION)
        return fmx_err(err, "unsupported protocol version %s%" PRIu64 " (this side speaks %d)",
                       v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? "-" : "",
                       v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? 0 - (uint64_t)v->via.i64 : v->via.u64,
                       FMX_WIRE_VERSION);

    const msgpack_object *c = fmx_mp_map_get(&root, "cmd");
    if (!c) return fmx_err(err, "header has no `cmd`");
    if (c->type != MSGPACK_OBJECT_STR) return fmx_err(err, "header `cmd` must be a str, got %s", fmx_mp_type_name(c));
    size_t ci = 0;
    while (ci < FMX_ARRAY_LEN(s_cmds) && !fmx_mp_str_eq(c, s_cmds[ci].name))
        ci++;
    if (ci == FMX_ARRAY_LEN(s_cmds))
        return fmx_err(err, "unknown cmd `%s`", fmx_mp_printable(name, sizeof(name), c->via.str.ptr, c->via.str.size));

    const char *cmd = s_cmds[ci].name;
    for (const s_field_t *f = s_cmds[ci].fields; f->key; f++) {
        const msgpack_object *o = fmx_mp_map_get(&root, f->key);
        if (!o) {
            if (f->required) return fmx_err(err, "`%s` header needs `%s`", cmd, f->key);
            continue;
        }
        if (s_field(h, cmd, f, o, err) < 0) return -1;
    }
    if (s_cmds[ci].cmd == FMX_CMD_RESULT && !h->ok && !fmx_mp_map_get(&root, "error"))
        return fmx_err(err, "`result` header with ok=false needs `error`");

    h->cmd = s_cmds[ci].cmd;
    return 0;
}

/* ---- encoders ------------------------------------------------------------------------------ */

static int s_head(msgpack_packer *pk, size_t n_fields, const char *cmd) {
    return msgpack_pack_map(pk, 2 + n_fields) || fmx_mp_pack_cstr(pk, "v") || msgpack_pack_int(pk, FMX_WIRE_VERSION) ||
                   fmx_mp_pack_cstr(pk, "cmd") || fmx_mp_pack_cstr(pk, cmd)
               ? -1
               : 0;
}

static int s_kv_str(msgpack_packer *pk, const char *key, fmx_str_t val) {
    return fmx_mp_pack_cstr(pk, key) || fmx_mp_pack_strn(pk, val.ptr, val.len) ? -1 : 0;
}

static int s_kv_cstr(msgpack_packer *pk, const char *key, const char *val) {
    return fmx_mp_pack_cstr(pk, key) || fmx_mp_pack_cstr(pk, val) ? -1 : 0;
}

static int s_kv_text(msgpack_packer *pk, const char *key, const char *val) {
    size_t n = val ? strlen(val) : 0;
    return fmx_mp_pack_cstr(pk, key) || fmx_mp_pack_strn(pk, val, n < S_TEXT_MAX ? n : S_TEXT_MAX) ? -1 : 0;
}

static int s_kv_u64(msgpack_packer *pk, const char *key, uint64_t val) {
    return fmx_mp_pack_cstr(pk, key) || msgpack_pack_uint64(pk, val) ? -1 : 0;
}

/* Every encoder appends one map or nothing: on failure out is rolled back. */
static int s_done(msgpack_sbuffer *out, size_t mark, int rc) {
    if (rc != 0) {
        out->size = mark;
        return -1;
    }
    return 0;
}

int fmx_wire_pack_ready(msgpack_sbuffer *out, const char *type, uint32_t capacity, int64_t pid, const char *name) {
    size_t mark = out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int rc = s_head(&pk, name ? 4 : 3, "ready") || s_kv_cstr(&pk, "type", type) ||
             s_kv_u64(&pk, "capacity", capacity) || fmx_mp_pack_cstr(&pk, "pid") || msgpack_pack_int64(&pk, pid) ||
             (name && s_kv_text(&pk, "name", name));
    return s_done(out, mark, rc);
}

int fmx_wire_pack_heartbeat(msgpack_sbuffer *out) {
    size_t mark = out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    return s_done(out, mark, s_head(&pk, 0, "hb"));
}

int fmx_wire_pack_task(msgpack_sbuffer *out, uint64_t task_id, fmx_str_t request_id, fmx_str_t ranking_id,
                       fmx_str_t node, fmx_str_t type, uint64_t budget_us, uint32_t attempt) {
    size_t mark = out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int rc = s_head(&pk, 7, "task") || s_kv_u64(&pk, "id", task_id) || s_kv_str(&pk, "req", request_id) ||
             s_kv_str(&pk, "rank", ranking_id) || s_kv_str(&pk, "node", node) || s_kv_str(&pk, "type", type) ||
             s_kv_u64(&pk, "budget_us", budget_us) || s_kv_u64(&pk, "attempt", attempt);
    return s_done(out, mark, rc);
}

int fmx_wire_pack_result(msgpack_sbuffer *out, uint64_t task_id, bool ok, const char *error, uint64_t elapsed_us) {
    size_t mark = out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int rc = s_head(&pk, ok ? 3 : 4, "result") || s_kv_u64(&pk, "id", task_id) || fmx_mp_pack_cstr(&pk, "ok") ||
             (ok ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) || s_kv_u64(&pk, "elapsed_us", elapsed_us) ||
             (!ok && s_kv_text(&pk, "error", error ? error : "failed"));
    return s_done(out, mark, rc);
}

int fmx_wire_pack_disconnect(msgpack_sbuffer *out, const char *reason) {
    size_t mark = out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int rc = s_head(&pk, reason ? 1 : 0, "disconnect") || (reason && s_kv_text(&pk, "reason", reason));
    return s_done(out, mark, rc);
}
