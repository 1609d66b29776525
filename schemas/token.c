/* token.c - signed attribution tokens (schemas/token.h): libsodium's HMAC-SHA256 and base64url,
 * msgpack-c for the payload. Nothing here allocates on the heap except msgpack's unpack, which
 * draws from the caller's zone after fmx_mp_check has bounded it. */
#include "schemas/token.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "schemas/mpcheck.h"
#include "schemas/mpobj.h"

#define S_PREFIX "v2."
#define S_PREFIX_LEN 3
#define S_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
/* Encoded lengths without the NUL libsodium's macro counts. */
#define S_B64_LEN(n) (sodium_base64_ENCODED_LEN((n), S_VARIANT) - 1)
#define S_TAG_TEXT_LEN S_B64_LEN(FMX_TOKEN_TAG_LEN)
#define S_PAYLOAD_FIELDS 7

_Static_assert(FMX_TOKEN_KEY_LEN == crypto_auth_hmacsha256_KEYBYTES, "token keys are HMAC-SHA256 keys");
_Static_assert(FMX_TOKEN_TAG_LEN >= 16 && FMX_TOKEN_TAG_LEN <= crypto_auth_hmacsha256_BYTES, "tag length");

/* Payloads are tiny and flat: these bound what msgpack-c may allocate for one. */
static const fmx_mp_limits_t s_payload_limits = {
    .max_bytes = FMX_TOKEN_PAYLOAD_MAX,
    .max_depth = 3,
    .max_elements = 2 + S_PAYLOAD_FIELDS + FMX_TOKEN_MAX_DEPTH + 2 * FMX_TOKEN_MAX_VARIANTS,
};

static int s_sodium(char err[FMX_ERR_LEN]) {
    if (sodium_init() < 0) return fmx_err(err, "libsodium failed to initialise");
    return 0;
}

/* --- keys -------------------------------------------------------------------------------------- */

int fmx_token_key_load(fmx_token_key_t *key, const char *path, char err[FMX_ERR_LEN]) {
    memset(key, 0, sizeof *key);
    if (s_sodium(err) != 0) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fmx_err(err, "token key %s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) != 0) {
        fmx_err(err, "token key %s: fstat failed: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        fmx_err(err, "token key %s: not a regular file", path);
    } else if (st.st_mode & 077) {
        fmx_err(err, "token key %s: group or others may access it (mode %03o); chmod 600 it", path,
                (unsigned)(st.st_mode & 0777));
    } else if (st.st_size != FMX_TOKEN_KEY_LEN) {
        fmx_err(err, "token key %s: %lld bytes, expected %d random bytes", path, (long long)st.st_size,
                FMX_TOKEN_KEY_LEN);
    } else {
        size_t got = 0;
        while (got < FMX_TOKEN_KEY_LEN) {
            ssize_t n = read(fd, key->bytes + got, FMX_TOKEN_KEY_LEN - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += (size_t)n;
        }
        if (got == FMX_TOKEN_KEY_LEN)
            rc = 0;
        else
            fmx_err(err, "token key %s: short read", path);
    }
    close(fd);
    if (rc != 0) fmx_token_key_wipe(key);
    return rc;
}

int fmx_token_key_generate(fmx_token_key_t *key, char err[FMX_ERR_LEN]) {
    if (s_sodium(err) != 0) return -1;
    randombytes_buf(key->bytes, sizeof key->bytes);
    return 0;
}

int fmx_token_key_write(const fmx_token_key_t *key, const char *path, char err[FMX_ERR_LEN]) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fmx_err(err, "token key %s: cannot create: %s", path, strerror(errno));
    size_t done = 0;
    while (done < sizeof key->bytes) {
        ssize_t n = write(fd, key->bytes + done, sizeof key->bytes - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
    }
    int rc = done == sizeof key->bytes ? 0 : -1;
    if (close(fd) != 0) rc = -1;
    if (rc != 0) {
        unlink(path);
        return fmx_err(err, "token key %s: write failed: %s", path, strerror(errno));
    }
    return 0;
}

void fmx_token_key_wipe(fmx_token_key_t *key) {
    sodium_memzero(key->bytes, sizeof key->bytes);
}

/* --- signing ----------------------------------------------------------------------------------- */

/* A msgpack write target over a fixed buffer: no allocation, overflow remembered. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    bool overflow;
} s_fixed_t;

static int s_fixed_write(void *data, const char *buf, size_t len) {
    s_fixed_t *f = data;
    if (f->overflow || len > f->cap - f->len) {
        f->overflow = true;
        return -1;
    }
    memcpy(f->buf + f->len, buf, len);
    f->len += len;
    return 0;
}

/* The first FMX_TOKEN_TAG_LEN bytes of HMAC-SHA256 over text[0..len). */
static void s_tag(const fmx_token_key_t *key, const char *text, size_t len, uint8_t tag[FMX_TOKEN_TAG_LEN]) {
    uint8_t full[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(full, (const unsigned char *)text, len, key->bytes);
    memcpy(tag, full, FMX_TOKEN_TAG_LEN);
    sodium_memzero(full, sizeof full);
}

int fmx_token_sign(const fmx_token_key_t *key, const fmx_token_fields_t *f, char *out, size_t cap, size_t *len,
                   char err[FMX_ERR_LEN]) {
    if (f->depth < 1 || f->depth > FMX_TOKEN_MAX_DEPTH)
        return fmx_err(err, "token path depth %zu is outside 1..%d", f->depth, FMX_TOKEN_MAX_DEPTH);
    if (f->n_variants > FMX_TOKEN_MAX_VARIANTS)
        return fmx_err(err, "%zu experiment variants; a token holds at most %d", f->n_variants,
                       FMX_TOKEN_MAX_VARIANTS);
    if (f->ranking_id.len == 0) return fmx_err(err, "a token needs a ranking id");
    if (f->issued < 0) return fmx_err(err, "negative issue time");

    uint8_t payload[FMX_TOKEN_PAYLOAD_MAX];
    s_fixed_t fixed = {payload, 0, sizeof payload, false};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &fixed, s_fixed_write);
    msgpack_pack_array(&pk, S_PAYLOAD_FIELDS);
    fmx_mp_pack_strn(&pk, f->ranking_id.ptr, f->ranking_id.len);
    msgpack_pack_array(&pk, f->depth);
    for (size_t d = 0; d < f->depth; d++) {
        if (f->path[d] < 0) return fmx_err(err, "negative position %lld in the token path", (long long)f->path[d]);
        msgpack_pack_uint64(&pk, (uint64_t)f->path[d]);
    }
    fmx_mp_pack_strn(&pk, f->feed.ptr, f->feed.len);
    fmx_mp_pack_strn(&pk, f->source.ptr, f->source.len);
    fmx_mp_pack_strn(&pk, f->model.ptr, f->model.len);
    msgpack_pack_map(&pk, f->n_variants);
    for (size_t i = 0; i < f->n_variants; i++) {
        fmx_mp_pack_strn(&pk, f->experiments[i].ptr, f->experiments[i].len);
        fmx_mp_pack_strn(&pk, f->variants[i].ptr, f->variants[i].len);
    }
    msgpack_pack_uint64(&pk, (uint64_t)f->issued);
    if (fixed.overflow) return fmx_err(err, "token payload exceeds %d bytes", FMX_TOKEN_PAYLOAD_MAX);

    size_t body = S_PREFIX_LEN + S_B64_LEN(fixed.len);
    size_t total = body + 1 + S_TAG_TEXT_LEN;
    if (total > FMX_TOKEN_TEXT_MAX || total + 1 > cap)
        return fmx_err(err, "token of %zu bytes exceeds its limit (%d, buffer %zu)", total, FMX_TOKEN_TEXT_MAX, cap);
    memcpy(out, S_PREFIX, S_PREFIX_LEN);
    sodium_bin2base64(out + S_PREFIX_LEN, cap - S_PREFIX_LEN, payload, fixed.len, S_VARIANT);
    uint8_t tag[FMX_TOKEN_TAG_LEN];
    s_tag(key, out, body, tag);
    out[body] = '.';
    sodium_bin2base64(out + body + 1, cap - body - 1, tag, sizeof tag, S_VARIANT);
    if (len) *len = total;
    return 0;
}

/* --- verifying --------------------------------------------------------------------------------- */

static bool s_get_str(const msgpack_object *o, fmx_str_t *out) {
    if (o->type != MSGPACK_OBJECT_STR) return false;
    *out = (fmx_str_t){o->via.str.size ? o->via.str.ptr : "", o->via.str.size};
    return true;
}

/* The payload array into out->f; strings point into out->payload (msgpack-c references its input). */
static int s_decode_payload(fmx_token_t *out, msgpack_zone *zone, char err[FMX_ERR_LEN]) {
    char why[FMX_ERR_LEN];
    if (fmx_mp_check(out->payload, out->payload_len, &s_payload_limits, why) != 0)
        return fmx_err(err, "token payload is not valid msgpack: %s", why);
    msgpack_object root;
    size_t off = 0;
    if (msgpack_unpack((const char *)out->payload, out->payload_len, &off, zone, &root) != MSGPACK_UNPACK_SUCCESS)
        return fmx_err(err, "token payload does not decode");
    if (root.type != MSGPACK_OBJECT_ARRAY || root.via.array.size != S_PAYLOAD_FIELDS)
        return fmx_err(err, "token payload is not an array of %d fields", S_PAYLOAD_FIELDS);
    const msgpack_object *v = root.via.array.ptr;
    fmx_token_fields_t *f = &out->f;
    if (!s_get_str(&v[0], &f->ranking_id) || f->ranking_id.len == 0)
        return fmx_err(err, "token payload: ranking id is not a non-empty str");
    if (v[1].type != MSGPACK_OBJECT_ARRAY || v[1].via.array.size < 1 || v[1].via.array.size > FMX_TOKEN_MAX_DEPTH)
        return fmx_err(err, "token payload: path is not an array of 1..%d positions", FMX_TOKEN_MAX_DEPTH);
    f->depth = v[1].via.array.size;
    for (size_t d = 0; d < f->depth; d++) {
        const msgpack_object *p = &v[1].via.array.ptr[d];
        if (p->type != MSGPACK_OBJECT_POSITIVE_INTEGER || p->via.u64 > INT64_MAX)
            return fmx_err(err, "token payload: position %zu is not a non-negative int", d);
        f->path[d] = (int64_t)p->via.u64;
    }
    if (!s_get_str(&v[2], &f->feed)) return fmx_err(err, "token payload: feed is not a str");
    if (!s_get_str(&v[3], &f->source)) return fmx_err(err, "token payload: source is not a str");
    if (!s_get_str(&v[4], &f->model)) return fmx_err(err, "token payload: model is not a str");
    if (v[5].type != MSGPACK_OBJECT_MAP || v[5].via.map.size > FMX_TOKEN_MAX_VARIANTS)
        return fmx_err(err, "token payload: variants is not a map of at most %d entries", FMX_TOKEN_MAX_VARIANTS);
    f->n_variants = v[5].via.map.size;
    for (size_t i = 0; i < f->n_variants; i++) {
        const msgpack_object_kv *kv = &v[5].via.map.ptr[i];
        if (!s_get_str(&kv->key, &f->experiments[i]) || !s_get_str(&kv->val, &f->variants[i]))
            return fmx_err(err, "token payload: variant %zu is not str: str", i);
    }
    if (v[6].type != MSGPACK_OBJECT_POSITIVE_INTEGER || v[6].via.u64 > INT64_MAX)
        return fmx_err(err, "token payload: issue time is not a non-negative int");
    f->issued = (int64_t)v[6].via.u64;
    return 0;
}

int fmx_token_verify(const fmx_token_key_t *key, const char *text, size_t len, msgpack_zone *zone, fmx_token_t *out,
                     char err[FMX_ERR_LEN]) {
    memset(&out->f, 0, sizeof out->f);
    out->payload_len = 0;
    if (len == 0) return fmx_err(err, "empty token");
    if (len > FMX_TOKEN_TEXT_MAX) return fmx_err(err, "token of %zu bytes exceeds %d", len, FMX_TOKEN_TEXT_MAX);
    if (len < S_PREFIX_LEN || memcmp(text, S_PREFIX, S_PREFIX_LEN) != 0) {
        if (len >= 3 && memcmp(text, "v1.", 3) == 0) return fmx_err(err, "unsigned v1 token; only signed v2 tokens count");
        return fmx_err(err, "not a feedmix attribution token (no \"v2.\" prefix)");
    }
    const char *payload = text + S_PREFIX_LEN;
    const char *dot = memchr(payload, '.', len - S_PREFIX_LEN);
    if (!dot) return fmx_err(err, "token has no signature (truncated?)");
    size_t payload_len = (size_t)(dot - payload);
    const char *tag_text = dot + 1;
    size_t tag_len = len - (size_t)(tag_text - text);
    if (payload_len == 0) return fmx_err(err, "token has an empty payload");
    if (payload_len > S_B64_LEN(FMX_TOKEN_PAYLOAD_MAX))
        return fmx_err(err, "token payload of %zu characters exceeds %zu", payload_len,
                       (size_t)S_B64_LEN(FMX_TOKEN_PAYLOAD_MAX));
    if (tag_len != S_TAG_TEXT_LEN)
        return fmx_err(err, "token signature has %zu characters, expected %zu (truncated or altered)", tag_len,
                       (size_t)S_TAG_TEXT_LEN);
    /* Base64 first, only to give a precise reason: neither decoded part is trusted before the tag
     * matches, and the tag is compared as text, so a non-canonical encoding cannot slip through. */
    size_t bin_len = 0;
    if (sodium_base642bin(out->payload, sizeof out->payload, payload, payload_len, NULL, &bin_len, NULL, S_VARIANT) !=
        0)
        return fmx_err(err, "token payload is not base64url");
    uint8_t given[FMX_TOKEN_TAG_LEN];
    size_t given_len = 0;
    if (sodium_base642bin(given, sizeof given, tag_text, tag_len, NULL, &given_len, NULL, S_VARIANT) != 0 ||
        given_len != sizeof given)
        return fmx_err(err, "token signature is not base64url");
    uint8_t tag[FMX_TOKEN_TAG_LEN];
    char want[S_TAG_TEXT_LEN + 1];
    s_tag(key, text, (size_t)(dot - text), tag);
    sodium_bin2base64(want, sizeof want, tag, sizeof tag, S_VARIANT);
    if (sodium_memcmp(want, tag_text, S_TAG_TEXT_LEN) != 0)
        return fmx_err(err, "token signature does not match: forged, altered or signed with another key");
    out->payload_len = bin_len;
    if (s_decode_payload(out, zone, err) != 0) {
        memset(&out->f, 0, sizeof out->f);
        return -1;
    }
    return 0;
}
