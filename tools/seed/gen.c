/* gen.c - the demo marketplace in memory (see gen.h; the key layout and the click model are
 * documented in seed.c's banner). */
#include "tools/seed/gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const fmx_gen_type_names[] = {"seller", "livestream", "product", "account", "store", "update"};
const char *const fmx_gen_type_prefixes[] = {"s", "ls", "p", "u", "st", "up"};
const char *const fmx_gen_geos[FMX_GEN_NGEO] = {"US", "DE", "FR", "GB", "BR", "JP", "IN", "MX"};
const char *const fmx_gen_cats[FMX_GEN_NCAT] = {"fashion", "beauty", "electronics",  "gaming",  "home", "sports",
                                                "toys",    "food",   "collectibles", "jewelry", "art",  "books"};
const char *const fmx_gen_platforms[3] = {"ios", "android", "web"};
const char *const fmx_gen_adjs[16] = {"Sunny",  "Golden", "Urban", "Vintage", "Lucky", "Bright", "Cozy",    "Bold",
                                      "Little", "Royal",  "Wild",  "Swift",   "Happy", "Silver", "Crimson", "Misty"};
const char *const fmx_gen_nouns[16] = {"Threads", "Finds", "Corner", "Market",   "Closet", "Vault", "Studio",   "Shelf",
                                       "Bazaar",  "Attic", "Garage", "Boutique", "Crate",  "Loft",  "Emporium", "Den"};
const char *const fmx_gen_items[8] = {"Bundle", "Set", "Pack", "Edition", "Classic", "Mini", "Pro", "Deluxe"};

#define S_FRIEND_WINDOW 30 /* a "friend" is a same-geo user within this many places */
#define S_PROGRESS_STEP 65536

/* splitmix64 (Steele, Lea, Flood): tiny, fast, and good enough for synthetic data. */
typedef struct {
    uint64_t s;
} s_rng_t;

/* Popularity-weighted pick from a set: cumulative weights + binary search. */
typedef struct {
    uint32_t *idx;
    double *cum;
    size_t n;
} s_pool_t;

/* Seller pools: [0] global, [1..NGEO] per geo, [1+NGEO..] per category. */
#define S_NPOOLS (1 + FMX_GEN_NGEO + FMX_GEN_NCAT)

struct fmx_gen_priv {
    s_rng_t rng;
    s_pool_t pools[S_NPOOLS];
    uint32_t *follow;  /* n_users x FMX_GEN_MAX_FOLLOWS account indexes */
    uint8_t *n_follow; /* per user */
    int64_t cat_sales[FMX_GEN_NCAT][FMX_GEN_TOP]; /* sales of cat_products, for the per-user merge */
};

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

static double s_sigmoid(double z) {
    return 1.0 / (1.0 + exp(-z));
}

/* Refs sort by score descending, then index ascending (deterministic ties). */
static int s_ref_cmp(const void *a, const void *b) {
    const fmx_gen_ref_t *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Sorts refs whose score holds a raw value, keeps the best `keep`, and turns the scores into
 * value / max (1 for the first). Returns the count kept. */
static size_t s_rank(fmx_gen_ref_t *refs, size_t n, size_t keep) {
    qsort(refs, n, sizeof(*refs), s_ref_cmp);
    if (n > keep) n = keep;
    double max = n > 0 && refs[0].score > 0 ? refs[0].score : 1.0;
    for (size_t i = 0; i < n; i++)
        refs[i].score = s_round(refs[i].score / max, 1e6);
    return n;
}

static int s_pool_build(s_pool_t *p, const fmx_gen_seller_t *sellers, size_t n_sellers, int geo, int cat) {
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

/* Index of the first cumulative weight above x. */
static size_t s_cum_search(const double *cum, size_t n, double x) {
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static uint32_t s_pool_pick(const s_pool_t *p, s_rng_t *r) {
    return p->idx[s_cum_search(p->cum, p->n, s_unit(r) * p->cum[p->n - 1])];
}

static void s_progress(fmx_gen_progress_fn *fn, void *arg, const char *phase, size_t done, size_t total) {
    if (fn && (done % S_PROGRESS_STEP == 0 || done == total)) fn(arg, phase, done, total);
}

static void s_make_sellers(fmx_gen_t *g, s_rng_t *r) {
    for (size_t i = 0; i < g->n_sellers; i++) {
        fmx_gen_seller_t *s = &g->sellers[i];
        /* A skewed geo mix: the first geos are bigger markets. */
        double u = s_unit(r);
        s->geo = (uint8_t)(u * u * FMX_GEN_NGEO);
        s->cat = (uint8_t)s_below(r, FMX_GEN_NCAT);
        /* About one seller in eight opened this month: enough for a new-sellers carousel. */
        s->is_new = s_unit(r) < 0.12;
        s->created_days_ago = s->is_new ? 1 + s_below(r, 30) : 31 + s_below(r, 1470);
        double f = 40.0 * s_pareto(r, 1.1) * (s->is_new ? 0.25 : 1.0);
        s->followers = f > 5e6 ? 5000000 : (int64_t)f;
        s->is_live = s_unit(r) < 0.7;
        double share = 0.02 + 0.18 * s_unit(r);
        s->viewers = s->is_live ? (int64_t)((double)s->followers * share) + s_below(r, 25) : 0;
        s->started_min_ago = s->is_live ? 1 + s_below(r, 240) : 0;
        s->quality = s_round(s_unit(r), 1000.0);
        s->adj = (uint8_t)s_below(r, 16);
        s->noun = (uint8_t)s_below(r, 16);
        s->store = -1;
        s->going_live = -1;
    }
}

/* 3..7 products per seller, 5 on average. */
static void s_make_products(fmx_gen_t *g, s_rng_t *r) {
    for (size_t i = 0; i < g->n_sellers; i++) {
        fmx_gen_seller_t *s = &g->sellers[i];
        s->first_product = (uint32_t)g->n_products;
        s->n_products = 3 + s_below(r, FMX_GEN_MAX_SELLER_PRODUCTS - 2);
        for (uint32_t j = 0; j < s->n_products; j++) {
            fmx_gen_product_t *p = &g->products[g->n_products++];
            p->seller = (uint32_t)i;
            p->price = s_round(2.0 + 8.0 * s_pareto(r, 1.3), 100.0);
            if (p->price > 5000.0) p->price = 5000.0;
            p->rating = s_round(2.5 + 2.5 * s_unit(r), 10.0);
            double sales = s_pareto(r, 1.2) * (1.0 + (double)s->followers / 200.0);
            p->sales = sales > 1e7 ? 10000000 : (int64_t)sales;
            p->adj = (uint8_t)s_below(r, 16);
            p->item = (uint8_t)s_below(r, 8);
            p->price_drop = -1;
        }
    }
}

/* Half the sellers run a store in their geo; popular sellers get more orders. */
static void s_make_stores(fmx_gen_t *g, s_rng_t *r) {
    for (size_t i = 0; i < g->n_sellers; i++) {
        if (s_unit(r) >= 0.5) continue;
        fmx_gen_seller_t *s = &g->sellers[i];
        fmx_gen_store_t *st = &g->stores[g->n_stores];
        s->store = (int32_t)g->n_stores++;
        st->seller = (uint32_t)i;
        st->rating = s_round(1.0 + 4.0 * sqrt(s_unit(r)), 10.0);
        double orders = 5.0 * s_pareto(r, 1.2) * (1.0 + (double)s->followers / 500.0);
        st->orders = orders > 1e7 ? 10000000 : (int64_t)orders;
        st->delivery_min = 15 + s_below(r, 76);
        st->is_open = s_unit(r) < 0.8;
    }
}

/* Going-live updates for half the sellers that are not live now (up1.. in seller order), then
 * price drops for 15 % of the products. A drop keeps the product's price as the new price. */
static void s_make_updates(fmx_gen_t *g, s_rng_t *r) {
    for (size_t i = 0; i < g->n_sellers; i++) {
        fmx_gen_seller_t *s = &g->sellers[i];
        if (s->is_live || s_unit(r) >= 0.5) continue;
        fmx_gen_update_t *up = &g->updates[g->n_updates];
        s->going_live = (int32_t)g->n_updates++;
        up->kind = FMX_GEN_GOING_LIVE;
        up->seller = (uint32_t)i;
        up->starts_in_min = 1 + s_below(r, 120);
    }
    for (size_t j = 0; j < g->n_products; j++) {
        fmx_gen_product_t *p = &g->products[j];
        if (s_unit(r) >= 0.15) continue;
        double pct = 0.05 + 0.45 * s_unit(r);
        fmx_gen_update_t *up = &g->updates[g->n_updates];
        p->price_drop = (int32_t)g->n_updates++;
        up->kind = FMX_GEN_PRICE_DROP;
        up->seller = p->seller;
        up->product = (uint32_t)j;
        up->new_price = p->price;
        up->old_price = s_round(p->price / (1.0 - pct), 100.0);
        if (up->old_price <= up->new_price) up->old_price = up->new_price + 0.01;
        up->drop_pct = s_round(1.0 - up->new_price / up->old_price, 1e4);
    }
}

static void s_make_users(fmx_gen_t *g, s_rng_t *r, double *weight) {
    for (size_t u = 0; u < g->n_users; u++) {
        fmx_gen_user_t *p = &g->users[u];
        double x = s_unit(r) * s_unit(r);
        /* the first n_sellers accounts own the sellers (u<N> runs s<N>) and live in their geo */
        p->geo = u < g->n_sellers ? g->sellers[u].geo : (uint8_t)(x * FMX_GEN_NGEO);
        p->cats[0] = (uint8_t)s_below(r, FMX_GEN_NCAT);
        do
            p->cats[1] = (uint8_t)s_below(r, FMX_GEN_NCAT);
        while (p->cats[1] == p->cats[0]);
        do
            p->cats[2] = (uint8_t)s_below(r, FMX_GEN_NCAT);
        while (p->cats[2] == p->cats[0] || p->cats[2] == p->cats[1]);
        p->platform = (uint8_t)s_below(r, 3);
        p->quiet_start = (uint8_t)(20 + s_below(r, 4));
        p->quiet_end = (uint8_t)(6 + s_below(r, 4));
        p->activity_milli = (uint16_t)s_below(r, 1001);
        p->price_sensitivity_milli = (uint16_t)s_below(r, 1001);
        p->adj = (uint8_t)s_below(r, 16);
        p->noun = (uint8_t)s_below(r, 16);
        /* how many people want to follow this account: heavy-tailed, sellers more */
        double w = s_pareto(r, 1.2) * (u < g->n_sellers ? 4.0 : 1.0);
        weight[u] = w > 1e4 ? 1e4 : w;
    }
}

/* a follows b, unless a == b, a is full or already does. true when added. */
static bool s_follow(fmx_gen_priv_t *pv, uint32_t a, uint32_t b) {
    if (a == b || pv->n_follow[a] >= FMX_GEN_MAX_FOLLOWS) return false;
    uint32_t *slots = &pv->follow[(size_t)a * FMX_GEN_MAX_FOLLOWS];
    for (size_t i = 0; i < pv->n_follow[a]; i++)
        if (slots[i] == b) return false;
    slots[pv->n_follow[a]++] = b;
    return true;
}

static bool s_follows(const fmx_gen_priv_t *pv, uint32_t a, uint32_t b) {
    const uint32_t *slots = &pv->follow[(size_t)a * FMX_GEN_MAX_FOLLOWS];
    for (size_t i = 0; i < pv->n_follow[a]; i++)
        if (slots[i] == b) return true;
    return false;
}

/* The account graph. Each user follows 5..40 accounts (skewed low): 55 % "friends" (same geo,
 * nearby in user order) who follow back 60 % of the time, the rest popularity-weighted accounts
 * that rarely follow back (5 %). Reciprocal follows count towards the follower's 40. */
static int s_make_graph(fmx_gen_t *g, s_rng_t *r, const double *weight, fmx_gen_progress_fn *progress, void *arg) {
    fmx_gen_priv_t *pv = g->priv;
    size_t n = g->n_users;
    int rc = -1;
    double *cum = malloc(n * sizeof(*cum));
    uint32_t *by_geo = malloc(n * sizeof(*by_geo));
    uint32_t *pos = malloc(n * sizeof(*pos));
    size_t geo_start[FMX_GEN_NGEO + 1] = {0}, fill[FMX_GEN_NGEO];
    pv->follow = malloc(n * FMX_GEN_MAX_FOLLOWS * sizeof(*pv->follow));
    pv->n_follow = calloc(n, 1);
    if (!cum || !by_geo || !pos || !pv->follow || !pv->n_follow) goto done;

    double total = 0;
    for (size_t u = 0; u < n; u++) {
        total += weight[u];
        cum[u] = total;
        geo_start[g->users[u].geo + 1]++;
    }
    for (size_t k = 0; k < FMX_GEN_NGEO; k++) {
        geo_start[k + 1] += geo_start[k];
        fill[k] = geo_start[k];
    }
    for (size_t u = 0; u < n; u++) {
        size_t k = g->users[u].geo;
        pos[u] = (uint32_t)(fill[k] - geo_start[k]);
        by_geo[fill[k]++] = (uint32_t)u;
    }

    for (size_t a = 0; a < n; a++) {
        double x = s_unit(r);
        size_t want = FMX_GEN_MIN_FOLLOWS + (size_t)(x * x * x * (FMX_GEN_MAX_FOLLOWS - FMX_GEN_MIN_FOLLOWS + 1));
        if (want > FMX_GEN_MAX_FOLLOWS) want = FMX_GEN_MAX_FOLLOWS;
        size_t k = g->users[a].geo, geo_n = geo_start[k + 1] - geo_start[k];
        for (size_t tries = 0; pv->n_follow[a] < want && tries < want * 8; tries++) {
            bool friend = geo_n > 1 && s_unit(r) < 0.55;
            uint32_t b;
            if (friend) {
                size_t off = 1 + s_below(r, S_FRIEND_WINDOW);
                size_t p = s_unit(r) < 0.5 ? pos[a] + off : pos[a] + geo_n * S_FRIEND_WINDOW - off;
                b = by_geo[geo_start[k] + p % geo_n];
            } else {
                b = (uint32_t)s_cum_search(cum, n, s_unit(r) * total);
            }
            if (!s_follow(pv, (uint32_t)a, b)) continue;
            if (s_unit(r) < (friend ? 0.6 : 0.05)) s_follow(pv, b, (uint32_t)a);
        }
        s_progress(progress, arg, "graph", a + 1, n);
    }
    for (size_t a = 0; a < n; a++)
        for (size_t i = 0; i < pv->n_follow[a]; i++)
            g->users[pv->follow[a * FMX_GEN_MAX_FOLLOWS + i]].followers++;
    rc = 0;
done:
    free(cum);
    free(by_geo);
    free(pos);
    return rc;
}

/* The per geo / category top lists. scratch holds max(n_sellers, n_products, n_stores) refs. */
static void s_make_tops(fmx_gen_t *g, fmx_gen_ref_t *scratch) {
    for (size_t k = 0; k < FMX_GEN_NGEO; k++) {
        size_t n = 0;
        for (size_t i = 0; i < g->n_sellers; i++)
            if (g->sellers[i].geo == k && g->sellers[i].is_live)
                scratch[n++] = (fmx_gen_ref_t){FMX_GEN_LIVESTREAM, (uint32_t)i, (double)g->sellers[i].viewers};
        n = s_rank(scratch, n, FMX_GEN_TOP);
        memcpy(g->trending[k], scratch, n * sizeof(*scratch));
        g->n_trending[k] = n;

        n = 0;
        for (size_t i = 0; i < g->n_sellers; i++)
            if (g->sellers[i].geo == k && g->sellers[i].is_live && g->sellers[i].is_new)
                scratch[n++] = (fmx_gen_ref_t){FMX_GEN_LIVESTREAM, (uint32_t)i, (double)g->sellers[i].viewers};
        n = s_rank(scratch, n, FMX_GEN_TOP_NEW);
        memcpy(g->new_sellers[k], scratch, n * sizeof(*scratch));
        g->n_new_sellers[k] = n;

        n = 0;
        for (size_t i = 0; i < g->n_stores; i++) {
            const fmx_gen_store_t *st = &g->stores[i];
            if (st->is_open && g->sellers[st->seller].geo == k)
                scratch[n++] = (fmx_gen_ref_t){FMX_GEN_STORE, (uint32_t)i, (double)st->orders};
        }
        n = s_rank(scratch, n, FMX_GEN_TOP_STORES);
        memcpy(g->geo_stores[k], scratch, n * sizeof(*scratch));
        g->n_geo_stores[k] = n;
    }
    for (size_t c = 0; c < FMX_GEN_NCAT; c++) {
        size_t n = 0;
        for (size_t j = 0; j < g->n_products; j++)
            if (g->sellers[g->products[j].seller].cat == c)
                scratch[n++] = (fmx_gen_ref_t){FMX_GEN_PRODUCT, (uint32_t)j, (double)g->products[j].sales};
        n = s_rank(scratch, n, FMX_GEN_TOP);
        memcpy(g->cat_products[c], scratch, n * sizeof(*scratch));
        g->n_cat_products[c] = n;
        for (size_t i = 0; i < n; i++)
            g->priv->cat_sales[c][i] = g->products[scratch[i].idx].sales;
    }
}

fmx_gen_t *fmx_gen_new(size_t n_users, uint64_t seed, fmx_gen_progress_fn *progress, void *arg,
                       char err[FMX_ERR_LEN]) {
    if (n_users < 1 || n_users > FMX_GEN_MAX_USERS) {
        fmx_err(err, "users must be 1..%d", FMX_GEN_MAX_USERS);
        return NULL;
    }
    double *weight = NULL;
    fmx_gen_ref_t *scratch = NULL;
    fmx_gen_t *self = calloc(1, sizeof(*self));
    if (!self) goto oom;
    self->priv = calloc(1, sizeof(*self->priv));
    if (!self->priv) goto oom;
    s_rng_t *r = &self->priv->rng;
    r->s = seed;
    self->seed = seed;
    self->n_users = n_users;
    self->n_sellers = n_users / 10 < 10 ? 10 : n_users / 10;
    self->rows_per_user = FMX_GEN_ROWS_CAP / n_users;
    if (self->rows_per_user > FMX_GEN_MAX_ROWS) self->rows_per_user = FMX_GEN_MAX_ROWS;
    if (self->rows_per_user < 1) self->rows_per_user = 1;
    size_t max_products = self->n_sellers * FMX_GEN_MAX_SELLER_PRODUCTS;
    self->sellers = calloc(self->n_sellers, sizeof(*self->sellers));
    self->products = calloc(max_products, sizeof(*self->products));
    self->stores = calloc(self->n_sellers, sizeof(*self->stores));
    self->updates = calloc(self->n_sellers + max_products, sizeof(*self->updates));
    self->users = calloc(n_users, sizeof(*self->users));
    weight = malloc(n_users * sizeof(*weight));
    scratch = malloc(max_products * sizeof(*scratch)); /* products outnumber sellers and stores */
    if (!self->sellers || !self->products || !self->stores || !self->updates || !self->users || !weight || !scratch)
        goto oom;

    s_make_sellers(self, r);
    s_make_products(self, r);
    s_make_stores(self, r);
    s_make_updates(self, r);
    s_make_users(self, r, weight);
    if (s_make_graph(self, r, weight, progress, arg) != 0) goto oom;
    s_make_tops(self, scratch);

    s_pool_t *pools = self->priv->pools;
    if (s_pool_build(&pools[0], self->sellers, self->n_sellers, -1, -1) != 0) goto oom;
    for (int k = 0; k < FMX_GEN_NGEO; k++)
        if (s_pool_build(&pools[1 + k], self->sellers, self->n_sellers, k, -1) != 0) goto oom;
    for (int c = 0; c < FMX_GEN_NCAT; c++)
        if (s_pool_build(&pools[1 + FMX_GEN_NGEO + c], self->sellers, self->n_sellers, -1, c) != 0) goto oom;
    free(weight);
    free(scratch);
    return self;
oom:
    fmx_err(err, "out of memory for %zu users", n_users);
    free(weight);
    free(scratch);
    fmx_gen_destroy(&self);
    return NULL;
}

void fmx_gen_destroy(fmx_gen_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_gen_t *self = *self_p;
    if (self->priv) {
        for (size_t i = 0; i < S_NPOOLS; i++)
            s_pool_free(&self->priv->pools[i]);
        free(self->priv->follow);
        free(self->priv->n_follow);
        free(self->priv);
    }
    free(self->sellers);
    free(self->products);
    free(self->stores);
    free(self->updates);
    free(self->users);
    free(self);
    *self_p = NULL;
}

static bool s_has_cat(const fmx_gen_user_t *u, uint8_t cat) {
    return u->cats[0] == cat || u->cats[1] == cat || u->cats[2] == cat;
}

/* The hidden click model (documented in seed.c's banner). */
double fmx_gen_click_prob(const fmx_gen_t *self, size_t uid, uint8_t type, uint32_t idx) {
    const fmx_gen_user_t *u = &self->users[uid - 1];
    double activity = u->activity_milli / 1000.0, sensitivity = u->price_sensitivity_milli / 1000.0;
    double z;
    if (type == FMX_GEN_LIVESTREAM) {
        const fmx_gen_seller_t *s = &self->sellers[idx];
        z = -2.0 + 1.3 * s_has_cat(u, s->cat) + 3.0 * (s->quality - 0.5) + 0.35 * (log1p((double)s->viewers) - 3.0) -
            0.004 * (double)s->started_min_ago;
    } else {
        const fmx_gen_product_t *p = &self->products[idx];
        const fmx_gen_seller_t *s = &self->sellers[p->seller];
        z = -1.6 + 1.3 * s_has_cat(u, s->cat) + 1.2 * (p->rating - 3.75) + 0.3 * (log1p((double)p->sales) - 1.5) -
            1.2 * sensitivity * log(p->price / 15.0);
    }
    const fmx_gen_seller_t *s = &self->sellers[type == FMX_GEN_LIVESTREAM ? idx : self->products[idx].seller];
    z += 0.15 * (log1p((double)s->followers) - 4.0) + 1.0 * (activity - 0.5);
    return s_sigmoid(z);
}

static bool s_in(const uint32_t *v, size_t n, uint32_t x) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return true;
    return false;
}

static bool s_in_refs(const fmx_gen_ref_t *v, size_t n, uint8_t type, uint32_t x) {
    for (size_t i = 0; i < n; i++)
        if (v[i].type == type && v[i].idx == x) return true;
    return false;
}

/* Sellers the user follows: 40 % from the user's geo, 30 % from their categories, the rest from
 * anywhere, all popularity-weighted; 5..40, skewed to few. */
static void s_user_follows(fmx_gen_t *g, s_rng_t *r, const fmx_gen_user_t *u, fmx_gen_lists_t *out) {
    const s_pool_t *pools = g->priv->pools;
    double x = s_unit(r);
    size_t want = FMX_GEN_MIN_FOLLOWS + (size_t)(x * x * (FMX_GEN_MAX_FOLLOWS - FMX_GEN_MIN_FOLLOWS + 1));
    if (want > FMX_GEN_MAX_FOLLOWS) want = FMX_GEN_MAX_FOLLOWS;
    out->n_follows = 0;
    for (size_t tries = 0; out->n_follows < want && tries < want * 8; tries++) {
        double k = s_unit(r);
        const s_pool_t *pool = &pools[0];
        if (k < 0.4)
            pool = &pools[1 + u->geo];
        else if (k < 0.7)
            pool = &pools[1 + FMX_GEN_NGEO + u->cats[s_below(r, 3)]];
        if (pool->n == 0) pool = &pools[0];
        uint32_t s = s_pool_pick(pool, r);
        if (!s_in(out->follows, out->n_follows, s)) out->follows[out->n_follows++] = s;
    }
}

/* The three category lists merged by sales (they are disjoint: a product has one category). */
static void s_user_category_products(const fmx_gen_t *g, const fmx_gen_user_t *u, fmx_gen_lists_t *out) {
    const fmx_gen_priv_t *pv = g->priv;
    size_t at[3] = {0, 0, 0};
    out->n_category_products = 0;
    while (out->n_category_products < FMX_GEN_TOP_USER_PRODUCTS) {
        int best = -1;
        for (int c = 0; c < 3; c++) {
            if (at[c] >= g->n_cat_products[u->cats[c]]) continue;
            if (best < 0) {
                best = c;
                continue;
            }
            int64_t sx = pv->cat_sales[u->cats[c]][at[c]], sy = pv->cat_sales[u->cats[best]][at[best]];
            if (sx > sy ||
                (sx == sy && g->cat_products[u->cats[c]][at[c]].idx < g->cat_products[u->cats[best]][at[best]].idx))
                best = c;
        }
        if (best < 0) break;
        fmx_gen_ref_t ref = g->cat_products[u->cats[best]][at[best]];
        ref.score = (double)pv->cat_sales[u->cats[best]][at[best]++];
        out->category_products[out->n_category_products++] = ref;
    }
    double max = out->n_category_products > 0 && out->category_products[0].score > 0
                     ? out->category_products[0].score
                     : 1.0;
    for (size_t i = 0; i < out->n_category_products; i++)
        out->category_products[i].score = s_round(out->category_products[i].score / max, 1e6);
}

/* Accounts: following, mutuals, and the recent interactions (mostly with mutuals). */
static void s_user_accounts(fmx_gen_t *g, s_rng_t *r, size_t a, const fmx_gen_user_t *u, fmx_gen_lists_t *out) {
    const fmx_gen_priv_t *pv = g->priv;
    out->following = &pv->follow[a * FMX_GEN_MAX_FOLLOWS];
    out->n_following = pv->n_follow[a];
    out->n_mutuals = 0;
    for (size_t i = 0; i < out->n_following; i++)
        if (s_follows(pv, out->following[i], (uint32_t)a)) out->mutuals[out->n_mutuals++] = out->following[i];

    size_t limit = out->n_following < FMX_GEN_MAX_RECENT ? out->n_following : FMX_GEN_MAX_RECENT;
    size_t want = (size_t)(u->activity_milli / 1000.0 * (double)limit + 0.5);
    out->n_recent = 0;
    for (size_t i = 0; i < out->n_following && out->n_recent < want; i++) {
        uint32_t b = out->following[i];
        if (s_unit(r) >= (s_in(out->mutuals, out->n_mutuals, b) ? 0.8 : 0.3)) continue;
        double days = 30.0 * s_unit(r);
        out->recent[out->n_recent++] = (fmx_gen_ref_t){FMX_GEN_ACCOUNT, b, s_round(exp(-days / 7.0), 1e4)};
    }
    qsort(out->recent, out->n_recent, sizeof(*out->recent), s_ref_cmp);
}

/* Watched products (from followed sellers, the user's categories, or anything on sale) and the
 * price drops among them, biggest drop first. */
static void s_user_watched(fmx_gen_t *g, s_rng_t *r, fmx_gen_lists_t *out) {
    size_t want = s_below(r, FMX_GEN_MAX_WATCHED + 1);
    out->n_watched = 0;
    for (size_t tries = 0; out->n_watched < want && tries < want * 4; tries++) {
        double k = s_unit(r);
        uint32_t p;
        if (k < 0.4 && out->n_follows > 0) {
            const fmx_gen_seller_t *s = &g->sellers[out->follows[s_below(r, (uint32_t)out->n_follows)]];
            p = s->first_product + s_below(r, s->n_products);
        } else if (k < 0.8 && out->n_category_products > 0) {
            p = out->category_products[s_below(r, (uint32_t)out->n_category_products)].idx;
        } else {
            if (g->n_updates == 0) continue;
            const fmx_gen_update_t *up = &g->updates[s_below(r, (uint32_t)g->n_updates)];
            if (up->kind != FMX_GEN_PRICE_DROP) continue;
            p = up->product;
        }
        if (!s_in(out->watched, out->n_watched, p)) out->watched[out->n_watched++] = p;
    }
    size_t n = 0;
    for (size_t i = 0; i < out->n_watched; i++) {
        int32_t d = g->products[out->watched[i]].price_drop;
        if (d >= 0) out->scratch[n++] = (fmx_gen_ref_t){FMX_GEN_UPDATE, (uint32_t)d, g->updates[d].drop_pct};
    }
    qsort(out->scratch, n, sizeof(*out->scratch), s_ref_cmp);
    out->n_price_drops = n < FMX_GEN_MAX_PRICE_DROPS ? n : FMX_GEN_MAX_PRICE_DROPS;
    memcpy(out->price_drops, out->scratch, out->n_price_drops * sizeof(*out->scratch));
}

/* 0..3 blocked sellers or accounts, never one the user follows. */
static void s_user_blocked(fmx_gen_t *g, s_rng_t *r, size_t a, fmx_gen_lists_t *out) {
    size_t want = s_unit(r) < 0.75 ? 0 : 1 + s_below(r, FMX_GEN_MAX_BLOCKED);
    out->n_blocked = 0;
    for (size_t tries = 0; out->n_blocked < want && tries < want * 4; tries++) {
        bool seller = s_unit(r) < 0.5;
        uint32_t x = s_below(r, (uint32_t)(seller ? g->n_sellers : g->n_users));
        uint8_t type = seller ? FMX_GEN_SELLER : FMX_GEN_ACCOUNT;
        if (seller ? s_in(out->follows, out->n_follows, x) : (x == a || s_in(out->following, out->n_following, x)))
            continue;
        if (s_in_refs(out->blocked, out->n_blocked, type, x)) continue;
        out->blocked[out->n_blocked++] = (fmx_gen_ref_t){type, x, 0};
    }
}

/* Impressions: half streams (followed ones or the geo's trending), half products (of followed
 * sellers or of the user's categories), each labelled by the click model. */
static void s_user_rows(fmx_gen_t *g, s_rng_t *r, size_t uid, const fmx_gen_user_t *u, fmx_gen_lists_t *out) {
    out->n_rows = 0;
    for (size_t i = 0; i < g->rows_per_user; i++) {
        const fmx_gen_ref_t *from;
        size_t n;
        bool live = s_unit(r) < 0.5;
        bool own = s_unit(r) < 0.4;
        if (live && own && out->n_follows_live > 0) {
            from = out->follows_live, n = out->n_follows_live;
        } else if (live && g->n_trending[u->geo] > 0) {
            from = g->trending[u->geo], n = g->n_trending[u->geo];
        } else if (own && out->n_follows_products > 0) {
            from = out->follows_products, n = out->n_follows_products;
        } else {
            from = out->category_products, n = out->n_category_products;
        }
        if (n == 0) continue;
        const fmx_gen_ref_t *ref = &from[s_below(r, (uint32_t)n)];
        double p = fmx_gen_click_prob(g, uid, ref->type, ref->idx);
        out->rows[out->n_rows++] = (fmx_gen_row_t){ref->type, ref->idx, s_unit(r) < p};
    }
}

void fmx_gen_user(fmx_gen_t *self, size_t uid, fmx_gen_lists_t *out) {
    s_rng_t *r = &self->priv->rng;
    size_t a = uid - 1;
    const fmx_gen_user_t *u = &self->users[a];

    s_user_follows(self, r, u, out);

    /* follows_live by viewers; follows_products by sales, best 200 */
    out->n_follows_live = 0;
    size_t n = 0;
    for (size_t i = 0; i < out->n_follows; i++) {
        const fmx_gen_seller_t *s = &self->sellers[out->follows[i]];
        if (s->is_live)
            out->follows_live[out->n_follows_live++] =
                (fmx_gen_ref_t){FMX_GEN_LIVESTREAM, out->follows[i], (double)s->viewers};
        for (uint32_t j = 0; j < s->n_products; j++) {
            uint32_t p = s->first_product + j;
            out->scratch[n++] = (fmx_gen_ref_t){FMX_GEN_PRODUCT, p, (double)self->products[p].sales};
        }
    }
    out->n_follows_live = s_rank(out->follows_live, out->n_follows_live, FMX_GEN_MAX_FOLLOWS);
    n = s_rank(out->scratch, n, FMX_GEN_MAX_FOLLOWS_PRODUCTS);
    memcpy(out->follows_products, out->scratch, n * sizeof(*out->scratch));
    out->n_follows_products = n;

    s_user_category_products(self, u, out);
    s_user_accounts(self, r, a, u, out);

    /* followed sellers going live soon, soonest first; score 1 (now) .. 0.008 (in 2 h) */
    n = 0;
    for (size_t i = 0; i < out->n_follows; i++) {
        int32_t up = self->sellers[out->follows[i]].going_live;
        if (up >= 0)
            out->scratch[n++] = (fmx_gen_ref_t){
                FMX_GEN_UPDATE, (uint32_t)up, s_round(1.0 - (double)(self->updates[up].starts_in_min - 1) / 121.0, 1e6)};
    }
    qsort(out->scratch, n, sizeof(*out->scratch), s_ref_cmp);
    out->n_upcoming = n < FMX_GEN_MAX_UPCOMING ? n : FMX_GEN_MAX_UPCOMING;
    memcpy(out->upcoming, out->scratch, out->n_upcoming * sizeof(*out->scratch));

    s_user_watched(self, r, out);

    /* seen: about 5 % of what the home and products feeds would retrieve for the user */
    out->n_seen = 0;
    for (size_t i = 0; i < out->n_follows_live; i++)
        if (s_unit(r) < 0.05) out->seen[out->n_seen++] = out->follows_live[i];
    for (size_t i = 0; i < out->n_follows_products; i++)
        if (s_unit(r) < 0.05) out->seen[out->n_seen++] = out->follows_products[i];

    s_user_blocked(self, r, a, out);
    s_user_rows(self, r, uid, u, out);
}
