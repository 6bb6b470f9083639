/* epoch_churn: the spec's churn validation.  A long-lived epoch 0 holds 20%
 * of its objects pinned (every 5th object of the first batch, allocated
 * interleaved in time with the short-lived ones); then, for 2000 cycles:
 * advance the epoch, allocate a batch of 5000 objects of 32-512 B, free all
 * of it in random order.  Because each batch gets slabs of its own, the
 * batches never pin memory: after a warm-up, committed_bytes must not drift
 * at all and RSS must stay in a tight band.  The pinned objects stay intact.
 *
 * Under glibc (run.sh none) the same workload runs (patterns checked) and the
 * RSS band is printed but not enforced; the committed-bytes checks are
 * zslab's.
 *
 * ZSLAB_DECAY_MS=0 and ZSLAB_PURGE_MS=0: cache decay and the delayed purge
 * of thinned-out spans are driven by wall time (cached slabs older than 1 s
 * go back to the OS; the free pages of epoch 0's pinned slabs 100 ms after
 * they thinned out), so on a slow or loaded machine they would move
 * committed_bytes at moments that depend on timing (the purge came after
 * the warm-up in one run of three: -252 KiB).  With decay off and purges
 * at once, the allocator's state after each cycle depends on the workload
 * alone, and the figures below are reproducible.
 */
// env: ZSLAB_DECAY_MS=0 ZSLAB_PURGE_MS=0
#include "zslab_test.h"

enum {
    CYCLES = 2000,
    BATCH = 5000,
    WARMUP = CYCLES / 4,   /* see the drift check below */
    SAMPLE_EVERY = 50,
    NSAMPLES = (CYCLES - WARMUP) / SAMPLE_EVERY + 1,
};

static void *batch[BATCH];
static size_t batch_size[BATCH];
static void *pinned[BATCH / 5];
static size_t pinned_size[BATCH / 5];

/* 64 KiB slabs (README): the slabs holding pinned objects, sorted. */
static uintptr_t pinned_slab[BATCH / 5];
static size_t npinned_slabs;

static int cmp_uptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static int in_pinned_slab(const void *p)
{
    uintptr_t s = (uintptr_t)p >> 16;
    size_t lo = 0, hi = npinned_slabs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pinned_slab[mid] < s)
            lo = mid + 1;
        else if (pinned_slab[mid] > s)
            hi = mid;
        else
            return 1;
    }
    return 0;
}

static void shuffle(rng_t *r, void **a, size_t *sz, size_t n)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_below(r, i + 1);
        void *t = a[i];
        a[i] = a[j];
        a[j] = t;
        size_t u = sz[i];
        sz[i] = sz[j];
        sz[j] = u;
    }
}

int main(void)
{
    zslab_api z;
    int have = zt_load(&z);
    rng_t r;
    rng_seed(&r, 7);
    watchdog(100);

    uint64_t committed[NSAMPLES], rss[NSAMPLES], madv[NSAMPLES], slabs[NSAMPLES],
        live[NSAMPLES];
    int ns = 0;
    size_t npinned = 0;
    double t0 = zt_now();

    printf("epoch_churn: %d cycles of %d objects\n", CYCLES, BATCH);
    fflush(stdout);

    for (int cycle = 0; cycle < CYCLES; cycle++) {
        if (cycle > 0 && have) {
            unsigned before = z.current();
            unsigned e = z.advance();
            CHECK(e == (before + 1) % ZSLAB_EPOCHS, "advance from %u returned %u", before, e);
        }
        size_t n = 0;
        for (int i = 0; i < BATCH; i++) {
            size_t sz = rng_range(&r, 32, 512);
            void *p = malloc(sz);
            CHECK(p, "malloc(%zu)", sz);
            /* A cheap per-object tag: first and last word. */
            uint64_t tag = mix64((uint64_t)cycle << 32 | (uint64_t)i);
            __builtin_memcpy(p, &tag, 8);
            __builtin_memcpy((char *)p + sz - 8, &tag, 8);
            if (cycle == 0 && i % 5 == 4) {
                fill_pattern(p, sz, 0x5EED0000u + npinned);
                pinned[npinned] = p;
                pinned_size[npinned] = sz;
                npinned++;
                continue;
            }
            batch[n] = p;
            batch_size[n] = sz;
            n++;
        }
        if (cycle == 0) {
            for (size_t i = 0; i < npinned; i++)
                pinned_slab[i] = (uintptr_t)pinned[i] >> 16;
            qsort(pinned_slab, npinned, sizeof pinned_slab[0], cmp_uptr);
            npinned_slabs = 0;
            for (size_t i = 0; i < npinned; i++)
                if (npinned_slabs == 0 || pinned_slab[npinned_slabs - 1] != pinned_slab[i])
                    pinned_slab[npinned_slabs++] = pinned_slab[i];
        } else if (have) {
            /* The point of epochs: a later batch never lands in epoch 0's
             * slabs, though they are 80% free. */
            for (size_t i = 0; i < n; i++)
                if (in_pinned_slab(batch[i]))
                    FAIL("cycle %d: object %p shares a 64 KiB slab with epoch 0's pinned "
                         "objects", cycle, batch[i]);
        }
        /* Free in random order, checking the tags on the way.  The tag is
         * recomputed from the object's original index, which shuffling
         * loses, so only check that head and tail agree. */
        shuffle(&r, batch, batch_size, n);
        for (size_t i = 0; i < n; i++) {
            uint64_t a, b;
            __builtin_memcpy(&a, batch[i], 8);
            __builtin_memcpy(&b, (char *)batch[i] + batch_size[i] - 8, 8);
            CHECK(a == b, "cycle %d: object %p (%zu B) corrupted", cycle, batch[i], batch_size[i]);
            free(batch[i]);
        }
        if (cycle >= WARMUP && (cycle - WARMUP) % SAMPLE_EVERY == 0 && ns < NSAMPLES) {
            if (have) {
                struct zslab_global_stats g;
                zt_global(&z, &g);
                committed[ns] = g.committed_bytes;
                madv[ns] = g.madvise_calls;
                slabs[ns] = g.slabs_in_use;
                live[ns] = g.live_objects;
            } else {
                committed[ns] = madv[ns] = slabs[ns] = live[ns] = 0;
            }
            rss[ns] = zt_rss();
            ns++;
        }
    }
    double secs = zt_now() - t0;
    CHECK(ns >= 2, "only %d samples", ns);
    CHECK(npinned == BATCH / 5, "pinned %zu", npinned);

    uint64_t rmin = rss[0], rmax = rss[0], cmin = committed[0], cmax = committed[0];
    for (int i = 0; i < ns; i++) {
        if (rss[i] < rmin) rmin = rss[i];
        if (rss[i] > rmax) rmax = rss[i];
        if (committed[i] < cmin) cmin = committed[i];
        if (committed[i] > cmax) cmax = committed[i];
    }
    printf("samples (cycle: committed KiB / slabs in use / RSS KiB):");
    for (int i = 0; i < ns; i++)
        printf("%s%d: %" PRIu64 "/%" PRIu64 "/%" PRIu64, i % 6 ? "  " : "\n  ",
               WARMUP + i * SAMPLE_EVERY, committed[i] >> 10, slabs[i], rss[i] >> 10);
    printf("\n");
    printf("pinned: %zu objects in %zu slabs\n", npinned, npinned_slabs);
    printf("%d cycles in %.2fs; %d samples after %d warm-up cycles\n", CYCLES, secs, ns, WARMUP);
    printf("rss: first %.2f MiB last %.2f MiB min %.2f MiB max %.2f MiB (band %.1f%%)\n",
           MiB(rss[0]), MiB(rss[ns - 1]), MiB(rmin), MiB(rmax),
           100.0 * (double)(rmax - rmin) / (double)rmin);

    if (have) {
        int64_t drift = (int64_t)committed[ns - 1] - (int64_t)committed[0];
        printf("committed: first %" PRIu64 " last %" PRIu64 " min %" PRIu64 " max %" PRIu64
               " drift %+" PRId64 " B (%.3f%%)\n",
               committed[0], committed[ns - 1], cmin, cmax, drift,
               100.0 * (double)drift / (double)committed[0]);
        printf("madvise calls over the sampled cycles: %" PRIu64 "\n", madv[ns - 1] - madv[0]);
        struct zslab_global_stats g;
        zt_global(&z, &g);
        printf("epoch advances %" PRIu64 ", retired slabs %" PRIu64 ", cache hits %" PRIu64
               " misses %" PRIu64 " overflows %" PRIu64 "\n",
               g.epoch_advances, g.retired_slabs, g.cache_hits, g.cache_misses,
               g.cache_overflows);
        fflush(stdout);
        CHECK(g.epoch_advances == CYCLES - 1, "epoch_advances %" PRIu64 ", expected %d",
              g.epoch_advances, CYCLES - 1);
        /* 0% drift: the slabs in use and the live objects after each cycle
         * (the pinned objects, stdio's buffer, and each class's current
         * slab) are exactly the same from the first sample to the last. */
        CHECK(slabs[ns - 1] == slabs[0], "slabs_in_use went from %" PRIu64 " to %" PRIu64,
              slabs[0], slabs[ns - 1]);
        CHECK(live[ns - 1] == live[0], "live_objects went from %" PRIu64 " to %" PRIu64,
              live[0], live[ns - 1]);
        /* committed_bytes: 0% drift, with a slack of one slab (64 KiB) for
         * two legitimate, bounded effects that settle after a while:
         *  - a slab counts the pages it ever touched, so an empty slab kept
         *    in a class's hot cache grows (once) when a later batch, whose
         *    sizes are random, fills it further than any before;
         *  - the hot cache bound of a class adapts (it doubles while the
         *    class cycles through more empty slabs than it holds), so a
         *    class may keep one more slab after a rare large batch.
         * Both are a high-water mark: they converge (seen: +16 KiB at most
         * after the 25% warm-up, then flat for 20000 cycles), and with a
         * fixed-size cache the figure wobbles by +-50 KiB instead.  A real
         * leak (a batch pinning one slab per cycle) would add 64 KiB per
         * cycle, ~100 MiB over the sampled cycles. */
        CHECK(drift <= 65536 && drift >= -65536,
              "committed_bytes drifted by %+" PRId64 " bytes after warm-up", drift);
        CHECK(cmax - cmin <= 4 * 65536,
              "committed_bytes varied by %" PRIu64 " bytes across samples", cmax - cmin);
        /* RSS: a tight band. */
        CHECK(rmax - rmin < rmin / 4 || rmax - rmin < (4u << 20),
              "RSS band %.2f-%.2f MiB is too wide", MiB(rmin), MiB(rmax));
    } else {
        printf("zslab not loaded: drift checks skipped\n");
    }

    for (size_t i = 0; i < npinned; i++) {
        CHECK_PATTERN(pinned[i], pinned_size[i], 0x5EED0000u + i, "pinned object %zu", i);
        free(pinned[i]);
    }
    ok("epoch_churn");
    return 0;
}
