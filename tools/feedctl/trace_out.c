/* trace_out.c - a debug reply's trace as Chrome trace-event JSON (see trace_out.h). */
#include "tools/feedctl/trace_out.h"

#include <stdlib.h>
#include <string.h>

#include "common/chrome.h"
#include "common/jsonbuf.h"
#include "schemas/mpobj.h"

#define S_MAX_ENTRIES 4096 /* the broker's plans hold at most this many nodes */

typedef struct {
    char *arena; /* every string copied, NUL-terminated */
    size_t used, cap;
} s_strings_t;

/* A NUL-terminated copy of map[key] when it is a str, else NULL. */
static const char *s_str(s_strings_t *st, const msgpack_object *map, const char *key)
{
    fmx_str_t v;
    if (fmx_mp_get_str(map, key, &v) != 0 || st->cap - st->used < v.len + 1)
        return NULL;
    char *p = st->arena + st->used;
    memcpy(p, v.ptr, v.len);
    p[v.len] = '\0';
    st->used += v.len + 1;
    return p;
}

static int64_t s_int(const msgpack_object *map, const char *key)
{
    int64_t v;
    return fmx_mp_get_int(map, key, &v) == 0 ? v : -1;
}

/* Bytes of every str anywhere in o, plus one NUL each: the arena's size. */
static size_t s_str_bytes(const msgpack_object *o)
{
    size_t n = 0;
    if (o->type == MSGPACK_OBJECT_STR)
        return o->via.str.size + 1;
    if (o->type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < o->via.map.size; i++)
            n += s_str_bytes(&o->via.map.ptr[i].val);
    return n;
}

int fmx_trace_out_write(FILE *out, const msgpack_object *reply, char err[FMX_ERR_LEN])
{
    const msgpack_object *trace = fmx_mp_map_get(reply, "trace");
    if (!trace || trace->type != MSGPACK_OBJECT_ARRAY)
        return fmx_err(err, "the reply has no `trace` (was the request sent with debug?)");
    uint32_t n = trace->via.array.size;
    if (n > S_MAX_ENTRIES)
        return fmx_err(err, "the trace has %u entries (at most %d)", n, S_MAX_ENTRIES);
    size_t bytes = 64;
    for (uint32_t i = 0; i < n; i++) {
        if (trace->via.array.ptr[i].type != MSGPACK_OBJECT_MAP)
            return fmx_err(err, "trace entry %u is not a map", i);
        bytes += s_str_bytes(&trace->via.array.ptr[i]);
    }
    s_strings_t st = {.arena = malloc(bytes), .cap = bytes};
    const char **threads = calloc(n + 1, sizeof *threads);
    fmx_chrome_span_t *spans = calloc(1 + 3 * (size_t)n, sizeof *spans);
    fmx_chrome_process_t procs[FMX_CHROME_MAX_PROCESSES];
    char (*proc_names)[160] = calloc(FMX_CHROME_MAX_PROCESSES, sizeof *proc_names);
    fmx_jsonbuf_t buf;
    fmx_jsonbuf_init(&buf, 0);
    int rc = -1;
    if (!st.arena || !threads || !spans || !proc_names) {
        fmx_err(err, "out of memory");
        goto out;
    }
    procs[0] = (fmx_chrome_process_t){.pid = 0, .name = "broker", .sort_index = 0};
    size_t n_procs = 1, n_spans = 1;
    threads[0] = "request";
    static const fmx_chrome_span_t init = FMX_CHROME_SPAN_INIT;
    uint64_t end = 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *e = &trace->via.array.ptr[i];
        const char *node = s_str(&st, e, "node"), *type = s_str(&st, e, "type"), *actor = s_str(&st, e, "actor");
        int64_t start_us = s_int(e, "start_us"), end_us = s_int(e, "end_us"), queue_us = s_int(e, "queue_us");
        int64_t actor_us = s_int(e, "actor_us"), pid = s_int(e, "replica_pid");
        if (!node || start_us < 0 || end_us < 0) {
            fmx_err(err, "trace entry %u lacks node, start_us or end_us", i);
            goto out;
        }
        threads[i + 1] = node;
        if ((uint64_t)end_us > end)
            end = (uint64_t)end_us;
        bool in_broker = actor && strcmp(actor, "broker") == 0;
        if (in_broker && pid > 0)
            procs[0].pid = pid;
        uint64_t q = queue_us > 0 && queue_us <= start_us ? (uint64_t)queue_us : 0;
        fmx_chrome_span_t *s = &spans[n_spans++];
        *s = init;
        s->name = node;
        s->cat = "node";
        s->thread = i + 1;
        s->ts_us = (uint64_t)start_us - q;
        s->dur_us = end_us > start_us ? (uint64_t)(end_us - start_us) + q : q;
        s->type = type;
        s->status = s_str(&st, e, "status");
        s->outcome = s_str(&st, e, "outcome");
        s->fallback = s_str(&st, e, "fallback");
        s->replica = actor && actor[0] ? actor : NULL;
        s->bytes = s_int(e, "bytes");
        s->attempt = s_int(e, "attempt");
        s->queue_us = queue_us;
        if (q > 0) {
            s = &spans[n_spans++];
            *s = init;
            s->name = "queued";
            s->cat = "queue";
            s->thread = i + 1;
            s->ts_us = (uint64_t)start_us - q;
            s->dur_us = q;
        }
        if (in_broker || actor_us <= 0 || pid <= 0 || !actor || !actor[0])
            continue;
        /* The replica's process, once per (pid, name). */
        char name[sizeof proc_names[0]];
        snprintf(name, sizeof name, "actor:%s %s (pid %lld)", type ? type : "?", actor, (long long)pid);
        size_t p = 1;
        while (p < n_procs && !(procs[p].pid == pid && strcmp(proc_names[p], name) == 0))
            p++;
        if (p == n_procs) {
            if (n_procs == FMX_CHROME_MAX_PROCESSES)
                continue;
            memcpy(proc_names[p], name, sizeof name);
            procs[n_procs++] = (fmx_chrome_process_t){.pid = pid, .name = proc_names[p], .sort_index = (int)p};
        }
        uint64_t a = (uint64_t)actor_us < (uint64_t)end_us ? (uint64_t)actor_us : (uint64_t)end_us;
        s = &spans[n_spans++];
        *s = init;
        s->name = node;
        s->cat = "actor";
        s->process = p;
        s->thread = i + 1;
        s->ts_us = (uint64_t)end_us - a;
        s->dur_us = a;
        s->type = type;
        s->replica = actor;
        s->actor_us = actor_us;
    }
    spans[0] = init;
    spans[0].name = "request";
    spans[0].cat = "request";
    spans[0].dur_us = end;
    spans[0].status = s_str(&st, reply, "status");
    fmx_str_t status = FMX_STR_NULL, rid = FMX_STR_NULL, rank = FMX_STR_NULL, feed = FMX_STR_NULL;
    fmx_mp_get_str(reply, "status", &status);
    fmx_mp_get_str(reply, "request_id", &rid);
    fmx_mp_get_str(reply, "ranking_id", &rank);
    fmx_mp_get_str(reply, "feed", &feed);
    fmx_chrome_trace_t ct = {
        .request_id = rid,
        .ranking_id = rank,
        .feed = feed,
        .status = status,
        .processes = procs,
        .n_processes = n_procs,
        .threads = threads,
        .n_threads = (size_t)n + 1,
        .spans = spans,
        .n_spans = n_spans,
    };
    if (fmx_chrome_write(&buf, &ct, err) != 0)
        goto out;
    if (fwrite(buf.data, 1, buf.len, out) != buf.len || fflush(out) != 0) {
        fmx_err(err, "cannot write the trace");
        goto out;
    }
    rc = 0;
out:
    fmx_jsonbuf_fini(&buf);
    free(st.arena);
    free(threads);
    free(spans);
    free(proc_names);
    return rc;
}
