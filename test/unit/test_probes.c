/* test_probes.c - common/probes.h: a probe's arguments are evaluated only while its semaphore is
 * set, and every feedmix probe's ELF note (.note.stapsdt) names a semaphore in the file-backed
 * .probes section with the documented number of arguments (tools/feedtrace/README.md). Without
 * the semaphore in the note, a tracer could attach but never enable the probe. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/runtime.h"
#include "broker/obs.h"
#include "common/probes.h"

/* A probe of this test's own, so the notes test below sees exactly the project's sites. */
FMX_PROBE_SEMAPHORE(test__probe);

static int s_evaluated;

static uint64_t s_arg(void) {
    s_evaluated++;
    return 42;
}

static void test_args_only_evaluated_when_enabled(void **state) {
    (void)state;
    s_evaluated = 0;
    const char *type = "score";
    FMX_PROBE(test__probe, type, s_arg(), 0, s_arg());
    assert_int_equal(s_evaluated, 0);
    assert_false(FMX_PROBE_ENABLED(test__probe));
    /* What the kernel does while a tracer is attached: the probe site then runs (a nop here). */
    FMX_PROBE_SEMAPHORE_NAME(test__probe) = 1;
    assert_true(FMX_PROBE_ENABLED(test__probe));
    FMX_PROBE(test__probe, type, s_arg(), 0, s_arg());
    assert_int_equal(s_evaluated, 2);
    FMX_PROBE_SEMAPHORE_NAME(test__probe) = 0;
}

typedef struct {
    char *buf;
    size_t len;
} s_file_t;

/* Setup: this test binary's own file, read whole (freed by the teardown even when a test fails). */
static int s_read_self(void **state) {
    s_file_t *f = calloc(1, sizeof *f);
    FILE *fp = fopen("/proc/self/exe", "rb");
    long len = fp && fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (f && len > (long)sizeof(Elf64_Ehdr) && (f->buf = malloc((size_t)len)) != NULL) {
        rewind(fp);
        f->len = fread(f->buf, 1, (size_t)len, fp);
    }
    if (fp) fclose(fp);
    *state = f;
    return f && f->buf && f->len == (size_t)len ? 0 : -1;
}

static int s_free_self(void **state) {
    s_file_t *f = *state;
    if (f) free(f->buf);
    free(f);
    *state = NULL;
    return 0;
}

static const Elf64_Shdr *s_section_at(const s_file_t *f, const Elf64_Ehdr *eh, uint64_t addr, const char **name) {
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(f->buf + eh->e_shoff);
    const char *names = f->buf + sh[eh->e_shstrndx].sh_offset;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_addr && addr >= sh[i].sh_addr && addr < sh[i].sh_addr + sh[i].sh_size) {
            *name = names + sh[i].sh_name;
            return &sh[i];
        }
    }
    return NULL;
}

typedef struct {
    const char *name;
    int args;
    int seen;
} s_probe_t;

static void test_notes_name_semaphores_in_probes_section(void **state) {
    const s_file_t *self = *state;
    /* Reference the probe sites' objects so the static libraries link them into this binary. */
    void *volatile keep[] = {(void *)fmx_runtime_execute, (void *)fmx_obs_node_dispatch};
    (void)keep;
    s_probe_t want[] = {
        {"request__start", 3, 0}, {"request__done", 5, 0}, {"node__dispatch", 7, 0}, {"node__result", 9, 0},
        {"node__fallback", 6, 0}, {"task__start", 2, 0},   {"task__done", 4, 0},
    };
    s_file_t f = *self;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f.buf;
    assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
    assert_int_equal(eh->e_ident[EI_CLASS], ELFCLASS64);
    assert_true(eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) <= f.len);
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(f.buf + eh->e_shoff);
    const char *names = f.buf + sh[eh->e_shstrndx].sh_offset;
    for (unsigned s = 0; s < eh->e_shnum; s++) {
        if (sh[s].sh_type != SHT_NOTE || strcmp(names + sh[s].sh_name, ".note.stapsdt") != 0) continue;
        assert_true(sh[s].sh_offset + sh[s].sh_size <= f.len);
        const char *p = f.buf + sh[s].sh_offset, *end = p + sh[s].sh_size;
        while (p + sizeof(Elf64_Nhdr) <= end) {
            const Elf64_Nhdr *nh = (const Elf64_Nhdr *)p;
            const char *desc = p + sizeof *nh + ((nh->n_namesz + 3) & ~3u);
            p = desc + ((nh->n_descsz + 3) & ~3u);
            assert_true(p <= end);
            if (nh->n_type != 3 || nh->n_descsz < 3 * 8 + 2) continue;
            uint64_t sema;
            memcpy(&sema, desc + 16, 8);
            const char *provider = desc + 24;
            const char *name = provider + strnlen(provider, nh->n_descsz - 24) + 1;
            if (strcmp(provider, "feedmix") != 0) continue;
            const char *args = name + strlen(name) + 1;
            int n_args = 0;
            for (const char *a = args; *a; a++)
                n_args += *a == '@';
            for (size_t i = 0; i < FMX_ARRAY_LEN(want); i++) {
                if (strcmp(want[i].name, name) != 0) continue;
                want[i].seen++;
                if (n_args != want[i].args) fprintf(stderr, "%s: args '%s'\n", name, args);
                assert_int_equal(n_args, want[i].args);
                assert_true(sema != 0);
                const char *section = NULL;
                const Elf64_Shdr *in = s_section_at(&f, eh, sema, &section);
                assert_non_null(in);
                assert_string_equal(section, ".probes");
                assert_int_equal(in->sh_type, SHT_PROGBITS); /* file-backed, so uprobes can count */
            }
        }
    }
    for (size_t i = 0; i < FMX_ARRAY_LEN(want); i++) {
        if (want[i].seen != 1) fprintf(stderr, "probe %s: %d notes\n", want[i].name, want[i].seen);
        assert_int_equal(want[i].seen, 1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_only_evaluated_when_enabled),
        cmocka_unit_test_setup_teardown(test_notes_name_semaphores_in_probes_section, s_read_self, s_free_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
