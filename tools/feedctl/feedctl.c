/* feedctl.c - the command-line client and admin tool.
 *
 *   feedctl get FEED --user ID [...]   one request on the client frontend, reply printed as JSON
 *   feedctl stats [--json]             broker counters, per-type replica load, and (not --json) the
 *                                      metrics as tables: per feed and per node counts, p50/p99
 *   feedctl metrics                    the Prometheus text the broker's /metrics serves
 *   feedctl replicas | reload          the other admin commands
 *   feedctl validate [DIR]             load the configuration offline, report every error
 *   feedctl plan FEED --user ID [...]  the plan the broker would build, offline, as JSON or DOT
 *   feedctl report [--since WHEN]      click-through from the events log (tools/feedctl/report.c)
 *
 * Exit codes: 0 served (ok/degraded) or admin ok, 1 error reply or local failure, 2 usage,
 * 3 no reply within the timeout. Sockets linger 0 so a down broker never makes feedctl hang. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "broker/config.h"
#include "broker/context.h"
#include "common/fmx.h"
#include "schemas/mpcheck.h"
#include "schemas/request.h"
#include "tools/feedctl/json.h"
#include "tools/feedctl/metrics_print.h"
#include "tools/feedctl/plan_print.h"
#include "tools/feedctl/report.h"
#include "tools/feedctl/trace_out.h"

#define EXIT_SERVED 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2
#define EXIT_NO_REPLY 3

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:7400"
#define DEFAULT_ADMIN "tcp://127.0.0.1:7402"
#define DEFAULT_TIMEOUT_MS 5000
#define MAX_CONTEXT 64
#define DEFAULT_CONFIG "configs"
#define CONFIG_ERRS_CAP (64 * 1024)

/* The subcommand table: argv[0] of run() is the subcommand's name. */
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} s_command_t;

static void s_usage(FILE *out)
{
    fputs("usage: feedctl COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  get FEED --user ID   request a feed and print the reply as JSON\n"
          "      [--context k=v]... [--limit N] [--deadline-ms N] [--request-id X] [--summary (one line)]\n"
          "      [--debug (the execution trace inline)] [--trace-out FILE (it as Chrome trace JSON; implies --debug)]\n"
          "      [--endpoint EP (env FEEDMIX_ENDPOINT, " DEFAULT_ENDPOINT ")]\n"
          "  event TYPE --token T report an engagement (impression, click, ...) with an item's token\n"
          "      [--user ID] [--request-id X] [--endpoint EP]\n"
          "  stats [--json]       replicas and load per node type, broker counters; then requests per\n"
          "                       feed and outcomes per node with p50/p99 (from the metrics)\n"
          "  metrics              the Prometheus text the broker serves on /metrics\n"
          "  replicas             every registered actor replica, as JSON\n"
          "  reload               reload feeds and parameters, print the result\n"
          "  wait TYPE=N...       wait until each node TYPE has N ready replicas (--timeout-ms, default 20000)\n"
          "  validate [DIR]       load DIR/feeds, DIR/params.yaml, DIR/experiments.yaml offline (DIR: " DEFAULT_CONFIG ")\n"
          "  plan FEED --user ID  the plan the broker would build for that request, offline, as JSON\n"
          "      [--context k=v]... [--param k=v]... [--config DIR (" DEFAULT_CONFIG ")] [--dot (Graphviz)]\n"
          "      (hour/weekday come from the clock unless --context time=UNIX_S)\n"
          "  report               click-through per feed x source and per experiment variant, from the events log\n"
          "      [--since 2h|UNIX_S|2026-01-01T00:00:00Z] [--events FILE (var/log/events.jsonl)] [--json]\n"
          "  help                 this text\n"
          "\n"
          "common options:\n"
          "  --timeout-ms N       wait at most N ms for a reply (default 5000)\n"
          "  --admin EP           admin endpoint (env FEEDMIX_ADMIN, " DEFAULT_ADMIN ")\n"
          "\n"
          "exit: 0 ok/degraded, 1 error reply or failure, 2 usage, 3 no reply in time\n",
          out);
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* Integer option value; prints a usage error on failure. */
static bool s_opt_int(const char *opt, const char *val, int64_t *out)
{
    if (fmx_parse_i64(val, out))
        return true;
    fprintf(stderr, "feedctl: %s needs an integer, got '%s'\n", opt, val);
    return false;
}

static void s_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* An id or a context value: int when it is a plain decimal, bool for true/false, else str. */
static void s_pack_scalar(msgpack_packer *pk, const char *s, bool allow_bool)
{
    int64_t v;
    if (fmx_parse_i64(s, &v))
        msgpack_pack_int64(pk, v);
    else if (allow_bool && strcmp(s, "true") == 0)
        msgpack_pack_true(pk);
    else if (allow_bool && strcmp(s, "false") == 0)
        msgpack_pack_false(pk);
    else
        s_pack_str(pk, s);
}

static int s_timeout_opt(const char *val, int *timeout_ms)
{
    int64_t v;
    if (!s_opt_int("--timeout-ms", val, &v))
        return -1;
    if (v <= 0 || v > INT_MAX) {
        fprintf(stderr, "feedctl: --timeout-ms must be in 1..%d\n", INT_MAX);
        return -1;
    }
    *timeout_ms = (int)v;
    return 0;
}

/* One request, one reply on a fresh REQ socket. On success *reply holds the single reply frame,
 * already checked to be one well-formed msgpack object (the caller closes it). Returns an exit
 * code: EXIT_SERVED, EXIT_NO_REPLY or EXIT_ERROR (message printed). */
static int s_call(const char *endpoint, const char *buf, size_t len, int timeout_ms, zmq_msg_t *reply)
{
    int rc = EXIT_ERROR;
    void *ctx = zmq_ctx_new();
    void *sock = NULL;
    zmq_msg_init(reply);
    if (!ctx) {
        fprintf(stderr, "feedctl: zmq_ctx_new failed: %s\n", zmq_strerror(errno));
        goto done;
    }
    sock = zmq_socket(ctx, ZMQ_REQ);
    if (!sock) {
        fprintf(stderr, "feedctl: zmq_socket failed: %s\n", zmq_strerror(errno));
        goto done;
    }
    int zero = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    if (zmq_connect(sock, endpoint) != 0) {
        fprintf(stderr, "feedctl: zmq_connect(%s) failed: %s\n", endpoint, zmq_strerror(errno));
        goto done;
    }
    int64_t deadline = s_now_ms() + timeout_ms;
    if (zmq_send(sock, buf, len, 0) < 0) {
        if (errno == EAGAIN) {
            fprintf(stderr, "no reply from %s within %d ms\n", endpoint, timeout_ms);
            rc = EXIT_NO_REPLY;
        } else {
            fprintf(stderr, "feedctl: zmq_send(%s) failed: %s\n", endpoint, zmq_strerror(errno));
        }
        goto done;
    }
    for (;;) {
        int64_t left = deadline - s_now_ms();
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int n = left > 0 ? zmq_poll(&item, 1, (long)left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "feedctl: zmq_poll failed: %s\n", zmq_strerror(errno));
            goto done;
        }
        if (n == 0) {
            fprintf(stderr, "no reply from %s within %d ms\n", endpoint, timeout_ms);
            rc = EXIT_NO_REPLY;
            goto done;
        }
        break;
    }
    if (zmq_msg_recv(reply, sock, 0) < 0) {
        fprintf(stderr, "feedctl: zmq_msg_recv(%s) failed: %s\n", endpoint, zmq_strerror(errno));
        goto done;
    }
    if (zmq_msg_more(reply)) {
        fprintf(stderr, "feedctl: reply from %s has more than one frame\n", endpoint);
        goto done;
    }
    char err[FMX_ERR_LEN];
    if (fmx_mp_check(zmq_msg_data(reply), zmq_msg_size(reply), &fmx_mp_limits_result, err) != 0) {
        fprintf(stderr, "feedctl: malformed reply from %s: %s\n", endpoint, err);
        goto done;
    }
    rc = EXIT_SERVED;
done:
    if (rc != EXIT_SERVED) {
        zmq_msg_close(reply);
        zmq_msg_init(reply);
    }
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}

/* Unpacks a frame that passed s_call's check; the objects point into the frame. */
static int s_unpack(zmq_msg_t *frame, msgpack_unpacked *up)
{
    size_t off = 0;
    msgpack_unpacked_init(up);
    if (msgpack_unpack_next(up, zmq_msg_data(frame), zmq_msg_size(frame), &off) != MSGPACK_UNPACK_SUCCESS) {
        fprintf(stderr, "feedctl: cannot decode the reply\n");
        return -1;
    }
    return 0;
}

/* Sends sb (destroyed here) to endpoint and decodes the reply into *up. *frame holds the bytes up
 * points into; the caller closes it and destroys *up whatever the result (both are initialised).
 * Returns an exit code as s_call does. */
static int s_request(const char *endpoint, msgpack_sbuffer *sb, int timeout_ms, zmq_msg_t *frame, msgpack_unpacked *up)
{
    int rc = s_call(endpoint, sb->data, sb->size, timeout_ms, frame);
    msgpack_sbuffer_destroy(sb);
    if (rc != EXIT_SERVED) {
        msgpack_unpacked_init(up);
        return rc;
    }
    return s_unpack(frame, up) == 0 ? EXIT_SERVED : EXIT_ERROR;
}

static const msgpack_object *s_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, key, n) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static bool s_str_is(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static void s_print_json(FILE *out, const msgpack_object *o)
{
    fmx_json_write(out, o, 2);
    fputc('\n', out);
}

static const char *s_env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* One line for a reply: status, items by type (children of carousels counted apart), fallbacks,
 * the round trip. For scripts/up and a quick look at every surface. */
static void s_print_summary(FILE *out, const char *feed, const msgpack_object *reply, double ms)
{
    enum { MAX_TYPES = 8 };
    const char *names[MAX_TYPES];
    uint32_t lens[MAX_TYPES], counts[MAX_TYPES];
    size_t n_types = 0;
    uint64_t children = 0;
    const msgpack_object *status = s_get(reply, "status"), *items = s_get(reply, "items");
    uint32_t n_items = items && items->type == MSGPACK_OBJECT_ARRAY ? items->via.array.size : 0;
    for (uint32_t i = 0; i < n_items; i++) {
        const msgpack_object *type = s_get(&items->via.array.ptr[i], "type");
        const msgpack_object *kids = s_get(&items->via.array.ptr[i], "items");
        if (kids && kids->type == MSGPACK_OBJECT_ARRAY)
            children += kids->via.array.size;
        if (!type || type->type != MSGPACK_OBJECT_STR)
            continue;
        size_t t = 0;
        while (t < n_types && !(lens[t] == type->via.str.size && memcmp(names[t], type->via.str.ptr, lens[t]) == 0))
            t++;
        if (t == n_types && n_types < MAX_TYPES) {
            names[t] = type->via.str.ptr, lens[t] = type->via.str.size, counts[t] = 0;
            n_types++;
        }
        if (t < n_types)
            counts[t]++;
    }
    fprintf(out, "%-14s %-9.*s %3u items", feed, status && status->type == MSGPACK_OBJECT_STR ? (int)status->via.str.size : 1,
            status && status->type == MSGPACK_OBJECT_STR ? status->via.str.ptr : "?", n_items);
    for (size_t t = 0; t < n_types; t++)
        fprintf(out, "%s%u %.*s", t ? ", " : " (", counts[t], (int)lens[t], names[t]);
    if (n_types)
        fputc(')', out);
    if (children)
        fprintf(out, ", %" PRIu64 " in collections", children);
    const msgpack_object *fallbacks = s_get(reply, "fallbacks");
    if (fallbacks && fallbacks->type == MSGPACK_OBJECT_ARRAY && fallbacks->via.array.size)
        fprintf(out, ", %u fell back", fallbacks->via.array.size);
    const msgpack_object *error = s_get(reply, "error");
    const msgpack_object *message = error ? s_get(error, "message") : NULL;
    if (message && message->type == MSGPACK_OBJECT_STR)
        fprintf(out, ": %.*s", (int)message->via.str.size, message->via.str.ptr);
    fprintf(out, "  %.1f ms\n", ms);
}

/* --trace-out: the reply's trace as Chrome trace JSON in path. */
static int s_write_trace(const char *path, const msgpack_object *reply)
{
    char err[FMX_ERR_LEN];
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "feedctl: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = fmx_trace_out_write(f, reply, err);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, sizeof err, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        fprintf(stderr, "feedctl: --trace-out: %s\n", err);
    return rc;
}

static int s_cmd_get(int argc, char **argv)
{
    enum { O_USER = 'u', O_CONTEXT = 'c', O_LIMIT = 'n', O_DEADLINE = 256, O_REQID, O_DEBUG, O_TIMEOUT, O_ENDPOINT,
           O_SUMMARY, O_TRACE_OUT };
    static const struct option opts[] = {
        {"user", required_argument, NULL, O_USER},
        {"context", required_argument, NULL, O_CONTEXT},
        {"limit", required_argument, NULL, O_LIMIT},
        {"deadline-ms", required_argument, NULL, O_DEADLINE},
        {"request-id", required_argument, NULL, O_REQID},
        {"debug", no_argument, NULL, O_DEBUG},
        {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"endpoint", required_argument, NULL, O_ENDPOINT},
        {"summary", no_argument, NULL, O_SUMMARY},
        {"trace-out", required_argument, NULL, O_TRACE_OUT},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *request_id = NULL, *trace_out = NULL;
    const char *endpoint = s_env_or("FEEDMIX_ENDPOINT", DEFAULT_ENDPOINT);
    const char *context[MAX_CONTEXT];
    size_t n_context = 0;
    int64_t limit = 0, deadline_ms = 0;
    bool has_limit = false, has_deadline = false, debug = false, summary = false;
    int timeout_ms = DEFAULT_TIMEOUT_MS;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:c:n:", opts, NULL)) != -1) {
        switch (c) {
        case O_USER: user = optarg; break;
        case O_CONTEXT:
            if (!strchr(optarg, '=') || optarg[0] == '=') {
                fprintf(stderr, "feedctl: --context needs key=value, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            if (n_context == MAX_CONTEXT) {
                fprintf(stderr, "feedctl: at most %d --context options\n", MAX_CONTEXT);
                return EXIT_USAGE;
            }
            context[n_context++] = optarg;
            break;
        case O_LIMIT:
            if (!s_opt_int("--limit", optarg, &limit))
                return EXIT_USAGE;
            has_limit = true;
            break;
        case O_DEADLINE:
            if (!s_opt_int("--deadline-ms", optarg, &deadline_ms))
                return EXIT_USAGE;
            has_deadline = true;
            break;
        case O_REQID: request_id = optarg; break;
        case O_DEBUG: debug = true; break;
        case O_TIMEOUT:
            if (s_timeout_opt(optarg, &timeout_ms) != 0)
                return EXIT_USAGE;
            break;
        case O_ENDPOINT: endpoint = optarg; break;
        case O_SUMMARY: summary = true; break;
        case O_TRACE_OUT:
            trace_out = optarg;
            debug = true;
            break;
        default: s_usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !user) {
        fputs("feedctl: get needs exactly one FEED and --user ID\n", stderr);
        s_usage(stderr);
        return EXIT_USAGE;
    }
    const char *feed = argv[optind];

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2 + (request_id != NULL) + (n_context > 0) + has_limit + has_deadline + debug);
    s_pack_str(&pk, "feed");
    s_pack_str(&pk, feed);
    s_pack_str(&pk, "user_id");
    s_pack_scalar(&pk, user, false);
    if (request_id) {
        s_pack_str(&pk, "request_id");
        s_pack_str(&pk, request_id);
    }
    if (n_context > 0) {
        s_pack_str(&pk, "context");
        msgpack_pack_map(&pk, n_context);
        for (size_t i = 0; i < n_context; i++) {
            const char *eq = strchr(context[i], '=');
            msgpack_pack_str(&pk, (size_t)(eq - context[i]));
            msgpack_pack_str_body(&pk, context[i], (size_t)(eq - context[i]));
            s_pack_scalar(&pk, eq + 1, true);
        }
    }
    if (has_limit) {
        s_pack_str(&pk, "limit");
        msgpack_pack_int64(&pk, limit);
    }
    if (has_deadline) {
        s_pack_str(&pk, "deadline_ms");
        msgpack_pack_int64(&pk, deadline_ms);
    }
    if (debug) {
        s_pack_str(&pk, "debug");
        msgpack_pack_true(&pk);
    }

    zmq_msg_t frame;
    msgpack_unpacked up;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = s_request(endpoint, &sb, timeout_ms, &frame, &up);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == EXIT_SERVED) {
        if (summary)
            s_print_summary(stdout, feed, &up.data,
                            (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
        else
            s_print_json(stdout, &up.data);
        const msgpack_object *status = s_get(&up.data, "status");
        rc = s_str_is(status, "ok") || s_str_is(status, "degraded") ? EXIT_SERVED : EXIT_ERROR;
        if (trace_out && rc == EXIT_SERVED && s_write_trace(trace_out, &up.data) != 0)
            rc = EXIT_ERROR;
    }
    msgpack_unpacked_destroy(&up);
    zmq_msg_close(&frame);
    return rc;
}

/* Parses the admin commands' shared options: --admin, --timeout-ms and (stats) --json. */
static int s_admin_opts(int argc, char **argv, bool allow_json, const char **admin, int *timeout_ms, bool *json)
{
    enum { O_ADMIN = 256, O_TIMEOUT, O_JSON };
    static const struct option opts[] = {
        {"admin", required_argument, NULL, O_ADMIN},
        {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"json", no_argument, NULL, O_JSON},
        {NULL, 0, NULL, 0},
    };
    int c;
    *admin = s_env_or("FEEDMIX_ADMIN", DEFAULT_ADMIN);
    *timeout_ms = DEFAULT_TIMEOUT_MS;
    *json = false;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_ADMIN: *admin = optarg; break;
        case O_TIMEOUT:
            if (s_timeout_opt(optarg, timeout_ms) != 0)
                return -1;
            break;
        case O_JSON:
            if (!allow_json)
                goto bad;
            *json = true;
            break;
        default: goto bad;
        }
    }
    if (optind == argc)
        return 0;
    fprintf(stderr, "feedctl: unexpected argument '%s'\n", argv[optind]);
bad:
    s_usage(stderr);
    return -1;
}

/* Sends {"cmd": cmd} to the admin socket; on EXIT_SERVED *frame and *up hold the reply. */
static int s_admin_call(const char *admin, const char *cmd, int timeout_ms, zmq_msg_t *frame, msgpack_unpacked *up)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    s_pack_str(&pk, "cmd");
    s_pack_str(&pk, cmd);
    return s_request(admin, &sb, timeout_ms, frame, up);
}

static void s_print_int(const msgpack_object *o, int width)
{
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        printf("%*" PRIu64, width, o->via.u64);
    else if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        printf("%*" PRId64, width, o->via.i64);
    else
        printf("%*s", width, "-");
}

static void s_print_stats(const msgpack_object *r)
{
    const msgpack_object *uptime = s_get(r, "uptime_ms");
    const msgpack_object *feeds = s_get(r, "feeds");
    const msgpack_object *port = s_get(r, "metrics_port");
    printf("uptime_ms: ");
    s_print_int(uptime, 0);
    if (port && port->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        printf("\nmetrics_port: %" PRIu64 "%s", port->via.u64, port->via.u64 ? "" : " (the /metrics endpoint is off)");
    printf("\nfeeds:");
    if (feeds && feeds->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < feeds->via.array.size; i++) {
            const msgpack_object *f = &feeds->via.array.ptr[i];
            if (f->type == MSGPACK_OBJECT_STR)
                printf(" %.*s", (int)f->via.str.size, f->via.str.ptr);
        }
    }
    printf("\n\n%-20s %8s %8s %8s %8s\n", "TYPE", "READY", "CAPACITY", "INFLIGHT", "QUEUED");
    const msgpack_object *types = s_get(r, "types");
    if (types && types->type == MSGPACK_OBJECT_MAP) {
        static const char *const cols[] = {"ready", "capacity", "inflight", "queued"};
        for (uint32_t i = 0; i < types->via.map.size; i++) {
            const msgpack_object *k = &types->via.map.ptr[i].key;
            const msgpack_object *v = &types->via.map.ptr[i].val;
            if (k->type != MSGPACK_OBJECT_STR)
                continue;
            printf("%-20.*s", (int)k->via.str.size, k->via.str.ptr);
            for (size_t c = 0; c < FMX_ARRAY_LEN(cols); c++) {
                putchar(' ');
                s_print_int(s_get(v, cols[c]), 8);
            }
            putchar('\n');
        }
    }
    const msgpack_object *counters = s_get(r, "counters");
    printf("\n%-20s %8s\n", "COUNTER", "VALUE");
    if (counters && counters->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < counters->via.map.size; i++) {
            const msgpack_object *k = &counters->via.map.ptr[i].key;
            if (k->type != MSGPACK_OBJECT_STR)
                continue;
            printf("%-20.*s ", (int)k->via.str.size, k->via.str.ptr);
            s_print_int(&counters->via.map.ptr[i].val, 8);
            putchar('\n');
        }
    }
}

/* The admin `metrics` reply's text: printed raw (tables false) or as feed and node tables. */
static int s_print_metrics(const char *admin, int timeout_ms, bool tables)
{
    zmq_msg_t frame;
    msgpack_unpacked up;
    int rc = s_admin_call(admin, "metrics", timeout_ms, &frame, &up);
    if (rc == EXIT_SERVED) {
        const msgpack_object *text = s_get(&up.data, "text");
        char err[FMX_ERR_LEN];
        if (!s_str_is(s_get(&up.data, "status"), "ok") || !text || text->type != MSGPACK_OBJECT_STR) {
            s_print_json(stderr, &up.data);
            rc = EXIT_ERROR;
        } else if (!tables) {
            fwrite(text->via.str.ptr, 1, text->via.str.size, stdout);
        } else {
            putchar('\n');
            if (fmx_metrics_print_tables(stdout, text->via.str.ptr, text->via.str.size, err) != 0) {
                fprintf(stderr, "feedctl: %s\n", err);
                rc = EXIT_ERROR;
            }
        }
    }
    msgpack_unpacked_destroy(&up);
    zmq_msg_close(&frame);
    return rc;
}

/* feedctl event TYPE --token T [--user ID] [--request-id X]: reports an engagement with an item,
 * as a client app does (DESIGN section 4); prints the reply. */
static int s_cmd_event(int argc, char **argv)
{
    enum { O_TOKEN = 256, O_USER, O_REQID, O_TIMEOUT, O_ENDPOINT };
    static const struct option opts[] = {
        {"token", required_argument, NULL, O_TOKEN},      {"user", required_argument, NULL, O_USER},
        {"request-id", required_argument, NULL, O_REQID}, {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"endpoint", required_argument, NULL, O_ENDPOINT}, {NULL, 0, NULL, 0},
    };
    const char *token = NULL, *user = NULL, *request_id = NULL;
    const char *endpoint = s_env_or("FEEDMIX_ENDPOINT", DEFAULT_ENDPOINT);
    int timeout_ms = DEFAULT_TIMEOUT_MS, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_TOKEN: token = optarg; break;
        case O_USER: user = optarg; break;
        case O_REQID: request_id = optarg; break;
        case O_TIMEOUT:
            if (s_timeout_opt(optarg, &timeout_ms) != 0)
                return EXIT_USAGE;
            break;
        case O_ENDPOINT: endpoint = optarg; break;
        default: s_usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !token) {
        fputs("feedctl: event needs exactly one TYPE (impression, click, ...) and --token T\n", stderr);
        return EXIT_USAGE;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2 + (user != NULL) + (request_id != NULL));
    s_pack_str(&pk, "event");
    s_pack_str(&pk, argv[optind]);
    s_pack_str(&pk, "token");
    s_pack_str(&pk, token);
    if (user) {
        s_pack_str(&pk, "user_id");
        s_pack_scalar(&pk, user, false);
    }
    if (request_id) {
        s_pack_str(&pk, "request_id");
        s_pack_str(&pk, request_id);
    }
    zmq_msg_t frame;
    msgpack_unpacked up;
    int rc = s_request(endpoint, &sb, timeout_ms, &frame, &up);
    if (rc == EXIT_SERVED) {
        s_print_json(stdout, &up.data);
        rc = s_str_is(s_get(&up.data, "status"), "ok") ? EXIT_SERVED : EXIT_ERROR;
    }
    msgpack_unpacked_destroy(&up);
    zmq_msg_close(&frame);
    return rc;
}

/* stats, replicas, metrics, reload: argv[0] is the admin command's name. */
static int s_cmd_admin(int argc, char **argv)
{
    const char *admin;
    int timeout_ms;
    bool json;
    bool is_stats = strcmp(argv[0], "stats") == 0;
    if (s_admin_opts(argc, argv, is_stats, &admin, &timeout_ms, &json) != 0)
        return EXIT_USAGE;
    if (strcmp(argv[0], "metrics") == 0)
        return s_print_metrics(admin, timeout_ms, false);
    zmq_msg_t frame;
    msgpack_unpacked up;
    int rc = s_admin_call(admin, argv[0], timeout_ms, &frame, &up);
    if (rc == EXIT_SERVED) {
        bool ok = s_str_is(s_get(&up.data, "status"), "ok");
        if (is_stats && !json && ok)
            s_print_stats(&up.data);
        else
            s_print_json(ok ? stdout : stderr, &up.data);
        rc = ok ? EXIT_SERVED : EXIT_ERROR;
        if (is_stats && !json && ok)
            rc = s_print_metrics(admin, timeout_ms, true);
    }
    msgpack_unpacked_destroy(&up);
    zmq_msg_close(&frame);
    return rc;
}

/* feedctl wait TYPE=N... : polls `stats` until every TYPE has at least N ready replicas. */
static int s_cmd_wait(int argc, char **argv)
{
    const char *admin = s_env_or("FEEDMIX_ADMIN", DEFAULT_ADMIN);
    int timeout_ms = 20000;
    const char *want_type[64];
    int64_t want_n[64];
    int n_want = 0;
    for (int i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (strcmp(argv[i], "--admin") == 0 && i + 1 < argc) {
            admin = argv[++i];
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            if (s_timeout_opt(argv[++i], &timeout_ms) != 0)
                return EXIT_USAGE;
        } else if (eq && eq != argv[i] && n_want < 64 && fmx_parse_i64(eq + 1, &want_n[n_want]) && want_n[n_want] >= 0) {
            argv[i][eq - argv[i]] = '\0';
            want_type[n_want++] = argv[i];
        } else {
            fprintf(stderr, "feedctl wait: expected TYPE=N, --admin EP or --timeout-ms N, got '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    int64_t deadline = s_now_ms() + timeout_ms;
    const char *missing = n_want ? want_type[0] : NULL;
    do {
        zmq_msg_t frame;
        msgpack_unpacked up;
        int64_t left = deadline - s_now_ms();
        int rc = s_admin_call(admin, "stats", left < 500 ? (left > 0 ? (int)left : 1) : 500, &frame, &up);
        if (rc == EXIT_SERVED) {
            const msgpack_object *types = s_get(&up.data, "types");
            missing = NULL;
            for (int k = 0; k < n_want && !missing; k++) {
                const msgpack_object *t = types ? s_get(types, want_type[k]) : NULL;
                const msgpack_object *ready = t ? s_get(t, "ready") : NULL;
                if (!ready || ready->type != MSGPACK_OBJECT_POSITIVE_INTEGER || (int64_t)ready->via.u64 < want_n[k])
                    missing = want_type[k];
            }
        }
        msgpack_unpacked_destroy(&up);
        zmq_msg_close(&frame);
        if (rc == EXIT_SERVED && !missing)
            return EXIT_SERVED;
        struct timespec pause = {0, 100 * 1000000L};
        nanosleep(&pause, NULL);
    } while (s_now_ms() < deadline);
    fprintf(stderr, "feedctl wait: %s not ready within %d ms (admin %s)\n", missing ? missing : "broker", timeout_ms,
            admin);
    return EXIT_NO_REPLY;
}

/* --- offline: validate, plan ------------------------------------------------------------------ */

/* DIR/feeds, DIR/params.yaml, DIR/experiments.yaml into the three buffers; -1 when too long. */
static int s_config_paths(const char *dir, char feeds[PATH_MAX], char params[PATH_MAX], char experiments[PATH_MAX],
                          fmx_config_paths_t *paths)
{
    if (snprintf(feeds, PATH_MAX, "%s/feeds", dir) >= PATH_MAX ||
        snprintf(params, PATH_MAX, "%s/params.yaml", dir) >= PATH_MAX ||
        snprintf(experiments, PATH_MAX, "%s/experiments.yaml", dir) >= PATH_MAX) {
        fprintf(stderr, "feedctl: config directory path too long\n");
        return -1;
    }
    *paths = (fmx_config_paths_t){feeds, params, experiments};
    return 0;
}

/* Loads the snapshot the broker would serve from dir; prints every error and returns NULL. */
static fmx_config_t *s_config_load(const char *dir)
{
    char feeds[PATH_MAX], params[PATH_MAX], experiments[PATH_MAX];
    fmx_config_paths_t paths;
    if (s_config_paths(dir, feeds, params, experiments, &paths) != 0)
        return NULL;
    char *errs = calloc(1, CONFIG_ERRS_CAP);
    if (!errs) {
        fprintf(stderr, "feedctl: out of memory\n");
        return NULL;
    }
    fmx_config_t *config = fmx_config_load(&paths, errs, CONFIG_ERRS_CAP);
    if (!config) {
        size_t n = strlen(errs);
        if (n == 0)
            fprintf(stderr, "%s: cannot load the configuration\n", dir);
        else
            fprintf(stderr, "%s%s", errs, errs[n - 1] == '\n' ? "" : "\n");
    }
    free(errs);
    return config;
}

static int s_cmd_validate(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fputs("feedctl: validate takes at most one DIR\n", stderr);
        s_usage(stderr);
        return EXIT_USAGE;
    }
    fmx_config_t *config = s_config_load(argc == 2 ? argv[1] : DEFAULT_CONFIG);
    if (!config)
        return EXIT_ERROR;
    const fmx_params_t *params = fmx_config_params(config);
    const fmx_experiments_t *experiments = fmx_config_experiments(config);
    printf("ok: %zu feeds, %zu param rules, %zu experiments\n", fmx_feedset_count(fmx_config_feeds(config)),
           params ? fmx_params_rule_count(params) : 0, experiments ? fmx_experiments_count(experiments) : 0);
    fmx_config_unref(&config);
    return EXIT_SERVED;
}

/* A --param value: like a context value, plus floats ("0.5", "1e-3") for float parameters. */
static void s_pack_param(msgpack_packer *pk, const char *s)
{
    int64_t i;
    if (!fmx_parse_i64(s, &i) && strpbrk(s, ".eE") && strspn(s, "+-.0123456789eE") == strlen(s)) {
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (*end == '\0' && errno == 0) {
            msgpack_pack_double(pk, d);
            return;
        }
    }
    s_pack_scalar(pk, s, true);
}

/* Packs "k=v" options as one msgpack map; -1 (message printed) when a key repeats. */
static int s_pack_kv(msgpack_sbuffer *sb, const char *opt, const char *const *kv, size_t n, bool param)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < n; i++) {
        size_t klen = (size_t)(strchr(kv[i], '=') - kv[i]);
        for (size_t j = 0; j < i; j++)
            if (strncmp(kv[i], kv[j], klen + 1) == 0) {
                fprintf(stderr, "feedctl: %s key '%.*s' given twice\n", opt, (int)klen, kv[i]);
                return -1;
            }
        msgpack_pack_str(&pk, klen);
        msgpack_pack_str_body(&pk, kv[i], klen);
        if (param)
            s_pack_param(&pk, kv[i] + klen + 1);
        else
            s_pack_scalar(&pk, kv[i] + klen + 1, true);
    }
    return 0;
}

/* Adds one "k=v" option to kv; prints a usage error on failure. */
static int s_kv_opt(const char *opt, const char *val, const char **kv, size_t *n)
{
    if (!strchr(val, '=') || val[0] == '=') {
        fprintf(stderr, "feedctl: %s needs key=value, got '%s'\n", opt, val);
        return -1;
    }
    if (*n == MAX_CONTEXT) {
        fprintf(stderr, "feedctl: at most %d %s options\n", MAX_CONTEXT, opt);
        return -1;
    }
    kv[(*n)++] = val;
    return 0;
}

/* Resolves and plans one request exactly as the broker does, against the snapshot in `config`,
 * then prints it. The request's facts are what `get` would send with the same options. */
static int s_plan_print(fmx_config_t *config, const char *feed, const char *user, const msgpack_object *context,
                        const msgpack_object *params, bool dot)
{
    static const char request_id[] = "feedctl-plan";
    fmx_str_t feed_s = {feed, strlen(feed)};
    fmx_str_t user_s = {user, strlen(user)};
    fmx_req_context_t ctx;
    fmx_req_context_init(&ctx, user_s, FMX_STR_LIT(request_id), feed_s, context, (int64_t)time(NULL));
    fmx_resolution_t res;
    fmx_error_code_t code = FMX_CODE_OK;
    char err[FMX_ERR_LEN] = "";
    if (fmx_config_resolve(config, feed_s, user_s, params, fmx_req_context_lookup, &ctx, &res, &code, err) != 0) {
        fprintf(stderr, "feedctl plan: %s: %s\n", fmx_error_code_name(code), err);
        return EXIT_ERROR;
    }
    bool owned = false, cache_hit = false;
    fmx_str_t *bound = NULL;
    const fmx_plan_t *plan = fmx_config_plan(config, &res, &owned, &cache_hit, &bound, err);
    if (!plan) {
        fprintf(stderr, "feedctl plan: %s\n", err);
        return EXIT_ERROR;
    }
    fmx_plan_print_t in = {plan, fmx_config_feeds(config), &res, bound};
    int rc = dot ? fmx_plan_print_dot(stdout, &in, err) : fmx_plan_print_json(stdout, &in, err);
    if (rc == 0 && fflush(stdout) != 0) {
        rc = -1;
        fmx_err(err, "cannot write to stdout: %s", strerror(errno));
    }
    if (rc != 0)
        fprintf(stderr, "feedctl plan: %s\n", err);
    fmx_config_bound_free(plan, &bound);
    if (owned) {
        fmx_plan_t *mine = (fmx_plan_t *)plan; /* not cached: ours to free */
        fmx_plan_destroy(&mine);
    }
    return rc == 0 ? EXIT_SERVED : EXIT_ERROR;
}

static int s_cmd_plan(int argc, char **argv)
{
    enum { O_USER = 'u', O_CONTEXT = 'c', O_PARAM = 'p', O_CONFIG = 256, O_DOT };
    static const struct option opts[] = {
        {"user", required_argument, NULL, O_USER},
        {"context", required_argument, NULL, O_CONTEXT},
        {"param", required_argument, NULL, O_PARAM},
        {"config", required_argument, NULL, O_CONFIG},
        {"dot", no_argument, NULL, O_DOT},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *dir = DEFAULT_CONFIG;
    const char *context[MAX_CONTEXT], *params[MAX_CONTEXT];
    size_t n_context = 0, n_params = 0;
    bool dot = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:c:p:", opts, NULL)) != -1) {
        switch (c) {
        case O_USER: user = optarg; break;
        case O_CONTEXT:
            if (s_kv_opt("--context", optarg, context, &n_context) != 0)
                return EXIT_USAGE;
            break;
        case O_PARAM:
            if (s_kv_opt("--param", optarg, params, &n_params) != 0)
                return EXIT_USAGE;
            break;
        case O_CONFIG: dir = optarg; break;
        case O_DOT: dot = true; break;
        default: s_usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !user) {
        fputs("feedctl: plan needs exactly one FEED and --user ID\n", stderr);
        s_usage(stderr);
        return EXIT_USAGE;
    }
    /* The broker refuses these at decode time; say so here rather than plan a request it rejects. */
    if (user[0] == '\0' || strlen(user) > FMX_ID_MAX) {
        fprintf(stderr, "feedctl: --user must be 1..%d bytes\n", FMX_ID_MAX);
        return EXIT_USAGE;
    }
    const char *feed = argv[optind];

    msgpack_sbuffer ctx_sb, params_sb;
    msgpack_sbuffer_init(&ctx_sb);
    msgpack_sbuffer_init(&params_sb);
    msgpack_unpacked ctx_up, params_up;
    msgpack_unpacked_init(&ctx_up);
    msgpack_unpacked_init(&params_up);
    fmx_config_t *config = NULL;
    int rc = EXIT_USAGE;
    if (s_pack_kv(&ctx_sb, "--context", context, n_context, false) != 0 ||
        s_pack_kv(&params_sb, "--param", params, n_params, true) != 0)
        goto done;
    rc = EXIT_ERROR;
    size_t off = 0, poff = 0;
    if (msgpack_unpack_next(&ctx_up, ctx_sb.data, ctx_sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
        msgpack_unpack_next(&params_up, params_sb.data, params_sb.size, &poff) != MSGPACK_UNPACK_SUCCESS) {
        fprintf(stderr, "feedctl: out of memory\n");
        goto done;
    }
    config = s_config_load(dir);
    if (!config)
        goto done;
    /* Like a request that carries no `context` / `params` key when no option was given. */
    rc = s_plan_print(config, feed, user, n_context ? &ctx_up.data : NULL, n_params ? &params_up.data : NULL, dot);
done:
    fmx_config_unref(&config);
    msgpack_unpacked_destroy(&params_up);
    msgpack_unpacked_destroy(&ctx_up);
    msgpack_sbuffer_destroy(&params_sb);
    msgpack_sbuffer_destroy(&ctx_sb);
    return rc;
}

static int s_cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    s_usage(stdout);
    return EXIT_SERVED;
}

static const s_command_t s_commands[] = {
    {"get", s_cmd_get},
    {"stats", s_cmd_admin},
    {"replicas", s_cmd_admin},
    {"metrics", s_cmd_admin},
    {"reload", s_cmd_admin},
    {"wait", s_cmd_wait},
    {"validate", s_cmd_validate},
    {"plan", s_cmd_plan},
    {"event", s_cmd_event},
    {"report", fmx_report_main},
    {"help", s_cmd_help},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    if (argc < 2)
        return s_cmd_help(argc, argv);
    for (const s_command_t *c = s_commands; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            return c->run(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return s_cmd_help(argc, argv);
    fprintf(stderr, "feedctl: unknown command '%s'\n", argv[1]);
    s_usage(stderr);
    return EXIT_USAGE;
}
