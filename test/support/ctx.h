/* ctx.h - a request context for tests of `when:` targeting (test_params, test_experiments): a few
 * name=value pairs behind an fmx_lookup_fn. */
#ifndef FMX_TEST_CTX_H
#define FMX_TEST_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "common/scalar.h"

#define CTX_MAX 4

/* Zero-initialise ({.n = 0}); names and string values are borrowed. Copy by value to extend. */
typedef struct {
    const char *names[CTX_MAX];
    fmx_scalar_t values[CTX_MAX];
    size_t n;
} ctx_t;

/* An fmx_lookup_fn over a ctx_t (arg): 0 with *out, or -1 for a name it does not hold. */
int ctx_lookup(void *arg, const char *name, size_t len, fmx_scalar_t *out);
void ctx_str(ctx_t *c, const char *name, const char *value);
void ctx_int(ctx_t *c, const char *name, int64_t value);

#endif
