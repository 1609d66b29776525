/* gen.h - the demo marketplace in memory: sellers and their live streams, products, stores,
 * updates, users with their social graph, the per-geo / per-category top lists, and each user's
 * lists and labelled impressions. feedmix-seed (seed.c) packs it into the store; the key layout
 * and the hidden click model are documented in seed.c's banner.
 *
 * Deterministic: every draw comes from one splitmix64 stream consumed in a fixed order
 * (fmx_gen_new, then fmx_gen_user for uid 1, 2, ... n_users), and every ranking breaks ties by
 * index. Indexes are 0-based; ids are 1-based ("s1" is sellers[0], "u1" is users[0]). */
#ifndef FMX_GEN_H
#define FMX_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/fmx.h"

#define FMX_GEN_NGEO                 8
#define FMX_GEN_NCAT                 12
#define FMX_GEN_MAX_USERS            5000000 /* the follow graph costs 160 bytes a user */
#define FMX_GEN_TOP                  300     /* trending, category:*:products */
/* Per user, so it dominates the store at scale: 100 refs keep 1M users near a third of 300 refs' size. */
#define FMX_GEN_TOP_USER_PRODUCTS    100     /* user:<N>:category_products */
#define FMX_GEN_TOP_STORES           400
#define FMX_GEN_TOP_NEW              100
#define FMX_GEN_MIN_FOLLOWS          5
#define FMX_GEN_MAX_FOLLOWS          40 /* sellers, and accounts, a user follows */
#define FMX_GEN_MAX_SELLER_PRODUCTS  7
#define FMX_GEN_MAX_FOLLOWS_PRODUCTS 200
#define FMX_GEN_MAX_RECENT           20
#define FMX_GEN_MAX_UPCOMING         10
#define FMX_GEN_MAX_WATCHED          15
#define FMX_GEN_MAX_PRICE_DROPS      8
#define FMX_GEN_MAX_SEEN             (FMX_GEN_MAX_FOLLOWS + FMX_GEN_MAX_FOLLOWS_PRODUCTS)
#define FMX_GEN_MAX_BLOCKED          3
#define FMX_GEN_MAX_ROWS             20      /* impressions per user */
#define FMX_GEN_ROWS_CAP             4000000 /* impressions of all users together */

/* Entity types; index fmx_gen_type_names / fmx_gen_type_prefixes. */
enum { FMX_GEN_SELLER, FMX_GEN_LIVESTREAM, FMX_GEN_PRODUCT, FMX_GEN_ACCOUNT, FMX_GEN_STORE, FMX_GEN_UPDATE };
enum { FMX_GEN_GOING_LIVE, FMX_GEN_PRICE_DROP };

extern const char *const fmx_gen_type_names[];    /* "seller", "livestream", ... */
extern const char *const fmx_gen_type_prefixes[]; /* "s", "ls", "p", "u", "st", "up" */
extern const char *const fmx_gen_geos[FMX_GEN_NGEO];
extern const char *const fmx_gen_cats[FMX_GEN_NCAT];
extern const char *const fmx_gen_platforms[3];
extern const char *const fmx_gen_adjs[16];
extern const char *const fmx_gen_nouns[16];
extern const char *const fmx_gen_items[8];

/* A seller and its one live stream (ls<N> belongs to s<N>). */
typedef struct {
    uint8_t geo, cat, adj, noun; /* name = adjs[adj] + " " + nouns[noun] */
    bool is_new;                 /* created_days_ago <= 30 */
    bool is_live;
    int64_t followers, created_days_ago, viewers, started_min_ago;
    double quality;
    uint32_t first_product, n_products; /* its products are contiguous */
    int32_t store;                      /* index into stores, -1: none */
    int32_t going_live;                 /* index into updates, -1: none */
} fmx_gen_seller_t;

typedef struct {
    uint32_t seller;
    uint8_t adj, item; /* title = adjs[adj] + " " + category + " " + items[item] */
    double price, rating;
    int64_t sales;
    int32_t price_drop; /* index into updates, -1: none */
} fmx_gen_product_t;

typedef struct {
    uint32_t seller; /* name, category and geo are the seller's */
    double rating;
    int64_t orders, delivery_min;
    bool is_open;
} fmx_gen_store_t;

typedef struct {
    uint8_t kind;               /* FMX_GEN_GOING_LIVE or FMX_GEN_PRICE_DROP */
    uint32_t seller, product;   /* product: price_drop only */
    int64_t starts_in_min;      /* going_live only */
    double old_price, new_price, drop_pct; /* price_drop only; new_price is the product's price */
} fmx_gen_update_t;

typedef struct {
    uint8_t geo, cats[3], platform, quiet_start, quiet_end, adj, noun;
    uint16_t activity_milli, price_sensitivity_milli; /* features in 0..1, three decimals */
    uint32_t followers;                               /* users following this account */
} fmx_gen_user_t;

/* An entity in a list: type, 0-based index, score when the list has scores. */
typedef struct {
    uint8_t type;
    uint32_t idx;
    double score;
} fmx_gen_ref_t;

/* One labelled impression for interactions:*. */
typedef struct {
    uint8_t type; /* FMX_GEN_LIVESTREAM or FMX_GEN_PRODUCT */
    uint32_t idx;
    uint8_t label;
} fmx_gen_row_t;

typedef struct fmx_gen_priv fmx_gen_priv_t;

/* The generated world; read-only for callers. */
typedef struct {
    uint64_t seed;
    size_t n_users, n_sellers, n_products, n_stores, n_updates;
    size_t rows_per_user;
    fmx_gen_seller_t *sellers;
    fmx_gen_product_t *products;
    fmx_gen_store_t *stores;
    fmx_gen_update_t *updates;
    fmx_gen_user_t *users;
    /* per geo / category top lists, best first, scores value / max */
    fmx_gen_ref_t trending[FMX_GEN_NGEO][FMX_GEN_TOP];
    size_t n_trending[FMX_GEN_NGEO];
    fmx_gen_ref_t new_sellers[FMX_GEN_NGEO][FMX_GEN_TOP_NEW];
    size_t n_new_sellers[FMX_GEN_NGEO];
    fmx_gen_ref_t geo_stores[FMX_GEN_NGEO][FMX_GEN_TOP_STORES];
    size_t n_geo_stores[FMX_GEN_NGEO];
    fmx_gen_ref_t cat_products[FMX_GEN_NCAT][FMX_GEN_TOP];
    size_t n_cat_products[FMX_GEN_NCAT];
    fmx_gen_priv_t *priv; /* rng, follow graph, seller pools */
} fmx_gen_t;

/* Everything of one user, filled by fmx_gen_user: caller-allocated (about 16 KiB), reused. */
typedef struct {
    uint32_t follows[FMX_GEN_MAX_FOLLOWS]; /* seller indexes, in follow order */
    size_t n_follows;
    fmx_gen_ref_t follows_live[FMX_GEN_MAX_FOLLOWS];
    size_t n_follows_live;
    fmx_gen_ref_t follows_products[FMX_GEN_MAX_FOLLOWS_PRODUCTS];
    size_t n_follows_products;
    fmx_gen_ref_t category_products[FMX_GEN_TOP_USER_PRODUCTS];
    size_t n_category_products;
    const uint32_t *following; /* account indexes, borrowed from the graph */
    size_t n_following;
    uint32_t mutuals[FMX_GEN_MAX_FOLLOWS];
    size_t n_mutuals;
    fmx_gen_ref_t recent[FMX_GEN_MAX_RECENT];
    size_t n_recent;
    fmx_gen_ref_t upcoming[FMX_GEN_MAX_UPCOMING];
    size_t n_upcoming;
    uint32_t watched[FMX_GEN_MAX_WATCHED]; /* product indexes */
    size_t n_watched;
    fmx_gen_ref_t price_drops[FMX_GEN_MAX_PRICE_DROPS];
    size_t n_price_drops;
    fmx_gen_ref_t seen[FMX_GEN_MAX_SEEN];
    size_t n_seen;
    fmx_gen_ref_t blocked[FMX_GEN_MAX_BLOCKED]; /* type seller or account */
    size_t n_blocked;
    fmx_gen_row_t rows[FMX_GEN_MAX_ROWS];
    size_t n_rows;
    /* scratch for follows_products */
    fmx_gen_ref_t scratch[FMX_GEN_MAX_FOLLOWS * FMX_GEN_MAX_SELLER_PRODUCTS];
} fmx_gen_lists_t;

/* Called now and then during long phases; may be NULL. */
typedef void fmx_gen_progress_fn(void *arg, const char *phase, size_t done, size_t total);

/* Builds the world for n_users (1..FMX_GEN_MAX_USERS) users: everything but the per-user lists.
 * NULL with err on a bad size or out of memory. Caller owns. */
fmx_gen_t *fmx_gen_new(size_t n_users, uint64_t seed, fmx_gen_progress_fn *progress, void *arg,
                       char err[FMX_ERR_LEN]);
void fmx_gen_destroy(fmx_gen_t **self_p);

/* Fills out with the lists of user uid (1-based). Must be called for uid 1, 2, ... in order, once
 * each: the draws continue the one stream. */
void fmx_gen_user(fmx_gen_t *self, size_t uid, fmx_gen_lists_t *out);

/* The hidden ground truth: probability that user uid (1-based) clicks an impression of the
 * livestream or product idx. */
double fmx_gen_click_prob(const fmx_gen_t *self, size_t uid, uint8_t type, uint32_t idx);

#endif
