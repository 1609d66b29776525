/* chrome.c - Chrome trace-event JSON (see chrome.h). */
#include "common/chrome.h"

#include <stdlib.h>
#include <string.h>

#define S_SYNTHETIC_PID 1000000000

static int s_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ,"key":"value" when value is set. */
static void s_arg_str(fmx_jsonbuf_t *o, const char *key, const char *v) {
    if (!v) return;
    fmx_jsonbuf_raw(o, ",", 1);
    fmx_jsonbuf_key(o, key);
    fmx_jsonbuf_cstr(o, v);
}

static void s_arg_int(fmx_jsonbuf_t *o, const char *key, int64_t v) {
    if (v < 0) return;
    fmx_jsonbuf_raw(o, ",", 1);
    fmx_jsonbuf_key(o, key);
    fmx_jsonbuf_i64(o, v);
}

static void s_other(fmx_jsonbuf_t *o, const char *key, fmx_str_t v, bool *first) {
    if (!v.len) return;
    if (!*first) fmx_jsonbuf_raw(o, ",", 1);
    *first = false;
    fmx_jsonbuf_key(o, key);
    fmx_jsonbuf_str(o, v.ptr, v.len);
}

/* {"ph":"M","name":what,"pid":P[,"tid":T],"args":{"name"|"sort_index": ...}}, */
static void s_meta(fmx_jsonbuf_t *o, const char *what, int64_t pid, int64_t tid, const char *name, int64_t index) {
    fmx_jsonbuf_lit(o, "{\"ph\":\"M\",\"name\":");
    fmx_jsonbuf_cstr(o, what);
    fmx_jsonbuf_lit(o, ",\"pid\":");
    fmx_jsonbuf_i64(o, pid);
    if (tid >= 0) {
        fmx_jsonbuf_lit(o, ",\"tid\":");
        fmx_jsonbuf_i64(o, tid);
    }
    fmx_jsonbuf_lit(o, ",\"args\":{");
    if (name) {
        fmx_jsonbuf_key(o, "name");
        fmx_jsonbuf_cstr(o, name);
    } else {
        fmx_jsonbuf_key(o, "sort_index");
        fmx_jsonbuf_i64(o, index);
    }
    fmx_jsonbuf_lit(o, "}},\n");
}

int fmx_chrome_write(fmx_jsonbuf_t *o, const fmx_chrome_trace_t *t, char err[FMX_ERR_LEN]) {
    if (t->n_processes > FMX_CHROME_MAX_PROCESSES)
        return fmx_err(err, "%zu processes in one trace (at most %d)", t->n_processes, FMX_CHROME_MAX_PROCESSES);
    for (size_t i = 0; i < t->n_spans; i++)
        if (t->spans[i].process >= t->n_processes || t->spans[i].thread >= t->n_threads)
            return fmx_err(err, "span %zu names process %zu / thread %zu of %zu / %zu", i, t->spans[i].process,
                           t->spans[i].thread, t->n_processes, t->n_threads);
    int64_t pids[FMX_CHROME_MAX_PROCESSES];
    for (size_t i = 0; i < t->n_processes; i++) {
        int64_t pid = t->processes[i].pid;
        for (size_t k = 0; pid > 0 && k < i; k++)
            if (pids[k] == pid) pid = 0;
        pids[i] = pid > 0 && pid < S_SYNTHETIC_PID ? pid : S_SYNTHETIC_PID + (int64_t)i;
    }
    /* The (process, thread) pairs that have a span, each named once. */
    uint64_t *pairs = malloc((t->n_spans ? t->n_spans : 1) * sizeof *pairs);
    if (!pairs) return fmx_err(err, "out of memory");
    for (size_t i = 0; i < t->n_spans; i++) pairs[i] = (uint64_t)t->spans[i].process << 32 | t->spans[i].thread;
    qsort(pairs, t->n_spans, sizeof *pairs, s_cmp_u64);

    fmx_jsonbuf_lit(o, "{\"traceEvents\":[\n");
    for (size_t i = 0; i < t->n_processes; i++) {
        s_meta(o, "process_name", pids[i], -1, t->processes[i].name ? t->processes[i].name : "?", 0);
        s_meta(o, "process_sort_index", pids[i], -1, NULL, t->processes[i].sort_index);
    }
    for (size_t i = 0; i < t->n_spans; i++) {
        if (i && pairs[i] == pairs[i - 1]) continue;
        size_t p = (size_t)(pairs[i] >> 32), th = (size_t)(pairs[i] & 0xffffffffu);
        s_meta(o, "thread_name", pids[p], (int64_t)th + 1, t->threads[th] ? t->threads[th] : "?", 0);
        s_meta(o, "thread_sort_index", pids[p], (int64_t)th + 1, NULL, (int64_t)th + 1);
    }
    free(pairs);
    for (size_t i = 0; i < t->n_spans; i++) {
        const fmx_chrome_span_t *s = &t->spans[i];
        fmx_jsonbuf_lit(o, "{\"ph\":\"X\",\"name\":");
        fmx_jsonbuf_cstr(o, s->name ? s->name : "?");
        fmx_jsonbuf_lit(o, ",\"cat\":");
        fmx_jsonbuf_cstr(o, s->cat ? s->cat : "node");
        fmx_jsonbuf_lit(o, ",\"pid\":");
        fmx_jsonbuf_i64(o, pids[s->process]);
        fmx_jsonbuf_lit(o, ",\"tid\":");
        fmx_jsonbuf_u64(o, (uint64_t)s->thread + 1);
        fmx_jsonbuf_lit(o, ",\"ts\":");
        fmx_jsonbuf_u64(o, s->ts_us);
        fmx_jsonbuf_lit(o, ",\"dur\":");
        fmx_jsonbuf_u64(o, s->dur_us);
        fmx_jsonbuf_lit(o, ",\"args\":{\"node\":");
        fmx_jsonbuf_cstr(o, t->threads[s->thread] ? t->threads[s->thread] : "?");
        s_arg_str(o, "type", s->type);
        s_arg_str(o, "status", s->status);
        s_arg_str(o, "outcome", s->outcome);
        s_arg_str(o, "fallback", s->fallback);
        s_arg_str(o, "replica", s->replica);
        s_arg_int(o, "bytes", s->bytes);
        s_arg_int(o, "attempt", s->attempt);
        s_arg_int(o, "actor_us", s->actor_us);
        s_arg_int(o, "queue_us", s->queue_us);
        if (s->hedge) fmx_jsonbuf_lit(o, ",\"hedge\":true");
        fmx_jsonbuf_lit(o, i + 1 < t->n_spans ? "}},\n" : "}}\n");
    }
    if (!t->n_spans && o->len && o->data[o->len - 2] == ',') {
        o->data[o->len - 2] = '\n'; /* metadata only: no trailing comma */
        o->len--;
    }
    fmx_jsonbuf_lit(o, "],\"displayTimeUnit\":\"ms\",\"otherData\":{");
    bool first = true;
    s_other(o, "request_id", t->request_id, &first);
    s_other(o, "ranking_id", t->ranking_id, &first);
    s_other(o, "feed", t->feed, &first);
    s_other(o, "user_id", t->user_id, &first);
    s_other(o, "status", t->status, &first);
    if (t->wall_start_us) {
        if (!first) fmx_jsonbuf_raw(o, ",", 1);
        fmx_jsonbuf_key(o, "wall_start_us");
        fmx_jsonbuf_u64(o, t->wall_start_us);
    }
    fmx_jsonbuf_lit(o, "}}\n");
    return o->failed ? fmx_err(err, "out of memory writing the trace") : 0;
}
