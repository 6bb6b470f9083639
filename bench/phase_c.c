/* phase_c — memory return after phases of medium/large blocks.
 *
 * usage: phase_c [phases=6] [phase_mb=300] [twin=0] [cluster=4] [every=20] [sleep_ms=300]
 *
 * Each phase allocates about `phase_mb` MB (between 0.85x and 1.15x of it,
 * fixed per phase) in blocks of 8 KiB..1 MiB (log-uniform) and writes one
 * byte in every 4 KiB page of each block, so all of it is resident.  The
 * blocks come in clusters of `cluster` consecutive blocks; one cluster in
 * `every` (a fixed position in each group of `every`, chosen per phase) is
 * kept until the end of the program, so ~5% of each phase survives,
 * interleaved in time with the garbage.  At the end of the phase the rest is
 * freed (in allocation order), the program sleeps `sleep_ms` and reads its
 * own RSS from /proc/self/statm.
 *
 * With twin=1 the program draws exactly the same sizes and decisions but
 * allocates (and touches) only the blocks that are kept: the "kept-only
 * twin".  Its RSS after each phase is what an allocator that returned every
 * dropped page would show; the harness reports the ratio of the two runs'
 * RSS, each under the same allocator.
 *
 * Prints: twin, phases, rss_start_kb, and for every phase i (1-based):
 * p<i>_alloc_kb (bytes allocated in the phase, this run), p<i>_kept_kb,
 * p<i>_dropped_kb, p<i>_rss_before_kb (just before the drop),
 * p<i>_rss_after_kb (sleep_ms after it); then kept_kb (total),
 * rss_final_kb, elapsed_s.
 */
#include "bench_common.h"

typedef struct {
    void *p;
    size_t size;
} blk;

static void touch(void *p, size_t size)
{
    volatile unsigned char *b = p;
    for (size_t off = 0; off < size; off += 4096)
        b[off] = (unsigned char)(off >> 12);
}

int main(int argc, char **argv)
{
    unsigned long phases = arg_ul(argc, argv, 1, 6);
    unsigned long phase_mb = arg_ul(argc, argv, 2, 300);
    unsigned long twin = arg_ul0(argc, argv, 3, 0);
    unsigned long cluster = arg_ul(argc, argv, 4, 4);
    unsigned long every = arg_ul(argc, argv, 5, 20);
    unsigned long sleep_ms = arg_ul0(argc, argv, 6, 300);

    bench_rng plan;
    rng_seed(&plan, 17001);
    /* capacity: blocks are >= 8 KiB */
    size_t cap = (size_t)((double)phase_mb * 1.15 * 1048576.0 / 8192.0) + 16;
    blk *garbage = xmalloc(cap * sizeof *garbage);
    blk *kept = xmalloc(cap * phases * sizeof *kept);
    size_t nkept = 0;
    double kept_total = 0;

    printf("twin=%lu\nphases=%lu\nrss_start_kb=%ld\n", twin, phases, bench_rss_kb());
    double t0 = bench_now();
    for (unsigned long ph = 1; ph <= phases; ph++) {
        double target = (double)phase_mb * 1048576.0 * (0.85 + 0.30 * rng_unit(&plan));
        unsigned long keep_pos = (unsigned long)(rng_next(&plan) % every);
        bench_rng r;
        rng_seed(&r, 17100 + ph);
        double total = 0, alloc = 0, keptb = 0, dropped = 0;
        size_t ngarbage = 0;
        for (unsigned long k = 0; total < target; k++) {
            size_t size = rng_log_size(&r, 8192, 1 << 20);
            int keep = (k / cluster) % every == keep_pos;
            total += (double)size;
            if (!keep && twin)
                continue;
            void *p = xmalloc(size);
            touch(p, size);
            tag_block(p, size);
            alloc += (double)size;
            if (keep) {
                kept[nkept++] = (blk){p, size};
                keptb += (double)size;
            } else {
                if (ngarbage == cap)
                    bench_die("phase capacity exceeded");
                garbage[ngarbage++] = (blk){p, size};
                dropped += (double)size;
            }
        }
        long before = bench_rss_kb();
        for (size_t i = 0; i < ngarbage; i++) {
            check_block(garbage[i].p, garbage[i].size);
            free(garbage[i].p);
        }
        if (sleep_ms)
            bench_sleep((double)sleep_ms / 1000.0);
        long after = bench_rss_kb();
        kept_total += keptb;
        printf("p%lu_alloc_kb=%.0f\np%lu_kept_kb=%.0f\np%lu_dropped_kb=%.0f\n"
               "p%lu_rss_before_kb=%ld\np%lu_rss_after_kb=%ld\n",
               ph, alloc / 1024, ph, keptb / 1024, ph, dropped / 1024, ph, before, ph, after);
        fflush(stdout);
    }
    double el = bench_now() - t0;
    printf("kept_kb=%.0f\nrss_final_kb=%ld\nelapsed_s=%.6f\n", kept_total / 1024, bench_rss_kb(),
           el);
    for (size_t i = 0; i < nkept; i++) {
        check_block(kept[i].p, kept[i].size);
        free(kept[i].p);
    }
    free(kept);
    free(garbage);
    return 0;
}
