/* fuzz.h - what every fuzz target checks with: an invariant that aborts (so libFuzzer keeps the
 * input), and equality of borrowed strings and of msgpack objects by their encoding. */
#ifndef FMX_FUZZ_H
#define FMX_FUZZ_H

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fmx.h"

#define FUZZ_CHECK(cond)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                               \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

static inline int fuzz_str_eq(fmx_str_t a, fmx_str_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Same object, compared by canonical encoding (both absent counts as equal; NaN equals NaN). */
static inline int fuzz_obj_eq(const msgpack_object *a, const msgpack_object *b) {
    if (!a || !b) return a == b;
    msgpack_sbuffer sa, sb;
    msgpack_sbuffer_init(&sa);
    msgpack_sbuffer_init(&sb);
    msgpack_packer pa, pb;
    msgpack_packer_init(&pa, &sa, msgpack_sbuffer_write);
    msgpack_packer_init(&pb, &sb, msgpack_sbuffer_write);
    FUZZ_CHECK(msgpack_pack_object(&pa, *a) == 0 && msgpack_pack_object(&pb, *b) == 0);
    int eq = sa.size == sb.size && (sa.size == 0 || memcmp(sa.data, sb.data, sa.size) == 0);
    msgpack_sbuffer_destroy(&sa);
    msgpack_sbuffer_destroy(&sb);
    return eq;
}

#endif
