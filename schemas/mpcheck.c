/* mpcheck.c - allocation-free validation walk over untrusted msgpack (see mpcheck.h). */
#include "schemas/mpcheck.h"

#include <assert.h>
#include <string.h>

const fmx_mp_limits_t fmx_mp_limits_request = {
    .max_bytes = 1u << 20,
    .max_depth = 16,
    .max_elements = 65536,
};

const fmx_mp_limits_t fmx_mp_limits_result = {
    .max_bytes = 64u << 20,
    .max_depth = 32,
    .max_elements = 4u << 20,
};

/* libmsgpackc is built with a fixed stack of MSGPACK_EMBED_STACK_SIZE (32) open containers and
 * fails beyond it, so a deeper limit could never be unpacked anyway. Clamping to it keeps our own
 * stack fixed-size and means "passes the check" implies "msgpack-c can unpack it". */
#define S_DEPTH_CAP 32

typedef enum {
    S_SCALAR = 1, /* nil, bool, ints, floats: header + fixed payload */
    S_STR,
    S_BIN,
    S_ARRAY,
    S_MAP,
    S_EXT,     /* ext8/16/32, fixext*: refused */
    S_INVALID, /* 0xc1 */
} s_kind_t;

/* One decoded object header. */
typedef struct {
    s_kind_t kind;
    uint8_t tag;
    size_t hdr;       /* bytes of the header, tag included */
    uint64_t body;    /* bytes after the header (scalar payload, str/bin data) */
    uint64_t count;   /* elements of an array, entries of a map */
    const char *name; /* format name, for messages */
} s_head_t;

static uint64_t s_be(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Fills h from the tag at p[off]. Returns 0, or -1 when the header itself is cut short
 * (h->kind, h->hdr and h->name are still set so the caller can say what was cut). */
static int s_head(const uint8_t *p, size_t len, size_t off, s_head_t *h) {
    assert(off < len);
    uint8_t t = p[off];
    size_t lenbytes = 0; /* size of a length/count field that follows the tag */
    memset(h, 0, sizeof(*h));
    h->tag = t;
    h->hdr = 1;
    h->kind = S_SCALAR;

    if (t <= 0x7f) {
        h->name = "positive fixint";
    } else if (t <= 0x8f) {
        h->kind = S_MAP, h->count = t & 0x0f, h->name = "fixmap";
    } else if (t <= 0x9f) {
        h->kind = S_ARRAY, h->count = t & 0x0f, h->name = "fixarray";
    } else if (t <= 0xbf) {
        h->kind = S_STR, h->body = t & 0x1f, h->name = "fixstr";
    } else if (t >= 0xe0) {
        h->name = "negative fixint";
    } else {
        switch (t) {
        case 0xc0: h->name = "nil"; break;
        case 0xc1: h->kind = S_INVALID, h->name = "0xc1"; break;
        case 0xc2:
        case 0xc3: h->name = "bool"; break;
        case 0xc4: h->kind = S_BIN, lenbytes = 1, h->name = "bin8"; break;
        case 0xc5: h->kind = S_BIN, lenbytes = 2, h->name = "bin16"; break;
        case 0xc6: h->kind = S_BIN, lenbytes = 4, h->name = "bin32"; break;
        case 0xc7: h->kind = S_EXT, h->name = "ext8"; break;
        case 0xc8: h->kind = S_EXT, h->name = "ext16"; break;
        case 0xc9: h->kind = S_EXT, h->name = "ext32"; break;
        case 0xca: h->body = 4, h->name = "float32"; break;
        case 0xcb: h->body = 8, h->name = "float64"; break;
        case 0xcc: h->body = 1, h->name = "uint8"; break;
        case 0xcd: h->body = 2, h->name = "uint16"; break;
        case 0xce: h->body = 4, h->name = "uint32"; break;
        case 0xcf: h->body = 8, h->name = "uint64"; break;
        case 0xd0: h->body = 1, h->name = "int8"; break;
        case 0xd1: h->body = 2, h->name = "int16"; break;
        case 0xd2: h->body = 4, h->name = "int32"; break;
        case 0xd3: h->body = 8, h->name = "int64"; break;
        case 0xd4: h->kind = S_EXT, h->name = "fixext1"; break;
        case 0xd5: h->kind = S_EXT, h->name = "fixext2"; break;
        case 0xd6: h->kind = S_EXT, h->name = "fixext4"; break;
        case 0xd7: h->kind = S_EXT, h->name = "fixext8"; break;
        case 0xd8: h->kind = S_EXT, h->name = "fixext16"; break;
        case 0xd9: h->kind = S_STR, lenbytes = 1, h->name = "str8"; break;
        case 0xda: h->kind = S_STR, lenbytes = 2, h->name = "str16"; break;
        case 0xdb: h->kind = S_STR, lenbytes = 4, h->name = "str32"; break;
        case 0xdc: h->kind = S_ARRAY, lenbytes = 2, h->name = "array16"; break;
        case 0xdd: h->kind = S_ARRAY, lenbytes = 4, h->name = "array32"; break;
        case 0xde: h->kind = S_MAP, lenbytes = 2, h->name = "map16"; break;
        case 0xdf: h->kind = S_MAP, lenbytes = 4, h->name = "map32"; break;
        default: break; /* unreachable: every byte value is covered above */
        }
    }
    if (lenbytes == 0) return 0;
    h->hdr = 1 + lenbytes;
    if (len - off < h->hdr) return -1;
    uint64_t n = s_be(p + off + 1, lenbytes);
    if (h->kind == S_STR || h->kind == S_BIN)
        h->body = n;
    else
        h->count = n;
    return 0;
}

static const char *s_unit(s_kind_t kind) {
    return kind == S_MAP ? "entries" : "elements";
}

int fmx_mp_check(const void *buf, size_t len, const fmx_mp_limits_t *limits, char err[FMX_ERR_LEN]) {
    assert(limits);
    assert(buf || len == 0);
    const uint8_t *p = buf;

    if (len == 0) return fmx_err(err, "empty buffer: expected one msgpack object");
    if (len > limits->max_bytes) return fmx_err(err, "%zu bytes exceed the limit of %zu bytes", len, limits->max_bytes);

    unsigned max_depth = limits->max_depth < S_DEPTH_CAP ? limits->max_depth : S_DEPTH_CAP;
    /* open[i]: objects still to read in the container at depth i+1 (a map entry counts twice). */
    uint64_t open[S_DEPTH_CAP];
    unsigned depth = 0;
    uint64_t announced = 1; /* objects promised so far: the root plus every container's children */
    size_t off = 0;

    for (;;) {
        if (off == len) return fmx_err(err, "truncated: input ends at offset %zu inside a container", off);

        s_head_t h;
        if (s_head(p, len, off, &h) < 0)
            return fmx_err(err, "truncated %s header at offset %zu: needs %zu bytes, %zu remain", h.name, off, h.hdr,
                           len - off);
        if (h.kind == S_INVALID) return fmx_err(err, "invalid byte 0xc1 at offset %zu", off);
        if (h.kind == S_EXT) return fmx_err(err, "%s (ext type) at offset %zu is not supported", h.name, off);

        size_t remain = len - off - h.hdr; /* bytes after this header */
        if (h.kind == S_ARRAY || h.kind == S_MAP) {
            uint64_t children = h.kind == S_MAP ? 2 * h.count : h.count;
            if (children > remain)
                return fmx_err(err, "%s of %llu %s at offset %zu exceeds the %zu bytes that remain",
                               h.kind == S_MAP ? "map" : "array", (unsigned long long)h.count, s_unit(h.kind), off,
                               remain);
            if (depth + 1 > max_depth)
                return fmx_err(err, "%s at offset %zu is nested deeper than %u levels",
                               h.kind == S_MAP ? "map" : "array", off, max_depth);
            announced += children;
            if (announced > limits->max_elements)
                return fmx_err(err, "more than %zu objects in total (%s at offset %zu)", limits->max_elements,
                               h.kind == S_MAP ? "map" : "array", off);
        } else if (h.body > remain) {
            return fmx_err(err, "truncated %s at offset %zu: needs %llu bytes, %zu remain", h.name, off,
                           (unsigned long long)h.body, remain);
        }

        /* This object is consumed from its parent container. */
        if (depth > 0) open[depth - 1]--;
        off += h.hdr + (size_t)h.body;

        if ((h.kind == S_ARRAY || h.kind == S_MAP) && h.count > 0)
            open[depth++] = h.kind == S_MAP ? 2 * h.count : h.count;

        /* Unwind finished containers; when none is open the root is complete. */
        while (depth > 0 && open[depth - 1] == 0)
            depth--;
        if (depth == 0) break;
    }
    if (off != len) return fmx_err(err, "%zu trailing bytes after the object that ends at offset %zu", len - off, off);
    return 0;
}

int fmx_mp_skip(const void *buf, size_t len, size_t *off) {
    assert(off);
    const uint8_t *p = buf;
    size_t o = *off;
    /* No stack needed: skipping only has to know how many objects remain, not where each
     * container ends. Each object consumes at least one byte, so the loop is bounded by len. */
    uint64_t pending = 1;
    while (pending > 0) {
        if (o >= len) return -1;
        s_head_t h;
        if (s_head(p, len, o, &h) < 0 || h.kind == S_INVALID || h.kind == S_EXT) return -1;
        size_t remain = len - o - h.hdr;
        if (h.body > remain) return -1;
        pending--;
        if (h.kind == S_ARRAY || h.kind == S_MAP) {
            uint64_t children = h.kind == S_MAP ? 2 * h.count : h.count;
            if (children > remain) /* cannot all fit: truncated */
                return -1;
            pending += children;
        }
        o += h.hdr + (size_t)h.body;
    }
    *off = o;
    return 0;
}

int fmx_mp_read_array_header(const void *buf, size_t len, size_t *off, uint32_t *count) {
    assert(off && count);
    if (*off >= len) return -1;
    s_head_t h;
    if (s_head(buf, len, *off, &h) < 0 || h.kind != S_ARRAY) return -1;
    *count = (uint32_t)h.count;
    *off += h.hdr;
    return 0;
}
