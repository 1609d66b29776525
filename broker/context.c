#include "broker/context.h"

#include <string.h>

#include "schemas/mpobj.h"

void fmx_req_context_init(fmx_req_context_t *self, fmx_str_t user_id, fmx_str_t request_id, fmx_str_t feed,
                          const msgpack_object *context, int64_t now_unix_s) {
    self->user_id = user_id;
    self->request_id = request_id;
    self->feed = feed;
    self->context = context;
    int64_t t = now_unix_s;
    if (context && fmx_mp_get_int(context, "time", &t) != 0) t = now_unix_s;
    /* Floor division, so times before 1970 still land in 0..23 and 0..6. */
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    self->hour = (t - days * 86400) / 3600;
    self->weekday = ((days % 7) + 7 + 3) % 7; /* 1970-01-01 was a Thursday (3 with Monday = 0) */
}

bool fmx_req_context_reserved(const char *name, size_t len) {
    static const char *const reserved[] = {"user_id", "request_id", "ranking_id", "feed", "experiments"};
    for (size_t i = 0; i < FMX_ARRAY_LEN(reserved); i++)
        if (strlen(reserved[i]) == len && memcmp(reserved[i], name, len) == 0) return true;
    return false;
}

static int s_str(fmx_scalar_t *out, fmx_str_t s) {
    out->kind = FMX_SCALAR_STR;
    out->u.s = s;
    return 0;
}

static int s_int(fmx_scalar_t *out, int64_t v) {
    out->kind = FMX_SCALAR_INT;
    out->u.i = v;
    return 0;
}

int fmx_req_context_lookup(void *arg, const char *name, size_t len, fmx_scalar_t *out) {
    const fmx_req_context_t *c = arg;
#define S_IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
    if (S_IS("user_id")) return s_str(out, c->user_id);
    if (S_IS("request_id")) return s_str(out, c->request_id);
    if (S_IS("feed")) return s_str(out, c->feed);
    const msgpack_object *v = c->context ? fmx_mp_map_getn(c->context, name, len) : NULL;
    if (v && fmx_scalar_from_msgpack(v, out) == 0) return 0;
    if (S_IS("hour")) return s_int(out, c->hour);
    if (S_IS("weekday")) return s_int(out, c->weekday);
#undef S_IS
    return -1;
}
