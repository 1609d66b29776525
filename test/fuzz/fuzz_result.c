/* fuzz_result.c - libFuzzer target for the actor-result decoder (fmx_entity_list_decode_frame).
 *
 * Any input: decode never crashes, and a failure explains itself in err. A decoded list must
 * round-trip: pack -> decode gives the same entities (ids, types, scores bit for bit, fields by
 * canonical encoding, nested items), and packing that again yields the same bytes. */
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/fuzz.h"
#include "schemas/entity.h"
#include "schemas/mpcheck.h"




/* Same entities, recursively; returns how many entities the list holds in all. */
static size_t s_list_same(const fmx_entity_list_t *a, const fmx_entity_list_t *b, unsigned level) {
    FUZZ_CHECK(level <= FMX_ENTITY_MAX_DEPTH);
    FUZZ_CHECK(a->n == b->n && a->n <= a->cap);
    size_t total = a->n;
    for (size_t i = 0; i < a->n; i++) {
        const fmx_entity_t *x = &a->v[i], *y = &b->v[i];
        FUZZ_CHECK(fuzz_str_eq(x->id, y->id) && fuzz_str_eq(x->type, y->type));
        FUZZ_CHECK(fuzz_str_eq(x->source, y->source) && fuzz_str_eq(x->token, y->token));
        FUZZ_CHECK(x->has_score == y->has_score && x->has_position == y->has_position);
        FUZZ_CHECK(!x->has_score || memcmp(&x->score, &y->score, sizeof(x->score)) == 0 ||
                   (isnan(x->score) && isnan(y->score)));
        FUZZ_CHECK(!x->has_position || x->position == y->position);
        FUZZ_CHECK(x->fields.type == MSGPACK_OBJECT_NIL || x->fields.type == MSGPACK_OBJECT_MAP);
        FUZZ_CHECK(fuzz_obj_eq(&x->fields, &y->fields));
        FUZZ_CHECK(x->has_items == y->has_items);
        FUZZ_CHECK(x->has_items || x->items.n == 0);
        if (x->has_items) total += s_list_same(&x->items, &y->items, level + 1);
    }
    return total;
}

static void s_pack(msgpack_sbuffer *sb, const fmx_entity_list_t *list) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    FUZZ_CHECK(fmx_entity_list_pack(&pk, list) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[FMX_ERR_LEN], why[FMX_ERR_LEN];
    msgpack_zone zone;
    fmx_entity_list_t list, again;

    FUZZ_CHECK(msgpack_zone_init(&zone, 8192));
    memset(err, 0x7f, sizeof(err));
    if (fmx_entity_list_decode_frame(data, size, &zone, &list, err) < 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        msgpack_zone_destroy(&zone);
        return 0;
    }

    msgpack_sbuffer first, second;
    msgpack_sbuffer_init(&first);
    msgpack_sbuffer_init(&second);
    s_pack(&first, &list);
    FUZZ_CHECK(fmx_mp_check(first.data, first.size, &fmx_mp_limits_result, why) == 0);
    int rc = fmx_entity_list_decode_frame(first.data, first.size, &zone, &again, err);
    if (rc != 0) fprintf(stderr, "re-packed entity list refused: %s\n", err);
    FUZZ_CHECK(rc == 0);
    size_t total = s_list_same(&list, &again, 1);
    FUZZ_CHECK(total >= list.n);
    s_pack(&second, &again);
    FUZZ_CHECK(first.size == second.size && memcmp(first.data, second.data, first.size) == 0);

    msgpack_sbuffer_destroy(&first);
    msgpack_sbuffer_destroy(&second);
    msgpack_zone_destroy(&zone);
    return 0;
}
