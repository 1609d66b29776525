/* context.h - the request facts a feed can read: `user_id`, `request_id`, `feed`, every key of the
 * request's `context` map, and two derived from the request's `time` (unix seconds; the wall clock
 * when absent): `hour` (0-23, UTC) and `weekday` (0 = Monday). params.yaml targets time of day
 * through them. Caller-allocated; borrows everything it is given. */
#ifndef FMX_CONTEXT_H
#define FMX_CONTEXT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/fmx.h"
#include "common/scalar.h"

typedef struct {
    fmx_str_t user_id, request_id, feed;
    const msgpack_object *context; /* a map, or NULL */
    int64_t hour, weekday;
} fmx_req_context_t;

/* now_unix_s is used when the context has no integer `time`. */
void fmx_req_context_init(fmx_req_context_t *self, fmx_str_t user_id, fmx_str_t request_id, fmx_str_t feed,
                          const msgpack_object *context, int64_t now_unix_s);
/* Is name one of the facts the broker sets itself in the context actors see (user_id,
 * request_id, ranking_id, feed, experiments)? Neither a client's context nor a feed's `context:`
 * defaults may set them. */
bool fmx_req_context_reserved(const char *name, size_t len);
/* An fmx_lookup_fn over the facts above; arg is the fmx_req_context_t. */
int fmx_req_context_lookup(void *arg, const char *name, size_t len, fmx_scalar_t *out);

#endif
