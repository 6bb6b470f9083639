// expect: exit 0
/* realloc_chain: realloc preserves contents along long chains.
 *
 *  - growth from 1 byte to 8 MiB in small steps (every size to 4 KiB, then
 *    random steps of up to 1/16 of the size) and by doubling (and +-1);
 *  - shrinking chains (small steps, halving);
 *  - back-and-forth across the 1 KiB, 8 KiB, 64 KiB, 128 KiB, 256 KiB and
 *    1 MiB boundaries (typical size-class / large / mmap thresholds);
 *  - several interleaved chains, so that blocks cannot always grow in place;
 *  - reallocarray chains.
 * After every step: result non-NULL, 16-byte aligned, usable size large
 * enough, and the preserved prefix intact.  (Ports tst-realloc and
 * tst-reallocarray logic.)
 */
#include "common.h"

static rng_t rng;
static unsigned long steps;

struct chain {
    char *p;
    size_t n;
    uint64_t seed;
};

static void chain_init(struct chain *c, size_t n, uint64_t seed)
{
    c->p = malloc(n);
    CHECK(c->p != NULL, "malloc(%zu)", n);
    c->n = n;
    c->seed = seed;
    fill_pattern(c->p, n, seed);
}

/* realloc c to m bytes, verify the kept prefix, refill. */
static void chain_step(struct chain *c, size_t m, int use_array)
{
    char *q;
    size_t old = c->n;
    if (use_array && m % 4 == 0)
        q = reallocarray(c->p, m / 4, 4);
    else if (use_array)
        q = reallocarray(c->p, 1, m);
    else
        q = realloc(c->p, m);
    steps++;
    if (m == 0) {
        /* realloc(p, 0) frees p and returns NULL (glibc semantics). */
        CHECK(q == NULL, "realloc(p, 0) returned %p, expected NULL", (void *)q);
        c->p = malloc(0);
        CHECK(c->p != NULL, "malloc(0)");
        c->n = 0;
        return;
    }
    CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", old, m);
    CHECK(is_aligned(q, 16), "realloc(%zu -> %zu) = %p not 16-byte aligned", old, m,
          (void *)q);
    CHECK(malloc_usable_size(q) >= m, "realloc(%zu -> %zu): usable %zu < %zu", old, m,
          malloc_usable_size(q), m);
    size_t keep = old < m ? old : m;
    CHECK_PATTERN(q, keep, c->seed, "realloc %zu -> %zu did not preserve the prefix",
                  old, m);
    c->p = q;
    c->n = m;
    c->seed = mix64(c->seed + m);
    fill_pattern(q, m, c->seed);
}

static void chain_free(struct chain *c)
{
    CHECK_PATTERN(c->p, c->n, c->seed, "chain block corrupted");
    free(c->p);
    c->p = NULL;
}

#define TOP (8u << 20)

static void grow_small_steps(int use_array)
{
    struct chain c;
    chain_init(&c, 1, 1);
    while (c.n < 4096)
        chain_step(&c, c.n + 1, use_array);
    while (c.n < TOP) {
        size_t inc = (size_t)rng_range(&rng, 1, c.n / 16);
        chain_step(&c, c.n + inc, use_array);
    }
    chain_free(&c);
}

static void shrink_small_steps(int use_array)
{
    struct chain c;
    chain_init(&c, TOP, 2);
    while (c.n > 4096) {
        size_t dec = (size_t)rng_range(&rng, 1, c.n / 16);
        chain_step(&c, c.n - dec, use_array);
    }
    while (c.n > 1)
        chain_step(&c, c.n - (c.n > 64 ? 7 : 1), use_array);
    chain_free(&c);
}

static void doubling(void)
{
    for (int delta = -1; delta <= 1; delta++) {
        struct chain c;
        chain_init(&c, 1, 3);
        for (size_t n = 2; n <= (64u << 20); n *= 2)
            chain_step(&c, (size_t)((ptrdiff_t)n + delta), 0);
        for (size_t n = (32u << 20); n >= 1; n /= 2)
            chain_step(&c, n + (delta > 0 ? (size_t)delta : 0), 0);
        chain_free(&c);
    }
}

static void boundaries(void)
{
    static const size_t bounds[] = {1024, 8192, 65536, 131072, 262144, 1 << 20};
    static const ptrdiff_t offs[] = {-4097, -1000, -17, -16, -1, 0, 1, 15, 16, 1000, 4097};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        size_t B = bounds[b];
        struct chain c;
        chain_init(&c, B / 2, 4 + b);
        for (int rep = 0; rep < 40; rep++) {
            ptrdiff_t o1 = offs[rng_below(&rng, sizeof offs / sizeof offs[0])];
            ptrdiff_t o2 = offs[rng_below(&rng, sizeof offs / sizeof offs[0])];
            size_t below = (size_t)((ptrdiff_t)B - (o1 < 0 ? -o1 : o1 + 1));
            size_t above = (size_t)((ptrdiff_t)B + (o2 < 0 ? -o2 : o2));
            if ((ptrdiff_t)below <= 0)
                below = 1;
            chain_step(&c, below, rep & 1);
            chain_step(&c, above, 0);
            chain_step(&c, below, 0);
            chain_step(&c, B * 2 + (size_t)rep, 0);
            chain_step(&c, B / 2 - (size_t)rep, 0);
            chain_step(&c, B, 0);
        }
        chain_free(&c);
    }
}

/* Several chains interleaved, plus unrelated allocations in between, with
 * random target sizes over a wide range. */
static void interleaved(void)
{
    enum { NC = 12, NSPACER = 64 };
    struct chain c[NC];
    void *spacer[NSPACER] = {0};
    for (int i = 0; i < NC; i++)
        chain_init(&c[i], (size_t)rng_range(&rng, 1, 3000), 100 + (uint64_t)i);
    for (int it = 0; it < 30000; it++) {
        struct chain *ch = &c[rng_below(&rng, NC)];
        size_t m;
        switch (rng_below(&rng, 8)) {
        case 0: m = (size_t)rng_range(&rng, 0, 64); break;
        case 1: m = (size_t)rng_range(&rng, 65, 1024); break;
        case 2: m = (size_t)rng_range(&rng, 1025, 16384); break;
        case 3: m = (size_t)rng_range(&rng, 16385, 300000); break;
        case 4: m = ch->n + (size_t)rng_range(&rng, 1, 64); break;
        case 5: m = ch->n > 64 ? ch->n - (size_t)rng_range(&rng, 1, 64) : 1; break;
        case 6: m = ch->n * 2 + 1; break;
        default: m = (size_t)rng_range(&rng, 1, 256); break;
        }
        if (m > (2u << 20))
            m = (size_t)rng_range(&rng, 1, 1 << 20);
        chain_step(ch, m, it % 7 == 0);
        int s = (int)rng_below(&rng, NSPACER);
        free(spacer[s]);
        spacer[s] = malloc((size_t)rng_range(&rng, 1, 512));
        CHECK(spacer[s] != NULL, "malloc");
    }
    for (int i = 0; i < NC; i++)
        chain_free(&c[i]);
    for (int i = 0; i < NSPACER; i++)
        free(spacer[i]);
}

static void reallocarray_checks(void)
{
    /* Element-count growth like a dynamic array of structs. */
    struct rec {
        uint64_t a, b;
        uint32_t c;
    };
    struct rec *v = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < 200000; i++) {
        if (i == cap) {
            cap = cap ? cap + cap / 2 + 1 : 1;
            struct rec *nv = reallocarray(v, cap, sizeof *v);
            CHECK(nv != NULL, "reallocarray(%zu, %zu)", cap, sizeof *v);
            for (size_t j = 0; j < i; j++)
                CHECK(nv[j].a == j && nv[j].b == ~j && nv[j].c == (uint32_t)(j * 3),
                      "reallocarray lost element %zu of %zu (cap %zu)", j, i, cap);
            v = nv;
        }
        v[i].a = i;
        v[i].b = ~i;
        v[i].c = (uint32_t)(i * 3);
    }
    free(v);
    /* Overflowing element counts fail and leave the array alone. */
    struct chain c;
    chain_init(&c, 100, 55);
    errno = 0;
    void *q = reallocarray(opaque_ptr(c.p), opaque_size(SIZE_MAX / 2), 3);
    CHECK(q == NULL && errno == ENOMEM, "reallocarray overflow: %p errno %d", q, errno);
    chain_free(&c);
}

int main(void)
{
    rng_seed(&rng, 2024);
    grow_small_steps(0);
    grow_small_steps(1);
    shrink_small_steps(0);
    shrink_small_steps(1);
    doubling();
    boundaries();
    interleaved();
    reallocarray_checks();
    printf("%lu realloc steps\n", steps);
    ok("realloc_chain");
    return 0;
}
