// env: ZSLAB_ON_ERROR=warn
// expect: exit 0 stderr "zslab: double free detected in free()" stderr "zslab: invalid free detected in free()"
// expect-none: signal SIGABRT
/* large_errors_warn: with ZSLAB_ON_ERROR=warn, double frees and interior
 * frees of medium, large and huge blocks are reported on stderr and
 * ignored, and the allocator stays sound:
 *  - a block freed twice is not handed out twice afterwards (many blocks of
 *    the same sizes are then allocated, all live at once: no two share an
 *    address or overlap, every one keeps its own pattern);
 *  - a block whose interior pointer was "freed" is still live and intact,
 *    keeps its usable size, and is freed normally later;
 *  - every error is counted: zslab's statistics (`double_frees`,
 *    `invalid_frees` in slab_stats_json, when present) grow by exactly the
 *    6 double and 3 interior frees made.
 * glibc (run.sh none) has no such option: it aborts at the first error (a
 * medium double free, "double free or corruption").
 */
#include "large_test.h"

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

static const size_t sizes[] = {10000, 24 * 1024, 300000, 1 << 20, 2 << 20, 96 << 20};
#define NS (sizeof sizes / sizeof sizes[0])

static void double_free(size_t n)
{
    void *keep = malloc(n);
    char *volatile p = malloc(n);
    CHECK(p && keep, "malloc(%zu)", n);
    memset(p, 0x42, n);
    free(p);
    printf("double-freeing a %zu-byte block at %p (a warning is expected)\n", n, (void *)p);
    fflush(stdout);
    free(p);
    free(keep);
}

static void interior_free(struct blk *b, size_t n, size_t off, uint64_t seed)
{
    b->p = malloc(n);
    CHECK(b->p, "malloc(%zu)", n);
    b->n = n;
    b->us = malloc_usable_size(b->p);
    b->seed = seed;
    fill_pattern(b->p, b->us, seed);
    char *volatile inner = b->p + off;
    printf("freeing %p, %zu bytes into a %zu-byte block (a warning is expected)\n",
           (void *)inner, off, n);
    fflush(stdout);
    free(inner);
    CHECK(malloc_usable_size(b->p) == b->us, "usable size of a block changed after an "
          "ignored interior free");
    CHECK_PATTERN(b->p, b->us, seed, "block changed by an ignored interior free");
}

enum { N = 240 };
static struct blk blks[N];

static void integrity_round(rng_t *r, int round, const struct blk *pinned, int npinned)
{
    for (int i = 0; i < N; i++) {
        size_t n = sizes[rng_below(r, NS - 1)]; /* not the 96 MiB one */
        if (rng_below(r, 3) == 0)
            n += (size_t)rng_below(r, 5000);
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
                      "round %d: block %d (%zu bytes) overwritten by another block", round, i,
                      blks[i].n);
    for (int k = 0; k < npinned; k++)
        CHECK_PATTERN(pinned[k].p, pinned[k].us, pinned[k].seed,
                      "round %d: block kept after an ignored interior free was overwritten",
                      round);
    static struct blk all[N + 8];
    memcpy(all, blks, sizeof blks);
    memcpy(all + N, pinned, (size_t)npinned * sizeof *pinned);
    int total = N + npinned;
    qsort(all, (size_t)total, sizeof all[0], cmp_blk);
    for (int i = 1; i < total; i++)
        CHECK(all[i - 1].p + all[i - 1].us <= all[i].p,
              "round %d: live blocks overlap: %p+%zu and %p (a block handed out twice?)",
              round, (void *)all[i - 1].p, all[i - 1].us, (void *)all[i].p);
    for (int i = 0; i < N; i++)
        free(blks[i].p);
}

int main(void)
{
    watchdog(100);
    int doubles = 0, invalids = 0;
    uint64_t df0 = 0, if0 = 0, df1 = 0, if1 = 0;
    int have_df = lt_stat("double_frees", &df0), have_if = lt_stat("invalid_frees", &if0);
    for (size_t i = 0; i < NS; i++) {
        double_free(sizes[i]);
        doubles++;
    }
    struct blk pinned[3];
    interior_free(&pinned[0], 24 * 1024, 16, 1);
    interior_free(&pinned[1], 1 << 20, 4096, 2);
    interior_free(&pinned[2], 96 << 20, 1 << 20, 3);
    invalids += 3;
    printf("%d double frees and %d interior frees ignored\n", doubles, invalids);
    fflush(stdout);
    if (have_df && lt_stat("double_frees", &df1))
        CHECK(df1 - df0 == (uint64_t)doubles, "double_frees grew by %" PRIu64 ", %d made",
              df1 - df0, doubles);
    if (have_if && lt_stat("invalid_frees", &if1))
        CHECK(if1 - if0 == (uint64_t)invalids, "invalid_frees grew by %" PRIu64 ", %d made",
              if1 - if0, invalids);

    rng_t r;
    rng_seed(&r, 31337);
    for (int round = 0; round < 4; round++)
        integrity_round(&r, round, pinned, 3);
    for (int k = 0; k < 3; k++) {
        CHECK_PATTERN(pinned[k].p, pinned[k].us, pinned[k].seed, "kept block %d", k);
        free(pinned[k].p);
    }
    ok("large_errors_warn");
    return 0;
}
