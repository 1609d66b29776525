/* token.h - signed attribution tokens: what ties a later impression or click back to one ranking.
 *
 * The layout actor signs one token per item; the broker verifies the tokens clients send back with
 * engagement events. Format (ASCII, at most FMX_TOKEN_TEXT_MAX bytes, opaque to clients):
 *
 *   "v2." base64url(payload) "." base64url(tag)            (URL-safe alphabet, no padding)
 *
 *   payload  msgpack array [ranking_id str, path [int...], feed str, source str, model str,
 *            variants {experiment str: variant str}, issued uint (unix s)]
 *   tag      the first FMX_TOKEN_TAG_LEN bytes of HMAC-SHA256(key, "v2." base64url(payload)),
 *            libsodium's crypto_auth_hmacsha256, compared in constant time.
 *
 * The MAC covers the exact text before the second dot, version included, so any changed
 * character - even one base64 decoding would forgive - is a forgery. Verification checks sizes
 * before decoding anything, checks the tag before it parses the payload, and then still decodes
 * the payload defensively. Keys are 32 random bytes in a file (cluster.yaml `tokens.key_file`). */
#ifndef FMX_TOKEN_H
#define FMX_TOKEN_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "common/fmx.h"

#define FMX_TOKEN_KEY_LEN 32     /* crypto_auth_hmacsha256_KEYBYTES */
#define FMX_TOKEN_TAG_LEN 16     /* truncated HMAC-SHA256: 128 bits */
#define FMX_TOKEN_TEXT_MAX 1024  /* == FMX_TOKEN_MAX of request.h: the whole token text */
#define FMX_TOKEN_PAYLOAD_MAX 748 /* decoded payload bytes that fit the text cap */
#define FMX_TOKEN_MAX_DEPTH 5    /* path entries: top level + FMX_ENTITY_MAX_DEPTH nested levels */
#define FMX_TOKEN_MAX_VARIANTS 16

typedef struct {
    uint8_t bytes[FMX_TOKEN_KEY_LEN];
} fmx_token_key_t;

/* What a token says. Strings are borrowed: from the caller when signing, from the fmx_token_t
 * that holds them after verifying. */
typedef struct {
    fmx_str_t ranking_id, feed, source, model; /* source and model may be empty */
    int64_t path[FMX_TOKEN_MAX_DEPTH];         /* path[0]: top-level position; path[d]: position in
                                                  the carousel of level d-1 */
    size_t depth;                              /* entries used, 1 for a top-level item */
    fmx_str_t experiments[FMX_TOKEN_MAX_VARIANTS], variants[FMX_TOKEN_MAX_VARIANTS];
    size_t n_variants;
    int64_t issued;                            /* unix seconds when the layout signed it */
} fmx_token_fields_t;

/* A verified token: the fields and the decoded payload their strings point into. Caller-allocated
 * value type, filled by fmx_token_verify; needs no fini. */
typedef struct {
    fmx_token_fields_t f;
    uint8_t payload[FMX_TOKEN_PAYLOAD_MAX];
    size_t payload_len;
} fmx_token_t;

/* Reads a key file: exactly FMX_TOKEN_KEY_LEN bytes, a regular file not readable or writable by
 * group or others. 0, or -1 with err. Initialises libsodium. */
int fmx_token_key_load(fmx_token_key_t *key, const char *path, char err[FMX_ERR_LEN]);
/* A fresh random key (for tests and tools). 0, or -1 with err when libsodium cannot start. */
int fmx_token_key_generate(fmx_token_key_t *key, char err[FMX_ERR_LEN]);
/* Writes key to a new file at path with mode 0600 (fails if it exists). 0, or -1 with err. */
int fmx_token_key_write(const fmx_token_key_t *key, const char *path, char err[FMX_ERR_LEN]);
/* Overwrites the key material with zeros. */
void fmx_token_key_wipe(fmx_token_key_t *key);

/* Signs f into out[0..cap) as NUL-terminated text; *len (may be NULL) gets its length without the
 * NUL. -1 with err when a field is out of range (depth 1..FMX_TOKEN_MAX_DEPTH, negative position,
 * too many variants) or the token would exceed FMX_TOKEN_TEXT_MAX or cap - 1. The key must come
 * from fmx_token_key_load or fmx_token_key_generate. */
int fmx_token_sign(const fmx_token_key_t *key, const fmx_token_fields_t *f, char *out, size_t cap, size_t *len,
                   char err[FMX_ERR_LEN]);

/* Verifies text[0..len) and decodes it into *out. zone is scratch for decoding (its allocations
 * can be released once this returns: out does not point into it). 0, or -1 with err saying why
 * (empty, too long, not version 2, not base64url, wrong tag length, the tag does not match -
 * forged or signed with another key -, or a payload of the wrong shape). */
int fmx_token_verify(const fmx_token_key_t *key, const char *text, size_t len, msgpack_zone *zone, fmx_token_t *out,
                     char err[FMX_ERR_LEN]);

#endif
