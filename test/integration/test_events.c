/* test_events.c - attribution end to end: a real broker serves `home`, its items carry tokens the
 * layout actor signed; impressions and clicks sent back with them are acknowledged and land in the
 * events log with the decoded fields; forged, garbage and bit-flipped tokens get `bad_request`;
 * `feedctl report` on that log shows the counts sent. Then a flood of events against a stalled
 * log (a FIFO nobody reads) never stalls feed serving: the overflow is answered `overloaded` at
 * once, and exactly the acknowledged events reach the log. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "schemas/token.h"
#include "test/integration/harness.h"

#define S_USERS 8
#define S_LIMIT 20
#define S_MAX_ITEMS (S_USERS * S_LIMIT)

typedef struct {
    char token[FMX_TOKEN_TEXT_MAX + 1];
    size_t token_len;
    char ranking_id[64], source[64], variant[32], user[16];
    int64_t position;
} s_item_t;

/* What the test sent and expects in the log, in order. */
typedef struct {
    const s_item_t *item;
    bool click;
    char request_id[32];
} s_sent_t;

static s_item_t s_items[S_MAX_ITEMS];
static size_t s_n_items;
static s_sent_t s_sent[2 * S_MAX_ITEMS];
static size_t s_n_sent;

static void s_copy_str(char *dst, size_t cap, const msgpack_object *o) {
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_true(o->via.str.size < cap);
    memcpy(dst, o->via.str.ptr, o->via.str.size);
    dst[o->via.str.size] = '\0';
}

static void s_start(h_t *h, const char *events_arg, const char *config) {
    char experiments[600];
    snprintf(experiments, sizeof experiments, "%s/configs/experiments.yaml", h->source);
    const char *const extra[] = {"--experiments", experiments, "--events", events_arg,
                                 config ? "--config" : NULL, config, NULL};
    assert_true(h_start_broker(h, extra) > 0);
    assert_true(h_start_feed_actors(h, 10000) > 0);
}

/* Serves home to users 1..S_USERS and keeps every item's token and attribution facts. */
static void s_collect(h_client_t *c) {
    s_n_items = 0;
    for (int64_t u = 1; u <= S_USERS; u++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        assert_int_equal(h_pack_map(&sb, "feed", 's', "home", "user_id", 'I', u, H_CTX_US, "limit", 'i', S_LIMIT,
                                    "deadline_ms", 'i', 3000, NULL),
                         0);
        h_reply_t r;
        int rc = h_call_ok(c, sb.data, sb.size, 5000, &r);
        msgpack_sbuffer_destroy(&sb);
        assert_int_equal(rc, 0);
        if (!h_status_is(&r, "ok")) h_print("reply", r.root);
        assert_true(h_status_is(&r, "ok"));
        char rk[64], variant[32];
        s_copy_str(rk, sizeof rk, h_get(r.root, "ranking_id"));
        s_copy_str(variant, sizeof variant, h_get(h_get(r.root, "experiments"), "ranker_test"));
        const msgpack_object *items = h_get(r.root, "items");
        assert_non_null(items);
        assert_true(items->via.array.size > 0 && items->via.array.size <= S_LIMIT);
        for (uint32_t i = 0; i < items->via.array.size; i++) {
            const msgpack_object *it = &items->via.array.ptr[i];
            s_item_t *e = &s_items[s_n_items++];
            s_copy_str(e->token, sizeof e->token, h_get(it, "token"));
            e->token_len = strlen(e->token);
            s_copy_str(e->source, sizeof e->source, h_get(it, "source"));
            snprintf(e->ranking_id, sizeof e->ranking_id, "%s", rk);
            snprintf(e->variant, sizeof e->variant, "%s", variant);
            snprintf(e->user, sizeof e->user, "%lld", (long long)u);
            e->position = h_get_int(it, "position");
            assert_int_equal(e->position, (int64_t)i);
        }
        h_reply_fini(&r);
    }
}

/* {"event", "token", "user_id", "request_id"} -> reply (caller finishes it). */
static void s_event(h_client_t *c, const char *event, const char *token, size_t token_len, const char *user,
                    const char *request_id, h_reply_t *r) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(h_pack_map(&sb, "event", 's', event, "token", 'S', token, token_len, "user_id", 's', user,
                                "request_id", 's', request_id, NULL),
                     0);
    int rc = h_call(c, sb.data, sb.size, 5000, r);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(rc, 0);
}

static void s_expect_ok(h_client_t *c, const s_item_t *it, bool click) {
    s_sent_t *s = &s_sent[s_n_sent];
    snprintf(s->request_id, sizeof s->request_id, "ev-%zu", s_n_sent);
    s->item = it;
    s->click = click;
    s_n_sent++;
    h_reply_t r;
    s_event(c, click ? "click" : "impression", it->token, it->token_len, it->user, s->request_id, &r);
    if (!h_status_is(&r, "ok")) h_print("event reply", r.root);
    assert_true(h_status_is(&r, "ok"));
    assert_true(h_str_eq(h_get(r.root, "request_id"), s->request_id));
    h_reply_fini(&r);
}

static void s_expect_bad(h_client_t *c, const char *token, size_t len, const char *why) {
    h_reply_t r;
    s_event(c, "click", token, len, "1", "bad", &r);
    const msgpack_object *msg = h_get(h_get(r.root, "error"), "message");
    if (!h_error_code_is(&r, "bad_request") || !msg || !memmem(msg->via.str.ptr, msg->via.str.size, why, strlen(why))) {
        h_print("reply", r.root);
        fail_msg("token '%.*s': wanted bad_request saying '%s'", (int)(len < 80 ? len : 80), token, why);
    }
    h_reply_fini(&r);
}

static uint64_t s_counter(h_t *h, const char *name) {
    h_reply_t r;
    assert_int_equal(h_admin(h, "stats", 5000, &r), 0);
    int64_t v = h_get_int(h_get(r.root, "counters"), name);
    h_reply_fini(&r);
    assert_true(v >= 0);
    return (uint64_t)v;
}

static void s_stop_broker(h_t *h) {
    pid_t b = h->broker;
    assert_int_equal(h_kill(b, SIGTERM), 0);
    int status = 0;
    assert_int_equal(h_wait_exit(h, b, 10000, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static char *s_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(4 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (4 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_events_are_attributed_and_reported(void **state) {
    h_t *h = *state;
    char log[256];
    snprintf(log, sizeof log, "%s/events-attr.jsonl", h->dir);
    s_start(h, log, NULL);
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    s_collect(c);
    assert_true(s_n_items >= S_USERS);

    /* Every token verifies with the key the harness gave the layout and names what was served. */
    fmx_token_key_t key;
    char err[FMX_ERR_LEN];
    if (fmx_token_key_load(&key, h->token_key, err) != 0) fail_msg("%s", err);
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 2048));
    bool seen[2] = {false, false};
    for (size_t i = 0; i < s_n_items; i++) {
        fmx_token_t t;
        if (fmx_token_verify(&key, s_items[i].token, s_items[i].token_len, &z, &t, err) != 0) fail_msg("%s", err);
        msgpack_zone_clear(&z);
        assert_true(t.f.ranking_id.len == strlen(s_items[i].ranking_id) &&
                    memcmp(t.f.ranking_id.ptr, s_items[i].ranking_id, t.f.ranking_id.len) == 0);
        assert_true(t.f.feed.len == 4 && memcmp(t.f.feed.ptr, "home", 4) == 0);
        assert_true(t.f.source.len == strlen(s_items[i].source) &&
                    memcmp(t.f.source.ptr, s_items[i].source, t.f.source.len) == 0);
        const char *model = strcmp(s_items[i].variant, "treatment") == 0 ? "linear_v2" : "gbdt_live_v1";
        seen[strcmp(s_items[i].variant, "treatment") == 0] = true;
        assert_true(t.f.model.len == strlen(model) && memcmp(t.f.model.ptr, model, t.f.model.len) == 0);
        assert_int_equal(t.f.depth, 1);
        assert_int_equal(t.f.path[0], s_items[i].position);
        assert_int_equal(t.f.n_variants, 1);
        assert_true(t.f.variants[0].len == strlen(s_items[i].variant));
    }
    assert_true(seen[0] && seen[1]); /* both arms of ranker_test among 8 users */

    /* Impressions for all, clicks for every third item. */
    s_n_sent = 0;
    for (size_t i = 0; i < s_n_items; i++) s_expect_ok(c, &s_items[i], false);
    for (size_t i = 0; i < s_n_items; i += 3) s_expect_ok(c, &s_items[i], true);

    /* Forged, garbage and altered tokens. */
    fmx_token_key_t other;
    assert_int_equal(fmx_token_key_generate(&other, err), 0);
    fmx_token_t t;
    assert_int_equal(fmx_token_verify(&key, s_items[0].token, s_items[0].token_len, &z, &t, err), 0);
    char forged[FMX_TOKEN_TEXT_MAX + 1];
    size_t forged_len;
    assert_int_equal(fmx_token_sign(&other, &t.f, forged, sizeof forged, &forged_len, err), 0);
    msgpack_zone_destroy(&z);
    s_expect_bad(c, forged, forged_len, "signature does not match");
    s_expect_bad(c, "hello", 5, "no \"v2.\" prefix");
    s_expect_bad(c, "v1.rk-x.-.0", 11, "unsigned v1 token");
    char copy[FMX_TOKEN_TEXT_MAX + 1];
    const s_item_t *real = &s_items[1];
    memcpy(copy, real->token, real->token_len + 1);
    copy[6] ^= 0x01; /* a payload character */
    s_expect_bad(c, copy, real->token_len, "bad attribution token");
    memcpy(copy, real->token, real->token_len + 1);
    copy[real->token_len - 2] ^= 0x02; /* a signature character */
    s_expect_bad(c, copy, real->token_len, "bad attribution token");
    s_expect_bad(c, real->token, real->token_len - 1, "expected 22");
    const uint64_t token_rejections = 6;
    /* Too long for the protocol: refused while decoding the request, before any token check. */
    static char huge[FMX_TOKEN_TEXT_MAX + 2];
    memset(huge, 'A', sizeof huge - 1);
    s_expect_bad(c, huge, sizeof huge - 1, "token");

    assert_int_equal(s_counter(h, "events_rejected"), token_rejections);
    assert_int_equal(s_counter(h, "events"), s_n_sent + token_rejections);
    assert_int_equal(s_counter(h, "events_overloaded"), 0);
    /* The writer catches up on its own (fsync interval, the default). */
    int64_t until = h_now_ms() + 5000;
    while (s_counter(h, "events_logged") < s_n_sent && h_now_ms() < until) h_sleep_ms(20);
    assert_int_equal(s_counter(h, "events_logged"), s_n_sent);
    h_client_destroy(&c);
    s_stop_broker(h);

    /* The log holds exactly the acknowledged events, in order, with the decoded fields. */
    char *text = s_slurp(log);
    char *p = text;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (size_t i = 0; i < s_n_sent; i++) {
        const s_sent_t *s = &s_sent[i];
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        const char *model = strcmp(s->item->variant, "treatment") == 0 ? "linear_v2" : "gbdt_live_v1";
        char want[1024];
        snprintf(want, sizeof want,
                 ",\"event\":\"%s\",\"ranking_id\":\"%s\",\"feed\":\"home\",\"source\":\"%s\",\"model\":\"%s\","
                 "\"position\":%lld,\"variants\":{\"ranker_test\":\"%s\"},\"issued\":",
                 s->click ? "click" : "impression", s->item->ranking_id, s->item->source, model,
                 (long long)s->item->position, s->item->variant);
        char tail[128];
        snprintf(tail, sizeof tail, ",\"user_id\":\"%s\",\"request_id\":\"%s\"}", s->item->user, s->request_id);
        if (strncmp(p, "{\"ts\":", 6) != 0 || !strstr(p, want) || strcmp(p + strlen(p) - strlen(tail), tail) != 0)
            fail_msg("line %zu:\n  %s\nwanted:\n  ...%s...%s", i, p, want, tail);
        double ts = strtod(p + 6, NULL);
        long long issued = atoll(strstr(p, "\"issued\":") + 9);
        assert_true(ts <= (double)now.tv_sec + 1 && ts > (double)now.tv_sec - 300);
        assert_true(issued <= (long long)ts + 1 && issued > (long long)ts - 300);
        p = nl + 1;
    }
    assert_int_equal(*p, '\0'); /* nothing else: no rejected event was logged */
    free(text);

    /* feedctl report on that log: the counts sent, per source and per variant. */
    const char *const argv[] = {"feedctl", "report", "--events", log, "--json", NULL};
    int status = 0;
    assert_int_equal(h_run(h, "report-attr", argv, 20000, &status), 0);
    char *out = h_read_log(h, "report-attr");
    assert_non_null(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("feedctl report failed:\n%s", out);
    /* home's top-level items: streams from the two retrievals and its two kinds of carousel. */
    static const char *const sources[] = {"follows", "trending", "you_follow", "trending_in"};
    static const char *const variants[] = {"control", "treatment"};
    enum { N_SOURCES = 4 };
    uint64_t imp_total = 0, clk_total = 0;
    for (int k = 0; k < N_SOURCES + 2; k++) {
        uint64_t imp = 0, clk = 0;
        for (size_t i = 0; i < s_n_sent; i++) {
            const s_item_t *it = s_sent[i].item;
            if (strcmp(k < N_SOURCES ? it->source : it->variant, k < N_SOURCES ? sources[k] : variants[k - N_SOURCES]) != 0)
                continue;
            if (s_sent[i].click)
                clk++;
            else
                imp++;
        }
        if (k < N_SOURCES) {
            imp_total += imp;
            clk_total += clk;
        }
        if (imp == 0) continue; /* a source no served item came from is simply absent */
        char want[256];
        if (k < N_SOURCES)
            snprintf(want, sizeof want, "{\"feed\": \"home\", \"source\": \"%s\", \"impressions\": %llu, \"clicks\": %llu,",
                     sources[k], (unsigned long long)imp, (unsigned long long)clk);
        else
            snprintf(want, sizeof want,
                     "{\"feed\": \"home\", \"experiment\": \"ranker_test\", \"variant\": \"%s\", \"impressions\": %llu, "
                     "\"clicks\": %llu,",
                     variants[k - N_SOURCES], (unsigned long long)imp, (unsigned long long)clk);
        if (!strstr(out, want)) fail_msg("report lacks '%s':\n%s", want, out);
    }
    char totals[128];
    snprintf(totals, sizeof totals, "\"impressions\": %llu,\n  \"clicks\": %llu,", (unsigned long long)imp_total,
             (unsigned long long)clk_total);
    if (!strstr(out, totals) || !strstr(out, "\"malformed\": 0,")) fail_msg("report totals:\n%s", out);
    assert_int_equal(imp_total, s_n_items);
    free(out);
    fmx_token_key_wipe(&key);
    h_pass(h);
}

/* ---- flood ---------------------------------------------------------------------------------- */

#define S_FLOOD 3000
#define S_BATCH 250

static void test_flood_never_stalls_serving(void **state) {
    h_t *h = *state;
    /* The log is a FIFO the test does not read yet: the writer stalls as on a hung disk. */
    char fifo[256], config[256];
    snprintf(fifo, sizeof fifo, "%s/events.fifo", h->dir);
    snprintf(config, sizeof config, "%s/flood.yaml", h->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK); /* opened first, so the broker's open does not wait */
    assert_true(rd >= 0);
    FILE *f = fopen(config, "w");
    assert_non_null(f);
    fprintf(f, "events:\n  fsync: never\n  queue_kb: 16\n");
    assert_int_equal(fclose(f), 0);
    s_start(h, fifo, config);

    h_client_t *req = h_client_new(h, h->front);
    h_client_t *dealer = h_client_new_type(h, h->front, ZMQ_DEALER);
    assert_non_null(req);
    assert_non_null(dealer);
    msgpack_sbuffer feed;
    msgpack_sbuffer_init(&feed);
    assert_int_equal(h_pack_request(&feed, "home", 3, 3000), 0);
    h_reply_t r;
    assert_int_equal(h_call_ok(req, feed.data, feed.size, 5000, &r), 0);
    char token[FMX_TOKEN_TEXT_MAX + 1];
    const msgpack_object *items = h_get(r.root, "items");
    assert_true(items && items->via.array.size > 0);
    s_copy_str(token, sizeof token, h_get(&items->via.array.ptr[0], "token"));
    h_reply_fini(&r);
    msgpack_sbuffer ev;
    msgpack_sbuffer_init(&ev);
    assert_int_equal(h_pack_map(&ev, "event", 's', "impression", "token", 's', token, "user_id", 'i', 3, NULL), 0);

    uint64_t ok = 0, overloaded = 0, other = 0;
    int64_t worst_ms = 0;
    int feeds = 0;
    for (int sent = 0; sent < S_FLOOD; sent += S_BATCH) {
        for (int i = 0; i < S_BATCH; i++) {
            assert_int_equal(zmq_send(dealer->sock, "", 0, ZMQ_SNDMORE), 0);
            assert_true(zmq_send(dealer->sock, ev.data, ev.size, 0) >= 0);
        }
        /* A feed request while the batch is in flight. */
        int64_t t0 = h_now_ms();
        assert_int_equal(h_call_ok(req, feed.data, feed.size, 5000, &r), 0);
        int64_t took = h_now_ms() - t0;
        if (took > worst_ms) worst_ms = took;
        if (getenv("FMX_TEST_VERBOSE")) fprintf(stderr, "feed %d: %lld ms\n", feeds, (long long)took);
        assert_true(h_status_is(&r, "ok") || h_status_is(&r, "degraded"));
        h_reply_fini(&r);
        feeds++;
        /* Every event of the batch is answered. */
        for (int got = 0; got < S_BATCH; got++) {
            zmq_pollitem_t pi = {dealer->sock, 0, ZMQ_POLLIN, 0};
            assert_int_equal(zmq_poll(&pi, 1, 5000), 1);
            zmq_msg_t m[2];
            zmq_msg_init(&m[0]);
            zmq_msg_init(&m[1]);
            assert_int_equal(zmq_msg_recv(&m[0], dealer->sock, 0), 0); /* the empty delimiter */
            assert_true(zmq_msg_recv(&m[1], dealer->sock, 0) > 0);
            msgpack_unpacked up;
            msgpack_unpacked_init(&up);
            size_t off = 0;
            assert_int_equal(msgpack_unpack_next(&up, zmq_msg_data(&m[1]), zmq_msg_size(&m[1]), &off),
                             MSGPACK_UNPACK_SUCCESS);
            const msgpack_object *st = h_get(&up.data, "status");
            const msgpack_object *code = h_get(h_get(&up.data, "error"), "code");
            if (h_str_eq(st, "ok"))
                ok++;
            else if (h_str_eq(st, "error") && h_str_eq(code, "overloaded"))
                overloaded++;
            else
                other++;
            msgpack_unpacked_destroy(&up);
            zmq_msg_close(&m[0]);
            zmq_msg_close(&m[1]);
        }
    }
    msgpack_sbuffer_destroy(&ev);
    msgpack_sbuffer_destroy(&feed);
    fprintf(stderr, "flood: %llu ok, %llu overloaded, %d feeds served, slowest %lld ms\n", (unsigned long long)ok,
            (unsigned long long)overloaded, feeds, (long long)worst_ms);
    assert_int_equal(other, 0);
    assert_int_equal(ok + overloaded, S_FLOOD);
    /* The pipe (64 KB) and the 16 KB queue hold a few hundred lines; the rest was refused. */
    assert_true(ok >= 50 && ok < 1000);
    assert_true(overloaded > 0);
    assert_true(worst_ms < 2000); /* serving never waited for the log (ASan budget) */
    assert_int_equal(s_counter(h, "events_overloaded"), overloaded);

    /* Drain the FIFO: exactly the acknowledged events arrive. */
    uint64_t lines = 0;
    char buf[65536];
    int64_t until = h_now_ms() + 10000, quiet_since = h_now_ms();
    while (h_now_ms() < until) {
        ssize_t n = read(rd, buf, sizeof buf);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++) lines += buf[i] == '\n';
            quiet_since = h_now_ms();
            continue;
        }
        if (lines >= ok && h_now_ms() - quiet_since > 300) break;
        struct pollfd p = {rd, POLLIN, 0};
        poll(&p, 1, 20);
    }
    assert_int_equal(lines, ok);
    h_client_destroy(&req);
    h_client_destroy(&dealer);
    s_stop_broker(h); /* the reader stays open until the broker is gone: its writer may still write */
    close(rd);
    h_pass(h);
}

/* A broker without a key refuses events (internal: its operator's problem, not the client's). */
/* feedctl event: the client tool a person uses to report an engagement by hand. */
static void test_feedctl_event(void **state) {
    h_t *h = *state;
    char log[256];
    snprintf(log, sizeof log, "%s/events-cli.jsonl", h->dir);
    s_start(h, log, NULL);
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    s_collect(c);
    h_client_destroy(&c);
    const char *const good[] = {"feedctl", "event", "click", "--token", s_items[0].token, "--user", "1",
                                "--endpoint", h->front, NULL};
    int status = -1;
    assert_int_equal(h_run(h, "event-good", good, 10000, &status), 0);
    char *out = h_read_log(h, "event-good");
    assert_non_null(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !strstr(out, "\"status\": \"ok\""))
        fail_msg("feedctl event with a served token:\n%s", out);
    free(out);
    char altered[FMX_TOKEN_TEXT_MAX + 1];
    snprintf(altered, sizeof altered, "%s", s_items[0].token);
    altered[6] ^= 0x01;
    const char *const bad[] = {"feedctl", "event", "click", "--token", altered, "--endpoint", h->front, NULL};
    assert_int_equal(h_run(h, "event-bad", bad, 10000, &status), 0);
    out = h_read_log(h, "event-bad");
    assert_non_null(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !strstr(out, "bad attribution token"))
        fail_msg("feedctl event with an altered token:\n%s", out);
    free(out);
    h_pass(h);
}

static void test_no_key_refuses_events(void **state) {
    h_t *h = *state;
    /* --token-key "" overrides the harness's key. */
    const char *const extra[] = {"--token-key", "", "--events", "off", NULL};
    assert_true(h_start_broker(h, extra) > 0);
    h_client_t *c = h_client_new(h, h->front);
    assert_non_null(c);
    h_reply_t r;
    s_event(c, "click", "v2.AA.AAAAAAAAAAAAAAAAAAAAAA", 28, "1", "nokey", &r);
    assert_true(h_error_code_is(&r, "internal"));
    const msgpack_object *msg = h_get(h_get(r.root, "error"), "message");
    assert_non_null(msg);
    assert_non_null(memmem(msg->via.str.ptr, msg->via.str.size, "no token key", 12));
    h_reply_fini(&r);
    h_client_destroy(&c);
    h_pass(h);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_events_are_attributed_and_reported, h_test_teardown),
        cmocka_unit_test_teardown(test_flood_never_stalls_serving, h_test_teardown),
        cmocka_unit_test_teardown(test_feedctl_event, h_test_teardown),
        cmocka_unit_test_teardown(test_no_key_refuses_events, h_test_teardown),
    };
    return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
