/* jemalloc_mix: a program linked against another allocator (jemalloc,
 * -ljemalloc) that allocates, frees, reallocs and asks usable sizes through
 * the standard API (which LD_PRELOAD'ed zslab takes over) while also using
 * jemalloc's own API (mallocx/rallocx/xallocx/sallocx/nallocx/dallocx/
 * sdallocx/mallctl, which stays jemalloc's).  Run plain and under zslab by
 * scripts/test-foreign-allocator.sh: stdout (checksums of what was read
 * back, counts) must be identical; the allocator that served malloc is
 * named on stderr.
 *
 * Build: gcc -O2 -pthread jemalloc_mix.c -ljemalloc
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jemalloc/jemalloc.h>

extern int malloc_trim(size_t pad);

#define FAIL(...)                                                               \
    do {                                                                        \
        fprintf(stderr, "jemalloc_mix: FAIL: " __VA_ARGS__);                    \
        fprintf(stderr, "\n");                                                  \
        exit(1);                                                                \
    } while (0)

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static size_t rand_size(rng_t *r)
{
    uint64_t k = rnd(r) % 100;
    if (k < 75)
        return (size_t)(rnd(r) % 1025);
    if (k < 98)
        return 1025 + (size_t)(rnd(r) % (128 * 1024));
    return 128 * 1024 + (size_t)(rnd(r) % (2u << 20));
}

/* A pattern of 8-byte words (a prefix of a filled block matches it too). */
static uint64_t word(uint64_t seed, size_t i)
{
    return (seed ^ (i * 0x9E3779B97F4A7C15ull)) + i;
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = word(seed, i);
        memcpy(p + i, &w, 8);
    }
    if (i < n) {
        uint64_t w = word(seed, i);
        memcpy(p + i, &w, n - i);
    }
}

static int same(const unsigned char *p, size_t n, uint64_t seed)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != word(seed, i))
            return 0;
    }
    if (i < n) {
        uint64_t w = word(seed, i);
        return memcmp(p + i, &w, n - i) == 0;
    }
    return 1;
}

static uint64_t sum(const unsigned char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i += 997)
        h = h * 1099511628211ull ^ p[i];
    return h;
}

struct slot {
    unsigned char *p;
    size_t n;
    uint64_t seed;
};

/* The standard API: whoever serves malloc (jemalloc plain, zslab preloaded). */
static uint64_t standard_mix(uint64_t seed, unsigned ops)
{
    enum { NSLOT = 2048 };
    static __thread struct slot s[NSLOT];
    rng_t r = {seed};
    uint64_t h = 1469598103934665603ull;
    for (unsigned op = 0; op < ops; op++) {
        struct slot *x = &s[rnd(&r) % NSLOT];
        unsigned kind = (unsigned)(rnd(&r) % 8);
        if (x->p) {
            if (!same(x->p, x->n, x->seed))
                FAIL("block of %zu bytes corrupted", x->n);
            size_t us = malloc_usable_size(x->p);
            if (us < x->n)
                FAIL("malloc_usable_size %zu < %zu", us, x->n);
            h = sum(x->p, x->n, h);
            if (kind < 3) {
                size_t m = rand_size(&r);
                unsigned char *q = realloc(x->p, m);
                if (!q && m)
                    FAIL("realloc(%zu -> %zu)", x->n, m);
                if (m == 0) { /* realloc(p, 0) frees (glibc and jemalloc differ: free it ourselves if not) */
                    free(q);
                    x->p = NULL;
                    continue;
                }
                size_t keep = x->n < m ? x->n : m;
                if (!same(q, keep, x->seed))
                    FAIL("realloc %zu -> %zu lost data", x->n, m);
                x->p = q;
                x->n = m;
                x->seed = rnd(&r);
                fill(q, m, x->seed);
                continue;
            }
            free(x->p);
            x->p = NULL;
            continue;
        }
        /* (no zero-size requests: jemalloc's memalign(64, 0) is not aligned) */
        size_t n = rand_size(&r) + 1;
        unsigned char *p = NULL;
        switch (kind) {
        case 0: case 1: case 2:
            p = malloc(n);
            break;
        case 3: {
            size_t nm = n / 16 + 1;
            p = calloc(nm, 16);
            for (size_t i = 0; p && i < nm * 16; i++)
                if (p[i])
                    FAIL("calloc(%zu, 16) not zeroed at %zu", nm, i);
            break;
        }
        case 4: {
            size_t a = (size_t)1 << (4 + rnd(&r) % 13);
            void *v = NULL;
            int e = posix_memalign(&v, a, n);
            if (e)
                FAIL("posix_memalign(%zu, %zu) = %d", a, n, e);
            p = v;
            if ((uintptr_t)p % a)
                FAIL("posix_memalign misaligned");
            break;
        }
        case 5: {
            size_t a = (size_t)1 << (4 + rnd(&r) % 13);
            p = aligned_alloc(a, (n + a - 1) / a * a);
            if (p && (uintptr_t)p % a)
                FAIL("aligned_alloc misaligned");
            n = (n + a - 1) / a * a;
            break;
        }
        case 6: {
            size_t a = (size_t)1 << (4 + rnd(&r) % 13);
            p = memalign(a, n);
            if (p && (uintptr_t)p % a)
                FAIL("memalign misaligned");
            break;
        }
        default:
            p = valloc(n);
            break;
        }
        if (!p)
            FAIL("allocation of %zu bytes (kind %u) failed", n, kind);
        if (malloc_usable_size(p) < n)
            FAIL("malloc_usable_size %zu < %zu", malloc_usable_size(p), n);
        x->p = p;
        x->n = n;
        x->seed = rnd(&r);
        fill(p, n, x->seed);
    }
    for (unsigned i = 0; i < NSLOT; i++) {
        if (!s[i].p)
            continue;
        if (!same(s[i].p, s[i].n, s[i].seed))
            FAIL("block corrupted at the end");
        h = sum(s[i].p, s[i].n, h);
        free(s[i].p);
        s[i].p = NULL;
    }
    return h;
}

/* jemalloc's own API, which stays jemalloc's whatever serves malloc. */
static uint64_t jemalloc_api(uint64_t seed, unsigned ops, int print_version)
{
    rng_t r = {seed};
    uint64_t h = 7;
    for (unsigned op = 0; op < ops; op++) {
        size_t n = rand_size(&r) + 1;
        int align_lg = (int)(rnd(&r) % 12);
        unsigned char *p = mallocx(n, MALLOCX_LG_ALIGN(align_lg) | MALLOCX_ZERO);
        if (!p)
            FAIL("mallocx(%zu)", n);
        if ((uintptr_t)p % ((size_t)1 << align_lg))
            FAIL("mallocx misaligned");
        for (size_t i = 0; i < n; i += 61)
            if (p[i])
                FAIL("mallocx(MALLOCX_ZERO) not zeroed");
        if (sallocx(p, 0) < n || nallocx(n, MALLOCX_LG_ALIGN(align_lg)) < n)
            FAIL("sallocx/nallocx too small");
        uint64_t s = rnd(&r);
        fill(p, n, s);
        size_t m = rand_size(&r) + 1;
        unsigned char *q = rallocx(p, m, 0);
        if (!q)
            FAIL("rallocx(%zu -> %zu)", n, m);
        if (!same(q, n < m ? n : m, s))
            FAIL("rallocx lost data");
        size_t got = xallocx(q, m, 4096, 0);
        if (got < m)
            FAIL("xallocx shrank below %zu", m);
        h = sum(q, n < m ? n : m, h);
        if (op % 2)
            dallocx(q, 0);
        else
            sdallocx(q, got, 0);
    }
    const char *version = NULL;
    size_t vlen = sizeof version;
    if (mallctl("version", &version, &vlen, NULL, 0) != 0 || !version)
        FAIL("mallctl(version)");
    uint64_t epoch = 1;
    size_t elen = sizeof epoch;
    if (mallctl("epoch", &epoch, &elen, &epoch, elen) != 0)
        FAIL("mallctl(epoch)");
    size_t allocated = 0, alen = sizeof allocated;
    if (mallctl("stats.allocated", &allocated, &alen, NULL, 0) != 0)
        FAIL("mallctl(stats.allocated)");
    if (print_version)
        printf("jemalloc version %s\n", version);
    return h;
}

struct targ {
    uint64_t seed, result;
};

static void *thread_main(void *a)
{
    struct targ *t = a;
    t->result = standard_mix(t->seed, 40000) ^ jemalloc_api(t->seed + 1, 2000, 0);
    return NULL;
}

int main(void)
{
    Dl_info info;
    if (dladdr((void *)malloc, &info) && info.dli_fname)
        fprintf(stderr, "jemalloc_mix: malloc from %s\n", info.dli_fname);
    fprintf(stderr, "jemalloc_mix: zslab %s\n",
            dlsym(RTLD_DEFAULT, "slab_stats_json") ? "loaded" : "not loaded");
    printf("standard API: %016" PRIx64 "\n", standard_mix(1, 100000));
    printf("jemalloc API: %016" PRIx64 "\n", jemalloc_api(2, 10000, 1));
    /* Mixed in one stretch: blocks of both kinds live together. */
    void *std[64], *je[64];
    for (int i = 0; i < 64; i++) {
        std[i] = malloc((size_t)i * 40000 + 1);
        je[i] = mallocx((size_t)i * 40000 + 1, 0);
        if (!std[i] || !je[i])
            FAIL("mixed allocation");
        memset(std[i], i, (size_t)i * 40000 + 1);
        memset(je[i], i, (size_t)i * 40000 + 1);
    }
    for (int i = 0; i < 64; i++) {
        if (memcmp(std[i], je[i], (size_t)i * 40000 + 1) != 0)
            FAIL("mixed blocks differ");
        free(std[i]);
        dallocx(je[i], 0);
    }
    malloc_trim(0);
    pthread_t t[3];
    struct targ a[3];
    for (int i = 0; i < 3; i++) {
        a[i].seed = 100 + (uint64_t)i;
        if (pthread_create(&t[i], NULL, thread_main, &a[i]))
            FAIL("pthread_create");
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        printf("thread %d: %016" PRIx64 "\n", i, a[i].result);
    }
    printf("jemalloc_mix done\n");
    return 0;
}
