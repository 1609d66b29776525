/* json.h - prints a decoded msgpack object as JSON: feedctl's output format.
 *
 * The output is always valid JSON whatever the input: map keys stay in wire order; strings are
 * escaped as common/jsonbuf.h does (control characters, invalid UTF-8 as \ufffd, one per maximal
 * invalid subsequence, U+2028/U+2029); floats use the shortest %g form that reads back to the same value, with ".0"
 * added when it would otherwise look like an integer; NaN and infinities become null; bin becomes
 * a base64 string; ext becomes {"ext": type, "data": base64}; a non-string map key is printed as
 * the string of its compact JSON. */
#ifndef FMX_JSON_H
#define FMX_JSON_H

#include <msgpack.h>
#include <stddef.h>
#include <stdio.h>

/* Containers nested deeper than this are printed as null and the call fails. */
#define FMX_JSON_MAX_DEPTH 256

/* Writes o to out, without a trailing newline. indent == 0: compact on one line; indent > 0:
 * one member per line, nested levels indented by that many spaces, "key": value.
 * Returns 0, or -1 on a write error or when the nesting limit was hit (the output stays valid). */
int fmx_json_write(FILE *out, const msgpack_object *o, int indent);

/* Writes len bytes as a quoted, escaped JSON string. Returns 0, or -1 on a write error or out of
 * memory. */
int fmx_json_write_string(FILE *out, const char *s, size_t len);

/* Formats v as a JSON number into buf (at least 32 bytes): the shortest of %.1g .. %.17g
 * (%.9g for a float32) that parses back to v. "null" for NaN and infinities. Returns buf. */
char *fmx_json_format_double(char buf[32], double v, int is_float32);

#endif
