/* mpobj.c - small accessors over decoded msgpack objects (see mpobj.h). */
#include "schemas/mpobj.h"

#include <string.h>

const msgpack_object *fmx_mp_map_getn(const msgpack_object *o, const char *key, size_t key_len) {
    if (!o || o->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == key_len &&
            (key_len == 0 || memcmp(k->via.str.ptr, key, key_len) == 0))
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

const msgpack_object *fmx_mp_map_get(const msgpack_object *o, const char *key) {
    return fmx_mp_map_getn(o, key, strlen(key));
}

int fmx_mp_get_str(const msgpack_object *map, const char *key, fmx_str_t *out) {
    const msgpack_object *v = fmx_mp_map_get(map, key);
    if (!v) return 1;
    if (v->type != MSGPACK_OBJECT_STR) return -1;
    out->ptr = v->via.str.ptr;
    out->len = v->via.str.size;
    return 0;
}

int fmx_mp_get_int(const msgpack_object *map, const char *key, int64_t *out) {
    const msgpack_object *v = fmx_mp_map_get(map, key);
    if (!v) return 1;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->via.u64;
        return 0;
    }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return 0;
    }
    return -1;
}

int fmx_mp_get_double(const msgpack_object *map, const char *key, double *out) {
    const msgpack_object *v = fmx_mp_map_get(map, key);
    if (!v) return 1;
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)v->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)v->via.i64; return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = v->via.f64; return 0;
    default: return -1;
    }
}

int fmx_mp_get_bool(const msgpack_object *map, const char *key, bool *out) {
    const msgpack_object *v = fmx_mp_map_get(map, key);
    if (!v) return 1;
    if (v->type != MSGPACK_OBJECT_BOOLEAN) return -1;
    *out = v->via.boolean;
    return 0;
}

bool fmx_mp_str_eq(const msgpack_object *o, const char *s) {
    if (!o || !s || o->type != MSGPACK_OBJECT_STR) return false;
    size_t n = strlen(s);
    return o->via.str.size == n && (n == 0 || memcmp(o->via.str.ptr, s, n) == 0);
}

const char *fmx_mp_type_name(const msgpack_object *o) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "int";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "str";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "bin";
    case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "unknown";
}

const char *fmx_mp_printable(char *dst, size_t cap, const char *s, size_t n) {
    size_t keep = n < cap - 4 ? n : cap - 4;
    for (size_t i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c >= 0x20 && c < 0x7f && c != '`') ? (char)c : '?';
    }
    if (keep < n)
        memcpy(dst + keep, "...", 4);
    else
        dst[keep] = '\0';
    return dst;
}

int fmx_mp_pack_strn(msgpack_packer *pk, const char *s, size_t len) {
    if (msgpack_pack_str(pk, len) != 0) return -1;
    /* An empty body is not written at all: s may be NULL for an empty fmx_str_t. */
    if (len > 0 && msgpack_pack_str_body(pk, s, len) != 0) return -1;
    return 0;
}

int fmx_mp_pack_cstr(msgpack_packer *pk, const char *s) {
    return fmx_mp_pack_strn(pk, s, s ? strlen(s) : 0); /* NULL packs as "" */
}
