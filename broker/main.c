/* feedmix-broker - the coordinator process. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "broker/cluster.h"
#include "common/fmx.h"
#include "common/log.h"

static volatile int s_stop, s_reload;

static void s_on_signal(int sig) {
    if (sig == SIGHUP)
        s_reload = 1;
    else
        s_stop = 1;
}

static void s_usage(FILE *out) {
    fprintf(out,
            "usage: feedmix-broker [--config FILE] [--feeds DIR] [--params FILE] [--experiments FILE]\n"
            "                      [--frontend EP] [--backend EP] [--admin EP] [--metrics HOST:PORT|off]\n"
            "                      [--heartbeat-ms N] [--max-requests N] [--log-level LEVEL] [--pidfile FILE]\n"
            "                      [--token-key FILE] [--events FILE|off]\n"
            "                      [--request-log FILE|stderr|off] [--request-log-level LEVEL]\n"
            "                      [--trace-dir DIR|off] [--trace-sample-rate R] [--trace-user ID]...\n"
            "                      [--print-actors]\n"
            "Serves feeds: clients on --frontend (REQ), actors on --backend (DEALER), admin on --admin,\n"
            "Prometheus text on http://HOST:PORT/metrics with --metrics (port 0: any free one, logged and in\n"
            "the admin `stats` as metrics_port; default off unless the config sets metrics.listen).\n"
            "Flags override configs/cluster.yaml. SIGHUP reloads feeds, params and experiments (and reopens the\n"
            "request log); SIGTERM stops. Sampled traces are off unless --trace-dir or a `trace:` section.\n");
}

static int s_copy(char *dst, size_t cap, const char *src, const char *what) {
    if (strlen(src) >= cap) {
        fprintf(stderr, "feedmix-broker: %s is too long\n", what);
        return -1;
    }
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static int s_uint(const char *s, uint32_t lo, uint32_t hi, uint32_t *out, const char *what) {
    if (fmx_parse_u32(s, lo, hi, out) == 0) return 0;
    fprintf(stderr, "feedmix-broker: %s must be an integer in %u..%u\n", what, lo, hi);
    return -1;
}

int main(int argc, char **argv) {
    enum { O_CONFIG = 1, O_FEEDS, O_FRONTEND, O_BACKEND, O_ADMIN, O_HB, O_MAXREQ, O_LOG, O_PID, O_PRINT, O_PARAMS,
           O_EXPERIMENTS, O_METRICS, O_TOKEN_KEY, O_EVENTS, O_REQLOG, O_REQLOG_LEVEL, O_TRACE_DIR, O_TRACE_RATE,
           O_TRACE_USER };
    static const struct option opts[] = {
        {"config", required_argument, NULL, O_CONFIG},     {"feeds", required_argument, NULL, O_FEEDS},
        {"frontend", required_argument, NULL, O_FRONTEND}, {"backend", required_argument, NULL, O_BACKEND},
        {"admin", required_argument, NULL, O_ADMIN},       {"heartbeat-ms", required_argument, NULL, O_HB},
        {"max-requests", required_argument, NULL, O_MAXREQ}, {"log-level", required_argument, NULL, O_LOG},
        {"pidfile", required_argument, NULL, O_PID},       {"help", no_argument, NULL, 'h'},
        {"print-actors", no_argument, NULL, O_PRINT},     {"params", required_argument, NULL, O_PARAMS},
        {"experiments", required_argument, NULL, O_EXPERIMENTS},
        {"metrics", required_argument, NULL, O_METRICS},
        {"token-key", required_argument, NULL, O_TOKEN_KEY}, {"events", required_argument, NULL, O_EVENTS},
        {"request-log", required_argument, NULL, O_REQLOG},
        {"request-log-level", required_argument, NULL, O_REQLOG_LEVEL},
        {"trace-dir", required_argument, NULL, O_TRACE_DIR},
        {"trace-sample-rate", required_argument, NULL, O_TRACE_RATE},
        {"trace-user", required_argument, NULL, O_TRACE_USER},
        {NULL, 0, NULL, 0},
    };
    fmx_cluster_t config;
    fmx_cluster_defaults(&config);
    const char *config_path = NULL, *pidfile = NULL;
    int print_actors = 0, trace_users_from_flags = 0;
    int level = FMX_LOG_INFO;
    /* First pass: the config file, so flags given in any order override it. */
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--config") == 0) config_path = argv[i + 1];
    if (!config_path && access("configs/cluster.yaml", R_OK) == 0) config_path = "configs/cluster.yaml";
    char err[FMX_ERR_LEN];
    if (config_path && fmx_cluster_load(&config, config_path, err) != 0) {
        fprintf(stderr, "feedmix-broker: %s\n", err);
        return 1;
    }
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_CONFIG: break;
        case O_FEEDS: rc = s_copy(config.feeds_dir, sizeof config.feeds_dir, optarg, "--feeds"); break;
        case O_PARAMS: rc = s_copy(config.params_path, sizeof config.params_path, optarg, "--params"); break;
        case O_EXPERIMENTS:
            rc = s_copy(config.experiments_path, sizeof config.experiments_path, optarg, "--experiments");
            break;
        case O_METRICS:
            rc = s_copy(config.metrics_listen, sizeof config.metrics_listen, optarg, "--metrics");
            if (rc == 0 && fmx_cluster_check_metrics(config.metrics_listen, err) != 0) {
                fprintf(stderr, "feedmix-broker: --metrics: %s\n", err);
                rc = -1;
            }
            break;
        case O_FRONTEND: rc = s_copy(config.frontend, sizeof config.frontend, optarg, "--frontend"); break;
        case O_BACKEND: rc = s_copy(config.backend, sizeof config.backend, optarg, "--backend"); break;
        case O_ADMIN: rc = s_copy(config.admin, sizeof config.admin, optarg, "--admin"); break;
        case O_HB: rc = s_uint(optarg, 1, 60000, &config.heartbeat_ms, "--heartbeat-ms"); break;
        case O_MAXREQ: rc = s_uint(optarg, 1, 65535, &config.max_requests, "--max-requests"); break;
        case O_LOG:
            level = fmx_log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr, "feedmix-broker: unknown log level '%s'\n", optarg);
                rc = -1;
            }
            break;
        case O_REQLOG: rc = s_copy(config.request_log, sizeof config.request_log, optarg, "--request-log"); break;
        case O_REQLOG_LEVEL:
            config.request_log_level = fmx_log_level_parse(optarg);
            if (config.request_log_level < 0) {
                fprintf(stderr, "feedmix-broker: unknown --request-log-level '%s'\n", optarg);
                rc = -1;
            }
            break;
        case O_TRACE_DIR: rc = s_copy(config.trace_dir, sizeof config.trace_dir, optarg, "--trace-dir"); break;
        case O_TRACE_RATE: {
            char *end;
            errno = 0;
            config.trace_sample_rate = strtod(optarg, &end);
            if (!*optarg || *end || errno || !(config.trace_sample_rate >= 0.0 && config.trace_sample_rate <= 1.0)) {
                fprintf(stderr, "feedmix-broker: --trace-sample-rate must be a number in 0..1\n");
                rc = -1;
            }
            break;
        }
        case O_TRACE_USER:
            if (trace_users_from_flags++ == 0) config.n_trace_users = 0; /* flags replace the file's list */
            if (config.n_trace_users == FMX_CLUSTER_MAX_TRACE_USERS) {
                fprintf(stderr, "feedmix-broker: at most %d --trace-user\n", FMX_CLUSTER_MAX_TRACE_USERS);
                rc = -1;
                break;
            }
            rc = s_copy(config.trace_users[config.n_trace_users], sizeof config.trace_users[0], optarg, "--trace-user");
            if (rc == 0) config.n_trace_users++;
            break;
        case O_PID: pidfile = optarg; break;
        case O_TOKEN_KEY: rc = s_copy(config.token_key_file, sizeof config.token_key_file, optarg, "--token-key"); break;
        case O_EVENTS: rc = s_copy(config.events_path, sizeof config.events_path, optarg, "--events"); break;
        case O_PRINT: print_actors = 1; break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
        if (rc != 0) return 2;
    }
    if (optind < argc) {
        s_usage(stderr);
        return 2;
    }
    if (print_actors) {
        /* For scripts/up: "TYPE REPLICAS" per line, then the endpoints and store. */
        for (size_t i = 0; i < config.n_actors; i++) printf("actor %s %u\n", config.actors[i].type, config.actors[i].replicas);
        printf("frontend %s\nbackend %s\nadmin %s\nstore %s\nheartbeat_ms %u\nmetrics %s\n", config.frontend,
               config.backend, config.admin, config.store_path, config.heartbeat_ms, config.metrics_listen);
        if (config.token_key_file[0]) printf("token_key %s\n", config.token_key_file);
        return 0;
    }
    fmx_log_init("broker", (fmx_log_level_t)level);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal; /* no SA_RESTART: zmq_poll returns EINTR and the loop sees the flag */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    fmx_broker_t *broker = fmx_broker_new(&config, err);
    if (!broker) {
        fmx_log_error("%s", err);
        return 1;
    }
    if (pidfile) {
        FILE *f = fopen(pidfile, "w");
        if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
            fmx_log_error("cannot write pidfile %s: %s", pidfile, strerror(errno));
            fmx_broker_destroy(&broker);
            return 1;
        }
    }
    int rc = fmx_broker_run(broker, &s_stop, &s_reload);
    fmx_broker_destroy(&broker);
    if (pidfile) unlink(pidfile);
    return rc == 0 ? 0 : 1;
}
