/* probes.h - the USDT probes of provider "feedmix" (sys/sdt.h), with semaphores.
 *
 * A probe site is a nop plus an ELF note (.note.stapsdt) that names its arguments' locations.
 * Each probe also has a semaphore: a counter the kernel increments in every process of the
 * binary while a tracer is attached (uprobe ref_ctr_offset). FMX_PROBE tests it first, so a
 * detached probe costs one load and a not-taken branch, and the arguments (clock reads, string
 * lookups) are computed only while someone listens.
 *
 * Probes (tools/feedtrace/README.md has the table with argument types and units):
 *   broker: request__start request__done node__dispatch node__result node__fallback
 *   actor:  task__start task__done
 *
 * Each semaphore is defined once per binary with FMX_PROBE_SEMAPHORE, in the .c that fires the
 * probe (broker/obs.c, actors/runtime.c); this header only declares them. The semaphores live in
 * the .probes section, which is file-backed data: the kernel can only bump a counter that is
 * backed by the binary's inode (not .bss). Arguments should be locals or struct fields, never a
 * global's address, so the note's operand stays `N@%reg` or `N@off(%reg)` (libbpf cannot read a
 * %rip-relative operand). */
#ifndef FMX_PROBES_H
#define FMX_PROBES_H

#define _SDT_HAS_SEMAPHORES 1
#define SDT_USE_VARIADIC    1
#include <sys/sdt.h>

#define FMX_PROBE_SEMAPHORE_NAME(name) feedmix_##name##_semaphore
/* Defines a probe's semaphore (one translation unit per binary). */
#define FMX_PROBE_SEMAPHORE(name)                                                                                      \
    __extension__ volatile unsigned short FMX_PROBE_SEMAPHORE_NAME(name) __attribute__((section(".probes")))
#define FMX_PROBE_DECLARE(name) extern volatile unsigned short FMX_PROBE_SEMAPHORE_NAME(name)

/* True while a tracer is attached to the probe: guard argument work that FMX_PROBE cannot defer. */
#define FMX_PROBE_ENABLED(name) __builtin_expect(FMX_PROBE_SEMAPHORE_NAME(name) != 0, 0)
/* Fires probe `name` with up to 12 arguments; they are evaluated only when it is enabled. */
#define FMX_PROBE(name, ...)                                                                                           \
    do {                                                                                                               \
        if (FMX_PROBE_ENABLED(name)) STAP_PROBEV(feedmix, name, __VA_ARGS__);                                          \
    } while (0)

FMX_PROBE_DECLARE(request__start);
FMX_PROBE_DECLARE(request__done);
FMX_PROBE_DECLARE(node__dispatch);
FMX_PROBE_DECLARE(node__result);
FMX_PROBE_DECLARE(node__fallback);
FMX_PROBE_DECLARE(task__start);
FMX_PROBE_DECLARE(task__done);

#endif
