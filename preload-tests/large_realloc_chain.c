// expect: exit 0
/* large_realloc_chain: realloc of medium and large blocks keeps contents
 * across every size threshold.
 *
 *  - one chain that grows from 1 byte through T-1, T, T+1 for every
 *    threshold T of 8 KiB, 16 KiB, 64 KiB, 256 KiB, 1 MiB, 4 MiB, 32 MiB and
 *    64 MiB (and a step in between), then shrinks back through T+1, T, T-1;
 *  - for each threshold, a chain that crosses it back and forth by +-1 byte
 *    and by +-a page, with a growing block that cannot always stay in place
 *    (other blocks are allocated around it);
 *  - growth in small steps (1/8 of the size) from 8 KiB to 16 MiB, and
 *    shrinking likewise, the cases a realloc in place serves;
 *  - huge blocks: 32 MiB -> 48 -> 64 -> 96 -> 160 MiB and back to 100
 *    bytes (mremap territory);
 *  - several interleaved chains with random sizes from 1 byte to 8 MiB;
 *  - reallocarray along a chain, realloc to the same size and to the
 *    usable size.
 * After every step: non-NULL, 16-byte aligned, usable size >= request and
 * stable, the kept prefix intact (the whole block is refilled with a new
 * pattern), and the result came from zslab (glibc's in-use bytes did not
 * grow by its size).
 */
#include "large_test.h"

static rng_t rng;
static unsigned long steps;

struct chain {
    char *p;
    size_t n;
    uint64_t seed;
};

static void chain_init(struct chain *c, size_t n, uint64_t seed)
{
    size_t g = lt_glibc_bytes();
    c->p = malloc(n);
    CHECK(c->p != NULL, "malloc(%zu)", n);
    LT_FROM_ZSLAB(g, n, "malloc");
    c->n = n;
    c->seed = seed;
    fill_pattern(c->p, n, seed);
}

static void chain_step(struct chain *c, size_t m, int use_array)
{
    char *q;
    size_t old = c->n;
    CHECK(m > 0, "chain_step(0)");
    size_t g = lt_glibc_bytes();
    if (use_array && m % 16 == 0)
        q = reallocarray(c->p, m / 16, 16);
    else if (use_array)
        q = reallocarray(c->p, m, 1);
    else
        q = realloc(c->p, m);
    steps++;
    CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", old, m);
    LT_FROM_ZSLAB(g, m, "realloc(%zu -> %zu)", old, m);
    CHECK(is_aligned(q, 16), "realloc(%zu -> %zu) = %p not 16-byte aligned", old, m,
          (void *)q);
    size_t us = malloc_usable_size(q);
    CHECK(us >= m, "realloc(%zu -> %zu): usable %zu < %zu", old, m, us, m);
    size_t keep = old < m ? old : m;
    CHECK_PATTERN(q, keep, c->seed, "realloc %zu -> %zu (%p -> %p) did not preserve the "
                  "prefix", old, m, (void *)c->p, (void *)q);
    c->p = q;
    c->n = m;
    c->seed = mix64(c->seed + m);
    fill_pattern(q, m, c->seed);
    CHECK(malloc_usable_size(q) == us, "realloc(%zu -> %zu): usable size not stable "
          "(%zu -> %zu)", old, m, us, malloc_usable_size(q));
}

static void chain_free(struct chain *c)
{
    CHECK_PATTERN(c->p, c->n, c->seed, "chain block corrupted");
    free(c->p);
    c->p = NULL;
}

static const size_t thresholds[] = {8 * KiB,   16 * KiB, 64 * KiB,  256 * KiB,
                                    1 * MiBz,  4 * MiBz, 32 * MiBz, 64 * MiBz};
#define NT (sizeof thresholds / sizeof thresholds[0])

static void through_all_thresholds(void)
{
    struct chain c;
    chain_init(&c, 1, 11);
    for (size_t i = 0; i < NT; i++) {
        size_t t = thresholds[i];
        if (i > 0)
            chain_step(&c, thresholds[i - 1] + (t - thresholds[i - 1]) / 3, (int)(i & 1));
        chain_step(&c, t - 1, 0);
        chain_step(&c, t, 0);
        chain_step(&c, t + 1, (int)(i & 1));
    }
    for (size_t i = NT; i-- > 0;) {
        size_t t = thresholds[i];
        chain_step(&c, t + 1, 0);
        chain_step(&c, t, (int)(i & 1));
        chain_step(&c, t - 1, 0);
        if (i > 0)
            chain_step(&c, thresholds[i - 1] + (t - thresholds[i - 1]) / 2, 0);
    }
    chain_step(&c, 100, 0);
    chain_step(&c, 1, 0);
    chain_free(&c);
}

/* Cross one threshold back and forth; other blocks are allocated between
 * steps so growing in place is sometimes impossible. */
static void back_and_forth(size_t t)
{
    static const ptrdiff_t offs[] = {-4096, -4095, -17, -16, -1, 0, 1, 15, 16, 4095, 4096, 4097};
    enum { NSP = 8 };
    void *spacer[NSP] = {0};
    struct chain c;
    chain_init(&c, t / 2, t);
    int reps = t >= 32 * MiBz ? 3 : 30;
    for (int rep = 0; rep < reps; rep++) {
        ptrdiff_t o1 = offs[rng_below(&rng, sizeof offs / sizeof offs[0])];
        ptrdiff_t o2 = offs[rng_below(&rng, sizeof offs / sizeof offs[0])];
        size_t below = t - (size_t)(o1 < 0 ? -o1 : o1 + 1);
        size_t above = t + (size_t)(o2 < 0 ? -o2 : o2);
        chain_step(&c, below, rep & 1);
        chain_step(&c, above, 0);
        chain_step(&c, t - 1, 0);
        chain_step(&c, t + 1, 0);
        chain_step(&c, below, 0);
        if (t <= 4 * MiBz)
            chain_step(&c, t * 2 + (size_t)rep * 16, 0);
        chain_step(&c, t / 2 - (size_t)rep * 16, 0);
        chain_step(&c, t, 0);
        int s = (int)rng_below(&rng, NSP);
        free(spacer[s]);
        size_t sn = (size_t)rng_range(&rng, 8193, t < 16 * KiB ? 16 * KiB : t < 4 * MiBz ? t : 4 * MiBz);
        spacer[s] = malloc(sn);
        CHECK(spacer[s] != NULL, "malloc(%zu)", sn);
        memset(spacer[s], 0x77, sn);
    }
    chain_free(&c);
    for (int s = 0; s < NSP; s++)
        free(spacer[s]);
}

static void small_steps(void)
{
    struct chain c;
    chain_init(&c, 8 * KiB, 21);
    while (c.n < 16 * MiBz)
        chain_step(&c, c.n + (size_t)rng_range(&rng, 1, c.n / 8), (int)(steps % 5 == 0));
    while (c.n > 8 * KiB)
        chain_step(&c, c.n - (size_t)rng_range(&rng, 1, c.n / 8), (int)(steps % 5 == 0));
    chain_free(&c);
    /* Same, with a neighbour allocated right after every step. */
    void *nb[64] = {0};
    int k = 0;
    chain_init(&c, 8 * KiB + 1, 22);
    while (c.n < 4 * MiBz) {
        chain_step(&c, c.n + c.n / 4 + 1, 0);
        nb[k % 64] = malloc(c.n / 8 + 8192);
        CHECK(nb[k % 64] != NULL, "malloc");
        memset(nb[k % 64], 0x33, c.n / 8 + 8192);
        k++;
    }
    chain_free(&c);
    for (int i = 0; i < 64; i++)
        free(nb[i]);
}

static void huge(void)
{
    static const size_t up[] = {32 * MiBz, 48 * MiBz + 5, 64 * MiBz, 96 * MiBz + 4097,
                                160 * MiBz};
    static const size_t down[] = {128 * MiBz, 64 * MiBz - 1, 4 * MiBz + 3, 300000, 8193, 100};
    struct chain c;
    chain_init(&c, 20 * MiBz, 31);
    for (size_t i = 0; i < sizeof up / sizeof up[0]; i++)
        chain_step(&c, up[i], 0);
    for (size_t i = 0; i < sizeof down / sizeof down[0]; i++)
        chain_step(&c, down[i], 0);
    chain_free(&c);
    /* Two huge chains growing alternately: they cannot both grow in place. */
    struct chain a, b;
    chain_init(&a, 24 * MiBz, 32);
    chain_init(&b, 24 * MiBz, 33);
    for (size_t n = 28 * MiBz; n <= 72 * MiBz; n += 12 * MiBz) {
        chain_step(&a, n, 0);
        chain_step(&b, n + 1, 0);
    }
    chain_free(&a);
    chain_free(&b);
}

static void interleaved(void)
{
    enum { NC = 8 };
    struct chain c[NC];
    for (int i = 0; i < NC; i++)
        chain_init(&c[i], (size_t)rng_range(&rng, 8193, 100000), 100 + (uint64_t)i);
    for (int it = 0; it < 2000; it++) {
        struct chain *ch = &c[rng_below(&rng, NC)];
        size_t m;
        switch (rng_below(&rng, 8)) {
        case 0: m = (size_t)rng_range(&rng, 1, 8192); break;
        case 1: m = (size_t)rng_range(&rng, 8193, 65536); break;
        case 2: m = (size_t)rng_range(&rng, 65537, 1 << 20); break;
        case 3: m = (size_t)rng_range(&rng, 1 << 20, 4 << 20); break;
        case 4: m = ch->n + (size_t)rng_range(&rng, 1, 4096); break;
        case 5: m = ch->n > 4096 ? ch->n - (size_t)rng_range(&rng, 1, 4096) : ch->n + 1; break;
        case 6: m = ch->n * 2 + 1; break;
        default: m = ch->n / 2 + 1; break;
        }
        if (m > (8u << 20))
            m = (size_t)rng_range(&rng, 8193, 1 << 20);
        chain_step(ch, m, it % 7 == 0);
    }
    for (int i = 0; i < NC; i++)
        chain_free(&c[i]);
}

static void same_and_usable(void)
{
    static const size_t ns[] = {8193, 20000, 65537, 300000, 1 << 20, (4 << 20) + 1,
                                33 << 20};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        struct chain c;
        chain_init(&c, ns[i], 40 + i);
        chain_step(&c, ns[i], 0); /* same size */
        size_t us = malloc_usable_size(c.p);
        fill_pattern(c.p, us, c.seed);
        c.n = us; /* the whole usable block is the prefix now */
        chain_step(&c, us, 0); /* to the usable size: every byte kept */
        chain_step(&c, us + 1, 0);
        chain_free(&c);
    }
}

int main(void)
{
    rng_seed(&rng, 777);
    watchdog(110);
    double t0 = lt_now();
    lt_glibc_bytes();
    through_all_thresholds();
    for (size_t i = 0; i < NT; i++)
        back_and_forth(thresholds[i]);
    small_steps();
    huge();
    interleaved();
    same_and_usable();
    printf("%lu realloc steps in %.2fs\n", steps, lt_now() - t0);
    ok("large_realloc_chain");
    return 0;
}
