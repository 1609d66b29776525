/* fuzz_token.c - libFuzzer target for attribution token verification (fmx_token_verify).
 *
 * Two modes, chosen by the first byte, so the fuzzer reaches the payload decoder although it can
 * never guess a valid signature:
 *   'P' + bytes   the bytes are a payload: they are signed with the fixed key here (as token.h
 *                 specifies: HMAC-SHA256 over "v2." base64url(payload)) and then verified;
 *   anything else the whole input is token text, verified as the broker would.
 * Invariants: a refusal explains itself in err; an accepted token has fields within the header's
 * bounds, and signing those fields again gives a token that verifies to the same fields. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/token.h"
#include "test/fuzz/fuzz.h"

/* The key the seeds of test/fuzz/token/ are signed with: bytes 0, 1, ..., 31. */
static void s_key(fmx_token_key_t *key) {
    for (size_t i = 0; i < sizeof key->bytes; i++) key->bytes[i] = (uint8_t)i;
}

/* "v2." base64url(payload) "." tag into out; 0, or -1 when the payload is too long for a token. */
static int s_sign_raw(const fmx_token_key_t *key, const uint8_t *payload, size_t n, char *out, size_t cap,
                      size_t *len) {
    if (n == 0 || sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) + 4 + 23 > cap) return -1;
    memcpy(out, "v2.", 3);
    sodium_bin2base64(out + 3, cap - 3, payload, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t body = strlen(out);
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)out, body, key->bytes);
    out[body] = '.';
    sodium_bin2base64(out + body + 1, cap - body - 1, mac, FMX_TOKEN_TAG_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *len = strlen(out);
    return 0;
}

static void s_check_accepted(const fmx_token_key_t *key, const fmx_token_t *tok, msgpack_zone *zone) {
    const fmx_token_fields_t *f = &tok->f;
    FUZZ_CHECK(f->depth >= 1 && f->depth <= FMX_TOKEN_MAX_DEPTH);
    FUZZ_CHECK(f->n_variants <= FMX_TOKEN_MAX_VARIANTS);
    FUZZ_CHECK(f->ranking_id.len > 0 && f->issued >= 0);
    for (size_t d = 0; d < f->depth; d++) FUZZ_CHECK(f->path[d] >= 0);
    const uint8_t *lo = tok->payload, *hi = tok->payload + tok->payload_len;
    const fmx_str_t strs[] = {f->ranking_id, f->feed, f->source, f->model};
    for (size_t i = 0; i < FMX_ARRAY_LEN(strs); i++)
        FUZZ_CHECK(strs[i].len == 0 || ((const uint8_t *)strs[i].ptr >= lo && (const uint8_t *)strs[i].ptr + strs[i].len <= hi));

    static char text[FMX_TOKEN_TEXT_MAX + 1];
    size_t len = 0;
    char err[FMX_ERR_LEN];
    /* Our encoding is canonical msgpack, never longer than what decoded, so it fits again. */
    int rc = fmx_token_sign(key, f, text, sizeof text, &len, err);
    if (rc != 0) fprintf(stderr, "re-signing refused: %s\n", err);
    FUZZ_CHECK(rc == 0);
    static fmx_token_t back;
    rc = fmx_token_verify(key, text, len, zone, &back, err);
    if (rc != 0) fprintf(stderr, "re-signed token refused: %s\n", err);
    FUZZ_CHECK(rc == 0);
    const fmx_token_fields_t *g = &back.f;
    FUZZ_CHECK(fuzz_str_eq(g->ranking_id, f->ranking_id) && fuzz_str_eq(g->feed, f->feed));
    FUZZ_CHECK(fuzz_str_eq(g->source, f->source) && fuzz_str_eq(g->model, f->model));
    FUZZ_CHECK(g->depth == f->depth && g->n_variants == f->n_variants && g->issued == f->issued);
    for (size_t d = 0; d < f->depth; d++) FUZZ_CHECK(g->path[d] == f->path[d]);
    for (size_t i = 0; i < f->n_variants; i++)
        FUZZ_CHECK(fuzz_str_eq(g->experiments[i], f->experiments[i]) && fuzz_str_eq(g->variants[i], f->variants[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fmx_token_key_t key;
    static int ready;
    if (!ready) {
        FUZZ_CHECK(sodium_init() >= 0);
        s_key(&key);
        ready = 1;
    }
    static char signed_text[4096];
    const char *text = (const char *)data;
    size_t len = size;
    if (size > 0 && data[0] == 'P') {
        if (s_sign_raw(&key, data + 1, size - 1, signed_text, sizeof signed_text, &len) != 0) return 0;
        text = signed_text;
    }
    msgpack_zone zone;
    FUZZ_CHECK(msgpack_zone_init(&zone, 1024));
    static fmx_token_t tok;
    char err[FMX_ERR_LEN];
    memset(err, 0x7f, sizeof err);
    if (fmx_token_verify(&key, text, len, &zone, &tok, err) != 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
        FUZZ_CHECK(tok.f.depth == 0);
    } else {
        FUZZ_CHECK(len <= FMX_TOKEN_TEXT_MAX && memcmp(text, "v2.", 3) == 0);
        msgpack_zone_clear(&zone); /* the fields must not point into it */
        s_check_accepted(&key, &tok, &zone);
    }
    msgpack_zone_destroy(&zone);
    return 0;
}
