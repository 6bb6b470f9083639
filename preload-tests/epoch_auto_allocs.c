/* epoch_auto_allocs: ZSLAB_EPOCH_ALLOCS=1000 advances the epoch after every
 * 1000 small allocations (process-wide, counted in batches of up to 64 per
 * thread): 100k small allocations, freed as we go, must give about 100
 * advances (80-120 accepted), and objects allocated across the advances stay
 * intact.
 *
 * Under glibc (run.sh none) only the allocations run.
 */
// env: ZSLAB_EPOCH_ALLOCS=1000
#include "zslab_test.h"

enum { N = 100000, KEEP = 64 };

int main(void)
{
    zslab_api z;
    int have = zt_load(&z);
    rng_t r;
    rng_seed(&r, 5);
    watchdog(60);
    static void *ring[KEEP];
    static size_t ring_size[KEEP];
    static uint64_t ring_seed[KEEP];

    struct zslab_global_stats g0, g1;
    if (have)
        zt_global(&z, &g0);
    unsigned epochs_seen = 0, last_epoch = have ? z.current() : 0;
    for (int i = 0; i < N; i++) {
        int k = i % KEEP;
        if (ring[k]) {
            CHECK_PATTERN(ring[k], ring_size[k], ring_seed[k], "object %d", i - KEEP);
            free(ring[k]);
        }
        ring_size[k] = rng_range(&r, 16, 1024);
        ring_seed[k] = (uint64_t)i;
        ring[k] = malloc(ring_size[k]);
        CHECK(ring[k], "malloc");
        fill_pattern(ring[k], ring_size[k], ring_seed[k]);
        if (have && z.current() != last_epoch) {
            last_epoch = z.current();
            epochs_seen++;
        }
    }
    for (int k = 0; k < KEEP; k++) {
        CHECK_PATTERN(ring[k], ring_size[k], ring_seed[k], "object in slot %d", k);
        free(ring[k]);
    }
    if (have) {
        zt_global(&z, &g1);
        uint64_t adv = g1.epoch_advances - g0.epoch_advances;
        uint64_t small = g1.small_allocs - g0.small_allocs;
        printf("%" PRIu64 " small allocations -> %" PRIu64 " epoch advances (%" PRIu64
               " in total, era %" PRIu64 "); the program saw the epoch change %u times\n",
               small, adv, g1.epoch_advances, g1.current_era, epochs_seen);
        CHECK(small >= N, "small_allocs grew by %" PRIu64, small);
        CHECK(adv >= 80 && adv <= 120, "%" PRIu64 " advances for %d allocations, expected ~%d",
              adv, N, N / 1000);
        CHECK(g1.current_era == g1.epoch_advances, "era %" PRIu64 " != advances %" PRIu64,
              g1.current_era, g1.epoch_advances);
        CHECK(epochs_seen >= 80, "slab_epoch_current() changed only %u times", epochs_seen);
        CHECK(g1.double_frees == 0 && g1.invalid_frees == 0, "free errors");
    } else {
        printf("zslab not loaded: epoch checks skipped\n");
    }
    ok("epoch_auto_allocs");
    return 0;
}
