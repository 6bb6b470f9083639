/* epoch_rss: the point of epochs.  Objects pinned in epoch 0 must not keep a
 * later epoch's memory alive: after 200 MB of small objects allocated in a
 * fresh epoch are freed, RSS and committed_bytes drop by (nearly) all of it,
 * the pages having gone back with madvise, while the pinned objects stay
 * intact.  Also checks slab_stats_epoch for the old and the new epoch.
 *
 * Under glibc (run.sh none) only the allocation/pattern part runs.
 */
#include "zslab_test.h"

enum {
    NPIN = 20000,
    FILL_BYTES = 200 << 20,
};

static void *pinned[NPIN];
static size_t pinned_size[NPIN];

int main(void)
{
    zslab_api z;
    int have = zt_load(&z);
    rng_t r;
    rng_seed(&r, 42);
    watchdog(60);

    struct zslab_global_stats g0, g1, g2, g3;
    struct zslab_epoch_stats e_old, e_new;
    uint64_t e0_live_before = 0;

    /* Epoch 0: the long-lived objects. */
    unsigned e0 = have ? z.current() : 0;
    if (have) {
        CHECK(e0 == 0, "a fresh process starts in epoch %u, expected 0", e0);
        CHECK(z.era(0) == 0, "era of epoch 0 is %" PRIu64, z.era(0));
    }
    /* Allocate twice as many and free every other one: epoch 0's slabs are
     * left half full, with holes that the next epoch must NOT fill (its
     * objects go to slabs of their own, so epoch 0's live count must not
     * move while epoch 1 allocates). */
    for (size_t i = 0; i < 2 * NPIN; i++) {
        size_t sz = rng_range(&r, 64, 256);
        void *p = malloc(sz);
        CHECK(p, "malloc(%zu)", sz);
        if (i % 2) {
            free(p);
            continue;
        }
        pinned[i / 2] = p;
        pinned_size[i / 2] = sz;
        fill_pattern(p, sz, 1000 + i / 2);
    }

    /* The pointer array of the fill: allocated (and touched) before the
     * baseline so it does not count as "added by the fill". */
    size_t maxobj = FILL_BYTES / 256; /* sizes average 528 B */
    void **objs = malloc(maxobj * sizeof *objs);
    CHECK(objs, "malloc pointer array");
    memset(objs, 0, maxobj * sizeof *objs);
    size_t *sizes = malloc(maxobj * sizeof *sizes);
    CHECK(sizes, "malloc size array");
    memset(sizes, 0, maxobj * sizeof *sizes);
    /* stdout's buffer too. */
    printf("epoch_rss: %d pinned objects in epoch 0\n", NPIN);
    fflush(stdout);

    unsigned e1 = 0;
    if (have) {
        e1 = z.advance();
        CHECK(e1 == 1, "slab_epoch_advance returned %u, expected 1", e1);
        CHECK(z.current() == e1, "current %u after advance to %u", z.current(), e1);
        CHECK(z.era(e1) == 1, "era of epoch 1 is %" PRIu64, z.era(e1));
        zt_global(&z, &g0);
        zt_epoch(&z, e0, &e_old);
        e0_live_before = e_old.live_objects;
        CHECK(g0.current_epoch == e1 && g0.current_era == 1,
              "global stats say epoch %u era %" PRIu64, (unsigned)g0.current_epoch, g0.current_era);
    }
    uint64_t rss0 = zt_rss();

    /* Epoch 1: 200 MB of short-lived small objects, every byte touched. */
    size_t n = 0, total = 0;
    while (total < FILL_BYTES) {
        size_t sz = rng_range(&r, 32, 1024);
        CHECK(n < maxobj, "pointer array too small");
        void *p = malloc(sz);
        CHECK(p, "malloc(%zu) #%zu", sz, n);
        memset(p, (int)(n & 0xff), sz);
        objs[n] = p;
        sizes[n] = sz;
        n++;
        total += sz;
    }
    uint64_t rss1 = zt_rss();
    if (have) {
        zt_global(&z, &g1);
        zt_epoch(&z, e0, &e_old);
        zt_epoch(&z, e1, &e_new);
    }

    /* Spot-check the fill, then free it in a shuffled order. */
    for (size_t i = 0; i < n; i += 97) {
        const unsigned char *c = objs[i];
        CHECK(c[0] == (unsigned char)(i & 0xff) && c[sizes[i] - 1] == (unsigned char)(i & 0xff),
              "fill object %zu corrupted", i);
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_below(&r, i + 1);
        void *t = objs[i];
        objs[i] = objs[j];
        objs[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        free(objs[i]);
    uint64_t rss2 = zt_rss();
    if (have)
        zt_global(&z, &g2);

    printf("fill: %zu objects, %.1f MiB requested\n", n, MiB(total));
    printf("rss: before %.1f MiB, filled %.1f MiB, after free %.1f MiB\n", MiB(rss0),
           MiB(rss1), MiB(rss2));

    if (have) {
        printf("committed: before %.1f MiB, filled %.1f MiB, after free %.1f MiB "
               "(cached %" PRIu64 " slabs, %.1f MiB)\n",
               MiB(g0.committed_bytes), MiB(g1.committed_bytes), MiB(g2.committed_bytes),
               g2.cached_slabs, MiB(g2.cached_bytes));
        printf("madvise: calls %" PRIu64 " -> %" PRIu64 ", bytes %.1f MiB -> %.1f MiB\n",
               g1.madvise_calls, g2.madvise_calls, MiB(g1.madvise_bytes), MiB(g2.madvise_bytes));
        printf("epoch %u: state %s era %" PRIu64 " live %" PRIu64 " slabs %" PRIu64 "\n", e0,
               zt_state_name(e_old.state), e_old.era, e_old.live_objects, e_old.slabs);
        printf("epoch %u: state %s era %" PRIu64 " live %" PRIu64 " slabs %" PRIu64
               " committed %.1f MiB\n",
               e1, zt_state_name(e_new.state), e_new.era, e_new.live_objects, e_new.slabs,
               MiB(e_new.committed_bytes));
        fflush(stdout);

        /* Epoch stats while the fill was live. */
        CHECK(e_old.state == ZSLAB_EPOCH_CLOSING, "old epoch state %u (%s), expected CLOSING",
              (unsigned)e_old.state, zt_state_name(e_old.state));
        CHECK(e_old.era == 0, "old epoch era %" PRIu64, e_old.era);
        /* Epoch 0 also holds what the C runtime allocated at start-up. */
        CHECK(e_old.live_objects >= NPIN && e_old.live_objects < NPIN + 1000,
              "old epoch live_objects %" PRIu64 ", expected %d (+ start-up objects)",
              e_old.live_objects, NPIN);
        CHECK(e_old.live_objects == e0_live_before,
              "epoch 0's live_objects went from %" PRIu64 " to %" PRIu64
              " while only epoch 1 allocated: objects landed in a closed epoch",
              e0_live_before, e_old.live_objects);
        CHECK(e_new.state == ZSLAB_EPOCH_ACTIVE, "new epoch state %u (%s), expected ACTIVE",
              (unsigned)e_new.state, zt_state_name(e_new.state));
        CHECK(e_new.era == 1, "new epoch era %" PRIu64, e_new.era);
        CHECK(e_new.live_objects == n, "new epoch live_objects %" PRIu64 ", expected %zu",
              e_new.live_objects, n);
        CHECK(e_new.live_bytes >= total, "new epoch live_bytes %" PRIu64 " < requested %zu",
              e_new.live_bytes, total);
        CHECK(e_new.committed_bytes >= total,
              "new epoch committed_bytes %" PRIu64 " < requested %zu", e_new.committed_bytes,
              total);
        CHECK(e_new.slabs >= total / 65536, "new epoch has %" PRIu64 " slabs for %zu bytes",
              e_new.slabs, total);

        /* RSS: the fill added (rss1 - rss0); at least 80% of it must be gone. */
        CHECK(rss1 > rss0 + FILL_BYTES / 2, "the fill did not raise RSS (%.1f -> %.1f MiB)",
              MiB(rss0), MiB(rss1));
        uint64_t added = rss1 - rss0;
        uint64_t dropped = rss1 > rss2 ? rss1 - rss2 : 0;
        printf("rss dropped by %.1f%% of what the fill added\n", 100.0 * (double)dropped / (double)added);
        CHECK(dropped * 10 >= added * 8,
              "RSS dropped by %.1f MiB, less than 80%% of the %.1f MiB the fill added",
              MiB(dropped), MiB(added));

        /* committed_bytes likewise. */
        uint64_t c_added = g1.committed_bytes - g0.committed_bytes;
        uint64_t c_dropped = g1.committed_bytes > g2.committed_bytes
                                 ? g1.committed_bytes - g2.committed_bytes : 0;
        CHECK(g1.committed_bytes > g0.committed_bytes + FILL_BYTES / 2,
              "committed_bytes did not grow with the fill");
        CHECK(c_dropped * 10 >= c_added * 8,
              "committed_bytes dropped by %.1f MiB, less than 80%% of the %.1f MiB the fill added",
              MiB(c_dropped), MiB(c_added));
        CHECK(g2.madvise_calls > g1.madvise_calls, "no madvise call while freeing the fill");
        CHECK(g2.madvise_bytes - g1.madvise_bytes >= c_added * 8 / 10,
              "madvise_bytes grew by %.1f MiB only (fill committed %.1f MiB)",
              MiB(g2.madvise_bytes - g1.madvise_bytes), MiB(c_added));
        CHECK(g2.madvise_failures == 0, "%" PRIu64 " madvise failures", g2.madvise_failures);
        CHECK(g2.live_objects + n == g1.live_objects,
              "live_objects %" PRIu64 " -> %" PRIu64 " after freeing %zu", g1.live_objects,
              g2.live_objects, n);

        zt_epoch(&z, e1, &e_new);
        CHECK(e_new.live_objects == 0, "new epoch still has %" PRIu64 " live objects",
              e_new.live_objects);
        CHECK(e_new.madvise_calls > 0 && e_new.madvise_bytes >= c_added * 8 / 10,
              "new epoch madvise: %" PRIu64 " calls, %" PRIu64 " bytes", e_new.madvise_calls,
              e_new.madvise_bytes);
        CHECK(e_new.reclaimed_slabs >= e_new.slabs,
              "epoch %u: %" PRIu64 " slabs reclaimed", e1, e_new.reclaimed_slabs);

        /* slab_reclaim returns what is left in the caches. */
        size_t back = z.reclaim();
        zt_global(&z, &g3);
        printf("slab_reclaim: %zu bytes; committed now %.1f MiB, cached %" PRIu64 " slabs\n", back,
               MiB(g3.committed_bytes), g3.cached_slabs);
        CHECK(g3.cached_slabs == 0 && g3.cached_bytes == 0,
              "cached_slabs %" PRIu64 " / cached_bytes %" PRIu64 " after slab_reclaim",
              g3.cached_slabs, g3.cached_bytes);
        CHECK(back >= g2.cached_bytes, "slab_reclaim returned %zu, %" PRIu64 " were cached", back,
              g2.cached_bytes);
        CHECK(g3.madvise_bytes - g2.madvise_bytes == back,
              "slab_reclaim returned %zu but madvise_bytes grew by %" PRIu64, back,
              g3.madvise_bytes - g2.madvise_bytes);
        CHECK(g3.committed_bytes <= g0.committed_bytes + (2u << 20),
              "committed %.1f MiB after reclaim, %.1f MiB before the fill",
              MiB(g3.committed_bytes), MiB(g0.committed_bytes));
    }

    for (size_t i = 0; i < NPIN; i++) {
        CHECK_PATTERN(pinned[i], pinned_size[i], 1000 + i, "pinned object %zu", i);
        free(pinned[i]);
    }
    free(objs);
    free(sizes);
    if (have) {
        zt_epoch(&z, e0, &e_old);
        CHECK(e_old.live_objects < 1000, "epoch 0 still has %" PRIu64 " live objects",
              e_old.live_objects);
    } else {
        printf("zslab not loaded: epoch checks skipped\n");
    }
    ok("epoch_rss");
    return 0;
}
