/* test_token.c - signed attribution tokens (schemas/token.h): round trips, and every way a token
 * can be wrong - a flipped bit anywhere, another key, truncation, bad base64, oversize, empty -
 * is refused with a reason. Keys are generated per test, or written to a temp dir to test loading. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "schemas/token.h"

typedef struct {
    fmx_token_key_t key, other;
    msgpack_zone zone;
    char err[FMX_ERR_LEN];
    char text[FMX_TOKEN_TEXT_MAX + 1];
    size_t len;
    fmx_token_t tok;
} s_fx_t;

static int s_setup(void **state) {
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(fmx_token_key_generate(&fx->key, fx->err), 0);
    assert_int_equal(fmx_token_key_generate(&fx->other, fx->err), 0);
    assert_true(msgpack_zone_init(&fx->zone, 1024));
    *state = fx;
    return 0;
}

static int s_teardown(void **state) {
    s_fx_t *fx = *state;
    msgpack_zone_destroy(&fx->zone);
    free(fx);
    return 0;
}

static bool s_eq(fmx_str_t a, const char *b) {
    return a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

/* A carousel child: path [3, 1], two variants. */
static fmx_token_fields_t s_fields(void) {
    fmx_token_fields_t f;
    memset(&f, 0, sizeof f);
    f.ranking_id = FMX_STR_LIT("rk-1a2b000000000007");
    f.feed = FMX_STR_LIT("home");
    f.source = FMX_STR_LIT("follows");
    f.model = FMX_STR_LIT("linear_v2");
    f.path[0] = 3;
    f.path[1] = 1;
    f.depth = 2;
    f.experiments[0] = FMX_STR_LIT("ranker_test");
    f.variants[0] = FMX_STR_LIT("treatment");
    f.experiments[1] = FMX_STR_LIT("ui");
    f.variants[1] = FMX_STR_LIT("b");
    f.n_variants = 2;
    f.issued = 1767225600;
    return f;
}

static void s_sign(s_fx_t *fx, const fmx_token_fields_t *f) {
    if (fmx_token_sign(&fx->key, f, fx->text, sizeof fx->text, &fx->len, fx->err) != 0) fail_msg("%s", fx->err);
    assert_int_equal(strlen(fx->text), fx->len);
}

/* Verification fails and the reason contains `why`. */
static void s_refused(s_fx_t *fx, const fmx_token_key_t *key, const char *text, size_t len, const char *why) {
    fx->err[0] = '\0';
    int rc = fmx_token_verify(key, text, len, &fx->zone, &fx->tok, fx->err);
    if (rc != -1 || !strstr(fx->err, why))
        fail_msg("token '%.*s': rc %d, err '%s', wanted '%s'", (int)(len < 200 ? len : 200), text, rc, fx->err, why);
    assert_int_equal(fx->tok.f.depth, 0);
    assert_null(fx->tok.f.ranking_id.ptr);
    msgpack_zone_clear(&fx->zone);
}

static void test_round_trip(void **state) {
    s_fx_t *fx = *state;
    fmx_token_fields_t f = s_fields();
    s_sign(fx, &f);
    assert_memory_equal(fx->text, "v2.", 3);
    /* opaque: no field appears in clear */
    assert_null(strstr(fx->text, "home"));
    assert_null(strstr(fx->text, "treatment"));
    assert_null(strchr(fx->text, '='));
    assert_null(strchr(fx->text, '+'));
    assert_null(strchr(fx->text, '/'));
    if (fmx_token_verify(&fx->key, fx->text, fx->len, &fx->zone, &fx->tok, fx->err) != 0) fail_msg("%s", fx->err);
    msgpack_zone_clear(&fx->zone); /* out must not point into the zone */
    const fmx_token_fields_t *g = &fx->tok.f;
    assert_true(s_eq(g->ranking_id, "rk-1a2b000000000007"));
    assert_true(s_eq(g->feed, "home"));
    assert_true(s_eq(g->source, "follows"));
    assert_true(s_eq(g->model, "linear_v2"));
    assert_int_equal(g->depth, 2);
    assert_int_equal(g->path[0], 3);
    assert_int_equal(g->path[1], 1);
    assert_int_equal(g->n_variants, 2);
    assert_true(s_eq(g->experiments[0], "ranker_test") && s_eq(g->variants[0], "treatment"));
    assert_true(s_eq(g->experiments[1], "ui") && s_eq(g->variants[1], "b"));
    assert_int_equal(g->issued, 1767225600);
    /* signing is deterministic: the same fields give the same token */
    char again[FMX_TOKEN_TEXT_MAX + 1];
    assert_int_equal(fmx_token_sign(&fx->key, &f, again, sizeof again, NULL, fx->err), 0);
    assert_string_equal(again, fx->text);
}

static void test_minimal_fields(void **state) {
    s_fx_t *fx = *state;
    fmx_token_fields_t f;
    memset(&f, 0, sizeof f);
    f.ranking_id = FMX_STR_LIT("r");
    f.depth = 1;
    s_sign(fx, &f);
    assert_true(fx->len < 48); /* compact */
    assert_int_equal(fmx_token_verify(&fx->key, fx->text, fx->len, &fx->zone, &fx->tok, fx->err), 0);
    assert_int_equal(fx->tok.f.feed.len, 0);
    assert_int_equal(fx->tok.f.source.len, 0);
    assert_int_equal(fx->tok.f.model.len, 0);
    assert_int_equal(fx->tok.f.n_variants, 0);
    assert_int_equal(fx->tok.f.depth, 1);
    assert_int_equal(fx->tok.f.path[0], 0);
}

/* Every single-bit change of every character is refused. */
static void test_flipped_bits(void **state) {
    s_fx_t *fx = *state;
    fmx_token_fields_t f = s_fields();
    s_sign(fx, &f);
    char copy[FMX_TOKEN_TEXT_MAX + 1];
    size_t refused = 0;
    for (size_t i = 0; i < fx->len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, fx->text, fx->len + 1);
            copy[i] ^= (char)(1u << bit);
            int rc = fmx_token_verify(&fx->key, copy, fx->len, &fx->zone, &fx->tok, fx->err);
            msgpack_zone_clear(&fx->zone);
            if (rc == 0) fail_msg("flipping bit %d of byte %zu ('%c') was accepted", bit, i, fx->text[i]);
            assert_true(fx->err[0] != '\0');
            refused++;
        }
    }
    assert_int_equal(refused, fx->len * 8);
    /* the specific reasons: a changed payload or tag character that stays base64 */
    memcpy(copy, fx->text, fx->len + 1);
    copy[5] = copy[5] == 'A' ? 'B' : 'A';
    s_refused(fx, &fx->key, copy, fx->len, "signature does not match");
    memcpy(copy, fx->text, fx->len + 1);
    copy[fx->len - 3] = copy[fx->len - 3] == 'A' ? 'B' : 'A';
    s_refused(fx, &fx->key, copy, fx->len, "signature does not match");
}

static void test_wrong_key(void **state) {
    s_fx_t *fx = *state;
    fmx_token_fields_t f = s_fields();
    s_sign(fx, &f);
    s_refused(fx, &fx->other, fx->text, fx->len, "signed with another key");
    /* and a token the other key signed is refused by ours */
    assert_int_equal(fmx_token_sign(&fx->other, &f, fx->text, sizeof fx->text, &fx->len, fx->err), 0);
    s_refused(fx, &fx->key, fx->text, fx->len, "signature does not match");
}

static void test_malformed(void **state) {
    s_fx_t *fx = *state;
    fmx_token_fields_t f = s_fields();
    s_sign(fx, &f);
    const char *dot = strchr(fx->text + 3, '.');
    assert_non_null(dot);
    size_t body = (size_t)(dot - fx->text);

    s_refused(fx, &fx->key, "", 0, "empty token");
    s_refused(fx, &fx->key, "hello", 5, "no \"v2.\" prefix");
    s_refused(fx, &fx->key, "v1.rk-1.-.0", 11, "unsigned v1 token");
    s_refused(fx, &fx->key, "v2", 2, "no \"v2.\" prefix");
    s_refused(fx, &fx->key, "v2.", 3, "no signature");
    s_refused(fx, &fx->key, fx->text, body, "no signature");           /* signature cut off */
    s_refused(fx, &fx->key, fx->text, fx->len - 1, "22");               /* one character short */
    s_refused(fx, &fx->key, fx->text, body + 1, "expected 22");         /* empty signature */
    s_refused(fx, &fx->key, "v2..AAAAAAAAAAAAAAAAAAAAAA", 26, "empty payload");
    s_refused(fx, &fx->key, "v2.!!!!.AAAAAAAAAAAAAAAAAAAAAA", 30, "payload is not base64url");
    s_refused(fx, &fx->key, "v2.AAAA.AAAAAAAAAAAAAAAAAAAA*A", 30, "signature is not base64url");
    s_refused(fx, &fx->key, "v2.AAAA.AAAAAAAAAAAAAAAAAAAA=A", 30, "signature is not base64url");
    /* standard base64 characters are not the URL-safe alphabet */
    s_refused(fx, &fx->key, "v2.A+/A.AAAAAAAAAAAAAAAAAAAAAA", 30, "payload is not base64url");
    /* a second dot makes the signature the wrong length */
    char two[FMX_TOKEN_TEXT_MAX + 8];
    snprintf(two, sizeof two, "%s.x", fx->text);
    s_refused(fx, &fx->key, two, strlen(two), "expected 22");
    /* truncated payload: the signature no longer matches */
    snprintf(two, sizeof two, "%.*s%s", (int)body - 1, fx->text, dot);
    s_refused(fx, &fx->key, two, strlen(two), "does not match");
    /* an embedded NUL changes what is signed */
    memcpy(two, fx->text, fx->len + 1);
    two[4] = '\0';
    s_refused(fx, &fx->key, two, fx->len, "not base64url");
}

static void test_huge(void **state) {
    s_fx_t *fx = *state;
    size_t n = 1u << 20;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'A', n);
    memcpy(big, "v2.", 3);
    s_refused(fx, &fx->key, big, n, "exceeds 1024");
    s_refused(fx, &fx->key, big, FMX_TOKEN_TEXT_MAX + 1, "exceeds 1024");
    /* within the text cap but a payload longer than any signed one */
    big[FMX_TOKEN_TEXT_MAX - 22] = '.';
    s_refused(fx, &fx->key, big, FMX_TOKEN_TEXT_MAX, "exceeds");
    free(big);
}

/* A payload that authenticates but has the wrong shape (a future or buggy signer) is refused
 * with the field named, never trusted. */
/* "v2." base64url(payload) "." tag, signed here with libsodium directly as token.h specifies. */
static void s_sign_raw(s_fx_t *fx, const char *payload, size_t n) {
    memcpy(fx->text, "v2.", 3);
    sodium_bin2base64(fx->text + 3, sizeof fx->text - 3, (const unsigned char *)payload, n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t body = strlen(fx->text);
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)fx->text, body, fx->key.bytes);
    fx->text[body] = '.';
    sodium_bin2base64(fx->text + body + 1, sizeof fx->text - body - 1, mac, FMX_TOKEN_TAG_LEN,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    fx->len = strlen(fx->text);
}

#define S_P(lit) lit, sizeof(lit) - 1

static void test_signed_garbage_payload(void **state) {
    s_fx_t *fx = *state;
    fmx_token_fields_t f = s_fields();
    s_sign(fx, &f);
    assert_int_equal(fmx_token_verify(&fx->key, fx->text, fx->len, &fx->zone, &fx->tok, fx->err), 0);
    /* The raw signer agrees with fmx_token_sign on a well-formed payload:
     * [ "r", [0], "", "", "", {}, 5 ] */
    static const char good[] = "\x97\xa1r\x91\x00\xa0\xa0\xa0\x80\x05";
    s_sign_raw(fx, good, sizeof good - 1);
    if (fmx_token_verify(&fx->key, fx->text, fx->len, &fx->zone, &fx->tok, fx->err) != 0) fail_msg("%s", fx->err);
    assert_int_equal(fx->tok.f.issued, 5);
    static const struct {
        const char *payload;
        size_t len;
        const char *why;
    } bad[] = {
        {S_P("\xc1"), "not valid msgpack"},
        {S_P("\x91\x01\x02"), "not valid msgpack"},                                        /* trailing bytes */
        {S_P("\x96\xa1r\x91\x00\xa0\xa0\xa0\x80"), "array of 7"},
        {S_P("\x81\xa1r\x00"), "array of 7"},
        {S_P("\x97\xa0\x91\x00\xa0\xa0\xa0\x80\x05"), "ranking id"},
        {S_P("\x97\x01\x91\x00\xa0\xa0\xa0\x80\x05"), "ranking id"},
        {S_P("\x97\xa1r\x90\xa0\xa0\xa0\x80\x05"), "path"},
        {S_P("\x97\xa1r\x96\x00\x00\x00\x00\x00\x00\xa0\xa0\xa0\x80\x05"), "path"},
        {S_P("\x97\xa1r\x91\xff\xa0\xa0\xa0\x80\x05"), "position 0"},               /* -1 */
        {S_P("\x97\xa1r\x91\xa1x\xa0\xa0\xa0\x80\x05"), "position 0"},
        {S_P("\x97\xa1r\x91\x00\x01\xa0\xa0\x80\x05"), "feed"},
        {S_P("\x97\xa1r\x91\x00\xa0\xc0\xa0\x80\x05"), "source"},
        {S_P("\x97\xa1r\x91\x00\xa0\xa0\xc3\x80\x05"), "model"},
        {S_P("\x97\xa1r\x91\x00\xa0\xa0\xa0\x90\x05"), "variants"},
        {S_P("\x97\xa1r\x91\x00\xa0\xa0\xa0\x81\xa1""e\x01\x05"), "variant 0"},
        {S_P("\x97\xa1r\x91\x00\xa0\xa0\xa0\x80\xff"), "issue time"},
        {S_P("\x97\xa1r\x91\x00\xa0\xa0\xa0\x80\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"), "issue time"},
        {S_P("\x97\xa1r\x91\x00\xa0\xa0\xa0\x80\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), "issue time"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_sign_raw(fx, bad[i].payload, bad[i].len);
        s_refused(fx, &fx->key, fx->text, fx->len, bad[i].why);
    }
    /* Too deep a path and too many variants cannot be signed at all. */
    f.depth = FMX_TOKEN_MAX_DEPTH + 1;
    assert_int_equal(fmx_token_sign(&fx->key, &f, fx->text, sizeof fx->text, NULL, fx->err), -1);
    assert_non_null(strstr(fx->err, "depth"));
    f = s_fields();
    f.n_variants = FMX_TOKEN_MAX_VARIANTS + 1;
    assert_int_equal(fmx_token_sign(&fx->key, &f, fx->text, sizeof fx->text, NULL, fx->err), -1);
    f = s_fields();
    f.path[1] = -1;
    assert_int_equal(fmx_token_sign(&fx->key, &f, fx->text, sizeof fx->text, NULL, fx->err), -1);
    f = s_fields();
    f.ranking_id = FMX_STR_NULL;
    assert_int_equal(fmx_token_sign(&fx->key, &f, fx->text, sizeof fx->text, NULL, fx->err), -1);
    /* A model name so long the token would pass 1024 bytes. */
    static char long_model[900];
    memset(long_model, 'm', sizeof long_model);
    f = s_fields();
    f.model = (fmx_str_t){long_model, sizeof long_model};
    assert_int_equal(fmx_token_sign(&fx->key, &f, fx->text, sizeof fx->text, NULL, fx->err), -1);
    assert_non_null(strstr(fx->err, "exceeds"));
    /* A buffer too small for the token. */
    f = s_fields();
    char small[40];
    assert_int_equal(fmx_token_sign(&fx->key, &f, small, sizeof small, NULL, fx->err), -1);
    /* The longest model that still fits makes a token of at most 1024 bytes that verifies. */
    size_t lo = 0, hi = sizeof long_model;
    while (lo + 1 < hi) {
        size_t mid = (lo + hi) / 2;
        f.model = (fmx_str_t){long_model, mid};
        if (fmx_token_sign(&fx->key, &f, fx->text, sizeof fx->text, &fx->len, fx->err) == 0)
            lo = mid;
        else
            hi = mid;
    }
    f.model = (fmx_str_t){long_model, lo};
    s_sign(fx, &f);
    assert_true(fx->len <= FMX_TOKEN_TEXT_MAX && fx->len > FMX_TOKEN_TEXT_MAX - 8);
    assert_int_equal(fmx_token_verify(&fx->key, fx->text, fx->len, &fx->zone, &fx->tok, fx->err), 0);
    assert_int_equal(fx->tok.f.model.len, lo);
}

static void test_key_files(void **state) {
    s_fx_t *fx = *state;
    char dir[] = "/tmp/fmx-token-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], bad[128];
    snprintf(path, sizeof path, "%s/token.key", dir);
    assert_int_equal(fmx_token_key_write(&fx->key, path, fx->err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, FMX_TOKEN_KEY_LEN);
    /* never overwritten */
    assert_int_equal(fmx_token_key_write(&fx->other, path, fx->err), -1);
    fmx_token_key_t loaded;
    if (fmx_token_key_load(&loaded, path, fx->err) != 0) fail_msg("%s", fx->err);
    assert_memory_equal(loaded.bytes, fx->key.bytes, FMX_TOKEN_KEY_LEN);
    /* a token signed with the loaded key verifies with the generated one */
    fmx_token_fields_t f = s_fields();
    assert_int_equal(fmx_token_sign(&loaded, &f, fx->text, sizeof fx->text, &fx->len, fx->err), 0);
    assert_int_equal(fmx_token_verify(&fx->key, fx->text, fx->len, &fx->zone, &fx->tok, fx->err), 0);
    fmx_token_key_wipe(&loaded);
    static const uint8_t zero[FMX_TOKEN_KEY_LEN];
    assert_memory_equal(loaded.bytes, zero, sizeof zero);

    /* readable by others */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(fmx_token_key_load(&loaded, path, fx->err), -1);
    assert_non_null(strstr(fx->err, "chmod 600"));
    assert_int_equal(chmod(path, 0600), 0);
    /* wrong size */
    snprintf(bad, sizeof bad, "%s/short.key", dir);
    FILE *fp = fopen(bad, "w");
    assert_non_null(fp);
    fputs("0123456789", fp);
    fclose(fp);
    assert_int_equal(chmod(bad, 0600), 0);
    assert_int_equal(fmx_token_key_load(&loaded, bad, fx->err), -1);
    assert_non_null(strstr(fx->err, "10 bytes"));
    unlink(bad);
    /* missing, and a directory */
    assert_int_equal(fmx_token_key_load(&loaded, bad, fx->err), -1);
    assert_non_null(strstr(fx->err, "cannot open"));
    assert_int_equal(fmx_token_key_load(&loaded, dir, fx->err), -1);
    assert_non_null(strstr(fx->err, "not a regular file"));

    unlink(path);
    rmdir(dir);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T(test_round_trip), T(test_minimal_fields), T(test_flipped_bits),        T(test_wrong_key),
        T(test_malformed),  T(test_huge),           T(test_signed_garbage_payload), T(test_key_files),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
