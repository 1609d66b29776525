#include "common/scalar.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int fmx_scalar_from_msgpack(const msgpack_object *o, fmx_scalar_t *out) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: out->kind = FMX_SCALAR_NULL; return 0;
    case MSGPACK_OBJECT_BOOLEAN: out->kind = FMX_SCALAR_BOOL; out->u.b = o->via.boolean; return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX) { out->kind = FMX_SCALAR_FLOAT; out->u.f = (double)o->via.u64; return 0; }
        out->kind = FMX_SCALAR_INT; out->u.i = (int64_t)o->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: out->kind = FMX_SCALAR_INT; out->u.i = o->via.i64; return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: out->kind = FMX_SCALAR_FLOAT; out->u.f = o->via.f64; return 0;
    case MSGPACK_OBJECT_STR:
        out->kind = FMX_SCALAR_STR;
        out->u.s.ptr = o->via.str.ptr;
        out->u.s.len = o->via.str.size;
        return 0;
    default: out->kind = FMX_SCALAR_NULL; return -1;
    }
}

int fmx_scalar_pack(msgpack_packer *pk, const fmx_scalar_t *v) {
    switch (v->kind) {
    case FMX_SCALAR_NULL: return msgpack_pack_nil(pk);
    case FMX_SCALAR_BOOL: return v->u.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case FMX_SCALAR_INT: return msgpack_pack_int64(pk, v->u.i);
    case FMX_SCALAR_FLOAT: return msgpack_pack_double(pk, v->u.f);
    case FMX_SCALAR_STR:
        if (msgpack_pack_str(pk, v->u.s.len) != 0) return -1;
        return msgpack_pack_str_body(pk, v->u.s.ptr, v->u.s.len);
    }
    return -1;
}

bool fmx_scalar_truthy(const fmx_scalar_t *v) {
    switch (v->kind) {
    case FMX_SCALAR_NULL: return false;
    case FMX_SCALAR_BOOL: return v->u.b;
    case FMX_SCALAR_INT: return v->u.i != 0;
    case FMX_SCALAR_FLOAT: return v->u.f != 0.0;
    case FMX_SCALAR_STR: return v->u.s.len > 0;
    }
    return false;
}

int fmx_scalar_format(const fmx_scalar_t *v, char *buf, size_t cap) {
    int n;
    switch (v->kind) {
    case FMX_SCALAR_NULL: n = snprintf(buf, cap, "null"); break;
    case FMX_SCALAR_BOOL: n = snprintf(buf, cap, "%s", v->u.b ? "true" : "false"); break;
    case FMX_SCALAR_INT: n = snprintf(buf, cap, "%" PRId64, v->u.i); break;
    case FMX_SCALAR_FLOAT: n = snprintf(buf, cap, "%.17g", v->u.f); break;
    case FMX_SCALAR_STR:
        if (v->u.s.len >= cap) return -1;
        memcpy(buf, v->u.s.ptr, v->u.s.len);
        buf[v->u.s.len] = '\0';
        return (int)v->u.s.len;
    default: return -1;
    }
    return (n < 0 || (size_t)n >= cap) ? -1 : n;
}
