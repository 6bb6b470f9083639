/* Shared helpers for the zslab benchmark workloads (the .c files in bench/).
 *
 * Every workload is a stand-alone program: deterministic (seeded xorshift
 * PRNG), parameterised by positional arguments (defaults = the full-size
 * run), and prints its own figures on stdout as `key=value` lines, e.g.
 * `ops_per_sec=12345678`.  scripts/bench.sh records those lines next to the
 * wall time and peak RSS that bench/runner.c measures from outside.
 *
 * Each block carries a small integrity tag (first word and last byte) that
 * is checked before it is freed, so an allocator that hands out overlapping
 * or clobbered memory makes the workload fail loudly (exit 3) instead of
 * producing a fast-looking number.
 */
#ifndef ZSLAB_BENCH_COMMON_H
#define ZSLAB_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_UNUSED __attribute__((unused))

static BENCH_UNUSED void bench_die(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));
static BENCH_UNUSED void bench_die(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n = snprintf(buf, sizeof buf, "bench error: ");
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strlen(buf);
    if (len + 1 < sizeof buf)
        buf[len++] = '\n';
    /* write(2) directly: the heap may be in a bad state. */
    ssize_t w BENCH_UNUSED = write(2, buf, len);
    _exit(3);
}

static BENCH_UNUSED double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64* — fast, deterministic, good enough for picking sizes/slots. */
typedef struct {
    uint64_t s;
} bench_rng;

static BENCH_UNUSED void rng_seed(bench_rng *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    if (r->s == 0)
        r->s = 1;
}

static inline uint64_t rng_next(bench_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi]. */
static inline size_t rng_range(bench_rng *r, size_t lo, size_t hi)
{
    return lo + (size_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Mixed small-object size distribution used by several workloads:
 * 50% in 16..128, 30% in 129..512, 20% in 513..1024 bytes. */
static inline size_t rng_mixed_size(bench_rng *r)
{
    uint64_t x = rng_next(r);
    unsigned pick = (unsigned)(x % 10);
    uint64_t y = x >> 8;
    if (pick < 5)
        return 16 + (size_t)(y % 113);
    if (pick < 8)
        return 129 + (size_t)(y % 384);
    return 513 + (size_t)(y % 512);
}

/* ---------------------------------------------------------- block tagging */

static inline uint64_t tag_for(const void *p, size_t size)
{
    return ((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) ^ (uint64_t)size;
}

/* Write the tag into a freshly allocated block of `size` (>= 8) bytes. */
static inline void tag_block(void *p, size_t size)
{
    uint64_t t = tag_for(p, size);
    memcpy(p, &t, sizeof t);
    ((volatile unsigned char *)p)[size - 1] = (unsigned char)(t >> 56);
}

/* Check the tag before freeing; die on mismatch. */
static inline void check_block(void *p, size_t size)
{
    uint64_t t = tag_for(p, size), got;
    memcpy(&got, p, sizeof got);
    if (got != t || ((volatile unsigned char *)p)[size - 1] != (unsigned char)(t >> 56))
        bench_die("corrupted block %p (size %zu)", p, size);
}

static inline void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p)
        bench_die("malloc(%zu) returned NULL", size);
    return p;
}

/* Positional argument i as unsigned long, or `dflt` when absent. */
static BENCH_UNUSED unsigned long arg_ul(int argc, char **argv, int i, unsigned long dflt)
{
    if (i >= argc)
        return dflt;
    char *end = NULL;
    unsigned long v = strtoul(argv[i], &end, 10);
    if (!end || *end != '\0' || v == 0)
        bench_die("bad argument %d: '%s' (want a positive integer)", i, argv[i]);
    return v;
}

#endif
