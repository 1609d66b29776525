/* feedbench.c - a load generator over the client protocol (DESIGN.md section 4).
 *
 * One thread drives C DEALER sockets (each request is an empty delimiter frame + one msgpack map)
 * polled together. Closed loop (default): every socket keeps exactly one request outstanding and
 * sends the next as soon as the reply arrives. Open loop (--rate R): requests leave on a schedule
 * (Poisson or fixed interval) whatever the replies do, and latency counts from the scheduled send
 * time, so a stalled server cannot hide its queueing (no coordinated omission).
 *
 * Every request carries request_id "fb<pid>-<seq>"; the broker echoes it, so a reply that comes
 * after its request timed out (deadline + 1 s) is recognised as late instead of being charged to
 * the next request on that socket. Latency goes into a log-bucket histogram (HDR style, under 1%
 * relative error, fixed memory), so a run of any length is bounded in memory.
 *
 * Only ipc:// and loopback tcp:// endpoints are accepted: the bench must never load a foreign host.
 * Exit: 0 when at least one reply arrived, 1 when none did or setup failed, 2 usage; after Ctrl-C
 * (or SIGTERM) it reports, then dies of that signal. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/fmx.h"
#include "schemas/mpcheck.h"
#include "schemas/mpobj.h"

#define EXIT_USAGE 2
#define DEFAULT_ENDPOINT "tcp://127.0.0.1:7400"
#define MAX_CLIENTS 1024
#define MAX_CONTEXT 32
#define MAX_CODES 16
#define RING_SIZE 65536u /* in-flight requests tracked; a power of two */
#define TIMEOUT_GRACE_MS 1000
#define ASSUMED_DEADLINE_MS 1000 /* for the timeout when the feed's own deadline applies */
#define POLL_CAP_MS 100

/* Histogram: values below HIST_LINEAR are exact; above, each power of two is cut into HIST_SUB
 * buckets, so a bucket is at most 1/HIST_SUB of its value wide. */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR (2u * HIST_SUB)
#define HIST_MAX_BITS 48
#define HIST_BUCKETS (HIST_LINEAR + (HIST_MAX_BITS - HIST_SUB_BITS - 1) * HIST_SUB)

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    s_stop = sig;
}

typedef struct {
    const char *key, *value;
} fb_kv_t;

typedef struct {
    const char *endpoint, *feed;
    int64_t users, clients, requests, deadline_ms, timeout_ms;
    int64_t late_after_ms; /* 0: off; else replies slower than this count as over_deadline */
    double duration_s, warmup_s, rate;
    bool fixed_interval, json;
    uint64_t seed;
    fb_kv_t context[MAX_CONTEXT];
    size_t n_context;
} fb_options_t;

typedef struct {
    uint64_t seq;
    uint64_t start_us; /* send time, or the scheduled send time in open loop */
    uint32_t client;
    bool pending;
    bool measured; /* sent after the warmup */
} fb_slot_t;

typedef struct {
    void *sock;
    bool busy;          /* closed loop: a request is outstanding */
    uint64_t retry_us;  /* closed loop: after a refused send, try again at this time */
} fb_client_t;

typedef struct {
    char code[32];
    uint64_t count;
} fb_code_t;

typedef struct {
    uint64_t sent, warmup_sent, ok, degraded, errors, timeouts, late, bad_replies, send_failures, skipped;
    uint64_t over_deadline; /* answered, but slower than --late-after-ms */
    uint64_t unanswered; /* still in flight when Ctrl-C stopped the run */
    fb_code_t codes[MAX_CODES];
    size_t n_codes;
    uint64_t other_codes;
    uint64_t items, items_replies;
    uint64_t hist[HIST_BUCKETS];
    uint64_t lat_n, lat_sum, lat_min, lat_max;
    uint64_t measure_start_us, last_done_us;
    uint64_t run_start_us, run_end_us, cpu_us; /* whole run incl. warmup: this process's CPU use */
} fb_stats_t;

typedef struct {
    fb_options_t opt;
    void *zmq;
    fb_client_t *clients;
    zmq_pollitem_t *items;
    fb_slot_t *ring;
    uint64_t head, tail; /* next seq to assign; oldest seq that may still be pending */
    uint64_t pending;
    uint64_t next_user;  /* requests sent so far, for the deterministic user cycle */
    uint32_t next_client; /* open loop round robin */
    uint64_t rng;
    char rid_prefix[32];
    size_t rid_prefix_len;
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    fb_stats_t st;
} fb_t;

static void s_usage(FILE *out)
{
    fputs("usage: feedbench [options]\n"
          "  --endpoint EP      client frontend (env FEEDMIX_ENDPOINT, " DEFAULT_ENDPOINT ");\n"
          "                     ipc:// or tcp:// on 127.0.0.1, localhost or [::1] only\n"
          "  --feed NAME        feed to request (home)\n"
          "  --users N          user ids cycle over 1..N (1000)\n"
          "  --clients C        DEALER sockets (8)\n"
          "  --duration S       measured seconds (10), or\n"
          "  --requests N       measured requests\n"
          "  --warmup S         unmeasured seconds first (1)\n"
          "  --deadline-ms N    deadline_ms sent with each request (feed default)\n"
          "  --timeout-ms N     no reply after this is a timeout (deadline + 1000; 2000 without deadline)\n"
          "  --context k=v      request context entry, repeatable\n"
          "  --rate R           open loop: R requests/s in total instead of one outstanding per client\n"
          "  --arrival poisson|fixed  open-loop inter-arrival times (poisson)\n"
          "  --seed N           seed for Poisson arrivals (1)\n"
          "  --late-after-ms N  count answers slower than N ms (the deadline + a few ms) as late\n"
          "  --json             print one JSON object\n"
          "Closed loop: each client keeps one request outstanding. Ctrl-C stops early and reports.\n"
          "exit: 0 replies received, 1 none or failure, 2 usage; Ctrl-C reports, then dies of SIGINT\n",
          out);
}


static bool s_opt_int(const char *opt, const char *val, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v;
    if (fmx_parse_i64(val, &v) && v >= lo && v <= hi) {
        *out = v;
        return true;
    }
    fprintf(stderr, "feedbench: %s needs an integer in %" PRId64 "..%" PRId64 ", got '%s'\n", opt, lo, hi, val);
    return false;
}

static bool s_opt_double(const char *opt, const char *val, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno == 0 && end != val && *end == '\0' && isfinite(v) && v >= lo && v <= hi) {
        *out = v;
        return true;
    }
    fprintf(stderr, "feedbench: %s needs a number in %g..%g, got '%s'\n", opt, lo, hi, val);
    return false;
}

/* The workplace allows load on this host only: ipc://PATH, or tcp:// to a loopback name with a
 * numeric port. Interface, source-address and wildcard forms are refused. *ipv6 is set for [::1], which needs ZMQ_IPV6 on the socket. */
static int s_endpoint_check(const char *ep, bool *ipv6, char err[FMX_ERR_LEN])
{
    *ipv6 = false;
    if (strncmp(ep, "ipc://", 6) == 0) {
        if (ep[6] == '\0')
            return fmx_err(err, "endpoint '%s' has no path", ep);
        return 0;
    }
    if (strncmp(ep, "tcp://", 6) != 0)
        return fmx_err(err, "endpoint '%s' refused: only ipc:// and loopback tcp:// are allowed", ep);
    const char *host = ep + 6;
    const char *colon = strrchr(host, ':');
    if (!colon || strchr(host, ';'))
        return fmx_err(err, "endpoint '%s' refused: expected tcp://HOST:PORT", ep);
    size_t host_len = (size_t)(colon - host);
    static const char *const loopback[] = {"127.0.0.1", "localhost", "[::1]"};
    bool ok = false;
    for (size_t i = 0; i < FMX_ARRAY_LEN(loopback); i++)
        if (host_len == strlen(loopback[i]) && memcmp(host, loopback[i], host_len) == 0)
            ok = true;
    if (!ok)
        return fmx_err(err, "endpoint '%s' refused: tcp host must be 127.0.0.1, localhost or [::1]", ep);
    int64_t port;
    if (!fmx_parse_i64(colon + 1, &port) || port < 1 || port > 65535)
        return fmx_err(err, "endpoint '%s' refused: port must be 1..65535", ep);
    *ipv6 = host[0] == '[';
    return 0;
}

/* Returns 0, 1 for --help (printed), -1 on a usage error (explained). */
static int s_parse_args(fb_options_t *o, int argc, char **argv)
{
    enum { O_ENDPOINT = 1, O_FEED, O_USERS, O_CLIENTS, O_DURATION, O_REQUESTS, O_DEADLINE, O_TIMEOUT, O_CONTEXT,
           O_WARMUP, O_JSON, O_RATE, O_ARRIVAL, O_SEED, O_LATE_AFTER };
    static const struct option opts[] = {
        {"endpoint", required_argument, NULL, O_ENDPOINT}, {"feed", required_argument, NULL, O_FEED},
        {"users", required_argument, NULL, O_USERS},       {"clients", required_argument, NULL, O_CLIENTS},
        {"duration", required_argument, NULL, O_DURATION}, {"requests", required_argument, NULL, O_REQUESTS},
        {"deadline-ms", required_argument, NULL, O_DEADLINE}, {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"context", required_argument, NULL, O_CONTEXT},   {"warmup", required_argument, NULL, O_WARMUP},
        {"json", no_argument, NULL, O_JSON},               {"rate", required_argument, NULL, O_RATE},
        {"arrival", required_argument, NULL, O_ARRIVAL},   {"seed", required_argument, NULL, O_SEED},
        {"late-after-ms", required_argument, NULL, O_LATE_AFTER},
        {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0},
    };
    const char *env = getenv("FEEDMIX_ENDPOINT");
    *o = (fb_options_t){
        .endpoint = env && *env ? env : DEFAULT_ENDPOINT,
        .feed = "home",
        .users = 1000,
        .clients = 8,
        .duration_s = 10,
        .warmup_s = 1,
        .seed = 1,
    };
    bool have_duration = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        int64_t v;
        switch (c) {
        case O_ENDPOINT: o->endpoint = optarg; break;
        case O_FEED:
            o->feed = optarg;
            ok = *optarg != '\0';
            if (!ok)
                fprintf(stderr, "feedbench: --feed needs a name\n");
            break;
        case O_USERS: ok = s_opt_int("--users", optarg, 1, 1000000000, &o->users); break;
        case O_CLIENTS: ok = s_opt_int("--clients", optarg, 1, MAX_CLIENTS, &o->clients); break;
        case O_DURATION:
            ok = s_opt_double("--duration", optarg, 0.001, 86400, &o->duration_s);
            have_duration = true;
            break;
        case O_REQUESTS: ok = s_opt_int("--requests", optarg, 1, INT64_C(1000000000000), &o->requests); break;
        case O_DEADLINE: ok = s_opt_int("--deadline-ms", optarg, 1, 60000, &o->deadline_ms); break;
        case O_TIMEOUT: ok = s_opt_int("--timeout-ms", optarg, 1, 3600000, &o->timeout_ms); break;
        case O_LATE_AFTER: ok = s_opt_int("--late-after-ms", optarg, 1, 3600000, &o->late_after_ms); break;
        case O_WARMUP: ok = s_opt_double("--warmup", optarg, 0, 3600, &o->warmup_s); break;
        case O_RATE: ok = s_opt_double("--rate", optarg, 0.001, 1e6, &o->rate); break;
        case O_JSON: o->json = true; break;
        case O_SEED:
            ok = s_opt_int("--seed", optarg, 0, INT64_MAX, &v);
            o->seed = (uint64_t)v;
            break;
        case O_ARRIVAL:
            ok = strcmp(optarg, "poisson") == 0 || strcmp(optarg, "fixed") == 0;
            o->fixed_interval = strcmp(optarg, "fixed") == 0;
            if (!ok)
                fprintf(stderr, "feedbench: --arrival is poisson or fixed, got '%s'\n", optarg);
            break;
        case O_CONTEXT: {
            const char *eq = strchr(optarg, '=');
            ok = eq && eq != optarg && o->n_context < MAX_CONTEXT;
            if (!ok) {
                fprintf(stderr, "feedbench: --context needs k=v (at most %d), got '%s'\n", MAX_CONTEXT, optarg);
                break;
            }
            /* Split in place: argv strings are ours to modify. */
            optarg[eq - optarg] = '\0';
            o->context[o->n_context++] = (fb_kv_t){optarg, eq + 1};
            break;
        }
        case 'h': s_usage(stdout); return 1;
        default: s_usage(stderr); return -1;
        }
        if (!ok)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "feedbench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (have_duration && o->requests > 0) {
        fprintf(stderr, "feedbench: --duration and --requests exclude each other\n");
        return -1;
    }
    if (o->requests > 0)
        o->duration_s = 0;
    if (o->timeout_ms == 0)
        o->timeout_ms = (o->deadline_ms > 0 ? o->deadline_ms : ASSUMED_DEADLINE_MS) + TIMEOUT_GRACE_MS;
    char err[FMX_ERR_LEN];
    bool ipv6;
    if (s_endpoint_check(o->endpoint, &ipv6, err) != 0) {
        fprintf(stderr, "feedbench: %s\n", err);
        return -1;
    }
    return 0;
}

/* ---- histogram ---------------------------------------------------------------------------- */

static size_t s_hist_index(uint64_t v)
{
    if (v >= (UINT64_C(1) << HIST_MAX_BITS))
        v = (UINT64_C(1) << HIST_MAX_BITS) - 1;
    if (v < HIST_LINEAR)
        return (size_t)v;
    unsigned k = 63u - (unsigned)__builtin_clzll(v); /* k > HIST_SUB_BITS */
    unsigned shift = k - HIST_SUB_BITS;
    return HIST_LINEAR + (size_t)(k - HIST_SUB_BITS - 1) * HIST_SUB + (size_t)((v >> shift) - HIST_SUB);
}

/* The largest value that falls into bucket idx. */
static uint64_t s_hist_upper(size_t idx)
{
    if (idx < HIST_LINEAR)
        return idx;
    size_t j = idx - HIST_LINEAR;
    unsigned k = HIST_SUB_BITS + 1 + (unsigned)(j / HIST_SUB);
    uint64_t m = HIST_SUB + j % HIST_SUB;
    unsigned shift = k - HIST_SUB_BITS;
    return ((m + 1) << shift) - 1;
}

static void s_hist_add(fb_stats_t *st, uint64_t us)
{
    st->hist[s_hist_index(us)]++;
    if (st->lat_n == 0 || us < st->lat_min)
        st->lat_min = us;
    if (us > st->lat_max)
        st->lat_max = us;
    st->lat_n++;
    st->lat_sum += us;
}

/* The value at quantile q (0..1]: the top of the bucket holding the ceil(q*n)-th sample, capped
 * at the exact maximum. 0 without samples. */
static uint64_t s_hist_quantile(const fb_stats_t *st, double q)
{
    if (st->lat_n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)st->lat_n);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += st->hist[i];
        if (seen >= rank) {
            uint64_t v = s_hist_upper(i);
            return v < st->lat_max ? v : st->lat_max;
        }
    }
    return st->lat_max;
}

/* ---- requests ----------------------------------------------------------------------------- */

static void s_pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* A context value as feedctl sends it: int when plain decimal, bool for true/false, else str. */
static void s_pack_scalar(msgpack_packer *pk, const char *s)
{
    int64_t v;
    if (fmx_parse_i64(s, &v))
        msgpack_pack_int64(pk, v);
    else if (strcmp(s, "true") == 0)
        msgpack_pack_true(pk);
    else if (strcmp(s, "false") == 0)
        msgpack_pack_false(pk);
    else
        s_pack_str(pk, s, strlen(s));
}

static void s_pack_request(fb_t *b, uint64_t seq, int64_t user)
{
    const fb_options_t *o = &b->opt;
    msgpack_sbuffer_clear(&b->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3 + (o->n_context > 0) + (o->deadline_ms > 0));
    s_pack_str(&pk, "feed", 4);
    s_pack_str(&pk, o->feed, strlen(o->feed));
    s_pack_str(&pk, "user_id", 7);
    msgpack_pack_int64(&pk, user);
    char rid[64];
    int n = snprintf(rid, sizeof rid, "%s%" PRIu64, b->rid_prefix, seq);
    s_pack_str(&pk, "request_id", 10);
    s_pack_str(&pk, rid, (size_t)n);
    if (o->n_context > 0) {
        s_pack_str(&pk, "context", 7);
        msgpack_pack_map(&pk, o->n_context);
        for (size_t i = 0; i < o->n_context; i++) {
            s_pack_str(&pk, o->context[i].key, strlen(o->context[i].key));
            s_pack_scalar(&pk, o->context[i].value);
        }
    }
    if (o->deadline_ms > 0) {
        s_pack_str(&pk, "deadline_ms", 11);
        msgpack_pack_int64(&pk, o->deadline_ms);
    }
}

/* Sends the next request on client ci, started (for latency) at start_us. Returns 0, or -1 when
 * the socket refused it (high-water mark or error): nothing was consumed then. */
static int s_send(fb_t *b, uint32_t ci, uint64_t start_us, bool measured)
{
    uint64_t seq = b->head;
    int64_t user = (int64_t)(b->next_user % (uint64_t)b->opt.users) + 1;
    s_pack_request(b, seq, user);
    void *sock = b->clients[ci].sock;
    /* A multipart message is accepted whole or not at all, so a refused first frame is all. */
    if (zmq_send(sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_send(sock, b->sb.data, b->sb.size, ZMQ_DONTWAIT) < 0)
        return -1;
    fb_slot_t *s = &b->ring[seq & (RING_SIZE - 1)];
    *s = (fb_slot_t){.seq = seq, .start_us = start_us, .client = ci, .pending = true, .measured = measured};
    b->head++;
    b->pending++;
    b->next_user++;
    if (measured)
        b->st.sent++;
    else
        b->st.warmup_sent++;
    return 0;
}

/* ---- replies ------------------------------------------------------------------------------ */

static void s_count_code(fb_stats_t *st, const char *code, size_t len)
{
    for (size_t i = 0; i < st->n_codes; i++)
        if (strlen(st->codes[i].code) == len && memcmp(st->codes[i].code, code, len) == 0) {
            st->codes[i].count++;
            return;
        }
    if (st->n_codes == MAX_CODES || len == 0 || len >= sizeof st->codes[0].code) {
        st->other_codes++;
        return;
    }
    fb_code_t *c = &st->codes[st->n_codes++];
    /* Codes come from the wire: keep them printable so the report stays valid JSON. */
    for (size_t i = 0; i < len; i++)
        c->code[i] = (code[i] >= 0x21 && code[i] < 0x7f && code[i] != '"' && code[i] != '\\') ? code[i] : '?';
    c->code[len] = '\0';
    c->count = 1;
}

/* Parses "fb<pid>-<seq>" back to seq; false when it is not one of ours. */
static bool s_parse_rid(const fb_t *b, fmx_str_t rid, uint64_t *seq)
{
    if (rid.len <= b->rid_prefix_len || rid.len > b->rid_prefix_len + 20 ||
        memcmp(rid.ptr, b->rid_prefix, b->rid_prefix_len) != 0)
        return false;
    uint64_t v = 0;
    for (size_t i = b->rid_prefix_len; i < rid.len; i++) {
        if (rid.ptr[i] < '0' || rid.ptr[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(rid.ptr[i] - '0');
    }
    *seq = v;
    return true;
}

static void s_finish(fb_t *b, fb_slot_t *s, uint64_t now)
{
    s->pending = false;
    b->pending--;
    if (b->opt.rate <= 0)
        b->clients[s->client].busy = false;
    if (s->measured)
        b->st.last_done_us = now;
}

/* One reply frame from client ci. */
static void s_on_reply(fb_t *b, uint32_t ci, const void *data, size_t len, uint64_t now)
{
    fb_stats_t *st = &b->st;
    char err[FMX_ERR_LEN];
    size_t off = 0;
    fmx_str_t rid = FMX_STR_NULL, status = FMX_STR_NULL;
    if (fmx_mp_check(data, len, &fmx_mp_limits_result, err) != 0 ||
        msgpack_unpack_next(&b->up, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        b->up.data.type != MSGPACK_OBJECT_MAP || fmx_mp_get_str(&b->up.data, "request_id", &rid) != 0 ||
        fmx_mp_get_str(&b->up.data, "status", &status) != 0) {
        st->bad_replies++;
        return;
    }
    uint64_t seq;
    if (!s_parse_rid(b, rid, &seq)) {
        st->bad_replies++;
        return;
    }
    fb_slot_t *s = &b->ring[seq & (RING_SIZE - 1)];
    if (seq >= b->head || !s->pending || s->seq != seq || s->client != ci) {
        st->late++; /* its request already timed out */
        return;
    }
    /* Arrived in the same poll pass as its expiry would have been noticed: still a timeout. */
    bool too_late = now - s->start_us >= (uint64_t)b->opt.timeout_ms * 1000 && now > s->start_us;
    s_finish(b, s, now);
    if (!s->measured)
        return;
    if (too_late) {
        st->timeouts++;
        return;
    }
    const msgpack_object *root = &b->up.data;
    bool served = false;
    /* Any answer, served or error, that came after the promise: the deadline plus a few ms. */
    if (b->opt.late_after_ms && now - s->start_us > (uint64_t)b->opt.late_after_ms * 1000) st->over_deadline++;
    if (status.len == 2 && memcmp(status.ptr, "ok", 2) == 0) {
        st->ok++;
        served = true;
    } else if (status.len == 8 && memcmp(status.ptr, "degraded", 8) == 0) {
        st->degraded++;
        served = true;
    } else {
        st->errors++;
        fmx_str_t code = FMX_STR_NULL;
        const msgpack_object *e = fmx_mp_map_get(root, "error");
        if (e && fmx_mp_get_str(e, "code", &code) == 0)
            s_count_code(st, code.ptr, code.len);
        else
            s_count_code(st, "(none)", 6);
    }
    if (served) {
        s_hist_add(st, now > s->start_us ? now - s->start_us : 0);
        const msgpack_object *items = fmx_mp_map_get(root, "items");
        if (items && items->type == MSGPACK_OBJECT_ARRAY) {
            st->items += items->via.array.size;
            st->items_replies++;
        }
    }
}

/* Reads every message waiting on client ci. A reply is [empty delimiter][one frame]. */
static void s_drain(fb_t *b, uint32_t ci)
{
    void *sock = b->clients[ci].sock;
    for (;;) {
        zmq_msg_t part, body;
        zmq_msg_init(&part);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            zmq_msg_close(&body);
            return;
        }
        uint64_t now = fmx_clock_now_us();
        bool good = zmq_msg_size(&part) == 0 && zmq_msg_more(&part);
        if (good)
            good = zmq_msg_recv(&body, sock, 0) >= 0 && !zmq_msg_more(&body);
        /* Swallow whatever parts remain of a malformed message. */
        int more = 0;
        size_t more_len = sizeof more;
        while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len) == 0 && more) {
            zmq_msg_t rest;
            zmq_msg_init(&rest);
            int rc = zmq_msg_recv(&rest, sock, 0);
            zmq_msg_close(&rest);
            good = false;
            if (rc < 0)
                break;
        }
        if (good)
            s_on_reply(b, ci, zmq_msg_data(&body), zmq_msg_size(&body), now);
        else
            b->st.bad_replies++;
        zmq_msg_close(&part);
        zmq_msg_close(&body);
    }
}

/* Expires requests older than the timeout; the ring is in send order, so the oldest is at tail. */
static void s_expire(fb_t *b, uint64_t now)
{
    uint64_t timeout_us = (uint64_t)b->opt.timeout_ms * 1000;
    while (b->tail < b->head) {
        fb_slot_t *s = &b->ring[b->tail & (RING_SIZE - 1)];
        if (s->pending) {
            if (now < s->start_us + timeout_us)
                break;
            if (s->measured)
                b->st.timeouts++;
            s_finish(b, s, now);
        }
        b->tail++;
    }
}

/* ---- run ---------------------------------------------------------------------------------- */

static void s_destroy(fb_t **b_p)
{
    if (!b_p || !*b_p)
        return;
    fb_t *b = *b_p;
    if (b->clients)
        for (int64_t i = 0; i < b->opt.clients; i++)
            if (b->clients[i].sock)
                zmq_close(b->clients[i].sock);
    if (b->zmq)
        zmq_ctx_term(b->zmq);
    msgpack_sbuffer_destroy(&b->sb);
    msgpack_unpacked_destroy(&b->up);
    free(b->clients);
    free(b->items);
    free(b->ring);
    free(b);
    *b_p = NULL;
}

static fb_t *s_new(const fb_options_t *opt)
{
    fb_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->opt = *opt;
    msgpack_sbuffer_init(&b->sb);
    msgpack_unpacked_init(&b->up);
    b->rng = opt->seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
    int n = snprintf(b->rid_prefix, sizeof b->rid_prefix, "fb%ld-", (long)getpid());
    b->rid_prefix_len = (size_t)n;
    char err[FMX_ERR_LEN];
    bool ipv6 = false;
    if (s_endpoint_check(opt->endpoint, &ipv6, err) != 0) {
        fprintf(stderr, "feedbench: %s\n", err);
        goto fail;
    }
    b->clients = calloc((size_t)opt->clients, sizeof *b->clients);
    b->items = calloc((size_t)opt->clients, sizeof *b->items);
    b->ring = calloc(RING_SIZE, sizeof *b->ring);
    b->zmq = zmq_ctx_new();
    if (!b->clients || !b->items || !b->ring || !b->zmq) {
        fprintf(stderr, "feedbench: out of memory or zmq_ctx_new failed\n");
        goto fail;
    }
    for (int64_t i = 0; i < opt->clients; i++) {
        void *s = zmq_socket(b->zmq, ZMQ_DEALER);
        if (!s) {
            fprintf(stderr, "feedbench: zmq_socket failed: %s\n", zmq_strerror(errno));
            goto fail;
        }
        b->clients[i].sock = s;
        int zero = 0, on = 1;
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
        if (ipv6)
            zmq_setsockopt(s, ZMQ_IPV6, &on, sizeof on);
        if (zmq_connect(s, opt->endpoint) != 0) {
            fprintf(stderr, "feedbench: zmq_connect(%s) failed: %s\n", opt->endpoint, zmq_strerror(errno));
            goto fail;
        }
        b->items[i] = (zmq_pollitem_t){.socket = s, .events = ZMQ_POLLIN};
    }
    return b;
fail:
    s_destroy(&b);
    return NULL;
}

/* Exponential inter-arrival time for a Poisson process of the given rate, in microseconds. */
static double s_poisson_gap_us(fb_t *b, double rate)
{
    /* xorshift64*: deterministic per --seed, good enough for arrival jitter. */
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    uint64_t r = b->rng * UINT64_C(2685821657736338717);
    double u = ((double)(r >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    return -log(u) / rate * 1e6;
}

/* Runs the load until the limit, Ctrl-C, or (after the limit) every request is answered or timed
 * out. Returns true when interrupted. */
static bool s_run(fb_t *b)
{
    const fb_options_t *o = &b->opt;
    bool open_loop = o->rate > 0;
    uint64_t t0 = fmx_clock_now_us();
    uint64_t warm_end = t0 + (uint64_t)(o->warmup_s * 1e6);
    uint64_t end = o->requests > 0 ? UINT64_MAX : warm_end + (uint64_t)(o->duration_s * 1e6);
    double next_at = (double)t0; /* open loop: scheduled time of the next request */
    double fixed_gap_us = open_loop ? 1e6 / o->rate : 0;
    b->st.measure_start_us = warm_end;
    b->st.run_start_us = t0;
    for (;;) {
        if (s_stop)
            return true;
        uint64_t now = fmx_clock_now_us();
        s_expire(b, now);
        bool measured = now >= warm_end;
        /* Open loop counts a skipped or refused request as issued: the schedule does not wait. */
        uint64_t issued = b->st.sent + (open_loop ? b->st.skipped + b->st.send_failures : 0);
        bool sending = measured ? (o->requests > 0 ? issued < (uint64_t)o->requests : now < end) : true;
        uint64_t wake = UINT64_MAX; /* next time the loop must act without a reply */
        if (sending && open_loop) {
            while (sending && next_at <= (double)now) {
                uint64_t at = (uint64_t)next_at;
                bool m = at >= warm_end;
                if (b->head - b->tail >= RING_SIZE) {
                    b->st.skipped += m; /* the client is too far behind to track more */
                } else if (s_send(b, b->next_client, at, m) != 0) {
                    b->st.send_failures += m;
                } else {
                    b->next_client = (b->next_client + 1) % (uint32_t)o->clients;
                }
                next_at += o->fixed_interval ? fixed_gap_us : s_poisson_gap_us(b, o->rate);
                issued = b->st.sent + b->st.skipped + b->st.send_failures;
                if (m && o->requests > 0 && issued >= (uint64_t)o->requests)
                    sending = false;
            }
            if (sending)
                wake = (uint64_t)next_at;
        } else if (sending) {
            for (uint32_t i = 0; i < (uint32_t)o->clients && sending; i++) {
                fb_client_t *c = &b->clients[i];
                if (c->busy)
                    continue;
                if (now < c->retry_us) {
                    wake = wake < c->retry_us ? wake : c->retry_us;
                    continue;
                }
                if (b->head - b->tail >= RING_SIZE || s_send(b, i, now, measured) != 0) {
                    b->st.send_failures += measured;
                    c->retry_us = now + 10000;
                    wake = wake < c->retry_us ? wake : c->retry_us;
                    continue;
                }
                c->busy = true;
                if (measured && o->requests > 0 && b->st.sent >= (uint64_t)o->requests)
                    sending = false;
            }
        }
        if (!sending && measured && b->pending == 0)
            return false;
        if (sending && end < wake)
            wake = end;
        if (!measured && warm_end < wake)
            wake = warm_end;
        if (b->pending > 0) {
            const fb_slot_t *s = &b->ring[b->tail & (RING_SIZE - 1)];
            uint64_t expiry = s->start_us + (uint64_t)o->timeout_ms * 1000;
            wake = wake < expiry ? wake : expiry;
        }
        long timeout_ms = POLL_CAP_MS;
        if (wake != UINT64_MAX) {
            uint64_t t = fmx_clock_now_us();
            /* Round up so a sub-millisecond wait sleeps 1 ms instead of spinning; open loop at
             * high rates wakes a little late and sends the due requests in one go. */
            timeout_ms = wake <= t ? 0 : (long)((wake - t + 999) / 1000);
            if (timeout_ms > POLL_CAP_MS)
                timeout_ms = POLL_CAP_MS;
        }
        int rc = zmq_poll(b->items, (int)o->clients, timeout_ms);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "feedbench: zmq_poll failed: %s\n", zmq_strerror(errno));
            return true;
        }
        for (uint32_t i = 0; rc > 0 && i < (uint32_t)o->clients; i++)
            if (b->items[i].revents & ZMQ_POLLIN)
                s_drain(b, i);
    }
}

/* ---- report ------------------------------------------------------------------------------- */

static void s_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void s_report(const fb_t *b, bool interrupted, FILE *out)
{
    const fb_options_t *o = &b->opt;
    const fb_stats_t *st = &b->st;
    uint64_t replies = st->ok + st->degraded + st->errors;
    uint64_t stop = st->last_done_us > st->measure_start_us ? st->last_done_us : st->measure_start_us;
    double elapsed_s = (double)(stop - st->measure_start_us) / 1e6;
    double rps = elapsed_s > 0 ? (double)replies / elapsed_s : 0;
    double served_rps = elapsed_s > 0 ? (double)(st->ok + st->degraded) / elapsed_s : 0;
    double mean = st->lat_n ? (double)st->lat_sum / (double)st->lat_n : 0;
    double avg_items = st->items_replies ? (double)st->items / (double)st->items_replies : 0;
    /* The generator shares the machine with what it measures: show how much of a core it used. */
    uint64_t wall = st->run_end_us > st->run_start_us ? st->run_end_us - st->run_start_us : 0;
    double cpu_pct = wall ? 100.0 * (double)st->cpu_us / (double)wall : 0;
    static const double qs[] = {0.5, 0.9, 0.99, 0.999};
    static const char *const qnames[] = {"p50", "p90", "p99", "p99_9"};
    uint64_t qv[4];
    for (size_t i = 0; i < 4; i++)
        qv[i] = s_hist_quantile(st, qs[i]);
    if (o->json) {
        fputs("{\"endpoint\":", out);
        s_json_str(out, o->endpoint);
        fputs(",\"feed\":", out);
        s_json_str(out, o->feed);
        fprintf(out, ",\"mode\":\"%s\",\"clients\":%" PRId64 ",\"users\":%" PRId64 ",\"rate\":%.3f",
                o->rate > 0 ? "open" : "closed", o->clients, o->users, o->rate);
        fprintf(out, ",\"warmup_s\":%.3f,\"elapsed_s\":%.3f,\"interrupted\":%s", o->warmup_s, elapsed_s,
                interrupted ? "true" : "false");
        fprintf(out,
                ",\"sent\":%" PRIu64 ",\"warmup_sent\":%" PRIu64 ",\"replies\":%" PRIu64 ",\"ok\":%" PRIu64
                ",\"degraded\":%" PRIu64 ",\"errors\":%" PRIu64,
                st->sent, st->warmup_sent, replies, st->ok, st->degraded, st->errors);
        fputs(",\"error_codes\":{", out);
        for (size_t i = 0; i < st->n_codes; i++)
            fprintf(out, "%s\"%s\":%" PRIu64, i ? "," : "", st->codes[i].code, st->codes[i].count);
        if (st->other_codes)
            fprintf(out, "%s\"(other)\":%" PRIu64, st->n_codes ? "," : "", st->other_codes);
        fprintf(out,
                "},\"over_deadline\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"late\":%" PRIu64 ",\"bad_replies\":%" PRIu64
                ",\"send_failures\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"unanswered\":%" PRIu64,
                st->over_deadline, st->timeouts, st->late, st->bad_replies, st->send_failures, st->skipped, st->unanswered);
        fprintf(out, ",\"throughput_rps\":%.1f,\"served_rps\":%.1f,\"latency_us\":{", rps, served_rps);
        for (size_t i = 0; i < 4; i++)
            fprintf(out, "\"%s\":%" PRIu64 ",", qnames[i], qv[i]);
        fprintf(out, "\"max\":%" PRIu64 ",\"min\":%" PRIu64 ",\"mean\":%.1f,\"samples\":%" PRIu64 "}", st->lat_max,
                st->lat_min, mean, st->lat_n);
        fprintf(out, ",\"avg_items\":%.2f,\"client_cpu_pct\":%.1f}\n", avg_items, cpu_pct);
        return;
    }
    fprintf(out, "feedbench: feed %s on %s, %" PRId64 " clients, %s, users 1..%" PRId64 "%s\n", o->feed, o->endpoint,
            o->clients, o->rate > 0 ? "open loop" : "closed loop", o->users, interrupted ? " (interrupted)" : "");
    if (o->rate > 0)
        fprintf(out, "  rate        %.1f/s target (%s arrivals)\n", o->rate, o->fixed_interval ? "fixed" : "poisson");
    fprintf(out, "  measured    %.2f s after %.2f s warmup (%" PRIu64 " warmup requests)\n", elapsed_s, o->warmup_s,
            st->warmup_sent);
    fprintf(out,
            "  requests    sent %" PRIu64 "  ok %" PRIu64 "  degraded %" PRIu64 "  errors %" PRIu64 "  timeouts %" PRIu64
            "\n",
            st->sent, st->ok, st->degraded, st->errors, st->timeouts);
    if (o->late_after_ms)
        fprintf(out, "  late        %" PRIu64 " answered after %" PRId64 " ms\n", st->over_deadline, o->late_after_ms);
    if (st->errors) {
        fputs("  errors by   ", out);
        for (size_t i = 0; i < st->n_codes; i++)
            fprintf(out, "%s %" PRIu64 "  ", st->codes[i].code, st->codes[i].count);
        if (st->other_codes)
            fprintf(out, "(other) %" PRIu64, st->other_codes);
        fputc('\n', out);
    }
    if (st->late || st->bad_replies || st->send_failures || st->skipped || st->unanswered)
        fprintf(out,
                "  anomalies   late %" PRIu64 "  bad replies %" PRIu64 "  send refused %" PRIu64 "  skipped %" PRIu64
                "  unanswered %" PRIu64 "\n",
                st->late, st->bad_replies, st->send_failures, st->skipped, st->unanswered);
    fprintf(out, "  throughput  %.1f replies/s (%.1f served/s)\n", rps, served_rps);
    fprintf(out,
            "  latency us  p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64 "  p99.9 %" PRIu64 "  max %" PRIu64
            "  mean %.0f  (%" PRIu64 " served replies)\n",
            qv[0], qv[1], qv[2], qv[3], st->lat_max, mean, st->lat_n);
    fprintf(out, "  items       %.2f per served reply\n", avg_items);
    fprintf(out, "  client cpu  %.1f%% of one core\n", cpu_pct);
}

/* User + system CPU, including libzmq's I/O thread. */
static uint64_t s_cpu_us(const struct rusage *ru)
{
    return (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000 +
           (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec);
}

int main(int argc, char **argv)
{
    fb_options_t opt;
    int rc = s_parse_args(&opt, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : EXIT_USAGE;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal; /* no SA_RESTART: zmq_poll returns EINTR and the loop sees the flag */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fb_t *b = s_new(&opt);
    if (!b)
        return 1;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    bool interrupted = s_run(b);
    getrusage(RUSAGE_SELF, &ru1);
    b->st.run_end_us = fmx_clock_now_us();
    b->st.cpu_us = s_cpu_us(&ru1) - s_cpu_us(&ru0);
    for (uint64_t seq = b->tail; seq < b->head; seq++) {
        const fb_slot_t *s = &b->ring[seq & (RING_SIZE - 1)];
        b->st.unanswered += s->pending && s->measured;
    }
    s_report(b, interrupted, stdout);
    fflush(stdout);
    bool any = b->st.ok + b->st.degraded + b->st.errors > 0;
    s_destroy(&b);
    if (s_stop) {
        /* Die of the signal after reporting, so a calling shell sees the Ctrl-C and stops too
         * (a normal exit would tell bash the child consumed it). */
        signal((int)s_stop, SIG_DFL);
        raise((int)s_stop);
    }
    return any ? 0 : 1;
}
