/* seed.c - feedmix-seed: writes the deterministic demo marketplace (data set version 2) into a
 * store, LMDB or Redis, and the linear demo models.
 *
 *   feedmix-seed --out DIR|redis://HOST:PORT[/DB] [--models DIR] [--users N (2000)] [--seed S (1)]
 *                [--force] [--progress] [--quiet]
 *
 * This banner is the contract between the seeder, the nodes, the trainer and the feeds.
 *
 * Values are msgpack. A "ref" is a map {id: str, type: str[, score: float]}. Ids carry a type
 * prefix: accounts (users) u<N>, sellers s<N>, live streams ls<N>, products p<N>, stores st<N>,
 * updates up<N>; numbered from 1. The user record key is numeric: user:<N> (the request's user_id).
 *
 * Entities: entity:{type}:{id} -> map of fields (numeric fields are features)
 *   entity:seller:s<N>       name, geo, category, followers, created_days_ago, is_new (bool)
 *   entity:livestream:ls<N>  seller_id, category, geo, is_live (0/1), viewers, title, started_min_ago,
 *                            quality (0..1). Seller s<N> runs stream ls<N>.
 *   entity:product:p<N>      seller_id, category, price, rating, sales, title
 *   entity:account:u<N>      name, geo, followers (int: users following them), is_seller (0/1); one per
 *                            user; accounts u1..u<sellers> own the sellers s1..s<sellers>
 *   entity:store:st<N>       name, seller_id, category, geo, rating (1..5), orders, delivery_min,
 *                            is_open (0/1); half the sellers run one, in their geo
 *   entity:update:up<N>      kind ("going_live" | "price_drop"), seller_id, title; going_live:
 *                            starts_in_min (1..120); price_drop: product_id, old_price, new_price (the
 *                            product's price), drop_pct (0..1). Going-live updates come first.
 *
 * Per user
 *   user:<N>                        geo, categories (3 str), platform, quiet_start (hour 20..23),
 *                                   quiet_end (hour 6..9), activity (0..1), price_sensitivity (0..1)
 *   user:<N>:follows                refs seller, 5..40, in follow order
 *   user:<N>:follows_live           refs livestream of followed sellers now live, by viewers,
 *                                   score = viewers / max
 *   user:<N>:follows_products       refs product of followed sellers, best 200 by sales, score = sales / max
 *   user:<N>:category_products      refs product, best 100 of the user's 3 categories by sales (merged),
 *                                   score = sales / max
 *   user:<N>:following_accounts     refs account the user follows, 5..40 (fewer only in tiny data sets)
 *   user:<N>:mutuals                refs account: followed accounts that follow back, score 1
 *   user:<N>:recent_interactions    refs account messaged/liked recently, 0..20, mostly mutuals,
 *                                   score = recency weight exp(-days / 7) in (0, 1], best first
 *   user:<N>:upcoming_live          refs update (going_live) of followed sellers, 0..10, soonest first,
 *                                   score = 1 - (starts_in_min - 1) / 121
 *   user:<N>:watched                refs product the user watches, 0..15
 *   user:<N>:price_drops            refs update (price_drop) of watched products, 0..8, score = drop_pct,
 *                                   biggest first
 *   user:<N>:seen                   refs (livestream / product) already seen: about 5 % of
 *                                   follows_live + follows_products
 *   user:<N>:blocked                array of str ids (sellers s<N>, accounts u<N>) blocked, 0..3, never
 *                                   followed ones
 *
 * Per geo / category (lists best first, ties by index)
 *   geo:<G>:trending_live           refs livestream: the geo's top 300 live streams by viewers, score = viewers / max
 *   geo:<G>:new_sellers             refs livestream: live streams of is_new sellers of the geo, best 100 by viewers
 *   geo:<G>:stores                  refs store: the geo's open stores, best 400 by orders, score = orders / max
 *   category:<C>:products           refs product: top 300 by sales, score = sales / max
 *
 * Training data (scripts/train-model)
 *   interactions:meta               {chunks: K, rows: R, positives: P}
 *   interactions:<k>                k = 0..K-1, at most 10000 rows; a row is [user (int N), type (str),
 *                                   id (str), label (0/1)]
 * Rows are impressions: per user, up to 20 (fewer past 200,000 users: 4 million rows in all), half
 * live streams (followed or the geo's trending), half products (of followed sellers or of the user's
 * categories). The label is drawn from a hidden logistic click model, p = sigmoid(z):
 *   livestream  z = -2.0 + 1.3 cat_match + 3.0 (quality - 0.5) + 0.35 (ln(1 + viewers) - 3)
 *                   - 0.004 started_min_ago
 *   product     z = -1.6 + 1.3 cat_match + 1.2 (rating - 3.75) + 0.3 (ln(1 + sales) - 1.5)
 *                   - 1.2 price_sensitivity ln(price / 15)
 *   both        z += 0.15 (ln(1 + seller followers) - 4) + 1.0 (activity - 0.5)
 * where cat_match is 1 when the item's category is one of the user's (tools/seed/gen.c). About 30 %
 * of the rows are positive at 2000 users, ~55 % at 1M (bigger top lists hold more popular items);
 * quality or rating alone already reach an AUC near 0.7, so a trained model beats a constant one.
 *
 * meta:seed                         {users, sellers, seed, version: 2}, written last, in the last
 *                                   transaction: it marks a complete data set.
 *
 * Same seed and user count -> byte-identical store: every random draw comes from one splitmix64
 * stream consumed in a fixed order, every ranking breaks ties by index, and the store is cleared
 * first so a re-seed leaves no stale keys. When the store already holds exactly the data set asked
 * for, it is left alone (readers keep a consistent view when ./scripts/up runs again); --force
 * rewrites it. Popularity (followers, viewers, sales, orders) is Pareto-distributed, so a few
 * sellers draw most of the attention, as in a real marketplace. One seller per 10 users. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fmx.h"
#include "common/store.h"
#include "schemas/mpobj.h"
#include "tools/seed/gen.h"

#define S_VERSION     2
#define S_BATCH       100000             /* puts per write transaction, at most */
#define S_BATCH_BYTES (64u * 1024 * 1024) /* value bytes per write transaction, at most */
#define S_CHUNK_ROWS  10000               /* rows per interactions:<k> */
#define S_DEFAULT_USERS 2000

typedef struct {
    bool on, tty;
    const char *phase;
    size_t done, total;
    uint64_t t0, last_us;
    int last_pct;
    bool drawn;
} s_progress_t;

typedef struct {
    fmx_store_t *store;
    fmx_store_txn_t *txn;
    size_t in_txn, txn_bytes, total;
    uint64_t bytes;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    /* interactions rows of the open chunk */
    msgpack_sbuffer rows_sb;
    msgpack_packer rows_pk;
    size_t chunk_rows, chunks, rows, positives;
    char err[FMX_ERR_LEN];
} s_writer_t;

/* ---- progress: one redrawn line on a tty, a line per 10 % with --progress elsewhere ---- */

static void s_progress_draw(s_progress_t *p, uint64_t now) {
    double secs = (double)(now - p->t0) / 1e6;
    double rate = secs > 0 ? (double)p->done / secs : 0;
    int pct = p->total ? (int)((double)p->done * 100.0 / (double)p->total) : 100;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[30] = '\0';
    fprintf(stderr, "%sfeedmix-seed: %-8s [%s] %3d%% %10zu/%zu  %9.0f/s  %5.1fs%s", p->tty ? "\r" : "", p->phase, bar,
            pct, p->done, p->total, rate, secs, p->tty ? "" : "\n");
    p->drawn = true;
    p->last_us = now;
    p->last_pct = pct;
}

static void s_progress_end(s_progress_t *p) {
    if (!p->on || !p->phase) return;
    if (p->done != p->total || !p->drawn || p->last_pct != 100) s_progress_draw(p, fmx_clock_now_us());
    if (p->tty) fputc('\n', stderr);
    p->phase = NULL;
}

/* Reports done of total in phase; a new phase name ends the previous one. */
static void s_progress(s_progress_t *p, const char *phase, size_t done, size_t total) {
    if (!p->on) return;
    if (!p->phase || strcmp(p->phase, phase) != 0) {
        s_progress_end(p);
        *p = (s_progress_t){.on = true, .tty = p->tty, .phase = phase, .t0 = fmx_clock_now_us(), .last_pct = -1};
    }
    p->done = done;
    p->total = total;
    uint64_t now = fmx_clock_now_us();
    int pct = total ? (int)((double)done * 100.0 / (double)total) : 100;
    if (p->tty ? now - p->last_us >= 100000 : p->last_pct < 0 || pct / 10 != p->last_pct / 10) s_progress_draw(p, now);
}

static void s_gen_progress(void *arg, const char *phase, size_t done, size_t total) {
    s_progress(arg, phase, done, total);
}

/* ---- writer ---- */

/* Stores the packed buffer under key and empties it; commits in big batches. */
static int s_put(s_writer_t *w, const char *key) {
    if (!w->txn) {
        w->txn = fmx_store_write_begin(w->store, w->err);
        if (!w->txn) return -1;
    }
    if (fmx_store_put(w->txn, key, strlen(key), w->sb.data, w->sb.size, w->err) != 0) return -1;
    w->txn_bytes += w->sb.size;
    w->bytes += w->sb.size;
    msgpack_sbuffer_clear(&w->sb);
    w->total++;
    if (++w->in_txn >= S_BATCH || w->txn_bytes >= S_BATCH_BYTES) {
        w->in_txn = 0;
        w->txn_bytes = 0;
        if (fmx_store_commit(&w->txn, w->err) != 0) return -1;
    }
    return 0;
}

static int s_flush(s_writer_t *w) {
    w->in_txn = 0;
    w->txn_bytes = 0;
    if (!w->txn) return 0;
    return fmx_store_commit(&w->txn, w->err);
}

static void s_kv_str(msgpack_packer *pk, const char *k, const char *v) {
    fmx_mp_pack_cstr(pk, k);
    fmx_mp_pack_cstr(pk, v);
}

static void s_kv_int(msgpack_packer *pk, const char *k, int64_t v) {
    fmx_mp_pack_cstr(pk, k);
    msgpack_pack_int64(pk, v);
}

static void s_kv_double(msgpack_packer *pk, const char *k, double v) {
    fmx_mp_pack_cstr(pk, k);
    msgpack_pack_double(pk, v);
}

static void s_kv_bool(msgpack_packer *pk, const char *k, bool v) {
    fmx_mp_pack_cstr(pk, k);
    if (v)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

/* A string literal without strlen. */
#define S_LIT(pk, s) (msgpack_pack_str((pk), sizeof(s) - 1), msgpack_pack_str_body((pk), (s), sizeof(s) - 1))

/* "<prefix><idx + 1>" into buf; returns its length. Hand-rolled: snprintf was a tenth of the
 * run time, and ids are most of what the seeder writes. */
static size_t s_id(char buf[24], uint8_t type, uint32_t idx) {
    const char *prefix = fmx_gen_type_prefixes[type];
    size_t n = 0;
    while (prefix[n]) {
        buf[n] = prefix[n];
        n++;
    }
    char digits[12];
    size_t d = 0;
    for (uint64_t v = (uint64_t)idx + 1; v; v /= 10)
        digits[d++] = (char)('0' + v % 10);
    while (d)
        buf[n++] = digits[--d];
    buf[n] = '\0';
    return n;
}

static void s_pack_id(msgpack_packer *pk, uint8_t type, uint32_t idx) {
    char id[24];
    size_t n = s_id(id, type, idx);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, id, n);
}

static void s_kv_id(msgpack_packer *pk, const char *k, uint8_t type, uint32_t idx) {
    fmx_mp_pack_cstr(pk, k);
    s_pack_id(pk, type, idx);
}

/* {id, type[, score]} */
static void s_ref(msgpack_packer *pk, uint8_t type, uint32_t idx, bool with_score, double score) {
    msgpack_pack_map(pk, with_score ? 3 : 2);
    S_LIT(pk, "id");
    s_pack_id(pk, type, idx);
    S_LIT(pk, "type");
    fmx_mp_pack_cstr(pk, fmx_gen_type_names[type]);
    if (with_score) {
        S_LIT(pk, "score");
        msgpack_pack_double(pk, score);
    }
}

static void s_refs(msgpack_packer *pk, const fmx_gen_ref_t *refs, size_t n, bool with_score) {
    msgpack_pack_array(pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        s_ref(pk, refs[i].type, refs[i].idx, with_score, refs[i].score);
}

static void s_idx_refs(msgpack_packer *pk, uint8_t type, const uint32_t *idx, size_t n, bool with_score, double score) {
    msgpack_pack_array(pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        s_ref(pk, type, idx[i], with_score, score);
}

static int s_put_refs(s_writer_t *w, const fmx_gen_ref_t *refs, size_t n, bool with_score, const char *fmt,
                      const char *arg) {
    char key[96];
    s_refs(&w->pk, refs, n, with_score);
    snprintf(key, sizeof(key), fmt, arg);
    return s_put(w, key);
}

static void s_seller_name(char *buf, size_t cap, const fmx_gen_seller_t *s) {
    snprintf(buf, cap, "%s %s", fmx_gen_adjs[s->adj], fmx_gen_nouns[s->noun]);
}

static void s_product_title(char *buf, size_t cap, const fmx_gen_t *g, const fmx_gen_product_t *p) {
    snprintf(buf, cap, "%s %s %s", fmx_gen_adjs[p->adj], fmx_gen_cats[g->sellers[p->seller].cat],
             fmx_gen_items[p->item]);
}

/* ---- entities ---- */

static int s_write_sellers(s_writer_t *w, const fmx_gen_t *g, s_progress_t *pr, size_t *done, size_t total) {
    char key[64], name[64], buf[128];
    for (size_t i = 0; i < g->n_sellers; i++) {
        const fmx_gen_seller_t *s = &g->sellers[i];
        s_seller_name(name, sizeof(name), s);
        msgpack_pack_map(&w->pk, 6);
        s_kv_str(&w->pk, "name", name);
        s_kv_str(&w->pk, "geo", fmx_gen_geos[s->geo]);
        s_kv_str(&w->pk, "category", fmx_gen_cats[s->cat]);
        s_kv_int(&w->pk, "followers", s->followers);
        s_kv_int(&w->pk, "created_days_ago", s->created_days_ago);
        s_kv_bool(&w->pk, "is_new", s->is_new);
        snprintf(key, sizeof(key), "entity:seller:s%zu", i + 1);
        if (s_put(w, key) != 0) return -1;

        msgpack_pack_map(&w->pk, 8);
        s_kv_id(&w->pk, "seller_id", FMX_GEN_SELLER, (uint32_t)i);
        s_kv_str(&w->pk, "category", fmx_gen_cats[s->cat]);
        s_kv_str(&w->pk, "geo", fmx_gen_geos[s->geo]);
        s_kv_int(&w->pk, "is_live", s->is_live ? 1 : 0);
        s_kv_int(&w->pk, "viewers", s->viewers);
        snprintf(buf, sizeof(buf), "%s live with %s", fmx_gen_cats[s->cat], name);
        s_kv_str(&w->pk, "title", buf);
        s_kv_int(&w->pk, "started_min_ago", s->started_min_ago);
        s_kv_double(&w->pk, "quality", s->quality);
        snprintf(key, sizeof(key), "entity:livestream:ls%zu", i + 1);
        if (s_put(w, key) != 0) return -1;
        s_progress(pr, "entities", ++*done, total);
    }
    return 0;
}

static int s_write_products(s_writer_t *w, const fmx_gen_t *g, s_progress_t *pr, size_t *done, size_t total) {
    char key[64], title[96];
    for (size_t j = 0; j < g->n_products; j++) {
        const fmx_gen_product_t *p = &g->products[j];
        msgpack_pack_map(&w->pk, 6);
        s_kv_id(&w->pk, "seller_id", FMX_GEN_SELLER, p->seller);
        s_kv_str(&w->pk, "category", fmx_gen_cats[g->sellers[p->seller].cat]);
        s_kv_double(&w->pk, "price", p->price);
        s_kv_double(&w->pk, "rating", p->rating);
        s_kv_int(&w->pk, "sales", p->sales);
        s_product_title(title, sizeof(title), g, p);
        s_kv_str(&w->pk, "title", title);
        snprintf(key, sizeof(key), "entity:product:p%zu", j + 1);
        if (s_put(w, key) != 0) return -1;
        s_progress(pr, "entities", ++*done, total);
    }
    return 0;
}

static int s_write_stores(s_writer_t *w, const fmx_gen_t *g, s_progress_t *pr, size_t *done, size_t total) {
    char key[64], name[64], buf[96];
    for (size_t i = 0; i < g->n_stores; i++) {
        const fmx_gen_store_t *st = &g->stores[i];
        const fmx_gen_seller_t *s = &g->sellers[st->seller];
        s_seller_name(name, sizeof(name), s);
        snprintf(buf, sizeof(buf), "%s Store", name);
        msgpack_pack_map(&w->pk, 8);
        s_kv_str(&w->pk, "name", buf);
        s_kv_id(&w->pk, "seller_id", FMX_GEN_SELLER, st->seller);
        s_kv_str(&w->pk, "category", fmx_gen_cats[s->cat]);
        s_kv_str(&w->pk, "geo", fmx_gen_geos[s->geo]);
        s_kv_double(&w->pk, "rating", st->rating);
        s_kv_int(&w->pk, "orders", st->orders);
        s_kv_int(&w->pk, "delivery_min", st->delivery_min);
        s_kv_int(&w->pk, "is_open", st->is_open ? 1 : 0);
        snprintf(key, sizeof(key), "entity:store:st%zu", i + 1);
        if (s_put(w, key) != 0) return -1;
        s_progress(pr, "entities", ++*done, total);
    }
    return 0;
}

static int s_write_updates(s_writer_t *w, const fmx_gen_t *g, s_progress_t *pr, size_t *done, size_t total) {
    char key[64], name[64], buf[160];
    for (size_t i = 0; i < g->n_updates; i++) {
        const fmx_gen_update_t *up = &g->updates[i];
        bool live = up->kind == FMX_GEN_GOING_LIVE;
        msgpack_pack_map(&w->pk, live ? 4 : 7);
        s_kv_str(&w->pk, "kind", live ? "going_live" : "price_drop");
        s_kv_id(&w->pk, "seller_id", FMX_GEN_SELLER, up->seller);
        if (live) {
            s_seller_name(name, sizeof(name), &g->sellers[up->seller]);
            snprintf(buf, sizeof(buf), "%s goes live in %" PRId64 " min", name, up->starts_in_min);
            s_kv_str(&w->pk, "title", buf);
            s_kv_int(&w->pk, "starts_in_min", up->starts_in_min);
        } else {
            s_product_title(name, sizeof(name), g, &g->products[up->product]);
            snprintf(buf, sizeof(buf), "%s: now %.2f, was %.2f", name, up->new_price, up->old_price);
            s_kv_str(&w->pk, "title", buf);
            s_kv_id(&w->pk, "product_id", FMX_GEN_PRODUCT, up->product);
            s_kv_double(&w->pk, "old_price", up->old_price);
            s_kv_double(&w->pk, "new_price", up->new_price);
            s_kv_double(&w->pk, "drop_pct", up->drop_pct);
        }
        snprintf(key, sizeof(key), "entity:update:up%zu", i + 1);
        if (s_put(w, key) != 0) return -1;
        s_progress(pr, "entities", ++*done, total);
    }
    return 0;
}

static int s_write_tops(s_writer_t *w, const fmx_gen_t *g) {
    for (size_t k = 0; k < FMX_GEN_NGEO; k++) {
        const char *geo = fmx_gen_geos[k];
        if (s_put_refs(w, g->trending[k], g->n_trending[k], true, "geo:%s:trending_live", geo) != 0 ||
            s_put_refs(w, g->new_sellers[k], g->n_new_sellers[k], true, "geo:%s:new_sellers", geo) != 0 ||
            s_put_refs(w, g->geo_stores[k], g->n_geo_stores[k], true, "geo:%s:stores", geo) != 0)
            return -1;
    }
    for (size_t c = 0; c < FMX_GEN_NCAT; c++)
        if (s_put_refs(w, g->cat_products[c], g->n_cat_products[c], true, "category:%s:products", fmx_gen_cats[c]) != 0)
            return -1;
    return 0;
}

/* ---- per user ---- */

static int s_put_user_key(s_writer_t *w, size_t uid, const char *suffix) {
    char key[64];
    snprintf(key, sizeof(key), "user:%zu:%s", uid, suffix);
    return s_put(w, key);
}

/* Writes the open interactions chunk. */
static int s_flush_chunk(s_writer_t *w) {
    if (w->chunk_rows == 0) return 0;
    char key[48];
    msgpack_pack_array(&w->pk, (uint32_t)w->chunk_rows);
    msgpack_sbuffer_write(&w->sb, w->rows_sb.data, w->rows_sb.size);
    msgpack_sbuffer_clear(&w->rows_sb);
    snprintf(key, sizeof(key), "interactions:%zu", w->chunks++);
    w->chunk_rows = 0;
    return s_put(w, key);
}

static int s_write_rows(s_writer_t *w, size_t uid, const fmx_gen_lists_t *l) {
    for (size_t i = 0; i < l->n_rows; i++) {
        const fmx_gen_row_t *row = &l->rows[i];
        msgpack_pack_array(&w->rows_pk, 4);
        msgpack_pack_uint64(&w->rows_pk, uid);
        fmx_mp_pack_cstr(&w->rows_pk, fmx_gen_type_names[row->type]);
        s_pack_id(&w->rows_pk, row->type, row->idx);
        msgpack_pack_int(&w->rows_pk, row->label);
        w->rows++;
        w->positives += row->label;
        if (++w->chunk_rows >= S_CHUNK_ROWS && s_flush_chunk(w) != 0) return -1;
    }
    return 0;
}

static int s_write_user(s_writer_t *w, const fmx_gen_t *g, size_t uid, const fmx_gen_lists_t *l) {
    const fmx_gen_user_t *u = &g->users[uid - 1];
    msgpack_packer *pk = &w->pk;
    char key[64], name[64];

    msgpack_pack_map(pk, 7);
    s_kv_str(pk, "geo", fmx_gen_geos[u->geo]);
    fmx_mp_pack_cstr(pk, "categories");
    msgpack_pack_array(pk, 3);
    for (int c = 0; c < 3; c++)
        fmx_mp_pack_cstr(pk, fmx_gen_cats[u->cats[c]]);
    s_kv_str(pk, "platform", fmx_gen_platforms[u->platform]);
    s_kv_int(pk, "quiet_start", u->quiet_start);
    s_kv_int(pk, "quiet_end", u->quiet_end);
    s_kv_double(pk, "activity", u->activity_milli / 1000.0);
    s_kv_double(pk, "price_sensitivity", u->price_sensitivity_milli / 1000.0);
    snprintf(key, sizeof(key), "user:%zu", uid);
    if (s_put(w, key) != 0) return -1;

    msgpack_pack_map(pk, 4);
    snprintf(name, sizeof(name), "%s%s%zu", fmx_gen_adjs[u->adj], fmx_gen_nouns[u->noun], uid);
    s_kv_str(pk, "name", name);
    s_kv_str(pk, "geo", fmx_gen_geos[u->geo]);
    s_kv_int(pk, "followers", u->followers);
    s_kv_int(pk, "is_seller", uid <= g->n_sellers);
    snprintf(key, sizeof(key), "entity:account:u%zu", uid);
    if (s_put(w, key) != 0) return -1;

    s_idx_refs(pk, FMX_GEN_SELLER, l->follows, l->n_follows, false, 0);
    if (s_put_user_key(w, uid, "follows") != 0) return -1;
    s_refs(pk, l->follows_live, l->n_follows_live, true);
    if (s_put_user_key(w, uid, "follows_live") != 0) return -1;
    s_refs(pk, l->follows_products, l->n_follows_products, true);
    if (s_put_user_key(w, uid, "follows_products") != 0) return -1;
    s_refs(pk, l->category_products, l->n_category_products, true);
    if (s_put_user_key(w, uid, "category_products") != 0) return -1;
    s_idx_refs(pk, FMX_GEN_ACCOUNT, l->following, l->n_following, false, 0);
    if (s_put_user_key(w, uid, "following_accounts") != 0) return -1;
    s_idx_refs(pk, FMX_GEN_ACCOUNT, l->mutuals, l->n_mutuals, true, 1.0);
    if (s_put_user_key(w, uid, "mutuals") != 0) return -1;
    s_refs(pk, l->recent, l->n_recent, true);
    if (s_put_user_key(w, uid, "recent_interactions") != 0) return -1;
    s_refs(pk, l->upcoming, l->n_upcoming, true);
    if (s_put_user_key(w, uid, "upcoming_live") != 0) return -1;
    s_idx_refs(pk, FMX_GEN_PRODUCT, l->watched, l->n_watched, false, 0);
    if (s_put_user_key(w, uid, "watched") != 0) return -1;
    s_refs(pk, l->price_drops, l->n_price_drops, true);
    if (s_put_user_key(w, uid, "price_drops") != 0) return -1;
    s_refs(pk, l->seen, l->n_seen, false);
    if (s_put_user_key(w, uid, "seen") != 0) return -1;
    msgpack_pack_array(pk, (uint32_t)l->n_blocked);
    for (size_t i = 0; i < l->n_blocked; i++)
        s_pack_id(pk, l->blocked[i].type, l->blocked[i].idx);
    if (s_put_user_key(w, uid, "blocked") != 0) return -1;
    return s_write_rows(w, uid, l);
}

/* ---- models ---- */

static int s_write_model(const char *dir, const char *name, const char *text) {
    char path[4096], tmp[4096 + 8];
    if (snprintf(path, sizeof(path), "%s/%s.weights", dir, name) >= (int)sizeof(path)) return -1;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0) rc = -1;
    /* rename: an actor loading the model never sees half a file */
    if (rc == 0 && rename(tmp, path) != 0) rc = -1;
    if (rc != 0) remove(tmp);
    return rc;
}

static const struct {
    const char *name, *text;
} s_models[] = {
    {"linear_v1", "# linear_v1: hand-set weights for the feedmix demo marketplace (written by feedmix-seed)\n"
                  "# score = bias + sum(weight * field); missing or non-numeric fields count as 0\n"
                  "bias 0.1\n"
                  "is_live 2.0\n"
                  "viewers 0.002\n"
                  "quality 1.5\n"
                  "started_min_ago -0.001\n"
                  "rating 0.2\n"
                  "sales 0.0005\n"},
    {"linear_v2", "# linear_v2: favours stream quality and fresh streams over raw audience size\n"
                  "bias 0.05\n"
                  "is_live 1.5\n"
                  "viewers 0.0008\n"
                  "quality 3.0\n"
                  "started_min_ago -0.004\n"
                  "followers 0.00002\n"
                  "is_new 0.6\n"
                  "rating 0.35\n"
                  "sales 0.0002\n"},
    {"share_v1", "# share_v1: accounts for the share sheet. `score` is the retrieval score (mutuals 1, recent\n"
                 "# interactions their recency) where the scorer exposes it; then reach, sellers last\n"
                 "bias 0\n"
                 "score 2.0\n"
                 "followers 0.001\n"
                 "is_seller -0.5\n"},
    {"push_v1", "# push_v1: updates worth a notification: big price drops, streams starting soon\n"
                "bias 0.5\n"
                "drop_pct 3.0\n"
                "starts_in_min -0.004\n"},
    {"explore_v1", "# explore_v1: stores: open, well rated, busy, quick to deliver\n"
                   "bias 0\n"
                   "is_open 1.0\n"
                   "rating 0.6\n"
                   "orders 0.0002\n"
                   "delivery_min -0.02\n"},
};

/* ---- meta ---- */

static void s_pack_meta(msgpack_packer *pk, size_t n_users, size_t n_sellers, uint64_t seed) {
    msgpack_pack_map(pk, 4);
    s_kv_int(pk, "users", (int64_t)n_users);
    s_kv_int(pk, "sellers", (int64_t)n_sellers);
    fmx_mp_pack_cstr(pk, "seed");
    msgpack_pack_uint64(pk, seed);
    s_kv_int(pk, "version", S_VERSION);
}

/* 1 when meta:seed says the store already holds this exact data set, 0 when not, -1 on error. */
static int s_already_seeded(s_writer_t *w, size_t n_users, size_t n_sellers, uint64_t seed) {
    fmx_store_txn_t *txn = fmx_store_read_begin(w->store, w->err);
    if (!txn) return -1;
    s_pack_meta(&w->pk, n_users, n_sellers, seed);
    const void *val;
    size_t len;
    int rc = fmx_store_get(txn, "meta:seed", 9, &val, &len, w->err);
    int same = rc == 0 && len == w->sb.size && memcmp(val, w->sb.data, len) == 0;
    fmx_store_txn_end(&txn);
    msgpack_sbuffer_clear(&w->sb);
    return rc < 0 ? -1 : same;
}

static int s_write_all(s_writer_t *w, fmx_gen_t *g, s_progress_t *pr) {
    fmx_gen_lists_t *lists = malloc(sizeof(*lists));
    if (!lists) return fmx_err(w->err, "out of memory");
    int rc = -1;
    w->txn = fmx_store_write_begin(w->store, w->err);
    if (!w->txn || fmx_store_clear(w->txn, w->err) != 0) goto done;

    size_t done = 0, total = 2 * g->n_sellers + g->n_products + g->n_stores + g->n_updates;
    if (s_write_sellers(w, g, pr, &done, total) != 0 || s_write_products(w, g, pr, &done, total) != 0 ||
        s_write_stores(w, g, pr, &done, total) != 0 || s_write_updates(w, g, pr, &done, total) != 0 ||
        s_write_tops(w, g) != 0)
        goto done;
    s_progress(pr, "entities", total, total);
    for (size_t uid = 1; uid <= g->n_users; uid++) {
        fmx_gen_user(g, uid, lists);
        if (s_write_user(w, g, uid, lists) != 0) goto done;
        s_progress(pr, "users", uid, g->n_users);
    }
    if (s_flush_chunk(w) != 0) goto done;
    msgpack_pack_map(&w->pk, 3);
    s_kv_int(&w->pk, "chunks", (int64_t)w->chunks);
    s_kv_int(&w->pk, "rows", (int64_t)w->rows);
    s_kv_int(&w->pk, "positives", (int64_t)w->positives);
    if (s_put(w, "interactions:meta") != 0) goto done;
    s_pack_meta(&w->pk, g->n_users, g->n_sellers, g->seed);
    if (s_put(w, "meta:seed") != 0 || s_flush(w) != 0) goto done;
    s_progress_end(pr);
    rc = 0;
done:
    free(lists);
    return rc;
}

static void s_usage(FILE *f) {
    fprintf(f, "usage: feedmix-seed --out DIR|redis://HOST:PORT[/DB] [--models DIR] [--users N (%d)] [--seed S (1)]\n"
               "                    [--force] [--progress] [--quiet]\n",
            S_DEFAULT_USERS);
}

int main(int argc, char **argv) {
    const char *out = NULL, *models = NULL;
    uint32_t users = S_DEFAULT_USERS;
    uint64_t seed = 1;
    bool force = false, quiet = false, progress = false;
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"models", required_argument, NULL, 'm'},
                                         {"users", required_argument, NULL, 'u'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"progress", no_argument, NULL, 'p'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "o:m:u:s:fpqh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'm': models = optarg; break;
        case 'u':
            if (fmx_parse_u32(optarg, 1, FMX_GEN_MAX_USERS, &users) != 0) {
                fprintf(stderr, "feedmix-seed: --users must be 1..%d\n", FMX_GEN_MAX_USERS);
                return 1;
            }
            break;
        case 's':
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-' || optarg[0] == '\0') {
                fprintf(stderr, "feedmix-seed: --seed must be an unsigned integer\n");
                return 1;
            }
            break;
        case 'f': force = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 1;
        }
    }
    if (!out || optind != argc) {
        s_usage(stderr);
        return 1;
    }

    int rc = 1;
    size_t n_users = (size_t)users;
    uint64_t t0 = fmx_clock_now_us();
    bool tty = isatty(STDERR_FILENO) == 1;
    s_progress_t pr = {.on = !quiet && (progress || tty), .tty = tty};
    fmx_gen_t *gen = NULL;
    s_writer_t w = {0};
    msgpack_sbuffer_init(&w.sb);
    msgpack_packer_init(&w.pk, &w.sb, msgpack_sbuffer_write);
    msgpack_sbuffer_init(&w.rows_sb);
    msgpack_packer_init(&w.rows_pk, &w.rows_sb, msgpack_sbuffer_write);

    /* A URL goes to fmx_store_open as it is; an LMDB map gets ~48 KiB a user of address space
     * (values average ~20 KiB; the map is reserved, not allocated). */
    bool url = strncmp(out, "redis://", 8) == 0;
    size_t map_mb = url ? 0 : 1024 + n_users * 48 / 1024;
    w.store = fmx_store_open(out, 0, map_mb, w.err);
    if (!w.store) goto fail;
    size_t n_sellers = n_users / 10 < 10 ? 10 : n_users / 10;
    if (!force) {
        int same = s_already_seeded(&w, n_users, n_sellers, seed);
        if (same < 0) goto fail;
        if (same) {
            if (!quiet)
                fprintf(stderr,
                        "feedmix-seed: %s already holds this data set (users %zu, seed %" PRIu64 "); --force rewrites\n",
                        out, n_users, seed);
            goto models;
        }
    }
    gen = fmx_gen_new(n_users, seed, pr.on ? s_gen_progress : NULL, &pr, w.err);
    if (!gen) goto fail;
    if (gen->n_sellers != n_sellers) { /* the meta check above must agree with the generator */
        fmx_err(w.err, "internal: seller count mismatch");
        goto fail;
    }
    if (s_write_all(&w, gen, &pr) != 0) goto fail;
    if (!quiet)
        fprintf(stderr,
                "feedmix-seed: wrote %zu keys (%.1f MiB of values) to %s in %.1f s: users %zu, sellers %zu, products %zu, "
                "stores %zu, updates %zu, interactions %zu (%zu positive), seed %" PRIu64 "\n",
                w.total, (double)w.bytes / 1048576.0, out, (double)(fmx_clock_now_us() - t0) / 1e6, n_users,
                gen->n_sellers, gen->n_products, gen->n_stores, gen->n_updates, w.rows, w.positives, seed);
models:
    if (models) {
        if (fmx_mkdir_p(models, w.err) != 0) {
            fprintf(stderr, "feedmix-seed: %s\n", w.err);
            goto done;
        }
        for (size_t i = 0; i < FMX_ARRAY_LEN(s_models); i++) {
            if (s_write_model(models, s_models[i].name, s_models[i].text) != 0) {
                fprintf(stderr, "feedmix-seed: cannot write model %s to %s: %s\n", s_models[i].name, models,
                        strerror(errno));
                goto done;
            }
        }
    }
    rc = 0;
    goto done;
fail:
    if (pr.phase && pr.tty) fputc('\n', stderr);
    fprintf(stderr, "feedmix-seed: %s\n", w.err);
done:
    fmx_store_txn_end(&w.txn);
    fmx_store_close(&w.store);
    fmx_gen_destroy(&gen);
    msgpack_sbuffer_destroy(&w.sb);
    msgpack_sbuffer_destroy(&w.rows_sb);
    return rc;
}
