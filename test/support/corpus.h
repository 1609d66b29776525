/* corpus.h - the fuzz seed corpus (test/fuzz/make-seeds.py) for codec unit tests: every seed named
 * ok-*.mp must decode, every other *.mp must be refused with a message. */
#ifndef FMX_TEST_CORPUS_H
#define FMX_TEST_CORPUS_H

#include <stddef.h>

#include "common/fmx.h"

/* Decodes one seed: 0 when accepted, -1 with err filled when refused. arg is the walk's arg. */
typedef int (*corpus_seed_fn)(const char *data, size_t len, char err[FMX_ERR_LEN], void *arg);

/* Runs fn over every seed in test/fuzz/<sub>/ (found from $FMX_FIXTURES) and fails the current
 * cmocka test on a seed that decodes the wrong way. Returns how many were checked, 0 when
 * FMX_FIXTURES is not set (run outside ctest: the caller skips). */
size_t corpus_for_each_seed(const char *sub, corpus_seed_fn fn, void *arg);

#endif
