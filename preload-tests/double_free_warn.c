// env: ZSLAB_ON_ERROR=warn
// expect: exit 0 stderr "zslab: double free"
// expect-none: signal SIGABRT
/* double_free_warn: with ZSLAB_ON_ERROR=warn, zslab reports a double free
 * on stderr and carries on, ignoring the second free.  The program
 * double-frees a 48-byte block once, then keeps allocating (many blocks of
 * the same size class and others, all live at once) and checks that no two
 * live blocks share an address or overlap, and that every block keeps its
 * own pattern -- i.e. the ignored double free did not corrupt the allocator
 * (a block on a free list twice would be handed out twice).
 * glibc (`none` mode) has no such option and aborts on the double free.
 */
#include "common.h"

struct blk {
    char *p;
    size_t n, us;
    uint64_t seed;
};

static int cmp_blk(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct blk *)a)->p;
    uintptr_t y = (uintptr_t)((const struct blk *)b)->p;
    return x < y ? -1 : x > y;
}

enum { N = 20000 };
static struct blk blks[N];

static void round_check(rng_t *r, int round)
{
    for (int i = 0; i < N; i++) {
        size_t n;
        uint64_t x = rng_below(r, 10);
        if (x < 6)
            n = 48;
        else if (x < 8)
            n = (size_t)rng_range(r, 33, 64);
        else if (x < 9)
            n = (size_t)rng_range(r, 1, 512);
        else
            n = (size_t)rng_range(r, 513, 20000);
        blks[i].p = malloc(n);
        CHECK(blks[i].p != NULL, "malloc(%zu)", n);
        blks[i].n = n;
        blks[i].us = malloc_usable_size(blks[i].p);
        CHECK(blks[i].us >= n, "usable size");
        blks[i].seed = mix64((uint64_t)i * 1000003 + (uint64_t)round);
        fill_pattern(blks[i].p, blks[i].us, blks[i].seed);
    }
    for (int i = 0; i < N; i++)
        CHECK_PATTERN(blks[i].p, blks[i].us, blks[i].seed,
                      "round %d: block %d (%zu bytes) overwritten by another block", round,
                      i, blks[i].n);
    qsort(blks, N, sizeof blks[0], cmp_blk);
    for (int i = 1; i < N; i++) {
        CHECK(blks[i].p != blks[i - 1].p,
              "round %d: the same address %p was handed out twice", round,
              (void *)blks[i].p);
        CHECK(blks[i - 1].p + blks[i - 1].us <= blks[i].p,
              "round %d: live blocks overlap: %p+%zu and %p", round,
              (void *)blks[i - 1].p, blks[i - 1].us, (void *)blks[i].p);
    }
    /* free half, reallocate, check again */
    for (int i = 0; i < N; i += 2) {
        free(blks[i].p);
        blks[i].p = malloc(48);
        CHECK(blks[i].p != NULL, "malloc(48)");
        blks[i].n = 48;
        blks[i].us = malloc_usable_size(blks[i].p);
        blks[i].seed = mix64((uint64_t)i + 77);
        fill_pattern(blks[i].p, blks[i].us, blks[i].seed);
    }
    for (int i = 0; i < N; i++)
        CHECK_PATTERN(blks[i].p, blks[i].us, blks[i].seed,
                      "round %d: block %d overwritten after reuse", round, i);
    qsort(blks, N, sizeof blks[0], cmp_blk);
    for (int i = 1; i < N; i++)
        CHECK(blks[i - 1].p + blks[i - 1].us <= blks[i].p,
              "round %d: live blocks overlap after reuse: %p+%zu and %p", round,
              (void *)blks[i - 1].p, blks[i - 1].us, (void *)blks[i].p);
    for (int i = 0; i < N; i++)
        free(blks[i].p);
}

int main(void)
{
    void *neighbours[8];
    for (int i = 0; i < 8; i++) {
        neighbours[i] = malloc(48);
        CHECK(neighbours[i] != NULL, "malloc");
    }
    char *volatile p = malloc(48);
    CHECK(p != NULL, "malloc(48)");
    memset(p, 0x42, 48);
    free(p);
    printf("double-freeing %p (a warning is expected, execution continues)\n",
           (void *)p);
    fflush(stdout);
    free(p);
    printf("second free returned\n");
    fflush(stdout);

    rng_t r;
    rng_seed(&r, 31337);
    for (int round = 0; round < 3; round++)
        round_check(&r, round);
    for (int i = 0; i < 8; i++)
        free(neighbours[i]);
    ok("double_free_warn");
    return 0;
}
