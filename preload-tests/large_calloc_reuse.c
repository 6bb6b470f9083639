// expect: exit 0
/* large_calloc_reuse: calloc returns zeroed memory when it reuses medium and
 * large blocks that were dirtied and freed.  An allocator that caches freed
 * blocks (or pages) must zero them on calloc; one that relies on fresh pages
 * being zero must not be fooled by pages it kept.
 *
 * For sizes 8 KiB .. 64 MiB (and beyond): rounds of "allocate K blocks,
 * fill every usable byte with 0xA5, free them (forward / backward), calloc
 * K blocks of the same size (as 1 x n, n x 1, n/16 x 16, ...) and check
 * every requested byte is zero", then the calloc'd blocks are dirtied and
 * freed for the next round.  Plus the cases where the dirty bytes come from
 * a different block: a bigger dirty block freed and a smaller calloc, two
 * dirty neighbours freed and one calloc spanning both, the dirty tail left
 * by a realloc that shrank a block, a block freed by another thread, and
 * calloc after malloc_trim.  Every calloc'd block must come from zslab.
 */
#include "large_test.h"

#include <pthread.h>

static unsigned long ncallocs;

static void *checked_calloc(size_t nm, size_t sz, const char *ctx)
{
    size_t n = nm * sz;
    size_t g = lt_glibc_bytes();
    unsigned char *p = calloc(nm, sz);
    CHECK(p != NULL, "%s: calloc(%zu, %zu) failed", ctx, nm, sz);
    LT_FROM_ZSLAB(g, n, "calloc (%s)", ctx);
    CHECK(is_aligned(p, 16), "%s: calloc(%zu, %zu) = %p misaligned", ctx, nm, sz, p);
    CHECK(malloc_usable_size(p) >= n, "%s: calloc usable size too small", ctx);
    size_t bad = check_zero(p, n);
    CHECK(bad == (size_t)-1, "%s: calloc(%zu, %zu) = %p: byte %zu of %zu is 0x%02x, "
          "not zero", ctx, nm, sz, (void *)p, bad, n, p[bad]);
    ncallocs++;
    return p;
}

static void dirty(void *p)
{
    memset(p, 0xA5, malloc_usable_size(p));
}

static void split(size_t n, int how, size_t *nm, size_t *sz)
{
    switch (how % 4) {
    case 0: *nm = 1; *sz = n; break;
    case 1: *nm = n; *sz = 1; break;
    case 2: if (n % 16 == 0) { *nm = n / 16; *sz = 16; } else { *nm = 1; *sz = n; } break;
    default: if (n % 4096 == 0) { *nm = 4096; *sz = n / 4096; } else { *nm = n; *sz = 1; } break;
    }
}

static void rounds(size_t n, int k, int nrounds)
{
    void *ps[16];
    char ctx[64];
    snprintf(ctx, sizeof ctx, "reuse of %zu-byte blocks", n);
    for (int i = 0; i < k; i++) {
        ps[i] = malloc(n);
        CHECK(ps[i] != NULL, "malloc(%zu)", n);
        dirty(ps[i]);
    }
    for (int round = 0; round < nrounds; round++) {
        for (int i = 0; i < k; i++)
            free(ps[(round & 1) ? k - 1 - i : i]);
        for (int i = 0; i < k; i++) {
            size_t nm, sz;
            split(n, i + round, &nm, &sz);
            ps[i] = checked_calloc(nm, sz, ctx);
            dirty(ps[i]);
        }
    }
    for (int i = 0; i < k; i++)
        free(ps[i]);
}

/* A dirty block of `big` bytes freed, then a calloc of `small` bytes. */
static void bigger_then_smaller(size_t big, size_t small)
{
    for (int rep = 0; rep < 4; rep++) {
        void *p = malloc(big);
        CHECK(p != NULL, "malloc(%zu)", big);
        dirty(p);
        free(p);
        void *q = checked_calloc(1, small, "calloc smaller than a freed dirty block");
        dirty(q);
        free(q);
    }
}

/* Two dirty neighbours freed, then one calloc that may span both. */
static void neighbours(size_t n)
{
    for (int rep = 0; rep < 4; rep++) {
        void *a = malloc(n), *b = malloc(n), *c = malloc(n);
        CHECK(a && b && c, "malloc(%zu) x3", n);
        dirty(a);
        dirty(b);
        dirty(c);
        free(b);
        free(a);
        void *q = checked_calloc(2, n, "calloc over two freed dirty neighbours");
        void *r = checked_calloc(1, n + n / 2, "calloc over freed dirty neighbours");
        dirty(q);
        dirty(r);
        free(q);
        free(r);
        free(c);
    }
}

/* realloc shrinking a dirty block leaves a dirty tail behind. */
static void shrink_tail(size_t n)
{
    for (int rep = 0; rep < 4; rep++) {
        void *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        dirty(p);
        void *s = realloc(p, n / 8);
        CHECK(s != NULL, "realloc shrink");
        void *q = checked_calloc(1, n / 2, "calloc after a realloc shrank a dirty block");
        void *r = checked_calloc(1, n - n / 8 - 4096, "calloc after a realloc shrank a dirty block");
        dirty(q);
        dirty(r);
        free(q);
        free(r);
        free(s);
    }
}

static void *remote_free_thread(void *arg)
{
    void **ps = arg;
    for (int i = 0; ps[i]; i++)
        free(ps[i]);
    return NULL;
}

/* Blocks freed by another thread, then calloc'd here. */
static void remote(size_t n)
{
    void *ps[9] = {0};
    for (int rep = 0; rep < 3; rep++) {
        for (int i = 0; i < 8; i++) {
            ps[i] = malloc(n);
            CHECK(ps[i] != NULL, "malloc(%zu)", n);
            dirty(ps[i]);
        }
        ps[8] = NULL;
        pthread_t t;
        CHECK(pthread_create(&t, NULL, remote_free_thread, ps) == 0, "pthread_create");
        pthread_join(t, NULL);
        void *qs[8];
        for (int i = 0; i < 8; i++)
            qs[i] = checked_calloc(1, n, "calloc after frees by another thread");
        for (int i = 0; i < 8; i++) {
            dirty(qs[i]);
            free(qs[i]);
        }
    }
}

static void after_trim(size_t n)
{
    void *ps[8];
    for (int i = 0; i < 8; i++) {
        ps[i] = malloc(n);
        CHECK(ps[i] != NULL, "malloc");
        dirty(ps[i]);
    }
    for (int i = 0; i < 8; i++)
        free(ps[i]);
    malloc_trim(0);
    for (int i = 0; i < 8; i++)
        ps[i] = checked_calloc(1, n, "calloc after malloc_trim");
    for (int i = 0; i < 8; i++)
        free(ps[i]);
}

int main(void)
{
    watchdog(110);
    double t0 = lt_now();
    lt_glibc_bytes();
    static const size_t ns[] = {8192,      8193,      9000,      12 * KiB + 7, 16 * KiB,
                                16 * KiB + 1, 30000,  32 * KiB,  65535,       65536,
                                65537,     100000,    128 * KiB, 200000,      256 * KiB + 1,
                                500000,    1 * MiBz,  1 * MiBz + 1, 3 * MiBz + 5, 4 * MiBz,
                                8 * MiBz + 1};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        rounds(ns[i], ns[i] <= MiBz ? 12 : 6, 4);
    rounds(32 * MiBz - 1, 2, 3);
    rounds(64 * MiBz + 1, 2, 2);
    rounds(100 * MiBz, 1, 2);
    /* The same size many times in a row. */
    static const size_t again[] = {16 * KiB, 256 * KiB, 2 * MiBz};
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++)
        rounds(again[i], 1, 60);

    bigger_then_smaller(1 * MiBz, 600 * KiB);
    bigger_then_smaller(64 * KiB, 9000);
    bigger_then_smaller(40 * MiBz, 20 * MiBz + 3);
    neighbours(12 * KiB);
    neighbours(300 * KiB);
    neighbours(3 * MiBz);
    shrink_tail(64 * KiB);
    shrink_tail(2 * MiBz);
    shrink_tail(48 * MiBz);
    remote(24 * KiB);
    remote(1 * MiBz);
    after_trim(40 * KiB);
    after_trim(2 * MiBz);
    printf("%lu calloc blocks checked in %.2fs\n", ncallocs, lt_now() - t0);
    ok("large_calloc_reuse");
    return 0;
}
