/* mpobj.h - small accessors over decoded msgpack objects (params, context, entity fields).
 * Everything returned is borrowed from the object. */
#ifndef FMX_MPOBJ_H
#define FMX_MPOBJ_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/fmx.h"

/* Value for a string key in a map object; NULL if o is not a map or the key is absent. */
const msgpack_object *fmx_mp_map_get(const msgpack_object *o, const char *key);
const msgpack_object *fmx_mp_map_getn(const msgpack_object *o, const char *key, size_t key_len);

/* Typed reads of map[key]. Return 0 and set *out when present with the right type,
 * 1 when absent (out untouched), -1 when present with a wrong type. Ints accept any
 * integer that fits; doubles accept ints and floats. */
int fmx_mp_get_str(const msgpack_object *map, const char *key, fmx_str_t *out);
int fmx_mp_get_int(const msgpack_object *map, const char *key, int64_t *out);
int fmx_mp_get_double(const msgpack_object *map, const char *key, double *out);
int fmx_mp_get_bool(const msgpack_object *map, const char *key, bool *out);

bool fmx_mp_str_eq(const msgpack_object *o, const char *s);

/* "nil", "bool", "int", "float", "str", "array", "map", "bin", "ext": for error messages. */
const char *fmx_mp_type_name(const msgpack_object *o);
/* Copies untrusted bytes s[0..n) into dst (cap >= 8) for an error message: bytes outside
 * printable ASCII and backquotes become '?', long input is cut and ends in "...". Returns dst. */
const char *fmx_mp_printable(char *dst, size_t cap, const char *s, size_t n);

/* Packs a C string as msgpack str. */
int fmx_mp_pack_cstr(msgpack_packer *pk, const char *s);
int fmx_mp_pack_strn(msgpack_packer *pk, const char *s, size_t len);

#endif
