/* Helpers for the tests of zslab's C API (include/zslab.h).
 *
 * The tests are run both under LD_PRELOAD=libzslab.so and under plain glibc
 * (`run.sh none`), so they never link against zslab: every slab_* function
 * is looked up with dlsym(RTLD_DEFAULT, ...).  zt_load() fills a table of
 * function pointers whose types come from zslab.h itself (so a prototype
 * change in the header is caught at compile time), and
 *   - in zslab mode (PRELOAD_TEST_MODE=zslab, or unset) a missing symbol is
 *     a test failure;
 *   - in none mode the symbols must be absent and zt_load() returns 0: the
 *     test runs its glibc-valid part only and skips the zslab checks.
 *
 * Plus: RSS from /proc/self/statm, a checked slab_stats_global() wrapper
 * that also verifies the struct layout agreement (version and size), and a
 * monotonic clock.
 */
#ifndef ZSLAB_TEST_H
#define ZSLAB_TEST_H

#include "common.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <time.h>

#include "../include/zslab.h"

typedef struct {
    __typeof__(slab_epoch_advance) *advance;
    __typeof__(slab_epoch_current) *current;
    __typeof__(slab_epoch_era) *era;
    __typeof__(slab_epoch_close) *close;
    __typeof__(slab_epoch_set_label) *set_label;
    __typeof__(slab_reclaim) *reclaim;
    __typeof__(slab_stats_global) *stats_global;
    __typeof__(slab_stats_class_count) *class_count;
    __typeof__(slab_stats_class) *stats_class;
    __typeof__(slab_stats_epoch) *stats_epoch;
    __typeof__(slab_stats_json) *stats_json;
    __typeof__(slab_stats_print) *stats_print;
} zslab_api;

/* Look every slab_* symbol up.  Returns 1 when zslab is loaded (all found),
 * 0 in none mode (all absent).  Fails the test on a partial or unexpected
 * set. */
static UNUSED int zt_load(zslab_api *z)
{
    static const char *const names[] = {
        "slab_epoch_advance", "slab_epoch_current",  "slab_epoch_era",
        "slab_epoch_close",   "slab_epoch_set_label", "slab_reclaim",
        "slab_stats_global",  "slab_stats_class_count", "slab_stats_class",
        "slab_stats_epoch",   "slab_stats_json",     "slab_stats_print",
    };
    void *ptrs[sizeof names / sizeof names[0]];
    size_t found = 0, n = sizeof names / sizeof names[0];
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = dlsym(RTLD_DEFAULT, names[i]);
        if (ptrs[i])
            found++;
    }
    if (mode_is_glibc()) {
        CHECK(found == 0, "none mode but %zu slab_* symbols were found", found);
        memset(z, 0, sizeof *z);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!ptrs[i])
            FAIL("zslab mode but dlsym(RTLD_DEFAULT, \"%s\") is NULL "
                 "(is LD_PRELOAD set to libzslab.so?)", names[i]);
    /* Object pointer -> function pointer through memcpy (ISO C forbids the
     * cast, -Wpedantic aside; POSIX guarantees the representation). */
#define ZT_SET(field, i) __builtin_memcpy(&z->field, &ptrs[i], sizeof z->field)
    ZT_SET(advance, 0);
    ZT_SET(current, 1);
    ZT_SET(era, 2);
    ZT_SET(close, 3);
    ZT_SET(set_label, 4);
    ZT_SET(reclaim, 5);
    ZT_SET(stats_global, 6);
    ZT_SET(class_count, 7);
    ZT_SET(stats_class, 8);
    ZT_SET(stats_epoch, 9);
    ZT_SET(stats_json, 10);
    ZT_SET(stats_print, 11);
#undef ZT_SET
    return 1;
}

/* slab_stats_global() that must succeed and agree with our struct layout. */
/* The epoch domain functions, looked up like zt_load()'s: all present under
 * zslab (returns 1), all absent in none mode (returns 0, table zeroed). */
typedef struct {
    __typeof__(slab_domain_enter) *enter;
    __typeof__(slab_domain_exit) *exit;
    __typeof__(slab_domain_force_close) *force_close;
    __typeof__(slab_domain_current) *current;
} zt_domain_api;

static UNUSED int zt_load_domains(zt_domain_api *d)
{
    void *p[4] = {
        dlsym(RTLD_DEFAULT, "slab_domain_enter"),
        dlsym(RTLD_DEFAULT, "slab_domain_exit"),
        dlsym(RTLD_DEFAULT, "slab_domain_force_close"),
        dlsym(RTLD_DEFAULT, "slab_domain_current"),
    };
    int found = !!p[0] + !!p[1] + !!p[2] + !!p[3];
    if (mode_is_glibc()) {
        CHECK(found == 0, "none mode but %d slab_domain_* symbols were found", found);
        memset(d, 0, sizeof *d);
        return 0;
    }
    CHECK(found == 4, "zslab mode but only %d of 4 slab_domain_* symbols found", found);
    __builtin_memcpy(&d->enter, &p[0], sizeof d->enter);
    __builtin_memcpy(&d->exit, &p[1], sizeof d->exit);
    __builtin_memcpy(&d->force_close, &p[2], sizeof d->force_close);
    __builtin_memcpy(&d->current, &p[3], sizeof d->current);
    return 1;
}

static UNUSED void zt_global(const zslab_api *z, struct zslab_global_stats *g)
{
    memset(g, 0xA5, sizeof *g);
    int r = z->stats_global(g, sizeof *g);
    CHECK(r == 0, "slab_stats_global returned %d", r);
    CHECK(g->version == ZSLAB_STATS_VERSION, "global stats version %u, header says %u",
          g->version, ZSLAB_STATS_VERSION);
    CHECK(g->size == sizeof *g, "global stats size %u, sizeof(struct zslab_global_stats) = %zu",
          g->size, sizeof *g);
}

/* slab_stats_epoch() that must succeed and agree with our struct layout. */
static UNUSED void zt_epoch(const zslab_api *z, unsigned e, struct zslab_epoch_stats *s)
{
    memset(s, 0xA5, sizeof *s);
    int r = z->stats_epoch(e, s, sizeof *s);
    CHECK(r == 0, "slab_stats_epoch(%u) returned %d", e, r);
    CHECK(s->version == ZSLAB_STATS_VERSION, "epoch stats version %u", s->version);
    CHECK(s->size == sizeof *s, "epoch stats size %u, sizeof(struct zslab_epoch_stats) = %zu",
          s->size, sizeof *s);
    CHECK(s->epoch == e, "slab_stats_epoch(%u) reports epoch %u", e, (unsigned)s->epoch);
    CHECK(memchr(s->label, 0, sizeof s->label) != NULL, "epoch %u label not NUL-terminated", e);
}

/* Resident set size in bytes, from /proc/self/statm (no stdio, no malloc). */
static UNUSED uint64_t zt_rss(void)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open /proc/self/statm: %s", strerror(errno));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0, "read /proc/self/statm");
    buf[n] = 0;
    unsigned long long size = 0, resident = 0;
    CHECK(sscanf(buf, "%llu %llu", &size, &resident) == 2, "parse statm '%s'", buf);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static UNUSED double zt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static UNUSED const char *zt_state_name(uint32_t s)
{
    switch (s) {
    case ZSLAB_EPOCH_UNUSED:
        return "UNUSED";
    case ZSLAB_EPOCH_ACTIVE:
        return "ACTIVE";
    case ZSLAB_EPOCH_CLOSING:
        return "CLOSING";
    default:
        return "?";
    }
}

#define MiB(x) ((double)(x) / 1048576.0)

#endif
