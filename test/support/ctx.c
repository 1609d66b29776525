/* ctx.c - name=value request contexts for tests (see ctx.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "test/support/ctx.h"

int ctx_lookup(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    const ctx_t *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->names[i]) == len && memcmp(c->names[i], name, len) == 0) {
            *out = c->values[i];
            return 0;
        }
    return -1;
}

void ctx_str(ctx_t *c, const char *name, const char *value) {
    assert_true(c->n < CTX_MAX);
    c->names[c->n] = name;
    c->values[c->n++] = (fmx_scalar_t){.kind = FMX_SCALAR_STR, .u.s = {value, strlen(value)}};
}

void ctx_int(ctx_t *c, const char *name, int64_t value) {
    assert_true(c->n < CTX_MAX);
    c->names[c->n] = name;
    c->values[c->n++] = (fmx_scalar_t){.kind = FMX_SCALAR_INT, .u.i = value};
}
