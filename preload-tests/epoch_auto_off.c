/* epoch_auto_off: without ZSLAB_EPOCH_MS / ZSLAB_EPOCH_ALLOCS, allocation
 * alone never advances the epoch: 200k small allocations over ~0.3 s leave
 * epoch_advances at 0 and the current epoch at 0.
 *
 * zslab reads its configuration at the first allocation, before main; if
 * either variable is in the inherited environment the test re-executes
 * itself without them.
 *
 * Under glibc (run.sh none) only the allocations run.
 */
#include "zslab_test.h"

enum { N = 200000, KEEP = 64 };

int main(int argc, char **argv)
{
    (void)argc;
    if (getenv("ZSLAB_EPOCH_MS") || getenv("ZSLAB_EPOCH_ALLOCS")) {
        unsetenv("ZSLAB_EPOCH_MS");
        unsetenv("ZSLAB_EPOCH_ALLOCS");
        execv("/proc/self/exe", argv);
        FAIL("execv: %s", strerror(errno));
    }
    zslab_api z;
    int have = zt_load(&z);
    rng_t r;
    rng_seed(&r, 8);
    watchdog(60);
    static void *ring[KEEP];
    double t0 = zt_now();
    for (int i = 0; i < N; i++) {
        int k = i % KEEP;
        free(ring[k]);
        ring[k] = malloc(rng_range(&r, 16, 1024));
        CHECK(ring[k], "malloc");
        if (i % 20000 == 0)
            usleep(30000); /* let a clock-driven trigger fire, if any */
    }
    for (int k = 0; k < KEEP; k++)
        free(ring[k]);
    if (have) {
        struct zslab_global_stats g;
        zt_global(&z, &g);
        printf("%d small allocations in %.2fs: %" PRIu64 " advances, epoch %u era %" PRIu64 "\n",
               N, zt_now() - t0, g.epoch_advances, g.current_epoch, g.current_era);
        CHECK(g.epoch_advances == 0 && g.current_era == 0 && z.current() == 0,
              "allocation alone advanced the epoch (%" PRIu64 " advances)", g.epoch_advances);
        CHECK(g.small_allocs >= N, "small_allocs %" PRIu64, g.small_allocs);
    } else {
        printf("zslab not loaded: epoch checks skipped\n");
    }
    ok("epoch_auto_off");
    return 0;
}
