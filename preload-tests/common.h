/* Shared helpers for the zslab preload tests.
 *
 * Every test is a stand-alone program built from one .c file plus this
 * header.  Tests are deterministic (seeded xorshift PRNG), print a clear
 * "FAIL: ..." message to stderr and exit 1 on the first failure, and print
 * "OK <name>" on success.  Nothing here assumes anything about the
 * allocator beyond the glibc malloc API contract.
 */
#ifndef ZSLAB_PRELOAD_TESTS_COMMON_H
#define ZSLAB_PRELOAD_TESTS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNUSED __attribute__((unused))

/* ---------------------------------------------------------------- failure */

static void fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4), unused));
static void fail_at(const char *file, int line, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n = snprintf(buf, sizeof buf, "FAIL: %s:%d: ", file, line);
    if (n < 0 || n >= (int)sizeof buf)
        n = 0;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    fflush(stdout);
    /* write(2) directly: the heap may be in a bad state. */
    size_t len = strlen(buf);
    if (len + 1 < sizeof buf) {
        buf[len++] = '\n';
    }
    ssize_t w UNUSED = write(2, buf, len);
    _exit(1);
}

#define FAIL(...) fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond, fmt, ...)                                              \
    do {                                                                   \
        if (!(cond))                                                       \
            FAIL("check `%s' failed: " fmt, #cond, ##__VA_ARGS__);         \
    } while (0)

/* Print "OK name" and flush. */
static UNUSED void ok(const char *name)
{
    printf("OK %s\n", name);
    fflush(stdout);
}

/* ------------------------------------------------------- compiler opacity */

/* Hide a value from the optimiser so that it can neither warn about nor
 * fold malloc calls with constant impossible sizes, nor elide malloc/free
 * pairs. */
static UNUSED size_t opaque_size(size_t x)
{
    volatile size_t v = x;
    return v;
}

static UNUSED void *opaque_ptr(void *p)
{
    void *volatile v = p;
    return v;
}

/* ------------------------------------------------------------------ mode */

/* True when run.sh runs the test without LD_PRELOAD (plain glibc).  Only
 * used to relax checks where glibc 2.36 itself deviates from the contract. */
static UNUSED int mode_is_glibc(void)
{
    const char *m = getenv("PRELOAD_TEST_MODE");
    return m != NULL && strcmp(m, "none") == 0;
}

/* ---------------------------------------------------------------- PRNG */

typedef struct {
    uint64_t s;
} rng_t;

static UNUSED void rng_seed(rng_t *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (r->s == 0)
        r->s = 1;
}

static UNUSED uint64_t rng_next(rng_t *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform-ish in [0, n). n must be > 0. */
static UNUSED uint64_t rng_below(rng_t *r, uint64_t n)
{
    return rng_next(r) % n;
}

/* Uniform-ish in [lo, hi]. */
static UNUSED uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* --------------------------------------------------------------- patterns */

static UNUSED uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static UNUSED uint64_t pattern_word(uint64_t seed, size_t idx)
{
    return (seed ^ ((uint64_t)idx * 0x9E3779B97F4A7C15ull)) + (uint64_t)idx;
}

/* Fill n bytes at p with a pattern derived from seed. p need not be aligned.
 * (__builtin_memcpy: the tests are built with -fno-builtin, which would
 * otherwise turn every 8-byte copy into a libc call.) */
static UNUSED void fill_pattern(void *p, size_t n, uint64_t seed)
{
    unsigned char *c = p;
    size_t words = n / 8, i;
    for (i = 0; i < words; i++) {
        uint64_t w = pattern_word(seed, i);
        __builtin_memcpy(c + i * 8, &w, 8);
    }
    if (n % 8) {
        uint64_t w = pattern_word(seed, words);
        __builtin_memcpy(c + words * 8, &w, n % 8);
    }
}

/* Returns the offset of the first mismatching byte, or (size_t)-1. */
static UNUSED size_t check_pattern(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *c = p;
    size_t words = n / 8, i, tail = n % 8;
    for (i = 0; i < words; i++) {
        uint64_t got;
        __builtin_memcpy(&got, c + i * 8, 8);
        if (__builtin_expect(got != pattern_word(seed, i), 0))
            break;
    }
    if (i == words && tail == 0)
        return (size_t)-1;
    /* Slow path: locate the exact byte (or check the tail). */
    for (; i <= words; i++) {
        uint64_t w = pattern_word(seed, i);
        const unsigned char *e = (const unsigned char *)&w;
        size_t len = i < words ? 8 : tail;
        for (size_t b = 0; b < len; b++)
            if (c[i * 8 + b] != e[b])
                return i * 8 + b;
    }
    return (size_t)-1;
}

#define CHECK_PATTERN(p, n, seed, fmt, ...)                                   \
    do {                                                                      \
        size_t bad_off_ = check_pattern((p), (n), (seed));                    \
        if (bad_off_ != (size_t)-1)                                           \
            FAIL(fmt " (pattern mismatch at offset %zu of %zu-byte block %p)", \
                 ##__VA_ARGS__, bad_off_, (size_t)(n), (void *)(p));          \
    } while (0)

/* Returns the offset of the first non-zero byte, or (size_t)-1. */
static UNUSED size_t check_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        __builtin_memcpy(&w, c + i, 8);
        if (w != 0)
            break;
    }
    for (; i < n; i++)
        if (c[i] != 0)
            return i;
    return (size_t)-1;
}

static UNUSED int is_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* -------------------------------------------------------------- watchdog */

#include <signal.h>

static volatile sig_atomic_t watchdog_armed_;

static UNUSED void watchdog_handler_(int sig)
{
    (void)sig;
    static const char msg[] =
        "FAIL: watchdog expired: test is stuck (deadlock?)\n";
    ssize_t w UNUSED = write(2, msg, sizeof msg - 1);
    _exit(3);
}

/* Kill the process with a clear message if it runs longer than `secs`. */
static UNUSED void watchdog(unsigned secs)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog_handler_;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    watchdog_armed_ = 1;
    alarm(secs);
}

#endif
