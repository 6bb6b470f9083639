// expect: exit 0
/* align: every power-of-two alignment from 1 byte to 16 MiB through
 * posix_memalign, memalign and aligned_alloc, with sizes smaller than,
 * equal to and larger than the alignment; each block is checked for
 * alignment, fully written with a pattern while all blocks of the batch are
 * live (so overlaps are detected), verified, and freed in a shuffled order.
 * Then a mixed phase with many live blocks of random alignments, and
 * valloc/pvalloc.  (Ports tst-memalign, tst-posix_memalign,
 * tst-aligned-alloc, tst-valloc, tst-pvalloc.)
 */
#include "common.h"

#define MAX_SHIFT 24 /* 16 MiB */

enum fn { FN_POSIX_MEMALIGN, FN_MEMALIGN, FN_ALIGNED_ALLOC, FN_COUNT };
static const char *const fn_name[] = {"posix_memalign", "memalign",
                                      "aligned_alloc"};

static void *do_alloc(enum fn f, size_t align, size_t size)
{
    void *p = NULL;
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
    CHECK(p != NULL, "%s(%zu, %zu) returned NULL (errno %d)", fn_name[f], align,
          size, errno);
    return p;
}

struct blk {
    void *p;
    size_t size;
    uint64_t seed;
};

static rng_t rng;

static void shuffle(struct blk *b, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(&rng, i);
        struct blk t = b[i - 1];
        b[i - 1] = b[j];
        b[j] = t;
    }
}

static void test_batch(enum fn f, size_t align)
{
    size_t cand[16], n = 0;
    cand[n++] = 1;
    cand[n++] = 24;
    cand[n++] = 4000;
    if (align / 2 > 1)
        cand[n++] = align / 2;
    if (align > 1)
        cand[n++] = align - 1;
    cand[n++] = align;
    cand[n++] = align + 1;
    cand[n++] = 2 * align + align / 2 + 3;
    if (align <= 4096)
        cand[n++] = 3 * align + 100000;

    struct blk b[16];
    for (size_t i = 0; i < n; i++) {
        size_t size = cand[i];
        void *p = do_alloc(f, align, size);
        size_t want = align < 16 ? 16 : align;
        CHECK(is_aligned(p, want), "%s(%zu, %zu) = %p is not %zu-byte aligned",
              fn_name[f], align, size, p, want);
        size_t us = malloc_usable_size(p);
        CHECK(us >= size, "%s(%zu, %zu): usable size %zu too small", fn_name[f],
              align, size, us);
        b[i].p = p;
        b[i].size = us;
        b[i].seed = mix64(((uint64_t)f << 40) ^ ((uint64_t)align << 8) ^ i);
        fill_pattern(p, us, b[i].seed);
    }
    shuffle(b, n);
    for (size_t i = 0; i < n; i++) {
        CHECK_PATTERN(b[i].p, b[i].size, b[i].seed,
                      "%s(align %zu): block corrupted while live", fn_name[f], align);
        free(b[i].p);
    }
}

static void test_posix_memalign_small_align(void)
{
    /* Alignments that are powers of two but not multiples of sizeof(void*). */
    for (size_t a = 1; a < sizeof(void *); a *= 2) {
        void *p = (void *)(uintptr_t)0xdead0;
        int r = posix_memalign(&p, opaque_size(a), 16);
        CHECK(r == EINVAL, "posix_memalign(%zu, 16) returned %d, expected EINVAL", a,
              r);
        CHECK(p == (void *)(uintptr_t)0xdead0, "posix_memalign modified *memptr");
    }
}

/* Many live blocks of random alignment and size, freed in random order. */
static void test_mixed(void)
{
    enum { N = 3000 };
    static struct blk b[N];
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < N; i++) {
            enum fn f = (enum fn)rng_below(&rng, FN_COUNT);
            size_t align = (size_t)1 << rng_range(&rng, f == FN_POSIX_MEMALIGN ? 3 : 0, 13);
            size_t size = rng_below(&rng, 8) == 0 ? (size_t)rng_range(&rng, 1, 70000)
                                                  : (size_t)rng_range(&rng, 0, 600);
            void *p = do_alloc(f, align, size);
            size_t want = align < 16 ? 16 : align;
            CHECK(is_aligned(p, want), "%s(%zu, %zu) = %p misaligned", fn_name[f],
                  align, size, p);
            size_t us = malloc_usable_size(p);
            CHECK(us >= size, "usable size %zu < %zu", us, size);
            b[i].p = p;
            b[i].size = us;
            b[i].seed = mix64(i * 7919 + (size_t)round);
            fill_pattern(p, us, b[i].seed);
            /* Interleave frees so that blocks get reused across alignments. */
            if (i > 0 && rng_below(&rng, 3) == 0) {
                size_t j = (size_t)rng_below(&rng, i);
                if (b[j].p) {
                    CHECK_PATTERN(b[j].p, b[j].size, b[j].seed,
                                  "mixed-alignment block corrupted");
                    free(b[j].p);
                    b[j].p = NULL;
                }
            }
        }
        shuffle(b, N);
        for (size_t i = 0; i < N; i++) {
            if (!b[i].p)
                continue;
            CHECK_PATTERN(b[i].p, b[i].size, b[i].seed, "mixed-alignment block corrupted");
            free(b[i].p);
            b[i].p = NULL;
        }
    }
}

static void test_valloc_pvalloc(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    static const size_t ns[] = {1, 16, 100, 2048, 4095, 4096, 4097, 8192, 10000,
                                65535, 65536, 65537, 200000, 1 << 20, 3 << 20};
    struct blk b[2 * sizeof ns / sizeof ns[0]];
    size_t n = 0;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        void *p = valloc(ns[i]);
        CHECK(p != NULL, "valloc(%zu) failed", ns[i]);
        CHECK(is_aligned(p, page), "valloc(%zu) = %p not page aligned", ns[i], p);
        CHECK(malloc_usable_size(p) >= ns[i], "valloc usable size");
        b[n].p = p;
        b[n].size = malloc_usable_size(p);
        b[n].seed = mix64(n + 1000);
        fill_pattern(p, b[n].size, b[n].seed);
        n++;
        size_t rounded = (ns[i] + page - 1) / page * page;
        p = pvalloc(ns[i]);
        CHECK(p != NULL, "pvalloc(%zu) failed", ns[i]);
        CHECK(is_aligned(p, page), "pvalloc(%zu) = %p not page aligned", ns[i], p);
        CHECK(malloc_usable_size(p) >= rounded, "pvalloc(%zu): usable %zu < %zu",
              ns[i], malloc_usable_size(p), rounded);
        b[n].p = p;
        b[n].size = malloc_usable_size(p);
        b[n].seed = mix64(n + 1000);
        fill_pattern(p, b[n].size, b[n].seed);
        n++;
    }
    shuffle(b, n);
    for (size_t i = 0; i < n; i++) {
        CHECK_PATTERN(b[i].p, b[i].size, b[i].seed, "valloc/pvalloc block corrupted");
        free(b[i].p);
    }
}

int main(void)
{
    rng_seed(&rng, 12345);
    test_posix_memalign_small_align();
    for (int shift = 0; shift <= MAX_SHIFT; shift++) {
        size_t align = (size_t)1 << shift;
        for (int f = 0; f < FN_COUNT; f++) {
            if (f == FN_POSIX_MEMALIGN && align < sizeof(void *))
                continue;
            test_batch((enum fn)f, align);
        }
    }
    /* Again in reverse alignment order, so that big aligned blocks are
     * followed by small ones that may reuse their space. */
    for (int shift = MAX_SHIFT; shift >= 0; shift--)
        for (int f = FN_COUNT - 1; f >= 0; f--)
            if (!(f == FN_POSIX_MEMALIGN && ((size_t)1 << shift) < sizeof(void *)))
                test_batch((enum fn)f, (size_t)1 << shift);
    test_mixed();
    test_valloc_pvalloc();
    ok("align");
    return 0;
}
