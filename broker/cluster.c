#include "broker/cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/store.h"
#include "broker/httpd.h"
#include "common/log.h"

void fmx_cluster_defaults(fmx_cluster_t *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->frontend, sizeof c->frontend, "tcp://127.0.0.1:7400");
    snprintf(c->backend, sizeof c->backend, "tcp://127.0.0.1:7401");
    snprintf(c->admin, sizeof c->admin, "tcp://127.0.0.1:7402");
    snprintf(c->feeds_dir, sizeof c->feeds_dir, "configs/feeds");
    snprintf(c->params_path, sizeof c->params_path, "configs/params.yaml");
    snprintf(c->experiments_path, sizeof c->experiments_path, "configs/experiments.yaml");
    snprintf(c->store_path, sizeof c->store_path, "var/store");
    snprintf(c->metrics_listen, sizeof c->metrics_listen, "off");
    c->heartbeat_ms = 1000;
    c->liveness = 3;
    c->max_requests = 4096;
    c->queue_per_type = 10000;
    c->fallback_cache_mb = 64;
    c->fallback_cache_ttl_s = 300;
    snprintf(c->events_path, sizeof c->events_path, "var/log/events.jsonl");
    c->events_fsync = FMX_FSYNC_INTERVAL;
    c->events_fsync_interval_ms = 1000;
    c->events_queue_kb = 4096;
    snprintf(c->request_log, sizeof c->request_log, "off");
    c->request_log_level = FMX_LOG_INFO;
    snprintf(c->trace_dir, sizeof c->trace_dir, "off");
}

int fmx_cluster_check_metrics(const char *listen, char err[FMX_ERR_LEN]) {
    struct sockaddr_storage addr;
    socklen_t len;
    return strcmp(listen, "off") == 0 ? 0 : fmx_httpd_parse_listen(listen, &addr, &len, err);
}

typedef struct {
    const char *path;
    yaml_document_t *doc;
    char *err;
} s_ctx_t;

static int s_fail(s_ctx_t *x, const yaml_node_t *n, const char *msg, const char *key) {
    return fmx_err(x->err, "%s:%zu:%zu: %s%s%s", x->path, n->start_mark.line + 1, n->start_mark.column + 1, msg,
                   key ? " " : "", key ? key : "");
}

static int s_str(s_ctx_t *x, const yaml_node_t *v, char *out, size_t cap, const char *key) {
    if (v->type != YAML_SCALAR_NODE || v->data.scalar.length == 0 || v->data.scalar.length >= cap)
        return s_fail(x, v, "expected a non-empty string (not too long) for", key);
    memcpy(out, v->data.scalar.value, v->data.scalar.length);
    out[v->data.scalar.length] = '\0';
    return 0;
}

static int s_uint(s_ctx_t *x, const yaml_node_t *v, uint32_t lo, uint32_t hi, uint32_t *out, const char *key) {
    if (v->type == YAML_SCALAR_NODE && fmx_parse_u32((const char *)v->data.scalar.value, lo, hi, out) == 0) return 0;
    char msg[96];
    snprintf(msg, sizeof msg, "expected an integer in %u..%u for", lo, hi);
    return s_fail(x, v, msg, key);
}

static bool s_scalar_is(const yaml_node_t *v, const char *s) {
    return v->type == YAML_SCALAR_NODE && strcmp((const char *)v->data.scalar.value, s) == 0;
}

/* store: { backend: lmdb, path: DIR } (backend optional) or { backend: redis, url: URL }. The
 * result is one string in c->store_path, what the actors' --store takes. */
static int s_store_section(s_ctx_t *x, fmx_cluster_t *c, yaml_node_t *map) {
    if (map->type != YAML_MAPPING_NODE) return s_fail(x, map, "expected a mapping for", "store");
    yaml_node_t *backend = NULL, *path = NULL, *url = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key), *v = yaml_document_get_node(x->doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) return s_fail(x, map, "expected string keys in", "store");
        const char *key = (const char *)k->data.scalar.value;
        yaml_node_t **slot = strcmp(key, "backend") == 0 ? &backend
                             : strcmp(key, "path") == 0  ? &path
                             : strcmp(key, "url") == 0   ? &url
                                                         : NULL;
        if (!slot) return s_fail(x, k, "unknown key in `store` (expected backend, path, url):", key);
        if (*slot) return s_fail(x, k, "duplicate key in `store`:", key);
        *slot = v;
    }
    char value[sizeof c->store_path]; /* c is changed only when the section is valid */
    if (backend && !s_scalar_is(backend, "lmdb") && !s_scalar_is(backend, "redis"))
        return s_fail(x, backend, "expected lmdb or redis for", "backend");
    if (backend && s_scalar_is(backend, "redis")) {
        if (path) return s_fail(x, path, "`path` is for backend lmdb; backend redis takes", "url");
        if (!url) return s_fail(x, backend, "backend redis needs", "url: \"redis://HOST:PORT[/DB]\"");
        if (s_str(x, url, value, sizeof value, "url") != 0) return -1;
        char why[FMX_ERR_LEN];
        if (fmx_store_check_url(value, why) != 0) return s_fail(x, url, why, NULL);
    } else {
        if (url) return s_fail(x, url, "`url` needs", "backend: redis");
        if (!path) return 0; /* the default directory */
        if (s_str(x, path, value, sizeof value, "path") != 0) return -1;
        if (fmx_store_is_redis(value))
            return s_fail(x, path, "a Redis URL is not an LMDB directory; write it as", "backend: redis, url: ...");
    }
    memcpy(c->store_path, value, sizeof value);
    return 0;
}

static int s_rate(s_ctx_t *x, const yaml_node_t *v, double *out, const char *key) {
    if (v->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)v->data.scalar.value;
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (*s && *end == '\0' && errno == 0 && d >= 0.0 && d <= 1.0) {
            *out = d;
            return 0;
        }
    }
    return s_fail(x, v, "expected a number in 0..1 for", key);
}

static int s_trace_users(s_ctx_t *x, fmx_cluster_t *c, const yaml_node_t *v) {
    if (v->type != YAML_SEQUENCE_NODE) return s_fail(x, v, "expected a list of user ids for", "users");
    c->n_trace_users = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *u = yaml_document_get_node(x->doc, *it);
        if (!u) return s_fail(x, v, "expected a list of user ids for", "users");
        if (c->n_trace_users == FMX_CLUSTER_MAX_TRACE_USERS) return s_fail(x, u, "too many traced users", NULL);
        if (s_str(x, u, c->trace_users[c->n_trace_users], sizeof c->trace_users[0], "a traced user") != 0) return -1;
        c->n_trace_users++;
    }
    return 0;
}

static int s_section(s_ctx_t *x, fmx_cluster_t *c, const char *section, yaml_node_t *map) {
    if (strcmp(section, "store") == 0) return s_store_section(x, c, map);
    if (map->type != YAML_MAPPING_NODE) return s_fail(x, map, "expected a mapping for", section);
    /* A trace section turns traces on, into var/traces unless its dir says otherwise. */
    if (strcmp(section, "trace") == 0 && strcmp(c->trace_dir, "off") == 0)
        snprintf(c->trace_dir, sizeof c->trace_dir, "var/traces");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key), *v = yaml_document_get_node(x->doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) return s_fail(x, map, "expected string keys in", section);
        const char *key = (const char *)k->data.scalar.value;
        int rc;
        if (strcmp(section, "actors") == 0) {
            if (c->n_actors == FMX_CLUSTER_MAX_TYPES) return s_fail(x, k, "too many actor types", NULL);
            rc = s_str(x, k, c->actors[c->n_actors].type, sizeof c->actors[0].type, "actor type");
            if (rc == 0) rc = s_uint(x, v, 0, 64, &c->actors[c->n_actors].replicas, key);
            if (rc == 0) c->n_actors++;
        } else if (strcmp(section, "metrics") == 0 && strcmp(key, "listen") == 0) {
            rc = s_str(x, v, c->metrics_listen, sizeof c->metrics_listen, key);
            char why[FMX_ERR_LEN];
            if (rc == 0 && fmx_cluster_check_metrics(c->metrics_listen, why) != 0) rc = s_fail(x, v, why, NULL);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "frontend") == 0) {
            rc = s_str(x, v, c->frontend, sizeof c->frontend, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "backend") == 0) {
            rc = s_str(x, v, c->backend, sizeof c->backend, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "admin") == 0) {
            rc = s_str(x, v, c->admin, sizeof c->admin, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "feeds") == 0) {
            rc = s_str(x, v, c->feeds_dir, sizeof c->feeds_dir, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "params") == 0) {
            rc = s_str(x, v, c->params_path, sizeof c->params_path, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "experiments") == 0) {
            rc = s_str(x, v, c->experiments_path, sizeof c->experiments_path, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "heartbeat_ms") == 0) {
            rc = s_uint(x, v, 1, 60000, &c->heartbeat_ms, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "liveness") == 0) {
            rc = s_uint(x, v, 1, 100, &c->liveness, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "max_requests") == 0) {
            rc = s_uint(x, v, 1, 65535, &c->max_requests, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "fallback_cache_mb") == 0) {
            rc = s_uint(x, v, 0, 65536, &c->fallback_cache_mb, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "fallback_cache_ttl_s") == 0) {
            rc = s_uint(x, v, 1, 86400, &c->fallback_cache_ttl_s, key);
        } else if (strcmp(section, "broker") == 0 && strcmp(key, "queue_per_type") == 0) {
            rc = s_uint(x, v, 1, 1000000, &c->queue_per_type, key);
        } else if (strcmp(section, "tokens") == 0 && strcmp(key, "key_file") == 0) {
            rc = s_str(x, v, c->token_key_file, sizeof c->token_key_file, key);
        } else if (strcmp(section, "events") == 0 && strcmp(key, "path") == 0) {
            rc = s_str(x, v, c->events_path, sizeof c->events_path, key);
        } else if (strcmp(section, "events") == 0 && strcmp(key, "fsync") == 0) {
            rc = v->type == YAML_SCALAR_NODE && fmx_fsync_parse((const char *)v->data.scalar.value, &c->events_fsync) == 0
                     ? 0
                     : s_fail(x, v, "expected always, interval or never for", key);
        } else if (strcmp(section, "events") == 0 && strcmp(key, "fsync_interval_ms") == 0) {
            rc = s_uint(x, v, 1, 3600000, &c->events_fsync_interval_ms, key);
        } else if (strcmp(section, "events") == 0 && strcmp(key, "queue_kb") == 0) {
            rc = s_uint(x, v, 16, 1048576, &c->events_queue_kb, key);
        } else if (strcmp(section, "log") == 0 && strcmp(key, "requests") == 0) {
            rc = s_str(x, v, c->request_log, sizeof c->request_log, key);
        } else if (strcmp(section, "log") == 0 && strcmp(key, "level") == 0) {
            int level = v->type == YAML_SCALAR_NODE ? fmx_log_level_parse((const char *)v->data.scalar.value) : -1;
            rc = level < 0 ? s_fail(x, v, "expected debug, info, warn, error or off for", key) : 0;
            if (rc == 0) c->request_log_level = level;
        } else if (strcmp(section, "trace") == 0 && strcmp(key, "dir") == 0) {
            rc = s_str(x, v, c->trace_dir, sizeof c->trace_dir, key);
        } else if (strcmp(section, "trace") == 0 && strcmp(key, "sample_rate") == 0) {
            rc = s_rate(x, v, &c->trace_sample_rate, key);
        } else if (strcmp(section, "trace") == 0 && strcmp(key, "users") == 0) {
            rc = s_trace_users(x, c, v);
        } else {
            char what[160];
            snprintf(what, sizeof what, "unknown key in `%s`:", section);
            rc = s_fail(x, k, what, key);
        }
        if (rc != 0) return rc;
    }
    return 0;
}

int fmx_cluster_load(fmx_cluster_t *c, const char *path, char err[FMX_ERR_LEN]) {
    FILE *f = fopen(path, "rb");
    if (!f) return fmx_err(err, "%s: cannot open: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = -1;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return fmx_err(err, "%s: cannot initialise the YAML parser", path);
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        fmx_err(err, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                parser.problem ? parser.problem : "YAML syntax error");
        goto out_parser;
    }
    s_ctx_t x = {path, &doc, err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = 0; /* an empty file keeps the defaults */
        goto out_doc;
    }
    if (root->type != YAML_MAPPING_NODE) {
        s_fail(&x, root, "expected a mapping at the top level", NULL);
        goto out_doc;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        const char *key = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        if (strcmp(key, "broker") != 0 && strcmp(key, "store") != 0 && strcmp(key, "actors") != 0 &&
            strcmp(key, "metrics") != 0 && strcmp(key, "tokens") != 0 && strcmp(key, "events") != 0 &&
            strcmp(key, "log") != 0 && strcmp(key, "trace") != 0) {
            s_fail(&x, k ? k : root,
                   "unknown top-level key (expected broker, store, actors, metrics, tokens, events, log, trace):", key);
            goto out_doc;
        }
        if (s_section(&x, c, key, v) != 0) goto out_doc;
    }
    rc = 0;
out_doc:
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}
