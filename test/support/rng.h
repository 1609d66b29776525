/* rng.h - splitmix64 draws for tests that want data reproducible from a seed (test_score,
 * test_score_xgb): the same seed gives the same sequence on every machine. */
#ifndef FMX_TEST_RNG_H
#define FMX_TEST_RNG_H

#include <stdint.h>

/* The next 64 random bits; *s is the state (any value is a seed). */
uint64_t rng_next(uint64_t *s);
/* Uniform in [0, 1), 53 bits. */
double rng_unit(uint64_t *s);

#endif
