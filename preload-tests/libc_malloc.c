// expect: exit 0
/* libc_malloc: a program that calls glibc's own allocator directly
 * (__libc_malloc, __libc_calloc, __libc_realloc, __libc_memalign,
 * __libc_valloc, __libc_pvalloc, __libc_free) while also using malloc/free
 * on other blocks.
 *
 *  - Matched use, from two threads at once: blocks from __libc_* are grown
 *    with __libc_realloc and freed with __libc_free, blocks from malloc &
 *    co. are freed with free; both kinds stay live side by side with
 *    patterns checked, from 1 B to 4 MiB.
 *  - One-way mixing, which is valid under plain glibc (one allocator) and
 *    which zslab supports because it recognises its own blocks by address:
 *    free(), realloc() and malloc_usable_size() on blocks from __libc_*.
 *    (The other way round, __libc_free on a block from an interposed malloc,
 *    cannot work with any malloc replacement and is not tested.)
 */
#include "common.h"

#include <pthread.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern void __libc_free(void *);

#define N 512

struct blk {
    void *p;
    size_t n;
    uint64_t seed;
    int libc; /* from __libc_* */
};

static size_t pick(rng_t *r)
{
    uint64_t x = rng_below(r, 100);
    if (x < 70)
        return (size_t)rng_range(r, 1, 1024);
    if (x < 98)
        return (size_t)rng_range(r, 1025, 65536);
    return (size_t)rng_range(r, 65537, 4 << 20);
}

static void new_block(rng_t *r, struct blk *b)
{
    size_t n = pick(r);
    b->libc = (int)rng_below(r, 2);
    void *p = NULL;
    size_t align = 16;
    if (b->libc) {
        switch (rng_below(r, 5)) {
        case 0:
            p = __libc_calloc(1, n);
            CHECK(p && check_zero(p, n) == (size_t)-1, "__libc_calloc(1, %zu)", n);
            break;
        case 1:
            align = (size_t)32 << rng_below(r, 8);
            p = __libc_memalign(align, n);
            break;
        case 2:
            p = __libc_valloc(n);
            align = 4096;
            break;
        case 3:
            p = __libc_pvalloc(n);
            align = 4096;
            break;
        default:
            p = __libc_malloc(n);
        }
    } else {
        switch (rng_below(r, 3)) {
        case 0:
            p = calloc(1, n);
            CHECK(p && check_zero(p, n) == (size_t)-1, "calloc(1, %zu)", n);
            break;
        case 1:
            align = (size_t)32 << rng_below(r, 8);
            p = memalign(align, n);
            break;
        default:
            p = malloc(n);
        }
    }
    CHECK(p != NULL, "%s allocation of %zu bytes failed", b->libc ? "__libc_*" : "malloc", n);
    CHECK(is_aligned(p, align), "%p not aligned to %zu", p, align);
    b->p = p;
    b->n = n;
    b->seed = rng_next(r);
    fill_pattern(p, n, b->seed);
}

static void drop(struct blk *b)
{
    CHECK_PATTERN(b->p, b->n, b->seed, "%s block", b->libc ? "__libc_*" : "malloc");
    if (b->libc)
        __libc_free(b->p);
    else
        free(b->p);
    b->p = NULL;
}

static void grow(rng_t *r, struct blk *b)
{
    CHECK_PATTERN(b->p, b->n, b->seed, "block before realloc");
    size_t m = pick(r);
    void *q = b->libc ? __libc_realloc(b->p, m) : realloc(b->p, m);
    CHECK(q != NULL, "realloc(%zu -> %zu)", b->n, m);
    CHECK_PATTERN(q, b->n < m ? b->n : m, b->seed, "%s lost data",
                  b->libc ? "__libc_realloc" : "realloc");
    b->p = q;
    b->n = m;
    fill_pattern(q, m, b->seed);
}

static void *matched(void *arg)
{
    rng_t r;
    rng_seed(&r, (uint64_t)(intptr_t)arg);
    static __thread struct blk b[N];
    for (int op = 0; op < 40000; op++) {
        struct blk *x = &b[rng_below(&r, N)];
        if (!x->p)
            new_block(&r, x);
        else if (rng_below(&r, 3) == 0)
            grow(&r, x);
        else
            drop(x);
    }
    for (int i = 0; i < N; i++)
        if (b[i].p)
            drop(&b[i]);
    return NULL;
}

static void one_way(void)
{
    rng_t r;
    rng_seed(&r, 99);
    for (int i = 0; i < 3000; i++) {
        size_t n = pick(&r);
        uint64_t seed = rng_next(&r);
        void *p = rng_below(&r, 2) ? __libc_malloc(n) : __libc_memalign(64, n);
        CHECK(p != NULL, "__libc_malloc(%zu)", n);
        CHECK(malloc_usable_size(p) >= n, "malloc_usable_size of a __libc_malloc block: %zu < %zu",
              malloc_usable_size(p), n);
        fill_pattern(p, n, seed);
        switch (rng_below(&r, 3)) {
        case 0:
            free(p);
            break;
        case 1: {
            size_t m = pick(&r);
            void *q = realloc(p, m);
            CHECK(q != NULL, "realloc of a __libc_malloc block (%zu -> %zu)", n, m);
            CHECK_PATTERN(q, n < m ? n : m, seed, "realloc of a __libc_malloc block");
            free(q);
            break;
        }
        default: {
            void *q = realloc(p, 0); /* frees */
            if (q)
                free(q);
        }
        }
    }
}

int main(void)
{
    watchdog(100);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, matched, (void *)2) == 0, "pthread_create");
    matched((void *)1);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    one_way();
    ok("libc_malloc");
    return 0;
}
