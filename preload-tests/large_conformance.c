// expect: exit 0
/* large_conformance: the malloc API contract for medium and large blocks,
 * 8 KiB to 64 MiB and beyond, and that zslab serves every one of them from
 * its own memory.
 *
 * For every size of a list that brackets the usual thresholds (8 KiB, 16 KiB,
 * 32 KiB, 64 KiB, 128 KiB, 256 KiB, 1 MiB, 2 MiB, 4 MiB, 32 MiB, 64 MiB, +-1
 * byte and +-a page), plus seeded random sizes and a few blocks beyond
 * 64 MiB, through malloc, calloc, realloc(NULL), reallocarray(NULL),
 * posix_memalign, aligned_alloc, memalign, valloc and pvalloc:
 *  - non-NULL, 16-byte aligned (and as aligned as asked), usable size >=
 *    request, and the usable size is stable (the same before and after the
 *    block is written in full, and when the block is freed);
 *  - every usable byte is written with a pattern while a window of other
 *    blocks is live and verified when the block leaves the window, so
 *    overlapping blocks or a usable size that spills into a neighbour are
 *    caught;
 *  - calloc blocks are zero;
 *  - the block came from zslab: glibc's own allocator (its mallinfo2,
 *    looked up in libc.so.6) did not grow by the block's size, and zslab's
 *    statistics (every top-level `*live_bytes*` field of slab_stats_json)
 *    grew by at least the bytes requested in each window.
 * Under plain glibc (run.sh none) the last two checks are skipped.
 */
#include "large_test.h"

static size_t page;

#define WIN 24
struct blk {
    void *p;
    size_t usable, req;
    uint64_t seed;
    const char *what;
};
static struct blk win[WIN];
static unsigned wpos;
static uint64_t seed_ctr = 1;
static size_t win_req_bytes; /* requested bytes allocated since the last stats check */
static uint64_t stats_live0;
static int have_live_stats = -1;
static unsigned long nblocks;

static void retire(struct blk *b)
{
    if (!b->p)
        return;
    size_t us = malloc_usable_size(b->p);
    CHECK(us == b->usable, "%s(%zu) = %p: malloc_usable_size changed while live "
          "(%zu, now %zu)", b->what, b->req, b->p, b->usable, us);
    CHECK_PATTERN(b->p, b->usable, b->seed, "%s(%zu) corrupted while live", b->what,
                  b->req);
    free(b->p);
    b->p = NULL;
}

static void flush(void)
{
    for (unsigned i = 0; i < WIN; i++)
        retire(&win[i]);
}

/* Live-bytes statistics: the requested bytes of every block allocated since
 * the last call must show up (blocks freed meanwhile are subtracted). */
static void stats_begin(void)
{
    uint64_t v;
    if (mode_is_glibc())
        return;
    if (have_live_stats < 0) {
        have_live_stats = lt_live_bytes(&v) > 0;
        if (!have_live_stats)
            printf("statistics have no *live_bytes* field: live-bytes checks skipped\n");
    }
    if (!have_live_stats)
        return;
    flush();
    lt_live_bytes(&stats_live0);
    win_req_bytes = 0;
}

static void stats_end(const char *ctx)
{
    uint64_t v;
    if (mode_is_glibc() || !have_live_stats)
        return;
    lt_live_bytes(&v);
    CHECK(v >= stats_live0 + win_req_bytes,
          "%s: %zu bytes in live blocks, but zslab's live_bytes statistics grew "
          "by %" PRIu64 " only (the blocks are not zslab's?)",
          ctx, win_req_bytes, v > stats_live0 ? v - stats_live0 : 0);
}

/* Validate a fresh block (allocated after glibc's in-use bytes were g0) and
 * put it in the window. */
static void track(void *p, size_t req, size_t align, size_t g0, const char *what)
{
    CHECK(p != NULL, "%s(%zu) returned NULL (errno %d)", what, req, errno);
    LT_FROM_ZSLAB(g0, req, "%s", what);
    CHECK(is_aligned(p, 16), "%s(%zu) = %p is not 16-byte aligned", what, req, p);
    if (align > 16)
        CHECK(is_aligned(p, align), "%s(%zu) = %p is not %zu-byte aligned", what, req,
              p, align);
    size_t us = malloc_usable_size(p);
    CHECK(us >= req, "%s(%zu): malloc_usable_size = %zu < requested", what, req, us);
    CHECK(malloc_usable_size(p) == us, "%s(%zu): malloc_usable_size not stable", what,
          req);
    nblocks++;
    win_req_bytes += req;
    /* Retire the slot's previous block after the stats window is measured:
     * it is replaced now, so count it as gone. */
    struct blk *b = &win[wpos++ % WIN];
    if (b->p) {
        win_req_bytes -= b->req <= win_req_bytes ? b->req : win_req_bytes;
        retire(b);
    }
    b->p = p;
    b->usable = us;
    b->req = req;
    b->what = what;
    b->seed = mix64(seed_ctr++);
    fill_pattern(p, us, b->seed);
    CHECK(malloc_usable_size(p) == us, "%s(%zu): malloc_usable_size changed after the "
          "block was written in full (%zu -> %zu)", what, req, us, malloc_usable_size(p));
}

static size_t sizes[512];
static size_t nsizes;

static void add_size(size_t s)
{
    if (s < 8192 - 1 || nsizes == sizeof sizes / sizeof sizes[0])
        return;
    sizes[nsizes++] = s;
}

static void build_sizes(void)
{
    static const size_t bounds[] = {8 * KiB,   12 * KiB,  16 * KiB,  32 * KiB,
                                    64 * KiB,  128 * KiB, 256 * KiB, 512 * KiB,
                                    1 * MiBz,  2 * MiBz,  4 * MiBz,  8 * MiBz,
                                    16 * MiBz, 32 * MiBz, 64 * MiBz};
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        size_t b = bounds[i];
        add_size(b - 1);
        add_size(b);
        add_size(b + 1);
        if (b <= 4 * MiBz) {
            add_size(b - 4096);
            add_size(b + 4096);
            add_size(b + 4095);
            add_size(b + b / 4 + 7);
        }
    }
    /* Dense between 8 KiB and 20 KiB (small/medium boundary). */
    for (size_t s = 8192 + 16; s <= 20 * KiB; s += 1000)
        add_size(s);
    /* Seeded random sizes, log-uniform from 8 KiB to 64 MiB. */
    rng_t r;
    rng_seed(&r, 8008);
    for (int i = 0; i < 48; i++) {
        int shift = (int)rng_range(&r, 13, 25);
        add_size(((size_t)1 << shift) + (size_t)rng_below(&r, (size_t)1 << shift));
    }
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Beyond 64 MiB: a few, through fewer functions (memory). */
static const size_t beyond[] = {64 * MiBz + 4096 * 3 + 5, 96 * MiBz + 17, 200 * MiBz};

static void one_size(size_t n, int full)
{
    size_t g;
    void *p;

    g = lt_glibc_bytes();
    p = malloc(n);
    track(p, n, 0, g, "malloc");

    g = lt_glibc_bytes();
    size_t nm = (n % 16 == 0) ? n / 16 : n, sz = (n % 16 == 0) ? 16 : 1;
    p = calloc(nm, sz);
    CHECK(p != NULL, "calloc(%zu, %zu)", nm, sz);
    size_t bad = check_zero(p, n);
    CHECK(bad == (size_t)-1, "calloc(%zu, %zu) = %p: byte %zu is 0x%02x", nm, sz, p, bad,
          ((unsigned char *)p)[bad]);
    track(p, n, 0, g, "calloc");

    g = lt_glibc_bytes();
    track(realloc(NULL, n), n, 0, g, "realloc(NULL)");

    if (!full)
        return;

    g = lt_glibc_bytes();
    if (n % 8 == 0)
        p = reallocarray(NULL, n / 8, 8);
    else
        p = reallocarray(NULL, 1, n);
    track(p, n, 0, g, "reallocarray(NULL)");

    static const size_t aligns[] = {16, 32, 64, 256, 4096, 8192, 65536, 1 << 20};
    size_t a = aligns[nblocks % (sizeof aligns / sizeof aligns[0])];
    size_t a2 = aligns[(nblocks + 3) % (sizeof aligns / sizeof aligns[0])];
    g = lt_glibc_bytes();
    p = NULL;
    int rc = posix_memalign(&p, a, n);
    CHECK(rc == 0, "posix_memalign(%zu, %zu) returned %d", a, n, rc);
    track(p, n, a, g, "posix_memalign");

    g = lt_glibc_bytes();
    track(aligned_alloc(a2, n), n, a2, g, "aligned_alloc");

    g = lt_glibc_bytes();
    track(memalign(a, n), n, a, g, "memalign");

    g = lt_glibc_bytes();
    track(valloc(n), n, page, g, "valloc");

    size_t rounded = (n + page - 1) / page * page;
    g = lt_glibc_bytes();
    p = pvalloc(n);
    CHECK(p != NULL, "pvalloc(%zu)", n);
    CHECK(malloc_usable_size(p) >= rounded, "pvalloc(%zu): usable size %zu < %zu", n,
          malloc_usable_size(p), rounded);
    track(p, rounded, page, g, "pvalloc");
}

int main(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    watchdog(110);
    double t0 = lt_now();
    lt_glibc_bytes(); /* resolve (and let glibc initialise) up front */
    build_sizes();
    qsort(sizes, nsizes, sizeof sizes[0], cmp_size);
    printf("large_conformance: %zu sizes from %zu to %zu bytes\n", nsizes, sizes[0],
           sizes[nsizes - 1]);
    fflush(stdout);

    /* Ascending, then descending (big blocks followed by smaller ones that
     * may reuse their space). */
    for (size_t i = 0; i < nsizes; i++) {
        if (i % 8 == 0)
            stats_begin();
        /* Above 8 MiB every function for one size in three (time). */
        one_size(sizes[i], sizes[i] <= 8 * MiBz || i % 3 == 0);
        if (i % 8 == 7)
            stats_end("ascending sizes");
    }
    flush();
    for (size_t k = 0; k < nsizes; k++) {
        size_t i = nsizes - 1 - k;
        if (k % 8 == 0)
            stats_begin();
        one_size(sizes[i], i % 3 == 0 && sizes[i] <= 8 * MiBz);
        if (k % 8 == 7)
            stats_end("descending sizes");
    }
    flush();
    for (size_t i = 0; i < sizeof beyond / sizeof beyond[0]; i++) {
        stats_begin();
        one_size(beyond[i], 0);
        stats_end("beyond 64 MiB");
        flush();
    }
    /* Interleaved: the same sizes in a shuffled order with many live. */
    rng_t r;
    rng_seed(&r, 99);
    for (int round = 0; round < 3; round++) {
        stats_begin();
        for (int k = 0; k < 200; k++) {
            size_t n = sizes[rng_below(&r, nsizes)];
            if (n > 8 * MiBz)
                n = n / 16 + 8192;
            size_t g = lt_glibc_bytes();
            track(malloc(n), n, 0, g, "malloc(interleaved)");
            if (k % WIN == WIN - 1)
                stats_end("interleaved");
        }
        flush();
    }
    printf("%lu blocks checked in %.2fs\n", nblocks, lt_now() - t0);
    if (mode_is_glibc())
        printf("glibc mode: from-zslab checks skipped\n");
    ok("large_conformance");
    return 0;
}
