/* mpcheck.h - a bounds-checking walk over untrusted msgpack, run before msgpack-c unpacks it.
 *
 * msgpack-c allocates `count * sizeof(msgpack_object)` for an array or map header before it has
 * seen the elements, so a 5-byte frame claiming 2^32 elements would ask for ~100 GiB. This walk
 * allocates nothing: it checks every container count against the bytes that remain (each element
 * needs at least one byte), bounds nesting depth and the total element count, and requires the
 * buffer to hold exactly one object. After it passes, msgpack_unpack's allocations are bounded by
 * a small multiple of the input size. */
#ifndef FMX_MPCHECK_H
#define FMX_MPCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "common/fmx.h"

typedef struct {
    size_t max_bytes;    /* whole buffer */
    unsigned max_depth;  /* containers nested deeper than this are refused; top level is depth 1 */
    size_t max_elements; /* total objects in the tree, counting map keys and values */
} fmx_mp_limits_t;

/* Limits for client requests (1 MiB, depth 16, 65536 elements) and for actor results
 * (64 MiB, depth 32, 4M elements). */
extern const fmx_mp_limits_t fmx_mp_limits_request;
extern const fmx_mp_limits_t fmx_mp_limits_result;

/* 0 when buf[0..len) is exactly one well-formed msgpack object within limits; else -1 and err
 * says what and at which byte offset. Ext types are refused (feedmix never sends them). */
int fmx_mp_check(const void *buf, size_t len, const fmx_mp_limits_t *limits, char err[FMX_ERR_LEN]);

/* Skips one object starting at *off without checking limits (input must already have passed
 * fmx_mp_check); advances *off. Returns 0, or -1 on truncated input. Used to slice arrays
 * (e.g. truncate `items` to `limit`) without decoding. */
int fmx_mp_skip(const void *buf, size_t len, size_t *off);

/* Reads an array header at *off: *count gets its length, *off moves to the first element.
 * Returns 0, or -1 if the object at *off is not an array. */
int fmx_mp_read_array_header(const void *buf, size_t len, size_t *off, uint32_t *count);

#endif
