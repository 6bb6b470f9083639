// expect: exit 0
/* usable_size: malloc_usable_size(p) >= requested for every size 0..4096
 * and a coarser sweep up to 70000 (and a few larger sizes), for malloc,
 * calloc, realloc, memalign and posix_memalign blocks; every usable byte
 * can be written (checked with a pattern while a window of other blocks is
 * live, so spilling into a neighbour is detected).  realloc to exactly the
 * usable size keeps all usable bytes (whether or not it moves).
 * malloc_usable_size(NULL) == 0.
 */
#include "common.h"

#define WINDOW 16
struct blk {
    void *p;
    size_t us;
    uint64_t seed;
    size_t req;
};
static struct blk win[WINDOW];
static unsigned wpos;
static uint64_t ctr;
static size_t max_slack_small;

static void retire(struct blk *b)
{
    if (!b->p)
        return;
    CHECK(malloc_usable_size(b->p) == b->us,
          "malloc_usable_size changed while the block was live (%zu -> %zu)", b->us,
          malloc_usable_size(b->p));
    CHECK_PATTERN(b->p, b->us, b->seed, "block for request %zu corrupted", b->req);
    free(b->p);
    b->p = NULL;
}

static void add(void *p, size_t req, const char *what)
{
    CHECK(p != NULL, "%s(%zu) failed", what, req);
    CHECK(is_aligned(p, 16), "%s(%zu) = %p misaligned", what, req, p);
    size_t us = malloc_usable_size(p);
    CHECK(us >= req, "%s(%zu): malloc_usable_size = %zu < requested", what, req, us);
    if (req <= 4096 && us - req > max_slack_small)
        max_slack_small = us - req;
    struct blk *b = &win[wpos++ % WINDOW];
    retire(b);
    b->p = p;
    b->us = us;
    b->req = req;
    b->seed = mix64(++ctr);
    fill_pattern(p, us, b->seed);
}

static void one_size(size_t n)
{
    add(malloc(n), n, "malloc");

    void *c = calloc(1, n);
    CHECK(c != NULL, "calloc(1, %zu)", n);
    size_t bad = check_zero(c, n);
    CHECK(bad == (size_t)-1, "calloc(1, %zu) not zeroed at %zu", n, bad);
    add(c, n, "calloc");

    add(memalign(64, n), n, "memalign(64)");
    void *pm = NULL;
    CHECK(posix_memalign(&pm, 256, n) == 0, "posix_memalign(256, %zu)", n);
    add(pm, n, "posix_memalign(256)");

    /* realloc to the usable size: every usable byte must survive. */
    void *p = malloc(n);
    CHECK(p != NULL, "malloc(%zu)", n);
    size_t us = malloc_usable_size(p);
    CHECK(us >= n, "usable %zu < %zu", us, n);
    uint64_t seed = mix64(n ^ 0xabcdef);
    fill_pattern(p, us, seed);
    void *q;
    if (us == 0) {
        /* realloc(p, 0) would free p; nothing to preserve anyway. */
        free(p);
        q = malloc(0);
        CHECK(q != NULL, "malloc(0)");
    } else {
        q = realloc(p, us);
    }
    CHECK(q != NULL, "realloc(p, usable size %zu)", us);
    CHECK_PATTERN(q, us, seed, "realloc(p, %zu) to the usable size lost data", us);
    CHECK(malloc_usable_size(q) >= us, "usable size shrank after realloc to it");
    add(q, us, "realloc(to usable)");

    /* realloc from n to n+1 keeps n bytes */
    p = malloc(n);
    CHECK(p != NULL, "malloc");
    fill_pattern(p, n, seed + 1);
    q = realloc(p, n + 1);
    CHECK(q != NULL, "realloc(%zu -> %zu)", n, n + 1);
    CHECK_PATTERN(q, n, seed + 1, "realloc(%zu -> %zu) lost data", n, n + 1);
    add(q, n + 1, "realloc(+1)");
}

int main(void)
{
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu",
          malloc_usable_size(NULL));
    size_t n;
    for (n = 0; n <= 4096; n++)
        one_size(n);
    for (; n <= 16384; n += 7)
        one_size(n);
    for (; n <= 70000; n += 61)
        one_size(n);
    static const size_t big[] = {65535, 65536, 65537, 131071, 131072, 131073,
                                 262144, 1000000, 1 << 20, (1 << 20) + 1, 4000000};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        one_size(big[i]);
    for (unsigned i = 0; i < WINDOW; i++)
        retire(&win[i]);
    printf("largest slack for sizes <= 4096: %zu bytes\n", max_slack_small);
    ok("usable_size");
    return 0;
}
