// expect: exit 0
/* large_align: aligned medium and large blocks.  Every power-of-two
 * alignment from 16 B to 64 MiB through posix_memalign, memalign and
 * aligned_alloc, with sizes from 8 KiB to 64 MiB around each alignment
 * (8 KiB, 8 KiB + 1, align/2, align - 1, align, align + 1,
 * 2 * align + align / 2 + 3, capped at 64 MiB + 1): each block is checked for
 * alignment and usable size, written in full while the whole batch is live
 * (overlaps are caught), verified and freed in a shuffled order, and must
 * come from zslab (glibc's own in-use bytes do not grow by its size).  Then
 * many live blocks of random alignment (16 B - 2 MiB) and size
 * (8 KiB - 4 MiB) with interleaved frees, so aligned blocks reuse each
 * other's space; small sizes (1 B - 8000 B) with alignments of 4 KiB -
 * 64 MiB; and valloc/pvalloc of large sizes.
 */
#include "large_test.h"

#define MIN_SHIFT 4  /* 16 B */
#define MAX_SHIFT 26 /* 64 MiB */
#define MAX_SIZE (64 * MiBz + 1)

enum fn { FN_POSIX_MEMALIGN, FN_MEMALIGN, FN_ALIGNED_ALLOC, FN_COUNT };
static const char *const fn_name[] = {"posix_memalign", "memalign", "aligned_alloc"};

struct blk {
    void *p;
    size_t size, req;
    uint64_t seed;
};

static rng_t rng;
static unsigned long nblocks;

static void *do_alloc(enum fn f, size_t align, size_t size)
{
    void *p = NULL;
    size_t g = lt_glibc_bytes();
    switch (f) {
    case FN_POSIX_MEMALIGN: {
        int r = posix_memalign(&p, align, size);
        CHECK(r == 0, "posix_memalign(%zu, %zu) returned %d", align, size, r);
        break;
    }
    case FN_MEMALIGN:
        p = memalign(align, size);
        break;
    case FN_ALIGNED_ALLOC:
        p = aligned_alloc(align, size);
        break;
    default:
        abort();
    }
    CHECK(p != NULL, "%s(%zu, %zu) returned NULL (errno %d)", fn_name[f], align, size,
          errno);
    LT_FROM_ZSLAB(g, size, "%s(align %zu)", fn_name[f], align);
    CHECK(is_aligned(p, align), "%s(%zu, %zu) = %p is not %zu-byte aligned", fn_name[f],
          align, size, p, align);
    size_t us = malloc_usable_size(p);
    CHECK(us >= size, "%s(%zu, %zu): usable size %zu too small", fn_name[f], align, size,
          us);
    nblocks++;
    return p;
}

static void shuffle(struct blk *b, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(&rng, i);
        struct blk t = b[i - 1];
        b[i - 1] = b[j];
        b[j] = t;
    }
}

static void release(struct blk *b, const char *ctx)
{
    CHECK(malloc_usable_size(b->p) == b->size, "%s: usable size of %p changed while "
          "live (%zu -> %zu)", ctx, b->p, b->size, malloc_usable_size(b->p));
    CHECK_PATTERN(b->p, b->size, b->seed, "%s: block of %zu bytes corrupted while live",
                  ctx, b->req);
    free(b->p);
    b->p = NULL;
}

static void test_batch(enum fn f, size_t align)
{
    size_t cand[16], n = 0;
    cand[n++] = 8192;
    cand[n++] = 8193;
    if (align / 2 > 8193)
        cand[n++] = align / 2;
    if (align - 1 > 8193)
        cand[n++] = align - 1;
    if (align > 8193)
        cand[n++] = align;
    if (align + 1 > 8193)
        cand[n++] = align + 1;
    size_t big = 2 * align + align / 2 + 3;
    if (big > 8193)
        cand[n++] = big < MAX_SIZE ? big : MAX_SIZE;
    if (align <= 1 << 20)
        cand[n++] = 3 * align + 300000;

    struct blk b[16];
    for (size_t i = 0; i < n; i++) {
        size_t size = cand[i];
        void *p = do_alloc(f, align, size);
        b[i].p = p;
        b[i].req = size;
        b[i].size = malloc_usable_size(p);
        b[i].seed = mix64(((uint64_t)f << 40) ^ ((uint64_t)align << 8) ^ i);
        fill_pattern(p, b[i].size, b[i].seed);
    }
    shuffle(b, n);
    for (size_t i = 0; i < n; i++)
        release(&b[i], fn_name[f]);
}

/* Small requests with large alignments: served by zslab as well (every
 * alignment up to 64 MiB), whatever the size. */
static void test_small_sizes(void)
{
    static const size_t ns[] = {1, 100, 4000, 8000};
    for (int shift = 12; shift <= MAX_SHIFT; shift += 2) {
        size_t align = (size_t)1 << shift;
        struct blk b[FN_COUNT * 4];
        size_t n = 0;
        for (int f = 0; f < FN_COUNT; f++)
            for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
                size_t g = lt_glibc_bytes();
                void *p = do_alloc((enum fn)f, align, ns[i]);
                /* glibc's arena grows by at least the alignment for such a
                 * block; check that instead of the (small) size. */
                LT_FROM_ZSLAB(g, align, "%s(align %zu, size %zu)", fn_name[f], align, ns[i]);
                b[n].p = p;
                b[n].req = ns[i];
                b[n].size = malloc_usable_size(p);
                b[n].seed = mix64(align + i * 7 + (size_t)f);
                fill_pattern(p, b[n].size, b[n].seed);
                n++;
            }
        shuffle(b, n);
        for (size_t i = 0; i < n; i++)
            release(&b[i], "small size, large alignment");
    }
}

static void test_mixed(void)
{
    enum { N = 600 };
    static struct blk b[N];
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < N; i++) {
            enum fn f = (enum fn)rng_below(&rng, FN_COUNT);
            size_t align = (size_t)1 << rng_range(&rng, 4, 21);
            size_t size = rng_below(&rng, 10) == 0 ? (size_t)rng_range(&rng, 8193, 4 * MiBz)
                                                   : (size_t)rng_range(&rng, 8193, 300000);
            void *p = do_alloc(f, align, size);
            b[i].p = p;
            b[i].req = size;
            b[i].size = malloc_usable_size(p);
            b[i].seed = mix64(i * 7919 + (size_t)round);
            fill_pattern(p, b[i].size, b[i].seed);
            if (i > 0 && rng_below(&rng, 3) == 0) {
                size_t j = (size_t)rng_below(&rng, i);
                if (b[j].p)
                    release(&b[j], "mixed alignments");
            }
        }
        shuffle(b, N);
        for (size_t i = 0; i < N; i++)
            if (b[i].p)
                release(&b[i], "mixed alignments");
    }
}

static void test_valloc_pvalloc(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    static const size_t ns[] = {8191,     8192,        8193,       12288,      65535,
                                65536,    65537,       200000,     1 << 20,    (1 << 20) + 1,
                                3 << 20,  (4 << 20) - 1, 33 << 20, (64 << 20) + 1};
    enum { M = 2 * sizeof ns / sizeof ns[0] };
    struct blk b[M];
    size_t n = 0;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        size_t g = lt_glibc_bytes();
        void *p = valloc(ns[i]);
        CHECK(p != NULL, "valloc(%zu) failed", ns[i]);
        LT_FROM_ZSLAB(g, ns[i], "valloc");
        CHECK(is_aligned(p, page), "valloc(%zu) = %p not page aligned", ns[i], p);
        CHECK(malloc_usable_size(p) >= ns[i], "valloc usable size");
        b[n].p = p;
        b[n].req = ns[i];
        b[n].size = malloc_usable_size(p);
        b[n].seed = mix64(n + 1000);
        fill_pattern(p, b[n].size, b[n].seed);
        n++;
        size_t rounded = (ns[i] + page - 1) / page * page;
        g = lt_glibc_bytes();
        p = pvalloc(ns[i]);
        CHECK(p != NULL, "pvalloc(%zu) failed", ns[i]);
        LT_FROM_ZSLAB(g, ns[i], "pvalloc");
        CHECK(is_aligned(p, page), "pvalloc(%zu) = %p not page aligned", ns[i], p);
        CHECK(malloc_usable_size(p) >= rounded, "pvalloc(%zu): usable %zu < %zu", ns[i],
              malloc_usable_size(p), rounded);
        b[n].p = p;
        b[n].req = rounded;
        b[n].size = malloc_usable_size(p);
        b[n].seed = mix64(n + 1000);
        fill_pattern(p, b[n].size, b[n].seed);
        n++;
    }
    shuffle(b, n);
    for (size_t i = 0; i < n; i++)
        release(&b[i], "valloc/pvalloc");
}

int main(void)
{
    rng_seed(&rng, 4242);
    watchdog(110);
    double t0 = lt_now();
    lt_glibc_bytes();
    for (int shift = MIN_SHIFT; shift <= MAX_SHIFT; shift++)
        for (int f = 0; f < FN_COUNT; f++)
            test_batch((enum fn)f, (size_t)1 << shift);
    /* Again in reverse order (up to 4 MiB alignments, for time): big aligned
     * blocks followed by small ones. */
    for (int shift = 22; shift >= MIN_SHIFT; shift--)
        for (int f = FN_COUNT - 1; f >= 0; f--)
            test_batch((enum fn)f, (size_t)1 << shift);
    test_small_sizes();
    test_mixed();
    test_valloc_pvalloc();
    printf("%lu aligned blocks checked in %.2fs\n", nblocks, lt_now() - t0);
    ok("large_align");
    return 0;
}
