// expect: exit 0
/* api_conformance: the malloc API contract (glibc 2.36 semantics).
 *
 * Ports the logic of glibc's tst-malloc, tst-calloc, tst-realloc,
 * tst-reallocarray, tst-valloc, tst-pvalloc, tst-memalign,
 * tst-posix_memalign and tst-aligned-alloc:
 *  - every pointer is 16-byte aligned, usable size >= requested, and every
 *    usable byte can be written (checked with a pattern over a window of
 *    live blocks, so overlapping blocks are detected);
 *  - malloc(0) gives unique non-NULL pointers;
 *  - calloc returns zeroed memory even when reusing dirty freed blocks;
 *  - realloc(NULL, n) == malloc(n), realloc(p, 0) frees and returns NULL;
 *  - failure returns NULL with errno == ENOMEM, overflow in calloc and
 *    reallocarray fails with ENOMEM;
 *  - free(NULL) is a no-op; free preserves errno;
 *  - posix_memalign: EINVAL for bad alignments, ENOMEM for absurd sizes,
 *    *memptr untouched on failure;
 *  - memalign/aligned_alloc round non-power-of-two alignments up;
 *  - valloc is page aligned, pvalloc rounds up to a page (pvalloc(0) = page);
 *  - malloc_usable_size(NULL) == 0; cfree exists;
 *  - all allocation/free entry points resolve into the same object as
 *    malloc (a function left to glibc would mix two allocators);
 *  - mallinfo2/malloc_trim/mallopt/malloc_stats are callable and sane.
 */
#include "common.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>

/* cfree is a compat-only symbol in glibc >= 2.26, so bind to it explicitly. */
extern void cfree(void *);
__asm__(".symver cfree,cfree@GLIBC_2.2.5");

static size_t page;

/* ------------------------------------------------------------------------
 * A ring of live blocks, each filled with a distinct pattern over its whole
 * usable size.  The pattern is verified when the block leaves the ring, so
 * any overlap between live blocks (or corruption) is detected.
 */
#define RING 48
struct blk {
    void *p;
    size_t usable;
    uint64_t seed;
    const char *what;
    size_t req;
};
static struct blk ring[RING];
static unsigned ring_pos;
static uint64_t seed_ctr = 1;

static void blk_retire(struct blk *b)
{
    if (!b->p)
        return;
    CHECK_PATTERN(b->p, b->usable, b->seed, "%s(%zu) corrupted while live",
                  b->what, b->req);
    free(b->p);
    b->p = NULL;
}

static void ring_flush(void)
{
    for (unsigned i = 0; i < RING; i++)
        blk_retire(&ring[i]);
}

/* Validate a fresh block and hand it to the ring. */
static void track(void *p, size_t req, size_t align, const char *what)
{
    CHECK(p != NULL, "%s(%zu) returned NULL (errno %d)", what, req, errno);
    CHECK(is_aligned(p, 16), "%s(%zu) = %p is not 16-byte aligned", what, req, p);
    if (align > 16)
        CHECK(is_aligned(p, align), "%s(%zu) = %p is not %zu-byte aligned", what,
              req, p, align);
    size_t us = malloc_usable_size(p);
    CHECK(us >= req, "%s(%zu): malloc_usable_size = %zu < requested", what, req,
          us);
    struct blk *b = &ring[ring_pos++ % RING];
    blk_retire(b);
    b->p = p;
    b->usable = us;
    b->seed = mix64(seed_ctr++);
    b->what = what;
    b->req = req;
    fill_pattern(p, us, b->seed);
}

/* Sizes: every size 0..4096, a stride through 4 KiB..64 KiB, then powers of
 * two and +-1 around them up to 64 MiB. */
static size_t sizes[16384];
static size_t nsizes;

static void build_sizes(void)
{
    size_t s;
    for (s = 0; s <= 4096; s++)
        sizes[nsizes++] = s;
    for (s = 4097; s <= 65536; s += 29)
        sizes[nsizes++] = s;
    for (int k = 1; k <= 26; k++) {
        size_t p2 = (size_t)1 << k;
        sizes[nsizes++] = p2 - 1;
        sizes[nsizes++] = p2;
        sizes[nsizes++] = p2 + 1;
    }
}

static void test_malloc_sizes(void)
{
    for (size_t i = 0; i < nsizes; i++)
        track(malloc(sizes[i]), sizes[i], 0, "malloc");
    ring_flush();
    /* Same again, via realloc(NULL, n), which must behave like malloc. */
    for (size_t i = 0; i < nsizes; i++)
        track(realloc(NULL, sizes[i]), sizes[i], 0, "realloc(NULL)");
    ring_flush();
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void test_malloc_zero(void)
{
    enum { N = 200 };
    void *ps[N];
    for (int i = 0; i < N; i++) {
        ps[i] = malloc(opaque_size(0));
        CHECK(ps[i] != NULL, "malloc(0) returned NULL (#%d)", i);
        CHECK(is_aligned(ps[i], 16), "malloc(0) = %p not 16-byte aligned", ps[i]);
        size_t us = malloc_usable_size(ps[i]);
        memset(ps[i], 0x5a, us);
    }
    void *sorted[N];
    memcpy(sorted, ps, sizeof sorted);
    qsort(sorted, N, sizeof(void *), cmp_ptr);
    for (int i = 1; i < N; i++)
        CHECK(sorted[i] != sorted[i - 1], "malloc(0) returned %p twice", sorted[i]);
    for (int i = 0; i < N; i++)
        free(ps[i]);

    /* calloc with a zero count or size, realloc(NULL, 0). */
    void *a = calloc(0, 16), *b = calloc(16, 0), *c = calloc(0, 0);
    void *d = realloc(NULL, 0);
    CHECK(a && b && c && d, "calloc(0,16)=%p calloc(16,0)=%p calloc(0,0)=%p "
          "realloc(NULL,0)=%p: expected non-NULL", a, b, c, d);
    CHECK(a != b && a != c && b != c && d != a && d != b && d != c,
          "zero-size allocations not unique");
    free(a);
    free(b);
    free(c);
    free(d);
}

static void test_calloc(void)
{
    static const size_t csizes[] = {1,    2,    7,     8,     15,    16,    17,
                                    24,   31,   32,    33,    48,    63,    64,
                                    65,   96,   100,   127,   128,   129,   200,
                                    255,  256,  257,   384,   500,   512,   513,
                                    700,  1000, 1024,  1025,  1500,  2000,  2048,
                                    2049, 3000, 4095,  4096,  4097,  6000,  8192,
                                    8193, 12000, 16384, 30000, 32768, 65536,
                                    65537, 100000, 131072, 131073, 262144,
                                    1 << 20, (1 << 20) + 1, 4 << 20};
    enum { K = 24 };
    void *ps[K];
    for (size_t si = 0; si < sizeof csizes / sizeof csizes[0]; si++) {
        size_t n = csizes[si];
        for (int round = 0; round < 4; round++) {
            /* Dirty blocks of the same size, then free them. */
            for (int i = 0; i < K; i++) {
                ps[i] = malloc(n);
                CHECK(ps[i] != NULL, "malloc(%zu) failed", n);
                memset(ps[i], 0xA5, malloc_usable_size(ps[i]));
            }
            for (int i = 0; i < K; i++)
                free(ps[(round & 1) ? K - 1 - i : i]);
            /* calloc must hand back zeroed memory. */
            for (int i = 0; i < K; i++) {
                size_t nm, sz;
                switch ((i + round) % 4) {
                case 0: nm = 1; sz = n; break;
                case 1: nm = n; sz = 1; break;
                case 2: nm = (n % 2 == 0) ? n / 2 : n; sz = (n % 2 == 0) ? 2 : 1; break;
                default: nm = (n % 8 == 0) ? 8 : 1; sz = (n % 8 == 0) ? n / 8 : n; break;
                }
                ps[i] = calloc(nm, sz);
                CHECK(ps[i] != NULL, "calloc(%zu, %zu) failed", nm, sz);
                CHECK(is_aligned(ps[i], 16), "calloc(%zu,%zu)=%p not aligned", nm,
                      sz, ps[i]);
                CHECK(malloc_usable_size(ps[i]) >= n, "calloc usable size too small");
                size_t bad = check_zero(ps[i], n);
                CHECK(bad == (size_t)-1,
                      "calloc(%zu, %zu) = %p: byte %zu is 0x%02x, not zero "
                      "(round %d, block %d)",
                      nm, sz, ps[i], bad, ((unsigned char *)ps[i])[bad], round, i);
                memset(ps[i], 0x5A, malloc_usable_size(ps[i]));
            }
            for (int i = 0; i < K; i++)
                free(ps[i]);
        }
    }
}

static void expect_enomem(void *p, const char *what)
{
    int e = errno;
    CHECK(p == NULL, "%s succeeded (%p), expected NULL/ENOMEM", what, p);
    CHECK(e == ENOMEM, "%s: errno = %d (%s), expected ENOMEM", what, e, strerror(e));
}

static void test_enomem(void)
{
    const size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4096,
                           (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX + 4096,
                           (size_t)1 << 62, (size_t)1 << 50};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        size_t n = opaque_size(huge[i]);
        char what[64];
        snprintf(what, sizeof what, "malloc(%#zx)", n);
        errno = 0;
        expect_enomem(malloc(n), what);
        snprintf(what, sizeof what, "calloc(1, %#zx)", n);
        errno = 0;
        expect_enomem(calloc(1, n), what);
        snprintf(what, sizeof what, "realloc(NULL, %#zx)", n);
        errno = 0;
        expect_enomem(realloc(NULL, n), what);
    }
    /* calloc multiplication overflow. */
    const size_t ov[][2] = {{SIZE_MAX / 2 + 1, 2}, {2, SIZE_MAX / 2 + 1},
                            {(size_t)1 << 32, (size_t)1 << 32},
                            {SIZE_MAX, SIZE_MAX}, {65537, SIZE_MAX / 65536},
                            {SIZE_MAX / 16 + 1, 16}};
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        size_t a = opaque_size(ov[i][0]), b = opaque_size(ov[i][1]);
        char what[80];
        snprintf(what, sizeof what, "calloc(%#zx, %#zx)", a, b);
        errno = 0;
        expect_enomem(calloc(a, b), what);
        /* reallocarray overflow: the original block must be untouched. */
        char *q = malloc(40);
        CHECK(q != NULL, "malloc(40)");
        fill_pattern(q, 40, 77);
        snprintf(what, sizeof what, "reallocarray(p, %#zx, %#zx)", a, b);
        errno = 0;
        expect_enomem(reallocarray(opaque_ptr(q), a, b), what);
        CHECK_PATTERN(q, 40, 77, "block changed by failed reallocarray");
        errno = 0;
        expect_enomem(reallocarray(NULL, a, b), "reallocarray(NULL, overflow)");
        free(q);
    }
    /* Allocation still works after failures. */
    void *p = malloc(100);
    CHECK(p != NULL, "malloc after failures");
    free(p);
}

static void test_realloc_basic(void)
{
    /* realloc(p, 0) frees p and returns NULL (glibc behaviour). */
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)(i * 37 % 5000) + 1;
        void *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        memset(p, 1, n);
        void *r = realloc(p, opaque_size(0));
        CHECK(r == NULL, "realloc(p, 0) returned %p, expected NULL (p freed)", r);
    }
    /* Growth/shrink keep contents (detailed chains in realloc_chain). */
    size_t n = 10;
    char *p = malloc(n);
    CHECK(p != NULL, "malloc(10)");
    fill_pattern(p, n, 5);
    size_t steps[] = {100, 20, 5000, 1000, 300000, 17, 1, 64, 0x21000, 8};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t m = steps[i];
        char *q = realloc(p, m);
        CHECK(q != NULL, "realloc(%zu -> %zu)", n, m);
        CHECK(is_aligned(q, 16), "realloc result %p not aligned", q);
        CHECK(malloc_usable_size(q) >= m, "realloc usable size");
        CHECK_PATTERN(q, n < m ? n : m, 5, "realloc %zu -> %zu lost data", n, m);
        fill_pattern(q, m, 5);
        p = q;
        n = m;
    }
    free(p);

    /* A failing realloc leaves the block intact. */
    p = malloc(64);
    CHECK(p != NULL, "malloc(64)");
    fill_pattern(p, 64, 9);
    errno = 0;
    expect_enomem(realloc(opaque_ptr(p), opaque_size(SIZE_MAX - 64)), "realloc(p, SIZE_MAX-64)");
    CHECK_PATTERN(p, 64, 9, "block changed by failed realloc");
    free(p);

    /* reallocarray basic. */
    int *a = reallocarray(NULL, 10, sizeof(int));
    CHECK(a != NULL, "reallocarray(NULL, 10, 4)");
    for (int i = 0; i < 10; i++)
        a[i] = i * 3;
    a = reallocarray(a, 100000, sizeof(int));
    CHECK(a != NULL, "reallocarray(a, 100000, 4)");
    for (int i = 0; i < 10; i++)
        CHECK(a[i] == i * 3, "reallocarray lost element %d", i);
    for (int i = 0; i < 100000; i++)
        a[i] = i;
    a = reallocarray(a, 3, sizeof(int));
    CHECK(a != NULL, "reallocarray shrink");
    CHECK(a[0] == 0 && a[1] == 1 && a[2] == 2, "reallocarray shrink lost data");
    free(a);
}

static void test_free_null_errno(void)
{
    errno = 1789;
    free(NULL);
    CHECK(errno == 1789, "free(NULL) changed errno to %d", errno);
    static const size_t fs[] = {0, 1, 16, 100, 1024, 5000, 70000, 300000, 5318153};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        void *p = malloc(fs[i]);
        CHECK(p != NULL, "malloc(%zu)", fs[i]);
        errno = 4321;
        free(opaque_ptr(p));
        CHECK(errno == 4321, "free of %zu-byte block changed errno to %d", fs[i],
              errno);
    }
    for (int i = 0; i < 1000; i++)
        free(NULL);
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu",
          malloc_usable_size(NULL));
}

static void test_posix_memalign(void)
{
    void *const sentinel = (void *)(uintptr_t)0x1234567;
    const size_t bad[] = {0,  1,  2,  3,  4,  5,  6,  7,  9,  12, 20, 24,
                          40, 48, 96, 100, 4095, 4097, 24576, ((size_t)1 << 20) + 8,
                          SIZE_MAX, SIZE_MAX / 2 + 9, sizeof(void *) * 3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p = sentinel;
        int r = posix_memalign(&p, opaque_size(bad[i]), 64);
        CHECK(r == EINVAL, "posix_memalign(align=%zu) returned %d, expected EINVAL",
              bad[i], r);
        CHECK(p == sentinel, "posix_memalign(align=%zu) modified *memptr on failure",
              bad[i]);
    }
    for (size_t a = sizeof(void *); a <= 65536; a *= 2) {
        static const size_t ns[] = {0, 1, 8, 15, 16, 100, 4096, 10000};
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
            void *p = sentinel;
            int r = posix_memalign(&p, a, ns[j]);
            CHECK(r == 0, "posix_memalign(%zu, %zu) returned %d", a, ns[j], r);
            CHECK(p != sentinel && p != NULL, "posix_memalign(%zu, %zu) gave %p", a,
                  ns[j], p);
            track(p, ns[j], a, "posix_memalign");
        }
    }
    ring_flush();
    const size_t absurd[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1,
                             (size_t)1 << 62};
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++)
        for (size_t a = 8; a <= ((size_t)1 << 24); a *= 8) {
            void *p = sentinel;
            int r = posix_memalign(&p, a, opaque_size(absurd[i]));
            CHECK(r == ENOMEM, "posix_memalign(%zu, %#zx) returned %d, expected ENOMEM",
                  a, absurd[i], r);
            CHECK(p == sentinel, "posix_memalign(%zu, %#zx) modified *memptr", a,
                  absurd[i]);
        }
}

static size_t next_pow2(size_t x)
{
    size_t p = 1;
    while (p < x)
        p <<= 1;
    return p;
}

static void test_memalign_aligned_alloc(void)
{
    /* Non-power-of-two alignments are rounded up (glibc 2.36). */
    const size_t odd[] = {3, 5, 12, 17, 24, 33, 48, 100, 129, 255, 1000, 3000,
                          4097, 10000, 65535, 100000, ((size_t)1 << 20) + 1};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        size_t al = odd[i], want = next_pow2(al);
        static const size_t ns[] = {1, 24, 100, 5000};
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
            void *p = memalign(opaque_size(al), ns[j]);
            track(p, ns[j], want, "memalign(odd alignment)");
            p = aligned_alloc(opaque_size(al), ns[j]);
            track(p, ns[j], want, "aligned_alloc(odd alignment)");
        }
    }
    ring_flush();
    for (size_t a = 1; a <= 65536; a *= 2) {
        static const size_t ns[] = {0, 1, 16, 17, 1000, 70000};
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
            track(memalign(a, ns[j]), ns[j], a, "memalign");
            track(aligned_alloc(a, ns[j]), ns[j], a, "aligned_alloc");
        }
    }
    ring_flush();
}

static void test_valloc_pvalloc(void)
{
    static const size_t ns[] = {0, 1, 15, 100, 4095, 4096, 4097, 8191, 8192,
                                12345, 65536, 100000, 1 << 20, (1 << 20) + 1};
    for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
        size_t n = ns[j];
        void *p = valloc(n);
        track(p, n, page, "valloc");
        size_t rounded = n == 0 ? page : (n + page - 1) / page * page;
        /* glibc 2.36 has a bug (ALIGN_UP written as `& -(pagesize - 1)`)
         * that makes pvalloc(0) a 1-byte request; the contract says a page. */
        if (n == 0 && mode_is_glibc())
            rounded = 1;
        p = pvalloc(n);
        CHECK(p != NULL, "pvalloc(%zu) failed", n);
        CHECK(malloc_usable_size(p) >= rounded,
              "pvalloc(%zu): usable size %zu < %zu (size rounded up to a page)", n,
              malloc_usable_size(p), rounded);
        track(p, rounded, page, "pvalloc");
    }
    ring_flush();
}

static void test_cfree(void)
{
    for (int i = 0; i < 100; i++) {
        void *p = malloc((size_t)i * 40);
        CHECK(p != NULL, "malloc");
        memset(p, 7, (size_t)i * 40);
        cfree(p);
    }
    cfree(NULL);
}

static void test_mallinfo_trim_opt_stats(void)
{
    enum { N = 64 };
    void *ps[N];
    for (int i = 0; i < N; i++) {
        ps[i] = malloc(100000);
        CHECK(ps[i] != NULL, "malloc");
        memset(ps[i], 1, 100000);
    }
    struct mallinfo2 mi = mallinfo2();
    const size_t lim = (size_t)1 << 47; /* nothing can exceed the address space */
    CHECK(mi.arena < lim && mi.ordblks < lim && mi.smblks < lim && mi.hblks < lim &&
              mi.hblkhd < lim && mi.usmblks < lim && mi.fsmblks < lim &&
              mi.uordblks < lim && mi.fordblks < lim && mi.keepcost < lim,
          "mallinfo2 returned absurd values: arena=%zu ordblks=%zu hblks=%zu "
          "hblkhd=%zu uordblks=%zu fordblks=%zu keepcost=%zu",
          mi.arena, mi.ordblks, mi.hblks, mi.hblkhd, mi.uordblks, mi.fordblks,
          mi.keepcost);
    printf("mallinfo2: arena=%zu hblkhd=%zu uordblks=%zu fordblks=%zu\n", mi.arena,
           mi.hblkhd, mi.uordblks, mi.fordblks);
    for (int i = 0; i < N; i++)
        free(ps[i]);

    int r = malloc_trim(0);
    CHECK(r == 0 || r == 1, "malloc_trim(0) returned %d", r);
    r = malloc_trim(1 << 20);
    CHECK(r == 0 || r == 1, "malloc_trim(1 MiB) returned %d", r);

    r = mallopt(M_TRIM_THRESHOLD, 256 * 1024);
    CHECK(r == 0 || r == 1, "mallopt(M_TRIM_THRESHOLD) returned %d", r);
    r = mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    CHECK(r == 0 || r == 1, "mallopt(M_MMAP_THRESHOLD) returned %d", r);
    r = mallopt(M_ARENA_MAX, 8);
    CHECK(r == 0 || r == 1, "mallopt(M_ARENA_MAX) returned %d", r);
    r = mallopt(M_PERTURB, 0);
    CHECK(r == 0 || r == 1, "mallopt(M_PERTURB) returned %d", r);
    void *p = malloc(1000);
    CHECK(p != NULL, "malloc after mallopt");
    free(p);

    /* malloc_stats prints to stderr, not stdout. */
    char tmpl[] = "/tmp/zslab-stats-XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
    unlink(tmpl);
    char tmpl2[] = "/tmp/zslab-stats-XXXXXX";
    int fd1 = mkstemp(tmpl2);
    CHECK(fd1 >= 0, "mkstemp: %s", strerror(errno));
    unlink(tmpl2);
    fflush(stdout);
    fflush(stderr);
    int saved2 = dup(2), saved1 = dup(1);
    CHECK(saved2 >= 0 && saved1 >= 0, "dup");
    dup2(fd, 2);
    dup2(fd1, 1);
    malloc_stats();
    fflush(stderr);
    fflush(stdout);
    dup2(saved2, 2);
    dup2(saved1, 1);
    close(saved2);
    close(saved1);
    off_t errlen = lseek(fd, 0, SEEK_END);
    off_t outlen = lseek(fd1, 0, SEEK_END);
    close(fd);
    close(fd1);
    CHECK(outlen == 0, "malloc_stats wrote %lld bytes to stdout", (long long)outlen);
    CHECK(errlen > 0, "malloc_stats wrote nothing to stderr");
}

/* Every function that allocates, frees or inspects blocks must come from the
 * same shared object as malloc; otherwise e.g. glibc's reallocarray would
 * be handed a pointer from the preloaded allocator. */
static void test_symbol_provenance(void)
{
    struct {
        const char *name;
        void *addr;
        int must_match;
    } fns[] = {
        {"malloc", (void *)malloc, 1},
        {"free", (void *)free, 1},
        {"calloc", (void *)calloc, 1},
        {"realloc", (void *)realloc, 1},
        {"reallocarray", (void *)reallocarray, 1},
        {"posix_memalign", (void *)posix_memalign, 1},
        {"memalign", (void *)memalign, 1},
        {"aligned_alloc", (void *)aligned_alloc, 1},
        {"valloc", (void *)valloc, 1},
        {"pvalloc", (void *)pvalloc, 1},
        {"malloc_usable_size", (void *)malloc_usable_size, 1},
        {"cfree", (void *)cfree, 1},
        {"mallinfo2", (void *)mallinfo2, 0},
        {"malloc_trim", (void *)malloc_trim, 0},
        {"mallopt", (void *)mallopt, 0},
        {"malloc_stats", (void *)malloc_stats, 0},
    };
    Dl_info ref;
    CHECK(dladdr(fns[0].addr, &ref) != 0 && ref.dli_fname, "dladdr(malloc) failed");
    /* Under run.sh's zslab mode, malloc must really come from the preloaded
     * library (otherwise every test would silently exercise glibc). */
    const char *mode = getenv("PRELOAD_TEST_MODE");
    const char *pre = getenv("LD_PRELOAD");
    if (mode && strcmp(mode, "zslab") == 0 && pre && *pre) {
        char want[4096], got[4096], first[4096];
        size_t len = strcspn(pre, ": ");
        CHECK(len < sizeof first, "LD_PRELOAD too long");
        memcpy(first, pre, len);
        first[len] = 0;
        CHECK(realpath(first, want) != NULL, "realpath(%s): %s", first, strerror(errno));
        CHECK(realpath(ref.dli_fname, got) != NULL, "realpath(%s)", ref.dli_fname);
        CHECK(strcmp(want, got) == 0,
              "malloc resolves to %s, not to the preloaded %s: interposition failed",
              got, want);
    }
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        Dl_info info;
        CHECK(dladdr(fns[i].addr, &info) != 0 && info.dli_fname, "dladdr(%s) failed",
              fns[i].name);
        int same = strcmp(info.dli_fname, ref.dli_fname) == 0;
        printf("%-20s from %s\n", fns[i].name, info.dli_fname);
        if (fns[i].must_match)
            CHECK(same, "%s resolves to %s but malloc to %s: the two allocators "
                  "would be mixed", fns[i].name, info.dli_fname, ref.dli_fname);
    }
}

int main(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    test_symbol_provenance();
    build_sizes();
    test_malloc_zero();
    test_malloc_sizes();
    test_calloc();
    test_enomem();
    test_realloc_basic();
    test_free_null_errno();
    test_posix_memalign();
    test_memalign_aligned_alloc();
    test_valloc_pvalloc();
    test_cfree();
    test_mallinfo_trim_opt_stats();
    ring_flush();
    ok("api_conformance");
    return 0;
}
