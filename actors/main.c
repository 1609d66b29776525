/* feedmix-actor - serves one node type to one or more brokers. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/node.h"
#include "actors/runtime.h"
#include "common/fmx.h"
#include "common/log.h"

static volatile int s_stop;

static void s_on_signal(int sig) {
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *out) {
    fprintf(out, "usage: feedmix-actor --node TYPE --broker EP [--broker EP]... [--store DIR|redis://HOST:PORT[/DB]]\n"
                 "                     [--data DIR]\n"
                 "                     [--capacity N] [--threads N] [--heartbeat-ms N] [--name NAME]\n"
                 "                     [--token-key FILE] [--log-level LEVEL]\n"
                 "                     [--inject delay=MS|hang|spin|crash-after=N|garbage]\n"
                 "node types:");
    for (size_t i = 0; i < fmx_node_type_count(); i++) fprintf(out, " %s", fmx_node_type_at(i)->name);
    fprintf(out, "\n--token-key: the key attribution tokens are signed with (layout needs it).\n"
                 "--inject is for tests and benchmarks only: it makes this actor misbehave on purpose.\n");
}

static int s_uint(const char *s, uint32_t lo, uint32_t hi, uint32_t *out, const char *what) {
    if (fmx_parse_u32(s, lo, hi, out) == 0) return 0;
    fprintf(stderr, "feedmix-actor: %s must be an integer in %u..%u\n", what, lo, hi);
    return -1;
}

int main(int argc, char **argv) {
    enum { O_NODE = 1, O_BROKER, O_STORE, O_DATA, O_CAP, O_THREADS, O_HB, O_NAME, O_LOG, O_INJECT, O_TOKEN_KEY };
    static const struct option opts[] = {
        {"node", required_argument, NULL, O_NODE},       {"broker", required_argument, NULL, O_BROKER},
        {"store", required_argument, NULL, O_STORE},     {"data", required_argument, NULL, O_DATA},
        {"capacity", required_argument, NULL, O_CAP},    {"threads", required_argument, NULL, O_THREADS},
        {"heartbeat-ms", required_argument, NULL, O_HB}, {"name", required_argument, NULL, O_NAME},
        {"log-level", required_argument, NULL, O_LOG},   {"inject", required_argument, NULL, O_INJECT},
        {"token-key", required_argument, NULL, O_TOKEN_KEY},
        {"help", no_argument, NULL, 'h'},                {NULL, 0, NULL, 0},
    };
    fmx_runtime_config_t config;
    fmx_runtime_defaults(&config);
    config.store_path = "var/store";
    int level = FMX_LOG_INFO, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_NODE: config.node_type = optarg; break;
        case O_BROKER:
            if (config.n_brokers == FMX_RUNTIME_MAX_BROKERS) {
                fprintf(stderr, "feedmix-actor: at most %d brokers\n", FMX_RUNTIME_MAX_BROKERS);
                return 2;
            }
            config.brokers[config.n_brokers++] = optarg;
            break;
        case O_STORE: config.store_path = optarg; break;
        case O_DATA: config.data_dir = optarg; break;
        case O_CAP: rc = s_uint(optarg, 1, 1024, &config.capacity, "--capacity"); break;
        case O_THREADS: rc = s_uint(optarg, 1, 64, &config.threads, "--threads"); break;
        case O_HB: rc = s_uint(optarg, 1, 60000, &config.heartbeat_ms, "--heartbeat-ms"); break;
        case O_NAME: config.name = optarg; break;
        case O_TOKEN_KEY: config.token_key_path = optarg; break;
        case O_LOG:
            level = fmx_log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr, "feedmix-actor: unknown log level '%s'\n", optarg);
                rc = -1;
            }
            break;
        case O_INJECT:
            if (fmx_runtime_parse_inject(&config, optarg) != 0) {
                fprintf(stderr, "feedmix-actor: bad --inject '%s'\n", optarg);
                rc = -1;
            }
            break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
        if (rc != 0) return 2;
    }
    if (!config.node_type || config.n_brokers == 0 || optind < argc) {
        s_usage(stderr);
        return 2;
    }
    if (!fmx_node_type_find(config.node_type)) {
        fprintf(stderr, "feedmix-actor: unknown node type '%s'\n", config.node_type);
        s_usage(stderr);
        return 2;
    }
    if (config.capacity < config.threads) config.capacity = config.threads;
    static char role[80];
    snprintf(role, sizeof role, "actor:%s", config.node_type);
    fmx_log_init(role, (fmx_log_level_t)level);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[FMX_ERR_LEN];
    int rc = fmx_runtime_run(&config, &s_stop, err);
    if (rc == 1) _exit(0); /* a stuck worker thread: no orderly teardown is possible */
    if (rc != 0) {
        fmx_log_error("%s", err);
        return 1;
    }
    return 0;
}
