// expect: exit 0
/* too_large: impossibly large requests fail cleanly with ENOMEM.
 *
 * Port of glibc's tst-malloc-too-large (bugs 22375/22343: integer overflow
 * while padding huge sizes made malloc return a small block).  For sizes
 * near SIZE_MAX, just above PTRDIFF_MAX, and a sweep of sizes >= 2^50 (the
 * address space is additionally capped at 2^50 bytes with RLIMIT_AS), every
 * allocation function must return NULL/ENOMEM (posix_memalign returns ENOMEM
 * and leaves *memptr alone), realloc/reallocarray must leave the original
 * block intact, and a small malloc/free before each call keeps the fast
 * paths warm.  The original iterates over every value; this port samples
 * the ranges densely enough to stay fast even if failure costs a syscall.
 *
 * Under zslab, a request larger than its whole region goes to glibc (which
 * fails it here): that is not a fallback (no block was served), so the
 * statistics count none and zslab warns of nothing (its "region full"
 * warning once said so for every such request).
 */
#include "zslab_test.h"

#include <sys/resource.h>

static unsigned long ncalls;

static void test_setup(void)
{
    void *volatile p = malloc(16);
    CHECK(p != NULL, "malloc(16) failed");
    free(p);
    errno = 0;
}

static void expect_enomem(void *p, const char *what, size_t a, size_t b)
{
    int e = errno;
    ncalls++;
    CHECK(p == NULL, "%s(%#zx, %#zx) returned %p, expected NULL", what, a, b, p);
    CHECK(e == ENOMEM, "%s(%#zx, %#zx): errno = %d (%s), expected ENOMEM", what, a,
          b, e, strerror(e));
}

static void *fresh_block(void)
{
    void *p = malloc(16);
    CHECK(p != NULL, "malloc(16) failed");
    fill_pattern(p, 16, 0xfeed);
    return p;
}

static void check_block_and_free(void *p, const char *what, size_t a, size_t b)
{
    CHECK_PATTERN(p, 16, 0xfeed, "%s(%#zx, %#zx) failed but damaged the block", what,
                  a, b);
    free(p);
}

static void test_large_allocations(size_t size)
{
    size = opaque_size(size);
    test_setup();
    expect_enomem(malloc(size), "malloc", size, 0);

    void *q = fresh_block();
    test_setup();
    expect_enomem(realloc(opaque_ptr(q), size), "realloc", size, 0);
    check_block_and_free(q, "realloc", size, 0);

    test_setup();
    expect_enomem(realloc(NULL, size), "realloc(NULL)", size, 0);

    for (size_t nmemb = 1; nmemb <= 8; nmemb *= 2) {
        if (size % nmemb != 0)
            break;
        size_t a = opaque_size(nmemb), b = opaque_size(size / nmemb);
        test_setup();
        expect_enomem(calloc(a, b), "calloc", a, b);
        test_setup();
        expect_enomem(calloc(b, a), "calloc", b, a);

        q = fresh_block();
        test_setup();
        expect_enomem(reallocarray(opaque_ptr(q), a, b), "reallocarray", a, b);
        check_block_and_free(q, "reallocarray", a, b);

        q = fresh_block();
        test_setup();
        expect_enomem(reallocarray(opaque_ptr(q), b, a), "reallocarray", b, a);
        check_block_and_free(q, "reallocarray", b, a);
    }
}

static void test_large_aligned_allocations(size_t size)
{
    size = opaque_size(size);
    void *const sentinel = NULL;
    for (size_t align = 1; align > 0; align <<= 1) {
        test_setup();
        expect_enomem(memalign(opaque_size(align), size), "memalign", align, size);

        if (align % sizeof(void *) == 0) {
            void *p = sentinel;
            test_setup();
            int r = posix_memalign(&p, align, size);
            ncalls++;
            CHECK(r == ENOMEM, "posix_memalign(%#zx, %#zx) returned %d, expected ENOMEM",
                  align, size, r);
            CHECK(p == sentinel, "posix_memalign(%#zx, %#zx) modified *memptr", align,
                  size);
        }
        if (size % align == 0) {
            test_setup();
            expect_enomem(aligned_alloc(opaque_size(align), size), "aligned_alloc",
                          align, size);
        }
    }
    test_setup();
    expect_enomem(valloc(size), "valloc", size, 0);
    test_setup();
    expect_enomem(pvalloc(size), "pvalloc", size, 0);
}

static void test_size(size_t size)
{
    test_large_allocations(size);
    test_large_aligned_allocations(size);
}

#define FOURTEEN_ON_BITS ((1UL << 14) - 1)
#define FIFTY_ON_BITS ((1UL << 50) - 1)

/* Dense at the start of a range, then sampled. */
static int sampled(size_t i)
{
    return i <= 300 || i % 97 == 0 || i == FOURTEEN_ON_BITS;
}

int main(void)
{
    /* Allocations wider than 50 bits can never succeed. */
    struct rlimit lim = {.rlim_cur = FIFTY_ON_BITS, .rlim_max = FIFTY_ON_BITS};
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit(RLIMIT_AS): %s", strerror(errno));

    /* Sizes in (SIZE_MAX - 2^14, SIZE_MAX]. */
    for (size_t i = 0; i <= FOURTEEN_ON_BITS; i++)
        if (sampled(i))
            test_size(SIZE_MAX - i);

    /* Sizes just above PTRDIFF_MAX. */
    for (size_t i = 1; i <= FOURTEEN_ON_BITS; i++)
        if (sampled(i))
            test_size((size_t)PTRDIFF_MAX + i);
    test_size((size_t)PTRDIFF_MAX + (size_t)PTRDIFF_MAX / 2);

    /* Sizes from SIZE_MAX down to 2^50 at intervals of 2^50. */
    for (size_t msbs = FOURTEEN_ON_BITS; msbs >= 1; msbs--) {
        if (!(msbs <= 64 || msbs % 37 == 0 || msbs >= FOURTEEN_ON_BITS - 64))
            continue;
        test_size((msbs << 50) | FIFTY_ON_BITS);
        test_size(msbs << 50);
    }

    /* A few "SIZE_MAX minus a page / minus the header" classics. */
    static const size_t classic[] = {SIZE_MAX - 4096, SIZE_MAX - 4095, SIZE_MAX - 8192,
                                     SIZE_MAX - 65536, SIZE_MAX - (1 << 20),
                                     SIZE_MAX - 15, SIZE_MAX - 31, SIZE_MAX - 63};
    for (size_t i = 0; i < sizeof classic / sizeof classic[0]; i++)
        test_size(classic[i]);

    /* The allocator still works afterwards. */
    void *ps[100];
    for (int i = 0; i < 100; i++) {
        ps[i] = malloc((size_t)i * 1000 + 1);
        CHECK(ps[i] != NULL, "malloc after failures");
        fill_pattern(ps[i], (size_t)i * 1000 + 1, (uint64_t)i);
    }
    for (int i = 0; i < 100; i++) {
        CHECK_PATTERN(ps[i], (size_t)i * 1000 + 1, (uint64_t)i, "block %d", i);
        free(ps[i]);
    }
    zslab_api z;
    if (zt_load(&z)) {
        struct zslab_global_stats g;
        zt_global(&z, &g);
        CHECK(g.region_full_fallbacks == 0,
              "%llu impossible requests counted as served by glibc",
              (unsigned long long)g.region_full_fallbacks);
    }
    printf("%lu failing calls checked\n", ncalls);
    ok("too_large");
    return 0;
}
