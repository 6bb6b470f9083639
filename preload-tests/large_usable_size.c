// expect: exit 0
/* large_usable_size: malloc_usable_size of medium and large blocks is
 * exact and stable.
 *
 * For a dense sweep from 8 KiB to 70 KB and a coarser one up to 64 MiB (and
 * a few beyond), for malloc, calloc, memalign, posix_memalign and realloc
 * blocks:
 *  - usable >= requested, and the same value every time it is asked for
 *    while the block is live (before and after every usable byte is
 *    written, and after other blocks were allocated and freed around it);
 *  - all usable bytes can be written: a window of live blocks is kept, each
 *    written in full with its own pattern and verified when it leaves the
 *    window, so a usable size that reaches into a neighbour is caught;
 *  - realloc to exactly the usable size keeps every usable byte; realloc
 *    to usable + 1 keeps them too;
 *  - the block came from zslab (glibc's in-use bytes did not grow).
 * The largest slack (usable - requested) per size range is printed.
 */
#include "large_test.h"

#define WINDOW 16
struct blk {
    void *p;
    size_t us, req;
    uint64_t seed;
};
static struct blk win[WINDOW];
static unsigned wpos;
static uint64_t ctr;
static double max_slack_ratio;
static size_t max_slack_at;
static unsigned long nblocks;

static void retire(struct blk *b)
{
    if (!b->p)
        return;
    for (int i = 0; i < 3; i++)
        CHECK(malloc_usable_size(b->p) == b->us,
              "malloc_usable_size(%p) changed while the block was live (%zu -> %zu)", b->p,
              b->us, malloc_usable_size(b->p));
    CHECK_PATTERN(b->p, b->us, b->seed, "block for request %zu corrupted", b->req);
    free(b->p);
    b->p = NULL;
}

static void add(void *p, size_t req, size_t g, const char *what)
{
    CHECK(p != NULL, "%s(%zu) failed", what, req);
    LT_FROM_ZSLAB(g, req, "%s", what);
    CHECK(is_aligned(p, 16), "%s(%zu) = %p misaligned", what, req, p);
    size_t us = malloc_usable_size(p);
    CHECK(us >= req, "%s(%zu): malloc_usable_size = %zu < requested", what, req, us);
    CHECK(malloc_usable_size(p) == us, "%s(%zu): usable size not stable", what, req);
    double ratio = (double)(us - req) / (double)req;
    if (ratio > max_slack_ratio) {
        max_slack_ratio = ratio;
        max_slack_at = req;
    }
    nblocks++;
    struct blk *b = &win[wpos++ % WINDOW];
    retire(b);
    b->p = p;
    b->us = us;
    b->req = req;
    b->seed = mix64(++ctr);
    fill_pattern(p, us, b->seed);
    CHECK(malloc_usable_size(p) == us, "%s(%zu): usable size changed after writing all of "
          "it (%zu -> %zu)", what, req, us, malloc_usable_size(p));
}

static void one_size(size_t n, int all)
{
    size_t g = lt_glibc_bytes();
    add(malloc(n), n, g, "malloc");
    if (all) {
        g = lt_glibc_bytes();
        void *c = calloc(1, n);
        CHECK(c != NULL, "calloc(1, %zu)", n);
        size_t bad = check_zero(c, n);
        CHECK(bad == (size_t)-1, "calloc(1, %zu) not zeroed at %zu", n, bad);
        add(c, n, g, "calloc");
        g = lt_glibc_bytes();
        add(memalign(4096, n), n, g, "memalign(4096)");
        void *pm = NULL;
        g = lt_glibc_bytes();
        CHECK(posix_memalign(&pm, 256, n) == 0, "posix_memalign(256, %zu)", n);
        add(pm, n, g, "posix_memalign(256)");
    }

    /* realloc to the usable size keeps every usable byte. */
    void *p = malloc(n);
    CHECK(p != NULL, "malloc(%zu)", n);
    size_t us = malloc_usable_size(p);
    CHECK(us >= n, "usable %zu < %zu", us, n);
    uint64_t seed = mix64(n ^ 0xabcdef);
    fill_pattern(p, us, seed);
    g = lt_glibc_bytes();
    void *q = realloc(p, us);
    CHECK(q != NULL, "realloc(p, usable size %zu)", us);
    CHECK_PATTERN(q, us, seed, "realloc(p, %zu) to the usable size lost data", us);
    CHECK(malloc_usable_size(q) >= us, "usable size shrank after realloc to it");
    if (all) {
        fill_pattern(q, malloc_usable_size(q), seed + 7);
        size_t us2 = malloc_usable_size(q);
        void *r = realloc(q, us2 + 1);
        CHECK(r != NULL, "realloc(p, usable + 1)");
        CHECK_PATTERN(r, us2, seed + 7, "realloc(p, usable %zu + 1) lost data", us2);
        add(r, us2 + 1, g, "realloc(usable + 1)");
    } else {
        add(q, us, g, "realloc(to usable)");
    }
}

int main(void)
{
    watchdog(110);
    double t0 = lt_now();
    lt_glibc_bytes();
    size_t n;
    for (n = 8192 - 16; n <= 16384 + 64; n += 7)
        one_size(n, n % 5 == 0);
    for (; n <= 70000; n += 61)
        one_size(n, n % 3 == 0);
    for (; n <= 4 * MiBz; n += n / 9 + 4093)
        one_size(n, 1);
    static const size_t big[] = {65535, 65536, 65537, 131071, 131072, 131073,
                                 262144, 1000000, 1 << 20, (1 << 20) + 1, 4000000,
                                 (4 << 20) + 4095, 8 << 20, (16 << 20) - 1, 32 << 20,
                                 (32 << 20) + 1, (64 << 20) - 4096, 64 << 20, (64 << 20) + 1,
                                 96 << 20};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        one_size(big[i], big[i] <= 8 * MiBz);
    for (unsigned i = 0; i < WINDOW; i++)
        retire(&win[i]);
    printf("%lu blocks in %.2fs; largest slack %.1f%% (request %zu)\n", nblocks,
           lt_now() - t0, 100.0 * max_slack_ratio, max_slack_at);
    ok("large_usable_size");
    return 0;
}
