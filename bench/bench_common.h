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

#include <fcntl.h>
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


/* Block tag for any size >= 1: tag_block/check_block for blocks of 8 bytes
 * or more, the first and last byte only for smaller ones. */
static inline void tag_any(void *p, size_t size)
{
    if (size >= 8) {
        tag_block(p, size);
        return;
    }
    uint64_t t = tag_for(p, size);
    ((volatile unsigned char *)p)[0] = (unsigned char)t;
    ((volatile unsigned char *)p)[size - 1] = (unsigned char)(t >> 56);
}

static inline void check_any(void *p, size_t size)
{
    if (size >= 8) {
        check_block(p, size);
        return;
    }
    uint64_t t = tag_for(p, size);
    if (((volatile unsigned char *)p)[size - 1] != (unsigned char)(t >> 56) ||
        (size > 1 && ((volatile unsigned char *)p)[0] != (unsigned char)t))
        bench_die("corrupted block %p (size %zu)", p, size);
}

/* Self-describing tag for blocks of 16 bytes or more that travel between
 * threads: word 0 = tag, word 1 = size, and (from 24 bytes up) the last
 * byte from the tag.  The receiver needs only the pointer. */
static inline void tag_sized(void *p, size_t size)
{
    uint64_t t = tag_for(p, size), s = size;
    memcpy(p, &t, sizeof t);
    memcpy((char *)p + 8, &s, sizeof s);
    if (size >= 24)
        ((volatile unsigned char *)p)[size - 1] = (unsigned char)(t >> 56);
}

/* Returns the block's size; dies if the tag does not match. */
static inline size_t check_sized(void *p)
{
    uint64_t s, got;
    memcpy(&s, (char *)p + 8, sizeof s);
    memcpy(&got, p, sizeof got);
    if (s < 16 || s > ((uint64_t)1 << 40))
        bench_die("corrupted block %p (size word %" PRIu64 ")", p, s);
    uint64_t t = tag_for(p, (size_t)s);
    if (got != t ||
        (s >= 24 && ((volatile unsigned char *)p)[s - 1] != (unsigned char)(t >> 56)))
        bench_die("corrupted block %p (size %" PRIu64 ")", p, s);
    return (size_t)s;
}

/* Uniform double in [0, 1). */
static inline double rng_unit(bench_rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Log-uniform size in [lo, hi]. */
static inline size_t rng_log_size(bench_rng *r, size_t lo, size_t hi)
{
    double l = __builtin_log((double)lo), h = __builtin_log((double)hi);
    size_t s = (size_t)__builtin_exp(l + (h - l) * rng_unit(r));
    if (s < lo)
        s = lo;
    if (s > hi)
        s = hi;
    return s;
}

/* Inverse-square size in [lo, hi]: density proportional to 1/s^2, so almost
 * all sizes are small (for 4..32768: half below 8 B, 94% below 64 B), with a
 * long thin tail.  Inverse CDF: s = 1 / (1/lo - u (1/lo - 1/hi)). */
static inline size_t rng_invsq_size(bench_rng *r, size_t lo, size_t hi)
{
    double a = 1.0 / (double)lo, b = 1.0 / (double)hi;
    size_t s = (size_t)(1.0 / (a - rng_unit(r) * (a - b)));
    if (s < lo)
        s = lo;
    if (s > hi)
        s = hi;
    return s;
}

/* A server-like size mix, 16 B .. 1 MiB (used by rptest and latency):
 *   80%  16 B .. 512 B    log-uniform
 *   17%  512 B .. 16 KiB  log-uniform
 *    3%  16 KiB .. 1 MiB  log-uniform */
static inline size_t rng_server_size(bench_rng *r)
{
    unsigned pick = (unsigned)(rng_next(r) % 100);
    if (pick < 80)
        return rng_log_size(r, 16, 512);
    if (pick < 97)
        return rng_log_size(r, 512, 16384);
    return rng_log_size(r, 16384, 1 << 20);
}

/* Resident set size of this process in KiB (/proc/self/statm), -1 if
 * unreadable.  Uses no heap memory. */
static BENCH_UNUSED long bench_rss_kb(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *sp = strchr(buf, ' ');
    if (!sp)
        return -1;
    return strtol(sp + 1, NULL, 10) * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Sleep for `s` seconds (restarting after signals). */
static BENCH_UNUSED void bench_sleep(double s)
{
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Number of online CPUs (at least 1). */
static BENCH_UNUSED unsigned long bench_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned long)n : 1;
}

/* Positional argument i as unsigned long; 0 is allowed (callers use it for
 * "automatic"), absent gives `dflt`. */
static BENCH_UNUSED unsigned long arg_ul0(int argc, char **argv, int i, unsigned long dflt)
{
    if (i >= argc)
        return dflt;
    char *end = NULL;
    unsigned long v = strtoul(argv[i], &end, 10);
    if (!end || *end != '\0')
        bench_die("bad argument %d: '%s' (want a non-negative integer)", i, argv[i]);
    return v;
}

/* Path of the file for bulky per-run data (histograms, samples), from the
 * BENCH_DATA_OUT environment variable; NULL when unset. */
static BENCH_UNUSED const char *bench_data_path(void)
{
    const char *p = getenv("BENCH_DATA_OUT");
    return (p && *p) ? p : NULL;
}


#endif
