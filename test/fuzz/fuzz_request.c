/* fuzz_request.c - libFuzzer target for the client request decoder (schemas/request.h).
 *
 * Any input: decode never crashes, and a failure explains itself in err. A decoded request must
 * survive a round trip: re-packing its fields into a fresh map and decoding that gives the same
 * request (context and params compared by their canonical msgpack encoding, which also holds
 * for NaN floats). The reply packers run on what the decoder produced and must emit one
 * well-formed msgpack object. */
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/fuzz.h"
#include "schemas/mpcheck.h"
#include "schemas/request.h"

/* Invariant check that survives NDEBUG: libFuzzer reports the abort as a crash with the input. */

static int s_pack_kv_str(msgpack_packer *pk, const char *key, fmx_str_t v) {
    return msgpack_pack_str(pk, strlen(key)) || msgpack_pack_str_body(pk, key, strlen(key)) ||
                   msgpack_pack_str(pk, v.len) || msgpack_pack_str_body(pk, v.ptr, v.len)
               ? -1
               : 0;
}

static int s_pack_key(msgpack_packer *pk, const char *key) {
    return msgpack_pack_str(pk, strlen(key)) || msgpack_pack_str_body(pk, key, strlen(key)) ? -1 : 0;
}

/* Packs the fields of a decoded request into out as a request map. user_id goes out as a str:
 * an int user_id was formatted in decimal, which must read back the same. */
static void s_repack(msgpack_sbuffer *out, const fmx_request_t *r) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    size_t n = 1 + (r->token.ptr != NULL) + (r->user_id.ptr != NULL) + (r->request_id.len > 0) + (r->context != NULL) +
               (r->params != NULL) + (r->limit != 0) + (r->deadline_ms != 0) + r->debug;
    int rc = msgpack_pack_map(&pk, n);
    if (r->kind == FMX_REQ_FEED)
        rc = rc || s_pack_kv_str(&pk, "feed", r->feed);
    else
        rc = rc || s_pack_kv_str(&pk, "event", r->event);
    if (r->token.ptr) rc = rc || s_pack_kv_str(&pk, "token", r->token);
    if (r->user_id.ptr) rc = rc || s_pack_kv_str(&pk, "user_id", r->user_id);
    if (r->request_id.len > 0) rc = rc || s_pack_kv_str(&pk, "request_id", r->request_id);
    if (r->context) rc = rc || s_pack_key(&pk, "context") || msgpack_pack_object(&pk, *r->context);
    if (r->params) rc = rc || s_pack_key(&pk, "params") || msgpack_pack_object(&pk, *r->params);
    if (r->limit) rc = rc || s_pack_key(&pk, "limit") || msgpack_pack_int64(&pk, r->limit);
    if (r->deadline_ms) rc = rc || s_pack_key(&pk, "deadline_ms") || msgpack_pack_int64(&pk, r->deadline_ms);
    if (r->debug) rc = rc || s_pack_key(&pk, "debug") || msgpack_pack_true(&pk);
    FUZZ_CHECK(rc == 0);
}



/* The error-reply packer must produce one well-formed object for any message and request id. */
static void s_check_error_reply(fmx_str_t request_id, const char *message) {
    char why[FMX_ERR_LEN];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    FUZZ_CHECK(fmx_reply_pack_error(&sb, request_id, FMX_CODE_BAD_REQUEST, message) == 0);
    FUZZ_CHECK(fmx_mp_check(sb.data, sb.size, &fmx_mp_limits_request, why) == 0);
    msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[FMX_ERR_LEN], why[FMX_ERR_LEN];
    fmx_request_t req, again;

    memset(err, 0x7f, sizeof(err)); /* no NUL: a decoder that forgets to write err shows */
    if (fmx_request_decode(&req, data, size, err) < 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        s_check_error_reply(FMX_STR_NULL, err);
        fmx_request_fini(&req);
        return 0;
    }

    FUZZ_CHECK(req.kind == FMX_REQ_FEED || req.kind == FMX_REQ_EVENT);
    if (req.kind == FMX_REQ_FEED) {
        FUZZ_CHECK(req.feed.len > 0 && req.feed.len <= FMX_ID_MAX && req.user_id.len > 0);
        FUZZ_CHECK(req.event.ptr == NULL);
    } else {
        FUZZ_CHECK(req.event.len > 0 && req.token.len > 0 && req.feed.ptr == NULL);
    }
    FUZZ_CHECK(req.user_id.len <= FMX_ID_MAX && req.request_id.len <= FMX_ID_MAX && req.token.len <= FMX_TOKEN_MAX);
    FUZZ_CHECK(req.limit >= 0 && req.limit <= FMX_LIMIT_MAX);
    FUZZ_CHECK(req.deadline_ms >= 0 && req.deadline_ms <= FMX_DEADLINE_MAX_MS);
    FUZZ_CHECK(!req.context || req.context->type == MSGPACK_OBJECT_MAP);
    FUZZ_CHECK(!req.params || req.params->type == MSGPACK_OBJECT_MAP);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_repack(&sb, &req);
    FUZZ_CHECK(fmx_mp_check(sb.data, sb.size, &fmx_mp_limits_request, why) == 0);
    int rc = fmx_request_decode(&again, sb.data, sb.size, err);
    if (rc != 0) fprintf(stderr, "re-packed request refused: %s\n", err);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(again.kind == req.kind);
    FUZZ_CHECK(fuzz_str_eq(again.feed, req.feed) && fuzz_str_eq(again.event, req.event));
    FUZZ_CHECK(fuzz_str_eq(again.token, req.token) && fuzz_str_eq(again.user_id, req.user_id));
    FUZZ_CHECK(fuzz_str_eq(again.request_id, req.request_id));
    FUZZ_CHECK(again.limit == req.limit && again.deadline_ms == req.deadline_ms && again.debug == req.debug);
    FUZZ_CHECK(fuzz_obj_eq(again.context, req.context) && fuzz_obj_eq(again.params, req.params));
    fmx_request_fini(&again);
    msgpack_sbuffer_destroy(&sb);

    s_check_error_reply(req.request_id, "fuzz");
    msgpack_sbuffer_init(&sb);
    FUZZ_CHECK(fmx_reply_pack_event_ok(&sb, req.request_id) == 0);
    FUZZ_CHECK(fmx_mp_check(sb.data, sb.size, &fmx_mp_limits_request, why) == 0);
    msgpack_sbuffer_destroy(&sb);

    fmx_request_fini(&req);
    return 0;
}
