// expect: exit 0
// env: ZSLAB_REGION=8M
/* small_region: a slab region far too small for the program
 * (ZSLAB_REGION=8M) falls back cleanly.
 *
 * Two threads each allocate ~40 MiB of small blocks (16 B..8 KiB, malloc /
 * calloc / posix_memalign / aligned_alloc), far more than 8 MiB of slabs can
 * hold, so zslab must hand the rest to glibc.  Every request must succeed;
 * every block keeps its pattern; blocks are freed by the other thread, and
 * realloc'd both ways across the region boundary (a slab block grown or
 * shrunk while the region is full, a fallback block shrunk after the region
 * has room again).  Under zslab: region_reserved_bytes is > 0 and at most
 * 8 MiB, and region_full_fallbacks > 0 (the statistics show the fallback).
 */
#include "subproc.h"

#include <pthread.h>

#define MiB_ ((size_t)1 << 20)
#define NB 120000

struct blk {
    void *p;
    size_t n;
    uint64_t seed;
};

struct tstate {
    pthread_t th;
    rng_t rng;
    struct blk *b;
    size_t nb;
    int id;
};

static struct tstate ts[2];
static pthread_barrier_t bar;

static void *fresh(rng_t *r, size_t n, size_t *align)
{
    void *p = NULL;
    *align = 16;
    switch (rng_below(r, 4)) {
    case 0:
        p = calloc(1, n);
        CHECK(p != NULL, "calloc(1, %zu)", n);
        CHECK(check_zero(p, n) == (size_t)-1, "calloc(1, %zu) not zeroed", n);
        break;
    case 1: {
        *align = (size_t)16 << rng_below(r, 6);
        int e = posix_memalign(&p, *align, n);
        CHECK(e == 0, "posix_memalign(%zu, %zu) = %d", *align, n, e);
        break;
    }
    case 2:
        *align = (size_t)32 << rng_below(r, 4);
        p = aligned_alloc(*align, n);
        CHECK(p != NULL, "aligned_alloc(%zu, %zu)", *align, n);
        break;
    default:
        p = malloc(n);
        CHECK(p != NULL, "malloc(%zu) failed (errno %d)", n, errno);
    }
    CHECK(is_aligned(p, *align), "%p not aligned to %zu", p, *align);
    CHECK(malloc_usable_size(p) >= n, "usable %zu < %zu", malloc_usable_size(p), n);
    return p;
}

static void *thread_main(void *arg)
{
    struct tstate *t = arg;
    rng_t *r = &t->rng;
    size_t total = 0;
    while (total < 40 * MiB_ && t->nb < NB) {
        struct blk *b = &t->b[t->nb++];
        b->n = (size_t)(rng_below(r, 8) ? rng_range(r, 16, 1024) : rng_range(r, 1025, 8192));
        size_t a;
        b->p = fresh(r, b->n, &a);
        b->seed = rng_next(r);
        fill_pattern(b->p, b->n, b->seed);
        total += b->n;
        /* now and then, realloc a block from earlier (often in the other
         * part of the boundary) */
        if (t->nb > 10 && rng_below(r, 16) == 0) {
            struct blk *o = &t->b[rng_below(r, t->nb - 1)];
            size_t m = (size_t)rng_range(r, 1, 8192);
            CHECK_PATTERN(o->p, o->n, o->seed, "block before realloc");
            void *q = realloc(o->p, m);
            CHECK(q != NULL, "realloc(%zu -> %zu)", o->n, m);
            CHECK_PATTERN(q, o->n < m ? o->n : m, o->seed, "realloc(%zu -> %zu)", o->n, m);
            o->p = q;
            o->n = m;
            fill_pattern(q, m, o->seed);
        }
    }
    pthread_barrier_wait(&bar);
    /* Free the other thread's even blocks, then (after a barrier, so the
     * region has room again) shrink our own odd blocks and free them. */
    struct tstate *o = &ts[1 - t->id];
    for (size_t i = 0; i < o->nb; i += 2) {
        CHECK_PATTERN(o->b[i].p, o->b[i].n, o->b[i].seed, "block freed by the other thread");
        free(o->b[i].p);
    }
    pthread_barrier_wait(&bar);
    for (size_t i = 1; i < t->nb; i += 2) {
        struct blk *b = &t->b[i];
        CHECK_PATTERN(b->p, b->n, b->seed, "own block");
        size_t m = b->n / 2 + 1;
        void *q = realloc(b->p, m);
        CHECK(q != NULL, "realloc(%zu -> %zu)", b->n, m);
        CHECK_PATTERN(q, m, b->seed, "realloc(%zu -> %zu) after the region emptied", b->n, m);
        free(q);
    }
    return NULL;
}

int main(void)
{
    watchdog(100);
    CHECK(pthread_barrier_init(&bar, NULL, 2) == 0, "barrier");
    for (int i = 0; i < 2; i++) {
        ts[i].id = i;
        rng_seed(&ts[i].rng, 99 + (uint64_t)i);
        ts[i].b = calloc(NB, sizeof(struct blk));
        CHECK(ts[i].b != NULL, "calloc");
    }
    CHECK(pthread_create(&ts[1].th, NULL, thread_main, &ts[1]) == 0, "pthread_create");
    thread_main(&ts[0]);
    CHECK(pthread_join(ts[1].th, NULL) == 0, "pthread_join");
    uint64_t reserved = 0, fallbacks = 0;
    /* read before freeing ts[].b (the statistics are cumulative anyway) */
    if (zs_stat_req("region_reserved_bytes", &reserved)) {
        zs_stat_req("region_full_fallbacks", &fallbacks);
        printf("region_reserved_bytes=%llu region_full_fallbacks=%llu\n",
               (unsigned long long)reserved, (unsigned long long)fallbacks);
        CHECK(reserved > 0, "ZSLAB_REGION=8M: no slab region at all");
        CHECK(reserved <= 8 * MiB_, "ZSLAB_REGION=8M but %llu bytes reserved",
              (unsigned long long)reserved);
        CHECK(fallbacks > 0, "80 MiB of small blocks in an 8 MiB region, yet "
              "region_full_fallbacks is 0");
    } else {
        CHECK(mode_is_glibc(), "zslab is loaded but inactive (empty slab_stats_json)");
    }
    printf("%zu + %zu blocks\n", ts[0].nb, ts[1].nb);
    free(ts[0].b);
    free(ts[1].b);
    ok("small_region");
    return 0;
}
