// expect: exit 0
// env: ZSLAB_HUGE_CACHE=0
/* huge_move_mmap: growing a huge block by moving its pages (mremap) must
 * never leave a hole in the address space that another thread's mmap can
 * take.
 *
 * zslab grows a block of 4 MiB or more that cannot grow in place by moving
 * its pages to a larger run of its region with mremap. Moving them used to
 * unmap the old range for a moment, until zslab mapped it again with
 * MAP_FIXED; a concurrent mmap (a thread's stack, a glibc arena's heap, a
 * file) placed in that hole was then silently replaced by zero pages: in
 * one CI run, glibc aborted in its arena bookkeeping at a thread's exit.
 *
 * One thread grows blocks in a loop (a 4 MiB block with another block
 * right after it, so it must move, then realloc to 8 MiB) while the main
 * thread maps 1-4 MiB anonymous regions, writes a pattern into every page,
 * yields, and checks the pattern before unmapping. A mapping placed inside
 * zslab's region is the bug even when the race is lost; a page of zeroes
 * is the damage itself. Both fail the test.
 *
 * Then a growth chain (5 MiB doubling to 80 MiB, each step blocked from
 * growing in place): a block moved once is two kernel mappings (its old
 * pages moved in, the rest of its run the region's), so the next move's
 * source spans both. Kernels before 6.10 refuse that (EFAULT) after they
 * have unmapped the destination. Either way the contents survive, and at
 * the end no part of the region is unmapped (read from /proc/self/maps).
 */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

static atomic_int stop;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The bounds of the mapping holding address a, from /proc/self/maps. */
static void mapping_of(uintptr_t a, uintptr_t *lo, uintptr_t *hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL, "open /proc/self/maps");
    char line[512];
    *lo = *hi = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long l, h;
        if (sscanf(line, "%lx-%lx", &l, &h) == 2 && l <= a && a < h) {
            *lo = l;
            *hi = h;
        }
    }
    fclose(f);
    CHECK(*hi > *lo, "no mapping holds %#lx", (unsigned long)a);
}
static atomic_ulong moves;

static void *grower(void *a)
{
    (void)a;
    while (!atomic_load(&stop)) {
        char *x = malloc(4 << 20);
        char *y = malloc(4 << 20); /* keeps x from growing in place (usually) */
        CHECK(x && y, "malloc(4 MiB)");
        memset(x, 0x5a, 4096);
        char *z = realloc(x, 8 << 20);
        CHECK(z != NULL, "realloc to 8 MiB");
        CHECK(z[0] == 0x5a && z[4095] == 0x5a, "realloc lost the contents");
        if (z != x)
            atomic_fetch_add(&moves, 1);
        free(z);
        free(y);
    }
    return NULL;
}

/* Bytes of [lo, hi) that no mapping covers. */
static size_t unmapped_in(uintptr_t lo, uintptr_t hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL, "open /proc/self/maps");
    char line[512];
    uintptr_t at = lo; /* covered up to here (maps are sorted) */
    size_t gaps = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long l, h;
        if (sscanf(line, "%lx-%lx", &l, &h) != 2 || h <= at || l >= hi)
            continue;
        if (l > at)
            gaps += l - at;
        at = h;
    }
    fclose(f);
    if (at < hi)
        gaps += hi - at;
    return gaps;
}

/* Blocks of just over 1 MiB (huge blocks: runs of 64 KiB slabs) until one
 * lies right after the run of the block [p, p+sz): then p cannot grow in
 * place. Every block taken is kept in *kept (freed by the caller). */
static void block_after(unsigned char *p, size_t sz, void **kept, int *nkept, int max)
{
    uintptr_t end = ((uintptr_t)p + sz + 0xffff) & ~(uintptr_t)0xffff;
    while (*nkept < max) {
        void *b = malloc((1 << 20) + 4096);
        CHECK(b != NULL, "malloc(1 MiB + 4 KiB)");
        kept[(*nkept)++] = b;
        if ((uintptr_t)b == end)
            return;
    }
}

static void growth_chain(uintptr_t lo, uintptr_t hi)
{
    enum { MAXB = 400 };
    static void *kept[MAXB];
    int nkept = 0, moves = 0;
    size_t sz = 5 << 20;
    unsigned char *p = malloc(sz);
    CHECK(p != NULL, "malloc(5 MiB)");
    fill_pattern(p, sz, 41);
    for (int i = 0; i < 5; i++) {
        if (!mode_is_glibc())
            block_after(p, sz, kept, &nkept, MAXB);
        unsigned char *q = realloc(p, sz * 2);
        CHECK(q != NULL, "realloc to %zu", sz * 2);
        CHECK_PATTERN(q, sz, 41, "growth %d (%zu bytes) lost the contents", i, sz * 2);
        moves += q != p;
        p = q;
        sz *= 2;
        fill_pattern(p, sz, 41);
    }
    free(p);
    for (int i = 0; i < nkept; i++)
        free(kept[i]);
    if (!mode_is_glibc()) {
        size_t gap = unmapped_in(lo, hi);
        CHECK(gap == 0, "%zu bytes of zslab's region are unmapped after the growth chain", gap);
    }
    printf("growth chain: %d of 5 steps moved\n", moves);
}

int main(void)
{
    /* zslab's region: the mapping that holds a huge block (under zslab one
     * reservation, far larger than the blocks; under glibc the block's own
     * mapping, which is gone once it is freed). */
    char *probe = malloc(4 << 20);
    CHECK(probe != NULL, "malloc probe");
    uintptr_t lo, hi;
    mapping_of((uintptr_t)probe, &lo, &hi);
    free(probe);

    pthread_t t;
    CHECK(pthread_create(&t, NULL, grower, NULL) == 0, "pthread_create");
    unsigned long maps = 0, inside = 0;
    double end = now() + 2.0;
    while (now() < end) {
        size_t len = ((size_t)1 << 20) << (maps % 3);
        unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(m != MAP_FAILED, "mmap: %s", strerror(errno));
        maps++;
        if (!mode_is_glibc() && (uintptr_t)m >= lo && (uintptr_t)m < hi)
            inside++;
        for (size_t o = 0; o < len; o += 4096)
            m[o] = (unsigned char)(o >> 12 | 1);
        sched_yield();
        for (size_t o = 0; o < len; o += 4096)
            CHECK(m[o] == (unsigned char)(o >> 12 | 1),
                  "page %zu of a %zu-byte mapping at %p was replaced (now %u)", o >> 12,
                  len, (void *)m, m[o]);
        munmap(m, len);
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("%lu mappings, %lu moves, %lu inside zslab's region [%#lx, %#lx)\n", maps,
           atomic_load(&moves), inside, (unsigned long)lo, (unsigned long)hi);
    CHECK(inside == 0, "%lu of %lu mappings were placed inside zslab's region", inside, maps);
    growth_chain(lo, hi);
    ok("huge_move_mmap");
    return 0;
}
