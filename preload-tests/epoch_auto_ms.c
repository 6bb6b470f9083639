/* epoch_auto_ms: ZSLAB_EPOCH_MS=20 advances the epoch every 20 ms, checked
 * as threads allocate.  Allocating and freeing small objects without pause
 * for about one second must give roughly 50 advances (25-60 accepted: the
 * check runs every few hundred allocations against a coarse clock, and a
 * loaded machine may deschedule us).
 *
 * Under glibc (run.sh none) only the allocations run.
 */
// env: ZSLAB_EPOCH_MS=20
#include "zslab_test.h"

enum { KEEP = 64 };

int main(void)
{
    zslab_api z;
    int have = zt_load(&z);
    rng_t r;
    rng_seed(&r, 6);
    watchdog(60);
    static void *ring[KEEP];
    static size_t ring_size[KEEP];

    struct zslab_global_stats g0, g1;
    if (have)
        zt_global(&z, &g0);
    double t0 = zt_now(), t = t0;
    unsigned long n = 0;
    while (t - t0 < 1.0) {
        for (int j = 0; j < 1000; j++, n++) {
            int k = (int)(n % KEEP);
            if (ring[k]) {
                CHECK_PATTERN(ring[k], ring_size[k], n - KEEP, "object %lu", n - KEEP);
                free(ring[k]);
            }
            ring_size[k] = rng_range(&r, 16, 512);
            ring[k] = malloc(ring_size[k]);
            CHECK(ring[k], "malloc");
            fill_pattern(ring[k], ring_size[k], n);
        }
        t = zt_now();
    }
    for (int k = 0; k < KEEP; k++)
        free(ring[k]);
    if (have) {
        zt_global(&z, &g1);
        uint64_t adv = g1.epoch_advances - g0.epoch_advances;
        printf("%.3fs, %lu allocations -> %" PRIu64 " epoch advances (expected ~%.0f)\n", t - t0,
               n, adv, (t - t0) * 1000 / 20);
        CHECK(adv >= 25 && adv <= 60, "%" PRIu64 " advances in %.3fs with ZSLAB_EPOCH_MS=20", adv,
              t - t0);
        CHECK(g1.double_frees == 0 && g1.invalid_frees == 0, "free errors");
    } else {
        printf("zslab not loaded: epoch checks skipped\n");
    }
    ok("epoch_auto_ms");
    return 0;
}
