/* fuzz_header.c - libFuzzer target for the broker <-> actor header decoder (fmx_wire_header_decode).
 *
 * Any input: decode never crashes, and a failure explains itself in err. A decoded header must
 * round-trip through the matching fmx_wire_pack_* encoder: decoding the re-encoded header gives
 * the same command and fields. The C-string encoders (ready, result, disconnect) stop at a NUL
 * and cut free text to a bound, so those strings are compared as "what came back is a prefix". */
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/fuzz.h"
#include "schemas/wire.h"



/* b is a prefix of a, and all of a when a holds no NUL and is short (free text is cut on encode;
 * 1024 is wire.c's S_TEXT_MAX, the smallest cut any encoder makes). */
static int s_str_prefix(fmx_str_t a, fmx_str_t b) {
    if (b.len > a.len || (b.len && memcmp(a.ptr, b.ptr, b.len) != 0)) return 0;
    if (a.len <= 1024 && (a.len == 0 || !memchr(a.ptr, '\0', a.len))) return b.len == a.len;
    return 1;
}

/* A NUL-terminated copy for the C-string encoders; NULL when s was absent. */
static const char *s_cstr(char *buf, fmx_str_t s) {
    if (!s.ptr) return NULL;
    memcpy(buf, s.ptr, s.len); /* s.len <= FMX_WIRE_HEADER_MAX: it came from a header frame */
    buf[s.len] = '\0';
    return buf;
}

static int s_has_nul(fmx_str_t s) {
    return s.len && memchr(s.ptr, '\0', s.len) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[FMX_ERR_LEN];
    static char text[FMX_WIRE_HEADER_MAX + 1], text2[FMX_WIRE_HEADER_MAX + 1];
    msgpack_zone zone;
    fmx_wire_header_t h, g;

    FUZZ_CHECK(msgpack_zone_init(&zone, 2048));
    memset(err, 0x7f, sizeof(err));
    if (fmx_wire_header_decode(&h, data, size, &zone, err) < 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        msgpack_zone_destroy(&zone);
        return 0;
    }
    FUZZ_CHECK(size <= FMX_WIRE_HEADER_MAX);
    FUZZ_CHECK(strcmp(fmx_cmd_name(h.cmd), "?") != 0);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = -1;
    switch (h.cmd) {
    case FMX_CMD_READY:
        FUZZ_CHECK(h.capacity >= 1 && h.capacity <= 1024 && h.type.len > 0);
        if (s_has_nul(h.type)) goto done; /* a C string cannot carry it */
        rc = fmx_wire_pack_ready(&sb, s_cstr(text, h.type), h.capacity, h.pid, s_cstr(text2, h.name));
        break;
    case FMX_CMD_HEARTBEAT: rc = fmx_wire_pack_heartbeat(&sb); break;
    case FMX_CMD_TASK:
        FUZZ_CHECK(h.request_id.len > 0 && h.node.len > 0 && h.type.len > 0);
        rc = fmx_wire_pack_task(&sb, h.task_id, h.request_id, h.ranking_id, h.node, h.type, h.budget_us, h.attempt);
        break;
    case FMX_CMD_RESULT:
        FUZZ_CHECK(h.ok || h.error.ptr != NULL);
        rc = fmx_wire_pack_result(&sb, h.task_id, h.ok, h.ok ? NULL : s_cstr(text, h.error), h.elapsed_us);
        break;
    case FMX_CMD_DISCONNECT: rc = fmx_wire_pack_disconnect(&sb, s_cstr(text, h.reason)); break;
    default: FUZZ_CHECK(!"decoded an unknown cmd");
    }
    FUZZ_CHECK(rc == 0);

    /* The re-encoded header may not exceed the frame limit when the input did not: every string
     * is at most as long as before and every number takes its shortest form. */
    rc = fmx_wire_header_decode(&g, sb.data, sb.size, &zone, err);
    if (rc != 0) fprintf(stderr, "re-encoded header refused: %s\n", err);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(g.cmd == h.cmd);
    switch (h.cmd) {
    case FMX_CMD_READY:
        FUZZ_CHECK(fuzz_str_eq(g.type, h.type) && g.capacity == h.capacity && g.pid == h.pid);
        FUZZ_CHECK(s_str_prefix(h.name, g.name));
        break;
    case FMX_CMD_TASK:
        FUZZ_CHECK(g.task_id == h.task_id && g.budget_us == h.budget_us && g.attempt == h.attempt);
        FUZZ_CHECK(fuzz_str_eq(g.request_id, h.request_id) && fuzz_str_eq(g.ranking_id, h.ranking_id));
        FUZZ_CHECK(fuzz_str_eq(g.node, h.node) && fuzz_str_eq(g.type, h.type));
        break;
    case FMX_CMD_RESULT:
        FUZZ_CHECK(g.task_id == h.task_id && g.ok == h.ok && g.elapsed_us == h.elapsed_us);
        if (!h.ok && h.error.len > 0) FUZZ_CHECK(s_str_prefix(h.error, g.error));
        break;
    case FMX_CMD_DISCONNECT: FUZZ_CHECK(s_str_prefix(h.reason, g.reason)); break;
    default: break;
    }
done:
    msgpack_sbuffer_destroy(&sb);
    msgpack_zone_destroy(&zone);
    return 0;
}
