/* seed.c - feedmix-seed: writes the deterministic demo marketplace into an LMDB store.
 *
 *   feedmix-seed --out DIR|redis://HOST:PORT[/DB] [--models DIR] [--users N] [--seed S]
 *
 * --out is an LMDB directory (created) or a Redis URL (common/store.h): the same keys and bytes.
 *
 * Same seed and user count -> byte-identical store content: every random draw comes from one
 * splitmix64 stream consumed in a fixed order, every sort breaks ties by index, and the store is
 * cleared first so a re-seed leaves no stale keys. Key layout: common/store.h.
 *
 *   entity:seller:s<N>       {name, geo, category, followers, created_days_ago, is_new}
 *   entity:livestream:ls<N>  {seller_id, category, geo, is_live, viewers, title, started_min_ago, quality}
 *   entity:product:p<N>      {seller_id, category, price, rating, sales}
 *   user:<N>                 {geo, categories[3], platform}
 *   user:<N>:follows         refs {id: "s12", type: "seller"}
 *   user:<N>:follows_live    refs {id: "ls12", type: "livestream"} of followed sellers now live
 *   geo:<G>:trending_live    top 300 live streams of the geo by viewers, score = viewers / max
 *   category:<C>:products    top 300 products of the category by sales, score = sales / max
 *   meta:seed                {users, sellers, seed, version}
 *
 * meta:seed is written last, in the last transaction: it marks a complete data set. When the
 * store already holds exactly the data set asked for, the store is left alone (readers keep a
 * consistent view when ./scripts/up runs again); --force rewrites it anyway.
 *
 * Users, sellers and products are numbered from 1. Popularity (followers) is Pareto-distributed,
 * so a few sellers draw most follows and most viewers, as in a real marketplace. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fmx.h"
#include "common/store.h"

#define S_VERSION     1
#define S_BATCH       10000     /* puts per write transaction */
#define S_TOP         300       /* refs in trending / category lists */
#define S_MAX_USERS   20000000L /* keeps the map size sane */
#define S_MIN_FOLLOWS 5
#define S_MAX_FOLLOWS 40

static const char *const s_geos[] = {"US", "DE", "FR", "GB", "BR", "JP", "IN", "MX"};
static const char *const s_cats[] = {"fashion", "beauty", "electronics",  "gaming",  "home", "sports",
                                     "toys",    "food",   "collectibles", "jewelry", "art",  "books"};
static const char *const s_platforms[] = {"ios", "android", "web"};
static const char *const s_adjs[] = {"Sunny",  "Golden", "Urban", "Vintage", "Lucky", "Bright", "Cozy",    "Bold",
                                     "Little", "Royal",  "Wild",  "Swift",   "Happy", "Silver", "Crimson", "Misty"};
static const char *const s_nouns[] = {"Threads", "Finds", "Corner", "Market",   "Closet", "Vault", "Studio",   "Shelf",
                                      "Bazaar",  "Attic", "Garage", "Boutique", "Crate",  "Loft",  "Emporium", "Den"};

#define S_NGEO FMX_ARRAY_LEN(s_geos)
#define S_NCAT FMX_ARRAY_LEN(s_cats)

/* splitmix64 (Steele, Lea, Flood): tiny, fast, and good enough for synthetic data. */
typedef struct {
    uint64_t s;
} s_rng_t;

static uint64_t s_rand(s_rng_t *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double s_unit(s_rng_t *r) {
    return (double)(s_rand(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [0, n). */
static uint32_t s_below(s_rng_t *r, uint32_t n) {
    return (uint32_t)(s_unit(r) * n);
}

/* Pareto with minimum 1 and shape alpha: the heavy tail of followers, viewers and sales. */
static double s_pareto(s_rng_t *r, double alpha) {
    return pow(1.0 - s_unit(r), -1.0 / alpha);
}

static double s_round(double x, double scale) {
    return round(x * scale) / scale;
}

typedef struct {
    uint8_t geo, cat;
    int64_t followers;
    int64_t created_days_ago;
    /* its livestream */
    bool is_live;
    int64_t viewers, started_min_ago;
    double quality;
} s_seller_t;

typedef struct {
    uint32_t seller;
    double price, rating;
    int64_t sales;
} s_product_t;

/* Popularity-weighted pick from a set of sellers: cumulative weights + binary search. */
typedef struct {
    uint32_t *idx;
    double *cum;
    size_t n;
} s_pool_t;

typedef struct {
    fmx_store_t *store;
    fmx_store_txn_t *txn;
    size_t in_txn, total;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char err[FMX_ERR_LEN];
} s_writer_t;

/* Stores the packed buffer under key and empties it; commits every S_BATCH puts. */
static int s_put(s_writer_t *w, const char *key) {
    if (!w->txn) {
        w->txn = fmx_store_write_begin(w->store, w->err);
        if (!w->txn) return -1;
    }
    if (fmx_store_put(w->txn, key, strlen(key), w->sb.data, w->sb.size, w->err) != 0) return -1;
    msgpack_sbuffer_clear(&w->sb);
    w->total++;
    if (++w->in_txn >= S_BATCH) {
        w->in_txn = 0;
        if (fmx_store_commit(&w->txn, w->err) != 0) return -1;
    }
    return 0;
}

static int s_flush(s_writer_t *w) {
    w->in_txn = 0;
    if (!w->txn) return 0;
    return fmx_store_commit(&w->txn, w->err);
}

static void s_str(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void s_kv_str(msgpack_packer *pk, const char *k, const char *v) {
    s_str(pk, k);
    s_str(pk, v);
}

static void s_kv_int(msgpack_packer *pk, const char *k, int64_t v) {
    s_str(pk, k);
    msgpack_pack_int64(pk, v);
}

static void s_kv_double(msgpack_packer *pk, const char *k, double v) {
    s_str(pk, k);
    msgpack_pack_double(pk, v);
}

static void s_kv_bool(msgpack_packer *pk, const char *k, bool v) {
    s_str(pk, k);
    if (v)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

/* {id: "<prefix><n>", type: type[, score]} */
static void s_ref(msgpack_packer *pk, const char *prefix, uint64_t n, const char *type, bool with_score, double score) {
    char id[32];
    snprintf(id, sizeof(id), "%s%" PRIu64, prefix, n);
    msgpack_pack_map(pk, with_score ? 3 : 2);
    s_kv_str(pk, "id", id);
    s_kv_str(pk, "type", type);
    if (with_score) s_kv_double(pk, "score", score);
}

static int s_pool_build(s_pool_t *p, const s_seller_t *sellers, size_t n_sellers, int geo, int cat) {
    p->n = 0;
    p->idx = malloc((n_sellers ? n_sellers : 1) * sizeof(*p->idx));
    p->cum = malloc((n_sellers ? n_sellers : 1) * sizeof(*p->cum));
    if (!p->idx || !p->cum) return -1;
    double total = 0;
    for (size_t i = 0; i < n_sellers; i++) {
        if (geo >= 0 && sellers[i].geo != geo) continue;
        if (cat >= 0 && sellers[i].cat != cat) continue;
        total += (double)sellers[i].followers;
        p->idx[p->n] = (uint32_t)i;
        p->cum[p->n] = total;
        p->n++;
    }
    return 0;
}

static void s_pool_free(s_pool_t *p) {
    free(p->idx);
    free(p->cum);
    p->idx = NULL;
    p->cum = NULL;
}

static uint32_t s_pool_pick(const s_pool_t *p, s_rng_t *r) {
    double x = s_unit(r) * p->cum[p->n - 1];
    size_t lo = 0, hi = p->n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return p->idx[lo];
}

/* Sort key for the top lists: value descending, index ascending (deterministic ties). */
typedef struct {
    int64_t v;
    uint32_t idx;
} s_rank_t;

static int s_rank_cmp(const void *a, const void *b) {
    const s_rank_t *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static void s_make_sellers(s_rng_t *r, s_seller_t *sellers, size_t n) {
    for (size_t i = 0; i < n; i++) {
        s_seller_t *s = &sellers[i];
        /* A skewed geo mix: the first geos are bigger markets. */
        double g = s_unit(r);
        s->geo = (uint8_t)(g * g * S_NGEO);
        s->cat = (uint8_t)s_below(r, S_NCAT);
        double f = 40.0 * s_pareto(r, 1.1);
        s->followers = f > 5e6 ? 5000000 : (int64_t)f;
        s->created_days_ago = 1 + s_below(r, 1500);
        s->is_live = s_unit(r) < 0.7;
        double share = 0.02 + 0.18 * s_unit(r);
        s->viewers = s->is_live ? (int64_t)((double)s->followers * share) + s_below(r, 25) : 0;
        s->started_min_ago = s->is_live ? 1 + s_below(r, 240) : 0;
        s->quality = s_round(s_unit(r), 1000.0);
    }
}

static int s_write_sellers(s_writer_t *w, s_rng_t *r, const s_seller_t *sellers, size_t n) {
    char key[96], buf[160];
    for (size_t i = 0; i < n; i++) {
        const s_seller_t *s = &sellers[i];
        const char *adj = s_adjs[s_below(r, FMX_ARRAY_LEN(s_adjs))];
        const char *noun = s_nouns[s_below(r, FMX_ARRAY_LEN(s_nouns))];

        msgpack_pack_map(&w->pk, 6);
        snprintf(buf, sizeof(buf), "%s %s", adj, noun);
        s_kv_str(&w->pk, "name", buf);
        s_kv_str(&w->pk, "geo", s_geos[s->geo]);
        s_kv_str(&w->pk, "category", s_cats[s->cat]);
        s_kv_int(&w->pk, "followers", s->followers);
        s_kv_int(&w->pk, "created_days_ago", s->created_days_ago);
        s_kv_bool(&w->pk, "is_new", s->created_days_ago <= 30);
        snprintf(key, sizeof(key), "entity:seller:s%zu", i + 1);
        if (s_put(w, key) != 0) return -1;

        msgpack_pack_map(&w->pk, 8);
        snprintf(buf, sizeof(buf), "s%zu", i + 1);
        s_kv_str(&w->pk, "seller_id", buf);
        s_kv_str(&w->pk, "category", s_cats[s->cat]);
        s_kv_str(&w->pk, "geo", s_geos[s->geo]);
        s_kv_int(&w->pk, "is_live", s->is_live ? 1 : 0);
        s_kv_int(&w->pk, "viewers", s->viewers);
        snprintf(buf, sizeof(buf), "%s live with %s %s", s_cats[s->cat], adj, noun);
        s_kv_str(&w->pk, "title", buf);
        s_kv_int(&w->pk, "started_min_ago", s->started_min_ago);
        s_kv_double(&w->pk, "quality", s->quality);
        snprintf(key, sizeof(key), "entity:livestream:ls%zu", i + 1);
        if (s_put(w, key) != 0) return -1;
    }
    return 0;
}

static int s_write_products(s_writer_t *w, const s_product_t *products, size_t n, const s_seller_t *sellers) {
    char key[96], buf[32];
    for (size_t j = 0; j < n; j++) {
        const s_product_t *p = &products[j];
        msgpack_pack_map(&w->pk, 5);
        snprintf(buf, sizeof(buf), "s%" PRIu32, p->seller + 1);
        s_kv_str(&w->pk, "seller_id", buf);
        s_kv_str(&w->pk, "category", s_cats[sellers[p->seller].cat]);
        s_kv_double(&w->pk, "price", p->price);
        s_kv_double(&w->pk, "rating", p->rating);
        s_kv_int(&w->pk, "sales", p->sales);
        snprintf(key, sizeof(key), "entity:product:p%zu", j + 1);
        if (s_put(w, key) != 0) return -1;
    }
    return 0;
}

/* One user: profile, follows and follows_live. pools: [0] global, [1..NGEO] per geo,
 * [1+NGEO..] per category. picked is scratch of S_MAX_FOLLOWS. */
static int s_write_user(s_writer_t *w, s_rng_t *r, size_t uid, const s_seller_t *sellers, const s_pool_t *pools,
                        uint32_t *picked) {
    char key[96];
    int geo = (int)(s_unit(r) * s_unit(r) * S_NGEO);
    int cats[3];
    cats[0] = (int)s_below(r, S_NCAT);
    do
        cats[1] = (int)s_below(r, S_NCAT);
    while (cats[1] == cats[0]);
    do
        cats[2] = (int)s_below(r, S_NCAT);
    while (cats[2] == cats[0] || cats[2] == cats[1]);
    const char *platform = s_platforms[s_below(r, FMX_ARRAY_LEN(s_platforms))];

    msgpack_pack_map(&w->pk, 3);
    s_kv_str(&w->pk, "geo", s_geos[geo]);
    s_str(&w->pk, "categories");
    msgpack_pack_array(&w->pk, 3);
    for (int c = 0; c < 3; c++)
        s_str(&w->pk, s_cats[cats[c]]);
    s_kv_str(&w->pk, "platform", platform);
    snprintf(key, sizeof(key), "user:%zu", uid);
    if (s_put(w, key) != 0) return -1;

    /* Skewed to few follows; most from the user's geo and categories, the rest from anywhere,
     * all popularity-weighted. */
    double u = s_unit(r);
    size_t want = S_MIN_FOLLOWS + (size_t)(u * u * (S_MAX_FOLLOWS - S_MIN_FOLLOWS + 1));
    if (want > S_MAX_FOLLOWS) want = S_MAX_FOLLOWS;
    size_t n = 0;
    for (size_t tries = 0; n < want && tries < want * 8; tries++) {
        double k = s_unit(r);
        const s_pool_t *pool = &pools[0];
        if (k < 0.4)
            pool = &pools[1 + geo];
        else if (k < 0.7)
            pool = &pools[1 + S_NGEO + cats[s_below(r, 3)]];
        if (pool->n == 0) pool = &pools[0];
        uint32_t s = s_pool_pick(pool, r);
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = picked[i] == s;
        if (!dup) picked[n++] = s;
    }

    msgpack_pack_array(&w->pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        s_ref(&w->pk, "s", picked[i] + 1u, "seller", false, 0);
    snprintf(key, sizeof(key), "user:%zu:follows", uid);
    if (s_put(w, key) != 0) return -1;

    size_t live = 0;
    for (size_t i = 0; i < n; i++)
        live += sellers[picked[i]].is_live;
    msgpack_pack_array(&w->pk, (uint32_t)live);
    for (size_t i = 0; i < n; i++)
        if (sellers[picked[i]].is_live) s_ref(&w->pk, "ls", picked[i] + 1u, "livestream", false, 0);
    snprintf(key, sizeof(key), "user:%zu:follows_live", uid);
    return s_put(w, key);
}

static int s_write_trending(s_writer_t *w, const s_seller_t *sellers, size_t n_sellers, s_rank_t *scratch) {
    char key[96];
    for (size_t g = 0; g < S_NGEO; g++) {
        size_t n = 0;
        for (size_t i = 0; i < n_sellers; i++)
            if (sellers[i].geo == g && sellers[i].is_live)
                scratch[n++] = (s_rank_t){.v = sellers[i].viewers, .idx = (uint32_t)i};
        qsort(scratch, n, sizeof(*scratch), s_rank_cmp);
        if (n > S_TOP) n = S_TOP;
        double max = n > 0 && scratch[0].v > 0 ? (double)scratch[0].v : 1.0;
        msgpack_pack_array(&w->pk, (uint32_t)n);
        for (size_t i = 0; i < n; i++)
            s_ref(&w->pk, "ls", scratch[i].idx + 1u, "livestream", true, s_round((double)scratch[i].v / max, 1e6));
        snprintf(key, sizeof(key), "geo:%s:trending_live", s_geos[g]);
        if (s_put(w, key) != 0) return -1;
    }
    return 0;
}

static int s_write_category_products(s_writer_t *w, const s_product_t *products, size_t n_products,
                                     const s_seller_t *sellers, s_rank_t *scratch) {
    char key[96];
    for (size_t c = 0; c < S_NCAT; c++) {
        size_t n = 0;
        for (size_t j = 0; j < n_products; j++)
            if (sellers[products[j].seller].cat == c)
                scratch[n++] = (s_rank_t){.v = products[j].sales, .idx = (uint32_t)j};
        qsort(scratch, n, sizeof(*scratch), s_rank_cmp);
        if (n > S_TOP) n = S_TOP;
        double max = n > 0 && scratch[0].v > 0 ? (double)scratch[0].v : 1.0;
        msgpack_pack_array(&w->pk, (uint32_t)n);
        for (size_t i = 0; i < n; i++)
            s_ref(&w->pk, "p", scratch[i].idx + 1u, "product", true, s_round((double)scratch[i].v / max, 1e6));
        snprintf(key, sizeof(key), "category:%s:products", s_cats[c]);
        if (s_put(w, key) != 0) return -1;
    }
    return 0;
}

static int s_mkdirs(const char *path) {
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) return -1;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        buf[i] = saved;
    }
    return 0;
}

static int s_write_model(const char *dir, const char *name, const char *text) {
    char path[4096], tmp[4096 + 8];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) return -1;
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

static const char s_model_v1[] =
    "# linear_v1: hand-set weights for the feedmix demo marketplace (written by feedmix-seed)\n"
    "# score = bias + sum(weight * field); missing or non-numeric fields count as 0\n"
    "bias 0.1\n"
    "is_live 2.0\n"
    "viewers 0.002\n"
    "quality 1.5\n"
    "started_min_ago -0.001\n"
    "rating 0.2\n"
    "sales 0.0005\n";

static const char s_model_v2[] = "# linear_v2: favours stream quality and fresh streams over raw audience size\n"
                                 "bias 0.05\n"
                                 "is_live 1.5\n"
                                 "viewers 0.0008\n"
                                 "quality 3.0\n"
                                 "started_min_ago -0.004\n"
                                 "followers 0.00002\n"
                                 "is_new 0.6\n"
                                 "rating 0.35\n"
                                 "sales 0.0002\n";

static void s_pack_meta(msgpack_packer *pk, size_t n_users, size_t n_sellers, uint64_t seed) {
    msgpack_pack_map(pk, 4);
    s_kv_int(pk, "users", (int64_t)n_users);
    s_kv_int(pk, "sellers", (int64_t)n_sellers);
    s_str(pk, "seed");
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

static void s_usage(FILE *f) {
    fprintf(f, "usage: feedmix-seed --out DIR|redis://HOST:PORT[/DB] [--models DIR] [--users N (1000)] [--seed S (1)]\n"
               "                   [--force]\n");
}

int main(int argc, char **argv) {
    const char *out = NULL, *models = NULL;
    long users = 1000;
    uint64_t seed = 1;
    bool force = false;
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"models", required_argument, NULL, 'm'},
                                         {"users", required_argument, NULL, 'u'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "o:m:u:s:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'm': models = optarg; break;
        case 'u':
            errno = 0;
            users = strtol(optarg, &end, 10);
            if (errno || *end || users < 1 || users > S_MAX_USERS) {
                fprintf(stderr, "feedmix-seed: --users must be 1..%ld\n", S_MAX_USERS);
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
    size_t n_sellers = n_users / 10 < 10 ? 10 : n_users / 10;
    bool progress = n_users >= 100000;
    int last_pct = -1;
    s_rng_t rng = {.s = seed};
    s_seller_t *sellers = calloc(n_sellers, sizeof(*sellers));
    s_product_t *products = NULL;
    s_rank_t *scratch = NULL;
    s_pool_t pools[1 + S_NGEO + S_NCAT];
    memset(pools, 0, sizeof(pools));
    uint32_t picked[S_MAX_FOLLOWS];
    s_writer_t w = {0};
    msgpack_sbuffer_init(&w.sb);
    msgpack_packer_init(&w.pk, &w.sb, msgpack_sbuffer_write);

    if (!sellers) goto oom;
    s_make_sellers(&rng, sellers, n_sellers);

    /* 3..7 products per seller, 5 on average. */
    size_t n_products = 0, cap_products = n_sellers * 7;
    products = calloc(cap_products, sizeof(*products));
    if (!products) goto oom;
    for (size_t i = 0; i < n_sellers; i++) {
        size_t k = 3 + s_below(&rng, 5);
        for (size_t j = 0; j < k; j++) {
            s_product_t *p = &products[n_products++];
            p->seller = (uint32_t)i;
            p->price = s_round(2.0 + 8.0 * s_pareto(&rng, 1.3), 100.0);
            if (p->price > 5000.0) p->price = 5000.0;
            p->rating = s_round(2.5 + 2.5 * s_unit(&rng), 10.0);
            double sales = s_pareto(&rng, 1.2) * (1.0 + (double)sellers[i].followers / 200.0);
            p->sales = sales > 1e7 ? 10000000 : (int64_t)sales;
        }
    }
    scratch = malloc((n_products > n_sellers ? n_products : n_sellers) * sizeof(*scratch));
    if (!scratch) goto oom;
    if (s_pool_build(&pools[0], sellers, n_sellers, -1, -1) != 0) goto oom;
    for (size_t g = 0; g < S_NGEO; g++)
        if (s_pool_build(&pools[1 + g], sellers, n_sellers, (int)g, -1) != 0) goto oom;
    for (size_t k = 0; k < S_NCAT; k++)
        if (s_pool_build(&pools[1 + S_NGEO + k], sellers, n_sellers, -1, (int)k) != 0) goto oom;

    /* ~1.2 KiB of map per user with B-tree overhead; leave ample headroom. */
    size_t map_mb = 256 + n_users * 3 / 1024;
    if (map_mb < 1024) map_mb = 1024;
    w.store = fmx_store_open(out, 0, map_mb, w.err);
    if (!w.store) goto fail;
    if (!force) {
        int same = s_already_seeded(&w, n_users, n_sellers, seed);
        if (same < 0) goto fail;
        if (same) {
            fprintf(stderr,
                    "feedmix-seed: %s already holds this data set (users %zu, seed %" PRIu64 "); --force rewrites\n",
                    out, n_users, seed);
            goto models;
        }
    }
    w.txn = fmx_store_write_begin(w.store, w.err);
    if (!w.txn || fmx_store_clear(w.txn, w.err) != 0) goto fail;

    if (s_write_sellers(&w, &rng, sellers, n_sellers) != 0) goto fail;
    if (s_write_products(&w, products, n_products, sellers) != 0) goto fail;
    if (s_write_trending(&w, sellers, n_sellers, scratch) != 0) goto fail;
    if (s_write_category_products(&w, products, n_products, sellers, scratch) != 0) goto fail;
    for (size_t u = 1; u <= n_users; u++) {
        if (s_write_user(&w, &rng, u, sellers, pools, picked) != 0) goto fail;
        int pct = (int)(u * 100 / n_users);
        if (progress && pct % 5 == 0 && pct != last_pct) {
            fprintf(stderr, "feedmix-seed: users %3d%% (%zu/%zu)\n", pct, u, n_users);
            last_pct = pct;
        }
    }
    s_pack_meta(&w.pk, n_users, n_sellers, seed);
    if (s_put(&w, "meta:seed") != 0 || s_flush(&w) != 0) goto fail;
    fprintf(stderr, "feedmix-seed: wrote %zu keys to %s (users %zu, sellers %zu, products %zu, seed %" PRIu64 ")\n",
            w.total, out, n_users, n_sellers, n_products, seed);
models:
    if (models) {
        if (s_mkdirs(models) != 0 || s_write_model(models, "linear_v1.weights", s_model_v1) != 0 ||
            s_write_model(models, "linear_v2.weights", s_model_v2) != 0) {
            fprintf(stderr, "feedmix-seed: cannot write models to %s: %s\n", models, strerror(errno));
            goto done;
        }
    }
    rc = 0;
    goto done;
oom:
    snprintf(w.err, sizeof(w.err), "out of memory");
fail:
    fprintf(stderr, "feedmix-seed: %s\n", w.err);
done:
    fmx_store_txn_end(&w.txn);
    fmx_store_close(&w.store);
    msgpack_sbuffer_destroy(&w.sb);
    for (size_t i = 0; i < FMX_ARRAY_LEN(pools); i++)
        s_pool_free(&pools[i]);
    free(scratch);
    free(products);
    free(sellers);
    return rc;
}
